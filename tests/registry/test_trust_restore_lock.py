"""Trust: a restore while the app is writing loses no acknowledged save.

``python -m geo restore`` swaps the registry file. Saves made at the same
moment must never go into the file being swapped out and then vanish: each
acknowledged save is either in the registry that was replaced (it finished
before the swap; the restore keeps that file as ``.before-restore`` and
counts it in ``replaced_changes``) or in the restored registry (it waited,
or read the station again from the restored file). A save that cannot be
made fails with an error (a version conflict), never silently.

The first tests force each interleaving with threads; the last runs
processes that hammer the registry with edits and additions while this
process restores a backup under them, several rounds (``TRUST_RESTORES``,
default 3), and accounts for every acknowledged save
(``TRUST_RESTORE_REPORT`` names a file to append each round's counts to).
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from geo.registry import backup as backup_mod
from geo.registry.backup import _check_database, backup_registry, restore_registry
from geo.registry.io.table import RawTable
from geo.registry.store import create_registry
from geo.registry.store.base import ConflictError
from geo.registry.store.gpkg import GeoPackageStore
from geo.registry.validate import validate_table
from conftest import ROOT

ROUNDS = int(os.environ.get("TRUST_RESTORES", "3"))

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32",
                                 reason="the folder lock needs flock (POSIX)")]


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"名称": [f"驿站{i}" for i in range(n)],
                         "经度": [str(113.25 + i * 0.0007) for i in range(n)],
                         "纬度": [str(23.05 + i * 0.0005) for i in range(n)],
                         "类型": "驿站", "编号": [f"S{i}" for i in range(n)], "电话": "0"}, dtype=object)


def _registry(path: Path, n: int = 30) -> GeoPackageStore:
    store = create_registry(path)
    store.commit_import(validate_table(RawTable(_rows(n), filename="s.csv", format="csv"), None, source="s"))
    return store


def _audit(path: Path) -> list[dict]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY fid")]
    finally:
        conn.close()


def _stations(path: Path) -> dict:
    df = GeoPackageStore(path).load()
    return {r.id: (r.name, r.phone, int(r.version)) for r in df.itertuples()}


@pytest.fixture
def setup(tmp_path):
    store = _registry(tmp_path / "r.gpkg")
    bk = tmp_path / "bk" / "b.gpkg"
    backup_registry(store.path, bk)
    sid = store.load()["id"].iat[0]
    return store, bk, sid


def _kept(store) -> Path:
    return store.path.with_name(store.path.name + ".before-restore")


def test_restore_waits_for_a_save_in_progress(setup, monkeypatch):
    store, bk, sid = setup
    in_txn, go = threading.Event(), threading.Event()
    real_touch = GeoPackageStore._touch

    def slow_touch(conn):
        real_touch(conn)
        if threading.current_thread().name == "saver":
            in_txn.set()
            assert go.wait(10)

    monkeypatch.setattr(GeoPackageStore, "_touch", staticmethod(slow_touch))
    out = {}
    saver = threading.Thread(target=lambda: out.update(saved=store.update(sid, {"phone": "in flight"})),
                             name="saver")
    saver.start()
    assert in_txn.wait(10)
    restorer = threading.Thread(target=lambda: out.update(result=restore_registry(bk, store.path)))
    restorer.start()
    time.sleep(0.4)
    assert restorer.is_alive()  # waits for the save's connection to close
    go.set()
    saver.join(10)
    restorer.join(30)
    assert out["saved"]["phone"] == "in flight"  # acknowledged before the swap ...
    assert _stations(_kept(store))[sid][1:] == ("in flight", 2)  # ... so it is in the replaced file
    assert out["result"]["replaced_changes"] == 1  # and the restore says so
    assert GeoPackageStore(store.path).get(sid)["phone"] == "0"


def test_a_save_during_the_swap_waits_and_lands_in_the_restored_registry(setup, monkeypatch):
    store, bk, sid = setup
    store.update(sid, {"phone": "after the backup"})  # replaced by the restore
    real_fsync = backup_mod._fsync
    out = {}
    saver = threading.Thread(target=lambda: out.update(saved=store.update(sid, {"notes": "during the swap"})))

    def fsync_then_save(path):
        real_fsync(path)
        if path.name.endswith(".before-restore.tmp") and not saver.is_alive():
            # The live file is locked for the swap now: a save starts and must wait.
            saver.start()
            time.sleep(0.4)
            assert saver.is_alive()

    monkeypatch.setattr(backup_mod, "_fsync", fsync_then_save)
    result = restore_registry(bk, store.path)
    saver.join(30)
    assert result["replaced_changes"] == 1
    now = GeoPackageStore(store.path).get(sid)
    # Written into the restored registry, on top of the restored version.
    assert (now["notes"], now["phone"], now["version"]) == ("during the swap", "0", 2)
    assert out["saved"]["version"] == 2
    assert "during the swap" not in json.dumps(_audit(_kept(store)), ensure_ascii=False)
    assert _check_database(store.path)["audit_log"] == 31


def test_a_station_read_before_the_swap_is_read_again_after_it(setup, monkeypatch):
    # Backup at version 1 (phone "0"); saved to version 2 "B" after the
    # backup. A save opens version 2 "B"; the restore brings back version 1;
    # someone saves version 2 "C" in the restored registry; then the first
    # save writes. Version numbers alone would match ("2") and overwrite
    # "C" with a record built from "B": the store must notice the file
    # changed, read the station again, and keep "C".
    store, bk, sid = setup
    store.update(sid, {"phone": "B"})
    other = GeoPackageStore(store.path)
    real_get = GeoPackageStore.get
    calls = {"n": 0}

    def get_then_restore(self, station_id):
        rec = real_get(self, station_id)
        calls["n"] += 1
        if calls["n"] == 1:
            restore_registry(bk, self.path)
            other.update(station_id, {"phone": "C"})
        return rec

    monkeypatch.setattr(GeoPackageStore, "get", get_then_restore)
    saved = store.update(sid, {"notes": "mine"}, expected_version=2)
    monkeypatch.undo()
    now = store.get(sid)
    assert (now["phone"], now["notes"], now["version"]) == ("C", "mine", 3) == \
        (saved["phone"], saved["notes"], saved["version"])
    last = _audit(store.path)[-1]
    assert json.loads(last["before"])["phone"] == "C" and last["version"] == 3


def test_a_stale_version_after_a_restore_is_a_conflict(setup, monkeypatch):
    store, bk, sid = setup
    store.update(sid, {"phone": "B"})
    store.update(sid, {"phone": "B2"})  # version 3, opened by the editor
    real_get = GeoPackageStore.get
    calls = {"n": 0}

    def get_then_restore(self, station_id):
        rec = real_get(self, station_id)
        calls["n"] += 1
        if calls["n"] == 1:
            restore_registry(bk, self.path)
        return rec

    monkeypatch.setattr(GeoPackageStore, "get", get_then_restore)
    with pytest.raises(ConflictError) as exc:
        store.update(sid, {"phone": "mine"}, expected_version=3)
    monkeypatch.undo()
    assert exc.value.current["version"] == 1 and exc.value.current["phone"] == "0"
    assert exc.value.attempted["phone"] == "mine"
    assert store.get(sid)["phone"] == "0"


def test_a_file_replaced_by_hand_is_not_written_through_a_stale_connection(setup):
    # Another program swaps the file without the folder lock while a save
    # waits for SQLite's write lock on the old file: the save must notice
    # and write into the file now in place, never into the old one.
    store, bk, sid = setup
    old = store.path.with_name("old-inode.gpkg")
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    out = {}
    saver = threading.Thread(target=lambda: out.update(saved=store.update(sid, {"phone": "waited"})))
    saver.start()
    time.sleep(0.5)
    assert saver.is_alive()  # waiting for the write lock on the old file
    os.link(store.path, old)  # a name for the old file, to look into it afterwards
    swap = store.path.with_name("by-hand.gpkg")
    shutil.copyfile(bk, swap)
    os.replace(swap, store.path)
    blocker.execute("ROLLBACK")
    blocker.close()
    saver.join(30)
    assert out["saved"]["phone"] == "waited"
    assert _stations(store.path)[sid][1:] == ("waited", 2)
    assert _stations(old)[sid][1:] == ("0", 1)


def test_a_busy_registry_makes_restore_give_up_cleanly(setup):
    from geo.registry.backup import BackupError
    from geo.registry.store.lock import registry_lock

    store, bk, sid = setup
    store.update(sid, {"phone": "keep me"})
    before = store.path.read_bytes()
    with registry_lock(store.path):  # a connection that stays open
        with pytest.raises(BackupError) as exc:
            restore_registry(bk, store.path, timeout=0.5)
    assert exc.value.code == "busy"
    assert store.path.read_bytes() == before
    assert not [p for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------
# Processes hammering the registry while it is restored
# --------------------------------------------------------------------------

HAMMER = r"""
import json, random, sys, time
from pathlib import Path
from geo.registry.store.base import ConflictError, RegistryBusyError
from geo.registry.store.gpkg import GeoPackageStore

