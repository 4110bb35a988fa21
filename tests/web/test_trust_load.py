"""Trust: the load harness (bench/load.py) still drives the finder and still checks its answers.

The full run (50 users for 2 minutes, figures in bench/RESULTS.md, "Load")
is not part of the suite; this runs both parts for a few seconds with a
few users so the harness cannot rot unnoticed: no errors, and results that
were really routed on the road network, through the geo functions and
through the running app's websocket.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHENZHEN_PBF, load_bench

PBF = SHENZHEN_PBF

pytestmark = pytest.mark.skipif(not PBF.exists(), reason=f"needs the Shenzhen extract {PBF}")


load = load_bench("load")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("load")
    return base, load.build_network(base / "net"), load.sample_registry(base / "registry.gpkg")


def test_geo_part_runs_clean_and_routes(world):
    _, network, registry = world
    r = load.run_geo(network, registry, users=4, seconds=3, think=0.05)
    assert r["errors"] == 0, r["error_kinds"]
    assert r["ok"] >= 4 and r["requests"] == r["ok"]
    # Really answered: most lookups found stations, routed on the roads.
    assert r["routed"] >= 0.5 * r["ok"] and r["ok"] - r["empty"] >= r["routed"]
    assert r["latency"]["p95_ms"] >= r["routing_only"]["p50_ms"] > 0


def test_app_part_runs_clean_and_routes(world):
    base, network, registry = world
    r = load.run_app(network, registry, base, users=3, seconds=4, think=0.2)
    assert r["errors"] == 0, (r["error_kinds"], r["error_examples"])
    assert r["server_log_errors"] == 0, r["server_log_examples"]
    assert r["ok"] >= 3 and r["routed"] >= 1 and r["mean_results"] > 0
    assert r["lookup"]["n"] == r["ok"] and r["page_shell_get"]["n"] >= 1 and r["health_get"]["n"] >= 1


def test_a_page_that_fails_is_an_error_not_a_success():
    ok = {"names": ["站"], "exceptions": [], "errors": [], "status": 0, "none_found": False}
    assert load.lookup_problem(ok) is None
    assert load.lookup_problem({**ok, "names": [], "none_found": True}) is None  # "no station open now" is an answer
    # Streamlit reports FINISHED_SUCCESSFULLY even when the page raised: the deltas decide.
    assert load.lookup_problem({**ok, "exceptions": ["ImportError: x"]}).startswith("exception")
    assert load.lookup_problem({**ok, "errors": ["路网无法读取"]}).startswith("error box")
    assert load.lookup_problem({**ok, "names": []}) == "no results and no answer"
    assert load.lookup_problem({**ok, "status": 1}).startswith("script_finished")
