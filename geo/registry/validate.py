"""Validate the rows of an input file into registry stations.

Every row read ends in exactly one of two places: ``accepted`` (possibly
with warnings) or ``rejects`` with a reason code and a message in Chinese
and English. ``accepted + rejected == rows`` always holds, so nothing the
user gave is lost silently; a rejected row keeps its original cells.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from shapely import points

from geo import settings
from geo.core import regions
from geo.core.crs import CRS_CHOICES, guess_crs_from_headers, haversine_m, normalize_crs, to_wgs84
from geo.registry.io.headers import coord_system_column, suggest_mapping, unmapped_columns
from geo.core.hours import parse_opening_hours
from geo.registry.io.table import GEOM_INVALID, GEOM_LAT, GEOM_LON, GEOM_NOTE, RawTable, clean_text
from geo.registry.io.writers import csv_bytes
from geo.core.schema import (_FACILITY_SPLIT, FIELD_NAMES, FIELDS_BY_NAME, KINDS, LIST_SEP, parse_facilities, parse_kind,
                     parse_status, station_id)

#: Reasons a row is rejected: code -> (Chinese, English) message templates.
REJECT_REASONS: dict[str, tuple[str, str]] = {
    "coord_missing": ("缺少坐标", "coordinates missing"),
    "coord_not_numeric": ("坐标不是有效数字：{value}", "coordinates are not valid numbers: {value}"),
    "coord_out_of_range": ("坐标超出范围（经度 −180～180，纬度 −90～90）：{value}",
                           "coordinates out of range (lon −180…180, lat −90…90): {value}"),
    "coord_zero": ("坐标为 (0, 0)，通常表示未填写", "coordinates are (0, 0), which usually means not filled in"),
    "geometry_invalid": ("几何无法读取（坐标格式错误）", "the geometry cannot be read (malformed coordinates)"),
    "outside_region": ("点位不在服务区域（{region}）内：{value}", "point outside the service region ({region}): {value}"),
    "name_missing": ("缺少名称", "name missing"),
    "unknown_kind": ("无法识别的类型：{value}", "unknown kind: {value}"),
    "kind_mismatch": ("该行类型“{value}”属于{other}图层，不是正在导入的图层；请导入到对应图层",
                      "this row's type '{value}' belongs to the {other} layer, not the one being imported; import it there"),
    "duplicate_source_id": ("与第 {other} 行的来源编号相同（{value}），重复行未导入",
                            "same source id as row {other} ({value}); the duplicate was not imported"),
    "duplicate_nearby": ("与第 {other} 行同名且相距 {value} 米，视为重复，未导入",
                         "same name as row {other} and {value} m away; treated as a duplicate and not imported"),
    "text_too_long": ("{field_zh}（列“{column}”）有 {value} 个字符，超过上限 {limit}，未保存",
                      "{field_en} (column '{column}') has {value} characters, more than the limit of {limit}; not stored"),
}

#: Advice added to a reject when a change of the header mapping would fix it:
#: code -> (Chinese, English) templates, joined to the reason's own message.
MAPPING_HINTS: dict[str, tuple[str, str]] = {
    "coord_column": ("列“{column}”看起来是{what_zh}，可在表头映射中选用（命令行 --map {field}={column}）",
                     "column '{column}' looks like the {what_en}: choose it in the header mapping "
                     "(command line --map {field}={column})"),
    "coord_unmapped": ("没有列映射为{what_zh}，请在表头映射中选择坐标列（经度和纬度，或合并的经纬度 lonlat）",
                       "no column is mapped to the {what_en}: choose the coordinate columns in the header mapping "
                       "(lon and lat, or a combined lonlat)"),
    "name_column": ("名称未映射到任何列；列“{column}”可能是名称，可在表头映射中选用（命令行 --map name={column}）",
                    "no column is mapped to the name; column '{column}' may hold it: choose it in the header mapping "
                    "(command line --map name={column})"),
    "name_unmapped": ("名称未映射到任何列，请在表头映射中选择名称列", "no column is mapped to the name: choose it in the header mapping"),
    "kind_column": ("没有类型列；列“{column}”看起来是类型，可在表头映射中选用（命令行 --map kind={column}），或选择要导入的图层（--kind）",
                    "no type column; column '{column}' looks like the type: choose it in the header mapping "
                    "(command line --map kind={column}), or choose the layer to import into (--kind)"),
    "kind_unmapped": ("没有类型列，名称也看不出图层：请选择要导入的图层（命令行 --kind），或在表头映射中选择类型列",
                      "no type column and the name does not tell the layer: choose the layer to import into "
                      "(command line --kind) or the type column in the header mapping"),
}

#: Warnings on accepted rows: code -> (Chinese, English) message templates.
WARNING_REASONS: dict[str, tuple[str, str]] = {
    "coord_swapped": ("经度和纬度填反了，已自动交换：{value}", "longitude and latitude were swapped and have been fixed: {value}"),
    "geometry_not_point": ("几何类型为 {value}，已取其内部一点", "geometry is a {value}; a point inside it was used"),
    "facility_unmapped": ("未识别的设施已原样保留在“其他设施”中：{value}",
                          "facilities not in the vocabulary were kept in facilities_other: {value}"),
    "hours_unparsed": ("无法识别开放时间，已保留原文：{value}", "opening hours not understood; the text is kept: {value}"),
    "status_unknown": ("无法识别状态“{value}”，按“开放”处理，原文记入备注",
                       "status '{value}' not understood; treated as open, the text is kept in notes"),
    "address_district_mismatch": ("地址写的是{value}，但点位位于{other}", "the address names {value} but the point lies in {other}"),
    "merged_existing": ("与登记库中同名站点 {other} 相距 {value} 米，将更新该站点而不是新增",
                        "same name as registry station {other}, {value} m away; it will be updated, not added again"),
    "bad_number": ("{other} 不是整数：{value}，原文记入其他字段", "{other} is not a whole number: {value}; the text is kept in extra"),
    "kind_from_name": ("类型未填写，按名称判断为 {value}", "type not given; taken as {value} from the name"),
    "kind_name_mismatch": ("名称“{value}”看起来属于 {other} 图层，但已按 {layer} 导入；如有误，请改选图层或填写类型列",
                           "the name '{value}' suggests the {other} layer, but the row was taken as {layer}; "
                           "if that is wrong, choose another layer or give the type in a type column"),
}


class _Blank(dict):
    """Template values: a key a caller did not give is empty, a long value is cut."""

    def __getitem__(self, key: str):
        value = super().__getitem__(key) if key in self else ""
        limit = settings.MESSAGE_VALUE_MAX_CHARS
        if isinstance(value, str) and len(value) > limit:
            # A 49 MiB cell must not come back as a 49 MiB message; the rejects file keeps it whole.
            return value[:limit] + "…"
        return value


def message(code: str, lang: str | None = None, *, hint: list[tuple[str, dict]] | None = None, **values) -> str:
    """The message of a reject or warning code, in one language or both.

    Parameters
    ----------
    code : str
        A key of :data:`REJECT_REASONS` or :data:`WARNING_REASONS`.
    lang : {"zh", "en"}, optional
        One language; default both, as ``"中文 / English"``.
    hint : list of (str, dict), optional
        :data:`MAPPING_HINTS` codes and their values: how a change of the
        header mapping would fix the reject, added to its message.
    **values
        Template values; missing ones are empty, long ones cut to
        ``settings.MESSAGE_VALUE_MAX_CHARS`` characters.
    """
    zh, en = REJECT_REASONS.get(code) or WARNING_REASONS[code]
    zh, en = zh.format_map(_Blank(values)), en.format_map(_Blank(values))
    for hint_code, hint_values in hint or ():
        hint_zh, hint_en = MAPPING_HINTS[hint_code]
        zh = f"{zh}；{hint_zh.format_map(_Blank(hint_values))}"
        en = f"{en}; {hint_en.format_map(_Blank(hint_values))}"
    if lang == "zh":
        return zh
    if lang == "en":
        return en
    return f"{zh} / {en}"


class ValidationError(ValueError):
    """A single record (an edit in the app) that cannot be stored."""


@dataclass
class ImportReport:
    """The outcome of validating one input file.

    Attributes
    ----------
    rows : int
        Data rows read from the file.
    accepted : geopandas.GeoDataFrame
        Canonical stations (``schema.FIELD_NAMES`` + geometry, WGS-84) with
        a ``row`` column giving the 1-based data row they came from.
    rejects : pandas.DataFrame
        ``row``, ``reason_code``, ``message`` and the row's original cells.
    warnings : pandas.DataFrame
        ``row``, ``code``, ``message`` for accepted rows.
    crs_used, crs_note : str
        The coordinate system the input was read in, and why.
    """

    rows: int
    accepted: gpd.GeoDataFrame
    rejects: pd.DataFrame
    warnings: pd.DataFrame
    crs_used: str
    crs_note: str
    mapping: dict
    kind: str | None
    source: str
    filename: str = ""
    format: str = ""
    encoding: str = ""
    notes: list[str] = field(default_factory=list)
    #: Registry stations of the same source that this file no longer lists.
    not_in_file: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """A JSON-ready summary; the ``python -m geo import --json`` contract."""
        return {
            "file": self.filename,
            "format": self.format,
            "encoding": self.encoding,
            "kind": self.kind,
            "source": self.source,
            "rows": int(self.rows),
            "accepted": int(len(self.accepted)),
            "rejected": int(len(self.rejects)),
            "warnings": int(len(self.warnings)),
            "crs_used": self.crs_used,
            "crs_note": self.crs_note,
            "mapping": {k: v for k, v in self.mapping.items() if v},
            "notes": list(self.notes),
            "not_in_file": list(self.not_in_file),
            "rejects": [{"row": int(r.row), "reason_code": r.reason_code, "message": r.message}
                        for r in self.rejects[["row", "reason_code", "message"]].itertuples()],
            "warning_list": [{"row": int(r.row), "code": r.code, "message": r.message}
                             for r in self.warnings.itertuples()],
        }

    def rejects_csv(self) -> bytes:
        """Rejected rows as CSV: the reason beside the original cells."""
        return csv_bytes(self.rejects)


# --------------------------------------------------------------------------
# Parsing cells
# --------------------------------------------------------------------------

_DMS = re.compile(r"^\s*([NSEW]?)\s*(\d+(?:\.\d+)?)\s*[°度]\s*(?:(\d+(?:\.\d+)?)\s*['′’分]\s*)?"
                  r"(?:(\d+(?:\.\d+)?)\s*(?:[\"″”]|''|′′|秒)\s*)?([NSEW]?)\s*$", re.I)
_HEMI = re.compile(r"^(东经|北纬|西经|南纬)|[NSEWnsew]$|^[NSEWnsew]")


def parse_coordinate(text) -> float:
    """Read one coordinate: decimal, full-width digits or degrees-minutes-seconds.

    Returns NaN for an empty cell. Raises ``ValueError`` for text that is
    not a finite number.
    """
    if text is None:
        return np.nan
    s = unicodedata.normalize("NFKC", str(text)).strip().replace("。", ".")
    if s == "" or s.lower() in ("nan", "none", "null"):
        return np.nan
    sign = -1.0 if re.search(r"西经|南纬|[SWsw]\s*$|^\s*[SWsw]", s) else 1.0
    m = _DMS.match(s.replace("东经", "").replace("北纬", "").replace("西经", "").replace("南纬", ""))
    if m:
        deg, minutes, seconds = (float(g) if g else 0.0 for g in m.group(2, 3, 4))
        return sign * (deg + minutes / 60 + seconds / 3600)
    value = float(_HEMI.sub("", s).strip())
    if not np.isfinite(value):
        raise ValueError(s)
    return sign * value


def _split_lonlat(text: str) -> tuple[str, str]:
    parts = [p for p in re.split(r"[,，;；\s]+", unicodedata.normalize("NFKC", str(text)).strip()) if p]
    if len(parts) != 2:
        return (text, "") if parts else ("", "")
    return parts[0], parts[1]


#: Largest count a whole-number field accepts (SQLite integers are 64-bit;
#: no station has a million parking spaces).
_MAX_COUNT = 1_000_000


def _parse_int(text: str) -> int | None:
    """A non-negative whole number such as ``12`` or ``１２个``; ``ValueError`` otherwise."""
    s = unicodedata.normalize("NFKC", str(text)).strip()
    s = re.sub(r"[个辆位]$", "", s)
    if not s:
        return None
    value = float(s)
    if not np.isfinite(value) or not value.is_integer() or not 0 <= value <= _MAX_COUNT:
        raise ValueError(s)
    return int(value)


def _truthy(text: str) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes", "y", "是", "t")


_PUBLIC_WORDS = ("1", "true", "yes", "y", "t", "是", "公开", "对外公开", "public")


def _public(text: str) -> bool:
    """Whether a ``public`` cell allows publishing: empty means yes.

    Anything else that is not a clear yes (否, 不公开, 内部, 0, private, or
    text not understood) means no: a station is kept out of public exports
    rather than its contacts published by mistake.
    """
    s = str(text).strip().lower()
    return s == "" or s in _PUBLIC_WORDS


# --------------------------------------------------------------------------
# Coordinate system
# --------------------------------------------------------------------------


def _is_geographic(name: str) -> bool:
    if name in CRS_CHOICES:
        return True
    try:
        return CRS.from_user_input(name).is_geographic
    except Exception:  # pyproj's own errors; normalize_crs accepted it already
        return True


def _decide_crs(raw: RawTable, crs: str, mapping: dict, use_geometry: bool) -> tuple[str, str]:
    if crs and crs != "auto":
        name = normalize_crs(crs)
        return name, f"按用户指定的坐标系 {name} 读取 / read as {name}, as the user chose"
    # Our own exports mark their datum in a coord_system column (GeoJSON has
    # no other way to say GCJ-02): honour it before the RFC 7946 default.
    declared_other = use_geometry and raw.source_crs not in (None, "wgs84")
    mark_col = coord_system_column(raw.df.columns)  # coord_system, or its label (坐标系) in XLSX
    marks = set(raw.df[mark_col].fillna("").astype(str).str.strip()) - {""} \
        if mark_col is not None and not declared_other else set()
    if len(marks) == 1:
        try:
            name = normalize_crs(marks.pop())
        except ValueError:
            name = None
        if name in ("wgs84", "gcj02", "bd09"):
            return name, f"文件的 coord_system 列标明坐标系为 {name} / the file's coord_system column says {name}"
    if use_geometry and raw.source_crs:
        try:
            name = normalize_crs(raw.source_crs)
        except ValueError:
            # A declaration nothing knows (a made-up EPSG code): judged like a
            # file that declares nothing, and the note says so.
            name = None
        if name is not None:
            return name, f"文件声明的坐标系 {name} / the file declares {name}"
        crs_used, note = _decide_crs(RawTable(raw.df, filename=raw.filename), crs, mapping, False)
        zh, _, en = note.partition(" / ")
        shown = str(raw.source_crs)[:60]
        return crs_used, (f"文件声明的坐标系 {shown} 无法识别，已忽略；{zh} / "
                          f"the declared system {shown} is unknown and was ignored; {en or zh}")
    cols = [mapping.get(k) for k in ("lon", "lat", "lonlat") if mapping.get(k)]
    hint = guess_crs_from_headers(cols)
    if hint:
        return hint, f"表头 {'、'.join(cols)} 表明坐标系为 {hint} / headers {', '.join(cols)} indicate {hint}"
    hint = guess_crs_from_headers([Path(raw.filename).stem])
    if hint:
        return hint, f"文件名表明坐标系为 {hint} / the file name indicates {hint}"
    return "wgs84", ("未声明坐标系，按 WGS-84 处理；若来自高德或百度，请选择 gcj02 或 bd09 / "
                     "no coordinate system declared, assumed WGS-84; choose gcj02 or bd09 if the points come from Amap or Baidu")


# --------------------------------------------------------------------------
# The validation
# --------------------------------------------------------------------------


def validate_table(raw: RawTable, kind: str | None, crs: str = "auto",
                   mapping: dict | None = None, source: str | None = None,
                   existing: gpd.GeoDataFrame | None = None,
                   region: str = settings.SERVICE_REGION) -> ImportReport:
    """Validate every row of a raw table into canonical stations.

    Parameters
    ----------
    raw : RawTable
        As returned by :func:`geo.registry.io.readers.read_table`.
    kind : str or None
        The layer being imported, or ``None``/``"auto"`` to take each row's
        layer from its type column.
    crs : str
        ``auto`` (declared, then header and file-name hints, else WGS-84),
        or a name accepted by :func:`geo.core.crs.normalize_crs`.
    mapping : dict, optional
        ``{field: column}`` overrides of :func:`geo.registry.io.headers.suggest_mapping`;
        a value of ``None`` unmaps a field.
    source : str, optional
        Name of the data source; re-importing the same source updates its
        stations by ``source_id``. Default: the file name without extension.
    existing : GeoDataFrame, optional
        The current registry, to merge same-named stations within
        ``settings.DUPLICATE_RADIUS_M`` instead of doubling them.
    region : str
        Adcode of the service region; points outside are rejected.

    Returns
    -------
    ImportReport
    """
    kind = None if kind in (None, "", "auto") else kind
    if kind is not None and kind not in KINDS:
        raise ValueError(f"未知图层 / unknown layer: {kind} ({', '.join(KINDS)})")
    df = raw.df.reset_index(drop=True)
    n = len(df)
    cols = suggest_mapping(df.columns)
    if mapping:
        unknown = [f for f in mapping if f not in cols]
        absent = [c for c in mapping.values() if c and c not in df.columns]
        if unknown or absent:
            raise ValueError(
                f"表头映射有误 / bad header mapping: "
                + "; ".join([f"未知字段 / unknown field {f!r}" for f in unknown]
                            + [f"文件中没有列 / no column {c!r} in the file" for c in absent]))
        cols.update(mapping)
    source = source or Path(raw.filename).stem or "upload"

    cache: dict[str, pd.Series] = {}

    def col(name: str) -> pd.Series:
        # Cleaned once per field: rows look cells up many times.
        if name not in cache:
            c = cols.get(name)
            cache[name] = (df[c].fillna("").astype(str).str.strip() if c and c in df.columns
                           else pd.Series([""] * n, dtype=object))
        return cache[name]

    listed: dict[str, list[str]] = {}

    def cells(name: str) -> list[str]:
        # Plain lists: indexing a pandas Series cell by cell is ~10x slower.
        if name not in listed:
            listed[name] = col(name).tolist()
        return listed[name]

    if cols.get("id") and not all(not v or _ID_PATTERN.match(v) for v in cells("id")):
        # The file's own "ID" column, not registry ids: it is the source id
        # (so a newer version updates by it), or else kept in extra.
        cols["source_id"] = cols.get("source_id") or cols["id"]
        cols["id"] = None
        cache.pop("id", None)
        listed.pop("id", None)

    extra_cols = unmapped_columns(df.columns, cols)
    # Text longer than its limit is refused first: nothing else is worked out
    # (nor echoed) from a row that will not be stored.
    rejects: dict[int, tuple[str, dict]] = _overlong(n, cols, col, extra_cols, df)
    warnings: list[tuple[int, str, dict]] = []

    # Coordinates: geometry first, then the lon/lat columns, then a combined column.
    lon_txt, lat_txt = col("lon"), col("lat")
    if cols.get("lonlat") and not (cols.get("lon") and cols.get("lat")):
        pairs = col("lonlat").map(_split_lonlat)
        lon_txt, lat_txt = pairs.str[0], pairs.str[1]
    use_geometry = raw.has_geometry
    if use_geometry:
        has_geom = df[GEOM_LON].astype(str) != ""
        lon_txt = lon_txt.where(~has_geom, df[GEOM_LON].astype(str))
        lat_txt = lat_txt.where(~has_geom, df[GEOM_LAT].astype(str))
    crs_used, crs_note = _decide_crs(raw, crs, cols, use_geometry)

    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    lon_txt, lat_txt = lon_txt.tolist(), lat_txt.tolist()
    invalid_geometry = df[GEOM_NOTE].astype(str).eq(GEOM_INVALID).tolist() if use_geometry and GEOM_NOTE in df.columns \
        else [False] * n
    for i in range(n):
        if i in rejects:
            continue
        if invalid_geometry[i]:
            rejects[i] = ("geometry_invalid", {})
            continue
        try:
            lon[i], lat[i] = parse_coordinate(lon_txt[i]), parse_coordinate(lat_txt[i])
        except (ValueError, TypeError, OverflowError):
            rejects[i] = ("coord_not_numeric", {"value": f"{lon_txt[i]}, {lat_txt[i]}"})
            continue
        if np.isnan(lon[i]) or np.isnan(lat[i]):
            rejects[i] = ("coord_missing", {})
        elif lon[i] == 0 and lat[i] == 0:
            rejects[i] = ("coord_zero", {})

    ok = ~np.isin(np.arange(n), list(rejects))
    wlon, wlat = np.full(n, np.nan), np.full(n, np.nan)
    if _is_geographic(crs_used):
        in_range = ok & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    else:  # easting/northing (a GeoPackage or .prj in CGCS2000 / Gauss-Krüger): judge after converting
        in_range = ok.copy()
    if in_range.any():
        wlon[in_range], wlat[in_range] = to_wgs84(lon[in_range], lat[in_range], crs_used)
        in_range &= np.isfinite(wlon) & np.isfinite(wlat) & (np.abs(wlon) <= 180) & (np.abs(wlat) <= 90)
    inside = np.zeros(n, dtype=bool)
    inside[in_range] = regions.in_region(wlon[in_range], wlat[in_range], region)
    # A swapped pair is fixed only when the swap lands inside the region:
    # otherwise we would be guessing.
    retry = ok & ~inside & (np.abs(lon) <= 90) & (np.abs(lat) <= 180)
    if retry.any():
        slon, slat = to_wgs84(lat[retry], lon[retry], crs_used)
        fixed = regions.in_region(slon, slat, region)
        idx = np.flatnonzero(retry)[fixed]
        wlon[idx], wlat[idx] = slon[fixed], slat[fixed]
        inside[idx] = True
        for i in idx:
            warnings.append((i, "coord_swapped", {"value": f"{lon[i]}, {lat[i]}"}))
    region_name = _region_label(region)
    for i in np.flatnonzero(ok & ~inside):
        code = "outside_region" if in_range[i] else "coord_out_of_range"
        rejects[i] = (code, {"value": f"{lon[i]}, {lat[i]}", "region": region_name})

    # Names and layers.
    names = cells("name")
    kind_txt = cells("kind")
    kinds: list[str | None] = [None] * n
    subtypes = [""] * n
    for i in range(n):
        if i in rejects:
            continue
        if not names[i]:
            rejects[i] = ("name_missing", {})
            continue
        parsed = parse_kind(kind_txt[i]) if kind_txt[i] else None
        if kind_txt[i] and parsed is None:
            rejects[i] = ("unknown_kind", {"value": kind_txt[i]})
            continue
        if parsed is None and kind is None:
            parsed = parse_kind(names[i])
            if parsed is None:
                rejects[i] = ("unknown_kind", {"value": "—"})
                continue
            warnings.append((i, "kind_from_name", {"value": parsed[0]}))
        if parsed and kind and parsed[0] != kind:
            rejects[i] = ("kind_mismatch", {"value": kind_txt[i], "other": parsed[0]})
            continue
        kinds[i] = parsed[0] if parsed else kind
        by_name = parse_kind(names[i]) if kind_txt[i] or kind else None
        if by_name and by_name[0] != kinds[i]:
            # Taken from the chosen layer or the type column, against what the
            # name says (a 司机之家 imported as a rest station): kept, but said.
            warnings.append((i, "kind_name_mismatch", {"value": names[i], "other": by_name[0], "layer": kinds[i]}))
        subtypes[i] = (parsed[1] if parsed else "") or next(
            (s for s in KINDS[kinds[i]].subtypes if s in names[i]), "")

    # Duplicates inside the file: same source id, or same name within the radius.
    sid = cells("source_id")
    first_by_sid: dict[tuple, int] = {}
    for i in range(n):
        if i in rejects or not sid[i]:
            continue
        key = (kinds[i], sid[i])
        if key in first_by_sid:
            rejects[i] = ("duplicate_source_id", {"other": first_by_sid[key] + 1, "value": sid[i]})
        else:
            first_by_sid[key] = i
    kept_by_name: dict[tuple, list[int]] = {}
    for i in range(n):
        if i in rejects:
            continue
        key = (kinds[i], _name_key(names[i]))
        for j in kept_by_name.get(key, []):
            d = float(haversine_m(wlon[i], wlat[i], wlon[j], wlat[j]))
            if d <= settings.DUPLICATE_RADIUS_M:
                rejects[i] = ("duplicate_nearby", {"other": j + 1, "value": f"{d:.0f}"})
                break
        else:
            kept_by_name.setdefault(key, []).append(i)

    good = np.array([i for i in range(n) if i not in rejects], dtype=int)
    located = regions.locate(wlon[good], wlat[good]) if len(good) else pd.DataFrame(
        columns=["adcode", "city", "district"])
    records = []
    geom_notes = df[GEOM_NOTE].tolist() if use_geometry else []
    for pos, i in enumerate(good):
        rec, row_warnings = _build_record(
            df.iloc[i], cols, cells, i, kinds[i], subtypes[i], wlon[i], wlat[i],
            located.iloc[pos], source, extra_cols)
        records.append(rec)
        warnings.extend((i, code, vals) for code, vals in row_warnings)
        if use_geometry and geom_notes[i]:
            warnings.append((i, "geometry_not_point", {"value": geom_notes[i]}))

    accepted = _to_geodataframe(records)
    not_in_file: list[str] = []
    if existing is not None and len(existing) and len(accepted):
        warnings.extend(_merge_with_existing(accepted, existing))
    if existing is not None and len(existing):
        # A newer file that no longer lists a station may mean it closed;
        # say so, and leave the decision to a person rather than delete.
        same_source = existing[existing["source"] == source]
        not_in_file = sorted(set(same_source["id"]) - set(accepted["id"]))

    _add_mapping_hints(rejects, df, cols, kind)
    reject_rows = sorted(rejects)
    # A re-imported rejects file already has row/reason_code/message: the
    # current reason replaces the old one (duplicate columns broke rejects_csv).
    original = df.drop(columns=[c for c in (GEOM_NOTE, "row", "reason_code", "message") if c in df.columns])
    rejects_df = pd.DataFrame({
        "row": [i + 1 for i in reject_rows],
        "reason_code": [rejects[i][0] for i in reject_rows],
        "message": [message(rejects[i][0], **_fill(rejects[i][1])) for i in reject_rows],
    })
    rejects_df = pd.concat([rejects_df, original.iloc[reject_rows].reset_index(drop=True)], axis=1)
    warnings.sort(key=lambda w: w[0])
    warnings_df = pd.DataFrame({
        "row": [w[0] + 1 for w in warnings],
        "code": [w[1] for w in warnings],
        "message": [message(w[1], **_fill(w[2])) for w in warnings],
    })
    assert len(accepted) + len(rejects_df) == n, "every row is accepted or rejected"
    return ImportReport(
        rows=n, accepted=accepted, rejects=rejects_df, warnings=warnings_df,
        crs_used=crs_used, crs_note=crs_note, mapping=cols, kind=kind, source=source,
        filename=raw.filename, format=raw.format, encoding=raw.encoding, notes=list(raw.notes),
        not_in_file=not_in_file,
    )


def _fill(values: dict) -> dict:
    return {"value": "", "other": "", "region": "", **values}


# --------------------------------------------------------------------------
# Text length limits (settings.TEXT_MAX_CHARS)
# --------------------------------------------------------------------------

#: Fields whose cells are not text kept as given: coordinates have their own reasons.
_UNLIMITED = frozenset({"lon", "lat", "lonlat"})
_STATUS_NOTE = "原状态 / original status: "


def _limit(field_name: str) -> int:
    return int(settings.TEXT_MAX_CHARS.get(field_name, settings.TEXT_MAX_CHARS_DEFAULT))


def _other_facilities(facilities_cell: str, other_cell: str) -> tuple[list[str], list[str], list[str]]:
    """``(codes, facilities_other as stored, words of the facilities cell not in the vocabulary)``."""
    facilities, unmapped = parse_facilities(facilities_cell)
    # A facilities_other cell is kept verbatim: mapping it again dropped every
    # part containing a vocabulary word (饮水机, 儿童休息区) from both lists.
    kept = [w.strip() for w in _FACILITY_SPLIT.split(other_cell)
            if w.strip() and w.strip().lower() not in ("nan", "none", "无")]
    return facilities, list(dict.fromkeys(kept + unmapped)), unmapped


def _extra_object(text: str) -> dict:
    """The ``extra`` cell as a dict: a JSON object, or the text under the key ``extra``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return {"extra": text}
    return value if isinstance(value, dict) else {"extra": text}


