"""Finder page: where am I, the nearest open stations by road, and a hand-off to a map app.

Run through ``app.py`` (its navigation, at ``/finder``). Built for a phone
first: the filters fold into an expander, the map comes before the results,
tap targets are at least 44 px. The page only arranges widgets; place
search, routing, the map and the links are computed in ``geo``.

Its state (origin, filters, chosen station) lives in the URL, so a result
can be shared and reopened: ``?lon=114.0579&lat=22.5431&kind=rest_station``
``&mode=ebike&by=time&open=1&fac=toilet&sel=RS-...``.
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.web.views import finder
from geo.routing import handoff
from geo.core import i18n, schema
from geo.routing.geocode import CoordinateError, looks_like_coordinates, parse_coordinates, search_places
from geo.core.i18n import t
from geo.web.maps.boundaries import load_map_boundaries
from geo.web.maps.finder import finder_map
from geo.routing.network import MODES
from geo.core.text import md_error, md_text
from pages.common import shell

_CRS_CHOICES = ("gcj02", "bd09", "wgs84")
_MAP_HEIGHT = 440

# The browser's location, asked for only when the button is pressed (the
# permission prompt must follow a user's gesture). A Streamlit v2 component
# runs in the page itself, not in an iframe, so the prompt is the page's own;
# no network and no package beyond Streamlit are needed. Strings from Python
# are set with textContent, never as HTML.
_GEOLOCATE_JS = """
export default function ({ parentElement, data, setTriggerValue }) {
  let root = parentElement.querySelector('.fd-geo');
  if (!root) {
    root = document.createElement('div');
    root.className = 'fd-geo';
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'fd-geo-btn';
    const msg = document.createElement('div');
    msg.className = 'fd-geo-msg';
    msg.setAttribute('role', 'status');
    root.append(button, msg);
    parentElement.appendChild(root);
  }
  const button = root.querySelector('button');
  const msg = root.querySelector('.fd-geo-msg');
  button.textContent = data.label;
  button.onclick = () => {
    if (!window.isSecureContext) { msg.textContent = data.insecure; return; }
    if (!navigator.geolocation) { msg.textContent = data.unsupported; return; }
    button.disabled = true;
    msg.textContent = data.locating;
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        button.disabled = false;
        msg.textContent = '';
        setTriggerValue('position', { lon: pos.coords.longitude, lat: pos.coords.latitude,
                                      accuracy: pos.coords.accuracy });
      },
      (err) => {
        button.disabled = false;
        msg.textContent = '';
        setTriggerValue('error', { code: err.code, message: err.message });
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  };
}
"""
_GEOLOCATE_CSS = """
.fd-geo-btn { width: 100%; min-height: 48px; border-radius: 0.5rem; border: none; cursor: pointer;
  background: var(--st-primary-color, #ff4b4b); color: #fff; font-size: 1.05rem; font-weight: 600; }
.fd-geo-btn:disabled { opacity: 0.6; cursor: progress; }
.fd-geo-msg { font-size: 0.9rem; margin-top: 4px; color: var(--st-text-color, #31333f); }
.fd-geo-msg:empty { display: none; }
"""
_geolocate = st.components.v2.component("gd_geolocate", js=_GEOLOCATE_JS, css=_GEOLOCATE_CSS)

# Page styles: tap targets of 44 px (WCAG 2.5.5, Apple's HIG) for the pills
# and buttons, and the result cards of geo.web.views.finder.result_html.
_PAGE_CSS = """<style>
[data-testid="stButtonGroup"] button { min-height: 44px; padding: 0 0.9rem; font-size: 1rem; }
.st-key-fd_filters_box [data-testid="stCheckbox"] label { min-height: 44px; align-items: center; }
.st-key-fd_results [data-testid^="stBaseButton-"], .st-key-fd_results [data-testid^="stBaseLinkButton-"],
.st-key-fd_where [data-testid^="stBaseButton-"] { min-height: 44px; }
.fd-status { line-height: 1.5; overflow-wrap: anywhere; }
.fd-card { line-height: 1.45; }
.fd-head { display: flex; align-items: center; gap: 8px; }
.fd-num { flex: none; width: 26px; height: 26px; border-radius: 50%; background: #222; color: #fff;
  font-weight: 700; font-size: 14px; display: inline-flex; align-items: center; justify-content: center; }
.fd-selected .fd-num { background: #1f4fd1; }
.fd-name { font-weight: 700; font-size: 1.08rem; overflow-wrap: anywhere; }
.fd-kind { color: #444; font-size: 0.92rem; margin: 2px 0 4px; }
.fd-badge { display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 0.85rem; font-weight: 600; }
.fd-open { background: #d9f2e3; color: #0b5a2b; }
.fd-closed { background: #f8d7da; color: #7a1c24; }
.fd-unknown { background: #eee; color: #444; }
.fd-sample { display: inline-block; background: #fff3cd; color: #6b4e00; border: 1px dashed #6b4e00;
  border-radius: 4px; padding: 0 5px; font-size: 0.8rem; }
.fd-figures { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 1.15rem; font-weight: 700; }
.fd-est { display: inline-block; background: #fff3cd; color: #5c4300; border: 1px solid #c9a227;
  border-radius: 4px; padding: 0 5px; margin-left: 4px; font-size: 0.8rem; font-weight: 700; vertical-align: middle; }
.fd-roads { margin-top: 2px; font-size: 0.95rem; overflow-wrap: anywhere; }
.fd-facilities { list-style: none; margin: 6px 0 0 !important; padding: 0 !important; display: flex;
  flex-wrap: wrap; gap: 4px; }
.fd-facilities li { margin: 0 !important; background: #f1f3f5; border-radius: 4px; padding: 1px 6px;
  font-size: 0.85rem; }
.fd-meta, .fd-note { margin-top: 4px; font-size: 0.85rem; color: #555; overflow-wrap: anywhere; }
</style>"""


@st.cache_resource(max_entries=2 * len(MODES), show_spinner=False)
def _index(mode: str, graph_stamp: tuple | None, registry_stamp: tuple, _graph, _stations):
    return finder.build_index(_graph, _stations)


# --------------------------------------------------------------------------
# State: one FinderState in the session, mirrored in the URL
# --------------------------------------------------------------------------

def _state() -> finder.FinderState:
    return st.session_state.fd_state


def _put(state: finder.FinderState) -> None:
    st.session_state.fd_state = state


def _take(field: str, key: str, convert=lambda v: v) -> None:
    _put(_state().update(**{field: convert(st.session_state[key])}))


def _take_place(lon: float, lat: float, label: str) -> None:
    _put(_state().with_origin(lon, lat, label))
    st.session_state.fd_query = ""


def _take_coordinates(text: str) -> None:
    try:
        point = parse_coordinates(text, st.session_state.get("fd_crs") or _CRS_CHOICES[0])
    except CoordinateError as exc:
        st.session_state.fd_coord_error = exc
        return
    st.session_state.fd_coord_swapped = point.swapped
    _take_place(point.lon, point.lat, t("fd_place_coords", st.session_state.ui_lang))


def _select(station_id: str) -> None:
    _put(_state().update(selected=station_id))


def _sync_url(state: finder.FinderState) -> None:
    want = finder.state_to_query(state)
    for key in finder.QUERY_KEYS:
        if key not in want and key in st.query_params:
            del st.query_params[key]
    for key, value in want.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


lang = shell.language_switch()
if "fd_state" not in st.session_state:
    # A shared or reopened link: the URL is the state.
    _put(finder.state_from_query(st.query_params))

st.html(_PAGE_CSS)
st.title(t("finder_title", lang), anchor=False)

_, registry_stamp, stations = shell.open_registry(lang)

# --------------------------------------------------------------------------
# Where am I
# --------------------------------------------------------------------------
with st.container(key="fd_where"):
    st.caption(t("fd_intro", lang))
    # Side by side on a wide screen, stacked on a phone.
    col_locate, col_search = st.columns([1, 2], vertical_alignment="center")
    with col_locate:
        located = _geolocate(key="fd_geolocate", on_position_change=lambda: None, on_error_change=lambda: None,
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
        _put(_state().with_origin(pos["lon"], pos["lat"],
                                  t("fd_place_gps", lang, acc=round(float(pos.get("accuracy") or 0))), located=True))
    elif located.error:
        reason = located.error.get("message") if isinstance(located.error, dict) else located.error
        st.warning(t("fd_locate_failed", lang, error=finder.md_escape(reason or "")))

    if st.session_state.pop("fd_coord_swapped", False):
        st.info(t("fd_coords_swapped", lang))
    if query.strip() and looks_like_coordinates(query):
        st.pills(t("fd_coords_crs", lang), _CRS_CHOICES, required=True, key="fd_crs",
                 default=_CRS_CHOICES[0],
                 format_func=lambda c: t(f"fd_crs_{c}", lang))
        st.button(t("fd_coords_use", lang), type="primary", on_click=_take_coordinates, args=(query,))
        error = st.session_state.pop("fd_coord_error", None)
        if error is not None:
            st.error(md_error(error, lang))
    elif query.strip():
        places = search_places(query, stations)
        if not places:
            st.info(t("fd_search_none", lang, q=finder.md_escape(query.strip())))
        else:
            st.caption(t("fd_search_pick", lang))
            with st.container(horizontal=True):
                for i, place in enumerate(places):
                    # Labels render Markdown: a station's name is escaped to show as written.
                    st.button(f"{finder.md_escape(place['label'])} · {t('fd_place_' + place['kind'], lang)}",
                              key=f"fd_place_{i}", on_click=_take_place,
                              args=(place["lon"], place["lat"], place["label"]))

# --------------------------------------------------------------------------
# Filters, folded: on a phone the map and the results matter most
# --------------------------------------------------------------------------
state = _state()
summary = finder.filters_summary(state, lang)
# The label summarises the filters, so it changes with a tap inside, and the
# browser then draws a new expander: its open state is tracked and handed back.
with st.expander(t("fd_filters", lang, summary=summary), icon=":material/tune:", key="fd_filters_exp",
                 on_change="rerun", expanded=bool(st.session_state.get("fd_filters_exp"))), \
        st.container(key="fd_filters_box"):
    # Widgets are re-seeded from the state on every run, so they show the
    # state after a page change or a shared link; callbacks write it back.
    st.session_state.update(fd_kind=state.kind, fd_mode=state.mode, fd_by=state.by,
                            fd_open=state.open_now, fd_fac=list(state.facilities))
    st.pills(t("fd_kind", lang), finder.KIND_CHOICES, required=True, key="fd_kind",
             format_func=lambda c: finder.kind_choice_label(c, lang), on_change=_take, args=("kind", "fd_kind"))
    st.pills(t("fd_mode", lang), MODES, required=True, key="fd_mode",
             format_func=lambda c: finder.mode_label(c, lang), on_change=_take, args=("mode", "fd_mode"))
    st.pills(t("fd_by", lang), finder.BY_CHOICES, required=True, key="fd_by",
             format_func=lambda c: t(f"fd_by_{c}", lang), on_change=_take, args=("by", "fd_by"))
    st.toggle(t("fd_open_now", lang), key="fd_open", on_change=_take, args=("open_now", "fd_open"))
    st.pills(t("fd_facilities", lang), list(schema.FACILITIES), selection_mode="multi", key="fd_fac",
             format_func=lambda c: i18n.facility_label(c, lang, icon=True),
             on_change=_take, args=("facilities", "fd_fac", tuple))

# --------------------------------------------------------------------------
# Query
# --------------------------------------------------------------------------
state = _state()
graph, network_error = None, None
graph_stamp = shell.graph_stamp(state.mode)
try:
    graph = shell.network(state.mode, graph_stamp)
except ValueError as exc:  # an old or broken file: estimates, and the admin is told why
    network_error = exc
index = _index(state.mode, graph_stamp if graph is not None else None, registry_stamp, graph, stations)
results = finder.find_stations(state, stations, graph, index)
chosen = finder.pick_selected(results, state.selected)

if state.has_origin:
    st.html(finder.status_html(state, lang, routed=bool(results) and not finder.is_estimate(results[0])))
if network_error is not None:
    st.error(t("fd_network_error", lang, error=md_error(network_error, lang)))
if graph is None:
    st.warning(t("fd_estimate_banner", lang, mode=finder.mode_label(state.mode, lang),
                 factor=settings.DETOUR_FACTOR), icon="⚠️")
    st.caption(t("fd_network_help", lang, dir=finder.network_dir_hint()))
elif results and finder.is_estimate(results[0]):
    # A network is loaded but does not reach the origin (another city, or a partial extract).
    st.warning(f"{settings.ESTIMATE_LABEL}: {md_text(results[0].get('note', ''), lang)}", icon="⚠️")

# --------------------------------------------------------------------------
# Map, then the results (side by side on a wide screen, stacked on a phone)
# --------------------------------------------------------------------------
col_map, col_list = st.columns([3, 2], gap="medium")
with col_map:
    origin = (state.lon, state.lat) if state.has_origin else None
    basemap = shell.basemap_picker(lang)  # last in the sidebar, under the page's own controls
    m = finder_map(origin, results, chosen["id"] if chosen else None, lang=lang, basemap=basemap,
                   boundaries=load_map_boundaries())
    out = st_folium(m, key="finder_map", height=_MAP_HEIGHT, use_container_width=True,
                    returned_objects=["last_clicked"])
    click = (out or {}).get("last_clicked")
    if click and (click.get("lng"), click.get("lat")) != st.session_state.get("fd_click"):
        # The component repeats its last click on every run; only a new one moves the origin.
        st.session_state.fd_click = (click.get("lng"), click.get("lat"))
        _put(_state().with_origin(click["lng"], click["lat"], t("fd_place_map", lang)))
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
        selected = chosen is not None and r["id"] == chosen["id"]
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
                          key=f"fd_sel_{n}", on_click=_select, args=(r["id"],), icon=":material/route:",
                          width="stretch")
    if results:
        st.caption(t("fd_share", lang))

_sync_url(_state())
