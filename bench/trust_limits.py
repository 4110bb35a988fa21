"""How the importer meets a million rows: time and memory to refuse (or read) them.

    .venv/bin/python bench/trust_limits.py

Each file is read by ``geo.registry.io.readers.read_table`` in a fresh process; the figure
is the growth of peak RSS (``VmHWM``, reset after importing the library),
so it is what reading the file cost. Files are
made in a temporary folder: a 1,000,000-row CSV, a 1,000,000-row XLSX
(sheet XML written directly, as openpyxl would take minutes) and a bare
GeoJSON MultiPoint of 1,000,000 points; all are under the 50 MB upload
limit, so only the row limit (``settings.MAX_ROWS``, 200,000) can stop them.
Results are in bench/RESULTS.md ("Trust").
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N = 1_000_000

MEASURE = r"""
import json, resource, sys, time
from geo.registry.io.readers import ReadError, read_table
import geo.registry.validate  # loaded by the app anyway


def peak_mb():
    try:  # VmHWM is exact; ru_maxrss can lag behind it
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return int(status["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak, so what follows is the reading's own
except OSError:
    pass
base = peak_mb()
start = time.perf_counter()
try:
    table = read_table(sys.argv[1]); outcome, rows, message = "read", len(table.df), ""
except ReadError as exc:
    outcome, rows, message = exc.code, None, exc.en
print(json.dumps({"outcome": outcome, "rows": rows, "message": message,
                  "seconds": round(time.perf_counter() - start, 2), "growth_mb": round(peak_mb() - base, 1)}))
"""


def measure(path: Path, *, env: dict | None = None) -> dict:
    """Read ``path`` in a fresh interpreter: outcome (``read`` or the refusal's code), time and peak growth."""
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=900, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout)


def write_csv(path: Path, *, rows: int = N) -> None:
    """A plain station CSV of ``rows`` rows, written in blocks (the file, not the list, is large)."""
    with path.open("w", encoding="utf-8") as f:
        f.write("名称,经度,纬度,类型\n")
        for start in range(0, rows, 100_000):
            f.write("".join(f"驿站{i},{113 + i % 1000 / 1000:.6f},{23 + i % 997 / 1000:.6f},驿站\n"
                            for i in range(start, min(start + 100_000, rows))))


def _xlsx(path: Path) -> None:
    rows = ['<row r="1"><c r="A1" t="inlineStr"><is><t>名称</t></is></c><c r="B1" t="inlineStr"><is><t>经度</t></is></c>'
            '<c r="C1" t="inlineStr"><is><t>纬度</t></is></c></row>']
    rows += [f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>驿站{i}</t></is></c><c r="B{i}"><v>113.3</v></c>'
             f'<c r="C{i}"><v>23.1</v></c></row>' for i in range(2, N + 2)]
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             + "".join(rows) + "</sheetData></worksheet>")
    ns = "http://schemas.openxmlformats.org"
    parts = {
        "[Content_Types].xml": f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{ns}/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>",
        "_rels/.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}/spreadsheetml/2006/main" '
        f'xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet name="站点" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>",
        "xl/worksheets/sheet1.xml": sheet,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)


def _geojson(path: Path) -> None:
    coords = ",".join(f"[{113 + i % 1000 / 1000:.4f},{23 + i % 997 / 1000:.4f}]" for i in range(N))
    path.write_text('{"type":"MultiPoint","coordinates":[' + coords + "]}", encoding="utf-8")


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("million.csv", write_csv), ("million.xlsx", _xlsx), ("million.geojson", _geojson)):
            path = Path(tmp) / name
            make(path)
            results[name] = {"file_mb": round(path.stat().st_size / 2**20, 1), **measure(path)}
            print(name, results[name], flush=True)
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
