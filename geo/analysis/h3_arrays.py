"""Boundaries of many H3 cells at once, without a Python object per vertex.

h3-py offers ``cell_to_boundary`` one cell at a time (h3 4.x has no array
form of it; its numpy API only changes the type of collections), and each
boundary comes back as a tuple of tuples: for the province's 253,000 res-8
cells that Python work is more than half of the time. The H3 C library
inside h3-py exports its public C API, so here ``cellToBoundary`` writes
straight into one numpy buffer through :mod:`ctypes`: the same C code h3-py
runs, hence the same numbers, bit for bit (h3-py converts radians with
H3's own ``radsToDegs``, a multiplication by the constant below). At import
the binding is checked against h3-py on a few cells; if the symbols are
missing (another build of h3) or disagree, h3-py's per-cell calls serve.
(Cell centres and areas went the same way in a trial and were no faster
than h3-py's calls, so they stay h3-py's.)
"""
from __future__ import annotations

import ctypes
import logging

import h3.api.basic_int as h3i
import numpy as np

log = logging.getLogger(__name__)

#: H3's ``M_180_PI`` (constants.h): ``radsToDegs(x)`` is ``x * M_180_PI``.
_M_180_PI = 57.29577951308232087679815481410517033
#: ``CellBoundary`` of H3's C API: ``int numVerts; LatLng verts[MAX_CELL_BNDRY_VERTS = 10]`` (radians).
_BOUNDARY = np.dtype([("n", np.int32), ("v", np.float64, (10, 2))], align=True)
_CHUNK = 100_000


def _bind():
    """The C functions, or None when they cannot be used (then h3-py's per-cell calls serve)."""
    try:
        from h3._cy import latlng

        lib = ctypes.CDLL(latlng.__file__)
        boundary, valid = lib.cellToBoundary, lib.isValidCell
    except (ImportError, OSError, AttributeError) as exc:  # pragma: no cover - another build of h3
        log.info("H3 C functions not reachable (%s): per-cell h3-py calls", exc)
        return None
    boundary.restype = ctypes.c_uint32
    boundary.argtypes = [ctypes.c_uint64, ctypes.c_void_p]
    valid.restype = ctypes.c_int
    valid.argtypes = [ctypes.c_uint64]
    return boundary, valid


def _rows(cells: np.ndarray, buf: np.ndarray, fn) -> None:
    """Call ``fn(cell, &buf[i])`` for every cell; raise as h3-py would on an invalid one."""
    # The C functions trust their input; h3-py checks each cell first, and so do we.
    valid = np.fromiter(map(_C[1], cells.tolist()), dtype=bool, count=len(cells))
    if not valid.all():
        h3i.cell_to_boundary(int(cells[np.flatnonzero(~valid)[0]]))  # raises h3-py's own error
    addr = (buf.ctypes.data + buf.itemsize * np.arange(len(cells), dtype=np.int64)).tolist()
    errors = np.fromiter(map(fn, cells.tolist(), addr), dtype=np.int64, count=len(cells))
    bad = np.flatnonzero(errors)
    if len(bad):
        h3i.cell_to_boundary(int(cells[bad[0]]))  # h3-py's own error for the first bad cell
        raise ValueError(f"H3 error {int(errors[bad[0]])} for cell {int(cells[bad[0]]):x}")


def _boundaries_c(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sizes, rows = [], []
    # In chunks: the C structs take 168 bytes a cell (10 vertex slots), 300 MB
    # at once for the province at res 9.
    for lo in range(0, len(cells), _CHUNK):
        buf = np.zeros(min(_CHUNK, len(cells) - lo), dtype=_BOUNDARY)
        _rows(cells[lo:lo + _CHUNK], buf, _C[0])
        n = buf["n"].astype(np.int64)
        sizes.append(n)
        rows.append(buf["v"][np.arange(10)[None, :] < n[:, None]] * _M_180_PI)
    return np.concatenate(sizes), np.ascontiguousarray(np.concatenate(rows)[:, ::-1])


def _boundaries_py(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sizes, rows = [], []
    # In chunks: a million boundaries as Python tuples at once keep the
    # garbage collector scanning them over and over.
    for lo in range(0, len(cells), _CHUNK):
        rings = [h3i.cell_to_boundary(c) for c in cells[lo:lo + _CHUNK].tolist()]
        sizes.append(np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings)))
        rows.append(np.array([p for r in rings for p in r], dtype=float).reshape(-1, 2))
    return np.concatenate(sizes), np.ascontiguousarray(np.concatenate(rows)[:, ::-1])


def _agrees() -> bool:
    # Hexagons in Guangdong at the coverage resolutions, and pentagons (their
    # boundaries carry extra distortion vertices) at two resolutions.
    cells = np.asarray([h3i.latlng_to_cell(23.13, 113.26, r) for r in (7, 8, 9)]
                       + list(h3i.get_pentagons(3))[:2] + list(h3i.get_pentagons(8))[:2], dtype=np.int64)
    try:
        (s1, p1), (s2, p2) = _boundaries_c(cells), _boundaries_py(cells)
        return bool(np.array_equal(s1, s2) and np.array_equal(p1, p2))
    except (ValueError, OSError) as exc:  # pragma: no cover - another build of h3
        log.info("H3 C functions unusable (%s): per-cell h3-py calls", exc)
        return False


_C = _bind()
if _C is not None and not _agrees():  # pragma: no cover - another build of h3
    log.info("H3 C functions disagree with h3-py: per-cell h3-py calls")
    _C = None


def uses_c_library() -> bool:
    """Whether the array functions run H3's C functions directly (else h3-py per cell)."""
    return _C is not None


def cell_boundaries(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boundary vertices of many cells, as ``h3.cell_to_boundary`` gives them, in one array.

    Parameters
    ----------
    cells
        H3 indexes (integers).

    Returns
    -------
    (sizes, lnglat)
        Vertices per cell (6, or 5 to 10 for pentagons and distorted cells),
        and every cell's vertices one after another as ``(lon, lat)`` rows in
        degrees (rings not closed).
    """
    cells = np.asarray(cells, dtype=np.int64).reshape(-1)
    if not len(cells):
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2))
    return (_boundaries_c if _C is not None else _boundaries_py)(cells)
