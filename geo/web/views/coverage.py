"""Support for the planner's coverage page: bands, map layers, tables, downloads.

``pages/3_覆盖_Coverage.py`` only arranges widgets; what it shows is
computed here from a :class:`geo.analysis.coverage.CoverageResult`:

* **Travel bands** (:func:`travel_bands`): the travel to the nearest station
  cut at a third, two thirds, one and two times the standard's threshold
  (≤5, 5–10, 10–15, 15–30, >30 min for a 15-minute standard), plus
  "unreachable". Colours are ColorBrewer's YlOrRd, a sequential palette
  that stays ordered for the common colour-vision deficiencies; every band
  also has a text label, so colour is never the only cue.
* **Map layers** (:func:`map_layers`): never one polygon per cell. Cells are
  dissolved into one (multi)polygon per district and band, and then
  simplified as a coverage (neighbours keep their shared edges) to about
  half a pixel of the map that shows the whole region. A grid of more than
  ``MAP_MAX_CELLS`` cells (the province at res 8 or 9) is first drawn at
  the coarser parent resolution that fits, each parent taking the band and
  district of most of its area. If the layers still weigh more than
  ``MAP_BUDGET_BYTES`` the tolerance grows until they fit: the province at
  res 8 ships ~600 polygons (~1.2 MB of HTML), not 253,458 hexagons.
  Geometry travels as integer steps (:func:`encode_geometries`), about 40%
  of the size of GeoJSON.
* **Tables and headline figures** (:func:`district_table`,
  :func:`gap_table`, :func:`headline`, :func:`figures_html`), with column
  specs the page turns into ``st.column_config``.
* **Inputs and downloads**: uploaded population tables and demand points
  (:func:`read_population_upload`, :func:`read_points_upload`), and the
  bytes of every export (:func:`export_bytes`).

This module never imports streamlit; the folium map itself is
:func:`geo.web.maps.builders.coverage_map`.
"""
from __future__ import annotations

import html
import json
import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import shapely

from geo import settings
from geo.analysis.coverage import CoverageResult
from geo.analysis.export import write_layer
from geo.analysis.grid import cell_polygons
from geo.analysis.standard import Standard
from geo.core.i18n import pick, t
from geo.core.regions import Region, find_region, load_boundaries

log = logging.getLogger(__name__)

#: The 7th census county table beside the repository. Optional: the page
#: offers it when present and otherwise asks for an upload.
CENSUS_PATH = settings.ROOT.parent / "shared" / "data" / "guangdong_county_population_2020.csv"

#: Most cells drawn at the analysis resolution; a larger grid is drawn at
#: the finest coarser H3 resolution that fits: the province (253,458 cells
#: at res 8, 1.77 million at res 9) is drawn at res 7, ~36,000 cells of
#: ~2.4 km, about 3 pixels each when the whole province is in view.
MAP_MAX_CELLS = 100_000

#: Most bytes the map's layer data may take (bands, gaps, stations,
#: outlines); the simplification tolerance grows until they fit. Leaflet and
#: the page add ~50 kB, so the map stays well under 5 MB.
MAP_BUDGET_BYTES = 3_000_000

#: Width in pixels of the map the region is fitted to: the tolerance is
#: about half a pixel at that zoom.
MAP_WIDTH_PX = 1000

#: Gaps outlined on the map, most demand first.
MAP_MAX_GAPS = settings.COVERAGE_MAX_GAPS

#: Fill colours of the travel bands, nearest first (ColorBrewer YlOrRd, 5
#: classes, marked colour-blind safe), and of unreachable cells.
BAND_COLOURS: tuple[str, ...] = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
UNREACHABLE_COLOUR = "#8c8c8c"

#: Weighting choices of the page.
WEIGHTINGS: tuple[str, ...] = ("area", "population", "points")

#: Coordinate systems a demand-point upload may be in.
POINT_CRS: tuple[str, ...] = ("auto", "wgs84", "gcj02", "bd09")


# --------------------------------------------------------------------------
# Regions
# --------------------------------------------------------------------------


def province_adcode() -> str:
    """The service region's adcode (``settings.SERVICE_REGION``, Guangdong)."""
    return str(settings.SERVICE_REGION)


def city_choices() -> list[tuple[str, str]]:
    """``(adcode, name)`` of the province's cities, in adcode order."""
    cities = load_boundaries("city")
    return list(zip(cities["adcode"].astype(str), cities["name"].astype(str)))


def district_choices(city_adcode: str) -> list[tuple[str, str]]:
    """``(adcode, name)`` of a city's districts; empty for a city with no county level (东莞, 中山)."""
    d = load_boundaries("district")
    sub = d[(d["city_adcode"] == str(city_adcode)) & (d["adcode"] != str(city_adcode))]
    return list(zip(sub["adcode"].astype(str), sub["name"].astype(str)))


