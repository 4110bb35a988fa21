"""The coverage map's layers: never one polygon per cell.

Cells are dissolved into one (multi)polygon per district and band, and then
simplified as a coverage (neighbours keep their shared edges) to about
half a pixel of the map that shows the whole region. A grid of more than
``MAP_MAX_CELLS`` cells (the province at res 8 or 9) is first drawn at
the coarser parent resolution that fits, each parent taking the band and
district of most of its area. If the layers still weigh more than
``MAP_BUDGET_BYTES`` the tolerance grows until they fit: the province at
res 8 ships ~600 polygons (~1.2 MB of HTML), not 253,458 hexagons.
Geometry travels as integer steps
(:func:`geo.web.maps.encoding.encode_geometries`), about 40% of the size
of GeoJSON. The folium map itself is :func:`geo.web.maps.coverage.coverage_map`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import shapely

from geo import settings
from geo.analysis.coverage import CoverageResult
from geo.analysis.grid import cell_polygons
from geo.analysis.standard import Standard
from geo.core.regions import Region, load_boundaries
from geo.web.maps.encoding import encoded_frame
from geo.web.views.coverage.bands import Band, band_index, band_summary, travel_bands

log = logging.getLogger(__name__)

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
        :func:`geo.web.views.coverage.bands.band_summary` of the result.
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
        """Encoded geometry of ``band_polygons``, ``gap_polygons`` or ``outlines``.

        From :func:`geo.web.maps.encoding.encode_geometries`, built once per
        layers object and reused by every map drawn from it.
        """
        return encoded_frame(getattr(self, layer), self.precision, cache=self._texts, key=layer)

    def payload_bytes(self) -> int:
        """Size of the layers as sent to the browser (geometry, properties, stations)."""
        total = sum(len(s) for layer in ("band_polygons", "gap_polygons", "outlines")
                    for s in self.geometry_texts(layer))
        # Properties: ~70 bytes per feature, ~60 per station.
        return total + 70 * (len(self.band_polygons) + len(self.gap_polygons)) + 60 * len(self.stations)


def display_resolution(n_cells: int, res: int, *, max_cells: int = MAP_MAX_CELLS) -> int:
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
    result
        A coverage run.
    max_cells, budget_bytes, width_px, max_gaps
        See the module constants of the same names.
    """
    region = result.region
    bands = travel_bands(result.standard)
    dres = display_resolution(len(result.cells), result.resolution, max_cells=max_cells)
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
