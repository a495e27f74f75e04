"""Kinematics of the Li surface (solver/growth/kinematics.py): normals, v_n = j V_m / F, rise.

Exact references: a flat surface under a uniform current rises by Q V_m / F and recedes by the
same on stripping (the nodes move by sums of identical floating-point numbers, so the tolerance
1e-10 relative is round-off with margin); the nodal normals of a tilted plane are its normal
(1e-12); on a semicircle and a hemisphere the normals are radial to the (high) order of the
curved facets' normals (measured convergence, bounds in each test).
"""

from __future__ import annotations

# isort: off
import solver  # noqa: F401  (loads the MPI library before dolfinx and mpi4py)

# isort: on
import numpy as np
import pytest
import ufl
from conftest import make_flat_bundle
from dolfinx import fem
from mpi4py import MPI

from solver.constants import FARADAY
from solver.geometry import GeometryConfig, build_mesh
from solver.growth.kinematics import SurfaceKinematics, normal_velocity
from solver.growth.motion import MeshMotion
from solver.growth.space import DisplacementSpace
from solver.library.inorganic import LI_MOLAR_VOLUME

W, L = 2e-6, 4e-6

CELLS = {
    "planar": ("cartesian", (6, 12)),
    "axisymmetric": ("axisymmetric", (6, 12)),
    "3d": ("cartesian", (2, 2, 6)),
}


def region_measure(bundle, name: str) -> float:
    dx = ufl.Measure("dx", domain=bundle.mesh, subdomain_data=bundle.cell_tags)
    one = fem.Constant(bundle.mesh, 1.0)
    local = fem.assemble_scalar(fem.form(one * dx(bundle.regions[name])))
    return bundle.mesh.comm.allreduce(local, op=MPI.SUM)


def test_molar_volume_and_velocity():
    """V_m is the library's 1.30e-5 m^3/mol; v_n = j V_m / F, plating positive."""
    assert LI_MOLAR_VOLUME == 1.30e-5
    assert normal_velocity(10.0) == pytest.approx(10.0 * 1.30e-5 / FARADAY, rel=1e-15)
    assert normal_velocity(-5.0) < 0.0


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("layer", [None, ("sei", 0.4e-6, 3)])
def test_flat_surface_rises_and_recedes_by_q_vm_over_f(kind, layer):
    """Plating steps of varying j raise a flat surface by Q V_m / F; stripping the same charge
    brings it back; the layer keeps its measure (rides on the Li)."""
    coordinates, n = CELLS[kind]
    bundle = make_flat_bundle(MPI.COMM_SELF, W, L, n, layer=layer, coordinates=coordinates)
    space = DisplacementSpace(bundle.mesh)
    kinematics = SurfaceKinematics(bundle, space)
    motion = MeshMotion(bundle, space)
    up = np.zeros(space.gdim)
    up[-1] = 1.0
    np.testing.assert_allclose(kinematics.normals, np.broadcast_to(up, kinematics.normals.shape))
    layer_measure = region_measure(bundle, "sei") if layer else None

    steps = [(20.0, 30.0), (5.0, 45.0), (12.5, 10.0)]  # (j A/m^2, dt s)
    charge = sum(j * dt for j, dt in steps)
    for j, dt in steps:
        motion.step(kinematics.displacement(j, dt))
        kinematics.update()
    rise = charge * LI_MOLAR_VOLUME / FARADAY
    heights = kinematics.points()[:, -1]
    np.testing.assert_allclose(heights, rise, rtol=1e-10, atol=0.0)
    if layer:
        assert region_measure(bundle, "sei") == pytest.approx(layer_measure, rel=1e-10, abs=0)

    for j, dt in steps:  # strip the same charge
        motion.step(kinematics.displacement(-j, dt))
        kinematics.update()
    assert np.max(np.abs(kinematics.points()[:, -1])) < 1e-10 * rise


@pytest.mark.parametrize("kind", ["planar", "3d"])
def test_tilted_plane_normals(kind):
    """A sheared flat cell has the tilted Li plane y = s x: its normal (-s, 1)/sqrt(1 + s^2) at
    every node off the sides, and on the sides the component normal to the side removed."""
    coordinates, n = CELLS[kind]
    bundle = make_flat_bundle(MPI.COMM_WORLD, W, L, n, coordinates=coordinates)
    x = bundle.mesh.geometry.x
    s = 0.3
    x[:, len(n) - 1] += s * x[:, 0]
    space = DisplacementSpace(bundle.mesh)
    kinematics = SurfaceKinematics(bundle, space)
    expected = np.zeros(space.gdim)
    expected[0], expected[-1] = -s, 1.0
    expected /= np.linalg.norm(expected)
    points = kinematics.points()
    inner = (points[:, 0] > 1e-12 * W) & (points[:, 0] < (1 - 1e-12) * W)
    np.testing.assert_allclose(kinematics.normals[inner], np.broadcast_to(
        expected, (inner.sum(), space.gdim)), rtol=0, atol=1e-12)
    side = np.zeros(space.gdim)
    side[-1] = 1.0
    np.testing.assert_allclose(kinematics.normals[~inner], np.broadcast_to(
        side, ((~inner).sum(), space.gdim)), rtol=0, atol=1e-12)


