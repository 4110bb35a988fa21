"""Header mapping: Chinese and English column names to canonical fields."""
from __future__ import annotations

import pandas as pd
import pytest

from geo.registry.io.headers import MAPPABLE_FIELDS, suggest_mapping, unmapped_columns
from geo.registry.io.readers import read_table
from geo.registry.validate import validate_table

from conftest import TIANHE


def mapped(columns) -> dict:
    m = suggest_mapping(columns)
    assert set(m) == set(MAPPABLE_FIELDS)
    used = [v for v in m.values() if v]
    assert len(used) == len(set(used)), f"a column used twice: {m}"
    return {k: v for k, v in m.items() if v}


@pytest.mark.parametrize("header, field", [
    ("名称", "name"), ("站点名称", "name"), ("驿站名称", "name"), ("name", "name"), ("Name", "name"),
    ("NAME ", "name"), ("服务站名称", "name"),
    ("地址", "address"), ("详细地址", "address"), ("address", "address"), ("Address", "address"),
    ("类型", "kind"), ("kind", "kind"), ("Type", "kind"), ("站点类型", "kind"),
    ("设施", "facilities"), ("服务内容", "facilities"), ("服务项目", "facilities"), ("配套设施", "facilities"),
    ("开放时间", "opening_hours"), ("营业时间", "opening_hours"), ("服务时间", "opening_hours"),
    ("电话", "phone"), ("联系电话", "phone"), ("Tel", "phone"), ("phone", "phone"),
    ("运营单位", "operator"), ("主办单位", "operator"), ("管理单位", "operator"), ("operator", "operator"),
    ("状态", "status"), ("备注", "notes"), ("编号", "source_id"), ("数据来源", "source"),
    ("律师值班时间", "lawyer_hours"), ("货车车位数", "truck_parking_spaces"),
])
def test_single_header_variants(header, field):
    assert mapped([header, "无关列"]) == {field: header}


@pytest.mark.parametrize("lon, lat", [
    ("经度", "纬度"), ("lng", "lat"), ("lon", "lat"), ("longitude", "latitude"), ("Longitude", "Latitude"),
    ("x", "y"), ("X", "Y"), ("X坐标", "Y坐标"), ("经度（东经）", "纬度（北纬）"), ("LNG", "LAT"),
])
def test_coordinate_header_variants(lon, lat):
    m = mapped(["名称", lon, lat])
    assert m["lon"] == lon and m["lat"] == lat
    assert "lonlat" not in m


@pytest.mark.parametrize("header", ["经纬度", "坐标", "lonlat", "位置坐标", "经纬度坐标"])
def test_combined_coordinate_column(header):
    m = mapped(["名称", header])
    assert m == {"name": "名称", "lonlat": header}


def test_combined_column_ignored_when_separate_axes_exist():
    m = mapped(["名称", "经纬度", "经度", "纬度"])
    assert m["lon"] == "经度" and m["lat"] == "纬度" and "lonlat" not in m
    assert "经纬度" in unmapped_columns(["名称", "经纬度", "经度", "纬度"], suggest_mapping(["名称", "经纬度", "经度", "纬度"]))


def test_combined_column_read_in_validation(write_csv, balanced):
    path = write_csv("c.csv", ["站点名称", "经纬度"], [["甲驿站", f"{TIANHE[0]},{TIANHE[1]}"],
                                                   ["乙驿站", f"{TIANHE[0] + 0.01}，{TIANHE[1]}"],
                                                   ["丙驿站", f"{TIANHE[0] + 0.02} {TIANHE[1]}"]])
    report = balanced(validate_table(read_table(path), "rest_station"))
    assert report.accepted["lon"].tolist() == pytest.approx([TIANHE[0], TIANHE[0] + 0.01, TIANHE[0] + 0.02])
    assert report.accepted["lat"].tolist() == pytest.approx([TIANHE[1]] * 3)


def test_full_chinese_file():
    cols = ["序号", "站点名称", "详细地址", "经度", "纬度", "站点类型", "服务内容", "开放时间", "联系电话", "主办单位", "备注"]
    assert mapped(cols) == {
        "name": "站点名称", "address": "详细地址", "lon": "经度", "lat": "纬度", "kind": "站点类型",
        "facilities": "服务内容", "opening_hours": "开放时间", "phone": "联系电话", "operator": "主办单位",
        "notes": "备注",
    }
    assert unmapped_columns(cols, suggest_mapping(cols)) == ["序号"]


