"""The worker finder page's logic: its shareable state, the network, the result list.

``pages/2_找站_Finder.py`` only arranges widgets; what it shows is computed
here, so it can be tested without a browser:

* :class:`FinderState` is everything a result depends on, and
  :func:`state_from_query` / :func:`state_to_query` carry it in the page's
  URL, so a result can be shared and reopened.
* :func:`available_modes` lists the travel modes with a routing graph
  (:func:`geo.routing.network.resolve_graph` loads one; without it the
  finder gives estimates, see :mod:`geo.routing.nearest`).
* :func:`find_stations` runs the query and adds what the result list shows
  (facilities, address, hours) from the registry.
* :func:`result_html` renders one result, every data value HTML-escaped.
"""
from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from geo import settings
from geo.core.i18n import facility_label, kind_label, t
from geo.routing.nearest import nearest_stations
from geo.routing.network import MODES, RoadGraph, graph_path
from geo.routing.stations import StationIndex, station_index
from geo.core.schema import FACILITIES
from geo.web.maps.records import cell_text

#: Value of ``kind`` meaning every layer.
KIND_ALL = "all"

#: Layers offered, first the default: rest stations serve the riders and
#: couriers who are the finder's largest group (see ``ROUTING_DEFAULT_MODE``).
KIND_CHOICES: tuple[str, ...] = ("rest_station", "driver_home", "legal_aid", KIND_ALL)

#: Ranking choices of :func:`geo.routing.nearest.nearest_stations`.
BY_CHOICES: tuple[str, ...] = ("time", "distance")

#: How many stations the list shows.
RESULT_COUNT = 5

#: URL query parameters of the finder (``lang`` belongs to the whole app).
QUERY_KEYS: tuple[str, ...] = ("lon", "lat", "place", "kind", "fac", "mode", "by", "open", "sel")

# Icons of the travel modes, shown beside their names.
MODE_ICONS = {"walk": "🚶", "ebike": "🛵", "drive": "🚗", "truck": "🚚"}

# Coordinates in a URL: 6 decimals is 0.1 m, plenty for "where am I". A
# position from the browser's location gets settings.FINDER_LOCATED_URL_DIGITS.
_URL_DIGITS = 6
# A place label in a URL is for people; a long one is cut.
_PLACE_MAX = 60


@dataclass(frozen=True)
class FinderState:
    """What the finder shows: the origin, the filters and the chosen result.

    Attributes
    ----------
    lon, lat : float or None
        The origin, WGS-84; None until the user gives one.
    place : str
        How the origin was given, for people (``"南山区 · 深圳市"``); plain
        text, escape it before showing it as HTML.
    kind : str
        A layer code or :data:`KIND_ALL`.
    facilities : tuple of str
        Facility codes every result must have.
    mode : str
        Travel mode (:data:`geo.routing.network.MODES`).
    by : str
        ``"time"`` or ``"distance"``.
    open_now : bool
        Leave out stations closed now.
    selected : str or None
        Id of the result whose route is drawn; None draws the first.
    url_digits : int
        Decimals of the origin in the shareable URL: 6 (0.1 m) for a
        position the user gave (a link, a tap, typed coordinates), fewer for
        one from the browser's location (``with_origin(..., located=True)``).
    """

    lon: float | None = None
    lat: float | None = None
    place: str = ""
    kind: str = KIND_CHOICES[0]
    facilities: tuple[str, ...] = field(default_factory=tuple)
    mode: str = settings.ROUTING_DEFAULT_MODE
    by: str = "time"
    open_now: bool = True
    selected: str | None = None
    url_digits: int = _URL_DIGITS

    @property
    def has_origin(self) -> bool:
        """True when the state names an origin."""
        return self.lon is not None and self.lat is not None

    def with_origin(self, lon: float, lat: float, place: str = "", *, located: bool = False) -> FinderState:
        """The same filters from a new origin (the old selection no longer applies).

        Parameters
        ----------
        lon, lat : float
            WGS-84; kept to 6 decimals (0.1 m) for routing and the page.
        place : str
            How the origin was given, for people.
        located : bool
            The position came from the browser's location: the page routes
            from it as it is, but the shareable URL carries it rounded to
            ``settings.FINDER_LOCATED_URL_DIGITS`` decimals (about 100 m),
            without the place label, so a shared link does not say where the
            worker stood. Typed or tapped positions keep their precision.
        """
        digits = settings.FINDER_LOCATED_URL_DIGITS if located else _URL_DIGITS
        return replace(self, lon=round(float(lon), _URL_DIGITS), lat=round(float(lat), _URL_DIGITS),
                       place=str(place or "")[:_PLACE_MAX], selected=None, url_digits=digits)

    def update(self, **changes: Any) -> FinderState:
        """A copy with ``changes``; a filter change drops the selection, as the list changes."""
        if set(changes) - {"selected"}:
            changes.setdefault("selected", None)
        return replace(self, **changes)


