"""Real-browser tests of the home and Data pages of the Streamlit app, offline.

The app, its registry and the browser: ``browser_app.py`` (this file's own
server). Screenshots go to ``test-artifacts/`` for a person to look at. The
coverage and siting pages: ``test_browser_planner.py``.
"""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pytest

# The fixtures are imported so that this module gets its own app server and browser.
from browser_app import (HOSTILE_NAME, PRIVATE_PHONE, PRIVATE_STREET, app_url, assert_markers,  # noqa: F401
                         assert_map_controls, entered, open_page, registry)
from browser_kit import (ARTIFACTS, DATA_PAGE, DESKTOP, EDITOR_USER, LOGIN_TEXT, PHONE, browser,  # noqa: F401
                         assert_no_exception, goto, login, map_frame, needs_chromium, radio, try_login, wait_idle)

pytestmark = needs_chromium


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
    assert_markers(p.page)
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
    assert_markers(p.page)
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
    assert_markers(p.page)
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
    assert_markers(p.page)
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
    assert_markers(p.page)
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
    assert_map_controls(frame)
    assert any("autonavi.com" in url for url in p.blocked), p.blocked
    p.page.screenshot(path=ARTIFACTS / "home_amap.png")
    assert not p.errors, p.errors


def test_phone_home(open_page, app_url):
    p = open_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    goto(p.page, app_url + "/")
    assert_no_exception(p.page)
    assert_markers(p.page)
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
    assert_markers(p.page)
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

