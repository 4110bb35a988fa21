"""The worker finder: snapping, nearest stations by road, routes, filters, estimates, the CLI."""
import json
import math
from datetime import datetime

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geo import settings
from geo.core.crs import haversine_m, wgs84_to_gcj02
from geo.routing.build import build_graphs
from geo.routing.nearest import nearest_stations, route_between
from geo.routing.snap import snap_point
from geo.routing.stations import index_stations, station_index
from geo.routing.synthetic import synthetic_graph
from conftest import SHARED, run_cli

PBF = SHARED / "shenzhen_futian_nanshan_roads.osm.pbf"
needs_pbf = pytest.mark.skipif(not PBF.exists(), reason="shared Shenzhen roads extract not present")
BOX = (113.96, 22.49, 114.09, 22.60)  # inside the Futian/Nanshan extract


@pytest.fixture(scope="module")
def sz():
    return build_graphs(PBF)


@pytest.fixture(scope="module")
def synth():
    return {mode: synthetic_graph(6400, mode, seed=11) for mode in ("drive", "ebike", "walk")}


def _stations(n, box, seed=0, **cols):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "id": [f"S{i:04d}" for i in range(n)], "name": [f"驿站{i}" for i in range(n)],
        "kind": "rest_station", "lon": rng.uniform(box[0], box[2], n), "lat": rng.uniform(box[1], box[3], n),
        "status": "open", "facilities": [["toilet"]] * n, "opening_hours": "", "opening_hours_osm": ""})
    for k, v in cols.items():
        df[k] = v
    return df


def _box(g):
    lo = np.percentile(g.node_lon, [5, 95])
    la = np.percentile(g.node_lat, [5, 95])
    return lo[0], la[0], lo[1], la[1]


# -- an independent reference: networkx on the same edges ---------------------


def _nx_graph(g, weight):
    cost = g.edge_dur_s if weight == "time" else g.edge_len_m
    G = nx.DiGraph()
    for e in range(g.n_edges):
        u, v, c = int(g.edge_u[e]), int(g.edge_v[e]), float(cost[e])
        for a, b, ok in ((u, v, g.edge_fwd[e]), (v, u, g.edge_bwd[e])):
            if ok and a != b and c < G.get_edge_data(a, b, {"w": np.inf})["w"]:
                G.add_edge(a, b, w=c)
    return G


def _nx_station_costs(g, G, weight, origin, idx):
    """Costs from a snapped origin to every snapped station, by networkx Dijkstra."""
    cost = g.edge_dur_s if weight == "time" else g.edge_len_m
    e, t = origin.edge, origin.fraction
    c = float(cost[e])
    G.add_node("o")
    if g.edge_bwd[e]:
        G.add_edge("o", int(g.edge_u[e]), w=t * c)
    if g.edge_fwd[e]:
        G.add_edge("o", int(g.edge_v[e]), w=(1 - t) * c)
    dist = nx.single_source_dijkstra_path_length(G, "o", weight="w")
    G.remove_node("o")
    out = {}
    for i in np.flatnonzero(idx.edge >= 0):
        es, ts = int(idx.edge[i]), float(idx.fraction[i])
        cs = float(cost[es])
        best = np.inf
        if g.edge_fwd[es]:
            best = min(best, dist.get(int(g.edge_u[es]), np.inf) + ts * cs)
            if es == e and ts >= t:
                best = min(best, (ts - t) * cs)
        if g.edge_bwd[es]:
            best = min(best, dist.get(int(g.edge_v[es]), np.inf) + (1 - ts) * cs)
            if es == e and ts <= t:
                best = min(best, (t - ts) * cs)
        out[str(idx.ids[i])] = best
    return out


