"""Reading the audit log for the editor: removed stations, and what a closed station was before.

The store keeps every change in its ``audit_log`` (see ``docs/trust.md``).
A station removed from the registry (today: the sample stations removed by
``delete_sample``) is no longer in any layer, so the editor cannot pick it;
:func:`removed_stations` finds it in the audit log, and
``store.restore(station_id, audit_id)`` with the removal's ``audit_id``
brings it back. A closed station is still in the registry: :func:`status_before_closing`
says which status to give it back, and :func:`changed_fields` what an
earlier version would change.

Two editors saving the same station: the store refuses the second save
with a ``ConflictError`` carrying ``current`` and ``attempted``;
:func:`conflict_fields` is what the editor is shown (field, theirs, now
stored), :func:`reapply_changes` what saving it over the current version
writes, and :func:`form_changes` what an editor's form changed at all.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable

import pandas as pd

from geo.core import schema
from geo.registry import changes
from geo.registry.io.headers import DERIVED_COLUMNS

#: Columns of :func:`removed_stations`.
REMOVED_COLUMNS = ["station_id", "kind", "name", "city", "district", "removed_at", "editor", "action",
                   "audit_id", "record"]


def removed_stations(store, present_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Stations whose latest audit entry removed them and that are not in the registry now.

    Parameters
    ----------
    store : geo.registry.store.gpkg.GeoPackageStore
        Read through ``store.audit_log(limit=None)``.
    present_ids : iterable of str, optional
        Ids of the stations in the registry now (default: ``store.load()``);
        the page passes the ids it has loaded anyway.

    Returns
    -------
    pandas.DataFrame
        One row per removed station, latest removal first: ``station_id``,
        ``kind``, ``name``, ``city``, ``district`` (from the record before
        the removal), ``removed_at`` (UTC, ISO 8601), ``editor``, ``action``,
        ``audit_id`` (the removal's row: pass it to ``store.restore``) and
        ``record`` (the station as it was, a dict).
    """
    log = store.audit_log(limit=None)
    if log.empty:
        return pd.DataFrame(columns=REMOVED_COLUMNS)
    latest = log.sort_values("audit_id").groupby("station_id", sort=False).tail(1)
    gone = latest[latest["after"].isna() | (latest["after"].astype(str) == "")]
    present = set(present_ids) if present_ids is not None else set(store.load()["id"])
    rows = []
    for r in gone.sort_values("audit_id", ascending=False).itertuples():
        if r.station_id in present or not r.before:
            continue
        record = json.loads(r.before)
        rows.append({"station_id": r.station_id, "kind": r.kind or record.get("kind"),
                     "name": record.get("name") or "", "city": record.get("city") or "",
                     "district": record.get("district") or "", "removed_at": r.at, "editor": r.editor,
                     "action": r.action, "audit_id": int(r.audit_id), "record": record})
    return pd.DataFrame(rows, columns=REMOVED_COLUMNS)


def status_before_closing(history: pd.DataFrame) -> str:
    """The status a closed station had before it was last closed (``open`` if the log does not say).

    Parameters
    ----------
    history : pandas.DataFrame
        ``store.history(station_id)``, newest first.
    """
    for r in history.itertuples():
        before, after = r.before or {}, r.after or {}
        if after.get("status") == "closed" and before.get("status") not in (None, "", "closed"):
            return str(before["status"])
    return "open"


def field_text(value) -> str:
    """A stored field as the editor reads it: lists joined with the list separator, missing as ""."""
    if isinstance(value, (list, tuple)):
        return schema.LIST_SEP.join(map(str, value))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""  # a missing number comes back from pandas as NaN
    return str(value)


def changed_fields(then: dict, now: dict) -> list[tuple[str, str, str]]:
    """``(field, text then, text now)`` for each field that differs between two versions of a station.

    The fields are those of :func:`geo.registry.changes.changed_fields`:
    ``version`` and ``updated_at`` are left out, since they differ between
    any two versions and say nothing about what a restore would change.
    """
    return [(name, field_text(then.get(name)), field_text(now.get(name))) for name in changes.changed_fields(then, now)]


#: Fields an edit never sets itself: the store derives them again (or they are
#: bookkeeping), so a conflict is judged on the others.
_NOT_EDITED = frozenset(DERIVED_COLUMNS) | {"id", "kind"}


def conflict_fields(attempted: dict, current: dict) -> list[tuple[str, str, str]]:
    """``(field, yours, now stored)`` for each field where a refused save differs from the stored station.

    Parameters
    ----------
    attempted : dict
        ``ConflictError.attempted``: the current record with the editor's
        changes applied, i.e. what saving it again would store.
    current : dict
        ``ConflictError.current``: the station as stored now.

    Returns
    -------
    list of (str, str, str)
        Field name, the editor's value and the stored value as text
        (:func:`field_text`); fields the store derives (district, parsed
        hours ...) are left out, their source field is listed instead.
    """
    return [row for row in changed_fields(attempted, current) if row[0] not in _NOT_EDITED]


def reapply_changes(attempted: dict, current: dict) -> dict:
    """The values of a refused save that differ from the stored station.

    Pass them to ``store.update(station_id, changes,
    expected_version=current["version"])`` to save the editor's edit over
    the version now stored (the store refuses again if that changed too).
    """
    names = {name for name, _, _ in conflict_fields(attempted, current)}
    return {f.name: attempted.get(f.name) for f in schema.FIELDS if f.name in names}


def form_changes(values: dict, record: dict) -> dict:
    """The fields an editor's form changed, compared with the record the form was opened with.

    Parameters
    ----------
    values : dict
        The form's values by field (text, status code, facility codes, a
        list of other facilities, truck parking spaces or None, lon/lat).
    record : dict
        The station as it was when the form was drawn (not as stored now:
        a change someone else saved meanwhile is not the editor's).

    Returns
    -------
    dict
        ``{field: new value}``; coordinates count as changed beyond 5e-7
        degrees (the number input's six decimals), text ignores ``None``
        versus empty.
    """
    changes: dict = {}
    for name, value in values.items():
        old = record.get(name)
        if name in ("lon", "lat"):
            if old is None or abs(float(value) - float(old)) > 5e-7:
                changes[name] = value
        elif name in ("facilities", "facilities_other"):
            if list(value) != list(old or []):
                changes[name] = list(value)
        elif name == "truck_parking_spaces":
            missing = old is None or (isinstance(old, float) and math.isnan(old))
            if (value is None) != missing or (value is not None and value != old):
                changes[name] = value
        elif (value or "") != (old or ""):
            changes[name] = value
    return changes


def saved_by(history: pd.DataFrame, version: int) -> tuple[str, str] | None:
    """``(editor, time)`` of the change that made ``version``, from ``store.history(station_id)``."""
    if history.empty:
        return None
    rows = history[pd.to_numeric(history["version"], errors="coerce") == int(version)]
    if rows.empty:
        return None
    return str(rows["editor"].iat[0]), str(rows["at"].iat[0])
