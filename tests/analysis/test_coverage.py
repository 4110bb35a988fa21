"""Planner coverage: grid, nearest-station travel (estimate and road network), demand,
district table, gaps, service areas, exports, the report and the CLI contract.

Every figure is checked against an independent brute-force computation:
all-pairs haversine for estimates, networkx Dijkstra from each cell for the
road network, H3's own polyfill and neighbourhoods for the grid.
"""
from __future__ import annotations

import json

import h3
import h3.api.basic_int as h3i
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.analysis.coverage import coverage, service_areas
from geo.analysis.export import write_layer
from geo.analysis.grid import cell_polygons, hex_grid
from geo.analysis.standard import service_standard
from geo.analysis.travel import estimate_factor, nearest_network, snap_points
from geo import settings
from geo.core.crs import haversine_m
from geo.analysis.demand import DemandSource, cells_of_points, population_demand, read_demand_points, read_population_table
from geo.routing.build import build_graphs
from geo.core.regions import Region, find_region, locate
from geo.web.report import render_report
from geo.routing.snap import snap_point
from geo.routing.synthetic import DEFAULT_CENTER, synthetic_graph
from conftest import ROOT, run_cli

SHARED = ROOT.parent / "shared" / "data"
POPULATION = SHARED / "guangdong_county_population_2020.csv"
PBF = SHARED / "shenzhen_futian_nanshan_roads.osm.pbf"
GZ_EV = SHARED / "guangzhou_ev_charging_stations.csv"
SZ_EV = SHARED / "shenzhen_ev_charging_stations_gcj02.csv"
needs_shared = pytest.mark.skipif(not POPULATION.exists(), reason="shared data folder not present")
needs_pbf = pytest.mark.skipif(not PBF.exists(), reason="shared Shenzhen roads extract not present")

SHENZHEN_DISTRICTS = ["440303", "440304", "440305", "440306", "440307", "440308", "440309", "440310",
                      "440311"]


def _stations(n, box, seed=0, kind="rest_station"):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": [f"S{i:04d}" for i in range(n)], "name": [f"驿站{i}" for i in range(n)], "kind": kind,
        "lon": rng.uniform(box[0], box[2], n), "lat": rng.uniform(box[1], box[3], n), "status": "open"})


def _centres(cells):
    ll = np.array([h3i.cell_to_latlng(int(c)) for c in cells])
    return ll[:, 1], ll[:, 0]


# --------------------------------------------------------------------------
# Standard
# --------------------------------------------------------------------------


def test_standard_defaults_come_from_settings_and_can_be_overridden():
    std = service_standard()
    base = settings.COVERAGE_STANDARDS[settings.COVERAGE_DEFAULT_KINDS[0]]
    assert std.mode == base["mode"] and std.minutes == base["minutes"] and std.source == "settings"
    assert std.to_dict()["unit"] == "min" and std.weight == "time"
    dh = service_standard("driver_home")
    assert (dh.mode, dh.minutes) == ("truck", 30.0)
    walk = service_standard("rest_station", mode="walk", meters=1000)
    assert (walk.mode, walk.meters, walk.unit, walk.weight, walk.source) == ("walk", 1000.0, "m", "distance", "user")
    assert "1000" in walk.describe()
    with pytest.raises(ValueError):
        service_standard(minutes=10, meters=100)
    with pytest.raises(ValueError):
        service_standard(mode="rocket")
    with pytest.raises(ValueError):
        service_standard(minutes=0)
    with pytest.raises(ValueError):
        service_standard("bakery")


# --------------------------------------------------------------------------
# Grid
# --------------------------------------------------------------------------


@pytest.mark.parametrize("query,res", [("440300", 8), ("440106", 9), ("441521", 7)])
def test_grid_is_h3_polyfill_of_the_region(query, res):
    region = find_region(query)
    grid = hex_grid(region, res)
    ref = np.sort(np.array([h3.str_to_int(c) for c in h3.geo_to_cells(region.geometry, res)], dtype=np.int64))
    assert np.array_equal(grid.cells, ref)
    lon, lat = _centres(grid.cells[:200])
    assert np.allclose(grid.lon[:200], lon) and np.allclose(grid.lat[:200], lat)
    # Districts as the boundary lookup gives them.
    assert (locate(grid.lon, grid.lat)["adcode"].to_numpy(dtype=object) == grid.district).all()
    assert np.allclose(grid.area_km2, [h3i.cell_area(int(c), "km^2") for c in grid.cells])
    assert hex_grid(query, res) is grid  # cached


