"""geo.core.text: data shown in Streamlit's Markdown stays text, and error messages name no server folder."""
from __future__ import annotations

import re

import pytest

from geo.registry.io.readers import ReadError
from geo.core.text import md_error, md_escape, md_text, without_folders

BEACON = "![x](http://127.0.0.1:9/beacon)"


@pytest.mark.parametrize("text, expected", [
    ("无法读取路网 /srv/gd/network/ebike.graph: bad", "无法读取路网 ebike.graph: bad"),
    ("[Errno 13] Permission denied: '/srv/gd/data/scenarios/a.json'", "[Errno 13] Permission denied: 'a.json'"),
    ("no scenario called 'x' in /home/u/gd/data/scenarios", "no scenario called 'x' in scenarios"),
    (r"C:\Users\u\gd\registry.gpkg is locked", "registry.gpkg is locked"),
    # Left alone: URLs, relative paths, fractions, the two-language separator, a bare name.
    ("see http://127.0.0.1:9/a/b", "see http://127.0.0.1:9/a/b"),
    ("data/scenarios/a.json", "data/scenarios/a.json"),
    ("1/2 of 中文 / English", "1/2 of 中文 / English"),
    ("/a.json", "/a.json"),
])
def test_without_folders(text, expected):
    assert without_folders(text) == expected


def test_md_text_picks_the_language_cuts_folders_and_escapes():
    note = f"读取了 2 个图层：{BEACON} / read 2 layers: {BEACON}"
    assert md_text(note, "en") == "read 2 layers\\: " + md_escape(BEACON)
    assert "![" not in md_text(note, "zh") and "](" not in md_text(note, "zh")


def test_md_error_of_a_file_name_and_a_path():
    exc = ReadError("unreadable", f"无法读取文件 {BEACON}.geojson：坏", f"cannot read {BEACON}.geojson: bad")
    shown = md_error(exc, "en")
    assert shown.startswith("cannot read ") and "![" not in shown and "](" not in shown
    exc = ValueError("无法读取路网 / cannot read the road network /srv/gd/network/walk.graph: old")
    assert md_error(exc, "zh") == "无法读取路网"
    assert md_error(exc, "en") == md_escape("cannot read the road network walk.graph: old")


@pytest.mark.parametrize("text", ["http://127.0.0.1:9/b", "HTTPS://e.com/x", "www.example.com", "x@example.com"])
def test_md_escape_breaks_what_markdown_would_link_by_itself(text):
    # GFM links bare URLs and e-mail addresses after resolving escapes: a word joiner breaks the pattern.
    escaped = md_escape(text)
    assert "\u2060" in escaped
    assert not re.search(r"(?i)https?:|www\.|@[\w-]", re.sub(r"\\(.)", r"\1", escaped))


@pytest.mark.parametrize("text", ["[通知](http://e.com)", "**粗体**", "<img src=x onerror=alert(1)>", "a\\b_c`d`"])
def test_md_escape_leaves_no_markdown(text):
    escaped = md_escape(text)
    # Every special character is preceded by a backslash; removing them (and the word joiners
    # that keep URLs from becoming links, see geo.core.text) gives the text back.
    assert re.sub(r"\\(.)", r"\1", escaped).replace("\u2060", "") == text
    assert not re.search(r"(?<!\\)[\[\]()*_`<>]", escaped)
