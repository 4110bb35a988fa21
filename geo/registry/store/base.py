"""What every registry store is: the interface pages and the command line use, and its rules.

A store keeps the stations of the three layers, a log of imports and an
audit log of every change (who, when, which station, before and after).
:class:`RegistryStore` is the interface; :class:`~geo.registry.store.gpkg.GeoPackageStore`
implements it in one GeoPackage file, and a server database can be added
behind the same interface without touching the pages
(:func:`geo.registry.store.open_store` chooses). What does not depend on
how stations are kept lives here: the errors, who is recorded as the
editor, the duplicate-station check, and what an import may not wipe.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Protocol

import geopandas as gpd
import pandas as pd
from shapely import points

from geo import settings
from geo.core.schema import FIELDS
from geo.registry.changes import changed_fields
from geo.registry.dedupe import find_twin
from geo.registry.validate import ImportReport, ValidationError

#: What an ``audit_log`` row records as its ``action``.
#: The last three are an editor's decisions on workers' reports (:mod:`geo.registry.reports`):
#: ``confirm_reports`` may change the station (before/after as for an edit), the others
#: record the decision with ``before`` = ``after``.
AUDIT_ACTIONS = ("import", "add", "update", "set_status", "delete_sample", "restore",
                 "confirm_reports", "dismiss_reports", "keep_reports_open")
_MAX_EDITOR_CHARS = 100
#: How both backends write an ``audit_log`` row (``?`` placeholders: :meth:`SqlDialect._q`).
AUDIT_INSERT = ("INSERT INTO audit_log (at, editor, station_id, kind, action, version, import_id, before, after)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
#: The columns of :meth:`RegistryStore.history`.
HISTORY_COLUMNS = ["audit_id", "at", "editor", "action", "version", "import_id", "changed", "before", "after"]


class ConflictError(RuntimeError):
    """Someone else saved the station since it was opened for editing.

    Attributes
    ----------
    current : dict
        The station as stored now.
    attempted : dict
        The record that was not saved; its ``version`` is the version the
        editor opened, so nothing typed is lost: the caller can show it,
        reload and save it again.
    """

    def __init__(self, current: dict, attempted: dict):
        opened = attempted.get("version")
        seen = f"打开时为版本 {opened}，" if opened is not None else ""
        seen_en = f"you opened version {opened}, " if opened is not None else ""
        super().__init__(
            f"站点 {current['id']} 已被他人修改（{seen}当前版本 {current['version']}），请刷新后再保存 / "
            f"station {current['id']} was changed by someone else ({seen_en}now version {current['version']}); "
            f"reload before saving")
        self.current, self.attempted = current, attempted

    def __reduce__(self):
        # Picklable, so a worker process can hand the conflict to its parent.
        return (type(self), (self.current, self.attempted))


class RegistryBusyError(RuntimeError):
    """The registry stayed locked too long (a restore, or a very long import)."""

    def __init__(self, path: str | Path, seconds: float):
        super().__init__(f"登记库 {Path(path).name} 正忙（例如正在从备份恢复），{seconds:.0f} 秒后仍未释放，请稍后再试 / "
                         f"the registry {Path(path).name} is busy (for example being restored from a backup) "
                         f"and was not free after {seconds:.0f} s; try again in a moment")
        self.path, self.seconds = str(path), seconds

    def __reduce__(self):
        return (type(self), (self.path, self.seconds))


class RegistryUnavailableError(RuntimeError):
    """The registry's database server cannot be reached (or the connection was lost mid-way).

    Nothing was written: a change in progress was rolled back by the server.
    The message names the server but never the password.
    """

    def __init__(self, where: str, detail: str = ""):
        more = f"（{detail}）" if detail else ""
        more_en = f" ({detail})" if detail else ""
        super().__init__(f"无法连接登记库数据库 {where}{more}，未做任何修改，请稍后再试或联系管理员 / "
                         f"cannot reach the registry database {where}{more_en}; nothing was changed, "
                         f"try again later or tell the administrator")
        self.where, self.detail = where, detail

    def __reduce__(self):
        return (type(self), (self.where, self.detail))


@dataclass(frozen=True)
class StationChanges:
    """What changed in a registry's stations since a position (:meth:`RegistryStore.station_changes`).

    Attributes
    ----------
    position
        Where the registry is now: pass it to the next call.
    changed
        The stations added or changed since, as they are now (the columns of
        :meth:`RegistryStore.load`, private fields included).
    gone
        Ids of stations that no longer exist.
    """

    position: str
    changed: gpd.GeoDataFrame
    gone: list[str]


class RegistryStore(Protocol):
    """What the pages and the command line need from a registry.

    ``location`` is what the registry was opened from (a GeoPackage path or
    a database URL without its password). :meth:`change_stamp` is cheap and
    changes whenever anything in the registry changes, in whichever process
    the change was made: callers key their caches on it.
    """

    location: str

    def change_stamp(self) -> str: ...
    def station_position(self) -> str: ...
    def station_changes(self, since: str) -> StationChanges | None: ...

    def load(self, kinds: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
             region: str | None = None) -> gpd.GeoDataFrame: ...
    def get(self, station_id: str) -> dict | None: ...
    def add(self, record: dict, editor: str = settings.EDITOR_APP) -> dict: ...
    def update(self, station_id: str, changes: dict, expected_version: int | None = None,
               editor: str = settings.EDITOR_APP) -> dict: ...
    def set_status(self, station_id: str, status: str, expected_version: int | None = None,
                   editor: str = settings.EDITOR_APP) -> dict: ...
    def delete_sample(self, editor: str = settings.EDITOR_APP) -> int: ...
    def commit_import(self, report: ImportReport, editor: str = settings.EDITOR_APP) -> dict: ...
    def import_log(self) -> pd.DataFrame: ...
    def history(self, station_id: str) -> pd.DataFrame: ...
    def audit_log(self, limit: int | None = 200) -> pd.DataFrame: ...
    def restore(self, station_id: str, audit_id: int, editor: str = settings.EDITOR_APP,
                expected_version: int | None = None) -> dict: ...

    # -- saved siting scenarios (geo/registry/store/scenarios.py: both backends share it) ----

    def save_scenario(self, name: str, content: str, *, editor: str = settings.EDITOR_APP, version: int = 1,
                      saved_at: str | None = None, overwrite: bool = False, limit: int | None = None) -> dict: ...
    def scenario(self, name: str) -> dict | None: ...
    def scenarios(self) -> list[dict]: ...
    def count_scenarios(self) -> int: ...
    def delete_scenario(self, name: str, *, editor: str = settings.EDITOR_APP) -> bool: ...
    def scenario_log(self, limit: int | None = 200) -> pd.DataFrame: ...

    # -- workers' reports (geo/registry/reports.py) --------------------------

    def add_report(self, station_id: str, report_type: str, text: str | None = None, *, client: str,
                   limits=None) -> dict:
        """File a worker's report about a station, within the client's limits, in one durable transaction.

        In that transaction: limit rows older than ``limits.window_s`` are
        deleted (overwritten, not only unlinked); the station must exist;
        the client's rows within the window are counted against
        ``limits.per_client`` and, for this station, ``limits.per_station``,
        and the same type about the same station is taken once a window;
        then a limit row ``(client, station_id, type, time)`` and the report
        are inserted. The report is ``counted`` (for the not-serving rule)
        unless the same client already has a "closed"/"not found" limit row
        for this station. Nothing but ``client`` identifies the sender, and
        it is kept only in the limit rows.

        Parameters
        ----------
        station_id
            An id of any layer.
        report_type
            One of :data:`geo.registry.reports.REPORT_TYPES`.
        text
            Optional, at most ``settings.REPORT_TEXT_MAX_CHARS`` characters, kept as given.
        client
            :func:`geo.registry.reports.client_key` of the sender's address.
        limits : geo.registry.reports.ReportLimits, optional
            Default: from the settings. (Not imported here: the reports
            module builds on this one.)

        Returns
        -------
        dict
            The report as :meth:`reports` returns a row of it.

        Raises
        ------
        geo.registry.reports.StationNotFound
            No station has that id (nothing is written).
        geo.registry.reports.ReportLimitError
            A limit is reached (nothing but the expired limit rows' deletion is written).
        ValidationError
            Unknown type, or the text is too long or not text.
        """
        ...

    def reports(self, *, station_id: str | None = None, statuses: Iterable[str] | None = None,
                since: str | None = None) -> pd.DataFrame:
        """Workers' reports, oldest first (and the limits' client hashes past their window are deleted).

        Parameters
        ----------
        station_id
            Only this station's.
        statuses
            Only these of :data:`geo.registry.reports.REPORT_STATUSES`.
        since
            Only those filed at or after this UTC ISO 8601 time.

        Returns
        -------
        pandas.DataFrame
            :data:`geo.registry.reports.REPORT_COLUMNS`: ``report_id``,
            ``station_id``, ``type``, ``text`` (as given), ``at`` (UTC ISO
            8601), ``counted`` (bool), ``status``, ``resolved_at``,
            ``resolved_by``, ``reason``, ``audit_id`` (the decision's audit
            row). No client data.
        """
        ...

    def resolve_reports(self, station_id: str, action: str, *, editor: str = settings.EDITOR_APP,
                        types: Iterable[str] | None = None, seen: int | None = None, reason: str = "",
                        changes: dict | None = None, expected_version: int | None = None) -> dict:
        """An editor's decision on a station's open reports, audited.

        ``confirm``: ``changes`` (status, facilities ...), if they change the
        station, are saved as a normal edit (validated, version-checked,
        audited with action ``confirm_reports``), and the answered open
        reports become ``confirmed``, all in the edit's transaction; without
        a change, the audit row records the confirmation (before = after).
        ``dismiss``: the answered open reports become ``dismissed`` with the
        (required) reason. ``keep_open``: only the audit row.

        Parameters
        ----------
        station_id
        action
            ``confirm``, ``dismiss`` or ``keep_open``.
        editor
            Recorded in the audit log and on the reports.
        types
            The report types the decision answers; default every type.
        seen
            The highest ``report_id`` the editor saw: later reports stay open.
        reason
            Required to dismiss; at most 500 characters.
        changes
            Only with ``confirm``: canonical fields to change.
        expected_version
            The station version the editor saw (:class:`ConflictError` otherwise).

        Returns
        -------
        dict
            ``station`` (as stored now), ``action``, ``closed`` (reports
            closed), ``audit_id``.

        Raises
        ------
        geo.registry.reports.StationNotFound
        ValidationError
            Unknown action or type, a dismissal without reason, changes
            without ``confirm``, or an invalid edit.
        ConflictError
        """
        ...


def now_iso() -> str:
    """The current UTC time as ISO 8601, for ``updated_at``, the import log and the audit log."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def check_no_twin(stations: pd.DataFrame, record: dict, *, exclude: Iterable[str] = ()) -> None:
    """Refuse a station entered by hand that the import would take for a registry station listed twice.

    The rule is :mod:`geo.registry.dedupe`'s: same layer, same name (NFKC,
    case and white space aside) within ``settings.DUPLICATE_RADIUS_M``.

    Parameters
    ----------
    stations
        The registry's stations of the record's layer.
    record
        The station to store (``kind``, ``name``, ``lon``, ``lat``).
    exclude
        Ids that are no twin (the station being edited).

    Raises
    ------
    ValidationError
        Naming the station it would duplicate.
    """
    twin = find_twin(stations, record, exclude=exclude)
    if twin is not None:
        raise ValidationError(
            f"{settings.DUPLICATE_RADIUS_M:.0f} 米内已有同名站点 {twin} / a station of the same name "
            f"already exists within {settings.DUPLICATE_RADIUS_M:.0f} m: {twin}")


