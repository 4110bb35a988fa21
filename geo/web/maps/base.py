"""What every map shares: offline assets, basemaps, the empty map, its controls and the data elements.

Design choices worth knowing:

* **Offline JavaScript.** Folium and streamlit-folium load Leaflet and its
  plugins from public CDNs, which are unreachable offline and slow or blocked
  for many users in China. The maps instead name copies kept under
  ``static/vendor/`` (Leaflet 1.9.4 and Leaflet.markercluster 1.5.3's
  stylesheets, Supercluster 9.1.0), which Streamlit serves under
  ``/app/static/``. The markers are plain ``L.divIcon`` pins, so folium's
  default jQuery, Bootstrap and Font Awesome are not needed.
* **No script or style in Python.** The project's own JavaScript and CSS
  are files under ``static/gd/`` (``gd-map.js``, ``gd-layers.js``,
  ``gd-map.css`` and one stylesheet per special map), cached by the
  browser; a page carries only data, as JSON (:mod:`geo.web.maps.encoding`).
* **Escaping.** Every value that comes from data is passed through
  :func:`html.escape` in Python before it reaches the page. Leaflet puts
  tooltip and popup strings into ``innerHTML``, so escaping at the source is
  what makes a station called ``<script>`` show as text.
"""
from __future__ import annotations

import html
from typing import Any

import folium
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from geo import settings
from geo.core import schema
from geo.core.i18n import facility_label, kind_label, status_label, t
from geo.web.maps.encoding import script_json
from geo.web.maps.pins import kind_style, pin_html

#: Where the vendored JavaScript and CSS are, as seen from the page that runs
#: the map. streamlit-folium runs it in an iframe served from
#: ``<base>/component/streamlit_folium.st_folium/index.html``, so this
#: relative URL reaches ``<base>/app/static/vendor/`` and keeps working when
#: the app is served under a path prefix (``server.baseUrlPath``).
VENDOR_URL = "../../app/static/vendor/"

#: Folder holding the vendored files (for a standalone page or a test, pass
#: ``VENDOR_DIR.as_uri() + "/"`` as ``asset_base``).
VENDOR_DIR = settings.ROOT / "static" / "vendor"

#: The vendored libraries' folders under :data:`VENDOR_DIR` (static/vendor/README.md).
LEAFLET = "leaflet-1.9.4/"
MARKERCLUSTER = "leaflet.markercluster-1.5.3/"
SUPERCLUSTER = "supercluster-9.1.0/"
#: The project's own scripts and stylesheets (``static/gd/``), beside the vendored folder.
GD = "../gd/"

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

#: Centre-ish bounding box of Guangdong, used when there is nothing to show.
GUANGDONG_BOUNDS = [[20.2, 109.6], [25.6, 117.4]]


def basemap_crs(basemap: str) -> str:
    """The coordinate system a basemap's tiles are drawn in: ``"wgs84"`` or ``"gcj02"``.

    Data stay in WGS-84; a map over ``"gcj02"`` tiles shifts what it draws
    when it draws it, and gives clicks back in WGS-84.
    """
    return _TILES.get(basemap, _TILES[BASEMAPS[0]])["crs"]


def gd_stylesheet(asset_base: str, name: str) -> tuple[str, str]:
    """The ``(name, url)`` folium asset entry of one of the project's stylesheets, ``static/gd/gd-<name>.css``."""
    return f"gd_{name}_css", asset_base + GD + f"gd-{name}.css"


def layer_control() -> folium.LayerControl:
    """The layer switcher every map uses (overlays only: the basemap is picked on the page)."""
    return folium.LayerControl(collapsed=True, position="topright")


def map_html_bytes(m: folium.Map) -> int:
    """Size in bytes of a folium map's HTML, as shipped to the browser (for payload checks)."""
    return len(m.get_root().render().encode("utf-8"))


