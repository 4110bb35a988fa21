"""Interface strings as a person meets them, and which of them are in the wrong language.

Shared by the browser tests of the Streamlit pages and of the worker page.
"""
from __future__ import annotations

import re

from conftest import ROOT

# What a person sees or hovers: visible text, and the title and placeholder attributes, of the page and of
# its map frames. Material icon names (drawn as icons), code and Streamlit's screen-reader labels of its
# own chrome (aria-label, which the app cannot set) are not interface text.
STRINGS_JS = """() => {
  const out = [];
  const skip = (el) => el.closest('[data-testid="stIconMaterial"], code, pre, script, style, noscript');
  // Seen: laid out larger than a screen reader's 1-pixel box, not hidden, not shrunk to no text.
  const visible = (el) => { const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility !== 'hidden'
      && parseFloat(getComputedStyle(el).fontSize) > 0; };
  // A placeholder shows only in an empty field (a selectbox's field holds its chosen option).
  const shown = (el) => el.value === '';
  const walk = (doc) => {
    const tw = doc.createTreeWalker(doc.body, NodeFilter.SHOW_TEXT);
    let n;
    while ((n = tw.nextNode())) {
      const p = n.parentElement, t = n.textContent.trim();
      if (t && p && !skip(p) && visible(p)) out.push(t);
    }
    for (const el of doc.querySelectorAll('[title]')) {
      const v = el.getAttribute('title').trim();
      if (v && !skip(el) && el.tagName !== 'IFRAME') out.push(v);
    }
    for (const el of doc.querySelectorAll('[placeholder]')) {
      const v = el.getAttribute('placeholder').trim();
      if (v && !skip(el) && shown(el)) out.push(v);
    }
    for (const f of doc.querySelectorAll('iframe')) {
      try { if (f.contentDocument && f.contentDocument.body) walk(f.contentDocument); } catch (e) {}
    }
  };
  walk(document);
  return out;
}"""
_CJK = re.compile(r"[\u3400-\u9fff]")
# Names and formats that are the same in both languages, and the map data's required attribution.
_SAME_IN_BOTH = re.compile(
    r"^(English|OpenStreetMap|Leaflet|CARTO|© OpenStreetMap contributors|contributors|A JavaScript library for "
    r"interactive maps|GeoJSON|GeoPackage|CSV|XLSX|JSON|HTML|PDF|WGS-84|H3|HiGHS|[\d.,\s]+\s?(k?m|km²|%)|"
    r"G-[0-9a-f]+|[0-9a-f]{15}|[\d.,\s%→·/()+−-]+)$")


INTERNALS = ("settings.py", str(ROOT), "pytest-of-", "/tmp/")


def untranslated(strings: list[str], lang: str) -> list[str]:
    """Interface strings in the other language: English words in the Chinese interface, Chinese in the
    English one (except a place or station name: data, not interface; and bilingual "中文 / English")."""
    if lang == "zh":
        return sorted({s for s in strings if re.search(r"[A-Za-z]{2,}", s) and not _CJK.search(s)
                       and not _SAME_IN_BOTH.match(s)})
    from geo.core import i18n

    pairs = [(i18n.t(k, "zh"), i18n.t(k, "en")) for k in i18n.keys() if "{" not in i18n.t(k, "zh")]
    chinese_ui = {zh.strip() for zh, en in pairs if _CJK.search(zh) and zh != en}
    return sorted({s for s in strings if s in chinese_ui})
