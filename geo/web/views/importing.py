"""What the Data page's import wizard shows of a file being imported.

Reading is :mod:`geo.registry.io.readers`, header mapping
:mod:`geo.registry.io.headers`, checking :mod:`geo.registry.validate`;
this module words and trims what they return for the page.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from geo.core.i18n import pick, t
from geo.registry.io.table import RawTable

#: File types an upload may be (the readers of :mod:`geo.registry.io.readers`).
UPLOAD_TYPES: tuple[str, ...] = ("csv", "xlsx", "geojson", "json", "gpkg", "zip")

#: Coordinate systems an imported file may be in; ``auto`` lets the importer decide.
CRS_CHOICES: tuple[str, ...] = ("auto", "wgs84", "gcj02", "bd09")

#: Rows of a file shown before it is imported.
PREVIEW_ROWS = 20


def visible_columns(df: pd.DataFrame) -> list:
    """A read table's own columns, without the reader's bookkeeping (``__…``)."""
    return [c for c in df.columns if not str(c).startswith("__")]


def read_summary(raw: RawTable, *, lang: str = "zh") -> str:
    """One line on what was read: rows, columns, format and the text encoding found.

    Parameters
    ----------
    raw
        What :func:`geo.registry.io.readers.read_table` returned.
    lang
        ``"zh"`` or ``"en"``.
    """
    encoding = f", {raw.encoding}" if raw.encoding else ""
    return t("read_info", lang, rows=len(raw.df), cols=len(visible_columns(raw.df)), format=raw.format,
             encoding=encoding)


def in_language(table: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """A report's rejects or warnings with each bilingual ``message`` cut to ``lang`` (:func:`pick`)."""
    return table.assign(message=table["message"].map(lambda m: pick(m, lang)))


#: A report's own columns (the file's columns beside them keep their headers), by their label key.
_REPORT_COLUMNS = {"row": "report_col_row", "reason_code": "report_col_reason", "code": "report_col_code",
                   "message": "report_col_message"}


def report_column_labels(table: pd.DataFrame, *, lang: str = "zh") -> dict[str, str]:
    """Column labels in ``lang`` for a report's rejects or warnings table (``st.dataframe``'s ``column_config``).

    Only the report's own columns (``row``, ``reason_code``, ``code``,
    ``message``) are named; the file's columns beside them are the
    planner's headers and stay as they are.
    """
    return {c: t(key, lang) for c, key in _REPORT_COLUMNS.items() if c in table.columns}


def source_name(filename: str) -> str:
    """The default source name of an upload: its file name without the extension."""
    return Path(filename).stem


def rejects_name(filename: str) -> str:
    """The name of the rejected rows' CSV for an upload called ``filename``."""
    return f"{source_name(filename)}_rejected.csv"


def accepted_preview(accepted: pd.DataFrame) -> pd.DataFrame:
    """The first :data:`PREVIEW_ROWS` accepted stations as a plain table (no geometry)."""
    return pd.DataFrame(accepted.drop(columns="geometry").head(PREVIEW_ROWS))
