"""Library of material parameter sets.

Each record holds config-ready values (SI, the key names of the corresponding section of
``solver.model_spec``) and a citation. A config names a record with ``material: <name>``; keys
given next to it override the record's values. The unit-suffixed attribute names follow
PyBaMM's parameter-set style (``conductivity_S_m``) so that a reader sees the unit at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["LIBRARY", "T_REF", "Material", "get", "names"]

#: Reference temperature of the Arrhenius factors and of every tabulated value, K.
T_REF = 298.15

MaterialKind = Literal["single_ion", "dilute", "concentrated", "interphase"]


@dataclass(frozen=True)
class Material:
    """A named parameter set.

    Attributes:
        name: Library name used in configs.
        kind: Which config section it fills: an electrolyte ``type`` or ``"interphase"``.
        parameters: Config key -> SI value (or expression / table dict for concentrated ones).
        citation: Source of the values.
        note: What the values represent and their uncertainty.
    """

    name: str
    kind: MaterialKind
    parameters: dict[str, object] = field(default_factory=dict)
    citation: str = ""
    note: str = ""

    def values(self) -> dict[str, object]:
        """Config keys and values this record supplies (including the electrolyte ``type``)."""
        base: dict[str, object] = {} if self.kind == "interphase" else {"type": self.kind}
        return {**base, **self.parameters}


# Valøen & Reimers (2005) correlations for LiPF6 in EC:EMC (3:7), c in mol/m^3, T in K, SI output.
_VALOEN_KAPPA = (
    "0.1 * (c/1000) * (-10.5 + 0.668*(c/1000) + 0.494*(c/1000)**2 + 0.074*T - 0.0178*(c/1000)*T"
    " - 8.86e-4*(c/1000)**2*T - 6.96e-5*T**2 + 2.8e-5*(c/1000)*T**2)**2"
)
_VALOEN_D = "1e-4 * 10**(-4.43 - 54/(T - 229 - 5*(c/1000)) - 0.22*(c/1000))"
_VALOEN_TDF = (
    "(0.601 - 0.24*sqrt(c/1000) + 0.982*(1 - 0.0052*(T - 294))*(c/1000)**1.5) / (1 - 0.38)"
)

_VALOEN = (
    "L. O. Valøen and J. N. Reimers, 'Transport properties of LiPF6-based Li-ion battery "
    "electrolytes', J. Electrochem. Soc. 152 (2005) A882-A891, doi:10.1149/1.1872737"
)
_MURUGAN = (
    "R. Murugan, V. Thangadurai, W. Weppner, 'Fast lithium ion conduction in garnet-type "
    "Li7La3Zr2O12', Angew. Chem. Int. Ed. 46 (2007) 7778-7781, doi:10.1002/anie.200701144"
)
_SEED_LLZO = (
    "C. Li, Y. Qiu, Y. Zhao, W. Feng, 'Self assembled electron blocking and lithiophilic interface "
    "towards dendrite-free solid-state lithium battery', Chin. Chem. Lett. (2023) 108846"
)
_SEED_LAGP = (
    "J. Li et al., 'Stabilizing the LAGP/Li interface and in situ visualizing the interfacial "
    "structure evolution for high-performance solid-state lithium metal batteries', Energy "
    "Environ. Sci. 17 (2024) 5521, doi:10.1039/d4ee02075h"
)
_SEED_REVIEW = (
    "D. Wang et al., 'A review of interface optimization strategies for solid electrolytes and "
    "anode materials', Nanoscale Adv. 7 (2025) 4535, doi:10.1039/d5na00286a"
)

LIBRARY: dict[str, Material] = {
    m.name: m
    for m in (
        Material(
            "LLZO",
            "single_ion",
            {"conductivity": 3.5e-2, "conductivity_activation_energy": 3.0e4},
            f"sigma: {_SEED_LLZO} (3.5e-4 S/cm, as-sintered); E_a ~0.31 eV: {_MURUGAN}",
            "Garnet Li7La3Zr2O12 at 25 C.",
        ),
        Material(
            "LAGP",
            "single_ion",
            {"conductivity": 3.0e-2},
            f"{_SEED_LAGP} (1e-4 to 1e-3 S/cm at 25 C; 3e-4 S/cm taken)",
            "NASICON Li1.5Al0.5Ge1.5(PO4)3 at 25 C; activation energy not given (0).",
        ),
        Material(
            "LiI",
            "interphase",
            {"conductivity": 6.8e-6},
            f"{_SEED_LLZO} (6.8e-8 S/cm)",
            "LiI interlayer on LLZO.",
        ),
        Material(
            "Li3P",
            "interphase",
            {"conductivity": 1.0e-2},
            f"{_SEED_REVIEW} (~1e-4 S/cm)",
            "Li3P-rich interphase (order of magnitude).",
        ),
        Material(
            "LiPF6_EC_EMC_dilute",
            "dilute",
            {"bulk_concentration": 1000.0, "diffusivity": 3.0e-10, "transference_number": 0.38},
            f"D(1 M, 25 C) and t+ from {_VALOEN}",
            "Dilute-solution approximation of 1 M LiPF6 in EC:EMC; kappa follows from the dilute "
            "relation (overestimates the measured ~1 S/m).",
        ),
        Material(
            "LiPF6_EC_EMC_Valoen2005",
            "concentrated",
            {
                "bulk_concentration": 1000.0,
                "conductivity": {"expression": _VALOEN_KAPPA},
                "diffusivity": {"expression": _VALOEN_D},
                "transference_number": 0.38,
                "thermodynamic_factor": {"expression": _VALOEN_TDF},
            },
            _VALOEN,
            "Concentrated-solution correlations kappa(c, T), D(c, T), thermodynamic factor(c, T), "
            "t+ = 0.38.",
        ),
    )
}


def names(kind: MaterialKind | None = None) -> list[str]:
    """Library names, optionally only those of one kind."""
    return sorted(n for n, m in LIBRARY.items() if kind is None or m.kind == kind)


def get(name: str, kind: MaterialKind) -> Material:
    """Look up a library material of the expected kind.

    Raises:
        ValueError: Unknown name or a material of another kind (the message lists the choices).
    """
    material = LIBRARY.get(name)
    if material is None or material.kind != kind:
        raise ValueError(
            f"material: unknown {kind} material {name!r}; allowed: {', '.join(names(kind))}"
        )
    return material
