"""Registry commands: ``import``, ``export``, ``backup``, ``restore`` and ``registry copy``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geo import settings
from geo.cli.output import print_json
from geo.registry.export import export_file
from geo.registry.io.readers import ReadError


def _registry(arg: str | None) -> str:
    # A GeoPackage path or a postgresql:// URL, kept as typed (a Path would fold the URL's "//").
    return arg or settings.registry_location()


def run_import(args: argparse.Namespace) -> int:
    """``python -m geo import PATH``: validate a station file and merge it into the registry.

    Exit code 0, or 2 when the file cannot be read.
    """
    from geo.registry.importer import import_file

    mapping = {}
    for item in args.map or []:
        field, _, column = item.partition("=")
        mapping[field.strip()] = column.strip() or None
    try:
        report, counts = import_file(args.path, args.kind, crs=args.crs, registry=args.registry,
                                     dry_run=args.dry_run, source=args.source, mapping=mapping or None,
                                     region=args.region, editor=args.editor)
    except ReadError as exc:
        if args.json:
            print_json({"error": exc.code, "message": str(exc)})
        print(str(exc), file=sys.stderr)
        return 2
    summary = report.summary()
    summary["dry_run"] = bool(args.dry_run)
    if counts is not None:
        summary.update(counts)
    if args.rejects_out and len(report.rejects):
        Path(args.rejects_out).write_bytes(report.rejects_csv())
        summary["rejects_file"] = args.rejects_out
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['file']}: 读取 {summary['rows']} 行 / rows read, 接受 {summary['accepted']} accepted, "
              f"拒绝 {summary['rejected']} rejected, 警告 {summary['warnings']} warnings")
        print(f"坐标系 / CRS: {summary['crs_used']} — {summary['crs_note']}")
        for note in summary["notes"]:
            print(f"注意 / note: {note}")
        for r in summary["rejects"]:
            print(f"  第 {r['row']} 行 / row {r['row']}: [{r['reason_code']}] {r['message']}")
        for w in summary["warning_list"]:
            print(f"  第 {w['row']} 行 / row {w['row']}: ({w['code']}) {w['message']}")
        if counts is not None:
            print(f"已写入登记库 / committed: 新增 {counts['inserted']} inserted, 更新 {counts['updated']} updated, "
                  f"未变 {counts['unchanged']} unchanged")
        else:
            print("试运行，未写入 / dry run: nothing written")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """``python -m geo export --format F --out FILE``: write the registry's stations.

    Exit code 0, or 2 when a registry named with ``--registry`` does not exist.
    """
    from geo.registry.store import open_store
    from geo.registry.store.pg import is_database_url

    if args.registry and not is_database_url(args.registry) and not Path(args.registry).exists():
        # Exporting must not create an empty registry at a mistyped path.
        print(f"登记库不存在 / registry not found: {args.registry}", file=sys.stderr)
        return 2
    stations = open_store(args.registry).load(kinds=args.kind, statuses=args.status, region=args.region)
    path = export_file(stations, args.out, fmt=args.format, crs=args.crs, public_only=not args.include_private,
                       lang=args.lang)
    print(f"已导出 {len(stations)} 个站点 / exported {len(stations)} stations -> {path}", file=sys.stderr)
    return 0


def run_backup(args: argparse.Namespace) -> int:
    """``python -m geo backup --out FILE``: a consistent copy of the registry with a manifest.

    Exit code 0, or 2 when the backup failed.
    """
    from geo.registry.backup import BackupError, backup_registry, manifest_path

    try:
        manifest = backup_registry(_registry(args.registry), args.out)
    except BackupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.json:
        print_json({**manifest, "backup": args.out, "manifest": str(manifest_path(args.out))})
    else:
        layers = ", ".join(f"{k} {n}" for k, n in manifest["layers"].items())
        print(f"已备份 / backed up: {args.out} ({layers}; sha256 {manifest['sha256'][:12]}…)")
        print(f"清单 / manifest: {manifest_path(args.out)}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    """``python -m geo restore FILE``: replace the registry with a verified backup.

    Exit code 0, or 2 when the backup was refused (the registry is then unchanged).
    """
    from geo.registry.backup import BackupError, restore_registry

    try:
        result = restore_registry(args.file, _registry(args.registry))
    except BackupError as exc:
        if args.json:
            print_json({"error": exc.code, "message": str(exc)})
        print(f"未恢复，登记库未改动 / not restored, the registry is unchanged: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(result)
    else:
        print(f"已恢复 / restored: {result['restored']} <- {args.file}")
        if result["before_restore"]:
            print(f"原登记库保存为 / previous registry kept as: {result['before_restore']}")
        if result.get("replaced_changes"):
            # Edits made since the backup now live only in the saved previous file: say so.
            print(f"备份之后的 {result['replaced_changes']} 处修改只保存在原登记库中 / "
                  f"{result['replaced_changes']} change(s) made after the backup are only in the previous registry")
    return 0


def run_copy(args: argparse.Namespace) -> int:
    """``python -m geo registry copy SRC DST``: copy a registry between backends and verify the copy.

    Exit code 0, or 2 when the copy was refused or did not verify.
    """
    from geo.registry.copy import CopyError, copy_registry
    from geo.registry.store.base import RegistryUnavailableError

    try:
        result = copy_registry(args.source, args.target)
    except (CopyError, RegistryUnavailableError) as exc:
        if args.json:
            print_json({"error": getattr(exc, "code", "unavailable"), "message": str(exc)})
        print(f"未复制 / not copied: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(result)
    else:
        counts = result["counts"]
        layers = ", ".join(f"{k} {n}" for k, n in counts["layers"].items())
        print(f"已复制并核对 / copied and verified: {result['source']} -> {result['target']}")
        print(f"  站点 / stations: {layers}; 导入记录 / import log {counts['import_log']}, "
              f"修改记录 / audit log {counts['audit_log']}, 反馈 / reports {counts['reports']}")
        print(f"  内容校验和 / content sha256 {result['sha256']}（两边一致 / equal on both sides）")
    return 0


def add_parser(sub) -> None:
    """The ``registry`` command group (``registry copy``), added to ``python -m geo``'s subcommands."""
    p = sub.add_parser("registry", help="登记库 / the registry itself (copy between GeoPackage and PostGIS)")
    rsub = p.add_subparsers(dest="registry_command", required=True)
    q = rsub.add_parser("copy", help="复制登记库并核对 / copy a registry (GeoPackage or postgresql:// URL) "
                                     "to a new one and verify it")
    q.add_argument("source", help="源登记库 / source: GeoPackage path or postgresql:// URL")
    q.add_argument("target", help="新登记库 / target: a new GeoPackage path, or a database without a registry")
    q.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    q.set_defaults(func=run_copy)
