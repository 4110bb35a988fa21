"""Stations as the map's browser gets them: popup records and per-layer positions.

A few thousand stations travel as compact arrays per layer
(:func:`kind_points`); a popup's HTML is built in the browser
(``gdStationPopup`` of ``static/gd/gd-map.js``) only when it is opened, from
a :func:`station_record` that came inline with the map or from the app's
API (:mod:`geo.web.api`).
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core import schema
from geo.core.hours import is_open


def cell_text(value: Any) -> str:
    """A cell as text, stripped; missing values (None, NaN, NA) become ""."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # lists and arrays: not a missing scalar
        pass
    return str(value).strip()


def _items(value: Any) -> list[str]:
    """A list cell as a list of strings, whether stored as a list or as text."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split(schema.LIST_SEP) if p.strip()]
    if isinstance(value, Iterable):
        return [s for s in (cell_text(v) for v in value) if s]
    text = cell_text(value)
    return [text] if text else []


def _truthy(value: Any) -> bool:
    text = cell_text(value).lower()
    return text in ("1", "true", "yes", "y", "t", "是")


def _count_text(value: Any) -> str:
    text = cell_text(value)
    try:
        return str(int(float(text))) if text else ""
    except ValueError:
        return text


def _phone_href(phone: str) -> str:
    """The part of a phone number usable in a ``tel:`` link, or "" if unsafe."""
    first = phone.replace("，", ",").replace("；", ";").replace("/", ",").split(",")[0].split(";")[0].strip()
    digits = "".join(ch for ch in first if ch.isdigit() or ch == "+")
    return digits if 5 <= len(digits) <= 20 else ""


def _open_now(row: Any, at: datetime, cache: dict[tuple[str, bool], bool | None]) -> bool | None:
    hours = cell_text(getattr(row, "opening_hours_osm", "")) or cell_text(getattr(row, "opening_hours", ""))
    is_24h = _truthy(getattr(row, "is_24h", ""))
    key = (hours, is_24h)
    if key not in cache:
        if not hours:
            cache[key] = True if is_24h else None
        else:
            try:
                cache[key] = is_open(hours, at)
            except Exception:  # an unparsable text means "unknown", never a broken map
                cache[key] = None
    return cache[key]


def station_record(row: Any, at: datetime, *, cache: dict | None = None) -> dict:
    """The popup record of one station: short keys, every text HTML-escaped.

    The map's popup builder (``gdStationPopup``) reads it, whether it came
    inline with the map or from the app's API (:mod:`geo.web.api`). Empty
    values are left out: they are most of a sparse record.

    Parameters
    ----------
    row : namedtuple or object
        A station with the canonical field names as attributes (a row of
        ``itertuples()``).
    at
        Moment at which "open now" is judged.
    cache
        Reused between calls to judge each distinct opening-hours text once.
    """
    esc = html.escape
    cache = {} if cache is None else cache
    status = cell_text(getattr(row, "status", "")) or "open"
    open_now = _open_now(row, at, cache) if status == "open" else False
    facilities, other = [], []
    for item in _items(getattr(row, "facilities", None)):
        (facilities if item in schema.FACILITIES else other).append(item)
    other += _items(getattr(row, "facilities_other", None))
    phone = cell_text(getattr(row, "phone", ""))
    rec: dict[str, Any] = {
        "n": esc(cell_text(getattr(row, "name", ""))),
        "s": esc(cell_text(getattr(row, "subtype", ""))),
        "a": esc(cell_text(getattr(row, "address", ""))),
        "h": esc(cell_text(getattr(row, "opening_hours", "")) or cell_text(getattr(row, "opening_hours_osm", ""))),
        "o": None if open_now is None else int(bool(open_now)),
        "st": status if status in schema.STATUSES else "unknown",
        "f": facilities,
        "fo": [esc(x) for x in other],
        "p": esc(phone),
        "pt": _phone_href(phone),
        "op": esc(cell_text(getattr(row, "operator", ""))),
        "lh": esc(cell_text(getattr(row, "lawyer_hours", ""))),
        "tp": esc(_count_text(getattr(row, "truck_parking_spaces", None))),
        "v": esc(cell_text(getattr(row, "verified_at", ""))[:10]),
        "src": esc(cell_text(getattr(row, "source", ""))),
        "id": esc(cell_text(getattr(row, "id", ""))),
        "x": int(_truthy(getattr(row, "is_sample", False))),
    }
    return {k: v for k, v in rec.items() if not (v is None or v == "" or v == [] or (k == "x" and v == 0))}


@dataclass
class KindPoints:
    """The stations of one kind, as the browser gets them.

    Attributes
    ----------
    ids : list of str
        Station ids, for popups fetched from the API.
    latlon_e6 : numpy.ndarray
        ``(n, 2)`` integers: latitude and longitude in microdegrees (about 0.1 m).
    flags : numpy.ndarray
        ``(n,)``: 1 = not open, 2 = sample.
    rows : list of dict or None
        Popup records (:func:`station_record`), when they travel inline.
    """

    ids: list[str]
    latlon_e6: np.ndarray
    flags: np.ndarray
    rows: list[dict] | None


def lonlat(stations: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Point coordinates, from the geometry or else the lon/lat columns; NaN where neither."""
    n = len(stations)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if "geometry" in stations:
        geoms = np.asarray(stations.geometry.values, dtype=object)
        lon, lat = shapely.get_x(geoms), shapely.get_y(geoms)
    for name, arr in (("lon", lon), ("lat", lat)):
        if name in stations:
            missing = ~np.isfinite(arr)
            arr[missing] = pd.to_numeric(stations[name], errors="coerce").to_numpy(dtype=float)[missing]
    return lon, lat


