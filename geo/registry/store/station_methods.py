"""What both stores do with stations, written once: which checks run, in what order, what each audit row holds.

:class:`StationMethods` is a base class of
:class:`~geo.registry.store.gpkg.GeoPackageStore` and
:class:`~geo.registry.store.pg.PostgisStore`. It holds the flows of an
import, an edit, adding a station, a restore and the reading of the logs;
each backend supplies only what really differs between SQLite and
PostgreSQL, through small hooks:

``_transaction()``, ``_reading()``
    A write transaction (committed when the block ends, rolled back on an
    error) and a connection for reads.
``_PARAM``, ``_AS_TEXT``, ``_any``
    The SQL dialect (:class:`~geo.registry.store.base.SqlDialect`).
``_current(conn, kind, station_id, lock=)``
    The stored record, or None (``lock``: held until the commit where the
    transaction does not already hold the registry).
``_records(conn, kinds)``, ``_records_with_ids(conn, ids)``, ``_insert(conn, rec)``,
``_update_row(conn, rec, where_version=)``
    Stations read (in layer order, then as stored) and written.
``_generation(conn)``
    What a whole-registry restore changes (:meth:`StationMethods.station_changes`
    then loads everything again).
``_insert_id(conn, query, args)``, ``_frame_of(conn, query, args)``
    One row inserted, its ``fid`` returned; a query's rows as a DataFrame.
``_write_rows(conn, inserts, updates, audits)``
    Many stations and audit rows written at once (an import).
``_stored_records(conn, incoming)``
    The stored versions of an import's stations.
``_sample_records(conn)``, ``_delete_samples(conn)``
    The sample stations (示例数据), and their removal (returns how many).
``_touch(conn)``
    After a change of stations, in its transaction (the GeoPackage keeps
    each layer's extent and last change; PostGIS needs nothing).
``_attempts(write)``, ``_check_same_file(opened)``
    The GeoPackage runs a change again when the file was replaced (a
    restore) between its reads and its transaction; PostGIS never needs to.
``_check_twin_before(rec, exclude)``, ``_check_twin_within(conn, rec, exclude)``
    The duplicate-station check (:func:`~geo.registry.store.base.check_no_twin`),
    before the transaction (GeoPackage: the layer read on its own
    connection) or inside it, under the write lock (PostGIS: only the
    stations around the record, on the spatial index).
"""
from __future__ import annotations

import json
from typing import Callable, Iterable

import geopandas as gpd
import pandas as pd

from geo import settings
from geo.core.schema import KINDS, STATUSES
from geo.registry.changes import changed_fields
from geo.registry.store.base import (AUDIT_INSERT, ConflictError, SqlDialect, StationChanges, audit_row,
                                     editor_name, history_frame, keep_private_fields, now_iso, restored_record,
                                     station_frame)
from geo.registry.store.gpkg_schema import as_stored
from geo.registry.validate import ImportReport, ValidationError, validate_record


