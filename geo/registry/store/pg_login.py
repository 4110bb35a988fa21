"""Failed-login counts in the PostGIS registry's database, shared by every app server of a deployment.

With a GeoPackage registry the counts live in a small SQLite file beside
the accounts (:class:`~geo.registry.auth.login.LoginGuard`), shared by the
processes of one machine. Servers behind a load balancer share no folder,
so with a PostGIS registry they count in its database instead
(``login_failures`` and ``login_lockouts``, made by migration 2 of
:mod:`geo.registry.store.pg_schema`): a name locked through one server is
locked on all of them. :func:`login_guard` chooses.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from geo import settings
from geo.registry.auth.errors import AuthError
from geo.registry.auth.login import LoginGuard
from geo.registry.store.base import RegistryUnavailableError
from geo.registry.store.pg import PostgisStore, is_database_url, pooled

#: Advisory lock that queues failure counting, as ``BEGIN IMMEDIATE`` does in the SQLite file.
_COUNT_LOCK = 0x6C6F_6769_6E73  # "logins"


def _unavailable() -> AuthError:
    # Fail closed, and say nothing about the database to whoever is logging in.
    return AuthError("登录暂不可用：无法记录登录失败次数，请联系管理员。",
                     "Login is unavailable: failed logins cannot be recorded; tell the administrator.")


class PostgisLoginGuard(LoginGuard):
    """:class:`~geo.registry.auth.login.LoginGuard` counting in the registry's PostgreSQL database.

    Parameters
    ----------
    url : str
        The registry's ``postgresql://`` URL.
    clock, max_failures, max_failures_per_address, window_s, lockout_s : optional
        As for :class:`~geo.registry.auth.login.LoginGuard`.
    """

    def __init__(self, url: str, clock: Callable[[], float] = time.time, max_failures: int | None = None,
                 max_failures_per_address: int | None = None, window_s: float | None = None,
                 lockout_s: float | None = None):
        super().__init__(clock=clock, max_failures=max_failures, max_failures_per_address=max_failures_per_address,
                         window_s=window_s, lockout_s=lockout_s)
        self.url = url
        try:
            PostgisStore(url)  # the tables exist (migrations), or the database says why not
        except RegistryUnavailableError:
            raise _unavailable() from None

    def _run(self, work: Callable):
        try:
            with pooled(self.url) as conn:
                return work(conn)
        except RegistryUnavailableError:
            raise _unavailable() from None

    def locked_until(self, username: str, address: str | None = None) -> float | None:
        """Unix time until which ``username`` (or ``address``) is locked, or ``None``."""
        keys = [k for k, _ in self._keys(username, address)]
        now = self.clock()
        return self._run(lambda conn: conn.execute(
            "SELECT max(until) FROM login_lockouts WHERE until > %s AND key = ANY(%s)", (now, keys)).fetchone()[0])

    def record_failure(self, username: str, address: str | None = None) -> float | None:
        """Count one failed login; returns the lock's end when this failure locked a key."""
        now = self.clock()
        keys = self._keys(username, address)

        def count(conn) -> float | None:
            # One counter at a time across every server: two failures at once are both counted.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_COUNT_LOCK,))
            conn.execute("DELETE FROM login_failures WHERE at <= %s", (now - self.window_s,))
            conn.execute("DELETE FROM login_lockouts WHERE until <= %s", (now,))
            locked = None
            for key, limit in keys:
                conn.execute("INSERT INTO login_failures (key, at) VALUES (%s, %s)", (key, now))
                n = conn.execute("SELECT count(*) FROM login_failures WHERE key = %s", (key,)).fetchone()[0]
                if n >= limit:
                    until = now + self.lockout_s
                    conn.execute("INSERT INTO login_lockouts (key, until) VALUES (%s, %s) "
                                 "ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until", (key, until))
                    conn.execute("DELETE FROM login_failures WHERE key = %s", (key,))
                    locked = max(locked or 0.0, until)
            return locked
        return self._run(count)

    def record_success(self, username: str) -> None:
        """Forget the name's failures after a good login (an address's count stays)."""
        key = self._keys(username, None)[0][0]
        self._run(lambda conn: conn.execute("DELETE FROM login_failures WHERE key = %s", (key,)))

    def failures(self, username: str, address: str | None = None) -> int:
        """Failures counted now against ``username`` (or ``address``, if given), within the window."""
        key = self._keys(username, address)[-1][0]
        since = self.clock() - self.window_s
        return self._run(lambda conn: conn.execute(
            "SELECT count(*) FROM login_failures WHERE key = %s AND at > %s", (key, since)).fetchone()[0])


def login_guard() -> LoginGuard:
    """The failed-login counter of this deployment.

    In the registry's database when the registry is PostGIS (every server
    shares it) and no ``GEO_LOGIN_STATE`` file is set; else the SQLite file.
    """
    location = settings.registry_location()
    if is_database_url(location) and settings.login_state_path() is None:
        return PostgisLoginGuard(location)
    return LoginGuard()
