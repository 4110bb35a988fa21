"""Workers' station reports in the registry: rules, limits, the keyed hash, decisions, persistence, export.

Every test works on a real GeoPackage registry under ``tmp_path``.
"""
from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geo.registry import reports as R
from geo.registry.backup import backup_registry, restore_registry
from geo.registry.io.table import RawTable
from geo.registry.store import create_registry
from geo.registry.store import gpkg_reports, pg_reports
from geo.registry.store.base import AUDIT_ACTIONS, ConflictError
from geo.registry.store.gpkg import GeoPackageStore
from geo.registry.validate import ValidationError, validate_table

from conftest import ROOT

STATIONS = [("天河驿站", 113.3245, 23.1375, "驿站", "饮水;如厕"), ("越秀驿站", 113.2644, 23.1291, "驿站", "饮水"),
            ("海珠司机之家", 113.3000, 23.1000, "司机之家", "停车")]
LIMITS = R.ReportLimits(per_station=3, per_client=5, window_s=3600)


def _registry(path: Path) -> GeoPackageStore:
    store = create_registry(path)
    df = pd.DataFrame([{"名称": n, "经度": x, "纬度": y, "类型": t, "设施": f} for n, x, y, t, f in STATIONS],
                      dtype=object).astype(str)
    store.commit_import(validate_table(RawTable(df, filename="s.csv", format="csv"), None, source="s"))
    return store


@pytest.fixture
def store(registry_location) -> GeoPackageStore:
    # Once per backend (tests/conftest.py): a GeoPackage in tmp, then a PostGIS database.
    return _registry(registry_location)


@pytest.fixture
def ids(store) -> list[str]:
    return list(store.load().sort_values("name")["id"])


class _Clock:
    """The store's clock for the limits (``time.time`` in gpkg_reports), moved by the test."""

    def __init__(self, start: float):
        self.now = start

    def time(self) -> float:
        return self.now


def test_report_is_kept_as_given_and_read_back(store, ids):
    payload = '<img src=x onerror=alert(1)> **bold** [x](http://e.vil) =HYPERLINK("http://e.vil")'
    filed = store.add_report(ids[0], "closed", payload, client="a" * 32, limits=LIMITS)
    got = store.reports(station_id=ids[0])
    assert list(got.columns) == R.REPORT_COLUMNS
    assert got.iloc[0]["text"] == payload and got.iloc[0]["type"] == "closed"
    assert got.iloc[0]["status"] == "open" and bool(got.iloc[0]["counted"]) is True
    assert filed["report_id"] == int(got.iloc[0]["report_id"])
    # Nothing of the client is in the report itself.
    assert "a" * 32 not in json.dumps(got.astype(str).to_dict("records"))


@pytest.mark.parametrize("kind, text, words", [
    ("nonsense", "", "unknown report type"),
    (None, "", "unknown report type"),
    ("closed", 5, "must be a string"),
    ("closed", "字" * 201, "at most 200"),
])
def test_bad_reports_are_refused_with_a_bilingual_reason(store, ids, kind, text, words):
    with pytest.raises(ValidationError) as err:
        store.add_report(ids[0], kind, text, client="c", limits=LIMITS)
    assert words in str(err.value) and " / " in str(err.value)
    assert store.reports().empty


def test_exactly_200_characters_are_accepted(store, ids):
    store.add_report(ids[0], "full", "字" * 200, client="c", limits=LIMITS)
    assert store.reports().iloc[0]["text"] == "字" * 200


def test_unknown_station_is_not_found(store):
    with pytest.raises(R.StationNotFound):
        store.add_report("RS-nope", "closed", "", client="c", limits=LIMITS)


