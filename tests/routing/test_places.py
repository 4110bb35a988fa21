"""Offline place search: the index built from OSM, matching by Chinese, pinyin and English, ranking, merging.

Two inputs:

* the shared **Shenzhen extract** (real OSM data). It holds drivable roads
  only (and their few tagged nodes: two bus stops, crossings, junctions), so
  the real-data tests search its streets, its bus stop and the districts.
* a small **written OSM file** in the shape OSM tags stations, exits,
  landmarks, parks (as a multipolygon relation whose outer way has no tags)
  and villages around Futian, because the extract has none of them: it tests
  what the reader keeps, where it puts ways and relations, and how it merges.
"""
from __future__ import annotations

import math

import osmium
import pandas as pd
import pyarrow.parquet as pq
import pytest
from osmium.osm import mutable

from geo.core.crs import haversine_m
from geo.routing.places import (EXACT, PREFIX, SUBSTRING, load_places, places_path, search, search_keys,
                                station_places)
from geo.routing.places import build_places
from geo.routing.places_osm import classify, fold_name, read_osm_places

from conftest import SHENZHEN_PBF

needs_pbf = pytest.mark.skipif(not SHENZHEN_PBF.exists(), reason="shared Shenzhen roads extract not present")


@pytest.fixture(scope="module")
def shenzhen(tmp_path_factory):
    """The place index of the Shenzhen extract, in a network folder of its own (no graphs needed)."""
    if not SHENZHEN_PBF.exists():
        pytest.skip(f"needs {SHENZHEN_PBF}")
    out = tmp_path_factory.mktemp("sz-places")
    info = build_places(SHENZHEN_PBF, out)
    return out, info


@pytest.fixture(scope="module")
def street_ways():
    """Ways of the extract by name, read straight from the file (independent of the reader under test)."""
    ways: dict[str, int] = {}
    for way in osmium.FileProcessor(str(SHENZHEN_PBF), osmium.osm.WAY):
        if "name" in way.tags and "highway" in way.tags:
            ways[way.tags["name"]] = ways.get(way.tags["name"], 0) + 1
    return ways


# Positions (WGS-84) around Futian, for the written file.
FUTIAN_RAIL = (114.0553, 22.5392)
CONVENTION = (114.0596, 22.5346)
LIANHUASHAN = (114.0560, 22.5560)


def _square(cx: float, cy: float, half: float) -> list[tuple[float, float]]:
    return [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half)]


