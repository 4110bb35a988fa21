"""Siting scenarios: save, name, list, load and compare recommendations.

A scenario is one :class:`geo.analysis.siting.result.SitingResult` kept under a name, as
one JSON file in :func:`geo.settings.scenario_dir` (environment
``GEO_SCENARIO_DIR``; default ``data/scenarios/``). Files rather than a
table in the registry GeoPackage: a scenario is a proposal, not registry
data, so planners can try many without touching the registry (and its
version history), copy or mail one as a single file, and delete it by
deleting the file. A scenario becomes real only when its planned-station
GeoJSON is imported (``python -m geo import``).

File layout (``format`` ``geo-siting-scenario``, ``version`` 1)::

    {"format": ..., "version": 1, "name": "...", "saved_at": "2026-...Z",
     "note": "...", "result": {... SitingResult.to_dict(max_gaps=None) ...}}

The file name is the name made safe for any file system plus a short hash
of the exact name, so names differing only in punctuation do not collide.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd

from geo import settings
from geo.core.files import private_dir, write_private
from geo.analysis.siting.result import SitingResult, proposal_frame

FORMAT = "geo-siting-scenario"
VERSION = 1


class ScenarioLimitError(ValueError):
    """The scenario folder already holds ``settings.SCENARIO_MAX_FILES`` files; nothing was saved.

    Attributes
    ----------
    zh, en : str
        The message in each language (``geo.core.i18n.error_text`` picks one).
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.zh = f"方案已达上限（{limit} 个），未保存。请先删除不再需要的方案，或替换同名方案。"
        self.en = (f"The scenario folder is full ({limit} scenarios); nothing was saved. Delete scenarios "
                   "no longer needed first, or replace one of the same name.")
        super().__init__(f"{self.zh} / {self.en}")

    def __reduce__(self):
        return type(self), (self.limit,)


def scenario_dir(folder: str | Path | None = None) -> Path:
    """The scenario folder: ``folder``, else :func:`geo.settings.scenario_dir` (``GEO_SCENARIO_DIR``)."""
    return Path(folder or settings.scenario_dir())


def scenario_path(name: str, folder: str | Path | None = None) -> Path:
    """Where the scenario called ``name`` is (or would be) saved."""
    name = _check_name(name)
    safe = re.sub(r"[^\w\-]+", "_", name, flags=re.UNICODE).strip("_")[:60] or "scenario"
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return scenario_dir(folder) / f"{safe}-{digest}.json"


def _check_name(name: str) -> str:
    name = re.sub(r"\s+", " ", str(name or "")).strip()
    if not name:
        raise ValueError("方案名称不能为空 / a scenario needs a name")
    if len(name) > 200:
        raise ValueError("方案名称过长（最多 200 字） / a scenario name has at most 200 characters")
    return name


def rename(result: SitingResult, name: str) -> SitingResult:
    """A copy of ``result`` called ``name``, its planned stations re-sourced ``plan:<name>``."""
    name = _check_name(name)
    kind = (result.standard.get("kinds") or ["rest_station"])[0]
    old = result.proposal
    unit = json.loads(old["extra"].iloc[0] or "{}").get("demand_unit", "") if len(old) else ""
    frame = proposal_frame(result.sites, kind, name, model=result.model, method=result.method, unit=unit)
    return replace(result, scenario=name, proposal=frame, notes=list(result.notes), timings=dict(result.timings))


