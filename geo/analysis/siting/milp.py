"""Exact answers: the siting models as mixed-integer programs, solved by HiGHS (:mod:`highspy`).

Two forms. The compact *cover* form (uncapacitated MCLP and LSCP) merges
cells reached by the same candidate set into one row each; the
*assignment* form (capacitated MCLP and LSCP, p-median) gives every
reachable (candidate, cell) pair a share variable. Each run is
warm-started from the greedy answer, stopped at a time limit, and reports
HiGHS's bound and the relative optimality gap.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

from geo import settings
from geo.analysis.siting.greedy import CapacityState
from geo.analysis.siting.matrix import take_columns, take_rows
from geo.analysis.siting.problem import SitingProblem


@dataclass
class MilpResult:
    """One HiGHS run.

    Attributes
    ----------
    x : ndarray or None
        The variables' values; None without a feasible solution.
    status : str
        ``optimal``, ``time_limit``, ``infeasible`` or HiGHS's own word.
    objective, bound : float
        The solution's objective and HiGHS's bound on the optimum.
    gap : float or None
        Relative gap between them (0 when proven optimal).
    seconds : float
    """

    x: np.ndarray | None
    status: str
    objective: float
    bound: float
    gap: float | None
    seconds: float


@dataclass(frozen=True)
class Limits:
    """The constraints every form shares.

    Attributes
    ----------
    p : int
        Most new sites.
    cost : ndarray or None
        Cost per candidate (NaN counts 0); used with ``budget``.
    budget : float or None
        Most total cost.
    need : float or None
        LSCP: the objective to reach with the fewest sites; None maximises the objective.
    time_limit : float
        Seconds HiGHS may take.
    """

    p: int
    cost: np.ndarray | None = None
    budget: float | None = None
    need: float | None = None
    time_limit: float = settings.SITING_TIME_LIMIT_S


def _highs(c: np.ndarray, M: sparse.spmatrix, rlo: np.ndarray, rhi: np.ndarray, lo: np.ndarray,
           hi: np.ndarray, integer: np.ndarray, maximize: bool, time_limit: float,
           start: np.ndarray | None = None) -> MilpResult:
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
    return MilpResult(x, name, obj, bound, gap, time.perf_counter() - t0)


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
    return take_columns(A, first), W, group


def _shared_rows(n: int, extra: int, limits: Limits, objective: np.ndarray) -> tuple[list, list, list]:
    """The rows of the site count, the budget and LSCP's need, over ``n`` sites and ``extra`` other columns."""
    rows = [sparse.csr_matrix(np.r_[np.ones(n), np.zeros(extra)][None, :])]
    rlo, rhi = [[-np.inf]], [[float(limits.p)]]
    if limits.budget is not None:
        rows.append(sparse.csr_matrix(np.r_[np.nan_to_num(limits.cost, nan=0.0), np.zeros(extra)][None, :]))
        rlo.append([-np.inf]), rhi.append([float(limits.budget)])
    if limits.need is not None:
        rows.append(sparse.csr_matrix(np.r_[np.zeros(n), objective][None, :]))
        rlo.append([float(limits.need)]), rhi.append([np.inf])
    return rows, rlo, rhi


