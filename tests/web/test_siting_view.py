"""The siting page's support: uploads, map layers, the siting map, tables, texts and the scenario compare table.

The page itself is driven in a real browser in tests/test_browser.py; here
every piece it shows is checked on a real problem (Shenzhen from the bundled
sample registry, estimated, res 8: a fraction of a second to build).
"""
from __future__ import annotations

import io
import json
import time

import numpy as np
import pandas as pd
import pytest

from geo.web.views.coverage.layers import map_layers
from geo.analysis import scenarios as sc
from geo.analysis.siting.problem import build_problem
from geo.core.i18n import pick
from geo.analysis.siting.solve import greedy_preview, solve
from geo.web.views import siting as sv
from geo.web.views import siting_tables as svt
from geo.web.maps.base import VENDOR_DIR, map_html_bytes
from geo.web.maps.siting import NEW_COVER_COLOUR, siting_map

HOSTILE = "<img src=x onerror=alert(1)>"
# The map's own scripts, which every map page loads: what draws the data is there.
GD_SCRIPTS = (VENDOR_DIR.parent / "gd" / "gd-layers.js").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sample_stations(tmp_path_factory):
    from geo.registry.store import open_store

    path = tmp_path_factory.mktemp("siting-view") / "registry.gpkg"
    return open_store(path, seed_sample=True).load()


@pytest.fixture(scope="module")
def problem(sample_stations):
    return build_problem("440300", "rest_station", res=8, network=False, stations=sample_stations)


@pytest.fixture(scope="module")
def base(problem):
    return map_layers(problem.baseline)


@pytest.fixture(scope="module")
def preview(problem):
    return greedy_preview(problem, 5)


@pytest.fixture(scope="module")
def exact(problem):
    return solve(problem, 5, time_limit=30)


def _decode(text: str, precision: float) -> list:
    def ring(a):
        return (np.cumsum(np.asarray(a, dtype=np.int64).reshape(-1, 2), axis=0) * precision).tolist()
    return [[ring(r) for r in part] for part in json.loads(text)]


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


def test_reach_is_wider_for_pmedian_only():
    assert sv.reach_for("mclp") == sv.reach_for("lscp") == 1.0
    assert sv.reach_for("pmedian") > 1.0


def test_candidate_upload_counts_and_rejected_rows_keep_their_cells():
    csv = ("名称,经度,纬度,成本\n"
           "加油站一,114.05,22.55,3\n"
           "加油站二,not-a-number,22.56,2\n"
           "北京的点,116.40,39.90,1\n"
           "=HYPERLINK(\"x\"),114.10,22.60,1\n").encode("utf-8")
    up = sv.read_candidate_upload(csv, "候选.csv", "rest_station", "wgs84")
    assert (up.rows, up.accepted, up.rejected) == (4, 2, 2)
    assert up.candidates.frame["cost"].tolist() == [3.0, 1.0]
    assert list(up.rejects.columns[:3]) == ["row", "reason_code", "message"]
    assert up.rejects["row"].tolist() == [2, 3]
    # What the row said sits beside why it was rejected.
    assert up.rejects["名称"].tolist() == ["加油站二", "北京的点"] and up.rejects["经度"].tolist()[0] == "not-a-number"
    text = up.rejects_csv().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("row,reason_code,message,名称")
    assert "北京的点" in text
    # Accepted formula-like names stay as data; a download of them is escaped (checked in geo.registry.io.readers).
    assert '=HYPERLINK("x")' in up.candidates.frame["name"].tolist()


def test_candidate_upload_in_gcj02_is_converted():
    from geo.core.crs import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(114.05, 22.55)
    data = f"name,lng,lat\n油站,{lon:.7f},{lat:.7f}\n".encode()
    up = sv.read_candidate_upload(data, "c.csv", "rest_station", "gcj02")
    assert up.accepted == 1 and up.rejects.empty
    row = up.candidates.frame.iloc[0]
    assert abs(row["lon"] - 114.05) < 1e-5 and abs(row["lat"] - 22.55) < 1e-5


