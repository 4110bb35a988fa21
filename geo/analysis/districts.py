"""The per-district table of a coverage run: shares, travel, stations and the largest gap."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.analysis.demand import Demand, region_districts
from geo.analysis.grid import Grid
from geo.core.regions import load_boundaries, locate


def _weighted_quantile(group: np.ndarray, values: np.ndarray, weights: np.ndarray, k: int,
                       q: float) -> np.ndarray:
    """Per group, the smallest value whose cumulative weight share reaches ``q``."""
    out = np.full(k, np.nan)
    ok = weights > 0
    group, values, weights = group[ok], values[ok], weights[ok]
    if not len(group):
        return out
    order = np.lexsort((values, group))
    g, v, w = group[order], values[order], weights[order]
    cum = np.cumsum(w)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    base = np.repeat(cum[starts] - w[starts], np.diff(np.r_[starts, len(g)]))
    tot = np.bincount(g, weights=w, minlength=k)
    share = (cum - base) / tot[g]
    hit = np.flatnonzero(share >= q - 1e-12)
    first = hit[np.r_[True, g[hit[1:]] != g[hit[:-1]]]]
    out[g[first]] = v[first]
    return out


def _positions(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each value in the sorted, distinct ``codes``; -1 where absent."""
    if not len(codes):
        return np.full(len(values), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(codes, values), len(codes) - 1)
    return np.where(codes[at] == values, at, -1).astype(np.int64)


def district_table(grid: Grid, travel: np.ndarray, covered: np.ndarray, demand: Demand,
                   stations: gpd.GeoDataFrame, rank_of_cell: np.ndarray, *,
                   reports: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per district of the region.

    Columns: ``adcode``, ``name``, ``city``, ``cells``, ``area_km2``,
    ``population`` (census, when a table was given), ``demand``, ``stations``
    (serving stations inside the district), ``stations_per_100k`` (when the
    population is known), ``covered_share_area``, ``covered_share_demand``,
    ``travel_mean`` and ``travel_p95`` (in the standard's unit, weighted by
    the demand in use and over the cells that can reach a station),
    ``unreachable_cells``, and the district's largest gap: ``largest_gap`` (its
    rank), ``largest_gap_km2`` and ``largest_gap_demand`` (its part inside
    the district).

    Parameters
    ----------
    grid
        The grid of the run.
    travel, covered
        Per cell: travel in the standard's unit, and whether it is within it.
    demand
        The run's demand.
    stations
        Serving stations (``lon``, ``lat``).
    rank_of_cell
        Each cell's gap rank (:func:`geo.analysis.gaps.gap_table`).
    reports
        Workers' open reports with their station's ``lon``/``lat``
        (:func:`geo.registry.reports.report_frame`): counted per district as
        ``open_reports`` (0 when not given).
    """
    bounds = load_boundaries("district").set_index("adcode")
    codes = region_districts(grid)
    k = len(codes)
    pos = {c: i for i, c in enumerate(codes)}
    g = _positions(np.asarray(codes, dtype=str), grid.district.astype(str))
    ok = g >= 0
    gi = g[ok]
    area = grid.area_km2[ok]
    dem = demand.values[ok]
    cov = covered[ok]
    tv = travel[ok]
    cells = np.bincount(gi, minlength=k)
    a_sum = np.bincount(gi, weights=area, minlength=k)
    d_sum = np.bincount(gi, weights=dem, minlength=k)
    a_cov = np.bincount(gi, weights=area * cov, minlength=k)
    d_cov = np.bincount(gi, weights=dem * cov, minlength=k)
    fin = np.isfinite(tv)
    w = np.where(fin, dem, 0.0)
    w_sum = np.bincount(gi, weights=w, minlength=k)
    t_mean = np.bincount(gi, weights=np.where(fin, tv, 0.0) * w, minlength=k) / np.where(w_sum > 0, w_sum, np.nan)
    t_p95 = _weighted_quantile(gi, np.where(fin, tv, 0.0), w, k, 0.95)
    unreach = np.bincount(gi, weights=~fin, minlength=k).astype(np.int64)

    st_count = np.zeros(k, dtype=np.int64)
    if len(stations):
        where = locate(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float))["adcode"]
        for code, cnt in where.dropna().value_counts().items():
            if code in pos:
                st_count[pos[code]] = int(cnt)
    open_reports = np.zeros(k, dtype=np.int64)
    if reports is not None and len(reports.dropna(subset=["lon", "lat"])):
        placed = reports.dropna(subset=["lon", "lat"])
        where = locate(placed["lon"].to_numpy(float), placed["lat"].to_numpy(float))["adcode"]
        for code, cnt in where.dropna().value_counts().items():
            if code in pos:
                open_reports[pos[code]] = int(cnt)
    pop = demand.district_population
    population = np.array([pop.get(c, np.nan) if pop else np.nan for c in codes], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_100k = np.where(population > 0, st_count / population * 1e5, np.nan)
        share_a = np.where(a_sum > 0, a_cov / a_sum, np.nan)
        share_d = np.where(d_sum > 0, d_cov / d_sum, np.nan)

    lg_rank = np.zeros(k, dtype=np.int64)
    lg_area = np.zeros(k)
    lg_dem = np.zeros(k)
    in_gap = ok & (rank_of_cell > 0)
    if in_gap.any():
        gg, rr = g[in_gap], rank_of_cell[in_gap]
        key = gg * (int(rr.max()) + 1) + rr
        ukey, inv = np.unique(key, return_inverse=True)
        ka = np.bincount(inv, weights=grid.area_km2[in_gap])
        kd = np.bincount(inv, weights=demand.values[in_gap])
        kg, kr = ukey // (int(rr.max()) + 1), ukey % (int(rr.max()) + 1)
        # Per district the gap with most demand inside it; by area when demand ties.
        order = np.lexsort((kr, -ka, -kd, kg))
        first = order[np.r_[True, kg[order][1:] != kg[order][:-1]]]
        lg_rank[kg[first]], lg_area[kg[first]], lg_dem[kg[first]] = kr[first], ka[first], kd[first]

    names = [str(bounds.at[c, "name"]) if c in bounds.index else "" for c in codes]
    cities = [str(bounds.at[c, "city"]) if c in bounds.index else "" for c in codes]
    return pd.DataFrame({
        "adcode": codes, "name": names, "city": cities, "cells": cells, "area_km2": a_sum,
        "population": population, "demand": d_sum, "stations": st_count, "stations_per_100k": per_100k,
        "covered_share_area": share_a, "covered_share_demand": share_d, "travel_mean": t_mean,
        "travel_p95": t_p95, "unreachable_cells": unreach, "largest_gap": lg_rank,
        "largest_gap_km2": lg_area, "largest_gap_demand": lg_dem, "open_reports": open_reports})
