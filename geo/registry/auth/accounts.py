"""The accounts file: ``{name: hash}`` in a TOML ``[editors]`` table, written only with hashes.

The file lives outside the repository (:func:`geo.settings.accounts_path`);
``python -m geo user add`` / ``passwd`` / ``remove`` change it under a lock,
atomically, mode 0600 in a 0700 folder. Streamlit secrets may hold an
``[editors]`` table of the same form; a table holding anything but argon2
or bcrypt hashes is refused whole.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from geo import settings
from geo.core.files import private_dir
from geo.registry.auth.errors import AccountsError, AuthError
from geo.registry.auth.passwords import hash_password, hash_scheme

#: The TOML table holding the accounts, in the accounts file and in Streamlit secrets.
TABLE = "editors"

_NAME_RE = re.compile(r"^[\w.@-]{1,64}$")
_HEADER = ("# 编辑账户 / editor accounts of the Guangdong worker service map.\n"
           "# 由 python -m geo user add / remove 写入；只存 argon2 哈希，不存密码。\n"
           "# Written by `python -m geo user add` / `remove`: argon2 hashes only, never passwords.\n")


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


def find_account(accounts: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """``(stored name, hash)`` of ``name``, matched exactly or ignoring case."""
    if name in accounts:
        return name, accounts[name]
    folded = name.casefold()
    for stored, hashed in accounts.items():
        if stored.casefold() == folded:
            return stored, hashed
    return None


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock beside the accounts file, so two ``user add`` never interleave."""
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


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
    private_dir(file.parent)
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
