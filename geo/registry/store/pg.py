"""The registry store in PostgreSQL/PostGIS: one database shared by every app and API server.

Chosen by a ``postgresql://`` registry setting (:func:`geo.registry.store.open_store`).
It keeps the promises of the GeoPackage store
(:class:`~geo.registry.store.gpkg.GeoPackageStore`), through the same
interface, so pages, the API and the analysis cannot tell them apart:

* an import is one transaction: a client killed half way leaves the
  database as it was;
* an edit is ``UPDATE ... WHERE version = %s``: a stale version raises
  :class:`~geo.registry.store.base.ConflictError`, never overwrites;
* every change writes its ``audit_log`` row in its own transaction;
* every write transaction first raises the one ``registry_state`` counter.
  That row lock queues writers as SQLite's write lock does (so an import
  reads the rows it replaces without a race), and the counter is
  :meth:`PostgisStore.change_stamp`: any server that checks it sees any
  other server's edit at once.

Connections come from a :class:`psycopg_pool.ConnectionPool` per process
and database. Settings come from the URL or the standard ``PG*``
variables (libpq reads them). A database that cannot be reached raises
:class:`~geo.registry.store.base.RegistryUnavailableError`; the server has
then rolled back whatever was in progress. Tables: :mod:`geo.registry.store.pg_schema`.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import geopandas as gpd
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from geo import settings
from geo.core.schema import KINDS
from geo.registry.store.base import (AUDIT_INSERT, RegistryUnavailableError, audit_row, check_no_twin,
                                     station_frame, twin_box)
from geo.registry.store.gpkg_schema import from_sql, layer_fields
from geo.registry.store.pg_content import PostgisContent
from geo.registry.store.pg_reports import PostgisReports
from geo.registry.store.scenarios import PostgisScenarios
from geo.registry.store.station_methods import StationMethods
from geo.registry.store.pg_schema import KIND_ORDER, MIGRATIONS, applied, migrate, station_columns, to_pg

_COLUMNS = station_columns()
_SELECT = sql.SQL("SELECT {} FROM stations").format(sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)))
_INSERT = sql.SQL("INSERT INTO stations (geom, {}) VALUES (ST_SetSRID(ST_MakePoint(%s, %s), 4326), {})").format(
    sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)), sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)))
_UPDATABLE = [c for c in _COLUMNS if c not in ("id", "kind")]
_KIND_AT = _COLUMNS.index("kind")
#: Per layer, its fields and their positions in a selected row (the others stay None, as in the GeoPackage).
_LAYER_COLUMNS = {kind: [(f.name, _COLUMNS.index(f.name)) for f in layer_fields(kind)] for kind in KINDS}
_UPDATE = sql.SQL("UPDATE stations SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326), {} "
                  "WHERE kind = %s AND id = %s").format(
    sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in _UPDATABLE))
_ORDER = sql.SQL(" ORDER BY array_position(%s::text[], kind), fid")

#: Advisory lock that queues report writers (any fixed 64-bit number).
_REPORTS_LOCK = 0x7265_706F_7274  # "report"

_pools: dict[tuple[int, str], ConnectionPool] = {}
_pools_lock = threading.Lock()


def is_database_url(location: str | os.PathLike | None) -> bool:
    """Whether a registry setting names a PostgreSQL database rather than a GeoPackage file."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def public_location(url: str) -> str:
    """The URL as it may be shown or logged: user, host, port and database, never the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://?"
    host = params.get("host") or "localhost"
    port = f":{params['port']}" if params.get("port") else ""
    user = f"{params['user']}@" if params.get("user") else ""
    return f"postgresql://{user}{host}{port}/{params.get('dbname') or ''}"


def _pool(url: str) -> ConnectionPool:
    # One pool per process and database: a forked server must not share its parent's sockets.
    key = (os.getpid(), url)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            conninfo = make_conninfo(url, connect_timeout=max(1, round(settings.PG_CONNECT_TIMEOUT_S)),
                                     application_name="geo-registry")
            # check: a connection the server dropped (a restart, a failover) is replaced
            # before use instead of failing the request that drew it.
            pool = ConnectionPool(conninfo, min_size=1, max_size=settings.PG_POOL_MAX_SIZE,
                                  timeout=settings.PG_CONNECT_TIMEOUT_S, open=False, name="geo-registry",
                                  check=ConnectionPool.check_connection)
            pool.open(wait=False)
            _pools[key] = pool
        return pool


def close_pools(url: str | None = None) -> None:
    """Close this process's connections to ``url`` (every database when None), e.g. before dropping it."""
    with _pools_lock:
        for key in [k for k in _pools if url is None or k[1] == url]:
            _pools.pop(key).close()


