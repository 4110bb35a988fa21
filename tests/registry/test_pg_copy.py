"""Copying a registry between GeoPackage and PostGIS (``python -m geo registry copy``), verified by counts and checksum."""
from __future__ import annotations

import json

import pandas as pd
import psycopg
import pytest

from geo import settings
from geo.cli.main import main
from geo.registry.copy import CopyError, copy_registry, read_registry
from geo.registry.io.table import RawTable
from geo.registry.store import create_registry, open_store
from geo.registry.validate import validate_table

from conftest import FUTIAN, HAIZHU, TIANHE, YUEXIU


def report_of(rows: list[dict]):
    df = pd.DataFrame(rows, dtype=object).fillna("").astype(str)
    return validate_table(RawTable(df, filename="s.csv", format="csv"), None, source="src")


def comparable(store) -> list[dict]:
    df = pd.DataFrame(store.load().drop(columns="geometry")).sort_values("id")
    return df.astype(object).where(df.notna(), None).to_dict("records")


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    """A GeoPackage registry with a history: an import with the sample, edits, a removal, reports.

    Made once for the module: every test only reads it (it is the source of each copy).
    """
    store = create_registry(tmp_path_factory.mktemp("busy") / "src.gpkg", settings.SAMPLE_PATH)
    store.commit_import(report_of([
        {"名称": "天河驿站", "经度": TIANHE[0], "纬度": TIANHE[1], "类型": "暖蜂驿站", "编号": "R1", "电话": "1",
         "公开": "否", "备注": "内部备注"},
        {"名称": "越秀司机之家", "经度": YUEXIU[0], "纬度": YUEXIU[1], "类型": "司机之家", "编号": "D1", "车位数": "12"},
        {"名称": "海珠法律服务站", "经度": HAIZHU[0], "纬度": HAIZHU[1], "类型": "法律援助工作站", "编号": "L1"},
    ]), editor="王五")
    own = store.load()
    own = own[~own["is_sample"]]
    rid = own[own["kind"] == "rest_station"]["id"].iat[0]
    store.update(rid, {"phone": "020-2", "facilities": ["toilet", "water"]}, expected_version=1, editor="张三")
    store.set_status(rid, "temporarily_closed", editor="李四")
    store.add({"name": "福田新驿站", "kind": "rest_station", "lon": FUTIAN[0], "lat": FUTIAN[1]}, editor="张三")
    store.add_report(rid, "closed", "门关着", client="k1")
    store.add_report(rid, "no_water", "", client="k2")
    store.delete_sample(editor="王五")
    return store


def test_gpkg_to_postgis_and_back_is_the_same_registry(busy, pg_url, tmp_path):
    first = copy_registry(busy.location, pg_url)
    content = read_registry(busy.location)
    assert first["counts"] == content.counts() and first["sha256"] == content.checksum()
    assert first["counts"]["audit_log"] > 10 and first["counts"]["reports"] == 2
    pg = open_store(pg_url)
    assert comparable(pg) == comparable(busy)
    rid = busy.load(kinds=["rest_station"])["id"].iat[0]
    pd.testing.assert_frame_equal(pg.history(rid).drop(columns=["changed"]),
                                  busy.history(rid).drop(columns=["changed"]), check_dtype=False)
    assert pg.reports()["text"].tolist() == ["门关着", ""]

    back = copy_registry(pg_url, tmp_path / "back.gpkg")
    assert back["sha256"] == first["sha256"] and back["counts"] == first["counts"]
    # The copy lives on: audit ids continue after the copied ones, restore finds the copied entries.
    first_entry = int(pg.history(rid)["audit_id"].iat[-1])
    restored = pg.restore(rid, first_entry, editor="赵六")
    assert restored["phone"] == "1" and restored["status"] == "open"
    assert int(pg.history(rid)["audit_id"].iat[0]) == int(busy.audit_log(limit=1)["audit_id"].iat[0]) + 1
    assert pg.add({"name": "另一个驿站", "kind": "rest_station", "lon": 113.4, "lat": 23.2})["version"] == 1


def test_a_copy_never_overwrites(busy, pg_url, tmp_path):
    other = create_registry(tmp_path / "other.gpkg", settings.SAMPLE_PATH)
    before = other.path.read_bytes()
    with pytest.raises(CopyError) as exc:
        copy_registry(busy.location, other.location)
    assert exc.value.code == "target_exists" and other.path.read_bytes() == before
    copy_registry(busy.location, pg_url)
    stamp = open_store(pg_url).change_stamp()
    with pytest.raises(CopyError, match="already holds a registry"):
        copy_registry(other.location, pg_url)
    assert open_store(pg_url).change_stamp() == stamp  # nothing written
    with pytest.raises(CopyError, match="not found"):
        copy_registry(tmp_path / "missing.gpkg", tmp_path / "x.gpkg")
    assert not (tmp_path / "x.gpkg").exists()


def test_a_copy_that_reads_back_different_is_reported(busy, pg_url):
    # The target database changes a value on its way in: the checksum must catch it.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("""CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS
                        $$ BEGIN NEW.phone := 'tampered'; RETURN NEW; END $$""")
        conn.execute("CREATE TRIGGER tamper BEFORE INSERT ON stations FOR EACH ROW "
                     "WHEN (NEW.name = '越秀司机之家') EXECUTE FUNCTION tamper()")
    with pytest.raises(CopyError) as exc:
        copy_registry(busy.location, pg_url)
    assert exc.value.code == "verify" and "differs" in str(exc.value)


def test_the_command_copies_and_prints_the_verification(busy, pg_url, tmp_path, capsys):
    assert main(["registry", "copy", busy.location, pg_url]) == 0
    out = capsys.readouterr().out
    assert "copied and verified" in out and read_registry(busy.location).checksum() in out
    assert main(["registry", "copy", pg_url, str(tmp_path / "c.gpkg"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sha256"] == read_registry(busy.location).checksum()
    assert main(["registry", "copy", busy.location, pg_url]) == 2
    assert "not copied" in capsys.readouterr().err


def test_commands_take_the_database_url(busy, pg_url, tmp_path, capsys, monkeypatch):
    # --registry postgresql://... on the commands that read the registry, as a file path works.
    monkeypatch.setenv("GEO_NETWORK_DIR", str(tmp_path / "no-network"))  # no graphs: straight-line estimates
    copy_registry(busy.location, pg_url)
    assert main(["nearest", "--lon", str(TIANHE[0]), "--lat", str(TIANHE[1]), "--k", "2",
                 "--registry", pg_url, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert main(["nearest", "--lon", str(TIANHE[0]), "--lat", str(TIANHE[1]), "--k", "2",
                 "--registry", busy.location, "--json"]) == 0
    assert answer == json.loads(capsys.readouterr().out) and len(answer) == 2  # the same answer from the file
    out = tmp_path / "e.geojson"
    assert main(["export", "--format", "geojson", "--out", str(out), "--registry", pg_url]) == 0
    assert "内部备注" not in out.read_text(encoding="utf-8")  # a non-public station's notes stay private
    assert len(json.loads(out.read_text(encoding="utf-8"))["features"]) == len(open_store(pg_url).load())
