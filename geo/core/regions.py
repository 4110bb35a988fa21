"""Guangdong's administrative regions: lookup, point-in-district, names.

The boundaries are read from :data:`geo.settings.BOUNDARIES_PATH`, a
GeoPackage with the layers ``province``, ``city`` and ``district`` in WGS-84
built by ``data/build_boundaries.py``. The district layer is a clean coverage
(no gaps, no overlaps) and cities and the province are dissolved from it, so
the three layers nest exactly. Dongguan (441900) and Zhongshan (442000),
which have no county level, are their own district.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike

from geo import settings

LEVELS = ("province", "city", "district")

_PROVINCE_ADCODE = "440000"
_PROVINCE_NAMES = ("广东省", "广东", "粤", "guangdong", "guangdong province", "gd")

# English (pinyin) names of the 21 prefecture-level cities; the boundary file
# only carries Chinese names.
_CITY_EN = {
    "440100": "guangzhou", "440200": "shaoguan", "440300": "shenzhen", "440400": "zhuhai",
    "440500": "shantou", "440600": "foshan", "440700": "jiangmen", "440800": "zhanjiang",
    "440900": "maoming", "441200": "zhaoqing", "441300": "huizhou", "441400": "meizhou",
    "441500": "shanwei", "441600": "heyuan", "441700": "yangjiang", "441800": "qingyuan",
    "441900": "dongguan", "442000": "zhongshan", "445100": "chaozhou", "445200": "jieyang",
    "445300": "yunfu",
}

# Longest suffix first, so 连山壮族瑶族自治县 shortens to 连山, not 连山壮族.
_SUFFIXES = ("壮族瑶族自治县", "瑶族自治县", "自治县", "区", "县", "市")

# A short name (天河 for 天河区) followed by one of these is a street, a
# campus or a landmark named after the place (和平路, 新兴街, 宝安大道, 中山大学),
# not the place itself.
_NOT_A_PLACE_AFTER = ("路", "街", "道", "大道", "大街", "大桥", "大马路", "巷", "桥", "站", "村", "里", "坊", "大学", "公园", "广场", "大厦", "山", "湖")


@dataclass(frozen=True)
class Region:
    """An administrative region of Guangdong.

    Attributes
    ----------
    adcode : str
        Six-digit GB/T 2260 code, e.g. ``"440106"``.
    name : str
        Official Chinese name, e.g. ``"天河区"``.
    level : str
        ``"province"``, ``"city"`` or ``"district"``.
    geometry : shapely.Geometry
        (Multi)polygon in WGS-84 longitude/latitude.
    """

    adcode: str
    name: str
    level: str
    geometry: shapely.Geometry = field(repr=False, compare=False)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_boundaries(level: str = "district") -> gpd.GeoDataFrame:
    """Read one layer of Guangdong's boundaries.

    Parameters
    ----------
    level : {'province', 'city', 'district'}
        Layer to read. ``province`` has ``adcode``, ``name``; ``city`` the
        same for the 21 prefecture-level cities; ``district`` adds
        ``city_adcode`` and ``city`` for the county-level units.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326, sorted by adcode. The frame is cached and shared by
        every caller: do not modify it (take a ``.copy()`` first).

    Raises
    ------
    ValueError
        For an unknown level.
    FileNotFoundError
        If the boundary file has not been built.
    """
    if level not in LEVELS:
        raise ValueError(f"未知区划级别 / unknown level: {level!r} (expected one of {LEVELS})")
    # Cached by level alone, so load_boundaries() and
    # load_boundaries("district") share one frame.
    return _load(level)


@functools.lru_cache(maxsize=None)
def _load(level: str) -> gpd.GeoDataFrame:
    path = settings.BOUNDARIES_PATH
    if not path.exists():
        raise FileNotFoundError(
            f"边界文件不存在 / boundary file missing: {path}; run data/build_boundaries.py"
        )
    gdf = gpd.read_file(path, layer=level, engine="pyogrio")
    for col in ("adcode", "city_adcode"):
        if col in gdf.columns:
            gdf[col] = gdf[col].astype(str)
    gdf = gdf.to_crs("EPSG:4326") if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else gdf
    return gdf.sort_values("adcode").reset_index(drop=True)


@functools.lru_cache(maxsize=None)
def _district_index() -> tuple[shapely.STRtree, np.ndarray, np.ndarray, np.ndarray]:
    gdf = load_boundaries("district")
    geoms = gdf.geometry.to_numpy()
    # Point-in-polygon against a prepared polygon walks an internal index
    # instead of every edge; this is what makes 100k points cheap.
    shapely.prepare(geoms)
    return (shapely.STRtree(geoms), geoms,
            gdf["adcode"].to_numpy(dtype=object),
            np.column_stack([gdf["city"].to_numpy(dtype=object), gdf["name"].to_numpy(dtype=object)]))


# --------------------------------------------------------------------------
# Point in district
# --------------------------------------------------------------------------


def locate(lon: ArrayLike, lat: ArrayLike) -> pd.DataFrame:
    """Find the district each point falls in.

    Parameters
    ----------
    lon, lat : float or array-like
        WGS-84 longitude and latitude. NaN is allowed and locates nowhere.

    Returns
    -------
    pandas.DataFrame
        Columns ``adcode``, ``city``, ``district`` (object dtype), one row
        per input point in input order, ``None`` where the point is outside
        Guangdong. Keeps the index of ``lon`` if it is a Series.
    """
    index = lon.index if isinstance(lon, pd.Series) else None
    x = np.atleast_1d(np.asarray(lon, dtype=float)).ravel()
    y = np.atleast_1d(np.asarray(lat, dtype=float)).ravel()
    if x.shape != y.shape:
        raise ValueError(f"lon and lat differ in length: {x.size} != {y.size}")
    tree, geoms, adcodes, labels = _district_index()

    hit = np.full(x.size, -1, dtype=np.int64)
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if finite.size:
        # Bounding-box candidates from the tree, then an exact prepared test
        # per district over just its candidates.
        pts = shapely.points(x[finite], y[finite])
        pt_idx, geom_idx = tree.query(pts)
        order = np.lexsort((pt_idx, geom_idx))
        pt_idx, geom_idx = pt_idx[order], geom_idx[order]
        starts = np.flatnonzero(np.r_[True, geom_idx[1:] != geom_idx[:-1]]) if geom_idx.size else []
        bounds = list(starts) + [geom_idx.size]
        # Walk districts from the highest index down so that a point on a
        # shared border ends up with the lower adcode, whatever the order.
        for start, stop in reversed(list(zip(bounds[:-1], bounds[1:]))):
            g = geom_idx[start]
            cand = finite[pt_idx[start:stop]]
            inside = shapely.intersects_xy(geoms[g], x[cand], y[cand])
            hit[cand[inside]] = g

    found = hit >= 0
    out_adcode = np.full(x.size, None, dtype=object)
    out_city = np.full(x.size, None, dtype=object)
    out_district = np.full(x.size, None, dtype=object)
    out_adcode[found] = adcodes[hit[found]]
    out_city[found] = labels[hit[found], 0]
    out_district[found] = labels[hit[found], 1]
    # dtype=object explicitly: pandas would otherwise infer its string dtype
    # and turn the None of points outside Guangdong into NaN.
    return pd.DataFrame(
        {"adcode": out_adcode, "city": out_city, "district": out_district},
        index=index if index is not None and len(index) == x.size else None,
        dtype=object,
    )


# --------------------------------------------------------------------------
# Finding a region by code or name
# --------------------------------------------------------------------------


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _region_from_row(row, level: str) -> Region:
    return Region(adcode=str(row["adcode"]), name=str(row["name"]), level=level, geometry=row.geometry)


@functools.lru_cache(maxsize=None)
def _name_table() -> dict[str, list[tuple[str, str]]]:
    """Map every accepted spelling to ``[(level, adcode), ...]``, best first."""
    table: dict[str, list[tuple[str, str]]] = {}

    def add(key: str, level: str, adcode: str) -> None:
        entries = table.setdefault(key.lower(), [])
        if (level, adcode) not in entries:
            entries.append((level, adcode))

    for key in _PROVINCE_NAMES:
        add(key, "province", _PROVINCE_ADCODE)
    # Full names first, then short names; cities before districts, so that
    # 东莞/东莞市 find the city rather than the district of the same name.
    cities = load_boundaries("city")
    districts = load_boundaries("district")
    for adcode, name in zip(cities["adcode"], cities["name"]):
        add(name, "city", adcode)
        if adcode in _CITY_EN:
            add(_CITY_EN[adcode], "city", adcode)
    for adcode, name in zip(districts["adcode"], districts["name"]):
        add(name, "district", adcode)
    for adcode, name in zip(cities["adcode"], cities["name"]):
        add(_short(name), "city", adcode)
    for adcode, name in zip(districts["adcode"], districts["name"]):
        add(_short(name), "district", adcode)
    return table


def _region_by_code(level: str, adcode: str) -> Region | None:
    gdf = load_boundaries(level)
    rows = gdf[gdf["adcode"] == adcode]
    if rows.empty:
        return None
    return _region_from_row(rows.iloc[0], level)


def _not_found(query: str) -> ValueError:
    return ValueError(f"未找到区域 / region not found: {query!r}")


def find_region(query: str) -> Region:
    """Find a Guangdong region by adcode or by name.

    Parameters
    ----------
    query : str
        An adcode (``"440000"``/``"44"``, ``"440300"``/``"4403"``,
        ``"440305"``) or a name: ``"广东"``, ``"Guangdong"``, ``"深圳"``,
        ``"深圳市"``, ``"Shenzhen"``, ``"南山区"``, ``"南山"``, or a city and
        district together such as ``"深圳市南山区"``.

    Returns
    -------
    Region
        The region. A name shared by a city and a district (``东莞市``)
        resolves to the city.

    Raises
    ------
    ValueError
        ``"未找到区域 / region not found: ..."`` if nothing matches.
    """
    text = re.sub(r"\s+", " ", str(query)).strip()
    if not text:
        raise _not_found(query)

    if text.isdigit():
        code = {2: text + "0000", 4: text + "00", 6: text}.get(len(text))
        if code is None:
            raise _not_found(query)
        if code == _PROVINCE_ADCODE:
            level = "province"
        elif code.endswith("00"):
            level = "city"
        else:
            level = "district"
        region = _region_by_code(level, code)
        if region is None:
            raise _not_found(query)
        return region

    key = text.lower()
    for prefix in ("广东省", "广东"):
        # "广东省深圳市" names the city, not the province.
        if key.startswith(prefix):
            if len(key) > len(prefix):
                key = key[len(prefix):]
            break
    table = _name_table()
    if key in table:
        level, code = table[key][0]
        return _region_by_code(level, code)  # type: ignore[return-value]

    # "深圳市南山区" / "深圳南山": a city followed by one of its districts.
    cities = load_boundaries("city")
    for city_code, name in zip(cities["adcode"], cities["name"]):
        for spelling in (name, _short(name)):
            if key.startswith(spelling) and len(key) > len(spelling):
                for level, code in table.get(key[len(spelling):], []):
                    if level == "district" and code[:4] == city_code[:4]:
                        return _region_by_code(level, code)  # type: ignore[return-value]
    raise _not_found(query)


def in_region(lon: ArrayLike, lat: ArrayLike,
              region: str | Region = settings.SERVICE_REGION) -> np.ndarray:
    """Which points fall inside a region.

    Parameters
    ----------
    lon, lat : float or array-like
        WGS-84 longitude and latitude.
    region : str or Region
        Anything :func:`find_region` accepts, or a :class:`Region`. Defaults
        to the service region of :mod:`geo.settings` (Guangdong).

    Returns
    -------
    numpy.ndarray of bool
        One flag per point; points on the boundary count as inside, NaN as
        outside.
    """
    reg = region if isinstance(region, Region) else find_region(region)
    x = np.atleast_1d(np.asarray(lon, dtype=float)).ravel()
    y = np.atleast_1d(np.asarray(lat, dtype=float)).ravel()
    if x.shape != y.shape:
        raise ValueError(f"lon and lat differ in length: {x.size} != {y.size}")
    # Prepared, the polygon answers point queries from an internal index.
    shapely.prepare(reg.geometry)
    ok = np.isfinite(x) & np.isfinite(y)
    out = np.zeros(x.size, dtype=bool)
    out[ok] = shapely.intersects_xy(reg.geometry, x[ok], y[ok])
    return out


# --------------------------------------------------------------------------
# District names in address text
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _address_names() -> tuple[list[tuple[str, str, tuple[str, ...]]], list[tuple[str, str]]]:
    """Spellings to look for in addresses.

    Returns ``(districts, cities)``: for districts ``(spelling, official
    name, spellings of its city)``; for cities ``(spelling, official name)``.
    """
    cities = load_boundaries("city")
    city_spellings = {code: (name, _short(name)) for code, name in zip(cities["adcode"], cities["name"])}
    districts = load_boundaries("district")
    dist = []
    for name, city_code in zip(districts["name"], districts["city_adcode"]):
        spellings = city_spellings[city_code]
        dist.append((name, name, spellings))
        short = _short(name)
        if short != name:
            dist.append((short, name, spellings))
    city = []
    for full, short in city_spellings.values():
        city.append((full, full))
        city.append((short, full))
    # Longest spelling first: 惠城区 must win over 城区 inside it.
    dist.sort(key=lambda t: -len(t[0]))
    city.sort(key=lambda t: -len(t[0]))
    return dist, city


def _after_city_or_start(text: str, pos: int, city_spellings: tuple[str, ...]) -> bool:
    head = text[:pos]
    for prefix in ("广东省", "广东"):
        if head.startswith(prefix):
            head = head[len(prefix):]
            break
    if head == "":
        return True
    return any(head.endswith(c) for c in city_spellings)


def _names_a_street(text: str, end: int) -> bool:
    return text.startswith(_NOT_A_PLACE_AFTER, end)


def district_named_in(address: str) -> str | None:
    """Name the Guangdong district (or city) an address text mentions.

    Used to warn when an address names one district and the coordinates fall
    in another. Official names with their suffix (``天河区``, ``台山市``) are
    found anywhere in the text. Bare forms (``天河``, ``番禺``) and names that
    are part of other words (汕尾's ``城区`` inside ``老城区``) only count right
    after their own city or at the start of the address, and not when they
    begin a street or landmark name (``和平路``, ``中山大学``, ``宝安大道``).

    Parameters
    ----------
    address : str
        Free address text, e.g. ``"广州市天河区体育西路"``.

    Returns
    -------
    str or None
        Official name of the longest district match (``"天河区"``); if no
        district is named, the official name of a city (``"深圳市"``); else
        ``None``.
    """
    if not address or not isinstance(address, str):
        return None
    text = re.sub(r"\s+", "", address)
    districts, cities = _address_names()

    best: tuple[int, int, str] | None = None  # (-length, position, official name)
    for spelling, official, city_spellings in districts:
        if best is not None and len(spelling) < -best[0]:
            break
        start = text.find(spelling)
        while start >= 0:
            end = start + len(spelling)
            full = spelling == official and len(spelling) >= 3
            if full or (_after_city_or_start(text, start, city_spellings) and not _names_a_street(text, end)):
                cand = (-len(spelling), start, official)
                if best is None or cand < best:
                    best = cand
                break
            start = text.find(spelling, start + 1)
    if best is not None:
        return best[2]

    for spelling, official in cities:
        start = text.find(spelling)
        while start >= 0:
            end = start + len(spelling)
            if spelling == official or (_after_city_or_start(text, start, ()) and not _names_a_street(text, end)):
                return official
            start = text.find(spelling, start + 1)
    return None
