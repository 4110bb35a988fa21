"""Siting scenarios: save, name, list, load and compare recommendations.

A scenario is one :class:`geo.analysis.siting.result.SitingResult` kept under
a name in the registry (a row of its ``scenarios`` table, on either
backend: :mod:`geo.registry.store.scenarios`), so every app server of a
deployment sees the scenarios any of them saved, and ``registry copy``,
``backup`` and ``restore`` carry them. Saving, replacing and deleting
record the editor, and each is logged in the registry's ``scenario_log``.
A scenario is a proposal: it becomes real stations only when its
planned-station GeoJSON is imported (``python -m geo import``).

What is stored (``format`` ``geo-siting-scenario``, ``version`` 1) is the
text the scenario files of earlier versions held::

    {"format": ..., "version": 1, "name": "...", "saved_at": "2026-...Z",
     "note": "...", "result": {... SitingResult.to_dict(max_gaps=None) ...}}

Earlier versions kept one such file per scenario in a folder
(``GEO_SCENARIO_DIR``, default ``data/scenarios/``). The first time the
configured registry's scenarios are used, the files of that folder are
imported into it (:func:`import_scenario_folder`): a file whose name is
taken by a different scenario comes in under the name plus ``（导入 …）``,
nothing is overwritten, and the files stay where they were. A note
``IMPORTED.txt`` is then written in the folder, so the import runs once (a
scenario deleted later is not brought back), and a warning is logged.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd

from geo import settings
from geo.analysis.siting.result import SitingResult, proposal_frame
from geo.core.files import write_private
from geo.registry.store import RegistryStore, open_store
from geo.registry.store.scenarios import (ScenarioExistsError, ScenarioLimitError, ScenarioNotFoundError,
                                          scenario_name)

__all__ = ["FORMAT", "VERSION", "IMPORTED_NOTE", "IMPORT_EDITOR", "ScenarioExistsError", "ScenarioLimitError",
           "ScenarioNotFoundError", "compare_scenarios", "count_scenarios", "delete_scenario",
           "import_scenario_folder", "list_scenarios", "load_scenario", "rename", "save_scenario",
           "scenario_dir"]

FORMAT = "geo-siting-scenario"
VERSION = 1
#: The note the one-time import leaves in the old folder (its presence means: imported, do not again).
IMPORTED_NOTE = "IMPORTED.txt"
#: Who the one-time import is recorded as.
IMPORT_EDITOR = "方案文件导入 / scenario folder import"

_log = logging.getLogger(__name__)
#: (folder, registry) pairs this process has already checked for an import.
_checked: set[tuple[str, str]] = set()


def scenario_dir(folder: str | Path | None = None) -> Path:
    """The old scenario folder: ``folder``, else :func:`geo.settings.scenario_dir` (``GEO_SCENARIO_DIR``).

    Read only by the one-time import (:func:`import_scenario_folder`).
    """
    return Path(folder or settings.scenario_dir())


def _store(registry: str | Path | RegistryStore | None) -> RegistryStore:
    if registry is not None and not isinstance(registry, (str, Path)):
        return registry
    store = open_store(registry)
    if registry is None:
        # The configured registry: the old folder's files come in the first time it is used.
        key = (str(scenario_dir()), store.location)
        if key not in _checked:
            folder = scenario_dir()
            if any(folder.glob("*.json")) and not (folder / IMPORTED_NOTE).exists():
                import_scenario_folder(folder, registry=store)
            _checked.add(key)
    return store


def rename(result: SitingResult, name: str) -> SitingResult:
    """A copy of ``result`` called ``name``, its planned stations re-sourced ``plan:<name>``."""
    name = scenario_name(name)
    kind = (result.standard.get("kinds") or ["rest_station"])[0]
    old = result.proposal
    unit = json.loads(old["extra"].iloc[0] or "{}").get("demand_unit", "") if len(old) else ""
    frame = proposal_frame(result.sites, kind, name, model=result.model, method=result.method, unit=unit)
    return replace(result, scenario=name, proposal=frame, notes=list(result.notes), timings=dict(result.timings))


def _text(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=1)


def save_scenario(result: SitingResult, name: str | None = None, *, registry: str | Path | RegistryStore | None = None,
                  note: str = "", overwrite: bool = False, editor: str = settings.EDITOR_APP) -> dict:
    """Save a result as a named scenario in the registry.

    Parameters
    ----------
    result
        The recommendation to keep.
    name
        Default ``result.scenario``. Another name renames the result, and its
        planned stations' source becomes ``plan:<name>``. White space runs
        become one space; empty or over 200 characters is refused.
    registry
        A registry location or an open store; default the configured registry.
    note
        Free text kept with the scenario.
    overwrite
        Replace a scenario of the same name; otherwise that is an error.
    editor
        Who saves (the logged-in editor's name on the pages): kept with the
        scenario and in the registry's ``scenario_log``.

    Returns
    -------
    dict
        ``name``, ``saved_at``, ``editor``, ``replaced``.

    Raises
    ------
    ScenarioExistsError
        A scenario of that name exists and ``overwrite`` is false (a ``FileExistsError``).
    ScenarioLimitError
        The name is new and the registry already holds ``settings.SCENARIO_MAX_FILES``
        scenarios: a form that saves must not fill the disk.
    ValueError
        A refused name (in Chinese and English).
    """
    name = scenario_name(name or result.scenario)
    if name != result.scenario:
        result = rename(result, name)
    stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    doc = {"format": FORMAT, "version": VERSION, "name": name, "saved_at": stamp, "note": str(note or ""),
           "result": result.to_dict(max_gaps=None)}
    return _store(registry).save_scenario(name, _text(doc), editor=editor, version=VERSION, saved_at=stamp,
                                          overwrite=overwrite)


def _parse(text: str, where: str) -> dict:
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"不是方案 / not a scenario: {where}")
    return doc


def load_scenario(name: str | Path, *, registry: str | Path | RegistryStore | None = None) -> SitingResult:
    """A saved scenario by name, or a scenario file (a :class:`~pathlib.Path`, or a path ending ``.json`` that exists).

    Raises
    ------
    ScenarioNotFoundError
        No scenario of that name (a ``FileNotFoundError``; the message names no server path).
    """
    if isinstance(name, Path) or str(name).endswith(".json") and Path(name).exists():
        path = Path(name)
        return SitingResult.from_dict(_parse(path.read_text(encoding="utf-8"), path.name)["result"])
    row = _store(registry).scenario(str(name))
    if row is None:
        raise ScenarioNotFoundError(scenario_name(str(name)))
    return SitingResult.from_dict(_parse(row["content"], row["name"])["result"])


def count_scenarios(*, registry: str | Path | RegistryStore | None = None) -> int:
    """How many scenarios the registry holds (what :data:`settings.SCENARIO_MAX_FILES` limits)."""
    return _store(registry).count_scenarios()


def delete_scenario(name: str, *, registry: str | Path | RegistryStore | None = None,
                    editor: str = settings.EDITOR_APP) -> bool:
    """Delete a saved scenario (logged with ``editor``); returns whether there was one."""
    return _store(registry).delete_scenario(name, editor=editor)


_LIST_COLUMNS = ["name", "saved_at", "editor", "note", "region", "kind", "model", "method", "status", "gap",
                 "new_sites", "total_cost", "before_share", "after_share", "added_demand"]


def list_scenarios(*, registry: str | Path | RegistryStore | None = None) -> pd.DataFrame:
    """Saved scenarios, newest first: name, when, by whom, region, model, sites and shares."""
    rows = []
    for row in _store(registry).scenarios():
        try:
            doc = _parse(row["content"], row["name"])
        except ValueError:  # not written by this module (json's errors are ValueErrors too)
            continue
        r = doc["result"]
        rows.append({"name": row["name"], "saved_at": row["saved_at"], "editor": row["editor"],
                     "note": doc.get("note", ""),
                     "region": f"{r.get('region', {}).get('name', '')} ({r.get('region', {}).get('adcode', '')})",
                     "kind": ",".join(r.get("standard", {}).get("kinds", [])), "model": r.get("model"),
                     "method": r.get("method"), "status": r.get("status"), "gap": r.get("gap"),
                     "new_sites": len(r.get("sites") or []), "total_cost": r.get("total_cost"),
                     "before_share": r.get("before_share"), "after_share": r.get("after_share"),
                     "added_demand": r.get("added_demand")})
    df = pd.DataFrame(rows, columns=_LIST_COLUMNS)
    return df.sort_values(["saved_at", "name"], ascending=[False, True], kind="stable").reset_index(drop=True)


def import_scenario_folder(folder: str | Path, *, registry: str | Path | RegistryStore | None = None,
                           editor: str = IMPORT_EDITOR) -> dict:
    """Import the scenario files of an old folder into the registry, and leave a note there that it was done.

    Nothing is overwritten and no file is removed: a file whose scenario is
    already in the registry (same name, same result) is counted as
    ``present``; one whose name is taken by a different scenario comes in as
    ``name（导入 <8 hex>）`` (its planned stations re-sourced); files that
    are not scenarios are ``skipped``. The registry's scenario limit does
    not apply: these scenarios exist already. Then :data:`IMPORTED_NOTE` is
    written in the folder, so the configured registry imports it once.

    Parameters
    ----------
    folder
        The old scenario folder (one ``*.json`` file per scenario).
    registry
        A registry location or an open store; default the configured registry.
    editor
        Recorded as who saved the imported scenarios.

    Returns
    -------
    dict
        ``imported`` (names saved), ``present`` (count), ``skipped`` (file
        names), ``note`` (the note's path, or None if it could not be written).
    """
    folder = Path(folder)
    store = open_store(registry) if registry is None or isinstance(registry, (str, Path)) else registry
    imported, present, skipped = [], 0, []
    for path in sorted(folder.glob("*.json")):
        try:
            text = path.read_text(encoding="utf-8")
            doc = _parse(text, path.name)
            name = scenario_name(doc.get("name"))
        except (ValueError, OSError, UnicodeDecodeError):
            skipped.append(path.name)
            continue
        there = store.scenario(name)
        if there is not None:
            if _parse(there["content"], name).get("result") == doc.get("result"):
                present += 1
                continue
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
            suffix = f"（导入 {digest}）"
            name = scenario_name(name[:200 - len(suffix)] + suffix)
            if store.scenario(name) is not None:
                present += 1  # imported under that name before
                continue
            result = rename(SitingResult.from_dict(doc["result"]), name)
            doc = {**doc, "name": name, "result": result.to_dict(max_gaps=None)}
            text = _text(doc)
        try:
            store.save_scenario(name, text, editor=editor, version=int(doc.get("version") or VERSION),
                                saved_at=str(doc.get("saved_at") or "") or None, limit=sys.maxsize)
        except ScenarioExistsError:
            present += 1  # another server importing the same folder at this moment saved it first
            continue
        imported.append(name)
    note = folder / IMPORTED_NOTE
    message = (f"{datetime.now(timezone.utc).replace(microsecond=0).isoformat()}\n"
               f"本文件夹的方案已导入登记库 {store.location}：新导入 {len(imported)} 个，已存在 {present} 个，"
               f"跳过 {len(skipped)} 个非方案文件。应用不再读取本文件夹；文件保留为副本。\n"
               f"The scenarios of this folder were imported into the registry {store.location}: {len(imported)} "
               f"imported, {present} already there, {len(skipped)} files that are not scenarios skipped. The app no "
               f"longer reads this folder; the files are kept as a copy.\n")
    try:
        write_private(note, message.encode("utf-8"))
    except OSError as exc:
        _log.warning("could not write %s (%s): the import will be checked again next time", note, exc)
        note = None
    _log.warning("imported %d saved scenarios from %s into the registry %s (%d already there, %d skipped)",
                 len(imported), folder, store.location, present, len(skipped))
    return {"imported": imported, "present": present, "skipped": skipped, "note": None if note is None else str(note)}


def compare_scenarios(scenarios: Iterable[str | SitingResult], *,
                      registry: str | Path | RegistryStore | None = None) -> pd.DataFrame:
    """Scenarios side by side: one column per scenario, one row per measure.

    Parameters
    ----------
    scenarios
        Saved scenario names (or paths), or results in hand.
    registry
        Where saved scenarios are: a registry location or an open store;
        default the configured registry.

    Returns
    -------
    DataFrame
        Index: the measure (region, standard, model, method, status, gap, new
        sites, total cost, demand before / after / added, covered share
        before / after, percentage points gained, demand per new site,
        remaining gaps, the largest remaining gap's demand, mean travel for
        p-median), then one row per district ``after_share <adcode> <name>``.
        Columns: scenario names (made unique if repeated).
    """
    store = None
    results = []
    for s in scenarios:
        if not isinstance(s, SitingResult):
            store = store or _store(registry)
            s = load_scenario(s, registry=store)
        results.append(s)
    cols: dict[str, dict] = {}
    for r in results:
        label = r.scenario
        k = 2
        while label in cols:
            label, k = f"{r.scenario} ({k})", k + 1
        n = len(r.sites)
        gaps = r.gaps
        col = {
            "region": f"{r.region.get('name', '')} ({r.region.get('adcode', '')})",
            "standard": r.standard.get("label", ""),
            "model": r.model, "method": r.method, "status": r.status, "gap": r.gap,
            "new_sites": n, "total_cost": r.total_cost,
            "before_demand": r.before_demand, "after_demand": r.after_demand, "added_demand": r.added_demand,
            "before_share": r.before_share, "after_share": r.after_share,
            "gain_points": round(100.0 * (r.after_share - r.before_share), 4),
            "demand_per_site": (r.added_demand / n) if n else None,
            "target_share": r.target_share, "target_met": r.target_met,
            "remaining_gaps": int(len(gaps)),
            "largest_gap_demand": float(gaps["demand"].max()) if len(gaps) and "demand" in gaps else None,
            "mean_travel_before": (r.travel or {}).get("before_mean"),
            "mean_travel_after": (r.travel or {}).get("after_mean"),
        }
        for d in r.districts.itertuples():
            col[f"after_share {d.adcode} {d.name}"] = d.after_share
        cols[label] = col
    table = pd.DataFrame(cols)
    table.index.name = "measure"
    return table