def _check_against_networkx(g, n_stations, n_origins, seed):
    box = _box(g)
    idx = index_stations(g, _stations(n_stations, box, seed=seed))
    rng = np.random.default_rng(seed + 1)
    checked = 0
    walk = settings.OFF_ROAD_SPEED_KMH / 3.6
    for by, weight, key, road in (("distance", "distance", "distance_m", "road_m"),
                                  ("time", "time", "duration_s", "road_s")):
        G = _nx_graph(g, weight)
        # The walk from the road to each station is added to its road cost, at walking speed.
        off = {str(sid): float(m if by == "distance" else m / walk) for sid, m in zip(idx.ids, idx.snap_m)}
        for _ in range(n_origins):
            lon, lat = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
            res = nearest_stations(lon, lat, idx, g, k=5, by=by, open_only=False)
            origin = snap_point(g, lon, lat)
            access = origin.distance_m if by == "distance" else origin.distance_m / walk
            ref = _nx_station_costs(g, G, weight, origin, idx)
            expected = sorted(v + off[sid] + access for sid, v in ref.items() if np.isfinite(v))[:5]
            assert [r["method"] for r in res] == ["network"] * len(res)
            assert [r[key] for r in res] == pytest.approx(expected, abs=0.2, rel=1e-9)
            for r in res:
                assert r[road] == pytest.approx(ref[r["id"]], abs=0.06)
            checked += len(res)
    assert checked >= 2 * n_origins * 5 * 0.9


@needs_pbf
@pytest.mark.parametrize("mode", ["drive", "walk", "ebike"])
def test_shenzhen_distances_equal_networkx_dijkstra(sz, mode):
    _check_against_networkx(sz[mode], n_stations=150, n_origins=12, seed={"drive": 1, "walk": 2, "ebike": 3}[mode])


@pytest.mark.parametrize("mode", ["drive", "ebike", "walk"])
def test_synthetic_distances_equal_networkx_dijkstra(synth, mode):
    _check_against_networkx(synth[mode], n_stations=200, n_origins=10, seed=7)


# -- snapping ----------------------------------------------------------------


@needs_pbf
def test_snap_finds_the_nearest_point_on_the_nearest_road(sz):
    g = sz["drive"]
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    edges = np.flatnonzero(g.edge_snappable)
    lines = []
    for e in edges:
        xy = g.edge_coords(e)
        lines.append(shapely.linestrings(np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1]))))
    tree = shapely.STRtree(lines)
    rng = np.random.default_rng(5)
    for _ in range(150):
        lon, lat = rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])
        p = shapely.Point(*to_utm.transform(lon, lat))
        _, dist = tree.query_nearest(p, return_distance=True)
        sn = snap_point(g, lon, lat)
        if dist[0] > settings.SNAP_MAX_M * 1.01:  # out in Shenzhen Bay: no road in reach
            assert sn is None
            continue
        assert sn.distance_m == pytest.approx(float(dist[0]), rel=5e-3, abs=0.3)
        # the snapped point lies on the edge it names, at the fraction it reports
        on = shapely.line_interpolate_point(lines[int(np.searchsorted(edges, sn.edge))], sn.fraction, normalized=True)
        assert math.dist(to_utm.transform(sn.lon, sn.lat), (on.x, on.y)) < 1.0


@needs_pbf
def test_snapping_onto_mid_edge_beats_the_nearest_node(sz):
    g = sz["drive"]
    rng = np.random.default_rng(9)
    long_edges = np.flatnonzero(g.edge_snappable & (g.edge_len_m > 300) & (np.diff(g.geom_ptr) == 2))
    done = 0
    for e in rng.permutation(long_edges):
        (x0, y0), (x1, y1) = g.edge_coords(e)
        # 12 m off the middle of a straight edge, perpendicular to it
        kx = 111_195 * math.cos(math.radians(y0))
        dx, dy = (x1 - x0) * kx, (y1 - y0) * 111_195
        norm = math.hypot(dx, dy)
        lon = (x0 + x1) / 2 - dy / norm * 12 / kx
        lat = (y0 + y1) / 2 + dx / norm * 12 / 111_195
        sn = snap_point(g, lon, lat)
        if sn.edge != e:
            continue  # another road runs closer here
        node_m = haversine_m(lon, lat, g.node_lon, g.node_lat).min()
        assert sn.distance_m == pytest.approx(12, abs=0.5)
        assert sn.fraction == pytest.approx(0.5, abs=0.01)
        assert sn.distance_m < node_m  # the road itself is nearer than any node
        ends_m = haversine_m(sn.lon, sn.lat, [x0, x1], [y0, y1])
        assert ends_m.min() > 140  # snapped to the middle of the block, not to a corner
        # and the route length starts from the snapped point, not from a node
        st = pd.DataFrame({"id": ["end"], "name": ["终点"], "kind": ["rest_station"], "status": ["open"],
                           "lon": [x1 if g.edge_fwd[e] else x0], "lat": [y1 if g.edge_fwd[e] else y0]})
        res = nearest_stations(lon, lat, st, g, k=1, by="distance", open_only=False)
        assert res[0]["road_m"] == pytest.approx(g.edge_len_m[e] / 2, abs=1.0)
        assert res[0]["distance_m"] == pytest.approx(res[0]["road_m"] + 12 + res[0]["egress_m"], abs=0.6)
        done += 1
        if done == 5:
            break
    assert done == 5


