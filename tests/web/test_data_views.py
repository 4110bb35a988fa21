"""What the Data page and the map page show, computed without Streamlit (geo/web/views: stations,
downloads, importing, editing, history)."""
from __future__ import annotations

import pandas as pd
import pytest

from geo.registry import audit
from geo.registry.io.readers import read_table
from geo.registry.store import create_registry
from geo.registry.store.base import ConflictError
from geo.registry.validate import validate_table
from geo.web.views import downloads, editing, history, importing, stations as views

from conftest import HAIZHU, TIANHE, YUEXIU


@pytest.fixture
def registry(tmp_path):
    reg = create_registry(tmp_path / "views.gpkg")
    reg.add({"kind": "rest_station", "name": "天河驿站", "lon": TIANHE[0], "lat": TIANHE[1],
             "facilities": ["toilet", "drinking_water"], "phone": "020-1"})
    reg.add({"kind": "driver_home", "name": "越秀司机之家", "lon": YUEXIU[0], "lat": YUEXIU[1]})
    reg.add({"kind": "legal_aid", "name": "海珠法律服务站", "lon": HAIZHU[0], "lat": HAIZHU[1],
             "status": "closed", "is_sample": True})
    return reg


# --------------------------------------------------------------------------
# Stations: filters, search, labels, the public table
# --------------------------------------------------------------------------

def test_an_empty_multiselect_chooses_nothing(registry):
    stations = registry.load()
    assert len(views.chosen_stations(stations, kinds=["rest_station", "legal_aid"], statuses=["open"])) == 1
    assert len(views.chosen_stations(stations, kinds=[], statuses=["open", "closed"])) == 0
    assert len(views.chosen_stations(stations, kinds=["legal_aid"], statuses=[])) == 0
    assert len(views.chosen_stations(stations, kinds=["driver_home", "rest_station"], statuses=["open"],
                                     region="440104")) == 1  # 越秀区


def test_search_labels_and_sample_count(registry):
    stations = registry.load()
    assert views.sample_count(stations) == 1
    found = views.search_stations(stations, "  司机 ")
    assert found["name"].tolist() == ["越秀司机之家"]
    sid = found["id"].iat[0]
    assert views.search_stations(stations, sid.lower())["id"].tolist() == [sid]  # ids, any case
    assert len(views.search_stations(stations, " ")) == 3
    assert views.search_stations(stations, ".*").empty  # typed text, not a pattern
    assert views.station_labels(found, lang="en") == {sid: f"越秀司机之家 · Driver home · {sid}"}


def test_public_table_speaks_the_pages_language(registry):
    table = views.public_table(registry.load(), lang="en")
    assert table.columns.tolist() == ["ID", "Name", "Layer", "Status", "City", "District", "Address",
                                      "Opening hours", "Phone", "Facilities", "Sample data"]
    row = table.set_index("Name").loc["天河驿站"]
    assert (row["Layer"], row["Status"], row["District"]) == ("Rest station", "Open", "天河区")
    assert row["Facilities"] == "Drinking water、Toilet"
    assert views.public_table(registry.load(), lang="zh").set_index("名称").loc["海珠法律服务站", "状态"] == "已关闭"


# --------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------

def test_download_names_and_order():
    assert [d.label for d in downloads.DOWNLOADS] == ["download_geojson", "download_gpkg", "download_csv",
                                                      "download_xlsx", "download_geojson_gcj"]
    gcj = downloads.DOWNLOADS[-1]
    assert (gcj.fmt, gcj.crs) == ("geojson", "gcj02")
    assert downloads.file_name(gcj) == "stations_gcj02.geojson"
    assert downloads.file_name(downloads.DOWNLOADS[3], region="440100") == "stations_440100.xlsx"


# --------------------------------------------------------------------------
# Importing
# --------------------------------------------------------------------------

