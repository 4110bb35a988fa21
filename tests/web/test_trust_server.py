"""What the running server shows the public: no internal routes, no tracebacks.

Real servers (``streamlit run serve.py``, and ``streamlit run app.py``
for the configuration's own backstop), spoken to over HTTP and over
Streamlit's websocket the way a browser does (``bench/load.py``'s client).
A page that fails (a script in a temporary folder, served by a byte-for-byte
copy of serve.py, so the same ``st.App``, handler and middleware, that
reads a file which is not there) must show a bilingual message, with no
traceback, exception text, file path or module name, while the server's log
keeps the details.
"""
from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import FUTIAN, ROOT, load_bench
from geo.core.i18n import t

load = load_bench("load")


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    return load.sample_registry(tmp_path_factory.mktemp("server-registry") / "registry.gpkg")


def _server(tmp_path_factory, registry: Path, entry: str):
    folder = tmp_path_factory.mktemp(f"server-{entry.split('.')[0]}")
    proc, url = load.start_app(registry, folder / "no-network", folder / "streamlit.log", entry=entry,
                               env={"GEO_ACCOUNTS": str(folder / "accounts.toml")})
    return proc, url, folder / "streamlit.log"


@pytest.fixture(scope="module")
def served(tmp_path_factory, registry):
    """``streamlit run serve.py`` (what ``make run`` serves): (url, log)."""
    proc, url, log = _server(tmp_path_factory, registry, "serve.py")
    try:
        yield url, log
    finally:
        load.stop_app(proc)


def _status(url: str, method: str = "GET") -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("path", ["/_stcore/metrics", "/_stcore/metrics/", "//_stcore//metrics", "/_STCORE/Metrics",
                                  "/_stcore/agent/openapi.json", "/_stcore/agent/mcp",
                                  "/_stcore/script-health-check"])
def test_internal_routes_are_not_public(served, path):
    url, _ = served
    assert _status(url + path) == 404
    assert _status(url + path, "OPTIONS") == 404


def test_the_page_health_websocket_and_worker_page_still_work(served):
    url, _ = served
    assert _status(url + "/_stcore/health") == 200
    assert _status(url + "/_stcore/host-config") == 200  # the page reads it at start
    got = _run_home(url)  # /_stcore/stream: the home page really runs
    assert not got["exceptions"] and got["elements"] > 3, got["exceptions"]
    # /finder is the worker page (its route comes before Streamlit's own pages), and its lookup answers.
    with urllib.request.urlopen(f"{url}/finder?lon={FUTIAN[0]}&lat={FUTIAN[1]}", timeout=30) as resp:
        page = resp.read().decode()
    assert 'src="finder.js?v=' in page and "streamlit" not in page.lower()
    host, port = url.removeprefix("http://").split(":")
    result = load.page_lookup(load.http.client.HTTPConnection(host, int(port), timeout=120),
                              load.page_query(*FUTIAN))
    assert load.lookup_problem(result) is None, result


#: What must never reach a browser: a traceback's parts, and the folder the app is installed in.
_DETAILS = (b"Traceback", b"File \"", b"\", line ", b"site-packages", b"streamlit/", b"geo/", b"pages/",
            str(ROOT).encode())


def _log_text(log: Path) -> str:
    """The server's log without colours (Streamlit logs an uncaught exception with rich when it is installed)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))


def _leaks(raw: bytes, log: Path, allowed: tuple[bytes, ...] = ()) -> list[bytes]:
    """Which details, and which exception lines of the server's log (``TypeError: ...``), are in ``raw``."""
    logged = re.findall(r"^(\w+(?:Error|Exception)): (.+)$", _log_text(log), re.M)
    assert logged, "the server logged no exception: the page did not fail"
    forms = {*_DETAILS, *(typ.encode() for typ, _ in logged), *(text.strip().encode() for _, text in logged)}
    return [d for d in forms if d in raw and d not in allowed]


def _run_home(url: str) -> dict:
    """Run the main page over the websocket, as a browser does.

    Returns ``{"exceptions", "alerts", "elements", "raw"}``: the exception elements
    (type, message, stack), the alert texts, how many elements the run sent and
    every byte the server sent in it.
    """
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    def run(ws, msg) -> dict:
        ws.send(msg.SerializeToString())
        out = {"exceptions": [], "alerts": [], "elements": 0, "raw": b""}
        while True:
            data = ws.recv(timeout=120)
            out["raw"] += data
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                out["elements"] += 1
                what = el.WhichOneof("type")
                if what == "exception":
                    out["exceptions"].append((el.exception.type, el.exception.message,
                                              list(el.exception.stack_trace)))
                elif what == "alert":
                    out["alerts"].append(el.alert.body)
            if kind == "script_finished" and fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return out

    with connect(url.replace("http://", "ws://", 1) + "/_stcore/stream", subprotocols=["streamlit"], origin=url,
                 max_size=None, open_timeout=60, close_timeout=2) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string, msg.rerun_script.page_name = "", ""
        return run(ws, msg)


