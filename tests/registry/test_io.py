"""Reading the files union offices really have: geo.registry.io.readers.read_table."""
from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pytest
from shapely.geometry import Point, Polygon

from geo import settings
from geo.registry.io.readers import ReadError, read_table
from geo.registry.io.table import GEOM_LAT, GEOM_LON, GEOM_NOTE
from geo.registry.validate import validate_table

from conftest import TIANHE, YUEXIU

CJK = re.compile(r"[\u4e00-\u9fff]")
HEADER = ["名称", "地址", "经度", "纬度", "设施"]
ROWS = [
    ["天河体育中心驿站", "广州市天河区体育西路", "113.3245", "23.1375", "饮用水、卫生间"],
    ["越秀暖蜂驿站", "广州市越秀区北京路", "113.2644", "23.1291", "热水，微波炉"],
]


def assert_bilingual(err: ReadError) -> None:
    assert CJK.search(err.zh), err.zh
    assert re.search(r"[A-Za-z]{3,}", err.en) and not CJK.search(err.en.split(":")[0]), err.en
    assert err.zh in str(err) and err.en in str(err)


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------


@pytest.mark.parametrize("encoding, reported", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gbk/gb18030"), ("gb18030", "gbk/gb18030"),
])
def test_csv_encodings_give_identical_tables(write_csv, encoding, reported):
    reference = read_table(write_csv("ref.csv", HEADER, ROWS, encoding="utf-8")).df
    table = read_table(write_csv(f"{encoding}.csv", HEADER, ROWS, encoding=encoding))
    assert table.encoding == reported
    assert table.format == "csv"
    assert list(table.df.columns) == HEADER  # no BOM glued to the first header
    assert table.df.equals(reference)
    assert table.df.iat[0, 0] == "天河体育中心驿站"


def test_gb18030_characters_outside_gbk(tmp_path):
    # 𠮷 (U+20BB7) exists in GB18030 only, as a four-byte sequence.
    path = tmp_path / "rare.csv"
    path.write_bytes("名称,经度,纬度\n𠮷野家驿站,113.3,23.1\n".encode("gb18030"))
    table = read_table(path)
    assert table.df.iat[0, 0] == "𠮷野家驿站"


def test_bytes_upload_needs_filename_for_format():
    data = "名称,经度,纬度\n甲,113.3,23.1\n".encode()
    assert read_table(data, filename="upload.csv").df.iat[0, 0] == "甲"
    with pytest.raises(ReadError) as exc:
        read_table(data)
    assert exc.value.code == "unknown_format"


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_sniffed(write_csv, delimiter):
    rows = [["天河驿站", "广州市,天河区", "113.3245", "23.1375", "饮用水,卫生间"],
            ["越秀驿站", "广州市,越秀区", "113.2644", "23.1291", ""]]
    table = read_table(write_csv("d.txt" if delimiter == "\t" else "d.csv", HEADER, rows, delimiter=delimiter))
    assert list(table.df.columns) == HEADER
    assert table.df["地址"].tolist() == ["广州市,天河区", "广州市,越秀区"]
    assert table.df["纬度"].tolist() == ["23.1375", "23.1291"]


