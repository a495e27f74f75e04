"""Faradaic kinetics at the Li surface, per surface part.

``docs/theory.md``, "Boundary conditions".

The Li surface is split by the region of the adjacent cell; each part has its own rate law
(``solver.kinetics``). With the overpotential eta = phi_s - Phi and the normal current density
into the Li j (plating positive),

    i . n = j(eta, c_s),       j = -i_BV(eta),
    R_Phi += int_part j(eta, c_s) v w ds,

where c_s enters i0 only where the Li touches a binary electrolyte. Continuation (``theta`` from
0 to 1) blends j with the linearised law scaled by a secant factor, so that a start far above
i0 does not begin at the linear law's overpotential J R_ct, where the exponentials overflow:

    j_theta = theta j(eta, c_s) + (1 - theta) s j_lin(eta).

Where a rigid electrolyte has lost contact (``physics.growth.contact_loss: void``) the current
is multiplied by a contact indicator chi (a DG0 function, 1 in contact, 0 on the cells next to
a lost facet; ``solver.growth.contact``): j -> chi j. Its values change, the forms do not.

Primary kinetics (infinitely fast, :class:`PrimaryContact`) is the Dirichlet limit Phi = phi_s
on the Li surface; its current is the reaction of those rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import dolfinx
import ufl
from dolfinx import fem

from solver.domain import SurfacePart
from solver.kinetics import Kinetics
from solver.physics.term import Contribution, Fix, Term, Unknowns

__all__ = ["FaradaicKinetics", "PrimaryContact", "RateLaw", "WagnerPart"]

#: (Li-area fraction, i0, alpha_a, alpha_c) of a surface part (solver.dimensionless).
WagnerPart = tuple[float, float, float, float]


class RateLaw:
    """A rate law j(eta, c_s), blended by theta with its secant-scaled linearisation.

    Args:
        kinetics: The rate law.
        theta: The continuation parameter (0: linearised, 1: full), shared by all laws.
        mesh: The mesh of the secant factor's Constant.
        sign: +1 at the working Li surface, -1 at a Li counter (its overpotential is -Phi).
    """

    def __init__(
        self, kinetics: Kinetics, theta: fem.Constant, mesh: dolfinx.mesh.Mesh, sign: float = 1.0
    ):
        self.kinetics, self.theta, self.sign = kinetics, theta, sign
        self.secant = None if kinetics.model == "linear" else fem.Constant(mesh, 1.0)
        k = kinetics
        self.linear = Kinetics("linear", k.i0, k.alpha_a, k.alpha_c, k.temperature)

    def current(self, eta: Any, c_s: Any | None) -> Any:
        """The blended current j_theta(eta, c_s) (UFL, A/m^2); the law itself when linear."""
        full = self.kinetics.plating_current(eta, c_s)
        if self.secant is None:
            return full
        linear = self.secant * self.linear.plating_current(eta)
        return self.theta * full + (1.0 - self.theta) * linear

    def set_secant(self, value: float, galvanostatic: bool) -> None:
        """Make the linearised law pass through the rate law at the expected overpotential.

        Galvanostatic: the uniform overpotential of the applied J (-J at the counter);
        potentiostatic: the applied potential (its negative at the counter), an upper bound.
        """
        if self.secant is None:
            return
        eta = self.kinetics.overpotential(self.sign * value) if galvanostatic else self.sign * value
        self.secant.value = self.kinetics.secant_factor(eta)


class FaradaicKinetics(Term):
    """Butler-Volmer-family kinetics on each Li-surface part.

    Args:
        parts: The Li-surface parts (``Domain.parts``).
        kinetics: One rate law per part.
        theta: The continuation parameter.
        mesh: The mesh (of the secant factors).

    Attributes:
        contact: The contact indicator chi multiplying j (None: in contact everywhere); set
            before the forms are compiled.
    """

    blocks = ("Phi", "Phi_elyte", "c", "phi_s")
    ramped = True  # the Li surface's laws start linearised (continuation in theta)

    def __init__(
        self,
        parts: list[SurfacePart],
        kinetics: list[Kinetics],
        theta: fem.Constant,
        mesh: dolfinx.mesh.Mesh,
    ):
        self.parts = parts
        self.laws = [RateLaw(k, theta, mesh) for k in kinetics]
        self.contact: fem.Function | None = None

    def surface_current(self, u: Unknowns, index: int, eta: Any) -> Any:
        """The current density j on part ``index`` at overpotential eta (UFL; times chi)."""
        part = self.parts[index]
        j = self.laws[index].current(eta, u.concentration(part.region))
        return j if self.contact is None else self.contact * j

    def _each(self, u: Unknowns, etas: Sequence[Any]) -> list[tuple[int, Any, Any]]:
        """(block, j, ds of the part) of every part."""
        d = u.domain
        out = []
        for index, part in enumerate(self.parts):
            k = u.block(part.region)
            out.append((k, self.surface_current(u, index, etas[k]), d.ds(part.tag)))
        return out

    def charge(self, u: Unknowns, tests: Sequence[Any], etas: Sequence[Any]) -> list[Contribution]:
        """R_Phi += int_part j(eta, c_s) v w ds on every part."""
        w = u.domain.weight
        return [(k, j * tests[k] * w * ds) for k, j, ds in self._each(u, etas)]

    def d_charge(
        self, u: Unknowns, tests: Sequence[Any], etas: Sequence[Any]
    ) -> list[Contribution]:
        """dR_Phi/dphi_s = int_part dj/deta v w ds (eta = phi_s - Phi)."""
        w = u.domain.weight
        return [(k, ufl.diff(j, etas[k]) * tests[k] * w * ds) for k, j, ds in self._each(u, etas)]

    def li_current(
        self, u: Unknowns, etas: Sequence[Any], reaction: Callable[[list[Any]], Any]
    ) -> tuple[Any, Any]:
        """The total Li current int_li j w ds and its derivative by phi_s (UFL)."""
        w = u.domain.weight
        each = self._each(u, etas)
        total = sum(j * w * ds for _, j, ds in each)
        d_total = sum(ufl.diff(j, etas[k]) * w * ds for k, j, ds in each)
        return total, d_total

    def set_secants(self, value: float, galvanostatic: bool) -> None:
        """Secant factors of the laws at the control value (see :meth:`RateLaw.set_secant`)."""
        for law in self.laws:
            law.set_secant(value, galvanostatic)

    @property
    def max_i0(self) -> float:
        """The largest exchange current density of the parts, A/m^2."""
        return max(law.kinetics.i0 for law in self.laws)

    def uniform_overpotential(self, j: float) -> float:
        """The uniform overpotential of j on the fastest part (linear estimate if none)."""
        fastest = min(self.laws, key=lambda law: law.kinetics.charge_transfer_resistance).kinetics
        eta = fastest.overpotential(j)
        return -j * fastest.charge_transfer_resistance if eta is None else eta

    def wagner_parts(self, fractions: list[float]) -> list[WagnerPart]:
        """(Li-area fraction, i0, alpha_a, alpha_c) of each part."""
        return [
            (f, law.kinetics.i0, law.kinetics.alpha_a, law.kinetics.alpha_c)
            for f, law in zip(fractions, self.laws, strict=True)
        ]


class PrimaryContact(Term):
    """Primary (infinitely fast) kinetics: Phi = phi_s on the Li surface.

    Args:
        parts: The Li-surface parts.
        kinetics: One (``primary``) law per part: its transfer coefficients (Wagner numbers).
    """

    blocks = ("Phi", "Phi_elyte", "phi_s")
    ramped = False

    def __init__(self, parts: list[SurfacePart], kinetics: list[Kinetics]):
        self.parts, self.kinetics = parts, kinetics

    def dirichlet(self, u: Unknowns) -> list[Fix]:
        """Phi = phi_s on the Li dofs of every potential block.

        The sensitivity's value there is -1 (w = -dPhi/dphi_s in ``BorderedSystem``).
        """
        return [Fix(k, u.li_dofs(k), u.phi_s, -1.0) for k in range(len(u.potentials))]

    def surface_current(self, u: Unknowns, index: int, eta: Any) -> Any:
        """The sampled j: the flux i . n of the adjacent region."""
        return ufl.dot(u.current_density(self.parts[index].region), u.domain.n)

    def li_current(
        self, u: Unknowns, etas: Sequence[Any], reaction: Callable[[list[Any]], Any]
    ) -> tuple[Any, None]:
        """The Li current as the reaction of the Dirichlet rows.

        -R_Phi(chi), chi = 1 on the Li dofs: the discrete charge balance carries it exactly;
        the gradient flux int i.n ds misses it by the discretisation error.
        """
        indicators = []
        for k, p in enumerate(u.potentials):
            chi = fem.Function(p.function_space)
            chi.x.array[u.li_dofs(k)] = 1.0
            indicators.append(chi)
        return -reaction(indicators), None

    max_i0 = 0.0

    def uniform_overpotential(self, j: float) -> float:
        """No overpotential."""
        return 0.0

    def wagner_parts(self, fractions: list[float]) -> list[WagnerPart]:
        """(Li-area fraction, i0 = inf, alpha_a, alpha_c) of each part."""
        return [
            (f, math.inf, k.alpha_a, k.alpha_c)
            for f, k in zip(fractions, self.kinetics, strict=True)
        ]
