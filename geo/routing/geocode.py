"""Offline place search for the worker finder: names, addresses, districts, coordinates.

Nothing here calls a web service. A worker types part of a place name and
the finder matches it against what the app already holds:

* the **registry** (station names and addresses, e.g. ``体育西`` finds the
  stations on 体育西路), and
* Guangdong's **administrative regions** from :mod:`geo.core.regions` (``天河``,
  ``南山区``, ``深圳市南山区``, ``Shenzhen``, an adcode, and in pinyin:
  ``nanshan``, ``nsq``), each placed at a point inside it, and
* the **place index** of the network folder (:mod:`geo.routing.places`:
  named OSM stations, landmarks, parks, villages, streets …, by Chinese,
  pinyin, initials or English), when one has been built.

:func:`parse_coordinates` reads a pasted ``"lon,lat"`` pair instead: map apps
copy coordinates in their own datum (Amap and Tencent GCJ-02, Baidu BD-09,
a GPS WGS-84), so the caller says which and the point is converted to WGS-84
with :func:`geo.core.crs.to_wgs84`.
"""
from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import pandas as pd

from geo.core import regions
from geo.core.crs import normalize_crs, to_wgs84
from geo.routing import places

#: Kinds of place :func:`search_places` returns, in the order a tie is broken
#: (``place``: a named OSM feature of the place index).
PLACE_KINDS: tuple[str, ...] = ("city", "district", "station", "place")

# What a match of the place index scores, by its class (exact, prefix,
# substring): just under the same class of match on a Chinese name here, so
# a registry station or a region named as typed stays first.
_INDEX_SCORE = {places.EXACT: 0.95, places.PREFIX: 0.88, places.SUBSTRING: 0.78}

# Match strengths, best first. A region named exactly outranks a station
# named exactly (天河 is the district before any 天河 station); a hit in a
# name outranks the same hit in an address, which mentions far more places.
_EXACT_REGION = 1.0
_EXACT_STATION = 0.97
_PREFIX = 0.9
_IN_NAME = 0.8
_IN_ADDRESS = 0.7
_NAME_IN_QUERY = 0.65
_FUZZY = 0.6
# Below this a bigram overlap is noise ("南山" and "山西" share nothing useful).
_MIN_DICE = 0.5

# Letters, digits and CJK characters; everything else (spaces, punctuation,
# "·") is dropped before matching, so "南山 区" and "南山区" are the same.
_DROP = re.compile(r"[\W_]+", re.UNICODE)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")

# Longest first, so 连山壮族瑶族自治县 loses its whole suffix.
_SUFFIXES = ("壮族瑶族自治县", "瑶族自治县", "自治县", "区", "县", "市")

# Where a longitude and a latitude can lie for a point in China (with margin):
# every longitude there is larger than every latitude, which is how a swapped
# pair gives itself away.
_CHINA_LON = (70.0, 140.0)
_CHINA_LAT = (0.0, 56.0)


def _norm(text: Any) -> str:
    """Text folded for matching: NFKC (full-width to half-width), lower case, no separators."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return _DROP.sub("", unicodedata.normalize("NFKC", str(text)).lower())


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)} if len(text) > 1 else {text}


def _dice(a: str, b: str) -> float:
    """Sørensen–Dice overlap of character bigrams: tolerant of one wrong or missing character."""
    x, y = _bigrams(a), _bigrams(b)
    if not x or not y:
        return 0.0
    return 2.0 * len(x & y) / (len(x) + len(y))


def _score(query: str, form: str, in_text: float) -> float:
    """How well ``query`` matches one spelling ``form`` (both normalised); 0 for no match.

    ``in_text`` is the strength of ``query`` appearing inside ``form``; the
    longer the part of ``form`` it covers, the closer the score gets to a
    prefix match.
    """
    if not query or not form:
        return 0.0
    if form.startswith(query):
        return _PREFIX + 0.05 * len(query) / len(form)
    if query in form:
        return in_text + 0.05 * len(query) / len(form)
    if len(form) >= 2 and form in query:
        # "深圳南山科技园" names 南山 and more: a weaker hit on the region.
        return _NAME_IN_QUERY * len(form) / len(query) + 0.1
    if len(query) >= 3:
        if _one_edit_apart(query, form):
            return _FUZZY * 0.9  # one wrong, missing or extra character: 天和区 for 天河区
        dice = _dice(query, form)
        if dice >= _MIN_DICE:
            return _FUZZY * dice
    return 0.0


def _one_edit_apart(a: str, b: str) -> bool:
    """True when one substitution, insertion or deletion turns ``a`` into ``b``."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:]
    return a[i:] == b[i + 1:]


