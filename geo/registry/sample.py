"""A deterministic, generated sample registry (示例数据 / sample data).

A fresh install needs something on the map before a union office has
imported its own list. :func:`generate_sample` makes plausible stations of
all three layers across Guangdong's 21 cities: Chinese names and addresses
that name the right city and district, facilities that fit the kind of
station, opening hours written in the many forms real lists use, and the
occasional closed station. Every row says it is sample data (``is_sample``,
``source="sample"`` and the notes), and the same seed always gives the same
rows, so the bundled file can be rebuilt byte for byte.

Nothing here is real: names, roads' house numbers, operators and phone
numbers are made up, and points are placed at random inside the district.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import settings
from geo.core import regions
from geo.core.hours import parse_opening_hours
from geo.core.schema import FACILITIES, FIELD_NAMES, KINDS, station_id

#: Share of each layer among the sample stations.
KIND_SHARES = {"rest_station": 0.70, "driver_home": 0.15, "legal_aid": 0.15}

# Relative number of stations per city: the Pearl River Delta's big cities
# have most outdoor workers and most stations.
_CITY_WEIGHTS = {
    "440100": 18.0, "440300": 18.0, "440600": 9.0, "441900": 9.0, "441300": 5.0,
    "442000": 4.0, "440700": 3.5, "440500": 3.5, "440800": 3.5, "440400": 3.0,
    "440900": 3.0, "441200": 2.5, "445200": 2.5, "441800": 2.5, "440200": 2.0,
    "441400": 2.0, "441600": 1.5, "441700": 1.5, "445100": 1.5, "441500": 1.5,
    "445300": 1.0,
}

# Weight of a district within its city; unlisted districts weigh 1. Urban
# cores are heavier, which is where delivery riders and sanitation workers
# (and so rest stations) concentrate.
_DISTRICT_WEIGHTS = {
    # 广州
    "440106": 5.0, "440104": 3.5, "440105": 3.5, "440111": 4.0, "440113": 3.5,
    "440103": 2.5, "440112": 2.5, "440114": 2.0, "440118": 1.5,
    # 深圳
    "440304": 4.5, "440305": 4.5, "440306": 5.0, "440307": 5.0, "440303": 3.0,
    "440309": 3.5, "440311": 1.5, "440310": 1.2,
    # 佛山
    "440604": 3.0, "440605": 4.0, "440606": 4.0,
    # 珠海, 汕头, 湛江, 茂名, 惠州, 江门, 肇庆, 梅州, 清远, 阳江, 河源, 潮州, 揭阳, 云浮, 韶关
    "440402": 4.0, "440507": 2.5, "440511": 2.5, "440802": 2.0, "440803": 2.0,
    "440902": 2.5, "441302": 3.0, "441303": 1.5, "440703": 2.5, "441202": 2.5,
    "441402": 2.5, "441802": 2.5, "441702": 2.5, "441602": 2.5, "445102": 2.5,
    "445202": 2.5, "445302": 2.0, "440203": 2.0, "440204": 2.0,
}

# Real roads of some urban districts, so the sample reads like the place.
_ROADS = {
    "440103": ("中山八路", "芳村大道", "康王路", "黄沙大道", "花地大道"),
    "440104": ("北京路", "中山五路", "东风中路", "环市东路", "解放北路", "起义路"),
    "440105": ("江南大道", "新港中路", "工业大道", "昌岗路", "琶洲大道"),
    "440106": ("体育西路", "天河路", "花城大道", "黄埔大道", "中山大道", "天河北路", "珠江东路"),
    "440111": ("白云大道", "机场路", "广园路", "同和路", "嘉禾路"),
    "440112": ("开创大道", "科学大道", "黄埔东路", "开发大道"),
    "440113": ("迎宾路", "市桥大道", "南村路", "亚运大道", "番禺大道"),
    "440114": ("新华路", "迎宾大道", "凤凰路"),
    "440303": ("人民南路", "东门中路", "深南东路", "笋岗路", "爱国路"),
    "440304": ("深南大道", "福华路", "彩田路", "益田路", "红荔路", "新洲路"),
    "440305": ("科技园南路", "南海大道", "后海大道", "学府路", "沙河西路", "蛇口工业大道"),
    "440306": ("宝安大道", "新安路", "创业路", "建安一路", "松福大道"),
    "440307": ("龙岗大道", "布吉路", "深惠路", "黄阁路", "清林路"),
    "440309": ("民治大道", "梅龙路", "观澜大道", "东环一路"),
    "440604": ("季华路", "汾江中路", "岭南大道", "绿景路"),
    "440605": ("海八路", "桂澜路", "南海大道", "佛平路"),
    "440606": ("德胜路", "大良新城路", "容桂大道", "伦教大道"),
    "440402": ("情侣路", "凤凰路", "人民东路", "九洲大道", "吉大路"),
    "441302": ("麦地路", "江北大道", "演达大道", "惠州大道"),
    # Dongguan's and Zhongshan's trunk roads run through many towns.
    "441900": ("莞太路", "东莞大道", "莞樟路", "莞龙路", "环城路", "莞深高速辅道"),
    "442000": ("兴中道", "博爱路", "中山港大道", "岐关西路", "105国道"),
}

# Ordinary road names found in almost every Guangdong town. None contains a
# district name, so an address names only the district it is in.
_GENERIC_ROADS = (
    "人民路", "解放路", "建设路", "东风路", "环城路", "滨江路", "新华路", "迎宾大道", "工业大道",
    "文化路", "府前路", "体育路", "沿江路", "朝阳路", "育才路", "青年路", "站前路", "世纪大道",
    "城南路", "城北路", "新城大道", "商业街", "华侨路", "东华路", "西湖路", "北环路", "南门路",
    "健康路", "园林路", "教育路", "振兴路", "富民路", "兴业路", "永安路", "金龙大道", "河堤路",
)

# Dongguan and Zhongshan have towns instead of districts.
_TOWNS = {
    "441900": ("南城街道", "东城街道", "莞城街道", "长安镇", "虎门镇", "厚街镇", "塘厦镇", "常平镇",
               "樟木头镇", "松山湖", "大朗镇", "凤岗镇"),
    "442000": ("石岐街道", "东区街道", "西区街道", "小榄镇", "古镇镇", "坦洲镇", "三乡镇", "火炬开发区",
               "南头镇", "黄圃镇"),
}

_STREETS = ("城东", "城西", "城南", "城北", "新城", "东华", "东门", "西门", "南门", "北门", "大塘", "龙塘")

# Trunk area codes, for phone numbers that look local.
_AREA_CODES = {
    "440100": "020", "440200": "0751", "440300": "0755", "440400": "0756", "440500": "0754",
    "440600": "0757", "440700": "0750", "440800": "0759", "440900": "0668", "441200": "0758",
    "441300": "0752", "441400": "0753", "441500": "0660", "441600": "0762", "441700": "0662",
    "441800": "0763", "441900": "0769", "442000": "0760", "445100": "0768", "445200": "0663",
    "445300": "0766",
}

# Probability of each facility per layer. Rest stations are about water, a
# seat and a charger; driver homes about parking, showers and a meal; legal
# points about advice.
_FACILITY_ODDS = {
    "rest_station": {
        "drinking_water": 0.97, "toilet": 0.70, "rest_seats": 0.95, "microwave": 0.60,
        "phone_charging": 0.90, "ebike_charging": 0.25, "first_aid": 0.65, "aed": 0.08,
        "shelter": 0.75, "wifi": 0.50, "reading": 0.30, "ebike_repair": 0.12,
    },
    "driver_home": {
        "drinking_water": 0.90, "toilet": 0.95, "rest_seats": 0.90, "microwave": 0.40,
        "phone_charging": 0.75, "first_aid": 0.50, "shelter": 0.50, "wifi": 0.65,
        "shower": 0.80, "laundry": 0.50, "truck_parking": 0.95, "meals": 0.70, "aed": 0.05,
    },
    "legal_aid": {
        "legal_consultation": 1.0, "mediation": 0.70, "drinking_water": 0.60, "rest_seats": 0.50,
        "wifi": 0.20, "job_services": 0.30, "psych_support": 0.30,
    },
}
_OTHER_FACILITIES = ("爱心雨伞", "老花镜", "针线包", "按摩椅", "血压计", "冰箱")

# Opening hours in the forms union offices write them, with weights.
_HOURS = {
    "rest_station": (
        ("24小时", 4), ("08:00-20:00", 4), ("7:00-22:00", 3), ("每天 8:00-18:00", 3),
        ("周一至周日 7:30-21:00", 2), ("Mo-Su 06:00-22:00", 1), ("周一至周五 9:00-17:00", 1),
        ("全天开放", 1), ("每天 9:00-12:00, 14:00-18:00", 1), ("周一至周六 8:00-19:00", 1),
    ),
    "driver_home": (
        ("24小时", 8), ("全天开放", 2), ("每天 6:00-23:00", 2), ("Mo-Su 00:00-24:00", 1),
        ("周一至周日 7:00-22:00", 1),
    ),
    "legal_aid": (
        ("周一至周五 9:00-17:00", 5), ("工作日 08:30-12:00, 14:00-17:30", 4),
        ("Mo-Fr 09:00-18:00; Sa 09:00-12:00", 2), ("周一至周五 9:00-12:00 14:00-17:30", 3),
        ("周一至周六 8:30-17:30", 2), ("周一至周五 8:30-17:30（节假日除外）", 2),
    ),
}
_LAWYER_HOURS = ("每周三 14:30-17:30", "周二、周四 9:00-12:00", "每周五下午", "每月第一、三周周五 9:00-12:00",
                 "周一至周五 9:00-12:00（预约）", "每周二 14:00-17:00")

_STATUS_ODDS = (("open", 0.92), ("temporarily_closed", 0.05), ("closed", 0.03))


def _district_weights(districts: pd.DataFrame) -> np.ndarray:
    rel = districts["adcode"].map(lambda c: _DISTRICT_WEIGHTS.get(c, 1.0)).to_numpy(dtype=float)
    city = districts["city_adcode"].to_numpy()
    w = np.zeros(len(districts))
    for code, weight in _CITY_WEIGHTS.items():
        members = city == code
        w[members] = weight * rel[members] / rel[members].sum()
    return w / w.sum()


def _choose_districts(districts: pd.DataFrame, n: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions of the district of each station.

    The first 21 stations go one to each city, so every city appears
    whatever ``n`` is (from 21 up); the rest follow the weights.
    """
    w = _district_weights(districts)
    city = districts["city_adcode"].to_numpy()
    first = []
    for code in sorted(_CITY_WEIGHTS)[:n]:
        members = np.flatnonzero(city == code)
        first.append(rng.choice(members, p=w[members] / w[members].sum()))
    rest = rng.choice(len(districts), size=max(n - len(first), 0), p=w)
    return np.concatenate([np.asarray(first, dtype=int), rest.astype(int)])


