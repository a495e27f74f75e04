r"""Time integration building blocks: variable-step BDF1/BDF2, adaptive step control, protocols.

A :class:`Protocol` steps through the control's validated config steps
(:class:`solver.model_spec.ProtocolStep`, re-exported here): one class for both.

The transient residual of the salt balance uses

.. math::  \partial_t u(t_{n+1}) \approx a_0 u_{n+1} + a_1 u_n + a_2 u_{n-1},

with the variable-step BDF coefficients (:math:`\Delta t = t_{n+1} - t_n`,
:math:`\Delta t_{\mathrm{prev}} = t_n - t_{n-1}`,
:math:`\omega = \Delta t / \Delta t_{\mathrm{prev}}`)

* BDF1 (implicit Euler): :math:`a_0 = 1/\Delta t`, :math:`a_1 = -1/\Delta t`, :math:`a_2 = 0`;
* BDF2: :math:`a_0 = \frac{1 + 2\omega}{(1 + \omega)\Delta t}`,
  :math:`a_1 = -\frac{1 + \omega}{\Delta t}`, :math:`a_2 = \frac{\omega^2}{(1 + \omega)\Delta t}`.

They are exact for polynomials in t of degree <= order. :class:`BDF` holds them as
``dolfinx.fem.Constant`` objects, so a residual form containing :meth:`BDF.ddt` is compiled once
and updated in place; BDF2 starts (and restarts after a protocol switch) with a BDF1 step.

Local error estimate (Milne's device). A predictor extrapolates the last k+1 accepted states
(k = order of the step) to :math:`t_{n+1}`; both predictor and corrector err by a multiple of
:math:`u^{(k+1)}`: corrector :math:`E_c = -\tau / a_0` with
:math:`\tau = \sum_{j\ge1} a_j (t_{n+1-j} - t_{n+1})^{k+1}/(k+1)!`, predictor
:math:`E_p = -\prod_{i=0}^{k} (t_{n+1} - t_{n-i})/(k+1)!`. Hence the local error of the accepted
solution is :math:`e \approx E_c/(E_c - E_p)\,(u_c - u_p)` (1/3 for BDF1, 2/11 for BDF2 at
constant steps). The controller accepts a step when the weighted RMS norm
:math:`\|e / (\mathrm{atol} + \mathrm{rtol}\,|u|)\|_{\mathrm{RMS}} \le 1` and scales the step by
:math:`\mathrm{safety}\cdot\mathrm{err}^{-1/(k+1)}` within growth limits.

Typical loop (the physics module owns it)::

    bdf = BDF(mesh, [c], order=2, t0=0.0)
    residual = (bdf.ddt(c) * q + ...) * dx
    ctrl = StepController(t_end=t_end, dt0=dt0, order=2, mode="error",
                          output_times=times, breakpoints=protocol.breakpoints(t_end))
    while not ctrl.finished:
        dt = ctrl.propose()
        bdf.set_step(dt)
        bdf.predict()                                   # Newton initial guess
        control.value = protocol.value(ctrl.t + dt)
        converged, iterations = newton_solve()
        if not converged:
            bdf.restore()
            ctrl.reject("Newton diverged ...")          # raises SolverDivergence when exhausted
            continue
        error = bdf.error_estimate(rtol, atol) if ctrl.needs_error else None
        if not ctrl.accept(dt, iterations=iterations, error=error):
            bdf.restore()                               # error too large: retry with smaller dt
            continue
        bdf.accept()
        if ctrl.restart_history:
            bdf.restart()
        if ctrl.at_output:
            ...                                         # snapshot at ctrl.t
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import dolfinx
import numpy as np
import ufl
from mpi4py import MPI

from solver.model_spec import ProtocolStep

__all__ = [
    "BDF",
    "Protocol",
    "ProtocolStep",
    "SolverDivergence",
    "StepController",
    "bdf_coefficients",
    "bdf_error_factor",
]

#: Default smallest step relative to the initial step (``time.dt_min``: dt / 1e4).
DT_MIN_RATIO = 1e-4
#: Default initial step relative to the end time (``time.dt``: t_end / 100).
DT0_RATIO = 1e-2
AdaptivityMode = Literal["none", "error", "iterations"]


def bdf_coefficients(order: int, dt: float, dt_prev: float | None = None) -> tuple[float, ...]:
    """Variable-step BDF coefficients (a0, a1, a2) of d/dt at the new time level.

    Args:
        order: 1 or 2.
        dt: The step t_{n+1} - t_n, s.
        dt_prev: The previous step t_n - t_{n-1}, s (needed for order 2).

    Returns:
        (a0, a1, a2) in 1/s, such that du/dt(t_{n+1}) ~ a0 u_{n+1} + a1 u_n + a2 u_{n-1}.

    Raises:
        ValueError: Unsupported order or non-positive step sizes.
    """
    if dt <= 0.0:
        raise ValueError(f"time step dt must be positive, got {dt}")
    if order == 1:
        return 1.0 / dt, -1.0 / dt, 0.0
    if order == 2:
        if dt_prev is None or dt_prev <= 0.0:
            raise ValueError(f"BDF2 needs a positive previous step dt_prev, got {dt_prev}")
        omega = dt / dt_prev
        return (
            (1.0 + 2.0 * omega) / ((1.0 + omega) * dt),
            -(1.0 + omega) / dt,
            omega**2 / ((1.0 + omega) * dt),
        )
    raise ValueError(f"BDF order must be 1 or 2, got {order}")


def _extrapolation_weights(times: Sequence[float], t: float) -> np.ndarray:
    """Lagrange weights of the polynomial through ``times`` evaluated at ``t``."""
    weights = np.ones(len(times))
    for i, ti in enumerate(times):
        for j, tj in enumerate(times):
            if j != i:
                weights[i] *= (t - tj) / (ti - tj)
    return weights


def bdf_error_factor(order: int, t_new: float, times: Sequence[float]) -> float:
    """Milne factor E_c / (E_c - E_p) turning (corrector - predictor) into the local error.

    Args:
        order: Order k of the BDF step (1 or 2).
        t_new: The new time t_{n+1}, s.
        times: Accepted times t_n, t_{n-1}, ..., newest first; at least k + 1 of them (the
            predictor is the degree-k polynomial through the k + 1 newest).

    Returns:
        The factor (1/3 for BDF1 and 2/11 for BDF2 at constant steps).
    """
    dt = t_new - times[0]
    dt_prev = times[0] - times[1] if order == 2 else None
    a = bdf_coefficients(order, dt, dt_prev)
    fact = math.factorial(order + 1)
    tau = sum(a[j] * (times[j - 1] - t_new) ** (order + 1) for j in range(1, order + 1)) / fact
    e_corrector = -tau / a[0]
    e_predictor = -math.prod(t_new - ti for ti in times[: order + 1]) / fact
    return e_corrector / (e_corrector - e_predictor)


class BDF:
    """Variable-step BDF1/BDF2 time derivative with history for one or more Functions.

    The coefficients a0, a1, a2 are ``dolfinx.fem.Constant`` objects on ``mesh``; the history
    Functions (u_n, u_{n-1}, and u_{n-2} for the BDF2 error predictor) live in the spaces of the
    unknowns. Call :meth:`set_step` before each solve and :meth:`accept` after a successful one.

    Attributes:
        a0, a1, a2: The coefficients (1/s) used by :meth:`ddt`.
        order: The requested order (1 or 2).
        t: Time of the newest accepted state u_n, s.
        dt: The step size last passed to :meth:`set_step`, s.
    """

    def __init__(
        self,
        mesh: dolfinx.mesh.Mesh,
        functions: Sequence[dolfinx.fem.Function],
        order: int = 2,
        t0: float = 0.0,
    ):
        """Create the history from the current values of ``functions`` (the state at ``t0``).

        Args:
            mesh: Mesh on which the coefficient Constants are defined.
            functions: The unknowns that need a time derivative (e.g. the salt concentration).
            order: 1 (implicit Euler) or 2 (BDF2, started with one BDF1 step).
            t0: Initial time, s.
        """
        if order not in (1, 2):
            raise ValueError(f"BDF order must be 1 or 2, got {order}")
        if len(functions) == 0:
            raise ValueError("BDF needs at least one Function")
        self.order = order
        self.functions = list(functions)
        self.a0 = dolfinx.fem.Constant(mesh, 0.0)
        self.a1 = dolfinx.fem.Constant(mesh, 0.0)
        self.a2 = dolfinx.fem.Constant(mesh, 0.0)
        # history[i][0] = u_n, [1] = u_{n-1}, [2] = u_{n-2} of functions[i]
        self._history = []
        for u in self.functions:
            levels = []
            for level in range(order + 1):
                h = u.copy()
                h.name = f"{u.name}_n{'-' + str(level) if level else ''}"
                levels.append(h)
            self._history.append(levels)
        self._times = [float(t0)] * (order + 1)
        self._levels = 1  # number of valid history levels
        self.dt = math.nan
        self._step_order = 1

    @property
    def t(self) -> float:
        """Time of the newest accepted state, s."""
        return self._times[0]

    @property
    def step_order(self) -> int:
        """Order of the step set by the last :meth:`set_step` (1 while BDF2 starts)."""
        return self._step_order

    def history(self, u: dolfinx.fem.Function, level: int = 0) -> dolfinx.fem.Function:
        """The accepted state u_{n-level} of unknown ``u``."""
        for f, levels in zip(self.functions, self._history, strict=True):
            if f is u:
                return levels[level]
        raise KeyError(f"Function {u.name!r} is not managed by this BDF object")

    def ddt(
        self,
        u: dolfinx.fem.Function,
        value: Callable[[ufl.core.expr.Expr], ufl.core.expr.Expr] | None = None,
    ) -> ufl.core.expr.Expr:
        """UFL expression of d value(u)/dt at the new time level.

        a0 g(u) + a1 g(u_n) (+ a2 g(u_{n-1})) with g = ``value`` (default: the identity). With a
        change of variable c = g(u) this is the BDF derivative of c itself, so that a balance
        of c tested with 1 conserves the integral of g(u_h) exactly.
        """
        g = value or (lambda v: v)
        expr = self.a0 * g(u) + self.a1 * g(self.history(u, 0))
        if self.order == 2:
            expr = expr + self.a2 * g(self.history(u, 1))
        return expr

    def set_step(self, dt: float) -> None:
        """Set the coefficients for a step from :attr:`t` to ``t + dt``."""
        self._step_order = min(self.order, self._levels)
        dt_prev = self._times[0] - self._times[1] if self._step_order == 2 else None
        a = bdf_coefficients(self._step_order, dt, dt_prev)
        self.a0.value, self.a1.value, self.a2.value = a
        self.dt = dt

    def predict(self) -> None:
        """Overwrite the unknowns by extrapolation of the history to t + dt (a Newton guess)."""
        n = min(self._levels, self._step_order + 1)
        w = _extrapolation_weights(self._times[:n], self.t + self.dt)
        for u, levels in zip(self.functions, self._history, strict=True):
            u.x.array[:] = sum(wi * h.x.array for wi, h in zip(w, levels[:n], strict=True))

    def restore(self) -> None:
        """Reset the unknowns to the last accepted state u_n (after a failed step)."""
        for u, levels in zip(self.functions, self._history, strict=True):
            u.x.array[:] = levels[0].x.array

    def error_estimate(
        self,
        rtol: float,
        atol: float,
        value: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> float | None:
        """Weighted RMS norm of the local error of the current solution (accept when <= 1).

        The norm is sqrt(mean over all owned DOFs of (e / (atol + rtol |u|))^2), reduced over
        the communicator of each Function's mesh.

        Args:
            rtol: Relative tolerance (dimensionless).
            atol: Absolute tolerance in the unit of the unknowns (mol/m^3 for c).
            value: Nodal map g of the unknowns to the quantity whose error is controlled (the
                concentration c = g(u) of a transformed unknown; default: the identity). The
                predictor extrapolates g of the history, as the BDF derivative of
                :meth:`ddt` with the same ``value`` differentiates g(u).

        Returns:
            The norm, or None when the history is too short for a predictor of the step's order
            (the first steps after a start or restart).
        """
        k = self._step_order
        if self._levels < k + 1:
            return None
        t_new = self.t + self.dt
        times = self._times[: k + 1]
        factor = bdf_error_factor(k, t_new, times)
        w = _extrapolation_weights(times, t_new)
        g = value or (lambda a: a)
        sum_sq, count = 0.0, 0
        for u, levels in zip(self.functions, self._history, strict=True):
            n_owned = u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.bs
            u_c = g(u.x.array[:n_owned])
            u_p = sum(
                wi * g(h.x.array[:n_owned]) for wi, h in zip(w, levels[: k + 1], strict=True)
            )
            scaled = factor * (u_c - u_p) / (atol + rtol * np.abs(u_c))
            comm = u.function_space.mesh.comm
            sum_sq += comm.allreduce(float(np.dot(scaled, scaled)), op=MPI.SUM)
            count += comm.allreduce(n_owned, op=MPI.SUM)
        return math.sqrt(sum_sq / count)

    def accept(self) -> None:
        """Shift the history: u_{n-1} <- u_n, u_n <- u, and advance :attr:`t` by dt."""
        for u, levels in zip(self.functions, self._history, strict=True):
            for level in range(self.order, 0, -1):
                levels[level].x.array[:] = levels[level - 1].x.array
            levels[0].x.array[:] = u.x.array
        self._times = [self.t + self.dt, *self._times[:-1]]
        self._levels = min(self._levels + 1, self.order + 1)

    def restart(self) -> None:
        """Forget the history before u_n: the next step is BDF1 (after a control switch)."""
        self._levels = 1

    def history_functions(self) -> dict[str, dolfinx.fem.Function]:
        """The history Functions by their names (``<unknown>_n``, ``<unknown>_n-1``, ...)."""
        return {h.name: h for levels in self._history for h in levels}

    def scalars(self) -> dict[str, Any]:
        """The scalar part of the history: times, number of valid levels, last step."""
        return {"times": list(self._times), "levels": self._levels, "dt": self.dt,
                "step_order": self._step_order}

    def set_scalars(self, scalars: Mapping[str, Any]) -> None:
        """Restore what :meth:`scalars` returned (the history Functions are filled apart)."""
        self._times = [float(t) for t in scalars["times"]]
        self._levels = int(scalars["levels"])
        self.dt = float(scalars["dt"])
        self._step_order = int(scalars["step_order"])


class SolverDivergence(RuntimeError):  # noqa: N818  (name fixed by the module contract)
    """A time step failed after all retries.

    Attributes:
        t: Time of the last accepted state, s.
        dt: The last step size tried, s.
        reason: Why the step failed (solver converged reason, error estimate, ...).
    """

    def __init__(self, t: float, dt: float, reason: str):
        self.t, self.dt, self.reason = t, dt, reason
        super().__init__(f"time step from t = {t:.6g} s failed with dt = {dt:.3g} s: {reason}")


class StepController:
    """Adaptive time-step control with exact output times and breakpoints.

    Modes:
        ``"none"``: steps of ``dt0`` (cut on divergence, then regrown towards ``dt0``).
        ``"error"``: local error control, dt_new = dt * clip(safety err^(-1/(k+1)),
        shrink_min, growth_max); a step with err > 1 is rejected and retried.
        ``"iterations"``: grow by ``growth_max`` when Newton took <= ``iterations_low``
        iterations, halve (``cut_factor``) when it took >= ``iterations_high``.

    Steps are shortened to land exactly on every output time, breakpoint and ``t_end``; when
    fewer than two steps remain before such a target, the remainder is split evenly. Failed steps
    (divergence or error rejection) are retried with a smaller dt, at most ``max_retries`` times
    per step and never below ``dt_min``; then :class:`SolverDivergence` is raised.

    Attributes:
        t: Time of the last accepted step, s.
        n_accepted: Accepted steps so far.
        n_rejected: Rejected attempts so far (divergence or error).
        at_output: The last accepted step ended on an output time (or t_end).
        restart_history: The last accepted step ended on a breakpoint (control switch).
    """

    def __init__(
        self,
        *,
        t_end: float,
        dt0: float,
        t0: float = 0.0,
        dt_min: float | None = None,
        dt_max: float | None = None,
        order: int = 2,
        mode: AdaptivityMode = "error",
        output_times: Sequence[float] = (),
        breakpoints: Sequence[float] = (),
        growth_max: float = 2.0,
        shrink_min: float = 0.2,
        safety: float = 0.9,
        iterations_low: int = 3,
        iterations_high: int = 8,
        max_retries: int = 6,
        cut_factor: float = 0.5,
    ):
        """Set up the controller (all times in s).

        Args:
            t_end: Final time (always an output time).
            dt0: Initial step (and nominal step for mode "none"; first step after a restart).
            t0: Initial time.
            dt_min: Smallest step allowed (default :data:`DT_MIN_RATIO` * dt0).
            dt_max: Largest step allowed (default (t_end - t0) / 10).
            order: Order k of the method (error exponent 1/(k+1)).
            mode: ``"none"``, ``"error"`` or ``"iterations"``.
            output_times: Times at which the state is wanted.
            breakpoints: Times where the control switches (steps land on them and the BDF
                history restarts).
            growth_max: Largest ratio of consecutive steps (> 1).
            shrink_min: Smallest ratio after an error rejection (in (0, 1)).
            safety: Safety factor of the error controller (in (0, 1]).
            iterations_low: Newton iterations at or below which the step grows.
            iterations_high: Newton iterations at or above which the step shrinks.
            max_retries: Retries of one step before giving up.
            cut_factor: Step ratio after a divergence (in (0, 1)).
        """
        if not t_end > t0:
            raise ValueError(f"t_end ({t_end}) must be larger than t0 ({t0})")
        if dt0 <= 0.0:
            raise ValueError(f"initial time step dt0 must be positive, got {dt0}")
        if mode not in ("none", "error", "iterations"):
            raise ValueError(f"adaptivity mode must be none, error or iterations, got {mode!r}")
        if growth_max <= 1.0:
            raise ValueError(f"growth_max must be > 1, got {growth_max}")
        for name, value in (("shrink_min", shrink_min), ("cut_factor", cut_factor)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must lie in (0, 1), got {value}")
        if not 0.0 < safety <= 1.0:
            raise ValueError(f"safety must lie in (0, 1], got {safety}")
        self.t0, self.t_end, self.dt0 = float(t0), float(t_end), float(dt0)
        self.dt_min = dt0 * DT_MIN_RATIO if dt_min is None else float(dt_min)
        self.dt_max = (t_end - t0) / 10.0 if dt_max is None else float(dt_max)
        if not 0.0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min ({self.dt_min}) <= dt_max ({self.dt_max})")
        self.order, self.mode = order, mode
        self.growth_max, self.shrink_min, self.safety = growth_max, shrink_min, safety
        self.iterations_low, self.iterations_high = iterations_low, iterations_high
        self.max_retries, self.cut_factor = max_retries, cut_factor

        inside = [float(t) for t in (*output_times, *breakpoints) if t0 < t < t_end]
        self._targets = sorted({*inside, self.t_end})
        self._outputs = {float(t) for t in output_times if t0 < t <= t_end} | {self.t_end}
        #: The start time t0 is one of the output times.
        self.output_at_start = any(float(t) == self.t0 for t in output_times)
        self._breakpoints = {float(t) for t in breakpoints if t0 < t < t_end}

        self.t = self.t0
        self._dt = min(max(self.dt0, self.dt_min), self.dt_max)  # nominal next step
        self._attempt = math.nan
        self._landing: float | None = None
        self._retries = 0
        self.n_accepted = 0
        self.n_rejected = 0
        self.at_output = False
        self.restart_history = False

    @classmethod
    def from_config(cls, time: Any, breakpoints: Sequence[float] = ()) -> StepController:
        """The controller of a ``TimeConfig`` (the one place its defaults are applied).

        Args:
            time: A ``solver.model_spec.TimeConfig`` of a transient run.
            breakpoints: Switch times of the control protocol, s.

        Returns:
            The controller from t = 0 to ``time.t_end``; its outputs are ``time.output_times``
            and the multiples of ``time.output_interval`` below t_end (t_end is always one).
        """
        t_end = time.t_end
        dt0 = time.dt or t_end * DT0_RATIO
        outputs = list(time.output_times)
        if time.output_interval:
            outputs += list(np.arange(time.output_interval, t_end, time.output_interval))
        return cls(
            t_end=t_end, dt0=dt0, dt_min=time.dt_min, dt_max=time.dt_max,
            order=1 if time.scheme == "bdf1" else 2, mode=time.adaptivity,
            output_times=outputs, breakpoints=breakpoints, growth_max=time.growth_max,
            shrink_min=time.shrink_min, safety=time.safety,
            iterations_low=time.newton_iterations_low,
            iterations_high=time.newton_iterations_high, max_retries=time.max_retries,
            cut_factor=time.cut_factor,
        )

    def scalars(self) -> dict[str, Any]:
        """The position of the controller between steps (what a restart needs)."""
        return {"t": self.t, "dt": self._dt, "n_accepted": self.n_accepted,
                "n_rejected": self.n_rejected, "at_output": self.at_output,
                "restart_history": self.restart_history}

    def set_scalars(self, scalars: Mapping[str, Any]) -> None:
        """Restore what :meth:`scalars` returned (between steps: no attempt pending)."""
        self.t, self._dt = float(scalars["t"]), float(scalars["dt"])
        self.n_accepted, self.n_rejected = int(scalars["n_accepted"]), int(scalars["n_rejected"])
        self.at_output = bool(scalars["at_output"])
        self.restart_history = bool(scalars["restart_history"])
        self._retries, self._landing, self._attempt = 0, None, math.nan

    @property
    def finished(self) -> bool:
        """True once t_end has been reached."""
        return self.t >= self.t_end

    @property
    def needs_error(self) -> bool:
        """True when :meth:`accept` expects a local error estimate."""
        return self.mode == "error"

    @property
    def attempt(self) -> float:
        """The step being tried (the last :meth:`propose`), s."""
        return self._attempt

    @property
    def last_attempt(self) -> bool:
        """Whether a :meth:`reject` of the step being tried would give up (no retry left)."""
        return (self._retries >= self.max_retries
                or self._attempt * self.cut_factor < self.dt_min)

    def _next_target(self) -> float:
        return self._targets[bisect.bisect_right(self._targets, self.t)]

    def propose(self) -> float:
        """The step size to try now from :attr:`t`, s."""
        dt = min(max(self._dt, self.dt_min), self.dt_max)
        target = self._next_target()
        remaining = target - self.t
        self._landing = None
        if dt >= remaining * (1.0 - 1e-12):
            dt, self._landing = remaining, target
        elif dt > 0.5 * remaining:
            dt = 0.5 * remaining
        self._attempt = dt
        return dt

    def _retry(self, new_dt: float, reason: str) -> None:
        self.n_rejected += 1
        self._retries += 1
        if self._retries > self.max_retries:
            raise SolverDivergence(
                self.t, self._attempt, f"{reason} (gave up after {self.max_retries} retries)"
            )
        if new_dt < self.dt_min:
            raise SolverDivergence(
                self.t,
                self._attempt,
                f"{reason} (next step would be below dt_min = {self.dt_min:.3g} s)",
            )
        self._dt = new_dt

    def reject(self, reason: str) -> None:
        """Record a failed (diverged) attempt and cut the step.

        Raises:
            SolverDivergence: Out of retries, or the cut step would fall below dt_min.
        """
        self._retry(self._attempt * self.cut_factor, reason)

    def accept(self, dt: float, iterations: int | None = None, error: float | None = None) -> bool:
        """Judge a converged step of size ``dt`` and advance when it is accepted.

        Args:
            dt: The step just solved (the value returned by :meth:`propose`), s.
            iterations: Newton iterations it took (used by modes "iterations" and "error").
            error: Weighted local error norm (mode "error"; None when no estimate exists yet).

        Returns:
            True when the step is accepted (:attr:`t` advanced), False when it must be redone
            with the smaller step that :meth:`propose` will return.

        Raises:
            SolverDivergence: The error stays above tolerance after all retries.
        """
        if not math.isclose(dt, self._attempt, rel_tol=1e-12):
            raise ValueError(f"accept() got dt = {dt}, but the proposed step was {self._attempt}")
        many_iterations = iterations is not None and iterations >= self.iterations_high
        if self.mode == "error":
            if error is None:
                factor = 1.0
            else:
                ratio = self.safety * error ** (-1.0 / (self.order + 1)) if error > 0 else math.inf
                factor = min(self.growth_max, max(self.shrink_min, ratio))
                if error > 1.0:
                    self._retry(dt * factor, f"local error estimate {error:.3g} > 1")
                    return False
            if many_iterations:
                factor = min(factor, 1.0)
            new_dt = dt * factor
        elif self.mode == "iterations":
            if iterations is not None and iterations <= self.iterations_low:
                new_dt = self._dt * self.growth_max
            elif many_iterations:
                new_dt = self._dt * self.cut_factor
            else:
                new_dt = self._dt
        else:
            new_dt = min(self.dt0, self._dt * self.growth_max)

        self.t = self._landing if self._landing is not None else self.t + dt
        self.at_output = self._landing in self._outputs
        self.restart_history = self._landing in self._breakpoints
        if self.restart_history:
            new_dt = min(new_dt, self.dt0)
        self._dt = min(max(new_dt, self.dt_min), self.dt_max)
        self._retries = 0
        self.n_accepted += 1
        return True


class Protocol:
    """A piecewise-constant control: a list of steps repeated ``cycles`` times.

    ``value(t)`` is left-continuous: on (t_start, t_end] a step applies its value (an implicit
    step that ends on a switch time uses the step that ends there); ``value(t0)`` is the first
    step's value. After the last step the last value holds.
    """

    def __init__(self, steps: Sequence[ProtocolStep], cycles: int = 1, t0: float = 0.0):
        """Build the protocol.

        Args:
            steps: The step list of one cycle.
            cycles: How many times the step list is applied (>= 1).
            t0: Start time of the first step, s.
        """
        if len(steps) == 0:
            raise ValueError("a protocol needs at least one step")
        if cycles < 1:
            raise ValueError(f"protocol cycles must be >= 1, got {cycles}")
        self.steps = list(steps) * cycles
        self.t0 = float(t0)
        self._ends = list(self.t0 + np.cumsum([s.duration for s in self.steps]))

    @classmethod
    def constant(cls, value: float) -> Protocol:
        """A protocol that applies ``value`` forever."""
        # A step that never ends: an infinite duration, which a config step cannot have.
        return cls([ProtocolStep.model_construct(kind="constant", duration=math.inf, value=value)])

    @property
    def duration(self) -> float:
        """Total duration of all cycles, s."""
        return self._ends[-1] - self.t0

    def step_at(self, t: float) -> ProtocolStep:
        """The step active at time ``t`` (left-continuous; the last step after the end)."""
        index = min(bisect.bisect_left(self._ends, t), len(self.steps) - 1)
        return self.steps[index]

    def value(self, t: float) -> float:
        """The applied value at time ``t`` (A/m^2 or V)."""
        return self.step_at(t).applied

    def breakpoints(self, t_end: float) -> list[float]:
        """Switch times inside (t0, t_end) where the applied value changes, s."""
        return [
            t
            for t, a, b in zip(self._ends[:-1], self.steps[:-1], self.steps[1:], strict=True)
            if t < t_end and a.applied != b.applied
        ]
