"""The finder page's state: one :class:`geo.web.views.finder.FinderState` in the session, mirrored in the URL.

Widgets change it through the callbacks here; the page reads it with
:func:`state` and writes the URL back with :func:`sync_url` at the end of
each run, so a result can be shared and reopened.
"""
from __future__ import annotations

import streamlit as st

from geo.core.i18n import t
from geo.routing.geocode import CoordinateError, parse_coordinates
from geo.web.views import finder

#: Coordinate systems a typed position may be in, first the default (Amap's, as most phones copy).
CRS_CHOICES: tuple[str, ...] = ("gcj02", "bd09", "wgs84")


def start() -> None:
    """Seed the state from the URL on a session's first run: a shared or reopened link is the state."""
    if "fd_state" not in st.session_state:
        put(finder.state_from_query(st.query_params))


def state() -> finder.FinderState:
    """The finder's state now."""
    return st.session_state.fd_state


def put(new: finder.FinderState) -> None:
    """Replace the finder's state."""
    st.session_state.fd_state = new


def take(field: str, key: str, convert=lambda v: v) -> None:
    """Callback: set the state's ``field`` from the widget ``key`` (through ``convert``)."""
    put(state().update(**{field: convert(st.session_state[key])}))


def take_place(lon: float, lat: float, label: str) -> None:
    """Callback: a place picked from the search becomes the origin; the search box empties."""
    put(state().with_origin(lon, lat, label))
    st.session_state.fd_query = ""


def take_coordinates(text: str) -> None:
    """Callback: typed coordinates become the origin, or their error is kept for the page to show."""
    try:
        point = parse_coordinates(text, st.session_state.get("fd_crs") or CRS_CHOICES[0])
    except CoordinateError as exc:
        st.session_state.fd_coord_error = exc
        return
    st.session_state.fd_coord_swapped = point.swapped
    take_place(point.lon, point.lat, t("fd_place_coords", st.session_state.ui_lang))


def select(station_id: str) -> None:
    """Callback: show the route to ``station_id``."""
    put(state().update(selected=station_id))


def sync_url() -> None:
    """Write the state into the URL, touching only the parameters that changed."""
    changed, dropped = finder.query_changes(st.query_params, state())
    for key in dropped:
        del st.query_params[key]
    for key, value in changed.items():
        st.query_params[key] = value