def twin_box(record: dict) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of the stations a duplicate check of ``record`` must read.

    A twin lies within ``settings.DUPLICATE_RADIUS_M``; the box is three
    times that, and at least 1 km, each way, so that a backend reads the
    stations in it instead of the record's whole layer.
    """
    lon, lat = float(record["lon"]), float(record["lat"])
    dlat = max(0.01, 3 * settings.DUPLICATE_RADIUS_M / 111_000)
    dlon = dlat / max(math.cos(math.radians(lat)), 0.05)
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def keep_private_fields(old: dict, rec: dict) -> None:
    """Keep what a public export left out of a non-public station.

    A public export empties the phone, notes and extra of non-public
    stations and cuts their address to city and district; importing such a
    file back must not wipe the registry's own values. Edits still can.

    Parameters
    ----------
    old
        The station as stored.
    rec
        The imported record, changed in place.
    """
    if old.get("public", True) or rec.get("public", True):
        return
    for name in ("phone", "notes", "extra"):
        if not rec.get(name) and old.get(name):
            rec[name] = old[name]
    coarse = f"{old.get('city') or ''}{old.get('district') or ''}"
    if old.get("address") and (rec.get("address") or "") in ("", coarse):
        rec["address"] = old["address"]


def editor_name(editor: str) -> str:
    """Who made a change, as recorded; refuses an empty name."""
    name = re.sub(r"\s+", " ", str(editor or "")).strip()
    if not name:
        raise ValidationError("缺少编辑人 / no editor given")
    return name[:_MAX_EDITOR_CHARS]


def restored_record(target: dict, current: dict | None, *, station_id: str, expected_version: int | None,
                    last_version: int | None) -> dict | None:
    """The record a restore writes, by the same rules in every store; None when nothing would change.

    Parameters
    ----------
    target : dict
        The station as the chosen audit entry left it.
    current : dict or None
        The station as stored now (None: removed since).
    station_id : str
    expected_version : int, optional
        The version the editor saw; another is a conflict.
    last_version : int, optional
        The highest version the audit log has for the station, so a restored
        station never reuses a version number.

    Raises
    ------
    ConflictError
        When the station changed since the editor opened it.
    """
    if current is not None and expected_version is not None \
            and int(current["version"] or 1) != int(expected_version):
        raise ConflictError(current, {**target, "id": station_id, "version": int(expected_version)})
    if current is not None and not changed_fields(current, target):
        return None
    version = max(int(current["version"] or 1) if current else 0, int(last_version or 0)) + 1
    return {**{f.name: None for f in FIELDS}, **target, "id": station_id, "version": version,
            "updated_at": now_iso()}


def audit_json(rec: dict) -> str:
    """A station record as an audit row's ``before`` or ``after`` text."""
    return json.dumps(rec, ensure_ascii=False, default=str)


