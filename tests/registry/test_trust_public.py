"""Trust: a non-public station's phone and exact address never leave through public exports."""
from __future__ import annotations

import csv
import io
import json
import sqlite3

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest

from geo.registry import export
from geo.cli.main import main
from geo.registry.io.readers import read_table
from geo.registry.io.table import RawTable
from geo.registry.store import create_registry
from geo.registry.store.gpkg import GeoPackageStore
from geo.registry.validate import validate_table

from conftest import FUTIAN, HAIZHU, TIANHE, YUEXIU

SECRET_PHONE, SECRET_ADDRESS, SECRET_NOTE = "13800001111", "广州市天河区体育西路 191 号 12 楼", "联系人 王五"


def _rows() -> list[dict]:
    return [
        {"名称": "天河内部驿站", "经度": TIANHE[0], "纬度": TIANHE[1], "类型": "驿站", "编号": "P1",
         "电话": SECRET_PHONE, "地址": SECRET_ADDRESS, "备注": SECRET_NOTE, "联系人": "王五", "是否公开": "否"},
        {"名称": "越秀驿站", "经度": YUEXIU[0], "纬度": YUEXIU[1], "类型": "驿站", "编号": "P2",
         "电话": "020-1", "地址": "广州市越秀区北京路", "是否公开": "是"},
        {"名称": "海珠驿站", "经度": HAIZHU[0], "纬度": HAIZHU[1], "类型": "驿站", "编号": "P3",
         "电话": "020-2", "地址": "广州市海珠区", "是否公开": ""},
        {"名称": "福田内部法律站", "经度": FUTIAN[0], "纬度": FUTIAN[1], "类型": "法律援助工作站", "编号": "P4",
         "电话": "0755-9", "地址": "深圳市福田区某大厦", "是否公开": "仅内部"},
    ]


@pytest.fixture
def mixed(registry):
    df = pd.DataFrame(_rows(), dtype=object).astype(str)
    report = validate_table(RawTable(df, filename="p.csv", format="csv"), None, source="p")
    assert len(report.rejects) == 0
    registry.commit_import(report)
    return registry


def _private_ids(store) -> set:
    stations = store.load()
    return set(stations.loc[~stations["public"], "id"])


def test_public_flag_is_read_stored_and_defaults_to_true(mixed):
    stations = mixed.load().set_index("source_id")
    assert stations["public"].to_dict() == {"P1": False, "P2": True, "P3": True, "P4": False}
    assert stations["public"].dtype == bool
    assert mixed.get(stations.at["P1", "id"])["phone"] == SECRET_PHONE  # the registry itself keeps it


def _leaks(blob: str) -> list[str]:
    return [s for s in (SECRET_PHONE, SECRET_ADDRESS, SECRET_NOTE, "王五", "0755-9", "某大厦") if s in blob]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson", "gpkg"])
def test_public_exports_leave_private_details_out(mixed, tmp_path, fmt):
    stations = mixed.load()
    data = export.export_bytes(stations, fmt)  # the default: what the app's buttons hand out
    if fmt == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(data))
        blob = json.dumps([[c.value for c in r] for r in book.active.iter_rows()], ensure_ascii=False)
    elif fmt == "gpkg":
        path = tmp_path / "x.gpkg"
        path.write_bytes(data)
        frames = [gpd.read_file(path, layer=k, engine="pyogrio") for k in ("rest_station", "legal_aid")]
        blob = pd.concat([pd.DataFrame(f.drop(columns="geometry")) for f in frames], ignore_index=True).to_json(force_ascii=False)
    else:
        blob = data.decode("utf-8-sig")
    assert _leaks(blob) == []
    # Public stations and the non-public ones' position and name are all there.
    for text in ("020-1", "广州市越秀区北京路", "天河内部驿站", "福田内部法律站"):
        assert text in blob
    assert "广州市天河区" in blob  # the coarse address: city and district


