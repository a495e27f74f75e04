"""Periodic lateral sides (``solver/periodic.py``): the reduced Newton system P^T J P.

Checks, each against something exact:

* the constraint: after a solve every dof on x = W (y = D) equals its master on x = 0 (y = 0)
  to round-off, for Phi and c (the prolongation copies values, so they are bitwise equal);
* manufactured solutions with a sin(2 pi x / W) component, which mirror (zero-flux) sides cannot
  represent: with periodic sides the L2 error converges at rate p + 1 (P1, P2; single-ion and
  dilute binary; direct and iterative linear solver), with symmetric sides it does not;
* physics: a periodic cell of width W with a semicircular ridge at x = W/4 and the symmetric
  cell of width W/2 with the ridge at x = 0 describe the same infinite array, so their mean
  and peak current densities agree to the discretisation error;
* parallel: 2 ranks equal serial (``test_periodic_parallel_equals_serial``, ``-m mpi``);
* 3D: slave == master on both lateral pairs and the Faradaic current equals the counter current.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import math
from types import SimpleNamespace

import numpy as np
import pytest
import ufl
from conftest import make_flat_bundle
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc
from scipy.spatial import cKDTree
from test_transport_mms import _errors, mms_physics, mms_sources

from solver.geometry import GeometryConfig, build_mesh
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.periodic import PeriodicConstraint
from solver.problem import Simulation, SimulationError

W = L = 1e-4  # m, manufactured-solution cell
V0 = 0.02  # V, amplitude of the manufactured potential
PHI_S = -0.05  # V, applied Li potential


def _case(physics, lateral="periodic", time=None, **numerics):
    return SimpleNamespace(
        physics=physics,
        time=time or TimeConfig(),
        numerics=NumericsConfig(**numerics),
        geometry=SimpleNamespace(domain=SimpleNamespace(lateral=lateral)),
    )


def _assert_periodic(u, periods):
    """Every owned dof on an upper side equals the dof at the translated point (any rank)."""
    V = u.function_space
    comm = V.mesh.comm
    n = V.dofmap.index_map.size_local
    points = V.tabulate_dof_coordinates()[:n]
    values = u.x.array[:n]
    everywhere = comm.allgather((points, values))
    tree = cKDTree(np.vstack([p for p, _ in everywhere]))
    all_values = np.concatenate([v for _, v in everywhere])
    h = min(periods) * 1e-9
    target = points.copy()
    slave = np.zeros(n, dtype=bool)
    for k, period in enumerate(periods):
        upper = np.abs(points[:, k] - period) < h
        target[upper, k] -= period
        slave |= upper
    distance, master = tree.query(target[slave])
    assert np.all(distance < h), "a dof on an upper side has no partner"
    scale = np.abs(all_values).max()
    slaves = comm.allreduce(int(slave.sum()), op=MPI.SUM)
    assert slaves > 0
    diff = np.abs(values[slave] - all_values[master]).max(initial=0.0)
    assert comm.allreduce(diff, op=MPI.MAX) <= 1e-14 * scale


# ---------------------------------------------------------------------------------------------
# Manufactured solutions
# ---------------------------------------------------------------------------------------------
def _shape(x):
    """sin(2 pi x/W) sin(pi (L - y)/(2L)): periodic, zero at the counter, slope on the sides."""
    return ufl.sin(2 * math.pi * x[0] / W) * ufl.sin(math.pi * (L - x[1]) / (2 * L))


def _mms(n, degree, binary, lateral="periodic", linear_solver="direct"):
    """L2 errors of Phi (and c / c_bulk) of the manufactured solution on an n x n mesh."""
    bundle = make_flat_bundle(MPI.COMM_WORLD, W, L, (n, n))
    physics, model, kin, c_bulk = mms_physics(binary, PHI_S)
    normal = ufl.as_vector([0.0, -1.0])  # outward normal of the ionic domain at y = 0

    def phi_ex(x):
        return V0 * _shape(x) - 0.01 * (L - x[1]) / L

    def c_ex(x):
        return c_bulk * (1.0 + 0.3 * _shape(x))

    sources = mms_sources(model, kin, phi_ex, c_ex if binary else None, normal, False, PHI_S)
    case = _case(physics, lateral, degree=degree, linear_solver=linear_solver)
    sim = Simulation(bundle, case, MPI.COMM_WORLD, sources=sources)
    sim.solve_steady()
    errors = [_errors(sim.phi, phi_ex, degree)[0]]
    if lateral == "periodic":
        _assert_periodic(sim.phi, [W])
    if binary:
        errors.append(_errors(sim.c, c_ex, degree)[0] / c_bulk)
        _assert_periodic(sim.c, [W])
    return np.array(errors)


@pytest.mark.parametrize(
    ("degree", "binary", "linear_solver"),
    [
        (1, False, "iterative"),
        (2, False, "direct"),
        (1, True, "direct"),
        (2, True, "iterative"),
    ],
    ids=[
        "P1-single_ion-iterative",
        "P2-single_ion-direct",
        "P1-binary-direct",
        "P2-binary-iterative",
    ],
)
def test_periodic_mms_rate(degree, binary, linear_solver):
    """L2 rate p + 1 between 8 and 16 cells per side; 0.25 below it as in test_transport_mms."""
    coarse, fine = (_mms(n, degree, binary, linear_solver=linear_solver) for n in (8, 16))
    rates = np.log2(coarse / fine)
    assert np.all(rates > degree + 1 - 0.25), f"rates {rates}, errors {coarse}, {fine}"


def test_symmetric_sides_miss_the_periodic_solution():
    """The same sources with mirror sides converge to another field: the error stalls.

    Zero normal flux on the sides contradicts d(Phi)/dx = 2 pi V0 / W sin(...) there, so the
    error is O(1) of the sine component (measured: 1.35, 1.47, 1.50e-6 on 4, 8, 16 cells, against
    its L2 norm V0 sqrt(W L) / 2 = 1e-6): it must not halve under refinement (rate < 0.5) and
    stay above half that norm.
    """
    coarse, fine = (_mms(n, 1, False, lateral="symmetric")[0] for n in (8, 16))
    assert math.log2(coarse / fine) < 0.5, (coarse, fine)
    assert fine > 0.5 * V0 * math.sqrt(W * L) / 2, fine


@pytest.mark.parametrize("wavy", [False, True], ids=["flat", "wavy"])
def test_primary_galvanostatic_dirichlet_pairs(wavy):
    """Primary kinetics: Phi = phi_s on the Li surface and Phi = 0 at the counter, so both
    corners of each side are constrained on both sides of the pair (reduced Dirichlet rows
    2 x identity; sensitivity w = -1 there), under galvanostatic control (bordered Newton).

    Flat cell: the 1D ohmic solution, phi_s = -J L / sigma, exact for P1 (1e-10 relative,
    Newton tolerance). Wavy cell (sin(2 pi x/W) + 0.5 sin(4 pi x/W), no mirror symmetry):
    slave == master, and the Dirichlet values hold on every Li-surface and counter dof, the
    corners included, to round-off; the Li current (the reaction of the Dirichlet rows) equals
    the applied and the counter current (1e-9: charge conservation of the reduced system).
    """
    sigma, J = 0.05, 20.0
    bundle = make_flat_bundle(MPI.COMM_WORLD, W, L, (6, 6))
    if wavy:
        x = bundle.mesh.geometry.x
        phase = 2 * math.pi * x[:, 0] / W
        x[:, 1] += 0.05 * L * (np.sin(phase) + 0.5 * np.sin(2 * phase)) * (1.0 - x[:, 1] / L)
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": sigma},
        kinetics={"model": "primary"},
        control={"mode": "galvanostatic", "current_density": J},
    )
    sim = Simulation(bundle, _case(physics, degree=1), MPI.COMM_WORLD)
    scalars = next(iter(sim.run())).scalars
    _assert_periodic(sim.phi, [W])
    phi = sim.phi.x.array
    li = np.concatenate([sim.facet_tags.find(part.tag) for part in sim.parts])
    counter = sim.facet_tags.find(sim.bundle.boundaries["counter"])
    for facets, value in ((li, scalars["cell_voltage"]), (counter, 0.0)):
        dofs = fem.locate_dofs_topological(sim.V, 1, facets)
        np.testing.assert_allclose(phi[dofs], value, rtol=0, atol=1e-14)
    assert scalars["current_mean"] == pytest.approx(J, rel=1e-9)
    assert scalars["counter_current"] == pytest.approx(J, rel=1e-9)
    if not wavy:
        assert scalars["cell_voltage"] == pytest.approx(-J * L / sigma, rel=1e-10)


# ---------------------------------------------------------------------------------------------
# Physics: the same infinite array of ridges seen through two cells
# ---------------------------------------------------------------------------------------------
RIDGE_W, RIDGE_L, RIDGE_A = 8e-6, 16e-6, 1e-6  # m: array period, counter distance, ridge radius


def _ridge_currents(lateral: str, solver_lateral: str | None = None) -> tuple[float, float]:
    """(mean j, max j / mean j) of the ridge array; secondary distribution, Wa = 0.26.

    ``lateral`` picks the cell: periodic of width W with the ridge at x = W/4, or symmetric of
    width W/2 with the ridge at x = 0. ``solver_lateral`` overrides the side condition the
    solver applies (the mesh stays the one of ``lateral``).
    """
    x0, width = (RIDGE_W / 4, RIDGE_W) if lateral == "periodic" else (0.0, RIDGE_W / 2)
    cfg = GeometryConfig.model_validate(
        {
            "domain": {"width": width, "length": RIDGE_L, "lateral": lateral},
            "protrusions": [{"shape": "spherical", "radius": RIDGE_A, "x": x0}],
            "mesh": {"order": 2, "far_field_size": "2um"},
        }
    )
    bundle = build_mesh(cfg, MPI.COMM_WORLD, None)
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 0.1},
        kinetics={"model": "linear", "exchange_current_density": 1e4},
        control={"mode": "potentiostatic", "potential": -0.01},
    )
    case = _case(physics, solver_lateral or lateral, degree=2)
    snap = next(iter(Simulation(bundle, case, MPI.COMM_WORLD).run()))
    mean = snap.scalars["current_mean"]
    peak = MPI.COMM_WORLD.allreduce(float(snap.surface.j.max(initial=-np.inf)), op=MPI.MAX)
    return mean, peak / mean


def test_periodic_ridge_array_equals_symmetric_half_cell():
    """Periodic cell (W, ridge at W/4) == symmetric cell (W/2, ridge at 0): same array.

    Kappa R_ct / a = 0.26, peak/mean = 1.642. Measured differences (P2, default mesh; the two
    meshes differ): mean j 4e-7, peak/mean 2.5e-4 (1.6e-5 with mesh.refinement 2, so this is
    discretisation and peak-sampling error). Tolerances 5e-6 and 1e-3. The control, the periodic
    mesh solved with mirror sides (a different array: ridge pairs), misses by 7e-4 and 2.4 %.
    """
    mean_p, peak_p = _ridge_currents("periodic")
    mean_s, peak_s = _ridge_currents("symmetric")
    assert mean_p == pytest.approx(mean_s, rel=5e-6)
    assert peak_p == pytest.approx(peak_s, rel=1e-3)
    mean_m, peak_m = _ridge_currents("periodic", solver_lateral="symmetric")
    assert abs(mean_m / mean_s - 1) > 1e-4 and abs(peak_m / peak_s - 1) > 1e-2


# ---------------------------------------------------------------------------------------------
# Parallel, transient, galvanostatic (bordered Newton), direct and iterative
# ---------------------------------------------------------------------------------------------
KEYS = (
    "cell_voltage",
    "current_mean",
    "counter_current",
    "overpotential_mean",
    "salt_inventory",
    "min_surface_concentration",
)


def _transient(comm: MPI.Comm, linear_solver: str) -> Simulation:
    """Dilute binary salt, BV kinetics, 500 A/m^2 (J/J_lim = 0.2), three BDF2 steps.

    The Li surface y = 0.5 um (sin(2 pi x/W) + 0.5 sin(4 pi x/W)) is periodic but has no mirror
    symmetry, so Phi and c vary across the periodic sides.
    """
    width, height = 10e-6, 20e-6
    bundle = make_flat_bundle(comm, width, height, (8, 12))
    x = bundle.mesh.geometry.x
    phase = 2 * math.pi * x[:, 0] / width
    x[:, 1] += 0.5e-6 * (np.sin(phase) + 0.5 * np.sin(2 * phase)) * (1.0 - x[:, 1] / height)
    physics = PhysicsConfig(
        electrolyte={
            "type": "dilute",
            "bulk_concentration": 1000.0,
            "diffusivity": 3e-10,
            "transference_number": 0.38,
        },
        kinetics={"model": "butler_volmer", "exchange_current_density": 50.0},
        control={"mode": "galvanostatic", "current_density": 500.0},
    )
    time = TimeConfig(mode="transient", t_end=0.15, dt=0.05, scheme="bdf2", adaptivity="none")
    case = _case(physics, time=time, degree=2, linear_solver=linear_solver)
    sim = Simulation(bundle, case, comm)
    for _ in sim.run():
        pass
    return sim


@pytest.mark.mpi
@pytest.mark.parametrize("linear_solver", ["direct", "iterative"])
def test_periodic_parallel_equals_serial(linear_solver):
    """World (2 ranks under mpiexec) vs COMM_SELF: scalars within 1e-8 relative; slave == master.

    Newton converges to 1e-10 relative residual, far below the 1e-8 of the comparison.
    """
    world = _transient(MPI.COMM_WORLD, linear_solver)
    serial = _transient(MPI.COMM_SELF, linear_solver)
    _assert_periodic(world.phi, [10e-6])
    _assert_periodic(world.c, [10e-6])
    assert world.t == pytest.approx(0.15)
    a, b = world.scalars(), serial.scalars()
    for key in KEYS:
        assert a[key] == pytest.approx(b[key], rel=1e-8, abs=1e-14), key
    assert a["counter_current"] == pytest.approx(500.0, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# 3D, and meshes or conditions that are not periodic
# ---------------------------------------------------------------------------------------------
def test_periodic_3d_hemisphere():
    """Gmsh 3D box W x D (D != W) with an off-centre hemisphere, periodic in x and y.

    Exact checks: Phi on x = W and y = D equals its master (the vertical edges chain to the one
    at the origin corner); P^T 1 counts the copies of each master: 4 on the vertical edge at
    the origin (interior dofs of that edge), 2 elsewhere on x = 0 or y = 0, 1 inside; the
    Faradaic current equals the counter current (charge conservation of the reduced system,
    1e-9 relative; Newton converges to 1e-10).
    Measured: Faradaic / counter current - 1 = -6e-15. The mesh is second order: on this
    geometry Gmsh's high-order optimiser moves side nodes (by up to 9 nm) and the builder puts
    the slaves back on the images of their masters.
    """
    width, depth = 4e-6, 3e-6
    cfg = GeometryConfig.model_validate(
        {
            "dimension": 3,
            "domain": {"width": width, "depth": depth, "length": 6e-6, "lateral": "periodic"},
            "protrusions": [{"shape": "spherical", "radius": 1e-6, "x": 1.5e-6, "y": 1.4e-6}],
            "mesh": {"order": 2, "far_field_size": "2um", "tip_size_factor": 0.5},
        }
    )
    bundle = build_mesh(cfg, MPI.COMM_WORLD, None)
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 0.1},
        kinetics={"model": "linear", "exchange_current_density": 1e3},
        control={"mode": "potentiostatic", "potential": -0.01},
    )
    sim = Simulation(bundle, _case(physics, degree=2), MPI.COMM_WORLD)
    scalars = next(iter(sim.run())).scalars
    _assert_periodic(sim.phi, [width, depth])
    assert scalars["current_mean"] == pytest.approx(scalars["counter_current"], rel=1e-9)
    assert scalars["current_mean"] > 0.0

    P = sim.sys_phi.periodic.P
    ones = P.createVecLeft()
    ones.set(1.0)
    copies = P.createVecRight()
    P.multTranspose(ones, copies)
    counts = copies.getArray()
    V = sim.V
    n = V.dofmap.index_map.size_local
    points = V.tabulate_dof_coordinates()[:n]
    on = np.abs(points[:, :2] - [width, depth]) < 1e-12, np.abs(points[:, :2]) < 1e-12
    masters = points[~on[0].any(axis=1)]  # reduced numbering: owned non-slave dofs in order
    at_lower = np.abs(masters[:, :2]) < 1e-12
    expected = np.where(at_lower.all(axis=1), 4.0, np.where(at_lower.any(axis=1), 2.0, 1.0))
    assert counts.shape == expected.shape
    np.testing.assert_array_equal(counts, expected)
    assert MPI.COMM_WORLD.allreduce(int(at_lower.all(axis=1).sum()), op=MPI.SUM) > 1


def test_mesh_that_is_not_periodic_is_rejected():
    """Nodes on x = W moved along the side: no master for them, an error naming the key."""
    _reject_mesh_that_is_not_periodic()


@pytest.mark.mpi
def test_mesh_that_is_not_periodic_is_rejected_on_every_rank():
    """The same check in parallel: every rank raises (none waits in a collective call)."""
    _reject_mesh_that_is_not_periodic()


def _reject_mesh_that_is_not_periodic():
    bundle = make_flat_bundle(MPI.COMM_WORLD, W, L, (4, 4))
    x = bundle.mesh.geometry.x
    right = (np.abs(x[:, 0] - W) < 1e-12 * W) & (x[:, 1] > 0.1 * L) & (x[:, 1] < 0.9 * L)
    x[right, 1] += 0.1 * L / 4
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 0.05},
        control={"mode": "potentiostatic", "potential": PHI_S},
    )
    with pytest.raises(SimulationError, match="geometry.domain.lateral"):
        Simulation(bundle, _case(physics), MPI.COMM_WORLD)


def test_dirichlet_on_one_side_of_a_pair_is_rejected():
    """A Dirichlet condition on x = 0 only cannot hold on a periodic field."""
    bundle = make_flat_bundle(MPI.COMM_WORLD, W, L, (4, 4))
    V = fem.functionspace(bundle.mesh, ("Lagrange", 1))
    left = fem.locate_dofs_geometrical(V, lambda p: np.isclose(p[0], 0.0))
    bc = fem.dirichletbc(PETSc.ScalarType(0.0), left, V)
    with pytest.raises(ValueError, match="same Dirichlet conditions"):
        PeriodicConstraint([V], [[bc]])
    assert PeriodicConstraint([V], [[]]).num_slaves == 5  # the 4 x 4 mesh: 5 nodes on x = W


def test_axisymmetric_periodic_is_rejected():
    """Periodic sides of an axisymmetric section make no sense (the axis is not a side)."""
    bundle = make_flat_bundle(MPI.COMM_WORLD, W, L, (2, 2), coordinates="axisymmetric")
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 0.05},
        control={"mode": "potentiostatic", "potential": PHI_S},
    )
    with pytest.raises(SimulationError, match="geometry.domain.lateral"):
        Simulation(bundle, _case(physics), MPI.COMM_WORLD)