def region_for(city: str | None, district: str | None) -> Region:
    """The region picked on the page: a district, else a city, else the province."""
    return find_region(district or city or province_adcode())


# --------------------------------------------------------------------------
# Standard
# --------------------------------------------------------------------------


def default_standard(kind: str) -> dict:
    """The settings' standard of a kind: ``mode``, ``unit`` (``min``/``m``) and ``value``."""
    base = settings.COVERAGE_STANDARDS.get(kind) or settings.COVERAGE_STANDARDS[settings.COVERAGE_DEFAULT_KINDS[0]]
    if base.get("minutes") is not None:
        return {"mode": base["mode"], "unit": "min", "value": float(base["minutes"])}
    return {"mode": base["mode"], "unit": "m", "value": float(base["meters"])}


def default_value(kind: str, unit: str) -> float:
    """The threshold prefilled for a kind in a unit: the settings' value, else 1,000 m or 15 min."""
    std = default_standard(kind)
    if std["unit"] == unit:
        return std["value"]
    return 1000.0 if unit == "m" else 15.0


def standard_text(standard: Standard, lang: str = "zh") -> str:
    """The standard in one language, e.g. ``户外劳动者驿站：电动自行车 15 分钟内``."""
    return pick(standard.describe(), lang)


# --------------------------------------------------------------------------
# Travel bands
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """One class of the travel choropleth.

    Attributes
    ----------
    index : int
        Position, nearest first; the unreachable band is last.
    lower, upper : float
        Travel range ``(lower, upper]`` in the standard's unit; ``upper`` is
        ``inf`` for the last reachable band, and both are ``inf`` for
        unreachable cells.
    colour : str
        Fill colour.
    covered : bool
        Whether the band lies within the standard.
    """

    index: int
    lower: float
    upper: float
    colour: str
    covered: bool

    @property
    def reachable(self) -> bool:
        """False for the band of cells with no reachable station."""
        return math.isfinite(self.lower)


def _nice(x: float) -> float:
    # Two significant figures: 6.67 -> 6.7, 333.3 -> 330; whole numbers stay.
    if x <= 0 or float(x).is_integer():
        return float(x)
    digits = 1 - int(math.floor(math.log10(abs(x))))
    return float(round(x, digits))


def travel_bands(standard: Standard) -> list[Band]:
    """The choropleth's bands for a standard.

    Cut at a third, two thirds, one and two times the threshold: ≤5, 5–10,
    10–15, 15–30 and >30 minutes for a 15-minute standard (the inner cuts
    rounded to two significant figures), then unreachable. The first three
    bands are exactly the covered cells (travel ≤ threshold).

    Returns
    -------
    list of Band
        Six bands, nearest first, unreachable last.
    """
    th = standard.threshold
    cuts = [_nice(th / 3), _nice(2 * th / 3), th, 2 * th]
    lows = [0.0, *cuts]
    highs = [*cuts, math.inf]
    bands = [Band(i, lo, hi, BAND_COLOURS[i], hi <= th) for i, (lo, hi) in enumerate(zip(lows, highs))]
    bands.append(Band(len(bands), math.inf, math.inf, UNREACHABLE_COLOUR, False))
    return bands


def band_index(values: np.ndarray, bands: list[Band]) -> np.ndarray:
    """Band of each travel value (``inf`` and NaN: the unreachable band)."""
    values = np.asarray(values, dtype=float)
    cuts = np.array([b.upper for b in bands if b.reachable and math.isfinite(b.upper)])
    out = np.searchsorted(cuts, values, side="left").astype(np.int64)
    out[~np.isfinite(values)] = len(bands) - 1
    return out


def _amount(x: float) -> str:
    return format(float(x), ",g")


def band_label(band: Band, unit: str, lang: str = "zh") -> str:
    """Text label of a band, e.g. ``5–10 分钟`` / ``>30 min`` / ``无法到达``."""
    if not band.reachable:
        return t("cv_band_unreachable", lang)
    u = t("cv_unit_min" if unit == "min" else "cv_unit_m", lang)
    if band.lower <= 0:
        return t("cv_band_le", lang, b=_amount(band.upper), unit=u)
    if not math.isfinite(band.upper):
        return t("cv_band_gt", lang, a=_amount(band.lower), unit=u)
    return t("cv_band_range", lang, a=_amount(band.lower), b=_amount(band.upper), unit=u)