path, log, stop, prefix, seed = sys.argv[1:6]
rng = random.Random(int(seed))
store = GeoPackageStore(path)
ids = [s for s in sys.argv[6].split(",")]
editor = "hammer-" + prefix
with open(log, "a", encoding="utf-8") as out:
    i = 0
    while not Path(stop).exists() and i < 5000:
        value = f"{prefix}{i}"
        sid = rng.choice(ids)
        r = rng.random()
        op = "update" if r < 0.6 else "versioned" if r < 0.9 else "add"
        entry = {"i": i, "op": op, "sid": sid, "value": value}
        try:
            if op == "update":
                rec = store.update(sid, {"phone": value}, editor=editor)
            elif op == "versioned":
                seen = store.get(sid)
                rec = store.update(sid, {"phone": value}, expected_version=seen["version"], editor=editor)
            else:
                rec = store.add({"kind": "rest_station", "name": value, "lon": 113.6 + (prefix == "b") * 0.05 + i * 1e-4,
                                 "lat": 23.3 + i * 1e-4}, editor=editor)
            entry.update(status="ok", id=rec["id"], version=rec["version"])
        except (ConflictError, RegistryBusyError) as exc:
            entry.update(status="error", error=type(exc).__name__)
        out.write(json.dumps(entry, ensure_ascii=False) + "\n")
        out.flush()
        i += 1
