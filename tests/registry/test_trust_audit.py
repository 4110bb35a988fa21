"""Trust: every change is audited in the same transaction; history and restore."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from geo.registry.io.table import RawTable
from geo.registry.store import create_registry
from geo.registry.store.base import AUDIT_ACTIONS, ConflictError
from geo.registry.store.gpkg import GeoPackageStore
from geo.registry.validate import ValidationError, validate_table

from conftest import FUTIAN, HAIZHU, ROOT, TIANHE, YUEXIU


def report_of(rows: list[dict], source="src", filename="stations.csv"):
    df = pd.DataFrame(rows, dtype=object).fillna("").astype(str)
    return validate_table(RawTable(df, filename=filename, format="csv"), None, source=source)


def rows() -> list[dict]:
    return [
        {"名称": "天河驿站", "经度": TIANHE[0], "纬度": TIANHE[1], "类型": "暖蜂驿站", "编号": "R1", "电话": "1"},
        {"名称": "越秀司机之家", "经度": YUEXIU[0], "纬度": YUEXIU[1], "类型": "司机之家", "编号": "D1", "车位数": "12"},
        {"名称": "海珠法律服务站", "经度": HAIZHU[0], "纬度": HAIZHU[1], "类型": "法律援助工作站", "编号": "L1"},
    ]


def audit_rows(store) -> list[dict]:
    """Every audit row, oldest first, as stored (``before``/``after`` JSON text), from either backend."""
    log = store.audit_log(limit=None).iloc[::-1]
    return log.astype(object).where(log.notna(), None).to_dict("records")


@pytest.fixture
def filled(registry):
    registry.commit_import(report_of(rows()), editor="王五")
    return registry


@pytest.mark.gpkg_only
def test_audit_log_is_a_registered_attribute_table(registry):
    conn = sqlite3.connect(registry.path)
    try:
        kind = conn.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'audit_log'").fetchone()
    finally:
        conn.close()
    assert kind == ("attributes",)
    # GDAL sees it as a table without geometry, beside the three point layers.
    layers = dict(pyogrio.list_layers(registry.path))
    assert "audit_log" in layers and layers["audit_log"] in (None, "")


def test_import_is_audited_with_editor_time_and_import_id(filled):
    audit = audit_rows(filled)
    assert [a["action"] for a in audit] == ["import"] * 3
    assert {a["editor"] for a in audit} == {"王五"}
    log_id = int(filled.import_log()["fid"].iat[0])
    assert {a["import_id"] for a in audit} == {log_id}
    for a in audit:
        at = datetime.fromisoformat(a["at"])
        assert at.utcoffset().total_seconds() == 0
        assert abs((datetime.now(timezone.utc) - at).total_seconds()) < 120
        assert a["before"] is None
        assert json.loads(a["after"]) == filled.get(a["station_id"])  # the full stored record
        assert a["version"] == 1


def test_reimport_audits_only_changed_stations(filled):
    changed = rows()
    changed[0]["电话"] = "020-9999"
    counts = filled.commit_import(report_of(changed), editor="cli")
    assert counts == {"inserted": 0, "updated": 1, "unchanged": 2}
    audit = audit_rows(filled)
    assert len(audit) == 4
    last = audit[-1]
    assert last["editor"] == "cli" and last["action"] == "import" and last["version"] == 2
    before, after = json.loads(last["before"]), json.loads(last["after"])
    assert before["phone"] == "1" and after["phone"] == "020-9999"
    assert after == filled.get(last["station_id"])
    log = filled.import_log()
    assert last["import_id"] == int(log["fid"].iat[0])
    assert log[["inserted", "updated", "unchanged"]].iloc[0].tolist() == [0, 1, 2]


def test_every_kind_of_change_is_audited(filled):
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    v1 = filled.get(rid)
    filled.update(rid, {"phone": "020-1"}, expected_version=1, editor="张三")
    v2 = filled.get(rid)
    filled.set_status(rid, "temporarily_closed", editor="李四")
    v3 = filled.get(rid)
    added = filled.add({"name": "福田驿站", "kind": "rest_station", "lon": FUTIAN[0], "lat": FUTIAN[1]})
    hist = filled.history(rid)
    assert hist["action"].tolist() == ["set_status", "update", "import"]
    assert hist["editor"].tolist() == ["李四", "张三", "王五"]
    assert hist["version"].tolist() == [3, 2, 1]
    assert hist["after"].tolist() == [v3, v2, v1]
    assert hist["before"].tolist() == [v2, v1, None]
    assert hist["changed"].iat[0] == ["status"] and hist["changed"].iat[1] == ["phone"]
    assert hist["audit_id"].is_monotonic_decreasing
    add_hist = filled.history(added["id"])
    assert add_hist["action"].tolist() == ["add"] and add_hist["editor"].tolist() == ["app"]
    assert set(filled.audit_log()["action"]) <= set(AUDIT_ACTIONS)
    assert filled.history("RS-0000000000").empty


def test_delete_sample_is_audited_and_restorable(registry):
    sample = rows()
    for r in sample:
        r["is_sample"] = "true"
    registry.commit_import(report_of(sample))
    before = {sid: registry.get(sid) for sid in registry.load()["id"]}
    assert registry.delete_sample(editor="管理员") == 3
    assert len(registry.load()) == 0
    for sid, rec in before.items():
        hist = registry.history(sid)
        assert hist["action"].iat[0] == "delete_sample" and hist["editor"].iat[0] == "管理员"
        assert hist["before"].iat[0] == rec and hist["after"].iat[0] is None
        assert pd.isna(hist["version"].iat[0])
    # Undo the removal of one station: it comes back as a new version.
    sid = next(iter(before))
    back = registry.restore(sid, int(registry.history(sid)["audit_id"].iat[0]), editor="管理员")
    assert back["version"] == 2
    assert {k: v for k, v in back.items() if k not in ("version", "updated_at")} == \
        {k: v for k, v in before[sid].items() if k not in ("version", "updated_at")}
    assert registry.get(sid) == back
    assert registry.history(sid)["action"].iat[0] == "restore"


def test_restore_an_earlier_version(filled):
    rid = filled.load(kinds=["driver_home"])["id"].iat[0]
    original = filled.get(rid)
    filled.update(rid, {"phone": "020-1", "truck_parking_spaces": 30}, editor="张三")
    filled.update(rid, {"name": "越秀司机之家（新）", "lon": TIANHE[0], "lat": TIANHE[1]}, editor="张三")
    first = int(filled.history(rid)["audit_id"].iat[-1])  # the import: version 1
    rec = filled.restore(rid, first, editor="李四", expected_version=3)
    now = filled.get(rid)
    assert rec == now and now["version"] == 4
    assert {k: v for k, v in now.items() if k not in ("version", "updated_at")} == \
        {k: v for k, v in original.items() if k not in ("version", "updated_at")}
    hist = filled.history(rid)
    assert hist["action"].iat[0] == "restore" and hist["editor"].iat[0] == "李四"
    assert hist["before"].iat[0]["name"] == "越秀司机之家（新）" and hist["after"].iat[0] == now
    assert set(hist["changed"].iat[0]) >= {"name", "phone", "truck_parking_spaces", "lon", "lat", "district"}
    # Restoring the version it already has writes nothing.
    n = len(hist)
    assert filled.restore(rid, first) == now
    assert len(filled.history(rid)) == n


def test_restore_refuses_stale_version_and_foreign_entries(filled):
    rid, other = filled.load(kinds=["rest_station", "legal_aid"])["id"].tolist()[:2]
    filled.update(rid, {"phone": "2"})
    first = int(filled.history(rid)["audit_id"].iat[-1])
    with pytest.raises(ConflictError) as exc:
        filled.restore(rid, first, expected_version=1)
    assert exc.value.current["version"] == 2 and exc.value.attempted["phone"] == "1"
    with pytest.raises(ValidationError):
        filled.restore(other, first)  # an entry of another station
    with pytest.raises(ValidationError):
        filled.restore(rid, 10_000)
    assert filled.get(rid)["phone"] == "2" and filled.get(rid)["version"] == 2


@pytest.mark.gpkg_only
def test_change_and_audit_commit_together(filled, monkeypatch):
    # If writing the audit row fails, the change itself is rolled back.
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    before, n = filled.get(rid), len(audit_rows(filled))

    def broken(*_args, **_kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(GeoPackageStore, "_audit", staticmethod(broken))
    with pytest.raises(sqlite3.OperationalError):
        filled.update(rid, {"phone": "lost"})
    with pytest.raises(sqlite3.OperationalError):
        filled.commit_import(report_of([{**rows()[0], "编号": "R9", "名称": "新驿站"}]))
    monkeypatch.undo()
    assert filled.get(rid) == before
    assert len(audit_rows(filled)) == n
    assert len(filled.import_log()) == 1 and len(filled.load()) == 3


def test_failed_change_leaves_no_audit_row(filled):
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    n = len(audit_rows(filled))
    with pytest.raises(ValidationError):
        filled.update(rid, {"lon": 116.4, "lat": 39.9})
    with pytest.raises(ConflictError):
        filled.update(rid, {"phone": "x"}, expected_version=7)
    with pytest.raises(ValidationError):
        filled.update(rid, {"phone": "x"}, editor="   ")
    assert len(audit_rows(filled)) == n


def test_old_registry_without_audit_log_is_upgraded(tmp_path):
    path = tmp_path / "old.gpkg"
    create_registry(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE audit_log")
    conn.execute("DELETE FROM gpkg_contents WHERE table_name = 'audit_log'")
    conn.commit()
    conn.close()
    store = GeoPackageStore(path)
    store.commit_import(report_of(rows()))
    assert len(store.audit_log()) == 3
    assert GeoPackageStore(path).audit_log(limit=1)["action"].tolist() == ["import"]


def test_cli_import_is_audited_as_cli(tmp_path):
    from geo.cli.main import main

    csv = tmp_path / "s.csv"
    pd.DataFrame(rows()).to_csv(csv, index=False)
    reg = tmp_path / "r.gpkg"
    assert main(["import", str(csv), "--registry", str(reg)]) == 0
    assert main(["import", str(csv), "--registry", str(reg), "--editor", "赵六"]) == 0  # unchanged: no rows
    assert set(GeoPackageStore(reg).audit_log()["editor"]) == {"cli"}


def test_data_page_shows_history_and_restores(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    reg = create_registry(tmp_path / "page.gpkg")
    reg.commit_import(report_of(rows()))
    sid = reg.load()["id"].iat[0]
    reg.update(sid, {"phone": "020-edited"}, editor="张三")
    monkeypatch.setenv("GEO_REGISTRY", str(reg.path))
    # Editing needs a logged-in editor (geo/registry/auth.py): one account in tmp, already logged in.
    from geo.registry.auth.accounts import add_user, load_accounts
    from geo.registry.auth.sessions import start_session

    monkeypatch.setenv("GEO_ACCOUNTS", str(tmp_path / "accounts" / "accounts.toml"))
    add_user("李四", "a long enough password")
    page = AppTest.from_file(str(ROOT / "pages" / "1_数据_Data.py"),
                             default_timeout=60)
    page.session_state["editor_session"] = start_session("李四", load_accounts())
    page.run()
    assert not page.exception
    pick = next(s for s in page.selectbox if s.key and s.key.startswith("ed_pick"))
    pick.set_value(sid).run()
    history = next(s for s in page.selectbox if s.key and s.key.startswith("ed:hist:"))
    first = int(reg.history(sid)["audit_id"].iat[-1])
    history.set_value(first).run()
    assert any("020-edited" in df.value.to_string() for df in page.dataframe)  # the difference is shown
    restore = next(b for b in page.button if b.key and b.key.startswith("ed:restore:"))
    assert restore.disabled  # not before the confirmation
    next(c for c in page.checkbox if c.key and c.key.startswith("ed:hist_sure:")).check().run()
    next(b for b in page.button if b.key and b.key.startswith("ed:restore:")).click().run()
    assert not page.exception
    now = reg.get(sid)
    assert now["phone"] == "1" and now["version"] == 3
    assert reg.history(sid)["action"].iat[0] == "restore"
    assert reg.history(sid)["editor"].iat[0] == "李四"
    assert any("3" in s.value for s in page.success)
