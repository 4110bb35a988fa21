"""The fast paths of a coverage run give the results of the old ways, bit for bit.

The grid's children, cell polygons and district lookups were per-cell
Python loops over h3-py, and snapping searched blocks of 3x3, 9x9 and 31x31
grid cells in turn; they are now array calls and a ring-by-ring search. The
old ways are the reference: a grid from ``h3.geo_to_cells`` with every
centre, area and district asked per cell and polygons from
``h3.cell_to_boundary`` per cell (kept here), the block passes of the
compiled block search and the per-cell district lookup (kept in
bench/coverage.py, which times them against the new code), and a whole coverage run on the real Shenzhen road network done the
old way (those references patched in) compared with the new one, column by
column and geometry by geometry.
"""
from __future__ import annotations

import h3
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest
import shapely

import geo.analysis.districts as districts_module
import geo.analysis.grid as grid_module
from geo.analysis.coverage import coverage
from geo.analysis.grid import Grid, cell_polygons, clear_grid_cache, hex_grid
from geo.analysis.travel import snap_points
from geo.core.regions import find_region, locate
from geo.routing.build import build_graphs
from conftest import SHENZHEN_PBF, load_bench

#: bench/coverage.py keeps the old snapping and district lookup; these tests compare the new code with them.
coverage_bench = load_bench("coverage")

needs_pbf = pytest.mark.skipif(not SHENZHEN_PBF.exists(), reason="shared Shenzhen roads extract not present")


def _old_cell_polygons(cells) -> np.ndarray:
    """The old way: one ``h3.cell_to_boundary`` per cell, one shapely polygon per cell."""
    return np.array([shapely.Polygon([(lng, lat) for lat, lng in h3i.cell_to_boundary(int(c))])
                     for c in cells], dtype=object)


def _old_grid(reg, res: int) -> Grid:
    """The old way: H3's own polyfill, then every centre, area and district asked per cell."""
    cells = np.sort(np.array([h3.str_to_int(c) for c in h3.geo_to_cells(reg.geometry, res)], dtype=np.int64))
    ll = np.array([h3i.cell_to_latlng(int(c)) for c in cells], dtype=float).reshape(-1, 2)
    found = locate(ll[:, 1], ll[:, 0])["adcode"].to_numpy(dtype=object)
    district = np.where(pd.isna(found), "", found).astype(object)
    area = np.array([h3i.cell_area(int(c), "km^2") for c in cells])
    return Grid(region=reg, res=res, cells=cells, lon=ll[:, 1], lat=ll[:, 0], district=district, area_km2=area)


@pytest.mark.parametrize("query,res", [("440304", 9), ("440300", 8), ("441900", 7)])
def test_grid_equals_the_per_cell_reference(query, res):
    reg = find_region(query)
    new, old = hex_grid(reg, res), _old_grid(reg, res)
    assert len(new.cells) > 30
    np.testing.assert_array_equal(new.cells, old.cells)
    np.testing.assert_array_equal(new.lon, old.lon)
    np.testing.assert_array_equal(new.lat, old.lat)
    np.testing.assert_array_equal(new.area_km2, old.area_km2)
    # The new grid skips the point test inside one district; the reference tests every centre.
    assert new.district.tolist() == old.district.tolist()


def test_cell_polygons_equal_per_cell_boundaries():
    grid = hex_grid("440304", 9)
    pentagons = list(h3i.get_pentagons(7)) + list(h3i.get_pentagons(9))[:3]
    cells = np.concatenate([grid.cells, np.asarray(pentagons, dtype=np.int64)])
    new, old = cell_polygons(cells), _old_cell_polygons(cells)
    assert bool(shapely.equals_exact(new, old, tolerance=0).all())
    np.testing.assert_array_equal(shapely.get_coordinates(new), shapely.get_coordinates(old))
    assert [len(p.exterior.coords) - 1 for p in new[-len(pentagons):]] != [6] * len(pentagons)


def test_district_positions_equal_the_old_loop():
    codes = np.array(["440303", "440304", "440305", "440306"])
    values = np.array(["440304", "", "440399", "440303", "440306", "440300", "440307", "1"])
    np.testing.assert_array_equal(districts_module._positions(codes, values),
                                  coverage_bench.old_positions(codes, values))
    assert districts_module._positions(codes[:0], values).tolist() == [-1] * len(values)