def _points_in(geom: shapely.Geometry, adcode: str, m: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``m`` points inside ``geom``, rounded to 1e-6 degrees.

    Half the candidates cluster around a point inside the district (stations
    gather in town centres), the rest spread uniformly. A candidate is kept
    only if, after rounding, it still locates in this district, so the
    written file agrees with the registry to the last digit.
    """
    minx, miny, maxx, maxy = geom.bounds
    centre = geom.point_on_surface()
    sigma = 0.25 * np.sqrt(geom.area)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    have = 0
    while have < m:
        k = max(4 * (m - have), 16)
        clustered = rng.random(k) < 0.5
        x = np.where(clustered, rng.normal(centre.x, sigma, k), rng.uniform(minx, maxx, k))
        y = np.where(clustered, rng.normal(centre.y, sigma, k), rng.uniform(miny, maxy, k))
        x, y = np.round(x, 6), np.round(y, 6)
        keep = regions.locate(x, y)["adcode"].to_numpy(dtype=object) == adcode
        xs.append(x[keep])
        ys.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(xs)[:m], np.concatenate(ys)[:m]


def _pick(rng: np.random.Generator, options, weights=None):
    if weights is None:
        return options[int(rng.integers(len(options)))]
    p = np.asarray(weights, dtype=float)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def _road(rng: np.random.Generator, adcode: str) -> str:
    own = _ROADS.get(adcode)
    if own and rng.random() < 0.75:
        return _pick(rng, own)
    return _pick(rng, _GENERIC_ROADS)


def _place_prefix(city: str, district: str, city_adcode: str,
                  rng: np.random.Generator) -> tuple[str, str, bool]:
    """Prefix of station names, the address before the road, and whether
    the prefix names a town.

    For Dongguan and Zhongshan, whose district is the city itself, a town
    takes the district's place.
    """
    if city_adcode in _TOWNS:
        town = _pick(rng, _TOWNS[city_adcode])
        return f"{city}{town}", f"{city}{town}", True
    return district, f"{city}{district}", False


def _name(kind: str, subtype: str, prefix: str, road: str, in_town: bool,
          rng: np.random.Generator) -> str:
    street = _pick(rng, _STREETS)
    # A Dongguan or Zhongshan prefix already ends in a town or sub-district.
    street_part = "" if in_town else f"{street}街道"
    if kind == "rest_station":
        place = road if rng.random() < 0.8 else f"{road}{_pick(rng, ('公园', '地铁站', '市场', '广场'))}"
        suffix = "户外劳动者服务站" if subtype == "户外劳动者服务站点" else subtype
        return f"{prefix}{place}{suffix}"
    if kind == "driver_home":
        place = _pick(rng, (f"{road}", "物流园", "货运市场", f"{road}加油站", "高速服务区", "物流中心", "汽车客运站"))
        return f"{prefix}{place}{subtype}"
    if subtype == "工会法律服务站点":
        return _pick(rng, (f"{prefix}总工会法律服务站", f"{prefix}{street_part}工会法律服务站"))
    if subtype == "劳动争议调解室":
        return f"{prefix}{street_part}劳动争议调解室"
    if subtype == "维权服务站":
        return f"{prefix}{road}职工维权服务站"
    return f"{prefix}{road}{subtype}"


def _operator(kind: str, city: str, prefix: str, rng: np.random.Generator) -> str:
    if kind == "rest_station":
        return _pick(rng, (f"{prefix}总工会", f"{prefix}总工会", f"{city}环卫工会", "中国邮政集团有限公司",
                           f"{city}城市管理和综合执法局"))
    if kind == "driver_home":
        return _pick(rng, (f"{city}交通运输局", f"{city}货运物流协会", f"{city}交通运输工会",
                           "中国石化销售股份有限公司广东石油分公司"))
    return _pick(rng, (f"{prefix}总工会", f"{prefix}总工会", f"{prefix}司法局"))


def _facilities(kind: str, rng: np.random.Generator) -> list[str]:
    odds = _FACILITY_ODDS[kind]
    draws = rng.random(len(odds))
    chosen = {code for (code, p), r in zip(odds.items(), draws) if r < p}
    return [code for code in FACILITIES if code in chosen]


def generate_sample(n: int = 3000, seed: int = 20261121) -> gpd.GeoDataFrame:
    """Generate the sample registry.

    Parameters
    ----------
    n : int
        Number of stations. From 21 up every city has at least one.
    seed : int
        Seed of the random generator; the same seed gives identical rows.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`geo.core.schema.FIELD_NAMES` in that order plus a Point
        ``geometry`` in EPSG:4326. List fields hold Python lists,
        ``truck_parking_spaces`` is ``None`` outside driver homes and
        ``lawyer_hours`` is ``""`` outside legal-aid points.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    districts = regions.load_boundaries("district")
    kinds = np.asarray(list(KIND_SHARES))[
        rng.choice(len(KIND_SHARES), size=n, p=list(KIND_SHARES.values()))]
    rows_of = _choose_districts(districts, n, rng)

    lon = np.empty(n)
    lat = np.empty(n)
    for pos in np.unique(rows_of):
        idx = np.flatnonzero(rows_of == pos)
        lon[idx], lat[idx] = _points_in(districts.geometry.iat[pos], districts["adcode"].iat[pos], idx.size, rng)
    where = regions.locate(lon, lat)

    base_day = date(2025, 11, 1)
    used_names: set[str] = set()
    records = []
    for i in range(n):
        kind = str(kinds[i])
        adcode, city, district = where["adcode"].iat[i], where["city"].iat[i], where["district"].iat[i]
        city_adcode = adcode[:4] + "00"
        subtype = _pick(rng, KINDS[kind].subtypes)
        prefix, address_head, in_town = _place_prefix(city, district, city_adcode, rng)
        for attempt in range(6):
            road = _road(rng, adcode)
            name = _name(kind, subtype, prefix, road, in_town, rng)
            if name not in used_names:
                break
        else:
            name = f"{name}{attempt + 2}号站"
        used_names.add(name)
        address = f"{address_head}{road}{int(rng.integers(1, 400))}号"
        if kind == "rest_station" and rng.random() < 0.2:
            address += _pick(rng, ("旁", "首层", "东侧", "公交站旁"))

        facilities = _facilities(kind, rng)
        other = [_pick(rng, _OTHER_FACILITIES)] if kind == "rest_station" and rng.random() < 0.06 else []
        texts, weights = zip(*_HOURS[kind])
        hours_text = _pick(rng, texts, weights)
        hours = parse_opening_hours(hours_text)
        status = _pick(rng, [s for s, _ in _STATUS_ODDS], [p for _, p in _STATUS_ODDS])
        title = ""
        r = rng.random()
        if kind == "rest_station":
            title = "省级示范驿站" if r < 0.03 else "市级示范驿站" if r < 0.10 else ""
        elif kind == "driver_home":
            title = "省级示范司机之家" if r < 0.08 else ""
        verified = base_day - timedelta(days=int(rng.integers(0, 540)))
        updated = datetime(verified.year, verified.month, verified.day, tzinfo=timezone.utc) + timedelta(
            days=int(rng.integers(0, 30)), seconds=int(rng.integers(0, 86400)))
        updated = min(updated, datetime(2025, 11, 20, tzinfo=timezone.utc))
        source_id = f"S{i + 1:06d}"
        records.append({
            "id": station_id(kind, "sample", source_id, name, float(lon[i]), float(lat[i])),
            "name": name,
            "kind": kind,
            "subtype": subtype,
            "address": address,
            "adcode": adcode,
            "city": city,
            "district": district,
            "lon": float(lon[i]),
            "lat": float(lat[i]),
            "facilities": facilities,
            "facilities_other": other,
            "opening_hours": hours_text,
            "opening_hours_osm": hours.osm if hours.ok else "",
            "is_24h": bool(hours.is_24h),
            "status": status,
            "operator": _operator(kind, city, prefix, rng),
            "phone": f"{_AREA_CODES[city_adcode]}-8{int(rng.integers(0, 10_000_000)):07d}",
            "title": title,
            "source": "sample",
            "source_id": source_id,
            "verified_at": verified.isoformat(),
            "truck_parking_spaces": int(rng.integers(5, 121)) if kind == "driver_home" else None,
            "lawyer_hours": _pick(rng, _LAWYER_HOURS) if kind == "legal_aid" else "",
            "notes": settings.SAMPLE_LABEL,
            "extra": "",
            "is_sample": True,
            "version": 1,
            "updated_at": updated.replace(microsecond=0).isoformat(),
        })

    df = pd.DataFrame(records, columns=list(FIELD_NAMES))
    # Keep None (not NaN) for stations without truck parking spaces.
    df["truck_parking_spaces"] = pd.Series([r["truck_parking_spaces"] for r in records], dtype=object)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
