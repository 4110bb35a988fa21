"""Real-browser tests of the planners' pages of the Streamlit app (coverage and siting), offline.

The app, its registry and the browser: ``browser_app.py`` (this file's own
server, so these run beside ``test_browser.py``). Screenshots go to
``test-artifacts/``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

# The fixtures are imported so that this module gets its own app server and browser.
from browser_app import (ROADS_PBF, app_url, assert_map_controls, assert_tap_targets, entered,  # noqa: F401
                         full_screenshot, open_page, registry)
from browser_kit import (ARTIFACTS, DESKTOP, PHONE, SITING_PAGE, browser, assert_no_exception, goto,  # noqa: F401
                         login, map_frame, needs_chromium, wait_idle)

pytestmark = needs_chromium


# --------------------------------------------------------------------------
# Coverage page (planners)
# --------------------------------------------------------------------------

def _screenshots(page, stem: str) -> None:
    """The view and the whole page, for a person to look at (``test-artifacts/STEM.png``, ``STEM_full.png``)."""
    page.wait_for_timeout(800)
    page.screenshot(path=ARTIFACTS / f"{stem}.png")
    full_screenshot(page, ARTIFACTS / f"{stem}_full.png")


COVERAGE_PAGE = "coverage"


@pytest.fixture(scope="module")
def coverage_url(entered) -> str:
    """The coverage page's address; ``entered`` has run the entry script once (see its docstring)."""
    return entered + "/" + COVERAGE_PAGE


def _figures(page) -> dict[str, str]:
    """The headline figures as label -> value."""
    page.locator(".cv-figs").first.wait_for(timeout=60_000)
    return {fig.locator(".cv-fig-label").inner_text().strip(): fig.locator(".cv-fig-value").inner_text().strip()
            for fig in page.locator(".cv-figs .cv-fig").all()}


def _wait_bands(page):
    frame = map_frame(page)
    frame.locator("path.cv-band").first.wait_for(timeout=60_000)
    return frame


def _pick(page, index: int, option: str) -> None:
    """Choose ``option`` in the ``index``-th selectbox of the sidebar and wait for the rerun."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').nth(index).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page, timeout=120_000)


@pytest.mark.parametrize("viewport, name", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_coverage_page_loads(open_page, coverage_url, viewport, name):
    phone = viewport is PHONE
    p = open_page(viewport, is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1)
    goto(p.page, coverage_url + ("?lang=en" if phone else ""))
    assert_no_exception(p.page)
    title = "Service coverage" if phone else "服务覆盖分析"
    assert p.page.locator("h1").first.inner_text().strip() == title
    frame = _wait_bands(p.page)
    wait_idle(p.page)
    # The first view is Shenzhen: figures, the standard in use, the travel-band map with its legend.
    figures = _figures(p.page)
    share = figures["Covered by area" if phone else "面积覆盖率"]
    assert share.endswith("%") and 0 <= float(share[:-1]) <= 100
    assert ("Standard: rest station within 15 min by e-bike" if phone else "服务标准：户外劳动者驿站：电动自行车 15 分钟内") \
        in p.page.locator('[data-testid="stMain"]').inner_text()
    assert frame.locator("path.leaflet-interactive").count() > 0
    assert frame.locator(".gd-legend").count() == 1
    assert "估算 / estimate" in frame.locator(".gd-legend").text_content()  # Shenzhen is only partly on the network
    assert_map_controls(frame)
    if phone:  # the legend starts folded, and nothing sticks out sideways
        assert frame.locator(".gd-legend details[open]").count() == 0
        assert p.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _screenshots(p.page, f"coverage_{name}")
    assert not p.errors, p.errors
    assert all("tile" in url or "basemaps" in url for url in p.blocked), p.blocked


def test_coverage_page_picks_a_district(open_page, coverage_url):
    p = open_page()
    goto(p.page, coverage_url)
    _wait_bands(p.page)
    _pick(p.page, 0, "深圳市")
    _pick(p.page, 1, "福田区")
    assert_no_exception(p.page)
    main = p.page.locator('[data-testid="stMain"]')
    main.get_by_text("福田区 · 服务标准").wait_for(timeout=60_000)
    figures = _figures(p.page)
    assert figures["格网"].endswith("H3 8 级")
    assert figures["面积覆盖率"].endswith("%")
    estimated, cells = (int(x.replace(",", "")) for x in figures["估算的格网"].split(" / "))
    # The method is the share of cells by method, the larger first (issue 16).
    est_pct, net_pct = round(100 * estimated / cells), round(100 * (cells - estimated) / cells)
    if ROADS_PBF.exists():  # Futian is mostly on the Shenzhen extract; a few cells lie beyond it
        assert 0 < estimated < cells and 0 < est_pct < net_pct < 100
        assert figures["计算方法"] == f"路网 {net_pct} %，估算 {est_pct} %"
    else:
        assert figures["计算方法"] == "估算 100 %" and estimated == cells
    frame = _wait_bands(p.page)
    assert frame.locator("path.leaflet-interactive").count() > 0
    # The district table: one sortable row for 福田区 (the grid's accessible table holds the text).
    table = p.page.locator('.st-key-cv_district_table, [data-testid="stDataFrame"]').first
    table.locator("td", has_text="福田区").first.wait_for(state="attached", timeout=30_000)
    # The printable report downloads, and names the district.
    button = p.page.get_by_role("button", name="打印报告（HTML）")
    assert button.count() == 1
    with p.page.expect_download(timeout=60_000) as info:
        button.click()
    assert info.value.suggested_filename == "coverage_440304_rest_station_r8_report.html"
    # The report says what the page says, and what it was made from.
    report = Path(info.value.path()).read_text(encoding="utf-8")
    assert figures["计算方法"] in report and "登记库版本 / registry version: 审计记录 #" in report
    assert "含示例数据 / includes sample data" in report
    report = Path(info.value.path()).read_text(encoding="utf-8")
    assert "福田区" in report and "<svg" in report
    for label in ("缺口 GeoJSON", "格网 CSV", "格网 GeoJSON", "区县表 CSV"):
        assert p.page.get_by_role("button", name=label).count() == 1
    _screenshots(p.page, "coverage_futian")
    assert not p.errors, p.errors


# --------------------------------------------------------------------------
# Siting page (planners: where to build next)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def siting_url(entered) -> str:
    """The siting page's address; ``entered`` has run the entry script once (see its docstring)."""
    return entered + "/" + SITING_PAGE


