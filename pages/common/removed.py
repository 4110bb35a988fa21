"""Removed and closed stations on the Data page: find one and bring it back.

Only arranges widgets: removed stations are read from the audit log
(:func:`geo.registry.audit.removed_stations`) and restored by
``store.restore``; a closed one is reopened with its status before
closing (``store.set_status``). Choices and tables come from
:mod:`geo.web.views.history`.
"""
from __future__ import annotations

import geopandas as gpd
import streamlit as st

from geo.core import i18n
from geo.core.i18n import t
from geo.core.text import md_error, md_escape
from geo.registry import audit
from geo.registry.store.base import ConflictError, RegistryStore
from geo.registry.validate import ValidationError
from geo.web.views import history


@st.cache_data(max_entries=2, show_spinner=False)
def _removed(_store, stamp: tuple, _present: list):
    # Keyed on the registry stamp: any change (a restore too) reads the log again.
    return audit.removed_stations(_store, _present)


def removed_section(store: RegistryStore, stamp: tuple, stations: gpd.GeoDataFrame, editor: str, lang: str) -> None:
    """Find a removed station in the audit log, or a closed one, and bring it back as ``editor``."""
    with st.expander(t("removed_header", lang)):
        st.caption(t("removed_help", lang))
        if st.session_state.get("rm_flash"):
            st.success(st.session_state.pop("rm_flash"))
        removed = _removed(store, stamp, list(stations["id"]))
        choices = history.removed_choices(removed, stations, lang=lang)
        keys = history.search_choices(choices, st.text_input(t("removed_search", lang), key="rm_query"))
        if not keys:
            st.caption(t("removed_none", lang))
            return
        what, sid = st.selectbox(t("removed_pick", lang), keys, format_func=choices.get, key=f"rm_pick:{lang}")
        if what == "removed":
            row = removed[removed["station_id"] == sid].iloc[0]
            st.dataframe(history.record_table(row["record"], lang=lang), hide_index=True)
            sure = st.checkbox(t("removed_confirm", lang), key=f"rm_sure:{sid}")
            clicked = st.button(t("removed_restore", lang), disabled=not sure, key=f"rm_restore:{sid}")
        else:
            version = int((store.get(sid) or {}).get("version") or 1)
            status = audit.status_before_closing(store.history(sid))
            clicked = st.button(t("removed_reopen", lang, status=i18n.status_label(status, lang)),
                                key=f"rm_reopen:{sid}:{version}")
        if not clicked:
            return
        try:
            if what == "removed":
                back = store.restore(sid, int(row["audit_id"]), editor=editor)
            else:
                back = store.set_status(sid, status, expected_version=version, editor=editor)
        except (ValidationError, ConflictError, ValueError) as exc:
            st.error(t("editor_error", lang, error=md_error(exc, lang)))
        else:
            st.session_state["rm_flash"] = t("removed_restored", lang, id=md_escape(sid), version=back.get("version"))
            st.session_state.pop("ed_open", None)  # this editor's own change: the form opens it afresh
            st.rerun()
