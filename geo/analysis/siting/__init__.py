"""Where to build next: sites that close the largest coverage gaps.

Built on the coverage engine (:mod:`geo.analysis.coverage`, design and
choices in docs/siting.md): the same service standard, H3 grid, demand
weights and road network; existing stations stay where they are and the
demand they already cover is not counted again.

One module per step, in the order a run takes them:

``candidates``
    Candidate sites: a planner's file read with the registry's import and
    validation, a frame, or generated from the centres of uncovered cells
    snapped to the roads; exclusion areas
    (:class:`~geo.analysis.siting.candidates.CandidateSource`).
``reach``
    The sparse candidate x cell matrix of travel within the standard: one
    bounded Dijkstra per candidate on the reversed graph, or the engine's
    estimate.
``problem``
    :class:`~geo.analysis.siting.problem.SitingProblem`, built once by
    :func:`~geo.analysis.siting.problem.build_problem` (baseline coverage,
    candidates, reach) and solved many times.
``greedy``
    Lazy greedy (CELF) and the objectives it climbs: the preview, and the
    exact solver's warm start.
``milp``
    MCLP, LSCP and a truncated p-median as mixed-integer programs for
    HiGHS, with a time limit and the optimality gap.
``result``
    :class:`~geo.analysis.siting.result.SitingResult`: the sites in rank
    order, coverage before and after per district, the remaining gaps, and
    the proposal (planned registry stations, a GeoDataFrame until written).
``solve``
    :func:`~geo.analysis.siting.solve.solve` and
    :func:`~geo.analysis.siting.solve.greedy_preview`: the models, solvers
    and the engine's re-run that verifies an answer.
``matrix``
    Sparse matrices that keep their explicit zeros (a candidate at a
    cell's centre travels 0).

Saved scenarios are :mod:`geo.analysis.scenarios`; the ``plan`` command is
:mod:`geo.cli.plan`; the page's views are :mod:`geo.web.views.siting`.
"""
