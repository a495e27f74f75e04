"""Variable-step BDF, adaptive step control and protocols (solver/timestepping.py).

The ODE tests drive the real BDF class (dolfinx Constants and history Functions) on a one-cell
DG0 space, where the implicit step of u' = -lam (u - g) is solved in closed form from the
coefficient values, so every test isolates the time discretisation.
"""

import math

import solver  # noqa: F401  (MPI import order)

# isort: split
import dolfinx
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from solver import model_spec
from solver.timestepping import (
    BDF,
    Protocol,
    ProtocolStep,
    SolverDivergence,
    StepController,
    bdf_coefficients,
    bdf_error_factor,
)


@pytest.fixture(scope="module")
def scalar_space():
    mesh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 1)
    return mesh, dolfinx.fem.functionspace(mesh, ("DG", 0))


def make_bdf(scalar_space, order, u0, t0=0.0):
    mesh, V = scalar_space
    u = dolfinx.fem.Function(V, name="u")
    u.x.array[:] = u0
    return u, BDF(mesh, [u], order=order, t0=t0)


def implicit_step(bdf, u, lam, g):
    """Solve a0 u + a1 u_n + a2 u_{n-1} = -lam (u - g) for u (one DOF)."""
    rhs = -bdf.a1.value * bdf.history(u, 0).x.array
    if bdf.order == 2:
        rhs -= bdf.a2.value * bdf.history(u, 1).x.array
    u.x.array[:] = (rhs + lam * g) / (bdf.a0.value + lam)


def variable_steps(n, t_end):
    """n steps alternating in size by 1.6x under a smooth envelope (a refinable sequence)."""
    k = np.arange(n)
    w = (1.0 + 0.5 * np.sin(2.0 * np.pi * (k + 0.5) / n)) * np.where(k % 2 == 1, 1.6, 1.0)
    return t_end * w / w.sum()


@pytest.mark.parametrize("order", [1, 2])
def test_coefficients_exact_on_polynomials(order):
    rng = np.random.default_rng(1)
    for _ in range(20):
        dt, dt_prev = rng.uniform(0.1, 3.0, size=2)
        a = bdf_coefficients(order, dt, dt_prev)
        t_new, t_n, t_nm1 = 0.7, 0.7 - dt, 0.7 - dt - dt_prev
        for degree in range(order + 1):
            exact = degree * t_new ** (degree - 1) if degree else 0.0
            approx = a[0] * t_new**degree + a[1] * t_n**degree + a[2] * t_nm1**degree
            # exact up to round-off of coefficients ~ 1/dt
            assert approx == pytest.approx(exact, abs=1e-12 * (1 + abs(a[0])))
    with pytest.raises(ValueError, match="order"):
        bdf_coefficients(3, 1.0, 1.0)
    with pytest.raises(ValueError, match="dt_prev"):
        bdf_coefficients(2, 1.0)


def test_milne_factor_constant_steps():
    # classical values: 1/3 (BDF1 with a linear predictor), 2/11 (BDF2, quadratic predictor)
    assert bdf_error_factor(1, 1.0, [0.9, 0.8]) == pytest.approx(1 / 3, rel=1e-12)
    assert bdf_error_factor(2, 1.0, [0.9, 0.8, 0.7]) == pytest.approx(2 / 11, rel=1e-12)


def test_ddt_form_exact_for_quadratic_in_time():
    """Assemble the UFL ddt on a 2D mesh: exact for u = (1 + x) p(t), p quadratic, BDF2."""
    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 4, 4)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    u = dolfinx.fem.Function(V)

    def p(t):
        return 2.0 + 3.0 * t - 5.0 * t**2

    def set_u(t):
        u.interpolate(lambda x: (1.0 + x[0]) * p(t))

    set_u(0.0)
    bdf = BDF(mesh, [u], order=2)
    form = dolfinx.fem.form(bdf.ddt(u) * ufl.dx)
    t = 0.0
    for dt in (0.1, 0.25, 0.05):  # first step BDF1 (exact for linear only), then BDF2
        bdf.set_step(dt)
        set_u(t + dt)
        value = mesh.comm.allreduce(dolfinx.fem.assemble_scalar(form), op=MPI.SUM)
        if bdf.step_order == 2:
            assert value == pytest.approx(1.5 * (3.0 - 10.0 * (t + dt)), rel=1e-12)
        else:
            assert value == pytest.approx(1.5 * (p(t + dt) - p(t)) / dt, rel=1e-12)
        bdf.accept()
        t += dt
    assert bdf.t == pytest.approx(t)


@pytest.mark.parametrize("order", [1, 2])
def test_convergence_rate_decay(scalar_space, order):
    """u' = -lam u on variable steps: global error at t = 1 converges with rate = order."""
    lam, t_end = 2.0, 1.0
    errors = []
    for n in (20, 40, 80, 160):
        u, bdf = make_bdf(scalar_space, order, 1.0)
        for dt in variable_steps(n, t_end):
            bdf.set_step(dt)
            implicit_step(bdf, u, lam, 0.0)
            bdf.accept()
        errors.append(abs(u.x.array[0] - math.exp(-lam * t_end)))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # the BDF1 start of BDF2 contributes O(dt^2) locally, so the global rate stays 2
    assert rates[-1] == pytest.approx(order, abs=0.1), rates


