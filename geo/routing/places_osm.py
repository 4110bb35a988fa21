"""Named places read out of an OpenStreetMap file, for the offline place search.

:func:`read_osm_places` reads the same PBF the road graphs are built from,
in passes of its own (the graph builder is not touched), and keeps the named
features a rider would look for: metro and rail stations, bus stations and
named bus stops, landmarks, malls, parks, hospitals, universities and schools,
industrial and business areas, residential compounds, villages and
neighbourhoods, and named streets. A way's position is the mean of its
nodes; a relation's the mean of its members' positions (good enough to put
a pin on a park or a campus, and it needs no polygon assembly, which would
be the slow part on a province extract).

:func:`merge_same_name` makes one place of same-name features close to each
other: the platforms, exits and stop positions of one station, the bus stops
either side of a road, the many pieces of one street.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict

import numpy as np
import osmium
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo import settings

#: Every kind :func:`classify` gives, with its weight in the ranking (lower first):
#: stations and districts before landmarks, landmarks before stops and streets.
OSM_KINDS: dict[str, int] = {
    "metro_station": 0, "rail_station": 0, "airport": 1, "bus_station": 2, "ferry_terminal": 2,
    "landmark": 3, "mall": 3, "park": 3, "hospital": 3, "university": 3, "industrial": 3,
    "business_area": 3, "town": 3, "village": 3, "neighbourhood": 3, "residential": 4, "market": 4,
    "government": 4, "school": 4, "bus_stop": 5, "road": 6,
}

_TOURISM = {"attraction", "museum", "theme_park", "zoo", "aquarium", "gallery", "viewpoint"}
_HISTORIC = {"monument", "castle", "fort", "city_gate", "archaeological_site", "ruins", "building", "temple"}
_AMENITY = {"bus_station": "bus_station", "ferry_terminal": "ferry_terminal", "hospital": "hospital",
            "university": "university", "college": "university", "school": "school",
            "marketplace": "market", "townhall": "government", "exhibition_centre": "landmark",
            "conference_centre": "landmark", "library": "landmark", "theatre": "landmark", "arts_centre": "landmark"}
_PLACE = {"town": "town", "village": "village", "hamlet": "village", "suburb": "neighbourhood",
          "quarter": "neighbourhood", "neighbourhood": "neighbourhood"}
_LANDUSE = {"industrial": "industrial", "commercial": "business_area", "residential": "residential"}
# Streets a rider can ride or walk (motorways and their links are not destinations).
_STREETS = {"trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "living_street",
            "pedestrian"}
# Latin names: the first of these present is the English name.
_EN_KEYS = ("name:en", "int_name")
# Other spellings worth matching (simplified and traditional Chinese, short and old names).
_ALT_KEYS = ("name:zh", "name:zh-Hans", "name:zh-Hant", "name:zh_pinyin", "short_name", "alt_name", "official_name")


# Letters, digits and CJK characters are kept; spaces, punctuation, "·" and "-" are not.
_DROP = re.compile(r"[\W_]+", re.UNICODE)


def fold_name(text: object) -> str:
    """A name folded for matching: NFKC (full-width to half-width), lower case, no separators.

    ``"福田站 "``, ``"福田 站"`` and ``"ＦＵＴＩＡＮ-Station"`` fold to
    ``"福田站"`` and ``"futianstation"``; ``None`` folds to ``""``.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return _DROP.sub("", unicodedata.normalize("NFKC", str(text)).lower())


def classify(tags) -> str | None:
    """The place kind of an OSM object's tags, or ``None`` when it is not a place a rider would look up.

    Parameters
    ----------
    tags
        Mapping of OSM tags (a pyosmium ``TagList`` or a ``dict``).

    Returns
    -------
    str or None
        One of :data:`OSM_KINDS`.
    """
    get = tags.get
    railway, pt, station = get("railway"), get("public_transport"), get("station")
    if railway in ("station", "halt") or pt == "station" or station in ("subway", "light_rail"):
        if station in ("subway", "light_rail", "monorail") or get("subway") == "yes" or get("light_rail") == "yes":
            return "metro_station"
        if railway in ("station", "halt") or get("train") == "yes":
            return "rail_station"
        if get("bus") == "yes":
            return "bus_station"
        return "rail_station" if get("ferry") != "yes" else "ferry_terminal"
    amenity = get("amenity")
    if amenity in _AMENITY:
        return _AMENITY[amenity]
    if get("highway") == "bus_stop":
        return "bus_stop"
    if get("aeroway") == "aerodrome":
        return "airport"
    if get("shop") in ("mall", "department_store"):
        return "mall"
    leisure = get("leisure")
    if leisure == "park":
        return "park"
    if leisure in ("stadium", "water_park"):
        return "landmark"
    if get("tourism") in _TOURISM or get("historic") in _HISTORIC:
        return "landmark"
    if get("place") in _PLACE:
        return _PLACE[get("place")]
    if get("landuse") in _LANDUSE:
        return _LANDUSE[get("landuse")]
    if get("highway") in _STREETS:
        return "road"
    return None


