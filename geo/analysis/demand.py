"""Demand weighting for coverage: how much each H3 cell of a grid matters.

A coverage share is "covered demand / all demand". What the demand is
decides what the share means:

* **area** (default): each cell weighs its area in km², so the share is the
  share of the region's land within the standard;
* **population**: a county population table (the 7th census file
  ``guangdong_county_population_2020.csv``: 区划代码, 人口数_合计, ...). Each
  county's population is spread over its cells in proportion to their area
  (H3 cells of one resolution differ by a few per cent), so the cells of a
  county add up to exactly its census figure;
* **raster**: a population GeoTIFF (people per pixel, e.g. WorldPop), read
  with rasterio; pixels are summed into the cells that hold them;
* **points**: demand points with weights from a CSV/XLSX/GeoJSON/GeoPackage
  file (WGS-84, GCJ-02 or BD-09), summed into the cells that hold them.

Every builder returns a :class:`Demand` whose ``values`` line up with the
grid's cells, plus what was dropped (outside the region) and notes.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd

from geo import settings
from geo.analysis.grid import Grid
from geo.core import geodesy
from geo.core.crs import guess_crs_from_headers, normalize_crs, to_wgs84
from geo.registry.io.headers import suggest_mapping
from geo.registry.io.filecheck import check_content, check_path
from geo.registry.io.readers import read_table
from geo.registry.io.table import GEOM_LAT, GEOM_LON
from geo.registry.coordinates import parse_coordinate

DEMAND_KINDS = ("area", "population", "raster", "points")
_RASTER_SUFFIXES = (".tif", ".tiff", ".geotiff")


@dataclass
class Demand:
    """Demand per grid cell, and where it came from.

    Attributes
    ----------
    kind : str
        ``"area"``, ``"population"``, ``"raster"`` or ``"points"``.
    values : ndarray of float
        Demand of each grid cell, in grid order.
    unit : str
        ``"km²"``, ``"people"`` or the weight's name for points.
    source : str or None
        The file read, if any.
    total_in : float
        Demand the source offered for the region (before cells were chosen);
        ``values.sum()`` equals it unless some fell outside every cell.
    dropped : float
        Demand that fell outside the grid (outside the region, or a district
        too small to hold a cell centre).
    notes : list of str
        Bilingual remarks (coordinate system used, rows skipped ...).
    district_population : dict or None
        Adcode -> census population of the region's districts, when a
        population table was read (used for "stations per 100k people").
    """

    kind: str
    values: np.ndarray
    unit: str
    source: str | None = None
    total_in: float = 0.0
    dropped: float = 0.0
    notes: list[str] = field(default_factory=list)
    district_population: dict[str, float] | None = None

    @property
    def total(self) -> float:
        """Demand held by the grid's cells."""
        return float(self.values.sum())

    def to_dict(self) -> dict:
        """Summary for JSON output."""
        return {"kind": self.kind, "unit": self.unit, "source": self.source,
                "total": round(self.total, 3), "total_in": round(float(self.total_in), 3),
                "dropped": round(float(self.dropped), 3), "notes": list(self.notes)}


@dataclass(frozen=True, eq=False)
class DemandSource:
    """Where the demand of a coverage run comes from; with nothing given, each cell's area.

    Attributes
    ----------
    population : str, Path, Series or None
        County population table (a file, or a Series from
        :func:`read_population_table`): demand by population, unless
        ``points`` is given too, and "stations per 100k people".
    points : str, Path, DataFrame or None
        Demand points (CSV/XLSX/GeoJSON ...; a frame with WGS-84 ``lon``,
        ``lat``, ``weight``) or a population GeoTIFF (``.tif``).
    weight_column : str or None
        Weight column of a demand-point file.
    crs : str
        Coordinate system of a demand-point file (``"auto"`` guesses it).
    """

    population: str | Path | pd.Series | None = None
    points: str | Path | pd.DataFrame | None = None
    weight_column: str | None = None
    crs: str = "auto"


# --------------------------------------------------------------------------
# Area
# --------------------------------------------------------------------------


def area_demand(grid: Grid) -> Demand:
    """Each cell weighs its area (km²): coverage by land area."""
    values = grid.area_km2.astype(float).copy()
    return Demand("area", values, "km²", total_in=float(values.sum()))


# --------------------------------------------------------------------------
# Population table
# --------------------------------------------------------------------------


def _number(text) -> float:
    s = unicodedata.normalize("NFKC", str(text)).strip().replace(",", "").replace(" ", "")
    if s == "" or s.lower() in ("nan", "none", "null", "-"):
        return np.nan
    return float(s)


