"""Butler–Volmer family of Li | ionic-phase rate laws in UFL.

Sign convention (``docs/theory.md``): the overpotential is eta = phi_s - Phi, with phi_s the
potential of the Li metal and Phi that of a Li reference electrode in the adjacent ionic phase;
the anodic (stripping) current i_BV(eta) is positive for eta > 0, and the normal Faradaic
current density into the Li, positive for plating, is j = -i_BV(eta).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ufl

from solver.constants import FARADAY, GAS_CONSTANT, arrhenius
from solver.dimensionless import charge_transfer_resistance as regime_resistance

if TYPE_CHECKING:
    from solver.model_spec import KineticsConfig

__all__ = ["C_FLOOR_FRACTION", "Kinetics", "charge_transfer_resistance"]

#: c_s is floored at this fraction of c_ref inside (c_s/c_ref)^alpha_a, so that a Newton iterate
#: with c_s <= 0 (near depletion) stays finite; it does not alter any converged c_s above it.
C_FLOOR_FRACTION = 1e-8


@dataclass
class Kinetics:
    """A rate law with temperature-corrected exchange current density.

    Attributes:
        model: ``"butler_volmer"``, ``"linear"``, ``"tafel"`` or ``"primary"``.
        i0: Exchange current density i0_ref at T (Arrhenius-corrected), A/m^2.
        alpha_a: Anodic transfer coefficient.
        alpha_c: Cathodic transfer coefficient.
        temperature: T, K.
        c_ref: Reference concentration of the concentration dependence, mol/m^3 (None: none).
    """

    model: str
    i0: float
    alpha_a: float
    alpha_c: float
    temperature: float
    c_ref: float | None = None

    @classmethod
    def from_config(
        cls,
        cfg: KineticsConfig,
        temperature: float,
        reference_temperature: float,
        c_ref: float | None,
    ) -> Kinetics:
        """Kinetics of a config section at temperature T.

        ``c_ref`` is the default reference concentration (electrolyte bulk) used when the
        adjacent phase is a binary electrolyte, else None.
        """
        if c_ref is not None and cfg.reference_concentration is not None:
            c_ref = cfg.reference_concentration
        i0 = cfg.exchange_current_density * arrhenius(
            cfg.activation_energy, temperature, reference_temperature
        )
        return cls(cfg.model, i0, cfg.alpha_a, cfg.alpha_c, temperature, c_ref)

    @property
    def f(self) -> float:
        """F/(R T), 1/V."""
        return FARADAY / (GAS_CONSTANT * self.temperature)

    def exchange_current(self, c_s: object | None = None) -> object:
        """i0 (c_s/c_ref)^alpha_a against a binary electrolyte, i0 otherwise."""
        if c_s is None or self.c_ref is None:
            return self.i0
        ratio = ufl.max_value(c_s / self.c_ref, C_FLOOR_FRACTION)
        return self.i0 * ratio**self.alpha_a

    def anodic_current(
        self, eta: object, c_s: object | None = None, exp: Callable[[object], object] = ufl.exp
    ) -> object:
        """i_BV(eta) (A/m^2, positive anodic / stripping) as UFL (as a float with ``math.exp``)."""
        i0, f = self.exchange_current(c_s), self.f
        if self.model == "butler_volmer":
            return i0 * (exp(self.alpha_a * f * eta) - exp(-self.alpha_c * f * eta))
        if self.model == "linear":
            return i0 * (self.alpha_a + self.alpha_c) * f * eta
        if self.model == "tafel":
            return -i0 * exp(-self.alpha_c * f * eta)
        raise ValueError(f"kinetics.model: '{self.model}' has no rate expression (Dirichlet limit)")

    def plating_current(self, eta: object, c_s: object | None = None) -> object:
        """J = -i_BV(eta): normal Faradaic current density into the Li, plating positive."""
        return -self.anodic_current(eta, c_s)

    def overpotential(self, j: float) -> float | None:
        """The uniform overpotential eta (V) at which plating_current(eta) = j, at c_ref.

        Returns None when no eta gives j (the Tafel branch cannot strip) or |eta| > 10 V.
        """
        from scipy.optimize import brentq  # here: 0.1 s of import that most runs never need

        def excess(eta: float) -> float:
            return -float(self.anodic_current(eta, exp=math.exp)) - j

        if excess(0.0) == 0.0:
            return 0.0
        direction = -1.0 if excess(0.0) < 0.0 else 1.0  # plating more needs eta lower
        eta = direction / self.f
        while abs(eta) <= 10.0:
            if excess(eta) * excess(0.0) <= 0.0:
                return float(brentq(excess, min(0.0, eta), max(0.0, eta), xtol=1e-14, rtol=1e-12))
            eta *= 2.0
        return None

    def secant_factor(self, eta: float | None) -> float:
        """i_BV(eta) over the linearised law at eta (the secant over the tangent slope).

        Scaling the linearised law by it makes it pass through the rate law at eta; 1 for
        eta = 0 or None, and for the linear law itself.
        """
        if eta is None or eta == 0.0 or self.model == "linear":
            return 1.0
        linear = self.i0 * (self.alpha_a + self.alpha_c) * self.f * eta
        return float(self.anodic_current(eta, exp=math.exp)) / linear

    @property
    def charge_transfer_resistance(self) -> float:
        """R_ct = R T / ((alpha_a + alpha_c) F i0), ohm m^2 (linear regime, at c_ref)."""
        return charge_transfer_resistance(self.i0, self.alpha_a, self.alpha_c, self.temperature)


def charge_transfer_resistance(
    i0: float, alpha_a: float, alpha_c: float, temperature: float
) -> float:
    """R_ct = R T / ((alpha_a + alpha_c) F i0), ohm m^2 (linear regime).

    The linear-regime value of :func:`solver.dimensionless.charge_transfer_resistance`, the
    one home of the formula.
    """
    return regime_resistance(i0, alpha_a, alpha_c, temperature)[0]
