"""The command line contract, run as other tools run it: a subprocess."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

from geo.core.crs import haversine_m
from geo.registry.store.gpkg import GeoPackageStore

from conftest import GUANGZHOU_EV, ROOT, TIANHE, YUEXIU, run_cli



def geo(*args, tmp_path: Path) -> subprocess.CompletedProcess:
    """The command ``python -m geo ARGS`` (in this process: tests/conftest.py ``run_cli``)."""
    return run_cli(*args, env={"GEO_REGISTRY": str(tmp_path / "default-registry.gpkg")})


def test_python_m_geo_is_the_same_command_as_a_process(stations_csv, tmp_path):
    # Every other test here runs main() in this process; this one runs the real entry point.
    reg = tmp_path / "r.gpkg"
    env = {**os.environ, "GEO_REGISTRY": str(tmp_path / "default-registry.gpkg"), "PYTHONIOENCODING": "utf-8"}
    args = ["import", str(stations_csv), "--kind", "rest_station", "--registry", str(reg), "--dry-run", "--json"]
    proc = subprocess.run([sys.executable, "-m", "geo", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=120)
    same = run_cli(*args)
    assert proc.returncode == same.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(same.stdout)
    bad = subprocess.run([sys.executable, "-m", "geo", "import", str(tmp_path / "nope.csv"), "--registry", str(reg)],
                         cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert bad.returncode == 2 and bad.stderr and not bad.stdout


STATIONS_CSV = (
    "名称,地址,经度,纬度,类型,设施,电话\n"
    f"天河驿站,广州市天河区体育西路,{TIANHE[0]},{TIANHE[1]},驿站,饮用水、卫生间、按摩椅,020-1\n"
    f"越秀司机之家,广州市越秀区,{YUEXIU[0]},{YUEXIU[1]},司机之家,停车,=1+1\n"
    "坐标缺失驿站,,,,驿站,,\n"
    "零点驿站,,0,0,驿站,,\n"
)


@pytest.fixture
def stations_csv(tmp_path):
    path = tmp_path / "stations.csv"
    path.write_text(STATIONS_CSV, encoding="utf-8")
    return path


def test_import_json_contract(stations_csv, tmp_path):
    reg = tmp_path / "reg.gpkg"
    out = geo("import", stations_csv, "--kind", "rest_station", "--registry", reg, "--json", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert {"rows", "accepted", "rejected", "warnings", "crs_used", "rejects"} <= set(s)
    assert s["rows"] == 4 and s["accepted"] == 1 and s["rejected"] == 3
    assert s["accepted"] + s["rejected"] == s["rows"]
    assert s["crs_used"] == "wgs84" and "assumed" in s["crs_note"]
    assert s["warnings"] == 1  # 按摩椅 not in the vocabulary
    assert s["dry_run"] is False and s["inserted"] == 1 and s["updated"] == 0
    assert [set(r) for r in s["rejects"]] == [{"row", "reason_code", "message"}] * 3
    assert {r["row"]: r["reason_code"] for r in s["rejects"]} == {
        2: "kind_mismatch", 3: "coord_missing", 4: "coord_zero"}
    assert all(" / " in r["message"] for r in s["rejects"])
    assert "driver_home" in s["rejects"][0]["message"]
    stored = GeoPackageStore(reg).load()
    assert stored["name"].tolist() == ["天河驿站"]
    assert not (tmp_path / "default-registry.gpkg").exists()


def test_import_auto_kind_then_reimport_updates(stations_csv, tmp_path):
    reg = tmp_path / "reg.gpkg"
    first = geo("import", stations_csv, "--registry", reg, "--json", "--source", "office",
                "--rejects-out", tmp_path / "rejects.csv", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    s = json.loads(first.stdout)
    assert (s["accepted"], s["rejected"], s["inserted"]) == (2, 2, 2)
    assert s["source"] == "office"
    with open(tmp_path / "rejects.csv", encoding="utf-8-sig", newline="") as fh:
        rejects = list(csv.DictReader(fh))
    assert [r["reason_code"] for r in rejects] == ["coord_missing", "coord_zero"]
    assert rejects[0]["名称"] == "坐标缺失驿站"
    second = geo("import", stations_csv, "--registry", reg, "--json", "--source", "office", tmp_path=tmp_path)
    s2 = json.loads(second.stdout)
    assert (s2["inserted"], s2["updated"], s2["unchanged"]) == (0, 0, 2)
    assert len(GeoPackageStore(reg).load()) == 2


def test_import_human_output(stations_csv, tmp_path):
    out = geo("import", stations_csv, "--kind", "rest_station", "--registry", tmp_path / "r.gpkg", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "rows read" in out.stdout and "4" in out.stdout
    assert "coord_zero" in out.stdout and "WGS-84" in out.stdout
    assert "committed" in out.stdout


@pytest.mark.parametrize("name, data, code", [
    ("stations.pdf", b"%PDF-1.4\n%binary", "unknown_format"),
    ("stations.xlsx", b"PK\x03\x04 broken workbook", "unreadable"),
    ("stations.csv", b"", "empty"),
])
def test_unreadable_file_exit_2_with_message(tmp_path, name, data, code):
    path = tmp_path / name
    path.write_bytes(data)
    reg = tmp_path / "reg.gpkg"
    out = geo("import", path, "--kind", "rest_station", "--registry", reg, "--json", tmp_path=tmp_path)
    assert out.returncode == 2
    err = json.loads(out.stdout)
    assert err["error"] == code
    assert " / " in err["message"]  # Chinese / English
    if code != "empty":
        assert name in out.stderr
    assert out.stderr.strip() and "Traceback" not in out.stderr
    assert not reg.exists()  # nothing created for a file that could not be read


def test_missing_file_and_bad_region_exit_2(stations_csv, tmp_path):
    out = geo("import", tmp_path / "nope.csv", "--registry", tmp_path / "r.gpkg", tmp_path=tmp_path)
    assert out.returncode == 2 and "nope.csv" in out.stderr and "Traceback" not in out.stderr
    out = geo("import", stations_csv, "--region", "999999", "--registry", tmp_path / "r.gpkg", tmp_path=tmp_path)
    assert out.returncode == 2 and "region not found" in out.stderr and "Traceback" not in out.stderr
    out = geo("import", stations_csv, "--kind", "charging_pile", tmp_path=tmp_path)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_dry_run_writes_nothing(stations_csv, tmp_path):
    reg = tmp_path / "reg.gpkg"
    out = geo("import", stations_csv, "--kind", "rest_station", "--registry", reg, "--dry-run", "--json",
              tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["dry_run"] is True and s["accepted"] == 1 and "inserted" not in s
    assert not reg.exists(), "a dry run must not create the registry"
    assert not (tmp_path / "default-registry.gpkg").exists()

    geo("import", stations_csv, "--kind", "rest_station", "--registry", reg, tmp_path=tmp_path)
    before = hashlib.sha256(reg.read_bytes()).hexdigest()
    changed = stations_csv.read_text(encoding="utf-8").replace("020-1", "020-999")
    stations_csv.write_text(changed, encoding="utf-8")
    out = geo("import", stations_csv, "--kind", "rest_station", "--registry", reg, "--dry-run",
              tmp_path=tmp_path)
    assert out.returncode == 0 and "dry run" in out.stdout
    assert hashlib.sha256(reg.read_bytes()).hexdigest() == before
    assert GeoPackageStore(reg).load()["phone"].tolist() == ["020-1"]


def test_import_guangzhou_gcj02_columns_with_map(tmp_path):
    if not GUANGZHOU_EV.exists():
        pytest.skip(f"shared data missing: {GUANGZHOU_EV}")
    reg = tmp_path / "gz.gpkg"
    out = geo("import", GUANGZHOU_EV, "--kind", "rest_station", "--crs", "gcj02", "--registry", reg, "--json",
              "--map", "lon=station_lg", "--map", "lat=station_lt", "--map", "name=station_id",
              tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["crs_used"] == "gcj02" and s["rows"] == s["accepted"] == s["inserted"] == 3191
    assert s["mapping"]["lon"] == "station_lg"
    stored = GeoPackageStore(reg).load()
    import pandas as pd

    ref = pd.read_csv(GUANGZHOU_EV, dtype={"station_id": str}).set_index("station_id")
    ref = ref.loc[stored["source_id"]]
    d = haversine_m(stored["lon"], stored["lat"], ref["WGS84_station_lg"], ref["WGS84_station_lt"])
    assert d.max() < 1.0


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_registry(tmp_path_factory):
    """One registry for the export tests (they only read it)."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "stations.csv").write_text(STATIONS_CSV, encoding="utf-8")
    reg = folder / "reg.gpkg"
    out = geo("import", folder / "stations.csv", "--registry", reg, tmp_path=folder)
    assert out.returncode == 0, out.stderr
    return reg


