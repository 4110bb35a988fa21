"""Sparse candidate x cell matrices that keep their explicit zeros.

A candidate standing at a cell's centre travels 0 to it: that zero is a real
entry, so every matrix of the siting package is built and sliced here,
where stored entries are never dropped. Read a pattern from
``indptr``/``indices``, never from ``nonzero()``.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from geo.routing.network import index_ranges


def csr_keeping_zeros(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                      shape: tuple[int, int]) -> sparse.csr_matrix:
    """A CSR matrix of (row, column, value) triples, explicit zeros kept.

    Parameters
    ----------
    rows, cols
        Positions of the entries; each (row, column) pair at most once.
    vals
        Their values; zeros are stored like any other value.
    shape
        Rows and columns of the matrix.
    """
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sparse.csr_matrix((vals.astype(float), cols.astype(np.int64), indptr), shape=shape)


def take_columns(m: sparse.csr_matrix, cells: np.ndarray) -> sparse.csr_matrix:
    """Columns ``cells`` of a CSR matrix, renumbered in the order given, explicit zeros kept.

    Parameters
    ----------
    m
        Candidates x cells.
    cells
        Column positions to keep, each at most once.
    """
    colmap = np.full(m.shape[1], -1, dtype=np.int64)
    colmap[cells] = np.arange(len(cells))
    keep = colmap[m.indices] >= 0
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[keep]
    return csr_keeping_zeros(rows, colmap[m.indices[keep]], m.data[keep], (m.shape[0], len(cells)))


def take_rows(m: sparse.csr_matrix, rows: np.ndarray) -> sparse.csr_matrix:
    """Rows of a CSR matrix in the order given, explicit zeros kept.

    Parameters
    ----------
    m
        Candidates x cells.
    rows
        Row positions (candidates) to keep.
    """
    rows = np.asarray(rows, dtype=np.int64)
    lens = np.diff(m.indptr)[rows]
    take = index_ranges(m.indptr[rows], lens)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    return sparse.csr_matrix((m.data[take], m.indices[take], indptr), shape=(len(rows), m.shape[1]))


def column_minimum(m: sparse.csr_matrix, rows: list[int] | np.ndarray) -> np.ndarray:
    """Per column, the least stored value among ``rows`` (``inf`` where none of them has an entry).

    Parameters
    ----------
    m
        Candidates x cells, travel.
    rows
        The candidates considered (e.g. the chosen sites).
    """
    mins = np.full(m.shape[1], np.inf)
    if not len(rows):
        return mins
    sub = take_rows(m, np.asarray(rows)).tocsc()
    has = np.diff(sub.indptr) > 0
    if has.any():
        mins[has] = np.minimum.reduceat(sub.data, sub.indptr[:-1][has])
    return mins
