"""The coverage map (pages/3_覆盖_Coverage.py): travel bands, gaps and serving stations.

The layers arrive aggregated and simplified
(:func:`geo.web.views.coverage.layers.map_layers`), their geometry encoded once;
each becomes one JSON payload drawn by ``L.gdCoverageLayer`` of
``static/gd/gd-layers.js``. The siting map draws the same bands, outlines,
gaps and stations under its new sites, with the functions here.
"""
from __future__ import annotations

import html
import math
import folium
import geopandas as gpd

from geo import settings
from geo.core.i18n import kind_label, t
from geo.web.maps.base import VENDOR_URL, DataLayer, FitBounds, base_map, gd_stylesheet, layer_control
from geo.web.maps.boundaries import add_boundaries
from geo.web.maps.encoding import layer_json, script_json
from geo.web.maps.legend import Legend, legend_group, legend_html, legend_item
from geo.web.maps.pins import kind_style
from geo.web.views.coverage.bands import band_label
from geo.web.views.coverage.choices import standard_text
from geo.web.views.coverage.layers import MapLayers

#: Outline of the gaps: dark blue, dashed, so it reads over every band colour
#: (also in static/gd/gd-coverage.css, for the legend).
GAP_COLOUR = "#08306b"

_FACTORY = "L.gdCoverageLayer"


def num_text(value: float | None, digits: int = 1) -> str:
    """A figure as the tooltips show it (``1,234.5``); "" when missing or not finite."""
    return f"{value:,.{digits}f}" if value is not None and math.isfinite(value) else ""


def coverage_stylesheet(asset_base: str) -> tuple[str, str]:
    """The folium asset entry of ``static/gd/gd-coverage.css``, which the bands and their legend need."""
    return gd_stylesheet(asset_base, "coverage")


def method_rows(layers: MapLayers, lang: str = "zh") -> list[str]:
    """The legend's lines on the standard and how travel was computed (``估算 / estimate`` when any cell was)."""
    esc = html.escape
    rows = [f'<div class="cv-std">{esc(t("cv_legend_standard", lang, standard=standard_text(layers.standard, lang)))}'
            "</div>"]
    estimated = layers.method_cells.get("estimate", 0)
    if layers.method != "network" or estimated:
        rows.append(f'<div class="cv-std"><span class="cv-est">{esc(settings.ESTIMATE_LABEL)}</span> '
                    f'{esc(t("cv_legend_estimated", lang, n=f"{estimated:,}"))}</div>')
    else:
        rows.append(f'<div class="cv-std">{esc(t("cv_legend_network", lang))}</div>')
    return rows


def gap_item(text: str) -> str:
    """The legend's line for the dashed gap outlines."""
    return legend_item(text, '<span class="cv-sw cv-gap"></span>')


def station_items(layers: MapLayers, lang: str = "zh") -> list[str]:
    """The legend's lines for the stations' dots, one per kind shown."""
    kinds = dict.fromkeys(layers.stations["kind"].tolist()) if len(layers.stations) else []
    return [legend_item(kind_label(code, lang), f'<span class="cv-dot" style="background:{kind_style(code)["color"]}">'
                                                "</span>") for code in kinds]


def band_swatch(colour: str) -> str:
    """A legend swatch of a band's fill colour."""
    return f'<span class="cv-sw" style="background:{colour}"></span>'


def coverage_legend_html(layers: MapLayers, lang: str = "zh") -> str:
    """The coverage map's legend: bands with text labels and shares, gaps, stations, standard and method."""
    unit = layers.standard.unit
    stats = layers.band_stats.set_index("band")
    share_col = "share_demand" if layers.demand_unit != "km²" else "share_area"
    items = []
    groups = {True: t("cv_legend_within", lang), False: t("cv_legend_beyond", lang)}
    current = None
    for band in layers.bands:
        n = int(stats.at[band.index, "cells"]) if band.index in stats.index else 0
        if not band.reachable and n == 0:
            continue
        if band.covered != current:
            current = band.covered
            items.append(legend_group(groups[current]))
        share = float(stats.at[band.index, share_col]) if n else 0.0
        items.append(legend_item(band_label(band, unit, lang), band_swatch(band.colour), share=f"{100 * share:.1f}%"))
    shown = len(layers.gap_polygons)
    items.append(gap_item(t("cv_legend_gaps", lang, n=shown) if shown == layers.gaps_total
                          else t("cv_legend_gaps_top", lang, n=shown, total=layers.gaps_total)))
    items += station_items(layers, lang)
    foot = t("cv_legend_share_demand" if share_col == "share_demand" else "cv_legend_share_area", lang)
    if layers.display_resolution != layers.resolution:
        foot += " " + t("cv_legend_coarse", lang, res=layers.display_resolution, of=layers.resolution)
    title = t("cv_legend_title_time" if unit == "min" else "cv_legend_title_distance", lang)
    return legend_html(title, items, rows=method_rows(layers, lang), foot=foot)