def test_full_english_file():
    cols = ["Name", "Address", "Longitude", "Latitude", "Type", "Services", "Hours", "Telephone", "Operator"]
    assert mapped(cols) == {
        "name": "Name", "address": "Address", "lon": "Longitude", "lat": "Latitude", "kind": "Type",
        "facilities": "Services", "opening_hours": "Hours", "phone": "Telephone", "operator": "Operator",
    }


def test_longer_chinese_headers_by_substring():
    cols = ["驿站名称（全称）", "驿站所在地址", "高德经度", "高德纬度", "提供设施", "对外开放时间"]
    m = mapped(cols)
    assert m["name"] == "驿站名称（全称）" and m["address"] == "驿站所在地址"
    assert m["lon"] == "高德经度" and m["lat"] == "高德纬度"
    assert m["facilities"] == "提供设施" and m["opening_hours"] == "对外开放时间"


def test_each_column_used_once():
    # 站点名称 and 名称 both mean name; the second one is not reused elsewhere.
    m = suggest_mapping(["站点名称", "名称", "经度", "纬度"])
    assert m["name"] in ("站点名称", "名称")
    assert list(m.values()).count(m["name"]) == 1


def test_internal_geometry_columns_never_mapped():
    m = mapped(["名称", "__lon", "__lat", "__geometry_note"])
    assert m == {"name": "名称"}
    assert unmapped_columns(["名称", "__lon", "__lat"], suggest_mapping(["名称", "__lon", "__lat"])) == []


def test_derived_export_columns_not_kept_as_extra():
    cols = ["id", "name", "lon", "lat", "adcode", "city", "district", "is_24h", "version", "updated_at",
            "coord_system", "opening_hours_osm", "自定义"]
    assert unmapped_columns(cols, suggest_mapping(cols)) == ["自定义"]


def test_our_own_export_headers_map_to_themselves():
    from geo.core.schema import FIELD_NAMES

    cols = list(FIELD_NAMES)
    m = mapped(cols)
    for field in MAPPABLE_FIELDS:
        if field in FIELD_NAMES:
            assert m.get(field) == field, field


# --------------------------------------------------------------------------
# The Guangzhou charging file: three datums side by side
# --------------------------------------------------------------------------


def test_guangzhou_file_prefers_wgs84_columns(shared_dir):
    cols = list(pd.read_csv(shared_dir / "guangzhou_ev_charging_stations.csv", nrows=0).columns)
    assert {"station_lg", "WGS84_station_lg", "DB09_station_lg"} <= set(cols)
    m = mapped(cols)
    assert m["lon"] == "WGS84_station_lg"
    assert m["lat"] == "WGS84_station_lt"
    assert m["source_id"] == "station_id"
    # The GCJ-02 and BD-09 columns are not lost: they stay as extra columns.
    extra = unmapped_columns(cols, suggest_mapping(cols))
    assert {"station_lg", "station_lt", "DB09_station_lg", "DB09_station_lt"} <= set(extra)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_wgs84_preference_does_not_depend_on_column_order(order):
    groups = [["gcj_lng", "gcj_lat"], ["wgs84_lng", "wgs84_lat"], ["bd09_lng", "bd09_lat"]]
    cols = ["名称"] + [c for g in groups[order:] + groups[:order] for c in g]
    m = mapped(cols)
    assert (m["lon"], m["lat"]) == ("wgs84_lng", "wgs84_lat")


def test_without_wgs84_gcj02_beats_bd09():
    m = mapped(["名称", "百度经度", "百度纬度", "高德经度", "高德纬度"])
    assert (m["lon"], m["lat"]) == ("高德经度", "高德纬度")


# --------------------------------------------------------------------------
# User override
# --------------------------------------------------------------------------


def test_user_override_replaces_suggestion(write_csv, balanced):
    # 名称 is a short label; the user wants 站点全称 as the name, and the
    # GCJ-02 columns of a file that also has WGS-84 ones.
    header = ["名称", "站点全称", "lng", "lat", "自定义坐标x", "自定义坐标y"]
    rows = [["甲", "天河体育中心驿站", str(TIANHE[0]), str(TIANHE[1]), "0", "0"]]
    path = write_csv("o.csv", header, rows)
    report = balanced(validate_table(read_table(path), "rest_station", mapping={"name": "站点全称"}))
    assert report.accepted["name"].iat[0] == "天河体育中心驿站"
    assert report.mapping["name"] == "站点全称"
    # The unused 名称 column is not lost.
    assert '"名称": "甲"' in report.accepted["extra"].iat[0]

    # Pointing lon/lat at other columns takes effect (here: (0, 0) is rejected).
    report = balanced(validate_table(read_table(path), "rest_station",
                                     mapping={"lon": "自定义坐标x", "lat": "自定义坐标y"}))
    assert report.rejects["reason_code"].tolist() == ["coord_zero"]


