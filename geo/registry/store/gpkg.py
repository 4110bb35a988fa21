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

Pages and the command line use the :class:`RegistryStore` interface, so a
server database can be added later without touching them.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import struct
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import points

from geo import settings
from geo.core.crs import haversine_m
from geo.core.files import create_private, private_dir
from geo.core.schema import FIELDS, FIELDS_BY_NAME, KINDS, STATUSES
from geo.registry.validate import ImportReport, ValidationError, now_iso, validate_record

try:  # POSIX; on Windows there is no folder lock and a restore needs the app idle
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "BOOLEAN", "list": "TEXT"}
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)
# The parts of a record the registry compares when deciding whether an
# import changed a station (bookkeeping fields excluded).
_CONTENT_FIELDS = [f.name for f in FIELDS if f.name not in ("version", "updated_at")]

#: What an ``audit_log`` row records as its ``action``.
AUDIT_ACTIONS = ("import", "add", "update", "set_status", "delete_sample", "restore")
_AUDIT_DDL = """CREATE TABLE audit_log (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, editor TEXT NOT NULL,
    station_id TEXT NOT NULL, kind TEXT, action TEXT NOT NULL, version INTEGER,
    import_id INTEGER, before TEXT, after TEXT)"""
_MAX_EDITOR_CHARS = 100


class ConflictError(RuntimeError):
    """Someone else saved the station since it was opened for editing.

    Attributes
    ----------
    current : dict
        The station as stored now.
    attempted : dict
        The record that was not saved; its ``version`` is the version the
        editor opened, so nothing typed is lost: the caller can show it,
        reload and save it again.
    """

    def __init__(self, current: dict, attempted: dict):
        opened = attempted.get("version")
        seen = f"打开时为版本 {opened}，" if opened is not None else ""
        seen_en = f"you opened version {opened}, " if opened is not None else ""
        super().__init__(
            f"站点 {current['id']} 已被他人修改（{seen}当前版本 {current['version']}），请刷新后再保存 / "
            f"station {current['id']} was changed by someone else ({seen_en}now version {current['version']}); "
            f"reload before saving")
        self.current, self.attempted = current, attempted

    def __reduce__(self):
        # Picklable, so a worker process can hand the conflict to its parent.
        return (type(self), (self.current, self.attempted))


class RegistryBusyError(RuntimeError):
    """The registry stayed locked too long (a restore, or a very long import)."""

    def __init__(self, path: str | Path, seconds: float):
        super().__init__(f"登记库 {Path(path).name} 正忙（例如正在从备份恢复），{seconds:.0f} 秒后仍未释放，请稍后再试 / "
                         f"the registry {Path(path).name} is busy (for example being restored from a backup) "
                         f"and was not free after {seconds:.0f} s; try again in a moment")
        self.path, self.seconds = str(path), seconds

    def __reduce__(self):
        return (type(self), (self.path, self.seconds))


# --------------------------------------------------------------------------
# The folder lock: a restore swaps the registry file only while no store
# connection is open on it (see docs/trust.md, "Restore while the app runs")
# --------------------------------------------------------------------------


def _lock_dir(path: str | Path) -> str:
    # The folder of the real file: SQLite follows symlinks to name its journal.
    return os.path.dirname(os.path.realpath(path)) or "."


def lock_registry(path: str | Path, exclusive: bool = False, timeout: float | None = None) -> int | None:
    """Take the registry's folder lock; returns a descriptor for :func:`unlock_registry`.

    Every connection the store opens holds the lock shared for as long as it
    is open; :func:`geo.registry.backup.restore_registry` takes it exclusively while
    it swaps the file. So no store connection ever spans a swap: one opened
    on the old file and used after it would write into a file no longer in
    place, or take the new file's journal for a hot journal of its own and
    roll it into the old one (SQLite, "How To Corrupt An SQLite Database
    File", 2.4 and 1.4).

    The lock is ``flock`` on the registry's folder, not on the file:
    opening and closing another descriptor of the database file would
    release SQLite's own POSIX locks held by this process, and a lock file
    would sit beside the registry. Registries in one folder share it.

    Parameters
    ----------
    path : str or Path
        The registry (it need not exist).
    exclusive : bool
        Exclusive (a restore) or shared (everything else).
    timeout : float, optional
        Seconds to wait; default ``settings.REGISTRY_LOCK_TIMEOUT_S``.

    Returns
    -------
    int or None
        None where the platform or file system has no ``flock`` (then
        nothing is locked and a restore needs the app idle).

    Raises
    ------
    RegistryBusyError
        When the lock was not free within ``timeout``.
    """
    if fcntl is None:
        return None
    try:
        fd = os.open(_lock_dir(path), os.O_RDONLY)
    except OSError:
        return None
    timeout = settings.REGISTRY_LOCK_TIMEOUT_S if timeout is None else timeout
    op = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    # A restore polls often: shared holders come and go, and it must find a gap.
    longest = 0.002 if exclusive else 0.05
    deadline, delay = time.monotonic() + timeout, 0.0005
    while True:
        try:
            fcntl.flock(fd, op)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RegistryBusyError(path, timeout) from None
            time.sleep(delay)
            delay = min(delay * 2, longest)
        except OSError:  # no flock here (some network file systems)
            os.close(fd)
            return None


