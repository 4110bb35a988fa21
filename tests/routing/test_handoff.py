"""Navigation hand-off links: each app gets the station in its own datum, to the metre."""
from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pytest

from geo.routing import handoff
from geo.core.crs import bd09_to_wgs84, gcj02_to_wgs84, haversine_m

# 福田区 stations of the bundled sample, and an origin in Futian (WGS-84).
STATION = (114.052635, 22.553093)
ORIGIN = (114.0579, 22.5431)
NAME = "福田区红荔路广场暖蜂驿站"


def _query(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(haversine_m(a[0], a[1], b[0], b[1]))


# --------------------------------------------------------------------------
# Amap: GCJ-02, lon,lat,name
# --------------------------------------------------------------------------

def test_amap_destination_is_gcj02_of_the_station():
    url = handoff.amap_url(*STATION, NAME, mode="ebike")
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "uri.amap.com" and parts.path == "/navigation"
    q = _query(url)
    lon, lat, name = q["to"].split(",")
    assert name == NAME
    back = gcj02_to_wgs84(float(lon), float(lat))
    assert _distance(back, STATION) < 1.0
    # The conversion really happened: GCJ-02 is hundreds of metres off in Shenzhen.
    assert _distance((float(lon), float(lat)), STATION) > 100
    assert q["mode"] == "ride" and q["coordinate"] == "gaode" and q["callnative"] == "1"
    assert q["src"] == handoff.SOURCE
    assert "from" not in q


def test_amap_origin_and_modes():
    q = _query(handoff.amap_url(*STATION, NAME, mode="truck", origin=ORIGIN))
    lon, lat, label = q["from"].split(",")
    assert _distance(gcj02_to_wgs84(float(lon), float(lat)), ORIGIN) < 1.0
    assert label == "我的位置"
    assert q["mode"] == "car"
    assert {m: _query(handoff.amap_url(*STATION, NAME, mode=m))["mode"] for m in handoff.AMAP_MODES} == \
        {"walk": "walk", "ebike": "ride", "drive": "car", "truck": "car"}


# --------------------------------------------------------------------------
# Baidu: BD-09, latlng:LAT,LNG|name:NAME
# --------------------------------------------------------------------------

def test_baidu_destination_is_bd09_of_the_station():
    url = handoff.baidu_url(*STATION, NAME, mode="walk", origin=ORIGIN)
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "api.map.baidu.com" and parts.path == "/direction"
    q = _query(url)
    assert q["coord_type"] == "bd09ll" and q["output"] == "html" and q["src"] == handoff.SOURCE
    assert q["mode"] == "walking"
    dest, name = q["destination"].split("|")
    assert dest.startswith("latlng:") and name == f"name:{NAME}"
    lat, lon = (float(v) for v in dest[len("latlng:"):].split(","))
    assert _distance(bd09_to_wgs84(lon, lat), STATION) < 1.0
    assert _distance((lon, lat), STATION) > 100
    origin = q["origin"].split("|")[0][len("latlng:"):]
    olat, olon = (float(v) for v in origin.split(","))
    assert _distance(bd09_to_wgs84(olon, olat), ORIGIN) < 1.0


def test_baidu_modes_and_region():
    modes = {m: _query(handoff.baidu_url(*STATION, NAME, mode=m))["mode"] for m in handoff.BAIDU_MODES}
    assert modes == {"walk": "walking", "ebike": "riding", "drive": "driving", "truck": "driving"}
    assert _query(handoff.baidu_url(*STATION, NAME, region="深圳市"))["region"] == "深圳市"
    assert "origin" not in _query(handoff.baidu_url(*STATION, NAME))


# --------------------------------------------------------------------------
# Apple: GCJ-02 in mainland China, daddr=LAT,LON
# --------------------------------------------------------------------------

def test_apple_destination_is_gcj02_lat_first():
    url = handoff.apple_url(*STATION, NAME, mode="drive", origin=ORIGIN)
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "maps.apple.com"
    q = _query(url)
    lat, lon = (float(v) for v in q["daddr"].split(","))
    assert _distance(gcj02_to_wgs84(lon, lat), STATION) < 1.0
    assert _distance((lon, lat), STATION) > 100
    slat, slon = (float(v) for v in q["saddr"].split(","))
    assert _distance(gcj02_to_wgs84(slon, slat), ORIGIN) < 1.0
    assert q["dirflg"] == "d" and q["q"] == NAME
    assert {m: _query(handoff.apple_url(*STATION, NAME, mode=m))["dirflg"] for m in handoff.APPLE_MODES} == \
        {"walk": "w", "ebike": "w", "drive": "d", "truck": "d"}


# --------------------------------------------------------------------------
# Names and bad input
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["A,B|C:D", "站 & <script>alert(1)</script>", "  多  空格  ", "50%/#?="])
def test_names_are_encoded_and_cannot_shift_coordinates(name):
    urls = handoff.handoff_urls(*STATION, name, "walk", ORIGIN)
    for url in urls.values():
        # Nothing that could end the parameter or the attribute is left raw.
        raw_query = urlsplit(url).query
        for ch in ' <>"#':
            assert ch not in raw_query, (ch, url)
    lon, lat, label = _query(urls["amap"])["to"].split(",")
    assert _distance(gcj02_to_wgs84(float(lon), float(lat)), STATION) < 1.0
    assert "," not in label
    dest = _query(urls["baidu"])["destination"]
    assert dest.count("|") == 1 and dest.split("|")[1].count(":") == 1
    expected = " ".join(name.split()).replace(",", "，").replace("|", "｜").replace(":", "：")
    assert label == expected and _query(urls["apple"])["q"] == expected


def test_empty_name_gets_a_label():
    assert _query(handoff.amap_url(*STATION, ""))["to"].endswith(",终点")


def test_bad_input_raises():
    with pytest.raises(ValueError):
        handoff.amap_url(*STATION, NAME, mode="bicycle")
    with pytest.raises(ValueError):
        handoff.baidu_url(math.nan, 22.5, NAME)
    with pytest.raises(ValueError):
        handoff.apple_url(114.0, math.inf, NAME)


def test_handoff_urls_has_the_three_apps():
    urls = handoff.handoff_urls(*STATION, NAME)
    assert {k: urlsplit(v).netloc for k, v in urls.items()} == {
        "amap": "uri.amap.com", "baidu": "api.map.baidu.com", "apple": "maps.apple.com"}
    labelled = handoff.handoff_urls(*STATION, NAME, origin=ORIGIN, origin_name="南山区 · 深圳市")
    assert _query(labelled["amap"])["from"].endswith(",南山区 · 深圳市")
    assert _query(labelled["baidu"])["origin"].endswith("|name:南山区 · 深圳市")
    assert "saddr" in _query(labelled["apple"])
