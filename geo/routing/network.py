"""Road networks for routing: read OpenStreetMap, build a graph per travel mode, cache it.

A :class:`RoadGraph` is one travel mode's view of the roads, as flat numpy
arrays:

* **nodes** are intersections and dead ends (OSM nodes where usable ways
  meet or end), with WGS-84 positions;
* **edges** are the road pieces between two nodes, each with its full
  geometry (every OSM shape point, so routes are drawn along the road), its
  length, its travel time for the mode, whether it may be travelled forward
  (``u -> v``) and backward, its highway class and its road name and ref;
* **arcs** are the directed, de-duplicated edges in compressed sparse row
  (CSR) form, ready for :func:`scipy.sparse.csgraph.dijkstra`, with one
  spare row for a per-query virtual origin (see :mod:`geo.routing.nearest`);
* a **snap grid** buckets every road segment into square cells so the
  nearest point on the nearest road is found without scanning the graph.

Graphs are written as uncompressed ``.npz`` files, one per mode, beside a
``meta.json``; loading is a few ``np.load`` reads, with no parsing.

Which ways a mode may use, in which direction and how fast is decided per
way from its tags (``highway``, ``oneway``, ``junction``, ``motorroad``,
``expressway``, ``access`` and the mode's own access keys, ``maxspeed``) with
the speed table in :data:`geo.settings.ROUTING_SPEEDS_KMH`. docs/network.md
documents the rules and their sources.
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from geo import settings
from geo.core.crs import haversine_m
from geo.core.geodesy import M_PER_DEGREE

#: Travel modes, each with a graph of its own.
MODES: tuple[str, ...] = tuple(settings.ROUTING_MODES)

#: OSM ``highway`` values a graph may contain, in storage order (``edge_class``).
HIGHWAY_CLASSES: tuple[str, ...] = (
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
    "residential", "living_street", "service", "road", "track", "pedestrian",
    "footway", "path", "steps", "cycleway", "corridor", "bridleway", "busway",
)
_CLASS_ID = {c: i for i, c in enumerate(HIGHWAY_CLASSES)}

FORMAT = "geo-roadgraph"
FORMAT_VERSION = 1

_E7 = 1e7  # geometry is stored as integer 1e-7 degrees, OSM's own precision

# The access keys that apply to a mode, from the most general to the most
# specific; the most specific key present decides (OSM access hierarchy).
_ACCESS_KEYS = {
    "walk": ("access", "foot"),
    "ebike": ("access", "vehicle", "bicycle", "electric_bicycle"),
    "drive": ("access", "vehicle", "motor_vehicle", "motorcar"),
    "truck": ("access", "vehicle", "motor_vehicle", "hgv"),
}
_DENY = frozenset({"no", "private", "agricultural", "forestry", "emergency", "military",
                   "psv", "bus", "disabled", "discouraged"})
_ONEWAY_FWD = frozenset({"yes", "1", "true"})
_ONEWAY_BWD = frozenset({"-1", "reverse"})
_ONEWAY_NO = frozenset({"no", "0", "false"})
# Reversible lanes change direction by time of day, which we do not know:
# routing a vehicle over one could send it against the traffic, so vehicles
# do not use them (as OSRM's car profile does).
_ONEWAY_CLOSED = frozenset({"reversible", "alternating"})
# Motorways and roundabouts are one-way unless tagged otherwise (OSM wiki, Key:oneway).
_IMPLIED_ONEWAY_HIGHWAY = frozenset({"motorway", "motorway_link"})
_IMPLIED_ONEWAY_JUNCTION = frozenset({"roundabout", "circular"})
# Expressways (高速公路 and 城市快速路) are closed to pedestrians and non-motor
# vehicles (道路交通安全法 art. 67; local e-bike rules such as Guangzhou's).
_NO_EXPRESSWAY_MODES = frozenset({"walk", "ebike"})
_TAG_KEYS = ("highway", "oneway", "oneway:bicycle", "junction", "motorroad", "expressway",
             "access", "vehicle", "motor_vehicle", "motorcar", "hgv", "bicycle",
             "electric_bicycle", "foot", "maxspeed", "area", "service", "cycleway")
_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.I)


# --------------------------------------------------------------------------
# Raw ways: what every builder (OSM or synthetic) hands to the graph builder
# --------------------------------------------------------------------------


@dataclass
class RawWays:
    """Ways as read from OSM: node references, positions and tags.

    Attributes
    ----------
    way_ids : ndarray of int64, shape (w,)
    ptr : ndarray of int64, shape (w + 1,)
        Way ``i`` is ``refs[ptr[i]:ptr[i + 1]]``.
    refs : ndarray of int64
        OSM node ids, concatenated way by way.
    lon, lat : ndarray of float64
        WGS-84 position of each reference.
    tags : list of dict
        Tags of each way.
    """

    way_ids: np.ndarray
    ptr: np.ndarray
    refs: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    tags: list[dict[str, str]]

    def __len__(self) -> int:
        return len(self.tags)


def read_osm_ways(path: str | Path) -> RawWays:
    """Read every ``highway`` way of an ``.osm.pbf`` (or .osm/.osm.bz2) file.

    Parameters
    ----------
    path : str or Path
        OpenStreetMap file, read with pyosmium.

    Returns
    -------
    RawWays
        A way whose nodes are partly missing from the file (an extract cut at
        its border) is kept as its runs of nodes that have positions.
    """
    import osmium

    proc = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway")))
    way_ids: list[int] = []
    counts: list[int] = []
    refs: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    tags: list[dict[str, str]] = []

    def end_run(way_id: int, run: int, wtags: dict) -> None:
        if run:
            way_ids.append(way_id)
            counts.append(run)
            tags.append(wtags)

    for way in proc:
        if way.tags.get("highway") not in _CLASS_ID:
            continue
        wtags = {k: v for k, v in ((t.k, t.v) for t in way.tags)
                 if k in _TAG_KEYS or k in ("name", "name:zh", "ref")}
        run = 0
        for nd in way.nodes:
            loc = nd.location
            if not loc.valid():  # node outside the extract: end the run here
                end_run(way.id, run, wtags)
                run = 0
                continue
            refs.append(nd.ref)
            lons.append(loc.lon)
            lats.append(loc.lat)
            run += 1
        end_run(way.id, run, wtags)
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return RawWays(np.asarray(way_ids, dtype=np.int64), ptr, np.asarray(refs, dtype=np.int64),
                   np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64), tags)


# --------------------------------------------------------------------------
# Per-way rules
# --------------------------------------------------------------------------


def _parse_maxspeed(value: str | None) -> float | None:
    if not value:
        return None
    m = _MAXSPEED.match(value.split(";")[0])
    if not m:
        return None  # "CN:urban", "none", "signals": no number to use
    speed = float(m.group(1))
    return speed * 1.609344 if (m.group(2) or "").lower() == "mph" else speed


def _is_expressway(tags: dict[str, str]) -> bool:
    hw = tags.get("highway", "")
    if hw in ("motorway", "motorway_link"):
        return True
    return tags.get("motorroad") == "yes" or tags.get("expressway") == "yes"


def way_rule(tags: dict[str, str], mode: str) -> tuple[bool, bool, float] | None:
    """How a mode may use a way.

    Parameters
    ----------
    tags : dict
        OSM tags of the way.
    mode : str
        One of :data:`MODES`.

    Returns
    -------
    tuple or None
        ``(forward, backward, speed_kmh)``, or None when the mode may not use
        the way at all.
    """
    hw = tags.get("highway")
    speeds = settings.ROUTING_SPEEDS_KMH[mode]
    if hw not in speeds or tags.get("area") == "yes":
        return None
    if mode in _NO_EXPRESSWAY_MODES and _is_expressway(tags):
        return None
    if mode in ("drive", "truck") and tags.get("service") == "emergency_access":
        return None
    verdict = None
    for key in _ACCESS_KEYS[mode]:
        value = tags.get(key)
        if value:
            verdict = value.split(";")[0].strip().lower()
    if verdict in _DENY:
        return None

    speed = float(speeds[hw])
    maxspeed = _parse_maxspeed(tags.get("maxspeed"))
    cap = settings.ROUTING_MAX_SPEED_KMH[mode]
    if maxspeed:
        if mode in ("drive", "truck"):
            speed = maxspeed * settings.MAXSPEED_FACTOR
        else:
            speed = min(speed, maxspeed)
    speed = max(min(speed, cap), 1.0)

    if mode == "walk":
        return True, True, speed  # pedestrians may walk either way along a one-way street
    oneway = (tags.get("oneway") or "").strip().lower()
    if mode == "ebike":
        # A one-way street signed "except bicycles" is two-way for riders.
        ow_bike = (tags.get("oneway:bicycle") or "").strip().lower()
        if ow_bike:
            oneway = ow_bike
        elif (tags.get("cycleway") or "").startswith("opposite"):
            oneway = "no"
    if oneway in _ONEWAY_CLOSED:
        return None
    if oneway in _ONEWAY_FWD:
        return True, False, speed
    if oneway in _ONEWAY_BWD:
        return False, True, speed
    if oneway in _ONEWAY_NO:
        return True, True, speed
    if hw in _IMPLIED_ONEWAY_HIGHWAY or tags.get("junction") in _IMPLIED_ONEWAY_JUNCTION:
        return True, False, speed
    return True, True, speed


# --------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------


@dataclass
class RoadGraph:
    """One travel mode's routing graph (see the module docstring).

    Edge ``e`` joins ``edge_u[e]`` to ``edge_v[e]``; its geometry is vertices
    ``geom_ptr[e]`` to ``geom_ptr[e + 1] - 1``, and ``geom_cum`` is the
    distance of each vertex along its edge, in metres. The CSR arrays have
    ``n_nodes + 1`` rows; the last row is the virtual origin and owns the
    last two arc slots.
    """

    mode: str
    node_lon: np.ndarray
    node_lat: np.ndarray
    node_osm: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len_m: np.ndarray
    edge_dur_s: np.ndarray
    edge_fwd: np.ndarray
    edge_bwd: np.ndarray
    edge_class: np.ndarray
    edge_name: np.ndarray
    edge_ref: np.ndarray
    edge_way: np.ndarray
    edge_snappable: np.ndarray
    geom_ptr: np.ndarray
    geom_x: np.ndarray
    geom_y: np.ndarray
    geom_cum: np.ndarray
    csr_indptr: np.ndarray
    csr_indices: np.ndarray
    csr_time: np.ndarray
    csr_len: np.ndarray
    csr_edge_time: np.ndarray
    csr_edge_len: np.ndarray
    grid_params: np.ndarray  # lon0, lat0, kx, ky, cell, ncols, nrows
    grid_keys: np.ndarray
    grid_ptr: np.ndarray
    grid_seg: np.ndarray
    names: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._matrices: dict[str, csr_matrix] = {}
        self._station_indexes: dict = {}

    @property
    def n_nodes(self) -> int:
        """Number of graph nodes (intersections and dead ends)."""
        return len(self.node_lon)

    @property
    def n_edges(self) -> int:
        """Number of edges (road pieces between nodes)."""
        return len(self.edge_u)

    def matrix(self, weight: str = "time") -> csr_matrix:
        """The arcs as a CSR matrix weighted by ``"time"`` (s) or ``"distance"`` (m).

        Both matrices share one index structure, so the virtual origin's two
        arc slots are the same positions in each.
        """
        if weight not in self._matrices:
            data = self.csr_time if weight == "time" else self.csr_len
            n = self.n_nodes + 1
            self._matrices[weight] = csr_matrix((data, self.csr_indices, self.csr_indptr), shape=(n, n),
                                                copy=False)
        return self._matrices[weight]

    def edge_cost(self, weight: str = "time") -> np.ndarray:
        """Cost of travelling each whole edge: seconds or metres."""
        return self.edge_dur_s if weight == "time" else self.edge_len_m

    def edge_coords(self, e: int) -> np.ndarray:
        """Vertices of edge ``e`` as an ``(n, 2)`` array of WGS-84 lon/lat."""
        s, t = self.geom_ptr[e], self.geom_ptr[e + 1]
        return np.column_stack([self.geom_x[s:t] / _E7, self.geom_y[s:t] / _E7])

    def nbytes(self) -> int:
        """Memory held by the graph's arrays, in bytes."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))

    def summary(self) -> dict:
        """Counts for reports: nodes, edges, arcs, km of road."""
        return {"mode": self.mode, "nodes": self.n_nodes, "edges": self.n_edges,
                "arcs": int(self.csr_indptr[-1]) - 2,
                "km": round(float(self.edge_len_m.sum()) / 1000.0, 1)}


