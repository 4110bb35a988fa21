"""Trust: hostile input files end in a clean report or one clear ReadError.

Property-based (hypothesis) over CSV, XLSX, GeoJSON and zipped Shapefile
bytes, then explicit cases: truncated and mixed-encoding files, header
only, NaN/Inf, °′″ and full-width digits, bare and nested GeoJSON, broken
Shapefile archives, zip bombs, ``../`` members, workbooks with formulas,
a title row above the header and several sheets, and a million rows.

The contract checked everywhere: :func:`geo.registry.io.readers.read_table` raises nothing
but :class:`geo.registry.io.readers.ReadError` (with a code and a message in both
languages); :func:`geo.registry.validate.validate_table` then raises nothing and
accounts for every row (accepted + rejected == rows); what is accepted can
be committed to a registry and exported.
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import time
import zipfile

import geopandas as gpd
import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from shapely.geometry import Point

from geo import settings
from geo.registry.export import export_bytes
from geo.registry.io.readers import ReadError, read_table
from geo.registry.store import create_registry
from geo.registry.validate import validate_table

from conftest import TIANHE, YUEXIU, load_bench

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # hostile zips repeat member names

CJK = re.compile(r"[\u4e00-\u9fff]")

#: Every code a ReadError may carry. A new one must be added here on purpose.
READ_ERROR_CODES = {"file_not_found", "too_large", "unknown_format", "unreadable", "too_deep", "too_many_rows",
                    "empty", "no_such_sheet", "bad_json", "bad_geojson", "zip_bomb", "zip_method", "no_shp",
                    "no_dbf", "wrong_content", "refused_path", "refused_member", "count_mismatch", "bad_gpkg",
                    "no_such_layer"}

# Examples per property: together they keep this file well under a minute.
# TRUST_EXAMPLES=5000 TRUST_RANDOM=1 hunts longer with fresh random inputs.
EXAMPLES = int(os.environ.get("TRUST_EXAMPLES", "120"))
PROPERTY = hsettings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("TRUST_RANDOM"),
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])


# --------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------


def ingest(data: bytes, filename: str, registry=None, layer=None):
    """Read, validate and (optionally) commit and export; returns the report or the ReadError."""
    try:
        raw = read_table(data, filename=filename, layer=layer)
    except ReadError as exc:
        assert exc.code in READ_ERROR_CODES, exc.code
        assert CJK.search(exc.zh) and re.search(r"[A-Za-z]{3,}", exc.en), str(exc)
        assert "Traceback" not in str(exc) and len(str(exc)) < 1000
        return exc
    report = validate_table(raw, None)
    assert len(report.accepted) + len(report.rejects) == report.rows == len(raw.df)
    assert set(report.accepted["row"]) | set(report.rejects["row"]) == set(range(1, report.rows + 1))
    json.dumps(report.summary(), ensure_ascii=False)  # the CLI's JSON contract holds
    report.rejects_csv()
    if registry is not None and len(report.accepted):
        registry.commit_import(report, editor="hypothesis")
        stored = registry.get(report.accepted["id"].iat[0])
        assert stored is not None and stored["name"] == report.accepted["name"].iat[0]
        for fmt in ("csv", "geojson"):
            export_bytes(registry.load().head(50), fmt)
    return report


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return create_registry(tmp_path_factory.mktemp("hostile") / "r.gpkg")


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------

TRICKY = ["", " ", "nan", "NaN", "None", "null", "inf", "-inf", "Infinity", "1e999", "-1e400", "1e30", "0", "-0",
          "１１３．２６", "２３．１２", "113°15′36″", "23°7'12\"N", "E113.3", "东经113度", "北纬23度7分",
          "113.3,23.1", "113.3;23.1", "23.1 113.3", "=HYPERLINK(\"http://x\",\"点\")", "+cmd|' /C calc'!A0",
          "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1", "'=1", "24小时", "周一至周五 9:00-17:00", "99:99-25:61",
          "Mo-Su 25:00-99:00; PH off", "1e400", "-5", "１２个", "3.5", "司机之家", "法律援助工作站", "暖蜂驿站",
          "rest_station", "暂停开放", "饮用水、卫生间，手机充电;按摩椅", "{\"a\": [1, {\"b\": null}]}", "[1, 2]",
          "\x00", "\ud800", "\ufeff名称", "\u202e反向", "a" * 300, "广州市天河区体育西路" * 5, "RS-0123456789"]
HEADERS = ["名称", "站点名称", "name", "经度", "纬度", "lon", "lat", "经纬度", "坐标", "类型", "kind", "地址",
           "设施", "服务内容", "开放时间", "状态", "电话", "车位数", "律师值班时间", "编号", "source_id", "id",
           "extra", "is_sample", "coord_system", "备注", "row", "reason_code", "message", "__lon", ""]

cells = st.one_of(st.sampled_from(TRICKY), st.text(max_size=20),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr),
                  st.floats(113.0, 114.5).map(lambda v: f"{v:.6f}"), st.floats(22.5, 23.5).map(lambda v: f"{v:.6f}"))
headers = st.lists(st.one_of(st.sampled_from(HEADERS), st.text(max_size=8)), min_size=1, max_size=8)


@st.composite
def tables(draw):
    header = draw(headers)
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(header) + 2), max_size=12))
    return header, rows


def _mutate(draw, data: bytes) -> bytes:
    """Maybe truncate, flip bytes or splice in junk: what a broken transfer does."""
    how = draw(st.sampled_from(["keep", "keep", "truncate", "flip", "splice"]))
    if how == "truncate" and data:
        return data[:draw(st.integers(0, len(data)))]
    if how == "flip" and data:
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(buf) - 1))
            buf[i] = draw(st.integers(0, 255))
        return bytes(buf)
    if how == "splice":
        i = draw(st.integers(0, len(data)))
        return data[:i] + draw(st.binary(max_size=64)) + data[i:]
    return data


@st.composite
def csv_files(draw):
    header, rows = draw(tables())
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])))
    if draw(st.booleans()):
        writer.writerow([draw(st.sampled_from(["广州市户外劳动者驿站名单", "附件1", ""]))])  # a title line
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16", "utf-16-le", "big5"]))
    if draw(st.booleans()):  # mixed encodings: half the lines in another one
        lines = text.splitlines(keepends=True)
        other = draw(st.sampled_from(["gbk", "utf-8", "latin-1"]))
        data = b"".join(line.encode(other if i % 2 else encoding, errors="ignore") for i, line in enumerate(lines))
    else:
        errors = draw(st.sampled_from(["ignore", "replace"] + (["surrogatepass"] if encoding.startswith("utf") else [])))
        data = text.encode(encoding, errors=errors)
    return _mutate(draw, data)


def _xlsx_value(draw):
    return draw(st.one_of(cells, st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
                          st.none(), st.sampled_from(["=1/0", "=SUM(A1:A3)", "=HYPERLINK(\"http://x\")",
                                                      "=A2&\"站\"", "=NA()", "=REPT(\"x\",1000)"])))


_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@st.composite
def xlsx_files(draw):
    header, rows = draw(tables())
    wb = openpyxl.Workbook()
    ws = wb.active
    if draw(st.booleans()):  # an instructions sheet before the data
        ws.title = "说明"
        ws.append(["填表说明：请勿修改表头"])
        ws = wb.create_sheet("站点")
    if draw(st.booleans()):  # a merged title row above the header
        ws.append(["广州市户外劳动者驿站名单"])
        ws.merge_cells(start_row=ws.max_row, start_column=1, end_row=ws.max_row, end_column=max(1, len(header)))
    for row in [header, *rows]:
        values = [_xlsx_value(draw) for _ in row] if draw(st.booleans()) else list(row)
        ws.append([_ILLEGAL_XML.sub("", v) if isinstance(v, str) else v for v in values])
    if draw(st.booleans()):
        wb.create_sheet("备注").append(["只是备注"])
    buf = io.BytesIO()
    wb.save(buf)
    return _mutate(draw, _without_clock(buf.getvalue()))


_FIXED_CORE = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
               b' xmlns:dcterms="http://purl.org/dc/terms/"'
               b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
               b'<dcterms:created xsi:type="dcterms:W3CDTF">2026-01-01T00:00:00Z</dcterms:created>'
               b'</cp:coreProperties>')


def _without_clock(data: bytes) -> bytes:
    """The same workbook with no save time in it.

    openpyxl stamps the time of saving into ``docProps/core.xml`` and each zip entry, so the file's
    length could change across a second and Hypothesis's later draws (which depend on the length)
    would not replay: it raised FlakyStrategyDefinition in CI.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = _FIXED_CORE if info.filename == "docProps/core.xml" else src.read(info)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0)), body,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)
