"""Load test of the worker page (/finder): many simulated riders making the page's own API calls.

On loopback only (127.0.0.1), with the real Shenzhen road network
(``../shared/data``, built once into a temporary folder) and the bundled
sample registry. The server is ``python -m geo serve --workers N``, the
plain app the worker page and the API run in without Streamlit, with the
per-client rate limit off (every simulated rider comes from 127.0.0.1,
which the limit would count as one client).

Each rider does what the page does when a rider opens it: GET ``/finder``
(the page) and the public stations around it that the service worker
keeps for offline use (``/api/v1/stations?bbox=…``), once; then lookups
``GET /api/v1/nearest?lon=…&lat=…&k=5&mode=…&by=time&open=1[&kind=…]`` at a
random place of the network's area (a road node moved up to 150 m), with a
travel mode (e-bike 50 %, walk 20 %, car 15 %, truck 15 %) and a layer (rest
stations 70 %, all 10 %, driver homes 10 %, legal aid 10 %), each on its own
keep-alive connection, waiting a think time drawn uniformly from 0 to twice
``--think`` between lookups. A lookup counts only when it answers 200 with
a ``results`` list; anything else is an error. Riders run as threads in
``--clients`` processes so the load generator is not one GIL.

Steps, for each N of ``--workers`` (default 1 and 2):

1. warm-up (one lookup per mode);
2. throughput: ``--users`` riders with no think time for ``--throughput-seconds``;
3. with the largest N only: ``--users`` riders with ``--think`` s for ``--seconds``
   (the issue's 50 riders, 1 s, 2 minutes): errors and latency percentiles;
4. with ``--report-every K`` (issue 15's mixed load), the same riders again, and
   after every K-th successful lookup a rider files a report
   (``POST /api/v1/stations/{id}/reports``) on the first station of that
   answer, with a type it has not yet sent about that station (the API takes
   each type once per client and station a day). Printed: the lookup p95 of
   both runs and their ratio (step 3 is the same load without reports), the
   report p50/p95/p99, and how many reports were filed (201), refused by the
   limits (429) or failed.

``--throughput-seconds 0`` leaves out step 2.

For the mixed load each rider is its own client to the report limits: it
sends an ``X-Forwarded-For`` address from the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24; a header value only, nothing
is sent there) and the server trusts that header (``GEO_TRUSTED_PROXY_HEADER``).

The Streamlit finder this page replaces answered 2.2 lookups a second
(bench/RESULTS.md, "Load", measured 2026-11-21 with this harness's earlier
version); it no longer exists, so the ratio is against that recorded figure.

Usage::

    .venv/bin/python bench/load.py                          # 50 riders, 1 s, 120 s; 30 s throughput per N
    .venv/bin/python bench/load.py --workers 2 --seconds 30 --json out.json
    .venv/bin/python bench/load.py --workers 2 --seconds 60 --throughput-seconds 0 --report-every 20  # mixed

Tests use :func:`serve_api`, :func:`start_app`, :func:`run_riders` and
:func:`lookup_problem` (``tests/web/test_trust_load.py``,
``tests/web/test_trust_privacy.py``, ``tests/web/test_trust_server.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import math
import multiprocessing
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Real roads of Futian and Nanshan (Shenzhen), read from the shared data folder, never copied.
PBF = ROOT.parent / "shared" / "data" / "shenzhen_futian_nanshan_roads.osm.pbf"
#: What simulated riders ask for: travel mode and layer, with their shares.
MODES = (("ebike", 0.5), ("walk", 0.2), ("drive", 0.15), ("truck", 0.15))
KINDS = (("rest_station", 0.7), ("all", 0.1), ("driver_home", 0.1), ("legal_aid", 0.1))
#: Origins are road nodes moved by up to this many metres, so they lie in the network's area.
JITTER_M = 150.0
#: Lookups a second of the Streamlit finder (one server at saturation, bench/RESULTS.md "Load").
STREAMLIT_FINDER_PER_S = 2.2


# --------------------------------------------------------------------------
# World: network, registry, places
# --------------------------------------------------------------------------


def build_network(out: Path, pbf: Path = PBF) -> Path:
    """``python -m geo network build PBF --out OUT`` (once; reused when present)."""
    if not (out / "meta.json").exists():
        subprocess.run([sys.executable, "-m", "geo", "network", "build", str(pbf), "--out", str(out)],
                       cwd=ROOT, check=True, capture_output=True, timeout=600)
    return out


def sample_registry(path: Path) -> Path:
    """A registry seeded with the bundled sample, as a fresh install of the app has."""
    from geo.registry.store import open_store

    open_store(path, seed_sample=True)
    return path


def _pick(rng: random.Random, choices) -> str:
    values, weights = zip(*choices)
    return rng.choices(values, weights)[0]


class Origins:
    """Random places inside the network's area: a road node in Guangdong, moved up to ``JITTER_M``."""

    def __init__(self, network: Path, seed: int = 0):
        from geo.routing.network import load_graph

        from geo import settings
        from geo.core.regions import find_region, in_region

        g = load_graph(network, "ebike")
        lon, lat = np.asarray(g.node_lon, float), np.asarray(g.node_lat, float)
        # Points across the border (Hong Kong) are outside the service region: the API refuses them
        # (a node near the border, moved by up to JITTER_M, landed across it in 2 of 20,000 draws).
        # So only nodes at least JITTER_M inside, in degrees of longitude (the longer) at this latitude.
        region = find_region(settings.SERVICE_REGION)
        margin = JITTER_M / (111_320.0 * math.cos(math.radians(float(np.max(np.abs(lat))))))
        inside = in_region(lon, lat, dataclasses.replace(region, geometry=region.geometry.buffer(-margin)))
        self.lon, self.lat = lon[inside], lat[inside]
        self.seed = seed

    def rng(self, user: int) -> random.Random:
        return random.Random(self.seed * 100_003 + user)

    def draw(self, rng: random.Random) -> tuple[float, float]:
        i = rng.randrange(len(self.lon))
        r, a = JITTER_M * math.sqrt(rng.random()), rng.random() * 2 * math.pi
        dlat = r * math.sin(a) / 111_320.0
        dlon = r * math.cos(a) / (111_320.0 * math.cos(math.radians(self.lat[i])))
        return round(float(self.lon[i] + dlon), 6), round(float(self.lat[i] + dlat), 6)


