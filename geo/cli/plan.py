"""Site recommendations on the command line: ``plan`` (options parsed in :mod:`geo.cli.main`)."""
from __future__ import annotations

import argparse
import json
import sys

from geo import settings
from geo.analysis.demand import DemandSource
from geo.analysis.scenarios import save_scenario
from geo.analysis.siting.candidates import CandidateSource
from geo.analysis.siting.problem import build_problem
from geo.analysis.siting.result import SitingResult
from geo.analysis.siting.solve import solve
from geo.cli.coverage import METERS_WITHOUT_NETWORK
from geo.registry.io.readers import ReadError
from geo.registry.store import open_store
from geo.web.report import registry_version
from geo.web.siting_report import write_siting_report


def run_plan(args: argparse.Namespace) -> int:
    """``python -m geo plan --region ADCODE --new P ... [--json]``: recommend sites, write and print them.

    Parameters
    ----------
    args
        Parsed options of the ``plan`` command.

    Returns
    -------
    int
        0, or 2 when a candidate, population or demand file cannot be read,
        or ``--meters`` came with no road network and no ``--method`` (the
        reason is printed to stderr).

    Raises
    ------
    ValueError
        ``--target-share`` with another model than LSCP, or a bad region,
        standard or model (the caller prints it and exits with 2).
    """
    model = getattr(args, "model", None) or ("lscp" if args.target_share is not None else "mclp")
    if args.target_share is not None and model != "lscp":
        raise ValueError("--target-share 只用于 LSCP / --target-share goes with the lscp model")
    reach = settings.SITING_PMEDIAN_REACH if model == "pmedian" else 1.0
    demand = DemandSource(population=args.population, points=getattr(args, "demand", None),
                          weight_column=getattr(args, "demand_weight", None))
    candidates = CandidateSource(args.candidates, crs=getattr(args, "candidate_crs", "auto"),
                                 cost_column=getattr(args, "cost_column", None),
                                 capacity_column=getattr(args, "capacity_column", None),
                                 exclusions=getattr(args, "exclude", None))
    try:
        problem = build_problem(
            args.region, args.kind, mode=args.mode, minutes=args.minutes, meters=args.meters, res=args.res,
            network=args.network, demand=demand, registry=args.registry,
            statuses=getattr(args, "status", None) or settings.COVERAGE_STATUSES, candidates=candidates,
            reach=reach, method=getattr(args, "method", None) or "auto")
    except ReadError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.meters is not None and getattr(args, "method", "auto") == "auto" and args.network is None \
            and problem.baseline is not None and problem.baseline.method == "estimate":
        print(METERS_WITHOUT_NETWORK, file=sys.stderr)
        return 2
    result = solve(problem, args.new, model=model, target_share=args.target_share,
                   budget=getattr(args, "budget", None), method="greedy" if args.greedy else "exact",
                   time_limit=args.time_limit if args.time_limit is not None else settings.SITING_TIME_LIMIT_S,
                   scenario=getattr(args, "scenario", None))
    outputs = {}
    if args.out:
        outputs["proposal"] = str(result.write_proposal(args.out))
    if getattr(args, "report", None):
        outputs["report"] = str(write_siting_report(problem, result, args.report,
                                                    registry=registry_version(open_store(args.registry))))
    if getattr(args, "save", False):
        # Into the registry the plan read (every server of a deployment sees it), as the command line's editor.
        outputs["scenario"] = save_scenario(result, registry=args.registry, overwrite=True,
                                            editor=settings.EDITOR_CLI)["name"]
    doc = result.to_dict()
    doc["outputs"] = outputs
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    unit = problem.baseline.demand.unit if problem.baseline is not None else ""
    _print_summary(result, doc, unit)
    for what, path in outputs.items():
        print(f"已写入 / wrote {what}: {path}", file=sys.stderr)
    return 0


def _print_summary(result: SitingResult, doc: dict, unit: str) -> None:
    print(f"{doc['region'].get('name', '')} ({doc['region'].get('adcode', '')}) — {doc['standard']['label']}")
    print(f"出行计算 / travel: {doc.get('travel_label') or result.travel_method}")
    print(f"模型 / model: {result.model}; 方法 / method: {result.method} ({result.status}); gap: "
          f"{'—' if result.gap is None else f'{result.gap:.4%}'}")
    print(f"覆盖率 / covered share: {result.before_share:.1%} → {result.after_share:.1%} "
          f"(+{result.added_demand:,.1f} {unit})")
    if result.change_text:
        print(f"变化 / change: {result.change_text}")
    for row in result.sites.itertuples():
        where = row.label if isinstance(row.label, str) and row.label else row.name
        print(f"  {row.rank}. {where} ({row.lon:.5f}, {row.lat:.5f}) +{row.added_demand:,.1f} {unit} · H3 {row.h3}")
    for note in result.notes:
        print(f"注意 / note: {note}")
