"""Workers' reports over the public API: file one, read a station's recent counts.

* ``POST /api/v1/stations/{id}/reports`` with ``{"type": …, "text": …}``
  answers 201 and the station's counts after it; 400 for a bad body, 404
  for an unknown station, 429 with ``Retry-After`` past the client's
  limits. Errors are the API's ``{"error": {"code", "message_zh",
  "message_en"}}``.
* ``GET /api/v1/stations/{id}/reports`` answers the counts alone
  (``no-store``: the card shows them right after a report), and
  ``GET /api/v1/stations/{id}`` carries them as the Feature's ``reports``
  member (:func:`station_reports`).

Nothing but the type and the text is read from the request. The client's
address only ever becomes its keyed hash (:func:`geo.registry.reports.client_key`),
for the limits' window; nothing here logs a request.
"""
from __future__ import annotations

import json
import logging
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from geo import settings
from geo.registry.auth.login import client_address
from geo.registry.reports import (ReportLimitError, StationNotFound, client_key, recent_counts, since_iso)
from geo.registry.validate import ValidationError
from geo.web.served import served_store

#: Largest request body a report may have (bytes): 200 characters of text and the type fit many times over.
MAX_BODY_BYTES = 4096
_LOG = logging.getLogger(__name__)
_NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, code: str, zh: str, en: str, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message_zh": zh, "message_en": en}}
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})


def station_reports(station_id: str) -> dict:
    """The recent counts of one station's reports (:func:`geo.registry.reports.recent_counts`).

    Parameters
    ----------
    station_id

    Returns
    -------
    dict
        ``days``, ``since``, ``counts``, ``open``, ``latest``, ``decision``.
    """
    store = served_store()
    return recent_counts(store.reports(station_id=station_id, since=since_iso(settings.REPORT_RECENT_DAYS)))


def _split(text: str) -> tuple[str, str]:
    zh, _, en = str(text).partition(" / ")
    return zh, en or zh


def _file(station_id: str, body: bytes, address: str | None) -> Response:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _error(400, "bad_json", "请求内容不是有效的 JSON", "the request body is not valid JSON")
    if not isinstance(data, dict) or set(data) - {"type", "text"}:
        return _error(400, "bad_report", "反馈只能包含 type 和 text", "a report holds only type and text")
    store = served_store()
    try:
        report = store.add_report(station_id, data.get("type"), data.get("text"), client=client_key(address))
    except StationNotFound:
        return _error(404, "not_found", "没有这个站点", "no such station")
    except ReportLimitError as exc:
        return _error(429, "rate_limited", exc.zh, exc.en, headers={"Retry-After": str(exc.retry_after)})
    except ValidationError as exc:
        return _error(400, "bad_report", *_split(exc.args[0]))
    shown = {k: report[k] for k in ("report_id", "station_id", "type", "text", "at", "status")}
    recent = recent_counts(store.reports(station_id=station_id, since=since_iso(settings.REPORT_RECENT_DAYS)))
    return JSONResponse({"report": shown, "reports": recent}, status_code=201, headers=_NO_STORE)


async def _post(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "too_large", "请求内容太长", "the request body is too large")
    peer = request.client.host if request.client else None
    address = client_address(peer, list(request.headers.items()))
    try:
        return await run_in_threadpool(_file, request.path_params["station_id"], body, address)
    except Exception:
        _LOG.exception("report failed")  # the traceback only: never the request, its address or its text
        return _error(500, "internal", "服务器出错，请稍后再试", "server error; try again later")


async def _get(request: Request) -> Response:
    sid = request.path_params["station_id"]
    try:
        found = await run_in_threadpool(lambda: served_store().get(sid) is not None)
        if not found:
            return _error(404, "not_found", "没有这个站点", "no such station")
        return JSONResponse(await run_in_threadpool(station_reports, sid), headers=_NO_STORE)
    except Exception:
        _LOG.exception("reading reports failed")
        return _error(500, "internal", "服务器出错，请稍后再试", "server error; try again later")


def routes() -> list[Route]:
    """The report routes, to go before ``/api/v1/stations/{id}`` and the API's catch-all."""
    return [Route("/api/v1/stations/{station_id}/reports", _post, methods=["POST"]),
            Route("/api/v1/stations/{station_id}/reports", _get, methods=["GET"])]
