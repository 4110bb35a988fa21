"""What ``make run`` serves: the Streamlit app (``app.py``) and its JSON API.

Run with ``streamlit run serve.py``. Streamlit finds the ``app`` object
below and serves ``app.py`` as usual, plus the public JSON API of
:mod:`geo.web.public_api` (``/api/v1``, rate-limited per client) and the
popup route of :mod:`geo.web.api` (the registry map fetches station popups
from it) and the worker page of :mod:`geo.web.worker_page` (``/finder``). ``streamlit run
app.py`` still works, but then map popups of a large registry cannot load
their details, and what is kept from the public below is not.

Kept from the public (docs/trust.md, "What the server shows"):

* Streamlit's internal routes (``/_stcore/metrics`` and the others of
  ``settings.PRIVATE_ROUTES``) answer 404 (:class:`geo.web.api.PrivateRoutes`);
* a page that fails shows a bilingual message, and the traceback goes to
  the server's log only (:func:`pages.common.errors.show_script_error`);
* the folder the app is installed in: Streamlit names the main script by
  its full path in the first message of every session (:class:`HideScriptFolder`).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.pages_manager import PagesManager

from geo.web import public_api, worker_page
from geo.web.api import PrivateRoutes, routes
from pages.common.errors import show_script_error

_FOLDER = str(Path(__file__).resolve().parent).encode("utf-8")

# app.py declares every page with st.navigation; the pages/ folder beside it
# holds those pages' scripts and parts, not Streamlit's old auto-discovered
# multipage folder. Streamlit decides which it is once, when the first session
# starts, from the folder's name alone, and then runs that first session the
# old way: a first visitor to /coverage was told "Page not found" (in English)
# until some session had run app.py. Decided here, before any session exists.
PagesManager.uses_pages_directory = False


class HideScriptFolder:
    """ASGI middleware: the websocket's ``new_session`` message names ``app.py`` without its folder.

    The browser uses the name only to hash an app id for Streamlit's own
    usage statistics (off here), so nothing changes for the page. Only a
    message holding the folder's bytes is parsed at all.

    Parameters
    ----------
    app : ASGI app
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def send_without_folder(message: Message) -> None:
            data = message.get("bytes")
            if message["type"] == "websocket.send" and data and _FOLDER in data:
                message = {**message, "bytes": _without_folder(data)}
            await send(message)

        await self.app(scope, receive, send_without_folder)


def _without_folder(data: bytes) -> bytes:
    msg = ForwardMsg()
    msg.ParseFromString(data)
    if msg.WhichOneof("type") != "new_session" or not msg.new_session.main_script_path:
        return data
    msg.new_session.main_script_path = Path(msg.new_session.main_script_path).name
    return msg.SerializeToString()


# User routes come before Streamlit's own, so /finder is the worker page, not a Streamlit page.
app = st.App("app.py", routes=[*worker_page.routes(), *routes(), *public_api.routes()],
             middleware=[Middleware(PrivateRoutes), Middleware(public_api.RateLimit), Middleware(HideScriptFolder)],
             on_script_error=show_script_error)
