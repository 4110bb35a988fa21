"""Site recommendations: models and solvers against brute force, the coverage matrix against the
coverage engine, candidates, exclusions, the planned-station GeoJSON, scenarios and the CLI contract.

Every optimum is checked against plain enumeration (itertools.combinations)
on small random instances, several seeds each; capacitated values against
an independent LP (scipy.optimize.linprog); the candidate x cell matrix
against the coverage engine run with each candidate as the only station.
"""
from __future__ import annotations

import itertools
import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.optimize import linprog

from geo.analysis.coverage import coverage
from geo.analysis import scenarios as sc
from geo.analysis.siting.candidates import CandidateSource, generate_candidates, read_candidates
from geo.analysis.siting.matrix import csr_keeping_zeros
from geo.analysis.siting.problem import build_problem, problem_from_arrays
from geo.analysis.siting.solve import greedy_preview, solve
from geo.registry.io.readers import read_table
from geo.routing.synthetic import DEFAULT_CENTER, synthetic_graph
from geo.registry.validate import validate_table
from conftest import SHARED, run_cli

GZ_EV = SHARED / "guangzhou_ev_charging_stations.csv"
needs_shared = pytest.mark.skipif(not GZ_EV.exists(), reason="shared data folder not present")
E = 1.0 - 1.0 / math.e
SEEDS = range(6)


def _instance(seed, n=9, m=45, density=0.22, pre=0.2):
    rng = np.random.default_rng(seed)
    M = (rng.random((n, m)) < density).astype(float)
    w = rng.integers(1, 20, m).astype(float)
    cov0 = rng.random(m) < pre
    return M, w, cov0, rng


def _covered_value(M, w, cov0, S):
    hit = M[list(S)].sum(axis=0) > 0 if S else np.zeros(M.shape[1], bool)
    return float(w[hit & ~cov0].sum())


# --------------------------------------------------------------------------
# Models and solvers against brute force
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp_exact_is_brute_force_optimum_and_greedy_within_bound(seed):
    M, w, cov0, _ = _instance(seed)
    prob = problem_from_arrays(M, w, cov0)
    before = float(w[cov0].sum())
    for p in (1, 2, 3, 4):
        best = max(_covered_value(M, w, cov0, S) for S in itertools.combinations(range(len(M)), p))
        ex = solve(prob, p, method="exact")
        gr = solve(prob, p, method="greedy")
        assert ex.method == "exact" and ex.status == "optimal" and ex.gap == 0.0
        assert ex.added_demand == pytest.approx(best, abs=1e-9)
        assert _covered_value(M, w, cov0, [int(c[1:]) for c in ex.sites["candidate_id"]]) == pytest.approx(best)
        assert gr.method == "greedy" and "1−1/e" in gr.guarantee
        assert gr.added_demand >= E * best - 1e-9
        # The greedy's certified bound is a true upper bound on the optimum.
        assert gr.bound >= best - 1e-9 and gr.gap >= 0
        for r in (ex, gr):
            assert r.after_demand >= r.before_demand == pytest.approx(before)
            assert r.after_share >= r.before_share
            assert r.sites["added_demand"].sum() == pytest.approx(r.added_demand)
            added = r.sites["added_demand"].to_numpy()
            assert (np.diff(added) <= 1e-9).all(), "sites are ranked by marginal gain"
            assert list(r.sites["rank"]) == list(range(1, len(r.sites) + 1))


@pytest.mark.parametrize("seed", SEEDS)
def test_lscp_exact_is_fewest_sites_and_counts_existing_coverage(seed):
    M, w, cov0, rng = _instance(seed, n=8, m=40, density=0.25)
    total, before = w.sum(), w[cov0].sum()
    best_all = before + _covered_value(M, w, cov0, range(len(M)))
    share = float(before + rng.uniform(0.3, 0.9) * (best_all - before)) / total
    need = share * total
    k_min = next(k for k in range(len(M) + 1)
                 if any(before + _covered_value(M, w, cov0, S) >= need - 1e-9
                        for S in itertools.combinations(range(len(M)), k)))
    prob = problem_from_arrays(M, w, cov0)
    ex = solve(prob, len(M), model="lscp", target_share=share, method="exact")
    gr = solve(prob, len(M), model="lscp", target_share=share, method="greedy")
    assert ex.status == "optimal" and ex.gap == 0.0 and ex.target_met
    assert len(ex.sites) == k_min
    assert ex.after_share >= share - 1e-9
    assert gr.target_met and len(gr.sites) >= k_min and gr.after_share >= share - 1e-9
    # Existing coverage counts: a target already met needs no site.
    none = solve(prob, 5, model="lscp", target_share=before / total)
    assert len(none.sites) == 0 and none.target_met


