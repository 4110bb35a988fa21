"""Write a Guangdong-sized synthetic OpenStreetMap extract (a valid ``.osm.pbf``) for build benchmarks.

At ``--scale 1`` the file holds about 20 million nodes and 2.5 million ways
spread over Guangdong's extent (lon 109.6-117.4, lat 20.2-25.6, the sea
south of an approximate coastline left empty), the figures of Geofabrik's
``guangdong-latest.osm.pbf`` (bench/RESULTS.md says where they come from):

* about 40 % of the ways are highways, in OSM's mix of classes (motorway to
  footway, path, steps and links) with the tags the routing rules read
  (``oneway``, ``access``, ``bicycle``, ``foot``, ``motorroad``,
  ``maxspeed``, ``junction``, ``area``) and Chinese names and refs;
* the rest are buildings, landuse polygons and waterways, plus tagged POI
  nodes: what a real extract carries and the builder must skip;
* the land is cut into square tiles, each a perturbed street grid whose
  density follows the cities (Guangzhou, Shenzhen, Dongguan and Foshan
  densest, the prefecture cities next, the countryside sparse); each tile's
  middle street runs on into its neighbours as a trunk, primary or
  motorway (two one-way carriageways), so the province is one network.

Nothing is held for the whole file: every tile's content is drawn from its
own seeded generator, once for its nodes and again for its ways (PBF wants
all nodes first), and written straight to pyosmium's writer. The output is
written beside its target and renamed when complete. Deterministic for a
given ``--seed`` and ``--scale``.

Usage::

    nice -n 10 .venv/bin/python bench/make_province_pbf.py --scale 1.0 --out /tmp/province.osm.pbf
    .venv/bin/python bench/make_province_pbf.py --scale 0.01 --out /tmp/small.osm.pbf
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Full-scale budget (scale 1.0), chosen to match a real Guangdong extract.
HIGHWAY_NODES = 9_000_000      # grid intersections plus two shape points per block edge
BUILDINGS = 1_250_000          # 4 nodes each
LANDUSE = 150_000              # closed polygons of LANDUSE_NODES nodes
WATERWAYS = 100_000            # lines of WATERWAY_NODES nodes
POIS = 1_000_000               # tagged standalone nodes
LANDUSE_NODES = 20
WATERWAY_NODES = 20
BLOCKS_PER_WAY = 4             # a street way spans 4 blocks: 13 nodes, near OSM's mean

EXTENT = (109.65, 20.2, 117.35, 25.55)
# Densest first: (lon, lat, weight, radius in degrees).
CITIES = (
    (113.28, 23.13, 40, 0.22), (114.06, 22.58, 40, 0.18), (113.75, 22.98, 26, 0.2),
    (113.12, 23.02, 26, 0.16), (113.55, 22.27, 10, 0.08), (113.39, 22.52, 12, 0.1),
    (114.41, 23.10, 8, 0.12), (113.08, 22.58, 8, 0.1), (116.68, 23.35, 10, 0.1),
    (110.36, 21.27, 8, 0.1), (116.37, 23.55, 5, 0.08), (116.62, 23.66, 4, 0.07),
    (113.60, 24.81, 5, 0.08), (113.05, 23.70, 5, 0.08), (112.47, 23.05, 5, 0.08),
    (110.92, 21.66, 6, 0.08), (116.12, 24.29, 5, 0.07), (111.98, 21.86, 4, 0.07),
    (114.70, 23.74, 4, 0.07), (115.37, 22.79, 3, 0.06), (112.04, 22.92, 3, 0.06),
)
# (lon, lat) of an approximate coastline, west to east: tiles south of it are sea.
COAST = ((109.6, 20.2), (110.6, 21.4), (111.8, 21.6), (113.0, 21.9), (113.5, 22.1), (114.3, 22.45),
         (115.5, 22.7), (116.7, 23.0), (117.4, 23.5))

MINOR_CLASSES = ("residential", "service", "footway", "unclassified", "track", "path", "living_street",
                 "cycleway", "pedestrian", "steps", "primary_link", "secondary_link", "tertiary_link",
                 "trunk_link", "motorway_link", "road", "busway")
MINOR_P = np.array([0.30, 0.24, 0.13, 0.10, 0.06, 0.06, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01,
                    0.005, 0.005, 0.003, 0.002])
MINOR_P = MINOR_P / MINOR_P.sum()
LANDUSE_TAGS = (("landuse", "residential"), ("landuse", "farmland"), ("landuse", "industrial"),
                ("natural", "wood"), ("landuse", "commercial"), ("leisure", "park"), ("natural", "water"))
POI_TAGS = (("amenity", "restaurant"), ("shop", "convenience"), ("amenity", "school"),
            ("amenity", "bank"), ("amenity", "toilets"), ("amenity", "parking"), ("tourism", "hotel"),
            ("amenity", "fuel"), ("shop", "supermarket"), ("amenity", "clinic"), ("place", "village"))
PREFIXES = ("科技", "创新", "海滨", "中山", "解放", "人民", "建设", "发展", "工业", "环城", "滨江", "花城",
            "新港", "黄埔", "天河", "体育", "先烈", "珠江", "南海", "东风", "光明", "和平", "龙华", "宝安")


@dataclass
class Tile:
    """One land tile: its place in the grid, its street grid side and its other contents."""

    index: int
    row: int
    col: int
    lon0: float
    lat0: float
    side: int
    buildings: int
    landuse: int
    waterways: int
    pois: int

    @property
    def n_grid(self) -> int:
        s = self.side
        return s * s + 4 * s * (s - 1)

    @property
    def n_nodes(self) -> int:
        return (self.n_grid + 4 * self.buildings + LANDUSE_NODES * self.landuse
                + WATERWAY_NODES * self.waterways + self.pois)


def coast_lat(lon: np.ndarray) -> np.ndarray:
    """Latitude of the approximate coastline at each longitude."""
    xs, ys = zip(*COAST)
    return np.interp(lon, xs, ys)


def plan_tiles(scale: float) -> tuple[list[Tile], float, dict[tuple[int, int], Tile]]:
    """Cut the province into tiles and share the scaled budget among them by density."""
    deg = min(0.8, 0.1 / math.sqrt(min(scale, 1.0)))
    x0, y0, x1, y1 = EXTENT
    ncol, nrow = int(math.ceil((x1 - x0) / deg)), int(math.ceil((y1 - y0) / deg))
    cols, rows = np.meshgrid(np.arange(ncol), np.arange(nrow))
    cx = x0 + (cols.ravel() + 0.5) * deg
    cy = y0 + (rows.ravel() + 0.5) * deg
    land = cy > coast_lat(cx)
    # The inland corners beyond the provincial border (Guangxi, Hunan, Jiangxi, Fujian).
    land &= ~((cx < 111.2) & (cy > 23.0)) & ~((cx > 116.5) & (cy > 24.6)) & ~((cy > 25.2) & (cx < 112.8))
    w = np.full(len(cx), 1.0)
    for lon, lat, amp, radius in CITIES:
        d2 = ((cx - lon) ** 2 + (cy - lat) ** 2) / max(radius, deg / 2) ** 2
        w += amp * np.exp(-d2)
    w = np.where(land, w, 0.0)
    share = w / w.sum()
    area = land / land.sum()
    sides = np.maximum(2, np.round(np.sqrt(HIGHWAY_NODES * scale * share / 5.0))).astype(int)
    buildings = np.round(BUILDINGS * scale * share).astype(int)
    landuse = np.round(LANDUSE * scale * (0.5 * share + 0.5 * area)).astype(int)
    waterways = np.round(WATERWAYS * scale * area).astype(int)
    pois = np.round(POIS * scale * share).astype(int)
    tiles, by_pos = [], {}
    for i in np.flatnonzero(land):
        r, c = divmod(int(i), ncol)
        t = Tile(len(tiles), r, c, x0 + c * deg, y0 + r * deg, int(sides[i]), int(buildings[i]),
                 int(landuse[i]), int(waterways[i]), int(pois[i]))
        tiles.append(t)
        by_pos[(r, c)] = t
    return tiles, deg, by_pos


def tile_nodes(t: Tile, deg: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of every node of a tile, in id order."""
    rng = np.random.default_rng([seed, t.index, 0])
    s = t.side
    step = deg / s
    jx = rng.uniform(-0.2, 0.2, (s, s)) * step
    jy = rng.uniform(-0.2, 0.2, (s, s)) * step
    gx = t.lon0 + (np.arange(s)[None, :] + 0.5) * step + jx
    gy = t.lat0 + (np.arange(s)[:, None] + 0.5) * step + jy
    # Two shape points on each block edge, at a third and two thirds, bent a little.
    f = np.array([1 / 3, 2 / 3])
    hx = gx[:, :-1, None] + (gx[:, 1:, None] - gx[:, :-1, None]) * f
    hy = gy[:, :-1, None] + (gy[:, 1:, None] - gy[:, :-1, None]) * f + rng.normal(0, 0.05, (s, s - 1, 2)) * step
    # Vertical lines: indexed [column j, block i, point p].
    vx = (gx[:-1, :, None] + (gx[1:, :, None] - gx[:-1, :, None]) * f).transpose(1, 0, 2) \
        + rng.normal(0, 0.05, (s, s - 1, 2)) * step
    vy = (gy[:-1, :, None] + (gy[1:, :, None] - gy[:-1, :, None]) * f).transpose(1, 0, 2)
    parts_x = [gx.ravel(), hx.ravel(), vx.ravel()]
    parts_y = [gy.ravel(), hy.ravel(), vy.ravel()]
    # Buildings: small squares inside the tile's blocks.
    nb = t.buildings
    bx = t.lon0 + rng.uniform(0, deg, nb)
    by = t.lat0 + rng.uniform(0, deg, nb)
    size = rng.uniform(0.00008, 0.0003, nb)
    parts_x.append((bx[:, None] + size[:, None] * np.array([0, 1, 1, 0])).ravel())
    parts_y.append((by[:, None] + size[:, None] * np.array([0, 0, 1, 1])).ravel())
    # Landuse: rough circles; waterways: meandering lines.
    for count, k, radius in ((t.landuse, LANDUSE_NODES, (0.002, 0.01)), (t.waterways, WATERWAY_NODES, None)):
        ox = t.lon0 + rng.uniform(0, deg, count)[:, None]
        oy = t.lat0 + rng.uniform(0, deg, count)[:, None]
        if radius:
            r = rng.uniform(*radius, count)[:, None] * rng.uniform(0.7, 1.3, (count, k))
            ang = np.linspace(0, 2 * np.pi, k, endpoint=False)[None, :]
            px, py = ox + r * np.cos(ang), oy + r * np.sin(ang)
        else:
            px = ox + np.cumsum(rng.normal(0.001, 0.0015, (count, k)), axis=1)
            py = oy + np.cumsum(rng.normal(0.0, 0.0015, (count, k)), axis=1)
        parts_x.append(px.ravel())
        parts_y.append(py.ravel())
    parts_x.append(t.lon0 + rng.uniform(0, deg, t.pois))
    parts_y.append(t.lat0 + rng.uniform(0, deg, t.pois))
    return np.concatenate(parts_x), np.concatenate(parts_y)


