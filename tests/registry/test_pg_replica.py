"""Public reads from a PostgreSQL read replica (GEO_REGISTRY_READ), writes to the primary.

A real streaming replica (``pg_basebackup -R``) of a throwaway server. With
replay paused on the replica, an edit on the primary is not in the public
answers (so they really come from the replica); once replay resumes it is,
within the 2 seconds the API promises.
"""
from __future__ import annotations

import time

import psycopg
import pytest

from geo.registry.store import create_registry, open_store
from geo.registry.store.pg import PostgisStore

from conftest import FUTIAN


@pytest.fixture(scope="module")
def servers():
    from pg_server import PgServer

    primary = PgServer()
    url = primary.new_database("replicated")
    store = create_registry(url)
    for i in range(3):
        store.add({"kind": "rest_station", "name": f"副本驿站{i}", "lon": FUTIAN[0] + 0.01 * i, "lat": FUTIAN[1]})
    replica = primary.replica()
    yield url, replica.url(url.rsplit("/", 1)[1]), replica
    replica.stop()
    primary.stop()


def _wait_replayed(replica_url: str, primary_url: str) -> None:
    with psycopg.connect(primary_url, autocommit=True) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    with psycopg.connect(replica_url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)


def test_public_reads_come_from_the_replica_and_see_edits_once_replayed(servers, monkeypatch):
    from geo.web import public_api
    from geo.web.served import served_reader

    primary_url, replica_url, _ = servers
    monkeypatch.setenv("GEO_REGISTRY", primary_url)
    monkeypatch.setenv("GEO_REGISTRY_READ", replica_url)
    _wait_replayed(replica_url, primary_url)
    assert served_reader().location != open_store(primary_url).location
    sid = public_api.stations()["id"].iloc[0]

    with psycopg.connect(replica_url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            editor = open_store(primary_url)
            editor.update(sid, {"notes": "主库上的修改"}, expected_version=int(editor.get(sid)["version"]))
            time.sleep(0.5)
            assert public_api.stations().set_index("id").loc[sid, "notes"] != "主库上的修改"
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")
            resumed = time.monotonic()
    while public_api.stations().set_index("id").loc[sid, "notes"] != "主库上的修改":
        assert time.monotonic() - resumed < 2, "the edit did not show within 2 s of the replica replaying it"
        time.sleep(0.02)


def test_a_replica_store_is_read_only_and_never_migrates(servers):
    primary_url, replica_url, _ = servers
    _wait_replayed(replica_url, primary_url)
    reader = PostgisStore(replica_url, read_only=True)
    assert len(reader.load()) == 3
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        PostgisStore(replica_url)  # migrating (even a no-op check that writes) is refused there


def test_a_read_setting_that_is_not_a_database_is_refused(monkeypatch, tmp_path):
    from geo.web.served import served_reader

    monkeypatch.setenv("GEO_REGISTRY", str(tmp_path / "r.gpkg"))
    monkeypatch.setenv("GEO_REGISTRY_READ", str(tmp_path / "replica.gpkg"))
    with pytest.raises(ValueError, match="GEO_REGISTRY_READ"):
        served_reader()
