"""The coverage page's support: travel bands, map layers and payload, tables, inputs, downloads.

Results come from the real engine on the bundled sample registry (示例数据),
without a road network unless a test builds one; the province map at res 8
must stay under 5 MB of HTML (the payload is printed: run with ``-s``).
"""
from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import shapely

from geo import settings
from geo.web.maps.encoding import encode_geometries
from geo.web.views.coverage.bands import BAND_COLOURS, band_index, band_label, band_summary, travel_bands
from geo.web.views.coverage.choices import (city_choices, default_standard, default_value, district_choices,
                                            region_for, standard_text)
from geo.web.views.coverage.downloads import export_bytes, export_name
from geo.web.views.coverage.layers import MAP_MAX_GAPS, display_resolution, map_layers
from geo.web.views.coverage.tables import district_table, gap_table, headline
from geo.web.views.coverage.uploads import (census_path, read_census, read_points_upload, read_population_upload,
                                            upload_columns)
from geo.analysis.coverage import coverage
from geo.analysis.demand import DemandSource
from geo.analysis.standard import service_standard
from geo.web.maps.base import VENDOR_DIR, map_html_bytes
from geo.web.maps.boundaries import load_map_boundaries
from geo.web.maps.coverage import coverage_map

HOSTILE = "<img src=x onerror=alert(1)>"
ROADS_PBF = settings.ROOT.parent / "shared" / "data" / "shenzhen_futian_nanshan_roads.osm.pbf"
FIVE_MB = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def sample_stations(tmp_path_factory):
    from geo.registry.store import open_store

    path = tmp_path_factory.mktemp("planner") / "registry.gpkg"
    return open_store(path, seed_sample=True).load()


@pytest.fixture(scope="module")
def shenzhen(sample_stations):
    return coverage("440300", "rest_station", res=8, network=False, stations=sample_stations)


@pytest.fixture(scope="module")
def province(sample_stations):
    return coverage("440000", "rest_station", res=8, network=False, stations=sample_stations)


def _decode(text: str, precision: float) -> list:
    """Python twin of the map's decoder: parts of rings of [lon, lat]."""
    def ring(a):
        xy = np.cumsum(np.asarray(a, dtype=np.int64).reshape(-1, 2), axis=0) * precision
        return xy.tolist()
    return [[ring(r) for r in part] if part and isinstance(part[0], list) else ring(part)
            for part in json.loads(text)]


# --------------------------------------------------------------------------
# Bands
# --------------------------------------------------------------------------


def test_bands_for_a_minutes_standard():
    bands = travel_bands(service_standard("rest_station"))  # 15 min by e-bike
    assert [(b.lower, b.upper) for b in bands[:5]] == [(0, 5), (5, 10), (10, 15), (15, 30), (30, math.inf)]
    assert [b.covered for b in bands] == [True, True, True, False, False, False]
    assert not bands[-1].reachable and all(b.reachable for b in bands[:-1])
    labels = [band_label(b, "min", "zh") for b in bands]
    assert labels == ["≤5 分钟", "5–10 分钟", "10–15 分钟", "15–30 分钟", ">30 分钟", "无法到达"]
    assert band_label(bands[1], "min", "en") == "5–10 min"
    # Distinct colours, all from the palette.
    assert len({b.colour for b in bands}) == len(bands)
    assert [b.colour for b in bands[:5]] == list(BAND_COLOURS)


def test_bands_for_a_metres_standard_round_the_inner_cuts():
    bands = travel_bands(service_standard("rest_station", mode="walk", meters=1000))
    assert [b.upper for b in bands[:4]] == [330, 670, 1000, 2000]
    assert band_label(bands[2], "m", "en") == "670–1,000 m"
    assert band_label(bands[4], "m", "zh") == ">2,000 米"
    dh = travel_bands(service_standard("driver_home"))  # 30 min by truck
    assert [b.upper for b in dh[:4]] == [10, 20, 30, 60]


def test_band_index_matches_covered_cells(shenzhen):
    bands = travel_bands(shenzhen.standard)
    travel = shenzhen.cells["travel"].to_numpy(float)
    b = band_index(travel, bands)
    covered = shenzhen.cells["covered"].to_numpy(bool)
    assert np.array_equal(b <= 2, covered)
    assert np.array_equal(band_index(np.array([0, 5, 5.0001, 15, 30, 31, np.inf, np.nan]), bands),
                          [0, 0, 1, 2, 3, 4, 5, 5])


