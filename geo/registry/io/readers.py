"""Read the files union offices really have into one raw table.

Every reader returns a :class:`RawTable`: the rows as text, exactly as the
file gave them, plus the point coordinates when the file carried geometry.
Interpreting the text (headers, coordinates, facilities) is the job of
:mod:`geo.registry.io.headers` and :mod:`geo.registry.validate`; keeping the raw text is what lets
a rejected row be handed back to the user unchanged.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import struct
import tempfile
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo import settings
from geo.registry.io.filecheck import ReadError, check_content, check_path, zip_member_is_link
from geo.registry.io.gpkg_read import UNREADABLE, read_gpkg

#: Columns that :func:`read_table` adds when the file carried geometry.
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

_FORMATS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".geojson": "geojson", ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shapefile-zip",
}


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
        return GEOM_LON in self.df.columns


def read_table(source: str | Path | bytes, filename: str | None = None,
               layer: str | None = None) -> RawTable:
    """Read a CSV, XLSX, GeoJSON, GeoPackage or zipped Shapefile.

    Parameters
    ----------
    source : str, Path or bytes
        A path, or the file's bytes (an upload).
    filename : str, optional
        The file's name; required with bytes, since the format is told by its
        extension.
    layer : str, optional
        Sheet (XLSX) or layer (GeoPackage) to read; default the first with data.

    Returns
    -------
    RawTable

    Raises
    ------
    ReadError
        When the file cannot be read: unknown format, too large, corrupt,
        no table in it, or more rows than ``settings.MAX_ROWS``.
    """
    data, filename, fmt = _load(source, filename)
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "geojson": _read_geojson,
              "gpkg": _read_gpkg, "shapefile-zip": _read_shapefile_zip}[fmt]
    with _parsing(filename):
        table = reader(data, layer)
    table.filename, table.format = filename, fmt
    if len(table.df) > settings.MAX_ROWS:
        raise _too_many_rows(len(table.df))
    return table


def read_features(source: str | Path | bytes, *, filename: str | None = None):
    """The features of a GeoJSON, GeoPackage or zipped Shapefile with their geometries.

    For files whose shapes matter, not only a point per row (exclusion
    areas). The same checks as :func:`read_table`: the file must be what its
    name says, and GeoPackages are read without GDAL.

    Parameters
    ----------
    source
        A path, or the file's bytes (then ``filename`` is required).
    filename
        The file's name; its extension tells the format.

    Returns
    -------
    geopandas.GeoDataFrame
        Unreadable geometries are missing (``None``); the CRS is the one the
        file declares (RFC 7946 GeoJSON: WGS-84), or ``None``.

    Raises
    ------
    ReadError
        As :func:`read_table`, and ``no_geometry`` for CSV and XLSX.
    """
    data, filename, fmt = _load(source, filename)
    with _parsing(filename):
        return _features(data, filename, fmt)


def _features(data: bytes, filename: str, fmt: str):
    import geopandas as gpd

    if fmt == "gpkg":
        layers = _gpkg_layers(data, None)
        props = [p for lay in layers for p in lay.props]
        geoms, crs = [g for lay in layers for g in lay.geoms], layers[0].crs
    elif fmt == "shapefile-zip":
        return _shapefile_frame(data)[0]
    elif fmt == "geojson":
        parts = _geojson_parts(data)
        if isinstance(parts, RawTable):
            raise ReadError("no_geometry", f"{filename} 中没有几何", f"{filename} holds no geometry")
        props, geoms, crs = parts[0], parts[1], "EPSG:4326" if parts[2] == "wgs84" else parts[2]
    else:
        raise ReadError("no_geometry", f"{filename} 不是带几何的文件（请用 GeoJSON、GeoPackage 或 Shapefile 压缩包）",
                        f"{filename} is not a file with geometry (use GeoJSON, GeoPackage or a zipped Shapefile)")
    geoms = [None if g is _INVALID else g for g in geoms]
    return gpd.GeoDataFrame(pd.DataFrame(props, index=range(len(geoms))), geometry=geoms, crs=crs)


@contextlib.contextmanager
def _parsing(filename: str):
    """Any failure of a parser becomes one clear bilingual ReadError."""
    try:
        yield
    except ReadError:
        raise
    except RecursionError as exc:
        raise ReadError("too_deep", f"文件 {filename} 嵌套层数过多，无法读取",
                        f"{filename} is nested too deeply to read") from exc
    except MemoryError as exc:
        raise ReadError("too_large", f"文件 {filename} 展开后过大，无法读取",
                        f"{filename} expands to more than memory allows") from exc
    except Exception as exc:
        raise ReadError("unreadable", f"无法读取文件 {filename}：{_clean(str(exc))[:300]}",
                        f"cannot read {filename}: {_clean(str(exc))[:300]}") from exc


# The format each extension promises, as its first bytes must show it. CSV
# needs no check: it is only ever parsed as text by this module.
_CONTENT = {"xlsx": "zip", "geojson": "geojson", "gpkg": "gpkg", "shapefile-zip": "zip"}


def _load(source: str | Path | bytes, filename: str | None) -> tuple[bytes, str, str]:
    """The bytes, name and format of a user's file, refused unless it is what its name says."""
    if isinstance(source, (str, Path)):
        path = check_path(source)
        filename = filename or path.name
        if path.stat().st_size > settings.MAX_UPLOAD_BYTES:
            raise _too_large(path.stat().st_size)
        data = path.read_bytes()
    else:
        data = bytes(source)
        if len(data) > settings.MAX_UPLOAD_BYTES:
            raise _too_large(len(data))
    filename = filename or "upload"
    fmt = _FORMATS.get(Path(filename).suffix.lower())
    if fmt is None:
        raise ReadError(
            "unknown_format",
            f"不支持的文件类型：{filename}（支持 CSV、XLSX、GeoJSON、GeoPackage、Shapefile 压缩包）",
            f"unsupported file type: {filename} (CSV, XLSX, GeoJSON, GeoPackage or zipped Shapefile)",
        )
    if fmt in _CONTENT:
        check_content(data, _CONTENT[fmt], filename)
    return data, filename, fmt


