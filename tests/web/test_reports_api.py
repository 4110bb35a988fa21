"""Workers' reports over real HTTP: a uvicorn server of geo.web.server on a free port, a real registry.

Filing, counts, errors and limits, escaping, a restart (and a SIGKILL) of
the server, and privacy: after reports and a lookup, no file of the data
folder and no line of the server's log holds the client's address or the
position.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from geo.registry.io.table import RawTable
from geo.registry.reports import REPORT_TYPES, client_key
from geo.registry.store import create_registry
from geo.registry.validate import validate_table

from api_kit import free_port
from conftest import ROOT

STATIONS = [("天河驿站", 113.3245, 23.1375, "驿站"), ("越秀驿站", 113.2644, 23.1291, "驿站"),
            ("海珠驿站", 113.3000, 23.1000, "驿站")]
CLIENT = "203.0.113.77"          # documentation range: found nowhere else on this machine
POSITION = ("113.3251234", "23.1369876")
HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)> **b** [l](javascript:x) =1+1'


def _request(url: str, *, method: str = "GET", body: bytes | None = None, client: str = CLIENT,
             headers: dict | None = None) -> tuple[int, object, bytes]:
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"X-Forwarded-For": client, "Content-Type": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def _post(url: str, sid: str, payload, **kw) -> tuple[int, object, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    status, headers, raw = _request(f"{url}/api/v1/stations/{sid}/reports", method="POST", body=body, **kw)
    return status, headers, json.loads(raw)


class Server:
    def __init__(self, folder: Path):
        self.folder, self.proc, self.url = folder, None, None
        self.log = folder.parent / f"{folder.name}-server.log"

    def start(self) -> None:
        port = free_port()
        env = {**os.environ, "GEO_REGISTRY": str(self.folder / "registry.gpkg"),
               "GEO_NETWORK_DIR": str(self.folder / "no-network"), "GEO_TRUSTED_PROXY_HEADER": "X-Forwarded-For",
               "GEO_TRUSTED_PROXY_HOPS": "1", "GEO_REPORTS_PER_STATION": "3", "GEO_REPORTS_PER_CLIENT": "5"}
        env.pop("GEO_REPORT_SECRET", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "geo.web.server:app", "--port", str(port), "--host", "127.0.0.1",
             "--no-access-log", "--log-level", "debug"], cwd=ROOT, env=env,
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/v1/openapi.json", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError(self.log.read_text(errors="replace"))

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports") / "data"
    folder.mkdir()
    store = create_registry(folder / "registry.gpkg")
    df = pd.DataFrame([{"名称": n, "经度": x, "纬度": y, "类型": t, "开放时间": "24/7"} for n, x, y, t in STATIONS],
                      dtype=object).astype(str)
    store.commit_import(validate_table(RawTable(df, filename="s.csv", format="csv"), None, source="s"))
    ids = dict(zip(store.load()["name"], store.load()["id"]))
    srv = Server(folder)
    srv.start()
    yield srv, [ids[n] for n, *_ in STATIONS]
    srv.stop()


def test_file_a_report_and_read_the_counts(server):
    srv, ids = server
    status, headers, body = _post(srv.url, ids[0], {"type": "closed", "text": HOSTILE})
    assert status == 201 and headers["Cache-Control"] == "no-store"
    assert body["report"]["type"] == "closed" and body["report"]["text"] == HOSTILE  # as given, JSON-escaped
    assert body["reports"]["open"] == {"closed": 1} and body["reports"]["open_today"] == {"closed": 1}
    assert _post(srv.url, ids[0], {"type": "closed"}, client="203.0.113.78")[0] == 201
    status, headers, raw = _request(f"{srv.url}/api/v1/stations/{ids[0]}/reports")
    counts = json.loads(raw)
    assert status == 200 and counts["open"] == {"closed": 2} and counts["decision"] is None
    assert headers["Cache-Control"] == "no-store"
    status, _, raw = _request(f"{srv.url}/api/v1/stations/{ids[0]}")
    feature = json.loads(raw)
    assert feature["type"] == "Feature" and feature["reports"]["counts"] == {"closed": 2}
    assert "text" not in json.dumps(feature["reports"])  # counts only: texts stay with the editors


@pytest.mark.parametrize("payload, code", [
    (b"not json", "bad_json"),
    ([1, 2], "bad_report"),
    ({"type": "closed", "lon": 113.3, "lat": 23.1}, "bad_report"),  # a position is refused, not ignored
    ({"type": "explode"}, "bad_report"),
    ({"type": "closed", "text": "字" * 201}, "bad_report"),
    ({"type": "closed", "text": 12}, "bad_report"),
])
def test_bad_reports_answer_400_in_both_languages(server, payload, code):
    srv, ids = server
    status, _, body = _post(srv.url, ids[1], payload, client="198.51.100.1")
    assert status == 400 and body["error"]["code"] == code
    assert body["error"]["message_zh"] and body["error"]["message_en"]
    assert body["error"]["message_zh"] != body["error"]["message_en"]


def test_unknown_station_and_oversized_body(server):
    srv, ids = server
    status, _, body = _post(srv.url, "RS-nope", {"type": "closed"}, client="198.51.100.2")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, _, body = _post(srv.url, ids[1], b'{"type":"closed","text":"' + b"x" * 5000 + b'"}',
                            client="198.51.100.2")
    assert status == 413 and body["error"]["code"] == "too_large"


def test_limits_answer_429_with_retry_after_per_client(server):
    srv, ids = server
    me = "198.51.100.50"
    assert [_post(srv.url, ids[2], {"type": t}, client=me)[0] for t in ("full", "no_water", "all_good")] == [201] * 3
    status, headers, body = _post(srv.url, ids[2], {"type": "charging_broken"}, client=me)
    assert status == 429 and 86000 <= int(headers["Retry-After"]) <= 86400
    assert body["error"]["code"] == "rate_limited" and "小时" in body["error"]["message_zh"] \
        and "try again" in body["error"]["message_en"]
    status, _, body = _post(srv.url, ids[1], {"type": "full"}, client="198.51.100.51")
    assert status == 201
    assert _post(srv.url, ids[1], {"type": "full"}, client="198.51.100.51")[0] == 429  # each type once
    assert _post(srv.url, ids[2], {"type": "full"}, client="198.51.100.52")[0] == 201  # others are not limited
    for sid in ids[:2]:  # the daily total (5) of one client
        _post(srv.url, sid, {"type": "toilet_unusable"}, client=me)
    status, _, body = _post(srv.url, ids[0], {"type": "charging_broken"}, client=me)
    assert status == 429 and "今天的反馈" in body["error"]["message_zh"]


def test_openapi_lists_the_report_route(server):
    srv, _ = server
    doc = json.loads(_request(f"{srv.url}/api/v1/openapi.json")[2])
    route = doc["paths"]["/api/v1/stations/{station_id}/reports"]
    assert set(route["post"]["responses"]) >= {"201", "400", "404", "429"}
    assert route["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ReportRequest")
    assert doc["components"]["schemas"]["ReportRequest"]["properties"]["type"]["enum"] == list(REPORT_TYPES)


def test_reports_survive_a_restart_and_a_sigkill(server):
    srv, ids = server
    before = json.loads(_request(f"{srv.url}/api/v1/stations/{ids[0]}/reports")[2])
    srv.stop(signal.SIGTERM)
    srv.start()
    status, _, body = _post(srv.url, ids[0], {"type": "not_found"}, client="198.51.100.60")
    assert status == 201  # acknowledged, then the server is killed at once
    srv.stop(signal.SIGKILL)
    srv.start()
    after = json.loads(_request(f"{srv.url}/api/v1/stations/{ids[0]}/reports")[2])
    assert after["counts"] == {**before["counts"], "not_found": 1}


def test_no_client_address_or_position_in_any_file_or_the_log(server):
    srv, ids = server
    assert _post(srv.url, ids[0], {"type": "all_good"})[0] in (201, 429)
    lon, lat = POSITION
    status, _, _ = _request(f"{srv.url}/api/v1/nearest?lon={lon}&lat={lat}&open=0")
    assert status == 200
    status, _, _ = _request(f"{srv.url}/api/v1/stations/{ids[0]}/reports?lon={lon}&lat={lat}")
    assert status == 200
    files = [p for p in srv.folder.rglob("*") if p.is_file()] + [srv.log]
    assert {p.name for p in files} >= {"registry.gpkg", "report-limits.key"}
    assert oct((srv.folder / "report-limits.key").stat().st_mode & 0o777) == "0o600"
    # What the limits do keep, for their window: the keyed hash, found where the search looks.
    key = client_key(CLIENT, secret=srv.folder / "report-limits.key")
    assert key.encode() in (srv.folder / "registry.gpkg").read_bytes()
    needles = [CLIENT, "203.0.113.78", "198.51.100.50", lon, lat, lon[:9], lat[:8]]
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in data, f"{needle} found in {path.name}"
            assert needle.encode("utf-16-le") not in data, f"{needle} (UTF-16) found in {path.name}"
