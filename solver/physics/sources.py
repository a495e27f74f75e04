"""Manufactured source terms (verification only; ``docs/theory.md``, "Verification").

Callables of the spatial coordinate returning UFL sources:

    "charge"    f   (A/m^3):       div i = f              R_Phi += int -f v w dx
    "li_charge" g   (A/m^2):       i.n = j + g on li      R_Phi += int_li g v w ds
    "salt"      f_c (mol/(m^3 s)): added to the salt balance   R_c += int_e -f_c q w dx_e
    "li_salt"   h   (mol/(m^2 s)): N_-.n = h on bare li   R_c += int_li h q w ds_e
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ufl

from solver.domain import Domain
from solver.physics.term import Contribution, Term, Unknowns

__all__ = ["ManufacturedSources"]

KEYS = ("charge", "salt", "li_charge", "li_salt")


class ManufacturedSources(Term):
    """The source terms of a manufactured solution.

    Args:
        sources: Key (``KEYS``) -> callable of the spatial coordinate.

    Raises:
        ValueError: An unknown key.
    """

    blocks = ("Phi", "Phi_elyte", "c")

    def __init__(self, sources: Mapping[str, Callable[[Any], Any]]):
        unknown = sorted(set(sources) - set(KEYS))
        if unknown:
            raise ValueError(f"sources: unknown key(s) {unknown}")
        self.sources = dict(sources)

    def charge(self, u: Unknowns, tests: Sequence[Any], etas: Sequence[Any]) -> list[Contribution]:
        """-f in every region, g on every Li-surface part."""
        d, src, out = u.domain, self.sources, []
        if "charge" in src:
            for name, tag in d.bundle.regions.items():
                k = u.block(name)
                out.append((k, -src["charge"](d.x) * tests[k] * d.weight * d.dx(tag)))
        if "li_charge" in src:
            for part in d.parts:
                k = u.block(part.region)
                out.append((k, src["li_charge"](d.x) * tests[k] * d.weight * d.ds(part.tag)))
        return out

    def salt_balance(self, u: Unknowns, q: Any) -> Any | None:
        """-f_c in the electrolyte, h on the bare Li surface."""
        d, src, out = u.domain, self.sources, None
        if "salt" not in src and "li_salt" not in src:
            return None
        xs = ufl.SpatialCoordinate(d.submesh)
        out = 0
        if "salt" in src:
            out += -src["salt"](xs) * q * d.weight_e * d.dx_e
        if "li_salt" in src:
            out += src["li_salt"](xs) * q * d.weight_e * d.ds_e(Domain.SUB_LI)
        return out
