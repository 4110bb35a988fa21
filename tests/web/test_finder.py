"""The finder page's logic without a browser: URL state, queries, result cards, the map."""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from geo import settings
from geo.core.text import md_escape
from geo.web.views import finder
from geo.web.maps.base import VENDOR_DIR
from geo.web.maps.finder import finder_map
from geo.routing.build import build_graphs
from geo.routing.network import resolve_graph
from conftest import SHARED

PBF = SHARED / "shenzhen_futian_nanshan_roads.osm.pbf"
FUTIAN = (114.0579, 22.5431)
TIANHE = (113.3245, 23.1375)  # outside the extract: estimates there
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
HOSTILE = "<img src=x onerror=alert(1)>"
# The map's own scripts, which every map page loads: what draws the data is there.
GD_SCRIPTS = (VENDOR_DIR.parent / "gd" / "gd-layers.js").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def stations() -> pd.DataFrame:
    rows = [
        ("RS-a", "福田甲驿站", "rest_station", 114.0526, 22.5531, ["toilet", "drinking_water"], "24小时"),
        ("RS-b", HOSTILE, "rest_station", 114.0442, 22.5514, ["drinking_water"], "24小时"),
        ("RS-c", "福田丙驿站", "rest_station", 114.0823, 22.5420, "toilet;按摩椅", "Mo-Fr 09:00-17:00"),
        ("DH-d", "福田司机之家", "driver_home", 114.0532, 22.5316, ["truck_parking", "shower"], "24/7"),
        ("RS-e", "天河驿站", "rest_station", 113.3368, 23.1369, ["toilet"], None),
    ]
    return pd.DataFrame([{"id": i, "name": n, "kind": k, "lon": x, "lat": y, "facilities": f,
                          "opening_hours": h, "status": "open", "address": f"地址{i}", "is_sample": True}
                         for i, n, k, x, y, f, h in rows])


@pytest.fixture(scope="module")
def graphs():
    if not PBF.exists():
        pytest.skip(f"shared data missing: {PBF}")
    return build_graphs(PBF, modes=["ebike", "walk"])


# --------------------------------------------------------------------------
# URL state
# --------------------------------------------------------------------------

def test_state_round_trips_through_the_url():
    state = finder.FinderState().with_origin(*FUTIAN, "福田区 · 深圳市").update(
        kind="driver_home", facilities=("toilet", "shower"), mode="truck", by="distance", open_now=False)
    state = state.update(selected="DH-d")
    query = finder.state_to_query(state)
    assert query == {"kind": "driver_home", "mode": "truck", "by": "distance", "open": "0",
                     "lon": "114.057900", "lat": "22.543100", "place": "福田区 · 深圳市",
                     "fac": "toilet,shower", "sel": "DH-d"}
    assert finder.state_from_query(query) == state
    # Streamlit hands over strings; a dict of lists (parse_qs) works too.
    assert finder.state_from_query({k: [v] for k, v in query.items()}) == state


def test_a_located_position_is_rounded_in_the_url_only():
    exact = (114.0579123, 22.5430871)
    located = finder.FinderState().with_origin(*exact, "我的位置（精度约 12 米）", located=True)
    assert (located.lon, located.lat) == (114.057912, 22.543087)  # routed from the exact fix
    query = finder.state_to_query(located)
    assert (query["lon"], query["lat"]) == ("114.058", "22.543") and "place" not in query
    # A filter change keeps it rounded; a tap or typed coordinates keep what the user gave.
    assert finder.state_to_query(located.update(kind="all"))["lon"] == "114.058"
    tapped = located.with_origin(*exact, "地图上的点")
    assert finder.state_to_query(tapped)["lon"] == "114.057912"
    assert finder.state_from_query(finder.state_to_query(tapped)) == tapped
    back = finder.state_from_query(query)
    assert (back.lon, back.lat, back.place) == (114.058, 22.543, "")


def test_query_changes_touch_only_what_differs():
    state = finder.FinderState().with_origin(*FUTIAN, "福田区").update(kind="driver_home")
    current = {"lang": "en", "kind": "rest_station", "mode": state.mode, "sel": "RS-a", "fac": "toilet"}
    put, drop = finder.query_changes(current, state)
    assert put == {"kind": "driver_home", "by": "time", "open": "1",
                   "lon": "114.057900", "lat": "22.543100", "place": "福田区"}
    assert drop == ["fac", "sel"]  # the finder's own keys only: lang stays
    assert finder.query_changes(finder.state_to_query(state), state) == ({}, [])


