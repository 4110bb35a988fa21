"""Building a travel mode's routing graph from OSM ways.

Ways are split into edges where they meet, each edge keeps its full
geometry, the arcs each mode may travel become a CSR matrix with a spare
row for the per-query virtual origin, and every road segment is bucketed
into the snap grid (see :mod:`geo.routing.network` for the layout). Which
ways a mode may use and how fast is :func:`geo.routing.rules.way_rule`.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from geo import settings
from geo.core.crs import haversine_m
from geo.core.geodesy import M_PER_DEGREE
from geo.routing.network import (COORD_SCALE, FORMAT, FORMAT_VERSION, MODES, RoadGraph, graph_path, index_ranges,
                                 load_graph, network_meta, save_graph)
from geo.routing.osm import RawWays, read_osm_ways
from geo.routing.progress import Progress
from geo.routing.rules import HIGHWAY_CLASS_ID, TAG_KEYS, way_rule


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


def graph_from_ways(ways: RawWays, mode: str, *, meta: dict | None = None) -> RoadGraph:
    """Build one mode's routing graph from raw ways.

    Parameters
    ----------
    ways
        From :func:`geo.routing.osm.read_osm_ways` or
        :func:`geo.routing.synthetic.synthetic_ways`.
    mode
        One of :data:`geo.routing.network.MODES`.
    meta
        Stored with the graph (source file, build time ...).

    Returns
    -------
    RoadGraph
    """
    if mode not in MODES:
        raise ValueError(f"未知出行方式 / unknown travel mode: {mode!r} (choose from {', '.join(MODES)})")
    # Rules are decided once per distinct tag set (a province has a million
    # highway ways but a few hundred thousand tag sets), then spread to ways.
    sets, tag_id = ways.tag_sets()
    ns = len(sets)
    memo: dict[tuple, tuple | None] = {}
    s_fwd = np.zeros(ns, dtype=bool)
    s_bwd = np.zeros(ns, dtype=bool)
    s_speed = np.zeros(ns, dtype=np.float64)
    s_cls = np.zeros(ns, dtype=np.int8)
    s_keep = np.zeros(ns, dtype=bool)
    for i, tags in enumerate(sets):
        key = tuple(tags.get(k) for k in TAG_KEYS)
        rule = memo[key] if key in memo else memo.setdefault(key, way_rule(tags, mode))
        if rule is not None:
            s_keep[i] = True
            s_fwd[i], s_bwd[i], s_speed[i] = rule
            s_cls[i] = HIGHWAY_CLASS_ID[tags["highway"]]
    fwd, bwd, speed, cls = s_fwd[tag_id], s_bwd[tag_id], s_speed[tag_id], s_cls[tag_id]
    counts = np.diff(ways.ptr)
    keep = s_keep[tag_id] & (counts >= 2)
    names, s_name, s_ref = _string_table(sets)
    name_ids, ref_ids = s_name[tag_id], s_ref[tag_id]

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
    geom_x = np.round(lon[gpos] * COORD_SCALE).astype(np.int32)
    geom_y = np.round(lat[gpos] * COORD_SCALE).astype(np.int32)

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
    lon0 = float(geom_x.min()) / COORD_SCALE if len(geom_x) else 0.0
    lat_min = float(geom_y.min()) / COORD_SCALE if len(geom_y) else 0.0
    x = (geom_x / COORD_SCALE - lon0) * kx
    y = (geom_y / COORD_SCALE - lat_min) * ky
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
    # Four bytes where they suffice: the grid is most of a graph file.
    if ncols * nrows < 2**31:
        grid_keys = grid_keys.astype(np.int32)
    if len(cell_of) < 2**31:
        grid_ptr = grid_ptr.astype(np.int32)
    return {"grid_params": params, "grid_keys": grid_keys, "grid_ptr": grid_ptr, "grid_seg": seg_ids}


def build_graphs(pbf: str | Path, out_dir: str | Path | None = None, *,
                 modes: Iterable[str] = MODES, verbose: bool = False) -> dict[str, RoadGraph]:
    """Read an OSM file and build (and, with ``out_dir``, cache) a graph per mode.

    With ``out_dir``, every mode's file is first written to a temporary
    folder inside it and moved into place only when all modes are built, so
    an interrupted or failed build leaves the previous graphs (or none)
    and never a half-written one; the temporary folder is removed.

    Parameters
    ----------
    pbf
        ``.osm.pbf`` file, e.g. Geofabrik's Guangdong extract.
    out_dir
        Folder to write ``<mode>.npz`` and ``meta.json`` to.
    modes
        Travel modes to build (default all of :data:`geo.routing.network.MODES`).
    verbose
        Show progress on standard error: percent, rate and time left of the
        file read and of the graphs built.

    Returns
    -------
    dict
        Mode -> :class:`geo.routing.network.RoadGraph`. With ``out_dir``,
        each graph is written and let go before the next is built (a
        province's four graphs need not fit in memory together) and the
        graphs returned are the written files, memory-mapped.
    """
    modes = list(modes)
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"未知出行方式 / unknown travel mode: {mode!r} (choose from {', '.join(MODES)})")
    stream = sys.stderr if verbose else None
    t0 = time.perf_counter()
    src = Path(pbf)
    ways = read_osm_ways(src, verbose=verbose)
    if verbose:
        print(f"读取 {len(ways)} 条道路 / read {len(ways)} ways, {len(ways.refs)} node refs "
              f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    meta = {"source": src.name, "source_bytes": src.stat().st_size,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    graphs: dict[str, RoadGraph] = {}
    work = None
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=out_dir))
    try:
        prog = Progress("建图 / building graphs", len(modes), unit="modes", stream=stream)
        summaries = {}
        for i, mode in enumerate(modes):
            t1 = time.perf_counter()
            graph = graph_from_ways(ways, mode, meta=meta)
            summaries[mode] = graph.summary()
            if work is not None:
                save_graph(graph, graph_path(mode, directory=work))
            else:
                graphs[mode] = graph
            del graph
            prog.update(i + 1)
            if verbose:
                s = summaries[mode]
                sys.stderr.write(f"\r  {mode}: {s['nodes']} nodes, {s['edges']} edges, {s['km']} km "
                                 f"({time.perf_counter() - t1:.1f} s)\n")
        prog.finish()
        del ways
        if work is not None:
            _install(work, Path(out_dir), summaries, src.name)
            graphs = {m: load_graph(graph_path(m, directory=out_dir)) for m in modes}
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    return graphs


def _install(work: Path, out: Path, summaries: dict[str, dict], source: str) -> None:
    """Move finished graph files from ``work`` into ``out`` and list them in ``meta.json`` last."""
    info = network_meta(out, extra={"source": source})
    meta_path = out / "meta.json"
    for mode, summary in summaries.items():
        target = graph_path(mode, directory=out)
        os.replace(graph_path(mode, directory=work), target)
        info["modes"][mode] = {**summary, "file": target.name, "source": source}
    tmp = work / "meta.json"
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, meta_path)
