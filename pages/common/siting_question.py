"""The siting page's question and its answer: model, sites or target, time limit, exact solve.

Only arranges widgets. Moving the sites slider answers at once with the
greedy preview (:func:`geo.analysis.siting.solve.greedy_preview`, cached);
the exact button solves with HiGHS (:func:`geo.analysis.siting.solve.solve`)
and keeps the answer for the session, so sliding back shows it again.
The slider's bounds come from :mod:`geo.web.views.siting_inputs`.
"""
from __future__ import annotations

import time

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from geo import settings
from geo.analysis.siting.problem import SitingProblem
from geo.analysis.siting.result import SitingResult
from geo.analysis.siting.solve import greedy_preview, solve
from geo.core.i18n import t
from geo.core.text import md_error
from geo.web.views import siting as sv
from geo.web.views import siting_inputs
from geo.web.views.coverage.layers import MapLayers
from pages.common.controls import index, keep, kept

#: Exact answers kept per session (each a few hundred kB at most).
_EXACT_KEPT = 12


@st.cache_resource(max_entries=64, show_spinner=False)
def _preview(problem_key: tuple, model: str, p: int, target: float | None, _problem):
    return greedy_preview(_problem, p, model=model, target_share=target)


@st.cache_resource(max_entries=16, show_spinner=False)
def _overlay(answer_key: tuple, method: str, lang: str, _problem, _result, _base):
    return sv.siting_layers(_problem, _result, _base, lang=lang)


def model_choice(column: DeltaGenerator, lang: str) -> str:
    """The location model (MCLP, LSCP, p-median) in ``column``."""
    models = list(sv.MODELS)
    return keep("si_model", column.selectbox(
        t("si_model", lang), models, index=index(models, kept("si_model", "mclp")),
        format_func=lambda m: t(f"si_model_{m}", lang), help=t("si_model_help", lang), key=f"si_model:{lang}"))


def amount_controls(column: DeltaGenerator, problem: SitingProblem, model: str, lang: str) -> tuple[int, float | None]:
    """The number of sites (for LSCP the most sites, beside the target share); returns ``(p, target)``."""
    top = siting_inputs.sites_top(problem.n_candidates)
    target = None
    with column:
        if model == "lscp":
            a1, a2 = st.columns(2)
            floor = siting_inputs.target_floor(problem.before_demand, problem.total_demand)
            low, value = siting_inputs.target_range(floor, kept("si_target", 95))
            target = keep("si_target", a1.slider(t("si_target", lang), min_value=low, max_value=100, value=value,
                                                 key=f"si_target:{lang}:{floor}")) / 100.0
            # LSCP's most sites is a ceiling, not a budget: remembered apart, and generous by default.
            box, label, name, default = a2, t("si_max_sites", lang), "si_pmax", sv.DEFAULT_MAX_SITES
        else:
            box, label, name, default = st, t("si_budget", lang), "si_p", sv.DEFAULT_SITES
        if top > 1:
            p = keep(name, box.slider(label, min_value=1, max_value=top, value=siting_inputs.sites_start(
                kept(name, default), top), help=t("si_budget_help", lang), key=f"{name}:{lang}:{top}"))
        else:  # a slider needs two positions; one candidate leaves one answer
            p = keep(name, int(box.number_input(label, min_value=1, max_value=1, value=1, key=f"{name}_one:{lang}")))
    return p, target


def solve_controls(limit_column: DeltaGenerator, button_column: DeltaGenerator, lang: str) -> tuple[float, bool]:
    """The solver's time limit and the exact-solve button; returns ``(seconds, clicked)``."""
    time_limit = float(keep("si_time_limit", limit_column.number_input(
        t("si_time_limit", lang), min_value=1.0, max_value=600.0,
        value=float(kept("si_time_limit", settings.SITING_TIME_LIMIT_S)), step=10.0, format="%g",
        key=f"si_time_limit:{lang}")))
    with button_column.container(key="si_exact_box"):
        clicked = st.button(t("si_solve_exact", lang), type="primary", icon=":material/calculate:",
                            use_container_width=True, key="si_solve")
    return time_limit, clicked


def solve_exact(problem: SitingProblem, problem_key: tuple, *, model: str, p: int, target: float | None,
                time_limit: float, lang: str) -> None:
    """Solve the question exactly, showing progress; the answer is kept for :func:`answer`."""
    exact = st.session_state.setdefault("si_exact", {})
    with st.status(t("si_solving", lang, seconds=f"{time_limit:g}"), expanded=False) as status:
        started = time.perf_counter()
        try:
            exact[(problem_key, model, int(p), target)] = solve(problem, int(p), model=model, target_share=target,
                                                                method="exact", time_limit=time_limit)
            while len(exact) > _EXACT_KEPT:
                exact.pop(next(iter(exact)))
            status.update(label=t("si_solved", lang, seconds=f"{time.perf_counter() - started:.1f}"),
                          state="complete")
        except Exception as exc:  # a solver failure is reported; the preview stays on screen
            status.update(label=t("si_solve_error", lang, error=md_error(exc, lang)), state="error")


def answer(problem: SitingProblem, problem_key: tuple, base: MapLayers, *, model: str, p: int, target: float | None,
           lang: str) -> tuple[SitingResult, sv.SitingLayers]:
    """The exact answer when solved for this question, else the greedy preview; and its map overlay."""
    key = (problem_key, model, int(p), target)
    result = st.session_state.setdefault("si_exact", {}).get(key)
    if result is None:
        result = _preview(problem_key, model, int(p), target, problem)
    return result, _overlay(key, result.method, lang, problem, result, base)