def test_far_from_any_road_falls_back_to_an_estimate(synth):
    g = synth["drive"]
    st = _stations(20, _box(g))
    res = nearest_stations(g.node_lon.min() - 0.2, g.node_lat.min() - 0.2, st, g, k=3, open_only=False)
    assert len(res) == 3
    assert all(r["method"] == "estimate" and r["route"] is None and "note" in r for r in res)


# -- one-way streets, routes and names ---------------------------------------


def _point_on(g, e, t):
    from geo.routing.routes import _piece

    return tuple(_piece(g, e, 0.0, t)[-1])


@needs_pbf
def test_oneway_streets_make_routes_asymmetric_for_vehicles_but_not_walkers(sz):
    g = sz["drive"]
    rng = np.random.default_rng(2)
    cands = np.flatnonzero(g.edge_snappable & g.edge_fwd & ~g.edge_bwd & (g.edge_len_m > 250))
    found = 0
    for e in rng.permutation(cands):
        a, b = _point_on(g, e, 0.3), _point_on(g, e, 0.7)
        if snap_point(g, *a).edge != e or snap_point(g, *b).edge != e:
            continue  # an overlapping road (bridge over street) takes the point
        ab = route_between(g, a, b, by="distance")
        ba = route_between(g, b, a, by="distance")
        assert ab["distance_m"] == pytest.approx(0.4 * g.edge_len_m[e], abs=0.2)
        assert ba["distance_m"] > ab["distance_m"] + 50  # must go round, not back up the one-way street
        found += 1
        if found == 5:
            break
    assert found == 5
    walk = sz["walk"]
    rng = np.random.default_rng(4)
    for _ in range(10):
        a = (rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3]))
        b = (rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3]))
        ab, ba = route_between(walk, a, b, "distance"), route_between(walk, b, a, "distance")
        assert ab["distance_m"] == pytest.approx(ba["distance_m"], abs=0.2)


@needs_pbf
def test_routes_follow_the_roads_and_name_them(sz):
    g = sz["drive"]
    idx = index_stations(g, _stations(200, BOX, seed=8))
    rng = np.random.default_rng(8)
    for _ in range(10):
        lon, lat = rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])
        for r in nearest_stations(lon, lat, idx, g, k=3):
            line = np.array(r["route"]["coordinates"])
            assert r["route"]["type"] == "LineString" and len(line) >= 2
            length = haversine_m(line[:-1, 0], line[:-1, 1], line[1:, 0], line[1:, 1]).sum()
            assert length == pytest.approx(r["road_m"], rel=2e-3, abs=0.5)
            assert haversine_m(lon, lat, *line[0]) == pytest.approx(r["snap_origin_m"], abs=0.3)
            assert haversine_m(r["lon"], r["lat"], *line[-1]) == pytest.approx(r["snap_station_m"], abs=0.3)
            # Door to door: the walks to and from the road are in the totals, drawn as their own lines.
            assert r["access"]["coordinates"] == [[round(lon, 7), round(lat, 7)], line[0].tolist()]
            assert r["egress"]["coordinates"] == [line[-1].tolist(), [r["lon"], r["lat"]]]
            walk = settings.OFF_ROAD_SPEED_KMH / 3.6
            assert r["distance_m"] == pytest.approx(r["road_m"] + r["access_m"] + r["egress_m"], abs=0.15)
            assert r["duration_s"] == pytest.approx(r["road_s"] + (r["access_m"] + r["egress_m"]) / walk, abs=0.15)
            assert r["access_m"] > 0 and (r["access_m"], r["egress_m"]) == (r["snap_origin_m"], r["snap_station_m"])
            assert all(isinstance(n, str) and n for n in r["road_names"])
            assert all(a != b for a, b in zip(r["road_names"], r["road_names"][1:]))
            assert r["duration_s"] >= 0 and r["mode"] == "drive"