def test_redacted_table_rows(mixed):
    table = export.to_table(mixed.load()).set_index("source_id")
    assert table.loc["P1", ["phone", "address", "notes", "extra"]].tolist() == ["", "广州市天河区", "", ""]
    assert table.loc["P4", "address"] == "深圳市福田区"
    assert table.loc["P2", ["phone", "address"]].tolist() == ["020-1", "广州市越秀区北京路"]
    assert table["public"].tolist().count(False) == 2


def test_editors_can_include_private_details(mixed, tmp_path, capsys):
    full = export.export_bytes(mixed.load(), "csv", public_only=False).decode("utf-8-sig")
    assert SECRET_PHONE in full and SECRET_ADDRESS in full
    out = tmp_path / "all.csv"
    assert main(["export", "--format", "csv", "--out", str(out), "--registry", mixed.location,
                 "--include-private"]) == 0
    assert SECRET_PHONE in out.read_text(encoding="utf-8-sig")
    out = tmp_path / "public.csv"
    assert main(["export", "--format", "csv", "--out", str(out), "--registry", mixed.location]) == 0
    assert _leaks(out.read_text(encoding="utf-8-sig")) == []


def test_private_export_round_trips_the_flag(mixed, tmp_path):
    path = export.export_file(mixed.load(), tmp_path / "all.csv", public_only=False)
    fresh = create_registry(tmp_path / "fresh.gpkg")
    fresh.commit_import(validate_table(read_table(path), None))
    assert _private_ids(fresh) == _private_ids(mixed)
    assert {r["phone"] for r in map(fresh.get, _private_ids(fresh))} == {SECRET_PHONE, "0755-9"}


def test_reimporting_a_public_export_does_not_wipe_private_details(mixed, tmp_path):
    before = {sid: mixed.get(sid) for sid in mixed.load()["id"]}
    path = export.export_file(mixed.load(), tmp_path / "public.csv")
    report = validate_table(read_table(path), None, existing=mixed.load())
    assert mixed.commit_import(report) == {"inserted": 0, "updated": 0, "unchanged": 4}
    assert {sid: mixed.get(sid) for sid in before} == before


def test_editor_can_make_a_station_private_and_back(mixed):
    sid = mixed.load().set_index("source_id").at["P2", "id"]
    rec = mixed.update(sid, {"public": False}, editor="张三")
    assert rec["public"] is False and mixed.get(sid)["public"] is False
    assert "020-1" not in export.export_bytes(mixed.load(), "csv").decode("utf-8-sig")
    assert mixed.history(sid)["changed"].iat[0] == ["public"]
    mixed.update(sid, {"public": True})
    assert "020-1" in export.export_bytes(mixed.load(), "csv").decode("utf-8-sig")


def test_old_registry_gains_the_column_with_every_station_public(tmp_path):
    path = tmp_path / "old.gpkg"
    store = create_registry(path)
    df = pd.DataFrame(_rows(), dtype=object).astype(str).drop(columns="是否公开")
    store.commit_import(validate_table(RawTable(df, filename="p.csv", format="csv"), None, source="p"))
    conn = sqlite3.connect(path)
    for kind in ("rest_station", "driver_home", "legal_aid"):
        conn.execute(f'ALTER TABLE "{kind}" DROP COLUMN public')
    conn.commit()
    conn.close()
    upgraded = GeoPackageStore(path)
    assert upgraded.load()["public"].tolist() == [True] * 4
    conn = sqlite3.connect(path)
    assert "public" in {r[1] for r in conn.execute('PRAGMA table_info("rest_station")')}
    conn.close()


def test_frames_without_the_column_are_public():
    frame = gpd.GeoDataFrame({"id": ["RS-1"], "phone": ["1"], "address": ["a"]}, geometry=gpd.points_from_xy([1], [2]))
    assert export.redact_private(frame)["phone"].tolist() == ["1"]
    frame["public"] = [None]
    assert export.redact_private(frame)["public"].tolist() == [True]
