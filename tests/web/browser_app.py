"""The app the Streamlit browser tests drive, shared by their files (each file starts its own).

A module fixture starts ``streamlit run`` on a free port with a fresh
registry (seeded from the bundled sample, plus one station whose every text
field is hostile markup and one non-public station) and the Shenzhen road
network, and drives Debian's Chromium through Playwright. Every request
that does not go to the app itself is aborted, so the tests prove the maps
work with no internet: Leaflet and its plugins must come from
``static/vendor/``, and the basemap tiles simply do not load.

Import the fixtures into a test module (``from browser_app import app_url, ...``)
to give that module its own server.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from browser_kit import DESKTOP, AppPage, app_server, goto, map_frame, pages
from conftest import ROOT

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
#: A station marked non-public: its phone and street address must never reach a public page.
PRIVATE_PHONE, PRIVATE_STREET = "13800009999", "保密路8号"
#: Real roads of Futian and Nanshan (Shenzhen), built into a routing network for the app.
ROADS_PBF = ROOT.parent / "shared" / "data" / "shenzhen_futian_nanshan_roads.osm.pbf"
FUTIAN = (114.0579, 22.5431)    # 深圳市福田区, inside the extract (113.954–114.094 E, 22.479–22.606 N)
TIANHE = (113.3245, 23.1375)    # 广州市天河区, outside it: estimates there


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("registry") / "registry.gpkg"


@pytest.fixture(scope="module")
def app_url(request, tmp_path_factory, registry) -> str:
    from geo.registry.store import open_store

    tmp = tmp_path_factory.mktemp("browser")
    store = open_store(registry, seed_sample=True)
    store.add({"kind": "rest_station", "name": HOSTILE_NAME, "address": '" onmouseover="alert(2)" x="',
               "operator": "<script>alert(3)</script>", "phone": "javascript:alert(4)",
               "facilities_other": ["<b>bold"], "lon": 113.3301, "lat": 23.1402})
    store.add({"kind": "rest_station", "name": "福田内部驿站", "address": f"深圳市福田区{PRIVATE_STREET}",
               "phone": PRIVATE_PHONE, "public": False, "lon": 114.0585, "lat": 22.5436})
    # The finder routes on real Shenzhen roads; without the extract it gives estimates.
    net = request.getfixturevalue("shenzhen_network") if ROADS_PBF.exists() else None
    with app_server(tmp / "server", registry, network=net) as url:
        yield url


@pytest.fixture
def open_page(browser, app_url):
    with pages(browser, app_url) as factory:
        yield factory



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



def assert_markers(page, index: int = 0) -> None:
    frame = map_frame(page, index)
    # Cluster bubbles and single pins are both Leaflet marker icons.
    frame.locator(".leaflet-marker-icon").first.wait_for(timeout=30_000)
    assert frame.locator(".leaflet-marker-icon").count() > 0
    assert frame.locator(".leaflet-control-layers").count() == 1
    assert frame.locator(".gd-legend").count() == 1
    assert_map_controls(frame)


def assert_map_controls(frame) -> None:
    """Every map has a scale bar, locate-me and full-screen buttons, and says when tiles cannot load."""
    frame.locator(".leaflet-control-scale").first.wait_for(timeout=30_000)
    assert frame.locator(".gd-ctl .gd-ctl-btn").count() == 2
    # The tests run offline (other hosts are blocked): the map says so and
    # shows its plain background instead of grey squares.
    frame.locator(".gd-notice", has_text="底图").or_(frame.locator(".gd-notice", has_text="Basemap")).first \
        .wait_for(timeout=30_000)
    assert frame.locator(".leaflet-container.gd-no-tiles").count() == 1



def full_screenshot(page, path: Path) -> None:
    """The whole page as a person scrolls through it (Streamlit scrolls an inner element, not the document)."""
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(1200)
    page.screenshot(path=path)
    page.set_viewport_size(size)


def assert_tap_targets(page, selector: str, minimum: float = 44.0) -> None:
    # Measured in one go in the page, so a rerun cannot swap elements mid-way.
    boxes = page.eval_on_selector_all(selector, """els => els.filter(e => e.offsetParent !== null)
        .map(e => { const r = e.getBoundingClientRect();
                    return {text: e.innerText.trim().slice(0, 20), width: r.width, height: r.height}; })""")
    assert boxes, f"nothing visible matches {selector}"
    small = [b for b in boxes if b["height"] < minimum - 0.5]
    assert not small, f"{len(small)} of {len(boxes)} tap targets under {minimum}px: {small[:3]}"

