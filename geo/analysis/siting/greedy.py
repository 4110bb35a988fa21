"""Lazy greedy (CELF) and the objective states it climbs: coverage, capacitated coverage, travel saved.

The greedy answer is the planner page's preview and the exact solver's warm
start. Each state object keeps what the sites chosen so far leave over and
offers the same three calls: ``first()`` (every candidate's gain on an empty
plan), ``gain(j)`` (candidate ``j``'s marginal gain now) and ``commit(j)``
(add ``j``), with ``value`` the objective reached.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

import numpy as np
from scipy import sparse

#: Relative tolerance of objective comparisons (a gain this small is no gain).
TOL = 1e-9


class GreedyState(Protocol):
    """What :func:`lazy_greedy` and the solver need of an objective."""

    value: float

    def first(self) -> np.ndarray: ...

    def gain(self, j: int) -> float: ...

    def commit(self, j: int) -> None: ...


@dataclass
class GreedyRun:
    """What :func:`lazy_greedy` chose.

    Attributes
    ----------
    order : list of int
        Candidates in the order taken.
    gains : list of float
        The marginal gain of each when taken.
    bound : float or None
        The data-dependent upper bound on the optimum, when asked for.
    """

    order: list[int]
    gains: list[float]
    bound: float | None = None


def lazy_greedy(n: int, first: np.ndarray, gain: Callable[[int], float], commit: Callable[[int], None],
                k_max: int, *, cost: np.ndarray | None = None, budget: float | None = None,
                stop: Callable[[], bool] | None = None, bound_p: int | None = None) -> GreedyRun:
    """Lazy greedy (Minoux's accelerated greedy, CELF): exact greedy order with few gain evaluations.

    Marginal gains of a submodular function only shrink, so a stale gain is
    an upper bound: the top of the heap is taken as soon as its gain is
    fresh. With ``budget``, keys are gain per cost and unaffordable sites
    are dropped. ``bound_p`` asks for the data-dependent upper bound on the
    optimum, ``f(S) + sum of the p largest marginal gains``, minimised over
    the steps (Minoux 1978; valid for a monotone submodular ``f`` under a
    cardinality constraint only).

    Parameters
    ----------
    n
        Number of candidates.
    first
        Each candidate's gain on an empty plan.
    gain, commit
        The objective's marginal gain of a candidate now, and adding one.
    k_max
        Most candidates taken.
    cost, budget
        Candidate costs (NaN counts 0) and the most total cost.
    stop
        Called before each step; true ends the run (LSCP's target reached).
    bound_p
        Compute the bound for a plan of this many sites.
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
    out = GreedyRun([], [])
    value, spent, step = 0.0, 0.0, 0
    best_bound = math.inf
    while heap and len(out.order) < k_max and not (stop is not None and stop()):
        negk, j = heapq.heappop(heap)
        if ratio and c[j] > budget - spent + TOL * max(1.0, abs(budget)):
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
        if g <= TOL * max(1.0, value):
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


def rank_sites(make_state: Callable[[], GreedyState], chosen: Iterable[int]) -> tuple[list[int], list[float]]:
    """Order chosen sites by greedy marginal gain among themselves.

    Parameters
    ----------
    make_state
        Makes a fresh objective state.
    chosen
        The sites, e.g. the exact solver's answer.

    Returns
    -------
    (order, gains)
    """
    chosen = list(int(j) for j in chosen)
    if not chosen:
        return [], []
    state = make_state()
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


class CoverState:
    """Uncovered demand per open cell; gain = demand a site would newly cover.

    Parameters
    ----------
    A : csr_matrix
        Candidates x open cells, the cells each candidate covers.
    w : ndarray
        Demand of each open cell.
    """

    def __init__(self, A: sparse.csr_matrix, w: np.ndarray):
        self.A, self.left = A, w.astype(float).copy()
        self.value = 0.0

    def first(self) -> np.ndarray:
        """Every candidate's gain on an empty plan."""
        return np.asarray(self.A @ self.left).ravel()

    def gain(self, j: int) -> float:
        """Demand candidate ``j`` would newly cover."""
        a = self.A
        return float(self.left[a.indices[a.indptr[j]:a.indptr[j + 1]]].sum())

    def commit(self, j: int) -> None:
        """Add candidate ``j``."""
        a = self.A
        cols = a.indices[a.indptr[j]:a.indptr[j + 1]]
        self.value += float(self.left[cols].sum())
        self.left[cols] = 0.0


class CapacityState:
    """Residual demand per open cell; a site serves up to its capacity, scarce cells first.

    ``x`` holds, per stored entry of ``A``, the share of the cell the site
    serves: a feasible assignment (the MILP's warm start).

    Parameters
    ----------
    A : csr_matrix
        Candidates x open cells (or groups of cells).
    w : ndarray
        Demand of each column.
    cap : ndarray
        Capacity of each candidate (NaN: unlimited).
    """

    def __init__(self, A: sparse.csr_matrix, w: np.ndarray, cap: np.ndarray):
        self.A, self.w, self.left = A, w.astype(float), w.astype(float).copy()
        self.cap = np.where(np.isfinite(cap), np.maximum(cap, 0.0), np.inf)
        # Cells fewer candidates reach are served first: the others can still be reached later.
        self.scarcity = np.bincount(A.indices, minlength=A.shape[1])
        self.x = np.zeros(len(A.indices))
        self.value = 0.0

    def first(self) -> np.ndarray:
        """Every candidate's gain on an empty plan."""
        return np.minimum(np.asarray(self.A @ self.left).ravel(), self.cap)

    def gain(self, j: int) -> float:
        """Demand candidate ``j`` would newly serve, within its capacity."""
        a = self.A
        return float(min(self.cap[j], self.left[a.indices[a.indptr[j]:a.indptr[j + 1]]].sum()))

    def commit(self, j: int) -> None:
        """Add candidate ``j``: it serves its scarcest cells first, up to its capacity."""
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


class TravelState:
    """Current travel per cell (capped); gain = demand-weighted travel saved.

    Parameters
    ----------
    T : csr_matrix
        Candidates x cells with demand, travel where it improves on ``base``.
    w : ndarray
        Demand of each cell.
    base : ndarray
        Each cell's current travel, capped.
    """

    def __init__(self, T: sparse.csr_matrix, w: np.ndarray, base: np.ndarray):
        self.T, self.w, self.cur = T, w.astype(float), base.astype(float).copy()
        self.value = 0.0

    def _saving(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        t = self.T
        cols = t.indices[t.indptr[j]:t.indptr[j + 1]]
        return cols, self.w[cols] * np.maximum(self.cur[cols] - t.data[t.indptr[j]:t.indptr[j + 1]], 0.0)

    def first(self) -> np.ndarray:
        """Every candidate's gain on an empty plan."""
        return np.array([self.gain(j) for j in range(self.T.shape[0])])

    def gain(self, j: int) -> float:
        """Demand-weighted travel candidate ``j`` would save."""
        return float(self._saving(j)[1].sum())

    def commit(self, j: int) -> None:
        """Add candidate ``j``."""
        t = self.T
        cols = t.indices[t.indptr[j]:t.indptr[j + 1]]
        self.value += self.gain(j)
        self.cur[cols] = np.minimum(self.cur[cols], t.data[t.indptr[j]:t.indptr[j + 1]])
