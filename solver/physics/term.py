"""The protocol of a physics term, and the unknowns its forms are written in.

A term is one equation or boundary condition of ``docs/theory.md``. It says which unknown
blocks it touches, adds its contribution to the residuals (the charge balance of each
potential block, the salt balance), names its Dirichlet conditions and the outputs it provides.
``Simulation`` sums the residuals of the terms present; which terms are present is the model
(a binary electrolyte is the term :class:`~solver.physics.salt.SaltTransport`, primary kinetics
the term :class:`~solver.physics.faradaic.PrimaryContact`, ...). Residuals are unscaled here;
the simulation scales them (``docs/theory.md``, "Weak form and scaling").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import ufl
from dolfinx import fem

from solver.domain import Domain

if TYPE_CHECKING:
    from solver.physics.salt import SaltTransport

__all__ = ["Contribution", "Fix", "Term", "Unknowns"]

#: (index of the potential block, UFL form): a term's share of one block's charge residual.
Contribution = tuple[int, Any]


@dataclass
class Fix:
    """A Dirichlet condition of a term.

    Attributes:
        block: Index of the unknown block: the potentials first, then the salt unknown.
        dofs: Local dofs of that block's space.
        value: The prescribed value (a float or a ``fem.Constant`` such as phi_s).
        w_value: The value of the phi_s-sensitivity w = du/dphi_s there (potential blocks).
    """

    block: int
    dofs: np.ndarray
    value: float | fem.Constant
    w_value: float = 0.0


class Term:
    """One term of the model (``docs/theory.md``); every hook defaults to "nothing".

    Attributes:
        blocks: Names of the unknown blocks the term touches (``Phi``, ``Phi_elyte``, ``c``,
            ``phi_s``).
        outputs: Names of the outputs (snapshot scalars or fields) it provides.
    """

    blocks: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    def charge(self, u: Unknowns, tests: Sequence[Any], etas: Sequence[Any]) -> list[Contribution]:
        """Contributions to the charge residuals (``tests[k]`` tests ``u.potentials[k]``).

        Args:
            u: The unknowns.
            tests: One test function (or any function: a reaction is the residual tested with
                an indicator) per potential block.
            etas: The overpotential phi_s - potential of each block (UFL variables, so that
                a rate law can be differentiated by them).
        """
        return []

    def salt_balance(self, u: Unknowns, q: Any) -> Any | None:
        """Contribution to the salt residual (``q`` tests the salt unknown), or None."""
        return None

    def d_charge(
        self, u: Unknowns, tests: Sequence[Any], etas: Sequence[Any]
    ) -> list[Contribution]:
        """Contributions to dR_Phi/dphi_s (the bordered Newton's sensitivity), by block."""
        return []

    def pattern(self, u: Unknowns, tests: Sequence[Any]) -> list[Contribution]:
        """Zero terms of the Newton residual that put entries into the Jacobian's pattern."""
        return []

    def dirichlet(self, u: Unknowns) -> list[Fix]:
        """The term's Dirichlet conditions."""
        return []

    def set_secants(self, value: float, galvanostatic: bool) -> None:
        """Prepare the continuation's linearised rate laws at the control value."""

    def overpotential_shift(self, u: Unknowns) -> Any | None:
        """A shift added to the overpotential eta of every Li-surface part (UFL), or None."""
        return None

    def update_geometry(self) -> None:
        """Refresh what the term derived from the mesh geometry (after the mesh moved)."""


class Unknowns:
    """The unknowns and symbols the terms' forms are written in.

    Args:
        domain: Measures and geometry.
        potentials: Phi, and Phi_elyte (the electrolyte's potential) with split potentials.
        phi_s: The Li potential (a scalar unknown or given).
        f: F/(R T), 1/V.

    Attributes:
        salt: The salt-transport term (its c, u = ln(c/c_bulk)), None without a salt balance.
        conductors: Region name -> the term giving the region's ionic current density.
        eta_shift: The sum of the terms' overpotential shifts at the Li surface (UFL), None
            without any (the surface energy's gamma V_m K / F).
    """

    def __init__(
        self, domain: Domain, potentials: list[fem.Function], phi_s: fem.Constant, f: float
    ):
        self.domain, self.potentials, self.phi_s, self.f = domain, potentials, phi_s, f
        self.salt: SaltTransport | None = None
        self.conductors: dict[str, Any] = {}
        self.eta_shift: Any | None = None

    @property
    def names(self) -> list[str]:
        """Names of the potential blocks: Phi (and Phi_elyte)."""
        return ["Phi", "Phi_elyte"][: len(self.potentials)]

    def block(self, region: str) -> int:
        """Index in ``potentials`` of the potential of a region (1: Phi_elyte when split)."""
        return 1 if len(self.potentials) > 1 and region == "electrolyte" else 0

    def potential(self, region: str) -> fem.Function:
        """The Li-reference potential unknown of a region: Phi, or Phi_elyte when split."""
        return self.potentials[self.block(region)]

    def eta(self, block: int) -> Any:
        """The overpotential at the Li surface of a block: phi_s - potential (+ eta_shift)."""
        eta = self.phi_s - self.potentials[block]
        return eta if self.eta_shift is None else eta + self.eta_shift

    def overpotential(self, region: str) -> Any:
        """The overpotential at the Li surface next to a region (see :meth:`eta`)."""
        return self.eta(self.block(region))

    def concentration(self, region: str) -> Any | None:
        """The concentration (UFL) in a region: c in a binary electrolyte, else None."""
        if self.salt is None or region != "electrolyte":
            return None
        return self.salt.c_expr

    def current_density(self, region: str) -> Any:
        """UFL ionic current density i (A/m^2) in a region."""
        return self.conductors[region].current_density(self)

    def boundary_dofs(self, block: int, parent_facets: np.ndarray, sub_tag: int) -> np.ndarray:
        """Local dofs of potentials[block] on a boundary.

        The facets are ``parent_facets`` of the mesh for Phi (block 0), or those tagged
        ``sub_tag`` on the electrolyte submesh for Phi_elyte (block 1).
        """
        d = self.domain
        facets = d.sub_facet_tags.find(sub_tag) if block == 1 else parent_facets
        space = self.potentials[block].function_space
        return fem.locate_dofs_topological(space, d.tdim - 1, facets)

    def li_dofs(self, block: int) -> np.ndarray:
        """Local dofs of potentials[block] on the Li-surface parts whose potential it is."""
        d = self.domain
        mine = [p.tag for p in d.parts if self.block(p.region) == block]
        empty = np.zeros(0, dtype=np.int32)
        parent = np.concatenate([empty] + [d.facet_tags.find(t) for t in mine])
        return self.boundary_dofs(block, parent, Domain.SUB_LI)

    def counter_dofs(self, block: int) -> np.ndarray:
        """Local dofs of potentials[block] on the counter boundary."""
        parent = self.domain.facet_tags.find(self.domain.tag("counter"))
        return self.boundary_dofs(block, parent, Domain.SUB_COUNTER)

    def tests(self) -> list[Any]:
        """One test function per potential block."""
        return [ufl.TestFunction(p.function_space) for p in self.potentials]
