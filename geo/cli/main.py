"""The command line: the same functions as the app, for batch use.

Other tools script against these commands, so their options and JSON
output are a contract: add to them, do not rename. This module only builds
the parser and dispatches; each command group's code is a module of its
own here (``registry``, ``users``, ``network``, ``nearest``, ``coverage``,
``plan``), and the engines it calls never import the command line.
"""
from __future__ import annotations

import argparse
import sys

from geo import settings
from geo.cli import nearest, network, registry, reports, serve, users
from geo.core.crs import CRS_CHOICES
from geo.registry.export import FORMATS
from geo.core.schema import KINDS, STATUSES


def _cmd_coverage(args) -> int:
    from geo.cli.coverage import run_coverage

    return run_coverage(args)


def _cmd_plan(args) -> int:
    from geo.cli.plan import run_plan

    return run_plan(args)


def _add_standard_args(p: argparse.ArgumentParser) -> None:
    """The service standard, grid, network and population options of ``coverage`` and ``plan``."""
    p.add_argument("--mode", choices=settings.ROUTING_MODES, help="出行方式 / travel mode (default per kind)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--minutes", type=float, help="时间标准 / threshold in minutes")
    g.add_argument("--meters", type=float, help="距离标准 / threshold in metres")
    p.add_argument("--res", type=int, choices=settings.COVERAGE_RESOLUTIONS, default=settings.COVERAGE_DEFAULT_RES,
                   help="H3 分辨率 / H3 resolution")
    p.add_argument("--network", help=f"路网目录，none 为估算 / network folder, or none (default {settings.network_dir()})")
    p.add_argument("--method", choices=["auto", "network", "estimate", "radius"], default="auto",
                   help="方法 / method: network 路网, estimate 估算（直线 × 绕行系数 / great circle × detour factor）, "
                        "radius 直线服务半径 / straight-line service radius (with --meters); auto: the network "
                        "when one is found")
    p.add_argument("--population", help="区县人口表 / county population table (CSV, XLSX)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m geo``."""
    parser = argparse.ArgumentParser(
        prog="python -m geo",
        description="广东劳动者服务阵地地图 / Guangdong worker service map: registry, routing, coverage.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="导入站点文件 / import a station file")
    p.add_argument("path", help="CSV / XLSX / GeoJSON / GeoPackage / zipped Shapefile")
    p.add_argument("--kind", choices=[*KINDS, "auto"], default="auto",
                   help="图层 / layer (auto: from each row's type column)")
    p.add_argument("--crs", choices=["auto", *CRS_CHOICES], default="auto",
                   help="输入坐标系 / coordinate system of the file (default: auto)")
    p.add_argument("--registry", help=f"登记库 / registry: GeoPackage or postgresql:// URL (default {settings.registry_location()})")
    p.add_argument("--dry-run", action="store_true", help="只校验不写入 / validate only")
    p.add_argument("--json", action="store_true", help="输出 JSON 报告 / print a JSON report")
    p.add_argument("--source", help="数据来源名称 / source name (default: file name)")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                   help="指定表头映射 / override a header mapping, e.g. --map name=站点全称")
    p.add_argument("--region", default=settings.SERVICE_REGION, help="服务区域区划代码 / service region adcode")
    p.add_argument("--rejects-out", metavar="CSV", help="把被拒绝的行写入 CSV / write rejected rows to a CSV")
    p.add_argument("--editor", default=settings.EDITOR_CLI, help="编辑人，记入修改记录 / who imports, for the audit log (default cli)")
    p.set_defaults(func=registry.run_import)

    p = sub.add_parser("backup", help="备份登记库 / back up the registry (consistent while the app runs)")
    p.add_argument("--out", required=True, help="备份文件 / backup file (a manifest is written beside it)")
    p.add_argument("--registry", help=f"登记库 / registry: GeoPackage or postgresql:// URL (default {settings.registry_location()})")
    p.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    p.set_defaults(func=registry.run_backup)

    p = sub.add_parser("restore", help="从备份恢复登记库 / replace the registry with a verified backup")
    p.add_argument("file", help="备份文件 / backup file made by 'backup'")
    p.add_argument("--registry", help=f"登记库 / registry: GeoPackage or postgresql:// URL (default {settings.registry_location()})")
    p.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    p.set_defaults(func=registry.run_restore)

    p = sub.add_parser("user", help="编辑账户 / editor accounts (hashes in a file outside the repository)")
    usub = p.add_subparsers(dest="user_command", required=True)
    accounts_help = f"账户文件 / accounts file (default GEO_ACCOUNTS or {settings.accounts_path()})"
    q = usub.add_parser("add", help="添加编辑账户或设置新密码 / add an editor account")
    q.add_argument("name", help="用户名，记入修改记录 / user name, recorded in the audit log")
    q.add_argument("--password-stdin", action="store_true",
                   help="从标准输入读一行作为密码 / read the password from one line of standard input")
    q.add_argument("--replace", action="store_true", help="为已有账户设置新密码 / set a new password for an existing account")
    q.add_argument("--accounts", help=accounts_help)
    q.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    q.set_defaults(func=users.run_user)
    q = usub.add_parser("passwd", help="更改编辑账户的密码 / change an editor account's password")
    q.add_argument("name", help="已有的用户名 / an existing user name")
    q.add_argument("--password-stdin", action="store_true",
                   help="从标准输入读一行作为新密码 / read the new password from one line of standard input")
    q.add_argument("--accounts", help=accounts_help)
    q.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    q.set_defaults(func=users.run_user)
    q = usub.add_parser("remove", help="删除编辑账户 / remove an editor account")
    q.add_argument("name")
    q.add_argument("--accounts", help=accounts_help)
    q.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    q.set_defaults(func=users.run_user)
    q = usub.add_parser("list", help="列出编辑账户 / list editor accounts (never their hashes)")
    q.add_argument("--accounts", help=accounts_help)
    q.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    q.set_defaults(func=users.run_user)

    p = sub.add_parser("export", help="导出登记库 / export the registry")
    p.add_argument("--format", choices=FORMATS, required=True)
    p.add_argument("--out", required=True, help="输出文件 / output file")
    p.add_argument("--kind", choices=list(KINDS), action="append", help="图层，可重复 / layer (repeatable)")
    p.add_argument("--region", help="区划代码 / adcode of the province, a city or a district")
    p.add_argument("--status", choices=list(STATUSES), action="append", help="状态，可重复 / status (repeatable)")
    p.add_argument("--crs", choices=["wgs84", "gcj02"], default="wgs84",
                   help="gcj02 只用于高德等系统 / gcj02 only for Amap-based systems")
    p.add_argument("--lang", choices=["zh", "en"], default="zh",
                   help="XLSX 表头语言 / language of the XLSX column headers")
    p.add_argument("--include-private", action="store_true",
                   help="含非公开站点的电话和详细地址（仅供编辑人员） / keep phone and exact address of "
                        "non-public stations (editors only)")
    p.add_argument("--registry", help="登记库 / registry: GeoPackage or postgresql:// URL")
    p.set_defaults(func=registry.run_export)

    reports.add_parser(sub)  # workers' station reports: geo/cli/reports.py
    registry.add_parser(sub)  # registry copy: geo/cli/registry.py

    # Road routing: the commands are in geo/cli/network.py and geo/cli/nearest.py.
    p = sub.add_parser("network", help="道路网络 / road networks for routing")
    nsub = p.add_subparsers(dest="network_command", required=True)
    q = nsub.add_parser("build", help="由 OSM 文件构建路网 / build routing graphs from an .osm.pbf")
    q.add_argument("pbf", help="OpenStreetMap .osm.pbf")
    q.add_argument("--out", required=True, help="输出目录 / output folder")
    q.add_argument("--modes", nargs="+", choices=settings.ROUTING_MODES, default=list(settings.ROUTING_MODES),
                   help="出行方式 / travel modes (default all)")
    q.add_argument("--no-places", action="store_true",
                   help="不建地点索引 / skip the place search index (build it later with network places)")
    q.set_defaults(func=network.run_build)
    q = nsub.add_parser("places", help="由 OSM 文件建地点搜索索引 / build the place search index from an .osm.pbf")
    q.add_argument("pbf", help="OpenStreetMap .osm.pbf (the one the network is built from)")
    q.add_argument("--out", help=f"路网目录 / network folder (default {settings.network_dir()})")
    q.set_defaults(func=network.run_places)
    q = nsub.add_parser("download", help="下载 OSM 数据 / download an OpenStreetMap extract")
    q.add_argument("region", choices=list(settings.OSM_EXTRACTS))
    q.add_argument("--out", help="保存位置 / target file or folder")
    q.set_defaults(func=network.run_download)

    p = sub.add_parser("nearest", help="最近的站点 / nearest stations by road")
    p.add_argument("--lon", type=float, required=True)
    p.add_argument("--lat", type=float, required=True)
    p.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], default="wgs84", help="起点坐标系 / origin CRS")
    p.add_argument("--kind", choices=list(KINDS), action="append", help="图层，可重复 / layer (repeatable)")
    p.add_argument("--k", type=int, default=5, help="结果数 / how many stations")
    p.add_argument("--mode", choices=settings.ROUTING_MODES, default=settings.ROUTING_DEFAULT_MODE,
                   help="出行方式 / travel mode")
    p.add_argument("--by", choices=["time", "distance"], default="time", help="排序 / rank by")
    p.add_argument("--network", help=f"路网目录 / network folder (default {settings.network_dir()})")
    p.add_argument("--facility", action="append", help="必备设施，可重复 / required facility code (repeatable)")
    p.add_argument("--at", help="时间 / moment for opening hours, ISO 8601 (default now)")
    p.add_argument("--registry", help="登记库 / registry: GeoPackage or postgresql:// URL")
    p.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    p.set_defaults(func=nearest.run_nearest)

    p = sub.add_parser("serve", help="只运行公开 API 和找站页 /finder / serve the public API and the worker page alone "
                                     "(several processes)")
    p.add_argument("--host", default="127.0.0.1", help="监听地址 / address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8600, help="端口 / port (default 8600)")
    p.add_argument("--workers", type=int, default=1, help="进程数 / worker processes (default 1)")
    p.add_argument("--forwarded-allow-ips", default="",
                   help="可信反向代理地址 / addresses of trusted reverse proxies for X-Forwarded-For (default none)")
    p.set_defaults(func=serve.run_serve)

    # Planner coverage: the command is geo/cli/coverage.py, the engine geo/analysis/ (docs/coverage.md).
    p = sub.add_parser("coverage", help="覆盖分析 / where workers are beyond reach of a station")
    p.add_argument("--region", required=True, help="区划代码或名称 / adcode or name of the province, a city or a district")
    p.add_argument("--kind", choices=list(KINDS), action="append", help="图层，可重复 / layer (repeatable)")
    _add_standard_args(p)
    p.add_argument("--demand", help="需求点文件或人口栅格 / demand points (CSV, GeoJSON ...) or population GeoTIFF")
    p.add_argument("--demand-weight", help="需求点权重列 / weight column of the demand points")
    p.add_argument("--demand-crs", default="auto", help="需求点坐标系 / CRS of the demand points (default auto)")
    p.add_argument("--status", choices=list(STATUSES), action="append",
                   help="服务站点状态，可重复 / serving statuses (default open)")
    p.add_argument("--registry", help="登记库 / registry: GeoPackage or postgresql:// URL")
    p.add_argument("--not-serving", action="store_true",
                   help="按工人反馈排除不提供服务的站点 / leave out stations with unresolved closed or not-found "
                        "reports from several distinct clients (geo/registry/reports.py; off by default)")
    p.add_argument("--not-serving-clients", type=int, metavar="N",
                   help=f"反馈人数 / distinct clients (default {settings.REPORT_NOT_SERVING_CLIENTS})")
    p.add_argument("--not-serving-days", type=float, metavar="D",
                   help=f"天数 / within the last D days (default {settings.REPORT_NOT_SERVING_DAYS:g})")
    p.add_argument("--out", help="缺口 GeoJSON / write the gaps (GeoJSON, or CSV by extension)")
    p.add_argument("--cells-out", help="格网 GeoJSON/CSV / write the cells")
    p.add_argument("--districts-out", help="区县表 CSV/GeoJSON / write the district table")
    p.add_argument("--report", help="一页报告 HTML / write the printable one-page report")
    p.add_argument("--service-area", action="append", metavar="STATION_ID",
                   help="服务范围站点，可重复 / station whose service area to draw (repeatable)")
    p.add_argument("--service-areas-out", help="服务范围 GeoJSON / write the service areas")
    p.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    p.set_defaults(func=_cmd_coverage)

    # Site recommendations: the command is geo/cli/plan.py, the engine geo/analysis/siting/ (docs/siting.md).
    p = sub.add_parser("plan", help="选址建议 / where to build next: sites that close the largest gaps")
    p.add_argument("--region", required=True, help="区划代码或名称 / adcode or name of the province, a city or a district")
    p.add_argument("--new", type=int, required=True, help="新建站点数（LSCP 时为上限） / new sites (the most, with --target-share)")
    p.add_argument("--target-share", type=float, help="目标覆盖率，启用 LSCP / target covered share: fewest sites (LSCP)")
    p.add_argument("--model", choices=["mclp", "lscp", "pmedian"], help="模型 / model (default mclp; lscp with --target-share)")
    p.add_argument("--candidates", help="候选点文件 / candidate sites (CSV, XLSX, GeoJSON ...); default: generated from gaps")
    p.add_argument("--candidate-crs", default="auto", help="候选点坐标系 / CRS of the candidate file (default auto)")
    p.add_argument("--cost-column", help="成本列 / cost column of the candidate file")
    p.add_argument("--capacity-column", help="容量列 / capacity column of the candidate file")
    p.add_argument("--budget", type=float, help="总预算 / most total cost of the new sites")
    p.add_argument("--exclude", action="append", metavar="PATH", help="排除区，可重复 / exclusion polygons (repeatable)")
    p.add_argument("--kind", choices=list(KINDS), action="append", help="图层 / layer (repeatable; default rest_station)")
    _add_standard_args(p)
    p.add_argument("--demand", help="需求点文件或人口栅格 / demand points or population GeoTIFF")
    p.add_argument("--demand-weight", help="需求点权重列 / weight column of the demand points")
    p.add_argument("--status", choices=list(STATUSES), action="append",
                   help="现有站点状态，可重复 / serving statuses of existing stations (default open)")
    p.add_argument("--registry", help="登记库 / registry: GeoPackage or postgresql:// URL")
    m = p.add_mutually_exclusive_group()
    m.add_argument("--exact", action="store_true", help="精确求解（默认） / exact MILP with HiGHS (default)")
    m.add_argument("--greedy", action="store_true", help="贪心快速求解 / fast greedy")
    p.add_argument("--time-limit", type=float, help=f"精确求解时限（秒） / exact solver time limit "
                                                     f"(default {settings.SITING_TIME_LIMIT_S:g} s)")
    p.add_argument("--scenario", help="方案名称 / scenario name (planned stations' source plan:NAME)")
    p.add_argument("--save", action="store_true", help="保存方案到登记库 / save the scenario in the registry")
    p.add_argument("--out", help="规划站点 GeoJSON / write the proposal as planned stations (GeoJSON)")
    p.add_argument("--report", help="一页报告 HTML 或 PDF / write the printable one-page report (.html, or .pdf)")
    p.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    p.set_defaults(func=_cmd_plan)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad region code, unknown CRS ...: a message, not a traceback
        print(str(exc), file=sys.stderr)
        return 2
