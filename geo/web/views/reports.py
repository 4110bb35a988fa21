"""What the Data page shows of workers' reports: the editors' queue, a station's reports, the decision to make.

The reports themselves are :mod:`geo.registry.reports` and the store's;
this module turns them into the tables and choices the page draws, in the
page's language. Report texts stay plain text: tables (``st.dataframe``)
and select-box options show them as written; nothing of a report goes
into Markdown (the page escapes a station id with
:func:`geo.core.text.md_escape` where it says which station it handled).
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from geo import settings
from geo.core.i18n import kind_label, status_label, t
from geo.registry.reports import REPORT_TYPES, export_reports, report_frame

#: The queue's columns (codes; :func:`queue_table` heads them in the page's language).
QUEUE_COLUMNS = ["station_id", "name", "kind", "status", "open", "types", "first_at", "last_at", "seen"]


def type_label(code: str, *, lang: str = "zh") -> str:
    """A report type's name in ``lang`` (the code itself if unknown)."""
    kind = REPORT_TYPES.get(code)
    if kind is None:
        return str(code)
    return kind.en if lang == "en" else kind.zh


def local_time(at: object) -> str:
    """A stored UTC time as Beijing time to the minute (``2026-12-02 10:05``); ``""`` when missing."""
    if at is None or (isinstance(at, float) and pd.isna(at)) or str(at) in ("", "None", "NaT"):
        return ""
    when = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    return when.astimezone(ZoneInfo(settings.TIMEZONE)).strftime("%Y-%m-%d %H:%M")


def report_queue(reports: pd.DataFrame, stations: pd.DataFrame) -> pd.DataFrame:
    """Stations with open reports, most reported first (then the latest report first).

    Parameters
    ----------
    reports
        Open reports (``store.reports(statuses=["open"])``).
    stations
        The registry's stations (``id``, ``name``, ``kind``, ``status``).

    Returns
    -------
    pandas.DataFrame
        :data:`QUEUE_COLUMNS`: ``open`` (count), ``types`` (``{code: count}``),
        ``first_at``/``last_at`` (UTC ISO 8601), ``seen`` (the highest report
        id: a decision answers only the reports the editor saw).
    """
    open_ = reports[reports["status"] == "open"] if len(reports) else reports
    if open_.empty:
        return pd.DataFrame(columns=QUEUE_COLUMNS)
    info = stations.drop_duplicates("id").set_index("id")
    rows = []
    for sid, group in open_.groupby("station_id", sort=False):
        counts = group["type"].value_counts()
        rows.append({"station_id": sid, "name": info["name"].get(sid, ""), "kind": info["kind"].get(sid, ""),
                     "status": info["status"].get(sid, ""), "open": int(len(group)),
                     "types": {c: int(counts[c]) for c in REPORT_TYPES if c in counts},
                     "first_at": str(group["at"].min()), "last_at": str(group["at"].max()),
                     "seen": int(group["report_id"].max())})
    queue = pd.DataFrame(rows, columns=QUEUE_COLUMNS)
    # Ties (times are to the second) by the latest report id.
    return queue.sort_values(["open", "last_at", "seen"], ascending=False, kind="stable").reset_index(drop=True)


def types_text(types: dict, *, lang: str = "zh") -> str:
    """``{code: count}`` as the queue lists it: ``应开放时没开门 ×3；没有饮用水 ×1``."""
    sep = "; " if lang == "en" else "；"
    return sep.join(f"{type_label(c, lang=lang)} ×{n}" for c, n in types.items())


def queue_table(queue: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """The queue as the page lists it, headed in ``lang`` (plain text cells)."""
    return pd.DataFrame({
        t("rq_station", lang): queue["name"].astype(str) + " (" + queue["station_id"].astype(str) + ")",
        t("rq_status", lang): queue["status"].map(lambda s: status_label(s or "open", lang)),
        t("rq_open", lang): queue["open"].astype(int),
        t("rq_types", lang): queue["types"].map(lambda d: types_text(d, lang=lang)),
        t("rq_first", lang): queue["first_at"].map(local_time),
        t("rq_last", lang): queue["last_at"].map(local_time),
    })


def station_choice_label(row: pd.Series, *, lang: str = "zh") -> str:
    """A queue row as a choice in a select box (options are shown as plain text, not Markdown)."""
    return f"{row['name']} · {kind_label(row['kind'], lang)} · {row['open']} · {row['station_id']}"


def station_reports_table(reports: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """One station's open reports, newest first: time, type, text as written (plain text cells)."""
    rows = reports.sort_values("report_id", ascending=False)
    return pd.DataFrame({
        t("rq_at", lang): rows["at"].map(local_time),
        t("rq_type", lang): rows["type"].map(lambda c: type_label(c, lang=lang)),
        t("rq_text", lang): rows["text"].astype(str),
    })


def confirm_changes(record: dict, *, status: str | None, facilities: list[str] | None) -> dict:
    """The station fields a confirmation saves: only what differs from ``record``.

    Parameters
    ----------
    record
        The station as stored.
    status
        The new status, or ``None`` to keep it.
    facilities
        The facilities the station has after the check, or ``None`` to keep them.
    """
    changes: dict = {}
    if status and status != (record.get("status") or "open"):
        changes["status"] = status
    if facilities is not None and list(facilities) != list(record.get("facilities") or []):
        changes["facilities"] = list(facilities)
    return changes


def report_downloads(reports: pd.DataFrame, stations: pd.DataFrame) -> dict[str, bytes]:
    """The reports export in both formats (``{"csv": …, "geojson": …}``): no client data, formulas escaped."""
    frame = report_frame(reports, stations)
    return {"csv": export_reports(frame, "csv"), "geojson": export_reports(frame, "geojson")}
