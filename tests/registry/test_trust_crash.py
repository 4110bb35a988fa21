"""Trust: killing the process (SIGKILL) mid-import or mid-edit loses nothing.

A worker process commits a large import (1,000 updates and 3,000 inserts
in one transaction), or runs a loop of edits, and is killed with SIGKILL
after a random delay. After every kill the registry must pass SQLite's
``PRAGMA integrity_check``, open as a registry, and hold exactly the state
before the interrupted operation or exactly the state after it: never a
mix, never a change without its audit row.

The workers are forked from a ``forkserver`` that has already imported the
library, so a kill costs milliseconds rather than an interpreter start.
``TRUST_KILLS`` sets the number of kills per scenario (default 15; the
figure in docs/trust.md was measured with more), and ``TRUST_KILL_REPORT``
names a JSON file to write the counts to.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import random
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.registry.io.table import RawTable
from geo.registry.store import create_registry
from geo.registry.store.gpkg import GeoPackageStore
from geo.registry.validate import validate_record, validate_table

KILLS = int(os.environ.get("TRUST_KILLS", "15"))

pytestmark = pytest.mark.slow
N_BASE, N_NEW, N_EDITS = 1000, 3000, 30
_CTX = None


def _context():
    global _CTX
    if _CTX is None:
        _CTX = multiprocessing.get_context("forkserver")
        _CTX.set_forkserver_preload(["geo.registry.store.gpkg", "geo.registry.validate", "test_trust_crash"])
    return _CTX


def _rows(n: int, start: int, phone: str) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    return pd.DataFrame({
        "名称": [f"驿站{i}" for i in range(start, start + n)],
        "经度": rng.uniform(113.25, 113.45, n).round(6).astype(str),
        "纬度": rng.uniform(23.05, 23.20, n).round(6).astype(str),
        "类型": "暖蜂驿站", "编号": [f"S{i}" for i in range(start, start + n)],
        "设施": "饮用水、卫生间、手机充电", "开放时间": "周一至周五 9:00-17:00", "电话": phone,
    }, dtype=object)


def _report(df: pd.DataFrame):
    return validate_table(RawTable(df, filename="big.csv", format="csv"), None, source="big")


# -- what runs in the killed process ------------------------------------------


def _import_child(path: str, report_file: str, started) -> None:
    report = pickle.loads(Path(report_file).read_bytes())
    store = GeoPackageStore(path)
    started.set()
    store.commit_import(report, editor="crash-test")


def _edit_child(path: str, ids: list, started) -> None:
    store = GeoPackageStore(path)
    validate_record(store.get(ids[0]))  # loads the boundaries before the clock starts
    started.set()
    for i in range(N_EDITS):
        store.update(ids[i % len(ids)], {"phone": f"edit-{i}"}, editor="crash-test")


# -- checking ------------------------------------------------------------------


def _state(path: Path) -> dict:
    """Everything stored, minus timestamps: layers, import log and audit log."""
    conn = sqlite3.connect(path)
    try:
        layers = {}
        for kind in ("rest_station", "driver_home", "legal_aid"):
            cur = conn.execute(f'SELECT * FROM "{kind}" ORDER BY id')
            names = [d[0] for d in cur.description]
            layers[kind] = [tuple(v for n, v in zip(names, row) if n not in ("fid", "updated_at")) for row in cur]
        log = conn.execute("SELECT count(*), coalesce(sum(inserted), 0), coalesce(sum(updated), 0) "
                           "FROM import_log").fetchone()
        audit = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        return {"layers": layers, "import_log": log, "audit": audit}
    finally:
        conn.close()


def _journal_state(journal: Path) -> str:
    """``none``, ``stale`` (header never synced: the file was not touched) or ``hot``."""
    if not journal.exists() or journal.stat().st_size == 0:
        return "none"
    # SQLite writes the journal's magic number only once the journal is
    # synced, just before it changes the database file; without it the
    # journal is ignored (and reused by the next write).
    with journal.open("rb") as f:
        return "hot" if any(f.read(8)) else "stale"


def _check_after_kill(path: Path) -> dict:
    journal = Path(f"{path}-journal")
    found = _journal_state(journal)
    conn = sqlite3.connect(path)
    try:
        # The first read rolls a hot journal back, as any later open would.
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    assert _journal_state(journal) != "hot"
    GeoPackageStore(path).audit_log(limit=1)  # still opens as a registry
    return {"journal": found, "state": _state(path)}


def _kill_at_random(target, args, started, delay: float) -> bool:
    """Run ``target`` in a forked process and SIGKILL it after ``delay`` s.

    Returns whether the process had already finished by itself.
    """
    proc = _context().Process(target=target, args=args)
    proc.start()
    assert started.wait(30), "worker did not start"
    time.sleep(delay)
    finished = not proc.is_alive()
    proc.kill()
    proc.join(30)
    assert proc.exitcode is not None
    return finished and proc.exitcode == 0


def _delays(rng: random.Random, n: int, duration: float) -> list[float]:
    # Half spread over the whole operation, half around its end, where the
    # journal is synced and the database file is changed (the worker may run
    # slower than the calibration, hence the long tail).
    return [rng.uniform(0, duration) if i % 2 == 0 else rng.uniform(0.75 * duration, 3.0 * duration)
            for i in range(n)]


def _report_counts(name: str, counts: dict) -> None:
    out = os.environ.get("TRUST_KILL_REPORT")
    if out:
        path = Path(out)
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = counts
        path.write_text(json.dumps(data, indent=2))
    print(f"\n{name}: {counts}")


# -- the scenarios -----------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash")
    path = folder / "base.gpkg"
    create_registry(path).commit_import(_report(_rows(N_BASE, 0, "020-0000")))
    return path


def test_sigkill_during_a_large_import(base, tmp_path):
    # 1,000 rows update the base stations (new phone), 3,000 are new.
    big = _report(pd.concat([_rows(N_BASE, 0, "020-1111"), _rows(N_NEW, N_BASE, "020-2222")],
                            ignore_index=True))
    assert len(big.accepted) == N_BASE + N_NEW
    report_file = tmp_path / "report.pkl"
    report_file.write_bytes(pickle.dumps(big))
    before = _state(base)
    done = tmp_path / "done.gpkg"
    shutil.copy(base, done)
    t0 = time.perf_counter()
    GeoPackageStore(done).commit_import(big, editor="crash-test")
    duration = time.perf_counter() - t0
    after = _state(done)
    assert after["audit"] == before["audit"] + N_BASE + N_NEW

    work = tmp_path / "work.gpkg"
    counts = {"kills": 0, "failures": 0, "before": 0, "after": 0, "journal_hot": 0, "journal_stale": 0,
              "finished_first": 0, "commit_seconds": round(duration, 3)}
    started = _context().Event()
    for delay in _delays(random.Random(20261121), KILLS, duration):
        shutil.copy(base, work)
        started.clear()
        counts["finished_first"] += _kill_at_random(_import_child, (str(work), str(report_file), started),
                                                    started, delay)
        counts["kills"] += 1
        try:
            seen = _check_after_kill(work)
            assert seen["state"] in (before, after), "registry is neither the state before nor after"
        except AssertionError:
            counts["failures"] += 1
            raise
        counts["before" if seen["state"] == before else "after"] += 1
        if seen["journal"] != "none":
            counts[f"journal_{seen['journal']}"] += 1
        Path(f"{work}-journal").unlink(missing_ok=True)
    _report_counts("import", counts)
    assert counts["failures"] == 0
    # The kills landed both before and after the commit point.
    assert counts["before"] > 0 and counts["after"] > 0


def test_sigkill_during_a_loop_of_edits(base, tmp_path):
    ids = sorted(GeoPackageStore(base).load()["id"])[:7]
    before = _state(base)
    # The state after k edits, for every k: edits are deterministic.
    states = []
    work = tmp_path / "work.gpkg"
    shutil.copy(base, work)
    store = GeoPackageStore(work)
    states.append(_state(work))
    t0 = time.perf_counter()
    for i in range(N_EDITS):
        store.update(ids[i % len(ids)], {"phone": f"edit-{i}"}, editor="crash-test")
        states.append(_state(work))
    duration = (time.perf_counter() - t0) * 0.8  # _state() made the loop slower than the worker's
    assert states[0] == before and len({json.dumps(s, default=str) for s in states}) == N_EDITS + 1

    counts = {"kills": 0, "failures": 0, "edits_committed": [], "journal_hot": 0, "journal_stale": 0,
              "finished_first": 0}
    started = _context().Event()
    rng = random.Random(7)
    for delay in (rng.uniform(0, duration) for _ in range(KILLS)):
        shutil.copy(base, work)
        started.clear()
        counts["finished_first"] += _kill_at_random(_edit_child, (str(work), ids, started), started, delay)
        counts["kills"] += 1
        try:
            seen = _check_after_kill(work)
            assert seen["state"] in states, "registry is not the state after a whole number of edits"
        except AssertionError:
            counts["failures"] += 1
            raise
        k = states.index(seen["state"])
        assert seen["state"]["audit"] == before["audit"] + k  # every edit has its audit row, no more
        counts["edits_committed"].append(k)
        if seen["journal"] != "none":
            counts[f"journal_{seen['journal']}"] += 1
        Path(f"{work}-journal").unlink(missing_ok=True)
    _report_counts("edits", counts)
    assert counts["failures"] == 0
    assert len(set(counts["edits_committed"])) > 3  # the kills fell at many different points
