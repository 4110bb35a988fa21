"""Road graphs: one travel mode's roads as flat arrays, their files, and the one place that finds them.

A :class:`RoadGraph` is one travel mode's view of the roads, as flat numpy
arrays:

* **nodes** are intersections and dead ends (OSM nodes where usable ways
  meet or end), with WGS-84 positions;
* **edges** are the road pieces between two nodes, each with its full
  geometry (every OSM shape point, so routes are drawn along the road), its
  length, its travel time for the mode, whether it may be travelled forward
  (``u -> v``) and backward, its highway class and its road name and ref;
* **arcs** are the directed, de-duplicated edges in compressed sparse row
  (CSR) form, ready for :func:`scipy.sparse.csgraph.dijkstra`, with one
  spare row for a per-query virtual origin (see :meth:`RoadGraph.search_from_virtual`);
* a **snap grid** buckets every road segment into square cells so the
  nearest point on the nearest road is found without scanning the graph
  (:mod:`geo.routing.snap`).

Graphs are written as uncompressed ``.npz`` files, one per mode, beside a
``meta.json``; loading is a few ``np.load`` reads, with no parsing.
:func:`graph_path` names a mode's file and :func:`resolve_graph` finds and
loads it for every caller (the finder, coverage, siting, the command line).

Building a graph from OpenStreetMap is :mod:`geo.routing.build` (the per-way
rules in :mod:`geo.routing.rules`, reading and downloading the file in
:mod:`geo.routing.osm`).
"""
from __future__ import annotations

import io
import json
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from geo import settings
from geo.routing.dijkstra import Search, WorkspacePool, bounded_search
from geo.routing.kernels import warm_up_in_background

#: Travel modes, each with a graph of its own.
MODES: tuple[str, ...] = tuple(settings.ROUTING_MODES)

FORMAT = "geo-roadgraph"
FORMAT_VERSION = 1

#: Geometry is stored as integer 1e-7 degrees, OSM's own precision: divide by this for degrees.
COORD_SCALE = 1e7


