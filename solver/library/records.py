"""The record types of the parameter library: a cited value and a named material.

One record type carries every number of the library: :class:`Parameter` (SI value, unit,
source, status, note). A :class:`Material` groups parameters under a name; those keyed by a
config key of the section the material fills (``conductivity``, ``transference_number``, ...)
are what ``material: NAME`` supplies to a config, the others (unit-suffixed names, PyBaMM
style: ``electronic_conductivity_S_m``) are further cited values for studies and reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from solver.constants import FARADAY

__all__ = [
    "CM2_PER_S",
    "CONFIG_KINDS",
    "ELECTROLYTE_KINDS",
    "ELECTRON_VOLT_PER_MOL",
    "MA_PER_CM2",
    "OHM_CM2",
    "S_PER_CM",
    "T_REF",
    "Material",
    "MaterialKind",
    "Parameter",
    "ParameterStatus",
]

#: Reference temperature of the Arrhenius factors and of every tabulated value, K.
T_REF = 298.15

# Conversions of published units to SI (multiply the published number).
ELECTRON_VOLT_PER_MOL = FARADAY  # 1 eV per particle = F J/mol
MA_PER_CM2 = 10.0  # 1 mA/cm^2 = 10 A/m^2
S_PER_CM = 100.0  # 1 S/cm = 100 S/m
OHM_CM2 = 1e-4  # 1 ohm cm^2 = 1e-4 ohm m^2
CM2_PER_S = 1e-4  # 1 cm^2/s = 1e-4 m^2/s

ParameterStatus = Literal["measured", "literature", "derived", "assumption"]
"""Where a value comes from: measured in the cited paper, taken from other literature, derived
from other values (the note says how), or an assumption (the note says why this value)."""

MaterialKind = Literal["single_ion", "dilute", "concentrated", "interphase", "metal", "li_metal"]
"""What a material is: an electrolyte ``type`` or an interphase phase (both fill a config
section via ``material: NAME``), or a metal / Li metal (no config section: used by code)."""

#: Kinds that are an electrolyte ``type`` (they fill ``physics.electrolyte``).
ELECTROLYTE_KINDS: tuple[MaterialKind, ...] = ("single_ion", "dilute", "concentrated")
#: Kinds whose records fill a config section (``physics.electrolyte`` or an interphase region).
CONFIG_KINDS: tuple[MaterialKind, ...] = (*ELECTROLYTE_KINDS, "interphase")


@dataclass(frozen=True)
class Parameter:
    """One value in SI units with its provenance.

    Attributes:
        value: The value in SI units (``unit``), or an expression of the salt concentration
            ``c`` (mol/m^3) and the temperature ``T`` (K) whose result is in ``unit``.
        unit: SI unit of ``value`` (``"1"`` for a number without dimension).
        source: Citation, with figure/table/page where the number is.
        status: measured | literature | derived | assumption.
        note: Conditions (temperature, cell), conversion, or the reason for an assumption.

    Raises:
        ValueError: No source, no unit, or a derived value / assumption without its reason.
    """

    value: float | str
    unit: str
    source: str
    status: ParameterStatus
    note: str = ""

    def __post_init__(self) -> None:
        if not self.source or not self.unit:
            raise ValueError(f"parameter {self.value!r}: a unit and a source are required")
        if self.status in ("derived", "assumption") and not self.note:
            raise ValueError(f"parameter {self.value!r}: a {self.status} value needs its reason")

    def config_value(self) -> float | dict[str, str]:
        """The value as a config takes it: a number, or ``{"expression": ...}``."""
        return {"expression": self.value} if isinstance(self.value, str) else self.value


@dataclass(frozen=True)
class Material:
    """A named, cited material.

    Attributes:
        name: Library name (``material: NAME`` in a config, ``lidep materials NAME``).
        kind: What it is (:data:`MaterialKind`); a config section accepts its own kind only.
        description: Composition and conditions, with the source that introduces it.
        parameters: Config key of its section -> value (supplied by ``material: NAME``).
        properties: Further cited values, unit-suffixed names (not config inputs).
        gaps: Quantities the sources do not give (left out rather than guessed).
    """

    name: str
    kind: MaterialKind
    description: str
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    properties: Mapping[str, Parameter] = field(default_factory=dict)
    gaps: str = ""

    def values(self) -> dict[str, object]:
        """Config keys and values this record supplies (including the electrolyte ``type``)."""
        base: dict[str, object] = {"type": self.kind} if self.kind in ELECTROLYTE_KINDS else {}
        return {**base, **{k: p.config_value() for k, p in self.parameters.items()}}

    def entries(self) -> dict[str, Parameter]:
        """Every cited value of the record: config parameters, then further properties."""
        return {**self.parameters, **self.properties}
