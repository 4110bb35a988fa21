"""Siting page: where to build next, and what new stations would change.

Run through ``app.py`` (its navigation, at ``/siting``). For planners at a
desk first: the region, standard, grid and candidate controls sit in the
sidebar (behind the menu button on a phone), shared with the coverage page
(``pages/common/controls.py``); the question (model and number of sites or
target share), the answer's figures, the map, the downloads, the tables
and the saved scenarios in the main area. Anyone may run, download and
compare plans; saving, replacing and deleting scenarios need the editor
login the Data page uses (``pages/common/login.py``), and only an editor
is told the scenario folder. The page only arranges widgets:
the problem, models and solvers are :mod:`geo.analysis.siting`, the inputs and map
layers :mod:`geo.web.views.siting`, the figures, texts and tables
:mod:`geo.web.views.siting_tables`, the map
:func:`geo.web.maps.siting.siting_map`, the scenarios :mod:`geo.analysis.scenarios`.

Caching: the siting problem (baseline coverage, candidates and the
candidate x cell reach matrix) is built once per region, kind, standard,
resolution, demand, candidate source (file digest and CRS), exclusion
digest, reach (p-median looks farther), registry stamp and network stamp
(``st.cache_resource``: shared, not copied). Moving the sites slider only
runs :func:`geo.analysis.siting.solve.greedy_preview` on the cached problem (tens of
milliseconds for a city), and each preview, its map overlay and the
baseline's map layers are cached too. Exact answers are kept per session,
per question, so sliding back to a solved number shows the exact answer.
"""
from __future__ import annotations

import time

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.core import i18n, schema
from geo.web.views.coverage.choices import standard_text
from geo.web.views.coverage.layers import map_layers
from geo.web.views.coverage.tables import headline
from geo.web.views import siting as sv
from geo.web.views import siting_tables as svt
from geo.analysis.standard import service_standard
from geo.core.i18n import t
from geo.web.maps.boundaries import load_map_boundaries
from geo.web.maps.siting import siting_map
from geo.analysis.scenarios import ScenarioLimitError, compare_scenarios, delete_scenario, list_scenarios, save_scenario, \
    scenario_dir
from geo.analysis.demand import DemandSource
from geo.analysis.siting.candidates import CandidateSource
from geo.analysis.siting.problem import build_problem
from geo.analysis.siting.solve import greedy_preview, solve
from geo.core.text import md_error, md_escape, md_text
from pages.common import controls, login, shell

_MAP_HEIGHT = 520
#: Exact answers kept per session (each a few hundred kB at most).
_EXACT_KEPT = 12

_PAGE_CSS = """<style>
/* Desktop first: the question and the figures stay compact so the map starts high on a laptop. */
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
.cv-figs { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.cv-fig { flex: 1 1 auto; border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.3rem 0.7rem; }
.cv-fig-label { font-size: 0.82rem; color: #555; }
.cv-fig-value { font-size: 1.15rem; font-weight: 600; font-variant-numeric: tabular-nums; line-height: 1.35; }
.st-key-si_downloads [data-testid^="stBaseButton-"], .st-key-si_exact_box [data-testid^="stBaseButton-"] {
  min-height: 44px; }
@media (max-width: 640px) {
  .cv-fig { flex-basis: 40%; }
  .cv-fig-value { font-size: 1.05rem; }
}
</style>"""

_kept, _keep, _index = controls.kept, controls.keep, controls.index


# --------------------------------------------------------------------------
# Cached inputs and answers
# --------------------------------------------------------------------------

@st.cache_data(max_entries=4, show_spinner=False)
def _candidate_upload(key: str, _data: bytes, filename: str, kind: str, crs: str) -> sv.CandidateUpload:
    return sv.read_candidate_upload(_data, filename, kind, crs)


@st.cache_data(max_entries=4, show_spinner=False)
def _exclusion_upload(key: str, _data: bytes, filename: str):
    return sv.read_exclusion_upload(_data, filename)


@st.cache_resource(max_entries=4, show_spinner=False)
def _problem(region: str, kind: str, mode: str, minutes: float | None, meters: float | None, res: int,
             demand_key: tuple, candidates_key: tuple, exclusions_key: str | None, reach: float,
             registry_stamp: tuple, graph_stamp: tuple | None,
             _stations, _graph, _population, _points, _candidates, _exclusions):
    # Everything that changes the problem is in the key; the underscored
    # arguments are what those keys stand for.
    return build_problem(region, kind, mode=mode, minutes=minutes, meters=meters, res=res,
                         network=_graph if _graph is not None else False,
                         demand=DemandSource(population=_population, points=_points), stations=_stations,
                         candidates=CandidateSource(_candidates, exclusions=_exclusions), reach=reach)