@pytest.fixture(scope="module")
def shenzhen_ebike():
    return build_graphs(SHENZHEN_PBF, modes=("ebike",))["ebike"]


def _stations(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": [f"S{i:03d}" for i in range(n)], "name": [f"驿站{i}" for i in range(n)],
                         "kind": "rest_station", "status": "open",
                         "lon": rng.uniform(113.90, 114.10, n), "lat": rng.uniform(22.50, 22.60, n)})


@needs_pbf
@pytest.mark.parametrize("region,res,minutes", [("440300", 8, 10.0), ("440305", 9, 6.0)])
def test_coverage_on_shenzhen_network_equals_the_old_way(shenzhen_ebike, monkeypatch, region, res, minutes):
    st = _stations(25, seed=res)
    clear_grid_cache()
    new = coverage(region, "rest_station", mode="ebike", minutes=minutes, res=res, network=shenzhen_ebike,
                   stations=st)
    with monkeypatch.context() as m:
        m.setattr(grid_module, "_build_grid", _old_grid)
        m.setattr(grid_module, "cell_polygons", _old_cell_polygons)
        m.setattr(districts_module, "_positions", coverage_bench.old_positions)
        clear_grid_cache()
        old = coverage(region, "rest_station", mode="ebike", minutes=minutes, res=res, network=shenzhen_ebike,
                       stations=st)
    clear_grid_cache()
    assert new.method_cells == old.method_cells and new.method_cells["network"] > 100
    assert new.method_cells["estimate"] > 0  # cells off the extract's roads are in the comparison too
    assert 0 < new.covered_share_area < 1
    assert new.covered_share_area == old.covered_share_area
    assert new.covered_share_demand == old.covered_share_demand
    pd.testing.assert_frame_equal(new.cells.drop(columns="geometry"), old.cells.drop(columns="geometry"),
                                  check_exact=True)
    assert bool(shapely.equals_exact(new.cells.geometry.to_numpy(), old.cells.geometry.to_numpy(),
                                     tolerance=0).all())
    pd.testing.assert_frame_equal(new.districts, old.districts, check_exact=True)
    pd.testing.assert_frame_equal(new.gap_table, old.gap_table, check_exact=True)
    assert len(new.gap_table) > 0
    assert new.notes == old.notes
    for a, b in zip(new.gap_geometries(top=3), old.gap_geometries(top=3)):
        assert shapely.equals_exact(a, b, tolerance=0)


@needs_pbf
@pytest.mark.parametrize("limit", [None, 400.0, 30.0, 6000.0])
def test_snapping_by_rings_equals_the_block_passes(shenzhen_ebike, limit):
    g = shenzhen_ebike
    rng = np.random.default_rng(11)
    grid = hex_grid("440300", 9)
    # Shape points of the roads (two segments meet there: exact ties), points
    # near them, cell centres across the city (many far from this extract's
    # roads), points outside the grid, and ones that are not positions.
    at = rng.integers(0, len(g.geom_x), 3000)
    vx, vy = g.geom_x[at] / 1e7, g.geom_y[at] / 1e7
    lon = np.concatenate([vx, vx + rng.normal(0, 3e-4, len(vx)), grid.lon, rng.uniform(112.0, 116.0, 500),
                          [np.nan, 113.95, np.inf]])
    lat = np.concatenate([vy, vy + rng.normal(0, 3e-4, len(vy)), grid.lat, rng.uniform(21.5, 24.0, 500),
                          [22.55, np.nan, 22.55]])
    new = snap_points(g, lon, lat, max_distance_m=limit)
    old = coverage_bench.old_snap_points(g, lon, lat, max_distance_m=limit)
    np.testing.assert_array_equal(new.edge, old.edge)
    np.testing.assert_array_equal(new.fraction, old.fraction)
    np.testing.assert_array_equal(new.distance_m, old.distance_m)
    assert new.ok.sum() > 3000 and (~new.ok).sum() > 400
