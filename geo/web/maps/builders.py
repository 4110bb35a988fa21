"""The registry map: three clustered layers, a legend and lazy popups.

:func:`registry_map` turns the stations GeoDataFrame into a
:class:`folium.Map`. Design choices worth knowing:

* **Offline JavaScript.** Folium and streamlit-folium load Leaflet and its
  plugins from public CDNs, which are unreachable offline and slow or blocked
  for many users in China. The map instead names copies kept under
  ``static/vendor/`` (Leaflet 1.9.4 and Leaflet.markercluster 1.5.3), which
  Streamlit serves under ``/app/static/``. Only those two libraries are
  loaded: the markers are plain ``L.divIcon`` pins, so folium's default
  jQuery, Bootstrap and Font Awesome are not needed.
* **Escaping.** Every value that comes from data is passed through
  :func:`html.escape` in Python before it reaches the page. Leaflet puts
  tooltip and popup strings into ``innerHTML``, so escaping at the source is
  what makes a station called ``<script>`` show as text.
* **Lazy popups.** A few thousand stations travel as one compact JSON array
  per layer; a popup's HTML is built in the browser only when it is opened.

:func:`finder_map` draws the worker finder's map (the origin, numbered
results and the chosen route) and :func:`coverage_map` the planner's
travel-band choropleth, gaps and stations, and :func:`siting_map` the
siting page's proposed sites over that coverage, with the same offline
assets and escaping.
"""
from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable
from zoneinfo import ZoneInfo

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from geo import settings
from geo.core import schema
from geo.core.hours import is_open
from geo.core.i18n import facility_label, kind_label, status_label, t

if TYPE_CHECKING:  # pragma: no cover - planner pulls in the coverage engine; imported when drawn
    from geo.web.views.coverage import MapLayers
    from geo.web.views.siting import SitingLayers

#: Where the vendored JavaScript and CSS are, as seen from the page that runs
#: the map. streamlit-folium runs it in an iframe served from
#: ``<base>/component/streamlit_folium.st_folium/index.html``, so this
#: relative URL reaches ``<base>/app/static/vendor/`` and keeps working when
#: the app is served under a path prefix (``server.baseUrlPath``).
VENDOR_URL = "../../app/static/vendor/"

#: Folder holding the vendored files (for a standalone page or a test, pass
#: ``VENDOR_DIR.as_uri() + "/"`` as ``asset_base``).
VENDOR_DIR = settings.ROOT / "static" / "vendor"

_LEAFLET = "leaflet-1.9.4/"
_CLUSTER = "leaflet.markercluster-1.5.3/"
_SUPERCLUSTER = "supercluster-9.1.0/"
#: The project's own map script (GCJ-02 display CRS, clustered stations,
#: controls), beside the vendored folder.
_GD_JS = "../gd/gd-map.js"

#: Basemaps offered; the first is the default.
BASEMAPS: tuple[str, ...] = ("osm", "carto", "amap")

_OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
#: url, attribution, subdomains, max zoom and the coordinate system the tiles are drawn in.
_TILES: dict[str, dict[str, Any]] = {
    "osm": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attr": _OSM_ATTR,
            "subdomains": "abc", "max_zoom": 19, "crs": "wgs84"},
    # CARTO by URL: folium's named "CartoDB positron" now warns about API keys.
    "carto": {"url": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
              "attr": _OSM_ATTR + ' &copy; <a href="https://carto.com/attributions">CARTO</a>',
              "subdomains": "abcd", "max_zoom": 20, "crs": "wgs84"},
    # Amap's tiles are drawn in GCJ-02: the map then uses the GdGcj02 CRS of
    # static/gd/gd-map.js, which shifts everything drawn over them.
    "amap": {"url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                    "&x={x}&y={y}&z={z}",
             "attr": '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a>',
             "subdomains": "1234", "max_zoom": 18, "crs": "gcj02"},
}


def basemap_crs(basemap: str) -> str:
    """The coordinate system a basemap's tiles are drawn in: ``"wgs84"`` or ``"gcj02"``.

    Data stay in WGS-84; a map over ``"gcj02"`` tiles shifts what it draws
    when it draws it, and gives clicks back in WGS-84.
    """
    return _TILES.get(basemap, _TILES[BASEMAPS[0]])["crs"]

#: Centre-ish bounding box of Guangdong, used when there is nothing to show.
_GUANGDONG_BOUNDS = [[20.2, 109.6], [25.6, 117.4]]


# Okabe-Ito colours (safe for the common colour-vision deficiencies), and a
# different pin shape and glyph per layer, so colour is never the only cue.
# "ink" is the glyph and number colour with enough contrast on the fill.
KIND_STYLES: dict[str, dict[str, str]] = {
    "rest_station": {
        "color": "#E69F00", "ink": "#1a1a1a", "shape": "circle",
        # a steaming cup
        "svg": ('<path d="M5 10h11v4.5A4.5 4.5 0 0 1 11.5 19h-2A4.5 4.5 0 0 1 5 14.5z"/>'
                '<path d="M16 11.5h1.5a2.2 2.2 0 0 1 0 4.4H16" fill="none" stroke="currentColor" stroke-width="1.8"/>'
                '<path d="M8.5 4.5c1 1-1 2 0 3.5M12.5 4.5c1 1-1 2 0 3.5" fill="none" stroke="currentColor" '
                'stroke-width="1.5" stroke-linecap="round"/>'),
    },
    "driver_home": {
        "color": "#0072B2", "ink": "#ffffff", "shape": "square",
        # a lorry
        "svg": ('<path d="M2.5 6.5h11v9h-11z"/><path d="M14.5 9.5h3.8l3.2 3.4v2.6h-7z"/>'
                '<circle cx="6.5" cy="17" r="2.1"/><circle cx="17.5" cy="17" r="2.1"/>'),
    },
    "legal_aid": {
        "color": "#CC79A7", "ink": "#1a1a1a", "shape": "diamond",
        # scales of justice
        "svg": ('<path d="M12 4v15M7.5 20h9M5 7h14" fill="none" stroke="currentColor" stroke-width="1.8" '
                'stroke-linecap="round"/>'
                '<path d="M5 7l-2.8 6M5 7l2.8 6M19 7l-2.8 6M19 7l2.8 6" fill="none" stroke="currentColor" '
                'stroke-width="1.2"/>'
                '<path d="M2 13h6a3 2.4 0 0 1-6 0zM16 13h6a3 2.4 0 0 1-6 0z"/>'),
    },
}
_FALLBACK_STYLE = {"color": "#777777", "ink": "#ffffff", "shape": "circle", "svg": '<circle cx="12" cy="12" r="5"/>'}


def _style(kind: str) -> dict[str, str]:
    return KIND_STYLES.get(kind, _FALLBACK_STYLE)


def pin_html(kind: str, inactive: bool = False, sample: bool = False) -> str:
    """The HTML of one map pin, shared by the markers and the legend.

    Parameters
    ----------
    kind : str
        Layer code; it picks the colour, shape and glyph.
    inactive : bool
        Draw the pin faded (a station that is not open).
    sample : bool
        Draw a dashed ring (a sample station).
    """
    st = _style(kind)
    classes = ["gd-pin", f"gd-shape-{st['shape']}"]
    if inactive:
        classes.append("gd-inactive")
    if sample:
        classes.append("gd-sample")
    return (f'<div class="{" ".join(classes)}" style="background:{st["color"]};color:{st["ink"]}">'
            f'<svg viewBox="0 0 24 24" fill="currentColor" aria-hidden="true">{st["svg"]}</svg></div>')


# --------------------------------------------------------------------------
# CSS shared by the map and the legend
# --------------------------------------------------------------------------