def test_lscp_unreachable_target_gives_best_coverage_instead():
    M, w, cov0, _ = _instance(3)
    prob = problem_from_arrays(M, w, cov0)
    r = solve(prob, 2, model="lscp", target_share=1.0)
    best = max(_covered_value(M, w, cov0, S) for S in itertools.combinations(range(len(M)), 2))
    assert r.target_met is False and len(r.sites) <= 2
    assert r.added_demand == pytest.approx(best)
    assert any("cannot be reached" in n for n in r.notes)


@pytest.mark.parametrize("seed", SEEDS)
def test_budget_is_honoured_and_exact_is_optimal(seed):
    M, w, cov0, rng = _instance(seed, n=9)
    cost = rng.integers(1, 6, len(M)).astype(float)
    budget = float(rng.integers(4, 10))
    best = max(_covered_value(M, w, cov0, S) for k in range(len(M) + 1)
               for S in itertools.combinations(range(len(M)), k) if cost[list(S)].sum() <= budget)
    prob = problem_from_arrays(M, w, cov0, cost=cost)
    ex = solve(prob, len(M), budget=budget, method="exact")
    gr = solve(prob, len(M), budget=budget, method="greedy")
    assert ex.added_demand == pytest.approx(best) and ex.gap == 0.0
    for r in (ex, gr):
        assert r.total_cost <= budget + 1e-9
        assert r.sites["cost"].sum() == pytest.approx(r.total_cost)
    assert gr.added_demand >= 0.5 * E * best - 1e-9
    # Both a count and a budget.
    best2 = max(_covered_value(M, w, cov0, S) for k in range(3)
                for S in itertools.combinations(range(len(M)), k) if cost[list(S)].sum() <= budget)
    assert solve(prob, 2, budget=budget).added_demand == pytest.approx(best2)


def _served_reference(M, w, cov0, cap, S):
    """Most demand sites S serve within capacities: an LP solved by scipy's linprog."""
    pairs = [(j, i) for j in S for i in np.flatnonzero((M[j] > 0) & ~cov0)]
    if not pairs:
        return 0.0
    P = len(pairs)
    c = -np.array([w[i] for _, i in pairs])
    rows, b = [], []
    for i in sorted({i for _, i in pairs}):
        rows.append([1.0 if pi == i else 0.0 for _, pi in pairs]), b.append(1.0)
    for j in S:
        if np.isfinite(cap[j]):
            rows.append([w[pi] if pj == j else 0.0 for pj, pi in pairs]), b.append(cap[j])
    res = linprog(c, A_ub=np.array(rows), b_ub=np.array(b), bounds=[(0, 1)] * P, method="highs")
    return -res.fun


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_capacities_exact_is_brute_force_optimum(seed):
    M, w, cov0, rng = _instance(seed, n=7, m=30, density=0.3)
    cap = rng.uniform(5, 40, len(M))
    cap[rng.random(len(M)) < 0.2] = np.nan  # no capacity given: unlimited
    capv = np.where(np.isnan(cap), np.inf, cap)
    prob = problem_from_arrays(M, w, cov0, capacity=cap)
    for p in (1, 2, 3):
        best = max(_served_reference(M, w, cov0, capv, list(S)) for S in itertools.combinations(range(len(M)), p))
        ex = solve(prob, p, method="exact")
        gr = solve(prob, p, method="greedy")
        assert ex.status == "optimal" and ex.added_demand == pytest.approx(best, rel=1e-7, abs=1e-7)
        assert ex.sites["added_demand"].sum() == pytest.approx(ex.added_demand)
        chosen = [int(c[1:]) for c in gr.sites["candidate_id"]]
        # The greedy assignment is feasible: never more than the sites could serve.
        assert gr.added_demand <= _served_reference(M, w, cov0, capv, chosen) + 1e-7
        assert gr.added_demand <= np.nansum(capv[chosen]) + 1e-7
        assert gr.after_share >= gr.before_share and "capacit" in gr.guarantee


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_pmedian_exact_is_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    n, m, cap = 8, 40, 10.0
    T = np.where(rng.random((n, m)) < 0.35, rng.uniform(0, cap, (n, m)), np.inf)
    travel0 = np.where(rng.random(m) < 0.5, rng.uniform(0, 15, m), np.inf)
    w = rng.integers(1, 9, m).astype(float)
    r, c = np.nonzero(np.isfinite(T))
    prob = problem_from_arrays(csr_keeping_zeros(r, c, T[r, c], T.shape), w, travel0 <= 3.0, threshold=3.0,
                               travel0=travel0, limit=cap)
    base = np.minimum(travel0, cap)

    def cost(S):
        return float((w * np.minimum(base, T[list(S)].min(axis=0) if S else np.inf)).sum())

    for p in (1, 2, 3):
        best = min(cost(S) for S in itertools.combinations(range(n), p))
        ex = solve(prob, p, model="pmedian", method="exact")
        gr = solve(prob, p, model="pmedian", method="greedy")
        assert ex.status == "optimal"
        assert ex.travel["after_mean"] == pytest.approx(best / w.sum(), abs=1e-6)
        assert ex.travel["before_mean"] == pytest.approx(float((w * base).sum()) / w.sum(), abs=1e-6)
        saving_opt = (w * base).sum() - best
        saving_gr = (w * base).sum() - gr.travel["after_mean"] * w.sum()
        assert saving_gr >= E * saving_opt - 1e-6
        assert ex.after_share >= ex.before_share
        # Ranked by travel saved; the savings add up to the total, as the newly covered demand does.
        assert ex.sites["travel_saved"].sum() == pytest.approx(saving_opt, abs=1e-6)
        assert (np.diff(ex.sites["travel_saved"].to_numpy()) <= 1e-9).all()
        assert ex.sites["added_demand"].sum() == pytest.approx(ex.added_demand)