def test_limits_per_type_station_and_client_with_retry_after(store, ids, monkeypatch):
    clock = _Clock(1_800_000_000.0)
    for module in (gpkg_reports, pg_reports):  # the clock of either backend
        monkeypatch.setattr(module, "time", clock)
    store.add_report(ids[0], "closed", "", client="k1", limits=LIMITS)
    clock.now += 600
    with pytest.raises(R.ReportLimitError) as same:
        store.add_report(ids[0], "closed", "", client="k1", limits=LIMITS)
    assert same.value.scope == "same" and same.value.retry_after == 3000
    store.add_report(ids[0], "full", "", client="k1", limits=LIMITS)
    store.add_report(ids[0], "no_water", "", client="k1", limits=LIMITS)
    with pytest.raises(R.ReportLimitError) as station:
        store.add_report(ids[0], "all_good", "", client="k1", limits=LIMITS)
    assert station.value.scope == "station" and "这个站点" in station.value.zh and "this station" in station.value.en
    store.add_report(ids[1], "closed", "", client="k1", limits=LIMITS)
    store.add_report(ids[2], "closed", "", client="k1", limits=LIMITS)
    with pytest.raises(R.ReportLimitError) as total:
        store.add_report(ids[2], "full", "", client="k1", limits=LIMITS)
    assert total.value.scope == "total" and total.value.retry_after == 3000  # the first report leaves then
    store.add_report(ids[0], "all_good", "", client="k2", limits=LIMITS)  # another client is not limited
    assert len(store.reports()) == 6
    clock.now += 3000  # the first report leaves the window: one slot again
    store.add_report(ids[0], "closed", "", client="k1", limits=LIMITS)
    assert len(store.reports()) == 7


def test_the_client_hash_is_gone_from_the_file_after_the_window(tmp_path, monkeypatch):
    store = _registry(tmp_path / "registry.gpkg")
    sid = store.load()["id"].iloc[0]
    clock = _Clock(1_800_000_000.0)
    for module in (gpkg_reports, pg_reports):  # the clock of either backend
        monkeypatch.setattr(module, "time", clock)
    key = R.client_key("198.51.100.23", secret=tmp_path / "secret.key")
    store.add_report(sid, "closed", "", client=key, limits=LIMITS)
    raw = (tmp_path / "registry.gpkg").read_bytes()
    assert key.encode() in raw and b"198.51.100.23" not in raw
    clock.now += LIMITS.window_s + 1
    store.add_report(sid, "full", "", client="other-client-key", limits=LIMITS)
    raw = (tmp_path / "registry.gpkg").read_bytes()
    assert key.encode() not in raw, "an expired client hash must not linger in free pages"
    assert len(store.reports()) == 2  # the reports stay


def test_reading_reports_also_deletes_expired_client_hashes(tmp_path, monkeypatch):
    store = _registry(tmp_path / "registry.gpkg")
    sid = store.load()["id"].iloc[0]
    clock = _Clock(1_800_000_000.0)
    monkeypatch.setattr(gpkg_reports, "time", clock)
    monkeypatch.setattr(R.settings, "REPORT_LIMIT_WINDOW_S", LIMITS.window_s)
    store.add_report(sid, "closed", "", client="readpathclientkey-0001", limits=LIMITS)
    store.reports()
    assert b"readpathclientkey-0001" in (tmp_path / "registry.gpkg").read_bytes()  # inside the window: kept
    clock.now += LIMITS.window_s + 1
    assert len(store.reports(station_id=sid)) == 1
    assert b"readpathclientkey-0001" not in (tmp_path / "registry.gpkg").read_bytes()


def test_client_key_is_keyed_private_and_stable(tmp_path):
    secret = tmp_path / "data" / "report-limits.key"
    a = R.client_key("203.0.113.5", secret=secret)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert a == R.client_key("203.0.113.5", secret=secret) != R.client_key("203.0.113.6", secret=secret)
    assert len(a) == 32 and "203" not in a
    other = tmp_path / "other.key"
    assert R.client_key("203.0.113.5", secret=other) != a  # without this server's key no one can test guesses


def test_a_client_counts_once_per_station_for_the_not_serving_rule(store, ids):
    store.add_report(ids[0], "closed", "", client="k1", limits=LIMITS)
    store.add_report(ids[0], "not_found", "", client="k1", limits=LIMITS)
    store.add_report(ids[0], "closed", "", client="k2", limits=LIMITS)
    got = store.reports(station_id=ids[0]).set_index("report_id")["counted"].tolist()
    assert got == [True, False, True]
    rule = R.NotServingRule(clients=2, days=7)
    assert R.not_serving_ids(store.reports(), rule) == {ids[0]}
    assert R.not_serving_ids(store.reports(), R.NotServingRule(clients=3, days=7)) == set()
    stations = store.load()
    kept = R.drop_not_serving(stations, store.reports(), rule)
    assert set(kept["id"]) == set(ids) - {ids[0]} and isinstance(kept, gpd.GeoDataFrame)
    assert R.drop_not_serving(stations, store.reports(), None) is stations  # off by default
    assert set(R.apply_not_serving(stations, rule, store=store)["id"]) == set(ids) - {ids[0]}
    assert "2" in rule.describe() and "not serving" in rule.describe() and "不提供服务" in rule.describe()