def unlock_registry(fd: int | None) -> None:
    """Release a lock taken by :func:`lock_registry` (closing the descriptor releases it)."""
    if fd is not None:
        os.close(fd)


@contextmanager
def registry_lock(path: str | Path, exclusive: bool = False, timeout: float | None = None):
    """:func:`lock_registry` as a context manager."""
    fd = lock_registry(path, exclusive, timeout)
    try:
        yield
    finally:
        unlock_registry(fd)


def file_identity(path: str | Path) -> tuple[int, int] | None:
    """``(device, inode)`` of the file at ``path`` now, or None when there is none.

    A restore puts a new file in place, so the identity tells whether what
    was read earlier came from the registry that is there now.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


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


class RegistryStore(Protocol):
    """What the pages and the command line need from a registry."""

    def load(self, kinds: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
             region: str | None = None) -> gpd.GeoDataFrame: ...
    def get(self, station_id: str) -> dict | None: ...
    def add(self, record: dict, editor: str = settings.EDITOR_APP) -> dict: ...
    def update(self, station_id: str, changes: dict, expected_version: int | None = None,
               editor: str = settings.EDITOR_APP) -> dict: ...
    def set_status(self, station_id: str, status: str, expected_version: int | None = None,
                   editor: str = settings.EDITOR_APP) -> dict: ...
    def delete_sample(self, editor: str = settings.EDITOR_APP) -> int: ...
    def commit_import(self, report: ImportReport, editor: str = settings.EDITOR_APP) -> dict: ...
    def import_log(self) -> pd.DataFrame: ...
    def history(self, station_id: str) -> pd.DataFrame: ...
    def restore(self, station_id: str, audit_id: int, editor: str = settings.EDITOR_APP,
                expected_version: int | None = None) -> dict: ...


def _layer_fields(kind: str) -> list:
    return [f for f in FIELDS if kind in f.kinds]


def _gpkg_point(lon: float, lat: float) -> bytes:
    # GeoPackage binary: "GP", version 0, flags (little-endian, no envelope),
    # SRS id, then a little-endian WKB point.
    return struct.pack("<2sBBi", b"GP", 0, 1, 4326) + struct.pack("<BIdd", 1, 1, lon, lat)


def _create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(f"""
        PRAGMA application_id = 1196444487;
        PRAGMA user_version = 10400;
        CREATE TABLE gpkg_spatial_ref_sys (
            srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
            organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
        INSERT INTO gpkg_spatial_ref_sys VALUES
            ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', NULL),
            ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL),
            ('WGS 84 geodetic', 4326, 'EPSG', 4326, '{_WGS84_WKT}', 'longitude/latitude on WGS 84');
        CREATE TABLE gpkg_contents (
            table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
            description TEXT DEFAULT '',
            last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
            FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
        CREATE TABLE gpkg_geometry_columns (
            table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
            srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
            PRIMARY KEY (table_name, column_name),
            FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
            FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
    """)
    for kind in KINDS.values():
        cols = ",\n".join(
            f'"{f.name}" {_SQL_TYPES[f.dtype]}' + (" NOT NULL UNIQUE" if f.name == "id" else "")
            for f in _layer_fields(kind.code))
        conn.execute(f'CREATE TABLE "{kind.code}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT, {cols})')
        conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                     "VALUES (?, 'features', ?, ?, 4326)", (kind.code, kind.code, f"{kind.zh} / {kind.en}"))
        conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'POINT', 4326, 0, 0)", (kind.code,))
    conn.execute("""CREATE TABLE import_log (
        fid INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, source TEXT, filename TEXT, format TEXT,
        kind TEXT, crs_used TEXT, rows INTEGER, accepted INTEGER, rejected INTEGER, warnings INTEGER,
        inserted INTEGER, updated INTEGER, unchanged INTEGER)""")
    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                 "VALUES ('import_log', 'attributes', 'import_log', '导入记录 / import log')")
    _create_audit_table(conn)


def _create_audit_table(conn: sqlite3.Connection) -> None:
    conn.execute(_AUDIT_DDL)
    conn.execute("CREATE INDEX audit_log_station ON audit_log (station_id)")
    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                 "VALUES ('audit_log', 'attributes', 'audit_log', '修改记录 / audit log')")


#: Boolean fields whose empty value means True (a station is public unless marked otherwise).
_TRUE_BY_DEFAULT = ("public",)


def _to_sql(field_name: str, value):
    dtype = FIELDS_BY_NAME[field_name].dtype
    if dtype == "list":
        return json.dumps(list(value) if value is not None else [], ensure_ascii=False)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return 1 if field_name in _TRUE_BY_DEFAULT else None
    if dtype == "bool":
        return int(bool(value))
    if dtype == "int":
        return int(value)
    if dtype == "float":
        return float(value)
    return str(value)


def _from_sql(field_name: str, value):
    dtype = FIELDS_BY_NAME[field_name].dtype
    if dtype == "list":
        return json.loads(value) if value else []
    if dtype == "bool":
        return True if value is None and field_name in _TRUE_BY_DEFAULT else bool(value)
    if dtype == "str":
        return "" if value is None else value
    return value


class GeoPackageStore:
    """A registry kept in one GeoPackage file.

    Parameters
    ----------
    path : str or Path
        The GeoPackage; create it with :func:`create_registry` or
        :func:`open_store`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"登记库不存在 / registry not found: {self.path}")
        self._upgrade()

    def _upgrade(self) -> None:
        """Add what registries made by older versions lack (audit log, new fields)."""
        conn = self._connect()
        try:
            if not self._missing(conn):
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Checked again under the write lock: another process may have
                # upgraded the file in between.
                audit, columns = self._missing(conn) or (False, [])
                if audit:
                    _create_audit_table(conn)
                for kind, field in columns:
                    default = " DEFAULT 1" if field.name in _TRUE_BY_DEFAULT else ""
                    conn.execute(f'ALTER TABLE "{kind}" ADD COLUMN "{field.name}" {_SQL_TYPES[field.dtype]}{default}')
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    @staticmethod
    def _missing(conn) -> tuple:
        audit = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_log'").fetchone() is None
        columns = []
        for kind in KINDS:
            have = {r[1] for r in conn.execute(f'PRAGMA table_info("{kind}")')}
            if not have:
                continue  # not a registry layer (the backup checks say so)
            columns += [(kind, f) for f in _layer_fields(kind) if f.name not in have]
        return (audit, columns) if audit or columns else ()

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
    def _transaction(self):
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
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _check_same_file(self, opened: tuple | None) -> None:
        """Inside a transaction: raise :class:`_Replaced` if the registry is no longer the file read before."""
        if file_identity(self.path) != opened:
            raise _Replaced

    def _insert(self, conn, rec: dict) -> None:
        fields = [f.name for f in _layer_fields(rec["kind"])]
        conn.execute(
            f'INSERT INTO "{rec["kind"]}" (geom, {", ".join(fields)}) VALUES (?, {", ".join("?" * len(fields))})',
            [_gpkg_point(rec["lon"], rec["lat"])] + [_to_sql(f, rec.get(f)) for f in fields])

    def _update_row(self, conn, rec: dict, where_version: int | None = None) -> int:
        fields = [f.name for f in _layer_fields(rec["kind"]) if f.name != "id"]
        sql = f'UPDATE "{rec["kind"]}" SET geom = ?, {", ".join(f"{f} = ?" for f in fields)} WHERE id = ?'
        args = [_gpkg_point(rec["lon"], rec["lat"])] + [_to_sql(f, rec.get(f)) for f in fields] + [rec["id"]]
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
                rec[key] = _from_sql(key, row[key])
        return rec

    @staticmethod
    def _audit(conn, editor: str, action: str, before: dict | None, after: dict | None,
               stamp: str, import_id: int | None = None) -> None:
        # Written on the caller's connection, inside its transaction: the
        # change and its audit row are committed (or lost) together.
        rec = after or before
        conn.execute(
            "INSERT INTO audit_log (at, editor, station_id, kind, action, version, import_id, before, after)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (stamp, editor, rec["id"], rec["kind"], action,
             None if after is None else after.get("version"), import_id,
             None if before is None else _to_json(before), None if after is None else _to_json(after)))

    # -- reading ----------------------------------------------------------

    def load(self, kinds: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
             region: str | None = None) -> gpd.GeoDataFrame:
        """All stations of the chosen layers as one GeoDataFrame (WGS-84).

        Parameters
        ----------
        kinds, statuses : iterable of str, optional
            Keep only these layers / statuses.
        region : str, optional
            Adcode of the province, a city or a district.
        """
        kinds = list(kinds) if kinds else list(KINDS)
        conn = self._connect()
        try:
            records = [self._row_to_record(r) for k in kinds
                       for r in conn.execute(f'SELECT * FROM "{k}" ORDER BY fid')]
        finally:
            conn.close()
        df = pd.DataFrame(records, columns=[f.name for f in FIELDS])
        df["truck_parking_spaces"] = df["truck_parking_spaces"].astype("Int64")
        gdf = gpd.GeoDataFrame(df, geometry=points(df["lon"].to_numpy(float), df["lat"].to_numpy(float)),
                               crs="EPSG:4326")
        from geo.registry.export import filter_stations  # export builds on the store's frames

        return filter_stations(gdf, statuses=statuses, region=region)

    def get(self, station_id: str) -> dict | None:
        """One station as a dict of canonical fields, or ``None``."""
        conn = self._connect()
        try:
            for kind in KINDS:
                row = conn.execute(f'SELECT * FROM "{kind}" WHERE id = ?', (station_id,)).fetchone()
                if row is not None:
                    return self._row_to_record(row)
        finally:
            conn.close()
        return None

    def import_log(self) -> pd.DataFrame:
        """Every import committed to this registry, newest first."""
        conn = self._connect()
        try:
            return pd.read_sql_query("SELECT * FROM import_log ORDER BY fid DESC", conn)
        finally:
            conn.close()

    def history(self, station_id: str) -> pd.DataFrame:
        """Every recorded change of one station, newest first.

        Parameters
        ----------
        station_id : str

        Returns
        -------
        pandas.DataFrame
            ``audit_id``, ``at`` (UTC, ISO 8601), ``editor``, ``action``
            (one of :data:`AUDIT_ACTIONS`), ``version`` (after the change;
            empty for a removal), ``import_id`` (the ``import_log`` row of an
            import), ``changed`` (names of the fields that changed),
            ``before`` and ``after`` (the full records as dicts, ``None``
            where the station did not exist).
        """
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT * FROM audit_log WHERE station_id = ? ORDER BY fid DESC", (station_id,)).fetchall()
        finally:
            conn.close()
        out = []
        for r in rows:
            before = json.loads(r["before"]) if r["before"] else None
            after = json.loads(r["after"]) if r["after"] else None
            out.append({"audit_id": int(r["fid"]), "at": r["at"], "editor": r["editor"], "action": r["action"],
                        "version": r["version"], "import_id": r["import_id"],
                        "changed": _changed_fields(before, after), "before": before, "after": after})
        columns = ["audit_id", "at", "editor", "action", "version", "import_id", "changed", "before", "after"]
        df = pd.DataFrame(out, columns=columns)
        df["version"] = df["version"].astype("Int64")
        df["import_id"] = df["import_id"].astype("Int64")
        return df

    def audit_log(self, limit: int | None = 200) -> pd.DataFrame:
        """The latest changes to the whole registry, newest first, as stored.

        ``before`` and ``after`` stay JSON text; ``limit=None`` returns all.
        """
        conn = self._connect()
        try:
            sql = "SELECT fid AS audit_id, at, editor, station_id, kind, action, version, import_id, before, after " \
                  "FROM audit_log ORDER BY fid DESC"
            if limit is not None:
                return pd.read_sql_query(sql + " LIMIT ?", conn, params=(int(limit),))
            return pd.read_sql_query(sql, conn)
        finally:
            conn.close()

    # -- writing ----------------------------------------------------------

    def commit_import(self, report: ImportReport, editor: str = settings.EDITOR_APP) -> dict:
        """Write a validated import in one transaction.

        Stations whose ``id`` is already stored (same source and source id,
        or merged by name and distance) are updated when anything changed;
        the others are inserted. If anything fails, nothing is written.
        Every inserted or changed station gets an ``audit_log`` row
        (action ``import``) pointing at the import's ``import_log`` row.

        Parameters
        ----------
        report : ImportReport
        editor : str
            Who imports: recorded in the audit log.

        Returns
        -------
        dict
            ``{"inserted": n, "updated": n, "unchanged": n}``
        """
        editor = _editor(editor)
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        stamp = now_iso()
        with self._transaction() as conn:
            # The log row comes first so the audit rows can point at it; its
            # counts are filled in at the end, in the same transaction.
            import_id = conn.execute(
                "INSERT INTO import_log (at, source, filename, format, kind, crs_used, rows, accepted, rejected,"
                " warnings, inserted, updated, unchanged) VALUES (?,?,?,?,?,?,?,?,?,?,0,0,0)",
                (stamp, report.source, report.filename, report.format, report.kind or "auto", report.crs_used,
                 report.rows, len(report.accepted), len(report.rejects), len(report.warnings))).lastrowid
            for rec in report.accepted.drop(columns=["geometry", "row"], errors="ignore").to_dict("records"):
                old = conn.execute(f'SELECT * FROM "{rec["kind"]}" WHERE id = ?', (rec["id"],)).fetchone()
                if old is None:
                    rec.update(version=1, updated_at=stamp)
                    self._insert(conn, rec)
                    self._audit(conn, editor, "import", None, _stored(rec), stamp, import_id)
                    counts["inserted"] += 1
                    continue
                old = self._row_to_record(old)
                _keep_private_fields(old, rec)
                if all(_same(old.get(f), rec.get(f), f) for f in _CONTENT_FIELDS):
                    counts["unchanged"] += 1
                    continue
                rec.update(version=int(old["version"] or 1) + 1, updated_at=stamp)
                self._update_row(conn, rec)
                self._audit(conn, editor, "import", old, _stored(rec), stamp, import_id)
                counts["updated"] += 1
            conn.execute("UPDATE import_log SET inserted = ?, updated = ?, unchanged = ? WHERE fid = ?",
                         (counts["inserted"], counts["updated"], counts["unchanged"], import_id))
            self._touch(conn)
        return counts

    def add(self, record: dict, editor: str = settings.EDITOR_APP) -> dict:
        """Add one station entered by hand; returns it as stored.

        Parameters
        ----------
        record : dict
            Canonical fields (``name``, ``kind``, ``lon``, ``lat`` ...).
        editor : str
            Who adds it: recorded in the audit log.

        Raises
        ------
        ValidationError
            When the record is invalid or the station already exists.
        """
        editor = _editor(editor)
        rec = validate_record({"source": "app", **record})
        rec.update(version=1, updated_at=now_iso())
        for attempt in range(5):
            # The duplicate check reads the registry before the write; if a
            # restore replaces the file in between, it is done again.
            opened = file_identity(self.path)
            twin = _twin(self.load(kinds=[rec["kind"]]), rec)
            if twin is not None:
                raise ValidationError(
                    f"{settings.DUPLICATE_RADIUS_M:.0f} 米内已有同名站点 {twin} / a station of the same name "
                    f"already exists within {settings.DUPLICATE_RADIUS_M:.0f} m: {twin}")
            try:
                with self._transaction() as conn:
                    self._check_same_file(opened)
                    if conn.execute(f'SELECT 1 FROM "{rec["kind"]}" WHERE id = ?', (rec["id"],)).fetchone():
                        raise ValidationError(f"站点已存在 / station already exists: {rec['id']}")
                    self._insert(conn, rec)
                    self._audit(conn, editor, "add", None, _stored(rec), rec["updated_at"])
                    self._touch(conn)
                return rec
            except _Replaced:
                continue
        raise RegistryBusyError(self.path, 0)

    def update(self, station_id: str, changes: dict, expected_version: int | None = None,
               editor: str = settings.EDITOR_APP) -> dict:
        """Change fields of one station; returns it as stored.

        Parameters
        ----------
        station_id : str
        changes : dict
            Canonical fields to change (``status``, ``facilities``, ``lon`` ...).
        expected_version : int, optional
            The version the editor opened. If someone saved in between, the
            save is refused with :class:`ConflictError` instead of silently
            overwriting their edit.
        editor : str
            Who edits: recorded in the audit log.
        """
        return self._update(station_id, changes, expected_version, _editor(editor), "update")

    def _update(self, station_id: str, changes: dict, expected_version: int | None,
                editor: str, action: str) -> dict:
        for attempt in range(5):
            try:
                return self._update_once(station_id, changes, expected_version, editor, action)
            except _Replaced:
                # A restore put another file in place between the read and the
                # write: read the station again from the restored registry (a
                # stale ``expected_version`` then raises ConflictError).
                continue
        raise RegistryBusyError(self.path, 0)

    def _update_once(self, station_id: str, changes: dict, expected_version: int | None,
                     editor: str, action: str) -> dict:
        opened = file_identity(self.path)
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
            # ``current`` must come from this very file (not one a restore
            # has since replaced: versions start again from the backup's).
            self._check_same_file(opened)
            # Guarded by the version read above, so ``current`` is exactly
            # the row this replaces and the audit's "before" is true.
            if self._update_row(conn, rec, where_version=version) == 0:
                raise ConflictError(self.get(station_id) or current, {**rec, "version": version})
            self._audit(conn, editor, action, current, _stored(rec), rec["updated_at"])
            self._touch(conn)
        return rec

    def delete_sample(self, editor: str = settings.EDITOR_APP) -> int:
        """Remove every sample station (示例数据); returns how many were removed.

        Each removed station is audited (action ``delete_sample``, ``after``
        empty), so :meth:`restore` can bring one back.
        """
        editor = _editor(editor)
        stamp = now_iso()
        with self._transaction() as conn:
            removed = 0
            for k in KINDS:
                for row in conn.execute(f'SELECT * FROM "{k}" WHERE is_sample = 1 ORDER BY fid').fetchall():
                    self._audit(conn, editor, "delete_sample", self._row_to_record(row), None, stamp)
                removed += conn.execute(f'DELETE FROM "{k}" WHERE is_sample = 1').rowcount
            self._touch(conn)
        return removed

    def set_status(self, station_id: str, status: str, expected_version: int | None = None,
                   editor: str = settings.EDITOR_APP) -> dict:
        """Mark a station open, temporarily closed, closed or planned."""
        return self._update(station_id, {"status": status}, expected_version, _editor(editor), "set_status")

    def restore(self, station_id: str, audit_id: int, editor: str = settings.EDITOR_APP,
                expected_version: int | None = None) -> dict:
        """Bring back the version of a station recorded by one audit row.

        The station becomes what it was *after* that change (or, for a
        removal, what it was before it), saved as a new version and audited
        as ``restore``; nothing in the history is rewritten. A removed
        station is inserted again.

        Parameters
        ----------
        station_id : str
        audit_id : int
            ``audit_id`` of a row of :meth:`history` for this station.
        editor : str
            Who restores: recorded in the audit log.
        expected_version : int, optional
            The version the editor saw; if the station changed since, the
            restore is refused with :class:`ConflictError`.

        Returns
        -------
        dict
            The station as stored now (unchanged if it already equals the
            chosen version: then nothing is written).

        Raises
        ------
        ValidationError
            When the audit row does not exist or belongs to another station.
        ConflictError
            When ``expected_version`` is not the current version.
        """
        editor = _editor(editor)
        with self._transaction() as conn:
            row = conn.execute("SELECT * FROM audit_log WHERE fid = ? AND station_id = ?",
                               (int(audit_id), station_id)).fetchone()
            if row is None:
                raise ValidationError(f"站点 {station_id} 没有修改记录 {audit_id} / "
                                      f"station {station_id} has no audit entry {audit_id}")
            target = json.loads(row["after"] or row["before"])
            current_row = conn.execute(f'SELECT * FROM "{target["kind"]}" WHERE id = ?', (station_id,)).fetchone()
            current = self._row_to_record(current_row) if current_row is not None else None
            if current is not None and expected_version is not None \
                    and int(current["version"] or 1) != int(expected_version):
                raise ConflictError(current, {**target, "id": station_id, "version": int(expected_version)})
            if current is not None and all(_same(current.get(f), target.get(f), f) for f in _CONTENT_FIELDS):
                return current
            last = conn.execute("SELECT max(version) FROM audit_log WHERE station_id = ?", (station_id,)).fetchone()[0]
            version = max(int(current["version"] or 1) if current else 0, int(last or 0)) + 1
            rec = {**{f.name: None for f in FIELDS}, **target, "id": station_id,
                   "version": version, "updated_at": now_iso()}
            if current is None:
                self._insert(conn, rec)
            else:
                self._update_row(conn, rec)
            rec = _stored(rec)
            self._audit(conn, editor, "restore", current, rec, rec["updated_at"])
            self._touch(conn)
        return rec