@st.cache_resource(max_entries=4, show_spinner=False)
def _base_layers(problem_key: tuple, _problem):
    return map_layers(_problem.baseline)


@st.cache_resource(max_entries=64, show_spinner=False)
def _preview(problem_key: tuple, model: str, p: int, target: float | None, _problem):
    return greedy_preview(_problem, p, model=model, target_share=target)


@st.cache_resource(max_entries=16, show_spinner=False)
def _overlay(answer_key: tuple, method: str, lang: str, _problem, _result, _base):
    return sv.siting_layers(_problem, _result, _base, lang=lang)





lang = shell.language_switch()
st.html(_PAGE_CSS)
st.title(t("si_title", lang), anchor=False)
st.caption(t("si_intro", lang))

_, registry_stamp, stations = shell.open_registry(lang)

# --------------------------------------------------------------------------
# Sidebar: region, standard, grid and demand, candidates
# --------------------------------------------------------------------------
upload, candidates, candidates_key = None, None, ("generated",)
exclusions, exclusions_key = None, None
with st.sidebar:
    region = controls.region_controls("si", lang)
    st.header(t("cv_standard", lang), anchor=False)
    kinds = list(schema.KINDS)
    kind = _keep("si_kind", st.selectbox(
        t("si_kind", lang), kinds, index=_index(kinds, _kept("si_kind", settings.COVERAGE_DEFAULT_KINDS[0])),
        format_func=lambda c: i18n.kind_label(c, lang), key=f"si_kind:{lang}"))
    mode, unit, value = controls.standard_controls("si", lang, kind)
    st.caption(t("si_standard_note", lang, standard=standard_text(service_standard(kind), lang)))
    res, demand = controls.grid_controls("si", lang)

    st.header(t("si_candidates", lang), anchor=False)
    sources = list(sv.CANDIDATE_SOURCES)
    source = _keep("si_source", st.radio(
        t("si_source", lang), sources, index=_index(sources, _kept("si_source", "generated")),
        format_func=lambda s: t(f"si_source_{s}", lang), help=t("si_source_help", lang), key=f"si_source:{lang}"))
    if source == "upload":
        file = st.file_uploader(t("si_upload", lang), type=controls.UPLOAD_TYPES, key="si_cand_file",
                                help=t("si_upload_rules", lang))
        crs_options = list(sv.CANDIDATE_CRS)
        crs = _keep("si_cand_crs", st.selectbox(
            t("si_upload_crs", lang), crs_options, index=_index(crs_options, _kept("si_cand_crs", "auto")),
            format_func=lambda c: i18n.crs_label(c, lang), key=f"si_cand_crs:{lang}"))
        if file is None:
            st.info(t("si_upload_wait", lang))
        else:
            data = file.getvalue()
            digest = controls.digest(data)
            try:
                upload = _candidate_upload(digest, data, file.name, kind, crs)
            except Exception as exc:  # any unreadable file: say why, and go on with generated candidates
                st.error(t("si_upload_error", lang, error=md_error(exc, lang)))
            if upload is not None:
                # One line: three metrics do not fit the sidebar's width with four-digit counts.
                st.markdown(f"{t('si_rows', lang)} **{upload.rows:,}** · {t('si_accepted', lang)} "
                            f"**{upload.accepted:,}** · {t('si_rejected', lang)} **{upload.rejected:,}**")
                if upload.rejected:
                    stem = file.name.rsplit(".", 1)[0] or "candidates"
                    st.download_button(t("si_download_rejects", lang), data=upload.rejects_csv(),
                                       file_name=f"{stem}_rejected.csv", mime="text/csv", on_click="ignore",
                                       icon=":material/download:", key="si_dl_rejects")
                if upload.accepted:
                    candidates, candidates_key = upload.candidates, ("upload", digest, crs, kind)
                else:
                    st.warning(t("si_upload_none", lang))
    excl_file = st.file_uploader(t("si_exclusions", lang), type=["geojson", "json"], key="si_excl_file",
                                 help=t("si_exclusions_help", lang))
    if excl_file is not None:
        data = excl_file.getvalue()
        try:
            exclusions, n_polys = _exclusion_upload(controls.digest(data), data, excl_file.name)
            exclusions_key = controls.digest(data) if exclusions is not None else None
            st.caption(t("si_exclusions_read", lang, n=n_polys) if n_polys else t("si_exclusions_empty", lang))
        except Exception as exc:  # an unreadable file: say why, and exclude nothing
            st.error(t("si_exclusions_error", lang, error=md_error(exc, lang)))
            exclusions = None

