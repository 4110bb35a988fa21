"""The public JSON API (/api/v1) over real HTTP: a uvicorn server of geo.web.server on a free port.

It must answer as ``python -m geo nearest --json`` does, keep non-public
fields out, answer errors as bilingual JSON, cache the station list with an
ETag, compress, rate-limit per client, and log no position.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from geo.registry.io.table import RawTable
from geo.registry.store import create_registry
from geo.registry.validate import validate_table
from geo.routing.nearest import find_nearest
from geo.routing.build import build_graphs

from api_kit import free_port, http_get, start_api
from conftest import BACKENDS, ROOT, SHENZHEN_PBF

SECRET_PHONE = "13700009999"
# Stations in central Shenzhen (the road extract's area): one private.
STATIONS = [
    ("会展中心驿站", 114.0593, 22.5370, "驿站", "饮水;如厕", "是", "0755-1"),
    ("福田口岸驿站", 114.0700, 22.5210, "驿站", "饮水", "是", "0755-2"),
    ("车公庙司机之家", 114.0235, 22.5385, "司机之家", "停车;饮水", "是", "0755-3"),
    ("内部法律站", 114.0550, 22.5450, "法律援助工作站", "", "否", SECRET_PHONE),
    ("香蜜湖驿站", 114.0330, 22.5500, "驿站", "饮水;充电", "是", "0755-5"),
]
ORIGIN = (114.0579, 22.5431)  # Futian civic centre, WGS-84


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> Path:
    """Road graphs of central Shenzhen, built once for both backends."""
    if not SHENZHEN_PBF.exists():
        pytest.skip(f"needs the Shenzhen extract {SHENZHEN_PBF}")
    folder = tmp_path_factory.mktemp("api-network") / "network"
    build_graphs(SHENZHEN_PBF, folder, modes=("walk", "ebike"))
    return folder


@pytest.fixture(scope="module", params=BACKENDS)
def registry_at(request, tmp_path_factory) -> str:
    """Where the served registry is: a GeoPackage, then a PostGIS database (the API must not tell them apart)."""
    if request.param == "gpkg":
        return str(tmp_path_factory.mktemp("api-registry") / "registry.gpkg")
    return request.getfixturevalue("pg_server").new_database("api")


@pytest.fixture(scope="module")
def world(tmp_path_factory, network, registry_at):
    """A registry and a road network of central Shenzhen; the folder of the servers' logs."""
    tmp = tmp_path_factory.mktemp("api")
    (tmp / "network").symlink_to(network)
    registry = create_registry(registry_at)
    df = pd.DataFrame([{"名称": n, "经度": x, "纬度": y, "类型": t, "设施": f, "是否公开": p, "电话": ph,
                        "开放时间": "24/7"} for n, x, y, t, f, p, ph in STATIONS], dtype=object).astype(str)
    report = validate_table(RawTable(df, filename="s.csv", format="csv"), None, source="s")
    assert len(report.rejects) == 0
    registry.commit_import(report)
    return tmp


def _start(world: Path, registry: str, **env) -> tuple[subprocess.Popen, str, Path]:
    log = world / f"server-{len(list(world.glob('server-*.log')))}.log"
    proc, url = start_api({"GEO_REGISTRY": registry, "GEO_NETWORK_DIR": str(world / "network"), **env}, log)
    return proc, url, log


@pytest.fixture(scope="module")
def server(world, registry_at):
    proc, url, log = _start(world, registry_at)
    yield url, log
    proc.terminate()
    proc.wait(timeout=10)


def _json(url: str):
    status, headers, body = http_get(url)
    return status, json.loads(body)


