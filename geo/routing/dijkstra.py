"""A compiled, bounded, resumable Dijkstra that touches only the nodes it reaches.

:func:`scipy.sparse.csgraph.dijkstra` allocates and fills arrays of the
whole graph's size on every call, which on a province's millions of nodes
costs more than a short bounded search itself. Here each search works in a
:class:`Workspace` whose arrays are allocated once per graph and reused:
a node's entries are valid only when its mark carries the search's
generation, so starting a search is incrementing one counter, never
clearing millions of entries. The loop is compiled with numba (cached on
disk, so a restarted process loads it instead of compiling) and uses an
indexed binary heap with decrease-key, so the heap holds each node at most
once.

A search is resumable: :meth:`Search.extend` raises the limit and settles
the further nodes from where the last call stopped, so a search whose
first limit was too small costs no more than one with the right limit.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np
from numba import njit

# A node's mark says what it is in the current search: 2 * gen while queued,
# 2 * gen + 1 once settled, anything else untouched. One array read tells all,
# where a stamp and a state would cost two random memory accesses per arc.


@njit(cache=True, nogil=True)
def _sift_up(hkey, hnode, pos, i, key, v):
    while i > 0:
        parent = (i - 1) >> 1
        if hkey[parent] <= key:
            break
        u = hnode[parent]
        hkey[i] = hkey[parent]
        hnode[i] = u
        pos[u] = i
        i = parent
    hkey[i] = key
    hnode[i] = v
    pos[v] = i


@njit(cache=True, nogil=True)
def _sift_down(hkey, hnode, pos, size):
    # The heap's last entry moved to the root and sinks (keys beside nodes: no indirection).
    key = hkey[size]
    v = hnode[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        right = child + 1
        if right < size and hkey[right] < hkey[child]:
            child = right
        if hkey[child] >= key:
            break
        u = hnode[child]
        hkey[i] = hkey[child]
        hnode[i] = u
        pos[u] = i
        i = child
    hkey[i] = key
    hnode[i] = v
    pos[v] = i


@njit(cache=True, nogil=True)
def _push(hkey, hnode, pos, dist, pred, mark, gen, size, v, cost, parent):
    """Offer node ``v`` at ``cost`` from ``parent``; returns the new heap size."""
    queued = 2 * gen
    m = mark[v]
    if m != queued and m != queued + 1:
        mark[v] = queued
        dist[v] = cost
        pred[v] = parent
        _sift_up(hkey, hnode, pos, size, cost, v)
        return size + 1
    if m == queued and cost < dist[v]:
        dist[v] = cost
        pred[v] = parent
        _sift_up(hkey, hnode, pos, pos[v], cost, v)
    return size


@njit(cache=True, nogil=True, inline="always")
def _settle_top(indptr, indices, weights, dist, pred, mark, queued, done, hkey, hnode, pos, size, order, n_order):
    """Settle the heap's cheapest node and relax its arcs; returns (that node, heap size, number settled).

    Inlined at numba's level into both search loops (as a called function one run measured them up to a fifth slower).
    """
    dv = hkey[0]
    v = hnode[0]
    size -= 1
    if size > 0:
        _sift_down(hkey, hnode, pos, size)
    mark[v] = done
    order[n_order] = v
    n_order += 1
    for a in range(indptr[v], indptr[v + 1]):
        u = indices[a]
        nd = dv + weights[a]
        m = mark[u]
        if m == done:
            continue
        if m != queued:
            mark[u] = queued
            dist[u] = nd
            pred[u] = v
            _sift_up(hkey, hnode, pos, size, nd, u)
            size += 1
        elif nd < dist[u]:
            dist[u] = nd
            pred[u] = v
            _sift_up(hkey, hnode, pos, pos[u], nd, u)
    return v, size, n_order


@njit(cache=True, nogil=True)
def _settle(indptr, indices, weights, limit, dist, pred, mark, gen, hkey, hnode, pos, size, order, n_order):
    """Settle queued nodes up to ``limit``; returns (heap size, number settled so far)."""
    queued = 2 * gen
    done = queued + 1
    while size > 0 and hkey[0] <= limit:
        _, size, n_order = _settle_top(indptr, indices, weights, dist, pred, mark, queued, done, hkey, hnode, pos,
                                       size, order, n_order)
    return size, n_order


@njit(cache=True, nogil=True)
def candidate_cost(dist, mark, done, i, cu, cv, t, c, fwd, bwd, same, any_same, to):
    """Cost of reaching candidate ``i`` on edge ``(cu[i], cv[i])`` at ``t[i]`` from the settled nodes, and how.

    As :func:`geo.routing.search.station_costs`: 0 via the edge's start,
    1 via its end, 2 along the origin's own edge (``same[i]``, origin at
    ``to``). With any candidate on the origin's edge (``any_same``), every
    candidate whose direct cost (inf off that edge) is <= its cost is "how 2",
    as the numpy version decided.
    """
    inf = np.inf
    a, b = cu[i], cv[i]
    du = dist[a] if mark[a] == done else inf
    dv = dist[b] if mark[b] == done else inf
    via_u = du + t[i] * c[i] if fwd[i] else inf
    via_v = dv + (1.0 - t[i]) * c[i] if bwd[i] else inf
    best = min(via_u, via_v)
    h = 1 if via_v < via_u else 0
    if any_same:
        direct = inf
        if same[i]:
            x = (t[i] - to) * c[i] if (fwd[i] and t[i] >= to) else inf
            y = (to - t[i]) * c[i] if (bwd[i] and t[i] <= to) else inf
            direct = min(x, y)
        if direct <= best:
            best = direct
            h = 2
    return best, h


@njit(cache=True, nogil=True)
def _kth(totals, reached, n_reached, need):
    if need <= 0:  # nothing asked for: nothing to settle
        return -np.inf
    if n_reached < need:
        return np.inf
    vals = np.empty(n_reached)
    for r in range(n_reached):
        vals[r] = totals[reached[r]]
    return np.sort(vals)[need - 1]


@njit(cache=True, nogil=True)
def _settle_nearest(indptr, indices, weights, dist, pred, mark, gen, hkey, hnode, pos, size, order, n_order,
                    bits, tnode, tstation, slot, cu, cv, t, c, fwd, bwd, same, any_same, to, add, slack, need):
    """Settle nodes in cost order until ``need`` candidates cost (plus ``add``) no more than the next node.

    A candidate's cost is known once an end of its edge is settled, and is
    then at least the cost of every node settled so far, so the search can
    stop as soon as the ``need``-th cheapest known candidate is no costlier
    than the next node: it then settles exactly the nodes a search limited
    at that candidate's cost would. ``tnode`` (sorted) and ``tstation`` list
    the stations at each node (``bits`` a hash filter of ``tnode``),
    ``slot[station]`` its position among the candidates (-1: not one).
    ``slack`` is how far below zero ``add`` goes (0 when it never does): a
    candidate not yet reached may cost that much less than the next node.
    Returns (heap size, number settled, the stopping cost, each candidate's
    cost and how it is reached): as :func:`candidate_cost` would give them
    after the search, computed when an end of the candidate's edge settles
    instead of by a pass over every candidate (whose nodes, scattered over
    the graph, cost a cache miss each).
    """
    queued = 2 * gen
    done = queued + 1
    n_cand = len(cu)
    totals = np.full(n_cand, np.inf)
    costs = np.full(n_cand, np.inf)
    # What candidate_cost gives a candidate no settled node reaches.
    hows = np.full(n_cand, 2 if any_same else 0, dtype=np.int64)
    reached = np.empty(n_cand, np.int64)
    n_reached = 0
    mask = len(bits) * 8 - 1
    if any_same or n_order > 0:  # stations on the origin's own edge (or at nodes settled before) are known now
        for j in range(n_cand):
            if same[j] or n_order > 0:
                cost, h = candidate_cost(dist, mark, done, j, cu, cv, t, c, fwd, bwd, same, any_same, to)
                costs[j] = cost
                hows[j] = h
                total = cost + add[j]
                if total < np.inf:
                    totals[j] = total
                    reached[n_reached] = j
                    n_reached += 1
    kth = _kth(totals, reached, n_reached, need)
    n_t = len(tnode)
    while size > 0:
        if hkey[0] > kth + slack:
            break
        v, size, n_order = _settle_top(indptr, indices, weights, dist, pred, mark, queued, done, hkey, hnode, pos,
                                       size, order, n_order)
        if bits[(v & mask) >> 3] & (1 << (v & 7)):
            lo, hi = 0, n_t
            while lo < hi:
                mid = (lo + hi) >> 1
                if tnode[mid] < v:
                    lo = mid + 1
                else:
                    hi = mid
            changed = False
            while lo < n_t and tnode[lo] == v:
                j = slot[tstation[lo]]
                lo += 1
                if j < 0:
                    continue
                cost, h = candidate_cost(dist, mark, done, j, cu, cv, t, c, fwd, bwd, same, any_same, to)
                # Always stored: an equal cost through the other end may change "how", as a final pass would.
                costs[j] = cost
                hows[j] = h
                total = cost + add[j]
                if total < totals[j]:
                    if totals[j] == np.inf:
                        reached[n_reached] = j
                        n_reached += 1
                    totals[j] = total
                    if total < kth:
                        changed = True
            if changed:
                kth = _kth(totals, reached, n_reached, need)
    return size, n_order, kth, costs, hows


@njit(cache=True, nogil=True)
def _lookup(nodes, mark, gen, values, missing, out):
    done = 2 * gen + 1
    for i in range(len(nodes)):
        v = nodes[i]
        out[i] = values[v] if (v >= 0 and mark[v] == done) else missing


class Workspace:
    """Per-node arrays of one search at a time, allocated once and reused.

    Parameters
    ----------
    n
        Number of nodes the searches may reach.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.dist = np.empty(n, dtype=np.float64)
        self.pred = np.empty(n, dtype=np.int32)
        self.mark = np.zeros(n, dtype=np.int32)
        self.hkey = np.empty(n, dtype=np.float64)
        self.hnode = np.empty(n, dtype=np.int32)
        self.pos = np.empty(n, dtype=np.int32)
        self.order = np.empty(n, dtype=np.int32)
        self.gen = 0

    def next_generation(self) -> int:
        """A fresh generation: every node reads as untouched."""
        self.gen += 1
        if 2 * self.gen + 1 >= 2**31 - 1:  # once in a billion searches, clear for real
            self.mark[:] = 0
            self.gen = 1
        return self.gen

    @property
    def nbytes(self) -> int:
        """Bytes of the workspace's arrays."""
        return sum(a.nbytes for a in (self.dist, self.pred, self.mark, self.hkey, self.hnode, self.pos,
                                      self.order))


