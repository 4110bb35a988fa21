"""A printable one-page coverage report: map, standard, headline figures, districts.

The report is one self-contained HTML file (A4, print-ready CSS) with the
map drawn as inline SVG, so it opens and prints offline: no tiles, scripts,
fonts or images are fetched. Every string that comes from data (names,
ids, notes) is HTML-escaped.

The map shows the grid's cells, teal where covered and orange where not
(a grid larger than ``settings.REPORT_MAX_MAP_CELLS`` is drawn at a coarser
H3 resolution, each coarse cell shaded by its covered share of area), the
district outlines, the ten largest gaps outlined and numbered, and the
serving stations as dots.
"""
from __future__ import annotations

import hashlib
import html
import math
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import shapely

from geo import settings
from geo.analysis.coverage import CoverageResult
from geo.analysis.grid import Grid, cell_polygons
from geo.core.regions import load_boundaries

_COVERED = (42, 157, 143)     # teal
_UNCOVERED = (231, 111, 81)   # orange-red
_GAPS_ON_MAP = 10
_E = html.escape


def share_colour(share: float) -> str:
    """The map colour of a covered share: orange (0) to teal (1)."""
    s = min(max(float(share), 0.0), 1.0)
    r, g, b = (round(u + (c - u) * s) for u, c in zip(_UNCOVERED, _COVERED))
    return f"#{r:02x}{g:02x}{b:02x}"


class Projection:
    """Equirectangular, scaled by cos(latitude) at the centre, fitted and centred in the box.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` in degrees.
    width, height
        The SVG box in pixels.
    pad
        Margin in pixels.
    """

    def __init__(self, bounds: tuple[float, float, float, float], width: int, height: int, *, pad: int = 8):
        minx, miny, maxx, maxy = bounds
        self.minx, self.maxy = minx, maxy
        self.width, self.height = width, height
        self.k = math.cos(math.radians((miny + maxy) / 2))
        w = max((maxx - minx) * self.k, 1e-9)
        h = max(maxy - miny, 1e-9)
        self.scale = min((width - 2 * pad) / w, (height - 2 * pad) / h)
        self.ox = (width - w * self.scale) / 2
        self.oy = (height - h * self.scale) / 2

    def xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """SVG x, y of WGS-84 positions."""
        x = (np.asarray(lon, dtype=float) - self.minx) * self.k * self.scale + self.ox
        y = (self.maxy - np.asarray(lat, dtype=float)) * self.scale + self.oy
        return x, y

    @property
    def degree_per_px(self) -> float:
        """Degrees of latitude per pixel: a simplification tolerance."""
        return 1.0 / self.scale


def svg_path(geom, proj: "Projection") -> str:
    """SVG path data of a (multi)polygon's rings."""
    parts = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty:
            continue
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            x, y = proj.xy(xy[:, 0], xy[:, 1])
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y))
            parts.append(f"M{pts}Z")
    return "".join(parts)


def _map_cells(result: CoverageResult, max_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Polygons to draw and their covered share: the cells, or coarser parents when too many."""
    return map_cells(result.grid, result.cells["covered"].to_numpy(bool), max_cells=max_cells)


def map_cells(grid: Grid, covered: np.ndarray, *, max_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Polygons to draw and their covered share (by area): the grid's cells, or coarser parents when too many.

    Parameters
    ----------
    grid
        The run's grid.
    covered
        Per cell.
    max_cells
        Most polygons to return.
    """
    covered = np.asarray(covered, dtype=bool)
    if len(grid.cells) <= max_cells:
        return grid.hexagons, covered.astype(float)
    ids = grid.cells
    area = grid.area_km2
    # Each coarser resolution has ~7x fewer cells: start where the count should fit.
    start = grid.res - max(math.ceil(math.log(len(ids) / max_cells, 7)), 1)
    for res in range(max(start, 0), -1, -1):
        parents = np.fromiter((h3i.cell_to_parent(c, res) for c in ids.tolist()), dtype=np.int64, count=len(ids))
        uniq, inv = np.unique(parents, return_inverse=True)
        if len(uniq) <= max_cells or res == 0:
            share = np.bincount(inv, weights=area * covered) / np.bincount(inv, weights=area)
            return cell_polygons(uniq), share
    raise AssertionError("unreachable")  # pragma: no cover


def svg_map_start(region, district_codes: list[str], cells: np.ndarray, colours: np.ndarray, *, label: str,
                  width: int, height: int) -> tuple[list[str], Projection]:
    """The layers every report map starts with: background, cells shaded by colour, district outlines.

    Parameters
    ----------
    region
        The region drawn (its ``geometry`` sets the extent, its ``name`` the label).
    district_codes
        Adcodes of the districts outlined.
    cells, colours
        Cell polygons and each one's fill colour.
    label
        What the map shows, after the region's name, for screen readers.
    width, height
        The SVG box.

    Returns
    -------
    (list of str, Projection)
        The SVG so far (the caller adds its own layers, then ``</svg>``), and its projection.
    """
    proj = Projection(shapely.bounds(region.geometry), width, height)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="{_E(region.name)} {_E(label)}">'),
           f'<rect width="{width}" height="{height}" fill="#f7f7f2"/>']
    # One path per colour keeps the file small (a province is ~6,000 hexagons).
    for col in dict.fromkeys(colours.tolist()):
        d = "".join(svg_path(g, proj) for g in cells[colours == col])
        out.append(f'<path d="{d}" fill="{col}" stroke="none"/>')
    b = load_boundaries("district")
    outline = b[b["adcode"].isin(district_codes)].geometry.to_numpy()
    if len(outline):
        d = "".join(svg_path(shapely.simplify(g, proj.degree_per_px * 0.5), proj) for g in outline)
        out.append(f'<path d="{d}" fill="none" stroke="#555" stroke-width="0.6"/>')
    return out, proj


