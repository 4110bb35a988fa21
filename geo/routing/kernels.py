"""Compiled loops of snapping and routes, and the warm-up of every compiled routing loop.

The snapping loops are :func:`geo.routing.snap.snap_point`'s candidate
search over the graph's grid (see :mod:`geo.routing.snap` for the grid);
:func:`route_lines` draws the routes of :mod:`geo.routing.routes` with
the arithmetic of the numpy code it replaced, in the same order, so they
are bit-identical (``tests/routing/test_routes_compiled.py`` keeps the numpy
version and compares); the search loops (and the stations' costs) are in
:mod:`geo.routing.dijkstra`. numba caches their
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
def segment_distance(geom_x, geom_y, j, lon0, lat0, kx, ky, x, y):
    """Distance on the snapping plane from (x, y) to segment ``j`` (shape points j, j+1), and the position on it.

    The one arithmetic every snapping search uses, so that they agree bit for bit.
    """
    ax = (geom_x[j] / 1e7 - lon0) * kx
    ay = (geom_y[j] / 1e7 - lat0) * ky
    bx = (geom_x[j + 1] / 1e7 - lon0) * kx
    by = (geom_y[j + 1] / 1e7 - lat0) * ky
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    t = ((x - ax) * dx + (y - ay) * dy) / den if den > 0 else 0.0
    t = min(max(t, 0.0), 1.0)
    return math.hypot(ax + t * dx - x, ay + t * dy - y), t


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
            d, t = segment_distance(geom_x, geom_y, j, lon0, lat0, kx, ky, x, y)
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


@njit(cache=True, nogil=True)
def _interp(x, geom_cum, geom_v, s, n):
    """``np.interp(x, cum, v / 1e7)`` over vertices ``s .. s+n-1``: numpy's search, edge cases and arithmetic."""
    last = s + n - 1
    if x > np.float64(geom_cum[last]):
        return geom_v[last] / 1e7
    if x < np.float64(geom_cum[s]):
        return geom_v[s] / 1e7
    lo, hi = 0, n
    while lo < hi:  # the largest j with cum[j] <= x, as numpy's binary search finds
        mid = (lo + hi) >> 1
        if x >= np.float64(geom_cum[s + mid]):
            lo = mid + 1
        else:
            hi = mid
    j = lo - 1
    yj = geom_v[s + j] / 1e7
    if j == n - 1:
        return yj
    xj = np.float64(geom_cum[s + j])
    if xj == x:
        return yj
    xj1 = np.float64(geom_cum[s + j + 1])
    yj1 = geom_v[s + j + 1] / 1e7
    slope = (yj1 - yj) / (xj1 - xj)
    r = slope * (x - xj) + yj
    if np.isnan(r):
        r = slope * (x - xj1) + yj1
        if np.isnan(r) and yj == yj1:
            r = yj
    return r


@njit(cache=True, nogil=True)
def piece_into(geom_ptr, geom_x, geom_y, geom_cum, e, t0, t1, skip_first, xs, ys, w):
    """Edge ``e`` from fraction ``t0`` to ``t1`` (reversed when t1 < t0) written at ``xs[w:]``; returns the new end.

    ``skip_first`` leaves out the first position written (the previous piece's last).
    """
    s = geom_ptr[e]
    n = geom_ptr[e + 1] - s
    length = np.float64(geom_cum[s + n - 1])
    start = w
    if length <= 0:
        xs[w] = geom_x[s] / 1e7
        ys[w] = geom_y[s] / 1e7
        w += 1
    else:
        d0 = min(t0, t1) * length
        d1 = max(t0, t1) * length
        xs[w] = _interp(d0, geom_cum, geom_x, s, n)
        ys[w] = _interp(d0, geom_cum, geom_y, s, n)
        w += 1
        for i in range(s, s + n):
            cv = np.float64(geom_cum[i])
            if cv > d0 and cv < d1:
                xs[w] = geom_x[i] / 1e7
                ys[w] = geom_y[i] / 1e7
                w += 1
        xs[w] = _interp(d1, geom_cum, geom_x, s, n)
        ys[w] = _interp(d1, geom_cum, geom_y, s, n)
        w += 1
        if t1 < t0:
            xs[start:w] = xs[start:w][::-1].copy()
            ys[start:w] = ys[start:w][::-1].copy()
    if skip_first:
        for i in range(start, w - 1):
            xs[i] = xs[i + 1]
            ys[i] = ys[i + 1]
        w -= 1
    return w


