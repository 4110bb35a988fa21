"""Where to build next: sites that close the largest coverage gaps.

Built on the coverage engine (:mod:`geo.analysis.coverage`, design and choices in
docs/siting.md): the same service standard, H3 grid, demand weights and
road network; existing stations stay where they are and the demand they
already cover is not counted again.

1. **Problem** (:func:`build_problem`, built once, solved many times): a
   baseline coverage run, the candidate sites (a planner's file read with the
   registry's import and validation, or generated from the centres of
   uncovered cells snapped to the roads), exclusion areas, and a sparse
   candidate x cell matrix of travel within the standard: one bounded
   Dijkstra per candidate on the *reversed* graph from its virtual node (the
   engine's direction: travel is cell -> station), in chunks so scipy's dense
   rows stay bounded; without a network a KD-tree ball query with the
   engine's detour factor.
2. **Models**: MCLP (most demand covered with ``p`` new sites), LSCP (fewest
   new sites reaching a target share, existing coverage counted) and a
   truncated p-median (least mean demand-weighted travel). Optional costs
   (a budget) and capacities (demand a site can serve).
3. **Solvers**: exact MILP with HiGHS (:mod:`highspy`), warm-started from
   the greedy answer, with a time limit and the optimality gap reported;
   and lazy greedy (CELF) for previews (:func:`greedy_preview`).
4. **Result** (:class:`SitingResult`): sites in rank order with their
   marginal demand, coverage before and after (total and per district),
   the remaining gaps, and a GeoJSON of planned stations the registry imports.
"""
from __future__ import annotations

import heapq
import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo.analysis.coverage import CoverageResult, coverage
from geo.analysis.demand import DemandSource
from geo.analysis.gaps import gap_labels, gap_table
from geo.analysis.grid import Grid
from geo.analysis.serialize import json_records
from geo.analysis.standard import Standard
from geo.analysis.travel import access_cost, augmented_matrix, estimate_factor, snap_points
from geo import settings
from geo.registry.io.readers import ReadError, read_features, read_table
from geo.routing.network import RoadGraph, index_ranges
from geo.core import geodesy
from geo.core.regions import locate
from geo.core.schema import FIELD_NAMES, station_id

MODELS = ("mclp", "lscp", "pmedian")
METHODS = ("exact", "greedy")
_TOL = 1e-9
_NAME_COL = "__candidate_name"

_GUARANTEES = {
    "mclp": "贪心解不低于最优解的 (1−1/e)≈63.2% / greedy covers at least (1−1/e) ≈ 63.2 % of the optimum "
            "(Nemhauser, Wolsey & Fisher 1978)",
    "mclp_budget": "按单位成本增益贪心并与最佳单点比较：不低于最优解的 ½(1−1/e)≈31.6% / greedy by gain per cost, "
                   "or the best single site if better: at least ½(1−1/e) ≈ 31.6 % of the optimum "
                   "(Khuller, Moss & Naor 1999)",
    "mclp_capacity": "有容量限制时贪心解无常数保证 / with capacities the greedy answer has no constant guarantee",
    "mclp_both": "同时有站点数与预算限制时贪心解无常数保证 / with both a site count and a budget the greedy "
                 "answer has no constant guarantee",
    "lscp": "贪心集合覆盖：站点数不超过最优的 H(d)≤1+ln d 倍（d 为单站最多覆盖格网数） / greedy set cover: at most "
            "H(d) ≤ 1 + ln d times the fewest sites (d = most cells one site covers)",
    "pmedian": "贪心解的出行节省不低于最优节省的 (1−1/e) / greedy saves at least (1−1/e) of the optimal "
               "travel saving",
}


# --------------------------------------------------------------------------
# Candidate sites
# --------------------------------------------------------------------------


@dataclass
class Candidates:
    """Candidate sites, ready to be evaluated.

    Attributes
    ----------
    frame : DataFrame
        ``id``, ``name``, ``lon``, ``lat`` (WGS-84, 7 decimals, as the
        registry stores them), ``cost`` and ``capacity`` (NaN when not
        given), ``origin`` (``"file"``, ``"generated"`` or ``"frame"``).
    summary : dict
        Rows read, accepted, rejected (with reasons), excluded, generated.
    """

    frame: pd.DataFrame
    summary: dict = field(default_factory=dict)


def _pick_column(columns: Iterable[str], given: str | None, wanted: tuple[str, ...], what: str) -> str | None:
    columns = list(columns)
    if given:
        if given not in columns:
            raise ValueError(f"候选文件中没有 {what} 列 / no {what} column {given!r} in the candidate file")
        return given
    low = {str(c).strip().lower(): c for c in columns}
    return next((low[w.lower()] for w in wanted if w.lower() in low), None)


def _numbers(values: pd.Series) -> np.ndarray:
    text = values.fillna("").astype(str).str.replace(",", "", regex=False).str.strip()
    return pd.to_numeric(text, errors="coerce").to_numpy(float)


def read_candidates(source: str | Path | bytes, kind: str, *, filename: str | None = None, crs: str = "auto",
                    cost_column: str | None = None, capacity_column: str | None = None,
                    mapping: dict | None = None, region: str = settings.SERVICE_REGION) -> Candidates:
    """Read a planner's candidate file with the registry's import and validation.

    The file goes through :func:`geo.registry.io.readers.read_table` and
    :func:`geo.registry.validate.validate_table` exactly as a station import does
    (formats, encodings, coordinate systems, header mapping, the service
    region), so a candidate is accepted or rejected for the same reasons as a
    station. Differences, because candidates are other things (petrol
    stations, EV chargers, union buildings ...): the type column is ignored
    (every candidate is taken as the analysed ``kind``), and a file without a
    name column is named by its source id, else ``候选点 N / Candidate N``.

    Parameters
    ----------
    source : str, Path or bytes
        A path, or an upload's bytes (then ``filename`` is required).
    kind : str
        The analysed kind.
    crs : str
        ``auto`` or the file's coordinate system.
    cost_column, capacity_column : str, optional
        Columns of cost and capacity; default the first of
        ``settings.SITING_COST_COLUMNS`` / ``SITING_CAPACITY_COLUMNS`` present.
        Capacity is demand a site can serve, in the demand's unit.
    mapping : dict, optional
        Header mapping overrides, as for an import.
    region : str
        Adcode of the service region; points outside are rejected.

    Returns
    -------
    Candidates

    Raises
    ------
    geo.registry.io.readers.ReadError
        The file cannot be read.
    """
    from geo.registry.io.headers import suggest_mapping
    from geo.registry.validate import validate_table

    raw = read_table(source, filename=filename)
    df = raw.df
    cols = {**suggest_mapping(df.columns), **(mapping or {})}
    overrides = {"kind": None, **(mapping or {})}
    if not cols.get("name"):
        sid = df[cols["source_id"]].astype(str).str.strip() if cols.get("source_id") else pd.Series("", index=df.index)
        fallback = pd.Series([f"候选点 {i + 1} / Candidate {i + 1}" for i in range(len(df))], index=df.index)
        df[_NAME_COL] = sid.where(sid != "", fallback)
        overrides["name"] = _NAME_COL
    cost_col = _pick_column(df.columns, cost_column, settings.SITING_COST_COLUMNS, "cost / 成本")
    cap_col = _pick_column(df.columns, capacity_column, settings.SITING_CAPACITY_COLUMNS, "capacity / 容量")
    report = validate_table(raw, kind, crs=crs, mapping=overrides, region=region)
    acc = report.accepted
    rows = acc["row"].to_numpy(int) - 1
    cost = _numbers(df[cost_col].iloc[rows]) if cost_col else np.full(len(acc), np.nan)
    cap = _numbers(df[cap_col].iloc[rows]) if cap_col else np.full(len(acc), np.nan)
    frame = pd.DataFrame({"id": acc["id"].astype(str).to_numpy(), "name": acc["name"].astype(str).to_numpy(),
                          "lon": acc["lon"].to_numpy(float), "lat": acc["lat"].to_numpy(float),
                          "cost": cost, "capacity": cap, "origin": "file"})
    summary = {"file": report.filename, "rows": int(report.rows), "accepted": int(len(acc)),
               "rejected": int(len(report.rejects)), "crs_used": report.crs_used,
               "cost_column": cost_col, "capacity_column": cap_col,
               "rejects": [{"row": int(r.row), "reason_code": r.reason_code, "message": r.message}
                           for r in report.rejects[["row", "reason_code", "message"]].itertuples()]}
    return Candidates(_dedupe_ids(frame), summary)


def _dedupe_ids(frame: pd.DataFrame) -> pd.DataFrame:
    # The registry id is derived from the source id or name+position, so two
    # rows of a file can share it; candidates must stay distinct.
    ids = frame["id"].astype(str)
    dup = ids.duplicated(keep=False)
    if dup.any():
        n = ids.groupby(ids).cumcount().astype(str)
        frame = frame.copy()
        frame.loc[dup, "id"] = ids[dup] + "#" + n[dup]
    return frame.reset_index(drop=True)


