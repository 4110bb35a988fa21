"""The siting page's candidate sites and exclusion areas (sidebar).

Only arranges widgets: reading a candidate file or an exclusion file is
:mod:`geo.web.views.siting`; what the sidebar says of it
:mod:`geo.web.views.siting_inputs`.
"""
from __future__ import annotations

import streamlit as st

from geo.core import i18n
from geo.core.i18n import t
from geo.core.text import md_error
from geo.web.views import siting as sv
from geo.web.views import siting_inputs
from geo.web.views.importing import UPLOAD_TYPES
from pages.common.controls import digest, index, keep, kept


@st.cache_data(max_entries=4, show_spinner=False)
def _candidate_upload(key: str, _data: bytes, filename: str, kind: str, crs: str) -> sv.CandidateUpload:
    return sv.read_candidate_upload(_data, filename, kind, crs)


@st.cache_data(max_entries=4, show_spinner=False)
def _exclusion_upload(key: str, _data: bytes, filename: str):
    return sv.read_exclusion_upload(_data, filename)


def candidate_controls(kind: str, lang: str) -> tuple:
    """Generated candidates or an uploaded file of them; returns ``(candidates or None, cache key)``.

    None means generated; an unreadable file, or one with no accepted row,
    is explained and falls back to generated candidates.
    """
    st.header(t("si_candidates", lang), anchor=False)
    sources = list(sv.CANDIDATE_SOURCES)
    source = keep("si_source", st.radio(
        t("si_source", lang), sources, index=index(sources, kept("si_source", "generated")),
        format_func=lambda s: t(f"si_source_{s}", lang), help=t("si_source_help", lang), key=f"si_source:{lang}"))
    if source != "upload":
        return None, ("generated",)
    file = st.file_uploader(t("si_upload", lang), type=list(UPLOAD_TYPES), key="si_cand_file",
                            help=t("si_upload_rules", lang))
    crs_options = list(sv.CANDIDATE_CRS)
    crs = keep("si_cand_crs", st.selectbox(
        t("si_upload_crs", lang), crs_options, index=index(crs_options, kept("si_cand_crs", "auto")),
        format_func=lambda c: i18n.crs_label(c, lang), key=f"si_cand_crs:{lang}"))
    if file is None:
        st.info(t("si_upload_wait", lang))
        return None, ("generated",)
    data = file.getvalue()
    key = digest(data)
    try:
        upload = _candidate_upload(key, data, file.name, kind, crs)
    except Exception as exc:  # any unreadable file: say why, and go on with generated candidates
        st.error(t("si_upload_error", lang, error=md_error(exc, lang)))
        return None, ("generated",)
    st.markdown(siting_inputs.upload_summary(upload, lang=lang))
    if upload.rejected:
        st.download_button(t("si_download_rejects", lang), data=upload.rejects_csv(),
                           file_name=siting_inputs.rejects_name(file.name), mime="text/csv", on_click="ignore",
                           icon=":material/download:", key="si_dl_rejects")
    if not upload.accepted:
        st.warning(t("si_upload_none", lang))
        return None, ("generated",)
    return upload.candidates, ("upload", key, crs, kind)


def exclusion_controls(lang: str) -> tuple:
    """An optional file of areas where no site may go; returns ``(geometry or None, cache key or None)``."""
    file = st.file_uploader(t("si_exclusions", lang), type=["geojson", "json"], key="si_excl_file",
                            help=t("si_exclusions_help", lang))
    if file is None:
        return None, None
    data = file.getvalue()
    try:
        exclusions, n_polys = _exclusion_upload(digest(data), data, file.name)
    except Exception as exc:  # an unreadable file: say why, and exclude nothing
        st.error(t("si_exclusions_error", lang, error=md_error(exc, lang)))
        return None, None
    st.caption(t("si_exclusions_read", lang, n=n_polys) if n_polys else t("si_exclusions_empty", lang))
    return exclusions, digest(data) if exclusions is not None else None