def test_band_summary_adds_up(shenzhen):
    s = band_summary(shenzhen)
    assert s["cells"].sum() == len(shenzhen.cells)
    assert s["area_km2"].sum() == pytest.approx(shenzhen.cells["area_km2"].sum())
    assert s["share_area"].sum() == pytest.approx(1.0)
    assert s.loc[s["band"] <= 2, "share_area"].sum() == pytest.approx(shenzhen.covered_share_area)


# --------------------------------------------------------------------------
# Map layers
# --------------------------------------------------------------------------


def test_city_layers_are_dissolved_per_district_and_band(shenzhen):
    layers = map_layers(shenzhen)
    bp = layers.band_polygons
    assert layers.display_resolution == 8
    assert len(bp) < 60  # 9 districts x at most 6 bands, not 2,984 hexagons
    assert not bp.duplicated(["district", "band"]).any()
    # The figures come from the cells: every cell counted once.
    assert bp["cells"].sum() == len(shenzhen.cells)
    assert bp["area_km2"].sum() == pytest.approx(shenzhen.cells["area_km2"].sum())
    # A city is drawn unsimplified: the polygons are exactly the union of the hexagons.
    union = shapely.union_all(shenzhen.cells.geometry.to_numpy())
    drawn = shapely.union_all(bp.geometry.to_numpy())
    assert shapely.symmetric_difference(union, drawn).area < 1e-4 * union.area
    # Each band polygon covers its own cells' centres.
    bands = travel_bands(shenzhen.standard)
    cb = band_index(shenzhen.cells["travel"].to_numpy(float), bands)
    for row in bp.itertuples():
        mine = (shenzhen.cells["district"].to_numpy() == row.district) & (cb == row.band)
        pts = shapely.points(shenzhen.cells["lon"].to_numpy()[mine], shenzhen.cells["lat"].to_numpy()[mine])
        assert shapely.covers(row.geometry, pts).all()
    # The largest gaps, and the stations that can serve the city.
    assert len(layers.gap_polygons) == min(len(shenzhen.gap_table), MAP_MAX_GAPS)
    assert layers.gap_polygons["gap"].tolist() == sorted(layers.gap_polygons["gap"].tolist())
    assert 0 < len(layers.stations) <= len(shenzhen.stations)


def test_encoded_geometry_round_trips(shenzhen):
    layers = map_layers(shenzhen)
    geom = layers.band_polygons.geometry.iloc[0]
    text = layers.geometry_texts("band_polygons")[0]
    parts = _decode(text, layers.precision)
    polys = list(getattr(geom, "geoms", [geom]))
    assert len(parts) == len(polys)
    ring = np.asarray(parts[0][0])
    exterior = np.asarray(polys[0].exterior.coords)[:-1]  # the closing vertex is left out
    assert ring.shape == exterior.shape
    assert np.abs(ring - exterior).max() <= layers.precision
    # Lines (the district outlines) too.
    line = _decode(layers.geometry_texts("outlines")[0], layers.precision)
    assert len(line[0]) >= 2 and len(line[0][0]) == 2
    assert encode_geometries(np.array([None, shapely.Polygon()], dtype=object), 1e-4) == ["[]", "[]"]


def test_display_resolution():
    assert display_resolution(2_984, 8) == 8
    assert display_resolution(253_458, 8) == 7
    assert display_resolution(1_774_177, 9) == 7
    assert display_resolution(50, 9, max_cells=10) == 8


def test_province_map_payload_under_5_mb(province):
    layers = map_layers(province)
    m = coverage_map(layers, lang="zh", boundaries=load_map_boundaries())
    size = map_html_bytes(m)
    print(f"\ncoverage map payload, province 440000 at res {province.resolution} "
          f"({len(province.cells):,} cells, drawn at res {layers.display_resolution}, "
          f"{len(layers.band_polygons)} band polygons, {len(layers.gap_polygons)} gaps, "
          f"{len(layers.stations)} stations): {size / 1e6:.2f} MB")
    assert size < FIVE_MB
    assert len(province.cells) > 250_000
    assert len(layers.band_polygons) < 2_000  # dissolved, never one polygon per cell
    assert layers.display_resolution < province.resolution
    # The figures still describe the analysis cells (a district's band too small to
    # win a coarse cell is not drawn, so a few cells are left out of the tooltips).
    assert 0.99 * len(province.cells) <= layers.band_polygons["cells"].sum() <= len(province.cells)


