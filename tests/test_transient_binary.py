"""Binary electrolyte in a flat cell (1D physics) against exact and semi-analytic solutions.

Dilute LiX salt with D+ = 1e-10, D- = 1.5e-10 m^2/s, c_bulk = 1000 mol/m^3, so t+ = 0.4,
D = 2 D+ D- / (D+ + D-) = 1.2e-10 m^2/s, kappa = F^2 (D+ + D-) c / (R T) = 0.939 S/m;
L = 100 um: J_lim = F D c_bulk / ((1 - t+) L) = 192.97 A/m^2, tau = L^2 / D = 83.3 s.
Butler-Volmer at the Li surface with i0 = 10 A/m^2 (c_s/c_bulk)^0.5, alpha_a = alpha_c = 0.5.

The flat cell is a 2D strip (one cell across, ``ny`` in y): the exact solution is 1D in y.
References, derived from the Nernst-Planck equations with electroneutrality (not from the code's
flux laws), with g = (1 - t+) J / (F D), J the plating current density (> 0):

* steady, reservoir at y = L: c = c_bulk - g (L - y); with kappa = kappa_b c / c_b,
  Phi(0) = -[J c_b L ln(c_b/c_0) / (kappa_b (c_b - c_0)) + (2RT/F)(1 - t+) ln(c_b/c_0)],
  phi_s = Phi(0) + eta with -J = i_BV(eta; i0 (c_0/c_b)^alpha_a) (root found by brentq);
* transient, reservoir: c = c_b - g (L - y) + sum_n 2 g / (L l_n^2) cos(l_n y) exp(-D l_n^2 t),
  l_n = (n + 1/2) pi / L;
* transient, closed Li | Li cell: c = c_b + g (y - L/2)
  + sum_{n odd} 4 g L / (n pi)^2 cos(n pi y / L) exp(-D (n pi / L)^2 t), superposed over the
  switches of a piecewise-constant protocol;
* semi-infinite: c_s = c_b - 2 (1 - t+) J sqrt(t / (pi D)) / F, zero at Sand's time.
"""

import math
from types import SimpleNamespace

import solver  # noqa: F401  (MPI import order)

# isort: split
import numpy as np
import pytest
from mpi4py import MPI
from scipy.optimize import brentq

from solver.constants import FARADAY, GAS_CONSTANT
from solver.dimensionless import limiting_current, sand_time
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation, SimulationError

T = 298.15
f = FARADAY / (GAS_CONSTANT * T)
D_PLUS, D_MINUS, C_BULK = 1.0e-10, 1.5e-10, 1000.0
T_PLUS = D_PLUS / (D_PLUS + D_MINUS)
D = 2.0 * D_PLUS * D_MINUS / (D_PLUS + D_MINUS)
KAPPA = FARADAY**2 * (D_PLUS + D_MINUS) * C_BULK / (GAS_CONSTANT * T)
L, W = 1.0e-4, 1.0e-5
TAU = L * L / D
I0, ALPHA = 10.0, 0.5
J_LIM = limiting_current(D, C_BULK, T_PLUS, L)
# Depletion time against t_Sand (1 - f)^2 on 40 cells graded y ~ s^2 at the default time
# tolerances (rtol = atol = 1e-3): measured up to 0.23% (f = 1e-3) and 0.53% (P1, f = 1e-6; the
# error of the sqrt(t) boundary layer on P1); 3x the largest.
TOL_SAND = 0.015


# ----------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------
def steady_reservoir(J):
    """(c_0, Phi(0), eta, phi_s) of the steady reservoir cell at plating current density J."""
    c0 = C_BULK * (1.0 - J / J_LIM)
    log_ratio = math.log(C_BULK / c0)
    phi0 = -(
        J * C_BULK * L * log_ratio / (KAPPA * (C_BULK - c0))
        + 2.0 / f * (1.0 - T_PLUS) * log_ratio
    )
    i0 = I0 * (c0 / C_BULK) ** ALPHA
    eta = brentq(
        lambda e: i0 * (math.exp(ALPHA * f * e) - math.exp(-ALPHA * f * e)) + J,
        -5.0, 5.0, xtol=1e-15,
    )
    return c0, phi0, eta, phi0 + eta