def _css() -> str:
    rules = [
        # A light ground makes a map without tiles (offline) look intended.
        ".leaflet-container{background:#eef1f4;font-family:system-ui,-apple-system,'Segoe UI',"
        "'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif;}",
        ".gd-pin{width:22px;height:22px;box-sizing:border-box;border:2px solid #fff;"
        "box-shadow:0 1px 3px rgba(0,0,0,.55);display:flex;align-items:center;justify-content:center;}",
        ".gd-pin svg{width:15px;height:15px;display:block;}",
        ".gd-shape-circle{border-radius:50%;}",
        ".gd-shape-square{border-radius:4px;}",
        ".gd-shape-diamond{transform:rotate(45deg);border-radius:3px;width:20px;height:20px;}",
        ".gd-shape-diamond svg{transform:rotate(-45deg);}",
        ".gd-inactive{opacity:.45;filter:grayscale(.6);}",
        ".gd-sample{outline:2px dashed #333;outline-offset:1px;}",
        ".gd-marker{background:none;border:none;}",
        # Cluster bubbles in the layer's colour; the number in its ink colour.
        ".marker-cluster.gd-cluster div{font-weight:600;font-size:12px;}",
        ".marker-cluster.gd-cluster span{line-height:30px;}",
    ]
    for code, st in KIND_STYLES.items():
        rgb = tuple(int(st["color"][i:i + 2], 16) for i in (1, 3, 5))
        # Two classes, to win over MarkerCluster.Default.css's green size classes.
        rules.append(f".marker-cluster.gd-cluster-{code}{{background:rgba({rgb[0]},{rgb[1]},{rgb[2]},.35);}}")
        rules.append(f".marker-cluster.gd-cluster-{code} div{{background:{st['color']};color:{st['ink']};}}")
    rules += [
        ".gd-swatch{display:inline-block;vertical-align:middle;margin-right:4px;}",
        ".gd-swatch .gd-pin{width:16px;height:16px;border-width:1.5px;}",
        ".gd-swatch .gd-pin svg{width:11px;height:11px;}",
        ".gd-swatch .gd-shape-diamond{width:14px;height:14px;}",
        # Legend
        ".gd-legend{background:rgba(255,255,255,.95);padding:6px 10px;border-radius:6px;"
        "box-shadow:0 1px 5px rgba(0,0,0,.35);font-size:13px;line-height:1.5;color:#222;max-width:260px;}",
        ".gd-legend summary{font-weight:600;cursor:pointer;}",
        ".gd-legend ul{list-style:none;margin:4px 0 0;padding:0;}",
        ".gd-legend li{display:flex;align-items:center;gap:6px;margin:3px 0;}",
        ".gd-legend .gd-note{font-size:12px;color:#444;}",
        ".gd-legend .gd-pin{flex:none;}",
        # A rotated square reaches past its box; keep it in line with the round pins.
        ".gd-legend .gd-shape-diamond,.gd-swatch .gd-shape-diamond{margin:0 3px;}",
        ".leaflet-control-layers{font-size:13px;}",
        # Locate and full-screen buttons, as big as the zoom buttons (bigger on touch screens).
        ".gd-ctl .gd-ctl-btn{display:flex;align-items:center;justify-content:center;color:#222;}",
        "@media (pointer:coarse){.leaflet-bar a,.gd-ctl .gd-ctl-btn{width:40px;height:40px;line-height:40px;}}",
        ".gd-notice{background:rgba(255,255,255,.95);padding:4px 8px;border-radius:4px;font-size:12px;"
        "box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:240px;color:#222;}",
        # No tile loaded: a plain, light ground under the outlines and stations.
        ".gd-no-tiles{background:#f4f1ea !important;}",
        ".gd-no-tiles .leaflet-tile-pane{display:none;}",
        # Popup
        ".gd-popup{font-size:13px;line-height:1.45;color:#222;min-width:200px;}",
        ".gd-popup-title{font-size:15px;font-weight:700;margin-bottom:2px;overflow-wrap:anywhere;}",
        ".gd-popup-kind{font-weight:600;margin-bottom:4px;}",
        ".gd-sample-tag{display:inline-block;background:#fff3cd;color:#6b4e00;border:1px dashed #6b4e00;"
        "border-radius:3px;padding:0 5px;font-size:12px;margin:2px 0 4px;}",
        ".gd-popup table{border-collapse:collapse;}",
        ".gd-popup th{text-align:left;font-weight:600;color:#555;padding:1px 8px 1px 0;"
        "vertical-align:top;white-space:nowrap;}",
        ".gd-popup td{padding:1px 0;vertical-align:top;overflow-wrap:anywhere;}",
        ".gd-status{display:inline-block;border-radius:3px;padding:0 5px;font-size:12px;}",
        ".gd-status-open{background:#d9f2e3;color:#0b5a2b;}",
        ".gd-status-temporarily_closed{background:#fff0cc;color:#6b4e00;}",
        ".gd-status-closed{background:#eee;color:#444;text-decoration:line-through;}",
        ".gd-status-planned{background:#e3ecf9;color:#183f73;}",
        ".gd-status-unknown{background:#eee;color:#444;}",
        ".gd-open-yes{color:#0b5a2b;font-weight:600;}",
        ".gd-open-no{color:#8a1c1c;font-weight:600;}",
        ".gd-open-unknown{color:#555;}",
        ".gd-facilities{margin:2px 0 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:2px 4px;}",
        ".gd-facilities li{background:#f1f3f5;border-radius:3px;padding:0 4px;font-size:12px;}",
        ".gd-popup-foot{margin-top:4px;font-size:11px;color:#666;overflow-wrap:anywhere;}",
        # On a phone the attribution spans the whole bottom edge: lift the legend above it.
        "@media (max-width:600px){.gd-legend{font-size:12px;max-width:190px;}"
        ".leaflet-bottom.leaflet-left .gd-legend{margin-bottom:28px;}"
        ".gd-popup{min-width:160px;}}",
    ]
    return "\n".join(rules)


def finder_legend_html(lang: str = "zh") -> str:
    """The finder map's legend: the origin, the layers' pins, the numbering and the route."""
    esc = html.escape
    # Styled inline, not with .fd-origin: that class marks the one origin marker on the map.
    items = [f'<li><span style="display:inline-block;width:16px;height:16px;box-sizing:border-box;'
             f'border-radius:50%;background:#1a73e8;border:3px solid #fff;box-shadow:0 0 0 1px #1a73e8"></span>'
             f'<span>{esc(t("fd_origin_tip", lang))}</span></li>']
    items += [f"<li>{pin_html(code)}<span>{esc(kind_label(code, lang))}</span></li>" for code in schema.KINDS]
    items.append(f'<li><span class="gd-note">{esc(t("legend_numbered", lang))}</span></li>')
    items.append('<li><svg width="22" height="8" aria-hidden="true"><line x1="1" y1="4" x2="21" y2="4" '
                 'stroke="#1f4fd1" stroke-width="4"/></svg>'
                 f'<span>{esc(t("legend_route", lang))}</span></li>')
    return (f'<details class="gd-legend-body" open><summary>{esc(t("legend_title", lang))}</summary>'
            f'<ul>{"".join(items)}</ul></details>')


def legend_html(lang: str = "zh") -> str:
    """The map legend as an HTML fragment, in ``lang``.

    The legend names each layer next to its pin, and explains the faded pins
    of stations that are not open, the dashed ring of sample stations and
    the numbered cluster bubbles. It is a ``<details>`` element so that it
    can be folded away on a phone.
    """
    items = []
    for code in schema.KINDS:
        items.append(f"<li>{pin_html(code)}<span>{html.escape(kind_label(code, lang))}</span></li>")
    first = next(iter(schema.KINDS))
    items.append(f'<li>{pin_html(first, inactive=True)}<span class="gd-note">'
                 f'{html.escape(t("legend_inactive", lang))}</span></li>')
    items.append(f'<li>{pin_html(first, sample=True)}<span class="gd-note">'
                 f'{html.escape(t("legend_sample", lang))}</span></li>')
    items.append(f'<li><span class="gd-note">{html.escape(t("legend_cluster", lang))}</span></li>')
    return (f'<details class="gd-legend-body" open><summary>{html.escape(t("legend_title", lang))}</summary>'
            f'<ul>{"".join(items)}</ul></details>')


# --------------------------------------------------------------------------
# Folium elements
# --------------------------------------------------------------------------

