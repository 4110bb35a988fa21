"""Road graphs: OSM rules per travel mode, geometry and names, the on-disk cache, synthetic cities."""
from pathlib import Path

import numpy as np
import osmium
import pytest

from geo import settings
from geo.core.crs import haversine_m
from geo.routing.build import build_graphs, graph_from_ways
from geo.routing.network import MODES, load_graph
from geo.routing.osm import default_extract_path, extract_url, read_osm_ways
from geo.routing.rules import HIGHWAY_CLASSES, way_rule
from geo.routing.synthetic import build_synthetic, synthetic_graph, synthetic_ways
from conftest import SHARED

PBF = SHARED / "shenzhen_futian_nanshan_roads.osm.pbf"
needs_pbf = pytest.mark.skipif(not PBF.exists(), reason="shared Shenzhen roads extract not present")


@pytest.fixture(scope="module")
def sz(tmp_path_factory):
    out = tmp_path_factory.mktemp("sznet")
    graphs = build_graphs(PBF, out)
    return out, graphs


@pytest.fixture(scope="module")
def osm_tags():
    """Tags of every way, read straight from the file with pyosmium (independent of geo.routing.network)."""
    tags = {}
    for way in osmium.FileProcessor(str(PBF), osmium.osm.WAY):
        tags[way.id] = dict(way.tags)
    return tags


# -- rules ------------------------------------------------------------------


@pytest.mark.parametrize("tags, mode, expected", [
    ({"highway": "residential"}, "drive", (True, True)),
    ({"highway": "residential", "oneway": "yes"}, "drive", (True, False)),
    ({"highway": "residential", "oneway": "1"}, "truck", (True, False)),
    ({"highway": "residential", "oneway": "true"}, "ebike", (True, False)),
    ({"highway": "residential", "oneway": "-1"}, "drive", (False, True)),
    ({"highway": "residential", "oneway": "reversible"}, "drive", None),
    ({"highway": "residential", "oneway": "reversible"}, "walk", (True, True)),
    ({"highway": "residential", "oneway": "yes"}, "walk", (True, True)),
    ({"highway": "motorway"}, "drive", (True, False)),           # implied one-way
    ({"highway": "motorway", "oneway": "no"}, "drive", (True, True)),
    ({"highway": "primary", "junction": "roundabout"}, "drive", (True, False)),
    ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, "ebike", (True, True)),
    ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, "drive", (True, False)),
    ({"highway": "motorway"}, "ebike", None),
    ({"highway": "motorway_link"}, "walk", None),
    ({"highway": "trunk", "motorroad": "yes"}, "ebike", None),
    ({"highway": "trunk_link", "expressway": "yes"}, "ebike", None),
    ({"highway": "primary", "motorroad": "yes"}, "walk", None),
    ({"highway": "trunk", "motorroad": "yes"}, "drive", (True, True)),
    ({"highway": "trunk"}, "ebike", (True, True)),
    ({"highway": "service", "access": "private"}, "drive", None),
    ({"highway": "service", "access": "no", "foot": "yes"}, "walk", (True, True)),
    ({"highway": "primary", "hgv": "no"}, "truck", None),
    ({"highway": "primary", "hgv": "no"}, "drive", (True, True)),
    ({"highway": "primary", "motor_vehicle": "no"}, "drive", None),
    ({"highway": "primary", "motor_vehicle": "no"}, "ebike", (True, True)),
    ({"highway": "primary", "motorcar": "no"}, "drive", None),
    ({"highway": "primary", "bicycle": "no"}, "ebike", None),
    ({"highway": "primary", "foot": "no"}, "walk", None),
    ({"highway": "footway"}, "drive", None),
    ({"highway": "footway"}, "walk", (True, True)),
    ({"highway": "construction"}, "walk", None),
])
def test_way_rules(tags, mode, expected):
    rule = way_rule(tags, mode)
    assert (rule if rule is None else rule[:2]) == expected


def test_speeds_follow_the_table_and_legal_caps():
    assert way_rule({"highway": "primary"}, "drive")[2] == settings.ROUTING_SPEEDS_KMH["drive"]["primary"]
    # maxspeed is used for vehicles (at the OSRM share), but never above the mode's legal maximum
    assert way_rule({"highway": "primary", "maxspeed": "60"}, "drive")[2] == pytest.approx(48.0)
    assert way_rule({"highway": "motorway", "maxspeed": "120"}, "truck")[2] <= 100.0
    assert way_rule({"highway": "primary", "maxspeed": "60"}, "ebike")[2] <= 15.0  # 道路交通安全法 art. 58
    assert all(v <= 25 for v in settings.ROUTING_SPEEDS_KMH["ebike"].values())  # GB 17761-2018
    for mode in MODES:
        assert set(settings.ROUTING_SPEEDS_KMH[mode]) <= set(HIGHWAY_CLASSES)


