"""Read GeoJSON (and plain JSON arrays of records)."""
from __future__ import annotations

import json

from geo import settings
from geo.registry.io.csv import decode_text
from geo.registry.io.filecheck import ReadError
from geo.registry.io.table import INVALID, RawTable, clean_text, flatten, from_geometries, records_frame, too_many_rows


def _shape(geometry):
    """A shapely geometry from a GeoJSON geometry object; ``INVALID`` if it is not one."""
    from shapely.geometry import shape

    if not isinstance(geometry, dict):
        return INVALID
    try:
        geom = shape(geometry)
        geom.is_empty  # noqa: B018 - forces GEOS to build it now, inside the try
        return geom
    except Exception:  # shapely/GEOS errors on malformed coordinates
        return INVALID


def read_geojson(data: bytes) -> RawTable:
    """Read a GeoJSON's features (a point per feature), or a JSON array of records.

    The table's ``source_crs`` is WGS-84 (RFC 7946) unless a pre-RFC
    ``crs`` member names another system.
    """
    parts = geojson_parts(data)
    if isinstance(parts, RawTable):
        return parts
    props, geoms, crs, encoding, notes = parts
    return RawTable(from_geometries(props, geoms), encoding=encoding, source_crs=crs, notes=notes)


def geojson_parts(data: bytes) -> tuple | RawTable:
    """The features of a GeoJSON taken apart: ``(properties, geometries, CRS name, encoding, notes)``.

    Geometries are shapely objects, ``None``, or :data:`~geo.registry.io.table.INVALID`.
    A JSON array of plain records has no features: it comes back as its
    :class:`~geo.registry.io.table.RawTable` instead.
    """
    text, encoding = decode_text(data)
    # Each feature is a few JSON objects; far more braces than the row limit
    # allows means the parsed document would not fit in memory anyway.
    if text.count("{") > 10 * settings.MAX_ROWS + 1000:
        raise too_many_rows(None)
    doc = json.loads(text)
    del text
    notes: list[str] = []
    if isinstance(doc, list):  # a JSON array of plain records
        if not all(isinstance(r, dict) for r in doc):
            raise ReadError("bad_json", "JSON 数组中应为对象", "the JSON array must hold objects")
        if len(doc) > settings.MAX_ROWS:
            raise too_many_rows(len(doc))
        return RawTable(records_frame(doc), encoding=encoding)
    if not isinstance(doc, dict) or "type" not in doc:
        raise ReadError("bad_geojson", "不是 GeoJSON：缺少 type", "not GeoJSON: no 'type' member")
    features = []
    for f in _iter_features(doc, notes):
        features.append(f)
        if len(features) > settings.MAX_ROWS:
            raise too_many_rows(None)
    if not features:
        raise ReadError("empty", "GeoJSON 中没有要素", "the GeoJSON holds no features")
    props, geoms = [], []
    for f in features:
        p = f.get("properties")
        # Properties that are not an object are kept as one text cell.
        props.append(p if isinstance(p, dict) else ({} if p is None else {"properties": p}))
        g = f.get("geometry")
        geoms.append(_shape(g) if g is not None else None)
    if any(g is INVALID for g in geoms):
        notes.append("部分要素的几何无法读取，这些行将被拒绝 / some features have geometry that cannot be read; those rows will be rejected")
    crs = "wgs84"
    declared = doc.get("crs")
    if declared:  # pre-RFC 7946 files may name another CRS
        crs_props = declared.get("properties") if isinstance(declared, dict) else None
        name = crs_props.get("name", "") if isinstance(crs_props, dict) else ""
        name = clean_text(name) if isinstance(name, str) else ""
        if name and "4326" not in name and "CRS84" not in name:
            crs = name
    return props, geoms, crs, encoding, notes


_GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def _iter_features(doc: dict, notes: list[str]):
    kind = doc.get("type")
    if kind == "FeatureCollection":
        members = doc.get("features")
        skipped = 0
        for f in members if isinstance(members, list) else []:
            if isinstance(f, dict) and f.get("type") == "FeatureCollection":
                yield from _iter_features(f, notes)
            elif isinstance(f, dict):
                yield f
            else:
                skipped += 1
        if skipped:
            notes.append(f"features 中有 {skipped} 项不是对象，已跳过 / {skipped} entries of 'features' are not objects and were skipped")
    elif kind == "Feature":
        yield doc
    elif kind == "GeometryCollection":
        members = doc.get("geometries")
        for g in members if isinstance(members, list) else []:
            if isinstance(g, dict) and g.get("type") in (*_GEOMETRY_TYPES, "GeometryCollection"):
                yield from _iter_features(g, notes)
            else:
                yield {"type": "Feature", "geometry": g, "properties": {}}
    elif kind in _GEOMETRY_TYPES:
        if not any("bare geometry" in n for n in notes):
            notes.append("GeoJSON 只有几何，没有属性 / the GeoJSON is a bare geometry without properties")
        coords = doc.get("coordinates")
        if kind == "MultiPoint" and isinstance(coords, list):
            for c in coords:
                yield {"type": "Feature", "geometry": {"type": "Point", "coordinates": c}, "properties": {}}
        else:
            yield {"type": "Feature", "geometry": doc, "properties": {}}
    else:
        raise ReadError("bad_geojson", f"未知的 GeoJSON 类型：{flatten(kind)[:50]}",
                        f"unknown GeoJSON type: {flatten(kind)[:50]}")