@needs_pbf
def test_a_route_along_shennan_boulevard_is_named_so(sz):
    g = sz["drive"]
    names = np.array(g.names, dtype=object)[g.edge_name]
    shennan = np.flatnonzero((names == "深南大道") & g.edge_snappable & g.edge_fwd & ~g.edge_bwd)
    # follow 深南大道 edge to edge for about 2 km
    e = int(shennan[np.argmax(g.edge_len_m[shennan])])
    path, total = [e], g.edge_len_m[e]
    while total < 2000:
        nxt = [f for f in shennan if g.edge_u[f] == g.edge_v[path[-1]] and f not in path]
        if not nxt:
            break
        path.append(nxt[0])
        total += g.edge_len_m[nxt[0]]
    assert total > 1000
    r = route_between(g, _point_on(g, path[0], 0.5), _point_on(g, path[-1], 0.5), by="distance")
    assert r["road_names"][0] == "深南大道"
    assert r["distance_m"] <= total


# -- filters and estimates ------------------------------------------------------


@pytest.fixture()
def mixed():
    df = _stations(8, BOX, seed=3)
    df["kind"] = ["rest_station", "driver_home", "legal_aid", "rest_station", "rest_station",
                  "driver_home", "rest_station", "rest_station"]
    df["facilities"] = [["toilet", "drinking_water"], ["truck_parking"], ["legal_consultation"], ["toilet"],
                        ["drinking_water"], ["truck_parking", "shower"], ["toilet", "drinking_water"], []]
    df["opening_hours"] = ["", "24/7", "周一至周五 9:00-17:00", "", "", "", "周一至周五 9:00-17:00", ""]
    df["opening_hours_osm"] = ["", "24/7", "Mo-Fr 09:00-17:00", "", "", "", "Mo-Fr 09:00-17:00", ""]
    df["status"] = ["open", "open", "open", "closed", "temporarily_closed", "open", "open", "open"]
    return df


MONDAY_10 = datetime(2026, 11, 23, 10, 0)
SATURDAY_10 = datetime(2026, 11, 28, 10, 0)


@pytest.mark.parametrize("use_graph", [True, False])
def test_filters(sz, mixed, use_graph):
    g = sz["drive"] if use_graph else None
    here = (114.0579, 22.5431)

    def ids(**kw):
        return {r["id"] for r in nearest_stations(*here, mixed, g, k=20, at=MONDAY_10, mode="drive", **kw)}

    assert ids() == {"S0000", "S0001", "S0002", "S0005", "S0006", "S0007"}  # open status only
    assert ids(statuses=None) == set(mixed["id"])
    assert ids(kinds="driver_home") == {"S0001", "S0005"}
    assert ids(kinds=["legal_aid", "driver_home"]) == {"S0001", "S0002", "S0005"}
    assert ids(facilities=["toilet", "drinking_water"]) == {"S0000", "S0006"}
    assert ids(facilities=["truck_parking"], kinds="driver_home") == {"S0001", "S0005"}
    saturday = {r["id"]: r for r in nearest_stations(*here, mixed, g, k=20, at=SATURDAY_10, mode="drive")}
    assert set(saturday) == {"S0000", "S0001", "S0005", "S0007"}  # weekday-only stations are closed
    assert saturday["S0001"]["open_now"] is True and saturday["S0000"]["open_now"] is None  # unknown, flagged
    monday = {r["id"]: r for r in nearest_stations(*here, mixed, g, k=20, at=MONDAY_10, mode="drive")}
    assert monday["S0002"]["open_now"] is True
    both = {r["id"] for r in nearest_stations(*here, mixed, g, k=20, at=SATURDAY_10, open_only=False, mode="drive")}
    assert both == ids()
    with pytest.raises(ValueError):
        ids(facilities=["jacuzzi"])
    with pytest.raises(ValueError):
        ids(kinds="spa")


