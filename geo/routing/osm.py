"""OpenStreetMap data in: download a named extract, read its roads with pyosmium.

:class:`RawWays` is what every builder (this reader or the synthetic city of
:mod:`geo.routing.synthetic`) hands to :func:`geo.routing.build.graph_from_ways`.
"""
from __future__ import annotations

import os
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geo import settings
from geo.routing.rules import HIGHWAY_CLASS_ID, TAG_KEYS


@dataclass
class RawWays:
    """Ways as read from OSM: node references, positions and tags.

    Attributes
    ----------
    way_ids : ndarray of int64, shape (w,)
    ptr : ndarray of int64, shape (w + 1,)
        Way ``i`` is ``refs[ptr[i]:ptr[i + 1]]``.
    refs : ndarray of int64
        OSM node ids, concatenated way by way.
    lon, lat : ndarray of float64
        WGS-84 position of each reference.
    tags : list of dict
        Tags of each way; or, when ``tag_id`` is given, the distinct tag sets
        (way ``i`` has ``tags[tag_id[i]]``), which keeps a province's million
        ways to a few hundred thousand dictionaries.
    tag_id : ndarray of int32, optional
        Each way's tag set in ``tags``.
    """

    way_ids: np.ndarray
    ptr: np.ndarray
    refs: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    tags: list[dict[str, str]]
    tag_id: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.way_ids)

    def tag_sets(self) -> tuple[list[dict[str, str]], np.ndarray]:
        """The distinct tag sets and each way's position among them."""
        if self.tag_id is not None:
            return self.tags, self.tag_id
        return self.tags, np.arange(len(self.tags), dtype=np.int32)


# Location.x of a node the file does not have (libosmium's undefined_coordinate).
_UNDEFINED = 2147483647

#: Tags a graph keeps from a way: what the rules read, and its name and ref.
KEPT_TAGS = frozenset(TAG_KEYS) | {"name", "name:zh", "ref"}


def read_osm_ways(path: str | Path, *, verbose: bool = False, index: str | None = None) -> RawWays:
    """Read every ``highway`` way of an ``.osm.pbf`` (or .osm/.osm.bz2) file.

    pyosmium reads the file in its own threads, keeps every node's position
    in a location index (in memory, or on disk for very large files) and
    hands over only the highway ways with their positions; references and
    positions go straight into numpy blocks and equal tag sets are stored
    once, so memory follows the roads, not the file.

    Parameters
    ----------
    path
        OpenStreetMap file, read with pyosmium.
    verbose
        Show progress (percent of the file read, rate, time left) on
        standard error.
    index
        pyosmium location index (``"flex_mem"``, ``"dense_file_array,FILE"``
        ...); default ``settings.OSM_LOCATION_INDEX``.

    Returns
    -------
    RawWays
        A way whose nodes are partly missing from the file (an extract cut at
        its border) is kept as its runs of nodes that have positions.
    """
    import osmium

    from geo.routing.progress import FileProgress

    proc = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations(index or settings.OSM_LOCATION_INDEX)
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway")))
    # array.array grows in C with 8 bytes an element, where a list holds a Python object per element.
    way_ids, counts, tag_ids = array("q"), array("q"), array("i")
    refs, xs, ys = array("q"), array("i"), array("i")
    tag_sets: list[dict[str, str]] = []
    tag_lookup: dict[tuple, int] = {}

    with FileProgress(path, "读取 / reading OSM", stream=sys.stderr if verbose else None):
        for way in proc:
            if way.tags.get("highway") not in HIGHWAY_CLASS_ID:
                continue
            key = tuple(sorted((t.k, t.v) for t in way.tags if t.k in KEPT_TAGS))
            tid = tag_lookup.get(key)
            if tid is None:
                tid = tag_lookup[key] = len(tag_sets)
                tag_sets.append(dict(key))
            w_refs, w_x, w_y = [], [], []
            for nd in way.nodes:
                # Fixed-point coordinates (1e-7 degrees, OSM's own): one call less
                # per node than .valid() + .lon/.lat, on a province's millions.
                loc = nd.location
                x = loc.x
                if x == _UNDEFINED:  # node outside the extract: end the run here
                    _end_run(way.id, tid, w_refs, w_x, w_y, way_ids, counts, tag_ids, refs, xs, ys)
                    w_refs, w_x, w_y = [], [], []
                    continue
                w_refs.append(nd.ref)
                w_x.append(x)
                w_y.append(loc.y)
            _end_run(way.id, tid, w_refs, w_x, w_y, way_ids, counts, tag_ids, refs, xs, ys)
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(np.frombuffer(counts, dtype=np.int64), out=ptr[1:])

    def arr(a: array, dtype) -> np.ndarray:
        return np.frombuffer(a, dtype=dtype) if len(a) else np.zeros(0, dtype=dtype)

    # Divided as osmium's Location.lon does, so the degrees are the same doubles.
    lon = arr(xs, np.int32) / 1e7
    del xs
    lat = arr(ys, np.int32) / 1e7
    return RawWays(arr(way_ids, np.int64), ptr, arr(refs, np.int64), lon, lat, tag_sets, arr(tag_ids, np.int32))


