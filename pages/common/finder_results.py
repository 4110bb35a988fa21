"""The finder's answer: the map, then the result cards with their map-app links.

Side by side on a wide screen, stacked on a phone. Only arranges widgets:
the map is :func:`geo.web.maps.finder.finder_map`, a card
:func:`geo.web.views.finder.result_html`, the links
:func:`geo.routing.handoff.handoff_urls`.
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo.core.i18n import t
from geo.routing import handoff
from geo.web.maps.boundaries import load_map_boundaries
from geo.web.maps.finder import finder_map
from geo.web.views import finder
from pages.common import finder_state, shell

_MAP_HEIGHT = 440


def results_section(state: finder.FinderState, results: list[dict], chosen: dict | None, lang: str) -> None:
    """The map (a tap moves the origin) beside the list of ``results``, ``chosen`` highlighted."""
    col_map, col_list = st.columns([3, 2], gap="medium")
    origin = (state.lon, state.lat) if state.has_origin else None
    with col_map:
        basemap = shell.basemap_picker(lang)  # last in the sidebar, under the page's own controls
        m = finder_map(origin, results, chosen["id"] if chosen else None, lang=lang, basemap=basemap,
                       boundaries=load_map_boundaries())
        out = st_folium(m, key="finder_map", height=_MAP_HEIGHT, use_container_width=True,
                        returned_objects=["last_clicked"])
        click = (out or {}).get("last_clicked")
        if click and (click.get("lng"), click.get("lat")) != st.session_state.get("fd_click"):
            # The component repeats its last click on every run; only a new one moves the origin.
            st.session_state.fd_click = (click.get("lng"), click.get("lat"))
            finder_state.put(finder_state.state().with_origin(click["lng"], click["lat"], t("fd_place_map", lang)))
            st.rerun()

    with col_list, st.container(key="fd_results"):
        st.subheader(t("fd_results", lang), anchor=False)
        if not state.has_origin:
            st.info(t("fd_no_origin", lang) + " " + t("fd_intro", lang))
        elif not results:
            st.info(t("fd_no_results", lang))
        if any(r.get("is_sample") for r in results):
            st.warning(t("sample_banner", lang), icon="⚠️")
        for n, r in enumerate(results, 1):
            _card(state, r, n, chosen is not None and r["id"] == chosen["id"], origin, lang)
        if results:
            st.caption(t("fd_share", lang))


def _card(state: finder.FinderState, r: dict, n: int, selected: bool, origin, lang: str) -> None:
    with st.container(border=True, key=f"fd_result_{n}"):
        st.html(finder.result_html(r, lang, number=n, selected=selected))
        urls = handoff.handoff_urls(r["lon"], r["lat"], r["name"], state.mode, origin,
                                    state.place or t("fd_start", lang))
        # Three links fit one row on a 390 px phone; the route button gets its own.
        with st.container(horizontal=True, key=f"fd_links_{n}"):
            st.link_button(t("fd_amap", lang), urls["amap"])
            st.link_button(t("fd_baidu", lang), urls["baidu"])
            st.link_button(t("fd_apple", lang), urls["apple"])
        if not selected:
            st.button(t("fd_show_route" if not finder.is_estimate(r) else "fd_show_on_map", lang),
                      key=f"fd_sel_{n}", on_click=finder_state.select, args=(r["id"],), icon=":material/route:",
                      width="stretch")
