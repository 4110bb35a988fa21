"""Hand a chosen station to a phone's navigation app: Amap, Baidu Maps, Apple Maps.

The finder routes on its own graph, but turn-by-turn guidance is the map
apps' job. Each function here builds the documented web link of one app;
opened on a phone it starts the app when installed (or its web page when
not). The registry keeps WGS-84, and each app wants its own datum, so every
point is converted here with :mod:`geo.core.crs` — a point in the wrong datum
lands about 300–600 m off in Guangdong, the wrong side of a main road.

Names are percent-encoded with :func:`urllib.parse.quote`; commas and
vertical bars, which these links use as separators inside a parameter, are
replaced in names first so that a station called ``"A,B"`` cannot shift the
coordinates.
"""
from __future__ import annotations

import math
from typing import Callable
from urllib.parse import quote

from geo.core.crs import wgs84_to_bd09, wgs84_to_gcj02
from geo.routing.network import MODES

#: Identifies this app to Amap and Baidu (their ``src`` parameter; Baidu asks
#: for ``webapp.companyName.appName``).
SOURCE = "webapp.gdunion.workerfinder"

#: Travel mode of the finder -> mode word of each app. Amap's URI API has no
#: e-bike or truck mode: e-bikes ride (``ride``), trucks drive (``car``).
#: Baidu's ``riding`` is documented for its app links; its older web page
#: lists only transit/driving/walking and falls back to driving there. Apple's
#: ``dirflg`` has no cycling: an e-bike gets walking directions, which at least
#: keep off expressways, where e-bikes are not allowed (道路交通安全法 art. 67).
AMAP_MODES = {"walk": "walk", "ebike": "ride", "drive": "car", "truck": "car"}
BAIDU_MODES = {"walk": "walking", "ebike": "riding", "drive": "driving", "truck": "driving"}
APPLE_MODES = {"walk": "w", "ebike": "w", "drive": "d", "truck": "d"}

#: Six decimals are about 0.1 m: finer than any station's position, and
#: coarse enough that a link stays short.
_DIGITS = 6


def _check(lon: float, lat: float, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"未知出行方式 / unknown travel mode: {mode!r}")
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError(f"坐标无效 / invalid coordinates: {lon!r}, {lat!r}")


def _points(lon: float, lat: float, mode: str, origin: tuple[float, float] | None,
            convert: Callable[[float, float], tuple[float, float]]) -> tuple[tuple[float, float], tuple | None]:
    """The station and the origin (None without one) in an app's datum, after checking the station."""
    _check(lon, lat, mode)
    return convert(lon, lat), (convert(*origin) if origin is not None else None)


def _label(name: str | None, fallback: str) -> str:
    """A name safe inside a link parameter: separators replaced, then percent-encoded."""
    text = " ".join(str(name or "").split()) or fallback
    text = text.replace(",", "，").replace("|", "｜").replace(":", "：")
    return quote(text, safe="")


def _fmt(value: float) -> str:
    return f"{value:.{_DIGITS}f}"


def amap_url(lon: float, lat: float, name: str, mode: str = "ebike",
             origin: tuple[float, float] | None = None, origin_name: str = "我的位置") -> str:
    """Amap (高德地图) directions to a station.

    Format, from Amap's URI API "路径规划" page
    (https://lbs.amap.com/api/uri-api/guide/travel/route)::

        https://uri.amap.com/navigation?from=LON,LAT,NAME&to=LON,LAT,NAME
            &mode=car|bus|walk|ride&coordinate=gaode&callnative=1&src=...

    Points are **GCJ-02** (Amap's own datum, ``coordinate=gaode``; the
    ``coordinate`` parameter is documented on the URI API's marker page,
    https://lbs.amap.com/api/uri-api/guide/mobile-web/point), longitude
    first. ``callnative=1`` opens the Amap app on a phone that has it.

    Parameters
    ----------
    lon, lat
        The station, WGS-84.
    name
        Shown as the destination's name.
    mode
        Finder travel mode (:data:`AMAP_MODES`).
    origin
        Start, WGS-84; without it Amap starts from the phone's position.
    origin_name
        Label of the start.
    """
    (glon, glat), start = _points(lon, lat, mode, origin, wgs84_to_gcj02)
    parts = []
    if start is not None:
        parts.append(f"from={_fmt(start[0])},{_fmt(start[1])},{_label(origin_name, '起点')}")
    parts += [f"to={_fmt(glon)},{_fmt(glat)},{_label(name, '终点')}", f"mode={AMAP_MODES[mode]}",
              "coordinate=gaode", "callnative=1", f"src={SOURCE}"]
    return "https://uri.amap.com/navigation?" + "&".join(parts)


