"""A save the store refused because someone else saved first: both versions, and a choice.

Only arranges widgets: the refused save is in ``st.session_state.ed_conflict``
(put there by :mod:`pages.common.editor`); what differs and what a re-apply
saves are :mod:`geo.web.views.editing` and :func:`geo.registry.audit.reapply_changes`.
"""
from __future__ import annotations

import streamlit as st

from geo.core.i18n import t
from geo.core.text import md_error
from geo.registry import audit
from geo.registry.store.base import ConflictError, RegistryStore
from geo.registry.validate import ValidationError
from geo.web.views import editing


def conflict_section(store: RegistryStore, sid: str, editor: str, lang: str) -> None:
    """Yours against now stored, with buttons to save yours anyway or to load the stored version."""
    refused = st.session_state["ed_conflict"]
    current, attempted = refused["current"], refused["attempted"]
    st.error(t("conflict_header", lang))
    st.markdown(editing.conflict_detail(attempted, current, store.history(sid), lang=lang))
    table = editing.conflict_table(attempted, current, lang=lang)
    if len(table):
        st.dataframe(table, hide_index=True)
    else:
        st.caption(t("conflict_same", lang))
    again, drop = st.columns(2)
    if again.button(t("conflict_reapply", lang), type="primary", disabled=not len(table), key=f"ed:reapply:{sid}"):
        try:
            new = store.update(sid, audit.reapply_changes(attempted, current),
                               expected_version=int(current["version"]), editor=editor)
        except ConflictError as exc:  # saved again meanwhile: show the newer version instead
            st.session_state["ed_conflict"] = {"id": sid, "current": exc.current, "attempted": exc.attempted}
            st.rerun()
        except (ValidationError, ValueError) as exc:
            st.error(t("editor_error", lang, error=md_error(exc, lang)))
        else:
            del st.session_state["ed_conflict"]
            st.session_state["ed_open"] = new
            st.session_state["ed_flash"] = t("editor_saved", lang, version=new.get("version"))
            st.rerun()
    if drop.button(t("conflict_discard", lang), key=f"ed:discard:{sid}"):
        del st.session_state["ed_conflict"]
        st.session_state.pop("ed_open", None)  # the form opens the stored version
        st.rerun()
