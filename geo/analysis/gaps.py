"""Gaps: connected cells beyond reach of every station, ranked by the demand they hold.

Uncovered cells that share an edge form one gap (:func:`gap_labels`); each
gap is summarised (:func:`gap_table`) and, on request, dissolved into one
(multi)polygon (:func:`gap_geometries`).
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.analysis.grid import Grid
from geo.core import geodesy


def gap_labels(grid: Grid, uncovered: np.ndarray) -> np.ndarray:
    """Component label of each uncovered cell (-1 for covered), by edge-sharing neighbours.

    Parameters
    ----------
    grid
        The grid of the run.
    uncovered
        Boolean mask over the grid's cells.
    """
    labels = np.full(len(grid.cells), -1, dtype=np.int64)
    idx = np.flatnonzero(uncovered)
    if not len(idx):
        return labels
    i, j = grid.neighbours
    both = uncovered[i] & uncovered[j]
    pos = np.full(len(grid.cells), -1, dtype=np.int64)
    pos[idx] = np.arange(len(idx))
    a, b = pos[i[both]], pos[j[both]]
    adj = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(len(idx), len(idx))).tocsr()
    _, lab = connected_components(adj, directed=False)
    labels[idx] = lab
    return labels


def gap_table(grid: Grid, labels: np.ndarray, demand: np.ndarray, travel: np.ndarray,
              stations: gpd.GeoDataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Gap statistics ranked by demand, and each cell's gap rank (0 = not in a gap).

    Parameters
    ----------
    grid
        The grid of the run.
    labels
        From :func:`gap_labels`.
    demand, travel
        Per cell, in grid order (travel in the standard's unit).
    stations
        Serving stations (``lon``, ``lat``), for each gap's distance to the nearest.

    Returns
    -------
    (table, rank_of_cell)
        The columns of :attr:`CoverageResult.gap_table`, most demand first;
        each cell's gap rank.
    """
    rank_of_cell = np.zeros(len(grid.cells), dtype=np.int64)
    idx = np.flatnonzero(labels >= 0)
    cols = ["gap", "cells", "area_km2", "demand", "lon", "lat", "district", "districts",
            "station_distance_m", "travel_max"]
    if not len(idx):
        return pd.DataFrame(columns=cols), rank_of_cell
    lab = labels[idx]
    k = int(lab.max()) + 1
    area = grid.area_km2[idx]
    ncells = np.bincount(lab, minlength=k)
    a_sum = np.bincount(lab, weights=area, minlength=k)
    d_sum = np.bincount(lab, weights=demand[idx], minlength=k)
    xyz = grid.xyz[idx] * area[:, None]
    cen = np.column_stack([np.bincount(lab, weights=xyz[:, q], minlength=k) for q in range(3)])
    cen /= np.linalg.norm(cen, axis=1, keepdims=True)
    c_lon = np.degrees(np.arctan2(cen[:, 1], cen[:, 0]))
    c_lat = np.degrees(np.arcsin(np.clip(cen[:, 2], -1, 1)))
    t = travel[idx]
    tmax = np.full(k, -np.inf)
    np.maximum.at(tmax, lab, t)
    first_cell = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(first_cell, lab, grid.cells[idx])
    # Main district: the one holding most of the gap's area.
    dcodes, dinv = np.unique(grid.district[idx].astype(str), return_inverse=True)
    pair = lab * len(dcodes) + dinv
    pa = np.bincount(pair, weights=area, minlength=k * len(dcodes)).reshape(k, len(dcodes))
    main = dcodes[pa.argmax(axis=1)]
    spans = [",".join(dcodes[np.flatnonzero(row > 0)]) for row in pa]
    if len(stations):
        st = cKDTree(geodesy.xyz(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float)))
        ch, _ = st.query(cen, k=1)
        sd = geodesy.chord_to_m(ch)
    else:
        sd = np.full(k, np.inf)
    # Most demand first; equal demand (e.g. zero) by area, then by first cell, for a stable order.
    order = np.lexsort((first_cell, -a_sum, -d_sum))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(1, k + 1)
    rank_of_cell[idx] = rank[lab]
    df = pd.DataFrame({"gap": rank[order], "cells": ncells[order], "area_km2": a_sum[order],
                       "demand": d_sum[order], "lon": c_lon[order], "lat": c_lat[order],
                       "district": main[order], "districts": np.asarray(spans, dtype=object)[order],
                       "station_distance_m": sd[order], "travel_max": tmax[order]})
    return df, rank_of_cell


def dissolve_cells(grid: Grid, members: np.ndarray) -> shapely.Geometry:
    """One (multi)polygon of some cells of a grid.

    Parameters
    ----------
    grid
        The grid.
    members
        Indexes of the cells (at least one).
    """
    hexes = grid.hexagons[members]
    if len(hexes) == 1:
        return hexes[0]
    # Neighbouring H3 boundaries share their vertices exactly, which is what
    # coverage_union needs; it is ~10x faster than a general union.
    out = shapely.coverage_union_all(hexes)
    if not shapely.is_valid(out):  # pragma: no cover - defensive
        out = shapely.union_all(hexes)
    return out


