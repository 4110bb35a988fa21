"""Compiled loops of snapping, and the warm-up of every compiled routing loop.

The snapping loops are :func:`geo.routing.snap.snap_point`'s candidate
search over the graph's grid (see :mod:`geo.routing.snap` for the grid);
the search loops are in :mod:`geo.routing.dijkstra`. numba caches their
machine code on disk (``cache=True``), so a new process loads rather than
compiles them; :func:`warm_up_in_background` does even that while a graph
is being loaded, so the first query after a start does not wait for it.
"""
from __future__ import annotations

import math
import threading

import numpy as np
from numba import njit

from geo.routing import dijkstra


@njit(cache=True, nogil=True)
def nearest_in_block(grid_keys, grid_ptr, grid_seg, geom_x, geom_y, lon0, lat0, kx, ky, cell, ncols, nrows,
                     x, y, r):
    """The nearest segment among those bucketed in the (2r+1)^2 cells around (x, y).

    Candidates are visited in the order the grid stores them (row by row,
    cell by cell) and a later one wins only when strictly nearer, so the
    answer is the first nearest, as an argmin over them would give.

    Returns (distance on the plane, segment, position along it, candidates seen).
    """
    cx, cy = math.floor(x / cell), math.floor(y / cell)
    x_lo, x_hi = max(cx - r, 0), min(cx + r, ncols - 1)
    y_lo, y_hi = max(cy - r, 0), min(cy + r, nrows - 1)
    best_d, best_j, best_s, seen = np.inf, -1, 0.0, 0
    if x_lo > x_hi or y_lo > y_hi:
        return best_d, best_j, best_s, seen
    for row in range(y_lo, y_hi + 1):
        # Cells of one grid row are consecutive keys, so each row is one slice.
        i0 = np.searchsorted(grid_keys, row * ncols + x_lo, side="left")
        i1 = np.searchsorted(grid_keys, row * ncols + x_hi, side="right")
        for p in range(grid_ptr[i0], grid_ptr[i1]):
            j = grid_seg[p]
            seen += 1
            ax = (geom_x[j] / 1e7 - lon0) * kx
            ay = (geom_y[j] / 1e7 - lat0) * ky
            bx = (geom_x[j + 1] / 1e7 - lon0) * kx
            by = (geom_y[j + 1] / 1e7 - lat0) * ky
            dx, dy = bx - ax, by - ay
            den = dx * dx + dy * dy
            t = ((x - ax) * dx + (y - ay) * dy) / den if den > 0 else 0.0
            t = min(max(t, 0.0), 1.0)
            d = math.hypot(ax + t * dx - x, ay + t * dy - y)
            if d < best_d:
                best_d, best_j, best_s = d, j, t
    return best_d, best_j, best_s, seen


@njit(cache=True, nogil=True)
def nearest_in_blocks(grid_keys, grid_ptr, grid_seg, geom_x, geom_y, lon0, lat0, kx, ky, cell, ncols, nrows,
                      x, y, r, out_d, out_j, out_s):
    """:func:`nearest_in_block` for every point of ``x``, ``y``, into the ``out_`` arrays."""
    for i in range(len(x)):
        d, j, t, _ = nearest_in_block(grid_keys, grid_ptr, grid_seg, geom_x, geom_y, lon0, lat0, kx, ky, cell,
                                       ncols, nrows, x[i], y[i], r)
        out_d[i], out_j[i], out_s[i] = d, j, t


def warm_up() -> None:
    """Load (or, the first time on a machine, compile) every compiled routing loop, on tiny inputs."""
    dijkstra.warm_up()
    keys = np.array([0], dtype=np.int32)
    ptr = np.array([0, 1], dtype=np.int32)
    seg = np.array([0], dtype=np.int32)
    gx = np.array([0, 10], dtype=np.int32)
    out = (np.empty(1), np.empty(1, dtype=np.int64), np.empty(1))
    for k, p in ((keys, ptr), (keys.astype(np.int64), ptr.astype(np.int64))):
        nearest_in_block(k, p, seg, gx, gx, 0.0, 0.0, 1.0, 1.0, 250.0, 1, 1, 0.5, 0.5, 1)
        nearest_in_blocks(k, p, seg, gx, gx, 0.0, 0.0, 1.0, 1.0, 250.0, 1, 1, np.zeros(1), np.zeros(1), 1, *out)


_WARM = threading.Event()
_WARM_LOCK = threading.Lock()


def warm_up_in_background() -> None:
    """Start :func:`warm_up` in a daemon thread, once per process."""
    with _WARM_LOCK:
        if _WARM.is_set():
            return
        _WARM.set()
    threading.Thread(target=warm_up, name="routing-warm-up", daemon=True).start()
