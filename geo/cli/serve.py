"""``python -m geo serve``: the public API and the worker page (/finder) alone, in N stateless processes (uvicorn)."""
from __future__ import annotations

import argparse


def run_serve(args: argparse.Namespace) -> int:
    """Serve :mod:`geo.web.server` with uvicorn until interrupted.

    Access logs stay off: a request line holds the worker's position in
    its query string, and no position may reach a log (docs/trust.md §9).
    uvicorn believes ``X-Forwarded-For`` only from ``--forwarded-allow-ips``
    (none by default); the rate limit's own proxy setting is
    ``GEO_TRUSTED_PROXY_HEADER``.

    Parameters
    ----------
    args
        ``host``, ``port``, ``workers`` and ``forwarded_allow_ips``.

    Returns
    -------
    int
        0 when the server stopped.
    """
    import uvicorn

    uvicorn.run("geo.web.server:app", host=args.host, port=args.port, workers=args.workers,
                access_log=False, proxy_headers=bool(args.forwarded_allow_ips),
                forwarded_allow_ips=args.forwarded_allow_ips or "", log_level="warning")
    return 0