# --------------------------------------------------------------------------
# The question: model, then sites or target (the slider needs the problem's size)
# --------------------------------------------------------------------------
standard = service_standard(kind, mode=mode, minutes=value if unit == "min" else None,
                            meters=value if unit == "m" else None)
q_model, q_amount, q_limit, q_exact = st.columns([2, 3, 1, 2], vertical_alignment="bottom")
models = list(sv.MODELS)
model = _keep("si_model", q_model.selectbox(
    t("si_model", lang), models, index=_index(models, _kept("si_model", "mclp")),
    format_func=lambda m: t(f"si_model_{m}", lang), help=t("si_model_help", lang), key=f"si_model:{lang}"))

graph_stamp = shell.graph_stamp(standard.mode)
graph, network_error = None, None
try:
    graph = shell.network(standard.mode, graph_stamp)
except ValueError as exc:  # an old or broken file: estimates, and the admin is told why
    network_error = exc
problem_key = (region.adcode, kind, standard.mode, standard.minutes, standard.meters, int(res), demand.key,
               candidates_key, exclusions_key, sv.reach_for(model), registry_stamp,
               graph_stamp if graph is not None else None)
try:
    with st.spinner(t("si_building", lang, region=region.name)):
        problem = _problem(*problem_key, stations, graph, demand.population, demand.points, candidates, exclusions)
        base = _base_layers(problem_key, problem)
except Exception as exc:  # a bad input must be explained, not shown as a traceback
    st.error(t("si_error", lang, error=md_error(exc, lang)))
    st.stop()

n_cand = problem.n_candidates
if not n_cand:
    st.info(t("si_no_candidates", lang))
    st.stop()
top = max(1, min(sv.SLIDER_MAX, n_cand))
target = None
with q_amount:
    if model == "lscp":
        a1, a2 = st.columns(2)
        floor = int(100 * problem.before_demand / problem.total_demand) + 1 if problem.total_demand > 0 else 50
        floor = min(max(floor, 1), 100)
        target_pct = _keep("si_target", a1.slider(
            t("si_target", lang), min_value=floor if floor < 100 else 99, max_value=100,
            value=min(max(int(_kept("si_target", 95)), floor if floor < 100 else 99), 100),
            key=f"si_target:{lang}:{floor}"))
        target = target_pct / 100.0
        # LSCP's most sites is a ceiling, not a budget: remembered apart, and generous by default.
        amount_box, label, name, default = a2, t("si_max_sites", lang), "si_pmax", sv.DEFAULT_MAX_SITES
    else:
        amount_box, label, name, default = st, t("si_budget", lang), "si_p", sv.DEFAULT_SITES
    start = min(max(int(_kept(name, default)), 1), top)
    if top > 1:
        p = _keep(name, amount_box.slider(label, min_value=1, max_value=top, value=start,
                                          help=t("si_budget_help", lang), key=f"{name}:{lang}:{top}"))
    else:  # a slider needs two positions; one candidate leaves one answer
        p = _keep(name, int(amount_box.number_input(label, min_value=1, max_value=1, value=1,
                                                    key=f"{name}_one:{lang}")))

time_limit = float(_keep("si_time_limit", q_limit.number_input(
    t("si_time_limit", lang), min_value=1.0, max_value=600.0,
    value=float(_kept("si_time_limit", settings.SITING_TIME_LIMIT_S)), step=10.0, format="%g",
    key=f"si_time_limit:{lang}")))
with q_exact.container(key="si_exact_box"):
    solve_clicked = st.button(t("si_solve_exact", lang), type="primary", icon=":material/calculate:",
                              use_container_width=True, key="si_solve")

