r"""Dilute-solution (Nernst–Einstein) relations of a binary 1:1 salt: their one home.

A salt at concentration :math:`c` and temperature :math:`T` whose ions diffuse with
:math:`D_+` and :math:`D_-` (``docs/theory.md``, dilute binary electrolyte) has

* salt diffusivity :math:`D = 2 D_+ D_- / (D_+ + D_-)`,
* transference number :math:`t_+ = D_+ / (D_+ + D_-)`,
* conductivity :math:`\kappa = F^2 c\,(D_+ + D_-) / (R T)`, i.e. a molar conductivity
  :math:`\Lambda = \kappa / c = F^2 (D_+ + D_-) / (R T)` independent of :math:`c`.

Conversely :math:`t_+` and one of :math:`D` or :math:`\kappa` give the ionic diffusivities:
:math:`D_+ + D_- = D / (2 t_+ (1 - t_+)) = \kappa R T / (F^2 c)`, :math:`D_+ = t_+ (D_+ + D_-)`,
:math:`D_- = (1 - t_+)(D_+ + D_-)`. (:math:`D` and :math:`\kappa` alone fix only
:math:`t_+ (1 - t_+)`, so :math:`t_+` and :math:`1 - t_+` would fit equally.)

:class:`DiluteSalt` holds the relations; :func:`dilute_ionic_diffusivities` reads a dilute
electrolyte section with them (and checks an over-specified one); the electrolyte model
(``solver.transport``) and the parameter library (``solver.library``) use them. Numbers only:
nothing here imports UFL or the config models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from solver.constants import FARADAY, GAS_CONSTANT

if TYPE_CHECKING:
    from solver.model_spec import DiluteElectrolyte

__all__ = ["DILUTE_CONSISTENCY_RTOL", "DiluteSalt", "dilute_ionic_diffusivities"]

#: Relative tolerance of the dilute-solution consistency check of over-specified parameters.
DILUTE_CONSISTENCY_RTOL = 0.02


def _conductivity_per_diffusivity(concentration: float, temperature: float) -> float:
    """The ratio kappa / (D+ + D-) = F^2 c / (R T), S s/m^3."""
    return FARADAY**2 * concentration / (GAS_CONSTANT * temperature)


@dataclass(frozen=True)
class DiluteSalt:
    """A binary 1:1 salt in dilute solution, given by its ionic diffusivities.

    Attributes:
        cation_diffusivity: D+, m^2/s.
        anion_diffusivity: D-, m^2/s.
    """

    cation_diffusivity: float
    anion_diffusivity: float

    @classmethod
    def from_sum(cls, total: float, transference_number: float) -> DiluteSalt:
        """The salt with D+ + D- = ``total`` (m^2/s) and D+ / (D+ + D-) = t+."""
        return cls(transference_number * total, (1.0 - transference_number) * total)

    @classmethod
    def from_salt_diffusivity(cls, diffusivity: float, transference_number: float) -> DiluteSalt:
        """The salt of salt diffusivity D (m^2/s) and t+: D+ + D- = D / (2 t+ (1 - t+))."""
        t_plus = transference_number
        return cls.from_sum(diffusivity / (2.0 * t_plus * (1.0 - t_plus)), t_plus)

    @classmethod
    def from_conductivity(
        cls, conductivity: float, transference_number: float, concentration: float,
        temperature: float,
    ) -> DiluteSalt:
        """The salt of conductivity kappa (S/m) at c (mol/m^3) and T (K), with t+.

        D+ + D- = kappa R T / (F^2 c).
        """
        total = conductivity / _conductivity_per_diffusivity(concentration, temperature)
        return cls.from_sum(total, transference_number)

    @property
    def diffusivity(self) -> float:
        """Salt diffusivity D = 2 D+ D- / (D+ + D-), m^2/s."""
        dp, dm = self.cation_diffusivity, self.anion_diffusivity
        return 2.0 * dp * dm / (dp + dm)

    @property
    def transference_number(self) -> float:
        """t+ = D+ / (D+ + D-)."""
        return self.cation_diffusivity / (self.cation_diffusivity + self.anion_diffusivity)

    def molar_conductivity(self, temperature: float) -> float:
        """Lambda = kappa / c = F^2 (D+ + D-) / (R T) at T (K), S m^2/mol."""
        total = self.cation_diffusivity + self.anion_diffusivity
        return FARADAY**2 * total / (GAS_CONSTANT * temperature)

    def conductivity(self, concentration: float, temperature: float) -> float:
        """Conductivity kappa = F^2 c (D+ + D-) / (R T) at c (mol/m^3) and T (K), S/m."""
        total = self.cation_diffusivity + self.anion_diffusivity
        return _conductivity_per_diffusivity(concentration, temperature) * total


def dilute_ionic_diffusivities(cfg: DiluteElectrolyte, temperature: float) -> tuple[float, float]:
    """Ionic diffusivities (D+, D-) at the reference temperature from a dilute parameter set.

    Accepts (D+, D-) or two or three of (D, t+, kappa at c_bulk); every given key beyond what
    determines (D+, D-) is checked against the dilute relations within
    :data:`DILUTE_CONSISTENCY_RTOL`.

    Args:
        cfg: The dilute electrolyte section.
        temperature: The temperature of its values (the reference temperature), K.

    Raises:
        ValueError: Under-specified set, or the name of the key that disagrees.
    """
    dp, dm = cfg.cation_diffusivity, cfg.anion_diffusivity
    if (dp is None) != (dm is None):
        raise ValueError(
            "electrolyte: give both cation_diffusivity and anion_diffusivity, or neither"
        )
    if dp is not None:
        salt = DiluteSalt(dp, dm)
    else:
        given = {
            k: getattr(cfg, k)
            for k in ("diffusivity", "transference_number", "conductivity")
            if getattr(cfg, k) is not None
        }
        if len(given) < 2:
            raise ValueError(
                "electrolyte: a dilute electrolyte needs (cation_diffusivity, anion_diffusivity) "
                "or two of (diffusivity, transference_number, conductivity); got "
                f"{sorted(given) or 'none'}"
            )
        d, tp, kappa = cfg.diffusivity, cfg.transference_number, cfg.conductivity
        if tp is None:  # (D, kappa) give t+ (1 - t+) only: two roots
            raise ValueError(
                "electrolyte: (diffusivity, conductivity) leave t+ ambiguous in dilute theory "
                "(t+ and 1 - t+ fit equally); give transference_number"
            )
        salt = (DiluteSalt.from_salt_diffusivity(d, tp) if d is not None
                else DiluteSalt.from_conductivity(kappa, tp, cfg.bulk_concentration, temperature))
    derived = {
        "diffusivity": salt.diffusivity,
        "transference_number": salt.transference_number,
        "conductivity": salt.conductivity(cfg.bulk_concentration, temperature),
    }
    for key, expected in derived.items():
        value = getattr(cfg, key)
        if value is not None and abs(value - expected) > DILUTE_CONSISTENCY_RTOL * abs(expected):
            raise ValueError(
                f"electrolyte.{key}: {value:.6g} disagrees with the dilute-solution value "
                f"{expected:.6g} implied by the other parameters "
                f"(tolerance {DILUTE_CONSISTENCY_RTOL:.0%})"
            )
    return salt.cation_diffusivity, salt.anion_diffusivity