def svg_station_dots(stations: pd.DataFrame, proj: Projection) -> str:
    """The stations inside the map's box as small dots (an empty string when there are none)."""
    if not len(stations):
        return ""
    x, y = proj.xy(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float))
    inside = (x >= 0) & (x <= proj.width) & (y >= 0) & (y <= proj.height)
    dots = "".join(f'<circle cx="{a:.1f}" cy="{c:.1f}" r="1.6"/>' for a, c in zip(x[inside], y[inside]))
    return f'<g fill="#1d3557" stroke="#fff" stroke-width="0.3">{dots}</g>'


def map_svg(result: CoverageResult, width: int = 700, height: int = 500,
            max_cells: int = settings.REPORT_MAX_MAP_CELLS) -> str:
    """The report's map as an inline ``<svg>`` element (no external resources)."""
    geoms, share = _map_cells(result, max_cells)
    colours = np.array([share_colour(s) for s in share]) if len(share) else np.array([])
    out, proj = svg_map_start(result.region, result.districts["adcode"].astype(str).tolist(), geoms, colours,
                              label="coverage map", width=width, height=height)
    tol = proj.degree_per_px * 0.5
    # Largest gaps, outlined and numbered.
    gaps = result.gap_table.head(_GAPS_ON_MAP)
    for poly in result.gap_geometries(_GAPS_ON_MAP):
        if poly is None or poly.is_empty:
            continue
        out.append(f'<path d="{svg_path(shapely.simplify(poly, tol), proj)}" fill="none" '
                   f'stroke="#7a1f0e" stroke-width="1.4"/>')
    out.append(svg_station_dots(result.stations, proj))
    for row in gaps.itertuples():
        gx, gy = proj.xy(row.lon, row.lat)
        out.append(f'<text x="{float(gx):.1f}" y="{float(gy):.1f}" font-size="11" font-weight="bold" '
                   f'fill="#7a1f0e" stroke="#fff" stroke-width="2.5" paint-order="stroke" '
                   f'text-anchor="middle">{int(row.gap)}</text>')
    out.append("</svg>")
    return "".join(out)


def fmt_share(v) -> str:
    """A share as a percentage with one decimal, or "–" when there is none."""
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) or pd.isna(v) else f"{100 * v:.1f}%"


def fmt_number(v, digits: int = 1) -> str:
    """A number with thousands separators, or "–" when there is none."""
    if v is None or pd.isna(v) or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:,.{digits}f}"


#: The reports' print stylesheet, inlined into each file so it opens and prints offline.
REPORT_CSS_PATH = settings.ROOT / "static" / "gd" / "report.css"


def report_css() -> str:
    """The print stylesheet the reports inline (``static/gd/report.css``)."""
    return REPORT_CSS_PATH.read_text(encoding="utf-8")