def test_tab_file_with_combined_coordinates_keeps_the_pair(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("名称\t经纬度\n甲\t113.2644,23.1291\n乙\t113.3,23.1\n", encoding="utf-8")
    table = read_table(path)
    assert list(table.df.columns) == ["名称", "经纬度"]
    assert table.df["经纬度"].tolist() == ["113.2644,23.1291", "113.3,23.1"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_ragged_rows_keep_extra_cells(write_csv, delimiter):
    path = write_csv("ragged.csv", ["名称", "经度", "纬度"],
                     [["甲", "113.3", "23.1", "多出1", "多出2"], ["乙", "113.2"], ["丙", "113.4", "23.2"]],
                     delimiter=delimiter)
    table = read_table(path)
    assert list(table.df.columns) == ["名称", "经度", "纬度", "_extra"]
    assert table.df["_extra"].tolist() == [f"多出1{delimiter}多出2", "", ""]
    assert table.df.loc[1].tolist() == ["乙", "113.2", "", ""]  # short row padded, not dropped
    assert len(table.df) == 3
    assert any("_extra" in n for n in table.notes)


def test_ragged_extra_cells_reach_the_station(write_csv, balanced):
    path = write_csv("ragged.csv", ["名称", "经度", "纬度"], [["甲驿站", *map(str, TIANHE), "备注在表头外"]])
    report = balanced(validate_table(read_table(path), "rest_station"))
    assert json.loads(report.accepted["extra"].iat[0]) == {"_extra": "备注在表头外"}


def test_header_only_file_gives_zero_rows(write_csv, balanced):
    table = read_table(write_csv("h.csv", HEADER, []))
    assert len(table.df) == 0
    assert list(table.df.columns) == HEADER
    report = balanced(validate_table(table, "rest_station"))
    assert report.rows == 0 and len(report.accepted) == 0


def test_duplicate_and_blank_headers_made_unique(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("名称,备注,备注,\n甲,a,b,c\n", encoding="utf-8")
    assert list(read_table(path).df.columns) == ["名称", "备注", "备注_1", "column_4"]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", "\ufeff".encode("utf-8"), b",,,\n,,\n"])
def test_empty_csv_raises_bilingual(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(ReadError) as exc:
        read_table(path)
    assert exc.value.code == "empty"
    assert_bilingual(exc.value)


@pytest.mark.parametrize("name", ["stations.pdf", "stations.docx", "stations", "stations.kml"])
def test_unknown_extension_raises_bilingual(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4 whatever")
    with pytest.raises(ReadError) as exc:
        read_table(path)
    assert exc.value.code == "unknown_format"
    assert name in exc.value.zh and name in exc.value.en
    assert_bilingual(exc.value)


def test_missing_file_raises(tmp_path):
    with pytest.raises(ReadError) as exc:
        read_table(tmp_path / "nope.csv")
    assert exc.value.code == "file_not_found"
    assert_bilingual(exc.value)


@pytest.mark.parametrize("name, data, code", [
    ("broken.xlsx", b"PK\x03\x04 this is not really a workbook", "unreadable"),
    # Not even the first bytes of a zip: refused before any reader opens it.
    ("broken.zip", b"not a zip at all", "wrong_content"),
    ("broken.geojson", b"{\"type\": \"FeatureCollection\", ", "unreadable"),
    ("broken.gpkg", b"SQLite format 3\x00 but truncated", "unreadable"),
])
def test_corrupt_files_raise_unreadable(tmp_path, name, data, code):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ReadError) as exc:
        read_table(path)
    assert exc.value.code == code
    assert name in str(exc.value)
    assert_bilingual(exc.value)


def test_formula_escape_of_our_csv_export_is_undone(tmp_path):
    path = tmp_path / "escaped.csv"
    path.write_text("名称,电话,备注\n甲,'+8620123,'=SUM(A1)\n乙,'-5,it's fine\n", encoding="utf-8")
    df = read_table(path).df
    assert df["电话"].tolist() == ["+8620123", "-5"]
    assert df["备注"].tolist() == ["=SUM(A1)", "it's fine"]


# --------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------


def _xlsx_with_cached_formulas(path: Path) -> Path:
    """An XLSX whose formula cells carry cached values, as Excel saves them.

    openpyxl writes formulas without results, so the cached ``<v>`` is
    filled in by hand: D2 = B2+1 caches 114.3245, E2 = A2&"站" caches text.
    """
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "说明"  # an empty first sheet, as union offices often leave one
    data = wb.create_sheet("站点")
    data.append(["名称", "经度", "纬度", "经度加一", "全称"])
    data.append(["天河驿站", 113.3245, 23.1375, "=B2+1", '=A2&"站"'])
    data.append(["越秀驿站", 113.0, 23.0, None, None])
    wb.create_sheet("备注").append(["只是备注"])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet2.xml":
                text = body.decode("utf-8")
                text = text.replace("<f>B2+1</f><v />", "<f>B2+1</f><v>114.3245</v>")
                text = re.sub(r'<c r="E2"([^>]*)><f>(.*?)</f><v\s*/>',
                              r'<c r="E2"\1 t="str"><f>\2</f><v>天河驿站站</v>', text)
                assert "114.3245" in text and "天河驿站站" in text, text
                body = text.encode("utf-8")
            dst.writestr(item, body)
    path.write_bytes(out.getvalue())
    return path


def test_xlsx_formulas_give_cached_values_and_sheet_note(tmp_path):
    table = read_table(_xlsx_with_cached_formulas(tmp_path / "站点.xlsx"))
    assert table.format == "xlsx"
    assert list(table.df.columns) == ["名称", "经度", "纬度", "经度加一", "全称"]
    assert table.df.loc[0].tolist() == ["天河驿站", "113.3245", "23.1375", "114.3245", "天河驿站站"]
    # Whole floats are written as integers; empty cells are "".
    assert table.df.loc[1].tolist() == ["越秀驿站", "113", "23", "", ""]
    assert not any(str(v).startswith("=") for v in table.df.to_numpy().ravel())
    assert any("3" in n and "站点" in n for n in table.notes), table.notes


def test_xlsx_with_wrong_used_range_reads_every_cell(tmp_path):
    # Some writers store <dimension ref="A1"/>; read-only openpyxl trusts it.
    wb = openpyxl.Workbook()
    wb.active.append(["名称", "经度", "纬度"])
    wb.active.append(["甲", 113.3, 23.1])
    wb.active.append(["乙", 113.4, 23.2])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text, n = re.subn(r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1"/>', body.decode("utf-8"))
                assert n == 1
                body = text.encode("utf-8")
            dst.writestr(item, body)
    df = read_table(out.getvalue(), filename="wrong-dimension.xlsx").df
    assert list(df.columns) == ["名称", "经度", "纬度"]
    assert df.values.tolist() == [["甲", "113.3", "23.1"], ["乙", "113.4", "23.2"]]


def test_xlsx_sheet_by_name_and_unknown_sheet(tmp_path):
    path = _xlsx_with_cached_formulas(tmp_path / "book.xlsx")
    assert read_table(path, layer="备注").df.columns.tolist() == ["只是备注"]
    with pytest.raises(ReadError) as exc:
        read_table(path, layer="不存在")
    assert exc.value.code == "no_such_sheet"
    assert "站点" in exc.value.zh


def test_xlsx_dates_and_numbers_as_text(tmp_path):
    import datetime as dt

    wb = openpyxl.Workbook()
    wb.active.append(["名称", "经度", "纬度", "核实日期", "车位数"])
    wb.active.append(["甲", 113.3245, 23.1375, dt.date(2024, 5, 1), 12])
    path = tmp_path / "d.xlsx"
    wb.save(path)
    row = read_table(path).df.loc[0].tolist()
    assert row[:3] == ["甲", "113.3245", "23.1375"]
    assert row[3].startswith("2024-05-01")
    assert row[4] == "12"


def test_empty_workbook_raises(tmp_path):
    path = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(ReadError) as exc:
        read_table(path)
    assert exc.value.code == "empty"
    assert_bilingual(exc.value)


# --------------------------------------------------------------------------
# GeoJSON
# --------------------------------------------------------------------------

FEATURE = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(TIANHE)},
           "properties": {"名称": "天河驿站", "设施": ["饮用水", "卫生间"], "车位": 3.0, "开放": True, "空": None}}


def _geojson(tmp_path, doc, name="a.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_geojson_feature_collection(tmp_path):
    other = {**FEATURE, "geometry": {"type": "Point", "coordinates": list(YUEXIU)},
             "properties": {"名称": "越秀驿站"}}
    table = read_table(_geojson(tmp_path, {"type": "FeatureCollection", "features": [FEATURE, other]}))
    assert table.format == "geojson" and table.source_crs == "wgs84"
    df = table.df
    assert df["名称"].tolist() == ["天河驿站", "越秀驿站"]
    assert df["设施"].iat[0] == "饮用水;卫生间"
    assert df["车位"].iat[0] == "3" and df["开放"].iat[0] == "true" and df["空"].iat[0] == ""
    assert df["设施"].iat[1] == ""  # a property one feature lacks is empty, not NaN
    assert [float(v) for v in df[GEOM_LON]] == [TIANHE[0], YUEXIU[0]]
    assert [float(v) for v in df[GEOM_LAT]] == [TIANHE[1], YUEXIU[1]]


def test_geojson_single_feature(tmp_path):
    df = read_table(_geojson(tmp_path, FEATURE)).df
    assert len(df) == 1 and df["名称"].iat[0] == "天河驿站"
    assert float(df[GEOM_LON].iat[0]) == TIANHE[0]


def test_geojson_bare_geometry(tmp_path):
    table = read_table(_geojson(tmp_path, {"type": "Point", "coordinates": list(TIANHE)}))
    assert len(table.df) == 1
    assert (float(table.df[GEOM_LON].iat[0]), float(table.df[GEOM_LAT].iat[0])) == TIANHE
    assert any("bare geometry" in n for n in table.notes)


def test_geojson_bare_multipoint_gives_a_row_per_point(tmp_path):
    table = read_table(_geojson(tmp_path, {"type": "MultiPoint", "coordinates": [list(TIANHE), list(YUEXIU)]}))
    assert [float(v) for v in table.df[GEOM_LON]] == [TIANHE[0], YUEXIU[0]]


def test_geojson_nested_collection_and_geometry_collection(tmp_path):
    inner = {"type": "FeatureCollection", "features": [FEATURE]}
    square = Polygon([(113.30, 23.10), (113.31, 23.10), (113.31, 23.11), (113.30, 23.11)])
    doc = {"type": "FeatureCollection", "features": [
        inner,
        {"type": "Feature", "geometry": json.loads(gpd.GeoSeries([square]).to_json())["features"][0]["geometry"],
         "properties": {"名称": "面状驿站"}},
    ]}
    df = read_table(_geojson(tmp_path, doc)).df
    assert df["名称"].tolist() == ["天河驿站", "面状驿站"]
    assert df[GEOM_NOTE].tolist() == ["", "Polygon"]
    lon, lat = float(df[GEOM_LON].iat[1]), float(df[GEOM_LAT].iat[1])
    assert square.contains(Point(lon, lat))  # a point inside, not the centroid of nothing

    gc = {"type": "GeometryCollection", "geometries": [
        {"type": "Point", "coordinates": list(TIANHE)},
        {"type": "LineString", "coordinates": [list(TIANHE), list(YUEXIU)]}]}
    df = read_table(_geojson(tmp_path, gc, "gc.geojson")).df
    assert len(df) == 2 and df[GEOM_NOTE].tolist() == ["", "LineString"]


def test_geojson_polygon_warns_on_import(tmp_path, balanced):
    square = {"type": "Polygon", "coordinates": [[[113.30, 23.10], [113.31, 23.10], [113.31, 23.11], [113.30, 23.10]]]}
    doc = {"type": "Feature", "geometry": square, "properties": {"name": "面状驿站"}}
    report = balanced(validate_table(read_table(_geojson(tmp_path, doc)), "rest_station"))
    assert len(report.accepted) == 1
    assert "geometry_not_point" in report.warnings["code"].tolist()


def test_geojson_feature_without_geometry_keeps_row(tmp_path, balanced):
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None, "properties": {"name": "无坐标驿站"}}]}
    report = balanced(validate_table(read_table(_geojson(tmp_path, doc)), "rest_station"))
    assert report.rejects["reason_code"].tolist() == ["coord_missing"]


@pytest.mark.parametrize("doc, code", [
    ({"type": "FeatureCollection", "features": []}, "empty"),
    ({"type": "Topology", "objects": {}}, "bad_geojson"),
    ({"features": []}, "bad_geojson"),
])
def test_geojson_errors(tmp_path, doc, code):
    with pytest.raises(ReadError) as exc:
        read_table(_geojson(tmp_path, doc))
    assert exc.value.code == code
    assert_bilingual(exc.value)


def test_json_array_of_records(tmp_path):
    path = tmp_path / "records.json"
    path.write_text(json.dumps([{"名称": "甲", "经度": 113.3, "纬度": 23.1}, {"名称": "乙"}], ensure_ascii=False),
                    encoding="utf-8")
    df = read_table(path).df
    assert df["名称"].tolist() == ["甲", "乙"] and df["经度"].tolist() == ["113.3", ""]


def test_geojson_legacy_crs_member_is_declared(tmp_path):
    doc = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:4490"}},
           "features": [FEATURE]}
    assert read_table(_geojson(tmp_path, doc)).source_crs == "EPSG:4490"


