"""The H3 grid of a region: the cells a coverage run measures.

A region (province, city or district) is cut into H3 cells of resolution 7-9;
a cell belongs to the region when its centre lies in the region's polygon
(:func:`hex_grid`). Grids are cached per region and resolution, so exploring
thresholds and kinds reuses them.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable

import geopandas as gpd
import h3
import h3.api.basic_int as h3i
import h3.api.numpy_int as hn
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo import settings
from geo.core import geodesy
from geo.core.regions import Region, find_region, load_boundaries, locate
from geo.routing.network import index_ranges


@dataclass(eq=False)
class Grid:
    """H3 cells of one region at one resolution (build with :func:`hex_grid`).

    Attributes
    ----------
    region : Region
    res : int
    cells : ndarray of int64
        H3 indexes (integer form), sorted.
    lon, lat : ndarray of float
        Cell centres, WGS-84.
    district : ndarray of str
        Adcode of the district holding each centre.
    area_km2 : ndarray of float
        Each cell's area.
    """

    region: Region
    res: int
    cells: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    district: np.ndarray
    area_km2: np.ndarray
    _lazy: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.cells)

    def _get(self, key, build):
        if key not in self._lazy:
            self._lazy[key] = build()
        return self._lazy[key]

    @property
    def xyz(self) -> np.ndarray:
        """Cell centres as unit vectors."""
        return self._get("xyz", lambda: geodesy.xyz(self.lon, self.lat))

    @property
    def tree(self) -> cKDTree:
        """KD-tree of the centres' unit vectors."""
        return self._get("tree", lambda: cKDTree(self.xyz))

    @property
    def spacing_chord(self) -> float:
        """Median distance between neighbouring cell centres (chord on the unit sphere)."""
        def build() -> float:
            if len(self.cells) < 2:
                return geodesy.m_to_chord(h3.average_hexagon_edge_length(self.res, "m") * math.sqrt(3))
            step = max(len(self.cells) // 5000, 1)
            d, _ = self.tree.query(self.xyz[::step], k=2)
            return float(np.median(d[:, 1]))
        return self._get("spacing", build)

    @property
    def sorted_cells(self) -> np.ndarray:
        """The cells in ascending order (they are stored so; kept for lookups)."""
        return self.cells

    @property
    def sorted_order(self) -> np.ndarray:
        """Grid index of each entry of :attr:`sorted_cells`."""
        return self._get("order", lambda: np.arange(len(self.cells)))

    @property
    def h3(self) -> np.ndarray:
        """H3 indexes as hexadecimal strings (object array)."""
        return self._get("h3", lambda: np.array([format(c, "x") for c in self.cells.tolist()], dtype=object))

    @property
    def hexagons(self) -> np.ndarray:
        """Cell polygons (shapely, WGS-84)."""
        return self._get("hexagons", lambda: cell_polygons(self.cells))

    @property
    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(i, j)``, ``i < j``, of edge-sharing cells (H3 ``grid_disk(cell, 1)``)."""
        return self._get("neighbours", self._neighbour_pairs)

    def _neighbour_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        # Neighbouring hexagon centres are one spacing apart; the nearest
        # non-neighbours sqrt(3) spacings. 1.35 spacings separates the two with
        # room for H3's few per cent of shape distortion, and replaces 250k
        # Python grid_disk calls by one vectorised query (tests compare it
        # with h3.grid_disk).
        if len(self.cells) < 2:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        n = len(self.cells)
        _, j = self.tree.query(self.xyz, k=7, distance_upper_bound=1.35 * self.spacing_chord)
        i = np.repeat(np.arange(n), 7).reshape(n, 7)
        ok = (j < n) & (j > i)
        return i[ok].astype(np.int64), j[ok].astype(np.int64)


def cell_polygons(cells: Iterable[int]) -> np.ndarray:
    """Shapely polygons (WGS-84) of H3 cells given as integers."""
    cells = np.asarray(list(cells) if not isinstance(cells, np.ndarray) else cells, dtype=np.int64)
    if not len(cells):
        return np.array([], dtype=object)
    chain = itertools.chain.from_iterable
    sizes_parts, flat_parts = [], []
    # In chunks: a million cells' boundaries as Python tuples at once keep
    # the garbage collector scanning them over and over (10x slower).
    for lo in range(0, len(cells), 50_000):
        rings = [h3i.cell_to_boundary(c) for c in cells[lo:lo + 50_000].tolist()]
        sz = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
        sizes_parts.append(sz)
        flat_parts.append(np.fromiter(chain(chain(rings)), dtype=float, count=2 * int(sz.sum())))
    sizes = np.concatenate(sizes_parts)
    flat = np.concatenate(flat_parts).reshape(-1, 2)[:, ::-1]
    # Close each ring (its first vertex again) and build all polygons in one call.
    starts = np.cumsum(sizes) - sizes
    take = index_ranges(starts, sizes + 1)
    ends = np.cumsum(sizes + 1) - 1
    take[ends] = starts
    ring_offsets = np.concatenate([[0], ends + 1])
    return shapely.from_ragged_array(shapely.GeometryType.POLYGON, np.ascontiguousarray(flat[take]),
                                     (ring_offsets, np.arange(len(cells) + 1)))


_GRID_CACHE: OrderedDict = OrderedDict()
_GRID_LOCK = threading.Lock()
_GRID_CACHE_SIZE = 6


def _check_res(res: int) -> int:
    if int(res) != res or int(res) not in settings.COVERAGE_RESOLUTIONS:
        raise ValueError(f"H3 分辨率须为 {settings.COVERAGE_RESOLUTIONS} 之一 / the H3 resolution must be one of "
                         f"{settings.COVERAGE_RESOLUTIONS}, not {res!r}")
    return int(res)


def as_region(region: str | Region) -> Region:
    """A region as given, or found by adcode or name (:func:`geo.core.regions.find_region`).

    Parameters
    ----------
    region
        A Region, or an adcode or name.
    """
    return region if isinstance(region, Region) else find_region(str(region))


def hex_grid(region: str | Region, res: int = settings.COVERAGE_DEFAULT_RES) -> Grid:
    """The H3 cells of a region: every cell whose centre lies in the region's polygon.

    The same cells as ``h3.geo_to_cells(region.geometry, res)`` (tests check
    it), found faster: candidates are the children of coarser cells (3
    resolutions up) near the region, and a coarse cell well inside one
    district passes all its children without a point test.

    Parameters
    ----------
    region
        An adcode or name (:func:`geo.core.regions.find_region`), or a Region.
    res
        H3 resolution, one of ``settings.COVERAGE_RESOLUTIONS``.

    Returns
    -------
    Grid
        Cached per region and resolution: do not modify its arrays.
    """
    reg = as_region(region)
    res = _check_res(res)
    key = (reg.adcode, reg.level, res, hashlib.sha1(shapely.to_wkb(reg.geometry)).hexdigest())
    with _GRID_LOCK:
        if key in _GRID_CACHE:
            _GRID_CACHE.move_to_end(key)
            return _GRID_CACHE[key]
    grid = _build_grid(reg, res)
    with _GRID_LOCK:
        _GRID_CACHE[key] = grid
        while len(_GRID_CACHE) > _GRID_CACHE_SIZE:
            _GRID_CACHE.popitem(last=False)
    return grid


def clear_grid_cache() -> None:
    """Forget every cached grid, so the next :func:`hex_grid` builds afresh (for timing a cold run)."""
    with _GRID_LOCK:
        _GRID_CACHE.clear()


def _build_grid(reg: Region, res: int) -> Grid:
    geom = reg.geometry
    pres = max(res - 3, 0)
    # A cell's descendants stray at most ~0.61 of its edge outside it (the
    # sum of the children's radii, shrinking by sqrt(7) per level), and H3
    # edges vary by less than 1.5x the average in Guangdong: so a parent
    # that matters has its centre within (1 + 0.61) * 1.5 edges of the region.
    edge_km = h3.average_hexagon_edge_length(pres, "km") * 1.5
    _, miny, _, maxy = shapely.bounds(geom)
    lat_ext = max(abs(miny), abs(maxy)) + 1.0
    edge_deg = edge_km / (111.32 * math.cos(math.radians(min(lat_ext, 85.0))))
    hull = shapely.convex_hull(geom).buffer(2.5 * edge_deg, quad_segs=2)
    parents = np.asarray(h3i.h3shape_to_cells(h3.geo_to_h3shape(hull), pres), dtype=np.int64)
    if not len(parents):
        parents = np.asarray([h3i.latlng_to_cell(shapely.get_y(shapely.centroid(geom)),
                                                 shapely.get_x(shapely.centroid(geom)), pres)], dtype=np.int64)
    reach = shapely.buffer(cell_polygons(parents), edge_deg, quad_segs=2)
    shapely.prepare(geom)
    near = shapely.intersects(geom, reach)
    parents, reach = parents[near], reach[near]

    # Parents whose reach lies inside one district hand all their children
    # to it (and so to the region) without testing each centre.
    districts = _districts_for(reg)
    dgeoms = districts.geometry.to_numpy()
    dtree = shapely.STRtree(dgeoms)
    inner_p, inner_d = dtree.query(reach, predicate="within")
    whole = np.full(len(parents), -1, dtype=np.int64)
    whole[inner_p] = inner_d
    # A district of another region (when the region is a custom polygon) does not count.
    whole[whole >= 0] = np.where(shapely.contains(geom, reach[whole >= 0]), whole[whole >= 0], -1)

    # All children in one call; each child's parent from its index bits.
    cells = np.asarray(hn.uncompact_cells(parents.astype(np.uint64), res), dtype=np.int64)
    by_index = np.argsort(parents, kind="stable")
    parent_of = by_index[np.searchsorted(parents[by_index], _parent_index(cells, res, pres))]
    ll = np.array([h3i.cell_to_latlng(c) for c in cells.tolist()], dtype=float).reshape(-1, 2)
    lat, lon = ll[:, 0], ll[:, 1]

    adcodes = districts["adcode"].to_numpy(dtype=object)
    district = np.full(len(cells), "", dtype=object)
    sure = whole[parent_of] >= 0
    district[sure] = adcodes[whole[parent_of[sure]]]
    test = np.flatnonzero(~sure)
    keep = sure.copy()
    if len(test):
        inside = shapely.intersects_xy(geom, lon[test], lat[test])
        test = test[inside]
        keep[test] = True
        found = locate(lon[test], lat[test])["adcode"].to_numpy(dtype=object)
        district[test] = np.where(pd.isna(found), "", found)
    order = np.argsort(cells[keep], kind="stable")
    cells, lon, lat, district = cells[keep][order], lon[keep][order], lat[keep][order], district[keep][order]
    area = np.fromiter((h3i.cell_area(c, "km^2") for c in cells.tolist()), dtype=float, count=len(cells))
    return Grid(region=reg, res=res, cells=cells, lon=lon, lat=lat, district=district.astype(object),
                area_km2=area)


def _parent_index(cells: np.ndarray, res: int, pres: int) -> np.ndarray:
    """``h3.cell_to_parent(cell, pres)`` of cells of resolution ``res``, on the index bits.

    An H3 cell index holds its resolution in bits 52-55 and one 3-bit digit
    per resolution 1-15 below them (digit ``r`` at bit ``3 * (15 - r)``),
    unused digits set to 7: the parent is the same index with the resolution
    lowered and the digits below it set to 7 (tests compare it with h3).
    """
    c = cells.astype(np.uint64)
    res_mask = np.uint64(0xF) << np.uint64(52)
    unused = np.uint64((1 << (3 * (15 - pres))) - 1)
    return ((c & ~res_mask) | (np.uint64(pres) << np.uint64(52)) | unused).astype(np.int64)


def _districts_for(reg: Region) -> gpd.GeoDataFrame:
    """The districts a region is made of (all of them for a custom region)."""
    d = load_boundaries("district")
    if reg.level == "province":
        return d
    if reg.level == "city":
        sub = d[d["city_adcode"] == reg.adcode]
    elif reg.level == "district":
        sub = d[d["adcode"] == reg.adcode]
    else:
        sub = d.iloc[0:0]
    return sub.reset_index(drop=True) if len(sub) else d