def test_estimate_without_a_network_is_labelled_and_has_no_route(mixed):
    here = (114.0579, 22.5431)
    res = nearest_stations(*here, mixed, None, k=3, mode="walk", open_only=False, statuses=None)
    assert len(res) == 3
    crow = haversine_m(here[0], here[1], mixed["lon"], mixed["lat"])
    assert [r["distance_m"] for r in res] == pytest.approx(np.sort(crow)[:3] * settings.DETOUR_FACTOR, abs=0.1)
    for r in res:
        assert r["method"] == "estimate" and r["label"] == "估算 / estimate" and r["route"] is None
        assert r["duration_s"] == pytest.approx(r["distance_m"] / (settings.ESTIMATE_SPEED_KMH["walk"] / 3.6), abs=0.2)
        assert r["snap_origin_m"] is None and r["road_names"] == []


@needs_pbf
def test_origin_in_gcj02_gives_the_same_answer(sz, mixed):
    here = (114.0579, 22.5431)
    wgs = nearest_stations(*here, mixed, sz["walk"], k=3, open_only=False)
    gcj = nearest_stations(*wgs84_to_gcj02(*here), mixed, sz["walk"], k=3, open_only=False, crs="gcj02")
    assert [r["id"] for r in wgs] == [r["id"] for r in gcj]
    assert [r["distance_m"] for r in wgs] == pytest.approx([r["distance_m"] for r in gcj], abs=0.2)


@needs_pbf
def test_time_and_distance_rankings_differ_where_roads_are_faster(sz):
    g = sz["drive"]
    idx = index_stations(g, _stations(300, BOX, seed=12))
    rng = np.random.default_rng(12)
    differ = 0
    for _ in range(20):
        lon, lat = rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])
        by_time = nearest_stations(lon, lat, idx, g, k=5, by="time")
        by_dist = nearest_stations(lon, lat, idx, g, k=5, by="distance")
        assert [r["duration_s"] for r in by_time] == sorted(r["duration_s"] for r in by_time)
        assert [r["distance_m"] for r in by_dist] == sorted(r["distance_m"] for r in by_dist)
        assert by_time[0]["duration_s"] <= min(r["duration_s"] for r in by_dist) + 0.1
        assert by_dist[0]["distance_m"] <= min(r["distance_m"] for r in by_time) + 0.1
        differ += [r["id"] for r in by_time] != [r["id"] for r in by_dist]
    assert differ > 0


@needs_pbf
def test_station_index_is_built_once_per_station_set(sz, mixed):
    g = sz["drive"]
    a = station_index(g, mixed)
    assert station_index(g, mixed.copy()) is a
    changed = mixed.copy()
    changed.loc[0, "lon"] += 0.001
    assert station_index(g, changed) is not a
    assert station_index(sz["walk"], mixed) is not a


