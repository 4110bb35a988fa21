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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

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
from geo.routing.network import RoadGraph, resolve_graph

_METHODS = ("network", "estimate", "unreachable")


@dataclass
class CoverageResult:
    """Everything a coverage run found.

    Attributes
    ----------
    region : Region
    standard : Standard
    method : str
        ``"network"`` or ``"estimate"`` (see ``method_cells`` for a mix).
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
        Cells per method (``network``, ``estimate``, ``unreachable``).
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
            "label": settings.NETWORK_LABEL if self.method == "network" else settings.ESTIMATE_LABEL,
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
        if len(self.stations) and "is_sample" in self.stations and \
                self.stations["is_sample"].fillna(False).astype(bool).any():
            out["notice"] = settings.SAMPLE_LABEL
        return out


# --------------------------------------------------------------------------
# Stations and graphs
# --------------------------------------------------------------------------


def _load_stations(registry: str | Path | None, std: Standard, statuses: Iterable[str]) -> gpd.GeoDataFrame:
    from geo.registry.store import open_store

    if registry is not None and not Path(registry).exists():
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


def _resolve_graph(network, mode: str) -> RoadGraph | None:
    """None/False/'none' -> no graph (None only when settings.network_dir() lacks one); a folder -> its mode graph."""
    if network is False or (isinstance(network, str) and network.lower() in ("none", "off", "estimate")):
        return None
    if isinstance(network, RoadGraph):
        return network
    # A folder asked for by name must hold the graph; the default one may lack it (then estimate).
    return resolve_graph(mode, directory=network, missing_ok=network is None)


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def _travel_to_stations(grid: Grid, st: gpd.GeoDataFrame, std: Standard,
                        graph: RoadGraph | None) -> tuple[Travel, str, list[str]]:
    """Travel from every cell to its nearest station, the run's method and notes on what the network missed."""
    st_lon, st_lat = st["lon"].to_numpy(float), st["lat"].to_numpy(float)
    notes: list[str] = []
    if graph is None:
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
        off = int((~ctx.cell_snaps.ok).sum())
        if off:
            notes.append(f"{off} 个格网距路网超过 {settings.SNAP_MAX_M:.0f} 米（{settings.COVERAGE_OFF_NETWORK}） / "
                         f"{off} cell(s) lie over {settings.SNAP_MAX_M:.0f} m from the network "
                         f"({settings.COVERAGE_OFF_NETWORK})")
    if not len(st):
        notes.append("没有符合条件的站点 / no station of the chosen kinds and statuses")
    return trav, method, notes


def coverage(region: str | Region, kinds: str | Iterable[str] | None = None, *, mode: str | None = None,
             minutes: float | None = None, meters: float | None = None,
             res: int = settings.COVERAGE_DEFAULT_RES, network: RoadGraph | str | Path | bool | None = None,
             demand: DemandSource | None = None, stations: pd.DataFrame | None = None,
             registry: str | Path | None = None,
             statuses: Iterable[str] = settings.COVERAGE_STATUSES) -> CoverageResult:
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

    Returns
    -------
    CoverageResult
        Stations outside the region serve it too (a worker at a border
        crosses it); only those inside a district are counted in its row.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    reg = as_region(region)
    std = service_standard(kinds, mode=mode, minutes=minutes, meters=meters)
    statuses = tuple(statuses or ())
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise ValueError(f"未知状态 / unknown status: {bad}")
    grid = hex_grid(reg, res)
    timings["grid_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    st = filter_stations(stations if stations is not None else _load_stations(registry, std, statuses),
                         std, statuses)
    graph = _resolve_graph(network, std.mode)
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
    districts = district_table(grid, trav.value, covered, dem, st, rank_of_cell)
    timings["districts_s"] = time.perf_counter() - t

    t = time.perf_counter()
    ids = st["id"].astype(str).to_numpy() if len(st) else np.array([], dtype=object)
    station_id = np.where(trav.station >= 0, ids[np.maximum(trav.station, 0)] if len(ids) else "", None)
    cells = gpd.GeoDataFrame({
        "h3": grid.h3, "district": grid.district, "lon": grid.lon, "lat": grid.lat,
        "area_km2": grid.area_km2, "demand": dem.values, "travel": trav.value, "covered": covered,
        "station_id": station_id, "method": np.asarray(_METHODS, dtype=object)[trav.method],
        "gap": rank_of_cell}, geometry=grid.hexagons, crs="EPSG:4326")
    counts = np.bincount(trav.method, minlength=3)
    timings["cells_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    return CoverageResult(
        region=reg, standard=std, method=method, resolution=res, covered_share_area=share_area,
        covered_share_demand=share_demand, cells=cells, districts=districts, gap_table=gap_df, stations=st,
        demand=dem, method_cells={m: int(c) for m, c in zip(_METHODS, counts)}, notes=notes,
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
    factor = estimate_factor(std)
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
