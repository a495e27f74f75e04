"""Mesh motion (solver/growth/motion.py): exact extensions, sliding sides, the riding layer.

Exact references: the harmonic extension of a uniform rise d with w = 0 at the counter and
sliding sides is the affine field w = d (L - y)/L (with a layer of thickness h: w = d in the
layer, d (L - y)/(L - h) above), which P1 and P2 reproduce to round-off (tolerance 1e-10
relative to d); a constant field is reproduced for any stiffness, so the stiffened extension
moves the layer rigidly too. Side nodes keep their lateral coordinate exactly (the component is
never changed). Two ranks repeat the serial motion to solver round-off (1e-8 relative).
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

from solver.geometry import GeometryConfig, build_mesh
from solver.growth.kinematics import SurfaceKinematics
from solver.growth.morphology import surface_profile
from solver.growth.motion import MeshMotion
from solver.growth.quality import MeshQuality
from solver.growth.space import DisplacementSpace

W, L, H = 2e-6, 4e-6, 0.5e-6
CELLS = {"planar": ("cartesian", (6, 16)), "axisymmetric": ("axisymmetric", (6, 16)),
         "3d": ("cartesian", (2, 2, 8))}


def setup(comm, kind, layer=True, stiffening=0.0, linear="direct"):
    coordinates, n = CELLS[kind]
    bundle = make_flat_bundle(
        comm, W, L, n, layer=("sei", H, 4) if layer else None, coordinates=coordinates
    )
    space = DisplacementSpace(bundle.mesh)
    return bundle, space, SurfaceKinematics(bundle, space), MeshMotion(
        bundle, space, stiffening=stiffening, solver=linear
    )


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("layer", [False, True])
@pytest.mark.parametrize("stiffening", [0.0, 1.0])
def test_uniform_rise_is_extended_affinely(kind, layer, stiffening):
    """w = d in the layer, d (L - y)/(L - h) in the electrolyte, w_lateral = 0 (exact)."""
    bundle, space, kinematics, motion = setup(MPI.COMM_SELF, kind, layer, stiffening)
    d = 0.1e-6
    surface = kinematics.displacement(d / kinematics.velocity(1.0), 1.0)
    y = space.dof_coordinates()[:, -1]
    w = motion.extend(surface).x.array.reshape(-1, space.gdim)
    h = H if layer else 0.0
    expected = np.where(y <= h * (1 + 1e-12), d, d * (L - y) / (L - h))
    np.testing.assert_allclose(w[:, -1], expected, rtol=0, atol=1e-10 * d)
    np.testing.assert_allclose(w[:, :-1], 0.0, rtol=0, atol=1e-10 * d)


def test_iterative_solver_matches_direct():
    """CG + GAMG gives the direct solver's extension of a non-uniform displacement."""
    results = []
    for solver_kind in ("direct", "iterative"):
        _, space, kinematics, motion = setup(MPI.COMM_SELF, "planar", True, 1.0, solver_kind)
        surface = kinematics.displacement(lambda p: 1.0 + np.cos(np.pi * p[:, 0] / W), 1e4)
        results.append(motion.extend(surface).x.array.copy())
    scale = np.max(np.abs(results[0]))
    np.testing.assert_allclose(results[1], results[0], rtol=0, atol=1e-8 * scale)


@pytest.mark.parametrize("kind", ["planar", "axisymmetric", "3d"])
def test_sides_slide_and_surface_follows_kinematics(kind):
    """A non-uniform growth leaves side nodes on the sides and every Li node moved by d."""
    bundle, space, kinematics, motion = setup(MPI.COMM_SELF, kind, True, 1.0)
    x0 = space.dof_coordinates().copy()
    on_side = np.isclose(x0[:, 0], 0.0, atol=1e-15) | np.isclose(x0[:, 0], W, rtol=1e-12)
    if space.gdim == 3:
        on_side_y = np.isclose(x0[:, 1], 0.0, atol=1e-15) | np.isclose(x0[:, 1], W, rtol=1e-12)
    for _ in range(3):
        before = kinematics.points().copy()
        surface = kinematics.displacement(lambda p: 1.0 + 0.5 * np.cos(np.pi * p[:, 0] / W), 2e4)
        expected = before + surface.x.array.reshape(-1, space.gdim)[kinematics.dofs]
        motion.step(surface)
        np.testing.assert_allclose(kinematics.points(), expected, rtol=0, atol=1e-12 * W)
        kinematics.update()
    x = space.dof_coordinates()
    assert np.array_equal(x[on_side, 0], x0[on_side, 0])
    if space.gdim == 3:
        assert np.array_equal(x[on_side_y, 1], x0[on_side_y, 1])
    rise = kinematics.points()[:, -1]
    assert rise.max() > 1.4 * rise.min() > 0.0  # the growth really is non-uniform


