"""Editor accounts: password hashes, login with rate limiting, session time-outs.

Anyone may look at the public pages; importing, editing and restoring on
the Data page need an editor account. Accounts are kept as argon2 (or
bcrypt) hashes, never as passwords, in a TOML file outside the repository
(``settings.ACCOUNTS_PATH``, environment ``GEO_ACCOUNTS``)::

    [editors]
    "zhang.wei" = "$argon2id$v=19$m=65536,t=3,p=4$..."

and/or in an ``[editors]`` table of the same form in Streamlit's secrets,
which the page passes in (this module never imports Streamlit). A file
holding anything that is not such a hash is refused whole.

Failed logins are counted per user name (and per client address) in a
small SQLite file shared by every session of the server and kept across
restarts (:class:`LoginGuard`); a name that failed too often is locked for
a while, whether or not it exists. Unknown names are checked against a
dummy hash, so a login takes as long for them as for real ones.

A session (:class:`EditorSession`) ends after ``settings.SESSION_IDLE_S``
without activity, ``settings.SESSION_MAX_S`` after the login, or as soon as
the account is removed or its password changed (:func:`check_session`).
See ``docs/trust.md``.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets as _secrets
import sqlite3
import time
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from . import settings

#: The TOML table holding the accounts, in the accounts file and in Streamlit secrets.
TABLE = "editors"

_NAME_RE = re.compile(r"^[\w.@-]{1,64}$")
_ARGON2_RE = re.compile(r"^\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$")
_BCRYPT_RE = re.compile(r"^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$")
_HEADER = ("# 编辑账户 / editor accounts of the Guangdong worker service map.\n"
           "# 由 python -m geo user add / remove 写入；只存 argon2 哈希，不存密码。\n"
           "# Written by `python -m geo user add` / `remove`: argon2 hashes only, never passwords.\n")
_STATE_DDL = """
    CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS failures_key ON failures (key, at);
    CREATE TABLE IF NOT EXISTS lockouts (key TEXT PRIMARY KEY, until REAL NOT NULL);
"""


class AuthError(Exception):
    """A login or account problem, with a message in Chinese and English.

    Attributes
    ----------
    zh, en : str
        The message in each language (``geo.i18n.error_text`` picks one).
    """

    def __init__(self, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


class AccountsError(AuthError):
    """The accounts file (or secrets table) cannot be used: unreadable, or holding a plain-text password."""


class LoginFailed(AuthError):
    """Wrong user name or password; never says which."""

    def __init__(self):
        super().__init__("用户名或密码错误。", "Wrong user name or password.")


class LockedError(AuthError):
    """Too many failed logins: this name (or address) is locked until ``until``.

    Attributes
    ----------
    until : float
        Unix time at which logging in is allowed again.
    """

    def __init__(self, until: float, now: float | None = None):
        now = time.time() if now is None else now
        minutes = max(1, int(-(-(until - now) // 60)))
        clock = datetime.fromtimestamp(until, ZoneInfo(settings.TIMEZONE)).strftime("%H:%M")
        super().__init__(
            f"登录失败次数过多，已暂时锁定。请在 {clock}（约 {minutes} 分钟后）再试。",
            f"Too many failed logins: locked for now. Try again after {clock} (in about {minutes} min).")
        self.until = until

    def __reduce__(self):
        return (type(self), (self.until,))


class SessionExpired(AuthError):
    """A login that has ended; ``reason`` is ``idle``, ``absolute`` or ``revoked``."""

    _TEXT = {
        "idle": ("长时间未操作，已自动退出登录，请重新登录。",
                 "You were logged out after a while without activity; log in again."),
        "absolute": ("登录已超过最长时限，请重新登录。",
                     "Your login reached its time limit; log in again."),
        "revoked": ("账户已被删除或密码已更改，请重新登录。",
                    "The account was removed or its password changed; log in again."),
    }

    def __init__(self, reason: str):
        super().__init__(*self._TEXT[reason])
        self.reason = reason

    def __reduce__(self):
        return (type(self), (self.reason,))


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


# --------------------------------------------------------------------------
# Hashes
# --------------------------------------------------------------------------

def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=settings.ARGON2_TIME_COST, memory_cost=settings.ARGON2_MEMORY_KIB,
                          parallelism=settings.ARGON2_PARALLELISM)


_DUMMY: dict[str, str] = {}


def _dummy_hash() -> str:
    """A hash of a random password, made once: unknown names are verified against it."""
    if "argon2" not in _DUMMY:
        _DUMMY["argon2"] = _hasher().hash(_secrets.token_urlsafe(24))
    return _DUMMY["argon2"]


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (with a random salt).

    Parameters
    ----------
    password : str

    Returns
    -------
    str
        ``$argon2id$v=19$m=...,t=...,p=...$salt$hash``, the form the accounts file holds.

    Raises
    ------
    AuthError
        When the password is shorter than ``settings.PASSWORD_MIN_CHARS``
        or longer than ``settings.PASSWORD_MAX_CHARS``.
    """
    if len(password) < settings.PASSWORD_MIN_CHARS:
        raise AuthError(f"密码至少需要 {settings.PASSWORD_MIN_CHARS} 个字符。",
                        f"The password needs at least {settings.PASSWORD_MIN_CHARS} characters.")
    if len(password) > settings.PASSWORD_MAX_CHARS:
        raise AuthError(f"密码不能超过 {settings.PASSWORD_MAX_CHARS} 个字符。",
                        f"The password may have at most {settings.PASSWORD_MAX_CHARS} characters.")
    return _hasher().hash(password)


