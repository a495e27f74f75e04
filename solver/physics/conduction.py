"""Ionic conduction in a single-ion region (``docs/theory.md``, "Current density and fluxes").

Every interphase region, and the electrolyte when it is a single-ion conductor (t+ = 1), carries
Li+ alone: the current density is ohmic and divergence-free (charge conservation),

    i = -sigma grad(Phi),        div(i) = 0,

tested with v (weight w = 2 pi r in axisymmetric coordinates, 1 otherwise):

    R_Phi += int_region -i . grad(v) w dx.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ufl

from solver.physics.term import Contribution, Term, Unknowns
from solver.transport import SingleIonConductor

__all__ = ["IonicConduction"]


class IonicConduction(Term):
    """Ohmic Li+ conduction in one region.

    Args:
        region: The region's name.
        model: Its conductor (sigma, temperature-corrected).
    """

    outputs = ("current_density", "field_strength")

    def __init__(self, region: str, model: SingleIonConductor):
        self.region, self.model = region, model
        # the electrolyte's potential is Phi_elyte when an ion-transfer resistance splits it
        self.blocks = ("Phi", "Phi_elyte") if region == "electrolyte" else ("Phi",)

    @property
    def sigma(self) -> float:
        """The region's conductivity, S/m."""
        return self.model.sigma

    @property
    def kappa_bulk(self) -> float:
        """The bulk conductivity (sigma: it does not depend on a concentration), S/m."""
        return self.model.sigma

    def current_density(self, u: Unknowns) -> Any:
        """The current density i = -sigma grad(Phi) (UFL, A/m^2)."""
        return self.model.current_density(u.potential(self.region))

    def electrostatic_potential(self, u: Unknowns) -> Any:
        """The potential whose gradient is the field: Phi itself in a single-ion conductor."""
        return u.potential(self.region)

    def charge(self, u: Unknowns, tests: Sequence[Any], etas: Sequence[Any]) -> list[Contribution]:
        """R_Phi += int_region -i . grad(v) w dx."""
        k, d = u.block(self.region), u.domain
        i = self.current_density(u)
        dx = d.dx(d.bundle.regions[self.region])
        return [(k, -ufl.dot(i, ufl.grad(tests[k])) * d.weight * dx)]
