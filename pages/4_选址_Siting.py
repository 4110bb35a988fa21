"""Siting page: where to build next, and what new stations would change.

Run through ``app.py`` (its navigation, at ``/siting``). For planners at a
desk first: the region, standard, grid and candidate controls sit in the
sidebar (behind the menu button on a phone), shared with the coverage page
(``pages/common/controls.py``, ``demand.py``; candidates
``siting_inputs.py``); the question (``siting_question.py``), the answer
(``siting_result.py``) and the saved scenarios (``scenarios.py``, behind
the editor login for saving and deleting) in the main area. The page only
arranges them: the problem, models and solvers are :mod:`geo.analysis.siting`,
the map :func:`geo.web.maps.siting.siting_map`, its style
``static/gd/page-siting.css``.

Caching: the siting problem (baseline coverage, candidates and the
candidate x cell reach matrix) is built once per region, kind, standard,
resolution, demand, candidate source (file digest and CRS), exclusion
digest, reach (p-median looks farther), registry stamp and network stamp
(``st.cache_resource``: shared, not copied). Moving the sites slider only
runs the greedy preview on the cached problem (tens of milliseconds for a
city); previews, map overlays and the baseline's layers are cached too,
and exact answers are kept per session and question.
"""
from __future__ import annotations

import time

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.analysis.demand import DemandSource
from geo.analysis.siting.candidates import CandidateSource
from geo.analysis.siting.problem import build_problem
from geo.analysis.standard import service_standard
from geo.core import i18n, schema
from geo.core.i18n import t
from geo.core.text import md_error
from geo.web.maps.boundaries import load_map_boundaries
from geo.web.maps.siting import siting_map
from geo.web.views import siting as sv
from geo.web.views.coverage.choices import standard_text
from geo.web.views.coverage.layers import map_layers
from pages.common import controls, shell, siting_question, siting_result
from pages.common.demand import grid_controls
from pages.common.network import method_choice, road_network
from pages.common.scenarios import scenarios_section
from pages.common.siting_inputs import candidate_controls, exclusion_controls

_MAP_HEIGHT = 520


@st.cache_resource(max_entries=4, show_spinner=False)
def _problem(region: str, kind: str, mode: str, minutes: float | None, meters: float | None, res: int,
             demand_key: tuple, candidates_key: tuple, exclusions_key: str | None, reach: float,
             registry_stamp: tuple, graph_stamp: tuple | None, method: str,
             _stations, _graph, _population, _points, _candidates, _exclusions):
    # Everything that changes the problem is in the key; the underscored
    # arguments are what those keys stand for.
    return build_problem(region, kind, mode=mode, minutes=minutes, meters=meters, res=res,
                         network=_graph if _graph is not None else False,
                         demand=DemandSource(population=_population, points=_points), stations=_stations,
                         candidates=CandidateSource(_candidates, exclusions=_exclusions), reach=reach,
                         method=method)


@st.cache_resource(max_entries=4, show_spinner=False)
def _base_layers(problem_key: tuple, _problem):
    return map_layers(_problem.baseline)


lang = shell.language_switch()
registry_stamp, stations = shell.planner_heading("si_title", "si_intro", "page-siting.css", lang)

with st.sidebar:
    region = controls.region_controls("si", lang)
    st.header(t("cv_standard", lang), anchor=False)
    kinds = list(schema.KINDS)
    kind = controls.keep("si_kind", st.selectbox(
        t("si_kind", lang), kinds,
        index=controls.index(kinds, controls.kept("si_kind", settings.COVERAGE_DEFAULT_KINDS[0])),
        format_func=lambda c: i18n.kind_label(c, lang), key=f"si_kind:{lang}"))
    mode, unit, value = controls.standard_controls("si", lang, kind)
    method = method_choice("si", lang, unit=unit)
    st.caption(t("si_standard_note", lang, standard=standard_text(service_standard(kind), lang)))
    res, demand = grid_controls("si", lang)
    candidates, candidates_key = candidate_controls(kind, lang)
    exclusions, exclusions_key = exclusion_controls(lang)

# The question: model, then sites or target (the slider needs the problem's size).
standard = service_standard(kind, mode=mode, minutes=value if unit == "min" else None,
                            meters=value if unit == "m" else None, radius=method == "radius")
q_model, q_amount, q_limit, q_exact = st.columns([2, 3, 1, 2], vertical_alignment="bottom")
model = siting_question.model_choice(q_model, lang)
network = road_network(standard.mode)
graph = network.graph if method == "auto" else None
problem_key = (region.adcode, kind, standard.mode, standard.minutes, standard.meters, int(res), demand.key,
               candidates_key, exclusions_key, sv.reach_for(model), registry_stamp,
               network.stamp if graph is not None else None, method)
try:
    with st.spinner(t("si_building", lang, region=region.name)):
        problem = _problem(*problem_key, stations, graph, demand.population, demand.points, candidates,
                           exclusions)
        base = _base_layers(problem_key, problem)
except Exception as exc:  # a bad input must be explained, not shown as a traceback
    st.error(t("si_error", lang, error=md_error(exc, lang)))
    st.stop()
if not problem.n_candidates:
    st.info(t("si_no_candidates", lang))
    st.stop()
p, target = siting_question.amount_controls(q_amount, problem, model, lang)
time_limit, solve_clicked = siting_question.solve_controls(q_limit, q_exact, lang)

# The answer: the exact one when solved for this question, else the greedy preview.
if solve_clicked:
    siting_question.solve_exact(problem, problem_key, model=model, p=p, target=target, time_limit=time_limit,
                                lang=lang)
started = time.perf_counter()
result, overlay = siting_question.answer(problem, problem_key, base, model=model, p=p, target=target, lang=lang)
basemap = shell.basemap_picker(lang)  # last in the sidebar, under the page's own controls
m = siting_map(base, overlay, lang=lang, basemap=basemap, boundaries=load_map_boundaries())
preview_s = time.perf_counter() - started

siting_result.headline(problem, result, region, routed=graph is not None,
                       network_error=network.error if method == "auto" else None, chosen=method, lang=lang)
st_folium(m, returned_objects=[], height=_MAP_HEIGHT, use_container_width=True, key="siting_map")
st.caption(t("si_map_caption", lang, what=t("cv_what_time" if standard.unit == "min" else "cv_what_distance", lang)))
siting_result.downloads(problem, result, problem_key, lang)
siting_result.tables(result, problem.baseline.demand.unit, lang)
scenarios_section(result, lang)
siting_result.notes(problem, result, demand.notes, preview_s, lang)
