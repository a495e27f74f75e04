"""Step control of the moving Li surface: a move that would fold a cell is refused, not made.

docs/theory.md, "Coupling to the time loop" (mesh quality): the quality the mesh would have
after a solved step's move is measured before the step is accepted (``MeshQuality`` with a
proposed displacement, ``SurfaceGrowth.refuse_move``); a move that would fold a cell or drop
the quality below the threshold makes the step be cut and redone.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import math

import basix.ufl
import dolfinx
import numpy as np
import pytest
from conftest import growth_case, make_flat_bundle
from mpi4py import MPI

from solver.constants import FARADAY
from solver.growth.quality import MeshQuality
from solver.library.inorganic import LI_MOLAR_VOLUME
from solver.problem import Simulation


def _right_triangle_quality(t: float) -> float:
    """2 r / R of the triangle (0, 0), (1, 0), (0, t)."""
    r = 0.5 * (1.0 + t - math.hypot(1.0, t))
    return 2.0 * r / (0.5 * math.hypot(1.0, t))


def test_quality_after_a_proposed_move_without_moving():
    """The right triangle (0,0), (1,0), (0,1) with its top vertex moved to (0, t).

    ``minimum(displacement)`` is the closed-form 2 r / R of the moved triangle (1e-12), the
    mesh is not moved, and ``would_invert`` is True only for a move through the base (t < 0,
    signed quality -2 r / R).
    """
    element = basix.ufl.element("Lagrange", "triangle", 1, shape=(2,))
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    mesh = dolfinx.mesh.create_mesh(MPI.COMM_SELF, np.array([[0, 1, 2]]), element, points)
    quality = MeshQuality(mesh)
    before = mesh.geometry.x.copy()
    top = int(np.argmax(mesh.geometry.x[:, 1]))
    for t in (0.3, -0.4):
        move = np.zeros((mesh.geometry.x.shape[0], 2))
        move[top, 1] = t - 1.0
        expected = math.copysign(_right_triangle_quality(abs(t)), t)
        assert quality.minimum(move) == pytest.approx(expected, rel=1e-12)
        assert quality.would_invert(move) == (t < 0)
    assert np.array_equal(mesh.geometry.x, before)
    assert quality.minimum() == pytest.approx(2.0 * math.sqrt(2.0) - 2.0, rel=1e-12)


def test_a_folding_move_is_refused_and_the_run_stops_cleanly():
    """A cosine Li surface (amplitude 0.5 um, half wavelength 2 um) plated at 500 mA/cm^2.

    One 5 s step would plate 3.4 um, far past the trough's centre of curvature (0.81 um away):
    its converging nodes cross and the move folds cells (measured quality -0.99). The step is
    refused and cut instead; the run goes on with shorter steps until even a short step's move
    would drop the quality below the threshold, and stops there cleanly (the quality event). The
    mesh never folds (the last move's quality is >= 0, it is only just below the threshold),
    and the deposited volume (the loss of the cell's area) is V_m/F J W t within 1e-3 (the
    protrusion tolerance: the tangential redistribution).
    """
    comm = MPI.COMM_WORLD
    width, height, amplitude, current, t_end = 2e-6, 5e-6, 0.5e-6, 5000.0, 5.0
    bundle = make_flat_bundle(comm, width, height, (4, 12), layer=("sei", 50e-9, 2))
    x = bundle.mesh.geometry.x
    x[:, 1] += amplitude * np.cos(np.pi * x[:, 0] / width) * (1.0 - x[:, 1] / height)
    case = growth_case(
        {"type": "single_ion", "conductivity": 1e-2},
        {"mode": "galvanostatic", "current_density": current},
        {"t_end": t_end, "dt": t_end, "dt_max": t_end, "adaptivity": "none",
         "output_times": [t_end]},
    )
    simulation = Simulation(bundle, case, comm)
    growth = simulation.growth
    area = sum(simulation.domain.volumes.values())
    refusals: list[tuple[float, str]] = []
    refuse = growth.refuse_move

    def recording(dt: float, fold_only: bool = False) -> str | None:
        reason = refuse(dt, fold_only)
        if reason is not None:
            refusals.append((dt, reason))
        return reason

    growth.refuse_move = recording
    *_, last = simulation.run()
    assert refusals[0][0] == t_end and "fold a cell" in refusals[0][1]
    t = last.t
    assert 0.0 < t < t_end
    messages = simulation.driver.state.messages
    assert any(m.startswith("mesh quality") for m in messages)
    q = growth.quality.minimum()
    assert 0.0 <= q < growth.threshold
    deposited = area - sum(simulation.domain.volumes.values())
    expected = LI_MOLAR_VOLUME / FARADAY * current * width * t
    assert deposited == pytest.approx(expected, rel=1e-3)


def test_reflex_corner_moves_with_its_faces():
    """The foot of a semicircle (R 0.5 um) on a flat is the Li surface's only reflex corner.

    A nodal current of 1 with the foot at 0.2 (its dip): the foot gets its facets' nearest
    nodes' mean, 1 (exact); every other node keeps its value, also a node of the flat and the
    apex given 0.2 (not corners). A foot above its faces (3) keeps its own value (the corner
    lies inside its faces' dilation only when slower).
    """
    from test_growth_coupled import _protrusion

    from solver.growth.kinematics import ReflexCorners, SurfaceKinematics
    from solver.growth.space import DisplacementSpace

    bundle = _protrusion(MPI.COMM_WORLD)
    space = DisplacementSpace(bundle.mesh)
    kinematics = SurfaceKinematics(bundle, space)
    corners = ReflexCorners(bundle, space, kinematics, corner=1.01)
    points = kinematics.points()
    foot = np.linalg.norm(points - [0.5e-6, 0.0], axis=1) < 1e-12
    others = (np.abs(points[:, 0] - 1.0e-6) < 0.2e-6) & (points[:, 1] == 0.0)
    others |= points[:, 1] > 0.5e-6 - 1e-12  # the apex
    j = np.ones(len(points))
    j[foot | others] = 0.2
    assert others.any()
    raised = corners.current(j)
    assert np.allclose(raised[foot], 1.0, rtol=1e-14)
    assert np.array_equal(raised[~foot], j[~foot])
    assert np.all(raised[others] == 0.2)
    j[foot] = 3.0
    assert np.array_equal(corners.current(j), j)
    found = MPI.COMM_WORLD.allreduce(int(foot.sum()), op=MPI.SUM)
    assert found >= 1
