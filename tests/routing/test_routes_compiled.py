"""The compiled routes and the stopping search give bit-identical answers to the numpy code they replaced.

The numpy versions are kept here, as they were in geo/routing (routes.py's
station_route and its helpers, search.py's settle_stations with its growing
limit), and both run on many random origins of the real Shenzhen extract
and of a synthetic city: the k results, their costs and how they are
reached, every coordinate, length, duration and road name of their routes
must be equal, not close. (The new search stops earlier, so candidates
beyond its limit may have no cost or a larger one than the old search
found; within the limit every cost is the same.)
"""
import numpy as np
import pytest

from geo import settings
from geo.routing.build import build_graphs
from geo.routing.network import COORD_SCALE, index_ranges
from geo.routing.routes import _main_names, station_route, station_routes
from geo.routing.search import (initial_limit, origin_exits, origin_search, settle_stations,
                                station_costs)
from geo.routing.snap import snap_point
from geo.routing.stations import index_stations
from geo.routing.synthetic import synthetic_graph
from conftest import SHENZHEN_PBF

from test_routing import _box, _stations  # noqa: E402  (the finder tests' station maker)

# -- the numpy reference: geo/routing/routes.py and search.py before compilation --

# The old search's limit schedule: from 0.6 x initial_limit, growing 1.25-2x a round towards the
# k-th cheapest station reached, unbounded after 14 rounds.
_START_FRACTION, _LIMIT_GROWTH, _LIMIT_JUMP, _LIMIT_ROUNDS = 0.6, 1.25, 2.0, 14


def _ref_arc_edges(graph, a, b, weight):
    lo = graph.csr_indptr[a].astype(np.int64)
    deg = graph.csr_indptr[a + 1].astype(np.int64) - lo
    slots = index_ranges(lo, deg)
    hit = slots[graph.csr_indices[slots] == np.repeat(b, deg)]
    edge_of_slot = graph.csr_edge_time if weight == "time" else graph.csr_edge_len
    return edge_of_slot[hit].astype(np.int64)


def _ref_piece(graph, e, t0, t1):
    s, t = int(graph.geom_ptr[e]), int(graph.geom_ptr[e + 1])
    cum = graph.geom_cum[s:t].astype(np.float64)
    xs, ys = graph.geom_x[s:t] / COORD_SCALE, graph.geom_y[s:t] / COORD_SCALE
    length = cum[-1]
    if length <= 0:
        return np.array([[xs[0], ys[0]]])
    lo, hi = sorted((t0, t1))
    d0, d1 = lo * length, hi * length
    inner = np.flatnonzero((cum > d0) & (cum < d1))
    p0 = (np.interp(d0, cum, xs), np.interp(d0, cum, ys))
    p1 = (np.interp(d1, cum, xs), np.interp(d1, cum, ys))
    coords = np.vstack([[p0], np.column_stack([xs[inner], ys[inner]]), [p1]])
    return coords[::-1] if t1 < t0 else coords


def _ref_whole_edges(graph, edges, forward):
    starts = graph.geom_ptr[edges]
    lens = graph.geom_ptr[edges + 1] - starts
    pos = index_ranges(starts, lens)
    off = pos - np.repeat(starts, lens)
    rev = ~np.repeat(forward, lens)
    pos = np.where(rev, np.repeat(starts + lens - 1, lens) - off, pos)
    pos = pos[off > 0]
    return np.column_stack([graph.geom_x[pos] / COORD_SCALE, graph.geom_y[pos] / COORD_SCALE])


