"""The worker finder: the nearest open stations by real road routing.

A query runs in three steps:

1. **Snap.** The origin is moved to the nearest point on the nearest road of
   the mode's graph (:func:`geo.routing.snap.snap_point`). Stations are
   snapped the same way, once per station set
   (:func:`geo.routing.stations.station_index`).
2. **Search.** One Dijkstra from the origin that stops as soon as the k
   nearest eligible stations are proven
   (:func:`geo.routing.search.settle_stations`).
3. **Route.** The predecessor tree gives each result's path; its geometry
   follows every shape point of the roads, cut at both snapped ends
   (:func:`geo.routing.routes.station_routes`, all k at once).
4. **Off the road.** The stretches from the rider to the road (``access``)
   and from the road to the station (``egress``) are walked at
   :data:`geo.settings.OFF_ROAD_SPEED_KMH` whatever the mode, and are part
   of the result's distance and time (a card that left them out once said
   2.9 km for a trip that began 195 m from the road and ended 514 m short of
   the station). They are separate straight lines, so a map can draw them
   differently from the road part (``road_m``, ``road_s``).

Without a road network (or when the origin is off it) the results are
estimates: great-circle distance times :data:`geo.settings.DETOUR_FACTOR`,
travelled at a mode speed, labelled ``估算 / estimate`` and with no route.
"""
from __future__ import annotations

import threading
import weakref
from datetime import datetime
from pathlib import Path
from typing import Iterable
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo import settings
from geo.core.crs import haversine_m, to_wgs84
from geo.routing.network import MODES, RoadGraph, resolve_graph
from geo.routing.routes import station_routes
from geo.routing.search import settle_stations
from geo.routing.snap import snap_point
from geo.routing.stations import StationIndex, eligible, facility_codes, index_stations, station_index

_WEIGHTS = {"time": "time", "distance": "distance"}


def _as_key(values) -> tuple | None:
    if values is None:
        return None
    return (values,) if isinstance(values, str) else tuple(values)