# --------------------------------------------------------------------------
# GeoPackage
# --------------------------------------------------------------------------

def _stations_gdf(crs="EPSG:4326"):
    gdf = gpd.GeoDataFrame({"名称": ["天河驿站", "越秀驿站"], "电话": ["020-1", "020-2"], "车位": [3, 4]},
                           geometry=[Point(*TIANHE), Point(*YUEXIU)], crs="EPSG:4326")
    return gdf.to_crs(crs)


def test_geopackage(tmp_path):
    path = tmp_path / "stations.gpkg"
    _stations_gdf().to_file(path, layer="驿站", driver="GPKG", engine="pyogrio")
    table = read_table(path)
    assert table.format == "gpkg" and table.source_crs == "wgs84"
    assert table.df["名称"].tolist() == ["天河驿站", "越秀驿站"]
    assert table.df["车位"].tolist() == ["3", "4"]
    assert [float(v) for v in table.df[GEOM_LON]] == pytest.approx([TIANHE[0], YUEXIU[0]])


def test_geopackage_all_layers_and_chosen_layer(tmp_path):
    path = tmp_path / "two.gpkg"
    gdf = _stations_gdf()
    gdf.iloc[:1].to_file(path, layer="a", driver="GPKG", engine="pyogrio")
    gdf.iloc[1:].to_file(path, layer="b", driver="GPKG", engine="pyogrio")
    table = read_table(path)
    assert table.df["名称"].tolist() == ["天河驿站", "越秀驿站"]
    assert any("2" in n for n in table.notes)
    assert read_table(path, layer="b").df["名称"].tolist() == ["越秀驿站"]