def test_cell_polygons_are_h3_boundaries():
    # Around a pentagon some cells have 7 or 10 vertices (icosahedron edges).
    cells = list(h3i.grid_disk(h3i.get_pentagons(5)[0], 3)) + hex_grid("440106", 8).cells[:50].tolist()
    polys = cell_polygons(cells)
    assert {len(h3i.cell_to_boundary(c)) for c in cells} > {6}
    for c, p in zip(cells, polys):
        assert p.equals_exact(shapely.Polygon([(b, a) for a, b in h3i.cell_to_boundary(c)]), 0)


def test_grid_rejects_other_resolutions():
    with pytest.raises(ValueError):
        hex_grid("440106", 10)
    with pytest.raises(ValueError):
        hex_grid("440106", 6)


def test_neighbours_are_h3_grid_disk():
    grid = hex_grid("440300", 8)
    i, j = grid.neighbours
    mine = set(zip(grid.cells[i].tolist(), grid.cells[j].tolist()))
    inside = set(grid.cells.tolist())
    ref = set()
    for c in grid.cells.tolist():
        for d in h3i.grid_disk(c, 1):
            if d != c and d in inside:
                ref.add((min(c, d), max(c, d)))
    assert mine == ref


# --------------------------------------------------------------------------
# Estimate: exact nearest against all-pairs haversine
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    region = find_region("440300")
    minx, miny, maxx, maxy = shapely.bounds(region.geometry)
    n = int(rng.integers(1, 60))
    st = _stations(n, (minx - 0.1, miny - 0.1, maxx + 0.1, maxy + 0.1), seed=seed)
    minutes = float(rng.uniform(3, 30))
    res = coverage(region, mode="ebike", minutes=minutes, stations=st, network=False, res=8)
    assert res.method == "estimate" and res.standard.minutes == minutes
    cells = np.array([h3.str_to_int(c) for c in res.cells["h3"]])
    lon, lat = _centres(cells)
    d = haversine_m(lon[:, None], lat[:, None], st["lon"].to_numpy()[None, :], st["lat"].to_numpy()[None, :])
    travel = d.min(axis=1) * settings.DETOUR_FACTOR / (settings.ESTIMATE_SPEED_KMH["ebike"] / 3.6) / 60
    np.testing.assert_allclose(res.cells["travel"].to_numpy(), travel, rtol=1e-9)
    assert (res.cells["station_id"].to_numpy() == st["id"].to_numpy()[d.argmin(axis=1)]).all()
    covered = travel <= minutes
    assert (res.cells["covered"].to_numpy() == covered).all()
    area = np.array([h3i.cell_area(int(c), "km^2") for c in cells])
    assert res.covered_share_area == pytest.approx(area[covered].sum() / area.sum(), abs=1e-12)
    assert res.covered_share_demand == pytest.approx(res.covered_share_area)  # demand is area
    assert 0.0 <= res.covered_share_area <= 1.0


def test_estimate_by_distance_and_without_stations():
    st = _stations(30, (113.8, 22.45, 114.5, 22.8), seed=4)
    res = coverage("440300", mode="walk", meters=1500, stations=st, network=False)
    cells = np.array([h3.str_to_int(c) for c in res.cells["h3"]])
    lon, lat = _centres(cells)
    d = haversine_m(lon[:, None], lat[:, None], st["lon"].to_numpy()[None, :], st["lat"].to_numpy()[None, :])
    np.testing.assert_allclose(res.cells["travel"], d.min(axis=1) * settings.DETOUR_FACTOR, rtol=1e-9)
    empty = coverage("440300", stations=st.iloc[0:0], network=False)
    assert empty.covered_share_area == 0.0 and np.isinf(empty.cells["travel"]).all()
    assert len(empty.gaps) >= 1 and empty.gaps["cells"].sum() == len(empty.cells)