#: A page that fails the way a bug does: deep in a library call, with the server's folder in the message.
_FAILING_PAGE = """\
import streamlit as st
from geo import settings

st.title("会失败的页面 / a page that fails")
(settings.ROOT / "no_such_table.csv").read_text(encoding="utf-8")
"""


def _failing_app(tmp_path_factory, registry: Path, entry: str, *, config: bool):
    """``streamlit run ENTRY`` in a temporary folder holding the failing page as ``app.py`` and, for
    ``serve.py``, a byte-for-byte copy of the project's (so its ``st.App("app.py", ...)`` serves that
    page with the project's handler and middleware); ``config`` copies ``.streamlit/config.toml``.
    The project is on ``PYTHONPATH``. Returns (process, url, log, folder)."""
    folder = tmp_path_factory.mktemp(f"failing-{entry.split('.')[0]}")
    (folder / "app.py").write_text(_FAILING_PAGE, encoding="utf-8")
    if entry == "serve.py":
        shutil.copyfile(ROOT / "serve.py", folder / "serve.py")
    if config:
        (folder / ".streamlit").mkdir()
        shutil.copyfile(ROOT / ".streamlit" / "config.toml", folder / ".streamlit" / "config.toml")
    log = folder / "streamlit.log"
    proc, url = load.start_app(registry, folder / "no-network", log, entry=entry, root=folder,
                               env={"GEO_ACCOUNTS": str(folder / "accounts.toml"), "PYTHONPATH": str(ROOT)})
    return proc, url, log, folder


def _assert_logged(log: Path) -> None:
    text = _log_text(log)
    assert "Traceback" in text and "FileNotFoundError: " in text and "no_such_table.csv" in text, text[-2000:]


def test_a_failing_page_gets_a_bilingual_message_and_no_details(tmp_path_factory, registry):
    # What `make run` serves: serve.py with the project's config.toml.
    proc, url, log, folder = _failing_app(tmp_path_factory, registry, "serve.py", config=True)
    try:
        got = _run_home(url)
    finally:
        load.stop_app(proc)
    assert not got["exceptions"], got["exceptions"]
    assert any(t("script_error", "zh") in a and t("script_error", "en") in a for a in got["alerts"]), got["alerts"]
    # Neither the project's folder, the page's folder nor anything of the exception reaches the browser.
    leaked = _leaks(got["raw"], log) + [d for d in (str(folder).encode(), b"no_such_table") if d in got["raw"]]
    assert not leaked, f"sent to the browser: {leaked}"
    _assert_logged(log)  # the details are in the server's log


def test_without_serve_py_the_configuration_still_hides_the_details(tmp_path_factory, registry):
    # `streamlit run app.py` has no error handler: client.showErrorDetails = "none" keeps the details out.
    proc, url, log, folder = _failing_app(tmp_path_factory, registry, "app.py", config=True)
    try:
        got = _run_home(url)
    finally:
        load.stop_app(proc)
    assert [(typ, stack) for typ, _, stack in got["exceptions"]] == [("", [])]  # Streamlit's generic message
    # Without serve.py's middleware the first message names the app's folder (serve.py hides it).
    leaked = _leaks(got["raw"], log, allowed=(str(folder).encode(),))
    assert not leaked, f"sent to the browser: {leaked}"
    _assert_logged(log)


def test_make_run_serves_the_public_api_beside_the_app(served):
    """The /api/v1 routes answer inside the Streamlit server too, with JSON errors and gzip."""
    import gzip
    import json

    url, _ = served
    req = urllib.request.Request(f"{url}/api/v1/stations", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Encoding"] == "gzip" and resp.headers["ETag"]
        assert json.loads(gzip.decompress(resp.read()))["type"] == "FeatureCollection"
    with urllib.request.urlopen(f"{url}/api/v1/nearest?lon=113.3245&lat=23.1375&k=1", timeout=60) as resp:
        assert len(json.loads(resp.read())["results"]) == 1
    try:
        urllib.request.urlopen(f"{url}/api/v1/nearest?lon=121.47&lat=31.23", timeout=30)
        raise AssertionError("a position outside Guangdong was answered")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400 and json.loads(exc.read())["error"]["code"] == "outside_region"