def _name(rng: np.random.Generator, suffix: str) -> str:
    return f"{PREFIXES[int(rng.integers(len(PREFIXES)))]}{int(rng.integers(1, 40))}{suffix}"


def highway_tags(cls: str, rng: np.random.Generator, dense: bool) -> dict[str, str]:
    """Tags of one highway way of class ``cls``, drawn in OSM's proportions."""
    tags = {"highway": cls}
    u = rng.random(6)
    if cls == "motorway":
        tags.update(ref=f"G{int(rng.integers(1, 100))}", name=_name(rng, "高速"), oneway="yes")
        if u[0] < 0.4:
            tags["maxspeed"] = "120"
    elif cls == "trunk":
        tags.update(ref=f"G{int(rng.integers(100, 400))}", name=_name(rng, "快速路"))
        if u[0] < 0.4:
            tags["motorroad"] = "yes"
        if u[1] < 0.2:
            tags["bicycle"] = "no"
        if u[2] < 0.2:
            tags["foot"] = "no"
        if u[3] < 0.3:
            tags["maxspeed"] = "80"
    elif cls == "primary":
        tags["name"] = _name(rng, "大道")
        if u[0] < 0.5:
            tags["ref"] = f"S{int(rng.integers(100, 400))}"
        if u[1] < 0.3:
            tags["maxspeed"] = "60"
    elif cls in ("secondary", "tertiary"):
        tags["name"] = _name(rng, "路" if cls == "secondary" else "街")
        if dense and u[0] < 0.12:
            tags["oneway"] = "yes"
    elif cls in ("residential", "living_street", "unclassified"):
        if u[0] < 0.7:
            tags["name"] = _name(rng, "巷")
        if dense and u[1] < 0.1:
            tags["oneway"] = "yes" if u[2] < 0.8 else "-1"
        if u[3] < 0.01:
            tags["junction"] = "roundabout"
    elif cls == "service":
        if u[0] < 0.08:
            tags["access"] = "private"
        if u[1] < 0.1:
            tags["oneway"] = "yes"
        if u[2] < 0.3:
            tags["service"] = ("parking_aisle", "driveway", "alley")[int(rng.integers(3))]
    elif cls in ("footway", "path", "pedestrian", "steps"):
        if u[0] < 0.2:
            tags["bicycle"] = "yes" if u[1] < 0.5 else "no"
        if cls == "pedestrian" and u[2] < 0.1:
            tags["area"] = "yes"
    elif cls == "track" and u[0] < 0.1:
        tags["access"] = "agricultural"
    elif cls == "cycleway" and u[0] < 0.3:
        tags["foot"] = "yes"
    if u[5] < 0.005:
        tags["access"] = "no"
    return tags


