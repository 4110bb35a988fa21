"""Synthetic road networks of any size, for tests and benchmarks.

A city of perturbed grid blocks placed in Guangdong: every 16th street is a
named arterial (primary), every 8th a secondary and every 4th a tertiary
road, the rest residential, some of them one-way; random links of minor
streets are missing (dead ends, irregular blocks); some links bend through
a shape point; one east-west expressway (``trunk`` + ``motorroad=yes``,
城市快速路) and one north-south motorway built as two one-way carriageways
on the same nodes cross the city.

The generator emits OSM-like ways (:class:`geo.routing.osm.RawWays`), so the
graph goes through exactly the same builder, rules and on-disk format as
a real OpenStreetMap extract.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np

from geo.core.geodesy import M_PER_DEGREE
from geo.routing.build import graph_from_ways
from geo.routing.network import MODES, RoadGraph, index_ranges, write_graphs
from geo.routing.osm import RawWays

_PREFIXES = ("科技", "创新", "海滨", "中山", "解放", "人民", "建设", "发展", "工业", "环城",
             "滨江", "花城", "新港", "黄埔", "天河", "体育", "先烈", "珠江", "南海", "东风",
             "光明", "和平", "文明", "育才", "学府", "龙华", "宝安", "沙河", "白石", "红岭")
_NUMERALS = ("", "一", "二", "三", "四", "五", "六", "七", "八", "九")

#: Centre of the default synthetic city: Tianhe, Guangzhou.
DEFAULT_CENTER = (113.33, 23.13)


def _road_name(k: int, suffix: str) -> str:
    prefix = _PREFIXES[k % len(_PREFIXES)]
    n = k // len(_PREFIXES)
    return f"{prefix}{_NUMERALS[n] if n < 10 else n}{suffix}"


def _line_tags(k: int, side: int, horizontal: bool, rng: np.random.Generator,
               oneway_fraction: float) -> list[dict[str, str]]:
    """Tags of grid line ``k`` (one dict per carriageway)."""
    k_name = 2 * k + (0 if horizontal else 1)
    if horizontal and k == side // 2:
        return [{"highway": "trunk", "motorroad": "yes", "name": _road_name(k_name, "快速路")}]
    if not horizontal and k == side // 3:
        base = {"highway": "motorway", "name": _road_name(k_name, "高速"), "ref": "G15"}
        return [{**base, "oneway": "yes"}, {**base, "oneway": "-1"}]
    if k % 16 == 0:
        return [{"highway": "primary", "name": _road_name(k_name, "大道")}]
    if k % 8 == 0:
        return [{"highway": "secondary", "name": _road_name(k_name, "路")}]
    if k % 4 == 0:
        return [{"highway": "tertiary", "name": _road_name(k_name, "街")}]
    tags = {"highway": "residential"}
    if rng.random() < 0.6:
        tags["name"] = _road_name(k_name, "巷")
    if rng.random() < oneway_fraction:
        tags["oneway"] = "yes" if k % 2 else "-1"
    return [tags]


def synthetic_ways(n_nodes: int = 10_000, *, seed: int = 0, center: tuple[float, float] = DEFAULT_CENTER,
                   spacing_m: float = 120.0, jitter: float = 0.15, remove_fraction: float = 0.08,
                   oneway_fraction: float = 0.3, curve_fraction: float = 0.3) -> RawWays:
    """Generate the ways of a synthetic city of about ``n_nodes`` intersections.

    Parameters
    ----------
    n_nodes
        Approximate number of graph nodes (a square grid of side sqrt(n)).
    seed
        Random seed; the same seed gives the same city.
    center
        WGS-84 lon/lat of the city centre (default Tianhe, Guangzhou).
    spacing_m
        Block size in metres.
    jitter
        Random displacement of intersections, as a share of ``spacing_m``.
    remove_fraction
        Share of minor-street links removed.
    oneway_fraction
        Share of residential streets that are one-way.
    curve_fraction
        Share of links that bend through an extra shape point.

    Returns
    -------
    RawWays
    """
    rng = np.random.default_rng(seed)
    side = max(int(round(math.sqrt(n_nodes))), 4)
    lon0, lat0 = center
    ky = M_PER_DEGREE
    kx = M_PER_DEGREE * math.cos(math.radians(lat0))
    half = (side - 1) / 2.0
    gx = (np.arange(side) - half)[None, :] * spacing_m + rng.normal(0, jitter * spacing_m, (side, side))
    gy = (np.arange(side) - half)[:, None] * spacing_m + rng.normal(0, jitter * spacing_m, (side, side))
    node_ids = np.arange(side * side, dtype=np.int64).reshape(side, side) + 1
    next_id = side * side + 1

    all_refs, all_x, all_y = [], [], []
    way_ptr: list[np.ndarray] = []
    tags: list[dict[str, str]] = []
    offset = 0
    for horizontal in (True, False):
        for k in range(side):
            ids = node_ids[k, :] if horizontal else node_ids[:, k]
            xs = gx[k, :] if horizontal else gx[:, k]
            ys = gy[k, :] if horizontal else gy[:, k]
            line_tags = _line_tags(k, side, horizontal, rng, oneway_fraction)
            minor = line_tags[0]["highway"] in ("residential", "tertiary")
            # Bends: a shape point off the middle of the link, perpendicular to it.
            curved = rng.random(side - 1) < curve_fraction
            nc = int(curved.sum())
            seq_len = side + nc
            pos = np.arange(side) + np.concatenate([[0], np.cumsum(curved)])
            refs = np.empty(seq_len, dtype=np.int64)
            x = np.empty(seq_len)
            y = np.empty(seq_len)
            refs[pos], x[pos], y[pos] = ids, xs, ys
            cj = np.flatnonzero(curved)
            spos = pos[cj] + 1
            dx, dy = xs[cj + 1] - xs[cj], ys[cj + 1] - ys[cj]
            norm = np.hypot(dx, dy) + 1e-9
            bend = rng.normal(0, 0.08 * spacing_m, nc)
            refs[spos] = np.arange(next_id, next_id + nc)
            next_id += nc
            x[spos] = (xs[cj] + xs[cj + 1]) / 2 - dy / norm * bend
            y[spos] = (ys[cj] + ys[cj + 1]) / 2 + dx / norm * bend
            # Removed links split the line into runs, each run one way.
            removed = (rng.random(side - 1) < remove_fraction) if minor else np.zeros(side - 1, dtype=bool)
            cut = np.flatnonzero(removed)
            run_start = np.concatenate([[0], cut + 1])
            run_end = np.concatenate([cut, [side - 1]])
            good = run_end > run_start
            run_start, run_end = run_start[good], run_end[good]
            all_refs.append(refs)
            all_x.append(x)
            all_y.append(y)
            for t in line_tags:
                way_ptr.append(np.column_stack([offset + pos[run_start], pos[run_end] - pos[run_start] + 1]))
                tags.extend([t] * len(run_start))
            offset += seq_len

    refs = np.concatenate(all_refs)
    x = np.concatenate(all_x)
    y = np.concatenate(all_y)
    runs = np.concatenate(way_ptr)
    take = index_ranges(runs[:, 0], runs[:, 1])
    ptr = np.zeros(len(runs) + 1, dtype=np.int64)
    np.cumsum(runs[:, 1], out=ptr[1:])
    return RawWays(way_ids=np.arange(1, len(runs) + 1, dtype=np.int64), ptr=ptr, refs=refs[take],
                   lon=lon0 + x[take] / kx, lat=lat0 + y[take] / ky, tags=tags)


def synthetic_graph(n_nodes: int = 10_000, mode: str = "drive", *, seed: int = 0, **kwargs) -> RoadGraph:
    """A synthetic city's routing graph for one mode (see :func:`synthetic_ways`)."""
    meta = {"source": f"synthetic n={n_nodes} seed={seed}", "synthetic": True}
    return graph_from_ways(synthetic_ways(n_nodes, seed=seed, **kwargs), mode, meta=meta)


def build_synthetic(out_dir: str | Path, n_nodes: int = 10_000, modes: Iterable[str] = MODES, *,
                    seed: int = 0, **kwargs) -> dict[str, RoadGraph]:
    """Generate a synthetic city and cache its graphs like ``python -m geo network build``.

    Returns
    -------
    dict
        Mode -> :class:`RoadGraph`, also written to ``out_dir``.
    """
    ways = synthetic_ways(n_nodes, seed=seed, **kwargs)
    meta = {"source": f"synthetic n={n_nodes} seed={seed}", "synthetic": True}
    graphs = {mode: graph_from_ways(ways, mode, meta=meta) for mode in modes}
    write_graphs(graphs, out_dir, extra_meta={"source": meta["source"]})
    return graphs
