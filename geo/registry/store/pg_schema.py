"""The PostGIS registry's tables: versioned migrations recorded in the database, and station values as SQL values.

Every station of the three layers is one row of ``stations`` (a ``kind``
column says its layer, as the GeoPackage's table names do), with a
``geometry(Point, 4326)`` column under a GiST index. The import log, the
audit log, the failed-login counts, workers' reports, saved scenarios and ``registry_state`` (a change counter
every write transaction raises, so every server can tell cheaply that the
registry changed) live in the same database.

:func:`migrate` brings a database up to :data:`MIGRATIONS`, each step in
the transaction that records it in ``schema_migrations``, under an advisory
lock so that servers starting together do not race. Fields the canonical
schema gains later are added as columns, as the GeoPackage store adds them
to older files.
"""
from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from geo.core.schema import FIELDS, FIELDS_BY_NAME, KINDS
from geo.registry.store.gpkg_schema import TRUE_BY_DEFAULT, layer_fields, to_sql

#: The PostgreSQL column type of each field type. Lists stay JSON text, as
#: in the GeoPackage, so both stores hold and return the very same values.
PG_TYPES = {"str": "text", "int": "bigint", "float": "double precision", "bool": "boolean", "list": "text"}
#: Name of the advisory lock migrations hold (any fixed 64-bit number).
_MIGRATION_LOCK = 0x6765_6F72_6567  # "georeg"
#: Columns of ``stations`` besides the fields: the row number and the point.
_STATION_FIELDS = [f for f in FIELDS if f.name not in ("id", "kind")]


class PostgisMissingError(RuntimeError):
    """The database lacks the PostGIS extension and this account may not create it."""


def _field_column(name: str) -> sql.Composable:
    field = FIELDS_BY_NAME[name]
    default = sql.SQL(" DEFAULT true") if name in TRUE_BY_DEFAULT else sql.SQL("")
    return sql.SQL("{} {}{}").format(sql.Identifier(name), sql.SQL(PG_TYPES[field.dtype]), default)


def _postgis(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION postgis")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PostgisMissingError(
            "数据库未安装 PostGIS 扩展，当前账号也无权安装；请数据库管理员执行 CREATE EXTENSION postgis / "
            "the database lacks the PostGIS extension and this account may not create it; "
            "ask the database administrator to run CREATE EXTENSION postgis") from exc


def _base_tables(conn: psycopg.Connection) -> None:
    _postgis(conn)
    columns = sql.SQL(",\n").join(_field_column(f.name) for f in _STATION_FIELDS)
    conn.execute(sql.SQL("""CREATE TABLE stations (
        fid bigserial PRIMARY KEY,
        kind text NOT NULL,
        id text NOT NULL,
        geom geometry(Point, 4326) NOT NULL,
        {},
        UNIQUE (kind, id))""").format(columns))
    conn.execute("CREATE INDEX stations_geom ON stations USING gist (geom)")
    conn.execute("CREATE INDEX stations_id ON stations (id)")
    conn.execute("""CREATE TABLE import_log (
        fid bigserial PRIMARY KEY, at text NOT NULL, source text, filename text, format text,
        kind text, crs_used text, rows bigint, accepted bigint, rejected bigint, warnings bigint,
        inserted bigint, updated bigint, unchanged bigint)""")
    # ``json`` (not ``jsonb``) keeps the text exactly as written, as the GeoPackage's TEXT does.
    conn.execute("""CREATE TABLE audit_log (
        fid bigserial PRIMARY KEY, at text NOT NULL, editor text NOT NULL,
        station_id text NOT NULL, kind text, action text NOT NULL, version bigint,
        import_id bigint, before json, after json)""")
    conn.execute("CREATE INDEX audit_log_station ON audit_log (station_id)")
    conn.execute("CREATE TABLE registry_state (id int PRIMARY KEY CHECK (id = 1), change bigint NOT NULL)")
    conn.execute("INSERT INTO registry_state VALUES (1, 0)")


def _login_tables(conn: psycopg.Connection) -> None:
    # The failed-login counts of geo.registry.auth, shared by every server of a deployment.
    conn.execute("CREATE TABLE login_failures (key text NOT NULL, at double precision NOT NULL)")
    conn.execute("CREATE INDEX login_failures_key ON login_failures (key, at)")
    conn.execute("CREATE TABLE login_lockouts (key text PRIMARY KEY, until double precision NOT NULL)")


