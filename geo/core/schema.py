"""The canonical registry schema: layers, fields, facility vocabulary, status.

One schema serves all three layers. ``docs/schema.md`` documents it for
people; this module is the single source the code reads, so the two must
change together.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable

# --------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One registry layer."""

    code: str
    zh: str
    en: str
    id_prefix: str
    subtypes: tuple[str, ...]
    #: Words in a free-text type column that identify this layer.
    keywords: tuple[str, ...]


KINDS: dict[str, Kind] = {
    k.code: k
    for k in (
        Kind("rest_station", "户外劳动者驿站", "Rest station", "RS",
             ("工会驿站", "户外劳动者服务站点", "爱心驿站", "暖蜂驿站", "暖心水站"),
             ("驿站", "服务站点", "户外劳动者", "暖蜂", "爱心", "水站", "rest", "outdoor")),
        Kind("driver_home", "司机之家", "Driver home", "DH",
             ("司机之家", "司机驿站"),
             ("司机", "driver", "货车", "truck")),
        Kind("legal_aid", "法律服务站点", "Legal aid point", "LA",
             ("工会法律服务站点", "法律援助工作站", "维权服务站", "劳动争议调解室"),
             ("法律", "法援", "维权", "调解", "律师", "legal", "law")),
    )
}


def parse_kind(text: str | None) -> tuple[str, str] | None:
    """Map a free-text type such as ``暖蜂驿站`` or ``driver_home`` to a layer.

    Returns
    -------
    tuple or None
        ``(kind, subtype)``; ``subtype`` is the matching official subtype, or
        the text itself when only a keyword matched. ``None`` if no layer fits.
    """
    if text is None:
        return None
    raw = str(text).strip()
    if not raw:
        return None
    low = raw.lower().replace(" ", "_")
    if low in KINDS:
        return low, ""
    for kind in KINDS.values():
        if low in (kind.en.lower().replace(" ", "_"), kind.zh):
            return kind.code, ""
        for sub in kind.subtypes:
            if sub in raw:
                return kind.code, sub
    # Driver and legal words are checked before the generic "驿站", because
    # "司机驿站" is a driver home, not a rest station.
    for code in ("driver_home", "legal_aid", "rest_station"):
        if any(word in low for word in KINDS[code].keywords):
            return code, raw
    return None


# --------------------------------------------------------------------------
# Facilities
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Facility:
    """One entry of the controlled facility vocabulary."""

    code: str
    zh: str
    en: str
    icon: str
    #: Words that mean this facility in union offices' files (lower case).
    synonyms: tuple[str, ...]


FACILITIES: dict[str, Facility] = {
    f.code: f
    for f in (
        Facility("drinking_water", "饮用水", "Drinking water", "💧",
                 ("饮用水", "饮水", "喝水", "热水", "开水", "直饮水", "饮水机", "茶水", "凉茶", "water", "drinking water")),
        Facility("toilet", "卫生间", "Toilet", "🚻",
                 ("卫生间", "厕所", "洗手间", "公厕", "如厕", "toilet", "restroom", "wc")),
        Facility("rest_seats", "休息座椅", "Rest seats", "🪑",
                 ("休息座椅", "座椅", "桌椅", "休息", "歇脚", "休息区", "seats", "seating", "rest")),
        Facility("microwave", "热饭/微波炉", "Microwave / heating food", "🍱",
                 ("微波炉", "热饭", "加热", "餐食加热", "microwave", "heating food")),
        Facility("phone_charging", "手机充电", "Phone charging", "🔌",
                 ("手机充电", "充电宝", "充电", "phone charging", "charging")),
        Facility("ebike_charging", "电动车充电/换电", "E-bike charging / battery swap", "🔋",
                 ("电动车充电", "电瓶车充电", "电单车充电", "电动自行车充电", "换电", "换电柜", "换电池",
                  "ebike charging", "e-bike charging", "battery swap")),
        Facility("first_aid", "急救药箱", "First-aid kit", "🩹",
                 ("急救药箱", "医药箱", "药箱", "急救包", "急救箱", "应急药品", "常用药品", "药品", "first aid", "first-aid kit")),
        Facility("aed", "AED除颤仪", "AED", "❤️",
                 ("aed", "除颤仪", "除颤器", "自动体外除颤器")),
        Facility("shelter", "空调/避暑避雨", "Air-conditioning / shelter", "❄️",
                 ("空调", "避暑", "纳凉", "遮阳", "避雨", "遮风挡雨", "取暖", "防暑降温", "冷气",
                  "air-conditioning", "air conditioning", "shelter")),
        Facility("wifi", "无线网络", "Wi-Fi", "📶",
                 ("wifi", "wi-fi", "无线网络", "无线网", "上网")),
        Facility("reading", "阅读", "Reading", "📚",
                 ("阅读", "书报", "图书", "书籍", "书屋", "reading", "books")),
        Facility("ebike_repair", "电动车维修/打气", "E-bike repair", "🔧",
                 ("电动车维修", "维修", "打气", "充气", "修车", "补胎", "repair")),
        Facility("shower", "淋浴", "Shower", "🚿",
                 ("淋浴", "洗澡", "沐浴", "shower")),
        Facility("laundry", "洗衣", "Laundry", "🧺",
                 ("洗衣", "洗衣机", "laundry")),
        Facility("truck_parking", "货车停车", "Truck parking", "🚛",
                 ("货车停车", "停车", "停车场", "车位", "truck parking", "parking")),
        Facility("meals", "餐饮", "Meals", "🍚",
                 ("餐饮", "用餐", "就餐", "食堂", "快餐", "爱心餐", "简餐", "meals", "food")),
        Facility("legal_consultation", "法律咨询", "Legal consultation", "⚖️",
                 ("法律咨询", "法律援助", "法律服务", "律师", "维权", "legal consultation", "lawyer", "legal aid")),
        Facility("mediation", "调解", "Mediation", "🤝",
                 ("劳动争议调解", "调解", "mediation")),
        Facility("job_services", "就业服务", "Job services", "💼",
                 ("就业服务", "就业", "招聘", "职业介绍", "技能培训", "培训", "job services", "jobs")),
        Facility("psych_support", "心理疏导", "Psychological support", "💬",
                 ("心理疏导", "心理咨询", "心理", "psychological support", "counselling", "counseling")),
    )
}

