"""The protocol of the physics terms (``solver.physics``), each term on its own.

A flat cell W x L with an interphase layer of thickness T (structured triangles, P2): every
field below is linear or constant, so P2 holds it exactly and each assembled integral is exact
up to round-off. Each term's residual is checked against a hand-computed value (tested with
v = 1 or an indicator), or shown to vanish on an exact solution at the interior dofs; its
Dirichlet conditions and outputs likewise. Tolerance 1e-12 relative (round-off of sums over a
few hundred cells); ``abs=0``: the SI integrals are ~1e-6 (A/m per unit depth) and smaller.

Adding a term: one module in ``solver/physics`` (a :class:`~solver.physics.term.Term`), one
config section, one test here (docs/architecture.md, "Physics terms").
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import math

import dolfinx
import numpy as np
import pytest
import ufl
from conftest import make_flat_bundle
from dolfinx import fem
from mpi4py import MPI

from solver.constants import FARADAY, GAS_CONSTANT
from solver.domain import Domain
from solver.kinetics import Kinetics
from solver.newton import ConstraintBorder, FixedBorder
from solver.physics.conduction import IonicConduction
from solver.physics.control import Control
from solver.physics.counter import LiCounter, ReservoirCounter
from solver.physics.faradaic import FaradaicKinetics, PrimaryContact
from solver.physics.leakage import ElectronicLeakage
from solver.physics.salt import SaltTransport
from solver.physics.sources import ManufacturedSources
from solver.physics.term import Term, Unknowns
from solver.physics.transfer import IonTransfer
from solver.timestepping import ProtocolStep
from solver.transport import BinaryElectrolyte, SingleIonConductor

W, L, T = 2e-6, 4e-6, 0.5e-6
SIGMA, TEMPERATURE, C_BULK = 1e-3, 298.15, 1000.0


def approx(expected: float) -> object:
    return pytest.approx(expected, rel=1e-12, abs=0.0)


def _unknowns(split: bool = False, salt: bool = False) -> Unknowns:
    """Phi (and Phi_elyte) of degree 2 on the flat cell, phi_s = 0."""
    comm = MPI.COMM_SELF
    bundle = make_flat_bundle(comm, W, L, (4, 8), layer=("sei", T, 2))
    domain = Domain(bundle, comm, submesh=split or salt, interface=["sei"] if split else [])
    V = fem.functionspace(domain.mesh, ("Lagrange", 2))
    potentials = [fem.Function(V)]
    if split:
        potentials.append(fem.Function(fem.functionspace(domain.submesh, ("Lagrange", 2))))
    f = FARADAY / (GAS_CONSTANT * TEMPERATURE)
    u = Unknowns(domain, potentials, fem.Constant(domain.mesh, 0.0), f)
    if salt:
        u.salt = SaltTransport(_dilute(), domain, 2, 1, log_c=False)
    return u


def _dilute(t_plus: float = 0.4, d_salt: float = 1e-10) -> BinaryElectrolyte:
    k_over_c = 1e-4
    return BinaryElectrolyte(lambda c: k_over_c * c, lambda c: d_salt, lambda c: t_plus,
                             lambda c: 1.0, TEMPERATURE, C_BULK, True)


def _ones(u: Unknowns) -> list[fem.Function]:
    """v = 1 for every potential block (a residual tested with it is a total flux)."""
    ones = []
    for p in u.potentials:
        one = fem.Function(p.function_space)
        one.x.array[:] = 1.0
        ones.append(one)
    return ones


def _charge(term: Term, u: Unknowns, tests: list) -> list[float]:
    """The term's charge contributions integrated, per block."""
    out = [0.0] * len(u.potentials)
    etas = [u.phi_s - p for p in u.potentials]
    for k, form in term.charge(u, tests, etas):
        out[k] += u.domain.integrate(form)
    return out


def _interior_residual(term: Term, u: Unknowns, block: int = 0) -> np.ndarray:
    """The term's assembled charge residual of one block at the dofs off every boundary."""
    tests = u.tests()
    etas = [u.phi_s - p for p in u.potentials]
    form = sum(f for k, f in term.charge(u, tests, etas) if k == block)
    vector = fem.assemble_vector(fem.form(form, entity_maps=u.domain.maps))
    space = u.potentials[block].function_space
    boundary = fem.locate_dofs_topological(space, 1, _exterior_and_interface(u))
    interior = np.setdiff1d(np.arange(space.dofmap.index_map.size_local), boundary)
    return vector.array[interior]


