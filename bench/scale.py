"""A national-size registry on both backends (issue 14): import, size, nearest 5, a city's bbox, an edit, an export.

186,100 generated stations (the ACFTU's count of 工会驿站), every one
labelled 示例数据 / sample data (``is_sample``, source ``bench-scale``):
placed around 40 large Chinese cities, each a normal spread weighted by a
rough population figure, so density follows where people live. They are
no real stations.

For the GeoPackage and for PostGIS (a throwaway server started as the tests
start it, unless ``--pg URL`` names a database holding no registry):

* **import**: ``store.commit_import`` of the whole validated set in one
  transaction (validation itself is the same for both and not timed), and
  the size on disk (file, or ``pg_database_size``);
* **nearest 5** by straight line at 1,000 random points of the populated
  area, p50/p95: PostGIS KNN (``ORDER BY geom <-> point LIMIT 20`` on the
  GiST index, then the 20 re-ranked by geodesic distance on the spheroid)
  against the obvious alternative, a SciPy KD-tree on unit-sphere vectors
  of the stations loaded into memory (its build and the load are timed
  apart); the share of points where both give the same 5 is printed;
* **bbox** of one city (Guangzhou) as GeoJSON of its public stations:
  PostGIS ``&&`` on the index with ``ST_AsGeoJSON`` in SQL, against
  ``load()`` + filter + GeoJSON in Python, which is what a GeoPackage
  store offers;
* **edit**: ``store.update`` with the version check, p50 of 20 stations in
  Guangzhou (an edit is validated against the service region, Guangdong);
* **rename**: the same for a new name, which the duplicate rule checks
  against the stations in a box around the point, against that check made
  on the station's whole layer loaded, the obvious way (ratio printed);
* **a server's copy after an edit**: what the public API does to show an
  edit (``geo.registry.live.LiveStations``: the stations the new audit
  rows name, patched into its copy), p50 of the same 20 edits; the ratio
  against ``load()`` of everything, which it did before, is printed;
* **a Streamlit page's stations on each rerun**: ``st.cache_data``, the
  obvious way, unpickles a whole copy for every call (every rerun of every
  page, every session; after an edit it also pickles one), against what
  ``pages/common/shell.py`` does, one frame shared by the process and
  handed out as a shallow copy (copy-on-write); the ratio is printed;
* **export**: ``load()`` + ``export_file(..., GeoJSON)`` of everything.

Usage::

    .venv/bin/python bench/scale.py                 # 186,100 stations
    .venv/bin/python bench/scale.py --n 20000       # a quick run
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.core.schema import FIELD_NAMES  # noqa: E402
from geo.registry.export import export_file, redact_private  # noqa: E402
from geo.registry.live import LiveStations  # noqa: E402
from geo.registry.store import create_registry, open_store  # noqa: E402
from geo.registry.store.base import check_no_twin  # noqa: E402
from geo.registry.validate import ImportReport  # noqa: E402

#: (lon, lat, population in millions, spread in degrees): rough figures, only to weight the sample.
CITIES = [
    (121.47, 31.23, 24.9, 0.45), (116.40, 39.90, 21.9, 0.45), (106.55, 29.56, 32.1, 1.2), (113.26, 23.13, 18.8, 0.4),
    (114.06, 22.54, 17.7, 0.25), (104.07, 30.57, 21.2, 0.6), (117.20, 39.13, 13.9, 0.4), (114.31, 30.59, 13.7, 0.4),
    (108.94, 34.34, 13.0, 0.4), (120.16, 30.27, 12.4, 0.4), (118.80, 32.06, 9.5, 0.35), (113.62, 34.75, 12.7, 0.4),
    (112.94, 28.23, 10.4, 0.4), (123.43, 41.81, 9.1, 0.4), (126.53, 45.80, 9.9, 0.5), (125.32, 43.82, 9.1, 0.5),
    (114.51, 38.04, 11.2, 0.5), (112.55, 37.87, 5.4, 0.4), (117.12, 36.65, 9.4, 0.4), (120.38, 36.07, 10.3, 0.4),
    (119.30, 26.08, 8.4, 0.4), (118.09, 24.48, 5.3, 0.3), (102.71, 25.04, 8.6, 0.4), (106.63, 26.65, 6.0, 0.4),
    (108.37, 22.82, 8.8, 0.5), (110.35, 20.02, 2.9, 0.3), (115.86, 28.68, 6.5, 0.4), (117.23, 31.82, 9.4, 0.4),
    (103.83, 36.06, 4.4, 0.3), (87.62, 43.83, 4.1, 0.3), (111.75, 40.84, 3.5, 0.3), (101.78, 36.62, 2.5, 0.3),
    (106.23, 38.49, 2.9, 0.3), (91.13, 29.65, 0.9, 0.2), (113.12, 23.02, 9.5, 0.3), (113.75, 23.02, 10.5, 0.3),
    (120.30, 31.57, 7.5, 0.3), (120.59, 31.30, 12.7, 0.35), (121.55, 29.87, 9.4, 0.4), (114.30, 35.75, 30.0, 2.5),
]
GUANGZHOU_BBOX = (112.95, 22.55, 114.05, 23.95)  # lon/lat, WGS-84


def sample_report(n: int, seed: int = 14) -> ImportReport:
    """``n`` generated sample stations as a validated import (every field canonical, every one labelled sample)."""
    rng = np.random.default_rng(seed)
    weights = np.array([c[2] for c in CITIES])
    city = rng.choice(len(CITIES), size=n, p=weights / weights.sum())
    lon = np.array([CITIES[c][0] for c in city]) + rng.normal(0, 1, n) * np.array([CITIES[c][3] for c in city])
    lat = np.array([CITIES[c][1] for c in city]) + rng.normal(0, 1, n) * np.array([CITIES[c][3] for c in city]) * 0.8
    kinds = rng.choice(["rest_station", "driver_home", "legal_aid"], size=n, p=[0.9, 0.06, 0.04])
    prefix = {"rest_station": "RS", "driver_home": "DH", "legal_aid": "LA"}
    df = pd.DataFrame({name: "" for name in FIELD_NAMES}, index=range(n))
    df["id"] = [f"{prefix[k]}-{i:010x}" for i, k in enumerate(kinds)]
    df["name"] = [f"示例驿站 {i} / sample station {i}" for i in range(n)]
    df["kind"] = kinds
    df["lon"], df["lat"] = lon.round(6), lat.round(6)
    df["facilities"] = [["drinking_water", "toilet"]] * n
    df["facilities_other"] = [[]] * n
    df["is_24h"] = False
    df["status"] = "open"
    df["source"], df["source_id"] = "bench-scale", [str(i) for i in range(n)]
    df["truck_parking_spaces"] = [10 if k == "driver_home" else None for k in kinds]
    df["lawyer_hours"] = ["周三下午" if k == "legal_aid" else None for k in kinds]
    df["is_sample"] = True
    df["public"] = rng.random(n) > 0.05
    df["version"], df["updated_at"] = None, None
    df["row"] = np.arange(1, n + 1)
    accepted = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
    return ImportReport(rows=n, accepted=accepted, rejects=pd.DataFrame(), warnings=pd.DataFrame(),
                        crs_used="wgs84", crs_note="generated", mapping={}, kind=None, source="bench-scale",
                        filename="scale-sample.csv", format="csv")


def _pct(values: list[float]) -> dict:
    ms = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3)}


def _unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def _knn_sql() -> str:
    return ("SELECT id FROM (SELECT id, geom FROM stations ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326)"
            " LIMIT 20) c ORDER BY ST_DistanceSpheroid(c.geom, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326)) LIMIT 5")


def _bbox_sql() -> str:
    return ("SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object("
            "'type', 'Feature', 'geometry', ST_AsGeoJSON(geom, 7)::json, 'properties', json_build_object("
            "'id', id, 'name', name, 'kind', kind))), '[]'::json))::text FROM stations "
            "WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326) AND public")


def _page_copy(frame: gpd.GeoDataFrame, repeats: int = 5) -> dict:
    """A Streamlit page's stations after an edit and on each rerun: ``st.cache_data`` against one shared frame."""
    redact, pickling, rerun, shared = [], [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        public = redact_private(frame)  # both ways, once after an edit
        redact.append(time.perf_counter() - t)
        t = time.perf_counter()
        blob = pickle.dumps(public, protocol=pickle.HIGHEST_PROTOCOL)  # what st.cache_data stored after an edit
        pickling.append(time.perf_counter() - t)
        t = time.perf_counter()
        pickle.loads(blob)  # what st.cache_data returns on every call
        rerun.append(time.perf_counter() - t)
        t = time.perf_counter()
        public.copy(deep=False)  # what pages/common/shell.py returns on every call
        shared.append(time.perf_counter() - t)
    return {"redact_after_an_edit": _pct(redact), "pickle_after_an_edit": _pct(pickling),
            "each_rerun_cache_data": _pct(rerun), "each_rerun_shared": _pct(shared),
            "pickle_mb": round(len(blob) / 1e6, 1)}


def _renames(store, ids: list[str]) -> tuple[dict, dict]:
    """A rename (the duplicate check reads the stations in a box) against that check on the loaded layer."""
    renames, by_layer = [], []
    for i, sid in enumerate(ids):
        current = store.get(sid)
        t = time.perf_counter()
        store.update(sid, {"name": f"{current['name']} 改名 {i}"}, expected_version=current["version"], editor="bench")
        renames.append(time.perf_counter() - t)
        t = time.perf_counter()
        check_no_twin(store.load(kinds=[current["kind"]]), store.get(sid), exclude=[sid])  # the obvious way
        by_layer.append(time.perf_counter() - t)
    return _pct(renames), _pct(by_layer)


def run(location: str, report: ImportReport, points: np.ndarray, folder: Path) -> dict:
    """Every figure for one backend."""
    out: dict = {}
    store = create_registry(location)
    t = time.perf_counter()
    store.commit_import(report, editor="bench")
    out["import_s"] = round(time.perf_counter() - t, 2)
    if location.startswith("postgresql://"):
        with psycopg.connect(location) as conn:
            conn.execute("ANALYZE stations")  # planner statistics, as autovacuum would gather them
            out["size_mb"] = round(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20, 1)
    else:
        out["size_mb"] = round(Path(location).stat().st_size / 2**20, 1)

    t = time.perf_counter()
    stations = store.load()
    out["load_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    tree = cKDTree(_unit(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float)))
    out["kdtree_build_s"] = round(time.perf_counter() - t, 3)
    ids = stations["id"].to_numpy()
    kd, kd_sets = [], []
    for x, y in points:
        t = time.perf_counter()
        _, idx = tree.query(_unit(np.array([x]), np.array([y]))[0], k=5)
        kd_sets.append(set(ids[idx]))
        kd.append(time.perf_counter() - t)
    out["nearest5_kdtree"] = _pct(kd)

    city = stations.cx[GUANGZHOU_BBOX[0]:GUANGZHOU_BBOX[2], GUANGZHOU_BBOX[1]:GUANGZHOU_BBOX[3]]
    t = time.perf_counter()
    loaded = store.load()
    inside = loaded.cx[GUANGZHOU_BBOX[0]:GUANGZHOU_BBOX[2], GUANGZHOU_BBOX[1]:GUANGZHOU_BBOX[3]]
    inside = inside[inside["public"]]
    text = inside[["id", "name", "kind", "geometry"]].to_json()
    out["bbox_load_filter_s"] = round(time.perf_counter() - t, 3)
    out["bbox_features"] = len(json.loads(text)["features"])
    out["bbox_all_in_city"] = int(len(city))

    if location.startswith("postgresql://"):
        with psycopg.connect(location) as conn:
            pg = []
            agree = 0
            for (x, y), expected in zip(points, kd_sets):
                t = time.perf_counter()
                got = {r[0] for r in conn.execute(_knn_sql(), {"x": float(x), "y": float(y)})}
                pg.append(time.perf_counter() - t)
                agree += got == expected
            out["nearest5_postgis_knn"] = _pct(pg)
            out["knn_same_as_kdtree"] = round(agree / len(points), 4)
            times = []
            for _ in range(20):
                t = time.perf_counter()
                doc = conn.execute(_bbox_sql(), GUANGZHOU_BBOX).fetchone()[0]
                times.append(time.perf_counter() - t)
            out["bbox_postgis_sql"] = _pct(times)
            assert len(json.loads(doc)["features"]) == out["bbox_features"]

    edits, patches = [], []
    live = LiveStations(open_store(location))  # a server's copy, as the public API keeps it
    live.frame()
    # Edits are validated against the service region (Guangdong): stations of the Guangzhou box.
    some = city["id"].iloc[:: max(1, len(city) // 20)].tolist()[:20]
    for sid in some:
        current = store.get(sid)
        t = time.perf_counter()
        store.update(sid, {"notes": "bench edit"}, expected_version=current["version"], editor="bench")
        edits.append(time.perf_counter() - t)
        t = time.perf_counter()
        live.frame()
        patches.append(time.perf_counter() - t)
        assert live.last_update == "patch"
    out["edit"] = _pct(edits)
    out["rename"], out["twin_check_by_layer_load"] = _renames(store, some[:5])
    out["server_copy_after_an_edit"] = _pct(patches)
    out["page_copy"] = _page_copy(live.frame())

    t = time.perf_counter()
    loaded = store.load()
    export_file(loaded, folder / f"export-{os.getpid()}-{len(out)}.geojson", public_only=True)
    out["export_geojson_s"] = round(time.perf_counter() - t, 2)
    pd.testing.assert_frame_equal(live.frame(), loaded)  # the patched copy is what a load gives
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=186_100, help="stations (default 186,100)")
    parser.add_argument("--points", type=int, default=1000, help="random query points (default 1,000)")
    parser.add_argument("--pg", help="a postgresql:// database without a registry (default: a throwaway server)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    report = sample_report(args.n)
    rng = np.random.default_rng(7)
    near = rng.choice(len(report.accepted), size=args.points)
    points = np.column_stack([report.accepted["lon"].to_numpy(float)[near] + rng.normal(0, 0.05, args.points),
                              report.accepted["lat"].to_numpy(float)[near] + rng.normal(0, 0.05, args.points)])
    server = None
    with tempfile.TemporaryDirectory(prefix="geo-scale-") as tmp:
        folder = Path(tmp)
        url = args.pg
        if url is None:
            sys.path.insert(0, str(ROOT / "tests"))
            from pg_server import PgServer

            server = PgServer()
            url = server.new_database("scale")
        try:
            results = {"stations": args.n, "points": args.points,
                       "gpkg": run(str(folder / "scale.gpkg"), report, points, folder),
                       "postgis": run(url, report, points, folder)}
        finally:
            if server is not None:
                server.stop()
    g, p = results["gpkg"], results["postgis"]
    results["ratios"] = {
        "knn_p95_kdtree_over_postgis": round(p["nearest5_kdtree"]["p95_ms"] / p["nearest5_postgis_knn"]["p95_ms"], 2),
        "bbox_load_filter_over_postgis_sql": round(g["bbox_load_filter_s"] * 1000 / p["bbox_postgis_sql"]["p50_ms"], 1),
        "import_postgis_over_gpkg": round(p["import_s"] / g["import_s"], 2),
        **{f"page_rerun_cache_data_over_shared_{name}":
           round(r["page_copy"]["each_rerun_cache_data"]["p50_ms"] / r["page_copy"]["each_rerun_shared"]["p50_ms"], 1)
           for name, r in (("gpkg", g), ("postgis", p))},
        **{f"twin_check_layer_load_over_rename_{name}":
           round(r["twin_check_by_layer_load"]["p50_ms"] / r["rename"]["p50_ms"], 1)
           for name, r in (("gpkg", g), ("postgis", p))},
        **{f"load_over_patch_{name}": round(r["load_s"] * 1000 / r["server_copy_after_an_edit"]["p50_ms"], 1)
           for name, r in (("gpkg", g), ("postgis", p))},
    }
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