geometry_types = st.sampled_from(["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                                  "MultiPolygon", "GeometryCollection", "Topology", None])


@st.composite
def geometries(draw, depth=0):
    kind = draw(geometry_types)
    if kind == "GeometryCollection" and depth < 3:
        return {"type": kind, "geometries": draw(st.lists(geometries(depth + 1), max_size=3))}
    lonlat = st.tuples(st.floats(113, 114.5), st.floats(22.5, 23.5)).map(list)
    coords = draw(st.one_of(lonlat, st.lists(lonlat, max_size=5), st.lists(st.lists(lonlat, max_size=5), max_size=2),
                            json_values))
    return {"type": kind, "coordinates": coords}


@st.composite
def geojson_files(draw):
    props = st.one_of(st.dictionaries(st.sampled_from(HEADERS), cells, max_size=5), json_values)
    feature = st.fixed_dictionaries({"type": st.just("Feature"), "geometry": st.one_of(geometries(), json_values),
                                     "properties": props})
    doc = draw(st.one_of(
        st.fixed_dictionaries({"type": st.just("FeatureCollection"), "features": st.lists(feature, max_size=6)}),
        feature, geometries(), json_values,
        st.lists(st.dictionaries(st.sampled_from(HEADERS), cells, max_size=4), max_size=5)))
    if isinstance(doc, dict) and draw(st.booleans()):
        doc["crs"] = draw(st.one_of(json_values, st.sampled_from([
            {"type": "name", "properties": {"name": "EPSG:4490"}}, {"properties": {"name": "EPSG:999999"}},
            {"properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, {"properties": {"name": "EPSG:3857"}}])))
    if draw(st.booleans()) and isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        doc = {"type": "FeatureCollection", "features": [doc, *doc["features"]]}  # nested collection
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()), allow_nan=True)
    return _mutate(draw, text.encode("utf-8", errors="surrogatepass"))


@pytest.fixture(scope="module")
def shapefile_parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shp")
    gdf = gpd.GeoDataFrame({"名称": ["天河驿站", "越秀驿站"], "类型": ["驿站", "司机之家"], "车位": [3, 4]},
                           geometry=[Point(*TIANHE), Point(*YUEXIU)], crs="EPSG:4326")
    gdf.to_file(folder / "驿站.shp", driver="ESRI Shapefile", encoding="GBK", engine="pyogrio")
    return {p.suffix.lower(): p.read_bytes() for p in folder.iterdir()}


@st.composite
def shapefile_zips(draw, parts):
    keep = draw(st.lists(st.sampled_from(sorted(parts)), unique=True, min_size=0, max_size=len(parts)))
    prefix = draw(st.sampled_from(["", "导出/", "../", "../../", "/tmp/", "a/../../", "x/"]))
    stem = draw(st.sampled_from(["驿站", "STATIONS", "a", ""]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as zf:
        for ext in keep:
            body = parts[ext]
            if draw(st.integers(0, 4)) == 0:
                body = _mutate(draw, body)
            zf.writestr(zipfile.ZipInfo(prefix + stem + draw(st.sampled_from([ext, ext.upper()]))), body)
        for _ in range(draw(st.integers(0, 2))):
            zf.writestr(zipfile.ZipInfo(prefix + stem + draw(st.sampled_from([".dbf/../../x.dbf", "/../x.shx",
                                                                               ".txt", ".shp.xml"]))),
                        draw(st.binary(max_size=200)))
    return _mutate(draw, out.getvalue())


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


@PROPERTY
@given(data=csv_files())
def test_any_csv_gives_a_report_or_a_read_error(registry, data):
    ingest(data, "upload.csv", registry)


@PROPERTY
@given(data=xlsx_files())
def test_any_xlsx_gives_a_report_or_a_read_error(registry, data):
    ingest(data, "upload.xlsx", registry)


@PROPERTY
@given(data=geojson_files())
def test_any_geojson_gives_a_report_or_a_read_error(registry, data):
    ingest(data, "upload.geojson", registry)


@PROPERTY
@given(data=st.data())
def test_any_zipped_shapefile_gives_a_report_or_a_read_error(registry, shapefile_parts, tmp_path, data):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    before = set(tmp_path.parent.rglob("*"))
    ingest(data.draw(shapefile_zips(shapefile_parts)), "upload.zip", registry)
    assert set(tmp_path.parent.rglob("*")) == before  # nothing written outside the reader's own temp folder


@PROPERTY
@given(data=st.binary(max_size=3000), ext=st.sampled_from(["csv", "xlsx", "geojson", "zip", "gpkg", "json"]))
def test_any_bytes_give_a_report_or_a_read_error(data, ext):
    ingest(data, f"upload.{ext}")


# --------------------------------------------------------------------------
# Explicit cases
# --------------------------------------------------------------------------

HEADER = "名称,经度,纬度,类型,车位数\n"


def test_truncated_utf8_in_the_middle_of_a_character(balanced):
    data = (HEADER + "天河驿站,113.3245,23.1375,驿站,\n越秀驿站,113.2644,23.1291,驿站,").encode("utf-8")
    cut = data[: data.rindex("驿".encode()) + 1]  # one byte into a three-byte character
    report = balanced(ingest(cut, "cut.csv"))
    assert report.rows == 2 and len(report.accepted) == 1
    assert any("�" in n or "undecodable" in n for n in report.notes) or report.encoding != "utf-8"


def test_mixed_encoding_file_reads_with_a_note(balanced):
    data = (HEADER + "天河驿站,113.3245,23.1375,驿站,\n").encode("utf-8") + "越秀驿站,113.2644,23.1291,驿站,\n".encode("gbk")
    report = balanced(ingest(data, "mixed.csv"))
    assert report.rows == 2
    assert "天河驿站" in set(report.accepted["name"]) | set(report.rejects.get("名称", []))


def test_header_only_and_blank_lines(balanced):
    assert balanced(ingest(HEADER.encode(), "h.csv")).rows == 0
    assert balanced(ingest((HEADER + "\n,,,,\n\n").encode(), "h.csv")).rows == 0


def test_nan_and_inf_coordinates_are_rejected(balanced):
    rows = ["甲,nan,23.1,驿站,", "乙,inf,23.1,驿站,", "丙,113.3,-Infinity,驿站,", "丁,1e999,23.1,驿站,",
            "戊,NaN,NaN,驿站,"]
    report = balanced(ingest((HEADER + "\n".join(rows)).encode(), "n.csv"))
    assert len(report.accepted) == 0
    assert set(report.rejects["reason_code"]) <= {"coord_missing", "coord_not_numeric"}


def test_degree_and_full_width_coordinates(balanced):
    rows = ["甲,１１３．２６,２３．１２,驿站,", "乙,113°15′36″,23°7′12″,驿站,", "丙,东经113度15分36秒,北纬23度7分12秒,驿站,",
            "丁,E113°15'36\",N23°7'12\",驿站,"]
    report = balanced(ingest((HEADER + "\n".join(rows)).encode(), "d.csv"))
    assert len(report.accepted) == 4, report.rejects
    assert report.accepted["lon"].round(4).tolist() == [113.26, 113.26, 113.26, 113.26]
    assert report.accepted["lat"].round(4).tolist() == [23.12, 23.12, 23.12, 23.12]


@pytest.mark.parametrize("cell, kept", [("1e400", False), ("1e30", False), ("-5", False), ("2.5", False),
                                        ("１２个", True), ("12", True)])
def test_parking_spaces_out_of_range_become_a_warning(cell, kept, registry, balanced):
    report = balanced(ingest((HEADER + f"司机之家{cell},113.3,23.1,司机之家,{cell}\n").encode(), "p.csv", registry))
    assert len(report.accepted) == 1
    assert (report.accepted["truck_parking_spaces"].iat[0] == 12) if kept else \
        ("bad_number" in set(report.warnings["code"]) and cell in report.accepted["extra"].iat[0])


def test_geojson_bare_geometry_nested_collection_and_broken_geometry(balanced):
    point = {"type": "Point", "coordinates": list(TIANHE)}
    feature = {"type": "Feature", "geometry": point, "properties": {"名称": "天河驿站", "类型": "驿站"}}
    bare = balanced(ingest(json.dumps(point).encode(), "bare.geojson"))
    assert bare.rows == 1 and any("bare geometry" in n for n in bare.notes)
    nested = {"type": "FeatureCollection", "features": [
        {"type": "FeatureCollection", "features": [feature, {"type": "FeatureCollection", "features": [feature]}]},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": "abc"}, "properties": {"名称": "坏点"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.3]}, "properties": {"名称": "一维"}},
        {"type": "Feature", "geometry": [1, 2], "properties": ["不是对象"]},
        7, "not a feature"]}
    report = balanced(ingest(json.dumps(nested, ensure_ascii=False).encode(), "nested.geojson"))
    assert report.rows == 5
    assert report.rejects["reason_code"].tolist().count("geometry_invalid") == 3
    assert any("skipped" in n for n in report.notes)  # the two non-objects are named, not silently lost
    # The surrogate and control characters a JSON file can smuggle in are cleaned.
    sneaky = {"type": "Feature", "geometry": point, "properties": {"名称": "天河\ud800驿站\x00", "类型": "驿站"}}
    clean = balanced(ingest(json.dumps(sneaky).encode(), "s.geojson"))
    assert clean.accepted["name"].iat[0] == "天河\ufffd驿站"


def test_deeply_nested_json_is_one_clear_error():
    err = ingest(('{"type":"GeometryCollection","geometries":[' * 20000 + "]}" * 20000).encode(), "deep.geojson")
    assert isinstance(err, ReadError) and err.code == "too_deep"


def test_unknown_declared_crs_is_ignored_with_a_note(balanced):
    doc = {"type": "FeatureCollection", "crs": {"properties": {"name": "EPSG:999999"}},
           "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": list(TIANHE)},
                         "properties": {"名称": "天河驿站", "类型": "驿站"}}]}
    report = balanced(ingest(json.dumps(doc).encode(), "c.geojson"))
    assert len(report.accepted) == 1 and "EPSG:999999" in report.crs_note and report.crs_used == "wgs84"


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, body in members.items():
            info = zipfile.ZipInfo(name)  # verbatim names, "../" too, as a hostile zip has them
            info.compress_type = method
            zf.writestr(info, body)
    return out.getvalue()


def test_shapefile_zip_missing_dbf_or_prj(shapefile_parts, balanced):
    no_dbf = {f"s{e}": b for e, b in shapefile_parts.items() if e != ".dbf"}
    err = ingest(_zip(no_dbf), "s.zip")
    assert isinstance(err, ReadError) and err.code == "no_dbf"
    no_prj = {f"s{e}": b for e, b in shapefile_parts.items() if e != ".prj"}
    report = balanced(ingest(_zip(no_prj), "s.zip"))
    assert report.rows == 2 and any(".prj" in n for n in report.notes)


def test_shapefile_zip_members_named_after_the_stem_cannot_escape(shapefile_parts, tmp_path, balanced):
    members = {f"s{e}": b for e, b in shapefile_parts.items()}
    members["s/../../../evil.dbf"] = b"evil"
    members["s.dbf/../../evil2"] = b"evil"
    before = set(tmp_path.parent.parent.rglob("evil*"))
    report = balanced(ingest(_zip(members), "s.zip"))
    assert report.rows == 2
    assert set(tmp_path.parent.parent.rglob("evil*")) == before


def _lying_zip(members: dict[str, bytes], lie: dict[str, int]) -> bytes:
    """A zip whose directory and local headers understate some members' sizes."""
    data = bytearray(_zip(members))
    for name, size in lie.items():
        raw = name.encode()
        for sig, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            pos = 0
            while (pos := data.find(sig, pos)) >= 0:
                name_at = pos + (30 if sig == b"PK\x03\x04" else 46)
                if data[name_at:name_at + len(raw)] == raw:
                    data[pos + size_at:pos + size_at + 4] = size.to_bytes(4, "little")
                pos += 4
    return bytes(data)


def test_zip_bombs_are_refused(shapefile_parts, monkeypatch):
    monkeypatch.setattr(settings, "MAX_UPLOAD_BYTES", 200_000)
    # Honest sizes: 20 MB of zeros in a few kB.
    honest = {**{f"s{e}": b for e, b in shapefile_parts.items()}, "s.dbf": shapefile_parts[".dbf"] + b"\0" * 20_000_000}
    err = ingest(_zip(honest), "bomb.zip")
    assert isinstance(err, ReadError) and err.code == "zip_bomb"
    # Lying sizes: the directory says 500 bytes, the member inflates to 20 MB.
    liar = _lying_zip({f"s{e}": b for e, b in honest.items()}, {"s.dbf": 500})
    started = time.perf_counter()
    err = ingest(liar, "bomb.zip")
    assert isinstance(err, ReadError) and err.code in ("zip_bomb", "unreadable")
    assert time.perf_counter() - started < 10
    # The same inside a workbook (an XLSX is a zip; openpyxl reads parts whole).
    wb = openpyxl.Workbook()
    wb.active.append(["名称", "经度", "纬度"])
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    parts["xl/styles.xml"] = parts["xl/styles.xml"] + b" " * 20_000_000
    err = ingest(_lying_zip(parts, {"xl/styles.xml": 2000}), "bomb.xlsx")
    assert isinstance(err, ReadError) and err.code == "zip_bomb"
    err = ingest(_zip(parts), "bomb.xlsx")
    assert isinstance(err, ReadError) and err.code == "zip_bomb"


def _workbook(*sheets: tuple[str, list[list]], merge_title: bool = False) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets:
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if merge_title and name == "站点":
            ws.merge_cells("A1:E1")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_header_under_a_merged_title_row_and_several_sheets(balanced):
    data = _workbook(
        ("说明", [["填表说明"], ["1. 请勿修改表头"], ["2. 坐标用 WGS-84"]]),
        ("站点", [["2024年广州市户外劳动者驿站名单"], ["名称", "经度", "纬度", "类型", "电话"],
                  ["天河驿站", TIANHE[0], TIANHE[1], "驿站", "=HYPERLINK(\"http://x\")"],
                  ["越秀驿站", YUEXIU[0], YUEXIU[1], "驿站", 2012345678]]),
        ("备注", [["只是备注"]]), merge_title=True)
    raw = read_table(data, filename="名单.xlsx")
    assert list(raw.df.columns) == ["名称", "经度", "纬度", "类型", "电话"]
    assert raw.df["名称"].tolist() == ["天河驿站", "越秀驿站"]
    assert any("站点" in n for n in raw.notes) and any("row 2" in n for n in raw.notes)
    # The formula cell has no cached value (openpyxl wrote it): it is read as
    # empty, never as formula text.
    assert raw.df["电话"].tolist() == ["", "2012345678"]
    report = balanced(ingest(data, "名单.xlsx"))
    assert len(report.accepted) == 2


def test_csv_header_under_a_title_line(balanced):
    data = ("广州市户外劳动者驿站名单,,,,\n填报日期：2024-05-01,,,,\n" + HEADER + "天河驿站,113.3245,23.1375,驿站,\n").encode()
    report = balanced(ingest(data, "t.csv"))
    assert report.rows == 1 and len(report.accepted) == 1
    assert any("row 3" in n for n in report.notes)


def test_utf16_without_bom():
    raw = read_table((HEADER + "天河驿站,113.3245,23.1375,驿站,\n").encode("utf-16-le"), filename="u.csv")
    assert raw.df["名称"].tolist() == ["天河驿站"] and raw.encoding == "utf-16"


# The reading is measured in a fresh interpreter by the same harness as bench/trust_limits.py.
limits = load_bench("trust_limits")


def test_a_million_row_csv_is_refused_quickly_in_bounded_memory(tmp_path):
    path = tmp_path / "million.csv"
    limits.write_csv(path, rows=1_000_000)
    size_mb = path.stat().st_size / 2**20
    assert size_mb < settings.MAX_UPLOAD_BYTES / 2**20  # under the size limit: only the row limit can stop it
    m = limits.measure(path)
    print(f"\n1,000,000-row CSV ({size_mb:.0f} MB): {m}")
    assert m["outcome"] == "too_many_rows"
    assert m["seconds"] < 20
    # Reading it whole took ~6x the file (the row lists); refusing it now
    # costs the file's bytes and its decoded text only.
    assert m["growth_mb"] < 3.5 * size_mb


def test_a_long_sheet_is_refused_before_it_is_read_whole(tmp_path, monkeypatch):
    # 20,000 rows against a limit of 1,000: the reader stops just past the limit.
    import geo.registry.io.table
    import geo.registry.io.xlsx

    path = tmp_path / "long.xlsx"
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("站点")
    ws.append(["名称", "经度", "纬度"])
    for i in range(20_000):
        ws.append([f"驿站{i}", 113.3, 23.1])
    wb.save(path)
    pulled = []
    real = geo.registry.io.xlsx._sheet_rows

    def counting(sheet, limit):
        for row in real(sheet, limit):
            pulled.append(row)
            yield row

    monkeypatch.setattr(geo.registry.io.xlsx, "_sheet_rows", counting)
    monkeypatch.setattr(settings, "MAX_ROWS", 1000)
    with pytest.raises(ReadError) as exc:
        read_table(path)
    assert exc.value.code == "too_many_rows"
    assert len(pulled) <= geo.registry.io.table.HEADER_SEARCH_ROWS + 1000 + geo.registry.io.table.HEADER_SEARCH_ROWS + 2
    monkeypatch.setattr(settings, "MAX_ROWS", 20_000)
    pulled.clear()
    assert len(read_table(path).df) == 20_000 and len(pulled) > 20_000


def test_geojson_with_too_many_objects_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(settings, "MAX_ROWS", 100)
    data = ("[" + ",".join(["{}"] * 5000) + "]").encode()
    err = ingest(data, "many.json")
    assert isinstance(err, ReadError) and err.code == "too_many_rows"


def test_random_garbage_of_every_format_at_scale():
    # A fixed-seed sweep of plain random bytes, larger than hypothesis draws.
    rng = random.Random(1121)
    for _ in range(60):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 20_000)))
        ext = rng.choice(["csv", "xlsx", "geojson", "zip", "gpkg"])
        ingest(data, f"noise.{ext}")
