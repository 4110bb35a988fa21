"""Benchmark of site recommendations (geo/analysis/siting/).

The instance: Guangzhou (440100) at H3 res 9, rest stations within 10 min
by e-bike (estimate, no network), census population as demand, the bundled
sample registry's open rest stations as the existing network. That leaves
~52,000 uncovered cells with demand. 2,000 candidates: 1,000 drawn from the
real Guangzhou EV charging stations (shared/data) and 1,000 at random
uncovered cell centres. p = 20.

What it measures, in one run:

* building the problem (baseline coverage, candidates, the candidate x cell
  matrix) and, with ``--nodes``, the same matrix on a synthetic road network
  (bounded Dijkstra per candidate, in chunks);
* greedy (lazy, CELF) and :func:`geo.analysis.siting.solve.greedy_preview` on the cached
  problem, median of repeats;
* exact (HiGHS, warm-started from greedy, ``--time-limit``): time, status,
  gap;
* spopt's MCLP (``MCLP.from_cost_matrix`` + PuLP's HiGHS) on the same
  matrix: on sub-instances of the first K demand cells with all 2,000
  candidates (objectives compared with ours on the very same sub-instance),
  its build time extrapolated to the full instance; and, with
  ``--spopt-full``, the full instance in a subprocess under a memory cap.

Usage::

    .venv/bin/python bench/siting.py
    .venv/bin/python bench/siting.py --nodes 1000000 --spopt-full
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo import settings  # noqa: E402
from geo.analysis.siting.candidates import read_candidates  # noqa: E402
from geo.analysis.siting.matrix import take_columns  # noqa: E402
from geo.analysis.siting.problem import build_problem, problem_from_arrays  # noqa: E402
from geo.analysis.siting.reach import reach_matrix  # noqa: E402
from geo.analysis.siting.solve import greedy_preview, solve, verify_sites  # noqa: E402
from geo.analysis.travel import snap_points  # noqa: E402
from geo.registry.store import create_registry  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
POPULATION = SHARED / "guangdong_county_population_2020.csv"
GZ_EV = SHARED / "guangzhou_ev_charging_stations.csv"


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def load_avg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def candidates_for(baseline, n: int, seed: int) -> pd.DataFrame:
    """Half real EV charging stations, half random uncovered cell centres."""
    rng = np.random.default_rng(seed)
    ev = read_candidates(GZ_EV, "rest_station").frame
    ev = ev.iloc[np.sort(rng.choice(len(ev), n // 2, replace=False))]
    cells = baseline.cells
    open_ = np.flatnonzero(~cells["covered"].to_numpy() & (cells["demand"].to_numpy() > 0))
    pick = np.sort(rng.choice(open_, n - len(ev), replace=False))
    gen = pd.DataFrame({"id": [f"U{i}" for i in range(len(pick))], "name": cells["h3"].to_numpy()[pick],
                        "lon": cells["lon"].to_numpy()[pick], "lat": cells["lat"].to_numpy()[pick]})
    return pd.concat([ev[["id", "name", "lon", "lat"]], gen], ignore_index=True)


def build(registry: Path, n_cand: int, minutes: float, seed: int, network=False):
    from geo.analysis.coverage import coverage
    from geo.analysis.demand import DemandSource

    base = coverage("440100", "rest_station", minutes=minutes, res=9, network=network, registry=registry,
                    demand=DemandSource(population=POPULATION))
    cands = candidates_for(base, n_cand, seed)
    prob, t = timed(build_problem, "440100", "rest_station", minutes=minutes, res=9, network=network,
                    registry=registry, demand=DemandSource(population=POPULATION), candidates=cands)
    return prob, t


def spopt_run(cost: np.ndarray, w: np.ndarray, radius: float, p: int, time_limit: float) -> dict:
    import pulp
    from spopt.locate import MCLP

    t = time.perf_counter()
    model = MCLP.from_cost_matrix(cost, w, service_radius=radius, p_facilities=p)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    model = model.solve(pulp.HiGHS(msg=False, timeLimit=time_limit))
    t_solve = time.perf_counter() - t
    return {"build_s": t_build, "solve_s": t_solve, "objective": float(model.problem.objective.value()),
            "status": pulp.LpStatus[model.problem.status]}


def dense_cost(A, radius: float) -> np.ndarray:
    """Cells x candidates, ``radius / 2`` where covered and ``2 radius`` elsewhere (spopt's input)."""
    cost = np.full((A.shape[1], A.shape[0]), 2.0 * radius)
    coo = A.tocoo()
    cost[coo.col, coo.row] = radius / 2.0
    return cost


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=2000)
    ap.add_argument("--p", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spopt-cells", type=int, nargs="*", default=[1000, 2500])
    ap.add_argument("--spopt-full", action="store_true", help="also the full instance (subprocess, memory cap)")
    ap.add_argument("--spopt-mem-gb", type=float, default=12.0)
    ap.add_argument("--nodes", type=int, default=0, help="also build the matrix on a synthetic network of N nodes")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "geo-coverage-bench"))
    args = ap.parse_args()
    if not GZ_EV.exists():
        print(f"shared data missing: {SHARED}", file=sys.stderr)
        return 2

    import highspy
    import scipy

    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, highspy {highspy.Highs().version()}")
    print(f"load average at start: {load_avg()}")
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "r.gpkg"
        create_registry(registry, seed=settings.SAMPLE_PATH)
        prob, t_build = build(registry, args.candidates, args.minutes, args.seed)
        A, w, cells = prob.open_core()
        open_all = int((~prob.covered0 & (prob.demand > 0)).sum())
        print(f"\ninstance: {prob.baseline.region.name} res 9, {prob.standard.describe()}, population demand; "
              f"{len(prob.demand):,} cells, {open_all:,} uncovered with demand ({A.shape[1]:,} of them within reach "
              f"of a candidate); {prob.n_candidates:,} candidates; {A.nnz:,} candidate-cell pairs; p = {args.p}")
        print(f"build_problem: {t_build:.2f} s ({prob.timings})")

        gr_times = []
        for _ in range(args.repeats):
            gr, t = timed(solve, prob, args.p, method="greedy", verify=False)
            gr_times.append(t)
        pv_times = [timed(greedy_preview, prob, args.p)[1] for _ in range(args.repeats)]
        print(f"\ngreedy (CELF) p={args.p}: median {np.median(gr_times):.3f} s (min {min(gr_times):.3f}, max "
              f"{max(gr_times):.3f}; greedy step alone {gr.timings['greedy_s']:.3f} s); added demand "
              f"{gr.added_demand:,.0f}; share {gr.before_share:.4f} -> {gr.after_share:.4f}; certified gap "
              f"{gr.gap:.4%} (bound {gr.bound:,.0f})")
        print(f"greedy_preview p={args.p}: median {np.median(pv_times):.3f} s")

        ex, t_ex = timed(solve, prob, args.p, method="exact", time_limit=args.time_limit, verify=False)
        print(f"exact (HiGHS, limit {args.time_limit:g} s): {t_ex:.2f} s total (MILP {ex.timings.get('exact_s', 0):.2f}"
              f" s), method {ex.method}, status {ex.status}, gap {ex.gap}, added demand {ex.added_demand:,.0f} "
              f"(greedy/exact = {gr.added_demand / ex.added_demand:.5f})")
        ids = prob.candidates["id"].to_numpy()
        order = [int(np.flatnonzero(ids == c)[0]) for c in ex.sites["candidate_id"]]
        _, t_ver = timed(verify_sites, prob, ex, order)
        print(f"engine re-run with the 20 sites (verify): {t_ver:.2f} s; engine share {ex.verified['after_share']:.6f}"
              f" vs matrix {ex.after_share:.6f}")

        # spopt on the same matrix.
        radius = 1.0
        print("\nspopt MCLP.from_cost_matrix + PuLP HiGHS, same candidates, first K demand cells:")
        rates = []
        for k in args.spopt_cells:
            k = min(k, A.shape[1])
            sub = take_columns(A, np.arange(k))
            cost = dense_cost(sub, radius)
            sp = spopt_run(cost, w[:k], radius, args.p, args.time_limit)
            ours_prob = problem_from_arrays(sub, w[:k])
            ours, t_ours = timed(solve, ours_prob, args.p, method="exact", time_limit=args.time_limit,
                                 verify=False)
            rates.append(sp["build_s"] / k)
            print(f"  K={k:,}: spopt build {sp['build_s']:.2f} s + solve {sp['solve_s']:.2f} s ({sp['status']}), "
                  f"objective {sp['objective']:,.2f}; ours exact {t_ours:.3f} s, objective "
                  f"{ours.added_demand:,.2f} -> {'same' if abs(sp['objective'] - ours.added_demand) <= 1e-6 * max(1, ours.added_demand) else 'DIFFERENT'}")
        full = A.shape[1]
        print(f"  spopt model building extrapolated to K={full:,}: ~{np.median(rates) * full:,.0f} s "
              f"(linear in cells x candidates; dense cost matrix alone {full * A.shape[0] * 8 / 1e9:.1f} GB, "
              f"aij another {full * A.shape[0] * 8 / 1e9:.1f} GB)")
        if args.spopt_full:
            path = Path(tmp) / "full.npz"
            np.savez(path, cost=dense_cost(A, radius), w=w)
            code = ("import resource,sys,numpy as np;"
                    f"resource.setrlimit(resource.RLIMIT_AS,({int(args.spopt_mem_gb * 1e9)},{int(args.spopt_mem_gb * 1e9)}));"
                    "sys.path.insert(0,'bench');from siting import spopt_run;"
                    f"d=np.load('{path}');print(spopt_run(d['cost'],d['w'],{radius},{args.p},{args.time_limit}))")
            t = time.perf_counter()
            try:
                p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   cwd=Path(__file__).resolve().parents[1], timeout=1800)
                err = p.stderr.strip().splitlines()
                tail = p.stdout.strip() or (err[-1] if err else "")
                print(f"  full instance: exit {p.returncode} after {time.perf_counter() - t:.0f} s: {tail[:300]}")
            except subprocess.TimeoutExpired:
                print(f"  full instance: not finished after {time.perf_counter() - t:.0f} s (stopped)")

        if args.nodes:
            from geo.routing.network import load_graph
            from geo.routing.synthetic import build_synthetic

            folder = Path(args.cache) / f"synthetic-{args.nodes}-seed0"
            if not (folder / "ebike.npz").exists():
                build_synthetic(folder, args.nodes, modes=("ebike",), seed=0)
            g, t_load = timed(load_graph, folder, "ebike")
            lon, lat = prob.candidates["lon"].to_numpy(), prob.candidates["lat"].to_numpy()
            grid = prob.baseline.grid
            m, t_net = timed(reach_matrix, grid, prob.standard, lon, lat, graph=g)
            on = int(snap_points(g, lon, lat).ok.sum())
            print(f"\nnetwork: synthetic {g.n_nodes:,} nodes (load {t_load:.2f} s); {on:,} of {len(lon):,} candidates"
                  f" on it; candidate x cell matrix by bounded Dijkstra in chunks of "
                  f"{settings.SITING_DIJKSTRA_CHUNK_MB} MB: {t_net:.2f} s, {m.nnz:,} pairs")
    print(f"\nload average at end: {load_avg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
