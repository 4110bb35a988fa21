"""The public JSON API, ``/api/v1``: nearest stations and the public station list.

Other systems script against it and the worker page calls it, so its
contract is written down in ``geo/web/openapi.json`` (served at
``/api/v1/openapi.json``) and ``docs/api.md``:

* ``GET /api/v1/nearest`` answers as ``python -m geo nearest --json`` does
  for the same query (the same engine, :func:`geo.routing.nearest.nearest_stations`),
  plus the origin in WGS-84 and the method used.
* ``GET /api/v1/stations`` and ``/api/v1/stations/{id}``: RFC 7946 GeoJSON
  of public fields only (non-public stations redacted as in every public
  export), with ``ETag`` and ``Cache-Control``.
* ``GET /api/v1/places``: place search by name, pinyin or English
  (:mod:`geo.web.places_api`).
* Errors are ``{"error": {"code", "message_zh", "message_en"}}`` with 400,
  404 or 429, never a traceback.

A worker's position is used for the answer and dropped: nothing here logs
or stores it. The per-client rate limit keys on the client's address
(through a trusted proxy header only when configured), never on a position.
"""
from __future__ import annotations

import hashlib
import logging
import json
import math
import threading
import time
from collections import OrderedDict
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from geo import settings
from geo.core.regions import Region, find_region, in_region
from geo.core.schema import FACILITIES, KINDS, STATUSES
from geo.registry.auth.login import client_address
from geo.registry.export import filter_stations, redact_private, to_geojson
from geo.registry.live import LiveStations
from geo.routing.network import MODES, resolve_graph
from geo.routing.nearest import nearest_stations
from geo.routing.stations import StationIndex, station_index
from geo.web import places_api
from geo.web import reports_api
from geo.web.served import served_reader

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
_LOG = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than 200, with its code and a message in Chinese and English."""

    def __init__(self, status: int, code: str, zh: str, en: str, *, headers: dict | None = None):
        super().__init__(en)
        self.status, self.code, self.zh, self.en, self.headers = status, code, zh, en, headers or {}

    def response(self) -> JSONResponse:
        """The error as the API's JSON error object."""
        body = {"error": {"code": self.code, "message_zh": self.zh, "message_en": self.en}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _bad(code: str, zh: str, en: str) -> ApiError:
    return ApiError(400, code, zh, en)


def _number(request: Request, name: str) -> float:
    text = request.query_params.get(name)
    if text is None or text.strip() == "":
        raise _bad("missing_parameter", f"缺少参数 {name}", f"missing parameter {name}")
    try:
        value = float(text)
    except ValueError:
        raise _bad("bad_coordinate", f"{name} 不是数字", f"{name} is not a number") from None
    if not math.isfinite(value):
        raise _bad("bad_coordinate", f"{name} 不是有限的数字", f"{name} is not a finite number")
    return value


def _choice(request: Request, name: str, allowed, default: str | None) -> str | None:
    value = request.query_params.get(name) or default
    if value is not None and value not in allowed:
        options = ", ".join(sorted(allowed))
        raise _bad("bad_parameter", f"{name} 应为 {options} 之一", f"{name} must be one of {options}")
    return value


def _choices(request: Request, name: str, allowed) -> list[str]:
    values = [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v]
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise _bad("bad_parameter", f"{name} 的取值不认识：{wrong[0][:40]}", f"unknown {name}: {wrong[0][:40]}")
    return values


def _registry_stamp() -> tuple[str, str]:
    # The store's change stamp: any save, by this server or another one on
    # the same database, changes it, so every request sees the latest registry.
    return settings.registry_location(), served_reader().change_stamp()


_LIVE: dict[str, LiveStations] = {}
_LIVE_LOCK = threading.Lock()


def stations() -> gpd.GeoDataFrame:
    """The app's registry as it is now: every editor's save, on any server, shows at the next request.

    After an edit one request brings this process's copy up to date from the
    stations that changed (:class:`~geo.registry.live.LiveStations`) while
    the others wait for it; before, each reloaded the whole registry (12
    requests, 12 loads: test_pg_servers.py), and an edit took seconds to
    show under load (bench/servers.py).
    """
    store = served_reader()
    with _LIVE_LOCK:
        live = _LIVE.get(store.location)
        if live is None or live.store is not store:
            live = _LIVE[store.location] = LiveStations(store)
    return live.frame()


def graph_for(mode: str):
    """The road graph of a travel mode in the app's network folder, or ``None`` (then estimates)."""
    # load_graph keeps a loaded graph until its file changes, so each request may ask again.
    return resolve_graph(mode)


@lru_cache(maxsize=2)
def _region(query: str) -> Region:
    return find_region(query)  # looked up once, not on every lookup (7 ms each)


_INDEXES: dict[tuple, tuple] = {}
_INDEX_LOCK = threading.Lock()
_BUILD_LOCK = threading.Lock()  # one index (re)built at a time, as for the loads above


def _station_index(graph, mode: str) -> StationIndex:
    # Hashing the station frame to find its index costs more than the lookup itself
    # (65 ms of 87 ms for 3,000 stations), so the index is kept per registry
    # change and graph object (a rebuilt graph file loads as a new object).
    key = (*_registry_stamp(), mode)
    with _INDEX_LOCK:
        hit = _INDEXES.get(key)
    if hit is not None and hit[0] is graph:
        return hit[1]
    with _BUILD_LOCK:
        with _INDEX_LOCK:
            hit = _INDEXES.get(key)
        if hit is not None and hit[0] is graph:
            return hit[1]  # built by the request this one waited for
        index = station_index(graph, stations())
        with _INDEX_LOCK:
            if len(_INDEXES) >= 16:
                _INDEXES.pop(next(iter(_INDEXES)))
            _INDEXES[key] = (graph, index)
    return index


def nearest(request: Request) -> dict:
    """The body of ``GET /api/v1/nearest`` for a request (see the OpenAPI document)."""
    lon, lat = _number(request, "lon"), _number(request, "lat")
    crs = _choice(request, "crs", ("wgs84", "gcj02", "bd09"), "wgs84")
    mode = _choice(request, "mode", MODES, settings.ROUTING_DEFAULT_MODE)
    by = _choice(request, "by", ("time", "distance"), "time")
    kinds = _choices(request, "kind", KINDS)
    facilities = _choices(request, "facility", FACILITIES)
    try:
        k = int(request.query_params.get("k", "5"))
    except ValueError:
        raise _bad("bad_parameter", "k 应为整数", "k must be a whole number") from None
    if not 1 <= k <= settings.API_MAX_K:
        raise _bad("bad_parameter", f"k 应在 1 到 {settings.API_MAX_K} 之间",
                   f"k must be between 1 and {settings.API_MAX_K}")
    at = None
    if request.query_params.get("at"):
        try:
            at = datetime.fromisoformat(request.query_params["at"])
        except ValueError:
            raise _bad("bad_parameter", "at 不是 ISO 8601 时间", "at is not an ISO 8601 time") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise _bad("bad_coordinate", "坐标超出经纬度范围", "coordinates out of range")
    origin = _origin(lon, lat, crs)
    if not bool(in_region(origin[0], origin[1], _region(settings.SERVICE_REGION))[0]):
        raise _bad("outside_region", "这个位置不在服务范围（广东省）内", "this position is outside the service region "
                   "(Guangdong)")
    graph = graph_for(mode)
    results = nearest_stations(lon, lat, _station_index(graph, mode), graph, k=k, by=by, kinds=kinds or None,
                               facilities=facilities or None, at=at, crs=crs, mode=mode,
                               open_only=request.query_params.get("open", "1") not in ("0", "false"))
    method = "network" if results and all(r["method"] == "network" for r in results) else "estimate"
    return {"origin": {"lon": origin[0], "lat": origin[1]}, "method": method, "results": results}


def _origin(lon: float, lat: float, crs: str) -> tuple[float, float]:
    from geo.core.crs import to_wgs84

    if crs == "wgs84":
        return lon, lat
    x, y = to_wgs84(lon, lat, crs)
    return round(float(x), 7), round(float(y), 7)


def _public(request: Request) -> gpd.GeoDataFrame:
    kinds = _choices(request, "kind", KINDS)
    statuses = _choices(request, "status", STATUSES)
    facilities = _choices(request, "facility", FACILITIES)
    region = request.query_params.get("region")
    try:
        chosen = filter_stations(stations(), kinds=kinds or None, region=region, statuses=statuses or None)
    except ValueError:
        raise _bad("bad_parameter", "region 应为 6 位区划代码", "region must be a 6-digit adcode") from None
    if facilities:
        chosen = chosen[chosen["facilities"].map(lambda have: set(facilities) <= set(have or ()))]
    if request.query_params.get("bbox"):
        try:
            x0, y0, x1, y1 = (float(v) for v in request.query_params["bbox"].split(","))
        except ValueError:
            raise _bad("bad_parameter", "bbox 应为 minlon,minlat,maxlon,maxlat",
                       "bbox must be minlon,minlat,maxlon,maxlat") from None
        chosen = chosen.cx[x0:x1, y0:y1]
    return redact_private(chosen)


def _cached_json(request: Request, text: str, media_type: str = "application/geo+json") -> Response:
    tag = '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={settings.API_STATIONS_MAX_AGE}"}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(text, media_type=media_type, headers=headers)


def _answer(handler):
    """A Starlette endpoint running ``handler`` off the event loop; an :class:`ApiError` becomes its
    JSON error, any other failure a 500 error object without details (they go to the server log)."""
    async def endpoint(request: Request) -> Response:
        try:
            return await run_in_threadpool(handler, request)
        except ApiError as exc:
            return exc.response()
        except Exception:
            _LOG.exception("API request failed")  # the traceback only; never the query (it may hold a position)
            return ApiError(500, "internal", "服务器出错，请稍后再试", "server error; try again later").response()

    return endpoint


def _nearest_endpoint(request: Request) -> Response:
    return JSONResponse(nearest(request), headers={"Cache-Control": "no-store"})


_ANSWERS: OrderedDict[tuple, str] = OrderedDict()
_ANSWERS_LOCK = threading.Lock()
_ANSWERING = threading.Lock()


def _stations_text(request: Request) -> str:
    # The worker page asks for its 0.1-degree cell and the cells round it, so the riders of a
    # city send the same query; each answer (0.1 s for 550 stations) is made once per registry
    # change. Made one at a time: a burst of the same query after an edit waits for the first
    # instead of making it 17 times at once (bench/servers.py: an edit took 4 s to show then).
    key = (*_registry_stamp(), tuple(sorted(request.query_params.multi_items())))
    with _ANSWERS_LOCK:
        text = _ANSWERS.get(key)
    if text is not None:
        return text
    with _ANSWERING:
        with _ANSWERS_LOCK:
            text = _ANSWERS.get(key)
        if text is None:
            text = to_geojson(_public(request))
            with _ANSWERS_LOCK:
                _ANSWERS[key] = text
                while len(_ANSWERS) > settings.API_STATIONS_ANSWERS_KEPT:
                    _ANSWERS.popitem(last=False)
    return text


def _stations_endpoint(request: Request) -> Response:
    return _cached_json(request, _stations_text(request))


def _station_endpoint(request: Request) -> Response:
    sid = request.path_params["station_id"]
    chosen = redact_private(stations())
    chosen = chosen[chosen["id"] == sid]
    if chosen.empty:
        raise ApiError(404, "not_found", "没有这个站点", "no such station")
    collection = json.loads(to_geojson(chosen))
    # Workers' recent reports as a foreign member of the Feature (RFC 7946 6.1); the ETag follows them.
    feature = {**collection["features"][0], "reports": reports_api.station_reports(sid)}
    return _cached_json(request, json.dumps(feature, ensure_ascii=False))


def _openapi_endpoint(request: Request) -> Response:
    return _cached_json(request, OPENAPI_PATH.read_text(encoding="utf-8"), media_type="application/json")


def _unknown_endpoint(request: Request) -> Response:
    raise ApiError(404, "not_found", "没有这个接口", "no such API route")


def routes(*, catch_all: bool = True) -> list[Route]:
    """The routes of ``/api/v1`` (besides the map's popup route in :mod:`geo.web.api`).

    Parameters
    ----------
    catch_all
        End with a route answering every other ``/api/v1/…`` path with the
        JSON 404; put other ``/api/v1`` routes before these.
    """
    found = [
        Route("/api/v1/nearest", _answer(_nearest_endpoint)),
        Route("/api/v1/stations", _answer(_stations_endpoint)),
        *places_api.routes(stations=stations),
        *reports_api.routes(),
        Route("/api/v1/stations/{station_id}", _answer(_station_endpoint)),
        Route("/api/v1/openapi.json", _answer(_openapi_endpoint)),
    ]
    return found + ([Route("/api/v1/{rest:path}", _answer(_unknown_endpoint))] if catch_all else [])


class RateLimit:
    """ASGI middleware: at most ``settings.API_RATE_PER_MINUTE`` API requests a minute per client.

    A token bucket per client address (through the trusted proxy header only
    when one is configured, as for logins); the table forgets the least
    recently seen clients past ``settings.API_RATE_CLIENTS``. Past the limit
    the answer is 429 with ``Retry-After`` and the bilingual error object.
    Only ``/api/`` paths count.

    Parameters
    ----------
    app : ASGI app
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        rate = settings.API_RATE_PER_MINUTE / 60.0
        burst = float(settings.API_RATE_BURST)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
            self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > settings.API_RATE_CLIENTS:
                self._buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/") or settings.API_RATE_PER_MINUTE <= 0:
            await self.app(scope, receive, send)
            return
        peer = (scope.get("client") or (None,))[0]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        wait = self._take(client_address(peer, headers) or "local")
        if wait:
            retry = str(max(1, math.ceil(wait)))
            error = ApiError(429, "rate_limited", f"请求太频繁，请 {retry} 秒后再试",
                             f"too many requests; try again in {retry} s", headers={"Retry-After": retry})
            await error.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)
