"""Saved scenarios: the file limit, and messages the public may see.

The siting page's login for saving, replacing and deleting is tested in
the browser (``tests/test_trust_browser.py``).
"""
from __future__ import annotations

import pandas as pd
import pytest

from geo.analysis import scenarios as sc
from geo import settings
from geo.analysis.siting.problem import build_problem
from geo.analysis.siting.solve import greedy_preview
from geo.core.text import md_error
from conftest import ROOT


@pytest.fixture(scope="module")
def result():
    stations = pd.DataFrame({"id": ["S0"], "name": ["驿站"], "kind": "rest_station", "status": "open",
                             "lon": [113.33], "lat": [23.13]})
    problem = build_problem("440106", "rest_station", mode="walk", meters=1000, res=8, network=False,
                            stations=stations)
    return greedy_preview(problem, 2, scenario="方案")


def test_saving_past_the_file_limit_is_refused_in_both_languages(result, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "SCENARIO_MAX_FILES", 3)
    for k in range(3):
        sc.save_scenario(result, f"方案{k}", tmp_path)
    with pytest.raises(sc.ScenarioLimitError) as err:
        sc.save_scenario(result, "方案3", tmp_path)
    assert "3" in err.value.zh and "方案" in err.value.zh and "3 scenarios" in err.value.en
    assert not (tmp_path / sc.scenario_path("方案3", tmp_path).name).exists()
    assert len(sc.list_scenarios(tmp_path)) == 3
    # Replacing one is not a new file, and after a deletion there is room again.
    sc.save_scenario(result, "方案1", tmp_path, overwrite=True)
    assert sc.delete_scenario("方案0", tmp_path)
    sc.save_scenario(result, "方案3", tmp_path)
    assert sorted(sc.list_scenarios(tmp_path)["name"]) == ["方案1", "方案2", "方案3"]


def test_every_json_file_in_the_folder_counts(result, tmp_path, monkeypatch):
    # Files that are not scenarios fill the disk as well.
    monkeypatch.setattr(settings, "SCENARIO_MAX_FILES", 2)
    (tmp_path / "other.json").write_text("{}", encoding="utf-8")
    sc.save_scenario(result, "方案0", tmp_path)
    with pytest.raises(sc.ScenarioLimitError):
        sc.save_scenario(result, "方案1", tmp_path)


@pytest.mark.parametrize("call", [
    lambda folder: sc.load_scenario("没有这个方案", folder),
    lambda folder: sc.compare_scenarios(["没有这个方案", "也没有"], folder),
])
def test_messages_shown_on_the_page_name_no_folder(tmp_path, call):
    folder = tmp_path / "secret-folder" / "scenarios"
    folder.mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as err:
        call(folder)
    for lang in ("zh", "en"):
        shown = md_error(err.value, lang)
        assert "secret-folder" not in shown and str(tmp_path) not in shown, shown


def test_plan_command_refuses_to_save_past_the_limit(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from geo.registry.store import create_registry

    registry = create_registry(tmp_path / "r.gpkg")
    registry.add({"name": "驿站", "kind": "rest_station", "lon": 113.33, "lat": 23.13, "status": "open"})
    env = {**os.environ, "GEO_NETWORK_DIR": str(tmp_path / "no-network"), "GEO_SCENARIO_DIR": str(tmp_path / "sc"),
           "GEO_SCENARIO_MAX_FILES": "0"}
    p = subprocess.run([sys.executable, "-m", "geo", "plan", "--region", "440106", "--kind", "rest_station",
                        "--mode", "walk", "--meters", "1000", "--res", "8", "--network", "none", "--registry",
                        str(tmp_path / "r.gpkg"), "--new", "1", "--greedy", "--save"],
                       capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=120, check=False)
    assert p.returncode == 2, p.stderr
    assert "方案已达上限" in p.stderr and "The scenario folder is full (0 scenarios)" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "sc").exists()