def _pick(columns: list[str], wanted: tuple[str, ...], given: str | None, what: str) -> str:
    if given is not None:
        if given not in columns:
            raise ValueError(f"人口表没有列 {given!r} / the population table has no column {given!r} "
                             f"(columns: {', '.join(columns)})")
        return given
    lower = {c.strip().lower(): c for c in columns}
    for name in wanted:
        if name.lower() in lower:
            return lower[name.lower()]
    raise ValueError(f"人口表找不到{what}列（可用 {', '.join(wanted)}） / no {what} column in the population "
                     f"table (looked for {', '.join(wanted)}; columns: {', '.join(columns)})")


def read_population_table(path: str | Path, code_column: str | None = None,
                          value_column: str | None = None) -> pd.Series:
    """Read a county population table (CSV, XLSX ...) into adcode -> population.

    Parameters
    ----------
    path : str or Path
        A table with an adcode column (``区划代码``; 12-digit statistical
        codes are cut to their 6-digit adcode) and a population column
        (``人口数_合计``); see ``settings.POPULATION_*_COLUMNS``.
    code_column, value_column : str, optional
        Column names, when the defaults do not find them.

    Returns
    -------
    pandas.Series
        Float population indexed by 6-digit adcode, every row of the file
        (province, city and county rows alike); rows without a code or a
        number are skipped. A code listed twice keeps its first row.
    """
    raw = read_table(path)
    cols = [c for c in raw.df.columns if not str(c).startswith("__")]
    code_col = _pick(cols, settings.POPULATION_CODE_COLUMNS, code_column, "区划代码 / adcode")
    value_col = _pick(cols, settings.POPULATION_VALUE_COLUMNS, value_column, "人口 / population")
    codes = raw.df[code_col].map(lambda s: re.sub(r"\D", "", unicodedata.normalize("NFKC", str(s)))[:6])
    values = raw.df[value_col].map(_number)
    ok = (codes.str.len() == 6) & values.notna()
    series = pd.Series(values[ok].to_numpy(float), index=codes[ok].to_numpy(str), name="population")
    return series[~series.index.duplicated()]


def region_districts(grid: Grid) -> list[str]:
    """Adcodes of the districts of the grid's region (those with cells, plus any too small to get one)."""
    from geo.core.regions import load_boundaries

    have = set(np.unique(grid.district[grid.district != ""]).tolist())
    reg = grid.region
    d = load_boundaries("district")
    if reg.level == "province":
        listed = set(d["adcode"])
    elif reg.level == "city":
        listed = set(d.loc[d["city_adcode"] == reg.adcode, "adcode"])
    elif reg.level == "district":
        listed = {reg.adcode} & set(d["adcode"])
    else:
        listed = set()
    return sorted(have | listed)


def population_demand(grid: Grid, table: str | Path | pd.Series,
                      code_column: str | None = None, value_column: str | None = None) -> Demand:
    """Spread each county's census population over its cells.

    County rows are the rows whose adcode is a district of the boundary file
    (so province and city totals are ignored, while 东莞 441900 and 中山
    442000, which have no county level, count once). Each county's figure
    goes to its cells in proportion to their area, so the cells of a county
    add up to its figure exactly.

    Parameters
    ----------
    grid : Grid
        From :func:`geo.analysis.grid.hex_grid`.
    table : str, Path or Series
        A population table file, or a Series from :func:`read_population_table`.

    Returns
    -------
    Demand
        ``kind="population"``, with ``district_population`` for the region's districts.
    """
    source = None
    if not isinstance(table, pd.Series):
        source = str(table)
        table = read_population_table(table, code_column, value_column)
    districts = region_districts(grid)
    pop = {code: float(table[code]) for code in districts if code in table.index}
    notes = []
    missing = [c for c in districts if c not in pop]
    if missing:
        notes.append(f"人口表缺少 {len(missing)} 个区县，其人口按 0 计 / the table lacks {len(missing)} "
                     f"district(s) of the region, counted as 0: {', '.join(missing[:10])}")
    values = np.zeros(len(grid.cells))
    codes, inverse = np.unique(grid.district, return_inverse=True)
    area_sum = np.bincount(inverse, weights=grid.area_km2, minlength=len(codes))
    per_area = np.array([pop.get(c, 0.0) for c in codes]) / np.where(area_sum > 0, area_sum, 1.0)
    values = per_area[inverse] * grid.area_km2
    total_in = float(sum(pop.values()))
    without_cells = [c for c in pop if c not in set(codes.tolist())]
    dropped = float(sum(pop[c] for c in without_cells))
    if without_cells:
        notes.append(f"{len(without_cells)} 个区县在此分辨率下没有格网，人口未计入 / {len(without_cells)} "
                     f"district(s) hold no cell centre at this resolution; their people are left out: "
                     f"{', '.join(without_cells)}")
    return Demand("population", values, "people", source=source, total_in=total_in, dropped=dropped,
                  notes=notes, district_population=pop)