def test_closed_stations_and_other_kinds_do_not_serve():
    st = _stations(40, (113.8, 22.45, 114.5, 22.8), seed=5)
    st.loc[:9, "status"] = "closed"
    st.loc[10:19, "kind"] = "legal_aid"
    res = coverage("440300", stations=st, network=False)
    assert set(res.stations["id"]) == set(st["id"][20:])
    planned = coverage("440300", stations=st, network=False, statuses=("open", "closed"))
    assert planned.covered_share_area >= res.covered_share_area


# --------------------------------------------------------------------------
# Road network: one multi-source pass against per-cell Dijkstra
# --------------------------------------------------------------------------


def _nx_reference(g, weight, plon, plat, st_lon, st_lat):
    """Per point: networkx Dijkstra from the snapped point, then the best station (both snaps walked)."""
    cost = g.edge_dur_s if weight == "time" else g.edge_len_m
    G = nx.DiGraph()
    for a_arr, b_arr, ok in ((g.edge_u, g.edge_v, g.edge_fwd), (g.edge_v, g.edge_u, g.edge_bwd)):
        for a, b, c in zip(a_arr[ok].tolist(), b_arr[ok].tolist(), cost[ok].tolist()):
            if a != b and c < G.get_edge_data(a, b, {"w": np.inf})["w"]:
                G.add_edge(a, b, w=c)
    walk = settings.COVERAGE_ACCESS_SPEED_KMH / 3.6
    access = (lambda m: m / walk) if weight == "time" else (lambda m: m)
    stations = [snap_point(g, a, b) for a, b in zip(st_lon, st_lat)]
    out = []
    for x, y in zip(plon, plat):
        o = snap_point(g, x, y)
        if o is None:
            out.append(np.nan)
            continue
        c = float(cost[o.edge])
        G.add_node("o")
        if g.edge_bwd[o.edge]:
            G.add_edge("o", int(g.edge_u[o.edge]), w=o.fraction * c)
        if g.edge_fwd[o.edge]:
            w = (1 - o.fraction) * c
            if not G.has_edge("o", int(g.edge_v[o.edge])) or G["o"][int(g.edge_v[o.edge])]["w"] > w:
                G.add_edge("o", int(g.edge_v[o.edge]), w=w)
        dist = nx.single_source_dijkstra_path_length(G, "o", weight="w")
        G.remove_node("o")
        best = np.inf
        for s in stations:
            if s is None:
                continue
            e, t, ce = s.edge, s.fraction, float(cost[s.edge])
            cand = [np.inf]
            if g.edge_fwd[e]:
                cand.append(dist.get(int(g.edge_u[e]), np.inf) + t * ce)
            if g.edge_bwd[e]:
                cand.append(dist.get(int(g.edge_v[e]), np.inf) + (1 - t) * ce)
            if e == o.edge:
                if g.edge_fwd[e] and t >= o.fraction:
                    cand.append((t - o.fraction) * ce)
                if g.edge_bwd[e] and t <= o.fraction:
                    cand.append((o.fraction - t) * ce)
            best = min(best, min(cand) + access(s.distance_m))
        out.append((best + access(o.distance_m)) * (1 / 60 if weight == "time" else 1))
    return np.array(out)


@pytest.mark.parametrize("mode,minutes,meters", [("drive", 5.0, None), ("ebike", None, 1500.0),
                                                 ("walk", 10.0, None)])
