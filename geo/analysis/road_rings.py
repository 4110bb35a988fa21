"""Nearest road segment to many points, searched ring by ring, with the block search's answers.

:func:`geo.analysis.travel.snap_points` used to search each point's block of
the graph's snapping grid in up to three passes of growing radius (1, 4 and
``max_r`` cells): a point far from the roads ended up scanning all
``(2 max_r + 1)^2`` grid cells, thousands of candidates where rural segments
are long and listed in every cell they cross. Here each point's grid cells
are visited one ring (Chebyshev distance from its own cell) at a time, and
the search stops as soon as the best distance found is within the rings
scanned, which proves it the true nearest. A dense table from grid cell to
its slice of segments replaces the binary searches of the block search.

The answer is the block search's, bit for bit: the same segment, position
and distance (same arithmetic). The block search takes the first nearest
candidate in its block's row order; that is ambiguous only when two
*different* segments are exactly equally near, so the ring search notes that
case and then runs the block search itself (:func:`geo.routing.kernels.nearest_in_block`)
on the block the pass sequence would have ended with.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from geo.routing.kernels import nearest_in_block, segment_distance


def dense_cell_table(grid_keys: np.ndarray, grid_ptr: np.ndarray, n_cells: int) -> np.ndarray:
    """Where each grid cell's segments start in ``grid_seg``, for every cell of the grid, and the end.

    Cell ``c``'s segments are ``grid_seg[table[c]:table[c + 1]]`` (empty
    cells included), so one array of ``n_cells + 1`` entries replaces the
    binary searches over the keys of the non-empty cells.

    Parameters
    ----------
    grid_keys, grid_ptr
        The graph's snapping grid: sorted keys of non-empty cells
        (``row * ncols + col``) and their slices of ``grid_seg``.
    n_cells
        ``ncols * nrows``.
    """
    keys = np.asarray(grid_keys, dtype=np.int64)
    ptr = np.asarray(grid_ptr, dtype=np.int64)
    counts = np.zeros(n_cells, dtype=np.int64)
    counts[keys] = np.diff(ptr)
    table = np.empty(n_cells + 1, dtype=np.int64)
    table[0] = ptr[0] if len(ptr) else 0
    np.cumsum(counts, out=table[1:])
    table[1:] += table[0]
    return table.astype(np.int32) if table[-1] < 2**31 else table


@njit(cache=True, nogil=True)
def _scan(table, grid_seg, geom_x, geom_y, lon0, lat0, kx, ky, x, y, key, best_d, best_j, best_s, tie):
    # The block search's arithmetic, candidate by candidate; ``tie`` notes a
    # different segment exactly as near as the best.
    for p in range(table[key], table[key + 1]):
        j = grid_seg[p]
        d, t = segment_distance(geom_x, geom_y, j, lon0, lat0, kx, ky, x, y)
        if d < best_d:
            best_d, best_j, best_s, tie = d, j, t, False
        elif d == best_d and j != best_j:
            tie = True
    return best_d, best_j, best_s, tie


@njit(cache=True, nogil=True)
def nearest_by_rings(table, grid_keys, grid_ptr, grid_seg, geom_x, geom_y, lon0, lat0, kx, ky, cell, ncols,
                     nrows, x, y, passes, reach, out_d, out_j, out_s):
    """For every point, what the block search's passes ``passes`` (radii, ascending) would answer.

    The block search stops at the first pass ``r`` whose best distance is
    at most ``r`` cells (or at the last pass); here rings grow until the
    best is at most the rings' reach, which fixes the true nearest and so
    which pass would have stopped. A point with no segment within ``reach``
    (plane metres) is answered ``inf``/-1 as soon as the rings cover that
    far: the caller drops whatever lies beyond it. Writes distance, segment
    (-1 for none) and position along it into the ``out_`` arrays.
    """
    last = passes[len(passes) - 1]
    for i in range(len(x)):
        px, py = x[i], y[i]
        cx, cy = math.floor(px / cell), math.floor(py / cell)
        # The point's distance to its own cell's sides: rings up to k cover
        # every spot within k cells plus this of it.
        margin = min(px - cx * cell, (cx + 1) * cell - px, py - cy * cell, (cy + 1) * cell - py)
        best_d, best_j, best_s, tie = np.inf, -1, 0.0, False
        k = 0
        while True:
            # Ring k: the cells at Chebyshev distance k from the point's cell.
            for row in range(max(cy - k, 0), min(cy + k, nrows - 1) + 1):
                edge = row == cy - k or row == cy + k
                step = 1 if edge else 2 * k
                col = cx - k
                while col <= cx + k:
                    if 0 <= col < ncols:
                        best_d, best_j, best_s, tie = _scan(table, grid_seg, geom_x, geom_y, lon0, lat0, kx,
                                                            ky, px, py, row * ncols + col, best_d, best_j, best_s,
                                                            tie)
                    if step == 0:
                        break
                    col += step
            if best_d < k * cell + margin or k >= last or k * cell + margin > reach:
                break
            k += 1
        if best_d > reach:
            out_d[i], out_j[i], out_s[i] = np.inf, -1, 0.0
            continue
        # The pass the block search would have stopped at.
        r = last
        for q in range(len(passes)):
            if best_d <= passes[q] * cell:
                r = passes[q]
                break
        if tie or k > r:
            best_d, best_j, best_s, _ = nearest_in_block(grid_keys, grid_ptr, grid_seg, geom_x, geom_y, lon0, lat0,
                                                         kx, ky, cell, ncols, nrows, px, py, r)
        out_d[i], out_j[i], out_s[i] = best_d, best_j, best_s
