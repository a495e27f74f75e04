"""A priori cell count of a geometry's mesh, from its size settings alone (no Gmsh).

The builders set a background size field h(x): a far-field size, and sizes that grow linearly
with the distance d from refined features (``s0 + slope d``, capped at the far-field size).
The number of cells of a mesh of local size h is about

    N = integral dV / (c h^n),   c = sqrt(3) / 4 (equilateral triangle), 1 / (6 sqrt 2) (regular
                                 tetrahedron), n = dimension,

and each refined feature adds the integral of its graded zone: a surface of measure S (a curve
in 2D) adds S integral_0^D du / (c (s0 + slope u)^n), a point (protrusion tip) adds the same
over a half disk (half ball) of radius u around it, a curve in 3D (void rim) over a half tube.
The terms are summed, which overestimates where zones overlap (the mesher takes their minimum);
the estimate is meant to stay within a factor 3 of Gmsh's count (tests/test_geometry_limits.py).

This module is pure arithmetic on numbers: the geometry config
(:meth:`solver.geometry.spec.GeometryConfig.cell_estimate`) collects the terms and their keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["CELL_AREA", "CellTerm", "graded_cells", "uniform_cells"]

CELL_AREA = {2: math.sqrt(3.0) / 4.0, 3: 1.0 / (6.0 * math.sqrt(2.0))}
"""Measure of a cell of size h, in units of h^n: equilateral triangle, regular tetrahedron."""

Source = Literal["surface", "curve", "point"]


@dataclass(frozen=True)
class CellTerm:
    """One contribution to the estimated cell count.

    Attributes:
        key: The config key (relative to ``geometry``) that sets the size of this term.
        what: The part of the mesh it counts, e.g. ``"interphase layer sei"``.
        cells: Estimated number of cells.
    """

    key: str
    what: str
    cells: float


def uniform_cells(dim: int, measure: float, size: float) -> float:
    """Cells of size ``size`` filling a region of area (2D) or volume (3D) ``measure``."""
    return measure / (CELL_AREA[dim] * size**dim)


def graded_cells(
    dim: int, source: Source, measure: float, size: float, slope: float, far: float,
    inner: float = 0.0,
) -> float:
    """Cells of the zone around a feature whose size grows from ``size`` to ``far``.

    The size is ``size`` within the distance ``inner`` of the feature and ``size + slope (u -
    inner)`` beyond, up to ``far``; the zone is one-sided (the side of the meshed domain).

    Args:
        dim: Mesh dimension, 2 or 3.
        source: ``"surface"`` (a facet set of measure ``measure``: length in 2D, area in 3D),
            ``"curve"`` (3D: a curve of length ``measure``) or ``"point"`` (``measure`` points).
        measure: Length, area or count of the feature.
        size: Size at the feature, same unit as ``far``.
        slope: Growth of the size per unit distance (> 0).
        far: Size far from the feature.
        inner: Distance from the feature over which the size stays ``size``.

    Returns:
        The estimated number of cells in the zone (0 when ``size >= far``).
    """
    if size >= far:
        return 0.0
    reach = inner + (far - size) / slope
    # Geometric grid in the distance: the integrand varies on the scale of the local size.
    first = 1e-3 * min(size, reach - inner)
    u = np.concatenate([[0.0], inner + np.geomspace(first, reach - inner, 400)])
    h = np.where(u <= inner, size, size + slope * (u - inner))
    if source == "surface":
        weight = np.ones_like(u)
    elif source == "curve":  # half tube around a curve in 3D
        weight = math.pi * u
    else:  # half disk (2D) or half ball (3D) around a point
        weight = math.pi * u if dim == 2 else 2.0 * math.pi * u**2
    density = weight / (CELL_AREA[dim] * h**dim)
    return float(measure * np.sum(0.5 * (density[1:] + density[:-1]) * np.diff(u)))