def hash_scheme(stored: str) -> str | None:
    """``"argon2"`` or ``"bcrypt"`` for a hash in a known form, else ``None`` (plain text or garbage)."""
    text = str(stored)
    if _ARGON2_RE.match(text):
        return "argon2"
    if _BCRYPT_RE.match(text):
        return "bcrypt"
    return None


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the argon2 or bcrypt hash ``stored``.

    A malformed hash, a password over ``settings.PASSWORD_MAX_CHARS`` or a
    bcrypt hash without the ``bcrypt`` package never match.
    """
    if not isinstance(password, str) or len(password) > settings.PASSWORD_MAX_CHARS:
        return False
    scheme = hash_scheme(stored)
    if scheme == "argon2":
        try:
            return _hasher().verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    if scheme == "bcrypt":
        try:
            import bcrypt
        except ImportError:
            return False
        try:
            return bcrypt.checkpw(password.encode("utf-8"), stored.encode("ascii"))
        except ValueError:  # over bcrypt's 72 bytes, or a damaged hash
            return False
    return False


# --------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------

def accounts_path(path: str | Path | None = None) -> Path:
    """The accounts file: ``path``, else ``GEO_ACCOUNTS``, else ``settings.ACCOUNTS_PATH``."""
    return Path(path or os.environ.get("GEO_ACCOUNTS") or settings.ACCOUNTS_PATH).expanduser()


def normalize_name(name: str) -> str:
    """A user name as stored: Unicode NFKC, surrounding spaces removed.

    Raises
    ------
    AuthError
        When the name is empty, longer than 64 characters or holds anything
        but letters, digits, ``_``, ``.``, ``@`` and ``-``.
    """
    text = unicodedata.normalize("NFKC", str(name or "")).strip()
    if not _NAME_RE.match(text):
        raise AuthError("用户名只能包含字母、数字、汉字和 _ . @ -，长度 1 至 64。",
                        "A user name has 1 to 64 letters, digits, Chinese characters or _ . @ -.")
    return text


def _read_table(path: Path) -> dict[str, object]:
    """The ``[editors]`` table of the accounts file, unchecked; empty when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountsError(f"无法读取账户文件 {path}：{exc}", f"Cannot read the accounts file {path}: {exc}")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AccountsError(f"账户文件 {path} 不是有效的 TOML：{exc}",
                            f"The accounts file {path} is not valid TOML: {exc}")
    table = doc.get(TABLE, {})
    if not isinstance(table, dict):
        raise AccountsError(f"账户文件 {path} 的 [{TABLE}] 必须是表。",
                            f"[{TABLE}] in the accounts file {path} must be a table.")
    return table


