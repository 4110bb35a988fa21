"""Coverage page: where workers are beyond reach of a station, district by district.

Run through ``app.py`` (its navigation, at ``/coverage``). Built for planners
at a desk first: the controls sit in the sidebar (behind the menu button on
a phone), the headline figures, the travel-band map, the downloads and the
district table in the main area. The page only arranges widgets; the
analysis is :func:`geo.analysis.coverage.coverage`, and the map layers, tables and
exports come from :mod:`geo.web.views.coverage` and :func:`geo.web.maps.coverage.coverage_map`.

Caching: a result is kept per region, kinds, standard, resolution,
weighting inputs, registry stamp and network stamp (``st.cache_resource``,
so the large result is shared, not copied); the map layers per result; the
exports per result and format, made only when a button is clicked. The
engine itself keeps grids per region and resolution, so a new threshold or
kind reuses the cells. The region, standard and demand controls and their
cached readers are shared with the siting page (``pages/common/controls.py``,
``demand.py``);
what is shown of a run is ``pages/common/coverage_result.py``, the page's
style ``static/gd/page-coverage.css``.
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.core import i18n, schema
from geo.web.views.coverage.choices import standard_text
from geo.web.views.coverage.layers import map_layers
from geo.web.views.coverage.tables import headline
from geo.analysis.coverage import coverage
from geo.analysis.demand import DemandSource
from geo.analysis.standard import service_standard
from geo.core.i18n import t
from geo.web.maps.boundaries import load_map_boundaries
from geo.web.maps.coverage import coverage_map
from geo.core.text import md_error
from geo.registry.reports import NotServingRule
from pages.common import controls, coverage_result, shell
from pages.common.demand import grid_controls
from pages.common.network import method_choice, road_network

_MAP_HEIGHT = 540
_kept, _keep = controls.kept, controls.keep


# --------------------------------------------------------------------------
# Cached results (the inputs' readers are shared: pages/common/controls.py)
# --------------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner=False)
def _coverage(region: str, kinds: tuple, mode: str, minutes: float | None, meters: float | None, res: int,
              demand_key: tuple, registry_stamp: tuple, graph_stamp: tuple | None, method: str,
              not_serving: NotServingRule | None, _stations, _graph, _population, _points):
    # Everything that changes the answer is in the key; the underscored
    # arguments are what those keys stand for. The reports rule reads the
    # open reports of the registry the page shows (its stamp is in the key).
    return coverage(region, kinds, mode=mode, minutes=minutes, meters=meters, res=res,
                    network=_graph if _graph is not None else False, method=method,
                    demand=DemandSource(population=_population, points=_points), stations=_stations,
                    not_serving=not_serving,
                    registry=settings.registry_location() if not_serving is not None else None)


@st.cache_resource(max_entries=4, show_spinner=False)
def _layers(run_key: tuple, _result):
    return map_layers(_result)


lang = shell.language_switch()
registry_stamp, stations = shell.planner_heading("cv_title", "cv_intro", "page-coverage.css", lang)

# --------------------------------------------------------------------------
# Controls (sidebar: beside the results on a desk, behind the menu on a phone)
# --------------------------------------------------------------------------
with st.sidebar:
    region = controls.region_controls("cv", lang)
    st.header(t("cv_standard", lang), anchor=False)
    kinds = _keep("cv_kinds", st.multiselect(
        t("cv_kinds", lang), list(schema.KINDS), default=_kept("cv_kinds", list(settings.COVERAGE_DEFAULT_KINDS)),
        format_func=lambda c: i18n.kind_label(c, lang), key=f"cv_kinds:{lang}",
        placeholder=t("choose_placeholder", lang)))
    first = kinds[0] if kinds else settings.COVERAGE_DEFAULT_KINDS[0]
    mode, unit, value = controls.standard_controls("cv", lang, first)
    method = method_choice("cv", lang, unit=unit)
    st.caption(t("cv_standard_default", lang,
                 standard=standard_text(service_standard(first), lang)) + " " + t("cv_statuses_note", lang))
    res, demand = grid_controls("cv", lang)
    # Workers' reports (geo/registry/reports.py), as on the home map: off unless ticked; the rule is then
    # part of the standard every figure and export states.
    rule = NotServingRule() if st.checkbox(t("map_not_serving", lang), key="cv_not_serving",
                                           help=NotServingRule().describe()) else None
population, points, demand_key, input_notes = demand.population, demand.points, demand.key, demand.notes

if not kinds:
    st.info(t("cv_no_kinds", lang))
    st.stop()

# --------------------------------------------------------------------------
# The run (cached: a rerun with the same inputs returns at once)
# --------------------------------------------------------------------------
standard = service_standard(kinds, mode=mode, minutes=value if unit == "min" else None,
                            meters=value if unit == "m" else None, radius=method == "radius")
network = road_network(standard.mode)
graph, network_error = (network.graph, network.error) if method == "auto" else (None, None)
run_key = (region.adcode, tuple(kinds), standard.mode, standard.minutes, standard.meters, int(res), demand_key,
           registry_stamp, network.stamp if graph is not None else None, method, rule)
try:
    with st.spinner(t("cv_running", lang, region=region.name)):
        result = _coverage(*run_key, stations, graph, population, points)
        layers = _layers(run_key, result)
except Exception as exc:  # a bad input must be explained, not shown as a traceback
    st.error(t("cv_error", lang, error=md_error(exc, lang)))
    st.stop()
figures = headline(result)
coverage_result.headline(figures, region, result.standard, routed=graph is not None, network_error=network_error,
                         chosen=method, lang=lang)

# --------------------------------------------------------------------------
# Map and downloads
# --------------------------------------------------------------------------
basemap = shell.basemap_picker(lang)  # last in the sidebar, under the page's own controls
m = coverage_map(layers, lang=lang, basemap=basemap, boundaries=load_map_boundaries())
st_folium(m, returned_objects=[], height=_MAP_HEIGHT, use_container_width=True, key="coverage_map")
st.caption(t("cv_map_caption", lang, what=t("cv_what_time" if standard.unit == "min" else "cv_what_distance", lang)))
coverage_result.downloads(result, figures, run_key, lang)
coverage_result.tables(result, figures, input_notes, lang)
