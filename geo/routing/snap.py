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
from geo.routing.kernels import nearest_in_block, nearest_in_blocks
from geo.routing.network import COORD_SCALE, RoadGraph


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


def nearest_segments(graph: RoadGraph, x: np.ndarray, y: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
    """For many points on the grid's plane, the nearest segment within their (2r+1)^2 cell blocks.

    The candidates and the arithmetic of :func:`snap_point`, point by point,
    in one compiled loop (no candidate arrays, however many points).

    Parameters
    ----------
    graph
        The road graph.
    x, y
        Points on the snapping grid's plane (metres from the grid's origin).
    r
        Block radius in cells.

    Returns
    -------
    tuple of ndarray
        Distance on the plane (``inf`` where the block holds no segment),
        segment (-1 there) and position along it (0 to 1).
    """
    lon0, lat0, kx, ky, cell, ncols, nrows = graph.grid_params
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    out_d = np.empty(len(x))
    out_j = np.empty(len(x), dtype=np.int64)
    out_s = np.empty(len(x))
    nearest_in_blocks(np.asarray(graph.grid_keys), np.asarray(graph.grid_ptr), np.asarray(graph.grid_seg),
                       np.asarray(graph.geom_x), np.asarray(graph.geom_y), float(lon0), float(lat0), float(kx),
                       float(ky), float(cell), int(ncols), int(nrows), x, y, int(r), out_d, out_j, out_s)
    return out_d, out_j, out_s


def _nearest_around(graph: RoadGraph, x: float, y: float, r: int) -> tuple[float, int, float, int]:
    lon0, lat0, kx, ky, cell, ncols, nrows = graph.grid_params
    return nearest_in_block(np.asarray(graph.grid_keys), np.asarray(graph.grid_ptr), np.asarray(graph.grid_seg),
                             np.asarray(graph.geom_x), np.asarray(graph.geom_y), float(lon0), float(lat0),
                             float(kx), float(ky), float(cell), int(ncols), int(nrows), float(x), float(y), int(r))


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
        *best, seen = _nearest_around(graph, x, y, r)
        if seen:
            # Any point within r cells' width of (x, y) lies in the searched
            # block, so a best distance below that cannot be beaten outside it.
            if best[0] <= r * cell:
                break
            r = int(math.ceil(best[0] / cell))
            if r > max_r:
                break
            *best, seen = _nearest_around(graph, x, y, r)
            break
        if r >= max_r:
            return None
        r = min(r * 2, max_r)
    d_plane, j, s = best
    j = int(j)
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