def _global_measures(bundle) -> np.ndarray:
    """Region measures and first moments (allreduced): what the motion changes."""
    msh = bundle.mesh
    dx = ufl.Measure("dx", domain=msh, subdomain_data=bundle.cell_tags)
    x = ufl.SpatialCoordinate(msh)
    values = []
    for tag in bundle.regions.values():
        for integrand in (1.0 + 0.0 * x[0], x[0], x[msh.geometry.dim - 1]):
            local = fem.assemble_scalar(fem.form(integrand * dx(tag)))
            values.append(msh.comm.allreduce(local, op=MPI.SUM))
    return np.array(values)


def _moved(comm) -> np.ndarray:
    bundle, space, kinematics, motion = setup(comm, "planar", True, 1.0)
    for _ in range(3):
        motion.step(kinematics.displacement(lambda p: 1.0 + np.cos(np.pi * p[:, 0] / W), 2e4))
        kinematics.update()
    return _global_measures(bundle)


@pytest.mark.mpi
def test_two_ranks_equal_serial():
    """The motion on 2 ranks gives the serial measures and moments to 1e-8 relative."""
    parallel = _moved(MPI.COMM_WORLD)
    serial = _moved(MPI.COMM_SELF)
    np.testing.assert_allclose(parallel, serial, rtol=1e-8)


