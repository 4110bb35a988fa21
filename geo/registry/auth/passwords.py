"""Password hashes (argon2id; bcrypt read too) and the rules a new password must pass."""
from __future__ import annotations

import re
import secrets
import string
import threading
import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from geo import settings
from geo.registry.auth.errors import WeakPasswordError

_ARGON2_RE = re.compile(r"^\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$")
_BCRYPT_RE = re.compile(r"^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$")


def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=settings.ARGON2_TIME_COST, memory_cost=settings.ARGON2_MEMORY_KIB,
                          parallelism=settings.ARGON2_PARALLELISM)


_DUMMY: dict[str, str] = {}
_DUMMY_LOCK = threading.Lock()


def dummy_hash() -> str:
    """A hash of a random password, made once: unknown names are verified against it.

    So a login takes as long for a name that does not exist as for one that does.
    """
    if "argon2" not in _DUMMY:
        with _DUMMY_LOCK:  # many first logins at once make it once, not once each
            if "argon2" not in _DUMMY:
                _DUMMY["argon2"] = _hasher().hash(secrets.token_urlsafe(24))
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
