"""Recommend new sites: :func:`solve` (exact, warm-started from greedy) and :func:`greedy_preview`.

Three models: MCLP (most demand covered with ``p`` new sites), LSCP (fewest
new sites reaching a target share, existing coverage counted) and a
truncated p-median (least mean demand-weighted travel), with optional
costs (a budget) and capacities (demand a site can serve). Greedy always
runs: it is the preview, and the exact solver's warm start. The exact
answer is ranked by greedy marginal gain among its sites, and optionally
checked by running the coverage engine again with the sites added.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pandas as pd

from geo import settings
from geo.analysis.coverage import coverage
from geo.analysis.serialize import json_number
from geo.analysis.siting.greedy import (TOL, CapacityState, CoverState, GreedyRun, GreedyState, TravelState,
                                        lazy_greedy, rank_sites)
from geo.analysis.siting.milp import Limits, served_within_capacity, solve_exact
from geo.analysis.siting.problem import SitingProblem
from geo.analysis.siting.result import Answer, Question, SitingResult, assemble_result, change_of

MODELS = ("mclp", "lscp", "pmedian")
METHODS = ("exact", "greedy")

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


def _state_factory(problem: SitingProblem, model: str, capacitated: bool) -> Callable[[], GreedyState]:
    A, w, _ = problem.open_core()
    if model == "pmedian":
        w_all, base_all, T, _ = problem.pmedian_core()
        return lambda: TravelState(T, w_all, base_all)
    if capacitated:
        cap = problem.candidates["capacity"].to_numpy(float)
        return lambda: CapacityState(A, w, cap)
    return lambda: CoverState(A, w)


def _guarantee(model: str, capacitated: bool, budget: float | None, p: int, n: int) -> str:
    if model != "mclp":
        return _GUARANTEES[model]
    if capacitated:
        return _GUARANTEES["mclp_capacity"]
    if budget is None:
        return _GUARANTEES["mclp"]
    return _GUARANTEES["mclp_budget" if p >= n else "mclp_both"]  # with p >= n only the budget binds


def _greedy(problem: SitingProblem, q: Question, make: Callable[[], GreedyState], need: float | None,
            capacitated: bool) -> tuple[GreedyRun, float]:
    """The greedy answer and its objective (with a budget, the best single site when that is better)."""
    n = problem.n_candidates
    cost = problem.candidates["cost"].to_numpy(float)
    state = make()
    k_max = q.p if q.model != "lscp" else min(q.p, n)
    stop = (lambda: state.value >= need) if q.model == "lscp" else None
    plain = q.model == "mclp" and q.budget is None and not capacitated
    g = lazy_greedy(n, state.first(), state.gain, state.commit, k_max, cost=cost, budget=q.budget, stop=stop,
                    bound_p=q.p if plain and q.p > 0 else None)
    value = state.value
    if q.budget is not None and q.model != "lscp":
        # Khuller et al.: the ratio greedy or the best single affordable site, whichever is better.
        firsts = make().first()
        afford = np.flatnonzero(np.nan_to_num(cost, nan=0.0) <= q.budget + TOL)
        if len(afford) and q.p >= 1:
            j = int(afford[np.argmax(firsts[afford])])
            if firsts[j] > value + TOL:
                return GreedyRun([j], [float(firsts[j])], g.bound), float(firsts[j])
    return g, value


def _exact(problem: SitingProblem, q: Question, answer: Answer, g: GreedyRun, need: float | None,
           time_limit: float) -> Answer:
    """The exact answer, or ``answer`` (the greedy one) with a note when HiGHS finds none."""
    cost = problem.candidates["cost"].to_numpy(float)
    limits = Limits(p=q.p, cost=cost, budget=q.budget, need=need, time_limit=time_limit)
    try:
        res, sites, served = solve_exact(problem, q.model, limits, capacitated=answer.capacitated, start=g.order)
    except ImportError:  # pragma: no cover - highspy is a pinned requirement
        answer.notes.append("未安装 highspy，改用贪心 / highspy is not installed; greedy used")
        return answer
    if res.status == "infeasible" and q.model == "lscp":
        answer.notes.append("在站点数与预算限制内无法达到目标覆盖率，给出最多站点数下的最大覆盖方案 / the target share "
                            "cannot be reached within the site count and budget; the most coverage with the most "
                            "sites allowed is given instead")
        res, sites, served = solve_exact(problem, "mclp", Limits(p=q.p, cost=cost, budget=q.budget,
                                                                 time_limit=time_limit),
                                         capacitated=answer.capacitated, start=g.order)
    if res.x is None:
        answer.notes.append(f"精确求解未得到可行解（{res.status}），采用贪心解 / the exact solver found no solution "
                            f"({res.status}); the greedy answer is given")
        return answer
    bound, gap = res.bound, res.gap
    if res.status != "optimal" and g.bound is not None and not (bound is not None and bound <= g.bound):
        # Stopped before HiGHS had a good bound: the greedy's certified one is valid too.
        bound = g.bound
        gap = max(bound - res.objective, 0.0) / max(abs(res.objective), 1e-12)
    return Answer(order=list(sites), added=[], method="exact", status=res.status, gap=gap, bound=bound,
                  objective=res.objective, guarantee=answer.guarantee, capacitated=answer.capacitated,
                  served_open=served, notes=answer.notes)


def _rank(problem: SitingProblem, q: Question, answer: Answer, make: Callable[[], GreedyState]) -> None:
    """Put an exact answer's sites in rank order with their marginal gains; p-median's gain is travel saved."""
    A, w, _ = problem.open_core()
    if answer.method == "exact":
        if answer.capacitated:
            answer.order, _ = rank_sites(make, answer.order)
            cap = problem.candidates["capacity"].to_numpy(float)
            answer.added, prev = [], 0.0
            for k in range(1, len(answer.order) + 1):
                val, _ = served_within_capacity(A, w, cap, answer.order[:k])
                answer.added.append(val - prev)
                prev = val
        else:
            answer.order, answer.added = rank_sites(make, answer.order)
    if q.model == "pmedian":
        # Ranked by travel saved; added_demand stays what the name says, newly covered demand.
        answer.saved, cover = answer.added, CoverState(A, w)
        answer.added = []
        for j in answer.order:
            before_j = cover.value
            cover.commit(j)
            answer.added.append(cover.value - before_j)


def solve(problem: SitingProblem, p: int, *, model: str = "mclp", target_share: float | None = None,
          budget: float | None = None, method: str = "exact", time_limit: float = settings.SITING_TIME_LIMIT_S,
          scenario: str | None = None, verify: bool = True) -> SitingResult:
    """Recommend new sites.

    Parameters
    ----------
    problem
        Built once by :func:`geo.analysis.siting.problem.build_problem`.
    p
        MCLP and p-median: how many new sites. LSCP: the most new sites allowed.
    model
        ``mclp`` (most newly covered demand), ``lscp`` (fewest sites that
        bring the covered share to ``target_share``, existing coverage
        counted) or ``pmedian`` (least mean demand-weighted travel to the
        nearest station, existing included; travel truncated at
        ``problem.limit``).
    target_share
        LSCP's target covered demand share in (0, 1].
    budget
        Most total cost of the new sites (candidates without a cost count 0).
    method
        ``exact`` (HiGHS MILP, warm-started from greedy, stopped at
        ``time_limit`` seconds with the gap reported) or ``greedy``.
    scenario
        Name; default :func:`geo.analysis.siting.result.default_scenario_name`.
    verify
        Run the coverage engine again with the new sites added as stations:
        the remaining gaps come from it, and its covered share is reported
        (``verified``) beside the one computed from the matrix.

    Returns
    -------
    SitingResult
    """
    notes = list(problem.notes) + _check(problem, model, p, target_share, method)
    q = Question(model=model, p=int(p), target_share=target_share,
                 budget=float(budget) if budget is not None else None, scenario=scenario)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    n = problem.n_candidates
    cost = problem.candidates["cost"].to_numpy(float)
    cap = problem.candidates["capacity"].to_numpy(float)
    capacitated = bool(np.isfinite(cap).any()) and model != "pmedian"
    if q.budget is not None:
        missing = int(np.isnan(cost).sum())
        if missing:
            notes.append(f"{missing} 个候选点没有成本，按 0 计 / {missing} candidate(s) have no cost; counted as 0")
    if model == "pmedian" and np.isfinite(cap).any():
        notes.append("p-median 不考虑容量 / p-median ignores capacities")
    need = None
    if model == "lscp":
        total = problem.total_demand
        need = target_share * total - problem.before_demand - TOL * max(total, 1.0)

    t = time.perf_counter()
    make = _state_factory(problem, model, capacitated)
    g, g_value = _greedy(problem, q, make, need, capacitated)
    timings["greedy_s"] = time.perf_counter() - t
    answer = Answer(order=list(g.order), added=list(g.gains), method="greedy", status="greedy", gap=None,
                    bound=None, objective=g_value, guarantee=_guarantee(model, capacitated, q.budget, q.p, n),
                    capacitated=capacitated, notes=notes)
    if model == "mclp" and g.bound is not None and g.bound > 0:
        answer.bound = g.bound
        answer.gap = max(g.bound - g_value, 0.0) / max(g_value, 1e-12) if g_value > 0 else None
    if method == "exact" and n:
        t = time.perf_counter()
        answer = _exact(problem, q, answer, g, need, time_limit)
        timings["exact_s"] = time.perf_counter() - t

    t = time.perf_counter()
    _rank(problem, q, answer, make)
    result = assemble_result(problem, q, answer)
    timings["assemble_s"] = time.perf_counter() - t
    if verify and problem.baseline is not None:
        t = time.perf_counter()
        verify_sites(problem, result, answer.order)
        timings["verify_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    result.timings = {**{f"build_{k}": v for k, v in problem.timings.items()},
                      **{k: round(v, 4) for k, v in timings.items()}}
    return result


def verify_sites(problem: SitingProblem, result: SitingResult, order: list[int]) -> None:
    """Re-run the coverage engine with the new sites as stations; its gaps replace the matrix-derived ones.

    Sets ``result.verified`` (the engine's shares, method and gap count) and
    ``result.gaps``, and notes where the engine's share differs from the
    matrix's.

    Parameters
    ----------
    problem
        The problem the result answers (built from a region, not from arrays).
    result
        Changed in place.
    order
        The sites, as positions in ``problem.candidates``, in rank order.
    """
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
    result.verified = {"after_share": json_number(after.covered_share_demand, 9),
                       "after_share_area": json_number(after.covered_share_area, 9),
                       "method": after.method, "gaps_total": int(len(after.gap_table))}
    result.gaps = after.gap_table
    result.change = change_of(problem, after.cells["gap"].to_numpy())
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

    Build the problem once (:func:`geo.analysis.siting.problem.build_problem`)
    and call this as the planner moves a slider: the coverage matrix is
    reused, so a city-sized problem answers well within a second. Remaining
    gaps are computed from the matrix (their ``travel_max`` from travel known
    to the problem).

    Parameters
    ----------
    problem, p, model, target_share, budget, scenario
        As for :func:`solve`.
    """
    return solve(problem, p, model=model, target_share=target_share, budget=budget, method="greedy",
                 scenario=scenario, verify=False)