class StationMethods(SqlDialect):
    """The station methods of both stores (see :class:`~geo.registry.store.base.RegistryStore`)."""

    # -- hooks with a default -------------------------------------------

    def _attempts(self, write: Callable):
        """``write(opened)`` once (``opened``: what :meth:`_check_same_file` compares with)."""
        return write(None)

    def _check_same_file(self, opened) -> None:
        """Inside a write transaction: refuse if the registry is not the one read before it (default: it always is)."""

    def _check_twin_before(self, rec: dict, exclude: Iterable[str] = ()) -> None:
        """The duplicate check before the write transaction (default: none, it is made inside)."""

    def _check_twin_within(self, conn, rec: dict, exclude: Iterable[str] = ()) -> None:
        """The duplicate check inside the write transaction (default: none, it was made before)."""

    def _touch(self, conn) -> None:
        """After a change of stations, in its transaction (default: nothing)."""

    def _stored_records(self, conn, incoming: list[dict]) -> dict:
        """``{(kind, id): record}`` of the incoming stations already stored."""
        stored = {}
        for rec in incoming:
            key = (rec["kind"], rec["id"])
            if key not in stored:
                stored[key] = self._current(conn, *key)
        return {key: rec for key, rec in stored.items() if rec is not None}

    def _audit(self, conn, editor: str, action: str, before: dict | None, after: dict | None,
               stamp: str, import_id: int | None = None) -> None:
        # Written on the caller's connection, inside its transaction: the
        # change and its audit row are committed (or lost) together.
        conn.execute(self._q(AUDIT_INSERT), audit_row(editor, action, before, after, stamp, import_id))

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
        with self._reading() as conn:
            records = self._records(conn, kinds)
        return station_frame(records, statuses=statuses, region=region)

    def station_position(self) -> str:
        """Where the registry's stations are now, for :meth:`station_changes`.

        Read it before :meth:`load`: a change committed in between is then
        reported again by the next :meth:`station_changes`, never missed.
        """
        with self._reading() as conn:
            return self._position(conn)

    def station_changes(self, since: str) -> StationChanges | None:
        """The stations changed since ``since`` (a :meth:`station_position`), or None when it cannot tell.

        Every change of a station writes its audit row in the same
        transaction, so the audit rows after ``since`` name every station
        added, changed or removed; they are read as they are now. None
        (load everything instead) after a whole-registry restore, or for a
        position this registry never had.

        Parameters
        ----------
        since
            A position returned by :meth:`station_position` or an earlier call.
        """
        generation, _, after = since.rpartition(":")
        with self._reading() as conn:
            position = self._position(conn)
            now_generation, _, now = position.rpartition(":")
            if now_generation != generation or not after.isdigit() or int(now) < int(after):
                return None
            ids = [r[0] for r in conn.execute(self._q("SELECT DISTINCT station_id FROM audit_log WHERE fid > ?"),
                                              (int(after),))]
            records = self._records_with_ids(conn, ids) if ids else []
        found = {rec["id"] for rec in records}
        return StationChanges(position=position, changed=station_frame(records),
                              gone=[i for i in ids if i not in found])

    def _position(self, conn) -> str:
        # The registry's generation (changed by a whole-registry restore) and its last audit row.
        last = conn.execute("SELECT max(fid) FROM audit_log").fetchone()[0]
        return f"{self._generation(conn)}:{last or 0}"

    def import_log(self) -> pd.DataFrame:
        """Every import committed to this registry, newest first."""
        with self._reading() as conn:
            return self._frame_of(conn, "SELECT * FROM import_log ORDER BY fid DESC", ())

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
        t = self._AS_TEXT
        with self._reading() as conn:
            rows = conn.execute(self._q(
                f"SELECT fid, at, editor, action, version, import_id, before{t}, after{t} FROM audit_log "
                "WHERE station_id = ? ORDER BY fid DESC"), (station_id,)).fetchall()
        return history_frame(rows)

    def audit_log(self, limit: int | None = 200) -> pd.DataFrame:
        """The latest changes to the whole registry, newest first, as stored.

        ``before`` and ``after`` stay JSON text; ``limit=None`` returns all.
        """
        t = self._AS_TEXT
        query = ("SELECT fid AS audit_id, at, editor, station_id, kind, action, version, import_id, "
                 f"before{t} AS before, after{t} AS after FROM audit_log ORDER BY fid DESC")
        args: tuple = ()
        if limit is not None:
            query, args = query + " LIMIT ?", (int(limit),)
        with self._reading() as conn:
            return self._frame_of(conn, self._q(query), args)

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
        incoming = report.accepted.drop(columns=["geometry", "row"], errors="ignore").to_dict("records")
        with self._transaction() as conn:
            # The log row comes first so the audit rows can point at it; its
            # counts are filled in at the end, in the same transaction.
            import_id = self._insert_id(conn, self._q(
                "INSERT INTO import_log (at, source, filename, format, kind, crs_used, rows, accepted, rejected,"
                " warnings, inserted, updated, unchanged) VALUES (?,?,?,?,?,?,?,?,?,?,0,0,0)"),
                (stamp, report.source, report.filename, report.format, report.kind or "auto", report.crs_used,
                 report.rows, len(report.accepted), len(report.rejects), len(report.warnings)))
            stored = self._stored_records(conn, incoming)
            inserts, updates, audits = [], [], []
            for rec in incoming:
                key = (rec["kind"], rec["id"])
                old = stored.get(key)
                if old is None:
                    rec.update(version=1, updated_at=stamp)
                    inserts.append(rec)
                else:
                    keep_private_fields(old, rec)
                    if not changed_fields(old, rec):
                        counts["unchanged"] += 1
                        continue
                    rec.update(version=int(old["version"] or 1) + 1, updated_at=stamp)
                    updates.append(rec)
                # A file listing a station twice: the second row updates the first.
                stored[key] = new = as_stored(rec)
                audits.append((editor, "import", old, new, stamp, import_id))
                counts["inserted" if old is None else "updated"] += 1
            self._write_rows(conn, inserts, updates, audits)
            conn.execute(self._q("UPDATE import_log SET inserted = ?, updated = ?, unchanged = ? WHERE fid = ?"),
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

        def write(opened) -> dict:
            self._check_twin_before(rec)
            with self._transaction() as conn:
                self._check_same_file(opened)
                self._check_twin_within(conn, rec)
                if self._current(conn, rec["kind"], rec["id"]) is not None:
                    raise ValidationError(f"站点已存在 / station already exists: {rec['id']}")
                self._insert(conn, rec)
                self._audit(conn, editor, "add", None, as_stored(rec), rec["updated_at"])
                self._touch(conn)
            return rec

        return self._attempts(write)

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

    def set_status(self, station_id: str, status: str, expected_version: int | None = None,
                   editor: str = settings.EDITOR_APP) -> dict:
        """Mark a station open, temporarily closed, closed or planned."""
        return self._update(station_id, {"status": status}, expected_version, editor_name(editor), "set_status")

    def _update(self, station_id: str, changes: dict, expected_version: int | None,
                editor: str, action: str, also=None) -> dict:
        # Read, checked and written again from the start if the GeoPackage
        # was replaced in between (a stale ``expected_version`` then raises ConflictError).
        return self._attempts(lambda opened: self._update_once(opened, station_id, changes, expected_version,
                                                               editor, action, also))

    def _update_once(self, opened, station_id: str, changes: dict, expected_version: int | None,
                     editor: str, action: str, also) -> dict:
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
        # Only a new name or position can make a twin: an edit of a pair
        # stored before the rule was whole is not refused for it.
        moved = bool({"name", "lon", "lat"} & set(changed_fields(current, rec)))
        if moved:
            self._check_twin_before(rec, exclude=[rec["id"]])
        rec.update(version=version + 1, updated_at=now_iso())
        with self._transaction() as conn:
            # ``current`` must come from this very registry (not a file a
            # restore has since put in place: versions start again from the backup's).
            self._check_same_file(opened)
            if moved:
                self._check_twin_within(conn, rec, exclude=[rec["id"]])
            # Guarded by the version read above, so ``current`` is exactly
            # the row this replaces and the audit's "before" is true.
            if self._update_row(conn, rec, where_version=version) == 0:
                raise ConflictError(self._current(conn, rec["kind"], station_id) or current,
                                    {**rec, "version": version})
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
            samples = self._sample_records(conn)
            self._write_rows(conn, [], [], [(editor, "delete_sample", rec, None, stamp) for rec in samples])
            removed = self._delete_samples(conn)
            self._touch(conn)
        return removed

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
        t = self._AS_TEXT
        with self._transaction() as conn:
            row = conn.execute(self._q(f"SELECT after{t}, before{t} FROM audit_log WHERE fid = ? AND station_id = ?"),
                               (int(audit_id), station_id)).fetchone()
            if row is None:
                raise ValidationError(f"站点 {station_id} 没有修改记录 {audit_id} / "
                                      f"station {station_id} has no audit entry {audit_id}")
            target = json.loads(row[0] or row[1])
            current = self._current(conn, target["kind"], station_id, lock=True)
            last = conn.execute(self._q("SELECT max(version) FROM audit_log WHERE station_id = ?"),
                                (station_id,)).fetchone()[0]
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
