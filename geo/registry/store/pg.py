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

import json
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Iterable

import geopandas as gpd
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout
from shapely import points

from geo import settings
from geo.core.schema import FIELDS, KINDS, STATUSES
from geo.registry.changes import changed_fields
from geo.registry.store.base import (ConflictError, RegistryUnavailableError, check_no_twin, editor_name,
                                     keep_private_fields, now_iso, restored_record)
from geo.registry.store.gpkg_schema import as_stored, from_sql, layer_fields
from geo.registry.store.pg_content import PostgisContent
from geo.registry.store.pg_reports import PostgisReports
from geo.registry.store.scenarios import PostgisScenarios
from geo.registry.store.pg_schema import KIND_ORDER, migrate, station_columns, to_pg
from geo.registry.validate import ImportReport, ValidationError, validate_record

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
_AUDIT = ("INSERT INTO audit_log (at, editor, station_id, kind, action, version, import_id, before, after)"
          " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")
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


class PostgisStore(PostgisReports, PostgisContent, PostgisScenarios):
    """A registry kept in a PostgreSQL database with PostGIS.

    Workers' reports: :class:`PostgisReports`; the whole registry as one
    snapshot, or replaced at once (copies, backups): :class:`PostgisContent`;
    saved scenarios: :class:`PostgisScenarios`.

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

    def __init__(self, url: str):
        self.url = url
        self.location = public_location(url)
        with self._connection() as conn:
            conn.autocommit = True
            try:
                migrate(conn)
            finally:
                conn.autocommit = False

    # -- plumbing ---------------------------------------------------------

    def _connection(self):
        """A pooled connection; the block is one transaction (committed on success, else rolled back)."""
        return pooled(self.url)

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
    def _audit_row(editor: str, action: str, before: dict | None, after: dict | None, stamp: str,
                   import_id: int | None = None) -> tuple:
        rec = after or before
        return (stamp, editor, rec["id"], rec["kind"], action, None if after is None else after.get("version"),
                import_id, None if before is None else _json(before), None if after is None else _json(after))

    def _audit(self, conn, *args, **kwargs) -> None:
        # On the caller's connection, inside its transaction: change and audit row commit together.
        conn.execute(_AUDIT, self._audit_row(*args, **kwargs))

    def _records(self, conn, kinds: list[str]) -> list[dict]:
        rows = conn.execute(_SELECT + sql.SQL(" WHERE kind = ANY(%s)") + _ORDER, (kinds, KIND_ORDER)).fetchall()
        return [self._row_to_record(r) for r in rows]

    def _neighbours(self, conn, rec: dict) -> gpd.GeoDataFrame:
        """The stations of the record's layer in a box around it, found on the GiST index.

        All a duplicate check needs (a twin lies within ``settings.DUPLICATE_RADIUS_M``;
        the box is at least 1 km each way), without loading a national layer.
        """
        dlat = max(0.01, 3 * settings.DUPLICATE_RADIUS_M / 111_000)
        dlon = dlat / max(math.cos(math.radians(float(rec["lat"]))), 0.05)
        lon, lat = float(rec["lon"]), float(rec["lat"])
        rows = conn.execute(_SELECT + sql.SQL(" WHERE kind = %s AND geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
                            + _ORDER, (rec["kind"], lon - dlon, lat - dlat, lon + dlon, lat + dlat, KIND_ORDER))
        return _frame([self._row_to_record(r) for r in rows])

    def _current(self, conn, kind: str, station_id: str, *, lock: bool = False) -> dict | None:
        query = _SELECT + sql.SQL(" WHERE kind = %s AND id = %s") + (sql.SQL(" FOR UPDATE") if lock else sql.SQL(""))
        row = conn.execute(query, (kind, station_id)).fetchone()
        return self._row_to_record(row) if row is not None else None

    # -- reading ----------------------------------------------------------

    def load(self, kinds: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
             region: str | None = None) -> gpd.GeoDataFrame:
        """All stations of the chosen layers as one GeoDataFrame (WGS-84), as the GeoPackage store returns them.

        Parameters
        ----------
        kinds, statuses : iterable of str, optional
            Keep only these layers / statuses.
        region : str, optional
            Adcode of the province, a city or a district.
        """
        kinds = list(kinds) if kinds else list(KINDS)
        with self._connection() as conn:
            records = self._records(conn, kinds)
        return _frame(records, statuses=statuses, region=region)

    def get(self, station_id: str) -> dict | None:
        """One station as a dict of canonical fields, or ``None``."""
        with self._connection() as conn:
            row = conn.execute(_SELECT + sql.SQL(" WHERE id = %s") + _ORDER + sql.SQL(" LIMIT 1"),
                               (station_id, KIND_ORDER)).fetchone()
        return self._row_to_record(row) if row is not None else None

    def import_log(self) -> pd.DataFrame:
        """Every import committed to this registry, newest first."""
        with self._connection() as conn:
            cur = conn.execute("SELECT * FROM import_log ORDER BY fid DESC")
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def history(self, station_id: str) -> pd.DataFrame:
        """Every recorded change of one station, newest first (as :meth:`GeoPackageStore.history`)."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT fid, at, editor, action, version, import_id, before::text, after::text FROM audit_log "
                "WHERE station_id = %s ORDER BY fid DESC", (station_id,)).fetchall()
        out = []
        for fid, at, editor, action, version, import_id, before, after in rows:
            before = json.loads(before) if before else None
            after = json.loads(after) if after else None
            out.append({"audit_id": int(fid), "at": at, "editor": editor, "action": action, "version": version,
                        "import_id": import_id, "changed": changed_fields(before, after),
                        "before": before, "after": after})
        columns = ["audit_id", "at", "editor", "action", "version", "import_id", "changed", "before", "after"]
        df = pd.DataFrame(out, columns=columns)
        df["version"] = df["version"].astype("Int64")
        df["import_id"] = df["import_id"].astype("Int64")
        return df

    def audit_log(self, limit: int | None = 200) -> pd.DataFrame:
        """The latest changes to the whole registry, newest first; ``before``/``after`` stay JSON text."""
        query = ("SELECT fid AS audit_id, at, editor, station_id, kind, action, version, import_id, "
                 "before::text AS before, after::text AS after FROM audit_log ORDER BY fid DESC")
        with self._connection() as conn:
            if limit is not None:
                cur = conn.execute(query + " LIMIT %s", (int(limit),))
            else:
                cur = conn.execute(query)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    # -- writing ----------------------------------------------------------

    def commit_import(self, report: ImportReport, editor: str = settings.EDITOR_APP) -> dict:
        """Write a validated import in one transaction (as :meth:`GeoPackageStore.commit_import`).

        Returns
        -------
        dict
            ``{"inserted": n, "updated": n, "unchanged": n}``
        """
        editor = editor_name(editor)
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        stamp = now_iso()
        incoming = report.accepted.drop(columns=["geometry", "row"], errors="ignore").to_dict("records")
        with self._transaction() as conn:
            import_id = conn.execute(
                "INSERT INTO import_log (at, source, filename, format, kind, crs_used, rows, accepted, rejected,"
                " warnings, inserted, updated, unchanged) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,0,0,0) RETURNING fid",
                (stamp, report.source, report.filename, report.format, report.kind or "auto", report.crs_used,
                 report.rows, len(report.accepted), len(report.rejects), len(report.warnings))).fetchone()[0]
            # The stored versions of every incoming id in one query (the counter's lock keeps them current).
            stored = {}
            for kind in {r["kind"] for r in incoming}:
                ids = [r["id"] for r in incoming if r["kind"] == kind]
                for row in conn.execute(_SELECT + sql.SQL(" WHERE kind = %s AND id = ANY(%s)"), (kind, ids)):
                    rec = self._row_to_record(row)
                    stored[(kind, rec["id"])] = rec
            inserts, updates, audits = [], [], []
            for rec in incoming:
                old = stored.get((rec["kind"], rec["id"]))
                if old is None:
                    rec.update(version=1, updated_at=stamp)
                    inserts.append(rec)
                    new = as_stored(rec)
                    audits.append(self._audit_row(editor, "import", None, new, stamp, import_id))
                    # A file listing a station twice: the second row updates the first, as in the GeoPackage.
                    stored[(rec["kind"], rec["id"])] = new
                    counts["inserted"] += 1
                    continue
                keep_private_fields(old, rec)
                if not changed_fields(old, rec):
                    counts["unchanged"] += 1
                    continue
                rec.update(version=int(old["version"] or 1) + 1, updated_at=stamp)
                updates.append(rec)
                new = as_stored(rec)
                audits.append(self._audit_row(editor, "import", old, new, stamp, import_id))
                stored[(rec["kind"], rec["id"])] = new
                counts["updated"] += 1
            with conn.cursor() as cur:
                self._insert_many(cur, inserts)
                if updates:
                    cur.executemany(_UPDATE, [self._update_values(rec) for rec in updates])
                if audits:
                    cur.executemany(_AUDIT, audits)
            conn.execute("UPDATE import_log SET inserted = %s, updated = %s, unchanged = %s WHERE fid = %s",
                         (counts["inserted"], counts["updated"], counts["unchanged"], import_id))
        return counts

    def add(self, record: dict, editor: str = settings.EDITOR_APP) -> dict:
        """Add one station entered by hand; returns it as stored (as :meth:`GeoPackageStore.add`).

        Raises
        ------
        ValidationError
            When the record is invalid or the station already exists (same
            id, or same name within ``settings.DUPLICATE_RADIUS_M`` in its layer).
        """
        editor = editor_name(editor)
        rec = validate_record({"source": "app", **record})
        rec.update(version=1, updated_at=now_iso())
        with self._transaction() as conn:
            # Checked under the counter's lock: no other writer can add the twin meanwhile.
            check_no_twin(self._neighbours(conn, rec), rec)
            if self._current(conn, rec["kind"], rec["id"]) is not None:
                raise ValidationError(f"站点已存在 / station already exists: {rec['id']}")
            self._insert(conn, rec)
            self._audit(conn, editor, "add", None, as_stored(rec), rec["updated_at"])
        return rec

    def update(self, station_id: str, changes: dict, expected_version: int | None = None,
               editor: str = settings.EDITOR_APP) -> dict:
        """Change fields of one station; returns it as stored (as :meth:`GeoPackageStore.update`).

        Raises
        ------
        ValidationError
            When the result is invalid or would duplicate another station.
        ConflictError
            When ``expected_version`` is not the stored version.
        """
        return self._update(station_id, changes, expected_version, editor_name(editor), "update")

    def set_status(self, station_id: str, status: str, expected_version: int | None = None,
                   editor: str = settings.EDITOR_APP) -> dict:
        """Mark a station open, temporarily closed, closed or planned."""
        return self._update(station_id, {"status": status}, expected_version, editor_name(editor), "set_status")

    def _update(self, station_id: str, changes: dict, expected_version: int | None,
                editor: str, action: str, also=None) -> dict:
        current = self.get(station_id)
        if current is None:
            raise ValidationError(f"找不到站点 / no such station: {station_id}")
        if "status" in changes and changes["status"] not in STATUSES:
            raise ValidationError(f"未知状态 / unknown status: {changes['status']}")
        merged = {**current, **{k: v for k, v in changes.items() if k not in ("id", "kind", "version")}}
        rec = validate_record(merged, current["kind"])
        rec["id"] = current["id"]  # an edit never changes a station's identity
        version = int(current["version"] or 1)
        if expected_version is not None and expected_version != version:
            raise ConflictError(current, {**rec, "version": int(expected_version)})
        rec.update(version=version + 1, updated_at=now_iso())
        with self._transaction() as conn:
            if {"name", "lon", "lat"} & set(changed_fields(current, rec)):
                check_no_twin(self._neighbours(conn, rec), rec, exclude=[rec["id"]])
            # Guarded by the version read above, so ``current`` is exactly the
            # row this replaces and the audit's "before" is true.
            if self._update_row(conn, rec, where_version=version) == 0:
                now = self._current(conn, rec["kind"], station_id) or current
                raise ConflictError(now, {**rec, "version": version})
            self._audit(conn, editor, action, current, as_stored(rec), rec["updated_at"])
            if also is not None:  # more of the same change (reports a confirmation closes), same transaction
                also(conn, rec)
        return rec

    def delete_sample(self, editor: str = settings.EDITOR_APP) -> int:
        """Remove every sample station (示例数据), each audited; returns how many were removed."""
        editor = editor_name(editor)
        stamp = now_iso()
        with self._transaction() as conn:
            rows = conn.execute(_SELECT + sql.SQL(" WHERE is_sample") + _ORDER, (KIND_ORDER,)).fetchall()
            with conn.cursor() as cur:
                cur.executemany(_AUDIT, [self._audit_row(editor, "delete_sample", self._row_to_record(r), None, stamp)
                                         for r in rows])
            removed = conn.execute("DELETE FROM stations WHERE is_sample").rowcount
        return removed

    def restore(self, station_id: str, audit_id: int, editor: str = settings.EDITOR_APP,
                expected_version: int | None = None) -> dict:
        """Bring back the version of a station recorded by one audit row (as :meth:`GeoPackageStore.restore`).

        Raises
        ------
        ValidationError
            When the audit row does not exist or belongs to another station.
        ConflictError
            When ``expected_version`` is not the current version.
        """
        editor = editor_name(editor)
        with self._transaction() as conn:
            row = conn.execute("SELECT after::text, before::text FROM audit_log WHERE fid = %s AND station_id = %s",
                               (int(audit_id), station_id)).fetchone()
            if row is None:
                raise ValidationError(f"站点 {station_id} 没有修改记录 {audit_id} / "
                                      f"station {station_id} has no audit entry {audit_id}")
            target = json.loads(row[0] or row[1])
            current = self._current(conn, target["kind"], station_id, lock=True)
            last = conn.execute("SELECT max(version) FROM audit_log WHERE station_id = %s", (station_id,)).fetchone()[0]
            rec = restored_record(target, current, station_id=station_id, expected_version=expected_version,
                                  last_version=last)
            if rec is None:
                return current
            if current is None:
                self._insert(conn, rec)
            else:
                self._update_row(conn, rec)
            rec = as_stored(rec)
            self._audit(conn, editor, "restore", current, rec, rec["updated_at"])
        return rec


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


def _json(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False, default=str)


def _frame(records: list[dict], *, statuses: Iterable[str] | None = None,
           region: str | None = None) -> gpd.GeoDataFrame:
    df = pd.DataFrame(records, columns=[f.name for f in FIELDS])
    df["truck_parking_spaces"] = df["truck_parking_spaces"].astype("Int64")
    gdf = gpd.GeoDataFrame(df, geometry=points(df["lon"].to_numpy(float), df["lat"].to_numpy(float)),
                           crs="EPSG:4326")
    from geo.registry.export import filter_stations  # export builds on the store's frames

    return filter_stations(gdf, statuses=statuses, region=region)
