"""The Data page's import tab: upload a file, map its columns, read the report, commit.

Only arranges widgets: reading is :mod:`geo.registry.io.readers`, checking
:mod:`geo.registry.validate`, storing the registry's ``commit_import``, and
what the report shows :mod:`geo.web.views.importing`.
"""
from __future__ import annotations

import geopandas as gpd
import streamlit as st
from streamlit_folium import st_folium

from geo.core import i18n, schema
from geo.core.i18n import t
from geo.core.text import md_error, md_escape, md_text
from geo.registry.io.headers import MAPPABLE_FIELDS, suggest_mapping
from geo.registry.io.readers import ReadError, read_table
from geo.registry.store.base import RegistryStore
from geo.registry.validate import ImportReport, validate_table
from geo.web.maps.boundaries import load_map_boundaries
from geo.web.maps.registry import registry_map
from geo.web.views import importing
from geo.web.views.stations import sample_count

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


def import_tab(store: RegistryStore, stations: gpd.GeoDataFrame, stamp: tuple, editor: str, lang: str) -> None:
    """Upload, check and commit a file as ``editor``; then the import log and the sample's removal."""
    upload = st.file_uploader(t("upload_label", lang), type=list(importing.UPLOAD_TYPES))
    col_kind, col_crs, col_source = st.columns(3)
    # Automatic per row by default (as ``--kind auto``): a fixed default
    # layer silently turned 司机之家 and 法律服务站 rows into rest stations.
    kind = col_kind.selectbox(t("import_kind", lang), ["auto", *schema.KINDS],
                              format_func=lambda c: t("import_kind_auto", lang) if c == "auto"
                              else i18n.kind_label(c, lang), help=t("kind_auto_help", lang),
                              key=f"imp_kind:{lang}")
    crs = col_crs.selectbox(t("import_crs", lang), importing.CRS_CHOICES,
                            format_func=lambda c: i18n.crs_label(c, lang), key=f"imp_crs:{lang}")
    raw = None
    if upload is not None:
        data, filename = upload.getvalue(), upload.name
        file_key = f"{filename}:{len(data)}:{upload.file_id}"
        source = col_source.text_input(t("source_name", lang), value=importing.source_name(filename),
                                       help=t("source_help", lang), key=f"source:{file_key}")
        try:
            raw = _read(data, filename)
        except ReadError as exc:
            st.error(t("read_error", lang, error=md_error(exc, lang)))
    if raw is not None:
        st.caption(importing.read_summary(raw, lang=lang))
        for note in raw.notes:
            st.caption(md_text(note, lang))
        columns = importing.visible_columns(raw.df)
        st.markdown("**" + t("raw_preview", lang, n=min(importing.PREVIEW_ROWS, len(raw.df))) + "**")
        st.dataframe(raw.df[columns].head(importing.PREVIEW_ROWS), hide_index=True)
        mapping = _mapping(columns, file_key, lang)
        with st.spinner():
            report = _validate(data, filename, kind, crs, tuple(sorted(mapping.items())), source, stations, stamp)
        _report(report, filename, lang)
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
    _sample_removal(store, sample_count(stations), editor, lang)


def _mapping(columns: list, file_key: str, lang: str) -> dict[str, str | None]:
    suggested = suggest_mapping(columns)
    mapping: dict[str, str | None] = {}
    with st.expander(t("mapping_header", lang), expanded=False):
        st.caption(t("mapping_help", lang))
        grid = st.columns(4)
        options = [None, *columns]
        for i, field in enumerate(MAPPABLE_FIELDS):
            current = suggested.get(field)
            mapping[field] = grid[i % 4].selectbox(
                i18n.field_label(field, lang), options, index=options.index(current) if current in options else 0,
                format_func=lambda c: t("mapping_none", lang) if c is None else str(c),
                key=f"map:{field}:{file_key}:{lang}")
    return mapping


def _report(report: ImportReport, filename: str, lang: str) -> None:
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
        st.dataframe(importing.in_language(report.rejects, lang=lang), hide_index=True,
                     column_config=importing.report_column_labels(report.rejects, lang=lang))
        st.download_button(t("download_rejects", lang), report.rejects_csv(),
                           file_name=importing.rejects_name(filename), mime="text/csv")
    if len(report.warnings):
        st.markdown(f"**{t('warnings_header', lang)}**")
        st.dataframe(importing.in_language(report.warnings, lang=lang), hide_index=True,
                     column_config=importing.report_column_labels(report.warnings, lang=lang))
    if len(report.accepted):
        st.caption(t("preview_map", lang))
        preview_map = registry_map(report.accepted, lang=lang, boundaries=load_map_boundaries())
        st_folium(preview_map, returned_objects=[], height=380, use_container_width=True, key="import_preview_map")
        with st.expander(t("accepted_header", lang)):
            st.dataframe(importing.accepted_preview(report.accepted), hide_index=True)


def _sample_removal(store: RegistryStore, n_sample: int, editor: str, lang: str) -> None:
    if not n_sample:
        return
    with st.expander(t("sample_remove_header", lang, n=n_sample)):
        st.caption(t("sample_remove_help", lang))
        sure = st.checkbox(t("sample_remove_confirm", lang, n=n_sample), key="sample_remove_confirm")
        if st.button(t("sample_remove_button", lang), disabled=not sure, key="sample_remove"):
            st.success(t("sample_removed", lang, n=store.delete_sample(editor=editor)))
