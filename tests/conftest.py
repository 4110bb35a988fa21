"""Shared fixtures for the registry tests: real data, messy input files, registries.

Every registry a test touches lives under ``tmp_path``; nothing here writes
to ``data/registry.gpkg`` or to the shared data folder.
"""
from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import ModuleType

import pytest

#: The repository.
ROOT = Path(__file__).resolve().parents[1]
#: Real public data, read-only, beside the repository (never copied into it).
SHARED = ROOT.parent / "shared" / "data"
GUANGZHOU_EV = SHARED / "guangzhou_ev_charging_stations.csv"
SHENZHEN_EV = SHARED / "shenzhen_ev_charging_stations_gcj02.csv"

#: The Shenzhen road extract the routing and load tests build networks from.
SHENZHEN_PBF = SHARED / "shenzhen_futian_nanshan_roads.osm.pbf"


def load_bench(name: str) -> ModuleType:
    """A script of ``bench/`` as a module (``bench/`` is not a package), for tests of its harness."""
    path = ROOT / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    """``python -m geo ARGS`` run in this process: the same ``main()``, exit code and output.

    A new Python process per command costs 2–3 s of CPU in imports (GeoPandas,
    pyogrio, h3...), which dozens of CLI tests paid again and again; here the
    imports are paid once per test worker. ``env`` is set for the call only.
    ``tests/cli/test_cli.py`` still runs the real ``python -m geo`` as a process.
    """
    from geo.cli.main import main

    out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    saved_env = {k: os.environ.get(k) for k in (env or {})}
    saved_stdin = sys.stdin
    os.environ.update(env or {})
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse's usage errors and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            out.flush()
            err.flush()
    finally:
        sys.stdin = saved_stdin
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    text = [stream.buffer.getvalue().decode("utf-8") for stream in (out, err)]
    return subprocess.CompletedProcess(["python", "-m", "geo", *map(str, args)], code, *text)


