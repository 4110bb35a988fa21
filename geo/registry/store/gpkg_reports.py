"""Workers' reports in the GeoPackage registry: what SQLite does differently; the flow is :mod:`geo.registry.store.report_methods`.

:class:`GeoPackageReports` is a base class of
:class:`~geo.registry.store.gpkg.GeoPackageStore` (it uses the store's
connections, transactions and audit rows), so the reports are written like
every other change: one SQLite transaction in the registry's rollback
journal with ``synchronous=FULL`` (SQLite's default), so a report
acknowledged to the worker has reached the disk, and a SIGKILL before the
commit leaves nothing half written. The tables are in
:mod:`geo.registry.store.gpkg_schema` (``station_reports``, ``report_limits``);
the rules in :mod:`geo.registry.reports`.
"""
from __future__ import annotations

import time

from geo.core.schema import KINDS
from geo.registry.store.report_methods import ReportMethods


class GeoPackageReports(ReportMethods):
    """The report hooks of the GeoPackage store (see :class:`~geo.registry.store.report_methods.ReportMethods`)."""

    @staticmethod
    def _now() -> float:
        return time.time()

    def _report_write(self):
        return self._transaction()

    @staticmethod
    def _forget_clients(conn, cutoff: float) -> None:
        # Hashes past the window are overwritten on disk (secure_delete),
        # not merely unlinked from the b-tree.
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("DELETE FROM report_limits WHERE at <= ?", (cutoff,))

    @staticmethod
    def _has_station(conn, station_id: str) -> bool:
        return any(conn.execute(f'SELECT 1 FROM "{k}" WHERE id = ?', (station_id,)).fetchone() for k in KINDS)
