"""Unit strings: the exact parser of solver/units.py against pint (the parser it replaced).

Every quantity string of the example configs, the benchmarks' configs, the docs and the README,
and a list of further units (every name of the table, prefixes, powers, grouping), must convert
to the same SI value as pint's conversion did, to 1e-15 relative: both are correctly rounded or
within an ulp or two of the exact decimal value (pint multiplies floats: 1 mol/L is
999.9999999999999 there, 1000 here), so 1e-15 (about 5 ulp) is the tolerance of rounding only.
"""

from __future__ import annotations

import functools
import math
import re
import time
from pathlib import Path

import pytest
import yaml

from solver.units import DIMENSIONS, MAX_UNIT_LENGTH, UNITS, to_si

pint = pytest.importorskip("pint")

ROOT = Path(__file__).resolve().parents[1]
QUANTITY = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*[^\W\d°]")
QUOTED = re.compile(r"[\"'`]([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*[A-Za-zµμΩ°][^\"'`]*)"
                    r"[\"'`]")

EXTRA = [
    "1 nm", "2.5 um", "3 µm", "4 μm", "5 mm", "6 cm", "7 m", "8 angstrom", "9 Å",
    "1 s", "2 ms", "3 us", "4 min", "5 h", "6 hour", "7 day", "8 minute", "9 second",
    "298.15 K", "30 degC", "-10 degC", "25 celsius", "300 kelvin",
    "0.1 V", "-10 mV", "5 uV", "0.2 volt",
    "1e-4 S/cm", "1 mS/cm", "3 uS/cm", "0.01 S/m", "2 siemens/meter", "4 S cm^-1",
    "0.5 mA/cm^2", "5 A/m^2", "2 uA/cm**2", "1 mA cm^-2", "7 A/cm^2", "3 mA/(cm^2)",
    "1 M", "1.2 mM", "0.5 mol/L", "1000 mol/m^3", "2 mol/dm^3", "3 mmol/cm^3", "4 molar",
    "3e-10 m^2/s", "1e-6 cm^2/s", "2 um^2/s", "5 m²/s", "6 cm**2/s", "7 m^2 s^-1",
    "0.16 eV", "50 kJ/mol", "30000 J/mol", "10 meV", "0.3 electron_volt", "2 J/mole",
    "10 ohm cm^2", "5 ohm*cm^2", "1 ohm m^2", "2 Ω cm^2", "3 kohm cm^2", "4 Ω*m^2",
    "0.5", "1e-3",
]


def _yaml_strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _yaml_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _yaml_strings(v)]
    return [node] if isinstance(node, str) and QUANTITY.match(node) else []


def _used_strings() -> list[str]:
    files = [*ROOT.glob("configs/**/*.yaml"), *ROOT.glob("benchmarks/*.yaml")]
    found = [s for f in files for s in _yaml_strings(yaml.safe_load(f.read_text()))]
    for doc in [ROOT / "README.md", *ROOT.glob("docs/*.md")]:
        found += QUOTED.findall(doc.read_text(encoding="utf-8"))
    return sorted(set(found))


@functools.cache
def _registry():
    ureg = pint.UnitRegistry()
    ureg.define("molar = mole / liter = M")
    return ureg


def _pint_si(value: str, dimension: str) -> float:
    """The conversion of the former pint-based solver/units.py."""
    ureg = _registry()
    number, unit = re.match(r"^\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*(.*?)\s*$", value).groups()
    if not unit:
        return float(number)
    q = ureg.Quantity(float(number), ureg.parse_units(unit.replace("^", "**")))
    if dimension == "molar_energy" and q.dimensionality == ureg.eV.dimensionality:
        q = q * ureg.avogadro_constant
    return float(q.to(DIMENSIONS[dimension][1]).magnitude)


def _pint_dimension(value: str) -> str | None:
    """The declared dimension pint converts ``value`` to finitely (a number: dimensionless)."""
    for dimension in DIMENSIONS:
        try:
            si = _pint_si(value, dimension)
        except (pint.errors.PintError, ValueError, AttributeError, TypeError):
            continue
        return dimension if math.isfinite(si) else None
    return None


# strings in backticks or quotes that pint cannot read (commit hashes, '3 cores') are no units
USED = [s for s in _used_strings() if _pint_dimension(s) is not None]


def test_the_docs_and_configs_use_units():
    # the scan finds the strings it should (a regex that matched nothing would pass vacuously)
    assert {"0.5 mA/cm^2", "1e-4 S/cm", "20 nm", "30 degC", "0.16 eV", "1 M"} <= set(USED)
    assert len(USED) > 30


@pytest.mark.parametrize("value", USED + EXTRA)
def test_same_si_value_as_pint(value):
    dimension = _pint_dimension(value)
    ours, theirs = to_si(value, dimension), _pint_si(value, dimension)
    assert ours == pytest.approx(theirs, rel=1e-15, abs=0), (value, ours, theirs)


def test_every_unit_name_is_pints():
    ureg = _registry()
    for name, unit in UNITS.items():
        q = ureg.Quantity(1.0, ureg.parse_units(name)).to_base_units()
        assert float(unit.factor) == pytest.approx(q.magnitude, rel=1e-15, abs=0), name


@pytest.mark.parametrize(("value", "dimension", "expected"), [
    ("1 M", "concentration", 1000.0),  # exact (pint: 999.9999999999999)
    ("1e-6 S/cm", "conductivity", 1e-4),  # exact (float 1e-6 * 100 is 9.999999999999999e-05)
    ("30 degC", "temperature", 303.15),
    ("1 J/mol K", None, None),  # pint's precedence: J K / mol, not a molar energy
])
def test_exact_values(value, dimension, expected):
    if dimension is None:
        with pytest.raises(ValueError, match=r"has dimension .*\[temperature\]"):
            to_si(value, "molar_energy")
    else:
        assert to_si(value, dimension) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("1 km^999999999", "powers must be integers from -12 to 12"),
    ("1 m^0.5", "powers must be integers"),
    ("1 " + "(" * 5000 + "m" + ")" * 5000, f"unknown unit: longer than {MAX_UNIT_LENGTH} char"),
    ("1 ((m)", "unbalanced parentheses"),
    ("1 m)", "unbalanced parentheses"),
    ("1 m/", "a unit expected"),
    ("1 1/0", "division by zero"),
    ("1 parsec", "unknown unit name 'parsec'"),
    ("1 m$", "unexpected character '\\$'"),
    ("1 degC/s", "unknown unit name 'degC'"),
    ("1e999 m", "not a finite number"),
])
def test_bad_units_are_value_errors_fast(value, message):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        to_si(value, "length")
    assert time.perf_counter() - start < 0.1


def test_extreme_exponents_are_rounded_like_floats():
    assert to_si("1e-999 m", "length") == 0.0
    assert to_si("1e300 nm", "length") == pytest.approx(1e291, rel=1e-15)
