"""Files that hold registry data, private exports, backups, accounts or scenarios are 0600, their new folders 0700.

Whatever the umask: each test runs under the common ``0o022`` (which
leaves new files readable by everyone) and under ``0o000`` (which leaves
them writable by everyone too). Streamlit's server and the command line
run with whatever umask their shell had, so the code must not rely on it.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from geo import settings

FILE_MODE, DIR_MODE = settings.PRIVATE_FILE_MODE, settings.PRIVATE_DIR_MODE


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.fixture
def born(monkeypatch, tmp_path):
    """The mode of every SQLite file as ``sqlite3.connect`` creates it: not even briefly wider than 0600.

    Checked at once after the real ``connect`` (a spy, not a stand-in): a
    file made world-readable and narrowed later could be opened by someone
    else in between, and an open descriptor outlives the ``chmod``.
    """
    import sqlite3

    seen: dict[str, int] = {}
    real = sqlite3.connect

    def connect(database, *args, **kwargs):
        path = Path(database) if isinstance(database, (str, Path)) and not kwargs.get("uri") else None
        new = path is not None and not path.exists()
        conn = real(database, *args, **kwargs)
        if new and path.exists() and tmp_path in path.resolve().parents:
            seen[path.name] = stat.S_IMODE(path.stat().st_mode)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    return seen


def _assert_born_private(born: dict[str, int]) -> None:
    wrong = {name: oct(mode) for name, mode in born.items() if mode != FILE_MODE}
    assert not wrong, f"SQLite files created wider than {oct(FILE_MODE)}: {wrong}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_private(folder: Path, made: Path | None = None) -> list[Path]:
    """Every file under ``folder`` is 0600 and every folder from ``made`` down is 0700; returns the files."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert files, f"nothing written under {folder}"
    wrong = {str(p): oct(_mode(p)) for p in files if _mode(p) != FILE_MODE}
    assert not wrong, f"files not {oct(FILE_MODE)}: {wrong}"
    if made is not None:
        dirs = [made, *(p for p in made.rglob("*") if p.is_dir())]
        wrong = {str(p): oct(_mode(p)) for p in dirs if _mode(p) != DIR_MODE}
        assert not wrong, f"folders not {oct(DIR_MODE)}: {wrong}"
    return files


def _station(k: int = 0) -> dict:
    return {"kind": "rest_station", "name": f"测试驿站{k}", "lon": 113.3245 + k / 1000, "lat": 23.1375,
            "phone": "13800000000", "public": k % 2 == 0}


def test_registry_and_its_folder_are_private(tmp_path, umask, born):
    from geo.registry.store import open_store

    made = tmp_path / "new" / "registry"
    store = open_store(made / "registry.gpkg")
    store.add(_station())
    assert [p.name for p in _assert_private(tmp_path / "new", tmp_path / "new")] == ["registry.gpkg"]
    _assert_born_private(born)


def test_backup_manifest_and_restore_are_private(tmp_path, umask, born):
    from geo.registry.backup import backup_registry, restore_registry
    from geo.registry.store import create_registry

    reg = tmp_path / "live" / "registry.gpkg"
    reg.parent.mkdir()
    create_registry(reg).add(_station())
    backup_registry(reg, tmp_path / "backups" / "b.gpkg")
    names = [p.name for p in _assert_private(tmp_path / "backups", tmp_path / "backups")]
    assert names == ["b.gpkg", "b.gpkg.manifest.json"]
    restore_registry(tmp_path / "backups" / "b.gpkg", reg)
    names = [p.name for p in _assert_private(reg.parent)]
    assert names == ["registry.gpkg", "registry.gpkg" + __import__("geo.registry.backup", fromlist=["x"]).BEFORE_RESTORE_SUFFIX]
    restore_registry(tmp_path / "backups" / "b.gpkg", tmp_path / "elsewhere" / "new.gpkg")
    _assert_private(tmp_path / "elsewhere", tmp_path / "elsewhere")
    _assert_born_private(born)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson", "gpkg"])
def test_private_exports_are_private(tmp_path, umask, fmt):
    from geo.registry.export import export_file
    from geo.registry.store import create_registry

    store = create_registry(tmp_path / "r.gpkg")
    for k in range(3):
        store.add(_station(k))
    out = tmp_path / "exports" / f"all.{fmt}"
    export_file(store.load(), out, public_only=False)
    assert [p.name for p in _assert_private(tmp_path / "exports", tmp_path / "exports")] == [out.name]


def test_accounts_and_login_counts_are_private(tmp_path, umask, born):
    from geo.registry.auth.accounts import add_user
    from geo.registry.auth.login import LoginGuard

    made = tmp_path / "config"
    accounts = made / "gd" / "accounts.toml"
    add_user("zhang.wei", "a long enough password", path=accounts)
    LoginGuard(path=accounts.parent / "login_attempts.sqlite").record_failure("zhang.wei")
    names = {p.name for p in _assert_private(made, made)}
    assert {"accounts.toml", "login_attempts.sqlite"} <= names
    _assert_born_private(born)


def test_saved_scenarios_are_private(tmp_path, umask):
    from geo.analysis import scenarios as sc
    from geo.analysis.siting.problem import build_problem
    from geo.analysis.siting.solve import greedy_preview

    stations = pd.DataFrame({"id": ["S0"], "name": ["驿站"], "kind": "rest_station", "status": "open",
                             "lon": [113.33], "lat": [23.13]})
    problem = build_problem("440106", "rest_station", mode="walk", meters=1000, res=8, network=False,
                            stations=stations)
    from geo.registry.store import create_registry

    result = greedy_preview(problem, 2, scenario="方案A")
    # Scenarios are kept in the registry: its file (and journal) stay private through saves.
    made = tmp_path / "registry"
    registry = create_registry(made / "r.gpkg")
    sc.save_scenario(result, registry=registry)
    sc.save_scenario(result, registry=registry, overwrite=True)
    sc.save_scenario(result, "方案B", registry=registry)
    assert [p.name for p in _assert_private(made, made)] == ["r.gpkg"]
    # The note the one-time import of an old scenario folder leaves there is private too.
    old = tmp_path / "old-scenarios"
    old.mkdir()
    (old / "a.json").write_text(registry.scenario("方案B")["content"].replace("方案B", "方案C"), encoding="utf-8")
    assert sc.import_scenario_folder(old, registry=registry)["imported"] == ["方案C"]
    assert _mode(old / sc.IMPORTED_NOTE) == FILE_MODE
