"""The registry store: one GeoPackage file, a layer per kind plus an import log.

The GeoPackage is written through SQLite directly, so that every import and
edit is one SQL transaction: an import that fails or is interrupted half way
leaves the previous registry exactly as it was, and a new registry appears
on disk only once it is complete (it is built beside the target and renamed
into place). GDAL, QGIS and geopandas read the file as a normal GeoPackage.

Pages and the command line use the :class:`RegistryStore` interface, so a
server database can be added later without touching them.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import points

from . import settings
from .crs import haversine_m
from .schema import FIELDS, FIELDS_BY_NAME, KINDS, STATUSES
from .validate import ImportReport, ValidationError, now_iso, validate_record

_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "BOOLEAN", "list": "TEXT"}
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)
# The parts of a record the registry compares when deciding whether an
# import changed a station (bookkeeping fields excluded).
_CONTENT_FIELDS = [f.name for f in FIELDS if f.name not in ("version", "updated_at")]


class ConflictError(RuntimeError):
    """Someone else saved the station since it was opened for editing."""

    def __init__(self, current: dict, attempted: dict):
        super().__init__(
            f"站点 {current['id']} 已被他人修改（当前版本 {current['version']}），请刷新后再保存 / "
            f"station {current['id']} was changed by someone else (now version {current['version']}); reload before saving")
        self.current, self.attempted = current, attempted


class RegistryStore(Protocol):
    """What the pages and the command line need from a registry."""

    def load(self, kinds: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
             region: str | None = None) -> gpd.GeoDataFrame: ...
    def get(self, station_id: str) -> dict | None: ...
    def add(self, record: dict) -> dict: ...
    def update(self, station_id: str, changes: dict, expected_version: int | None = None) -> dict: ...
    def commit_import(self, report: ImportReport) -> dict: ...
    def import_log(self) -> pd.DataFrame: ...


def _layer_fields(kind: str) -> list:
    return [f for f in FIELDS if kind in f.kinds]


def _gpkg_point(lon: float, lat: float) -> bytes:
    # GeoPackage binary: "GP", version 0, flags (little-endian, no envelope),
    # SRS id, then a little-endian WKB point.
    return struct.pack("<2sBBi", b"GP", 0, 1, 4326) + struct.pack("<BIdd", 1, 1, lon, lat)


def _create_schema(conn: sqlite3.Connection) -> None:
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
            f'"{f.name}" {_SQL_TYPES[f.dtype]}' + (" NOT NULL UNIQUE" if f.name == "id" else "")
            for f in _layer_fields(kind.code))
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


def _to_sql(field_name: str, value):
    dtype = FIELDS_BY_NAME[field_name].dtype
    if dtype == "list":
        return json.dumps(list(value) if value is not None else [], ensure_ascii=False)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if dtype == "bool":
        return int(bool(value))
    if dtype == "int":
        return int(value)
    if dtype == "float":
        return float(value)
    return str(value)


def _from_sql(field_name: str, value):
    dtype = FIELDS_BY_NAME[field_name].dtype
    if dtype == "list":
        return json.loads(value) if value else []
    if dtype == "bool":
        return bool(value)
    if dtype == "str":
        return "" if value is None else value
    return value


class GeoPackageStore:
    """A registry kept in one GeoPackage file.

    Parameters
    ----------
    path : str or Path
        The GeoPackage; create it with :func:`create_registry` or
        :func:`open_store`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"登记库不存在 / registry not found: {self.path}")

    # -- plumbing ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    @contextmanager
    def _transaction(self):
        conn = self._connect()
        try:
            # IMMEDIATE takes the write lock up front, so two writers queue
            # instead of failing half way through.
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _insert(self, conn, rec: dict) -> None:
        fields = [f.name for f in _layer_fields(rec["kind"])]
        conn.execute(
            f'INSERT INTO "{rec["kind"]}" (geom, {", ".join(fields)}) VALUES (?, {", ".join("?" * len(fields))})',
            [_gpkg_point(rec["lon"], rec["lat"])] + [_to_sql(f, rec.get(f)) for f in fields])

    def _update_row(self, conn, rec: dict, where_version: int | None = None) -> int:
        fields = [f.name for f in _layer_fields(rec["kind"]) if f.name != "id"]
        sql = f'UPDATE "{rec["kind"]}" SET geom = ?, {", ".join(f"{f} = ?" for f in fields)} WHERE id = ?'
        args = [_gpkg_point(rec["lon"], rec["lat"])] + [_to_sql(f, rec.get(f)) for f in fields] + [rec["id"]]
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
                rec[key] = _from_sql(key, row[key])
        return rec

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
        from .export import filter_stations  # export builds on the store's frames

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

    # -- writing ----------------------------------------------------------

    def commit_import(self, report: ImportReport) -> dict:
        """Write a validated import in one transaction.

        Stations whose ``id`` is already stored (same source and source id,
        or merged by name and distance) are updated when anything changed;
        the others are inserted. If anything fails, nothing is written.

        Returns
        -------
        dict
            ``{"inserted": n, "updated": n, "unchanged": n}``
        """
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        stamp = now_iso()
        with self._transaction() as conn:
            for rec in report.accepted.drop(columns=["geometry", "row"], errors="ignore").to_dict("records"):
                old = conn.execute(f'SELECT * FROM "{rec["kind"]}" WHERE id = ?', (rec["id"],)).fetchone()
                if old is None:
                    rec.update(version=1, updated_at=stamp)
                    self._insert(conn, rec)
                    counts["inserted"] += 1
                    continue
                old = self._row_to_record(old)
                if all(_same(old.get(f), rec.get(f), f) for f in _CONTENT_FIELDS):
                    counts["unchanged"] += 1
                    continue
                rec.update(version=int(old["version"] or 1) + 1, updated_at=stamp)
                self._update_row(conn, rec)
                counts["updated"] += 1
            conn.execute(
                "INSERT INTO import_log (at, source, filename, format, kind, crs_used, rows, accepted, rejected,"
                " warnings, inserted, updated, unchanged) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (stamp, report.source, report.filename, report.format, report.kind or "auto", report.crs_used,
                 report.rows, len(report.accepted), len(report.rejects), len(report.warnings),
                 counts["inserted"], counts["updated"], counts["unchanged"]))
            self._touch(conn)
        return counts

    def add(self, record: dict) -> dict:
        """Add one station entered by hand; returns it as stored.

        Raises
        ------
        ValidationError
            When the record is invalid or the station already exists.
        """
        rec = validate_record({"source": "app", **record})
        rec.update(version=1, updated_at=now_iso())
        twin = _twin(self.load(kinds=[rec["kind"]]), rec)
        if twin is not None:
            raise ValidationError(
                f"{settings.DUPLICATE_RADIUS_M:.0f} 米内已有同名站点 {twin} / a station of the same name "
                f"already exists within {settings.DUPLICATE_RADIUS_M:.0f} m: {twin}")
        with self._transaction() as conn:
            if conn.execute(f'SELECT 1 FROM "{rec["kind"]}" WHERE id = ?', (rec["id"],)).fetchone():
                raise ValidationError(f"站点已存在 / station already exists: {rec['id']}")
            self._insert(conn, rec)
            self._touch(conn)
        return rec

    def update(self, station_id: str, changes: dict, expected_version: int | None = None) -> dict:
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
        """
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
            raise ConflictError(current, rec)
        rec.update(version=version + 1, updated_at=now_iso())
        with self._transaction() as conn:
            if self._update_row(conn, rec, where_version=version) == 0:
                raise ConflictError(self.get(station_id) or current, rec)
            self._touch(conn)
        return rec

    def delete_sample(self) -> int:
        """Remove every sample station (示例数据); returns how many were removed."""
        with self._transaction() as conn:
            removed = sum(conn.execute(f'DELETE FROM "{k}" WHERE is_sample = 1').rowcount for k in KINDS)
            self._touch(conn)
        return removed

    def set_status(self, station_id: str, status: str, expected_version: int | None = None) -> dict:
        """Mark a station open, temporarily closed, closed or planned."""
        return self.update(station_id, {"status": status}, expected_version)


def _twin(stations: gpd.GeoDataFrame, rec: dict) -> str | None:
    """Id of a same-named station within the duplicate radius, if any."""
    same = stations[stations["name"].str.replace(r"\s+", "", regex=True)
                    == re.sub(r"\s+", "", rec["name"])]
    if same.empty:
        return None
    d = haversine_m(same["lon"].to_numpy(float), same["lat"].to_numpy(float), rec["lon"], rec["lat"])
    return str(same["id"].iat[int(np.argmin(d))]) if d.min() <= settings.DUPLICATE_RADIUS_M else None


def _same(a, b, field_name: str) -> bool:
    dtype = FIELDS_BY_NAME[field_name].dtype
    if dtype == "list":
        return list(a or []) == list(b or [])
    if dtype == "float":
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    if dtype in ("int", "bool"):
        na = lambda v: v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))  # noqa: E731
        return (na(a) and na(b)) or (not na(a) and not na(b) and a == b)
    return (a or "") == (b or "")


def create_registry(path: str | Path, seed: str | Path | None = None) -> GeoPackageStore:
    """Create a new registry file, optionally seeded from a station file.

    The file is built beside ``path`` and renamed into place only when
    complete, so a crash never leaves a half-made registry behind.
    """
    from .io import read_table
    from .validate import validate_table

    path = Path(path)
    if path.exists():
        raise FileExistsError(f"登记库已存在，不会覆盖 / a registry already exists there and is not overwritten: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            _create_schema(conn)
        finally:
            conn.close()
        store = GeoPackageStore(tmp)
        if seed is not None:
            store.commit_import(validate_table(read_table(seed), None, crs="wgs84"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return GeoPackageStore(path)


def open_store(path: str | Path | None = None, seed_sample: bool = False) -> GeoPackageStore:
    """Open the registry, creating it if missing.

    Parameters
    ----------
    path : str or Path, optional
        Default ``settings.REGISTRY_PATH`` (environment ``GEO_REGISTRY``).
    seed_sample : bool
        Seed a new registry with the bundled 示例数据 / sample data. The app
        does, so a fresh install shows a map; the command line does not, so
        a union office's own registry never mixes in sample stations.
    """
    path = Path(path or os.environ.get("GEO_REGISTRY") or settings.REGISTRY_PATH)
    if not path.exists():
        create_registry(path, settings.SAMPLE_PATH if seed_sample else None)
    return GeoPackageStore(path)
