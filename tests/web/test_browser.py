"""Real-browser smoke test of the Streamlit app, offline.

A module fixture starts ``streamlit run app.py`` on a free port with a fresh
registry (seeded from the bundled sample, plus one station whose every text
field is hostile markup) and drives Debian's Chromium through Playwright.
Every request that does not go to the app itself is aborted, so the test
proves the map works with no internet: Leaflet and its plugins must come
from ``static/vendor/``, and the basemap tiles simply do not load.

Screenshots go to ``test-artifacts/`` for a person to look at.
"""
from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from browser_kit import (ARTIFACTS, DATA_PAGE, DESKTOP, EDITOR_USER, LOGIN_TEXT, PHONE, SITING_PAGE, AppPage,
                         app_server, assert_no_exception, chromium, goto, login, map_frame, needs_chromium, pages,
                         radio, try_login, wait_idle)
from conftest import ROOT

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
#: A station marked non-public: its phone and street address must never reach a public page.
PRIVATE_PHONE, PRIVATE_STREET = "13800009999", "保密路8号"
#: Real roads of Futian and Nanshan (Shenzhen), built into a routing network for the app.
ROADS_PBF = ROOT.parent / "shared" / "data" / "shenzhen_futian_nanshan_roads.osm.pbf"
FUTIAN = (114.0579, 22.5431)    # 深圳市福田区, inside the extract (113.954–114.094 E, 22.479–22.606 N)
TIANHE = (113.3245, 23.1375)    # 广州市天河区, outside it: estimates there

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("registry") / "registry.gpkg"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, registry) -> str:
    from geo.registry.store import open_store

    tmp = tmp_path_factory.mktemp("browser")
    store = open_store(registry, seed_sample=True)
    store.add({"kind": "rest_station", "name": HOSTILE_NAME, "address": '" onmouseover="alert(2)" x="',
               "operator": "<script>alert(3)</script>", "phone": "javascript:alert(4)",
               "facilities_other": ["<b>bold"], "lon": 113.3301, "lat": 23.1402})
    store.add({"kind": "rest_station", "name": "福田内部驿站", "address": f"深圳市福田区{PRIVATE_STREET}",
               "phone": PRIVATE_PHONE, "public": False, "lon": 114.0585, "lat": 22.5436})
    # The finder routes on real Shenzhen roads; without the extract it gives estimates.
    net = None
    if ROADS_PBF.exists():
        net = tmp / "net"
        subprocess.run([sys.executable, "-m", "geo", "network", "build", str(ROADS_PBF), "--out", str(net)],
                       cwd=ROOT, check=True, capture_output=True, timeout=300)
    with app_server(tmp / "server", registry, network=net) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def open_page(browser, app_url):
    with pages(browser, app_url) as factory:
        yield factory


def _assert_markers(page, index: int = 0) -> None:
    frame = map_frame(page, index)
    # Cluster bubbles and single pins are both Leaflet marker icons.
    frame.locator(".leaflet-marker-icon").first.wait_for(timeout=30_000)
    assert frame.locator(".leaflet-marker-icon").count() > 0
    assert frame.locator(".leaflet-control-layers").count() == 1
    assert frame.locator(".gd-legend").count() == 1
    _assert_map_controls(frame)


def _assert_map_controls(frame) -> None:
    """Every map has a scale bar, locate-me and full-screen buttons, and says when tiles cannot load."""
    frame.locator(".leaflet-control-scale").first.wait_for(timeout=30_000)
    assert frame.locator(".gd-ctl .gd-ctl-btn").count() == 2
    # The tests run offline (other hosts are blocked): the map says so and
    # shows its plain background instead of grey squares.
    frame.locator(".gd-notice", has_text="底图").or_(frame.locator(".gd-notice", has_text="Basemap")).first \
        .wait_for(timeout=30_000)
    assert frame.locator(".leaflet-container.gd-no-tiles").count() == 1


def _registry_id(registry: Path, name: str) -> tuple[str, float, float]:
    """Id, lon and lat of the station called ``name`` in the test registry."""
    from geo.registry.store.gpkg import GeoPackageStore

    stations = GeoPackageStore(registry).load()
    row = stations[stations["name"] == name].iloc[0]
    return row["id"], float(row["lon"]), float(row["lat"])


def _open_station_popup(page, lon: float, lat: float):
    """Zoom the registry map onto a station and open its popup; returns the popup locator."""
    frame = page.wait_for_selector('iframe[src*="st_folium"]').content_frame()
    frame.wait_for_function("() => window.map_div !== undefined")
    frame.evaluate("([lat, lon]) => window.map_div.setView([lat, lon], 19, {animate: false})", [lat, lon])
    opened = frame.wait_for_function("""([lat, lon]) => {
        let hit = null;
        window.map_div.eachLayer((l) => {
            if (!hit && l instanceof L.Marker && l.getPopup() && l.getLatLng().distanceTo([lat, lon]) < 1) { hit = l; }
        });
        if (hit) { hit.openPopup(); }
        return hit !== null;
    }""", arg=[lat, lon], timeout=30_000)
    assert opened
    popup = frame.locator(".leaflet-popup-content .gd-popup")
    popup.wait_for(timeout=30_000)
    return popup


