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
cached readers are shared with the siting page (``pages/common/controls.py``).
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.core import i18n, schema
from geo.web.views.coverage.choices import standard_text
from geo.web.views.coverage.downloads import EXPORTS, export_bytes, export_name
from geo.web.views.coverage.layers import map_layers
from geo.web.views.coverage.tables import district_table, figures_html, gap_table, headline
from geo.analysis.coverage import coverage
from geo.analysis.demand import DemandSource
from geo.analysis.standard import service_standard
from geo.web.views.finder import network_dir_hint
from geo.core.i18n import t
from geo.web.maps.boundaries import load_map_boundaries
from geo.web.maps.coverage import coverage_map
from geo.core.text import md_error, md_escape, md_text
from pages.common import controls, shell

_MAP_HEIGHT = 540
_kept, _keep = controls.kept, controls.keep

_PAGE_CSS = """<style>
/* Desktop first: the figures take one row and the map starts high enough to be seen without scrolling. */
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
.cv-figs { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.cv-fig { flex: 1 1 auto; border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.35rem 0.75rem; }
.cv-fig-label { font-size: 0.85rem; color: #555; }
.cv-fig-value { font-size: 1.25rem; font-weight: 600; font-variant-numeric: tabular-nums; line-height: 1.35; }
.cv-fig-est { background: #fff8e1; border-color: #c9a227; }
.st-key-cv_downloads [data-testid^="stBaseButton-"] { min-height: 44px; }
@media (max-width: 640px) {
  .cv-fig { flex-basis: 40%; }
  .cv-fig-value { font-size: 1.1rem; }
}
</style>"""


# --------------------------------------------------------------------------
# Cached results (the inputs' readers are shared: pages/common/controls.py)
# --------------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner=False)
def _coverage(region: str, kinds: tuple, mode: str, minutes: float | None, meters: float | None, res: int,
              demand_key: tuple, registry_stamp: tuple, graph_stamp: tuple | None,
              _stations, _graph, _population, _points):
    # Everything that changes the answer is in the key; the underscored
    # arguments are what those keys stand for.
    return coverage(region, kinds, mode=mode, minutes=minutes, meters=meters, res=res,
                    network=_graph if _graph is not None else False,
                    demand=DemandSource(population=_population, points=_points), stations=_stations)


@st.cache_resource(max_entries=4, show_spinner=False)
def _layers(run_key: tuple, _result):
    return map_layers(_result)


@st.cache_data(max_entries=4, show_spinner=False)
def _export(run_key: tuple, what: str, _result) -> bytes:
    return export_bytes(_result, what)


lang = shell.language_switch()
st.html(_PAGE_CSS)
st.title(t("cv_title", lang), anchor=False)
st.caption(t("cv_intro", lang))

_, registry_stamp, stations = shell.open_registry(lang)

# --------------------------------------------------------------------------
# Controls (sidebar: beside the results on a desk, behind the menu on a phone)
# --------------------------------------------------------------------------
with st.sidebar:
    region = controls.region_controls("cv", lang)
    st.header(t("cv_standard", lang), anchor=False)
    kinds = _keep("cv_kinds", st.multiselect(
        t("cv_kinds", lang), list(schema.KINDS), default=_kept("cv_kinds", list(settings.COVERAGE_DEFAULT_KINDS)),
        format_func=lambda c: i18n.kind_label(c, lang), key=f"cv_kinds:{lang}"))
    first = kinds[0] if kinds else settings.COVERAGE_DEFAULT_KINDS[0]
    mode, unit, value = controls.standard_controls("cv", lang, first)
    st.caption(t("cv_standard_default", lang,
                 standard=standard_text(service_standard(first), lang)) + " " + t("cv_statuses_note", lang))
    res, demand = controls.grid_controls("cv", lang)
population, points, demand_key, input_notes = demand.population, demand.points, demand.key, demand.notes

if not kinds:
    st.info(t("cv_no_kinds", lang))
    st.stop()

# --------------------------------------------------------------------------
# The run (cached: a rerun with the same inputs returns at once)
# --------------------------------------------------------------------------
standard = service_standard(kinds, mode=mode, minutes=value if unit == "min" else None,
                            meters=value if unit == "m" else None)