def cheap_accounts(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Editor accounts and login state under ``folder``, hashed with cheap argon2 parameters.

    For tests about saving and logging in, not about argon2's cost; the
    dummy hash the login compares against is recomputed with them.
    """
    from geo import settings
    from geo.registry.auth import passwords

    monkeypatch.setenv("GEO_ACCOUNTS", str(folder / "cfg" / "accounts.toml"))
    monkeypatch.delenv("GEO_LOGIN_STATE", raising=False)
    monkeypatch.setattr(settings, "ARGON2_TIME_COST", 1)
    monkeypatch.setattr(settings, "ARGON2_MEMORY_KIB", 8 * 1024)
    monkeypatch.setattr(settings, "ARGON2_PARALLELISM", 1)
    monkeypatch.setattr(passwords, "_DUMMY", {})


# A few real places, WGS-84.
TIANHE = (113.3245, 23.1375)      # 天河体育中心, 广州市天河区 440106
YUEXIU = (113.2644, 23.1291)      # 越秀区 440104
HAIZHU = (113.3000, 23.1000)      # 海珠区 440105
FUTIAN = (114.0579, 22.5431)      # 深圳市福田区 440304
BEIJING = (116.4074, 39.9042)     # outside Guangdong


@pytest.fixture
def no_default_registry(tmp_path, monkeypatch):
    """Point the default registry into tmp, so a code path that forgets
    ``registry=`` can never touch data/registry.gpkg; returns that path."""
    path = tmp_path / "default-registry.gpkg"
    monkeypatch.setenv("GEO_REGISTRY", str(path))
    return path


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Put this process's ``__main__`` back after each test.

    Streamlit's ``AppTest`` runs a page as ``__main__`` and leaves it in
    ``sys.modules``; a later test in the same worker that starts processes
    through ``forkserver`` or ``spawn`` then has every child run that page
    first (a crash test's child died so, before it could start).
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def shenzhen_network(tmp_path_factory) -> Path:
    """The Shenzhen extract's network as ``python -m geo network build`` makes it (every mode, places).

    Built once per run and shared by the pytest-xdist workers (under a file
    lock in the run's temporary folder, which they share): it is read-only
    to every test, and each build is seconds of CPU on a busy machine.
    Tests of the build itself make their own.
    """
    import fcntl

    if not SHENZHEN_PBF.exists():
        pytest.skip(f"needs the Shenzhen extract {SHENZHEN_PBF}")
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    out = root / "shenzhen-network"
    with open(root / "shenzhen-network.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "places.parquet").exists():  # written last
            subprocess.run([sys.executable, "-m", "geo", "network", "build", str(SHENZHEN_PBF), "--out", str(out)],
                           cwd=ROOT, check=True, capture_output=True, timeout=600)
    return out


@pytest.fixture
def shared_dir() -> Path:
    """The shared data folder; tests that need it are skipped when it is absent."""
    if not GUANGZHOU_EV.exists():
        pytest.skip(f"shared data missing: {SHARED}")
    return SHARED


@pytest.fixture
def write_csv(tmp_path):
    """Write rows as a CSV in a chosen encoding and delimiter; returns the path.

    ``write_csv("a.csv", header, rows, encoding="gbk", delimiter=";")``.
    Rows may be ragged; cells are written as given (quoted only when needed).
    """
    def write(name: str, header: list[str], rows: list[list], encoding: str = "utf-8",
              delimiter: str = ",", newline: str = "\n") -> Path:
        def cell(v) -> str:
            s = "" if v is None else str(v)
            if any(ch in s for ch in (delimiter, '"', "\n")):
                s = '"' + s.replace('"', '""') + '"'
            return s
        lines = [delimiter.join(cell(c) for c in header)]
        lines += [delimiter.join(cell(c) for c in r) for r in rows]
        path = tmp_path / name
        path.write_bytes((newline.join(lines) + newline).encode(encoding))
        return path
    return write


@pytest.fixture
def messy_csv(write_csv):
    """A realistic messy GBK file from a union office: Chinese headers, a
    combined 经纬度 column, facilities in free text, mixed problems."""
    header = ["站点名称", "详细地址", "经纬度", "类型", "服务内容", "开放时间", "联系电话", "主办单位", "星级评定"]
    rows = [
        ["天河体育中心驿站", "广州市天河区体育西路", f"{TIANHE[0]},{TIANHE[1]}", "工会驿站",
         "饮用水、卫生间，手机充电;按摩椅", "周一至周五 9:00-17:00", "020-12345678", "天河区总工会", "五星"],
        ["越秀暖蜂驿站", "广州市越秀区北京路", f"{YUEXIU[0]},{YUEXIU[1]}", "暖蜂驿站",
         "热水/微波炉", "24小时", "", "越秀区总工会", ""],
        ["坐标为空的驿站", "广州市海珠区", "", "工会驿站", "", "", "", "", ""],
        ["北京驿站", "北京市东城区", f"{BEIJING[0]},{BEIJING[1]}", "工会驿站", "", "", "", "", ""],
    ]
    return write_csv("驿站名单.csv", header, rows, encoding="gbk")


#: The registry backends every store, import, export, audit, trust and API test runs on.
BACKENDS = ("gpkg", "postgis")


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL/PostGIS server for this test process (tests/pg_server.py)."""
    from pg_server import PgServer

    server = PgServer()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """The URL of a fresh PostGIS database holding an empty registry.

    Not dropped after the test (that would cost a third of a second each):
    this process's connections to it are closed, and the server is thrown
    away with the run.
    """
    from geo.registry.store.pg import close_pools

    url = pg_server.new_database()
    yield url
    close_pools(url)


@pytest.fixture(params=BACKENDS)
def registry_location(request, tmp_path):
    """Where a fresh registry goes, once per backend: a GeoPackage path in tmp, or a new PostGIS database.

    Tests about the GeoPackage file itself carry ``@pytest.mark.gpkg_only``
    and have no PostGIS case (see :func:`pytest_collection_modifyitems`;
    tests/registry/test_pg_*.py holds the PostGIS side of those promises).
    """
    if request.param == "gpkg":
        return str(tmp_path / "r.gpkg")
    return request.getfixturevalue("pg_url")


def pytest_collection_modifyitems(config, items):
    """Leave out the PostGIS case of a ``gpkg_only`` test: it has none, so it is not collected, not skipped."""
    def postgis_case_of_gpkg_only(item) -> bool:
        spec = getattr(item, "callspec", None)
        return (item.get_closest_marker("gpkg_only") is not None and spec is not None
                and spec.params.get("registry_location") == "postgis")

    dropped = [item for item in items if postgis_case_of_gpkg_only(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not postgis_case_of_gpkg_only(item)]


@pytest.fixture
def registry(registry_location):
    """A fresh, empty registry: a GeoPackage in tmp, and again a PostGIS database (parametrised)."""
    from geo.registry.store import create_registry

    return create_registry(registry_location)


@pytest.fixture
def balanced():
    """Check the accounting every import must satisfy, and return the report."""
    def check(report):
        assert len(report.accepted) + len(report.rejects) == report.rows, (
            f"accepted {len(report.accepted)} + rejected {len(report.rejects)} != rows {report.rows}")
        summary = report.summary()
        assert summary["accepted"] + summary["rejected"] == summary["rows"]
        # A row is either accepted or rejected, never both.
        assert not set(report.accepted["row"]) & set(report.rejects["row"])
        assert set(report.accepted["row"]) | set(report.rejects["row"]) == set(range(1, report.rows + 1))
        return report
    return check