def _extra_chars(extra: dict) -> int:
    """What the ``extra`` limit counts: the characters of the values kept."""
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v, ensure_ascii=False)) for v in extra.values())


def _notes_stored(notes: str, status: str) -> str:
    """The notes as stored: a status not understood is kept at their end."""
    if parse_status(status) is None:
        return "；".join(x for x in (notes, f"{_STATUS_NOTE}{status}") if x)
    return notes


def _overlong(n: int, cols: dict, col, extra_cols: list[str], df: pd.DataFrame) -> dict[int, tuple[str, dict]]:
    """Rows holding a text longer than its limit, as ``{row index: ("text_too_long", values)}``.

    Lengths are those of the values as they would be stored (a status not
    understood is added to the notes, unmapped facility words to
    ``facilities_other``, unmapped columns to ``extra``), so an accepted row
    can always be edited and saved again under the same limits. Each
    length is first bounded cheaply for the whole column; only rows over
    the bound are worked out exactly.
    """
    found: dict[int, tuple[str, dict]] = {}

    def over(field_name: str, column, bound: np.ndarray, exact=None) -> None:
        limit = _limit(field_name)
        fld = FIELDS_BY_NAME.get(field_name)
        for i in np.flatnonzero(bound > limit):
            i = int(i)
            length = exact(i) if exact is not None else int(bound[i])
            if i not in found and length > limit:
                found[i] = ("text_too_long", {
                    "field_zh": fld.zh if fld else field_name, "field_en": fld.en if fld else field_name,
                    "column": column(i) if callable(column) else column,
                    "value": f"{length:,}", "limit": f"{limit:,}"})

    def lengths(values: pd.Series) -> np.ndarray:
        return values.fillna("").astype(str).str.len().to_numpy(dtype=np.int64)

    zero = np.zeros(n, dtype=np.int64)
    for field_name, column in cols.items():
        if not column or field_name in _UNLIMITED or field_name == "extra":
            continue
        bound, exact = lengths(col(field_name)), None
        if field_name == "notes" and cols.get("status"):
            notes, status = col("notes").tolist(), col("status").tolist()
            bound = bound + lengths(col("status")) + len(_STATUS_NOTE) + 1
            exact = lambda i: len(_notes_stored(notes[i], status[i]))  # noqa: E731
        elif field_name == "facilities_other" and cols.get("facilities"):
            fac, oth = col("facilities").tolist(), col("facilities_other").tolist()
            bound = bound + lengths(col("facilities")) + 1
            exact = lambda i: len(LIST_SEP.join(_other_facilities(fac[i], oth[i])[1]))  # noqa: E731
        over(field_name, column, bound, exact)
    if cols.get("facilities") and not cols.get("facilities_other"):
        # Words outside the vocabulary go to facilities_other even without its column.
        fac = col("facilities").tolist()
        over("facilities_other", cols["facilities"], lengths(col("facilities")),
             lambda i: len(LIST_SEP.join(_other_facilities(fac[i], "")[1])))

    # extra keeps the unmapped columns, a given extra object, and the
    # layer-specific fields of rows of another layer.
    spill = [c for c in (cols.get("extra"), cols.get("truck_parking_spaces"), cols.get("lawyer_hours")) if c]
    if extra_cols or spill:
        bound = zero + sum((lengths(df[c]) for c in [*extra_cols, *spill]), zero)
        given = col("extra").tolist()
        tps, lawyer = col("truck_parking_spaces").tolist(), col("lawyer_hours").tolist()
        unmapped = {c: df[c].fillna("").astype(str).tolist() for c in extra_cols}

        def exact_extra(i: int) -> int:
            kept = _extra_object(given[i])
            kept.update({c: v[i] for c, v in unmapped.items() if v[i].strip()})
            kept.update({k: v for k, v in (("truck_parking_spaces", tps[i]), ("lawyer_hours", lawyer[i])) if v})
            return _extra_chars(kept)

        def longest(i: int) -> str:
            return max(extra_cols, key=lambda c: len(unmapped[c][i])) if extra_cols else spill[0]

        over("extra", longest, bound, exact_extra)
    return found