def test_network_equals_per_point_dijkstra(mode, minutes, meters):
    g = synthetic_graph(1600, mode, seed=7, oneway_fraction=0.5)
    lo, la = np.percentile(g.node_lon, [2, 98]), np.percentile(g.node_lat, [2, 98])
    rng = np.random.default_rng(3)
    st = _stations(12, (lo[0], la[0], lo[1], la[1]), seed=8)
    m = 120
    # Some points beyond the city: off the network, estimated.
    plon = rng.uniform(lo[0] - 0.05, lo[1] + 0.01, m)
    plat = rng.uniform(la[0], la[1], m)
    std = service_standard("rest_station", mode=mode, minutes=minutes, meters=meters)
    tr = nearest_network(g, plon, plat, st["lon"].to_numpy(), st["lat"].to_numpy(), std)
    ref = _nx_reference(g, std.weight, plon, plat, st["lon"].to_numpy(), st["lat"].to_numpy())
    on = np.isfinite(ref)
    assert on.sum() > 80 and (~on).sum() > 5
    np.testing.assert_allclose(tr.value[on], ref[on], rtol=1e-9, atol=1e-6)
    assert (tr.method[on] == 0).all() and (tr.method[~on] == 1).all()
    # Off the network: the estimate to the nearest station.
    d = haversine_m(plon[~on, None], plat[~on, None], st["lon"].to_numpy()[None], st["lat"].to_numpy()[None])
    np.testing.assert_allclose(tr.value[~on], d.min(axis=1) * estimate_factor(std), rtol=1e-9)


def test_network_nearest_station_is_the_one_reached():
    g = synthetic_graph(900, "drive", seed=2)
    lo, la = np.percentile(g.node_lon, [5, 95]), np.percentile(g.node_lat, [5, 95])
    st = _stations(6, (lo[0], la[0], lo[1], la[1]), seed=1)
    rng = np.random.default_rng(0)
    plon, plat = rng.uniform(lo[0], lo[1], 60), rng.uniform(la[0], la[1], 60)
    std = service_standard(mode="drive", minutes=10)
    tr = nearest_network(g, plon, plat, st["lon"].to_numpy(), st["lat"].to_numpy(), std)
    # Each point's reported station gives exactly its value when it is the only station.
    for k in range(6):
        mine = tr.station == k
        alone = nearest_network(g, plon[mine], plat[mine], st["lon"].to_numpy()[[k]],
                                st["lat"].to_numpy()[[k]], std)
        np.testing.assert_allclose(alone.value, tr.value[mine], rtol=1e-12)


def test_snap_points_equals_snap_point():
    g = synthetic_graph(2500, "ebike", seed=5)
    rng = np.random.default_rng(9)
    lo, la = np.percentile(g.node_lon, [0, 100]), np.percentile(g.node_lat, [0, 100])
    lon = rng.uniform(lo[0] - 0.04, lo[1] + 0.04, 400)
    lat = rng.uniform(la[0] - 0.04, la[1] + 0.04, 400)
    sn = snap_points(g, lon, lat)
    for i in range(len(lon)):
        ref = snap_point(g, lon[i], lat[i])
        if ref is None:
            assert sn.edge[i] == -1
        else:
            assert sn.edge[i] == ref.edge
            assert sn.fraction[i] == pytest.approx(ref.fraction, abs=1e-12)
            assert sn.distance_m[i] == pytest.approx(ref.distance_m, abs=1e-9)
    assert sn.ok.sum() > 100 and (~sn.ok).sum() > 50


@needs_pbf
def test_coverage_on_the_real_shenzhen_network():
    g = build_graphs(PBF, modes=("drive",))["drive"]
    st = _stations(15, (113.97, 22.50, 114.08, 22.59), seed=3, kind="legal_aid")
    res = coverage("440304", "legal_aid", minutes=4, res=9, network=g, stations=st)
    assert res.method == "network" and res.method_cells["network"] > 0.9 * len(res.cells)
    cells = res.cells.sample(40, random_state=0)
    ref = _nx_reference(g, "time", cells["lon"].to_numpy(), cells["lat"].to_numpy(), st["lon"].to_numpy(),
                        st["lat"].to_numpy())
    on = (cells["method"] == "network").to_numpy()
    np.testing.assert_allclose(cells["travel"].to_numpy()[on], ref[on], rtol=1e-9)
    assert 0 < res.covered_share_area < 1
    assert res.to_dict()["label"] == "路网 100 % / road network 100 %"


# --------------------------------------------------------------------------
# Demand
# --------------------------------------------------------------------------


