"""Opening hours of stations: read what union offices write, answer "open now?".

Union offices describe the hours of rest stations and legal-aid points in free
Chinese text (``周一至周五 9:00-17:00，周六 9:00-12:00``), often typed with
full-width characters, and sometimes already in OpenStreetMap
``opening_hours`` syntax. :func:`parse_opening_hours` turns all of these into
one normalised OSM string, so the registry stores a single format that
OSM-aware tools read unchanged; :func:`is_open` answers whether a station is
open at a given moment.

The semantics are OSM's:

* rules are read in order, and a later rule replaces an earlier one for the
  days it names (``每天 9:00-17:00，周日休息`` is closed on Sunday);
* days no rule names are closed, and a rule naming days but no time is open
  all day (``全年无休`` on its own is ``24/7``);
* a range that ends before it starts (``20:00-02:00``) runs past midnight, and
  the hours after midnight belong to the day the range started.

Public holidays: ``节假日休息`` and ``法定节假日除外`` are kept as ``PH off``
in the OSM string, but we have no holiday calendar, so :func:`is_open` ignores
PH rules and answers as on an ordinary day of that weekday.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Callable
from zoneinfo import ZoneInfo

from geo.settings import TIMEZONE

_TZ = ZoneInfo(TIMEZONE)
_DAY_NAMES = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_ALL_DAYS = frozenset(range(7))
_FULL_DAY = ((0, 1440),)
_CN_DAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_PM = ("下午", "傍晚", "晚上", "夜间", "晚")
_FAIL = "无法识别开放时间 / cannot parse opening hours"
# Chinese text writes ranges with 至/到 and many dash or tilde look-alikes;
# mapping them all to "-" lets one grammar read Chinese and OSM alike.
_DASHES = str.maketrans({c: "-" for c in "~〜～–—―−‐‑至到"})


@dataclass(frozen=True)
class OpeningHours:
    """Opening hours as written and as understood.

    Attributes
    ----------
    raw : str
        The text as given.
    osm : str
        Normalised OSM ``opening_hours`` syntax, e.g. ``"24/7"`` or
        ``"Mo-Fr 09:00-17:00; Sa 10:00-12:00"``; ``""`` when the text is
        empty, names no hours, or was not understood.
    is_24h : bool
        True when open round the clock every day (``osm == "24/7"``).
    ok : bool
        True when the text was understood; empty text is ok with unknown hours.
    message : str
        When not ok, a bilingual reason (Chinese / English); else ``""``.
    """

    raw: str
    osm: str
    is_24h: bool
    ok: bool
    message: str


@dataclass(frozen=True)
class _Rule:
    days: frozenset[int]  # 0 = Monday; empty for a holiday-only rule
    ph: bool
    spans: tuple[tuple[int, int], ...]  # minutes since midnight; end > 1440 runs past midnight
    off: bool


class _ParseError(ValueError):
    """Text we do not understand; becomes the message of a not-ok result."""


@dataclass
class _Draft:
    """A rule while its tokens are still being read."""

    days: frozenset[int] | None = None  # None until a day selector is read
    ph: bool = False
    mergeable: bool = True
    spans: list[tuple[int, int]] = field(default_factory=list)
    off: bool = False

    def rule(self) -> _Rule | None:
        if self.days is None and not self.spans and not self.off:
            return None
        if self.days == frozenset() and not self.spans and not self.off:
            # "节假日照常开放" adds nothing to the ordinary hours: OSM has no
            # way to say "as usual" but leaving PH out.
            return None
        days = _ALL_DAYS if self.days is None else self.days
        spans = () if self.off else (_merge(self.spans) if self.spans else _FULL_DAY)
        return _Rule(days, self.ph, spans, self.off)


def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        # A merged span longer than a day could not be written back as HH:MM-HH:MM.
        if out and start <= out[-1][1] and max(end, out[-1][1]) - out[-1][0] <= 1440:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return tuple(out)


def _day_range(first: int, last: int) -> frozenset[int]:
    # Ranges wrap round the week: "Fr-Mo" is Friday to Monday.
    return frozenset((first + i) % 7 for i in range((last - first) % 7 + 1))


def _cn_days(m: re.Match) -> list[tuple]:
    days: set[int] = set()
    prev = None
    for sep, ch in re.findall(r"(-)?\s*(?:周|星期|礼拜)?([一二三四五六日天七])", m[0]):
        day = _CN_DAYS[ch]
        days |= _day_range(prev, day) if sep and prev is not None else {day}
        prev = day
    return [("days", frozenset(days), False, True)]


def _osm_days(m: re.Match) -> list[tuple]:
    first = _DAY_NAMES.index(m[1].title())
    last = _DAY_NAMES.index(m[2].title()) if m[2] else first
    return [("days", _day_range(first, last), False, True)]


def _clock(m: re.Match, n: str, prefix: str | None) -> int:
    hour = int(m[n + "h"])
    minute = 30 if m[n + "half"] else int(m[n + "m"] or m[n + "m2"] or 0)
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise _ParseError(f"no such time {m[0].strip()!r}")
    if (prefix in _PM and hour < 12) or (prefix == "中午" and hour < 6):
        hour += 12
    return hour * 60 + minute


def _span(m: re.Match) -> list[tuple]:
    if not any(m[g] for g in ("sm", "sk", "em", "ek")):
        raise _ParseError(f"bare numbers are not a time range: {m[0].strip()!r}")
    start = _clock(m, "s", m["sp"])
    end = _clock(m, "e", m["ep"] or m["sp"])
    if not m["ep"] and end <= start:
        # "下午2点-5点" is 14-17, but in "晚上8点-2点" the 2 is after midnight.
        end = _clock(m, "e", None)
    if start >= 1440 or end == start:
        raise _ParseError(f"empty time range {m[0].strip()!r}")
    return [("span", (start, end + 1440 if end < start else end))]


def _time(n: str) -> str:
    return (rf"(?:(?P<{n}p>上午|早上|早晨|早|中午|下午|傍晚|晚上|夜间|晚|凌晨|次日|翌日)\s*)?"
            rf"(?P<{n}h>[0-9]{{1,2}})(?:[:.](?P<{n}m>[0-9]{{2}})"
            rf"|(?P<{n}k>[点时])(?:(?P<{n}half>半)|(?P<{n}m2>[0-9]{{1,2}})分?)?)?")


def _days(days: frozenset[int], ph: bool = False, mergeable: bool = True) -> list[tuple]:
    return [("days", days, ph, mergeable)]


_OSM_DAY = "(mo|tu|we|th|fr|sa|su)"
# Tried in order at each position, so longer phrases come before their prefixes.
_LEXICON: list[tuple[re.Pattern, Callable[[re.Match], list[tuple]]]] = [
    (re.compile(p, re.I), f) for p, f in (
        (r"[;\n\r。]+", lambda m: [("sep",)]),
        (r"[\s,、/|()\[\]【】《》<>:.!?\"'“”·]+", lambda m: []),
        (r"24\s*/\s*7|7\s*[x×*]\s*24\s*(?:小时|h)?",
         lambda m: _days(_ALL_DAYS) + [("span", _FULL_DAY[0])]),
        (r"除(?:法定)?(?:节假日|假日)外", lambda m: _days(frozenset(), True) + [("off",)]),
        (r"全天24小时|全天候|全天|24\s*(?:小时|hours?|hrs?|h)(?![a-z])",
         lambda m: [("span", _FULL_DAY[0])]),
        # "全年无休" is a statement, not a day list, so it never absorbs a
        # following "节假日" into one selector.
        (r"全年无休", lambda m: _days(_ALL_DAYS, mergeable=False)),
        (r"每天|每日|天天|全周", lambda m: _days(_ALL_DAYS)),
        (r"工作日", lambda m: _days(frozenset(range(5)))),
        (r"周末|双休日", lambda m: _days(frozenset({5, 6}))),
        (r"(?:法定)?节假日|法定假日|公众假期|节日|假日|ph(?![a-z])",
         lambda m: _days(frozenset(), True)),
        (r"(?:周|星期|礼拜)[一二三四五六日天七](?:\s*[-、,]?\s*(?:周|星期|礼拜)?[一二三四五六日天七])*",
         _cn_days),
        (rf"{_OSM_DAY}(?:\s*-\s*{_OSM_DAY})?(?![a-z])", _osm_days),
        (rf"{_time('s')}\s*-\s*{_time('e')}", _span),
        (r"off|closed|休息|休馆|闭馆|关闭|不开放|暂停开放|停止开放|除外|休", lambda m: [("off",)]),
        (r"开放时间|营业时间|办公时间|服务时间|工作时间|时间|对外开放|开放|营业|办公|服务"
         r"|照常|正常|以及|均|为|每|及|和|与|逢", lambda m: []),
    )
]


def _tokens(text: str) -> list[tuple]:
    text = unicodedata.normalize("NFKC", text).translate(_DASHES)
    out: list[tuple] = []
    pos = 0
    while pos < len(text):
        for pattern, handler in _LEXICON:
            m = pattern.match(text, pos)
            if m and m.end() > pos:
                out += handler(m)
                pos = m.end()
                break
        else:
            raise _ParseError(f"unrecognised text {text[pos:pos + 12]!r}")
    return out


def _rules(text: str) -> tuple[_Rule, ...]:
    rules: list[_Rule] = []
    draft, last = _Draft(), "sep"

    def push() -> None:
        rule = draft.rule()
        if rule is not None:
            rules.append(rule)

    tokens = _tokens(text)
    for i, tok in enumerate(tokens):
        kind = tok[0]
        if kind == "sep":
            push()
            draft = _Draft()
        elif kind == "days":
            _, days, ph, mergeable = tok
            following = tokens[i + 1][0] if i + 1 < len(tokens) else "sep"
            fresh = not draft.spans and not draft.off
            if last == "days" and fresh and draft.mergeable and mergeable:
                # A list of days: "周六、周日", "Mo,We,Fr", "周末及节假日".
                draft.days, draft.ph = draft.days | days, draft.ph or ph
            elif draft.days is None and (fresh or following not in ("span", "off")):
                # Either a rule opening with its days, or days written after
                # the hours they qualify: "8:00-20:00（周一至周五）".
                draft.days, draft.ph, draft.mergeable = days, ph, mergeable
            else:
                push()
                draft = _Draft(days, ph, mergeable)
        elif kind == "span":
            if draft.off:
                raise _ParseError("hours given for a day marked closed")
            draft.spans.append(tok[1])
        else:
            if draft.spans:
                raise _ParseError("a day marked closed also has hours")
            draft.off = True
        last = kind
    push()
    return tuple(rules)


def _week(rules: tuple[_Rule, ...]) -> list[tuple[tuple[int, int], ...]]:
    # Holiday-only rules name no weekday, so they drop out here: this is where
    # PH is ignored for lack of a holiday calendar.
    week: list[tuple[tuple[int, int], ...]] = [()] * 7
    for rule in rules:
        for day in rule.days:
            week[day] = rule.spans
    return week


def _hhmm(minutes: int) -> str:
    minutes = minutes - 1440 if minutes > 1440 else minutes
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _format_days(days: frozenset[int]) -> str:
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return ",".join(_DAY_NAMES[a] if a == b else f"{_DAY_NAMES[a]}-{_DAY_NAMES[b]}" for a, b in runs)


def _format_rule(rule: _Rule) -> str:
    if rule.days == _ALL_DAYS and not rule.ph:
        if rule.off or rule.spans == _FULL_DAY:
            return "off" if rule.off else "24/7"
        selector = "Mo-Su"
    else:
        selector = ",".join(filter(None, (_format_days(rule.days), "PH" if rule.ph else "")))
    if rule.off:
        return f"{selector} off"
    return f"{selector} " + ",".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in rule.spans)


def _to_osm(rules: tuple[_Rule, ...]) -> str:
    week = _week(rules)
    if rules and not any(r.ph for r in rules) and all(d[:1] and d[0][0] == 0 and d[0][1] >= 1440
                                                      for d in week):
        return "24/7"
    return "; ".join(_format_rule(r) for r in rules)


def parse_opening_hours(text: str | None) -> OpeningHours:
    """Understand opening hours as union offices write them.

    Parameters
    ----------
    text : str or None
        Chinese free text (``周一至周五 9:00-17:00，周六 9:00-12:00``,
        ``24小时``, ``工作日 8点-20点``, full-width characters welcome) or
        OSM ``opening_hours`` syntax (``Mo-Fr 08:00-18:00; PH off``). None and
        a missing spreadsheet cell (NaN) count as empty.

    Returns
    -------
    OpeningHours
        Never raises: text that is not understood gives ``ok=False``, the raw
        text kept, and a bilingual ``message`` saying what was not understood.
    """
    # Spreadsheet imports hand us NaN for empty cells, not None.
    if text is None or (isinstance(text, float) and math.isnan(text)):
        raw = ""
    else:
        raw = text if isinstance(text, str) else str(text)
    if not raw.strip():
        return OpeningHours(raw, "", False, True, "")
    try:
        rules = _rules(raw)
    except _ParseError as exc:
        return OpeningHours(raw, "", False, False, f"{_FAIL}: {exc}")
    osm = _to_osm(rules)
    return OpeningHours(raw, osm, osm == "24/7", True, "")


@lru_cache(maxsize=4096)
def _week_of(osm: str) -> tuple[tuple[tuple[int, int], ...], ...] | None:
    # OpeningHours keeps only the OSM string, which our own grammar reads
    # back; caching makes "open now" over a whole registry cheap.
    rules = _rules(osm)
    return tuple(_week(rules)) if any(r.days for r in rules) else None


def is_open(hours: OpeningHours | str | None, at: datetime | None = None) -> bool | None:
    """Whether a station is open at a moment.

    Parameters
    ----------
    hours : OpeningHours, str or None
        Parsed hours, or text to parse.
    at : datetime, optional
        The moment; default now. Naive datetimes are read as local time in
        :data:`geo.settings.TIMEZONE`, aware ones are converted to it.

    Returns
    -------
    bool or None
        None when the hours are unknown or were not understood. Public
        holiday (PH) rules are ignored, as we have no holiday calendar.
    """
    if not isinstance(hours, OpeningHours):
        hours = parse_opening_hours(hours)
    if not hours.ok or not hours.osm:
        return None
    try:
        week = _week_of(hours.osm)
    except _ParseError:  # an OpeningHours built by hand with an osm string we cannot read
        return None
    if week is None:
        return None
    if at is None:
        at = datetime.now(_TZ)
    at = at.replace(tzinfo=_TZ) if at.tzinfo is None else at.astimezone(_TZ)
    minute, day = at.hour * 60 + at.minute, at.weekday()
    if any(s <= minute < e for s, e in week[day]):
        return True
    # After midnight, the previous day's overnight range may still be running.
    return any(s <= minute + 1440 < e for s, e in week[(day - 1) % 7])
