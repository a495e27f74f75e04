r"""Dimensionless numbers that place a run in its regime (SI inputs, pure functions).

* Charge-transfer resistance (area-specific, Ω m²), the slope dη/dJ of the kinetics:
  linear regime :math:`R_{ct} = RT / ((\alpha_a + \alpha_c) F i_0)`;
  Tafel regime :math:`R_{ct} = RT / (\alpha_c F |J|)`.
  :func:`charge_transfer_resistance` returns the smaller of the two, i.e. the linear value for
  :math:`|J| < (\alpha_a + \alpha_c) i_0 / \alpha_c` and the Tafel value above, and names the
  regime it used. Li-surface parts with their own kinetics (bare Li, each interphase region)
  act in parallel, weighted by their area fractions :math:`f_k`:
  :math:`1/R_{ct} = \sum_k f_k / R_{ct,k}` (:func:`parallel_charge_transfer_resistance`).
* Wagner number :math:`Wa = \kappa R_{ct} / \ell` and, with the interphase layers in series,
  :math:`Wa_{int} = \kappa (R_{ct} + \sum_k h_k / \sigma_k + R_{it}) / \ell` (R_it: the
  interfacial ion-transfer resistance at the interphase | electrolyte boundary; ℓ: the length
  of the feature whose current distribution matters, e.g. a protrusion radius; Wa >> 1:
  uniform, kinetically controlled; Wa << 1: primary, geometry controlled).
* Limiting current of a binary electrolyte,
  :math:`J_{lim} = F D c_{bulk} / ((1 - t_+) L)` with a reservoir at distance L, and twice that,
  :math:`2 F D c_{bulk} / ((1 - t_+) L)`, in a closed symmetric Li | Li cell of length L.
* Sand's time of a semi-infinite binary electrolyte at constant current density J,
  :math:`t_{Sand} = \pi D (c_{bulk} F)^2 / (4 (J (1 - t_+))^2)`.

For a single-ion conductor (t+ = 1) there is no concentration polarisation: J_lim and t_Sand
are infinite and J/J_lim = t/t_Sand = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from solver.constants import FARADAY, GAS_CONSTANT

__all__ = [
    "DimensionlessNumbers",
    "charge_transfer_resistance",
    "dimensionless_numbers",
    "interphase_resistance",
    "limiting_current",
    "parallel_charge_transfer_resistance",
    "sand_time",
    "wagner_number",
]


Regime = Literal["linear", "tafel"]
CellKind = Literal["reservoir", "symmetric"]


def charge_transfer_resistance(
    i0: float, alpha_a: float, alpha_c: float, temperature: float, current_density: float = 0.0
) -> tuple[float, Regime]:
    """Area-specific charge-transfer resistance dη/dJ of Butler-Volmer kinetics, Ω m².

    Args:
        i0: Exchange current density, A/m^2 (> 0).
        alpha_a: Anodic transfer coefficient.
        alpha_c: Cathodic transfer coefficient.
        temperature: T, K.
        current_density: Operating current density J, A/m^2 (sign ignored).

    Returns:
        (R_ct, regime): the linear value RT/((alpha_a + alpha_c) F i0) where it is the smaller,
        else the Tafel value RT/(alpha_c F |J|), and ``"linear"`` or ``"tafel"``.
    """
    if i0 <= 0.0:
        raise ValueError(f"exchange current density i0 must be positive, got {i0}")
    if alpha_a < 0.0 or alpha_c <= 0.0:
        raise ValueError(f"need alpha_a >= 0 and alpha_c > 0, got {alpha_a}, {alpha_c}")
    rt_over_f = GAS_CONSTANT * temperature / FARADAY
    r_linear = rt_over_f / ((alpha_a + alpha_c) * i0)
    if current_density == 0.0:
        return r_linear, "linear"
    r_tafel = rt_over_f / (alpha_c * abs(current_density))
    return (r_linear, "linear") if r_linear <= r_tafel else (r_tafel, "tafel")


def parallel_charge_transfer_resistance(
    parts: Sequence[tuple[float, float, float, float]], temperature: float,
    current_density: float = 0.0,
) -> tuple[float, Regime]:
    """R_ct of Li-surface parts in parallel, area-weighted: 1/R_ct = sum_k f_k / R_ct,k.

    Each part (area fraction f_k of the Li surface, its own kinetics) is taken to carry the
    mean current density J (its regime is judged at J); a part with infinite i0 (primary
    kinetics) makes R_ct zero.

    Args:
        parts: (f_k, i0_k in A/m^2, alpha_a_k, alpha_c_k) per part; the f_k sum to 1.
        temperature: T, K.
        current_density: J, A/m^2.

    Returns:
        (R_ct in Ω m², the regime of the part with the largest share of the conductance).
    """
    shares = []
    for fraction, i0, alpha_a, alpha_c in parts:
        r, regime = charge_transfer_resistance(i0, alpha_a, alpha_c, temperature,
                                               current_density)
        if fraction <= 0.0:
            continue  # no area: carries no current
        if r == 0.0:
            return 0.0, regime
        shares.append((fraction / r, regime))
    conductance = sum(g for g, _ in shares)
    if not conductance > 0.0:
        raise ValueError(f"need parts with a positive area fraction, got {list(parts)}")
    return 1.0 / conductance, max(shares, key=lambda share: share[0])[1]


def interphase_resistance(layers: Sequence[tuple[float, float]]) -> float:
    """Series area-specific resistance sum(h_k / sigma_k) of interphase layers, Ω m².

    Args:
        layers: (thickness h_k in m, ionic conductivity sigma_k in S/m) per layer.
    """
    total = 0.0
    for h, sigma in layers:
        if h < 0.0 or sigma <= 0.0:
            raise ValueError(f"need layer thickness >= 0 and conductivity > 0, got {h}, {sigma}")
        total += h / sigma
    return total


def wagner_number(kappa: float, resistance: float, length: float) -> float:
    """Wagner number kappa * R / length (R: area-specific resistance in Ω m²).

    Args:
        kappa: Ionic conductivity of the electrolyte, S/m.
        resistance: R_ct (or R_ct + sum h/sigma), Ω m².
        length: Characteristic length ℓ of the current distribution, m.
    """
    if length <= 0.0:
        raise ValueError(f"characteristic length must be positive, got {length}")
    return kappa * resistance / length


def limiting_current(
    D: float, c_bulk: float, t_plus: float, L: float, cell: CellKind = "reservoir"
) -> float:
    """Limiting current density of a binary electrolyte layer of length L, A/m^2.

    Args:
        D: Salt diffusivity, m^2/s.
        c_bulk: Bulk (initial) salt concentration, mol/m^3.
        t_plus: Cation transference number (1 gives ``math.inf``).
        L: Distance from the Li surface to the counter boundary, m.
        cell: ``"reservoir"`` (c = c_bulk at L): F D c/((1 - t+) L); ``"symmetric"`` (closed
            Li | Li cell, salt conserved): 2 F D c/((1 - t+) L).
    """
    if cell not in ("reservoir", "symmetric"):
        raise ValueError(f"cell must be 'reservoir' or 'symmetric', got {cell!r}")
    if t_plus >= 1.0:
        return math.inf
    factor = 2.0 if cell == "symmetric" else 1.0
    return factor * FARADAY * D * c_bulk / ((1.0 - t_plus) * L)


def sand_time(D: float, c_bulk: float, current_density: float, t_plus: float) -> float:
    """Sand's time pi D (c_bulk F)^2 / (4 (J (1 - t+))^2) of a semi-infinite electrolyte, s.

    Returns ``math.inf`` at zero current or for t+ = 1.
    """
    flux = abs(current_density) * (1.0 - t_plus)
    if flux == 0.0:
        return math.inf
    return math.pi * D * (c_bulk * FARADAY) ** 2 / (4.0 * flux**2)


@dataclass(frozen=True)
class DimensionlessNumbers:
    """The numbers every run reports, and which kinetic regime R_ct was taken from.

    Attributes:
        wagner: kappa R_ct / ℓ.
        wagner_with_interphase: kappa (R_ct + sum h/sigma + R_it) / ℓ.
        i_over_ilim: |J| / J_lim (0 for t+ = 1).
        t_over_sand: t / t_Sand (0 at zero current or t+ = 1).
        regime: ``"linear"`` or ``"tafel"`` (see :func:`charge_transfer_resistance`).
        charge_transfer_resistance: R_ct, Ω m².
    """

    wagner: float
    wagner_with_interphase: float
    i_over_ilim: float
    t_over_sand: float
    regime: Regime
    charge_transfer_resistance: float

    def as_dict(self) -> dict[str, float]:
        """The four numbers under the keys of ``Snapshot.dimensionless``."""
        return {
            "wagner": self.wagner,
            "wagner_with_interphase": self.wagner_with_interphase,
            "i_over_ilim": self.i_over_ilim,
            "t_over_sand": self.t_over_sand,
        }


def dimensionless_numbers(
    *,
    kappa: float,
    length: float,
    i0: float | None = None,
    alpha_a: float | None = None,
    alpha_c: float | None = None,
    temperature: float,
    current_density: float,
    t: float = 0.0,
    layers: Sequence[tuple[float, float]] = (),
    transfer_resistance: float = 0.0,
    D: float | None = None,
    c_bulk: float | None = None,
    t_plus: float = 1.0,
    L: float | None = None,
    cell: CellKind = "reservoir",
    surface_parts: Sequence[tuple[float, float, float, float]] = (),
) -> DimensionlessNumbers:
    """All numbers of a run at time t (binary-electrolyte inputs D, c_bulk, L may be None).

    Args:
        kappa: Electrolyte conductivity (sigma of a single-ion conductor), S/m.
        length: Characteristic length ℓ, m.
        i0: Exchange current density, A/m^2 (one surface part; see ``surface_parts``).
        alpha_a: Anodic transfer coefficient (one surface part).
        alpha_c: Cathodic transfer coefficient (one surface part).
        temperature: T, K.
        current_density: Mean applied current density J, A/m^2.
        t: Time, s.
        layers: (h_k, sigma_k) of the interphase layers in series, (m, S/m).
        transfer_resistance: Interfacial ion-transfer resistance R_it in series with the
            layers (per Li area), Ω m².
        D: Salt diffusivity, m^2/s (None for a single-ion conductor).
        c_bulk: Bulk salt concentration, mol/m^3.
        t_plus: Cation transference number (1: single-ion conductor).
        L: Li surface to counter distance, m.
        cell: ``"reservoir"`` or ``"symmetric"`` counter (see :func:`limiting_current`).
        surface_parts: (area fraction, i0, alpha_a, alpha_c) of the Li-surface parts that
            carry the current, in parallel (:func:`parallel_charge_transfer_resistance`);
            empty: one part with ``i0``, ``alpha_a``, ``alpha_c``.
    """
    if not surface_parts and None in (i0, alpha_a, alpha_c):
        raise ValueError("give i0, alpha_a and alpha_c, or surface_parts")
    parts = surface_parts or [(1.0, i0, alpha_a, alpha_c)]
    r_ct, regime = parallel_charge_transfer_resistance(parts, temperature, current_density)
    binary = t_plus < 1.0
    if binary and (D is None or c_bulk is None or L is None):
        raise ValueError("a binary electrolyte (t_plus < 1) needs D, c_bulk and L")
    j_lim = limiting_current(D, c_bulk, t_plus, L, cell) if binary else math.inf
    t_sand = sand_time(D, c_bulk, current_density, t_plus) if binary else math.inf
    return DimensionlessNumbers(
        wagner=wagner_number(kappa, r_ct, length),
        wagner_with_interphase=wagner_number(
            kappa, r_ct + interphase_resistance(layers) + transfer_resistance, length
        ),
        i_over_ilim=abs(current_density) / j_lim,
        t_over_sand=t / t_sand,
        regime=regime,
        charge_transfer_resistance=r_ct,
    )