def _site_numbers(page) -> list[str]:
    """The numbers on the proposed-site markers of the siting map, in drawing order."""
    frame = map_frame(page)
    frame.locator(".st-site").first.wait_for(timeout=60_000)
    return [n.inner_text().strip() for n in frame.locator(".st-site .st-site-num").all()]


def _siting_figures(page) -> dict[str, str]:
    """The siting headline figures as data-fig key -> value."""
    page.locator(".si-figs").first.wait_for(timeout=60_000)
    return {fig.get_attribute("data-fig"): fig.locator(".cv-fig-value").inner_text().strip()
            for fig in page.locator(".si-figs .cv-fig").all()}


def _shares(text: str) -> tuple[float, float]:
    before, after = (float(x.strip().rstrip("%")) for x in text.split("→"))
    return before, after


def _set_sites(page, n: int) -> float:
    """Move the sites slider to ``n`` with the keyboard; returns seconds until the map shows ``n`` markers."""
    thumb = page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]').first
    now = int(thumb.input_value())
    thumb.focus()
    started = time.monotonic()
    for _ in range(abs(n - now)):
        thumb.press("ArrowRight" if n > now else "ArrowLeft")
    page.wait_for_function("""(n) => {
        const f = document.querySelector('iframe[src*="st_folium"]');
        const d = f && f.contentDocument;
        return d && d.querySelectorAll('.st-site').length === n;
    }""", arg=n, timeout=60_000)
    elapsed = time.monotonic() - started
    wait_idle(page)
    return elapsed


def _table_row(page, key: str, first_cell: str) -> list[str]:
    """The cells of the row of a st.dataframe (by widget key) whose text holds ``first_cell``."""
    table = page.locator(f".st-key-{key}")
    row = table.locator("tr", has=page.locator("td", has_text=first_cell)).first
    row.wait_for(state="attached", timeout=30_000)
    return [c.text_content().strip() for c in row.locator("td").all()]