# -- the Shenzhen extract ---------------------------------------------------


@needs_pbf
def test_reads_real_osm_ways():
    ways = read_osm_ways(PBF)
    assert 5000 <= len(ways) <= 5344
    assert len(ways.refs) > 38_000
    assert 113.9 < ways.lon.min() and ways.lon.max() < 114.2 and 22.4 < ways.lat.min() < ways.lat.max() < 22.7
    assert any(t.get("name") == "深南大道" for t in ways.tags)


@needs_pbf
def test_build_writes_a_cache_per_mode_that_loads_back(sz):
    out, graphs = sz
    assert set(graphs) == set(MODES)
    assert (out / "meta.json").exists()
    for mode in MODES:
        assert (out / f"{mode}.npz").exists()
        g = load_graph(out, mode)
        assert g.mode == mode and g.n_nodes == graphs[mode].n_nodes
        for name in ("edge_u", "edge_v", "edge_len_m", "geom_x", "csr_indices", "grid_seg"):
            np.testing.assert_array_equal(getattr(g, name), getattr(graphs[mode], name))
        assert g.names == graphs[mode].names
        assert load_graph(out, mode) is g  # cached in memory until the file changes
    drive = graphs["drive"].summary()
    assert drive["nodes"] > 5000 and drive["edges"] > 8000 and 1000 < drive["km"] < 1500


@needs_pbf
def test_missing_mode_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="network build"):
        load_graph(tmp_path, "walk")


@needs_pbf
def test_ebike_and_walk_graphs_have_no_expressways(sz, osm_tags):
    _, graphs = sz
    def expressway(t):
        return (t.get("highway") in ("motorway", "motorway_link") or t.get("motorroad") == "yes"
                or (t.get("highway") in ("trunk", "trunk_link") and t.get("expressway") == "yes"))
    banned = {w for w, t in osm_tags.items() if expressway(t)}
    assert len(banned) > 100  # the extract has plenty of them, so the check means something
    for mode in ("ebike", "walk"):
        g = graphs[mode]
        assert not banned & set(g.edge_way.tolist())
        classes = {HIGHWAY_CLASSES[c] for c in np.unique(g.edge_class)}
        assert not classes & {"motorway", "motorway_link"}
    assert banned & set(graphs["drive"].edge_way.tolist())


@needs_pbf
def test_oneway_tags_become_edge_directions(sz, osm_tags):
    _, graphs = sz
    for mode in ("drive", "truck", "ebike"):
        g = graphs[mode]
        for e in range(g.n_edges):
            t = osm_tags[int(g.edge_way[e])]
            ow = t.get("oneway")
            if ow == "yes" and "oneway:bicycle" not in t:
                assert (g.edge_fwd[e], g.edge_bwd[e]) == (True, False)
            elif ow == "-1":
                assert (g.edge_fwd[e], g.edge_bwd[e]) == (False, True)
            elif ow == "no":
                assert g.edge_fwd[e] and g.edge_bwd[e]
    walk = graphs["walk"]
    oneway_ways = {w for w, t in osm_tags.items() if t.get("oneway") in ("yes", "-1")}
    assert oneway_ways & set(walk.edge_way.tolist())
    assert walk.edge_fwd.all() and walk.edge_bwd.all()  # walking ignores one-way streets
    arcs = int(walk.csr_indptr[-1]) - 2
    assert arcs > 1.9 * walk.n_edges


@needs_pbf
def test_geometry_and_names_are_kept(sz):
    _, graphs = sz
    g = graphs["drive"]
    lengths = np.diff(g.geom_ptr)
    assert lengths.min() >= 2 and lengths.max() > 10  # shape points between intersections
    for e in np.random.default_rng(0).choice(g.n_edges, 300, replace=False):
        xy = g.edge_coords(e)
        assert xy[0] == pytest.approx([g.node_lon[g.edge_u[e]], g.node_lat[g.edge_u[e]]], abs=1e-7)
        assert xy[-1] == pytest.approx([g.node_lon[g.edge_v[e]], g.node_lat[g.edge_v[e]]], abs=1e-7)
        seg = haversine_m(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]).sum()
        assert seg == pytest.approx(g.edge_len_m[e], rel=1e-5, abs=0.05)
        assert g.geom_cum[g.geom_ptr[e + 1] - 1] == pytest.approx(g.edge_len_m[e], rel=1e-5, abs=0.05)
    names = {g.names[i] for i in g.edge_name}
    refs = {g.names[i] for i in g.edge_ref}
    assert {"深南大道", "彩田路"} <= names
    assert any(r for r in refs)
    # travel time = length / a speed of the table (or of maxspeed), never faster than the legal cap
    speed = g.edge_len_m[g.edge_dur_s > 0] / g.edge_dur_s[g.edge_dur_s > 0] * 3.6
    assert speed.max() <= settings.ROUTING_MAX_SPEED_KMH["drive"] + 1e-6
    ebike = graphs["ebike"]
    s = ebike.edge_len_m[ebike.edge_dur_s > 0] / ebike.edge_dur_s[ebike.edge_dur_s > 0] * 3.6
    assert s.max() <= 15.0 + 1e-6