def _safe_json(obj: Any) -> str:
    """JSON for a ``<script>`` block.

    The data are already HTML-escaped, so ``<`` cannot occur; replacing it
    anyway means no value can ever close the script element. ``&`` is kept,
    so the escaped text stays readable in the page source.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


class _MapSetup(JSCSSMixin):
    """Stylesheet, labels and the popup builder shared by all layers."""

    _template = Template("""
        {% macro header(this, kwargs) %}
            <style>{{ this.css }}</style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function(){
                var labels = {{ this.labels_json }};
                function row(label, value) {
                    return value ? '<tr><th>' + label + '</th><td>' + value + '</td></tr>' : '';
                }
                // r holds strings already HTML-escaped in Python; only codes
                // checked against a fixed list are used in class names.
                window.gdStationPopup = function(r, kind) {
                    var k = labels.kinds[kind] || {label: kind, color: '#777'};
                    var h = '<div class="gd-popup">';
                    h += '<div class="gd-popup-title">' + (r.n || '') + '</div>';
                    if (r.x) { h += '<div class="gd-sample-tag">' + labels.sample + '</div>'; }
                    h += '<div class="gd-popup-kind">' + k.label + (r.s ? ' · ' + r.s : '') + '</div>';
                    h += '<table>';
                    h += row(labels.status, '<span class="gd-status gd-status-' + r.st + '">'
                                            + (labels.statuses[r.st] || r.st) + '</span>');
                    var open = r.o === 1 ? ['yes', labels.open_yes] : (r.o === 0 ? ['no', labels.open_no]
                                                                                 : ['unknown', labels.open_unknown]);
                    h += row(labels.open_now, '<span class="gd-open-' + open[0] + '">' + open[1] + '</span>');
                    h += row(labels.hours, r.h);
                    h += row(labels.address, r.a);
                    h += row(labels.phone, r.p ? (r.pt ? '<a href="tel:' + r.pt + '">' + r.p + '</a>' : r.p) : '');
                    h += row(labels.operator, r.op);
                    h += row(labels.lawyer_hours, r.lh);
                    h += row(labels.truck_spaces, r.tp);
                    var fac = (r.f || []).map(function(c) { return '<li>' + (labels.facilities[c] || c) + '</li>'; });
                    (r.fo || []).forEach(function(s) { fac.push('<li>' + s + '</li>'); });
                    if (fac.length) { h += row(labels.facilities_title, '<ul class="gd-facilities">' + fac.join('') + '</ul>'); }
                    h += '</table>';
                    var foot = [];
                    if (r.v) { foot.push(labels.verified + ' ' + r.v); }
                    if (r.src) { foot.push(labels.source + ' ' + r.src); }
                    if (r.id) { foot.push(labels.id + ' ' + r.id); }
                    if (foot.length) { h += '<div class="gd-popup-foot">' + foot.join(' · ') + '</div>'; }
                    return h + '</div>';
                };
                window.gdIcons = {};
                window.gdIcon = function(kind, inactive, sample) {
                    var key = kind + (inactive ? ':i' : '') + (sample ? ':s' : '');
                    if (!window.gdIcons[key]) {
                        var pin = (labels.pins[kind] || labels.pins._)[(inactive ? 1 : 0) + (sample ? 2 : 0)];
                        var size = kind === 'legal_aid' ? 26 : 22;
                        window.gdIcons[key] = L.divIcon({html: pin, className: 'gd-marker',
                            iconSize: [size, size], iconAnchor: [size / 2, size / 2],
                            popupAnchor: [0, -size / 2], tooltipAnchor: [0, -size / 2]});
                    }
                    return window.gdIcons[key];
                };
                return labels;
            })();
        {% endmacro %}
    """)

    def __init__(self, lang: str, asset_base: str):
        super().__init__()
        self._name = "GdMapSetup"
        self.css = _css()
        self.default_js = [("leaflet", asset_base + _LEAFLET + "leaflet.js")]
        self.default_css = [("leaflet_css", asset_base + _LEAFLET + "leaflet.css")]
        pins = {code: [pin_html(code, i, s) for s in (False, True) for i in (False, True)]
                for code in schema.KINDS}
        pins["_"] = [pin_html("_", i, s) for s in (False, True) for i in (False, True)]
        esc = html.escape
        labels = {
            "kinds": {code: {"label": esc(kind_label(code, lang)), "color": _style(code)["color"]}
                      for code in schema.KINDS},
            "facilities": {code: esc(facility_label(code, lang, icon=True)) for code in schema.FACILITIES},
            "statuses": {code: esc(status_label(code, lang)) for code in (*schema.STATUSES, "unknown")},
            "pins": pins,
            "sample": esc(t("sample_tag", lang)),
            "status": esc(t("popup_status", lang)),
            "open_now": esc(t("popup_open_now", lang)),
            "open_yes": esc(t("open_now_yes", lang)),
            "open_no": esc(t("open_now_no", lang)),
            "open_unknown": esc(t("open_now_unknown", lang)),
            "hours": esc(t("popup_hours", lang)),
            "address": esc(t("popup_address", lang)),
            "phone": esc(t("popup_phone", lang)),
            "operator": esc(t("popup_operator", lang)),
            "lawyer_hours": esc(t("popup_lawyer_hours", lang)),
            "truck_spaces": esc(t("popup_truck_spaces", lang)),
            "facilities_title": esc(t("popup_facilities", lang)),
            "verified": esc(t("popup_verified", lang)),
            "source": esc(t("popup_source", lang)),
            "id": esc(t("popup_id", lang)),
        }
        self.labels_json = _safe_json(labels)


class _StationCluster(JSCSSMixin, Layer):
    """One kind of station, clustered in the browser by Supercluster.

    Only positions and two flags per station travel as base64 arrays
    (9 bytes a station); markers exist only for what is in view. Popups
    come from ``rows`` (inline records) or, when ``details_url`` is given,
    from the app's API when opened, so a province-sized registry does not
    ship every address and phone number to every visitor.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.gdStations({{ this.data_json }});
            {%- if this.show %}
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
            {%- endif %}
        {% endmacro %}
    """)

    def __init__(self, kind: str, points: "_KindPoints", label: str, lang: str, asset_base: str,
                 details_url: str | None = None):
        super().__init__(name=label, overlay=True, control=False, show=True)
        self._name = "GdStationCluster"
        self.n = len(points.ids)
        data: dict[str, Any] = {
            "kind": kind, "n": self.n, "label": html.escape(kind_label(kind, lang)),
            "pts": base64.b64encode(points.latlon_e6.astype("<i4").tobytes()).decode("ascii"),
            "fl": base64.b64encode(points.flags.astype("u1").tobytes()).decode("ascii"),
            "rows": None, "ids": None,
        }
        if details_url is None:
            data["rows"] = points.rows
        else:
            data.update(ids=points.ids, url=details_url, loading=html.escape(t("map_popup_loading", lang)),
                        failed=html.escape(t("map_popup_failed", lang)))
        self.data_json = _safe_json(data)
        self.default_js = [("supercluster", asset_base + _SUPERCLUSTER + "supercluster.min.js")]
        # Only markercluster's stylesheet: the cluster bubbles keep its look.
        self.default_css = [
            ("markerclustercss", asset_base + _CLUSTER + "MarkerCluster.css"),
            ("markerclusterdefaultcss", asset_base + _CLUSTER + "MarkerCluster.Default.css"),
        ]


class _Boundaries(Layer):
    """Administrative outlines, drawn under the stations and not clickable."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.geoJSON({{ this.data_json }}, {
                interactive: false,
                // One canvas instead of an SVG path per outline: it draws several times faster.
                renderer: L.canvas({padding: 0.2}),
                style: function(f) {
                    var outer = f.properties && f.properties.level === 'province';
                    return {color: outer ? '#444' : '#7a7a7a', weight: outer ? 2 : 1,
                            opacity: 0.8, fill: false, dashArray: outer ? null : '4 3'};
                }
            });
            {%- if this.show %}
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
            {%- endif %}
        {% endmacro %}
    """)

    def __init__(self, gdf: gpd.GeoDataFrame, name: str):
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "GdBoundaries"
        features = []
        # Only the outlines travel to the browser: names and codes of
        # regions are not shown, and leaving them out keeps the page small.
        for geom, level in zip(gdf.geometry, gdf.get("level", pd.Series(["city"] * len(gdf)))):
            if geom is None or geom.is_empty:
                continue
            features.append({"type": "Feature", "properties": {"level": str(level)},
                             "geometry": geom.__geo_interface__})
        self.data_json = _safe_json({"type": "FeatureCollection", "features": features})


class _Legend(JSCSSMixin):
    """The legend as a Leaflet control, so it lives inside the map frame."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: 'bottomleft'});
            {{ this.get_name() }}.onAdd = function(map) {
                var div = L.DomUtil.create('div', 'gd-legend');
                div.innerHTML = {{ this.html_json }};
                // Fold the legend on a phone or a short map so it does not hide the map.
                if (map.getSize().x < 600 || map.getSize().y < 450) {
                    var d = div.querySelector('details');
                    if (d) { d.removeAttribute('open'); }
                }
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, lang: str, html_text: str | None = None):
        super().__init__()
        self._name = "GdLegend"
        # Another map's legend (the coverage map's) may be passed ready-made, escaped.
        self.html_json = _safe_json(legend_html(lang) if html_text is None else html_text)