@pytest.mark.parametrize("order", [1, 2])
def test_error_estimate_matches_local_error(scalar_space, order):
    """Milne estimate vs the true local error of one step from exact history (ratio -> 1)."""
    lam = 3.0
    ratios = []
    for h in (0.02, 0.01, 0.005):
        times = [0.0, 0.6 * h, 1.9 * h, 2.6 * h]  # uneven history, newest last
        u, bdf = make_bdf(scalar_space, order, 1.0)
        for t_prev, t_next in zip(times[:-2], times[1:-1], strict=True):
            bdf.set_step(t_next - t_prev)
            u.x.array[:] = math.exp(-lam * t_next)  # exact history values
            bdf.accept()
        dt = times[-1] - times[-2]
        bdf.set_step(dt)
        implicit_step(bdf, u, lam, 0.0)
        estimate = bdf.error_estimate(rtol=0.0, atol=1.0)
        true_error = abs(u.x.array[0] - math.exp(-lam * times[-1]))
        ratios.append(estimate / true_error)
    # leading-order estimate: the ratio error is O(h), below 5% at the finest h
    assert abs(ratios[-1] - 1.0) < 0.05, ratios
    assert abs(ratios[-1] - 1.0) < abs(ratios[0] - 1.0)


def test_predict_restore_and_no_estimate_at_start(scalar_space):
    u, bdf = make_bdf(scalar_space, 2, 1.0)
    bdf.set_step(0.1)
    assert bdf.step_order == 1
    u.x.array[:] = 2.0
    assert bdf.error_estimate(1e-3, 1e-3) is None  # only one history level yet
    bdf.restore()
    assert u.x.array[0] == 1.0
    u.x.array[:] = 1.5
    bdf.accept()
    bdf.set_step(0.2)
    bdf.predict()  # linear extrapolation through (0, 1) and (0.1, 1.5) to t = 0.3
    assert u.x.array[0] == pytest.approx(2.5, rel=1e-12)
    bdf.restart()
    bdf.set_step(0.2)
    assert bdf.step_order == 1


def test_controller_lands_on_outputs_and_breakpoints():
    ctrl = StepController(
        t_end=1.0, dt0=0.07, mode="none", output_times=[0.25, 0.5], breakpoints=[0.3]
    )
    outputs, restarts = [], []
    while not ctrl.finished:
        dt = ctrl.propose()
        assert dt > 0.0
        assert ctrl.accept(dt, iterations=2)
        if ctrl.at_output:
            outputs.append(ctrl.t)
        if ctrl.restart_history:
            restarts.append(ctrl.t)
    assert outputs == [0.25, 0.5, 1.0]  # exactly, not to round-off
    assert restarts == [0.3]


def test_controller_iteration_mode_and_divergence():
    ctrl = StepController(t_end=10.0, dt0=0.1, mode="iterations", growth_max=1.5, max_retries=2)
    dt = ctrl.propose()
    ctrl.accept(dt, iterations=2)
    assert ctrl.propose() == pytest.approx(0.15)
    ctrl.accept(ctrl.propose(), iterations=9)
    assert ctrl.propose() == pytest.approx(0.075)
    ctrl.reject("DIVERGED_LINE_SEARCH")
    assert ctrl.propose() == pytest.approx(0.0375)
    ctrl.reject("DIVERGED_LINE_SEARCH")
    assert ctrl.propose() == pytest.approx(0.01875)
    with pytest.raises(SolverDivergence) as info:
        ctrl.reject("DIVERGED_LINE_SEARCH")
    err = info.value
    assert err.t == pytest.approx(0.25) and err.dt == pytest.approx(0.01875)
    assert "DIVERGED_LINE_SEARCH" in str(err) and "2 retries" in str(err)


def test_controller_dt_min_stops_retries():
    ctrl = StepController(t_end=1.0, dt0=1e-3, dt_min=4e-4, mode="none", max_retries=10)
    ctrl.propose()
    ctrl.reject("diverged")  # 5e-4 >= dt_min
    ctrl.propose()
    with pytest.raises(SolverDivergence, match="dt_min"):
        ctrl.reject("diverged")


def integrate_adaptive(scalar_space, order, rtol, protocol, t_end, lam):
    """u' = -lam (u - g(t)), g from a protocol; returns (u(t_end), controller)."""
    u, bdf = make_bdf(scalar_space, order, 0.0)
    ctrl = StepController(
        t_end=t_end, dt0=1e-3, order=order, mode="error",
        breakpoints=protocol.breakpoints(t_end),
    )
    while not ctrl.finished:
        dt = ctrl.propose()
        bdf.set_step(dt)
        bdf.predict()
        implicit_step(bdf, u, lam, protocol.value(ctrl.t + dt))
        error = bdf.error_estimate(rtol=rtol, atol=rtol)
        if not ctrl.accept(dt, iterations=1, error=error):
            bdf.restore()
            continue
        bdf.accept()
        if ctrl.restart_history:
            bdf.restart()
    return u.x.array[0], ctrl