@pytest.fixture(scope="module")
def futian(tmp_path_factory):
    """A written OSM file of places around Futian and its place index."""
    out = tmp_path_factory.mktemp("futian")
    pbf = out / "futian.osm.pbf"
    nodes = [
        (1, FUTIAN_RAIL, {"railway": "station", "train": "yes", "name": "福田站",
                          "name:en": "Futian Railway Station"}),
        # Its exits and the bus stops outside, tagged with the same name: one place.
        (2, (114.0560, 22.5400), {"highway": "bus_stop", "name": "福田站"}),
        (3, (114.0549, 22.5385), {"highway": "bus_stop", "name": "福田站"}),
        (4, (114.0546, 22.5396), {"public_transport": "station", "name": "福田站", "train": "yes"}),
        # A stop of the same name 3.5 km away is another place.
        (5, (114.0850, 22.5600), {"highway": "bus_stop", "name": "福田站"}),
        (6, (114.0553, 22.5415), {"railway": "station", "station": "subway", "name": "福田", "name:en": "Futian"}),
        (7, (114.0570, 22.5380), {"amenity": "bus_station", "name": "福田站交通枢纽"}),
        (8, (114.0640, 22.5380), {"railway": "station", "station": "subway", "name": "岗厦北",
                                  "name:en": "Gangxia North"}),
        (9, (114.0500, 22.5300), {"railway": "station"}),                          # unnamed: not a place
        (10, (114.0700, 22.5350), {"highway": "motorway_junction", "name": "福田"}),  # not a rider's place
        (11, (114.0610, 22.5330), {"shop": "mall", "name": "COCO Park", "name:zh": "购物公园"}),
        (12, (114.0520, 22.5230), {"place": "village", "name": "水围村"}),
        # Untagged nodes only a relation names (its members).
        (13, (114.0840, 22.5420), {}),
        (14, (114.0860, 22.5440), {}),
    ]
    ways = []
    nid = 100
    # 会展中心: a closed way (building outline); its position is the mean of its corners.
    ring = []
    for x, y in _square(*CONVENTION, 0.001):
        nid += 1
        nodes.append((nid, (x, y), {}))
        ring.append(nid)
    ways.append((201, ring + [ring[0]], {"amenity": "exhibition_centre", "name": "会展中心",
                                         "name:en": "Shenzhen Convention and Exhibition Center"}))
    # 莲花山公园: a multipolygon relation; its outer way has no tags at all.
    ring = []
    for x, y in _square(*LIANHUASHAN, 0.004):
        nid += 1
        nodes.append((nid, (x, y), {}))
        ring.append(nid)
    ways.append((202, ring + [ring[0]], {}))
    # 福中路 in two pieces meeting end to end, and 福中一路 beside it.
    line = []
    for i in range(5):
        nid += 1
        nodes.append((nid, (114.045 + 0.004 * i, 22.5420), {}))
        line.append(nid)
    ways.append((203, line[:3], {"highway": "tertiary", "name": "福中路", "name:en": "Fuzhong Road"}))
    ways.append((204, line[2:], {"highway": "tertiary", "name": "福中路"}))
    ways.append((205, line[1:3], {"highway": "residential", "name": "福中一路"}))
    with osmium.SimpleWriter(str(pbf)) as writer:
        for i, (x, y), tags in sorted(nodes):
            writer.add_node(mutable.Node(id=i, location=(x, y), tags=tags, version=1))
        for i, refs, tags in ways:
            writer.add_way(mutable.Way(id=i, nodes=refs, tags=tags, version=1))
        writer.add_relation(mutable.Relation(id=301, members=[("w", 202, "outer")], version=1,
                                             tags={"type": "multipolygon", "leisure": "park", "name": "莲花山公园",
                                                   "name:en": "Lianhuashan Park"}))
        writer.add_relation(mutable.Relation(id=302, members=[("n", 13, ""), ("n", 14, ""), ("n", 999, "")],
                                             version=1, tags={"type": "site", "tourism": "attraction",
                                                              "name": "华强北商业街"}))
    info = build_places(pbf, out)
    return pbf, out, info


def _names(results: list[dict]) -> list[str]:
    return [r["name"] for r in results]


# -- keys -------------------------------------------------------------------


def test_search_keys_hold_chinese_pinyin_initials_and_english():
    keys = search_keys("福田站", name_en="Futian Railway Station")
    assert keys == ["福田站", "futianzhan", "ftz", "futianrailwaystation"]
    assert search_keys("ＣＯＣＯ Park") == ["cocopark"]
    assert fold_name(" 福田 · 站 ") == "福田站"


@pytest.mark.parametrize("tags, kind", [
    ({"railway": "station", "station": "subway"}, "metro_station"),
    ({"railway": "station", "train": "yes"}, "rail_station"),
    ({"railway": "halt"}, "rail_station"),
    ({"public_transport": "station", "bus": "yes"}, "bus_station"),
    ({"amenity": "bus_station"}, "bus_station"),
    ({"highway": "bus_stop"}, "bus_stop"),
    ({"tourism": "attraction"}, "landmark"),
    ({"historic": "monument"}, "landmark"),
    ({"shop": "mall"}, "mall"),
    ({"leisure": "park"}, "park"),
    ({"landuse": "industrial"}, "industrial"),
    ({"place": "hamlet"}, "village"),
    ({"place": "suburb"}, "neighbourhood"),
    ({"amenity": "hospital"}, "hospital"),
    ({"amenity": "university"}, "university"),
    ({"highway": "residential"}, "road"),
    ({"highway": "motorway"}, None),
    ({"highway": "crossing"}, None),
    ({"amenity": "parking"}, None),
])
def test_classify(tags, kind):
    assert classify(tags) == kind


# -- the written Futian file -----------------------------------------------------


