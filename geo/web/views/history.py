"""What the Data page shows of a station's past: its change history, old versions, removed stations.

The audit log itself is :mod:`geo.registry.audit`; this module turns it
into the tables and choices the page draws, with headers and codes in the
page's language.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from geo.core import schema
from geo.core.i18n import field_label, kind_label, t
from geo.registry import audit
from geo.web.views.stations import PICK_LIMIT


def short_time(at: object) -> str:
    """An ISO time to the minute, date and time separated by a space (``2025-03-01 08:30``)."""
    return str(at)[:16].replace("T", " ")


def history_table(history: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """A station's change history (``store.history(station_id)``) as the page lists it.

    Returns
    -------
    pandas.DataFrame
        Time, editor, action, version and the fields changed, headed in ``lang``.
    """
    return pd.DataFrame({
        t("history_at", lang): history["at"],
        t("history_editor", lang): history["editor"],
        t("history_action", lang): history["action"].map(lambda a: t(f"action_{a}", lang)),
        t("history_version", lang): history["version"],
        t("history_changed", lang): history["changed"].map(
            lambda names: "、".join(field_label(n, lang) for n in names)),
    })


def version_label(entry: Any, *, lang: str = "zh") -> str:
    """One entry of the history (a row of ``history.itertuples()``) as a choice of version to restore."""
    version = entry.version if pd.notna(entry.version) else t("history_removed", lang)
    return t("history_option", lang, version=version, at=entry.at, editor=entry.editor,
             action=t(f"action_{entry.action}", lang))


def diff_table(then: dict, now: dict, *, lang: str = "zh") -> pd.DataFrame:
    """How an old version differs from the station now: field, that version, now (empty when the same)."""
    rows = [(field_label(name, lang), old, new) for name, old, new in audit.changed_fields(then, now)]
    return pd.DataFrame(rows, columns=[t("history_field", lang), t("history_then", lang), t("history_now", lang)])


def record_table(record: dict, *, lang: str = "zh") -> pd.DataFrame:
    """The filled fields of a removed station's last record: field, value."""
    rows = [(field_label(f.name, lang), audit.field_text(record.get(f.name))) for f in schema.FIELDS
            if audit.field_text(record.get(f.name))]
    return pd.DataFrame(rows, columns=[t("history_field", lang), t("history_then", lang)])


def removed_choices(removed: pd.DataFrame, stations: pd.DataFrame, *,
                    lang: str = "zh") -> dict[tuple[str, str], str]:
    """The stations that can be brought back, labelled for a picker.

    Parameters
    ----------
    removed
        :func:`geo.registry.audit.removed_stations`: stations deleted from the registry.
    stations
        The registry's stations; the closed ones can be reopened.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    dict
        ``{("removed" or "closed", station id): label}``, removed stations first.
    """
    choices: dict[tuple[str, str], str] = {}
    for r in removed.itertuples():
        choices[("removed", r.station_id)] = t(
            "removed_option_removed", lang, name=r.name, kind=kind_label(r.kind, lang),
            at=short_time(r.removed_at), editor=r.editor, id=r.station_id)
    closed = stations[stations["status"] == "closed"]
    for sid, name, kind in zip(closed["id"], closed["name"], closed["kind"]):
        choices[("closed", sid)] = t("removed_option_closed", lang, name=name, kind=kind_label(kind, lang), id=sid)
    return choices


def search_choices(choices: Mapping[tuple[str, str], str], query: str) -> list[tuple[str, str]]:
    """The keys of ``choices`` whose label contains ``query`` (any case), at most ``PICK_LIMIT``."""
    query = query.strip().casefold()
    return [key for key, label in choices.items() if query in label.casefold()][:PICK_LIMIT]