def _report_tables(conn: psycopg.Connection) -> None:
    # Workers' reports (geo/registry/reports.py), as in the GeoPackage: no client data in
    # station_reports; the client's keyed hash only in report_limits, deleted after the window.
    conn.execute("""CREATE TABLE station_reports (
        fid bigserial PRIMARY KEY, station_id text NOT NULL, type text NOT NULL, text text NOT NULL DEFAULT '',
        at text NOT NULL, counted boolean NOT NULL DEFAULT true, status text NOT NULL DEFAULT 'open',
        resolved_at text, resolved_by text, reason text, audit_id bigint)""")
    conn.execute("CREATE INDEX station_reports_station ON station_reports (station_id, at)")
    conn.execute("CREATE INDEX station_reports_status ON station_reports (status, at)")
    conn.execute("""CREATE TABLE report_limits (
        fid bigserial PRIMARY KEY, client text NOT NULL, station_id text NOT NULL, type text NOT NULL,
        at double precision NOT NULL)""")
    conn.execute("CREATE INDEX report_limits_client ON report_limits (client, at)")


def _scenario_tables(conn: psycopg.Connection) -> None:
    # Saved siting scenarios and their log, as in the GeoPackage (geo/registry/store/scenarios.py).
    conn.execute("""CREATE TABLE scenarios (
        fid bigserial PRIMARY KEY, name text NOT NULL UNIQUE, saved_at text NOT NULL, editor text NOT NULL,
        version bigint NOT NULL DEFAULT 1, content text NOT NULL)""")
    conn.execute("""CREATE TABLE scenario_log (
        fid bigserial PRIMARY KEY, at text NOT NULL, editor text NOT NULL, action text NOT NULL,
        name text NOT NULL)""")


def _generation_column(conn: psycopg.Connection) -> None:
    # Servers patch their copy of the stations from the audit rows after their last one;
    # a restore replaces the audit log too, so it raises this and they load everything.
    conn.execute("ALTER TABLE registry_state ADD COLUMN generation bigint NOT NULL DEFAULT 0")


#: ``(version, description, step)``, applied in order; never edit a released step, add one.
MIGRATIONS: list[tuple[int, str, Callable[[psycopg.Connection], None]]] = [
    (1, "stations, import log, audit log, change counter", _base_tables),
    (2, "failed-login counts", _login_tables),
    (3, "workers' station reports and their limits", _report_tables),
    (4, "saved siting scenarios and their log", _scenario_tables),
    (5, "registry generation, raised by a whole-registry restore", _generation_column),
]


def applied(conn: psycopg.Connection) -> list[int]:
    """The migrations recorded in the database, in order (empty for a new database)."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return []
    return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def migrate(conn: psycopg.Connection) -> list[int]:
    """Bring the database up to :data:`MIGRATIONS`; returns the versions applied now.

    Each step runs in its own transaction with its ``schema_migrations``
    row, so a failed step leaves the database at the step before.
    ``conn`` must be in autocommit mode.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
            version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())""")
    done, now = set(applied(conn)), []
    for version, description, step in MIGRATIONS:
        if version in done:
            continue
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            if conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,)).fetchone():
                continue  # another server applied it meanwhile
            step(conn)
            conn.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                         (version, description))
            now.append(version)
    _add_new_fields(conn)
    return now


def _add_new_fields(conn: psycopg.Connection) -> None:
    have = {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'stations' "
        "AND table_schema = current_schema()")}
    missing = [f.name for f in _STATION_FIELDS if f.name not in have]
    if not missing:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        for name in missing:
            conn.execute(sql.SQL("ALTER TABLE stations ADD COLUMN IF NOT EXISTS {}").format(_field_column(name)))


def station_columns() -> list[str]:
    """The field columns of ``stations``, in the canonical order."""
    return [f.name for f in FIELDS]


_LAYER_FIELD_NAMES = {kind: frozenset(f.name for f in layer_fields(kind)) for kind in KINDS}
_BOOLS = frozenset(f.name for f in FIELDS if f.dtype == "bool")


def to_pg(field_name: str, value, kind: str):
    """A field's value as stored: as in the GeoPackage, NULL where its layer lacks the field."""
    if field_name not in _LAYER_FIELD_NAMES[kind]:
        return None
    value = to_sql(field_name, value)
    if field_name in _BOOLS and value is not None:
        return bool(value)
    return value


#: The layers in their canonical order, for ``ORDER BY array_position(...)``.
KIND_ORDER = list(KINDS)
