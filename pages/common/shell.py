"""Widgets and cached resources every page shares.

This folder sits inside ``pages/`` but below it, so Streamlit never takes
it for a page (only top-level files of ``pages/`` are). Like the pages, it
only arranges widgets and caches what ``geo`` returns.
"""
from __future__ import annotations


import streamlit as st

from geo.core import i18n
from geo.registry.export import redact_private
from geo.registry.live import LiveStations
from geo.core.i18n import t
from geo.web.maps.base import BASEMAPS, basemap_crs
from geo.registry.store import open_store
from geo.registry.store.base import RegistryStore
from geo.core.text import md_error
from pages.common import assets


def language_switch() -> str:
    """The sidebar language switch; returns ``"zh"`` or ``"en"``.

    The choice lives in session state (it survives page changes) and in the
    URL as ``?lang=`` (it survives reloads and shared links); the URL wins
    on a fresh session. Each page calls this itself, after navigation: a
    widget drawn before ``st.navigation`` changes identity between a
    server's very first run and the next and would lose the first click.
    """
    if "ui_lang" not in st.session_state:
        st.session_state.ui_lang = i18n.normalize_lang(st.query_params.get("lang"))
    # ui_lang is the truth; the radio's own state is re-seeded from it on
    # every run, because a page switch gives the radio a new identity.
    st.session_state.lang_radio = st.session_state.ui_lang
    st.sidebar.radio(t("language"), i18n.LANGS, format_func=i18n.LANG_NAMES.get, horizontal=True,
                     key="lang_radio", on_change=_take_language)
    lang = st.session_state.ui_lang
    if st.query_params.get("lang") != lang:
        st.query_params["lang"] = lang
    return lang


def planner_heading(title_key: str, intro_key: str, style: str, lang: str) -> tuple:
    """A planner page's top: the planner pages' stylesheet and its own (``static/gd/<style>``), title and introduction.

    Returns
    -------
    (tuple, geopandas.GeoDataFrame)
        The registry's stamp and its public stations (see :func:`open_registry`).
    """
    assets.page_style("page-planner.css")
    assets.page_style(style)
    st.title(t(title_key, lang), anchor=False)
    st.caption(t(intro_key, lang))
    _, stamp, public = open_registry(lang)
    return stamp, public


def basemap_picker(lang: str) -> str:
    """The basemap choice in the sidebar, shared by every page's map; returns its code."""
    current = st.session_state.get("map_basemap", BASEMAPS[0])
    choice = st.sidebar.selectbox(t("basemap", lang), BASEMAPS, index=BASEMAPS.index(current),
                                  format_func=lambda c: t(f"basemap_{c}", lang), key=f"map_basemap:{lang}")
    st.session_state.map_basemap = choice
    st.sidebar.caption(t("offline_note", lang))
    if basemap_crs(choice) == "gcj02":
        st.sidebar.caption(t("basemap_amap_note", lang))
    return choice


def _take_language() -> None:
    st.session_state.ui_lang = st.session_state.lang_radio


@st.cache_resource
def store() -> RegistryStore:
    """The registry; a fresh install shows the bundled sample (示例数据)."""
    return open_store(seed_sample=True)


def registry_stamp(registry: RegistryStore) -> tuple:
    """Where the registry is and its change stamp: changes whenever anything is saved, by any server."""
    return registry.location, registry.change_stamp()


@st.cache_resource(max_entries=4, show_spinner=False)
def _live(location: str, registry_id: int, _registry: RegistryStore) -> LiveStations:
    return LiveStations(_registry)  # one per store object: a reopened store gets a new copy


@st.cache_resource(max_entries=4, show_spinner=False)
def _stations(_registry: RegistryStore, stamp: tuple, public: bool):
    # ``stamp`` is the cache key: an edit or import on the Data page changes
    # it, and every page asks again. The process's live copy is patched from
    # the stations that edit changed, not reloaded whole (docs/scale.md).
    stations = _live(_registry.location, id(_registry), _registry).frame()
    return redact_private(stations) if public else stations


def stations(registry: RegistryStore, public: bool = True):
    """All stations of the registry, brought up to date after a change by any server.

    Public pages get them redacted: a station marked non-public shows no
    phone, notes or exact address there, as in public exports.
    """
    # One frame shared by every session of the process, handed out as a
    # shallow copy: copy-on-write (pandas 3, pinned) copies a column only
    # when a caller writes to it, so no caller can change the shared frame.
    # st.cache_data unpickled a whole copy on every rerun instead: 106–132 ms
    # for 20,000 stations, 1.2–1.3 s for 186,100 (bench/RESULTS.md).
    return _stations(registry, registry_stamp(registry), public).copy(deep=False)


def open_registry(lang: str, public: bool = True):
    """The registry, its stamp and its stations; stops the page with a message if unreadable.

    Parameters
    ----------
    lang : str
    public : bool
        Redact non-public stations (every page but the editor's).

    Returns
    -------
    (RegistryStore, tuple, geopandas.GeoDataFrame)
    """
    try:
        registry = store()
        return registry, registry_stamp(registry), stations(registry, public)
    except Exception as exc:  # an unreadable registry must say so, not show a traceback
        st.error(t("store_error", lang, error=md_error(exc, lang)))
        st.stop()


def column_config(specs: dict[str, dict]) -> dict:
    """Streamlit column settings from ``{column: {"type", "label", "format"}}`` specs made in ``geo``."""
    config = {}
    for col, spec in specs.items():
        if spec["type"] == "text":
            config[col] = st.column_config.TextColumn(spec["label"])
        else:
            config[col] = st.column_config.NumberColumn(spec["label"], format=spec.get("format"))
    return config
