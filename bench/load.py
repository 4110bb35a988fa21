"""Load test of the worker finder: many simulated users looking up where they are.

Two parts, on loopback only:

* ``geo`` — the finder page's own computation, called directly: the same
  ``geo`` functions ``pages/2_找站_Finder.py`` calls on every run (nearest
  stations by road on the real Shenzhen network, the result cards, the
  hand-off links and the map's HTML), from ``--users`` threads of one
  process, as the Streamlit server runs its sessions (one process, one
  thread per script run, so one core at a time: the GIL). ``--processes N``
  splits the users over N processes instead, to show what the cores could
  do if the app were run as several servers.
* ``app`` — the app itself: ``streamlit run serve.py`` on 127.0.0.1 with a
  temporary registry (the sample) and the Shenzhen network, and
  ``--users`` simulated users, each opening the finder at a random place as
  a shared link would (``/finder?lon=…&lat=…``): an HTTP GET of the page
  shell, then Streamlit's websocket (``/_stcore/stream``): a ``rerun_script``
  BackMsg for page ``finder`` with the location in its query string, and
  the ForwardMsgs read until ``script_finished``. A lookup counts only if
  the deltas hold result cards (``class="fd-name"``) or the page's own "no
  station matches" answer (counted as ``empty``), and no exception or error
  box: a run that "finished" with a traceback on the page is an error. Meanwhile one thread polls ``/_stcore/health``.

Each user waits ``--think`` seconds on average (uniform 0 … 2×) between
lookups; ``--think 0`` keeps every user busy all the time (saturation).

Usage::

    .venv/bin/python bench/load.py                        # both parts, 50 users, 120 s each
    .venv/bin/python bench/load.py --part geo --users 50 --seconds 120 --think 0
    .venv/bin/python bench/load.py --part app --json out.json

The functions :func:`start_app`, :func:`stop_app` and :func:`finder_lookup`
are used by tests (``tests/test_trust_load.py``, ``tests/test_trust_privacy.py``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Real roads of Futian and Nanshan (Shenzhen), read from the shared data folder, never copied.
PBF = ROOT.parent / "shared" / "data" / "shenzhen_futian_nanshan_roads.osm.pbf"
#: What simulated users ask for: travel mode and layer, with their shares.
MODES = (("ebike", 0.5), ("walk", 0.2), ("drive", 0.15), ("truck", 0.15))
KINDS = (("rest_station", 0.7), ("all", 0.1), ("driver_home", 0.1), ("legal_aid", 0.1))
#: Origins are road nodes moved by up to this many metres, so they lie in the network's area.
JITTER_M = 150.0

_NAME = re.compile(rb'class="fd-name">(.*?)</span>')


# --------------------------------------------------------------------------
# Shared helpers
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
    """Random places inside the network's area: a road node, moved up to ``JITTER_M``."""

    def __init__(self, network: Path, seed: int = 0):
        from geo.routing.network import load_graph

        g = load_graph(network, "ebike")
        self.lon, self.lat = np.asarray(g.node_lon, float), np.asarray(g.node_lat, float)
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


def _think(rng: random.Random, think: float, stop_at: float) -> None:
    if think > 0:
        time.sleep(max(0.0, min(rng.uniform(0, 2 * think), stop_at - time.monotonic())))


# --------------------------------------------------------------------------
# Part 1: the finder's geo functions, called directly
# --------------------------------------------------------------------------


