"""Coverage page: where workers are beyond reach of a station, district by district.

Run through ``app.py`` (its navigation, at ``/coverage``). Built for planners
at a desk first: the controls sit in the sidebar (behind the menu button on
a phone), the headline figures, the travel-band map, the downloads and the
district table in the main area. The page only arranges widgets; the
analysis is :func:`geo.coverage.coverage`, and the map layers, tables and
exports come from :mod:`geo.planner` and :func:`geo.maps.coverage_map`.

Caching: a result is kept per region, kinds, standard, resolution,
weighting inputs, registry stamp and network stamp (``st.cache_resource``,
so the large result is shared, not copied); the map layers per result; the
exports per result and format, made only when a button is clicked. The
engine itself keeps grids per region and resolution, so a new threshold or
kind reuses the cells.
"""
from __future__ import annotations

import hashlib

import streamlit as st
from streamlit_folium import st_folium

from geo import i18n, planner, schema, settings
from geo.coverage import coverage, service_standard
from geo.finder import load_network, md_escape
from geo.i18n import t
from geo.maps import coverage_map, load_map_boundaries
from geo.network import MODES, graph_path
from pages.common import shell

_MAP_HEIGHT = 540
_UPLOAD_TYPES = ["csv", "xlsx", "geojson", "json", "gpkg", "zip"]
_CELL_KM2 = {7: "5.2", 8: "0.74", 9: "0.11"}

_PAGE_CSS = """<style>
/* Desktop first: the figures take one row and the map starts high enough to be seen without scrolling. */
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
.cv-figs { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.cv-fig { flex: 1 1 auto; border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.35rem 0.75rem; }
.cv-fig-label { font-size: 0.85rem; color: #555; }
.cv-fig-value { font-size: 1.25rem; font-weight: 600; font-variant-numeric: tabular-nums; line-height: 1.35; }
.cv-fig-est { background: #fff8e1; border-color: #c9a227; }
.st-key-cv_downloads [data-testid^="stBaseButton-"] { min-height: 44px; }
@media (max-width: 640px) {
  .cv-fig { flex-basis: 40%; }
  .cv-fig-value { font-size: 1.1rem; }
}
</style>"""


# --------------------------------------------------------------------------
# Cached inputs and results
# --------------------------------------------------------------------------

def _graph_stamp(mode: str) -> tuple | None:
    path = graph_path(settings.NETWORK_DIR, mode)
    if not path.exists():
        return None
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


@st.cache_resource(max_entries=len(MODES), show_spinner=False)
def _network(mode: str, stamp: tuple | None):
    # geo.network keeps one graph per file, so the finder and this page share it.
    return load_network(mode, settings.NETWORK_DIR) if stamp else None


@st.cache_data(show_spinner=False)
def _cities() -> list[tuple[str, str]]:
    return planner.city_choices()


@st.cache_data(show_spinner=False)
def _districts(city: str) -> list[tuple[str, str]]:
    return planner.district_choices(city)


@st.cache_data(max_entries=2, show_spinner=False)
def _census(stamp: tuple):
    return planner.read_census()


@st.cache_data(max_entries=4, show_spinner=False)
def _population_upload(digest: str, _data: bytes, filename: str):
    return planner.read_population_upload(_data, filename)


@st.cache_data(max_entries=4, show_spinner=False)
def _columns(digest: str, _data: bytes, filename: str) -> list[str]:
    return planner.upload_columns(_data, filename)


@st.cache_data(max_entries=4, show_spinner=False)
def _points_upload(digest: str, _data: bytes, filename: str, weight: str | None, crs: str):
    return planner.read_points_upload(_data, filename, weight, crs)


@st.cache_resource(max_entries=4, show_spinner=False)
def _coverage(region: str, kinds: tuple, mode: str, minutes: float | None, meters: float | None, res: int,
              demand_key: tuple, registry_stamp: tuple, graph_stamp: tuple | None,
              _stations, _graph, _population, _points):
    # Everything that changes the answer is in the key; the underscored
    # arguments are what those keys stand for.
    return coverage(region, kinds, mode=mode, minutes=minutes, meters=meters, res=res,
                    network=_graph if _graph is not None else False, population=_population,
                    demand=_points, stations=_stations)