def _too_many_rows(n: int | None) -> ReadError:
    if n is None:  # refused before the end of the file: the exact count is unknown
        return ReadError(
            "too_many_rows",
            f"文件超过 {settings.MAX_ROWS} 行的上限，请分批导入",
            f"the file has more rows than the limit of {settings.MAX_ROWS}; import it in parts")
    return ReadError(
        "too_many_rows",
        f"文件有 {n} 行，超过上限 {settings.MAX_ROWS} 行，请分批导入",
        f"the file has {n} rows, more than the limit of {settings.MAX_ROWS}; import it in parts")


def _clean(text: str) -> str:
    """``text`` without lone surrogates (shown as �) and control characters."""
    if not _BAD_CHARS.search(text):
        return text
    return _BAD_CHARS.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else "", text)


def _header_score(cells: list[str]) -> int:
    """How many distinct canonical fields a row's cells name, as headers."""
    from geo.registry.io.headers import suggest_mapping

    names = [c for c in cells if c.strip() and len(c) <= 60]
    return sum(1 for col in suggest_mapping(names).values() if col)


def _find_header(rows: list[list[str]]) -> int:
    """Index of the header among the first rows: 0 unless a title sits above it.

    A sheet often starts with a merged title (“广州市户外劳动者驿站名单”) or a
    date line; the header is then the first row whose cells name at least
    two known fields. When no row does, the first row is the header.
    """
    if not rows or _header_score(rows[0]) >= 2:
        return 0
    for i, row in enumerate(rows[1:HEADER_SEARCH_ROWS], start=1):
        if _header_score(row) >= 2:
            return i
    return 0


def _header_note(skipped: int) -> str:
    return (f"表头在第 {skipped + 1} 行，上方 {skipped} 行（标题等）未作为数据读取 / the header is on row {skipped + 1}; "
            f"the {skipped} row(s) above it (a title) were not read as data")


