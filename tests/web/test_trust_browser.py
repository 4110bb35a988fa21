"""In a real browser: data shown as text, and scenarios behind the editor login.

One ``streamlit run serve.py`` (sample registry, one editor account, no
road network: estimates are enough here) and Debian's Chromium through
Playwright. The pages may talk to the app and to one local "beacon"
server that counts every request it gets: Markdown from data
(``![x](http://127.0.0.1:PORT/beacon)`` in a shared link's ``place=``, an
uploaded file's name, a GeoJSON ``crs`` name, GeoPackage layer names) must
show as text, so the beacon must never be asked for anything.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from browser_kit import (DATA_PAGE, DESKTOP, EDITOR_USER, PHONE, SITING_PAGE, app_server,  # noqa: F401
                         assert_no_exception, browser, goto, login, needs_chromium, pages, wait_idle)
from conftest import load_bench

load = load_bench("load")

pytestmark = needs_chromium


# --------------------------------------------------------------------------
# The app, the beacon and the browser
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app's URL and its registry (where saved scenarios are kept)."""
    folder = tmp_path_factory.mktemp("trust-browser")
    registry = load.sample_registry(folder / "registry.gpkg")
    with app_server(folder / "server", registry) as url:
        yield url, registry


class Beacon:
    """A local HTTP server that records every request (any method, any path)."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def _hit(self):
                hits.append(f"{self.command} {self.path}")
                self.send_response(204)
                self.end_headers()

            do_GET = do_HEAD = do_POST = do_OPTIONS = _hit

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        #: An image (fetched as soon as it is drawn) and a link (drawn as an <a>), short enough
        #: for a shared link's place label (60 characters).
        self.markdown = f"![x](http://{self.host}/b) [l](http://{self.host}/l)"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def beacon():
    b = Beacon()
    yield b
    b.close()


@pytest.fixture
def open_page(browser, app, beacon):
    """New pages that may reach the app and the beacon, nothing else (Playwright pages, with ``.errors``)."""
    beacon.hits.clear()
    with pages(browser, app[0], also=(beacon.host,)) as factory:
        def page(viewport: dict = DESKTOP, **kw):
            made = factory(viewport, **kw)
            made.page.errors = made.errors
            return made.page

        yield page


def _assert_no_beacon(page, beacon: Beacon) -> None:
    """Nothing asked the beacon for anything, and no image or link points at it."""
    page.wait_for_timeout(1500)  # time for an image to load, had one been drawn
    assert beacon.hits == [], beacon.hits
    host = beacon.host
    drawn = page.locator(f'img[src*="{host}"], a[href*="{host}"], source[srcset*="{host}"]').count()
    assert drawn == 0
    for frame in page.frames:
        assert frame.locator(f'img[src*="{host}"], a[href*="{host}"]').count() == 0


def _shows_text(page, text: str) -> None:
    """``text`` is on the page as written (so the test saw the value, not nothing).

    Word joiners (U+2060, invisible) are ignored: geo.core.text puts them into
    URLs so that Markdown does not turn them into links.
    """
    page.wait_for_function("t => document.body.innerText.replaceAll('\\u2060', '').includes(t)", arg=text,
                           timeout=60_000)


# --------------------------------------------------------------------------
# Markdown from data shows as text
# --------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["markdown", "html"])
def test_place_in_a_shared_link_shows_as_text(open_page, app, beacon, how):
    # The worker page (/finder, served beside Streamlit by make run) names its origin from the link.
    place = beacon.markdown if how == "markdown" else f'<img src="http://{beacon.host}/beacon">'
    page = open_page(PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{app[0]}/finder?lon=114.0579&lat=22.5431&lang=en&place={quote(place)}")
    page.locator("#cards > li.card").first.wait_for(timeout=60_000)
    _assert_no_beacon(page, beacon)
    _shows_text(page, place)
    assert page.locator("#status img, #cards img").count() == 0


def test_an_uploaded_file_name_shows_as_text(open_page, app, beacon):
    page = open_page()
    goto(page, f"{app[0]}/{SITING_PAGE}?lang=en")
    page.locator('[data-testid="stSidebar"] label', has_text="An uploaded file").click()
    wait_idle(page)
    name = f"{beacon.markdown}.geojson"
    page.locator('[data-testid="stSidebar"] input[type="file"]').first.set_input_files(
        {"name": name, "mimeType": "application/geo+json", "buffer": b'{"type": "FeatureCollection", '})
    page.get_by_text("The candidate file cannot be read").first.wait_for(timeout=60_000)
    wait_idle(page)
    _assert_no_beacon(page, beacon)
    _shows_text(page, beacon.markdown)
    assert_no_exception(page)


def _geojson_with_crs_name(name: str) -> bytes:
    return json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": name}},
                       "features": [{"type": "Feature",
                                     "geometry": {"type": "Point", "coordinates": [113.3245, 23.1375]},
                                     "properties": {"名称": "天河测试驿站", "类型": "工会驿站"}}]}).encode("utf-8")


def _geopackage_with_layers(path: Path, names: list[str]) -> bytes:
    """A GeoPackage whose layers have these names (GDAL refuses to write such names; SQLite takes any)."""
    import geopandas as gpd
    from shapely.geometry import Point

    for i, safe in enumerate(f"layer{k}" for k in range(len(names))):
        gpd.GeoDataFrame({"名称": [f"测试驿站{i}"], "类型": ["工会驿站"]}, geometry=[Point(113.32 + i / 100, 23.13)],
                         crs="EPSG:4326").to_file(path, layer=safe, driver="GPKG", engine="pyogrio",
                                                  SPATIAL_INDEX="NO")
    with sqlite3.connect(path) as con:
        for k, name in enumerate(names):
            con.execute(f'ALTER TABLE "layer{k}" RENAME TO "{name}"')
            con.execute("UPDATE gpkg_contents SET table_name = ?, identifier = ? WHERE table_name = ?",
                        (name, name, f"layer{k}"))
            con.execute("UPDATE gpkg_geometry_columns SET table_name = ? WHERE table_name = ?", (name, f"layer{k}"))
    return path.read_bytes()


@pytest.mark.parametrize("what", ["crs_name", "layer_names", "file_name"])
def test_names_inside_an_imported_file_show_as_text(open_page, app, beacon, tmp_path, what):
    page = open_page()
    goto(page, f"{app[0]}/{DATA_PAGE}?lang=en")
    login(page)
    upload = page.locator('input[type="file"]').first
    if what == "crs_name":
        upload.set_input_files({"name": "stations.geojson", "mimeType": "application/geo+json",
                                "buffer": _geojson_with_crs_name(beacon.markdown)})
        page.get_by_text("Coordinate system used").first.wait_for(timeout=60_000)
    elif what == "layer_names":
        data = _geopackage_with_layers(tmp_path / "two.gpkg", [f"{beacon.markdown} {k}" for k in "ab"])
        upload.set_input_files({"name": "two.gpkg", "mimeType": "application/geopackage+sqlite3", "buffer": data})
        page.get_by_text("read 2 layers").first.wait_for(timeout=60_000)
    else:
        upload.set_input_files({"name": f"{beacon.markdown}.geojson", "mimeType": "application/geo+json",
                                "buffer": b'{"type": "FeatureCollection", '})
        page.get_by_text("Cannot read the file").first.wait_for(timeout=60_000)
    wait_idle(page)
    _assert_no_beacon(page, beacon)
    _shows_text(page, beacon.markdown)
    assert_no_exception(page)


# --------------------------------------------------------------------------
# Scenarios: anyone runs, downloads and compares; editors save, replace and delete
# --------------------------------------------------------------------------

def _scenario_form(page):
    return page.locator('[data-testid="stForm"]', has=page.get_by_label("Scenario name"))


def _save(page, name: str, replace: bool = False) -> None:
    form = _scenario_form(page)
    box = form.get_by_label("Scenario name")
    box.fill(name)
    box.press("Tab")
    if replace:
        form.get_by_text("Replace a scenario of the same name", exact=True).click()
    form.get_by_role("button", name="Save scenario").click()
    wait_idle(page)


def test_scenarios_need_an_editor_login(open_page, app):
    from geo.analysis import scenarios as sc
    from geo.registry.store import open_store

    url, registry = app
    folder = registry.parent  # no server path may be shown
    page = open_page()
    goto(page, f"{url}/{SITING_PAGE}?lang=en")
    page.get_by_text("Anyone may run, download and compare plans").wait_for(timeout=60_000)
    wait_idle(page)
    # The public: downloads, no saving, no deleting, no folder.
    # Anyone may download the plan (waited for: the downloads render after the solve, later under load).
    page.locator(".st-key-si_downloads").get_by_text("Proposed sites GeoJSON").wait_for(timeout=60_000)
    assert page.locator(".st-key-si_downloads").get_by_text("Proposed sites GeoJSON").count() == 1
    assert _scenario_form(page).count() == 0
    assert page.get_by_text("Delete a scenario").count() == 0
    assert page.get_by_text("Scenarios are kept on the server").count() == 0
    assert str(folder) not in page.content()

    login(page)
    _save(page, "方案 甲")
    page.get_by_text("Saved scenario “方案 甲”.").wait_for(timeout=30_000)
    _save(page, "方案 甲")
    page.get_by_text("A scenario called “方案 甲” exists").wait_for(timeout=30_000)
    _save(page, "方案 甲", replace=True)
    page.get_by_text("Saved scenario “方案 甲”.").wait_for(timeout=30_000)
    _save(page, "方案 乙")
    page.get_by_text("Saved scenario “方案 乙”.").wait_for(timeout=30_000)
    assert len(sc.list_scenarios(registry=registry)) == 2
    # Editors are told that plans are kept on the server, but not its folder: no internals in the interface.
    page.get_by_text("Scenarios are kept on the server").first.wait_for(state="attached")
    assert str(folder) not in page.content()

    # Deleting needs a confirmation.
    page.get_by_text("Delete a scenario").click()
    delete = page.get_by_role("button", name="Delete scenario")
    assert delete.is_disabled()
    page.get_by_text("Yes, delete this scenario").click()
    wait_idle(page)
    page.get_by_role("button", name="Delete scenario").click()
    wait_idle(page)
    page.get_by_text("Deleted scenario").wait_for(timeout=30_000)
    assert len(sc.list_scenarios(registry=registry)) == 1
    assert list(open_store(registry).scenario_log(limit=None)["action"])[::-1] == ["save", "replace", "save",
                                                                                  "delete"]
    assert set(open_store(registry).scenario_log(limit=None)["editor"]) == {EDITOR_USER}
    assert_no_exception(page)

    # Logged out: the list stays, saving and deleting go.
    page.get_by_role("button", name="Log out").click()
    wait_idle(page)
    page.get_by_text("Logged out.").wait_for(timeout=30_000)
    assert _scenario_form(page).count() == 0 and page.get_by_text("Delete a scenario").count() == 0
    assert page.get_by_text("Saved scenarios (1)").count() == 1
    assert not page.errors, page.errors


def test_a_login_on_the_data_page_opens_the_scenarios_too(open_page, app):
    url, _ = app
    page = open_page()
    goto(page, f"{url}/{DATA_PAGE}?lang=en")
    login(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="选址 Siting").first.click()
    wait_idle(page)
    _scenario_form(page).wait_for(timeout=60_000)
    assert page.get_by_text("Logged in as " + EDITOR_USER).count() >= 1


# --------------------------------------------------------------------------
# The worker's position
# --------------------------------------------------------------------------

# A located worker's position is rounded in the shared URL, pasted coordinates keep their digits:
# tests/web/test_worker_page.py (test_location_is_asked_on_tap_only_and_rounded_in_the_url,
# test_pasted_coordinates), on the worker page that replaced the Streamlit finder.