def _exterior_and_interface(u: Unknowns) -> np.ndarray:
    """The facets where a region's natural boundary flux enters its residual."""
    msh = u.domain.mesh
    msh.topology.create_connectivity(1, 2)
    exterior = dolfinx.mesh.exterior_facet_indices(msh.topology)
    interface = u.domain.facet_tags.find(u.domain.bundle.boundaries["interphase_electrolyte"])
    return np.union1d(exterior, interface).astype(np.int32)


# ------------------------------------------------------------------------------------------
# Bulk terms
# ------------------------------------------------------------------------------------------
def test_ionic_conduction_is_ohmic_and_conserves_charge() -> None:
    """Phi = a y: the flux through the layer's top is sigma a W, and div i = 0 inside."""
    u = _unknowns()
    a = 3.0e3
    u.potentials[0].interpolate(lambda x: a * x[1])
    term = IonicConduction("sei", SingleIonConductor(SIGMA))
    assert term.sigma == term.kappa_bulk == SIGMA
    u.conductors["sei"] = term
    # v = y / T on the layer: int -i . grad(v) dx = sigma a / T |layer| = sigma a W
    v = fem.Function(u.potentials[0].function_space)
    v.interpolate(lambda x: x[1] / T)
    assert _charge(term, u, [v])[0] == approx(SIGMA * a * W)
    assert np.abs(_interior_residual(term, u)).max() < 1e-12 * SIGMA * a * W
    # the field is grad(Phi) itself in a single-ion conductor
    e = term.electrostatic_potential(u)
    assert u.domain.integrate(ufl.grad(e)[1] * u.domain.dx(2)) == approx(a * W * T)


@pytest.mark.parametrize("log_c", [False, True])
def test_salt_transport_of_a_uniform_migration_flux(log_c: bool) -> None:
    """c = c_bulk, Phi = a y: i = -kappa a e_y, N_- = (1 - t+) kappa a / F e_y, no storage.

    Tested with v = q = (y - T)/(L - T) on the electrolyte: the fluxes through the counter.
    """
    u = _unknowns(salt=True)
    salt = u.salt
    salt.set_variable(log_c)
    assert salt.blocks == ("Phi", "u" if log_c else "c")
    a, kappa, t_plus = 2.0e3, 1e-4 * C_BULK, 0.4
    u.potentials[0].interpolate(lambda x: a * x[1])
    u.conductors["electrolyte"] = salt
    assert salt.kappa_bulk == approx(kappa)
    v = fem.Function(u.potentials[0].function_space)
    v.interpolate(lambda x: np.maximum(x[1] - T, 0.0) / (L - T))
    assert _charge(salt, u, [v])[0] == approx(kappa * a * W)
    q = fem.Function(salt.Q)
    q.interpolate(lambda x: (x[1] - T) / (L - T))
    # N_- = (1 - t+) kappa a / F e_y: int -N_- . grad(q) dx_e = -(1 - t+) kappa a W / F
    assert u.domain.integrate(salt.salt_balance(u, q)) == approx(
        -(1.0 - t_plus) * kappa * a * W / FARADAY
    )
    salt.bdf.set_step(1.0)
    assert u.domain.integrate(salt.storage(q)) == 0.0  # c has no history yet: dc/dt = 0
    assert salt.nodal_concentration(salt.salt.x.array) == approx(C_BULK)


# ------------------------------------------------------------------------------------------
# Li surface
# ------------------------------------------------------------------------------------------
def _bv(i0: float = 2.0) -> Kinetics:
    return Kinetics("butler_volmer", i0, 0.3, 0.7, TEMPERATURE)


def test_faradaic_kinetics_at_a_uniform_overpotential() -> None:
    """Phi = -eta0 everywhere, phi_s = 0: j(eta0) W into the layer's block, dj/deta W."""
    u = _unknowns()
    k = _bv()
    eta0 = 0.02
    u.potentials[0].x.array[:] = -eta0
    theta = fem.Constant(u.domain.mesh, 1.0)
    term = FaradaicKinetics(u.domain.parts, [k, k], theta, u.domain.mesh)
    j = -k.i0 * (math.exp(0.3 * k.f * eta0) - math.exp(-0.7 * k.f * eta0))
    dj = -k.i0 * k.f * (0.3 * math.exp(0.3 * k.f * eta0) + 0.7 * math.exp(-0.7 * k.f * eta0))
    assert _charge(term, u, _ones(u))[0] == approx(j * W)
    etas = [ufl.variable(u.phi_s - p) for p in u.potentials]
    total, d_total = term.li_current(u, etas, None)
    assert u.domain.integrate(total) == approx(j * W)
    assert u.domain.integrate(d_total) == approx(dj * W)
    d_charge = sum(u.domain.integrate(f) for _, f in term.d_charge(u, _ones(u), etas))
    assert d_charge == approx(dj * W)
    assert term.max_i0 == k.i0
    assert term.wagner_parts([0.0, 1.0]) == [(0.0, 2.0, 0.3, 0.7), (1.0, 2.0, 0.3, 0.7)]


