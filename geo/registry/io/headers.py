"""Map the column headers of an input file to the canonical fields.

Union offices name their columns in Chinese or English and in many ways
(名称, 站点名称, 驿站名称, name ...). :func:`suggest_mapping` proposes one
source column per canonical field; the user can override any of it.

Our own exports are read back too: canonical field names (CSV, GeoJSON,
GeoPackage) and the human labels of the XLSX export in either language
(编号, 经度(WGS-84), Verified on ...), which come from
:func:`geo.core.i18n.field_label` and so never drift from what the export writes.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterable

from geo.core.crs import guess_crs_from_headers

#: Canonical fields a user may map a source column to. ``lonlat`` is a
#: combined coordinate column such as ``113.2644,23.1291``.
MAPPABLE_FIELDS: tuple[str, ...] = (
    "name", "address", "lon", "lat", "lonlat", "kind", "subtype", "facilities",
    "facilities_other", "opening_hours", "status", "operator", "phone", "title",
    "source", "source_id", "id", "verified_at", "truck_parking_spaces",
    "lawyer_hours", "notes", "is_sample", "public", "extra",
)

# Exact names (after normalising) for each field, most specific first.
_EXACT: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "source_id": ("source_id", "编号", "站点编号", "驿站编号", "站点id", "站点代码", "code", "station_id", "sourceid"),
    "name": ("name", "名称", "站点名称", "驿站名称", "站名", "名字", "服务站名称", "阵地名称", "station_name", "站点"),
    "address": ("address", "地址", "详细地址", "站点地址", "所在地址", "具体地址", "addr"),
    # 位置 and location are read as coordinates, or as the address where the
    # file has separate axes (see suggest_mapping).
    "lonlat": ("经纬度", "坐标", "位置坐标", "经纬度坐标", "lnglat", "lonlat", "coordinates", "coordinate", "location",
               "坐标(经度,纬度)", "位置"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "x", "lg", "x坐标", "东经"),
    "lat": ("lat", "latitude", "纬度", "y", "lt", "y坐标", "北纬"),
    "kind": ("kind", "类型", "站点类型", "类别", "图层", "type", "category", "layer", "阵地类型"),
    "subtype": ("subtype", "子类型", "细分类型"),
    "facilities": ("facilities", "设施", "服务内容", "服务项目", "配套设施", "服务设施", "功能", "services", "amenities", "服务功能"),
    "facilities_other": ("facilities_other", "其他设施"),
    "opening_hours": ("opening_hours", "开放时间", "营业时间", "服务时间", "开放时段", "hours", "opening hours", "办公时间"),
    "status": ("status", "状态", "运营状态", "开放状态"),
    "operator": ("operator", "运营单位", "主办单位", "管理单位", "建设单位", "运营方", "承办单位", "organization", "主管单位"),
    "phone": ("phone", "电话", "联系电话", "联系方式", "手机", "tel", "telephone", "咨询电话"),
    "title": ("title", "称号", "荣誉称号", "级别", "星级", "示范等级"),
    "source": ("source", "数据来源", "来源"),
    "verified_at": ("verified_at", "核实日期", "核实时间", "更新日期"),
    "truck_parking_spaces": ("truck_parking_spaces", "货车车位", "货车车位数", "车位数", "停车位", "停车位数"),
    "lawyer_hours": ("lawyer_hours", "律师值班时间", "值班时间", "律师坐班时间"),
    "notes": ("notes", "备注", "说明", "note", "remarks"),
    "is_sample": ("is_sample",),
    "public": ("public", "公开", "是否公开", "对外公开", "公开发布", "是否对外公开"),
    "extra": ("extra",),
}

# Substrings that betray a field inside longer headers such as 高德经度 or
# 驿站详细地址. Checked only when no exact name matched.
_CONTAINS: dict[str, tuple[str, ...]] = {
    "lonlat": ("经纬度", "坐标"),
    "lon": ("经度", "longitude"),
    "lat": ("纬度", "latitude"),
    "name": ("名称",),
    "address": ("地址",),
    "facilities": ("设施", "服务内容", "服务项目"),
    # Not the bare 时间: 建成时间 (build date) is no opening time.
    "opening_hours": ("开放时间", "营业时间", "服务时间", "开放时段", "办公时间"),
    "phone": ("电话",),
    "operator": ("单位",),
}

# Token-level names: "WGS84_station_lg" splits into wgs84/station/lg.
_TOKENS = {"lon": {"lon", "lng", "long", "longitude", "lg", "x"},
           "lat": {"lat", "latitude", "lt", "y"}}
_CRS_RANK = {"wgs84": 0, None: 1, "cgcs2000": 1, "gcj02": 2, "bd09": 3}

# Words of a header holding both axes in one cell ("113.26,23.12"), once a
# bracketed datum hint such as (高德) is set aside: 高德坐标, 位置, location.
_COMBINED_WORDS = ("坐标", "位置", "lnglat", "lonlat", "latlng", "location", "coordinate")
# Combined names that are also what other files call the address.
_PLACE_WORDS = frozenset({"位置", "location"})
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]|【[^】]*】")


def _names_both_axes(normed: str) -> bool:
    """Whether a normalised header names a combined ``lon,lat`` column.

    经纬度(高德) contains 纬度, so the axis search used to take it for the
    latitude and every row lost its longitude. A header naming 经 and 纬
    together, or a coordinate word without one axis of its own (高德坐标,
    位置, location), is the combined column; its bracketed datum hint stays
    in the column name, where :func:`geo.core.crs.guess_crs_from_headers` reads it.
    """
    base = _BRACKETS.sub("", normed).strip() or normed
    if "坐标系" in base:
        return False  # the name of a datum (GCJ-02), not a position
    if "经" in base and "纬" in base:
        return True
    one_axis = (any(w in base for w in ("经度", "纬度", "longitude", "latitude"))
                or (_TOKENS["lon"] | _TOKENS["lat"]) & set(re.split(r"[^a-z0-9]+", base)))
    return not one_axis and any(w in base for w in _COMBINED_WORDS)


def _norm(header: str) -> str:
    return unicodedata.normalize("NFKC", str(header)).strip().lower().replace("（", "(").replace("）", ")")


# Columns of our own exports that the registry derives again on import
# (from the point, the hours text or its own bookkeeping).
DERIVED_COLUMNS = frozenset({"adcode", "city", "district", "opening_hours_osm", "is_24h",
                             "version", "updated_at", "coord_system"})

# Derived fields whose labels betray one of our labelled exports: a header row
# with two of them is an export, so its 城市/区县/版本 columns are derived
# too. Elsewhere a column named 城市 is the file's own and is kept in extra.
_EXPORT_MARKERS = frozenset({"adcode", "opening_hours_osm", "is_24h", "updated_at", "coord_system"})


@lru_cache(maxsize=1)
def field_labels() -> dict[str, str]:
    """``{normalised header: field}`` for every label our exports write.

    Covers every canonical field, ``lonlat``, ``extra`` and ``coord_system``
    in both languages: the :func:`geo.core.i18n.field_label` text (what the XLSX
    export writes) and the schema's own zh/en names (docs/schema.md).
    Imported lazily, so this module stays importable from :mod:`geo.core.i18n`'s
    dependencies.
    """
    from geo.core import i18n, schema

    out: dict[str, str] = {}
    for name in (*schema.FIELD_NAMES, "lonlat", "extra", "coord_system"):
        fld = schema.FIELDS_BY_NAME.get(name)
        texts = [i18n.field_label(name, lang) for lang in i18n.LANGS]
        texts += [fld.zh, fld.en] if fld else []
        for text in texts:
            out.setdefault(_norm(text), name)
    return out


@lru_cache(maxsize=1)
def _label_tiers() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Labels of mappable fields: (unambiguous, ambiguous) as ``{field: names}``.

    A label is ambiguous when it is also a common header of another field in
    other people's files: 编号 (our id, usually their source id), 类型 and
    Type (our subtype, usually their layer). Those are taken for our meaning
    only when the other field already found its own column (来源编号, 图层).
    """
    sure: dict[str, set[str]] = {f: {f} for f in MAPPABLE_FIELDS}
    unsure: dict[str, set[str]] = {f: set() for f in MAPPABLE_FIELDS}
    for label, name in field_labels().items():
        if name not in sure:
            continue
        clash = any(label in names for other, names in _EXACT.items() if other != name)
        (unsure if clash else sure)[name].add(label)
    return ({f: frozenset(v) for f, v in sure.items()}, {f: frozenset(v) for f, v in unsure.items()})