def summarize(latencies_s: list[float]) -> dict:
    """Counts and percentiles in milliseconds."""
    if not latencies_s:
        return {"n": 0}
    a = np.asarray(latencies_s) * 1000.0
    return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1), "p99_ms": round(float(np.percentile(a, 99)), 1),
            "max_ms": round(float(a.max()), 1), "mean_ms": round(float(a.mean()), 1)}


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    stop_app(proc)
    raise RuntimeError(f"server not up after {timeout} s: {log.read_text(errors='replace')[-2000:]}")


def serve_api(registry: Path, network: Path, log: Path, workers: int = 1, env: dict | None = None,
              timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start ``python -m geo serve --workers N`` on 127.0.0.1; returns (process, url). Output goes to ``log``."""
    port = free_port()
    env = {**os.environ, "GEO_REGISTRY": str(registry), "GEO_NETWORK_DIR": str(network), **(env or {})}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "geo", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers)], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait(proc, url + "/finder", log, timeout)
    return proc, url


def start_app(registry: Path, network: Path, log: Path, entry: str = "serve.py", extra_args=(),
              env: dict | None = None, root: Path = ROOT, timeout: float = 120.0, unset=()):
    """Start ``streamlit run ENTRY`` (what ``make run`` serves) on 127.0.0.1; returns (process, url).

    Saved scenarios go to a folder beside ``log``; standard output and error go to ``log``.
    ``unset`` names variables of this process's environment the server must not inherit.
    """
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if k not in unset}, **(env or {}), "GEO_REGISTRY": str(registry),
           "GEO_NETWORK_DIR": str(network), "GEO_SCENARIO_DIR": str(log.parent / "scenarios")}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", entry, "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *extra_args],
            cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait(proc, url + "/_stcore/health", log, timeout)
    return proc, url


def stop_app(proc: subprocess.Popen) -> None:
    """Stop a server started here (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its children so far (Linux ``/proc``), or None elsewhere."""
    try:
        pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        total = 0.0
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------
# The page's calls
# --------------------------------------------------------------------------


def page_query(lon: float, lat: float, mode: str = "ebike", kind: str = "rest_station") -> str:
    """The query string of the page's lookup (``static/finder/finder.js``, ``apiQuery``)."""
    q = f"lon={lon:.6f}&lat={lat:.6f}&k=5&mode={mode}&by=time&open=1"
    return q if kind == "all" else q + f"&kind={kind}"


def page_lookup(conn: http.client.HTTPConnection, query: str) -> dict:
    """One lookup as the page makes it, on a keep-alive connection.

    Returns ``{"status", "seconds", "results", "routed", "body"}``; ``results``
    is None when the answer was not the API's result object.
    """
    t0 = time.perf_counter()
    conn.request("GET", "/api/v1/nearest?" + query, headers={"Accept-Encoding": "identity"})
    resp = conn.getresponse()
    body = resp.read()
    seconds = time.perf_counter() - t0
    results = None
    try:
        answer = json.loads(body)
        results = answer.get("results") if isinstance(answer, dict) else None
    except ValueError:
        pass
    routed = bool(results) and all(r.get("method") == "network" for r in results)
    return {"status": resp.status, "seconds": seconds, "results": results, "routed": routed, "body": body}


def lookup_problem(result: dict) -> str | None:
    """Why a lookup does not count as a success (None when it does): no 200, or no result list.

    An empty list is an answer (no legal-aid point open at night, say)."""
    if result["status"] != 200:
        return f"HTTP {result['status']}: {result['body'][:120]!r}"
    if not isinstance(result["results"], list):
        return "no results list in the answer"
    return None


def rider_address(user: int) -> str:
    """A distinct documentation-range address per rider (an ``X-Forwarded-For`` value only)."""
    block = ("192.0.2", "198.51.100", "203.0.113")[user // 250 % 3]
    return f"{block}.{user % 250 + 1}"


def file_report(conn: http.client.HTTPConnection, station: str, kind: str, address: str) -> tuple[int, float]:
    """One report as the page's report button files it; (HTTP status, seconds)."""
    body = json.dumps({"type": kind, "text": "bench"}).encode()
    t0 = time.perf_counter()
    conn.request("POST", f"/api/v1/stations/{station}/reports", body=body,
                 headers={"Content-Type": "application/json", "X-Forwarded-For": address})
    resp = conn.getresponse()
    resp.read()
    return resp.status, time.perf_counter() - t0


def _riders(args: tuple) -> dict:
    """One client process: ``users`` riders as threads (run through :func:`run_riders`)."""
    import threading

    url, lon, lat, seed, first_user, users, seconds, think, report_every = args
    if report_every:
        from geo.registry.reports import REPORT_TYPES
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    report_s: list[float] = []
    out = {"errors": 0, "error_kinds": {}, "routed": 0, "empty": 0, "page_gets": 0,
           "filed": 0, "refused": 0, "report_errors": 0}
    lock = threading.Lock()

    def report(conn, res, done: int, sent: dict, rng: random.Random, address: str):
        """After every ``report_every``-th lookup, a report on its first station; returns the connection."""
        if not report_every or done % report_every or not res["results"]:
            return conn
        sid = res["results"][0]["id"]
        left = [t for t in REPORT_TYPES if t not in sent.setdefault(sid, set())]
        if not left:
            return conn
        kind = rng.choice(left)
        sent[sid].add(kind)
        try:
            status, took = file_report(conn, sid, kind, address)
        except (OSError, http.client.HTTPException):
            status, took = 0, 0.0
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
        with lock:
            if status == 201:
                out["filed"] += 1
                report_s.append(took)
            else:
                out["refused" if status == 429 else "report_errors"] += 1
        return conn

    def rider(user: int) -> None:
        rng = random.Random(seed * 100_003 + user)
        address, sent, done = rider_address(user), {}, 0
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        x, y = math.floor(lon[0] * 10) / 10, math.floor(lat[0] * 10) / 10
        area = f"{x - 0.3:.1f},{y - 0.3:.1f},{x + 0.4:.1f},{y + 0.4:.1f}"
        try:
            for path in ("/finder", f"/api/v1/stations?bbox={area}"):  # what the page fetches besides lookups
                conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
                conn.getresponse().read()
            with lock:
                out["page_gets"] += 2
        except OSError:
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
        stop_at = time.monotonic() + seconds  # lookups for this long after opening the page
        while time.monotonic() < stop_at:
            i = rng.randrange(len(lon))
            r, a = JITTER_M * math.sqrt(rng.random()), rng.random() * 2 * math.pi
            y = lat[i] + r * math.sin(a) / 111_320.0
            x = lon[i] + r * math.cos(a) / (111_320.0 * math.cos(math.radians(lat[i])))
            query = page_query(x, y, _pick(rng, MODES), _pick(rng, KINDS))
            try:
                res = page_lookup(conn, query)
                problem = lookup_problem(res)
            except (OSError, http.client.HTTPException) as exc:
                res, problem = None, type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
            with lock:
                if problem is None:
                    latencies.append(res["seconds"])
                    out["routed"] += res["routed"]
                    out["empty"] += not res["results"]
                else:
                    out["errors"] += 1
                    kind = problem.split(":")[0]
                    out["error_kinds"][kind] = out["error_kinds"].get(kind, 0) + 1
            if problem is None:
                done += 1
                conn = report(conn, res, done, sent, rng, address)
            if think > 0:
                time.sleep(max(0.0, min(rng.uniform(0, 2 * think), stop_at - time.monotonic())))
        conn.close()

    threads = [threading.Thread(target=rider, args=(first_user + i,)) for i in range(users)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out["latencies"], out["report_latencies"] = latencies, report_s
    return out


def run_riders(url: str, origins: Origins, users: int = 50, seconds: float = 120.0, think: float = 1.0,
               clients: int = 2, *, report_every: int = 0, keep_latencies: bool = False) -> dict:
    """``users`` simulated riders against a running server for ``seconds``; counts, errors and latency.

    With ``report_every`` K > 0 each rider also files a report after every
    K-th successful lookup (the server must trust ``X-Forwarded-For`` for the
    riders to be distinct clients to the report limits). ``keep_latencies``
    adds every successful lookup's seconds as ``latencies_s`` (to pool
    percentiles over several runs, as bench/servers.py does over servers).

    Returns
    -------
    dict
        ``lookups``, ``errors``, ``error_kinds``, ``per_second``, ``routed``,
        ``empty`` (answers without a station), ``page_gets`` and ``latency``
        (:func:`summarize` of the successful lookups); with ``report_every``,
        ``reports``: ``every``, ``filed`` (201), ``refused`` (429), ``errors``
        and ``latency`` of the filed ones.
    """
    clients = max(1, min(clients, users))
    split = [users // clients + (i < users % clients) for i in range(clients)]
    jobs, first = [], 0
    for n in split:
        jobs.append((url, origins.lon, origins.lat, origins.seed, first, n, seconds, think, report_every))
        first += n
    t0 = time.perf_counter()
    if clients == 1:
        parts = [_riders(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(clients) as pool:
            parts = pool.map(_riders, jobs)
    wall = time.perf_counter() - t0
    latencies = [x for p in parts for x in p["latencies"]]
    kinds: dict[str, int] = {}
    for p in parts:
        for k, v in p["error_kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
    out = {"users": users, "think_s": think, "seconds": seconds, "lookups": len(latencies),
           "errors": sum(p["errors"] for p in parts), "error_kinds": kinds,
           "per_second": round(len(latencies) / seconds, 1), "wall_s": round(wall, 1),
           "routed": sum(p["routed"] for p in parts), "empty": sum(p["empty"] for p in parts),
           "page_gets": sum(p["page_gets"] for p in parts), "latency": summarize(latencies)}
    if report_every:
        out["reports"] = {"every": report_every, "filed": sum(p["filed"] for p in parts),
                          "refused": sum(p["refused"] for p in parts),
                          "errors": sum(p["report_errors"] for p in parts),
                          "latency": summarize([x for p in parts for x in p["report_latencies"]])}
    if keep_latencies:
        out["latencies_s"] = latencies
    return out


def warm_up(url: str) -> list[float]:
    """One lookup per travel mode (loads each graph and station index); their seconds."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    times = []
    for mode, _ in MODES:
        res = page_lookup(conn, page_query(114.0579, 22.5431, mode))
        if lookup_problem(res):
            raise RuntimeError(f"warm-up lookup failed: {lookup_problem(res)}")
        times.append(round(res["seconds"], 3))
    conn.close()
    return times


def _log_problems(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if "Traceback" in line or "ERROR" in line]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--think", type=float, default=1.0, help="mean think time between lookups (s)")
    ap.add_argument("--seconds", type=float, default=120.0, help="length of the riders run with think time")
    ap.add_argument("--throughput-seconds", type=float, default=30.0,
                    help="length of each saturation run (0: none)")
    ap.add_argument("--report-every", type=int, default=0,
                    help="mixed load: after the riders run, the same riders again filing a report every K lookups")
    ap.add_argument("--workers", default="1,2", help="server processes to measure, comma-separated")
    ap.add_argument("--clients", type=int, default=2, help="load-generator processes")
    ap.add_argument("--json", type=Path, help="write the figures here as well")
    args = ap.parse_args(argv)
    workers = sorted({int(w) for w in args.workers.split(",")})
    # Bounded: loopback only, and not more than a laptop's worth of riders or time.
    if args.users > 200 or args.seconds > 600 or args.throughput_seconds > 300 or max(workers) > 8:
        ap.error("bounded: at most 200 users, 600 s, 300 s of throughput and 8 workers")
    print(f"# {datetime_now()} · {platform.node()} · {os.cpu_count()} CPUs · load average "
          f"{os.getloadavg()[0]:.1f}")
    results: dict = {"steps": []}
    with tempfile.TemporaryDirectory(prefix="gd-load-") as tmp:
        tmp = Path(tmp)
        network = build_network(tmp / "net")
        registry = sample_registry(tmp / "registry.gpkg")
        origins = Origins(network, seed=1)
        for n in workers:
            log = tmp / f"server-{n}.log"
            env = {"GEO_API_RATE_PER_MINUTE": "0"}
            if args.report_every:  # each rider its own client to the report limits (rider_address)
                env.update(GEO_TRUSTED_PROXY_HEADER="X-Forwarded-For", GEO_TRUSTED_PROXY_HOPS="1",
                           GEO_REPORT_SECRET=str(tmp / "secret.key"))
            proc, url = serve_api(registry, network, log, workers=n, env=env)
            try:
                warm = [warm_up(url) for _ in range(n)][-1]  # each worker process answers one warm-up set
                print(f"\n## {n} worker process{'es' if n > 1 else ''} (python -m geo serve --workers {n}); "
                      f"warm-up lookups {warm} s")
                steps = [("throughput", args.users, 0.0, args.throughput_seconds, 0)] if args.throughput_seconds else []
                if n == max(workers):
                    steps.append(("riders", args.users, args.think, args.seconds, 0))
                    if args.report_every:
                        steps.append(("mixed", args.users, args.think, args.seconds, args.report_every))
                for name, users, think, seconds, every in steps:
                    cpu0 = _cpu_seconds(proc.pid)
                    r = run_riders(url, origins, users=users, seconds=seconds, think=think, clients=args.clients,
                                   report_every=every)
                    cpu1 = _cpu_seconds(proc.pid)
                    if cpu0 is not None and cpu1 is not None and r["lookups"]:
                        r["server_cpu_ms_per_lookup"] = round((cpu1 - cpu0) / r["lookups"] * 1000, 1)
                    r.update(step=name, workers=n, ratio_to_streamlit=round(r["per_second"] / STREAMLIT_FINDER_PER_S, 1))
                    lat = r["latency"]
                    print(f"{name}: {users} riders, think {think:g} s, {seconds:g} s: {r['lookups']:,} lookups, "
                          f"{r['errors']} errors {r['error_kinds'] or ''}, {r['per_second']} lookups/s "
                          f"({r['ratio_to_streamlit']}x the Streamlit finder's {STREAMLIT_FINDER_PER_S}/s), "
                          f"p50 {lat.get('p50_ms')} ms, p95 {lat.get('p95_ms')} ms, p99 {lat.get('p99_ms')} ms, "
                          f"max {lat.get('max_ms')} ms; routed {r['routed']:,}, no station {r['empty']:,}; "
                          f"server CPU {r.get('server_cpu_ms_per_lookup')} ms/lookup")
                    if every:
                        _print_mixed(r, results["steps"][-1])
                    results["steps"].append(r)
            finally:
                stop_app(proc)
            problems = _log_problems(log)
            print(f"server log: {len(problems)} lines with Traceback or ERROR")
            results["steps"][-1]["server_log_problems"] = len(problems)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0 if all(s["errors"] == 0 and not s.get("reports", {}).get("errors") for s in results["steps"]) else 1


def _print_mixed(mixed: dict, plain: dict) -> None:
    """The reports of a mixed run, and its lookup p95 against the riders run without reports just before."""
    a, b, rep = plain["latency"], mixed["latency"], mixed["reports"]
    ratio = round(b["p95_ms"] / a["p95_ms"], 2) if a.get("p95_ms") and b.get("p95_ms") else None
    mixed["p95_ratio_to_lookups_only"] = ratio
    r = rep["latency"]
    print(f"mixed (1 report per {rep['every']} lookups): lookup p95 {b.get('p95_ms')} ms vs {a.get('p95_ms')} ms "
          f"without reports (ratio {ratio}); reports: {rep['filed']} filed (201), {rep['refused']} refused by the "
          f"limits (429), {rep['errors']} failed; p50 {r.get('p50_ms')} ms, p95 {r.get('p95_ms')} ms, "
          f"p99 {r.get('p99_ms')} ms, max {r.get('max_ms')} ms")


def datetime_now() -> str:
    """The local time, for the printout."""
    return time.strftime("%Y-%m-%d %H:%M %Z")


if __name__ == "__main__":
    sys.exit(main())