def _eligible(idx: StationIndex, *, kinds, facilities, statuses, open_only: bool,
              at: datetime | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`geo.routing.stations.eligible`, kept per index, filters and minute of the week.

    Opening hours are read to the minute (:func:`geo.core.hours.is_open` looks
    at the weekday and the minute of the day in ``settings.TIMEZONE``), so
    every moment of one minute gets the same answer, and a query need not
    evaluate every station's hours again.
    """
    kinds, facilities, statuses = _as_key(kinds), _as_key(facilities), _as_key(statuses)
    when = at if at is not None else datetime.now(_TZ)
    local = when.replace(tzinfo=_TZ) if when.tzinfo is None else when.astimezone(_TZ)
    key = (id(idx), kinds, facilities, statuses, bool(open_only), local.weekday(), local.hour * 60 + local.minute)
    with _ELIGIBLE_LOCK:
        held = _ELIGIBLE.get(key)
        if held is not None and held[0]() is idx:
            return held[1], held[2]
    mask, state = eligible(idx, kinds=kinds, facilities=facilities, statuses=statuses, open_only=open_only, at=when)
    mask.setflags(write=False)
    state.setflags(write=False)
    with _ELIGIBLE_LOCK:
        if len(_ELIGIBLE) >= 256:
            _ELIGIBLE.clear()
        # Keyed by the index's id, checked by a weak reference: an index is not hashable, and ids are reused.
        _ELIGIBLE[key] = (weakref.ref(idx), mask, state)
    return mask, state


_TZ = ZoneInfo(settings.TIMEZONE)
_ELIGIBLE: dict[tuple, tuple] = {}
_ELIGIBLE_LOCK = threading.Lock()


def _result(idx: StationIndex, i: int, state: np.ndarray) -> dict:
    s = int(state[i])
    return {"id": str(idx.ids[i]), "name": str(idx.names[i]), "kind": str(idx.kinds[i]),
            "lon": round(float(idx.lon[i]), 7), "lat": round(float(idx.lat[i]), 7),
            "open_now": None if s < 0 else bool(s), "facilities": facility_codes(idx.facility_bits[i]),
            "is_sample": bool(idx.samples[i]) if idx.samples is not None else False}


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
               "road_m": None, "road_s": None, "access_m": None, "egress_m": None, "access": None, "egress": None,
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
    lon, lat
        The origin, in ``crs``.
    stations
        Canonical stations (e.g. ``open_store().load()``), or an index from
        :func:`geo.routing.stations.index_stations` to skip the cache look-up.
    graph
        The travel mode's graph. Without one the results are estimates.
    k
        How many stations.
    by : {"time", "distance"}
        Rank by travel time (default) or by road distance.
    kinds
        Keep these layers only.
    facilities
        Facility codes a station must all have.
    at
        Moment for the opening-hours filter; default now in Asia/Shanghai.
    open_only
        Drop stations closed at ``at``. Stations with unknown hours are kept
        and have ``open_now = None``.
    statuses
        Registry statuses to keep (default only ``open``); None keeps all.
    crs
        Coordinate system of the origin (``wgs84``, ``gcj02``, ``bd09`` ...).
    mode
        Travel mode of an estimate when no graph is given; default
        ``settings.ROUTING_DEFAULT_MODE``.

    Returns
    -------
    list of dict
        Each with ``id``, ``name``, ``kind``, ``lon``, ``lat``, ``distance_m``,
        ``duration_s``, ``method`` (``"network"`` or ``"estimate"``),
        ``label``, ``mode``, ``route`` (GeoJSON LineString in WGS-84 along
        the roads, or None for an estimate), ``road_names``,
        ``snap_origin_m``, ``snap_station_m``, ``open_now``,
        ``facilities`` (codes) and ``is_sample``. A routed
        result's ``distance_m`` and ``duration_s`` are door to door: the
        road part (``road_m``, ``road_s``) plus the walked stretches
        ``access`` (origin -> road) and ``egress`` (road -> station), each a
        GeoJSON LineString with its length in ``access_m`` and ``egress_m``
        (the same as ``snap_origin_m`` and ``snap_station_m``). Stations are
        ranked by that total; estimates have these fields as None.
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
    mask, state = _eligible(idx, kinds=kinds, facilities=facilities, statuses=statuses, open_only=open_only, at=at)
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
    # A station's own walk from the road can reorder stations close by road,
    # so the search settles and ranks them by the sum.
    walk = settings.OFF_ROAD_SPEED_KMH / 3.6
    egress = idx.snap_m[cand] / walk if weight == "time" else idx.snap_m[cand]
    cost, how, pred = settle_stations(graph, idx, cand, origin, lon=lon, lat=lat, k=k, weight=weight, extra=egress)
    total = cost + egress
    ok = np.flatnonzero(np.isfinite(cost))
    order = ok[np.lexsort((idx.ids[cand[ok]], total[ok]))][:k]
    chosen = cand[order]
    routes = station_routes(graph, origin, idx.edge[chosen], idx.fraction[chosen], how[order], pred,
                            weight=weight)
    # Every route, access and egress line rounded to 1e-7 degrees by one numpy call, then cut apart.
    ends = []
    for i, (line, _, _, _) in zip(chosen.tolist(), routes):
        ends.append([(lon, lat), line[0], line[-1], (float(idx.lon[i]), float(idx.lat[i]))])
    parts = [r[0] for r in routes]
    flat = np.round(np.concatenate(parts + [np.asarray(ends, dtype=float).reshape(-1, 2)]), 7).tolist()
    at_end = sum(len(p) for p in parts)
    out, start = [], 0
    for n, (i, (line, length, duration, names)) in enumerate(zip(chosen.tolist(), routes)):
        coords, start = flat[start:start + len(line)], start + len(line)
        four = flat[at_end + 4 * n:at_end + 4 * n + 4]
        access_m, egress_m = float(origin.distance_m), float(idx.snap_m[i])
        out.append({**_result(idx, i, state),
                    "distance_m": round(length + access_m + egress_m, 1),
                    "duration_s": round(duration + (access_m + egress_m) / walk, 1),
                    "method": "network", "label": settings.NETWORK_LABEL, "mode": mode,
                    "route": _geojson(coords), "road_names": names,
                    "snap_origin_m": round(access_m, 1), "snap_station_m": round(egress_m, 1),
                    "road_m": round(length, 1), "road_s": round(duration, 1),
                    "access_m": round(access_m, 1), "egress_m": round(egress_m, 1),
                    "access": _geojson(four[0:2]), "egress": _geojson(four[2:4])})
    return out


def _geojson(coords: list) -> dict:
    return {"type": "LineString", "coordinates": coords}


def route_between(graph: RoadGraph, origin: tuple[float, float], destination: tuple[float, float],
                  by: str = "time") -> dict | None:
    """The road route between two WGS-84 points (both snapped to the graph).

    Parameters
    ----------
    graph
        The travel mode's graph.
    origin, destination
        ``(lon, lat)``, WGS-84.
    by : {"time", "distance"}
        The route of least time (default) or least distance.

    Returns
    -------
    dict or None
        ``distance_m``, ``duration_s`` (both door to door, the walks to
        and from the road included), ``route`` (GeoJSON, the road part),
        ``road_names``, ``road_m``, ``road_s`` and both snap distances;
        None when either point is off the network or the destination
        cannot be reached.
    """
    dest = pd.DataFrame({"id": ["destination"], "name": [""], "kind": ["rest_station"],
                         "lon": [destination[0]], "lat": [destination[1]], "status": ["open"]})
    res = nearest_stations(origin[0], origin[1], index_stations(graph, dest), graph, k=1, by=by,
                           open_only=False, statuses=None)
    if not res or res[0]["method"] != "network":
        return None
    r = res[0]
    return {key: r[key] for key in ("distance_m", "duration_s", "route", "road_names", "road_m", "road_s",
                                    "snap_origin_m", "snap_station_m")}


def find_nearest(lon: float, lat: float, *, crs: str = "wgs84", kinds: Iterable[str] | None = None,
                 k: int = 5, mode: str | None = None, by: str = "time",
                 network: str | Path | None = None, facilities: Iterable[str] | None = None,
                 at: datetime | str | None = None, registry: str | Path | None = None) -> list[dict]:
    """The worker finder behind ``python -m geo nearest``: registry + cached network.

    Parameters
    ----------
    network
        Folder of graphs from ``python -m geo network build``. Default
        :func:`geo.settings.network_dir`; when that has no graph for the
        mode the results are estimates. A folder given explicitly must hold one.
    at
        ISO 8601 moment; naive times are Asia/Shanghai.
    registry
        Registry GeoPackage (default :func:`geo.settings.registry_path`).

    Other parameters are those of :func:`nearest_stations`.
    """
    from geo.registry.store import open_store

    mode = mode or settings.ROUTING_DEFAULT_MODE
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError as exc:
            raise ValueError(f"无法识别的时间 / not an ISO 8601 time: {at!r}") from exc
    # A folder asked for by name must hold the graph; the default one may lack it.
    graph = resolve_graph(mode, directory=network, missing_ok=network is None)
    stations = open_store(registry).load()
    return nearest_stations(lon, lat, stations, graph, k=k, by=by, kinds=kinds, facilities=facilities,
                            at=at, crs=crs, mode=mode)
