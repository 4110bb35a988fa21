"""Road network commands: ``network build``, ``network places`` and ``network download``."""
from __future__ import annotations

import argparse
import sys
import time


def run_build(args: argparse.Namespace) -> int:
    """``python -m geo network build PBF --out DIR [--modes ...]``: build and cache a graph per mode."""
    from geo.routing.build import build_graphs
    from geo.routing.network import MODES

    t0 = time.perf_counter()
    try:
        graphs = build_graphs(args.pbf, args.out, modes=args.modes or MODES, verbose=True)
    except KeyboardInterrupt:
        # build_graphs has removed its temporary folder: the old graphs, if any, are untouched.
        print("\n已中断，未写入路网 / interrupted: no graph was written", file=sys.stderr)
        return 130
    print(f"已写入 / wrote {', '.join(graphs)} -> {args.out} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    if not getattr(args, "no_places", False):
        _write_places(args.pbf, args.out)
    return 0


def run_places(args: argparse.Namespace) -> int:
    """``python -m geo network places PBF [--out DIR]``: build the place search index alone."""
    from geo import settings

    _write_places(args.pbf, args.out or settings.network_dir())
    return 0


def _write_places(pbf, out) -> None:
    from geo.routing.places import build_places

    t0 = time.perf_counter()
    info = build_places(pbf, out)
    kinds = ", ".join(f"{k} {n}" for k, n in info["kinds"].items())
    print(f"地点索引 / place index: {info['places']} places from {info['features']} OSM features ({kinds}) -> "
          f"{info['path']} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)


def run_download(args: argparse.Namespace) -> int:
    """``python -m geo network download REGION [--out PATH]``: fetch a named OpenStreetMap extract."""
    from geo.routing.osm import download_extract, extract_url

    print(f"下载 / downloading {extract_url(args.region)}", file=sys.stderr)
    download_extract(args.region, args.out)
    return 0