class _FitBounds(JSCSSMixin):
    """Fit the map to the stations, again on every resize until the user moves it.

    streamlit-folium creates the map before its iframe takes the page's
    width, so a fit made only at start frames the wrong area, worst on a
    phone. Refitting on resize fixes that without undoing the user's own
    panning or zooming.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function(map) {
                var bounds = L.latLngBounds({{ this.bounds_json }});
                var opts = {paddingTopLeft: [{{ this.padding }}, {{ this.padding + this.pad_top }}],
                            paddingBottomRight: [{{ this.padding }}, {{ this.padding }}],
                            maxZoom: {{ this.max_zoom }}, animate: false};
                var touched = false;
                var fit = function() { if (!touched && map.getSize().x > 0) { map.fitBounds(bounds, opts); } };
                var container = map.getContainer();
                ['mousedown', 'touchstart', 'wheel', 'keydown'].forEach(function(ev) {
                    L.DomEvent.on(container, ev, function() { touched = true; });
                });
                map.on('resize', fit);
                fit();
                return bounds;
            })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, bounds: list[list[float]], max_zoom: int = 14, padding: int = 12, pad_top: int = 0):
        super().__init__()
        self._name = "GdFitBounds"
        self.bounds_json = _safe_json(bounds)
        self.max_zoom = int(max_zoom)
        self.padding = int(padding)
        # Extra room at the top, where the zoom and layer buttons sit over the map.
        self.pad_top = int(pad_top)


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------

def _text(value: Any) -> str:
    """A cell as text; missing values (None, NaN, NA) become ""."""
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
        return [s for s in (_text(v) for v in value) if s]
    text = _text(value)
    return [text] if text else []


def _truthy(value: Any) -> bool:
    text = _text(value).lower()
    return text in ("1", "true", "yes", "y", "t", "是")


def _phone_href(phone: str) -> str:
    """The part of a phone number usable in a ``tel:`` link, or "" if unsafe."""
    first = phone.replace("，", ",").replace("；", ";").replace("/", ",").split(",")[0].split(";")[0].strip()
    digits = "".join(ch for ch in first if ch.isdigit() or ch == "+")
    return digits if 5 <= len(digits) <= 20 else ""


def _open_now(row: Any, at: datetime, cache: dict[tuple[str, bool], bool | None]) -> bool | None:
    hours = _text(getattr(row, "opening_hours_osm", "")) or _text(getattr(row, "opening_hours", ""))
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


def station_record(row: Any, at: datetime, cache: dict | None = None) -> dict:
    """The popup record of one station: short keys, every text HTML-escaped.

    The map's popup builder (``gdStationPopup``) reads it, whether it came
    inline with the map or from the app's API (:mod:`geo.web.api`). Empty
    values are left out: they are most of a sparse record.

    Parameters
    ----------
    row : namedtuple or object
        A station with the canonical field names as attributes (a row of
        ``itertuples()``).
    at : datetime
        Moment at which "open now" is judged.
    cache : dict, optional
        Reused between calls to judge each distinct opening-hours text once.
    """
    esc = html.escape
    cache = {} if cache is None else cache
    status = _text(getattr(row, "status", "")) or "open"
    open_now = _open_now(row, at, cache) if status == "open" else False
    facilities, other = [], []
    for item in _items(getattr(row, "facilities", None)):
        (facilities if item in schema.FACILITIES else other).append(item)
    other += _items(getattr(row, "facilities_other", None))
    phone = _text(getattr(row, "phone", ""))
    rec: dict[str, Any] = {
        "n": esc(_text(getattr(row, "name", ""))),
        "s": esc(_text(getattr(row, "subtype", ""))),
        "a": esc(_text(getattr(row, "address", ""))),
        "h": esc(_text(getattr(row, "opening_hours", "")) or _text(getattr(row, "opening_hours_osm", ""))),
        "o": None if open_now is None else int(bool(open_now)),
        "st": status if status in schema.STATUSES else "unknown",
        "f": facilities,
        "fo": [esc(x) for x in other],
        "p": esc(phone),
        "pt": _phone_href(phone),
        "op": esc(_text(getattr(row, "operator", ""))),
        "lh": esc(_text(getattr(row, "lawyer_hours", ""))),
        "tp": esc(_count_text(getattr(row, "truck_parking_spaces", None))),
        "v": esc(_text(getattr(row, "verified_at", ""))[:10]),
        "src": esc(_text(getattr(row, "source", ""))),
        "id": esc(_text(getattr(row, "id", ""))),
        "x": int(_truthy(getattr(row, "is_sample", False))),
    }
    return {k: v for k, v in rec.items() if not (v is None or v == "" or v == [] or (k == "x" and v == 0))}


@dataclass
class _KindPoints:
    """The stations of one kind, as the browser gets them."""

    ids: list[str]
    latlon_e6: np.ndarray  # (n, 2) int: microdegrees, about 0.1 m
    flags: np.ndarray  # (n,) 1 = not open, 2 = sample
    rows: list[dict] | None  # popup records, when they travel inline


def _lonlat(stations: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
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


def _kind_points(stations: gpd.GeoDataFrame, at: datetime, inline: bool) -> dict[str, _KindPoints]:
    """Stations with usable coordinates grouped by kind (registry order within a kind)."""
    lon, lat = _lonlat(stations)
    ok = np.isfinite(lon) & np.isfinite(lat)
    kinds = stations["kind"].fillna("").astype(str).str.strip().to_numpy() if "kind" in stations \
        else np.full(len(stations), "")
    status = (stations["status"].fillna("").astype(str).str.strip() if "status" in stations
              else pd.Series([""] * len(stations)))
    inactive = ~status.isin(["", "open"]).to_numpy()
    sample = (stations["is_sample"].map(_truthy).to_numpy(dtype=bool) if "is_sample" in stations
              else np.zeros(len(stations), dtype=bool))
    ids = stations["id"].map(_text).to_numpy() if "id" in stations else np.full(len(stations), "")
    out: dict[str, _KindPoints] = {}
    cache: dict = {}
    for kind in [*schema.KINDS, *sorted(set(kinds[ok]) - set(schema.KINDS))]:
        sel = np.flatnonzero(ok & (kinds == kind))
        if not len(sel):
            continue
        rows = None
        if inline:
            rows = [station_record(r, at, cache) for r in stations.iloc[sel].itertuples(index=False)]
        out[kind] = _KindPoints(
            ids=[str(i) for i in ids[sel]],
            latlon_e6=np.column_stack([np.round(lat[sel] * 1e6), np.round(lon[sel] * 1e6)]).astype(np.int64),
            flags=(inactive[sel].astype(np.uint8) | (sample[sel].astype(np.uint8) << 1)),
            rows=rows)
    return out


def _count_text(value: Any) -> str:
    text = _text(value)
    try:
        return str(int(float(text))) if text else ""
    except ValueError:
        return text


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def registry_base_map(lang: str = "zh", basemap: str = "osm", boundaries: gpd.GeoDataFrame | None = None,
                      bounds: list[list[float]] | None = None, asset_base: str = VENDOR_URL) -> folium.Map:
    """The registry map without its stations: basemap, outlines, legend and controls.

    It depends only on its arguments, not on which stations are shown, so
    a page can keep it while the station layers change (see
    :func:`registry_layers`).

    Parameters
    ----------
    lang : {"zh", "en"}
    basemap : {"osm", "carto", "amap"}
        Over ``"amap"`` everything is drawn shifted to GCJ-02.
    boundaries : geopandas.GeoDataFrame, optional
        Outlines to draw (see :func:`load_map_boundaries`); a ``level``
        column of ``"province"`` draws that row heavier.
    bounds : [[south, west], [north, east]], optional
        The view to fit; default the province.
    asset_base : str
        URL of the folder holding the vendored files, ending in "/". The
        default suits streamlit-folium inside the app.
    """
    m = _base_map(lang, basemap, asset_base)
    if boundaries is not None and len(boundaries):
        _Boundaries(boundaries, html.escape(t("boundaries", lang))).add_to(m)
    _Legend(lang).add_to(m)
    _FitBounds(bounds or _GUANGDONG_BOUNDS).add_to(m)
    return m


def registry_layers(stations: gpd.GeoDataFrame, lang: str = "zh", at: datetime | None = None,
                    details_url: str | None = None, asset_base: str = VENDOR_URL) -> list[folium.FeatureGroup]:
    """One toggleable, client-clustered layer per kind of station.

    Parameters
    ----------
    stations : geopandas.GeoDataFrame
        Canonical station columns (:data:`geo.core.schema.FIELD_NAMES`) and point
        geometry in WGS-84. Stations without usable coordinates are left out.
    lang : {"zh", "en"}
    at : datetime, optional
        Moment at which "open now" is judged; default now in
        :data:`geo.settings.TIMEZONE`.
    details_url : str, optional
        Base URL of the popup API (:mod:`geo.web.api`), ending in "/". Given,
        the browser gets only positions and fetches a station's details
        when its popup opens; otherwise every popup record travels with the
        map.
    asset_base : str

    Returns
    -------
    list of folium.FeatureGroup
        Named with the kind's pin and count, for the layer control; pass
        them to ``st_folium(feature_group_to_add=...)`` to update them
        without rebuilding the map.
    """
    if at is None:
        at = datetime.now(ZoneInfo(settings.TIMEZONE))
    groups = []
    for code, points in _kind_points(stations, at, inline=details_url is None).items():
        label = (f'<span class="gd-swatch">{pin_html(code)}</span>'
                 f"{html.escape(kind_label(code, lang))} ({len(points.ids)})")
        group = folium.FeatureGroup(name=label, overlay=True, control=True, show=True)
        _StationCluster(code, points, label, lang, asset_base, details_url).add_to(group)
        groups.append(group)
    return groups


def station_bounds(stations: gpd.GeoDataFrame) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` of the stations with coordinates, or None."""
    lon, lat = _lonlat(stations)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return None
    return [[float(lat[ok].min()), float(lon[ok].min())], [float(lat[ok].max()), float(lon[ok].max())]]


def registry_map(stations: gpd.GeoDataFrame, lang: str = "zh", at: datetime | None = None,
                 basemap: str = "osm", boundaries: gpd.GeoDataFrame | None = None,
                 asset_base: str = VENDOR_URL, details_url: str | None = None) -> folium.Map:
    """Build the whole map of the registry's three layers in one :class:`folium.Map`.

    :func:`registry_base_map` with :func:`registry_layers` and a layer
    control, framed on the stations. Parameters as there.

    Returns
    -------
    folium.Map
        One clustered overlay per layer that has stations, a legend, a
        layer control, scale bar, locate-me and full-screen buttons.
        Nothing is loaded from a CDN.
    """
    m = registry_base_map(lang, basemap, boundaries, station_bounds(stations), asset_base)
    for group in registry_layers(stations, lang, at, details_url, asset_base):
        group.add_to(m)
    layer_control().add_to(m)
    return m


def layer_control() -> folium.LayerControl:
    """The layer switcher every map uses (overlays only: the basemap is picked on the page)."""
    return folium.LayerControl(collapsed=True, position="topright")


@lru_cache(maxsize=4)
def load_map_boundaries(tolerance: float = 0.004, min_area: float = 1e-4,
                        grid: float = 0.0005) -> gpd.GeoDataFrame | None:
    """Province and city outlines for the map, made light for the browser.

    Parameters
    ----------
    tolerance : float
        Simplification tolerance in degrees (0.004 is about 400 m, far
        below a pixel at the zooms where whole cities are in view).
    min_area : float
        Islets smaller than this (square degrees; 1e-4 is about 1 km²) are
        left out.
    grid : float
        Coordinates are snapped to this grid (degrees): full double
        precision would triple the size of the page for nothing visible.

    Returns
    -------
    geopandas.GeoDataFrame or None
        Columns ``level`` and ``geometry`` (lines, WGS-84); ``None`` when
        the boundary file has not been built, so the map works without it.
    """
    import shapely

    from geo.core import regions  # reads the boundary file; only needed when outlines are drawn

    parts = []
    for level in ("city", "province"):
        try:
            gdf = regions.load_boundaries(level)
        except (FileNotFoundError, ValueError, OSError):
            continue
        lines = []
        for geom in gdf.geometry:
            polys = [p for p in shapely.get_parts(geom) if p.area >= min_area]
            outline = shapely.MultiPolygon(polys).boundary.simplify(tolerance)
            lines.append(shapely.set_precision(outline, grid))
        parts.append(gpd.GeoDataFrame({"level": [level] * len(lines)}, geometry=lines, crs=gdf.crs))
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)


