"""One duplicate-station rule for the import and the store (issue 12).

Same layer, same name (Unicode NFKC, case and white space aside) within
``settings.DUPLICATE_RADIUS_M``: one station. The import used to apply it
with case folding and full-width forms, ``store.add`` without, so
``abc驿站`` and ``ＡＢＣ驿站`` 1 m from ``ABC驿站`` were refused by one and
accepted by the other.
"""
from __future__ import annotations

import pandas as pd
import pytest

from geo import settings
from geo.registry.dedupe import name_key
from geo.registry.io.table import RawTable
from geo.registry.store import create_registry
from geo.registry.store.base import twin_box
from geo.registry.validate import ValidationError, validate_table

from conftest import TIANHE

ONE_M = 1 / 102_400  # about a metre of longitude at 23°N
VARIANTS = ["abc驿站", "ＡＢＣ驿站", "Ａｂｃ驿站", "ABC 驿站", "ＡＢＣ　驿站", "aBc\t驿站"]


def table(rows: list[tuple[str, float]], filename: str = "stations.csv") -> RawTable:
    df = pd.DataFrame([{"名称": name, "经度": str(TIANHE[0] + east_m * ONE_M), "纬度": str(TIANHE[1])}
                       for name, east_m in rows], dtype=object)
    return RawTable(df, filename=filename, format="csv", encoding="utf-8")


@pytest.fixture
def store(tmp_path):
    store = create_registry(tmp_path / "r.gpkg")
    store.add({"name": "ABC驿站", "kind": "rest_station", "lon": TIANHE[0], "lat": TIANHE[1]})
    return store


def test_name_key_folds_width_case_and_white_space():
    assert {name_key(v) for v in ["ABC驿站", *VARIANTS]} == {"abc驿站"}
    assert name_key("ABD驿站") != name_key("ABC驿站")


@pytest.mark.parametrize("variant", VARIANTS)
def test_store_add_and_import_agree_on_a_variant_nearby(store, variant):
    # In one file: the second spelling is a duplicate of the first.
    report = validate_table(table([("ABC驿站", 0), (variant, 1)]), "rest_station")
    assert report.rejects["reason_code"].tolist() == ["duplicate_nearby"]
    # Against the registry: the import updates the stored station instead of adding one.
    stored = store.load()
    report = validate_table(table([(variant, 1)], filename="other.csv"), "rest_station", existing=stored)
    assert report.accepted["id"].tolist() == stored["id"].tolist()
    assert report.warnings["code"].tolist() == ["merged_existing"]
    # By hand: refused the same way.
    with pytest.raises(ValidationError, match="same name"):
        store.add({"name": variant, "kind": "rest_station", "lon": TIANHE[0] + ONE_M, "lat": TIANHE[1]})
    assert len(store.load()) == 1


@pytest.mark.parametrize("name, east_m", [("ABD驿站", 1), ("ＡＢＣ驿站", 80)])
def test_store_add_and_import_agree_on_another_station(store, name, east_m):
    report = validate_table(table([("ABC驿站", 0), (name, east_m)]), "rest_station")
    assert report.rejects.empty
    stored = store.load()
    report = validate_table(table([(name, east_m)], filename="other.csv"), "rest_station", existing=stored)
    assert not set(report.accepted["id"]) & set(stored["id"])
    store.add({"name": name, "kind": "rest_station", "lon": TIANHE[0] + east_m * ONE_M, "lat": TIANHE[1]})
    assert len(store.load()) == 2


def test_update_refuses_a_new_name_or_position_that_makes_a_twin(store):
    other = store.add({"name": "ABD驿站", "kind": "rest_station", "lon": TIANHE[0] + 3 * ONE_M, "lat": TIANHE[1]})
    with pytest.raises(ValidationError, match="same name"):
        store.update(other["id"], {"name": "ａｂｃ 驿站"})
    far = store.add({"name": "ａｂｃ驿站", "kind": "rest_station", "lon": TIANHE[0] + 200 * ONE_M, "lat": TIANHE[1]})
    with pytest.raises(ValidationError, match="same name"):
        store.update(far["id"], {"lon": TIANHE[0] + 2 * ONE_M})
    # Other edits, and the station's own position, are not a twin of itself.
    assert store.update(far["id"], {"phone": "020-1"})["phone"] == "020-1"
    assert store.update(other["id"], {"lon": TIANHE[0] + 4 * ONE_M})["version"] == 2


def test_a_twin_check_reads_the_box_around_the_point_not_the_layer(store, monkeypatch):
    # Loading the whole layer took 0.5 s per rename for 20,000 stations; the box is read instead.
    loads = []
    load = type(store).load
    monkeypatch.setattr(type(store), "load", lambda self, *a, **k: loads.append(1) or load(self, *a, **k))
    north_east = 32 / 111_000  # with 32 m east: 45 m from ABC驿站
    with pytest.raises(ValidationError, match="same name"):
        store.add({"name": "abc驿站", "kind": "rest_station", "lon": TIANHE[0] + 32 * ONE_M,
                   "lat": TIANHE[1] + north_east})
    apart = store.add({"name": "abc驿站", "kind": "rest_station", "lon": TIANHE[0] + 70 * ONE_M, "lat": TIANHE[1]})
    with pytest.raises(ValidationError, match="same name"):
        store.update(apart["id"], {"lon": TIANHE[0] + 32 * ONE_M, "lat": TIANHE[1] - north_east})
    assert store.update(apart["id"], {"name": "ABC驿站 东门"})["version"] == 2
    assert loads == []


@pytest.mark.parametrize("lat", [20.2, 23.1, 25.5, 45.0])
def test_the_twin_box_holds_the_duplicate_radius_with_room(lat):
    from pyproj import Geod

    west, south, east, north = twin_box({"lon": 113.3, "lat": lat})
    geod = Geod(ellps="WGS84")
    for lon2, lat2 in [(west, lat), (east, lat), (113.3, south), (113.3, north)]:
        assert geod.inv(113.3, lat, lon2, lat2)[2] >= 2 * settings.DUPLICATE_RADIUS_M