def _first(value: Any) -> str:
    """One value of a query parameter (Streamlit gives the last; a dict may hold a list)."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return "" if value is None else str(value).strip()


def _coordinate(text: str, low: float, high: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and low <= value <= high else None


def state_from_query(params: Mapping[str, Any]) -> FinderState:
    """Read the finder's state from URL query parameters, tolerantly.

    A missing or invalid value takes its default, so an edited or truncated
    link still opens; an unknown facility is dropped, not an error.

    Parameters
    ----------
    params : mapping
        ``st.query_params`` or a plain dict of :data:`QUERY_KEYS`.
    """
    def get(key: str) -> str:
        return _first(params.get(key))

    lon = _coordinate(get("lon"), -180.0, 180.0)
    lat = _coordinate(get("lat"), -90.0, 90.0)
    if lon is None or lat is None:
        lon = lat = None
    kind = get("kind")
    mode = get("mode")
    by = get("by")
    facilities = tuple(dict.fromkeys(f for f in get("fac").replace(";", ",").split(",") if f in FACILITIES))
    default = FinderState()
    return FinderState(
        lon=lon, lat=lat, place=get("place")[:_PLACE_MAX] if lon is not None else "",
        kind=kind if kind in KIND_CHOICES else default.kind,
        facilities=facilities,
        mode=mode if mode in MODES else default.mode,
        by=by if by in BY_CHOICES else default.by,
        open_now=get("open") not in ("0", "false", "no", "off"),
        selected=get("sel") or None,
    )


def state_to_query(state: FinderState) -> dict[str, str]:
    """The URL query parameters of ``state`` (empty ones left out).

    ``state_from_query(state_to_query(s)) == s`` for every valid state
    whose origin the user gave; a located origin (``url_digits`` below 6)
    comes back rounded and without its place label.
    """
    out = {"kind": state.kind, "mode": state.mode, "by": state.by, "open": "1" if state.open_now else "0"}
    if state.has_origin:
        digits = min(max(int(state.url_digits), 0), _URL_DIGITS)
        out["lon"] = f"{round(state.lon, digits):.{digits}f}"
        out["lat"] = f"{round(state.lat, digits):.{digits}f}"
        # "My location (within 12 m)" would be wrong for whoever opens the link.
        if state.place and digits == _URL_DIGITS:
            out["place"] = state.place
    if state.facilities:
        out["fac"] = ",".join(state.facilities)
    if state.selected:
        out["sel"] = state.selected
    return out


def query_changes(current: Mapping[str, Any], state: FinderState) -> tuple[dict[str, str], list[str]]:
    """What to change in the page's URL query ``current`` so that it holds ``state``.

    Returns
    -------
    (dict, list)
        The parameters to set (those whose value differs) and the finder's
        parameters to remove (set in ``current``, empty in ``state``);
        other parameters (``lang``) are left alone.
    """
    want = state_to_query(state)
    drop = [key for key in QUERY_KEYS if key not in want and key in current]
    return {key: value for key, value in want.items() if current.get(key) != value}, drop


# --------------------------------------------------------------------------
# Network and query
# --------------------------------------------------------------------------


def available_modes(directory: str | Path | None = None) -> tuple[str, ...]:
    """Travel modes with a graph in ``directory`` (default :func:`geo.settings.network_dir`, environment ``GEO_NETWORK_DIR``)."""
    return tuple(m for m in MODES if graph_path(m, directory=directory).exists())


def build_index(graph: RoadGraph | None, stations: pd.DataFrame) -> StationIndex:
    """Stations snapped to ``graph`` (or prepared for estimates); build once per graph and registry."""
    return station_index(graph, stations)


def find_stations(state: FinderState, stations: pd.DataFrame, graph: RoadGraph | None = None,
                  index: StationIndex | None = None, k: int = RESULT_COUNT,
                  at: datetime | None = None) -> list[dict]:
    """The nearest stations for ``state``, with what the result list shows.

    Parameters
    ----------
    state : FinderState
        Needs an origin; without one the list is empty.
    stations : DataFrame
        The registry (``geo.registry.store.gpkg`` columns).
    graph : RoadGraph, optional
        The graph of ``state.mode``; None gives estimates.
    index : StationIndex, optional
        :func:`build_index` of ``graph`` and ``stations``, to skip hashing
        the registry on every query.
    k : int
        How many results.
    at : datetime, optional
        Moment for "open now"; default now.

    Returns
    -------
    list of dict
        The dicts of :func:`geo.routing.nearest.nearest_stations`, each with
        ``facilities`` (known codes), ``facilities_other``, ``address``,
        ``opening_hours``, ``subtype`` and ``is_sample`` added from the
        registry.
    """
    if not state.has_origin:
        return []
    kinds = None if state.kind == KIND_ALL else [state.kind]
    results = nearest_stations(state.lon, state.lat, index if index is not None else stations, graph,
                               k=k, by=state.by, kinds=kinds, facilities=list(state.facilities) or None,
                               at=at, open_only=state.open_now, mode=state.mode)
    ids = [r["id"] for r in results]
    rows = stations[stations["id"].isin(ids)].drop_duplicates("id").set_index("id")
    for r in results:
        row = rows.loc[r["id"]].to_dict() if r["id"] in rows.index else {}
        codes = _items(row.get("facilities"))
        r["facilities"] = [c for c in codes if c in FACILITIES]
        r["facilities_other"] = [c for c in codes if c not in FACILITIES] + _items(row.get("facilities_other"))
        r["address"] = cell_text(row.get("address"))
        r["opening_hours"] = cell_text(row.get("opening_hours")) or cell_text(row.get("opening_hours_osm"))
        r["subtype"] = cell_text(row.get("subtype"))
        r["is_sample"] = cell_text(row.get("is_sample")).lower() in ("1", "true", "yes")
    return results


def pick_selected(results: list[dict], selected: str | None) -> dict | None:
    """The result whose route is drawn: the one asked for, else the first."""
    for r in results:
        if r["id"] == selected:
            return r
    return results[0] if results else None


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.replace("；", ";").split(";") if p.strip()]
    if isinstance(value, Iterable):
        return [s for s in (cell_text(v) for v in value) if s]
    return []


# --------------------------------------------------------------------------
# Presentation
# --------------------------------------------------------------------------


def is_estimate(result: dict) -> bool:
    """True when a result's figures are an estimate (no road network), not a routed distance."""
    return result.get("method") != "network"