@pytest.mark.parametrize("viewport, name", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_siting_page_loads(open_page, siting_url, viewport, name):
    phone = viewport is PHONE
    p = open_page(viewport, is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1)
    goto(p.page, siting_url + ("?lang=en" if phone else ""))
    assert_no_exception(p.page)
    assert p.page.locator("h1").first.inner_text().strip() == ("Where to build next" if phone else "新站点选址")
    # Shenzhen, 5 new sites by default: numbered markers, the figures, the solver named.
    assert _site_numbers(p.page) == ["1", "2", "3", "4", "5"]
    wait_idle(p.page)
    assert_no_exception(p.page)
    figures = _siting_figures(p.page)
    before, after = _shares(figures["share"])
    assert 0 <= before <= after <= 100
    assert figures["method"] == ("Greedy preview" if phone else "贪心预览")
    main = p.page.locator('[data-testid="stMain"]').inner_text()
    assert "(1−1/e)" in main
    frame = map_frame(p.page)
    assert frame.locator("path.st-new").count() > 0  # the newly covered cells
    assert frame.locator("path.cv-band").count() > 0  # over the existing coverage
    assert frame.locator(".gd-legend").count() == 1
    assert_map_controls(frame)
    if phone:  # the legend starts folded, the button is a tap target, nothing sticks out sideways
        assert frame.locator(".gd-legend details[open]").count() == 0
        assert_tap_targets(p.page, ".st-key-si_exact_box button, .st-key-si_downloads button")
        assert p.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _screenshots(p.page, f"siting_{name}")
    assert not p.errors, p.errors
    assert all("tile" in url or "basemaps" in url for url in p.blocked), p.blocked


def test_siting_budget_slider_previews_and_tables(open_page, siting_url):
    p = open_page()
    goto(p.page, siting_url)
    _site_numbers(p.page)
    wait_idle(p.page)
    seconds = _set_sites(p.page, 8)
    print(f"siting preview: slider 5 -> 8 redrawn in {seconds:.2f} s")
    (ARTIFACTS / "siting_preview_latency.txt").write_text(f"slider 5 -> 8: {seconds:.2f} s\n", encoding="utf-8")
    assert seconds < 10
    assert _site_numbers(p.page) == [str(i) for i in range(1, 9)]
    assert_no_exception(p.page)
    figures = _siting_figures(p.page)
    assert figures["sites"] == "8"
    # The before/after table: the total first, after >= before, and every district after >= before.
    total = _table_row(p.page, "si_before_after", "合计 · 深圳市")
    before, after = (float(x.rstrip("%")) for x in total[1:3])
    assert 0 <= before <= after <= 100
    assert (before, after) == pytest.approx(_shares(figures["share"]), abs=0.051)
    for district in ("福田区", "龙岗区", "宝安区"):
        cells = _table_row(p.page, "si_before_after", district)
        assert float(cells[2].rstrip("%")) >= float(cells[1].rstrip("%"))
    # The proposal downloads as planned stations the registry imports.
    with p.page.expect_download(timeout=60_000) as info:
        p.page.get_by_role("button", name="规划站点 GeoJSON").click()
    doc = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert [f["properties"]["status"] for f in doc["features"]] == ["planned"] * 8
    assert info.value.suggested_filename == "440300-rest_station-mclp-p8_proposal.geojson"
    with p.page.expect_download(timeout=60_000) as info:
        p.page.get_by_role("button", name="前后对比表 CSV").click()
    assert Path(info.value.path()).read_text(encoding="utf-8-sig").splitlines()[0].startswith("scenario,name")
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / "siting_p8_desktop.png")
    assert not p.errors, p.errors


def test_siting_exact_solve_shows_the_method(open_page, siting_url):
    p = open_page()
    goto(p.page, siting_url + "?lang=en")
    _site_numbers(p.page)
    wait_idle(p.page)
    p.page.get_by_role("button", name="精确求解 / Solve exactly").click()
    p.page.get_by_text("Solved exactly (").first.wait_for(timeout=120_000)
    wait_idle(p.page)
    assert_no_exception(p.page)
    figures = _siting_figures(p.page)
    assert figures["method"] == "Exact · proven optimal"
    assert "Exact (HiGHS) · proven optimal (gap 0)" in p.page.locator('[data-testid="stMain"]').inner_text()
    assert len(_site_numbers(p.page)) == 5
    p.page.wait_for_timeout(800)
    p.page.screenshot(path=ARTIFACTS / "siting_exact_desktop.png")
    assert not p.errors, p.errors


def test_siting_scenarios_save_and_compare(open_page, siting_url):
    p = open_page()
    goto(p.page, siting_url)
    _site_numbers(p.page)
    wait_idle(p.page)
    login(p.page, "zh")  # saving scenarios needs an editor login
    form = p.page.locator('[data-testid="stForm"]')
    for n, name in ((5, "深圳 5 站 <b>"), (9, "深圳 9 站")):
        if n != 5:
            _set_sites(p.page, n)
        box = form.get_by_label("方案名称")
        box.fill(name)
        box.press("Tab")
        form.get_by_role("button", name="保存方案").click()
        p.page.get_by_text(f"已保存方案“{name}”。").wait_for(timeout=30_000)
        wait_idle(p.page)
    assert_no_exception(p.page)
    # The two newest are compared side by side.
    table = p.page.locator(".st-key-si_compare_table")
    table.wait_for(timeout=30_000)
    table.locator("th", has_text="深圳 9 站").first.wait_for(state="attached", timeout=30_000)
    text = table.text_content()
    assert "深圳 5 站 <b>" in text and "深圳 9 站" in text
    row = _table_row(p.page, "si_compare_table", "新站点")
    assert row[-2:] in (["9", "5"], ["5", "9"])
    assert p.page.locator('[data-testid="stMain"] b', has_text="深圳").count() == 0  # names stay text
    p.page.wait_for_timeout(800)
    full_screenshot(p.page, ARTIFACTS / "siting_scenarios_full.png")
    assert not p.errors, p.errors
