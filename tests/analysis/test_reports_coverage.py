"""Coverage with workers' reports: the not-serving option (off by default, stated in the standard) and the
open reports per district, on a real registry under ``tmp_path`` (estimates: no road network needed)."""
from __future__ import annotations

import json
import subprocess

import pytest

from geo.analysis.coverage import coverage
from geo.registry.reports import NotServingRule, ReportLimits
from geo.registry.store import create_registry

from conftest import HAIZHU, TIANHE, YUEXIU, run_cli

LIMITS = ReportLimits(per_station=3, per_client=10, window_s=3600)


@pytest.fixture
def registry(tmp_path):
    store = create_registry(tmp_path / "r.gpkg")
    ids = [store.add({"kind": "rest_station", "name": n, "lon": p[0], "lat": p[1]})["id"]
           for n, p in (("天河驿站", TIANHE), ("越秀驿站", YUEXIU), ("海珠驿站", HAIZHU))]
    for client in ("k1", "k2", "k3"):
        store.add_report(ids[0], "closed", "", client=client, limits=LIMITS)
    store.add_report(ids[1], "not_found", "", client="k1", limits=LIMITS)
    return store, ids


def test_not_serving_is_off_by_default_and_stated_when_on(registry):
    store, ids = registry
    kw = dict(kinds="rest_station", mode="ebike", minutes=10, network=False, registry=store.path)
    plain = coverage("440106", **kw)
    assert set(plain.stations["id"]) == set(ids) and plain.standard.not_serving is None
    assert plain.to_dict()["standard"]["not_serving"] is None
    ruled = coverage("440106", **kw, not_serving=NotServingRule(clients=3, days=7))
    assert set(ruled.stations["id"]) == set(ids) - {ids[0]}
    std = ruled.to_dict()["standard"]
    assert std["not_serving"]["clients"] == 3 and "not serving" in std["label"] and "不提供服务" in std["label"]
    assert ruled.covered_share_area < plain.covered_share_area  # 天河's own station no longer serves it
    assert coverage("440106", **kw, not_serving=NotServingRule(clients=4, days=7)).stations["id"].size == 3


def test_open_reports_are_counted_per_district(registry):
    store, ids = registry
    result = coverage("440100", kinds="rest_station", mode="ebike", minutes=10, network=False, res=7,
                      registry=store.path)
    table = result.districts.set_index("adcode")
    assert table.at["440106", "open_reports"] == 3 and table.at["440104", "open_reports"] == 1
    assert table["open_reports"].sum() == 4
    assert json.dumps(result.to_dict()["districts"])  # the column goes out with the table


def test_the_coverage_page_table_shows_open_reports_only_when_there_are_some(registry, tmp_path):
    from geo.web.views.coverage.tables import district_table

    store, ids = registry
    kw = dict(kinds="rest_station", mode="ebike", minutes=10, network=False, res=7)
    table, specs = district_table(coverage("440100", **kw, registry=store.path), "en")
    assert specs["open_reports"]["label"] == "Open worker reports" and table["open_reports"].sum() == 4
    empty = create_registry(tmp_path / "empty.gpkg")
    empty.add({"kind": "rest_station", "name": "天河驿站", "lon": TIANHE[0], "lat": TIANHE[1]})
    table, specs = district_table(coverage("440100", **kw, registry=empty.path), "en")
    assert "open_reports" not in specs and "open_reports" not in table


def _cli(*args) -> subprocess.CompletedProcess:
    return run_cli("coverage", *args)


def test_the_coverage_command_leaves_out_stations_reported_by_enough_clients(registry):
    store, ids = registry
    base = ("--region", "440106", "--kind", "rest_station", "--mode", "ebike", "--minutes", 10,
            "--method", "estimate", "--registry", store.path, "--json")
    plain = json.loads(_cli(*base).stdout)
    assert plain["standard"]["not_serving"] is None and plain["stations"] == 3
    # 天河驿站 has "closed" from 3 distinct clients, 越秀驿站 "not found" from 1.
    done = _cli(*base, "--not-serving")
    ruled = json.loads(done.stdout)
    assert ruled["stations"] == 2, done.stdout
    rule = ruled["standard"]["not_serving"]
    assert rule["clients"] == 3 and rule["days"] == 7
    assert "不提供服务" in ruled["standard"]["label"] and "not serving" in ruled["standard"]["label"]
    assert ruled["covered_share_area"] < plain["covered_share_area"]
    # N = 1: 越秀驿站's single report is enough too; N = 4: nobody is left out.
    assert json.loads(_cli(*base, "--not-serving", "--not-serving-clients", 1).stdout)["stations"] == 1
    loose = json.loads(_cli(*base, "--not-serving", "--not-serving-clients", 4, "--not-serving-days", 2).stdout)
    assert loose["stations"] == 3 and loose["standard"]["not_serving"]["days"] == 2
    # The rule's numbers without the switch, or a rule that cannot be: a bilingual refusal, no traceback.
    for extra in (("--not-serving-clients", 2), ("--not-serving", "--not-serving-clients", 0)):
        bad = _cli(*base, *extra)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr and "/" in bad.stderr, bad.stderr