def test_defaults_and_junk_in_the_url():
    default = finder.FinderState()
    assert finder.state_from_query({}) == default
    assert default.kind == "rest_station" and default.mode == settings.ROUTING_DEFAULT_MODE
    assert default.open_now and default.by == "time" and not default.has_origin
    junk = finder.state_from_query({"lon": "abc", "lat": "22.5", "kind": "<x>", "mode": "rocket", "by": "??",
                                    "fac": "toilet,not_a_facility,toilet", "open": "maybe", "place": "x"})
    assert not junk.has_origin and junk.place == ""
    assert (junk.kind, junk.mode, junk.by) == (default.kind, default.mode, default.by)
    assert junk.facilities == ("toilet",) and junk.open_now
    assert not finder.state_from_query({"lon": "114", "lat": "95"}).has_origin
    assert finder.state_from_query({"kind": "all"}).kind == finder.KIND_ALL


def test_changing_a_filter_drops_the_selection():
    s = finder.FinderState().with_origin(*FUTIAN).update(selected="RS-a")
    assert s.selected == "RS-a"
    assert s.update(mode="walk").selected is None
    assert s.with_origin(114.0, 22.5).selected is None


# --------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------

def test_no_origin_no_results(stations):
    assert finder.find_stations(finder.FinderState(), stations) == []


def test_network_results_carry_routes_and_registry_details(stations, graphs):
    state = finder.FinderState(mode="ebike").with_origin(*FUTIAN)
    results = finder.find_stations(state, stations, graphs["ebike"], at=MONDAY_NOON)
    assert [r["kind"] for r in results] == ["rest_station"] * len(results)
    assert {r["id"] for r in results} == {"RS-a", "RS-b", "RS-c"}
    for r in results:
        assert r["method"] == "network" and r["route"]["type"] == "LineString"
        assert r["road_names"] and r["address"] == f"地址{r['id']}" and r["is_sample"]
    c = next(r for r in results if r["id"] == "RS-c")
    assert c["facilities"] == ["toilet"] and c["facilities_other"] == ["按摩椅"]
    times = [r["duration_s"] for r in results]
    assert times == sorted(times)


def test_filters_kind_facility_open_now(stations, graphs):
    base = finder.FinderState(mode="ebike").with_origin(*FUTIAN)
    at_night = datetime(2026, 11, 23, 22, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

    def ids(state, at=MONDAY_NOON):
        return {r["id"] for r in finder.find_stations(state, stations, graphs["ebike"], at=at)}

    assert ids(base.update(kind="driver_home")) == {"DH-d"}
    assert ids(base.update(kind=finder.KIND_ALL)) == {"RS-a", "RS-b", "RS-c", "DH-d"}
    assert ids(base.update(facilities=("toilet",))) == {"RS-a", "RS-c"}
    assert ids(base, at_night) == {"RS-a", "RS-b"}  # RS-c closes at 17:00
    assert ids(base.update(open_now=False), at_night) == {"RS-a", "RS-b", "RS-c"}


def test_estimates_without_a_network(stations):
    state = finder.FinderState(mode="walk").with_origin(*TIANHE)
    results = finder.find_stations(state, stations, None, at=MONDAY_NOON)
    assert results[0]["id"] == "RS-e"
    assert all(finder.is_estimate(r) and r["route"] is None for r in results)


def test_pick_selected():
    rs = [{"id": "a"}, {"id": "b"}]
    assert finder.pick_selected(rs, "b")["id"] == "b"
    assert finder.pick_selected(rs, "gone")["id"] == "a"
    assert finder.pick_selected([], "a") is None


def test_load_network(tmp_path, graphs):
    assert resolve_graph("ebike", directory=tmp_path) is None
    assert finder.available_modes(tmp_path) == ()
    (tmp_path / "walk.npz").write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="road network"):
        resolve_graph("walk", directory=tmp_path)
    (tmp_path / "drive.npz").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(ValueError, match="road network"):
        resolve_graph("drive", directory=tmp_path)
    assert finder.available_modes(tmp_path) == ("walk", "drive")


# --------------------------------------------------------------------------
# Result cards
# --------------------------------------------------------------------------

def _result(**kw) -> dict:
    r = {"id": "RS-b", "name": HOSTILE, "kind": "rest_station", "lon": 114.05, "lat": 22.55,
         "distance_m": 2345.0, "duration_s": 610.0, "method": "network", "mode": "ebike",
         "road_names": ["深南大道", "彩田路"], "open_now": True, "facilities": ["toilet", "not_a_code"],
         "facilities_other": ["<b>按摩椅"], "address": '" onmouseover="x', "opening_hours": "24小时",
         "subtype": "", "is_sample": True}
    r.update(kw)
    return r


