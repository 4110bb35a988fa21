"""Read the feature tables of an uploaded GeoPackage with SQLite alone.

A GeoPackage is an SQLite file, and GDAL would run whatever it holds: views,
and whatever an OGR VRT disguised as one asks for. Here the file is opened
read-only and immutable, an authorizer lets only plain reads of the file's
own tables through, and only real tables registered as features are read;
views, virtual tables and triggers never run. Rows are counted with
``count(*)``, not taken from ``gpkg_ogr_contents``, which the sender writes.
"""
from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import shapely

from geo import settings
from geo.registry.io.filecheck import ReadError
from geo.registry.io.table import INVALID, RawTable, crs_name, from_geometries

#: Stands in ``GpkgLayer.geoms`` for a geometry blob that could not be decoded.
UNREADABLE = object()

# Envelope bytes by the GeoPackage binary header's envelope indicator.
_ENVELOPE = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


@dataclass
class GpkgLayer:
    """One feature table: its rows as dicts and their shapely geometries."""

    name: str
    props: list[dict]
    geoms: list
    crs: object = None  # a pyproj.CRS, or None when the layer declares none
    notes: list[str] = field(default_factory=list)


def _authorize(action, arg1, arg2, db_name, trigger):
    # Reads of the main database and the few functions and pragmas used here;
    # nothing that writes, attaches or runs a view or trigger's SQL.
    if trigger is not None:
        return sqlite3.SQLITE_DENY
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ):
        return sqlite3.SQLITE_OK if db_name in (None, "main") else sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and arg2 in ("count", "lower"):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in ("table_info", "query_only", "trusted_schema"):
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def geometry_from_blob(blob) -> shapely.Geometry | None:
    """A shapely geometry from GeoPackage binary (header + WKB).

    Raises
    ------
    ValueError
        When the blob is not GeoPackage binary.
    """
    if blob is None:
        return None
    blob = bytes(blob)
    if len(blob) < 8 or blob[:2] != b"GP":
        raise ValueError("not GeoPackage binary geometry")
    flags = blob[3]
    if flags & 0x20:
        raise ValueError("extended GeoPackage geometry is not supported")
    envelope = _ENVELOPE.get((flags >> 1) & 0x07)
    if envelope is None:
        raise ValueError("bad envelope indicator")
    return shapely.from_wkb(blob[8 + envelope:])


def _srs(con: sqlite3.Connection, srs_id: int):
    from pyproj import CRS

    if srs_id in (0, -1, None):
        return None
    row = con.execute("SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys "
                      "WHERE srs_id = ?", (srs_id,)).fetchone()
    if row is None:
        return None
    org, code, definition = row
    try:
        if str(org).upper() == "EPSG" and code:
            return CRS.from_epsg(int(code))
        return CRS.from_wkt(definition)
    except Exception:  # an unknown or broken definition: the importer then asks for the CRS
        return None


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1", uri=True)
    con.execute("PRAGMA trusted_schema = OFF")
    con.execute("PRAGMA query_only = ON")
    con.set_authorizer(_authorize)
    return con