def distance_text(metres: float, lang: str = "zh") -> str:
    """``"850 m"`` below a kilometre, else ``"2.4 km"``."""
    if metres < 1000:
        return f"{metres:.0f} m" if lang == "en" else f"{metres:.0f} 米"
    return f"{metres / 1000:.1f} km" if lang == "en" else f"{metres / 1000:.1f} 公里"


def minutes_text(seconds: float, lang: str = "zh") -> str:
    """Travel time in whole minutes (at least 1), ``"12 min"`` / ``"12 分钟"``."""
    minutes = max(1, round(seconds / 60.0))
    return t("fd_minutes", lang, n=minutes)


def mode_label(mode: str, lang: str = "zh") -> str:
    """``"🛵 电动车"``: a travel mode's icon and name."""
    return f"{MODE_ICONS.get(mode, '')} {t(f'fd_mode_{mode}', lang)}".strip()


def result_html(result: dict, lang: str = "zh", number: int = 1, selected: bool = False) -> str:
    """One result as an HTML card; every value from the data is escaped.

    An estimate says ``估算 / estimate`` beside each figure (``≈``), so a
    straight-line guess is never read as a measured route.
    """
    esc = html.escape
    est = is_estimate(result)
    approx = "≈ " if est else ""
    tag = (f' <span class="fd-est">{esc(settings.ESTIMATE_LABEL)}</span>' if est else "")
    kind = result.get("kind", "")
    open_now = result.get("open_now")
    if open_now is True:
        badge = f'<span class="fd-badge fd-open">{esc(t("open_now_yes", lang))}</span>'
    elif open_now is False:
        badge = f'<span class="fd-badge fd-closed">{esc(t("open_now_no", lang))}</span>'
    else:
        badge = f'<span class="fd-badge fd-unknown">{esc(t("fd_hours_unknown", lang))}</span>'
    subtype = f" · {esc(result['subtype'])}" if result.get("subtype") else ""
    sample = f' <span class="fd-sample">{esc(t("sample_tag", lang))}</span>' if result.get("is_sample") else ""
    distance = f"{approx}{esc(distance_text(result['distance_m'], lang))}{tag}"
    minutes = (f"{approx}{esc(minutes_text(result['duration_s'], lang))} "
               f"{esc(mode_label(result.get('mode', ''), lang))}{tag}")
    parts = [
        f'<div class="fd-card{" fd-selected" if selected else ""}">',
        f'<div class="fd-head"><span class="fd-num">{int(number)}</span>'
        f'<span class="fd-name">{esc(result.get("name", ""))}</span></div>',
        f'<div class="fd-kind">{esc(kind_label(kind, lang))}{subtype} {badge}{sample}</div>',
        f'<div class="fd-figures"><span class="fd-fig">{distance}</span><span class="fd-fig">{minutes}</span></div>',
    ]
    if result.get("road_names"):
        parts.append(f'<div class="fd-roads">{esc(t("fd_via", lang))} '
                     f'{esc(" → ".join(result["road_names"]))}</div>')
    fac = [f"<li>{esc(facility_label(c, lang, icon=True))}</li>" for c in result.get("facilities", [])]
    fac += [f"<li>{esc(s)}</li>" for s in result.get("facilities_other", [])]
    if fac:
        parts.append(f'<ul class="fd-facilities">{"".join(fac)}</ul>')
    extra = [esc(s) for s in (result.get("address", ""), result.get("opening_hours", "")) if s]
    if extra:
        parts.append(f'<div class="fd-meta">{" · ".join(extra)}</div>')
    parts.append("</div>")
    return "".join(parts)


