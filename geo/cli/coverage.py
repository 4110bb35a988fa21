"""Planner coverage on the command line: ``coverage`` (options parsed in :mod:`geo.cli.main`)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from geo import settings
from geo.analysis.coverage import coverage, off_network_note, service_areas
from geo.analysis.demand import DemandSource
from geo.analysis.export import write_layer
from geo.registry.io.readers import ReadError
from geo.registry.io.writers import frame_to_geojson
from geo.registry.reports import NotServingRule
from geo.registry.store import open_store
from geo.web.report import registry_version, write_report


#: ``--meters`` with no road network: a straight-line radius and a detour estimate differ by a third.
METERS_WITHOUT_NETWORK = (
    "没有路网：请用 --method radius（直线服务半径）或 --method estimate（直线距离 × "
    f"{settings.DETOUR_FACTOR} 估算路程）说明 --meters 的含义 / no road network: say what --meters means with "
    "--method radius (a straight-line service radius) or --method estimate (great-circle distance × "
    f"{settings.DETOUR_FACTOR} as a road-distance estimate)")


#: ``--not-serving-clients`` / ``--not-serving-days`` alone: the rule is off unless asked for, so say so.
RULE_WITHOUT_SWITCH = ("--not-serving-clients 和 --not-serving-days 需与 --not-serving 一起使用 / "
                       "--not-serving-clients and --not-serving-days need --not-serving")


def _not_serving_rule(args: argparse.Namespace) -> NotServingRule | None:
    clients = getattr(args, "not_serving_clients", None)
    days = getattr(args, "not_serving_days", None)
    if not getattr(args, "not_serving", False):
        if clients is not None or days is not None:
            raise ValueError(RULE_WITHOUT_SWITCH)
        return None
    given = {k: v for k, v in (("clients", clients), ("days", days)) if v is not None}
    return NotServingRule(**given)  # the rest from settings; N < 1 or D <= 0 raise a bilingual ValueError


def run_coverage(args: argparse.Namespace) -> int:
    """``python -m geo coverage --region ADCODE ... [--not-serving ...] [--json]``: run, write the asked layers,
    print a summary.

    Exit code 0, or 2 when a population or demand file cannot be read, when ``--meters`` was given
    with no road network and no ``--method``, or when the not-serving options are inconsistent (the reason
    goes to stderr). With ``--not-serving`` the rule is part of the result's standard.
    """
    try:
        rule = _not_serving_rule(args)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    method = getattr(args, "method", None) or "auto"
    demand = DemandSource(population=args.population, points=args.demand,
                          weight_column=getattr(args, "demand_weight", None),
                          crs=getattr(args, "demand_crs", "auto"))
    try:
        result = coverage(
            args.region, args.kind, mode=args.mode, minutes=args.minutes, meters=args.meters, res=args.res,
            network=args.network, demand=demand, registry=args.registry,
            statuses=getattr(args, "status", None) or settings.COVERAGE_STATUSES, method=method,
            not_serving=rule)
    except ReadError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.meters is not None and method == "auto" and result.method == "estimate" and args.network is None:
        # A distance standard is often meant as a straight-line radius: never guess which.
        print(METERS_WITHOUT_NETWORK, file=sys.stderr)
        return 2
    written = {}
    if args.out:
        written["gaps"] = str(write_layer(result, "gaps", args.out))
    if getattr(args, "cells_out", None):
        written["cells"] = str(write_layer(result, "cells", args.cells_out))
    if getattr(args, "districts_out", None):
        written["districts"] = str(write_layer(result, "districts", args.districts_out))
    if getattr(args, "report", None):
        written["report"] = str(write_report(result, args.report,
                                             registry=registry_version(open_store(args.registry))))
    if getattr(args, "service_area", None):
        areas = service_areas(result, args.service_area)
        target = getattr(args, "service_areas_out", None)
        if target:
            Path(target).write_text(frame_to_geojson(areas, members={"standard": result.standard.to_dict()}),
                                    encoding="utf-8")
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
    if result.off_network_cells:
        print(f"注意 / note: {off_network_note(result.off_network_cells)}")
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
        if note != off_network_note(result.off_network_cells):
            print(f"注意 / note: {note}")
    for layer, path in written.items():
        print(f"已写入 / wrote {layer}: {path}", file=sys.stderr)
    return 0
