"""The worker finder: the nearest open stations by real road routing.

A query runs in three steps:

1. **Snap.** The origin is moved to the nearest point on the nearest road of
   the mode's graph (:func:`snap_point`): the grid of :mod:`geo.routing.network`
   gives the road segments near the point, each is measured exactly, and the
   winner's position along its edge becomes a fraction ``t``. Stations are
   snapped the same way, once per station set (:func:`index_stations`).
2. **Search.** One bounded Dijkstra runs from the origin
   (:func:`scipy.sparse.csgraph.dijkstra` with ``limit``). The origin is a
   virtual node whose two arcs reach the ends of its edge at ``t`` and
   ``1 - t`` of the edge's cost, the backward one only where the edge may be
   travelled backward, so a one-way street is left the legal way. A station
   on edge ``(a, b)`` at ``s`` costs ``min(d[a] + s*c, d[b] + (1-s)*c)``,
   each term only where its direction is allowed (plus the direct stretch
   when origin and station share an edge). The limit starts from the k-th
   nearest eligible station as the crow flies and grows until k eligible
   stations cost no more than it, which makes their costs exact.
3. **Route.** The predecessor tree gives each result's path; its geometry
   follows every shape point of the roads, cut at both snapped ends.

Without a road network (or when the origin is off it) the results are
estimates: great-circle distance times :data:`geo.settings.DETOUR_FACTOR`,
travelled at a mode speed, labelled ``估算 / estimate`` and with no route.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from geo import settings
from geo.core.crs import haversine_m, to_wgs84
from geo.core.hours import OpeningHours, is_open, parse_opening_hours
from geo.routing.network import MODES, RoadGraph, index_ranges, load_graph
from geo.core.schema import FACILITIES, KINDS, STATUSES

_E7 = 1e7
_FACILITY_BIT = {code: np.uint32(1) << np.uint32(i) for i, code in enumerate(FACILITIES)}
_WEIGHTS = {"time": "time", "distance": "distance"}
# How much the search limit grows each time it settles too few stations;
# after a few rounds the search runs unbounded, so it always ends.
_LIMIT_GROWTH = 2.0
_LIMIT_ROUNDS = 6


# --------------------------------------------------------------------------
# Snapping
# --------------------------------------------------------------------------


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


def snap_point(graph: RoadGraph, lon: float, lat: float,
               max_distance_m: float | None = None) -> Snap | None:
    """Snap a WGS-84 point to the nearest point on the nearest usable road.

    The point is projected onto each nearby road segment (not merely matched
    to the nearest node), so a station beside the middle of a long block
    snaps to the middle of that block.

    Parameters
    ----------
    graph : RoadGraph
        The mode's graph; only edges of its largest strongly connected
        component are candidates.
    lon, lat : float
        The point, WGS-84.
    max_distance_m : float, optional
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
    ax, ay = graph.geom_x[j] / _E7, graph.geom_y[j] / _E7
    bx, by = graph.geom_x[j + 1] / _E7, graph.geom_y[j + 1] / _E7
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
    ax = (graph.geom_x[segs] / _E7 - lon0) * kx
    ay = (graph.geom_y[segs] / _E7 - lat0) * ky
    bx = (graph.geom_x[segs + 1] / _E7 - lon0) * kx
    by = (graph.geom_y[segs + 1] / _E7 - lat0) * ky
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(den > 0, ((x - ax) * dx + (y - ay) * dy) / den, 0.0)
    s = np.clip(s, 0.0, 1.0)
    d = np.hypot(ax + s * dx - x, ay + s * dy - y)
    i = int(np.argmin(d))
    return float(d[i]), int(segs[i]), float(s[i])


# --------------------------------------------------------------------------
# Stations
# --------------------------------------------------------------------------


@dataclass
class StationIndex:
    """Stations prepared for routing on one graph: snapped, with filter codes.

    Build it with :func:`index_stations`; reuse it for every query against
    the same graph and station set.
    """

    mode: str | None
    ids: np.ndarray
    names: np.ndarray
    kinds: np.ndarray
    statuses: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    facility_bits: np.ndarray
    hours_code: np.ndarray
    hours: list[OpeningHours]
    edge: np.ndarray
    fraction: np.ndarray
    snap_m: np.ndarray
    snap_lon: np.ndarray
    snap_lat: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def unsnapped(self) -> list[str]:
        """Ids of stations too far from every road of the graph to be routed."""
        return [str(i) for i in self.ids[self.edge < 0]] if self.mode else []