def _ref_station_route(graph, origin, st_edge, st_frac, how, pred, *, weight):
    if how == 2:
        edges = np.array([origin.edge])
        parts = np.array([abs(st_frac - origin.fraction)])
        line = _ref_piece(graph, origin.edge, origin.fraction, st_frac)
    else:
        end = int(graph.edge_u[st_edge] if how == 0 else graph.edge_v[st_edge])
        chain = [end]
        n = graph.n_nodes
        while pred[chain[-1]] != n:
            if pred[chain[-1]] < 0:
                raise RuntimeError("route reconstruction left the search tree")
            chain.append(int(pred[chain[-1]]))
        chain = np.array(chain[::-1], dtype=np.int64)
        exit_ = min((x for x in origin_exits(graph, origin, weight=weight) if x[0] == chain[0]), key=lambda x: x[1])
        t_exit = 0.0 if exit_[2] else 1.0
        t_entry = 0.0 if how == 0 else 1.0
        mids = _ref_arc_edges(graph, chain[:-1], chain[1:], weight)
        forward = graph.edge_u[mids] == chain[:-1]
        edges = np.concatenate([[origin.edge], mids, [st_edge]])
        parts = np.concatenate([[abs(origin.fraction - t_exit)], np.ones(len(mids)), [abs(st_frac - t_entry)]])
        line = np.vstack([_ref_piece(graph, origin.edge, origin.fraction, t_exit),
                          _ref_whole_edges(graph, mids, forward),
                          _ref_piece(graph, st_edge, t_entry, st_frac)[1:]])
    piece_len = parts * graph.edge_len_m[edges]
    duration = float((parts * graph.edge_dur_s[edges]).sum())
    if len(line) == 1:
        line = np.vstack([line, line])
    runs = []
    for name_id, ref_id, m in zip(graph.edge_name[edges].tolist(), graph.edge_ref[edges].tolist(),
                                  piece_len.tolist()):
        name = graph.names[name_id] or graph.names[ref_id]
        if runs and runs[-1][0] == name:
            runs[-1][1] += m
        else:
            runs.append([name, m])
    return line, float(piece_len.sum()), duration, _main_names(runs)


def _ref_settle(graph, idx, cand, origin, *, lon, lat, k, weight, extra):
    limit = _START_FRACTION * initial_limit(graph, idx, cand, lon, lat, k=k, weight=weight)
    need = min(k, len(cand))
    add = np.asarray(extra, dtype=np.float64)
    search = origin_search(graph, origin, weight=weight, limit=limit)
    for round_ in range(_LIMIT_ROUNDS + 1):
        if round_:
            search.extend(np.inf if round_ == _LIMIT_ROUNDS else limit)
        cost, how = station_costs(graph, idx, cand, origin, search.dist, weight=weight)
        total = cost + add
        if np.count_nonzero(total <= limit) >= need or search.exhausted or round_ == _LIMIT_ROUNDS:
            break
        reached = total[np.isfinite(total)]
        aim = np.partition(reached, need - 1)[need - 1] if len(reached) >= need else np.inf
        limit = max(limit * _LIMIT_GROWTH, min(aim, limit * _LIMIT_JUMP))
    return cost, how, search.pred


# -- graphs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def graphs():
    out = {f"synthetic-{m}": synthetic_graph(6400, m, seed=5) for m in ("drive", "walk")}
    if SHENZHEN_PBF.exists():
        built = build_graphs(SHENZHEN_PBF)
        out.update({f"shenzhen-{m}": built[m] for m in ("drive", "walk")})
    return out


def _same_route(got, want):
    line, length, duration, names = got
    r_line, r_length, r_duration, r_names = want
    assert line.shape == r_line.shape and np.array_equal(line, r_line)
    assert length == r_length and duration == r_duration
    assert names == r_names


NAMES = ["synthetic-drive", "synthetic-walk", "shenzhen-drive", "shenzhen-walk"]


