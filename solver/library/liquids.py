"""Liquid carbonate electrolyte: LiPF6 in EC:EMC (3:7), Valøen & Reimers (2005).

The correlations take the salt concentration ``c`` in mol/m^3 and the temperature ``T`` in K
and return SI values (the published ones are in mol/L, S/cm and cm^2/s; the factors 1000,
0.1 and 1e-4 convert them).
"""

from __future__ import annotations

from solver.library.records import Material, Parameter
from solver.library.sources import VALOEN_2005

__all__ = ["MATERIALS"]

_KAPPA = (
    "0.1 * (c/1000) * (-10.5 + 0.668*(c/1000) + 0.494*(c/1000)**2 + 0.074*T - 0.0178*(c/1000)*T"
    " - 8.86e-4*(c/1000)**2*T - 6.96e-5*T**2 + 2.8e-5*(c/1000)*T**2)**2"
)
_DIFFUSIVITY = "1e-4 * 10**(-4.43 - 54/(T - 229 - 5*(c/1000)) - 0.22*(c/1000))"
_THERMODYNAMIC_FACTOR = (
    "(0.601 - 0.24*sqrt(c/1000) + 0.982*(1 - 0.0052*(T - 294))*(c/1000)**1.5) / (1 - 0.38)"
)

_ONE_MOLAR = Parameter(
    1000.0, "mol/m^3", VALOEN_2005, "assumption",
    "1 M, the usual salt content and within the range of the correlations.",
)
_T_PLUS = Parameter(0.38, "1", VALOEN_2005, "literature", "Taken constant.")

MATERIALS: tuple[Material, ...] = (
    Material(
        "LiPF6_EC_EMC_dilute",
        "dilute",
        "Dilute-solution approximation of 1 M LiPF6 in EC:EMC (3:7); kappa follows from the "
        "dilute relation (overestimates the measured ~1 S/m).",
        parameters={
            "bulk_concentration": _ONE_MOLAR,
            "diffusivity": Parameter(
                3.0e-10, "m^2/s", VALOEN_2005, "literature",
                "D(1 M, 25 C) of the correlation (3.2e-10 m^2/s), rounded.",
            ),
            "transference_number": _T_PLUS,
        },
    ),
    Material(
        "LiPF6_EC_EMC_Valoen2005",
        "concentrated",
        "Concentrated-solution correlations of 1 M LiPF6 in EC:EMC (3:7): kappa(c, T), "
        "D(c, T), thermodynamic factor(c, T), t+ = 0.38.",
        parameters={
            "bulk_concentration": _ONE_MOLAR,
            "conductivity": Parameter(_KAPPA, "S/m", VALOEN_2005, "literature",
                                      "The paper's kappa(c, T) correlation."),
            "diffusivity": Parameter(_DIFFUSIVITY, "m^2/s", VALOEN_2005, "literature",
                                     "The paper's D(c, T) correlation."),
            "transference_number": _T_PLUS,
            "thermodynamic_factor": Parameter(
                _THERMODYNAMIC_FACTOR, "1", VALOEN_2005, "literature",
                "1 + dln f/dln c from the measured (1 - t+)(1 + dln f/dln c), with t+ = 0.38.",
            ),
        },
    ),
)
"""The records of this module, in table order."""
