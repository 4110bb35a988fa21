"""Workers' reports in the GeoPackage registry: filing them under the abuse limits, reading them, an editor's decision.

:class:`GeoPackageReports` holds the report methods of
:class:`~geo.registry.store.gpkg.GeoPackageStore` (its base class: it uses
the store's connections, transactions and audit rows), so the reports are
written like every other change: one SQLite transaction in the registry's
rollback journal with ``synchronous=FULL`` (SQLite's default), so a report
acknowledged to the worker has reached the disk, and a SIGKILL before the
commit leaves nothing half written. The tables are in
:mod:`geo.registry.store.gpkg_schema` (``station_reports``, ``report_limits``);
the rules in :mod:`geo.registry.reports`.
"""
from __future__ import annotations

import time
from typing import Iterable

import pandas as pd

from geo import settings
from geo.core.schema import KINDS
from geo.registry.reports import (NOT_SERVING_TYPES, ReportLimitError, ReportLimits,
                                  StationNotFound, check_decision, check_report, check_statuses, new_report,
                                  typed_reports)
from geo.registry.store.base import ConflictError, editor_name, now_iso


class GeoPackageReports:
    """The report methods of the GeoPackage store (see :class:`~geo.registry.store.base.RegistryStore`)."""

    def add_report(self, station_id: str, report_type: str, text: str | None = None, *, client: str,
                   limits: ReportLimits | None = None) -> dict:
        """File a worker's report; see :meth:`geo.registry.store.base.RegistryStore.add_report`."""
        report_type, text = check_report(report_type, text)
        limits = limits or ReportLimits()
        now = time.time()
        refused = None
        with self._transaction() as conn:
            # Hashes past the window are deleted now, overwritten on disk
            # (secure_delete), not merely unlinked from the b-tree.
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("DELETE FROM report_limits WHERE at <= ?", (now - limits.window_s,))
            kind = next((k for k in KINDS
                         if conn.execute(f'SELECT 1 FROM "{k}" WHERE id = ?', (station_id,)).fetchone()), None)
            if kind is None:
                raise StationNotFound(station_id)
            total, first = conn.execute("SELECT count(*), min(at) FROM report_limits WHERE client = ?",
                                        (client,)).fetchone()
            here, first_here = conn.execute(
                "SELECT count(*), min(at) FROM report_limits WHERE client = ? AND station_id = ?",
                (client, station_id)).fetchone()
            again = conn.execute("SELECT min(at) FROM report_limits WHERE client = ? AND station_id = ? AND type = ?",
                                 (client, station_id, report_type)).fetchone()[0]
            if total >= limits.per_client:
                refused = ReportLimitError(first + limits.window_s - now, "total")
            elif here >= limits.per_station:
                refused = ReportLimitError(first_here + limits.window_s - now, "station")
            elif again is not None:
                # Once per type, station and window: "3 人反馈" then means 3 clients.
                refused = ReportLimitError(again + limits.window_s - now, "same")
            else:
                counted = report_type not in NOT_SERVING_TYPES or conn.execute(
                    f"SELECT 1 FROM report_limits WHERE client = ? AND station_id = ? AND type IN "
                    f"({','.join('?' * len(NOT_SERVING_TYPES))})",
                    (client, station_id, *NOT_SERVING_TYPES)).fetchone() is None
                conn.execute("INSERT INTO report_limits (client, station_id, type, at) VALUES (?,?,?,?)",
                             (client, station_id, report_type, now))
                stamp = now_iso()
                rid = conn.execute("INSERT INTO station_reports (station_id, type, text, at, counted, status)"
                                   " VALUES (?,?,?,?,?, 'open')",
                                   (station_id, report_type, text, stamp, int(counted))).lastrowid
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
            wanted = check_statuses(statuses)
            where.append(f"status IN ({','.join('?' * len(wanted))})")
            args += wanted
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        sql = ("SELECT fid AS report_id, station_id, type, text, at, counted, status, resolved_at, resolved_by, "
               "reason, audit_id FROM station_reports" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY fid")
        cutoff = time.time() - ReportLimits().window_s
        conn = self._connect()
        try:
            df = pd.read_sql_query(sql, conn, params=args)
            expired = conn.execute("SELECT 1 FROM report_limits WHERE at <= ? LIMIT 1", (cutoff,)).fetchone()
        finally:
            conn.close()
        if expired:
            # Reading is what happens every day (each card asks): expired
            # client hashes go then too, not only at the next report.
            with self._transaction() as conn:
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("DELETE FROM report_limits WHERE at <= ?", (cutoff,))
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
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("DELETE FROM report_limits WHERE at <= ?", (time.time() - ReportLimits().window_s,))
            if action == "keep_open":
                return
            where = ["station_id = ?", "status = 'open'"]
            args: list = [station_id]
            if answered is not None:
                where.append(f"type IN ({','.join('?' * len(answered))})")
                args += answered
            if seen is not None:  # reports filed after the editor looked are not answered by this decision
                where.append("fid <= ?")
                args.append(int(seen))
            outcome["closed"] = conn.execute(
                f"UPDATE station_reports SET status = ?, resolved_at = ?, resolved_by = ?, reason = ?, audit_id = ?"
                f" WHERE {' AND '.join(where)}",
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
                row = conn.execute(f'SELECT version FROM "{current["kind"]}" WHERE id = ?', (station_id,)).fetchone()
                if row is None or int(row[0] or 1) != int(current["version"] or 1):
                    raise ConflictError(self.get(station_id) or current, {**current})
                # No change to the station: the audit row records the decision, before = after.
                self._audit(conn, editor, audit_action, current, current, now_iso())
                close(conn, current)
        return {"station": rec, "action": action, "closed": outcome["closed"], "audit_id": outcome.get("audit_id")}
