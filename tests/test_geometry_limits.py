"""Geometry inputs at the edges of what the builders accept.

- Protrusions of every shape on the symmetry axis / left side (x = 0), on the right side (x = W)
  and off-centre build in 2D, axisymmetric and 3D (an ellipse at x = 0 used to abort Gmsh with
  ``mathex::parse(): Invalid expression`` from a size-field string ``x - -1``), and the meshed
  area (volume) is the domain minus the part of the protrusion inside it.
- Every number in a size-field expression is a parenthesised literal.
"""

from __future__ import annotations

import solver  # noqa: F401  (loads the MPI library before dolfinx and mpi4py)

# isort: split

import numpy as np
import pytest
from mpi4py import MPI

from solver.geometry import GeometryConfig, build_mesh, profiles
from solver.geometry.expressions import distance_to, literal

UM = 1e-6
W, L = 2 * UM, 3 * UM
SHAPES = {
    "spherical": {"radius": 0.5 * UM},
    "ellipse": {"base_radius": 0.6 * UM, "height": 1.0 * UM},
    "cone": {"base_radius": 0.5 * UM, "height": 1.0 * UM, "tip_radius": 0.1 * UM},
}
POSITIONS = {"x=0": 0.0, "off-centre": 0.3 * W, "x=W": W}


def test_literals_are_parenthesised_full_precision():
    assert literal(-1) == "(-1)"
    assert float(literal(0.1)[1:-1]) == 0.1  # round trip: 17 significant digits
    assert distance_to([-1.0, 2.0]) == "Sqrt(((x) - (-1))^2 + ((y) - (2))^2)"
    with pytest.raises(ValueError, match="non-finite"):
        literal(float("inf"))


def _protruded_area(cfg: GeometryConfig) -> float:
    """Area of the protrusion inside [0, W] (m^2), by the trapezoidal rule on 20001 points."""
    x = np.linspace(0.0, W, 20001)
    return float(np.trapezoid(profiles.li_surface_height(cfg, x), x))


@pytest.mark.parametrize("where", POSITIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("coordinates", ["cartesian", "axisymmetric"])
def test_protrusion_anywhere_2d(coordinates, shape, where):
    """Area of electrolyte + layer = W L - protrusion area in the domain, relative tolerance
    2e-3 (largest seen 6.4e-4: the chords of the coarse P1 mesh cut off a little of the curved
    boundary)."""
    cfg = GeometryConfig.model_validate({
        "coordinates": coordinates,
        "domain": {"width": W, "length": L},
        "protrusions": [{"shape": shape, "x": POSITIONS[where], **SHAPES[shape]}],
        "layers": [{"thickness": 20e-9}],
        "mesh": {"far_field_size": 1 * UM, "layer_elements": 1, "order": 1},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    area = sum(bundle.stats.region_measures.values())
    assert area == pytest.approx(W * L - _protruded_area(cfg), rel=2e-3)
    assert bundle.stats.boundary_measures["li_surface"] > W


@pytest.mark.parametrize("where", POSITIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_protrusion_anywhere_3d(shape, where):
    """Protrusion at a corner (x = y = 0), at the far corner (x = W, y = D) and off-centre:
    the volume is W D L - protrusion volume in the box, within 1 % (largest seen 0.34 %: the
    flat P1 facets of coarse curved surfaces)."""
    pos = POSITIONS[where]
    cfg = GeometryConfig.model_validate({
        "dimension": 3,
        "domain": {"width": W, "depth": W, "length": L},
        "protrusions": [{"shape": shape, "x": pos, "y": pos, **SHAPES[shape]}],
        "mesh": {"far_field_size": 1 * UM, "order": 1, "tip_size_factor": 0.5},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    n = 401
    x = np.linspace(0.0, W, n)
    gx, gy = np.meshgrid(x, x, indexing="ij")
    h = profiles.protrusion_height(cfg.protrusions[0], np.hypot(gx - pos, gy - pos))
    inside = np.trapezoid(np.trapezoid(h, x, axis=1), x)
    volume = sum(bundle.stats.region_measures.values())
    assert volume == pytest.approx(W * W * L - inside, rel=1e-2)
