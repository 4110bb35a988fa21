"""Checking a login: failed logins counted and locked, password checks on a bounded pool, the client's address.

Failed logins are counted per user name (and per client address) in a
small SQLite file shared by every session of the server and kept across
restarts (:class:`LoginGuard`). Unknown names are checked against a dummy
hash, so a login takes as long for them as for real ones.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from geo import settings
from geo.core.files import private_dir
from geo.registry.auth.accounts import accounts_path, find_account
from geo.registry.auth.errors import AuthError, LockedError, LoginBusy, LoginFailed
from geo.registry.auth.passwords import dummy_hash, verify_password
from geo.registry.transactions import committed

_STATE_DDL = """
    CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS failures_key ON failures (key, at);
    CREATE TABLE IF NOT EXISTS lockouts (key TEXT PRIMARY KEY, until REAL NOT NULL);
"""


# --------------------------------------------------------------------------
# Password checks on a bounded pool of threads
# --------------------------------------------------------------------------

class VerificationPool:
    """Runs password checks on a few worker threads and refuses work beyond a bound.

    Each argon2 check takes ``settings.ARGON2_MEMORY_KIB`` of memory and a
    third of a second of a core. Run in every caller's thread, 60 logins at
    once took 3.8 GB and both cores, stalling every other user for seconds.
    Here at most ``workers`` checks run and ``queue`` more wait; a caller
    beyond that gets :class:`LoginBusy` at once instead of queueing
    without bound.

    Parameters
    ----------
    workers : int
        Checks that run at once (at least 1).
    queue : int
        Checks that may wait for a worker (at least 0).
    """

    def __init__(self, *, workers: int, queue: int):
        self.workers, self.queue = max(1, int(workers)), max(0, int(queue))
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="geo-login-check")
        self._slots = threading.BoundedSemaphore(self.workers + self.queue)
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Checks running or waiting now."""
        return self._in_flight

    def _release(self, _future=None) -> None:
        with self._lock:
            self._in_flight -= 1
        self._slots.release()

    def run(self, fn: Callable[..., bool], /, *args) -> bool:
        """``fn(*args)`` on a worker thread; its result, or its exception.

        Raises
        ------
        LoginBusy
            At once, when ``workers + queue`` checks are already running or waiting.
        """
        if not self._slots.acquire(blocking=False):
            raise LoginBusy()
        with self._lock:
            self._in_flight += 1
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._release()
            raise
        # Released when the check ends, even if the caller stopped waiting for it.
        future.add_done_callback(self._release)
        return future.result()


_POOLS: dict[tuple[int, int], VerificationPool] = {}
_POOLS_LOCK = threading.Lock()


def verification_pool() -> VerificationPool:
    """The server's pool, sized by ``settings.LOGIN_VERIFY_WORKERS`` and ``settings.LOGIN_VERIFY_QUEUE``."""
    key = (settings.LOGIN_VERIFY_WORKERS, settings.LOGIN_VERIFY_QUEUE)
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = VerificationPool(workers=key[0], queue=key[1])
        return _POOLS[key]


# --------------------------------------------------------------------------
# The client's address
# --------------------------------------------------------------------------

def _header_values(headers, name: str) -> list[str]:
    """Every value of header ``name`` (any case) in a mapping, Streamlit's headers or (name, value) pairs."""
    if headers is None:
        return []
    if hasattr(headers, "get_all"):  # st.context.headers: repeated headers kept
        return [str(v) for v in headers.get_all(name)]
    pairs: Iterable = headers.items() if isinstance(headers, Mapping) else headers
    return [str(v) for k, v in pairs if str(k).lower() == name.lower()]