def registry_version(store) -> str:
    """The registry's version as a report prints it, named for what it is.

    The latest audit-log entry (its number and time: every import, edit and
    restore adds one) when the store keeps a log, and the store's change
    stamp (shortened to a hash, since a GeoPackage's stamp is its file's
    identity, time and size), so two reports of the same registry state
    carry the same words.

    Parameters
    ----------
    store
        A :class:`~geo.registry.store.base.RegistryStore`.
    """
    parts_zh, parts_en = [], []
    try:
        log = store.audit_log(limit=1)
    except Exception:  # a store without a log (or an unreadable one) still has a stamp
        log = None
    if log is not None and len(log):
        row = log.iloc[0]
        parts_zh.append(f"审计记录 #{int(row['audit_id'])}（{row['at']}）")
        parts_en.append(f"audit log entry #{int(row['audit_id'])} ({row['at']})")
    elif log is not None:
        parts_zh.append("无审计记录")
        parts_en.append("no audit log entries")
    stamp = getattr(store, "change_stamp", None)
    if callable(stamp):
        short = hashlib.sha256(str(stamp()).encode("utf-8")).hexdigest()[:8]
        parts_zh.append(f"变更标记 {short}")
        parts_en.append(f"change stamp {short}")
    if not parts_zh:
        return "未知 / unknown"
    return "，".join(parts_zh) + " / " + ", ".join(parts_en)


def provenance_html(*, sample: bool, registry: str | None, when: datetime | None = None) -> str:
    """The reports' provenance line: date, registry version and whether sample data was in it.

    Parameters
    ----------
    sample
        Whether sample stations (示例数据) took part.
    registry
        :func:`registry_version` of the registry used, or None when the
        stations did not come from one (then the line says so).
    when
        Default now, in ``settings.TIMEZONE``.
    """
    when = when or datetime.now(ZoneInfo(settings.TIMEZONE))
    reg = registry if registry is not None else "未注明（站点非取自登记库） / not given (stations not read from a registry)"
    yes = "含示例数据 / includes sample data" if sample else "不含示例数据 / no sample data"
    return (f'<p class="prov" data-provenance="1">日期 / date: {_E(when.strftime("%Y-%m-%d %H:%M"))} · '
            f'登记库版本 / registry version: {_E(reg)} · <span data-sample="{int(bool(sample))}">{_E(yes)}</span></p>')


def method_notes(method_cells: dict) -> list[str]:
    """One note per travel method a run used, saying what it is."""
    notes = []
    if method_cells.get("network"):
        notes.append("路网：最短路径，离路段的距离按步行计 / road network: shortest paths; the stretches off the "
                     "roads are walked.")
    if method_cells.get("estimate"):
        notes.append(f"估算：直线距离 × {settings.DETOUR_FACTOR} 绕行系数 / estimate: great-circle distance × "
                     f"{settings.DETOUR_FACTOR} detour factor.")
    if method_cells.get("radius"):
        notes.append("直线服务半径：格网中心到站点的直线距离，不计道路 / straight-line service radius: the "
                     "great-circle distance from the cell centre to the station, roads not considered.")
    if method_cells.get("unreachable"):
        notes.append("不可达：离路网过远或没有站点 / unreachable: too far from the roads, or no station.")
    return notes