def test_exclusion_upload_unions_polygons_and_ignores_points():
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
            [[114.0, 22.5], [114.1, 22.5], [114.1, 22.6], [114.0, 22.6], [114.0, 22.5]]]}},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
            [[114.2, 22.5], [114.3, 22.5], [114.3, 22.6], [114.2, 22.6], [114.2, 22.5]]]}},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [114.5, 22.5]}}]}
    geom, n = sv.read_exclusion_upload(json.dumps(doc).encode(), "parks.geojson")
    assert n == 2 and geom.geom_type == "MultiPolygon"
    assert geom.area == pytest.approx(0.02)
    points = {"type": "FeatureCollection", "features": [doc["features"][2]]}
    assert sv.read_exclusion_upload(json.dumps(points).encode(), "p.geojson") == (None, 0)


# --------------------------------------------------------------------------
# Map layers and the map
# --------------------------------------------------------------------------


def test_covered_after_adds_exactly_the_sites_reach(problem, preview):
    after = sv.covered_after(problem, preview)
    assert (after >= problem.covered0).all()
    share = float(problem.demand[after].sum() / problem.demand.sum())
    assert share == pytest.approx(preview.after_share, abs=1e-9)
    chosen = sv.chosen_candidates(problem, preview)
    assert problem.candidates["id"].iloc[chosen].tolist() == preview.sites["candidate_id"].tolist()


def test_siting_layers_dissolve_new_cover_and_rank_gaps_like_the_table(problem, preview, base):
    ov = sv.siting_layers(problem, preview, base)
    new = sv.covered_after(problem, preview) & ~problem.covered0
    # Dissolved: one polygon per district, not one per cell.
    assert ov.new_cells == int(new.sum()) > 0
    assert len(ov.new_cover) == len(set(problem.district[new])) < ov.new_cells
    assert ov.new_cover["cells"].sum() == ov.new_cells
    assert ov.new_cover["demand"].sum() == pytest.approx(preview.added_demand)
    # Remaining gaps: the preview's own gap table, in its order.
    assert ov.gaps_total == len(preview.gaps)
    assert ov.gaps["gap"].tolist() == list(range(1, len(ov.gaps) + 1))
    assert ov.gaps["demand"].to_numpy() == pytest.approx(preview.gaps.head(len(ov.gaps))["demand"].to_numpy())
    assert ov.gain_points == pytest.approx(100 * (preview.after_share - preview.before_share))
    # The encoded outlines sit on the new cells.
    (ring, *_), *_ = _decode(ov.geometry_texts("new_cover")[0], ov.precision)
    lon, lat = np.asarray(ring).mean(axis=0)
    assert 113.7 < lon < 114.7 and 22.4 < lat < 22.9
    assert ov.payload_bytes() < 200_000
    assert ov.sites["rank"].tolist() == [1, 2, 3, 4, 5]
    # Sites are named where they are (district and nearest road, else position), not by their H3 cell.
    assert (ov.sites["name"] == [pick(label, "zh") for label in preview.sites["label"]]).all()
    assert not ov.sites["name"].str.contains("缺口格网").any()
    en = sv.siting_layers(problem, preview, base, lang="en").sites["name"]
    assert (en == [pick(label, "en") for label in preview.sites["label"]]).all()
    assert not en.str.contains("uncovered cell").any()


def test_siting_map_numbers_the_sites_escapes_and_stays_light(problem, base, sample_stations):
    frame = problem.candidates.head(4).copy()
    frame["name"] = [HOSTILE, "a & b", "<script>alert(3)</script>", "普通"]
    own = build_problem("440300", "rest_station", res=8, network=False, stations=sample_stations,
                        candidates=frame[["id", "name", "lon", "lat"]])
    result = greedy_preview(own, 4)
    ov = sv.siting_layers(own, result, map_layers(own.baseline))
    page = siting_map(map_layers(own.baseline), ov, lang="en",
                      asset_base=VENDOR_DIR.as_uri() + "/").get_root().render()
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert(3)" not in page and "a &amp; b" in page
    assert (page + GD_SCRIPTS).count("st-site-num") >= 1 and '"i":4' in page and '"i":1' in page
    assert "Proposed site 1" in page and "What the new sites change" in page
    assert NEW_COVER_COLOUR in page and "unpkg" not in page and "cdn.jsdelivr" not in page


