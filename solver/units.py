"""Physical quantities in configuration files.

A quantity in a config may be a bare number (taken as SI) or a string with units such as
``"1e-4 S/cm"``, ``"10 nm"`` or ``"0.5 mA/cm^2"``. A molar energy may also be given per
particle (``"0.16 eV"``), converted with Avogadro's constant. Strings are converted to SI by a
small exact parser (below) and their dimension is checked against the field's declared
dimension. Inside the package every number is SI (m, s, A, V, mol, K, S).

The unit grammar is pint's, for the units of electrochemistry: names from :data:`UNITS`, each
optionally with an SI prefix (``n``, ``u``/``µ``, ``m``, ``c``, ``k``, ...), raised to an
integer power (``^2``, ``**-1``, ``²``, ``³``), joined by ``*``, ``/`` or a space (all of
equal precedence, left to right: ``J/mol K`` is J K / mol) and grouped by parentheses.
Temperatures may be given in ``degC`` (alone). Every factor is an exact decimal, the product is
formed in rational arithmetic and rounded once, so ``"1 M"`` is exactly 1000 mol/m^3.

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
from fractions import Fraction
from typing import Annotated, NamedTuple

from pydantic import BeforeValidator, Field, WithJsonSchema

__all__ = [
    "ASR",
    "UNITS",
    "Concentration",
    "Conductivity",
    "CurrentDensity",
    "Diffusivity",
    "Dimensionless",
    "Length",
    "MolarEnergy",
    "MolarVolume",
    "SurfaceEnergy",
    "Temperature",
    "Time",
    "Voltage",
    "parse_unit",
    "quantity",
    "to_si",
]

_NUMBER_THEN_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")

BASE_DIMENSIONS = ("length", "mass", "time", "current", "temperature", "substance")
"""Order of the exponents of a dimension vector (SI base units m, kg, s, A, K, mol)."""


class Unit(NamedTuple):
    """A unit as an exact SI factor and the exponents of its dimension (:data:`BASE_DIMENSIONS`).

    Attributes:
        factor: Value of one unit in SI base units.
        dims: Exponents of length, mass, time, current, temperature and amount of substance.
    """

    factor: Fraction
    dims: tuple[int, ...]

    def __mul__(self, other: Unit) -> Unit:  # noqa: D105
        return Unit(self.factor * other.factor, tuple(a + b for a, b in zip(
            self.dims, other.dims, strict=True)))

    def __pow__(self, power: int) -> Unit:  # noqa: D105
        return Unit(self.factor**power, tuple(a * power for a in self.dims))


def _unit(factor: str, **dims: int) -> Unit:
    return Unit(Fraction(factor), tuple(dims.get(d, 0) for d in BASE_DIMENSIONS))


_ONE = _unit("1")
_METRE, _SECOND, _KELVIN, _MOLE = (_unit("1", length=1), _unit("1", time=1),
                                   _unit("1", temperature=1), _unit("1", substance=1))
_JOULE = _unit("1", mass=1, length=2, time=-2)
_VOLT = _unit("1", mass=1, length=2, time=-3, current=-1)
_OHM = _unit("1", mass=1, length=2, time=-3, current=-2)
_LITRE = _unit("1e-3", length=3)
_AVOGADRO = _unit("6.02214076e23", substance=-1)  # exact (SI 2019)

UNITS: dict[str, Unit] = {
    **dict.fromkeys(("m", "meter", "metre"), _METRE),
    **dict.fromkeys(("Å", "angstrom"), _unit("1e-10", length=1)),
    **dict.fromkeys(("g", "gram"), _unit("1e-3", mass=1)),
    **dict.fromkeys(("s", "second"), _SECOND),
    **dict.fromkeys(("min", "minute"), _unit("60", time=1)),
    **dict.fromkeys(("h", "hr", "hour"), _unit("3600", time=1)),
    **dict.fromkeys(("d", "day"), _unit("86400", time=1)),
    **dict.fromkeys(("Hz", "hertz"), _unit("1", time=-1)),
    **dict.fromkeys(("A", "ampere"), _unit("1", current=1)),
    **dict.fromkeys(("C", "coulomb"), _unit("1", current=1, time=1)),
    **dict.fromkeys(("V", "volt"), _VOLT),
    **dict.fromkeys(("ohm", "Ω", "Ω"), _OHM),
    **dict.fromkeys(("S", "siemens"), _OHM**-1),
    **dict.fromkeys(("J", "joule"), _JOULE),
    **dict.fromkeys(("W", "watt"), _unit("1", mass=1, length=2, time=-3)),
    **dict.fromkeys(("eV", "electron_volt"), _unit("1.602176634e-19", mass=1, length=2, time=-2)),
    **dict.fromkeys(("K", "kelvin"), _KELVIN),
    **dict.fromkeys(("mol", "mole"), _MOLE),
    **dict.fromkeys(("L", "l", "liter", "litre"), _LITRE),
    **dict.fromkeys(("M", "molar"), _unit("1e3", substance=1, length=-3)),
}
"""Unit names (pint's symbols and names) and their SI values; each takes an SI prefix."""

PREFIXES: dict[str, Fraction] = {p: Fraction(v) for p, v in {
    "E": "1e18", "P": "1e15", "T": "1e12", "G": "1e9", "M": "1e6", "k": "1e3", "h": "1e2",
    "da": "1e1", "d": "1e-1", "c": "1e-2", "m": "1e-3", "u": "1e-6", "µ": "1e-6", "μ": "1e-6",
    "n": "1e-9", "p": "1e-12", "f": "1e-15", "a": "1e-18",
}.items()}
"""SI prefixes; a unit name is read whole before it is read as prefix + name (``min``, ``h``)."""

_OFFSET_UNITS = {"degC": Fraction("273.15"), "°C": Fraction("273.15"),
                 "celsius": Fraction("273.15")}
"""Temperature units with an offset (K = value + offset), allowed only alone."""

_TOKEN = re.compile(r"\s*(?:(\*\*|[*/^()])|([-+]?\d+(?:\.\d*)?)|([^\W\d]\w*|°[^\W\d]*))")
_SUPERSCRIPT = re.compile("⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_SUPERSCRIPT_DIGITS = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
MAX_UNIT_LENGTH = 64
"""Longest unit expression read (configs are untrusted: no deep nesting, no huge powers)."""
MAX_POWER = 12
"""Largest absolute integer power of a unit."""


def _lookup(name: str) -> Unit:
    if name in UNITS:
        return UNITS[name]
    for length in (2, 1):
        prefix, rest = name[:length], name[length:]
        if prefix in PREFIXES and rest in UNITS:
            return Unit(PREFIXES[prefix] * UNITS[rest].factor, UNITS[rest].dims)
    raise ValueError(f"unknown unit name {name!r}")


def _tokens(text: str) -> list[str]:
    text = _SUPERSCRIPT.sub(lambda m: "^" + m.group(0).translate(_SUPERSCRIPT_DIGITS), text)
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"unexpected character {text[pos:].lstrip()[:1]!r}")
        tokens.append(match.group(0).strip())
        pos = match.end()
    return tokens


def parse_unit(text: str) -> Unit:
    """Parse a unit expression such as ``"mA/cm^2"`` or ``"ohm cm^2"`` (see the module doc).

    Args:
        text: The unit part of a quantity string.

    Returns:
        Its exact SI factor and dimension.

    Raises:
        ValueError: An unknown name, a non-integer power or a malformed expression.
    """
    if len(text) > MAX_UNIT_LENGTH:
        raise ValueError(f"longer than {MAX_UNIT_LENGTH} characters")
    tokens = _tokens(text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def factor() -> Unit:
        token = take() if peek() is not None else ""
        if token == "(":
            value = product()
            if peek() != ")":
                raise ValueError("unbalanced parentheses")
            take()
        elif token and (token[0].isdigit() or token[0] in "+-."):
            value = Unit(Fraction(token), _ONE.dims)
        elif token and token not in "*/^()" and token != "**":
            value = _lookup(token)
        else:
            raise ValueError(f"a unit expected, got {token or 'nothing'!r}")
        if peek() in ("^", "**"):
            take()
            power = take() if peek() is not None else ""
            if not re.fullmatch(r"[-+]?\d+", power) or abs(int(power)) > MAX_POWER:
                raise ValueError(f"powers must be integers from -{MAX_POWER} to {MAX_POWER}, "
                                 f"got {power!r}")
            value = value ** int(power)
        return value

    def product() -> Unit:
        value = factor()
        while peek() not in (None, ")"):
            divide = peek() == "/"
            if peek() in ("*", "/"):
                take()
            value = value * (factor() ** -1 if divide else factor())
        return value

    try:
        value = product()
    except ZeroDivisionError as err:
        raise ValueError("division by zero") from err
    if pos != len(tokens):
        raise ValueError("unbalanced parentheses")
    return value


def dimension_text(dims: tuple[int, ...]) -> str:
    """A dimension vector as pint writes it, e.g. ``[current] / [length] ** 2``."""
    def power(name: str, n: int) -> str:
        return f"[{name}]" + (f" ** {n}" if n != 1 else "")

    up = [power(d, n) for d, n in zip(BASE_DIMENSIONS, dims, strict=True) if n > 0]
    down = [power(d, -n) for d, n in zip(BASE_DIMENSIONS, dims, strict=True) if n < 0]
    if not up and not down:
        return "dimensionless"
    return " / ".join([" * ".join(up) or "1", *down])


#: Declared dimension name -> (dimension vector, SI unit, example for messages).
DIMENSIONS: dict[str, tuple[tuple[int, ...], str, str]] = {
    name: (parse_unit(unit).dims, unit, example) for name, (unit, example) in {
        "dimensionless": ("1", "0.5"),
        "length": ("m", "10 nm"),
        "time": ("s", "10 s"),
        "temperature": ("K", "298.15 K"),
        "voltage": ("V", "0.1 V"),
        "conductivity": ("S/m", "1e-4 S/cm"),
        "current_density": ("A/m^2", "0.5 mA/cm^2"),
        "concentration": ("mol/m^3", "1 M"),
        "diffusivity": ("m^2/s", "3e-10 m^2/s"),
        "molar_energy": ("J/mol", "0.16 eV"),
        "asr": ("ohm*m^2", "10 ohm cm^2"),
        "surface_energy": ("J/m^2", "0.5 J/m^2"),
        "molar_volume": ("m^3/mol", "9.8 cm^3/mol"),
    }.items()
}


def _exact(magnitude: str, value: str) -> Fraction:
    """The number ``magnitude`` exactly, or its float if its decimal exponent is extreme."""
    approximate = _finite(float(magnitude), value)
    exponent = magnitude.lower().partition("e")[2]
    if len(magnitude) > 40 or abs(int(exponent or "0")) > 400:
        return Fraction(approximate)  # (10**exponent would be slow; the float is as good)
    return Fraction(magnitude)


def _convert(magnitude: str, unit: str, value: str, dimension: str) -> float:
    """The SI value of ``magnitude`` ``unit`` (exact until the final rounding)."""
    si_unit, example = DIMENSIONS[dimension][1], DIMENSIONS[dimension][2]
    number = _exact(magnitude, value)
    if unit in _OFFSET_UNITS:
        number, dims = number + _OFFSET_UNITS[unit], _KELVIN.dims
    elif len(unit) > MAX_UNIT_LENGTH:  # not echoed: the message would be as long
        raise ValueError(f"unknown unit: longer than {MAX_UNIT_LENGTH} characters")
    else:
        try:
            parsed = parse_unit(unit)
        except ValueError as err:
            raise ValueError(f"unknown unit {unit!r} in {value!r} ({err})") from err
        if dimension == "molar_energy" and parsed.dims == _JOULE.dims:
            parsed = parsed * _AVOGADRO  # an energy per particle (e.g. '0.16 eV') per mole
        number, dims = number * parsed.factor, parsed.dims
    if dims != DIMENSIONS[dimension][0]:
        raise ValueError(
            f"{value!r} has dimension {dimension_text(dims)}, but this key "
            f"is a {dimension} (SI unit {si_unit}), e.g. '{example}'"
        )
    return float(number)


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
    example = DIMENSIONS[dimension][2]
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
        magnitude, unit = match.group(1), match.group(2)
        if not unit:  # a number written as a string ("1e-8") is a bare number: SI
            return _finite(float(magnitude), value)
        number = _convert(magnitude, unit, value, dimension)
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
SurfaceEnergy = quantity("surface_energy")
MolarVolume = quantity("molar_volume")