@pytest.mark.parametrize("name", NAMES)
def test_settle_and_routes_equal_the_numpy_code(graphs, name):
    if name not in graphs:
        pytest.skip("shared Shenzhen roads extract not present")
    g = graphs[name]
    box = _box(g)
    idx = index_stations(g, _stations(400, box, seed=3))
    cand = np.flatnonzero(idx.edge >= 0)
    rng = np.random.default_rng(17)
    walk = settings.OFF_ROAD_SPEED_KMH / 3.6
    checked = {0: 0, 1: 0, 2: 0}
    origins = 0
    while origins < 60:
        lon, lat = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
        origin = snap_point(g, lon, lat)
        if origin is None:
            continue
        origins += 1
        weight = ("time", "distance")[origins % 2]
        k = int(rng.integers(1, 12))
        egress = idx.snap_m[cand] / walk if weight == "time" else idx.snap_m[cand]
        cost, how, pred = settle_stations(g, idx, cand, origin, lon=lon, lat=lat, k=k, weight=weight,
                                          extra=egress)
        r_cost, r_how, r_pred = _ref_settle(g, idx, cand, origin, lon=lon, lat=lat, k=k,
                                                      weight=weight, extra=egress)
        ok = np.flatnonzero(np.isfinite(cost))
        order = ok[np.lexsort((idx.ids[cand[ok]], (cost + egress)[ok]))][:k]
        r_ok = np.flatnonzero(np.isfinite(r_cost))
        r_order = r_ok[np.lexsort((idx.ids[cand[r_ok]], (r_cost + egress)[r_ok]))][:k]
        assert np.array_equal(order, r_order)
        assert np.array_equal(cost[order], r_cost[order]) and np.array_equal(how[order], r_how[order])
        limit = np.sort(cost + egress)[min(k, len(cand)) - 1]
        within = cost + egress <= limit
        assert within.sum() >= min(k, len(cand))
        assert np.array_equal(cost[within], r_cost[within]) and np.array_equal(how[within], r_how[within])
        # The k results, as the finder draws them (one call for all), and the routes one at a time.
        chosen = cand[order]
        got = station_routes(g, origin, idx.edge[chosen], idx.fraction[chosen], how[order], pred, weight=weight)
        assert len(got) == len(order)
        for (i, j), route in zip(zip(chosen, order), got):
            want = _ref_station_route(g, origin, int(idx.edge[i]), float(idx.fraction[i]), int(how[j]), r_pred,
                                      weight=weight)
            _same_route(route, want)
            _same_route(station_route(g, origin, int(idx.edge[i]), float(idx.fraction[i]), int(how[j]), pred,
                                      weight=weight), want)
            checked[int(how[j])] += 1
        # Many more paths from the same tree: edges at settled nodes, at random positions, both ways in,
        # and positions along the origin's own edge; from the search's pred and from a plain array.
        tree = origin_search(g, origin, weight=weight, limit=np.inf)
        settled = tree.settled
        edges_at = np.flatnonzero(np.isin(g.edge_u, settled[rng.integers(0, len(settled), 20)]))[:20]
        ends_at = np.flatnonzero(np.isin(g.edge_v, settled[rng.integers(0, len(settled), 20)]))[:20]
        st_edges = np.concatenate([edges_at, ends_at, [origin.edge] * 3])
        st_fracs = np.concatenate([rng.random(len(edges_at) + len(ends_at)), [0.0, 1.0, rng.random()]])
        hows = np.concatenate([np.zeros(len(edges_at)), np.ones(len(ends_at)), [2, 2, 2]]).astype(int)
        plain = np.asarray(tree.pred)
        for source in (tree.pred, plain):
            got = station_routes(g, origin, st_edges, st_fracs, hows, source, weight=weight)
            for e, f, h, route in zip(st_edges, st_fracs, hows, got):
                _same_route(route, _ref_station_route(g, origin, int(e), float(f), int(h), plain, weight=weight))
        for h in hows:
            checked[int(h)] += 1
    assert min(checked.values()) >= 60, checked


def test_a_route_off_the_search_tree_is_refused(graphs):
    g = graphs["synthetic-drive"]
    origin = snap_point(g, float(g.node_lon[0]), float(g.node_lat[0]))
    search = origin_search(g, origin, weight="time", limit=1.0)
    e = int(np.flatnonzero(~np.isin(g.edge_u, search.settled))[0])
    with pytest.raises(RuntimeError, match="left the search tree"):
        station_routes(g, origin, [e], [0.5], [0], search.pred, weight="time")


def _ref_line(coords):
    return {"type": "LineString", "coordinates": np.round(np.asarray(coords, dtype=float), 7).tolist()}


