"""Trust: the load harness (bench/load.py) still drives the worker page's lookups and still checks them.

The full run (50 riders for 2 minutes, 1 and 2 server processes; figures in
bench/RESULTS.md, "Load") is not part of the suite; this runs it for a few
seconds with a few riders against a real ``python -m geo serve`` so the
harness cannot rot unnoticed: no errors, and answers really routed on the
road network.
"""
from __future__ import annotations

import pytest
from conftest import SHENZHEN_PBF, load_bench

PBF = SHENZHEN_PBF

pytestmark = pytest.mark.skipif(not PBF.exists(), reason=f"needs the Shenzhen extract {PBF}")


load = load_bench("load")


@pytest.fixture(scope="module")
def world(tmp_path_factory, shenzhen_network):
    base = tmp_path_factory.mktemp("load")
    return base, shenzhen_network, load.sample_registry(base / "registry.gpkg")


def test_riders_run_clean_and_routed(world):
    base, network, registry = world
    proc, url = load.serve_api(registry, network, base / "server.log", workers=1,
                               env={"GEO_API_RATE_PER_MINUTE": "0"})
    try:
        assert len(load.warm_up(url)) == 4
        r = load.run_riders(url, load.Origins(network, seed=3), users=4, seconds=3, think=0.05, clients=1)
    finally:
        load.stop_app(proc)
    assert r["errors"] == 0, r["error_kinds"]
    assert r["lookups"] >= 4 and r["page_gets"] == 8  # each rider opened the page and its station list
    # Really answered: most lookups found stations, routed on the roads.
    assert r["routed"] >= 0.5 * r["lookups"] and r["lookups"] - r["empty"] >= r["routed"]
    assert r["latency"]["p95_ms"] >= r["latency"]["p50_ms"] > 0
    assert "Traceback" not in (base / "server.log").read_text(errors="replace")


def test_mixed_load_files_reports_as_distinct_clients(world):
    # issue 15's mixed load (--report-every): a report after every lookup here, so a few seconds file some.
    base, network, registry = world
    proc, url = load.serve_api(registry, network, base / "mixed.log", workers=1,
                               env={"GEO_API_RATE_PER_MINUTE": "0", "GEO_TRUSTED_PROXY_HEADER": "X-Forwarded-For",
                                    "GEO_TRUSTED_PROXY_HOPS": "1", "GEO_REPORT_SECRET": str(base / "secret.key")})
    try:
        r = load.run_riders(url, load.Origins(network, seed=5), users=3, seconds=4, think=0.05, clients=1,
                            report_every=1)
    finally:
        load.stop_app(proc)
    rep = r["reports"]
    assert r["errors"] == 0 and rep["errors"] == 0, (r["error_kinds"], rep)
    assert rep["filed"] >= 3 and rep["latency"]["n"] == rep["filed"] and rep["latency"]["p95_ms"] > 0
    assert "Traceback" not in (base / "mixed.log").read_text(errors="replace")
    from geo.registry.store import open_store

    stored = open_store(registry).reports()
    assert len(stored) >= rep["filed"] and set(stored["text"]) == {"bench"}


def test_the_rate_limit_would_count_every_rider_as_one_client(world):
    # Why the bench turns the limit off: from 127.0.0.1, 50 riders are one client to it.
    base, network, registry = world
    proc, url = load.serve_api(registry, network, base / "limited.log", workers=1,
                               env={"GEO_API_RATE_PER_MINUTE": "6", "GEO_API_RATE_BURST": "2"})
    try:
        # One token per 10 s: three riders pass the burst of 2 even where a lookup takes seconds (a loaded CI).
        r = load.run_riders(url, load.Origins(network, seed=4), users=3, seconds=8, think=0, clients=1)
    finally:
        load.stop_app(proc)
    assert r["error_kinds"].get("HTTP 429", 0) >= 1


def test_a_failed_answer_is_an_error_not_a_success():
    ok = {"status": 200, "results": [{"id": "x"}], "body": b"{}"}
    assert load.lookup_problem(ok) is None
    assert load.lookup_problem({**ok, "results": []}) is None  # "no station open now" is an answer
    assert load.lookup_problem({**ok, "status": 500}).startswith("HTTP 500")
    assert load.lookup_problem({**ok, "status": 429}).startswith("HTTP 429")
    assert load.lookup_problem({**ok, "results": None}) == "no results list in the answer"
