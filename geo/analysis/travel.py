"""Travel from many points to their nearest station, on the road network or by estimate.

* With a road network: ONE multi-source Dijkstra from all stations on the
  *reversed* graph (travel is point -> station, and one-way streets must be
  taken the legal way), each station a virtual node joined to the two ends
  of its road edge at its snapped position (:func:`augmented_matrix`); then
  every point is snapped to the network (vectorised, :func:`snap_points`)
  and takes ``min(leave its edge forward to v + D[v], backward to u + D[u],
  a station on its own edge)`` plus both snap stretches, walked at
  ``settings.COVERAGE_ACCESS_SPEED_KMH`` (:func:`nearest_network`).
* Without one: a KD-tree of the stations on the unit sphere gives the exact
  great-circle nearest station, times ``settings.DETOUR_FACTOR`` (travelled
  at ``settings.ESTIMATE_SPEED_KMH``), labelled estimate
  (:func:`nearest_estimate`).
"""
from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo import settings
from geo.analysis.road_rings import dense_cell_table, nearest_by_rings
from geo.analysis.standard import Standard
from geo.core import geodesy
from geo.core.crs import haversine_m
from geo.routing.network import RoadGraph, index_ranges

_E7 = 1e7  # graph geometry is stored as integer 1e-7 degrees


@dataclass
class Snaps:
    """Where many points meet a road graph (-1 / NaN where they do not).

    Attributes
    ----------
    edge : ndarray of int64
    fraction : ndarray of float
        Position along the edge from ``edge_u`` (0) to ``edge_v`` (1).
    distance_m : ndarray of float
        Great-circle distance from the point to the road.
    """

    edge: np.ndarray
    fraction: np.ndarray
    distance_m: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Mask of the points that snapped."""
        return self.edge >= 0


def snap_points(graph: RoadGraph, lon: np.ndarray, lat: np.ndarray, *,
                max_distance_m: float | None = None) -> Snaps:
    """Snap many WGS-84 points to the nearest usable road, vectorised.

    The same answer as :func:`geo.routing.snap.snap_point` point by point (tests
    compare them): the exact nearest segment of the graph's snapping grid on
    its local plane, searched in growing blocks of grid cells, and the same
    distance limit (``settings.SNAP_MAX_M``). Done on arrays, so 250,000
    cell centres take a fraction of a second instead of a Python loop.

    Parameters
    ----------
    graph
        The road graph.
    lon, lat
        WGS-84 positions.
    max_distance_m
        Default ``settings.SNAP_MAX_M``.

    Returns
    -------
    Snaps
    """
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    n = len(lon)
    limit = settings.SNAP_MAX_M if max_distance_m is None else float(max_distance_m)
    lon0, lat0, kx, ky, cell, ncols, nrows = graph.grid_params
    ncols, nrows = int(ncols), int(nrows)
    x, y = (lon - lon0) * kx, (lat - lat0) * ky
    best_d = np.full(n, np.inf)
    best_j = np.full(n, -1, dtype=np.int64)
    best_s = np.zeros(n)
    max_r = int(math.ceil(limit * 1.1 / cell)) + 1
    pending = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(pending):
        # What blocks of radius 1, 4 and max_r cells, searched in turn until
        # one holds a segment within its radius, would find (every segment
        # within r cells' width of a point lies in its block, so such a best
        # is the true nearest): found ring by ring, the same answers. Beyond
        # limit * 1.1 nothing is kept (below), so no ring further is searched.
        table = _cell_table(graph)
        passes = np.array(sorted({1, min(4, max_r), max_r}), dtype=np.int64)
        d, j, s = np.empty(len(pending)), np.empty(len(pending), dtype=np.int64), np.empty(len(pending))
        nearest_by_rings(table, np.asarray(graph.grid_keys), np.asarray(graph.grid_ptr),
                         np.asarray(graph.grid_seg), np.asarray(graph.geom_x), np.asarray(graph.geom_y), float(lon0),
                         float(lat0), float(kx), float(ky), float(cell), ncols, nrows,
                         np.ascontiguousarray(x[pending]), np.ascontiguousarray(y[pending]), passes, limit * 1.1, d, j,
                         s)
        best_d[pending], best_j[pending], best_s[pending] = d, j, s
    return snaps_from_segments(graph, lon, lat, best_d, best_j, best_s, limit)


def snaps_from_segments(graph: RoadGraph, lon: np.ndarray, lat: np.ndarray, best_d: np.ndarray,
                        best_j: np.ndarray, best_s: np.ndarray, limit: float) -> Snaps:
    """Snaps from each point's nearest segment on the grid's plane (the last step of :func:`snap_points`).

    Parameters
    ----------
    graph, lon, lat
        As for :func:`snap_points`.
    best_d, best_j, best_s
        Per point: distance on the plane, segment (-1 for none) and position along it.
    limit
        Metres; points farther from their segment (great circle) do not snap.
    """
    n = len(lon)
    edge = np.full(n, -1, dtype=np.int64)
    frac = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    hit = np.flatnonzero((best_j >= 0) & (best_d <= limit * 1.1))
    if len(hit):
        j, s = best_j[hit], best_s[hit]
        e = np.searchsorted(graph.geom_ptr, j, side="right") - 1
        ax, ay = graph.geom_x[j] / _E7, graph.geom_y[j] / _E7
        bx, by = graph.geom_x[j + 1] / _E7, graph.geom_y[j + 1] / _E7
        plon, plat = ax + s * (bx - ax), ay + s * (by - ay)
        # The difference taken in float32 first, exactly as routing.snap_point does.
        along = graph.geom_cum[j].astype(np.float64) + s * (graph.geom_cum[j + 1] - graph.geom_cum[j]).astype(np.float64)
        length = graph.edge_len_m[e]
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(length > 0, np.clip(along / np.where(length > 0, length, 1.0), 0.0, 1.0), 0.0)
        dm = haversine_m(lon[hit], lat[hit], plon, plat)
        good = dm <= limit
        edge[hit[good]], frac[hit[good]], dist[hit[good]] = e[good], f[good], dm[good]
    return Snaps(edge=edge, fraction=frac, distance_m=dist)


def _cell_table(graph: RoadGraph) -> np.ndarray:
    """The graph's snapping grid as a dense cell -> segment slice table (:func:`dense_cell_table`), cached."""
    cache = _graph_cache(graph)
    if "cell_table" not in cache:
        ncols, nrows = int(graph.grid_params[5]), int(graph.grid_params[6])
        cache["cell_table"] = dense_cell_table(graph.grid_keys, graph.grid_ptr, ncols * nrows)
    return cache["cell_table"]


