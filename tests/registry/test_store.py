"""The GeoPackage registry: layers, edits, locking, transactions, import log."""
from __future__ import annotations

import hashlib
import sqlite3

import geopandas as gpd
import pandas as pd
import psycopg
import pyogrio
import pytest

from geo.registry.io.table import RawTable
from geo.core.schema import FIELD_NAMES
from geo.registry.store import create_registry, open_store
from geo.registry.store.base import ConflictError
from geo.registry.store.gpkg import GeoPackageStore
from geo.registry.validate import ValidationError, validate_table

from conftest import FUTIAN, HAIZHU, TIANHE, YUEXIU

LAYERS = ("rest_station", "driver_home", "legal_aid")


def report_of(rows: list[dict], kind=None, source="src", filename="stations.csv"):
    df = pd.DataFrame(rows, dtype=object).fillna("").astype(str)
    return validate_table(RawTable(df, filename=filename, format="csv"), kind, source=source)


def mixed_rows() -> list[dict]:
    return [
        {"名称": "天河驿站", "经度": TIANHE[0], "纬度": TIANHE[1], "类型": "暖蜂驿站", "编号": "R1",
         "设施": "饮用水、卫生间、按摩椅", "开放时间": "24小时"},
        {"名称": "越秀司机之家", "经度": YUEXIU[0], "纬度": YUEXIU[1], "类型": "司机之家", "编号": "D1",
         "车位数": "12", "状态": "暂停开放"},
        {"名称": "海珠法律服务站", "经度": HAIZHU[0], "纬度": HAIZHU[1], "类型": "法律援助工作站", "编号": "L1",
         "律师值班时间": "周三下午"},
        {"名称": "福田驿站", "经度": FUTIAN[0], "纬度": FUTIAN[1], "类型": "驿站", "编号": "R2"},
    ]


@pytest.fixture
def filled(registry):
    counts = registry.commit_import(report_of(mixed_rows()))
    assert counts == {"inserted": 4, "updated": 0, "unchanged": 0}
    return registry


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def records(store) -> list[dict]:
    """Every stored record, comparable: ids sorted, geometry as text."""
    stations = store.load().sort_values("id")
    df = pd.DataFrame(stations.drop(columns="geometry"))
    df["wkt"] = stations.geometry.to_wkt()
    return df.astype(object).where(df.notna(), None).to_dict("records")


# --------------------------------------------------------------------------
# Creating and opening
# --------------------------------------------------------------------------


@pytest.mark.gpkg_only
def test_create_gives_empty_registry_with_three_layers(registry):
    assert registry.path.exists()
    assert len(registry.load()) == 0
    assert list(registry.load().columns) == [*FIELD_NAMES, "geometry"]
    assert registry.import_log().empty
    layers = dict(pyogrio.list_layers(registry.path))
    assert {k: layers[k] for k in LAYERS} == {k: "Point" for k in LAYERS}
    assert "import_log" in layers  # pyogrio sees the log as an attribute table beside the layers
    # No temporary file left beside it.
    assert [p.name for p in registry.path.parent.iterdir() if p.name.startswith(".")] == []


def test_open_missing_path_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        GeoPackageStore(tmp_path / "nope.gpkg")


def test_open_store_creates_once_without_sample(tmp_path):
    path = tmp_path / "sub" / "reg.gpkg"
    store = open_store(path)
    assert path.exists() and len(store.load()) == 0
    store.commit_import(report_of(mixed_rows()))
    assert len(open_store(path).load()) == 4  # an existing registry is opened, not recreated


def test_open_store_seeded_with_sample(tmp_path):
    store = open_store(tmp_path / "seeded.gpkg", seed_sample=True)
    stations = store.load()
    assert len(stations) > 0 and stations["is_sample"].all()
    assert store.delete_sample() == len(stations)
    assert len(store.load()) == 0


