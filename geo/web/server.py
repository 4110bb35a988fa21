"""The API and the worker page (``/finder``) as a plain ASGI app, without Streamlit.

``make run`` serves the same routes inside the Streamlit server
(``serve.py``); this app serves them alone, for ``uvicorn
geo.web.server:app --workers N`` behind a load balancer: it keeps no state
between requests but caches (registry and graphs, checked against their
files) and each process's own rate-limit table.
"""
from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

from geo.web import api, public_api, worker_page


def create_app() -> Starlette:
    """The API routes and the worker page, with the per-client rate limit and gzip."""
    return Starlette(routes=[*worker_page.routes(), *api.routes(), *public_api.routes()],
                     middleware=[Middleware(GZipMiddleware, minimum_size=500), Middleware(public_api.RateLimit)])


app = create_app()