@st.cache_resource(max_entries=4, show_spinner=False)
def _layers(run_key: tuple, _result):
    return planner.map_layers(_result)


@st.cache_data(max_entries=4, show_spinner=False)
def _export(run_key: tuple, what: str, _result) -> bytes:
    return planner.export_bytes(_result, what)


# --------------------------------------------------------------------------
# Widgets whose choice survives a language switch
# --------------------------------------------------------------------------

def _kept(name: str, default):
    return st.session_state.get(name, default)


def _keep(name: str, value):
    st.session_state[name] = value
    return value


def _index(options: list, value, default: int = 0) -> int:
    return options.index(value) if value in options else default


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


lang = shell.language_switch()
st.html(_PAGE_CSS)
st.title(t("cv_title", lang), anchor=False)
st.caption(t("cv_intro", lang))

try:
    store = shell.store()
    registry_stamp = shell.registry_stamp(store)
    stations = shell.stations(store)
except Exception as exc:  # an unreadable registry must say so, not show a traceback
    st.error(t("store_error", lang, error=i18n.error_text(exc, lang)))
    st.stop()

# --------------------------------------------------------------------------
# Controls (sidebar: beside the results on a desk, behind the menu on a phone)
# --------------------------------------------------------------------------
province = planner.province_adcode()
population, points, demand_key, input_notes = None, None, ("area",), []
with st.sidebar:
    st.header(t("cv_region", lang), anchor=False)
    city_names = dict(_cities())
    city_options = [province, *city_names]
    # Shenzhen first: a city is quick to compute, the province takes seconds.
    city = _keep("cv_city", st.selectbox(
        t("cv_city", lang), city_options, index=_index(city_options, _kept("cv_city", "440300")),
        format_func=lambda c: t("cv_province", lang) if c == province else city_names[c], key=f"cv_city:{lang}"))
    district_names = dict(_districts(city)) if city != province else {}
    district_options = [None, *district_names]
    district = _keep("cv_district", st.selectbox(
        t("cv_district", lang), district_options, index=_index(district_options, _kept("cv_district", None)),
        format_func=lambda c: t("cv_whole_city", lang) if c is None else district_names[c],
        disabled=not district_names, key=f"cv_district:{lang}:{city}"))

    st.header(t("cv_standard", lang), anchor=False)
    kinds = _keep("cv_kinds", st.multiselect(
        t("cv_kinds", lang), list(schema.KINDS), default=_kept("cv_kinds", list(settings.COVERAGE_DEFAULT_KINDS)),
        format_func=lambda c: i18n.kind_label(c, lang), key=f"cv_kinds:{lang}"))
    first = kinds[0] if kinds else settings.COVERAGE_DEFAULT_KINDS[0]
    # One remembered standard per first kind: picking another kind prefills its own default.
    std_default = planner.default_standard(first)
    mode = _keep(f"cv_mode:{first}", st.selectbox(
        t("cv_mode", lang), list(MODES), index=_index(list(MODES), _kept(f"cv_mode:{first}", std_default["mode"])),
        format_func=lambda m: t(f"fd_mode_{m}", lang), key=f"cv_mode:{lang}:{first}"))
    units = ["min", "m"]
    unit = _keep(f"cv_unit:{first}", st.radio(
        t("cv_unit", lang), units, index=_index(units, _kept(f"cv_unit:{first}", std_default["unit"])),
        format_func=lambda u: t(f"cv_unit_choice_{u}", lang), horizontal=True, key=f"cv_unit:{lang}:{first}"))
    value = _keep(f"cv_value:{first}:{unit}", st.number_input(
        t("cv_minutes" if unit == "min" else "cv_meters", lang), min_value=1.0,
        max_value=240.0 if unit == "min" else 100_000.0,
        value=float(_kept(f"cv_value:{first}:{unit}", planner.default_value(first, unit))),
        step=5.0 if unit == "min" else 100.0, format="%g", key=f"cv_value:{lang}:{first}:{unit}"))
    st.caption(t("cv_standard_default", lang,
                 standard=planner.standard_text(service_standard(first), lang)) + " " + t("cv_statuses_note", lang))

    st.header(t("cv_grid", lang), anchor=False)
    resolutions = list(settings.COVERAGE_RESOLUTIONS)
    res = _keep("cv_res", st.select_slider(
        t("cv_res", lang), resolutions, value=_kept("cv_res", settings.COVERAGE_DEFAULT_RES),
        format_func=lambda r: t("cv_res_option", lang, res=r, km2=_CELL_KM2.get(r, "?")),
        help=t("cv_res_help", lang), key=f"cv_res:{lang}"))
    weightings = list(planner.WEIGHTINGS)
    weighting = _keep("cv_weighting", st.radio(
        t("cv_weighting", lang), weightings, index=_index(weightings, _kept("cv_weighting", "area")),
        format_func=lambda w: t(f"cv_weighting_{w}", lang), key=f"cv_weighting:{lang}"))

    if weighting == "population":
        census = planner.census_path()
        sources = ["census", "upload"] if census is not None else ["upload"]
        source = "upload"
        if census is not None:
            source = _keep("cv_pop_source", st.radio(
                t("cv_population_source", lang), sources, index=_index(sources, _kept("cv_pop_source", "census")),
                format_func=lambda s: t("cv_population_census" if s == "census" else "cv_population_upload_choice",
                                        lang), key=f"cv_pop_source:{lang}"))
        else:
            st.caption(t("cv_census_missing", lang))
        if source == "census":
            stat = census.stat()
            population = _census((str(census), stat.st_mtime_ns, stat.st_size))
            demand_key = ("population", "census", stat.st_mtime_ns, stat.st_size)
        else:
            upload = st.file_uploader(t("cv_population_upload", lang), type=["csv", "xlsx"], key="cv_pop_file")
            if upload is None:
                st.info(t("cv_population_wait", lang))
            else:
                data = upload.getvalue()
                try:
                    population = _population_upload(_digest(data), data, upload.name)
                    demand_key = ("population", "upload", _digest(data))
                except Exception as exc:  # any unreadable table: say why, and go on by area
                    st.error(t("cv_input_error", lang, error=i18n.error_text(exc, lang)))
    elif weighting == "points":
        upload = st.file_uploader(t("cv_points_upload", lang), type=_UPLOAD_TYPES, key="cv_points_file")
        crs_options = list(planner.POINT_CRS)
        crs = _keep("cv_points_crs", st.selectbox(
            t("cv_points_crs", lang), crs_options, index=_index(crs_options, _kept("cv_points_crs", "auto")),
            format_func=lambda c: i18n.crs_label(c, lang), key=f"cv_points_crs:{lang}"))
        if upload is None:
            st.info(t("cv_points_wait", lang))
        else:
            data = upload.getvalue()
            digest = _digest(data)
            try:
                columns = [None, *_columns(digest, data, upload.name)]
                weight = st.selectbox(t("cv_points_weight", lang), columns,
                                      format_func=lambda c: t("cv_points_weight_auto", lang) if c is None else c,
                                      key=f"cv_points_weight:{lang}:{digest}")
                points, input_notes = _points_upload(digest, data, upload.name, weight, crs)
                demand_key = ("points", digest, weight, crs)
            except Exception as exc:  # any unreadable file: say why, and go on by area
                st.error(t("cv_input_error", lang, error=i18n.error_text(exc, lang)))