class FinderPage:
    """What the finder page holds across runs (its caches) and computes on each run."""

    def __init__(self, network: Path, registry: Path, render_map: bool = True):
        from geo.web.views import finder
        from geo.registry.export import redact_private
        from geo.web.maps.boundaries import load_map_boundaries
        from geo.routing.network import MODES as ALL_MODES, resolve_graph
        from geo.registry.store.gpkg import GeoPackageStore

        # As pages/common/shell.py and network.py: public (redacted) stations, one graph and index per mode.
        self.stations = redact_private(GeoPackageStore(registry).load())
        self.graphs = {m: resolve_graph(m, directory=network) for m in ALL_MODES}
        self.indexes = {m: finder.build_index(g, self.stations) for m, g in self.graphs.items()}
        self.boundaries = load_map_boundaries() if render_map else None
        self.render_map = render_map

    def lookup(self, lon: float, lat: float, mode: str, kind: str, lang: str = "zh") -> dict:
        """One run of the finder page for a new origin; returns what it found and how long routing took."""
        from geo.web.views import finder
        from geo.routing import handoff
        from geo.web.maps.finder import finder_map

        state = finder.FinderState().with_origin(lon, lat, "load test").update(mode=mode, kind=kind)
        t0 = time.perf_counter()
        results = finder.find_stations(state, self.stations, self.graphs[mode], self.indexes[mode])
        routed_s = time.perf_counter() - t0
        chosen = finder.pick_selected(results, state.selected)
        routed = bool(results) and not finder.is_estimate(results[0])
        parts = [finder.status_html(state, lang, routed=routed)]
        for n, r in enumerate(results, 1):
            parts.append(finder.result_html(r, lang, number=n, selected=r is chosen))
            parts.append(json.dumps(handoff.handoff_urls(r["lon"], r["lat"], r["name"], state.mode,
                                                         (state.lon, state.lat), state.place)))
        size = sum(map(len, parts))
        if self.render_map:
            m = finder_map((state.lon, state.lat), results, chosen["id"] if chosen else None, lang=lang,
                           boundaries=self.boundaries)
            size += len(m.get_root().render())
        return {"results": len(results), "routed": routed, "route_s": routed_s, "bytes": size,
                "names": [r["name"] for r in results]}


def _geo_users(page: FinderPage, origins: Origins, users: range, seconds: float, think: float) -> dict:
    """Run ``users`` threads against ``page`` for ``seconds``; returns raw observations."""
    out = {"lat": [], "route": [], "errors": Counter(), "empty": 0, "routed": 0, "bytes": 0}
    lock = threading.Lock()
    start = time.monotonic()
    stop_at = start + seconds

    def user(u: int) -> None:
        rng = origins.rng(u)
        _think(rng, think / 2, stop_at)  # users do not all start at the same instant
        while time.monotonic() < stop_at:
            lon, lat = origins.draw(rng)
            mode, kind = _pick(rng, MODES), _pick(rng, KINDS)
            t0 = time.perf_counter()
            try:
                r = page.lookup(lon, lat, mode, kind)
                err = None
            except Exception as exc:  # counted, and the run goes on
                r, err = None, type(exc).__name__
            dt = time.perf_counter() - t0
            with lock:
                if err:
                    out["errors"][err] += 1
                else:
                    out["lat"].append(dt)
                    out["route"].append(r["route_s"])
                    out["empty"] += r["results"] == 0
                    out["routed"] += r["routed"]
                    out["bytes"] += r["bytes"]
            _think(rng, think, stop_at)

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    out["elapsed"] = time.monotonic() - start
    out["errors"] = dict(out["errors"])
    return out


def _geo_process(args) -> dict:
    network, registry, users, seconds, think, render_map, seed = args
    page = FinderPage(network, registry, render_map)
    return _geo_users(page, Origins(network, seed), users, seconds, think)


