"""The worker page (/finder) in a real browser: Debian's Chromium through Playwright.

One server for the module (``python -m geo serve``, the plain app without
Streamlit) with a registry of stations in central Shenzhen and road graphs
for walking and e-bikes built from the real extract (driving has none, so a
drive lookup is an estimate), and one browser. Every host but 127.0.0.1
resolves to nothing (``--host-resolver-rules``), so the basemap tiles never
load and the page must work without them; no request is intercepted, which
would turn off the browser's HTTP cache the repeat-visit test measures.

Screenshots go to ``test-artifacts/``.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from api_kit import load, start_api
from browser_kit import ARTIFACTS, DESKTOP, PHONE, browser, needs_chromium  # noqa: F401
from conftest import ROOT, SHENZHEN_PBF
from interface_strings import INTERNALS, STRINGS_JS, untranslated

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
SECRET_PHONE = "13700009999"
ORIGIN = (114.0579, 22.5431)        # Futian civic centre, WGS-84, inside the extract
LOCATED = (114.057912, 22.543087)   # a browser's fix: the URL keeps 114.058, 22.543
#: name, lon, lat, kind, facilities, public, sample
STATIONS = [
    ("会展中心驿站", 114.0593, 22.5370, "rest_station", ["drinking_water", "toilet"], True, False),
    ("福田口岸驿站", 114.0700, 22.5210, "rest_station", ["drinking_water"], True, False),
    ("车公庙司机之家", 114.0235, 22.5385, "driver_home", ["drinking_water", "toilet"], True, False),
    ("内部法律站", 114.0550, 22.5450, "legal_aid", [], False, False),
    ("香蜜湖驿站", 114.0330, 22.5500, "rest_station", ["phone_charging"], True, False),
    (HOSTILE_NAME, 114.0606, 22.5452, "rest_station", ["toilet"], True, False),
    ("示例福华驿站", 114.0540, 22.5405, "rest_station", ["drinking_water"], True, True),
]

pytestmark = [needs_chromium,
              pytest.mark.skipif(not SHENZHEN_PBF.exists(), reason=f"needs the Shenzhen extract {SHENZHEN_PBF}")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from geo.registry.store import create_registry
    from geo.routing.build import build_graphs
    from geo.routing.places import build_places

    tmp = tmp_path_factory.mktemp("worker_page")
    store = create_registry(tmp / "registry.gpkg")
    for name, lon, lat, kind, fac, public, sample in STATIONS:
        store.add({"kind": kind, "name": name, "lon": lon, "lat": lat, "facilities": fac, "public": public,
                   "is_sample": sample, "opening_hours": "24/7",
                   "phone": SECRET_PHONE if not public else "0755-1"})
    build_graphs(SHENZHEN_PBF, tmp / "network", modes=("walk", "ebike"))
    build_places(SHENZHEN_PBF, tmp / "network")  # what `python -m geo network build` also writes
    log = tmp / "server.log"
    proc, url = start_api({"GEO_REGISTRY": str(tmp / "registry.gpkg"), "GEO_NETWORK_DIR": str(tmp / "network")},
                          log, command="serve")
    yield url, tmp, log
    load.stop_app(proc)


class _Tab:
    """A fresh context and page that record script errors and dialogs (an alert would be an injection)."""

    def __init__(self, browser, viewport: dict, **kw):
        self.ctx = browser.new_context(viewport=viewport, **kw)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def clean(self) -> None:
        assert not self.errors and not self.dialogs, (self.errors, self.dialogs)


@pytest.fixture
def tab(browser):
    made: list[_Tab] = []

    def factory(viewport: dict = PHONE, **kw) -> _Tab:
        made.append(_Tab(browser, viewport, **kw))
        return made[-1]

    yield factory
    for t in made:
        t.ctx.close()


def _cards(page):
    return page.locator("#cards > li.card")


def _wait_cards(page, timeout: float = 30_000) -> int:
    _cards(page).first.wait_for(timeout=timeout)
    page.wait_for_function("() => !document.getElementById('status').textContent.includes('…')", timeout=timeout)
    return _cards(page).count()


def _query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(page.url).query).items()}


def _wait_query(page, key: str, value: str | None) -> None:
    page.wait_for_function("([k, v]) => new URLSearchParams(location.search).get(k) === v", arg=[key, value],
                           timeout=30_000)


def _api(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def _shared(url: str, **extra) -> str:
    q = "&".join(f"{k}={v}" for k, v in {"lon": ORIGIN[0], "lat": ORIGIN[1], **extra}.items())
    return f"{url}/finder?{q}"


def _wait_offline_ready(page) -> None:
    """The service worker controls the page and has saved the public stations around it."""
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
    page.locator("html[data-offline-ready='1']").wait_for(state="attached", timeout=30_000)
    assert page.evaluate("caches.match('/api/v1/stations').then(r => !!r)")


# ----------------------------------------------------------------- serving

def test_assets_are_compressed_versioned_and_cached(server):
    url, _, _ = server
    req = urllib.request.Request(f"{url}/finder", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as resp:
        assert resp.headers["Content-Encoding"] == "gzip" and resp.headers["Cache-Control"] == "no-cache"
        tag = resp.headers["ETag"]
        import gzip

        page = gzip.decompress(resp.read()).decode()
    req = urllib.request.Request(f"{url}/finder", headers={"If-None-Match": tag})
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(req)
    assert not_modified.value.code == 304
    versioned = re.findall(r'(?:src|href)="([\w.-]+)\?v=([0-9a-f]{16})"', page)
    assert {n for n, _ in versioned} >= {"finder.js", "finder.css", "leaflet.js", "leaflet.css", "gd-map.js"}
    for name, version in versioned:
        req = urllib.request.Request(f"{url}/finder/{name}?v={version}", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req) as resp:
            assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert resp.headers["ETag"] == f'"{version}"'  # the hash in the link is the content's
            if name.endswith((".js", ".css")):
                assert resp.headers["Content-Encoding"] == "gzip"
    with urllib.request.urlopen(f"{url}/finder/sw.js") as resp:
        assert resp.headers["Service-Worker-Allowed"] == "/finder" and resp.headers["Cache-Control"] == "no-cache"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{url}/finder/../geo/settings.py")
    assert missing.value.code == 404
    manifest = _api(f"{url}/finder/manifest.webmanifest")
    assert manifest["start_url"] == "/finder" and manifest["display"] == "standalone"
    assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}


def test_every_string_the_script_uses_is_sent_in_both_languages():
    from geo.web.worker_page import FINDER_DIR, page_config

    script = (FINDER_DIR / "finder.js").read_text(encoding="utf-8")
    page = (FINDER_DIR / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r"\bt\('(\w+)'(?! \+)", script))  # 'fd_mode_' + mode: the keys listed below | set(re.findall(r'data-tp?="(\w+)"', page))
    used |= {f"fd_{p}_{v}" for p, vs in (("mode", ("walk", "ebike", "drive", "truck")), ("by", ("time", "distance")),
                                         ("crs", ("gcj02", "bd09", "wgs84"))) for v in vs}
    strings = page_config()["strings"]
    # Place search results: every Place.kind of the API has a word (station kinds the registry's).
    spec = json.loads((ROOT / "geo" / "web" / "openapi.json").read_text(encoding="utf-8"))
    place_kinds = spec["components"]["schemas"]["Place"]["properties"]["kind"]["enum"]
    used |= {f"fd_pk_{k}" for k in place_kinds if k not in page_config()["kinds"]} | {"fd_pk_other", "fd_pk_station"}
    assert used and not used - set(strings), used - set(strings)
    assert all(zh and en and zh != key for key, (zh, en) in strings.items() if key in used)


# ------------------------------------------------------------ budget, speed

def _transferred(tab: _Tab) -> list[tuple[str, int]]:
    got: list[tuple[str, int]] = []

    def done(request):
        if urlsplit(request.url).hostname == "127.0.0.1":
            sizes = request.sizes()
            got.append((request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"]))

    tab.ctx.on("requestfinished", done)
    return got


def test_first_load_and_repeat_visit_budget(server, tab):
    url, _, _ = server
    t = tab(PHONE, is_mobile=True, has_touch=True)
    got = _transferred(t)
    t.page.goto(_shared(url))
    _wait_cards(t.page)
    _wait_offline_ready(t.page)  # the first visit includes what the service worker saves
    t.page.wait_for_load_state("networkidle")
    first = sum(n for _, n in got)
    assert any("/api/v1/nearest" in u for u, _ in got) and any("leaflet.js" in u for u, _ in got)
    assert first <= 300_000, sorted(got, key=lambda x: -x[1])[:8]
    got.clear()
    t.page.goto(_shared(url))
    _wait_cards(t.page)
    t.page.wait_for_load_state("networkidle")
    repeat = sum(n for _, n in got)
    assert repeat < 30_000, sorted(got, key=lambda x: -x[1])[:8]
    print(f"first load {first} B in {len(got)} requests; repeat visit {repeat} B")
    t.clean()


def test_a_shared_link_shows_its_first_card_within_3_s_on_slow_4g(server, tab):
    url, _, _ = server
    times = []
    # Each try is a first visit (new context, empty cache). The machine is shared, so a busy
    # moment can slow one try; the best of up to three is the page's own figure.
    for _ in range(3):
        t = tab(PHONE, is_mobile=True, has_touch=True)
        cdp = t.ctx.new_cdp_session(t.page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 150,
                                                      "downloadThroughput": 1.6e6 / 8, "uploadThroughput": 750e3 / 8})
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        t.page.goto(_shared(url), wait_until="commit")
        # performance.now() counts from the navigation's start.
        times.append(t.page.wait_for_function(
            "() => document.querySelector('#cards > li.card') && performance.now()", timeout=20_000).json_value())
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        t.ctx.close()
        if times[-1] <= 3000:
            break
    print(f"slow 4G: first card after {', '.join(f'{ms:.0f}' for ms in times)} ms")
    assert min(times) <= 3000, times


# ------------------------------------------------------------------- layout

def test_first_card_is_on_the_first_phone_screen_with_the_map(server, tab):
    url, _, _ = server
    t = tab(PHONE, is_mobile=True, has_touch=True)
    t.page.goto(_shared(url))
    _wait_cards(t.page)
    card = _cards(t.page).first.bounding_box()
    the_map = t.page.locator("#map").bounding_box()
    assert the_map["height"] >= 200 and the_map["y"] + the_map["height"] <= card["y"]
    assert card["y"] + min(card["height"], 120) <= PHONE["height"], card  # its name and figures, not its top edge
    t.page.screenshot(path=ARTIFACTS / "worker_page_phone.png")
    t.clean()


def test_desktop_puts_the_map_beside_the_list(server, tab):
    url, _, _ = server
    t = tab(DESKTOP)
    t.page.goto(_shared(url, lang="en"))
    _wait_cards(t.page)
    card = _cards(t.page).first.bounding_box()
    the_map = t.page.locator("#map").bounding_box()
    assert the_map["x"] >= card["x"] + card["width"] and the_map["height"] >= 600
    assert card["y"] + card["height"] <= DESKTOP["height"]
    t.page.screenshot(path=ARTIFACTS / "worker_page_desktop.png")
    t.clean()


# ---------------------------------------------------------- route and cards

def test_route_is_drawn_with_dashed_off_road_stretches_and_the_destination_in_view(server, tab):
    url, _, _ = server
    t = tab(PHONE, is_mobile=True, has_touch=True)
    t.page.goto(_shared(url))
    _wait_cards(t.page)
    answer = _api(f"{url}/api/v1/nearest?lon={ORIGIN[0]}&lat={ORIGIN[1]}&kind=rest_station")
    first = answer["results"][0]
    assert first["method"] == "network" and first["access_m"] > 0 and first["egress_m"] > 0
    road = t.page.locator("path.fd-road")
    road.wait_for()
    assert road.get_attribute("stroke-dasharray") in (None, "")
    walks = t.page.locator("path.fd-walk")
    assert walks.count() == 2  # rider -> road, road -> station
    for i in range(2):
        assert re.fullmatch(r"\d+(\.\d+)?[ ,]+\d+(\.\d+)?", walks.nth(i).get_attribute("stroke-dasharray"))
    # The card's distance is door to door, and says how much of it is walked.
    card = _cards(t.page).first
    text = card.inner_text()
    expected = f"{first['distance_m'] / 1000:.1f} km" if first["distance_m"] >= 1000 else f"{round(first['distance_m'])} m"
    assert expected in text and "含步行" in text
    assert card.get_attribute("data-station-id") == first["id"]
    # The destination's pin lies inside the map's box.
    box = t.page.locator("#map").bounding_box()
    pin = t.page.locator(".leaflet-marker-icon .pin.sel").bounding_box()
    assert box["x"] <= pin["x"] and pin["x"] + pin["width"] <= box["x"] + box["width"]
    assert box["y"] <= pin["y"] and pin["y"] + pin["height"] <= box["y"] + box["height"]
    # Another card's button draws its route instead.
    _cards(t.page).nth(1).locator("button.show").click()
    _wait_query(t.page, "sel", answer["results"][1]["id"])
    assert t.page.locator("#cards > li.card.selected").get_attribute("data-station-id") == answer["results"][1]["id"]
    t.clean()


def test_cards_announce_themselves_to_the_report_script(server, tab):
    url, _, _ = server
    t = tab(PHONE)
    t.page.add_init_script("window.__cards = []; document.addEventListener('gd:cards', e => window.__cards.push("
                           "e.detail.cards.map(c => [c.id, c.element.dataset.stationId, c.element.isConnected])));")
    t.page.goto(_shared(url))
    _wait_cards(t.page)
    events = t.page.evaluate("window.__cards")
    assert events and all(i == sid and connected for i, sid, connected in events[-1])
    assert [c[0] for c in events[-1]] == [c.get_attribute("data-station-id") for c in _cards(t.page).all()]


def _params(link: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(link).query, keep_blank_values=True).items()}


def test_handoff_links_decode_back_to_the_station(server, tab):
    from geo.core.crs import bd09_to_wgs84, gcj02_to_wgs84, haversine_m
    from geo.routing.handoff import handoff_urls

    url, _, _ = server
    t = tab(PHONE)
    t.page.goto(_shared(url, kind="all"))
    n = _wait_cards(t.page)
    answer = _api(f"{url}/api/v1/nearest?lon={ORIGIN[0]}&lat={ORIGIN[1]}&kind=")
    for i in range(n):
        r = answer["results"][i]
        card = _cards(t.page).nth(i)
        amap = card.locator("a.amap").get_attribute("href")
        baidu = card.locator("a.baidu").get_attribute("href")
        apple = card.locator("a.apple").get_attribute("href")
        a, b, p = _params(amap), _params(baidu), _params(apple)
        lon, lat = gcj02_to_wgs84(*map(float, a["to"].split(",")[:2]))            # Amap: GCJ-02, lon first
        assert haversine_m(lon, lat, r["lon"], r["lat"]) < 1.0
        blat, blon = map(float, b["destination"].split("|")[0].removeprefix("latlng:").split(","))
        lon, lat = bd09_to_wgs84(blon, blat)                                        # Baidu: BD-09, lat first
        assert haversine_m(lon, lat, r["lon"], r["lat"]) < 1.0 and b["coord_type"] == "bd09ll"
        alat, alon = map(float, p["daddr"].split(","))
        lon, lat = gcj02_to_wgs84(alon, alat)                                       # Apple in China: GCJ-02
        assert haversine_m(lon, lat, r["lon"], r["lat"]) < 1.0
        # E-bikes ride (not walk); the links are exactly those of geo.routing.handoff.
        assert (a["mode"], b["mode"], p["dirflg"]) == ("ride", "riding", "w")
        assert unquote(amap.split("to=")[1].split(",")[2].split("&")[0]) == r["name"].replace(",", "，")
        expected = handoff_urls(r["lon"], r["lat"], r["name"], "ebike", ORIGIN, "起点")
        assert (amap, baidu, apple) == (expected["amap"], expected["baidu"], expected["apple"])
    t.clean()


def test_estimates_and_sample_data_say_so(server, tab):
    url, _, _ = server
    t = tab(PHONE)
    t.page.goto(_shared(url, mode="drive", kind="all"))  # no drive graph: estimates
    _wait_cards(t.page)
    for card in _cards(t.page).all():
        assert card.inner_text().count("估算 / estimate") == 2  # beside the distance and the minutes
    assert t.page.locator("path.fd-road, path.fd-walk").count() == 0  # no line, not even a straight one
    assert "估算 / estimate" in t.page.locator("#note").inner_text()
    sample = t.page.locator("#cards > li.card", has_text="示例福华驿站")
    assert "示例数据 / sample data" in sample.inner_text()
    assert "示例数据 / sample data" in t.page.locator("#sample").inner_text()
    t.clean()


def test_names_from_data_show_as_text(server, tab):
    url, _, _ = server
    t = tab(PHONE)
    t.page.goto(_shared(url, kind="all"))
    _wait_cards(t.page)
    hostile = t.page.locator("#cards > li.card", has_text=HOSTILE_NAME)
    assert hostile.count() == 1
    assert t.page.locator("#cards img, #picks img").count() == 0
    # And the private station shows its name, never its phone.
    assert SECRET_PHONE not in t.page.content()
    t.page.locator("#q").fill("onerror")
    t.page.locator("#q").press("Enter")
    t.page.locator("#picks").wait_for()
    assert t.page.locator("#picks img").count() == 0
    t.clean()


# ------------------------------------------------------------ origins

def test_location_is_asked_on_tap_only_and_rounded_in_the_url(server, tab):
    url, _, _ = server
    t = tab(PHONE, is_mobile=True, has_touch=True, permissions=["geolocation"],
            geolocation={"longitude": LOCATED[0], "latitude": LOCATED[1], "accuracy": 12})
    t.page.add_init_script("window.__asked = 0; const g = navigator.geolocation.getCurrentPosition.bind("
                           "navigator.geolocation); navigator.geolocation.getCurrentPosition = (...a) => "
                           "{ window.__asked++; return g(...a); };")
    lookups: list[str] = []
    t.page.on("request", lambda r: lookups.append(r.url) if "/api/v1/nearest" in r.url else None)
    t.page.goto(f"{url}/finder?lang=en")
    t.page.get_by_role("button", name="Use my location").wait_for()
    assert t.page.evaluate("window.__asked") == 0 and not lookups
    t.page.get_by_role("button", name="Use my location").click()
    _wait_cards(t.page)
    _wait_query(t.page, "lat", "22.543")
    q = _query(t.page)
    assert (q["lon"], q["lat"]) == ("114.058", "22.543") and "place" not in q
    assert t.page.evaluate("window.__asked") == 1
    # The lookup itself used the exact fix, and the page says where it routes from.
    sent = parse_qs(urlsplit(lookups[-1]).query)
    assert (float(sent["lon"][0]), float(sent["lat"][0])) == LOCATED
    assert "(114.05791, 22.54309)" in t.page.locator("#status").inner_text()
    # A filter change keeps the URL rounded.
    t.page.locator("#filters summary").click()
    t.page.locator("#f-mode label", has_text="Walk").click()
    _wait_query(t.page, "mode", "walk")
    assert (_query(t.page)["lon"], _query(t.page)["lat"]) == ("114.058", "22.543")
    t.clean()


@pytest.mark.parametrize("text, crs, label", [
    ("114.0635，22.5460", "gcj02", "高德/腾讯 GCJ-02"),      # an Amap copy, with a Chinese comma
    ("22.5518, 114.0701", "bd09", "百度 BD-09"),             # Baidu, latitude first
    ("114.057912,22.543087", "wgs84", "GPS WGS-84"),
])
def test_pasted_coordinates(server, tab, text, crs, label):
    from geo.core.crs import to_wgs84

    url, _, _ = server
    t = tab(DESKTOP)
    t.page.goto(f"{url}/finder")
    t.page.get_by_role("searchbox", name="搜索地名、站名，或粘贴坐标").fill(text)
    t.page.locator("#q").press("Enter")
    t.page.locator("#picks button", has_text=label).click()
    _wait_cards(t.page)
    q = _query(t.page)
    nums = [float(v) for v in re.split(r"[,，]\s*", text)]
    lon, lat = (nums[1], nums[0]) if nums[0] < 90 else nums
    want = to_wgs84(lon, lat, crs)
    if crs == "wgs84":
        assert (q["lon"], q["lat"]) == ("114.057912", "22.543087")  # as typed, every digit
    else:
        assert abs(float(q["lon"]) - float(want[0])) < 2e-6 and abs(float(q["lat"]) - float(want[1])) < 2e-6
    assert q["place"] == "粘贴的坐标"
    t.clean()


def test_a_tap_on_the_map_moves_the_origin(server, tab):
    url, _, _ = server
    t = tab(PHONE, is_mobile=True, has_touch=True)
    t.page.goto(_shared(url))
    _wait_cards(t.page)
    before = _query(t.page)
    box = t.page.locator("#map").bounding_box()
    t.page.mouse.click(box["x"] + box["width"] - 70, box["y"] + box["height"] - 70)
    _wait_query(t.page, "place", "地图上选的点")
    _wait_cards(t.page)
    after = _query(t.page)
    assert (after["lon"], after["lat"]) != (before["lon"], before["lat"])
    assert len(after["lon"].split(".")[1]) <= 6
    t.clean()


def test_a_tap_on_the_province_map_zooms_in_instead_of_routing(server, tab):
    # The first view is all of Guangdong: a tap there is kilometres wide, or at sea.
    url, _, _ = server
    t = tab(PHONE, is_mobile=True, has_touch=True)
    lookups: list[str] = []
    t.page.on("request", lambda r: lookups.append(r.url) if "/api/v1/nearest" in r.url else None)
    t.page.goto(f"{url}/finder")
    t.page.wait_for_function("() => document.querySelector('#map .leaflet-tile-pane')")
    box = t.page.locator("#map").bounding_box()
    t.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    t.page.locator("#status", has_text="已放大到你点的地方").wait_for()
    # Tiles of zoom 13 or closer are asked for (the tile URL ends with z=N).
    t.page.wait_for_function("() => [...document.querySelectorAll('#map .leaflet-tile-container img')]"
                             ".some(i => +(i.src.match(/z=(\\d+)$/) || [0, 0])[1] >= 13)")
    assert not lookups and "lon" not in _query(t.page)
    # Zoomed in, the next tap is a position.
    t.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    _wait_query(t.page, "place", "地图上选的点")
    assert lookups
    t.clean()


def test_a_refused_location_is_explained_in_the_page_language(server, tab):
    url, _, _ = server
    for lang, button, want in (("zh", "用我的位置", "没有得到使用位置的许可"),
                               ("en", "Use my location", "permission to use your location was not given")):
        t = tab(PHONE, is_mobile=True, has_touch=True)  # no geolocation permission: the browser refuses
        t.page.goto(f"{url}/finder?lang={lang}")
        t.page.get_by_role("button", name=button).click()
        t.page.locator("#status.error", has_text=want).wait_for()
        if lang == "zh":  # the browser's English error text is not in a Chinese sentence
            assert not re.search(r"[A-Za-z]{4,}", t.page.locator("#status").inner_text())
        t.clean()


def test_filters_change_the_results_and_the_url(server, tab):
    url, _, _ = server
    t = tab(PHONE, is_mobile=True, has_touch=True)
    t.page.goto(_shared(url))
    _wait_cards(t.page)
    t.page.locator("#filters summary").click()
    t.page.locator("#f-kind label", has_text="司机之家").click()
    _wait_query(t.page, "kind", "driver_home")
    _wait_cards(t.page)
    assert all("司机之家" in c.inner_text() for c in _cards(t.page).all())
    t.page.locator("#f-fac label", has_text="卫生间").click()
    _wait_query(t.page, "fac", "toilet")
    t.page.locator("#f-mode label", has_text="步行").click()
    _wait_query(t.page, "mode", "walk")
    t.page.locator("label.chip", has_text="只看现在开放的").click()
    _wait_query(t.page, "open", "0")
    t.page.locator("#f-by label", has_text="路程最短").click()
    _wait_query(t.page, "by", "distance")
    _wait_cards(t.page)
    cards = _cards(t.page).all()
    assert cards and all("司机之家" in c.inner_text() and "卫生间" in c.inner_text() for c in cards)
    assert "步行" in cards[0].inner_text()
    assert "驿站" not in t.page.locator("#cards").inner_text()
    t.page.locator("path.fd-road").wait_for()
    t.clean()


def test_english_switch_keeps_the_state(server, tab):
    url, _, _ = server
    t = tab(PHONE)
    t.page.goto(_shared(url, mode="walk"))
    _wait_cards(t.page)
    assert t.page.locator("h1").inner_text() == "找最近的站" and t.page.locator("html").get_attribute("lang") == "zh-CN"
    t.page.locator("#lang").click()
    _wait_query(t.page, "lang", "en")
    _wait_cards(t.page)
    assert t.page.locator("h1").inner_text() == "Find the nearest station"
    assert t.page.locator("html").get_attribute("lang") == "en"
    assert _query(t.page)["mode"] == "walk" and "Walk" in _cards(t.page).first.inner_text()
    t.clean()


def test_no_untranslated_or_internal_interface_strings(server, tab):
    # The page with results, a route drawn and the filters open, in both languages.
    url, _, _ = server
    found = {}
    for lang in ("zh", "en"):
        t = tab(DESKTOP)
        t.page.goto(_shared(url, lang=lang))
        _wait_cards(t.page)
        t.page.locator("#filters summary").click()
        names = set(t.page.locator("#cards .name").all_inner_texts())  # station names are data, not interface
        strings = [s for s in t.page.evaluate(STRINGS_JS) if s not in names]
        bad = untranslated(strings, lang) + [s for s in strings for mark in INTERNALS if mark in s]
        if bad:
            found[lang] = bad
        t.clean()
    assert not found, found


def test_place_search(server, tab):
    url, _, _ = server
    t = tab(PHONE)
    t.page.goto(f"{url}/finder")
    # The shared extract holds roads only (no 福田站 there): a station's name, a district by pinyin.
    # Each result says what kind of place it is in words, never the API's code.
    for text, found, kind in (("会展中心", "会展中心驿站", "户外劳动者驿站"), ("futian", "福田区", "区县")):
        t.page.locator("#q").fill(text)
        t.page.locator("#q").press("Enter")
        # Named first: the previous query's picks may still show 福田区 as a district until the answer comes.
        pick = t.page.locator("#picks button", has_text=re.compile("^" + re.escape(found) + " · ")).first
        pick.wait_for()
        assert pick.inner_text().endswith(" · " + kind), pick.inner_text()
        assert not re.search(r"rest_station|district", t.page.locator("#picks").inner_text())
    pick.click()
    _wait_cards(t.page)
    assert _query(t.page)["place"] == "福田区"
    from geo.core.regions import locate

    q = _query(t.page)
    assert locate(float(q["lon"]), float(q["lat"]))["adcode"].iloc[0] == "440304"
    t.page.locator("#q").fill("没有这个地方的名字")
    t.page.locator("#q").press("Enter")
    t.page.locator("#picks", has_text="没有找到").wait_for()
    t.clean()
    # English, and a kind the page has no word for (a newer API's) says "Place", not its code.
    t = tab(PHONE)
    t.page.route("**/api/v1/places?*", lambda route: route.fulfill(json={"results": [
        {"name": "某某", "name_en": "Somewhere", "kind": "space_elevator", "lon": 114.05, "lat": 22.54,
         "district": None}]}) if "somewhere" in route.request.url else route.continue_())
    t.page.goto(f"{url}/finder?lang=en")
    for text, found, kind in (("futian", re.compile("福田区|Futian"), "District"), ("somewhere", "Somewhere", "Place")):
        t.page.locator("#q").fill(text)
        t.page.locator("#q").press("Enter")
        pick = t.page.locator("#picks button", has_text=found).first
        pick.wait_for()
        assert pick.inner_text().endswith(" · " + kind), pick.inner_text()
    assert "space_elevator" not in t.page.locator("#picks").inner_text()
    t.clean()


def test_cards_drawn_before_the_report_script_arrives_get_their_report_button(server, tab):
    # On a repeat visit the page's own files come from the service worker at once, and the lookup can
    # answer before report.js has arrived: the cards already drawn must still get their report part.
    url, _, _ = server
    t = tab(PHONE)
    held = []
    t.page.route("**/finder/report.js*", lambda route: held.append(route))
    t.page.goto(_shared(url), wait_until="commit")
    _wait_cards(t.page)
    assert held and _cards(t.page).first.locator(".gd-report-toggle").count() == 0
    held[0].continue_()
    _cards(t.page).first.locator(".gd-report-toggle").wait_for()
    assert _cards(t.page).locator(".gd-report-toggle").count() == _cards(t.page).count()
    t.clean()


# -------------------------------------------------------------- offline

def test_offline_after_one_visit(server, tab):
    url, _, _ = server
    t = tab(PHONE, is_mobile=True, has_touch=True)
    t.page.goto(_shared(url))
    _wait_cards(t.page)
    _wait_offline_ready(t.page)
    t.ctx.set_offline(True)
    logs: list[str] = []
    t.page.on("console", lambda m: logs.append(m.text))
    t.page.reload()
    try:
        _wait_cards(t.page)
    except Exception:
        raise AssertionError((t.page.locator("#status").inner_text(), t.page.url, logs, t.errors)) from None
    note = t.page.locator("#note").inner_text()
    assert "离线" in note and "估算 / estimate" in _cards(t.page).first.inner_text()
    # A new lookup offline answers too, from the saved list.
    t.page.locator("#filters summary").click()
    t.page.locator("#f-kind label", has_text="全部").click()
    _wait_query(t.page, "kind", "all")
    t.page.wait_for_function("() => document.querySelectorAll('#cards > li.card').length === 5")
    assert all("估算 / estimate" in c.inner_text() for c in _cards(t.page).all())
    assert SECRET_PHONE not in t.page.content()
    t.ctx.set_offline(False)
    t.clean()


# ------------------------------------------------------------ accessibility

def test_axe_finds_no_serious_or_critical_violations(server, tab):
    from axe_playwright_python.sync_playwright import Axe

    url, _, _ = server
    for viewport in (PHONE, DESKTOP):
        t = tab(viewport)
        t.page.goto(_shared(url, kind="all"))
        _wait_cards(t.page)
        t.page.locator("#filters summary").click()
        results = Axe().run(t.page)
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, bad


def test_tap_targets_and_200_percent_text(server, tab):
    url, _, _ = server
    t = tab(PHONE, is_mobile=True, has_touch=True)
    t.page.goto(_shared(url))
    _wait_cards(t.page)
    t.page.locator("#filters summary").click()
    small = t.page.evaluate("""() => [...document.querySelectorAll(
        'main button, main a, main summary, main input[type=search], label.chip, .leaflet-bar a, header a')]
        .filter(e => e.offsetParent !== null)
        .map(e => [e.textContent.trim().slice(0, 20) || e.className, e.getBoundingClientRect()])
        .filter(([, r]) => r.width < 44 || r.height < 44).map(([n, r]) => [n, r.width, r.height])""")
    assert not small, small
    # 200 % text: nothing runs off the side and the first card's links can still be tapped.
    t.page.evaluate("document.documentElement.style.fontSize = '200%'")
    assert t.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    link = _cards(t.page).first.locator("a.amap")
    link.scroll_into_view_if_needed()
    box = link.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 44
    t.page.screenshot(path=ARTIFACTS / "worker_page_200pct.png", full_page=False)
    t.clean()


# ---------------------------------------------------------------- privacy

def test_no_position_reaches_the_server_log(server, tab):
    from geo.core.crs import from_wgs84

    url, _, log = server
    t = tab(PHONE, permissions=["geolocation"], geolocation={"longitude": LOCATED[0], "latitude": LOCATED[1]})
    t.page.goto(f"{url}/finder")
    t.page.locator("#locate").click()
    _wait_cards(t.page)
    text = log.read_text(errors="replace")
    forms = {f"{v:.6f}" for v in LOCATED} | {f"{v:.4f}" for v in LOCATED} | {f"{v:.3f}" for v in LOCATED}
    forms |= {f"{float(v):.5f}" for v in from_wgs84(*LOCATED, "gcj02")}
    assert not [f for f in forms if f in text], "a position is in the server's log"
