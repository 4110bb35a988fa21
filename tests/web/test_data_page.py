"""The Data page under Streamlit's AppTest: importing a real file, and two editors saving one station.

Each test has its own registry and accounts file under ``tmp_path``; the
editors log in through ``geo.registry.auth`` sessions, as the page's login form does.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geo.registry import audit
from geo.registry.auth.accounts import add_user, load_accounts
from geo.registry.auth.sessions import start_session
from geo.core.crs import wgs84_to_gcj02

from conftest import HAIZHU, ROOT, TIANHE, YUEXIU, cheap_accounts

PASSWORD = "correct horse battery"


@pytest.fixture
def site(registry_location, tmp_path, monkeypatch):
    """A registry with one rest station, two editor accounts, and ``open_as(user)`` giving a logged-in page.

    Once per backend (tests/conftest.py): the page cannot tell a GeoPackage from a PostGIS database.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from geo.registry.store import create_registry

    cheap_accounts(tmp_path, monkeypatch)
    add_user("zhang.wei", PASSWORD)
    add_user("li.na", PASSWORD)
    accounts = load_accounts()

    reg = create_registry(registry_location)
    station = reg.add({"kind": "rest_station", "name": "天河驿站", "operator": "天河区总工会",
                       "lon": TIANHE[0], "lat": TIANHE[1]})
    monkeypatch.setenv("GEO_REGISTRY", reg.location)
    st.cache_resource.clear()
    st.cache_data.clear()

    class Site:
        store = reg
        sid = station["id"]

        @staticmethod
        def open_as(user: str):
            page = AppTest.from_file(str(ROOT / "pages" / "1_数据_Data.py"), default_timeout=60)
            page.session_state["editor_session"] = start_session(user, accounts)
            return run(page)

    yield Site
    st.cache_resource.clear()
    st.cache_data.clear()


def run(page):
    page.run()
    assert not page.exception, page.exception
    return page


def text_input(page, field: str):
    return next(t for t in page.text_input if t.key and t.key.startswith(f"ed:{field}:"))


def button(page, label: str):
    return next(b for b in page.button if b.label == label)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def conflict_table(page) -> pd.DataFrame | None:
    for df in page.dataframe:
        if list(df.value.columns) == ["字段", "你的修改", "现在保存的"]:
            return df.value
    return None


# --------------------------------------------------------------------------
# Two editors save the same station (issue 11, section 3)
# --------------------------------------------------------------------------


def test_second_save_is_refused_shown_and_can_be_reapplied(site):
    a = site.open_as("zhang.wei")
    b = site.open_as("li.na")
    # Both opened version 1. 李娜 saves first.
    text_input(b, "operator").input("越秀区总工会")
    button(b, "保存修改").click()
    run(b)
    assert site.store.get(site.sid)["operator"] == "越秀区总工会" and site.store.get(site.sid)["version"] == 2

    # 张伟 saves from the form he opened at version 1: the save reaches the
    # store, which refuses it; nothing he typed is lost.
    text_input(a, "operator").input("天河区总工会服务中心")
    text_input(a, "phone").input("020-12345678")
    button(a, "保存修改").click()
    run(a)
    stored = site.store.get(site.sid)
    assert stored["operator"] == "越秀区总工会" and stored["version"] == 2 and not stored["phone"]
    assert "未保存：这个站点在你打开后已被他人修改" in texts(a.error)
    assert "你打开的是版本 1，现在是版本 2（li\\.na，" in texts(a.markdown)  # Markdown-escaped name
    table = conflict_table(a)
    assert table is not None, [df.value.columns.tolist() for df in a.dataframe]
    assert table.values.tolist() == [["运营单位", "天河区总工会服务中心", "越秀区总工会"],
                                     ["电话", "020-12345678", ""]]

    # Re-apply: his values are saved over version 2, audited under his name.
    button(a, "用我的修改覆盖现在的版本").click()
    run(a)
    stored = site.store.get(site.sid)
    assert (stored["operator"], stored["phone"], stored["version"]) == ("天河区总工会服务中心", "020-12345678", 3)
    history = site.store.history(site.sid)
    assert history["editor"].tolist()[:2] == ["zhang.wei", "li.na"]
    assert "已保存（版本 3）。" in texts(a.success) and conflict_table(a) is None
    assert text_input(a, "operator").value == "天河区总工会服务中心"  # the form now shows version 3