def read_gpkg(path: str | Path, *, layer: str | None = None, max_rows: int) -> list[GpkgLayer]:
    """The feature tables of a GeoPackage (or the one named ``layer``).

    Parameters
    ----------
    path
        A GeoPackage file whose first bytes were checked.
    layer
        A table name; default every feature table.
    max_rows
        Refuse a file whose tables hold more rows than this, counted.

    Returns
    -------
    list of GpkgLayer
        In ``gpkg_contents`` order. Views and virtual tables registered as
        features are not read, and say so in the first layer's notes.

    Raises
    ------
    ReadError
        When the file has no readable feature table, ``layer`` is not one,
        or it holds more than ``max_rows`` rows.
    """
    con = _connect(Path(path))
    try:
        try:
            registered = con.execute(
                "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c "
                "JOIN gpkg_geometry_columns g ON lower(g.table_name) = lower(c.table_name) "
                "WHERE lower(c.data_type) = 'features'").fetchall()
        except sqlite3.OperationalError as exc:  # a damaged file raises DatabaseError, read as "unreadable"
            raise ReadError("bad_gpkg", "不是有效的 GeoPackage（缺少 gpkg_contents 或 gpkg_geometry_columns）",
                            "not a valid GeoPackage (no gpkg_contents or gpkg_geometry_columns)") from exc
        kinds = {name.lower(): (typ, sql or "") for name, typ, sql in
                 con.execute("SELECT name, type, sql FROM sqlite_master")}
        skipped, tables = [], []
        for name, column, srs_id in registered:
            typ, sql = kinds.get(str(name).lower(), (None, ""))
            if typ != "table" or sql.lstrip().upper().startswith("CREATE VIRTUAL"):
                skipped.append(str(name))
            else:
                tables.append((str(name), str(column), srs_id))
        if layer is not None:
            tables = [t for t in tables if t[0] == layer]
            if not tables:
                raise ReadError("no_such_layer", f"GeoPackage 中没有可读的要素图层 {layer}",
                                f"the GeoPackage has no readable feature layer named {layer}")
        if not tables:
            raise ReadError("empty", "GeoPackage 中没有要素图层", "the GeoPackage has no feature layer")
        total = sum(con.execute(f"SELECT count(*) FROM {_quote(t[0])}").fetchone()[0] for t in tables)
        if total > max_rows:
            raise ReadError("too_many_rows", f"文件有 {total} 行，超过 {max_rows} 行的上限，请分批导入",
                            f"the file has {total} rows, more than the limit of {max_rows}; import it in parts")
        layers = [_read_table(con, *t) for t in tables]
    finally:
        con.close()
    if skipped:
        layers[0].notes.append(f"未读取视图或虚拟表：{'、'.join(skipped)} / not read (views or virtual tables): "
                               f"{', '.join(skipped)}")
    return layers


def _read_table(con: sqlite3.Connection, name: str, column: str, srs_id) -> GpkgLayer:
    info = con.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
    # The integer primary key is GDAL's feature id, not an attribute (as pyogrio reads it).
    fid = [r[1] for r in info if r[5] == 1 and str(r[2]).upper() == "INTEGER"]
    columns = [r[1] for r in info if r[1] not in fid]
    cur = con.execute(f"SELECT {', '.join(_quote(c) for c in columns)} FROM {_quote(name)}")
    geo_at = next((i for i, c in enumerate(columns) if c.lower() == column.lower()), None)
    props, geoms = [], []
    for row in cur:
        rec = {c: v for i, (c, v) in enumerate(zip(columns, row)) if i != geo_at}
        props.append({k: (v.hex() if isinstance(v, bytes) else v) for k, v in rec.items()})
        try:
            geoms.append(geometry_from_blob(row[geo_at]) if geo_at is not None else None)
        except Exception:  # a broken blob keeps its row; the validator rejects it with a reason
            geoms.append(UNREADABLE)
    return GpkgLayer(name, props, geoms, _srs(con, srs_id))


def gpkg_layers(data: bytes, *, layer: str | None = None) -> list[GpkgLayer]:
    """The feature layers of an uploaded GeoPackage, read by :func:`read_gpkg` from a private copy.

    Parameters
    ----------
    data
        The file's bytes.
    layer
        One layer to read; default all of them.

    Returns
    -------
    list of GpkgLayer
        Undecodable geometries are :data:`~geo.registry.io.table.INVALID`.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.gpkg"
        path.write_bytes(data)
        layers = read_gpkg(path, layer=layer, max_rows=settings.MAX_ROWS)
    for lay in layers:
        lay.geoms = [INVALID if g is UNREADABLE else g for g in lay.geoms]
    return layers


def read_gpkg_table(data: bytes, *, layer: str | None = None) -> RawTable:
    """Read an uploaded GeoPackage as one table with a point per feature.

    Parameters
    ----------
    data
        The file's bytes.
    layer
        One layer to read; default all of them (our own exports hold a
        layer per kind).

    Returns
    -------
    RawTable
    """
    layers = gpkg_layers(data, layer=layer)
    # Our own exports hold one layer per kind: all are read unless one is named.
    df = pd.concat([from_geometries(lay.props, lay.geoms) for lay in layers], ignore_index=True).fillna("")
    table = RawTable(df, source_crs=crs_name(layers[0].crs), notes=list(layers[0].notes))
    if any(g is INVALID for lay in layers for g in lay.geoms):
        table.notes.append("部分要素的几何无法读取，这些行将被拒绝 / some features have geometry that cannot be "
                           "read; those rows will be rejected")
    if len(layers) > 1:
        names = [lay.name for lay in layers]
        table.notes.append(f"读取了 {len(names)} 个图层：{'、'.join(names)} / read {len(names)} layers: {', '.join(names)}")
    return table