def _middle_class(t: Tile, horizontal: bool) -> str:
    k = t.row if horizontal else t.col
    return "motorway" if k % 6 == 3 else ("trunk" if k % 3 == 0 else "primary")


def tile_ways(t: Tile, base: int, bases: dict[int, int], by_pos: dict, seed: int):
    """Yield ``(node refs, tags)`` of every way of a tile (node ids from ``base``)."""
    rng = np.random.default_rng([seed, t.index, 1])
    s = t.side
    dense = s >= 30
    grid = base + np.arange(s * s).reshape(s, s)
    h0 = base + s * s
    v0 = h0 + 2 * s * (s - 1)
    mid = s // 2
    for horizontal in (True, False):
        for k in range(s):
            if horizontal:
                inter = grid[k, :]
                shape = h0 + (k * (s - 1) + np.arange(s - 1)) * 2
            else:
                inter = grid[:, k]
                shape = v0 + (k * (s - 1) + np.arange(s - 1)) * 2
            line = np.empty(3 * (s - 1) + 1, dtype=np.int64)
            line[0::3] = inter
            line[1::3] = shape
            line[2::3] = shape + 1
            if k == mid:
                cls = _middle_class(t, horizontal)
            elif k % 8 == 0:
                cls = "secondary"
            elif k % 4 == 0:
                cls = "tertiary"
            else:
                cls = None
            for b0 in range(0, s - 1, BLOCKS_PER_WAY):
                b1 = min(b0 + BLOCKS_PER_WAY, s - 1)
                refs = line[3 * b0:3 * b1 + 1].tolist()
                c = cls or MINOR_CLASSES[int(rng.choice(len(MINOR_CLASSES), p=MINOR_P))]
                if cls is None and rng.random() < 0.03:
                    continue  # a missing link: dead ends and irregular blocks
                tags = highway_tags(c, rng, dense)
                yield refs, tags
                if c == "motorway":  # the other carriageway, on the same nodes
                    yield refs[::-1], tags
    # The middle streets run on into the east and north neighbours.
    for horizontal, (dr, dc) in ((True, (0, 1)), (False, (1, 0))):
        nb = by_pos.get((t.row + dr, t.col + dc))
        if nb is None:
            continue
        nm = nb.side // 2
        if horizontal:
            refs = [int(grid[mid, s - 1]), bases[nb.index] + nm * nb.side]
        else:
            refs = [int(grid[s - 1, mid]), bases[nb.index] + nm]
        tags = highway_tags(_middle_class(t, horizontal), rng, dense)
        yield refs, tags
        if tags["highway"] == "motorway":
            yield refs[::-1], tags
    n = v0 + 2 * s * (s - 1)
    for _ in range(t.buildings):
        yield [n, n + 1, n + 2, n + 3, n], {"building": "yes"}
        n += 4
    for _ in range(t.landuse):
        k, v = LANDUSE_TAGS[int(rng.integers(len(LANDUSE_TAGS)))]
        yield list(range(n, n + LANDUSE_NODES)) + [n], {k: v}
        n += LANDUSE_NODES
    for _ in range(t.waterways):
        yield list(range(n, n + WATERWAY_NODES)), {"waterway": "stream" if rng.random() < 0.8 else "river"}
        n += WATERWAY_NODES