def _twin(stations: gpd.GeoDataFrame, rec: dict) -> str | None:
    """Id of a same-named station within the duplicate radius, if any."""
    same = stations[stations["name"].str.replace(r"\s+", "", regex=True)
                    == re.sub(r"\s+", "", rec["name"])]
    if same.empty:
        return None
    d = haversine_m(same["lon"].to_numpy(float), same["lat"].to_numpy(float), rec["lon"], rec["lat"])
    return str(same["id"].iat[int(np.argmin(d))]) if d.min() <= settings.DUPLICATE_RADIUS_M else None


def _same(a, b, field_name: str) -> bool:
    dtype = FIELDS_BY_NAME[field_name].dtype
    if dtype == "list":
        return list(a or []) == list(b or [])
    if dtype == "float":
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    if dtype in ("int", "bool"):
        na = lambda v: v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))  # noqa: E731
        return (na(a) and na(b)) or (not na(a) and not na(b) and a == b)
    return (a or "") == (b or "")


def _keep_private_fields(old: dict, rec: dict) -> None:
    """Keep what a public export left out of a non-public station.

    A public export empties the phone, notes and extra of non-public
    stations and cuts their address to city and district; importing such a
    file back must not wipe the registry's own values. Edits still can.
    """
    if old.get("public", True) or rec.get("public", True):
        return
    for name in ("phone", "notes", "extra"):
        if not rec.get(name) and old.get(name):
            rec[name] = old[name]
    coarse = f"{old.get('city') or ''}{old.get('district') or ''}"
    if old.get("address") and (rec.get("address") or "") in ("", coarse):
        rec["address"] = old["address"]


