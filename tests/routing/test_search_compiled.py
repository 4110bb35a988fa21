"""The compiled bounded Dijkstra (geo/routing/dijkstra.py) against networkx, and the searches built on it."""
import threading

import networkx as nx
import numpy as np
import pytest

from geo.routing.dijkstra import WorkspacePool, bounded_search
from geo.routing.search import origin_exits, settle_stations, station_costs
from geo.routing.snap import snap_point
from geo.routing.stations import index_stations
from geo.routing.synthetic import synthetic_graph


@pytest.fixture(scope="module")
def city():
    g = synthetic_graph(12_000, "drive", seed=3)
    G = nx.DiGraph()
    G.add_nodes_from(range(g.n_nodes))
    n = g.n_nodes
    for v in range(n):
        for a in range(int(g.csr_indptr[v]), int(g.csr_indptr[v + 1])):
            G.add_edge(v, int(g.csr_indices[a]), t=float(g.csr_time[a]), d=float(g.csr_len[a]))
    return g, G


def _nx_bounded(G, sources, costs, limit, weight):
    """networkx's Dijkstra from a virtual source with the given exit costs, cut at ``limit``."""
    G.add_node("o")
    for s, c in zip(sources, costs):
        if not G.has_edge("o", s) or G["o"][s][weight] > c:
            G.add_edge("o", s, **{weight: c})
    try:
        dist = nx.single_source_dijkstra_path_length(G, "o", cutoff=limit, weight=weight)
    finally:
        G.remove_node("o")
    dist.pop("o")
    return dist


def _settled(search):
    nodes = np.sort(search.settled)
    return nodes, search.dist[nodes]


@pytest.mark.parametrize("weight,key", [("time", "t"), ("distance", "d")])
def test_bounded_search_settles_exactly_what_networkx_reaches_within_the_limit(city, weight, key):
    g, G = city
    rng = np.random.default_rng(0)
    for _ in range(12):
        sources = rng.choice(g.n_nodes, size=int(rng.integers(1, 4)), replace=False)
        costs = rng.uniform(0, 30, len(sources))
        limit = float(rng.uniform(60, 600) if weight == "time" else rng.uniform(500, 6000))
        search = g.search(sources, costs, weight=weight, limit=limit)
        want = _nx_bounded(G, sources.tolist(), costs.tolist(), limit, key)
        nodes, dist = _settled(search)
        assert nodes.tolist() == sorted(want)
        np.testing.assert_allclose(dist, [want[v] for v in nodes.tolist()], rtol=1e-12)
        # Unsettled nodes read as inf and -1, whatever the workspace held before.
        outside = np.setdiff1d(np.arange(g.n_nodes), nodes)[:500]
        assert np.isinf(search.dist[outside]).all() and (search.pred[outside] == -1).all()


def test_predecessors_form_shortest_paths_back_to_a_source(city):
    g, _ = city
    search = g.search([5, 900], [0.0, 12.5], weight="time", limit=400.0)
    cost_of = {}
    for v in search.settled.tolist():
        p = int(search.pred[v])
        if p == g.n_nodes:  # a source: reached from the virtual origin
            assert v in (5, 900)
            continue
        row = slice(int(g.csr_indptr[p]), int(g.csr_indptr[p + 1]))
        arcs = dict(zip(g.csr_indices[row].tolist(), g.csr_time[row].tolist()))
        cost_of[v] = search.dist[p] + arcs[v]
        assert cost_of[v] == pytest.approx(search.dist[v], rel=1e-12)


def test_extending_a_search_equals_searching_with_the_larger_limit(city):
    g, _ = city
    grown = g.search([77], [3.0], weight="time", limit=50.0)
    small = set(grown.settled.tolist())
    grown.extend(300.0).extend(200.0)  # a smaller limit settles nothing more
    fresh = g.search([77], [3.0], weight="time", limit=300.0)
    assert small < set(grown.settled.tolist())
    a, b = _settled(grown), _settled(fresh)
    assert a[0].tolist() == b[0].tolist()
    np.testing.assert_array_equal(a[1], b[1])
    everything = g.search([77], [0.0], weight="time").extend(np.inf)
    assert everything.exhausted


def test_workspaces_are_reused_and_never_shared_between_live_searches():
    indptr = np.array([0, 1, 2, 2], dtype=np.int64)
    indices = np.array([1, 2], dtype=np.int32)
    weights = np.array([1.0, 2.0])
    pool = WorkspacePool(3)
    first = bounded_search(indptr, indices, weights, pool, [0], [0.0])
    second = bounded_search(indptr, indices, weights, pool, [1], [0.0])
    assert first.ws is not second.ws
    assert first.dist[np.arange(3)].tolist() == [0.0, 1.0, 3.0]
    assert second.dist[np.arange(3)].tolist() == [np.inf, 0.0, 2.0]
    ws = first.ws
    del first
    third = bounded_search(indptr, indices, weights, pool, [2], [0.0])
    assert third.ws is ws  # given back when the first search was dropped
    assert third.dist[np.arange(3)].tolist() == [np.inf, np.inf, 0.0]
    assert third.pred[2] == -1 and third.pred[0] == -1


def test_concurrent_searches_on_one_graph_give_the_single_threaded_answers(city):
    g, _ = city
    rng = np.random.default_rng(9)
    jobs = [(int(s), float(lim)) for s, lim in zip(rng.choice(g.n_nodes, 16), rng.uniform(100, 400, 16))]
    want = [_settled(g.search([s], [0.0], weight="time", limit=lim)) for s, lim in jobs]
    got = [None] * len(jobs)

    def run(i):
        for _ in range(5):
            got[i] = _settled(g.search([jobs[i][0]], [0.0], weight="time", limit=jobs[i][1]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (wn, wd), (gn, gd) in zip(want, got):
        assert wn.tolist() == gn.tolist()
        np.testing.assert_array_equal(wd, gd)


def test_settle_stations_gives_networkx_costs_for_the_k_best_with_extra(city):
    import pandas as pd

    g, G = city
    rng = np.random.default_rng(4)
    lo, la = np.percentile(g.node_lon, [5, 95]), np.percentile(g.node_lat, [5, 95])
    st = pd.DataFrame({"id": [f"S{i}" for i in range(150)], "kind": "rest_station",
                       "lon": rng.uniform(lo[0], lo[1], 150), "lat": rng.uniform(la[0], la[1], 150)})
    idx = index_stations(g, st)
    cand = np.flatnonzero(idx.edge >= 0)
    extra = rng.uniform(0, 120, len(cand))
    for lon, lat in zip(rng.uniform(lo[0], lo[1], 8), rng.uniform(la[0], la[1], 8)):
        origin = snap_point(g, lon, lat)
        cost, _how, pred = settle_stations(g, idx, cand, origin, lon=lon, lat=lat, k=5, weight="time",
                                           extra=extra)
        exits = origin_exits(g, origin, weight="time")
        full = _nx_bounded(G, [x[0] for x in exits], [x[1] for x in exits], None, "t")
        d = np.full(g.n_nodes, np.inf)
        d[list(full)] = list(full.values())
        want, _ = station_costs(g, idx, cand, origin, d, weight="time")
        best = np.argsort(want + extra, kind="stable")[:5]
        np.testing.assert_allclose(cost[best], want[best], rtol=1e-9)
        assert set(np.argsort(cost + extra, kind="stable")[:5]) == set(best)
