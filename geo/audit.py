"""Reading the audit log for the editor: removed stations, and what a closed station was before.

The store keeps every change in its ``audit_log`` (see ``docs/trust.md``).
A station removed from the registry (today: the sample stations removed by
``delete_sample``) is no longer in any layer, so the editor cannot pick it;
:func:`removed_stations` finds it in the audit log, and
``store.restore(station_id, audit_id)`` with the removal's ``audit_id``
brings it back. A closed station is still in the registry: :func:`status_before_closing`
says which status to give it back, and :func:`changed_fields` what an
earlier version would change.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd

from . import schema

#: Columns of :func:`removed_stations`.
REMOVED_COLUMNS = ["station_id", "kind", "name", "city", "district", "removed_at", "editor", "action",
                   "audit_id", "record"]


def removed_stations(store, present_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Stations whose latest audit entry removed them and that are not in the registry now.

    Parameters
    ----------
    store : geo.store.GeoPackageStore
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
    if isinstance(value, list):
        return schema.LIST_SEP.join(map(str, value))
    return "" if value is None else str(value)


def changed_fields(then: dict, now: dict) -> list[tuple[str, str, str]]:
    """``(field, text then, text now)`` for each field that differs between two versions of a station.

    ``version`` and ``updated_at`` are left out: they differ between any
    two versions and say nothing about what a restore would change.
    """
    out = []
    for field in schema.FIELDS:
        if field.name in ("version", "updated_at"):
            continue
        a, b = field_text(then.get(field.name)), field_text(now.get(field.name))
        if a != b:
            out.append((field.name, a, b))
    return out