def test_import_report_in_the_pages_words(registry):
    data = "名称,经度,纬度\n天河新驿站,113.33,23.14\n,abc,23\n".encode("gbk")
    raw = read_table(data, filename="新站点.csv")
    assert importing.visible_columns(pd.DataFrame(columns=["名称", "__row"])) == ["名称"]
    assert importing.read_summary(raw, lang="en") == f"Read 2 rows and 3 columns (format csv, {raw.encoding})"
    report = validate_table(raw, "rest_station", source=importing.source_name("新站点.csv"),
                            existing=registry.load())
    assert len(report.rejects) == 1 and report.source == "新站点"
    zh = importing.in_language(report.rejects, lang="zh")["message"].iat[0]
    en = importing.in_language(report.rejects, lang="en")["message"].iat[0]
    assert " / " in report.rejects["message"].iat[0] and zh != en and " / " not in en
    assert importing.rejects_name("a/新站点.csv") == "新站点_rejected.csv"
    # The report's own columns are named in the page's language; the file's own headers stay as they are.
    zh_labels = importing.report_column_labels(report.rejects, lang="zh")
    assert zh_labels == {"row": "行号", "reason_code": "原因代码", "message": "说明"}
    assert importing.report_column_labels(report.rejects, lang="en")["message"] == "Reason"
    assert "名称" in report.rejects.columns and "名称" not in zh_labels
    preview = importing.accepted_preview(report.accepted)
    assert "geometry" not in preview.columns and len(preview) == 1 and not hasattr(preview, "crs")


# --------------------------------------------------------------------------
# Editing and conflicts
# --------------------------------------------------------------------------

def test_form_fields_and_lists():
    assert "lawyer_hours" not in editing.text_fields("rest_station")
    assert editing.text_fields("legal_aid")[5] == "lawyer_hours"
    assert editing.split_list(" 按摩椅; ;微波炉 ;") == ["按摩椅", "微波炉"]


def test_a_refused_save_explained(registry):
    sid = registry.load(kinds=["rest_station"])["id"].iat[0]
    registry.update(sid, {"phone": "020-2"}, expected_version=1, editor="li.na")
    with pytest.raises(ConflictError) as refused:
        registry.update(sid, {"phone": "020-3", "operator": "天河区总工会"}, expected_version=1, editor="zhang.wei")
    attempted, current = refused.value.attempted, refused.value.current
    line = editing.conflict_detail(attempted, current, registry.history(sid), lang="zh")
    assert line.startswith("你打开的是版本 1，现在是版本 2（li\\.na，") and line.count(" UTC）") == 1
    table = editing.conflict_table(attempted, current, lang="en")
    assert table.columns.tolist() == ["Field", "Yours", "Now stored"]
    assert table.values.tolist() == [["Operator", "天河区总工会", ""], ["Phone", "020-3", "020-2"]]
    assert editing.conflict_table(current, current).empty


# --------------------------------------------------------------------------
# History and removed stations
# --------------------------------------------------------------------------

def test_history_tables(registry):
    sid = registry.load(kinds=["driver_home"])["id"].iat[0]
    registry.update(sid, {"phone": "020-9"}, expected_version=1, editor="zhang.wei")
    hist = registry.history(sid)
    table = history.history_table(hist, lang="en")
    assert table.columns.tolist() == ["Time (UTC)", "Editor", "Action", "Version", "Fields changed"]
    assert table["Action"].tolist() == ["edit", "added"] and table["Editor"].iat[0] == "zhang.wei"
    first = list(hist.itertuples())[-1]
    assert history.version_label(first, lang="en").startswith("version 1 · ")
    diff = history.diff_table(first.after, registry.get(sid), lang="zh")
    assert diff.columns.tolist() == ["字段", "该版本", "当前"]
    assert diff.values.tolist() == [["电话", "", "020-9"]]
    assert history.diff_table(registry.get(sid), registry.get(sid)).empty
    assert history.short_time("2025-03-01T08:30:59.123+00:00") == "2025-03-01 08:30"


def test_removed_and_closed_choices(registry):
    registry.delete_sample(editor="管理员")
    stations = registry.load()
    registry.update(stations["id"].iat[0], {"status": "closed"}, expected_version=1)
    stations = registry.load()
    removed = audit.removed_stations(registry, list(stations["id"]))
    choices = history.removed_choices(removed, stations, lang="en")
    assert [what for what, _ in choices] == ["removed", "closed"]
    assert "海珠法律服务站" in choices[("removed", removed["station_id"].iat[0])]
    assert history.search_choices(choices, " 海珠 ") == [("removed", removed["station_id"].iat[0])]
    assert len(history.search_choices(choices, "")) == 2
    record = history.record_table(removed["record"].iat[0], lang="en")
    assert record.columns.tolist() == ["Field", "That version"] and (record["That version"] != "").all()