# Longest synonym first, so "电动车充电" wins over "充电" and "劳动争议调解"
# is not read as the bare "调解" of another entry.
_SYNONYMS = sorted(
    ((syn, f.code) for f in FACILITIES.values() for syn in (*f.synonyms, f.code, f.zh.lower(), f.en.lower())),
    key=lambda pair: -len(pair[0]),
)
# Whole-word lookup; the first entry of _SYNONYMS wins, as in the scan.
_EXACT_SYNONYMS: dict[str, str] = {}
for _pair in _SYNONYMS:
    _EXACT_SYNONYMS.setdefault(*_pair)
del _pair

#: What separates the items of a facilities cell (Chinese and Latin commas, semicolons, slashes ...).
FACILITY_SPLIT = re.compile(r"[、，,;；/|｜\n\t]+")


def _facility_code(token: str) -> str | None:
    """The vocabulary code of one facility word, or ``None``: exact synonym first, then a contained one."""
    low = token.lower()
    return _EXACT_SYNONYMS.get(low) or next((c for syn, c in _SYNONYMS if syn in low), None)


def _facility_words(part: str) -> list[tuple[str, str | None]]:
    """Split one part of a facility cell into ``(word, code or None)`` pairs.

    A part naming one facility ("drinking water", "电动车充电") is kept
    whole. Otherwise it is split on spaces: "饮水 如厕 电动车充电" named
    three facilities, and matching the part as one word kept only the
    longest synonym and dropped the rest unseen. Neighbouring words that
    together name one facility ("first aid", "电动车 充电") are joined again.
    """
    words = part.split()
    whole = _EXACT_SYNONYMS.get(part.lower()) or _EXACT_SYNONYMS.get("".join(words).lower())
    if len(words) < 2 or whole:
        return [(part, whole or _facility_code(part))]
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(words):
        for j in range(len(words), i + 1, -1):  # longest run of words first
            span = words[i:j]
            code = _EXACT_SYNONYMS.get(" ".join(span).lower()) or _EXACT_SYNONYMS.get("".join(span).lower())
            if code:
                out.append((" ".join(span), code))
                i = j
                break
        else:
            out.append((words[i], _facility_code(words[i])))
            i += 1
    return out


def parse_facilities(text: str | Iterable[str] | None) -> tuple[list[str], list[str]]:
    """Split a facility cell and map each word to the vocabulary.

    Parameters
    ----------
    text : str or iterable of str or None
        A cell such as ``"饮用水、卫生间，手机充电;按摩椅"`` or ``"饮水 如厕
        电动车充电"`` (split on 、，,;；/ and newlines, then on spaces unless
        the words together name one facility) or an already-split list.

    Returns
    -------
    (list of str, list of str)
        Facility codes in vocabulary order, and the words that matched no
        entry, kept verbatim so nothing the user wrote is dropped.
    """
    if text is None:
        return [], []
    if isinstance(text, str):
        parts = FACILITY_SPLIT.split(text)
    else:
        parts = [p for item in text for p in FACILITY_SPLIT.split(str(item))]
    found: set[str] = set()
    other: list[str] = []
    for part in parts:
        part = " ".join(part.split())
        if not part.strip("。."):
            continue
        for word, code in _facility_words(part):
            token = word.strip().strip("。.")
            if not token or token.lower() in ("nan", "none", "无"):
                continue
            if code is None:
                other.append(token)
            else:
                found.add(code)
    return [c for c in FACILITIES if c in found], other


