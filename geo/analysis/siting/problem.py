"""The siting problem: a baseline coverage run, the candidates and their reach, built once and solved many times.

:func:`build_problem` runs the coverage engine with the existing stations
(whose standard, grid, demand and network the problem shares), reads or
generates the candidates, drops those in exclusion areas and computes the
candidate x cell travel (:func:`geo.analysis.siting.reach.reach_matrix`).
:func:`problem_from_arrays` makes a problem without geography (tests,
benchmarks).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import sparse

from geo import settings
from geo.analysis.coverage import CoverageResult, coverage
from geo.analysis.demand import DemandSource
from geo.analysis.standard import Standard
from geo.analysis.siting.candidates import CandidateSource, Candidates, apply_exclusions, read_exclusions
from geo.analysis.siting.matrix import csr_keeping_zeros, take_columns
from geo.analysis.siting.reach import reach_matrix
from geo.core.regions import Region
from geo.routing.network import RoadGraph


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
        """How many candidates."""
        return len(self.candidates)

    @property
    def total_demand(self) -> float:
        """Demand of the region."""
        return float(self.demand.sum())

    @property
    def before_demand(self) -> float:
        """Demand the existing stations cover."""
        return float(self.demand[self.covered0].sum())

    def cover(self) -> sparse.csr_matrix:
        """Candidates x cells, 1 where the cell is within the standard of the candidate (cached)."""
        if "cover" not in self._cache:
            t = self.travel
            keep = t.data <= self.standard.threshold
            rows = np.repeat(np.arange(t.shape[0]), np.diff(t.indptr))[keep]
            self._cache["cover"] = csr_keeping_zeros(rows, t.indices[keep], np.ones(int(keep.sum())), t.shape)
        return self._cache["cover"]

    def open_core(self) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
        """Coverage restricted to cells with demand that no station covers yet: (A, weights, cell index)."""
        if "open" not in self._cache:
            cover = self.cover()
            reached = np.zeros(cover.shape[1], dtype=bool)
            reached[cover.indices] = True
            cells = np.flatnonzero(~self.covered0 & (self.demand > 0) & reached)
            self._cache["open"] = (take_columns(cover, cells), self.demand[cells].astype(float), cells)
        return self._cache["open"]


    def pmedian_core(self) -> tuple[np.ndarray, np.ndarray, sparse.csr_matrix, np.ndarray]:
        """p-median's data (cached): the demand of cells with demand, their current travel capped at
        :attr:`limit`, candidate travel where it improves on that (candidates x those cells), and the cells."""
        if "pmedian" not in self._cache:
            cells = np.flatnonzero(self.demand > 0)
            base = np.minimum(self.travel0[cells], self.limit)
            T = take_columns(self.travel, cells)
            rows = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr))
            better = T.data < base[T.indices]
            T = csr_keeping_zeros(rows[better], T.indices[better], T.data[better], T.shape)
            self._cache["pmedian"] = (self.demand[cells].astype(float), base, T, cells)
        return self._cache["pmedian"]


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
        values = np.where(m[r, c] > 0, threshold * 0.5, 0.0) if np.isin(m, [0, 1]).all() else m[r, c]
        travel = csr_keeping_zeros(r, c, values, m.shape)
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


def build_problem(region: str | Region, kinds: str | Iterable[str] | None = None, *, mode: str | None = None,
                  minutes: float | None = None, meters: float | None = None,
                  res: int = settings.COVERAGE_DEFAULT_RES, network: RoadGraph | str | Path | bool | None = None,
                  demand: DemandSource | None = None, stations: pd.DataFrame | None = None,
                  registry: str | Path | None = None, statuses: Iterable[str] = settings.COVERAGE_STATUSES,
                  candidates: CandidateSource | str | Path | pd.DataFrame | Candidates | None = None,
                  reach: float = 1.0, method: str = "auto") -> SitingProblem:
    """Build a siting problem: baseline coverage, candidates and their reach.

    Parameters
    ----------
    region, kinds, mode, minutes, meters, res, network, demand, stations, registry, statuses, method
        As for :func:`geo.analysis.coverage.coverage`: the baseline run with the
        existing stations, whose standard, grid, demand and network the
        problem shares.
    candidates
        Where the candidates come from and where none may go
        (:class:`~geo.analysis.siting.candidates.CandidateSource`); a file,
        frame or :class:`~geo.analysis.siting.candidates.Candidates` alone
        stands for ``CandidateSource(that)``; ``None`` generates them from
        uncovered cells.
    reach
        Travel is computed up to ``reach`` x the threshold. 1 is enough for
        MCLP and LSCP; p-median needs more (``settings.SITING_PMEDIAN_REACH``).
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    args = dict(kinds=kinds, mode=mode, minutes=minutes, meters=meters, res=res, network=network, demand=demand,
                registry=registry, statuses=tuple(statuses), method=method)
    base = coverage(region, stations=stations, **args)
    timings["baseline_s"] = time.perf_counter() - t0
    graph = base.travel.context.graph if base.method == "network" and base.travel.context is not None else None
    std = base.standard
    args["network"] = graph if graph is not None else False

    t = time.perf_counter()
    source = candidates if isinstance(candidates, CandidateSource) else CandidateSource(candidates)
    cands = source.candidates(std.kinds[0], base, graph=graph)
    frame, excluded = apply_exclusions(cands.frame, read_exclusions(source.exclusions))
    summary = {**cands.summary, "excluded": excluded, "used": int(len(frame))}
    notes = []
    if excluded:
        notes.append(f"{excluded} 个候选点位于排除区内，已剔除 / {excluded} candidate(s) inside exclusion areas dropped")
    timings["candidates_s"] = time.perf_counter() - t

    t = time.perf_counter()
    limit = std.threshold * max(float(reach), 1.0)
    grid = base.grid
    travel = reach_matrix(grid, std, frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), graph=graph,
                          limit=limit)
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
