"""Planner coverage: where workers are beyond reach of a station, by district.

A run (:func:`coverage`) has four steps (design and choices: docs/coverage.md):

1. **Grid.** The region is cut into H3 cells (:mod:`geo.analysis.grid`).
2. **Travel.** For every cell, the travel time or distance to the nearest
   open station of the chosen kinds under a :class:`~geo.analysis.standard.Standard`,
   on the road network or by estimate (:mod:`geo.analysis.travel`).
3. **Demand** per cell: area, county population, a raster or points
   (:mod:`geo.analysis.demand`).
4. **Summaries**: coverage shares, the per-district table
   (:mod:`geo.analysis.districts`), gap clusters (:mod:`geo.analysis.gaps`)
   and, on request, service areas (:func:`service_areas`).

Layers of a result are written by :mod:`geo.analysis.export`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo import settings
from geo.analysis.demand import Demand, DemandSource, build_demand
from geo.analysis.districts import district_table
from geo.analysis.gaps import dissolve_cells, gap_geometries, gap_labels, gap_table
from geo.analysis.grid import Grid, as_region, hex_grid
from geo.analysis.serialize import json_number, json_records
from geo.analysis.standard import Standard, service_standard
from geo.analysis.travel import (NetworkContext, Travel, cells_from_nodes, estimate_factor, nearest_estimate,
                                 nearest_network)
from geo.core import geodesy
from geo.core.crs import haversine_m
from geo.core.regions import Region
from geo.core.schema import STATUSES
from geo.registry.reports import REPORT_COLUMNS, NotServingRule, drop_not_serving, report_frame, since_iso
from geo.routing.network import RoadGraph, resolve_graph

#: How a cell's travel was found; ``Travel.method`` codes 0-2 come from the
#: travel engine, 3 is a straight-line service radius (never mixed with the others).
_METHODS = ("network", "estimate", "unreachable", "radius")
#: What a run may be asked to use (``coverage(method=...)``, ``--method``).
METHODS = ("auto", "network", "estimate", "radius")
_MIX_LABELS = {"network": ("路网", "road network"), "estimate": ("估算", "estimate"),
               "unreachable": ("不可达", "unreachable"), "radius": ("直线半径", "straight-line radius")}


def _share_text(share: float) -> str:
    # A non-zero share never reads as 0 %, nor a partial one as 100 %.
    pct = 100.0 * share
    if 0 < pct < 1:
        return "<1 %"
    if 99 < pct < 100:
        return ">99 %"
    return f"{pct:.0f} %"


def method_mix(method_cells: dict) -> dict[str, float]:
    """The share of cells by method, largest first; methods without cells are left out.

    Parameters
    ----------
    method_cells
        Cells per method (``CoverageResult.method_cells``).

    Returns
    -------
    dict
        ``{method: share in [0, 1]}``, e.g. ``{"estimate": 0.91, "network": 0.09}``.
    """
    total = sum(int(v) for v in method_cells.values())
    if total <= 0:
        return {}
    shares = {m: int(n) / total for m, n in method_cells.items() if int(n) > 0}
    return dict(sorted(shares.items(), key=lambda kv: (-kv[1], _METHODS.index(kv[0]))))


def method_mix_label(method_cells: dict) -> str:
    """What a run really used, in both languages: ``路网 9 %，估算 91 % / road network 9 %, estimate 91 %``.

    The largest share comes first, so a run whose cells were mostly
    estimated never opens with "road network".

    Parameters
    ----------
    method_cells
        Cells per method (``CoverageResult.method_cells``).
    """
    mix = method_mix(method_cells)
    if not mix:
        return "无格网 / no cells"
    zh = "，".join(f"{_MIX_LABELS[m][0]} {_share_text(v)}" for m, v in mix.items())
    en = ", ".join(f"{_MIX_LABELS[m][1]} {_share_text(v)}" for m, v in mix.items())
    return f"{zh} / {en}"


def off_network_note(cells: int) -> str:
    """The note on cells too far from the roads: the same figure the page's banner shows.

    Parameters
    ----------
    cells
        ``CoverageResult.off_network_cells``.
    """
    return (f"{cells} 个格网距路网超过 {settings.SNAP_MAX_M:.0f} 米（{settings.COVERAGE_OFF_NETWORK}） / "
            f"{cells} cell(s) lie over {settings.SNAP_MAX_M:.0f} m from the network "
            f"({settings.COVERAGE_OFF_NETWORK})")


@dataclass
class CoverageResult:
    """Everything a coverage run found.

    Attributes
    ----------
    region : Region
    standard : Standard
    method : str
        What the run used: ``"network"`` (a road graph; cells off it are
        estimated, see ``method_cells`` for the mix), ``"estimate"`` (great
        circle x detour factor) or ``"radius"`` (straight-line service radius).
    resolution : int
    covered_share_area, covered_share_demand : float
        Covered area / all area, covered demand / all demand, in [0, 1].
    cells : GeoDataFrame
        One hexagon per cell: ``h3``, ``district``, ``lon``, ``lat``,
        ``area_km2``, ``demand``, ``travel`` (standard unit; inf when no
        station is reachable), ``covered``, ``station_id``, ``method``, ``gap``
        (rank of the cell's gap, 0 when covered).
    districts : DataFrame
        One row per district of the region (see :func:`geo.analysis.districts.district_table`).
    gap_table : DataFrame
        Connected uncovered cells ranked by demand (``gap`` 1 = most
        demand): ``cells``, ``area_km2``, ``demand``, centroid ``lon``/``lat``,
        main ``district`` and all ``districts`` it spans,
        ``station_distance_m`` (centroid to the nearest serving station, great
        circle) and ``travel_max``. :attr:`gaps` adds the dissolved polygons.
    stations : GeoDataFrame
        The stations that served (chosen kinds and statuses).
    demand : Demand
    method_cells : dict
        Cells per method (``network``, ``estimate``, ``unreachable``, ``radius``).
    off_network_cells : int
        Cells farther than ``settings.SNAP_MAX_M`` from every road of the
        graph (0 without one): counted once here, for the notes and the page.
    notes : list of str
    timings : dict
        Seconds per step.
    grid : Grid
        The grid of the run.
    travel : Travel
        Travel from every cell to its nearest station; on a road network
        its ``context`` holds what service areas and siting reuse.
    """

    region: Region
    standard: Standard
    method: str
    resolution: int
    covered_share_area: float
    covered_share_demand: float
    cells: gpd.GeoDataFrame
    districts: pd.DataFrame
    gap_table: pd.DataFrame
    stations: gpd.GeoDataFrame
    demand: Demand
    method_cells: dict
    off_network_cells: int = 0
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    grid: Grid | None = field(default=None, repr=False)
    travel: Travel | None = field(default=None, repr=False)
    _gap_geoms: dict = field(default_factory=dict, repr=False)

    def gap_geometries(self, top: int | None = None) -> np.ndarray:
        """Dissolved polygons of the ``top`` largest gaps (all by default), built once each.

        Dissolving is the costliest part of a run on a big grid (a gap of
        a million res-9 cells takes seconds), so it happens on demand.
        """
        n = len(self.gap_table) if top is None else min(int(top), len(self.gap_table))
        need = [r for r in range(1, n + 1) if r not in self._gap_geoms]
        if need and self.grid is not None:
            rank = self.cells["gap"].to_numpy()
            self._gap_geoms.update(gap_geometries(self.grid, rank, max(need)))
        return np.array([self._gap_geoms.get(r) for r in range(1, n + 1)], dtype=object)

    @property
    def method_label(self) -> str:
        """The share of cells by method, both languages (:func:`method_mix_label`)."""
        return method_mix_label(self.method_cells)

    @property
    def sample(self) -> bool:
        """Whether sample stations (示例数据) served in this run."""
        st = self.stations
        return bool(len(st) and "is_sample" in st and st["is_sample"].fillna(False).astype(bool).any())

    @property
    def gaps(self) -> gpd.GeoDataFrame:
        """The gap table with each gap's dissolved (multi)polygon, largest demand first."""
        return gpd.GeoDataFrame(self.gap_table.copy(), geometry=self.gap_geometries(), crs="EPSG:4326")

    def to_dict(self, max_gaps: int | None = settings.COVERAGE_MAX_GAPS) -> dict:
        """The JSON summary of ``python -m geo coverage --json``."""
        gaps = self.gap_table
        listed = gaps if max_gaps is None else gaps.head(max_gaps)
        out = {
            "region": {"adcode": self.region.adcode, "name": self.region.name, "level": self.region.level},
            "standard": self.standard.to_dict(),
            "method": self.method,
            "label": self.method_label,
            "method_share": {m: round(v, 6) for m, v in method_mix(self.method_cells).items()},
            "off_network_cells": int(self.off_network_cells),
            "resolution": self.resolution,
            "cells": int(len(self.cells)),
            "method_cells": dict(self.method_cells),
            "area_km2": json_number(self.cells["area_km2"].sum(), 3),
            "covered_share_area": json_number(self.covered_share_area, 6),
            "covered_share_demand": json_number(self.covered_share_demand, 6),
            "demand": self.demand.to_dict(),
            "stations": int(len(self.stations)),
            "stations_in_region": int(self.districts["stations"].sum()),
            "districts": json_records(self.districts),
            "gaps_total": int(len(self.gap_table)),
            "gaps": json_records(listed),
            "notes": list(self.notes),
        }
        if self.sample:
            out["notice"] = settings.SAMPLE_LABEL
        return out


# --------------------------------------------------------------------------
# Stations and graphs
# --------------------------------------------------------------------------


def _load_stations(registry: str | Path | None, std: Standard, statuses: Iterable[str]) -> gpd.GeoDataFrame:
    from geo.registry.store import open_store
    from geo.registry.store.pg import is_database_url

    if registry is not None and not is_database_url(registry) and not Path(registry).exists():
        # Reading must not create an empty registry at a mistyped path.
        raise ValueError(f"登记库不存在 / registry not found: {registry}")
    return open_store(registry).load(kinds=list(std.kinds), statuses=list(statuses))


def filter_stations(stations: pd.DataFrame, std: Standard, statuses: Iterable[str]) -> gpd.GeoDataFrame:
    """The stations that serve under a standard: its kinds, the given statuses, a finite position.

    Parameters
    ----------
    stations
        Canonical stations (a missing or empty status counts as ``open``).
    std
        The standard whose kinds serve.
    statuses
        Statuses that serve; empty keeps every status.

    Returns
    -------
    GeoDataFrame
        WGS-84 points, index reset.
    """
    st = stations
    if "kind" in st:
        st = st[st["kind"].isin(std.kinds)]
    if "status" in st and statuses:
        st = st[st["status"].fillna("open").replace("", "open").isin(list(statuses))]
    st = st[np.isfinite(st["lon"].to_numpy(float)) & np.isfinite(st["lat"].to_numpy(float))]
    if not isinstance(st, gpd.GeoDataFrame):
        st = gpd.GeoDataFrame(st, geometry=gpd.points_from_xy(st["lon"], st["lat"]), crs="EPSG:4326")
    return st.reset_index(drop=True)


def _resolve_graph(network, mode: str, method: str = "auto") -> RoadGraph | None:
    """None/False/'none' -> no graph (None only when settings.network_dir() lacks one); a folder -> its mode graph.

    ``method="network"`` needs a graph (an error says so); ``estimate`` and
    ``radius`` never use one.
    """
    if method in ("estimate", "radius"):
        return None
    if network is False or (isinstance(network, str) and network.lower() in ("none", "off", "estimate")):
        if method == "network":
            raise ValueError("要求按路网计算，但未给路网 / --method network needs a road network (--network DIR)")
        return None
    if isinstance(network, RoadGraph):
        return network
    # A folder asked for by name must hold the graph; the default one may lack it (then estimate).
    return resolve_graph(mode, directory=network, missing_ok=network is None and method != "network")


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def straight_line_nearest(lon: np.ndarray, lat: np.ndarray, st_lon: np.ndarray,
                          st_lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Great-circle metres to the nearest station, no detour: the straight-line service radius.

    Returns
    -------
    (value, station)
        Metres (``inf`` without stations) and the nearest station's index (-1 without).
    """
    if not len(st_lon):
        return np.full(len(lon), np.inf), np.full(len(lon), -1, dtype=np.int64)
    chord, idx = cKDTree(geodesy.xyz(st_lon, st_lat)).query(geodesy.xyz(lon, lat), k=1)
    return geodesy.chord_to_m(chord), idx.astype(np.int64)


def off_network_cells(travel: Travel) -> int:
    """Cells farther than ``settings.SNAP_MAX_M`` from every road of the run's graph (0 without a graph).

    The one count of "cells beyond 3 km of a road": the run's note and the
    page's banner both read it from here (through the result).

    Parameters
    ----------
    travel
        The run's travel (its ``context`` holds the cells' snaps).
    """
    ctx = travel.context
    return 0 if ctx is None else int((~ctx.cell_snaps.ok).sum())


def _travel_to_stations(grid: Grid, st: gpd.GeoDataFrame, std: Standard,
                        graph: RoadGraph | None) -> tuple[Travel, str, list[str]]:
    """Travel from every cell to its nearest station, the run's method and notes on what the network missed."""
    st_lon, st_lat = st["lon"].to_numpy(float), st["lat"].to_numpy(float)
    notes: list[str] = []
    if std.radius:
        value, who = straight_line_nearest(grid.lon, grid.lat, st_lon, st_lat)
        trav = Travel(value=value, station=who, method=np.full(len(grid.cells), 3, dtype=np.int8))
        method = "radius"
    elif graph is None:
        value, who = nearest_estimate(grid.lon, grid.lat, st_lon, st_lat, std)
        trav = Travel(value=value, station=who, method=np.ones(len(grid.cells), dtype=np.int8))
        method = "estimate"
    else:
        trav = nearest_network(graph, grid.lon, grid.lat, st_lon, st_lat, std)
        method = "network"
        ctx = trav.context
        unsnapped = len(st) - len(ctx.st_rows)
        if unsnapped:
            notes.append(f"{unsnapped} 个站点距路网超过 {settings.SNAP_MAX_M:.0f} 米，按估算到达 / {unsnapped} "
                         f"station(s) lie over {settings.SNAP_MAX_M:.0f} m from the {std.mode} network and are "
                         f"reached by estimate")
        off = off_network_cells(trav)
        if off:
            notes.append(off_network_note(off))
    if not len(st):
        notes.append("没有符合条件的站点 / no station of the chosen kinds and statuses")
    return trav, method, notes


def _open_reports(registry: str | Path | None, std: Standard, *, read: bool,
                  days: float) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Workers' open reports of the last ``days`` in the run's registry, and those on the standard's kinds
    placed at their stations (for the district table)."""
    from geo.registry.store import open_store

    location = str(registry or settings.registry_location())
    if not read or ("://" not in location and not Path(location).exists()):
        return pd.DataFrame(columns=REPORT_COLUMNS), None
    store = open_store(location)
    found = store.reports(statuses=["open"], since=since_iso(days))
    if found.empty:  # the usual case: no second read of the stations
        return found, None
    placed = report_frame(found, store.load(kinds=list(std.kinds)))
    return found, placed[placed["kind"].isin(std.kinds)]


def coverage(region: str | Region, kinds: str | Iterable[str] | None = None, *, mode: str | None = None,
             minutes: float | None = None, meters: float | None = None,
             res: int = settings.COVERAGE_DEFAULT_RES, network: RoadGraph | str | Path | bool | None = None,
             demand: DemandSource | None = None, stations: pd.DataFrame | None = None,
             registry: str | Path | None = None,
             statuses: Iterable[str] = settings.COVERAGE_STATUSES, method: str = "auto",
             not_serving: NotServingRule | None = None) -> CoverageResult:
    """Coverage of a region by the open stations of some kinds.

    Parameters
    ----------
    region : str or Region
        Province, city or district, by adcode or name.
    kinds : str or iterable of str, optional
        Station kinds that serve; default ``settings.COVERAGE_DEFAULT_KINDS``.
    mode, minutes, meters
        The service standard (:func:`service_standard`); defaults from
        ``settings.COVERAGE_STANDARDS``.
    res : int
        H3 resolution (7-9).
    network : RoadGraph, str, Path, bool or None
        A graph, or a folder of graphs (the mode's is loaded). ``None`` uses
        ``settings.network_dir()`` when it holds the mode's graph, else
        estimates; ``False`` (or ``"none"``) always estimates.
    demand : DemandSource, optional
        A county population table, demand points or a population raster;
        default demand by area.
    stations : DataFrame, optional
        Stations to use instead of the registry (e.g. with planned sites);
        filtered by ``kinds`` and ``statuses`` all the same.
    registry : str or Path, optional
        Registry GeoPackage; default ``settings.registry_path()``.
    statuses : iterable of str
        Statuses of serving stations; default ``("open",)``.
    method : {"auto", "network", "estimate", "radius"}
        ``auto``: the road network when one is found, else the estimate;
        ``network``: the road network or an error; ``estimate``: great
        circle x ``settings.DETOUR_FACTOR``; ``radius``: a straight-line
        service radius in ``meters`` (no roads, no detour).
    not_serving : NotServingRule, optional
        Leave out stations that workers' unresolved reports say are closed
        or gone (:mod:`geo.registry.reports`); off by default, stated in the
        standard when on.

    Returns
    -------
    CoverageResult
        Stations outside the region serve it too (a worker at a border
        crosses it); only those inside a district are counted in its row.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    reg = as_region(region)
    if method not in METHODS:
        raise ValueError(f"未知方法 / unknown method: {method!r} (choose from {', '.join(METHODS)})")
    std = service_standard(kinds, mode=mode, minutes=minutes, meters=meters, radius=method == "radius")
    statuses = tuple(statuses or ())
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise ValueError(f"未知状态 / unknown status: {bad}")
    grid = hex_grid(reg, res)
    timings["grid_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    st = filter_stations(stations if stations is not None else _load_stations(registry, std, statuses),
                         std, statuses)
    reports = _open_reports(registry, std, read=stations is None or registry is not None,
                            days=not_serving.days if not_serving else settings.REPORT_NOT_SERVING_DAYS)
    if not_serving is not None:
        std = replace(std, not_serving=not_serving)
        st = drop_not_serving(st, reports[0], not_serving).reset_index(drop=True)
    graph = _resolve_graph(network, std.mode, method)
    timings["load_s"] = time.perf_counter() - t

    t = time.perf_counter()
    trav, method, notes = _travel_to_stations(grid, st, std, graph)
    timings["travel_s"] = time.perf_counter() - t

    t = time.perf_counter()
    dem = build_demand(grid, demand)
    notes.extend(dem.notes)
    timings["demand_s"] = time.perf_counter() - t

    t = time.perf_counter()
    covered = trav.value <= std.threshold
    area_total = float(grid.area_km2.sum())
    share_area = float(grid.area_km2[covered].sum() / area_total) if area_total > 0 else 0.0
    dem_total = float(dem.values.sum())
    if dem_total > 0:
        share_demand = float(dem.values[covered].sum() / dem_total)
    else:
        share_demand = 0.0
        notes.append("区域内没有需求，需求覆盖率记为 0 / no demand inside the region; demand share set to 0")
    share_area, share_demand = min(max(share_area, 0.0), 1.0), min(max(share_demand, 0.0), 1.0)
    labels = gap_labels(grid, ~covered)
    gap_df, rank_of_cell = gap_table(grid, labels, dem.values, trav.value, st)
    timings["gaps_s"] = time.perf_counter() - t

    t = time.perf_counter()
    districts = district_table(grid, trav.value, covered, dem, st, rank_of_cell, reports=reports[1])
    timings["districts_s"] = time.perf_counter() - t

    t = time.perf_counter()
    ids = st["id"].astype(str).to_numpy() if len(st) else np.array([], dtype=object)
    station_id = np.where(trav.station >= 0, ids[np.maximum(trav.station, 0)] if len(ids) else "", None)
    cells = gpd.GeoDataFrame({
        "h3": grid.h3, "district": grid.district, "lon": grid.lon, "lat": grid.lat,
        "area_km2": grid.area_km2, "demand": dem.values, "travel": trav.value, "covered": covered,
        "station_id": station_id, "method": np.asarray(_METHODS, dtype=object)[trav.method],
        "gap": rank_of_cell}, geometry=grid.hexagons, crs="EPSG:4326")
    counts = np.bincount(trav.method, minlength=len(_METHODS))
    timings["cells_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    return CoverageResult(
        region=reg, standard=std, method=method, resolution=res, covered_share_area=share_area,
        covered_share_demand=share_demand, cells=cells, districts=districts, gap_table=gap_df, stations=st,
        demand=dem, method_cells={m: int(c) for m, c in zip(_METHODS, counts)},
        off_network_cells=off_network_cells(trav), notes=notes,
        timings={k: round(v, 4) for k, v in timings.items()}, grid=grid, travel=trav)


# --------------------------------------------------------------------------
# Service areas
# --------------------------------------------------------------------------


def service_areas(result: CoverageResult, station_ids: Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """Service areas (isochrones) of chosen stations: the cells within the standard of each.

    A station's service area is the set of the region's cells from which
    *that* station (not only the nearest) is within the threshold, dissolved
    into one (multi)polygon: by the same network costs as the coverage run
    (one bounded Dijkstra per station from its virtual node on the reversed
    graph, limited to the threshold), or by the estimate. Cells rather than
    a concave hull of reached nodes, so areas line up with the coverage map
    and never include unreachable pockets between roads.

    Parameters
    ----------
    result : CoverageResult
    station_ids : iterable of str, optional
        Default every serving station.

    Returns
    -------
    GeoDataFrame
        ``station_id``, ``name``, ``cells``, ``area_km2``, ``demand``,
        geometry (empty where no cell is within reach), in the order asked.
    """
    grid, trav, std, st = result.grid, result.travel, result.standard, result.stations
    if grid is None or trav is None:
        raise ValueError("this result carries no grid; run coverage() again")
    ids = st["id"].astype(str).tolist()
    wanted = ids if station_ids is None else [str(s) for s in station_ids]
    missing = [s for s in wanted if s not in ids]
    if missing:
        raise ValueError(f"站点不在本次分析中 / station(s) not among the serving stations: {', '.join(missing)}")
    row_of = {s: i for i, s in enumerate(ids)}
    demand = result.cells["demand"].to_numpy(float)
    factor = 1.0 if std.radius else estimate_factor(std)
    ctx: NetworkContext | None = trav.context
    records, geoms = [], []
    for sid in wanted:
        i = row_of[sid]
        slon, slat = float(st["lon"].iat[i]), float(st["lat"].iat[i])
        if ctx is None:
            radius = geodesy.m_to_chord(std.threshold / factor)
            members = np.asarray(grid.tree.query_ball_point(geodesy.xyz([slon], [slat])[0], radius), dtype=np.int64)
            members.sort()
            value = haversine_m(grid.lon[members], grid.lat[members], slon, slat) * factor
            members = members[value <= std.threshold]
        else:
            value = np.full(len(grid.cells), np.inf)
            virtual = np.flatnonzero(ctx.st_rows == i)
            snapped = ctx.cell_snaps.ok
            if len(virtual):
                j = int(virtual[0])
                limit = std.threshold / ctx.to_unit
                dist = dijkstra(ctx.matrix, directed=True, indices=ctx.graph.n_nodes + j, limit=limit)
                cost, _ = cells_from_nodes(ctx, dist, only=j)
                value = cost * ctx.to_unit
            # As in the coverage run: cells off the network by estimate (unless
            # they count as unreachable), and a station off it by estimate from
            # the cells on it.
            est = (~snapped if ctx.off_network == "estimate" else np.zeros(len(snapped), dtype=bool)) \
                | (snapped if not len(virtual) else np.zeros(len(snapped), dtype=bool))
            if est.any():
                e = haversine_m(grid.lon[est], grid.lat[est], slon, slat) * factor
                value[est] = np.minimum(value[est], e)
            members = np.flatnonzero(value <= std.threshold)
        geoms.append(dissolve_cells(grid, members) if len(members) else shapely.Polygon())
        records.append({"station_id": sid, "name": str(st["name"].iat[i]) if "name" in st else "",
                        "cells": int(len(members)), "area_km2": float(grid.area_km2[members].sum()),
                        "demand": float(demand[members].sum())})
    return gpd.GeoDataFrame(records, geometry=geoms, crs="EPSG:4326")
