"""The road network a page routes on, loaded once per file version and shared by every page.

A page asks for a mode's network with :func:`road_network`; without a
graph file, or with one it cannot read, the page gives estimates and says
why. Finding and reading the file is :func:`geo.routing.network.resolve_graph`.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from geo.routing.network import MODES, RoadGraph, graph_path, resolve_graph


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