def test_a_write_in_between_is_a_conflict_and_the_edit_can_be_dropped(site):
    page = site.open_as("zhang.wei")
    site.store.update(site.sid, {"name": "天河体育中心驿站"}, expected_version=1, editor="li.na")
    run(page)  # any rerun (a click elsewhere) tells the editor the station moved on
    assert "你打开的是版本 1，现在是版本 2" in texts(page.warning)
    text_input(page, "address").input("体育西路1号")
    button(page, "保存修改").click()
    run(page)
    table = conflict_table(page)
    # Only his change is listed: the other editor's new name is kept by a re-apply.
    assert table.values.tolist() == [["地址", "体育西路1号", ""]]
    assert site.store.get(site.sid)["version"] == 2
    button(page, "放弃我的修改，载入现在的版本").click()
    run(page)
    assert conflict_table(page) is None and site.store.get(site.sid)["version"] == 2
    assert text_input(page, "name").value == "天河体育中心驿站" and text_input(page, "address").value == ""


def test_reapplying_over_a_third_save_is_refused_again(site):
    page = site.open_as("zhang.wei")
    site.store.update(site.sid, {"phone": "020-1"}, expected_version=1, editor="li.na")
    text_input(page, "phone").input("020-2")
    button(page, "保存修改").click()
    run(page)
    assert conflict_table(page).values.tolist() == [["电话", "020-2", "020-1"]]
    site.store.update(site.sid, {"phone": "020-3"}, expected_version=2, editor="li.na")
    button(page, "用我的修改覆盖现在的版本").click()
    run(page)
    assert site.store.get(site.sid)["phone"] == "020-3"  # not overwritten unseen
    assert conflict_table(page).values.tolist() == [["电话", "020-2", "020-3"]]
    assert "现在是版本 3" in texts(page.markdown)
    button(page, "用我的修改覆盖现在的版本").click()
    run(page)
    assert site.store.get(site.sid)["phone"] == "020-2" and site.store.get(site.sid)["version"] == 4


def test_mark_closed_from_a_stale_page_is_a_conflict_too(site):
    page = site.open_as("zhang.wei")
    site.store.update(site.sid, {"status": "temporarily_closed"}, expected_version=1, editor="li.na")
    button(page, "标记为已关闭").click()
    run(page)
    assert conflict_table(page).values.tolist() == [["状态", "closed", "temporarily_closed"]]
    assert site.store.get(site.sid)["status"] == "temporarily_closed"


def test_another_servers_edits_show_after_a_rerun_without_a_reload(site, monkeypatch):
    """The page's stations are patched from what changed (geo/registry/live.py), not loaded whole again."""
    loads = []  # by the page's own store, not by this test's
    load = type(site.store).load

    def counted(self, *args, **kwargs):
        if self is not site.store:
            loads.append(1)
        return load(self, *args, **kwargs)

    monkeypatch.setattr(type(site.store), "load", counted)
    page = site.open_as("zhang.wei")
    assert len(loads) == 1
    site.store.add({"kind": "rest_station", "name": "海珠驿站", "lon": HAIZHU[0], "lat": HAIZHU[1]})
    site.store.update(site.sid, {"name": "天河体育中心驿站"}, expected_version=1, editor="li.na")
    run(page)
    picker = next(s for s in page.selectbox if s.key and s.key.startswith("ed_pick:"))
    labels = "\n".join(picker.options)
    assert "海珠驿站" in labels and "天河体育中心驿站" in labels and "天河驿站" not in labels.replace("天河体育", "")
    assert len(loads) == 1, "the page loaded the whole registry again after an edit"