def test_user_override_none_unmaps_a_field(write_csv, balanced):
    path = write_csv("u.csv", ["名称", "经度", "纬度", "类型"], [["甲驿站", *map(str, TIANHE), "火箭"]])
    report = balanced(validate_table(read_table(path), "rest_station"))
    assert report.rejects["reason_code"].tolist() == ["unknown_kind"]
    report = balanced(validate_table(read_table(path), "rest_station", mapping={"kind": None}))
    assert len(report.accepted) == 1
    assert '"类型": "火箭"' in report.accepted["extra"].iat[0]


def test_user_override_with_a_typo_is_an_error_not_ignored(write_csv):
    # A mistyped --map must not silently import with the wrong mapping.
    path = write_csv("u.csv", ["名称", "经度", "纬度"], [["甲驿站", *map(str, TIANHE)]])
    with pytest.raises(ValueError, match="unknown field 'no_such_field'"):
        validate_table(read_table(path), "rest_station", mapping={"no_such_field": "名称"})
    with pytest.raises(ValueError, match="no column '站名' in the file"):
        validate_table(read_table(path), "rest_station", mapping={"name": "站名"})


# --------------------------------------------------------------------------
# Our own labelled exports (XLSX, CSV with labels=True) read back
# --------------------------------------------------------------------------


def _export_labels(lang: str) -> list[str]:
    from geo.core import i18n
    from geo.core.schema import FIELD_NAMES

    return [i18n.field_label(n, lang) for n in (*FIELD_NAMES, "coord_system")]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_field_label_maps_back_to_its_field(lang):
    from geo.core import i18n
    from geo.registry.io.headers import DERIVED_COLUMNS, coord_system_column, derived_columns
    from geo.core.schema import FIELD_NAMES

    cols = _export_labels(lang)
    m = mapped(cols)
    for name in FIELD_NAMES:
        label = i18n.field_label(name, lang)
        if name in MAPPABLE_FIELDS:
            assert m.get(name) == label, (name, label, m)
        else:
            assert name in DERIVED_COLUMNS and label in derived_columns(cols), (name, label)
    assert set(derived_columns(cols)) == {i18n.field_label(n, lang) for n in DERIVED_COLUMNS}
    assert coord_system_column(cols) == i18n.field_label("coord_system", lang)
    assert unmapped_columns(cols, suggest_mapping(cols)) == []
    # Column order does not matter.
    assert mapped(cols[::-1]) == m


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_labels_read_back_whatever_their_brackets_and_case(lang):
    import unicodedata

    cols = _export_labels(lang)
    variants = [unicodedata.normalize("NFKC", c).upper() for c in cols]
    assert list(mapped(variants).values()) == [variants[cols.index(c)] for c in mapped(cols).values()]


@pytest.mark.parametrize("header, field", [
    ("名称", "name"), ("图层", "kind"), ("Layer", "kind"), ("区划代码", None), ("经度(WGS-84)", "lon"),
    ("经度（WGS-84）", "lon"), ("纬度(WGS-84)", "lat"), ("Longitude (WGS-84)", "lon"), ("Latitude (WGS-84)", "lat"),
    ("其他设施", "facilities_other"), ("Other facilities", "facilities_other"), ("Opening hours", "opening_hours"),
    ("荣誉称号", "title"), ("Title", "title"), ("来源编号", "source_id"), ("Source ID", "source_id"),
    ("核实日期", "verified_at"), ("Verified on", "verified_at"), ("Truck parking spaces", "truck_parking_spaces"),
    ("On-duty lawyer hours", "lawyer_hours"), ("Notes", "notes"), ("示例数据", "is_sample"),
    ("Sample data", "is_sample"), ("公开", "public"), ("Public", "public"), ("其他字段", "extra"),
    ("Other fields", "extra"), ("其他信息（原文保留）", "extra"), ("Extra information (kept as text)", "extra"),
    ("经纬度（同一列）", "lonlat"), ("Longitude, latitude (one column)", "lonlat"), ("Source", "source"),
    ("Phone", "phone"), ("Operator", "operator"), ("Status", "status"), ("Facilities", "facilities"),
])
def test_single_label_maps_alone(header, field):
    assert mapped([header, "无关列"]) == ({field: header} if field else {})