def run_geo(network: Path, registry: Path, users: int = 50, seconds: float = 120.0, think: float = 1.0,
            processes: int = 1, render_map: bool = True, seed: int = 0) -> dict:
    """Part 1: ``users`` simulated users calling the finder's geo functions for ``seconds``."""
    if processes <= 1:
        page = FinderPage(network, registry, render_map)
        page.lookup(114.0579, 22.5431, "ebike", "rest_station")  # warm: first-call imports and caches
        raw = _geo_users(page, Origins(network, seed), range(users), seconds, think)
        parts = [raw]
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        split = np.array_split(np.arange(users), processes)
        with ctx.Pool(processes) as pool:
            parts = pool.map(_geo_process, [(network, registry, range(int(s[0]), int(s[-1]) + 1), seconds, think,
                                             render_map, seed) for s in split if len(s)])
    lat = [x for p in parts for x in p["lat"]]
    route = [x for p in parts for x in p["route"]]
    errors = Counter()
    for p in parts:
        errors.update(p["errors"])
    elapsed = max(p["elapsed"] for p in parts)
    n = len(lat)
    return {"part": "geo", "users": users, "processes": processes, "seconds": seconds, "think_s": think,
            "map": render_map, "requests": n + sum(errors.values()), "ok": n, "errors": sum(errors.values()),
            "error_kinds": dict(errors), "empty": sum(p["empty"] for p in parts),
            "routed": sum(p["routed"] for p in parts), "throughput_rps": round(n / elapsed, 2),
            "latency": summarize(lat), "routing_only": summarize(route),
            "mean_bytes": round(sum(p["bytes"] for p in parts) / max(n, 1))}


# --------------------------------------------------------------------------
# Part 2: the app over HTTP and its websocket
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(registry: Path, network: Path, log: Path, entry: str = "serve.py", extra_args=(),
              env: dict | None = None, root: Path = ROOT, timeout: float = 120.0):
    """Start ``streamlit run ENTRY`` on 127.0.0.1 with this registry and network; returns (process, url).

    Saved scenarios go to a folder beside ``log``; standard output and error go to ``log``.
    """
    port = free_port()
    env = {**os.environ, **(env or {}), "GEO_REGISTRY": str(registry), "GEO_NETWORK_DIR": str(network),
           "GEO_SCENARIO_DIR": str(log.parent / "scenarios")}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", entry, "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *extra_args],
            cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_app(proc)
    raise RuntimeError(f"streamlit not healthy after {timeout} s: {log.read_text(errors='replace')[-2000:]}")


def stop_app(proc: subprocess.Popen) -> None:
    """Stop a server started by :func:`start_app` (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def finder_query(lon: float, lat: float, mode: str = "ebike", kind: str = "rest_station", lang: str = "zh") -> str:
    """The finder's query string for an origin, as a shared link carries it."""
    return f"lon={lon:.6f}&lat={lat:.6f}&kind={kind}&mode={mode}&by=time&open=1&lang={lang}"


def finder_lookup(url: str, query: str, timeout: float = 60.0, collect: bool = False) -> dict:
    """Open the finder in a new session with ``query`` and read until its script run finishes.

    Speaks Streamlit's own protocol over ``/_stcore/stream``: the
    ``streamlit`` subprotocol, a ``BackMsg.rerun_script`` for page
    ``finder``, then ``ForwardMsg``s until ``script_finished``.

    Returns
    -------
    dict
        ``seconds`` (connect to finish), ``names`` (station names of the
        result cards), ``none_found`` (the page said no station matches:
        an answer too, e.g. no legal-aid point open at night),
        ``routed`` (cards without the estimate label),
        ``exceptions`` and ``errors`` (messages of exception elements and
        ``st.error`` boxes), ``status`` (of ``script_finished``),
        ``messages`` and ``bytes``; with ``collect``, ``texts``: the HTML
        and Markdown the page sent and the query strings it set.
    """
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    ws_url = url.replace("http://", "ws://", 1) + "/_stcore/stream"
    t0 = time.perf_counter()
    from geo.core.i18n import t

    no_results = {t("fd_no_results", lang) for lang in ("zh", "en")}
    out = {"names": [], "exceptions": [], "errors": [], "status": None, "messages": 0, "bytes": 0,
           "estimate_cards": 0, "none_found": False, "texts": []}
    with connect(ws_url, subprotocols=["streamlit"], origin=url, max_size=None, open_timeout=timeout,
                 close_timeout=2) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = query
        msg.rerun_script.page_name = "finder"
        ws.send(msg.SerializeToString())
        deadline = time.monotonic() + timeout
        while True:
            data = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            out["messages"] += 1
            out["bytes"] += len(data)
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            kind = fwd.WhichOneof("type")
            if collect and kind == "page_info_changed":
                out["texts"].append(fwd.page_info_changed.query_string)
            if collect and kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                what = el.WhichOneof("type")
                if what in ("html", "markdown", "alert"):
                    out["texts"].append(getattr(el, what).body)
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                what = el.WhichOneof("type")
                if what == "exception":
                    out["exceptions"].append(f"{el.exception.type}: {el.exception.message}")
                elif what == "alert" and el.alert.format == el.alert.ERROR:
                    out["errors"].append(el.alert.body)
                elif what == "alert" and el.alert.body in no_results:
                    out["none_found"] = True  # the page's own "no station matches" answer
                elif what == "html":
                    out["names"] += [n.decode("utf-8", "replace") for n in _NAME.findall(el.html.body.encode())]
                    out["estimate_cards"] += el.html.body.count('class="fd-est"') if "fd-card" in el.html.body else 0
            elif kind == "script_finished":
                out["status"] = int(fwd.script_finished)
                if fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    break
    out["seconds"] = time.perf_counter() - t0
    out["routed"] = bool(out["names"]) and out["estimate_cards"] == 0
    return out