# --------------------------------------------------------------------------
# Finder map (pages/2_找站_Finder.py)
# --------------------------------------------------------------------------

def _finder_css() -> str:
    return "\n".join([
        # The origin: a blue dot in a white ring, as phones draw "you are here".
        ".fd-origin{width:18px;height:18px;box-sizing:border-box;border-radius:50%;background:#1a73e8;"
        "border:3px solid #fff;box-shadow:0 0 0 2px rgba(26,115,232,.35),0 1px 4px rgba(0,0,0,.5);}",
        ".fd-pin{position:relative;width:26px;height:26px;display:flex;align-items:center;justify-content:center;}",
        ".fd-pin-sel .gd-pin{transform:scale(1.3);box-shadow:0 0 0 3px #1f4fd1,0 1px 4px rgba(0,0,0,.6);}",
        ".fd-pin-sel .gd-shape-diamond{transform:rotate(45deg) scale(1.3);}",
        ".fd-pin-num{position:absolute;right:-8px;top:-9px;min-width:16px;height:16px;padding:0 3px;"
        "box-sizing:border-box;border-radius:8px;background:#222;color:#fff;font:700 11px/16px system-ui,"
        "sans-serif;text-align:center;border:1px solid #fff;}",
        ".fd-pin-sel .fd-pin-num{background:#1f4fd1;}",
        ".fd-map-note{background:#fff3cd;color:#5c4300;border:1px solid #c9a227;border-radius:6px;"
        "padding:4px 8px;font-size:13px;font-weight:600;max-width:220px;box-shadow:0 1px 4px rgba(0,0,0,.3);}",
        ".fd-map-hint{background:rgba(255,255,255,.95);color:#222;border-radius:6px;padding:4px 8px;"
        "font-size:13px;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:240px;}",
    ])