@pytest.mark.parametrize("query, kwargs", [
    ("", {}),
    ("&mode=walk&k=3", {"mode": "walk", "k": 3}),
    ("&kind=rest_station&by=distance", {"kinds": ["rest_station"], "by": "distance"}),
    ("&facility=drinking_water&k=2", {"facilities": ["drinking_water"], "k": 2}),
])
def test_nearest_answers_as_the_command_does(server, world, registry_at, query, kwargs):
    url, _ = server
    kwargs = dict(kwargs)  # the parametrised dict is shared by both backends' runs: never change it
    status, body = _json(f"{url}/api/v1/nearest?lon={ORIGIN[0]}&lat={ORIGIN[1]}{query}")
    assert status == 200
    expected = find_nearest(*ORIGIN, network=world / "network", registry=registry_at,
                            mode=kwargs.pop("mode", "ebike"), **kwargs)
    assert body["results"] == json.loads(json.dumps(expected))
    assert body["method"] == "network" and body["origin"] == {"lon": ORIGIN[0], "lat": ORIGIN[1]}
    for r in body["results"]:
        assert {"id", "name", "kind", "lon", "lat", "distance_m", "duration_s", "method", "route"} <= set(r)
        assert r["route"]["type"] == "LineString"
        # Door to door: the walks to and from the road are in the totals and drawn as their own lines.
        assert r["access"]["coordinates"][0] == list(ORIGIN) and r["egress"]["coordinates"][-1] == [r["lon"], r["lat"]]
        assert r["access"]["coordinates"][1] == r["route"]["coordinates"][0]
        assert r["egress"]["coordinates"][0] == r["route"]["coordinates"][-1]
        assert r["distance_m"] == pytest.approx(r["road_m"] + r["access_m"] + r["egress_m"], abs=0.15)
        assert r["duration_s"] > r["road_s"] and isinstance(r["facilities"], list) and r["is_sample"] is False
    assert [r["duration_s"] for r in body["results"]] == sorted(r["duration_s"] for r in body["results"]) \
        or "by=distance" in query
    assert SECRET_PHONE not in json.dumps(body)


def test_nearest_takes_amap_and_baidu_coordinates(server):
    from geo.core.crs import from_wgs84

    url, _ = server
    _, wgs = _json(f"{url}/api/v1/nearest?lon={ORIGIN[0]}&lat={ORIGIN[1]}")
    for crs in ("gcj02", "bd09"):
        x, y = from_wgs84(ORIGIN[0], ORIGIN[1], crs)
        status, body = _json(f"{url}/api/v1/nearest?lon={x}&lat={y}&crs={crs}")
        assert status == 200
        assert abs(body["origin"]["lon"] - ORIGIN[0]) < 1e-5 and abs(body["origin"]["lat"] - ORIGIN[1]) < 1e-5
        assert [r["id"] for r in body["results"]] == [r["id"] for r in wgs["results"]]


@pytest.mark.parametrize("query, code", [
    ("lat=22.5", "missing_parameter"),
    ("lon=abc&lat=22.5", "bad_coordinate"),
    ("lon=nan&lat=22.5", "bad_coordinate"),
    ("lon=114&lat=95", "bad_coordinate"),
    ("lon=121.47&lat=31.23", "outside_region"),  # Shanghai
    ("lon=114.05&lat=22.54&mode=plane", "bad_parameter"),
    ("lon=114.05&lat=22.54&crs=utm", "bad_parameter"),
    ("lon=114.05&lat=22.54&k=0", "bad_parameter"),
    ("lon=114.05&lat=22.54&k=1000", "bad_parameter"),
    ("lon=114.05&lat=22.54&kind=shop", "bad_parameter"),
    ("lon=114.05&lat=22.54&facility=spa", "bad_parameter"),
    ("lon=114.05&lat=22.54&at=yesterday", "bad_parameter"),
])
def test_bad_queries_get_a_bilingual_400(server, query, code):
    url, _ = server
    status, body = _json(f"{url}/api/v1/nearest?{query}")
    assert status == 400
    assert body["error"]["code"] == code
    assert body["error"]["message_zh"] and body["error"]["message_en"]
    assert "Traceback" not in json.dumps(body)


