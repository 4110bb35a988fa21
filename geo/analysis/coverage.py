"""Planner coverage: where workers are beyond reach of a station, by district.

A run has four steps (design and choices: docs/coverage.md):

1. **Grid.** The region (province, city or district) is cut into H3 cells
   of resolution 7-9; a cell belongs to the region when its centre lies in
   the region's polygon (:func:`hex_grid`). Grids are cached per region and
   resolution, so exploring thresholds and kinds reuses them.
2. **Travel.** For every cell, the travel time or distance to the nearest
   open station of the chosen kinds under a :class:`Standard`.

   * With a road network: ONE multi-source Dijkstra from all stations on the
     *reversed* graph (travel is cell -> station, and one-way streets must be
     taken the legal way), each station a virtual node joined to the two
     ends of its road edge at its snapped position; then every cell centre
     is snapped to the network (vectorised, :func:`snap_points`) and takes
     ``min(leave its edge forward to v + D[v], backward to u + D[u], a
     station on its own edge)`` plus both snap stretches, walked at
     ``settings.COVERAGE_ACCESS_SPEED_KMH``.
   * Without one: a KD-tree of the stations on the unit sphere gives the
     exact great-circle nearest station, times ``settings.DETOUR_FACTOR``
     (travelled at ``settings.ESTIMATE_SPEED_KMH``), labelled estimate.
3. **Demand** per cell: area, county population, a raster or points
   (:mod:`geo.analysis.demand`).
4. **Summaries**: coverage shares, the per-district table, gap clusters
   (connected uncovered cells) and, on request, service areas.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import geopandas as gpd
import h3
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from geo import settings
from geo.core.crs import haversine_m
from geo.core import geodesy
from geo.analysis.demand import Demand, build_demand, region_districts
from geo.routing.network import MODES, RoadGraph, index_ranges, resolve_graph
from geo.core.regions import Region, find_region, load_boundaries, locate
from geo.core.schema import KINDS, STATUSES

_E7 = 1e7
_UNIT = {"time": "min", "distance": "m"}
_MODE_ZH = {"walk": "步行", "ebike": "电动自行车", "drive": "驾车", "truck": "货车"}
_MODE_EN = {"walk": "on foot", "ebike": "by e-bike", "drive": "by car", "truck": "by truck"}
_METHODS = ("network", "estimate", "unreachable")


# --------------------------------------------------------------------------
# Service standard
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Standard:
    """What "within reach" means: kinds, travel mode and threshold.

    Attributes
    ----------
    kinds : tuple of str
        Station kinds that serve (any of them counts).
    mode : str
        Travel mode (``walk``, ``ebike``, ``drive``, ``truck``).
    minutes, meters : float or None
        The threshold: exactly one is set.
    source : str
        ``"settings"`` when taken from ``settings.COVERAGE_STANDARDS``,
        ``"user"`` when given, ``"settings+user"`` when mixed.
    """

    kinds: tuple[str, ...]
    mode: str
    minutes: float | None = None
    meters: float | None = None
    source: str = "settings"

    @property
    def weight(self) -> str:
        """Graph weight: ``"time"`` for a minutes standard, else ``"distance"``."""
        return "time" if self.minutes is not None else "distance"

    @property
    def unit(self) -> str:
        """Unit of travel values: ``"min"`` or ``"m"``."""
        return _UNIT[self.weight]

    @property
    def threshold(self) -> float:
        """The threshold in :attr:`unit`."""
        return float(self.minutes if self.minutes is not None else self.meters)

    def describe(self) -> str:
        """Bilingual one-liner, e.g. ``15 分钟 电动自行车 / 15 min by e-bike``."""
        kinds_zh = "、".join(KINDS[k].zh for k in self.kinds)
        kinds_en = ", ".join(KINDS[k].en.lower() for k in self.kinds)
        amount = f"{self.threshold:g}"
        if self.weight == "time":
            return (f"{kinds_zh}：{_MODE_ZH[self.mode]} {amount} 分钟内 / "
                    f"{kinds_en} within {amount} min {_MODE_EN[self.mode]}")
        return (f"{kinds_zh}：{_MODE_ZH[self.mode]} {amount} 米内 / "
                f"{kinds_en} within {amount} m {_MODE_EN[self.mode]}")

    def to_dict(self) -> dict:
        """JSON form; carried by every result."""
        return {"kinds": list(self.kinds), "mode": self.mode, "minutes": self.minutes, "meters": self.meters,
                "unit": self.unit, "threshold": self.threshold, "source": self.source,
                "label": self.describe()}


def service_standard(kinds: str | Iterable[str] | None = None, mode: str | None = None,
                     minutes: float | None = None, meters: float | None = None) -> Standard:
    """The standard of a run: the settings' default for the first kind, overridden by what is given.

    Parameters
    ----------
    kinds : str or iterable of str, optional
        Default ``settings.COVERAGE_DEFAULT_KINDS``.
    mode : str, optional
        Travel mode; default the first kind's.
    minutes, meters : float, optional
        At most one. Without either, the first kind's threshold is used.

    Raises
    ------
    ValueError
        Unknown kind or mode, both thresholds, or a threshold not above 0.
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds or settings.COVERAGE_DEFAULT_KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"未知图层 / unknown kind: {bad} (choose from {', '.join(KINDS)})")
    kinds = tuple(dict.fromkeys(kinds))
    if minutes is not None and meters is not None:
        raise ValueError("分钟与米只能给一个 / give minutes or meters, not both")
    base = settings.COVERAGE_STANDARDS[kinds[0]]
    if mode is not None and mode not in MODES:
        raise ValueError(f"未知出行方式 / unknown travel mode: {mode!r} (choose from {', '.join(MODES)})")
    if minutes is None and meters is None:
        minutes, meters = base.get("minutes"), base.get("meters")
        source = "settings" if mode is None else "settings+user"
    else:
        source = "user" if mode is not None else "settings+user"
    value = minutes if minutes is not None else meters
    if value is None or not np.isfinite(value) or value <= 0:
        raise ValueError(f"阈值须大于 0 / the threshold must be above 0: {value!r}")
    return Standard(kinds=kinds, mode=mode or base["mode"],
                    minutes=None if minutes is None else float(minutes),
                    meters=None if meters is None else float(meters), source=source)


# --------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------


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


def _as_region(region: str | Region) -> Region:
    return region if isinstance(region, Region) else find_region(str(region))


def hex_grid(region: str | Region, res: int = settings.COVERAGE_DEFAULT_RES) -> Grid:
    """The H3 cells of a region: every cell whose centre lies in the region's polygon.

    The same cells as ``h3.geo_to_cells(region.geometry, res)`` (tests check
    it), found faster: candidates are the children of coarser cells (3
    resolutions up) near the region, and a coarse cell well inside one
    district passes all its children without a point test.

    Parameters
    ----------
    region : str or Region
        An adcode or name (:func:`geo.core.regions.find_region`), or a Region.
    res : int
        H3 resolution, one of ``settings.COVERAGE_RESOLUTIONS``.

    Returns
    -------
    Grid
        Cached per region and resolution: do not modify its arrays.
    """
    reg = _as_region(region)
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

    children = [h3i.cell_to_children(int(p), res) for p in parents.tolist()]
    counts = np.fromiter((len(c) for c in children), dtype=np.int64, count=len(children))
    cells = np.fromiter((c for group in children for c in group), dtype=np.int64, count=int(counts.sum()))
    parent_of = np.repeat(np.arange(len(parents)), counts)
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


# --------------------------------------------------------------------------
# Snapping many points at once
# --------------------------------------------------------------------------


