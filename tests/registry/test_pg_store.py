"""The PostGIS backend's own promises, on a real PostgreSQL server (tests/pg_server.py).

The shared behaviour (loading, edits, conflicts, audit, reports, exports,
privacy) is tested on both backends through the parametrised ``registry``
fixture; here is what only a database server has: migrations recorded in
the database, the geometry column and its index, failures raised by the
server itself rolling a whole import or edit back, other processes seeing
a change at once, and a database that cannot be reached.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pandas as pd
import psycopg
import pytest

from geo import settings
from geo.registry.io.table import RawTable
from geo.registry.store import create_registry, open_store
from geo.registry.store.base import RegistryUnavailableError
from geo.registry.store.pg import PostgisStore, close_pools, public_location
from geo.registry.store.pg_schema import MIGRATIONS, migrate
from geo.registry.validate import validate_table

from conftest import FUTIAN, HAIZHU, ROOT, TIANHE, YUEXIU


def report_of(rows: list[dict]):
    df = pd.DataFrame(rows, dtype=object).fillna("").astype(str)
    return validate_table(RawTable(df, filename="s.csv", format="csv"), None, source="src")


def rows() -> list[dict]:
    return [
        {"名称": "天河驿站", "经度": TIANHE[0], "纬度": TIANHE[1], "类型": "暖蜂驿站", "编号": "R1", "电话": "1"},
        {"名称": "越秀司机之家", "经度": YUEXIU[0], "纬度": YUEXIU[1], "类型": "司机之家", "编号": "D1", "车位数": "12"},
        {"名称": "海珠法律服务站", "经度": HAIZHU[0], "纬度": HAIZHU[1], "类型": "法律援助工作站", "编号": "L1"},
    ]


def many_rows(n: int) -> list[dict]:
    return [{"名称": f"新驿站{i}", "经度": 113.20 + i * 0.002, "纬度": 23.05 + i * 0.001, "类型": "驿站",
             "编号": f"N{i}"} for i in range(n)]


def state(url: str) -> dict:
    """Everything stored but timestamps, read with SQL of its own (not through the store)."""
    with psycopg.connect(url) as conn:
        stations = conn.execute("SELECT kind, id, name, phone, version, ST_AsText(geom) FROM stations "
                                "ORDER BY kind, id").fetchall()
        imports = conn.execute("SELECT count(*), coalesce(sum(inserted), 0) FROM import_log").fetchone()
        audit = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    return {"stations": stations, "imports": imports, "audit": audit}


@pytest.fixture
def filled(pg_url) -> PostgisStore:
    store = create_registry(pg_url)
    store.commit_import(report_of(rows()), editor="王五")
    return store


def test_the_schema_is_made_by_recorded_migrations_with_a_gist_indexed_point(pg_url):
    store = PostgisStore(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        recorded = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert recorded == [m[0] for m in MIGRATIONS]
        assert migrate(conn) == []  # opening again applies nothing
        geometry = conn.execute("SELECT type, srid, coord_dimension FROM geometry_columns "
                                "WHERE f_table_name = 'stations' AND f_geometry_column = 'geom'").fetchone()
        assert geometry == ("POINT", 4326, 2)
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'stations' "
                             "AND indexdef LIKE '%USING gist (geom)%'").fetchall()
        assert len(index) == 1
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    # Audit log, import log, reports and login counts live in the same database.
    assert {"stations", "import_log", "audit_log", "station_reports", "report_limits", "login_failures",
            "login_lockouts", "registry_state"} <= tables
    assert store.load().empty and store.change_stamp() == "0"


def test_an_older_database_is_upgraded_by_the_missing_steps(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # As a database made before workers' reports existed (migration 3).
        conn.execute("DROP TABLE station_reports, report_limits")
        conn.execute("DELETE FROM schema_migrations WHERE version = 3")
    store = PostgisStore(pg_url)
    with psycopg.connect(pg_url) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == \
            [m[0] for m in MIGRATIONS]
    assert store.reports().empty


def test_the_knn_index_answers_nearest_by_straight_line(filled):
    # What bench/scale.py measures: PostGIS KNN (<->) on the GiST index.
    with psycopg.connect(filled.url) as conn:
        near = conn.execute("SELECT name FROM stations ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) "
                            "LIMIT 2", FUTIAN).fetchall()
    assert [n for (n,) in near] == ["海珠法律服务站", "天河驿站"]


def test_an_import_the_server_refuses_half_way_leaves_nothing(filled):
    before = state(filled.url)
    with psycopg.connect(filled.url, autocommit=True) as conn:
        # The server itself fails the 11th new row, after ten went in.
        conn.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                        $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$""")
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON stations FOR EACH ROW "
                     "WHEN (NEW.name = '新驿站10') EXECUTE FUNCTION refuse()")
    changed = rows()
    changed[0]["电话"] = "changed"
    with pytest.raises(psycopg.errors.RaiseException, match="disk on fire"):
        filled.commit_import(report_of(changed + many_rows(25)))
    assert state(filled.url) == before
    with psycopg.connect(filled.url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse ON stations")
    assert filled.commit_import(report_of(changed + many_rows(25))) == {"inserted": 25, "updated": 1, "unchanged": 2}


def test_a_change_whose_audit_row_fails_is_rolled_back(filled):
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    before = state(filled.url)
    with psycopg.connect(filled.url, autocommit=True) as conn:
        conn.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                        $$ BEGIN RAISE EXCEPTION 'audit disk full'; END $$""")
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse()")
    with pytest.raises(psycopg.errors.RaiseException):
        filled.update(rid, {"phone": "lost"})
    with pytest.raises(psycopg.errors.RaiseException):
        filled.commit_import(report_of(many_rows(3)))
    assert state(filled.url) == before
    assert filled.get(rid)["phone"] == "1"


def test_another_process_edit_is_seen_at_once_through_the_public_api_cache(filled, monkeypatch):
    from geo.web import public_api

    monkeypatch.setenv("GEO_REGISTRY", filled.url)
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    assert public_api.stations().set_index("id").at[rid, "phone"] == "1"
    stamp = filled.change_stamp()
    script = ("import sys; from geo.registry.store import open_store; "
              "open_store(sys.argv[1]).update(sys.argv[2], {'phone': 'from another server'})")
    subprocess.run([sys.executable, "-c", script, filled.url, rid], cwd=ROOT, check=True, timeout=120)
    saved = time.monotonic()
    assert filled.change_stamp() != stamp
    while public_api.stations().set_index("id").at[rid, "phone"] != "from another server":
        assert time.monotonic() - saved < 2, "the other process's edit was not seen within 2 s"
    assert time.monotonic() - saved < 2


def test_an_unreachable_database_is_said_in_both_languages_without_the_password(pg_server, monkeypatch):
    monkeypatch.setattr(settings, "PG_CONNECT_TIMEOUT_S", 1.0)  # how long the pool waits before saying so
    url = f"postgresql://geo:s3cret-pw@127.0.0.1:{pg_server.port}/no_such_database"
    with pytest.raises(RegistryUnavailableError) as exc:
        open_store(url)
    message = str(exc.value)
    assert "无法连接登记库数据库" in message and "cannot reach the registry database" in message
    assert "no_such_database" in message and "s3cret-pw" not in message
    assert public_location(url) == f"postgresql://geo@127.0.0.1:{pg_server.port}/no_such_database"


def test_a_database_gone_mid_session_refuses_the_edit_and_keeps_nothing_half_done(filled, pg_server, monkeypatch):
    monkeypatch.setattr(settings, "PG_CONNECT_TIMEOUT_S", 1.0)
    rid = filled.load(kinds=["rest_station"])["id"].iat[0]
    # Connections cut by the server (a restart, a failover): the pool replaces them, the edit goes through.
    with pg_server.admin() as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                      (filled.url.rsplit("/", 1)[1],))
    assert filled.update(rid, {"phone": "after reconnect"})["version"] == 2
    pg_server.drop_database(filled.url)  # now the database itself is gone
    with pytest.raises(RegistryUnavailableError, match="cannot reach"):
        filled.update(rid, {"phone": "never"})
    close_pools(filled.url)


def test_reports_leave_the_change_stamp_edits_and_restores_change_it(filled, tmp_path):
    # As the GeoPackage's stamp: readers reload the stations when it changes, and a report
    # from every card must not make them; a change of a station and a restore must.
    from geo.registry.backup import backup_registry, restore_registry

    sid = filled.load()["id"].iat[0]
    before = filled.change_stamp()
    filled.add_report(sid, "closed", "", client="k1")
    filled.reports()
    assert filled.change_stamp() == before
    filled.update(sid, {"notes": "checked"}, editor="ed")
    edited = filled.change_stamp()
    assert edited != before
    backup_registry(filled.url, tmp_path / "b.gpkg")
    restore_registry(tmp_path / "b.gpkg", filled.url)
    assert filled.change_stamp() != edited


def test_the_duplicate_rule_holds_with_the_index_backed_neighbourhood(filled):
    # add/update look for a twin only among the layer's stations in a box around the point.
    from geo.registry.validate import ValidationError

    with pytest.raises(ValidationError, match="50"):
        filled.add({"name": " 天河驿站", "kind": "rest_station", "lon": TIANHE[0] + 0.0003, "lat": TIANHE[1]})
    far = filled.add({"name": "天河驿站", "kind": "rest_station", "lon": TIANHE[0] + 0.02, "lat": TIANHE[1]})
    other_layer = filled.add({"name": "天河驿站", "kind": "legal_aid", "lon": TIANHE[0], "lat": TIANHE[1]})
    assert far["version"] == 1 and other_layer["kind"] == "legal_aid"
    with pytest.raises(ValidationError, match="50"):
        filled.update(far["id"], {"lon": TIANHE[0] + 0.0001, "lat": TIANHE[1]})
    assert filled.get(far["id"])["lon"] == TIANHE[0] + 0.02


def test_the_registry_setting_keeps_a_database_url_whole(monkeypatch, tmp_path):
    monkeypatch.setenv("GEO_REGISTRY", "postgresql://geo@db.internal:5432/registry")
    assert settings.registry_location() == "postgresql://geo@db.internal:5432/registry"
    monkeypatch.setenv("GEO_REGISTRY", str(tmp_path / "r.gpkg"))
    assert settings.registry_location() == str(tmp_path / "r.gpkg")
    monkeypatch.delenv("GEO_REGISTRY")
    assert settings.registry_location() == str(settings.DATA_DIR / "registry.gpkg")
