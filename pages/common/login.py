"""The editor login, shared by every page that changes something.

One login per browser tab: the session (:class:`geo.registry.auth.sessions.EditorSession`)
lives in ``st.session_state.editor_session``, so logging in on the Data
page also opens the siting page's scenario controls, and logging out on
either closes both. Accounts, passwords, rate limits and time-outs are
:mod:`geo.registry.auth`; this module only draws the form and the logged-in line.
"""
from __future__ import annotations

import streamlit as st

from geo.registry.auth.accounts import TABLE, load_accounts
from geo.registry.auth.errors import AccountsError, AuthError, SessionExpired
from geo.registry.auth.login import authenticate, client_address
from geo.registry.store.pg_login import login_guard
from geo.registry.auth.sessions import check_session, start_session
from geo.core.i18n import t
from geo.core.text import md_error, md_escape


def _secret_editors() -> dict:
    """The ``[editors]`` table of Streamlit's secrets, when there is a secrets file."""
    try:
        if st.secrets.load_if_toml_exists():
            return dict(st.secrets.get(TABLE) or {})
    except Exception:  # a broken secrets file must not take the public page down
        pass
    return {}


def _client_address() -> str | None:
    """The client's address for the failed-login limit: the connection's, or a trusted proxy's header."""
    try:
        return client_address(st.context.ip_address, st.context.headers)
    except Exception:  # no client context (a bare script run)
        return None


def editor_login(lang: str, *, help_key: str = "auth_login_help", key: str = "auth") -> str | None:
    """Login or logout where it is called; returns the logged-in editor's name, or None.

    Call it on every rerun, before any editing widget is drawn: an idle or
    too old session, or one whose account was removed or whose password
    changed, ends here, and the action it came with is not carried out.

    Parameters
    ----------
    lang : str
    help_key : str
        String key of the line under the login header (what a login is for on this page).
    key : str
        Prefix of the widgets' keys (one login form per page).

    Returns
    -------
    str or None
    """
    try:
        accounts = load_accounts(secrets=_secret_editors())
        broken = False
    except AccountsError:
        # The reason names accounts and paths: the public sees only that
        # editing is locked; ``python -m geo user list`` tells the admin why.
        accounts, broken = {}, True
    session = st.session_state.get("editor_session")
    if session is not None:
        try:
            session = check_session(session, accounts)
        except SessionExpired as exc:
            del st.session_state["editor_session"]
            st.warning(md_error(exc, lang))
            session = None
        else:
            st.session_state.editor_session = session
    if session is not None:
        who, out = st.columns([5, 1], vertical_alignment="center")
        who.caption(t("auth_signed_in", lang, user=md_escape(session.username)))
        if out.button(t("auth_logout", lang), key=f"{key}_logout"):
            del st.session_state["editor_session"]
            st.session_state.auth_flash = "auth_logged_out"
            st.rerun()
        return session.username
    if st.session_state.get("auth_flash"):
        st.info(t(st.session_state.pop("auth_flash"), lang))
    if broken:
        st.error(t("auth_accounts_error", lang))
        return None
    if not accounts:
        st.info(t("auth_no_accounts", lang))
        return None
    with st.expander(t("auth_login_header", lang)):
        st.caption(t(help_key, lang))
        with st.form(f"{key}_login", clear_on_submit=True):
            username = st.text_input(t("auth_username", lang), key=f"{key}_user", autocomplete="username")
            password = st.text_input(t("auth_password", lang), type="password", key=f"{key}_password",
                                     autocomplete="current-password")
            submitted = st.form_submit_button(t("auth_login_button", lang), type="primary")
    if submitted:
        try:
            name = authenticate(username, password, accounts, login_guard(), address=_client_address())
        except AuthError as exc:  # wrong name or password, or locked: never which name exists
            st.error(md_error(exc, lang))
        else:
            st.session_state.editor_session = start_session(name, accounts)
            st.rerun()
    return None
