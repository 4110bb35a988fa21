"""The popup API (geo/web/api.py): public, escaped records of one station.

The HTTP route itself is exercised against the real server in
tests/test_browser.py.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from geo.web.api import routes, station_popup
from geo.registry.store import open_store

AT = datetime(2026, 6, 3, 10, 0)


@pytest.fixture
def store(registry_location):
    # Once per backend (tests/conftest.py): a GeoPackage in tmp, then a PostGIS database.
    return open_store(registry_location)


def test_popup_of_a_public_station(store):
    rec = store.add({"kind": "driver_home", "name": "<b>司机之家", "address": "深圳市福田区福华路1号",
                     "phone": "0755-1234 5678", "opening_hours": "每天 8:00-18:00",
                     "opening_hours_osm": "Mo-Su 08:00-18:00", "facilities": ["toilet"],
                     "lon": 114.05, "lat": 22.54})
    got = station_popup(rec["id"], store, AT)
    assert got["n"] == "&lt;b&gt;司机之家"
    assert got["a"] == "深圳市福田区福华路1号" and got["pt"] == "075512345678"
    assert got["o"] == 1 and got["f"] == ["toilet"] and got["st"] == "open"


def test_popup_of_a_non_public_station_is_redacted(store):
    rec = store.add({"kind": "rest_station", "name": "内部驿站", "address": "深圳市福田区保密路8号",
                     "phone": "13800009999", "notes": "门禁 1234", "public": False, "lon": 114.0585, "lat": 22.5436})
    got = station_popup(rec["id"], store, AT)
    assert got["n"] == "内部驿站"
    text = str(got)
    assert "13800009999" not in text and "保密路" not in text and "1234" not in text


def test_unknown_station(store):
    assert station_popup("RS-0000000000", store, AT) is None


def test_routes_take_no_location():
    # The only route is keyed by a station id: no query carries a worker's position.
    assert [r.path for r in routes()] == ["/api/v1/stations/{station_id}/popup"]