def _checked(table: Mapping, where: str) -> dict[str, str]:
    """``{name: hash}`` from a raw table; refuses plain text and unknown hash forms."""
    out: dict[str, str] = {}
    for raw_name, value in table.items():
        try:
            name = normalize_name(raw_name)
        except AuthError:
            raise AccountsError(f"{where} 中的用户名无效：{raw_name!r}",
                                f"Invalid user name in {where}: {raw_name!r}") from None
        scheme = hash_scheme(value) if isinstance(value, str) else None
        if scheme is None:
            # Never echo the value: it may well be somebody's password.
            raise AccountsError(
                f"{where} 中用户 {name} 的密码不是 argon2 或 bcrypt 哈希（疑似明文密码），拒绝加载。"
                f"请删除这一行，并运行 python -m geo user add {name} 重新设置。",
                f"The password of user {name} in {where} is not an argon2 or bcrypt hash (plain text?); "
                f"refusing to load it. Remove that line and run: python -m geo user add {name}")
        out[name] = value
    return out


def load_accounts(path: str | Path | None = None, secrets: Mapping | None = None) -> dict[str, str]:
    """All editor accounts, ``{name: hash}``.

    Parameters
    ----------
    path : str or Path, optional
        The accounts file (default :func:`accounts_path`); a missing file
        means no accounts from it.
    secrets : mapping, optional
        The ``[editors]`` table of Streamlit secrets, if the app has one.
        Names in the accounts file take precedence.

    Returns
    -------
    dict
        Empty when there are no accounts: then editing stays locked.

    Raises
    ------
    AccountsError
        When the file cannot be read or parsed, or any entry is not an
        argon2 or bcrypt hash (a plain-text password is never loaded).
    """
    accounts = _checked(dict(secrets or {}), "Streamlit secrets [editors]")
    file = accounts_path(path)
    accounts.update(_checked(_read_table(file), str(file)))
    return accounts