def _ref_nearest(g, idx, lon, lat, *, k, at, kinds=None):
    """nearest_stations before this work, for an origin on the network: eligible per query, the
    growing-limit search, numpy routes, each line rounded on its own."""
    from geo.routing.nearest import _result
    from geo.routing.stations import eligible

    mask, state = eligible(idx, kinds=kinds, at=at)
    origin = snap_point(g, lon, lat)
    cand = np.flatnonzero(mask & (idx.edge >= 0))
    walk = settings.OFF_ROAD_SPEED_KMH / 3.6
    egress = idx.snap_m[cand] / walk
    cost, how, pred = _ref_settle(g, idx, cand, origin, lon=lon, lat=lat, k=k, weight="time", extra=egress)
    total = cost + egress
    ok = np.flatnonzero(np.isfinite(cost))
    out = []
    for j in ok[np.lexsort((idx.ids[cand[ok]], total[ok]))][:k]:
        i = int(cand[j])
        line, length, duration, names = _ref_station_route(g, origin, int(idx.edge[i]), float(idx.fraction[i]),
                                                           int(how[j]), pred, weight="time")
        station = (float(idx.lon[i]), float(idx.lat[i]))
        access_m, egress_m = float(origin.distance_m), float(idx.snap_m[i])
        out.append({**_result(idx, i, state),
                    "distance_m": round(length + access_m + egress_m, 1),
                    "duration_s": round(duration + (access_m + egress_m) / walk, 1),
                    "method": "network", "label": settings.NETWORK_LABEL, "mode": g.mode,
                    "route": _ref_line(line), "road_names": names,
                    "snap_origin_m": round(access_m, 1), "snap_station_m": round(egress_m, 1),
                    "road_m": round(length, 1), "road_s": round(duration, 1),
                    "access_m": round(access_m, 1), "egress_m": round(egress_m, 1),
                    "access": _ref_line([(lon, lat), line[0]]), "egress": _ref_line([line[-1], station])})
    return out


@pytest.mark.parametrize("name", ["synthetic-drive", "shenzhen-drive"])
def test_finder_answers_equal_the_old_code_path(graphs, name):
    """Whole answers (every field) of nearest_stations against the old path, across an opening-hours boundary."""
    from datetime import datetime

    from geo.routing.nearest import nearest_stations

    if name not in graphs:
        pytest.skip("shared Shenzhen roads extract not present")
    g = graphs[name]
    box = _box(g)
    n = 300
    hours = np.where(np.arange(n) % 3 == 0, "Mo-Fr 09:00-17:00", np.where(np.arange(n) % 3 == 1, "24/7", ""))
    st = _stations(n, box, seed=8, opening_hours=hours, opening_hours_osm=hours)
    st["kind"] = np.where(np.arange(n) % 4 == 0, "driver_home", "rest_station")
    idx = index_stations(g, st)
    rng = np.random.default_rng(23)
    moments = [datetime(2026, 11, 23, 16, 59, 30), datetime(2026, 11, 23, 17, 0, 0),
               datetime.fromisoformat("2026-11-23T09:00:00+08:00"), datetime(2026, 11, 28, 12, 0)]
    compared = 0
    while compared < 40:
        lon, lat = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
        if snap_point(g, lon, lat) is None:
            continue
        at = moments[compared % len(moments)]
        kinds = None if compared % 2 else ["rest_station"]
        k = 1 + compared % 7
        got = nearest_stations(lon, lat, idx, g, k=k, at=at, kinds=kinds)
        assert got == _ref_nearest(g, idx, lon, lat, k=k, at=at, kinds=kinds)
        assert all(r["method"] == "network" for r in got)
        compared += 1
    # Opening hours are read to the minute: 16:59:30 and 17:00 differ for the weekday-only stations.
    lon, lat = float(g.node_lon[0]), float(g.node_lat[0])
    before = {r["id"] for r in nearest_stations(lon, lat, idx, g, k=300, at=moments[0])}
    after = {r["id"] for r in nearest_stations(lon, lat, idx, g, k=300, at=moments[1])}
    weekday_only = set(idx.ids[::3])
    assert before & weekday_only and not after & weekday_only
