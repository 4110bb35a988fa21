"""Benchmark of routing on a province-sized network built by ``python -m geo network build``.

Run it on the folder built from ``bench/make_province_pbf.py --scale 1`` (or
a real Guangdong extract). In one run it prints:

* each mode's load time in a fresh process (memory-mapped; the page cache
  may be warm from the build) and the first nearest-station query after it;
* graph file bytes per node and per arc, against networkx holding the same
  arcs (measured on a slice of the drive graph, in a child process);
* nearest-5 open stations by time on the drive graph (snapping included,
  with routes) for random origins around the sample registry's stations,
  the search alone on the same origins, and on a subset the old code path
  (growing-limit search, numpy routes) with the ratio; wall and CPU time,
  with the load average beside each figure;
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
sys.path.insert(0, str(ROOT / "bench"))

from geo import settings  # noqa: E402
from geo.routing.network import MODES, load_graph  # noqa: E402
from routing import load_avg, old_vs_new, pct, print_old_vs_new  # noqa: E402  (bench/routing.py)

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
        print(f"   {out}; file {size / 1e6:.0f} MB {load_avg()}")


def bench_memory(net: Path, slice_nodes: int) -> None:
    g = load_graph(net, "drive")
    n, arcs = g.n_nodes, int(g.csr_indptr[-1]) - 2
    size = (net / "drive.npz").stat().st_size
    routing = sum(getattr(g, a).nbytes for a in ("csr_indptr", "csr_indices", "csr_time", "csr_len"))
    print(f"\n## Memory (drive: {n:,} nodes, {arcs:,} arcs)")
    print(f"   graph file: {size / n:.0f} bytes/node, {size / arcs:.0f} bytes/arc (geometry, names and snap grid "
          f"included); the search's arrays alone (CSR, both weights): {routing / n:.0f} bytes/node, "
          f"{routing / arcs:.1f} bytes/arc {load_avg()}")
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
          f"{nbytes / ne / (routing / arcs):.0f}x {load_avg()}")


def bench_nearest(net: Path, registry: Path, queries: int, old_queries: int) -> None:
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
    from geo.routing.search import settle_stations
    from geo.routing.stations import eligible

    for x, y in zip(lon[:20], lat[:20]):  # warm-up: compiled code loaded, pages of the graph touched
        nearest_stations(float(x), float(y), idx, g, k=5, at=at)
    times, cpu, snaps, methods = [], [], [], {}
    for x, y in zip(lon, lat):
        t = time.perf_counter()
        snap_point(g, float(x), float(y))
        snaps.append(time.perf_counter() - t)
        c = time.thread_time()
        t = time.perf_counter()
        res = nearest_stations(float(x), float(y), idx, g, k=5, at=at)
        times.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
        for r in res:
            methods[r["method"]] = methods.get(r["method"], 0) + 1
    whole_load = load_avg()
    mask, _ = eligible(idx, at=at)
    cand = np.flatnonzero(mask & (idx.edge >= 0))
    walk = idx.snap_m[cand] / (settings.OFF_ROAD_SPEED_KMH / 3.6)
    search, search_cpu = [], []
    for x, y in zip(lon, lat):
        c = time.thread_time()
        t = time.perf_counter()
        o = snap_point(g, float(x), float(y))
        if o is not None:
            settle_stations(g, idx, cand, o, lon=float(x), lat=float(y), k=5, weight="time", extra=walk)
        search.append(time.perf_counter() - t)
        search_cpu.append(time.thread_time() - c)
    print(f"\n## Nearest 5 open stations by time, drive graph ({g.n_nodes:,} nodes), {len(st):,} sample stations "
          f"(indexed in {t_idx:.1f} s), {len(cand):,} candidates")
    print(f"   {queries} whole queries (nearest_stations: snap + search + routes): p50 {pct(times, 50):.2f} ms, "
          f"p95 {pct(times, 95):.2f} ms, p99 {pct(times, 99):.2f} ms, max {pct(times, 100):.1f} ms; "
          f"CPU time of this thread p50 {pct(cpu, 50):.2f} ms, p95 {pct(cpu, 95):.2f} ms; "
          f"results by method {methods} {whole_load}")
    print(f"   search alone (snap + settle_stations), same origins: p50 {pct(search, 50):.2f} ms, "
          f"p95 {pct(search, 95):.2f} ms; CPU time p50 {pct(search_cpu, 50):.2f} ms, p95 {pct(search_cpu, 95):.2f} ms; "
          f"snapping alone p50 {pct(snaps, 50):.3f} ms {load_avg()}")
    if old_queries:
        print_old_vs_new(old_vs_new(g, idx, cand, np.column_stack([lon, lat])[:old_queries], 5))


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
    print(f"   {out} {load_avg()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", required=True, help="folder built by python -m geo network build")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--old-queries", type=int, default=300,
                    help="queries also answered by the old code path (growing-limit search, numpy routes)")
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
            bench_nearest(net, registry, args.queries, args.old_queries)
        if "coverage" not in args.skip:
            bench_coverage(net, registry)
    print(f"\nload average at end {os.getloadavg()[0]:.1f} (two CPUs shared with other work)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
