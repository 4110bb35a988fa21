"""GET /api/v1/places over real HTTP: a uvicorn server of geo.web.server on a free port.

The network folder holds the place index of the shared Shenzhen extract
(built by ``python -m geo network places``, as an operator would); the
registry holds a few central Shenzhen stations, one of them not public.
"""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import urllib.parse

import pandas as pd
import pytest

from geo.registry.io.table import RawTable
from geo.registry.store import create_registry
from geo.registry.validate import validate_table
from geo.routing.places import KIND_WEIGHT

from api_kit import http_get, load, start_api
from conftest import ROOT, SHENZHEN_PBF

SECRET_PHONE = "13700009999"
STATIONS = [
    ("会展中心驿站", 114.0593, 22.5370, "驿站", "是", "0755-1"),
    ("福田口岸驿站", 114.0700, 22.5210, "驿站", "是", "0755-2"),
    ("内部法律站", 114.0550, 22.5450, "法律援助工作站", "否", SECRET_PHONE),
]
FIELDS = {"name", "name_en", "kind", "lon", "lat", "district"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not SHENZHEN_PBF.exists():
        pytest.skip(f"needs the Shenzhen extract {SHENZHEN_PBF}")
    tmp = tmp_path_factory.mktemp("places-api")
    registry = create_registry(tmp / "registry.gpkg")
    df = pd.DataFrame([{"名称": n, "经度": x, "纬度": y, "类型": t, "是否公开": p, "电话": ph, "开放时间": "24/7"}
                       for n, x, y, t, p, ph in STATIONS], dtype=object).astype(str)
    report = validate_table(RawTable(df, filename="s.csv", format="csv"), None, source="s")
    assert len(report.rejects) == 0
    registry.commit_import(report)
    subprocess.run([sys.executable, "-m", "geo", "network", "places", str(SHENZHEN_PBF), "--out",
                    str(tmp / "network")], cwd=ROOT, check=True, capture_output=True)
    log = tmp / "server.log"
    proc, url = start_api({"GEO_REGISTRY": str(tmp / "registry.gpkg"), "GEO_NETWORK_DIR": str(tmp / "network")}, log)
    yield url, log
    load.stop_app(proc)


def _places(server, **params) -> tuple[int, dict, dict]:
    url, _ = server
    status, headers, body = http_get(f"{url}/api/v1/places?{urllib.parse.urlencode(params)}")
    return status, headers, json.loads(body)


def test_answer_shape_and_types(server):
    status, headers, body = _places(server, q="futian")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert list(body) == ["results"] and body["results"]
    for r in body["results"]:
        assert set(r) == FIELDS
        assert isinstance(r["name"], str) and isinstance(r["kind"], str)
        assert r["name_en"] is None or isinstance(r["name_en"], str)
        assert r["district"] is None or isinstance(r["district"], str)
        assert isinstance(r["lon"], float) and isinstance(r["lat"], float)
    first = body["results"][0]
    assert (first["name"], first["kind"], first["district"]) == ("福田区", "district", "福田区")
    assert 113.9 < first["lon"] < 114.2 and 22.4 < first["lat"] < 22.7  # WGS-84, inside 福田区


@pytest.mark.parametrize("q, name, name_en", [
    ("深南大道", "深南大道", "Shennan Boulevard"),
    ("sndd", "深南大道", "Shennan Boulevard"),
    ("SHENNAN boulevard", "深南大道", "Shennan Boulevard"),
    ("nanshan", "南山区", None),
])
def test_chinese_pinyin_initials_english(server, q, name, name_en):
    status, _, body = _places(server, q=q)
    assert status == 200
    assert (body["results"][0]["name"], body["results"][0]["name_en"]) == (name, name_en)


def test_public_stations_only_and_public_fields_only(server):
    _, _, body = _places(server, q="会展中心")
    assert body["results"][0] == {"name": "会展中心驿站", "name_en": None, "kind": "rest_station",
                                  "lon": 114.0593, "lat": 22.537, "district": "福田区"}
    status, _, body = _places(server, q="内部法律站")
    assert status == 200 and body == {"results": []}
    url, _ = server
    for q in ("驿站", "yz", "法律"):
        assert SECRET_PHONE not in http_get(f"{url}/api/v1/places?q={urllib.parse.quote(q)}&limit=20")[2].decode()


def test_limit_default_and_bounds(server):
    assert len(_places(server, q="路")[2]["results"]) == 8
    assert len(_places(server, q="路", limit=3)[2]["results"]) == 3
    assert len(_places(server, q="路", limit=20)[2]["results"]) == 20
    assert len(_places(server, q="路", limit=1)[2]["results"]) == 1


@pytest.mark.parametrize("params, code", [
    ({}, "missing_parameter"),
    ({"q": ""}, "missing_parameter"),
    ({"q": "   "}, "missing_parameter"),
    ({"q": "福" * 65}, "bad_parameter"),
    ({"q": "路", "limit": "0"}, "bad_parameter"),
    ({"q": "路", "limit": "21"}, "bad_parameter"),
    ({"q": "路", "limit": "-1"}, "bad_parameter"),
    ({"q": "路", "limit": "2.5"}, "bad_parameter"),
    ({"q": "路", "limit": "many"}, "bad_parameter"),
])
def test_errors_are_bilingual_json(server, params, code):
    status, headers, body = _places(server, **params)
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert headers["cache-control"] == "no-store"
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["message_zh"] and body["error"]["message_en"]
    assert "Traceback" not in json.dumps(body)


def test_longest_query_is_answered(server):
    status, _, body = _places(server, q="福" * 64)
    assert status == 200 and body == {"results": []}
    status, _, body = _places(server, q="!!!")  # nothing left to match once punctuation is folded away
    assert status == 200 and body == {"results": []}


def test_cache_control_and_gzip(server):
    url, _ = server
    status, headers, raw = http_get(f"{url}/api/v1/places?q=%E8%B7%AF&limit=20", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert headers["cache-control"].startswith("public, max-age=")
    body = json.loads(gzip.decompress(raw))
    assert len(body["results"]) == 20
    status, headers, plain = http_get(f"{url}/api/v1/places?q=%E8%B7%AF&limit=20")
    assert "content-encoding" not in headers and json.loads(plain) == body


def test_documented_in_openapi(server):
    url, _ = server
    doc = json.loads(http_get(f"{url}/api/v1/openapi.json")[2])
    op = doc["paths"]["/api/v1/places"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"q", "limit"}
    assert {"200", "400"} <= set(op["responses"])
    # Every kind the search can answer is in the documented enum, and nothing else.
    assert set(doc["components"]["schemas"]["Place"]["properties"]["kind"]["enum"]) == set(KIND_WEIGHT)


def test_query_text_is_not_logged(server):
    url, log = server
    secret = "福田保税区一号专用通道"
    assert _places(server, q=secret)[0] == 200
    assert _places(server, q=secret * 6)[0] == 400
    text = log.read_text(encoding="utf-8", errors="replace")
    assert secret not in text and urllib.parse.quote(secret) not in text
