"""Planner controls shared by the coverage and siting pages: region, standard, grid and demand.

Both planner pages ask the same questions first (which region, which
service standard, which grid and demand weighting), so the widgets and the
cached readers behind them live here once. Each page passes its own key
prefix (``cv`` for coverage, ``si`` for siting): a page's choices are kept
in session state under that prefix and survive a language switch and a
visit to another page, without one page's choices changing the other's.
Like the pages, this module only arranges widgets and caches what ``geo``
returns.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from geo import settings
from geo.core import i18n
from geo.web.views.coverage.choices import (POINT_CRS, WEIGHTINGS, city_choices, default_standard, default_value,
                                            district_choices, province_adcode, region_for)
from geo.web.views.coverage.uploads import (census_path, read_census, read_points_upload, read_population_upload,
                                            upload_columns)
from geo.core.i18n import t
from geo.routing.network import MODES
from geo.core.regions import Region
from geo.core.text import md_error

#: File types a demand-point or candidate upload may be.
UPLOAD_TYPES = ["csv", "xlsx", "geojson", "json", "gpkg", "zip"]

_CELL_KM2 = {7: "5.2", 8: "0.74", 9: "0.11"}


# --------------------------------------------------------------------------
# Choices that survive a language switch
# --------------------------------------------------------------------------

def kept(name: str, default):
    """The value last chosen under ``name`` (``default`` on a first visit)."""
    return st.session_state.get(name, default)


def keep(name: str, value):
    """Remember ``value`` under ``name`` and return it.

    Widget keys carry the language, so their labels are redrawn in it; the
    choice itself is kept under a stable name, and seeds the new widget.
    """
    st.session_state[name] = value
    return value


def index(options: list, value, default: int = 0) -> int:
    """Position of ``value`` in ``options``, else ``default``."""
    return options.index(value) if value in options else default


def digest(data: bytes) -> str:
    """A short stable key for uploaded bytes."""
    return hashlib.sha1(data).hexdigest()


# --------------------------------------------------------------------------
# Cached inputs
# --------------------------------------------------------------------------

@st.cache_data(show_spinner=False)
def _cities() -> list[tuple[str, str]]:
    return city_choices()


@st.cache_data(show_spinner=False)
def _districts(city: str) -> list[tuple[str, str]]:
    return district_choices(city)


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


# --------------------------------------------------------------------------
# Widgets (call inside ``with st.sidebar:``)
# --------------------------------------------------------------------------

def region_controls(prefix: str, lang: str) -> Region:
    """City (or the province) and an optional district; returns the region picked.

    Shenzhen is the first choice: a city is quick to compute, the province
    takes seconds.
    """
    province = province_adcode()
    st.header(t("cv_region", lang), anchor=False)
    city_names = dict(_cities())
    city_options = [province, *city_names]
    city = keep(f"{prefix}_city", st.selectbox(
        t("cv_city", lang), city_options, index=index(city_options, kept(f"{prefix}_city", "440300")),
        format_func=lambda c: t("cv_province", lang) if c == province else city_names[c],
        key=f"{prefix}_city:{lang}"))
    district_names = dict(_districts(city)) if city != province else {}
    district_options = [None, *district_names]
    district = keep(f"{prefix}_district", st.selectbox(
        t("cv_district", lang), district_options, index=index(district_options, kept(f"{prefix}_district", None)),
        format_func=lambda c: t("cv_whole_city", lang) if c is None else district_names[c],
        disabled=not district_names, key=f"{prefix}_district:{lang}:{city}"))
    return region_for(None if city == province else city, district)


def standard_controls(prefix: str, lang: str, kind: str) -> tuple[str, str, float]:
    """Travel mode, unit (``min`` or ``m``) and threshold of the service standard for ``kind``.

    One standard is remembered per kind: picking another kind prefills its
    own default from ``settings.COVERAGE_STANDARDS``.
    """
    std_default = default_standard(kind)
    modes = list(MODES)
    mode = keep(f"{prefix}_mode:{kind}", st.selectbox(
        t("cv_mode", lang), modes, index=index(modes, kept(f"{prefix}_mode:{kind}", std_default["mode"])),
        format_func=lambda m: t(f"fd_mode_{m}", lang), key=f"{prefix}_mode:{lang}:{kind}"))
    units = ["min", "m"]
    unit = keep(f"{prefix}_unit:{kind}", st.radio(
        t("cv_unit", lang), units, index=index(units, kept(f"{prefix}_unit:{kind}", std_default["unit"])),
        format_func=lambda u: t(f"cv_unit_choice_{u}", lang), horizontal=True, key=f"{prefix}_unit:{lang}:{kind}"))
    value = keep(f"{prefix}_value:{kind}:{unit}", st.number_input(
        t("cv_minutes" if unit == "min" else "cv_meters", lang), min_value=1.0,
        max_value=240.0 if unit == "min" else 100_000.0,
        value=float(kept(f"{prefix}_value:{kind}:{unit}", default_value(kind, unit))),
        step=5.0 if unit == "min" else 100.0, format="%g", key=f"{prefix}_value:{lang}:{kind}:{unit}"))
    return mode, unit, value


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
        upload = st.file_uploader(t("cv_points_upload", lang), type=UPLOAD_TYPES, key=f"{prefix}_points_file")
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