class MapSetup(JSCSSMixin):
    """The labels of the page's language for the station popups and pins (``gdMapSetup`` of gd-map.js).

    Parameters
    ----------
    lang
        ``"zh"`` or ``"en"``.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = window.gdMapSetup({{ this.labels_json }});
        {% endmacro %}
    """)

    def __init__(self, lang: str):
        super().__init__()
        self._name = "GdMapSetup"
        pins = {code: [pin_html(code, inactive=i, sample=s) for s in (False, True) for i in (False, True)]
                for code in (*schema.KINDS, "_")}
        esc = html.escape
        labels = {
            "kinds": {code: {"label": esc(kind_label(code, lang)), "color": kind_style(code)["color"]}
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
        self.labels_json = script_json(labels)


class Controls(JSCSSMixin):
    """Scale bar, locate-me, full screen and the offline notice (``gdMapControls`` of gd-map.js).

    Parameters
    ----------
    lang
        ``"zh"`` or ``"en"``.
    tiles
        The basemap, watched for tiles that fail to load.
    """

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
        self.labels_json = script_json({key: t(f"map_{key}", lang) for key in
                                        ("locate", "locating", "locate_failed", "full_screen", "offline",
                                         "zoom_in", "zoom_out", "layers")})


class FitBounds(JSCSSMixin):
    """Fit the map to bounds, again on every resize until the user moves it (``L.gdFitBounds``).

    Parameters
    ----------
    bounds
        ``[[south, west], [north, east]]``.
    max_zoom
        Closest zoom the fit may reach.
    padding
        Room in pixels around the bounds.
    pad_top
        Extra room at the top, where the zoom and layer buttons sit over the map.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.gdFitBounds({{ this._parent.get_name() }}, {{ this.bounds_json }},
                                                      {{ this.options_json }});
        {% endmacro %}
    """)

    def __init__(self, bounds: list[list[float]], *, max_zoom: int = 14, padding: int = 12, pad_top: int = 0):
        super().__init__()
        self._name = "GdFitBounds"
        self.bounds_json = script_json(bounds)
        p = int(padding)
        self.options_json = script_json({"paddingTopLeft": [p, p + int(pad_top)], "paddingBottomRight": [p, p],
                                         "maxZoom": int(max_zoom), "animate": False})


class DataLayer(JSCSSMixin, Layer):
    """An overlay drawn in the browser by a factory of gd-layers.js from one JSON payload.

    The page runs ``factory(d, map)`` with ``d`` the payload; folium adds
    the layer it returns to the map, and to the layer control when
    ``control``.

    Parameters
    ----------
    factory
        ``"L.gdCoverageLayer"`` or ``"L.gdSitingLayer"``.
    data_json
        The payload, script-safe (:func:`geo.web.maps.encoding.script_json`),
        every string in it HTML-escaped.
    name
        Label in the layer control (escaped).
    control
        Whether the layer control lists it.
    css
        Folium asset entries of the stylesheets it needs (:func:`gd_stylesheet`).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function(map) {
                var d = {{ this.data_json }};
                return {{ this.factory }}(d, map);
            })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, factory: str, data_json: str, name: str | None = None, *, control: bool = True,
                 css: list[tuple[str, str]] | None = None):
        super().__init__(name=name, overlay=True, control=control, show=True)
        self._name = factory.replace("L.gd", "Gd")  # the page's variable: gd_coverage_layer_<id>, ...
        self.factory = factory
        self.data_json = data_json
        self.default_css = list(css or [])


def base_map(*, lang: str, basemap: str, asset_base: str) -> folium.Map:
    """An empty map: offline Leaflet, the project's scripts, one basemap, the controls and the popup labels.

    Quarter zoom steps let the whole province fill a phone-wide map, which
    whole steps would leave at a quarter of the width. The asset lists are
    set per map: folium's class-level defaults point at CDNs and must not be
    mutated for other maps in the same process. The basemap is chosen on
    the page, not in the map: over Amap's GCJ-02 tiles the map needs
    another CRS, which Leaflet cannot change on a live map.

    Parameters
    ----------
    lang
        ``"zh"`` or ``"en"``.
    basemap
        One of :data:`BASEMAPS` (another name gives the first).
    asset_base
        URL of the vendored folder, ending in "/" (see :data:`VENDOR_URL`).
    """
    if basemap not in BASEMAPS:
        basemap = BASEMAPS[0]
    tiles = _TILES[basemap]
    crs = "GdGcj02" if tiles["crs"] == "gcj02" else "EPSG3857"
    m = folium.Map(location=[23.2, 113.3], zoom_start=7, tiles=None, zoom_snap=0.25, crs=crs,
                   max_zoom=tiles["max_zoom"])
    m.default_js = [("leaflet", asset_base + LEAFLET + "leaflet.js"), ("gd_map", asset_base + GD + "gd-map.js"),
                    ("gd_layers", asset_base + GD + "gd-layers.js")]
    m.default_css = [("leaflet_css", asset_base + LEAFLET + "leaflet.css"), gd_stylesheet(asset_base, "map")]
    layer = folium.TileLayer(tiles["url"], attr=tiles["attr"], name=html.escape(t(f"basemap_{basemap}", lang)),
                             subdomains=tiles["subdomains"], max_zoom=tiles["max_zoom"], control=False)
    layer.add_to(m)
    MapSetup(lang).add_to(m)
    Controls(lang, layer).add_to(m)
    return m