@dataclass
class Snaps:
    """Where many points meet a road graph (-1 / NaN where they do not).

    Attributes
    ----------
    edge : ndarray of int64
    fraction : ndarray of float
        Position along the edge from ``edge_u`` (0) to ``edge_v`` (1).
    distance_m : ndarray of float
        Great-circle distance from the point to the road.
    """

    edge: np.ndarray
    fraction: np.ndarray
    distance_m: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Mask of the points that snapped."""
        return self.edge >= 0


def snap_points(graph: RoadGraph, lon: np.ndarray, lat: np.ndarray,
                max_distance_m: float | None = None) -> Snaps:
    """Snap many WGS-84 points to the nearest usable road, vectorised.

    The same answer as :func:`geo.routing.nearest.snap_point` point by point (tests
    compare them): the exact nearest segment of the graph's snapping grid on
    its local plane, searched in growing blocks of grid cells, and the same
    distance limit (``settings.SNAP_MAX_M``). Done on arrays, so 250,000
    cell centres take a fraction of a second instead of a Python loop.

    Parameters
    ----------
    graph : RoadGraph
    lon, lat : array-like
        WGS-84 positions.
    max_distance_m : float, optional
        Default ``settings.SNAP_MAX_M``.

    Returns
    -------
    Snaps
    """
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    n = len(lon)
    limit = settings.SNAP_MAX_M if max_distance_m is None else float(max_distance_m)
    lon0, lat0, kx, ky, cell, ncols, nrows = graph.grid_params
    ncols, nrows = int(ncols), int(nrows)
    x, y = (lon - lon0) * kx, (lat - lat0) * ky
    best_d = np.full(n, np.inf)
    best_j = np.full(n, -1, dtype=np.int64)
    best_s = np.zeros(n)
    max_r = int(math.ceil(limit * 1.1 / cell)) + 1
    pending = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    for r in sorted({1, min(4, max_r), max_r}):
        if not len(pending):
            break
        d, j, s = _nearest_in_blocks(graph, x[pending], y[pending], r, ncols, nrows, cell)
        best_d[pending], best_j[pending], best_s[pending] = d, j, s
        # Every segment within r cells' width of the point lies in its
        # block, so a best distance up to that is the true nearest.
        done = (d <= r * cell) | (r == max_r)
        pending = pending[~done]

    edge = np.full(n, -1, dtype=np.int64)
    frac = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    hit = np.flatnonzero((best_j >= 0) & (best_d <= limit * 1.1))
    if len(hit):
        j, s = best_j[hit], best_s[hit]
        e = np.searchsorted(graph.geom_ptr, j, side="right") - 1
        ax, ay = graph.geom_x[j] / _E7, graph.geom_y[j] / _E7
        bx, by = graph.geom_x[j + 1] / _E7, graph.geom_y[j + 1] / _E7
        plon, plat = ax + s * (bx - ax), ay + s * (by - ay)
        # The difference taken in float32 first, exactly as routing.snap_point does.
        along = graph.geom_cum[j].astype(np.float64) + s * (graph.geom_cum[j + 1] - graph.geom_cum[j]).astype(np.float64)
        length = graph.edge_len_m[e]
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(length > 0, np.clip(along / np.where(length > 0, length, 1.0), 0.0, 1.0), 0.0)
        dm = haversine_m(lon[hit], lat[hit], plon, plat)
        good = dm <= limit
        edge[hit[good]], frac[hit[good]], dist[hit[good]] = e[good], f[good], dm[good]
    return Snaps(edge=edge, fraction=frac, distance_m=dist)


def _nearest_in_blocks(graph: RoadGraph, x: np.ndarray, y: np.ndarray, r: int, ncols: int, nrows: int,
                       cell: float, max_candidates: int = 1_000_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest segment to each point among the segments of its (2r+1)^2 grid block."""
    n = len(x)
    out_d = np.full(n, np.inf)
    out_j = np.full(n, -1, dtype=np.int64)
    out_s = np.zeros(n)
    cx, cy = np.floor(x / cell).astype(np.int64), np.floor(y / cell).astype(np.int64)
    x_lo, x_hi = np.maximum(cx - r, 0), np.minimum(cx + r, ncols - 1)
    y_lo, y_hi = np.maximum(cy - r, 0), np.minimum(cy + r, nrows - 1)
    nrow = np.where((x_lo <= x_hi) & (y_lo <= y_hi), y_hi - y_lo + 1, 0)
    pt_of_row = np.repeat(np.arange(n), nrow)
    row_y = y_lo[pt_of_row] + (np.arange(len(pt_of_row)) - np.repeat(np.cumsum(nrow) - nrow, nrow))
    keys = row_y * ncols
    # Cells of one grid row are consecutive keys, so each row is one slice.
    i0 = np.searchsorted(graph.grid_keys, keys + x_lo[pt_of_row], side="left")
    i1 = np.searchsorted(graph.grid_keys, keys + x_hi[pt_of_row], side="right")
    s0 = graph.grid_ptr[i0]
    cnt = graph.grid_ptr[i1] - s0
    per_pt = np.bincount(pt_of_row, weights=cnt, minlength=n).astype(np.int64)
    vx, vy = _projected_vertices(graph)
    # Points in chunks so the candidate arrays stay a few million long.
    cum = np.concatenate([[0], np.cumsum(per_pt)])
    row_start = np.concatenate([[0], np.cumsum(nrow)])
    p0 = 0
    while p0 < n:
        p1 = int(np.searchsorted(cum, cum[p0] + max_candidates, side="right")) - 1
        p1 = min(max(p1, p0 + 1), n)
        r0, r1 = row_start[p0], row_start[p1]
        p0 = p1
        c = cnt[r0:r1]
        segs = graph.grid_seg[index_ranges(s0[r0:r1], c)].astype(np.int64)
        pts = np.repeat(pt_of_row[r0:r1], c)
        if not len(segs):
            continue
        ax, ay = vx[segs], vy[segs]
        dx, dy = vx[segs + 1] - ax, vy[segs + 1] - ay
        den = dx * dx + dy * dy
        px, py = x[pts], y[pts]
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(den > 0, ((px - ax) * dx + (py - ay) * dy) / den, 0.0)
        s = np.clip(s, 0.0, 1.0)
        d = np.hypot(ax + s * dx - px, ay + s * dy - py)
        # The first candidate of least distance per point, as np.argmin does
        # in routing.snap_point (candidates come in the same row-major order).
        starts = np.flatnonzero(np.r_[True, pts[1:] != pts[:-1]])
        owners = pts[starts]
        mins = np.minimum.reduceat(d, starts)
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pts)]))
        is_min = np.flatnonzero(d == mins[group])
        first = is_min[np.r_[True, group[is_min[1:]] != group[is_min[:-1]]]]
        out_d[owners] = d[first]
        out_j[owners] = segs[first]
        out_s[owners] = s[first]
    return out_d, out_j, out_s


# --------------------------------------------------------------------------
# Travel to the nearest station
# --------------------------------------------------------------------------


@dataclass
class Travel:
    """Travel from every cell to its nearest station.

    Attributes
    ----------
    value : ndarray of float
        In the standard's unit (minutes or metres); ``inf`` where no station
        can be reached.
    station : ndarray of int64
        Row of the nearest station in the station frame, or -1.
    method : ndarray of int8
        Index into ``("network", "estimate", "unreachable")``.
    """

    value: np.ndarray
    station: np.ndarray
    method: np.ndarray
    context: object = None


