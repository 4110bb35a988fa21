"""The registry store: one GeoPackage file, a layer per kind plus an import log.

The GeoPackage is written through SQLite directly, so that every import and
edit is one SQL transaction: an import that fails or is interrupted half way
leaves the previous registry exactly as it was, and a new registry appears
on disk only once it is complete (it is built beside the target and renamed
into place). GDAL, QGIS and geopandas read the file as a normal GeoPackage.

Every change (an import, an edit, a status change, removing the sample
stations, a restore) is also written, in the same transaction, to the
``audit_log`` attribute table: who, when, which station, what it was before
and what it became. :meth:`GeoPackageStore.history` reads it back and
:meth:`GeoPackageStore.restore` brings an earlier version back as a new,
itself audited, change. See ``docs/trust.md``.

Pages and the command line use the :class:`~geo.registry.store.base.RegistryStore`
interface, so a server database can be added later without touching them.
The tables and value conversions are in :mod:`geo.registry.store.gpkg_schema`,
the folder lock in :mod:`geo.registry.store.lock`.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from geo.core.files import create_private, private_dir
from geo.core.schema import FIELDS, FIELDS_BY_NAME, KINDS
from geo.registry.store.base import RegistryBusyError, check_no_twin, station_frame, twin_box
from geo.registry.store.gpkg_reports import GeoPackageReports
from geo.registry.store.gpkg_schema import (add_missing_parts, create_schema, from_sql, gpkg_point,
                                            layer_fields, missing_parts, to_sql)
from geo.registry.store.lock import file_identity, lock_registry, unlock_registry
from geo.registry.store.scenarios import GeoPackageScenarios
from geo.registry.store.station_methods import StationMethods
from geo.registry.transactions import committed
from geo.registry.validate import ImportReport


class _Replaced(Exception):
    """The registry file was replaced between a read and the write that relied on it."""


class _Connection(sqlite3.Connection):
    """A connection that holds the registry's folder lock (shared) until it is closed."""

    _lock_fd: int | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            fd, self._lock_fd = self._lock_fd, None
            unlock_registry(fd)

    def __del__(self) -> None:  # a connection never closed must not keep restores out for ever
        fd, self._lock_fd = self._lock_fd, None
        unlock_registry(fd)