def test_time_limit_reports_the_gap():
    # Big enough that HiGHS cannot prove optimality in a hundredth of a second.
    rng = np.random.default_rng(1)
    n, m = 400, 6000
    rows = np.repeat(np.arange(n), 60)
    cols = rng.integers(0, m, len(rows))
    A = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, m))
    A.data[:] = 0.5
    prob = problem_from_arrays(A, rng.uniform(1, 10, m))
    r = solve(prob, 25, time_limit=0.01)
    gr = solve(prob, 25, method="greedy")
    assert r.method in ("exact", "greedy")
    if r.method == "exact" and r.status != "optimal":
        assert r.status == "time_limit" and r.gap is not None and r.gap > 0
    # The greedy warm start means the exact answer is never worse.
    assert r.added_demand >= gr.added_demand - 1e-6


def test_greedy_preview_is_fast_on_a_city_sized_matrix():
    rng = np.random.default_rng(0)
    n, m, per = 3000, 60000, 300
    rows = np.repeat(np.arange(n), per)
    centre = rng.integers(0, m, n)
    cols = (np.repeat(centre, per) + rng.integers(-2000, 2000, len(rows))) % m
    A = sparse.coo_matrix((np.full(len(rows), 0.5), (rows, cols)), shape=(n, m)).tocsr()
    A.data[:] = 0.5
    prob = problem_from_arrays(A, rng.uniform(0, 5, m), rng.random(m) < 0.3)
    greedy_preview(prob, 5)  # the open-cell core is built once and cached
    t = time.perf_counter()
    r = greedy_preview(prob, 30)
    assert time.perf_counter() - t < 2.0
    assert len(r.sites) == 30 and r.method == "greedy"


# --------------------------------------------------------------------------
# On a real grid: the matrix against the coverage engine
# --------------------------------------------------------------------------


def _stations(points, kind="rest_station"):
    return pd.DataFrame({"id": [f"S{i}" for i in range(len(points))], "name": [f"驿站{i}" for i in range(len(points))],
                         "kind": kind, "status": "open", "lon": [p[0] for p in points],
                         "lat": [p[1] for p in points]})


EXISTING = [(113.33, 23.13), (113.36, 23.14), (113.30, 23.12)]


@pytest.fixture(scope="module")
def network_problem():
    g = synthetic_graph(6400, "walk", seed=1, center=DEFAULT_CENTER, oneway_fraction=0.3)
    prob = build_problem("440106", "rest_station", mode="walk", meters=1000, res=9, network=g,
                         stations=_stations(EXISTING))
    return g, prob