def test_reader_keeps_named_places_and_places_ways_and_relations(futian):
    pbf, _, _ = futian
    raw = read_osm_places(str(pbf))
    by_osm = raw.set_index("osm")
    assert "n9" not in by_osm.index and "n10" not in by_osm.index  # unnamed station, motorway junction
    hall = by_osm.loc["w201"]
    assert hall["kind"] == "landmark" and hall["name_en"] == "Shenzhen Convention and Exhibition Center"
    assert haversine_m(hall["lon"], hall["lat"], *CONVENTION) < 1  # the mean of the four corners
    park = by_osm.loc["r301"]
    assert park["kind"] == "park" and haversine_m(park["lon"], park["lat"], *LIANHUASHAN) < 1
    assert by_osm.loc["n11", "alt_names"] == "购物公园"
    # A relation of nodes sits at their mean; a member missing from the file is left out.
    site = by_osm.loc["r302"]
    assert site["kind"] == "landmark" and haversine_m(site["lon"], site["lat"], 114.0850, 22.5430) < 1
    assert "n13" not in by_osm.index


def test_index_file_lies_beside_the_graphs(futian):
    _, out, info = futian
    path = places_path(directory=out)
    assert path.parent == out and info["path"] == str(path)
    meta = pq.read_schema(path).metadata
    assert meta[b"format"] == b"geo-places" and meta[b"source"] == b"futian.osm.pbf"
    assert info["kinds"]["rail_station"] == 1 and info["kinds"]["metro_station"] == 2


@pytest.mark.parametrize("query", ["福田站", "futianzhan", "FutianZhan", "ftz", "futian railway", "田站"])
def test_futian_station_found_by_chinese_pinyin_initials_and_english(futian, query):
    _, out, _ = futian
    first = search(query, directory=out)[0]
    assert first["name"] == "福田站" and first["kind"] == "rail_station"
    assert first["name_en"] == "Futian Railway Station"
    assert haversine_m(first["lon"], first["lat"], *FUTIAN_RAIL) < 1
    assert first["district"] == "福田区"


@pytest.mark.parametrize("query", ["会展中心", "会展", "huizhanzhongxin", "hzzx", "convention", "EXHIBITION center"])
def test_convention_centre_found(futian, query):
    _, out, _ = futian
    assert search(query, directory=out)[0]["name"] == "会展中心"


def test_exits_and_stops_of_one_station_are_one_result(futian):
    _, out, _ = futian
    hits = [r for r in search("福田站", directory=out, limit=20) if r["name"] == "福田站"]
    # The station, its platform node and two stops beside it merge; the stop 3.5 km away stays.
    assert len(hits) == 2
    assert hits[0]["kind"] == "rail_station" and hits[1]["kind"] == "bus_stop"
    assert haversine_m(hits[1]["lon"], hits[1]["lat"], 114.0850, 22.5600) < 1


def test_ranking_exact_then_prefix_then_substring(futian):
    _, out, _ = futian
    names = _names(search("福田站", directory=out, limit=20))
    # exact (the station, then the far stop: a bus stop weighs less), prefix (the hub), nothing else
    assert names == ["福田站", "福田站", "福田站交通枢纽"]
    names = _names(search("福中", directory=out, limit=20))
    assert names == ["福中路", "福中一路"]  # both prefixes: the shorter name first
    assert _names(search("中路", directory=out)) == ["福中路"]


def test_ranking_kind_weight_puts_stations_and_districts_first(futian):
    _, out, _ = futian
    results = search("futian", directory=out, limit=20)
    # Exact: the metro station 福田, then 福田区 (by its short name). Prefix: the rail station, the
    # bus station (longer name), the far bus stop (a stop weighs least).
    assert [(r["name"], r["kind"]) for r in results] == [
        ("福田", "metro_station"), ("福田区", "district"), ("福田站", "rail_station"),
        ("福田站交通枢纽", "bus_station"), ("福田站", "bus_stop")]
    kinds = [r["kind"] for r in search("福", directory=out, limit=20)]
    assert kinds == ["metro_station", "rail_station", "district", "bus_station", "bus_stop", "road", "road"]


def test_street_pieces_are_one_street(futian):
    _, out, _ = futian
    hits = [r for r in search("福中路", directory=out, limit=20) if r["name"] == "福中路"]
    assert len(hits) == 1 and hits[0]["name_en"] == "Fuzhong Road"


def test_latin_names_any_case(futian):
    _, out, _ = futian
    assert search("coco", directory=out)[0]["name"] == "COCO Park"
    assert search("购物公园", directory=out)[0]["name"] == "COCO Park"
    assert search("gangxia NORTH", directory=out)[0]["name"] == "岗厦北"


