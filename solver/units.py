"""Physical quantities in configuration files.

A quantity in a config may be a bare number (taken as SI) or a string with units such as
``"1e-4 S/cm"``, ``"10 nm"`` or ``"0.5 mA/cm^2"``. A molar energy may also be given per
particle (``"0.16 eV"``), converted with Avogadro's constant. Strings are parsed with pint and
converted to SI; the dimension is checked against the field's declared dimension. Inside the
package every number is SI (m, s, A, V, mol, K, S).

Example:
    >>> from pydantic import BaseModel
    >>> class Layer(BaseModel):
    ...     thickness: Length
    >>> Layer(thickness="10 nm").thickness
    1e-08
"""

from __future__ import annotations

import functools
import math
import re
from typing import Annotated

import pint
from pydantic import BeforeValidator, Field, WithJsonSchema

__all__ = [
    "ASR",
    "Concentration",
    "Conductivity",
    "CurrentDensity",
    "Diffusivity",
    "Dimensionless",
    "Length",
    "MolarEnergy",
    "Temperature",
    "Time",
    "Voltage",
    "quantity",
    "to_si",
    "ureg",
]

ureg = pint.UnitRegistry()
ureg.define("molar = mole / liter = M")

_NUMBER_THEN_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")

#: Declared dimension name -> (pint dimensionality string, SI unit, example for messages).
DIMENSIONS: dict[str, tuple[str, str, str]] = {
    "dimensionless": ("", "1", "0.5"),
    "length": ("[length]", "m", "10 nm"),
    "time": ("[time]", "s", "10 s"),
    "temperature": ("[temperature]", "K", "298.15 K"),
    "voltage": ("[mass] * [length] ** 2 / [time] ** 3 / [current]", "V", "0.1 V"),
    "conductivity": ("[current] ** 2 * [time] ** 3 / [mass] / [length] ** 3", "S/m", "1e-4 S/cm"),
    "current_density": ("[current] / [length] ** 2", "A/m^2", "0.5 mA/cm^2"),
    "concentration": ("[substance] / [length] ** 3", "mol/m^3", "1 M"),
    "diffusivity": ("[length] ** 2 / [time]", "m^2/s", "3e-10 m^2/s"),
    "molar_energy": ("[mass] * [length] ** 2 / [time] ** 2 / [substance]", "J/mol", "0.16 eV"),
    "asr": ("[mass] * [length] ** 4 / [time] ** 3 / [current] ** 2", "ohm*m^2", "10 ohm cm^2"),
}


@functools.cache
def _dimensionality(dimension: str) -> pint.util.UnitsContainer:
    return ureg.parse_expression(DIMENSIONS[dimension][1]).dimensionality


def to_si(value: object, dimension: str) -> float:
    """Convert a config value to a float in SI units.

    Args:
        value: A number (already SI) or a string ``"<number> <unit>"``.
        dimension: One of the keys of :data:`DIMENSIONS`.

    Returns:
        The value in the SI unit of ``dimension``.

    Raises:
        ValueError: The value cannot be parsed, is not finite, or has another dimension.
    """
    si_unit, example = DIMENSIONS[dimension][1], DIMENSIONS[dimension][2]
    if isinstance(value, bool):
        raise ValueError(f"expected a {dimension} quantity such as '{example}', got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _NUMBER_THEN_UNIT.match(value)
        if match is None:
            raise ValueError(
                f"cannot read {value!r} as a {dimension} quantity; write e.g. '{example}'"
            )
        magnitude, unit = float(match.group(1)), match.group(2)
        if not unit:  # a number written as a string ("1e-8") is a bare number: SI
            return _finite(magnitude, value)
        try:
            q = ureg.Quantity(magnitude, ureg.parse_units(unit.replace("^", "**")))
        except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, ValueError,
                AttributeError, TypeError) as err:
            raise ValueError(f"unknown unit {unit!r} in {value!r}") from err
        if dimension == "molar_energy" and q.dimensionality == ureg.eV.dimensionality:
            q = q * ureg.avogadro_constant  # an energy per particle (e.g. '0.16 eV') per mole
        if q.dimensionality != _dimensionality(dimension):
            raise ValueError(
                f"{value!r} has dimension {q.dimensionality or 'dimensionless'}, but this key "
                f"is a {dimension} (SI unit {si_unit}), e.g. '{example}'"
            )
        number = float(q.to(si_unit).magnitude)
    else:
        raise ValueError(f"expected a {dimension} quantity such as '{example}', got {value!r}")
    return _finite(number, value)


def _finite(number: float, value: object) -> float:
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def quantity(dimension: str) -> object:
    """Annotated float type for a pydantic field holding a quantity of ``dimension``.

    The JSON schema of the field accepts a number (SI) or a string with units.
    """
    si_unit, example = DIMENSIONS[dimension][1], DIMENSIONS[dimension][2]
    return Annotated[
        float,
        BeforeValidator(functools.partial(to_si, dimension=dimension)),
        WithJsonSchema(
            {
                "anyOf": [{"type": "number"}, {"type": "string"}],
                "description": f"{dimension} in {si_unit}, or a string with units like '{example}'",
            }
        ),
        Field(json_schema_extra={"x-unit": si_unit}),
    ]


Dimensionless = quantity("dimensionless")
Length = quantity("length")
Time = quantity("time")
Temperature = quantity("temperature")
Voltage = quantity("voltage")
Conductivity = quantity("conductivity")
CurrentDensity = quantity("current_density")
Concentration = quantity("concentration")
Diffusivity = quantity("diffusivity")
MolarEnergy = quantity("molar_energy")
ASR = quantity("asr")