def test_projected_geopackage_is_converted_on_import(tmp_path, balanced):
    from geo.core.crs import haversine_m

    path = tmp_path / "cgcs.gpkg"
    _stations_gdf("EPSG:4547").to_file(path, driver="GPKG", engine="pyogrio")  # CGCS2000 / 3-degree GK CM 114E
    table = read_table(path)
    assert table.source_crs == "EPSG:4547"
    report = balanced(validate_table(table, "rest_station"))
    assert report.crs_used == "EPSG:4547"
    assert len(report.accepted) == 2
    d = haversine_m(report.accepted["lon"], report.accepted["lat"], [TIANHE[0], YUEXIU[0]], [TIANHE[1], YUEXIU[1]])
    assert d.max() < 1.0


# --------------------------------------------------------------------------
# Zipped Shapefile
# --------------------------------------------------------------------------


@pytest.fixture
def shapefile_dir(tmp_path):
    """A Shapefile with Chinese attributes in GBK, with .cpg and .prj."""
    folder = tmp_path / "shp"
    folder.mkdir()
    _stations_gdf().to_file(folder / "驿站.shp", driver="ESRI Shapefile", encoding="GBK", engine="pyogrio")
    return folder


def _zip(parts: dict[str, Path], path: Path) -> Path:
    # ZipInfo keeps the member name verbatim ("../x" too), as a hostile zip would.
    with zipfile.ZipFile(path, "w") as zf:
        for arcname, file in parts.items():
            zf.writestr(zipfile.ZipInfo(arcname), file.read_bytes())
    return path