@njit(cache=True, nogil=True)
def route_lines(pred, mark, done, check_mark, n_nodes, indptr, indices, slot_edge, edge_u, edge_v, edge_len,
                edge_dur, edge_name, edge_ref, name_key, name_empty, geom_ptr, geom_x, geom_y, geom_cum,
                o_edge, o_frac, ex_node, ex_cost, ex_towards, st_edge, st_frac, how):
    """The routes to several stations from one search: geometry, per-edge length and time, road-name runs.

    Route ``r`` ends on ``st_edge[r]`` at ``st_frac[r]``, reached as ``how[r]``
    says (:func:`geo.routing.search.station_costs`); its nodes are the chain of
    ``pred`` (read only where ``mark == done`` when ``check_mark``) back to the
    virtual origin ``n_nodes``; the origin's edge is left by the cheapest exit
    (``ex_*``) to the chain's first node. Road names are keyed by
    ``name_key`` (equal keys, equal names), a name being replaced by the
    ref where ``name_empty``.

    Returns
    -------
    tuple
        ``xs, ys, vptr`` (route r's positions are ``vptr[r]:vptr[r+1]``),
        ``edges, piece_len, piece_dur, eptr`` (its edges and the length and
        time travelled on each) and ``run_key, run_m, rptr`` (its runs of one
        road name and their lengths, in order).
    """
    k = len(st_edge)
    ends = np.empty(k, np.int64)
    clen = np.zeros(k, np.int64)
    for r in range(k):
        if how[r] == 2:
            continue
        v = np.int64(edge_u[st_edge[r]] if how[r] == 0 else edge_v[st_edge[r]])
        ends[r] = v
        count = 1
        while True:
            p = np.int64(pred[v]) if (not check_mark or mark[v] == done) else -1
            if p == n_nodes:
                break
            if p < 0:
                raise RuntimeError("route reconstruction left the search tree")
            v = p
            count += 1
        clen[r] = count
    cptr = np.zeros(k + 1, np.int64)
    eptr = np.zeros(k + 1, np.int64)
    for r in range(k):
        cptr[r + 1] = cptr[r] + clen[r]
        eptr[r + 1] = eptr[r] + (1 if how[r] == 2 else clen[r] + 1)
    chain = np.empty(cptr[k], np.int64)
    for r in range(k):
        if how[r] == 2:
            continue
        v = ends[r]
        i = cptr[r + 1] - 1
        chain[i] = v
        while i > cptr[r]:
            v = np.int64(pred[v])
            i -= 1
            chain[i] = v
    edges = np.empty(eptr[k], np.int64)
    piece_len = np.empty(eptr[k])
    piece_dur = np.empty(eptr[k])
    t_exit = np.zeros(k)
    bound = 0
    for r in range(k):
        e0 = eptr[r]
        if how[r] == 2:
            edges[e0] = o_edge
            part = abs(st_frac[r] - o_frac)
            piece_len[e0] = part * edge_len[o_edge]
            piece_dur[e0] = part * edge_dur[o_edge]
            bound += geom_ptr[o_edge + 1] - geom_ptr[o_edge] + 3
            continue
        first = chain[cptr[r]]
        best = -1
        for x in range(len(ex_node)):
            if ex_node[x] == first and (best < 0 or ex_cost[x] < ex_cost[best]):
                best = x
        if best < 0:
            raise RuntimeError("route reconstruction left the search tree")
        t_exit[r] = 0.0 if ex_towards[best] else 1.0
        edges[e0] = o_edge
        part = abs(o_frac - t_exit[r])
        piece_len[e0] = part * edge_len[o_edge]
        piece_dur[e0] = part * edge_dur[o_edge]
        bound += geom_ptr[o_edge + 1] - geom_ptr[o_edge] + 2
        for h in range(cptr[r], cptr[r + 1] - 1):
            a, b = chain[h], chain[h + 1]
            found = -1
            # Arcs were de-duplicated per (a, b) when the graph was built: one slot per hop.
            for slot in range(indptr[a], indptr[a + 1]):
                if indices[slot] == b:
                    found = np.int64(slot_edge[slot])
                    break
            if found < 0:
                raise RuntimeError("route reconstruction found no arc for a hop")
            j = e0 + 1 + h - cptr[r]
            edges[j] = found
            piece_len[j] = 1.0 * edge_len[found]
            piece_dur[j] = 1.0 * edge_dur[found]
            bound += geom_ptr[found + 1] - geom_ptr[found] - 1
        last = eptr[r + 1] - 1
        se = st_edge[r]
        edges[last] = se
        part = abs(st_frac[r] - (0.0 if how[r] == 0 else 1.0))
        piece_len[last] = part * edge_len[se]
        piece_dur[last] = part * edge_dur[se]
        bound += geom_ptr[se + 1] - geom_ptr[se] + 3
    xs = np.empty(bound)
    ys = np.empty(bound)
    vptr = np.zeros(k + 1, np.int64)
    w = 0
    for r in range(k):
        start = w
        e0 = eptr[r]
        if how[r] == 2:
            w = piece_into(geom_ptr, geom_x, geom_y, geom_cum, o_edge, o_frac, st_frac[r], False, xs, ys, w)
        else:
            w = piece_into(geom_ptr, geom_x, geom_y, geom_cum, o_edge, o_frac, t_exit[r], False, xs, ys, w)
            for h in range(cptr[r], cptr[r + 1] - 1):
                e = edges[e0 + 1 + h - cptr[r]]
                s = geom_ptr[e]
                n = geom_ptr[e + 1] - s
                # Whole edges laid end to end, each without its first vertex (the previous one's last).
                if edge_u[e] == chain[h]:
                    for i in range(s + 1, s + n):
                        xs[w] = geom_x[i] / 1e7
                        ys[w] = geom_y[i] / 1e7
                        w += 1
                else:
                    for i in range(s + n - 2, s - 1, -1):
                        xs[w] = geom_x[i] / 1e7
                        ys[w] = geom_y[i] / 1e7
                        w += 1
            w = piece_into(geom_ptr, geom_x, geom_y, geom_cum, st_edge[r], 0.0 if how[r] == 0 else 1.0, st_frac[r],
                       True, xs, ys, w)
        if w - start == 1:  # a GeoJSON LineString needs two positions
            xs[w] = xs[start]
            ys[w] = ys[start]
            w += 1
        vptr[r + 1] = w
    run_key = np.empty(eptr[k], np.int64)
    run_m = np.empty(eptr[k])
    rptr = np.zeros(k + 1, np.int64)
    q = 0
    for r in range(k):
        for j in range(eptr[r], eptr[r + 1]):
            nid = edge_name[edges[j]]
            key = name_key[nid] if not name_empty[nid] else name_key[edge_ref[edges[j]]]
            if q > rptr[r] and run_key[q - 1] == key:
                run_m[q - 1] += piece_len[j]
            else:
                run_key[q] = key
                run_m[q] = piece_len[j]
                q += 1
        rptr[r + 1] = q
    return xs[:w], ys[:w], vptr, edges, piece_len, piece_dur, eptr, run_key[:q], run_m[:q], rptr

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
    _warm_routes()