def test_the_rule_ignores_old_resolved_and_other_reports(store, ids):
    for k in ("k1", "k2"):
        store.add_report(ids[1], "closed", "", client=k, limits=LIMITS)
        store.add_report(ids[2], "no_water", "", client=k, limits=LIMITS)
    rule = R.NotServingRule(clients=2, days=7)
    assert R.not_serving_ids(store.reports(), rule) == {ids[1]}
    later = datetime.now(timezone.utc) + timedelta(days=8)
    assert R.not_serving_ids(store.reports(), rule, now=later) == set()
    store.resolve_reports(ids[1], "dismiss", editor="ed", reason="checked on site: open")
    assert R.not_serving_ids(store.reports(), rule) == set()
    with pytest.raises(ValueError):
        R.NotServingRule(clients=0, days=7)


def test_confirm_changes_the_station_through_the_audited_edit_and_closes_what_it_answers(store, ids):
    sid = ids[0]
    store.add_report(sid, "closed", "locked at 14:00", client="k1", limits=LIMITS)
    store.add_report(sid, "closed", "", client="k2", limits=LIMITS)
    store.add_report(sid, "no_water", "", client="k2", limits=LIMITS)
    seen = int(store.reports(station_id=sid)["report_id"].max())
    store.add_report(sid, "closed", "", client="k3", limits=LIMITS)  # after the editor looked
    before = store.get(sid)
    done = store.resolve_reports(sid, "confirm", editor="zhang.wei", types=["closed"], seen=seen,
                                 changes={"status": "temporarily_closed"}, expected_version=before["version"])
    after = store.get(sid)
    assert after["status"] == "temporarily_closed" and after["version"] == before["version"] + 1
    assert done["closed"] == 2 and done["station"]["status"] == "temporarily_closed"
    rows = store.reports(station_id=sid).set_index("report_id")
    assert rows["status"].tolist() == ["confirmed", "confirmed", "open", "open"]
    assert set(rows.loc[rows["status"] == "confirmed", "resolved_by"]) == {"zhang.wei"}
    entry = store.history(sid).iloc[0]
    assert entry["action"] == "confirm_reports" and entry["editor"] == "zhang.wei"
    assert entry["changed"] == ["status"] and entry["before"]["status"] == "open"
    assert int(rows["audit_id"].dropna().iloc[0]) == int(entry["audit_id"])
    recent = R.recent_counts(store.reports(station_id=sid))
    assert recent["open"] == {"closed": 1, "no_water": 1} and recent["counts"]["closed"] == 3
    assert recent["decision"]["action"] == "confirm" and recent["decision"]["types"] == ["closed"]


def test_confirm_with_a_stale_version_changes_nothing(store, ids):
    sid = ids[0]
    store.add_report(sid, "closed", "", client="k1", limits=LIMITS)
    version = store.get(sid)["version"]
    store.update(sid, {"notes": "someone else"}, editor="other")
    with pytest.raises(ConflictError):
        store.resolve_reports(sid, "confirm", editor="ed", changes={"status": "closed"}, expected_version=version)
    with pytest.raises(ConflictError):
        store.resolve_reports(sid, "dismiss", editor="ed", reason="x", expected_version=version)
    assert store.get(sid)["status"] == "open"
    assert store.reports()["status"].tolist() == ["open"]


def test_dismiss_needs_a_reason_keep_open_is_audited_and_nothing_changes_the_station(store, ids):
    sid = ids[1]
    store.add_report(sid, "charging_broken", "", client="k1", limits=LIMITS)
    version = store.get(sid)["version"]
    with pytest.raises(ValidationError, match="reason"):
        store.resolve_reports(sid, "dismiss", editor="ed", reason="  ")
    with pytest.raises(ValidationError):
        store.resolve_reports(sid, "dismiss", editor="ed", reason="x", changes={"status": "closed"})
    with pytest.raises(ValidationError):
        store.resolve_reports(sid, "delete", editor="ed")
    kept = store.resolve_reports(sid, "keep_open", editor="ed", reason="will visit on Monday")
    assert kept["closed"] == 0 and store.reports()["status"].tolist() == ["open"]
    gone = store.resolve_reports(sid, "dismiss", editor="ed", reason="sockets replaced yesterday")
    assert gone["closed"] == 1
    row = store.reports().iloc[0]
    assert row["status"] == "dismissed" and row["reason"] == "sockets replaced yesterday"
    log = store.history(sid)
    assert log["action"].tolist()[:2] == ["dismiss_reports", "keep_reports_open"]
    assert set(log["action"]) <= set(AUDIT_ACTIONS)
    assert store.get(sid)["version"] == version  # a decision without a change is no new version
    assert all(not c for c in log["changed"].tolist()[:2])


