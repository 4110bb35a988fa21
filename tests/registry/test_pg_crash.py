"""Trust, PostGIS: SIGKILL of the client mid-import leaves the database exactly as before (or as after).

The PostGIS side of tests/registry/test_trust_crash.py. A client process
opens the registry and commits a large import (1,000 updates and 3,000
inserts in one transaction); it is killed with SIGKILL after a random
delay. Once the server has ended that client's session, the database must
hold exactly the state before the import or exactly the state after it,
never a part, and never a change without its audit row. Each kill works on
a fresh copy of the same base database (``CREATE DATABASE ... TEMPLATE``).
The client is forked from the GeoPackage test's ``forkserver`` (the library
already imported), so a kill costs no interpreter start. ``TRUST_KILLS``
sets the number of kills (default 10).
"""
from __future__ import annotations

import os
import pickle
import random
import time
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from geo.registry.store import create_registry, open_store
from geo.registry.store.pg import close_pools

from test_trust_crash import N_BASE, N_NEW, _context, _delays, _kill_at_random, _report, _report_counts, _rows

KILLS = int(os.environ.get("TRUST_KILLS", "10"))
pytestmark = pytest.mark.slow


def _import_child(url: str, report_file: str, started) -> None:
    report = pickle.loads(Path(report_file).read_bytes())
    store = open_store(url)  # its own pool: pools are per process
    store.get("warm-up")  # connected before the clock starts
    started.set()
    store.commit_import(report, editor="crash-test")


def _state(url: str) -> dict:
    """Everything stored but row numbers and times: stations, import log sums, audit rows."""
    with psycopg.connect(url) as conn:
        stations = conn.execute("SELECT kind, id, name, phone, version, ST_AsText(geom) FROM stations "
                                "ORDER BY kind, id").fetchall()
        log = conn.execute("SELECT count(*), coalesce(sum(inserted), 0), coalesce(sum(updated), 0) "
                           "FROM import_log").fetchone()
        audit = conn.execute("SELECT count(*), coalesce(sum(version), 0) FROM audit_log").fetchone()
    return {"stations": stations, "import_log": log, "audit": audit}


def _copy(server, base: str, name: str) -> str:
    with server.admin() as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {base} STRATEGY FILE_COPY")
    return server.url(name)


def _wait_session_gone(server, name: str) -> None:
    """Until the server has ended the killed client's session (rolled back, or committed if COMMIT arrived)."""
    deadline = time.monotonic() + 30
    with server.admin() as conn:
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the killed client's session did not end"
            time.sleep(0.02)


def test_sigkill_of_the_client_during_a_large_import(pg_server, tmp_path):
    base = f"crash_base_{os.getpid()}"
    with pg_server.admin() as conn:
        conn.execute(f"CREATE DATABASE {base} TEMPLATE geo_template STRATEGY FILE_COPY")
    create_registry(pg_server.url(base)).commit_import(_report(_rows(N_BASE, 0, "020-0000")))
    close_pools(pg_server.url(base))  # a template must have no sessions
    big = _report(pd.concat([_rows(N_BASE, 0, "020-1111"), _rows(N_NEW, N_BASE, "020-2222")], ignore_index=True))
    report_file = tmp_path / "report.pkl"
    report_file.write_bytes(pickle.dumps(big))
    before = _state(pg_server.url(base))

    done = _copy(pg_server, base, f"crash_done_{os.getpid()}")
    t0 = time.perf_counter()
    open_store(done).commit_import(big, editor="crash-test")
    duration = time.perf_counter() - t0
    close_pools(done)
    after = _state(done)
    assert after["audit"][0] == before["audit"][0] + N_BASE + N_NEW

    counts = {"kills": 0, "failures": 0, "before": 0, "after": 0, "finished_first": 0,
              "commit_seconds": round(duration, 3)}
    started = _context().Event()
    for i, delay in enumerate(_delays(random.Random(20261202), KILLS, duration)):
        name = f"crash_work_{os.getpid()}_{i}"
        url = _copy(pg_server, base, name)
        started.clear()
        counts["finished_first"] += _kill_at_random(_import_child, (url, str(report_file), started), started, delay)
        counts["kills"] += 1
        _wait_session_gone(pg_server, name)
        seen = _state(url)
        if seen not in (before, after):
            counts["failures"] += 1
        else:
            counts["before" if seen == before else "after"] += 1
        assert seen in (before, after), "the database is neither the state before nor after the import"
    _report_counts("postgis import", counts)
    assert counts["failures"] == 0
    # The kills landed both before and after the commit point.
    assert counts["before"] > 0 and counts["after"] > 0