if not kinds:
    st.info(t("cv_no_kinds", lang))
    st.stop()

# --------------------------------------------------------------------------
# The run (cached: a rerun with the same inputs returns at once)
# --------------------------------------------------------------------------
region = planner.region_for(None if city == province else city, district)
standard = service_standard(kinds, mode=mode, minutes=value if unit == "min" else None,
                            meters=value if unit == "m" else None)
graph_stamp = _graph_stamp(standard.mode)
graph, network_error = None, None
try:
    graph = _network(standard.mode, graph_stamp)
except ValueError as exc:  # an old or broken file: estimates, and the admin is told why
    network_error = exc
run_key = (region.adcode, tuple(kinds), standard.mode, standard.minutes, standard.meters, int(res), demand_key,
           registry_stamp, graph_stamp if graph is not None else None)
try:
    with st.spinner(t("cv_running", lang, region=region.name)):
        result = _coverage(*run_key, stations, graph, population, points)
        layers = _layers(run_key, result)
except Exception as exc:  # a bad input must be explained, not shown as a traceback
    st.error(t("cv_error", lang, error=i18n.pick(i18n.error_text(exc, lang), lang)))
    st.stop()
figures = planner.headline(result)

# --------------------------------------------------------------------------
# Headline: region, standard, figures, and what kind of numbers they are
# --------------------------------------------------------------------------
mode_label = t(f"fd_mode_{standard.mode}", lang)
st.markdown(f"**{md_escape(region.name)}** · "
            + md_escape(t("cv_standard_line", lang, standard=planner.standard_text(standard, lang))))
