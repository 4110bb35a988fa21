"""An editor's session: it ends when idle too long, past its time limit, or when the account changes."""
from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

from geo import settings
from geo.registry.auth.accounts import find_account
from geo.registry.auth.errors import SessionExpired


@dataclass(frozen=True)
class EditorSession:
    """One editor's login.

    Attributes
    ----------
    username : str
        The account name, as recorded in the audit log.
    started, last_seen : float
        Unix times of the login and of the latest activity.
    fingerprint : str
        A digest of the account's hash at login: a changed password ends the session.
    """

    username: str
    started: float
    last_seen: float
    fingerprint: str


def _fingerprint(hashed: str) -> str:
    return hashlib.sha256(hashed.encode("utf-8")).hexdigest()[:16]


def start_session(username: str, accounts: Mapping[str, str], now: float | None = None) -> EditorSession:
    """A new session for ``username``, who has just logged in."""
    now = time.time() if now is None else now
    found = find_account(accounts, username)
    if found is None:
        raise SessionExpired("revoked")
    return EditorSession(found[0], now, now, _fingerprint(found[1]))


def check_session(session: EditorSession, accounts: Mapping[str, str], now: float | None = None,
                  idle_s: float | None = None, max_s: float | None = None) -> EditorSession:
    """The session, its activity time set to ``now``, if it is still valid.

    Called on every rerun of the page that edits.

    Parameters
    ----------
    session : EditorSession
    accounts : mapping
        The accounts as loaded now.
    now : float, optional
        Unix time (default the clock).
    idle_s, max_s : float, optional
        Default ``settings.SESSION_IDLE_S`` and ``settings.SESSION_MAX_S``.

    Raises
    ------
    SessionExpired
        ``idle`` after too long without activity, ``absolute`` past the
        session's time limit, ``revoked`` when the account is gone or its
        password changed.
    """
    now = time.time() if now is None else now
    idle_s = settings.SESSION_IDLE_S if idle_s is None else idle_s
    max_s = settings.SESSION_MAX_S if max_s is None else max_s
    if now - session.started >= max_s:
        raise SessionExpired("absolute")
    if now - session.last_seen >= idle_s:
        raise SessionExpired("idle")
    found = find_account(accounts, session.username)
    if found is None or found[0] != session.username or _fingerprint(found[1]) != session.fingerprint:
        raise SessionExpired("revoked")
    return dataclasses.replace(session, last_seen=now)