def _record(tags, kind: str, lon: float, lat: float) -> dict | None:
    name = (tags.get("name") or tags.get("name:zh") or "").strip()
    if not name or not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    name_en = next((tags.get(k).strip() for k in _EN_KEYS if tags.get(k) and tags.get(k).strip()), None)
    alts = []
    for key in _ALT_KEYS:
        for alt in (tags.get(key) or "").split(";"):
            if alt.strip() and alt.strip() != name:
                alts.append(alt.strip())
    return {"name": name, "name_en": name_en if name_en != name else None, "kind": kind,
            "lon": round(lon, 7), "lat": round(lat, 7), "alt_names": "\t".join(dict.fromkeys(alts))}


def _way_centre(way) -> tuple[float, float] | None:
    xs, ys = [], []
    for node in way.nodes:
        loc = node.location
        if loc.valid():
            xs.append(loc.lon)
            ys.append(loc.lat)
    if not xs:
        return None
    if len(xs) > 2 and xs[0] == xs[-1] and ys[0] == ys[-1]:
        xs, ys = xs[:-1], ys[:-1]  # a closed ring repeats its first node
    if not way.is_closed() and len(xs) > 2:
        # A line (a street, a platform): its middle vertex lies on it, a mean might not.
        mid = len(xs) // 2
        return xs[mid], ys[mid]
    return sum(xs) / len(xs), sum(ys) / len(ys)


def read_osm_places(pbf: str, *, bus_stops: bool = True, streets: bool = True) -> pd.DataFrame:
    """Every named place feature of an OpenStreetMap file, one row per OSM object.

    Parameters
    ----------
    pbf
        An ``.osm.pbf`` (or any format pyosmium reads).
    bus_stops
        Keep named ``highway=bus_stop`` nodes (the most numerous kind; merged
        with their twin across the road by :func:`merge_same_name`).
    streets
        Keep named streets (one row per way; :func:`merge_same_name` joins
        a street's pieces).

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``name_en`` (or ``None``), ``kind`` (see
        :data:`OSM_KINDS`), ``lon``, ``lat`` (WGS-84), ``alt_names``
        (tab-separated other spellings) and ``osm`` (``n123``, ``w45``, ``r6``).
    """
    path = str(pbf)
    rows: list[dict] = []
    # Pass 1: wanted relations and the members that place them.
    relations: list[tuple[str, object, list[tuple[str, int]]]] = []
    member_ways: set[int] = set()
    for rel in osmium.FileProcessor(path, osmium.osm.RELATION).with_filter(osmium.filter.KeyFilter("name")):
        kind = classify(rel.tags)
        if kind is None or kind in ("road", "bus_stop"):
            continue
        members = [(m.type, m.ref) for m in rel.members if m.type in ("n", "w")]
        if not members:
            continue
        relations.append((kind, dict(rel.tags), members, rel.id))
        member_ways.update(ref for t, ref in members if t == "w")

    # Pass 2: named nodes and ways, and the ways relations need, with node locations.
    way_centres: dict[int, tuple[float, float]] = {}
    proc = (osmium.FileProcessor(path, osmium.osm.NODE | osmium.osm.WAY).with_locations()
            .with_filter(osmium.filter.EmptyTagFilter().enable_for(osmium.osm.NODE)))
    for obj in proc:
        if obj.is_node():
            if "name" not in obj.tags:
                continue
            kind = classify(obj.tags)
            if kind is None or kind == "road" or (kind == "bus_stop" and not bus_stops):
                continue
            if obj.location.valid():
                rec = _record(obj.tags, kind, obj.location.lon, obj.location.lat)
                if rec:
                    rows.append({**rec, "osm": f"n{obj.id}"})
            continue
        wanted = obj.id in member_ways
        kind = classify(obj.tags) if "name" in obj.tags else None
        if kind == "road" and not streets:
            kind = None
        if kind is None and not wanted:
            continue
        centre = _way_centre(obj)
        if centre is None:
            continue
        if wanted:
            way_centres[obj.id] = centre
        if kind is not None:
            rec = _record(obj.tags, kind, *centre)
            if rec:
                rows.append({**rec, "osm": f"w{obj.id}"})
    locations = proc.node_location_storage

    # Relations: the mean of their members' positions.
    for kind, tags, members, rid in relations:
        xs, ys = [], []
        for typ, ref in members:
            if typ == "w" and ref in way_centres:
                x, y = way_centres[ref]
            elif typ == "n":
                try:
                    loc = locations.get(ref)
                except KeyError:
                    continue
                if not loc.valid():
                    continue
                x, y = loc.lon, loc.lat
            else:
                continue
            xs.append(x)
            ys.append(y)
        if xs:
            rec = _record(tags, kind, sum(xs) / len(xs), sum(ys) / len(ys))
            if rec:
                rows.append({**rec, "osm": f"r{rid}"})
    columns = ["name", "name_en", "kind", "lon", "lat", "alt_names", "osm"]
    return pd.DataFrame(rows, columns=columns)