@needs_shared
def test_population_spread_sums_to_county_totals():
    table = read_population_table(POPULATION)
    grid = hex_grid("440300", 8)
    dem = population_demand(grid, POPULATION)
    for code in SHENZHEN_DISTRICTS:
        assert dem.values[grid.district == code].sum() == pytest.approx(table[code], rel=1e-12)
        assert dem.district_population[code] == table[code]
    # The county rows add up to the city's census figure, which is not counted again.
    assert dem.total == pytest.approx(table["440300"], rel=1e-12)
    province = population_demand(hex_grid("440000", 7), table)
    assert province.total == pytest.approx(table["440000"], rel=1e-12)
    assert len(province.district_population) == 124  # incl. 东莞 and 中山, which have no counties


def test_population_table_of_our_own(tmp_path):
    path = tmp_path / "pop.csv"
    rows = ["区划代码,区县,人口数_合计", "440000,广东省,999", "440100,广州市,999", "440106,天河区,1000",
            "440104000000,越秀区,\"2,000\""]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    dem = population_demand(hex_grid("440100", 8), path)
    assert dem.district_population == {"440104": 2000.0, "440106": 1000.0}
    assert dem.total == pytest.approx(3000.0)
    assert any("lacks" in n for n in dem.notes)


@needs_shared
def test_gcj02_demand_points_are_converted(tmp_path):
    gz = pd.read_csv(GZ_EV).head(300)
    # The Amap (GCJ-02) columns alone, under headers that say so.
    path = tmp_path / "points.csv"
    pd.DataFrame({"高德经度": gz["station_lg"], "高德纬度": gz["station_lt"],
                  "weight": gz["station_fast_cnt"]}).to_csv(path, index=False)
    pts, notes = read_demand_points(path)
    d = haversine_m(pts["lon"], pts["lat"], gz["WGS84_station_lg"], gz["WGS84_station_lt"])
    assert d.max() < 1.0 and any("gcj02" in n for n in notes)
    assert (pts["weight"].to_numpy() == gz["station_fast_cnt"].to_numpy()).all()

    sz = pd.read_csv(SZ_EV)
    pts, notes = read_demand_points(SZ_EV, weight_column="charge_count")
    assert any("gcj02" in n for n in notes)  # from the file name
    raw_d = haversine_m(pts["lon"], pts["lat"], sz["longitude"], sz["latitude"])
    assert 100 < np.median(raw_d) < 900  # moved by the GCJ-02 offset
    res = coverage("440300", stations=_stations(20, (113.8, 22.45, 114.5, 22.8)), network=False,
                   demand=DemandSource(points=SZ_EV, weight_column="charge_count"))
    assert res.demand.kind == "points"
    assert res.demand.total + res.demand.dropped == pytest.approx(sz["charge_count"].sum())
    assert res.demand.total > 0.95 * sz["charge_count"].sum()


@pytest.mark.parametrize("query,res", [("440106", 9), ("440000", 7)])
def test_cells_of_points_is_exact(query, res):
    grid = hex_grid(query, res)
    rng = np.random.default_rng(0)
    minx, miny, maxx, maxy = shapely.bounds(grid.region.geometry)
    lon, lat = rng.uniform(minx, maxx, 20000), rng.uniform(miny, maxy, 20000)
    got = cells_of_points(grid, lon, lat)
    inside = set(grid.cells.tolist())
    for i in range(len(lon)):
        c = h3i.latlng_to_cell(lat[i], lon[i], res)
        assert got[i] == (int(np.searchsorted(grid.cells, c)) if c in inside else -1)


