"""Editor accounts: password hashes, login with rate limiting, session time-outs.

Anyone may look at the public pages; importing, editing and restoring on
the Data page need an editor account. Accounts are kept as argon2 (or
bcrypt) hashes, never as passwords, in a TOML file outside the repository
(:func:`geo.settings.accounts_path`, environment ``GEO_ACCOUNTS``)::

    [editors]
    "zhang.wei" = "$argon2id$v=19$m=65536,t=3,p=4$..."

and/or in an ``[editors]`` table of the same form in Streamlit's secrets,
which the page passes in (this module never imports Streamlit). A file
holding anything that is not such a hash is refused whole.

Failed logins are counted per user name (and per client address) in a
small SQLite file shared by every session of the server and kept across
restarts (:class:`LoginGuard`); a name that failed too often is locked for
a while, whether or not it exists. Unknown names are checked against a
dummy hash, so a login takes as long for them as for real ones. Behind a
reverse proxy the client's address comes from a header named in the
settings (:func:`client_address`), never from one the client may forge.

A password check (argon2: 64 MiB and a third of a second of one core) runs
on a small pool of worker threads (:class:`VerificationPool`); a login that
finds the pool and its short queue full is refused at once with "busy, try
again" (:class:`LoginBusy`), so a burst of logins cannot stall the map.

New passwords (:func:`check_new_password`) have at least
``settings.PASSWORD_MIN_CHARS`` characters and are neither a common
password (``settings.COMMON_PASSWORDS_PATH``) nor repeated characters or a
simple sequence, nor the user name with little added.

A session (:class:`EditorSession`) ends after ``settings.SESSION_IDLE_S``
without activity, ``settings.SESSION_MAX_S`` after the login, or as soon as
the account is removed or its password changed (:func:`check_session`).
See ``docs/trust.md``.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import secrets as _secrets
import sqlite3
import string
import threading
import time
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from geo import settings

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
        The message in each language (``geo.core.i18n.error_text`` picks one).
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


class LoginBusy(AuthError):
    """Too many logins being checked at once: refused without checking, try again shortly."""

    def __init__(self):
        super().__init__("登录的人太多，服务器正忙，请稍后再试。",
                         "Too many logins at once: the server is busy; try again in a few seconds.")


class WeakPasswordError(AuthError):
    """A new password that the rules refuse.

    Attributes
    ----------
    reason : str
        ``short``, ``long``, ``simple``, ``common`` or ``username``.
    """

    _TIP = ("可以用几个不相关的词连成一句话。", "A few unrelated words in a row make a good one.")

    def __init__(self, reason: str):
        n, most = settings.PASSWORD_MIN_CHARS, settings.PASSWORD_MAX_CHARS
        zh, en = {
            "short": (f"密码至少需要 {n} 个字符。", f"The password needs at least {n} characters."),
            "long": (f"密码不能超过 {most} 个字符。", f"The password may have at most {most} characters."),
            "simple": ("密码不能只是重复的字符或简单的序列（如 aaaa、abcd、1234、qwerty，或倒过来）。",
                       "The password may not be just repeated characters or a simple sequence "
                       "(such as aaaa, abcd, 1234, qwerty, or reversed)."),
            "common": ("这是常见密码（或常见密码加几个数字或符号），很容易被猜中，请换一个。",
                       "That is a common password (or one with a few digits or symbols added): "
                       "easy to guess; choose another."),
            "username": ("密码不能是用户名加几个字符。", "The password may not be the user name with a few characters added."),
        }[reason]
        if reason in ("simple", "common", "username"):
            zh, en = f"{zh}{self._TIP[0]}", f"{en} {self._TIP[1]}"
        super().__init__(zh, en)
        self.reason = reason

    def __reduce__(self):
        return (type(self), (self.reason,))


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
_DUMMY_LOCK = threading.Lock()


def _dummy_hash() -> str:
    """A hash of a random password, made once: unknown names are verified against it."""
    if "argon2" not in _DUMMY:
        with _DUMMY_LOCK:  # many first logins at once make it once, not once each
            if "argon2" not in _DUMMY:
                _DUMMY["argon2"] = _hasher().hash(_secrets.token_urlsafe(24))
    return _DUMMY["argon2"]


# --------------------------------------------------------------------------
# Rules for new passwords
# --------------------------------------------------------------------------

#: Runs that count as a simple sequence, read cyclically, forwards or backwards:
#: the alphabet, the digits, the keyboard's letter rows one after the other,
#: its number row, its shifted number row, and its columns (1qaz2wsx...).
_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "1234567890", "qwertyuiopasdfghjklzxcvbnm",
              "1234567890qwertyuiop", "!@#$%^&*()", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
              "qazwsxedcrfvtgbyhnujmikolp", "1q2w3e4r5t6y7u8i9o0p")
#: A password whose every character is within this many of a short unit repeated is "repeated".
_REPEAT_UNIT = 3
#: Digits and symbols added to a common password, or to the user name, that still leave it weak.
_FEW_ADDED = 6
_AFFIX = string.digits + string.punctuation + string.whitespace


@lru_cache(maxsize=1)
def _common_passwords(path: str) -> frozenset[str]:
    with open(path, encoding="utf-8") as f:
        return frozenset(line.strip().casefold() for line in f if line.strip())


def _simple(text: str) -> bool:
    """Whether ``text`` is a short unit repeated (aaaa, abab, abcabc) or one run of a simple sequence."""
    n = len(text)
    if n <= _REPEAT_UNIT:
        return True
    if any(text == (text[:u] * (n // u + 1))[:n] for u in range(1, _REPEAT_UNIT + 1)):
        return True
    for seq in _SEQUENCES:
        for run in (seq, seq[::-1]):
            if text in run * (n // len(run) + 2):
                return True
    return False


def _simple_or_two_simple(text: str) -> bool:
    """``text`` is simple, or two simple pieces one after the other (aaaaaa123456, qwerty123456)."""
    if _simple(text):
        return True
    for i in range(1, len(text)):
        # A piece of a simple text is simple: once a prefix is not, no longer one is.
        if not _simple(text[:i]):
            return False
        if _simple(text[i:]):
            return True
    return False


def _little_added(prefix: str, suffix: str) -> bool:
    """Whether what surrounds a weak core adds little: few characters, or only simple ones."""
    return len(prefix) + len(suffix) <= _FEW_ADDED or (_simple(prefix or "a") and _simple(suffix or "a"))


def check_new_password(password: str, *, username: str | None = None) -> None:
    """Refuse a new password that is too short or long, common, simple, or the user name.

    The rules, in order (the first that applies gives the message):

    * at least ``settings.PASSWORD_MIN_CHARS`` and at most
      ``settings.PASSWORD_MAX_CHARS`` characters;
    * not in the common-password list ``settings.COMMON_PASSWORDS_PATH``,
      ignoring case, nor such a password with a few digits, symbols or
      spaces added in front or behind (``Sunshine2024!``);
    * not repeated characters or a short group repeated (``aaaaaaaaaaaa``,
      ``abcabcabcabc``), nor a run of the alphabet, the digits or the
      keyboard, forwards or backwards (``abcdefghijkl``, ``098765432109``,
      ``qwertyuiopas``, ``1qaz2wsx3edc``), nor two such pieces in a row
      (``qwerty123456``);
    * not the user name with a few characters added (``zhang.wei2024``).

    Parameters
    ----------
    password : str
    username : str, optional
        The account's name, when known.

    Raises
    ------
    WeakPasswordError
        With ``reason`` ``short``, ``long``, ``simple``, ``common`` or ``username``
        and a message in Chinese and English.
    """
    if len(password) < settings.PASSWORD_MIN_CHARS:
        raise WeakPasswordError("short")
    if len(password) > settings.PASSWORD_MAX_CHARS:
        raise WeakPasswordError("long")
    folded = unicodedata.normalize("NFKC", password).casefold()
    common = _common_passwords(str(settings.COMMON_PASSWORDS_PATH))
    core = folded.strip(_AFFIX)
    start = folded.find(core) if core else len(folded)
    prefix, suffix = folded[:start], folded[start + len(core):]
    if folded in common or (core in common and _little_added(prefix, suffix)):
        raise WeakPasswordError("common")
    if _simple_or_two_simple(folded):
        raise WeakPasswordError("simple")
    name = unicodedata.normalize("NFKC", str(username or "")).strip().casefold()
    if len(name) >= 3 and name in folded:
        rest = folded.replace(name, "")
        if len(rest) <= _FEW_ADDED or _simple_or_two_simple(rest):
            raise WeakPasswordError("username")


def hash_password(password: str, *, username: str | None = None) -> str:
    """An argon2id hash of a new ``password`` (with a random salt).

    Parameters
    ----------
    password : str
    username : str, optional
        The account's name: a password that is the name with little added is refused.

    Returns
    -------
    str
        ``$argon2id$v=19$m=...,t=...,p=...$salt$hash``, the form the accounts file holds.

    Raises
    ------
    WeakPasswordError
        When :func:`check_new_password` refuses the password.
    """
    check_new_password(password, username=username)
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
    """The accounts file: ``path``, else :func:`geo.settings.accounts_path` (``GEO_ACCOUNTS``)."""
    return Path(path).expanduser() if path else settings.accounts_path()


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
        For an invalid name or password (:class:`WeakPasswordError`), or an
        existing name without ``replace``.
    AccountsError
        When the file cannot be read.
    """
    name = normalize_name(name)
    hashed = hash_password(password, username=name)
    file = accounts_path(path)
    _ensure_folder(file.parent)
    with _file_lock(file):
        table = _read_table(file)
        existing = next((k for k in table if k.casefold() == name.casefold()), None)
        if existing is not None and not replace:
            raise AuthError(f"用户 {existing} 已存在；要设置新密码请用 python -m geo user passwd {existing}"
                            f"（或加 --replace）。",
                            f"User {existing} already exists; to set a new password: "
                            f"python -m geo user passwd {existing} (or add --replace).")
        if existing is not None:
            del table[existing]
        table[name] = hashed
        _write_table(file, table)
    return name, existing is not None