def test_network_reach_equals_the_engine_with_each_candidate_alone(network_problem):
    g, prob = network_problem
    assert prob.baseline.method == "network" and prob.candidate_summary["generated"] == prob.n_candidates
    assert prob.candidate_summary["snapped"] > 0
    rng = np.random.default_rng(0)
    tv = prob.travel
    for j in rng.choice(prob.n_candidates, 5, replace=False):
        c = prob.candidates.iloc[[j]]
        alone = coverage("440106", "rest_station", mode="walk", meters=1000, res=9, network=g,
                         stations=_stations(list(zip(c["lon"], c["lat"]))))
        row = np.full(len(prob.demand), np.inf)
        sl = slice(tv.indptr[j], tv.indptr[j + 1])
        row[tv.indices[sl]] = tv.data[sl]
        eng = alone.cells["travel"].to_numpy()
        reached = np.isfinite(row)
        np.testing.assert_allclose(row[reached], eng[reached], rtol=1e-12)
        assert (eng[~reached] > prob.limit).all()
        cover = prob.cover()
        mine = np.zeros(len(row), bool)
        mine[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] = True
        assert (mine == alone.cells["covered"].to_numpy()).all()


def test_network_plan_matches_the_engine_after_adding_the_sites(network_problem):
    _, prob = network_problem
    for method in ("greedy", "exact"):
        r = solve(prob, 6, method=method)
        assert r.travel_method == "network" and len(r.sites) == 6
        assert r.after_share > r.before_share == pytest.approx(prob.baseline.covered_share_demand)
        assert r.verified["after_share"] == pytest.approx(r.after_share, abs=1e-9)
        assert r.verified["gaps_total"] == len(r.gaps)
        d = r.districts
        assert d["new_sites"].sum() == 6
        assert (d["after_share"] >= d["before_share"] - 1e-12).all()
        assert (d["demand"] * (d["after_share"] - d["before_share"])).sum() == pytest.approx(r.added_demand)
    assert solve(prob, 6).added_demand >= solve(prob, 6, method="greedy").added_demand - 1e-9
    # Generated candidates sit on the road (snapped) or at a cell centre far from it.
    assert prob.candidates["lon"].between(113.2, 113.5).all()


def test_greedy_preview_reuses_the_problem(network_problem):
    _, prob = network_problem
    t = time.perf_counter()
    previews = [greedy_preview(prob, p) for p in (1, 3, 5, 8)]
    assert time.perf_counter() - t < 2.0
    shares = [r.after_share for r in previews]
    assert shares == sorted(shares) and previews[0].verified is None
    # Greedy picks are nested: the preview for p+k extends the one for p.
    assert list(previews[1].sites["candidate_id"]) == list(previews[3].sites["candidate_id"][:3])


@needs_shared
def test_real_candidates_estimate_and_planned_station_round_trip(tmp_path):
    from geo.registry.store import create_registry

    prob = build_problem("440106", "rest_station", mode="walk", meters=800, res=9, network=False,
                         stations=_stations(EXISTING), candidates=GZ_EV)
    s = prob.candidate_summary
    assert s["rows"] == s["accepted"] + s["rejected"] and s["accepted"] > 3000 and s["used"] == s["accepted"]
    assert prob.baseline.method == "estimate" and prob.travel.nnz > 0
    r = solve(prob, 4, scenario="天河试点")
    assert r.status == "optimal" and r.gap == 0.0 and len(r.sites) == 4
    assert r.verified["after_share"] == pytest.approx(r.after_share, abs=1e-9)
    assert set(r.sites["candidate_id"]) <= set(prob.candidates["id"])

    raw = read_table(r.proposal_geojson.encode("utf-8"), filename="proposal.geojson")
    rep = validate_table(raw, None)
    assert len(rep.rejects) == 0 and len(rep.accepted) == 4
    acc = rep.accepted
    assert set(acc["status"]) == {"planned"} and set(acc["kind"]) == {"rest_station"}
    assert list(acc["name"]) == [f"规划站点 {k} / Proposed site {k}" for k in range(1, 5)]
    assert set(acc["source"]) == {"plan:天河试点"}
    assert np.allclose(acc["lon"], r.sites["lon"]) and np.allclose(acc["lat"], r.sites["lat"])
    extra = json.loads(acc["extra"].iloc[0])
    assert extra["rank"] == 1 and extra["added_demand"] == pytest.approx(r.sites["added_demand"].iloc[0])

    # Imported into a registry as planned stations, the engine counts them when asked to.
    store = create_registry(tmp_path / "r.gpkg")
    for k, (lon, lat) in enumerate(EXISTING):
        store.add({"name": f"驿站{k}", "kind": "rest_station", "lon": lon, "lat": lat, "status": "open"})
    store.commit_import(rep)
    assert len(store.load(statuses=["planned"])) == 4
    after = coverage("440106", "rest_station", mode="walk", meters=800, res=9, network=False,
                     registry=tmp_path / "r.gpkg", statuses=("open", "planned"))
    assert after.covered_share_demand == pytest.approx(r.after_share, abs=1e-9)
    # Re-importing the same plan updates the same stations instead of doubling them.
    store.commit_import(validate_table(read_table(r.proposal_geojson.encode(), filename="p.geojson"), None,
                                       existing=store.load()))
    assert len(store.load(statuses=["planned"])) == 4


