"""Coverage-guided fuzzing of the importers with atheris (libFuzzer for Python).

Not part of the test suite: run it by hand for a bounded time.

    .venv/bin/pip install atheris==3.0.0      # pinned in requirements-dev.txt
    .venv/bin/python bench/fuzz_import.py --seconds 240

Each input's first byte picks the format (CSV, XLSX, GeoJSON, JSON, zipped
Shapefile, GeoPackage); the rest are the file's bytes. The fuzzer starts
from a corpus of valid files of every format, made here, and mutates them
guided by the coverage of ``geo`` and ``openpyxl``.

What counts as a crash: any exception other than :class:`geo.registry.io.readers.ReadError`
escaping ``read_table`` -> ``validate_table`` -> ``commit_import`` ->
``export_bytes``, and a ReadError("unreadable") whose cause was raised
inside ``geo/`` itself (a bug of ours behind the generic "cannot read"
message; third-party parsers refusing bad bytes are fine). Crashes are
recorded (one input per distinct place) and fuzzing goes on; the summary is
printed and written as JSON at the end. Exit status 1 if any crash was found.
``make bench`` runs it briefly (60 s) and skips it when atheris is missing.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:  # the suite never needs it; say so and stop cleanly
    print("atheris is not installed: pip install atheris==3.0.0 (requirements-dev.txt); fuzzing skipped")
    sys.exit(0)

with atheris.instrument_imports(include=["geo", "openpyxl"]):
    from geo.registry.export import export_bytes
    from geo.registry.io.readers import ReadError, read_table
    from geo.registry.store import create_registry
    from geo.registry.validate import validate_table

FORMATS = ["upload.csv", "upload.xlsx", "upload.geojson", "upload.json", "upload.zip", "upload.gpkg"]
GEO_DIR = str(ROOT / "geo")


def _seeds() -> list[bytes]:
    """Valid files of every format: what the mutations start from."""
    import geopandas as gpd
    import openpyxl
    from shapely.geometry import Point, Polygon

    rows = [["名称", "经度", "纬度", "类型", "设施", "开放时间", "车位数", "状态", "电话"],
            ["天河驿站", "113.3245", "23.1375", "暖蜂驿站", "饮用水、卫生间", "24小时", "", "开放", "020-1"],
            ["越秀司机之家", "113°15′52″", "２３．１２９１", "司机之家", "停车", "周一至周五 9:00-17:00", "12", "暂停", "=1+1"],
            ["海珠法律服务站", "113.3", "23.1", "法律援助工作站", "法律咨询", "", "", "", "+86"]]
    seeds = []
    text = "\n".join(",".join(r) for r in rows) + "\n"
    seeds += [b"\x00" + text.encode("utf-8"), b"\x00" + text.encode("gbk"),
              b"\x00" + ("标题行\n" + text.replace(",", "\t")).encode("utf-8-sig")]
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["填表说明"])
    ws = wb.create_sheet("站点")
    ws.append(["2024年驿站名单"])
    ws.merge_cells("A1:I1")
    for r in rows:
        ws.append(r)
    ws.append(["公式站", 113.31, 23.11, "驿站", "=A2&\"x\"", None, 3, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    seeds.append(b"\x01" + buf.getvalue())
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.3245, 23.1375]},
               "properties": dict(zip(rows[0], rows[1]))}
    poly = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[113.3, 23.1], [113.4, 23.1],
                                                                                 [113.4, 23.2], [113.3, 23.1]]]},
            "properties": {"名称": "多边形驿站", "类型": "驿站"}}
    seeds.append(b"\x02" + json.dumps({"type": "FeatureCollection", "features": [
        feature, poly, {"type": "FeatureCollection", "features": [feature]}]}, ensure_ascii=False).encode())
    seeds.append(b"\x02" + json.dumps({"type": "GeometryCollection", "geometries": [
        {"type": "Point", "coordinates": [113.3, 23.1]}, {"type": "MultiPoint", "coordinates": [[113.3, 23.1]]}]}).encode())
    seeds.append(b"\x03" + json.dumps([dict(zip(rows[0], r)) for r in rows[1:]], ensure_ascii=False).encode())
    with tempfile.TemporaryDirectory() as tmp:
        gdf = gpd.GeoDataFrame({"名称": ["天河驿站", "越秀驿站"], "类型": ["驿站", "司机之家"], "车位": [3, 4]},
                               geometry=[Point(113.3245, 23.1375), Polygon([(113.2, 23.1), (113.3, 23.1), (113.3, 23.2)])],
                               crs="EPSG:4326")
        gdf.iloc[:1].to_file(Path(tmp) / "s.shp", driver="ESRI Shapefile", encoding="GBK", engine="pyogrio")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(Path(tmp).glob("s.*")):
                zf.write(part, part.name)
        seeds.append(b"\x04" + out.getvalue())
        gdf.to_file(Path(tmp) / "g.gpkg", layer="驿站", driver="GPKG", engine="pyogrio")
        seeds.append(b"\x05" + (Path(tmp) / "g.gpkg").read_bytes())
    return seeds


class Fuzzer:
    """The per-input target, with the bookkeeping of what it found."""

    def __init__(self, seconds: float, out_dir: Path):
        self.deadline = time.monotonic() + seconds
        self.started = time.monotonic()
        self.out_dir = out_dir
        self.inputs = 0
        self.commits = 0
        self.outcomes: dict[str, int] = {}
        self.crashes: dict[str, dict] = {}
        self._tmp = tempfile.TemporaryDirectory()
        self.registry = create_registry(Path(self._tmp.name) / "fuzz.gpkg")

    def _record(self, data: bytes, exc: BaseException, kind: str) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if f.filename.startswith(GEO_DIR)] or frames
        where = f"{type(exc).__name__} at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else type(exc).__name__
        if where not in self.crashes:
            path = self.out_dir / f"crash-{hashlib.sha1(data).hexdigest()[:12]}"
            path.write_bytes(data)
            self.crashes[where] = {"kind": kind, "message": str(exc)[:300], "input": str(path),
                                   "traceback": "".join(traceback.format_exception(exc))[-3000:]}
            print(f"\n[fuzz] new crash {where}: {str(exc)[:200]} -> {path}", flush=True)

    def __call__(self, data: bytes) -> None:
        if time.monotonic() > self.deadline:
            self.finish()
        self.inputs += 1
        if not data:
            return
        filename = FORMATS[data[0] % len(FORMATS)]
        body = data[1:]
        try:
            raw = read_table(body, filename=filename)
        except ReadError as exc:
            self.outcomes[f"ReadError:{exc.code}"] = self.outcomes.get(f"ReadError:{exc.code}", 0) + 1
            cause = exc.__cause__
            if exc.code == "unreadable" and cause is not None:
                last = traceback.extract_tb(cause.__traceback__)
                if last and last[-1].filename.startswith(GEO_DIR):
                    self._record(body, cause, "masked as 'unreadable'")
            return
        except Exception as exc:
            self._record(body, exc, "read_table")
            return
        try:
            report = validate_table(raw, None)
            assert len(report.accepted) + len(report.rejects) == report.rows, "rows not accounted for"
            if len(report.accepted):
                self.registry.commit_import(report, editor="fuzz")
                stored = self.registry.get(report.accepted["id"].iat[0])
                assert stored is not None, "an accepted station was not stored"
                self.commits += 1
                if self.commits % 300 == 0:  # a fresh registry now and then keeps the pace up
                    self.registry = create_registry(Path(self._tmp.name) / f"fuzz{self.commits}.gpkg")
                for fmt in ("csv", "xlsx", "geojson"):
                    export_bytes(report.accepted, fmt)
            self.outcomes["report"] = self.outcomes.get("report", 0) + 1
        except Exception as exc:
            self._record(body, exc, "validate/commit/export")

    def finish(self) -> None:
        summary = {"seconds": round(time.monotonic() - self.started, 1), "inputs": self.inputs,
                   "outcomes": dict(sorted(self.outcomes.items())), "crashes": len(self.crashes),
                   "distinct_crashes": {k: {x: v[x] for x in ("kind", "message", "input")}
                                        for k, v in self.crashes.items()}}
        (self.out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2))
        for where, info in self.crashes.items():
            (self.out_dir / f"traceback-{hashlib.sha1(where.encode()).hexdigest()[:8]}.txt").write_text(
                where + "\n" + info["traceback"])
        print("\n[fuzz] " + json.dumps(summary, ensure_ascii=False, indent=2), flush=True)
        # libFuzzer would otherwise run on; leave at once, with the verdict.
        os._exit(1 if self.crashes else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", 60)),
                        help="how long to fuzz (default 60, or FUZZ_SECONDS)")
    parser.add_argument("--out", default=os.environ.get("FUZZ_OUT", str(Path(tempfile.gettempdir()) / "geo-fuzz")),
                        help="folder for crashing inputs and summary.json")
    args, libfuzzer_args = parser.parse_known_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus"
    corpus.mkdir(exist_ok=True)
    for seed in _seeds():
        (corpus / hashlib.sha1(seed).hexdigest()[:16]).write_bytes(seed)
    fuzzer = Fuzzer(args.seconds, out)
    atheris.Setup([sys.argv[0], "-rss_limit_mb=6144", "-timeout=60", "-max_len=200000",
                   *libfuzzer_args, str(corpus)], fuzzer)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