def test_matching_classes_of_the_index(futian):
    _, out, _ = futian
    index = load_places(directory=out)
    classes = {index.table.at[e, "name"]: cls for cls, e in index.match("futianzhan")}
    assert classes["福田站"] == EXACT and classes["福田站交通枢纽"] == PREFIX
    assert dict((index.table.at[e, "name"], c) for c, e in index.match("tianzhan"))["福田站"] == SUBSTRING


def _contains(index, query: str) -> set[int]:
    """Entries with a key holding ``query``, by a plain scan: what the suffix array must answer."""
    return {i for i, keys in enumerate(index.table["keys"]) if any(query in k for k in keys.split("\t"))}


def test_match_finds_what_a_scan_finds():
    from random import Random

    from geo.routing.places import PlaceIndex

    names = ["福田站", "福田站交通枢纽", "𠮷野家快餐", "车公庙", "深南大道", "深南大道辅路", "中心八路",
             "Shennan Boulevard", "下灣村 Ha Wan Tsuen", "福中一路", "香蜜湖度假村东门", "车公庙地铁站A出口"]
    table = pd.DataFrame({"name": names, "name_en": None, "kind": "landmark", "lon": 114.05, "lat": 22.54,
                          "district": None, "keys": ["\t".join(search_keys(n)) for n in names]})
    index = PlaceIndex(table)
    rng = Random(7)
    keys = [k for ks in index.table["keys"] for k in ks.split("\t")]
    queries = ["a", "zhan", "𠮷", "𠮷野", "深南大道辅", "nandadaofulu", "chegongmiaoditiezhanachukou", "x", "qq"]
    for _ in range(300):
        key = rng.choice(keys)
        i = rng.randrange(len(key))
        queries.append(key[i:i + rng.randrange(1, 12)])
    for q in queries:
        found = index.match(q)
        assert {e for _, e in found} == _contains(index, q), q
        assert len(found) == len({e for _, e in found})  # each entry once, in its best class


def test_index_is_loaded_once_and_again_after_a_rebuild(futian):
    pbf, out, _ = futian
    first = load_places(directory=out)
    assert load_places(directory=out) is first
    build_places(pbf, out, bus_stops=False)
    again = load_places(directory=out)
    assert again is not first and "bus_stop" not in set(again.table["kind"])
    build_places(pbf, out)
    assert "bus_stop" in set(load_places(directory=out).table["kind"])


def test_no_index_still_finds_districts(tmp_path):
    assert load_places(directory=tmp_path) is None
    assert search("nanshan", directory=tmp_path)[0]["name"] == "南山区"
    assert search("", directory=tmp_path) == [] and search("   ", directory=tmp_path) == []


def test_stations_only_public_and_existing(tmp_path):
    stations = pd.DataFrame({
        "id": ["A", "B", "C", "D"],
        "name": ["会展中心驿站", "内部法律站", "已关闭驿站", "规划驿站"],
        "kind": ["rest_station", "legal_aid", "rest_station", "rest_station"],
        "public": [True, False, True, None],
        "status": ["open", "open", "closed", "planned"],
        "lon": [114.0593, 114.0550, 114.06, 114.06], "lat": [22.5370, 22.5450, 22.54, 22.54],
        "phone": ["0755-1", "13700009999", "", ""],
    })
    index = station_places(stations)
    assert set(index.table["name"]) == {"会展中心驿站"}
    first = search("hzzxyz", stations=stations, directory=tmp_path)[0]
    assert first == {"name": "会展中心驿站", "name_en": None, "kind": "rest_station", "lon": 114.0593,
                     "lat": 22.537, "district": "福田区"}
    assert search("内部", stations=stations, directory=tmp_path) == []
    assert station_places(stations) is index  # the same table: keys are not computed again


# -- the real Shenzhen extract --------------------------------------------------


@needs_pbf
def test_shenzhen_index_holds_its_streets_and_stop(shenzhen, street_ways):
    out, info = shenzhen
    assert info["kinds"]["road"] > 400 and info["kinds"]["bus_stop"] >= 1
    # 深南大道 is many ways in OSM and one place here.
    assert street_ways["深南大道"] > 10
    hits = [r for r in search("深南大道", directory=out, limit=20) if r["name"] == "深南大道"]
    assert len(hits) == 1 and hits[0]["district"] in ("福田区", "南山区")


