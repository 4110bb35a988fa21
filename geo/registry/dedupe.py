"""The duplicate-station rule, in one place.

Two stations of the same layer whose names agree and which lie within
``settings.DUPLICATE_RADIUS_M`` of each other are one station listed twice.
Names agree when their :func:`name_key` does: Unicode NFKC (full-width
``ＡＢＣ`` is ``ABC``), case folded, every white space removed, so
``ABC驿站``, ``abc驿站``, ``ＡＢＣ驿站`` and ``ABC 驿站`` are one name.

The import and the store apply the same rule through :class:`StationIndex`:

* in one file, a second row naming a station already listed nearby, or
  repeating a source id, is rejected (:func:`file_duplicates`);
* a row naming a registry station nearby takes that station's id, so the
  import updates it instead of adding it again (:func:`merge_with_registry`);
* adding a station by hand, or editing one's name or position, is refused
  when it would make such a pair with a registry station (:func:`find_twin`).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from geo import settings
from geo.core.crs import haversine_m

_SPACE = re.compile(r"\s+")


def name_key(name: str) -> str:
    """What two names must share to be the same station's: NFKC, case folded, no white space.

    Parameters
    ----------
    name
        A station's name as written.

    Returns
    -------
    str
        ``"ＡＢＣ 驿站"`` and ``"abc驿站"`` both give ``"abc驿站"``.
    """
    return _SPACE.sub("", unicodedata.normalize("NFKC", str(name or ""))).casefold()


@dataclass(frozen=True)
class Match:
    """A station found by :meth:`StationIndex.nearest`.

    Attributes
    ----------
    ref
        What the caller registered it under (a row number, a station id).
    distance_m
        How far it lies from the position asked about, in metres.
    """

    ref: Hashable
    distance_m: float


class StationIndex:
    """Stations by layer and name key, to find the same station under another spelling nearby.

    Parameters
    ----------
    radius_m
        How near counts as the same place; default ``settings.DUPLICATE_RADIUS_M``.
    """

    def __init__(self, *, radius_m: float | None = None):
        self.radius_m = settings.DUPLICATE_RADIUS_M if radius_m is None else float(radius_m)
        self._by_key: dict[tuple[str, str], list[tuple[Hashable, float, float]]] = {}

    def add(self, ref: Hashable, *, kind: str, name: str, lon: float, lat: float) -> None:
        """Register one station under ``ref``.

        Parameters
        ----------
        ref
            Returned as :attr:`Match.ref` when this station is found.
        kind, name
            Its layer and name.
        lon, lat
            Its position, WGS-84 degrees.
        """
        self._by_key.setdefault((kind, name_key(name)), []).append((ref, float(lon), float(lat)))

    def nearest(self, *, kind: str, name: str, lon: float, lat: float,
                skip: Collection[Hashable] = ()) -> Match | None:
        """The nearest registered station of the same layer and name within the radius.

        Parameters
        ----------
        kind, name
            The layer and name asked about.
        lon, lat
            The position asked about, WGS-84 degrees.
        skip
            Refs that may not be the answer (already matched, or the station itself).

        Returns
        -------
        Match or None
            The first registered wins a tie.
        """
        best: Match | None = None
        for ref, lon2, lat2 in self._by_key.get((kind, name_key(name)), ()):
            if ref in skip:
                continue
            d = float(haversine_m(lon, lat, lon2, lat2))
            if d <= self.radius_m and (best is None or d < best.distance_m):
                best = Match(ref, d)
        return best

    @classmethod
    def of_stations(cls, stations: pd.DataFrame, *, exclude: Collection[str] = ()) -> StationIndex:
        """An index of registry stations (``id``, ``kind``, ``name``, ``lon``, ``lat``), by station id.

        Parameters
        ----------
        stations
            Canonical stations, such as ``store.load()``.
        exclude
            Ids to leave out.
        """
        index = cls()
        for sid, kind, name, lon, lat in zip(stations["id"], stations["kind"], stations["name"],
                                             stations["lon"], stations["lat"]):
            if sid not in exclude:
                index.add(sid, kind=kind, name=name, lon=lon, lat=lat)
        return index


def file_duplicates(kinds: Sequence[str | None], names: Sequence[str], lon: Sequence[float],
                    lat: Sequence[float], source_ids: Sequence[str], *,
                    skip: Collection[int] = ()) -> dict[int, tuple[str, dict]]:
    """Rows of one file that repeat an earlier row: same source id, or same name nearby.

    Parameters
    ----------
    kinds, names, lon, lat, source_ids
        Per row: layer, name, WGS-84 position and source id ("" for none).
    skip
        Rows already rejected for another reason: neither judged nor matched.

    Returns
    -------
    dict
        ``{row index: (reason code, values)}`` with ``duplicate_source_id``
        or ``duplicate_nearby`` (``other`` the 1-based row it repeats,
        ``value`` the source id or the distance in metres).
    """
    found: dict[int, tuple[str, dict]] = {}
    first_by_sid: dict[tuple, int] = {}
    for i, sid in enumerate(source_ids):
        if i in skip or not sid:
            continue
        key = (kinds[i], sid)
        if key in first_by_sid:
            found[i] = ("duplicate_source_id", {"other": first_by_sid[key] + 1, "value": sid})
        else:
            first_by_sid[key] = i
    index = StationIndex()
    for i in range(len(names)):
        if i in skip or i in found:
            continue
        twin = index.nearest(kind=kinds[i], name=names[i], lon=lon[i], lat=lat[i])
        if twin is None:
            index.add(i, kind=kinds[i], name=names[i], lon=lon[i], lat=lat[i])
        else:
            found[i] = ("duplicate_nearby", {"other": twin.ref + 1, "value": f"{twin.distance_m:.0f}"})
    return found


def merge_with_registry(accepted: pd.DataFrame, existing: pd.DataFrame) -> list[tuple[int, str, dict]]:
    """Give accepted rows the id of the registry station they duplicate.

    Rows that already carry a registry id (same source and source id) are
    updates anyway; each other row takes the id of the nearest same-named
    registry station of its layer within the radius, each station at most once.

    Parameters
    ----------
    accepted
        Canonical stations with a ``row`` column (1-based); their ``id`` is
        changed in place.
    existing
        The registry's stations.

    Returns
    -------
    list of (int, str, dict)
        ``(row index, "merged_existing", values)`` warnings, one per merged row.
    """
    warnings = []
    known = set(existing["id"])
    names = dict(zip(existing["id"], existing["name"]))
    index = StationIndex.of_stations(existing)
    claimed = set(accepted["id"]) & known
    for idx in accepted.index:
        if accepted.at[idx, "id"] in known:
            continue
        twin = index.nearest(kind=accepted.at[idx, "kind"], name=accepted.at[idx, "name"],
                             lon=accepted.at[idx, "lon"], lat=accepted.at[idx, "lat"], skip=claimed)
        if twin is not None:
            claimed.add(twin.ref)
            accepted.at[idx, "id"] = twin.ref
            warnings.append((int(accepted.at[idx, "row"]) - 1, "merged_existing",
                             {"other": f"{names[twin.ref]}（{twin.ref}）", "value": f"{twin.distance_m:.0f}"}))
    return warnings


def find_twin(stations: pd.DataFrame, record: Mapping, *, exclude: Iterable[str] = ()) -> str | None:
    """The id of the registry station that ``record`` would duplicate, if any.

    Parameters
    ----------
    stations
        The registry's stations (those of the record's layer suffice).
    record
        A station with ``kind``, ``name``, ``lon`` and ``lat``.
    exclude
        Ids never taken for the twin (the station being edited).
    """
    twin = StationIndex.of_stations(stations, exclude=set(exclude)).nearest(
        kind=record["kind"], name=record["name"], lon=record["lon"], lat=record["lat"])
    return None if twin is None else str(twin.ref)
