"""What the siting page shows of an answer: the headline, the downloads, the tables and the notes.

Only arranges widgets: figures, texts and tables come from
:mod:`geo.web.views.siting_tables` and :mod:`geo.web.views.coverage`.
"""
from __future__ import annotations

import streamlit as st

from geo.analysis.siting.problem import SitingProblem
from geo.analysis.siting.result import SitingResult
from geo.core.i18n import pick, t
from geo.core.regions import Region
from geo.core.text import md_escape, md_text
from geo.web.report import registry_version
from geo.web.siting_report import pdf_available, render_siting_pdf, render_siting_report
from geo.web.views import siting_tables as svt
from geo.web.views.coverage.tables import headline as coverage_figures
from pages.common import shell
from pages.common.coverage_result import method_banners


def headline(problem: SitingProblem, result: SitingResult, region: Region, *, routed: bool,
             network_error: Exception | None, chosen: str = "auto", lang: str) -> None:
    """Region, standard, the kind of numbers (routed, estimated, radius), the target, the figures and the solver."""
    figures = coverage_figures(problem.baseline)
    method_banners(figures, region, problem.standard, routed=routed, network_error=network_error, chosen=chosen,
                   lang=lang)
    target_line = svt.target_text(result, lang)
    if target_line:
        (st.success if result.target_met else st.warning)(target_line)
    if not len(result.sites):
        st.info(t("si_no_gain", lang))
    st.html(svt.headline_html(result, problem.baseline.demand.unit, lang))
    change = svt.change_text(result, lang)
    if change:
        with st.container(key="si_change"):
            st.markdown(md_escape(change))
    st.caption(md_escape(pick(figures["method_label"], lang)) + " · " + md_escape(svt.solver_text(result, lang)))


@st.cache_data(max_entries=4, show_spinner=False)
def _report(problem_key: tuple, answer: tuple, fmt: str, _problem, _result) -> bytes:
    # The problem key holds the registry's stamp, so the version printed is the one planned on.
    registry = registry_version(shell.store())
    if fmt == "pdf":
        return render_siting_pdf(_problem, _result, registry=registry)
    return render_siting_report(_problem, _result, registry=registry).encode("utf-8")


def downloads(problem: SitingProblem, result: SitingResult, problem_key: tuple, lang: str) -> None:
    """The proposal (GeoJSON), the before/after table (CSV) and the one-page report (HTML, PDF when it can be
    made here), each written when its button is clicked."""
    answer = (result.model, result.method, result.p, result.target_share, tuple(result.sites["candidate_id"]))
    st.subheader(t("si_downloads", lang), anchor=False)
    with st.container(horizontal=True, key="si_downloads"):
        # The proposal stays a frame until someone downloads it.
        st.download_button(t("si_dl_proposal", lang), data=lambda r=result: r.proposal_geojson.encode("utf-8"),
                           file_name=svt.proposal_name(result), mime="application/geo+json", on_click="ignore",
                           icon=":material/download:", key="si_dl_proposal")
        st.download_button(t("si_dl_table", lang), data=lambda r=result: svt.before_after_csv(r, lang),
                           file_name=svt.table_name(result), mime="text/csv", on_click="ignore",
                           icon=":material/download:", key="si_dl_table")
        st.download_button(t("si_dl_report", lang), data=lambda: _report(problem_key, answer, "html", problem, result),
                           file_name=svt.report_name(result, "html"), mime="text/html", on_click="ignore",
                           icon=":material/print:", key="si_dl_report")
        if pdf_available():
            st.download_button(t("si_dl_report_pdf", lang),
                               data=lambda: _report(problem_key, answer, "pdf", problem, result),
                               file_name=svt.report_name(result, "pdf"), mime="application/pdf", on_click="ignore",
                               icon=":material/picture_as_pdf:", key="si_dl_report_pdf")
    st.caption(t("si_dl_help", lang))


def tables(result: SitingResult, unit_label: str, lang: str) -> None:
    """Before and after by district, the proposed sites, and the gaps left."""
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


def notes(problem: SitingProblem, result: SitingResult, demand_notes: list[str], preview_s: float,
          lang: str) -> None:
    """The candidates used, the notes on the inputs and the answer, and how long each step took."""
    with st.expander(t("si_notes", lang)):
        s = problem.candidate_summary
        st.caption(t("si_candidate_summary", lang, used=f"{s.get('used', problem.n_candidates):,}",
                     generated=s.get("generated", 0), accepted=s.get("accepted", 0), excluded=s.get("excluded", 0)))
        for line in [*demand_notes, *result.notes]:
            st.caption(md_text(line, lang))
        tm = problem.timings
        st.caption(t("si_timings", lang, build=f"{tm.get('total_s', 0):.2f}",
                     baseline=f"{tm.get('baseline_s', 0):.2f}", reach=f"{tm.get('reach_s', 0):.2f}",
                     solve=f"{result.timings.get('total_s', 0):.2f}", preview=f"{preview_s:.2f}"))