def test_continuation_starts_on_the_secant_through_the_rate_law() -> None:
    """theta = 0 with the galvanostatic secant: the linear law gives J at eta(J) exactly."""
    u = _unknowns()
    k = _bv()
    J = 50.0  # A/m^2, 25 i0: far into the exponential branch
    eta = k.overpotential(J)
    u.potentials[0].x.array[:] = -eta
    theta = fem.Constant(u.domain.mesh, 0.0)
    term = FaradaicKinetics(u.domain.parts, [k, k], theta, u.domain.mesh)
    term.set_secants(J, galvanostatic=True)
    assert _charge(term, u, _ones(u))[0] == pytest.approx(J * W, rel=1e-10, abs=0)
    assert term.uniform_overpotential(J) == eta


def test_primary_contact_current_is_the_reaction_of_its_rows() -> None:
    """Phi = a y in the layer: -R(chi) over the Li dofs equals the flux sigma a W exactly."""
    u = _unknowns()
    a = 1.5e3
    u.potentials[0].interpolate(lambda x: a * x[1])
    conduction = IonicConduction("sei", SingleIonConductor(SIGMA))
    u.conductors["sei"] = conduction
    primary = PrimaryContact(u.domain.parts, [Kinetics("primary", 0.0, 0.5, 0.5, TEMPERATURE)] * 2)
    fix, = primary.dirichlet(u)
    assert fix.value is u.phi_s and fix.w_value == -1.0 and fix.block == 0
    y = u.potentials[0].function_space.tabulate_dof_coordinates()[fix.dofs, 1]
    assert np.abs(y).max() < 1e-12 * T and len(fix.dofs) == 2 * 4 + 1  # P2 on 4 facets
    etas = [u.phi_s - p for p in u.potentials]

    def reaction(tests: list) -> object:
        return sum(f for _, f in conduction.charge(u, tests, etas))

    total, d_total = primary.li_current(u, etas, reaction)
    assert d_total is None
    assert u.domain.integrate(total) == approx(SIGMA * a * W)
    sampled = primary.surface_current(u, 1, None)  # i . n on the layer's Li part
    assert u.domain.integrate(sampled * u.domain.ds(u.domain.parts[1].tag)) == approx(SIGMA * a * W)
    assert primary.max_i0 == 0.0 and primary.uniform_overpotential(3.0) == 0.0
    assert primary.wagner_parts([1.0, 0.0])[0][1] == math.inf


# ------------------------------------------------------------------------------------------
# Ion transfer, counter electrode, control, leakage, sources
# ------------------------------------------------------------------------------------------
def test_ion_transfer_jump_flux_and_its_dirichlet_rows() -> None:
    """Phi = A in the layer, Phi_elyte = B: (A - B)/R_it W leaves one block, enters the other."""
    u = _unknowns(split=True)
    r_it, A, B = 1e-3, 0.01, 0.004
    u.potentials[0].x.array[:] = A
    u.potentials[1].x.array[:] = B
    term = IonTransfer({"sei": r_it}, u.domain)
    flux = (A - B) / r_it * W
    assert _charge(term, u, _ones(u)) == [approx(flux), approx(-flux)]
    assert term.resistance(u.domain) == approx(r_it)
    fix, = term.dirichlet(u)
    y = u.potentials[0].function_space.tabulate_dof_coordinates()[fix.dofs, 1]
    assert y.min() > T and fix.value == 0.0  # Phi's dofs in the electrolyte only
    n_pattern = u.domain.integrate(term.pattern(u, _ones(u))[0][1])
    assert n_pattern == 0.0


def test_ion_transfer_refuses_a_region_that_does_not_touch_the_electrolyte() -> None:
    from solver.driver import SimulationError

    u = _unknowns(split=True)
    with pytest.raises(SimulationError, match=r"physics.interphase.other.transfer_resistance"):
        IonTransfer({"sei": 1e-3, "other": 1e-3}, u.domain)