@pytest.mark.gpkg_only
def test_file_is_a_geopackage_readable_by_pyogrio_and_geopandas(filled):
    path = filled.path
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # "GPKG"
    finally:
        conn.close()
    for kind in LAYERS:
        info = pyogrio.read_info(path, layer=kind)
        assert info["driver"] == "GPKG"
        assert info["geometry_type"] == "Point"
        assert info["crs"] == "EPSG:4326"
        gdf = gpd.read_file(path, layer=kind, engine="pyogrio")
        assert gdf.crs.to_epsg() == 4326
        assert (gdf["kind"] == kind).all()
        assert (gdf.geometry.x == gdf["lon"]).all() and (gdf.geometry.y == gdf["lat"]).all()
    rest = gpd.read_file(path, layer="rest_station", engine="pyogrio").set_index("source_id")
    assert rest.at["R1", "name"] == "天河驿站"
    assert (rest.at["R1", "geometry"].x, rest.at["R1", "geometry"].y) == TIANHE
    assert "truck_parking_spaces" in gpd.read_file(path, layer="driver_home", engine="pyogrio").columns
    assert "truck_parking_spaces" not in rest.columns
    # The extent in gpkg_contents covers the points.
    conn = sqlite3.connect(path)
    try:
        min_x, max_x = conn.execute(
            "SELECT min_x, max_x FROM gpkg_contents WHERE table_name = 'rest_station'").fetchone()
    finally:
        conn.close()
    assert (min_x, max_x) == (TIANHE[0], FUTIAN[0])


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def test_load_round_trips_types(filled):
    st = filled.load().set_index("source_id")
    assert st.crs.to_epsg() == 4326
    assert st.at["R1", "facilities"] == ["drinking_water", "toilet"]
    assert st.at["R1", "facilities_other"] == ["按摩椅"]
    assert bool(st.at["R1", "is_24h"]) is True and bool(st.at["R2", "is_24h"]) is False
    assert st.at["R1", "opening_hours_osm"] == "24/7"
    assert st.at["D1", "truck_parking_spaces"] == 12
    assert st.at["D1", "status"] == "temporarily_closed"
    assert st.at["L1", "lawyer_hours"] == "周三下午"
    assert st.at["R1", "version"] == 1 and st.at["R1", "updated_at"]
    assert st.at["R1", "district"] == "天河区" and st.at["R2", "city"] == "深圳市"


def test_load_filters(filled):
    assert sorted(filled.load(kinds=["rest_station"])["source_id"]) == ["R1", "R2"]
    assert sorted(filled.load(kinds=["driver_home", "legal_aid"])["source_id"]) == ["D1", "L1"]
    assert filled.load(statuses=["temporarily_closed"])["source_id"].tolist() == ["D1"]
    assert sorted(filled.load(statuses=["open"])["source_id"]) == ["L1", "R1", "R2"]
    assert len(filled.load(region="440000")) == 4
    assert sorted(filled.load(region="440100")["source_id"]) == ["D1", "L1", "R1"]
    assert filled.load(region="440106")["source_id"].tolist() == ["R1"]
    assert filled.load(region="440300")["source_id"].tolist() == ["R2"]
    assert filled.load(region="440106", kinds=["driver_home"]).empty
    with pytest.raises(ValueError):
        filled.load(region="4401")


def test_get(filled):
    rid = filled.load(kinds=["legal_aid"])["id"].iat[0]
    rec = filled.get(rid)
    assert rec["name"] == "海珠法律服务站" and rec["kind"] == "legal_aid"
    assert set(FIELD_NAMES) <= set(rec)
    assert filled.get("RS-0000000000") is None


# --------------------------------------------------------------------------
# Editing
# --------------------------------------------------------------------------


def test_add(registry):
    rec = registry.add({"name": "手录驿站", "kind": "rest_station", "lon": TIANHE[0], "lat": TIANHE[1],
                        "facilities": ["toilet"], "phone": "020-5"})
    assert rec["version"] == 1 and rec["source"] == "app" and rec["district"] == "天河区"
    assert registry.get(rec["id"])["phone"] == "020-5"
    with pytest.raises(ValidationError):
        registry.add({"name": "手录驿站", "kind": "rest_station", "lon": TIANHE[0], "lat": TIANHE[1]})
    with pytest.raises(ValidationError):
        registry.add({"name": "北京驿站", "kind": "rest_station", "lon": 116.4, "lat": 39.9})
    assert len(registry.load()) == 1