"""


def _entries(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.endswith("}")]


def _acks(log: Path) -> int:
    return sum(e["status"] == "ok" for e in _entries(log))


def _wait(cond, procs, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert all(p.poll() is None for p in procs), "a hammering process died"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _value(row: dict) -> str | None:
    after = json.loads(row["after"]) if row["after"] else {}
    return after.get("phone") if row["action"] == "update" else after.get("name")


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_processes_keep_saving_while_the_registry_is_restored(tmp_path, round_no):
    store = _registry(tmp_path / "r.gpkg", 40)
    bk = tmp_path / "b.gpkg"
    backup_registry(store.path, bk)
    base_audit = _audit(store.path)
    base = _stations(store.path)
    ids = sorted(base)
    stop = tmp_path / "stop"
    logs = {p: tmp_path / f"{p}.jsonl" for p in ("a", "b")}
    procs = [subprocess.Popen([sys.executable, "-c", HAMMER, str(store.path), str(log), str(stop), p,
                               str(round_no * 10 + k), ",".join(ids)], cwd=ROOT)
             for k, (p, log) in enumerate(logs.items())]
    try:
        _wait(lambda: all(_acks(log) >= 15 for log in logs.values()), procs)
        t0 = time.monotonic()
        if round_no == 0:  # the command itself, as an administrator runs it
            run = subprocess.run([sys.executable, "-m", "geo", "restore", str(bk), "--registry", str(store.path),
                                  "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, run.stderr
            result = json.loads(run.stdout)
        else:
            result = restore_registry(bk, store.path)
        took = time.monotonic() - t0
        at_restore = {p: _acks(log) for p, log in logs.items()}
        _wait(lambda: all(_acks(log) >= at_restore[p] + 15 for p, log in logs.items()), procs)
    finally:
        stop.touch()
        for proc in procs:
            proc.wait(60)
    assert all(proc.returncode == 0 for proc in procs)
    assert took < 30

    final, kept = store.path, _kept(store)
    for path in (final, kept):  # both valid registries (integrity, GeoPackage, layers)
        _check_database(path)
    kept_audit, final_audit = _audit(kept), _audit(final)
    n = len(base_audit)
    assert final_audit[:n] == base_audit and kept_audit[:n] == base_audit
    before_swap = {(r["editor"], _value(r)): r for r in kept_audit[n:]}
    after_swap = {(r["editor"], _value(r)): r for r in final_audit[n:]}
    assert len(before_swap) == len(kept_audit) - n and len(after_swap) == len(final_audit) - n
    assert result["replaced_changes"] == len(before_swap)

    for p, log in logs.items():
        entries = _entries(log)
        where = []
        for e in entries:
            key = (f"hammer-{p}", e["value"])
            if e["status"] == "ok":
                # Every acknowledged save is in exactly one of the two files.
                assert (key in before_swap) != (key in after_swap), e
                where.append("kept" if key in before_swap else "final")
            else:
                assert e["error"] == "ConflictError", e
                assert key not in before_swap and key not in after_swap, e
        # Each process saw the swap once: its saves before it, then after it.
        assert where == sorted(where, key=lambda w: w == "final"), where
        assert "kept" in where and "final" in where

    # The restored registry is the backup plus exactly the saves after the swap, in order.
    expect = dict(base)
    for row in final_audit[n:]:
        after = json.loads(row["after"])
        if row["action"] == "update":
            name, _, version = expect[row["station_id"]]
            assert json.loads(row["before"])["version"] == version
            expect[row["station_id"]] = (name, after["phone"], version + 1)
        else:
            assert row["action"] == "add" and row["station_id"] not in expect
            expect[row["station_id"]] = (after["name"], after["phone"] or "", 1)
    assert _stations(final) == expect
    if os.environ.get("TRUST_RESTORE_REPORT"):
        entries = [e for log in logs.values() for e in _entries(log)]
        with open(os.environ["TRUST_RESTORE_REPORT"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"round": round_no, "restore_s": round(took, 3),
                                 "acked": sum(e["status"] == "ok" for e in entries),
                                 "conflicts": sum(e["status"] == "error" for e in entries),
                                 "before_swap": len(before_swap), "after_swap": len(after_swap),
                                 "replaced_changes": result["replaced_changes"]}) + "\n")