def _too_large(size: int) -> ReadError:
    mb = settings.MAX_UPLOAD_BYTES / 1e6
    limit = f"{mb:.0f}" if mb >= 10 else f"{mb:.2g}"
    return ReadError("too_large", f"文件过大（{size / 1e6:.1f} MB），上限 {limit} MB",
                     f"file too large ({size / 1e6:.1f} MB); the limit is {limit} MB")


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes of a text file, detecting the encoding.

    UTF-8 (with or without BOM) is tried first because it rarely decodes
    anything else by accident; then GB18030, the superset of the GBK that
    Excel in China saves; then charset-normalizer's best guess.

    Returns
    -------
    (str, str)
        The text and the name of the encoding used.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    head = data[:4000]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if max(even, odd) >= max(2, len(head) // 20) and min(even, odd) * 4 <= max(even, odd):
        # UTF-16 without a BOM: the commas, digits and line ends of a table
        # have a zero byte, always on the same side (odd offsets in
        # little-endian files); other text rarely has zeros at all.
        return data.decode("utf-16-le" if odd > even else "utf-16-be", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
            # A UTF-8 file cut off inside its last character.
            return data.decode("utf-8", errors="replace"), "utf-8 (damaged bytes replaced)"
    mixed = _decode_mixed(data)
    if mixed is not None:
        return mixed, _MIXED
    try:
        return data.decode("gb18030"), "gbk/gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        return str(best), best.encoding
    return data.decode("gb18030", errors="replace"), "gb18030 (damaged bytes replaced)"


_MIXED = "utf-8 + gbk/gb18030 (mixed)"


def _decode_mixed(data: bytes) -> str | None:
    """Decode a file whose lines mix UTF-8 and GBK, line by line; ``None`` if it does not.

    Such files come from appending one office's export to another's. It is
    mixed when some non-ASCII lines are valid UTF-8 and others are not.
    """
    lines = data.split(b"\n")
    utf8 = other = 0
    for line in lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            other += 1
        if utf8 and other:
            break
    else:
        return None

    def one(line: bytes) -> str:
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            return line.decode("gb18030", errors="replace")

    return "\n".join(one(line) for line in lines)


def _read_csv(data: bytes, _layer: str | None) -> RawTable:
    text, encoding = decode_text(data)
    notes = []
    if encoding == _MIXED:
        notes.append("文件混用了 UTF-8 和 GBK 编码，已逐行识别 / the file mixes UTF-8 and GBK lines; each line was decoded on its own")
    if "replace" in encoding or "\ufffd" in text:
        notes.append("文件含有无法解码的字节，已用 � 代替 / the file has undecodable bytes, shown as �")
    text = _clean(text)
    # The sniffer's regular expressions grow with the square of the sample
    # on some inputs: a few lines are all it needs.
    sample = text[:8000]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:  # e.g. ragged rows: take the header line's most frequent delimiter
        header_line = sample.splitlines()[0] if sample else ""
        delimiter = max(",;\t|", key=header_line.count)
    limit = settings.MAX_ROWS + HEADER_SEARCH_ROWS + 1
    if text.count("\n") + text.count("\r") >= limit:
        # Possibly too many rows: count them first without keeping any, so a
        # file of a million rows is refused in bounded memory.
        n = sum(1 for r in csv.reader(_lines(text), delimiter=delimiter) if any(c.strip() for c in r))
        if n > limit:
            raise _too_many_rows(None)
    rows = [r for r in csv.reader(_lines(text), delimiter=delimiter) if any(c.strip() for c in r)]
    del text
    if not rows:
        raise ReadError("empty", "文件是空的", "the file is empty")
    top = _find_header(rows)
    if top:
        notes.append(_header_note(top))
    header, body = _unique_headers(rows[top]), rows[top + 1:]
    width = len(header)
    if any(len(r) > width for r in body):
        # Cells beyond the header are kept in one extra column, not dropped.
        header = header + ["_extra"]
        body = [r[:width] + [delimiter.join(r[width:])] if len(r) > width else r for r in body]
        notes.append("部分行的列数多于表头，多出的内容保存在 _extra 列 / some rows have more cells than the header; the extra cells are kept in column _extra")
    width = len(header)
    body = [r + [""] * (width - len(r)) for r in body]
    df = pd.DataFrame(body, columns=header, dtype=object)
    return RawTable(_unescape_formulas(df), encoding=encoding, notes=notes)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _lines(text: str):
    """The lines of ``text`` (ended by \\n, \\r\\n or \\r, ends kept), one at a time.

    The same lines as iterating ``io.StringIO(text, newline="")``, which
    would first copy the whole text at four bytes a character.
    """
    return (m.group() for m in _LINE.finditer(text))


def _unescape_formulas(df: pd.DataFrame) -> pd.DataFrame:
    # Our CSV export prefixes "'" to cells starting with = + - @ (formula
    # injection); undo it so export -> import round-trips.
    return df.apply(lambda col: col.map(
        lambda v: v[1:] if isinstance(v, str) and len(v) > 1 and v[0] == "'" and v[1] in "=+-@\t\r" else v))


def _unique_headers(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    used: set[str] = set()
    out = []
    for i, h in enumerate(header):
        h = _clean(unicodedata.normalize("NFKC", str(h))).strip().lstrip("\ufeff") or f"column_{i + 1}"
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


def _records_frame(records: list[dict]) -> pd.DataFrame:
    """Rows given as dicts (GeoJSON properties, JSON records) as a text table."""
    df = pd.DataFrame([{_flatten(k): _flatten(v) for k, v in r.items()} for r in records], dtype=object)
    df.columns = _unique_headers(list(df.columns))
    return df.fillna("")


# --------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return _clean(str(value))


_ZIP_BOMB = ("zip_bomb", "压缩包解压后过大，拒绝读取", "the zip expands too much; refused")


def _check_zip(zf: zipfile.ZipFile) -> None:
    """Refuse an archive whose members expand to far more than an upload may be.

    The sizes in a zip's directory are the sender's word. Every member is
    therefore decompressed once, in bounded chunks, with the declared size
    lifted, so that a member holding more than it declares (the usual zip
    bomb) is caught here; readers that later read a member whole (openpyxl
    does) then get exactly what was counted.
    """
    import copy

    cap = settings.ZIP_MAX_EXPANSION * settings.MAX_UPLOAD_BYTES
    members = [m for m in zf.infolist() if not m.is_dir()]
    if len(members) > settings.ZIP_MAX_MEMBERS or sum(m.file_size for m in members) > cap:
        raise ReadError(*_ZIP_BOMB)
    total = 0
    for m in members:
        if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ReadError("zip_method", f"压缩包使用了不支持的压缩方式（{m.compress_type}），请用普通 zip 重新压缩",
                            f"the zip uses an unsupported compression method ({m.compress_type}); re-zip it as a plain zip")
        unbounded = copy.copy(m)
        unbounded.file_size = cap + 1
        size = 0
        with zf.open(unbounded) as f:
            while chunk := f.read(1 << 20):
                size += len(chunk)
                if size > m.file_size or total + size > cap:
                    raise ReadError(*_ZIP_BOMB)
        total += size


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


def _read_xlsx(data: bytes, layer: str | None) -> RawTable:
    import openpyxl

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        _check_zip(zf)
    # data_only: formulas give their cached values, never formula text.
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    notes = []
    names = book.sheetnames
    if layer is not None and layer not in names:
        raise ReadError("no_such_sheet", f"找不到工作表 {layer}（有：{'、'.join(names)}）",
                        f"no sheet named {layer} (sheets: {', '.join(names)})")
    chosen = None
    for name in ([layer] if layer else names):
        sheet = book[name]
        # Some writers store a wrong used range (<dimension ref="A1"/>); read_only
        # mode trusts it and would drop every other cell.
        sheet.reset_dimensions()
        head = list(_sheet_rows(sheet, HEADER_SEARCH_ROWS))
        if not head:
            continue
        top = _find_header(head)
        if chosen is None:
            chosen = name
        # A sheet whose header names station fields beats an earlier one
        # that merely holds text (说明, 填表说明).
        if _header_score(head[top]) >= 2:
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
        raise _too_many_rows(None)
    top = _find_header(rows[:HEADER_SEARCH_ROWS])
    if top:
        notes.append(_header_note(top))
    rows = rows[top:]
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    header = _unique_headers(rows[0])
    df = pd.DataFrame(rows[1:], columns=header, dtype=object)
    return RawTable(_unescape_formulas(df), notes=notes)


# --------------------------------------------------------------------------
# Geo formats
# --------------------------------------------------------------------------


def _flatten(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(_flatten(v) for v in value)
    if isinstance(value, dict):
        return _clean(json.dumps(value, ensure_ascii=False, default=str))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _clean(str(value))


class _Invalid:
    """Stands for a geometry that could not be read, so its row is kept."""


_INVALID = _Invalid()


def _point_of(geom) -> tuple[str, str, str]:
    """Lon, lat and a note for one shapely geometry (non-points give a point inside)."""
    if geom is _INVALID:
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


def _from_geometries(props: list[dict], geoms: list) -> pd.DataFrame:
    df = _records_frame(props)
    points = [_point_of(g) for g in geoms]
    df[GEOM_LON] = [p[0] for p in points]
    df[GEOM_LAT] = [p[1] for p in points]
    df[GEOM_NOTE] = [p[2] for p in points]
    return df.fillna("")


def _shape(geometry):
    """A shapely geometry from a GeoJSON geometry object; ``_INVALID`` if it is not one."""
    from shapely.geometry import shape

    if not isinstance(geometry, dict):
        return _INVALID
    try:
        geom = shape(geometry)
        geom.is_empty  # noqa: B018 - forces GEOS to build it now, inside the try
        return geom
    except Exception:  # shapely/GEOS errors on malformed coordinates
        return _INVALID


def _read_geojson(data: bytes, _layer: str | None) -> RawTable:
    parts = _geojson_parts(data)
    if isinstance(parts, RawTable):
        return parts
    props, geoms, crs, encoding, notes = parts
    return RawTable(_from_geometries(props, geoms), encoding=encoding, source_crs=crs, notes=notes)


def _geojson_parts(data: bytes):
    """(properties, geometries, CRS name, encoding, notes) of a GeoJSON; a RawTable for a JSON array of records."""
    text, encoding = decode_text(data)
    # Each feature is a few JSON objects; far more braces than the row limit
    # allows means the parsed document would not fit in memory anyway.
    if text.count("{") > 10 * settings.MAX_ROWS + 1000:
        raise _too_many_rows(None)
    doc = json.loads(text)
    del text
    notes: list[str] = []
    if isinstance(doc, list):  # a JSON array of plain records
        if not all(isinstance(r, dict) for r in doc):
            raise ReadError("bad_json", "JSON 数组中应为对象", "the JSON array must hold objects")
        if len(doc) > settings.MAX_ROWS:
            raise _too_many_rows(len(doc))
        return RawTable(_records_frame(doc), encoding=encoding)
    if not isinstance(doc, dict) or "type" not in doc:
        raise ReadError("bad_geojson", "不是 GeoJSON：缺少 type", "not GeoJSON: no 'type' member")
    features = []
    for f in _iter_features(doc, notes):
        features.append(f)
        if len(features) > settings.MAX_ROWS:
            raise _too_many_rows(None)
    if not features:
        raise ReadError("empty", "GeoJSON 中没有要素", "the GeoJSON holds no features")
    props, geoms = [], []
    for f in features:
        p = f.get("properties")
        # Properties that are not an object are kept as one text cell.
        props.append(p if isinstance(p, dict) else ({} if p is None else {"properties": p}))
        g = f.get("geometry")
        geoms.append(_shape(g) if g is not None else None)
    if any(g is _INVALID for g in geoms):
        notes.append("部分要素的几何无法读取，这些行将被拒绝 / some features have geometry that cannot be read; those rows will be rejected")
    crs = "wgs84"
    declared = doc.get("crs")
    if declared:  # pre-RFC 7946 files may name another CRS
        crs_props = declared.get("properties") if isinstance(declared, dict) else None
        name = crs_props.get("name", "") if isinstance(crs_props, dict) else ""
        name = _clean(name) if isinstance(name, str) else ""
        if name and "4326" not in name and "CRS84" not in name:
            crs = name
    return props, geoms, crs, encoding, notes


_GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def _iter_features(doc: dict, notes: list[str]):
    kind = doc.get("type")
    if kind == "FeatureCollection":
        members = doc.get("features")
        skipped = 0
        for f in members if isinstance(members, list) else []:
            if isinstance(f, dict) and f.get("type") == "FeatureCollection":
                yield from _iter_features(f, notes)
            elif isinstance(f, dict):
                yield f
            else:
                skipped += 1
        if skipped:
            notes.append(f"features 中有 {skipped} 项不是对象，已跳过 / {skipped} entries of 'features' are not objects and were skipped")
    elif kind == "Feature":
        yield doc
    elif kind == "GeometryCollection":
        members = doc.get("geometries")
        for g in members if isinstance(members, list) else []:
            if isinstance(g, dict) and g.get("type") in (*_GEOMETRY_TYPES, "GeometryCollection"):
                yield from _iter_features(g, notes)
            else:
                yield {"type": "Feature", "geometry": g, "properties": {}}
    elif kind in _GEOMETRY_TYPES:
        if not any("bare geometry" in n for n in notes):
            notes.append("GeoJSON 只有几何，没有属性 / the GeoJSON is a bare geometry without properties")
        coords = doc.get("coordinates")
        if kind == "MultiPoint" and isinstance(coords, list):
            for c in coords:
                yield {"type": "Feature", "geometry": {"type": "Point", "coordinates": c}, "properties": {}}
        else:
            yield {"type": "Feature", "geometry": doc, "properties": {}}
    else:
        raise ReadError("bad_geojson", f"未知的 GeoJSON 类型：{_flatten(kind)[:50]}",
                        f"unknown GeoJSON type: {_flatten(kind)[:50]}")


def _crs_name(crs) -> str | None:
    if crs is None:
        return None
    epsg = crs.to_epsg()
    if epsg == 4326:
        return "wgs84"
    if epsg == 4490:
        return "cgcs2000"
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _vector_frame(path: str, encoding: str | None = None):
    """A Shapefile whose parts were checked by :func:`_shapefile_frame`, through GDAL, and any note."""
    import pyogrio

    kwargs = {"encoding": encoding} if encoding else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf = pyogrio.read_dataframe(path, **kwargs)
    notes = []
    if any("converted" in str(w.message) for w in caught):
        # GDAL replaced characters it could not convert; say so rather than hide it.
        notes.append("部分字符无法按文件编码转换，已被替换 / some characters could not be converted "
                     "from the file's encoding and were replaced")
    return gdf, notes


def _gpkg_layers(data: bytes, layer: str | None) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.gpkg"
        path.write_bytes(data)
        layers = read_gpkg(path, layer=layer, max_rows=settings.MAX_ROWS)
    for lay in layers:
        lay.geoms = [_INVALID if g is UNREADABLE else g for g in lay.geoms]
    return layers


def _read_gpkg(data: bytes, layer: str | None) -> RawTable:
    layers = _gpkg_layers(data, layer)
    # Our own exports hold one layer per kind: all are read unless one is named.
    df = pd.concat([_from_geometries(lay.props, lay.geoms) for lay in layers], ignore_index=True).fillna("")
    table = RawTable(df, source_crs=_crs_name(layers[0].crs), notes=list(layers[0].notes))
    if any(g is _INVALID for lay in layers for g in lay.geoms):
        table.notes.append("部分要素的几何无法读取，这些行将被拒绝 / some features have geometry that cannot be "
                           "read; those rows will be rejected")
    if len(layers) > 1:
        names = [lay.name for lay in layers]
        table.notes.append(f"读取了 {len(names)} 个图层：{'、'.join(names)} / read {len(names)} layers: {', '.join(names)}")
    return table


# The parts GDAL reads of a Shapefile; nothing else in a zip is written out.
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _shapefile_parts(zf: zipfile.ZipFile) -> tuple[dict, list[str]]:
    """The members of the zip's one Shapefile by extension, and the names of those left unread."""
    members = [m for m in zf.infolist() if not m.is_dir()]
    if len(members) > settings.ZIP_MAX_MEMBERS or sum(m.file_size for m in members) > \
            settings.ZIP_MAX_EXPANSION * settings.MAX_UPLOAD_BYTES:
        raise ReadError(*_ZIP_BOMB)
    links = [m.filename for m in members if zip_member_is_link(m)]
    if links:
        raise ReadError("refused_member", f"拒绝读取：压缩包含有符号链接 {links[0][:100]}",
                        f"refused: the zip holds a symbolic link, {links[0][:100]}")
    shp = [m for m in members if m.filename.lower().endswith(".shp")]
    if not shp:
        raise ReadError("no_shp", "压缩包中没有 .shp 文件", "no .shp file in the zip")
    stem = shp[0].filename[:-4]
    parts = {m.filename[len(stem):].lower(): m for m in members
             if m.filename.startswith(stem) and m.filename[len(stem):].lower() in _SHAPEFILE_PARTS}
    unread = [m.filename for m in members if m not in parts.values()]
    return parts, unread


def _shapefile_records(shp: bytes, dbf: bytes) -> int:
    """The number of records, checked between the .shp, the .dbf header and the .dbf's size.

    GDAL believes the .dbf header's record count; a header that understates
    it would make the rest of the file vanish without a word.
    """
    if len(shp) < 100 or struct.unpack(">i", shp[:4])[0] != 9994:
        raise ReadError("wrong_content", "拒绝读取：.shp 文件的内容不是 Shapefile",
                        "refused: the .shp file does not hold a Shapefile")
    if len(dbf) < 32 or dbf[0] & 0x07 not in (2, 3):
        raise ReadError("wrong_content", "拒绝读取：.dbf 文件的内容不是 dBASE 表",
                        "refused: the .dbf file does not hold a dBASE table")
    declared, header_len, record_len = struct.unpack("<IHH", dbf[4:12])
    held = (len(dbf) - header_len) // record_len if record_len else 0
    shapes, pos = 0, 100
    while pos + 8 <= len(shp):
        shapes += 1
        pos += 8 + 2 * struct.unpack(">i", shp[pos + 4:pos + 8])[0]
    if max(declared, held, shapes) > settings.MAX_ROWS:
        raise _too_many_rows(max(declared, held, shapes))
    if not declared == held == shapes:
        raise ReadError(
            "count_mismatch",
            f"Shapefile 记录数不一致：.dbf 文件头写 {declared} 条，.dbf 实有 {held} 条，.shp 有 {shapes} 个图形；"
            "请在 GIS 软件中修复后重新导出",
            f"the Shapefile's record counts disagree: the .dbf header says {declared}, the .dbf holds {held} "
            f"and the .shp {shapes} shapes; repair it in a GIS and export it again")
    return declared


def _shapefile_frame(data: bytes):
    """The zip's Shapefile as a GeoDataFrame (CRS ``None`` without a .prj), its encoding and notes."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        parts, unread = _shapefile_parts(zf)
        _check_zip(_Subset(zf, list(parts.values())))
        if ".dbf" not in parts:
            raise ReadError("no_dbf", "Shapefile 缺少 .dbf 属性文件", "the Shapefile has no .dbf attribute file")
        if ".shp" not in parts:
            raise ReadError("no_shp", "压缩包中没有 .shp 文件", "no .shp file in the zip")
        contents = {ext: zf.read(m) for ext, m in parts.items()}
    _shapefile_records(contents[".shp"], contents[".dbf"])
    notes = []
    if ".prj" not in parts:
        notes.append("Shapefile 没有 .prj，坐标系未声明 / the Shapefile has no .prj; coordinate system not declared")
    if unread:
        notes.append(f"压缩包中未读取的文件：{'、'.join(unread[:10])} / files in the zip not read: {', '.join(unread[:10])}")
    with tempfile.TemporaryDirectory() as tmp:
        for ext, content in contents.items():
            # Written under a fixed safe name: a member named "../x" never leaves tmp.
            (Path(tmp) / f"layer{ext}").write_bytes(content)
        path = str(Path(tmp) / "layer.shp")
        # Chinese Shapefiles without a .cpg are usually GBK.
        for enc in ((None,) if ".cpg" in parts else ("utf-8", "gb18030", None)):
            try:
                gdf, more = _vector_frame(path, encoding=enc)
                break
            except Exception:
                if enc is None:
                    raise
    if ".prj" not in parts:
        gdf = gdf.set_crs(None, allow_override=True)
    return gdf, enc or "", notes + more


def _read_shapefile_zip(data: bytes, _layer: str | None) -> RawTable:
    gdf, encoding, notes = _shapefile_frame(data)
    props = gdf.drop(columns="geometry").to_dict("records")
    props = [{k: (None if (isinstance(v, float) and v != v) else v) for k, v in p.items()} for p in props]
    return RawTable(_from_geometries(props, list(gdf.geometry)), encoding=encoding,
                    source_crs=_crs_name(gdf.crs), notes=notes)


class _Subset:
    """A zip seen through some of its members (for :func:`_check_zip`)."""

    def __init__(self, zf: zipfile.ZipFile, members: list):
        self._zf, self._members = zf, members

    def infolist(self) -> list:
        return self._members

    def open(self, member):
        return self._zf.open(member)


# --------------------------------------------------------------------------
# Writing CSV for people
# --------------------------------------------------------------------------

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
        text = escape_formula(_XML_ILLEGAL.sub("", _clean(str(value))))[:XLSX_MAX_CELL_CHARS]
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