def save_scenario(result: SitingResult, name: str | None = None, folder: str | Path | None = None, *,
                  note: str = "", overwrite: bool = False) -> Path:
    """Save a result as a named scenario.

    Parameters
    ----------
    result
        The recommendation to keep.
    name
        Default ``result.scenario``. Another name renames the result, and its
        planned stations' source becomes ``plan:<name>``.
    folder
        Default :func:`scenario_dir`.
    note
        Free text kept with the scenario.
    overwrite
        Replace a scenario of the same name; otherwise that is an error.

    Returns
    -------
    Path
        The file written (atomically: a reader never sees half a file).

    Raises
    ------
    FileExistsError
        A scenario of that name exists and ``overwrite`` is false.
    ScenarioLimitError
        The name is new and the folder already holds ``settings.SCENARIO_MAX_FILES``
        files (any ``*.json``, scenario or not): a form that saves must not fill the disk.
    """
    name = _check_name(name or result.scenario)
    if name != result.scenario:
        result = rename(result, name)
    path = scenario_path(name, folder)
    if path.exists() and not overwrite:
        raise FileExistsError(f"方案已存在 / a scenario called {name!r} exists: {path} (overwrite=True to replace)")
    # Two saves at the same moment may both pass: the limit is a guard against filling the disk, not a quota.
    if not path.exists() and count_files(folder) >= settings.SCENARIO_MAX_FILES:
        raise ScenarioLimitError(settings.SCENARIO_MAX_FILES)
    private_dir(path.parent)
    doc = {"format": FORMAT, "version": VERSION, "name": name,
           "saved_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(), "note": str(note or ""),
           "result": result.to_dict(max_gaps=None)}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_private(tmp, json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
    os.replace(tmp, path)
    return path


def _read(path: Path) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != FORMAT:
        raise ValueError(f"不是方案文件 / not a scenario file: {path}")
    return doc


def load_scenario(name: str | Path, folder: str | Path | None = None) -> SitingResult:
    """A saved scenario, by name or by file path.

    Raises
    ------
    FileNotFoundError
        No scenario of that name.
    """
    path = Path(name) if isinstance(name, Path) or str(name).endswith(".json") and Path(name).exists() \
        else scenario_path(str(name), folder)
    if not path.exists():
        raise FileNotFoundError(f"找不到方案 / no scenario called {name!r} in {scenario_dir(folder)}")
    return SitingResult.from_dict(_read(path)["result"])


def count_files(folder: str | Path | None = None) -> int:
    """How many ``*.json`` files the scenario folder holds (what :data:`settings.SCENARIO_MAX_FILES` limits)."""
    base = scenario_dir(folder)
    return sum(1 for _ in base.glob("*.json")) if base.exists() else 0


def delete_scenario(name: str, folder: str | Path | None = None) -> bool:
    """Delete a saved scenario; returns whether there was one."""
    path = scenario_path(name, folder)
    if path.exists():
        path.unlink()
        return True
    return False


_LIST_COLUMNS = ["name", "saved_at", "note", "region", "kind", "model", "method", "status", "gap", "new_sites",
                 "total_cost", "before_share", "after_share", "added_demand", "path"]


def list_scenarios(folder: str | Path | None = None) -> pd.DataFrame:
    """Saved scenarios, newest first: name, when, region, model, sites and shares.

    Files that are not scenarios are skipped.
    """
    rows = []
    base = scenario_dir(folder)
    for path in sorted(base.glob("*.json")) if base.exists() else []:
        try:
            doc = _read(path)
        except (ValueError, OSError):
            continue
        r = doc["result"]
        rows.append({"name": doc["name"], "saved_at": doc.get("saved_at", ""), "note": doc.get("note", ""),
                     "region": f"{r.get('region', {}).get('name', '')} ({r.get('region', {}).get('adcode', '')})",
                     "kind": ",".join(r.get("standard", {}).get("kinds", [])), "model": r.get("model"),
                     "method": r.get("method"), "status": r.get("status"), "gap": r.get("gap"),
                     "new_sites": len(r.get("sites") or []), "total_cost": r.get("total_cost"),
                     "before_share": r.get("before_share"), "after_share": r.get("after_share"),
                     "added_demand": r.get("added_demand"), "path": str(path)})
    df = pd.DataFrame(rows, columns=_LIST_COLUMNS)
    return df.sort_values(["saved_at", "name"], ascending=[False, True], kind="stable").reset_index(drop=True)


def compare_scenarios(scenarios: Iterable[str | SitingResult], folder: str | Path | None = None) -> pd.DataFrame:
    """Scenarios side by side: one column per scenario, one row per measure.

    Parameters
    ----------
    scenarios
        Saved scenario names (or paths), or results in hand.
    folder
        Where saved scenarios are; default :func:`scenario_dir`.

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
    results = [s if isinstance(s, SitingResult) else load_scenario(s, folder) for s in scenarios]
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
