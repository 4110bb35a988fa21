"""Place search over the public API: ``GET /api/v1/places?q=<text>&limit=8``.

Answers ``200 {"results": [{"name", "name_en", "kind", "lon", "lat",
"district"}]}`` (WGS-84, best first; see :func:`geo.routing.places.search`)
from the network folder's place index, Guangdong's districts and the
registry's public stations. ``limit`` is 1 to ``settings.PLACES_MAX_LIMIT``
(default ``settings.PLACES_DEFAULT_LIMIT``); an empty ``q`` or one longer
than ``settings.PLACES_MAX_QUERY`` characters is a 400 with the API's
bilingual error object.

The query is a place name, not a position, but it can still tell where a
worker is going, so it is never logged; a failure logs its traceback only.
Answers may be cached by the browser for ``settings.PLACES_MAX_AGE``
seconds. When the network folder has a place index, it and the districts
are loaded in a background thread when the routes are made (as each server
process starts), so the first rider does not wait for them.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pandas as pd
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from geo import settings
from geo.routing.places import places_path, search, warm

_LOG = logging.getLogger(__name__)


class PlaceQueryError(ValueError):
    """A query the endpoint refuses, with its code and a message in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(en)
        self.code, self.zh, self.en = code, zh, en


def _error(status: int, code: str, zh: str, en: str) -> JSONResponse:
    body = {"error": {"code": code, "message_zh": zh, "message_en": en}}
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def read_query(params) -> tuple[str, int]:
    """The text and the number of results a request asks for.

    Parameters
    ----------
    params
        The request's query parameters (a mapping).

    Returns
    -------
    tuple of (str, int)
        ``q`` stripped, and ``limit``.

    Raises
    ------
    PlaceQueryError
        For a missing or blank ``q``, a ``q`` over ``settings.PLACES_MAX_QUERY``
        characters, or a ``limit`` that is not a whole number from 1 to
        ``settings.PLACES_MAX_LIMIT``.
    """
    text = (params.get("q") or "").strip()
    if not text:
        raise PlaceQueryError("missing_parameter", "请输入要找的地点（参数 q）", "enter a place to look for (parameter q)")
    if len(text) > settings.PLACES_MAX_QUERY:
        n = settings.PLACES_MAX_QUERY
        raise PlaceQueryError("bad_parameter", f"地点名称太长（最多 {n} 个字）",
                              f"the place name is too long (at most {n} characters)")
    raw = params.get("limit")
    try:
        limit = settings.PLACES_DEFAULT_LIMIT if raw is None or raw == "" else int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= settings.PLACES_MAX_LIMIT:
        n = settings.PLACES_MAX_LIMIT
        raise PlaceQueryError("bad_parameter", f"limit 应为 1 到 {n} 之间的整数",
                              f"limit must be a whole number from 1 to {n}")
    return text, limit


def routes(*, stations: Callable[[], pd.DataFrame | None]) -> list[Route]:
    """The route of ``GET /api/v1/places``.

    Parameters
    ----------
    stations
        Returns the registry's stations (the API's cached table; only the
        public, existing ones are searched, by public fields).
    """
    def answer(request: Request) -> Response:
        try:
            text, limit = read_query(request.query_params)
        except PlaceQueryError as exc:
            return _error(400, exc.code, exc.zh, exc.en)
        results = search(text, stations=stations(), limit=limit)
        return JSONResponse({"results": results},
                            headers={"Cache-Control": f"public, max-age={settings.PLACES_MAX_AGE}"})

    # Each server process with a place index loads it (and the districts) in the background as it
    # starts; without one there is little to load, and nothing competes with the first requests.
    if places_path().exists():
        threading.Thread(target=warm, name="places-warm", daemon=True).start()

    async def endpoint(request: Request) -> Response:
        try:
            return await run_in_threadpool(answer, request)
        except Exception:
            _LOG.exception("place search failed")  # the traceback only: never the query
            return _error(500, "internal", "服务器出错，请稍后再试", "server error; try again later")

    return [Route("/api/v1/places", endpoint, methods=["GET"])]
