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
import sys
from pathlib import Path

import pytest

from test_browser import (CHROMIUM, CHROMIUM_ARGS, DATA_PAGE, DESKTOP, ROOT, _Page, _free_port, _goto,
                          _try_login, _wait_healthy)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not installed at {CHROMIUM}")

CLIENT = "203.0.113.7"


def _addr_key(address: str) -> str:
    return hashlib.sha256(f"addr:{address}".encode()).hexdigest()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _serve(tmp: Path, extra_env: dict[str, str]):
    from geo.registry.store import create_registry

    registry = create_registry(tmp / "registry.gpkg")
    registry.add({"kind": "rest_station", "name": "公开驿站", "lon": 113.3245, "lat": 23.1375})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEO_TRUSTED_PROXY", "FORWARDED_ALLOW_IPS"))}
    env.update(GEO_REGISTRY=str(registry.path), GEO_SCENARIO_DIR=str(tmp / "scenarios"),
               GEO_NETWORK_DIR=str(tmp / "no-network"), GEO_ACCOUNTS=str(tmp / "accounts" / "accounts.toml"),
               GEO_LOGIN_STATE=str(tmp / "accounts" / "logins.sqlite"), **extra_env)
    subprocess.run([sys.executable, "-m", "geo", "user", "add", "zhang.wei", "--password-stdin"],
                   input="测试密码 correct horse\n", text=True, cwd=ROOT, env=env, check=True, capture_output=True)
    port = _free_port()
    log = tmp / "streamlit.log"
    out = open(log, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc, log)
    return proc, out, url, tmp / "accounts" / "logins.sqlite"


def _stop(proc, out) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    out.close()


def _counted_keys(browser, url: str, state: Path, forwarded_for: str) -> set[str]:
    """Fail one login with ``X-Forwarded-For: forwarded_for`` on every request; the keys counted."""
    page = _Page(browser, url, DESKTOP, extra_http_headers={"X-Forwarded-For": forwarded_for})
    try:
        _goto(page.page, f"{url}/{DATA_PAGE}?lang=en")
        _try_login(page.page, "intruder", "guess-guess-guess")
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
    proc, out, url, state = _serve(tmp_path, env)
    try:
        keys = _counted_keys(browser, url, state, FORWARDED)
    finally:
        _stop(proc, out)
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