def _no_user(name: str, file: Path) -> AuthError:
    return AuthError(f"没有用户 {name}（{file}）；新账户请用 python -m geo user add {name}",
                     f"no user {name} in {file}; to create it: python -m geo user add {name}")


def require_user(name: str, *, path: str | Path | None = None) -> str:
    """The stored name of account ``name`` in the accounts file, matched ignoring case.

    Raises
    ------
    AuthError
        When the file has no such account (saying how to create one), or cannot be read.
    """
    file = accounts_path(path)
    wanted = unicodedata.normalize("NFKC", str(name or "")).strip()
    found = next((str(k) for k in _read_table(file) if str(k).casefold() == wanted.casefold()), None)
    if found is None:
        raise _no_user(wanted, file)
    return found


def set_password(name: str, password: str, *, path: str | Path | None = None) -> str:
    """Give an existing editor account a new password (``python -m geo user passwd``).

    The account's sessions end at their next action (:func:`check_session`
    sees the changed hash). The file keeps mode 0600.

    Parameters
    ----------
    name : str
        The account, matched ignoring case.
    password : str
        The new password, checked by :func:`check_new_password`.
    path : str or Path, optional
        The accounts file (default :func:`accounts_path`).

    Returns
    -------
    str
        The account's stored name.

    Raises
    ------
    AuthError
        When there is no such account in the file (accounts only in
        Streamlit secrets are changed there), or the password is refused
        (:class:`WeakPasswordError`).
    """
    file = accounts_path(path)
    wanted = require_user(normalize_name(name), path=file)
    hashed = hash_password(password, username=wanted)  # ~0.3 s: outside the lock
    with _file_lock(file):
        table = _read_table(file)
        existing = next((k for k in table if str(k).casefold() == wanted.casefold()), None)
        if existing is None:  # removed meanwhile
            raise _no_user(wanted, file)
        table[existing] = hashed
        _write_table(file, table)
    return str(existing)


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
    found = _find(accounts, name)

    def check() -> bool:
        # An unknown name costs one verification too, against a dummy hash.
        return verify_password(found[1] if found else _dummy_hash(), password)

    ok = verification_pool().run(check) and found is not None
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
