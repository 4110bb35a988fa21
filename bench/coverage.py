"""Benchmark of planner coverage (geo/analysis/coverage.py, grid.py, travel.py).

What it measures, in one run:

* **without a network**: the whole province at H3 res 8 against the bundled
  sample registry (rest stations, 15 min by e-bike): the full ``coverage()``
  call cold (grid not cached) and warm, with its steps; then the nearest-
  station step against GeoPandas ``sjoin_nearest`` on the same cells and
  stations (projected to CGCS2000 / 3-degree Gauss-Kruger CM 114E) and against
  a per-cell numpy haversine loop, with the answers compared;
* **the province on a built road network** (``--province-net DIR``, a folder
  from ``python -m geo network build``): ``coverage()`` of the whole province
  at H3 res 8 on its e-bike graph, cold, each in a fresh process: the current
  code and the old code path (``--old-path``: the per-cell h3-py loops the grid
  used before and the old snapping passes, kept below) alternated, with the
  load average, wall and CPU time of each and the results compared;
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
    .venv/bin/python bench/coverage.py --province-net /tmp/net_prov --only-province
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
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


# --------------------------------------------------------------------------
# The province on a built network, cold, current code against the old path
# (the old code is kept here, and tests/analysis/test_coverage_fast_paths.py
# compares the new code with it)
# --------------------------------------------------------------------------


class OldChildren:
    """The grid's children before: one h3-py ``cell_to_children`` per parent."""

    @staticmethod
    def uncompact_cells(parents, res):
        import h3.api.basic_int as h3i

        children = [h3i.cell_to_children(int(p), res) for p in np.asarray(parents).tolist()]
        return np.fromiter((c for group in children for c in group), dtype=np.int64,
                           count=sum(len(c) for c in children))


def old_positions(codes, values):
    """The district table's lookup before: a dict read per cell."""
    pos = {c: i for i, c in enumerate(codes.tolist())}
    return np.array([pos.get(c, -1) for c in values.tolist()], dtype=np.int64)


def old_snap_points(graph, lon, lat, *, max_distance_m=None):
    """Snapping before: blocks of radius 1, 4 and max_r grid cells searched in turn (routing's block search)."""
    import math

    from geo.analysis.travel import snaps_from_segments
    from geo.routing.snap import nearest_segments

    lon, lat = np.atleast_1d(np.asarray(lon, dtype=float)), np.atleast_1d(np.asarray(lat, dtype=float))
    limit = settings.SNAP_MAX_M if max_distance_m is None else float(max_distance_m)
    lon0, lat0, kx, ky, cell, _, _ = graph.grid_params
    x, y = (lon - lon0) * kx, (lat - lat0) * ky
    best_d, best_j, best_s = np.full(len(lon), np.inf), np.full(len(lon), -1, dtype=np.int64), np.zeros(len(lon))
    max_r = int(math.ceil(limit * 1.1 / cell)) + 1
    pending = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    for r in sorted({1, min(4, max_r), max_r}):
        if not len(pending):
            break
        d, j, s = nearest_segments(graph, x[pending], y[pending], r)
        best_d[pending], best_j[pending], best_s[pending] = d, j, s
        pending = pending[~((d <= r * cell) | (r == max_r))]
    return snaps_from_segments(graph, lon, lat, best_d, best_j, best_s, limit)


def use_old_code_path() -> None:
    """Put the old per-cell loops and block passes back in place of the new code (``--old-path``)."""
    import geo.analysis.districts as districts_module
    import geo.analysis.grid as grid_module
    import geo.analysis.travel as travel_module

    grid_module.hn = OldChildren
    districts_module._positions = old_positions
    travel_module.snap_points = old_snap_points


def province_run(net: str, registry: str, out: str, old: bool) -> None:
    """One cold ``coverage()`` of the province (run in a fresh process by :func:`bench_province`)."""
    t0 = time.perf_counter()
    from geo.analysis.coverage import coverage as run
    if old:
        use_old_code_path()
    t1 = time.perf_counter()
    g = load_graph(net, "ebike")
    t2 = time.perf_counter()
    load_start = os.getloadavg()[0]
    c0 = time.process_time()
    r = run("440000", res=8, registry=registry, network=g)
    cpu = time.process_time() - c0
    t3 = time.perf_counter()
    import shapely

    with open(out, "wb") as f:
        pickle.dump({"cells": r.cells.drop(columns="geometry"), "wkb": shapely.to_wkb(r.cells.geometry.to_numpy()),
                     "districts": r.districts, "gaps": r.gap_table, "method_cells": r.method_cells,
                     "shares": (r.covered_share_area, r.covered_share_demand), "notes": r.notes}, f)
    print(json.dumps({"imports_s": t1 - t0, "graph_load_s": t2 - t1, "coverage_s": t3 - t2, "coverage_cpu_s": cpu,
                      "load_start": load_start, "load_end": os.getloadavg()[0], "cells": len(r.cells),
                      "method_cells": r.method_cells, "steps": r.timings,
                      "graph_nodes": int(g.n_nodes)}))


