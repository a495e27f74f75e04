"""Element quality (solver/growth/quality.py) on hand-made cells with known radius ratios.

Closed forms: equilateral triangle and regular tetrahedron 1; the right isosceles triangle
2 sqrt(2) - 2; the right triangle (0,0), (1,0), (0,t): 2 r/R with r = (1 + t - sqrt(1 + t^2))/2,
R = sqrt(1 + t^2)/2; the unit corner tetrahedron sqrt(3) - 1; a P2 triangle whose hypotenuse
midpoint moves inwards by (delta, delta) has det J = 1 - 4 delta (X1 + X2), smallest 1 - 4 delta
at its nodes. Tolerance 1e-12 (a few operations in double precision).
"""

from __future__ import annotations

# isort: off
import solver  # noqa: F401  (loads the MPI library before dolfinx and mpi4py)

# isort: on
import math

import basix.ufl
import dolfinx
import numpy as np
import pytest
from mpi4py import MPI

from solver.growth.quality import MeshQuality, radius_ratio

SQ3 = math.sqrt(3.0)


def one_cell(points, degree: int = 1) -> dolfinx.mesh.Mesh:
    """A mesh of one simplex (nodes in DOLFINx order: vertices, then edge midpoints)."""
    points = np.asarray(points, dtype=float)
    gdim = points.shape[1]
    cell = "triangle" if gdim == 2 else "tetrahedron"
    element = basix.ufl.element("Lagrange", cell, degree, shape=(gdim,))
    cells = np.arange(len(points), dtype=np.int64)[None, :]
    return dolfinx.mesh.create_mesh(MPI.COMM_SELF, cells, element, points)


def right_triangle_quality(t: float) -> float:
    r = 0.5 * (1.0 + t - math.hypot(1.0, t))
    return 2.0 * r / (0.5 * math.hypot(1.0, t))


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([[0, 0], [1, 0], [0.5, SQ3 / 2]], 1.0),
        ([[0, 0], [1, 0], [0, 1]], 2 * math.sqrt(2) - 2),
        ([[0, 0], [1, 0], [0, 0.1]], right_triangle_quality(0.1)),
        ([[0, 0], [1, 0], [0, 1e-3]], right_triangle_quality(1e-3)),
        ([[0, 0], [1, 0], [0.3, 0]], 0.0),
        ([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], 1.0),
        ([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], SQ3 - 1),
        ([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], 0.0),
    ],
)
def test_radius_ratio_of_known_cells(points, expected):
    """radius_ratio of single cells, in any scale and vertex order."""
    v = np.asarray(points, dtype=float)[None]
    assert radius_ratio(v)[0] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert radius_ratio(3e-7 * v[:, ::-1])[0] == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "points",
    [[[0, 0], [1, 0], [0, 1]], [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]],
)
def test_inverted_cell_is_negative(points):
    """Pushing a vertex through the opposite side turns the quality negative."""
    msh = one_cell(points)
    quality = MeshQuality(msh)
    q0 = quality.minimum()
    assert q0 > 0.5
    x = msh.geometry.x
    apex = np.argmax(x[:, msh.geometry.dim - 1])  # the vertex off the base plane
    x[apex, msh.geometry.dim - 1] *= -1.0
    assert quality.minimum() == pytest.approx(-q0, rel=1e-12)
    assert quality.needs_remesh(0.1)
    x[apex, msh.geometry.dim - 1] *= -1.0
    assert not quality.needs_remesh(0.1)


@pytest.mark.parametrize(("delta", "expected"), [(0.0, 2 * math.sqrt(2) - 2), (0.1, 0.6),
                                                 (0.3, -0.2)])
def test_curved_p2_cell_scaled_jacobian(delta, expected):
    """A P2 triangle with a bent hypotenuse: quality min(radius ratio, 1 - 4 delta)."""
    points = [[0, 0], [1, 0], [0, 1], [0.5 - delta, 0.5 - delta], [0, 0.5], [0.5, 0]]
    quality = MeshQuality(one_cell(points, degree=2))
    assert quality.minimum() == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.mpi
def test_structured_mesh_quality_on_two_ranks():
    """Right isosceles triangles everywhere: the minimum over ranks is 2 sqrt(2) - 2."""
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 4, 4)
    assert MeshQuality(msh).minimum() == pytest.approx(2 * math.sqrt(2) - 2, rel=1e-12)


def test_quadrilaterals_are_refused():
    msh = dolfinx.mesh.create_unit_square(
        MPI.COMM_SELF, 2, 2, dolfinx.mesh.CellType.quadrilateral
    )
    with pytest.raises(ValueError, match="simplices"):
        MeshQuality(msh)
