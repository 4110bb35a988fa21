"""Read the files union offices really have into one raw table.

Every reader returns a :class:`RawTable`: the rows as text, exactly as the
file gave them, plus the point coordinates when the file carried geometry.
Interpreting the text (headers, coordinates, facilities) is the job of
:mod:`geo.headers` and :mod:`geo.validate`; keeping the raw text is what lets
a rejected row be handed back to the user unchanged.
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import settings

#: Columns that :func:`read_table` adds when the file carried geometry.
GEOM_LON, GEOM_LAT, GEOM_NOTE = "__lon", "__lat", "__geometry_note"

_FORMATS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".geojson": "geojson", ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shapefile-zip",
}


class ReadError(Exception):
    """A file that cannot be read at all, with a message in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en = code, zh, en


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
    if isinstance(source, (str, Path)):
        path = Path(source)
        filename = filename or path.name
        if not path.is_file():
            raise ReadError("file_not_found", f"找不到文件：{path}", f"file not found: {path}")
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
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "geojson": _read_geojson,
              "gpkg": _read_gpkg, "shapefile-zip": _read_shapefile_zip}[fmt]
    try:
        table = reader(data, layer)
    except ReadError:
        raise
    except Exception as exc:  # any parser failure becomes one clear message
        raise ReadError("unreadable", f"无法读取文件 {filename}：{exc}",
                        f"cannot read {filename}: {exc}") from exc
    table.filename, table.format = filename, fmt
    if len(table.df) > settings.MAX_ROWS:
        raise ReadError(
            "too_many_rows",
            f"文件有 {len(table.df)} 行，超过上限 {settings.MAX_ROWS} 行，请分批导入",
            f"the file has {len(table.df)} rows, more than the limit of {settings.MAX_ROWS}; import it in parts",
        )
    return table


def _too_large(size: int) -> ReadError:
    mb = settings.MAX_UPLOAD_BYTES / 1e6
    return ReadError("too_large", f"文件过大（{size / 1e6:.1f} MB），上限 {mb:.0f} MB",
                     f"file too large ({size / 1e6:.1f} MB); the limit is {mb:.0f} MB")


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
        return data.decode("utf-16"), "utf-16"
    for enc in ("utf-8", "gb18030"):
        try:
            return data.decode(enc), ("gbk/gb18030" if enc == "gb18030" else enc)
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        return str(best), best.encoding
    return data.decode("gb18030", errors="replace"), "gb18030 (damaged bytes replaced)"


def _read_csv(data: bytes, _layer: str | None) -> RawTable:
    text, encoding = decode_text(data)
    notes = []
    if "replace" in encoding or "\ufffd" in text:
        notes.append("文件含有无法解码的字节，已用 � 代替 / the file has undecodable bytes, shown as �")
    sample = text[:20000]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:  # e.g. ragged rows: take the header line's most frequent delimiter
        header_line = sample.splitlines()[0] if sample else ""
        delimiter = max(",;\t|", key=header_line.count)
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            if any(c.strip() for c in r)]
    if not rows:
        raise ReadError("empty", "文件是空的", "the file is empty")
    header, body = _unique_headers(rows[0]), rows[1:]
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


def _unescape_formulas(df: pd.DataFrame) -> pd.DataFrame:
    # Our CSV export prefixes "'" to cells starting with = + - @ (formula
    # injection); undo it so export -> import round-trips.
    return df.apply(lambda col: col.map(
        lambda v: v[1:] if isinstance(v, str) and len(v) > 1 and v[0] == "'" and v[1] in "=+-@\t\r" else v))


