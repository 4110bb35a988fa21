"""Workers' reports in the PostGIS registry: what PostgreSQL does differently; the flow is :mod:`geo.registry.store.report_methods`.

:class:`PostgisReports` is a base class of
:class:`~geo.registry.store.pg.PostgisStore` (it uses the store's
connections, write transactions and audit rows). A report is one write
transaction queued behind an advisory lock, as SQLite's write lock queues
them, so two processes filing at once cannot both pass a client's limit;
it leaves the change counter alone, so readers keep their stations. The
tables (``station_reports``, ``report_limits``) are made by migration 3 of
:mod:`geo.registry.store.pg_schema`; the rules are in :mod:`geo.registry.reports`.
"""
from __future__ import annotations

import time

from geo.registry.store.report_methods import ReportMethods


class PostgisReports(ReportMethods):
    """The report hooks of the PostGIS store (see :class:`~geo.registry.store.report_methods.ReportMethods`)."""

    @staticmethod
    def _now() -> float:
        return time.time()

    def _report_write(self):
        return self._transaction(stations=False)

    @staticmethod
    def _forget_clients(conn, cutoff: float) -> None:
        conn.execute("DELETE FROM report_limits WHERE at <= %s", (cutoff,))

    @staticmethod
    def _has_station(conn, station_id: str) -> bool:
        return conn.execute("SELECT 1 FROM stations WHERE id = %s LIMIT 1", (station_id,)).fetchone() is not None
