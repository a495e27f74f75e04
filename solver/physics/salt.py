"""Binary (dilute or concentrated) salt transport in the electrolyte.

``docs/theory.md``, "Current density and fluxes", "Conservation laws" and "The salt unknown:
c or u = ln(c/c_bulk)". In the electrolyte the current density and the anion flux are

    i   = -kappa(c) grad(Phi) + kappa_D(c) grad(ln c)
    N_- = -D(c) grad(c) - (1 - t+) i / F

with charge and salt conservation div(i) = 0, dc/dt + div(N_-) = 0, tested with v and q on the
electrolyte submesh:

    R_Phi += int_e -i . grad(v) w dx
    R_c   += int_e (dc/dt q - N_- . grad(q)) w dx_e

The unknown is c itself or u = ln(c/c_bulk), with c = c_bulk exp(u) in every form.

On a moving mesh (``moving``, the growing Li surface) the salt balance is in ALE form with
test functions that move with the mesh: the BDF derivative of int c q w dx takes each history
level's mass on its own configuration, and the mesh velocity w_m carries c,

    R_c += int_e (a0 c + a1 c_n r_n + a2 c_{n-1} r_{n-1}) q w dx_e + int_e c w_m . grad(q) w dx_e

(r_k the volume ratio of the old configuration, solver.growth.coupling.MeshHistory), so that
q = 1 conserves the salt inventory exactly (docs/theory.md, "Moving Li surface").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import ufl
from dolfinx import fem

from solver.domain import Domain
from solver.physics.term import Contribution, Term, Unknowns
from solver.timestepping import BDF
from solver.transport import BinaryElectrolyte

if TYPE_CHECKING:
    from solver.growth.coupling import MeshHistory

__all__ = ["SaltTransport"]


class SaltTransport(Term):
    """The binary electrolyte: its charge balance and the salt balance.

    Args:
        electrolyte: The electrolyte's property laws.
        domain: The domain (its electrolyte submesh carries c).
        degree: Lagrange degree of c.
        bdf_order: Order of the BDF scheme of dc/dt.
        log_c: Whether the unknown is u = ln(c/c_bulk) (else c).

    Attributes:
        Q: The space of c on the electrolyte submesh.
        salt: The unknown (c, or u).
        c: A Function with the nodal concentrations (the unknown itself when it is c).
        c_expr: The concentration in the forms (c, or c_bulk exp(u)).
        bdf: The BDF history of the unknown.
    """

    region = "electrolyte"
    outputs = ("current_density", "field_strength", "concentration", "salt_inventory",
               "min_surface_concentration")

    def __init__(
        self,
        electrolyte: BinaryElectrolyte,
        domain: Domain,
        degree: int,
        bdf_order: int,
        log_c: bool,
    ):
        self.electrolyte, self.domain, self.bdf_order = electrolyte, domain, bdf_order
        self.c_bulk = electrolyte.c_bulk
        self.Q = fem.functionspace(domain.submesh, ("Lagrange", degree))
        dofs = fem.locate_dofs_topological(
            self.Q, domain.tdim - 1, domain.sub_facet_tags.find(Domain.SUB_INTERFACE)
        )
        #: Owned dofs of c on the interphase | electrolyte boundary (where Li+ leaves).
        self.interface_dofs = dofs[dofs < self.Q.dofmap.index_map.size_local]
        #: The displacement history of a moving mesh (None: the mesh does not move).
        self.moving: MeshHistory | None = None
        self.set_variable(log_c)

    @property
    def blocks(self) -> tuple[str, ...]:  # type: ignore[override]
        """The electrolyte's potential and the salt unknown."""
        return ("Phi_elyte" if self.domain.interface else "Phi", "u" if self.log_c else "c")

    @property
    def kappa_bulk(self) -> float:
        """kappa(c_bulk), S/m."""
        return self.electrolyte.bulk("kappa")

    def set_variable(self, log_c: bool) -> None:
        """Create the salt unknown at c = c_bulk: c itself, or u = ln(c/c_bulk)."""
        self.log_c = log_c
        self.c = fem.Function(self.Q, name="concentration")
        self.c.x.array[:] = self.c_bulk
        self.salt, self.c_expr = self.c, self.c
        if log_c:
            self.salt = fem.Function(self.Q, name="log_concentration")  # u = 0: c = c_bulk
            self.c_expr = self.concentration_of(self.salt)
        self.bdf = BDF(self.domain.submesh, [self.salt], order=self.bdf_order)

    def concentration_of(self, u: Any) -> Any:
        """The concentration (UFL) of the salt unknown or of one of its history levels."""
        return self.c_bulk * ufl.exp(u) if self.log_c else u

    def nodal_concentration(self, values: np.ndarray) -> np.ndarray:
        """Nodal concentrations from nodal values of the salt unknown."""
        return self.c_bulk * np.exp(values) if self.log_c else values

    def sync(self) -> None:
        """Nodal c from u = ln(c/c_bulk) (nothing to do when c is the unknown)."""
        if self.log_c:
            self.c.x.array[:] = self.nodal_concentration(self.salt.x.array)

    @property
    def bulk_value(self) -> float:
        """The unknown's value at c = c_bulk (0 for u)."""
        return 0.0 if self.log_c else self.c_bulk

    def current_density(self, u: Unknowns) -> Any:
        """The current density i = -kappa(c) grad(Phi) + kappa_D(c) grad(ln c) (UFL, A/m^2)."""
        return self.electrolyte.current_density(u.potential(self.region), self.c_expr)

    def electrostatic_potential(self, u: Unknowns) -> Any:
        """The electrostatic potential phi = Phi - (RT/F) ln(c/c_bulk)."""
        log_ratio = self.salt if self.log_c else ufl.ln(self.c / self.c_bulk)
        return u.potential(self.region) - log_ratio / u.f

    def charge(self, u: Unknowns, tests: Sequence[Any], etas: Sequence[Any]) -> list[Contribution]:
        """R_Phi += int_e -i . grad(v) w dx."""
        k, d = u.block(self.region), u.domain
        i = self.current_density(u)
        dx = d.dx(d.bundle.regions[self.region])
        return [(k, -ufl.dot(i, ufl.grad(tests[k])) * d.weight * dx)]

    def salt_balance(self, u: Unknowns, q: Any) -> Any:
        """R_c += int_e -N_- . grad(q) w dx_e (steady part)."""
        flux = self.electrolyte.anion_flux(u.potential(self.region), self.c_expr)
        if self.moving is not None:  # ALE: the mesh velocity carries c
            flux = flux - self.c_expr * self.moving.velocity(self.bdf.a1, self.bdf.a2)
        return -ufl.dot(flux, ufl.grad(q)) * self.domain.weight_e * self.domain.dx_e

    def storage(self, q: Any) -> Any:
        """R_c += int_e dc/dt q w dx_e (dc/dt by the BDF formula)."""
        d = self.domain
        if self.moving is None:
            return self.bdf.ddt(self.salt, self.concentration_of) * q * d.weight_e * d.dx_e
        bdf, g = self.bdf, self.concentration_of
        mass = bdf.a0 * g(self.salt) * d.weight_e
        for level, a in enumerate((bdf.a1, bdf.a2)[: bdf.order]):
            ratio = self.moving.volume_ratio(level, d.x_e)
            mass = mass + a * g(bdf.history(self.salt, level)) * ratio
        return mass * q * d.dx_e

    def bdf_coefficients(self) -> list[float]:
        """The BDF coefficients in the forms now (the Jacobian depends on a0)."""
        return [float(a.value) for a in (self.bdf.a0, self.bdf.a1, self.bdf.a2)]