def test_budget_makes_the_tolerance_grow(shenzhen):
    small = map_layers(shenzhen, budget_bytes=20_000)
    full = map_layers(shenzhen)
    assert small.tolerance > full.tolerance
    assert small.payload_bytes() < full.payload_bytes()


def test_map_escapes_station_names_and_labels_the_estimate(sample_stations):
    extra = pd.DataFrame([{"id": "RS-X", "kind": "rest_station", "status": "open", "name": HOSTILE,
                           "lon": 114.06, "lat": 22.54, "is_sample": False}])
    stations = pd.concat([sample_stations.drop(columns="geometry"), extra], ignore_index=True)
    res = coverage("440304", "rest_station", res=8, network=False, stations=stations)
    layers = map_layers(res)
    assert HOSTILE in layers.stations["name"].tolist()
    page = coverage_map(layers, lang="en", asset_base=VENDOR_DIR.as_uri() + "/").get_root().render()
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert" not in page
    assert "估算 / estimate" in page and "Travel time to the nearest station" in page
    assert "≤5 min" in page and "Standard: rest station within 15 min by e-bike" in page
    assert "unpkg" not in page and "cdn.jsdelivr" not in page  # offline assets only


@pytest.mark.skipif(not ROADS_PBF.exists(), reason="shared Shenzhen roads extract not present")
def test_legend_says_how_many_cells_are_estimated_on_a_partial_network(sample_stations):
    from geo.routing.build import build_graphs

    graph = build_graphs(ROADS_PBF, modes=("ebike",))["ebike"]
    res = coverage("440300", "rest_station", res=8, network=graph, stations=sample_stations)
    # The extract covers Futian and Nanshan only: the rest of Shenzhen is estimated.
    assert res.method == "network" and 0 < res.method_cells["estimate"] < len(res.cells)
    figures = headline(res)
    assert figures["estimated_cells"] == res.method_cells["estimate"]
    page = coverage_map(map_layers(res), lang="zh").get_root().render()
    assert f"{res.method_cells['estimate']:,} 个格网为估算" in page and "估算 / estimate" in page


# --------------------------------------------------------------------------
# Figures and tables
# --------------------------------------------------------------------------


def test_headline(shenzhen):
    f = headline(shenzhen)
    assert f["cells"] == len(shenzhen.cells) and f["resolution"] == 8
    assert f["share_area"] == pytest.approx(shenzhen.covered_share_area)
    assert f["method"] == "estimate" and f["estimated_cells"] == len(shenzhen.cells)
    assert f["stations_in_region"] == shenzhen.districts["stations"].sum()
    assert f["gaps"] == len(shenzhen.gap_table) and f["sample"] is True


def test_district_table_columns_follow_the_run(shenzhen, sample_stations):
    df, specs = district_table(shenzhen, "en")
    assert list(df.columns) == list(specs)
    assert "city" not in df and "population" not in df and "covered_share_demand" not in df
    assert len(df) == 9 and set(df["name"]) >= {"福田区", "南山区"}
    # Shares shown as percentages.
    assert df["covered_share_area"].tolist() == pytest.approx((shenzhen.districts["covered_share_area"]
                                                               * 100).tolist())
    assert specs["covered_share_area"]["format"] == "%.1f%%"
    assert specs["travel_mean"]["label"] == "Mean (min)"

    pop = pd.Series({"440303": 1e6, "440304": 1.5e6, "440305": 1.8e6, "440306": 4.5e6, "440307": 3.9e6,
                     "440308": 2.1e5, "440309": 2.5e6, "440310": 5.5e5, "440311": 1.1e6})
    with_pop = coverage("440300", "rest_station", res=7, network=False, demand=DemandSource(population=pop),
                        stations=sample_stations)
    df2, specs2 = district_table(with_pop, "zh")
    assert {"population", "stations_per_100k", "covered_share_demand"} <= set(df2.columns)
    assert specs2["covered_share_demand"]["label"] == "需求覆盖率"
    prov, _ = district_table(coverage("440000", "rest_station", res=7, network=False,
                                              stations=sample_stations))
    assert "city" in prov and len(prov) > 100


