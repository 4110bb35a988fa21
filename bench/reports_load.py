"""Mixed load: riders looking up stations, and one report per 20 lookups (issue 15).

Built on ``bench/load.py``'s harness (the real Shenzhen network, the sample
registry, ``python -m geo serve --workers N`` on 127.0.0.1, the page's own
lookup). Two runs of the same riders, one after the other, on one server:

1. **lookups only**: ``--users`` riders, think time uniform in 0..2x``--think``,
   for ``--seconds`` (the obvious alternative: the same load without reports);
2. **mixed**: the same, and after every ``--report-every``-th successful lookup
   the rider files a report (``POST /api/v1/stations/{id}/reports``) on the
   first station of that answer, with a type it has not yet sent about that
   station (the API takes each type once per client and station a day).

Each rider is its own client to the report limits: it sends an
``X-Forwarded-For`` address from the documentation ranges (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24; a header value only, nothing is sent
there) and the server trusts that header (``GEO_TRUSTED_PROXY_HEADER``).
The API's per-client request rate limit is off, as in ``bench/load.py``.
Printed: lookup p50/p95/p99 of both runs and their ratio, report p50/p95/p99
and how many reports were filed (201), refused by the limits (429) or failed.

Usage::

    .venv/bin/python bench/reports_load.py                       # 50 riders, 1 s think, 60 s each, 2 workers
    .venv/bin/python bench/reports_load.py --seconds 30 --workers 1 --json out.json
"""
from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import multiprocessing
import os
import platform
import random
import tempfile
import threading
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _harness():
    spec = importlib.util.spec_from_file_location("bench_load", _HERE / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


load = _harness()
from geo.registry.reports import REPORT_TYPES  # noqa: E402  (load.py puts the project on sys.path)

TYPES = [t for t in REPORT_TYPES]


def rider_address(user: int) -> str:
    """A distinct documentation-range address per rider (a header value only)."""
    block = ("192.0.2", "198.51.100", "203.0.113")[user // 250 % 3]
    return f"{block}.{user % 250 + 1}"


def _pick(rng: random.Random, choices) -> str:
    values, weights = zip(*choices)
    return rng.choices(values, weights)[0]


def _riders(args: tuple) -> dict:
    """One client process: ``users`` riders as threads."""
    url, lon, lat, seed, first_user, users, seconds, think, report_every = args
    host, port = url.removeprefix("http://").split(":")
    out = {"lookups": [], "reports": [], "lookup_errors": 0, "filed": 0, "refused": 0, "report_errors": 0}
    lock = threading.Lock()

    def rider(user: int) -> None:
        rng = random.Random(seed * 100_003 + user)
        address = rider_address(user)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        sent: dict[str, set] = {}
        done = 0
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            i = rng.randrange(len(lon))
            query = load.page_query(lon[i] + rng.uniform(-0.001, 0.001), lat[i] + rng.uniform(-0.001, 0.001),
                                    _pick(rng, load.MODES), _pick(rng, load.KINDS))
            try:
                res = load.page_lookup(conn, query)
                problem = load.lookup_problem(res)
            except (OSError, http.client.HTTPException) as exc:
                res, problem = None, type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
            with lock:
                if problem is None:
                    out["lookups"].append(res["seconds"])
                else:
                    out["lookup_errors"] += 1
            if problem is None:
                done += 1
                if report_every and done % report_every == 0 and res["results"]:
                    sid = res["results"][0]["id"]
                    left = [t for t in TYPES if t not in sent.get(sid, set())]
                    if left:
                        kind = rng.choice(left)
                        sent.setdefault(sid, set()).add(kind)
                        body = json.dumps({"type": kind, "text": "bench"}).encode()
                        t0 = time.perf_counter()
                        try:
                            conn.request("POST", f"/api/v1/stations/{sid}/reports", body=body,
                                         headers={"Content-Type": "application/json", "X-Forwarded-For": address})
                            resp = conn.getresponse()
                            resp.read()
                            status = resp.status
                        except (OSError, http.client.HTTPException):
                            status = 0
                            conn.close()
                            conn = http.client.HTTPConnection(host, int(port), timeout=60)
                        took = time.perf_counter() - t0
                        with lock:
                            if status == 201:
                                out["filed"] += 1
                                out["reports"].append(took)
                            elif status == 429:
                                out["refused"] += 1
                            else:
                                out["report_errors"] += 1
            if think > 0:
                time.sleep(max(0.0, min(rng.uniform(0, 2 * think), stop_at - time.monotonic())))
        conn.close()

    threads = [threading.Thread(target=rider, args=(first_user + i,)) for i in range(users)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def run(url: str, origins, *, users: int, seconds: float, think: float, report_every: int, clients: int) -> dict:
    """One run of ``users`` riders; lookups and reports with their latency summaries."""
    clients = max(1, min(clients, users))
    split = [users // clients + (i < users % clients) for i in range(clients)]
    jobs, first = [], 0
    for n in split:
        jobs.append((url, list(origins.lon), list(origins.lat), origins.seed, first, n, seconds, think, report_every))
        first += n
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        parts = pool.map(_riders, jobs)
    lookups = [x for p in parts for x in p["lookups"]]
    reports = [x for p in parts for x in p["reports"]]
    return {"users": users, "seconds": seconds, "think_s": think, "report_every": report_every,
            "lookups": len(lookups), "lookup_errors": sum(p["lookup_errors"] for p in parts),
            "lookup_latency": load.summarize(lookups), "reports_filed": sum(p["filed"] for p in parts),
            "reports_refused": sum(p["refused"] for p in parts),
            "report_errors": sum(p["report_errors"] for p in parts), "report_latency": load.summarize(reports)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--think", type=float, default=1.0, help="mean think time between lookups (s)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each run")
    ap.add_argument("--report-every", type=int, default=20, help="a report after every N-th lookup")
    ap.add_argument("--workers", type=int, default=2, help="server processes")
    ap.add_argument("--clients", type=int, default=2, help="load-generator processes")
    ap.add_argument("--json", type=Path, help="write the figures here as well")
    args = ap.parse_args(argv)
    if args.users > 200 or args.seconds > 600 or args.workers > 8:
        ap.error("bounded: at most 200 users, 600 s and 8 workers")
    print(f"# {time.strftime('%Y-%m-%d %H:%M %Z')} · {platform.node()} · {os.cpu_count()} CPUs · load average "
          f"{os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="gd-reports-load-") as tmp:
        tmp = Path(tmp)
        network = load.build_network(tmp / "net")
        registry = load.sample_registry(tmp / "registry.gpkg")
        origins = load.Origins(network, seed=2)
        log = tmp / "server.log"
        proc, url = load.serve_api(registry, network, log, workers=args.workers,
                                   env={"GEO_API_RATE_PER_MINUTE": "0", "GEO_TRUSTED_PROXY_HEADER": "X-Forwarded-For",
                                        "GEO_TRUSTED_PROXY_HOPS": "1", "GEO_REPORT_SECRET": str(tmp / "secret.key")})
        try:
            for _ in range(args.workers):
                load.warm_up(url)
            kw = dict(users=args.users, seconds=args.seconds, think=args.think, clients=args.clients)
            plain = run(url, origins, report_every=0, **kw)
            mixed = run(url, origins, report_every=args.report_every, **kw)
        finally:
            load.stop_app(proc)
        problems = [ln for ln in log.read_text(errors="replace").splitlines() if "Traceback" in ln or "ERROR" in ln]
    a, b = plain["lookup_latency"], mixed["lookup_latency"]
    ratio = round(b["p95_ms"] / a["p95_ms"], 2) if a.get("p95_ms") and b.get("p95_ms") else None
    r = mixed["report_latency"]
    print(f"lookups only: {plain['lookups']:,} lookups, {plain['lookup_errors']} errors, "
          f"p50 {a.get('p50_ms')} ms, p95 {a.get('p95_ms')} ms, p99 {a.get('p99_ms')} ms")
    print(f"mixed (1 report per {args.report_every} lookups): {mixed['lookups']:,} lookups, "
          f"{mixed['lookup_errors']} errors, p50 {b.get('p50_ms')} ms, p95 {b.get('p95_ms')} ms, "
          f"p99 {b.get('p99_ms')} ms; lookup p95 mixed / lookups only = {ratio}")
    print(f"reports: {mixed['reports_filed']} filed (201), {mixed['reports_refused']} refused by the limits (429), "
          f"{mixed['report_errors']} failed; p50 {r.get('p50_ms')} ms, p95 {r.get('p95_ms')} ms, "
          f"p99 {r.get('p99_ms')} ms, max {r.get('max_ms')} ms")
    print(f"server log: {len(problems)} lines with Traceback or ERROR")
    if args.json:
        args.json.write_text(json.dumps({"lookups_only": plain, "mixed": mixed, "p95_ratio": ratio,
                                         "server_log_problems": len(problems)}, indent=2), encoding="utf-8")
    return 0 if not (plain["lookup_errors"] or mixed["lookup_errors"] or mixed["report_errors"] or problems) else 1


if __name__ == "__main__":
    raise SystemExit(main())
