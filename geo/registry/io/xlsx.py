"""Read an Excel workbook (XLSX): the sheet that holds the stations, streamed."""
from __future__ import annotations

import io
import zipfile

import pandas as pd

from geo import settings
from geo.registry.io.filecheck import ReadError, check_zip
from geo.registry.io.table import (HEADER_SEARCH_ROWS, RawTable, clean_text, find_header, header_note, header_score,
                                   too_many_rows, unescape_formulas, unique_headers)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return clean_text(str(value))


def _sheet_rows(sheet, limit: int | None):
    """Non-empty rows of a sheet as text, at most ``limit`` (``None``: all)."""
    n = 0
    for values in sheet.iter_rows(values_only=True):
        row = [_cell_text(v) for v in values]
        if any(c.strip() for c in row):
            yield row
            n += 1
            if limit is not None and n >= limit:
                return


def read_xlsx(data: bytes, *, sheet: str | None = None) -> RawTable:
    """Read one sheet of a workbook: formulas as their values, a title above the header skipped.

    Parameters
    ----------
    data
        The file's bytes (checked against zip bombs before openpyxl reads them).
    sheet
        The sheet to read; default the first whose header names station
        fields, else the first with data.

    Raises
    ------
    ReadError
        ``no_such_sheet``, ``empty``, or ``too_many_rows`` as soon as the
        sheet passes ``settings.MAX_ROWS`` (it is streamed, never read whole).
    """
    import openpyxl

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        check_zip(zf)
    # data_only: formulas give their cached values, never formula text.
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    notes = []
    names = book.sheetnames
    if sheet is not None and sheet not in names:
        raise ReadError("no_such_sheet", f"找不到工作表 {sheet}（有：{'、'.join(names)}）",
                        f"no sheet named {sheet} (sheets: {', '.join(names)})")
    chosen = None
    for name in ([sheet] if sheet else names):
        ws = book[name]
        # Some writers store a wrong used range (<dimension ref="A1"/>); read_only
        # mode trusts it and would drop every other cell.
        ws.reset_dimensions()
        head = list(_sheet_rows(ws, HEADER_SEARCH_ROWS))
        if not head:
            continue
        top = find_header(head)
        if chosen is None:
            chosen = name
        # A sheet whose header names station fields beats an earlier one
        # that merely holds text (说明, 填表说明).
        if header_score(head[top]) >= 2:
            chosen = name
            break
    if chosen is None:
        raise ReadError("empty", "工作簿中没有数据", "the workbook holds no data")
    if len(names) > 1:
        notes.append(f"工作簿有 {len(names)} 个工作表，读取了“{chosen}” / the workbook has {len(names)} sheets; read '{chosen}'")
    # Streamed, and stopped as soon as the row limit is passed: a sheet of a
    # million rows is refused without holding more than the limit.
    limit = settings.MAX_ROWS + HEADER_SEARCH_ROWS + 1
    rows = list(_sheet_rows(book[chosen], limit + 1))
    book.close()
    if len(rows) > limit:
        raise too_many_rows(None)
    top = find_header(rows[:HEADER_SEARCH_ROWS])
    if top:
        notes.append(header_note(top))
    rows = rows[top:]
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    header = unique_headers(rows[0])
    df = pd.DataFrame(rows[1:], columns=header, dtype=object)
    return RawTable(unescape_formulas(df), notes=notes)
