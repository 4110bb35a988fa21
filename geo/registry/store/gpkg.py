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

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

import geopandas as gpd
import pandas as pd
from shapely import points

from geo import settings
from geo.core.files import create_private, private_dir
from geo.core.schema import FIELDS, FIELDS_BY_NAME, KINDS, STATUSES
from geo.registry.changes import changed_fields
from geo.registry.store.base import (ConflictError, RegistryBusyError, check_no_twin, editor_name,
                                     keep_private_fields, now_iso, restored_record)
from geo.registry.store.gpkg_reports import GeoPackageReports
from geo.registry.store.gpkg_schema import (add_missing_parts, as_stored, create_schema, from_sql, gpkg_point,
                                            layer_fields, missing_parts, to_sql)
from geo.registry.store.lock import file_identity, lock_registry, unlock_registry
from geo.registry.store.scenarios import GeoPackageScenarios
from geo.registry.transactions import committed
from geo.registry.validate import ImportReport, ValidationError, validate_record


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


class GeoPackageStore(GeoPackageReports, GeoPackageScenarios):
    """A registry kept in one GeoPackage file (workers' reports: :class:`GeoPackageReports`; scenarios: :class:`GeoPackageScenarios`).

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
             None if before is None else _json(before), None if after is None else _json(after)))

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
                        "changed": changed_fields(before, after), "before": before, "after": after})
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
        editor = editor_name(editor)
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
                    self._audit(conn, editor, "import", None, as_stored(rec), stamp, import_id)
                    counts["inserted"] += 1
                    continue
                old = self._row_to_record(old)
                keep_private_fields(old, rec)
                if not changed_fields(old, rec):
                    counts["unchanged"] += 1
                    continue
                rec.update(version=int(old["version"] or 1) + 1, updated_at=stamp)
                self._update_row(conn, rec)
                self._audit(conn, editor, "import", old, as_stored(rec), stamp, import_id)
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
            When the record is invalid or the station already exists: the same
            id, or the same name within ``settings.DUPLICATE_RADIUS_M`` in its
            layer (:mod:`geo.registry.dedupe`).
        """
        editor = editor_name(editor)
        rec = validate_record({"source": "app", **record})
        rec.update(version=1, updated_at=now_iso())
        for attempt in range(5):
            # The duplicate check reads the registry before the write; if a
            # restore replaces the file in between, it is done again.
            opened = file_identity(self.path)
            check_no_twin(self.load(kinds=[rec["kind"]]), rec)
            try:
                with self._transaction() as conn:
                    self._check_same_file(opened)
                    if conn.execute(f'SELECT 1 FROM "{rec["kind"]}" WHERE id = ?', (rec["id"],)).fetchone():
                        raise ValidationError(f"站点已存在 / station already exists: {rec['id']}")
                    self._insert(conn, rec)
                    self._audit(conn, editor, "add", None, as_stored(rec), rec["updated_at"])
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

        Raises
        ------
        ValidationError
            When the result is invalid, or a new name or position makes it
            the same station as another of its layer (:mod:`geo.registry.dedupe`).
        ConflictError
            When ``expected_version`` is not the stored version.
        """
        return self._update(station_id, changes, expected_version, editor_name(editor), "update")

    def _update(self, station_id: str, changes: dict, expected_version: int | None,
                editor: str, action: str, also=None) -> dict:
        for attempt in range(5):
            try:
                return self._update_once(station_id, changes, expected_version, editor, action, also)
            except _Replaced:
                # A restore put another file in place between the read and the
                # write: read the station again from the restored registry (a
                # stale ``expected_version`` then raises ConflictError).
                continue
        raise RegistryBusyError(self.path, 0)

    def _update_once(self, station_id: str, changes: dict, expected_version: int | None,
                     editor: str, action: str, also=None) -> dict:
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
        if {"name", "lon", "lat"} & set(changed_fields(current, rec)):
            # Only a new name or position can make a twin: an edit of a pair
            # stored before the rule was whole is not refused for it.
            check_no_twin(self.load(kinds=[rec["kind"]]), rec, exclude=[rec["id"]])
        rec.update(version=version + 1, updated_at=now_iso())
        with self._transaction() as conn:
            # ``current`` must come from this very file (not one a restore
            # has since replaced: versions start again from the backup's).
            self._check_same_file(opened)
            # Guarded by the version read above, so ``current`` is exactly
            # the row this replaces and the audit's "before" is true.
            if self._update_row(conn, rec, where_version=version) == 0:
                raise ConflictError(self.get(station_id) or current, {**rec, "version": version})
            self._audit(conn, editor, action, current, as_stored(rec), rec["updated_at"])
            if also is not None:  # more of the same change (reports a confirmation closes), same transaction
                also(conn, rec)
            self._touch(conn)
        return rec

    def delete_sample(self, editor: str = settings.EDITOR_APP) -> int:
        """Remove every sample station (示例数据); returns how many were removed.

        Each removed station is audited (action ``delete_sample``, ``after``
        empty), so :meth:`restore` can bring one back.
        """
        editor = editor_name(editor)
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
        return self._update(station_id, {"status": status}, expected_version, editor_name(editor), "set_status")

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
        editor = editor_name(editor)
        with self._transaction() as conn:
            row = conn.execute("SELECT * FROM audit_log WHERE fid = ? AND station_id = ?",
                               (int(audit_id), station_id)).fetchone()
            if row is None:
                raise ValidationError(f"站点 {station_id} 没有修改记录 {audit_id} / "
                                      f"station {station_id} has no audit entry {audit_id}")
            target = json.loads(row["after"] or row["before"])
            current_row = conn.execute(f'SELECT * FROM "{target["kind"]}" WHERE id = ?', (station_id,)).fetchone()
            current = self._row_to_record(current_row) if current_row is not None else None
            last = conn.execute("SELECT max(version) FROM audit_log WHERE station_id = ?", (station_id,)).fetchone()[0]
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
            self._touch(conn)
        return rec


def _json(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False, default=str)


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
