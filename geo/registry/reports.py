"""Workers' reports on stations: what they may say, the abuse limits, the counts, the not-serving rule.

A worker on the finder taps one of :data:`REPORT_TYPES` on a station's
card ("closed when it should be open", "no drinking water", ... "all
good") and may add a short text; nothing else is asked or kept: no
account, no position, no device identifier. The store keeps each report
(:meth:`~geo.registry.store.base.RegistryStore.add_report`) with its time
and, until an editor acts on it, status ``open``.

**Abuse limits.** Per client, at most ``settings.REPORTS_PER_STATION``
reports about one station and ``settings.REPORTS_PER_CLIENT`` in all
within ``settings.REPORT_LIMIT_WINDOW_S`` (24 h). A client is known only
by a keyed hash of its address (:func:`client_key`: HMAC-SHA256 with a
secret made on first use beside the registry, mode 0600), which the store
keeps in ``report_limits`` for the window and deletes (overwritten) at the
first report, decision or reading of reports after it, never in the report itself. Past a limit the store raises :class:`ReportLimitError`
(the API's 429, with the seconds until a slot frees).

**Counts** (:func:`recent_counts`): what the station's card and
``GET /api/v1/stations/{id}`` show: reports per type over the last
``settings.REPORT_RECENT_DAYS`` days, those still open, the latest time,
and the editor's latest decision, which always wins over reports: confirm
and dismiss close the reports they answer, and a report filed before an
editor's decision on that station no longer counts as open evidence.

**Not serving** (:class:`NotServingRule`, :func:`drop_not_serving`): an
option of the map and of coverage, off by default: stations with open
"closed" or "not found" reports from at least N distinct clients within D
days are left out of the serving stations, and the rule is shown with
every result. Distinct clients are counted without keeping who they are:
when a report is filed, the store marks it ``counted`` only if the same
client (its keyed hash, within the window) has not already filed a
closed/not-found report on that station. A client reporting again after
the window (the hash is gone by then) counts again; the per-station limit
caps that at one counted report a client a day.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd

from geo import settings
from geo.core.files import private_dir
from geo.registry.io.writers import csv_bytes, frame_to_geojson
from geo.registry.validate import ValidationError

if TYPE_CHECKING:  # the store imports this module: no import of it at run time
    from geo.registry.store.base import RegistryStore


@dataclass(frozen=True)
class ReportType:
    """One thing a worker can report with one tap.

    Attributes
    ----------
    code : str
        As stored and sent to the API.
    zh, en : str
        The button's label.
    said_zh, said_en : str
        How a count reads on the card: "3 人反馈{said_zh}" / "3 workers reported {said_en}".
    """

    code: str
    zh: str
    en: str
    said_zh: str
    said_en: str


#: Everything a report can say, in the order the card shows the buttons.
REPORT_TYPES: dict[str, ReportType] = {r.code: r for r in (
    ReportType("closed", "应开放时没开门", "Closed when it should be open", "未开放", "closed"),
    ReportType("not_found", "搬走了/找不到", "Moved or not found here", "找不到站点", "not found here"),
    ReportType("no_water", "没有饮用水", "No drinking water", "没有饮用水", "no drinking water"),
    ReportType("toilet_unusable", "厕所不能用", "Toilet unusable", "厕所不能用", "the toilet unusable"),
    ReportType("charging_broken", "充电不能用", "Charging not working", "充电不能用", "charging not working"),
    ReportType("full", "已满", "Full", "已满", "full"),
    ReportType("facility_missing", "列出的设施没有", "A listed facility is missing", "缺少列出的设施",
               "a listed facility missing"),
    ReportType("facility_unlisted", "有未列出的设施", "A facility is not listed", "有未列出的设施",
               "an unlisted facility"),
    ReportType("all_good", "一切正常", "All good", "一切正常", "all good"),
)}

#: The types the not-serving rule counts.
NOT_SERVING_TYPES = ("closed", "not_found")
#: A report's status: open until an editor confirms or dismisses it.
REPORT_STATUSES = ("open", "confirmed", "dismissed")
#: What an editor can do with a station's open reports (each one audited).
REPORT_ACTIONS = ("confirm", "dismiss", "keep_open")
#: The audit log's action for each of :data:`REPORT_ACTIONS`.
AUDIT_ACTION_OF = {"confirm": "confirm_reports", "dismiss": "dismiss_reports", "keep_open": "keep_reports_open"}
#: Columns of :meth:`RegistryStore.reports` (no client data: there is none to give).
REPORT_COLUMNS = ["report_id", "station_id", "type", "text", "at", "counted", "status", "resolved_at",
                  "resolved_by", "reason", "audit_id"]
_MAX_REASON_CHARS = 500


class StationNotFound(ValidationError):
    """A report about a station the registry does not hold (the API's 404)."""

    def __init__(self, station_id: str):
        shown = str(station_id)[:80]
        super().__init__(f"没有这个站点 {shown} / no such station: {shown}")
        self.station_id = station_id

    def __reduce__(self):
        return (type(self), (self.station_id,))


class ReportLimitError(Exception):
    """A client filed as many reports as the limits allow for now.

    Attributes
    ----------
    retry_after : int
        Seconds until the oldest report that counts leaves the window.
    scope : str
        ``"same"`` (this type about this station, once a window), ``"station"``
        (this station) or ``"total"`` (all stations).
    """

    def __init__(self, retry_after: float, scope: str):
        self.retry_after = max(1, int(retry_after + 0.999))
        self.scope = scope
        hours = max(1, round(self.retry_after / 3600))
        if scope == "same":
            self.zh = f"你已反馈过这个站点的这一项，请约 {hours} 小时后再反馈"
            self.en = f"you have already reported this about this station; try again in about {hours} h"
        elif scope == "station":
            self.zh = f"你今天对这个站点的反馈已达上限，请约 {hours} 小时后再反馈"
            self.en = f"you have sent as many reports about this station as allowed today; try again in about {hours} h"
        else:
            self.zh = f"你今天的反馈已达上限，请约 {hours} 小时后再反馈"
            self.en = f"you have sent as many reports as allowed today; try again in about {hours} h"
        super().__init__(f"{self.zh} / {self.en}")

    def __reduce__(self):
        return (type(self), (self.retry_after, self.scope))


@dataclass(frozen=True)
class ReportLimits:
    """The abuse limits a store enforces when a report is filed.

    Attributes
    ----------
    per_station : int
        Reports one client may file about one station within the window.
    per_client : int
        Reports one client may file in all within the window.
    window_s : float
        The window, in seconds; also how long a client's keyed hash is kept.
    """

    per_station: int = field(default_factory=lambda: settings.REPORTS_PER_STATION)
    per_client: int = field(default_factory=lambda: settings.REPORTS_PER_CLIENT)
    window_s: float = field(default_factory=lambda: settings.REPORT_LIMIT_WINDOW_S)


def check_report(report_type: object, text: object) -> tuple[str, str]:
    """A report's type and text as the store keeps them, or a bilingual refusal.

    The text is kept exactly as given (never trimmed or cut): it is shown
    escaped wherever it appears.

    Parameters
    ----------
    report_type
        One of :data:`REPORT_TYPES`.
    text
        ``None`` or a string of at most ``settings.REPORT_TEXT_MAX_CHARS`` characters.

    Returns
    -------
    tuple of str
        ``(type, text)``; a missing text is ``""``.

    Raises
    ------
    ValidationError
        Unknown type, text that is not a string, or too long.
    """
    if not isinstance(report_type, str) or report_type not in REPORT_TYPES:
        shown = str(report_type)[:40]
        raise ValidationError(f"未知的反馈类型 {shown} / unknown report type {shown} "
                              f"(one of {', '.join(REPORT_TYPES)})")
    if text is None:
        return report_type, ""
    if not isinstance(text, str):
        raise ValidationError("反馈内容应为文字 / the report's text must be a string")
    limit = settings.REPORT_TEXT_MAX_CHARS
    if len(text) > limit:
        raise ValidationError(f"反馈内容最多 {limit} 个字（现为 {len(text)} 个） / "
                              f"the text may have at most {limit} characters (it has {len(text)})")
    return report_type, text


def check_reason(reason: object, *, required: bool) -> str:
    """An editor's reason for dismissing (required) or keeping reports open (optional).

    Parameters
    ----------
    reason
        Text of at most 500 characters.
    required
        Refuse an empty reason.

    Returns
    -------
    str

    Raises
    ------
    ValidationError
    """
    text = "" if reason is None else str(reason).strip()
    if required and not text:
        raise ValidationError("请写明驳回的理由 / give a reason for dismissing the reports")
    if len(text) > _MAX_REASON_CHARS:
        raise ValidationError(f"理由最多 {_MAX_REASON_CHARS} 个字 / the reason may have at most "
                              f"{_MAX_REASON_CHARS} characters")
    return text


def _secret(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    try:
        # O_EXCL: of two processes making it at once, one writes and both read that one.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, settings.PRIVATE_FILE_MODE)
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    try:
        os.write(fd, os.urandom(32).hex().encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def client_key(address: str | None, *, secret: str | Path | None = None) -> str:
    """The keyed hash (HMAC-SHA256) by which the limits know a client, never its address.

    Without the secret, which never leaves the server's data folder, the
    hash cannot be tested against guessed addresses.

    Parameters
    ----------
    address
        The client's address (``None``: a local client, as Streamlit gives for localhost).
    secret
        The key file; default :func:`geo.settings.report_secret_path`. Made
        on first use: 32 random bytes, mode 0600.

    Returns
    -------
    str
        32 hexadecimal characters.
    """
    key = _secret(Path(secret) if secret is not None else settings.report_secret_path())
    return hmac.new(key, (address or "local").encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def since_iso(days: float, *, now: datetime | None = None) -> str:
    """The UTC time ``days`` before ``now`` (default now), as the store's ISO 8601 text."""
    now = now or datetime.now(timezone.utc)
    return (now - timedelta(days=days)).replace(microsecond=0).isoformat()


def recent_counts(reports: pd.DataFrame, *, days: float | None = None, now: datetime | None = None) -> dict:
    """What workers said about one station lately, for its card and the API.

    Parameters
    ----------
    reports
        The station's reports (:meth:`RegistryStore.reports`), any period.
    days
        The period; default ``settings.REPORT_RECENT_DAYS``.
    now
        Default the current time.

    Returns
    -------
    dict
        ``days``, ``since`` (UTC ISO 8601), ``counts`` and ``open`` (reports
        per type in the period, all of them and those no editor has
        answered; types without reports left out), ``open_today`` (open
        ones filed since midnight in ``settings.TIMEZONE``, which began at
        ``today_since``; each from a different client, since a client may
        report a type about a station once a window), ``latest`` (per type
        the time of the latest report) and ``decision``: the editor's latest
        confirm or dismiss (``action``, ``at``, ``types``) or ``None``. An
        editor's decision wins over reports: the reports it answered are
        closed and no longer counted as open.
    """
    days = settings.REPORT_RECENT_DAYS if days is None else days
    since = since_iso(days, now=now)
    recent = reports[reports["at"] >= since] if len(reports) else reports
    now = now or datetime.now(timezone.utc)
    midnight = now.astimezone(ZoneInfo(settings.TIMEZONE)).replace(hour=0, minute=0, second=0, microsecond=0)
    today = midnight.astimezone(timezone.utc).isoformat()
    out = {"days": days, "since": since, "today_since": today, "counts": {}, "open": {}, "open_today": {},
           "latest": {}, "decision": None}
    for code in REPORT_TYPES:
        of_type = recent[recent["type"] == code] if len(recent) else recent
        if len(of_type):
            out["counts"][code] = int(len(of_type))
            out["latest"][code] = str(of_type["at"].max())
            still = of_type[of_type["status"] == "open"]
            if len(still):
                out["open"][code] = int(len(still))
                if (still["at"] >= today).any():
                    out["open_today"][code] = int((still["at"] >= today).sum())
    decided = reports[reports["status"] != "open"] if len(reports) else reports
    if len(decided):
        last = decided.sort_values("resolved_at").iloc[-1]
        same = decided[(decided["resolved_at"] == last["resolved_at"]) & (decided["status"] == last["status"])]
        out["decision"] = {"action": "confirm" if last["status"] == "confirmed" else "dismiss",
                           "at": str(last["resolved_at"]), "types": sorted(set(same["type"]))}
    return out


@dataclass(frozen=True)
class NotServingRule:
    """Treat stations with unresolved closed / not-found reports as not serving (off unless given).

    Attributes
    ----------
    clients : int
        Distinct clients needed (N).
    days : float
        Within the last D days.
    """

    clients: int = field(default_factory=lambda: settings.REPORT_NOT_SERVING_CLIENTS)
    days: float = field(default_factory=lambda: settings.REPORT_NOT_SERVING_DAYS)

    def __post_init__(self) -> None:
        if int(self.clients) < 1 or not float(self.days) > 0:
            raise ValueError("反馈规则需 N ≥ 1 且 D > 0 / the report rule needs N >= 1 and D > 0")

    @property
    def zh(self) -> str:
        """The rule in Chinese."""
        return f"{self.days:g} 天内有 ≥{self.clients} 人反馈未开放或找不到且未处理的站点按不提供服务计"

    @property
    def en(self) -> str:
        """The rule in English."""
        return (f"stations with unresolved closed or not-found reports from >= {self.clients} distinct "
                f"clients in the last {self.days:g} days count as not serving")

    def describe(self) -> str:
        """The rule as every result states it, in Chinese and English."""
        return f"{self.zh} / {self.en}"

    def to_dict(self) -> dict:
        """JSON form, carried in the standard of a result."""
        return {"clients": int(self.clients), "days": float(self.days), "types": list(NOT_SERVING_TYPES),
                "label": self.describe()}


def not_serving_ids(reports: pd.DataFrame, rule: NotServingRule, *, now: datetime | None = None) -> set[str]:
    """Ids of the stations the rule takes out of service.

    Parameters
    ----------
    reports
        Reports of any stations (:meth:`RegistryStore.reports`).
    rule
    now
        Default the current time.

    Returns
    -------
    set of str
        Stations whose open "closed"/"not found" reports within ``rule.days``
        that were counted as distinct clients number at least ``rule.clients``.
    """
    if reports.empty:
        return set()
    since = since_iso(rule.days, now=now)
    hits = reports[(reports["status"] == "open") & reports["type"].isin(NOT_SERVING_TYPES)
                   & (reports["at"] >= since) & reports["counted"].astype(bool)]
    per_station = hits.groupby("station_id").size()
    return set(per_station[per_station >= int(rule.clients)].index.astype(str))


def drop_not_serving(stations: gpd.GeoDataFrame, reports: pd.DataFrame, rule: NotServingRule | None, *,
                     now: datetime | None = None) -> gpd.GeoDataFrame:
    """``stations`` without those the rule takes out of service (all of them when ``rule`` is None).

    Parameters
    ----------
    stations
        Stations with an ``id`` column.
    reports
        Their reports (:meth:`RegistryStore.reports`).
    rule
        ``None``: the option is off and nothing is dropped.
    now
        Default the current time.

    Returns
    -------
    GeoDataFrame
        The same frame type, rows in their order, index kept.
    """
    if rule is None or stations.empty:
        return stations
    gone = not_serving_ids(reports, rule, now=now)
    return stations[~stations["id"].astype(str).isin(gone)]


def apply_not_serving(stations: gpd.GeoDataFrame, rule: NotServingRule | None, *,
                      store: RegistryStore) -> gpd.GeoDataFrame:
    """:func:`drop_not_serving` with the open reports of the last ``rule.days`` read from ``store``.

    Parameters
    ----------
    stations
    rule
        ``None``: ``stations`` unchanged, nothing read.
    store
        The registry holding the reports.
    """
    if rule is None:
        return stations
    return drop_not_serving(stations, store.reports(statuses=["open"], since=since_iso(rule.days)), rule)


def report_frame(reports: pd.DataFrame, stations: pd.DataFrame) -> gpd.GeoDataFrame:
    """Reports as an export holds them: the report, its station's name, kind and position; no client data.

    Parameters
    ----------
    reports
        :meth:`RegistryStore.reports`.
    stations
        The registry's stations (``id``, ``name``, ``kind``, ``lon``, ``lat``).

    Returns
    -------
    GeoDataFrame
        ``report_id``, ``station_id``, ``station_name``, ``kind``, ``type``,
        ``type_zh``, ``type_en``, ``text``, ``at``, ``status``,
        ``resolved_at``, ``resolved_by``, ``reason``, ``lon``, ``lat`` and the
        station's point (WGS-84; empty for a station no longer in the registry).
    """
    cols = ["report_id", "station_id", "type", "text", "at", "status", "resolved_at", "resolved_by", "reason"]
    out = reports[cols].copy() if len(reports) else pd.DataFrame(columns=cols)
    where = stations.drop_duplicates("id").set_index("id") if len(stations) else None
    look = (lambda c: out["station_id"].map(where[c]) if where is not None else pd.Series([None] * len(out)))
    out.insert(2, "station_name", look("name"))
    out.insert(3, "kind", look("kind"))
    out.insert(5, "type_zh", out["type"].map(lambda c: REPORT_TYPES[c].zh if c in REPORT_TYPES else c))
    out.insert(6, "type_en", out["type"].map(lambda c: REPORT_TYPES[c].en if c in REPORT_TYPES else c))
    out["lon"] = pd.to_numeric(look("lon"), errors="coerce")
    out["lat"] = pd.to_numeric(look("lat"), errors="coerce")
    out = out.reset_index(drop=True)
    known = out["lon"].notna() & out["lat"].notna()
    points = gpd.points_from_xy(out["lon"].fillna(0), out["lat"].fillna(0))
    return gpd.GeoDataFrame(out, geometry=[p if k else None for p, k in zip(points, known)], crs="EPSG:4326")


#: Formats :func:`export_reports` writes.
REPORT_FORMATS = ("csv", "geojson")


def export_reports(frame: gpd.GeoDataFrame, fmt: str) -> bytes:
    """A report export: CSV (formula cells escaped, UTF-8 with BOM) or RFC 7946 GeoJSON.

    Parameters
    ----------
    frame
        :func:`report_frame`.
    fmt
        ``"csv"`` or ``"geojson"``.
    """
    if fmt == "csv":
        return csv_bytes(pd.DataFrame(frame.drop(columns=frame.geometry.name)))
    if fmt == "geojson":
        members = {"notice": "工人反馈，未经核实（除非已确认） / workers' reports, unverified unless confirmed"}
        return frame_to_geojson(frame.drop(columns=["lon", "lat"]), members=members).encode("utf-8")
    raise ValueError(f"未知格式 / unknown format: {fmt} (csv or geojson)")


def types_answered(types: Iterable[str]) -> list[str]:
    """The known report types among ``types``, in :data:`REPORT_TYPES` order; refuses an unknown one.

    Raises
    ------
    ValidationError
    """
    wanted = list(types)
    bad = [t for t in wanted if t not in REPORT_TYPES]
    if bad:
        raise ValidationError(f"未知的反馈类型 / unknown report type: {bad[0][:40]}")
    return [c for c in REPORT_TYPES if c in wanted]


def typed_reports(df: pd.DataFrame) -> pd.DataFrame:
    """Reports as either store reads them, in :data:`REPORT_COLUMNS` with one dtype per column."""
    df = df.reindex(columns=REPORT_COLUMNS)
    df["counted"] = df["counted"].fillna(False).astype(bool)
    df["audit_id"] = df["audit_id"].astype("Int64")
    df["text"] = df["text"].fillna("").astype(str)
    return df


def check_decision(action: object, *, reason: object, types: Iterable[str] | None,
                   changes: dict | None) -> tuple[str, list[str] | None, str]:
    """An editor's decision on reports, checked before either store opens a transaction.

    Parameters
    ----------
    action : {"confirm", "dismiss", "keep_open"}
    reason : str
        Required for a dismissal.
    types : iterable of str or None
        The report types the decision answers; None answers all.
    changes : dict or None
        The station edit of a confirmation; only a confirmation may carry one.

    Returns
    -------
    tuple
        The checked reason, the types answered (or None) and the audit action.

    Raises
    ------
    ValidationError
        With a bilingual message.
    """
    if action not in REPORT_ACTIONS:
        raise ValidationError(f"未知的处理方式 / unknown action: {str(action)[:40]} "
                              f"(one of {', '.join(REPORT_ACTIONS)})")
    reason = check_reason(reason, required=action == "dismiss")
    answered = types_answered(types) if types is not None else None
    if changes and action != "confirm":
        raise ValidationError("只有确认才会修改站点 / only a confirmation changes the station")
    return reason, answered, AUDIT_ACTION_OF[action]


def new_report(report_id: int, station_id: str, report_type: str, text: str, at: str, *,
               counted: bool) -> dict:
    """The record of a report just filed, as either store returns it (still open, no decision)."""
    return {"report_id": int(report_id), "station_id": station_id, "type": report_type, "text": text, "at": at,
            "counted": bool(counted), "status": "open", "resolved_at": None, "resolved_by": None,
            "reason": None, "audit_id": None}


def check_statuses(statuses: Iterable[str]) -> list[str]:
    """Report statuses asked for, each one of :data:`REPORT_STATUSES`.

    Raises
    ------
    ValueError
        With a bilingual message naming the first unknown status.
    """
    wanted = list(statuses)
    bad = [s for s in wanted if s not in REPORT_STATUSES]
    if bad:
        raise ValueError(f"未知的反馈状态 / unknown report status: {bad[0]}")
    return wanted
