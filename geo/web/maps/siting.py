"""The siting map (pages/4_选址_Siting.py): what new sites would add to the existing coverage.

The baseline's travel bands, outlines and stations are drawn as on the
coverage map (:mod:`geo.web.maps.coverage`); over them, the cells the new
sites newly cover and the numbered sites, drawn by ``L.gdSitingLayer`` of
``static/gd/gd-layers.js``.
"""
from __future__ import annotations

import html
import math
import folium
import geopandas as gpd

from geo.core.i18n import t
from geo.web.maps.base import VENDOR_URL, DataLayer, FitBounds, base_map, gd_stylesheet, layer_control
from geo.web.maps.boundaries import add_boundaries
from geo.web.maps.coverage import (add_layers, band_layer, band_swatch, gap_item, gap_layer, method_rows, num_text,
                                   outline_layer, station_items, stations_layer)
from geo.web.maps.encoding import layer_json, script_json
from geo.web.maps.legend import Legend, legend_group, legend_html, legend_item
from geo.web.maps.records import cell_text
from geo.web.views.coverage.bands import band_label
from geo.web.views.coverage.layers import MapLayers
from geo.web.views.siting import SitingLayers

#: Fill of the cells the new sites newly cover: a blue, apart from the
#: yellow-to-red travel bands under it for every common colour-vision type
#: (also in static/gd/gd-siting.css, for the legend).
NEW_COVER_COLOUR = "#1f78b4"

_FACTORY = "L.gdSitingLayer"


def siting_legend_html(layers: MapLayers, overlay: SitingLayers, lang: str = "zh") -> str:
    """The siting map's legend: existing coverage bands, what is newly covered, the sites, the gaps left."""
    stats = layers.band_stats.set_index("band")
    items = [legend_group(t("si_legend_before", lang))]
    for band in layers.bands:
        n = int(stats.at[band.index, "cells"]) if band.index in stats.index else 0
        if not band.reachable and n == 0:
            continue
        items.append(legend_item(band_label(band, layers.standard.unit, lang), band_swatch(band.colour)))
    items += [legend_group(t("si_legend_title", lang)),
              legend_item(t("si_legend_new", lang), '<span class="cv-sw st-new"></span>',
                          share=t("si_fig_gain_value", lang, points=f"{overlay.gain_points:.1f}")),
              legend_item(t("si_legend_sites", lang), '<span class="st-dot">1</span>')]
    shown = len(overlay.gaps)
    items.append(gap_item(t("si_legend_gaps", lang, n=shown) if shown == overlay.gaps_total
                          else t("si_legend_gaps_top", lang, n=shown, total=overlay.gaps_total)))
    items += station_items(layers, lang)
    return legend_html(t("si_legend_title", lang), items, rows=method_rows(layers, lang))


def _new_cover_layer(overlay: SitingLayers, names: dict, *, lang: str, css: list) -> DataLayer | None:
    """The cells the new sites newly cover, in blue (class ``st-new``, a tooltip each); None when none."""
    nc = overlay.new_cover
    if not len(nc):
        return None
    esc = html.escape
    with_demand = overlay.demand_unit != "km²"
    props = [{"d": str(d), "a": num_text(a), "n": f"{int(n):,}", **({"m": num_text(dm, 0)} if with_demand else {})}
             for d, a, n, dm in zip(nc["district"], nc["area_km2"], nc["cells"], nc["demand"])]
    head = {"type": "new", "p": overlay.precision, "colour": NEW_COVER_COLOUR, "names": names,
            "label": esc(t("si_tip_new", lang)), "cells": esc(t("cv_tip_cells", lang)),
            "demand": esc(t("cv_tip_demand", lang, unit=overlay.demand_unit))}
    return DataLayer(_FACTORY, layer_json(head, props, overlay.geometry_texts("new_cover")),
                     esc(t("si_layer_new", lang)), css=css)


def _sites_layer(overlay: SitingLayers, *, lang: str, css: list) -> DataLayer:
    """The proposed sites as markers numbered 1..N (class ``st-site``), with what each adds."""
    esc = html.escape
    sites = []
    unit = esc(overlay.demand_unit)
    for r in overlay.sites.itertuples(index=False):
        lon, lat = float(r.lon), float(r.lat)
        if not (math.isfinite(lon) and math.isfinite(lat)):
            continue
        added = float(r.added_demand) if r.added_demand is not None else float("nan")
        sites.append({"i": int(r.rank), "la": round(lat, 7), "lo": round(lon, 7),
                      "t": esc(t("si_tip_site", lang, rank=int(r.rank))),
                      "a": f"+{num_text(added)} {unit}" if math.isfinite(added) else "",
                      "d": esc(cell_text(r.district)), "n": esc(cell_text(r.name)),
                      "xy": f"{lon:.5f}, {lat:.5f}"})
    data = {"type": "sites", "sites": sites, "added": esc(t("si_tip_added", lang)),
            "district": esc(t("si_tip_district", lang)), "candidate": esc(t("si_tip_candidate", lang)),
            "position": esc(t("si_tip_position", lang))}
    return DataLayer(_FACTORY, script_json(data), esc(t("si_layer_sites", lang)), css=css)


def siting_map(layers: MapLayers, overlay: SitingLayers, *, lang: str = "zh", basemap: str = "osm",
               boundaries: gpd.GeoDataFrame | None = None, asset_base: str = VENDOR_URL) -> folium.Map:
    """The siting page's map: what new sites would add to the existing coverage.

    Parameters
    ----------
    layers
        The baseline's coverage layers (:func:`geo.web.views.coverage.layers.map_layers`
        of the problem's baseline), drawn underneath as on the coverage page
        (its gaps are left out: they are the gaps before the new sites).
    overlay
        From :func:`geo.web.views.siting.siting_layers`: newly covered cells
        dissolved per district, the largest remaining gaps, the sites.
    lang : {"zh", "en"}
    basemap : {"osm", "carto", "amap"}
    boundaries
        Province and city outlines (see :func:`geo.web.maps.boundaries.load_map_boundaries`).
    asset_base
        URL of the vendored Leaflet files (see :func:`geo.web.maps.registry.registry_map`).

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
    css = [gd_stylesheet(asset_base, "siting")]
    m = base_map(lang=lang, basemap=basemap, asset_base=asset_base)
    band_layer(layers, lang=lang, asset_base=asset_base).add_to(m)
    names = {code: html.escape(name) for code, name in layers.district_names.items()}
    add_layers(m, [_new_cover_layer(overlay, names, lang=lang, css=css)])
    add_boundaries(m, boundaries, lang=lang)
    add_layers(m, [outline_layer(layers, lang=lang),
                   gap_layer(overlay.gaps, overlay.geometry_texts("gaps"), precision=overlay.precision,
                             names=layers.district_names, demand_unit=overlay.demand_unit, lang=lang,
                             name=t("si_layer_gaps", lang)),
                   stations_layer(layers, lang=lang),
                   _sites_layer(overlay, lang=lang, css=css)])
    Legend(siting_legend_html(layers, overlay, lang)).add_to(m)
    layer_control().add_to(m)
    FitBounds(layers.bounds, max_zoom=15).add_to(m)
    return m
