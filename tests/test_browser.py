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

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
DATA_PAGE = "数据_Data"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not installed at {CHROMIUM}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"streamlit not healthy after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("registry") / "registry.gpkg"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, registry) -> str:
    from geo.store import open_store

    tmp = tmp_path_factory.mktemp("browser")
    store = open_store(registry, seed_sample=True)
    store.add({"kind": "rest_station", "name": HOSTILE_NAME, "address": '" onmouseover="alert(2)" x="',
               "operator": "<script>alert(3)</script>", "phone": "javascript:alert(4)",
               "facilities_other": ["<b>bold"], "lon": 113.3301, "lat": 23.1402})
    port = _free_port()
    env = {**os.environ, "GEO_REGISTRY": str(registry)}
    log = tmp / "streamlit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class _Page:
    """A page that may only talk to the app, and records what went wrong."""

    def __init__(self, browser, app_url: str, viewport: dict, **kw):
        self.ctx = browser.new_context(viewport=viewport, **kw)
        self.page = self.ctx.new_page()
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        app_host = urlsplit(app_url).netloc
        self.ctx.route("**/*", self._only_app(app_host))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)

    def _only_app(self, host: str):
        def handle(route):
            if urlsplit(route.request.url).netloc == host:
                route.continue_()
            else:
                self.blocked.append(route.request.url)
                route.abort()
        return handle

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture
def open_page(browser, app_url):
    pages: list[_Page] = []

    def factory(viewport: dict = DESKTOP, **kw) -> _Page:
        page = _Page(browser, app_url, viewport, **kw)
        pages.append(page)
        return page

    yield factory
    for page in pages:
        page.close()


def _goto(page, url: str) -> None:
    page.goto(url)
    _wait_idle(page)


def _wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished running the script."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def _assert_no_exception(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()


def _radio(page, label: str):
    return page.locator('[data-testid="stRadio"] label', has_text=label)


def _map_frame(page, index: int = 0):
    page.wait_for_selector('iframe[src*="st_folium"]', timeout=30_000)
    return page.frame_locator('iframe[src*="st_folium"]').nth(index)


def _assert_markers(page, index: int = 0) -> None:
    frame = _map_frame(page, index)
    # Cluster bubbles and single pins are both Leaflet marker icons.
    frame.locator(".leaflet-marker-icon").first.wait_for(timeout=30_000)
    assert frame.locator(".leaflet-marker-icon").count() > 0
    assert frame.locator(".leaflet-control-layers").count() == 1
    assert frame.locator(".gd-legend").count() == 1


# --------------------------------------------------------------------------
# Home page (the map)
# --------------------------------------------------------------------------

def test_home_map_renders_offline(open_page, app_url):
    p = open_page()
    _goto(p.page, app_url + "/")
    _assert_no_exception(p.page)
    _assert_markers(p.page)
    frame = _map_frame(p.page)
    assert frame.locator(".marker-cluster").count() > 0
    assert frame.locator("path.leaflet-interactive, svg path").count() > 0  # the boundaries
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
    _goto(p.page, app_url + "/?lang=en")
    assert p.page.locator("h1").first.inner_text().strip() == "Guangdong Worker Service Map"
    _assert_markers(p.page)
    frame = _map_frame(p.page)
    frame.get_by_text("Legend").first.wait_for()
    p.page.screenshot(path=ARTIFACTS / "home_desktop_en.png")

    # Back to Chinese with the sidebar switch; the URL follows.
    _radio(p.page, "中文").click()
    p.page.wait_for_function("() => document.querySelector('h1') && "
                             "document.querySelector('h1').innerText.includes('广东职工服务地图')")
    assert "lang=zh" in p.page.url
    # English again, then to the Data page: the language must stay English.
    _radio(p.page, "English").click()
    p.page.wait_for_function("() => document.querySelector('h1').innerText.includes('Guangdong')")
    p.page.locator('[data-testid="stSidebarNav"] a', has_text="Data").click()
    p.page.wait_for_function("() => document.querySelector('h1') && "
                             "document.querySelector('h1').innerText.trim() === 'Data'")
    _wait_idle(p.page)
    assert "lang=en" in p.page.url
    _assert_no_exception(p.page)


