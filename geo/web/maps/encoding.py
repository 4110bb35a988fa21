"""What travels from Python to the map's scripts: script-safe JSON and compact geometry.

Every map element puts its data into the page as one JSON literal read by
``static/gd/gd-map.js`` or ``static/gd/gd-layers.js``. Strings in it were
HTML-escaped where they were made; :func:`script_json` then makes sure no
value can close the ``<script>`` element. Polygons and lines travel as
integer steps (:func:`encode_geometries`), about 40% of GeoJSON's size,
decoded by the one ``ring`` function of ``gd-layers.js``.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - only a type here
    import geopandas as gpd


def script_json(obj: Any) -> str:
    """JSON for a ``<script>`` block.

    The data are already HTML-escaped, so ``<`` cannot occur; replacing it
    anyway means no value can ever close the script element. ``&`` is kept,
    so the escaped text stays readable in the page source.

    Parameters
    ----------
    obj
        Anything :func:`json.dumps` takes; NaN and infinity are refused.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def layer_json(head: dict, props: list[dict], geometries: list[str]) -> str:
    """A data layer's JSON: ``head`` plus ``features`` as ``[properties, encoded geometry]`` pairs.

    Parameters
    ----------
    head
        The layer's lookup tables and labels (escaped).
    props
        One dict of escaped properties per feature, made script-safe here.
    geometries
        Texts from :func:`encode_geometries`, spliced in as they are: they
        hold only integers, and were encoded once for every map drawn.
    """
    parts = [f"[{script_json(p)},{g}]" for p, g in zip(props, geometries)]
    return script_json(head)[:-1] + ',"features":[' + ",".join(parts) + "]}"


def _ring_ints(coords: np.ndarray, precision: float, closed: bool) -> list[int]:
    q = np.round(np.asarray(coords, dtype=float)[:, :2] / precision).astype(np.int64)
    if closed and len(q) > 3:
        q = q[:-1]  # Leaflet closes polygon rings itself
    if not len(q):
        return []
    d = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return d.ravel().tolist()


def encode_geometries(geoms: np.ndarray, precision: float) -> list[str]:
    """Polygons or lines as compact JSON text for the map, about 40% of GeoJSON's size.

    Each geometry becomes a list of parts (polygons, or lines); a polygon is
    a list of rings; a ring or line is one flat list of integers: the first
    vertex in units of ``precision`` degrees, then each vertex's difference
    from the previous one (``[x0, y0, dx1, dy1, ...]``, lon before lat).
    Polygon rings leave out their closing vertex. ``static/gd/gd-layers.js``
    decodes it in the browser into GeoJSON coordinates.

    Parameters
    ----------
    geoms : array of shapely geometries
        (Multi)polygons or (multi)line strings; empty or missing ones give ``[]``.
    precision
        Coordinate step in degrees (1e-4 is ~11 m).

    Returns
    -------
    list of str
        One JSON text per geometry.
    """
    out = []
    for g in geoms:
        parts: list = []
        if g is not None and not g.is_empty:
            for part in getattr(g, "geoms", [g]):
                if part.is_empty:
                    continue
                if part.geom_type == "Polygon":
                    rings = [_ring_ints(np.asarray(r.coords), precision, True)
                             for r in (part.exterior, *part.interiors)]
                    parts.append([r for r in rings if r])
                elif part.geom_type in ("LineString", "LinearRing"):
                    parts.append(_ring_ints(np.asarray(part.coords), precision, False))
        out.append(json.dumps(parts, separators=(",", ":")))
    return out


def encoded_frame(frame: gpd.GeoDataFrame, precision: float, *, cache: dict, key: str) -> list[str]:
    """:func:`encode_geometries` of a frame's geometry, kept in ``cache`` under ``key`` so it is built once.

    Parameters
    ----------
    frame
        The layer's features.
    precision
        Coordinate step in degrees.
    cache
        The layers object's store of encoded texts, reused by every map drawn from it.
    key
        The layer's name in ``cache``.
    """
    if key not in cache:
        cache[key] = encode_geometries(frame.geometry.to_numpy(), precision) if len(frame) else []
    return cache[key]