# --------------------------------------------------------------------------
# Travel to the nearest station
# --------------------------------------------------------------------------


@dataclass
class Travel:
    """Travel from every cell to its nearest station.

    Attributes
    ----------
    value : ndarray of float
        In the standard's unit (minutes or metres); ``inf`` where no station
        can be reached.
    station : ndarray of int64
        Row of the nearest station in the station frame, or -1.
    method : ndarray of int8
        Index into ``("network", "estimate", "unreachable")``.
    context : NetworkContext or None
        The network pass, kept for service areas (None for an estimate).
    """

    value: np.ndarray
    station: np.ndarray
    method: np.ndarray
    context: NetworkContext | None = None


def estimate_factor(std: Standard) -> float:
    """Standard units per great-circle metre of an estimate.

    ``settings.DETOUR_FACTOR`` for a distance standard; for a minutes
    standard, that detour travelled at ``settings.ESTIMATE_SPEED_KMH[mode]``.

    Parameters
    ----------
    std
        The service standard.
    """
    if std.weight == "distance":
        return settings.DETOUR_FACTOR
    return settings.DETOUR_FACTOR / (settings.ESTIMATE_SPEED_KMH[std.mode] / 3.6) / 60.0


def nearest_estimate(lon: np.ndarray, lat: np.ndarray, st_lon: np.ndarray, st_lat: np.ndarray,
                     std: Standard) -> tuple[np.ndarray, np.ndarray]:
    """Estimated travel to the nearest station, without a road network.

    The nearest station on the great circle (exact: a KD-tree of unit
    vectors, whose chord distance orders points as the great-circle
    distance does), times ``settings.DETOUR_FACTOR``; for a minutes
    standard, travelled at ``settings.ESTIMATE_SPEED_KMH[mode]``.

    Returns
    -------
    (value, station)
        Value in the standard's unit (``inf`` without stations) and the
        index of the nearest station (-1 without).
    """
    n = len(lon)
    if not len(st_lon):
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    tree = cKDTree(geodesy.xyz(st_lon, st_lat))
    chord, idx = tree.query(geodesy.xyz(lon, lat), k=1)
    return geodesy.chord_to_m(chord) * estimate_factor(std), idx.astype(np.int64)


