"""Grid and demand controls shared by the coverage and siting pages.

The H3 resolution, and what a cell's demand is: its area, the census or an
uploaded county population, or uploaded demand points. Like
:mod:`pages.common.controls`, choices are kept under the page's key prefix;
reading uploads is :mod:`geo.web.views.coverage.uploads`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from geo import settings
from geo.core import i18n
from geo.core.i18n import t
from geo.core.text import md_error
from geo.web.views.coverage.choices import POINT_CRS, WEIGHTINGS
from geo.web.views.coverage.uploads import (census_path, read_census, read_points_upload, read_population_upload,
                                            upload_columns)
from geo.web.views.importing import UPLOAD_TYPES
from pages.common.controls import digest, index, keep, kept

# Area of a cell at each resolution, for the slider's labels.
_CELL_KM2 = {7: "5.2", 8: "0.74", 9: "0.11"}


@st.cache_data(max_entries=2, show_spinner=False)
def _census(stamp: tuple):
    return read_census()


@st.cache_data(max_entries=4, show_spinner=False)
def _population_upload(key: str, _data: bytes, filename: str):
    return read_population_upload(_data, filename)


@st.cache_data(max_entries=4, show_spinner=False)
def _columns(key: str, _data: bytes, filename: str) -> list[str]:
    return upload_columns(_data, filename)


@st.cache_data(max_entries=4, show_spinner=False)
def _points_upload(key: str, _data: bytes, filename: str, weight: str | None, crs: str):
    return read_points_upload(_data, filename, weight, crs)


@dataclass
class Demand:
    """The demand weighting chosen on a planner page.

    Attributes
    ----------
    weighting : str
        ``area``, ``population`` or ``points`` (as chosen; an upload still
        awaited or unreadable falls back to area, and ``key`` says so).
    population : pandas.Series or None
        County population (adcode -> people) for population weighting.
    points : pandas.DataFrame or None
        Demand points (``lon``, ``lat``, ``weight``) for point weighting.
    key : tuple
        What the demand is, as a cache key: ``("area",)`` or the source
        and a digest of its bytes.
    notes : list of str
        Bilingual notes on what was assumed reading the points.
    """

    weighting: str = "area"
    population: pd.Series | None = None
    points: pd.DataFrame | None = None
    key: tuple = ("area",)
    notes: list[str] = field(default_factory=list)


def grid_controls(prefix: str, lang: str) -> tuple[int, Demand]:
    """H3 resolution and demand weighting (area, census or uploaded population, uploaded points)."""
    st.header(t("cv_grid", lang), anchor=False)
    resolutions = list(settings.COVERAGE_RESOLUTIONS)
    res = keep(f"{prefix}_res", st.select_slider(
        t("cv_res", lang), resolutions, value=kept(f"{prefix}_res", settings.COVERAGE_DEFAULT_RES),
        format_func=lambda r: t("cv_res_option", lang, res=r, km2=_CELL_KM2.get(r, "?")),
        help=t("cv_res_help", lang), key=f"{prefix}_res:{lang}"))
    weightings = list(WEIGHTINGS)
    weighting = keep(f"{prefix}_weighting", st.radio(
        t("cv_weighting", lang), weightings, index=index(weightings, kept(f"{prefix}_weighting", "area")),
        format_func=lambda w: t(f"cv_weighting_{w}", lang), key=f"{prefix}_weighting:{lang}"))
    demand = Demand(weighting=weighting)

    if weighting == "population":
        census = census_path()
        sources = ["census", "upload"] if census is not None else ["upload"]
        source = "upload"
        if census is not None:
            source = keep(f"{prefix}_pop_source", st.radio(
                t("cv_population_source", lang), sources, index=index(sources, kept(f"{prefix}_pop_source", "census")),
                format_func=lambda s: t("cv_population_census" if s == "census" else "cv_population_upload_choice",
                                        lang), key=f"{prefix}_pop_source:{lang}"))
        else:
            st.caption(t("cv_census_missing", lang))
        if source == "census":
            stat = census.stat()
            demand.population = _census((str(census), stat.st_mtime_ns, stat.st_size))
            demand.key = ("population", "census", stat.st_mtime_ns, stat.st_size)
        else:
            upload = st.file_uploader(t("cv_population_upload", lang), type=["csv", "xlsx"], key=f"{prefix}_pop_file")
            if upload is None:
                st.info(t("cv_population_wait", lang))
            else:
                data = upload.getvalue()
                try:
                    demand.population = _population_upload(digest(data), data, upload.name)
                    demand.key = ("population", "upload", digest(data))
                except Exception as exc:  # any unreadable table: say why, and go on by area
                    st.error(t("cv_input_error", lang, error=md_error(exc, lang)))
    elif weighting == "points":
        upload = st.file_uploader(t("cv_points_upload", lang), type=list(UPLOAD_TYPES), key=f"{prefix}_points_file")
        crs_options = list(POINT_CRS)
        crs = keep(f"{prefix}_points_crs", st.selectbox(
            t("cv_points_crs", lang), crs_options, index=index(crs_options, kept(f"{prefix}_points_crs", "auto")),
            format_func=lambda c: i18n.crs_label(c, lang), key=f"{prefix}_points_crs:{lang}"))
        if upload is None:
            st.info(t("cv_points_wait", lang))
        else:
            data = upload.getvalue()
            key = digest(data)
            try:
                columns = [None, *_columns(key, data, upload.name)]
                weight = st.selectbox(t("cv_points_weight", lang), columns,
                                      format_func=lambda c: t("cv_points_weight_auto", lang) if c is None else c,
                                      key=f"{prefix}_points_weight:{lang}:{key}")
                demand.points, demand.notes = _points_upload(key, data, upload.name, weight, crs)
                demand.key = ("points", key, weight, crs)
            except Exception as exc:  # any unreadable file: say why, and go on by area
                st.error(t("cv_input_error", lang, error=md_error(exc, lang)))
    return res, demand