# --------------------------------------------------------------------------
# Assigning positions to cells
# --------------------------------------------------------------------------


def cells_of_points(grid: Grid, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Index into the grid of the cell holding each WGS-84 point, or -1.

    Exact: the H3 cell of each point (:func:`h3.latlng_to_cell`), looked up
    among the grid's cells. A KD-tree of the cell centres settles the points
    that lie well inside a cell's inscribed circle (an H3 cell holds every
    point within its inscribed circle), so only points near a cell edge
    are handed to H3 one by one; that keeps a 10-million-pixel raster cheap.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    out = np.full(len(lon), -1, dtype=np.int64)
    ok = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    if not len(ok) or not len(grid.cells):
        return out
    dist, idx = grid.tree.query(geodesy.xyz(lon[ok], lat[ok]), k=1)
    # A regular hexagon's inscribed radius is half the spacing of neighbouring
    # centres; across Guangdong the smallest H3 cell reaches 0.48 of the
    # median spacing, so 0.42 leaves a safe margin.
    sure = dist < 0.42 * grid.spacing_chord
    out[ok[sure]] = idx[sure]
    rest = ok[~sure]
    if len(rest):
        res = grid.res
        h = np.fromiter((h3i.latlng_to_cell(float(b), float(a), res) for a, b in zip(lon[rest], lat[rest])),
                        dtype=np.int64, count=len(rest))
        pos = np.searchsorted(grid.sorted_cells, h)
        pos = np.clip(pos, 0, len(grid.sorted_cells) - 1)
        hit = grid.sorted_cells[pos] == h
        out[rest[hit]] = grid.sorted_order[pos[hit]]
    return out


# --------------------------------------------------------------------------
# Demand points
# --------------------------------------------------------------------------


def _point_columns(raw, mapping: dict) -> tuple[pd.Series, pd.Series, list[str]]:
    df = raw.df
    if mapping.get("lon") and mapping.get("lat"):
        return df[mapping["lon"]], df[mapping["lat"]], [mapping["lon"], mapping["lat"]]
    if mapping.get("lonlat"):
        col = mapping["lonlat"]
        parts = df[col].astype(str).str.replace("，", ",").str.split(r"[,;\s]+", n=1, regex=True)
        lon = parts.map(lambda p: p[0] if len(p) == 2 else "")
        lat = parts.map(lambda p: p[1] if len(p) == 2 else "")
        return lon, lat, [col]
    if raw.has_geometry:
        return df[GEOM_LON], df[GEOM_LAT], []
    raise ValueError(f"需求点文件找不到经纬度列 / no longitude/latitude columns in the demand file "
                     f"{raw.filename} (columns: {', '.join(map(str, df.columns))})")


