"""Trust: a user's file is opened only by the reader for the format its name promises.

An OGR VRT (a few lines of XML) named ``candidates.gpkg`` or ``x.zip`` used
to be opened by GDAL, which then ran its SQL against the registry (private
phone numbers and notes came back in "download rejected rows"), read the
accounts file through ``CSV:`` and fetched ``/vsicurl/`` URLs from the
server. Every route a user's file takes is tried here with such files:
the Data page import, the command line import, siting candidates,
exclusion areas and demand (points, population tables, rasters). Nothing
private may come back and no connection may be made.
"""
from __future__ import annotations

import http.server
import io
import sqlite3
import threading
import zipfile

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.analysis.grid import hex_grid
from geo.web.views.coverage.uploads import read_points_upload, read_population_upload
from geo.web.views import siting as sv
from geo.cli.main import main
from geo.analysis.demand import raster_demand, read_demand_points
from geo.registry.io.readers import ReadError, read_features, read_table
from geo.registry.io.table import RawTable
from geo.analysis.siting.candidates import read_candidates, read_exclusions
from geo.registry.validate import validate_table

from conftest import FUTIAN, TIANHE

SECRET_PHONE, SECRET_NOTE, SECRET_HASH = "13912345678", "内部备注-勿外传", "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0"
SECRETS = (SECRET_PHONE, SECRET_NOTE, SECRET_HASH, "argon2id")


@pytest.fixture(scope="module")
def _server():
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"name,phone\nx,1\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


@pytest.fixture
def beacon(_server):
    """A local HTTP server that counts every request it gets (in this test)."""
    _server[1].clear()
    return _server


@pytest.fixture(scope="module")
def secrets(tmp_path_factory):
    """A registry with a non-public station, and an accounts file with a hash."""
    from geo.registry.store import create_registry

    tmp_path = tmp_path_factory.mktemp("secrets")
    registry = create_registry(tmp_path / "r.gpkg")
    df = pd.DataFrame([{"名称": "内部驿站", "经度": TIANHE[0], "纬度": TIANHE[1], "类型": "驿站", "编号": "S1",
                        "电话": SECRET_PHONE, "备注": SECRET_NOTE, "是否公开": "否"}], dtype=object).astype(str)
    registry.commit_import(validate_table(RawTable(df, filename="s.csv", format="csv"), None, source="s"))
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(f"name,hash\nadmin,{SECRET_HASH}\n")
    return registry.path, accounts


def _vrt(source: str, sql: str | None = None) -> bytes:
    src_sql = f"<SrcSQL>{sql}</SrcSQL>" if sql else ""
    return (f'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>{source}</SrcDataSource>{src_sql}'
            '<GeometryType>wkbNone</GeometryType></OGRVRTLayer></OGRVRTDataSource>').encode()


def _attacks(secrets, beacon) -> dict[str, bytes]:
    registry, accounts = secrets
    url, _ = beacon
    return {
        "registry-sql": _vrt(str(registry), "SELECT name, phone, address, notes FROM rest_station WHERE public = 0"),
        "accounts-csv": _vrt(f"CSV:{accounts}"),
        "vsicurl": _vrt(f"/vsicurl/{url}/stations.csv"),
    }


def _assert_nothing_private(outcome, beacon):
    text = outcome if isinstance(outcome, str) else repr(outcome)
    for secret in SECRETS:
        assert secret not in text
    assert beacon[1] == [], f"the server made a request: {beacon[1]}"


def _run(route, data: bytes, name: str, tmp_path):
    """What a route gives back for a file (its result or its error), as text."""
    path = tmp_path / name
    path.write_bytes(data)
    try:
        return repr(route(data, name, path))
    except ReadError as exc:
        assert exc.zh and exc.en  # bilingual
        return f"ReadError {exc.code}: {exc}"
    except ValueError as exc:
        return f"ValueError: {exc}"


def _report_text(report) -> str:
    return report.rejects.to_csv() + report.accepted.to_csv() + report.warnings.to_csv() + repr(report.notes)


def _frame_text(frame) -> str:
    return frame.to_csv() if hasattr(frame, "to_csv") else repr(frame)


