"""Tests for geo.core.hours: parsing opening-hours text and "open at time t"."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.core.hours import OpeningHours, is_open, parse_opening_hours

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2024-06-03 is a Monday; the week runs Mo 3 .. Su 9.
MON, TUE, FRI, SAT, SUN = 3, 4, 7, 8, 9


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute)


@pytest.mark.parametrize("text, osm", [
    # round the clock
    ("24小时", "24/7"),
    ("24h", "24/7"),
    ("24H营业", "24/7"),
    ("全天", "24/7"),
    ("全天24小时", "24/7"),
    ("全年无休", "24/7"),
    ("7×24小时", "24/7"),
    ("24/7", "24/7"),
    ("Mo-Su 00:00-24:00", "24/7"),
    ("每天0:00-24:00", "24/7"),
    ("周一至周五 0:00-24:00；周六至周日 全天", "24/7"),
    # one daily range, however it is written
    ("08:00-20:00", "Mo-Su 08:00-20:00"),
    ("8:00-20:00", "Mo-Su 08:00-20:00"),
    ("8:00～20:00", "Mo-Su 08:00-20:00"),
    ("8:00~20:00", "Mo-Su 08:00-20:00"),
    ("8:00至20:00", "Mo-Su 08:00-20:00"),
    ("8:00到20:00", "Mo-Su 08:00-20:00"),
    ("8:00 — 20:00", "Mo-Su 08:00-20:00"),
    ("8点-20点", "Mo-Su 08:00-20:00"),
    ("8点半-20点30分", "Mo-Su 08:30-20:30"),
    ("０８：００－２０：００", "Mo-Su 08:00-20:00"),
    ("每天 8:00-20:00", "Mo-Su 08:00-20:00"),
    ("每日8:00-20:00", "Mo-Su 08:00-20:00"),
    ("开放时间：每天 8:00-20:00", "Mo-Su 08:00-20:00"),
    ("8:00-20:00 全年无休", "Mo-Su 08:00-20:00"),
    # weekdays
    ("周一至周五 9:00-17:00", "Mo-Fr 09:00-17:00"),
    ("周一到周五 9:00-17:00", "Mo-Fr 09:00-17:00"),
    ("星期一至星期五 9:00-17:00", "Mo-Fr 09:00-17:00"),
    ("星期一至五 9:00-17:00", "Mo-Fr 09:00-17:00"),
    ("周一至周日 8:00-20:00", "Mo-Su 08:00-20:00"),
    ("工作日 9:00-17:00", "Mo-Fr 09:00-17:00"),
    ("周末 10:00-16:00", "Sa-Su 10:00-16:00"),
    ("双休日 10:00-16:00", "Sa-Su 10:00-16:00"),
    ("周一、三、五 9:00-12:00", "Mo,We,Fr 09:00-12:00"),
    ("8:00-20:00（周一至周五）", "Mo-Fr 08:00-20:00"),
    # several rules, several ranges
    ("周一至周五 9:00-17:00，周六 9:00-12:00", "Mo-Fr 09:00-17:00; Sa 09:00-12:00"),
    ("周一至周五 9:00-17:00；周六 9:00-12:00", "Mo-Fr 09:00-17:00; Sa 09:00-12:00"),
    ("周一至周五 9:00-17:00;周六 9:00-12:00", "Mo-Fr 09:00-17:00; Sa 09:00-12:00"),
    ("周一至周五 9:00-17:00\n周六 9:00-12:00", "Mo-Fr 09:00-17:00; Sa 09:00-12:00"),
    ("9:00-12:00、14:00-17:30", "Mo-Su 09:00-12:00,14:00-17:30"),
    ("上午9:00-12:00 下午14:00-17:00", "Mo-Su 09:00-12:00,14:00-17:00"),
    ("上午9点-12点 下午2点-5点半", "Mo-Su 09:00-12:00,14:00-17:30"),
    ("周一至周五 上午8:30-12:00 下午2:30-5:30", "Mo-Fr 08:30-12:00,14:30-17:30"),
    # overnight
    ("20:00-02:00", "Mo-Su 20:00-02:00"),
    ("晚上8点-凌晨2点", "Mo-Su 20:00-02:00"),
    ("周五 20:00-次日02:00", "Fr 20:00-02:00"),
    # closed days and public holidays
    ("每天 9:00-17:00，周日休息", "Mo-Su 09:00-17:00; Su off"),
    ("周一至周五 9:00-17:00，节假日休息", "Mo-Fr 09:00-17:00; PH off"),
    ("周一至周五 9:00-17:00（法定节假日除外）", "Mo-Fr 09:00-17:00; PH off"),
    ("周一至周五 9:00-17:00，除法定节假日外", "Mo-Fr 09:00-17:00; PH off"),
    ("8:00-20:00 全年无休，节假日休息", "Mo-Su 08:00-20:00; PH off"),
    ("24小时，节假日休息", "24/7; PH off"),
    ("周末及节假日休息", "Sa-Su,PH off"),
    ("双休日休息", "Sa-Su off"),
    ("周六、周日休息", "Sa-Su off"),
    # OSM syntax itself
    ("Mo-Fr 08:00-18:00", "Mo-Fr 08:00-18:00"),
    ("Mo,We,Fr 09:00-12:00", "Mo,We,Fr 09:00-12:00"),
    ("Mo-Fr 08:00-12:00,13:00-17:00; Sa 09:00-12:00",
     "Mo-Fr 08:00-12:00,13:00-17:00; Sa 09:00-12:00"),
    ("Sa-Su off", "Sa-Su off"),
    ("Su off", "Su off"),
    ("Mo-Fr 09:00-17:00; PH off", "Mo-Fr 09:00-17:00; PH off"),
    ("Fr-Mo 10:00-14:00", "Mo,Fr-Su 10:00-14:00"),
    ("mo-fr 8:00-18:00", "Mo-Fr 08:00-18:00"),
])
def test_parses_to_osm(text, osm):
    hours = parse_opening_hours(text)
    assert hours.ok, hours.message
    assert hours.osm == osm
    assert hours.raw == text
    assert hours.message == ""
    assert hours.is_24h == (osm == "24/7")


@pytest.mark.parametrize("text", [
    "24小时", "全天", "全年无休", "24/7", "Mo-Su 00:00-24:00", "每天0:00-24:00",
])
def test_round_the_clock_texts_are_24h(text):
    assert parse_opening_hours(text).is_24h
    assert is_open(text, at(SUN, 3, 17)) is True


@pytest.mark.parametrize("text", ["每天 8:00-20:00", "24小时，节假日休息", "Mo-Fr 00:00-24:00"])
def test_less_than_round_the_clock_is_not_24h(text):
    assert not parse_opening_hours(text).is_24h


@pytest.mark.parametrize("text", [None, "", "   ", float("nan")])
def test_empty_is_ok_with_unknown_hours(text):
    hours = parse_opening_hours(text)
    assert hours == OpeningHours(raw=hours.raw, osm="", is_24h=False, ok=True, message="")
    assert is_open(hours, at(MON, 10)) is None
    assert is_open(text, at(MON, 10)) is None


@pytest.mark.parametrize("text", [
    "by appointment", "周八 9:00-17:00", "9-17", "25:00-26:00", "8:61-20:00",
    "9:00-9:00", "周日休息 9:00-12:00", "2024年5月1日",
])
def test_unparseable_text_is_reported_not_raised(text):
    hours = parse_opening_hours(text)
    assert hours.ok is False
    assert hours.raw == text
    assert hours.osm == "" and hours.is_24h is False
    assert hours.message.startswith("无法识别开放时间 / cannot parse opening hours:")
    assert re.search(r"[\u4e00-\u9fff]", hours.message) and re.search("[a-z]{4}", hours.message)
    assert is_open(hours, at(MON, 10)) is None


def test_weekday_hours():
    hours = parse_opening_hours("周一至周五 9:00-17:00，周六 9:00-12:00")
    assert is_open(hours, at(MON, 9)) is True  # opening minute is open
    assert is_open(hours, at(FRI, 16, 59)) is True
    assert is_open(hours, at(FRI, 17)) is False  # closing minute is closed
    assert is_open(hours, at(TUE, 8, 59)) is False
    assert is_open(hours, at(SAT, 11)) is True
    assert is_open(hours, at(SAT, 13)) is False
    assert is_open(hours, at(SUN, 11)) is False  # no rule names Sunday


def test_lunch_break():
    hours = parse_opening_hours("上午9:00-12:00 下午14:00-17:30")
    assert [is_open(hours, at(TUE, h, m)) for h, m in ((10, 0), (13, 0), (17, 15), (17, 30))] == [
        True, False, True, False]


def test_later_rule_overrides_earlier_for_its_days():
    hours = parse_opening_hours("每天 9:00-17:00；周日休息")
    assert is_open(hours, at(SAT, 10)) is True
    assert is_open(hours, at(SUN, 10)) is False
    assert is_open("Mo-Fr 08:00-18:00; We 10:00-12:00", at(5, 9)) is False  # Wednesday


def test_overnight_range_belongs_to_the_day_it_starts():
    hours = parse_opening_hours("周五 20:00-02:00")
    assert is_open(hours, at(FRI, 19, 59)) is False
    assert is_open(hours, at(FRI, 23, 30)) is True
    assert is_open(hours, at(SAT, 1, 59)) is True  # Friday night, after midnight
    assert is_open(hours, at(SAT, 2)) is False
    assert is_open(hours, at(FRI, 1)) is False  # Thursday had no late opening
    assert is_open(hours, at(SAT, 21)) is False


def test_overnight_spill_survives_next_day_being_closed():
    hours = parse_opening_hours("Mo-Su 20:00-02:00; Sa off")
    assert is_open(hours, at(SAT, 1)) is True
    assert is_open(hours, at(SAT, 21)) is False
    assert is_open(hours, at(SUN, 1)) is False


def test_public_holiday_rules_are_ignored():
    # 2024-10-01 (National Day, a Tuesday) is treated as an ordinary Tuesday.
    hours = parse_opening_hours("周一至周五 9:00-17:00，法定节假日除外")
    assert hours.osm == "Mo-Fr 09:00-17:00; PH off"
    assert is_open(hours, datetime(2024, 10, 1, 10)) is True
    assert is_open("24小时，节假日休息", datetime(2024, 10, 1, 3)) is True


def test_holiday_only_hours_are_unknown():
    assert parse_opening_hours("节假日休息").osm == "PH off"
    assert is_open("节假日休息", at(MON, 10)) is None


def test_closed_always():
    assert is_open("off", at(MON, 10)) is False


def test_full_width_input():
    hours = parse_opening_hours("周一至周五　０９：００－１７：００；周六　０９：００～１２：００")
    assert hours.osm == "Mo-Fr 09:00-17:00; Sa 09:00-12:00"
    assert is_open(hours, at(MON, 9, 30)) is True
    assert is_open(hours, at(SUN, 9, 30)) is False


def test_is_open_accepts_text_and_parsed_hours_alike():
    text = "工作日 8点-20点"
    assert is_open(text, at(MON, 12)) is is_open(parse_opening_hours(text), at(MON, 12)) is True
    assert is_open(text, at(SAT, 12)) is False
    assert is_open(None) is None
    assert is_open("不是时间") is None


def test_naive_datetimes_are_shanghai_and_aware_ones_converted():
    hours = "周一至周五 9:00-17:00"
    assert is_open(hours, datetime(2024, 6, 3, 9, 30)) is True
    assert is_open(hours, datetime(2024, 6, 3, 9, 30, tzinfo=SHANGHAI)) is True
    # 01:30 UTC Monday is 09:30 in Shanghai: open; 09:30 UTC is 17:30 there: closed.
    assert is_open(hours, datetime(2024, 6, 3, 1, 30, tzinfo=timezone.utc)) is True
    assert is_open(hours, datetime(2024, 6, 3, 9, 30, tzinfo=timezone.utc)) is False
    # 23:30 UTC Sunday is already Monday 07:30 in Shanghai.
    assert is_open("Mo 07:00-08:00", datetime(2024, 6, 2, 23, 30, tzinfo=timezone.utc)) is True
    assert is_open("Mo 07:00-08:00", datetime(2024, 6, 2, 23, 30)) is False


def test_default_moment_is_now_in_shanghai():
    now = datetime.now(SHANGHAI)
    minute = now.hour * 60 + now.minute
    start, end = (minute - 5) % 1440, (minute + 5) % 1440
    text = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    # The ±5 minute window around now, every day, must be open now.
    assert is_open(text) is True
    later = now + timedelta(hours=6)
    assert is_open(text, later) is False


@pytest.mark.parametrize("text", [
    "周一至周五 9:00-17:00，周六 9:00-12:00", "20:00-02:00", "24小时，节假日休息",
    "周末及节假日休息", "每天 9:00-17:00，周日休息",
])
def test_normalised_osm_reads_back_unchanged(text):
    osm = parse_opening_hours(text).osm
    assert parse_opening_hours(osm).osm == osm


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_never_raises(text):
    hours = parse_opening_hours(text)
    assert isinstance(hours, OpeningHours)
    assert hours.raw == text
    assert hours.ok or "cannot parse" in hours.message
    assert is_open(hours, datetime(2024, 6, 3, 12)) in (True, False, None)


_FRAGMENTS = [
    "周一", "至", "周五", "周六", "、", "日", "每天", "工作日", "周末", "全年无休", "节假日",
    "休息", "除外", "24小时", "全天", "上午", "下午", "晚上", "9:00", "12:00", "8点", "20点",
    "-", "～", "，", "；", "\n", " ", "Mo", "Fr", "Sa", "Su", "PH", "off", "24/7", "17:30",
    "02:00", "0:00", "24:00",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join))
def test_plausible_text_never_raises_and_osm_is_stable(text):
    hours = parse_opening_hours(text)
    assert isinstance(hours, OpeningHours)
    if hours.ok:
        again = parse_opening_hours(hours.osm)
        assert again.ok and again.osm == hours.osm and again.is_24h == hours.is_24h
        assert is_open(hours, datetime(2024, 6, 3, 12)) == is_open(again, datetime(2024, 6, 3, 12))
    else:
        assert hours.osm == "" and "无法识别" in hours.message