# --------------------------------------------------------------------------
# Home page (the map)
# --------------------------------------------------------------------------

def _received_text(page, url: str) -> str:
    """Everything the browser receives while opening ``url`` (HTTP bodies and websocket frames)."""
    got: list[str] = []
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda payload: got.append(payload if isinstance(payload, str)
                                                    else payload.decode("utf-8", "replace"))))
    goto(page, url)
    assert_no_exception(page)
    map_frame(page).locator(".leaflet-marker-icon").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    return "\n".join(got)


@pytest.mark.parametrize("path", ["/"])  # the worker page's own check: tests/web/test_worker_page.py
def test_non_public_details_never_reach_a_public_page(open_page, app_url, registry, path):
    p = open_page()
    text = _received_text(p.page, app_url + path)
    if path == "/":
        # The home map ships positions and ids; details come from the API when a popup opens.
        station_id, lon, lat = _registry_id(registry, "福田内部驿站")
        assert station_id in text
        text += _open_station_popup(p.page, lon, lat).inner_text()
    # Map data travels JSON-escaped (\\uXXXX) or as plain UTF-8: look for both spellings.
    def found(word: str) -> bool:
        return word in text or json.dumps(word)[1:-1] in text

    assert found("福田内部驿站")  # the station itself is shown ...
    assert not found(PRIVATE_PHONE) and not found(PRIVATE_STREET)  # ... but not its private details


def test_home_map_ships_positions_not_details(open_page, app_url, registry):
    p = open_page()
    text = _received_text(p.page, app_url + "/")
    # A sample station's name, address and phone are not in what the page received ...
    from geo.registry.store.gpkg import GeoPackageStore

    sample = GeoPackageStore(registry).load().iloc[0]
    for value in (sample["name"], sample["address"], sample["phone"]):
        assert value and value not in text and json.dumps(value)[1:-1] not in text
    # ... and the API gives them when asked, as JSON with escaped text.
    resp = p.page.request.get(f"{app_url}/api/v1/stations/{sample['id']}/popup")
    assert resp.ok and resp.json()["n"] == html.escape(sample["name"])
    assert p.page.request.get(f"{app_url}/api/v1/stations/RS-none/popup").status == 404


def test_home_map_renders_offline(open_page, app_url):
    p = open_page()
    goto(p.page, app_url + "/")
    assert_no_exception(p.page)
    _assert_markers(p.page)
    frame = map_frame(p.page)
    assert frame.locator(".marker-cluster").count() > 0
    assert frame.locator(".leaflet-overlay-pane canvas").count() > 0  # the boundaries
    p.page.get_by_text("示例数据 / sample data").first.wait_for()  # the sample banner
    assert p.page.locator("h1").first.inner_text().strip() == "广东职工服务地图"
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / "home_desktop.png")
    # Nothing was fetched from outside the app except basemap tiles.
    assert all("tile" in url or "basemaps" in url for url in p.blocked), p.blocked
    assert not p.errors, p.errors
    assert not p.dialogs


def test_english_from_url_and_switch_survives_page_change(open_page, app_url):
    p = open_page()
    goto(p.page, app_url + "/?lang=en")
    assert p.page.locator("h1").first.inner_text().strip() == "Guangdong Worker Service Map"
    _assert_markers(p.page)
    frame = map_frame(p.page)
    frame.get_by_text("Legend").first.wait_for()
    p.page.screenshot(path=ARTIFACTS / "home_desktop_en.png")

    # Back to Chinese with the sidebar switch; the URL follows.
    radio(p.page, "中文").click()
    p.page.wait_for_function("() => document.querySelector('h1') && "
                             "document.querySelector('h1').innerText.includes('广东职工服务地图')")
    assert "lang=zh" in p.page.url
    # English again, then to the Data page: the language must stay English.
    radio(p.page, "English").click()
    p.page.wait_for_function("() => document.querySelector('h1').innerText.includes('Guangdong')")
    p.page.locator('[data-testid="stSidebarNav"] a', has_text="Data").click()
    p.page.wait_for_function("() => document.querySelector('h1') && "
                             "document.querySelector('h1').innerText.trim() === 'Data'")
    wait_idle(p.page)
    assert "lang=en" in p.page.url
    assert_no_exception(p.page)


def test_hostile_station_shows_as_text(open_page, app_url, registry):
    p = open_page()
    goto(p.page, app_url + "/?lang=en")
    _assert_markers(p.page)
    _, lon, lat = _registry_id(registry, HOSTILE_NAME)
    popup = _open_station_popup(p.page, lon, lat)
    text = popup.inner_text()
    assert HOSTILE_NAME in text
    assert '" onmouseover="alert(2)" x="' in text
    assert "<script>alert(3)</script>" in text
    assert "javascript:alert(4)" in text and "<b>bold" in text
    assert popup.locator("img, script, b").count() == 0
    assert popup.locator("a[href^='javascript']").count() == 0
    p.page.wait_for_timeout(500)
    p.page.screenshot(path=ARTIFACTS / "home_popup_escaped.png")
    assert not p.dialogs, p.dialogs
    assert not p.errors, p.errors