def reservoir_series(y, t, J):
    g = (1.0 - T_PLUS) * J / (FARADAY * D)
    n = np.arange(4000)
    lam = (n + 0.5) * math.pi / L
    return C_BULK - g * (L - y) + np.sum(
        2.0 * g / (L * lam**2) * np.cos(lam * y) * np.exp(-D * lam**2 * t)
    )


def closed_series(y, t, switches):
    """Closed-cell c(y, t) for current steps [(t_k, dJ_k)] switched on at t_k."""
    n = np.arange(1, 8000, 2)
    c = C_BULK
    for t_k, dJ in switches:
        if t > t_k:
            g = (1.0 - T_PLUS) * dJ / (FARADAY * D)
            modes = 4.0 * g * L / (n * math.pi) ** 2 * np.cos(n * math.pi * y / L)
            c += g * (y - L / 2.0) + np.sum(modes * np.exp(-D * (n * math.pi / L) ** 2 * (t - t_k)))
    return c


def test_references_are_consistent():
    """The series agree with the semi-infinite solution at early times and end at the steady
    profile (checks the references themselves)."""
    J = 0.5 * J_LIM
    t = 1e-4 * TAU  # diffusion length 0.01 L: both cells are semi-infinite to erfc(50)
    semi_infinite = C_BULK - 2 * (1 - T_PLUS) * J * math.sqrt(t / (math.pi * D)) / FARADAY
    assert reservoir_series(0.0, t, J) == pytest.approx(semi_infinite, rel=1e-9)
    assert closed_series(0.0, t, [(0.0, J)]) == pytest.approx(semi_infinite, rel=1e-9)
    assert reservoir_series(0.0, 50 * TAU, J) == pytest.approx(steady_reservoir(J)[0], rel=1e-12)
    g = (1.0 - T_PLUS) * J / (FARADAY * D)
    assert closed_series(0.0, 50 * TAU, [(0.0, J)]) == pytest.approx(C_BULK - g * L / 2, rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------
def make_case(control, time=None, counter="reservoir", interphase=None, degree=2):
    physics = PhysicsConfig(
        temperature=T,
        electrolyte={
            "type": "dilute",
            "bulk_concentration": C_BULK,
            "cation_diffusivity": D_PLUS,
            "anion_diffusivity": D_MINUS,
        },
        interphase=interphase or {},
        kinetics={"exchange_current_density": I0, "alpha_a": ALPHA, "alpha_c": ALPHA},
        counter={"type": counter},
        control=control,
    )
    return SimpleNamespace(
        physics=physics, time=time or TimeConfig(), numerics=NumericsConfig(degree=degree)
    )


def strip(flat_cell_bundle, ny, height=L, width=W, grading=1.0, comm=MPI.COMM_WORLD, **kw):
    """Flat cell with ny cells in y, optionally graded towards the Li surface: y = L s^grading."""
    bundle = flat_cell_bundle(comm, width, height, (1, ny), **kw)
    y = bundle.mesh.geometry.x[:, 1]
    y[:] = height * (y / height) ** grading
    return bundle


def run(bundle, case, comm=MPI.COMM_WORLD):
    simulation = Simulation(bundle, case, comm)
    return simulation, list(simulation.run())


def surface_c(snapshot, comm=MPI.COMM_WORLD):
    """Weighted mean of the surface concentration (the strip has a uniform exact c_s)."""
    s = snapshot.surface
    num = comm.allreduce(float(np.sum(s.weight * s.c_surface)), op=MPI.SUM)
    return num / comm.allreduce(float(np.sum(s.weight)), op=MPI.SUM)


# ----------------------------------------------------------------------------------------------
# Steady state and limiting current
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    # tolerances: measured relative errors of phi_s on P2, ny = 20 were 1.8e-9 (J/J_lim = 0.5)
    # and 5.7e-6 (0.9, where Phi varies like ln c over a 10x concentration range); c at the
    # surface 1.8e-8 and 1.1e-5 of c_bulk. Limits are ~5x the measured values.
    ("fraction", "tol_phi", "tol_c"),
    [(0.5, 1e-8, 1e-7), (0.9, 3e-5, 5e-5)],
)
def test_steady_linear_profile_and_cell_potential(flat_cell_bundle, fraction, tol_phi, tol_c):
    J = fraction * J_LIM
    c0, _, eta, phi_s = steady_reservoir(J)
    simulation, (snap,) = run(
        strip(flat_cell_bundle, 20), make_case({"current_density": J})
    )
    c = snap.fields["concentration"]
    y = c.function_space.tabulate_dof_coordinates()[:, 1]
    c_exact = C_BULK - (1.0 - T_PLUS) * J * (L - y) / (FARADAY * D)
    error_c = MPI.COMM_WORLD.allreduce(float(np.max(np.abs(c.x.array - c_exact))), op=MPI.MAX)
    assert error_c < tol_c * C_BULK
    assert surface_c(snap) == pytest.approx(c0, abs=tol_c * C_BULK)
    assert snap.scalars["cell_voltage"] == pytest.approx(phi_s, rel=tol_phi)
    assert snap.scalars["overpotential_mean"] == pytest.approx(eta, rel=tol_phi)
    assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-10)  # galvanostatic constraint
    assert snap.dimensionless["i_over_ilim"] == pytest.approx(fraction, rel=1e-12)


