"""The worker finder on the command line: ``nearest``."""
from __future__ import annotations

import argparse
import json

from geo.core.schema import KINDS


def run_nearest(args: argparse.Namespace) -> int:
    """``python -m geo nearest ...``: print the nearest stations (JSON with ``--json``).

    Exit code 0, also when no station matches (the output says so).
    """
    from geo.routing.nearest import find_nearest

    results = find_nearest(args.lon, args.lat, crs=args.crs, kinds=args.kind, k=args.k, mode=args.mode,
                           by=args.by, network=args.network, facilities=args.facility, at=args.at,
                           registry=args.registry)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    if not results:
        print("附近没有符合条件的站点 / no matching station found")
    for n, r in enumerate(results, 1):
        tag = "" if r["method"] == "network" else f" [{r['label']}]"
        roads = f" 经 / via {'、'.join(r['road_names'])}" if r.get("road_names") else ""
        print(f"{n}. {r['name']} ({KINDS[r['kind']].zh}) {r['distance_m'] / 1000:.2f} km, "
              f"{r['duration_s'] / 60:.0f} min{tag}{roads}")
    return 0
