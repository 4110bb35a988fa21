"""The string tables: one per part of the app, merged into one, no key defined twice."""
from __future__ import annotations

import pytest

from geo.core import i18n
from geo.core.i18n import (strings_app, strings_coverage, strings_data, strings_finder, strings_reports,
                          strings_siting)

TABLES = (strings_app, strings_data, strings_finder, strings_coverage, strings_siting, strings_reports)


def test_every_table_reaches_t_and_nothing_else_does():
    assert set(i18n.keys()) == {k for table in TABLES for k in table.STRINGS}
    assert sum(len(table.STRINGS) for table in TABLES) == len(i18n.keys())


def test_a_key_defined_twice_is_refused():
    with pytest.raises(ValueError, match="history_header"):
        i18n.merge_tables({"history_header": ("a", "b")}, {"history_header": ("c", "d")})
    assert i18n.merge_tables({"a": ("甲", "A")}, {"b": ("乙", "B")}) == {"a": ("甲", "A"), "b": ("乙", "B")}


def test_the_data_pages_own_strings_are_in_the_table():
    assert i18n.t("history_header", "en") == "Change history"
    assert i18n.t("history_restored", "zh", version=3) == "已恢复（现为版本 3）。"
    assert i18n.t("download_xlsx", "fr") == "Excel（XLSX，WGS-84）"
