"""Exports: RFC 7946 GeoJSON, GeoPackage, CSV; filters; GCJ-02; round trips."""
from __future__ import annotations

import csv
import io
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from geo.registry import export
from geo.core.crs import haversine_m
from geo.registry.io.readers import read_table
from geo.registry.io.table import RawTable
from geo.core.schema import FIELD_NAMES
from geo.registry.store import create_registry
from geo.registry.validate import validate_table

from conftest import FUTIAN, HAIZHU, TIANHE, YUEXIU

LAYERS = ("rest_station", "driver_home", "legal_aid")


def rich_rows() -> list[dict]:
    """Stations exercising every field, and cells a spreadsheet would run."""
    return [
        {"名称": "天河体育中心驿站", "地址": "广州市天河区体育西路", "经度": TIANHE[0], "纬度": TIANHE[1],
         "类型": "暖蜂驿站", "服务内容": "饮用水、卫生间、按摩椅；足浴", "开放时间": "周一至周五 9:00-17:00",
         "电话": "+86 20 1234", "运营单位": "=天河区总工会", "编号": "R1", "星级": "五星", "备注": "@备注",
         "核实日期": "2024-05-01", "自定义字段": "保留我"},
        {"名称": "越秀司机之家", "地址": "广州市越秀区", "经度": YUEXIU[0], "纬度": YUEXIU[1],
         "类型": "司机之家", "服务内容": "停车;淋浴;热水", "开放时间": "24小时", "电话": "-020-5",
         "车位数": "12", "状态": "暂停开放", "编号": "D1"},
        {"名称": "海珠法律服务站", "地址": "广州市海珠区", "经度": HAIZHU[0], "纬度": HAIZHU[1],
         "类型": "法律援助工作站", "服务内容": "法律咨询、调解", "律师值班时间": "周三下午", "编号": "L1",
         "状态": "规划中"},
        {"名称": "=HYPERLINK(\"http://evil\")", "经度": FUTIAN[0], "纬度": FUTIAN[1], "类型": "驿站",
         "开放时间": "看心情", "电话": "\t0755", "备注": "第一行\n第二行"},  # no source id: id from name+point
        {"名称": "番禺驿站", "经度": 113.3842, "纬度": 22.9376, "类型": "驿站", "编号": "R3",
         "车位数": "3", "律师值班时间": "周五"},  # fields of other layers kept in extra
    ]


@pytest.fixture
def filled(registry):
    df = pd.DataFrame(rich_rows(), dtype=object).fillna("").astype(str)
    report = validate_table(RawTable(df, filename="rich.csv", format="csv"), None, source="union")
    assert len(report.rejects) == 0, report.rejects
    registry.commit_import(report)
    return registry


def comparable(stations: gpd.GeoDataFrame) -> list[dict]:
    df = pd.DataFrame(stations.drop(columns=["geometry", "updated_at"])).sort_values("id")
    df = df.astype(object).where(df.notna(), None)
    return df.to_dict("records")


# --------------------------------------------------------------------------
# GeoJSON
# --------------------------------------------------------------------------


