"""The regions and service standards the coverage page offers, and their defaults."""
from __future__ import annotations

from geo import settings
from geo.analysis.standard import Standard
from geo.core.i18n import pick
from geo.core.regions import Region, find_region, load_boundaries

#: Weighting choices of the page.
WEIGHTINGS: tuple[str, ...] = ("area", "population", "points")

#: Coordinate systems a demand-point upload may be in.
POINT_CRS: tuple[str, ...] = ("auto", "wgs84", "gcj02", "bd09")


def province_adcode() -> str:
    """The service region's adcode (``settings.SERVICE_REGION``, Guangdong)."""
    return str(settings.SERVICE_REGION)


def city_choices() -> list[tuple[str, str]]:
    """``(adcode, name)`` of the province's cities, in adcode order."""
    cities = load_boundaries("city")
    return list(zip(cities["adcode"].astype(str), cities["name"].astype(str)))


def district_choices(city_adcode: str) -> list[tuple[str, str]]:
    """``(adcode, name)`` of a city's districts; empty for a city with no county level (东莞, 中山)."""
    d = load_boundaries("district")
    sub = d[(d["city_adcode"] == str(city_adcode)) & (d["adcode"] != str(city_adcode))]
    return list(zip(sub["adcode"].astype(str), sub["name"].astype(str)))


def region_for(city: str | None, district: str | None) -> Region:
    """The region picked on the page: a district, else a city, else the province."""
    return find_region(district or city or province_adcode())


def default_standard(kind: str) -> dict:
    """The settings' standard of a kind: ``mode``, ``unit`` (``min``/``m``) and ``value``."""
    base = settings.COVERAGE_STANDARDS.get(kind) or settings.COVERAGE_STANDARDS[settings.COVERAGE_DEFAULT_KINDS[0]]
    if base.get("minutes") is not None:
        return {"mode": base["mode"], "unit": "min", "value": float(base["minutes"])}
    return {"mode": base["mode"], "unit": "m", "value": float(base["meters"])}


def default_value(kind: str, unit: str) -> float:
    """The threshold prefilled for a kind in a unit: the settings' value, else 1,000 m or 15 min."""
    std = default_standard(kind)
    if std["unit"] == unit:
        return std["value"]
    return 1000.0 if unit == "m" else 15.0


def standard_text(standard: Standard, lang: str = "zh") -> str:
    """The standard in one language, e.g. ``户外劳动者驿站：电动自行车 15 分钟内``."""
    return pick(standard.describe(), lang)
