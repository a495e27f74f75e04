"""The counter electrode at y = L (``docs/theory.md``, "Boundary conditions").

A reservoir fixes the potential and the concentration there,

    Phi = 0,   c = c_bulk          on the counter;

a Li counter electrode (a closed cell) has its own rate law, with the overpotential 0 - Phi:

    i . n = -j_c,   j_c = j(-Phi, c),      R_Phi += int_counter j_c v w ds.

The counter current is, for a reservoir, the reaction of the Dirichlet rows (the charge
residual tested with 1 at the counter dofs), exact to solver tolerance; for a Li counter the
integral of -j_c.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dolfinx
from dolfinx import fem

from solver.domain import Domain
from solver.kinetics import Kinetics
from solver.physics.faradaic import RateLaw
from solver.physics.term import Contribution, Fix, Term, Unknowns

__all__ = ["LiCounter", "ReservoirCounter"]

#: The charge residuals of the model for given test functions (one per potential block).
Residuals = Callable[[list[Any]], list[Any]]


class ReservoirCounter(Term):
    """Phi = 0 and (with a salt balance) c = c_bulk on the counter."""

    blocks = ("Phi", "Phi_elyte", "c")
    outputs = ("counter_current",)
    closed = False  # the salt is exchanged with the reservoir

    def dirichlet(self, u: Unknowns) -> list[Fix]:
        """Phi (or Phi_elyte) = 0, and the salt unknown at c_bulk."""
        k = u.block("electrolyte")
        fixes = [Fix(k, u.counter_dofs(k), 0.0, 0.0)]
        if u.salt is not None:
            facets = u.domain.sub_facet_tags.find(Domain.SUB_COUNTER)
            dofs = fem.locate_dofs_topological(u.salt.Q, u.domain.tdim - 1, facets)
            fixes.append(Fix(len(u.potentials), dofs, u.salt.bulk_value))
        return fixes

    def current(self, u: Unknowns, residuals: Residuals) -> Any:
        """The counter current (UFL; integrate and divide by A_proj).

        R_Phi(chi), chi = 1 on the counter dofs: the reaction of the Dirichlet rows.
        """
        k = u.block("electrolyte")
        chi = fem.Function(u.potentials[k].function_space)
        chi.x.array[u.counter_dofs(k)] = 1.0
        tests = u.tests()
        tests[k] = chi
        return residuals(tests)[k]


class LiCounter(Term):
    """A Li counter electrode with a rate law (not ``primary``).

    Args:
        kinetics: Its rate law.
        theta: The continuation parameter.
        mesh: The mesh (of the secant factor).
    """

    blocks = ("Phi", "Phi_elyte", "c")
    outputs = ("counter_current", "min_counter_concentration")
    closed = True  # a closed cell: no salt leaves through the counter

    def __init__(self, kinetics: Kinetics, theta: fem.Constant, mesh: dolfinx.mesh.Mesh):
        self.kinetics = kinetics
        self.law = RateLaw(kinetics, theta, mesh, sign=-1.0)

    def _j(self, u: Unknowns) -> tuple[int, Any]:
        k = u.block("electrolyte")
        return k, self.law.current(-u.potentials[k], u.concentration("electrolyte"))

    def charge(self, u: Unknowns, tests: Sequence[Any], etas: Sequence[Any]) -> list[Contribution]:
        """R_Phi += int_counter j_c v w ds."""
        d = u.domain
        k, j_c = self._j(u)
        return [(k, j_c * tests[k] * d.weight * d.ds(d.tag("counter")))]

    def current(self, u: Unknowns, residuals: Residuals) -> Any:
        """The counter current (UFL; integrate and divide by A_proj): -int j_c w ds."""
        d = u.domain
        return -self._j(u)[1] * d.weight * d.ds(d.tag("counter"))

    def set_secants(self, value: float, galvanostatic: bool) -> None:
        """The secant factor at the control value (-J, or -V)."""
        self.law.set_secant(value, galvanostatic)