# --------------------------------------------------------------------------
# Regions
# --------------------------------------------------------------------------


def _short(name: str) -> str:
    """天河区 -> 天河, 深圳市 -> 深圳; names that would shrink to one character stay whole (城区)."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class _Region:
    label: str
    kind: str
    adcode: str
    lon: float
    lat: float
    forms: tuple[str, ...]


def _inside_point(geom) -> tuple[float, float]:
    """The centroid when it lies inside the region (it looks central), else a point surely inside."""
    c = geom.centroid
    p = c if geom.contains(c) else geom.representative_point()
    return round(float(p.x), 6), round(float(p.y), 6)


@functools.lru_cache(maxsize=1)
def _region_table() -> tuple[_Region, ...]:
    """Cities and districts with their spellings and a point inside each."""
    out: list[_Region] = []
    try:
        cities = regions.load_boundaries("city")
        districts = regions.load_boundaries("district")
    except (FileNotFoundError, ValueError, OSError):
        return ()  # no boundary file: stations are still searchable
    city_names = dict(zip(cities["adcode"], cities["name"]))
    for adcode, name, geom in zip(cities["adcode"], cities["name"], cities.geometry):
        lon, lat = _inside_point(geom)
        forms = {_norm(name), _norm(_short(name))}
        out.append(_Region(name, "city", adcode, lon, lat, tuple(f for f in forms if f)))
    for adcode, name, city_code, geom in zip(districts["adcode"], districts["name"],
                                             districts["city_adcode"], districts.geometry):
        city = city_names.get(city_code, "")
        lon, lat = _inside_point(geom)
        short = _short(name)
        forms = {_norm(name), _norm(short), _norm(city + name), _norm(_short(city) + short)}
        # Dongguan and Zhongshan are their own district: list them once, as the city.
        if name == city:
            continue
        out.append(_Region(f"{name} · {city}", "district", adcode, lon, lat, tuple(f for f in forms if f)))
    return tuple(out)


def _region_hits(query: str, raw: str) -> list[dict]:
    hits: dict[str, dict] = {}
    # find_region knows adcodes, English city names and "city + district".
    try:
        exact = regions.find_region(raw)
    except ValueError:
        exact = None
    table = _region_table()
    for reg in table:
        score = max(_score(query, form, _IN_NAME) for form in reg.forms)
        if query in reg.forms:
            score = _EXACT_REGION
        if exact is not None and exact.adcode == reg.adcode and exact.level == reg.kind:
            score = _EXACT_REGION
        if score > 0:
            hits[reg.adcode + reg.kind] = {"label": reg.label, "lon": reg.lon, "lat": reg.lat,
                                           "kind": reg.kind, "score": round(score, 4),
                                           "adcode": reg.adcode, "detail": ""}
    return list(hits.values())


# --------------------------------------------------------------------------
# Stations
# --------------------------------------------------------------------------


def _station_hits(query: str, stations: pd.DataFrame | None) -> list[dict]:
    if stations is None or not len(stations):
        return []
    names = stations["name"] if "name" in stations else pd.Series([""] * len(stations))
    addresses = stations["address"] if "address" in stations else pd.Series([""] * len(stations))
    lons, lats = _lon_lat(stations)
    ids = stations["id"] if "id" in stations else pd.Series([""] * len(stations))
    kinds = stations["kind"] if "kind" in stations else pd.Series([""] * len(stations))
    out = []
    for sid, name, address, kind, lon, lat in zip(ids, names, addresses, kinds, lons, lats):
        if not (math.isfinite(lon) and math.isfinite(lat)):
            continue
        n, a = _norm(name), _norm(address)
        score = _EXACT_STATION if query == n else _score(query, n, _IN_NAME)
        if query in a:
            # Only a plain hit counts in an address, and never above a name:
            # "广州" begins thousands of addresses and must not bury the city.
            score = max(score, _IN_ADDRESS + 0.05 * len(query) / len(a))
        if score <= 0:
            continue
        out.append({"label": str(name or ""), "lon": round(lon, 7), "lat": round(lat, 7), "kind": "station",
                    "score": round(score, 4), "id": str(sid or ""), "station_kind": str(kind or ""),
                    "detail": "" if address is None or (isinstance(address, float) and math.isnan(address))
                    else str(address)})
    return out


def _lon_lat(stations: pd.DataFrame) -> tuple[list[float], list[float]]:
    if "lon" in stations and "lat" in stations:
        lon = pd.to_numeric(stations["lon"], errors="coerce")
        lat = pd.to_numeric(stations["lat"], errors="coerce")
    else:  # a GeoDataFrame without the columns: read the points
        geom = stations.geometry
        lon, lat = geom.x, geom.y
    return [float(v) for v in lon.fillna(float("nan"))], [float(v) for v in lat.fillna(float("nan"))]


# --------------------------------------------------------------------------
# Pinyin and the place index (geo.routing.places)
# --------------------------------------------------------------------------


def _pinyin_region_hits(query: str, found: set[str], limit: int) -> list[dict]:
    """Regions matched by pinyin or initials (``futian``, ``ftq``) that the names above did not find."""
    by_point = {(r.kind, r.lon, r.lat): r for r in _region_table()}
    out = []
    for hit in places.region_places().hits(query, limit=limit):
        # Both tables put a region at the same point inside it, which ties the two together.
        reg = by_point.get((hit.place["kind"], hit.place["lon"], hit.place["lat"]))
        if reg is None or reg.adcode + reg.kind in found:
            continue
        out.append({"label": reg.label, "lon": reg.lon, "lat": reg.lat, "kind": reg.kind,
                    "score": _INDEX_SCORE[hit.rank[0]], "adcode": reg.adcode, "detail": ""})
    return out


def _index_hits(query: str, limit: int) -> list[dict]:
    """Named OSM places of the network folder's place index; none when there is no usable index."""
    try:
        index = places.load_places()
    except (ValueError, OSError):
        return []  # an index of another version: the finder still searches regions and stations
    if index is None:
        return []
    return [{"label": h.place["name"], "lon": h.place["lon"], "lat": h.place["lat"], "kind": "place",
             "score": _INDEX_SCORE[h.rank[0]], "detail": h.place["name_en"] or "",
             "place_kind": h.place["kind"], "district": h.place["district"] or ""}
            for h in index.hits(query, limit=limit)]


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def search_places(query: str, stations: pd.DataFrame | None = None, limit: int = 8) -> list[dict]:
    """Match typed text against station names, addresses, districts and cities, offline.

    Matching folds full-width characters and case and ignores spaces and
    punctuation. A spelling that starts with the text, contains it, or is
    contained in it matches (``天河`` finds 天河区, ``体育西`` the stations on
    体育西路, ``深圳南山`` 南山区); with three characters or more, a spelling
    sharing most character pairs with the text matches too (one wrong
    character). Regions are found by pinyin and initials too, and named
    OSM places through the network folder's place index
    (:mod:`geo.routing.places`) when it has one.

    Parameters
    ----------
    query
        What the user typed.
    stations
        Registry stations with ``name``, ``address``, ``id``, ``kind``,
        ``lon``, ``lat`` (WGS-84).
    limit
        Most places returned.

    Returns
    -------
    list of dict
        Best first, each with ``label`` (a district's label names its city:
        ``"南山区 · 深圳市"``), ``lon``, ``lat`` (WGS-84; a region's point
        lies inside it), ``kind`` (``"station"``, ``"district"`` or
        ``"city"``, or ``"place"`` for a named OSM feature of the place
        index), ``score`` (0–1) and ``detail`` (a station's address, a
        place's English name). Stations also carry ``id`` and
        ``station_kind``; regions ``adcode``; places ``place_kind`` (see
        :data:`geo.routing.places.KIND_WEIGHT`) and ``district``.
        Text is returned as stored: escape it before putting it in HTML.
    """
    raw = unicodedata.normalize("NFKC", str(query or "")).strip()
    q = _norm(raw)
    if not q or limit < 1:
        return []
    hits = _region_hits(q, raw) + _station_hits(q, stations)
    hits += _pinyin_region_hits(q, {h["adcode"] + h["kind"] for h in hits if "adcode" in h}, limit)
    hits += _index_hits(q, limit)
    order = {k: i for i, k in enumerate(PLACE_KINDS)}
    hits.sort(key=lambda h: (-h["score"], order[h["kind"]], len(h["label"]), h["label"]))
    out: list[dict] = []
    seen: set[tuple] = set()
    for h in hits:
        # The same station imported twice, or a name repeated at one spot, is one answer.
        key = (h["kind"], h["label"], round(h["lon"], 4), round(h["lat"], 4))
        if key in seen:
            continue
        seen.add(key)
        out.append(h)
        if len(out) >= limit:
            break
    return out