def _find(accounts: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """``(stored name, hash)`` of ``name``, matched exactly or ignoring case."""
    if name in accounts:
        return name, accounts[name]
    folded = name.casefold()
    for stored, hashed in accounts.items():
        if stored.casefold() == folded:
            return stored, hashed
    return None


@contextmanager
def _file_lock(path: Path):
    """An exclusive lock beside the accounts file, so two ``user add`` never interleave."""
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _ensure_folder(folder: Path) -> None:
    """Create ``folder`` (and missing parents) with mode 0700; an existing folder is left as it is."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    for f in reversed(missing):
        f.mkdir(mode=0o700, exist_ok=True)
        os.chmod(f, 0o700)  # mkdir's mode is filtered by the umask


def _write_table(path: Path, table: Mapping[str, object]) -> None:
    """Write the accounts file atomically, mode 0600."""
    lines = [_HEADER, f"[{TABLE}]\n"]
    for name in sorted(table, key=str.casefold):
        # JSON strings are TOML basic strings for these characters.
        lines.append(f"{json.dumps(name, ensure_ascii=False)} = {json.dumps(str(table[name]))}\n")
    text = "".join(lines)
    if tomllib.loads(text).get(TABLE, {}) != {k: str(v) for k, v in table.items()}:
        raise AccountsError("账户文件内容无法正确写出。", "The accounts file would not read back as written.")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def add_user(name: str, password: str, path: str | Path | None = None, replace: bool = False) -> tuple[str, bool]:
    """Add an editor account (or, with ``replace``, set a new password).

    The folder is created with mode 0700 and the file written with mode
    0600; only the argon2id hash is stored.

    Parameters
    ----------
    name, password : str
    path : str or Path, optional
        The accounts file (default :func:`accounts_path`).
    replace : bool
        Allow replacing the password of an existing account.

    Returns
    -------
    (str, bool)
        The stored name, and whether an existing account was replaced.

    Raises
    ------
    AuthError
        For an invalid name or password, or an existing name without ``replace``.
    AccountsError
        When the file cannot be read.
    """
    name = normalize_name(name)
    hashed = hash_password(password)
    file = accounts_path(path)
    _ensure_folder(file.parent)
    with _file_lock(file):
        table = _read_table(file)
        existing = next((k for k in table if k.casefold() == name.casefold()), None)
        if existing is not None and not replace:
            raise AuthError(f"用户 {existing} 已存在；要设置新密码请加 --replace。",
                            f"User {existing} already exists; add --replace to set a new password.")
        if existing is not None:
            del table[existing]
        table[name] = hashed
        _write_table(file, table)
    return name, existing is not None


def remove_user(name: str, path: str | Path | None = None) -> bool:
    """Remove an editor account; returns False when there was none of that name.

    Sessions of a removed account end at their next action (:func:`check_session`).
    """
    wanted = unicodedata.normalize("NFKC", str(name or "")).strip().casefold()
    file = accounts_path(path)
    if not file.exists():
        return False
    with _file_lock(file):
        table = _read_table(file)
        found = [k for k in table if unicodedata.normalize("NFKC", str(k)).strip().casefold() == wanted]
        if not found:
            return False
        for k in found:
            del table[k]
        _write_table(file, table)
    return True


def list_users(path: str | Path | None = None) -> list[dict[str, str]]:
    """The accounts of the file, never their hashes: ``[{"name", "scheme"}]``.

    ``scheme`` is ``argon2``, ``bcrypt`` or ``invalid`` (plain text or an
    unknown form: the app refuses such a file).
    """
    table = _read_table(accounts_path(path))
    return [{"name": str(k), "scheme": (hash_scheme(v) if isinstance(v, str) else None) or "invalid"}
            for k, v in sorted(table.items(), key=lambda kv: str(kv[0]).casefold())]


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
        The SQLite file; default ``settings.LOGIN_STATE_PATH`` (environment
        ``GEO_LOGIN_STATE``), else ``login_attempts.sqlite`` beside the
        accounts file.
    clock : callable, optional
        Returns the current Unix time; tests pass their own.
    max_failures, max_failures_per_address, window_s, lockout_s : optional
        Default the ``settings.LOGIN_*`` values.
    """

    def __init__(self, path: str | Path | None = None, clock: Callable[[], float] = time.time,
                 max_failures: int | None = None, max_failures_per_address: int | None = None,
                 window_s: float | None = None, lockout_s: float | None = None):
        default = os.environ.get("GEO_LOGIN_STATE") or settings.LOGIN_STATE_PATH
        self.path = Path(path or default or accounts_path().parent / "login_attempts.sqlite").expanduser()
        self.clock = clock
        self.max_failures = int(max_failures or settings.LOGIN_MAX_FAILURES)
        self.max_failures_per_address = int(max_failures_per_address or settings.LOGIN_MAX_FAILURES_PER_ADDRESS)
        self.window_s = float(window_s or settings.LOGIN_WINDOW_S)
        self.lockout_s = float(lockout_s or settings.LOGIN_LOCKOUT_S)

    def _connect(self) -> sqlite3.Connection:
        try:
            new = not self.path.exists()
            if new:
                _ensure_folder(self.path.parent)
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
            try:
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
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
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
    """
    name = unicodedata.normalize("NFKC", str(username or "")).strip()
    if not name or not password:
        raise LoginFailed()
    until = guard.locked_until(name, address)
    if until is not None:
        raise LockedError(until, guard.clock())
    found = _find(accounts, name)
    # An unknown name costs one verification too, against a dummy hash.
    ok = verify_password(found[1] if found else _dummy_hash(), password) and found is not None
    if not ok:
        until = guard.record_failure(name, address)
        if until is not None:
            raise LockedError(until, guard.clock())
        raise LoginFailed()
    guard.record_success(name)
    return found[0]


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------

def _fingerprint(hashed: str) -> str:
    return hashlib.sha256(hashed.encode("utf-8")).hexdigest()[:16]


def start_session(username: str, accounts: Mapping[str, str], now: float | None = None) -> EditorSession:
    """A new session for ``username``, who has just logged in."""
    now = time.time() if now is None else now
    found = _find(accounts, username)
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
    found = _find(accounts, session.username)
    if found is None or found[0] != session.username or _fingerprint(found[1]) != session.fingerprint:
        raise SessionExpired("revoked")
    return dataclasses.replace(session, last_seen=now)
