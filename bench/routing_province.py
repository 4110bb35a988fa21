"""Benchmark of routing on a province-sized network built by ``python -m geo network build``.

Run it on the folder built from ``bench/make_province_pbf.py --scale 1`` (or
a real Guangdong extract). In one run it prints:

* each mode's load time in a fresh process (memory-mapped; the page cache
  may be warm from the build) and the first nearest-station query after it;
* graph file bytes per node and per arc, against networkx holding the same
  arcs (measured on a slice of the drive graph, in a child process);
* nearest-5 open stations by time on the drive graph (snapping included,
  with routes) for random origins around the sample registry's stations;
* coverage of the whole province at H3 res 8 on the e-bike graph, cold
  (fresh process: graph load, grid, snapping, multi-source search), with
  its steps.

Usage::

    .venv/bin/python bench/routing_province.py --net /tmp/net_prov
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo import settings  # noqa: E402
from geo.routing.network import MODES, load_graph  # noqa: E402

AT = "2026-11-23T19:00:00+08:00"


def child(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing cached, nothing compiled in memory) and return its output."""
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}"],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return done.stdout.strip()


def bench_loads(net: Path) -> None:
    print("\n## Loading (fresh process per mode)")
    for mode in MODES:
        out = child(f"""
import time, resource
t0 = time.perf_counter()
from geo.routing.network import load_graph
t1 = time.perf_counter()
g = load_graph({str(net)!r}, {mode!r})
t2 = time.perf_counter()
s = g.search([0], [0.0], limit=60.0)
t3 = time.perf_counter()
print(f"{mode}: {{g.n_nodes:,}} nodes, {{g.n_edges:,}} edges; import {{t1 - t0:.2f}} s, load {{t2 - t1:.3f}} s, "
      f"first search (numba cache load) {{t3 - t2:.3f}} s; RSS {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}} MB")
""")
        size = (net / f"{mode}.npz").stat().st_size
        print(f"   {out}; file {size / 1e6:.0f} MB")


def bench_memory(net: Path, slice_nodes: int) -> None:
    g = load_graph(net, "drive")
    n, arcs = g.n_nodes, int(g.csr_indptr[-1]) - 2
    size = (net / "drive.npz").stat().st_size
    routing = sum(getattr(g, a).nbytes for a in ("csr_indptr", "csr_indices", "csr_time", "csr_len"))
    print(f"\n## Memory (drive: {n:,} nodes, {arcs:,} arcs)")
    print(f"   graph file: {size / n:.0f} bytes/node, {size / arcs:.0f} bytes/arc (geometry, names and snap grid "
          f"included); the search's arrays alone (CSR, both weights): {routing / n:.0f} bytes/node, "
          f"{routing / arcs:.1f} bytes/arc")
    out = child(f"""
import gc, networkx as nx, numpy as np
def rss():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:"))
from geo.routing.network import load_graph
g = load_graph({str(net)!r}, "drive")
k = {slice_nodes}
ptr = np.asarray(g.csr_indptr[:k + 1], dtype=np.int64)
dst = np.asarray(g.csr_indices[:ptr[-1]]); t = np.asarray(g.csr_time[:ptr[-1]]); d = np.asarray(g.csr_len[:ptr[-1]])
src = np.repeat(np.arange(k), np.diff(ptr))
keep = dst < k
triples = list(zip(src[keep].tolist(), dst[keep].tolist(), t[keep].tolist(), d[keep].tolist()))
gc.collect()
before = rss()
G = nx.DiGraph()
G.add_nodes_from(range(k))
for a, b, tt, dd in triples:
    G.add_edge(a, b, time=tt, length=dd)
del triples
gc.collect()
after = rss()
print((after - before) * 1024, G.number_of_nodes(), G.number_of_edges())
""")
    nbytes, nn, ne = (int(x) for x in out.split())
    print(f"   networkx DiGraph of the first {nn:,} nodes ({ne:,} arcs, both weights as edge attributes): "
          f"{nbytes / nn:.0f} bytes/node, {nbytes / ne:.0f} bytes/arc (resident memory growth); "
          f"ratio to our whole file per arc {nbytes / ne / (size / arcs):.1f}x, to the search's arrays "
          f"{nbytes / ne / (routing / arcs):.0f}x")