def test_update_persists_across_reopen(filled):
    rid = filled.load(kinds=["driver_home"])["id"].iat[0]
    rec = filled.update(rid, {"phone": "020-7777", "truck_parking_spaces": 20, "facilities": ["shower", "toilet"],
                              "lon": TIANHE[0], "lat": TIANHE[1]}, expected_version=1)
    assert rec["version"] == 2
    again = open_store(filled.location).get(rid)
    assert again["phone"] == "020-7777"
    assert again["truck_parking_spaces"] == 20
    assert again["facilities"] == ["toilet", "shower"]
    rec = filled.update(rid, {"facilities_other": ["儿童休息区", "按摩椅"]})
    assert open_store(filled.location).get(rid)["facilities_other"] == ["儿童休息区", "按摩椅"]
    again = open_store(filled.location).get(rid)
    assert (again["lon"], again["lat"]) == TIANHE and again["district"] == "天河区"  # re-located
    assert again["id"] == rid and again["version"] == 3
    assert again["source_id"] == "D1" and again["name"] == "越秀司机之家"  # untouched fields kept
    # The geometry moved too: as GDAL reads the file, or in the PostGIS geometry column itself.
    if isinstance(filled, GeoPackageStore):
        gdf = gpd.read_file(filled.path, layer="driver_home", engine="pyogrio")
        moved = (gdf.geometry.x.iat[0], gdf.geometry.y.iat[0])
    else:
        with psycopg.connect(filled.url) as conn:
            moved = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE id = %s", (rid,)).fetchone()
    assert tuple(moved) == TIANHE


def test_update_cannot_change_identity_or_break_rules(filled):
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    rec = filled.update(rid, {"id": "RS-ffffffffff", "kind": "legal_aid", "name": "新名字驿站"})
    assert rec["id"] == rid and rec["kind"] == "rest_station"
    with pytest.raises(ValidationError):
        filled.update(rid, {"lon": 116.4, "lat": 39.9})
    with pytest.raises(ValidationError):
        filled.update(rid, {"status": "demolished"})
    with pytest.raises(ValidationError):
        filled.update("RS-0000000000", {"phone": "1"})
    assert filled.get(rid)["version"] == 2


def test_set_status_and_delete_sample(filled):
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    rec = filled.set_status(rid, "closed", expected_version=1)
    assert rec["status"] == "closed" and rec["version"] == 2
    assert filled.load(statuses=["closed"])["id"].tolist() == [rid]
    assert filled.delete_sample() == 0  # no sample stations among real ones
    assert len(filled.load()) == 4


def test_optimistic_locking(filled):
    rid = filled.load(kinds=["legal_aid"])["id"].iat[0]
    opened = filled.get(rid)["version"]
    filled.update(rid, {"phone": "first"}, expected_version=opened)  # someone else saves first
    before = filled.get(rid)
    with pytest.raises(ConflictError) as exc:
        filled.update(rid, {"phone": "second"}, expected_version=opened)
    assert exc.value.current["phone"] == "first" and exc.value.current["version"] == opened + 1
    assert exc.value.attempted["phone"] == "second"
    assert "已被他人修改" in str(exc.value) and "reload" in str(exc.value)
    assert filled.get(rid) == before
    with pytest.raises(ConflictError):
        filled.set_status(rid, "closed", expected_version=opened)
    # With the fresh version the save goes through.
    assert filled.update(rid, {"phone": "second"}, expected_version=opened + 1)["version"] == opened + 2


def test_update_losing_the_race_inside_the_transaction(filled, monkeypatch):
    # The version check before the write passes, but another writer commits
    # in between: the guarded UPDATE matches nothing and must raise.
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    other = open_store(filled.location)
    real_get = type(filled).get
    calls = {"n": 0}

    def get_then_race(self, station_id):
        rec = real_get(self, station_id)
        calls["n"] += 1
        if calls["n"] == 1:
            other.update(station_id, {"phone": "winner"})
        return rec

    monkeypatch.setattr(type(filled), "get", get_then_race)
    with pytest.raises(ConflictError):
        filled.update(rid, {"phone": "loser"}, expected_version=1)
    monkeypatch.undo()
    assert filled.get(rid)["phone"] == "winner"