def _parse_ip(text: str) -> str | None:
    """The IP address in one header entry (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``"[::1]"``), canonical."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 has several colons
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address(peer: str | None, headers=None, *, header: str | None = None,
                   hops: int | None = None) -> str | None:
    """The client's address, for counting failed logins per address.

    Parameters
    ----------
    peer : str or None
        The connection's address (``st.context.ip_address``; ``None`` for localhost).
    headers : mapping, Streamlit headers or (name, value) pairs, optional
        The request's headers (``st.context.headers``).
    header : str, optional
        The header a trusted reverse proxy writes the client's address
        into; default ``settings.TRUSTED_PROXY_HEADER``. ``None`` (the
        default setting): every header is ignored, since the client could
        have written it, and ``peer`` is the answer.
    hops : int, optional
        How many proxies of ours add to that header (default
        ``settings.TRUSTED_PROXY_HOPS``). Each appends the address it saw,
        so the client's is this many places from the right; anything left
        of it may be forged and is never used.

    Returns
    -------
    str or None
        An IP address in canonical form; ``peer`` when no header is
        trusted, or when the trusted header is missing, has fewer entries
        than ``hops`` (the request did not come through our proxies) or
        does not hold an address there.
    """
    header = settings.TRUSTED_PROXY_HEADER if header is None else header
    hops = max(1, int(settings.TRUSTED_PROXY_HOPS if hops is None else hops))
    if not header:
        return peer
    entries = [e for value in _header_values(headers, header) for e in value.split(",") if e.strip()]
    if header.lower() == "forwarded":  # RFC 7239: for=...;proto=...
        entries = [m.group(1) for e in entries if (m := re.search(r'(?i)(?:^|;)\s*for=("[^"]*"|[^;]*)', e))]
    if len(entries) < hops:
        return peer
    return _parse_ip(entries[-hops]) or peer


# --------------------------------------------------------------------------
# Failed logins
# --------------------------------------------------------------------------

def _key(kind: str, value: str) -> str:
    # Stored as a digest: the file never holds what people typed as a name.
    return hashlib.sha256(f"{kind}:{value}".encode("utf-8")).hexdigest()


class LoginGuard:
    """Counts failed logins and locks names and addresses that fail too often.

    The counts live in a SQLite file, so every session of the server (and
    every server process on the machine) shares them, and a restart does
    not reset them. Writes are ``BEGIN IMMEDIATE`` transactions, so two
    processes counting at once never lose a failure.

    Parameters
    ----------
    path : str or Path, optional
        The SQLite file; default :func:`geo.settings.login_state_path`
        (environment ``GEO_LOGIN_STATE``), else ``login_attempts.sqlite``
        beside the accounts file.
    clock : callable, optional
        Returns the current Unix time; tests pass their own.
    max_failures, max_failures_per_address, window_s, lockout_s : optional
        Default the ``settings.LOGIN_*`` values.
    """

    def __init__(self, path: str | Path | None = None, clock: Callable[[], float] = time.time,
                 max_failures: int | None = None, max_failures_per_address: int | None = None,
                 window_s: float | None = None, lockout_s: float | None = None):
        default = settings.login_state_path() or accounts_path().parent / "login_attempts.sqlite"
        self.path = Path(path or default).expanduser()
        self.clock = clock
        self.max_failures = int(max_failures or settings.LOGIN_MAX_FAILURES)
        self.max_failures_per_address = int(max_failures_per_address or settings.LOGIN_MAX_FAILURES_PER_ADDRESS)
        self.window_s = float(window_s or settings.LOGIN_WINDOW_S)
        self.lockout_s = float(lockout_s or settings.LOGIN_LOCKOUT_S)

    def _connect(self) -> sqlite3.Connection:
        try:
            new = not self.path.exists()
            if new:
                private_dir(self.path.parent)
                # Made 0600 before SQLite opens it (it keeps the mode): never briefly readable by others.
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            if new:
                os.chmod(self.path, 0o600)
            conn.executescript(_STATE_DDL)
        except (OSError, sqlite3.Error):
            # Fail closed, and say nothing about paths to whoever is logging in.
            raise AuthError("登录暂不可用：无法记录登录失败次数，请联系管理员。",
                            "Login is unavailable: failed logins cannot be recorded; tell the administrator.")
        return conn

    def _keys(self, username: str, address: str | None) -> list[tuple[str, int]]:
        name = unicodedata.normalize("NFKC", str(username or "")).strip().casefold()
        keys = [(_key("user", name), self.max_failures)]
        if address:
            keys.append((_key("addr", str(address)), self.max_failures_per_address))
        return keys

    def locked_until(self, username: str, address: str | None = None) -> float | None:
        """Unix time until which ``username`` (or ``address``) is locked, or ``None``."""
        now = self.clock()
        keys = [k for k, _ in self._keys(username, address)]
        conn = self._connect()
        try:
            row = conn.execute(f"SELECT max(until) FROM lockouts WHERE until > ? AND key IN "
                               f"({', '.join('?' * len(keys))})", [now, *keys]).fetchone()
        finally:
            conn.close()
        return row[0] if row and row[0] is not None else None

    def record_failure(self, username: str, address: str | None = None) -> float | None:
        """Count one failed login; returns the lock's end when this failure locked a key."""
        now = self.clock()
        locked: float | None = None
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            with committed(conn):
                conn.execute("DELETE FROM failures WHERE at <= ?", (now - self.window_s,))
                conn.execute("DELETE FROM lockouts WHERE until <= ?", (now,))
                for key, limit in self._keys(username, address):
                    conn.execute("INSERT INTO failures (key, at) VALUES (?, ?)", (key, now))
                    n = conn.execute("SELECT count(*) FROM failures WHERE key = ?", (key,)).fetchone()[0]
                    if n >= limit:
                        until = now + self.lockout_s
                        conn.execute("INSERT OR REPLACE INTO lockouts (key, until) VALUES (?, ?)", (key, until))
                        conn.execute("DELETE FROM failures WHERE key = ?", (key,))
                        locked = max(locked or 0.0, until)
        finally:
            conn.close()
        return locked

    def record_success(self, username: str) -> None:
        """Forget the name's failures after a good login (an address's count stays)."""
        key = self._keys(username, None)[0][0]
        conn = self._connect()
        try:
            conn.execute("DELETE FROM failures WHERE key = ?", (key,))
        finally:
            conn.close()

    def failures(self, username: str, address: str | None = None) -> int:
        """Failures counted now against ``username`` (or ``address``, if given), within the window."""
        key = self._keys(username, address)[-1][0]
        conn = self._connect()
        try:
            return conn.execute("SELECT count(*) FROM failures WHERE key = ? AND at > ?",
                                (key, self.clock() - self.window_s)).fetchone()[0]
        finally:
            conn.close()


