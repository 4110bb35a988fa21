"""What the browser tests share: the app under test, Debian's Chromium, pages that may talk only to the app, waits.

The app is started as ``make run`` serves it (``streamlit run serve.py``,
through ``bench/load.py``'s ``start_app``), with every file it writes in a
temporary folder: registry, editor accounts, failed-login counts, saved
scenarios, log. Waits are for conditions on the page (Streamlit's script
state, a text), never a fixed sleep before reading.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, load_bench

load = load_bench("load")

ARTIFACTS = ROOT / "test-artifacts"
#: Debian's Chromium headless shell: the same Blink and V8 as its ``chromium`` (same package
#: version) without the browser around them. Loading four pages of the app took 16-19 s of
#: the machine's CPU with it against 22-26 s with ``chromium --headless=new`` (3 rounds
#: each, 2026-12-02), and page loads are most of what the browser tests spend.
CHROMIUM = Path("/usr/bin/chromium-headless-shell")
#: Every host but the loopback address resolves to nothing, so a page can talk only to servers on
#: this machine, with nothing intercepted (interception turns the HTTP cache off and sends every
#: request through Playwright: 10-15 % more CPU per page load of the app, measured 2026-12-02).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
DATA_PAGE, SITING_PAGE = "data", "siting"
#: The one editor account of an app under test (made with ``python -m geo user add``).
EDITOR_USER, EDITOR_PASSWORD = "zhang.wei", "测试密码 correct horse"

#: For a module's ``pytestmark``.
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not installed at {CHROMIUM}")


@contextmanager
def app_server(folder: Path, registry: Path | str, *, network: Path | None = None, editor: bool = True,
               env: dict[str, str] | None = None, unset: tuple[str, ...] = ()) -> Iterator[str]:
    """Serve the app on a free port of 127.0.0.1 while the block runs; yields its URL.

    Parameters
    ----------
    folder
        Where the app's own files go (accounts, login counts, scenarios, ``streamlit.log``).
    registry
        The registry served.
    network
        Road graphs; default none (the finder and planner give labelled estimates).
    editor
        Make the account ``EDITOR_USER`` first.
    env
        More environment for the server.
    unset
        Environment variables of this process the server must not see.
    """
    folder.mkdir(parents=True, exist_ok=True)
    accounts = folder / "accounts"
    extra = {"GEO_ACCOUNTS": str(accounts / "accounts.toml"),
             "GEO_LOGIN_STATE": str(accounts / "login_attempts.sqlite"), **(env or {})}
    if editor:
        subprocess.run([sys.executable, "-m", "geo", "user", "add", EDITOR_USER, "--password-stdin"],
                       input=EDITOR_PASSWORD + "\n", text=True, cwd=ROOT, env={**os.environ, **extra},
                       check=True, capture_output=True)
    proc, url = load.start_app(registry, network or folder / "no-network", folder / "streamlit.log", env=extra,
                               unset=unset)
    try:
        yield url
    finally:
        load.stop_app(proc)


@contextmanager
def chromium(args: list[str] = CHROMIUM_ARGS):
    """Debian's Chromium headless shell through Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(args))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium for one test module: import it into the module (``from browser_kit import browser``)."""
    with chromium() as b:
        yield b


class AppPage:
    """A page of the app that records what went wrong.

    Requests to other hosts fail (:data:`CHROMIUM_ARGS`) and are listed in
    ``blocked`` (those to the app and to ``also`` hosts are not), so a page
    that works here works offline; script errors go to ``errors``, dialogs
    (dismissed) to ``dialogs``.
    """

    def __init__(self, browser, app_url: str, viewport: dict = DESKTOP, *, also: tuple[str, ...] = (), **kw):
        self.ctx = browser.new_context(viewport=viewport, **kw)
        self.page = self.ctx.new_page()
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self._hosts = {urlsplit(app_url).netloc, *also}
        self.ctx.on("requestfailed", self._failed)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)

    def _failed(self, request) -> None:
        if urlsplit(request.url).netloc not in self._hosts:
            self.blocked.append(request.url)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        self.ctx.close()


@contextmanager
def pages(browser, app_url: str, **defaults) -> Iterator:
    """A factory of :class:`AppPage` (``factory(viewport, **kw)``); every page made is closed afterwards."""
    made: list[AppPage] = []

    def factory(viewport: dict = DESKTOP, **kw) -> AppPage:
        made.append(AppPage(browser, app_url, viewport, **{**defaults, **kw}))
        return made[-1]

    try:
        yield factory
    finally:
        for page in made:
            page.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished running the script (twice, so a rerun it queued has run too)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def goto(page, url: str) -> None:
    """Open ``url`` and wait for the script's first run to end."""
    page.goto(url)
    wait_idle(page)


def assert_no_exception(page) -> None:
    """No Streamlit exception box on the page."""
    exc = page.locator('[data-testid="stException"]')
    assert exc.count() == 0, exc.first.inner_text()


def radio(page, label: str):
    """The radio button labelled ``label``."""
    return page.locator('[data-testid="stRadio"] label', has_text=label)


def map_frame(page, index: int = 0):
    """The ``index``-th map (a streamlit-folium iframe), once there is one."""
    page.wait_for_selector('iframe[src*="st_folium"]', timeout=30_000)
    return page.frame_locator('iframe[src*="st_folium"]').nth(index)


LOGIN_TEXT = {"zh": ("🔒 编辑人员登录", "用户名", "密码", "登录", "已登录："),
              "en": ("🔒 Editor login", "User name", "Password", "Log in", "Logged in as ")}


def try_login(page, user: str, password: str, lang: str = "en") -> None:
    """Fill in and send the editor login form (Data and siting pages), once it has really been sent.

    The form clears itself when Streamlit runs a submit. A click Streamlit
    drops (seen on loaded CI machines: no rerun, no message, the fields
    still filled) is clicked again, as a person would; only after 20 s with
    the page idle and the password still there, so a slow submit is never
    sent twice (the lockout tests count every attempt).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    header, user_label, password_label, button, _ = LOGIN_TEXT[lang]
    if not page.get_by_label(user_label, exact=True).is_visible():
        page.get_by_text(header, exact=True).click()  # open the login expander
    page.get_by_label(user_label, exact=True).fill(user)
    password_field = page.get_by_label(password_label, exact=True)
    password_field.fill(password)
    for _ in range(3):
        page.get_by_role("button", name=button, exact=True).click()
        wait_idle(page)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if not (password_field.is_visible() and password_field.input_value(timeout=1_000)):
                    return  # sent: the form was cleared (or replaced by the logged-in view)
            except PlaywrightTimeout:
                return  # the field is gone
            page.wait_for_timeout(250)
        wait_idle(page)
    page.screenshot(path=ARTIFACTS / "login_failed.png", full_page=True)
    pytest.fail("the login form was not sent after 3 clicks; the page showed:\n"
                + page.locator("body").inner_text()[:3000])


def login(page, lang: str = "en") -> None:
    """Log in as the test editor and wait until the page says so."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try_login(page, EDITOR_USER, EDITOR_PASSWORD, lang)
    try:
        page.get_by_text(LOGIN_TEXT[lang][4] + EDITOR_USER).wait_for(timeout=90_000)
    except PlaywrightTimeout:
        page.screenshot(path=ARTIFACTS / "login_failed.png", full_page=True)
        pytest.fail("not logged in after 90 s; the page showed:\n" + page.locator("body").inner_text()[:3000])
    wait_idle(page)