# --------------------------------------------------------------------------
# Transactions
# --------------------------------------------------------------------------


def _bigger_report():
    rows = mixed_rows()
    rows[0]["电话"] = "changed"                      # an update
    rows += [{"名称": f"新驿站{i}", "经度": 113.20 + i * 0.002, "纬度": 23.05 + i * 0.001, "类型": "驿站",
              "编号": f"N{i}"} for i in range(25)]  # many inserts
    return report_of(rows)


@pytest.mark.gpkg_only
def test_failed_import_leaves_registry_byte_for_byte(filled):
    before_bytes, before_records = digest(filled.path), records(filled)
    before_log = filled.import_log()
    report = _bigger_report()
    # An unbindable value in a late row: the write fails after many rows went in.
    late = report.accepted.index[-2]
    report.accepted.at[late, "facilities"] = 5
    with pytest.raises(TypeError):
        filled.commit_import(report)
    assert digest(filled.path) == before_bytes
    assert records(filled) == before_records
    pd.testing.assert_frame_equal(filled.import_log(), before_log)
    # No journal or temporary file left behind.
    assert sorted(p.name for p in filled.path.parent.iterdir()) == [filled.path.name]


@pytest.mark.gpkg_only
def test_insert_raising_after_n_rows_rolls_back(filled, monkeypatch):
    before_bytes, before_records = digest(filled.path), records(filled)
    real_insert = GeoPackageStore._insert
    done = {"n": 0}

    def insert_then_fail(self, conn, rec):
        if done["n"] == 10:
            raise RuntimeError("disk on fire")
        real_insert(self, conn, rec)
        done["n"] += 1

    monkeypatch.setattr(GeoPackageStore, "_insert", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        filled.commit_import(_bigger_report())
    assert done["n"] == 10  # ten rows really were written inside the transaction
    assert digest(filled.path) == before_bytes
    assert records(filled) == before_records
    assert len(filled.import_log()) == 1

    monkeypatch.undo()
    counts = filled.commit_import(_bigger_report())
    assert counts == {"inserted": 25, "updated": 1, "unchanged": 3}
    assert len(filled.load()) == 29


@pytest.mark.gpkg_only
def test_interrupt_also_rolls_back(filled, monkeypatch):
    before = digest(filled.path)

    def interrupted(self, conn, rec):
        raise KeyboardInterrupt

    monkeypatch.setattr(GeoPackageStore, "_insert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        filled.commit_import(_bigger_report())
    assert digest(filled.path) == before


@pytest.mark.gpkg_only
def test_failed_edit_leaves_registry_unchanged(filled, monkeypatch):
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    before = digest(filled.path)

    def touch_fails(conn):
        raise sqlite3.OperationalError("no space left")

    monkeypatch.setattr(GeoPackageStore, "_touch", staticmethod(touch_fails))
    with pytest.raises(sqlite3.OperationalError):
        filled.update(rid, {"phone": "never stored"})
    assert digest(filled.path) == before
    monkeypatch.undo()
    assert filled.get(rid)["phone"] == ""


def test_create_registry_failure_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "new.gpkg"

    def boom(self, report):
        raise RuntimeError("seed failed")

    monkeypatch.setattr(GeoPackageStore, "commit_import", boom)
    from geo import settings

    with pytest.raises(RuntimeError):
        create_registry(target, settings.SAMPLE_PATH)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# Import log
# --------------------------------------------------------------------------


def test_import_log_rows(registry):
    rows = mixed_rows() + [{"名称": "坏行", "经度": "x", "纬度": "y"}]
    first = report_of(rows, filename="第一批.csv")
    registry.commit_import(first)
    second = report_of(mixed_rows()[:2] + [{"名称": "新增驿站", "经度": 113.35, "纬度": 23.12, "类型": "驿站"}],
                       filename="第二批.csv")
    registry.commit_import(second)
    log = registry.import_log()
    assert len(log) == 2
    newest, oldest = log.iloc[0], log.iloc[1]  # newest first
    assert newest["filename"] == "第二批.csv" and oldest["filename"] == "第一批.csv"
    assert oldest[["rows", "accepted", "rejected", "inserted", "updated", "unchanged"]].tolist() == [5, 4, 1, 4, 0, 0]
    assert newest[["rows", "accepted", "rejected", "inserted", "updated", "unchanged"]].tolist() == [3, 3, 0, 1, 0, 2]
    assert oldest["source"] == "src" and oldest["format"] == "csv" and oldest["crs_used"] == "wgs84"
    assert oldest["kind"] == "auto"
    assert oldest["warnings"] == len(first.warnings)
    assert pd.Timestamp(newest["at"]) >= pd.Timestamp(oldest["at"])


def test_create_registry_never_overwrites(tmp_path):
    from geo.registry.store import create_registry

    path = tmp_path / "r.gpkg"
    create_registry(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="not overwritten"):
        create_registry(path)
    assert path.read_bytes() == before


def test_add_refuses_a_same_named_station_nearby(tmp_path):
    from geo.registry.store import create_registry
    from geo.registry.validate import ValidationError

    store = create_registry(tmp_path / "r.gpkg")
    store.add({"name": "体育西驿站", "kind": "rest_station", "lon": 113.3245, "lat": 23.1370})
    with pytest.raises(ValidationError, match="same name"):
        store.add({"name": "体育西驿站", "kind": "rest_station", "lon": 113.3247, "lat": 23.1371})
    # Far enough away, it is another station of the same chain.
    store.add({"name": "体育西驿站", "kind": "rest_station", "lon": 113.3345, "lat": 23.1370})
    assert len(store.load()) == 2


# --------------------------------------------------------------------------
# Text length limits hold for edits too (issue 11, section 2)
# --------------------------------------------------------------------------


def test_add_and_update_refuse_text_over_its_limit(filled, monkeypatch):
    from geo import settings

    with pytest.raises(ValidationError) as exc:
        filled.add({"name": "驿" * 201, "kind": "rest_station", "lon": 113.40, "lat": 23.20})
    assert "200" in str(exc.value) and "超过上限" in str(exc.value) and "limit" in str(exc.value)
    assert len(filled.load()) == 4
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    before = filled.get(rid)
    for changes in ({"notes": "注" * 2001}, {"address": "路" * 501}, {"name": "驿" * 201},
                    {"facilities_other": ["按摩椅" * 700]}, {"phone": "1" * 101}):
        with pytest.raises(ValidationError) as exc:
            filled.update(rid, changes, expected_version=before["version"])
        assert "/" in str(exc.value) and "characters" in str(exc.value)
    assert filled.get(rid) == before and len(filled.history(rid)) == 1  # nothing stored, nothing audited
    # At the limit it is stored whole, and the limit is a setting.
    assert filled.update(rid, {"notes": "注" * 2000})["notes"] == "注" * 2000
    monkeypatch.setitem(settings.TEXT_MAX_CHARS, "notes", 10)
    with pytest.raises(ValidationError):
        filled.update(rid, {"phone": "020-1"})  # the stored notes are now over the (lowered) limit


def test_an_imported_station_can_be_saved_again_under_the_same_limits(registry):
    # Everything the import adds to a field (a status it did not understand to
    # the notes, unknown facility words to facilities_other, unmapped columns
    # to extra) counts against that field's limit, so no accepted station is
    # refused on its next edit.
    from geo import settings

    notes = "注" * (settings.TEXT_MAX_CHARS["notes"] - 10)
    rows = [{"名称": "甲驿站", "经度": TIANHE[0], "纬度": TIANHE[1], "备注": notes, "状态": "看情况而定"},
            {"名称": "乙驿站", "经度": YUEXIU[0], "纬度": YUEXIU[1], "备注": "短",
             "状态": "看情况" * 3}]
    report = report_of(rows, kind="rest_station")
    assert report.rejects["reason_code"].tolist() == ["text_too_long"]  # 甲: notes + status over 2,000
    registry.commit_import(report)
    rid = registry.load()["id"].iat[0]
    assert registry.update(rid, {"phone": "020-1"})["version"] == 2