def _metres(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Local plane coordinates in metres (equirectangular; exact enough over a few kilometres)."""
    k = math.pi / 180 * 6_371_000
    return np.column_stack([lon * k * np.cos(np.radians(lat)), lat * k])


def merge_same_name(places: pd.DataFrame) -> pd.DataFrame:
    """One row for each group of same-name places close to each other.

    Names are compared folded (:func:`geo.core.text.fold_name`). Places
    within ``settings.PLACES_MERGE_M`` of another of the same name are one
    group (streets within ``settings.PLACES_ROAD_MERGE_M``, so a long street
    chains into one); the group keeps the row of its best-weighted kind
    (the station node over its platforms and bus stops), the one nearest the
    group's middle among those, and the first English name any member has.

    Parameters
    ----------
    places
        Rows as :func:`read_osm_places` returns.

    Returns
    -------
    pandas.DataFrame
        The kept rows with a ``merged`` column (how many features each stands for).
    """
    if places.empty:
        return places.assign(merged=pd.Series(dtype="int64"))
    df = places.reset_index(drop=True)
    is_road = (df["kind"] == "road").to_numpy()
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (name, road) in enumerate(zip(df["name"], is_road)):
        groups[fold_name(name) + ("\x00road" if road else "")].append(i)
    xy = _metres(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
    weight = df["kind"].map(OSM_KINDS).fillna(9).to_numpy(int)
    # Pairs of same-name places within reach, over the whole table, then connected groups of them:
    # one vectorised pass instead of numpy calls per group (a province repeats 建设路 thousands of times).
    rows, cols = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for key, members in groups.items():
        if len(members) < 2:
            continue
        idx = np.asarray(members)
        reach = settings.PLACES_ROAD_MERGE_M if key.endswith("\x00road") else settings.PLACES_MERGE_M
        pairs = cKDTree(xy[idx]).query_pairs(reach, output_type="ndarray")
        rows.append(idx[pairs[:, 0]])
        cols.append(idx[pairs[:, 1]])
    n = len(df)
    i, j = np.concatenate(rows), np.concatenate(cols)
    _, label = connected_components(coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)), directed=False)
    count = np.bincount(label)
    cx = np.bincount(label, weights=xy[:, 0]) / count
    cy = np.bincount(label, weights=xy[:, 1]) / count
    off_centre = (xy[:, 0] - cx[label]) ** 2 + (xy[:, 1] - cy[label]) ** 2
    # Each group keeps its best-weighted kind, and of those the one nearest the group's middle.
    order = np.lexsort((off_centre, weight, label))
    keep = order[np.r_[True, label[order][1:] != label[order][:-1]]]
    merged = count[label[keep]]
    name_en = np.array([v if isinstance(v, str) and v else None for v in df["name_en"]], dtype=object)
    has_en = np.flatnonzero(name_en != None)  # noqa: E711 (element-wise)
    en_labels, first_en = np.unique(label[has_en], return_index=True)
    group_en = dict(zip(en_labels.tolist(), name_en[has_en[first_en]].tolist()))
    english = [name_en[k] or group_en.get(int(label[k])) for k in keep]
    out = df.iloc[keep].copy()
    out["name_en"] = english
    out["merged"] = merged.astype("int64")
    return out.reset_index(drop=True)