def test_station_list_is_public_geojson_with_etag_and_gzip(server):
    url, _ = server
    status, headers, raw = http_get(f"{url}/api/v1/stations", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert headers["content-type"].startswith("application/geo+json")
    doc = json.loads(gzip.decompress(raw))
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(STATIONS)
    assert SECRET_PHONE not in json.dumps(doc, ensure_ascii=False)
    assert "public, max-age=" in headers["cache-control"]
    status, _, body = http_get(f"{url}/api/v1/stations", {"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""


@pytest.mark.parametrize("query, names", [
    ("kind=driver_home", {"车公庙司机之家"}),
    ("region=440304", {n for n, *_ in STATIONS}),  # 福田区
    ("region=440305", set()),  # 南山区
    ("bbox=114.05,22.53,114.065,22.54", {"会展中心驿站"}),
    ("facility=phone_charging", {"香蜜湖驿站"}),
])
def test_station_list_filters(server, query, names):
    url, _ = server
    status, doc = _json(f"{url}/api/v1/stations?{query}")
    assert status == 200
    assert {f["properties"]["name"] for f in doc["features"]} == names


def test_one_station_and_404s(server):
    url, _ = server
    _, doc = _json(f"{url}/api/v1/stations")
    private = next(f for f in doc["features"] if f["properties"]["name"] == "内部法律站")
    status, one = _json(f"{url}/api/v1/stations/{private['properties']['id']}")
    assert status == 200 and one["type"] == "Feature" and SECRET_PHONE not in json.dumps(one)
    for path in ("/api/v1/stations/NOPE", "/api/v1/nothing-here"):
        status, body = _json(f"{url}{path}")
        assert status == 404 and body["error"]["code"] == "not_found"


def test_openapi_documents_every_route_and_parameter(server):
    url, _ = server
    status, doc = _json(f"{url}/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    assert {"/api/v1/nearest", "/api/v1/stations", "/api/v1/stations/{station_id}"} <= set(doc["paths"])
    params = {p["name"] for p in doc["paths"]["/api/v1/nearest"]["get"]["parameters"]}
    source = (ROOT / "geo" / "web" / "public_api.py").read_text(encoding="utf-8")
    import re
    read = set(re.findall(r'_(?:number|choice|choices)\(request, "(\w+)"', source))
    read |= set(re.findall(r'query_params(?:\.get)?\(?\[?"(\w+)"', source))
    assert read - {"region", "status", "bbox"} <= params, read - params


def test_rate_limit_per_client_answers_429_with_retry_after(world, registry_at):
    # 6 a minute: one token per 10 s, so a loaded machine (or a first request that opens
    # the database) cannot refill the bucket while the 8 requests run.
    proc, url, _ = _start(world, registry_at, GEO_API_RATE_PER_MINUTE="6", GEO_API_RATE_BURST="5")
    try:
        codes = [http_get(f"{url}/api/v1/stations/NOPE")[0] for _ in range(8)]
        # A burst of 5, one of them spent by _start's readiness check.
        assert codes[:4] == [404] * 4 and codes[4:] == [429] * 4
        status, headers, body = http_get(f"{url}/api/v1/stations/NOPE")
        assert status == 429 and int(headers["retry-after"]) >= 1
        err = json.loads(body)["error"]
        assert err["code"] == "rate_limited" and err["message_zh"] and err["message_en"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_no_position_reaches_the_log(server):
    url, log = server
    lon, lat = "114.0612345", "22.5398765"
    assert http_get(f"{url}/api/v1/nearest?lon={lon}&lat={lat}")[0] == 200
    assert http_get(f"{url}/api/v1/nearest?lon={lon}&lat=95.123456")[0] == 400
    time.sleep(0.5)
    text = log.read_text(errors="replace")
    for part in (lon, lat, lon[:8], lat[:7], "95.123456"):
        assert part not in text


def test_geo_serve_answers_with_two_workers_and_no_access_log(world, registry_at):
    """`python -m geo serve --workers 2` answers the API from two processes, with no access log."""
    port = free_port()
    env = {**os.environ, "GEO_REGISTRY": registry_at, "GEO_NETWORK_DIR": str(world / "network")}
    log = world / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "geo", "serve", "--workers", "2", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/api/v1/openapi.json", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        lon, lat = "114.0587654", "22.5412345"
        for _ in range(6):
            status, body = _json(f"{url}/api/v1/nearest?lon={lon}&lat={lat}&k=2")
            assert status == 200 and len(body["results"]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = log.read_text(errors="replace")
    assert lon not in text and lat not in text and "GET /api" not in text