def test_export_all_formats(cli_registry, tmp_path):
    outs = {}
    for fmt, ext in (("geojson", "geojson"), ("gpkg", "gpkg"), ("csv", "csv")):
        outs[fmt] = tmp_path / "out" / f"stations.{ext}"
        res = geo("export", "--format", fmt, "--out", outs[fmt], "--registry", cli_registry, tmp_path=tmp_path)
        assert res.returncode == 0, res.stderr
        assert outs[fmt].exists() and outs[fmt].stat().st_size > 0
        assert "2" in res.stderr
    doc = json.loads(outs["geojson"].read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    assert sorted(f["properties"]["name"] for f in doc["features"]) == ["天河驿站", "越秀司机之家"]
    assert "天河驿站" in outs["geojson"].read_text(encoding="utf-8")
    layers = dict(pyogrio.list_layers(outs["gpkg"]))
    assert layers == {"rest_station": "Point", "driver_home": "Point"}
    assert gpd.read_file(outs["gpkg"], layer="driver_home", engine="pyogrio")["name"].tolist() == ["越秀司机之家"]
    rows = list(csv.DictReader(io.StringIO(outs["csv"].read_text(encoding="utf-8-sig"))))
    assert len(rows) == 2
    assert {r["name"]: r["phone"] for r in rows} == {"天河驿站": "020-1", "越秀司机之家": "'=1+1"}


def test_export_filters_and_gcj02(cli_registry, tmp_path):
    out = tmp_path / "dh.geojson"
    res = geo("export", "--format", "geojson", "--out", out, "--registry", cli_registry, "--kind", "driver_home",
              "--crs", "gcj02", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [f["properties"]["kind"] for f in doc["features"]] == ["driver_home"]
    f = doc["features"][0]
    assert f["properties"]["coord_system"] == "GCJ-02" and "GCJ-02" in doc["coord_system"]
    assert 500 < haversine_m(*f["geometry"]["coordinates"], *YUEXIU) < 700

    out = tmp_path / "tianhe.csv"
    res = geo("export", "--format", "csv", "--out", out, "--registry", cli_registry, "--region", "440106",
              tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r["name"] for r in rows] == ["天河驿站"]

    out = tmp_path / "closed.geojson"
    res = geo("export", "--format", "geojson", "--out", out, "--registry", cli_registry, "--status", "closed",
              tmp_path=tmp_path)
    assert res.returncode == 0 and json.loads(out.read_text(encoding="utf-8"))["features"] == []


def test_export_bad_region_exit_2(cli_registry, tmp_path):
    res = geo("export", "--format", "csv", "--out", tmp_path / "x.csv", "--registry", cli_registry,
              "--region", "4401", tmp_path=tmp_path)
    assert res.returncode == 2
    assert "adcode" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x.csv").exists()
    # A mistyped registry path is an error, not a new empty registry.
    missing = tmp_path / "typo.gpkg"
    res = geo("export", "--format", "csv", "--out", tmp_path / "x.csv", "--registry", missing, tmp_path=tmp_path)
    assert res.returncode == 2 and "registry not found" in res.stderr
    assert not missing.exists() and not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("lang, name_header", [("zh", "名称"), ("en", "Name")])
def test_export_xlsx_headers_in_the_chosen_language(cli_registry, tmp_path, lang, name_header):
    import openpyxl

    out = tmp_path / f"stations_{lang}.xlsx"
    res = geo("export", "--format", "xlsx", "--out", out, "--registry", cli_registry, "--lang", lang,
              tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    header = [c.value for c in next(openpyxl.load_workbook(out, read_only=True).active.iter_rows(max_row=1))]
    assert name_header in header and "name" not in header


def test_import_an_amap_gbk_file_whole(tmp_path):
    """Issue 11, section 2: an ordinary Amap-style GBK list loses nothing on the command line."""
    from geo.core.crs import wgs84_to_gcj02

    lines = ["站点名称,详细地址,经纬度(高德),服务内容,开放时间,联系电话"]
    for name, (lon, lat) in (("天河户外劳动者驿站", TIANHE), ("越秀区司机之家", YUEXIU)):
        glon, glat = wgs84_to_gcj02(lon, lat)
        lines.append(f'{name},广州市,"{glon:.6f},{glat:.6f}",饮水 如厕 按摩椅,8:00-20:00,020-1')
    lines.append(f'{"驿" * 300},广州市,"113.33,23.14",,,')
    path = tmp_path / "高德导出.csv"
    path.write_bytes("\n".join(lines).encode("gbk"))
    reg = tmp_path / "reg.gpkg"
    out = geo("import", path, "--registry", reg, "--json", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert (s["rows"], s["accepted"], s["rejected"], s["crs_used"]) == (3, 2, 1, "gcj02")
    assert s["mapping"]["lonlat"] == "经纬度(高德)"
    assert s["rejects"][0]["reason_code"] == "text_too_long" and "300" in s["rejects"][0]["message"]
    codes = {(w["row"], w["code"]) for w in s["warning_list"]}
    assert {(1, "facility_unmapped"), (2, "facility_unmapped")} <= codes
    stored = GeoPackageStore(reg).load().set_index("name")
    assert stored.loc["越秀区司机之家", "kind"] == "driver_home"
    assert list(stored.loc["天河户外劳动者驿站", "facilities"]) == ["drinking_water", "toilet"]
    assert list(stored.loc["天河户外劳动者驿站", "facilities_other"]) == ["按摩椅"]
    assert haversine_m(stored.loc["天河户外劳动者驿站", "lon"], stored.loc["天河户外劳动者驿站", "lat"], *TIANHE) < 1


def test_import_message_says_which_column_to_map(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(f"名称,点位\n甲驿站,\"{TIANHE[0]},{TIANHE[1]}\"\n", encoding="utf-8")
    out = geo("import", path, "--kind", "rest_station", "--dry-run", "--json", tmp_path=tmp_path)
    message = json.loads(out.stdout)["rejects"][0]["message"]
    assert "--map lonlat=点位" in message
    out = geo("import", path, "--kind", "rest_station", "--dry-run", "--json", "--map", "lonlat=点位",
              tmp_path=tmp_path)
    assert json.loads(out.stdout)["accepted"] == 1
