"""What a browser sees when a page fails: a bilingual message, never the details.

``serve.py`` hands :func:`show_script_error` to ``st.App(on_script_error=...)``.
Streamlit calls it for an exception a page or a widget callback did not
catch (a bug, or a widget state a client forged), after it has logged the
traceback to the server's log; the page then gets one message in both
languages instead of the exception, its file paths and module names.
``client.showErrorDetails = "none"`` (``.streamlit/config.toml``) covers
what this cannot: ``streamlit run app.py`` without ``serve.py``, or this
handler failing, shows Streamlit's generic message without details.
"""
from __future__ import annotations

import streamlit as st

from geo.core.i18n import t


def show_script_error(exc: Exception) -> bool:
    """Show the bilingual "something went wrong" message in place of ``exc``.

    Parameters
    ----------
    exc : Exception
        The uncaught exception; Streamlit has already logged it with its traceback.

    Returns
    -------
    bool
        True: Streamlit then shows nothing of the exception itself.
    """
    # Both languages: the language choice may be the very thing that failed.
    st.error(f"{t('script_error', 'zh')}\n\n{t('script_error', 'en')}", icon="⚠️")
    return True
