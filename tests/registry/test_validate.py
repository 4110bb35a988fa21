"""Row validation: every row accepted (maybe with warnings) or rejected with a reason."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from geo.core.crs import haversine_m, wgs84_to_bd09, wgs84_to_gcj02
from geo.registry.io.readers import read_table
from geo.registry.io.table import RawTable
from geo.registry.coordinates import parse_coordinate
from geo.registry.reasons import REJECT_REASONS, WARNING_REASONS
from geo.registry.validate import ValidationError, validate_record, validate_table

from conftest import BEIJING, FUTIAN, HAIZHU, TIANHE, YUEXIU

CJK = re.compile(r"[\u4e00-\u9fff]")


def table(rows: list[dict], filename: str = "stations.csv") -> RawTable:
    """A raw table as read from a CSV: every cell text."""
    df = pd.DataFrame(rows, dtype=object).fillna("").astype(str)
    return RawTable(df, filename=filename, format="csv", encoding="utf-8")


def row(name="天河驿站", lon=TIANHE[0], lat=TIANHE[1], **cells) -> dict:
    return {"名称": name, "经度": str(lon), "纬度": str(lat), **cells}


def codes(report) -> dict[int, str]:
    return dict(zip(report.rejects["row"], report.rejects["reason_code"]))


def warnings_of(report, code: str) -> list[int]:
    return report.warnings.loc[report.warnings["code"] == code, "row"].tolist()


def assert_bilingual(text: str) -> None:
    zh, _, en = text.partition(" / ")
    assert CJK.search(zh) and en and re.search(r"[a-z]{3,}", en), text


# --------------------------------------------------------------------------
# Reject reasons
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cells, code", [
    ({"经度": "", "纬度": ""}, "coord_missing"),
    ({"经度": "113.3", "纬度": ""}, "coord_missing"),
    ({"经度": "abc", "纬度": "23.1"}, "coord_not_numeric"),
    ({"经度": "113.3", "纬度": "二十三"}, "coord_not_numeric"),
    ({"经度": "113,3", "纬度": "23,1"}, "coord_not_numeric"),
    ({"经度": "inf", "纬度": "23.1"}, "coord_not_numeric"),
    ({"经度": "200", "纬度": "23.1"}, "coord_out_of_range"),
    ({"经度": "113.3", "纬度": "95"}, "coord_out_of_range"),
    ({"经度": "-190", "纬度": "-23"}, "coord_out_of_range"),
    ({"经度": "0", "纬度": "0"}, "coord_zero"),
    ({"经度": "0.0", "纬度": "0.000"}, "coord_zero"),
    ({"经度": str(BEIJING[0]), "纬度": str(BEIJING[1])}, "outside_region"),
    ({"经度": "113.3", "纬度": "-23.1"}, "outside_region"),
    ({"名称": ""}, "name_missing"),
    ({"名称": "   "}, "name_missing"),
    ({"类型": "火箭发射场"}, "unknown_kind"),
    ({"类型": "司机之家"}, "kind_mismatch"),
    ({"类型": "法律援助工作站"}, "kind_mismatch"),
])
def test_reject_reason(cells, code, balanced):
    good = row("越秀驿站", *YUEXIU)
    report = balanced(validate_table(table([good, {**row(), **cells}]), "rest_station"))
    assert codes(report) == {2: code}
    assert report.accepted["name"].tolist() == ["越秀驿站"]
    msg = report.rejects["message"].iat[0]
    assert_bilingual(msg)
    zh, en = REJECT_REASONS[code]
    assert zh.split("{")[0].split("（")[0] in msg and en.split("{")[0].split(" (")[0] in msg


def test_all_reject_and_warning_codes_have_bilingual_templates():
    for zh, en in (*REJECT_REASONS.values(), *WARNING_REASONS.values()):
        assert CJK.search(zh) and not CJK.search(en.replace("{value}", ""))


def test_outside_a_smaller_service_region(balanced):
    rows = [row("天河驿站", *TIANHE), row("福田驿站", *FUTIAN)]
    report = balanced(validate_table(table(rows), "rest_station", region="440100"))
    assert codes(report) == {2: "outside_region"}
    assert "广州市" in report.rejects["message"].iat[0]


def test_swapped_coordinates_fixed_with_warning(balanced):
    rows = [row("越秀驿站", YUEXIU[1], YUEXIU[0]),          # swapped, swap lands in Guangdong
            row("北京驿站", BEIJING[1], BEIJING[0]),         # swapped, but Beijing after the swap
            row("海珠驿站", HAIZHU[0], HAIZHU[1]),
            row("远方驿站", 30.0, 60.0)]                     # valid either way round, in neither
    report = balanced(validate_table(table(rows), "rest_station"))
    assert warnings_of(report, "coord_swapped") == [1]
    acc = report.accepted.set_index("row")
    assert (acc.at[1, "lon"], acc.at[1, "lat"]) == pytest.approx(YUEXIU)
    assert acc.at[1, "district"] == "越秀区"
    # Latitude 116.4 cannot be right and the swap does not help: not guessed.
    assert codes(report) == {2: "coord_out_of_range", 4: "outside_region"}
    assert_bilingual(report.warnings["message"].iat[0])


def test_swapped_and_out_of_range_latitude_fixed(balanced):
    # Latitude 113 is impossible; swapped it is a point in Guangzhou.
    report = balanced(validate_table(table([row("越秀驿站", YUEXIU[1], YUEXIU[0])]), "rest_station"))
    assert warnings_of(report, "coord_swapped") == [1]


def test_swapped_in_gcj02_converted_after_swapping(balanced):
    glon, glat = wgs84_to_gcj02(*YUEXIU)
    report = balanced(validate_table(table([row("越秀驿站", glat, glon)]), "rest_station", crs="gcj02"))
    acc = report.accepted
    assert haversine_m(acc["lon"].iat[0], acc["lat"].iat[0], *YUEXIU) < 1.0


def test_duplicate_source_id(balanced):
    rows = [row("甲驿站", *TIANHE, 编号="S1"), row("乙驿站", *YUEXIU, 编号="S1"), row("丙驿站", *HAIZHU, 编号="S2")]
    report = balanced(validate_table(table(rows), "rest_station"))
    assert codes(report) == {2: "duplicate_source_id"}
    assert "1" in report.rejects["message"].iat[0] and "S1" in report.rejects["message"].iat[0]
    assert sorted(report.accepted["source_id"]) == ["S1", "S2"]


def test_same_source_id_in_different_layers_is_not_a_duplicate(balanced):
    rows = [row("甲驿站", *TIANHE, 编号="1", 类型="驿站"), row("甲司机之家", *YUEXIU, 编号="1", 类型="司机之家")]
    report = balanced(validate_table(table(rows), None))
    assert len(report.accepted) == 2


def test_same_name_within_50m_is_a_duplicate(balanced):
    lon, lat = TIANHE
    near = lon + 30 / 102_400  # ~30 m east at 23°N
    far = lon + 80 / 102_400   # ~80 m east
    rows = [row("天河驿站", lon, lat), row("天 河 驿 站", near, lat), row("天河驿站", far, lat),
            row("别的驿站", lon, lat)]
    report = balanced(validate_table(table(rows), "rest_station"))
    assert codes(report) == {2: "duplicate_nearby"}
    m = re.search(r"(\d+) m", report.rejects["message"].iat[0])
    assert 25 <= int(m.group(1)) <= 35
    assert report.accepted["row"].tolist() == [1, 3, 4]
    assert len(set(report.accepted["id"])) == 3


def test_unknown_kind_without_type_column_and_layer(balanced):
    rows = [row("某某中心", *TIANHE), row("天河司机之家", *YUEXIU)]
    report = balanced(validate_table(table(rows), None))
    assert codes(report) == {1: "unknown_kind"}
    assert report.accepted["kind"].tolist() == ["driver_home"]
    assert warnings_of(report, "kind_from_name") == [2]


def test_kind_from_type_column(balanced):
    rows = [row("甲", *TIANHE, 类型="暖蜂驿站"), row("乙", *YUEXIU, 类型="司机之家"),
            row("丙", *HAIZHU, 类型="劳动争议调解室"), row("丁", *FUTIAN, 类型="legal_aid"),
            row("戊", 113.40, 23.20, 类型="Driver home")]
    report = balanced(validate_table(table(rows), None))
    acc = report.accepted.set_index("row")
    assert acc["kind"].to_dict() == {1: "rest_station", 2: "driver_home", 3: "legal_aid", 4: "legal_aid",
                                      5: "driver_home"}
    assert acc.at[1, "subtype"] == "暖蜂驿站" and acc.at[3, "subtype"] == "劳动争议调解室"
    assert acc.at[1, "id"].startswith("RS-") and acc.at[2, "id"].startswith("DH-") and acc.at[3, "id"].startswith("LA-")
    assert report.warnings.empty


def test_kind_mismatch_names_the_other_layer(balanced):
    report = balanced(validate_table(table([row("乙", *YUEXIU, 类型="司机驿站")]), "rest_station"))
    assert codes(report) == {1: "kind_mismatch"}
    assert "driver_home" in report.rejects["message"].iat[0]


def test_unknown_layer_argument_raises():
    with pytest.raises(ValueError):
        validate_table(table([row()]), "charging_station")


def test_address_in_another_district_warns(balanced):
    rows = [row("甲驿站", *TIANHE, 地址="广州市越秀区北京路1号"),   # point in 天河区
            row("乙驿站", *TIANHE[::1], 地址="广州市天河区体育西路"),  # matches
            row("丙驿站", 113.33, 23.14, 地址="天河体育中心东门"),     # bare 天河 at the start, matches
            row("丁驿站", *YUEXIU, 地址="中山大学附近的中山路"),      # 中山 as a street, not the city
            row("戊驿站", *FUTIAN, 地址="广州市天河区")]              # point in Shenzhen
    report = balanced(validate_table(table(rows), "rest_station"))
    assert warnings_of(report, "address_district_mismatch") == [1, 5]
    msgs = report.warnings.loc[report.warnings["code"] == "address_district_mismatch", "message"].tolist()
    assert "越秀区" in msgs[0] and "天河区" in msgs[0]
    assert "福田区" in msgs[1]
    assert len(report.accepted) == 5  # a warning, not a reject


# --------------------------------------------------------------------------
# Coordinates in many spellings
# --------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("113.3245", 113.3245), (" 113.3245 ", 113.3245), ("１１３．３２４５", 113.3245), ("１１３.３２４５", 113.3245),
    ("113°19′28.2″", 113.3245), ("113°19'28.2\"", 113.3245), ("113度19分28.2秒", 113.3245),
    ("E113°19′28.2″", 113.3245), ("113°19′28.2″E", 113.3245), ("东经113.3245", 113.3245),
    ("23°8′15″N", 23.1375), ("北纬23.1375", 23.1375), ("23°8.25'", 23.1375), ("S23.5", -23.5),
    ("113。3245", 113.3245), ("-113.5", -113.5),
])
def test_parse_coordinate(text, value):
    assert parse_coordinate(text) == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize("text", ["", "  ", "nan", "None", None])
def test_parse_coordinate_empty(text):
    assert np.isnan(parse_coordinate(text))


@pytest.mark.parametrize("text", ["abc", "113.3.4", "inf", "0x10", "113°abc"])
def test_parse_coordinate_rejects_garbage(text):
    with pytest.raises(ValueError):
        parse_coordinate(text)


def test_dms_and_full_width_rows_accepted(balanced):
    rows = [row("度分秒驿站", "113°19′28.2″E", "23°8′15″N"),
            row("全角驿站", "１１３．２６４４", "２３．１２９１"),
            row("中文度分驿站", "东经113度18分", "北纬23度6分")]
    report = balanced(validate_table(table(rows), "rest_station"))
    acc = report.accepted.set_index("row")
    assert (acc.at[1, "lon"], acc.at[1, "lat"]) == pytest.approx(TIANHE, abs=1e-7)
    assert (acc.at[2, "lon"], acc.at[2, "lat"]) == pytest.approx(YUEXIU, abs=1e-7)
    assert (acc.at[3, "lon"], acc.at[3, "lat"]) == pytest.approx((113.3, 23.1), abs=1e-7)


# --------------------------------------------------------------------------
# Coordinate systems
# --------------------------------------------------------------------------


def _shifted(crs: str):
    if crs == "gcj02":
        return wgs84_to_gcj02(*TIANHE)
    return wgs84_to_bd09(*TIANHE)


@pytest.mark.parametrize("lon_h, lat_h, expected", [
    ("高德经度", "高德纬度", "gcj02"), ("gcj02_lng", "gcj02_lat", "gcj02"), ("amap_lon", "amap_lat", "gcj02"),
    ("百度经度", "百度纬度", "bd09"), ("bd09_lng", "bd09_lat", "bd09"), ("baidu_x", "baidu_y", "bd09"),
    ("经度", "纬度", "wgs84"), ("wgs84经度", "wgs84纬度", "wgs84"),
])
def test_crs_from_headers(lon_h, lat_h, expected, balanced):
    lon, lat = TIANHE if expected == "wgs84" else _shifted(expected)
    raw = table([{"名称": "天河驿站", lon_h: str(lon), lat_h: str(lat)}])
    report = balanced(validate_table(raw, "rest_station"))
    assert report.crs_used == expected
    if expected == "wgs84" and "wgs" not in lon_h:
        assert "assumed" in report.crs_note and "WGS-84" in report.crs_note
        assert report.summary()["crs_note"] == report.crs_note
    else:
        assert lon_h in report.crs_note
    acc = report.accepted
    assert haversine_m(acc["lon"].iat[0], acc["lat"].iat[0], *TIANHE) < 1.0


@pytest.mark.parametrize("filename, expected", [
    ("驿站_高德坐标.csv", "gcj02"), ("stations_gcj02.csv", "gcj02"), ("baidu_export.csv", "bd09"),
    ("stations.csv", "wgs84"),
])
def test_crs_from_filename(filename, expected, balanced):
    lon, lat = TIANHE if expected == "wgs84" else _shifted(expected)
    report = balanced(validate_table(table([row("天河驿站", lon, lat)], filename=filename), "rest_station"))
    assert report.crs_used == expected
    if expected != "wgs84":
        assert "file name" in report.crs_note
    assert haversine_m(report.accepted["lon"].iat[0], report.accepted["lat"].iat[0], *TIANHE) < 1.0


def test_user_crs_beats_hints(balanced):
    lon, lat = wgs84_to_gcj02(*TIANHE)
    raw = table([{"名称": "天河驿站", "百度经度": str(lon), "百度纬度": str(lat)}], filename="baidu.csv")
    report = balanced(validate_table(raw, "rest_station", crs="gcj02"))
    assert report.crs_used == "gcj02" and "user" in report.crs_note
    assert haversine_m(report.accepted["lon"].iat[0], report.accepted["lat"].iat[0], *TIANHE) < 1.0


def test_unknown_crs_name_raises():
    with pytest.raises(ValueError):
        validate_table(table([row()]), "rest_station", crs="mars-ish")


@pytest.fixture(scope="module")
def guangzhou_raw(request):
    from conftest import GUANGZHOU_EV

    if not GUANGZHOU_EV.exists():
        pytest.skip(f"shared data missing: {GUANGZHOU_EV}")
    return read_table(GUANGZHOU_EV)


def _oracle_distance(report, raw) -> np.ndarray:
    acc = report.accepted
    idx = acc["row"].to_numpy() - 1
    ref_lon = raw.df["WGS84_station_lg"].astype(float).to_numpy()[idx]
    ref_lat = raw.df["WGS84_station_lt"].astype(float).to_numpy()[idx]
    return haversine_m(acc["lon"].to_numpy(), acc["lat"].to_numpy(), ref_lon, ref_lat)


def test_oracle_guangzhou_gcj02_columns(guangzhou_raw, balanced):
    report = balanced(validate_table(
        guangzhou_raw, "rest_station", crs="gcj02",
        mapping={"lon": "station_lg", "lat": "station_lt", "name": "station_id"}))
    assert report.rows == 3191
    assert len(report.accepted) == 3191, report.rejects["reason_code"].value_counts().to_dict()
    d = _oracle_distance(report, guangzhou_raw)
    assert d.max() < 1.0
    assert np.median(d) < 0.2
    # The conversion really happened: the raw GCJ-02 values are ~600 m off.
    raw_off = haversine_m(guangzhou_raw.df["station_lg"].astype(float), guangzhou_raw.df["station_lt"].astype(float),
                          guangzhou_raw.df["WGS84_station_lg"].astype(float), guangzhou_raw.df["WGS84_station_lt"].astype(float))
    assert np.median(raw_off) > 400
    assert (report.accepted["adcode"].str[:4] == "4401").mean() > 0.99


def test_oracle_guangzhou_bd09_columns_detected_from_headers(guangzhou_raw, balanced):
    report = balanced(validate_table(
        guangzhou_raw, "rest_station",
        mapping={"lon": "DB09_station_lg", "lat": "DB09_station_lt", "name": "station_id"}))
    assert report.crs_used == "bd09"
    assert len(report.accepted) == 3191
    assert _oracle_distance(report, guangzhou_raw).max() < 1.0


def test_oracle_guangzhou_default_mapping_uses_wgs84(guangzhou_raw, balanced):
    report = balanced(validate_table(guangzhou_raw, "rest_station", mapping={"name": "station_id"}))
    assert report.crs_used == "wgs84"
    assert _oracle_distance(report, guangzhou_raw).max() < 1e-3
    # Nothing lost: the other datums' columns ride along in extra.
    extra = json.loads(report.accepted["extra"].iat[0])
    assert {"station_lg", "station_lt", "DB09_station_lg", "DB09_station_lt", "create_time"} <= set(extra)


def test_oracle_shenzhen_gcj02_file(shared_dir, balanced):
    raw = read_table(shared_dir / "shenzhen_ev_charging_stations_gcj02.csv")
    report = balanced(validate_table(raw, "rest_station", mapping={"name": "station_id"}))
    assert report.crs_used == "gcj02" and "file name" in report.crs_note
    assert len(report.accepted) == report.rows == 1587
    acc = report.accepted
    idx = acc["row"].to_numpy() - 1
    glon = raw.df["longitude"].astype(float).to_numpy()[idx]
    glat = raw.df["latitude"].astype(float).to_numpy()[idx]
    # Going forward again with the published formula lands on the file's points...
    flon, flat = wgs84_to_gcj02(acc["lon"].to_numpy(), acc["lat"].to_numpy())
    assert haversine_m(flon, flat, glon, glat).max() < 0.01
    # ...and the stations moved by the GCJ-02 offset (~500-700 m in Shenzhen).
    shift = haversine_m(acc["lon"].to_numpy(), acc["lat"].to_numpy(), glon, glat)
    assert 450 < shift.min() and shift.max() < 750
    assert (acc["adcode"].str[:4] == "4403").all()


# --------------------------------------------------------------------------
# Cell contents
# --------------------------------------------------------------------------


def test_facilities_mapped_unmapped_kept_with_warning(balanced):
    rows = [row("甲驿站", *TIANHE, 服务内容="饮用水、卫生间，手机充电;按摩椅/电动车充电； 空调"),
            row("乙驿站", *YUEXIU, 服务内容="热水,WiFi,AED,足浴"),
            row("丙驿站", *HAIZHU, 服务内容="")]
    report = balanced(validate_table(table(rows), "rest_station"))
    acc = report.accepted.set_index("row")
    assert acc.at[1, "facilities"] == ["drinking_water", "toilet", "phone_charging", "ebike_charging", "shelter"]
    assert acc.at[1, "facilities_other"] == ["按摩椅"]
    assert acc.at[2, "facilities"] == ["drinking_water", "aed", "wifi"]
    assert acc.at[2, "facilities_other"] == ["足浴"]
    assert acc.at[3, "facilities"] == [] and acc.at[3, "facilities_other"] == []
    assert warnings_of(report, "facility_unmapped") == [1, 2]
    assert "按摩椅" in report.warnings["message"].iat[0]


def test_facilities_other_column_kept_verbatim(balanced):
    # A 其他设施 cell is what the office called "other": nothing in it may
    # vanish, even parts that contain a vocabulary word (饮水机 has 饮水).
    rows = [row("甲驿站", *TIANHE, 设施="卫生间", 其他设施="饮水机、按摩椅；儿童休息区"),
            row("乙驿站", *YUEXIU, 设施="卫生间、足浴", 其他设施="按摩椅")]
    report = balanced(validate_table(table(rows), "rest_station"))
    acc = report.accepted.set_index("row")
    assert acc.at[1, "facilities"] == ["toilet"]
    assert acc.at[1, "facilities_other"] == ["饮水机", "按摩椅", "儿童休息区"]
    assert acc.at[2, "facilities_other"] == ["按摩椅", "足浴"]


def test_opening_hours_parsed(balanced):
    rows = [row("甲驿站", *TIANHE, 开放时间="周一至周五 9:00-17:00"),
            row("乙驿站", *YUEXIU, 营业时间="24小时"),
            row("丙驿站", *HAIZHU, 开放时间="看心情")]
    raw = table(rows)
    report = balanced(validate_table(raw, "rest_station"))
    acc = report.accepted.set_index("row")
    assert acc.at[1, "opening_hours_osm"] == "Mo-Fr 09:00-17:00" and not acc.at[1, "is_24h"]
    assert acc.at[1, "opening_hours"] == "周一至周五 9:00-17:00"
    # 营业时间 is not mapped when 开放时间 is; it rides along in extra, not lost.
    assert json.loads(acc.at[2, "extra"]) == {"营业时间": "24小时"}
    assert acc.at[3, "opening_hours"] == "看心情" and acc.at[3, "opening_hours_osm"] == ""
    assert warnings_of(report, "hours_unparsed") == [3]


def test_24h_hours(balanced):
    report = balanced(validate_table(table([row("甲驿站", *TIANHE, 营业时间="全天24小时")]), "rest_station"))
    assert report.accepted["opening_hours_osm"].iat[0] == "24/7" and report.accepted["is_24h"].iat[0]


def test_status_parsed_and_unknown_kept(balanced):
    rows = [row("甲驿站", *TIANHE, 状态="暂停开放"), row("乙驿站", *YUEXIU, 状态="正常运营"),
            row("丙驿站", *HAIZHU, 状态="看情况", 备注="原有备注"), row("丁驿站", *FUTIAN, 状态="")]
    report = balanced(validate_table(table(rows), "rest_station"))
    acc = report.accepted.set_index("row")
    assert acc["status"].to_dict() == {1: "temporarily_closed", 2: "open", 3: "open", 4: "open"}
    assert warnings_of(report, "status_unknown") == [3]
    assert "原有备注" in acc.at[3, "notes"] and "看情况" in acc.at[3, "notes"]


def test_truck_spaces_and_lawyer_hours(balanced):
    rows = [row("甲司机之家", *TIANHE, 类型="司机之家", 车位数="12个"),
            row("乙司机之家", *YUEXIU, 类型="司机之家", 车位数="很多"),
            row("丙驿站", *HAIZHU, 类型="驿站", 车位数="3", 律师值班时间="周三"),
            row("丁法律站", *FUTIAN, 类型="法律援助工作站", 律师值班时间="周三下午")]
    report = balanced(validate_table(table(rows), None))
    acc = report.accepted.set_index("row")
    assert acc.at[1, "truck_parking_spaces"] == 12
    assert pd.isna(acc.at[2, "truck_parking_spaces"])
    assert json.loads(acc.at[2, "extra"])["truck_parking_spaces"] == "很多"
    assert warnings_of(report, "bad_number") == [2]
    # Fields of other layers are not dropped, they go to extra.
    assert pd.isna(acc.at[3, "truck_parking_spaces"]) and acc.at[3, "lawyer_hours"] == ""
    assert json.loads(acc.at[3, "extra"]) == {"truck_parking_spaces": "3", "lawyer_hours": "周三"}
    assert acc.at[4, "lawyer_hours"] == "周三下午"


def test_nothing_lost_unmapped_columns_in_extra(balanced):
    rows = [row("甲驿站", *TIANHE, 星级="五星级", 建设年份="2021", 空列=""),
            row("乙驿站", *YUEXIU, 星级="", 建设年份="2020", 空列="")]
    report = balanced(validate_table(table(rows), "rest_station"))
    acc = report.accepted.set_index("row")
    # 星级 is a known alias of title; the others are kept verbatim in extra.
    assert acc.at[1, "title"] == "五星级"
    assert json.loads(acc.at[1, "extra"]) == {"建设年份": "2021"}
    assert json.loads(acc.at[2, "extra"]) == {"建设年份": "2020"}


def test_a_files_own_id_column_becomes_the_source_id(balanced):
    # "ID" is the office's own numbering, not a registry id: it must not be
    # dropped, and it is what a newer version of the file updates by.
    rows = [{"ID": "7", **row("甲驿站", *TIANHE)}, {"ID": "8", **row("乙驿站", *YUEXIU)},
            {"ID": "7", **row("丙驿站", *HAIZHU)}]
    report = balanced(validate_table(table(rows), "rest_station"))
    assert report.accepted["source_id"].tolist() == ["7", "8"]
    assert codes(report) == {3: "duplicate_source_id"}


def test_registry_ids_in_the_file_are_kept(balanced):
    first = balanced(validate_table(table([row("甲驿站", *TIANHE)]), "rest_station"))
    rid = first.accepted["id"].iat[0]
    moved = balanced(validate_table(table([{"id": rid, **row("甲驿站", *YUEXIU)}]), "rest_station"))
    assert moved.accepted["id"].iat[0] == rid


def test_ids_stable_across_runs(balanced):
    rows = [row("甲驿站", *TIANHE), row("乙驿站", *YUEXIU, 编号="S9")]
    a = balanced(validate_table(table(rows), "rest_station", source="src"))
    b = balanced(validate_table(table(rows), "rest_station", source="src"))
    assert a.accepted["id"].tolist() == b.accepted["id"].tolist()
    c = balanced(validate_table(table([row("乙驿站", *HAIZHU, 编号="S9")]), "rest_station", source="src"))
    assert c.accepted["id"].iat[0] == a.accepted["id"].iat[1]  # same source id, moved: same station


# --------------------------------------------------------------------------
# Rejected rows handed back
# --------------------------------------------------------------------------


def test_rejects_csv_has_reason_beside_original_cells(balanced):
    rows = [row("甲驿站", *TIANHE, 电话="020-1"),
            row("乙驿站", "abc", "23.1", 电话="=HYPERLINK(\"http://x\")"),
            row("", *YUEXIU, 电话="+86 20 123")]
    report = balanced(validate_table(table(rows), "rest_station"))
    data = report.rejects_csv()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel in China needs the BOM
    back = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(back.columns[:3]) == ["row", "reason_code", "message"]
    assert list(back.columns[3:]) == ["名称", "经度", "纬度", "电话"]
    assert back["row"].tolist() == ["2", "3"]
    assert back["reason_code"].tolist() == ["coord_not_numeric", "name_missing"]
    assert back.loc[0, ["名称", "经度", "纬度"]].tolist() == ["乙驿站", "abc", "23.1"]
    # Formula cells are neutralised in the download.
    assert back.loc[0, "电话"] == "'=HYPERLINK(\"http://x\")"
    assert back.loc[1, "电话"] == "'+86 20 123"


def test_rejects_csv_reimports_to_the_same_cells(tmp_path, balanced):
    rows = [row("乙驿站", "abc", "23.1", 电话="-5")]
    report = balanced(validate_table(table(rows), "rest_station"))
    path = tmp_path / "rejects.csv"
    path.write_bytes(report.rejects_csv())
    again = read_table(path).df
    assert again.loc[0, ["名称", "经度", "纬度", "电话"]].tolist() == ["乙驿站", "abc", "23.1", "-5"]


def test_reimporting_a_rejects_file(tmp_path, balanced):
    # The user downloads the rejected rows, fixes one, and imports the file
    # again: the old reason columns must not collide with the new ones.
    rows = [row("甲驿站", "abc", "23.1"), row("乙驿站", "xyz", "23.2"), row("丙驿站", *HAIZHU)]
    first = balanced(validate_table(table(rows), "rest_station"))
    path = tmp_path / "rejects.csv"
    path.write_bytes(first.rejects_csv())
    text = path.read_bytes().decode("utf-8-sig").replace("abc", str(TIANHE[0]))
    path.write_bytes(text.encode("utf-8-sig"))
    second = balanced(validate_table(read_table(path), "rest_station"))
    assert second.accepted["name"].tolist() == ["甲驿站"]
    assert codes(second) == {2: "coord_not_numeric"}
    back = pd.read_csv(io.BytesIO(second.rejects_csv()), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(back.columns) == ["row", "reason_code", "message", "名称", "经度", "纬度"]
    assert back.loc[0, ["row", "名称", "经度"]].tolist() == ["2", "乙驿站", "xyz"]
    assert second.summary()["rejects"][0]["row"] == 2


def test_summary_contract(balanced):
    report = balanced(validate_table(table([row(), row("坏", "x", "y")]), "rest_station"))
    s = report.summary()
    json.dumps(s, ensure_ascii=False)
    assert {"rows", "accepted", "rejected", "warnings", "crs_used", "rejects"} <= set(s)
    assert s["rows"] == 2 and s["accepted"] == 1 and s["rejected"] == 1
    assert s["rejects"] == [{"row": 2, "reason_code": "coord_not_numeric", "message": report.rejects["message"].iat[0]}]


def test_empty_table(balanced):
    report = balanced(validate_table(RawTable(pd.DataFrame(columns=["名称", "经度", "纬度"], dtype=object),
                                              filename="e.csv"), "rest_station"))
    assert report.rows == 0 and report.summary()["rejects"] == []


def test_every_row_accounted_for_in_a_messy_file(messy_csv, balanced):
    report = balanced(validate_table(read_table(messy_csv), "rest_station"))
    assert report.rows == 4
    assert codes(report) == {3: "coord_missing", 4: "outside_region"}
    acc = report.accepted.set_index("row")
    assert acc.at[1, "name"] == "天河体育中心驿站" and acc.at[1, "district"] == "天河区"
    assert acc.at[1, "facilities_other"] == ["按摩椅"]
    assert acc.at[1, "operator"] == "天河区总工会" and acc.at[1, "phone"] == "020-12345678"
    assert acc.at[2, "opening_hours_osm"] == "24/7"
    assert acc.at[2, "facilities"] == ["drinking_water", "microwave"]
    assert "assumed" in report.crs_note


# --------------------------------------------------------------------------
# Against the registry: re-import and merging
# --------------------------------------------------------------------------


def _v1():
    return [row("甲驿站", *TIANHE, 编号="S1", 电话="020-1"),
            row("乙驿站", *YUEXIU, 编号="S2", 电话="020-2"),
            row("丙驿站", *HAIZHU, 编号="S3", 电话="020-3"),
            row("丁驿站", *FUTIAN, 编号="S4", 电话="0755-4")]


def test_reimport_newer_version_updates_by_source_id(registry, balanced):
    v1 = balanced(validate_table(table(_v1(), filename="union.csv"), "rest_station",
                                 existing=registry.load()))
    assert registry.commit_import(v1) == {"inserted": 4, "updated": 0, "unchanged": 0}
    ids = dict(zip(v1.accepted["source_id"], v1.accepted["id"]))

    rows = _v1()
    rows[1]["电话"] = "020-2222"                      # changed phone
    del rows[2]                                       # S3 removed from the newer file
    rows.append(row("戊驿站", 113.40, 23.20, 编号="S5"))  # S5 added
    rows[0]["名称"] = "甲驿站（新名）"                   # renamed, same source id
    v2 = balanced(validate_table(table(rows, filename="union.csv"), "rest_station",
                                 existing=registry.load()))
    counts = registry.commit_import(v2)
    assert counts == {"inserted": 1, "updated": 2, "unchanged": 1}

    stored = registry.load()
    assert len(stored) == 5
    assert stored["id"].is_unique and stored["source_id"].is_unique
    by_sid = stored.set_index("source_id")
    assert by_sid.at["S2", "phone"] == "020-2222" and by_sid.at["S2", "id"] == ids["S2"]
    assert by_sid.at["S2", "version"] == 2 and by_sid.at["S4", "version"] == 1
    assert by_sid.at["S1", "name"] == "甲驿站（新名）" and by_sid.at["S1", "id"] == ids["S1"]
    assert by_sid.at["S3", "phone"] == "020-3"  # not deleted by its absence

    # Importing the same file again changes nothing.
    v3 = balanced(validate_table(table(rows, filename="union.csv"), "rest_station", existing=registry.load()))
    assert registry.commit_import(v3) == {"inserted": 0, "updated": 0, "unchanged": 4}
    assert len(registry.load()) == 5


def test_same_name_near_existing_station_is_merged(registry, balanced):
    first = balanced(validate_table(table([row("天河驿站", *TIANHE)], filename="a.csv"), "rest_station"))
    registry.commit_import(first)
    old_id = first.accepted["id"].iat[0]

    # Another office lists the same station 20 m away, without a source id.
    near = row("天河驿站", TIANHE[0] + 20 / 102_400, TIANHE[1], 电话="020-9")
    far = row("天河驿站", TIANHE[0] + 200 / 102_400, TIANHE[1])
    report = balanced(validate_table(table([near, far], filename="b.csv"), "rest_station",
                                     existing=registry.load()))
    acc = report.accepted.set_index("row")
    assert acc.at[1, "id"] == old_id
    assert acc.at[2, "id"] != old_id
    assert warnings_of(report, "merged_existing") == [1]
    assert old_id in report.warnings["message"].iat[0]
    assert registry.commit_import(report) == {"inserted": 1, "updated": 1, "unchanged": 0}
    stored = registry.load()
    assert len(stored) == 2
    assert stored.set_index("id").at[old_id, "phone"] == "020-9"


def test_merge_only_within_the_same_layer(registry, balanced):
    registry.commit_import(balanced(validate_table(table([row("综合服务站", *TIANHE, 类型="驿站")]), None)))
    report = balanced(validate_table(table([row("综合服务站", *TIANHE, 类型="司机之家")]), None,
                                     existing=registry.load()))
    assert warnings_of(report, "merged_existing") == []
    assert registry.commit_import(report)["inserted"] == 1


# --------------------------------------------------------------------------
# One record (edits in the app)
# --------------------------------------------------------------------------


def test_validate_record_ok_and_rejected():
    rec = validate_record({"name": "手录驿站", "kind": "rest_station", "lon": TIANHE[0], "lat": TIANHE[1],
                           "facilities": ["toilet", "热水"], "opening_hours": "24小时"})
    assert rec["district"] == "天河区" and rec["facilities"] == ["drinking_water", "toilet"]
    assert rec["is_24h"] and rec["id"].startswith("RS-")
    with pytest.raises(ValidationError) as exc:
        validate_record({"name": "北京驿站", "kind": "rest_station", "lon": BEIJING[0], "lat": BEIJING[1]})
    assert "outside" in str(exc.value) and "服务区域" in str(exc.value)
    with pytest.raises(ValidationError):
        validate_record({"name": "", "kind": "rest_station", "lon": TIANHE[0], "lat": TIANHE[1]})


def test_reimport_reports_stations_the_newer_file_no_longer_lists(tmp_path, write_csv):
    from geo.registry.importer import import_file

    reg = tmp_path / "r.gpkg"
    rows = [["A1", "甲驿站", "113.3245", "23.1370"], ["A2", "乙驿站", "113.2700", "23.1300"]]
    v1 = write_csv("list.csv", ["编号", "名称", "经度", "纬度"], rows)
    import_file(v1, "rest_station", registry=reg)
    v2 = write_csv("list.csv", ["编号", "名称", "经度", "纬度"], rows[:1])
    report, counts = import_file(v2, "rest_station", registry=reg)
    assert counts == {"inserted": 0, "updated": 0, "unchanged": 1}
    assert len(report.not_in_file) == 1
    assert report.summary()["not_in_file"] == report.not_in_file
    # Flagged, not deleted: the decision is a person's.
    from geo.registry.store import open_store
    assert len(open_store(reg).load()) == 2


# --------------------------------------------------------------------------
# Nothing the user gave is lost silently (issue 11, section 2)
# --------------------------------------------------------------------------


def test_facilities_separated_by_spaces_are_all_kept(balanced):
    # "饮水 如厕 电动车充电" used to become one facility (the longest synonym
    # in it), and 饮水 and 如厕 were dropped without a warning.
    rows = [row("甲驿站", *TIANHE, 服务内容="饮水 如厕 电动车充电"),
            row("乙驿站", *YUEXIU, 服务内容="饮水  按摩椅 足浴、AED"),
            row("丙驿站", *HAIZHU, 服务内容="drinking water, first aid; 电动车 充电")]
    report = balanced(validate_table(table(rows), "rest_station"))
    acc = report.accepted.set_index("row")
    assert acc.at[1, "facilities"] == ["drinking_water", "toilet", "ebike_charging"]
    assert acc.at[1, "facilities_other"] == []
    assert acc.at[2, "facilities"] == ["drinking_water", "aed"]
    assert acc.at[2, "facilities_other"] == ["按摩椅", "足浴"]
    assert acc.at[3, "facilities"] == ["drinking_water", "ebike_charging", "first_aid"]
    assert acc.at[3, "facilities_other"] == []
    assert warnings_of(report, "facility_unmapped") == [2]
    msg = report.warnings.loc[report.warnings["code"] == "facility_unmapped", "message"].iat[0]
    assert "按摩椅" in msg and "足浴" in msg


def test_name_suggesting_another_layer_than_the_chosen_one_warns(balanced):
    rows = [row("天河区司机之家", *TIANHE), row("越秀区法律援助工作站", *YUEXIU), row("海珠驿站", *HAIZHU),
            row("番禺工会驿站", 113.38, 22.94, 类型="司机之家")]
    chosen = balanced(validate_table(table(rows[:3]), "rest_station"))
    # The chosen layer is honoured, but the rows whose names say otherwise are flagged.
    assert chosen.accepted["kind"].tolist() == ["rest_station"] * 3
    assert warnings_of(chosen, "kind_name_mismatch") == [1, 2]
    msgs = chosen.warnings.loc[chosen.warnings["code"] == "kind_name_mismatch", "message"].tolist()
    assert "司机之家" in msgs[0] and "driver_home" in msgs[0] and "rest_station" in msgs[0]
    assert "legal_aid" in msgs[1]
    for m in msgs:
        assert_bilingual(m)
    # Automatic per row: each row goes to the layer its name or type says; a
    # type column that contradicts the name is flagged too.
    auto = balanced(validate_table(table(rows), None))
    assert auto.accepted["kind"].tolist() == ["driver_home", "legal_aid", "rest_station", "driver_home"]
    assert warnings_of(auto, "kind_name_mismatch") == [4]


def test_overlong_text_is_rejected_per_row_and_not_stored(balanced, monkeypatch):
    from geo import settings

    limits = settings.TEXT_MAX_CHARS
    assert (limits["name"], limits["address"], limits["notes"]) == (200, 500, 2000)
    rows = [row("驿" * 201, *TIANHE),
            row("越秀驿站", *YUEXIU, 地址="路" * 501),
            row("海珠驿站", *HAIZHU, 备注="注" * 2001),
            row("番禺驿站", 113.38, 22.94, 自带列="x" * (limits["extra"] + 1)),
            row("好驿站", 113.40, 23.20, 备注="注" * 2000, 地址="路" * 500, 名称="站" * 200)]
    report = balanced(validate_table(table(rows), "rest_station"))
    assert codes(report) == {1: "text_too_long", 2: "text_too_long", 3: "text_too_long", 4: "text_too_long"}
    assert report.accepted["row"].tolist() == [5]
    assert len(report.accepted["notes"].iat[0]) == 2000
    msgs = report.rejects["message"].tolist()
    for m, column, n, limit in zip(msgs, ["名称", "地址", "备注", "自带列"], [201, 501, 2001, limits["extra"] + 1],
                                   [200, 500, 2000, limits["extra"]]):
        assert_bilingual(m)
        assert f"“{column}”" in m and f"'{column}'" in m and f"{n:,}" in m and f"{limit:,}" in m
        assert len(m) < 400  # the value itself is never echoed
    # The cells are kept beside the reason, so nothing is lost.
    assert report.rejects.set_index("row").at[3, "备注"] == "注" * 2001

    monkeypatch.setitem(settings.TEXT_MAX_CHARS, "name", 3)
    report = balanced(validate_table(table([row("越秀驿站", *YUEXIU), row("好驿站", *HAIZHU)]), "rest_station"))
    assert codes(report) == {1: "text_too_long"}


def test_a_huge_cell_is_rejected_fast_and_never_echoed(balanced):
    huge = "驿" * 5_000_000
    report = balanced(validate_table(table([row(huge, *TIANHE, 类型="驿站" * 1000), row("好驿站", *YUEXIU)]),
                                     "rest_station"))
    assert codes(report) == {1: "text_too_long"}
    assert max(len(m) for m in report.summary()["rejects"][0]["message"].split(" / ")) < 300


def test_missing_coordinates_message_names_the_column_that_holds_them(balanced):
    rows = [{"名称": "甲驿站", "点位": f"{TIANHE[0]},{TIANHE[1]}"},
            {"名称": "乙驿站", "点位": f"{YUEXIU[0]}, {YUEXIU[1]}"}]
    report = balanced(validate_table(table(rows), "rest_station"))
    assert codes(report) == {1: "coord_missing", 2: "coord_missing"}
    msg = report.rejects["message"].iat[0]
    assert_bilingual(msg)
    assert "“点位”" in msg and "'点位'" in msg and "--map lonlat=点位" in msg
    # Following the advice imports every row.
    fixed = balanced(validate_table(table(rows), "rest_station", mapping={"lonlat": "点位"}))
    assert len(fixed.accepted) == 2


def test_missing_axes_message_names_the_columns_that_look_like_them(balanced):
    rows = [{"名称": "甲驿站", "E": str(TIANHE[0]), "N": str(TIANHE[1]), "序号": "1"},
            {"名称": "乙驿站", "E": str(YUEXIU[0]), "N": str(YUEXIU[1]), "序号": "2"}]
    report = balanced(validate_table(table(rows), "rest_station"))
    assert set(codes(report).values()) == {"coord_missing"}
    msg = report.rejects["message"].iat[0]
    assert "--map lon=E" in msg and "--map lat=N" in msg and "序号" not in msg
    # One axis mapped, the other not: the message says which is missing.
    rows = [{"名称": "甲驿站", "东西": str(TIANHE[0]), "纬度": str(TIANHE[1])}]
    msg = validate_table(table(rows), "rest_station").rejects["message"].iat[0]
    assert "--map lon=东西" in msg
    # No column looks like coordinates: the message says none is mapped.
    msg = validate_table(table([{"名称": "甲驿站", "备注": "无"}]), "rest_station").rejects["message"].iat[0]
    assert_bilingual(msg)
    assert "经度" in msg and "lonlat" in msg


def test_unmapped_name_and_type_messages_name_the_column(balanced):
    rows = [{"站点全称": "甲", "分类": "司机之家", "经度": str(TIANHE[0]), "纬度": str(TIANHE[1])},
            {"站点全称": "乙", "分类": "暖蜂驿站", "经度": str(YUEXIU[0]), "纬度": str(YUEXIU[1])}]
    report = balanced(validate_table(table(rows), "rest_station"))
    assert set(codes(report).values()) == {"name_missing"}
    msg = report.rejects["message"].iat[0]
    assert_bilingual(msg)
    assert "“站点全称”" in msg and "--map name=站点全称" in msg
    report = balanced(validate_table(table(rows), None, mapping={"name": "站点全称"}))
    assert set(codes(report).values()) == {"unknown_kind"}
    msg = report.rejects["message"].iat[0]
    assert "“分类”" in msg and "--map kind=分类" in msg and "--kind" in msg
    # A name that is merely empty in one row gets no mapping advice.
    rows = [row("甲驿站", *TIANHE), row("", *YUEXIU)]
    msg = validate_table(table(rows), "rest_station").rejects["message"].iat[0]
    assert "--map" not in msg
