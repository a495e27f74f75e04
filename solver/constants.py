"""Physical constants (SI, CODATA 2018 exact values) and the Arrhenius factor."""

import math

FARADAY = 96485.33212
"""Faraday constant F, C/mol."""

GAS_CONSTANT = 8.314462618
"""Molar gas constant R, J/(mol K)."""


def arrhenius(activation_energy: float, temperature: float, reference_temperature: float) -> float:
    """Arrhenius factor exp(-E_a/R (1/T - 1/T_ref)) of a property given at T_ref."""
    return math.exp(
        -activation_energy / GAS_CONSTANT * (1.0 / temperature - 1.0 / reference_temperature)
    )