def band_summary(result: CoverageResult) -> pd.DataFrame:
    """Cells, area and demand per band, with their shares of the region.

    Returns
    -------
    DataFrame
        One row per band (``band``, ``cells``, ``area_km2``, ``demand``,
        ``share_area``, ``share_demand``), unreachable included.
    """
    bands = travel_bands(result.standard)
    b = band_index(result.cells["travel"].to_numpy(float), bands)
    k = len(bands)
    area = result.cells["area_km2"].to_numpy(float)
    dem = result.cells["demand"].to_numpy(float)
    a = np.bincount(b, weights=area, minlength=k)
    d = np.bincount(b, weights=dem, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({"band": np.arange(k), "cells": np.bincount(b, minlength=k), "area_km2": a,
                             "demand": d, "share_area": a / a.sum() if a.sum() > 0 else np.zeros(k),
                             "share_demand": d / d.sum() if d.sum() > 0 else np.zeros(k)})


# --------------------------------------------------------------------------
# Map layers
# --------------------------------------------------------------------------


@dataclass
class MapLayers:
    """What the coverage map draws, already aggregated and simplified.

    Attributes
    ----------
    region : Region
    standard : Standard
    method : str
        ``"network"`` or ``"estimate"``.
    method_cells : dict
        Cells per method (``network``, ``estimate``, ``unreachable``).
    bands : list of Band
    band_stats : DataFrame
        :func:`band_summary` of the result.
    band_polygons : GeoDataFrame
        One feature per district and band: ``district``, ``band``,
        ``cells``, ``area_km2``, ``demand`` (from the analysis cells) and
        the dissolved, simplified geometry. When drawn coarser, a district's
        band too small to win a parent cell is not drawn.
    gap_polygons : GeoDataFrame
        The ``MAP_MAX_GAPS`` largest gaps: ``gap``, ``cells``,
        ``area_km2``, ``demand``, ``district``, ``station_distance_m``,
        simplified geometry.
    gaps_total : int
        Gaps in the result (those drawn are the largest).
    stations : DataFrame
        Serving stations near the region: ``name``, ``kind``, ``lon``,
        ``lat``, ``is_sample``.
    district_names : dict
        Adcode -> district name.
    outlines : GeoDataFrame
        The region's district outlines (lines), simplified.
    bounds : list
        ``[[south, west], [north, east]]`` of the region.
    resolution, display_resolution : int
        H3 resolution of the analysis and of the drawing.
    tolerance, precision : float
        Simplification tolerance and coordinate grid, degrees.
    demand_unit : str
    """

    region: Region
    standard: Standard
    method: str
    method_cells: dict
    bands: list[Band]
    band_stats: pd.DataFrame
    band_polygons: gpd.GeoDataFrame
    gap_polygons: gpd.GeoDataFrame
    gaps_total: int
    stations: pd.DataFrame
    district_names: dict
    outlines: gpd.GeoDataFrame
    bounds: list
    resolution: int
    display_resolution: int
    tolerance: float
    precision: float
    demand_unit: str

    _texts: dict = field(default_factory=dict, repr=False)

    def geometry_texts(self, layer: str) -> list[str]:
        """Encoded geometry (:func:`encode_geometries`) of ``band_polygons``, ``gap_polygons`` or ``outlines``.

        Built once per layers object, and reused by every map drawn from it.
        """
        if layer not in self._texts:
            frame = getattr(self, layer)
            self._texts[layer] = encode_geometries(frame.geometry.to_numpy(), self.precision) if len(frame) else []
        return self._texts[layer]

    def payload_bytes(self) -> int:
        """Size of the layers as sent to the browser (geometry, properties, stations)."""
        total = sum(len(s) for layer in ("band_polygons", "gap_polygons", "outlines")
                    for s in self.geometry_texts(layer))
        # Properties: ~70 bytes per feature, ~60 per station.
        return total + 70 * (len(self.band_polygons) + len(self.gap_polygons)) + 60 * len(self.stations)


def _ring_ints(coords: np.ndarray, precision: float, closed: bool) -> list[int]:
    q = np.round(np.asarray(coords, dtype=float)[:, :2] / precision).astype(np.int64)
    if closed and len(q) > 3:
        q = q[:-1]  # Leaflet closes polygon rings itself
    if not len(q):
        return []
    d = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return d.ravel().tolist()


def encode_geometries(geoms: np.ndarray, precision: float) -> list[str]:
    """Polygons or lines as compact JSON text for the map, about 40% of GeoJSON's size.

    Each geometry becomes a list of parts (polygons, or lines); a polygon is
    a list of rings; a ring or line is one flat list of integers: the first
    vertex in units of ``precision`` degrees, then each vertex's difference
    from the previous one (``[x0, y0, dx1, dy1, ...]``, lon before lat).
    Polygon rings leave out their closing vertex. ``geo.web.maps.builders`` decodes it
    in the browser into GeoJSON coordinates.

    Parameters
    ----------
    geoms : array of shapely geometries
        (Multi)polygons or (multi)line strings; empty or missing ones give ``[]``.
    precision : float
        Coordinate step in degrees (1e-4 is ~11 m).

    Returns
    -------
    list of str
        One JSON text per geometry.
    """
    out = []
    for g in geoms:
        parts: list = []
        if g is not None and not g.is_empty:
            for part in getattr(g, "geoms", [g]):
                if part.is_empty:
                    continue
                if part.geom_type == "Polygon":
                    rings = [_ring_ints(np.asarray(r.coords), precision, True)
                             for r in (part.exterior, *part.interiors)]
                    parts.append([r for r in rings if r])
                elif part.geom_type in ("LineString", "LinearRing"):
                    parts.append(_ring_ints(np.asarray(part.coords), precision, False))
        out.append(json.dumps(parts, separators=(",", ":")))
    return out


def display_resolution(n_cells: int, res: int, max_cells: int = MAP_MAX_CELLS) -> int:
    """The finest H3 resolution, ``res`` or coarser, at which ``n_cells`` cells become at most ``max_cells``.

    Each coarser level has about a seventh as many cells.
    """
    out = int(res)
    n = float(n_cells)
    while n > max_cells and out > 0:
        out -= 1
        n /= 7.0
    return out


def _fit_tolerance(geom: shapely.Geometry, width_px: int = MAP_WIDTH_PX) -> float:
    """About half a pixel, in degrees, of a map that shows ``geom`` ``width_px`` wide."""
    minx, miny, maxx, maxy = shapely.bounds(geom)
    k = math.cos(math.radians((miny + maxy) / 2))
    extent = max((maxx - minx) * k, (maxy - miny) * 1.4)  # maps are wider than tall
    return 0.5 * extent / width_px


def _precision(tolerance: float) -> float:
    # A fifth of the tolerance or finer, between 1e-5° (~1 m) and 1e-4° (~11 m).
    return float(min(max(10 ** math.floor(math.log10(max(tolerance, 1e-9) / 5)), 1e-5), 1e-4))


def _groups(key: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if len(k) else np.array([], dtype=np.int64)
    ends = np.r_[starts[1:], len(k)] if len(k) else np.array([], dtype=np.int64)
    return order, list(zip(starts.tolist(), ends.tolist()))


def _union(hexes: np.ndarray) -> shapely.Geometry:
    if len(hexes) == 1:
        return hexes[0]
    # H3 neighbours share their vertices exactly: coverage union is ~10x a general union.
    out = shapely.coverage_union_all(hexes)
    return out if shapely.is_valid(out) else shapely.union_all(hexes)


def _dissolved_bands(result: CoverageResult, bands: list[Band], dres: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """District code, band and dissolved polygon per (district, band) group at resolution ``dres``."""
    cells = result.cells
    grid = result.grid
    ids = grid.cells if grid is not None else np.array([int(h, 16) for h in cells["h3"]], dtype=np.int64)
    district = cells["district"].astype(str).to_numpy()
    band = band_index(cells["travel"].to_numpy(float), bands)
    area = cells["area_km2"].to_numpy(float)
    dcodes, dinv = np.unique(district, return_inverse=True)
    if dres < result.resolution:
        parents = np.fromiter((h3i.cell_to_parent(c, dres) for c in ids.tolist()), dtype=np.int64, count=len(ids))
        uniq, inv = np.unique(parents, return_inverse=True)
        # Each parent takes the band and district holding most of its area.
        nb, nd = len(bands), len(dcodes)
        band = np.bincount(inv * nb + band, weights=area, minlength=len(uniq) * nb).reshape(-1, nb).argmax(1)
        dinv = np.bincount(inv * nd + dinv, weights=area, minlength=len(uniq) * nd).reshape(-1, nd).argmax(1)
        hexes = cell_polygons(uniq)
    else:
        hexes = grid.hexagons if grid is not None else cells.geometry.to_numpy()
    key = dinv.astype(np.int64) * len(bands) + band
    order, spans = _groups(key)
    codes, bands_out, geoms = [], [], []
    for s, e in spans:
        members = order[s:e]
        k = int(key[members[0]])
        codes.append(dcodes[k // len(bands)])
        bands_out.append(k % len(bands))
        geoms.append(_union(hexes[members]))
    return np.asarray(codes, dtype=object), np.asarray(bands_out, dtype=np.int64), np.asarray(geoms, dtype=object)


def _simplify_coverage(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    if not len(geoms) or tolerance <= 0:
        return geoms
    try:
        # Keeps the edges neighbours share, so no slivers open between bands.
        return np.asarray(shapely.coverage_simplify(geoms, tolerance), dtype=object)
    except (shapely.errors.GEOSException, ValueError, AttributeError):  # pragma: no cover - GEOS < 3.12
        return np.asarray(shapely.simplify(geoms, tolerance, preserve_topology=True), dtype=object)


def _reach_degrees(standard: Standard) -> float:
    """How far (degrees of latitude) the standard reaches as the crow flies, by the estimate's rules."""
    metres = standard.threshold if standard.unit == "m" else \
        standard.threshold / 60.0 * settings.ESTIMATE_SPEED_KMH.get(standard.mode, 15.0) * 1000.0
    return metres / settings.DETOUR_FACTOR / 111_320.0


def _stations_near(result: CoverageResult, bounds: tuple[float, float, float, float]) -> pd.DataFrame:
    """Serving stations inside the region's box widened by the standard's reach (those that can serve it)."""
    st = result.stations
    cols = ["name", "kind", "lon", "lat", "is_sample"]
    if not len(st):
        return pd.DataFrame(columns=cols)
    minx, miny, maxx, maxy = bounds
    pad_y = _reach_degrees(result.standard) + 0.005
    pad_x = pad_y / max(math.cos(math.radians((miny + maxy) / 2)), 0.1)
    lon, lat = st["lon"].to_numpy(float), st["lat"].to_numpy(float)
    near = (lon >= minx - pad_x) & (lon <= maxx + pad_x) & (lat >= miny - pad_y) & (lat <= maxy + pad_y)
    out = pd.DataFrame({
        "name": st["name"].fillna("").astype(str).to_numpy()[near] if "name" in st else "",
        "kind": st["kind"].astype(str).to_numpy()[near] if "kind" in st else "",
        "lon": lon[near], "lat": lat[near],
        "is_sample": (st["is_sample"].fillna(False).astype(bool).to_numpy()[near] if "is_sample" in st
                      else np.zeros(int(near.sum()), dtype=bool)),
    })
    return out.reset_index(drop=True)


def map_layers(result: CoverageResult, *, max_cells: int = MAP_MAX_CELLS,
               budget_bytes: int = MAP_BUDGET_BYTES, width_px: int = MAP_WIDTH_PX,
               max_gaps: int = MAP_MAX_GAPS) -> MapLayers:
    """Aggregate a coverage result into light map layers.

    Cells are dissolved per district and travel band (at a coarser H3
    resolution when the grid has more than ``max_cells`` cells) and the
    polygons simplified as a coverage to half a pixel of a ``width_px`` map
    of the region; the ``max_gaps`` largest gaps are outlined. When the
    geometry still exceeds ``budget_bytes`` the tolerance grows by half
    until it fits.

    Parameters
    ----------
    result : CoverageResult
    max_cells, budget_bytes, width_px, max_gaps
        See the module constants of the same names.

    Returns
    -------
    MapLayers
    """
    region = result.region
    bands = travel_bands(result.standard)
    dres = display_resolution(len(result.cells), result.resolution, max_cells)
    codes, band_of, raw = _dissolved_bands(result, bands, dres)

    # Figures per (district, band) from the analysis cells themselves, so a
    # coarser drawing never changes what the tooltips say.
    cells = result.cells
    cb = band_index(cells["travel"].to_numpy(float), bands)
    stats = pd.DataFrame({"district": cells["district"].astype(str).to_numpy(), "band": cb,
                          "area_km2": cells["area_km2"].to_numpy(float),
                          "demand": cells["demand"].to_numpy(float)})
    agg = stats.groupby(["district", "band"]).agg(cells=("band", "size"), area_km2=("area_km2", "sum"),
                                                  demand=("demand", "sum"))
    look = agg.reindex(pd.MultiIndex.from_arrays([codes, band_of])).fillna(0)

    n_gaps = min(max_gaps, len(result.gap_table))
    gap_raw = result.gap_geometries(n_gaps) if n_gaps else np.array([], dtype=object)
    gap_raw = np.asarray([g if g is not None else shapely.Polygon() for g in gap_raw], dtype=object)

    d = load_boundaries("district")
    names = dict(zip(d["adcode"].astype(str), d["name"].astype(str)))
    mine = d[d["adcode"].isin(result.districts["adcode"].astype(str))]
    outline_raw = shapely.boundary(mine.geometry.to_numpy()) if len(mine) else np.array([], dtype=object)

    tol = _fit_tolerance(region.geometry, width_px)
    stations = _stations_near(result, shapely.bounds(region.geometry))
    while True:
        prec = _precision(tol)
        layers = MapLayers(
            region=region, standard=result.standard, method=result.method,
            method_cells=dict(result.method_cells), bands=bands, band_stats=band_summary(result),
            band_polygons=gpd.GeoDataFrame({
                "district": codes, "band": band_of, "cells": look["cells"].to_numpy(np.int64),
                "area_km2": look["area_km2"].to_numpy(float), "demand": look["demand"].to_numpy(float)},
                geometry=_simplify_coverage(raw, tol), crs="EPSG:4326"),
            gap_polygons=gpd.GeoDataFrame(
                result.gap_table.head(n_gaps)[["gap", "cells", "area_km2", "demand", "district",
                                               "station_distance_m"]].reset_index(drop=True),
                geometry=shapely.simplify(gap_raw, tol) if len(gap_raw) else gap_raw, crs="EPSG:4326"),
            gaps_total=int(len(result.gap_table)), stations=stations, district_names=names,
            outlines=gpd.GeoDataFrame(geometry=shapely.simplify(outline_raw, max(tol, 1e-5))
                                      if len(outline_raw) else outline_raw, crs="EPSG:4326"),
            bounds=_bounds(region.geometry), resolution=int(result.resolution), display_resolution=dres,
            tolerance=tol, precision=prec, demand_unit=result.demand.unit)
        size = layers.payload_bytes()
        if size <= budget_bytes or tol > 0.05:
            break
        tol *= 1.5
    log.info("coverage map layers %s r%d (drawn r%d): %d band polygons, %d gaps, %d stations, "
             "tolerance %.5f°, %.2f MB", region.adcode, result.resolution, dres, len(codes), n_gaps,
             len(stations), tol, size / 1e6)
    return layers


def _bounds(geom: shapely.Geometry) -> list[list[float]]:
    minx, miny, maxx, maxy = shapely.bounds(geom)
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]


# --------------------------------------------------------------------------
# Headline figures and tables
# --------------------------------------------------------------------------


def headline(result: CoverageResult) -> dict:
    """The page's headline figures.

    Returns
    -------
    dict
        ``share_area``, ``share_demand``, ``demand_kind``, ``cells``,
        ``resolution``, ``area_km2``, ``stations_in_region``,
        ``stations_serving``, ``method``, ``network_cells``,
        ``estimated_cells``, ``unreachable_cells``, ``gaps``, ``sample``
        (sample stations served).
    """
    mc = result.method_cells
    st = result.stations
    return {
        "share_area": float(result.covered_share_area),
        "share_demand": float(result.covered_share_demand),
        "demand_kind": result.demand.kind,
        "cells": int(len(result.cells)),
        "resolution": int(result.resolution),
        "area_km2": float(result.cells["area_km2"].sum()),
        "stations_in_region": int(result.districts["stations"].sum()),
        "stations_serving": int(len(st)),
        "method": result.method,
        "network_cells": int(mc.get("network", 0)),
        "estimated_cells": int(mc.get("estimate", 0)),
        "unreachable_cells": int(mc.get("unreachable", 0)),
        "gaps": int(len(result.gap_table)),
        "sample": bool(len(st) and "is_sample" in st and st["is_sample"].fillna(False).astype(bool).any()),
    }


def method_text(figures: dict, lang: str = "zh") -> str:
    """How the travel was computed: road network, estimate, or both (``估算 / estimate`` whenever estimated)."""
    if figures["method"] != "network":
        return settings.ESTIMATE_LABEL
    if figures["estimated_cells"]:
        return t("cv_method_mixed", lang)
    return pick(settings.NETWORK_LABEL, lang)


def figures_html(figures: dict, lang: str = "zh") -> str:
    """The headline figures as one compact HTML block (classes ``cv-figs``, ``cv-fig``), every text escaped.

    Parameters
    ----------
    figures : dict
        From :func:`headline`.
    lang : {"zh", "en"}
    """
    esc = html.escape
    items = [("share_area", t("cv_fig_share_area", lang), f"{100 * figures['share_area']:.1f}%",
              t("cv_fig_help_share", lang))]
    if figures["demand_kind"] != "area":
        items.append(("share_demand",
                      t("cv_fig_share_demand", lang, kind=t(f"cv_demand_{figures['demand_kind']}", lang)),
                      f"{100 * figures['share_demand']:.1f}%", t("cv_fig_help_share", lang)))
    items += [
        ("cells", t("cv_fig_cells", lang),
         t("cv_fig_cells_value", lang, n=f"{figures['cells']:,}", res=figures["resolution"]), ""),
        ("stations", t("cv_fig_stations", lang),
         f"{figures['stations_in_region']:,} / {figures['stations_serving']:,}", ""),
        ("method", t("cv_fig_method", lang), method_text(figures, lang), ""),
        ("estimated", t("cv_fig_estimated", lang), f"{figures['estimated_cells']:,} / {figures['cells']:,}",
         t("cv_fig_help_estimated", lang, km=f"{settings.SNAP_MAX_M / 1000:g}", factor=settings.DETOUR_FACTOR)),
        ("gaps", t("cv_fig_gaps", lang), f"{figures['gaps']:,}", ""),
    ]
    estimated = figures["estimated_cells"] > 0
    parts = []
    for key, label, value, tip in items:
        cls = "cv-fig" + (" cv-fig-est" if estimated and key in ("method", "estimated") else "")
        title = f' title="{esc(tip)}"' if tip else ""
        parts.append(f'<div class="{cls}" data-fig="{key}"{title}><div class="cv-fig-label">{esc(label)}</div>'
                     f'<div class="cv-fig-value">{esc(value)}</div></div>')
    return f'<div class="cv-figs">{"".join(parts)}</div>'


def _unit_label(result: CoverageResult, lang: str) -> str:
    return t("cv_unit_min" if result.standard.unit == "min" else "cv_unit_m", lang)


def district_table(result: CoverageResult, lang: str = "zh") -> tuple[pd.DataFrame, dict[str, dict]]:
    """The district table to show, and how to show each column.

    Columns that carry nothing for this run are left out: the city for a
    single city, population and stations per 100k without a census table,
    the demand share when the demand is the area (it equals the area share),
    unreachable cells when there are none.

    Returns
    -------
    (DataFrame, dict)
        The rows (engine column names; shares as percentages, 0-100) and,
        per column, a spec ``{"label": str, "type": "text" | "number",
        "format": str}`` for ``st.column_config``.
    """
    df = result.districts.copy()
    unit = _unit_label(result, lang)
    specs: dict[str, dict] = {
        "name": {"label": t("cv_col_name", lang), "type": "text"},
        "city": {"label": t("cv_col_city", lang), "type": "text"},
        "stations": {"label": t("cv_col_stations", lang), "type": "number", "format": "%d"},
        "population": {"label": t("cv_col_population", lang), "type": "number", "format": "localized"},
        "stations_per_100k": {"label": t("cv_col_per_100k", lang), "type": "number", "format": "%.2f"},
        "covered_share_area": {"label": t("cv_col_share_area", lang), "type": "number", "format": "%.1f%%"},
        "covered_share_demand": {"label": t("cv_col_share_demand", lang), "type": "number", "format": "%.1f%%"},
        "travel_mean": {"label": t("cv_col_travel_mean", lang, unit=unit), "type": "number", "format": "%.1f"},
        "travel_p95": {"label": t("cv_col_travel_p95", lang, unit=unit), "type": "number", "format": "%.1f"},
        "largest_gap_km2": {"label": t("cv_col_gap_km2", lang), "type": "number", "format": "%.1f"},
        "unreachable_cells": {"label": t("cv_col_unreachable", lang), "type": "number", "format": "%d"},
        "cells": {"label": t("cv_col_cells", lang), "type": "number", "format": "%d"},
        "area_km2": {"label": t("cv_col_area", lang), "type": "number", "format": "%.1f"},
        "adcode": {"label": t("cv_col_adcode", lang), "type": "text"},
    }
    drop = set()
    if result.region.level != "province":
        drop.add("city")
    if df["population"].isna().all():
        drop |= {"population", "stations_per_100k"}
    if result.demand.kind == "area":
        drop.add("covered_share_demand")
    if not (df["unreachable_cells"] > 0).any():
        drop.add("unreachable_cells")
    cols = [c for c in specs if c not in drop]
    for c in ("travel_mean", "travel_p95"):
        df[c] = df[c].where(np.isfinite(df[c].astype(float)))
    for c in ("covered_share_area", "covered_share_demand"):
        df[c] = df[c].astype(float) * 100.0
    return df[cols].reset_index(drop=True), {c: specs[c] for c in cols}


def gap_table(result: CoverageResult, lang: str = "zh", top: int = 20) -> tuple[pd.DataFrame, dict[str, dict]]:
    """The largest gaps (most demand first) to show, and their column specs (see :func:`district_table`)."""
    g = result.gap_table.head(top).copy()
    names = dict(zip(result.districts["adcode"].astype(str), result.districts["name"].astype(str)))
    g["district_name"] = g["district"].astype(str).map(lambda c: names.get(c, c))
    g["station_km"] = g["station_distance_m"].astype(float) / 1000.0
    g["station_km"] = g["station_km"].where(np.isfinite(g["station_km"]))
    specs = {
        "gap": {"label": t("cv_col_gap", lang), "type": "number", "format": "%d"},
        "district_name": {"label": t("cv_col_name", lang), "type": "text"},
        "area_km2": {"label": t("cv_col_area", lang), "type": "number", "format": "%.1f"},
        "demand": {"label": t("cv_col_demand", lang, unit=result.demand.unit), "type": "number",
                   "format": "%.1f"},
        "cells": {"label": t("cv_col_cells", lang), "type": "number", "format": "%d"},
        "station_km": {"label": t("cv_col_station_km", lang), "type": "number", "format": "%.2f"},
        "lat": {"label": t("cv_col_lat", lang), "type": "number", "format": "%.5f"},
        "lon": {"label": t("cv_col_lon", lang), "type": "number", "format": "%.5f"},
    }
    if result.demand.kind == "area":
        specs.pop("demand")
    cols = list(specs)
    return g[cols].reset_index(drop=True), specs


# --------------------------------------------------------------------------
# Inputs: uploads and the census table
# --------------------------------------------------------------------------


def census_path() -> Path | None:
    """The shared census table, when it is there at run time (the page must work without it)."""
    return CENSUS_PATH if CENSUS_PATH.is_file() else None


def _with_temp_file(data: bytes, filename: str, read):
    # The readers take paths (they dispatch on the extension); an upload is
    # written to a private temporary folder and removed after reading.
    name = Path(filename or "upload.csv").name
    with tempfile.TemporaryDirectory(prefix="gd-planner-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return read(path)


def read_population_upload(data: bytes, filename: str) -> pd.Series:
    """A county population table from an upload (see :func:`geo.analysis.demand.read_population_table`).

    Raises
    ------
    ValueError, geo.registry.io.readers.ReadError
        When the file has no adcode or population column, or cannot be read.
    """
    from geo.analysis.demand import read_population_table

    series = _with_temp_file(data, filename, read_population_table)
    if not len(series):
        raise ValueError("人口表没有可用的行 / the population table has no usable rows")
    return series


def read_census() -> pd.Series | None:
    """The shared census table as adcode -> population, or None when it is absent."""
    from geo.analysis.demand import read_population_table

    path = census_path()
    return read_population_table(path) if path is not None else None


def upload_columns(data: bytes, filename: str) -> list[str]:
    """The columns of an uploaded table (for choosing a weight column)."""
    from geo.registry.io.readers import read_table

    raw = read_table(data, filename=filename)
    return [str(c) for c in raw.df.columns if not str(c).startswith("__")]


def read_points_upload(data: bytes, filename: str, weight_column: str | None = None,
                       crs: str = "auto") -> tuple[pd.DataFrame, list[str]]:
    """Demand points from an upload, in WGS-84 (see :func:`geo.analysis.demand.read_demand_points`).

    Returns
    -------
    (DataFrame, list of str)
        ``lon``, ``lat``, ``weight``; and bilingual notes on what was assumed.
    """
    from geo.analysis.demand import read_demand_points

    pts, notes = _with_temp_file(data, filename, lambda p: read_demand_points(p, weight_column, crs))
    if not len(pts):
        raise ValueError("需求点文件没有可用的点 / the demand file has no usable points")
    return pts, notes


# --------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------

#: Download choices: key -> (layer, extension, MIME type).
EXPORTS: dict[str, tuple[str, str, str]] = {
    "gaps_geojson": ("gaps", "geojson", "application/geo+json"),
    "cells_csv": ("cells", "csv", "text/csv"),
    "cells_geojson": ("cells", "geojson", "application/geo+json"),
    "districts_csv": ("districts", "csv", "text/csv"),
    "report_html": ("report", "html", "text/html"),
}


def export_name(result: CoverageResult, key: str) -> str:
    """File name of an export, e.g. ``coverage_440304_rest_station_r8_gaps.geojson``."""
    layer, ext, _ = EXPORTS[key]
    kinds = "+".join(result.standard.kinds)
    return f"coverage_{result.region.adcode}_{kinds}_r{result.resolution}_{layer}.{ext}"


def export_bytes(result: CoverageResult, key: str) -> bytes:
    """The bytes of one export: the same files as ``python -m geo coverage`` writes.

    Parameters
    ----------
    result : CoverageResult
    key : str
        One of :data:`EXPORTS`.
    """
    layer, ext, _ = EXPORTS[key]
    if layer == "report":
        from geo.web.report import render_report

        return render_report(result).encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="gd-planner-") as tmp:
        path = write_layer(result, layer, Path(tmp) / f"{layer}.{ext}")
        return path.read_bytes()

