"""The Data page's editor tab: pick a station, edit it in a form, save it, or mark it closed.

Only arranges widgets. The form holds the version the editor opened; the
store (``store.update(..., expected_version=...)``) refuses a save made
from an older version, and :mod:`pages.common.conflict` then shows both.
The fields of the form and what it changed come from
:mod:`geo.web.views.editing` and :func:`geo.registry.audit.form_changes`.
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo.core import i18n, schema
from geo.core.i18n import t
from geo.core.text import md_error, md_escape
from geo.registry import audit
from geo.registry.store.base import ConflictError, RegistryStore
from geo.registry.validate import ValidationError
from geo.web.views import editing
from geo.web.views.stations import public_table, search_stations, station_labels
from pages.common import conflict, history


def editor_tab(store: RegistryStore, stations: gpd.GeoDataFrame, editor: str | None, lang: str) -> None:
    """The public table without a login; with one, the station picker, its form and its history."""
    if editor is None:
        st.info(t("auth_needed_edit", lang))
        query = st.text_input(t("editor_search", lang), key="pub_query")
        st.dataframe(public_table(search_stations(stations, query), lang=lang), hide_index=True)
        return
    labels = station_labels(search_stations(stations, st.text_input(t("editor_search", lang), key="ed_query")),
                            lang=lang)
    if not labels:
        st.info(t("editor_none", lang))
        return
    ids = list(labels)
    previous = st.session_state.get("ed_sid")
    sid = st.selectbox(t("editor_pick", lang), ids, index=ids.index(previous) if previous in ids else 0,
                       format_func=labels.get, key=f"ed_pick:{lang}")
    st.session_state.ed_sid = sid
    rec = store.get(sid) or {}
    version = int(rec.get("version") or 1)
    # The form holds the version this editor opened, not whatever is
    # stored now: a save from a stale form must reach the store and be
    # refused as a conflict. (With the stored version in the widget keys,
    # the submitted form was replaced by fresh widgets and vanished.)
    opened = st.session_state.get("ed_open")
    if not opened or opened.get("id") != sid:
        opened = st.session_state["ed_open"] = rec
    opened_version = int(opened.get("version") or 1)
    if (st.session_state.get("ed_conflict") or {}).get("id") != sid:
        st.session_state.pop("ed_conflict", None)
    st.caption(t("editor_readonly", lang, id=md_escape(sid), version=opened_version,
                 updated=opened.get("updated_at") or ""))
    if st.session_state.get("ed_flash"):
        st.success(st.session_state.pop("ed_flash"))
    if st.session_state.get("ed_conflict"):
        conflict.conflict_section(store, sid, editor, lang)
    elif version != opened_version:
        st.warning(t("stale_notice", lang, opened=opened_version, now=version))
        if st.button(t("stale_reload", lang), key=f"ed:reload:{sid}:{opened_version}"):
            st.session_state["ed_open"] = rec
            st.rerun()
    k = f"{sid}:{opened_version}:{lang}"  # fresh widgets per station, opened version and language
    values, saved = _form(opened, k, lang)
    closed = st.button(t("editor_mark_closed", lang), disabled=opened.get("status") == "closed",
                       key=f"ed:close:{k}")
    if saved or closed:
        _save(store, sid, audit.form_changes(values, opened) if saved else {"status": "closed"},
              opened_version, editor, lang)
    history.history_section(store, sid, rec, k=k, editor=editor, lang=lang)


def _form(opened: dict, k: str, lang: str) -> tuple[dict, bool]:
    """The edit form, seeded from the opened record; returns its values and whether it was submitted."""
    values: dict = {}

    def label(name: str) -> str:
        return i18n.field_label(name, lang)

    with st.form(f"edit:{k}"):
        f1, f2 = st.columns(2)
        for i, name in enumerate(editing.text_fields(opened.get("kind"))):
            values[name] = (f1 if i % 2 == 0 else f2).text_input(
                label(name), value=str(opened.get(name) or ""), key=f"ed:{name}:{k}")
        s1, s2 = st.columns(2)
        statuses = list(schema.STATUSES)
        values["status"] = s1.selectbox(
            label("status"), statuses,
            index=statuses.index(opened.get("status")) if opened.get("status") in schema.STATUSES else 0,
            format_func=lambda c: i18n.status_label(c, lang), key=f"ed:status:{k}")
        if opened.get("kind") == "driver_home":
            spaces = opened.get("truck_parking_spaces")
            values["truck_parking_spaces"] = s2.number_input(
                label("truck_parking_spaces"), min_value=0, step=1,
                value=None if spaces is None or pd.isna(spaces) else int(spaces), key=f"ed:tps:{k}")
        values["facilities"] = st.multiselect(
            label("facilities"), list(schema.FACILITIES),
            default=[c for c in (opened.get("facilities") or []) if c in schema.FACILITIES],
            format_func=lambda c: i18n.facility_label(c, lang, icon=True), key=f"ed:facilities:{k}")
        values["facilities_other"] = editing.split_list(st.text_input(
            label("facilities_other"), value=schema.LIST_SEP.join(opened.get("facilities_other") or []),
            help=t("editor_facilities_help", lang), key=f"ed:facilities_other:{k}"))
        values["public"] = st.checkbox(label("public"), value=bool(opened.get("public", True)),
                                       help=t("public_help", lang), key=f"ed:public:{k}")
        c1, c2 = st.columns(2)
        values["lon"] = c1.number_input(label("lon"), value=float(opened.get("lon") or 0.0), format="%.6f",
                                        key=f"ed:lon:{k}")
        values["lat"] = c2.number_input(label("lat"), value=float(opened.get("lat") or 0.0), format="%.6f",
                                        key=f"ed:lat:{k}")
        saved = st.form_submit_button(t("editor_save", lang), type="primary")
    return values, saved


def _save(store: RegistryStore, sid: str, changes: dict, opened_version: int, editor: str, lang: str) -> None:
    if not changes:
        st.info(t("editor_unchanged", lang))
        return
    try:
        new = store.update(sid, changes, expected_version=opened_version, editor=editor)
    except ConflictError as exc:
        # Someone else saved this station since it was opened: keep both
        # versions and let the editor choose (pages/common/conflict.py).
        st.session_state["ed_conflict"] = {"id": sid, "current": exc.current, "attempted": exc.attempted}
        st.rerun()
    except (ValidationError, ValueError) as exc:
        st.error(t("editor_error", lang, error=md_error(exc, lang)))
    else:
        st.session_state["ed_open"] = new
        st.session_state["ed_flash"] = t("editor_saved", lang, version=new.get("version"))
        st.rerun()