def test_potentiostatic_near_limiting_current(flat_cell_bundle):
    """phi_s of the exact J = 0.99 J_lim: the current matches (measured 1.9e-6 relative)."""
    J = 0.99 * J_LIM
    phi_s = steady_reservoir(J)[3]
    _, (snap,) = run(
        strip(flat_cell_bundle, 20, grading=2.0),
        make_case({"mode": "potentiostatic", "potential": phi_s}),
    )
    assert snap.scalars["current_mean"] == pytest.approx(J, rel=2e-5)


def deep_limiting_run(flat_cell_bundle):
    """Steady potentiostatic run at phi_s = -2 V, far beyond the limiting current."""
    return run(
        strip(flat_cell_bundle, 20, grading=2.0),
        make_case({"mode": "potentiostatic", "potential": -2.0}),
    )


def test_no_unphysical_state_beyond_limiting_current(flat_cell_bundle):
    """Far beyond the limiting current the solver either refuses (SimulationError) or returns a
    physical state: c_s >= 0 and J <= J_lim. (A negative-concentration branch with J = 1.74 J_lim
    once converged here.)"""
    try:
        _, (snap,) = deep_limiting_run(flat_cell_bundle)
    except SimulationError:
        return
    assert snap.scalars["min_surface_concentration"] >= 0.0
    assert snap.scalars["current_mean"] <= J_LIM * (1.0 + 1e-6)


def test_limiting_current_saturates(flat_cell_bundle):
    """Exact: J = J_lim (1 - 4e-11) with c_s -> 0+ at phi_s = -2 V."""
    _, (snap,) = deep_limiting_run(flat_cell_bundle)
    assert snap.scalars["min_surface_concentration"] >= 0.0
    assert snap.scalars["current_mean"] == pytest.approx(J_LIM, rel=1e-3)


# ----------------------------------------------------------------------------------------------
# Transients
# ----------------------------------------------------------------------------------------------
def test_reservoir_transient_follows_series_to_steady_state(flat_cell_bundle):
    """Galvanostatic start from c_bulk: c_s(t) against the series, adaptive BDF2.

    Tolerance 2e-3 c_bulk: the measured errors (3e-4 .. 9e-4 c_bulk with rtol = 1e-4) are time
    errors (P2 with ny = 20 is ~1e-7 accurate in space), accumulated from the sqrt(t) start.
    """
    J = 0.5 * J_LIM
    time = TimeConfig(
        mode="transient", t_end=3.0 * TAU, dt=1e-5 * TAU, rtol=1e-4, atol=1e-4 * C_BULK,
        output_times=[0.05 * TAU, 0.2 * TAU, TAU],
    )
    _, snaps = run(strip(flat_cell_bundle, 20), make_case({"current_density": J}, time))
    assert [s.t for s in snaps] == pytest.approx([0.05 * TAU, 0.2 * TAU, TAU, 3.0 * TAU])
    for snap in snaps:
        assert surface_c(snap) == pytest.approx(reservoir_series(0.0, snap.t, J), abs=2e-3 * C_BULK)
        assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-10)
    # at 3 tau the slowest mode has decayed to 1.6e-4 of gL: the steady value of c_s
    assert surface_c(snaps[-1]) == pytest.approx(steady_reservoir(J)[0], abs=2e-3 * C_BULK)


