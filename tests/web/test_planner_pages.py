"""Issue 16 in a real browser: a fresh server's first visitor, the planner pages' honest labels and
reports, and no English left in the Chinese interface (nor Chinese interface text in the English one).

One ``streamlit run serve.py`` for the module (fresh: nobody has opened a page yet when the first test
runs) and one Chromium; pages only talk to the app, so the basemap is offline.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from test_browser import (CHROMIUM, CHROMIUM_ARGS, DESKTOP, ROOT, _free_port, _goto, _map_frame, _Page,
                          _wait_healthy, _wait_idle)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium not installed at {CHROMIUM}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from geo.registry.store import open_store

    tmp = tmp_path_factory.mktemp("planner")
    registry = tmp / "registry.gpkg"
    open_store(registry, seed_sample=True)
    env = {**os.environ, "GEO_REGISTRY": str(registry), "GEO_SCENARIO_DIR": str(tmp / "scenarios"),
           "GEO_NETWORK_DIR": str(tmp / "no-network"), "GEO_ACCOUNTS": str(tmp / "accounts" / "accounts.toml"),
           "GEO_LOGIN_STATE": str(tmp / "accounts" / "logins.sqlite")}
    port = _free_port()
    log = tmp / "streamlit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    p = _Page(browser, server, DESKTOP)
    yield p
    p.close()


def test_first_visitor_after_a_start_sees_the_page_not_page_not_found(page, server):
    # The first request this server gets: no earlier session has run app.py.
    _goto(page.page, server + "/coverage")
    page.page.locator("h1", has_text="服务覆盖分析").first.wait_for(timeout=60_000)
    _wait_idle(page.page)
    assert page.page.get_by_text("Page not found").count() == 0
    assert page.page.locator('[role="dialog"]').count() == 0
    assert urlsplit(page.page.url).path == "/coverage"