def test_gap_table(shenzhen):
    g, specs = gap_table(shenzhen, "zh", top=5)
    assert list(g.columns) == list(specs) and len(g) == min(5, len(shenzhen.gap_table))
    assert g["gap"].tolist() == list(range(1, len(g) + 1))
    assert set(g["district_name"]) <= set(shenzhen.districts["name"])


# --------------------------------------------------------------------------
# Regions and standards
# --------------------------------------------------------------------------


def test_region_choices():
    cities = city_choices()
    assert len(cities) == 21 and ("440300", "深圳市") in cities
    assert ("440304", "福田区") in district_choices("440300")
    assert district_choices("441900") == []  # 东莞 has no county level
    assert region_for("440300", "440304").level == "district"
    assert region_for("440300", None).level == "city"
    assert region_for(None, None).level == "province"


def test_default_standards_follow_settings():
    for kind, base in settings.COVERAGE_STANDARDS.items():
        std = default_standard(kind)
        assert std["mode"] == base["mode"]
        assert std["value"] == (base.get("minutes") or base.get("meters"))
    assert default_value("rest_station", "min") == 15.0
    assert default_value("rest_station", "m") == 1000.0
    assert standard_text(service_standard("driver_home"), "en") == "driver home within 30 min by truck"


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


def test_population_upload(shenzhen):
    text = "区划代码,区县,人口数_合计\n440300,深圳市,17560000\n440304,福田区,1553225\n440305,南山区,1795826\n"
    series = read_population_upload(text.encode("utf-8"), "pop.csv")
    assert series["440304"] == 1553225
    with pytest.raises(Exception):
        read_population_upload(b"a,b\n1,2\n", "bad.csv")


def test_census_is_optional(monkeypatch, tmp_path):
    monkeypatch.setattr("geo.web.views.coverage.uploads.CENSUS_PATH", tmp_path / "missing.csv")
    assert census_path() is None and read_census() is None


def test_points_upload_in_gcj02():
    from geo.core.crs import gcj02_to_wgs84

    text = "name,lon,lat,人数\nA,114.0635,22.5460,3\nB,114.0700,22.5500,1\nC,not,a number,2\n"
    pts, notes = read_points_upload(text.encode("utf-8"), "points.csv", crs="gcj02")
    assert len(pts) == 2 and pts["weight"].tolist() == [3, 1]
    lon, lat = gcj02_to_wgs84(114.0635, 22.5460)
    assert pts["lon"].iloc[0] == pytest.approx(lon) and pts["lat"].iloc[0] == pytest.approx(lat)
    assert any("gcj02" in n for n in notes)
    assert upload_columns(text.encode("utf-8"), "points.csv") == ["name", "lon", "lat", "人数"]


# --------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------


def test_exports(tmp_path, sample_stations):
    res = coverage("440304", "rest_station", res=8, network=False, stations=sample_stations)
    gaps = json.loads(export_bytes(res, "gaps_geojson"))
    assert gaps["type"] == "FeatureCollection" and gaps["standard"]["threshold"] == 15.0
    cells = json.loads(export_bytes(res, "cells_geojson"))
    assert len(cells["features"]) == len(res.cells)
    raw = export_bytes(res, "cells_csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == len(res.cells) and rows[0]["unit"] == "min"
    districts = list(csv.DictReader(io.StringIO(export_bytes(res, "districts_csv").decode("utf-8-sig"))))
    assert [r["name"] for r in districts] == ["福田区"]
    report = export_bytes(res, "report_html").decode("utf-8")
    assert report.startswith("<!doctype html>") and "<svg" in report and "福田区" in report
    assert export_name(res, "report_html") == "coverage_440304_rest_station_r8_report.html"
    assert export_name(res, "cells_csv").endswith("_cells.csv")
