"""The worker page, ``/finder``: a small web app on the public API, served without Streamlit.

Riders open it on cheap phones inside WeChat's browser on weak mobile data,
so everything it needs is a few static files (``static/finder/``, the
vendored Leaflet and ``static/gd/gd-map.js``) sent compressed and cached:

* ``/finder`` (and ``/finder/``) is the page. Its asset links carry a
  ``?v=`` hash of each file's content, filled in when the page is sent, so
  the assets can be cached for a year (``immutable``) and a new release is
  fetched at once. The page itself is revalidated with its ``ETag`` on every
  visit (a 304 of a few hundred bytes).
* ``/finder/<file>`` are the assets; ``/finder/sw.js`` is the service
  worker, allowed to control all of ``/finder`` (``Service-Worker-Allowed``),
  never cached by HTTP so a new release replaces it.
* Text is gzip-compressed once per file version and kept in memory.

The page reads a few settings (detour factor, estimate speeds, the decimals
of a located position in its URL) from the ``data-config`` attribute of its
``<html>`` element, filled in here from :mod:`geo.settings`.
"""
from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from geo import settings
from geo.core import i18n, schema
from geo.routing.handoff import SOURCE

STATIC = settings.ROOT / "static"
FINDER_DIR = STATIC / "finder"

#: The files under ``/finder/`` and where they live; nothing else is served.
FILES = {
    "finder.js": FINDER_DIR / "finder.js",
    "finder.css": FINDER_DIR / "finder.css",
    "report.js": FINDER_DIR / "report.js",
    "report.css": FINDER_DIR / "report.css",
    "sw.js": FINDER_DIR / "sw.js",
    "manifest.webmanifest": FINDER_DIR / "manifest.webmanifest",
    "icon.svg": FINDER_DIR / "icon.svg",
    "icon-192.png": FINDER_DIR / "icon-192.png",
    "icon-512.png": FINDER_DIR / "icon-512.png",
    "leaflet.js": STATIC / "vendor" / "leaflet-1.9.4" / "leaflet.js",
    "leaflet.css": STATIC / "vendor" / "leaflet-1.9.4" / "leaflet.css",
    "gd-map.js": STATIC / "gd" / "gd-map.js",
}

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".webmanifest": "application/manifest+json",
          ".svg": "image/svg+xml", ".png": "image/png"}
_TEXT = (".js", ".css", ".html", ".webmanifest", ".svg")
_YEAR = "public, max-age=31536000, immutable"
#: ``name?v=`` in the page and the service worker, completed with the file's hash.
_VERSIONED = re.compile(r"""(["'])([\w.-]+)\?v=\1""")


@dataclass(frozen=True)
class Asset:
    """One file as sent: its bytes, their gzip form, media type and content hash."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    digest: str


def _build(name: str, body: bytes) -> Asset:
    suffix = Path(name).suffix
    zipped = gzip.compress(body, 9, mtime=0) if suffix in _TEXT else None
    return Asset(body, zipped if zipped is not None and len(zipped) < len(body) else None,
                 _TYPES.get(suffix, "application/octet-stream"), hashlib.sha256(body).hexdigest()[:16])


@lru_cache(maxsize=64)
def _asset_at(name: str, path: str, _stamp: tuple) -> Asset:
    body = Path(path).read_bytes()
    if name in ("sw.js", "index.html"):
        body = _with_versions(body.decode("utf-8")).encode("utf-8")
    if name == "index.html":
        body = body.replace(b"@config@", html.escape(json.dumps(page_config(), ensure_ascii=False), quote=True).encode("utf-8"))
    return _build(name, body)


def asset(name: str) -> Asset | None:
    """A file of the page as sent (read again when it changes on disk), or None when there is none.

    Parameters
    ----------
    name
        ``index.html`` or a key of :data:`FILES`.
    """
    path = FINDER_DIR / "index.html" if name == "index.html" else FILES.get(name)
    if path is None or not path.is_file():
        return None
    stat = path.stat()
    stamp: tuple = (stat.st_mtime_ns, stat.st_size)
    if name in ("index.html", "sw.js"):  # they name every asset's version
        stamp += tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None for p in FILES.values())
    return _asset_at(name, str(path), stamp)


def _with_versions(text: str) -> str:
    def versioned(match: re.Match) -> str:
        quote, name = match.group(1), match.group(2)
        found = asset(name) if name not in ("index.html", "sw.js") else None
        return f"{quote}{name}?v={found.digest if found else '0'}{quote}"

    return _VERSIONED.sub(versioned, text)


#: Strings of the page besides the ``fd_`` ones of ``geo/core/i18n/strings_finder.py``.
_SHARED_STRINGS = ("finder_title", "open_now_yes", "open_now_no", "sample_tag", "sample_banner",
                   "map_zoom_in", "map_zoom_out")


def page_config() -> dict:
    """The settings and strings the page's script needs, as sent in its ``data-config`` attribute.

    Strings are ``[Chinese, English]`` pairs from :mod:`geo.core.i18n`, so
    the page and the rest of the app say things the same way.
    """
    keys = [k for k in i18n.keys() if k.startswith("fd_")] + list(_SHARED_STRINGS)
    return {"detour": settings.DETOUR_FACTOR, "speeds_kmh": settings.ESTIMATE_SPEED_KMH,
            "located_digits": settings.FINDER_LOCATED_URL_DIGITS, "mode": settings.ROUTING_DEFAULT_MODE,
            "estimate_label": settings.ESTIMATE_LABEL, "handoff_source": SOURCE,
            "strings": {k: [i18n.t(k, "zh"), i18n.t(k, "en")] for k in keys},
            "kinds": {c: [i18n.kind_label(c, "zh"), i18n.kind_label(c, "en")] for c in schema.KINDS},
            "facilities": {c: [i18n.facility_label(c, "zh", icon=True), i18n.facility_label(c, "en", icon=True)]
                           for c in schema.FACILITIES}}


def _send(request: Request, found: Asset, cache: str, extra: dict | None = None) -> Response:
    tag = f'"{found.digest}"'
    headers = {"ETag": tag, "Cache-Control": cache, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff", **(extra or {})}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(found.gzipped, media_type=found.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(found.body, media_type=found.media_type, headers=headers)


async def _page(request: Request) -> Response:
    found = asset("index.html")
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    # Revalidated on each visit: the page names the current asset versions.
    return _send(request, found, "no-cache", {"Referrer-Policy": "no-referrer"})


async def _file(request: Request) -> Response:
    name = request.path_params["name"]
    found = asset(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain",
                        headers={"Cache-Control": "no-store"})
    if name == "sw.js":
        return _send(request, found, "no-cache", {"Service-Worker-Allowed": "/finder"})
    if "v" not in request.query_params:
        return _send(request, found, "no-cache")
    return _send(request, found, _YEAR)


def routes() -> list[Route]:
    """The page's routes: ``/finder``, ``/finder/`` and ``/finder/<file>``.

    Put them before any catch-all route (Streamlit's pages in ``serve.py``).
    """
    return [Route("/finder", _page, methods=["GET", "HEAD"]), Route("/finder/", _page, methods=["GET", "HEAD"]),
            Route("/finder/{name}", _file, methods=["GET", "HEAD"])]
