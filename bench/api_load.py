"""Load test of the public API's nearest lookups, against the Streamlit finder, in one run.

On loopback only, with the real Shenzhen network and the sample registry:

* ``api`` — ``python -m geo serve --workers N`` (N = 1 and 2), the rate
  limit off; simulated riders call ``GET /api/v1/nearest`` at random places
  as the worker page does, each on its own keep-alive connection:
  first at saturation (``--think 0``: throughput, lookups per second),
  then ``--users`` riders with ``--think`` seconds between lookups
  (latency p50/p95).
* ``app`` — the obvious alternative, the Streamlit finder page driven over
  its websocket by ``bench/load.py``'s harness, at saturation for the same
  time, so that the ratio is measured on the same machine in the same run.

Usage::

    .venv/bin/python bench/api_load.py                       # 30 s per step
    .venv/bin/python bench/api_load.py --seconds 120 --users 50 --think 1
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402  (bench/load.py: network, sample registry, the app harness)

# Central Shenzhen, where the road extract is.
BOX = (113.93, 22.53, 114.09, 22.58)  # north of the Shenzhen River: Hong Kong is outside the service region


def _serve(workers: int, registry: Path, network: Path, log: Path) -> tuple[subprocess.Popen, int]:
    port = load.free_port()
    env = {**os.environ, "GEO_REGISTRY": str(registry), "GEO_NETWORK_DIR": str(network),
           "GEO_API_RATE_PER_MINUTE": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "geo", "serve", "--workers", str(workers), "--port", str(port)],
                            cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2)
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(log.read_text())


def _riders(port: int, users: int, seconds: float, think: float, seed: int = 1) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def rider(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < stop_at:
            lon, lat = rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])
            mode = rng.choice(("ebike", "ebike", "walk", "drive"))
            t0 = time.perf_counter()
            try:
                conn.request("GET", f"/api/v1/nearest?lon={lon:.6f}&lat={lat:.6f}&mode={mode}&k=5")
                resp = conn.getresponse()
                body = resp.read()
                ok = resp.status == 200 and b'"results"' in body
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            dt = time.perf_counter() - t0
            with lock:
                if ok:
                    latencies.append(dt)
                else:
                    errors[0] += 1
            if think:
                time.sleep(min(rng.uniform(0, 2 * think), max(0.0, stop_at - time.perf_counter())))
        conn.close()

    threads = [threading.Thread(target=rider, args=(i,)) for i in range(users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    out = load.summarize(latencies)
    out.update(errors=errors[0], lookups=len(latencies), per_second=round(len(latencies) / wall, 1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--think", type=float, default=1.0)
    ap.add_argument("--saturate-users", type=int, default=8, help="riders with no think time for throughput")
    ap.add_argument("--no-app", action="store_true", help="skip the Streamlit finder comparison")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="gd-api-load-"))
    network = load.build_network(work / "network")
    registry = load.sample_registry(work / "registry.gpkg")
    figures: dict = {"seconds": args.seconds, "cores": os.cpu_count()}
    for workers in (1, 2):
        proc, port = _serve(workers, registry, network, work / f"serve-{workers}.log")
        try:
            _riders(port, 4, 3.0, 0.0)  # warm the graphs and the station index in every worker
            figures[f"api_{workers}_saturated"] = _riders(port, args.saturate_users, args.seconds, 0.0)
            figures[f"api_{workers}_riders"] = _riders(port, args.users, args.seconds, args.think)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        print(f"API, {workers} worker(s): {figures[f'api_{workers}_saturated']['per_second']} lookups/s saturated; "
              f"{args.users} riders, think {args.think} s: p50 {figures[f'api_{workers}_riders']['p50_ms']} ms, "
              f"p95 {figures[f'api_{workers}_riders']['p95_ms']} ms, errors {figures[f'api_{workers}_riders']['errors']}",
              flush=True)
    if not args.no_app:
        app = load.run_app(network, registry, work / "app", users=args.saturate_users, seconds=args.seconds, think=0.0)
        figures["streamlit_finder_saturated"] = app
        rate = app.get("throughput_rps")
        figures["ratio_api2_vs_streamlit"] = round(figures["api_2_saturated"]["per_second"] / rate, 1) if rate else None
        print(f"Streamlit finder: {rate} lookups/s saturated; API with 2 workers: "
              f"{figures['ratio_api2_vs_streamlit']}x", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