def test_raster_demand(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    grid = hex_grid("440106", 8)
    minx, miny, maxx, maxy = shapely.bounds(grid.region.geometry)
    px = 0.004
    w, h = int((maxx - minx) / px) + 4, int((maxy - miny) / px) + 4
    rng = np.random.default_rng(1)
    data = rng.integers(0, 50, (h, w)).astype("float32")
    data[0, 0] = -9999  # nodata
    transform = Affine(px, 0.0, minx - 2 * px, 0.0, -px, maxy + 2 * px)
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32",
                       crs="EPSG:4326", transform=transform, nodata=-9999) as dst:
        dst.write(data, 1)
    res = coverage("440106", stations=_stations(5, (minx, miny, maxx, maxy)), network=False, demand=DemandSource(points=path))
    dem = res.demand
    assert dem.kind == "raster"
    valid = data[data >= 0]
    assert dem.total_in == pytest.approx(valid.sum())
    assert dem.total + dem.dropped == pytest.approx(valid.sum())
    # Brute force: every pixel to its H3 cell (~410 m pixels are finer than res-8 cells: not split).
    assert not any("split" in n for n in dem.notes)
    ref = np.zeros(len(grid.cells))
    index = {c: i for i, c in enumerate(grid.cells.tolist())}
    for r in range(h):
        for c in range(w):
            if data[r, c] <= 0:
                continue
            x, y = transform.c + (c + 0.5) * transform.a, transform.f + (r + 0.5) * transform.e
            k = index.get(h3i.latlng_to_cell(y, x, 8))
            if k is not None:
                ref[k] += data[r, c]
    np.testing.assert_allclose(res.cells["demand"].to_numpy(), ref, rtol=1e-9)


# --------------------------------------------------------------------------
# Gaps, districts, service areas
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def city_result():
    st = _stations(25, (113.75, 22.4, 114.6, 22.85), seed=21)
    table = POPULATION if POPULATION.exists() else None
    return coverage("440300", mode="ebike", minutes=12, stations=st, network=False,
                    demand=DemandSource(population=table))


def test_gaps_are_ranked_by_demand_and_disjoint_from_covered_cells(city_result):
    res = city_result
    cells, gaps = res.cells, res.gaps
    assert not cells.loc[cells["gap"] > 0, "covered"].any()
    assert ((cells["gap"] == 0) == cells["covered"]).all()
    assert list(gaps["gap"]) == list(range(1, len(gaps) + 1))
    assert (np.diff(gaps["demand"].to_numpy()) <= 1e-9).all()
    by_gap = cells[cells["gap"] > 0].groupby("gap")
    np.testing.assert_allclose(by_gap["demand"].sum().to_numpy(), gaps["demand"].to_numpy())
    np.testing.assert_allclose(by_gap["area_km2"].sum().to_numpy(), gaps["area_km2"].to_numpy())
    assert (by_gap.size().to_numpy() == gaps["cells"].to_numpy()).all()
    # Each gap is one connected piece, and no two gaps touch.
    gap_of = dict(zip((h3.str_to_int(c) for c in cells["h3"]), cells["gap"]))
    for rank, grp in by_gap:
        members = {h3.str_to_int(c) for c in grp["h3"]}
        seen, todo = set(), [next(iter(members))]
        while todo:
            c = todo.pop()
            if c in seen:
                continue
            seen.add(c)
            for d in h3i.grid_disk(c, 1):
                if d in members:
                    todo.append(d)
                elif d in gap_of:
                    assert gap_of[d] in (0, rank)
        assert seen == members
    # Gap polygons cover their cells' area (to float precision of the dissolve).
    merged = shapely.union_all(res.cells.geometry[res.cells["gap"] == 1].to_numpy())
    assert gaps.geometry.iloc[0].symmetric_difference(merged).area < 1e-9


def test_district_table(city_result):
    res = city_result
    d = res.districts
    assert list(d["adcode"]) == SHENZHEN_DISTRICTS
    assert d["cells"].sum() == len(res.cells)
    for col in ("covered_share_area", "covered_share_demand"):
        assert ((d[col] >= 0) & (d[col] <= 1)).all()
    where = locate(res.stations["lon"], res.stations["lat"])["adcode"]
    assert d["stations"].sum() == where.isin(SHENZHEN_DISTRICTS).sum()
    c = res.cells
    for row in d.itertuples():
        mine = c[c["district"] == row.adcode]
        w = mine["demand"].to_numpy()
        t = mine["travel"].to_numpy()
        assert row.covered_share_area == pytest.approx(mine.loc[mine["covered"], "area_km2"].sum()
                                                       / mine["area_km2"].sum())
        assert row.travel_mean == pytest.approx((t * w).sum() / w.sum())
        order = np.argsort(t)
        share = np.cumsum(w[order]) / w.sum()
        assert row.travel_p95 == pytest.approx(t[order][np.searchsorted(share, 0.95 - 1e-12)])
        if POPULATION.exists():
            assert row.stations_per_100k == pytest.approx(row.stations / row.population * 1e5)
        if row.largest_gap:
            inside = mine[mine["gap"] == row.largest_gap]
            assert row.largest_gap_km2 == pytest.approx(inside["area_km2"].sum())