# --------------------------------------------------------------------------
# The answer: the exact one when solved for this question, else the greedy preview
# --------------------------------------------------------------------------
answer_key = (problem_key, model, int(p), target)
exact = st.session_state.setdefault("si_exact", {})
if solve_clicked:
    with st.status(t("si_solving", lang, seconds=f"{time_limit:g}"), expanded=False) as status:
        started = time.perf_counter()
        try:
            exact[answer_key] = solve(problem, int(p), model=model, target_share=target, method="exact",
                                      time_limit=time_limit)
            while len(exact) > _EXACT_KEPT:
                exact.pop(next(iter(exact)))
            status.update(label=t("si_solved", lang, seconds=f"{time.perf_counter() - started:.1f}"),
                          state="complete")
        except Exception as exc:  # a solver failure is reported; the preview stays on screen
            status.update(label=t("si_solve_error", lang, error=md_error(exc, lang)),
                          state="error")

started = time.perf_counter()
result = exact.get(answer_key)
if result is None:
    result = _preview(problem_key, model, int(p), target, problem)
overlay = _overlay(answer_key, result.method, lang, problem, result, base)
unit_label = problem.baseline.demand.unit
basemap = shell.basemap_picker(lang)  # last in the sidebar, under the page's own controls
m = siting_map(base, overlay, lang=lang, basemap=basemap, boundaries=load_map_boundaries())
preview_s = time.perf_counter() - started

# --------------------------------------------------------------------------
# Headline: region, standard, solver, figures
# --------------------------------------------------------------------------
figures = headline(problem.baseline)
mode_label = t(f"fd_mode_{standard.mode}", lang)
st.markdown(f"**{md_escape(region.name)}** · "
            + md_escape(t("cv_standard_line", lang, standard=standard_text(problem.standard, lang))))
if network_error is not None:
    st.error(t("fd_network_error", lang, error=md_error(network_error, lang)))
if graph is None:
    st.warning(t("cv_estimate_banner", lang, mode=mode_label, factor=settings.DETOUR_FACTOR), icon="⚠️")
elif figures["estimated_cells"]:
    st.caption("⚠️ " + t("cv_partial_network", lang, n=f"{figures['estimated_cells']:,}",
                         total=f"{figures['cells']:,}", mode=mode_label, km=f"{settings.SNAP_MAX_M / 1000:g}",
                         factor=settings.DETOUR_FACTOR))
if figures["sample"]:
    st.warning(t("sample_banner", lang), icon="⚠️")
target_line = svt.target_text(result, lang)
if target_line:
    (st.success if result.target_met else st.warning)(target_line)
if not len(result.sites):
    st.info(t("si_no_gain", lang))
st.html(svt.headline_html(result, unit_label, lang))
st.caption(md_escape(svt.solver_text(result, lang)))

# --------------------------------------------------------------------------
# Map and downloads
# --------------------------------------------------------------------------
st_folium(m, returned_objects=[], height=_MAP_HEIGHT, use_container_width=True, key="siting_map")
st.caption(t("si_map_caption", lang, what=t("cv_what_time" if standard.unit == "min" else "cv_what_distance", lang)))

st.subheader(t("si_downloads", lang), anchor=False)
with st.container(horizontal=True, key="si_downloads"):
    # The proposal stays a frame until someone downloads it.
    st.download_button(t("si_dl_proposal", lang), data=lambda r=result: r.proposal_geojson.encode("utf-8"),
                       file_name=svt.proposal_name(result), mime="application/geo+json", on_click="ignore",
                       icon=":material/download:", key="si_dl_proposal")
    st.download_button(t("si_dl_table", lang), data=lambda r=result: svt.before_after_csv(r, lang),
                       file_name=svt.table_name(result), mime="text/csv", on_click="ignore",
                       icon=":material/download:", key="si_dl_table")
st.caption(t("si_dl_help", lang))

# --------------------------------------------------------------------------
# Tables: before/after, sites, gaps left
# --------------------------------------------------------------------------
st.subheader(t("si_before_after", lang), anchor=False)
table, specs = svt.before_after_table(result, unit_label, lang)
with st.container(key="si_before_after"):  # the key names the table for tests and styles
    st.dataframe(table, hide_index=True, column_config=shell.column_config(specs),
                 height="auto" if len(table) <= 12 else 420)

st.subheader(t("si_sites", lang), anchor=False)
sites, site_specs = svt.sites_table(result, unit_label, lang)
with st.container(key="si_sites_table"):
    st.dataframe(sites, hide_index=True, column_config=shell.column_config(site_specs),
                 height="auto" if len(sites) <= 12 else 420)

