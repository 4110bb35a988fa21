"""A printable one-page siting report: the standard, the budget, the numbered sites, before/after, the map.

Like the coverage report (:mod:`geo.web.report`), one self-contained HTML
file (A4, print-ready CSS, the map as inline SVG), so a union office can
print it or pass it on without the app; :func:`render_siting_pdf` prints
the same page to PDF with WeasyPrint when it is installed (it needs Pango).
Every string from data is HTML-escaped.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from geo import settings
from geo.analysis.siting.problem import SitingProblem
from geo.analysis.siting.result import SitingResult
from geo.web.report import (fmt_number, fmt_share, map_cells, method_notes, provenance_html, report_css,
                            share_colour, svg_map_start, svg_station_dots)
from geo.web.views.siting import covered_after

_E = html.escape
_NEW = "#4c9be8"  # newly covered by the proposed sites


def siting_map_svg(problem: SitingProblem, result: SitingResult, *, width: int = 700, height: int = 440,
                   max_cells: int = settings.REPORT_MAX_MAP_CELLS) -> str:
    """The report's map: covered before (teal), newly covered (blue), still uncovered (orange), numbered sites.

    A grid of more than ``max_cells`` cells is drawn at a coarser H3
    resolution, shaded by the covered share after the sites.

    Parameters
    ----------
    problem
        The problem the result answers (its baseline holds the grid).
    result
        The answer.
    width, height
        The SVG box.
    max_cells
        Most cells drawn.
    """
    base = problem.baseline
    after = covered_after(problem, result)
    if len(base.grid.cells) <= max_cells:
        geoms = base.grid.hexagons
        colours = np.where(problem.covered0, share_colour(1), np.where(after, _NEW, share_colour(0)))
    else:
        geoms, share = map_cells(base.grid, after, max_cells=max_cells)
        colours = np.array([share_colour(s) for s in share]) if len(share) else np.array([])
    out, proj = svg_map_start(base.region, base.districts["adcode"].astype(str).tolist(), geoms, colours,
                              label="siting map", width=width, height=height)
    out.append(svg_station_dots(base.stations, proj))
    for row in result.sites.itertuples():
        sx, sy = proj.xy(row.lon, row.lat)
        out.append(f'<g data-site="{int(row.rank)}"><circle cx="{float(sx):.1f}" cy="{float(sy):.1f}" r="6" '
                   f'fill="#7a1f0e" stroke="#fff" stroke-width="1"/><text x="{float(sx):.1f}" '
                   f'y="{float(sy) + 3:.1f}" font-size="8" font-weight="bold" fill="#fff" '
                   f'text-anchor="middle">{int(row.rank)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _question(result: SitingResult) -> str:
    model = {"mclp": "最大覆盖 / maximal covering (MCLP)", "lscp": "最少站点 / fewest sites (LSCP)",
             "pmedian": "最短平均出行 / p-median"}.get(result.model, result.model)
    parts = [f"模型 / model: {model}", f"新建站点 / new sites: {int(result.p)}"]
    if result.target_share is not None:
        parts.append(f"目标覆盖率 / target share: {fmt_share(result.target_share)}")
    parts.append(f"预算 / budget: {fmt_number(result.budget) if result.budget is not None else '不限 / none'}")
    if result.total_cost is not None:
        parts.append(f"总成本 / total cost: {fmt_number(result.total_cost)}")
    return " · ".join(parts)


def _solver(result: SitingResult) -> str:
    how = "精确求解 / exact (HiGHS)" if result.method == "exact" else "贪心 / greedy"
    gap = "–" if result.gap is None else f"{100 * float(result.gap):.4g}%"
    return f"{how} · 状态 / status: {result.status} · 最优性差距 / solver gap: {gap}"


def render_siting_report(problem: SitingProblem, result: SitingResult, *, registry: str | None = None,
                         title: str | None = None, max_rows: int = 30) -> str:
    """The one-page HTML report of a siting answer.

    Parameters
    ----------
    problem
        The problem the answer belongs to (built from a region).
    result
        The answer.
    registry
        The registry's version (:func:`geo.web.report.registry_version`).
    title
        Default ``选址建议 / Siting — <region>``.
    max_rows
        Most district rows (the least covered after, by demand, first).

    Returns
    -------
    str
        A complete HTML document.
    """
    base = problem.baseline
    if base is None:
        raise ValueError("a siting report needs a problem built from a region")
    title = title or f"选址建议 / Siting — {base.region.name} ({base.region.adcode})"
    unit = base.demand.unit
    parts = [
        "<!doctype html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{_E(title)}</title><style>{report_css()}</style></head><body>",
        f"<h1>{_E(title)}</h1>",
        f'<p class="std">服务标准 / standard: <b>{_E(str(result.standard.get("label", "")))}</b></p>',
        f'<p class="std" data-question="1">{_E(_question(result))}</p>',
        (f'<p class="std">出行计算 / travel: <span class="method" data-method="{_E(result.travel_method)}">'
         f'{_E(result.travel_label or result.travel_method)}</span> · 求解 / solver: '
         f'<span data-solver="1">{_E(_solver(result))}</span></p>'),
        provenance_html(sample=base.sample, registry=registry),
    ]
    if base.sample:
        parts.append(f'<p class="notice">{_E(settings.SAMPLE_LABEL)}：现有站点为示例数据，不代表真实情况 / '
                     "the existing stations are sample data, not real ones</p>")
    figs = [("覆盖率 / covered share", f"{fmt_share(result.before_share)} → {fmt_share(result.after_share)}"),
            (f"新增覆盖需求 / newly covered ({unit})", fmt_number(result.added_demand)),
            ("新建站点 / new sites", f"{len(result.sites):,}")]
    if result.change:
        figs.append(("未覆盖面积 / uncovered area (km²)",
                     f"{fmt_number(result.change['uncovered_area_km2_before'])} → "
                     f"{fmt_number(result.change['uncovered_area_km2_after'])}"))
    parts.append('<div class="figs">' + "".join(f'<div class="fig">{_E(k)}<b>{_E(v)}</b></div>'
                                              for k, v in figs) + "</div>")
    if result.change_text:
        parts.append(f'<p class="std" data-change="1">{_E(result.change_text)}</p>')
    parts.append(f'<div class="map">{siting_map_svg(problem, result)}</div>')
    parts.append(f'<p class="legend"><span style="background:{share_colour(1)}"></span>已覆盖 / covered before'
                 f'<span style="background:{_NEW}"></span>新覆盖 / newly covered'
                 f'<span style="background:{share_colour(0)}"></span>仍未覆盖 / still not covered'
                 '<span style="background:#7a1f0e;border-radius:50%"></span>新站点（编号） / new sites (numbered)</p>')

    rows = []
    for r in result.sites.itertuples():
        label = getattr(r, "label", None) or r.name
        rows.append(f'<tr data-site-row="{int(r.rank)}"><td class="t">{int(r.rank)}</td>'
                    f'<td class="t">{_E(str(label))}</td><td class="t">{_E(str(r.district or ""))}</td>'
                    f'<td class="t">{_E(str(getattr(r, "road", "") or "–"))}</td><td>{fmt_number(r.added_demand)}</td>'
                    f'<td>{r.lat:.5f}, {r.lon:.5f}</td><td class="t"><small>{_E(str(getattr(r, "h3", "") or ""))}'
                    "</small></td></tr>")
    parts.append("<h2>新站点 / proposed sites</h2>")
    parts.append("<table><tr><th class='t'>#</th><th class='t'>位置 / where</th><th class='t'>区县 / district</th>"
                 f"<th class='t'>最近道路 / nearest road</th><th>新增覆盖 / added ({_E(unit)})</th>"
                 "<th>纬度, 经度 / lat, lon</th><th class='t'>H3</th></tr>" + "".join(rows) + "</table>")

    districts = result.districts.copy()
    if len(districts) > max_rows:
        districts = districts.sort_values(["after_share", "adcode"], na_position="last").head(max_rows)
    drows = [f'<tr><td class="t">{_E(str(d.name))} <small>{_E(str(d.adcode))}</small></td>'
             f"<td>{fmt_share(d.before_share)}</td><td>{fmt_share(d.after_share)}</td><td>{fmt_number(d.added_demand)}</td>"
             f"<td>{int(d.new_sites)}</td></tr>" for d in districts.itertuples()]
    parts.append("<h2>分区县前后对比 / before and after, by district</h2>")
    parts.append("<table><tr><th class='t'>区县 / district</th><th>之前 / before</th><th>之后 / after</th>"
                 f"<th>新增覆盖 / added ({_E(unit)})</th><th>新站点 / new sites</th></tr>"
                 + "".join(drows) + "</table>")
    notes = [*method_notes(base.method_cells), *result.notes]
    parts.append('<div class="notes">' + "".join(f"<p>{_E(str(n))}</p>" for n in notes) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def pdf_available() -> bool:
    """Whether WeasyPrint (and the Pango it loads) can print the report to PDF here."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):  # not installed, or Pango missing
        return False
    return True


def render_siting_pdf(problem: SitingProblem, result: SitingResult, *, registry: str | None = None) -> bytes:
    """:func:`render_siting_report` printed to an A4 PDF by WeasyPrint (fonts from the system, e.g. WenQuanYi).

    Raises
    ------
    RuntimeError
        WeasyPrint or Pango is not installed (bilingual message).
    """
    if not pdf_available():
        raise RuntimeError("无法生成 PDF（未安装 WeasyPrint 或 Pango），请下载 HTML 后打印 / cannot make a PDF "
                           "(WeasyPrint or Pango missing): download the HTML and print it")
    import weasyprint

    return weasyprint.HTML(string=render_siting_report(problem, result, registry=registry)).write_pdf()


def write_siting_report(problem: SitingProblem, result: SitingResult, path: str | Path, *,
                        registry: str | None = None) -> Path:
    """Write the report to ``path``: PDF when it ends in ``.pdf``, else HTML (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".pdf":
        path.write_bytes(render_siting_pdf(problem, result, registry=registry))
    else:
        path.write_text(render_siting_report(problem, result, registry=registry), encoding="utf-8")
    return path