class _FinderLayer(JSCSSMixin):
    """Origin, numbered result pins, the chosen route and the estimate notice of the finder map.

    Every string in ``data`` was escaped in Python; pin HTML comes from
    :func:`pin_html`, never from data.
    """

    _template = Template("""
        {% macro header(this, kwargs) %}
            <style>{{ this.css }}</style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function(map) {
                var d = {{ this.data_json }};
                var group = L.featureGroup();
                if (d.route) {
                    // A white casing under the line keeps it readable on any basemap.
                    L.polyline(d.route, {color: '#ffffff', weight: 9, opacity: 0.9, interactive: false,
                                         className: 'gd-route-casing'}).addTo(group);
                    L.polyline(d.route, {color: '#1f4fd1', weight: 5, opacity: 0.95, className: 'gd-route'})
                        .bindTooltip(d.route_tip, {sticky: true}).addTo(group);
                }
                d.results.forEach(function(r) {
                    var html = '<div class="fd-pin' + (r.s ? ' fd-pin-sel' : '') + '">' + d.pins[r.k] +
                               '<span class="fd-pin-num">' + r.i + '</span></div>';
                    var icon = L.divIcon({html: html, className: 'gd-marker fd-result', iconSize: [26, 26],
                                          iconAnchor: [13, 13], tooltipAnchor: [0, -14]});
                    L.marker([r.la, r.lo], {icon: icon, keyboard: true, zIndexOffset: r.s ? 1000 : 0})
                        .bindTooltip(r.i + '. ' + r.n, {direction: 'top'})
                        .addTo(group);
                });
                if (d.origin) {
                    var o = L.divIcon({html: '<div class="fd-origin"></div>', className: 'gd-marker fd-origin-icon',
                                       iconSize: [18, 18], iconAnchor: [9, 9]});
                    L.marker(d.origin, {icon: o, keyboard: false, zIndexOffset: 2000})
                        .bindTooltip(d.origin_tip, {direction: 'bottom'}).addTo(group);
                }
                group.addTo(map);
                if (d.note) {
                    var note = L.control({position: d.note_position});
                    note.onAdd = function() {
                        var div = L.DomUtil.create('div', d.note_class);
                        div.innerHTML = d.note;
                        L.DomEvent.disableClickPropagation(div);
                        return div;
                    };
                    note.addTo(map);
                }
                return group;
            })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, data: dict):
        super().__init__()
        self._name = "GdFinderLayer"
        self.css = _finder_css()
        self.data_json = _safe_json(data)


def finder_map(origin: tuple[float, float] | None, results: list[dict], selected: str | None = None,
               lang: str = "zh", basemap: str = "osm", boundaries: gpd.GeoDataFrame | None = None,
               asset_base: str = VENDOR_URL) -> folium.Map:
    """The worker finder's map: where I am, the nearest stations, the chosen route.

    Parameters
    ----------
    origin : (lon, lat) or None
        The user's position, WGS-84; None shows Guangdong and a hint to tap
        the map.
    results : list of dict
        From :func:`geo.routing.nearest.nearest_stations` (``id``, ``name``,
        ``kind``, ``lon``, ``lat``, ``method``, ``route``), nearest first;
        drawn as pins numbered 1, 2, ...
    selected : str, optional
        Id of the result whose route is drawn (default the first).
    lang : {"zh", "en"}
        Language of tooltips and notes.
    basemap : {"osm", "carto"}
        Basemap shown first.
    boundaries : geopandas.GeoDataFrame, optional
        Outlines (see :func:`load_map_boundaries`): offline, without tiles,
        they are what a user finds their way by before tapping the map.
    asset_base : str
        URL of the vendored Leaflet files (see :func:`registry_map`).

    Returns
    -------
    folium.Map
        The route of the selected result is a polyline (SVG path with class
        ``gd-route``) along the roads. An estimate (``method`` not
        ``"network"``) has no route, and none is drawn, not even a
        straight line: the map says "估算 / estimate" instead. Nothing is
        loaded from a CDN.
    """
    m = _base_map(lang, basemap, asset_base)
    if boundaries is not None and len(boundaries):
        _Boundaries(boundaries, html.escape(t("boundaries", lang))).add_to(m)

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
    _FinderLayer(data).add_to(m)
    _Legend(lang, finder_legend_html(lang)).add_to(m)
    layer_control().add_to(m)

    if origin is not None:
        # Frame the chosen route, or else the origin and every result; a
        # lone origin gets a street-level view around it.
        frame = [[p[0], p[1]] for p in route] if route else points
        frame = frame + [[origin[1], origin[0]]]
        if len(frame) == 1:
            frame = [[origin[1] - 0.004, origin[0] - 0.004], [origin[1] + 0.004, origin[0] + 0.004]]
        lats, lons = [p[0] for p in frame], [p[1] for p in frame]
        # Room at the top for the zoom and layer buttons, which sit over the map there.
        _FitBounds([[min(lats), min(lons)], [max(lats), max(lons)]], max_zoom=16, padding=24,
                   pad_top=24).add_to(m)
    else:
        _FitBounds(_GUANGDONG_BOUNDS).add_to(m)
    return m


# --------------------------------------------------------------------------
# Coverage map (pages/3_覆盖_Coverage.py)
# --------------------------------------------------------------------------

#: Outline of the gaps: dark blue, dashed, so it reads over every band colour.
_GAP_COLOUR = "#08306b"


def _coverage_css() -> str:
    return "\n".join([
        ".cv-tip{font-size:13px;line-height:1.4;}",
        ".cv-tip b{font-weight:700;}",
        ".gd-legend .cv-sw{flex:none;width:18px;height:14px;border:1px solid rgba(0,0,0,.35);border-radius:2px;}",
        ".gd-legend .cv-gap{background:transparent;border:2px dashed " + _GAP_COLOUR + ";height:12px;}",
        ".gd-legend .cv-dot{flex:none;width:12px;height:12px;border-radius:50%;border:1.5px solid #fff;"
        "box-shadow:0 0 0 1px rgba(0,0,0,.45);margin:0 3px;}",
        ".gd-legend .cv-share{margin-left:auto;padding-left:8px;color:#444;font-variant-numeric:tabular-nums;}",
        ".gd-legend .cv-group{font-size:12px;font-weight:600;color:#333;margin-top:4px;}",
        ".gd-legend .cv-std{font-size:12px;margin-top:2px;}",
        ".gd-legend .cv-est{display:inline-block;background:#fff3cd;color:#5c4300;border:1px solid #c9a227;"
        "border-radius:4px;padding:0 5px;font-weight:700;font-size:12px;}",
        ".gd-legend{max-width:300px;}",
        ".cv-legend{font-size:12px;line-height:1.35;}",
        ".gd-legend .cv-legend ul{margin-top:2px;}",
        ".gd-legend .cv-legend li{margin:1px 0;}",
        "@media (max-width:600px){.gd-legend{max-width:220px;}}",
    ])


class _DataLayer(JSCSSMixin, Layer):
    """An overlay drawn in the browser from one JSON payload, with optional CSS.

    Subclasses give the template that turns ``data_json`` into Leaflet
    layers, and the ``_layer_name`` folium names the variable after.
    """

    _layer_name = "GdDataLayer"

    def __init__(self, data_json: str, name: str, css: str = ""):
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = self._layer_name
        self.data_json = data_json
        self.css = css


class _CoverageLayer(_DataLayer):
    """One GeoJSON overlay of the coverage map: travel bands, gaps or stations.

    ``data_json`` holds the features and the lookup tables the tooltips are
    built from; every string in it was escaped in Python.
    """

    _template = Template("""
        {% macro header(this, kwargs) %}
            {%- if this.css %}<style>{{ this.css }}</style>{%- endif %}
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function() {
                var d = {{ this.data_json }};
                // Geometry arrives as integer steps of d.p degrees (geo.web.views.coverage.encode_geometries).
                function ring(a) {
                    var out = [], x = 0, y = 0;
                    for (var i = 0; i + 1 < a.length; i += 2) {
                        x += a[i]; y += a[i + 1]; out.push([x * d.p, y * d.p]);
                    }
                    return out;
                }
                function collection(lines) {
                    return {type: 'FeatureCollection', features: (d.features || []).map(function(f) {
                        var g = lines ? {type: 'MultiLineString', coordinates: f[1].map(ring)}
                                      : {type: 'MultiPolygon', coordinates: f[1].map(function(poly) {
                                            return poly.map(ring); })};
                        return {type: 'Feature', properties: f[0], geometry: g};
                    })};
                }
                var layer;
                if (d.type === 'bands') {
                    layer = L.geoJSON(collection(false), {
                        style: function(f) {
                            return {stroke: false, fill: true, fillColor: d.colours[f.properties.b],
                                    fillOpacity: 0.72, className: 'cv-band cv-band-' + f.properties.b};
                        },
                        onEachFeature: function(f, l) {
                            l.bindTooltip(function() {
                                var p = f.properties;
                                return '<div class="cv-tip"><b>' + (d.names[p.d] || p.d) + '</b><br>' +
                                       d.labels[p.b] + '<br>' + p.a + ' km² · ' + p.n + ' ' + d.cells +
                                       (p.m ? '<br>' + d.demand + ' ' + p.m : '') + '</div>';
                            }, {sticky: true});
                        }
                    });
                } else if (d.type === 'gaps') {
                    layer = L.geoJSON(collection(false), {
                        style: function() {
                            return {color: d.colour, weight: 2.2, opacity: 0.95, dashArray: '6 4',
                                    fill: true, fillOpacity: 0, className: 'cv-gap'};
                        },
                        onEachFeature: function(f, l) {
                            l.bindTooltip(function() {
                                var p = f.properties;
                                return '<div class="cv-tip"><b>' + d.gap + ' #' + p.g + '</b> · ' +
                                       (d.names[p.d] || p.d) + '<br>' + p.a + ' km² · ' + p.n + ' ' + d.cells +
                                       (p.m ? '<br>' + d.demand + ' ' + p.m : '') +
                                       (p.s ? '<br>' + d.nearest + ' ' + p.s + ' km' : '') + '</div>';
                            }, {sticky: true});
                        }
                    });
                } else if (d.type === 'outlines') {
                    layer = L.geoJSON(collection(true), {
                        interactive: false,
                        style: function() { return {color: '#4d4d4d', weight: 1, opacity: 0.8, fill: false,
                                                    dashArray: '4 3', className: 'cv-outline'}; }
                    });
                } else {
                    layer = L.featureGroup();
                    d.rows.forEach(function(r) {
                        L.circleMarker([r[0], r[1]], {radius: d.radius, color: '#ffffff', weight: 1, opacity: 1,
                                                      fillColor: d.colours[r[2]], fillOpacity: 1,
                                                      className: 'cv-station'})
                            .bindTooltip('<div class="cv-tip"><b>' + r[3] + '</b><br>' + d.kinds[r[2]] +
                                         (r[4] ? '<br>' + d.sample : '') + '</div>', {direction: 'top'})
                            .addTo(layer);
                    });
                }
                {%- if this.show %}
                layer.addTo({{ this._parent.get_name() }});
                {%- endif %}
                return layer;
            })();
        {% endmacro %}
    """)

    _layer_name = "GdCoverageLayer"


def _layer_json(head: dict, props: list[dict], geometries: list[str]) -> str:
    """A coverage layer's data: ``head`` plus ``features`` as ``[properties, encoded geometry]`` pairs.

    The properties are escaped and made script-safe by :func:`_safe_json`;
    the geometry texts hold only integers (``geo.web.views.coverage.encode_geometries``).
    """
    parts = [f"[{_safe_json(p)},{g}]" for p, g in zip(props, geometries)]
    return _safe_json(head)[:-1] + ',"features":[' + ",".join(parts) + "]}"


def _num_text(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if value is not None and math.isfinite(value) else ""


def coverage_legend_html(layers: MapLayers, lang: str = "zh") -> str:
    """The coverage map's legend: bands with text labels and shares, gaps, stations, standard and method."""
    from geo.web.views.coverage import band_label, standard_text

    esc = html.escape
    unit = layers.standard.unit
    stats = layers.band_stats.set_index("band")
    share_col = "share_demand" if layers.demand_unit != "km²" else "share_area"
    rows = [f'<div class="cv-std">{esc(t("cv_legend_standard", lang, standard=standard_text(layers.standard, lang)))}'
            "</div>"]
    estimated = layers.method_cells.get("estimate", 0)
    if layers.method != "network" or estimated:
        rows.append(f'<div class="cv-std"><span class="cv-est">{esc(settings.ESTIMATE_LABEL)}</span> '
                    f'{esc(t("cv_legend_estimated", lang, n=f"{estimated:,}"))}</div>')
    else:
        rows.append(f'<div class="cv-std">{esc(t("cv_legend_network", lang))}</div>')
    items = []
    groups = {True: t("cv_legend_within", lang), False: t("cv_legend_beyond", lang)}
    current = None
    for band in layers.bands:
        n = int(stats.at[band.index, "cells"]) if band.index in stats.index else 0
        if not band.reachable and n == 0:
            continue
        if band.covered != current:
            current = band.covered
            items.append(f'<li class="cv-group">{esc(groups[current])}</li>')
        share = float(stats.at[band.index, share_col]) if n else 0.0
        items.append(f'<li><span class="cv-sw" style="background:{band.colour}"></span>'
                     f'<span>{esc(band_label(band, unit, lang))}</span>'
                     f'<span class="cv-share">{100 * share:.1f}%</span></li>')
    shown = len(layers.gap_polygons)
    gap_text = (t("cv_legend_gaps", lang, n=shown) if shown == layers.gaps_total
                else t("cv_legend_gaps_top", lang, n=shown, total=layers.gaps_total))
    items.append(f'<li><span class="cv-sw cv-gap"></span><span>{esc(gap_text)}</span></li>')
    for code in dict.fromkeys(layers.stations["kind"].tolist()) if len(layers.stations) else []:
        items.append(f'<li><span class="cv-dot" style="background:{_style(code)["color"]}"></span>'
                     f'<span>{esc(kind_label(code, lang))}</span></li>')
    foot = t("cv_legend_share_demand" if share_col == "share_demand" else "cv_legend_share_area", lang)
    if layers.display_resolution != layers.resolution:
        foot += " " + t("cv_legend_coarse", lang, res=layers.display_resolution, of=layers.resolution)
    title = t("cv_legend_title_time" if unit == "min" else "cv_legend_title_distance", lang)
    return (f'<details class="gd-legend-body" open><summary>{esc(title)}</summary><div class="cv-legend">'
            f'{"".join(rows)}<ul>{"".join(items)}</ul><div class="gd-note">{esc(foot)}</div></div></details>')


def _base_map(lang: str, basemap: str, asset_base: str) -> folium.Map:
    """An empty map: offline Leaflet, one basemap, the controls and the shared setup.

    Quarter zoom steps let the whole province fill a phone-wide map, which
    whole steps would leave at a quarter of the width. The asset lists are
    set per map: folium's class-level defaults point at CDNs and must not be
    mutated for other maps in the same process. The basemap is chosen on
    the page, not in the map: over Amap's GCJ-02 tiles the map needs
    another CRS, which Leaflet cannot change on a live map.
    """
    if basemap not in BASEMAPS:
        basemap = BASEMAPS[0]
    tiles = _TILES[basemap]
    crs = "GdGcj02" if tiles["crs"] == "gcj02" else "EPSG3857"
    m = folium.Map(location=[23.2, 113.3], zoom_start=7, tiles=None, zoom_snap=0.25, crs=crs,
                   max_zoom=tiles["max_zoom"])
    m.default_js = [("leaflet", asset_base + _LEAFLET + "leaflet.js"), ("gd_map", asset_base + _GD_JS)]
    m.default_css = [("leaflet_css", asset_base + _LEAFLET + "leaflet.css")]
    layer = folium.TileLayer(tiles["url"], attr=tiles["attr"], name=html.escape(t(f"basemap_{basemap}", lang)),
                             subdomains=tiles["subdomains"], max_zoom=tiles["max_zoom"], control=False)
    layer.add_to(m)
    _MapSetup(lang, asset_base).add_to(m)
    _Controls(lang, layer).add_to(m)
    return m