def test_home_filter_swaps_layers_and_keeps_the_view(open_page, app_url):
    p = open_page()
    goto(p.page, app_url + "/?lang=en")
    _assert_markers(p.page)
    frame = p.page.wait_for_selector('iframe[src*="st_folium"]').content_frame()
    frame.wait_for_function("() => window.map_div !== undefined")
    frame.evaluate("() => { window.gdProbe = 1; window.map_div.setView([23.13, 113.3], 11, {animate: false}); }")
    layers = frame.locator(".leaflet-control-layers-overlays label")
    assert layers.count() == 4  # boundaries and the three kinds
    # Drop one kind in the sidebar: only the station layers change.
    p.page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first \
        .locator('[role="button"][aria-label*="Legal"], [aria-label*="Remove Legal"]').first.click()
    frame.wait_for_function("() => document.querySelectorAll('.leaflet-control-layers-overlays label').length === 3",
                            timeout=30_000)
    assert frame.evaluate("() => window.gdProbe") == 1  # the same map, not a reloaded one
    assert frame.evaluate("() => window.map_div.getZoom()") == 11
    assert not p.errors, p.errors


def test_amap_basemap_draws_in_gcj02(open_page, app_url):
    p = open_page()
    goto(p.page, app_url + "/?lang=en")
    _assert_markers(p.page)
    wait_idle(p.page)
    sidebar = p.page.locator('[data-testid="stSidebar"]')
    box = sidebar.locator('[data-testid="stSelectbox"]', has_text="Basemap")
    box.scroll_into_view_if_needed()
    option = p.page.get_by_role("option", name="Amap (高德)")
    for _ in range(3):  # a rerun that lands with the click closes the list again
        box.click()
        try:
            option.wait_for(timeout=10_000)
            break
        except Exception:
            wait_idle(p.page)
    option.click()
    sidebar.get_by_text("Amap tiles use GCJ-02").wait_for()
    wait_idle(p.page)
    # Another CRS means another map: the component draws a new frame.
    frame = map_frame(p.page)
    frame.locator(".leaflet-container").wait_for()
    assert frame.locator("body").evaluate("() => window.map_div.options.crs.code") == "GD:GCJ02"
    _assert_map_controls(frame)
    assert any("autonavi.com" in url for url in p.blocked), p.blocked
    p.page.screenshot(path=ARTIFACTS / "home_amap.png")
    assert not p.errors, p.errors


def test_phone_home(open_page, app_url):
    p = open_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    goto(p.page, app_url + "/")
    assert_no_exception(p.page)
    _assert_markers(p.page)
    frame = map_frame(p.page)
    # The legend starts folded on a phone so it does not cover the map.
    assert frame.locator(".gd-legend details[open]").count() == 0
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / "home_phone.png")
    # The whole page, as a person would scroll through it.
    p.page.set_viewport_size({"width": PHONE["width"], "height": 1400})
    p.page.wait_for_timeout(1200)
    p.page.screenshot(path=ARTIFACTS / "home_phone_full.png")


# --------------------------------------------------------------------------
# Data page
# --------------------------------------------------------------------------

def test_data_page_upload_reports_rejected_row(open_page, app_url, tmp_path):
    csv = tmp_path / "upload_test.csv"
    csv.write_text("名称,地址,经度,纬度,设施,开放时间\n"
                   "测试驿站一,广州市天河区体育西路1号,113.3245,23.1365,饮用水、卫生间,每天 8:00-18:00\n"
                   "测试驿站二,广州市越秀区北京路2号,not-a-number,23.1200,饮用水,\n", encoding="utf-8")
    p = open_page()
    goto(p.page, f"{app_url}/{DATA_PAGE}?lang=en")
    assert_no_exception(p.page)
    assert p.page.locator("h1").first.inner_text().strip() == "Data"
    login(p.page)
    p.page.screenshot(path=ARTIFACTS / "data_desktop.png")

    p.page.locator('input[type="file"]').first.set_input_files(str(csv))
    rejected = p.page.locator('[data-testid="stMetric"]', has_text="Rejected")
    rejected.wait_for(timeout=60_000)
    wait_idle(p.page)
    assert_no_exception(p.page)
    metrics = {m.inner_text().split("\n")[0].strip(): m.inner_text().split("\n")[-1].strip()
               for m in p.page.locator('[data-testid="stMetric"]').all()}
    # The layer is automatic per row by default: the accepted row is a rest
    # station by its name, and the report says so (one warning).
    assert metrics == {"Rows read": "2", "Accepted": "1", "Rejected": "1", "Warnings": "1"}, metrics
    p.page.get_by_text("Rejected rows", exact=True).wait_for()
    p.page.get_by_text("type not given; taken as rest_station from the name").wait_for(state="attached")
    p.page.get_by_text("Download rejected rows (CSV)").wait_for()
    # The accepted station is previewed on a map before anything is committed.
    _assert_markers(p.page)
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / "data_report_desktop.png")
    p.page.set_viewport_size({"width": DESKTOP["width"], "height": 2000})
    p.page.wait_for_timeout(1000)
    p.page.screenshot(path=ARTIFACTS / "data_report_full.png")

    p.page.get_by_role("button", name="Commit to registry").click()
    p.page.get_by_text("Committed: 1 new, 0 updated, 0 unchanged.").wait_for(timeout=60_000)
    wait_idle(p.page)
    assert_no_exception(p.page)
    assert not p.errors, p.errors