def test_candidate_file_with_costs_capacities_and_exclusions(tmp_path, write_csv):
    rng = np.random.default_rng(5)
    pts = np.column_stack([rng.uniform(113.30, 113.40, 60), rng.uniform(23.11, 23.17, 60)])
    path = write_csv("候选点.csv", ["名称", "经度", "纬度", "类型", "成本", "容量"],
                     [[f"加油站{i}", f"{x:.6f}", f"{y:.6f}", "加油站", str(1 + i % 4), "3" if i % 5 else ""]
                      for i, (x, y) in enumerate(pts)] + [["坏行", "abc", "23.1", "加油站", "1", "1"]])
    cands = read_candidates(path, "rest_station")
    assert cands.summary["accepted"] == 60 and cands.summary["rejected"] == 1
    assert cands.summary["cost_column"] == "成本" and cands.summary["capacity_column"] == "容量"
    assert cands.frame["cost"].tolist()[:4] == [1, 2, 3, 4] and np.isnan(cands.frame["capacity"].iloc[0])
    box = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[113.30, 23.11], [113.35, 23.11], [113.35, 23.17], [113.30, 23.17],
                                            [113.30, 23.11]]]}}]}
    excl = tmp_path / "exclude.geojson"
    excl.write_text(json.dumps(box), encoding="utf-8")
    prob = build_problem("440106", "rest_station", mode="walk", meters=1000, res=9, network=False,
                         stations=_stations(EXISTING), candidates=CandidateSource(cands, exclusions=excl))
    inside = (pts[:, 0] <= 113.35)
    assert prob.candidate_summary["excluded"] == int(inside.sum()) and prob.n_candidates == 60 - inside.sum()
    assert (prob.candidates["lon"] > 113.35).all()
    r = solve(prob, 5, budget=6.0)
    assert r.total_cost <= 6.0 and (r.sites["lon"] > 113.35).all()
    served = r.sites["added_demand"].to_numpy()
    caps = r.sites["capacity"].to_numpy()
    assert (served[np.isfinite(caps)] <= caps[np.isfinite(caps)] + 1e-6).all()
    assert "capacit" in " ".join(r.notes + [r.guarantee])


def test_generated_candidates_are_grouped_when_there_are_too_many(network_problem):
    _, prob = network_problem
    few = generate_candidates(prob.baseline, None, max_sites=100)
    assert 0 < len(few.frame) <= 100 and few.summary["generated_res"] < 9


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------


def test_scenarios_save_list_load_compare(network_problem, tmp_path):
    from geo.registry.store import create_registry

    _, prob = network_problem
    registry = create_registry(tmp_path / "r.gpkg")
    a = solve(prob, 3, scenario="方案A", verify=False)
    b = greedy_preview(prob, 6, scenario="方案B")
    sc.save_scenario(a, registry=registry, note="三个站")
    sc.save_scenario(b, registry=registry)
    with pytest.raises(FileExistsError):
        sc.save_scenario(a, registry=registry)
    sc.save_scenario(a, registry=registry, overwrite=True)
    listed = sc.list_scenarios(registry=registry)
    assert set(listed["name"]) == {"方案A", "方案B"}
    assert listed.set_index("name").loc["方案A", "new_sites"] == 3
    back = sc.load_scenario("方案A", registry=registry)
    assert back.to_dict() == a.to_dict()
    table = sc.compare_scenarios(["方案A", "方案B"], registry=registry)
    assert list(table.columns) == ["方案A", "方案B"]
    assert table.loc["new_sites", "方案A"] == 3 and table.loc["new_sites", "方案B"] == 6
    assert table.loc["after_share", "方案B"] >= table.loc["after_share", "方案A"] - 1e-12
    assert any(i.startswith("after_share 440106") for i in table.index)
    # Saving under another name re-sources the planned stations.
    sc.save_scenario(a, "方案C", registry=registry)
    c = sc.load_scenario("方案C", registry=registry)
    feats = json.loads(c.proposal_geojson)["features"]
    assert {f["properties"]["source"] for f in feats} == {"plan:方案C"} and c.scenario == "方案C"
    assert sc.delete_scenario("方案C", registry=registry) and not sc.delete_scenario("方案C", registry=registry)
    with pytest.raises(FileNotFoundError):
        sc.load_scenario("方案C", registry=registry)