def _sinusoid_growth(refinement: int, layers: list) -> tuple[float, float]:
    """Five uniform plating steps on a sinusoidal Li surface (P2 Gmsh mesh).

    Returns:
        (deposited volume from the mesh / (V_m/F) sum of Q over the current length - 1,
        relative change of the layer area (0 without a layer)).
    """
    cfg = GeometryConfig.model_validate({
        "domain": {"width": W, "length": L},
        "surface": {"kind": "sinusoidal", "amplitude": 0.2e-6, "wavelength": W},
        "layers": layers,
        "mesh": {"far_field_size": "1um", "order": 2, "refinement": refinement},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    space = DisplacementSpace(bundle.mesh)
    kinematics, motion = SurfaceKinematics(bundle, space), MeshMotion(bundle, space)
    dx = ufl.Measure("dx", domain=bundle.mesh, subdomain_data=bundle.cell_tags)
    ds = ufl.Measure("ds", domain=bundle.mesh, subdomain_data=bundle.facet_tags)
    one = fem.Constant(bundle.mesh, 1.0)
    areas = [fem.form(one * dx(t)) for t in bundle.regions.values()]
    length = fem.form(one * ds(bundle.boundaries["li_surface"]))
    before = [fem.assemble_scalar(a) for a in areas]
    deposited = 0.0
    j, dt = 10.0, 10.0
    for _ in range(5):
        deposited += fem.assemble_scalar(length) * kinematics.velocity(j) * dt
        motion.step(kinematics.displacement(j, dt))
        kinematics.update()
    after = [fem.assemble_scalar(a) for a in areas]
    swept = sum(before) - sum(after)
    layer = (after[-1] - before[-1]) / before[-1] if layers else 0.0
    return swept / deposited - 1.0, layer


def test_deposited_volume_on_a_curved_surface():
    """The mesh loses the volume V_m/F int j dA dt: 1.1e-6, 7e-8 at refinements 1, 2 (the
    issue asks 0.1 %); fourth order in h (the offset vectors use the curved facets' normals)."""
    coarse, _ = _sinusoid_growth(1, [])
    fine, _ = _sinusoid_growth(2, [])
    assert abs(coarse) < 1e-5
    assert abs(coarse) / abs(fine) > 8


def test_layer_rides_on_a_curved_surface():
    """A 50 nm layer on a sinusoid keeps its area to 3.6e-4, 1.9e-4 (refinements 1, 2; the
    blend at corners leaves a floor ~1.6e-4); the deposited volume (electrolyte and layer
    together) to 3e-4."""
    layers = [{"name": "sei", "thickness": "50nm"}]
    for refinement in (1, 2):
        volume, layer = _sinusoid_growth(refinement, layers)
        assert abs(layer) < 5e-4
        assert abs(volume) < 5e-4


def _hemisphere_volume_error(steps: int) -> float:
    """Axisymmetric hemisphere (R 0.5 um, 100 nm layer) plated by a uniform 13.5 nm in
    ``steps`` steps: mesh volume lost (2 pi r weighted) / (V_m/F sum of Q over the area) - 1."""
    cfg = GeometryConfig.model_validate({
        "coordinates": "axisymmetric",
        "domain": {"width": 1.5e-6, "length": 3e-6},
        "protrusions": [{"shape": "spherical", "x": 0.0, "radius": 0.5e-6}],
        "layers": [{"name": "sei", "thickness": 0.1e-6}],
        "mesh": {"far_field_size": "1um", "order": 2},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    space = DisplacementSpace(bundle.mesh)
    kinematics, motion = SurfaceKinematics(bundle, space), MeshMotion(bundle, space)
    r = 2 * np.pi * ufl.SpatialCoordinate(bundle.mesh)[0]
    volume = fem.form(r * ufl.dx(domain=bundle.mesh))
    ds = ufl.Measure("ds", domain=bundle.mesh, subdomain_data=bundle.facet_tags)
    area = fem.form(r * ds(bundle.boundaries["li_surface"]))
    before, deposited = fem.assemble_scalar(volume), 0.0
    for _ in range(steps):
        deposited += fem.assemble_scalar(area) * kinematics.velocity(10.0) * 10.0 / steps
        motion.step(kinematics.displacement(10.0, 10.0 / steps))
        kinematics.update()
    return (before - fem.assemble_scalar(volume)) / deposited - 1.0


def test_deposited_volume_on_a_protrusion_with_a_corner():
    """At the protrusion's foot (a right-angled concave corner) the node moves to the
    intersection of the offset planes: the volume lost matches V_m/F int j dA dt to 1.9e-5,
    9.6e-6, 3.1e-6 with 1, 2, 4 steps (first order in the step: the explicit step uses the
    area at its start). Along the mean normal it was off by 0.5 %."""
    errors = [abs(_hemisphere_volume_error(n)) for n in (1, 2, 4)]
    assert errors[0] < 5e-5
    assert errors[0] > errors[1] > errors[2]


def _grown_protrusion(comm):
    """A semicircle with a 50 nm layer grown non-uniformly in 3 steps (stiffened, CG + GAMG)."""
    cfg = GeometryConfig.model_validate({
        "domain": {"width": W, "length": L},
        "protrusions": [{"shape": "spherical", "x": 0.0, "radius": 0.5e-6}],
        "layers": [{"name": "sei", "thickness": "50nm"}],
        "mesh": {"far_field_size": "1um", "order": 2},
    })
    bundle = build_mesh(cfg, comm, None)
    space = DisplacementSpace(bundle.mesh)
    kinematics = SurfaceKinematics(bundle, space)
    motion = MeshMotion(bundle, space, stiffening=1.0, solver="iterative")
    quality = MeshQuality(bundle.mesh)
    for _ in range(3):
        motion.step(kinematics.displacement(lambda p: 10.0 * (1 + p[:, 1] / 0.5e-6), 2.0))
        kinematics.update()
    largest_K = comm.allreduce(float(kinematics.curvature().max()), op=MPI.MAX)
    return surface_profile(kinematics), quality.minimum(), largest_K, _global_measures(bundle)


@pytest.mark.mpi
def test_grown_gmsh_protrusion_on_two_ranks_equals_serial():
    """Distributed Gmsh mesh, riding layer, CG + GAMG: the gathered Li profile (exact: Dirichlet
    values), the minimum quality, the curvature and the region measures equal the serial ones
    (1e-8 relative)."""
    parallel = _grown_protrusion(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        serial = _grown_protrusion(MPI.COMM_SELF)
        np.testing.assert_array_equal(parallel[0], serial[0])
        np.testing.assert_allclose(parallel[1:3], serial[1:3], rtol=1e-8)
        np.testing.assert_allclose(parallel[3], serial[3], rtol=1e-8)