def filters_summary(state: FinderState, lang: str = "zh") -> str:
    """The filters in one line (``"户外劳动者驿站 · 🛵 电动车 · ⏱ 用时最短 · 只看现在开放的"``), for a folded panel."""
    parts = [kind_choice_label(state.kind, lang), mode_label(state.mode, lang), t(f"fd_by_{state.by}", lang)]
    if state.open_now:
        parts.append(t("fd_open_now", lang))
    if state.facilities:
        parts.append(t("fd_n_facilities", lang, n=len(state.facilities)))
    return " · ".join(parts)


def status_html(state: FinderState, lang: str = "zh", routed: bool = False) -> str:
    """The line above the map: the origin, whether routes follow roads, how to move the origin.

    The origin's label can come from a shared link, so it is escaped.
    """
    if not state.has_origin:
        return ""
    parts = [f"<b>{html.escape(t('fd_origin', lang, place=origin_text(state, lang)))}</b>"]
    if routed:
        parts.append(html.escape(t("fd_network_ok", lang, mode=mode_label(state.mode, lang))))
    parts.append(html.escape(t("fd_map_caption", lang)))
    return f'<div class="fd-status">{" · ".join(parts)}</div>'


def network_dir_hint() -> str:
    """The road-network folder as the public pages' admin hint names it, without its path.

    ``network/`` for the default folder, else ``$GEO_NETWORK_DIR``: where
    the server keeps its files is not for the public.
    """
    return "network/" if settings.network_dir() == settings.ROOT / "network" else "$GEO_NETWORK_DIR"


def kind_choice_label(code: str, lang: str = "zh") -> str:
    """Label of a layer choice, :data:`KIND_ALL` included."""
    return t("fd_kind_all", lang) if code == KIND_ALL else kind_label(code, lang)


def origin_text(state: FinderState, lang: str = "zh") -> str:
    """``"南山区 · 深圳市 (113.930720, 22.544108)"``: the origin as plain text (escape for HTML)."""
    if not state.has_origin:
        return ""
    coords = f"{state.lon:.5f}, {state.lat:.5f}"
    return f"{state.place} ({coords})" if state.place else coords

