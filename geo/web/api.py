"""The small JSON API served beside the app (see ``serve.py``).

One route for now: the popup record of one station, which the registry
map fetches when a popup opens so that a province-sized map ships only
positions. It answers with public data only (non-public stations are
redacted as on every public page) and takes no location from the user.

It also holds :class:`PrivateRoutes`, the middleware that keeps
Streamlit's internal routes (``/_stcore/metrics`` and the like,
``settings.PRIVATE_ROUTES``) from the public.

The routes are plain Starlette (Streamlit's own server), so this module
does not import Streamlit.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import geopandas as gpd
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from geo import settings
from geo.registry.export import redact_private
from geo.registry.store.base import RegistryStore
from geo.web.maps.records import station_record
from geo.web.served import served_reader

#: Where the map finds the API, relative to streamlit-folium's iframe
#: (``<base>/component/streamlit_folium.st_folium/index.html``).
STATIONS_URL = "../../api/v1/stations/"

def station_popup(station_id: str, store: RegistryStore | None = None,
                  at: datetime | None = None) -> dict | None:
    """The public popup record of one station, or None if there is no such station.

    Parameters
    ----------
    station_id : str
    store : RegistryStore, optional
        Default: the app's registry.
    at : datetime, optional
        Moment at which "open now" is judged; default now.

    Returns
    -------
    dict or None
        As :func:`geo.web.maps.records.station_record`: every text HTML-escaped, and
        the phone, notes and street address of a non-public station left out.
    """
    rec = (store or served_reader()).get(station_id)
    if rec is None:
        return None
    frame = gpd.GeoDataFrame([rec], geometry=gpd.points_from_xy([rec["lon"]], [rec["lat"]]), crs="EPSG:4326")
    row = next(redact_private(frame).itertuples(index=False))
    return station_record(row, at or datetime.now(ZoneInfo(settings.TIMEZONE)))


def _popup(request: Request) -> JSONResponse:
    # Synchronous on purpose: Starlette runs it in a worker thread, so the
    # SQLite read never blocks the server's event loop.
    station_id = request.path_params["station_id"]
    if len(station_id) > 100:
        return _not_found()
    rec = station_popup(station_id)
    if rec is None:
        return _not_found()
    # Short caching: "open now" changes with the clock and the registry with edits.
    return JSONResponse(rec, headers={"Cache-Control": "public, max-age=60"})


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "没有这个站点 / no such station"}, status_code=404)


def routes() -> list[Route]:
    """The API's routes, for ``st.App(..., routes=routes())``."""
    return [Route("/api/v1/stations/{station_id}/popup", _popup, methods=["GET"])]


def is_private_route(path: str, private: tuple[str, ...] | None = None) -> bool:
    """Whether ``path`` is one of Streamlit's internal routes kept from the public.

    Parameters
    ----------
    path : str
        A request path (percent-decoded, as ASGI gives it), with or without
        a base URL path in front.
    private : tuple of str, optional
        Names under ``/_stcore/``; default ``settings.PRIVATE_ROUTES``.

    Returns
    -------
    bool
        True for ``/_stcore/metrics``, ``/_stcore/agent/...`` and the like,
        however written (doubled slashes, a trailing slash, capitals).
    """
    names = settings.PRIVATE_ROUTES if private is None else private
    parts = [p for p in re.split(r"/+", path.lower()) if p]
    return any(a == "_stcore" and b in names for a, b in zip(parts, parts[1:]))


class PrivateRoutes:
    """ASGI middleware answering Streamlit's internal routes with 404 (see :func:`is_private_route`).

    ``st.App`` runs it before Streamlit's own routing, so a blocked route
    never reaches Streamlit; every other request passes through untouched
    (the page, ``/_stcore/health``, the ``/_stcore/stream`` websocket).

    Parameters
    ----------
    app : ASGI app
    private : tuple of str, optional
        Default ``settings.PRIVATE_ROUTES``.
    """

    def __init__(self, app: ASGIApp, *, private: tuple[str, ...] | None = None) -> None:
        self.app = app
        self.private = private

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and is_private_route(scope.get("path", ""), self.private):
            if scope["type"] == "http":
                await _not_public()(scope, receive, send)
            else:
                await WebSocketClose(code=1008)(scope, receive, send)  # 1008: policy violation
            return
        await self.app(scope, receive, send)


def _not_public() -> JSONResponse:
    # The same answer as any unknown path: nothing says the route exists.
    return JSONResponse({"error": "没有这个页面 / not found"}, status_code=404)