def audit_row(editor: str, action: str, before: dict | None, after: dict | None, stamp: str,
              import_id: int | None = None) -> tuple:
    """The values of one ``audit_log`` row, in the order of :data:`AUDIT_INSERT`.

    Parameters
    ----------
    editor
        Who made the change (:func:`editor_name`).
    action
        One of :data:`AUDIT_ACTIONS`.
    before, after
        The station before and after the change; None where it did not exist.
    stamp
        When (:func:`now_iso`).
    import_id
        The ``import_log`` row of an import.
    """
    rec = after or before
    return (stamp, editor, rec["id"], rec["kind"], action, None if after is None else after.get("version"),
            import_id, None if before is None else audit_json(before), None if after is None else audit_json(after))


def station_frame(records: list[dict], *, statuses: Iterable[str] | None = None,
                  region: str | None = None) -> gpd.GeoDataFrame:
    """Stored station records as the GeoDataFrame (WGS-84) :meth:`RegistryStore.load` returns.

    Parameters
    ----------
    records
        Canonical records, in the order to keep.
    statuses
        Keep only these statuses.
    region
        Adcode of the province, a city or a district.
    """
    df = pd.DataFrame(records, columns=[f.name for f in FIELDS])
    df["truck_parking_spaces"] = df["truck_parking_spaces"].astype("Int64")
    gdf = gpd.GeoDataFrame(df, geometry=points(df["lon"].to_numpy(float), df["lat"].to_numpy(float)),
                           crs="EPSG:4326")
    from geo.registry.export import filter_stations  # export builds on the store's frames

    return filter_stations(gdf, statuses=statuses, region=region)


