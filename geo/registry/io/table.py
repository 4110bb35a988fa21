"""The raw table every reader returns, and what the readers share to build it.

A :class:`RawTable` holds the rows of a file as text, exactly as the file
gave them, plus the point coordinates when the file carried geometry.
The helpers here turn what a parser found (rows of cells, records, shapely
geometries) into such a table the same way for every format: headers made
unique and found below a title, cells flattened to text, control
characters removed, a point taken for every geometry.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

import pandas as pd

from geo import settings
from geo.registry.io.filecheck import ReadError
from geo.registry.io.headers import suggest_mapping

#: Columns that :func:`geo.registry.io.readers.read_table` adds when the file carried geometry.
GEOM_LON, GEOM_LAT, GEOM_NOTE = "__lon", "__lat", "__geometry_note"
#: ``__geometry_note`` of a feature whose geometry could not be read.
GEOM_INVALID = "invalid"

#: Rows above the header a sheet may have (a merged title, a date line).
HEADER_SEARCH_ROWS = settings.HEADER_SEARCH_ROWS

# Lone surrogates (JSON "\ud800" escapes) cannot be encoded as UTF-8, so
# SQLite and every export would fail on them; C0 control characters other
# than tab and newlines break GDAL and spreadsheets. Neither carries meaning
# in a station file.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@dataclass
class RawTable:
    """The rows of one input file, as text.

    Attributes
    ----------
    df : pandas.DataFrame
        One column per source column, every cell a ``str`` ("" when empty).
        Files with geometry add ``__lon``/``__lat`` (and ``__geometry_note``
        for non-point geometries) holding the point in ``source_crs``.
    filename, format, encoding : str
        What was read and how; ``encoding`` is "" for binary formats.
    source_crs : str or None
        The coordinate system the file itself declares (a .prj, a GeoPackage
        SRS, RFC 7946 GeoJSON), or ``None`` for tables that declare nothing.
    notes : list of str
        Bilingual remarks about the reading (encoding guessed, sheet chosen).
    """

    df: pd.DataFrame
    filename: str = ""
    format: str = ""
    encoding: str = ""
    source_crs: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def has_geometry(self) -> bool:
        """Whether the file carried geometry (the ``__lon``/``__lat`` columns)."""
        return GEOM_LON in self.df.columns


def too_many_rows(n: int | None) -> ReadError:
    """The error for a file over ``settings.MAX_ROWS`` rows.

    Parameters
    ----------
    n
        The rows counted, or ``None`` when the reading stopped before the
        end of the file (the message then gives no count).
    """
    if n is None:  # refused before the end of the file: the exact count is unknown
        return ReadError(
            "too_many_rows",
            f"文件超过 {settings.MAX_ROWS} 行的上限，请分批导入",
            f"the file has more rows than the limit of {settings.MAX_ROWS}; import it in parts")
    return ReadError(
        "too_many_rows",
        f"文件有 {n} 行，超过上限 {settings.MAX_ROWS} 行，请分批导入",
        f"the file has {n} rows, more than the limit of {settings.MAX_ROWS}; import it in parts")


def clean_text(text: str) -> str:
    """``text`` without lone surrogates (shown as �) and control characters."""
    if not _BAD_CHARS.search(text):
        return text
    return _BAD_CHARS.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else "", text)


def header_score(cells: list[str]) -> int:
    """How many distinct canonical fields a row's cells name, as headers."""
    names = [c for c in cells if c.strip() and len(c) <= 60]
    return sum(1 for col in suggest_mapping(names).values() if col)


def find_header(rows: list[list[str]]) -> int:
    """Index of the header among the first rows: 0 unless a title sits above it.

    A sheet often starts with a merged title (“广州市户外劳动者驿站名单”) or a
    date line; the header is then the first row whose cells name at least
    two known fields. When no row does, the first row is the header.
    """
    if not rows or header_score(rows[0]) >= 2:
        return 0
    for i, row in enumerate(rows[1:HEADER_SEARCH_ROWS], start=1):
        if header_score(row) >= 2:
            return i
    return 0