def test_service_areas_estimate(city_result):
    res = city_result
    ids = list(res.stations["id"][:3])
    areas = service_areas(res, ids)
    assert list(areas["station_id"]) == ids
    for row in areas.itertuples():
        st = res.stations[res.stations["id"] == row.station_id].iloc[0]
        t = haversine_m(res.cells["lon"], res.cells["lat"], st["lon"], st["lat"]) * estimate_factor(res.standard)
        within = t <= res.standard.threshold
        assert row.cells == within.sum()
        assert row.area_km2 == pytest.approx(res.cells.loc[within, "area_km2"].sum())
    with pytest.raises(ValueError):
        service_areas(res, ["nope"])


def test_service_areas_network_match_single_station_runs():
    g = synthetic_graph(10000, "ebike", seed=4, center=(114.06, 22.55))
    st = _stations(8, (114.02, 22.52, 114.10, 22.58), seed=2)
    res = coverage("440304", minutes=6, res=9, stations=st, network=g)
    areas = service_areas(res, list(st["id"][:3]))
    for k, row in enumerate(areas.itertuples()):
        alone = nearest_network(g, res.cells["lon"].to_numpy(), res.cells["lat"].to_numpy(),
                                st["lon"].to_numpy()[[k]], st["lat"].to_numpy()[[k]], res.standard)
        assert row.cells == int((alone.value <= 6).sum())
    # Every covered cell lies in the service area of its nearest station.
    all_areas = service_areas(res)
    union = shapely.union_all(all_areas.geometry.to_numpy())
    covered = res.cells[res.cells["covered"]]
    assert shapely.covers(union.buffer(1e-9), shapely.points(covered["lon"], covered["lat"])).all()


# --------------------------------------------------------------------------
# Exports and the report
# --------------------------------------------------------------------------