def test_data_page_phone(open_page, app_url):
    p = open_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    goto(p.page, f"{app_url}/{DATA_PAGE}")
    assert_no_exception(p.page)
    assert p.page.locator("h1").first.inner_text().strip() == "数据管理"
    p.page.screenshot(path=ARTIFACTS / "data_phone.png")
    login(p.page, "zh")
    p.page.get_by_role("button", name="退出登录").wait_for()
    assert_no_exception(p.page)
    p.page.screenshot(path=ARTIFACTS / "data_phone_logged_in.png")


def test_data_page_downloads_geojson(open_page, app_url, registry):
    import json

    from geo.registry.store import open_store

    p = open_page()
    goto(p.page, f"{app_url}/{DATA_PAGE}?lang=en")
    p.page.get_by_role("tab", name="Downloads").click()
    button = p.page.get_by_role("button", name="GeoJSON (WGS-84)")
    button.wait_for()
    with p.page.expect_download(timeout=60_000) as info:
        button.click()
    doc = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == len(open_store(registry).load())
    p.page.screenshot(path=ARTIFACTS / "data_downloads.png")
    assert_no_exception(p.page)


def test_data_page_editor_saves_to_the_registry(open_page, app_url, registry):
    from geo.registry.store import open_store

    store = open_store(registry)
    station = store.load(kinds=["driver_home"], statuses=["open"]).iloc[0]
    p = open_page()
    goto(p.page, f"{app_url}/{DATA_PAGE}?lang=en")
    login(p.page)
    p.page.get_by_role("tab", name="Edit a station").click()
    search = p.page.get_by_label("Find by name or ID")
    search.fill(station["id"])
    search.press("Enter")
    wait_idle(p.page)
    p.page.get_by_text(f"ID {station['id']} · version 1").wait_for()

    operator = p.page.get_by_label("Operator", exact=True)
    operator.fill("测试运营单位 <i>")
    p.page.get_by_role("button", name="Save changes").click()
    p.page.get_by_text("Saved (version 2).").wait_for(timeout=30_000)
    wait_idle(p.page)
    assert store.get(station["id"])["operator"] == "测试运营单位 <i>"

    p.page.get_by_role("button", name="Mark as closed").click()
    p.page.get_by_text("Saved (version 3).").wait_for(timeout=30_000)
    wait_idle(p.page)
    saved = store.get(station["id"])
    assert saved["status"] == "closed" and saved["version"] == 3
    # The audit log names the logged-in editor, not "app".
    assert store.history(station["id"])["editor"].head(2).tolist() == [EDITOR_USER, EDITOR_USER]
    assert_no_exception(p.page)
    p.page.screenshot(path=ARTIFACTS / "data_editor.png")

    # Logging out takes the editing controls away at once.
    p.page.get_by_role("button", name="Log out").click()
    p.page.get_by_text("Logged out.").wait_for(timeout=30_000)
    wait_idle(p.page)
    assert p.page.get_by_role("button", name="Save changes").count() == 0
    p.page.get_by_text("Editing needs an editor login").wait_for(state="attached")


def test_data_page_without_login_shows_no_import_or_edit_controls(open_page, app_url):
    p = open_page()
    got: list[str] = []
    p.page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda payload: got.append(payload if isinstance(payload, str)
                                                    else payload.decode("utf-8", "replace"))))
    goto(p.page, f"{app_url}/{DATA_PAGE}?lang=en")
    assert_no_exception(p.page)
    p.page.get_by_text("🔒 Editor login", exact=True).wait_for()
    p.page.get_by_text("Importing a file needs an editor login").wait_for()
    assert p.page.locator('input[type="file"]').count() == 0
    assert p.page.get_by_role("button", name="Commit to registry").count() == 0
    assert p.page.get_by_role("button", name="Remove sample data").count() == 0
    p.page.get_by_role("tab", name="Edit a station").click()
    p.page.get_by_text("Editing needs an editor login").wait_for()
    # The registry table is there, redacted: no private phone or street reaches the browser.
    p.page.locator('[data-testid="stDataFrame"]').first.wait_for()
    wait_idle(p.page)
    for name in ("Save changes", "Mark as closed", "Restore", "Restore station"):
        assert p.page.get_by_role("button", name=name, exact=True).count() == 0, name
    text = "\n".join(got)
    assert "福田内部驿站" in text
    assert PRIVATE_PHONE not in text and PRIVATE_STREET not in text
    p.page.screenshot(path=ARTIFACTS / "data_logged_out.png")