graph_stamp = shell.graph_stamp(standard.mode)
graph, network_error = None, None
try:
    graph = shell.network(standard.mode, graph_stamp)
except ValueError as exc:  # an old or broken file: estimates, and the admin is told why
    network_error = exc
run_key = (region.adcode, tuple(kinds), standard.mode, standard.minutes, standard.meters, int(res), demand_key,
           registry_stamp, graph_stamp if graph is not None else None)
try:
    with st.spinner(t("cv_running", lang, region=region.name)):
        result = _coverage(*run_key, stations, graph, population, points)
        layers = _layers(run_key, result)
except Exception as exc:  # a bad input must be explained, not shown as a traceback
    st.error(t("cv_error", lang, error=md_error(exc, lang)))
    st.stop()
figures = headline(result)

# --------------------------------------------------------------------------
# Headline: region, standard, figures, and what kind of numbers they are
# --------------------------------------------------------------------------
mode_label = t(f"fd_mode_{standard.mode}", lang)
st.markdown(f"**{md_escape(region.name)}** · "
            + md_escape(t("cv_standard_line", lang, standard=standard_text(standard, lang))))
if network_error is not None:
    st.error(t("fd_network_error", lang, error=md_error(network_error, lang)))
if graph is None:
    st.warning(t("cv_estimate_banner", lang, mode=mode_label, factor=settings.DETOUR_FACTOR), icon="⚠️")
    st.caption(t("fd_network_help", lang, dir=network_dir_hint()))
elif figures["estimated_cells"]:
    st.warning(t("cv_partial_network", lang, n=f"{figures['estimated_cells']:,}", total=f"{figures['cells']:,}",
                 mode=mode_label, km=f"{settings.SNAP_MAX_M / 1000:g}", factor=settings.DETOUR_FACTOR), icon="⚠️")
else:
    st.caption(t("cv_network_used", lang, mode=mode_label))
if figures["unreachable_cells"]:
    st.warning(t("cv_unreachable_banner", lang, n=f"{figures['unreachable_cells']:,}"), icon="⚠️")
if figures["sample"]:
    st.warning(t("sample_banner", lang), icon="⚠️")

st.html(figures_html(figures, lang))

# --------------------------------------------------------------------------
# Map and downloads
# --------------------------------------------------------------------------
basemap = shell.basemap_picker(lang)  # last in the sidebar, under the page's own controls
m = coverage_map(layers, lang=lang, basemap=basemap, boundaries=load_map_boundaries())
st_folium(m, returned_objects=[], height=_MAP_HEIGHT, use_container_width=True, key="coverage_map")
st.caption(t("cv_map_caption", lang, what=t("cv_what_time" if standard.unit == "min" else "cv_what_distance", lang)))

st.subheader(t("cv_downloads", lang), anchor=False)
with st.container(horizontal=True, key="cv_downloads"):
    for what, (_, _, mime) in EXPORTS.items():
        # A callable: the file is only made when someone clicks.
        st.download_button(t(f"cv_dl_{what}", lang), data=lambda w=what: _export(run_key, w, result),
                           file_name=export_name(result, what), mime=mime, on_click="ignore",
                           key=f"cv_dl_{what}", icon=":material/download:",
                           help=t("cv_dl_cells_help", lang, n=f"{figures['cells']:,}") if what.startswith("cells")
                           else None)

# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------





st.subheader(t("cv_districts", lang), anchor=False)
table, specs = district_table(result, lang)
st.dataframe(table, hide_index=True, column_config=shell.column_config(specs), key="cv_district_table",
             height="auto" if len(table) <= 12 else 420)
st.caption(t("cv_districts_help", lang))

if figures["gaps"]:
    gaps, gap_specs = gap_table(result, lang)
    with st.expander(t("cv_gaps", lang, n=len(gaps), total=figures["gaps"])):
        st.dataframe(gaps, hide_index=True, column_config=shell.column_config(gap_specs))

with st.expander(t("cv_notes", lang)):
    for note in [*input_notes, *result.notes]:
        st.caption(md_text(note, lang))
    st.caption(t("cv_timings", lang, seconds=f"{result.timings.get('total_s', 0):.2f}",
                 grid=f"{result.timings.get('grid_s', 0):.2f}"))