_ARRAYS = [f for f in RoadGraph.__dataclass_fields__ if f not in ("mode", "names", "meta")]


def index_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for each (start, length) pair, without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(np.asarray(starts, dtype=np.int64), lengths) + (np.arange(total) - offsets)


def _string_table(tags: list[dict[str, str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    names: list[str] = [""]
    lookup = {"": 0}
    name_ids = np.zeros(len(tags), dtype=np.int32)
    ref_ids = np.zeros(len(tags), dtype=np.int32)
    for i, t in enumerate(tags):
        for key_ids, value in ((name_ids, t.get("name") or t.get("name:zh") or ""), (ref_ids, t.get("ref") or "")):
            j = lookup.get(value)
            if j is None:
                j = lookup[value] = len(names)
                names.append(value)
            key_ids[i] = j
    return names, name_ids, ref_ids


def graph_from_ways(ways: RawWays, mode: str, meta: dict | None = None) -> RoadGraph:
    """Build one mode's routing graph from raw ways.

    Parameters
    ----------
    ways : RawWays
        From :func:`read_osm_ways` or :func:`geo.routing.synthetic.synthetic_ways`.
    mode : str
        One of :data:`MODES`.
    meta : dict, optional
        Stored with the graph (source file, build time ...).

    Returns
    -------
    RoadGraph
    """
    if mode not in MODES:
        raise ValueError(f"未知出行方式 / unknown travel mode: {mode!r} (choose from {', '.join(MODES)})")
    nw = len(ways)
    # Identical tag sets get identical rules; roads are mostly a few hundred
    # distinct tag sets, so this makes a province's worth of ways cheap.
    memo: dict[tuple, tuple | None] = {}
    fwd = np.zeros(nw, dtype=bool)
    bwd = np.zeros(nw, dtype=bool)
    speed = np.zeros(nw, dtype=np.float64)
    cls = np.zeros(nw, dtype=np.int8)
    keep = np.zeros(nw, dtype=bool)
    for i, tags in enumerate(ways.tags):
        key = tuple(tags.get(k) for k in _TAG_KEYS)
        rule = memo[key] if key in memo else memo.setdefault(key, way_rule(tags, mode))
        if rule is not None:
            keep[i] = True
            fwd[i], bwd[i], speed[i] = rule
            cls[i] = _CLASS_ID[tags["highway"]]
    counts = np.diff(ways.ptr)
    keep &= counts >= 2
    names, name_ids, ref_ids = _string_table(ways.tags)

    # The references of the kept ways, and for each its way.
    kept = np.flatnonzero(keep)
    pos = index_ranges(ways.ptr[kept], counts[kept])
    wid = np.repeat(kept, counts[kept])
    refs, lon, lat = ways.refs[pos], ways.lon[pos], ways.lat[pos]
    nref = len(refs)
    starts = np.zeros(len(kept) + 1, dtype=np.int64)
    np.cumsum(counts[kept], out=starts[1:])

    # Split ways where they meet another way (or themselves) and at their ends:
    # those OSM nodes become graph nodes, the stretches between them edges.
    uniq, inverse, occ = np.unique(refs, return_inverse=True, return_counts=True)
    is_node = occ[inverse] >= 2
    if nref:
        is_node[starts[:-1]] = True
        is_node[starts[1:] - 1] = True
    split = np.flatnonzero(is_node)
    a, b = split[:-1], split[1:]
    same_way = wid[a] == wid[b]
    a, b = a[same_way], b[same_way]
    ewid = wid[a]

    # Distances between consecutive references (across way borders too, but
    # those are never summed: edges stay inside one way).
    seg = np.zeros(nref, dtype=np.float64)
    if nref > 1:
        seg[:-1] = haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    edge_len = cum[b] - cum[a]

    node_refs, node_of = np.unique(refs[split], return_inverse=True)
    node_index = np.full(nref, -1, dtype=np.int64)
    node_index[split] = node_of
    edge_u = node_index[a].astype(np.int32)
    edge_v = node_index[b].astype(np.int32)
    first = np.zeros(len(node_refs), dtype=np.int64)
    first[node_of[::-1]] = split[::-1]  # any one reference of each node gives its position
    node_lon, node_lat = lon[first], lat[first]

    geom_len = b - a + 1
    geom_ptr = np.zeros(len(a) + 1, dtype=np.int64)
    np.cumsum(geom_len, out=geom_ptr[1:])
    gpos = index_ranges(a, geom_len)
    geom_cum = (cum[gpos] - np.repeat(cum[a], geom_len)).astype(np.float32)
    geom_x = np.round(lon[gpos] * _E7).astype(np.int32)
    geom_y = np.round(lat[gpos] * _E7).astype(np.int32)

    e_speed = speed[ewid]
    edge_dur = edge_len / (e_speed / 3.6)
    graph = _assemble(mode, node_lon, node_lat, node_refs, edge_u, edge_v, edge_len, edge_dur,
                      fwd[ewid], bwd[ewid], cls[ewid], name_ids[ewid], ref_ids[ewid], ways.way_ids[ewid],
                      geom_ptr, geom_x, geom_y, geom_cum, names, meta or {})
    return graph


def _assemble(mode, node_lon, node_lat, node_osm, edge_u, edge_v, edge_len, edge_dur, fwd, bwd, cls,
              name_ids, ref_ids, way_ids, geom_ptr, geom_x, geom_y, geom_cum, names, meta) -> RoadGraph:
    n = len(node_lon)
    m = len(edge_u)
    # Keep only the strings the edges use, so a mode's file carries no dead names.
    used = np.unique(np.concatenate([[0], name_ids, ref_ids]))
    remap = np.zeros(len(names), dtype=np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    names = [names[i] for i in used]
    name_ids, ref_ids = remap[name_ids], remap[ref_ids]

    # Directed arcs, both directions where allowed; self-loops never shorten a path.
    eid = np.arange(m, dtype=np.int32)
    src = np.concatenate([edge_u[fwd], edge_v[bwd]]).astype(np.int64)
    dst = np.concatenate([edge_v[fwd], edge_u[bwd]]).astype(np.int64)
    aeid = np.concatenate([eid[fwd], eid[bwd]])
    loop = src == dst
    src, dst, aeid = src[~loop], dst[~loop], aeid[~loop]
    # Parallel edges (dual carriageways sharing nodes, duplicated ways) become
    # one arc per (src, dst), keeping the cheapest edge for each weight.
    arc_time, arc_len = edge_dur[aeid], edge_len[aeid]
    pair_key = src * np.int64(max(n, 1)) + dst
    order = np.argsort(pair_key)
    sorted_key = pair_key[order]
    head = np.ones(len(order), dtype=bool)
    head[1:] = sorted_key[1:] != sorted_key[:-1]
    pick_t = _cheapest(order, head, arc_time)
    pick_l = _cheapest(order, head, arc_len)
    a_src, a_dst = src[pick_t], dst[pick_t]
    na = len(a_src)
    indptr = np.zeros(n + 2, dtype=np.int64)
    np.cumsum(np.bincount(a_src, minlength=n), out=indptr[1:n + 1])
    indptr[n + 1] = na + 2
    indices = np.concatenate([a_dst, [0, 0]]).astype(np.int32)
    csr_time = np.concatenate([arc_time[pick_t], [0.0, 0.0]])
    csr_len = np.concatenate([arc_len[pick_l], [0.0, 0.0]])
    csr_edge_time = np.concatenate([aeid[pick_t], [-1, -1]]).astype(np.int32)
    csr_edge_len = np.concatenate([aeid[pick_l], [-1, -1]]).astype(np.int32)
    if indptr[-1] < 2**31:
        indptr = indptr.astype(np.int32)

    # Origins and stations are snapped only to the largest strongly connected
    # component: from there every station is reachable and every route can
    # come back, where a one-way stub cut by the extract's border would trap them.
    snappable = np.zeros(m, dtype=bool)
    if n:
        real = csr_matrix((np.ones(na), a_dst, indptr[:n + 1].astype(np.int64)), shape=(n, n))
        _, labels = connected_components(real, directed=True, connection="strong")
        big = np.bincount(labels).argmax()
        snappable = (labels[edge_u] == big) & (labels[edge_v] == big)

    grid = _snap_grid(geom_ptr, geom_x, geom_y, snappable, node_lat)
    meta = {**meta, "mode": mode, "format": FORMAT, "version": FORMAT_VERSION}
    return RoadGraph(
        mode=mode, node_lon=node_lon, node_lat=node_lat, node_osm=np.asarray(node_osm, dtype=np.int64),
        edge_u=edge_u, edge_v=edge_v, edge_len_m=edge_len, edge_dur_s=edge_dur,
        edge_fwd=np.asarray(fwd, dtype=bool), edge_bwd=np.asarray(bwd, dtype=bool),
        edge_class=np.asarray(cls, dtype=np.int8), edge_name=name_ids.astype(np.int32),
        edge_ref=ref_ids.astype(np.int32), edge_way=np.asarray(way_ids, dtype=np.int64),
        edge_snappable=snappable, geom_ptr=geom_ptr, geom_x=geom_x, geom_y=geom_y, geom_cum=geom_cum,
        csr_indptr=indptr, csr_indices=indices, csr_time=csr_time, csr_len=csr_len,
        csr_edge_time=csr_edge_time, csr_edge_len=csr_edge_len, names=names, meta=meta, **grid)


def _cheapest(order: np.ndarray, head: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """For each run of equal keys (``order`` sorted, runs start at ``head``), the member of least cost."""
    if len(order) == 0:
        return order
    starts = np.flatnonzero(head)
    group = np.cumsum(head) - 1
    c = cost[order]
    best = np.minimum.reduceat(c, starts)
    hit = np.flatnonzero(c == best[group])
    first = np.ones(len(hit), dtype=bool)
    first[1:] = group[hit[1:]] != group[hit[:-1]]
    return order[hit[first]]


def _snap_grid(geom_ptr, geom_x, geom_y, snappable, node_lat) -> dict[str, np.ndarray]:
    """Bucket every snappable road segment into the square cells it crosses.

    Positions are projected onto a local equirectangular plane (metres),
    accurate to a few per cent across Guangdong, which only matters between
    two nearly equidistant roads; reported snap distances are great-circle.
    Segments longer than a cell are cut into cell-sized pieces first, so
    each piece's bounding box touches at most 2 x 2 cells.
    """
    cell = float(settings.SNAP_CELL_M)
    lat0 = float(np.median(node_lat)) if len(node_lat) else 0.0
    ky = M_PER_DEGREE
    kx = M_PER_DEGREE * math.cos(math.radians(lat0))
    lon0 = float(geom_x.min()) / _E7 if len(geom_x) else 0.0
    lat_min = float(geom_y.min()) / _E7 if len(geom_y) else 0.0
    x = (geom_x / _E7 - lon0) * kx
    y = (geom_y / _E7 - lat_min) * ky
    ncols = int(x.max() // cell) + 1 if len(x) else 1
    nrows = int(y.max() // cell) + 1 if len(y) else 1
    params = np.array([lon0, lat_min, kx, ky, cell, ncols, nrows], dtype=np.float64)

    # Segment j runs from vertex j to j + 1 inside one edge.
    n_edges = len(geom_ptr) - 1
    seg_edge = np.repeat(np.arange(n_edges), np.diff(geom_ptr))
    is_seg = np.ones(len(geom_x), dtype=bool)
    if n_edges:
        is_seg[geom_ptr[1:] - 1] = False
    is_seg &= snappable[seg_edge] if len(seg_edge) else is_seg
    segs = np.flatnonzero(is_seg)
    x0, y0, x1, y1 = x[segs], y[segs], x[segs + 1], y[segs + 1]
    pieces = np.maximum(np.ceil(np.hypot(x1 - x0, y1 - y0) / cell), 1).astype(np.int64)
    pid = np.repeat(np.arange(len(segs)), pieces)
    k = np.arange(len(pid)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    f0 = k / pieces[pid]
    f1 = (k + 1) / pieces[pid]
    px0 = x0[pid] + (x1 - x0)[pid] * f0
    px1 = x0[pid] + (x1 - x0)[pid] * f1
    py0 = y0[pid] + (y1 - y0)[pid] * f0
    py1 = y0[pid] + (y1 - y0)[pid] * f1
    cx_lo = np.floor(np.minimum(px0, px1) / cell).astype(np.int64)
    cx_hi = np.floor(np.maximum(px0, px1) / cell).astype(np.int64)
    cy_lo = np.floor(np.minimum(py0, py1) / cell).astype(np.int64)
    cy_hi = np.floor(np.maximum(py0, py1) / cell).astype(np.int64)
    seg_of = segs[pid]
    # Each piece in the cells of its bounding box's corners, without repeats.
    dx_, dy_ = cx_hi != cx_lo, cy_hi != cy_lo
    keys = np.concatenate([cy_lo * ncols + cx_lo, (cy_lo * ncols + cx_hi)[dx_],
                           (cy_hi * ncols + cx_lo)[dy_], (cy_hi * ncols + cx_hi)[dx_ & dy_]])
    owner = np.concatenate([seg_of, seg_of[dx_], seg_of[dy_], seg_of[dx_ & dy_]])
    stride = np.int64(len(geom_x) + 1)
    pair = np.sort(keys * stride + owner)
    if len(pair):
        pair = pair[np.concatenate([[True], pair[1:] != pair[:-1]])]
    cell_of = pair // stride
    seg_ids = (pair % stride).astype(np.int32)
    first = np.zeros(0, np.int64)
    if len(pair):
        first = np.flatnonzero(np.concatenate([[True], cell_of[1:] != cell_of[:-1]]))
    grid_keys = cell_of[first]
    grid_ptr = np.append(first, len(cell_of)).astype(np.int64)
    return {"grid_params": params, "grid_keys": grid_keys, "grid_ptr": grid_ptr, "grid_seg": seg_ids}


# --------------------------------------------------------------------------
# Building, saving, loading
# --------------------------------------------------------------------------


def save_graph(graph: RoadGraph, path: str | Path) -> Path:
    """Write a graph to one uncompressed ``.npz`` file (written beside, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = "\x00".join(graph.names).encode("utf-8")
    arrays = {name: getattr(graph, name) for name in _ARRAYS}
    arrays["names_blob"] = np.frombuffer(blob, dtype=np.uint8)
    arrays["meta_json"] = np.frombuffer(json.dumps(graph.meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)
    return path


_CACHE: dict[tuple, RoadGraph] = {}
_CACHE_LOCK = threading.Lock()


def graph_path(directory: str | Path, mode: str) -> Path:
    """Where :func:`build_graphs` writes the graph of ``mode`` inside ``directory``."""
    return Path(directory) / f"{mode}.npz"


def load_graph(path: str | Path, mode: str | None = None) -> RoadGraph:
    """Load a cached graph; repeated calls return the same object until the file changes.

    Parameters
    ----------
    path : str or Path
        A graph ``.npz`` file, or a folder written by :func:`build_graphs`
        (then ``mode`` picks the file).
    mode : str, optional
        Travel mode, needed when ``path`` is a folder.

    Raises
    ------
    FileNotFoundError
        When there is no graph for that mode.
    """
    path = Path(path)
    if path.is_dir():
        if mode is None:
            raise ValueError("mode is required when loading from a folder")
        path = graph_path(path, mode)
    if not path.exists():
        raise FileNotFoundError(
            f"没有该出行方式的路网 / no road network for mode {mode!r} at {path}; "
            f"build one with: python -m geo network build FILE.osm.pbf --out {path.parent}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    names = bytes(arrays.pop("names_blob")).decode("utf-8").split("\x00")
    meta = json.loads(bytes(arrays.pop("meta_json")).decode("utf-8"))
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} file; rebuild it")
    graph = RoadGraph(mode=meta["mode"], names=names, meta={**meta, "path": str(path)}, **arrays)
    with _CACHE_LOCK:
        for old in [k for k in _CACHE if k[0] == key[0]]:
            del _CACHE[old]
        _CACHE[key] = graph
    return graph


def write_graphs(graphs: dict[str, RoadGraph], out_dir: str | Path, extra_meta: dict | None = None) -> Path:
    """Save graphs as ``<mode>.npz`` in ``out_dir`` with a ``meta.json`` describing them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = {"format": FORMAT, "version": FORMAT_VERSION, **(extra_meta or {}), "modes": {}}
    meta_path = out / "meta.json"
    if meta_path.exists():  # building a few modes keeps the others listed
        try:
            info["modes"] = json.loads(meta_path.read_text(encoding="utf-8")).get("modes", {})
        except ValueError:
            pass
    for mode, graph in graphs.items():
        save_graph(graph, graph_path(out, mode))
        info["modes"][mode] = {**graph.summary(), "file": graph_path(out, mode).name,
                               "source": graph.meta.get("source")}
    meta_path.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


def build_graphs(pbf: str | Path, out_dir: str | Path | None = None,
                 modes: Iterable[str] = MODES, verbose: bool = False) -> dict[str, RoadGraph]:
    """Read an OSM file and build (and, with ``out_dir``, cache) a graph per mode.

    Parameters
    ----------
    pbf : str or Path
        ``.osm.pbf`` file, e.g. Geofabrik's Guangdong extract.
    out_dir : str or Path, optional
        Folder to write ``<mode>.npz`` and ``meta.json`` to.
    modes : iterable of str
        Travel modes to build (default all of :data:`MODES`).
    verbose : bool
        Print progress to standard error.

    Returns
    -------
    dict
        Mode -> :class:`RoadGraph`.
    """
    modes = list(modes)
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"未知出行方式 / unknown travel mode: {mode!r} (choose from {', '.join(MODES)})")
    t0 = time.perf_counter()
    ways = read_osm_ways(pbf)
    if verbose:
        print(f"读取 {len(ways)} 条道路 / read {len(ways)} ways, {len(ways.refs)} node refs "
              f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    src = Path(pbf)
    meta = {"source": src.name, "source_bytes": src.stat().st_size,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    graphs = {}
    for mode in modes:
        t1 = time.perf_counter()
        graphs[mode] = graph_from_ways(ways, mode, meta)
        if verbose:
            s = graphs[mode].summary()
            print(f"  {mode}: {s['nodes']} nodes, {s['edges']} edges, {s['km']} km "
                  f"({time.perf_counter() - t1:.1f} s)", file=sys.stderr)
    if out_dir is not None:
        write_graphs(graphs, out_dir, {"source": src.name})
    return graphs


# --------------------------------------------------------------------------
# Downloading an extract
# --------------------------------------------------------------------------


def extract_url(region: str) -> str:
    """Download address of a named OpenStreetMap extract (see ``settings.OSM_EXTRACTS``)."""
    key = str(region).strip().lower()
    if key not in settings.OSM_EXTRACTS:
        raise ValueError(f"未知地区 / unknown extract {region!r}; known: {', '.join(settings.OSM_EXTRACTS)}")
    return settings.OSM_EXTRACTS[key]


def default_extract_path(region: str) -> Path:
    """Where :func:`download_extract` saves an extract unless told otherwise."""
    return settings.NETWORK_DIR / Path(extract_url(region)).name


def _progress(done: int, total: int | None) -> str:
    if total:
        return f"\r下载 / downloading: {done / 1e6:.1f} / {total / 1e6:.1f} MB ({100 * done / total:.0f}%)"
    return f"\r下载 / downloading: {done / 1e6:.1f} MB"


def download_extract(region: str = "guangdong", out: str | Path | None = None,
                     chunk_bytes: int = 1 << 20) -> Path:
    """Download a named OpenStreetMap extract with a progress message on standard error.

    The file is written beside its target and renamed when complete, so an
    interrupted download never leaves a truncated ``.pbf`` behind.

    Parameters
    ----------
    region : str
        A key of ``settings.OSM_EXTRACTS`` (``guangdong``).
    out : str or Path, optional
        Target file (or folder); default ``settings.NETWORK_DIR``.

    Returns
    -------
    Path
        The downloaded file.
    """
    import requests

    url = extract_url(region)
    target = Path(out) if out else default_extract_path(region)
    # A folder, existing or not ("--out network/"), gets the extract's own file name.
    if target.is_dir() or str(out).endswith(("/", os.sep)) or not target.name.endswith(".pbf"):
        target = target / Path(url).name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    with requests.get(url, stream=True, timeout=60) as resp:
        resp.raise_for_status()
        total = int(resp.headers.get("content-length") or 0) or None
        done, shown = 0, -1
        with open(tmp, "wb") as fh:
            for chunk in resp.iter_content(chunk_size=chunk_bytes):
                fh.write(chunk)
                done += len(chunk)
                step = done // (5 << 20)
                if step != shown:
                    shown = step
                    sys.stderr.write(_progress(done, total))
                    sys.stderr.flush()
    sys.stderr.write(f"\n已保存 / saved {target}\n")
    os.replace(tmp, target)
    return target
