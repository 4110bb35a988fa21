"""Write tables for people and systems: CSV and XLSX safe to open in a spreadsheet, and GeoJSON.

:func:`feature_collection` is the one GeoJSON writer: the registry's
exports (:func:`geo.registry.export.to_geojson`) and any GeoDataFrame
(:func:`frame_to_geojson`) go through it, so every file is RFC 7946 text
of the same form (compact, Chinese kept, foreign members before the
features).
"""
from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

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


def geojson_value(value):
    """A value as JSON holds it: numpy scalars as Python ones, NaN, infinities and missing as null, arrays as lists."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [geojson_value(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or value is pd.NA:
        return None
    return value


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def feature_collection(features: Iterable[Mapping | str], *, members: Mapping | None = None) -> str:
    """An RFC 7946 FeatureCollection as text.

    Parameters
    ----------
    features
        GeoJSON Feature objects, or their JSON text already written.
    members
        Foreign members of the collection (RFC 7946 section 6.1: a
        ``notice``, the ``standard`` of a plan ...), written before the
        features; readers that do not know them ignore them.

    Returns
    -------
    str
        Compact JSON with Chinese kept (UTF-8 when encoded).
    """
    head = _compact({"type": "FeatureCollection", **(members or {})})
    body = ",".join(f if isinstance(f, str) else _compact(f) for f in features)
    return f'{head[:-1]},"features":[{body}]}}'


def frame_to_geojson(frame: gpd.GeoDataFrame, *, members: Mapping | None = None) -> str:
    """A GeoDataFrame in WGS-84 as RFC 7946 text: positions to 7 decimals, every other column a property.

    Parameters
    ----------
    frame
        Features in WGS-84 (any geometry; missing ones are written as null).
    members
        Foreign members of the collection, as in :func:`feature_collection`.
    """
    props = [c for c in frame.columns if c != frame.geometry.name]
    geoms = shapely.to_geojson(shapely.set_precision(frame.geometry.to_numpy(), 1e-7)) if len(frame) else []
    features = (f'{{"type":"Feature","geometry":{g or "null"},"properties":'
                f'{_compact({k: geojson_value(v) for k, v in rec.items()})}}}'
                for rec, g in zip(frame[props].to_dict("records"), geoms))
    return feature_collection(features, members=members)