def estimate_factor(std: Standard) -> float:
    """Standard units per great-circle metre of an estimate.

    ``settings.DETOUR_FACTOR`` for a distance standard; for a minutes
    standard, that detour travelled at ``settings.ESTIMATE_SPEED_KMH[mode]``.

    Parameters
    ----------
    std
        The service standard.
    """
    if std.weight == "distance":
        return settings.DETOUR_FACTOR
    return settings.DETOUR_FACTOR / (settings.ESTIMATE_SPEED_KMH[std.mode] / 3.6) / 60.0


def nearest_estimate(lon: np.ndarray, lat: np.ndarray, st_lon: np.ndarray, st_lat: np.ndarray,
                     std: Standard) -> tuple[np.ndarray, np.ndarray]:
    """Estimated travel to the nearest station, without a road network.

    The nearest station on the great circle (exact: a KD-tree of unit
    vectors, whose chord distance orders points as the great-circle
    distance does), times ``settings.DETOUR_FACTOR``; for a minutes
    standard, travelled at ``settings.ESTIMATE_SPEED_KMH[mode]``.

    Returns
    -------
    (value, station)
        Value in the standard's unit (``inf`` without stations) and the
        index of the nearest station (-1 without).
    """
    n = len(lon)
    if not len(st_lon):
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    tree = cKDTree(geodesy.xyz(st_lon, st_lat))
    chord, idx = tree.query(geodesy.xyz(lon, lat), k=1)
    return geodesy.chord_to_m(chord) * estimate_factor(std), idx.astype(np.int64)


_PER_GRAPH: dict[int, tuple[weakref.ref, dict]] = {}
_PER_GRAPH_LOCK = threading.Lock()


def _graph_cache(graph: RoadGraph) -> dict:
    """A dict of derived arrays kept as long as the graph lives (graphs are unhashable dataclasses)."""
    with _PER_GRAPH_LOCK:
        entry = _PER_GRAPH.get(id(graph))
        if entry is None or entry[0]() is not graph:
            entry = (weakref.ref(graph), {})
            _PER_GRAPH[id(graph)] = entry
            weakref.finalize(graph, _PER_GRAPH.pop, id(graph), None)
        return entry[1]


def _projected_vertices(graph: RoadGraph) -> tuple[np.ndarray, np.ndarray]:
    """Every geometry vertex on the snapping grid's plane (metres), as routing.snap_point computes it."""
    cache = _graph_cache(graph)
    if "projected" not in cache:
        lon0, lat0, kx, ky = graph.grid_params[:4]
        cache["projected"] = ((graph.geom_x / _E7 - lon0) * kx, (graph.geom_y / _E7 - lat0) * ky)
    return cache["projected"]


def _reversed_matrix(graph: RoadGraph, weight: str) -> csr_matrix:
    """The graph's arcs reversed (CSR, real nodes only), cached per graph and weight."""
    cache = _graph_cache(graph)
    key = ("reversed", weight)
    if key not in cache:
        n = graph.n_nodes
        m = graph.matrix(weight)
        # Rows 0..n-1 only: the last row is routing's per-query virtual origin.
        nnz = int(graph.csr_indptr[n])
        real = csr_matrix((m.data[:nnz].copy(), m.indices[:nnz].copy(),
                           graph.csr_indptr[:n + 1].astype(np.int64)), shape=(n, n))
        cache[key] = real.T.tocsr()
    return cache[key]


@dataclass
class _NetworkContext:
    """What service areas need again after the nearest-station pass."""

    graph: RoadGraph
    weight: str
    matrix: csr_matrix          # reversed graph plus one row per snapped station
    st_rows: np.ndarray         # station row of each virtual node n + k
    st_edge: np.ndarray
    st_frac: np.ndarray
    st_access: np.ndarray       # cost of each station's snap stretch
    cell_snaps: Snaps
    cell_access: np.ndarray
    to_unit: float              # graph cost -> standard unit
    off_network: str


def access_cost(metres: np.ndarray, weight: str) -> np.ndarray:
    """Cost of walking the stretches off the graph: seconds, or metres as they are.

    Parameters
    ----------
    metres
        Lengths of the stretches between points and the road.
    weight
        ``"time"`` (walked at ``settings.COVERAGE_ACCESS_SPEED_KMH``) or ``"distance"``.
    """
    if weight == "distance":
        return metres
    return metres / (settings.COVERAGE_ACCESS_SPEED_KMH / 3.6)


def augmented_matrix(graph: RoadGraph, weight: str, st_edge: np.ndarray, st_frac: np.ndarray,
                     st_access: np.ndarray) -> csr_matrix:
    """Reversed graph with a virtual row per station, joined to its edge's ends.

    In the reversed graph an arc ``station -> u`` stands for travelling
    ``u -> station`` forward along the edge, so it exists only where the
    edge may be travelled forward; ``station -> v`` likewise backward.

    Parameters
    ----------
    graph
        The road graph.
    weight
        ``"time"`` or ``"distance"``.
    st_edge, st_frac
        Each snapped station's edge and position along it (:class:`Snaps`).
    st_access
        Cost of each station's snap stretch (:func:`access_cost`).

    Returns
    -------
    csr_matrix
        ``n_nodes + len(st_edge)`` square; station ``k`` is node ``n_nodes + k``.
    """
    rev = _reversed_matrix(graph, weight)
    n = graph.n_nodes
    k = len(st_edge)
    c = graph.edge_cost(weight)[st_edge]
    fwd, bwd = graph.edge_fwd[st_edge], graph.edge_bwd[st_edge]
    row = np.concatenate([np.flatnonzero(fwd), np.flatnonzero(bwd)])
    col = np.concatenate([graph.edge_u[st_edge][fwd], graph.edge_v[st_edge][bwd]]).astype(np.int64)
    w = np.concatenate([st_access[fwd] + st_frac[fwd] * c[fwd], st_access[bwd] + (1.0 - st_frac[bwd]) * c[bwd]])
    order = np.argsort(row, kind="stable")
    row, col, w = row[order], col[order], w[order]
    counts = np.bincount(row, minlength=k)
    indptr = np.concatenate([rev.indptr.astype(np.int64), rev.nnz + np.cumsum(counts)])
    indices = np.concatenate([rev.indices.astype(np.int64), col])
    data = np.concatenate([rev.data, w])
    if len(indices) < 2**31:
        indices = indices.astype(np.int32)
        indptr = indptr.astype(np.int32)
    return csr_matrix((data, indices, indptr), shape=(n + k, n + k))