def test_siting_map_payload_for_shenzhen(problem, preview, base):
    ov = sv.siting_layers(problem, preview, base)
    m = siting_map(base, ov, lang="zh")
    assert map_html_bytes(m) < 2_000_000
    page = m.get_root().render()
    assert "新站点带来的新覆盖" in page and "剩余缺口" in page and "估算 / estimate" in page


def test_preview_and_layers_are_fast_on_a_built_problem(problem, base):
    # What one slider move costs the page, without the browser: well under a second.
    for p in (3, 17, 40):
        t0 = time.perf_counter()
        r = greedy_preview(problem, p)
        sv.siting_layers(problem, r, base)
        siting_map(base, sv.siting_layers(problem, r, base)).get_root().render()
        assert time.perf_counter() - t0 < 1.5


# --------------------------------------------------------------------------
# Texts and tables
# --------------------------------------------------------------------------


def test_solver_text_says_guarantee_for_greedy_and_proven_optimal_for_exact(preview, exact):
    g = svt.solver_text(preview, "en")
    assert g.startswith("Greedy preview") and "(1−1/e)" in g and "optimum" in g
    assert "贪心预览" in svt.solver_text(preview, "zh") and "1−1/e" in svt.solver_text(preview, "zh")
    e = svt.solver_text(exact, "en")
    assert exact.status == "optimal" and "proven optimal (gap 0)" in e
    assert "已证明最优" in svt.method_label(exact, "zh")
    assert svt.method_short(exact, "en") == "Exact · proven optimal" and svt.method_short(preview, "zh") == "贪心预览"


def test_solver_text_at_a_time_limit_gives_the_gap(exact):
    from dataclasses import replace

    stopped = replace(exact, status="time_limit", gap=0.0123)
    text = svt.solver_text(stopped, "en")
    assert "time limit" in text and "1.2%" in text and "proven" not in text
    assert "0.04%" in svt.solver_text(replace(exact, status="time_limit", gap=0.0004), "en")


def test_headline_html_escapes_and_shows_before_after(preview):
    html_text = svt.headline_html(preview, "km²", "en")
    assert f"{100 * preview.before_share:.1f}% → {100 * preview.after_share:.1f}%" in html_text
    assert 'data-fig="method"' in html_text and "Greedy preview" in html_text
    assert svt.headline(preview)["sites"] == 5


def test_before_after_table_total_first_and_after_not_below_before(preview):
    table, specs = svt.before_after_table(preview, "km²", "zh")
    assert list(table.columns) == list(specs)
    assert table["name"].iloc[0] == "合计 · 深圳市"
    assert table["before_share"].iloc[0] == pytest.approx(100 * preview.before_share)
    assert table["after_share"].iloc[0] == pytest.approx(100 * preview.after_share)
    ok = table["before_share"].notna()
    assert (table.loc[ok, "after_share"] >= table.loc[ok, "before_share"] - 1e-9).all()
    assert table["new_sites"].iloc[0] == 5 == table["new_sites"].iloc[1:].sum()
    assert table["added_demand"].iloc[1:].sum() == pytest.approx(preview.added_demand)
    csv = svt.before_after_csv(preview, "en").decode("utf-8-sig")
    head, total = csv.splitlines()[:2]
    assert head.split(",")[:3] == ["scenario", "name", "adcode"] and "Total" in total
    parsed = pd.read_csv(io.StringIO(csv))
    assert parsed.columns[-1] == "travel_method" and set(parsed["travel_method"]) == {preview.travel_label}


