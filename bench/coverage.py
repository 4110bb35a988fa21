"""Benchmark of planner coverage (geo/analysis/coverage.py, grid.py, travel.py).

What it measures, in one run:

* **without a network**: the whole province at H3 res 8 against the bundled
  sample registry (rest stations, 15 min by e-bike): the full ``coverage()``
  call cold (grid not cached) and warm, with its steps; then the nearest-
  station step against GeoPandas ``sjoin_nearest`` on the same cells and
  stations (projected to CGCS2000 / 3-degree Gauss-Kruger CM 114E) and against
  a per-cell numpy haversine loop, with the answers compared;
* **with a road network**: a synthetic city of ~1M nodes (e-bike graph,
  built once into ``--cache``) and the sample registry's rest stations, for
  Guangzhou at res 9 and the province at res 8: the multi-source pass and
  the cell assignment step by step, the full ``coverage()`` call, and a
  per-cell baseline (``geo.routing.nearest.nearest_stations`` for each cell, the
  worker finder's query) on a sample of cells, extrapolated, with the
  answers compared.

Usage::

    .venv/bin/python bench/coverage.py
    .venv/bin/python bench/coverage.py --nodes 100000 --baseline-cells 100
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.analysis.coverage import coverage, filter_stations  # noqa: E402
from geo.analysis.grid import clear_grid_cache, hex_grid  # noqa: E402
from geo.analysis.standard import service_standard  # noqa: E402
from geo.analysis.travel import (NetworkContext, access_cost, augmented_matrix, cells_from_nodes,  # noqa: E402
                                 clear_graph_caches, estimate_factor, nearest_estimate, nearest_network,
                                 reversed_matrix, snap_points)
from geo import settings  # noqa: E402
from geo.core.crs import haversine_m  # noqa: E402
from geo.routing.network import load_graph  # noqa: E402
from geo.routing.nearest import nearest_stations  # noqa: E402
from geo.routing.stations import index_stations  # noqa: E402
from geo.registry.store import create_registry  # noqa: E402
from geo.routing.synthetic import build_synthetic  # noqa: E402


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def load_avg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def bench_estimate(registry: Path, res: int, repeats: int) -> None:
    print(f"\n## Province (440000), H3 res {res}, no network (estimate), sample registry")
    clear_grid_cache()
    cold, t_cold = timed(coverage, "440000", res=res, registry=registry, network=False)
    warm = []
    for _ in range(repeats):
        _, t = timed(coverage, "440000", res=res, registry=registry, network=False)
        warm.append(t)
    n = len(cold.cells)
    print(f"cells: {n:,}; serving stations: {len(cold.stations):,} ({', '.join(cold.standard.kinds)}); "
          f"standard: {cold.standard.describe()}")
    print(f"covered share: {cold.covered_share_area:.4f} (area); gaps: {len(cold.gaps):,}")
    print(f"coverage() cold (grid built): {t_cold:.2f} s  steps: {cold.timings}")
    print(f"coverage() warm (grid cached): median {np.median(warm):.2f} s of {repeats} "
          f"({', '.join(f'{x:.2f}' for x in warm)})")

    # The nearest-station step alone, against the usual GeoPandas way and a per-cell loop.
    grid = hex_grid("440000", res)
    st = cold.stations
    (ours_v, ours_i), t_ours = timed(nearest_estimate, grid.lon, grid.lat, st["lon"].to_numpy(),
                                     st["lat"].to_numpy(), cold.standard)
    import geopandas as gpd

    pts = gpd.GeoDataFrame({"cell": np.arange(n)}, geometry=gpd.points_from_xy(grid.lon, grid.lat),
                           crs="EPSG:4326")
    t = time.perf_counter()
    a = pts.to_crs("EPSG:4547")
    b = st[["id", "geometry"]].to_crs("EPSG:4547")
    joined = gpd.sjoin_nearest(a, b, how="left", distance_col="dist_m")
    joined = joined[~joined.index.duplicated()]  # equidistant ties give several rows
    t_sjoin = time.perf_counter() - t
    same = (joined["id"].to_numpy() == st["id"].to_numpy()[ours_i]).mean()
    crow = haversine_m(grid.lon, grid.lat, st["lon"].to_numpy()[ours_i], st["lat"].to_numpy()[ours_i])
    rel = np.abs(joined["dist_m"].to_numpy() - crow) / np.maximum(crow, 1.0)
    print(f"nearest station, {n:,} cells x {len(st):,} stations:")
    print(f"  ours (KD-tree on the unit sphere): {t_ours * 1000:.0f} ms")
    print(f"  GeoPandas sjoin_nearest (projected, incl. to_crs): {t_sjoin * 1000:.0f} ms "
          f"-> ours {t_sjoin / t_ours:.0f}x faster; same station for {same:.4%} of cells; "
          f"projected vs great-circle distance differ by median {np.median(rel):.2%}")
    k = 2000
    sample = np.random.default_rng(0).choice(n, k, replace=False)
    slon, slat = st["lon"].to_numpy(), st["lat"].to_numpy()
    t = time.perf_counter()
    loop = np.array([haversine_m(grid.lon[i], grid.lat[i], slon, slat).min() for i in sample])
    t_loop = (time.perf_counter() - t) / k * n
    assert np.allclose(loop * estimate_factor(cold.standard), ours_v[sample], rtol=1e-9)
    print(f"  per-cell numpy haversine loop ({k} cells, extrapolated): {t_loop:.1f} s "
          f"-> ours {t_loop / t_ours:.0f}x faster (answers identical)")
    print(f"  whole coverage() cold vs sjoin_nearest alone: {t_cold / t_sjoin:.1f}x the time of the bare join")


def bench_network(registry: Path, nodes: int, cache: Path, baseline_cells: int) -> None:
    folder = cache / f"synthetic-{nodes}-seed0"
    if not (folder / "ebike.npz").exists():
        print(f"\nbuilding a synthetic city of ~{nodes:,} nodes (e-bike) into {folder} ...", flush=True)
        _, t = timed(build_synthetic, folder, nodes, modes=("ebike",), seed=0)
        print(f"  built in {t:.1f} s")
    g, t_load = timed(load_graph, folder, "ebike")
    s = g.summary()
    print(f"\n## Road network: synthetic city, {s['nodes']:,} nodes, {s['edges']:,} edges, {s['arcs']:,} arcs "
          f"(e-bike), loaded in {t_load:.2f} s")
    for region, res in (("440100", 9), ("440000", 8)):
        grid = hex_grid(region, res)
        std = service_standard("rest_station")
        from geo.registry.store import open_store

        st = filter_stations(open_store(registry).load(kinds=["rest_station"]), std, ("open",))
        slon, slat = st["lon"].to_numpy(), st["lat"].to_numpy()
        clear_graph_caches()
        print(f"\n### {grid.region.name} ({region}), H3 res {res}: {len(grid):,} cells, {len(st):,} open rest "
              f"stations, {std.describe()}")
        steps = {}
        st_snap, steps["snap stations"] = timed(snap_points, g, slon, slat)
        cell_snap, steps["snap cells"] = timed(snap_points, g, grid.lon, grid.lat)
        ok = st_snap.ok
        acc = access_cost(st_snap.distance_m[ok], "time")
        _, steps["reverse graph (cached per graph)"] = timed(reversed_matrix, g, "time")
        aug, steps["add station rows"] = timed(augmented_matrix, g, "time", st_snap.edge[ok], st_snap.fraction[ok], acc)
        from scipy.sparse.csgraph import dijkstra

        (dist, _, src), steps["multi-source dijkstra"] = timed(
            dijkstra, aug, directed=True, indices=np.arange(g.n_nodes, g.n_nodes + ok.sum()), min_only=True,
            return_predecessors=True)
        ctx = NetworkContext(g, "time", aug, np.flatnonzero(ok), st_snap.edge[ok], st_snap.fraction[ok], acc,
                             cell_snap, access_cost(np.nan_to_num(cell_snap.distance_m), "time"),
                             1 / 60, "estimate")
        _, steps["assign cells"] = timed(cells_from_nodes, ctx, dist, src)
        clear_graph_caches()
        trav, t_nn = timed(nearest_network, g, grid.lon, grid.lat, slon, slat, std)
        on = np.flatnonzero(trav.method == 0)
        print(f"stations snapped: {int(ok.sum()):,} of {len(st):,}; cells on the network: {len(on):,}")
        for k, v in steps.items():
            print(f"  {k}: {v * 1000:.0f} ms")
        print(f"  sum of the steps: {sum(steps.values()):.2f} s; nearest_network() end to end (incl. reversing "
              f"the graph and the estimate for cells and stations off it): {t_nn:.2f} s")
        res_full, t_full = timed(coverage, region, res=res, registry=registry, network=g)
        print(f"  coverage() end to end (grid cached, graph reversed): {t_full:.2f} s; covered share "
              f"{res_full.covered_share_area:.4f}; cells by method {res_full.method_cells}")
        # Per-cell baseline: the worker finder's query from each cell.
        if len(on) and baseline_cells:
            idx = index_stations(g, st)
            sample = np.random.default_rng(1).choice(on, min(baseline_cells, len(on)), replace=False)
            walk = settings.COVERAGE_ACCESS_SPEED_KMH / 3.6
            ref, t0 = [], time.perf_counter()
            for i in sample:
                out = nearest_stations(grid.lon[i], grid.lat[i], idx, g, k=5, open_only=False, statuses=None)
                costs = [r["road_s"] + (r["egress_m"] + r["access_m"]) / walk
                         for r in out if r["method"] == "network"]
                ref.append(min(costs) / 60 if costs else np.inf)
            per = (time.perf_counter() - t0) / len(sample)
            diff = np.abs(np.array(ref) - trav.value[sample])
            # k = 5 by route cost may miss a nearer station whose own snap walk is long; count those.
            agree = (diff < 0.01).mean()
            print(f"  per-cell baseline (routing.nearest_stations k=5 per cell, {len(sample)} cells): "
                  f"{per * 1000:.1f} ms per cell -> {per * len(on):.0f} s for {len(on):,} cells; the one pass is "
                  f"{per * len(on) / t_nn:.0f}x faster; answers agree within 0.01 min for {agree:.1%} "
                  f"(max diff {diff.max():.3f} min)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--baseline-cells", type=int, default=300)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "geo-coverage-bench"))
    ap.add_argument("--no-network", dest="network", action="store_false")
    args = ap.parse_args()
    import scipy

    print(f"machine: {os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}; load average at start: {load_avg()}")
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "sample.gpkg"
        _, t = timed(create_registry, registry, seed=settings.SAMPLE_PATH)
        print(f"sample registry seeded in {t:.1f} s")
        bench_estimate(registry, args.res, args.repeats)
        if args.network:
            bench_network(registry, args.nodes, Path(args.cache), args.baseline_cells)
    print(f"\nload average at end: {load_avg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