def exact_relaxation(protocol, t_end, lam):
    """Exact u(t_end) for u' = -lam (u - g), u(0) = 0, g piecewise constant."""
    u, t = 0.0, 0.0
    for step in protocol.steps:
        t_next = min(t + step.duration, t_end)
        u = step.applied + (u - step.applied) * math.exp(-lam * (t_next - t))
        t = t_next
    return u


@pytest.mark.parametrize("order", [1, 2])
def test_adaptive_error_control_converges_with_tolerance(scalar_space, order):
    protocol = Protocol(
        [ProtocolStep("pulse", 0.3, 1.0), ProtocolStep("reverse_pulse", 0.2, 1.0),
         ProtocolStep("rest", 0.5)],
        cycles=2,
    )
    t_end, lam = 2.0, 5.0
    exact = exact_relaxation(protocol, t_end, lam)
    errors, steps = [], []
    for rtol in (1e-3, 1e-5):
        value, ctrl = integrate_adaptive(scalar_space, order, rtol, protocol, t_end, lam)
        errors.append(abs(value - exact))
        steps.append(ctrl.n_accepted)
    # Error-per-step control: global error ~ C tol^(k/(k+1)) (measured: BDF1 4.2e-3 -> 5.1e-4,
    # BDF2 2.2e-3 -> 1.3e-4 for rtol 1e-3 -> 1e-5), steps ~ tol^(-1/(k+1)).
    assert errors[0] < 10 * 1e-3, errors
    assert errors[1] < errors[0] / (0.5 * 100 ** (order / (order + 1))), errors
    assert steps[1] > steps[0] * 0.4 * 100 ** (1 / (order + 1)), steps


def test_protocol_values_and_breakpoints():
    protocol = Protocol(
        [ProtocolStep("pulse", 1.0, 10.0), ProtocolStep("reverse_pulse", 0.5, 10.0),
         ProtocolStep("rest", 2.0)],
        cycles=2,
    )
    assert protocol.duration == pytest.approx(7.0)
    assert protocol.value(0.0) == 10.0
    assert protocol.value(1.0) == 10.0  # left-continuous: the step ending at 1 s
    assert protocol.value(1.0 + 1e-9) == -10.0
    assert protocol.value(2.0) == 0.0
    assert protocol.value(4.2) == 10.0 and protocol.value(4.7) == -10.0  # 2nd cycle
    assert protocol.value(100.0) == 0.0  # last value holds
    assert protocol.breakpoints(5.0) == pytest.approx([1.0, 1.5, 3.5, 4.5])
    assert Protocol.constant(3.0).value(1e9) == 3.0
    assert Protocol.constant(3.0).breakpoints(1e9) == []
    with pytest.raises(ValueError, match="rest"):
        ProtocolStep("rest", 1.0, 2.0)
    with pytest.raises(ValueError, match="kind"):
        ProtocolStep("ramp", 1.0, 2.0)
    with pytest.raises(ValueError, match="duration"):
        ProtocolStep("pulse", 0.0, 2.0)


def test_protocol_steps_are_the_validated_config_steps():
    """One ProtocolStep class: the config's steps (values with units, in SI after validation)
    are what the Protocol steps through; positional and keyword construction agree."""
    assert ProtocolStep is model_spec.ProtocolStep
    control = model_spec.ControlConfig.model_validate({
        "mode": "galvanostatic", "cycles": 2,
        "protocol": [{"kind": "pulse", "duration": "2 s", "value": "2 mA/cm^2"},
                     {"kind": "reverse_pulse", "duration": "500 ms", "value": 5.0},
                     {"kind": "rest", "duration": 1.5}]})
    protocol = Protocol(control.protocol, control.cycles)
    assert protocol.steps[0] is control.protocol[0]
    assert [protocol.value(t) for t in (1.0, 2.4, 3.0, 5.0)] == [20.0, -5.0, 0.0, 20.0]
    assert protocol.breakpoints(10.0) == pytest.approx([2.0, 2.5, 4.0, 6.0, 6.5])
    assert ProtocolStep("pulse", 2.0, 20.0) == control.protocol[0]
    assert ProtocolStep(kind="pulse", duration=2.0, value=20.0) == control.protocol[0]
    potentiostatic = model_spec.ControlConfig.model_validate(
        {"mode": "potentiostatic", "protocol": [{"duration": 1.0, "value": "-20 mV"}]})
    assert potentiostatic.protocol[0].applied == pytest.approx(-0.02, rel=1e-15)
    with pytest.raises(TypeError, match="kind, duration and value"):
        ProtocolStep("pulse", 1.0, 2.0, 3.0)