def test_confirm_without_change_closes_and_audits(store, ids):
    sid = ids[2]
    store.add_report(sid, "full", "", client="k1", limits=LIMITS)
    done = store.resolve_reports(sid, "confirm", editor="ed")
    assert done["closed"] == 1 and store.history(sid).iloc[0]["action"] == "confirm_reports"


def test_reports_survive_reopening_and_an_older_registry_is_upgraded(tmp_path):
    path = tmp_path / "registry.gpkg"
    store = _registry(path)
    sid = store.load()["id"].iloc[0]
    with sqlite3.connect(path) as conn:  # as a registry made before reports existed
        conn.execute("DROP TABLE station_reports")
        conn.execute("DROP TABLE report_limits")
        conn.execute("DELETE FROM gpkg_contents WHERE table_name = 'station_reports'")
    again = GeoPackageStore(path)
    again.add_report(sid, "all_good", "ok", client="k", limits=LIMITS)
    assert GeoPackageStore(path).reports()["text"].tolist() == ["ok"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'station_reports'").fetchone() \
            == ("attributes",)


def test_backup_and_restore_carry_reports_but_no_client_hashes(tmp_path):
    store = _registry(tmp_path / "registry.gpkg")
    sid = store.load()["id"].iloc[0]
    store.add_report(sid, "closed", "before the backup", client="clienthash-" + "9" * 20, limits=LIMITS)
    manifest = backup_registry(tmp_path / "registry.gpkg", tmp_path / "b" / "backup.gpkg")
    assert manifest["reports"] == 1
    assert b"clienthash-" not in (tmp_path / "b" / "backup.gpkg").read_bytes()
    store.add_report(sid, "full", "after the backup", client="k2", limits=LIMITS)
    restore_registry(tmp_path / "b" / "backup.gpkg", tmp_path / "registry.gpkg")
    back = GeoPackageStore(tmp_path / "registry.gpkg").reports()
    assert back["text"].tolist() == ["before the backup"]
    assert b"clienthash-" not in (tmp_path / "registry.gpkg.before-restore").read_bytes()


def test_export_has_no_client_data_and_escapes_formulas(store, ids):
    store.add_report(ids[0], "closed", '=HYPERLINK("http://e.vil","x")', client="secretclientkey0001", limits=LIMITS)
    store.add_report(ids[1], "all_good", "+1 fine", client="secretclientkey0002", limits=LIMITS)
    frame = R.report_frame(store.reports(), store.load())
    csv = R.export_reports(frame, "csv").decode("utf-8-sig")
    table = pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)
    assert set(table["text"]) == {"'=HYPERLINK(\"http://e.vil\",\"x\")", "'+1 fine"}
    assert "counted" not in table.columns and "secretclientkey" not in csv
    assert table.loc[table["type"] == "closed", "station_name"].item() == "天河驿站"
    geo = json.loads(R.export_reports(frame, "geojson"))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 2
    first = geo["features"][0]
    assert first["geometry"]["coordinates"] == [113.3245, 23.1375]
    assert first["properties"]["text"] == '=HYPERLINK("http://e.vil","x")'  # GeoJSON is data: as given
    assert "secretclientkey" not in json.dumps(geo)
    with pytest.raises(ValueError):
        R.export_reports(frame, "xlsx")


def test_the_store_implements_the_report_interface():
    from geo.registry.store.base import RegistryStore

    for name in ("add_report", "reports", "resolve_reports"):
        assert callable(getattr(GeoPackageStore, name)) and name in RegistryStore.__dict__


_CHILD = """
import sys
from geo.registry.reports import ReportLimits
from geo.registry.store.gpkg import GeoPackageStore
store = GeoPackageStore(sys.argv[1])
limits = ReportLimits(per_station=10**6, per_client=10**6, window_s=3600)
print("ready", flush=True)
i = 0
while True:
    r = store.add_report(sys.argv[2], "closed", f"n{i}", client=f"c{i}", limits=limits)
    print(r["report_id"], flush=True)  # acknowledged: committed before this line is written
    i += 1
"""