def read_demand_points(path: str | Path, weight_column: str | None = None,
                       crs: str = "auto") -> tuple[pd.DataFrame, list[str]]:
    """Read demand points with weights, converted to WGS-84.

    Parameters
    ----------
    path : str or Path
        CSV, XLSX, GeoJSON, GeoPackage or zipped Shapefile with one point
        per row (coordinate columns found as for a station import).
    weight_column : str, optional
        Column holding each point's weight (``charge_count``, ``人数`` ...).
        Default: the first of ``settings.DEMAND_WEIGHT_COLUMNS`` present,
        else every point weighs 1.
    crs : str
        ``"auto"``: the file's declared system (GeoJSON, GeoPackage), else
        a hint in the coordinate headers (``gcj``, ``高德``, ``bd09`` ...), else
        in the file name (``..._gcj02.csv``), else WGS-84. Or any name
        :func:`geo.core.crs.normalize_crs` accepts.

    Returns
    -------
    (DataFrame, list of str)
        Columns ``lon``, ``lat`` (WGS-84) and ``weight``, one row per usable
        point; and notes on what was assumed or skipped.
    """
    raw = read_table(path)
    mapping = suggest_mapping(raw.df.columns)
    lon_text, lat_text, coord_cols = _point_columns(raw, mapping)
    notes: list[str] = []
    if crs and crs != "auto":
        name = normalize_crs(crs)
        notes.append(f"按指定坐标系 {name} 读取 / read as {name}, as asked")
    elif raw.has_geometry and raw.source_crs:
        name = normalize_crs(raw.source_crs)
        notes.append(f"文件声明的坐标系 {name} / the file declares {name}")
    else:
        name = (guess_crs_from_headers(coord_cols) or guess_crs_from_headers([Path(raw.filename).stem])
                or "wgs84")
        notes.append(f"坐标系判定为 {name}（据表头或文件名，否则默认 WGS-84） / coordinates taken as {name} "
                     f"(from the headers or the file name, else WGS-84)")

    cols = [c for c in raw.df.columns if not str(c).startswith("__")]
    if weight_column is not None:
        if weight_column not in cols:
            raise ValueError(f"需求点文件没有列 {weight_column!r} / the demand file has no column "
                             f"{weight_column!r} (columns: {', '.join(map(str, cols))})")
        wcol = weight_column
    else:
        lower = {str(c).strip().lower(): c for c in cols}
        wcol = next((lower[w] for w in settings.DEMAND_WEIGHT_COLUMNS if w in lower), None)

    def num(values) -> np.ndarray:
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            try:
                out[i] = parse_coordinate(v)
            except ValueError:
                pass
        return out

    lon = num(lon_text.tolist())
    lat = num(lat_text.tolist())
    if wcol is None:
        weight = np.ones(len(lon))
        notes.append("每个需求点权重为 1 / every demand point weighs 1")
    else:
        weight = np.array([_safe_number(v) for v in raw.df[wcol].tolist()], dtype=float)
        notes.append(f"权重取自列 {wcol} / weights from column {wcol}")
    good = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(weight) & (weight >= 0)
    if (~good).any():
        notes.append(f"跳过 {int((~good).sum())} 行（坐标或权重无效） / skipped {int((~good).sum())} row(s) "
                     f"with no valid coordinates or weight")
    lon, lat = to_wgs84(lon[good], lat[good], name)
    df = pd.DataFrame({"lon": np.atleast_1d(lon).astype(float), "lat": np.atleast_1d(lat).astype(float),
                       "weight": weight[good]})
    return df, notes


def _safe_number(value) -> float:
    try:
        return _number(value)
    except ValueError:
        return np.nan


def points_demand(grid: Grid, path: str | Path | pd.DataFrame, weight_column: str | None = None,
                  crs: str = "auto") -> Demand:
    """Sum weighted demand points into the grid's cells.

    Parameters
    ----------
    grid : Grid
    path : str, Path or DataFrame
        A file for :func:`read_demand_points`, or a frame with WGS-84
        ``lon``, ``lat`` and optional ``weight`` columns.
    weight_column, crs : str, optional
        See :func:`read_demand_points`.

    Returns
    -------
    Demand
        ``kind="points"``; points outside every cell are counted in ``dropped``.
    """
    if isinstance(path, pd.DataFrame):
        pts, notes, source = path, [], None
        if "weight" not in pts:
            pts = pts.assign(weight=1.0)
    else:
        pts, notes = read_demand_points(path, weight_column, crs)
        source = str(path)
    lon = pts["lon"].to_numpy(float)
    lat = pts["lat"].to_numpy(float)
    w = pts["weight"].to_numpy(float)
    where = cells_of_points(grid, lon, lat)
    inside = where >= 0
    values = np.bincount(where[inside], weights=w[inside], minlength=len(grid.cells)).astype(float)
    outside = int((~inside).sum())
    if outside:
        notes.append(f"{outside} 个需求点在区域之外，未计入 / {outside} demand point(s) fall outside the "
                     f"region's cells and are left out")
    unit = weight_column or ("weight" if "weight" in pts else "points")
    return Demand("points", values, unit, source=source, total_in=float(w.sum()),
                  dropped=float(w[~inside].sum()), notes=notes)


# --------------------------------------------------------------------------
# Population raster
# --------------------------------------------------------------------------