def _cells_from_nodes(ctx: _NetworkContext, dist: np.ndarray, source: np.ndarray | None,
                      only: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cost from each snapped cell to the stations, from node costs ``dist``.

    ``source`` gives the virtual station node each node was reached from
    (multi-source pass); ``only`` restricts the same-edge shortcut to one
    virtual station (a service area). Returns cost (graph units, access
    stretches included) and virtual station index (-1 where unreachable).
    """
    g = ctx.graph
    on = np.flatnonzero(ctx.cell_snaps.ok)
    e = ctx.cell_snaps.edge[on]
    f = ctx.cell_snaps.fraction[on]
    c = g.edge_cost(ctx.weight)[e]
    u, v = g.edge_u[e], g.edge_v[e]
    n = g.n_nodes
    via_v = np.where(g.edge_fwd[e], (1.0 - f) * c + dist[v], np.inf)
    via_u = np.where(g.edge_bwd[e], f * c + dist[u], np.inf)
    cost = np.minimum(via_v, via_u)
    if source is not None:
        who = np.where(via_v <= via_u, source[v], source[u]).astype(np.int64) - n
    else:
        who = np.full(len(on), 0 if only is None else only, dtype=np.int64)
    who = np.where(np.isfinite(cost), who, -1)

    # A station on the cell's own edge may be reached along it directly.
    st_edge = ctx.st_edge if only is None else ctx.st_edge[[only]]
    st_ids = np.arange(len(ctx.st_edge)) if only is None else np.array([only])
    order = np.argsort(st_edge, kind="stable")
    se = st_edge[order]
    lo = np.searchsorted(se, e, side="left")
    hi = np.searchsorted(se, e, side="right")
    cnt = hi - lo
    if cnt.any():
        pair_cell = np.repeat(np.arange(len(on)), cnt)
        pair_st = st_ids[order[index_ranges(lo, cnt)]]
        ts = ctx.st_frac[pair_st]
        fc, cc, ec = f[pair_cell], c[pair_cell], e[pair_cell]
        direct = np.minimum(np.where(g.edge_fwd[ec] & (ts >= fc), (ts - fc) * cc, np.inf),
                            np.where(g.edge_bwd[ec] & (ts <= fc), (fc - ts) * cc, np.inf))
        direct = direct + ctx.st_access[pair_st]
        best = np.full(len(on), np.inf)
        np.minimum.at(best, pair_cell, direct)
        won = np.flatnonzero(direct == best[pair_cell])
        better = direct[won] < cost[pair_cell[won]]
        cost[pair_cell[won[better]]] = direct[won[better]]
        who[pair_cell[won[better]]] = pair_st[won[better]]
    full_cost = np.full(len(ctx.cell_snaps.edge), np.inf)
    full_who = np.full(len(ctx.cell_snaps.edge), -1, dtype=np.int64)
    full_cost[on] = cost + ctx.cell_access[on]
    full_who[on] = who
    return full_cost, full_who


def nearest_network(graph: RoadGraph, lon: np.ndarray, lat: np.ndarray, st_lon: np.ndarray,
                    st_lat: np.ndarray, std: Standard) -> Travel:
    """Travel on the road network from every point to its nearest station.

    One multi-source Dijkstra (:func:`scipy.sparse.csgraph.dijkstra` with
    ``indices`` = every station's virtual node and ``min_only=True``) on the
    reversed graph gives, for every node, the cost to its nearest station;
    each point then adds the cost along its own edge to the better allowed
    end, or reaches a station on that edge directly. The stretches from the
    point to the road and from the road to the station are walked
    (``settings.COVERAGE_ACCESS_SPEED_KMH``; metres count as metres for a
    distance standard).

    Points farther than ``settings.SNAP_MAX_M`` from every road are
    estimated or unreachable (``settings.COVERAGE_OFF_NETWORK``); stations
    that far from the roads are reached by estimate only, and a point takes
    the estimate to one of them when that is shorter.

    Returns
    -------
    Travel
        Values in the standard's unit; ``method`` per point.
    """
    if graph.mode != std.mode:
        raise ValueError(f"路网出行方式 {graph.mode} 与标准 {std.mode} 不符 / the graph is for {graph.mode}, "
                         f"the standard for {std.mode}")
    weight = std.weight
    to_unit = 1.0 / 60.0 if weight == "time" else 1.0
    n_pts = len(lon)
    st_snap = snap_points(graph, st_lon, st_lat)
    st_rows = np.flatnonzero(st_snap.ok)
    st_edge = st_snap.edge[st_rows]
    st_frac = st_snap.fraction[st_rows]
    st_access = access_cost(st_snap.distance_m[st_rows], weight)
    cell_snaps = snap_points(graph, lon, lat)
    cell_access = access_cost(np.nan_to_num(cell_snaps.distance_m, nan=0.0), weight)
    aug = augmented_matrix(graph, weight, st_edge, st_frac, st_access)
    ctx = _NetworkContext(graph, weight, aug, st_rows, st_edge, st_frac, st_access, cell_snaps, cell_access,
                          to_unit, settings.COVERAGE_OFF_NETWORK)
    n = graph.n_nodes
    value = np.full(n_pts, np.inf)
    station = np.full(n_pts, -1, dtype=np.int64)
    method = np.zeros(n_pts, dtype=np.int8)
    if len(st_rows):
        dist, _, sources = dijkstra(aug, directed=True, indices=np.arange(n, n + len(st_rows)),
                                    min_only=True, return_predecessors=True)
        cost, who = _cells_from_nodes(ctx, dist, sources)
        value = cost * to_unit
        station = np.where(who >= 0, st_rows[np.maximum(who, 0)], -1)

    finite_st = np.isfinite(st_lon) & np.isfinite(st_lat)
    off = np.flatnonzero(~cell_snaps.ok)
    if len(off) and ctx.off_network == "unreachable":
        method[off], value[off], station[off] = 2, np.inf, -1
    elif len(off):
        # Off the network a point may go to any station, by estimate.
        pool = np.flatnonzero(finite_st)
        ev, ei = nearest_estimate(lon[off], lat[off], st_lon[pool], st_lat[pool], std)
        method[off], value[off] = 1, ev
        station[off] = np.where(ei >= 0, pool[np.maximum(ei, 0)] if len(pool) else -1, -1)
    # On it, the stations the network cannot reach are still there by estimate.
    far = np.flatnonzero(~st_snap.ok & finite_st)
    on = np.flatnonzero(cell_snaps.ok)
    if len(far) and len(on):
        ev, ei = nearest_estimate(lon[on], lat[on], st_lon[far], st_lat[far], std)
        better = ev < value[on]
        value[on[better]], station[on[better]], method[on[better]] = ev[better], far[ei[better]], 1
    return Travel(value=value, station=station, method=method, context=ctx)


# --------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------


@dataclass
class CoverageResult:
    """Everything a coverage run found.

    Attributes
    ----------
    region : Region
    standard : Standard
    method : str
        ``"network"`` or ``"estimate"`` (see ``method_cells`` for a mix).
    resolution : int
    covered_share_area, covered_share_demand : float
        Covered area / all area, covered demand / all demand, in [0, 1].
    cells : GeoDataFrame
        One hexagon per cell: ``h3``, ``district``, ``lon``, ``lat``,
        ``area_km2``, ``demand``, ``travel`` (standard unit; inf when no
        station is reachable), ``covered``, ``station_id``, ``method``, ``gap``
        (rank of the cell's gap, 0 when covered).
    districts : DataFrame
        One row per district of the region (see :func:`district_table`).
    gap_table : DataFrame
        Connected uncovered cells ranked by demand (``gap`` 1 = most
        demand): ``cells``, ``area_km2``, ``demand``, centroid ``lon``/``lat``,
        main ``district`` and all ``districts`` it spans,
        ``station_distance_m`` (centroid to the nearest serving station, great
        circle) and ``travel_max``. :attr:`gaps` adds the dissolved polygons.
    stations : GeoDataFrame
        The stations that served (chosen kinds and statuses).
    demand : Demand
    method_cells : dict
        Cells per method (``network``, ``estimate``, ``unreachable``).
    notes : list of str
    timings : dict
        Seconds per step.
    """

    region: Region
    standard: Standard
    method: str
    resolution: int
    covered_share_area: float
    covered_share_demand: float
    cells: gpd.GeoDataFrame
    districts: pd.DataFrame
    gap_table: pd.DataFrame
    stations: gpd.GeoDataFrame
    demand: Demand
    method_cells: dict
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    _grid: Grid | None = field(default=None, repr=False)
    _travel: Travel | None = field(default=None, repr=False)
    _gap_geoms: dict = field(default_factory=dict, repr=False)

    def gap_geometries(self, top: int | None = None) -> np.ndarray:
        """Dissolved polygons of the ``top`` largest gaps (all by default), built once each.

        Dissolving is the costliest part of a run on a big grid (a gap of
        a million res-9 cells takes seconds), so it happens on demand.
        """
        n = len(self.gap_table) if top is None else min(int(top), len(self.gap_table))
        need = [r for r in range(1, n + 1) if r not in self._gap_geoms]
        if need and self._grid is not None:
            rank = self.cells["gap"].to_numpy()
            self._gap_geoms.update(gap_geometries(self._grid, rank, max(need)))
        return np.array([self._gap_geoms.get(r) for r in range(1, n + 1)], dtype=object)

    @property
    def gaps(self) -> gpd.GeoDataFrame:
        """The gap table with each gap's dissolved (multi)polygon, largest demand first."""
        return gpd.GeoDataFrame(self.gap_table.copy(), geometry=self.gap_geometries(), crs="EPSG:4326")

    def to_dict(self, max_gaps: int | None = settings.COVERAGE_MAX_GAPS) -> dict:
        """The JSON summary of ``python -m geo coverage --json``."""
        gaps = self.gap_table
        listed = gaps if max_gaps is None else gaps.head(max_gaps)
        out = {
            "region": {"adcode": self.region.adcode, "name": self.region.name, "level": self.region.level},
            "standard": self.standard.to_dict(),
            "method": self.method,
            "label": settings.NETWORK_LABEL if self.method == "network" else settings.ESTIMATE_LABEL,
            "resolution": self.resolution,
            "cells": int(len(self.cells)),
            "method_cells": dict(self.method_cells),
            "area_km2": _num(self.cells["area_km2"].sum(), 3),
            "covered_share_area": _num(self.covered_share_area, 6),
            "covered_share_demand": _num(self.covered_share_demand, 6),
            "demand": self.demand.to_dict(),
            "stations": int(len(self.stations)),
            "stations_in_region": int(self.districts["stations"].sum()),
            "districts": json_records(self.districts),
            "gaps_total": int(len(self.gap_table)),
            "gaps": json_records(listed),
            "notes": list(self.notes),
        }
        if len(self.stations) and "is_sample" in self.stations and \
                self.stations["is_sample"].fillna(False).astype(bool).any():
            out["notice"] = settings.SAMPLE_LABEL
        return out


def _num(value, digits: int = 3):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    return round(f, digits) if math.isfinite(f) else None


def json_records(df: pd.DataFrame) -> list[dict]:
    """A table's rows as JSON-ready dicts.

    Numpy scalars become Python ones, floats are rounded (3 decimals, 6 for
    ``lon``/``lat``) and NaN, infinity and missing values become ``None``.

    Parameters
    ----------
    df
        Any table (districts, gaps, sites).
    """
    out = []
    for rec in df.to_dict("records"):
        row = {}
        for k, v in rec.items():
            if isinstance(v, (bool, np.bool_)):
                row[k] = bool(v)
            elif isinstance(v, (int, np.integer)):
                row[k] = int(v)
            elif isinstance(v, (float, np.floating)):
                row[k] = _num(v, 3 if k not in ("lon", "lat") else 6)
            elif v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
                row[k] = None
            else:
                row[k] = v
        out.append(row)
    return out


# --------------------------------------------------------------------------
# Stations and graphs
# --------------------------------------------------------------------------


def _load_stations(registry: str | Path | None, std: Standard, statuses: Iterable[str]) -> gpd.GeoDataFrame:
    from geo.registry.store import open_store

    if registry is not None and not Path(registry).exists():
        # Reading must not create an empty registry at a mistyped path.
        raise ValueError(f"登记库不存在 / registry not found: {registry}")
    return open_store(registry).load(kinds=list(std.kinds), statuses=list(statuses))


def _filter_stations(stations: pd.DataFrame, std: Standard, statuses: Iterable[str]) -> gpd.GeoDataFrame:
    st = stations
    if "kind" in st:
        st = st[st["kind"].isin(std.kinds)]
    if "status" in st and statuses:
        st = st[st["status"].fillna("open").replace("", "open").isin(list(statuses))]
    st = st[np.isfinite(st["lon"].to_numpy(float)) & np.isfinite(st["lat"].to_numpy(float))]
    if not isinstance(st, gpd.GeoDataFrame):
        st = gpd.GeoDataFrame(st, geometry=gpd.points_from_xy(st["lon"], st["lat"]), crs="EPSG:4326")
    return st.reset_index(drop=True)


def _resolve_graph(network, mode: str) -> RoadGraph | None:
    """None/False/'none' -> no graph (None only when settings.network_dir() lacks one); a folder -> its mode graph."""
    if network is False or (isinstance(network, str) and network.lower() in ("none", "off", "estimate")):
        return None
    if isinstance(network, RoadGraph):
        return network
    # A folder asked for by name must hold the graph; the default one may lack it (then estimate).
    return resolve_graph(mode, directory=network, missing_ok=network is None)


# --------------------------------------------------------------------------
# Gaps
# --------------------------------------------------------------------------


def gap_labels(grid: Grid, uncovered: np.ndarray) -> np.ndarray:
    """Component label of each uncovered cell (-1 for covered), by edge-sharing neighbours.

    Parameters
    ----------
    grid
        The grid of the run.
    uncovered
        Boolean mask over the grid's cells.
    """
    labels = np.full(len(grid.cells), -1, dtype=np.int64)
    idx = np.flatnonzero(uncovered)
    if not len(idx):
        return labels
    i, j = grid.neighbours
    both = uncovered[i] & uncovered[j]
    pos = np.full(len(grid.cells), -1, dtype=np.int64)
    pos[idx] = np.arange(len(idx))
    a, b = pos[i[both]], pos[j[both]]
    adj = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(len(idx), len(idx))).tocsr()
    _, lab = connected_components(adj, directed=False)
    labels[idx] = lab
    return labels


def gap_table(grid: Grid, labels: np.ndarray, demand: np.ndarray, travel: np.ndarray,
              stations: gpd.GeoDataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Gap statistics ranked by demand, and each cell's gap rank (0 = not in a gap).

    Parameters
    ----------
    grid
        The grid of the run.
    labels
        From :func:`gap_labels`.
    demand, travel
        Per cell, in grid order (travel in the standard's unit).
    stations
        Serving stations (``lon``, ``lat``), for each gap's distance to the nearest.

    Returns
    -------
    (table, rank_of_cell)
        The columns of :attr:`CoverageResult.gap_table`, most demand first;
        each cell's gap rank.
    """
    rank_of_cell = np.zeros(len(grid.cells), dtype=np.int64)
    idx = np.flatnonzero(labels >= 0)
    cols = ["gap", "cells", "area_km2", "demand", "lon", "lat", "district", "districts",
            "station_distance_m", "travel_max"]
    if not len(idx):
        return pd.DataFrame(columns=cols), rank_of_cell
    lab = labels[idx]
    k = int(lab.max()) + 1
    area = grid.area_km2[idx]
    ncells = np.bincount(lab, minlength=k)
    a_sum = np.bincount(lab, weights=area, minlength=k)
    d_sum = np.bincount(lab, weights=demand[idx], minlength=k)
    xyz = grid.xyz[idx] * area[:, None]
    cen = np.column_stack([np.bincount(lab, weights=xyz[:, q], minlength=k) for q in range(3)])
    cen /= np.linalg.norm(cen, axis=1, keepdims=True)
    c_lon = np.degrees(np.arctan2(cen[:, 1], cen[:, 0]))
    c_lat = np.degrees(np.arcsin(np.clip(cen[:, 2], -1, 1)))
    t = travel[idx]
    tmax = np.full(k, -np.inf)
    np.maximum.at(tmax, lab, t)
    first_cell = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(first_cell, lab, grid.cells[idx])
    # Main district: the one holding most of the gap's area.
    dcodes, dinv = np.unique(grid.district[idx].astype(str), return_inverse=True)
    pair = lab * len(dcodes) + dinv
    pa = np.bincount(pair, weights=area, minlength=k * len(dcodes)).reshape(k, len(dcodes))
    main = dcodes[pa.argmax(axis=1)]
    spans = [",".join(dcodes[np.flatnonzero(row > 0)]) for row in pa]
    if len(stations):
        st = cKDTree(geodesy.xyz(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float)))
        ch, _ = st.query(cen, k=1)
        sd = geodesy.chord_to_m(ch)
    else:
        sd = np.full(k, np.inf)
    # Most demand first; equal demand (e.g. zero) by area, then by first cell, for a stable order.
    order = np.lexsort((first_cell, -a_sum, -d_sum))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(1, k + 1)
    rank_of_cell[idx] = rank[lab]
    df = pd.DataFrame({"gap": rank[order], "cells": ncells[order], "area_km2": a_sum[order],
                       "demand": d_sum[order], "lon": c_lon[order], "lat": c_lat[order],
                       "district": main[order], "districts": np.asarray(spans, dtype=object)[order],
                       "station_distance_m": sd[order], "travel_max": tmax[order]})
    return df, rank_of_cell


def _dissolve(grid: Grid, members: np.ndarray) -> shapely.Geometry:
    hexes = grid.hexagons[members]
    if len(hexes) == 1:
        return hexes[0]
    # Neighbouring H3 boundaries share their vertices exactly, which is what
    # coverage_union needs; it is ~10x faster than a general union.
    out = shapely.coverage_union_all(hexes)
    if not shapely.is_valid(out):  # pragma: no cover - defensive
        out = shapely.union_all(hexes)
    return out


def gap_geometries(grid: Grid, rank_of_cell: np.ndarray, top: int) -> dict[int, shapely.Geometry]:
    """Rank -> dissolved polygon, for gaps 1..top.

    Parameters
    ----------
    grid
        The grid of the run.
    rank_of_cell
        From :func:`gap_table`.
    top
        Highest rank to dissolve.
    """
    out: dict[int, shapely.Geometry] = {}
    idx = np.flatnonzero((rank_of_cell > 0) & (rank_of_cell <= top))
    if not len(idx):
        return out
    order = idx[np.argsort(rank_of_cell[idx], kind="stable")]
    r = rank_of_cell[order]
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts, ends):
        out[int(r[s])] = _dissolve(grid, order[s:e])
    return out


# --------------------------------------------------------------------------
# Districts
# --------------------------------------------------------------------------


def _weighted_quantile(group: np.ndarray, values: np.ndarray, weights: np.ndarray, k: int,
                       q: float) -> np.ndarray:
    """Per group, the smallest value whose cumulative weight share reaches ``q``."""
    out = np.full(k, np.nan)
    ok = weights > 0
    group, values, weights = group[ok], values[ok], weights[ok]
    if not len(group):
        return out
    order = np.lexsort((values, group))
    g, v, w = group[order], values[order], weights[order]
    cum = np.cumsum(w)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    base = np.repeat(cum[starts] - w[starts], np.diff(np.r_[starts, len(g)]))
    tot = np.bincount(g, weights=w, minlength=k)
    share = (cum - base) / tot[g]
    hit = np.flatnonzero(share >= q - 1e-12)
    first = hit[np.r_[True, g[hit[1:]] != g[hit[:-1]]]]
    out[g[first]] = v[first]
    return out


def district_table(grid: Grid, travel: np.ndarray, covered: np.ndarray, demand: Demand,
                   stations: gpd.GeoDataFrame, rank_of_cell: np.ndarray, gaps: pd.DataFrame) -> pd.DataFrame:
    """One row per district of the region.

    Columns: ``adcode``, ``name``, ``city``, ``cells``, ``area_km2``,
    ``population`` (census, when a table was given), ``demand``, ``stations``
    (serving stations inside the district), ``stations_per_100k`` (when the
    population is known), ``covered_share_area``, ``covered_share_demand``,
    ``travel_mean`` and ``travel_p95`` (in the standard's unit, weighted by
    the demand in use and over the cells that can reach a station),
    ``unreachable_cells``, and the district's largest gap: ``largest_gap`` (its
    rank), ``largest_gap_km2`` and ``largest_gap_demand`` (its part inside
    the district).
    """
    bounds = load_boundaries("district").set_index("adcode")
    codes = region_districts(grid)
    k = len(codes)
    pos = {c: i for i, c in enumerate(codes)}
    g = np.array([pos.get(c, -1) for c in grid.district], dtype=np.int64)
    ok = g >= 0
    gi = g[ok]
    area = grid.area_km2[ok]
    dem = demand.values[ok]
    cov = covered[ok]
    tv = travel[ok]
    cells = np.bincount(gi, minlength=k)
    a_sum = np.bincount(gi, weights=area, minlength=k)
    d_sum = np.bincount(gi, weights=dem, minlength=k)
    a_cov = np.bincount(gi, weights=area * cov, minlength=k)
    d_cov = np.bincount(gi, weights=dem * cov, minlength=k)
    fin = np.isfinite(tv)
    w = np.where(fin, dem, 0.0)
    w_sum = np.bincount(gi, weights=w, minlength=k)
    t_mean = np.bincount(gi, weights=np.where(fin, tv, 0.0) * w, minlength=k) / np.where(w_sum > 0, w_sum, np.nan)
    t_p95 = _weighted_quantile(gi, np.where(fin, tv, 0.0), w, k, 0.95)
    unreach = np.bincount(gi, weights=~fin, minlength=k).astype(np.int64)

    st_count = np.zeros(k, dtype=np.int64)
    if len(stations):
        where = locate(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float))["adcode"]
        for code, cnt in where.dropna().value_counts().items():
            if code in pos:
                st_count[pos[code]] = int(cnt)
    pop = demand.district_population
    population = np.array([pop.get(c, np.nan) if pop else np.nan for c in codes], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_100k = np.where(population > 0, st_count / population * 1e5, np.nan)
        share_a = np.where(a_sum > 0, a_cov / a_sum, np.nan)
        share_d = np.where(d_sum > 0, d_cov / d_sum, np.nan)

    lg_rank = np.zeros(k, dtype=np.int64)
    lg_area = np.zeros(k)
    lg_dem = np.zeros(k)
    in_gap = ok & (rank_of_cell > 0)
    if in_gap.any():
        gg, rr = g[in_gap], rank_of_cell[in_gap]
        key = gg * (int(rr.max()) + 1) + rr
        ukey, inv = np.unique(key, return_inverse=True)
        ka = np.bincount(inv, weights=grid.area_km2[in_gap])
        kd = np.bincount(inv, weights=demand.values[in_gap])
        kg, kr = ukey // (int(rr.max()) + 1), ukey % (int(rr.max()) + 1)
        # Per district the gap with most demand inside it; by area when demand ties.
        order = np.lexsort((kr, -ka, -kd, kg))
        first = order[np.r_[True, kg[order][1:] != kg[order][:-1]]]
        lg_rank[kg[first]], lg_area[kg[first]], lg_dem[kg[first]] = kr[first], ka[first], kd[first]

    names = [str(bounds.at[c, "name"]) if c in bounds.index else "" for c in codes]
    cities = [str(bounds.at[c, "city"]) if c in bounds.index else "" for c in codes]
    return pd.DataFrame({
        "adcode": codes, "name": names, "city": cities, "cells": cells, "area_km2": a_sum,
        "population": population, "demand": d_sum, "stations": st_count, "stations_per_100k": per_100k,
        "covered_share_area": share_a, "covered_share_demand": share_d, "travel_mean": t_mean,
        "travel_p95": t_p95, "unreachable_cells": unreach, "largest_gap": lg_rank,
        "largest_gap_km2": lg_area, "largest_gap_demand": lg_dem})


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def coverage(region: str | Region, kinds: str | Iterable[str] | None = None, *, mode: str | None = None,
             minutes: float | None = None, meters: float | None = None,
             res: int = settings.COVERAGE_DEFAULT_RES, network: RoadGraph | str | Path | bool | None = None,
             population: str | Path | pd.Series | None = None,
             demand: str | Path | pd.DataFrame | None = None, demand_weight: str | None = None,
             demand_crs: str = "auto", stations: pd.DataFrame | None = None,
             registry: str | Path | None = None,
             statuses: Iterable[str] = settings.COVERAGE_STATUSES) -> CoverageResult:
    """Coverage of a region by the open stations of some kinds.

    Parameters
    ----------
    region : str or Region
        Province, city or district, by adcode or name.
    kinds : str or iterable of str, optional
        Station kinds that serve; default ``settings.COVERAGE_DEFAULT_KINDS``.
    mode, minutes, meters
        The service standard (:func:`service_standard`); defaults from
        ``settings.COVERAGE_STANDARDS``.
    res : int
        H3 resolution (7-9).
    network : RoadGraph, str, Path, bool or None
        A graph, or a folder of graphs (the mode's is loaded). ``None`` uses
        ``settings.network_dir()`` when it holds the mode's graph, else
        estimates; ``False`` (or ``"none"``) always estimates.
    population : str, Path or Series, optional
        County population table: demand by population (unless ``demand`` is
        given too) and "stations per 100k people".
    demand : str, Path or DataFrame, optional
        Demand points (CSV/XLSX/GeoJSON ...; a frame with WGS-84 ``lon``,
        ``lat``, ``weight``) or a population GeoTIFF (``.tif``).
    demand_weight, demand_crs : str, optional
        Weight column and coordinate system of a demand-point file.
    stations : DataFrame, optional
        Stations to use instead of the registry (e.g. with planned sites);
        filtered by ``kinds`` and ``statuses`` all the same.
    registry : str or Path, optional
        Registry GeoPackage; default ``settings.REGISTRY_PATH``.
    statuses : iterable of str
        Statuses of serving stations; default ``("open",)``.

    Returns
    -------
    CoverageResult
        Stations outside the region serve it too (a worker at a border
        crosses it); only those inside a district are counted in its row.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    reg = _as_region(region)
    std = service_standard(kinds, mode, minutes, meters)
    statuses = tuple(statuses or ())
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise ValueError(f"未知状态 / unknown status: {bad}")
    grid = hex_grid(reg, res)
    timings["grid_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    st = _filter_stations(stations if stations is not None else _load_stations(registry, std, statuses),
                          std, statuses)
    graph = _resolve_graph(network, std.mode)
    timings["load_s"] = time.perf_counter() - t

    t = time.perf_counter()
    st_lon, st_lat = st["lon"].to_numpy(float), st["lat"].to_numpy(float)
    notes: list[str] = []
    if graph is None:
        value, who = nearest_estimate(grid.lon, grid.lat, st_lon, st_lat, std)
        trav = Travel(value=value, station=who, method=np.ones(len(grid.cells), dtype=np.int8))
        method = "estimate"
    else:
        trav = nearest_network(graph, grid.lon, grid.lat, st_lon, st_lat, std)
        method = "network"
        ctx = trav.context
        unsnapped = len(st) - len(ctx.st_rows)
        if unsnapped:
            notes.append(f"{unsnapped} 个站点距路网超过 {settings.SNAP_MAX_M:.0f} 米，按估算到达 / {unsnapped} "
                         f"station(s) lie over {settings.SNAP_MAX_M:.0f} m from the {std.mode} network and are "
                         f"reached by estimate")
        off = int((~ctx.cell_snaps.ok).sum())
        if off:
            notes.append(f"{off} 个格网距路网超过 {settings.SNAP_MAX_M:.0f} 米（{settings.COVERAGE_OFF_NETWORK}） / "
                         f"{off} cell(s) lie over {settings.SNAP_MAX_M:.0f} m from the network "
                         f"({settings.COVERAGE_OFF_NETWORK})")
    if not len(st):
        notes.append("没有符合条件的站点 / no station of the chosen kinds and statuses")
    timings["travel_s"] = time.perf_counter() - t

    t = time.perf_counter()
    dem = build_demand(grid, population=population, demand=demand, weight_column=demand_weight, crs=demand_crs)
    notes.extend(dem.notes)
    timings["demand_s"] = time.perf_counter() - t

    t = time.perf_counter()
    covered = trav.value <= std.threshold
    area_total = float(grid.area_km2.sum())
    share_area = float(grid.area_km2[covered].sum() / area_total) if area_total > 0 else 0.0
    dem_total = float(dem.values.sum())
    if dem_total > 0:
        share_demand = float(dem.values[covered].sum() / dem_total)
    else:
        share_demand = 0.0
        notes.append("区域内没有需求，需求覆盖率记为 0 / no demand inside the region; demand share set to 0")
    share_area, share_demand = min(max(share_area, 0.0), 1.0), min(max(share_demand, 0.0), 1.0)
    labels = gap_labels(grid, ~covered)
    gap_df, rank_of_cell = gap_table(grid, labels, dem.values, trav.value, st)
    timings["gaps_s"] = time.perf_counter() - t

    t = time.perf_counter()
    districts = district_table(grid, trav.value, covered, dem, st, rank_of_cell, gap_df)
    timings["districts_s"] = time.perf_counter() - t

    t = time.perf_counter()
    ids = st["id"].astype(str).to_numpy() if len(st) else np.array([], dtype=object)
    station_id = np.where(trav.station >= 0, ids[np.maximum(trav.station, 0)] if len(ids) else "", None)
    cells = gpd.GeoDataFrame({
        "h3": grid.h3, "district": grid.district, "lon": grid.lon, "lat": grid.lat,
        "area_km2": grid.area_km2, "demand": dem.values, "travel": trav.value, "covered": covered,
        "station_id": station_id, "method": np.asarray(_METHODS, dtype=object)[trav.method],
        "gap": rank_of_cell}, geometry=grid.hexagons, crs="EPSG:4326")
    counts = np.bincount(trav.method, minlength=3)
    timings["cells_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    return CoverageResult(
        region=reg, standard=std, method=method, resolution=res, covered_share_area=share_area,
        covered_share_demand=share_demand, cells=cells, districts=districts, gap_table=gap_df, stations=st,
        demand=dem, method_cells={m: int(c) for m, c in zip(_METHODS, counts)}, notes=notes,
        timings={k: round(v, 4) for k, v in timings.items()}, _grid=grid, _travel=trav)


# --------------------------------------------------------------------------
# Service areas
# --------------------------------------------------------------------------


def service_areas(result: CoverageResult, station_ids: Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """Service areas (isochrones) of chosen stations: the cells within the standard of each.

    A station's service area is the set of the region's cells from which
    *that* station (not only the nearest) is within the threshold, dissolved
    into one (multi)polygon: by the same network costs as the coverage run
    (one bounded Dijkstra per station from its virtual node on the reversed
    graph, limited to the threshold), or by the estimate. Cells rather than
    a concave hull of reached nodes, so areas line up with the coverage map
    and never include unreachable pockets between roads.

    Parameters
    ----------
    result : CoverageResult
    station_ids : iterable of str, optional
        Default every serving station.

    Returns
    -------
    GeoDataFrame
        ``station_id``, ``name``, ``cells``, ``area_km2``, ``demand``,
        geometry (empty where no cell is within reach), in the order asked.
    """
    grid, trav, std, st = result._grid, result._travel, result.standard, result.stations
    if grid is None or trav is None:
        raise ValueError("this result carries no grid; run coverage() again")
    ids = st["id"].astype(str).tolist()
    wanted = ids if station_ids is None else [str(s) for s in station_ids]
    missing = [s for s in wanted if s not in ids]
    if missing:
        raise ValueError(f"站点不在本次分析中 / station(s) not among the serving stations: {', '.join(missing)}")
    row_of = {s: i for i, s in enumerate(ids)}
    demand = result.cells["demand"].to_numpy(float)
    factor = estimate_factor(std)
    ctx: _NetworkContext | None = trav.context
    records, geoms = [], []
    for sid in wanted:
        i = row_of[sid]
        slon, slat = float(st["lon"].iat[i]), float(st["lat"].iat[i])
        if ctx is None:
            radius = geodesy.m_to_chord(std.threshold / factor)
            members = np.asarray(grid.tree.query_ball_point(geodesy.xyz([slon], [slat])[0], radius), dtype=np.int64)
            members.sort()
            value = haversine_m(grid.lon[members], grid.lat[members], slon, slat) * factor
            members = members[value <= std.threshold]
        else:
            value = np.full(len(grid.cells), np.inf)
            virtual = np.flatnonzero(ctx.st_rows == i)
            snapped = ctx.cell_snaps.ok
            if len(virtual):
                j = int(virtual[0])
                limit = std.threshold / ctx.to_unit
                dist = dijkstra(ctx.matrix, directed=True, indices=ctx.graph.n_nodes + j, limit=limit)
                cost, _ = _cells_from_nodes(ctx, dist, None, only=j)
                value = cost * ctx.to_unit
            # As in the coverage run: cells off the network by estimate (unless
            # they count as unreachable), and a station off it by estimate from
            # the cells on it.
            est = (~snapped if ctx.off_network == "estimate" else np.zeros(len(snapped), dtype=bool)) \
                | (snapped if not len(virtual) else np.zeros(len(snapped), dtype=bool))
            if est.any():
                e = haversine_m(grid.lon[est], grid.lat[est], slon, slat) * factor
                value[est] = np.minimum(value[est], e)
            members = np.flatnonzero(value <= std.threshold)
        geoms.append(_dissolve(grid, members) if len(members) else shapely.Polygon())
        records.append({"station_id": sid, "name": str(st["name"].iat[i]) if "name" in st else "",
                        "cells": int(len(members)), "area_km2": float(grid.area_km2[members].sum()),
                        "demand": float(demand[members].sum())})
    return gpd.GeoDataFrame(records, geometry=geoms, crs="EPSG:4326")


# --------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------


def _geojson_value(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if v is None or v is pd.NA:
        return None
    return v


def to_geojson(frame: gpd.GeoDataFrame, standard: Standard | None = None) -> str:
    """A GeoDataFrame as RFC 7946 GeoJSON text (WGS-84, 7 decimals; inf and NaN -> null)."""
    props = [c for c in frame.columns if c != frame.geometry.name]
    geoms = shapely.to_geojson(shapely.set_precision(frame.geometry.to_numpy(), 1e-7)) if len(frame) else []
    parts = []
    for rec, g in zip(frame[props].to_dict("records"), geoms):
        p = json.dumps({k: _geojson_value(v) for k, v in rec.items()}, ensure_ascii=False)
        parts.append(f'{{"type":"Feature","geometry":{g or "null"},"properties":{p}}}')
    head = {"type": "FeatureCollection"}
    if standard is not None:
        head["standard"] = standard.to_dict()
    text = json.dumps(head, ensure_ascii=False)[:-1]
    return text + ',"features":[' + ",".join(parts) + "]}"


def write_layer(result: CoverageResult, layer: str, path: str | Path) -> Path:
    """Write one layer of a result: ``gaps``, ``cells`` or ``districts``.

    The format follows the extension: ``.geojson``/``.json`` (districts get
    their boundary polygons) or ``.csv`` (UTF-8 with BOM, formula cells
    escaped; geometry dropped, cells and gaps keep their centre lon/lat).
    """
    from geo.registry.io.writers import csv_bytes

    path = Path(path)
    if layer == "gaps":
        frame = result.gaps
    elif layer == "cells":
        frame = result.cells
    elif layer == "districts":
        b = load_boundaries("district")[["adcode", "geometry"]]
        frame = gpd.GeoDataFrame(result.districts.merge(b, on="adcode", how="left"), geometry="geometry",
                                 crs="EPSG:4326")
    else:
        raise ValueError(f"unknown layer {layer!r} (gaps, cells, districts)")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        table = pd.DataFrame(frame.drop(columns=frame.geometry.name)).copy()
        table.insert(0, "unit", result.standard.unit)
        table.insert(0, "standard", result.standard.describe())
        for col in table.columns:
            if table[col].dtype.kind == "f":
                table[col] = table[col].where(np.isfinite(table[col]))
        path.write_bytes(csv_bytes(table))
    else:
        path.write_text(to_geojson(frame, result.standard), encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# Command line (parsed in geo/cli/main.py)
# --------------------------------------------------------------------------


def run_coverage_command(args) -> int:
    """``python -m geo coverage --region ADCODE ... [--json]``."""
    from geo.registry.io.readers import ReadError

    try:
        result = coverage(
            args.region, args.kind, mode=args.mode, minutes=args.minutes, meters=args.meters, res=args.res,
            network=args.network, population=args.population, demand=args.demand,
            demand_weight=getattr(args, "demand_weight", None), demand_crs=getattr(args, "demand_crs", "auto"),
            registry=args.registry, statuses=getattr(args, "status", None) or settings.COVERAGE_STATUSES)
    except ReadError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    written = {}
    if args.out:
        written["gaps"] = str(write_layer(result, "gaps", args.out))
    if getattr(args, "cells_out", None):
        written["cells"] = str(write_layer(result, "cells", args.cells_out))
    if getattr(args, "districts_out", None):
        written["districts"] = str(write_layer(result, "districts", args.districts_out))
    if getattr(args, "report", None):
        from geo.web.report import write_report

        written["report"] = str(write_report(result, args.report))
    if getattr(args, "service_area", None):
        areas = service_areas(result, args.service_area)
        target = getattr(args, "service_areas_out", None)
        if target:
            Path(target).write_text(to_geojson(areas, result.standard), encoding="utf-8")
            written["service_areas"] = target
    summary = result.to_dict()
    summary["outputs"] = written
    summary["timings"] = result.timings
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    unit = result.standard.unit
    print(f"{result.region.name} ({result.region.adcode}) — {result.standard.describe()}")
    print(f"方法 / method: {summary['label']}; H3 res {result.resolution}, {len(result.cells)} 个格网 / cells")
    print(f"面积覆盖率 / covered share by area: {result.covered_share_area:.1%}; "
          f"需求覆盖率 / by demand ({result.demand.kind}): {result.covered_share_demand:.1%}")
    for row in result.districts.itertuples():
        print(f"  {row.adcode} {row.name}: {row.stations} 站 / stations, "
              f"{row.covered_share_area:.1%} 覆盖 / covered, p95 {row.travel_p95:.1f} {unit}")
    for row in result.gap_table.head(10).itertuples():
        print(f"  缺口 / gap {row.gap}: {row.area_km2:.1f} km², demand {row.demand:.1f}, "
              f"{row.district}, ({row.lon:.4f}, {row.lat:.4f})")
    if "notice" in summary:
        print(f"注意 / notice: {summary['notice']}")
    for note in result.notes:
        print(f"注意 / note: {note}")
    for layer, path in written.items():
        print(f"已写入 / wrote {layer}: {path}", file=sys.stderr)
    return 0