class WorkspacePool:
    """Workspaces of one graph, lent one per running search (threads never share one).

    A search returns its workspace when it is garbage, so the pool holds as
    many workspaces as searches ever ran at the same time.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._free: list[Workspace] = []
        self._lock = threading.Lock()

    def take(self) -> Workspace:
        """A workspace for one search."""
        with self._lock:
            if self._free:
                return self._free.pop()
        return Workspace(self.n)

    def give_back(self, ws: Workspace) -> None:
        """Return a workspace whose search is finished."""
        with self._lock:
            self._free.append(ws)


class _Lease:
    """A workspace lent to one search and whatever still reads its results.

    The workspace goes back to the pool when the last holder (the search or
    its ``dist``/``pred`` readers, which hold the lease and not the search)
    is dropped, so a reader never sees a later search's values.
    """

    def __init__(self, pool: WorkspacePool) -> None:
        self.ws = pool.take()
        self.gen = self.ws.next_generation()
        weakref.finalize(self, pool.give_back, self.ws)


class _Values:
    """Per-node values of a search, read by index like an array (``inf`` or -1 where not settled)."""

    def __init__(self, lease: _Lease, values: np.ndarray, missing: float | int) -> None:
        self._lease, self._values, self._missing = lease, values, missing
        self._missing_scalar = values.dtype.type(missing)
        # Held here so that reading one node (routes walk predecessors node by node) is two array reads.
        self._mark, self._done = lease.ws.mark, 2 * lease.gen + 1

    def __len__(self) -> int:
        return self._lease.ws.n

    @property
    def raw(self) -> tuple[np.ndarray, np.ndarray, int]:
        """``(values, mark, done)``: ``values[v]`` holds where ``mark[v] == done``, for compiled readers.

        Valid while this object lives (it holds the workspace).
        """
        return self._values, self._mark, self._done

    def __getitem__(self, idx):
        if isinstance(idx, (int, np.integer)):
            if self._mark[idx] == self._done:
                return self._values[idx]
            return self._missing_scalar
        lease = self._lease
        ws = lease.ws
        nodes = np.asarray(idx)
        if nodes.dtype == bool:
            nodes = np.flatnonzero(nodes)
        flat = np.ascontiguousarray(nodes.reshape(-1), dtype=np.int64)
        out = np.empty(len(flat), dtype=self._values.dtype)
        _lookup(flat, ws.mark, lease.gen, self._values, self._missing, out)
        return out.reshape(nodes.shape)

    def __array__(self, dtype=None, copy=None):
        full = self[np.arange(self._lease.ws.n)]
        return full if dtype is None else full.astype(dtype)


class Search:
    """One bounded Dijkstra from a set of sources, settled up to a limit and resumable.

    Parameters
    ----------
    indptr, indices, weights
        The graph's arcs in CSR form (row ``v`` lists the arcs leaving ``v``).
    pool
        Where the workspace comes from (:class:`WorkspacePool` of this graph).
    sources
        Nodes the search starts from.
    costs
        Cost of each source (0 for a plain start; the stretch along the
        origin's edge for the routing origin's exits).
    source_pred
        Predecessor recorded for the sources (the virtual origin's node id).

    Attributes
    ----------
    dist : array-like
        Cost of every node, ``inf`` where not settled; indexed like an array.
    pred : array-like
        Predecessor of every settled node (``source_pred`` for a source,
        -1 where not settled).
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, pool: WorkspacePool,
                 sources, costs, *, source_pred: int = -1) -> None:
        self._arcs = (indptr, indices, weights)
        self._lease = _Lease(pool)
        self.ws, self.gen = self._lease.ws, self._lease.gen
        self.limit = -np.inf
        self.n_settled = 0
        size = 0
        ws = self.ws
        for v, c in zip(np.asarray(sources, dtype=np.int64).tolist(), np.asarray(costs, dtype=np.float64).tolist()):
            size = _push(ws.hkey, ws.hnode, ws.pos, ws.dist, ws.pred, ws.mark, self.gen, size, v, c, source_pred)
        self._size = size
        self.dist = _Values(self._lease, ws.dist, np.inf)
        self.pred = _Values(self._lease, ws.pred, -1)

    def extend(self, limit: float) -> "Search":
        """Settle every node of cost up to ``limit`` (``inf``: all reachable); returns the search."""
        if limit <= self.limit:
            return self
        ws = self.ws
        indptr, indices, weights = self._arcs
        self._size, self.n_settled = _settle(indptr, indices, weights, float(limit), ws.dist, ws.pred, ws.mark,
                                             self.gen, ws.hkey, ws.hnode, ws.pos, self._size, ws.order,
                                             self.n_settled)
        self.limit = float(limit)
        return self

    def extend_to_nearest(self, targets: tuple, need: int) -> tuple[float, np.ndarray, np.ndarray]:
        """Settle until ``need`` candidate stations are settled for good; returns the cost that took.

        Parameters
        ----------
        targets
            ``(bits, tnode, tstation, slot, cu, cv, t, c, fwd, bwd, same, any_same, to, add, slack)``, as
            :func:`geo.routing.search.settle_stations` prepares them (see ``_settle_nearest``).
        need
            How many candidates must cost, with their ``add``, no more than the limit.

        Returns
        -------
        tuple
            The ``need``-th smallest candidate cost (``inf`` when fewer are
            reachable and the search ran out): the search is then the same as
            one extended to that cost (plus ``slack``); and each candidate's
            cost (``inf`` where unreached) and how it is reached, as
            :func:`candidate_cost` gives them on the settled nodes.
        """
        ws = self.ws
        indptr, indices, weights = self._arcs
        self._size, self.n_settled, kth, costs, hows = _settle_nearest(indptr, indices, weights, ws.dist, ws.pred, ws.mark,
                                                          self.gen, ws.hkey, ws.hnode, ws.pos, self._size,
                                                          ws.order, self.n_settled, *targets, need)
        self.limit = max(self.limit, float(kth) + float(targets[-1]))
        return float(kth), costs, hows

    @property
    def settled(self) -> np.ndarray:
        """The settled nodes, in the order they were settled (a view valid while the search lives)."""
        return self.ws.order[:self.n_settled]

    @property
    def exhausted(self) -> bool:
        """True when nothing more is reachable (a larger limit would settle nothing new)."""
        return self._size == 0


