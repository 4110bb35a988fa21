"""Trust: two real processes editing the same station; exactly one save wins.

Optimistic locking (``update(..., expected_version=...)``) is tested here
across processes, not threads: each worker is its own Python interpreter
with its own database connection (SQLite, or PostgreSQL: the
``registry`` fixture runs every test on both backends), as two browser sessions of the app or the
app and the command line would be.
"""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from geo.registry.io.table import RawTable
from geo.registry.store.base import ConflictError
from geo.registry.validate import validate_table

from conftest import ROOT, TIANHE, YUEXIU

ROUNDS = 12

# Each round: open the station (read its version), wait at a file barrier
# until the other process has opened it too, then save over that version.
# A loser reloads and saves its own change again, as the app tells an
# editor to do, so that both edits end up in the registry.
WORKER = r"""
import json, sys, time
from pathlib import Path
from geo.registry.store import open_store
from geo.registry.store.base import ConflictError

path, sid, field, name, sync, rounds = sys.argv[1:]
store = open_store(path)
sync = Path(sync)
for r in range(int(rounds)):
    opened = store.get(sid)["version"]
    (sync / f"{r}.{name}").touch()
    deadline = time.monotonic() + 60
    while len(list(sync.glob(f"{r}.*"))) < 2:
        if time.monotonic() > deadline:
            raise SystemExit("barrier timeout")
        time.sleep(0.0005)
    value = f"{name}-{r}"
    try:
        rec = store.update(sid, {field: value}, expected_version=opened, editor=name)
        out = {"round": r, "name": name, "ok": True, "opened": opened, "saved": rec["version"]}
    except ConflictError as exc:
        retry = store.update(sid, {field: value}, expected_version=exc.current["version"], editor=name)
        out = {"round": r, "name": name, "ok": False, "opened": opened, "current": exc.current,
               "attempted": exc.attempted, "retried": retry["version"]}
    print(json.dumps(out, ensure_ascii=False), flush=True)
    # Both must finish the round before either opens the next one.
    (sync / f"{r}.{name}.done").touch()
    while len(list(sync.glob(f"{r}.*.done"))) < 2:
        time.sleep(0.0005)
"""


@pytest.fixture
def station(registry):
    df = pd.DataFrame([{"名称": "天河驿站", "经度": TIANHE[0], "纬度": TIANHE[1], "类型": "驿站", "编号": "R1"},
                       {"名称": "越秀驿站", "经度": YUEXIU[0], "纬度": YUEXIU[1], "类型": "驿站", "编号": "R2"}],
                      dtype=object).astype(str)
    registry.commit_import(validate_table(RawTable(df, filename="s.csv", format="csv"), None, source="s"))
    return registry, registry.load()["id"].iat[0]


def test_two_processes_save_the_same_version(station, tmp_path):
    store, sid = station
    sync = tmp_path / "sync"
    sync.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, store.location, sid, field, name, str(sync),
                               str(ROUNDS)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for field, name in (("phone", "A"), ("notes", "B"))]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    results = [json.loads(line) for out, _ in outs for line in out.splitlines()]
    by_round: dict[int, list[dict]] = {}
    for res in results:
        by_round.setdefault(res["round"], []).append(res)
    assert sorted(by_round) == list(range(ROUNDS))
    for r, pair in sorted(by_round.items()):
        # Both opened the same version; exactly one saved over it.
        assert pair[0]["opened"] == pair[1]["opened"], pair
        winners = [x for x in pair if x["ok"]]
        losers = [x for x in pair if not x["ok"]]
        assert len(winners) == 1 and len(losers) == 1, pair
        win, lose = winners[0], losers[0]
        opened = win["opened"]
        assert win["saved"] == opened + 1
        # The loser was told both versions, and what it tried to save.
        assert lose["current"]["version"] == opened + 1
        assert lose["attempted"]["version"] == opened
        field = "phone" if lose["name"] == "A" else "notes"
        assert lose["attempted"][field] == f"{lose['name']}-{r}"
        assert lose["current"][field] != f"{lose['name']}-{r}"
        assert lose["retried"] == opened + 2
    # Nothing was lost: both workers' last values are stored, and the audit
    # log holds every successful save (2 per round) in version order.
    final = store.get(sid)
    assert final["phone"] == f"A-{ROUNDS - 1}" and final["notes"] == f"B-{ROUNDS - 1}"
    assert final["version"] == 1 + 2 * ROUNDS
    hist = store.history(sid)
    assert hist["version"].tolist() == list(range(1 + 2 * ROUNDS, 0, -1))
    assert sorted(hist["editor"].iloc[:-1]) == ["A"] * ROUNDS + ["B"] * ROUNDS
    # Every save's "before" is the previous save's "after": no edit overwritten unseen.
    afters, befores = hist["after"].tolist()[1:], hist["before"].tolist()[:-1]
    assert befores == afters


def test_conflict_error_crosses_process_boundaries():
    exc = ConflictError({"id": "RS-1", "version": 3, "phone": "a"}, {"id": "RS-1", "version": 2, "phone": "b"})
    back = pickle.loads(pickle.dumps(exc))
    assert isinstance(back, ConflictError) and str(back) == str(exc)
    assert back.current["version"] == 3 and back.attempted["phone"] == "b"


def test_the_other_process_sees_a_conflict_through_the_guarded_update(station, tmp_path):
    # A second process saves between this process's version check and its
    # write: the guarded UPDATE must refuse instead of overwriting.
    store, sid = station
    script = ("import sys; from geo.registry.store import open_store; "
              "open_store(sys.argv[1]).update(sys.argv[2], {'phone': 'other process'})")
    backend = type(store)
    real_get = backend.get
    state = {"calls": 0}

    def get_then_other_process_saves(self, station_id):
        rec = real_get(self, station_id)
        state["calls"] += 1
        if state["calls"] == 1:
            subprocess.run([sys.executable, "-c", script, self.location, station_id], cwd=ROOT, check=True)
        return rec

    backend.get = get_then_other_process_saves
    try:
        with pytest.raises(ConflictError) as exc:
            store.update(sid, {"phone": "this process"}, expected_version=1)
    finally:
        backend.get = real_get
    assert exc.value.current["phone"] == "other process" and exc.value.current["version"] == 2
    assert exc.value.attempted["phone"] == "this process" and exc.value.attempted["version"] == 1
    assert "version 1" in str(exc.value) and "now version 2" in str(exc.value)
    assert store.get(sid)["phone"] == "other process"