@dataclass(frozen=True)
class ParsedPoint:
    """A point read from pasted text, converted to WGS-84.

    Attributes
    ----------
    lon, lat : float
        WGS-84.
    crs : str
        The datum the text was read in (``wgs84``, ``gcj02`` or ``bd09``).
    swapped : bool
        True when the text gave latitude first and the pair was turned round.
    """

    lon: float
    lat: float
    crs: str
    swapped: bool


class CoordinateError(ValueError):
    """Pasted text that is not a usable coordinate pair; ``zh`` and ``en`` say why."""

    def __init__(self, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


def looks_like_coordinates(text: str) -> bool:
    """True when ``text`` is two numbers and little else (so a search box can treat it as a point)."""
    norm = unicodedata.normalize("NFKC", str(text or ""))
    numbers = _NUMBER.findall(norm)
    rest = _NUMBER.sub("", norm)
    return len(numbers) == 2 and not re.search(r"[^\s,;:/|()\[\]a-zA-Z°]", rest)


def parse_coordinates(text: str, crs: str = "wgs84") -> ParsedPoint:
    """Read a pasted ``"lon,lat"`` pair and convert it to WGS-84.

    Accepts a comma, a Chinese comma (``，``), a semicolon or spaces between
    the numbers, full-width digits, and labels such as ``lng:``/``lat:``.
    The order is detected: in China every longitude (73–135° E) is larger
    than every latitude (3–54° N), so ``"23.13,113.26"`` is read as latitude
    first and turned round.

    Parameters
    ----------
    text
        E.g. ``"113.26,23.13"`` copied from Amap.
    crs
        Datum of the pasted numbers: ``"gcj02"`` (Amap, Tencent),
        ``"bd09"`` (Baidu) or ``"wgs84"`` (GPS); aliases of
        :func:`geo.core.crs.normalize_crs` work too.

    Returns
    -------
    ParsedPoint

    Raises
    ------
    CoordinateError
        When the text does not hold exactly two numbers, or they cannot be
        a point in China in either order.
    """
    name = normalize_crs(crs)
    norm = unicodedata.normalize("NFKC", str(text or ""))
    numbers = [float(x) for x in _NUMBER.findall(norm)]
    if len(numbers) != 2:
        raise CoordinateError("请输入两个数：经度,纬度（例如 113.26,23.13）",
                              "Enter two numbers: longitude,latitude (e.g. 113.26,23.13)")
    a, b = numbers

    def fits(lon: float, lat: float) -> bool:
        return _CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]

    if fits(a, b):
        lon, lat, swapped = a, b, False
    elif fits(b, a):
        lon, lat, swapped = b, a, True
    else:
        raise CoordinateError("坐标不在中国范围内：经度应在 73–135 之间，纬度应在 3–54 之间",
                              "Not a point in China: longitude must be 73–135 and latitude 3–54")
    wlon, wlat = to_wgs84(lon, lat, name)
    return ParsedPoint(lon=float(wlon), lat=float(wlat), crs=name, swapped=swapped)