def raster_demand(grid: Grid, path: str | Path, band: int = 1) -> Demand:
    """Sum a population raster (people per pixel) into the grid's cells.

    Each pixel's value goes to the cell holding its centre. Where pixels are
    coarser than cells (a 1 km raster on a res-9 grid), each pixel is split
    into ``m x m`` equal sub-pixels first (``m`` up to 8), so one pixel's
    people spread over the several cells it overlaps instead of landing in
    one. NoData, NaN and negative values count as 0. A raster in another
    coordinate system than WGS-84 is transformed point by point with pyproj.

    Parameters
    ----------
    grid : Grid
    path : str or Path
        A GeoTIFF; anything else (an OGR/GDAL VRT, a URL) is refused.
    band : int
        Band to read (1-based).

    Returns
    -------
    Demand
        ``kind="raster"``; ``total_in`` is the raster's sum over the region's
        bounding box, ``dropped`` the part outside every cell.
    """
    try:
        import rasterio
    except ImportError as exc:  # pragma: no cover - rasterio is in requirements.txt
        raise ValueError("读取栅格需要 rasterio / reading a raster needs rasterio "
                         "(pip install -r requirements.txt)") from exc
    from pyproj import Transformer

    notes: list[str] = []
    path = check_path(path)
    with open(path, "rb") as f:
        check_content(f.read(8), "tiff", path.name)
    # Only the GeoTIFF driver, and no sidecar files (.aux.xml, .ovr) read
    # beside it: the file is the user's, its folder's other files are not.
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_PAM_ENABLED="NO"), \
            rasterio.open(path, driver="GTiff") as src:
        data = src.read(band, masked=True).astype(float).filled(0.0)
        transform = src.transform
        crs = src.crs
    data[~np.isfinite(data) | (data < 0)] = 0.0
    rows, cols = np.nonzero(data)
    vals = data[rows, cols]
    to_wgs = None
    if crs is None:
        notes.append("栅格未声明坐标系，按 WGS-84 处理 / the raster declares no CRS; read as WGS-84")
    elif crs.to_epsg() != 4326:
        to_wgs = Transformer.from_crs(crs.to_wkt(), "EPSG:4326", always_xy=True)

    # Pixel size on the ground (from the centre pixel), against the cells' spacing.
    m = 1
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    if len(rows):
        mc, mr = data.shape[1] / 2, data.shape[0] / 2
        cx, cy = a * mc + b * mr + c, d * mc + e * mr + f
        cx2, cy2 = cx + a + b, cy + d + e
        if to_wgs is not None:
            (cx, cx2), (cy, cy2) = to_wgs.transform([cx, cx2], [cy, cy2])
        px_m = math.radians(abs(cx2 - cx)) * geodesy.EARTH_RADIUS_M * math.cos(math.radians(cy))
        spacing_m = float(geodesy.chord_to_m(grid.spacing_chord)) if len(grid.cells) else px_m
        m = int(min(max(math.ceil(2 * px_m / max(spacing_m, 1e-9)), 1), 8))
    offs = (np.arange(m) + 0.5) / m
    sub_c = np.repeat(offs, m)
    sub_r = np.tile(offs, m)
    col_f = (cols[:, None] + sub_c[None, :]).ravel()
    row_f = (rows[:, None] + sub_r[None, :]).ravel()
    v = np.repeat(vals / (m * m), m * m)
    x = a * col_f + b * row_f + c
    y = d * col_f + e * row_f + f
    if to_wgs is not None:
        x, y = to_wgs.transform(x, y)
        x, y = np.asarray(x), np.asarray(y)
    total_in = float(v.sum())
    where = cells_of_points(grid, x, y)
    inside = where >= 0
    values = np.bincount(where[inside], weights=v[inside], minlength=len(grid.cells)).astype(float)
    if m > 1:
        notes.append(f"栅格像元大于格网，每个像元分为 {m}×{m} 份 / raster pixels are coarser than the cells; "
                     f"each was split into {m}×{m} parts")
    return Demand("raster", values, "people", source=str(path), total_in=total_in,
                  dropped=float(v[~inside].sum()), notes=notes)


# --------------------------------------------------------------------------
# Choosing
# --------------------------------------------------------------------------


def build_demand(grid: Grid, source: DemandSource | None = None) -> Demand:
    """The demand of a coverage run from its source.

    Points (a GeoTIFF -> raster, any other file or a frame -> points) win
    over the population table, which wins over area. When both are given
    the population table still provides ``district_population``.

    Parameters
    ----------
    grid
        The grid of the run.
    source
        Default: demand by area.
    """
    source = source or DemandSource()
    population, points = source.population, source.points
    pop = population_demand(grid, population) if population is not None else None
    if points is not None:
        if isinstance(points, (str, Path)) and Path(points).suffix.lower() in _RASTER_SUFFIXES:
            out = raster_demand(grid, points)
        else:
            out = points_demand(grid, points, source.weight_column, source.crs)
        if pop is not None:
            out.district_population = pop.district_population
            out.notes.extend(pop.notes)
        return out
    if pop is not None:
        return pop
    return area_demand(grid)