def test_geojson_is_rfc7946(filled):
    stations = filled.load()
    data = export.export_bytes(stations, "geojson")
    assert not data.startswith(b"\xef\xbb\xbf")  # RFC 8259: no byte order mark
    doc = json.loads(data.decode("utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc and "notice" not in doc and "coord_system" not in doc
    assert len(doc["features"]) == len(stations) == 5
    by_id = stations.set_index("id")
    for f in doc["features"]:
        assert f["type"] == "Feature" and "crs" not in f
        assert f["geometry"]["type"] == "Point"
        lon, lat = f["geometry"]["coordinates"]
        assert len(f["geometry"]["coordinates"]) == 2
        assert 109 < lon < 118 and 20 < lat < 26  # [lon, lat], not [lat, lon]
        p = f["properties"]
        assert f["id"] == p["id"]
        assert (lon, lat) == (by_id.at[p["id"], "lon"], by_id.at[p["id"], "lat"])
        assert set(p) == (set(FIELD_NAMES) - {"lon", "lat"}) | {"coord_system"}
        assert p["coord_system"] == "WGS-84"
        assert isinstance(p["facilities"], list) and isinstance(p["is_24h"], bool)
    props = {f["properties"]["source_id"]: f["properties"] for f in doc["features"]}
    assert props["D1"]["truck_parking_spaces"] == 12 and props["R1"]["truck_parking_spaces"] is None
    assert props["D1"]["facilities"] == ["drinking_water", "shower", "truck_parking"]  # vocabulary order
    assert props["R1"]["facilities_other"] == ["按摩椅", "足浴"]


def test_geojson_chinese_readable_not_escaped(filled):
    data = export.export_bytes(filled.load(), "geojson")
    text = data.decode("utf-8")  # strict: valid UTF-8
    assert "天河体育中心驿站" in text and "越秀司机之家" in text
    assert "\\u" not in text


def test_geojson_sample_notice(tmp_path):
    from geo.registry.store import open_store

    stations = open_store(tmp_path / "s.gpkg", seed_sample=True).load()
    doc = json.loads(export.to_geojson(stations))
    assert doc["notice"] == "示例数据 / sample data"
    assert all(f["properties"]["is_sample"] is True for f in doc["features"])


def test_one_geojson_writer_for_stations_and_other_frames(filled):
    from shapely.geometry import Polygon

    from geo.registry.io.writers import frame_to_geojson

    # Foreign members of a plan go into the stations' collection, before the features.
    text = export.to_geojson(filled.load(), members={"scenario": "方案A", "standard": {"meters": 500}})
    assert text.index('"scenario":"方案A"') < text.index('"features"')
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection" and doc["standard"] == {"meters": 500}
    assert len(doc["features"]) == len(filled.load())
    # Any frame: positions to 7 decimals, numpy values as JSON, NaN and inf as null, missing geometry as null.
    frame = gpd.GeoDataFrame(
        {"n": np.array([1, 2], dtype=np.int64), "share": [0.5, np.inf], "x": [np.nan, 1.25],
         "ok": np.array([True, False])},
        geometry=[Polygon([(113.123456789, 23.1), (113.2, 23.1), (113.2, 23.2)]), None], crs="EPSG:4326")
    doc = json.loads(frame_to_geojson(frame, members={"standard": {"kinds": ["rest_station"]}}))
    assert doc["standard"] == {"kinds": ["rest_station"]}
    first, second = doc["features"]
    assert [113.1234568, 23.1] in first["geometry"]["coordinates"][0]
    assert first["properties"] == {"n": 1, "share": 0.5, "x": None, "ok": True}
    assert second["geometry"] is None and second["properties"]["share"] is None


def test_empty_exports_are_valid(registry, tmp_path):
    empty = registry.load()
    assert json.loads(export.to_geojson(empty)) == {"type": "FeatureCollection", "features": []}
    rows = list(csv.reader(io.StringIO(export.export_bytes(empty, "csv").decode("utf-8-sig"))))
    assert len(rows) == 1 and rows[0][:2] == ["id", "name"]
    path = export.export_file(empty, tmp_path / "empty.gpkg")
    assert pyogrio.list_layers(path).shape[0] == 1


def test_unknown_format_and_crs_refused(filled, tmp_path):
    with pytest.raises(ValueError):
        export.export_bytes(filled.load(), "kml")
    with pytest.raises(ValueError):
        export.export_file(filled.load(), tmp_path / "x.kml")
    with pytest.raises(ValueError):
        export.to_geojson(filled.load(), crs="bd09")


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------


def test_csv_escapes_formula_cells(filled):
    data = export.export_bytes(filled.load(), "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    by_sid = {r["source_id"]: r for r in rows}
    for r in rows:
        for key, cell in r.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (key, cell)
    assert by_sid["R1"]["operator"] == "'=天河区总工会"
    assert by_sid["R1"]["phone"] == "'+86 20 1234"
    assert by_sid["R1"]["notes"] == "'@备注"
    assert by_sid["D1"]["phone"] == "'-020-5"
    evil = next(r for r in rows if r["source_id"] == "")
    assert evil["name"] == "'=HYPERLINK(\"http://evil\")"
    assert evil["phone"] == "0755"  # surrounding whitespace is trimmed on import
    assert evil["notes"] == "第一行\n第二行"
    # Plain text and numbers untouched.
    assert by_sid["R1"]["name"] == "天河体育中心驿站"
    assert float(by_sid["R1"]["lon"]) == TIANHE[0]
    assert by_sid["R1"]["facilities"] == "drinking_water;toilet"
    assert by_sid["R1"]["coord_system"] == "WGS-84"


def test_escape_formula_unit():
    from geo.registry.io.writers import escape_formula

    assert [escape_formula(v) for v in ("=1+2", "+1", "-1", "@x", "\tx", "\rx")] == \
        ["'=1+2", "'+1", "'-1", "'@x", "'\tx", "'\rx"]
    assert [escape_formula(v) for v in ("a=1", "", "1-2", -5, 3.5, None)] == ["a=1", "", "1-2", -5, 3.5, None]


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------


@pytest.mark.parametrize("region, expected", [
    ("440000", {"R1", "D1", "L1", "", "R3"}),
    ("440100", {"R1", "D1", "L1", "R3"}),
    ("440106", {"R1"}),
    ("440113", {"R3"}),   # 番禺区
    ("440300", {""}),
    ("440304", {""}),     # 福田区
    ("440500", set()),
])
def test_filter_by_region(filled, region, expected):
    got = export.filter_stations(filled.load(), region=region)
    assert set(got["source_id"]) == expected


def test_filter_by_kind_and_status(filled):
    st = filled.load()
    assert set(export.filter_stations(st, kinds=["rest_station"])["source_id"]) == {"R1", "", "R3"}
    assert set(export.filter_stations(st, kinds=["driver_home", "legal_aid"])["source_id"]) == {"D1", "L1"}
    assert set(export.filter_stations(st, statuses=["planned"])["source_id"]) == {"L1"}
    assert set(export.filter_stations(st, statuses=["open", "planned"])["source_id"]) == {"R1", "L1", "", "R3"}
    assert export.filter_stations(st, kinds=["driver_home"], region="440106").empty
    assert len(export.filter_stations(st)) == 5


@pytest.mark.parametrize("adcode, prefix", [("440000", "44"), ("440100", "4401"), ("440106", "440106"),
                                            (" 441900 ", "4419")])
def test_adcode_prefix(adcode, prefix):
    assert export.adcode_prefix(adcode) == prefix


@pytest.mark.parametrize("bad", ["4401", "44010x", "", "4401000"])
def test_adcode_prefix_rejects_bad_codes(bad):
    with pytest.raises(ValueError):
        export.adcode_prefix(bad)


# --------------------------------------------------------------------------
# GCJ-02
# --------------------------------------------------------------------------


def test_gcj02_geojson_shifted_and_marked(filled):
    stations = filled.load().set_index("id")
    doc = json.loads(export.to_geojson(filled.load(), crs="gcj02"))
    assert "crs" not in doc
    assert "GCJ-02" in doc["coord_system"] and "RFC 7946" in doc["coord_system"]
    for f in doc["features"]:
        assert f["properties"]["coord_system"] == "GCJ-02"
        lon, lat = f["geometry"]["coordinates"]
        d = haversine_m(lon, lat, stations.at[f["id"], "lon"], stations.at[f["id"], "lat"])
        assert 500 < d < 700, d


def test_gcj02_csv_and_gpkg_shifted_and_marked(filled, tmp_path):
    stations = filled.load().sort_values("id").reset_index(drop=True)
    table = export.to_table(stations, crs="gcj02")
    assert (table["coord_system"] == "GCJ-02").all()
    d = haversine_m(table["lon"], table["lat"], stations["lon"], stations["lat"])
    assert ((d > 500) & (d < 700)).all()
    path = export.export_file(stations, tmp_path / "gcj.gpkg", crs="gcj02")
    for kind in LAYERS:
        gdf = gpd.read_file(path, layer=kind, engine="pyogrio")
        assert (gdf["coord_system"] == "GCJ-02").all()
        ref = stations.set_index("id").loc[gdf["id"]]
        d = haversine_m(gdf.geometry.x, gdf.geometry.y, ref["lon"], ref["lat"])
        assert ((d > 500) & (d < 700)).all()


@pytest.mark.parametrize("fmt", ["geojson", "csv", "gpkg"])
def test_gcj02_export_reimports_to_the_right_place(filled, tmp_path, fmt):
    # The export says GCJ-02 in coord_system; reading it back must not take
    # the shifted positions for WGS-84.
    stations = filled.load()
    path = export.export_file(stations, tmp_path / f"stations_out.{fmt}", fmt=fmt, crs="gcj02")
    report = validate_table(read_table(path), None)
    assert report.crs_used == "gcj02"
    back = report.accepted.set_index("id")
    ref = stations.set_index("id").loc[back.index]
    assert haversine_m(back["lon"], back["lat"], ref["lon"], ref["lat"]).max() < 0.05


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv"])
def test_round_trip_without_loss(filled, tmp_path, fmt):
    original = filled.load()
    path = export.export_file(original, tmp_path / f"out.{fmt}", fmt=fmt)
    fresh = create_registry(tmp_path / "fresh.gpkg")
    report = validate_table(read_table(path), None)
    assert report.rows == 5 and len(report.rejects) == 0
    assert report.crs_used == "wgs84"
    assert fresh.commit_import(report) == {"inserted": 5, "updated": 0, "unchanged": 0}
    again = fresh.load()
    assert comparable(again) == comparable(original)
    # And exporting the copy gives the same file, apart from timestamps.
    if fmt == "geojson":
        a = json.loads(export.to_geojson(original))
        b = json.loads(export.to_geojson(again))
        for doc in (a, b):
            for f in doc["features"]:
                del f["properties"]["updated_at"]
        assert sorted(a["features"], key=lambda f: f["id"]) == sorted(b["features"], key=lambda f: f["id"])


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv"])
def test_reimporting_an_export_into_its_registry_changes_nothing(filled, tmp_path, fmt):
    before = comparable(filled.load())
    path = export.export_file(filled.load(), tmp_path / f"out.{fmt}", fmt=fmt)
    report = validate_table(read_table(path), None, existing=filled.load())
    assert filled.commit_import(report) == {"inserted": 0, "updated": 0, "unchanged": 5}
    assert comparable(filled.load()) == before


def test_round_trip_keeps_extra_and_other_layer_fields(filled, tmp_path):
    path = export.export_file(filled.load(), tmp_path / "out.csv")
    back = validate_table(read_table(path), None).accepted.set_index("source_id")
    assert json.loads(back.at["R1", "extra"]) == {"自定义字段": "保留我"}
    assert json.loads(back.at["R3", "extra"]) == {"truck_parking_spaces": "3", "lawyer_hours": "周五"}
    assert back.at["R1", "facilities_other"] == ["按摩椅", "足浴"]
    assert back.at["D1", "truck_parking_spaces"] == 12


def test_gpkg_export_layers(filled, tmp_path):
    path = export.export_file(filled.load(), tmp_path / "out.gpkg")
    layers = dict(pyogrio.list_layers(path))
    assert layers == {"rest_station": "Point", "driver_home": "Point", "legal_aid": "Point"}
    for kind in LAYERS:
        assert pyogrio.read_info(path, layer=kind)["crs"] == "EPSG:4326"
    rest = gpd.read_file(path, layer="rest_station", engine="pyogrio")
    assert len(rest) == 3 and "天河体育中心驿站" in set(rest["name"])
    only = export.filter_stations(filled.load(), kinds=["legal_aid"])
    path = export.export_file(only, tmp_path / "legal.gpkg")
    assert [name for name, _ in pyogrio.list_layers(path)] == ["legal_aid"]
    assert np.allclose(gpd.read_file(path, engine="pyogrio").geometry.x, [HAIZHU[0]])


# --------------------------------------------------------------------------
# Headers for people: labelled XLSX (and CSV on request)
# --------------------------------------------------------------------------


def _labels(lang: str) -> list[str]:
    from geo.core import i18n

    return [i18n.field_label(n, lang) for n in (*FIELD_NAMES, "coord_system")]


def _xlsx_sheet(data: bytes):
    import openpyxl

    return openpyxl.load_workbook(io.BytesIO(data)).active


@pytest.mark.parametrize("lang, first", [("zh", ["编号", "名称", "图层", "类型"]),
                                         ("en", ["ID", "Name", "Layer", "Type"])])
def test_xlsx_headers_are_labels_values_stay_codes(filled, lang, first):
    sheet = _xlsx_sheet(export.export_bytes(filled.load(), "xlsx", lang=lang))
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == _labels(lang) and rows[0][:4] == first
    assert ("经度(WGS-84)" if lang == "zh" else "Longitude (WGS-84)") in rows[0]
    assert rows[0][-1] == ("坐标系" if lang == "zh" else "Coordinate system")
    # The header row is bold and frozen for people ...
    assert all(c.font.b for c in sheet[1]) and sheet.freeze_panes == "A2"
    # ... and the values are the same codes a system reads.
    table = export.to_table(filled.load())
    assert len(rows) == len(table) + 1
    by_sid = {r[rows[0].index(_labels(lang)[FIELD_NAMES.index("source_id")])]: r for r in rows[1:]}
    col = dict(zip(FIELD_NAMES, _labels(lang)))
    d1 = by_sid["D1"]
    assert d1[rows[0].index(col["kind"])] == "driver_home"
    assert d1[rows[0].index(col["status"])] == "temporarily_closed"
    assert d1[rows[0].index(col["facilities"])] == "drinking_water;shower;truck_parking"
    assert d1[rows[0].index(col["truck_parking_spaces"])] == 12
    assert isinstance(d1[rows[0].index(col["lon"])], float)


def test_xlsx_default_is_chinese_and_labels_can_be_turned_off(filled):
    data = export.export_bytes(filled.load(), "xlsx")
    assert [c.value for c in _xlsx_sheet(data)[1]] == _labels("zh")
    plain = export.export_bytes(filled.load(), "xlsx", labels=False)
    assert [c.value for c in _xlsx_sheet(plain)[1]] == [*FIELD_NAMES, "coord_system"]
    # An unknown language falls back to Chinese, as everywhere in the app.
    fr = export.export_bytes(filled.load(), "xlsx", lang="fr")
    assert [c.value for c in _xlsx_sheet(fr)[1]] == _labels("zh")


def test_systems_formats_keep_canonical_names(filled, tmp_path):
    stations = filled.load()
    for lang in ("zh", "en"):
        rows = list(csv.reader(io.StringIO(export.export_bytes(stations, "csv", lang=lang).decode("utf-8-sig"))))
        assert rows[0] == [*FIELD_NAMES, "coord_system"]
        doc = json.loads(export.export_bytes(stations, "geojson", lang=lang))
        assert set(doc["features"][0]["properties"]) == (set(FIELD_NAMES) - {"lon", "lat"}) | {"coord_system"}
        path = export.export_file(stations, tmp_path / f"{lang}.gpkg", lang=lang)
        assert "source_id" in gpd.read_file(path, layer="rest_station", engine="pyogrio").columns
    assert list(export.to_table(stations).columns) == [*FIELD_NAMES, "coord_system"]
    assert list(export.to_table(stations, lang="en").columns) == _labels("en")


def test_labels_refused_for_geojson_and_gpkg(filled, tmp_path):
    for fmt in ("geojson", "gpkg"):
        with pytest.raises(ValueError):
            export.export_bytes(filled.load(), fmt, labels=True)
    with pytest.raises(ValueError):
        export.export_file(filled.load(), tmp_path / "x.gpkg", labels=True)
    assert not (tmp_path / "x.gpkg").exists()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_labelled_csv_on_request(filled, lang):
    data = export.export_bytes(filled.load(), "csv", lang=lang, labels=True)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == _labels(lang)
    name = _labels(lang)[FIELD_NAMES.index("name")]
    assert any(r[name] == "'=HYPERLINK(\"http://evil\")" for r in rows)  # still escaped


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_labelled_xlsx_escapes_formulas(filled, lang):
    sheet = _xlsx_sheet(export.export_bytes(filled.load(), "xlsx", lang=lang))
    cells = [c for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not [t for t in texts if t.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert {"'=天河区总工会", "'+86 20 1234", "'@备注", "'-020-5", "'=HYPERLINK(\"http://evil\")"} <= set(texts)


@pytest.mark.parametrize("fmt, lang, labels", [("xlsx", "zh", None), ("xlsx", "en", None),
                                               ("csv", "zh", True), ("csv", "en", True)])
def test_labelled_export_round_trips_without_loss(filled, tmp_path, fmt, lang, labels):
    original = filled.load()
    path = export.export_file(original, tmp_path / f"out_{lang}.{fmt}", lang=lang, labels=labels)
    raw = read_table(path)
    assert list(raw.df.columns) == [unicodedata_nfkc(h) for h in _labels(lang)]
    report = validate_table(raw, None)
    assert report.rows == 5 and len(report.rejects) == 0 and report.crs_used == "wgs84"
    # Every column is understood: a field, or derived again (nothing lands in extra).
    assert {k: v for k, v in report.mapping.items() if v} == {
        f: unicodedata_nfkc(h) for f, h in zip(FIELD_NAMES, _labels(lang)) if f in report.mapping}
    fresh = create_registry(tmp_path / "fresh.gpkg")
    assert fresh.commit_import(report) == {"inserted": 5, "updated": 0, "unchanged": 0}
    assert comparable(fresh.load()) == comparable(original)
    # Back into its own registry: nothing changes.
    again = validate_table(read_table(path), None, existing=filled.load())
    assert filled.commit_import(again) == {"inserted": 0, "updated": 0, "unchanged": 5}
    assert comparable(filled.load()) == comparable(original)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_labelled_xlsx_keeps_extra_sample_and_gcj02(tmp_path, lang):
    from geo.registry.store import open_store

    stations = open_store(tmp_path / "s.gpkg", seed_sample=True).load().head(20)
    path = export.export_file(stations, tmp_path / "sample.xlsx", lang=lang)
    back = validate_table(read_table(path), None).accepted
    assert len(back) == 20 and back["is_sample"].all()
    # GCJ-02: the labelled coord_system column (坐标系 / Coordinate system) is honoured.
    path = export.export_file(stations, tmp_path / "gcj.xlsx", lang=lang, crs="gcj02")
    report = validate_table(read_table(path), None)
    assert report.crs_used == "gcj02"
    back = report.accepted.set_index("id")
    ref = stations.set_index("id").loc[back.index]
    assert haversine_m(back["lon"], back["lat"], ref["lon"], ref["lat"]).max() < 0.05


def test_labelled_xlsx_keeps_extra_and_other_layer_fields(filled, tmp_path):
    path = export.export_file(filled.load(), tmp_path / "out.xlsx", lang="en")
    back = validate_table(read_table(path), None).accepted.set_index("source_id")
    assert json.loads(back.at["R1", "extra"]) == {"自定义字段": "保留我"}
    assert json.loads(back.at["R3", "extra"]) == {"truck_parking_spaces": "3", "lawyer_hours": "周五"}


def unicodedata_nfkc(text: str) -> str:
    """Headers as the reader gives them back (NFKC: full-width brackets become ASCII)."""
    import unicodedata

    return unicodedata.normalize("NFKC", text)