def exact_cover(A: sparse.csr_matrix, w: np.ndarray, limits: Limits, *,
                start: list[int]) -> tuple[MilpResult, np.ndarray]:
    """MCLP (``limits.need`` None: max covered demand) or LSCP (min sites covering ``need``), compact form.

    Variables ``y_j`` (site j built, binary) and ``z_k`` (group k covered,
    continuous in [0, 1]: integral at any optimum given integral y). Rows:
    ``z_k - sum_{j reaches k} y_j <= 0``; ``sum y <= p``; ``sum c_j y_j <= B``;
    for LSCP ``sum W_k z_k >= need``.

    Parameters
    ----------
    A
        Candidates x open cells, 1 where covered.
    w
        Demand of each open cell.
    limits
        Site count, budget, LSCP's need, time limit.
    start
        Warm start: the greedy sites.

    Returns
    -------
    (MilpResult, chosen sites)
    """
    n = A.shape[0]
    G, W, _ = _group_columns(A, w)
    k = G.shape[1]
    link = sparse.hstack([-G.T.tocsr(), sparse.identity(k, format="csr")], format="csr")
    shared, slo, shi = _shared_rows(n, k, limits, W)
    M = sparse.vstack([link, *shared], format="csc")
    rlo, rhi = np.concatenate([np.full(k, -np.inf), *slo]), np.concatenate([np.zeros(k), *shi])
    c = np.r_[np.zeros(n), W] if limits.need is None else np.r_[np.ones(n), np.zeros(k)]
    y0 = np.zeros(n)
    y0[start] = 1.0
    z0 = np.minimum(np.asarray(G.T @ y0).ravel(), 1.0)
    res = _highs(c, M, rlo, rhi, np.zeros(n + k), np.ones(n + k), np.r_[np.ones(n, bool), np.zeros(k, bool)],
                 limits.need is None, limits.time_limit, np.r_[y0, z0])
    chosen = np.flatnonzero(res.x[:n] > 0.5) if res.x is not None else np.zeros(0, dtype=np.int64)
    return res, chosen


@dataclass
class Pairs:
    """The reachable (candidate, cell) pairs of the assignment form.

    Attributes
    ----------
    site, cell : ndarray of int
        Candidate and cell of each pair.
    value : ndarray
        What serving the cell from the site is worth (demand, or travel saved).
    n_sites, n_cells : int
    load : ndarray or None
        Demand each pair puts on a site's capacity.
    cap : ndarray or None
        Capacity per candidate (NaN: unlimited).
    """

    site: np.ndarray
    cell: np.ndarray
    value: np.ndarray
    n_sites: int
    n_cells: int
    load: np.ndarray | None = None
    cap: np.ndarray | None = None


def exact_assign(pairs: Pairs, limits: Limits, *, start_y: np.ndarray,
                 start_x: np.ndarray) -> tuple[MilpResult, np.ndarray, np.ndarray]:
    """Assignment form: capacitated MCLP/LSCP and p-median.

    Variables ``y_j`` (binary) and ``x_ij`` (share of cell i served by j,
    continuous). Rows: ``sum_j x_ij <= 1``; ``x_ij - y_j <= 0``;
    ``sum_i load_ij x_ij - cap_j y_j <= 0`` where capacities are finite;
    ``sum y <= p``; ``sum c y <= B``. Maximise ``sum value_ij x_ij``, or
    for LSCP minimise ``sum y`` subject to ``sum value_ij x_ij >= need``.

    Parameters
    ----------
    pairs
        The reachable pairs, their value, load and the capacities.
    limits
        Site count, budget, LSCP's need, time limit.
    start_y, start_x
        Warm start: sites built, and each pair's share.

    Returns
    -------
    (MilpResult, chosen sites, share of each pair)
    """
    pair_j, pair_i, n, m, cap = pairs.site, pairs.cell, pairs.n_sites, pairs.n_cells, pairs.cap
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
            data = np.r_[pairs.load[sel], -cap[fin]]
            r = np.r_[pos[pair_j[sel]], np.arange(len(fin))]
            col = np.r_[n + ar[sel], fin]
            rows.append(sparse.csr_matrix((data, (r, col)), shape=(len(fin), n + P)))
            rlo.append(np.full(len(fin), -np.inf)), rhi.append(np.zeros(len(fin)))
    shared, slo, shi = _shared_rows(n, P, limits, pairs.value)
    M = sparse.vstack([*rows, *shared], format="csc")
    c = np.r_[np.zeros(n), pairs.value] if limits.need is None else np.r_[np.ones(n), np.zeros(P)]
    res = _highs(c, M, np.concatenate([*rlo, *slo]), np.concatenate([*rhi, *shi]), np.zeros(n + P),
                 np.ones(n + P), np.r_[np.ones(n, bool), np.zeros(P, bool)], limits.need is None,
                 limits.time_limit, np.r_[start_y, start_x])
    if res.x is None:
        return res, np.zeros(0, dtype=np.int64), np.zeros(P)
    return res, np.flatnonzero(res.x[:n] > 0.5), np.clip(res.x[n:], 0.0, 1.0)


