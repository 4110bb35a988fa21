"""Workers' report commands: ``reports list`` and ``reports export`` (no client data: the store keeps none)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geo import settings
from geo.cli.output import print_json
from geo.registry.reports import REPORT_TYPES, export_reports, report_frame, since_iso


def _reports(args: argparse.Namespace):
    from geo.registry.store import open_store

    location = args.registry or settings.registry_location()
    if "://" not in str(location) and not Path(location).exists():
        # Reading must not create an empty registry at a mistyped path.
        raise ValueError(f"登记库不存在 / registry not found: {location}")
    store = open_store(location)
    since = since_iso(args.days) if args.days else None
    found = store.reports(station_id=args.station, statuses=args.status or None, since=since)
    if args.type:
        found = found[found["type"].isin(args.type)]
    return store, found


def run_reports(args: argparse.Namespace) -> int:
    """``python -m geo reports list|export``: the registry's reports, printed or written as CSV/GeoJSON.

    Exit code 0, or 2 with a message when the registry or the output cannot be used.
    """
    store, found = _reports(args)
    if args.reports_command == "export":
        fmt = args.format or ("geojson" if str(args.out).lower().endswith((".geojson", ".json")) else "csv")
        data = export_reports(report_frame(found, store.load()), fmt)
        try:
            Path(args.out).write_bytes(data)
        except OSError as exc:
            print(f"无法写入 / cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
        summary = {"out": str(args.out), "format": fmt, "reports": int(len(found))}
        if args.json:
            print_json(summary)
        else:
            print(f"已导出 {len(found)} 条反馈 / exported {len(found)} reports: {args.out}")
        return 0
    rows = report_frame(found, store.load()).drop(columns=["geometry"])
    if args.json:
        print_json({"reports": rows.astype(object).where(rows.notna(), None).to_dict("records")})
        return 0
    if rows.empty:
        print("没有反馈 / no reports")
        return 0
    for r in rows.itertuples():
        name = REPORT_TYPES[r.type].zh if r.type in REPORT_TYPES else r.type
        # repr() of the text: a report's own line breaks or terminal escapes are shown, not obeyed.
        text = f" {r.text!r}" if r.text else ""
        print(f"#{r.report_id} {r.at} {r.station_id} {r.station_name or ''} [{r.type} {name}] {r.status}{text}")
    return 0


def add_parser(sub) -> None:
    """The ``reports`` command group, added to ``python -m geo``'s subcommands."""
    p = sub.add_parser("reports", help="工人反馈 / workers' station reports (no client data)")
    rsub = p.add_subparsers(dest="reports_command", required=True)
    for name, text in (("list", "列出反馈 / list reports"), ("export", "导出反馈 / export reports (CSV, GeoJSON)")):
        q = rsub.add_parser(name, help=text)
        q.add_argument("--registry", help="登记库 / registry (GeoPackage or postgresql:// URL)")
        q.add_argument("--station", help="站点编号 / station id")
        q.add_argument("--status", choices=["open", "confirmed", "dismissed"], action="append",
                       help="反馈状态，可重复 / report status (repeatable)")
        q.add_argument("--type", choices=list(REPORT_TYPES), action="append", help="反馈类型，可重复 / type (repeatable)")
        q.add_argument("--days", type=float, help="最近几天 / only the last N days")
        q.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
        if name == "export":
            q.add_argument("--out", required=True, help="输出文件 / output file (.csv or .geojson)")
            q.add_argument("--format", choices=["csv", "geojson"], help="格式 / format (default from --out)")
        q.set_defaults(func=run_reports)