class _Controls(JSCSSMixin):
    """Scale bar, locate-me, full screen and the offline notice (``gdMapControls``)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            window.gdMapControls({{ this._parent.get_name() }}, {{ this.tiles.get_name() }}, {{ this.labels_json }});
        {% endmacro %}
    """)

    def __init__(self, lang: str, tiles: folium.TileLayer):
        super().__init__()
        self._name = "GdControls"
        self.tiles = tiles
        # Plain text: the script sets it as text or attributes, never as HTML.
        self.labels_json = _safe_json({key: t(f"map_{key}", lang) for key in
                                       ("locate", "locating", "locate_failed", "full_screen", "offline")})


def _band_layer(layers: MapLayers, lang: str) -> _CoverageLayer:
    """The travel bands of a coverage result (SVG paths of class ``cv-band``)."""
    from geo.web.views.coverage import band_label

    esc = html.escape
    names = {code: esc(name) for code, name in layers.district_names.items()}
    with_demand = layers.demand_unit != "km²"
    bp = layers.band_polygons
    band_props = [{"b": int(b), "d": str(d), "a": _num_text(a), "n": f"{int(n):,}",
                   **({"m": _num_text(dm, 0)} if with_demand else {})}
                  for b, d, a, n, dm in zip(bp["band"], bp["district"], bp["area_km2"], bp["cells"], bp["demand"])]
    bands = {
        "type": "bands", "p": layers.precision, "colours": [b.colour for b in layers.bands],
        "labels": [esc(band_label(b, layers.standard.unit, lang)) for b in layers.bands],
        "names": names, "cells": esc(t("cv_tip_cells", lang)),
        "demand": esc(t("cv_tip_demand", lang, unit=layers.demand_unit)),
    }
    # Geometry is spliced in as text: it was encoded once, in geo.web.views.coverage, and is cached with the layers.
    return _CoverageLayer(_layer_json(bands, band_props, layers.geometry_texts("band_polygons")),
                          esc(t("cv_layer_bands", lang)), css=_coverage_css())


def _outline_layer(layers: MapLayers, lang: str) -> _CoverageLayer | None:
    """The region's district outlines, or None when there are none."""
    if not len(layers.outlines):
        return None
    return _CoverageLayer(_layer_json({"type": "outlines", "p": layers.precision}, [{}] * len(layers.outlines),
                                      layers.geometry_texts("outlines")),
                          html.escape(t("cv_layer_districts", lang)))


def _gap_layer(gp: gpd.GeoDataFrame, texts: list[str], precision: float, names: dict, demand_unit: str,
               lang: str, name: str) -> _CoverageLayer | None:
    """Dashed gap outlines (class ``cv-gap``) from a gap frame and its encoded geometry; None when empty."""
    if not len(gp):
        return None
    esc = html.escape
    with_demand = demand_unit != "km²"
    gap_props = [{"g": int(g), "d": str(d), "a": _num_text(a), "n": f"{int(n):,}",
                  "s": _num_text(sd / 1000.0, 2) if math.isfinite(sd) else "",
                  **({"m": _num_text(dm, 0)} if with_demand else {})}
                 for g, d, a, n, sd, dm in zip(gp["gap"], gp["district"], gp["area_km2"], gp["cells"],
                                               gp["station_distance_m"].astype(float), gp["demand"])]
    gaps = {"type": "gaps", "p": precision, "colour": _GAP_COLOUR,
            "names": {code: esc(v) for code, v in names.items()},
            "cells": esc(t("cv_tip_cells", lang)), "demand": esc(t("cv_tip_demand", lang, unit=demand_unit)),
            "gap": esc(t("cv_tip_gap", lang)), "nearest": esc(t("cv_tip_nearest", lang))}
    return _CoverageLayer(_layer_json(gaps, gap_props, texts), esc(name))


def _stations_layer(layers: MapLayers, lang: str) -> _CoverageLayer | None:
    """Serving stations as small dots (class ``cv-station``), or None when there are none."""
    st = layers.stations
    if not len(st):
        return None
    esc = html.escape
    kinds = list(dict.fromkeys(st["kind"].tolist()))
    pos = {k: i for i, k in enumerate(kinds)}
    rows = [[round(float(la), 6), round(float(lo), 6), pos[k], esc(str(n)), int(bool(x))]
            for lo, la, k, n, x in zip(st["lon"], st["lat"], st["kind"], st["name"], st["is_sample"])]
    # Smaller dots where there are many, so the bands still show between them.
    radius = 4.5 if len(rows) < 300 else (3.5 if len(rows) < 1000 else 2.5)
    stations = {"type": "stations", "rows": rows, "radius": radius, "colours": [_style(k)["color"] for k in kinds],
                "kinds": [esc(kind_label(k, lang)) for k in kinds], "sample": esc(t("sample_tag", lang))}
    return _CoverageLayer(_safe_json(stations), esc(t("cv_layer_stations", lang)))


def coverage_map(layers: MapLayers, lang: str = "zh", basemap: str = "osm",
                 boundaries: gpd.GeoDataFrame | None = None, asset_base: str = VENDOR_URL) -> folium.Map:
    """The planner's coverage map: travel bands, gaps and serving stations.

    Parameters
    ----------
    layers : geo.web.views.coverage.MapLayers
        From :func:`geo.web.views.coverage.map_layers`: polygons already dissolved per
        district and band and simplified, so the page stays light even for
        the whole province.
    lang : {"zh", "en"}
        Language of the legend, layer names and tooltips.
    basemap : {"osm", "carto"}
        Basemap shown first.
    boundaries : geopandas.GeoDataFrame, optional
        Province and city outlines (see :func:`load_map_boundaries`); the
        region's district outlines are added.
    asset_base : str
        URL of the vendored Leaflet files (see :func:`registry_map`).

    Returns
    -------
    folium.Map
        Overlays (each in the layer control): the bands (SVG paths of class
        ``cv-band``, a tooltip each), the outlines, the largest gaps (dashed,
        class ``cv-gap``) and the stations (``cv-station``); a legend with
        each band's text label and share, the standard, and ``估算 /
        estimate`` when any cell was estimated. Every string from data is
        HTML-escaped; nothing is loaded from a CDN.
    """
    m = _base_map(lang, basemap, asset_base)
    _band_layer(layers, lang).add_to(m)
    if boundaries is not None and len(boundaries):
        _Boundaries(boundaries, html.escape(t("boundaries", lang))).add_to(m)
    for layer in (_outline_layer(layers, lang),
                  _gap_layer(layers.gap_polygons, layers.geometry_texts("gap_polygons") if len(layers.gap_polygons)
                             else [], layers.precision, layers.district_names, layers.demand_unit, lang,
                             t("cv_layer_gaps", lang)),
                  _stations_layer(layers, lang)):
        if layer is not None:
            layer.add_to(m)
    _Legend(lang, coverage_legend_html(layers, lang)).add_to(m)
    layer_control().add_to(m)
    _FitBounds(layers.bounds, max_zoom=15).add_to(m)
    return m


# --------------------------------------------------------------------------
# Siting map (pages/4_选址_Siting.py)
# --------------------------------------------------------------------------

#: Fill of the cells the new sites newly cover: a blue, apart from the
#: yellow-to-red travel bands under it for every common colour-vision type.
NEW_COVER_COLOUR = "#1f78b4"


def _siting_css() -> str:
    return "\n".join([
        ".st-site{width:24px;height:24px;box-sizing:border-box;border-radius:50%;background:#111;color:#fff;"
        "border:2px solid #fff;box-shadow:0 1px 4px rgba(0,0,0,.6);display:flex;align-items:center;"
        "justify-content:center;font:700 12px/1 system-ui,sans-serif;}",
        ".st-site-num{display:block;text-align:center;}",
        ".st-popup{font-size:13px;line-height:1.4;min-width:180px;}",
        ".st-popup-title{font-weight:700;font-size:14px;margin-bottom:2px;}",
        ".st-popup table{border-collapse:collapse;}",
        ".st-popup th{text-align:left;font-weight:600;color:#555;padding:1px 8px 1px 0;vertical-align:top;}",
        ".st-popup td{padding:1px 0;}",
        ".gd-legend .st-new{background:" + NEW_COVER_COLOUR + ";}",
        ".gd-legend .st-dot{flex:none;width:16px;height:16px;border-radius:50%;background:#111;color:#fff;"
        "border:1.5px solid #fff;box-shadow:0 0 0 1px rgba(0,0,0,.45);font:700 10px/16px system-ui,sans-serif;"
        "text-align:center;margin:0 1px;}",
    ])