gaps, gap_specs = svt.gaps_table(result, unit_label, lang)
if len(result.gaps):
    with st.expander(t("si_gaps", lang, n=len(gaps), total=len(result.gaps))):
        st.dataframe(gaps, hide_index=True, column_config=shell.column_config(gap_specs))
else:
    st.caption(t("si_no_gaps", lang))

# --------------------------------------------------------------------------
# Scenarios: compare (anyone); save, replace, delete (editors, logged in)
# --------------------------------------------------------------------------
st.subheader(t("si_scenarios", lang), anchor=False)
st.caption(t("si_scenarios_login", lang))
# Checked before any saving widget is drawn: an expired login saves nothing.
editor = login.editor_login(lang, help_key="si_login_help", key="si_auth")
if editor is not None:
    with st.form("si_save_form", border=True):
        name = st.text_input(t("si_scenario_name", lang), value=result.scenario, max_chars=200)
        note = st.text_input(t("si_scenario_note", lang), max_chars=500)
        overwrite = st.checkbox(t("si_scenario_overwrite", lang))
        if st.form_submit_button(t("si_save", lang), icon=":material/save:"):
            try:
                save_scenario(result, name, note=note, overwrite=overwrite)
                st.success(t("si_saved", lang, name=md_escape(name.strip())))
            except FileExistsError:
                st.warning(t("si_save_exists", lang, name=md_escape(name.strip())))
            except (ScenarioLimitError, ValueError, OSError) as exc:  # full folder, bad name, disk
                st.error(t("si_save_error", lang, error=md_error(exc, lang)))

listing = list_scenarios()
if not len(listing):
    st.caption(t("si_no_saved", lang))
else:
    saved, saved_specs = svt.scenario_table(listing, lang)
    with st.expander(t("si_saved_list", lang, n=len(listing))):
        st.dataframe(saved, hide_index=True, column_config=shell.column_config(saved_specs))
    names = listing["name"].tolist()
    # A new scenario gives a new widget, so the two newest are compared by default.
    chosen = st.multiselect(t("si_compare", lang), names, default=names[:2],
                            key=f"si_compare:{lang}:{controls.digest(' '.join(names).encode('utf-8'))}",
                            placeholder=t("si_compare_hint", lang))
    if len(chosen) >= 2:
        try:
            compared = svt.compare_table(compare_scenarios(chosen), lang)
            with st.container(key="si_compare_table"):
                # Every measure in view at once: a comparison is read down the columns.
                st.dataframe(compared, height=min(35 * (len(compared) + 1) + 3, 1200))
        except (ValueError, OSError) as exc:  # a file removed or broken since the listing
            st.error(t("si_compare_error", lang, error=md_error(exc, lang)))
    else:
        st.caption(t("si_compare_hint", lang))
    if editor is not None:
        with st.expander(t("si_delete_header", lang), icon=":material/delete:"):
            doomed = st.selectbox(t("si_delete_pick", lang), names, key=f"si_delete_pick:{lang}")
            sure = st.checkbox(t("si_delete_sure", lang), key="si_delete_sure")
            if st.button(t("si_delete", lang), disabled=not sure, key="si_delete"):
                try:
                    gone = delete_scenario(doomed)
                except (ValueError, OSError) as exc:
                    st.error(t("si_delete_error", lang, error=md_error(exc, lang)))
                else:
                    st.session_state.si_delete_flash = t("si_deleted" if gone else "si_delete_missing", lang,
                                                         name=md_escape(doomed))
                    st.rerun()
if editor is not None:
    if st.session_state.get("si_delete_flash"):
        st.success(st.session_state.pop("si_delete_flash"))
    # Where the files are is for editors: the public is not told the server's folders.
    st.caption(t("si_scenario_dir", lang, dir=md_escape(str(scenario_dir()))))

with st.expander(t("si_notes", lang)):
    s = problem.candidate_summary
    st.caption(t("si_candidate_summary", lang, used=f"{s.get('used', n_cand):,}", generated=s.get("generated", 0),
                 accepted=s.get("accepted", 0), excluded=s.get("excluded", 0)))
    for line in [*demand.notes, *result.notes]:
        st.caption(md_text(line, lang))
    tm = problem.timings
    st.caption(t("si_timings", lang, build=f"{tm.get('total_s', 0):.2f}", baseline=f"{tm.get('baseline_s', 0):.2f}",
                 reach=f"{tm.get('reach_s', 0):.2f}", solve=f"{result.timings.get('total_s', 0):.2f}",
                 preview=f"{preview_s:.2f}"))