def test_reservoir_counter_fixes_phi_and_c_and_reports_the_reaction() -> None:
    """Phi = a (y - L): the counter current is the flux through the counter, sigma a W."""
    u = _unknowns(salt=True)
    term = ReservoirCounter()
    fix_phi, fix_c = term.dirichlet(u)
    coords = u.potentials[0].function_space.tabulate_dof_coordinates()
    assert coords[fix_phi.dofs, 1] == pytest.approx(np.full(9, L), rel=1e-12, abs=0)
    assert fix_phi.value == 0.0
    assert fix_c.block == 1 and fix_c.value == C_BULK
    y_c = u.salt.Q.tabulate_dof_coordinates()[fix_c.dofs, 1]
    assert y_c == pytest.approx(np.full(9, L), rel=1e-12, abs=0)
    a = 1e3
    u.potentials[0].interpolate(lambda x: a * (x[1] - L))
    conduction = IonicConduction("electrolyte", SingleIonConductor(SIGMA))
    etas = [u.phi_s - p for p in u.potentials]

    def residuals(tests: list) -> list:
        return [sum(f for _, f in conduction.charge(u, tests, etas))]

    # i = -sigma a e_y leaves through the counter (n = e_y): R(chi) = sigma a W
    assert u.domain.integrate(term.current(u, residuals)) == approx(SIGMA * a * W)
    assert not term.closed


def test_li_counter_rate_law_at_its_overpotential() -> None:
    """Phi = 0.01 at the counter: j_c = j(-0.01) enters R_Phi; the counter current is -j_c W."""
    u = _unknowns()
    k = _bv()
    u.potentials[0].x.array[:] = 0.01
    term = LiCounter(k, fem.Constant(u.domain.mesh, 1.0), u.domain.mesh)
    j_c = -float(k.anodic_current(-0.01, exp=math.exp))
    assert _charge(term, u, _ones(u))[0] == approx(j_c * W)
    assert u.domain.integrate(term.current(u, None)) == approx(-j_c * W)
    assert term.closed


def test_control_modes_and_borders() -> None:
    """Galvanostatic: a constraint border; potentiostatic: phi_s = V, except during a rest."""
    from solver.model_spec import PhysicsConfig

    u = _unknowns()
    physics = PhysicsConfig.model_validate({
        "electrolyte": {"type": "single_ion", "conductivity": 1.0},
        "control": {"mode": "potentiostatic", "protocol": [
            {"kind": "constant", "duration": 1.0, "value": -0.05},
            {"kind": "rest", "duration": 1.0}]},
    })
    control = Control(physics.control, u.domain.mesh, u.phi_s)
    assert control.constrained and control.current_scale == 0.0
    steps = control.protocol()
    first = steps.step_at(0.5)
    assert control.apply(first) is False
    assert float(u.phi_s.value) == -0.05 == float(control.value.value)
    assert isinstance(control.border(False, 1.0, 0.025, MPI.COMM_SELF), FixedBorder)
    assert control.apply(ProtocolStep("rest", 1.0, 0.0)) is True
    counter = u.domain.ds(u.domain.tag("counter"))
    g = control.constraint(fem.Constant(u.domain.mesh, 2.0) * counter, None, 0.25, None)
    assert u.domain.integrate(g) == approx(0.25 * 2.0 * W)
    border = control.border(True, 4.0, 0.025, MPI.COMM_SELF)
    assert isinstance(border, ConstraintBorder) and border.residual() == approx(0.5 * W)


def test_electronic_leakage_through_a_uniform_layer() -> None:
    """phi_e linear from phi_s = 0 to Phi = 0.02 across T: sigma_e 0.02 / T per unit area."""
    u = _unknowns()
    u.potentials[0].x.array[:] = 0.02
    sigma_e = 1e-6
    term = ElectronicLeakage({"sei": sigma_e})
    assert term.current(u) == approx(sigma_e * 0.02 / T)


def test_manufactured_sources() -> None:
    """A constant charge source f: -f times the cell's area; g on the Li: g W."""
    u = _unknowns()
    term = ManufacturedSources({"charge": lambda x: 5.0, "li_charge": lambda x: 7.0})
    assert _charge(term, u, _ones(u))[0] == approx(-5.0 * W * L + 7.0 * W)
    with pytest.raises(ValueError, match="unknown key"):
        ManufacturedSources({"heat": lambda x: 0.0})