def _cap_normal_error(refinement: int) -> float:
    """Largest angle between the nodal normal and the radius on a semicircular protrusion."""
    R = 0.5e-6
    cfg = GeometryConfig.model_validate({
        "domain": {"width": W, "length": L},
        "protrusions": [{"shape": "spherical", "x": 0.0, "radius": R}],
        "mesh": {"far_field_size": "1um", "order": 2, "refinement": refinement},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    kinematics = SurfaceKinematics(bundle, DisplacementSpace(bundle.mesh))
    points = kinematics.points()
    r = np.hypot(points[:, 0], points[:, 1])
    # the foot (r = R, y = 0) is a corner of the surface: its normal is the mean of both sides
    on_cap = (r < (1 + 1e-9) * R) & (points[:, 1] > 1e-3 * R)
    assert on_cap.sum() > 5
    flat = r > (1 + 1e-9) * R
    np.testing.assert_allclose(kinematics.normals[flat][:, 1], 1.0, rtol=0, atol=1e-12)
    radial = points[on_cap] / r[on_cap, None]
    cosine = np.clip(np.einsum("ij,ij->i", radial, kinematics.normals[on_cap]), -1.0, 1.0)
    return float(np.max(np.arccos(cosine)))


def test_semicircle_normals_are_radial_to_high_order():
    """Nodal normals on a semicircular protrusion (P2 Gmsh mesh) point away from its centre.

    They are the curved facets' own normals at the node, area-weighted: measured 7.4e-5 and
    5.6e-6 rad at refinements 2 and 4 (ratio 13; with the straight chords' normals it was
    1.4e-2 and 3.7e-3, second order).
    """
    coarse, fine = _cap_normal_error(2), _cap_normal_error(4)
    assert fine < 2e-5
    assert coarse / fine > 8.0


def test_offset_vector_at_a_concave_corner():
    """At the foot of a semicircle (flat normal (0, 1), arc normal (1, 0)) the offset vector is
    the intersection of both offset lines, (1, 1), up to the P2 arc's normal there (1e-2); on
    the flat and along the arc it is the unit normal (1e-3)."""
    R = 0.5e-6
    cfg = GeometryConfig.model_validate({
        "domain": {"width": W, "length": L},
        "protrusions": [{"shape": "spherical", "x": 0.0, "radius": R}],
        "mesh": {"far_field_size": "1um", "order": 2},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    kinematics = SurfaceKinematics(bundle, DisplacementSpace(bundle.mesh))
    points = kinematics.points()
    foot = np.argmin(np.hypot(points[:, 0] - R, points[:, 1]))
    np.testing.assert_allclose(kinematics.offsets[foot], [1.0, 1.0], atol=1e-2)
    others = np.arange(len(points)) != foot
    np.testing.assert_allclose(np.linalg.norm(kinematics.offsets[others], axis=1), 1.0,
                               atol=1e-3)


def test_hemisphere_3d_normals_and_offsets():
    """3D P2 hemisphere: cap normals radial (measured 7.7e-4 rad), cap offsets unit (1e-4), the
    foot's offsets (r_hat, 1) (the rim is a concave right-angled edge; 1e-2)."""
    R = 0.5e-6
    cfg = GeometryConfig.model_validate({
        "dimension": 3,
        "domain": {"width": 1.5e-6, "length": 3e-6},
        "protrusions": [{"shape": "spherical", "x": 0.0, "y": 0.0, "radius": R}],
        "mesh": {"far_field_size": "1um", "order": 2},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    kinematics = SurfaceKinematics(bundle, DisplacementSpace(bundle.mesh))
    p = kinematics.points()
    r = np.linalg.norm(p, axis=1)
    cap = (r < R * (1 + 1e-6)) & (p[:, 2] > 0.05 * R)
    radial = p[cap] / r[cap, None]
    cosine = np.clip(np.einsum("ij,ij->i", radial, kinematics.normals[cap]), -1.0, 1.0)
    assert np.max(np.arccos(cosine)) < 2e-3
    np.testing.assert_allclose(np.linalg.norm(kinematics.offsets[cap], axis=1), 1.0, atol=1e-4)
    foot = (np.abs(r - R) < 1e-3 * R) & (p[:, 2] < 1e-3 * R)
    assert foot.sum() >= 3
    expected = np.concatenate([p[foot, :2] / r[foot, None], np.ones((foot.sum(), 1))], axis=1)
    np.testing.assert_allclose(kinematics.offsets[foot], expected, atol=1e-2)


def _wavy_normals(comm) -> dict[tuple[float, ...], np.ndarray]:
    """Nodal normals and offsets of a wavy Li surface (a flat cell bent by
    y += a sin(pi x/W)(1 - y/L)), keyed by the rounded node position; every rank's nodes (owned
    and ghost) on rank 0."""
    bundle = make_flat_bundle(comm, W, L, (12, 8), layer=("sei", 0.4e-6, 2))
    x = bundle.mesh.geometry.x
    x[:, 1] += 0.1 * W * np.sin(np.pi * x[:, 0] / W) * (1.0 - x[:, 1] / L)
    kinematics = SurfaceKinematics(bundle, DisplacementSpace(bundle.mesh))
    vectors = np.hstack([kinematics.normals, kinematics.offsets])
    pairs = comm.gather((kinematics.points(), vectors), root=0)
    if comm.rank != 0:
        return {}
    found: dict[tuple[float, ...], np.ndarray] = {}
    for points, normals in pairs:
        for p, n in zip(points, normals, strict=True):
            key = tuple(np.round(p / W, 9))
            if key in found:  # a node held by both ranks has one normal
                np.testing.assert_allclose(n, found[key], rtol=0, atol=1e-14)
            found[key] = n
    return found


@pytest.mark.mpi
def test_normals_on_two_ranks_equal_serial():
    """Shared nodes get the same normal and offset on every rank, and the serial ones (1e-14)."""
    parallel = _wavy_normals(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        serial = _wavy_normals(MPI.COMM_SELF)
        assert parallel.keys() == serial.keys()
        for key, n in serial.items():
            np.testing.assert_allclose(parallel[key], n, rtol=0, atol=1e-14)


def _cap_curvature_error(dimension: int, coordinates: str, refinement: int) -> float:
    """Largest relative error of K on a protrusion of radius R (exact 1/R in 2D planar, 2/R
    axisymmetric and 3D), after checking K = 0 exactly on the flat."""
    R = 0.5e-6
    cfg = GeometryConfig.model_validate({
        "dimension": dimension,
        "coordinates": coordinates,
        "domain": {"width": 1.5e-6, "length": 3e-6},
        "protrusions": [{"shape": "spherical", "x": 0.0, "y": 0.0, "radius": R}],
        "mesh": {"far_field_size": "1um", "order": 2, "refinement": refinement},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    kinematics = SurfaceKinematics(bundle, DisplacementSpace(bundle.mesh))
    K, p = kinematics.curvature(), kinematics.points()
    r = np.linalg.norm(p, axis=1)
    assert np.max(np.abs(K[r > 1.05 * R])) == 0.0
    cap = (r < R * (1 + 1e-6)) & (p[:, -1] > 0.05 * R)
    exact = (1.0 if dimension == 2 and coordinates == "cartesian" else 2.0) / R
    return float(np.max(np.abs(K[cap] / exact - 1.0)))


def test_curvature_of_a_protrusion_converges():
    """K of the P2 surface, second order: 2D 1.8e-2, 4.4e-3 (refinements 2, 4); axisymmetric
    (with the azimuthal n_r / r) 8.8e-3; 3D 5.2e-2 (refinement 1). Positive on the convex cap."""
    coarse, fine = (_cap_curvature_error(2, "cartesian", n) for n in (2, 4))
    assert fine < 6e-3 and coarse / fine > 3.5
    assert _cap_curvature_error(2, "axisymmetric", 2) < 1.2e-2
    assert _cap_curvature_error(3, "cartesian", 1) < 7e-2


def test_curvature_needs_second_order_geometry():
    bundle = make_flat_bundle(MPI.COMM_SELF, W, L, (4, 4))
    with pytest.raises(ValueError, match="mesh.order: the curvature needs"):
        SurfaceKinematics(bundle, DisplacementSpace(bundle.mesh)).curvature()


def test_curvature_of_a_sinusoid_has_both_signs():
    """y = A (1 + cos kx): K = -h''/(1 + h'^2)^1.5 (crest > 0, valley < 0), measured within
    3.1 % of max |K| at refinement 2."""
    A = 0.1e-6
    cfg = GeometryConfig.model_validate({
        "domain": {"width": W, "length": L},
        "surface": {"kind": "sinusoidal", "amplitude": A, "wavelength": W},
        "mesh": {"far_field_size": "1um", "order": 2, "refinement": 2},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    kinematics = SurfaceKinematics(bundle, DisplacementSpace(bundle.mesh))
    x = kinematics.points()[:, 0]
    k = 2 * np.pi / W
    dh, d2h = -A * k * np.sin(k * x), -A * k**2 * np.cos(k * x)
    exact = -d2h / (1 + dh**2) ** 1.5
    K = kinematics.curvature()
    assert np.max(np.abs(K - exact)) < 5e-2 * np.max(np.abs(exact))
    assert K[np.argmin(np.abs(x - W / 2))] < 0 < K[np.argmin(x)]
