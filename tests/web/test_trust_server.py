"""What the running server shows the public: no internal routes, no tracebacks.

Real servers (``streamlit run serve.py``, and ``streamlit run app.py``
for the configuration's own backstop), spoken to over HTTP and over
Streamlit's websocket the way a browser does (``bench/load.py``'s client).
A forged widget state, a value no browser would send, makes a page fail;
what comes back must be a bilingual message, with no traceback, exception
text, file path or module name, while the server's log keeps the details.
"""
from __future__ import annotations

import re
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


def _leaks(raw: bytes, log: Path, allowed: tuple[bytes, ...] = ()) -> list[bytes]:
    """Which details, and which exception lines of the server's log (``TypeError: ...``), are in ``raw``."""
    logged = re.findall(r"^(\w+(?:Error|Exception)): (.+)$", log.read_text(errors="replace"), re.M)
    assert logged, "the server logged no exception: the forged state did not make the page fail"
    forms = {*_DETAILS, *(typ.encode() for typ, _ in logged), *(text.strip().encode() for _, text in logged)}
    return [d for d in forms if d in raw and d not in allowed]


def _run_home(url: str, forge: bool = False) -> dict:
    """Run the home page (the map) over the websocket, as a browser does; with ``forge``, run it again with
    its basemap selectbox set to an option that does not exist, a value no browser would send.

    Returns ``{"exceptions", "alerts", "elements", "raw"}``: the exception elements
    (type, message, stack), the alert texts, how many elements the last run
    sent and every byte the server sent in it.
    """
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    def run(ws, msg) -> dict:
        ws.send(msg.SerializeToString())
        out = {"exceptions": [], "alerts": [], "elements": 0, "raw": b"", "ids": []}
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
                elif what == "selectbox":
                    out["ids"].append(el.selectbox.id)
            if kind == "script_finished" and fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return out

    with connect(url.replace("http://", "ws://", 1) + "/_stcore/stream", subprotocols=["streamlit"], origin=url,
                 max_size=None, open_timeout=60, close_timeout=2) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string, msg.rerun_script.page_name = "", ""
        first = run(ws, msg)
        if not forge:
            return first
        basemap_id = next(i for i in first["ids"] if "map_basemap" in i)
        msg = BackMsg()
        msg.rerun_script.query_string, msg.rerun_script.page_name = "", ""
        forged = msg.rerun_script.widget_states.widgets.add()
        forged.id = basemap_id
        forged.string_value = "no_such_basemap"  # not one of the options
        return run(ws, msg)


@pytest.mark.skip(reason="the Streamlit finder whose forged pills made a page fail is gone (issue 13), and "
                  "Streamlit 1.67 resets forged selectbox and multiselect values of the remaining pages to valid "
                  "options: no client-sent state found yet makes a page raise; the handler stays in serve.py")
def test_a_forged_widget_state_gets_a_bilingual_message_and_no_details(served):
    url, log = served
    got = _run_home(url, forge=True)
    assert not got["exceptions"], got["exceptions"]
    assert any(t("script_error", "zh") in a and t("script_error", "en") in a for a in got["alerts"]), got["alerts"]
    leaked = _leaks(got["raw"], log)
    assert not leaked, f"sent to the browser: {leaked}"
    # The details are in the server's log.
    text = log.read_text(errors="replace")
    assert "Uncaught app execution" in text and "Traceback" in text


@pytest.mark.skip(reason="the Streamlit finder whose forged pills made a page fail is gone (issue 13), and "
                  "Streamlit 1.67 resets forged selectbox and multiselect values of the remaining pages to valid "
                  "options: no client-sent state found yet makes a page raise; the handler stays in serve.py")
def test_without_serve_py_the_configuration_still_hides_the_details(tmp_path_factory, registry):
    # `streamlit run app.py` has no error handler: client.showErrorDetails = "none" keeps the details out.
    proc, url, log = _server(tmp_path_factory, registry, "app.py")
    try:
        got = _run_home(url, forge=True)
    finally:
        load.stop_app(proc)
    assert [(typ, stack) for typ, _, stack in got["exceptions"]] == [("", [])]  # Streamlit's generic message
    # Without serve.py's middleware the first message names the app's folder (serve.py hides it).
    leaked = _leaks(got["raw"], log, allowed=(str(ROOT).encode(),))
    assert not leaked, f"sent to the browser: {leaked}"
    assert "Traceback" in log.read_text(errors="replace")


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
