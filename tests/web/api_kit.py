"""What the API tests share: the public JSON API served in a real process, and plain HTTP requests to it.

The server is ``uvicorn geo.web.server:app`` (one process, logging at
DEBUG so the privacy tests can read everything it logs) or
``python -m geo serve`` (what production runs); each writes its output to a
log file the test may read.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import ROOT, load_bench

load = load_bench("load")
free_port = load.free_port


def start_api(env: dict[str, str], log: Path, *, command: str = "uvicorn", timeout: float = 60.0,
              append: bool = False) -> tuple[subprocess.Popen, str]:
    """Start the API on a free port of 127.0.0.1 and wait until it answers; returns (process, url).

    Parameters
    ----------
    env
        Environment on top of this process's (``GEO_REGISTRY``, ``GEO_NETWORK_DIR``...).
    log
        Where the server's output goes (unbuffered, so a line is there once its answer arrives).
    command
        ``"uvicorn"`` (one process, DEBUG logging, no access log) or ``"serve"`` (``python -m geo serve``).
    append
        Add to ``log`` instead of starting it afresh (a restarted server).
    """
    port = free_port()
    if command == "uvicorn":
        argv = ["-m", "uvicorn", "geo.web.server:app", "--no-access-log", "--log-level", "debug"]
    else:
        argv = ["-m", "geo", "serve", "--workers", "1"]
    with open(log, "ab" if append else "wb") as out:
        proc = subprocess.Popen([sys.executable, *argv, "--port", str(port), "--host", "127.0.0.1"], cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/openapi.json", timeout=2):
                return proc, url
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                load.stop_app(proc)
                raise RuntimeError(f"the API did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (names in lower case) and body of a GET; an HTTP error is an answer, not an exception."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=90) as r:  # a first answer on a loaded CI machine
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
