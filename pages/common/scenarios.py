"""The siting page's saved scenarios: anyone compares them; a logged-in editor saves and deletes.

Only arranges widgets: saving, listing, comparing and deleting are
:mod:`geo.analysis.scenarios`; the tables :mod:`geo.web.views.siting_tables`.
The editor login (:mod:`pages.common.login`) is checked before any saving
widget is drawn, so an expired login saves nothing.
"""
from __future__ import annotations

import streamlit as st

from geo.analysis.scenarios import (ScenarioLimitError, compare_scenarios, delete_scenario, list_scenarios,
                                    save_scenario)
from geo.analysis.siting.result import SitingResult
from geo.core.i18n import t
from geo.core.text import md_error, md_escape
from geo.web.views import siting_tables as svt
from pages.common import login, shell
from pages.common.controls import digest


def scenarios_section(result: SitingResult, lang: str) -> None:
    """The login, the save form (editors), the saved list, the comparison and the delete box (editors)."""
    st.subheader(t("si_scenarios", lang), anchor=False)
    st.caption(t("si_scenarios_login", lang))
    editor = login.editor_login(lang, help_key="si_login_help", key="si_auth")
    if editor is not None:
        _save_form(result, lang, editor)
    listing = list_scenarios()
    if not len(listing):
        st.caption(t("si_no_saved", lang))
    else:
        saved, saved_specs = svt.scenario_table(listing, lang)
        with st.expander(t("si_saved_list", lang, n=len(listing))):
            st.dataframe(saved, hide_index=True, column_config=shell.column_config(saved_specs))
        names = listing["name"].tolist()
        _compare(names, lang)
        if editor is not None:
            _delete(names, lang, editor)
    if editor is not None:
        if st.session_state.get("si_delete_flash"):
            st.success(st.session_state.pop("si_delete_flash"))
        # Where scenarios are kept is for editors (and never as a server path).
        st.caption(t("si_scenario_dir", lang))


def _save_form(result: SitingResult, lang: str, editor: str) -> None:
    with st.form("si_save_form", border=True):
        name = st.text_input(t("si_scenario_name", lang), value=result.scenario, max_chars=200)
        note = st.text_input(t("si_scenario_note", lang), max_chars=500)
        overwrite = st.checkbox(t("si_scenario_overwrite", lang))
        if st.form_submit_button(t("si_save", lang), icon=":material/save:"):
            try:
                save_scenario(result, name, note=note, overwrite=overwrite, editor=editor)
                st.success(t("si_saved", lang, name=md_escape(name.strip())))
            except FileExistsError:
                st.warning(t("si_save_exists", lang, name=md_escape(name.strip())))
            except (ScenarioLimitError, ValueError, OSError) as exc:  # limit reached, bad name, disk
                st.error(t("si_save_error", lang, error=md_error(exc, lang)))


def _compare(names: list[str], lang: str) -> None:
    # A new scenario gives a new widget, so the two newest are compared by default.
    chosen = st.multiselect(t("si_compare", lang), names, default=names[:2],
                            key=f"si_compare:{lang}:{digest(' '.join(names).encode('utf-8'))}",
                            placeholder=t("si_compare_hint", lang))
    if len(chosen) < 2:
        st.caption(t("si_compare_hint", lang))
        return
    try:
        compared = svt.compare_table(compare_scenarios(chosen), lang)
        with st.container(key="si_compare_table"):
            # Every measure in view at once: a comparison is read down the columns.
            st.dataframe(compared, height=min(35 * (len(compared) + 1) + 3, 1200))
    except (ValueError, OSError) as exc:  # a scenario deleted since the listing
        st.error(t("si_compare_error", lang, error=md_error(exc, lang)))


def _delete(names: list[str], lang: str, editor: str) -> None:
    with st.expander(t("si_delete_header", lang), icon=":material/delete:"):
        doomed = st.selectbox(t("si_delete_pick", lang), names, key=f"si_delete_pick:{lang}")
        sure = st.checkbox(t("si_delete_sure", lang), key="si_delete_sure")
        if st.button(t("si_delete", lang), disabled=not sure, key="si_delete"):
            try:
                gone = delete_scenario(doomed, editor=editor)
            except (ValueError, OSError) as exc:
                st.error(t("si_delete_error", lang, error=md_error(exc, lang)))
            else:
                st.session_state.si_delete_flash = t("si_deleted" if gone else "si_delete_missing", lang,
                                                     name=md_escape(doomed))
                st.rerun()
