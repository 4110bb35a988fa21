"""What can go wrong with accounts and logins, each with a message in Chinese and English."""
from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from geo import settings


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
