"""Stations prepared for routing: snapped once per graph and station set, with their filters.

:func:`station_index` keeps one :class:`StationIndex` per graph and station
content; :func:`eligible` applies the finder's filters (layer, facilities,
status, open now) to it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo import settings
from geo.core.hours import OpeningHours, is_open, parse_opening_hours
from geo.core.schema import FACILITIES, KINDS, STATUSES
from geo.routing.network import RoadGraph
from geo.routing.snap import snap_point

_FACILITY_BIT = {code: np.uint32(1) << np.uint32(i) for i, code in enumerate(FACILITIES)}


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
    samples: np.ndarray | None = None

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


def facility_codes(bits: int) -> list[str]:
    """The facility codes of a station's bit set (:func:`index_stations`), in vocabulary order.

    Parameters
    ----------
    bits
        One entry of :attr:`StationIndex.facility_bits`.
    """
    return [code for code, bit in _FACILITY_BIT.items() if int(bits) & int(bit)]


def _column(stations: pd.DataFrame, name: str, default="") -> pd.Series:
    if name in stations:
        return stations[name]
    return pd.Series([default] * len(stations), index=stations.index, dtype=object)


def _first_text(*values) -> str:
    for v in values:
        if isinstance(v, str) and v.strip():
            return v
    return ""


def index_stations(graph: RoadGraph | None, stations: pd.DataFrame, *,
                   previous: StationIndex | None = None) -> StationIndex:
    """Snap stations to a graph and encode their filters, once per station set.

    Parameters
    ----------
    graph
        The mode's graph; None builds an index for estimates only.
    stations
        Canonical stations (``geo.registry.store.gpkg`` columns): ``id``, ``name``,
        ``kind``, ``lon``, ``lat`` (WGS-84), ``facilities`` (list of codes),
        ``opening_hours``/``opening_hours_osm`` and ``status``.
    previous
        An index of an earlier version of the stations on the same graph:
        a station at exactly the same position takes its snap from there
        instead of being snapped again.
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
        todo = np.arange(n)
        if previous is not None and len(previous):
            # After an edit almost every station is where it was, and snapping them all
            # again was most of a server's work per edit (0.1-1.4 s per mode for the
            # 3,000 sample stations; 25-144 ms with their snaps taken from here).
            at = _same_position(previous, lon, lat)
            kept = at >= 0
            for mine, theirs in ((edge, previous.edge), (frac, previous.fraction), (snap_m, previous.snap_m),
                                 (slon, previous.snap_lon), (slat, previous.snap_lat)):
                mine[kept] = theirs[at[kept]]
            todo = todo[~kept]
        for i in todo:
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
        edge=edge, fraction=frac, snap_m=snap_m, snap_lon=slon, snap_lat=slat,
        samples=_column(stations, "is_sample", False).fillna(False).astype(bool).to_numpy())


def _same_position(previous: StationIndex, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    # Row of ``previous`` at exactly each (lon, lat), or -1.
    where = {}
    for i, xy in enumerate(zip(previous.lon.tolist(), previous.lat.tolist())):
        where.setdefault(xy, i)
    return np.fromiter((where.get(xy, -1) for xy in zip(lon.tolist(), lat.tolist())), dtype=np.int64, count=len(lon))


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
    fresh index and an unchanged one is never snapped twice. A fresh index
    takes the snaps of unmoved stations from the newest one before it.

    Parameters
    ----------
    graph
        The mode's graph; None for estimates.
    stations
        Canonical stations, or an index, returned as it is.
    """
    if isinstance(stations, StationIndex):
        return stations
    key = _fingerprint(stations)
    cache = graph.station_indexes if graph is not None else _ESTIMATE_INDEXES
    if key not in cache:
        previous = cache[next(reversed(cache))] if cache else None
        if len(cache) >= 8:
            cache.pop(next(iter(cache)))
        cache[key] = index_stations(graph, stations, previous=previous)
    return cache[key]


def _as_list(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def _require_known(values: list[str], known, message: str, *, list_choices: bool = False) -> None:
    bad = [v for v in values if v not in known]
    if bad:
        raise ValueError(f"{message}: {bad}" + (f" (choose from {', '.join(known)})" if list_choices else ""))


def eligible(idx: StationIndex, *, kinds: str | Iterable[str] | None = None,
             facilities: Iterable[str] | None = None, statuses: Iterable[str] | None = ("open",),
             open_only: bool = True, at: datetime | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which stations pass the finder's filters, and whether each is open now.

    Parameters
    ----------
    idx
        The stations.
    kinds, facilities, statuses, open_only, at
        As in :func:`geo.routing.nearest.nearest_stations`.

    Returns
    -------
    tuple of ndarray
        The mask of stations passing, and each one's open-now state
        (1 open, 0 closed, -1 unknown hours).

    Raises
    ------
    ValueError
        For an unknown kind, facility or status.
    """
    mask = np.ones(len(idx), dtype=bool)
    kinds = _as_list(kinds)
    if kinds:
        _require_known(kinds, KINDS, "未知图层 / unknown kind", list_choices=True)
        mask &= np.isin(idx.kinds, kinds)
    facilities = _as_list(facilities)
    if facilities:
        _require_known(facilities, FACILITIES, "未知设施 / unknown facility")
        need = np.uint32(0)
        for f in facilities:
            need |= _FACILITY_BIT[f]
        mask &= (idx.facility_bits & need) == need
    statuses = _as_list(statuses)
    if statuses:
        _require_known(statuses, STATUSES, "未知状态 / unknown status")
        mask &= np.isin(idx.statuses, statuses)
    # is_open is evaluated once per distinct opening-hours text, not per station.
    when = at if at is not None else datetime.now(ZoneInfo(settings.TIMEZONE))
    state_of = np.array([{True: 1, False: 0, None: -1}[is_open(h, when)] for h in idx.hours] or [-1], dtype=np.int8)
    state = state_of[idx.hours_code] if len(idx) else np.zeros(0, dtype=np.int8)
    if open_only:
        mask &= state != 0  # unknown hours count as open; the result says so
    return mask, state