@needs_pbf
def test_csr_arcs_are_the_cheapest_allowed_edges(sz):
    _, graphs = sz
    g = graphs["drive"]
    n = g.n_nodes
    best = {}
    for e in range(g.n_edges):
        u, v = int(g.edge_u[e]), int(g.edge_v[e])
        for a, b, ok in ((u, v, g.edge_fwd[e]), (v, u, g.edge_bwd[e])):
            if ok and a != b:
                best[(a, b)] = min(best.get((a, b), np.inf), g.edge_dur_s[e])
    assert g.csr_indptr[-1] - 2 == len(best)
    for a in range(0, n, 7):
        for j in range(g.csr_indptr[a], g.csr_indptr[a + 1]):
            assert g.csr_time[j] == pytest.approx(best[(a, int(g.csr_indices[j]))])


@needs_pbf
def test_pbf_build_is_fast(tmp_path):
    import time
    t = time.perf_counter()
    build_graphs(PBF, tmp_path, modes=MODES)
    assert time.perf_counter() - t < 15.0


# -- synthetic cities --------------------------------------------------------


def test_synthetic_city_is_realistic_and_in_guangdong():
    ways = synthetic_ways(2500, seed=3)
    g = graph_from_ways(ways, "drive")
    assert 2300 <= g.n_nodes <= 2600
    assert 109.5 < g.node_lon.min() and g.node_lon.max() < 117.5 and 20.1 < g.node_lat.min() < g.node_lat.max() < 25.6
    classes = {HIGHWAY_CLASSES[c] for c in np.unique(g.edge_class)}
    assert {"primary", "secondary", "tertiary", "residential", "motorway", "trunk"} <= classes
    assert (g.edge_fwd & ~g.edge_bwd).any() and (~g.edge_fwd & g.edge_bwd).any()  # one-way streets
    assert (np.diff(g.geom_ptr) > 2).any()  # bent links keep their shape point
    assert np.bincount(np.concatenate([g.edge_u, g.edge_v]), minlength=g.n_nodes).min() >= 1
    assert g.edge_snappable.mean() > 0.95
    ebike = graph_from_ways(ways, "ebike")
    ebike_classes = {HIGHWAY_CLASSES[c] for c in np.unique(ebike.edge_class)}
    assert "motorway" not in ebike_classes
    # the expressway row (trunk + motorroad=yes) is closed to e-bikes, open to cars
    assert any(t.get("motorroad") == "yes" for t in ways.tags)
    assert ebike.n_edges < g.n_edges
    # same seed, same city
    again = synthetic_graph(2500, "drive", seed=3)
    np.testing.assert_array_equal(again.edge_len_m, g.edge_len_m)


def test_synthetic_graph_round_trips_through_the_cache(tmp_path):
    graphs = build_synthetic(tmp_path, 900, modes=("walk", "drive"), seed=1)
    for mode, g in graphs.items():
        back = load_graph(tmp_path, mode)
        np.testing.assert_array_equal(back.csr_time, g.csr_time)
        assert back.meta["synthetic"] is True


# -- download ----------------------------------------------------------------


def test_extract_url_and_cli_arguments():
    assert extract_url("guangdong") == "https://download.geofabrik.de/asia/china/guangdong-latest.osm.pbf"
    assert extract_url(" Guangdong ") == extract_url("guangdong")
    with pytest.raises(ValueError, match="unknown extract"):
        extract_url("atlantis")
    assert default_extract_path("guangdong") == settings.network_dir() / "guangdong-latest.osm.pbf"
    from geo.cli.main import build_parser

    args = build_parser().parse_args(["network", "download", "guangdong", "--out", "x.pbf"])
    assert args.region == "guangdong" and args.out == "x.pbf"
    args = build_parser().parse_args(["network", "build", "a.osm.pbf", "--out", "net", "--modes", "walk", "ebike"])
    assert args.pbf == "a.osm.pbf" and args.out == "net" and args.modes == ["walk", "ebike"]