def test_result_card_is_escaped_and_complete():
    html_ = finder.result_html(_result(), "zh", number=2, selected=True)
    assert "<img" not in html_ and "&lt;img src=x onerror=alert(1)&gt;" in html_
    assert "<b>" not in html_ and "&lt;b&gt;按摩椅" in html_
    assert '" onmouseover' not in html_
    assert "2.3 公里" in html_ and "10 分钟" in html_ and "电动车" in html_
    assert "深南大道 → 彩田路" in html_ and "🚻 卫生间" in html_ and "开放中" in html_
    assert "fd-selected" in html_ and ">2<" in html_ and "示例数据" in html_
    assert settings.ESTIMATE_LABEL not in html_ and "≈" not in html_


def test_estimate_card_says_so_on_every_figure():
    html_ = finder.result_html(_result(method="estimate", road_names=[], open_now=None), "en")
    figures = re.findall(r'<span class="fd-fig">(.*?)</span></span>', html_)
    assert len(figures) == 2
    assert all(f.startswith("≈") and settings.ESTIMATE_LABEL in f for f in figures)
    assert "Hours unknown" in html_ and "2.3 km" in html_ and "10 min" in html_


def test_distance_and_minutes_text():
    assert finder.distance_text(850, "zh") == "850 米" and finder.distance_text(850, "en") == "850 m"
    assert finder.distance_text(12_345, "en") == "12.3 km"
    assert finder.minutes_text(10, "en") == "1 min" and finder.minutes_text(3600, "zh") == "60 分钟"


# --------------------------------------------------------------------------
# The map
# --------------------------------------------------------------------------

def _render(m) -> str:
    return m.get_root().render()


def _data(page: str) -> dict:
    # The finder layer's data is the JSON literal after "var d = ".
    start = page.index("var d = ") + len("var d = ")
    return json.JSONDecoder().raw_decode(page[start:])[0]


def test_map_draws_the_chosen_route_offline(stations, graphs):
    state = finder.FinderState(mode="ebike").with_origin(*FUTIAN)
    results = finder.find_stations(state, stations, graphs["ebike"], at=MONDAY_NOON)
    chosen = results[1]
    page = _render(finder_map(FUTIAN, results, chosen["id"], asset_base=VENDOR_DIR.as_uri() + "/"))
    data = _data(page)
    assert data["route"] == [[round(y, 6), round(x, 6)] for x, y in chosen["route"]["coordinates"]]
    assert [r["s"] for r in data["results"]] == [int(r is chosen) for r in results]
    assert data["origin"] == [FUTIAN[1], FUTIAN[0]] and data["note"] is None
    assert "gd-route" in page + GD_SCRIPTS
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    base = VENDOR_DIR.as_uri() + "/"
    assets = re.findall(r'<script src="([^"]+)"', page) + re.findall(r'<link[^>]+href="([^"]+)"', page)
    assert assets and all(a.startswith(base) for a in assets), assets  # nothing from a CDN


def test_map_draws_no_line_for_estimates(stations):
    results = finder.find_stations(finder.FinderState().with_origin(*TIANHE), stations, None, at=MONDAY_NOON)
    page = _render(finder_map(TIANHE, results, None, lang="en"))
    data = _data(page)
    assert data["route"] is None
    assert settings.ESTIMATE_LABEL in data["note"]
    # A legend, and the controls every map has.
    assert "gd-legend" in page and "Route to the chosen station" in page and "You are here" in page
    assert "window.gdMapControls(" in page


def test_map_without_origin_shows_a_hint():
    data = _data(_render(finder_map(None, [], None, lang="zh")))
    assert data["origin"] is None and data["results"] == [] and "点地图" in data["note"]


def test_status_line_escapes_a_label_from_a_shared_link():
    state = finder.state_from_query({"lon": "114.0579", "lat": "22.5431", "place": "<script>x</script>"})
    line = finder.status_html(state, "zh", routed=True)
    assert "<script>" not in line and "&lt;script&gt;x&lt;/script&gt;" in line
    assert "路网" in line and finder.status_html(finder.FinderState(), "zh") == ""


@pytest.mark.parametrize("text", ["[通知](http://e.com)", "**粗体**", HOSTILE, "a\\b_c`d`"])
def test_md_escape_leaves_no_markdown(text):
    escaped = md_escape(text)
    # Every special character is preceded by a backslash; removing them (and the word joiners
    # that keep URLs from becoming links, see geo.core.text) gives the text back.
    assert re.sub(r"\\(.)", r"\1", escaped).replace("\u2060", "") == text
    assert not re.search(r"(?<!\\)[\[\]()*_`<>]", escaped)


def test_filters_summary():
    s = finder.FinderState(facilities=("toilet",))
    assert finder.filters_summary(s, "en") == "Rest station · 🛵 E-bike · ⏱ Fastest · Open now only · facilities: 1"