def lookup_problem(result: dict) -> str | None:
    """Why a finder lookup does not count as a success (None when it does)."""
    if result["exceptions"]:
        return "exception: " + result["exceptions"][0][:200]
    if result["errors"]:
        return "error box: " + result["errors"][0][:200]
    if result["status"] not in (0, 3):
        return f"script_finished status {result['status']}"
    if not result["names"] and not result["none_found"]:
        return "no results and no answer"
    return None


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _http_get(url: str, timeout: float = 30.0) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        size = len(resp.read())
        if resp.status != 200:
            raise OSError(f"HTTP {resp.status}")
    return time.perf_counter() - t0, size


def run_app(network: Path, registry: Path, workdir: Path, users: int = 50, seconds: float = 120.0,
            think: float = 1.0, seed: int = 0, entry: str = "serve.py", timeout: float = 60.0) -> dict:
    """Part 2: ``users`` simulated users opening the finder through the running app for ``seconds``."""
    log = workdir / "streamlit.log"
    proc, url = start_app(registry, network, log, entry=entry)
    origins = Origins(network, seed)
    obs = {"ws": [], "shell": [], "health": [], "errors": Counter(), "examples": [], "routed": 0,
           "results": 0, "bytes": 0, "empty": 0}
    lock = threading.Lock()
    try:
        warm = []
        for mode, _ in MODES:  # the first run of each mode loads its graph and station index
            r = finder_lookup(url, finder_query(114.0579, 22.5431, mode), timeout=120)
            warm.append(round(r["seconds"], 2))
            problem = lookup_problem(r)
            if problem:
                raise RuntimeError(f"warm-up lookup failed: {problem}")
        start = time.monotonic()
        stop_at = start + seconds
        cpu0, own0 = _cpu_seconds(proc.pid), time.process_time()

        def fail(kind: str, detail: str) -> None:
            with lock:
                obs["errors"][kind] += 1
                if len(obs["examples"]) < 5:
                    obs["examples"].append(detail[:300])

        def user(u: int) -> None:
            rng = origins.rng(u)
            _think(rng, think / 2, stop_at)
            while time.monotonic() < stop_at:
                lon, lat = origins.draw(rng)
                query = finder_query(lon, lat, _pick(rng, MODES), _pick(rng, KINDS))
                try:
                    shell_s, _ = _http_get(f"{url}/finder?{query}", timeout)
                    with lock:
                        obs["shell"].append(shell_s)
                except Exception as exc:
                    fail("shell", f"GET /finder: {exc!r}")
                try:
                    r = finder_lookup(url, query, timeout)
                except Exception as exc:
                    fail("websocket", f"{type(exc).__name__}: {exc}")
                else:
                    problem = lookup_problem(r)
                    if problem:
                        fail(problem.split(":")[0], problem)
                    else:
                        with lock:
                            obs["ws"].append(r["seconds"])
                            obs["empty"] += not r["names"]
                            obs["routed"] += r["routed"]
                            obs["results"] += len(r["names"])
                            obs["bytes"] += r["bytes"]
                _think(rng, think, stop_at)

        def health() -> None:
            while time.monotonic() < stop_at:
                try:
                    dt, _ = _http_get(f"{url}/_stcore/health", timeout)
                    with lock:
                        obs["health"].append(dt)
                except Exception as exc:
                    fail("health", repr(exc))
                time.sleep(0.5)

        threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(users)]
        threads.append(threading.Thread(target=health, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + timeout + 60)
        elapsed = time.monotonic() - start
        cpu1, own1 = _cpu_seconds(proc.pid), time.process_time()
    finally:
        stop_app(proc)
    text = log.read_text(errors="replace")
    server_errors = [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line]
    n = len(obs["ws"])
    errors = sum(obs["errors"].values())
    return {"part": "app", "entry": entry, "users": users, "seconds": seconds, "think_s": think,
            "requests": n + sum(v for k, v in obs["errors"].items() if k not in ("shell", "health")),
            "ok": n, "errors": errors, "error_kinds": dict(obs["errors"]), "error_examples": obs["examples"],
            "server_log_errors": len(server_errors), "server_log_examples": server_errors[:3],
            "empty": obs["empty"], "routed": obs["routed"], "mean_results": round(obs["results"] / max(n, 1), 2),
            "mean_ws_bytes": round(obs["bytes"] / max(n, 1)), "throughput_rps": round(n / elapsed, 2),
            "server_cpu_s": round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None,
            "server_cpu_ms_per_lookup": round((cpu1 - cpu0) * 1000 / max(n, 1)) if cpu0 is not None and cpu1 else None,
            "load_generator_cpu_s": round(own1 - own0, 1),
            "warmup_s": warm, "lookup": summarize(obs["ws"]), "page_shell_get": summarize(obs["shell"]),
            "health_get": summarize(obs["health"])}


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _print(result: dict) -> None:
    lat = result.get("latency") or result.get("lookup")
    print(f"[{result['part']}] users {result['users']}, {result['seconds']:.0f} s, think {result['think_s']} s"
          + (f", processes {result['processes']}" if result["part"] == "geo" else "")
          + f": {result['requests']} requests, {result['errors']} errors, {result['throughput_rps']} req/s")
    print(f"    latency ms: p50 {lat.get('p50_ms')}, p95 {lat.get('p95_ms')}, p99 {lat.get('p99_ms')}, "
          f"max {lat.get('max_ms')}")
    print("    " + json.dumps(result, ensure_ascii=False))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("geo", "app", "both"), default="both")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--think", type=float, default=1.0, help="mean think time between a user's lookups (s)")
    ap.add_argument("--processes", type=int, default=1, help="geo part: spread the users over N processes")
    ap.add_argument("--no-map", action="store_true", help="geo part: leave out rendering the map's HTML")
    ap.add_argument("--entry", default="serve.py", help="app part: the script streamlit runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="append the results as JSON lines to this file")
    args = ap.parse_args(argv)
    if not PBF.exists():
        print(f"needs the Shenzhen extract at {PBF}", file=sys.stderr)
        return 2
    print(f"{datetime.now().isoformat(timespec='seconds')} · {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
    results = []
    with tempfile.TemporaryDirectory(prefix="geo-load-") as tmp:
        tmp = Path(tmp)
        network = build_network(tmp / "net")
        registry = sample_registry(tmp / "registry.gpkg")
        if args.part in ("geo", "both"):
            results.append(run_geo(network, registry, args.users, args.seconds, args.think, args.processes,
                                   not args.no_map, args.seed))
            _print(results[-1])
        if args.part in ("app", "both"):
            results.append(run_app(network, registry, tmp, args.users, args.seconds, args.think, args.seed,
                                   args.entry))
            _print(results[-1])
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            for r in results:
                fh.write(json.dumps({**r, "at": datetime.now().isoformat(timespec="seconds")},
                                    ensure_ascii=False) + "\n")
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