def _members(folder: Path, drop=(), rename=None) -> dict[str, Path]:
    rename = rename or (lambda name: name)
    return {rename(p.name): p for p in sorted(folder.iterdir()) if p.suffix.lower() not in drop}


def test_zipped_shapefile_with_prj(shapefile_dir, tmp_path):
    assert (shapefile_dir / "驿站.cpg").read_text().strip().upper() == "GBK"
    table = read_table(_zip(_members(shapefile_dir), tmp_path / "s.zip"))
    assert table.format == "shapefile-zip" and table.source_crs == "wgs84"
    assert table.df["名称"].tolist() == ["天河驿站", "越秀驿站"]
    assert [float(v) for v in table.df[GEOM_LAT]] == pytest.approx([TIANHE[1], YUEXIU[1]])


def test_zipped_shapefile_without_prj_or_cpg_gbk_dbf(shapefile_dir, tmp_path, balanced):
    # Strip the .cpg and the code-page byte of the .dbf: a plain GBK file as
    # old Chinese GIS software writes it, with no hint of its encoding.
    dbf = shapefile_dir / "驿站.dbf"
    raw = bytearray(dbf.read_bytes())
    raw[29] = 0
    dbf.write_bytes(bytes(raw))
    table = read_table(_zip(_members(shapefile_dir, drop=(".prj", ".cpg")), tmp_path / "s.zip"))
    assert table.df["名称"].tolist() == ["天河驿站", "越秀驿站"]
    assert "gb" in table.encoding
    assert table.source_crs is None
    assert any(".prj" in n for n in table.notes)
    report = balanced(validate_table(table, "rest_station"))
    assert report.crs_used == "wgs84" and "assumed" in report.crs_note


