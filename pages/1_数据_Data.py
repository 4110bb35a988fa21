"""Data page: import a file, check it, commit it; download exports; edit a station.

Run through ``app.py`` (its navigation). The page only
arranges widgets; reading, validation, storage and export are done by ``geo``.
Anyone sees the registry's public content and downloads the public exports;
importing, editing and restoring need an editor login (``geo.registry.auth``, drawn
by ``pages/common/login.py``, shared with the siting page), whose name the
audit log records.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo.registry import audit
from geo.core import i18n, schema
from geo.registry.export import export_bytes, filter_stations
from geo.registry.io.headers import MAPPABLE_FIELDS, suggest_mapping
from geo.core.i18n import t
from geo.registry.io.readers import ReadError, read_table
from geo.web.maps.builders import load_map_boundaries, registry_map
from geo.core.regions import load_boundaries
from geo.registry.store.gpkg import ConflictError
from geo.core.text import md_error, md_escape, md_text
from geo.registry.validate import ValidationError, validate_table
from pages.common import login, shell

_CRS_CHOICES = ("auto", "wgs84", "gcj02", "bd09")
_PREVIEW_ROWS = 20


@st.cache_data(max_entries=8, show_spinner=False)
def _read(data: bytes, filename: str):
    return read_table(data, filename=filename)


@st.cache_data(max_entries=8, show_spinner=False)
def _validate(data: bytes, filename: str, kind: str, crs: str, mapping: tuple, source: str,
              _existing, stamp: tuple):
    # Keyed on the registry stamp too: after a commit the same file merges
    # with what it just wrote instead of reporting everything as new.
    return validate_table(read_table(data, filename=filename), kind, crs=crs, mapping=dict(mapping),
                          source=source, existing=_existing)


@st.cache_data(max_entries=16, show_spinner=False)
def _export(_stations, key: tuple, fmt: str, crs: str, lang: str = "zh") -> bytes:
    # XLSX is for people: its column headers are in the page's language.
    return export_bytes(_stations, fmt, crs=crs, lang=lang)


@st.cache_data(show_spinner=False)
def _cities() -> list[tuple[str, str]]:
    cities = load_boundaries("city")
    return list(zip(cities["adcode"], cities["name"]))


_PUBLIC_COLUMNS = ["id", "name", "kind", "status", "city", "district", "address", "opening_hours", "phone",
                   "facilities", "is_sample"]


def _public_table(stations, lang: str) -> None:
    """The registry as anyone may see it (stations already redacted), searchable by name or id."""
    query = st.text_input(t("editor_search", lang), key="pub_query").strip()
    pool = stations
    if query:
        pool = stations[stations["name"].fillna("").str.contains(query, case=False, regex=False)
                        | stations["id"].fillna("").str.contains(query, case=False, regex=False)]
    table = pd.DataFrame(pool[_PUBLIC_COLUMNS]).assign(
        kind=lambda d: d["kind"].map(lambda c: i18n.kind_label(c, lang)),
        status=lambda d: d["status"].map(lambda c: i18n.status_label(c, lang)),
        facilities=lambda d: d["facilities"].map(
            lambda codes: "、".join(i18n.facility_label(c, lang) for c in (codes or []))))
    st.dataframe(table.rename(columns={c: i18n.field_label(c, lang) for c in _PUBLIC_COLUMNS}), hide_index=True)


@st.cache_data(max_entries=2, show_spinner=False)
def _removed(_store, stamp: tuple, _present: list):
    # Keyed on the registry stamp: any change (a restore too) reads the log again.
    return audit.removed_stations(_store, _present)


def _removed_section(store, stamp: tuple, stations, editor: str, lang: str) -> None:
    """Find a removed station in the audit log, or a closed one, and bring it back."""
    with st.expander(t("removed_header", lang)):
        st.caption(t("removed_help", lang))
        if st.session_state.get("rm_flash"):
            st.success(st.session_state.pop("rm_flash"))
        removed = _removed(store, stamp, list(stations["id"]))
        options: dict[tuple[str, str], str] = {}
        for r in removed.itertuples():
            options[("removed", r.station_id)] = t(
                "removed_option_removed", lang, name=r.name, kind=i18n.kind_label(r.kind, lang),
                at=str(r.removed_at)[:16].replace("T", " "), editor=r.editor, id=r.station_id)
        closed = stations[stations["status"] == "closed"]
        for sid, name, kind_ in zip(closed["id"], closed["name"], closed["kind"]):
            options[("closed", sid)] = t("removed_option_closed", lang, name=name,
                                         kind=i18n.kind_label(kind_, lang), id=sid)
        query = st.text_input(t("removed_search", lang), key="rm_query").strip().casefold()
        keys = [k for k, label in options.items() if query in label.casefold()][:500]
        if not keys:
            st.caption(t("removed_none", lang))
            return
        what, sid = st.selectbox(t("removed_pick", lang), keys, format_func=options.get, key=f"rm_pick:{lang}")
        if what == "removed":
            row = removed[removed["station_id"] == sid].iloc[0]
            record = row["record"]
            st.dataframe(pd.DataFrame(
                [(i18n.field_label(f.name, lang), audit.field_text(record.get(f.name))) for f in schema.FIELDS
                 if audit.field_text(record.get(f.name))],
                columns=[t("history_field", lang), t("history_then", lang)]), hide_index=True)
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


def _conflict_section(store, sid: str, editor: str, lang: str) -> None:
    """A save refused because someone else saved first: both versions, and a way to save this one anyway."""
    conflict = st.session_state["ed_conflict"]
    current, attempted = conflict["current"], conflict["attempted"]
    who, at = audit.saved_by(store.history(sid), int(current["version"])) or ("?", current.get("updated_at") or "")
    st.error(t("conflict_header", lang))
    st.markdown(t("conflict_detail", lang, opened=attempted.get("version"), now=current["version"],
                    who=md_escape(who), at=str(at)[:16].replace("T", " ") + " UTC"))
    rows = [(i18n.field_label(name, lang), yours, stored)
            for name, yours, stored in audit.conflict_fields(attempted, current)]
    if rows:
        st.dataframe(pd.DataFrame(rows, columns=[t("history_field", lang), t("conflict_yours", lang),
                                                 t("conflict_stored", lang)]), hide_index=True)
    else:
        st.caption(t("conflict_same", lang))
    again, drop = st.columns(2)
    if again.button(t("conflict_reapply", lang), type="primary", disabled=not rows, key=f"ed:reapply:{sid}"):
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


lang = shell.language_switch()
st.title(t("data_title", lang))
st.caption(t("data_intro", lang))

editor = login.editor_login(lang)
# A logged-in editor works on full records (its downloads redact by
# themselves); without a login nothing private reaches this page.
store, stamp, stations = shell.open_registry(lang, public=editor is None)

tab_import, tab_download, tab_edit = st.tabs(
    [t("import_header", lang), t("downloads_header", lang), t("editor_header", lang)])

# --------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------
with tab_import:
    if editor is None:
        st.info(t("auth_needed_import", lang))
    else:
        upload = st.file_uploader(t("upload_label", lang), type=["csv", "xlsx", "geojson", "json", "gpkg", "zip"])
        col_kind, col_crs, col_source = st.columns(3)
        # Automatic per row by default (as ``--kind auto``): a fixed default
        # layer silently turned 司机之家 and 法律服务站 rows into rest stations.
        kind = col_kind.selectbox(t("import_kind", lang), ["auto", *schema.KINDS],
                                  format_func=lambda c: t("import_kind_auto", lang) if c == "auto"
                                  else i18n.kind_label(c, lang), help=t("kind_auto_help", lang),
                                  key=f"imp_kind:{lang}")
        crs = col_crs.selectbox(t("import_crs", lang), _CRS_CHOICES, format_func=lambda c: i18n.crs_label(c, lang),
                           key=f"imp_crs:{lang}")

        raw = None
        if upload is not None:
            data, filename = upload.getvalue(), upload.name
            file_key = f"{filename}:{len(data)}:{upload.file_id}"
            source = col_source.text_input(t("source_name", lang), value=Path(filename).stem,
                                           help=t("source_help", lang), key=f"source:{file_key}")
            try:
                raw = _read(data, filename)
            except ReadError as exc:
                st.error(t("read_error", lang, error=md_error(exc, lang)))
        if raw is not None:
            columns = [c for c in raw.df.columns if not str(c).startswith("__")]
            encoding = f", {raw.encoding}" if raw.encoding else ""
            st.caption(t("read_info", lang, rows=len(raw.df), cols=len(columns), format=raw.format, encoding=encoding))
            for note in raw.notes:
                st.caption(md_text(note, lang))
            st.markdown("**" + t("raw_preview", lang, n=min(_PREVIEW_ROWS, len(raw.df))) + "**")
            st.dataframe(raw.df[columns].head(_PREVIEW_ROWS), hide_index=True)

            suggested = suggest_mapping(columns)
            mapping: dict[str, str | None] = {}
            with st.expander(t("mapping_header", lang), expanded=False):
                st.caption(t("mapping_help", lang))
                grid = st.columns(4)
                options = [None, *columns]
                for i, field in enumerate(MAPPABLE_FIELDS):
                    current = suggested.get(field)
                    mapping[field] = grid[i % 4].selectbox(
                        i18n.field_label(field, lang), options,
                        index=options.index(current) if current in options else 0,
                        format_func=lambda c: t("mapping_none", lang) if c is None else str(c),
                        key=f"map:{field}:{file_key}:{lang}")

            with st.spinner():
                report = _validate(data, filename, kind, crs, tuple(sorted(mapping.items())), source,
                                   stations, stamp)

            st.subheader(t("report_header", lang))
            m1, m2, m3, m4 = st.columns(4)
            m1.metric(t("report_rows", lang), report.rows)
            m2.metric(t("report_accepted", lang), len(report.accepted))
            m3.metric(t("report_rejected", lang), len(report.rejects))
            m4.metric(t("report_warnings", lang), len(report.warnings))
            # A file's own CRS name (a GeoJSON "crs" member) is data: shown as text.
            st.info(t("report_crs", lang, crs=md_escape(i18n.crs_label(report.crs_used, lang)),
                      note=md_text(report.crs_note, lang)))

            if len(report.rejects):
                st.markdown(f"**{t('rejects_header', lang)}**")
                st.dataframe(report.rejects.assign(message=report.rejects["message"].map(lambda m: i18n.pick(m, lang))),
                             hide_index=True)
                st.download_button(t("download_rejects", lang), report.rejects_csv(),
                                   file_name=f"{Path(filename).stem}_rejected.csv", mime="text/csv")
            if len(report.warnings):
                st.markdown(f"**{t('warnings_header', lang)}**")
                st.dataframe(report.warnings.assign(message=report.warnings["message"].map(lambda m: i18n.pick(m, lang))),
                             hide_index=True)
            if len(report.accepted):
                st.caption(t("preview_map", lang))
                preview_map = registry_map(report.accepted, lang=lang, boundaries=load_map_boundaries())
                st_folium(preview_map, returned_objects=[], height=380, use_container_width=True,
                          key="import_preview_map")
                with st.expander(t("accepted_header", lang)):
                    preview = report.accepted.drop(columns="geometry").head(_PREVIEW_ROWS)
                    st.dataframe(pd.DataFrame(preview), hide_index=True)

            if st.button(t("commit_button", lang), type="primary", disabled=not len(report.accepted)):
                try:
                    counts = store.commit_import(report, editor=editor)
                except Exception as exc:  # the store rolls back; the user needs the reason
                    st.error(t("commit_error", lang, error=md_error(exc, lang)))
                else:
                    st.success(t("commit_done", lang, **counts))

        log = store.import_log()
        if len(log):
            with st.expander(t("import_log_header", lang)):
                st.dataframe(log, hide_index=True)

        n_sample = int(stations["is_sample"].fillna(False).astype(bool).sum())
        if n_sample:
            with st.expander(t("sample_remove_header", lang, n=n_sample)):
                st.caption(t("sample_remove_help", lang))
                sure = st.checkbox(t("sample_remove_confirm", lang, n=n_sample), key="sample_remove_confirm")
                if st.button(t("sample_remove_button", lang), disabled=not sure, key="sample_remove"):
                    removed = store.delete_sample(editor=editor)
                    st.success(t("sample_removed", lang, n=removed))

# --------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------
with tab_download:
    st.caption(t("downloads_help", lang))
    d1, d2, d3 = st.columns(3)
    dl_kinds = d1.multiselect(t("filter_kinds", lang), list(schema.KINDS), default=list(schema.KINDS),
                              format_func=lambda c: i18n.kind_label(c, lang), key=f"dl_kinds:{lang}")
    cities = _cities()
    city_names = dict(cities)
    dl_region = d2.selectbox(t("filter_city", lang), [None, *city_names],
                             format_func=lambda c: t("filter_city_all", lang) if c is None else city_names[c],
                             key=f"dl_region:{lang}")
    dl_statuses = d3.multiselect(t("filter_status", lang), list(schema.STATUSES), default=list(schema.STATUSES),
                                 format_func=lambda c: i18n.status_label(c, lang), key=f"dl_statuses:{lang}")
    chosen = filter_stations(stations, kinds=dl_kinds or None, region=dl_region, statuses=dl_statuses or None)
    if not dl_kinds or not dl_statuses:
        chosen = chosen.iloc[0:0]
    st.markdown(f"**{t('download_count', lang, n=len(chosen))}**")
    key = (stamp, tuple(dl_kinds), dl_region, tuple(dl_statuses))
    stem = "stations" + (f"_{dl_region}" if dl_region else "")
    b1, b2, b3, b5, b4 = st.columns(5)
    for col, label, fmt, crs_name, name, mime in (
        (b1, "download_geojson", "geojson", "wgs84", f"{stem}.geojson", "application/geo+json"),
        (b2, "download_gpkg", "gpkg", "wgs84", f"{stem}.gpkg", "application/geopackage+sqlite3"),
        (b3, "download_csv", "csv", "wgs84", f"{stem}.csv", "text/csv"),
        (b5, "download_xlsx", "xlsx", "wgs84", f"{stem}.xlsx",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (b4, "download_geojson_gcj", "geojson", "gcj02", f"{stem}_gcj02.geojson", "application/geo+json"),
    ):
        # A callable: the file is only made when someone clicks.
        col.download_button(t(label, lang),
                            data=lambda g=chosen, k=key, f=fmt, c=crs_name, lg=lang: _export(g, k, f, c, lg),
                            file_name=name, mime=mime, disabled=not len(chosen), key=f"dl:{label}",
                            on_click="ignore")

# --------------------------------------------------------------------------
# Editor
# --------------------------------------------------------------------------
with tab_edit:
    if editor is None:
        st.info(t("auth_needed_edit", lang))
        _public_table(stations, lang)
    else:
        query = st.text_input(t("editor_search", lang), key="ed_query").strip()
        pool = stations
        if query:
            pool = stations[stations["name"].fillna("").str.contains(query, case=False, regex=False)
                            | stations["id"].fillna("").str.contains(query, case=False, regex=False)]
        labels = {sid: f"{name} · {i18n.kind_label(kind_, lang)} · {sid}"
                  for sid, name, kind_ in zip(pool["id"], pool["name"], pool["kind"])}
        if not labels:
            st.info(t("editor_none", lang))
        else:
            ids = list(labels)[:500]
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
                _conflict_section(store, sid, editor, lang)
            elif version != opened_version:
                st.warning(t("stale_notice", lang, opened=opened_version, now=version))
                if st.button(t("stale_reload", lang), key=f"ed:reload:{sid}:{opened_version}"):
                    st.session_state["ed_open"] = rec
                    st.rerun()
            k = f"{sid}:{opened_version}:{lang}"  # fresh widgets per station, opened version and language
            with st.form(f"edit:{k}"):
                f1, f2 = st.columns(2)
                text_fields = ["name", "subtype", "address", "opening_hours", "operator", "phone", "title",
                               "verified_at", "notes"]
                if opened.get("kind") == "legal_aid":
                    text_fields.insert(5, "lawyer_hours")
                values: dict = {}
                for i, name in enumerate(text_fields):
                    values[name] = (f1 if i % 2 == 0 else f2).text_input(
                        i18n.field_label(name, lang), value=str(opened.get(name) or ""), key=f"ed:{name}:{k}")
                s1, s2 = st.columns(2)
                values["status"] = s1.selectbox(
                    i18n.field_label("status", lang), list(schema.STATUSES),
                    index=list(schema.STATUSES).index(opened.get("status"))
                    if opened.get("status") in schema.STATUSES else 0,
                    format_func=lambda c: i18n.status_label(c, lang), key=f"ed:status:{k}")
                if opened.get("kind") == "driver_home":
                    spaces = opened.get("truck_parking_spaces")
                    values["truck_parking_spaces"] = s2.number_input(
                        i18n.field_label("truck_parking_spaces", lang), min_value=0, step=1,
                        value=None if spaces is None or pd.isna(spaces) else int(spaces), key=f"ed:tps:{k}")
                values["facilities"] = st.multiselect(
                    i18n.field_label("facilities", lang), list(schema.FACILITIES),
                    default=[c for c in (opened.get("facilities") or []) if c in schema.FACILITIES],
                    format_func=lambda c: i18n.facility_label(c, lang, icon=True), key=f"ed:facilities:{k}")
                other = st.text_input(i18n.field_label("facilities_other", lang),
                                      value=schema.LIST_SEP.join(opened.get("facilities_other") or []),
                                      help=t("editor_facilities_help", lang), key=f"ed:facilities_other:{k}")
                values["facilities_other"] = [s.strip() for s in other.split(schema.LIST_SEP) if s.strip()]
                values["public"] = st.checkbox(i18n.field_label("public", lang),
                                               value=bool(opened.get("public", True)),
                                               help=t("public_help", lang), key=f"ed:public:{k}")
                c1, c2 = st.columns(2)
                values["lon"] = c1.number_input(i18n.field_label("lon", lang), value=float(opened.get("lon") or 0.0),
                                                format="%.6f", key=f"ed:lon:{k}")
                values["lat"] = c2.number_input(i18n.field_label("lat", lang), value=float(opened.get("lat") or 0.0),
                                                format="%.6f", key=f"ed:lat:{k}")
                saved = st.form_submit_button(t("editor_save", lang), type="primary")
            closed = st.button(t("editor_mark_closed", lang), disabled=opened.get("status") == "closed",
                               key=f"ed:close:{k}")

            changes = audit.form_changes(values, opened) if saved else {"status": "closed"} if closed else {}
            if saved or closed:
                if not changes:
                    st.info(t("editor_unchanged", lang))
                else:
                    try:
                        new = store.update(sid, changes, expected_version=opened_version, editor=editor)
                    except ConflictError as exc:
                        # Someone else saved this station since it was opened: keep
                        # both versions and let the editor choose (see _conflict_section).
                        st.session_state["ed_conflict"] = {"id": sid, "current": exc.current,
                                                           "attempted": exc.attempted}
                        st.rerun()
                    except (ValidationError, ValueError) as exc:
                        st.error(t("editor_error", lang, error=md_error(exc, lang)))
                    else:
                        st.session_state["ed_open"] = new
                        st.session_state["ed_flash"] = t("editor_saved", lang, version=new.get("version"))
                        st.rerun()

            with st.expander(t("history_header", lang)):
                hist = store.history(sid)
                if hist.empty:
                    st.caption(t("history_none", lang))
                else:
                    st.dataframe(pd.DataFrame({
                        t("history_at", lang): hist["at"],
                        t("history_editor", lang): hist["editor"],
                        t("history_action", lang): hist["action"].map(lambda a: t(f"action_{a}", lang)),
                        t("history_version", lang): hist["version"],
                        t("history_changed", lang): hist["changed"].map(
                            lambda names: "、".join(i18n.field_label(n, lang) for n in names)),
                    }), hide_index=True)
                    entries = {int(r.audit_id): r for r in hist.itertuples()}
                    pick = st.selectbox(
                        t("history_pick", lang), list(entries),
                        format_func=lambda a: t(
                            "history_option", lang,
                            version=entries[a].version if pd.notna(entries[a].version) else t("history_removed", lang),
                            at=entries[a].at, editor=entries[a].editor, action=t(f"action_{entries[a].action}", lang)),
                        key=f"ed:hist:{k}")
                    then = entries[pick].after or entries[pick].before
                    diff = [(i18n.field_label(name, lang), old, new)
                            for name, old, new in audit.changed_fields(then, rec)]
                    if diff:
                        st.caption(t("history_compare", lang))
                        st.dataframe(pd.DataFrame(diff, columns=[t("history_field", lang), t("history_then", lang),
                                                                 t("history_now", lang)]), hide_index=True)
                    else:
                        st.caption(t("history_same", lang))
                    sure = st.checkbox(t("history_confirm", lang), key=f"ed:hist_sure:{k}:{pick}")
                    if st.button(t("history_restore", lang), disabled=not (sure and diff), key=f"ed:restore:{k}"):
                        try:
                            back = store.restore(sid, pick, expected_version=version, editor=editor)
                        except (ValidationError, ConflictError, ValueError) as exc:
                            st.error(t("editor_error", lang, error=md_error(exc, lang)))
                        else:
                            st.session_state["ed_open"] = back
                            st.session_state["ed_flash"] = t("history_restored", lang, version=back.get("version"))
                            st.rerun()

        _removed_section(store, stamp, stations, editor, lang)
