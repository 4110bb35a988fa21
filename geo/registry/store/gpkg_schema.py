"""The GeoPackage file itself: its tables, and station fields as SQLite values.

The registry is written through SQLite directly (see
:mod:`geo.registry.store.gpkg`); this module makes a new file's tables
(the GeoPackage metadata, a feature table per layer, the import log and
the audit log), adds what an older file lacks, and converts values.
"""
from __future__ import annotations

import json
import sqlite3
import struct

import numpy as np
import pandas as pd

from geo.core.schema import FIELDS, FIELDS_BY_NAME, KINDS, Field

#: The SQLite column type of each field type.
SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "BOOLEAN", "list": "TEXT"}
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)
_AUDIT_DDL = """CREATE TABLE audit_log (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, editor TEXT NOT NULL,
    station_id TEXT NOT NULL, kind TEXT, action TEXT NOT NULL, version INTEGER,
    import_id INTEGER, before TEXT, after TEXT)"""
# Workers' reports on stations (geo/registry/reports.py). No client data:
# ``counted`` says whether the report was its client's first "closed" or
# "not found" report of the station within the limits' window, decided when
# it was filed; the client's keyed hash lives only in ``report_limits``.
_REPORTS_DDL = """CREATE TABLE station_reports (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, station_id TEXT NOT NULL, type TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '', at TEXT NOT NULL, counted INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'open', resolved_at TEXT, resolved_by TEXT, reason TEXT, audit_id INTEGER)"""
# One row per accepted report for the abuse limits: the client's keyed hash
# (HMAC), never its address; rows leave once older than the window.
_LIMITS_DDL = """CREATE TABLE report_limits (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, client TEXT NOT NULL, station_id TEXT NOT NULL,
    type TEXT NOT NULL, at REAL NOT NULL)"""
# Saved siting scenarios and who saved, replaced or deleted them (geo/registry/store/scenarios.py).
_SCENARIOS_DDL = """CREATE TABLE scenarios (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, saved_at TEXT NOT NULL,
    editor TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1, content TEXT NOT NULL)"""
_SCENARIO_LOG_DDL = """CREATE TABLE scenario_log (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, editor TEXT NOT NULL, action TEXT NOT NULL,
    name TEXT NOT NULL)"""


def layer_fields(kind: str) -> list[Field]:
    """The fields a layer's table has (the layer-specific ones only in their layer)."""
    return [f for f in FIELDS if kind in f.kinds]


def gpkg_point(lon: float, lat: float) -> bytes:
    """A WGS-84 point as a GeoPackage geometry blob.

    GeoPackage binary: "GP", version 0, flags (little-endian, no envelope),
    SRS id, then a little-endian WKB point.
    """
    return struct.pack("<2sBBi", b"GP", 0, 1, 4326) + struct.pack("<BIdd", 1, 1, lon, lat)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table of a new registry on an empty database."""
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
            f'"{f.name}" {SQL_TYPES[f.dtype]}' + (" NOT NULL UNIQUE" if f.name == "id" else "")
            for f in layer_fields(kind.code))
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
    create_audit_table(conn)
    create_report_tables(conn)
    create_scenario_tables(conn)


def create_audit_table(conn: sqlite3.Connection) -> None:
    """Create the ``audit_log`` table (new registries, and older ones that lack it)."""
    conn.execute(_AUDIT_DDL)
    conn.execute("CREATE INDEX audit_log_station ON audit_log (station_id)")
    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                 "VALUES ('audit_log', 'attributes', 'audit_log', '修改记录 / audit log')")


def create_report_tables(conn: sqlite3.Connection) -> None:
    """Create the ``station_reports`` and ``report_limits`` tables (new registries, and older ones)."""
    conn.execute(_REPORTS_DDL)
    conn.execute("CREATE INDEX station_reports_station ON station_reports (station_id, at)")
    conn.execute("CREATE INDEX station_reports_status ON station_reports (status, at)")
    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                 "VALUES ('station_reports', 'attributes', 'station_reports', '站点反馈 / station reports')")
    conn.execute(_LIMITS_DDL)
    conn.execute("CREATE INDEX report_limits_client ON report_limits (client, at)")


def create_scenario_tables(conn: sqlite3.Connection) -> None:
    """Create the ``scenarios`` and ``scenario_log`` tables (new registries, and older ones)."""
    conn.execute(_SCENARIOS_DDL)
    conn.execute(_SCENARIO_LOG_DDL)
    for table, description in (("scenarios", "选址方案 / siting scenarios"),
                               ("scenario_log", "方案记录 / scenario log")):
        conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                     "VALUES (?, 'attributes', ?, ?)", (table, table, description))


#: Boolean fields whose empty value means True (a station is public unless marked otherwise).
TRUE_BY_DEFAULT = ("public",)


def to_sql(field_name: str, value):
    """A field's value as stored in SQLite (lists as JSON, yes/no as 0/1, missing as NULL or the default)."""
    dtype = FIELDS_BY_NAME[field_name].dtype
    if dtype == "list":
        return json.dumps(list(value) if value is not None else [], ensure_ascii=False)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return 1 if field_name in TRUE_BY_DEFAULT else None
    if dtype == "bool":
        return int(bool(value))
    if dtype == "int":
        return int(value)
    if dtype == "float":
        return float(value)
    return str(value)


def from_sql(field_name: str, value):
    """A field's value as read back from SQLite (the inverse of :func:`to_sql`)."""
    dtype = FIELDS_BY_NAME[field_name].dtype
    if dtype == "list":
        return json.loads(value) if value else []
    if dtype == "bool":
        return True if value is None and field_name in TRUE_BY_DEFAULT else bool(value)
    if dtype == "str":
        return "" if value is None else value
    return value


def as_stored(rec: dict) -> dict:
    """``rec`` exactly as :meth:`geo.registry.store.gpkg.GeoPackageStore.get` would return it once written."""
    out = {f.name: None for f in FIELDS}
    for f in layer_fields(rec["kind"]):
        out[f.name] = from_sql(f.name, to_sql(f.name, rec.get(f.name)))
    return out


def missing_parts(conn: sqlite3.Connection) -> tuple:
    """What a registry made by an older version lacks, or ``()``.

    ``(no audit log, [(layer, field)], no report tables, no scenario tables)``.
    """
    audit = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_log'").fetchone() is None
    reports = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'station_reports'").fetchone() is None
    scenarios = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'scenarios'").fetchone() is None
    columns = []
    for kind in KINDS:
        have = {r[1] for r in conn.execute(f'PRAGMA table_info("{kind}")')}
        if not have:
            continue  # not a registry layer (the backup checks say so)
        columns += [(kind, f) for f in layer_fields(kind) if f.name not in have]
    return (audit, columns, reports, scenarios) if audit or columns or reports or scenarios else ()


def add_missing_parts(conn: sqlite3.Connection, parts: tuple) -> None:
    """Add what :func:`missing_parts` found, inside the caller's transaction."""
    audit, columns, reports, scenarios = parts or (False, [], False, False)
    if audit:
        create_audit_table(conn)
    if reports:
        create_report_tables(conn)
    if scenarios:
        create_scenario_tables(conn)
    for kind, field in columns:
        default = " DEFAULT 1" if field.name in TRUE_BY_DEFAULT else ""
        conn.execute(f'ALTER TABLE "{kind}" ADD COLUMN "{field.name}" {SQL_TYPES[field.dtype]}{default}')