# Every route a user's file takes, called as the page or the command calls it.
ROUTES = {
    # Data page: read_table(upload bytes, filename), then validation.
    "data-page-import": lambda data, name, path: _report_text(
        validate_table(read_table(data, filename=name), None, source="u")),
    "read-table-path": lambda data, name, path: _frame_text(read_table(path).df),
    "siting-candidates-upload": lambda data, name, path: _frame_text(
        sv.read_candidate_upload(data, name, "rest_station").rejects),
    "siting-candidates-cli": lambda data, name, path: _frame_text(read_candidates(path, "rest_station").frame),
    "exclusions-upload": lambda data, name, path: repr(sv.read_exclusion_upload(data, name)),
    "exclusions-cli": lambda data, name, path: repr(read_exclusions(path)),
    "demand-points-upload": lambda data, name, path: _frame_text(read_points_upload(data, name)[0]),
    "demand-points-cli": lambda data, name, path: _frame_text(read_demand_points(path)[0]),
    "population-upload": lambda data, name, path: _frame_text(read_population_upload(data, name)),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("name", ["candidates.gpkg", "x.zip", "exclusions.geojson", "stations.xlsx"])
@pytest.mark.parametrize("attack", ["registry-sql", "accounts-csv", "vsicurl"])
def test_vrt_disguised_as_another_format_is_refused(route, name, attack, secrets, beacon, tmp_path):
    data = _attacks(secrets, beacon)[attack]
    outcome = _run(ROUTES[route], data, name, tmp_path)
    _assert_nothing_private(outcome, beacon)
    assert "wrong_content" in outcome or "refused" in outcome


@pytest.mark.parametrize("attack", ["registry-sql", "accounts-csv", "vsicurl"])
def test_vrt_disguised_as_a_raster_is_refused(attack, secrets, beacon, tmp_path):
    path = tmp_path / "population.tif"
    path.write_bytes(_attacks(secrets, beacon)[attack])
    with pytest.raises(ReadError) as exc:
        raster_demand(hex_grid("440106", 7), path)
    assert exc.value.code == "wrong_content"
    _assert_nothing_private(str(exc.value), beacon)


@pytest.mark.parametrize("attack", ["registry-sql", "accounts-csv", "vsicurl"])
def test_cli_import_refuses_a_vrt(attack, secrets, beacon, tmp_path, capsys):
    path = tmp_path / "stations.gpkg"
    path.write_bytes(_attacks(secrets, beacon)[attack])
    code = main(["import", str(path), "--dry-run", "--json", "--rejects-out", str(tmp_path / "rej.csv")])
    out = capsys.readouterr()
    assert code == 2
    assert "refused" in out.out + out.err
    _assert_nothing_private(out.out + out.err, beacon)
    assert not (tmp_path / "rej.csv").exists() or SECRET_PHONE not in (tmp_path / "rej.csv").read_text()


def test_gdal_paths_urls_and_prefixes_are_refused(secrets, beacon, tmp_path):
    registry, accounts = secrets
    url, hits = beacon
    grid = hex_grid("440106", 7)
    for text in (f"/vsicurl/{url}/x.geojson", f"{url}/x.geojson", f"CSV:{accounts}",
                 f"GPKG:{registry}:rest_station", f"/vsizip/{tmp_path}/x.zip/a.shp"):
        for read in (read_table, read_exclusions, read_features, lambda p: read_candidates(p, "rest_station"),
                     lambda p: read_demand_points(p), lambda p: raster_demand(grid, p)):
            with pytest.raises(ReadError) as exc:
                read(text)
            assert exc.value.code == "refused_path", (text, exc.value.code)
            _assert_nothing_private(str(exc.value), beacon)
    assert hits == []


def test_symlinks_are_refused(secrets, tmp_path):
    registry, _ = secrets
    link = tmp_path / "stations.gpkg"
    link.symlink_to(registry)
    for read in (read_table, read_exclusions, lambda p: read_candidates(p, "rest_station")):
        with pytest.raises(ReadError) as exc:
            read(link)
        assert exc.value.code == "refused_path"


def _zip(members: dict[str, bytes], links: dict[str, str] = {}) -> bytes:  # noqa: B006 - read only
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zf.writestr(info, target)
    return buf.getvalue()


def test_zip_with_a_vrt_as_its_shapefile_or_a_link_is_refused(secrets, beacon, tmp_path):
    registry, _ = secrets
    vrt = _attacks(secrets, beacon)["registry-sql"]
    with pytest.raises(ReadError) as exc:
        read_table(_zip({"a.shp": vrt, "a.dbf": vrt, "a.shx": vrt}), filename="a.zip")
    assert exc.value.code == "wrong_content"
    with pytest.raises(ReadError) as exc:
        read_table(_zip({"a.shp": b"x", "a.dbf": b"y"}, links={"a.prj": str(registry)}), filename="a.zip")
    assert exc.value.code == "refused_member"
    _assert_nothing_private(str(exc.value), beacon)


def _gpkg(tmp_path, n: int = 3) -> bytes:
    path = tmp_path / "src.gpkg"
    gdf = gpd.GeoDataFrame({"name": [f"站{i}" for i in range(n)]},
                           geometry=gpd.points_from_xy([FUTIAN[0] + i * 1e-3 for i in range(n)], [FUTIAN[1]] * n),
                           crs="EPSG:4326")
    gdf.to_file(path, layer="stations", driver="GPKG", engine="pyogrio")
    return path


def test_geopackage_views_and_triggers_never_run(tmp_path):
    path = _gpkg(tmp_path)
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE secret (fid INTEGER PRIMARY KEY, geom BLOB, words TEXT)")
        con.execute(f"INSERT INTO secret (words) VALUES ('{SECRET_NOTE}')")
        con.execute("CREATE VIEW leak AS SELECT s.fid AS fid, t.geom AS geom, s.words AS name "
                    "FROM secret s, stations t")
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                    "VALUES ('leak', 'features', 'leak', 4326)")
        con.execute("INSERT INTO gpkg_geometry_columns VALUES ('leak', 'geom', 'POINT', 4326, 0, 0)")
        # A trigger that would write if anything wrote; reading must not fire it.
        con.execute("CREATE TABLE fired (n INTEGER)")
        con.execute("CREATE TRIGGER t AFTER UPDATE ON stations BEGIN INSERT INTO fired VALUES (1); END")
    before = path.read_bytes()
    for table in (read_table(path), read_table(before, filename="up.gpkg")):
        assert len(table.df) == 3
        assert SECRET_NOTE not in table.df.to_csv()
        assert any("leak" in n for n in table.notes)  # said, not silently skipped
    frame = read_features(before, filename="up.gpkg")
    assert len(frame) == 3 and SECRET_NOTE not in frame.to_csv()
    assert path.read_bytes() == before


