"""Workers' reports in the PostGIS registry: the same rules as :mod:`geo.registry.store.gpkg_reports`, in SQL of PostgreSQL.

:class:`PostgisReports` holds the report methods of
:class:`~geo.registry.store.pg.PostgisStore` (its base class: it uses the
store's connections, write transactions and audit rows). A report is one
write transaction queued behind an advisory lock, as SQLite's write lock
queues them, so two processes filing at once cannot both pass a client's
limit; it leaves the change counter alone, so readers keep their stations. The tables
(``station_reports``, ``report_limits``) are made by migration 3 of
:mod:`geo.registry.store.pg_schema`; the rules are in :mod:`geo.registry.reports`.
"""
from __future__ import annotations

import time
from typing import Iterable

import pandas as pd

from geo import settings
from geo.registry.reports import (NOT_SERVING_TYPES, ReportLimitError, ReportLimits,
                                  StationNotFound, check_decision, check_report, check_statuses, new_report,
                                  typed_reports)
from geo.registry.store.base import ConflictError, editor_name, now_iso


class PostgisReports:
    """The report methods of the PostGIS store (see :class:`~geo.registry.store.base.RegistryStore`)."""

    def add_report(self, station_id: str, report_type: str, text: str | None = None, *, client: str,
                   limits: ReportLimits | None = None) -> dict:
        """File a worker's report; see :meth:`geo.registry.store.base.RegistryStore.add_report`."""
        report_type, text = check_report(report_type, text)
        limits = limits or ReportLimits()
        now = time.time()
        refused = None
        with self._transaction(stations=False) as conn:
            conn.execute("DELETE FROM report_limits WHERE at <= %s", (now - limits.window_s,))
            if conn.execute("SELECT 1 FROM stations WHERE id = %s LIMIT 1", (station_id,)).fetchone() is None:
                raise StationNotFound(station_id)
            total, first = conn.execute("SELECT count(*), min(at) FROM report_limits WHERE client = %s",
                                        (client,)).fetchone()
            here, first_here = conn.execute(
                "SELECT count(*), min(at) FROM report_limits WHERE client = %s AND station_id = %s",
                (client, station_id)).fetchone()
            again = conn.execute(
                "SELECT min(at) FROM report_limits WHERE client = %s AND station_id = %s AND type = %s",
                (client, station_id, report_type)).fetchone()[0]
            if total >= limits.per_client:
                refused = ReportLimitError(first + limits.window_s - now, "total")
            elif here >= limits.per_station:
                refused = ReportLimitError(first_here + limits.window_s - now, "station")
            elif again is not None:
                refused = ReportLimitError(again + limits.window_s - now, "same")
            else:
                counted = report_type not in NOT_SERVING_TYPES or conn.execute(
                    "SELECT 1 FROM report_limits WHERE client = %s AND station_id = %s AND type = ANY(%s)",
                    (client, station_id, list(NOT_SERVING_TYPES))).fetchone() is None
                conn.execute("INSERT INTO report_limits (client, station_id, type, at) VALUES (%s, %s, %s, %s)",
                             (client, station_id, report_type, now))
                stamp = now_iso()
                rid = conn.execute("INSERT INTO station_reports (station_id, type, text, at, counted, status)"
                                   " VALUES (%s, %s, %s, %s, %s, 'open') RETURNING fid",
                                   (station_id, report_type, text, stamp, bool(counted))).fetchone()[0]
        if refused is not None:
            raise refused  # after the commit: the expired hashes stay deleted
        return new_report(rid, station_id, report_type, text, stamp, counted=counted)

    def reports(self, *, station_id: str | None = None, statuses: Iterable[str] | None = None,
                since: str | None = None) -> pd.DataFrame:
        """Reports, oldest first; see :meth:`geo.registry.store.base.RegistryStore.reports`."""
        where, args = [], []
        if station_id is not None:
            where.append("station_id = %s")
            args.append(station_id)
        if statuses:
            wanted = check_statuses(statuses)
            where.append("status = ANY(%s)")
            args.append(wanted)
        if since is not None:
            where.append("at >= %s")
            args.append(since)
        query = ("SELECT fid AS report_id, station_id, type, text, at, counted, status, resolved_at, resolved_by, "
                 "reason, audit_id FROM station_reports" + (" WHERE " + " AND ".join(where) if where else "")
                 + " ORDER BY fid")
        cutoff = time.time() - ReportLimits().window_s
        with self._connection() as conn:
            cur = conn.execute(query, args)
            df = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
            expired = conn.execute("SELECT 1 FROM report_limits WHERE at <= %s LIMIT 1", (cutoff,)).fetchone()
        if expired:
            # Reading is what happens every day (each card asks): expired client hashes go then too.
            with self._transaction(stations=False) as conn:
                conn.execute("DELETE FROM report_limits WHERE at <= %s", (cutoff,))
        return typed_reports(df)

    def resolve_reports(self, station_id: str, action: str, *, editor: str = settings.EDITOR_APP,
                        types: Iterable[str] | None = None, seen: int | None = None, reason: str = "",
                        changes: dict | None = None, expected_version: int | None = None) -> dict:
        """An editor's decision on a station's open reports; see :meth:`geo.registry.store.base.RegistryStore.resolve_reports`."""
        reason, answered, audit_action = check_decision(action, reason=reason, types=types, changes=changes)
        editor = editor_name(editor)
        outcome = {"closed": 0}

        def close(conn, rec: dict) -> None:
            # In the transaction of the station's audited edit (or of the audit row alone).
            outcome["audit_id"] = conn.execute("SELECT max(fid) FROM audit_log").fetchone()[0]
            conn.execute("DELETE FROM report_limits WHERE at <= %s", (time.time() - ReportLimits().window_s,))
            if action == "keep_open":
                return
            where, args = ["station_id = %s", "status = 'open'"], [station_id]
            if answered is not None:
                where.append("type = ANY(%s)")
                args.append(list(answered))
            if seen is not None:  # reports filed after the editor looked are not answered by this decision
                where.append("fid <= %s")
                args.append(int(seen))
            outcome["closed"] = conn.execute(
                "UPDATE station_reports SET status = %s, resolved_at = %s, resolved_by = %s, reason = %s, "
                f"audit_id = %s WHERE {' AND '.join(where)}",
                ["confirmed" if action == "confirm" else "dismissed", rec["updated_at"] if changes else now_iso(),
                 editor, reason or None, outcome["audit_id"], *args]).rowcount

        current = self.get(station_id)
        if current is None:
            raise StationNotFound(station_id)
        if changes and any(current.get(k) != v for k, v in changes.items()):
            rec = self._update(station_id, changes, expected_version, editor, audit_action, also=close)
        else:
            if expected_version is not None and int(current["version"] or 1) != int(expected_version):
                raise ConflictError(current, {**current, "version": int(expected_version)})
            rec = current
            with self._transaction() as conn:
                row = conn.execute("SELECT version FROM stations WHERE kind = %s AND id = %s",
                                   (current["kind"], station_id)).fetchone()
                if row is None or int(row[0] or 1) != int(current["version"] or 1):
                    raise ConflictError(self.get(station_id) or current, {**current})
                self._audit(conn, editor, audit_action, current, current, now_iso())
                close(conn, current)
        return {"station": rec, "action": action, "closed": outcome["closed"], "audit_id": outcome.get("audit_id")}
