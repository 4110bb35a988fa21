"""The spherical earth every distance in the project is measured on.

One radius for all: great-circle distances (:func:`geo.core.crs.haversine_m`),
the local metre grids of road graphs, and nearest-neighbour searches on unit
vectors. A KD-tree of :func:`xyz` vectors finds the exact great-circle nearest
point, because the chord between two unit vectors orders points as the arc
does; :func:`chord_to_m` and :func:`m_to_chord` convert between the two.
"""
from __future__ import annotations

import math

import numpy as np

#: Mean earth radius (IUGG), metres.
EARTH_RADIUS_M = 6371008.8
#: Metres per degree of latitude (and of longitude at the equator).
M_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0


def xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Unit vectors of WGS-84 positions.

    Parameters
    ----------
    lon, lat : array-like
        Degrees.

    Returns
    -------
    ndarray
        Shape ``(n, 3)``.
    """
    lo, la = np.radians(np.asarray(lon, dtype=float)), np.radians(np.asarray(lat, dtype=float))
    c = np.cos(la)
    return np.column_stack([c * np.cos(lo), c * np.sin(lo), np.sin(la)])


def chord_to_m(chord: np.ndarray) -> np.ndarray:
    """Great-circle metres of a chord between unit vectors (the inverse of :func:`m_to_chord`).

    Parameters
    ----------
    chord : array-like
        Chord lengths on the unit sphere; clipped to [0, 2].
    """
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.clip(np.asarray(chord, dtype=float) / 2.0, 0.0, 1.0))


def m_to_chord(metres: float) -> float:
    """Chord on the unit sphere of a great-circle distance (at most half the earth's circumference).

    Parameters
    ----------
    metres
        Great-circle distance.
    """
    return 2.0 * math.sin(min(metres / (2.0 * EARTH_RADIUS_M), math.pi / 2))