def test_pages_share_one_stations_frame_that_no_caller_can_change(site):
    """Every session gets the same columns without a copy per rerun, and a caller's writes stay its own."""
    import numpy as np

    from pages.common import shell

    first = shell.stations(site.store, public=False)
    first.loc[first.index[0], "name"] = "改过的名字"
    first.loc[first.index[0], "geometry"] = first.geometry.iat[0].buffer(1)
    first["added"] = 1
    again = shell.stations(site.store, public=False)
    assert again["name"].tolist() == ["天河驿站"] and again.geometry.iat[0].geom_type == "Point"
    assert "added" not in again.columns
    other = shell.stations(site.store, public=False)
    assert np.shares_memory(again["lon"].to_numpy(), other["lon"].to_numpy())  # no copy per call


def test_conflict_helpers():
    current = {"id": "RS-1", "kind": "rest_station", "name": "新名", "phone": None, "district": "越秀区",
               "facilities": ["toilet"], "truck_parking_spaces": None, "version": 2}
    attempted = {**current, "phone": "020-1", "district": "天河区", "truck_parking_spaces": float("nan"),
                 "facilities": ["toilet"], "version": 1}
    assert audit.conflict_fields(attempted, current) == [("phone", "020-1", "")]
    assert audit.reapply_changes(attempted, current) == {"phone": "020-1"}
    opened = {"name": "旧名", "lon": 113.3245, "lat": 23.1375, "facilities": ["toilet"], "phone": None,
              "truck_parking_spaces": float("nan")}
    form = {"name": "旧名", "lon": 113.3245000001, "lat": 23.1375, "facilities": ["toilet"], "phone": "",
            "truck_parking_spaces": None}
    assert audit.form_changes(form, opened) == {}
    assert audit.form_changes({**form, "lon": 113.33, "truck_parking_spaces": 3}, opened) == {
        "lon": 113.33, "truck_parking_spaces": 3}


# --------------------------------------------------------------------------
# Importing on the page (issue 11, section 2)
# --------------------------------------------------------------------------


def _amap_csv() -> bytes:
    header = "站点名称,详细地址,经纬度(高德),服务内容,开放时间,联系电话"
    rows = []
    for name, (lon, lat) in (("天河户外劳动者驿站", TIANHE), ("越秀区司机之家", YUEXIU),
                             ("海珠区工会法律服务站", HAIZHU)):
        glon, glat = wgs84_to_gcj02(lon, lat)
        rows.append(f'{name},广州市,"{glon:.6f},{glat:.6f}",饮水 如厕 电动车充电 按摩椅,8:00-20:00,020-1')
    return "\n".join([header, *rows]).encode("gbk")


def test_upload_defaults_to_each_rows_own_layer_and_keeps_every_facility(site):
    page = site.open_as("zhang.wei")
    kind_box = next(s for s in page.selectbox if s.key and s.key.startswith("imp_kind:"))
    assert kind_box.value == "auto"
    page.file_uploader[0].set_value(("高德导出.csv", _amap_csv(), "text/csv"))
    run(page)
    assert [m.value for m in page.metric][:3] == ["3", "3", "0"]  # rows, accepted, rejected
    button(page, "写入站点库").click()
    run(page)
    stations = site.store.load().set_index("name")
    assert stations.loc["越秀区司机之家", "kind"] == "driver_home"
    assert stations.loc["海珠区工会法律服务站", "kind"] == "legal_aid"
    assert stations.loc["天河户外劳动者驿站", "kind"] == "rest_station"
    assert list(stations.loc["天河户外劳动者驿站", "facilities"]) == ["drinking_water", "toilet", "ebike_charging"]
    assert list(stations.loc["天河户外劳动者驿站", "facilities_other"]) == ["按摩椅"]


def test_choosing_a_layer_warns_on_rows_named_for_another(site):
    page = site.open_as("zhang.wei")
    next(s for s in page.selectbox if s.key and s.key.startswith("imp_kind:")).select("rest_station")
    page.file_uploader[0].set_value(("高德导出.csv", _amap_csv(), "text/csv"))
    run(page)
    warnings = next(df.value for df in page.dataframe if "code" in df.value.columns)
    mismatched = warnings[warnings["code"] == "kind_name_mismatch"]
    assert mismatched["row"].tolist() == [2, 3]
    assert "driver_home" in mismatched["message"].iat[0] and "legal_aid" in mismatched["message"].iat[1]