def test_sites_and_gaps_tables(preview):
    sites, specs = svt.sites_table(preview, "km²", "en")
    assert sites["rank"].tolist() == [1, 2, 3, 4, 5] and "cost" not in specs and "travel_saved" not in specs
    # Sites read by where they are (issue 16), not by the engine's "uncovered cell <H3>" name; the H3 stays.
    assert not sites["label"].str.contains("uncovered cell").any()
    assert sites["label"].str.contains(r"\d+\.\d{4}, \d+\.\d{4}|near ").all()
    assert (sites["h3"] == preview.sites["candidate_id"].str[2:]).all() and specs["h3"]["label"] == "H3 cell"
    gaps, gspecs = svt.gaps_table(preview, "km²", "zh")
    assert len(gaps) == min(svt.TABLE_GAPS, len(preview.gaps)) and "demand" not in gspecs
    assert gaps["gap"].tolist()[:3] == [1, 2, 3]


def test_candidate_label_only_translates_engine_names():
    assert sv.candidate_label("缺口格网 88411c1509fffff / uncovered cell 88411c1509fffff", "en") == \
        "uncovered cell 88411c1509fffff"
    assert sv.candidate_label("候选点 3 / Candidate 3", "zh") == "候选点 3"
    assert sv.candidate_label("加油站 / Petrol", "en") == "加油站 / Petrol"


def test_compare_table_names_measures_and_formats_values(preview, exact, tmp_path):
    from geo.registry.store import create_registry

    registry = create_registry(tmp_path / "r.gpkg")
    sc.save_scenario(preview, "预览 5", registry=registry)
    sc.save_scenario(exact, "精确 5", registry=registry)
    raw = sc.compare_scenarios(["预览 5", "精确 5"], registry=registry)
    table = svt.compare_table(raw, "en")
    assert list(table.columns) == ["预览 5", "精确 5"]
    assert table.loc["Covered share after", "精确 5"] == f"{100 * exact.after_share:.1f}%"
    assert table.loc["Solver", "预览 5"] == "Greedy preview" and table.loc["Solver", "精确 5"] == "Exact (HiGHS)"
    assert table.loc["Optimality gap", "精确 5"] == "0.0%" and table.loc["Status", "精确 5"] == "optimal"
    assert table.loc["New sites", "预览 5"] == "5"
    assert "Covered after · 龙岗区" in table.index
    assert (table.map(lambda v: isinstance(v, str))).all().all()
    listing, specs = svt.scenario_table(sc.list_scenarios(registry=registry), "zh")
    assert set(listing["name"]) == {"预览 5", "精确 5"} and list(listing.columns) == list(specs)
    assert listing["after_share"].max() == pytest.approx(100 * max(preview.after_share, exact.after_share))


def test_file_names_are_safe():
    r = type("R", (), {"scenario": '天河 5站/../"x"'})()
    assert svt.proposal_name(r) == "天河_5站_x_proposal.geojson"
    assert svt.table_name(r).endswith("_before_after.csv")
    assert svt.file_stem(type("R", (), {"scenario": "///"})()) == "siting"


def test_lscp_target_text(problem):
    r = greedy_preview(problem, 50, model="lscp", target_share=0.9)
    assert r.target_met and "0.9" not in svt.target_text(r, "en") and "90.0%" in svt.target_text(r, "en")
    far = greedy_preview(problem, 1, model="lscp", target_share=1.0)
    assert not far.target_met and "cannot be reached" in svt.target_text(far, "en")
    assert svt.target_text(greedy_preview(problem, 2), "en") is None


def test_pmedian_figures_show_mean_travel(sample_stations):
    prob = build_problem("440307", "rest_station", res=8, network=False, stations=sample_stations,
                         reach=sv.reach_for("pmedian"))
    r = greedy_preview(prob, 3, model="pmedian")
    html_text = svt.headline_html(r, "km²", "en")
    assert 'data-fig="travel"' in html_text and "Mean trip" in html_text
    sites, specs = svt.sites_table(r, "km²", "en")
    assert "travel_saved" in specs
    assert isinstance(svt.compare_table(sc.compare_scenarios([r]), "zh"), pd.DataFrame)