@pytest.mark.parametrize("lang, message", [("zh", "用户名或密码错误。"), ("en", "Wrong user name or password.")])
def test_data_page_wrong_password_is_refused(open_page, app_url, lang, message):
    p = open_page()
    goto(p.page, f"{app_url}/{DATA_PAGE}?lang={lang}")
    try_login(p.page, EDITOR_USER, "not the password", lang)
    p.page.get_by_text(message, exact=True).wait_for(timeout=30_000)
    assert p.page.get_by_text(LOGIN_TEXT[lang][4] + EDITOR_USER).count() == 0
    assert p.page.locator('input[type="file"]').count() == 0
    assert_no_exception(p.page)


def test_data_page_locks_a_name_after_repeated_failures(open_page, app_url):
    from geo import settings

    p = open_page()
    goto(p.page, f"{app_url}/{DATA_PAGE}?lang=en")
    # A name that does not exist is locked like a real one: the lock says nothing about it.
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        try_login(p.page, "intruder", "guess-guess-guess")
        p.page.get_by_text("Wrong user name or password.", exact=True).wait_for(timeout=30_000)
    try_login(p.page, "intruder", "guess-guess-guess")
    locked = p.page.get_by_text("Too many failed logins")
    locked.wait_for(timeout=30_000)
    assert "Try again after" in locked.inner_text()
    p.page.screenshot(path=ARTIFACTS / "data_login_locked.png")
    # Still locked on the next try, in Chinese too.
    radio(p.page, "中文").click()
    wait_idle(p.page)
    try_login(p.page, "intruder", "guess-guess-guess", "zh")
    p.page.get_by_text("登录失败次数过多").wait_for(timeout=30_000)
    assert_no_exception(p.page)


def test_data_page_restores_a_removed_and_a_closed_station(open_page, app_url, registry, tmp_path):
    import shutil

    from geo.registry.store import open_store

    store = open_store(registry)
    stations = store.load()
    removed = stations[stations["is_sample"]].iloc[0]
    closed = stations[(stations["status"] == "open") & ~stations["is_sample"]].iloc[0]
    # Removing the sample (and closing a station) is undone at the end, for the tests that follow.
    shutil.copy2(registry, tmp_path / "before.gpkg")
    try:
        store.set_status(closed["id"], "closed", editor="setup")
        p = open_page()
        goto(p.page, f"{app_url}/{DATA_PAGE}?lang=en")
        login(p.page)
        p.page.get_by_text("Remove sample data (").click()
        p.page.get_by_text("Yes, remove the").click()
        wait_idle(p.page)
        p.page.get_by_role("button", name="Remove sample data").click()
        p.page.get_by_text(f"Removed {int(stations['is_sample'].sum())} sample stations.").wait_for(timeout=60_000)
        wait_idle(p.page)
        assert store.get(removed["id"]) is None
        assert store.history(removed["id"])["editor"].iat[0] == EDITOR_USER

        p.page.get_by_role("tab", name="Edit a station").click()
        p.page.get_by_text("Removed and closed stations").click()
        search = p.page.get_by_label("Find a removed or closed station (name or ID)")
        search.fill(removed["id"])
        search.press("Enter")
        wait_idle(p.page)
        picked = p.page.locator('[data-testid="stSelectbox"] input').last.input_value()
        assert removed["id"] in picked and "removed (" in picked and EDITOR_USER in picked
        p.page.get_by_text("Restore this station").click()
        wait_idle(p.page)
        p.page.get_by_role("button", name="Restore station").click()
        p.page.get_by_text(f"Restored station {removed['id']}").wait_for(timeout=30_000)
        wait_idle(p.page)
        back = store.get(removed["id"])
        assert back is not None and back["name"] == removed["name"]
        hist = store.history(removed["id"])
        assert hist["action"].iat[0] == "restore" and hist["editor"].iat[0] == EDITOR_USER

        search.fill(closed["id"])
        search.press("Enter")
        wait_idle(p.page)
        p.page.get_by_role("button", name='Reopen (status back to "Open")').click()
        p.page.get_by_text(f"Restored station {closed['id']}").wait_for(timeout=30_000)
        wait_idle(p.page)
        assert store.get(closed["id"])["status"] == "open"
        assert store.history(closed["id"])["editor"].iat[0] == EDITOR_USER
        assert_no_exception(p.page)
        p.page.screenshot(path=ARTIFACTS / "data_restore_removed.png")
    finally:
        shutil.copy2(tmp_path / "before.gpkg", tmp_path / "put-back.gpkg")
        os.replace(tmp_path / "put-back.gpkg", registry)


# --------------------------------------------------------------------------
# Entry script, and the link to the worker page
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def entered(browser, app_url) -> str:
    """The app's address, once its entry script has run.

    Until some session has run ``app.py`` (and so ``st.navigation``), Streamlit
    takes ``pages/`` for an old-style multipage folder and answers a page's
    path with a "Page not found" dialog before showing it: a real server shows
    that to its first visitor only. Opening the home page first makes these
    tests independent of the order they run in.
    """
    p = AppPage(browser, app_url, DESKTOP)
    goto(p.page, app_url + "/")
    p.close()
    return app_url


