"""Issue 16: results say what they really used (share of cells by method), a straight-line
service radius is its own method, the "cells beyond 3 km of a road" figure is computed
once, and siting's before/after reads right when gaps split."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from geo import settings
from geo.analysis.coverage import coverage, method_mix_label, off_network_note, service_areas
from geo.analysis.export import write_layer
from geo.analysis.gaps import gap_change_text, gap_changes
from geo.analysis.siting.problem import build_problem
from geo.analysis.siting.solve import solve
from geo.core.crs import haversine_m
from geo.routing.synthetic import synthetic_graph
from geo.web.report import render_report
from conftest import run_cli

# Stations spread over Futian and Nanshan; a small synthetic city in Futian leaves most of
# Shenzhen far from its roads.
_BOX = (113.90, 22.50, 114.10, 22.60)


def _stations(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": [f"S{i:03d}" for i in range(n)], "name": [f"驿站{i}" for i in range(n)],
                         "kind": "rest_station", "status": "open",
                         "lon": rng.uniform(_BOX[0], _BOX[2], n), "lat": rng.uniform(_BOX[1], _BOX[3], n)})


@pytest.fixture(scope="module")
def mostly_estimated():
    g = synthetic_graph(900, "ebike", seed=3, center=(114.06, 22.54))
    return coverage("440304", minutes=10, res=9, network=g, stations=_stations(12))


def test_mostly_estimated_run_never_says_road_network_first(mostly_estimated, tmp_path):
    res = mostly_estimated
    mc = res.method_cells
    assert res.method == "network" and mc["network"] > 0 and mc["estimate"] > mc["network"]
    label = res.method_label
    zh, en = label.split(" / ")
    # The larger share comes first and both shares are printed.
    assert zh.startswith("估算") and "路网" in zh and en.startswith("estimate") and "road network" in en
    est_pct = round(100 * mc["estimate"] / len(res.cells))
    assert f"估算 {est_pct} %" in zh or est_pct in (0, 100)
    doc = res.to_dict()
    assert doc["label"] == label
    assert doc["method_share"]["estimate"] == pytest.approx(mc["estimate"] / len(res.cells), abs=1e-6)
    html = render_report(res, registry="审计记录 #7 / audit log entry #7")
    assert label.split(" / ")[0] in html and "路网 / road network" not in html
    assert "audit log entry #7" in html and "不含示例数据 / no sample data" in html
    # Every export carries it.
    write_layer(res, "gaps", tmp_path / "g.csv")
    write_layer(res, "cells", tmp_path / "c.geojson")
    write_layer(res, "districts", tmp_path / "d.csv")
    for name in ("g.csv", "d.csv"):
        assert set(pd.read_csv(tmp_path / name, encoding="utf-8-sig")["method_mix"]) == {label}
    gj = json.loads((tmp_path / "c.geojson").read_text(encoding="utf-8"))
    assert gj["method"]["label"] == label and gj["method"]["cells"]["estimate"] == mc["estimate"]


def test_method_label_rounding_never_hides_a_method():
    assert method_mix_label({"network": 1, "estimate": 999}) == "估算 >99 %，路网 <1 % / estimate >99 %, road network <1 %"
    assert method_mix_label({"network": 9, "estimate": 91, "unreachable": 0}).startswith("估算 91 %，路网 9 %")


def test_off_network_cells_counted_once_for_note_and_banner(mostly_estimated):
    from geo.web.views.coverage.tables import headline

    res = mostly_estimated
    ctx = res.travel.context
    beyond = int((~ctx.cell_snaps.ok).sum())
    assert res.off_network_cells == beyond > 0
    # Estimated cells also count those near a road whose nearest station is off it: not the same figure.
    assert off_network_note(beyond) in res.notes
    assert headline(res)["off_network_cells"] == beyond


def test_radius_is_the_straight_line_without_detour():
    st = _stations(15, seed=2)
    res = coverage("440304", mode="walk", meters=500, res=9, stations=st, method="radius")
    assert res.method == "radius" and res.standard.radius and "服务半径" in res.standard.describe()
    assert res.method_cells["radius"] == len(res.cells)
    lon, lat = res.cells["lon"].to_numpy(), res.cells["lat"].to_numpy()
    d = haversine_m(lon[:, None], lat[:, None], st["lon"].to_numpy()[None, :], st["lat"].to_numpy()[None, :])
    np.testing.assert_allclose(res.cells["travel"], d.min(axis=1), rtol=1e-9)
    est = coverage("440304", mode="walk", meters=500, res=9, stations=st, method="estimate")
    np.testing.assert_allclose(est.cells["travel"], d.min(axis=1) * settings.DETOUR_FACTOR, rtol=1e-9)
    assert res.covered_share_area > est.covered_share_area
    # A station's radius service area is the disc itself.
    area = service_areas(res, ["S000"])
    inside = d[:, 0] <= 500
    assert area["cells"].iat[0] == int(inside.sum())
    with pytest.raises(ValueError, match="metres"):
        coverage("440304", minutes=10, stations=st, method="radius")
    with pytest.raises(ValueError, match="network"):
        coverage("440304", minutes=10, stations=st, method="network", network=False)


def _cli(args, tmp_path):
    return run_cli(*args, env={"GEO_NETWORK_DIR": str(tmp_path / "no-network")})


def test_cli_meters_without_network_asks_which_method(tmp_path):
    from geo.registry.store import create_registry

    reg = create_registry(tmp_path / "r.gpkg")
    reg.add({"name": "测试驿站", "kind": "rest_station", "lon": 113.33, "lat": 23.13, "status": "open"})
    common = ["coverage", "--region", "440106", "--meters", "800", "--res", "8", "--registry",
              str(tmp_path / "r.gpkg")]
    p = _cli(common + ["--json"], tmp_path)
    assert p.returncode == 2 and "--method radius" in p.stderr and "--method estimate" in p.stderr
    p = _cli(common + ["--method", "radius", "--json", "--report", str(tmp_path / "r.html")], tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["method"] == "radius" and doc["standard"]["radius"] is True
    assert doc["label"] == "直线半径 100 % / straight-line radius 100 %"
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "直线半径 100 %" in html and "audit log entry #1" in html
    p = _cli(common + ["--method", "estimate"], tmp_path)
    assert p.returncode == 0 and "方法 / method: 估算 100 %" in p.stdout
    p = _cli(["plan", "--region", "440106", "--new", "1", "--meters", "800", "--res", "8", "--registry",
              str(tmp_path / "r.gpkg"), "--greedy"], tmp_path)
    assert p.returncode == 2 and "--method radius" in p.stderr


def test_gap_changes_counts_closed_split_shrunk():
    # Before: gap 1 = cells 0-4, gap 2 = cells 5-6, gap 3 = cell 7; cell 8 covered.
    before = np.array([1, 1, 1, 1, 1, 2, 2, 3, 0])
    # After: gap 1 split (cell 2 covered, 0-1 and 3-4 apart), gap 2 shrunk, gap 3 closed.
    after = np.array([4, 4, 0, 5, 5, 6, 0, 0, 0])
    area = np.ones(9)
    demand = np.arange(9, dtype=float)
    c = gap_changes(before, after, area=area, demand=demand)
    assert (c["gaps_before"], c["gaps_after"], c["gaps_closed"], c["gaps_split"], c["gaps_shrunk"],
            c["gaps_unchanged"]) == (3, 3, 1, 1, 1, 0)
    assert c["uncovered_area_km2_before"] == 8 and c["uncovered_area_km2_after"] == 5
    assert c["uncovered_demand_before"] == sum(range(8)) and c["uncovered_demand_after"] == 0 + 1 + 3 + 4 + 5
    text = gap_change_text(c, unit="人 people")
    assert "1 个完全消除" in text and "1 split" in text and "未覆盖需求 28 → 13" in text


def test_siting_reports_what_changed_not_a_bare_count():
    st = _stations(4, seed=5)
    prob = build_problem("440304", "rest_station", mode="walk", meters=800, res=9, network=False, stations=st)
    res = solve(prob, 6, method="greedy")
    c = res.change
    assert c["gaps_before"] == len(prob.baseline.gap_table)
    assert c["gaps_after"] == len(res.gaps)
    assert c["uncovered_area_km2_after"] < c["uncovered_area_km2_before"]
    uncovered = ~prob.covered0
    assert c["uncovered_area_km2_before"] == pytest.approx(prob.baseline.cells["area_km2"][uncovered].sum())
    assert c["gaps_closed"] + c["gaps_split"] + c["gaps_shrunk"] + c["gaps_unchanged"] == c["gaps_before"]
    assert res.to_dict()["change_text"] == res.change_text and "→" in res.change_text
    assert res.travel_label.startswith("估算 100 %")


def test_sites_are_labelled_by_nearest_named_road_and_keep_their_h3():
    from geo.analysis.siting.labels import nearest_road_names

    g = synthetic_graph(900, "ebike", seed=3, center=(114.06, 22.54))
    # A point on a named road gets that name; one 20 km away gets none.
    e = int(np.flatnonzero(g.edge_name > 0)[0])
    j = int(g.geom_ptr[e])
    lon, lat = g.geom_x[j] / 1e7, g.geom_y[j] / 1e7
    names = nearest_road_names(g, np.array([lon, lon + 0.2]), np.array([lat, lat]))
    assert names == [g.names[int(g.edge_name[e])], ""]
    st = pd.DataFrame({"id": ["a"], "name": ["x"], "kind": "rest_station", "status": "open", "lon": [114.0],
                       "lat": [22.52]})
    prob = build_problem("440304", "rest_station", minutes=5, res=9, network=g, stations=st)
    res = solve(prob, 3, method="greedy")
    sites = res.sites
    assert len(sites) == 3 and (sites["h3"] == [c[2:] for c in sites["candidate_id"]]).all()
    # Candidates inside the synthetic city, unnamed: each is named by its road.
    inside = pd.DataFrame({"lon": g.node_lon[:200:40], "lat": g.node_lat[:200:40]})
    prob = build_problem("440304", "rest_station", minutes=5, res=9, network=g, stations=st, candidates=inside)
    sites = solve(prob, 3, method="greedy").sites
    for label, road, district in zip(sites["label"], sites["road"], sites["district"]):
        assert district in label and "uncovered cell" not in label and "缺口格网" not in label
        assert (f"near {road}" in label) if road else ("," in label)
    assert all(sites["road"]), "every site inside the synthetic city is near one of its named roads"


def test_siting_report_html_and_pdf(tmp_path):
    from geo.web.siting_report import pdf_available, render_siting_report, write_siting_report

    st = _stations(3, seed=7)
    prob = build_problem("440304", "rest_station", mode="walk", meters=800, res=9, network=False, stations=st)
    res = solve(prob, 3, method="exact", time_limit=30)
    html = render_siting_report(prob, res, registry="审计记录 #3 / audit log entry #3")
    assert html.count('data-site-row="') == 3 and html.count('<g data-site="') == 3
    for row in res.sites.itertuples():
        assert row.label.split(" / ")[0] in html or row.label in html
    assert "solver gap: 0%" in html and "估算 100 %" in html and "audit log entry #3" in html
    assert "不含示例数据 / no sample data" in html and res.change_text.split(" / ")[0] in html
    assert "福田区" in html and "<script" not in html and "http" not in html.replace("http://www.w3.org", "")
    if not pdf_available():
        pytest.skip("WeasyPrint or Pango not installed")
    import re
    import zlib

    pdf = write_siting_report(prob, res, tmp_path / "r.pdf", registry="x").read_bytes()
    streams = [m.group(1) for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)]
    # Streams are Flate-compressed; a stream's bytes may end in the middle of a binary font.
    blob = pdf + b"".join(zlib.decompressobj().decompress(s) for s in streams if s[:1] == b"x")
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", blob)) == 1
    # The Chinese text is set in the CJK font the Makefile installs, not missing-glyph boxes.
    assert b"WenQuanYi" in blob
