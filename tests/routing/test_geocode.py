"""Offline place search and pasted coordinates for the worker finder."""
from __future__ import annotations

import math

import geopandas as gpd
import pandas as pd
import pytest

from geo import settings
from geo.core import regions
from geo.core.crs import bd09_to_wgs84, gcj02_to_wgs84, haversine_m
from geo.routing.geocode import CoordinateError, looks_like_coordinates, parse_coordinates, search_places


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    """The bundled sample registry, as the finder gets it (with lon/lat columns)."""
    gdf = gpd.read_file(settings.SAMPLE_PATH)
    gdf["lon"], gdf["lat"] = gdf.geometry.x, gdf.geometry.y
    return gdf


@pytest.fixture
def few() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["RS-1", "RS-2", "RS-3", "LA-4"],
        "name": ["天河体育中心驿站", "体育西路暖蜂驿站", "南山科技园驿站", "<b>法律</b>服务站"],
        "kind": ["rest_station", "rest_station", "rest_station", "legal_aid"],
        "address": ["广州市天河区体育西路1号", "广州市天河区体育西路9号", None, "深圳市福田区益田路"],
        "lon": [113.3245, 113.3220, 113.9470, math.nan],
        "lat": [23.1375, 23.1330, 22.5400, 22.54],
    })


def _district(hit: dict) -> str:
    return regions.locate(hit["lon"], hit["lat"])["adcode"].iloc[0]


# --------------------------------------------------------------------------
# search_places
# --------------------------------------------------------------------------

def test_result_shape_and_order(few):
    hits = search_places("体育", few)
    assert hits, "partial names must match"
    for h in hits:
        assert {"label", "lon", "lat", "kind", "score"} <= set(h)
        assert h["kind"] in ("station", "district", "city")
        assert 0 < h["score"] <= 1
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_partial_street_name_finds_stations(sample):
    hits = search_places("体育西", sample)
    assert hits and all(h["kind"] == "station" for h in hits)
    assert all("体育西" in h["label"] or "体育西" in h["detail"] for h in hits)
    # They are in Tianhe, Guangzhou, where 体育西路 is.
    assert all(_district(h) == "440106" for h in hits)


@pytest.mark.parametrize("query, adcode", [
    ("南山区", "440305"), ("南山", "440305"), ("天河", "440106"), ("天河区", "440106"),
    ("福田区", "440304"), ("深圳南山", "440305"), ("深圳市南山区", "440305"), ("440305", "440305"),
    ("南山 区", "440305"), ("天和区", "440106"),  # a space; one wrong character
])
def test_district_first_with_a_point_inside_it(sample, query, adcode):
    hit = search_places(query, sample)[0]
    assert hit["kind"] == "district" and hit["adcode"] == adcode
    assert _district(hit) == adcode, "a district's point must lie inside it"
    assert "·" in hit["label"], "a district's label names its city"


@pytest.mark.parametrize("query, city", [("深圳", "深圳市"), ("深圳市", "深圳市"), ("Shenzhen", "深圳市"),
                                         ("广州", "广州市"), ("东莞", "东莞市")])
def test_city_first_with_a_point_inside_it(sample, query, city):
    hit = search_places(query, sample)[0]
    assert hit["kind"] == "city" and hit["label"] == city
    assert regions.locate(hit["lon"], hit["lat"])["city"].iloc[0] == city


def test_exact_station_name_beats_partial(few):
    hits = search_places("体育西路暖蜂驿站", few)
    assert hits[0]["label"] == "体育西路暖蜂驿站" and hits[0]["id"] == "RS-2"
    assert hits[0]["station_kind"] == "rest_station"


def test_address_hits_rank_below_name_hits(few):
    hits = [h for h in search_places("体育西", few) if h["kind"] == "station"]
    assert [h["id"] for h in hits] == ["RS-2", "RS-1"]  # RS-1 only has it in its address