def _full_screenshot(page, path: Path) -> None:
    """The whole page as a person scrolls through it (Streamlit scrolls an inner element, not the document)."""
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(1200)
    page.screenshot(path=path)
    page.set_viewport_size(size)


def _assert_tap_targets(page, selector: str, minimum: float = 44.0) -> None:
    # Measured in one go in the page, so a rerun cannot swap elements mid-way.
    boxes = page.eval_on_selector_all(selector, """els => els.filter(e => e.offsetParent !== null)
        .map(e => { const r = e.getBoundingClientRect();
                    return {text: e.innerText.trim().slice(0, 20), width: r.width, height: r.height}; })""")
    assert boxes, f"nothing visible matches {selector}"
    small = [b for b in boxes if b["height"] < minimum - 0.5]
    assert not small, f"{len(small)} of {len(boxes)} tap targets under {minimum}px: {small[:3]}"


def test_home_page_and_navigation_link_to_the_worker_page(open_page, entered):
    # The worker finder is /finder, outside Streamlit (tests/web/test_worker_page.py): make run serves it.
    p = open_page(PHONE, is_mobile=True, has_touch=True)
    goto(p.page, entered + "/")
    p.page.get_by_role("link", name="找离我最近的站").click()
    p.page.wait_for_function("() => location.pathname === '/finder'")
    p.page.locator("h1", has_text="找最近的站").wait_for(timeout=30_000)
    assert p.page.locator("#q").is_visible() and p.page.locator("#locate").is_visible()
    assert not p.page.locator('[data-testid="stApp"]').count()  # the worker page, not a Streamlit page
    q = open_page(DESKTOP)
    goto(q.page, entered + "/coverage")
    link = q.page.locator('[data-testid="stSidebar"] a[href="/finder"]')
    link.wait_for(timeout=30_000)
    assert "Finder" in link.inner_text()
    assert not p.errors and not q.errors, (p.errors, q.errors)


# --------------------------------------------------------------------------
# Coverage page (planners)
# --------------------------------------------------------------------------

COVERAGE_PAGE = "coverage"


@pytest.fixture(scope="module")
def coverage_url(entered) -> str:
    """The coverage page's address; ``entered`` has run the entry script once (see its docstring)."""
    return entered + "/" + COVERAGE_PAGE


def _figures(page) -> dict[str, str]:
    """The headline figures as label -> value."""
    page.locator(".cv-figs").first.wait_for(timeout=60_000)
    return {fig.locator(".cv-fig-label").inner_text().strip(): fig.locator(".cv-fig-value").inner_text().strip()
            for fig in page.locator(".cv-figs .cv-fig").all()}


def _wait_bands(page):
    frame = map_frame(page)
    frame.locator("path.cv-band").first.wait_for(timeout=60_000)
    return frame


def _pick(page, index: int, option: str) -> None:
    """Choose ``option`` in the ``index``-th selectbox of the sidebar and wait for the rerun."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').nth(index).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page, timeout=120_000)


@pytest.mark.parametrize("viewport, name", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_coverage_page_loads(open_page, coverage_url, viewport, name):
    phone = viewport is PHONE
    p = open_page(viewport, is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1)
    goto(p.page, coverage_url + ("?lang=en" if phone else ""))
    assert_no_exception(p.page)
    title = "Service coverage" if phone else "服务覆盖分析"
    assert p.page.locator("h1").first.inner_text().strip() == title
    frame = _wait_bands(p.page)
    wait_idle(p.page)
    # The first view is Shenzhen: figures, the standard in use, the travel-band map with its legend.
    figures = _figures(p.page)
    share = figures["Covered by area" if phone else "面积覆盖率"]
    assert share.endswith("%") and 0 <= float(share[:-1]) <= 100
    assert ("Standard: rest station within 15 min by e-bike" if phone else "服务标准：户外劳动者驿站：电动自行车 15 分钟内") \
        in p.page.locator('[data-testid="stMain"]').inner_text()
    assert frame.locator("path.leaflet-interactive").count() > 0
    assert frame.locator(".gd-legend").count() == 1
    assert "估算 / estimate" in frame.locator(".gd-legend").text_content()  # Shenzhen is only partly on the network
    _assert_map_controls(frame)
    if phone:  # the legend starts folded, and nothing sticks out sideways
        assert frame.locator(".gd-legend details[open]").count() == 0
        assert p.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / f"coverage_{name}.png")
    _full_screenshot(p.page, ARTIFACTS / f"coverage_{name}_full.png")
    assert not p.errors, p.errors
    assert all("tile" in url or "basemaps" in url for url in p.blocked), p.blocked


def test_coverage_page_picks_a_district(open_page, coverage_url):
    p = open_page()
    goto(p.page, coverage_url)
    _wait_bands(p.page)
    _pick(p.page, 0, "深圳市")
    _pick(p.page, 1, "福田区")
    assert_no_exception(p.page)
    main = p.page.locator('[data-testid="stMain"]')
    main.get_by_text("福田区 · 服务标准").wait_for(timeout=60_000)
    figures = _figures(p.page)
    assert figures["格网"].endswith("H3 8 级")
    assert figures["面积覆盖率"].endswith("%")
    estimated, cells = (int(x.replace(",", "")) for x in figures["估算的格网"].split(" / "))
    # The method is the share of cells by method, the larger first (issue 16).
    est_pct, net_pct = round(100 * estimated / cells), round(100 * (cells - estimated) / cells)
    if ROADS_PBF.exists():  # Futian is mostly on the Shenzhen extract; a few cells lie beyond it
        assert 0 < estimated < cells and 0 < est_pct < net_pct < 100
        assert figures["计算方法"] == f"路网 {net_pct} %，估算 {est_pct} %"
    else:
        assert figures["计算方法"] == "估算 100 %" and estimated == cells
    frame = _wait_bands(p.page)
    assert frame.locator("path.leaflet-interactive").count() > 0
    # The district table: one sortable row for 福田区 (the grid's accessible table holds the text).
    table = p.page.locator('.st-key-cv_district_table, [data-testid="stDataFrame"]').first
    table.locator("td", has_text="福田区").first.wait_for(state="attached", timeout=30_000)
    # The printable report downloads, and names the district.
    button = p.page.get_by_role("button", name="打印报告（HTML）")
    assert button.count() == 1
    with p.page.expect_download(timeout=60_000) as info:
        button.click()
    assert info.value.suggested_filename == "coverage_440304_rest_station_r8_report.html"
    # The report says what the page says, and what it was made from.
    report = Path(info.value.path()).read_text(encoding="utf-8")
    assert figures["计算方法"] in report and "登记库版本 / registry version: 审计记录 #" in report
    assert "含示例数据 / includes sample data" in report
    report = Path(info.value.path()).read_text(encoding="utf-8")
    assert "福田区" in report and "<svg" in report
    for label in ("缺口 GeoJSON", "格网 CSV", "格网 GeoJSON", "区县表 CSV"):
        assert p.page.get_by_role("button", name=label).count() == 1
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / "coverage_futian_desktop.png")
    _full_screenshot(p.page, ARTIFACTS / "coverage_futian_full.png")
    assert not p.errors, p.errors


# --------------------------------------------------------------------------
# Siting page (planners: where to build next)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def siting_url(entered) -> str:
    """The siting page's address; ``entered`` has run the entry script once (see its docstring)."""
    return entered + "/" + SITING_PAGE


