"""The road network a page routes on, loaded once per file version and shared by every page.

A page asks for a mode's network with :func:`road_network`; without a
graph file, or with one it cannot read, the page gives estimates and says
why. Finding and reading the file is :func:`geo.routing.network.resolve_graph`.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from geo import settings
from geo.core.i18n import t
from geo.routing.network import MODES, RoadGraph, graph_path, resolve_graph
from pages.common.controls import keep, kept


@dataclass(frozen=True)
class LoadedNetwork:
    """A mode's road network as a page uses it.

    Attributes
    ----------
    graph : RoadGraph or None
        None without a graph file, or when it could not be read.
    stamp : tuple or None
        The file's (path, mtime, size) when ``graph`` is loaded, for cache
        keys of what is computed on it; None with no graph.
    error : ValueError or None
        Why an existing file could not be read (old, truncated, foreign).
    """

    graph: RoadGraph | None
    stamp: tuple | None
    error: ValueError | None = None


def _graph_stamp(mode: str) -> tuple | None:
    path = graph_path(mode)
    if not path.exists():
        return None
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


@st.cache_resource(max_entries=len(MODES), show_spinner=False)
def _network(mode: str, stamp: tuple | None):
    # Keyed on the file's stamp: a rebuilt network is picked up without a
    # restart, and the finder and the planner pages share one graph per mode.
    return resolve_graph(mode) if stamp else None


def road_network(mode: str) -> LoadedNetwork:
    """The road network of ``mode``, from the cache unless its file changed."""
    stamp = _graph_stamp(mode)
    try:
        graph = _network(mode, stamp)
    except ValueError as exc:  # an old or broken file: estimates, and the admin is told why
        return LoadedNetwork(None, None, exc)
    return LoadedNetwork(graph, stamp if graph is not None else None)


def method_choice(prefix: str, lang: str, *, unit: str) -> str:
    """How travel is measured: the road network (when loaded), the detour estimate, or a straight-line radius.

    Call inside ``with st.sidebar:``. The radius is offered for a metres
    standard only; with minutes a remembered radius falls back to the
    network. Returns ``"auto"``, ``"estimate"`` or ``"radius"``, as
    :func:`geo.analysis.coverage.coverage` takes it.
    """
    options = ["auto", "estimate", "radius"] if unit == "m" else ["auto", "estimate"]
    labels = {"auto": t("cv_method_auto", lang),
              "estimate": t("cv_method_estimate", lang, factor=settings.DETOUR_FACTOR),
              "radius": t("cv_method_radius", lang)}
    remembered = kept(f"{prefix}_method", "auto")
    chosen = st.radio(t("cv_method", lang), options,
                      index=options.index(remembered) if remembered in options else 0,
                      format_func=labels.__getitem__, help=t("cv_method_help", lang),
                      key=f"{prefix}_method:{lang}:{unit}")
    if unit != "m" and remembered == "radius":
        st.caption(t("cv_method_radius_needs_m", lang))
        return chosen
    return keep(f"{prefix}_method", chosen)
