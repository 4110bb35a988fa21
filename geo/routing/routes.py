"""Routes: the path a search found to a station, as geometry, length, time and road names.

The predecessor tree of :mod:`geo.routing.search` gives each result's chain
of nodes; its geometry follows every shape point of the roads, cut at both
snapped ends, and the names are those of the roads it follows for at least
``settings.ROAD_NAME_MIN_M``.

All routes of one query are drawn by one compiled call
(:func:`geo.routing.kernels.route_lines`): a finder query once spent as
long drawing its five routes with numpy, a few small arrays per edge, as
searching for them.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

from geo import settings
from geo.routing.kernels import piece_into, route_lines
from geo.routing.network import RoadGraph
from geo.routing.search import origin_exits
from geo.routing.snap import Snap


def _name_keys(graph: RoadGraph) -> tuple[np.ndarray, np.ndarray]:
    """Per name id: the first id with the same text (equal keys, equal names) and whether the text is empty."""
    with _NAME_LOCK:
        held = _NAME_KEYS.get(id(graph))
        if held is not None and held[0]() is graph:
            return held[1], held[2]
    first: dict[str, int] = {}
    key = np.array([first.setdefault(n, i) for i, n in enumerate(graph.names)], dtype=np.int64)
    empty = np.array([not n for n in graph.names], dtype=np.bool_)
    with _NAME_LOCK:
        # Keyed by id, checked by a weak reference: a graph is not hashable, and a new one may reuse an id.
        _NAME_KEYS[id(graph)] = (weakref.ref(graph), key, empty)
        for gid in [g for g, held in _NAME_KEYS.items() if held[0]() is None]:
            del _NAME_KEYS[gid]
    return key, empty


_NAME_KEYS: dict[int, tuple] = {}
_NAME_LOCK = threading.Lock()


def _pred_arrays(pred) -> tuple[np.ndarray, np.ndarray, int, bool]:
    raw = getattr(pred, "raw", None)
    if raw is not None:  # a search's predecessors: its workspace, read where settled
        values, mark, done = raw
        return values, mark, done, True
    return np.asarray(pred), np.zeros(1, dtype=np.int32), 0, False


def _piece(graph: RoadGraph, e: int, t0: float, t1: float) -> np.ndarray:
    """Coordinates of edge ``e`` from fraction ``t0`` to ``t1`` (reversed when t1 < t0)."""
    n = int(graph.geom_ptr[e + 1] - graph.geom_ptr[e])
    xs, ys = np.empty(n + 2), np.empty(n + 2)
    w = piece_into(np.asarray(graph.geom_ptr), np.asarray(graph.geom_x), np.asarray(graph.geom_y),
                   np.asarray(graph.geom_cum), int(e), float(t0), float(t1), False, xs, ys, 0)
    return np.column_stack([xs[:w], ys[:w]])


def station_routes(graph: RoadGraph, origin: Snap, st_edges, st_fracs, hows, pred, *,
                   weight: str) -> list[tuple[np.ndarray, float, float, list[str]]]:
    """The paths to several stations found by one search, each along every shape point of its roads.

    Parameters
    ----------
    graph
        The mode's graph.
    origin
        The origin, snapped.
    st_edges, st_fracs
        Each station's snapped edge and position along it.
    hows
        How the search reached each station (:func:`geo.routing.search.station_costs`).
    pred
        The search's predecessor of every node (a search's ``pred``, or an array).
    weight
        The weight the search used.

    Returns
    -------
    list of tuple
        Per station, as :func:`station_route`: coordinates ``(n, 2)`` (lon,
        lat), length in metres, duration in seconds and the main road names.
    """
    st_edges = np.asarray(st_edges, dtype=np.int64).reshape(-1)
    if len(st_edges) == 0:
        return []
    exits = origin_exits(graph, origin, weight=weight)
    values, mark, done, check = _pred_arrays(pred)
    key, empty = _name_keys(graph)
    edge_of_slot = graph.csr_edge_time if weight == "time" else graph.csr_edge_len
    xs, ys, vptr, _edges, piece_len, piece_dur, eptr, run_key, run_m, rptr = route_lines(
        values, mark, done, check, graph.n_nodes, np.asarray(graph.csr_indptr), np.asarray(graph.csr_indices),
        np.asarray(edge_of_slot), np.asarray(graph.edge_u), np.asarray(graph.edge_v),
        np.asarray(graph.edge_len_m), np.asarray(graph.edge_dur_s), np.asarray(graph.edge_name),
        np.asarray(graph.edge_ref), key, empty, np.asarray(graph.geom_ptr), np.asarray(graph.geom_x),
        np.asarray(graph.geom_y), np.asarray(graph.geom_cum), int(origin.edge), float(origin.fraction),
        np.array([x[0] for x in exits], dtype=np.int64), np.array([x[1] for x in exits], dtype=np.float64),
        np.array([x[2] for x in exits], dtype=np.bool_), st_edges,
        np.asarray(st_fracs, dtype=np.float64).reshape(-1), np.asarray(hows, dtype=np.int64).reshape(-1))
    coords = np.column_stack([xs, ys])
    names = graph.names
    keys, metres = run_key.tolist(), run_m.tolist()
    out = []
    for r in range(len(st_edges)):
        runs = [[names[keys[q]], metres[q]] for q in range(rptr[r], rptr[r + 1])]
        # Sums over each route's own slice, as numpy summed them per route.
        out.append((coords[vptr[r]:vptr[r + 1]], float(piece_len[eptr[r]:eptr[r + 1]].sum()),
                    float(piece_dur[eptr[r]:eptr[r + 1]].sum()), _main_names(runs)))
    return out


def station_route(graph: RoadGraph, origin: Snap, st_edge: int, st_frac: float, how: int, pred, *,
                  weight: str) -> tuple[np.ndarray, float, float, list[str]]:
    """The path to one station found by a search: :func:`station_routes` for that station alone.

    Returns
    -------
    tuple
        Coordinates ``(n, 2)`` (lon, lat), length in metres, duration in
        seconds and the main road names, in order.
    """
    return station_routes(graph, origin, [st_edge], [st_frac], [how], pred, weight=weight)[0]


def _main_names(runs: list[list]) -> list[str]:
    named = [(n, m) for n, m in runs if n]
    main = [n for n, m in named if m >= settings.ROAD_NAME_MIN_M]
    if not main and named:
        main = [max(named, key=lambda r: r[1])[0]]
    out: list[str] = []
    for name in main:
        if not out or out[-1] != name:
            out.append(name)
    return out
