"""Readable labels for proposed sites: the nearest named road and the district, not an H3 id.

A planner passes a list of sites on to a city office that knows streets,
not hexagon ids; the id stays in its own column (``h3``, ``candidate_id``)
for anyone who needs to find the exact cell again.
"""
from __future__ import annotations

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geo import settings
from geo.routing.network import RoadGraph

_E7 = 1e7  # graph geometry is stored as integer 1e-7 degrees
_M_PER_DEG = 111_320.0


def nearest_road_names(graph: RoadGraph | None, lon: np.ndarray, lat: np.ndarray, *,
                       max_m: float = settings.SNAP_MAX_M) -> list[str]:
    """The name of the nearest *named* road (or its ref, e.g. ``G4``) to each point, "" when none is within ``max_m``.

    The nearest road itself is often an unnamed service road or path, so
    only roads with a name or ref are searched: the vertices of their
    geometry near the points, in a KD-tree on a local plane (distances to
    vertices, not segments: close enough for a label).

    Parameters
    ----------
    graph
        The mode's road graph; None gives "" for every point.
    lon, lat
        WGS-84 positions.
    max_m
        Farthest road to name.
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if graph is None or not len(lon):
        return [""] * len(lon)
    pad = max_m / _M_PER_DEG * 1.5
    gx, gy = graph.geom_x, graph.geom_y
    box = ((gx >= (lon.min() - pad / max(np.cos(np.radians(lat.max())), 0.1)) * _E7)
           & (gx <= (lon.max() + pad / max(np.cos(np.radians(lat.max())), 0.1)) * _E7)
           & (gy >= (lat.min() - pad) * _E7) & (gy <= (lat.max() + pad) * _E7))
    vert = np.flatnonzero(box)
    if not len(vert):
        return [""] * len(lon)
    edge = np.searchsorted(graph.geom_ptr, vert, side="right") - 1
    name_id = np.where(graph.edge_name[edge] > 0, graph.edge_name[edge], graph.edge_ref[edge])
    # Per distinct name, not per vertex: a city's bounding box holds millions of vertices.
    has_name = np.fromiter((bool(n) for n in graph.names), dtype=bool, count=len(graph.names))
    named = has_name[name_id]
    vert, name_id = vert[named], name_id[named]
    if not len(vert):
        return [""] * len(lon)
    k = np.cos(np.radians(float(np.mean(lat))))
    pts = np.column_stack([gx[vert] / _E7 * k, gy[vert] / _E7]) * _M_PER_DEG
    dist, idx = cKDTree(pts).query(np.column_stack([lon * k, lat]) * _M_PER_DEG, k=1,
                                   distance_upper_bound=max_m)
    return [graph.names[int(name_id[i])] if np.isfinite(d) else "" for d, i in zip(dist, np.minimum(idx, len(vert) - 1))]


def site_labels(sites: pd.DataFrame, *, graph: RoadGraph | None, res: int | None,
                given_names: pd.Series | None = None) -> pd.DataFrame:
    """Each site's readable label (both languages), its nearest named road and its H3 cell.

    Parameters
    ----------
    sites
        ``lon``, ``lat`` and ``district`` (a name, may be empty).
    graph
        The road graph of the run, for road names; None without one.
    res
        The grid's H3 resolution, for the ``h3`` column (None leaves it empty).
    given_names
        Names the planner gave the candidates (a file's name column), used
        before a road name; engine-made names are not passed.

    Returns
    -------
    DataFrame
        ``label`` (``天河路附近（天河区） / near 天河路 (天河区)``; without a road
        name ``天河区 23.1301, 113.3312``), ``road``, ``h3``, in the order of ``sites``.
    """
    lon, lat = sites["lon"].to_numpy(float), sites["lat"].to_numpy(float)
    roads = nearest_road_names(graph, lon, lat)
    districts = ["" if not isinstance(d, str) else d for d in sites.get("district", pd.Series([""] * len(sites)))]
    given = [""] * len(sites) if given_names is None else ["" if not isinstance(n, str) else n for n in given_names]
    labels = []
    for road, district, name, x, y in zip(roads, districts, given, lon, lat):
        where_zh = f"（{district}）" if district else ""
        where_en = f" ({district})" if district else ""
        if name:
            labels.append(f"{name}{where_zh}")
        elif road:
            labels.append(f"{road}附近{where_zh} / near {road}{where_en}")
        else:
            # No road name within reach (no network, or open country): the district and the position,
            # the same in both languages.
            labels.append(f"{district} {y:.4f}, {x:.4f}".strip())
    h3_ids = [h3i.int_to_str(h3i.latlng_to_cell(float(y), float(x), res)) if res is not None else ""
              for x, y in zip(lon, lat)]
    return pd.DataFrame({"label": labels, "road": roads, "h3": h3_ids}, index=sites.index)