def test_hostile_station_shows_as_text(open_page, app_url):
    p = open_page()
    _goto(p.page, app_url + "/?lang=en")
    _assert_markers(p.page)
    frame_el = p.page.wait_for_selector('iframe[src*="st_folium"]')
    frame = frame_el.content_frame()
    frame.wait_for_function("() => window.map_div !== undefined")
    found = frame.evaluate("""(needle) => new Promise((resolve) => {
        let hit = null;
        window.map_div.eachLayer((layer) => {
            if (hit || !layer.getLayers) { return; }
            layer.getLayers().forEach((m) => {
                const tip = m.getTooltip && m.getTooltip();
                if (!hit && tip && String(tip.getContent()).includes(needle)) { hit = [layer, m]; }
            });
        });
        if (!hit) { resolve(false); return; }
        hit[0].zoomToShowLayer(hit[1], () => { hit[1].openPopup(); hit[1].openTooltip(); resolve(true); });
    })""", "onerror")
    assert found, "the hostile station is not on the map"
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert HOSTILE_NAME in text
    assert '" onmouseover="alert(2)" x="' in text
    assert "<script>alert(3)</script>" in text
    assert "javascript:alert(4)" in text and "<b>bold" in text
    assert popup.locator("img, script, b").count() == 0
    assert popup.locator("a[href^='javascript']").count() == 0
    assert frame.locator(".leaflet-tooltip", has_text=HOSTILE_NAME).count() == 1
    p.page.wait_for_timeout(500)
    p.page.screenshot(path=ARTIFACTS / "home_popup_escaped.png")
    assert not p.dialogs, p.dialogs
    assert not p.errors, p.errors


def test_phone_home(open_page, app_url):
    p = open_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    _goto(p.page, app_url + "/")
    _assert_no_exception(p.page)
    _assert_markers(p.page)
    frame = _map_frame(p.page)
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
    _goto(p.page, f"{app_url}/{DATA_PAGE}?lang=en")
    _assert_no_exception(p.page)
    assert p.page.locator("h1").first.inner_text().strip() == "Data"
    p.page.screenshot(path=ARTIFACTS / "data_desktop.png")

    p.page.locator('input[type="file"]').first.set_input_files(str(csv))
    rejected = p.page.locator('[data-testid="stMetric"]', has_text="Rejected")
    rejected.wait_for(timeout=60_000)
    _wait_idle(p.page)
    _assert_no_exception(p.page)
    metrics = {m.inner_text().split("\n")[0].strip(): m.inner_text().split("\n")[-1].strip()
               for m in p.page.locator('[data-testid="stMetric"]').all()}
    assert metrics == {"Rows read": "2", "Accepted": "1", "Rejected": "1", "Warnings": "0"}, metrics
    p.page.get_by_text("Rejected rows", exact=True).wait_for()
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
    _wait_idle(p.page)
    _assert_no_exception(p.page)
    assert not p.errors, p.errors


def test_data_page_phone(open_page, app_url):
    p = open_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    _goto(p.page, f"{app_url}/{DATA_PAGE}")
    _assert_no_exception(p.page)
    assert p.page.locator("h1").first.inner_text().strip() == "数据管理"
    p.page.screenshot(path=ARTIFACTS / "data_phone.png")


def test_data_page_downloads_geojson(open_page, app_url, registry):
    import json

    from geo.store import open_store

    p = open_page()
    _goto(p.page, f"{app_url}/{DATA_PAGE}?lang=en")
    p.page.get_by_role("tab", name="Downloads").click()
    button = p.page.get_by_role("button", name="GeoJSON (WGS-84)")
    button.wait_for()
    with p.page.expect_download(timeout=60_000) as info:
        button.click()
    doc = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == len(open_store(registry).load())
    p.page.screenshot(path=ARTIFACTS / "data_downloads.png")
    _assert_no_exception(p.page)


def test_data_page_editor_saves_to_the_registry(open_page, app_url, registry):
    from geo.store import open_store

    store = open_store(registry)
    station = store.load(kinds=["driver_home"], statuses=["open"]).iloc[0]
    p = open_page()
    _goto(p.page, f"{app_url}/{DATA_PAGE}?lang=en")
    p.page.get_by_role("tab", name="Edit a station").click()
    search = p.page.get_by_label("Find by name or ID")
    search.fill(station["id"])
    search.press("Enter")
    _wait_idle(p.page)
    p.page.get_by_text(f"ID {station['id']} · version 1").wait_for()

    operator = p.page.get_by_label("Operator", exact=True)
    operator.fill("测试运营单位 <i>")
    p.page.get_by_role("button", name="Save changes").click()
    p.page.get_by_text("Saved (version 2).").wait_for(timeout=30_000)
    _wait_idle(p.page)
    assert store.get(station["id"])["operator"] == "测试运营单位 <i>"

    p.page.get_by_role("button", name="Mark as closed").click()
    p.page.get_by_text("Saved (version 3).").wait_for(timeout=30_000)
    _wait_idle(p.page)
    saved = store.get(station["id"])
    assert saved["status"] == "closed" and saved["version"] == 3
    _assert_no_exception(p.page)
    p.page.screenshot(path=ARTIFACTS / "data_editor.png")
