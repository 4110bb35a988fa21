"""`make test` runs every test: the serial ones are in the files its second step collects."""
from __future__ import annotations

import re

from conftest import ROOT


def _make_list(name: str) -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    return set(re.search(rf"^{name} := (.*)$", text, re.M).group(1).split())


def test_every_serial_test_is_in_a_file_make_runs_serially():
    marked = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
              if re.search(r"^\s*(@pytest\.mark\.serial|pytestmark = .*serial)", p.read_text(encoding="utf-8"), re.M)}
    assert marked and marked <= _make_list("SERIAL_FILES"), marked - _make_list("SERIAL_FILES")


def test_the_long_files_first_exist():
    assert all((ROOT / f).exists() for f in _make_list("LONG_FILES") | _make_list("SERIAL_FILES"))