def test_ambiguous_labels_keep_their_common_meaning_in_other_files():
    # 编号 and 类型 are a union office's own number and type column ...
    assert mapped(["编号", "名称", "类型", "经度", "纬度"]) == {
        "source_id": "编号", "name": "名称", "kind": "类型", "lon": "经度", "lat": "纬度"}
    assert mapped(["ID", "Name", "Type"]) == {"id": "ID", "name": "Name", "kind": "Type"}
    # ... and our id and subtype when 来源编号 / 图层 sit beside them.
    assert mapped(["编号", "名称", "图层", "类型", "来源编号"]) == {
        "id": "编号", "name": "名称", "kind": "图层", "subtype": "类型", "source_id": "来源编号"}
    assert mapped(["Type", "Layer", "Name"]) == {"subtype": "Type", "kind": "Layer", "name": "Name"}


def test_derived_labels_kept_as_extra_outside_our_exports():
    # A union file's own 城市 or 更新时间 column is not thrown away ...
    cols = ["名称", "经度", "纬度", "城市", "区县", "版本", "更新时间"]
    assert unmapped_columns(cols, suggest_mapping(cols)) == ["城市", "区县", "版本", "更新时间"]
    # ... but in one of our exports (two export-only columns) it is derived again.
    cols = ["名称", "经度", "纬度", "城市", "区县", "区划代码", "24小时开放", "版本"]
    assert unmapped_columns(cols, suggest_mapping(cols)) == []


# --------------------------------------------------------------------------
# Combined coordinate columns with a datum hint (issue 11, section 2)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    "经纬度(高德)", "经纬度（高德）", "经纬度(GCJ-02)", "经纬度坐标(百度)", "高德坐标", "坐标（WGS84）",
    "位置", "location", "Location(amap)", "lnglat", "经纬度坐标",
])
def test_headers_naming_both_axes_map_to_the_combined_column(header):
    # 经纬度(高德) used to go to the latitude (it contains 纬度), so every row was rejected.
    m = mapped(["站点名称", "详细地址", header, "服务内容", "开放时间", "联系电话"])
    assert m.get("lonlat") == header and "lat" not in m and "lon" not in m
    assert m["address"] == "详细地址"


@pytest.mark.parametrize("lon, lat", [("经度坐标", "纬度坐标"), ("高德经度", "高德纬度"), ("经度(高德)", "纬度(高德)"),
                                      ("location_x", "location_y")])
def test_headers_naming_one_axis_stay_separate(lon, lat):
    m = mapped(["名称", lon, lat])
    assert m["lon"] == lon and m["lat"] == lat and "lonlat" not in m


def test_a_coordinate_system_column_is_not_a_position():
    m = mapped(["名称", "坐标系", "高德坐标"])
    assert m["lonlat"] == "高德坐标" and "坐标系" not in m.values()


def test_a_position_column_is_the_address_when_separate_axes_exist():
    # 位置 is a combined coordinate column only where the file has no axes of its own.
    m = mapped(["名称", "位置", "经度", "纬度"])
    assert m["lon"] == "经度" and m["lat"] == "纬度" and m["address"] == "位置" and "lonlat" not in m
    m = mapped(["名称", "地址", "位置", "经度", "纬度"])
    assert m["address"] == "地址" and "lonlat" not in m


def test_amap_style_gbk_file_is_read_whole(write_csv, balanced):
    """An ordinary Amap export: GBK, 经纬度(高德) as "lon,lat" in GCJ-02, facilities separated by spaces."""
    from geo.core.crs import haversine_m, wgs84_to_gcj02

    header = ["站点名称", "详细地址", "经纬度(高德)", "服务内容", "开放时间", "联系电话"]
    glon, glat = wgs84_to_gcj02(*TIANHE)
    rows = [["天河体育中心驿站", "广州市天河区体育西路", f"{glon:.6f},{glat:.6f}", "饮水 如厕 电动车充电",
             "8:00-20:00", "020-12345678"],
            ["天河北驿站", "广州市天河区天河北路", f"{glon + 0.01:.6f},{glat:.6f}", "饮水、休息 按摩椅",
             "24小时", ""]]
    path = write_csv("高德导出.csv", header, rows, encoding="gbk")
    report = balanced(validate_table(read_table(path), "rest_station"))
    assert report.rejects.empty, report.rejects["message"].tolist()
    assert report.mapping["lonlat"] == "经纬度(高德)" and report.crs_used == "gcj02"
    first = report.accepted.set_index("row").loc[1]
    assert haversine_m(first["lon"], first["lat"], *TIANHE) < 1.0
    assert first["facilities"] == ["drinking_water", "toilet", "ebike_charging"]