def bounded_search(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, pool: WorkspacePool,
                   sources, costs, *, limit: float = np.inf, source_pred: int = -1) -> Search:
    """Run a bounded multi-source Dijkstra and return it (see :class:`Search`).

    Parameters
    ----------
    indptr, indices, weights, pool, sources, costs, source_pred
        As in :class:`Search`.
    limit
        Nodes costlier than this are not settled.
    """
    return Search(indptr, indices, weights, pool, sources, costs, source_pred=source_pred).extend(limit)


def warm_up() -> None:
    """Load (or compile, the first time on a machine) the compiled search, on a 3-node graph."""
    indptr = np.array([0, 1, 2, 2], dtype=np.int32)
    indices = np.array([1, 2], dtype=np.int32)
    for ptr in (indptr, indptr.astype(np.int64)):
        s = bounded_search(ptr, indices, np.array([1.0, 2.0]), WorkspacePool(3), [0], [0.0])
        s.dist[np.arange(3)]
        s.pred[np.arange(3)]
        one, yes = np.ones(1), np.ones(1, dtype=np.bool_)
        node = np.array([2], dtype=np.int32)
        targets = (np.full(8192, 255, dtype=np.uint8), np.array([2], dtype=np.int64), np.zeros(1, dtype=np.int64),
                   np.zeros(1, dtype=np.int64), node, node, one * 0.5, one, yes, yes, ~yes, False, 0.5, one, 0.0)
        Search(ptr, indices, np.array([1.0, 2.0]), WorkspacePool(3), [0], [0.0]).extend_to_nearest(targets, 1)