# --------------------------------------------------------------------------
# Advice on the header mapping
# --------------------------------------------------------------------------

#: Cells read to judge what a column holds.
_HINT_SAMPLE = 200
_DECIMAL = re.compile(r"^[-+]?\d{1,3}\.\d{3,}$")
_NAME_WORDS = ("名", "站", "name", "title")
_AXES = {"lonlat": ("经纬度", "combined lon,lat column"), "lon": ("经度", "longitude"), "lat": ("纬度", "latitude")}


def _sample(df: pd.DataFrame, column: str) -> list[str]:
    values = df[column].fillna("").astype(str).str.strip()
    return values[values != ""].head(_HINT_SAMPLE).tolist()


def _share(cells: list[str], test) -> float:
    return sum(1 for c in cells if test(c)) / len(cells) if cells else 0.0


def _is_pair(text: str) -> bool:
    a, b = _split_lonlat(text)
    try:
        x, y = parse_coordinate(a), parse_coordinate(b)
    except (ValueError, TypeError, OverflowError):
        return False
    return bool(np.isfinite(x) and np.isfinite(y) and abs(x) <= 180 and abs(y) <= 180)


def _coordinate_columns(df: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """Columns among ``columns`` whose cells look like coordinates: ``{field: column}``.

    A column of ``lon,lat`` pairs is a combined column; columns of decimal
    degrees (three decimals or more, so a running number is not taken) are
    single axes, the larger magnitude being the longitude (true in China).
    """
    found: dict[str, str] = {}
    axes: list[tuple[float, str]] = []
    for c in columns:
        cells = _sample(df, c)
        if _share(cells, _is_pair) >= 0.5:
            found.setdefault("lonlat", c)
        elif _share(cells, lambda v: bool(_DECIMAL.match(unicodedata.normalize("NFKC", v)))) >= 0.5:
            values = [float(unicodedata.normalize("NFKC", v)) for v in cells if _DECIMAL.match(unicodedata.normalize("NFKC", v))]
            magnitude = float(np.median(np.abs(values)))
            if magnitude <= 180:
                axes.append((magnitude, c))
    axes.sort(key=lambda a: -a[0])
    if len(axes) >= 2:
        found["lon"], found["lat"] = axes[0][1], axes[1][1]
    elif axes:
        found["lon" if axes[0][0] > 90 else "lat"] = axes[0][1]
    return found


def _coord_hint(df: pd.DataFrame, cols: dict) -> list[tuple[str, dict]] | None:
    """How to map the coordinates, when the mapping (not the row) is what is missing."""
    coordinate_fields = ("lon", "lat", "lonlat")
    others = {c for f, c in cols.items() if c and f not in coordinate_fields}
    active = [cols["lon"], cols["lat"]] if cols.get("lon") and cols.get("lat") else \
        [cols["lonlat"]] if cols.get("lonlat") else []
    if active and all(_coordinate_columns(df, [c]) for c in active):
        return None  # mapped to columns of coordinates: the row itself lacks them
    free = [c for c in df.columns if not str(c).startswith("__") and c not in others]
    seen = _coordinate_columns(df, free)
    if "lonlat" in seen and seen["lonlat"] not in active:
        wanted = {"lonlat": seen["lonlat"]}
    else:
        wanted = {f: c for f, c in seen.items() if f != "lonlat" and cols.get(f) != c}
    if wanted:
        return [("coord_column", {"column": c, "field": f, "what_zh": _AXES[f][0], "what_en": _AXES[f][1]})
                for f, c in wanted.items()]
    if active:
        return None
    missing = [f for f in ("lon", "lat") if not cols.get(f)]
    return [("coord_unmapped", {"what_zh": "和".join(_AXES[f][0] for f in missing),
                                "what_en": " and ".join(_AXES[f][1] for f in missing)})]


def _column_for(df: pd.DataFrame, cols: dict, test, words: tuple[str, ...] = ()) -> str | None:
    """The unmapped column whose cells most often pass ``test`` (at least half), if any."""
    used = {c for c in cols.values() if c}
    best: tuple | None = None
    for pos, c in enumerate(df.columns):
        if str(c).startswith("__") or c in used:
            continue
        share = _share(_sample(df, c), test)
        if share >= 0.5:
            named = any(w in str(c).lower() for w in words)
            key = (named, share, -pos)
            if best is None or key > best[0]:
                best = (key, c)
    return best[1] if best else None


def _is_text(value: str) -> bool:
    try:
        parse_coordinate(value)
    except (ValueError, TypeError, OverflowError):
        return True
    return False


def _add_mapping_hints(rejects: dict[int, tuple[str, dict]], df: pd.DataFrame, cols: dict, kind: str | None) -> None:
    """Add to each reject a mapping change would fix how to make it (names the column).

    Worked out once per file, and only when such a reject occurs: a row
    without coordinates while no column (or a column of something else) is
    mapped to them, a name missing because no column is mapped to it, a
    layer unknown because there is no type column and none was chosen.
    """
    by_code: dict[str, list[int]] = {}
    for i, (code, values) in rejects.items():
        if code in ("coord_missing", "coord_not_numeric") or (code == "name_missing" and not cols.get("name")) \
                or (code == "unknown_kind" and values.get("value") == "—" and not cols.get("kind") and kind is None):
            by_code.setdefault("coord" if code.startswith("coord") else code, []).append(i)
    hints: dict[str, list[tuple[str, dict]] | None] = {}
    if "coord" in by_code:
        hints["coord"] = _coord_hint(df, cols)
    if "name_missing" in by_code:
        column = _column_for(df, cols, _is_text, _NAME_WORDS)
        hints["name_missing"] = [("name_column", {"column": column}) if column else ("name_unmapped", {})]
    if "unknown_kind" in by_code:
        column = _column_for(df, cols, lambda v: parse_kind(v) is not None)
        hints["unknown_kind"] = [("kind_column", {"column": column}) if column else ("kind_unmapped", {})]
    for key, rows in by_code.items():
        if hints.get(key):
            for i in rows:
                rejects[i] = (rejects[i][0], {**rejects[i][1], "hint": hints[key]})


def _region_label(adcode: str) -> str:
    try:
        return regions.find_region(adcode).name
    except ValueError:
        return adcode


def _name_key(name: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name)).lower()


