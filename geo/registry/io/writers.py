"""Write tables for people and systems: CSV and XLSX safe to open in a spreadsheet."""
from __future__ import annotations

import io
import re

import pandas as pd

from geo.registry.io.table import clean_text

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value):
    """Neutralise a cell that a spreadsheet would run as a formula.

    A leading apostrophe makes Excel and WPS show ``=HYPERLINK(...)`` as text
    (OWASP's advice against CSV injection). Numbers are left alone.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV with formula cells escaped, UTF-8 with BOM so Excel in China reads it."""
    safe = df.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(escape_formula)
    # CRLF line ends (RFC 4180): the csv writer then quotes every cell that
    # holds a CR, which would otherwise split a row in two.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


#: Most characters an Excel cell holds.
XLSX_MAX_CELL_CHARS = 32767


def xlsx_bytes(df: pd.DataFrame, sheet: str = "stations") -> bytes:
    """An XLSX workbook of ``df``: one sheet, header row first.

    Text cells get the same escaping as :func:`csv_bytes` (a leading
    apostrophe before = + - @ tab CR) and are written as plain strings,
    never formulas, so a name like ``=HYPERLINK(...)`` stays text in Excel,
    WPS and LibreOffice. Characters XML cannot hold are dropped and cells
    are cut to Excel's 32,767 characters. Numbers and booleans stay typed.
    The header row is bold and frozen, so it stays in view while scrolling.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.freeze_panes = "A2"

    def cell(value):
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return None
        if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
            value = value.item()
        if isinstance(value, (bool, int, float)):
            if isinstance(value, float) and value in (float("inf"), float("-inf")):
                return str(value)
            return value
        text = escape_formula(_XML_ILLEGAL.sub("", clean_text(str(value))))[:XLSX_MAX_CELL_CHARS]
        out = WriteOnlyCell(ws, value=text)
        out.data_type = "s"  # a string whatever it starts with: openpyxl would take "=..." for a formula
        return out

    bold = Font(bold=True)
    header = [cell(c) for c in df.columns]
    for i, c in enumerate(header):
        if not hasattr(c, "font"):  # a number or an empty header, not yet a cell
            header[i] = c = WriteOnlyCell(ws, value=c)
        c.font = bold
    ws.append(header)
    for row in df.itertuples(index=False, name=None):
        ws.append([cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# Characters XML 1.0 cannot carry (openpyxl refuses them).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
