"""The per-address login limit behind a reverse proxy, through the real server and a real browser.

``streamlit run serve.py`` is started with and without
``GEO_TRUSTED_PROXY_HEADER``; Chromium (through Playwright) sends an
``X-Forwarded-For`` header with every request, as a proxy in front of the
app would, or as a client forging one would. One failed login on the Data
page is then looked up in the login-state file: which address was counted.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from browser_kit import (DATA_PAGE, DESKTOP, AppPage, app_server, browser, goto, needs_chromium,  # noqa: F401
                         try_login)
from conftest import ROOT

pytestmark = needs_chromium

CLIENT = "203.0.113.7"


def _addr_key(address: str) -> str:
    return hashlib.sha256(f"addr:{address}".encode()).hexdigest()


@contextmanager
def _serve(tmp: Path, extra_env: dict[str, str]):
    """The app with one public station, the proxy settings ``extra_env`` and no others; yields (url, login state)."""
    from geo.registry.store import create_registry

    registry = create_registry(tmp / "registry.gpkg")
    registry.add({"kind": "rest_station", "name": "公开驿站", "lon": 113.3245, "lat": 23.1375})
    unset = tuple(k for k in os.environ if k.startswith(("GEO_TRUSTED_PROXY", "FORWARDED_ALLOW_IPS")))
    with app_server(tmp / "server", registry.path, env=extra_env, unset=unset) as url:
        yield url, tmp / "server" / "accounts" / "login_attempts.sqlite"


def _counted_keys(browser, url: str, state: Path, forwarded_for: str) -> set[str]:
    """Fail one login with ``X-Forwarded-For: forwarded_for`` on every request; the keys counted."""
    page = AppPage(browser, url, DESKTOP, extra_http_headers={"X-Forwarded-For": forwarded_for})
    try:
        goto(page.page, f"{url}/{DATA_PAGE}?lang=en")
        try_login(page.page, "intruder", "guess-guess-guess")
        page.page.get_by_text("Wrong user name or password.", exact=True).wait_for(timeout=30_000)
    finally:
        page.close()
    with sqlite3.connect(state) as conn:
        return {k for (k,) in conn.execute("SELECT key FROM failures")}


_UVICORN_TRUSTS_LOCALHOST = pytest.mark.xfail(
    strict=True, reason="uvicorn (under serve.py) believes X-Forwarded-For from 127.0.0.1 and ::1 unless "
                        "FORWARDED_ALLOW_IPS says otherwise; it reads that before serve.py is imported, so "
                        "`make run` sets it (test_make_run_tells_uvicorn_to_trust_no_proxy)")


#: What reaches the app through two proxies of ours (a CDN, then nginx): the client forged
#: 198.51.100.99, the CDN appended the client's real address, nginx appended the CDN's.
FORWARDED = f"198.51.100.99, {CLIENT}, 192.0.2.50"


@pytest.mark.parametrize("env, counted", [
    # Trusted, two proxies: the client's address, second from the right, is counted; neither the
    # forged one nor the CDN's (which uvicorn alone would pick).
    ({"GEO_TRUSTED_PROXY_HEADER": "X-Forwarded-For", "GEO_TRUSTED_PROXY_HOPS": "2"}, CLIENT),
    # Off, with uvicorn told to trust no proxy either: the header is ignored; a browser on this
    # machine has no address (Streamlit gives none for localhost), so only the name counts.
    ({"FORWARDED_ALLOW_IPS": ""}, None),
    # Off, started by hand without FORWARDED_ALLOW_IPS: uvicorn's own default trusts localhost.
    pytest.param({}, None, marks=_UVICORN_TRUSTS_LOCALHOST),
], ids=["trusted-header", "off", "off-uvicorn-default"])
def test_login_counts_the_proxy_header_address_only_when_trusted(browser, tmp_path, env, counted):
    with _serve(tmp_path, env) as (url, state):
        keys = _counted_keys(browser, url, state, FORWARDED)
    name_key = hashlib.sha256(b"user:intruder").hexdigest()
    assert keys == {name_key} | ({_addr_key(counted)} if counted else set()), keys


def test_make_run_tells_uvicorn_to_trust_no_proxy():
    """`make run` starts the server with FORWARDED_ALLOW_IPS empty unless the operator set it."""
    out = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}).stdout
    line = next(x for x in out.splitlines() if "streamlit run serve.py" in x)
    assert 'FORWARDED_ALLOW_IPS="${FORWARDED_ALLOW_IPS-}"' in line
    assert subprocess.run(["sh", "-c", 'FORWARDED_ALLOW_IPS="${FORWARDED_ALLOW_IPS-}" env'], capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"]}).stdout.count("FORWARDED_ALLOW_IPS=\n") == 1
