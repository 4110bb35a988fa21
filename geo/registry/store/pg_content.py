"""The whole PostGIS registry read in one snapshot, or replaced in one transaction: for copies, backups and restores.

:class:`PostgisContent` is a base class of :class:`~geo.registry.store.pg.PostgisStore`
(it uses the store's connections and write transaction). See
:mod:`geo.registry.store.content` for what the content holds.
"""
from __future__ import annotations

from collections.abc import Callable

from psycopg import sql

from geo.core.schema import KINDS
from geo.registry.store.content import (AUDIT_COLUMNS, IMPORT_COLUMNS, REPORT_TABLE_COLUMNS, RegistryContent,
                                        report_row)
from geo.registry.store.scenarios import SCENARIO_COLUMNS, SCENARIO_LOG_COLUMNS

_TABLES = (("import_log", IMPORT_COLUMNS), ("audit_log", AUDIT_COLUMNS), ("station_reports", REPORT_TABLE_COLUMNS),
           ("scenarios", SCENARIO_COLUMNS), ("scenario_log", SCENARIO_LOG_COLUMNS))


def _select(table: str, columns: list[str]) -> sql.Composable:
    # The audit's before/after as the very text stored (``json`` keeps it), not parsed.
    cols = [sql.SQL("{}::text").format(sql.Identifier(c)) if table == "audit_log" and c in ("before", "after")
            else sql.Identifier(c) for c in columns]
    return sql.SQL("SELECT {} FROM {} ORDER BY fid").format(sql.SQL(", ").join(cols), sql.Identifier(table))


class PostgisContent:
    """Snapshot and replace-all of the PostGIS store."""

    def _read_content(self, conn) -> RegistryContent:
        stations = self._records(conn, list(KINDS))
        logs = {table: [dict(zip(columns, row)) for row in conn.execute(_select(table, columns))]
                for table, columns in _TABLES}
        return RegistryContent(stations, logs["import_log"], logs["audit_log"],
                               [report_row(r) for r in logs["station_reports"]], logs["scenarios"],
                               logs["scenario_log"])

    def snapshot(self) -> RegistryContent:
        """Everything stored, as of one moment (a repeatable-read transaction), while others keep writing."""
        with self._connection() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return self._read_content(conn)

    def replace_contents(self, content: RegistryContent, *,
                         keep: Callable[[RegistryContent], object] | None = None) -> RegistryContent:
        """Replace everything stored by ``content`` in one transaction; returns what it replaced.

        Row numbers (audit, import and report ids) are kept, and the
        numbering continues after the highest. The change counter is
        raised, and the generation (:meth:`~geo.registry.store.station_methods.StationMethods.station_changes`),
        so every server loads everything again.

        Parameters
        ----------
        content
            What the registry holds afterwards.
        keep
            Called with the replaced content before the commit (a restore
            writes it to a file): if it fails, nothing is replaced.
        """
        with self._transaction() as conn:
            # Writers already queue on the change counter; this also holds off other programs' writes.
            conn.execute("LOCK TABLE stations, import_log, audit_log, station_reports, scenarios, scenario_log "
                         "IN EXCLUSIVE MODE")
            previous = self._read_content(conn)
            if keep is not None:
                keep(previous)
            conn.execute("UPDATE registry_state SET generation = generation + 1 WHERE id = 1")
            conn.execute("DELETE FROM stations")
            for table, _ in _TABLES:
                conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            with conn.cursor() as cur:
                self._insert_many(cur, content.stations)
                for table, columns in _TABLES:
                    rows = {"import_log": content.import_log, "audit_log": content.audit_log,
                            "station_reports": content.reports, "scenarios": content.scenarios,
                            "scenario_log": content.scenario_log}[table]
                    if rows:
                        cur.executemany(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
                            sql.SQL(", ").join(sql.Placeholder() * len(columns))),
                            [[r.get(c) for c in columns] for r in rows])
            for table in ("stations", *(t for t, _ in _TABLES)):
                conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({t}, 'fid'), "
                                     "coalesce((SELECT max(fid) FROM {i}), 0) + 1, false)").format(
                    t=sql.Literal(table), i=sql.Identifier(table)))
        return previous