def header_note(skipped: int) -> str:
    """The bilingual note that ``skipped`` rows above the header (a title) were not read as data."""
    return (f"表头在第 {skipped + 1} 行，上方 {skipped} 行（标题等）未作为数据读取 / the header is on row {skipped + 1}; "
            f"the {skipped} row(s) above it (a title) were not read as data")


def unescape_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Cells without the apostrophe our exports put before = + - @ (formula injection).

    Undone so that export -> import round-trips.
    """
    return df.apply(lambda col: col.map(
        lambda v: v[1:] if isinstance(v, str) and len(v) > 1 and v[0] == "'" and v[1] in "=+-@\t\r" else v))


def unique_headers(header: list[str]) -> list[str]:
    """Header cells as column names: NFKC, cleaned, never empty, never ``__...``, each once.

    An empty header becomes ``column_N``; a repeated one gets ``_1``, ``_2`` ...
    """
    seen: dict[str, int] = {}
    used: set[str] = set()
    out = []
    for i, h in enumerate(header):
        h = clean_text(unicodedata.normalize("NFKC", str(h))).strip().lstrip("\ufeff") or f"column_{i + 1}"
        if h.startswith("__"):
            # Names starting with "__" are the reader's own (__lon, __lat):
            # a file's column of that name is kept under a one-underscore name.
            h = "_" + h.lstrip("_")
        base = h
        while h in used:
            seen[base] = seen.get(base, 0) + 1
            h = f"{base}_{seen[base]}"
        used.add(h)
        out.append(h)
    return out


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Rows given as dicts (GeoJSON properties, JSON records) as a text table."""
    df = pd.DataFrame([{flatten(k): flatten(v) for k, v in r.items()} for r in records], dtype=object)
    df.columns = unique_headers(list(df.columns))
    return df.fillna("")


def flatten(value) -> str:
    """A JSON or attribute value as cell text: lists joined with ``;``, objects as JSON, 3.0 as ``3``."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(flatten(v) for v in value)
    if isinstance(value, dict):
        return clean_text(json.dumps(value, ensure_ascii=False, default=str))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return clean_text(str(value))


class _Invalid:
    """Stands for a geometry that could not be read, so its row is kept."""


#: Stands in a list of geometries for one that could not be read.
INVALID = _Invalid()


def _point_of(geom) -> tuple[str, str, str]:
    """Lon, lat and a note for one shapely geometry (non-points give a point inside)."""
    if geom is INVALID:
        return "", "", GEOM_INVALID
    if geom is None or geom.is_empty:
        return "", "", ""
    note = ""
    if geom.geom_type != "Point":
        note = geom.geom_type
        try:
            geom = geom.representative_point()
        except Exception:  # GEOS refuses some broken rings and collections
            return "", "", GEOM_INVALID
    return repr(float(geom.x)), repr(float(geom.y)), note


def from_geometries(props: list[dict], geoms: list) -> pd.DataFrame:
    """Feature attributes as a text table, with the ``__lon``/``__lat``/``__geometry_note`` of each geometry.

    Parameters
    ----------
    props
        The attributes of each feature.
    geoms
        Their shapely geometries (``None`` or :data:`INVALID` allowed); a
        non-point geometry gives a point inside it and its type as the note.
    """
    df = records_frame(props)
    points = [_point_of(g) for g in geoms]
    df[GEOM_LON] = [p[0] for p in points]
    df[GEOM_LAT] = [p[1] for p in points]
    df[GEOM_NOTE] = [p[2] for p in points]
    return df.fillna("")


def crs_name(crs) -> str | None:
    """A pyproj CRS as the name :func:`geo.core.crs.normalize_crs` knows (``wgs84``, ``EPSG:4547`` ...)."""
    if crs is None:
        return None
    epsg = crs.to_epsg()
    if epsg == 4326:
        return "wgs84"
    if epsg == 4490:
        return "cgcs2000"
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()
