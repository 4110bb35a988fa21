"""Candidate x cell travel: how far every cell is from every candidate, where within reach.

One bounded Dijkstra per candidate on the *reversed* road graph from its
virtual node (the coverage engine's direction: travel is cell -> station),
run in chunks so scipy's dense rows stay bounded; without a network, or
for points off it, a KD-tree ball query with the engine's detour factor.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo import settings
from geo.analysis.grid import Grid
from geo.analysis.standard import Standard
from geo.analysis.travel import access_cost, augmented_matrix, estimate_factor, snap_points
from geo.analysis.siting.matrix import csr_keeping_zeros
from geo.core import geodesy
from geo.routing.network import RoadGraph, index_ranges


def _estimate_pairs(clon: np.ndarray, clat: np.ndarray, plon: np.ndarray, plat: np.ndarray, std: Standard,
                    limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate, point, value) for estimated travel within ``limit``, as the engine estimates it."""
    if not len(clon) or not len(plon):
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    # A straight-line service radius is the great circle itself.
    factor = 1.0 if std.radius else estimate_factor(std)
    radius = geodesy.m_to_chord(limit / factor) * (1 + 1e-9) + 1e-12
    found = cKDTree(geodesy.xyz(clon, clat)).sparse_distance_matrix(cKDTree(geodesy.xyz(plon, plat)), radius,
                                                              output_type="ndarray")
    value = geodesy.chord_to_m(found["v"]) * factor
    keep = value <= limit
    return found["i"][keep].astype(np.int64), found["j"][keep].astype(np.int64), value[keep]


def _network_pairs(graph: RoadGraph, plon: np.ndarray, plat: np.ndarray, clon: np.ndarray, clat: np.ndarray,
                   std: Standard, limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate, point, value) for routed travel within ``limit``, point -> candidate.

    Mirrors :func:`geo.analysis.coverage.nearest_network` one candidate at a time:
    each candidate a virtual node on the reversed graph, one bounded
    Dijkstra per candidate (``limit`` = threshold), each point leaving its
    edge by an allowed end or reaching a candidate on its own edge, both
    snap stretches walked; points off the network and candidates off it
    by estimate (``settings.COVERAGE_OFF_NETWORK``).
    """
    weight = std.weight
    to_unit = 1.0 / 60.0 if weight == "time" else 1.0
    cs = snap_points(graph, clon, clat)
    c_on = np.flatnonzero(cs.ok)
    st_edge, st_frac = cs.edge[c_on], cs.fraction[c_on]
    st_access = access_cost(cs.distance_m[c_on], weight)
    ps = snap_points(graph, plon, plat)
    p_access = access_cost(np.nan_to_num(ps.distance_m, nan=0.0), weight)
    on = np.flatnonzero(ps.ok)
    out_r, out_c, out_v = [], [], []

    if len(c_on) and len(on):
        aug = augmented_matrix(graph, weight, st_edge, st_frac, st_access)
        n = graph.n_nodes
        e, f = ps.edge[on], ps.fraction[on]
        c = graph.edge_cost(weight)[e]
        u, v = graph.edge_u[e], graph.edge_v[e]
        part_v = np.where(graph.edge_fwd[e], (1.0 - f) * c, np.inf)
        part_u = np.where(graph.edge_bwd[e], f * c, np.inf)
        # Same-edge shortcuts, found once for all candidates (as the engine does per station).
        order = np.argsort(st_edge, kind="stable")
        se = st_edge[order]
        lo, hi = np.searchsorted(se, e, side="left"), np.searchsorted(se, e, side="right")
        cnt = hi - lo
        pair_pt = np.repeat(np.arange(len(on)), cnt)
        pair_st = order[index_ranges(lo, cnt)]
        ts, fc, cc, ec = st_frac[pair_st], f[pair_pt], c[pair_pt], e[pair_pt]
        direct = np.minimum(np.where(graph.edge_fwd[ec] & (ts >= fc), (ts - fc) * cc, np.inf),
                            np.where(graph.edge_bwd[ec] & (ts <= fc), (fc - ts) * cc, np.inf)) + st_access[pair_st]
        by_st = np.argsort(pair_st, kind="stable")
        pair_pt, pair_st, direct = pair_pt[by_st], pair_st[by_st], direct[by_st]

        budget = settings.SITING_DIJKSTRA_CHUNK_MB * 1e6
        chunk = int(max(1, min(budget // (8 * aug.shape[0]), budget // (8 * 4 * len(on)))))
        g_limit = limit / to_unit
        for s0 in range(0, len(c_on), chunk):
            s1 = min(s0 + chunk, len(c_on))
            dist = dijkstra(aug, directed=True, indices=np.arange(n + s0, n + s1), limit=g_limit)
            cost = np.minimum(part_v[None, :] + dist[:, v], part_u[None, :] + dist[:, u])
            del dist
            a, b = np.searchsorted(pair_st, [s0, s1])
            if b > a:
                r, q = pair_st[a:b] - s0, pair_pt[a:b]
                cost[r, q] = np.minimum(cost[r, q], direct[a:b])
            value = (cost + p_access[on][None, :]) * to_unit
            rr, qq = np.nonzero(value <= limit)
            out_r.append(c_on[rr + s0])
            out_c.append(on[qq])
            out_v.append(value[rr, qq])

    off = np.flatnonzero(~ps.ok)
    c_off = np.flatnonzero(~cs.ok)
    if len(off) and settings.COVERAGE_OFF_NETWORK == "estimate":
        r, q, val = _estimate_pairs(clon, clat, plon[off], plat[off], std, limit)
        out_r.append(r), out_c.append(off[q]), out_v.append(val)
    if len(c_off) and len(on):
        r, q, val = _estimate_pairs(clon[c_off], clat[c_off], plon[on], plat[on], std, limit)
        out_r.append(c_off[r]), out_c.append(on[q]), out_v.append(val)
    if not out_r:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v)


def reach_matrix(grid: Grid, standard: Standard, lon: np.ndarray, lat: np.ndarray, *,
                 graph: RoadGraph | None = None, limit: float | None = None) -> sparse.csr_matrix:
    """Travel from every cell to every candidate, where it is within ``limit``.

    Parameters
    ----------
    grid
        The cells.
    standard
        The service standard (its unit and, by default, its threshold).
    lon, lat
        Candidate positions, WGS-84.
    graph
        The mode's graph; without one, the engine's estimate.
    limit
        In the standard's unit; default the threshold.

    Returns
    -------
    scipy.sparse.csr_matrix
        Candidates x cells, travel in the standard's unit. Explicit zeros are
        real entries (a candidate at a cell's centre): read the pattern from
        ``indptr``/``indices``, not from ``nonzero()``.
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    limit = standard.threshold if limit is None else float(limit)
    if graph is None:
        r, c, v = _estimate_pairs(lon, lat, grid.lon, grid.lat, standard, limit)
    else:
        r, c, v = _network_pairs(graph, grid.lon, grid.lat, lon, lat, standard, limit)
    return csr_keeping_zeros(r, c, v, (len(lon), len(grid.cells)))
