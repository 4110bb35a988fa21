"""Road network commands: ``network build`` and ``network download``."""
from __future__ import annotations

import argparse
import sys
import time


def run_build(args: argparse.Namespace) -> int:
    """``python -m geo network build PBF --out DIR [--modes ...]``: build and cache a graph per mode."""
    from geo.routing.build import build_graphs
    from geo.routing.network import MODES

    t0 = time.perf_counter()
    graphs = build_graphs(args.pbf, args.out, modes=args.modes or MODES, verbose=True)
    print(f"已写入 / wrote {', '.join(graphs)} -> {args.out} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return 0


def run_download(args: argparse.Namespace) -> int:
    """``python -m geo network download REGION [--out PATH]``: fetch a named OpenStreetMap extract."""
    from geo.routing.osm import download_extract, extract_url

    print(f"下载 / downloading {extract_url(args.region)}", file=sys.stderr)
    download_extract(args.region, args.out)
    return 0
