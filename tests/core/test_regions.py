"""Tests for geo.core.regions and the boundary file built by data/build_boundaries.py."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from geo import settings
from geo.core import regions
from geo.core.crs import gcj02_to_wgs84
from geo.core.regions import Region, district_named_in, find_region, in_region, load_boundaries, locate
from conftest import SHARED


# Known WGS-84 positions.
TIANHE_SPORTS_CENTRE = (113.3245, 23.1370)  # 天河体育中心
FUTIAN_CIVIC_CENTRE = (114.0596, 22.5430)  # 深圳市民中心
SHENZHEN_UNIVERSITY = (113.9360, 22.5330)  # 南山区
DONGGUAN_CENTRE = (113.7518, 23.0207)
ZHONGSHAN_CENTRE = (113.3926, 22.5176)
HONG_KONG_TST = (114.1722, 22.2975)  # 尖沙咀
MACAU_PENINSULA = (113.5439, 22.1987)
SOUTH_CHINA_SEA = (114.0, 21.5)
BEIJING = (116.397, 39.909)


# --------------------------------------------------------------------------
# The boundary file
# --------------------------------------------------------------------------


def test_boundary_file_is_small():
    assert settings.BOUNDARIES_PATH.exists()
    assert settings.BOUNDARIES_PATH.stat().st_size < 5 * 1024 * 1024


def test_layer_counts_and_columns():
    province = load_boundaries("province")
    city = load_boundaries("city")
    district = load_boundaries("district")
    assert len(province) == 1
    assert province["adcode"].tolist() == ["440000"]
    assert province["name"].tolist() == ["广东省"]
    assert len(city) == 21
    assert city["adcode"].str.fullmatch(r"44\d\d00").all()
    # 122 county-level units plus Dongguan and Zhongshan standing in for themselves.
    assert len(district) == 124
    assert list(district.columns[:4]) == ["adcode", "name", "city_adcode", "city"]
    assert district["adcode"].is_unique
    assert set(district["city_adcode"]) == set(city["adcode"])
    names = dict(zip(city["adcode"], city["name"]))
    assert (district["city"] == district["city_adcode"].map(names)).all()
    for code, name in (("441900", "东莞市"), ("442000", "中山市")):
        row = district[district["adcode"] == code]
        assert row["name"].tolist() == [name] and row["city"].tolist() == [name]


def test_load_boundaries_is_cached_and_checks_level():
    assert load_boundaries("city") is load_boundaries("city")
    assert load_boundaries() is load_boundaries("district")
    with pytest.raises(ValueError):
        load_boundaries("county")


@pytest.mark.parametrize("level", regions.LEVELS)
def test_geometries_valid_and_in_wgs84_bounds(level):
    gdf = load_boundaries(level)
    assert gdf.crs.to_epsg() == 4326
    assert gdf.geometry.is_valid.all()
    assert not gdf.geometry.is_empty.any()
    assert set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}
    minx, miny, maxx, maxy = gdf.total_bounds
    # Guangdong spans about 109.6-117.3 E and 20.2-25.5 N.
    assert 109.0 < minx < 110.5 and 116.5 < maxx < 118.0
    assert 20.0 < miny < 20.5 and 25.0 < maxy < 26.0


def test_layers_nest_without_gaps_or_overlaps():
    district = load_boundaries("district")
    city = load_boundaries("city")
    province = load_boundaries("province").geometry.iat[0]
    # Areas in square degrees are fine for comparing pieces of one region.
    total = shapely.area(district.geometry.to_numpy()).sum()
    assert total == pytest.approx(province.area, rel=1e-6)
    assert shapely.area(city.geometry.to_numpy()).sum() == pytest.approx(province.area, rel=1e-6)
    # About 179,800 km² of land, in square degrees at this latitude.
    assert 15.5 < province.area < 16.5
    for code, geom in zip(city["adcode"], city.geometry):
        members = district.geometry[district["city_adcode"] == code].to_numpy()
        assert shapely.area(members).sum() == pytest.approx(geom.area, rel=1e-6)


def test_district_adcodes_match_census():
    census_csv = SHARED / "guangdong_county_population_2020.csv"
    if not census_csv.exists():
        pytest.skip("shared census table not available")
    census = pd.read_csv(census_csv, dtype={"区划代码": str})
    county = census[~census["区划代码"].str.endswith("00") | census["区划代码"].isin(["441900", "442000"])]
    district = load_boundaries("district")
    assert set(district["adcode"]) == set(county["区划代码"])
    names = dict(zip(county["区划代码"], county["区县"]))
    assert (district["name"] == district["adcode"].map(names)).all()
    cities = census[census["区划代码"].str.endswith("00") & (census["区划代码"] != "440000")]
    assert set(load_boundaries("city")["adcode"]) == set(cities["区划代码"])


# --------------------------------------------------------------------------
# locate
# --------------------------------------------------------------------------


def test_locate_known_points():
    points = [TIANHE_SPORTS_CENTRE, FUTIAN_CIVIC_CENTRE, SHENZHEN_UNIVERSITY, DONGGUAN_CENTRE,
              ZHONGSHAN_CENTRE, HONG_KONG_TST, MACAU_PENINSULA, SOUTH_CHINA_SEA, BEIJING]
    lon, lat = zip(*points)
    out = locate(np.array(lon), np.array(lat))
    assert list(out.columns) == ["adcode", "city", "district"]
    assert len(out) == len(points)
    assert out.iloc[0].tolist() == ["440106", "广州市", "天河区"]
    assert out.iloc[1].tolist() == ["440304", "深圳市", "福田区"]
    assert out.iloc[2].tolist() == ["440305", "深圳市", "南山区"]
    assert out.iloc[3].tolist() == ["441900", "东莞市", "东莞市"]
    assert out.iloc[4].tolist() == ["442000", "中山市", "中山市"]
    for i in range(5, 9):  # Hong Kong, Macau, the sea, Beijing
        assert out.iloc[i].tolist() == [None, None, None]


def test_locate_shapes_and_missing_values():
    single = locate(*TIANHE_SPORTS_CENTRE)
    assert single["adcode"].tolist() == ["440106"]
    out = locate([np.nan, TIANHE_SPORTS_CENTRE[0]], [23.0, TIANHE_SPORTS_CENTRE[1]])
    assert out["adcode"].iat[0] is None and out["adcode"].iat[1] == "440106"
    assert out["adcode"].dtype == object
    s_lon = pd.Series([FUTIAN_CIVIC_CENTRE[0], HONG_KONG_TST[0]], index=[10, 20])
    s_lat = pd.Series([FUTIAN_CIVIC_CENTRE[1], HONG_KONG_TST[1]], index=[10, 20])
    out = locate(s_lon, s_lat)
    assert out.index.tolist() == [10, 20]
    assert out.loc[10, "district"] == "福田区" and out.loc[20, "district"] is None
    assert len(locate([], [])) == 0
    with pytest.raises(ValueError):
        locate([1.0, 2.0], [1.0])


def test_locate_keeps_order_of_shuffled_points():
    district = load_boundaries("district")
    reps = district.geometry.representative_point()
    order = np.random.default_rng(1).permutation(len(district))
    out = locate(reps.x.to_numpy()[order], reps.y.to_numpy()[order])
    assert out["adcode"].tolist() == district["adcode"].to_numpy()[order].tolist()


def test_locate_100k_points_fast():
    rng = np.random.default_rng(0)
    lon = rng.uniform(109.6, 117.4, 100_000)
    lat = rng.uniform(20.2, 25.6, 100_000)
    locate(lon[:10], lat[:10])  # load and index outside the timing
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        out = locate(lon, lat)
        best = min(best, time.perf_counter() - start)
    assert len(out) == 100_000
    # Roughly the share of the bounding box that is Guangdong's land.
    assert 0.3 < out["adcode"].notna().mean() < 0.5
    assert best < 1.0


def test_boundaries_are_wgs84_not_gcj02():
    """Real WGS-84 points of Shenzhen fall in Shenzhen; the same points left in
    GCJ-02 (about 500 m off) fall out more often, which would be the other way
    round if the boundaries had not been converted."""
    csv = SHARED / "shenzhen_ev_charging_stations_gcj02.csv"
    if not csv.exists():
        pytest.skip("shared Shenzhen charging stations not available")
    df = pd.read_csv(csv)
    wlon, wlat = gcj02_to_wgs84(df["longitude"].to_numpy(), df["latitude"].to_numpy())
    in_sz_wgs = (locate(wlon, wlat)["city"] == "深圳市").sum()
    in_sz_gcj = (locate(df["longitude"], df["latitude"])["city"] == "深圳市").sum()
    assert in_sz_wgs >= len(df) - 2
    assert in_sz_wgs > in_sz_gcj + 20


def test_guangzhou_charging_stations_located_in_guangzhou():
    csv = SHARED / "guangzhou_ev_charging_stations.csv"
    if not csv.exists():
        pytest.skip("shared Guangzhou charging stations not available")
    df = pd.read_csv(csv)
    out = locate(df["WGS84_station_lg"], df["WGS84_station_lt"])
    assert (out["city"] == "广州市").mean() > 0.995


# --------------------------------------------------------------------------
# find_region
# --------------------------------------------------------------------------


@pytest.mark.parametrize("query, adcode, name, level", [
    ("440300", "440300", "深圳市", "city"),
    ("4403", "440300", "深圳市", "city"),
    ("440305", "440305", "南山区", "district"),
    ("440000", "440000", "广东省", "province"),
    ("44", "440000", "广东省", "province"),
    ("深圳", "440300", "深圳市", "city"),
    ("深圳市", "440300", "深圳市", "city"),
    (" 深圳市 ", "440300", "深圳市", "city"),
    ("Shenzhen", "440300", "深圳市", "city"),
    ("南山区", "440305", "南山区", "district"),
    ("南山", "440305", "南山区", "district"),
    ("深圳市南山区", "440305", "南山区", "district"),
    ("广东省广州市", "440100", "广州市", "city"),
    ("天河区", "440106", "天河区", "district"),
    ("Guangdong", "440000", "广东省", "province"),
    ("guangdong", "440000", "广东省", "province"),
    ("广东", "440000", "广东省", "province"),
    ("广东省", "440000", "广东省", "province"),
    ("东莞", "441900", "东莞市", "city"),
    ("441900", "441900", "东莞市", "city"),
    ("城区", "441502", "城区", "district"),
    ("连山", "441825", "连山壮族瑶族自治县", "district"),
])
def test_find_region(query, adcode, name, level):
    region = find_region(query)
    assert isinstance(region, Region)
    assert (region.adcode, region.name, region.level) == (adcode, name, level)
    assert region.geometry.geom_type in ("Polygon", "MultiPolygon")


def test_region_geometry_matches_layer():
    tianhe = find_region("440106")
    assert tianhe.geometry.contains(shapely.Point(*TIANHE_SPORTS_CENTRE))
    assert find_region("广东").geometry.equals(load_boundaries("province").geometry.iat[0])
    with pytest.raises(AttributeError):  # frozen
        tianhe.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize("query", ["北京", "440399", "4499", "", "Gotham", "12345", "香港"])
def test_find_region_not_found(query):
    with pytest.raises(ValueError, match="未找到区域 / region not found"):
        find_region(query)


# --------------------------------------------------------------------------
# in_region
# --------------------------------------------------------------------------


def test_in_region_default_is_guangdong():
    lon, lat = zip(TIANHE_SPORTS_CENTRE, HONG_KONG_TST, SOUTH_CHINA_SEA, DONGGUAN_CENTRE)
    out = in_region(np.array(lon), np.array(lat))
    assert isinstance(out, np.ndarray) and out.dtype == bool
    assert out.tolist() == [True, False, False, True]


def test_in_region_city_district_and_region_object():
    lon, lat = zip(TIANHE_SPORTS_CENTRE, FUTIAN_CIVIC_CENTRE, SHENZHEN_UNIVERSITY, (np.nan, np.nan))
    lon, lat = np.array(lon), np.array(lat)
    assert in_region(lon, lat, "深圳").tolist() == [False, True, True, False]
    assert in_region(lon, lat, "440304").tolist() == [False, True, False, False]
    assert in_region(lon, lat, find_region("广州")).tolist() == [True, False, False, False]
    assert in_region(*TIANHE_SPORTS_CENTRE).tolist() == [True]
    with pytest.raises(ValueError, match="region not found"):
        in_region(lon, lat, "北京")


def test_in_region_agrees_with_locate():
    rng = np.random.default_rng(5)
    lon = rng.uniform(112.8, 114.6, 20_000)
    lat = rng.uniform(22.0, 23.6, 20_000)
    located = locate(lon, lat)
    assert (in_region(lon, lat) == located["adcode"].notna().to_numpy()).mean() > 0.9999
    assert (in_region(lon, lat, "440300") == (located["city"] == "深圳市").to_numpy()).mean() > 0.9999


# --------------------------------------------------------------------------
# district_named_in
# --------------------------------------------------------------------------


@pytest.mark.parametrize("address, expected", [
    ("广州市天河区体育西路", "天河区"),
    ("广东省广州市天河区体育西路123号", "天河区"),
    ("深圳市南山区科技园南路", "南山区"),
    ("深圳南山科技园", "南山区"),
    ("番禺市桥街", "番禺区"),
    ("佛山顺德大良", "顺德区"),
    ("江门市台山市台城街道", "台山市"),
    ("连山壮族瑶族自治县吉田镇", "连山壮族瑶族自治县"),
    ("惠州市惠城区麦地路", "惠城区"),  # not 汕尾's 城区
    ("汕尾市城区香洲街道", "城区"),
    ("广州市越秀区老城区", "越秀区"),
    ("东莞市长安镇长安中路", "东莞市"),
    ("中山市石岐街道", "中山市"),
    ("深圳市宝安大道123号", "深圳市"),  # a road named after 宝安, not the district
    ("深圳市", "深圳市"),
    ("广州市老城区", "广州市"),  # 老城区 is not 汕尾's 城区
    ("和平路12号", None),  # a street, not 和平县
    ("天河路385号", None),
    ("中山大学", None),
    ("新兴街道办事处", None),
    ("香港九龙弥敦道", None),
    ("", None),
])
def test_district_named_in(address, expected):
    assert district_named_in(address) == expected


def test_district_named_in_handles_non_text():
    assert district_named_in(None) is None  # type: ignore[arg-type]