_PER_GRAPH: dict[int, tuple[weakref.ref, dict]] = {}
_PER_GRAPH_LOCK = threading.Lock()


def _graph_cache(graph: RoadGraph) -> dict:
    """A dict of derived arrays kept as long as the graph lives (graphs are unhashable dataclasses)."""
    with _PER_GRAPH_LOCK:
        entry = _PER_GRAPH.get(id(graph))
        if entry is None or entry[0]() is not graph:
            entry = (weakref.ref(graph), {})
            _PER_GRAPH[id(graph)] = entry
            weakref.finalize(graph, _PER_GRAPH.pop, id(graph), None)
        return entry[1]


def clear_graph_caches() -> None:
    """Forget the arrays derived from every graph (reversed matrices, projected vertices), for timing a cold run."""
    with _PER_GRAPH_LOCK:
        _PER_GRAPH.clear()


def reversed_matrix(graph: RoadGraph, weight: str) -> csr_matrix:
    """The graph's arcs reversed (CSR, real nodes only), cached per graph and weight.

    Parameters
    ----------
    graph, weight
        The road graph and the weight of its arcs (``"time"`` or ``"distance"``).
    """
    cache = _graph_cache(graph)
    key = ("reversed", weight)
    if key not in cache:
        n = graph.n_nodes
        m = graph.matrix(weight)
        # Rows 0..n-1 only: the last row is routing's per-query virtual origin.
        nnz = int(graph.csr_indptr[n])
        real = csr_matrix((m.data[:nnz].copy(), m.indices[:nnz].copy(),
                           graph.csr_indptr[:n + 1].astype(np.int64)), shape=(n, n))
        cache[key] = real.T.tocsr()
    return cache[key]


@dataclass
class NetworkContext:
    """What service areas need again after the nearest-station pass (:func:`nearest_network`)."""

    graph: RoadGraph
    weight: str
    matrix: csr_matrix          # reversed graph plus one row per snapped station
    st_rows: np.ndarray         # station row of each virtual node n + k
    st_edge: np.ndarray
    st_frac: np.ndarray
    st_access: np.ndarray       # cost of each station's snap stretch
    cell_snaps: Snaps
    cell_access: np.ndarray
    to_unit: float              # graph cost -> standard unit
    off_network: str


def access_cost(metres: np.ndarray, weight: str) -> np.ndarray:
    """Cost of walking the stretches off the graph: seconds, or metres as they are.

    Parameters
    ----------
    metres
        Lengths of the stretches between points and the road.
    weight
        ``"time"`` (walked at ``settings.COVERAGE_ACCESS_SPEED_KMH``) or ``"distance"``.
    """
    if weight == "distance":
        return metres
    return metres / (settings.COVERAGE_ACCESS_SPEED_KMH / 3.6)


def augmented_matrix(graph: RoadGraph, weight: str, st_edge: np.ndarray, st_frac: np.ndarray,
                     st_access: np.ndarray) -> csr_matrix:
    """Reversed graph with a virtual row per station, joined to its edge's ends.

    In the reversed graph an arc ``station -> u`` stands for travelling
    ``u -> station`` forward along the edge, so it exists only where the
    edge may be travelled forward; ``station -> v`` likewise backward.

    Parameters
    ----------
    graph
        The road graph.
    weight
        ``"time"`` or ``"distance"``.
    st_edge, st_frac
        Each snapped station's edge and position along it (:class:`Snaps`).
    st_access
        Cost of each station's snap stretch (:func:`access_cost`).

    Returns
    -------
    csr_matrix
        ``n_nodes + len(st_edge)`` square; station ``k`` is node ``n_nodes + k``.
    """
    rev = reversed_matrix(graph, weight)
    n = graph.n_nodes
    k = len(st_edge)
    c = graph.edge_cost(weight)[st_edge]
    fwd, bwd = graph.edge_fwd[st_edge], graph.edge_bwd[st_edge]
    row = np.concatenate([np.flatnonzero(fwd), np.flatnonzero(bwd)])
    col = np.concatenate([graph.edge_u[st_edge][fwd], graph.edge_v[st_edge][bwd]]).astype(np.int64)
    w = np.concatenate([st_access[fwd] + st_frac[fwd] * c[fwd], st_access[bwd] + (1.0 - st_frac[bwd]) * c[bwd]])
    order = np.argsort(row, kind="stable")
    row, col, w = row[order], col[order], w[order]
    counts = np.bincount(row, minlength=k)
    indptr = np.concatenate([rev.indptr.astype(np.int64), rev.nnz + np.cumsum(counts)])
    indices = np.concatenate([rev.indices.astype(np.int64), col])
    data = np.concatenate([rev.data, w])
    if len(indices) < 2**31:
        indices = indices.astype(np.int32)
        indptr = indptr.astype(np.int32)
    return csr_matrix((data, indices, indptr), shape=(n + k, n + k))