class _SitingLayer(_DataLayer):
    """The newly covered cells, or the numbered proposed sites, of the siting map.

    ``data_json`` holds the features and the labels; every string in it was
    escaped in Python, and the numbers are integers.
    """

    _template = Template("""
        {% macro header(this, kwargs) %}
            {%- if this.css %}<style>{{ this.css }}</style>{%- endif %}
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function() {
                var d = {{ this.data_json }};
                var layer;
                if (d.type === 'new') {
                    // Geometry arrives as integer steps of d.p degrees (geo.web.views.coverage.encode_geometries).
                    var ring = function(a) {
                        var out = [], x = 0, y = 0;
                        for (var i = 0; i + 1 < a.length; i += 2) {
                            x += a[i]; y += a[i + 1]; out.push([x * d.p, y * d.p]);
                        }
                        return out;
                    };
                    layer = L.geoJSON({type: 'FeatureCollection', features: d.features.map(function(f) {
                        return {type: 'Feature', properties: f[0], geometry: {type: 'MultiPolygon',
                                coordinates: f[1].map(function(poly) { return poly.map(ring); })}};
                    })}, {
                        style: function() {
                            return {color: d.colour, weight: 1, opacity: 0.9, fill: true, fillColor: d.colour,
                                    fillOpacity: 0.85, className: 'st-new'};
                        },
                        onEachFeature: function(f, l) {
                            var p = f.properties;
                            l.bindTooltip('<div class="cv-tip"><b>' + d.label + '</b> · ' + (d.names[p.d] || p.d) +
                                          '<br>' + p.a + ' km² · ' + p.n + ' ' + d.cells +
                                          (p.m ? '<br>' + d.demand + ' ' + p.m : '') + '</div>', {sticky: true});
                        }
                    });
                } else {
                    layer = L.featureGroup();
                    d.sites.forEach(function(s) {
                        var icon = L.divIcon({html: '<div class="st-site"><span class="st-site-num">' + s.i +
                                                    '</span></div>',
                                              className: 'gd-marker st-site-icon', iconSize: [24, 24],
                                              iconAnchor: [12, 12], popupAnchor: [0, -12], tooltipAnchor: [0, -12]});
                        var rows = [[d.added, s.a], [d.district, s.d], [d.candidate, s.n], [d.position, s.xy]];
                        var h = '<div class="st-popup"><div class="st-popup-title">' + s.t + '</div><table>';
                        rows.forEach(function(r) { if (r[1]) { h += '<tr><th>' + r[0] + '</th><td>' + r[1] + '</td></tr>'; } });
                        h += '</table></div>';
                        L.marker([s.la, s.lo], {icon: icon, keyboard: true, zIndexOffset: 1000 - s.i})
                            .bindTooltip(s.i + '. ' + s.t + (s.a ? ' · ' + s.a : ''), {direction: 'top'})
                            .bindPopup(h, {maxWidth: 300, autoPanPadding: [20, 20]})
                            .addTo(layer);
                    });
                }
                {%- if this.show %}
                layer.addTo({{ this._parent.get_name() }});
                {%- endif %}
                return layer;
            })();
        {% endmacro %}
    """)

    _layer_name = "GdSitingLayer"


def siting_legend_html(layers: MapLayers, overlay: SitingLayers, lang: str = "zh") -> str:
    """The siting map's legend: existing coverage bands, what is newly covered, the sites, the gaps left."""
    from geo.web.views.coverage import band_label, standard_text

    esc = html.escape
    rows = [f'<div class="cv-std">{esc(t("cv_legend_standard", lang, standard=standard_text(layers.standard, lang)))}'
            "</div>"]
    estimated = layers.method_cells.get("estimate", 0)
    if layers.method != "network" or estimated:
        rows.append(f'<div class="cv-std"><span class="cv-est">{esc(settings.ESTIMATE_LABEL)}</span> '
                    f'{esc(t("cv_legend_estimated", lang, n=f"{estimated:,}"))}</div>')
    else:
        rows.append(f'<div class="cv-std">{esc(t("cv_legend_network", lang))}</div>')
    stats = layers.band_stats.set_index("band")
    items = [f'<li class="cv-group">{esc(t("si_legend_before", lang))}</li>']
    for band in layers.bands:
        n = int(stats.at[band.index, "cells"]) if band.index in stats.index else 0
        if not band.reachable and n == 0:
            continue
        items.append(f'<li><span class="cv-sw" style="background:{band.colour}"></span>'
                     f'<span>{esc(band_label(band, layers.standard.unit, lang))}</span></li>')
    items.append(f'<li class="cv-group">{esc(t("si_legend_title", lang))}</li>')
    items.append(f'<li><span class="cv-sw st-new"></span><span>{esc(t("si_legend_new", lang))}</span>'
                 f'<span class="cv-share">{esc(t("si_fig_gain_value", lang, points=f"{overlay.gain_points:.1f}"))}'
                 '</span></li>')
    items.append(f'<li><span class="st-dot">1</span><span>{esc(t("si_legend_sites", lang))}</span></li>')
    shown = len(overlay.gaps)
    gap_text = (t("si_legend_gaps", lang, n=shown) if shown == overlay.gaps_total
                else t("si_legend_gaps_top", lang, n=shown, total=overlay.gaps_total))
    items.append(f'<li><span class="cv-sw cv-gap"></span><span>{esc(gap_text)}</span></li>')
    for code in dict.fromkeys(layers.stations["kind"].tolist()) if len(layers.stations) else []:
        items.append(f'<li><span class="cv-dot" style="background:{_style(code)["color"]}"></span>'
                     f'<span>{esc(kind_label(code, lang))}</span></li>')
    title = t("si_legend_title", lang)
    return (f'<details class="gd-legend-body" open><summary>{esc(title)}</summary><div class="cv-legend">'
            f'{"".join(rows)}<ul>{"".join(items)}</ul></div></details>')


def siting_map(layers: MapLayers, overlay: SitingLayers, lang: str = "zh", basemap: str = "osm",
               boundaries: gpd.GeoDataFrame | None = None, asset_base: str = VENDOR_URL) -> folium.Map:
    """The siting page's map: what new sites would add to the existing coverage.

    Parameters
    ----------
    layers : geo.web.views.coverage.MapLayers
        The baseline's coverage layers (:func:`geo.web.views.coverage.map_layers` of
        the problem's baseline), drawn underneath as on the coverage page
        (its gaps are left out: they are the gaps before the new sites).
    overlay : geo.web.views.siting.SitingLayers
        From :func:`geo.web.views.siting.siting_layers`: newly covered cells
        dissolved per district, the largest remaining gaps, the sites.
    lang : {"zh", "en"}
    basemap : {"osm", "carto"}
    boundaries : geopandas.GeoDataFrame, optional
        Province and city outlines (see :func:`load_map_boundaries`).
    asset_base : str
        URL of the vendored Leaflet files (see :func:`registry_map`).

    Returns
    -------
    folium.Map
        Overlays: the existing travel bands (``cv-band``), the newly covered
        cells in blue (``st-new``, tooltips), district outlines, the gaps
        left (dashed, ``cv-gap``), existing stations (``cv-station``) and
        the proposed sites as markers numbered 1..N (``st-site`` with the
        number in ``st-site-num``; tooltip and popup with the demand each
        adds). Every string from data is HTML-escaped; nothing is loaded
        from a CDN.
    """
    esc = html.escape
    m = _base_map(lang, basemap, asset_base)
    _band_layer(layers, lang).add_to(m)
    names = {code: esc(name) for code, name in layers.district_names.items()}
    with_demand = overlay.demand_unit != "km²"
    nc = overlay.new_cover
    if len(nc):
        props = [{"d": str(d), "a": _num_text(a), "n": f"{int(n):,}", **({"m": _num_text(dm, 0)} if with_demand
                                                                          else {})}
                 for d, a, n, dm in zip(nc["district"], nc["area_km2"], nc["cells"], nc["demand"])]
        head = {"type": "new", "p": overlay.precision, "colour": NEW_COVER_COLOUR, "names": names,
                "label": esc(t("si_tip_new", lang)), "cells": esc(t("cv_tip_cells", lang)),
                "demand": esc(t("cv_tip_demand", lang, unit=overlay.demand_unit))}
        _SitingLayer(_layer_json(head, props, overlay.geometry_texts("new_cover")),
                     esc(t("si_layer_new", lang)), css=_siting_css()).add_to(m)
    if boundaries is not None and len(boundaries):
        _Boundaries(boundaries, esc(t("boundaries", lang))).add_to(m)
    for layer in (_outline_layer(layers, lang),
                  _gap_layer(overlay.gaps, overlay.geometry_texts("gaps"), overlay.precision, layers.district_names,
                             overlay.demand_unit, lang, t("si_layer_gaps", lang)),
                  _stations_layer(layers, lang)):
        if layer is not None:
            layer.add_to(m)
    sites = []
    unit = esc(overlay.demand_unit)
    for r in overlay.sites.itertuples(index=False):
        lon, lat = float(r.lon), float(r.lat)
        if not (math.isfinite(lon) and math.isfinite(lat)):
            continue
        added = float(r.added_demand) if r.added_demand is not None else float("nan")
        sites.append({"i": int(r.rank), "la": round(lat, 7), "lo": round(lon, 7),
                      "t": esc(t("si_tip_site", lang, rank=int(r.rank))),
                      "a": f"+{_num_text(added)} {unit}" if math.isfinite(added) else "",
                      "d": esc(_text(r.district)), "n": esc(_text(r.name)),
                      "xy": f"{lon:.5f}, {lat:.5f}"})
    data = {"type": "sites", "sites": sites, "added": esc(t("si_tip_added", lang)),
            "district": esc(t("si_tip_district", lang)), "candidate": esc(t("si_tip_candidate", lang)),
            "position": esc(t("si_tip_position", lang))}
    _SitingLayer(_safe_json(data), esc(t("si_layer_sites", lang)), css="" if len(nc) else _siting_css()).add_to(m)
    _Legend(lang, siting_legend_html(layers, overlay, lang)).add_to(m)
    layer_control().add_to(m)
    _FitBounds(layers.bounds, max_zoom=15).add_to(m)
    return m


def map_html_bytes(m: folium.Map) -> int:
    """Size in bytes of a folium map's HTML, as shipped to the browser (for payload checks)."""
    return len(m.get_root().render().encode("utf-8"))