# --------------------------------------------------------------------------
# The command line contract
# --------------------------------------------------------------------------


def _plan(args, tmp_path):
    return run_cli("plan", *args, env={"GEO_NETWORK_DIR": str(tmp_path / "no-network"),
                                       "GEO_SCENARIO_DIR": str(tmp_path / "sc")})


@pytest.fixture
def cli_registry(tmp_path):
    from geo.registry.store import create_registry

    store = create_registry(tmp_path / "r.gpkg")
    for k, (lon, lat) in enumerate(EXISTING):
        store.add({"name": f"驿站{k}", "kind": "rest_station", "lon": lon, "lat": lat, "status": "open"})
    return tmp_path / "r.gpkg"


@needs_shared
def test_cli_plan_contract(tmp_path, cli_registry):
    out = tmp_path / "proposal.geojson"
    common = ["--region", "440106", "--kind", "rest_station", "--mode", "walk", "--meters", "1000", "--res", "9",
              "--network", "none", "--registry", str(cli_registry), "--json"]
    p = _plan(common + ["--new", "3", "--candidates", str(GZ_EV), "--out", str(out), "--exact", "--time-limit",
                        "30", "--scenario", "cli-test", "--save"], tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["method"] == "exact" and doc["gap"] == 0 and doc["status"] == "optimal"
    assert 0 <= doc["before_share"] <= doc["after_share"] <= 1
    assert len(doc["sites"]) == 3 and all({"lon", "lat", "added_demand"} <= set(s) for s in doc["sites"])
    assert doc["verified"]["after_share"] == pytest.approx(doc["after_share"], abs=1e-9)
    rep = validate_table(read_table(out), None)
    assert len(rep.rejects) == 0 and set(rep.accepted["status"]) == {"planned"}
    assert sc.load_scenario("cli-test", registry=cli_registry).to_dict()["sites"] == doc["sites"]

    p = _plan(common + ["--new", "3", "--greedy"], tmp_path)  # generated candidates
    assert p.returncode == 0, p.stderr
    g = json.loads(p.stdout)
    assert g["method"] == "greedy" and g["candidates"]["generated"] > 0 and g["after_share"] >= g["before_share"]

    p = _plan(common + ["--new", "20", "--target-share", str(round(doc["after_share"], 4))], tmp_path)
    assert p.returncode == 0, p.stderr
    l = json.loads(p.stdout)
    assert l["model"] == "lscp" and l["target_met"] and len(l["sites"]) <= 20


def test_cli_plan_errors(tmp_path, cli_registry):
    p = _plan(["--region", "999999", "--new", "2", "--network", "none", "--json"], tmp_path)
    assert p.returncode == 2 and "region" in p.stderr
    p = _plan(["--region", "440106", "--new", "2", "--minutes", "5", "--meters", "10"], tmp_path)
    assert p.returncode == 2
    p = _plan(["--region", "440106", "--new", "2", "--network", "none", "--registry", str(tmp_path / "none.gpkg"),
               "--json"], tmp_path)
    assert p.returncode == 2 and not (tmp_path / "none.gpkg").exists()
    base = ["--region", "440106", "--network", "none", "--registry", str(cli_registry), "--json"]
    p = _plan(base + ["--new", "2", "--candidates", str(tmp_path / "missing.csv")], tmp_path)
    assert p.returncode == 2 and "missing.csv" in p.stderr
    p = _plan(base + ["--new", "2", "--model", "mclp", "--target-share", "0.9"], tmp_path)
    assert p.returncode == 2
    p = _plan(base + ["--new", "-1"], tmp_path)
    assert p.returncode == 2