def _site_numbers(page) -> list[str]:
    """The numbers on the proposed-site markers of the siting map, in drawing order."""
    frame = map_frame(page)
    frame.locator(".st-site").first.wait_for(timeout=60_000)
    return [n.inner_text().strip() for n in frame.locator(".st-site .st-site-num").all()]


def _siting_figures(page) -> dict[str, str]:
    """The siting headline figures as data-fig key -> value."""
    page.locator(".si-figs").first.wait_for(timeout=60_000)
    return {fig.get_attribute("data-fig"): fig.locator(".cv-fig-value").inner_text().strip()
            for fig in page.locator(".si-figs .cv-fig").all()}


def _shares(text: str) -> tuple[float, float]:
    before, after = (float(x.strip().rstrip("%")) for x in text.split("→"))
    return before, after


def _set_sites(page, n: int) -> float:
    """Move the sites slider to ``n`` with the keyboard; returns seconds until the map shows ``n`` markers."""
    thumb = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
    now = int(thumb.input_value())
    thumb.focus()
    started = time.monotonic()
    for _ in range(abs(n - now)):
        thumb.press("ArrowRight" if n > now else "ArrowLeft")
    page.wait_for_function("""(n) => {
        const f = document.querySelector('iframe[src*="st_folium"]');
        const d = f && f.contentDocument;
        return d && d.querySelectorAll('.st-site').length === n;
    }""", arg=n, timeout=60_000)
    elapsed = time.monotonic() - started
    wait_idle(page)
    return elapsed


def _table_row(page, key: str, first_cell: str) -> list[str]:
    """The cells of the row of a st.dataframe (by widget key) whose text holds ``first_cell``."""
    table = page.locator(f".st-key-{key}")
    row = table.locator("tr", has=page.locator("td", has_text=first_cell)).first
    row.wait_for(state="attached", timeout=30_000)
    return [c.text_content().strip() for c in row.locator("td").all()]


@pytest.mark.parametrize("viewport, name", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_siting_page_loads(open_page, siting_url, viewport, name):
    phone = viewport is PHONE
    p = open_page(viewport, is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1)
    goto(p.page, siting_url + ("?lang=en" if phone else ""))
    assert_no_exception(p.page)
    assert p.page.locator("h1").first.inner_text().strip() == ("Where to build next" if phone else "新站点选址")
    # Shenzhen, 5 new sites by default: numbered markers, the figures, the solver named.
    assert _site_numbers(p.page) == ["1", "2", "3", "4", "5"]
    wait_idle(p.page)
    assert_no_exception(p.page)
    figures = _siting_figures(p.page)
    before, after = _shares(figures["share"])
    assert 0 <= before <= after <= 100
    assert figures["method"] == ("Greedy preview" if phone else "贪心预览")
    main = p.page.locator('[data-testid="stMain"]').inner_text()
    assert "(1−1/e)" in main
    frame = map_frame(p.page)
    assert frame.locator("path.st-new").count() > 0  # the newly covered cells
    assert frame.locator("path.cv-band").count() > 0  # over the existing coverage
    assert frame.locator(".gd-legend").count() == 1
    _assert_map_controls(frame)
    if phone:  # the legend starts folded, the button is a tap target, nothing sticks out sideways
        assert frame.locator(".gd-legend details[open]").count() == 0
        _assert_tap_targets(p.page, ".st-key-si_exact_box button, .st-key-si_downloads button")
        assert p.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / f"siting_{name}.png")
    _full_screenshot(p.page, ARTIFACTS / f"siting_{name}_full.png")
    assert not p.errors, p.errors
    assert all("tile" in url or "basemaps" in url for url in p.blocked), p.blocked


