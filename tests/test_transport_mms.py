"""Manufactured solutions through the assembled residual of ``Simulation`` (steady).

Exact fields satisfy the model's own boundary conditions (Phi = 0, c = c_bulk at the counter;
zero normal derivatives on the sides); source terms make them solve the PDEs, and boundary
sources make the Li-surface conditions (kinetics for i.n, anion blocking for N_-.n) hold. The
discretisation error must then converge at the theoretical rates: L2 ~ h^(p+1), H1 ~ h^p.
Rates are measured between the two finest meshes; tolerance 0.25 below the theoretical value
(pre-asymptotic effects on coarse meshes), in 3D 0.35 (two coarse levels only).
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

from solver.kinetics import Kinetics
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation
from solver.transport import build_electrolyte

W = L = 1e-4  # m
V0 = 0.02  # V, amplitude of the manufactured potential
PHI_S = -0.05  # V, applied Li potential


def _shape(x, tdim):
    """cos(pi x/W) [cos(pi y/W)] sin(pi (L - z)/(2L)): zero at the counter, flat sides."""
    lateral = ufl.cos(math.pi * x[0] / W)
    if tdim == 3:
        lateral = lateral * ufl.cos(math.pi * x[1] / W)
    return lateral * ufl.sin(math.pi * (L - x[tdim - 1]) / (2 * L))


def _div(vector, x, axisym):
    """Divergence in Cartesian or cylindrical (r = x[0]) coordinates."""
    return ufl.div(vector) + (vector[0] / x[0] if axisym else 0)


def mms_physics(binary: bool, phi_s: float = PHI_S):
    """Physics of the manufactured solutions: dilute binary salt with Butler-Volmer kinetics, or
    a single-ion conductor with linear kinetics; potentiostatic at phi_s.

    Returns:
        (PhysicsConfig, electrolyte model, Li kinetics, c_bulk or None).
    """
    if binary:
        electrolyte = {
            "type": "dilute",
            "bulk_concentration": 500.0,
            "diffusivity": 3e-10,
            "transference_number": 0.4,
        }
        kinetics = {"model": "butler_volmer", "exchange_current_density": 50.0}
    else:
        electrolyte = {"type": "single_ion", "conductivity": 0.05}
        kinetics = {"model": "linear", "exchange_current_density": 50.0}
    physics = PhysicsConfig(
        electrolyte=electrolyte,
        kinetics=kinetics,
        control={"mode": "potentiostatic", "potential": phi_s},
    )
    model = build_electrolyte(physics)
    c_bulk = model.c_bulk if binary else None
    kin = Kinetics.from_config(
        physics.kinetics, physics.temperature, physics.reference_temperature, c_bulk
    )
    return physics, model, kin, c_bulk


def mms_sources(model, kin, phi_ex, c_ex, normal, axisym: bool, phi_s: float = PHI_S) -> dict:
    """The ``sources`` of Simulation that make (phi_ex, c_ex) the exact solution.

    Args:
        model: The electrolyte model (current density, anion flux).
        kin: The Li kinetics.
        phi_ex: Exact Phi as a function of the UFL coordinate.
        c_ex: Exact c (None for a single-ion conductor).
        normal: Outward normal of the ionic domain on the Li surface (UFL vector).
        axisym: Axisymmetric divergence.
        phi_s: The applied Li potential.
    """

    def c(x):
        return None if c_ex is None else c_ex(x)

    def current(x):
        return model.current_density(phi_ex(x), c(x))

    sources = {
        "charge": lambda x: _div(current(x), x, axisym),
        "li_charge": lambda x: (
            ufl.dot(current(x), normal) - kin.plating_current(phi_s - phi_ex(x), c(x))
        ),
    }
    if c_ex is not None:
        sources["salt"] = lambda x: _div(model.anion_flux(phi_ex(x), c_ex(x)), x, axisym)
        sources["li_salt"] = lambda x: ufl.dot(model.anion_flux(phi_ex(x), c_ex(x)), normal)
    return sources


def _run(n, degree, binary, coordinates="cartesian"):
    tdim = len(n)
    axisym = coordinates == "axisymmetric"
    bundle = make_flat_bundle(MPI.COMM_WORLD, W, L, n, coordinates=coordinates)
    physics, model, kin, c_bulk = mms_physics(binary)
    normal = ufl.as_vector(
        [0.0] * (tdim - 1) + [-1.0]
    )  # outward normal of the ionic domain at y = 0

    def phi_ex(x):
        return V0 * _shape(x, tdim) - 0.01 * (L - x[tdim - 1]) / L

    def c_ex(x):
        return c_bulk * (1.0 + 0.3 * _shape(x, tdim))

    sources = mms_sources(model, kin, phi_ex, c_ex if binary else None, normal, axisym)
    case = SimpleNamespace(
        physics=physics, time=TimeConfig(), numerics=NumericsConfig(degree=degree)
    )
    sim = Simulation(bundle, case, MPI.COMM_WORLD, sources=sources)
    sim.solve_steady()
    errors = [*_errors(sim.phi, phi_ex, degree)]
    if binary:
        errors += [e / c_bulk for e in _errors(sim.c, c_ex, degree)]
    return errors


def _errors(u, exact, degree):
    msh = u.function_space.mesh
    x = ufl.SpatialCoordinate(msh)
    dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": 2 * degree + 4})
    e = u - exact(x)
    l2 = msh.comm.allreduce(fem.assemble_scalar(fem.form(e * e * dx)), op=MPI.SUM)
    h1 = msh.comm.allreduce(
        fem.assemble_scalar(fem.form(ufl.dot(ufl.grad(e), ufl.grad(e)) * dx)), op=MPI.SUM
    )
    return math.sqrt(l2), math.sqrt(h1)


def _rates(levels, degree, binary, coordinates="cartesian"):
    errors = np.array([_run(n, degree, binary, coordinates) for n in levels])
    ratio = levels[-2][0] / levels[-1][0]
    return np.log(errors[-1] / errors[-2]) / np.log(ratio), errors


@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize("binary", [False, True], ids=["single_ion", "binary"])
@pytest.mark.parametrize("coordinates", ["cartesian", "axisymmetric"])
def test_mms_2d(degree, binary, coordinates):
    levels = [(4, 4), (8, 8), (16, 16)]
    rates, errors = _rates(levels, degree, binary, coordinates)
    expected = np.array([degree + 1, degree] * (2 if binary else 1))
    assert np.all(rates > expected - 0.25), f"rates {rates}, errors {errors}"


@pytest.mark.slow
@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize("binary", [False, True], ids=["single_ion", "binary"])
def test_mms_3d(degree, binary):
    levels = [(2, 2, 2), (4, 4, 4)] if degree == 2 else [(3, 3, 3), (6, 6, 6)]
    rates, errors = _rates(levels, degree, binary)
    expected = np.array([degree + 1, degree] * (2 if binary else 1))
    assert np.all(rates > expected - 0.35), f"rates {rates}, errors {errors}"