def band_layer(layers: MapLayers, *, lang: str, asset_base: str) -> DataLayer:
    """The travel bands of a coverage result (SVG paths of class ``cv-band``, a tooltip each).

    Parameters
    ----------
    layers
        From :func:`geo.web.views.coverage.layers.map_layers`.
    lang
        Language of the labels.
    asset_base
        URL of the vendored folder (the bands bring gd-coverage.css).
    """
    esc = html.escape
    names = {code: esc(name) for code, name in layers.district_names.items()}
    with_demand = layers.demand_unit != "km²"
    bp = layers.band_polygons
    band_props = [{"b": int(b), "d": str(d), "a": num_text(a), "n": f"{int(n):,}",
                   **({"m": num_text(dm, 0)} if with_demand else {})}
                  for b, d, a, n, dm in zip(bp["band"], bp["district"], bp["area_km2"], bp["cells"], bp["demand"])]
    bands = {
        "type": "bands", "p": layers.precision, "colours": [b.colour for b in layers.bands],
        "labels": [esc(band_label(b, layers.standard.unit, lang)) for b in layers.bands],
        "names": names, "cells": esc(t("cv_tip_cells", lang)),
        "demand": esc(t("cv_tip_demand", lang, unit=layers.demand_unit)),
    }
    # Geometry is spliced in as text: it was encoded once and is cached with the layers.
    return DataLayer(_FACTORY, layer_json(bands, band_props, layers.geometry_texts("band_polygons")),
                     esc(t("cv_layer_bands", lang)), css=[coverage_stylesheet(asset_base)])


def outline_layer(layers: MapLayers, *, lang: str) -> DataLayer | None:
    """The region's district outlines, or None when there are none."""
    if not len(layers.outlines):
        return None
    return DataLayer(_FACTORY, layer_json({"type": "outlines", "p": layers.precision}, [{}] * len(layers.outlines),
                                          layers.geometry_texts("outlines")),
                     html.escape(t("cv_layer_districts", lang)))


def gap_layer(gp: gpd.GeoDataFrame, texts: list[str], *, precision: float, names: dict, demand_unit: str,
              lang: str, name: str) -> DataLayer | None:
    """Dashed gap outlines (class ``cv-gap``) from a gap frame and its encoded geometry; None when empty.

    Parameters
    ----------
    gp
        Gaps: ``gap``, ``district``, ``area_km2``, ``cells``,
        ``station_distance_m``, ``demand``.
    texts
        Their encoded geometry (:func:`geo.web.maps.encoding.encode_geometries`).
    precision
        The coordinate step of ``texts``.
    names
        District adcode -> name.
    demand_unit
        ``"km²"`` when the demand is the area (then no demand is shown).
    lang
        Language of the tooltips.
    name
        Label in the layer control.
    """
    if not len(gp):
        return None
    esc = html.escape
    with_demand = demand_unit != "km²"
    gap_props = [{"g": int(g), "d": str(d), "a": num_text(a), "n": f"{int(n):,}",
                  "s": num_text(sd / 1000.0, 2) if math.isfinite(sd) else "",
                  **({"m": num_text(dm, 0)} if with_demand else {})}
                 for g, d, a, n, sd, dm in zip(gp["gap"], gp["district"], gp["area_km2"], gp["cells"],
                                               gp["station_distance_m"].astype(float), gp["demand"])]
    gaps = {"type": "gaps", "p": precision, "colour": GAP_COLOUR,
            "names": {code: esc(v) for code, v in names.items()},
            "cells": esc(t("cv_tip_cells", lang)), "demand": esc(t("cv_tip_demand", lang, unit=demand_unit)),
            "gap": esc(t("cv_tip_gap", lang)), "nearest": esc(t("cv_tip_nearest", lang))}
    return DataLayer(_FACTORY, layer_json(gaps, gap_props, texts), esc(name))


def stations_layer(layers: MapLayers, *, lang: str) -> DataLayer | None:
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
    stations = {"type": "stations", "rows": rows, "radius": radius,
                "colours": [kind_style(k)["color"] for k in kinds],
                "kinds": [esc(kind_label(k, lang)) for k in kinds], "sample": esc(t("sample_tag", lang))}
    return DataLayer(_FACTORY, script_json(stations), esc(t("cv_layer_stations", lang)))


def add_layers(m: folium.Map, layers: list[DataLayer | None]) -> None:
    """Add to ``m`` the layers that are not None, in order."""
    for layer in layers:
        if layer is not None:
            layer.add_to(m)


def coverage_map(layers: MapLayers, *, lang: str = "zh", basemap: str = "osm",
                 boundaries: gpd.GeoDataFrame | None = None, asset_base: str = VENDOR_URL) -> folium.Map:
    """The planner's coverage map: travel bands, gaps and serving stations.

    Parameters
    ----------
    layers
        From :func:`geo.web.views.coverage.layers.map_layers`: polygons already dissolved
        per district and band and simplified, so the page stays light even
        for the whole province.
    lang : {"zh", "en"}
        Language of the legend, layer names and tooltips.
    basemap : {"osm", "carto", "amap"}
        Basemap shown first.
    boundaries
        Province and city outlines (see :func:`geo.web.maps.boundaries.load_map_boundaries`);
        the region's district outlines are added.
    asset_base
        URL of the vendored Leaflet files (see :func:`geo.web.maps.registry.registry_map`).

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
    m = base_map(lang=lang, basemap=basemap, asset_base=asset_base)
    band_layer(layers, lang=lang, asset_base=asset_base).add_to(m)
    add_boundaries(m, boundaries, lang=lang)
    gaps = layers.geometry_texts("gap_polygons") if len(layers.gap_polygons) else []
    add_layers(m, [outline_layer(layers, lang=lang),
                   gap_layer(layers.gap_polygons, gaps, precision=layers.precision, names=layers.district_names,
                             demand_unit=layers.demand_unit, lang=lang, name=t("cv_layer_gaps", lang)),
                   stations_layer(layers, lang=lang)])
    Legend(coverage_legend_html(layers, lang)).add_to(m)
    layer_control().add_to(m)
    FitBounds(layers.bounds, max_zoom=15).add_to(m)
    return m