def render_report(result: CoverageResult, *, title: str | None = None, max_rows: int = 30,
                  max_cells: int = settings.REPORT_MAX_MAP_CELLS, registry: str | None = None) -> str:
    """The one-page HTML report of a coverage result.

    Parameters
    ----------
    result : CoverageResult
    title : str, optional
        Default ``覆盖分析 / Coverage — <region>``.
    max_rows : int
        District rows printed; a larger region lists its least covered
        districts (by demand) and says how many more the CSV holds.
    max_cells : int
        Most cells drawn on the map (see :func:`map_svg`).
    registry : str, optional
        The registry's version (:func:`registry_version`), printed with the
        date and whether sample data took part.

    Returns
    -------
    str
        A complete HTML document.
    """
    std = result.standard
    unit = "分钟 / min" if std.unit == "min" else "米 / m"
    label = result.method_label
    title = title or f"覆盖分析 / Coverage — {result.region.name} ({result.region.adcode})"
    districts = result.districts
    truncated = len(districts) > max_rows
    if truncated:
        districts = districts.sort_values(["covered_share_demand", "adcode"], na_position="last").head(max_rows)
    has_pop = districts["population"].notna().any()

    figs = [("方法 / method", label),
            ("面积覆盖率 / covered by area", fmt_share(result.covered_share_area)),
            (f"需求覆盖率 / covered by demand ({result.demand.kind})", fmt_share(result.covered_share_demand)),
            ("区内站点 / stations in region", f"{int(result.districts['stations'].sum()):,}"),
            ("格网 / cells", f"{len(result.cells):,} · H3 r{result.resolution}"),
            ("缺口 / gaps", f"{len(result.gap_table):,}")]
    parts = [
        "<!doctype html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{_E(title)}</title><style>{report_css()}</style></head><body>",
        f"<h1>{_E(title)}</h1>",
        (f'<p class="std">服务标准 / standard: <b>{_E(std.describe())}</b> · 方法 / method: '
         f'<span class="method" data-method="{_E(result.method)}">{_E(label)}</span></p>'),
        provenance_html(sample=result.sample, registry=registry),
    ]
    if result.sample:
        parts.append(f'<p class="notice">{_E(settings.SAMPLE_LABEL)}：站点为示例数据，不代表真实情况 / '
                     f"the stations are sample data, not real ones</p>")
    parts.append('<div class="figs">' + "".join(f'<div class="fig">{_E(k)}<b>{_E(v)}</b></div>'
                                              for k, v in figs) + "</div>")
    parts.append(f'<div class="map">{map_svg(result, max_cells=max_cells)}</div>')
    parts.append(f'<p class="legend"><span style="background:{share_colour(1)}"></span>已覆盖 / covered'
                 f'<span style="background:{share_colour(0)}"></span>未覆盖 / not covered'
                 '<span style="background:#1d3557;border-radius:50%"></span>站点 / station'
                 '<span style="border:1.5px solid #7a1f0e"></span>最大缺口（编号） / largest gaps (numbered)</p>')

    head = ["区县 / district", "站点 / stations"]
    if has_pop:
        head += ["人口 / people", "每10万人 / per 100k"]
    head += ["面积覆盖 / area", "需求覆盖 / demand", f"平均 / mean ({unit})", f"P95 ({unit})",
             "最大缺口 / largest gap (km²)"]
    rows = []
    for r in districts.itertuples():
        cells = [f'<td class="t">{_E(str(r.name))} <small>{_E(str(r.adcode))}</small></td>',
                 f"<td>{int(r.stations)}</td>"]
        if has_pop:
            cells += [f"<td>{fmt_number(r.population, 0)}</td>", f"<td>{fmt_number(r.stations_per_100k, 2)}</td>"]
        gap = f"#{int(r.largest_gap)} · {fmt_number(r.largest_gap_km2)}" if r.largest_gap else "–"
        cells += [f"<td>{fmt_share(r.covered_share_area)}</td>", f"<td>{fmt_share(r.covered_share_demand)}</td>",
                  f"<td>{fmt_number(r.travel_mean)}</td>", f"<td>{fmt_number(r.travel_p95)}</td>", f"<td>{_E(gap)}</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("<h2>分区县 / by district</h2>")
    if truncated:
        parts.append(f'<p class="notes">共 {len(result.districts)} 个区县，此处列出需求覆盖率最低的 {max_rows} 个；'
                     f"全表见 CSV 导出 / {len(result.districts)} districts; the {max_rows} least covered are "
                     f"listed, the CSV export has them all</p>")
    parts.append('<table><tr>' + "".join(f'<th class="{"t" if i == 0 else ""}">{_E(h)}</th>'
                                         for i, h in enumerate(head)) + "</tr>" + "".join(rows) + "</table>")

    gap_rows = []
    names = dict(zip(result.districts["adcode"].astype(str), result.districts["name"].astype(str)))
    for g in result.gap_table.head(_GAPS_ON_MAP).itertuples():
        where = f"{names.get(str(g.district), '')} {g.district}".strip()
        gap_rows.append(
            f"<tr><td class='t'>#{int(g.gap)}</td><td class='t'>{_E(where)}</td>"
            f"<td>{fmt_number(g.area_km2)}</td><td>{fmt_number(g.demand)}</td><td>{g.lat:.4f}, {g.lon:.4f}</td>"
            f"<td>{fmt_number(g.station_distance_m / 1000 if math.isfinite(g.station_distance_m) else None, 2)}</td></tr>")
    if gap_rows:
        parts.append("<h2>最大缺口 / largest gaps (by demand)</h2>")
        parts.append("<table><tr><th class='t'>#</th><th class='t'>区县 / district</th><th>km²</th>"
                     f"<th>需求 / demand ({_E(result.demand.unit)})</th><th>中心 / centre (lat, lon)</th>"
                     "<th>距最近站点 / to nearest station (km)</th></tr>" + "".join(gap_rows) + "</table>")
    notes = [
        ("覆盖：格网中心到最近的开放站点在标准之内 / covered: the cell centre is within the standard of the "
         "nearest open station."),
        *method_notes(result.method_cells),
        *result.notes,
    ]
    parts.append('<div class="notes">' + "".join(f"<p>{_E(str(n))}</p>" for n in notes) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: CoverageResult, path: str | Path, **kwargs) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, **kwargs), encoding="utf-8")
    return path