def gap_geometries(grid: Grid, rank_of_cell: np.ndarray, top: int) -> dict[int, shapely.Geometry]:
    """Rank -> dissolved polygon, for gaps 1..top.

    Parameters
    ----------
    grid, rank_of_cell
        The grid of the run and each cell's gap rank (:func:`gap_table`).
    top
        Highest rank to dissolve.
    """
    out: dict[int, shapely.Geometry] = {}
    idx = np.flatnonzero((rank_of_cell > 0) & (rank_of_cell <= top))
    if not len(idx):
        return out
    order = idx[np.argsort(rank_of_cell[idx], kind="stable")]
    r = rank_of_cell[order]
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts, ends):
        out[int(r[s])] = dissolve_cells(grid, order[s:e])
    return out


def gap_changes(before: np.ndarray, after: np.ndarray, *, area: np.ndarray, demand: np.ndarray) -> dict:
    """What new stations did to the gaps, in terms that read right when gaps split.

    Adding stations can raise the gap count (a gap with a new station in
    its middle falls apart into pieces), so a bare count looks worse after;
    this says what happened to each gap before and to the uncovered area
    and demand.

    Parameters
    ----------
    before, after
        Each cell's gap before and after, on the same grid: 0 = covered, any
        positive value names the cell's gap (a gap rank, or a
        :func:`gap_labels` label + 1).
    area, demand
        Per cell.

    Returns
    -------
    dict
        ``uncovered_area_km2_before``/``_after``, ``uncovered_demand_before``/
        ``_after``, ``gaps_before``, ``gaps_after``, ``gaps_closed`` (no cell
        left uncovered), ``gaps_split`` (left in two or more pieces),
        ``gaps_shrunk`` (smaller, still one piece), ``gaps_unchanged``.
    """
    before, after = np.asarray(before), np.asarray(after)
    area, demand = np.asarray(area, float), np.asarray(demand, float)
    was, now = before > 0, after > 0
    out = {"uncovered_area_km2_before": float(area[was].sum()), "uncovered_area_km2_after": float(area[now].sum()),
           "uncovered_demand_before": float(demand[was].sum()), "uncovered_demand_after": float(demand[now].sum()),
           "gaps_before": int(len(np.unique(before[was]))), "gaps_after": int(len(np.unique(after[now]))),
           "gaps_closed": 0, "gaps_split": 0, "gaps_shrunk": 0, "gaps_unchanged": 0}
    if not was.any():
        return out
    g = before[was]
    left = now[was]
    _, gi = np.unique(g, return_inverse=True)
    k = int(gi.max()) + 1
    size = np.bincount(gi, minlength=k)
    still = np.bincount(gi, weights=left.astype(float), minlength=k).astype(np.int64)
    # Distinct (old gap, new gap) pairs give the pieces each old gap left.
    pairs = np.unique(np.column_stack([gi[left], after[was][left]]), axis=0) if left.any() else np.zeros((0, 2))
    pieces = np.bincount(pairs[:, 0].astype(np.int64), minlength=k) if len(pairs) else np.zeros(k, dtype=np.int64)
    out["gaps_closed"] = int((still == 0).sum())
    out["gaps_split"] = int((pieces >= 2).sum())
    out["gaps_unchanged"] = int(((still == size) & (pieces == 1)).sum())
    out["gaps_shrunk"] = int(((still > 0) & (still < size) & (pieces == 1)).sum())
    return out


def gap_change_text(change: dict, *, unit: str = "") -> str:
    """:func:`gap_changes` in words, both languages, e.g. ``未覆盖面积 120.5 → 80.2 km²；... / uncovered area ...``.

    Parameters
    ----------
    change
        From :func:`gap_changes`.
    unit
        The demand's unit (``km²``, ``people`` ...); the demand sentence is
        left out when the demand is the area itself.
    """
    c = change
    zh = [f"未覆盖面积 {c['uncovered_area_km2_before']:,.1f} → {c['uncovered_area_km2_after']:,.1f} km²"]
    en = [f"uncovered area {c['uncovered_area_km2_before']:,.1f} → {c['uncovered_area_km2_after']:,.1f} km²"]
    if unit and unit != "km²":
        zh.append(f"未覆盖需求 {c['uncovered_demand_before']:,.0f} → {c['uncovered_demand_after']:,.0f} {unit}")
        en.append(f"uncovered demand {c['uncovered_demand_before']:,.0f} → {c['uncovered_demand_after']:,.0f} {unit}")
    zh.append(f"原有 {c['gaps_before']} 个缺口：{c['gaps_closed']} 个完全消除，{c['gaps_split']} 个被新站点分成几片，"
              f"{c['gaps_shrunk']} 个缩小，{c['gaps_unchanged']} 个未变（现余 {c['gaps_after']} 片）")
    en.append(f"of {c['gaps_before']} gaps, {c['gaps_closed']} closed, {c['gaps_split']} split into smaller pieces "
              f"by the new sites, {c['gaps_shrunk']} shrunk, {c['gaps_unchanged']} unchanged "
              f"({c['gaps_after']} pieces left)")
    return "；".join(zh) + " / " + "; ".join(en)
