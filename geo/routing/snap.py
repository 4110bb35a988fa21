"""Snapping a point to the road network: the nearest point on the nearest usable road.

The grid of :class:`geo.routing.network.RoadGraph` gives the road segments
near the point, each is measured exactly, and the winner's position along
its edge becomes a fraction ``t``. Origins and stations are snapped alike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geo import settings
from geo.core.crs import haversine_m
from geo.routing.network import COORD_SCALE, RoadGraph, index_ranges


@dataclass(frozen=True)
class Snap:
    """Where a point meets the road network.

    Attributes
    ----------
    edge : int
        Edge of the graph the point snapped to.
    fraction : float
        Position along the edge from ``edge_u`` (0) to ``edge_v`` (1), by length.
    lon, lat : float
        The snapped point (WGS-84).
    distance_m : float
        Great-circle distance from the point to the snapped point.
    """

    edge: int
    fraction: float
    lon: float
    lat: float
    distance_m: float


def _grid_segments(graph: RoadGraph, x: float, y: float, r: int) -> np.ndarray:
    """Segments in the (2r+1)^2 cells around the cell of projected point (x, y)."""
    cell, ncols, nrows = graph.grid_params[4], int(graph.grid_params[5]), int(graph.grid_params[6])
    cx, cy = math.floor(x / cell), math.floor(y / cell)
    x_lo, x_hi = max(cx - r, 0), min(cx + r, ncols - 1)
    y_lo, y_hi = max(cy - r, 0), min(cy + r, nrows - 1)
    if x_lo > x_hi or y_lo > y_hi:
        return np.zeros(0, dtype=np.int64)
    rows = np.arange(y_lo, y_hi + 1, dtype=np.int64) * ncols
    # Cells of one grid row are consecutive keys, so each row is one slice.
    i0 = np.searchsorted(graph.grid_keys, rows + x_lo, side="left")
    i1 = np.searchsorted(graph.grid_keys, rows + x_hi, side="right")
    s0 = graph.grid_ptr[i0]
    return graph.grid_seg[index_ranges(s0, graph.grid_ptr[i1] - s0)]


def snap_point(graph: RoadGraph, lon: float, lat: float, *,
               max_distance_m: float | None = None) -> Snap | None:
    """Snap a WGS-84 point to the nearest point on the nearest usable road.

    The point is projected onto each nearby road segment (not merely matched
    to the nearest node), so a station beside the middle of a long block
    snaps to the middle of that block.

    Parameters
    ----------
    graph
        The mode's graph; only edges of its largest strongly connected
        component are candidates.
    lon, lat
        The point, WGS-84.
    max_distance_m
        Give up beyond this distance; default ``settings.SNAP_MAX_M``.

    Returns
    -------
    Snap or None
        None when no road is within ``max_distance_m``.
    """
    limit = settings.SNAP_MAX_M if max_distance_m is None else float(max_distance_m)
    lon0, lat0, kx, ky, cell = graph.grid_params[:5]
    x, y = (lon - lon0) * kx, (lat - lat0) * ky
    r = 1
    max_r = int(math.ceil(limit * 1.1 / cell)) + 1
    while True:
        segs = _grid_segments(graph, x, y, r)
        if len(segs):
            best = _nearest_segment(graph, segs, x, y)
            # Any point within r cells' width of (x, y) lies in the searched
            # block, so a best distance below that cannot be beaten outside it.
            if best[0] <= r * cell:
                break
            r = int(math.ceil(best[0] / cell))
            if r > max_r:
                break
            segs = _grid_segments(graph, x, y, r)
            best = _nearest_segment(graph, segs, x, y)
            break
        if r >= max_r:
            return None
        r = min(r * 2, max_r)
    d_plane, j, s = best
    if d_plane > limit * 1.1:
        return None
    e = int(np.searchsorted(graph.geom_ptr, j, side="right") - 1)
    ax, ay = graph.geom_x[j] / COORD_SCALE, graph.geom_y[j] / COORD_SCALE
    bx, by = graph.geom_x[j + 1] / COORD_SCALE, graph.geom_y[j + 1] / COORD_SCALE
    plon, plat = ax + s * (bx - ax), ay + s * (by - ay)
    along = float(graph.geom_cum[j]) + s * float(graph.geom_cum[j + 1] - graph.geom_cum[j])
    length = float(graph.edge_len_m[e])
    fraction = min(max(along / length, 0.0), 1.0) if length > 0 else 0.0
    dist = float(haversine_m(lon, lat, plon, plat))
    if dist > limit:
        return None
    return Snap(edge=e, fraction=fraction, lon=float(plon), lat=float(plat), distance_m=dist)


def _nearest_segment(graph: RoadGraph, segs: np.ndarray, x: float, y: float) -> tuple[float, int, float]:
    lon0, lat0, kx, ky = graph.grid_params[:4]
    ax = (graph.geom_x[segs] / COORD_SCALE - lon0) * kx
    ay = (graph.geom_y[segs] / COORD_SCALE - lat0) * ky
    bx = (graph.geom_x[segs + 1] / COORD_SCALE - lon0) * kx
    by = (graph.geom_y[segs + 1] / COORD_SCALE - lat0) * ky
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(den > 0, ((x - ax) * dx + (y - ay) * dy) / den, 0.0)
    s = np.clip(s, 0.0, 1.0)
    d = np.hypot(ax + s * dx - x, ay + s * dy - y)
    i = int(np.argmin(d))
    return float(d[i]), int(segs[i]), float(s[i])
