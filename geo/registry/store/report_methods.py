"""Workers' reports in either store, written once: the limits' order of checks, the readings, an editor's decision.

:class:`ReportMethods` is a base class of
:class:`~geo.registry.store.gpkg_reports.GeoPackageReports` and
:class:`~geo.registry.store.pg_reports.PostgisReports`; the rules
themselves (types, limits, decisions) are in :mod:`geo.registry.reports`.
Each backend supplies what differs:

``_report_write()``
    The write transaction of a report (GeoPackage: the file's write lock;
    PostGIS: an advisory lock, leaving the change counter alone).
``_forget_clients(conn, cutoff)``
    Delete the limit rows (client hashes) filed at or before ``cutoff``
    (GeoPackage: overwritten on disk, ``secure_delete``).
``_has_station(conn, station_id)``
    Whether a station of any layer has that id.
``_now()``
    The clock of the limits (``time.time`` of the backend's module, which tests move).

and the store's own hooks (:mod:`geo.registry.store.station_methods`):
``_transaction``, ``_reading``, ``_frame_of``, ``_insert_id``, ``_current``,
``_audit``, ``_update``, ``get`` and the SQL dialect.
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from geo import settings
from geo.registry.reports import (NOT_SERVING_TYPES, ReportLimitError, ReportLimits, StationNotFound,
                                  check_decision, check_report, check_statuses, new_report, typed_reports)
from geo.registry.store.base import ConflictError, SqlDialect, editor_name, now_iso


class ReportMethods(SqlDialect):
    """The report methods of both stores (see :class:`~geo.registry.store.base.RegistryStore`)."""

    def add_report(self, station_id: str, report_type: str, text: str | None = None, *, client: str,
                   limits: ReportLimits | None = None) -> dict:
        """File a worker's report; see :meth:`geo.registry.store.base.RegistryStore.add_report`."""
        report_type, text = check_report(report_type, text)
        limits = limits or ReportLimits()
        now = self._now()
        refused = None
        with self._report_write() as conn:
            self._forget_clients(conn, now - limits.window_s)
            if not self._has_station(conn, station_id):
                raise StationNotFound(station_id)
            total, first = conn.execute(self._q("SELECT count(*), min(at) FROM report_limits WHERE client = ?"),
                                        (client,)).fetchone()
            here, first_here = conn.execute(self._q(
                "SELECT count(*), min(at) FROM report_limits WHERE client = ? AND station_id = ?"),
                (client, station_id)).fetchone()
            again = conn.execute(self._q(
                "SELECT min(at) FROM report_limits WHERE client = ? AND station_id = ? AND type = ?"),
                (client, station_id, report_type)).fetchone()[0]
            if total >= limits.per_client:
                refused = ReportLimitError(first + limits.window_s - now, "total")
            elif here >= limits.per_station:
                refused = ReportLimitError(first_here + limits.window_s - now, "station")
            elif again is not None:
                # Once per type, station and window: "3 人反馈" then means 3 clients.
                refused = ReportLimitError(again + limits.window_s - now, "same")
            else:
                not_serving, types = self._any("type", NOT_SERVING_TYPES)
                counted = report_type not in NOT_SERVING_TYPES or conn.execute(self._q(
                    f"SELECT 1 FROM report_limits WHERE client = ? AND station_id = ? AND {not_serving}"),
                    (client, station_id, *types)).fetchone() is None
                conn.execute(self._q("INSERT INTO report_limits (client, station_id, type, at) VALUES (?, ?, ?, ?)"),
                             (client, station_id, report_type, now))
                stamp = now_iso()
                rid = self._insert_id(conn, self._q(
                    "INSERT INTO station_reports (station_id, type, text, at, counted, status)"
                    " VALUES (?, ?, ?, ?, ?, 'open')"), (station_id, report_type, text, stamp, bool(counted)))
        if refused is not None:
            raise refused  # after the commit: the expired hashes stay deleted
        return new_report(rid, station_id, report_type, text, stamp, counted=counted)

    def reports(self, *, station_id: str | None = None, statuses: Iterable[str] | None = None,
                since: str | None = None) -> pd.DataFrame:
        """Reports, oldest first; see :meth:`geo.registry.store.base.RegistryStore.reports`."""
        where, args = [], []
        if station_id is not None:
            where.append("station_id = ?")
            args.append(station_id)
        if statuses:
            clause, wanted = self._any("status", check_statuses(statuses))
            where.append(clause)
            args += wanted
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        query = ("SELECT fid AS report_id, station_id, type, text, at, counted, status, resolved_at, resolved_by, "
                 "reason, audit_id FROM station_reports" + (" WHERE " + " AND ".join(where) if where else "")
                 + " ORDER BY fid")
        cutoff = self._now() - ReportLimits().window_s
        with self._reading() as conn:
            df = self._frame_of(conn, self._q(query), args)
            expired = conn.execute(self._q("SELECT 1 FROM report_limits WHERE at <= ? LIMIT 1"), (cutoff,)).fetchone()
        if expired:
            # Reading is what happens every day (each card asks): expired
            # client hashes go then too, not only at the next report.
            with self._report_write() as conn:
                self._forget_clients(conn, cutoff)
        return typed_reports(df)

    def resolve_reports(self, station_id: str, action: str, *, editor: str = settings.EDITOR_APP,
                        types: Iterable[str] | None = None, seen: int | None = None, reason: str = "",
                        changes: dict | None = None, expected_version: int | None = None) -> dict:
        """An editor's decision on a station's open reports; see :meth:`geo.registry.store.base.RegistryStore.resolve_reports`."""
        reason, answered, audit_action = check_decision(action, reason=reason, types=types, changes=changes)
        editor = editor_name(editor)
        outcome = {"closed": 0}

        def close(conn, rec: dict) -> None:
            # In the transaction of the station's audited edit (or of the
            # audit row alone): the decision and its effect land together.
            outcome["audit_id"] = conn.execute("SELECT max(fid) FROM audit_log").fetchone()[0]
            self._forget_clients(conn, self._now() - ReportLimits().window_s)
            if action == "keep_open":
                return
            where, args = ["station_id = ?", "status = 'open'"], [station_id]
            if answered is not None:
                clause, more = self._any("type", answered)
                where.append(clause)
                args += more
            if seen is not None:  # reports filed after the editor looked are not answered by this decision
                where.append("fid <= ?")
                args.append(int(seen))
            outcome["closed"] = conn.execute(self._q(
                "UPDATE station_reports SET status = ?, resolved_at = ?, resolved_by = ?, reason = ?, audit_id = ?"
                f" WHERE {' AND '.join(where)}"),
                ["confirmed" if action == "confirm" else "dismissed", rec["updated_at"] if changes else now_iso(),
                 editor, reason or None, outcome["audit_id"], *args]).rowcount

        current = self.get(station_id)
        if current is None:
            raise StationNotFound(station_id)
        if changes and any(current.get(k) != v for k, v in changes.items()):
            # The normal audited edit (validated, version-checked), with the
            # reports closed in its transaction.
            rec = self._update(station_id, changes, expected_version, editor, audit_action, also=close)
        else:
            if expected_version is not None and int(current["version"] or 1) != int(expected_version):
                raise ConflictError(current, {**current, "version": int(expected_version)})
            rec = current
            with self._transaction() as conn:
                stored = self._current(conn, current["kind"], station_id)
                if stored is None or int(stored["version"] or 1) != int(current["version"] or 1):
                    raise ConflictError(self.get(station_id) or current, {**current})
                # No change to the station: the audit row records the decision, before = after.
                self._audit(conn, editor, audit_action, current, current, now_iso())
                close(conn, current)
        return {"station": rec, "action": action, "closed": outcome["closed"], "audit_id": outcome.get("audit_id")}
