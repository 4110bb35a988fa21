"""A whole registry as plain values, the same from either backend: for copies between backends, backups and their checks.

:class:`RegistryContent` holds the stations (canonical records), the import
log, the audit log, the workers' reports, the saved scenarios and their log,
with their row numbers, so that audit ids, import ids and report ids mean
the same after a copy (a scenario's content is its text, byte for byte).
The client hashes of the report limits are not part of it: they are kept
only for the limits' window and never leave the registry.

:func:`read_gpkg` reads it from a GeoPackage in one read transaction;
:func:`write_gpkg` writes a new GeoPackage holding it (built beside the
target and renamed into place); the PostGIS side is
:class:`~geo.registry.store.pg_content.PostgisContent`.
:meth:`RegistryContent.checksum` is a SHA-256 of a canonical text of all of
it, so two registries with the same content have the same checksum
whatever their backend.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from geo.core.schema import FIELDS, KINDS
from geo.registry.store.gpkg import create_gpkg
from geo.registry.store.gpkg_schema import from_sql, gpkg_point, layer_fields, to_sql
from geo.registry.store.lock import registry_lock
from geo.registry.store.scenarios import SCENARIO_COLUMNS, SCENARIO_LOG_COLUMNS

#: Columns of the import log, the audit log and the reports, in the order both backends hold them.
IMPORT_COLUMNS = ["fid", "at", "source", "filename", "format", "kind", "crs_used", "rows", "accepted", "rejected",
                  "warnings", "inserted", "updated", "unchanged"]
AUDIT_COLUMNS = ["fid", "at", "editor", "station_id", "kind", "action", "version", "import_id", "before", "after"]
REPORT_TABLE_COLUMNS = ["fid", "station_id", "type", "text", "at", "counted", "status", "resolved_at",
                        "resolved_by", "reason", "audit_id"]


@dataclass
class RegistryContent:
    """Everything a registry holds but the report limits' client hashes."""

    stations: list[dict] = field(default_factory=list)
    import_log: list[dict] = field(default_factory=list)
    audit_log: list[dict] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    scenarios: list[dict] = field(default_factory=list)
    scenario_log: list[dict] = field(default_factory=list)

    def counts(self) -> dict:
        """Stations per layer and rows of each log (as a backup manifest lists them), and the scenarios."""
        layers = {k: sum(1 for s in self.stations if s["kind"] == k) for k in KINDS}
        return {"layers": layers, "import_log": len(self.import_log), "audit_log": len(self.audit_log),
                "reports": len(self.reports), "scenarios": len(self.scenarios),
                "scenario_log": len(self.scenario_log)}

    def checksum(self) -> str:
        """SHA-256 of the content in a canonical form (stations by layer and id, logs by row number)."""
        canonical = {
            "stations": sorted(self.stations, key=lambda s: (s["kind"], s["id"])),
            "import_log": sorted(self.import_log, key=lambda r: r["fid"]),
            "audit_log": sorted(self.audit_log, key=lambda r: r["fid"]),
            "reports": sorted(self.reports, key=lambda r: r["fid"]),
            "scenarios": sorted(self.scenarios, key=lambda r: r["fid"]),
            "scenario_log": sorted(self.scenario_log, key=lambda r: r["fid"]),
        }
        text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def is_empty(self) -> bool:
        """No station, no log row and no scenario: a registry a copy may be written into."""
        return not (self.stations or self.import_log or self.audit_log or self.reports or self.scenarios
                    or self.scenario_log)


def report_row(values: dict) -> dict:
    """A reports row with the types both backends agree on (``counted`` a bool)."""
    row = {c: values.get(c) for c in REPORT_TABLE_COLUMNS}
    row["counted"] = bool(row["counted"])
    return row


def _rows(conn: sqlite3.Connection, table: str, columns: list[str]) -> list[dict]:
    have = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
    if not have:
        return []  # a registry made before the table existed
    picked = ", ".join(c if c in have else f"NULL AS {c}" for c in columns)
    cur = conn.execute(f'SELECT {picked} FROM "{table}" ORDER BY fid')
    return [dict(zip(columns, row)) for row in cur]


def read_gpkg(path: str | Path) -> RegistryContent:
    """The content of a GeoPackage registry, read in one transaction (one consistent state)."""
    path = Path(path)
    with registry_lock(path), closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                                      timeout=30)) as conn:
        conn.execute("BEGIN")  # the reads below see one state, even while another process writes
        stations = []
        for kind in KINDS:
            cur = conn.execute(f'SELECT * FROM "{kind}" ORDER BY fid')
            names = [d[0] for d in cur.description]
            for row in cur:
                values = dict(zip(names, row))
                rec = {f.name: None for f in FIELDS}
                for f in layer_fields(kind):
                    if f.name in values:
                        rec[f.name] = from_sql(f.name, values[f.name])
                stations.append(rec)
        content = RegistryContent(stations, _rows(conn, "import_log", IMPORT_COLUMNS),
                                  _rows(conn, "audit_log", AUDIT_COLUMNS),
                                  [report_row(r) for r in _rows(conn, "station_reports", REPORT_TABLE_COLUMNS)],
                                  _rows(conn, "scenarios", SCENARIO_COLUMNS),
                                  _rows(conn, "scenario_log", SCENARIO_LOG_COLUMNS))
        conn.execute("COMMIT")
    return content


def write_gpkg(path: str | Path, content: RegistryContent) -> Path:
    """A new GeoPackage registry at ``path`` holding ``content``; it appears only once complete.

    Raises
    ------
    FileExistsError
        When there is a file at ``path``: it is never overwritten.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"登记库已存在，不会覆盖 / a registry already exists there and is not overwritten: {path}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.copy.gpkg")
    try:
        create_gpkg(tmp)
        with closing(sqlite3.connect(tmp, isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            for rec in content.stations:
                names = [f.name for f in layer_fields(rec["kind"])]
                conn.execute(f'INSERT INTO "{rec["kind"]}" (geom, {", ".join(names)}) '
                             f'VALUES (?, {", ".join("?" * len(names))})',
                             [gpkg_point(rec["lon"], rec["lat"])] + [to_sql(n, rec.get(n)) for n in names])
            for table, columns, rows in (("import_log", IMPORT_COLUMNS, content.import_log),
                                         ("audit_log", AUDIT_COLUMNS, content.audit_log),
                                         ("station_reports", REPORT_TABLE_COLUMNS, content.reports),
                                         ("scenarios", SCENARIO_COLUMNS, content.scenarios),
                                         ("scenario_log", SCENARIO_LOG_COLUMNS, content.scenario_log)):
                conn.executemany(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})',
                                 [[r.get(c) for c in columns] for r in rows])
            for kind in KINDS:  # the layers' extents, as the store keeps them
                conn.execute(f"""UPDATE gpkg_contents SET
                    min_x = (SELECT min(lon) FROM "{kind}"), min_y = (SELECT min(lat) FROM "{kind}"),
                    max_x = (SELECT max(lon) FROM "{kind}"), max_y = (SELECT max(lat) FROM "{kind}")
                    WHERE table_name = ?""", (kind,))
            conn.execute("COMMIT")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