def _end_run(way_id, tid, w_refs, w_x, w_y, way_ids, counts, tag_ids, refs, xs, ys) -> None:
    if w_refs:
        way_ids.append(way_id)
        counts.append(len(w_refs))
        tag_ids.append(tid)
        refs.extend(w_refs)
        xs.extend(w_x)
        ys.extend(w_y)


def extract_url(region: str) -> str:
    """Download address of a named OpenStreetMap extract (see ``settings.OSM_EXTRACTS``).

    Raises
    ------
    ValueError
        For a name not in ``settings.OSM_EXTRACTS``.
    """
    key = str(region).strip().lower()
    if key not in settings.OSM_EXTRACTS:
        raise ValueError(f"未知地区 / unknown extract {region!r}; known: {', '.join(settings.OSM_EXTRACTS)}")
    return settings.OSM_EXTRACTS[key]


def default_extract_path(region: str) -> Path:
    """Where :func:`download_extract` saves an extract unless told otherwise."""
    return settings.network_dir() / Path(extract_url(region)).name


def _progress(done: int, total: int | None) -> str:
    if total:
        return f"\r下载 / downloading: {done / 1e6:.1f} / {total / 1e6:.1f} MB ({100 * done / total:.0f}%)"
    return f"\r下载 / downloading: {done / 1e6:.1f} MB"


def download_extract(region: str = "guangdong", out: str | Path | None = None, *,
                     chunk_bytes: int = 1 << 20) -> Path:
    """Download a named OpenStreetMap extract with a progress message on standard error.

    The file is written beside its target and renamed when complete, so an
    interrupted download never leaves a truncated ``.pbf`` behind.

    Parameters
    ----------
    region
        A key of ``settings.OSM_EXTRACTS`` (``guangdong``).
    out
        Target file (or folder); default :func:`geo.settings.network_dir`.
    chunk_bytes
        Bytes read and written at a time.

    Returns
    -------
    Path
        The downloaded file.
    """
    import requests

    url = extract_url(region)
    target = Path(out) if out else default_extract_path(region)
    # A folder, existing or not ("--out network/"), gets the extract's own file name.
    if target.is_dir() or str(out).endswith(("/", os.sep)) or not target.name.endswith(".pbf"):
        target = target / Path(url).name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    with requests.get(url, stream=True, timeout=60) as resp:
        resp.raise_for_status()
        total = int(resp.headers.get("content-length") or 0) or None
        done, shown = 0, -1
        with open(tmp, "wb") as fh:
            for chunk in resp.iter_content(chunk_size=chunk_bytes):
                fh.write(chunk)
                done += len(chunk)
                step = done // (5 << 20)
                if step != shown:
                    shown = step
                    sys.stderr.write(_progress(done, total))
                    sys.stderr.flush()
    sys.stderr.write(f"\n已保存 / saved {target}\n")
    os.replace(tmp, target)
    return target