def test_geopackage_feature_count_that_understates_is_not_believed(tmp_path):
    path = _gpkg(tmp_path, n=50)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE gpkg_ogr_contents SET feature_count = 1")
    assert len(read_table(path).df) == 50


def test_shapefile_whose_dbf_header_understates_is_refused(tmp_path):
    folder = tmp_path / "shp"
    folder.mkdir()
    gdf = gpd.GeoDataFrame({"name": [f"站{i}" for i in range(20)]},
                           geometry=gpd.points_from_xy([FUTIAN[0]] * 20, [FUTIAN[1]] * 20), crs="EPSG:4326")
    gdf.to_file(folder / "a.shp", engine="pyogrio", encoding="utf-8")
    parts = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert len(read_table(_zip(parts), filename="a.zip").df) == 20
    dbf = bytearray(parts["a.dbf"])
    dbf[4:8] = (1).to_bytes(4, "little")
    parts["a.dbf"] = bytes(dbf)
    with pytest.raises(ReadError) as exc:
        read_table(_zip(parts), filename="a.zip")
    assert exc.value.code == "count_mismatch" and "20" in str(exc.value)


def test_real_geopackage_reads_as_gdal_read_it(tmp_path):
    """The SQLite reader gives what pyogrio gave: names, points and the declared CRS."""
    gdf = gpd.GeoDataFrame({"name": ["甲", "乙"], "n": [1, 2]},
                           geometry=[shapely.Point(113.3, 23.1), shapely.Polygon([(0, 0), (1, 0), (1, 1)])],
                           crs="EPSG:4490")
    path = tmp_path / "t.gpkg"
    gdf.to_file(path, layer="t", driver="GPKG", engine="pyogrio")
    table = read_table(path)
    assert table.source_crs == "cgcs2000"
    assert table.df["name"].tolist() == ["甲", "乙"] and table.df["n"].tolist() == ["1", "2"]
    assert float(table.df["__lon"][0]) == 113.3 and table.df["__geometry_note"][1] == "Polygon"
    frame = read_features(path)
    assert frame.geometry[1].equals(gdf.geometry[1]) and frame.crs.to_epsg() == 4490
