"""One accepted row in canonical form: the station record the registry stores, and its warnings."""
from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
from shapely import points

from geo.core import regions
from geo.core.hours import parse_opening_hours
from geo.core.schema import FIELD_NAMES, KINDS, parse_status, station_id
from geo.registry.cells import extra_object, is_public, is_truthy, notes_stored, parse_count, split_facilities


def region_label(adcode: str) -> str:
    """The name of the region with this adcode, for messages (the code itself if unknown)."""
    try:
        return regions.find_region(adcode).name
    except ValueError:
        return adcode


#: A registry id: the layer's prefix and ten hex digits.
ID_PATTERN = re.compile(r"^(RS|DH|LA)-[0-9a-f]{10}$")


def build_record(row: pd.Series, i: int, *, cells, kind: str, subtype: str, lon: float, lat: float,
                 where: pd.Series, source: str, extra_cols: list[str]) -> tuple[dict, list]:
    """One accepted row in canonical form, and its warnings.

    Parameters
    ----------
    row
        The row's original cells.
    i
        Its index in the file (0-based).
    cells
        ``cells(field)`` gives the list of that field's cleaned cell texts
        (cached by the caller).
    kind, subtype
        The layer and subtype decided for the row.
    lon, lat
        Its position, WGS-84.
    where
        ``adcode``, ``city`` and ``district`` the point lies in.
    source
        The data source when the row names none.
    extra_cols
        Unmapped columns, kept in ``extra``.

    Returns
    -------
    (dict, list of (str, dict))
        The record (canonical fields plus ``row``, 1-based) and its warning
        codes with their values.
    """
    warnings: list[tuple[str, dict]] = []
    get = lambda name: cells(name)[i]  # noqa: E731 - the column cache lives in the caller
    name = get("name")
    extra = extra_object(get("extra"))
    extra.update({c: str(row[c]) for c in extra_cols if str(row[c]).strip()})

    facilities, other, unmapped = split_facilities(get("facilities"), get("facilities_other"))
    if unmapped:
        warnings.append(("facility_unmapped", {"value": "、".join(unmapped)}))

    hours = parse_opening_hours(get("opening_hours"))
    if not hours.ok:
        warnings.append(("hours_unparsed", {"value": get("opening_hours")}))

    notes = notes_stored(get("notes"), get("status"))
    status = parse_status(get("status"))
    if status is None:
        warnings.append(("status_unknown", {"value": get("status")}))
        status = "open"

    spaces = None
    if get("truck_parking_spaces"):
        try:
            spaces = parse_count(get("truck_parking_spaces"))
        except ValueError:
            warnings.append(("bad_number", {"value": get("truck_parking_spaces"), "other": "truck_parking_spaces"}))
            extra["truck_parking_spaces"] = get("truck_parking_spaces")

    address = get("address")
    district = where["district"] if isinstance(where["district"], str) else ""
    city = where["city"] if isinstance(where["city"], str) else ""
    named = regions.district_named_in(address) if address else None
    if named and named not in (district, city) and not _same_place(named, district, city):
        warnings.append(("address_district_mismatch", {"value": named, "other": f"{city}{district}"}))

    src = get("source") or source
    source_id = get("source_id")
    given_id = get("id")
    rid = given_id if ID_PATTERN.match(given_id) and given_id[:2] == KINDS[kind].id_prefix \
        else station_id(kind, src, source_id or None, name, lon, lat)
    rec = {
        "id": rid, "name": name, "kind": kind, "subtype": get("subtype") or subtype,
        "address": address, "adcode": where["adcode"] if isinstance(where["adcode"], str) else "",
        "city": city, "district": district,
        "lon": round(float(lon), 7), "lat": round(float(lat), 7),
        "facilities": facilities, "facilities_other": other,
        "opening_hours": get("opening_hours"), "opening_hours_osm": hours.osm, "is_24h": bool(hours.is_24h),
        "status": status, "operator": get("operator"), "phone": get("phone"), "title": get("title"),
        "source": src, "source_id": source_id, "verified_at": get("verified_at"),
        "truck_parking_spaces": spaces if kind == "driver_home" else None,
        "lawyer_hours": get("lawyer_hours") if kind == "legal_aid" else "",
        "notes": notes, "is_sample": is_truthy(get("is_sample")), "public": is_public(get("public")),
        "version": 1, "updated_at": "",
        "extra": json.dumps(extra, ensure_ascii=False) if extra else "",
        "row": i + 1,
    }
    if kind != "driver_home" and get("truck_parking_spaces"):
        extra["truck_parking_spaces"] = get("truck_parking_spaces")
        rec["extra"] = json.dumps(extra, ensure_ascii=False)
    if kind != "legal_aid" and get("lawyer_hours"):
        extra["lawyer_hours"] = get("lawyer_hours")
        rec["extra"] = json.dumps(extra, ensure_ascii=False)
    return rec, warnings


def _same_place(named: str, district: str, city: str) -> bool:
    # "天河" in an address names 天河区; compare without the 区/县/市 suffix.
    strip = lambda s: re.sub(r"(自治县|区|县|市)$", "", s or "")  # noqa: E731
    return strip(named) in (strip(district), strip(city))


def to_geodataframe(records: list[dict]) -> gpd.GeoDataFrame:
    """Records of :func:`build_record` as a GeoDataFrame of points (WGS-84), even when there are none."""
    columns = list(FIELD_NAMES) + ["row"]
    df = pd.DataFrame(records, columns=columns)
    if df.empty:
        return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    return gpd.GeoDataFrame(df, geometry=points(df["lon"].to_numpy(), df["lat"].to_numpy()), crs="EPSG:4326")