def test_sand_time(flat_cell_bundle):
    """Depletion time of a cell long enough to be semi-infinite until t_Sand: within 2%.

    L = 10 sqrt(D t_Sand), so c(L) stays c_bulk to erfc(5) ~ 1e-12. The event fires when
    c_s < 1e-3 c_bulk, i.e. at t = t_Sand (1 - 1e-3)^2 exactly; measured 0.5% early
    (spatial/temporal error of c_s at P2, 40 cells graded y ~ s^2, rtol = 1e-3).
    """
    J = 100.0
    t_sand = sand_time(D, C_BULK, J, T_PLUS)
    assert t_sand == pytest.approx(243.72, rel=1e-4)
    height = 10.0 * math.sqrt(D * t_sand)
    time = TimeConfig(
        mode="transient", t_end=1.5 * t_sand, dt=1e-6 * t_sand, rtol=1e-3, atol=1e-3 * C_BULK,
        output_times=[0.25 * t_sand, 0.5 * t_sand],
    )
    bundle = strip(flat_cell_bundle, 40, height=height, width=height / 20, grading=2.0)
    simulation, snaps = run(bundle, make_case({"current_density": J}, time))
    assert simulation.depletion_time == pytest.approx(t_sand * (1 - 1e-3) ** 2, rel=0.02)
    assert any("depletion" in e for e in snaps[-1].events)
    assert snaps[-1].t < 1.5 * t_sand  # the run stopped at the event (on_depletion: stop)
    for snap in snaps[:2]:
        semi_infinite = C_BULK - 2 * (1 - T_PLUS) * J * math.sqrt(snap.t / (math.pi * D)) / FARADAY
        assert surface_c(snap) == pytest.approx(semi_infinite, abs=5e-3 * C_BULK)
        # the solver derives D and t+ from (D+, D-) itself: agreement to round-off (1e-11)
        assert snap.dimensionless["t_over_sand"] == pytest.approx(snap.t / t_sand, rel=1e-9)


PULSES = [
    {"kind": "pulse", "duration": 0.2 * TAU, "value": 0.4 * 2 * J_LIM},
    {"kind": "reverse_pulse", "duration": 0.1 * TAU, "value": 0.4 * 2 * J_LIM},
    {"kind": "rest", "duration": 0.2 * TAU},
]


def pulse_switches(cycles):
    """(t_k, dJ_k) of the PULSES protocol for the superposition of step responses."""
    switches, t, previous = [], 0.0, 0.0
    for _ in range(cycles):
        for step in PULSES:
            value = {"pulse": 1.0, "reverse_pulse": -1.0, "rest": 0.0}[step["kind"]]
            value *= step.get("value", 0.0)
            switches.append((t, value - previous))
            t, previous = t + step["duration"], value
    return switches


