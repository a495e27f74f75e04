"""Interfacial ion-transfer resistance.

``docs/theory.md``, "Boundary conditions" and "Weak form and scaling".

Li+ crossing between an interphase region and the electrolyte pays an ohmic drop R_it, so the
potential is split: Phi on the interphase cells, Phi_elyte on the electrolyte submesh, and

    i . n = g = (Phi - Phi_elyte) / R_it      on the interphase | electrolyte facets Gamma,

    R_Phi       += int_Gamma g v w dS,
    R_Phi_elyte += -int_Gamma g v_e w dS

(restriction "+" is the electrolyte side; Phi and v are continuous, so their "+" trace is the
interphase-side value). The Phi dofs outside every interphase cell are unused: fixed to 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dolfinx
import numpy as np
from dolfinx import fem

from solver.domain import Domain
from solver.driver import SimulationError
from solver.physics.term import Contribution, Fix, Term, Unknowns

__all__ = ["IonTransfer"]


class IonTransfer(Term):
    """The jump condition of the interphase regions with R_it > 0.

    Every region touching the electrolyte needs R_it > 0 (a mixed jump/continuity boundary is
    not supported), and only such regions may have one.

    Args:
        resistances: Region name -> R_it, ohm m^2.
        domain: The domain (built with ``interface`` = these regions).

    Raises:
        SimulationError: The regions with R_it > 0 are not exactly those touching the
            electrolyte.
    """

    blocks = ("Phi", "Phi_elyte")

    def __init__(self, resistances: dict[str, float], domain: Domain):
        self.resistances = resistances
        touching = domain.interface_regions()
        for name, r_it in sorted(resistances.items()):
            if name not in touching:
                raise SimulationError(
                    f"physics.interphase.{name}.transfer_resistance: the region does not touch "
                    f"the electrolyte, so it has no ion-transfer boundary (got {r_it} ohm m^2); "
                    "allowed: 0"
                )
        without = sorted(touching - set(resistances))
        if without:
            raise SimulationError(
                f"physics.interphase.{without[0]}.transfer_resistance: every interphase region "
                "touching the electrolyte needs R_it > 0 when one has it (got 0 here, > 0 for "
                f"{sorted(resistances)}); allowed: > 0 for all of them, or 0 for all"
            )

    def charge(self, u: Unknowns, tests: Sequence[Any], etas: Sequence[Any]) -> list[Contribution]:
        """The jump flux g leaves the interphase block and enters the electrolyte block."""
        d = u.domain
        phi, phi_elyte = u.potentials
        out: list[Contribution] = []
        for name, r_it in self.resistances.items():
            g = (phi("+") - phi_elyte("+")) / r_it * d.weight_plus
            dS = d.dS_it(d.bundle.regions[name])
            out += [(0, g * tests[0]("+") * dS), (1, -g * tests[1]("+") * dS)]
        return out

    def pattern(self, u: Unknowns, tests: Sequence[Any]) -> list[Contribution]:
        """A zero term on every cell.

        The diagonal of the fixed Phi dofs outside the interphase enters the Jacobian's
        sparsity pattern.
        """
        zero = fem.Constant(u.domain.mesh, 0.0)
        return [(0, zero * u.potentials[0] * tests[0] * u.domain.dx)]

    def dirichlet(self, u: Unknowns) -> list[Fix]:
        """Phi = 0 on the dofs outside every interphase cell."""
        return [Fix(0, self._outside_interphase_dofs(u), 0.0, 0.0)]

    @staticmethod
    def _outside_interphase_dofs(u: Unknowns) -> np.ndarray:
        """Local dofs of Phi's space that belong to no interphase cell on any rank."""
        d, V = u.domain, u.potentials[0].function_space
        inside = fem.Function(V)
        cells = np.flatnonzero(d.cell_region != d.bundle.regions["electrolyte"])
        inside.x.array[np.unique(V.dofmap.list[cells])] = 1.0
        inside.x.scatter_reverse(dolfinx.la.InsertMode.add)
        inside.x.scatter_forward()
        return np.flatnonzero(inside.x.array == 0.0).astype(np.int32)

    def resistance(self, domain: Domain) -> float:
        """The boundary's resistance per Li area: its conductances in parallel, inverted."""
        conductance = sum(domain.interface_areas[n] / r for n, r in self.resistances.items())
        return domain.li_area / conductance
