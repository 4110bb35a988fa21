"""Workers' reports on the Data page: the queue's view logic, and the page's queue under AppTest.

Real GeoPackage registries under ``tmp_path``; the editor logs in through a
``geo.registry.auth`` session, as the page's login form does.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from geo.registry.auth.accounts import add_user, load_accounts
from geo.registry.auth.sessions import start_session
from geo.registry.reports import ReportLimits
from geo.web.views import reports as views

from conftest import HAIZHU, ROOT, TIANHE, cheap_accounts

LIMITS = ReportLimits(per_station=5, per_client=50, window_s=3600)
HOSTILE = '<script>alert(1)</script> ![x](http://e.vil/b.png) **b** =HYPERLINK("http://e.vil")'


@pytest.fixture
def site(tmp_path, monkeypatch):
    import streamlit as st
    from geo.registry.store import create_registry

    cheap_accounts(tmp_path, monkeypatch)
    add_user("zhang.wei", "correct horse battery")
    reg = create_registry(tmp_path / "page.gpkg")
    a = reg.add({"kind": "rest_station", "name": "天河驿站", "lon": TIANHE[0], "lat": TIANHE[1],
                 "facilities": ["drinking_water", "toilet"]})
    b = reg.add({"kind": "rest_station", "name": "海珠驿站", "lon": HAIZHU[0], "lat": HAIZHU[1]})
    for i in range(3):
        reg.add_report(a["id"], "closed", HOSTILE if i == 0 else "", client=f"c{i}", limits=LIMITS)
    reg.add_report(a["id"], "no_water", "", client="c0", limits=LIMITS)
    reg.add_report(b["id"], "full", "", client="c9", limits=LIMITS)
    monkeypatch.setenv("GEO_REGISTRY", str(reg.path))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield reg, a["id"], b["id"]
    st.cache_resource.clear()
    st.cache_data.clear()


def test_queue_is_most_reported_first_with_types_times_and_plain_text(site):
    reg, a, b = site
    queue = views.report_queue(reg.reports(statuses=["open"]), reg.load())
    assert queue["station_id"].tolist() == [a, b]
    assert queue.iloc[0]["open"] == 4 and queue.iloc[0]["types"] == {"closed": 3, "no_water": 1}
    table = views.queue_table(queue, lang="en")
    assert table.iloc[0]["Types"] == "Closed when it should be open ×3; No drinking water ×1"
    assert len(table.iloc[0]["Latest"]) == 16  # Beijing time to the minute
    mine = views.station_reports_table(reg.reports(station_id=a), lang="zh")
    assert HOSTILE in mine["补充说明（原文）"].tolist()  # shown as written, in a plain-text table
    label = views.station_choice_label(pd.Series({"name": "**x** [a](b)", "kind": "rest_station", "open": 1,
                                                  "station_id": "RS-1"}))
    assert label == "**x** [a](b) · 户外劳动者驿站 · 1 · RS-1"  # options are plain text: no escapes to show


def test_confirm_changes_only_what_differs():
    rec = {"status": "open", "facilities": ["drinking_water", "toilet"]}
    assert views.confirm_changes(rec, status=None, facilities=["drinking_water", "toilet"]) == {}
    assert views.confirm_changes(rec, status="closed", facilities=["toilet"]) == \
        {"status": "closed", "facilities": ["toilet"]}
    assert views.local_time("2026-12-02T02:05:00+00:00") == "2026-12-02 10:05"
    assert views.local_time(None) == ""


def test_downloads_hold_no_client_data(site):
    reg, a, b = site
    files = views.report_downloads(reg.reports(), reg.load())
    assert "c0" not in files["csv"].decode("utf-8-sig").split(",")
    assert "'=HYPERLINK" not in files["csv"].decode("utf-8-sig")  # the text does not start with =
    assert len(json.loads(files["geojson"])["features"]) == 5


def test_the_data_page_queue_confirms_through_the_audited_edit(site):
    from streamlit.testing.v1 import AppTest

    reg, a, b = site
    page = AppTest.from_file(str(ROOT / "pages" / "1_数据_Data.py"), default_timeout=60)
    page.session_state["editor_session"] = start_session("zhang.wei", load_accounts())
    page.run()
    assert not page.exception, page.exception
    assert any(e.label.startswith("工人反馈（2 个站点待处理）") for e in page.expander)
    shown = [df.value for df in page.dataframe]
    assert any(HOSTILE in df.astype(str).to_numpy().ravel().tolist() for df in shown)
    # Nothing from a report reached Markdown unescaped.
    assert "<script>" not in "\n".join(str(m.value) for m in page.markdown)
    next(s for s in page.selectbox if s.key.startswith("rq_status:")).set_value("closed")
    next(m for m in page.multiselect if m.key.startswith("rq_types:")).set_value(["closed"])
    next(b for b in page.button if b.key.startswith("rq_apply:")).click()
    page.run()
    assert not page.exception, page.exception
    assert reg.get(a)["status"] == "closed"
    assert reg.history(a).iloc[0]["action"] == "confirm_reports"
    assert reg.history(a).iloc[0]["editor"] == "zhang.wei"
    left = reg.reports(station_id=a)
    assert left.loc[left["type"] == "closed", "status"].eq("confirmed").all()
    assert left.loc[left["type"] == "no_water", "status"].tolist() == ["open"]
    assert any("关闭 3 条" in str(s.value) for s in page.success)


def test_report_js_knows_every_type_and_writes_no_html():
    import re

    from geo.registry.reports import REPORT_TYPES

    source = (ROOT / "static" / "finder" / "report.js").read_text(encoding="utf-8")
    assert re.findall(r'\["(\w+)", "', source) == list(REPORT_TYPES)
    for label in REPORT_TYPES.values():
        assert f'"{label.zh}", "{label.en}", "{label.said_zh}", "{label.said_en}"' in source
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source and "outerHTML" not in source


def test_home_map_can_leave_out_reported_stations(site, tmp_path):
    from streamlit.testing.v1 import AppTest

    reg, a, b = site
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    page.run()
    assert not page.exception, page.exception
    def shown() -> str:
        return next(str(m.value) for m in page.markdown if "站点库共" in str(m.value))

    assert "显示 2 个站点" in shown()
    page.checkbox(key="map_not_serving").check().run()
    assert not page.exception, page.exception
    assert "显示 1 个站点" in shown()  # 天河驿站 has closed reports from 3 clients
    assert any("不提供服务" in str(c.value) for c in page.caption)
