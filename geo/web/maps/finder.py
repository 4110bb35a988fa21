"""The worker finder's map (pages/2_找站_Finder.py): where I am, the nearest stations, the chosen route."""
from __future__ import annotations

import html
import math

import folium
import geopandas as gpd

from geo.core import schema
from geo.core.i18n import kind_label, t
from geo.web.maps.base import GUANGDONG_BOUNDS, VENDOR_URL, DataLayer, FitBounds, base_map, gd_stylesheet, layer_control
from geo.web.maps.boundaries import add_boundaries
from geo.web.maps.encoding import script_json
from geo.web.maps.legend import Legend, legend_html, legend_item
from geo.web.maps.pins import KIND_STYLES, pin_html

# Not .fd-origin: that class marks the one origin marker on the map.
_ORIGIN_MARK = '<span class="fd-legend-origin"></span>'
_ROUTE_MARK = ('<svg width="22" height="8" aria-hidden="true"><line x1="1" y1="4" x2="21" y2="4" '
               'stroke="#1f4fd1" stroke-width="4"/></svg>')


def finder_legend_html(lang: str = "zh") -> str:
    """The finder map's legend: the origin, the layers' pins, the numbering and the route."""
    items = [legend_item(t("fd_origin_tip", lang), _ORIGIN_MARK)]
    items += [legend_item(kind_label(code, lang), pin_html(code)) for code in schema.KINDS]
    items += [legend_item(t("legend_numbered", lang), note=True), legend_item(t("legend_route", lang), _ROUTE_MARK)]
    return legend_html(t("legend_title", lang), items)


def _frame(origin: tuple[float, float], route: list | None, points: list) -> list[list[float]]:
    """The view around the chosen route, or else the origin and every result; a lone origin gets a street."""
    frame = [[p[0], p[1]] for p in route] if route else points
    frame = frame + [[origin[1], origin[0]]]
    if len(frame) == 1:
        frame = [[origin[1] - 0.004, origin[0] - 0.004], [origin[1] + 0.004, origin[0] + 0.004]]
    lats, lons = [p[0] for p in frame], [p[1] for p in frame]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def finder_map(origin: tuple[float, float] | None, results: list[dict], selected: str | None = None, *,
               lang: str = "zh", basemap: str = "osm", boundaries: gpd.GeoDataFrame | None = None,
               asset_base: str = VENDOR_URL) -> folium.Map:
    """The worker finder's map: where I am, the nearest stations, the chosen route.

    Parameters
    ----------
    origin : (lon, lat) or None
        The user's position, WGS-84; None shows Guangdong and a hint to tap
        the map.
    results
        From :func:`geo.routing.nearest.nearest_stations` (``id``, ``name``,
        ``kind``, ``lon``, ``lat``, ``method``, ``route``), nearest first;
        drawn as pins numbered 1, 2, ...
    selected
        Id of the result whose route is drawn (default the first).
    lang : {"zh", "en"}
        Language of tooltips and notes.
    basemap : {"osm", "carto", "amap"}
        Basemap shown first.
    boundaries
        Outlines (see :func:`geo.web.maps.boundaries.load_map_boundaries`):
        offline, without tiles, they are what a user finds their way by
        before tapping the map.
    asset_base
        URL of the vendored Leaflet files (see :func:`geo.web.maps.registry.registry_map`).

    Returns
    -------
    folium.Map
        The route of the selected result is a polyline (SVG path with class
        ``gd-route``) along the roads. An estimate (``method`` not
        ``"network"``) has no route, and none is drawn, not even a
        straight line: the map says "估算 / estimate" instead. Nothing is
        loaded from a CDN.
    """
    m = base_map(lang=lang, basemap=basemap, asset_base=asset_base)
    add_boundaries(m, boundaries, lang=lang)

    chosen = next((r for r in results if r.get("id") == selected), results[0] if results else None)
    rows, points = [], []
    for i, r in enumerate(results, 1):
        try:
            lon, lat = float(r["lon"]), float(r["lat"])
        except (KeyError, TypeError, ValueError):
            continue
        if not (math.isfinite(lon) and math.isfinite(lat)):
            continue
        kind = str(r.get("kind", ""))
        rows.append({"la": round(lat, 6), "lo": round(lon, 6), "i": i, "k": kind if kind in KIND_STYLES else "_",
                     "n": html.escape(str(r.get("name", ""))), "s": int(r is chosen)})
        points.append([lat, lon])

    route = None
    if chosen is not None and chosen.get("method") == "network" and chosen.get("route"):
        coords = chosen["route"].get("coordinates") or []
        route = [[round(float(y), 6), round(float(x), 6)] for x, y in coords]
    estimate = any(r.get("method") != "network" for r in results)
    note, note_class, position = None, "fd-map-note", "topright"
    if estimate:
        note = html.escape(t("fd_map_estimate", lang))
    elif origin is None:
        # Top left, under the zoom buttons: the attribution covers the bottom on a phone.
        note, note_class, position = html.escape(t("fd_map_hint", lang)), "fd-map-hint", "topleft"

    data = {
        "origin": [round(origin[1], 6), round(origin[0], 6)] if origin is not None else None,
        "origin_tip": html.escape(t("fd_origin_tip", lang)),
        "results": rows,
        "route": route,
        "route_tip": html.escape(t("fd_route_tip", lang)) if route else "",
        "pins": {**{code: pin_html(code) for code in KIND_STYLES}, "_": pin_html("_")},
        "note": note, "note_class": note_class, "note_position": position,
    }
    DataLayer("L.gdFinderLayer", script_json(data), control=False,
              css=[gd_stylesheet(asset_base, "finder")]).add_to(m)
    Legend(finder_legend_html(lang)).add_to(m)
    layer_control().add_to(m)

    if origin is not None:
        # Room at the top for the zoom and layer buttons, which sit over the map there.
        FitBounds(_frame(origin, route, points), max_zoom=16, padding=24, pad_top=24).add_to(m)
    else:
        FitBounds(GUANGDONG_BOUNDS).add_to(m)
    return m