@needs_pbf
def test_a_new_index_snaps_only_moved_stations_and_matches_a_fresh_one(sz, mixed, monkeypatch):
    import geo.routing.stations as stations_module

    g = sz["drive"]
    before = index_stations(g, mixed)
    edited = mixed.copy()
    edited.loc[0, "lon"] += 0.002  # moved
    edited.loc[1, "name"] = "改名"  # renamed where it stands
    edited = pd.concat([edited, edited.iloc[[2]].assign(id="new-one", lat=edited.loc[2, "lat"] + 0.001)],
                       ignore_index=True)
    fresh = index_stations(g, edited)
    snapped = []
    real_snap = stations_module.snap_point
    monkeypatch.setattr(stations_module, "snap_point", lambda *a, **k: snapped.append(a[1:]) or real_snap(*a, **k))
    reused = index_stations(g, edited, previous=before)
    assert sorted(snapped) == sorted([(edited.loc[0, "lon"], edited.loc[0, "lat"]),
                                      (edited.loc[len(edited) - 1, "lon"], edited.loc[len(edited) - 1, "lat"])])
    for field in ("ids", "names", "edge", "fraction", "snap_m", "snap_lon", "snap_lat"):
        np.testing.assert_array_equal(getattr(reused, field), getattr(fresh, field))


# -- command line ----------------------------------------------------------------


def _run(*args, env=None):
    return run_cli(*args, env=env)


@needs_pbf
def test_cli_network_build_and_nearest(tmp_path):
    from geo.registry.store import create_registry

    store = create_registry(tmp_path / "reg.gpkg")
    for name, kind, lon, lat, hours in (
            ("福田驿站", "rest_station", 114.0600, 22.5440, "周一至周五 9:00-17:00"),
            ("华强北司机之家", "driver_home", 114.0850, 22.5470, "24小时"),
            ("车公庙法律服务站", "legal_aid", 114.0250, 22.5350, ""),
            ("南山驿站", "rest_station", 113.9400, 22.5200, "")):
        store.add({"name": name, "kind": kind, "lon": lon, "lat": lat, "opening_hours": hours,
                   "facilities": ["toilet"], "status": "open"})
    net = tmp_path / "net"
    p = _run("network", "build", str(PBF), "--out", str(net), "--modes", "drive", "walk")
    assert p.returncode == 0, p.stderr
    assert (net / "drive.npz").exists() and (net / "walk.npz").exists() and not (net / "truck.npz").exists()

    p = _run("nearest", "--lon", "114.0579", "--lat", "22.5431", "--k", "2", "--mode", "drive",
             "--network", str(net), "--registry", str(tmp_path / "reg.gpkg"), "--at", "2026-11-23T10:00", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert len(res) == 2
    assert res[0]["distance_m"] <= res[1]["distance_m"] or res[0]["duration_s"] <= res[1]["duration_s"]
    for r in res:
        assert {"id", "name", "kind", "distance_m", "duration_s", "method", "route"} <= set(r)
        assert r["method"] == "network" and r["route"]["type"] == "LineString"
    p = _run("nearest", "--lon", "114.0579", "--lat", "22.5431", "--kind", "legal_aid", "--mode", "walk",
             "--by", "distance", "--network", str(net), "--registry", str(tmp_path / "reg.gpkg"), "--json")
    res = json.loads(p.stdout)
    assert [r["name"] for r in res] == ["车公庙法律服务站"]
    # GCJ-02 input, and no network at all: a labelled estimate without a route
    lon, lat = wgs84_to_gcj02(114.0579, 22.5431)
    p = _run("nearest", "--lon", str(lon), "--lat", str(lat), "--crs", "gcj02", "--registry",
             str(tmp_path / "reg.gpkg"), "--facility", "toilet", "--json",
             env={"GEO_NETWORK_DIR": str(tmp_path / "none")})
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res and all(r["method"] == "estimate" and r["route"] is None for r in res)
    # a network folder given by name must hold the mode's graph
    p = _run("nearest", "--lon", "114.0579", "--lat", "22.5431", "--mode", "truck", "--network", str(net),
             "--registry", str(tmp_path / "reg.gpkg"), "--json")
    assert p.returncode == 2 and "network build" in p.stderr


def test_a_broken_graph_file_is_a_clear_error_and_a_missing_one_none(tmp_path):
    from geo.routing.network import resolve_graph

    assert resolve_graph("ebike", directory=tmp_path, missing_ok=True) is None
    (tmp_path / "walk.npz").write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="road network"):
        resolve_graph("walk", directory=tmp_path)
    (tmp_path / "drive.npz").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(ValueError, match="road network"):
        resolve_graph("drive", directory=tmp_path)