def test_zipped_shapefile_in_a_folder_with_upper_case_names(shapefile_dir, tmp_path):
    parts = _members(shapefile_dir, rename=lambda n: "导出/STATIONS" + Path(n).suffix.upper())
    assert read_table(_zip(parts, tmp_path / "s.zip")).df["名称"].tolist() == ["天河驿站", "越秀驿站"]


def test_zipped_shapefile_missing_dbf(shapefile_dir, tmp_path):
    with pytest.raises(ReadError) as exc:
        read_table(_zip(_members(shapefile_dir, drop=(".dbf",)), tmp_path / "s.zip"))
    assert exc.value.code == "no_dbf"
    assert_bilingual(exc.value)


def test_zip_without_shapefile(tmp_path):
    other = tmp_path / "readme.txt"
    other.write_text("hello")
    with pytest.raises(ReadError) as exc:
        read_table(_zip({"readme.txt": other}, tmp_path / "s.zip"))
    assert exc.value.code == "no_shp"


@pytest.mark.parametrize("prefix", ["../", "../../", "a/../../", "/tmp/"])
def test_zip_member_paths_never_escape(shapefile_dir, tmp_path, monkeypatch, prefix):
    scratch = tmp_path / "scratch" / "deeper"
    scratch.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    parts = _members(shapefile_dir, rename=lambda n: prefix + "evil" + Path(n).suffix)
    archive = _zip(parts, tmp_path / "evil.zip")
    with zipfile.ZipFile(archive) as zf:
        assert any(n.startswith(prefix) for n in zf.namelist())
    # Where a naive extraction into a temporary folder would have written.
    targets = {(scratch / "tmpdir" / name).resolve() for name in parts} | {Path(name).resolve() for name in parts}
    preexisting = {t for t in targets if t.exists()}
    before = {p for p in tmp_path.rglob("*")}
    table = read_table(archive)
    assert table.df["名称"].tolist() == ["天河驿站", "越秀驿站"]
    after = {p for p in tmp_path.rglob("*")}
    assert after == before, after - before
    assert not list(tmp_path.parent.glob("evil*"))
    assert {t for t in targets if t.exists()} == preexisting
    assert list(scratch.iterdir()) == []  # the temporary folder is gone too


def test_zip_bomb_refused(shapefile_dir, tmp_path, monkeypatch):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, file in _members(shapefile_dir).items():
            zf.write(file, name)
        zf.writestr("padding.bin", b"\0" * 2_000_000)  # compresses to a few kB
    monkeypatch.setattr(settings, "MAX_UPLOAD_BYTES", 100_000)
    assert archive.stat().st_size < settings.MAX_UPLOAD_BYTES
    with pytest.raises(ReadError) as exc:
        read_table(archive)
    assert exc.value.code == "zip_bomb"
    assert_bilingual(exc.value)


# --------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------


def test_row_limit(write_csv, monkeypatch):
    path = write_csv("many.csv", ["名称", "经度", "纬度"], [[f"站{i}", "113.3", "23.1"] for i in range(5)])
    monkeypatch.setattr(settings, "MAX_ROWS", 5)
    assert len(read_table(path).df) == 5
    monkeypatch.setattr(settings, "MAX_ROWS", 4)
    with pytest.raises(ReadError) as exc:
        read_table(path)
    assert exc.value.code == "too_many_rows"
    assert "4" in exc.value.zh and "4" in exc.value.en
    assert_bilingual(exc.value)


def test_upload_size_limit_for_paths_and_bytes(write_csv, monkeypatch):
    path = write_csv("big.csv", HEADER, ROWS)
    size = path.stat().st_size
    monkeypatch.setattr(settings, "MAX_UPLOAD_BYTES", size)
    assert len(read_table(path).df) == 2
    monkeypatch.setattr(settings, "MAX_UPLOAD_BYTES", size - 1)
    for source in (path, path.read_bytes()):
        with pytest.raises(ReadError) as exc:
            read_table(source, filename="big.csv")
        assert exc.value.code == "too_large"
        assert_bilingual(exc.value)