def _facility_bits(values) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.uint32)
    for i, codes in enumerate(values):
        if isinstance(codes, str):  # a list stored as text ("toilet;drinking_water")
            codes = [c for c in codes.replace(";", ",").split(",") if c]
        elif not isinstance(codes, (list, tuple, set, np.ndarray)):
            continue  # None, NaN, pd.NA: no facilities recorded
        for code in codes:
            out[i] |= _FACILITY_BIT.get(str(code).strip(), np.uint32(0))
    return out


def _column(stations: pd.DataFrame, name: str, default="") -> pd.Series:
    if name in stations:
        return stations[name]
    return pd.Series([default] * len(stations), index=stations.index, dtype=object)


def _first_text(*values) -> str:
    for v in values:
        if isinstance(v, str) and v.strip():
            return v
    return ""


def index_stations(graph: RoadGraph | None, stations: pd.DataFrame) -> StationIndex:
    """Snap stations to a graph and encode their filters, once per station set.

    Parameters
    ----------
    graph : RoadGraph or None
        The mode's graph; None builds an index for estimates only.
    stations : DataFrame
        Canonical stations (``geo.registry.store.gpkg`` columns): ``id``, ``name``,
        ``kind``, ``lon``, ``lat`` (WGS-84), ``facilities`` (list of codes),
        ``opening_hours``/``opening_hours_osm`` and ``status``.

    Returns
    -------
    StationIndex
    """
    n = len(stations)
    lon = stations["lon"].to_numpy(float)
    lat = stations["lat"].to_numpy(float)
    # The normalised OSM string when the importer made one, else the text as written.
    hours_text = [_first_text(osm, raw) for osm, raw in zip(_column(stations, "opening_hours_osm", None),
                                                           _column(stations, "opening_hours", None))]
    uniq, code = np.unique(np.asarray(hours_text, dtype=str), return_inverse=True) if n else ([], np.zeros(0, int))
    hours = [parse_opening_hours(t) for t in uniq]
    edge = np.full(n, -1, dtype=np.int64)
    frac = np.zeros(n)
    snap_m = np.full(n, np.nan)
    slon, slat = np.full(n, np.nan), np.full(n, np.nan)
    if graph is not None:
        for i in range(n):
            if not (np.isfinite(lon[i]) and np.isfinite(lat[i])):
                continue
            sn = snap_point(graph, lon[i], lat[i])
            if sn is not None:
                edge[i], frac[i], snap_m[i], slon[i], slat[i] = sn.edge, sn.fraction, sn.distance_m, sn.lon, sn.lat
    statuses = _column(stations, "status", "open").fillna("open").astype(str).replace("", "open")
    return StationIndex(
        mode=graph.mode if graph is not None else None,
        ids=stations["id"].astype(str).to_numpy(), names=_column(stations, "name").fillna("").astype(str).to_numpy(),
        kinds=stations["kind"].astype(str).to_numpy(), statuses=statuses.to_numpy(), lon=lon, lat=lat,
        facility_bits=_facility_bits(list(_column(stations, "facilities", None))),
        hours_code=np.asarray(code, dtype=np.int64), hours=hours,
        edge=edge, fraction=frac, snap_m=snap_m, snap_lon=slon, snap_lat=slat)


def _fingerprint(stations: pd.DataFrame) -> str:
    cols = [c for c in ("id", "kind", "lon", "lat", "status", "facilities", "opening_hours",
                        "opening_hours_osm", "name") if c in stations]
    h = pd.util.hash_pandas_object(stations[cols].astype(str), index=False).to_numpy()
    return hashlib.sha1(h.tobytes()).hexdigest()


_ESTIMATE_INDEXES: dict[str, StationIndex] = {}


def station_index(graph: RoadGraph | None, stations: pd.DataFrame | StationIndex) -> StationIndex:
    """The :class:`StationIndex` of ``stations`` on ``graph``, built once and cached.

    The cache lives on the graph (or, for estimates, in this module) and is
    keyed by a hash of the stations' content, so an edited registry gets a
    fresh index and an unchanged one is never snapped twice.
    """
    if isinstance(stations, StationIndex):
        return stations
    key = _fingerprint(stations)
    cache = graph._station_indexes if graph is not None else _ESTIMATE_INDEXES
    if key not in cache:
        if len(cache) >= 8:
            cache.pop(next(iter(cache)))
        cache[key] = index_stations(graph, stations)
    return cache[key]


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------


