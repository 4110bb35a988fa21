"""The map's own script (``static/gd/gd-map.js``), run in Chromium.

Over Amap tiles the browser shifts everything it draws to GCJ-02 with the
JavaScript port of :mod:`geo.core.crs`. These tests hold it to the Python
implementation and to the real three-datum oracle, and check that the
display CRS gives clicks back in WGS-84.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.core import crs
from geo.web.maps.base import VENDOR_DIR
from browser_kit import chromium, needs_chromium
from conftest import SHARED

ORACLE = SHARED / "guangzhou_ev_charging_stations.csv"
SCRIPT = VENDOR_DIR.parent / "gd" / "gd-map.js"
LEAFLET = VENDOR_DIR / "leaflet-1.9.4" / "leaflet.js"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def page():
    with chromium() as browser:
        pg = browser.new_page()
        pg.set_content("<html><body><div id='m' style='width:600px;height:400px'></div></body></html>")
        pg.add_script_tag(path=str(LEAFLET))
        pg.add_script_tag(path=str(SCRIPT))
        yield pg


@pytest.fixture(scope="module")
def oracle() -> pd.DataFrame:
    if not ORACLE.exists():
        pytest.skip(f"oracle not found: {ORACLE}")
    return pd.read_csv(ORACLE)


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(crs.haversine_m(np.asarray(lon1), np.asarray(lat1), np.asarray(lon2), np.asarray(lat2)))


def test_js_shift_equals_python_on_the_oracle(page, oracle):
    lon, lat = oracle.WGS84_station_lg.to_numpy(), oracle.WGS84_station_lt.to_numpy()
    got = np.array(page.evaluate("(pts) => pts.map(p => GdCoord.wgsToGcj(p[0], p[1]))",
                                 np.column_stack([lon, lat]).tolist()))
    want_lon, want_lat = crs.wgs84_to_gcj02(lon, lat)
    assert len(got) == 3191
    assert np.abs(got[:, 0] - want_lon).max() < 1e-9 and np.abs(got[:, 1] - want_lat).max() < 1e-9
    # ... and so matches Amap's own coordinates of the same stations.
    assert _metres(got[:, 0], got[:, 1], oracle.station_lg, oracle.station_lt).max() < 0.5


def test_js_inverse_returns_wgs84(page, oracle):
    gcj = np.column_stack([oracle.station_lg, oracle.station_lt]).tolist()
    got = np.array(page.evaluate("(pts) => pts.map(p => GdCoord.gcjToWgs(p[0], p[1]))", gcj))
    assert _metres(got[:, 0], got[:, 1], oracle.WGS84_station_lg, oracle.WGS84_station_lt).max() < 0.5


def test_outside_china_is_not_shifted(page):
    assert page.evaluate("GdCoord.wgsToGcj(2.35, 48.85)") == [2.35, 48.85]


def test_gcj_display_crs_draws_shifted_and_clicks_come_back_wgs84(page):
    res = page.evaluate("""() => {
        const map = L.map('m', {crs: L.CRS.GdGcj02}).setView([23.13, 113.26], 19);
        const plain = L.CRS.EPSG3857;
        const ll = L.latLng(23.1291, 113.2644);
        const shifted = map.options.crs.project(ll), unshifted = plain.project(ll);
        // A tap lands on a whole pixel (0.27 m at zoom 19), so the exact inverse is checked apart.
        const back = map.containerPointToLatLng(map.latLngToContainerPoint(ll));
        const exact = map.options.crs.unproject(shifted);
        const g = GdCoord.wgsToGcj(ll.lng, ll.lat);
        const amap = plain.project(L.latLng(g[1], g[0]));
        return {moved: shifted.distanceTo(unshifted), asAmap: shifted.distanceTo(amap),
                back: [back.lng, back.lat], exact: [exact.lng, exact.lat]};
    }""")
    # Drawn where Amap draws the GCJ-02 point: the ~600 m shift of Guangzhou
    # (Web Mercator metres are longer by 1/cos(lat) there).
    assert 500 < res["moved"] < 800 and res["asAmap"] < 1e-6
    # A tap on the map gives the WGS-84 point back, to well under a metre.
    assert _metres(res["back"][0], res["back"][1], 113.2644, 23.1291) < 0.5
    assert _metres(res["exact"][0], res["exact"][1], 113.2644, 23.1291) < 0.001