_ID_PATTERN = re.compile(r"^(RS|DH|LA)-[0-9a-f]{10}$")


def _build_record(row: pd.Series, cols: dict, cells, i: int, kind: str, subtype: str,
                  lon: float, lat: float, where: pd.Series, source: str,
                  extra_cols: list[str]) -> tuple[dict, list]:
    """One accepted row in canonical form, and its warnings."""
    warnings: list[tuple[str, dict]] = []
    get = lambda name: cells(name)[i]  # noqa: E731 - the column cache lives in the caller
    name = get("name")
    extra = _extra_object(get("extra"))
    extra.update({c: str(row[c]) for c in extra_cols if str(row[c]).strip()})

    facilities, other, unmapped = _other_facilities(get("facilities"), get("facilities_other"))
    if unmapped:
        warnings.append(("facility_unmapped", {"value": "、".join(unmapped)}))

    hours = parse_opening_hours(get("opening_hours"))
    if not hours.ok:
        warnings.append(("hours_unparsed", {"value": get("opening_hours")}))

    notes = _notes_stored(get("notes"), get("status"))
    status = parse_status(get("status"))
    if status is None:
        warnings.append(("status_unknown", {"value": get("status")}))
        status = "open"

    spaces = None
    if get("truck_parking_spaces"):
        try:
            spaces = _parse_int(get("truck_parking_spaces"))
        except ValueError:
            warnings.append(("bad_number", {"value": get("truck_parking_spaces"), "other": "truck_parking_spaces"}))
            extra["truck_parking_spaces"] = get("truck_parking_spaces")

    address = get("address")
    district = where["district"] if isinstance(where["district"], str) else ""
    city = where["city"] if isinstance(where["city"], str) else ""
    named = regions.district_named_in(address) if address else None
    if named and named not in (district, city) and not _same_place(named, district, city):
        warnings.append(("address_district_mismatch", {"value": named, "other": f"{city}{district}"}))

    src = get("source") or source
    source_id = get("source_id")
    given_id = get("id")
    rid = given_id if _ID_PATTERN.match(given_id) and given_id[:2] == KINDS[kind].id_prefix \
        else station_id(kind, src, source_id or None, name, lon, lat)
    rec = {
        "id": rid, "name": name, "kind": kind, "subtype": get("subtype") or subtype,
        "address": address, "adcode": where["adcode"] if isinstance(where["adcode"], str) else "",
        "city": city, "district": district,
        "lon": round(float(lon), 7), "lat": round(float(lat), 7),
        "facilities": facilities, "facilities_other": other,
        "opening_hours": get("opening_hours"), "opening_hours_osm": hours.osm, "is_24h": bool(hours.is_24h),
        "status": status, "operator": get("operator"), "phone": get("phone"), "title": get("title"),
        "source": src, "source_id": source_id, "verified_at": get("verified_at"),
        "truck_parking_spaces": spaces if kind == "driver_home" else None,
        "lawyer_hours": get("lawyer_hours") if kind == "legal_aid" else "",
        "notes": notes, "is_sample": _truthy(get("is_sample")), "public": _public(get("public")),
        "version": 1, "updated_at": "",
        "extra": json.dumps(extra, ensure_ascii=False) if extra else "",
        "row": i + 1,
    }
    if kind != "driver_home" and get("truck_parking_spaces"):
        extra["truck_parking_spaces"] = get("truck_parking_spaces")
        rec["extra"] = json.dumps(extra, ensure_ascii=False)
    if kind != "legal_aid" and get("lawyer_hours"):
        extra["lawyer_hours"] = get("lawyer_hours")
        rec["extra"] = json.dumps(extra, ensure_ascii=False)
    return rec, warnings


