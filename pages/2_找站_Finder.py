"""Finder page: where am I, the nearest open stations by road, and a hand-off to a map app.

Run through ``app.py`` (its navigation, at ``/finder``). Built for a phone
first: the filters fold into an expander, the map comes before the results,
tap targets are at least 44 px (``static/gd/page-finder.css``). The page
only arranges its parts (``pages/common/finder_origin.py``,
``finder_results.py``); place search, routing, the map and the links are
computed in ``geo``.

Its state (origin, filters, chosen station) lives in the URL, so a result
can be shared and reopened: ``?lon=114.0579&lat=22.5431&kind=rest_station``
``&mode=ebike&by=time&open=1&fac=toilet&sel=RS-...`` (``pages/common/finder_state.py``).
"""
from __future__ import annotations

import streamlit as st

from geo import settings
from geo.core import i18n, schema
from geo.core.i18n import t
from geo.core.text import md_error, md_text
from geo.routing.network import MODES
from geo.web.views import finder
from pages.common import assets, finder_state, shell
from pages.common.finder_origin import origin_section
from pages.common.finder_results import results_section
from pages.common.network import road_network

take = finder_state.take


@st.cache_resource(max_entries=2 * len(MODES), show_spinner=False)
def _index(mode: str, graph_stamp: tuple | None, registry_stamp: tuple, _graph, _stations):
    return finder.build_index(_graph, _stations)


lang = shell.language_switch()
finder_state.start()
assets.page_style("page-finder.css")
st.title(t("finder_title", lang), anchor=False)

_, registry_stamp, stations = shell.open_registry(lang)

with st.container(key="fd_where"):
    origin_section(stations, lang)

# --------------------------------------------------------------------------
# Filters, folded: on a phone the map and the results matter most
# --------------------------------------------------------------------------
state = finder_state.state()
# The label summarises the filters, so it changes with a tap inside, and the
# browser then draws a new expander: its open state is tracked and handed back.
with st.expander(t("fd_filters", lang, summary=finder.filters_summary(state, lang)), icon=":material/tune:",
                 key="fd_filters_exp", on_change="rerun", expanded=bool(st.session_state.get("fd_filters_exp"))), \
        st.container(key="fd_filters_box"):
    # Widgets are re-seeded from the state on every run, so they show the
    # state after a page change or a shared link; callbacks write it back.
    st.session_state.update(fd_kind=state.kind, fd_mode=state.mode, fd_by=state.by,
                            fd_open=state.open_now, fd_fac=list(state.facilities))
    st.pills(t("fd_kind", lang), finder.KIND_CHOICES, required=True, key="fd_kind",
             format_func=lambda c: finder.kind_choice_label(c, lang), on_change=take, args=("kind", "fd_kind"))
    st.pills(t("fd_mode", lang), MODES, required=True, key="fd_mode",
             format_func=lambda c: finder.mode_label(c, lang), on_change=take, args=("mode", "fd_mode"))
    st.pills(t("fd_by", lang), finder.BY_CHOICES, required=True, key="fd_by",
             format_func=lambda c: t(f"fd_by_{c}", lang), on_change=take, args=("by", "fd_by"))
    st.toggle(t("fd_open_now", lang), key="fd_open", on_change=take, args=("open_now", "fd_open"))
    st.pills(t("fd_facilities", lang), list(schema.FACILITIES), selection_mode="multi", key="fd_fac",
             format_func=lambda c: i18n.facility_label(c, lang, icon=True),
             on_change=take, args=("facilities", "fd_fac", tuple))

# --------------------------------------------------------------------------
# Query
# --------------------------------------------------------------------------
state = finder_state.state()
network = road_network(state.mode)
graph, network_error = network.graph, network.error
index = _index(state.mode, network.stamp, registry_stamp, graph, stations)
results = finder.find_stations(state, stations, graph, index)

if state.has_origin:
    st.html(finder.status_html(state, lang, routed=bool(results) and not finder.is_estimate(results[0])))
if network_error is not None:
    st.error(t("fd_network_error", lang, error=md_error(network_error, lang)))
if graph is None:
    st.warning(t("fd_estimate_banner", lang, mode=finder.mode_label(state.mode, lang),
                 factor=settings.DETOUR_FACTOR), icon="⚠️")
    st.caption(t("fd_network_help", lang, dir=finder.network_dir_hint()))
elif results and finder.is_estimate(results[0]):
    # A network is loaded but does not reach the origin (another city, or a partial extract).
    st.warning(f"{settings.ESTIMATE_LABEL}: {md_text(results[0].get('note', ''), lang)}", icon="⚠️")

results_section(state, results, finder.pick_selected(results, state.selected), lang)
finder_state.sync_url()