def kind_points(stations: gpd.GeoDataFrame, at: datetime, *, inline: bool) -> dict[str, KindPoints]:
    """Stations with usable coordinates grouped by kind (registry order within a kind).

    Parameters
    ----------
    stations
        Canonical station columns and point geometry in WGS-84.
    at
        Moment at which "open now" is judged.
    inline
        Build every popup record now (else only ids travel).

    Returns
    -------
    dict
        Kind code -> :class:`KindPoints`, the schema's kinds first.
    """
    lon, lat = lonlat(stations)
    ok = np.isfinite(lon) & np.isfinite(lat)
    kinds = stations["kind"].fillna("").astype(str).str.strip().to_numpy() if "kind" in stations \
        else np.full(len(stations), "")
    status = (stations["status"].fillna("").astype(str).str.strip() if "status" in stations
              else pd.Series([""] * len(stations)))
    inactive = ~status.isin(["", "open"]).to_numpy()
    sample = (stations["is_sample"].map(_truthy).to_numpy(dtype=bool) if "is_sample" in stations
              else np.zeros(len(stations), dtype=bool))
    ids = stations["id"].map(cell_text).to_numpy() if "id" in stations else np.full(len(stations), "")
    out: dict[str, KindPoints] = {}
    cache: dict = {}
    for kind in [*schema.KINDS, *sorted(set(kinds[ok]) - set(schema.KINDS))]:
        sel = np.flatnonzero(ok & (kinds == kind))
        if not len(sel):
            continue
        rows = None
        if inline:
            rows = [station_record(r, at, cache=cache) for r in stations.iloc[sel].itertuples(index=False)]
        out[kind] = KindPoints(
            ids=[str(i) for i in ids[sel]],
            latlon_e6=np.column_stack([np.round(lat[sel] * 1e6), np.round(lon[sel] * 1e6)]).astype(np.int64),
            flags=(inactive[sel].astype(np.uint8) | (sample[sel].astype(np.uint8) << 1)),
            rows=rows)
    return out


def station_bounds(stations: gpd.GeoDataFrame) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` of the stations with coordinates, or None."""
    lon, lat = lonlat(stations)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return None
    return [[float(lat[ok].min()), float(lon[ok].min())], [float(lat[ok].max()), float(lon[ok].max())]]
