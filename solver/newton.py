r"""A bordered Newton method: block residual R(u, s) = 0 plus one scalar equation G(u, s) = 0.

It knows nothing of electrochemistry: a block residual (compiled forms), its Jacobian
:math:`J = \partial R/\partial u`, the sensitivity :math:`\partial R/\partial s` to a scalar
unknown s (a ``dolfinx.fem.Constant`` in the forms) and a :class:`Border` that says how s is
found:

* :class:`FixedBorder`: s is given (G = (s - s*)/scale); a Newton step moves s onto s* at once
  and u by :math:`-(s - s^*) w`;
* :class:`ConstraintBorder`: s is an unknown fixed by an assembled scalar constraint
  G(u, s) = g(u, s) - g*. Each iteration solves :math:`J\,\delta x_0 = R` and
  :math:`J w = \partial R/\partial s` with one factorisation; the scalar update is
  :math:`\delta s = (G - G_u\cdot\delta x_0)/(G_s - G_u\cdot w)` and the step
  :math:`(\delta x_0 - w\,\delta s, \delta s)` is damped by Armijo backtracking on
  :math:`\sqrt{\|R\|^2 + G^2}`.

With ``reuse`` (chord iterations) the factorised Jacobian is kept across iterations and solves
while each step contracts the residual by :data:`CHORD_CONTRACTION`; the point where it was
assembled is recorded (:class:`~solver.state.Linearisation`) so that a resumed run can rebuild
it. ``pre_iteration`` / ``post_iteration`` hooks (like scifem's ``NewtonSolver``) are called with
the iteration number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import dolfinx
import dolfinx.fem.petsc
import numpy as np
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from solver.linear import LinearSolver
from solver.periodic import PeriodicConstraint
from solver.state import Linearisation

__all__ = [
    "CHORD_CONTRACTION",
    "CHORD_REFRESH",
    "Border",
    "BorderedSystem",
    "ConstraintBorder",
    "FixedBorder",
    "NewtonOptions",
    "NewtonResult",
]

#: A reused (chord) Jacobian is kept while each step reduces the residual by this factor.
CHORD_CONTRACTION = 0.2
#: A chord step reducing the residual by less than this factor (but by CHORD_CONTRACTION) makes
#: the next iteration refresh the Jacobian, which is then reused again.
CHORD_REFRESH = 0.05


@dataclass
class NewtonResult:
    """Outcome of one nonlinear solve.

    Attributes:
        converged: Whether the tolerances were met.
        iterations: Newton iterations taken.
        residual: Final scaled residual norm.
        reason: Why it stopped.
    """

    converged: bool
    iterations: int
    residual: float
    reason: str


@dataclass(frozen=True)
class NewtonOptions:
    """Tolerances of the iteration.

    Attributes:
        max_it: Most iterations.
        atol: Absolute tolerance of the merit sqrt(|R|^2 + G^2).
        rtol: Tolerance relative to the first merit.
        stol: Tolerance of the scaled step (infinity norm).
        backtracking: Armijo backtracking (else full steps).
    """

    max_it: int
    atol: float
    rtol: float
    stol: float
    backtracking: bool


class Border(Protocol):
    """How the scalar unknown s is determined."""

    value: fem.Constant
    bordered: bool

    def residual(self) -> float:
        """G at the current state (scaled)."""


class FixedBorder:
    """s is given: G = (s - s*) / scale.

    Attributes:
        value: s.
        bordered: False.
    """

    bordered = False

    def __init__(self, value: fem.Constant, target: fem.Constant, scale: float):
        """S = ``value`` is driven onto ``target``; ``scale`` makes G dimensionless."""
        self.value, self.target, self.scale = value, target, scale

    def residual(self) -> float:
        """(s - s*) / scale."""
        return (float(self.value.value) - float(self.target.value)) / self.scale

    def step(self) -> float:
        """The Newton step of s: s - s*."""
        return float(self.value.value) - float(self.target.value)


class ConstraintBorder:
    """s is an unknown fixed by G(u, s) = g(u, s) - g* = 0, g an assembled scalar form.

    Attributes:
        value: s.
        bordered: True.
    """

    bordered = True

    def __init__(self, value: fem.Constant, g: fem.Form, target: Callable[[], float],
                 dg_ds: fem.Form | None, comm: MPI.Comm):
        """Set up the constraint.

        Args:
            value: s.
            g: The scalar form g.
            target: g* now.
            dg_ds: The form of dg/ds (None: g does not depend on s).
            comm: Communicator of the forms' mesh.
        """
        self.value, self.g, self.target, self.dg_ds, self.comm = value, g, target, dg_ds, comm

    def residual(self) -> float:
        """G - g* (allreduced)."""
        return self.comm.allreduce(fem.assemble_scalar(self.g), op=MPI.SUM) - self.target()

    def derivative(self) -> float:
        """dG/ds (allreduced)."""
        if self.dg_ds is None:
            return 0.0
        return self.comm.allreduce(fem.assemble_scalar(self.dg_ds), op=MPI.SUM)


@dataclass
class BorderedSystem:
    """Compiled forms, PETSc objects and the bordered Newton iteration of one block system.

    Attributes:
        unknowns: The block unknowns u.
        F: Residual forms, one per block.
        J: Jacobian forms dR/du.
        dF_dphis: Forms of dR/ds.
        dG_du: Forms of dG/du (bordered constraints only).
        bcs: Dirichlet conditions of u.
        bcs_w: Dirichlet conditions of w = J^-1 dR/ds (the values of -du/ds on fixed rows).
        scales: Scale of each block in the step norm.
        border_scale: Scale of s in the step norm.
        comm: The communicator.
        lin: Where the factorised Jacobian was assembled (chord reuse).
        coefficients: Other constants the Jacobian depends on (recorded with its point).
        pre_iteration, post_iteration: Hooks called with the iteration number.
    """

    unknowns: list[fem.Function]
    F: list[fem.Form]
    J: list[list[fem.Form | None]]
    dF_dphis: list[fem.Form]
    dG_du: list[fem.Form] | None
    bcs: list[fem.DirichletBC]
    bcs_w: list[fem.DirichletBC]
    scales: list[float]
    border_scale: float
    comm: MPI.Comm
    lin: Linearisation
    coefficients: Callable[[], list[float]] = list
    A: Any = None
    b: Any = None
    x: Any = None
    dx0: Any = None
    w: Any = None
    rhs_w: Any = None
    g_u: Any = None
    ksp: Any = None
    linear: LinearSolver | None = None
    periodic: PeriodicConstraint | None = None
    pre_iteration: list[Callable[[int], None]] = field(default_factory=list)
    post_iteration: list[Callable[[int], None]] = field(default_factory=list)

    def assemble_residual(self) -> float:
        """Assemble the scaled residual into b at the current state; return its norm."""
        dolfinx.fem.petsc.assign(self.unknowns, self.x)
        self.x.ghostUpdate(PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        with self.b.localForm() as local:
            local.set(0.0)
        dolfinx.fem.petsc.assemble_vector(self.b, self.F)
        bcs1 = fem.bcs_by_block(fem.extract_function_spaces(self.J, 1), self.bcs)
        dolfinx.fem.petsc.apply_lifting(self.b, self.J, bcs=bcs1, x0=self.x, alpha=-1.0)
        self.b.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        bcs0 = fem.bcs_by_block(fem.extract_function_spaces(self.F), self.bcs)
        dolfinx.fem.petsc.set_bc(self.b, bcs0, x0=self.x, alpha=-1.0)
        self.b.ghostUpdate(PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        if self.periodic is not None:  # slave rows are not zero on their own: reduced norm
            return self.periodic.restrict(self.b).norm()
        return self.b.norm()

    def merit(self, border: Border) -> tuple[float, float]:
        """(sqrt(|R|^2 + G^2), G) at the current state."""
        r = self.assemble_residual()
        g = border.residual()
        return math.sqrt(r * r + g * g), g

    def factorise(self, s: float) -> None:
        """Assemble J at the current state (border unknown s) for the solver; remember where."""
        self.A.zeroEntries()
        dolfinx.fem.petsc.assemble_matrix(self.A, self.J, bcs=self.bcs, diag=1.0)
        self.A.assemble()
        self.linear.set_operator(self.A)
        self.lin.record(self.unknowns, s, self.coefficients())
        self.lin.factorised, self.lin.w_current = True, False

    def assemble_sensitivity(self) -> None:
        """rhs_w = dR/ds with the Dirichlet values of w."""
        with self.rhs_w.localForm() as local:
            local.set(0.0)
        dolfinx.fem.petsc.assemble_vector(self.rhs_w, self.dF_dphis)
        bcs1 = fem.bcs_by_block(fem.extract_function_spaces(self.J, 1), self.bcs_w)
        dolfinx.fem.petsc.apply_lifting(self.rhs_w, self.J, bcs=bcs1)
        self.rhs_w.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        bcs0 = fem.bcs_by_block(fem.extract_function_spaces(self.F), self.bcs_w)
        dolfinx.fem.petsc.set_bc(self.rhs_w, bcs0)
        self.rhs_w.ghostUpdate(PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)

    def scaled_step(self, lam: float, ds: float) -> float:
        """Infinity norm of lam times the step, each block and s in its scale."""
        offsets = self.dx0.getAttr("_blocks")[0]
        arr = self.dx0.array_r
        local = max(
            (
                float(np.abs(arr[a:b]).max(initial=0.0)) / s
                for a, b, s in zip(offsets, offsets[1:], self.scales, strict=False)
            ),
            default=0.0,
        )
        return lam * max(self.comm.allreduce(local, op=MPI.MAX), abs(ds) / self.border_scale)

    def set_state(self, x: Any, s: float, border: Border) -> None:
        """Make ``x`` (a block vector) and s the current state."""
        if x is not self.x:
            x.copy(self.x)
        dolfinx.fem.petsc.assign(self.x, self.unknowns)
        for u in self.unknowns:
            u.x.scatter_forward()
        border.value.value = s

    def line_search(self, border: Border, ds: float, merit: float, backtrack: bool):
        """Apply (x, s) -= lam (dx0, ds) with Armijo backtracking.

        Returns:
            (merit, G, scaled step), the step None when no acceptable step was found.
        """
        x0 = self.x.copy()
        s0 = float(border.value.value)
        lam = 1.0
        for _ in range(12):
            self.x.waxpy(-lam, self.dx0, x0)
            self.set_state(self.x, s0 - lam * ds, border)
            new, g = self.merit(border)
            if not backtrack or (math.isfinite(new) and new <= (1.0 - 1e-4 * lam) * merit):
                return new, g, self.scaled_step(lam, ds)
            lam *= 0.5
        # No decrease: accept the smallest step only if the residual is finite and small anyway.
        if math.isfinite(new) and new < merit:
            return new, g, self.scaled_step(lam * 2, ds)
        return new, g, None

    def _solve_w(self) -> int:
        """Solve for w = J^-1 dR/ds with the current factorisation; the linear solver's reason."""
        self.assemble_sensitivity()
        return self.linear.solve(self.rhs_w, self.w)

    def solve(self, border: Border, options: NewtonOptions, reuse: bool = False
              ) -> NewtonResult:
        """Solve R(u, s) = 0, G(u, s) = 0 from the current state (see the module docstring)."""
        merit, g = self.merit(border)
        merit0 = merit
        for it in range(1, options.max_it + 1):
            if not math.isfinite(merit):
                return NewtonResult(False, it - 1, merit, "residual is not finite")
            if merit <= options.atol or (it > 1 and merit <= options.rtol * merit0):
                return NewtonResult(True, it - 1, merit, "residual tolerance")
            for hook in self.pre_iteration:
                hook(it)
            chord = reuse and self.lin.factorised
            if not chord:
                self.factorise(float(border.value.value))
            reason = self.linear.solve(self.b, self.dx0)
            if reason < 0:
                return NewtonResult(False, it, merit, f"linear solver failed ({reason})")
            if border.bordered:
                # Chord iterations keep w = J^-1 dR/ds of their Jacobian, as they keep J.
                if not (chord and self.lin.w_current):
                    reason = self._solve_w()
                    if reason < 0:
                        return NewtonResult(False, it, merit, f"linear solver failed ({reason})")
                    self.lin.w_current = True
                    dolfinx.fem.petsc.assign(self.w, self.lin.w)
                with self.g_u.localForm() as local:
                    local.set(0.0)
                dolfinx.fem.petsc.assemble_vector(self.g_u, self.dG_du)
                self.g_u.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
                denominator = border.derivative() - self.g_u.dot(self.w)
                if denominator == 0.0 or not math.isfinite(denominator):
                    return NewtonResult(
                        False, it, merit, f"singular bordered update (dG/ds = {denominator})"
                    )
                ds = (g - self.g_u.dot(self.dx0)) / denominator
                self.dx0.axpy(-ds, self.w)
            else:
                ds = border.step()
                if ds != 0.0:
                    reason = self._solve_w()
                    if reason < 0:
                        return NewtonResult(False, it, merit, f"linear solver failed ({reason})")
                    self.dx0.axpy(-ds, self.w)
            if chord:
                x_prev, s_prev = self.x.copy(), float(border.value.value)
                new, g_new, step = self.line_search(border, ds, merit, backtrack=False)
                contracted = new <= CHORD_CONTRACTION * merit or new <= options.atol
                if not (math.isfinite(new) and contracted):
                    # the reused Jacobian no longer contracts well: undo, refactorise next
                    self.set_state(x_prev, s_prev, border)
                    merit, g = self.merit(border)
                    self.lin.factorised = reuse = False  # fresh Jacobians for the rest
                    continue
                if new > CHORD_REFRESH * merit and new > options.atol:
                    self.lin.factorised = False  # slow: a fresh Jacobian next, reused after it
                merit, g = new, g_new
            else:
                merit, g, step = self.line_search(border, ds, merit, options.backtracking)
                if step is None:
                    return NewtonResult(False, it, merit, "line search failed")
            for hook in self.post_iteration:
                hook(it)
            if step <= options.stol:
                return NewtonResult(True, it, merit, "step tolerance")
        return NewtonResult(False, options.max_it, merit, "maximum Newton iterations reached")