def _stored(rec: dict) -> dict:
    """``rec`` exactly as :meth:`GeoPackageStore.get` would return it once written."""
    out = {f.name: None for f in FIELDS}
    for f in _layer_fields(rec["kind"]):
        out[f.name] = _from_sql(f.name, _to_sql(f.name, rec.get(f.name)))
    return out


def _to_json(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False, default=str)


def _changed_fields(before: dict | None, after: dict | None) -> list[str]:
    if before is None or after is None:
        return []
    return [f for f in _CONTENT_FIELDS if not _same(before.get(f), after.get(f), f)]


def _editor(editor: str) -> str:
    """Who made a change, as recorded; refuses an empty name."""
    name = re.sub(r"\s+", " ", str(editor or "")).strip()
    if not name:
        raise ValidationError("缺少编辑人 / no editor given")
    return name[:_MAX_EDITOR_CHARS]


def create_registry(path: str | Path, seed: str | Path | None = None) -> GeoPackageStore:
    """Create a new registry file, optionally seeded from a station file.

    The file is built beside ``path`` and renamed into place only when
    complete, so a crash never leaves a half-made registry behind.
    """
    from geo.registry.io.readers import read_table
    from geo.registry.validate import validate_table

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
            _create_schema(conn)
        finally:
            conn.close()
        store = GeoPackageStore(tmp)
        if seed is not None:
            store.commit_import(validate_table(read_table(seed), None, crs="wgs84"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return GeoPackageStore(path)


def open_store(path: str | Path | None = None, seed_sample: bool = False) -> GeoPackageStore:
    """Open the registry, creating it if missing.

    Parameters
    ----------
    path : str or Path, optional
        Default :func:`geo.settings.registry_path` (environment ``GEO_REGISTRY``).
    seed_sample : bool
        Seed a new registry with the bundled 示例数据 / sample data. The app
        does, so a fresh install shows a map; the command line does not, so
        a union office's own registry never mixes in sample stations.
    """
    path = Path(path or settings.registry_path())
    if not path.exists():
        create_registry(path, settings.SAMPLE_PATH if seed_sample else None)
    return GeoPackageStore(path)