def derived_columns(columns: Iterable[str]) -> list[str]:
    """The columns of ``columns`` that the registry derives again on import.

    Canonical names in :data:`DERIVED_COLUMNS` always are; their labels
    (区划代码, Open 24 h, 更新时间, 坐标系 ...) are when the header row is one
    of our labelled exports, i.e. it carries at least two of the labels of
    ``adcode``, ``opening_hours_osm``, ``is_24h``, ``updated_at`` and
    ``coord_system``.
    """
    cols = [c for c in columns if not str(c).startswith("__")]
    labels = field_labels()
    by_label = {c: labels.get(_norm(c)) for c in cols}
    markers = {f for c, f in by_label.items() if f in _EXPORT_MARKERS and c not in DERIVED_COLUMNS}
    labelled = len(markers) >= 2
    return [c for c in cols if c in DERIVED_COLUMNS or (labelled and by_label[c] in DERIVED_COLUMNS)]


def coord_system_column(columns: Iterable[str]) -> str | None:
    """The column in which one of our exports states its datum, if any."""
    for col in derived_columns(columns):
        if col == "coord_system" or field_labels().get(_norm(col)) == "coord_system":
            return col
    return None


def suggest_mapping(columns: Iterable[str]) -> dict[str, str | None]:
    """Propose a source column for every mappable field.

    Parameters
    ----------
    columns : iterable of str
        The input file's headers.

    Returns
    -------
    dict
        ``{field: column or None}`` for every field in :data:`MAPPABLE_FIELDS`.
        Each column is used at most once. Where several columns could hold the
        longitude (a file giving WGS-84, GCJ-02 and BD-09 side by side), the
        WGS-84 one is preferred, so no conversion is needed.
    """
    columns = list(columns)
    derived = set(derived_columns(columns))
    cols = [c for c in columns if not str(c).startswith("__") and c not in derived]
    normed = {c: _norm(c) for c in cols}
    used: set[str] = set()
    mapping: dict[str, str | None] = {f: None for f in MAPPABLE_FIELDS}

    def take(field_name: str, col: str) -> None:
        mapping[field_name] = col
        used.add(col)

    def exact(table: dict[str, Iterable[str]]) -> None:
        for field_name, names in table.items():
            if mapping[field_name] is not None:
                continue
            for col in cols:
                if col not in used and normed[col] in names:
                    take(field_name, col)
                    break

    # Canonical names and our own labels first, then the common names of
    # other files, then our labels that other files use for another field.
    sure, unsure = _label_tiers()
    exact(sure)
    exact(_EXACT)
    exact(unsure)
    if mapping["lonlat"] is None:
        # Before the axis search, which would read 经纬度(高德) as a latitude.
        both = [c for c in cols if c not in used and _names_both_axes(normed[c])]
        if both:
            take("lonlat", min(both, key=lambda c: _CRS_RANK.get(guess_crs_from_headers([c]), 1)))
    for axis in ("lon", "lat"):
        if mapping[axis] is None:
            candidates = [c for c in cols if c not in used
                          and (_TOKENS[axis] & set(re.split(r"[^a-z0-9]+", normed[c]))
                               or any(s in normed[c] for s in _CONTAINS[axis]))]
            if candidates:
                take(axis, min(candidates, key=lambda c: _CRS_RANK.get(guess_crs_from_headers([c]), 1)))
    for field_name, parts in _CONTAINS.items():
        if mapping[field_name] is None:
            for col in cols:
                if col not in used and any(p in normed[col] for p in parts):
                    take(field_name, col)
                    break
    # A combined column is only needed when separate axes are missing.
    if mapping["lon"] and mapping["lat"]:
        combined = mapping["lonlat"]
        if combined:
            used.discard(combined)
            if mapping["address"] is None and _BRACKETS.sub("", normed[combined]).strip() in _PLACE_WORDS:
                take("address", combined)  # 位置 beside 经度 and 纬度 is where the station is, in words
        mapping["lonlat"] = None
    return mapping


def unmapped_columns(columns: Iterable[str], mapping: dict[str, str | None]) -> list[str]:
    """Source columns no field uses; their values are kept in ``extra``.

    Columns the registry derives again (:func:`derived_columns`) are not kept.
    """
    columns = list(columns)
    used = {c for c in mapping.values() if c} | set(derived_columns(columns))
    return [c for c in columns if c not in used and not str(c).startswith("__")]