def test_full_width_and_case_folding(few):
    assert search_places("天河体育中心驿站", few)[0]["id"] == "RS-1"
    assert search_places("ＳＨＥＮＺＨＥＮ", few)[0]["label"] == "深圳市"


def test_rows_without_coordinates_are_skipped(few):
    assert all(h.get("id") != "LA-4" for h in search_places("法律", few))


def test_text_is_returned_as_stored(few):
    few.loc[3, "lon"] = 114.05
    hit = next(h for h in search_places("法律", few) if h["kind"] == "station")
    assert hit["label"] == "<b>法律</b>服务站"  # the caller escapes


def test_no_match_empty_and_limit(sample):
    assert search_places("", sample) == []
    assert search_places("   ", sample) == []
    assert search_places("zzzz-not-a-place", sample) == []
    assert len(search_places("驿站", sample, limit=3)) == 3
    assert search_places("驿站", sample, limit=0) == []


def test_works_without_stations_or_columns():
    assert search_places("南山区")[0]["adcode"] == "440305"
    bare = gpd.GeoDataFrame({"name": ["测试驿站"]}, geometry=gpd.points_from_xy([113.3], [23.1]), crs="EPSG:4326")
    hit = search_places("测试驿站", bare)[0]
    assert (hit["lon"], hit["lat"]) == (113.3, 23.1) and hit["detail"] == ""


def test_duplicates_collapse(few):
    twice = pd.concat([few, few], ignore_index=True)
    labels = [h["label"] for h in search_places("体育西路暖蜂驿站", twice)]
    assert labels.count("体育西路暖蜂驿站") == 1


# --------------------------------------------------------------------------
# parse_coordinates
# --------------------------------------------------------------------------

AMAP_TEXT = "113.26,23.13"


@pytest.mark.parametrize("text", ["113.26,23.13", "113.26, 23.13", "113.26，23.13", "113.26 23.13",
                                  "113.26;23.13", "１１３．２６，２３．１３", "lng: 113.26 lat: 23.13",
                                  "(113.26, 23.13)"])
def test_separators_and_full_width(text):
    p = parse_coordinates(text, "wgs84")
    assert (p.lon, p.lat, p.swapped) == (113.26, 23.13, False)
    assert looks_like_coordinates(text)


def test_swapped_order_is_detected():
    p = parse_coordinates("23.13,113.26", "wgs84")
    assert (p.lon, p.lat, p.swapped) == (113.26, 23.13, True)


def test_gcj02_and_bd09_are_converted():
    p = parse_coordinates(AMAP_TEXT, "gcj02")
    expect = gcj02_to_wgs84(113.26, 23.13)
    assert p.crs == "gcj02" and haversine_m(p.lon, p.lat, *expect) < 0.01
    # An Amap copy is ~500 m from the same numbers read as GPS.
    assert 300 < haversine_m(p.lon, p.lat, 113.26, 23.13) < 900
    b = parse_coordinates(AMAP_TEXT, "百度")
    assert b.crs == "bd09" and haversine_m(b.lon, b.lat, *bd09_to_wgs84(113.26, 23.13)) < 0.01
    assert parse_coordinates(AMAP_TEXT, "gps").crs == "wgs84"


@pytest.mark.parametrize("text", ["", "113.26", "113.26,23.13,5", "abc", "10,20", "200,100"])
def test_bad_text_raises_bilingual(text):
    with pytest.raises(CoordinateError) as info:
        parse_coordinates(text)
    assert info.value.zh and info.value.en


def test_unknown_crs_raises():
    with pytest.raises(ValueError):
        parse_coordinates(AMAP_TEXT, "not-a-crs")


@pytest.mark.parametrize("text", ["南山区", "体育西路 3 号", "113.26", "1 2 3", "深圳 113.26,23.13"])
def test_looks_like_coordinates_false(text):
    assert not looks_like_coordinates(text)