def test_closed_cell_conservation_under_pulses(flat_cell_bundle):
    """Li | Li cell, pulse / reverse pulse / rest, two cycles.

    * anion (salt) inventory conserved to solver tolerance (measured 2e-14 relative);
    * total Faradaic current = applied current, and the counter current equals it, so the
      cation inventory change, (charge in at the counter - charge out at the Li)/F, is zero
      as the conserved salt inventory requires (electroneutrality: c+ = c- = c);
    * c_s(t) against the closed-cell series within 2e-3 c_bulk (measured 7.8e-4; time error).
    """
    time = TimeConfig(
        mode="transient", t_end=TAU, dt=1e-4 * TAU, rtol=1e-4, atol=1e-4 * C_BULK,
        output_times=[0.1 * TAU, 0.3 * TAU, 0.4 * TAU, 0.65 * TAU, 0.9 * TAU],
    )
    case = make_case({"protocol": PULSES, "cycles": 2}, time, counter="li_electrode")
    simulation, snaps = run(strip(flat_cell_bundle, 20), case)
    protocol = simulation._protocol()
    inventory0 = C_BULK * W * L
    switches = pulse_switches(2)
    for snap in snaps:
        scalars = snap.scalars
        assert scalars["salt_inventory"] == pytest.approx(inventory0, rel=1e-12)
        applied = protocol.value(snap.t)
        assert scalars["current_mean"] == pytest.approx(applied, abs=1e-9 * J_LIM)
        counter = scalars["counter_current"]
        assert counter == pytest.approx(scalars["current_mean"], abs=1e-9 * J_LIM)
        exact = closed_series(0.0, snap.t, switches)
        assert surface_c(snap) == pytest.approx(exact, abs=2e-3 * C_BULK)
    assert {protocol.value(s.t) for s in snaps} == {0.8 * J_LIM, -0.8 * J_LIM, 0.0}


def test_no_spurious_current_at_rest_across_interphase(flat_cell_bundle):
    """Thermodynamic consistency: zero current with a salt gradient against the interphase.

    A pulse polarises a Li | SEI | electrolyte | Li cell; during the rest that follows, the
    salt concentration at the SEI | electrolyte boundary differs from c_bulk (and the SEI has
    its own fixed Li+ concentration), yet no current may flow anywhere. On quadrilaterals the
    1D solution is representable, so the local current must vanish to solver tolerance (measured
    exactly 0): |j| < 1e-10 J at every surface quadrature point, and Phi is uniform across the
    SEI (no ohmic drop) to 1e-10 V.
    """
    J = 0.8 * J_LIM
    protocol = [{"kind": "pulse", "duration": 0.2 * TAU, "value": J},
                {"kind": "rest", "duration": 0.3 * TAU}]
    time = TimeConfig(
        mode="transient", t_end=0.5 * TAU, dt=1e-4 * TAU, rtol=1e-3, atol=1e-3 * C_BULK,
        output_times=[0.2 * TAU, 0.3 * TAU],
    )
    case = make_case(
        {"protocol": protocol}, time, counter="li_electrode",
        interphase={"sei": {"conductivity": 1e-5}},
    )
    bundle = strip(flat_cell_bundle, 20, layer=("sei", 20e-9, 2), cell="quadrilateral")
    _, snaps = run(bundle, case)
    pulse, *rest = snaps
    assert np.abs(pulse.surface.j).min() == pytest.approx(J, rel=1e-8)  # polarised at 0.2 tau
    for snap in rest:
        c = snap.fields["concentration"]
        spread = MPI.COMM_WORLD.allreduce(float(np.ptp(c.x.array)), op=MPI.MAX)
        assert spread > 0.01 * C_BULK  # a real concentration gradient is present
        j_max = MPI.COMM_WORLD.allreduce(float(np.max(np.abs(snap.surface.j))), op=MPI.MAX)
        assert j_max < 1e-10 * J
        phi = snap.fields["potential"]
        y = phi.function_space.tabulate_dof_coordinates()[:, 1]
        in_sei = phi.x.array[y <= 20e-9 * (1 + 1e-9)]
        drop = MPI.COMM_WORLD.allreduce(float(np.ptp(in_sei)) if in_sei.size else 0.0, op=MPI.MAX)
        assert drop < 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("scheme, order", [("bdf1", 1), ("bdf2", 2)])
def test_fixed_step_convergence_rate_through_simulation(flat_cell_bundle, scheme, order):
    """c_s(t = 0.5 tau) with n = 10, 20, 40, 80 fixed steps: observed order from successive
    differences |u_n - u_2n| (measured 1.01 and 2.02; no reference solution needed)."""
    values = []
    for n in (10, 20, 40, 80):
        time = TimeConfig(
            mode="transient", scheme=scheme, adaptivity="none", t_end=0.5 * TAU, dt=0.5 * TAU / n
        )
        case = make_case({"current_density": 0.5 * J_LIM}, time)
        _, snaps = run(strip(flat_cell_bundle, 6), case)
        values.append(surface_c(snaps[-1]))
    differences = np.abs(np.diff(values))
    rates = np.log2(differences[:-1] / differences[1:])
    assert rates[-1] == pytest.approx(order, abs=0.15), (values, rates)