@needs_pbf
@pytest.mark.parametrize("query, name", [
    ("futian", "福田区"),          # pinyin: the district before its streets
    ("ftq", "福田区"),             # initials
    ("sndd", "深南大道"),           # initials of a street
    ("Shennan Boulevard", "深南大道"),  # name:en
    ("shennan boulevard", "深南大道"),
    ("南大道", "深南大道"),          # Chinese substring
    ("Ha Wan", "下灣村 Ha Wan Tsuen"),  # the extract's named bus stop (Latin words inside its name)
])
def test_shenzhen_queries(shenzhen, query, name):
    out, _ = shenzhen
    assert search(query, directory=out)[0]["name"] == name


@needs_pbf
def test_shenzhen_futian_finds_its_streets_after_the_district(shenzhen):
    out, _ = shenzhen
    results = search("futian", directory=out)
    assert results[0]["kind"] == "district"
    streets = [r for r in results if r["kind"] == "road"]
    assert "福田路" in [r["name"] for r in streets]
    # Every street found holds "futian" in its pinyin or its English name (福保一号隧道: Futian Bonded ...).
    assert all(any("futian" in k for k in search_keys(r["name"], name_en=r["name_en"])) for r in streets)
    assert all(math.isfinite(r["lon"]) and 113.9 < r["lon"] < 114.2 for r in results[1:])


@needs_pbf
def test_shenzhen_extract_has_no_station_or_landmark_features(shenzhen):
    """The extract is roads only: 福田站 and 会展中心 are not in it (a fuller extract is needed for them)."""
    out, _ = shenzhen
    names = set(load_places(directory=out).table["name"])
    assert "福田站" not in names and "会展中心" not in names
    assert [r["kind"] for r in search("会展中心", directory=out)] == []


# -- the old finder's search (geo.routing.geocode) uses the index ---------------


def test_geocode_search_places_finds_index_places_and_pinyin_regions(futian, monkeypatch):
    from geo.routing.geocode import search_places

    _, out, _ = futian
    monkeypatch.setenv("GEO_NETWORK_DIR", str(out))
    first = search_places("会展中心")[0]
    assert (first["label"], first["kind"], first["place_kind"]) == ("会展中心", "place", "landmark")
    assert first["detail"] == "Shenzhen Convention and Exhibition Center"
    region = search_places("nanshan")[0]
    assert (region["label"], region["kind"], region["adcode"]) == ("南山区 · 深圳市", "district", "440305")
    # A region named in Chinese is found once, not again through its pinyin.
    assert [h["label"] for h in search_places("南山区", limit=20)].count("南山区 · 深圳市") == 1
    monkeypatch.setenv("GEO_NETWORK_DIR", str(out / "none"))
    assert all(h["kind"] != "place" for h in search_places("会展中心"))


# -- the command line -------------------------------------------------------------


@needs_pbf
def test_network_build_writes_the_place_index_beside_the_graphs(tmp_path, capsys):
    from geo.cli.main import build_parser

    net = tmp_path / "net"
    args = build_parser().parse_args(["network", "build", str(SHENZHEN_PBF), "--out", str(net), "--modes", "walk"])
    assert args.func(args) == 0
    assert (net / "walk.npz").exists() and places_path(directory=net).exists()
    assert "556 places from 2346 OSM features" in capsys.readouterr().err
    assert search("sndd", directory=net)[0]["name"] == "深南大道"
    args = build_parser().parse_args(["network", "build", "x.osm.pbf", "--out", "n", "--no-places"])
    assert args.no_places
    args = build_parser().parse_args(["network", "places", str(SHENZHEN_PBF), "--out", str(tmp_path / "alone")])
    assert args.func(args) == 0 and places_path(directory=tmp_path / "alone").exists()


def test_an_unusable_index_is_left_out(tmp_path, caplog):
    bad = places_path(directory=tmp_path)
    pd.DataFrame({"name": ["福田站"]}).to_parquet(bad)  # a Parquet file, but not a place index
    assert search("nanshan", directory=tmp_path)[0]["name"] == "南山区"
    assert "not a place index" in caplog.text and "nanshan" not in caplog.text
    bad.write_bytes(b"PAR1 not really")
    assert search("nanshan", directory=tmp_path)[0]["name"] == "南山区"