# --------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------

STATUSES: dict[str, tuple[str, str]] = {
    "open": ("开放", "Open"),
    "temporarily_closed": ("暂停开放", "Temporarily closed"),
    "closed": ("已关闭", "Closed"),
    "planned": ("规划中", "Planned"),
}

_STATUS_WORDS = (
    ("temporarily_closed", ("暂停", "暂时关闭", "临时关闭", "维修中", "装修", "temporar", "suspend")),
    ("closed", ("关闭", "停用", "撤销", "取消", "废止", "closed", "removed")),
    ("planned", ("规划", "拟建", "在建", "筹建", "planned", "proposed")),
    ("open", ("开放", "正常", "运营", "营业", "启用", "在用", "open", "active")),
)


def parse_status(text: str | None) -> str | None:
    """Map a status cell to ``open``/``temporarily_closed``/``closed``/``planned``.

    Empty cells mean ``open`` (a listed station is assumed to operate);
    ``None`` means the text was not understood.
    """
    if text is None:
        return "open"
    raw = str(text).strip().lower().replace(" ", "_")
    if raw in ("", "nan", "none"):
        return "open"
    if raw in STATUSES:
        return raw
    for code, words in _STATUS_WORDS:
        if any(w in raw for w in words):
            return code
    return None


# --------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One attribute of a station, with its storage type and labels."""

    name: str
    dtype: str  # "str", "int", "float", "bool", "list"
    zh: str
    en: str
    kinds: tuple[str, ...] = tuple(KINDS)  # layers that carry it


FIELDS: tuple[Field, ...] = (
    Field("id", "str", "编号", "ID"),
    Field("name", "str", "名称", "Name"),
    Field("kind", "str", "图层", "Layer"),
    Field("subtype", "str", "类型", "Type"),
    Field("address", "str", "地址", "Address"),
    Field("adcode", "str", "区划代码", "Adcode"),
    Field("city", "str", "城市", "City"),
    Field("district", "str", "区县", "District"),
    Field("lon", "float", "经度(WGS-84)", "Longitude (WGS-84)"),
    Field("lat", "float", "纬度(WGS-84)", "Latitude (WGS-84)"),
    Field("facilities", "list", "设施", "Facilities"),
    Field("facilities_other", "list", "其他设施", "Other facilities"),
    Field("opening_hours", "str", "开放时间", "Opening hours"),
    Field("opening_hours_osm", "str", "开放时间(标准格式)", "Opening hours (OSM syntax)"),
    Field("is_24h", "bool", "24小时开放", "Open 24 h"),
    Field("status", "str", "状态", "Status"),
    Field("operator", "str", "运营单位", "Operator"),
    Field("phone", "str", "电话", "Phone"),
    Field("title", "str", "荣誉称号", "Title"),
    Field("source", "str", "数据来源", "Source"),
    Field("source_id", "str", "来源编号", "Source ID"),
    Field("verified_at", "str", "核实日期", "Verified on"),
    Field("truck_parking_spaces", "int", "货车车位数", "Truck parking spaces", ("driver_home",)),
    Field("lawyer_hours", "str", "律师值班时间", "On-duty lawyer hours", ("legal_aid",)),
    Field("notes", "str", "备注", "Notes"),
    # Columns of the input file that map to no field, as a JSON object, so
    # nothing a union office wrote is lost on import.
    Field("extra", "str", "其他字段", "Other fields"),
    Field("is_sample", "bool", "示例数据", "Sample data"),
    # False keeps the phone, exact address and free text of a station out of
    # public exports (geo.registry.export.redact_private); empty means public.
    Field("public", "bool", "公开", "Public"),
    Field("version", "int", "版本", "Version"),
    Field("updated_at", "str", "更新时间", "Updated at"),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

#: Separator used where a list field is stored as text (GeoPackage, CSV).
LIST_SEP = ";"


def station_id(kind: str, source: str, source_id: str | None,
               name: str, lon: float, lat: float) -> str:
    """A stable identifier for a station.

    Derived from the source and its own id where the source has one, so a
    re-import of a newer file keeps every station's id; otherwise from name
    and position (to 1e-5 degrees, about 1 m).
    """
    if source_id:
        key = f"{source}|{source_id}"
    else:
        key = f"{source}|{name}|{lon:.5f}|{lat:.5f}"
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]
    return f"{KINDS[kind].id_prefix}-{digest}"