def history_frame(rows: Iterable) -> pd.DataFrame:
    """Audit rows ``(fid, at, editor, action, version, import_id, before, after)`` as :meth:`RegistryStore.history` returns them.

    ``before`` and ``after`` are the stored JSON texts (or empty).
    """
    out = []
    for fid, at, editor, action, version, import_id, before, after in rows:
        before = json.loads(before) if before else None
        after = json.loads(after) if after else None
        out.append({"audit_id": int(fid), "at": at, "editor": editor, "action": action, "version": version,
                    "import_id": import_id, "changed": changed_fields(before, after),
                    "before": before, "after": after})
    df = pd.DataFrame(out, columns=HISTORY_COLUMNS)
    df["version"] = df["version"].astype("Int64")
    df["import_id"] = df["import_id"].astype("Int64")
    return df


class SqlDialect:
    """How the SQL the backends share is written: ``?`` placeholders, turned into the backend's by :meth:`_q`.

    The GeoPackage store (SQLite) uses these defaults; the PostGIS store
    sets ``_PARAM = "%s"``, ``_AS_TEXT = "::text"`` (its audit columns are
    ``json``, read back as the very text stored) and :meth:`_any` as ``= ANY(?)``.
    """

    _PARAM = "?"
    _AS_TEXT = ""

    def _q(self, query: str) -> str:
        return query.replace("?", self._PARAM)

    def _any(self, column: str, values: Iterable) -> tuple[str, list]:
        """A condition ``column`` is one of ``values``, and its arguments."""
        values = list(values)
        return f"{column} IN ({','.join('?' * len(values))})", values
