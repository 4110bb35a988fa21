"""Offline place search: OSM places, districts and stations by Chinese, pinyin or English name.

Three sources answer one query, merged and ranked together:

* the **place index** of the network folder (``places.parquet`` beside the
  graphs), built from the same OSM file as the graphs by :func:`build_places`
  (what :mod:`geo.routing.places_osm` reads: stations, landmarks, malls,
  parks, villages, streets …);
* Guangdong's **cities and districts** (:mod:`geo.core.regions`), each at a
  point inside it;
* the registry's **public stations** (open or temporarily closed).

Every name is matched through its search keys, computed once (at index
build, or when a source is first loaded) and never per query: the folded
name and other spellings, the English name, the full pinyin without tones
(``futianzhan``) and the pinyin initials (``ftz``). A query is folded the
same way and matched exactly, as a prefix of a key, or inside a key.

Ranking: exact before prefix before substring; within each, the kind's
weight (stations and districts first, streets last), then the shorter name.
Same-name features close to each other are one result.

Why Parquet for the index: it is columnar and compressed (zstd), holds
strings without pickling (a ``.npz`` of text would need ``allow_pickle``),
loads with pyarrow (already a dependency) in a few milliseconds, and the
search itself runs in memory, so a database would add nothing; SQLite's FTS5
cannot find two-character Chinese substrings (its trigram tokenizer needs
three) nor rank by kind.
"""
from __future__ import annotations

import bisect
import functools
import logging
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pypinyin import lazy_pinyin

from geo import settings
from geo.core import regions
from geo.routing.places_osm import OSM_KINDS, fold_name, merge_same_name, read_osm_places

FORMAT = "geo-places"
FORMAT_VERSION = 1

#: Weight of every kind in the ranking, lower first (OSM kinds and the kinds added here).
KIND_WEIGHT: dict[str, int] = {
    **OSM_KINDS, "rest_station": 0, "driver_home": 0, "legal_aid": 0, "district": 1, "city": 1,
}

# Match classes, best first.
EXACT, PREFIX, SUBSTRING = 0, 1, 2
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Suffixes are sorted on this many characters: longer queries are rare, and checked one by one.
_SUFFIX_CHARS = 8
# Longest first, so 连山壮族瑶族自治县 loses its whole suffix.
_SUFFIXES = ("壮族瑶族自治县", "瑶族自治县", "自治县", "区", "县", "市")

_COLUMNS = ["name", "name_en", "kind", "lon", "lat", "district", "keys"]
_LOG = logging.getLogger(__name__)


def search_keys(name: str, *, name_en: str | None = None, alt_names: tuple[str, ...] = ()) -> list[str]:
    """The keys a place is found by: folded spellings, English, full pinyin and pinyin initials.

    Parameters
    ----------
    name
        The place's name (usually Chinese).
    name_en
        Its English name, if any.
    alt_names
        Other spellings (traditional characters, short or old names).

    Returns
    -------
    list of str
        Distinct keys, none empty, e.g. ``["福田站", "futianzhan", "ftz",
        "futianrailwaystation"]``.
    """
    keys: list[str] = []
    for text in (name, *alt_names):
        keys.append(fold_name(text))
        if _CJK.search(text or ""):
            keys.extend(_pinyin(unicodedata.normalize("NFKC", text)))
    if name_en:
        keys.append(fold_name(name_en))
    return [k for k in dict.fromkeys(keys) if k]


@functools.lru_cache(maxsize=65536)
def _pinyin(text: str) -> tuple[str, str]:
    """Full pinyin and initials of a name, folded; text that is not Chinese is kept as it is in both.

    One pypinyin call per distinct name (street and village names repeat
    across a province): the initials are the first letters of its syllables.
    """
    full, initials = [], []
    for part in lazy_pinyin(text, errors=lambda chars: "\x00" + chars):
        if part.startswith("\x00"):
            full.append(part[1:])
            initials.append(part[1:])
        else:
            full.append(part)
            initials.append(part[:1])
    return fold_name("".join(full)), fold_name("".join(initials))


@dataclass(frozen=True)
class Hit:
    """One matching place of one source, with what ranks it.

    Attributes
    ----------
    rank : tuple
        ``(match class, kind weight, name length, name)``: smaller is better.
    place : dict
        The API's fields: ``name``, ``name_en``, ``kind``, ``lon``, ``lat``, ``district``.
    """

    rank: tuple
    place: dict