def test_siting_budget_slider_previews_and_tables(open_page, siting_url):
    p = open_page()
    goto(p.page, siting_url)
    _site_numbers(p.page)
    wait_idle(p.page)
    seconds = _set_sites(p.page, 8)
    print(f"siting preview: slider 5 -> 8 redrawn in {seconds:.2f} s")
    (ARTIFACTS / "siting_preview_latency.txt").write_text(f"slider 5 -> 8: {seconds:.2f} s\n", encoding="utf-8")
    assert seconds < 10
    assert _site_numbers(p.page) == [str(i) for i in range(1, 9)]
    assert_no_exception(p.page)
    figures = _siting_figures(p.page)
    assert figures["sites"] == "8"
    # The before/after table: the total first, after >= before, and every district after >= before.
    total = _table_row(p.page, "si_before_after", "合计 · 深圳市")
    before, after = (float(x.rstrip("%")) for x in total[1:3])
    assert 0 <= before <= after <= 100
    assert (before, after) == pytest.approx(_shares(figures["share"]), abs=0.051)
    for district in ("福田区", "龙岗区", "宝安区"):
        cells = _table_row(p.page, "si_before_after", district)
        assert float(cells[2].rstrip("%")) >= float(cells[1].rstrip("%"))
    # The proposal downloads as planned stations the registry imports.
    with p.page.expect_download(timeout=60_000) as info:
        p.page.get_by_role("button", name="规划站点 GeoJSON").click()
    doc = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert [f["properties"]["status"] for f in doc["features"]] == ["planned"] * 8
    assert info.value.suggested_filename == "440300-rest_station-mclp-p8_proposal.geojson"
    with p.page.expect_download(timeout=60_000) as info:
        p.page.get_by_role("button", name="前后对比表 CSV").click()
    assert Path(info.value.path()).read_text(encoding="utf-8-sig").splitlines()[0].startswith("scenario,name")
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / "siting_p8_desktop.png")
    assert not p.errors, p.errors


def test_siting_exact_solve_shows_the_method(open_page, siting_url):
    p = open_page()
    goto(p.page, siting_url + "?lang=en")
    _site_numbers(p.page)
    wait_idle(p.page)
    p.page.get_by_role("button", name="精确求解 / Solve exactly").click()
    p.page.get_by_text("Solved exactly (").first.wait_for(timeout=120_000)
    wait_idle(p.page)
    assert_no_exception(p.page)
    figures = _siting_figures(p.page)
    assert figures["method"] == "Exact · proven optimal"
    assert "Exact (HiGHS) · proven optimal (gap 0)" in p.page.locator('[data-testid="stMain"]').inner_text()
    assert len(_site_numbers(p.page)) == 5
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / "siting_exact_desktop.png")
    assert not p.errors, p.errors


def test_siting_scenarios_save_and_compare(open_page, siting_url):
    p = open_page()
    goto(p.page, siting_url)
    _site_numbers(p.page)
    wait_idle(p.page)
    login(p.page, "zh")  # saving scenarios needs an editor login
    form = p.page.locator('[data-testid="stForm"]')
    for n, name in ((5, "深圳 5 站 <b>"), (9, "深圳 9 站")):
        if n != 5:
            _set_sites(p.page, n)
        box = form.get_by_label("方案名称")
        box.fill(name)
        box.press("Tab")
        form.get_by_role("button", name="保存方案").click()
        p.page.get_by_text(f"已保存方案“{name}”。").wait_for(timeout=30_000)
        wait_idle(p.page)
    assert_no_exception(p.page)
    # The two newest are compared side by side.
    table = p.page.locator(".st-key-si_compare_table")
    table.wait_for(timeout=30_000)
    table.locator("th", has_text="深圳 9 站").first.wait_for(state="attached", timeout=30_000)
    text = table.text_content()
    assert "深圳 5 站 <b>" in text and "深圳 9 站" in text
    row = _table_row(p.page, "si_compare_table", "新站点")
    assert row[-2:] in (["9", "5"], ["5", "9"])
    assert p.page.locator('[data-testid="stMain"] b', has_text="深圳").count() == 0  # names stay text
    p.page.wait_for_timeout(800)
    _full_screenshot(p.page, ARTIFACTS / "siting_scenarios_full.png")
    assert not p.errors, p.errors