class _Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.t0, self.shown = label, total, time.perf_counter(), -1.0

    def update(self, done: int, final: bool = False) -> None:
        now = time.perf_counter() - self.t0
        if not final and now - self.shown < 2.0:
            return
        self.shown = now
        rate = done / now if now > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else float("nan")
        sys.stderr.write(f"\r{self.label}: {done:,}/{self.total:,} ({100 * done / max(self.total, 1):.0f}%) "
                         f"{rate:,.0f}/s, {left:.0f} s left   " + ("\n" if final else ""))
        sys.stderr.flush()


def write_province(out: str | Path, *, scale: float = 1.0, seed: int = 0) -> dict:
    """Write the synthetic province to ``out``; returns its counts."""
    import osmium
    from osmium.osm.mutable import Node, Way

    tiles, deg, by_pos = plan_tiles(scale)
    bases, total_nodes = {}, 0
    for t in tiles:
        bases[t.index] = total_nodes + 1  # OSM ids start at 1
        total_nodes += t.n_nodes
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    header = osmium.io.Header()
    header.add_box(osmium.osm.Box(osmium.osm.Location(EXTENT[0], EXTENT[1]),
                                  osmium.osm.Location(EXTENT[2], EXTENT[3])))
    header.set("generator", "geo bench/make_province_pbf.py")
    counts = {"nodes": 0, "ways": 0, "highway_ways": 0, "poi_nodes": 0}
    writer = osmium.SimpleWriter(osmium.io.File(str(tmp), "pbf"), header=header, overwrite=True)
    try:
        prog = _Progress("nodes", total_nodes)
        for t in tiles:
            lon, lat = tile_nodes(t, deg, seed)
            ids = range(bases[t.index], bases[t.index] + len(lon))
            poi0 = len(lon) - t.pois
            rng = np.random.default_rng([seed, t.index, 2])
            for i, nid, x, y in zip(range(len(lon)), ids, lon.tolist(), lat.tolist()):
                if i >= poi0:
                    k, v = POI_TAGS[int(rng.integers(len(POI_TAGS)))]
                    writer.add_node(Node(id=nid, location=(x, y), tags={k: v, "name": _name(rng, "店")}))
                else:
                    writer.add_node(Node(id=nid, location=(x, y)))
            counts["nodes"] += len(lon)
            counts["poi_nodes"] += t.pois
            prog.update(counts["nodes"])
        prog.update(counts["nodes"], final=True)
        prog = _Progress("tiles (ways)", len(tiles))
        wid = 1
        for t in tiles:
            for refs, tags in tile_ways(t, bases[t.index], bases, by_pos, seed):
                writer.add_way(Way(id=wid, nodes=refs, tags=tags))
                wid += 1
                counts["highway_ways"] += "highway" in tags
            prog.update(t.index + 1)
        counts["ways"] = wid - 1
        prog.update(len(tiles), final=True)
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        try:
            writer.close()
        finally:
            tmp.unlink(missing_ok=True)
        raise
    counts.update(tiles=len(tiles), tile_deg=round(deg, 3), bytes=out.stat().st_size)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = about 20M nodes and 2.5M ways")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="target .osm.pbf (keep it outside the repository)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    c = write_province(args.out, scale=args.scale, seed=args.seed)
    print(f"{args.out}: {c['nodes']:,} nodes ({c['poi_nodes']:,} POIs), {c['ways']:,} ways "
          f"({c['highway_ways']:,} highways, {100 * c['highway_ways'] / max(c['ways'], 1):.0f} %), "
          f"{c['tiles']} tiles of {c['tile_deg']} deg, {c['bytes'] / 1e6:.1f} MB, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
