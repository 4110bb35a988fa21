"""A station's change history on the Data page, and restoring one of its versions.

Only arranges widgets: the history is ``store.history``, a restore
``store.restore`` (saved as a new version, the history kept); the tables
and labels come from :mod:`geo.web.views.history`.
"""
from __future__ import annotations

import streamlit as st

from geo.core.i18n import t
from geo.core.text import md_error
from geo.registry.store.base import ConflictError, RegistryStore
from geo.registry.validate import ValidationError
from geo.web.views import history


def history_section(store: RegistryStore, sid: str, rec: dict, *, k: str, editor: str, lang: str) -> None:
    """The history of station ``sid`` (stored now as ``rec``) in an expander, and a restore of a version.

    ``k`` ends the widgets' keys, as the editor's form does: station, opened version, language.
    """
    with st.expander(t("history_header", lang)):
        hist = store.history(sid)
        if hist.empty:
            st.caption(t("history_none", lang))
            return
        st.dataframe(history.history_table(hist, lang=lang), hide_index=True)
        entries = {int(r.audit_id): r for r in hist.itertuples()}
        pick = st.selectbox(t("history_pick", lang), list(entries),
                            format_func=lambda a: history.version_label(entries[a], lang=lang), key=f"ed:hist:{k}")
        diff = history.diff_table(entries[pick].after or entries[pick].before, rec, lang=lang)
        if len(diff):
            st.caption(t("history_compare", lang))
            st.dataframe(diff, hide_index=True)
        else:
            st.caption(t("history_same", lang))
        sure = st.checkbox(t("history_confirm", lang), key=f"ed:hist_sure:{k}:{pick}")
        if st.button(t("history_restore", lang), disabled=not (sure and len(diff)), key=f"ed:restore:{k}"):
            try:
                back = store.restore(sid, pick, expected_version=int(rec.get("version") or 1), editor=editor)
            except (ValidationError, ConflictError, ValueError) as exc:
                st.error(t("editor_error", lang, error=md_error(exc, lang)))
            else:
                st.session_state["ed_open"] = back
                st.session_state["ed_flash"] = t("history_restored", lang, version=back.get("version"))
                st.rerun()
