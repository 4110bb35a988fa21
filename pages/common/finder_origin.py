"""The finder's "where am I": the browser's location, a place or station search, typed coordinates.

Only arranges widgets. The location button is a Streamlit v2 component
whose script and style are ``static/gd/finder-locate.js`` and ``.css``;
the search is :func:`geo.routing.geocode.search_places`, coordinates
:func:`geo.routing.geocode.parse_coordinates` (through
:func:`pages.common.finder_state.take_coordinates`).
"""
from __future__ import annotations

import geopandas as gpd
import streamlit as st

from geo.core.i18n import t
from geo.core.text import md_error, md_escape
from geo.routing.geocode import looks_like_coordinates, search_places
from pages.common import assets, finder_state

def origin_section(stations: gpd.GeoDataFrame, lang: str) -> None:
    """The location button beside the search box, then what the search found."""
    # Registered on every run, as Streamlit's registry belongs to the running server.
    locate = st.components.v2.component("gd_geolocate", js=assets.static_text("finder-locate.js"),
                                        css=assets.static_text("finder-locate.css"))
    st.caption(t("fd_intro", lang))
    # Side by side on a wide screen, stacked on a phone.
    col_locate, col_search = st.columns([1, 2], vertical_alignment="center")
    with col_locate:
        located = locate(key="fd_geolocate", on_position_change=lambda: None, on_error_change=lambda: None,
                         data={"label": t("fd_locate", lang), "locating": t("fd_locating", lang),
                               "insecure": t("fd_locate_insecure", lang),
                               "unsupported": t("fd_locate_unsupported", lang)})
    with col_search:
        # The label stays for screen readers; the placeholder says it on screen.
        query = st.text_input(t("fd_search", lang), key="fd_query", label_visibility="collapsed",
                              placeholder=t("fd_search_placeholder", lang))
    if located.position:
        pos = located.position
        # Routed from the exact fix; the shareable URL gets it rounded (see FinderState.with_origin).
        finder_state.put(finder_state.state().with_origin(
            pos["lon"], pos["lat"], t("fd_place_gps", lang, acc=round(float(pos.get("accuracy") or 0))),
            located=True))
    elif located.error:
        reason = located.error.get("message") if isinstance(located.error, dict) else located.error
        st.warning(t("fd_locate_failed", lang, error=md_escape(reason or "")))

    if st.session_state.pop("fd_coord_swapped", False):
        st.info(t("fd_coords_swapped", lang))
    if query.strip() and looks_like_coordinates(query):
        st.pills(t("fd_coords_crs", lang), finder_state.CRS_CHOICES, required=True, key="fd_crs",
                 default=finder_state.CRS_CHOICES[0], format_func=lambda c: t(f"fd_crs_{c}", lang))
        st.button(t("fd_coords_use", lang), type="primary", on_click=finder_state.take_coordinates, args=(query,))
        error = st.session_state.pop("fd_coord_error", None)
        if error is not None:
            st.error(md_error(error, lang))
    elif query.strip():
        _places(search_places(query, stations), query, lang)


def _places(places: list[dict], query: str, lang: str) -> None:
    if not places:
        st.info(t("fd_search_none", lang, q=md_escape(query.strip())))
        return
    st.caption(t("fd_search_pick", lang))
    with st.container(horizontal=True):
        for i, place in enumerate(places):
            # Labels render Markdown: a station's name is escaped to show as written.
            st.button(f"{md_escape(place['label'])} · {t('fd_place_' + place['kind'], lang)}",
                      key=f"fd_place_{i}", on_click=finder_state.take_place,
                      args=(place["lon"], place["lat"], place["label"]))
