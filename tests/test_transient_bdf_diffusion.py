"""Temporal convergence of BDF1/BDF2 in a finite-element diffusion residual.

Heat equation u_t = D u_xx + f on (0, 1) with the exact solution u = (1 + x^2) p(t),
p(t) = exp(-t) + sin(3 t) / 2. The solution is quadratic in x, so P2 elements represent it
exactly and the semi-discrete (method-of-lines) solution equals the exact one: every error
measured here is the time-discretisation error. The residual uses ``BDF.ddt`` exactly as the
salt balance in ``solver/problem.py`` does (Constants updated in place, one compiled form),
with a time-dependent source and Neumann flux evaluated at t_{n+1}.
"""

import math

import solver  # noqa: F401  (MPI import order)

# isort: split
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import pytest
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from solver.timestepping import BDF, StepController

D = 1.0
T_END = 1.0


def p(t):
    return math.exp(-t) + 0.5 * math.sin(3.0 * t)


def dp(t):
    return -math.exp(-t) + 1.5 * math.cos(3.0 * t)


class HeatProblem:
    """u_t - D u_xx = f with the BDF time derivative; exact u = (1 + x^2) p(t)."""

    def __init__(self, order):
        mesh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 6)
        V = dolfinx.fem.functionspace(mesh, ("Lagrange", 2))
        self.u = dolfinx.fem.Function(V, name="u")
        self.exact = dolfinx.fem.Function(V)
        self.set_exact(self.u, 0.0)
        self.bdf = BDF(mesh, [self.u], order=order)
        self.p = dolfinx.fem.Constant(mesh, 0.0)
        self.dp = dolfinx.fem.Constant(mesh, 0.0)
        x = ufl.SpatialCoordinate(mesh)[0]
        v = ufl.TestFunction(V)
        f = (1.0 + x**2) * self.dp - 2.0 * D * self.p
        # outward flux D u_x n = 2 D p at x = 1 and 0 at x = 0; x * ... selects x = 1
        residual = (
            self.bdf.ddt(self.u) * v * ufl.dx
            + D * ufl.inner(ufl.grad(self.u), ufl.grad(v)) * ufl.dx
            - f * v * ufl.dx
            - x * 2.0 * D * self.p * v * ufl.ds
        )
        self.problem = dolfinx.fem.petsc.NonlinearProblem(
            residual,
            self.u,
            petsc_options_prefix="heat_bdf_",
            petsc_options={
                "snes_type": "newtonls",
                "snes_rtol": 1e-13,
                "snes_atol": 1e-14,
                "ksp_type": "preonly",
                "pc_type": "lu",
            },
        )

    @staticmethod
    def set_exact(f, t):
        f.interpolate(lambda x: (1.0 + x[0] ** 2) * p(t))

    def step(self, dt):
        t_new = self.bdf.t + dt
        self.bdf.set_step(dt)
        self.bdf.predict()
        self.p.value, self.dp.value = p(t_new), dp(t_new)
        self.problem.solve()
        reason = self.problem.solver.getConvergedReason()
        if reason <= 0:
            raise RuntimeError(f"SNES did not converge: reason {reason}")
        return self.problem.solver.getIterationNumber()

    def error(self):
        self.set_exact(self.exact, self.bdf.t)
        return float(np.max(np.abs(self.u.x.array - self.exact.x.array)))


def variable_steps(n):
    """n steps alternating in size by 1.6x under a smooth envelope (a refinable sequence)."""
    k = np.arange(n)
    w = (1.0 + 0.5 * np.sin(2.0 * np.pi * (k + 0.5) / n)) * np.where(k % 2 == 1, 1.6, 1.0)
    return T_END * w / w.sum()


@pytest.mark.parametrize("order", [1, 2])
def test_bdf_rate_on_variable_steps(order):
    errors = []
    for n in (10, 20, 40):
        heat = HeatProblem(order)
        for dt in variable_steps(n):
            heat.step(dt)
            heat.bdf.accept()
        assert heat.bdf.t == pytest.approx(T_END, rel=1e-13)
        errors.append(heat.error())
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # measured rates 1.01 (BDF1) and 2.02 (BDF2) at n = 20 -> 40
    assert rates[-1] == pytest.approx(order, abs=0.1), (errors, rates)


def test_adaptive_bdf2_tolerance_and_outputs():
    """Error-controlled BDF2: lands on the output times, error shrinks with the tolerance."""
    results = []
    for rtol in (1e-3, 1e-5):
        heat = HeatProblem(2)
        ctrl = StepController(
            t_end=T_END, dt0=1e-3, order=2, mode="error", output_times=[0.3, 0.7]
        )
        outputs = []
        while not ctrl.finished:
            dt = ctrl.propose()
            heat.step(dt)
            error = heat.bdf.error_estimate(rtol=rtol, atol=rtol)
            if not ctrl.accept(dt, iterations=1, error=error):
                heat.bdf.restore()
                continue
            heat.bdf.accept()
            if ctrl.at_output:
                outputs.append(ctrl.t)
        assert outputs == [0.3, 0.7, T_END]
        results.append((heat.error(), ctrl.n_accepted))
    (err_coarse, n_coarse), (err_fine, n_fine) = results
    # global error ~ tol^(2/3) for error-per-step control: 100x tolerance -> ~21x error
    assert err_coarse < 1e-2 and err_fine < err_coarse / 8, results
    assert n_fine > 2 * n_coarse, results


def test_petsc_types_are_real():
    # the residual above is real-valued; guard against a complex PETSc build slipping in
    assert np.dtype(PETSc.ScalarType).kind == "f"
