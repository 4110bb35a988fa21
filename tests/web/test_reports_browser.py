"""Station reports end to end in a real browser: a worker reports on the worker page, an editor confirms.

One server for the module (``streamlit run serve.py``: the worker page
``/finder``, the API and the Data page in one process, as ``make run``
serves them) with a registry of three stations in Tianhe and no road
network (the finder gives labelled estimates), and one Chromium. A worker
at 390 px files a "no drinking water" report (with a hostile text) on one
card and a "closed" report on another; the editor sees both in the Data
page's queue, confirms the "closed" one by setting the station closed (the
normal audited edit) and confirms the other without a change; the
finder then no longer lists the closed station, and the other card shows
the editor's decision instead of an open report.

Screenshots go to ``test-artifacts/``.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser_kit import (ARTIFACTS, EDITOR_USER, PHONE, app_server, browser, login,  # noqa: F401
                         needs_chromium, wait_idle)

DESKTOP = {"width": 1366, "height": 900}
HOSTILE = '<img src=x onerror=alert(1)> **粗体** [链接](javascript:alert(2))'
ORIGIN = (113.3245, 23.1375)
STATIONS = [("体育中心驿站", 113.3250, 23.1380), ("天河路驿站", 113.3300, 23.1350), ("石牌驿站", 113.3400, 23.1300)]
FINDER = f"/finder?lon={ORIGIN[0]}&lat={ORIGIN[1]}&open=0"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from geo.registry.store import create_registry

    tmp = tmp_path_factory.mktemp("reports_browser")
    store = create_registry(tmp / "registry.gpkg")
    ids = {n: store.add({"kind": "rest_station", "name": n, "lon": x, "lat": y, "opening_hours": "24/7",
                         "facilities": ["drinking_water", "toilet"]})["id"] for n, x, y in STATIONS}
    with app_server(tmp / "server", tmp / "registry.gpkg") as url:
        yield url, store, ids


def _card(page, sid: str):
    return page.locator(f'#cards > li[data-station-id="{sid}"]')


def _select(page, label: str, option: str) -> None:
    box = page.locator('[data-testid="stSelectbox"]', has_text=label)
    box.scroll_into_view_if_needed()
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):  # a rerun landing with the click closes the list again
        box.click()
        try:
            choice.wait_for(timeout=10_000)
            break
        except Exception:
            wait_idle(page)
    choice.click()
    expect(box.locator("input")).to_have_value(option, timeout=30_000)
    wait_idle(page)


def test_worker_reports_editor_confirms_card_follows(app, browser):
    url, store, ids = app
    water, closed = ids["体育中心驿站"], ids["天河路驿站"]
    worker = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = worker.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))

    # -- the worker, at 390 px: two reports, one with a hostile text -----------------------------
    page.goto(url + FINDER)
    card = _card(page, water)
    card.locator(".gd-report-toggle").wait_for()
    assert card.locator(".gd-report-toggle").inner_text().startswith("反馈")  # Chinese by default
    card.locator(".gd-report-toggle").click()
    card.locator(".gd-report-text").fill(HOSTILE)
    tap = card.locator('.gd-report-type[data-report-type="no_water"]')
    assert tap.bounding_box()["height"] >= 44 and card.bounding_box()["width"] <= PHONE["width"]
    page.screenshot(path=ARTIFACTS / "reports_worker_panel_phone.png", full_page=True)
    tap.click()
    card.locator(".gd-report-status.gd-report-ok").wait_for()
    line = card.locator('.gd-report-line[data-report-type="no_water"]')
    line.wait_for()
    assert line.inner_text().startswith("1 人反馈今天没有饮用水（最近 ")
    assert "尚未经编辑核实" in card.locator(".gd-report-unchecked").inner_text()
    other = _card(page, closed)
    other.locator(".gd-report-toggle").click()
    other.locator('.gd-report-type[data-report-type="closed"]').click()
    other.locator('.gd-report-line[data-report-type="closed"]').wait_for()
    page.screenshot(path=ARTIFACTS / "reports_worker_phone.png", full_page=True)
    assert page.locator("#cards img").count() == 0 and not problems, problems
    assert store.reports()["text"].tolist() == [HOSTILE, ""]

    # -- the editor: the queue on the Data page, confirm both ------------------------------------
    editor = browser.new_context(viewport=DESKTOP)
    desk = editor.new_page()
    desk.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
    desk.goto(url + "/data?lang=en")
    wait_idle(desk)
    login(desk)
    desk.get_by_role("tab", name="Edit a station", exact=True).click()  # the queue is on the editor's tab
    queue = desk.locator('[data-testid="stExpander"]', has_text="Workers' reports (2 station(s) waiting)")
    queue.wait_for(timeout=30_000)
    # The hostile text is shown in the queue as written, inside a table (canvas), never as markup.
    assert desk.locator("img[src='x']").count() == 0
    # The latest reported first: the "closed" station. Set it closed, and confirm.
    _select(desk, "Set the station's status to", "Closed")
    desk.get_by_role("button", name="Apply", exact=True).click()
    desk.locator('[data-testid="stExpander"]', has_text="Workers' reports (1 station(s) waiting)").wait_for(
        timeout=30_000)
    wait_idle(desk)
    desk.screenshot(path=ARTIFACTS / "reports_editor_queue.png", full_page=True)
    desk.get_by_role("button", name="Apply", exact=True).click()  # the other: confirm, status kept
    desk.locator('[data-testid="stExpander"]', has_text="Workers' reports (0 station(s) waiting)").wait_for(
        timeout=30_000)
    assert store.get(closed)["status"] == "closed"
    assert store.get(water)["status"] == "open"
    entry = store.history(closed).iloc[0]
    assert entry["action"] == "confirm_reports" and entry["editor"] == EDITOR_USER and entry["changed"] == ["status"]
    assert set(store.reports()["status"]) == {"confirmed"}

    # -- the worker again: the closed station is gone, the other card shows the decision ---------
    page.goto(url + FINDER)
    card = _card(page, water)
    note = card.locator(".gd-report-decision")
    note.wait_for()
    assert "以编辑确认的状态为准" in note.inner_text() and "没有饮用水" in note.inner_text()
    assert card.locator(".gd-report-line").count() == 0  # no longer shown as an open report
    assert card.locator(".gd-report-unchecked").count() == 0
    page.locator("#cards > li").first.wait_for()
    assert _card(page, closed).count() == 0  # a closed station is not offered to workers
    page.goto(url + FINDER + "&lang=en")
    note = _card(page, water).locator(".gd-report-decision")
    note.wait_for()
    assert note.inner_text().startswith("An editor confirmed the reports (no drinking water)")
    assert _card(page, water).locator(".gd-report-toggle").inner_text() == "Report a problem / 反馈"
    page.screenshot(path=ARTIFACTS / "reports_worker_after_en.png", full_page=True)
    assert not problems, problems
    worker.close()
    editor.close()
