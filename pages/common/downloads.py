"""The Data page's download tab: choose layers, a city and statuses; download the stations.

Only arranges widgets: the files are :func:`geo.registry.export.export_bytes`,
made when a button is clicked; which files :mod:`geo.web.views.downloads`.
"""
from __future__ import annotations

import geopandas as gpd
import streamlit as st

from geo.core import i18n, schema
from geo.core.i18n import t
from geo.core.regions import load_boundaries
from geo.registry.export import export_bytes
from geo.web.views.downloads import DOWNLOADS, file_name
from geo.web.views.stations import chosen_stations


@st.cache_data(max_entries=16, show_spinner=False)
def _export(_stations, key: tuple, fmt: str, crs: str, lang: str = "zh") -> bytes:
    # XLSX is for people: its column headers are in the page's language.
    return export_bytes(_stations, fmt, crs=crs, lang=lang)


@st.cache_data(show_spinner=False)
def _cities() -> list[tuple[str, str]]:
    cities = load_boundaries("city")
    return list(zip(cities["adcode"], cities["name"]))


def downloads_tab(stations: gpd.GeoDataFrame, stamp: tuple, lang: str) -> None:
    """Filters and one button per file; anyone may download (private fields are left out by the export)."""
    st.caption(t("downloads_help", lang))
    d1, d2, d3 = st.columns(3)
    kinds = d1.multiselect(t("filter_kinds", lang), list(schema.KINDS), default=list(schema.KINDS),
                           format_func=lambda c: i18n.kind_label(c, lang), key=f"dl_kinds:{lang}",
                           placeholder=t("choose_placeholder", lang))
    city_names = dict(_cities())
    region = d2.selectbox(t("filter_city", lang), [None, *city_names],
                          format_func=lambda c: t("filter_city_all", lang) if c is None else city_names[c],
                          key=f"dl_region:{lang}")
    statuses = d3.multiselect(t("filter_status", lang), list(schema.STATUSES), default=list(schema.STATUSES),
                              format_func=lambda c: i18n.status_label(c, lang), key=f"dl_statuses:{lang}",
                              placeholder=t("choose_placeholder", lang))
    chosen = chosen_stations(stations, kinds=kinds, statuses=statuses, region=region)
    st.markdown(f"**{t('download_count', lang, n=len(chosen))}**")
    key = (stamp, tuple(kinds), region, tuple(statuses))
    for col, download in zip(st.columns(len(DOWNLOADS)), DOWNLOADS):
        # A callable: the file is only made when someone clicks.
        col.download_button(t(download.label, lang),
                            data=lambda d=download: _export(chosen, key, d.fmt, d.crs, lang),
                            file_name=file_name(download, region=region), mime=download.mime,
                            disabled=not len(chosen), key=f"dl:{download.label}", on_click="ignore")