@pytest.mark.mpi
def test_transient_parallel_equals_serial(flat_cell_bundle):
    """Adaptive BDF2 on COMM_WORLD and COMM_SELF: same steps and c_s to 1e-8 relative."""
    J = 0.5 * J_LIM
    time = TimeConfig(mode="transient", t_end=0.5 * TAU, dt=1e-4 * TAU, rtol=1e-3, atol=1.0)
    results = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        simulation, snaps = run(
            strip(flat_cell_bundle, 16, comm=comm), make_case({"current_density": J}, time), comm
        )
        results.append((surface_c(snaps[-1], comm), snaps[-1].scalars["salt_inventory"]))
    (c_world, m_world), (c_self, m_self) = results
    assert c_world == pytest.approx(c_self, rel=1e-8)
    assert m_world == pytest.approx(m_self, rel=1e-8)


def test_failure_hands_out_the_last_good_state(flat_cell_bundle):
    """At Sand's time with J = 9 J_lim the steps fail (no c >= 0 state carries J): the run
    yields the last good state as a final snapshot, then raises naming its time (measured: the
    failure at 0.996 t_Sand on this 20-cell mesh)."""
    J = 100.0
    t_sand = sand_time(D, C_BULK, J, T_PLUS)
    height = 10.0 * math.sqrt(D * t_sand)
    time = TimeConfig(
        mode="transient", t_end=3.0 * t_sand, dt=1e-3 * t_sand, rtol=1e-3, atol=1e-3 * C_BULK,
        max_retries=4, output_times=[0.5 * t_sand],
    )
    case = make_case({"current_density": J}, time)
    case.physics = case.physics.model_copy(
        update={"events": case.physics.events.model_copy(update={"on_depletion": "continue"})}
    )
    bundle = strip(flat_cell_bundle, 20, height=height, width=height / 20, grading=2.0)
    snaps = []
    with pytest.raises(SimulationError, match="the last good state is t = ") as info:
        for snap in Simulation(bundle, case, MPI.COMM_WORLD).run():
            snaps.append(snap)
    last = snaps[-1]
    assert [s.t for s in snaps[:-1]] == [pytest.approx(0.5 * t_sand)]
    assert last.t == pytest.approx(t_sand, rel=0.02)
    assert f"t = {last.t:.6g} s" in str(info.value)
    assert any(e.startswith("solver failure") for e in last.events)
    assert last.scalars["min_surface_concentration"] >= 0.0


# ----------------------------------------------------------------------------------------------
# Depletion as an event (ln c as the salt unknown in transient runs)
# ----------------------------------------------------------------------------------------------
def sand_cell(flat_cell_bundle, J, coordinates, ny=40):
    """A flat cell long enough to be semi-infinite until Sand's time: L = 10 sqrt(D t_Sand)."""
    t_sand = sand_time(D, C_BULK, J, T_PLUS)
    height = 10.0 * math.sqrt(D * t_sand)
    bundle = strip(
        flat_cell_bundle, ny, height=height, width=height / 20, grading=2.0,
        coordinates=coordinates,
    )
    return bundle, t_sand


def with_events(case, **events):
    case.physics = case.physics.model_copy(
        update={"events": case.physics.events.model_copy(update=events)}
    )
    return case


