"""Saved scenarios in the registry (both backends): the limit, names, editors, many servers, copies, backups, the old folder.

The siting page's login for saving, replacing and deleting is tested in
the browser (``tests/web/test_trust_browser.py``).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from geo import settings
from geo.analysis import scenarios as sc
from geo.analysis.siting.problem import build_problem
from geo.analysis.siting.solve import greedy_preview
from geo.core.text import md_error
from geo.registry.backup import backup_registry, restore_registry
from geo.registry.copy import copy_registry, read_registry
from geo.registry.store import create_registry, open_store
from geo.registry.store.pg import PostgisStore
from conftest import ROOT


@pytest.fixture(scope="module")
def result():
    stations = pd.DataFrame({"id": ["S0"], "name": ["驿站"], "kind": "rest_station", "status": "open",
                             "lon": [113.33], "lat": [23.13]})
    problem = build_problem("440106", "rest_station", mode="walk", meters=1000, res=8, network=False,
                            stations=stations)
    return greedy_preview(problem, 2, scenario="方案")


@pytest.fixture(scope="module")
def other(result):
    stations = pd.DataFrame({"id": ["S0"], "name": ["驿站"], "kind": "rest_station", "status": "open",
                             "lon": [113.33], "lat": [23.13]})
    problem = build_problem("440106", "rest_station", mode="walk", meters=1000, res=8, network=False,
                            stations=stations)
    return greedy_preview(problem, 3, scenario="方案")


def _stored(store, name: str) -> dict:
    """The result part of a saved scenario, as stored."""
    return json.loads(store.scenario(name)["content"])["result"]


def _as_saved(result, name: str) -> dict:
    """What saving ``result`` as ``name`` stores as its result."""
    return json.loads(json.dumps(sc.rename(result, name).to_dict(max_gaps=None), ensure_ascii=False))


def test_save_list_load_replace_delete_with_editors(result, other, registry):
    saved = sc.save_scenario(result, "方案 甲", registry=registry, note="两个站", editor="张伟")
    assert saved["name"] == "方案 甲" and saved["editor"] == "张伟" and not saved["replaced"]
    with pytest.raises(FileExistsError):
        sc.save_scenario(other, "方案 甲", registry=registry, editor="李娜")
    assert sc.save_scenario(other, "方案 甲", registry=registry, overwrite=True, editor="李娜")["replaced"]
    sc.save_scenario(result, "方案 乙", registry=registry, editor="张伟")
    listed = sc.list_scenarios(registry=registry).set_index("name")
    assert set(listed.index) == {"方案 甲", "方案 乙"}
    assert listed.loc["方案 甲", "new_sites"] == 3 and listed.loc["方案 甲", "editor"] == "李娜"
    assert listed.loc["方案 甲", "note"] == ""  # the replacement's own note, not the first one's
    back = sc.load_scenario("方案 甲", registry=registry)
    assert _stored(registry, "方案 甲") == _as_saved(other, "方案 甲")
    assert back.scenario == "方案 甲" and len(back.sites) == len(other.sites)
    assert {f["properties"]["source"] for f in json.loads(back.proposal_geojson)["features"]} == {"plan:方案 甲"}
    table = sc.compare_scenarios(["方案 甲", "方案 乙"], registry=registry)
    assert list(table.columns) == ["方案 甲", "方案 乙"] and table.loc["new_sites", "方案 乙"] == 2
    assert sc.delete_scenario("方案 乙", registry=registry, editor="王芳")
    assert not sc.delete_scenario("方案 乙", registry=registry, editor="王芳")
    with pytest.raises(FileNotFoundError):
        sc.load_scenario("方案 乙", registry=registry)
    log = registry.scenario_log(limit=None)
    assert list(zip(log["action"], log["name"], log["editor"]))[::-1] == [
        ("save", "方案 甲", "张伟"), ("replace", "方案 甲", "李娜"), ("save", "方案 乙", "张伟"),
        ("delete", "方案 乙", "王芳")]
    # A scenario is not a station: the station audit log and the change stamp stay as they were.
    assert registry.audit_log(limit=None).empty
    # No editor, no save.
    with pytest.raises(ValueError, match="编辑人"):
        sc.save_scenario(result, "方案 丙", registry=registry, editor=" ")
    assert sc.count_scenarios(registry=registry) == 1


@pytest.mark.parametrize("bad", ["", "   \n\t ", "长" * 201])
def test_names_refused_before_are_refused_in_both_languages(result, registry, bad):
    for call in (lambda: sc.save_scenario(result, bad or " ", registry=registry),
                 lambda: sc.load_scenario(bad, registry=registry),
                 lambda: sc.delete_scenario(bad, registry=registry)):
        with pytest.raises(ValueError) as err:
            call()
        assert "方案名称" in str(err.value) and "scenario" in str(err.value)
    assert sc.count_scenarios(registry=registry) == 0
    # White space is folded as before, and 200 characters are allowed.
    assert sc.save_scenario(result, "  方案 \t 甲 ", registry=registry)["name"] == "方案 甲"
    assert sc.save_scenario(result, "长" * 200, registry=registry)["name"] == "长" * 200


def test_saving_past_the_limit_is_refused_in_both_languages(result, registry, monkeypatch):
    monkeypatch.setattr(settings, "SCENARIO_MAX_FILES", 3)
    for k in range(3):
        sc.save_scenario(result, f"方案{k}", registry=registry)
    with pytest.raises(sc.ScenarioLimitError) as err:
        sc.save_scenario(result, "方案3", registry=registry)
    assert "3" in err.value.zh and "方案" in err.value.zh and "3 scenarios" in err.value.en
    assert sorted(sc.list_scenarios(registry=registry)["name"]) == ["方案0", "方案1", "方案2"]
    # Replacing one is not a new one, and after a deletion there is room again.
    sc.save_scenario(result, "方案1", registry=registry, overwrite=True)
    assert sc.delete_scenario("方案0", registry=registry)
    sc.save_scenario(result, "方案3", registry=registry)
    assert sorted(sc.list_scenarios(registry=registry)["name"]) == ["方案1", "方案2", "方案3"]


@pytest.mark.parametrize("call", [
    lambda store: sc.load_scenario("没有这个方案", registry=store),
    lambda store: sc.compare_scenarios(["没有这个方案", "也没有"], registry=store),
])
def test_messages_shown_on_the_page_name_no_server_path(tmp_path, call):
    folder = tmp_path / "secret-folder"
    store = create_registry(folder / "registry.gpkg")
    with pytest.raises(FileNotFoundError) as err:
        call(store)
    for lang in ("zh", "en"):
        shown = md_error(err.value, lang)
        assert "没有这个方案" in shown or "没有这个方案" in str(err.value)
        assert "secret-folder" not in shown and str(tmp_path) not in shown, shown


_SAVE_IN_ANOTHER_PROCESS = """
import sys
from geo.analysis import scenarios as sc
from geo.analysis.siting.result import SitingResult
import json
result = SitingResult.from_dict(json.loads(sys.stdin.read()))
print(sc.save_scenario(result, "另一台服务器的方案", registry=sys.argv[1], editor="服务器二")["name"])
"""


def test_a_scenario_saved_by_one_server_is_seen_by_the_others(result, pg_url):
    first, second = PostgisStore(pg_url), PostgisStore(pg_url)
    sc.save_scenario(result, "服务器一的方案", registry=first, editor="服务器一")
    assert list(sc.list_scenarios(registry=second)["name"]) == ["服务器一的方案"]
    stamp = second.change_stamp()
    # Another process (its own connection pool), as another app server is.
    p = subprocess.run([sys.executable, "-c", _SAVE_IN_ANOTHER_PROCESS, pg_url], cwd=ROOT, capture_output=True,
                       text=True, input=json.dumps(result.to_dict(max_gaps=None)), timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    listed = sc.list_scenarios(registry=first).set_index("name")
    assert set(listed.index) == {"服务器一的方案", "另一台服务器的方案"}
    assert listed.loc["另一台服务器的方案", "editor"] == "服务器二"
    # (Handed to that process as a dict, so compared where a round trip keeps values exactly.)
    stored = _stored(second, "另一台服务器的方案")
    assert stored["scenario"] == "另一台服务器的方案" and stored["sites"] == _as_saved(result, "x")["sites"]
    assert sc.delete_scenario("服务器一的方案", registry=second, editor="服务器一")
    assert list(sc.list_scenarios(registry=first)["name"]) == ["另一台服务器的方案"]
    # Scenarios leave the stations' change counter alone: no server reloads its stations for one.
    assert first.change_stamp() == stamp


def test_copy_gpkg_postgis_gpkg_keeps_scenarios_byte_equal(result, other, tmp_path, pg_url):
    source = tmp_path / "source.gpkg"
    store = create_registry(source)
    store.add({"name": "天河驿站", "kind": "rest_station", "lon": 113.33, "lat": 23.13, "status": "open"})
    sc.save_scenario(result, "方案 甲", registry=store, note="备注 \"引号\" 与换行\n第二行", editor="张伟")
    sc.save_scenario(other, "方案 乙", registry=store, editor="李娜")
    sc.delete_scenario("方案 乙", registry=store, editor="李娜")
    sc.save_scenario(other, "Plan B", registry=store, editor="李娜")
    before = read_registry(source)
    assert before.counts()["scenarios"] == 2 and before.counts()["scenario_log"] == 4

    there = copy_registry(source, pg_url)
    back = tmp_path / "back.gpkg"
    again = copy_registry(pg_url, back)
    assert there["sha256"] == again["sha256"] == before.checksum()
    assert there["counts"]["scenarios"] == again["counts"]["scenarios"] == 2
    for copied in (read_registry(pg_url), read_registry(back)):
        assert copied.scenarios == before.scenarios  # every column, the content text byte for byte
        assert copied.scenario_log == before.scenario_log
    assert open_store(back).scenario("方案 甲")["content"].encode("utf-8") == \
        store.scenario("方案 甲")["content"].encode("utf-8")
    assert sc.load_scenario("Plan B", registry=pg_url).to_dict() == sc.load_scenario("Plan B", registry=back).to_dict()
    # The checksum covers the scenarios: a changed note is a different registry.
    sc.save_scenario(result, "方案 甲", registry=str(back), overwrite=True, note="改过", editor="张伟")
    assert read_registry(back).checksum() != before.checksum()


def test_a_registry_holding_only_scenarios_is_not_overwritten_by_a_copy(result, tmp_path, pg_url):
    from geo.registry.copy import CopyError

    create_registry(tmp_path / "empty.gpkg")
    sc.save_scenario(result, "先存的方案", registry=pg_url)
    with pytest.raises(CopyError) as err:
        copy_registry(tmp_path / "empty.gpkg", pg_url)
    assert err.value.code == "target_exists"
    assert list(sc.list_scenarios(registry=pg_url)["name"]) == ["先存的方案"]


def test_backup_and_restore_carry_scenarios(result, other, registry, registry_location, tmp_path):
    sc.save_scenario(result, "方案 甲", registry=registry, editor="张伟")
    out = tmp_path / "backup" / "registry-backup.gpkg"
    backup_registry(registry_location, out)
    sc.delete_scenario("方案 甲", registry=registry, editor="张伟")
    sc.save_scenario(other, "方案 乙", registry=registry, editor="张伟")
    restore_registry(out, registry_location)
    store = open_store(registry_location)
    assert list(sc.list_scenarios(registry=store)["name"]) == ["方案 甲"]
    assert _stored(store, "方案 甲") == _as_saved(result, "方案 甲")
    assert list(store.scenario_log(limit=None)["action"]) == ["save"]


def _old_file(folder, result, name: str, *, note: str = "", saved_at: str = "2026-05-01T08:00:00+00:00") -> str:
    """A scenario file exactly as earlier versions wrote it; returns its text."""
    doc = {"format": sc.FORMAT, "version": 1, "name": name, "saved_at": saved_at, "note": note,
           "result": sc.rename(result, name).to_dict(max_gaps=None)}
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}-{hashlib.sha1(name.encode()).hexdigest()[:8]}.json").write_text(text, encoding="utf-8")
    return text


def test_an_old_scenario_folder_is_imported_once_without_loss(result, other, registry, registry_location, tmp_path,
                                                              monkeypatch):
    folder = tmp_path / "old-scenarios"
    kept = _old_file(folder, result, "旧方案 甲", note="去年的")
    _old_file(folder, other, "旧方案 乙")
    _old_file(folder, other, "同名方案")
    (folder / "not-a-scenario.json").write_text("{}", encoding="utf-8")
    # Already in the registry under one of the names, with a different result: it must not be overwritten.
    sc.save_scenario(result, "同名方案", registry=registry, editor="张伟")
    files = sorted(p.name for p in folder.iterdir())
    monkeypatch.setenv("GEO_REGISTRY", registry_location)
    monkeypatch.setenv("GEO_SCENARIO_DIR", str(folder))
    monkeypatch.setattr(sc, "_checked", set())

    listed = sc.list_scenarios()  # the configured registry, first use: the folder comes in
    names = set(listed["name"])
    renamed = [n for n in names if n.startswith("同名方案（导入 ")]
    assert len(renamed) == 1 and names == {"旧方案 甲", "旧方案 乙", "同名方案", renamed[0]}
    assert registry.scenario("旧方案 甲")["content"] == kept  # the file's text, byte for byte
    assert registry.scenario("旧方案 甲")["saved_at"] == "2026-05-01T08:00:00+00:00"
    assert _stored(registry, "同名方案") == _as_saved(result, "同名方案")
    imported = sc.load_scenario(renamed[0], registry=registry)
    assert len(imported.sites) == len(other.sites) and imported.scenario == renamed[0]
    # Nothing removed from the folder; a note says where the scenarios went.
    assert sorted(p.name for p in folder.iterdir()) == sorted(files + [sc.IMPORTED_NOTE])
    note = (folder / sc.IMPORTED_NOTE).read_text(encoding="utf-8")
    assert "3" in note and "已导入" in note and "were imported" in note

    # Once: a scenario deleted afterwards is not brought back by the next server start.
    sc.delete_scenario("旧方案 乙", registry=registry, editor="张伟")
    monkeypatch.setattr(sc, "_checked", set())
    assert "旧方案 乙" not in set(sc.list_scenarios()["name"])
    # Run by hand again, nothing is duplicated.
    again = sc.import_scenario_folder(folder, registry=registry)
    assert again["imported"] == ["旧方案 乙"] and again["present"] == 2 and again["skipped"] == ["not-a-scenario.json"]
    assert sc.count_scenarios(registry=registry) == 4


def test_plan_command_saves_into_the_registry_and_refuses_past_the_limit(tmp_path):
    registry = create_registry(tmp_path / "r.gpkg")
    registry.add({"name": "驿站", "kind": "rest_station", "lon": 113.33, "lat": 23.13, "status": "open"})
    env = {**os.environ, "GEO_NETWORK_DIR": str(tmp_path / "no-network"), "GEO_SCENARIO_DIR": str(tmp_path / "sc")}
    args = [sys.executable, "-m", "geo", "plan", "--region", "440106", "--kind", "rest_station", "--mode", "walk",
            "--meters", "1000", "--res", "8", "--network", "none", "--registry", str(tmp_path / "r.gpkg"),
            "--new", "1", "--greedy", "--save", "--scenario", "命令行方案"]
    p = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env={**env, "GEO_SCENARIO_MAX_FILES": "0"},
                       timeout=120, check=False)
    assert p.returncode == 2, p.stderr
    assert "方案已达上限" in p.stderr and "the most scenarios allowed (0 scenarios)" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "sc").exists()
    assert sc.count_scenarios(registry=registry) == 0
    p = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    assert list(sc.list_scenarios(registry=registry)["editor"]) == [settings.EDITOR_CLI]


def test_an_older_geopackage_gains_the_scenario_tables(result, tmp_path):
    import sqlite3

    path = tmp_path / "old.gpkg"
    create_registry(path).add({"name": "天河驿站", "kind": "rest_station", "lon": 113.33, "lat": 23.13})
    with sqlite3.connect(path) as conn:  # as a registry made before scenarios were kept in it
        conn.execute("DROP TABLE scenarios")
        conn.execute("DROP TABLE scenario_log")
        conn.execute("DELETE FROM gpkg_contents WHERE table_name IN ('scenarios', 'scenario_log')")
    assert read_registry(path).scenarios == []  # read as none, not an error
    store = open_store(path)
    assert len(store.load()) == 1 and sc.count_scenarios(registry=store) == 0
    sc.save_scenario(result, "升级后的方案", registry=store)
    assert list(sc.list_scenarios(registry=path)["name"]) == ["升级后的方案"]


def test_an_older_database_gains_the_scenario_tables_by_migration_4(result, pg_url):
    import psycopg

    from geo.registry.store.pg_schema import MIGRATIONS

    PostgisStore(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE scenarios, scenario_log")
        conn.execute("DELETE FROM schema_migrations WHERE version = 4")
    store = PostgisStore(pg_url)
    with psycopg.connect(pg_url) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == \
            [m[0] for m in MIGRATIONS]
    assert (4, "saved siting scenarios and their log") == MIGRATIONS[3][:2]
    sc.save_scenario(result, "升级后的方案", registry=store)
    assert sc.count_scenarios(registry=pg_url) == 1