def _same_place(named: str, district: str, city: str) -> bool:
    # "天河" in an address names 天河区; compare without the 区/县/市 suffix.
    strip = lambda s: re.sub(r"(自治县|区|县|市)$", "", s or "")  # noqa: E731
    return strip(named) in (strip(district), strip(city))


def _to_geodataframe(records: list[dict]) -> gpd.GeoDataFrame:
    columns = list(FIELD_NAMES) + ["row"]
    df = pd.DataFrame(records, columns=columns)
    if df.empty:
        return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    return gpd.GeoDataFrame(df, geometry=points(df["lon"].to_numpy(), df["lat"].to_numpy()), crs="EPSG:4326")


def _merge_with_existing(accepted: gpd.GeoDataFrame, existing: gpd.GeoDataFrame) -> list:
    """Give rows the id of a same-named registry station within the radius.

    Rows that already match a registry id (same source and source id) are
    updates anyway; the others would double a station the registry holds.
    """
    warnings = []
    known = set(existing["id"])
    by_key: dict[tuple, list[int]] = {}
    for j, (k, nm) in enumerate(zip(existing["kind"], existing["name"])):
        by_key.setdefault((k, _name_key(nm)), []).append(j)
    claimed = set(accepted["id"]) & known
    for idx in accepted.index:
        if accepted.at[idx, "id"] in known:
            continue
        cands = by_key.get((accepted.at[idx, "kind"], _name_key(accepted.at[idx, "name"])), [])
        best = None
        for j in cands:
            d = float(haversine_m(accepted.at[idx, "lon"], accepted.at[idx, "lat"],
                                  existing["lon"].iat[j], existing["lat"].iat[j]))
            if d <= settings.DUPLICATE_RADIUS_M and existing["id"].iat[j] not in claimed and (best is None or d < best[1]):
                best = (j, d)
        if best:
            eid = existing["id"].iat[best[0]]
            claimed.add(eid)
            accepted.at[idx, "id"] = eid
            warnings.append((int(accepted.at[idx, "row"]) - 1, "merged_existing",
                             {"other": f"{existing['name'].iat[best[0]]}（{eid}）", "value": f"{best[1]:.0f}"}))
    return warnings


def validate_record(record: dict, kind: str | None = None) -> dict:
    """Validate one station given as canonical fields (an edit in the app).

    Raises
    ------
    ValidationError
        With the bilingual reason when the record would be rejected.
    """
    cells = {k: clean_text(";".join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else str(v)))
             for k, v in record.items() if k in FIELD_NAMES or k == "extra"}
    for key in ("is_24h", "opening_hours_osm", "adcode", "city", "district", "version", "updated_at"):
        cells.pop(key, None)
    raw = RawTable(pd.DataFrame([cells], dtype=object), filename="edit", format="record")
    report = validate_table(raw, kind or record.get("kind"), crs="wgs84",
                            mapping={k: k for k in cells}, source=record.get("source") or "app")
    if len(report.rejects):
        raise ValidationError(report.rejects["message"].iat[0])
    rec = report.accepted.drop(columns=["geometry", "row"]).iloc[0].to_dict()
    rec["facilities"] = list(rec["facilities"])
    rec["facilities_other"] = list(rec["facilities_other"])
    return rec


def now_iso() -> str:
    """The current UTC time as ISO 8601, for ``updated_at`` and the import log."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