@contextmanager
def pooled(url: str) -> Iterator[psycopg.Connection]:
    """A connection from this process's pool for ``url``; the ``with`` block is one transaction.

    Committed when the block ends normally, rolled back on any exception.

    Raises
    ------
    RegistryUnavailableError
        When the database cannot be reached or the connection is lost
        (the server has then rolled back the block's transaction).
    """
    conn = None
    try:
        with _pool(url).connection() as conn:
            yield conn
    except psycopg.OperationalError as exc:
        # A refused or lost connection, not an error of the statement: say so in both languages.
        if conn is None or conn.broken or conn.closed:
            if isinstance(exc, PoolTimeout):
                close_pools(url)  # no retrying in the background; the next call tries afresh
            raise RegistryUnavailableError(public_location(url), _reason(url, exc)) from exc
        raise


class PostgisStore(StationMethods, PostgisReports, PostgisContent, PostgisScenarios):
    """A registry kept in a PostgreSQL database with PostGIS.

    The flows shared with the GeoPackage: :class:`StationMethods`,
    :class:`PostgisReports` (workers' reports), :class:`PostgisScenarios`;
    here is only how PostgreSQL does each step. The whole registry as one
    snapshot, or replaced at once (copies, backups): :class:`PostgisContent`.

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/database`` (parts left out come from
        the ``PG*`` environment variables). The schema is created or
        upgraded on first use.

    Raises
    ------
    RegistryUnavailableError
        When the database cannot be reached.
    """

    # The SQL dialect of the flows written once (geo.registry.store.base.SqlDialect).
    _PARAM = "%s"
    _AS_TEXT = "::text"  # the audit's json columns, as the very text stored

    def _any(self, column: str, values) -> tuple[str, list]:
        return f"{column} = ANY(?)", [list(values)]

    def __init__(self, url: str, *, read_only: bool = False):
        """Open the registry at ``url``, bringing its schema up to date.

        Parameters
        ----------
        url
            A ``postgresql://`` URL.
        read_only
            A read replica (``GEO_REGISTRY_READ``): its schema is the
            primary's, so it is only checked, never migrated; use such a
            store for reads only.
        """
        self.url = url
        self.location = public_location(url)
        with self._connection() as conn:
            if read_only:
                missing = {v for v, _, _ in MIGRATIONS} - set(applied(conn))
                if missing:
                    raise RuntimeError(f"只读副本 {self.location} 缺少第 {sorted(missing)} 步数据表：请先在主库上启动本应用 / "
                                       f"the read replica {self.location} lacks schema steps {sorted(missing)}: "
                                       "start the app on the primary first")
                return
            conn.autocommit = True
            try:
                migrate(conn)
            finally:
                conn.autocommit = False

    # -- plumbing ---------------------------------------------------------

    def _connection(self):
        """A pooled connection; the block is one transaction (committed on success, else rolled back)."""
        return pooled(self.url)

    def _reading(self):
        return self._connection()

    @contextmanager
    def _transaction(self, *, stations: bool = True) -> Iterator[psycopg.Connection]:
        """A write transaction: raises the change counter first, which queues writers one at a time.

        ``stations=False`` (a worker's report): queued with the other reports
        by an advisory lock instead, and the counter is left alone, so that
        a report, which any card may send, does not make every server
        reload the stations (as the GeoPackage store's stamp ignores reports).
        """
        with self._connection() as conn:
            if stations:
                conn.execute("UPDATE registry_state SET change = change + 1 WHERE id = 1")
            else:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_REPORTS_LOCK,))
            yield conn

    def change_stamp(self) -> str:
        """The registry's change counter: raised by every committed change of the stations or logs, from any server.

        Workers' reports leave it alone (see :meth:`_transaction`).
        """
        with self._connection() as conn:
            return str(conn.execute("SELECT change FROM registry_state WHERE id = 1").fetchone()[0])

    @staticmethod
    def _row_to_record(row) -> dict:
        rec = dict.fromkeys(_COLUMNS)
        for name, i in _LAYER_COLUMNS[row[_KIND_AT]]:
            rec[name] = from_sql(name, row[i])
        return rec

    @staticmethod
    def _values(rec: dict) -> list:
        return [float(rec["lon"]), float(rec["lat"])] + [to_pg(c, rec.get(c), rec["kind"]) for c in _COLUMNS]

    def _insert(self, conn, rec: dict) -> None:
        conn.execute(_INSERT, self._values(rec))

    def _insert_many(self, cur, recs: list[dict]) -> None:
        if recs:  # psycopg pipelines executemany: one round trip per batch, not per row
            cur.executemany(_INSERT, [self._values(rec) for rec in recs])

    @staticmethod
    def _update_values(rec: dict) -> list:
        return ([float(rec["lon"]), float(rec["lat"])] + [to_pg(c, rec.get(c), rec["kind"]) for c in _UPDATABLE]
                + [rec["kind"], rec["id"]])

    def _update_row(self, conn, rec: dict, where_version: int | None = None) -> int:
        query, args = _UPDATE, self._update_values(rec)
        if where_version is not None:
            query, args = query + sql.SQL(" AND version = %s"), args + [where_version]
        return conn.execute(query, args).rowcount

    @staticmethod
    def _insert_id(conn, query: str, args) -> int:
        return conn.execute(query + " RETURNING fid", args).fetchone()[0]

    @staticmethod
    def _frame_of(conn, query, args) -> pd.DataFrame:
        cur = conn.execute(query, args)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def _stored_records(self, conn, incoming: list[dict]) -> dict:
        # The stored versions of every incoming id in one query a layer (the counter's lock keeps them current).
        stored = {}
        for kind in {r["kind"] for r in incoming}:
            ids = [r["id"] for r in incoming if r["kind"] == kind]
            for row in conn.execute(_SELECT + sql.SQL(" WHERE kind = %s AND id = ANY(%s)"), (kind, ids)):
                rec = self._row_to_record(row)
                stored[(kind, rec["id"])] = rec
        return stored

    def _write_rows(self, conn, inserts: list[dict], updates: list[dict], audits: list[tuple]) -> None:
        with conn.cursor() as cur:  # psycopg pipelines executemany: one round trip per batch, not per row
            self._insert_many(cur, inserts)
            if updates:
                cur.executemany(_UPDATE, [self._update_values(rec) for rec in updates])
            if audits:
                cur.executemany(self._q(AUDIT_INSERT), [audit_row(*args) for args in audits])

    def _check_twin_within(self, conn, rec: dict, exclude=()) -> None:
        # Checked under the counter's lock: no other writer can add the twin meanwhile.
        check_no_twin(self._neighbours(conn, rec), rec, exclude=exclude)

    def _records(self, conn, kinds: list[str]) -> list[dict]:
        rows = conn.execute(_SELECT + sql.SQL(" WHERE kind = ANY(%s)") + _ORDER, (kinds, KIND_ORDER)).fetchall()
        return [self._row_to_record(r) for r in rows]

    def _records_with_ids(self, conn, ids: list[str]) -> list[dict]:
        rows = conn.execute(_SELECT + sql.SQL(" WHERE id = ANY(%s)") + _ORDER, (ids, KIND_ORDER)).fetchall()
        return [self._row_to_record(r) for r in rows]

    @staticmethod
    def _generation(conn) -> str:
        return str(conn.execute("SELECT generation FROM registry_state WHERE id = 1").fetchone()[0])

    def _neighbours(self, conn, rec: dict) -> gpd.GeoDataFrame:
        """The stations of the record's layer in its :func:`twin_box`, found on the GiST index."""
        rows = conn.execute(_SELECT + sql.SQL(" WHERE kind = %s AND geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
                            + _ORDER, (rec["kind"], *twin_box(rec), KIND_ORDER))
        return station_frame([self._row_to_record(r) for r in rows])

    def _current(self, conn, kind: str, station_id: str, *, lock: bool = False) -> dict | None:
        query = _SELECT + sql.SQL(" WHERE kind = %s AND id = %s") + (sql.SQL(" FOR UPDATE") if lock else sql.SQL(""))
        row = conn.execute(query, (kind, station_id)).fetchone()
        return self._row_to_record(row) if row is not None else None

    # -- reading ----------------------------------------------------------

    def get(self, station_id: str) -> dict | None:
        """One station as a dict of canonical fields, or ``None``."""
        with self._connection() as conn:
            row = conn.execute(_SELECT + sql.SQL(" WHERE id = %s") + _ORDER + sql.SQL(" LIMIT 1"),
                               (station_id, KIND_ORDER)).fetchone()
        return self._row_to_record(row) if row is not None else None

    def _sample_records(self, conn) -> list[dict]:
        rows = conn.execute(_SELECT + sql.SQL(" WHERE is_sample") + _ORDER, (KIND_ORDER,)).fetchall()
        return [self._row_to_record(r) for r in rows]

    @staticmethod
    def _delete_samples(conn) -> int:
        return conn.execute("DELETE FROM stations WHERE is_sample").rowcount


def _reason(url: str, exc: Exception) -> str:
    """Why the database could not be reached, in libpq's words (which never hold the password)."""
    if isinstance(exc, PoolTimeout):
        # The pool only says it waited; one direct attempt tells why.
        try:
            psycopg.connect(url, connect_timeout=2).close()
        except psycopg.Error as direct:
            exc = direct
        else:
            return "所有连接都在使用中 / every connection is in use"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]