def cells_from_nodes(ctx: NetworkContext, dist: np.ndarray, source: np.ndarray | None = None, *,
                     only: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cost from each snapped point to the stations, from node costs ``dist``.

    Parameters
    ----------
    ctx
        The network pass.
    dist
        Cost of every node of ``ctx.matrix`` (a Dijkstra from station nodes).
    source
        The virtual station node each node was reached from (multi-source
        pass); None with ``only``.
    only
        Restricts the same-edge shortcut to this one virtual station (a
        service area).

    Returns
    -------
    (cost, station)
        Cost in graph units, access stretches included, and the virtual
        station index (-1 where unreachable), for every point.
    """
    g = ctx.graph
    on = np.flatnonzero(ctx.cell_snaps.ok)
    e = ctx.cell_snaps.edge[on]
    f = ctx.cell_snaps.fraction[on]
    c = g.edge_cost(ctx.weight)[e]
    u, v = g.edge_u[e], g.edge_v[e]
    n = g.n_nodes
    via_v = np.where(g.edge_fwd[e], (1.0 - f) * c + dist[v], np.inf)
    via_u = np.where(g.edge_bwd[e], f * c + dist[u], np.inf)
    cost = np.minimum(via_v, via_u)
    if source is not None:
        who = np.where(via_v <= via_u, source[v], source[u]).astype(np.int64) - n
    else:
        who = np.full(len(on), 0 if only is None else only, dtype=np.int64)
    who = np.where(np.isfinite(cost), who, -1)

    # A station on the cell's own edge may be reached along it directly.
    st_edge = ctx.st_edge if only is None else ctx.st_edge[[only]]
    st_ids = np.arange(len(ctx.st_edge)) if only is None else np.array([only])
    order = np.argsort(st_edge, kind="stable")
    se = st_edge[order]
    lo = np.searchsorted(se, e, side="left")
    hi = np.searchsorted(se, e, side="right")
    cnt = hi - lo
    if cnt.any():
        pair_cell = np.repeat(np.arange(len(on)), cnt)
        pair_st = st_ids[order[index_ranges(lo, cnt)]]
        ts = ctx.st_frac[pair_st]
        fc, cc, ec = f[pair_cell], c[pair_cell], e[pair_cell]
        direct = np.minimum(np.where(g.edge_fwd[ec] & (ts >= fc), (ts - fc) * cc, np.inf),
                            np.where(g.edge_bwd[ec] & (ts <= fc), (fc - ts) * cc, np.inf))
        direct = direct + ctx.st_access[pair_st]
        best = np.full(len(on), np.inf)
        np.minimum.at(best, pair_cell, direct)
        won = np.flatnonzero(direct == best[pair_cell])
        better = direct[won] < cost[pair_cell[won]]
        cost[pair_cell[won[better]]] = direct[won[better]]
        who[pair_cell[won[better]]] = pair_st[won[better]]
    full_cost = np.full(len(ctx.cell_snaps.edge), np.inf)
    full_who = np.full(len(ctx.cell_snaps.edge), -1, dtype=np.int64)
    full_cost[on] = cost + ctx.cell_access[on]
    full_who[on] = who
    return full_cost, full_who


def nearest_network(graph: RoadGraph, lon: np.ndarray, lat: np.ndarray, st_lon: np.ndarray,
                    st_lat: np.ndarray, std: Standard) -> Travel:
    """Travel on the road network from every point to its nearest station.

    One multi-source Dijkstra (:func:`scipy.sparse.csgraph.dijkstra` with
    ``indices`` = every station's virtual node and ``min_only=True``) on the
    reversed graph gives, for every node, the cost to its nearest station;
    each point then adds the cost along its own edge to the better allowed
    end, or reaches a station on that edge directly. The stretches from the
    point to the road and from the road to the station are walked
    (``settings.COVERAGE_ACCESS_SPEED_KMH``; metres count as metres for a
    distance standard).

    Points farther than ``settings.SNAP_MAX_M`` from every road are
    estimated or unreachable (``settings.COVERAGE_OFF_NETWORK``); stations
    that far from the roads are reached by estimate only, and a point takes
    the estimate to one of them when that is shorter.

    Returns
    -------
    Travel
        Values in the standard's unit; ``method`` per point.
    """
    if graph.mode != std.mode:
        raise ValueError(f"路网出行方式 {graph.mode} 与标准 {std.mode} 不符 / the graph is for {graph.mode}, "
                         f"the standard for {std.mode}")
    weight = std.weight
    to_unit = 1.0 / 60.0 if weight == "time" else 1.0
    n_pts = len(lon)
    st_snap = snap_points(graph, st_lon, st_lat)
    st_rows = np.flatnonzero(st_snap.ok)
    st_edge = st_snap.edge[st_rows]
    st_frac = st_snap.fraction[st_rows]
    st_access = access_cost(st_snap.distance_m[st_rows], weight)
    cell_snaps = snap_points(graph, lon, lat)
    cell_access = access_cost(np.nan_to_num(cell_snaps.distance_m, nan=0.0), weight)
    aug = augmented_matrix(graph, weight, st_edge, st_frac, st_access)
    ctx = NetworkContext(graph, weight, aug, st_rows, st_edge, st_frac, st_access, cell_snaps, cell_access,
                          to_unit, settings.COVERAGE_OFF_NETWORK)
    n = graph.n_nodes
    value = np.full(n_pts, np.inf)
    station = np.full(n_pts, -1, dtype=np.int64)
    method = np.zeros(n_pts, dtype=np.int8)
    if len(st_rows):
        dist, _, sources = dijkstra(aug, directed=True, indices=np.arange(n, n + len(st_rows)),
                                    min_only=True, return_predecessors=True)
        cost, who = cells_from_nodes(ctx, dist, sources)
        value = cost * to_unit
        station = np.where(who >= 0, st_rows[np.maximum(who, 0)], -1)

    finite_st = np.isfinite(st_lon) & np.isfinite(st_lat)
    off = np.flatnonzero(~cell_snaps.ok)
    if len(off) and ctx.off_network == "unreachable":
        method[off], value[off], station[off] = 2, np.inf, -1
    elif len(off):
        # Off the network a point may go to any station, by estimate.
        pool = np.flatnonzero(finite_st)
        ev, ei = nearest_estimate(lon[off], lat[off], st_lon[pool], st_lat[pool], std)
        method[off], value[off] = 1, ev
        station[off] = np.where(ei >= 0, pool[np.maximum(ei, 0)] if len(pool) else -1, -1)
    # On it, the stations the network cannot reach are still there by estimate.
    far = np.flatnonzero(~st_snap.ok & finite_st)
    on = np.flatnonzero(cell_snaps.ok)
    if len(far) and len(on):
        ev, ei = nearest_estimate(lon[on], lat[on], st_lon[far], st_lat[far], std)
        better = ev < value[on]
        value[on[better]], station[on[better]], method[on[better]] = ev[better], far[ei[better]], 1
    return Travel(value=value, station=station, method=method, context=ctx)


def warm_up() -> None:
    """Load, or the first time after an install compile, every compiled loop of routing and coverage.

    numba keeps the machine code beside the sources, so ``make run`` and
    ``make test`` call this once before starting: otherwise every new process
    (each server, each test worker) compiles the same code at once, about
    half a minute of CPU each, and the first lookup after an install waits for it.
    """
    from geo.routing.kernels import warm_up as warm_routing
    from geo.routing.synthetic import synthetic_graph

    warm_routing()
    graph = synthetic_graph(400, "walk")
    lon0, lat0 = float(graph.node_lon[0]), float(graph.node_lat[0])
    snap_points(graph, np.array([lon0, lon0 + 0.01]), np.array([lat0, lat0 + 0.01]))