@dataclass
class RoadGraph:
    """One travel mode's routing graph (see the module docstring).

    Edge ``e`` joins ``edge_u[e]`` to ``edge_v[e]``; its geometry is vertices
    ``geom_ptr[e]`` to ``geom_ptr[e + 1] - 1``, and ``geom_cum`` is the
    distance of each vertex along its edge, in metres. The CSR arrays have
    ``n_nodes + 1`` rows; the last row is the virtual origin and owns the
    last two arc slots.
    """

    mode: str
    node_lon: np.ndarray
    node_lat: np.ndarray
    node_osm: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len_m: np.ndarray
    edge_dur_s: np.ndarray
    edge_fwd: np.ndarray
    edge_bwd: np.ndarray
    edge_class: np.ndarray
    edge_name: np.ndarray
    edge_ref: np.ndarray
    edge_way: np.ndarray
    edge_snappable: np.ndarray
    geom_ptr: np.ndarray
    geom_x: np.ndarray
    geom_y: np.ndarray
    geom_cum: np.ndarray
    csr_indptr: np.ndarray
    csr_indices: np.ndarray
    csr_time: np.ndarray
    csr_len: np.ndarray
    csr_edge_time: np.ndarray
    csr_edge_len: np.ndarray
    grid_params: np.ndarray  # lon0, lat0, kx, ky, cell, ncols, nrows
    grid_keys: np.ndarray
    grid_ptr: np.ndarray
    grid_seg: np.ndarray
    names: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._matrices: dict[str, csr_matrix] = {}
        self._station_indexes: dict = {}
        self._pool: WorkspacePool | None = None

    def search(self, sources, costs, *, weight: str = "time", limit: float = np.inf,
               source_pred: int | None = None) -> Search:
        """A compiled bounded Dijkstra from ``sources`` (:mod:`geo.routing.dijkstra`).

        Parameters
        ----------
        sources, costs
            Start nodes and the cost already spent reaching each.
        weight
            ``"time"`` or ``"distance"``.
        limit
            Nodes costlier than this are not settled (the search can be
            extended later with :meth:`geo.routing.dijkstra.Search.extend`).
        source_pred
            Predecessor recorded for the sources; default ``n_nodes``, the
            virtual origin, as :meth:`search_from_virtual` records it.

        Returns
        -------
        geo.routing.dijkstra.Search
            Its ``dist`` and ``pred`` read like arrays of every node.
        """
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = WorkspacePool(self.n_nodes)
        data = self.csr_time if weight == "time" else self.csr_len
        # Plain ndarray views of the memory-mapped arrays: no copy.
        arcs = (np.asarray(self.csr_indptr), np.asarray(self.csr_indices), np.asarray(data))
        pred = self.n_nodes if source_pred is None else source_pred
        return bounded_search(*arcs, self._pool, sources, costs, limit=limit, source_pred=pred)

    @property
    def station_indexes(self) -> dict:
        """Station indexes built on this graph, by content hash (:func:`geo.routing.stations.station_index`)."""
        return self._station_indexes

    @property
    def n_nodes(self) -> int:
        """Number of graph nodes (intersections and dead ends)."""
        return len(self.node_lon)

    @property
    def n_edges(self) -> int:
        """Number of edges (road pieces between nodes)."""
        return len(self.edge_u)

    def matrix(self, weight: str = "time") -> csr_matrix:
        """The arcs as a CSR matrix weighted by ``"time"`` (s) or ``"distance"`` (m).

        Both matrices share one index structure, so the virtual origin's two
        arc slots are the same positions in each.
        """
        if weight not in self._matrices:
            data = self.csr_time if weight == "time" else self.csr_len
            n = self.n_nodes + 1
            self._matrices[weight] = csr_matrix((data, self.csr_indices, self.csr_indptr), shape=(n, n),
                                                copy=False)
        return self._matrices[weight]

    def search_from_virtual(self, exits: list[tuple[int, float]], *, weight: str = "time",
                            limit: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """One bounded Dijkstra from the virtual origin, whose arcs are ``exits``.

        Parameters
        ----------
        exits
            One or two ``(node, cost)`` arcs from the virtual origin; a
            single arc fills both of its slots, as a duplicate changes nothing.
        weight
            ``"time"`` or ``"distance"``.
        limit
            Nodes costlier than this are not settled.

        Returns
        -------
        tuple of ndarray
            Cost of every node (``inf`` beyond ``limit``) and its predecessor.
        """
        (n1, w1), (n2, w2) = exits[0], exits[-1]
        matrix = self.matrix(weight)
        slot = int(self.csr_indptr[-1]) - 2
        # The virtual row is shared by every query on this graph: write it and
        # search under one lock so concurrent app sessions cannot interleave.
        with self._lock:
            matrix.indices[slot], matrix.indices[slot + 1] = n1, n2
            matrix.data[slot], matrix.data[slot + 1] = w1, w2
            return dijkstra(matrix, directed=True, indices=self.n_nodes, limit=limit, return_predecessors=True)

    def edge_cost(self, weight: str = "time") -> np.ndarray:
        """Cost of travelling each whole edge: seconds or metres."""
        return self.edge_dur_s if weight == "time" else self.edge_len_m

    def edge_coords(self, e: int) -> np.ndarray:
        """Vertices of edge ``e`` as an ``(n, 2)`` array of WGS-84 lon/lat."""
        s, t = self.geom_ptr[e], self.geom_ptr[e + 1]
        return np.column_stack([self.geom_x[s:t] / COORD_SCALE, self.geom_y[s:t] / COORD_SCALE])

    def nbytes(self) -> int:
        """Memory held by the graph's arrays, in bytes."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))

    def summary(self) -> dict:
        """Counts for reports: nodes, edges, arcs, km of road."""
        return {"mode": self.mode, "nodes": self.n_nodes, "edges": self.n_edges,
                "arcs": int(self.csr_indptr[-1]) - 2,
                "km": round(float(self.edge_len_m.sum()) / 1000.0, 1)}


_ARRAYS = [f for f in RoadGraph.__dataclass_fields__ if f not in ("mode", "names", "meta")]


def index_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for each (start, length) pair, without a Python loop.

    Parameters
    ----------
    starts, lengths
        One start and one length per range.

    Returns
    -------
    ndarray of int64
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(np.asarray(starts, dtype=np.int64), lengths) + (np.arange(total) - offsets)


def save_graph(graph: RoadGraph, path: str | Path) -> Path:
    """Write a graph to one uncompressed ``.npz`` file (written beside, then renamed).

    Every array's data starts on a 64-byte boundary of the file (the zip
    members carry a padding extra field, as Android's zipalign does), so
    :func:`load_graph` can memory-map each array in place instead of
    reading it. Any zip reader, ``np.load`` included, still reads the file.

    Parameters
    ----------
    graph
        The graph to write.
    path
        Target file; its folder is made if missing.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = "\x00".join(graph.names).encode("utf-8")
    arrays = {name: getattr(graph, name) for name in _ARRAYS}
    arrays["names_blob"] = np.frombuffer(blob, dtype=np.uint8)
    arrays["meta_json"] = np.frombuffer(json.dumps(graph.meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, arr in arrays.items():
                _write_member(zf, fh, f"{name}.npy", np.ascontiguousarray(arr))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


_ALIGN = 64
_PAD_ID = 0xD935  # the extra-field id zipalign uses for padding


def _write_member(zf: zipfile.ZipFile, fh, name: str, arr: np.ndarray) -> None:
    """One ``.npy`` member whose array data starts on an :data:`_ALIGN`-byte boundary of the file."""
    head = io.BytesIO()
    fields = np.lib.format.header_data_from_array_1_0(arr)
    try:
        np.lib.format.write_array_header_1_0(head, fields)
    except ValueError:  # a header too long for format 1.0
        head = io.BytesIO()
        np.lib.format.write_array_header_2_0(head, fields)
    header = head.getvalue()
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = len(header) + arr.nbytes
    zip64 = info.file_size > zipfile.ZIP64_LIMIT
    local = 30 + len(name.encode()) + (20 if zip64 else 0)
    pad = (-(fh.tell() + local + 4 + len(header))) % _ALIGN
    info.extra = _PAD_ID.to_bytes(2, "little") + pad.to_bytes(2, "little") + b"\x00" * pad
    with zf.open(info, "w", force_zip64=zip64) as out:
        out.write(header)
        # Written in slices, so a large array is never copied whole.
        flat = arr.reshape(-1).view(np.uint8) if arr.size else np.zeros(0, np.uint8)
        step = 1 << 24
        for i in range(0, len(flat), step):
            out.write(flat[i:i + step].data)


def _mapped_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an uncompressed ``.npz``, memory-mapped copy-on-write where it can be.

    A member that is compressed, or whose data is not aligned for its type
    (files written before :func:`save_graph` aligned them), is read instead.
    """
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_type != zipfile.ZIP_STORED:
                with zf.open(info) as member:
                    out[name] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            fh.seek(info.header_offset)
            local = fh.read(30)
            if local[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"bad local header for {info.filename}")
            start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") \
                + int.from_bytes(local[28:30], "little")
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(fh)
            offset = fh.tell()
            count = int(np.prod(shape)) if shape else 1
            if offset + count * dtype.itemsize > start + info.file_size or dtype.hasobject:
                raise zipfile.BadZipFile(f"{info.filename} is truncated")
            if count == 0 or offset % dtype.alignment:
                fh.seek(offset)
                arr = np.fromfile(fh, dtype=dtype, count=count).reshape(shape, order="F" if fortran else "C")
            else:
                # Copy-on-write: a search may write the virtual origin's arc slots
                # without touching the file or the other processes mapping it.
                mapped = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape,
                                   order="F" if fortran else "C")
                # A plain ndarray view (it keeps the mapping alive): np.memmap's
                # subclass hooks cost microseconds on every index a query makes.
                arr = mapped.view(np.ndarray)
            out[name] = arr
    return out


_CACHE: dict[tuple, RoadGraph] = {}
_CACHE_LOCK = threading.Lock()


def _no_graph_message(mode: str | None, path: Path) -> str:
    return (f"没有该出行方式的路网 / no road network for mode {mode!r} at {path}; "
            f"build one with: python -m geo network build FILE.osm.pbf --out {path.parent}")


def graph_path(mode: str, *, directory: str | Path | None = None) -> Path:
    """The file of the graph of ``mode``, as :func:`write_graphs` names it.

    Parameters
    ----------
    mode
        Travel mode.
    directory
        Folder of graphs; default :func:`geo.settings.network_dir`
        (environment ``GEO_NETWORK_DIR``).
    """
    folder = Path(directory) if directory is not None else settings.network_dir()
    return folder / f"{mode}.npz"


def resolve_graph(mode: str, *, directory: str | Path | None = None, missing_ok: bool = True) -> RoadGraph | None:
    """The road graph of ``mode``: the one function that finds and loads a mode's graph.

    Parameters
    ----------
    mode
        Travel mode.
    directory
        Folder of graphs; default :func:`geo.settings.network_dir`.
    missing_ok
        Return None when the folder has no graph for the mode (callers then
        estimate); False raises instead, for a folder the user named.

    Returns
    -------
    RoadGraph or None

    Raises
    ------
    ValueError
        When the file exists but cannot be read (truncated, foreign, an old
        format: the administrator must rebuild it), or, with
        ``missing_ok=False``, when there is no graph.
    """
    path = graph_path(mode, directory=directory)
    if not path.exists():
        if missing_ok:
            return None
        raise ValueError(_no_graph_message(mode, path))
    try:
        return load_graph(path, mode)
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        # Truncated, foreign or old files fail in many ways; callers need one.
        raise ValueError(f"无法读取路网 / cannot read the road network {path}: {exc}") from exc


def clear_graph_cache() -> None:
    """Forget every loaded graph, so the next :func:`load_graph` reads its file (benchmarks time that)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def load_graph(path: str | Path, mode: str | None = None) -> RoadGraph:
    """Load a cached graph; repeated calls return the same object until the file changes.

    Parameters
    ----------
    path
        A graph ``.npz`` file, or a folder written by
        :func:`geo.routing.build.build_graphs` (then ``mode`` picks the file).
    mode
        Travel mode, needed when ``path`` is a folder.

    Raises
    ------
    FileNotFoundError
        When there is no graph for that mode.
    """
    path = Path(path)
    if path.is_dir():
        if mode is None:
            raise ValueError("mode is required when loading from a folder")
        path = graph_path(mode, directory=path)
    if not path.exists():
        raise FileNotFoundError(_no_graph_message(mode, path))
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    arrays = _mapped_arrays(path)
    names = bytes(arrays.pop("names_blob")).decode("utf-8").split("\x00")
    meta = json.loads(bytes(arrays.pop("meta_json")).decode("utf-8"))
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} file; rebuild it")
    graph = RoadGraph(mode=meta["mode"], names=names, meta={**meta, "path": str(path)}, **arrays)
    # Ready the compiled search and snapping while the caller goes on.
    warm_up_in_background()
    with _CACHE_LOCK:
        for old in [k for k in _CACHE if k[0] == key[0]]:
            del _CACHE[old]
        _CACHE[key] = graph
    return graph


def network_meta(out_dir: Path, *, extra: dict | None = None) -> dict:
    """A new ``meta.json`` for ``out_dir``: format, version, ``extra``, and the modes it already lists.

    Building a few modes keeps the others listed; a damaged file lists none.
    """
    info = {"format": FORMAT, "version": FORMAT_VERSION, **(extra or {}), "modes": {}}
    meta_path = Path(out_dir) / "meta.json"
    if meta_path.exists():
        try:
            info["modes"] = json.loads(meta_path.read_text(encoding="utf-8")).get("modes", {})
        except ValueError:
            pass
    return info


def write_graphs(graphs: dict[str, RoadGraph], out_dir: str | Path, *, extra_meta: dict | None = None) -> Path:
    """Save graphs as ``<mode>.npz`` in ``out_dir`` with a ``meta.json`` describing them.

    Parameters
    ----------
    graphs
        Mode -> graph. Modes already listed in ``meta.json`` and not given
        here stay listed.
    out_dir
        Folder to write to; made if missing.
    extra_meta
        Written at the top of ``meta.json`` (the source file ...).

    Returns
    -------
    Path
        ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = network_meta(out, extra=extra_meta)
    meta_path = out / "meta.json"
    for mode, graph in graphs.items():
        save_graph(graph, graph_path(mode, directory=out))
        info["modes"][mode] = {**graph.summary(), "file": graph_path(mode, directory=out).name,
                               "source": graph.meta.get("source")}
    meta_path.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return out