class GeoPackageStore(StationMethods, GeoPackageReports, GeoPackageScenarios):
    """A registry kept in one GeoPackage file.

    The flows shared with PostGIS: :class:`StationMethods`, :class:`GeoPackageReports`
    (workers' reports), :class:`GeoPackageScenarios`; here is only how SQLite does each step.

    Parameters
    ----------
    path : str or Path
        The GeoPackage; create it with :func:`create_registry` or
        :func:`open_store`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.location = str(self.path)
        if not self.path.exists():
            raise FileNotFoundError(f"登记库不存在 / registry not found: {self.path}")
        self._upgrade()

    def change_stamp(self) -> str:
        """Changes with the stations (audit, last_change) and a restore; not with reports (all would reload)."""
        st = os.stat(self.path)
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        seen = getattr(self, "_stamp_seen", None)
        if seen is not None and seen[0] == key:  # the file is as last read: no query
            return seen[1]
        conn = self._connect()
        try:
            conn.execute(f"PRAGMA busy_timeout = {0 if seen else 30_000}")  # a commit under way: the state before
            audit, last = conn.execute("SELECT (SELECT max(fid) FROM audit_log), (SELECT max(last_change) FROM "
                                       "gpkg_contents WHERE data_type = 'features')").fetchone()
        except sqlite3.OperationalError:
            if seen is None:
                raise
            return seen[1]
        finally:
            conn.close()
        self._stamp_seen = (key, f"{st.st_dev}:{st.st_ino}:{audit or 0}:{last}")
        return self._stamp_seen[1]

    def _upgrade(self) -> None:
        """Add what registries made by older versions lack (audit log, new fields)."""
        conn = self._connect()
        try:
            if not missing_parts(conn):
                return
            conn.execute("BEGIN IMMEDIATE")
            with committed(conn):
                # Checked again under the write lock: another process may have
                # upgraded the file in between.
                add_missing_parts(conn, missing_parts(conn))
        finally:
            conn.close()

    # -- plumbing ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # Holds the folder lock (shared) until closed: a restore waits for it.
        fd = lock_registry(self.path)
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, factory=_Connection)
        except BaseException:
            unlock_registry(fd)
            raise
        conn._lock_fd = fd
        conn.row_factory = sqlite3.Row
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        for _ in range(5):
            before = file_identity(self.path)
            conn = self._connect()
            try:
                # IMMEDIATE takes the write lock up front, so two writers queue
                # instead of failing half way through.
                conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                conn.close()
                raise
            if file_identity(self.path) == before:
                break
            # The file was replaced while this connection waited for the write
            # lock (not by our restore, which waits for the folder lock, but
            # by hand or by an older version): never write into the old file.
            conn.execute("ROLLBACK")
            conn.close()
        else:
            raise RegistryBusyError(self.path, 0)
        try:
            with committed(conn):
                yield conn
        finally:
            conn.close()

    def _check_same_file(self, opened: tuple | None) -> None:
        """Inside a transaction: raise :class:`_Replaced` if the registry is no longer the file read before."""
        if file_identity(self.path) != opened:
            raise _Replaced

    def _insert(self, conn, rec: dict) -> None:
        fields = [f.name for f in layer_fields(rec["kind"])]
        conn.execute(
            f'INSERT INTO "{rec["kind"]}" (geom, {", ".join(fields)}) VALUES (?, {", ".join("?" * len(fields))})',
            [gpkg_point(rec["lon"], rec["lat"])] + [to_sql(f, rec.get(f)) for f in fields])

    def _update_row(self, conn, rec: dict, where_version: int | None = None) -> int:
        fields = [f.name for f in layer_fields(rec["kind"]) if f.name != "id"]
        sql = f'UPDATE "{rec["kind"]}" SET geom = ?, {", ".join(f"{f} = ?" for f in fields)} WHERE id = ?'
        args = [gpkg_point(rec["lon"], rec["lat"])] + [to_sql(f, rec.get(f)) for f in fields] + [rec["id"]]
        if where_version is not None:
            sql += " AND version = ?"
            args.append(where_version)
        return conn.execute(sql, args).rowcount

    @staticmethod
    def _touch(conn) -> None:
        for kind in KINDS:
            conn.execute(
                f"""UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'),
                    min_x = (SELECT min(lon) FROM "{kind}"), min_y = (SELECT min(lat) FROM "{kind}"),
                    max_x = (SELECT max(lon) FROM "{kind}"), max_y = (SELECT max(lat) FROM "{kind}")
                    WHERE table_name = ?""", (kind,))

    def _row_to_record(self, row: sqlite3.Row) -> dict:
        rec = {f.name: None for f in FIELDS}
        for key in row.keys():
            if key in FIELDS_BY_NAME:
                rec[key] = from_sql(key, row[key])
        return rec

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def _records(self, conn, kinds: list[str]) -> list[dict]:
        return [self._row_to_record(r) for k in kinds for r in conn.execute(f'SELECT * FROM "{k}" ORDER BY fid')]

    def _records_with_ids(self, conn, ids: list[str]) -> list[dict]:
        out = []
        for kind in KINDS:  # in the order of _records: layer, then fid
            rows = []
            for start in range(0, len(ids), 500):  # under SQLite's limit of bound values
                where, args = self._any("id", ids[start:start + 500])
                rows += conn.execute(f'SELECT * FROM "{kind}" WHERE {where}', args).fetchall()
            out += [self._row_to_record(r) for r in sorted(rows, key=lambda r: r["fid"])]
        return out

    def _generation(self, conn) -> str:
        # A restore puts a new file in place (and waits for this connection's folder lock).
        dev, ino = file_identity(self.path)
        return f"{dev}-{ino}"

    def _current(self, conn, kind: str, station_id: str, *, lock: bool = False) -> dict | None:
        # ``lock`` needs nothing here: a write transaction holds the whole file (BEGIN IMMEDIATE).
        row = conn.execute(f'SELECT * FROM "{kind}" WHERE id = ?', (station_id,)).fetchone()
        return self._row_to_record(row) if row is not None else None

    @staticmethod
    def _insert_id(conn, query: str, args) -> int:
        return conn.execute(query, args).lastrowid

    @staticmethod
    def _frame_of(conn, query: str, args) -> pd.DataFrame:
        return pd.read_sql_query(query, conn, params=args)

    def _write_rows(self, conn, inserts: list[dict], updates: list[dict], audits: list[tuple]) -> None:
        for rec in inserts:
            self._insert(conn, rec)
        for rec in updates:
            self._update_row(conn, rec)
        for args in audits:
            self._audit(conn, *args)

    def _attempts(self, write):
        for _ in range(5):
            try:
                return write(file_identity(self.path))
            except _Replaced:
                # A restore put another file in place between the read and the
                # write: read again from the restored registry.
                continue
        raise RegistryBusyError(self.path, 0)

    def _check_twin_before(self, rec: dict, exclude=()) -> None:
        # On a connection of its own, before the write lock is taken; a file
        # replaced in between is caught by _check_same_file. Only the rows in
        # the twin box become records: SQLite scans the lon/lat columns, where
        # loading the layer took 6 s for 186,100 stations (bench/RESULTS.md).
        west, south, east, north = twin_box(rec)
        with self._reading() as conn:
            rows = conn.execute(f'SELECT * FROM "{rec["kind"]}" WHERE lon BETWEEN ? AND ? AND lat BETWEEN ? AND ? '
                                "ORDER BY fid", (west, east, south, north)).fetchall()
        check_no_twin(station_frame([self._row_to_record(r) for r in rows]), rec, exclude=exclude)

    def _sample_records(self, conn) -> list[dict]:
        return [self._row_to_record(r) for k in KINDS
                for r in conn.execute(f'SELECT * FROM "{k}" WHERE is_sample = 1 ORDER BY fid').fetchall()]

    @staticmethod
    def _delete_samples(conn) -> int:
        return sum(conn.execute(f'DELETE FROM "{k}" WHERE is_sample = 1').rowcount for k in KINDS)

    # -- reading ----------------------------------------------------------

    def get(self, station_id: str) -> dict | None:
        """One station as a dict of canonical fields, or ``None``."""
        with self._reading() as conn:
            for kind in KINDS:
                rec = self._current(conn, kind, station_id)
                if rec is not None:
                    return rec
        return None


def create_gpkg(path: str | Path, *, seed: ImportReport | None = None) -> GeoPackageStore:
    """Create a new GeoPackage registry, optionally holding the stations of a validated import.

    The file is built beside ``path`` and renamed into place only when
    complete, so a crash never leaves a half-made registry behind.

    Parameters
    ----------
    path
        Where the registry goes; it must not exist (its folder may not).
    seed
        Stations to start with, committed as the registry's first import.

    Raises
    ------
    FileExistsError
        When there is a file at ``path`` already: it is never overwritten.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"登记库已存在，不会覆盖 / a registry already exists there and is not overwritten: {path}")
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # Begun as an empty 0600 file: SQLite keeps that mode, for the journal too.
        create_private(tmp)
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            create_schema(conn)
        finally:
            conn.close()
        if seed is not None:
            GeoPackageStore(tmp).commit_import(seed)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return GeoPackageStore(path)
