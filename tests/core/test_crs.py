"""Coordinate conversions against the real three-datum oracle.

``guangzhou_ev_charging_stations.csv`` gives 3,191 real stations in
GCJ-02, WGS-84 and BD-09 at once; the three agree with the reference
formulas to within 0.2 m, limited by the file's six decimals.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.core import crs
from conftest import SHARED

ORACLE = SHARED / "guangzhou_ev_charging_stations.csv"


@pytest.fixture(scope="module")
def oracle() -> pd.DataFrame:
    if not ORACLE.exists():
        pytest.skip(f"shared data missing: {ORACLE}")
    df = pd.read_csv(ORACLE)
    assert len(df) == 3191
    return df


def _err(lon, lat, ref_lon, ref_lat) -> np.ndarray:
    return crs.haversine_m(lon, lat, ref_lon, ref_lat)


def test_gcj02_to_wgs84_under_one_metre(oracle):
    lon, lat = crs.gcj02_to_wgs84(oracle.station_lg.to_numpy(), oracle.station_lt.to_numpy())
    err = _err(lon, lat, oracle.WGS84_station_lg, oracle.WGS84_station_lt)
    assert err.max() < 1.0
    assert np.median(err) < 0.2


def test_bd09_to_wgs84_under_one_metre(oracle):
    lon, lat = crs.bd09_to_wgs84(oracle.DB09_station_lg.to_numpy(), oracle.DB09_station_lt.to_numpy())
    assert _err(lon, lat, oracle.WGS84_station_lg, oracle.WGS84_station_lt).max() < 1.0


def test_forward_transforms_match_oracle(oracle):
    w = oracle.WGS84_station_lg.to_numpy(), oracle.WGS84_station_lt.to_numpy()
    g = crs.wgs84_to_gcj02(*w)
    assert _err(*g, oracle.station_lg, oracle.station_lt).max() < 1.0
    b = crs.wgs84_to_bd09(*w)
    assert _err(*b, oracle.DB09_station_lg, oracle.DB09_station_lt).max() < 1.0
    b2 = crs.gcj02_to_bd09(oracle.station_lg.to_numpy(), oracle.station_lt.to_numpy())
    assert _err(*b2, oracle.DB09_station_lg, oracle.DB09_station_lt).max() < 1.0


def test_offset_in_guangzhou_is_about_600_m(oracle):
    # The reason this module exists: skipping the conversion misplaces a
    # station by a street or two.
    d = _err(oracle.station_lg, oracle.station_lt, oracle.WGS84_station_lg, oracle.WGS84_station_lt)
    assert 500 < d.mean() < 750


def test_inverses_are_exact_round_trips():
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(109.6, 117.3, 5000), rng.uniform(20.2, 25.5, 5000)
    for fwd, inv in ((crs.wgs84_to_gcj02, crs.gcj02_to_wgs84), (crs.gcj02_to_bd09, crs.bd09_to_gcj02),
                     (crs.wgs84_to_bd09, crs.bd09_to_wgs84)):
        back = inv(*fwd(lon, lat))
        assert _err(*back, lon, lat).max() < 1e-3  # a millimetre


def test_scalars_stay_scalars_and_nan_passes_through():
    lon, lat = crs.gcj02_to_wgs84(113.2644, 23.1291)
    assert isinstance(lon, float) and isinstance(lat, float)
    out = crs.gcj02_to_wgs84(np.array([113.2, np.nan]), np.array([23.1, np.nan]))
    assert np.isfinite(out[0][0]) and np.isnan(out[0][1])


def test_outside_china_is_not_shifted():
    assert crs.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)


def test_to_and_from_wgs84_dispatch(oracle):
    row = oracle.iloc[0]
    for name, (x, y) in {"gcj02": (row.station_lg, row.station_lt), "amap": (row.station_lg, row.station_lt),
                         "百度": (row.DB09_station_lg, row.DB09_station_lt)}.items():
        lon, lat = crs.to_wgs84(x, y, name)
        assert _err(lon, lat, row.WGS84_station_lg, row.WGS84_station_lt) < 1.0
        fx, fy = crs.from_wgs84(lon, lat, name)
        assert _err(fx, fy, x, y) < 0.01


def test_projected_and_cgcs2000_via_pyproj():
    # CGCS2000 / 3-degree Gauss-Kruger CM 114E, used by Guangdong surveying offices.
    x, y = crs.from_wgs84(113.3245, 23.1370, "EPSG:4547")
    assert 300_000 < x < 600_000 and 2_500_000 < y < 2_600_000
    lon, lat = crs.to_wgs84(x, y, "EPSG:4547")
    assert _err(lon, lat, 113.3245, 23.1370) < 0.01
    lon, lat = crs.to_wgs84(113.3245, 23.1370, "cgcs2000")
    assert _err(lon, lat, 113.3245, 23.1370) < 1.0


def test_unknown_crs_is_a_bilingual_error():
    with pytest.raises(ValueError, match="未知坐标系 / unknown coordinate system"):
        crs.normalize_crs("mars-2")


@pytest.mark.parametrize("headers,expected", [
    (["高德经度", "高德纬度"], "gcj02"),
    (["gcj_lng", "gcj_lat"], "gcj02"),
    (["amap_lon"], "gcj02"),
    (["百度经度"], "bd09"),
    (["bd09_lng"], "bd09"),
    (["DB09_station_lg"], "bd09"),
    (["WGS84_station_lg"], "wgs84"),
    (["经度", "纬度"], None),
])
def test_guess_crs_from_headers(headers, expected):
    assert crs.guess_crs_from_headers(headers) == expected