@pytest.mark.parametrize("fraction", [1e-3, 1e-6])
@pytest.mark.parametrize("coordinates", ["cartesian", "axisymmetric"])
@pytest.mark.parametrize("degree", [1, 2])
def test_depletion_event_at_default_time_settings(flat_cell_bundle, degree, coordinates, fraction):
    """J = 9 J_lim with the default time settings (dt = t_end/100, rtol = atol = 1e-3) and
    on_depletion 'stop': the event fires at t_Sand (1 - f)^2 (f: depletion_fraction; the default
    1e-3, and 1e-6, where the steps with c as the unknown failed at t = 0.998 t_Sand on negative
    nodal values without an event) and the run stops there with 0 <= c_s < f c_bulk."""
    J = 100.0
    bundle, t_sand = sand_cell(flat_cell_bundle, J, coordinates)
    case = make_case(
        {"current_density": J}, TimeConfig(mode="transient", t_end=1.5 * t_sand), degree=degree
    )
    simulation, snaps = run(bundle, with_events(case, depletion_fraction=fraction))
    assert simulation.log_c  # auto: ln c in transient runs
    expected = t_sand * (1 - fraction) ** 2
    assert simulation.depletion_time == pytest.approx(expected, rel=TOL_SAND)
    last = snaps[-1]
    assert any(e.startswith("depletion at t=") for e in last.events)
    assert simulation.depletion_time <= last.t < 1.5 * t_sand
    assert 0.0 <= last.scalars["min_surface_concentration"] < fraction * C_BULK


@pytest.mark.parametrize("coordinates", ["cartesian", "axisymmetric"])
@pytest.mark.parametrize("degree", [1, 2])
def test_depletion_event_then_continue(flat_cell_bundle, degree, coordinates):
    """on_depletion 'continue': a 9 J_lim pulse to 0.9 t_Sand, then rest to 1.5 t_Sand, with
    depletion_fraction 0.1. The event fires at t_Sand (1 - 0.1)^2 (semi-infinite, exact) and the
    run goes on to t_end, where the rest has let c_s recover above the threshold."""
    J = 100.0
    bundle, t_sand = sand_cell(flat_cell_bundle, J, coordinates)
    protocol = [
        {"kind": "pulse", "duration": 0.9 * t_sand, "value": J},
        {"kind": "rest", "duration": 0.6 * t_sand},
    ]
    case = make_case(
        {"protocol": protocol}, TimeConfig(mode="transient", t_end=1.5 * t_sand), degree=degree
    )
    simulation, snaps = run(
        bundle, with_events(case, depletion_fraction=0.1, on_depletion="continue")
    )
    assert simulation.depletion_time == pytest.approx(t_sand * 0.9**2, rel=TOL_SAND)
    assert snaps[-1].t == pytest.approx(1.5 * t_sand, rel=1e-12)
    assert any(e.startswith("depletion at t=") for e in snaps[-1].events)
    assert surface_c(snaps[-1]) > 0.1 * C_BULK


def test_both_salt_variables_follow_the_series(flat_cell_bundle):
    """Reservoir cell at 0.5 J_lim to 0.5 tau with c and with ln c as the unknown (P2, 20 cells,
    BDF2, rtol = 1e-4): c_s against the series within 2e-3 c_bulk, as in the test above (measured
    3.3e-4 and 4.6e-4 for both: time error), and the two variables agree within 1e-6 c_bulk
    (measured 1.5e-8: the spatial error, the same steps are taken)."""
    J = 0.5 * J_LIM
    time = TimeConfig(
        mode="transient", t_end=0.5 * TAU, dt=1e-5 * TAU, rtol=1e-4, atol=1e-4 * C_BULK,
        output_times=[0.05 * TAU],
    )
    values = {}
    for variable in ("c", "log_c"):
        case = make_case({"current_density": J}, time)
        case.numerics = case.numerics.model_copy(update={"concentration_variable": variable})
        simulation, snaps = run(strip(flat_cell_bundle, 20), case)
        assert simulation.log_c == (variable == "log_c")
        assert [s.t for s in snaps] == pytest.approx([0.05 * TAU, 0.5 * TAU])
        values[variable] = [surface_c(s) for s in snaps]
        for snap, c_s in zip(snaps, values[variable], strict=True):
            assert c_s == pytest.approx(reservoir_series(0.0, snap.t, J), abs=2e-3 * C_BULK)
    assert values["log_c"] == pytest.approx(values["c"], abs=1e-6 * C_BULK)
