"""Data page: import a file, check it, commit it; download exports; edit a station.

Run through ``app.py`` (its navigation). The page only arranges its tabs;
each tab is a module of ``pages/common/`` (``import_wizard``, ``downloads``,
``editor`` with ``conflict`` and ``history``, ``removed``), and reading,
validation, storage and export are done by ``geo``. Anyone sees the
registry's public content and downloads the public exports; importing,
editing and restoring need an editor login (``geo.registry.auth``, drawn
by ``pages/common/login.py``, shared with the siting page), whose name the
audit log records.
"""
from __future__ import annotations

import streamlit as st

from geo.core.i18n import t
from pages.common import login, shell
from pages.common.downloads import downloads_tab
from pages.common.editor import editor_tab
from pages.common.import_wizard import import_tab
from pages.common.removed import removed_section
from pages.common.reports_queue import reports_queue

lang = shell.language_switch()
st.title(t("data_title", lang))
st.caption(t("data_intro", lang))

editor = login.editor_login(lang)
# A logged-in editor works on full records (its downloads redact by
# themselves); without a login nothing private reaches this page.
store, stamp, stations = shell.open_registry(lang, public=editor is None)

tab_import, tab_download, tab_edit = st.tabs(
    [t("import_header", lang), t("downloads_header", lang), t("editor_header", lang)])

with tab_import:
    if editor is None:
        st.info(t("auth_needed_import", lang))
    else:
        import_tab(store, stations, stamp, editor, lang)

with tab_download:
    downloads_tab(stations, stamp, lang)

with tab_edit:
    if editor is not None:
        reports_queue(store, stations, editor, lang)  # workers' reports first: they need an answer
    editor_tab(store, stations, editor, lang)
    if editor is not None:
        removed_section(store, stamp, stations, editor, lang)
