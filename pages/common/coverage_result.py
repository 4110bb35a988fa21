"""What the coverage page shows of a run: the headline, the downloads, the tables and notes.

Only arranges widgets: figures, tables and files come from
:mod:`geo.web.views.coverage` (``choices``, ``tables``, ``downloads``); the run itself is the page's.
"""
from __future__ import annotations

import streamlit as st

from geo import settings
from geo.core.i18n import t
from geo.analysis.coverage import CoverageResult
from geo.analysis.standard import Standard
from geo.core.regions import Region
from geo.core.text import md_error, md_escape, md_text
from geo.web.views.coverage.choices import standard_text
from geo.web.views.coverage.downloads import EXPORTS, export_bytes, export_name
from geo.web.views.coverage.tables import district_table, figures_html, gap_table
from geo.web.report import registry_version
from geo.web.views.network import network_dir_hint
from pages.common import shell


@st.cache_data(max_entries=4, show_spinner=False)
def _export(run_key: tuple, what: str, _result) -> bytes:
    # The run key holds the registry's stamp, so the version printed is the one analysed.
    return export_bytes(_result, what, registry=registry_version(shell.store()))


def method_banners(figures: dict, region: Region, standard: Standard, *, routed: bool,
                   network_error: Exception | None, chosen: str = "auto", lang: str) -> None:
    """Region and standard, and what kind of numbers follow: routed, estimated, partly routed or by radius.

    Shared by the coverage and siting pages, so both label their figures alike.
    ``routed`` says a road network was loaded; ``network_error`` why one could not be;
    ``chosen`` is the method the planner picked (``auto``, ``estimate``, ``radius``).
    """
    mode_label = t(f"fd_mode_{standard.mode}", lang)
    st.markdown(f"**{md_escape(region.name)}** · "
                + md_escape(t("cv_standard_line", lang, standard=standard_text(standard, lang))))
    if network_error is not None:
        st.error(t("fd_network_error", lang, error=md_error(network_error, lang)))
    if chosen == "radius":
        st.info(t("cv_radius_banner", lang), icon=":material/radio_button_checked:")
    elif chosen == "estimate":
        st.warning(t("cv_estimate_chosen", lang, factor=settings.DETOUR_FACTOR), icon="⚠️")
    elif not routed:
        st.warning(t("cv_estimate_banner", lang, mode=mode_label, factor=settings.DETOUR_FACTOR), icon="⚠️")
        st.caption(t("fd_network_help", lang, dir=network_dir_hint()))
    elif figures["off_network_cells"]:
        # The same count as the run's note (CoverageResult.off_network_cells).
        st.warning(t("cv_partial_network", lang, n=f"{figures['off_network_cells']:,}", total=f"{figures['cells']:,}",
                     mode=mode_label, km=f"{settings.SNAP_MAX_M / 1000:g}", factor=settings.DETOUR_FACTOR),
                   icon="⚠️")
    else:
        st.caption(t("cv_network_used", lang, mode=mode_label))
    if figures["unreachable_cells"]:
        st.warning(t("cv_unreachable_banner", lang, n=f"{figures['unreachable_cells']:,}"), icon="⚠️")
    if figures["sample"]:
        st.warning(t("sample_banner", lang), icon="⚠️")


def headline(figures: dict, region: Region, standard: Standard, *, routed: bool,
             network_error: Exception | None, chosen: str = "auto", lang: str) -> None:
    """The method banners (:func:`method_banners`), then the run's figures."""
    method_banners(figures, region, standard, routed=routed, network_error=network_error, chosen=chosen, lang=lang)
    st.html(figures_html(figures, lang))


def downloads(result: CoverageResult, figures: dict, run_key: tuple, lang: str) -> None:
    """One button per export of the run ``run_key``; each file is made when its button is clicked."""
    st.subheader(t("cv_downloads", lang), anchor=False)
    with st.container(horizontal=True, key="cv_downloads"):
        for what, (_, _, mime) in EXPORTS.items():
            st.download_button(t(f"cv_dl_{what}", lang), data=lambda w=what: _export(run_key, w, result),
                               file_name=export_name(result, what), mime=mime, on_click="ignore",
                               key=f"cv_dl_{what}", icon=":material/download:",
                               help=t("cv_dl_cells_help", lang, n=f"{figures['cells']:,}")
                               if what.startswith("cells") else None)


def tables(result: CoverageResult, figures: dict, input_notes: list[str], lang: str) -> None:
    """The district table, the largest gaps and the notes on the inputs and timings."""
    st.subheader(t("cv_districts", lang), anchor=False)
    table, specs = district_table(result, lang)
    st.dataframe(table, hide_index=True, column_config=shell.column_config(specs), key="cv_district_table",
                 height="auto" if len(table) <= 12 else 420)
    st.caption(t("cv_districts_help", lang))
    if figures["gaps"]:
        gaps, gap_specs = gap_table(result, lang)
        with st.expander(t("cv_gaps", lang, n=len(gaps), total=figures["gaps"])):
            st.dataframe(gaps, hide_index=True, column_config=shell.column_config(gap_specs))
    with st.expander(t("cv_notes", lang)):
        for note in [*input_notes, *result.notes]:
            st.caption(md_text(note, lang))
        st.caption(t("cv_timings", lang, seconds=f"{result.timings.get('total_s', 0):.2f}",
                     grid=f"{result.timings.get('grid_s', 0):.2f}"))