def bench_province(net: Path, registry: Path, with_old: bool, repeats: int) -> None:
    print(f"\n## Province (440000), H3 res 8, on the e-bike graph of {net}: coverage() cold, each in a fresh process")
    labels = [("current", False)] + ([("old path", True)] if with_old else [])
    runs: dict[str, list] = {label: [] for label, _ in labels}
    with tempfile.TemporaryDirectory() as tmp:
        # Alternated, so a change in the machine's load falls on both alike.
        for rep in range(repeats):
            for label, old in labels:
                out = Path(tmp) / f"{label}-{rep}.pkl"
                cmd = [sys.executable, __file__, "--province-run", str(net), str(registry), str(out)]
                cmd += ["--old-path"] if old else []
                t = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True)
                process_s = time.perf_counter() - t
                if done.returncode:
                    raise RuntimeError(done.stderr[-3000:])
                info = json.loads(done.stdout.strip().splitlines()[-1])
                info["process_s"] = process_s
                with open(out, "rb") as f:
                    runs[label].append((info, pickle.load(f)))
                st = info["steps"]
                print(f"  {label:8s}: coverage() {info['coverage_s']:.1f} s wall, {info['coverage_cpu_s']:.1f} s CPU "
                      f"(load average {info['load_start']:.1f} -> {info['load_end']:.1f} on {os.cpu_count()} CPUs); "
                      f"grid {st['grid_s']:.1f} s, travel {st['travel_s']:.1f} s, gaps {st['gaps_s']:.1f} s, "
                      f"districts {st['districts_s']:.1f} s, cells frame with hexagons {st['cells_s']:.1f} s; "
                      f"whole process (start, imports, graph load, run, saving) {process_s:.1f} s; "
                      f"{info['cells']:,} cells, by method {info['method_cells']}", flush=True)
    if with_old:
        import pandas as pd

        def med(label, key):
            return float(np.median([info[key] for info, _ in runs[label]]))

        same = True
        for (_, new), (_, old) in zip(runs["current"], runs["old path"]):
            same &= bool((new["wkb"] == old["wkb"]).all()) and new["method_cells"] == old["method_cells"] \
                and new["shares"] == old["shares"] and new["notes"] == old["notes"]
            for key in ("cells", "districts", "gaps"):
                try:
                    pd.testing.assert_frame_equal(new[key], old[key], check_exact=True)
                except AssertionError:
                    same = False
        print(f"  medians of {repeats}: current {med('current', 'coverage_s'):.1f} s wall / "
              f"{med('current', 'coverage_cpu_s'):.1f} s CPU, old path {med('old path', 'coverage_s'):.1f} s wall / "
              f"{med('old path', 'coverage_cpu_s'):.1f} s CPU -> old path / current: "
              f"{med('old path', 'coverage_s') / med('current', 'coverage_s'):.2f}x wall, "
              f"{med('old path', 'coverage_cpu_s') / med('current', 'coverage_cpu_s'):.2f}x CPU; "
              f"results identical (every cell, hexagon, district row and gap): {same}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--baseline-cells", type=int, default=300)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "geo-coverage-bench"))
    ap.add_argument("--no-network", dest="network", action="store_false")
    ap.add_argument("--province-net", help="folder of a built province network: time coverage() of the province on it")
    ap.add_argument("--only-province", action="store_true", help="only the --province-net part")
    ap.add_argument("--province-repeats", type=int, default=2, help="cold runs of each code path, alternated")
    ap.add_argument("--no-old", dest="old", action="store_false", help="skip the old code path's run")
    ap.add_argument("--province-run", nargs=3, metavar=("NET", "REGISTRY", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--old-path", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.province_run:
        province_run(*args.province_run, old=args.old_path)
        return 0
    import scipy

    print(f"machine: {os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}; load average at start: {load_avg()}")
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "sample.gpkg"
        _, t = timed(create_registry, registry, seed=settings.SAMPLE_PATH)
        print(f"sample registry seeded in {t:.1f} s")
        if args.province_net:
            bench_province(Path(args.province_net), registry, args.old, args.province_repeats)
        if not args.only_province:
            bench_estimate(registry, args.res, args.repeats)
            if args.network:
                bench_network(registry, args.nodes, Path(args.cache), args.baseline_cells)
    print(f"\nload average at end: {load_avg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
