"""What a siting run recommends, and the evidence: :class:`SitingResult`, its tables and its proposal.

The proposal (the new sites as planned registry stations, :func:`proposal_frame`)
stays a GeoDataFrame until it is written: :attr:`SitingResult.proposal_geojson`
and :meth:`SitingResult.write_proposal` write it with the registry's GeoJSON
writer (:func:`geo.registry.export.to_geojson`), so ``python -m geo import``
reads it back as planned stations.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo import settings
from geo.analysis.gaps import gap_change_text, gap_changes, gap_labels, gap_table
from geo.analysis.serialize import json_number, json_records
from geo.analysis.siting.greedy import TOL, CapacityState
from geo.analysis.siting.matrix import column_minimum, take_rows
from geo.analysis.siting.labels import site_labels
from geo.analysis.siting.problem import SitingProblem
from geo.core.regions import locate
from geo.core.schema import FIELD_NAMES, station_id
from geo.registry.export import to_geojson


@dataclass
class SitingResult:
    """What a siting run recommends, and the evidence.

    Attributes
    ----------
    scenario : str
        Name, used in the planned stations' ``source`` (``plan:<scenario>``).
    model : str
        ``mclp``, ``lscp`` or ``pmedian``.
    method : str
        ``exact`` (HiGHS) or ``greedy``.
    status : str
        ``optimal``, ``time_limit``, ``greedy``, ``infeasible`` ...
    gap : float or None
        Relative optimality gap: 0 when proven optimal; at a time limit the
        gap to HiGHS's bound; for greedy MCLP the certified gap to the
        data-dependent bound; ``None`` when unknown.
    sites : DataFrame
        Rank order: ``rank``, ``candidate_id``, ``name``, ``lon``, ``lat``,
        ``added_demand`` (marginal newly covered demand, in rank order),
        ``cost``, ``capacity``, ``adcode``, ``district``, and for p-median
        ``travel_saved`` (marginal demand-weighted travel saved, the rank key).
    before_share, after_share : float
        Covered demand share before and after.
    districts : DataFrame
        Per district: ``adcode``, ``name``, ``demand``, ``before_share``,
        ``after_share``, ``added_demand``, ``new_sites``.
    gaps : DataFrame
        Remaining gaps (the engine's gap table) after the new sites.
    proposal : GeoDataFrame
        The sites as planned registry stations (:func:`proposal_frame`);
        :attr:`proposal_geojson` writes them.
    travel_label : str
        The baseline's share of cells by travel method, both languages
        (:func:`geo.analysis.coverage.method_mix_label`).
    change : dict or None
        What the sites did to the gaps and to the uncovered area and demand
        (:func:`geo.analysis.gaps.gap_changes`): read this, not the bare gap
        count, which can rise when a gap splits.
    """

    scenario: str
    model: str
    method: str
    status: str
    gap: float | None
    bound: float | None
    objective: float | None
    guarantee: str
    region: dict
    standard: dict
    resolution: int | None
    travel_method: str
    p: int
    target_share: float | None
    target_met: bool | None
    budget: float | None
    total_cost: float | None
    demand_total: float
    before_demand: float
    after_demand: float
    before_share: float
    after_share: float
    sites: pd.DataFrame
    districts: pd.DataFrame
    gaps: pd.DataFrame
    proposal: gpd.GeoDataFrame
    candidates: dict = field(default_factory=dict)
    before_share_area: float | None = None
    after_share_area: float | None = None
    travel: dict | None = None
    verified: dict | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    change: dict | None = None
    travel_label: str = ""

    @property
    def change_text(self) -> str:
        """:attr:`change` in words, both languages ("" when unknown, e.g. a scenario saved before it existed)."""
        if not self.change:
            return ""
        return gap_change_text(self.change, unit=str(self.change.get("demand_unit", "")))

    @property
    def added_demand(self) -> float:
        """Demand the new sites newly cover."""
        return self.after_demand - self.before_demand

    def to_dict(self, max_gaps: int | None = settings.COVERAGE_MAX_GAPS) -> dict:
        """The JSON form (``python -m geo plan --json`` and saved scenarios)."""
        gaps = self.gaps if max_gaps is None else self.gaps.head(max_gaps)
        num = json_number
        return {
            "scenario": self.scenario, "model": self.model, "method": self.method, "status": self.status,
            "gap": num(self.gap, 9), "bound": num(self.bound, 6), "objective": num(self.objective, 6),
            "guarantee": self.guarantee, "region": dict(self.region), "standard": dict(self.standard),
            "resolution": self.resolution, "travel_method": self.travel_method,
            "travel_label": self.travel_label, "new": int(self.p),
            "target_share": self.target_share, "target_met": self.target_met, "budget": self.budget,
            "total_cost": num(self.total_cost, 6), "demand_total": num(self.demand_total, 6),
            "before_demand": num(self.before_demand, 6), "after_demand": num(self.after_demand, 6),
            "added_demand": num(self.added_demand, 6), "before_share": num(self.before_share, 9),
            "after_share": num(self.after_share, 9), "before_share_area": num(self.before_share_area, 9),
            "after_share_area": num(self.after_share_area, 9), "travel": self.travel,
            "sites": _site_records(self.sites), "districts": json_records(self.districts),
            "gaps_total": int(len(self.gaps)), "gaps": json_records(gaps), "candidates": self.candidates,
            "verified": self.verified, "change": self.change, "change_text": self.change_text,
            "proposal": json.loads(self.proposal_geojson),
            "notes": list(self.notes), "timings": dict(self.timings),
        }

    def to_json(self, **kwargs) -> str:
        """:meth:`to_dict` as JSON text (UTF-8, Chinese kept)."""
        return json.dumps(self.to_dict(**kwargs), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "SitingResult":
        """Rebuild a result from :meth:`to_dict` (a saved scenario)."""
        return cls(
            scenario=d["scenario"], model=d["model"], method=d["method"], status=d["status"], gap=d.get("gap"),
            bound=d.get("bound"), objective=d.get("objective"), guarantee=d.get("guarantee", ""),
            region=d.get("region") or {}, standard=d.get("standard") or {}, resolution=d.get("resolution"),
            travel_method=d.get("travel_method", ""), p=int(d.get("new", 0)), target_share=d.get("target_share"),
            target_met=d.get("target_met"), budget=d.get("budget"), total_cost=d.get("total_cost"),
            demand_total=float(d.get("demand_total") or 0.0), before_demand=float(d.get("before_demand") or 0.0),
            after_demand=float(d.get("after_demand") or 0.0), before_share=float(d.get("before_share") or 0.0),
            after_share=float(d.get("after_share") or 0.0), sites=pd.DataFrame(d.get("sites") or [],
                                                                               columns=_SITE_COLUMNS),
            districts=pd.DataFrame(d.get("districts") or [], columns=_DISTRICT_COLUMNS),
            gaps=pd.DataFrame(d.get("gaps") or []), proposal=proposal_from_document(d.get("proposal")),
            candidates=d.get("candidates") or {}, before_share_area=d.get("before_share_area"),
            after_share_area=d.get("after_share_area"), travel=d.get("travel"), verified=d.get("verified"),
            notes=list(d.get("notes") or []), timings=dict(d.get("timings") or {}), change=d.get("change"),
            travel_label=d.get("travel_label") or "")

    @property
    def proposal_geojson(self) -> str:
        """The planned-station file: :attr:`proposal` as GeoJSON text, by the registry's writer.

        Besides the features, the collection names the scenario and the
        standard (foreign members, RFC 7946 section 6.1: the import ignores them).
        """
        return to_geojson(self.proposal, members={"scenario": self.scenario, "standard": dict(self.standard)})

    def write_proposal(self, path: str | Path) -> Path:
        """Write the planned-station GeoJSON (import it with ``python -m geo import PATH``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.proposal_geojson, encoding="utf-8")
        return path


def _site_records(sites: pd.DataFrame) -> list[dict]:
    # Positions to 7 decimals, as the registry stores them (the engine's records keep 6).
    out = json_records(sites)
    for rec, lon, lat in zip(out, sites["lon"].to_numpy(float), sites["lat"].to_numpy(float)):
        rec["lon"], rec["lat"] = round(float(lon), 7), round(float(lat), 7)
    return out


_SITE_COLUMNS = ["rank", "candidate_id", "name", "lon", "lat", "added_demand", "cost", "capacity", "adcode",
                 "district", "travel_saved", "label", "road", "h3"]
# Names the engine gives rows of a candidate file without a name column.
_UNNAMED = re.compile(r"^候选点 \d+ / Candidate \d+$")
_DISTRICT_COLUMNS = ["adcode", "name", "demand", "before_share", "after_share", "added_demand", "new_sites"]


def _slug(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def default_scenario_name(problem: SitingProblem, model: str, p: int, target_share: float | None) -> str:
    """``<adcode>-<kind>-<model>-p<P>`` (or ``-s<share>`` for LSCP), e.g. ``440106-rest_station-mclp-p5``."""
    adcode = problem.baseline.region.adcode if problem.baseline is not None else "custom"
    tail = f"s{target_share:g}" if model == "lscp" and target_share is not None else f"p{p}"
    return f"{adcode}-{problem.standard.kinds[0]}-{model}-{tail}"


def proposal_frame(sites: pd.DataFrame, kind: str, scenario: str, *, model: str = "", method: str = "",
                   unit: str = "") -> gpd.GeoDataFrame:
    """Proposed sites as registry stations: ``status`` planned, source ``plan:<scenario>``.

    Names follow ``settings.SITING_SITE_NAME``; the id is derived from the
    source and the candidate id (:func:`geo.core.schema.station_id`), so a
    re-planned scenario that keeps a candidate keeps its station id, and a
    re-import updates instead of doubling. The rank, marginal demand, cost
    and candidate are kept in ``extra``.
    """
    source = f"plan:{_slug(scenario)}"
    lon, lat = sites["lon"].to_numpy(float), sites["lat"].to_numpy(float)
    where = locate(lon, lat) if len(sites) else pd.DataFrame(columns=["adcode", "city", "district"])
    recs = []
    for i, row in enumerate(sites.itertuples(index=False)):
        rank = int(row.rank)
        name = settings.SITING_SITE_NAME.format(rank=rank)
        extra = {"rank": rank, "added_demand": json_number(row.added_demand, 6), "demand_unit": unit,
                 "candidate_id": str(row.candidate_id), "candidate_name": str(row.name),
                 "cost": json_number(row.cost, 6), "capacity": json_number(row.capacity, 6), "scenario": scenario,
                 "model": model, "method": method}
        w = where.iloc[i]
        recs.append({
            "id": station_id(kind, source, str(row.candidate_id), name, float(lon[i]), float(lat[i])),
            "name": name, "kind": kind, "subtype": "", "address": "",
            "adcode": w["adcode"] if isinstance(w["adcode"], str) else "",
            "city": w["city"] if isinstance(w["city"], str) else "",
            "district": w["district"] if isinstance(w["district"], str) else "",
            "lon": round(float(lon[i]), 7), "lat": round(float(lat[i]), 7), "facilities": [],
            "facilities_other": [], "opening_hours": "", "opening_hours_osm": "", "is_24h": False,
            "status": "planned", "operator": "", "phone": "", "title": "", "source": source,
            "source_id": str(row.candidate_id), "verified_at": "", "truck_parking_spaces": None,
            "lawyer_hours": "",
            "notes": f"规划方案 {scenario} 第 {rank} 位 / rank {rank} in plan {scenario}",
            "extra": json.dumps(extra, ensure_ascii=False), "is_sample": False, "version": 1, "updated_at": ""})
    df = pd.DataFrame(recs, columns=list(FIELD_NAMES))
    return _stations_frame(df)


def proposal_from_document(doc: dict | None) -> gpd.GeoDataFrame:
    """The planned stations of a parsed proposal (:attr:`SitingResult.proposal_geojson`), as a frame.

    Parameters
    ----------
    doc
        A GeoJSON FeatureCollection of planned stations (as a saved scenario
        holds it); None or no features give an empty frame.
    """
    rows = [{**f.get("properties", {}), "lon": f["geometry"]["coordinates"][0],
             "lat": f["geometry"]["coordinates"][1]} for f in (doc or {}).get("features") or []]
    return _stations_frame(pd.DataFrame(rows, columns=list(FIELD_NAMES)))


def _stations_frame(df: pd.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"].astype(float), df["lat"].astype(float)),
                            crs="EPSG:4326")


def _district_rows(problem: SitingProblem, served_add: np.ndarray, sites: pd.DataFrame) -> pd.DataFrame:
    base = problem.baseline
    codes = list(base.districts["adcode"]) if base is not None else sorted(set(problem.district) - {""})
    names = list(base.districts["name"]) if base is not None else [""] * len(codes)
    pos = {c: i for i, c in enumerate(codes)}
    g = np.array([pos.get(c, -1) for c in problem.district], dtype=np.int64)
    ok = g >= 0
    k = len(codes)
    dem = problem.demand
    d_sum = np.bincount(g[ok], weights=dem[ok], minlength=k)
    before = np.bincount(g[ok], weights=(dem * problem.covered0)[ok], minlength=k)
    added = np.bincount(g[ok], weights=(dem * served_add)[ok], minlength=k)
    new = sites["adcode"].value_counts() if len(sites) else pd.Series(dtype=int)
    with np.errstate(invalid="ignore", divide="ignore"):
        b_share = np.where(d_sum > 0, before / d_sum, np.nan)
        a_share = np.where(d_sum > 0, (before + added) / d_sum, np.nan)
    return pd.DataFrame({"adcode": codes, "name": names, "demand": d_sum, "before_share": b_share,
                         "after_share": np.minimum(a_share, 1.0), "added_demand": added,
                         "new_sites": [int(new.get(c, 0)) for c in codes]}, columns=_DISTRICT_COLUMNS)


def _site_rows(problem: SitingProblem, order: list[int], added: list[float],
               saved: list[float] | None = None) -> pd.DataFrame:
    c = problem.candidates.iloc[order] if order else problem.candidates.iloc[0:0]
    lon, lat = c["lon"].to_numpy(float), c["lat"].to_numpy(float)
    if len(c) and problem.baseline is not None:
        where = locate(lon, lat)
        adcode, district = where["adcode"].to_numpy(dtype=object), where["district"].to_numpy(dtype=object)
    else:
        adcode = district = np.full(len(c), None, dtype=object)
    frame = pd.DataFrame({"rank": np.arange(1, len(c) + 1), "candidate_id": c["id"].astype(str).to_numpy(),
                          "name": c["name"].astype(str).to_numpy(), "lon": lon, "lat": lat,
                          "added_demand": np.asarray(added, float), "cost": c["cost"].to_numpy(float),
                          "capacity": c["capacity"].to_numpy(float), "adcode": adcode, "district": district,
                          "travel_saved": np.asarray(saved, float) if saved is not None else np.nan},
                         columns=_SITE_COLUMNS)
    if len(c):
        origin = c["origin"].astype(str) if "origin" in c else pd.Series("file", index=c.index)
        # A planner's own name is kept; engine names and names that are only the id are not names.
        given = [n if o != "generated" and not _UNNAMED.match(n) and n != cid else ""
                 for n, o, cid in zip(c["name"].astype(str), origin, c["id"].astype(str))]
        labels = site_labels(frame, graph=problem.graph,
                             res=problem.baseline.resolution if problem.baseline is not None else None,
                             given_names=pd.Series(given, index=frame.index))
        frame[["label", "road", "h3"]] = labels[["label", "road", "h3"]]
    return frame


def _gaps_after(problem: SitingProblem, covered_after: np.ndarray,
                order: list[int]) -> tuple[pd.DataFrame, dict | None]:
    """The engine's gap table for the cells still uncovered (travel_max from known travel), and the change."""
    base = problem.baseline
    if base is None or base.grid is None:
        return pd.DataFrame(), None
    travel = np.minimum(problem.travel0, column_minimum(problem.travel, order))
    labels = gap_labels(base.grid, ~covered_after)
    st = pd.concat([base.stations[["lon", "lat"]], problem.candidates.iloc[order][["lon", "lat"]]],
                   ignore_index=True)
    table, rank_after = gap_table(base.grid, labels, problem.demand, travel, st)
    return table, change_of(problem, rank_after)


def change_of(problem: SitingProblem, rank_after: np.ndarray) -> dict | None:
    """:func:`geo.analysis.gaps.gap_changes` from the baseline's gaps to ``rank_after`` (0 = covered), with the demand's unit.

    Parameters
    ----------
    problem
        A problem built from a region (None for one built from arrays).
    rank_after
        Each cell's gap rank after the new sites.
    """
    base = problem.baseline
    if base is None:
        return None
    change = gap_changes(base.cells["gap"].to_numpy(), rank_after, area=base.cells["area_km2"].to_numpy(float),
                         demand=problem.demand)
    return {**change, "demand_unit": base.demand.unit if base.demand.kind != "area" else ""}


@dataclass(frozen=True)
class Question:
    """What the planner asked.

    Attributes
    ----------
    model : str
        ``mclp``, ``lscp`` or ``pmedian``.
    p : int
        New sites (LSCP: the most allowed).
    target_share : float or None
        LSCP's target covered share.
    budget : float or None
        Most total cost.
    scenario : str or None
        Name; default :func:`default_scenario_name`.
    """

    model: str
    p: int
    target_share: float | None = None
    budget: float | None = None
    scenario: str | None = None


@dataclass
class Answer:
    """What a solver decided, before it is turned into a :class:`SitingResult`.

    Attributes
    ----------
    order : list of int
        The sites (candidate positions), in rank order.
    added : list of float
        Marginal newly covered demand of each, in that order.
    saved : list of float or None
        p-median: marginal travel saved of each (the rank key).
    method, status : str
        As in :class:`SitingResult`.
    objective, bound, gap : float or None
        As in :class:`SitingResult`.
    guarantee : str
        What is known of the greedy answer's quality.
    capacitated : bool
        Whether capacities bound the answer.
    served_open : ndarray or None
        The exact solver's served share per open cell (capacitated only).
    notes : list of str
    """

    order: list[int]
    added: list[float]
    method: str
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    guarantee: str
    capacitated: bool = False
    served_open: np.ndarray | None = None
    saved: list[float] | None = None
    notes: list[str] = field(default_factory=list)


def _served_added(problem: SitingProblem, answer: Answer) -> np.ndarray:
    """Share of each cell's demand the new sites newly serve."""
    A, w, open_cells = problem.open_core()
    order = answer.order
    served_add = np.zeros(len(problem.demand))
    if answer.capacitated:
        if answer.method == "exact" and answer.served_open is not None:
            served_add[open_cells] = answer.served_open
        else:
            st = CapacityState(A, w, problem.candidates["capacity"].to_numpy(float))
            for j in order:
                st.commit(j)
            with np.errstate(invalid="ignore", divide="ignore"):
                served_add[open_cells] = np.where(w > 0, 1.0 - st.left / w, 0.0)
    elif order:
        served_add[take_rows(problem.cover(), np.asarray(order)).indices] = 1.0
        served_add[problem.covered0] = 0.0
    return np.clip(served_add, 0.0, 1.0)


def _mean_travel(problem: SitingProblem, order: list[int]) -> dict:
    """p-median's demand-weighted mean travel before and after, capped at the problem's limit."""
    w_all, base, T, _ = problem.pmedian_core()
    cur = np.minimum(base, column_minimum(T, order))
    wsum = float(w_all.sum())
    return {"unit": problem.standard.unit, "cap": problem.limit,
            "before_mean": json_number(float((w_all * base).sum()) / wsum, 6) if wsum else None,
            "after_mean": json_number(float((w_all * cur).sum()) / wsum, 6) if wsum else None}


def assemble_result(problem: SitingProblem, question: Question, answer: Answer) -> SitingResult:
    """The result of an answer: shares before and after, the sites, districts, gaps and the proposal.

    Parameters
    ----------
    problem
        The problem answered.
    question
        What was asked.
    answer
        What the solver decided.
    """
    order, model = answer.order, question.model
    served_add = _served_added(problem, answer)
    total, before = problem.total_demand, problem.before_demand
    after = before + float((problem.demand * served_add).sum())
    covered_after = problem.covered0 | (served_add >= 1.0 - 1e-9)
    sites = _site_rows(problem, order, answer.added, answer.saved)
    if len(sites):
        # The marginal gains add up to the added demand; any float dust goes to the last site.
        sites.loc[sites.index[-1], "added_demand"] += (after - before) - float(sites["added_demand"].sum())
    scenario = question.scenario or default_scenario_name(problem, model, question.p, question.target_share)
    cost = problem.candidates["cost"].to_numpy(float)
    total_cost = float(np.nansum(cost[order])) if order and np.isfinite(cost[order]).any() else None
    base = problem.baseline
    area = base.cells["area_km2"].to_numpy(float) if base is not None else None
    share = lambda x: min(max(x / total, 0.0), 1.0) if total > 0 else 0.0  # noqa: E731
    gaps, change = _gaps_after(problem, covered_after, order)
    target_met = None
    if model == "lscp":
        target_met = bool(after >= question.target_share * total - TOL * max(total, 1.0))
    region = ({"adcode": base.region.adcode, "name": base.region.name, "level": base.region.level}
              if base is not None else {})
    unit = base.demand.unit if base is not None else ""
    return SitingResult(
        scenario=scenario, model=model, method=answer.method, status=answer.status, gap=answer.gap,
        bound=answer.bound, objective=answer.objective, guarantee=answer.guarantee, region=region,
        standard=problem.standard.to_dict(), resolution=base.resolution if base is not None else None,
        travel_method=base.method if base is not None else "matrix",
        travel_label=base.method_label if base is not None else "", p=question.p,
        target_share=question.target_share, target_met=target_met, budget=question.budget, total_cost=total_cost,
        demand_total=total, before_demand=before, after_demand=after, before_share=share(before),
        after_share=share(after), sites=sites, districts=_district_rows(problem, served_add, sites),
        gaps=gaps, change=change,
        proposal=proposal_frame(sites, problem.standard.kinds[0], scenario, model=model, method=answer.method,
                                unit=unit),
        candidates=dict(problem.candidate_summary),
        before_share_area=(float(area[problem.covered0].sum() / area.sum()) if area is not None and area.sum() > 0
                           else None),
        after_share_area=(float(area[covered_after].sum() / area.sum()) if area is not None and area.sum() > 0
                          else None),
        travel=_mean_travel(problem, order) if model == "pmedian" else None, notes=answer.notes)
