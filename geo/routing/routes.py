"""Routes: the path a search found to a station, as geometry, length, time and road names.

The predecessor tree of :mod:`geo.routing.search` gives each result's chain
of nodes; its geometry follows every shape point of the roads, cut at both
snapped ends, and the names are those of the roads it follows for at least
``settings.ROAD_NAME_MIN_M``.
"""
from __future__ import annotations

import numpy as np

from geo import settings
from geo.routing.network import COORD_SCALE, RoadGraph, index_ranges
from geo.routing.search import origin_exits
from geo.routing.snap import Snap


def _arc_edges(graph: RoadGraph, a: np.ndarray, b: np.ndarray, weight: str) -> np.ndarray:
    """Edge behind each arc ``a[i] -> b[i]`` of the search graph (the cheapest of parallel edges)."""
    lo = graph.csr_indptr[a].astype(np.int64)
    deg = graph.csr_indptr[a + 1].astype(np.int64) - lo
    slots = index_ranges(lo, deg)
    # Arcs were de-duplicated per (a, b) when the graph was built, so each hop matches one slot.
    hit = slots[graph.csr_indices[slots] == np.repeat(b, deg)]
    edge_of_slot = graph.csr_edge_time if weight == "time" else graph.csr_edge_len
    return edge_of_slot[hit].astype(np.int64)


def _piece(graph: RoadGraph, e: int, t0: float, t1: float) -> np.ndarray:
    """Coordinates of edge ``e`` from fraction ``t0`` to ``t1`` (reversed when t1 < t0)."""
    s, t = int(graph.geom_ptr[e]), int(graph.geom_ptr[e + 1])
    cum = graph.geom_cum[s:t].astype(np.float64)
    xs, ys = graph.geom_x[s:t] / COORD_SCALE, graph.geom_y[s:t] / COORD_SCALE
    length = cum[-1]
    if length <= 0:
        return np.array([[xs[0], ys[0]]])
    lo, hi = sorted((t0, t1))
    d0, d1 = lo * length, hi * length
    inner = np.flatnonzero((cum > d0) & (cum < d1))
    p0 = (np.interp(d0, cum, xs), np.interp(d0, cum, ys))
    p1 = (np.interp(d1, cum, xs), np.interp(d1, cum, ys))
    coords = np.vstack([[p0], np.column_stack([xs[inner], ys[inner]]), [p1]])
    return coords[::-1] if t1 < t0 else coords


def _whole_edges(graph: RoadGraph, edges: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Vertices of whole edges laid end to end, each without its first vertex (the previous one's last)."""
    starts = graph.geom_ptr[edges]
    lens = graph.geom_ptr[edges + 1] - starts
    pos = index_ranges(starts, lens)
    off = pos - np.repeat(starts, lens)
    rev = ~np.repeat(forward, lens)
    pos = np.where(rev, np.repeat(starts + lens - 1, lens) - off, pos)
    pos = pos[off > 0]
    return np.column_stack([graph.geom_x[pos] / COORD_SCALE, graph.geom_y[pos] / COORD_SCALE])


def station_route(graph: RoadGraph, origin: Snap, st_edge: int, st_frac: float, how: int, pred: np.ndarray, *,
                  weight: str) -> tuple[np.ndarray, float, float, list[str]]:
    """The path to one station found by a search, along every shape point of its roads.

    Parameters
    ----------
    graph
        The mode's graph.
    origin
        The origin, snapped.
    st_edge, st_frac
        The station's snapped edge and position along it.
    how
        How the search reached the station (:func:`geo.routing.search.station_costs`).
    pred
        The search's predecessor of every node.
    weight
        The weight the search used.

    Returns
    -------
    tuple
        Coordinates ``(n, 2)`` (lon, lat), length in metres, duration in
        seconds and the main road names, in order.
    """
    if how == 2:  # along the origin's own edge
        edges = np.array([origin.edge])
        parts = np.array([abs(st_frac - origin.fraction)])
        line = _piece(graph, origin.edge, origin.fraction, st_frac)
    else:
        end = int(graph.edge_u[st_edge] if how == 0 else graph.edge_v[st_edge])
        chain = [end]
        n = graph.n_nodes
        while pred[chain[-1]] != n:
            if pred[chain[-1]] < 0:
                raise RuntimeError("route reconstruction left the search tree")
            chain.append(int(pred[chain[-1]]))
        chain = np.array(chain[::-1], dtype=np.int64)
        # Leave the origin's edge through the exit the search took to the first node.
        exit_ = min((x for x in origin_exits(graph, origin, weight=weight) if x[0] == chain[0]), key=lambda x: x[1])
        t_exit = 0.0 if exit_[2] else 1.0
        t_entry = 0.0 if how == 0 else 1.0
        mids = _arc_edges(graph, chain[:-1], chain[1:], weight)
        forward = graph.edge_u[mids] == chain[:-1]
        edges = np.concatenate([[origin.edge], mids, [st_edge]])
        parts = np.concatenate([[abs(origin.fraction - t_exit)], np.ones(len(mids)), [abs(st_frac - t_entry)]])
        line = np.vstack([_piece(graph, origin.edge, origin.fraction, t_exit),
                          _whole_edges(graph, mids, forward),
                          _piece(graph, st_edge, t_entry, st_frac)[1:]])
    piece_len = parts * graph.edge_len_m[edges]
    duration = float((parts * graph.edge_dur_s[edges]).sum())
    if len(line) == 1:
        line = np.vstack([line, line])  # a GeoJSON LineString needs two positions
    runs: list[list] = []
    for name_id, ref_id, m in zip(graph.edge_name[edges].tolist(), graph.edge_ref[edges].tolist(), piece_len.tolist()):
        name = graph.names[name_id] or graph.names[ref_id]
        if runs and runs[-1][0] == name:
            runs[-1][1] += m
        else:
            runs.append([name, m])
    return line, float(piece_len.sum()), duration, _main_names(runs)


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
