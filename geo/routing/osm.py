"""OpenStreetMap data in: download a named extract, read its roads with pyosmium.

:class:`RawWays` is what every builder (this reader or the synthetic city of
:mod:`geo.routing.synthetic`) hands to :func:`geo.routing.build.graph_from_ways`.
"""
from __future__ import annotations

import os
import sys
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
        Tags of each way.
    """

    way_ids: np.ndarray
    ptr: np.ndarray
    refs: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    tags: list[dict[str, str]]

    def __len__(self) -> int:
        return len(self.tags)


def read_osm_ways(path: str | Path) -> RawWays:
    """Read every ``highway`` way of an ``.osm.pbf`` (or .osm/.osm.bz2) file.

    Parameters
    ----------
    path
        OpenStreetMap file, read with pyosmium.

    Returns
    -------
    RawWays
        A way whose nodes are partly missing from the file (an extract cut at
        its border) is kept as its runs of nodes that have positions.
    """
    import osmium

    proc = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway")))
    way_ids: list[int] = []
    counts: list[int] = []
    refs: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    tags: list[dict[str, str]] = []

    def end_run(way_id: int, run: int, wtags: dict) -> None:
        if run:
            way_ids.append(way_id)
            counts.append(run)
            tags.append(wtags)

    for way in proc:
        if way.tags.get("highway") not in HIGHWAY_CLASS_ID:
            continue
        wtags = {k: v for k, v in ((t.k, t.v) for t in way.tags)
                 if k in TAG_KEYS or k in ("name", "name:zh", "ref")}
        run = 0
        for nd in way.nodes:
            loc = nd.location
            if not loc.valid():  # node outside the extract: end the run here
                end_run(way.id, run, wtags)
                run = 0
                continue
            refs.append(nd.ref)
            lons.append(loc.lon)
            lats.append(loc.lat)
            run += 1
        end_run(way.id, run, wtags)
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return RawWays(np.asarray(way_ids, dtype=np.int64), ptr, np.asarray(refs, dtype=np.int64),
                   np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64), tags)


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