def test_exports(city_result, tmp_path):
    gaps = json.loads(write_layer(city_result, "gaps", tmp_path / "g.geojson").read_text(encoding="utf-8"))
    assert gaps["type"] == "FeatureCollection" and gaps["standard"]["minutes"] == 12
    assert len(gaps["features"]) == len(city_result.gaps)
    assert gaps["features"][0]["properties"]["gap"] == 1
    cells = tmp_path / "c.geojson"
    write_layer(city_result, "cells", cells)
    doc = json.loads(cells.read_text(encoding="utf-8"), parse_constant=lambda c: pytest.fail(c))
    assert doc["features"][0]["geometry"]["type"] == "Polygon"
    table = pd.read_csv(write_layer(city_result, "districts", tmp_path / "d.csv"), encoding="utf-8-sig",
                        dtype={"adcode": str})
    assert list(table["adcode"]) == SHENZHEN_DISTRICTS and "standard" in table
    districts = json.loads(write_layer(city_result, "districts", tmp_path / "d.geojson").read_text())
    assert districts["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_report_is_self_contained_and_escaped(city_result):
    res = city_result
    evil = "<script>alert('x')</script>"
    res.notes.append(evil)
    try:
        page = render_report(res, title=f"{evil} & co")
    finally:
        res.notes.remove(evil)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "<svg" in page and "<img" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    for name in res.districts["name"]:
        assert name in page
    assert res.standard.describe().split(" / ")[0] in page
    # A big grid is drawn coarser.
    big = render_report(res, max_cells=200)
    assert len(big) < len(page)


def test_region_with_markup_in_its_name_is_escaped():
    real = find_region("440106")
    fake = Region(adcode="440106", name='<b onclick="x">天河</b>', level="district", geometry=real.geometry)
    res = coverage(fake, stations=_stations(3, shapely.bounds(real.geometry)), network=False)
    page = render_report(res)
    assert '<b onclick' not in page and "&lt;b onclick" in page


# --------------------------------------------------------------------------
# The command line contract
# --------------------------------------------------------------------------


def _run(args, env_extra=None):
    return run_cli("coverage", *args, env=env_extra)


def test_cli_estimate_with_sample_registry(tmp_path):
    from geo.registry.store import create_registry

    reg = tmp_path / "r.gpkg"
    store = create_registry(reg, seed=settings.SAMPLE_PATH)
    near = store.load(kinds=["rest_station"], statuses=["open"], region="440106")["id"].iloc[0]
    out = tmp_path / "gaps.geojson"
    report = tmp_path / "report.html"
    args = ["--region", "440106", "--res", "9", "--registry", str(reg), "--out", str(out), "--report",
            str(report), "--cells-out", str(tmp_path / "cells.csv"), "--districts-out", str(tmp_path / "d.csv"),
            "--service-area", near, "--service-areas-out", str(tmp_path / "sa.geojson"), "--json"]
    if POPULATION.exists():
        args += ["--population", str(POPULATION)]
    p = _run(args, {"GEO_NETWORK_DIR": str(tmp_path / "no-network")})
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    for key in ("region", "standard", "cells", "covered_share_area", "covered_share_demand", "districts",
                "gaps", "method"):
        assert key in doc
    assert doc["region"]["adcode"] == "440106" and doc["method"] == "estimate"
    assert doc["standard"]["mode"] == "ebike" and doc["standard"]["minutes"] == 15
    assert 0 <= doc["covered_share_area"] <= 1 and 0 <= doc["covered_share_demand"] <= 1
    assert doc["cells"] == len(hex_grid("440106", 9))
    assert [d["adcode"] for d in doc["districts"]] == ["440106"]
    assert doc["notice"] == settings.SAMPLE_LABEL
    assert json.loads(out.read_text(encoding="utf-8"))["type"] == "FeatureCollection"
    assert "<svg" in report.read_text(encoding="utf-8")
    assert len(pd.read_csv(tmp_path / "cells.csv", encoding="utf-8-sig")) == doc["cells"]
    sa = json.loads((tmp_path / "sa.geojson").read_text(encoding="utf-8"))
    assert sa["features"][0]["properties"]["station_id"] == near
    assert set(doc["outputs"]) == {"gaps", "cells", "districts", "report", "service_areas"}
    demands = [g["demand"] for g in doc["gaps"]]
    assert demands == sorted(demands, reverse=True)


def test_cli_network_with_added_stations(tmp_path):
    from geo.registry.store import create_registry
    from geo.routing.synthetic import build_synthetic

    reg = create_registry(tmp_path / "r.gpkg")
    for i, (lon, lat) in enumerate([(113.33, 23.13), (113.36, 23.14), (113.30, 23.12)]):
        reg.add({"name": f"测试驿站{i}", "kind": "rest_station", "lon": lon, "lat": lat, "status": "open"})
    reg.add({"name": "已关闭驿站", "kind": "rest_station", "lon": 113.34, "lat": 23.16, "status": "closed"})
    net = tmp_path / "net"
    build_synthetic(net, 6400, modes=("walk",), seed=1, center=DEFAULT_CENTER)
    p = _run(["--region", "天河区", "--kind", "rest_station", "--mode", "walk", "--meters", "1000", "--res", "9",
              "--network", str(net), "--registry", str(tmp_path / "r.gpkg"), "--json"])
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["method"] == "network" and doc["standard"]["meters"] == 1000 and doc["standard"]["mode"] == "walk"
    assert doc["stations"] == 3 and doc["method_cells"]["network"] > 0
    assert 0 < doc["covered_share_area"] < 1
    assert doc["gaps"] and doc["gaps"][0]["gap"] == 1


def test_cli_errors(tmp_path):
    p = _run(["--region", "999999", "--json", "--network", "none"])
    assert p.returncode == 2 and "region" in p.stderr
    p = _run(["--region", "440106", "--registry", str(tmp_path / "missing.gpkg"), "--json"])
    assert p.returncode == 2 and not (tmp_path / "missing.gpkg").exists()
    p = _run(["--region", "440106", "--minutes", "5", "--meters", "100"])
    assert p.returncode == 2