def bench_nearest(net: Path, registry: Path, queries: int) -> None:
    from datetime import datetime

    from geo.registry.store import open_store
    from geo.routing.nearest import nearest_stations
    from geo.routing.snap import snap_point
    from geo.routing.stations import index_stations

    g = load_graph(net, "drive")
    st = open_store(registry).load()
    t = time.perf_counter()
    idx = index_stations(g, st)
    t_idx = time.perf_counter() - t
    rng = np.random.default_rng(0)
    pick = rng.choice(len(st), queries)
    # Origins within a few km of a station: where a worker asks from.
    lon = st["lon"].to_numpy()[pick] + rng.normal(0, 0.03, queries)
    lat = st["lat"].to_numpy()[pick] + rng.normal(0, 0.03, queries)
    at = datetime.fromisoformat(AT)
    nearest_stations(float(lon[0]), float(lat[0]), idx, g, k=5, at=at)
    times, snaps, methods = [], [], {}
    for x, y in zip(lon, lat):
        t = time.perf_counter()
        snap_point(g, float(x), float(y))
        snaps.append(time.perf_counter() - t)
        t = time.perf_counter()
        res = nearest_stations(float(x), float(y), idx, g, k=5, at=at)
        times.append(time.perf_counter() - t)
        for r in res:
            methods[r["method"]] = methods.get(r["method"], 0) + 1
    ms = np.asarray(times) * 1000
    print(f"\n## Nearest 5 open stations by time, drive graph ({g.n_nodes:,} nodes), {len(st):,} sample stations "
          f"(indexed in {t_idx:.1f} s)")
    print(f"   {queries} queries (snap + search + routes): p50 {np.percentile(ms, 50):.2f} ms, "
          f"p95 {np.percentile(ms, 95):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, max {ms.max():.1f} ms; "
          f"snapping alone p50 {np.percentile(snaps, 50) * 1000:.3f} ms; results by method {methods}")


def bench_coverage(net: Path, registry: Path) -> None:
    out = child(f"""
import time
t0 = time.perf_counter()
from geo.analysis.coverage import coverage
from geo.routing.network import load_graph
t1 = time.perf_counter()
g = load_graph({str(net)!r}, "ebike")
t2 = time.perf_counter()
r = coverage("440000", res=8, registry={str(registry)!r}, network=g)
t3 = time.perf_counter()
print(f"imports {{t1 - t0:.1f}} s, graph load {{t2 - t1:.2f}} s, coverage() {{t3 - t2:.1f}} s "
      f"(grid, snapping, multi-source search, cells); {{len(r.cells) if hasattr(r, 'cells') else ''}} cells; "
      f"by method {{r.method_cells}}")
""")
    print("\n## Coverage, whole province, H3 res 8, e-bike graph, cold (fresh process)")
    print(f"   {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", required=True, help="folder built by python -m geo network build")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--nx-slice", type=int, default=300_000, help="nodes of the drive graph put into networkx")
    ap.add_argument("--skip", nargs="*", default=[], choices=["loads", "memory", "nearest", "coverage"])
    args = ap.parse_args()
    net = Path(args.net)
    print(f"# province routing benchmark: {net}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    from geo.registry.store import create_registry

    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "sample.gpkg"
        create_registry(registry, seed=settings.SAMPLE_PATH)
        if "loads" not in args.skip:
            bench_loads(net)
        if "memory" not in args.skip:
            bench_memory(net, args.nx_slice)
        if "nearest" not in args.skip:
            bench_nearest(net, registry, args.queries)
        if "coverage" not in args.skip:
            bench_coverage(net, registry)
    print(f"\nload average at end {os.getloadavg()[0]:.1f} (two CPUs shared with other work)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
