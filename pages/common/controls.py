"""Planner controls shared by the coverage and siting pages: region and service standard.

Both planner pages ask the same questions first (which region, which
service standard, which grid and demand weighting), so the widgets and the
cached readers behind them live here once (the grid and demand in
:mod:`pages.common.demand`). Each page passes its own key
prefix (``cv`` for coverage, ``si`` for siting): a page's choices are kept
in session state under that prefix and survive a language switch and a
visit to another page, without one page's choices changing the other's.
Like the pages, this module only arranges widgets and caches what ``geo``
returns.
"""
from __future__ import annotations

import hashlib

import streamlit as st

from geo.core.i18n import t
from geo.core.regions import Region
from geo.routing.network import MODES
from geo.web.views.coverage.choices import (city_choices, default_standard, default_value, district_choices,
                                            province_adcode, region_for)


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