def test_sigkill_during_report_writes_loses_nothing_acknowledged(tmp_path):
    path = tmp_path / "registry.gpkg"
    sid = _registry(path).load()["id"].iloc[0]
    rng = random.Random(15)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    acknowledged: set[int] = set()
    for _ in range(5):
        out = tmp_path / "ack.txt"
        with out.open("w") as sink:
            proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), sid], stdout=sink, env=env, cwd=ROOT)
            deadline = time.monotonic() + 60
            while "ready" not in out.read_text() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert "ready" in out.read_text(), "the writer did not start"
            time.sleep(rng.uniform(0.05, 0.4))  # let it write a while, then kill it mid-loop
            proc.kill()
            proc.wait()
        whole = [x.strip() for x in out.read_text().splitlines(keepends=True)[1:] if x.endswith("\n")]
        acknowledged |= {int(x) for x in whole}
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = GeoPackageStore(path).reports()
        assert acknowledged <= set(stored["report_id"].astype(int)), "an acknowledged report was lost"
        assert (stored["text"] == "n" + stored["text"].str[1:]).all()
    assert len(acknowledged) > 5


def test_reports_commands_list_and_export(store, ids, tmp_path, capsys):
    from geo.cli.main import main

    store.add_report(ids[0], "closed", "=cmd|' /C calc'!A0\n\x1b[31mred", client="k1", limits=LIMITS)
    store.add_report(ids[1], "all_good", "", client="k1", limits=LIMITS)
    assert main(["reports", "list", "--registry", store.location, "--json", "--type", "closed"]) == 0
    listed = json.loads(capsys.readouterr().out)["reports"]
    assert [r["station_id"] for r in listed] == [ids[0]] and listed[0]["station_name"] == "天河驿站"
    assert main(["reports", "list", "--registry", store.location]) == 0
    plain = capsys.readouterr().out
    assert "\x1b" not in plain and "\\x1b" in plain and len(plain.strip().splitlines()) == 2
    out = tmp_path / "r.csv"
    assert main(["reports", "export", "--registry", store.location, "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reports"] == 2
    table = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert table.loc[table["type"] == "closed", "text"].item().startswith("'=cmd")
    geo_out = tmp_path / "r.geojson"
    assert main(["reports", "export", "--registry", store.location, "--out", str(geo_out)]) == 0
    assert len(json.loads(geo_out.read_text())["features"]) == 2
    assert main(["reports", "list", "--registry", str(tmp_path / "missing.gpkg")]) == 2
    assert not (tmp_path / "missing.gpkg").exists()


def test_limits_hold_under_concurrent_writers(store, ids):
    from concurrent.futures import ThreadPoolExecutor

    limits = R.ReportLimits(per_station=100, per_client=5, window_s=3600)
    jobs = [(sid, kind) for sid in ids for kind in ("closed", "full", "no_water", "all_good")]

    def file(job):
        try:
            store.add_report(job[0], job[1], "", client="same-client", limits=limits)
            return True
        except R.ReportLimitError:
            return False

    with ThreadPoolExecutor(max_workers=6) as pool:
        accepted = sum(pool.map(file, jobs))
    # The count and the insert are one write transaction: no two writers both take the last slot.
    assert accepted == 5 and len(store.reports()) == 5


def test_reports_do_not_change_the_stations_stamp(tmp_path):
    # Readers (the public API, the pages) reload the stations when the stamp changes: a report
    # from every card must not make them do so; a station change and a restore must.
    store = _registry(tmp_path / "registry.gpkg")
    sid = store.load()["id"].iloc[0]
    before = store.change_stamp()
    store.add_report(sid, "closed", "", client="k1", limits=LIMITS)
    store.reports()
    assert GeoPackageStore(tmp_path / "registry.gpkg").change_stamp() == before == store.change_stamp()
    store.update(sid, {"notes": "checked"}, editor="ed")
    edited = store.change_stamp()
    assert edited != before
    backup_registry(tmp_path / "registry.gpkg", tmp_path / "b.gpkg")
    restore_registry(tmp_path / "b.gpkg", tmp_path / "registry.gpkg")
    assert store.change_stamp() != edited  # same content, another file