def authenticate(username: str, password: str, accounts: Mapping[str, str], guard: LoginGuard,
                 address: str | None = None) -> str:
    """Check a login; returns the account name to record as the editor.

    Parameters
    ----------
    username, password : str
        What was typed.
    accounts : mapping
        ``{name: hash}`` from :func:`load_accounts`.
    guard : LoginGuard
        The shared failure counter.
    address : str, optional
        The client's address, when known (Streamlit gives none for localhost).

    Raises
    ------
    LockedError
        When the name or address is locked, or this failure locked it.
    LoginFailed
        For a wrong name or password (the message never says which).
    LoginBusy
        When too many passwords are being checked already
        (:class:`VerificationPool`); nothing is counted then.
    """
    name = unicodedata.normalize("NFKC", str(username or "")).strip()
    if not name or not password:
        raise LoginFailed()
    until = guard.locked_until(name, address)
    if until is not None:
        raise LockedError(until, guard.clock())
    found = find_account(accounts, name)

    def check() -> bool:
        # An unknown name costs one verification too, against a dummy hash.
        return verify_password(found[1] if found else dummy_hash(), password)

    ok = verification_pool().run(check) and found is not None
    if not ok:
        until = guard.record_failure(name, address)
        if until is not None:
            raise LockedError(until, guard.clock())
        raise LoginFailed()
    guard.record_success(name)
    return found[0]