def served_within_capacity(A: sparse.csr_matrix, w: np.ndarray, cap: np.ndarray,
                           sites: list[int]) -> tuple[float, np.ndarray]:
    """Most demand ``sites`` can serve within their capacities (an LP).

    Parameters
    ----------
    A
        Candidates x open cells, 1 where covered.
    w
        Demand of each open cell.
    cap
        Capacity per candidate (NaN: unlimited).
    sites
        The sites built.

    Returns
    -------
    (value, served share per cell)
    """
    if not sites:
        return 0.0, np.zeros(A.shape[1])
    coo = take_rows(A, np.asarray(sites)).tocoo()
    pj, pi = coo.row.astype(np.int64), coo.col.astype(np.int64)
    cells, inv = np.unique(pi, return_inverse=True)
    if not len(cells):
        return 0.0, np.zeros(A.shape[1])
    n = len(sites)
    pairs = Pairs(pj, inv, w[cells][inv], n, len(cells), load=w[cells][inv], cap=np.asarray(cap, float)[sites])
    res, _, x = exact_assign(pairs, Limits(p=n, time_limit=60.0), start_y=np.ones(n), start_x=np.zeros(len(pj)))
    served = np.zeros(A.shape[1])
    np.add.at(served, cells[inv], x)
    return float(res.objective), np.minimum(served, 1.0)


def solve_exact(problem: SitingProblem, model: str, limits: Limits, *, capacitated: bool,
                start: list[int]) -> tuple[MilpResult, np.ndarray, np.ndarray | None]:
    """Run the MILP of ``model`` on ``problem``.

    Parameters
    ----------
    problem
    model
        ``mclp``, ``lscp`` or ``pmedian``.
    limits
        Site count, budget, LSCP's need, time limit.
    capacitated
        Whether candidates' capacities bind (not for p-median).
    start
        Warm start: the greedy sites.

    Returns
    -------
    (MilpResult, chosen sites, served share per open cell or None)
    """
    n = problem.n_candidates
    cap = problem.candidates["capacity"].to_numpy(float)
    y0 = np.zeros(n)
    y0[start] = 1.0
    if model == "pmedian":
        w_all, base, T, _ = problem.pmedian_core()
        coo = T.tocoo()
        pj, pi = coo.row.astype(np.int64), coo.col.astype(np.int64)
        # Warm start: each cell to its best chosen site.
        x0 = np.zeros(len(pj))
        sel = np.flatnonzero(y0[pj] > 0)
        if len(sel):
            best = {}
            for q in sel[np.argsort(coo.data[sel], kind="stable")]:
                best.setdefault(int(pi[q]), q)
            x0[list(best.values())] = 1.0
        pairs = Pairs(pj, pi, w_all[pi] * (base[pi] - coo.data), n, T.shape[1])
        res, chosen, _ = exact_assign(pairs, replace(limits, need=None), start_y=y0, start_x=x0)
        return res, chosen, None
    A, w, _ = problem.open_core()
    if not capacitated:
        res, chosen = exact_cover(A, w, limits, start=start)
        served = None
        if res.x is not None:
            hit = np.zeros(A.shape[1], dtype=bool)
            if len(chosen):
                hit[take_rows(A, chosen).indices] = True
            served = hit.astype(float)
        return res, chosen, served
    G, W, group = _group_columns(A, w)
    coo = G.tocoo()
    pj, pi = coo.row.astype(np.int64), coo.col.astype(np.int64)
    warm = CapacityState(G, W, cap)
    for j in start:
        warm.commit(j)
    # warm.x follows G's stored entries in CSR order, the order of pj/pi.
    pairs = Pairs(pj, pi, W[pi], n, G.shape[1], load=W[pi], cap=cap)
    res, chosen, x = exact_assign(pairs, limits, start_y=y0, start_x=warm.x)
    served = None
    if res.x is not None:
        g_served = np.zeros(G.shape[1])
        np.add.at(g_served, pi, x)
        served = np.minimum(g_served[group], 1.0)
    return res, chosen, served