def _unique_headers(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        h = unicodedata.normalize("NFKC", str(h)).strip().lstrip("\ufeff") or f"column_{i + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h}_{seen[h]}"
        else:
            seen[h] = 0
        out.append(h)
    return out


# --------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes, layer: str | None) -> RawTable:
    import openpyxl

    # data_only: formulas give their cached values, never formula text.
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    notes = []
    names = book.sheetnames
    if layer is not None and layer not in names:
        raise ReadError("no_such_sheet", f"找不到工作表 {layer}（有：{'、'.join(names)}）",
                        f"no sheet named {layer} (sheets: {', '.join(names)})")
    for name in ([layer] if layer else names):
        sheet = book[name]
        # Some writers store a wrong used range (<dimension ref="A1"/>); read_only
        # mode trusts it and would drop every other cell.
        sheet.reset_dimensions()
        rows = [[_cell_text(v) for v in r] for r in sheet.iter_rows(values_only=True)]
        rows = [r for r in rows if any(c.strip() for c in r)]
        if len(rows) >= 1:
            break
    else:
        raise ReadError("empty", "工作簿中没有数据", "the workbook holds no data")
    if len(names) > 1:
        notes.append(f"工作簿有 {len(names)} 个工作表，读取了“{name}” / the workbook has {len(names)} sheets; read '{name}'")
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    header = _unique_headers(rows[0])
    return RawTable(pd.DataFrame(rows[1:], columns=header, dtype=object), notes=notes)


# --------------------------------------------------------------------------
# Geo formats
# --------------------------------------------------------------------------


def _flatten(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(_flatten(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _point_of(geom) -> tuple[str, str, str]:
    """Lon, lat and a note for one shapely geometry (non-points give a point inside)."""
    if geom is None or geom.is_empty:
        return "", "", ""
    note = ""
    if geom.geom_type != "Point":
        note = geom.geom_type
        geom = geom.representative_point()
    return repr(float(geom.x)), repr(float(geom.y)), note


def _from_geometries(props: list[dict], geoms: list) -> pd.DataFrame:
    df = pd.DataFrame([{k: _flatten(v) for k, v in p.items()} for p in props], dtype=object)
    points = [_point_of(g) for g in geoms]
    df[GEOM_LON] = [p[0] for p in points]
    df[GEOM_LAT] = [p[1] for p in points]
    df[GEOM_NOTE] = [p[2] for p in points]
    return df.fillna("")


def _read_geojson(data: bytes, _layer: str | None) -> RawTable:
    from shapely.geometry import shape

    text, encoding = decode_text(data)
    doc = json.loads(text)
    notes: list[str] = []
    if isinstance(doc, list):  # a JSON array of plain records
        if not all(isinstance(r, dict) for r in doc):
            raise ReadError("bad_json", "JSON 数组中应为对象", "the JSON array must hold objects")
        df = pd.DataFrame([{k: _flatten(v) for k, v in r.items()} for r in doc], dtype=object).fillna("")
        return RawTable(df, encoding=encoding)
    if not isinstance(doc, dict) or "type" not in doc:
        raise ReadError("bad_geojson", "不是 GeoJSON：缺少 type", "not GeoJSON: no 'type' member")
    features = list(_iter_features(doc, notes))
    if not features:
        raise ReadError("empty", "GeoJSON 中没有要素", "the GeoJSON holds no features")
    props, geoms = [], []
    for f in features:
        props.append(f.get("properties") or {})
        g = f.get("geometry")
        geoms.append(shape(g) if g else None)
    crs = "wgs84"
    declared = doc.get("crs")
    if declared:  # pre-RFC 7946 files may name another CRS
        name = (declared.get("properties") or {}).get("name", "")
        if name and "4326" not in name and "CRS84" not in name:
            crs = name
    return RawTable(_from_geometries(props, geoms), encoding=encoding, source_crs=crs, notes=notes)


def _iter_features(doc: dict, notes: list[str]):
    kind = doc.get("type")
    if kind == "FeatureCollection":
        for f in doc.get("features") or []:
            if isinstance(f, dict) and f.get("type") == "FeatureCollection":
                yield from _iter_features(f, notes)
            elif isinstance(f, dict):
                yield f
    elif kind == "Feature":
        yield doc
    elif kind == "GeometryCollection":
        for g in doc.get("geometries") or []:
            yield from _iter_features(g, notes)
    elif kind in ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"):
        notes.append("GeoJSON 只有几何，没有属性 / the GeoJSON is a bare geometry without properties")
        if kind == "MultiPoint":
            for c in doc.get("coordinates") or []:
                yield {"type": "Feature", "geometry": {"type": "Point", "coordinates": c}, "properties": {}}
        else:
            yield {"type": "Feature", "geometry": doc, "properties": {}}
    else:
        raise ReadError("bad_geojson", f"未知的 GeoJSON 类型：{kind}", f"unknown GeoJSON type: {kind}")


def _crs_name(crs) -> str | None:
    if crs is None:
        return None
    epsg = crs.to_epsg()
    if epsg == 4326:
        return "wgs84"
    if epsg == 4490:
        return "cgcs2000"
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _read_vector_file(path: str, layer: str | None, encoding: str | None = None) -> RawTable:
    import pyogrio

    kwargs = {"encoding": encoding} if encoding else {}
    gdf = pyogrio.read_dataframe(path, layer=layer, **kwargs)
    props = gdf.drop(columns="geometry").to_dict("records")
    props = [{k: (None if (isinstance(v, float) and v != v) else v) for k, v in p.items()} for p in props]
    return RawTable(_from_geometries(props, list(gdf.geometry)), source_crs=_crs_name(gdf.crs))


def _read_gpkg(data: bytes, layer: str | None) -> RawTable:
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "upload.gpkg")
        Path(path).write_bytes(data)
        layers = [name for name, geom in pyogrio.list_layers(path) if geom is not None and geom != ""]
        if not layers:
            raise ReadError("empty", "GeoPackage 中没有要素图层", "the GeoPackage has no feature layer")
        if layer is None:
            # Our own exports hold one layer per kind: read them all.
            tables = [_read_vector_file(path, name) for name in layers]
            df = pd.concat([t.df for t in tables], ignore_index=True).fillna("")
            table = RawTable(df, source_crs=tables[0].source_crs)
            if len(layers) > 1:
                table.notes.append(f"读取了 {len(layers)} 个图层：{'、'.join(layers)} / read {len(layers)} layers: {', '.join(layers)}")
            return table
        return _read_vector_file(path, layer)


def _read_shapefile_zip(data: bytes, _layer: str | None) -> RawTable:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        total = sum(m.file_size for m in members)
        if total > 10 * settings.MAX_UPLOAD_BYTES:
            raise ReadError("zip_bomb", "压缩包解压后过大，拒绝读取", "the zip expands too much; refused")
        shp = [m for m in members if m.filename.lower().endswith(".shp")]
        if not shp:
            raise ReadError("no_shp", "压缩包中没有 .shp 文件", "no .shp file in the zip")
        stem = shp[0].filename[:-4]
        parts = {m.filename[len(stem):].lower(): m for m in members if m.filename.startswith(stem)}
        if ".dbf" not in parts:
            raise ReadError("no_dbf", "Shapefile 缺少 .dbf 属性文件", "the Shapefile has no .dbf attribute file")
        notes = []
        if ".prj" not in parts:
            notes.append("Shapefile 没有 .prj，坐标系未声明 / the Shapefile has no .prj; coordinate system not declared")
        with tempfile.TemporaryDirectory() as tmp:
            for ext, m in parts.items():
                # Write under a fixed safe name: a member named "../x" never leaves tmp.
                (Path(tmp) / f"layer{ext}").write_bytes(zf.read(m))
            path = str(Path(tmp) / "layer.shp")
            if ".cpg" in parts:
                table = _read_vector_file(path, None)
            else:
                # Chinese Shapefiles without a .cpg are usually GBK.
                table = None
                for enc in ("utf-8", "gb18030"):
                    try:
                        table = _read_vector_file(path, None, encoding=enc)
                        break
                    except Exception:
                        continue
                if table is None:
                    table = _read_vector_file(path, None)
                else:
                    table.encoding = enc
    if ".prj" not in parts:
        table.source_crs = None
    table.notes = notes + table.notes
    return table



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
    return safe.to_csv(index=False).encode("utf-8-sig")