def _warm_routes() -> None:
    # One edge 0 -> 1 of two vertices, both ways; node 1 reached from the virtual origin (node 2).
    i32, i64 = np.int32, np.int64
    ptr, cum = np.array([0, 2], dtype=i64), np.array([0.0, 10.0], dtype=np.float32)
    gx = np.array([0, 100], dtype=i32)
    edge = np.array([0], dtype=i32)
    one = np.ones(1)
    ex = (np.array([1], dtype=i64), np.zeros(1), np.zeros(1, dtype=np.bool_))
    for pred in (np.array([-1, 2], dtype=i32), np.array([-1, 2], dtype=i64)):
        mark = np.array([0, 3], dtype=i32)
        route_lines(pred, mark, 3, True, 2, np.array([0, 1, 2, 2], dtype=i32), np.array([1, 0], dtype=i32),
                    np.array([0, 0], dtype=i32), edge, edge + 1, one * 10, one, edge, edge,
                    np.zeros(1, dtype=i64), np.zeros(1, dtype=np.bool_), ptr, gx, gx, cum, 0, 0.5, *ex,
                    np.zeros(1, dtype=i64), np.full(1, 0.25), np.ones(1, dtype=i64))
    xs = np.empty(4)
    piece_into(ptr, gx, gx, cum, 0, 0.0, 0.5, False, xs, xs.copy(), 0)


_WARM = threading.Event()
_WARM_LOCK = threading.Lock()


def warm_up_in_background() -> None:
    """Start :func:`warm_up` in a daemon thread, once per process."""
    with _WARM_LOCK:
        if _WARM.is_set():
            return
        _WARM.set()
    threading.Thread(target=warm_up, name="routing-warm-up", daemon=True).start()
