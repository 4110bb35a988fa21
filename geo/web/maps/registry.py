"""The registry map: one clustered layer per kind of station, a legend and lazy popups.

:func:`registry_map` turns the stations GeoDataFrame into a
:class:`folium.Map`; the home page keeps :func:`registry_base_map` and
swaps only :func:`registry_layers` when the filters change. A
province-sized registry ships only positions and two flags per station;
markers exist only for what is in view (``L.gdStations`` of
``static/gd/gd-map.js``), and a popup is built when it is opened.
"""
from __future__ import annotations

import base64
import html
from datetime import datetime
from zoneinfo import ZoneInfo

import folium
import geopandas as gpd
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from geo import settings
from geo.core import schema
from geo.core.i18n import kind_label, t
from geo.web.maps.base import (GUANGDONG_BOUNDS, MARKERCLUSTER, SUPERCLUSTER, VENDOR_URL, FitBounds, base_map,
                               layer_control)
from geo.web.maps.boundaries import add_boundaries
from geo.web.maps.encoding import script_json
from geo.web.maps.legend import Legend, legend_html, legend_item
from geo.web.maps.pins import pin_html
from geo.web.maps.records import KindPoints, kind_points, station_bounds


class StationCluster(JSCSSMixin, Layer):
    """One kind of station, clustered in the browser by Supercluster (``L.gdStations``).

    Only positions and two flags per station travel as base64 arrays
    (9 bytes a station); markers exist only for what is in view. Popups
    come from ``rows`` (inline records) or, when ``details_url`` is given,
    from the app's API when opened, so a province-sized registry does not
    ship every address and phone number to every visitor.

    Parameters
    ----------
    kind
        Layer code.
    points
        The layer's stations (:func:`geo.web.maps.records.kind_points`).
    label
        Its name in the layer control (escaped).
    lang
        ``"zh"`` or ``"en"``.
    asset_base
        URL of the vendored folder, ending in "/".
    details_url
        Base URL of the popup API, or None for inline records.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.gdStations({{ this.data_json }});
            {%- if this.show %}
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
            {%- endif %}
        {% endmacro %}
    """)

    def __init__(self, kind: str, points: KindPoints, label: str, *, lang: str, asset_base: str,
                 details_url: str | None = None):
        super().__init__(name=label, overlay=True, control=False, show=True)
        self._name = "GdStationCluster"
        self.n = len(points.ids)
        data: dict = {
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
        self.data_json = script_json(data)
        self.default_js = [("supercluster", asset_base + SUPERCLUSTER + "supercluster.min.js")]
        # Only markercluster's stylesheet: the cluster bubbles keep its look.
        self.default_css = [
            ("markerclustercss", asset_base + MARKERCLUSTER + "MarkerCluster.css"),
            ("markerclusterdefaultcss", asset_base + MARKERCLUSTER + "MarkerCluster.Default.css"),
        ]


def registry_legend_html(lang: str = "zh") -> str:
    """The registry map's legend as an HTML fragment, in ``lang``.

    The legend names each layer next to its pin, and explains the faded pins
    of stations that are not open, the dashed ring of sample stations and
    the numbered cluster bubbles.
    """
    first = next(iter(schema.KINDS))
    items = [legend_item(kind_label(code, lang), pin_html(code)) for code in schema.KINDS]
    items += [legend_item(t("legend_inactive", lang), pin_html(first, inactive=True), note=True),
              legend_item(t("legend_sample", lang), pin_html(first, sample=True), note=True),
              legend_item(t("legend_cluster", lang), note=True)]
    return legend_html(t("legend_title", lang), items)


def registry_base_map(*, lang: str = "zh", basemap: str = "osm", boundaries: gpd.GeoDataFrame | None = None,
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
    boundaries
        Outlines to draw (see :func:`geo.web.maps.boundaries.load_map_boundaries`);
        a ``level`` column of ``"province"`` draws that row heavier.
    bounds : [[south, west], [north, east]], optional
        The view to fit; default the province.
    asset_base
        URL of the folder holding the vendored files, ending in "/". The
        default suits streamlit-folium inside the app.
    """
    m = base_map(lang=lang, basemap=basemap, asset_base=asset_base)
    add_boundaries(m, boundaries, lang=lang)
    Legend(registry_legend_html(lang)).add_to(m)
    FitBounds(bounds or GUANGDONG_BOUNDS).add_to(m)
    return m


def registry_layers(stations: gpd.GeoDataFrame, *, lang: str = "zh", at: datetime | None = None,
                    details_url: str | None = None, asset_base: str = VENDOR_URL) -> list[folium.FeatureGroup]:
    """One toggleable, client-clustered layer per kind of station.

    Parameters
    ----------
    stations
        Canonical station columns (:data:`geo.core.schema.FIELD_NAMES`) and point
        geometry in WGS-84. Stations without usable coordinates are left out.
    lang : {"zh", "en"}
    at
        Moment at which "open now" is judged; default now in
        :data:`geo.settings.TIMEZONE`.
    details_url
        Base URL of the popup API (:mod:`geo.web.api`), ending in "/". Given,
        the browser gets only positions and fetches a station's details
        when its popup opens; otherwise every popup record travels with the
        map.
    asset_base
        As for :func:`registry_base_map`.

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
    for code, points in kind_points(stations, at, inline=details_url is None).items():
        label = (f'<span class="gd-swatch">{pin_html(code)}</span>'
                 f"{html.escape(kind_label(code, lang))} ({len(points.ids)})")
        group = folium.FeatureGroup(name=label, overlay=True, control=True, show=True)
        StationCluster(code, points, label, lang=lang, asset_base=asset_base, details_url=details_url).add_to(group)
        groups.append(group)
    return groups


def registry_map(stations: gpd.GeoDataFrame, *, lang: str = "zh", at: datetime | None = None,
                 basemap: str = "osm", boundaries: gpd.GeoDataFrame | None = None,
                 asset_base: str = VENDOR_URL, details_url: str | None = None) -> folium.Map:
    """Build the whole map of the registry's layers in one :class:`folium.Map`.

    :func:`registry_base_map` with :func:`registry_layers` and a layer
    control, framed on the stations. Parameters as there.

    Returns
    -------
    folium.Map
        One clustered overlay per layer that has stations, a legend, a
        layer control, scale bar, locate-me and full-screen buttons.
        Nothing is loaded from a CDN.
    """
    m = registry_base_map(lang=lang, basemap=basemap, boundaries=boundaries, bounds=station_bounds(stations),
                          asset_base=asset_base)
    for group in registry_layers(stations, lang=lang, at=at, details_url=details_url, asset_base=asset_base):
        group.add_to(m)
    layer_control().add_to(m)
    return m