def _as_list(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def _eligible(idx: StationIndex, kinds, facilities, statuses, open_only: bool,
              at: datetime | None) -> tuple[np.ndarray, np.ndarray]:
    """Mask of stations passing the filters, and open-now state (1 open, 0 closed, -1 unknown)."""
    mask = np.ones(len(idx), dtype=bool)
    kinds = _as_list(kinds)
    if kinds:
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError(f"未知图层 / unknown kind: {bad} (choose from {', '.join(KINDS)})")
        mask &= np.isin(idx.kinds, kinds)
    facilities = _as_list(facilities)
    if facilities:
        bad = [f for f in facilities if f not in FACILITIES]
        if bad:
            raise ValueError(f"未知设施 / unknown facility: {bad}")
        need = np.uint32(0)
        for f in facilities:
            need |= _FACILITY_BIT[f]
        mask &= (idx.facility_bits & need) == need
    statuses = _as_list(statuses)
    if statuses:
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise ValueError(f"未知状态 / unknown status: {bad}")
        mask &= np.isin(idx.statuses, statuses)
    # is_open is evaluated once per distinct opening-hours text, not per station.
    when = at if at is not None else datetime.now(ZoneInfo(settings.TIMEZONE))
    state_of = np.array([{True: 1, False: 0, None: -1}[is_open(h, when)] for h in idx.hours] or [-1], dtype=np.int8)
    state = state_of[idx.hours_code] if len(idx) else np.zeros(0, dtype=np.int8)
    if open_only:
        mask &= state != 0  # unknown hours count as open; the result says so
    return mask, state


# --------------------------------------------------------------------------
# Search and routes
# --------------------------------------------------------------------------


def _origin_exits(graph: RoadGraph, snap: Snap, weight: str) -> list[tuple[int, float, bool]]:
    """Ways off the origin's edge: ``(node, cost, towards_start)``, only in allowed directions."""
    e = snap.edge
    c = float(graph.edge_cost(weight)[e])
    exits = []
    if graph.edge_bwd[e]:
        exits.append((int(graph.edge_u[e]), snap.fraction * c, True))
    if graph.edge_fwd[e]:
        exits.append((int(graph.edge_v[e]), (1.0 - snap.fraction) * c, False))
    return exits


def _search(graph: RoadGraph, snap: Snap, weight: str, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """One bounded Dijkstra from the virtual origin; returns (dist, predecessors)."""
    exits = _origin_exits(graph, snap, weight)
    # The virtual row has two slots; a one-way edge fills both with its one
    # exit, as a duplicate arc changes nothing.
    (n1, w1, _), (n2, w2, _) = exits[0], exits[-1]
    matrix = graph.matrix(weight)
    slot = int(graph.csr_indptr[-1]) - 2
    # The virtual row is shared by every query on this graph: write it and
    # search under one lock so concurrent app sessions cannot interleave.
    with graph._lock:
        matrix.indices[slot], matrix.indices[slot + 1] = n1, n2
        matrix.data[slot], matrix.data[slot + 1] = w1, w2
        dist, pred = dijkstra(matrix, directed=True, indices=graph.n_nodes, limit=limit,
                              return_predecessors=True)
    return dist, pred


def _station_costs(graph: RoadGraph, idx: StationIndex, cand: np.ndarray, origin: Snap, weight: str,
                   dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cost of reaching each candidate station, and how: 0 via edge start, 1 via end, 2 along the origin's edge."""
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


def _initial_limit(graph: RoadGraph, idx: StationIndex, cand: np.ndarray, lon: float, lat: float,
                   k: int, weight: str) -> float:
    crow = haversine_m(lon, lat, idx.lon[cand], idx.lat[cand])
    kth = float(np.partition(crow, min(k, len(crow)) - 1)[min(k, len(crow)) - 1])
    # The k-th station as the crow flies, at the usual detour plus a margin:
    # usually enough to settle k stations in one search, and when it is not,
    # the limit grows; a generous first guess would settle many nodes for nothing.
    metres = 1.25 * settings.DETOUR_FACTOR * kth + 200.0
    if weight == "distance":
        return metres
    return metres / (settings.ESTIMATE_SPEED_KMH.get(graph.mode, 15.0) / 3.6)


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
    xs, ys = graph.geom_x[s:t] / _E7, graph.geom_y[s:t] / _E7
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
    return np.column_stack([graph.geom_x[pos] / _E7, graph.geom_y[pos] / _E7])


def _route(graph: RoadGraph, origin: Snap, st_edge: int, st_frac: float, how: int, pred: np.ndarray,
           weight: str) -> tuple[np.ndarray, float, float, list[str]]:
    """Geometry, length (m), duration (s) and main road names of one result's path."""
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
        exit_ = min((x for x in _origin_exits(graph, origin, weight) if x[0] == chain[0]), key=lambda x: x[1])
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


# --------------------------------------------------------------------------
# Public queries
# --------------------------------------------------------------------------


def _result(idx: StationIndex, i: int, state: np.ndarray) -> dict:
    s = int(state[i])
    return {"id": str(idx.ids[i]), "name": str(idx.names[i]), "kind": str(idx.kinds[i]),
            "lon": round(float(idx.lon[i]), 7), "lat": round(float(idx.lat[i]), 7),
            "open_now": None if s < 0 else bool(s)}


def _estimate(idx: StationIndex, cand: np.ndarray, lon: float, lat: float, k: int, mode: str,
              state: np.ndarray, note: str | None) -> list[dict]:
    crow = haversine_m(lon, lat, idx.lon[cand], idx.lat[cand])
    order = np.lexsort((idx.ids[cand], crow))[:k]
    speed = settings.ESTIMATE_SPEED_KMH[mode] / 3.6
    out = []
    for j in order:
        i = int(cand[j])
        dist = float(crow[j]) * settings.DETOUR_FACTOR
        res = {**_result(idx, i, state), "distance_m": round(dist, 1), "duration_s": round(dist / speed, 1),
               "method": "estimate", "label": settings.ESTIMATE_LABEL, "mode": mode, "route": None,
               "road_names": [], "snap_origin_m": None, "snap_station_m": None,
               "straight_m": round(float(crow[j]), 1), "detour_factor": settings.DETOUR_FACTOR}
        if note:
            res["note"] = note
        out.append(res)
    return out


def nearest_stations(lon: float, lat: float, stations: pd.DataFrame | StationIndex,
                     graph: RoadGraph | None = None, *, k: int = 5, by: str = "time",
                     kinds: str | Iterable[str] | None = None,
                     facilities: Iterable[str] | None = None,
                     at: datetime | None = None, open_only: bool = True,
                     statuses: Iterable[str] | None = ("open",),
                     crs: str = "wgs84", mode: str | None = None) -> list[dict]:
    """The k stations nearest to a point by road, nearest first.

    Parameters
    ----------
    lon, lat : float
        The origin, in ``crs``.
    stations : DataFrame or StationIndex
        Canonical stations (e.g. ``open_store().load()``), or an index from
        :func:`index_stations` to skip the cache look-up.
    graph : RoadGraph, optional
        The travel mode's graph. Without one the results are estimates.
    k : int
        How many stations.
    by : {"time", "distance"}
        Rank by travel time (default) or by road distance.
    kinds : str or iterable of str, optional
        Keep these layers only.
    facilities : iterable of str, optional
        Facility codes a station must all have.
    at : datetime, optional
        Moment for the opening-hours filter; default now in Asia/Shanghai.
    open_only : bool
        Drop stations closed at ``at``. Stations with unknown hours are kept
        and have ``open_now = None``.
    statuses : iterable of str, optional
        Registry statuses to keep (default only ``open``); None keeps all.
    crs : str
        Coordinate system of the origin (``wgs84``, ``gcj02``, ``bd09`` ...).
    mode : str, optional
        Travel mode of an estimate when no graph is given; default
        ``settings.ROUTING_DEFAULT_MODE``.

    Returns
    -------
    list of dict
        Each with ``id``, ``name``, ``kind``, ``lon``, ``lat``, ``distance_m``,
        ``duration_s``, ``method`` (``"network"`` or ``"estimate"``),
        ``label``, ``mode``, ``route`` (GeoJSON LineString in WGS-84 along
        the roads, or None for an estimate), ``road_names``,
        ``snap_origin_m``, ``snap_station_m`` and ``open_now``.
    """
    if by not in _WEIGHTS:
        raise ValueError(f"by must be 'time' or 'distance', not {by!r}")
    if k < 1:
        return []
    lon, lat = to_wgs84(lon, lat, crs)
    mode = graph.mode if graph is not None else (mode or settings.ROUTING_DEFAULT_MODE)
    if mode not in MODES:
        raise ValueError(f"未知出行方式 / unknown travel mode: {mode!r}")
    idx = station_index(graph, stations)
    if graph is not None and idx.mode != graph.mode:
        raise ValueError("the station index was built for another graph")
    mask, state = _eligible(idx, kinds, facilities, statuses, open_only, at)
    if graph is None:
        return _estimate(idx, np.flatnonzero(mask), lon, lat, k, mode, state, None)
    origin = snap_point(graph, lon, lat)
    if origin is None:
        note = (f"起点 {settings.SNAP_MAX_M:.0f} 米内没有可用道路 / no {mode} road within "
                f"{settings.SNAP_MAX_M:.0f} m of the origin")
        return _estimate(idx, np.flatnonzero(mask & np.isfinite(idx.lon)), lon, lat, k, mode, state, note)
    cand = np.flatnonzero(mask & (idx.edge >= 0))
    if len(cand) == 0:
        return []
    weight = _WEIGHTS[by]
    limit = _initial_limit(graph, idx, cand, lon, lat, k, weight)
    need = min(k, len(cand))
    for round_ in range(_LIMIT_ROUNDS + 1):
        if round_ == _LIMIT_ROUNDS:
            limit = np.inf
        dist, pred = _search(graph, origin, weight, limit)
        cost, how = _station_costs(graph, idx, cand, origin, weight, dist)
        if np.count_nonzero(cost <= limit) >= need or not np.isfinite(limit):
            break
        limit *= _LIMIT_GROWTH
    ok = np.flatnonzero(np.isfinite(cost))
    order = ok[np.lexsort((idx.ids[cand[ok]], cost[ok]))][:k]
    out = []
    for j in order:
        i = int(cand[j])
        line, length, duration, names = _route(graph, origin, int(idx.edge[i]), float(idx.fraction[i]),
                                               int(how[j]), pred, weight)
        out.append({**_result(idx, i, state),
                    "distance_m": round(length, 1), "duration_s": round(duration, 1),
                    "method": "network", "label": settings.NETWORK_LABEL, "mode": mode,
                    "route": {"type": "LineString", "coordinates": np.round(line, 7).tolist()},
                    "road_names": names, "snap_origin_m": round(origin.distance_m, 1),
                    "snap_station_m": round(float(idx.snap_m[i]), 1)})
    return out


def route_between(graph: RoadGraph, origin: tuple[float, float], destination: tuple[float, float],
                  by: str = "time") -> dict | None:
    """The road route between two WGS-84 points (both snapped to the graph).

    Returns
    -------
    dict or None
        ``distance_m``, ``duration_s``, ``route`` (GeoJSON), ``road_names``
        and both snap distances; None when either point is off the network
        or the destination cannot be reached.
    """
    dest = pd.DataFrame({"id": ["destination"], "name": [""], "kind": ["rest_station"],
                         "lon": [destination[0]], "lat": [destination[1]], "status": ["open"]})
    res = nearest_stations(origin[0], origin[1], index_stations(graph, dest), graph, k=1, by=by,
                           open_only=False, statuses=None)
    if not res or res[0]["method"] != "network":
        return None
    r = res[0]
    return {key: r[key] for key in ("distance_m", "duration_s", "route", "road_names",
                                    "snap_origin_m", "snap_station_m")}


def find_nearest(lon: float, lat: float, *, crs: str = "wgs84", kinds: Iterable[str] | None = None,
                 k: int = 5, mode: str | None = None, by: str = "time",
                 network: str | Path | None = None, facilities: Iterable[str] | None = None,
                 at: datetime | str | None = None, registry: str | Path | None = None) -> list[dict]:
    """The worker finder behind ``python -m geo nearest``: registry + cached network.

    Parameters
    ----------
    network : str or Path, optional
        Folder of graphs from ``python -m geo network build``. Default
        ``settings.NETWORK_DIR``; when that has no graph for the mode the
        results are estimates. A folder given explicitly must hold one.
    at : datetime or str, optional
        ISO 8601 moment; naive times are Asia/Shanghai.
    registry : str or Path, optional
        Registry GeoPackage (default ``settings.REGISTRY_PATH``).

    Other parameters are those of :func:`nearest_stations`.
    """
    from geo.registry.store.gpkg import open_store

    mode = mode or settings.ROUTING_DEFAULT_MODE
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError as exc:
            raise ValueError(f"无法识别的时间 / not an ISO 8601 time: {at!r}") from exc
    graph = None
    if network is not None:
        try:
            graph = load_graph(network, mode)
        except FileNotFoundError as exc:  # a folder asked for by name must hold the graph
            raise ValueError(str(exc)) from exc
    elif (settings.NETWORK_DIR / f"{mode}.npz").exists():
        graph = load_graph(settings.NETWORK_DIR, mode)
    stations = open_store(registry).load()
    return nearest_stations(lon, lat, stations, graph, k=k, by=by, kinds=kinds, facilities=facilities,
                            at=at, crs=crs, mode=mode)
