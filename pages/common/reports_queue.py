"""Workers' reports on the Data page (editors): the queue, a station's reports, confirm / dismiss / leave open.

Only arranges widgets. The reports are ``store.reports``; a decision is
``store.resolve_reports`` (a confirmation's change is the normal audited
edit, version-checked; every decision is in the audit log); tables,
labels and the fields a confirmation saves come from
:mod:`geo.web.views.reports`. Report texts are shown in tables (plain
text), never as Markdown or HTML.
"""
from __future__ import annotations

import geopandas as gpd
import streamlit as st

from geo.core import schema
from geo.core.i18n import facility_label, status_label, t
from geo.core.text import md_error, md_escape
from geo.registry.reports import REPORT_ACTIONS
from geo.registry.store.base import ConflictError, RegistryStore
from geo.registry.validate import ValidationError
from geo.web.views import reports as views


def reports_queue(store: RegistryStore, stations: gpd.GeoDataFrame, editor: str, lang: str) -> None:
    """The queue of stations with open reports, and a decision on one of them as ``editor``."""
    open_reports = store.reports(statuses=["open"])
    queue = views.report_queue(open_reports, stations)
    with st.expander(t("rq_header", lang, n=len(queue)), expanded=bool(len(queue))):
        st.caption(t("rq_help", lang))
        if st.session_state.get("rq_flash"):
            st.success(st.session_state.pop("rq_flash"))
        _downloads(store, stations, lang)
        if queue.empty:
            st.caption(t("rq_none", lang))
            return
        st.dataframe(views.queue_table(queue, lang=lang), hide_index=True)
        rows = {r["station_id"]: r for _, r in queue.iterrows()}
        sid = st.selectbox(t("rq_pick", lang), list(rows), key=f"rq_pick:{lang}",
                           format_func=lambda s: views.station_choice_label(rows[s], lang=lang))
        row = rows[sid]
        mine = open_reports[open_reports["station_id"] == sid]
        st.dataframe(views.station_reports_table(mine, lang=lang), hide_index=True)
        _decision(store, sid, row, editor, lang)


def _decision(store: RegistryStore, sid: str, row, editor: str, lang: str) -> None:
    rec = store.get(sid) or {}
    version = int(rec.get("version") or 1)
    k = f"{sid}:{row['seen']}:{version}"
    types = st.multiselect(t("rq_answers", lang), list(row["types"]), default=list(row["types"]),
                           format_func=lambda c: views.type_label(c, lang=lang), key=f"rq_types:{k}")
    action = st.radio(t("rq_action", lang), REPORT_ACTIONS, key=f"rq_action:{k}", horizontal=True,
                      format_func=lambda a: t(f"rq_{a}", lang))
    changes = {}
    if action == "confirm":
        keep = t("rq_keep_status", lang)
        status = st.selectbox(t("rq_new_status", lang), [None, *schema.STATUSES], key=f"rq_status:{k}",
                              format_func=lambda s: keep if s is None else status_label(s, lang))
        facilities = st.multiselect(t("rq_facilities", lang), list(schema.FACILITIES),
                                    default=[f for f in rec.get("facilities") or [] if f in schema.FACILITIES],
                                    format_func=lambda f: facility_label(f, lang), key=f"rq_fac:{k}")
        changes = views.confirm_changes(rec, status=status, facilities=facilities)
    reason = st.text_input(t("rq_reason", lang), max_chars=500, key=f"rq_reason:{k}")
    if not st.button(t("rq_apply", lang), key=f"rq_apply:{k}", disabled=not types):
        return
    try:
        done = store.resolve_reports(sid, action, editor=editor, types=types, seen=int(row["seen"]), reason=reason,
                                     changes=changes or None, expected_version=version)
    except (ValidationError, ConflictError, ValueError) as exc:
        st.error(t("rq_error", lang, error=md_error(exc, lang)))
        return
    st.session_state["rq_flash"] = t("rq_done", lang, id=md_escape(sid), n=done["closed"])
    st.session_state.pop("ed_open", None)  # the editor form opens the station afresh
    st.rerun()


def _downloads(store: RegistryStore, stations: gpd.GeoDataFrame, lang: str) -> None:
    st.caption(t("rq_downloads", lang))
    made = {}

    def data(fmt: str) -> bytes:
        # Made only when clicked, once for both buttons of a run.
        if not made:
            made.update(views.report_downloads(store.reports(), stations))
        return made[fmt]

    left, right = st.columns(2)
    left.download_button(t("rq_csv", lang), data=lambda: data("csv"), file_name="station-reports.csv",
                         mime="text/csv", key="rq_dl_csv", on_click="ignore")
    right.download_button(t("rq_geojson", lang), data=lambda: data("geojson"), file_name="station-reports.geojson",
                          mime="application/geo+json", key="rq_dl_geojson", on_click="ignore")