if network_error is not None:
    st.error(t("fd_network_error", lang, error=i18n.error_text(network_error, lang)))
if graph is None:
    st.warning(t("cv_estimate_banner", lang, mode=mode_label, factor=settings.DETOUR_FACTOR), icon="⚠️")
    folder = settings.NETWORK_DIR
    shown = "network/" if folder == settings.ROOT / "network" else str(folder)
    st.caption(t("fd_network_help", lang, dir=shown))
elif figures["estimated_cells"]:
    st.warning(t("cv_partial_network", lang, n=f"{figures['estimated_cells']:,}", total=f"{figures['cells']:,}",
                 mode=mode_label, km=f"{settings.SNAP_MAX_M / 1000:g}", factor=settings.DETOUR_FACTOR), icon="⚠️")
else:
    st.caption(t("cv_network_used", lang, mode=mode_label))
if figures["unreachable_cells"]:
    st.warning(t("cv_unreachable_banner", lang, n=f"{figures['unreachable_cells']:,}"), icon="⚠️")
if figures["sample"]:
    st.warning(t("sample_banner", lang), icon="⚠️")

st.html(planner.figures_html(figures, lang))

# --------------------------------------------------------------------------
# Map and downloads
# --------------------------------------------------------------------------
m = coverage_map(layers, lang=lang, boundaries=load_map_boundaries())
st_folium(m, returned_objects=[], height=_MAP_HEIGHT, use_container_width=True, key="coverage_map")
st.caption(t("cv_map_caption", lang, what=t("cv_what_time" if standard.unit == "min" else "cv_what_distance", lang)))

st.subheader(t("cv_downloads", lang), anchor=False)
with st.container(horizontal=True, key="cv_downloads"):
    for what, (_, _, mime) in planner.EXPORTS.items():
        # A callable: the file is only made when someone clicks.
        st.download_button(t(f"cv_dl_{what}", lang), data=lambda w=what: _export(run_key, w, result),
                           file_name=planner.export_name(result, what), mime=mime, on_click="ignore",
                           key=f"cv_dl_{what}", icon=":material/download:",
                           help=t("cv_dl_cells_help", lang, n=f"{figures['cells']:,}") if what.startswith("cells")
                           else None)

# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


def _column_config(specs: dict[str, dict]) -> dict:
    config = {}
    for col, spec in specs.items():
        if spec["type"] == "text":
            config[col] = st.column_config.TextColumn(spec["label"])
        else:
            config[col] = st.column_config.NumberColumn(spec["label"], format=spec.get("format"))
    return config


st.subheader(t("cv_districts", lang), anchor=False)
table, specs = planner.district_table(result, lang)
st.dataframe(table, hide_index=True, column_config=_column_config(specs), key="cv_district_table",
             height="auto" if len(table) <= 12 else 420)
st.caption(t("cv_districts_help", lang))

if figures["gaps"]:
    gaps, gap_specs = planner.gap_table(result, lang)
    with st.expander(t("cv_gaps", lang, n=len(gaps), total=figures["gaps"])):
        st.dataframe(gaps, hide_index=True, column_config=_column_config(gap_specs))

with st.expander(t("cv_notes", lang)):
    for note in [*input_notes, *result.notes]:
        st.caption(md_escape(i18n.pick(note, lang)))
    st.caption(t("cv_timings", lang, seconds=f"{result.timings.get('total_s', 0):.2f}",
                 grid=f"{result.timings.get('grid_s', 0):.2f}"))