def baidu_url(lon: float, lat: float, name: str, mode: str = "ebike",
              origin: tuple[float, float] | None = None, origin_name: str = "我的位置",
              region: str | None = None) -> str:
    """Baidu Maps (百度地图) directions to a station.

    Format, from Baidu's URI API for web pages, "公交、驾车、步行导航"
    (https://lbsyun.baidu.com/index.php?title=uri/api/web)::

        https://api.map.baidu.com/direction?origin=latlng:LAT,LNG|name:NAME
            &destination=latlng:LAT,LNG|name:NAME&mode=driving|walking|riding
            &coord_type=bd09ll&output=html&src=...

    Latitude comes first. ``coord_type`` also accepts ``wgs84``, but we
    convert to **BD-09** ourselves and send ``bd09ll``, Baidu's native
    datum, so the link does not depend on Baidu converting on its side (and
    a test can check the point exactly). ``output=html`` is required on the
    web; the app ignores it. Without an origin the link gives only a
    destination and Baidu starts from the phone's position; ``region``
    (a city name) helps Baidu when it has to search by name.
    """
    (blon, blat), start = _points(lon, lat, mode, origin, wgs84_to_bd09)
    parts = []
    if start is not None:
        parts.append(f"origin=latlng:{_fmt(start[1])},{_fmt(start[0])}|name:{_label(origin_name, '起点')}")
    parts += [f"destination=latlng:{_fmt(blat)},{_fmt(blon)}|name:{_label(name, '终点')}",
              f"mode={BAIDU_MODES[mode]}", "coord_type=bd09ll", "output=html", f"src={SOURCE}"]
    if region:
        parts.append(f"region={_label(region, '')}")
    return "https://api.map.baidu.com/direction?" + "&".join(parts)


def apple_url(lon: float, lat: float, name: str, mode: str = "ebike",
              origin: tuple[float, float] | None = None) -> str:
    """Apple Maps directions to a station.

    Format, from Apple's "Map Links" reference
    (https://developer.apple.com/library/archive/featuredarticles/iPhoneURLScheme_Reference/MapLinks/MapLinks.html)::

        https://maps.apple.com/?saddr=LAT,LON&daddr=LAT,LON&dirflg=d|w&q=NAME

    ``dirflg`` is ``d`` (driving) or ``w`` (walking); ``q`` labels the
    place. Apple does not document a datum. In mainland China Apple Maps
    draws AutoNavi's (Amap's) map, which is in **GCJ-02**, and coordinates
    given to it are read in that datum — iOS developers in China convert a
    WGS-84 point to GCJ-02 before handing it to Apple Maps or MapKit (e.g.
    "苹果系统地图……在国内使用的是高德数据，所以……是火星坐标系的",
    https://blog.markmiao.com/2020/11/28/map ; "火星坐标：iOS 地图、高德地图",
    https://hongchaozhang.github.io/blog/2016/01/29/convertion-among-every-geo-system/).
    So points are converted to GCJ-02 here. This holds for mainland
    Guangdong, the finder's service area; Hong Kong and Macau use WGS-84
    and are not served.
    """
    (glon, glat), start = _points(lon, lat, mode, origin, wgs84_to_gcj02)
    parts = []
    if start is not None:
        parts.append(f"saddr={_fmt(start[1])},{_fmt(start[0])}")
    parts += [f"daddr={_fmt(glat)},{_fmt(glon)}", f"dirflg={APPLE_MODES[mode]}", f"q={_label(name, '终点')}"]
    return "https://maps.apple.com/?" + "&".join(parts)


def handoff_urls(lon: float, lat: float, name: str, mode: str = "ebike",
                 origin: tuple[float, float] | None = None, origin_name: str = "我的位置") -> dict[str, str]:
    """All three links for one station: ``{"amap": ..., "baidu": ..., "apple": ...}``.

    ``origin`` (WGS-84) and its label are passed on where the app takes them;
    Apple's ``saddr`` has no label.
    """
    return {"amap": amap_url(lon, lat, name, mode, origin, origin_name),
            "baidu": baidu_url(lon, lat, name, mode, origin, origin_name),
            "apple": apple_url(lon, lat, name, mode, origin)}
