"""Electronic leakage through a metal-incorporated interphase: the 1D Li | MII | electrolyte stack.

The interphase (thickness h) carries the plating current J on two parallel paths
(docs/theory.md, "Electronic leakage", in one dimension):

- ionic: Li+ crosses the interphase (σ_i) and is reduced at the Li surface with Butler–Volmer
  kinetics, η(J_i) = (2RT/F) asinh(J_i / (2 i0)) (α_a = α_c = 1/2), so the Li surface lies
  ΔV = η(J_i) + J_i h / σ_i below the interphase's outer face;
- electronic: electrons cross the interphase (σ_e) to its outer face, where Li+ is reduced at
  equilibrium (as in lidep's leakage post-processing): j_e = σ_e ΔV / h.

With J = J_i + j_e the split follows from one monotone equation in j_e (Brent's method).
For σ_e h⁻¹ much smaller than the ionic path's conductance, j_e = σ_e ΔV(J) / h, the value
lidep's post-processing reports for a uniform layer; for a percolating metal j_e -> J.

The charge of j_e during a plating half-cycle of duration t_p deposits Li outside the
interphase (or reduces the electrolyte): taken as lost for the next stripping, it is a
thickness δ = j_e t_p V_m / F of Li per cycle (V_m: molar volume of Li), and a Li reservoir of
thickness L_Li lasts L_Li / δ cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize

from solver.constants import FARADAY, GAS_CONSTANT

__all__ = ["LeakagePoint", "Stack"]


@dataclass(frozen=True)
class LeakagePoint:
    """The stack's response at one metal fraction (SI units).

    Attributes:
        leakage_current: j_e, A/m^2.
        leakage_fraction: j_e / J.
        li_loss_per_cycle: δ, m of Li per cycle.
        cycles_to_depletion: L_Li / δ (inf when δ = 0).
    """

    leakage_current: float
    leakage_fraction: float
    li_loss_per_cycle: float
    cycles_to_depletion: float


@dataclass(frozen=True)
class Stack:
    """A Li | MII | electrolyte stack under galvanostatic plating (SI units).

    Attributes:
        thickness: h, m.
        current_density: J, A/m^2 (> 0, plating).
        exchange_current_density: i0 at the Li | interphase surface, A/m^2.
        temperature: T, K.
        plating_time: t_p, the plating half-cycle, s.
        molar_volume: V_m of Li, m^3/mol.
        reservoir: L_Li, the Li that can be lost before depletion, m.
    """

    thickness: float
    current_density: float
    exchange_current_density: float
    temperature: float
    plating_time: float
    molar_volume: float
    reservoir: float

    def ionic_drop(self, ionic_current: float, ionic_conductivity: float) -> float:
        """ΔV of the ionic path carrying ``ionic_current`` (A/m^2), V."""
        rt_over_f = GAS_CONSTANT * self.temperature / FARADAY
        eta = 2.0 * rt_over_f * math.asinh(ionic_current / (2.0 * self.exchange_current_density))
        return eta + ionic_current * self.thickness / ionic_conductivity

    def leakage(self, electronic_conductivity: float, ionic_conductivity: float) -> LeakagePoint:
        """Split J between the two paths and evaluate the Li loss.

        Args:
            electronic_conductivity: σ_e of the interphase, S/m (>= 0).
            ionic_conductivity: σ_i of the interphase, S/m (> 0).
        """
        j = self.current_density
        conductance = electronic_conductivity / self.thickness
        if conductance == 0.0:
            j_e = 0.0
        else:
            def mismatch(j_e: float) -> float:
                return conductance * self.ionic_drop(j - j_e, ionic_conductivity) - j_e
            j_e = optimize.brentq(mismatch, 0.0, j, xtol=1e-300, rtol=1e-14)
        loss = j_e * self.plating_time * self.molar_volume / FARADAY
        cycles = self.reservoir / loss if loss > 0.0 else math.inf
        return LeakagePoint(j_e, j_e / j, loss, cycles)