def candidates_from_frame(frame: pd.DataFrame) -> Candidates:
    """Candidates from a frame with WGS-84 ``lon``/``lat`` (and optional ``id``, ``name``, ``cost``, ``capacity``).

    For the app and tests: the frame is taken as already checked; rows
    without finite coordinates are dropped.
    """
    df = pd.DataFrame(frame).reset_index(drop=True)
    lon, lat = df["lon"].to_numpy(float), df["lat"].to_numpy(float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    n = len(df)
    ids = df["id"].astype(str) if "id" in df else pd.Series([f"C{i + 1}" for i in range(n)])
    names = df["name"].astype(str) if "name" in df else ids
    out = pd.DataFrame({"id": ids.to_numpy(), "name": names.to_numpy(), "lon": np.round(lon, 7),
                        "lat": np.round(lat, 7),
                        "cost": df["cost"].to_numpy(float) if "cost" in df else np.full(n, np.nan),
                        "capacity": df["capacity"].to_numpy(float) if "capacity" in df else np.full(n, np.nan),
                        "origin": "frame"})[ok]
    return Candidates(_dedupe_ids(out), {"rows": int(n), "accepted": int(ok.sum()), "rejected": int((~ok).sum())})


def generate_candidates(baseline: CoverageResult, graph: RoadGraph | None = None,
                        max_sites: int = settings.SITING_MAX_GENERATED) -> Candidates:
    """Candidate sites at the centres of uncovered cells, snapped to the road network.

    Every uncovered cell with demand gives one candidate at its centre; with
    more than ``max_sites`` of them, uncovered cells are grouped under their
    H3 parent (one resolution coarser at a time) and each group gives one at
    its demand-weighted centre. With a network, each point moves to the
    nearest usable road (:func:`geo.routing.snap.snap_point`, the engine's
    snapping), where a station would be reached from; points farther than
    ``settings.SNAP_MAX_M`` from every road keep their position.
    """
    import h3.api.basic_int as h3i

    from geo.routing.snap import snap_point

    grid = baseline.grid
    if grid is None:
        raise ValueError("this coverage result carries no grid; run coverage() again")
    cells = baseline.cells
    dem = cells["demand"].to_numpy(float)
    idx = np.flatnonzero(~cells["covered"].to_numpy(bool) & (dem > 0))
    codes = grid.cells[idx]
    lon, lat, w = grid.lon[idx], grid.lat[idx], dem[idx]
    res = grid.res
    while len(codes) > max_sites and res > 0:
        res -= 1
        parent = np.array([h3i.cell_to_parent(int(c), res) for c in codes.tolist()], dtype=np.int64)
        codes, inv = np.unique(parent, return_inverse=True)
        xyz = geodesy.xyz(lon, lat) * w[:, None]
        s = np.column_stack([np.bincount(inv, weights=xyz[:, q], minlength=len(codes)) for q in range(3)])
        s /= np.linalg.norm(s, axis=1, keepdims=True)
        lon, lat = np.degrees(np.arctan2(s[:, 1], s[:, 0])), np.degrees(np.arcsin(np.clip(s[:, 2], -1, 1)))
        w = np.bincount(inv, weights=w, minlength=len(codes))
    snapped = np.zeros(len(codes), dtype=bool)
    lon, lat = lon.copy(), lat.copy()
    if graph is not None:
        for i in range(len(codes)):
            sn = snap_point(graph, float(lon[i]), float(lat[i]))
            if sn is not None:
                lon[i], lat[i], snapped[i] = sn.lon, sn.lat, True
    frame = pd.DataFrame({"id": [f"G-{c:x}" for c in codes.tolist()],
                          "name": [f"缺口格网 {c:x} / uncovered cell {c:x}" for c in codes.tolist()],
                          "lon": np.round(lon, 7), "lat": np.round(lat, 7), "cost": np.nan, "capacity": np.nan,
                          "origin": "generated"})
    return Candidates(frame, {"generated": int(len(frame)), "generated_res": int(res),
                              "snapped": int(snapped.sum()) if graph is not None else None})


def read_exclusions(source) -> shapely.Geometry | None:
    """Exclusion areas as one (multi)polygon: a GeoJSON, GeoPackage or zipped Shapefile, a frame or a geometry.

    A file is read by :func:`geo.registry.io.readers.read_features` (checked to be what its
    name says; never opened by GDAL's own guessing). A file without a
    declared CRS is taken as WGS-84; any other CRS is transformed to it.
    Non-polygon features are ignored.
    """
    if source is None:
        return None
    if isinstance(source, (list, tuple)):
        parts = [read_exclusions(s) for s in source]
        parts = [p for p in parts if p is not None and not p.is_empty]
        return shapely.union_all(parts) if parts else None
    if isinstance(source, shapely.Geometry):
        geoms = np.array([source])
    else:
        frame = source if isinstance(source, gpd.GeoDataFrame) else read_features(source)
        if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
            frame = frame.to_crs("EPSG:4326")
        geoms = frame.geometry.to_numpy()
    geoms = geoms[np.isin(shapely.get_type_id(geoms), [3, 6])] if len(geoms) else geoms
    if not len(geoms):
        return None
    return shapely.union_all(shapely.make_valid(geoms))


def _apply_exclusions(frame: pd.DataFrame, area: shapely.Geometry | None) -> tuple[pd.DataFrame, int]:
    if area is None or not len(frame):
        return frame, 0
    shapely.prepare(area)
    # A site on the boundary is inside: the planner drew the line to keep sites out.
    inside = shapely.intersects_xy(area, frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    return frame[~inside].reset_index(drop=True), int(inside.sum())


# --------------------------------------------------------------------------
# Candidate x cell travel
# --------------------------------------------------------------------------


def _csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
    """A CSR matrix that keeps explicit zeros (a candidate at a cell's centre travels 0)."""
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sparse.csr_matrix((vals.astype(float), cols.astype(np.int64), indptr), shape=shape)


def _estimate_pairs(clon: np.ndarray, clat: np.ndarray, plon: np.ndarray, plat: np.ndarray, std: Standard,
                    limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate, point, value) for estimated travel within ``limit``, as the engine estimates it."""
    if not len(clon) or not len(plon):
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    factor = estimate_factor(std)
    radius = geodesy.m_to_chord(limit / factor) * (1 + 1e-9) + 1e-12
    found = cKDTree(geodesy.xyz(clon, clat)).sparse_distance_matrix(cKDTree(geodesy.xyz(plon, plat)), radius,
                                                              output_type="ndarray")
    value = geodesy.chord_to_m(found["v"]) * factor
    keep = value <= limit
    return found["i"][keep].astype(np.int64), found["j"][keep].astype(np.int64), value[keep]


def _network_pairs(graph: RoadGraph, plon: np.ndarray, plat: np.ndarray, clon: np.ndarray, clat: np.ndarray,
                   std: Standard, limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate, point, value) for routed travel within ``limit``, point -> candidate.

    Mirrors :func:`geo.analysis.coverage.nearest_network` one candidate at a time:
    each candidate a virtual node on the reversed graph, one bounded
    Dijkstra per candidate (``limit`` = threshold), each point leaving its
    edge by an allowed end or reaching a candidate on its own edge, both
    snap stretches walked; points off the network and candidates off it
    by estimate (``settings.COVERAGE_OFF_NETWORK``).
    """
    weight = std.weight
    to_unit = 1.0 / 60.0 if weight == "time" else 1.0
    cs = snap_points(graph, clon, clat)
    c_on = np.flatnonzero(cs.ok)
    st_edge, st_frac = cs.edge[c_on], cs.fraction[c_on]
    st_access = access_cost(cs.distance_m[c_on], weight)
    ps = snap_points(graph, plon, plat)
    p_access = access_cost(np.nan_to_num(ps.distance_m, nan=0.0), weight)
    on = np.flatnonzero(ps.ok)
    out_r, out_c, out_v = [], [], []

    if len(c_on) and len(on):
        aug = augmented_matrix(graph, weight, st_edge, st_frac, st_access)
        n = graph.n_nodes
        e, f = ps.edge[on], ps.fraction[on]
        c = graph.edge_cost(weight)[e]
        u, v = graph.edge_u[e], graph.edge_v[e]
        part_v = np.where(graph.edge_fwd[e], (1.0 - f) * c, np.inf)
        part_u = np.where(graph.edge_bwd[e], f * c, np.inf)
        # Same-edge shortcuts, found once for all candidates (as the engine does per station).
        order = np.argsort(st_edge, kind="stable")
        se = st_edge[order]
        lo, hi = np.searchsorted(se, e, side="left"), np.searchsorted(se, e, side="right")
        cnt = hi - lo
        pair_pt = np.repeat(np.arange(len(on)), cnt)
        pair_st = order[index_ranges(lo, cnt)]
        ts, fc, cc, ec = st_frac[pair_st], f[pair_pt], c[pair_pt], e[pair_pt]
        direct = np.minimum(np.where(graph.edge_fwd[ec] & (ts >= fc), (ts - fc) * cc, np.inf),
                            np.where(graph.edge_bwd[ec] & (ts <= fc), (fc - ts) * cc, np.inf)) + st_access[pair_st]
        by_st = np.argsort(pair_st, kind="stable")
        pair_pt, pair_st, direct = pair_pt[by_st], pair_st[by_st], direct[by_st]

        budget = settings.SITING_DIJKSTRA_CHUNK_MB * 1e6
        chunk = int(max(1, min(budget // (8 * aug.shape[0]), budget // (8 * 4 * len(on)))))
        g_limit = limit / to_unit
        for s0 in range(0, len(c_on), chunk):
            s1 = min(s0 + chunk, len(c_on))
            dist = dijkstra(aug, directed=True, indices=np.arange(n + s0, n + s1), limit=g_limit)
            cost = np.minimum(part_v[None, :] + dist[:, v], part_u[None, :] + dist[:, u])
            del dist
            a, b = np.searchsorted(pair_st, [s0, s1])
            if b > a:
                r, q = pair_st[a:b] - s0, pair_pt[a:b]
                cost[r, q] = np.minimum(cost[r, q], direct[a:b])
            value = (cost + p_access[on][None, :]) * to_unit
            rr, qq = np.nonzero(value <= limit)
            out_r.append(c_on[rr + s0])
            out_c.append(on[qq])
            out_v.append(value[rr, qq])

    off = np.flatnonzero(~ps.ok)
    c_off = np.flatnonzero(~cs.ok)
    if len(off) and settings.COVERAGE_OFF_NETWORK == "estimate":
        r, q, val = _estimate_pairs(clon, clat, plon[off], plat[off], std, limit)
        out_r.append(r), out_c.append(off[q]), out_v.append(val)
    if len(c_off) and len(on):
        r, q, val = _estimate_pairs(clon[c_off], clat[c_off], plon[on], plat[on], std, limit)
        out_r.append(c_off[r]), out_c.append(on[q]), out_v.append(val)
    if not out_r:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v)


def reach_matrix(grid: Grid, standard: Standard, lon: np.ndarray, lat: np.ndarray,
                 graph: RoadGraph | None = None, limit: float | None = None) -> sparse.csr_matrix:
    """Travel from every cell to every candidate, where it is within ``limit``.

    Parameters
    ----------
    grid : Grid
    standard : Standard
    lon, lat : array-like
        Candidate positions, WGS-84.
    graph : RoadGraph, optional
        The mode's graph; without one, the engine's estimate.
    limit : float, optional
        In the standard's unit; default the threshold.

    Returns
    -------
    scipy.sparse.csr_matrix
        Candidates x cells, travel in the standard's unit. Explicit zeros are
        real entries (a candidate at a cell's centre): read the pattern from
        ``indptr``/``indices``, not from ``nonzero()``.
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    limit = standard.threshold if limit is None else float(limit)
    if graph is None:
        r, c, v = _estimate_pairs(lon, lat, grid.lon, grid.lat, standard, limit)
    else:
        r, c, v = _network_pairs(graph, grid.lon, grid.lat, lon, lat, standard, limit)
    return _csr(r, c, v, (len(lon), len(grid.cells)))


# --------------------------------------------------------------------------
# The problem
# --------------------------------------------------------------------------


@dataclass(eq=False)
class SitingProblem:
    """A siting problem, built once (:func:`build_problem`) and solved many times.

    Attributes
    ----------
    baseline : CoverageResult or None
        The coverage run with existing stations only (``None`` for a problem
        built from arrays).
    standard : Standard
    candidates : DataFrame
        ``id``, ``name``, ``lon``, ``lat``, ``cost``, ``capacity``, ``origin``.
    demand : ndarray
        Demand of every cell.
    covered0 : ndarray of bool
        Cells the existing stations cover.
    travel0 : ndarray
        Travel from every cell to its nearest existing station (inf if none).
    travel : csr_matrix
        Candidates x cells, travel up to :attr:`limit`.
    limit : float
        Travel beyond this was not computed (the threshold, or the p-median cap).
    district : ndarray of str
        District adcode of each cell.
    """

    standard: Standard
    candidates: pd.DataFrame
    demand: np.ndarray
    covered0: np.ndarray
    travel0: np.ndarray
    travel: sparse.csr_matrix
    limit: float
    district: np.ndarray
    baseline: CoverageResult | None = None
    candidate_summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    coverage_args: dict = field(default_factory=dict, repr=False)
    graph: RoadGraph | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_candidates(self) -> int:
        return len(self.candidates)

    @property
    def total_demand(self) -> float:
        return float(self.demand.sum())

    @property
    def before_demand(self) -> float:
        return float(self.demand[self.covered0].sum())

    def cover(self) -> sparse.csr_matrix:
        """Candidates x cells, 1 where the cell is within the standard of the candidate (cached)."""
        if "cover" not in self._cache:
            t = self.travel
            keep = t.data <= self.standard.threshold
            rows = np.repeat(np.arange(t.shape[0]), np.diff(t.indptr))[keep]
            self._cache["cover"] = _csr(rows, t.indices[keep], np.ones(int(keep.sum())), t.shape)
        return self._cache["cover"]

    def open_core(self) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
        """Coverage restricted to cells with demand that no station covers yet: (A, weights, cell index)."""
        if "open" not in self._cache:
            cover = self.cover()
            reached = np.zeros(cover.shape[1], dtype=bool)
            reached[cover.indices] = True
            cells = np.flatnonzero(~self.covered0 & (self.demand > 0) & reached)
            self._cache["open"] = (_columns(cover, cells), self.demand[cells].astype(float), cells)
        return self._cache["open"]


def _columns(m: sparse.csr_matrix, cells: np.ndarray) -> sparse.csr_matrix:
    """Columns ``cells`` of a CSR matrix, renumbered, explicit zeros kept."""
    colmap = np.full(m.shape[1], -1, dtype=np.int64)
    colmap[cells] = np.arange(len(cells))
    keep = colmap[m.indices] >= 0
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[keep]
    return _csr(rows, colmap[m.indices[keep]], m.data[keep], (m.shape[0], len(cells)))


def problem_from_arrays(cover_or_travel: sparse.spmatrix | np.ndarray, demand: np.ndarray,
                        covered0: np.ndarray | None = None, *, cost: np.ndarray | None = None,
                        capacity: np.ndarray | None = None, threshold: float = 1.0,
                        travel0: np.ndarray | None = None, limit: float | None = None) -> SitingProblem:
    """A problem without geography, from a candidates x cells matrix (tests, benchmarks).

    ``cover_or_travel`` holds travel values (a cell is covered by a candidate
    when its entry is stored and ``<= threshold``); a 0/1 coverage matrix
    works with the default threshold 1 when it is given dense (dense zeros
    are "not reachable"). Candidates get dummy positions.
    """
    if isinstance(cover_or_travel, np.ndarray):
        m = np.asarray(cover_or_travel, float)
        r, c = np.nonzero(m)
        travel = _csr(r, c, np.where(m[r, c] > 0, threshold * 0.5, 0.0), m.shape) if np.isin(m, [0, 1]).all() \
            else _csr(r, c, m[r, c], m.shape)
    else:
        travel = sparse.csr_matrix(cover_or_travel)
    n, ncell = travel.shape
    demand = np.asarray(demand, float)
    covered0 = np.zeros(ncell, dtype=bool) if covered0 is None else np.asarray(covered0, bool)
    travel0 = np.where(covered0, 0.0, np.inf) if travel0 is None else np.asarray(travel0, float)
    std = Standard(kinds=("rest_station",), mode="walk", meters=float(threshold), source="user")
    cands = pd.DataFrame({"id": [f"C{j}" for j in range(n)], "name": [f"C{j}" for j in range(n)],
                          "lon": np.zeros(n), "lat": np.zeros(n),
                          "cost": np.full(n, np.nan) if cost is None else np.asarray(cost, float),
                          "capacity": np.full(n, np.nan) if capacity is None else np.asarray(capacity, float),
                          "origin": "frame"})
    return SitingProblem(standard=std, candidates=cands, demand=demand, covered0=covered0, travel0=travel0,
                         travel=travel, limit=float(limit if limit is not None else threshold),
                         district=np.full(ncell, "", dtype=object))


def build_problem(region, kinds: str | Iterable[str] | None = None, *, mode: str | None = None,
                  minutes: float | None = None, meters: float | None = None,
                  res: int = settings.COVERAGE_DEFAULT_RES, network=None, population=None, demand=None,
                  demand_weight: str | None = None, demand_crs: str = "auto",
                  stations: pd.DataFrame | None = None, registry: str | Path | None = None,
                  statuses: Iterable[str] = settings.COVERAGE_STATUSES,
                  candidates: str | Path | bytes | pd.DataFrame | Candidates | None = None,
                  candidate_filename: str | None = None, candidate_crs: str = "auto",
                  cost_column: str | None = None, capacity_column: str | None = None,
                  exclusions=None, reach: float = 1.0,
                  max_generated: int = settings.SITING_MAX_GENERATED) -> SitingProblem:
    """Build a siting problem: baseline coverage, candidates and their reach.

    Parameters
    ----------
    region, kinds, mode, minutes, meters, res, network, population, demand, demand_weight, demand_crs,
    stations, registry, statuses
        As for :func:`geo.analysis.coverage.coverage`: the baseline run with the
        existing stations, whose standard, grid, demand and network the
        problem shares.
    candidates : path, bytes, DataFrame, Candidates or None
        A candidate file (read with :func:`read_candidates`; bytes need
        ``candidate_filename``), a frame (:func:`candidates_from_frame`), or
        ``None`` to generate them from uncovered cells
        (:func:`generate_candidates`).
    candidate_crs, cost_column, capacity_column
        Passed to :func:`read_candidates`.
    exclusions : path, GeoDataFrame, geometry or list of them, optional
        Areas where no site may go; candidates inside are dropped.
    reach : float
        Travel is computed up to ``reach`` x the threshold. 1 is enough for
        MCLP and LSCP; p-median needs more (``settings.SITING_PMEDIAN_REACH``).

    Returns
    -------
    SitingProblem
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    args = dict(kinds=kinds, mode=mode, minutes=minutes, meters=meters, res=res, network=network,
                demand=DemandSource(population=population, points=demand, weight_column=demand_weight,
                                    crs=demand_crs),
                registry=registry, statuses=tuple(statuses))
    base = coverage(region, stations=stations, **args)
    timings["baseline_s"] = time.perf_counter() - t0
    graph = base.travel.context.graph if base.method == "network" and base.travel.context is not None else None
    std = base.standard
    args["network"] = graph if graph is not None else False

    t = time.perf_counter()
    kind = std.kinds[0]
    if candidates is None:
        cands = generate_candidates(base, graph, max_generated)
    elif isinstance(candidates, Candidates):
        cands = candidates
    elif isinstance(candidates, pd.DataFrame):
        cands = candidates_from_frame(candidates)
    else:
        cands = read_candidates(candidates, kind, filename=candidate_filename, crs=candidate_crs,
                                cost_column=cost_column, capacity_column=capacity_column)
    frame, excluded = _apply_exclusions(cands.frame, read_exclusions(exclusions))
    summary = {**cands.summary, "excluded": excluded, "used": int(len(frame))}
    notes = []
    if excluded:
        notes.append(f"{excluded} 个候选点位于排除区内，已剔除 / {excluded} candidate(s) inside exclusion areas dropped")
    timings["candidates_s"] = time.perf_counter() - t

    t = time.perf_counter()
    limit = std.threshold * max(float(reach), 1.0)
    grid = base.grid
    travel = reach_matrix(grid, std, frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), graph, limit)
    timings["reach_s"] = time.perf_counter() - t
    useless = int((np.diff(travel.indptr) == 0).sum())
    if useless:
        notes.append(f"{useless} 个候选点在标准内够不到区域内任何格网 / {useless} candidate(s) reach no cell of "
                     f"the region within the standard")
    cells = base.cells
    timings["total_s"] = time.perf_counter() - t0
    return SitingProblem(
        standard=std, candidates=frame, demand=cells["demand"].to_numpy(float),
        covered0=cells["covered"].to_numpy(bool), travel0=cells["travel"].to_numpy(float), travel=travel,
        limit=limit, district=grid.district, baseline=base, candidate_summary=summary, notes=notes,
        timings={k: round(v, 4) for k, v in timings.items()}, coverage_args={"region": base.region, **args},
        graph=graph)


# --------------------------------------------------------------------------
# Greedy (lazy, CELF)
# --------------------------------------------------------------------------


@dataclass
class _Greedy:
    order: list[int]
    gains: list[float]
    bound: float | None = None


def _lazy_greedy(n: int, first: np.ndarray, gain: Callable[[int], float], commit: Callable[[int], None],
                 k_max: int, cost: np.ndarray | None = None, budget: float | None = None,
                 stop: Callable[[], bool] | None = None, bound_p: int | None = None) -> _Greedy:
    """Lazy greedy (Minoux's accelerated greedy, CELF): exact greedy order with few gain evaluations.

    Marginal gains of a submodular function only shrink, so a stale gain is
    an upper bound: the top of the heap is taken as soon as its gain is
    fresh. With ``budget``, keys are gain per cost and unaffordable sites
    are dropped. ``bound_p`` asks for the data-dependent upper bound on the
    optimum, ``f(S) + sum of the p largest marginal gains``, minimised over
    the steps (Minoux 1978; valid for a monotone submodular ``f`` under a
    cardinality constraint only).
    """
    ratio = budget is not None and cost is not None
    c = np.ones(n) if cost is None else np.nan_to_num(np.asarray(cost, float), nan=0.0)

    def key(j: int, g: float) -> float:
        if not ratio:
            return g
        return g / c[j] if c[j] > 0 else (math.inf if g > 0 else 0.0)

    heap = [(-key(j, float(first[j])), j) for j in range(n)]
    heapq.heapify(heap)
    fresh = np.zeros(n, dtype=np.int64)  # the step each gain was computed at; first gains are fresh
    current = np.asarray(first, float).copy()
    out = _Greedy([], [])
    value, spent, step = 0.0, 0.0, 0
    best_bound = math.inf
    while heap and len(out.order) < k_max and not (stop is not None and stop()):
        negk, j = heapq.heappop(heap)
        if ratio and c[j] > budget - spent + _TOL * max(1.0, abs(budget)):
            continue
        if fresh[j] != step:
            g = gain(j)
            current[j], fresh[j] = g, step
            heapq.heappush(heap, (-key(j, g), j))
            continue
        g = current[j]
        if bound_p:
            top = heapq.nsmallest(bound_p - 1, heap) if bound_p > 1 else []
            best_bound = min(best_bound, value + g + sum(-k for k, _ in top))
        if g <= _TOL * max(1.0, value):
            break
        commit(j)
        out.order.append(j)
        out.gains.append(float(g))
        value += g
        spent += c[j]
        step += 1
    if bound_p:
        top = heapq.nsmallest(bound_p, heap)
        best_bound = min(best_bound, value + sum(max(-k, 0.0) for k, _ in top))
        out.bound = best_bound
    return out


class _CoverState:
    """Uncovered demand per open cell; gain = demand a site would newly cover."""

    def __init__(self, A: sparse.csr_matrix, w: np.ndarray):
        self.A, self.left = A, w.astype(float).copy()
        self.value = 0.0

    def first(self) -> np.ndarray:
        return np.asarray(self.A @ self.left).ravel()

    def gain(self, j: int) -> float:
        a = self.A
        return float(self.left[a.indices[a.indptr[j]:a.indptr[j + 1]]].sum())

    def commit(self, j: int) -> None:
        a = self.A
        cols = a.indices[a.indptr[j]:a.indptr[j + 1]]
        self.value += float(self.left[cols].sum())
        self.left[cols] = 0.0


class _CapacityState:
    """Residual demand per open cell; a site serves up to its capacity, scarce cells first.

    ``x`` holds, per stored entry of ``A``, the share of the cell the site
    serves: a feasible assignment (the MILP's warm start).
    """

    def __init__(self, A: sparse.csr_matrix, w: np.ndarray, cap: np.ndarray):
        self.A, self.w, self.left = A, w.astype(float), w.astype(float).copy()
        self.cap = np.where(np.isfinite(cap), np.maximum(cap, 0.0), np.inf)
        # Cells fewer candidates reach are served first: the others can still be reached later.
        self.scarcity = np.bincount(A.indices, minlength=A.shape[1])
        self.x = np.zeros(len(A.indices))
        self.value = 0.0

    def first(self) -> np.ndarray:
        return np.minimum(np.asarray(self.A @ self.left).ravel(), self.cap)

    def gain(self, j: int) -> float:
        a = self.A
        return float(min(self.cap[j], self.left[a.indices[a.indptr[j]:a.indptr[j + 1]]].sum()))

    def commit(self, j: int) -> None:
        a = self.A
        pos = np.arange(a.indptr[j], a.indptr[j + 1])
        pos = pos[np.lexsort((a.indices[pos], self.scarcity[a.indices[pos]]))]
        cols = a.indices[pos]
        amount = min(self.cap[j], float(self.left[cols].sum()))
        before = np.concatenate([[0.0], np.cumsum(self.left[cols])[:-1]])
        take = np.clip(amount - before, 0.0, self.left[cols])
        self.left[cols] -= take
        with np.errstate(invalid="ignore", divide="ignore"):
            self.x[pos] = np.where(self.w[cols] > 0, take / self.w[cols], 0.0)
        self.value += float(take.sum())


class _TravelState:
    """Current travel per cell (capped); gain = demand-weighted travel saved."""

    def __init__(self, T: sparse.csr_matrix, w: np.ndarray, base: np.ndarray):
        self.T, self.w, self.cur = T, w.astype(float), base.astype(float).copy()
        self.value = 0.0

    def _saving(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        t = self.T
        cols = t.indices[t.indptr[j]:t.indptr[j + 1]]
        return cols, self.w[cols] * np.maximum(self.cur[cols] - t.data[t.indptr[j]:t.indptr[j + 1]], 0.0)

    def first(self) -> np.ndarray:
        return np.array([self.gain(j) for j in range(self.T.shape[0])])

    def gain(self, j: int) -> float:
        return float(self._saving(j)[1].sum())

    def commit(self, j: int) -> None:
        t = self.T
        cols = t.indices[t.indptr[j]:t.indptr[j + 1]]
        self.value += self.gain(j)
        self.cur[cols] = np.minimum(self.cur[cols], t.data[t.indptr[j]:t.indptr[j + 1]])


def _rows(m: sparse.csr_matrix, rows: np.ndarray) -> sparse.csr_matrix:
    """Rows of a CSR matrix, explicit zeros kept, order as given."""
    rows = np.asarray(rows, dtype=np.int64)
    lens = np.diff(m.indptr)[rows]
    take = index_ranges(m.indptr[rows], lens)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    return sparse.csr_matrix((m.data[take], m.indices[take], indptr), shape=(len(rows), m.shape[1]))


# --------------------------------------------------------------------------
# Exact (HiGHS)
# --------------------------------------------------------------------------


@dataclass
class _Milp:
    x: np.ndarray | None
    status: str
    objective: float
    bound: float
    gap: float | None
    seconds: float


def _highs(c: np.ndarray, M: sparse.spmatrix, rlo: np.ndarray, rhi: np.ndarray, lo: np.ndarray,
           hi: np.ndarray, integer: np.ndarray, maximize: bool, time_limit: float,
           start: np.ndarray | None = None) -> _Milp:
    import highspy

    t0 = time.perf_counter()
    M = sparse.csc_matrix(M)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(M.shape[1]), int(M.shape[0])
    lp.col_cost_ = np.asarray(c, float)
    lp.col_lower_, lp.col_upper_ = np.asarray(lo, float), np.asarray(hi, float)
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isfinite(rlo), rlo, -inf).astype(float)
    lp.row_upper_ = np.where(np.isfinite(rhi), rhi, inf).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
    lp.a_matrix_.start_ = M.indptr.astype(np.int32)
    lp.a_matrix_.index_ = M.indices.astype(np.int32)
    lp.a_matrix_.value_ = M.data.astype(float)
    if integer.any():
        kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
        lp.integrality_ = [kinds[int(b)] for b in integer]
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    h.setOptionValue("mip_rel_gap", float(settings.SITING_MIP_REL_GAP))
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(start, float)
        h.setSolution(sol)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    name = {highspy.HighsModelStatus.kOptimal: "optimal", highspy.HighsModelStatus.kTimeLimit: "time_limit",
            highspy.HighsModelStatus.kInfeasible: "infeasible"}.get(status, h.modelStatusToString(status))
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value, float) if has else None
    obj = float(info.objective_function_value) if has else math.nan
    bound = float(info.mip_dual_bound) if integer.any() else obj
    if name == "optimal":
        gap = 0.0
    elif has and math.isfinite(bound):
        gap = abs(bound - obj) / max(abs(obj), 1e-12)
    else:
        gap = None
    return _Milp(x, name, obj, bound, gap, time.perf_counter() - t0)


def _group_columns(A: sparse.csr_matrix, w: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """Merge cells reached by the same candidate set (one MILP row each): (A_groups, W, group of cell)."""
    csc = A.tocsc()
    csc.sort_indices()
    keys: dict[bytes, int] = {}
    group = np.empty(A.shape[1], dtype=np.int64)
    ind, ptr = csc.indices, csc.indptr
    for i in range(A.shape[1]):
        group[i] = keys.setdefault(ind[ptr[i]:ptr[i + 1]].tobytes(), len(keys))
    k = len(keys)
    first = np.full(k, -1, dtype=np.int64)
    first[group[::-1]] = np.arange(A.shape[1])[::-1]
    W = np.bincount(group, weights=w, minlength=k)
    return _columns(A, first), W, group


def _exact_cover(A: sparse.csr_matrix, w: np.ndarray, *, p: int, cost: np.ndarray | None, budget: float | None,
                 need: float | None, time_limit: float, start: list[int]) -> tuple[_Milp, np.ndarray]:
    """MCLP (``need`` None: max covered demand) or LSCP (min sites covering ``need``), compact form.

    Variables ``y_j`` (site j built, binary) and ``z_k`` (group k covered,
    continuous in [0, 1]: integral at any optimum given integral y). Rows:
    ``z_k - sum_{j reaches k} y_j <= 0``; ``sum y <= p``; ``sum c_j y_j <= B``;
    for LSCP ``sum W_k z_k >= need``.
    """
    n = A.shape[0]
    G, W, _ = _group_columns(A, w)
    k = G.shape[1]
    link = sparse.hstack([-G.T.tocsr(), sparse.identity(k, format="csr")], format="csr")
    rows = [link]
    rlo, rhi = [np.full(k, -np.inf)], [np.zeros(k)]
    rows.append(sparse.csr_matrix(np.r_[np.ones(n), np.zeros(k)][None, :]))
    rlo.append([-np.inf]), rhi.append([float(p)])
    if budget is not None:
        rows.append(sparse.csr_matrix(np.r_[np.nan_to_num(cost, nan=0.0), np.zeros(k)][None, :]))
        rlo.append([-np.inf]), rhi.append([float(budget)])
    if need is not None:
        rows.append(sparse.csr_matrix(np.r_[np.zeros(n), W][None, :]))
        rlo.append([float(need)]), rhi.append([np.inf])
    M = sparse.vstack(rows, format="csc")
    c = np.r_[np.zeros(n), W] if need is None else np.r_[np.ones(n), np.zeros(k)]
    y0 = np.zeros(n)
    y0[start] = 1.0
    z0 = np.minimum(np.asarray(G.T @ y0).ravel(), 1.0)
    res = _highs(c, M, np.concatenate(rlo), np.concatenate(rhi), np.zeros(n + k), np.ones(n + k),
                 np.r_[np.ones(n, bool), np.zeros(k, bool)], need is None, time_limit, np.r_[y0, z0])
    chosen = np.flatnonzero(res.x[:n] > 0.5) if res.x is not None else np.zeros(0, dtype=np.int64)
    return res, chosen


def _exact_assign(pair_j: np.ndarray, pair_i: np.ndarray, saving: np.ndarray, n: int, m: int, *, p: int,
                  cost: np.ndarray | None, budget: float | None, load: np.ndarray | None = None,
                  cap: np.ndarray | None = None, need: float | None = None, time_limit: float,
                  start_y: np.ndarray, start_x: np.ndarray) -> tuple[_Milp, np.ndarray, np.ndarray]:
    """Assignment form: capacitated MCLP/LSCP and p-median.

    Variables ``y_j`` (binary) and ``x_ij`` (share of cell i served by j,
    continuous). Rows: ``sum_j x_ij <= 1``; ``x_ij - y_j <= 0``;
    ``sum_i load_ij x_ij - cap_j y_j <= 0`` where capacities are finite;
    ``sum y <= p``; ``sum c y <= B``. Maximise ``sum saving_ij x_ij``, or
    for LSCP minimise ``sum y`` subject to ``sum saving_ij x_ij >= need``.
    """
    P = len(pair_j)
    ar = np.arange(P)
    rows, rlo, rhi = [], [], []
    rows.append(sparse.csr_matrix((np.ones(P), (pair_i, n + ar)), shape=(m, n + P)))
    rlo.append(np.full(m, -np.inf)), rhi.append(np.ones(m))
    rows.append(sparse.csr_matrix((np.r_[np.ones(P), -np.ones(P)], (np.r_[ar, ar], np.r_[n + ar, pair_j])),
                                  shape=(P, n + P)))
    rlo.append(np.full(P, -np.inf)), rhi.append(np.zeros(P))
    if cap is not None:
        fin = np.flatnonzero(np.isfinite(cap))
        if len(fin):
            pos = np.full(n, -1, dtype=np.int64)
            pos[fin] = np.arange(len(fin))
            sel = pos[pair_j] >= 0
            data = np.r_[load[sel], -cap[fin]]
            r = np.r_[pos[pair_j[sel]], np.arange(len(fin))]
            col = np.r_[n + ar[sel], fin]
            rows.append(sparse.csr_matrix((data, (r, col)), shape=(len(fin), n + P)))
            rlo.append(np.full(len(fin), -np.inf)), rhi.append(np.zeros(len(fin)))
    rows.append(sparse.csr_matrix(np.r_[np.ones(n), np.zeros(P)][None, :]))
    rlo.append([-np.inf]), rhi.append([float(p)])
    if budget is not None:
        rows.append(sparse.csr_matrix(np.r_[np.nan_to_num(cost, nan=0.0), np.zeros(P)][None, :]))
        rlo.append([-np.inf]), rhi.append([float(budget)])
    if need is not None:
        rows.append(sparse.csr_matrix(np.r_[np.zeros(n), saving][None, :]))
        rlo.append([float(need)]), rhi.append([np.inf])
    M = sparse.vstack(rows, format="csc")
    c = np.r_[np.zeros(n), saving] if need is None else np.r_[np.ones(n), np.zeros(P)]
    res = _highs(c, M, np.concatenate(rlo), np.concatenate(rhi), np.zeros(n + P), np.ones(n + P),
                 np.r_[np.ones(n, bool), np.zeros(P, bool)], need is None, time_limit, np.r_[start_y, start_x])
    if res.x is None:
        return res, np.zeros(0, dtype=np.int64), np.zeros(P)
    return res, np.flatnonzero(res.x[:n] > 0.5), np.clip(res.x[n:], 0.0, 1.0)


def _served_lp(A: sparse.csr_matrix, w: np.ndarray, cap: np.ndarray, sites: list[int]) -> tuple[float, np.ndarray]:
    """Most demand ``sites`` can serve within their capacities (an LP): value and served share per cell."""
    if not sites:
        return 0.0, np.zeros(A.shape[1])
    sub = _rows(A, np.asarray(sites))
    coo = sub.tocoo()
    pj, pi = coo.row.astype(np.int64), coo.col.astype(np.int64)
    cells, inv = np.unique(pi, return_inverse=True)
    if not len(cells):
        return 0.0, np.zeros(A.shape[1])
    n = len(sites)
    res, _, x = _exact_assign(pj, inv, w[cells][inv], n, len(cells), p=n, cost=None, budget=None,
                              load=w[cells][inv], cap=np.asarray(cap, float)[sites], time_limit=60.0,
                              start_y=np.ones(n), start_x=np.zeros(len(pj)))
    served = np.zeros(A.shape[1])
    np.add.at(served, cells[inv], x)
    return float(res.objective), np.minimum(served, 1.0)


# --------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------


@dataclass
class SitingResult:
    """What a siting run recommends, and the evidence.

    Attributes
    ----------
    scenario : str
        Name, used in the planned stations' ``source`` (``plan:<scenario>``).
    model : str
        ``mclp``, ``lscp`` or ``pmedian``.
    method : str
        ``exact`` (HiGHS) or ``greedy``.
    status : str
        ``optimal``, ``time_limit``, ``greedy``, ``infeasible`` ...
    gap : float or None
        Relative optimality gap: 0 when proven optimal; at a time limit the
        gap to HiGHS's bound; for greedy MCLP the certified gap to the
        data-dependent bound; ``None`` when unknown.
    sites : DataFrame
        Rank order: ``rank``, ``candidate_id``, ``name``, ``lon``, ``lat``,
        ``added_demand`` (marginal newly covered demand, in rank order),
        ``cost``, ``capacity``, ``adcode``, ``district``, and for p-median
        ``travel_saved`` (marginal demand-weighted travel saved, the rank key).
    before_share, after_share : float
        Covered demand share before and after.
    districts : DataFrame
        Per district: ``adcode``, ``name``, ``demand``, ``before_share``,
        ``after_share``, ``added_demand``, ``new_sites``.
    gaps : DataFrame
        Remaining gaps (the engine's gap table) after the new sites.
    proposal_geojson : str
        Planned stations for the registry (RFC 7946, registry fields).
    """

    scenario: str
    model: str
    method: str
    status: str
    gap: float | None
    bound: float | None
    objective: float | None
    guarantee: str
    region: dict
    standard: dict
    resolution: int | None
    travel_method: str
    p: int
    target_share: float | None
    target_met: bool | None
    budget: float | None
    total_cost: float | None
    demand_total: float
    before_demand: float
    after_demand: float
    before_share: float
    after_share: float
    sites: pd.DataFrame
    districts: pd.DataFrame
    gaps: pd.DataFrame
    proposal_geojson: str
    candidates: dict = field(default_factory=dict)
    before_share_area: float | None = None
    after_share_area: float | None = None
    travel: dict | None = None
    verified: dict | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def added_demand(self) -> float:
        return self.after_demand - self.before_demand

    def to_dict(self, max_gaps: int | None = settings.COVERAGE_MAX_GAPS) -> dict:
        """The JSON form (``python -m geo plan --json`` and saved scenarios)."""
        gaps = self.gaps if max_gaps is None else self.gaps.head(max_gaps)
        return {
            "scenario": self.scenario, "model": self.model, "method": self.method, "status": self.status,
            "gap": _num(self.gap, 9), "bound": _num(self.bound, 6), "objective": _num(self.objective, 6),
            "guarantee": self.guarantee, "region": dict(self.region), "standard": dict(self.standard),
            "resolution": self.resolution, "travel_method": self.travel_method, "new": int(self.p),
            "target_share": self.target_share, "target_met": self.target_met, "budget": self.budget,
            "total_cost": _num(self.total_cost, 6), "demand_total": _num(self.demand_total, 6),
            "before_demand": _num(self.before_demand, 6), "after_demand": _num(self.after_demand, 6),
            "added_demand": _num(self.added_demand, 6), "before_share": _num(self.before_share, 9),
            "after_share": _num(self.after_share, 9), "before_share_area": _num(self.before_share_area, 9),
            "after_share_area": _num(self.after_share_area, 9), "travel": self.travel,
            "sites": _site_records(self.sites), "districts": json_records(self.districts),
            "gaps_total": int(len(self.gaps)), "gaps": json_records(gaps), "candidates": self.candidates,
            "verified": self.verified, "proposal": json.loads(self.proposal_geojson),
            "notes": list(self.notes), "timings": dict(self.timings),
        }

    def to_json(self, **kwargs) -> str:
        """:meth:`to_dict` as JSON text (UTF-8, Chinese kept)."""
        return json.dumps(self.to_dict(**kwargs), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "SitingResult":
        """Rebuild a result from :meth:`to_dict` (a saved scenario)."""
        return cls(
            scenario=d["scenario"], model=d["model"], method=d["method"], status=d["status"], gap=d.get("gap"),
            bound=d.get("bound"), objective=d.get("objective"), guarantee=d.get("guarantee", ""),
            region=d.get("region") or {}, standard=d.get("standard") or {}, resolution=d.get("resolution"),
            travel_method=d.get("travel_method", ""), p=int(d.get("new", 0)), target_share=d.get("target_share"),
            target_met=d.get("target_met"), budget=d.get("budget"), total_cost=d.get("total_cost"),
            demand_total=float(d.get("demand_total") or 0.0), before_demand=float(d.get("before_demand") or 0.0),
            after_demand=float(d.get("after_demand") or 0.0), before_share=float(d.get("before_share") or 0.0),
            after_share=float(d.get("after_share") or 0.0), sites=pd.DataFrame(d.get("sites") or [],
                                                                               columns=_SITE_COLUMNS),
            districts=pd.DataFrame(d.get("districts") or [], columns=_DISTRICT_COLUMNS),
            gaps=pd.DataFrame(d.get("gaps") or []), proposal_geojson=json.dumps(d.get("proposal") or {
                "type": "FeatureCollection", "features": []}, ensure_ascii=False),
            candidates=d.get("candidates") or {}, before_share_area=d.get("before_share_area"),
            after_share_area=d.get("after_share_area"), travel=d.get("travel"), verified=d.get("verified"),
            notes=list(d.get("notes") or []), timings=dict(d.get("timings") or {}))

    def write_proposal(self, path: str | Path) -> Path:
        """Write the planned-station GeoJSON (import it with ``python -m geo import PATH``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.proposal_geojson, encoding="utf-8")
        return path


def _site_records(sites: pd.DataFrame) -> list[dict]:
    # Positions to 7 decimals, as the registry stores them (the engine's records keep 6).
    out = json_records(sites)
    for rec, lon, lat in zip(out, sites["lon"].to_numpy(float), sites["lat"].to_numpy(float)):
        rec["lon"], rec["lat"] = round(float(lon), 7), round(float(lat), 7)
    return out


_SITE_COLUMNS = ["rank", "candidate_id", "name", "lon", "lat", "added_demand", "cost", "capacity", "adcode",
                 "district", "travel_saved"]
_DISTRICT_COLUMNS = ["adcode", "name", "demand", "before_share", "after_share", "added_demand", "new_sites"]


def _num(value, digits: int):
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return round(f, digits) if math.isfinite(f) else None


def _slug(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def default_scenario_name(problem: SitingProblem, model: str, p: int, target_share: float | None) -> str:
    """``<adcode>-<kind>-<model>-p<P>`` (or ``-s<share>`` for LSCP), e.g. ``440106-rest_station-mclp-p5``."""
    adcode = problem.baseline.region.adcode if problem.baseline is not None else "custom"
    tail = f"s{target_share:g}" if model == "lscp" and target_share is not None else f"p{p}"
    return f"{adcode}-{problem.standard.kinds[0]}-{model}-{tail}"


def proposal_frame(sites: pd.DataFrame, kind: str, scenario: str, *, model: str = "", method: str = "",
                   unit: str = "") -> gpd.GeoDataFrame:
    """Proposed sites as registry stations: ``status`` planned, source ``plan:<scenario>``.

    Names follow ``settings.SITING_SITE_NAME``; the id is derived from the
    source and the candidate id (:func:`geo.core.schema.station_id`), so a
    re-planned scenario that keeps a candidate keeps its station id, and a
    re-import updates instead of doubling. The rank, marginal demand, cost
    and candidate are kept in ``extra``.
    """
    source = f"plan:{_slug(scenario)}"
    lon, lat = sites["lon"].to_numpy(float), sites["lat"].to_numpy(float)
    where = locate(lon, lat) if len(sites) else pd.DataFrame(columns=["adcode", "city", "district"])
    recs = []
    for i, row in enumerate(sites.itertuples(index=False)):
        rank = int(row.rank)
        name = settings.SITING_SITE_NAME.format(rank=rank)
        extra = {"rank": rank, "added_demand": _num(row.added_demand, 6), "demand_unit": unit,
                 "candidate_id": str(row.candidate_id), "candidate_name": str(row.name),
                 "cost": _num(row.cost, 6), "capacity": _num(row.capacity, 6), "scenario": scenario,
                 "model": model, "method": method}
        w = where.iloc[i]
        recs.append({
            "id": station_id(kind, source, str(row.candidate_id), name, float(lon[i]), float(lat[i])),
            "name": name, "kind": kind, "subtype": "", "address": "",
            "adcode": w["adcode"] if isinstance(w["adcode"], str) else "",
            "city": w["city"] if isinstance(w["city"], str) else "",
            "district": w["district"] if isinstance(w["district"], str) else "",
            "lon": round(float(lon[i]), 7), "lat": round(float(lat[i]), 7), "facilities": [],
            "facilities_other": [], "opening_hours": "", "opening_hours_osm": "", "is_24h": False,
            "status": "planned", "operator": "", "phone": "", "title": "", "source": source,
            "source_id": str(row.candidate_id), "verified_at": "", "truck_parking_spaces": None,
            "lawyer_hours": "",
            "notes": f"规划方案 {scenario} 第 {rank} 位 / rank {rank} in plan {scenario}",
            "extra": json.dumps(extra, ensure_ascii=False), "is_sample": False, "version": 1, "updated_at": ""})
    df = pd.DataFrame(recs, columns=list(FIELD_NAMES))
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"].astype(float), df["lat"].astype(float)),
                            crs="EPSG:4326")


def _proposal_geojson(sites: pd.DataFrame, problem: SitingProblem, scenario: str, model: str, method: str) -> str:
    from geo.registry.export import to_geojson

    kind = problem.standard.kinds[0]
    frame = proposal_frame(sites, kind, scenario, model=model, method=method,
                           unit=problem.baseline.demand.unit if problem.baseline is not None else "")
    doc = json.loads(to_geojson(frame))
    # Foreign members (RFC 7946 section 6.1): the import ignores them.
    doc = {"type": "FeatureCollection", "scenario": scenario, "standard": problem.standard.to_dict(),
           "features": doc["features"]}
    return json.dumps(doc, ensure_ascii=False)


def _district_rows(problem: SitingProblem, served_add: np.ndarray, sites: pd.DataFrame) -> pd.DataFrame:
    base = problem.baseline
    codes = list(base.districts["adcode"]) if base is not None else sorted(set(problem.district) - {""})
    names = list(base.districts["name"]) if base is not None else [""] * len(codes)
    pos = {c: i for i, c in enumerate(codes)}
    g = np.array([pos.get(c, -1) for c in problem.district], dtype=np.int64)
    ok = g >= 0
    k = len(codes)
    dem = problem.demand
    d_sum = np.bincount(g[ok], weights=dem[ok], minlength=k)
    before = np.bincount(g[ok], weights=(dem * problem.covered0)[ok], minlength=k)
    added = np.bincount(g[ok], weights=(dem * served_add)[ok], minlength=k)
    new = sites["adcode"].value_counts() if len(sites) else pd.Series(dtype=int)
    with np.errstate(invalid="ignore", divide="ignore"):
        b_share = np.where(d_sum > 0, before / d_sum, np.nan)
        a_share = np.where(d_sum > 0, (before + added) / d_sum, np.nan)
    return pd.DataFrame({"adcode": codes, "name": names, "demand": d_sum, "before_share": b_share,
                         "after_share": np.minimum(a_share, 1.0), "added_demand": added,
                         "new_sites": [int(new.get(c, 0)) for c in codes]}, columns=_DISTRICT_COLUMNS)


def _site_rows(problem: SitingProblem, order: list[int], added: list[float],
               saved: list[float] | None = None) -> pd.DataFrame:
    c = problem.candidates.iloc[order] if order else problem.candidates.iloc[0:0]
    lon, lat = c["lon"].to_numpy(float), c["lat"].to_numpy(float)
    if len(c) and problem.baseline is not None:
        where = locate(lon, lat)
        adcode, district = where["adcode"].to_numpy(dtype=object), where["district"].to_numpy(dtype=object)
    else:
        adcode = district = np.full(len(c), None, dtype=object)
    return pd.DataFrame({"rank": np.arange(1, len(c) + 1), "candidate_id": c["id"].astype(str).to_numpy(),
                         "name": c["name"].astype(str).to_numpy(), "lon": lon, "lat": lat,
                         "added_demand": np.asarray(added, float), "cost": c["cost"].to_numpy(float),
                         "capacity": c["capacity"].to_numpy(float), "adcode": adcode, "district": district,
                         "travel_saved": np.asarray(saved, float) if saved is not None else np.nan},
                        columns=_SITE_COLUMNS)


def _gaps_after(problem: SitingProblem, covered_after: np.ndarray, order: list[int]) -> pd.DataFrame:
    """The engine's gap table for the cells still uncovered (travel_max from known travel)."""
    base = problem.baseline
    if base is None or base.grid is None:
        return pd.DataFrame()
    travel = problem.travel0.copy()
    if order:
        sub = _rows(problem.travel, np.asarray(order)).tocsc()
        has = np.diff(sub.indptr) > 0
        mins = np.full(sub.shape[1], np.inf)
        if has.any():
            mins[has] = np.minimum.reduceat(sub.data, sub.indptr[:-1][has])
        travel = np.minimum(travel, mins)
    labels = gap_labels(base.grid, ~covered_after)
    st = pd.concat([base.stations[["lon", "lat"]], problem.candidates.iloc[order][["lon", "lat"]]],
                   ignore_index=True)
    table, _ = gap_table(base.grid, labels, problem.demand, travel, st)
    return table


# --------------------------------------------------------------------------
# Solving
# --------------------------------------------------------------------------


def _check(problem: SitingProblem, model: str, p: int, target_share: float | None, method: str) -> list[str]:
    if model not in MODELS:
        raise ValueError(f"未知模型 / unknown model {model!r} (choose from {', '.join(MODELS)})")
    if method not in METHODS:
        raise ValueError(f"未知求解方法 / unknown method {method!r} (exact or greedy)")
    if int(p) != p or p < 0:
        raise ValueError(f"新建站点数须为非负整数 / the number of new sites must be a whole number ≥ 0: {p!r}")
    if model == "lscp" and (target_share is None or not 0 < target_share <= 1):
        raise ValueError(f"目标覆盖率须在 (0, 1] 内 / the target share must be in (0, 1]: {target_share!r}")
    if model == "pmedian" and problem.limit <= problem.standard.threshold and problem.baseline is not None:
        return ["p-median 的出行只计算到服务标准为止；用 reach>1 构建问题可算得更远 / p-median travel was computed "
                "up to the standard only; build the problem with reach > 1 to see farther"]
    return []


def _rank(state_factory: Callable[[], object], chosen: Iterable[int]) -> tuple[list[int], list[float]]:
    """Order chosen sites by greedy marginal gain among themselves."""
    chosen = list(int(j) for j in chosen)
    if not chosen:
        return [], []
    state = state_factory()
    left = set(chosen)
    order, gains = [], []
    while left:
        best = max(sorted(left), key=lambda j: state.gain(j))
        g = state.gain(best)
        state.commit(best)
        order.append(best)
        gains.append(g)
        left.remove(best)
    return order, gains


def solve(problem: SitingProblem, p: int, *, model: str = "mclp", target_share: float | None = None,
          budget: float | None = None, method: str = "exact", time_limit: float = settings.SITING_TIME_LIMIT_S,
          scenario: str | None = None, verify: bool = True) -> SitingResult:
    """Recommend new sites.

    Parameters
    ----------
    problem : SitingProblem
    p : int
        MCLP and p-median: how many new sites. LSCP: the most new sites allowed.
    model : str
        ``mclp`` (most newly covered demand), ``lscp`` (fewest sites that
        bring the covered share to ``target_share``, existing coverage
        counted) or ``pmedian`` (least mean demand-weighted travel to the
        nearest station, existing included; travel truncated at
        ``problem.limit``).
    target_share : float, optional
        LSCP's target covered demand share in (0, 1].
    budget : float, optional
        Most total cost of the new sites (candidates without a cost count 0).
    method : str
        ``exact`` (HiGHS MILP, warm-started from greedy, stopped at
        ``time_limit`` seconds with the gap reported) or ``greedy``.
    scenario : str, optional
        Name; default :func:`default_scenario_name`.
    verify : bool
        Run the coverage engine again with the new sites added as stations:
        the remaining gaps come from it, and its covered share is reported
        (``verified``) beside the one computed from the matrix.

    Returns
    -------
    SitingResult
    """
    notes = list(problem.notes) + _check(problem, model, p, target_share, method)
    p = int(p)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    n = problem.n_candidates
    cost = problem.candidates["cost"].to_numpy(float)
    cap = problem.candidates["capacity"].to_numpy(float)
    capacitated = bool(np.isfinite(cap).any()) and model != "pmedian"
    if budget is not None:
        budget = float(budget)
        missing = int(np.isnan(cost).sum())
        if missing:
            notes.append(f"{missing} 个候选点没有成本，按 0 计 / {missing} candidate(s) have no cost; counted as 0")
    if model == "pmedian" and np.isfinite(cap).any():
        notes.append("p-median 不考虑容量 / p-median ignores capacities")
    A, w, open_cells = problem.open_core()
    total = problem.total_demand
    before = problem.before_demand
    need = None
    if model == "lscp":
        need = target_share * total - before
        need -= _TOL * max(total, 1.0)

    # ---- greedy (always: the preview, or the warm start) ---------------------------------
    t = time.perf_counter()
    if model == "pmedian":
        w_all, base_all, T, cells_all = _pmedian_core(problem)
        make = lambda: _TravelState(T, w_all, base_all)  # noqa: E731
    elif capacitated:
        make = lambda: _CapacityState(A, w, cap)  # noqa: E731
    else:
        make = lambda: _CoverState(A, w)  # noqa: E731
    state = make()
    k_max = p if model != "lscp" else min(p, n)
    stop = (lambda: state.value >= need) if model == "lscp" else None
    plain = model == "mclp" and budget is None and not capacitated
    g = _lazy_greedy(n, state.first(), state.gain, state.commit, k_max, cost=cost, budget=budget, stop=stop,
                     bound_p=p if plain and p > 0 else None)
    g_order, g_gains, g_value = g.order, g.gains, state.value
    if budget is not None and model != "lscp":
        # Khuller et al.: the ratio greedy or the best single affordable site, whichever is better.
        single = make()
        firsts = single.first()
        afford = np.flatnonzero(np.nan_to_num(cost, nan=0.0) <= budget + _TOL)
        if len(afford) and p >= 1:
            j = int(afford[np.argmax(firsts[afford])])
            if firsts[j] > g_value + _TOL:
                g_order, g_gains, g_value = [j], [float(firsts[j])], float(firsts[j])
    timings["greedy_s"] = time.perf_counter() - t

    if model != "mclp":
        guarantee = _GUARANTEES[model]
    elif capacitated:
        guarantee = _GUARANTEES["mclp_capacity"]
    elif budget is None:
        guarantee = _GUARANTEES["mclp"]
    else:  # with p >= n only the budget binds
        guarantee = _GUARANTEES["mclp_budget" if p >= n else "mclp_both"]
    status, gap, bound, objective = "greedy", None, None, g_value
    if model == "mclp" and g.bound is not None and g.bound > 0:
        bound = g.bound
        gap = max(bound - g_value, 0.0) / max(g_value, 1e-12) if g_value > 0 else None
    chosen, served_open = list(g_order), None
    used_method = "greedy"

    # ---- exact -------------------------------------------------------------------------
    if method == "exact" and n:
        t = time.perf_counter()
        try:
            ex = _solve_exact(problem, model, p, need, budget, capacitated, time_limit, g_order, A, w, cost, cap)
        except ImportError:  # pragma: no cover - highspy is a pinned requirement
            ex = None
            notes.append("未安装 highspy，改用贪心 / highspy is not installed; greedy used")
        timings["exact_s"] = time.perf_counter() - t
        if ex is not None:
            res, sites, served = ex
            if res.status == "infeasible" and model == "lscp":
                notes.append("在站点数与预算限制内无法达到目标覆盖率，给出最多站点数下的最大覆盖方案 / the target share "
                             "cannot be reached within the site count and budget; the most coverage with the most "
                             "sites allowed is given instead")
                res, sites, served = _solve_exact(problem, "mclp", p, None, budget, capacitated, time_limit,
                                                  g_order, A, w, cost, cap)
            if res.x is not None:
                used_method, status, gap, bound, objective = "exact", res.status, res.gap, res.bound, res.objective
                chosen, served_open = list(sites), served
                if status != "optimal" and g.bound is not None and not (bound is not None and bound <= g.bound):
                    # Stopped before HiGHS had a good bound: the greedy's certified one is valid too.
                    bound = g.bound
                    gap = max(bound - objective, 0.0) / max(abs(objective), 1e-12)
            else:
                notes.append(f"精确求解未得到可行解（{res.status}），采用贪心解 / the exact solver found no solution "
                             f"({res.status}); the greedy answer is given")

    # ---- rank, after state, result -------------------------------------------------------
    t = time.perf_counter()
    if used_method == "greedy":
        order, added = list(g_order), list(g_gains)
    elif capacitated:
        order, _ = _rank(make, chosen)
        added, prev = [], 0.0
        for k in range(1, len(order) + 1):
            val, _ = _served_lp(A, w, cap, order[:k])
            added.append(val - prev)
            prev = val
    else:
        order, added = _rank(make, chosen)
    saved = None
    if model == "pmedian":
        # Ranked by travel saved; added_demand stays what the name says, newly covered demand.
        saved, cover = added, _CoverState(A, w)
        added = []
        for j in order:
            before_j = cover.value
            cover.commit(j)
            added.append(cover.value - before_j)
    result = _assemble(problem, model, order, added, used_method, status, gap, bound, objective, guarantee, p,
                       target_share, budget, capacitated, served_open, scenario, notes, cost, cap, saved)
    timings["assemble_s"] = time.perf_counter() - t
    if verify and problem.baseline is not None:
        t = time.perf_counter()
        _verify(problem, result, order)
        timings["verify_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    result.timings = {**{f"build_{k}": v for k, v in problem.timings.items()},
                      **{k: round(v, 4) for k, v in timings.items()}}
    return result


def _pmedian_core(problem: SitingProblem) -> tuple[np.ndarray, np.ndarray, sparse.csr_matrix, np.ndarray]:
    """Cells with demand, their capped current travel, and candidate travel where it improves on it."""
    if "pmedian" not in problem._cache:
        cells = np.flatnonzero(problem.demand > 0)
        base = np.minimum(problem.travel0[cells], problem.limit)
        T = _columns(problem.travel, cells)
        rows = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr))
        better = T.data < base[T.indices]
        T = _csr(rows[better], T.indices[better], T.data[better], T.shape)
        problem._cache["pmedian"] = (problem.demand[cells].astype(float), base, T, cells)
    return problem._cache["pmedian"]


def _solve_exact(problem, model, p, need, budget, capacitated, time_limit, start, A, w, cost, cap):
    """Run the MILP for the model; returns (milp result, chosen sites, served share per open cell or None)."""
    n = problem.n_candidates
    if model == "pmedian":
        w_all, base, T, _ = _pmedian_core(problem)
        coo = T.tocoo()
        pj, pi = coo.row.astype(np.int64), coo.col.astype(np.int64)
        saving = w_all[pi] * (base[pi] - coo.data)
        y0 = np.zeros(n)
        y0[start] = 1.0
        # Warm start: each cell to its best chosen site.
        x0 = np.zeros(len(pj))
        sel = np.flatnonzero(y0[pj] > 0)
        if len(sel):
            best = {}
            for q in sel[np.argsort(coo.data[sel], kind="stable")]:
                best.setdefault(int(pi[q]), q)
            x0[list(best.values())] = 1.0
        res, chosen, _ = _exact_assign(pj, pi, saving, n, T.shape[1], p=p, cost=cost, budget=budget,
                                       time_limit=time_limit, start_y=y0, start_x=x0)
        return res, chosen, None
    if not capacitated:
        res, chosen = _exact_cover(A, w, p=p, cost=cost, budget=budget, need=need, time_limit=time_limit,
                                   start=start)
        served = None
        if res.x is not None:
            hit = np.zeros(A.shape[1], dtype=bool)
            if len(chosen):
                hit[_rows(A, chosen).indices] = True
            served = hit.astype(float)
        return res, chosen, served
    G, W, group = _group_columns(A, w)
    coo = G.tocoo()
    pj, pi = coo.row.astype(np.int64), coo.col.astype(np.int64)
    y0 = np.zeros(n)
    y0[start] = 1.0
    warm = _CapacityState(G, W, cap)
    for j in start:
        warm.commit(j)
    x0 = warm.x  # G's stored entries in CSR order, the order of ``pj``/``pi``
    res, chosen, x = _exact_assign(pj, pi, W[pi], n, G.shape[1], p=p, cost=cost, budget=budget, load=W[pi],
                                   cap=cap, need=need, time_limit=time_limit, start_y=y0, start_x=x0)
    served = None
    if res.x is not None:
        g_served = np.zeros(G.shape[1])
        np.add.at(g_served, pi, x)
        served = np.minimum(g_served[group], 1.0)
    return res, chosen, served


def _assemble(problem, model, order, added, method, status, gap, bound, objective, guarantee, p, target_share,
              budget, capacitated, served_open, scenario, notes, cost, cap, saved=None) -> SitingResult:
    A, w, open_cells = problem.open_core()
    ncell = len(problem.demand)
    served_add = np.zeros(ncell)
    if capacitated:
        if method == "exact" and served_open is not None:
            served_add[open_cells] = served_open
        else:
            st = _CapacityState(A, w, cap)
            for j in order:
                st.commit(j)
            with np.errstate(invalid="ignore", divide="ignore"):
                served_add[open_cells] = np.where(w > 0, 1.0 - st.left / w, 0.0)
    elif order:
        served_add[_rows(problem.cover(), np.asarray(order)).indices] = 1.0
        served_add[problem.covered0] = 0.0
    served_add = np.clip(served_add, 0.0, 1.0)
    total, before = problem.total_demand, problem.before_demand
    after = before + float((problem.demand * served_add).sum())
    covered_after = problem.covered0 | (served_add >= 1.0 - 1e-9)
    sites = _site_rows(problem, order, added, saved)
    if len(sites):
        # The marginal gains add up to the added demand; any float dust goes to the last site.
        sites.loc[sites.index[-1], "added_demand"] += (after - before) - float(sites["added_demand"].sum())
    scenario = scenario or default_scenario_name(problem, model, p, target_share)
    total_cost = float(np.nansum(cost[order])) if order and np.isfinite(cost[order]).any() else None
    travel = None
    if model == "pmedian":
        w_all, base, T, cells = _pmedian_core(problem)
        cur = base.copy()
        if order:
            sub = _rows(T, np.asarray(order)).tocsc()
            has = np.diff(sub.indptr) > 0
            if has.any():
                mins = np.full(sub.shape[1], np.inf)
                mins[has] = np.minimum.reduceat(sub.data, sub.indptr[:-1][has])
                cur = np.minimum(cur, mins)
        wsum = float(w_all.sum())
        travel = {"unit": problem.standard.unit, "cap": problem.limit,
                  "before_mean": _num(float((w_all * base).sum()) / wsum, 6) if wsum else None,
                  "after_mean": _num(float((w_all * cur).sum()) / wsum, 6) if wsum else None}
    area = problem.baseline.cells["area_km2"].to_numpy(float) if problem.baseline is not None else None
    share = lambda x: min(max(x / total, 0.0), 1.0) if total > 0 else 0.0  # noqa: E731
    target_met = None
    if model == "lscp":
        target_met = bool(after >= target_share * total - _TOL * max(total, 1.0))
    base = problem.baseline
    region = ({"adcode": base.region.adcode, "name": base.region.name, "level": base.region.level}
              if base is not None else {})
    return SitingResult(
        scenario=scenario, model=model, method=method, status=status, gap=gap, bound=bound, objective=objective,
        guarantee=guarantee, region=region, standard=problem.standard.to_dict(),
        resolution=base.resolution if base is not None else None,
        travel_method=base.method if base is not None else "matrix", p=p, target_share=target_share,
        target_met=target_met, budget=budget, total_cost=total_cost, demand_total=total, before_demand=before,
        after_demand=after, before_share=share(before), after_share=share(after), sites=sites,
        districts=_district_rows(problem, served_add, sites), gaps=_gaps_after(problem, covered_after, order),
        proposal_geojson=_proposal_geojson(sites, problem, scenario, model, method),
        candidates=dict(problem.candidate_summary),
        before_share_area=(float(area[problem.covered0].sum() / area.sum()) if area is not None and area.sum() > 0
                           else None),
        after_share_area=(float(area[covered_after].sum() / area.sum()) if area is not None and area.sum() > 0
                          else None),
        travel=travel, notes=notes)


def _verify(problem: SitingProblem, result: SitingResult, order: list[int]) -> None:
    """Re-run the coverage engine with the new sites as stations; its gaps replace the matrix-derived ones."""
    base = problem.baseline
    args = dict(problem.coverage_args)
    region = args.pop("region")
    statuses = args["statuses"] or ("open",)
    status = "open" if "open" in statuses else statuses[0]
    new = problem.candidates.iloc[order]
    add = pd.DataFrame({"id": [f"PLAN-{i + 1}" for i in range(len(new))],
                        "name": [settings.SITING_SITE_NAME.format(rank=i + 1) for i in range(len(new))],
                        "kind": problem.standard.kinds[0], "status": status,
                        "lon": new["lon"].to_numpy(float), "lat": new["lat"].to_numpy(float)})
    existing = pd.DataFrame(base.stations.drop(columns=base.stations.geometry.name, errors="ignore"))
    stations = pd.concat([existing, add], ignore_index=True)
    kinds = args.pop("kinds")
    std = problem.standard
    args.update(mode=std.mode, minutes=std.minutes, meters=std.meters)
    after = coverage(region, kinds if kinds is not None else list(std.kinds), stations=stations, **args)
    result.verified = {"after_share": _num(after.covered_share_demand, 9),
                       "after_share_area": _num(after.covered_share_area, 9),
                       "method": after.method, "gaps_total": int(len(after.gap_table))}
    result.gaps = after.gap_table
    if abs(after.covered_share_demand - result.after_share) > 1e-6 and result.model != "pmedian":
        capacitated = bool(np.isfinite(problem.candidates["capacity"].to_numpy(float)).any())
        result.notes.append(
            ("覆盖引擎不计容量，其覆盖率为上限 / the coverage engine ignores capacities; its share is an upper bound"
             if capacitated else
             f"覆盖引擎复算覆盖率 {after.covered_share_demand:.6f}，与矩阵结果 {result.after_share:.6f} 不同 / the "
             f"engine's share {after.covered_share_demand:.6f} differs from the matrix's {result.after_share:.6f}"))


def greedy_preview(problem: SitingProblem, p: int, *, model: str = "mclp", target_share: float | None = None,
                   budget: float | None = None, scenario: str | None = None) -> SitingResult:
    """A fast answer for the planner page: lazy greedy on the cached matrix, no MILP, no engine re-run.

    Build the problem once (:func:`build_problem`) and call this as the
    planner moves a slider: the coverage matrix is reused, so a city-sized
    problem answers well within a second. Remaining gaps are computed from
    the matrix (their ``travel_max`` from travel known to the problem).
    """
    return solve(problem, p, model=model, target_share=target_share, budget=budget, method="greedy",
                 scenario=scenario, verify=False)


# --------------------------------------------------------------------------
# Command line (parsed in geo/cli/main.py)
# --------------------------------------------------------------------------


def run_plan_command(args) -> int:
    """``python -m geo plan --region ADCODE --new P ... [--json]``."""
    model = getattr(args, "model", None) or ("lscp" if args.target_share is not None else "mclp")
    if args.target_share is not None and model != "lscp":
        raise ValueError("--target-share 只用于 LSCP / --target-share goes with the lscp model")
    reach = settings.SITING_PMEDIAN_REACH if model == "pmedian" else 1.0
    try:
        problem = build_problem(
            args.region, args.kind, mode=args.mode, minutes=args.minutes, meters=args.meters, res=args.res,
            network=args.network, population=args.population, demand=getattr(args, "demand", None),
            demand_weight=getattr(args, "demand_weight", None), registry=args.registry,
            statuses=getattr(args, "status", None) or settings.COVERAGE_STATUSES, candidates=args.candidates,
            candidate_crs=getattr(args, "candidate_crs", "auto"), cost_column=getattr(args, "cost_column", None),
            capacity_column=getattr(args, "capacity_column", None), exclusions=getattr(args, "exclude", None),
            reach=reach)
    except ReadError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    result = solve(problem, args.new, model=model, target_share=args.target_share,
                   budget=getattr(args, "budget", None), method="greedy" if args.greedy else "exact",
                   time_limit=args.time_limit if args.time_limit is not None else settings.SITING_TIME_LIMIT_S,
                   scenario=getattr(args, "scenario", None))
    outputs = {}
    if args.out:
        outputs["proposal"] = str(result.write_proposal(args.out))
    if getattr(args, "save", False):
        from geo.analysis.scenarios import save_scenario

        outputs["scenario"] = str(save_scenario(result, folder=getattr(args, "scenario_dir", None),
                                                overwrite=True))
    doc = result.to_dict()
    doc["outputs"] = outputs
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    unit = problem.baseline.demand.unit if problem.baseline is not None else ""
    print(f"{doc['region'].get('name', '')} ({doc['region'].get('adcode', '')}) — {doc['standard']['label']}")
    print(f"模型 / model: {model}; 方法 / method: {result.method} ({result.status}); gap: "
          f"{'—' if result.gap is None else f'{result.gap:.4%}'}")
    print(f"覆盖率 / covered share: {result.before_share:.1%} → {result.after_share:.1%} "
          f"(+{result.added_demand:,.1f} {unit})")
    for row in result.sites.itertuples():
        print(f"  {row.rank}. {row.name} ({row.lon:.5f}, {row.lat:.5f}) +{row.added_demand:,.1f} {unit}")
    for note in result.notes:
        print(f"注意 / note: {note}")
    for what, path in outputs.items():
        print(f"已写入 / wrote {what}: {path}", file=sys.stderr)
    return 0
