"""The search from an origin: one bounded Dijkstra, and what it costs to reach each station.

The origin is a virtual node whose two arcs reach the ends of its edge at
``t`` and ``1 - t`` of the edge's cost, the backward one only where the edge
may be travelled backward, so a one-way street is left the legal way. A
station on edge ``(a, b)`` at ``s`` costs ``min(d[a] + s*c, d[b] + (1-s)*c)``,
each term only where its direction is allowed (plus the direct stretch when
origin and station share an edge). The search settles nodes in cost order
and stops once k eligible stations cost no more than the next node, which
makes their costs exact (:func:`settle_stations`).
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

from geo import settings
from geo.core.crs import haversine_m
from geo.routing.dijkstra import Search
from geo.routing.network import RoadGraph
from geo.routing.snap import Snap
from geo.routing.stations import StationIndex


def origin_exits(graph: RoadGraph, snap: Snap, *, weight: str) -> list[tuple[int, float, bool]]:
    """Ways off the origin's edge, only in the directions the edge may be travelled.

    Parameters
    ----------
    graph
        The mode's graph.
    snap
        The origin, snapped.
    weight
        ``"time"`` or ``"distance"``.

    Returns
    -------
    list of tuple
        ``(node, cost, towards_start)`` for each way off the edge.
    """
    e = snap.edge
    c = float(graph.edge_cost(weight)[e])
    exits = []
    if graph.edge_bwd[e]:
        exits.append((int(graph.edge_u[e]), snap.fraction * c, True))
    if graph.edge_fwd[e]:
        exits.append((int(graph.edge_v[e]), (1.0 - snap.fraction) * c, False))
    return exits


def origin_search(graph: RoadGraph, snap: Snap, *, weight: str, limit: float) -> Search:
    """One bounded Dijkstra from the snapped origin's exits (compiled, resumable).

    Parameters
    ----------
    graph, snap, weight
        As for :func:`origin_exits`.
    limit
        Nodes costlier than this are not settled; :meth:`Search.extend` settles further.

    Returns
    -------
    geo.routing.dijkstra.Search
        ``dist`` and ``pred`` read like arrays; a node reached first from the
        origin has the virtual origin (``graph.n_nodes``) as predecessor.
    """
    exits = origin_exits(graph, snap, weight=weight)
    return graph.search([x[0] for x in exits], [x[1] for x in exits], weight=weight, limit=limit)


def station_costs(graph: RoadGraph, idx: StationIndex, cand: np.ndarray, origin: Snap, dist: np.ndarray, *,
                  weight: str) -> tuple[np.ndarray, np.ndarray]:
    """Cost of reaching each candidate station from the search's node costs, and how.

    Parameters
    ----------
    graph
        The mode's graph.
    idx
        The stations, snapped to ``graph``.
    cand
        Positions in ``idx`` of the candidate stations.
    origin
        The origin, snapped.
    dist
        Cost of every node from the origin (a search's first result).
    weight
        The weight the search used: ``"time"`` or ``"distance"``.

    Returns
    -------
    tuple of ndarray
        Each candidate's cost (``inf`` when unreached) and how it is reached:
        0 via its edge's start, 1 via its end, 2 along the origin's own edge.
    """
    e = idx.edge[cand]
    t = idx.fraction[cand]
    c = graph.edge_cost(weight)[e]
    via_u = np.where(graph.edge_fwd[e], dist[graph.edge_u[e]] + t * c, np.inf)
    via_v = np.where(graph.edge_bwd[e], dist[graph.edge_v[e]] + (1.0 - t) * c, np.inf)
    cost = np.minimum(via_u, via_v)
    how = np.where(via_v < via_u, 1, 0)
    same = e == origin.edge
    if same.any():
        to = origin.fraction
        fwd_ok = graph.edge_fwd[e] & (t >= to)
        bwd_ok = graph.edge_bwd[e] & (t <= to)
        direct = np.minimum(np.where(fwd_ok, (t - to) * c, np.inf), np.where(bwd_ok, (to - t) * c, np.inf))
        direct = np.where(same, direct, np.inf)
        better = direct <= cost
        cost = np.where(better, direct, cost)
        how = np.where(better, 2, how)
    return cost, how


def initial_limit(graph: RoadGraph, idx: StationIndex, cand: np.ndarray, lon: float, lat: float, *,
                  k: int, weight: str) -> float:
    """The first search limit: the k-th nearest candidate as the crow flies, with the usual detour.

    Parameters
    ----------
    graph
        The mode's graph (its mode gives the speed of a time limit).
    idx
        The stations.
    cand
        Positions in ``idx`` of the candidate stations (at least one).
    lon, lat
        The origin as given, WGS-84.
    k
        Stations asked for.
    weight
        ``"time"`` (the limit is in seconds) or ``"distance"`` (metres).
    """
    crow = haversine_m(lon, lat, idx.lon[cand], idx.lat[cand])
    kth = float(np.partition(crow, min(k, len(crow)) - 1)[min(k, len(crow)) - 1])
    # The k-th station as the crow flies, at the usual detour plus a margin:
    # usually enough to settle k stations in one search, and when it is not,
    # the limit grows; a generous first guess would settle many nodes for nothing.
    metres = 1.25 * settings.DETOUR_FACTOR * kth + 200.0
    if weight == "distance":
        return metres
    return metres / (settings.ESTIMATE_SPEED_KMH.get(graph.mode, 15.0) / 3.6)


def _station_nodes(graph: RoadGraph, idx: StationIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both end nodes of every snapped station's edge, sorted, with the station of each and a hash filter."""
    with _NODES_LOCK:
        held = _NODES.get((id(graph), id(idx)))
        if held is not None and held[0]() is graph and held[1]() is idx:
            return held[2]
    on = np.flatnonzero(np.asarray(idx.edge) >= 0)
    e = np.asarray(idx.edge)[on]
    nodes = np.concatenate([np.asarray(graph.edge_u)[e], np.asarray(graph.edge_v)[e]]).astype(np.int64)
    stations = np.concatenate([on, on]).astype(np.int64)
    order = np.argsort(nodes, kind="stable")
    bits = np.zeros(_FILTER_BITS // 8, dtype=np.uint8)
    low = nodes & (_FILTER_BITS - 1)
    np.bitwise_or.at(bits, low >> 3, (1 << (low & 7)).astype(np.uint8))
    out = (bits, nodes[order], stations[order])
    with _NODES_LOCK:
        # Keyed by ids, checked by weak references: neither object is hashable, and ids are reused.
        _NODES[(id(graph), id(idx))] = (weakref.ref(graph), weakref.ref(idx), out)
        for key in [k for k, v in _NODES.items() if v[0]() is None or v[1]() is None]:
            del _NODES[key]
    return out


# A node is looked up among the station nodes only when its bit in this
# filter (node id modulo its size) is set: 8 KB, so it stays in cache.
_FILTER_BITS = 1 << 16
_NODES: dict[tuple[int, int], tuple] = {}
_NODES_LOCK = threading.Lock()


def settle_stations(graph: RoadGraph, idx: StationIndex, cand: np.ndarray, origin: Snap, *,
                    lon: float, lat: float, k: int, weight: str,
                    extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, object]:
    """Exact costs of the nearest candidates: one search that stops as soon as they are known.

    A candidate's cost is known once an end of its edge is settled, and is
    then no less than any node settled so far, so the search stops when the
    ``k``-th cheapest known candidate (cost plus ``extra``) costs no more
    than the next node: exactly the nodes a search limited at that cost
    settles, and the fewest any search that proves the ``k`` best can settle.

    Parameters
    ----------
    graph, idx, cand, origin
        As in :func:`station_costs` (at least one candidate).
    lon, lat
        The origin as given, WGS-84 (kept for callers; the search needs no guess of its radius).
    k, weight
        Stations asked for; ``"time"`` or ``"distance"``.
    extra
        A further cost per candidate counted when ranking (a station's walk
        from the road): the search runs until ``k`` candidates cost, with it,
        no more than the limit, so the ``k`` best by cost plus ``extra`` are
        exact. The returned costs do not include it.

    Returns
    -------
    tuple
        Each candidate's cost and how it is reached (:func:`station_costs`;
        exact for every candidate within the final limit, at least the true
        cost or ``inf`` beyond it), and the search's predecessor of every
        node, for the routes (read like an array: ``pred[node]``, -1 where
        not settled).
    """
    need = min(k, len(cand))
    add = np.zeros(len(cand)) if extra is None else np.ascontiguousarray(extra, dtype=np.float64)
    # Each candidate's edge, gathered once per query.
    e = idx.edge[cand]
    t = np.ascontiguousarray(idx.fraction[cand], dtype=np.float64)
    c = np.ascontiguousarray(graph.edge_cost(weight)[e], dtype=np.float64)
    cu, cv = np.asarray(graph.edge_u)[e], np.asarray(graph.edge_v)[e]
    fwd, bwd = np.asarray(graph.edge_fwd)[e], np.asarray(graph.edge_bwd)[e]
    same = e == origin.edge
    any_same = bool(same.any())
    to = float(origin.fraction)
    slack = max(0.0, -float(add.min())) if len(add) else 0.0
    bits, tnode, tstation = _station_nodes(graph, idx)
    slot = np.full(len(idx), -1, dtype=np.int64)
    slot[cand] = np.arange(len(cand))
    search = origin_search(graph, origin, weight=weight, limit=-np.inf)
    _, cost, how = search.extend_to_nearest((bits, tnode, tstation, slot, cu, cv, t, c, fwd, bwd, same, any_same,
                                             to, add, slack), need)
    return cost, how, search.pred