class PlaceIndex:
    """Places and their search keys, ready for fast matching.

    Entries are sorted best-ranked first (kind weight, then name length), so
    the smallest entry numbers of a match are its best places. Exact and
    prefix matches come from the sorted keys by bisection; substring matches
    from a suffix array over all keys joined into one text (a binary
    search, whatever the size of the index).

    Parameters
    ----------
    table
        Columns ``name``, ``name_en``, ``kind``, ``lon``, ``lat``,
        ``district`` and ``keys`` (tab-separated, as :func:`search_keys`).
    """

    def __init__(self, table: pd.DataFrame) -> None:
        df = table.reset_index(drop=True)
        weight = df["kind"].map(KIND_WEIGHT).fillna(9).astype(int)
        order = np.lexsort((df["name"].to_numpy(str), df["name"].str.len().to_numpy(), weight.to_numpy()))
        df = df.iloc[order].reset_index(drop=True)
        self.table = df
        # Plain lists: reading one value of a list is a hundred times faster than DataFrame.at.
        self._weight = df["kind"].map(KIND_WEIGHT).fillna(9).astype(int).tolist()
        self._name = df["name"].astype(str).tolist()
        self._name_en = [v if isinstance(v, str) and v else None for v in df["name_en"]]
        self._kind = df["kind"].astype(str).tolist()
        self._lon = df["lon"].astype(float).tolist()
        self._lat = df["lat"].astype(float).tolist()
        self._district = [v if isinstance(v, str) and v else None for v in df["district"]]
        keys: list[str] = []
        owner: list[int] = []
        for i, joined in enumerate(df["keys"]):
            for key in str(joined).split("\t"):
                if key:
                    keys.append(key)
                    owner.append(i)
        by_key = sorted(range(len(keys)), key=keys.__getitem__)
        self._sorted = [keys[j] for j in by_key]
        self._sorted_owner = np.asarray(owner, dtype=np.int64)[by_key] if keys else np.zeros(0, np.int64)
        # "\n" never occurs in a folded key, so a match never spans two keys.
        self._blob = "\n" + "\n".join(keys) + "\n"
        lengths = np.fromiter((len(k) + 1 for k in keys), dtype=np.int64, count=len(keys))
        starts = np.concatenate([[1], 1 + np.cumsum(lengths)[:-1]]) if keys else np.zeros(0, np.int64)
        self._suffixes, self._suffix_owner = _suffix_array(self._blob, starts, np.asarray(owner, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.table)

    def match(self, folded: str, *, per_class: int | None = None) -> list[tuple[int, int]]:
        """``(match class, entry)`` of the entries a folded query matches, best first.

        Parameters
        ----------
        folded
            The query as :func:`geo.routing.places_osm.fold_name` folds it.
        per_class
            The best this many entries of each class (exact, prefix,
            substring) only; ``None`` for all.
        """
        if not folded or not len(self.table):
            return []
        n = per_class if per_class is not None else len(self.table)
        lo = bisect.bisect_left(self._sorted, folded)
        eq = bisect.bisect_right(self._sorted, folded, lo)
        hi = bisect.bisect_left(self._sorted, folded + "\U0010ffff", eq)
        exact = _smallest(self._sorted_owner[lo:eq], n)
        prefix = _smallest(self._sorted_owner[eq:hi], n + exact.size, exclude=exact)
        taken = np.union1d(exact, prefix)
        inside = self._inside(folded, n, taken)
        out = [(EXACT, e) for e in exact.tolist()]
        out += [(PREFIX, e) for e in prefix.tolist()]
        out += [(SUBSTRING, e) for e in inside.tolist()]
        return out

    def _inside(self, folded: str, n: int, taken: np.ndarray) -> np.ndarray:
        """The best ``n`` entries holding ``folded`` inside a key, beside those in ``taken``.

        A binary search of the suffix array finds every key position where
        the text begins, in time that grows with the log of the index size,
        not with the index (a scan of a province's keys takes milliseconds).
        """
        blob, suffixes = self._blob, self._suffixes
        head = folded[:_SUFFIX_CHARS]  # the suffixes are sorted by their first _SUFFIX_CHARS characters
        width = len(head)
        lo, hi = 0, len(suffixes)
        while lo < hi:
            mid = (lo + hi) // 2
            at = int(suffixes[mid])
            if blob[at:at + width] < head:
                lo = mid + 1
            else:
                hi = mid
        first, hi = lo, len(suffixes)
        while lo < hi:
            mid = (lo + hi) // 2
            at = int(suffixes[mid])
            if blob[at:at + width] <= head:
                lo = mid + 1
            else:
                hi = mid
        owners = self._suffix_owner[first:lo]
        if len(folded) > width and owners.size:
            keep = [blob.startswith(folded, int(at)) for at in suffixes[first:lo]]
            owners = owners[np.asarray(keep, dtype=bool)]
        return _smallest(owners, n, exclude=taken)

    def hits(self, folded: str, *, limit: int) -> list[Hit]:
        """The best ``limit`` matches per match class, as :class:`Hit` (enough for any merge).

        Parameters
        ----------
        folded
            The folded query.
        limit
            Results wanted in the end; up to ``4 * limit`` per class are
            returned so that merging with other sources and merging
            same-name places still leaves enough.
        """
        out: list[Hit] = []
        for cls, e in self.match(folded, per_class=4 * limit):
            place = {"name": self._name[e], "name_en": self._name_en[e], "kind": self._kind[e],
                     "lon": self._lon[e], "lat": self._lat[e], "district": self._district[e]}
            out.append(Hit((cls, self._weight[e], len(self._name[e]), self._name[e]), place))
        return out


def _suffix_array(blob: str, starts: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every position inside a key of ``blob``, sorted by the text that follows it, and the entry of each.

    Sorted on the first ``_SUFFIX_CHARS`` characters by one numpy lexsort
    over them packed into 64-bit words (no Python loop per position); a
    longer query is checked against the text after its first characters
    matched.
    """
    codes = np.frombuffer(blob.encode("utf-32-le"), dtype=np.uint32)
    inside = np.flatnonzero(codes != ord("\n"))
    # Each character becomes its rank among the distinct characters (in code point order, as Python
    # compares strings; 0 is the padding past the end), and four ranks of 16 bits make one 64-bit word.
    distinct, rank = np.unique(codes, return_inverse=True)
    if distinct.size >= 1 << 16:
        raise ValueError("too many distinct characters for the place index")
    padded = np.concatenate([rank.astype(np.uint64) + 1, np.zeros(_SUFFIX_CHARS, np.uint64)])
    words = []
    for w in range(0, _SUFFIX_CHARS, 4):
        word = np.zeros(inside.size, np.uint64)
        for j in range(w, w + 4):
            word = (word << np.uint64(16)) | padded[inside + j]
        words.append(word)
    suffixes = inside[np.lexsort(words[::-1])] if inside.size else inside  # lexsort: the last key is primary
    owners = owner[np.searchsorted(starts, suffixes, side="right") - 1] if suffixes.size else suffixes
    # 32-bit positions: half the memory, and a province's keys are far below 2**31 characters.
    return suffixes.astype(np.int32), owners.astype(np.int32)


def _smallest(owners: np.ndarray, n: int, *, exclude: np.ndarray | None = None) -> np.ndarray:
    """The ``n`` smallest distinct entries of ``owners`` (entries are stored best first), sorted."""
    if exclude is not None and exclude.size:
        owners = owners[~np.isin(owners, exclude)]
    if owners.size > 8 * n:
        # A prefix of one or two letters owns a large share of all keys: a
        # partial sort finds the smallest without sorting them all. An entry
        # has few keys, so the 8 * n smallest hold n distinct ones.
        owners = np.partition(owners, 8 * n - 1)[:8 * n]
    return np.unique(owners)[:n]


def _with_keys(places: pd.DataFrame) -> pd.DataFrame:
    out = places.copy()
    alts = out["alt_names"] if "alt_names" in out else pd.Series([""] * len(out), index=out.index)
    out["keys"] = ["\t".join(search_keys(n, name_en=e if isinstance(e, str) else None,
                                         alt_names=tuple(a for a in str(a or "").split("\t") if a)))
                   for n, e, a in zip(out["name"], out["name_en"], alts)]
    return out


def _district_names(lon, lat) -> list[str | None]:
    found = regions.locate(np.asarray(lon, float), np.asarray(lat, float))
    return [d if isinstance(d, str) and d else None for d in found["district"]]


# --------------------------------------------------------------------------
# The index file
# --------------------------------------------------------------------------


def places_path(*, directory: str | Path | None = None) -> Path:
    """The place index file of a network folder (``settings.network_dir()`` by default)."""
    return Path(directory if directory is not None else settings.network_dir()) / settings.PLACES_FILE


def build_places(pbf: str | Path, out_dir: str | Path, *, bus_stops: bool = True,
                 streets: bool = True) -> dict:
    """Read the named places of an OSM file and write the place index beside the graphs.

    Parameters
    ----------
    pbf
        The OpenStreetMap file the network is built from.
    out_dir
        The network folder; the index is ``out_dir / settings.PLACES_FILE``,
        written beside and renamed, so a reader never sees half a file.
    bus_stops, streets
        Keep named bus stops and named streets (see
        :func:`geo.routing.places_osm.read_osm_places`).

    Returns
    -------
    dict
        ``path``, ``features`` (OSM objects read), ``places`` (after
        merging same-name neighbours) and ``kinds`` (places per kind).
    """
    raw = read_osm_places(str(pbf), bus_stops=bus_stops, streets=streets)
    places = merge_same_name(raw)
    places["district"] = _district_names(places["lon"], places["lat"]) if len(places) else []
    table = _with_keys(places)[_COLUMNS]
    out = places_path(directory=out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({"format": FORMAT, "version": str(FORMAT_VERSION),
                                           "source": Path(str(pbf)).name})
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(arrow, tmp, compression="zstd")
    tmp.replace(out)
    return {"path": str(out), "features": int(len(raw)), "places": int(len(table)),
            "kinds": {k: int(v) for k, v in table["kind"].value_counts().items()}}


_LOCK = threading.Lock()
_LOADED: dict[str, tuple[tuple[int, int], PlaceIndex]] = {}


def load_places(*, directory: str | Path | None = None) -> PlaceIndex | None:
    """The place index of a network folder, loaded once per change of its file; ``None`` without one.

    Parameters
    ----------
    directory
        The network folder (``settings.network_dir()`` by default).

    Raises
    ------
    ValueError
        When the file is not a place index of this version (rebuild it
        with ``python -m geo network places PBF``).
    """
    path = places_path(directory=directory)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        known = _LOADED.get(str(path))
        if known and known[0] == stamp:
            return known[1]
        arrow = pq.read_table(path)
        meta = {k.decode(): v.decode() for k, v in (arrow.schema.metadata or {}).items()}
        if meta.get("format") != FORMAT or meta.get("version") != str(FORMAT_VERSION):
            raise ValueError(f"{path} is not a place index of version {FORMAT_VERSION}; "
                             f"rebuild it with: python -m geo network places PBF")
        index = PlaceIndex(arrow.to_pandas())
        _LOADED[str(path)] = (stamp, index)
        return index


def warm(*, directory: str | Path | None = None) -> None:
    """Load the district table and the network folder's place index now, so no search waits for them.

    A province's index takes a second or more to load (its suffix array is
    sorted then); a server calls this when it starts rather than making its
    first rider wait. An unusable index is left for the search to report.
    """
    region_places()
    try:
        load_places(directory=directory)
    except (ValueError, OSError):
        pass


# --------------------------------------------------------------------------
# Districts and stations
# --------------------------------------------------------------------------


def _short(name: str) -> str:
    """天河区 -> 天河; names that would shrink to one character stay whole (城区)."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _inside_point(geom) -> tuple[float, float]:
    c = geom.centroid
    p = c if geom.contains(c) else geom.representative_point()
    return round(float(p.x), 6), round(float(p.y), 6)


@functools.lru_cache(maxsize=1)
def region_places() -> PlaceIndex:
    """Guangdong's cities and districts as a :class:`PlaceIndex` (computed once per process).

    A district is found by its name, its short name (天河区 and 天河), with
    its city (广州天河), in pinyin and initials (``futian``, ``ftq``); its
    point lies inside it. The boundary file has no English names, so
    ``name_en`` is ``None`` (the pinyin still finds them).
    """
    rows = []
    try:
        cities = regions.load_boundaries("city")
        districts = regions.load_boundaries("district")
    except (FileNotFoundError, ValueError, OSError):
        return PlaceIndex(pd.DataFrame(columns=_COLUMNS))
    city_names = dict(zip(cities["adcode"], cities["name"]))
    for name, geom in zip(cities["name"], cities.geometry):
        lon, lat = _inside_point(geom)
        rows.append({"name": name, "name_en": None, "kind": "city", "lon": lon, "lat": lat, "district": None,
                     "keys": "\t".join(search_keys(name, alt_names=(_short(name),)))})
    for name, city_code, geom in zip(districts["name"], districts["city_adcode"], districts.geometry):
        city = city_names.get(city_code, "")
        if name == city:
            continue  # Dongguan and Zhongshan are their own district: listed once, as the city
        lon, lat = _inside_point(geom)
        alts = (_short(name), city + name, _short(city) + _short(name))
        rows.append({"name": name, "name_en": None, "kind": "district", "lon": lon, "lat": lat,
                     "district": name, "keys": "\t".join(search_keys(name, alt_names=alts))})
    return PlaceIndex(pd.DataFrame(rows))


# The last station table given and its index.
_STATION_CACHE: list[tuple[object, PlaceIndex]] = []
_EMPTY = PlaceIndex(pd.DataFrame(columns=_COLUMNS))


def station_places(stations: pd.DataFrame | None) -> PlaceIndex:
    """The public, existing stations of a registry table as a :class:`PlaceIndex`.

    Only stations whose ``public`` is not false and whose ``status`` is open
    or temporarily closed; only public fields (name, kind, position,
    district). The index is kept for the last table object given, so a
    caller that keeps its loaded registry (the API does, per file change)
    computes the pinyin once.

    Parameters
    ----------
    stations
        Registry stations (a GeoDataFrame, or a frame with ``lon``/``lat``).
    """
    if stations is None or not len(stations):
        return _EMPTY
    with _LOCK:
        if _STATION_CACHE and _STATION_CACHE[0][0] is stations:
            return _STATION_CACHE[0][1]
    df = stations
    if "public" in df.columns:
        df = df[df["public"].map(lambda v: v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                                 or bool(v))]
    if "status" in df.columns:
        df = df[df["status"].isin(["open", "temporarily_closed"]) | df["status"].isna()]
    if "lon" in df.columns and "lat" in df.columns:
        lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(float)
    else:
        lon, lat = df.geometry.x.to_numpy(float), df.geometry.y.to_numpy(float)
    ok = np.isfinite(lon) & np.isfinite(lat) & df["name"].notna().to_numpy()
    names = [str(n) for n in df["name"][ok]]
    table = pd.DataFrame({"name": names, "name_en": None, "kind": df["kind"][ok].astype(str).tolist(),
                          "lon": np.round(lon[ok], 7), "lat": np.round(lat[ok], 7)})
    table["district"] = _district_names(table["lon"], table["lat"]) if len(table) else []
    table["keys"] = ["\t".join(search_keys(n)) for n in names]
    index = PlaceIndex(table)
    with _LOCK:
        _STATION_CACHE[:] = [(stations, index)]
    return index


# --------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------


def search(query: str, *, stations: pd.DataFrame | None = None, limit: int = settings.PLACES_DEFAULT_LIMIT,
           directory: str | Path | None = None) -> list[dict]:
    """Places matching typed text: OSM places of the network folder, districts and public stations.

    Parameters
    ----------
    query
        What the user typed: Chinese (any part of a name), pinyin
        (``futian``, ``futianzhan``), pinyin initials (``ftz``) or English
        (any case).
    stations
        Registry stations to include (only public, existing ones are used).
    limit
        Most results.
    directory
        The network folder holding the place index (default
        ``settings.network_dir()``); without an index, districts and
        stations are still searched.

    Returns
    -------
    list of dict
        Best first (exact, prefix, substring; then stations and districts
        before landmarks, landmarks before streets; then shorter names),
        each with ``name``, ``name_en`` (or ``None``), ``kind``, ``lon``,
        ``lat`` (WGS-84) and ``district`` (the district's name, or
        ``None``). Same-name places within ``settings.PLACES_MERGE_M`` of
        each other appear once. An index that cannot be read is logged
        (its path and the reason, never the query) and left out. Text is as OSM or the registry holds it:
        escape it before putting it in HTML.
    """
    folded = fold_name(query)
    if not folded or limit < 1:
        return []
    sources = [region_places(), station_places(stations)]
    try:
        osm = load_places(directory=directory)
    except (ValueError, OSError, pa.ArrowException) as exc:
        # A damaged index or one of an older version: riders still find districts and stations.
        _LOG.warning("place index not used: %s", exc)
        osm = None
    if osm is not None:
        sources.append(osm)
    hits = sorted((h for src in sources for h in src.hits(folded, limit=limit)), key=lambda h: h.rank)
    out: list[dict] = []
    folded_names: list[str] = []
    for hit in hits:
        key = fold_name(hit.place["name"])
        if any(k == key and _same_place(hit.place, kept) for k, kept in zip(folded_names, out)):
            continue
        out.append(hit.place)
        folded_names.append(key)
        if len(out) >= limit:
            break
    return out


def _same_place(a: dict, b: dict) -> bool:
    """Two results of one name a rider would take for one: close by (a street: in the same district)."""
    if a["kind"] == b["kind"] == "road" and a["district"] and a["district"] == b["district"]:
        return True
    # Equirectangular distance: exact enough at a few hundred metres, and no numpy call per pair.
    k = math.pi / 180 * 6_371_000
    dx = (a["lon"] - b["lon"]) * k * math.cos(math.radians((a["lat"] + b["lat"]) / 2))
    dy = (a["lat"] - b["lat"]) * k
    return math.hypot(dx, dy) <= settings.PLACES_MERGE_M
