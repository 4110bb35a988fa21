"""Streamlit entry point; its home page is the map.

Run with ``streamlit run app.py``. This script sets up the page and the
navigation, then runs the chosen page: the map defined here, the planners' coverage analysis
(``pages/3_覆盖_Coverage.py``) and siting (``pages/4_选址_Siting.py``), or
``pages/1_数据_Data.py``. Pages only arrange widgets; the registry, the
filtering and the map come from ``geo``. The worker finder is not a
Streamlit page: it is ``/finder`` (``geo/web/worker_page.py``), linked from
the navigation and the home page.
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo.core import i18n, schema
from geo.core.i18n import t
from geo.core.text import md_text
from geo.registry.reports import NotServingRule, apply_not_serving
from geo.web.api import STATIONS_URL
from geo.web.maps.base import layer_control
from geo.web.maps.boundaries import load_map_boundaries
from geo.web.maps.records import station_bounds
from geo.web.maps.registry import registry_base_map, registry_layers
from geo.web.views.stations import chosen_stations, sample_count
from pages.common import shell

st.set_page_config(page_title="广东职工服务地图 / Guangdong Worker Service Map",
                   page_icon="🗺️", layout="wide")


def map_page() -> None:
    """The home page: filters in the sidebar, the map in the main area."""
    lang = shell.language_switch()
    st.title(t("app_title", lang))
    # Phones hide the sidebar: the finder needs a way in from the first screen. It is the
    # worker page /finder (geo/web/worker_page.py), outside Streamlit, so a plain link.
    st.markdown(f'<a class="gd-finder-link" href="/finder{"?lang=en" if lang == "en" else ""}" target="_self">'
                f'📍 {t("finder_link", lang)}</a>', unsafe_allow_html=True)

    store, _, stations = shell.open_registry(lang)

    with st.sidebar:
        st.header(t("filters", lang))
        # Widget keys carry the language so option labels are redrawn in it;
        # the choices themselves are kept under stable names across a switch.
        kinds = st.multiselect(t("filter_kinds", lang), list(schema.KINDS),
                               default=st.session_state.get("map_kinds", list(schema.KINDS)),
                               format_func=lambda c: i18n.kind_label(c, lang), key=f"map_kinds:{lang}",
                               placeholder=t("choose_placeholder", lang))
        statuses = st.multiselect(t("filter_status", lang), list(schema.STATUSES),
                                  default=st.session_state.get("map_statuses",
                                                               [s for s in schema.STATUSES if s != "closed"]),
                                  format_func=lambda c: i18n.status_label(c, lang), key=f"map_statuses:{lang}",
                                  placeholder=t("choose_placeholder", lang))
        st.session_state.update(map_kinds=kinds, map_statuses=statuses)
        # Workers' reports (geo/registry/reports.py): off unless ticked, and the rule is then stated.
        rule = NotServingRule() if st.checkbox(t("map_not_serving", lang), key="map_not_serving") else None
    basemap = shell.basemap_picker(lang)

    shown = apply_not_serving(chosen_stations(stations, kinds=kinds, statuses=statuses), rule, store=store)

    # One line for what the page is and how much of it is shown, so the map
    # starts high enough to fill a laptop screen.
    st.markdown(f"{t('app_subtitle', lang)} · **{t('shown_count', lang, shown=len(shown), total=len(stations))}**")
    if rule is not None:
        st.caption(md_text(rule.describe(), lang))
    if sample_count(shown):
        st.warning(t("sample_banner", lang), icon="⚠️")
    if not len(shown):
        st.info(t("no_stations", lang))

    # The base map depends on the whole registry only, so a filter change
    # swaps the station layers and keeps the user's view; the browser gets
    # positions only and fetches a station's details when its popup opens.
    base = registry_base_map(lang=lang, basemap=basemap, boundaries=load_map_boundaries(),
                             bounds=station_bounds(stations))
    st_folium(base, feature_group_to_add=registry_layers(shown, lang=lang, details_url=STATIONS_URL),
              layer_control=layer_control(), returned_objects=[], height=560, use_container_width=True,
              key="registry_map")


# The worker finder is its own small web app at /finder (no Streamlit page of that path):
# every page's navigation links to it.
st.sidebar.markdown('<a href="/finder" target="_self">📍 找站 Finder</a>', unsafe_allow_html=True)
st.navigation([
    st.Page(map_page, title="地图 Map", icon=":material/map:", default=True),
    # Planners' coverage analysis, at /coverage.
    st.Page("pages/3_覆盖_Coverage.py", title="覆盖 Coverage", icon=":material/hexagon:", url_path="coverage"),
    # Where to build next, at /siting.
    st.Page("pages/4_选址_Siting.py", title="选址 Siting", icon=":material/add_location_alt:", url_path="siting"),
    # A short ASCII path (/data) like the others, not the file name percent-encoded.
    st.Page("pages/1_数据_Data.py", title="数据 Data", icon=":material/table_view:", url_path="data"),
]).run()
