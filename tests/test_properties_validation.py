"""Concentrated-solution properties checked at validation, and physically impossible input.

* Every expression and table is evaluated over c_bulk * 1e-6 <= c <= c_max at the run's
  temperature with the numpy counterparts of the UFL functions; NaN, overflow, a property
  <= 0 (kappa, D, thermodynamic factor) or t+ outside (0, 1) is a one-line ConfigError naming
  the key and the (c, T) where it fails. The UFL form clamps c to the same range, so the
  compiled kernel evaluates an expression only where it was found finite: checked here at
  concentrations a Newton iterate may visit (c < 0, c >> c_max).
* Steady galvanostatic runs at or above the limiting current are rejected; the criterion equals
  ``solver.dimensionless.limiting_current`` for constant properties (a flat cell converges at
  0.9 of it: ``test_transient_binary.test_steady_linear_profile_and_cell_potential``), and
  ``F/L * integral of D/(1 - t+) dc`` otherwise.
* A Li counter electrode with 'primary' kinetics is rejected by validation.
"""

from __future__ import annotations

import math
import time

import solver  # noqa: F401  (MPI import order)

# isort: split

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from solver.config import ConfigError, load_config
from solver.constants import FARADAY
from solver.dimensionless import limiting_current
from solver.model_spec import ExpressionProperty, TableProperty
from solver.transport import (
    FRACTION,
    MAX_EXPRESSION_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_EXPRESSION_NODES,
    POSITIVE,
    check_property,
    evaluate_property,
    parse_expression,
    property_ufl,
)

T = 298.15
C_BULK = 1000.0
BOUNDS = (1e-6 * C_BULK, 3.0 * C_BULK)


def _run_file(electrolyte: dict, **physics) -> dict:
    return {
        "name": "t",
        "base": {
            "geometry": {"domain": {"width": "2 um", "length": "10 um"},
                         "layers": [{"name": "sei", "thickness": "20 nm"}]},
            "physics": {"electrolyte": electrolyte, "interphase": {"sei": {"conductivity": 1e-4}},
                        **physics},
        },
    }


def _concentrated(**properties) -> dict:
    return {"type": "concentrated", "bulk_concentration": C_BULK, "conductivity": 1.0,
            "diffusivity": 3e-10, "transference_number": 0.4, **properties}


def _problems(tree: dict, overrides: tuple[str, ...] = ()) -> list[str]:
    try:
        load_config(tree, overrides)
    except ConfigError as err:
        return err.problems
    return []


# ----------------------------------------------------------------------------------------------
# The expression parser's limits
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("c" + "+c" * MAX_EXPRESSION_LENGTH, "too long"),
        ("+".join(["c"] * (MAX_EXPRESSION_NODES // 2)), "too complex"),
        ("-" * MAX_EXPRESSION_DEPTH + "c", "too complex"),
        ("(" * 300 + "c" + ")" * 300, "syntax error"),
        ("min(c, 1, 2)", "not allowed"),
        ("exp()", "not allowed"),
        ("1e400 * c", "beyond the float range"),
        ("1" + "0" * 400, "beyond the float range"),
    ],
)
def test_parser_limits(text, match):
    with pytest.raises(ValueError, match=match) as err:
        parse_expression(text)
    assert "allowed:" in str(err.value) and "\n" not in str(err.value)


def test_library_expressions_are_within_the_limits():
    # the longest library expression (Valoen's kappa) is 156 characters and 105 nodes
    cfg = load_config(_run_file({"type": "concentrated",
                                 "material": "LiPF6_EC_EMC_Valoen2005"})).base.physics.electrolyte
    for name in ("conductivity", "diffusivity", "thermodynamic_factor"):
        parse_expression(getattr(cfg, name).expression)


# ----------------------------------------------------------------------------------------------
# Checking a property over the concentrations a run meets
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("exp(1000*c)", "overflows"),
        ("9**9**9", "cannot be evaluated"),
        ("1/0", "cannot be evaluated"),
        ("c**(10**400)", "cannot be evaluated"),
        ("-1+0*c", "is negative"),
        ("0*c", "is zero"),
        ("sqrt(c - 1)", "cannot be evaluated"),
        ("log(c/1000)", "is negative"),
        ("1/(c - 2500.5)", "is negative"),
        ("1e-10 * (1 - c/2000)", "is negative"),  # fails between c_bulk and c_max only
    ],
)
def test_bad_expressions_are_found_quickly_with_where(text, what):
    start = time.perf_counter()
    message = check_property(ExpressionProperty(expression=text), POSITIVE, BOUNDS, C_BULK, T)
    assert time.perf_counter() - start < 2.0  # 9**9**9 in Python integers would not finish
    assert message is not None and message.startswith(what)
    assert "(c = " in message and f"T = {T:g} K" in message and "allowed:" in message


def test_first_failing_concentration_is_reported():
    # 1 - c/2000 is zero at c = 2000 mol/m^3; the linear half of the grid is 3 mol/m^3 apart
    message = check_property(
        ExpressionProperty(expression="1e-10 * (1 - c/2000)"), POSITIVE, BOUNDS, C_BULK, T
    )
    c_fail = float(message.split("(c = ")[1].split(" mol")[0])
    assert 2000.0 <= c_fail <= 2003.01


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (ExpressionProperty(expression="0.1*(c/1000)*exp(-0.5*(c/1000)**2)"), POSITIVE),
        (ExpressionProperty(expression="0.2 + 0.3*tanh(c/1000)"), FRACTION),
        (TableProperty(concentration=[0.0, 1000.0, 5000.0], values=[0.3, 0.4, 0.45]), FRACTION),
        (0.38, FRACTION),
    ],
)
def test_good_properties_pass(value, rule):
    assert check_property(value, rule, BOUNDS, C_BULK, T) is None


def test_transference_number_outside_0_1():
    message = check_property(
        ExpressionProperty(expression="0.4 + c/1000"), FRACTION, BOUNDS, C_BULK, T
    )
    assert message.startswith("is too large")
    assert check_property(1.0, FRACTION, BOUNDS, C_BULK, T).startswith("is too large")
    table = TableProperty(concentration=[0.0, 1000.0], values=[0.0, 0.4])
    assert check_property(table, FRACTION, BOUNDS, C_BULK, T).startswith("is zero")


def test_arrhenius_factor_is_applied():
    assert check_property(1e-10, POSITIVE, BOUNDS, C_BULK, T, factor=1e41).startswith("overflows")


# ----------------------------------------------------------------------------------------------
# What reaches the compiled kernel
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unit_mesh():
    return mesh.create_unit_square(MPI.COMM_SELF, 1, 1)


def _value(msh, expression) -> float:
    """A spatially constant UFL expression, evaluated by integration over the unit square."""
    return fem.assemble_scalar(fem.form(expression * ufl.dx(domain=msh)))


@pytest.mark.parametrize("text", ["0.1*sqrt(c/1000)", "1e-10*exp(c/1000)", "1/c", "log(c)**2"])
def test_kernel_sees_only_the_checked_range(unit_mesh, text):
    """UFL and numpy agree (rel 1e-12: the same float64 operations) inside the range, and
    outside it both give the value at the nearest end: finite at c < 0 and at c >> c_max,
    where e.g. sqrt(c) would be NaN and exp(c/1000) would overflow."""
    prop = ExpressionProperty(expression=text)
    assert check_property(prop, POSITIVE, BOUNDS, C_BULK, T) is None
    for c in (-50.0, 0.0, BOUNDS[0], 0.5, 1000.0, BOUNDS[1], 1e6):
        clamped = min(max(c, BOUNDS[0]), BOUNDS[1])
        expected = evaluate_property(prop, clamped, T)
        assert evaluate_property(prop, c, T, BOUNDS) == expected
        kernel = _value(unit_mesh, property_ufl(prop, fem.Constant(unit_mesh, c), T, BOUNDS))
        assert math.isfinite(kernel)
        assert kernel == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Through the configuration: one line per problem, naming the key
# ----------------------------------------------------------------------------------------------
def test_every_bad_property_is_reported_once():
    problems = _problems(_run_file(_concentrated(
        conductivity={"expression": "-1+0*c"},
        diffusivity={"concentration": [0, 1000], "values": [3e-10, float("nan")]},
        transference_number=1.2,
    )))
    keys = [p.split(": ", 1)[0] for p in problems]
    assert keys == [
        "base.physics.electrolyte.conductivity.expression",
        "base.physics.electrolyte.diffusivity.values",
        "base.physics.electrolyte.transference_number",
    ]
    assert all(p.count("base.physics") == 1 for p in problems)


def test_max_concentration_sets_the_checked_range():
    # 1 - c/2000 is fine up to 2 M: rejected with the default c_max = 3 c_bulk, accepted with 2 M
    electrolyte = _concentrated(diffusivity={"expression": "3e-10 * (1 - c/2000)"})
    assert _problems(_run_file(electrolyte))
    assert not _problems(_run_file({**electrolyte, "max_concentration": "1.99 M"}))
    (problem,) = _problems(_run_file({**electrolyte, "max_concentration": "1 M"}))
    assert problem.startswith("base.physics.electrolyte.max_concentration: must exceed")


def test_library_material_at_a_cold_temperature():
    """Valoen's D(c, T) has a pole at c = (T - 229 K)/5 M: inside the range at 240 K."""
    valoen = {"type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005"}
    assert not _problems(_run_file(valoen))
    (problem,) = _problems(_run_file(valoen, temperature=240.0))
    assert problem.startswith("base.physics.electrolyte.diffusivity.expression:")
    assert "T = 240 K" in problem
    cold = _run_file({**valoen, "max_concentration": "2 M"}, temperature=240.0)
    cold["base"]["time"] = {"mode": "transient", "t_end": 1.0}  # D(1 M, 240 K) = 2e-18 m^2/s
    assert not _problems(cold)


# ----------------------------------------------------------------------------------------------
# Steady runs at or above the limiting current
# ----------------------------------------------------------------------------------------------
def _steady(electrolyte: dict, current: float, **geometry) -> dict:
    tree = _run_file(electrolyte, control={"mode": "galvanostatic", "current_density": current})
    tree["base"]["geometry"].update(geometry)
    return tree


DILUTE = {"type": "dilute", "bulk_concentration": C_BULK, "diffusivity": 3e-10,
          "transference_number": 0.4}
L_ELECTROLYTE = 10e-6 - 20e-9  # domain length minus the interphase


def test_limiting_current_of_a_flat_cell_is_the_dimensionless_one():
    j_lim = limiting_current(3e-10, C_BULK, 0.4, L_ELECTROLYTE)
    assert not _problems(_steady(DILUTE, 0.999 * j_lim))
    (problem,) = _problems(_steady(DILUTE, 1.001 * j_lim))
    assert problem.startswith("base.physics.control.current_density: a steady run at or above")
    assert f"{j_lim * 0.1:.4g} mA/cm^2" in problem
    assert f"{1.001 * j_lim * 0.1:.4g} mA/cm^2" in problem
    # stripping, transient runs and potentiostatic control are not limited here
    assert not _problems(_steady(DILUTE, -10 * j_lim))
    transient = _steady(DILUTE, 10 * j_lim)
    transient["base"]["time"] = {"mode": "transient", "t_end": 1.0}
    assert not _problems(transient)


def test_limiting_current_with_concentration_dependent_diffusivity():
    """D = D0 (1 + c/c_b): integral of D/(1 - t+) over (0, c_b) = 1.5 D0 c_b/(1 - t+).

    Tolerance 1e-5: the trapezoidal rule is exact for a linear integrand; D is held at its value
    at 1e-6 c_b below that concentration (relative change ~1e-9).
    """
    electrolyte = _concentrated(diffusivity={"expression": "3e-10 * (1 + c/1000)"})
    j_lim = FARADAY * 3e-10 * 1.5 * C_BULK / (0.6 * L_ELECTROLYTE)
    assert not _problems(_steady(electrolyte, j_lim * (1 - 1e-5)))
    assert _problems(_steady(electrolyte, j_lim * (1 + 1e-5)))


def test_limiting_current_above_a_protrusion():
    """L is measured from the protrusion's apex plus the interphase (the shortest path)."""
    j_lim = limiting_current(3e-10, C_BULK, 0.4, L_ELECTROLYTE - 1e-6)
    protrusion = {"protrusions": [{"shape": "spherical", "x": 0, "radius": "1 um"}]}
    assert not _problems(_steady(DILUTE, 0.999 * j_lim, **protrusion))
    assert _problems(_steady(DILUTE, 1.001 * j_lim, **protrusion))


def test_case_path_is_named():
    tree = _steady(DILUTE, 1.0)
    tree["cases"] = {"slow": {}, "fast": {"physics": {"control": {"current_density": 1e5}}}}
    (problem,) = _problems(tree)
    assert problem.startswith("cases.fast.physics.control.current_density:")


# ----------------------------------------------------------------------------------------------
# A Li counter electrode with primary kinetics
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("counter", "kinetics", "key"),
    [
        ({"type": "li_electrode", "kinetics": {"model": "primary"}}, {},
         "base.physics.counter.kinetics.model"),
        ({"type": "li_electrode"}, {"model": "primary"}, "base.physics.kinetics.model"),
    ],
)
def test_primary_li_counter_is_rejected(counter, kinetics, key):
    tree = _run_file(DILUTE, counter=counter, kinetics=kinetics)
    tree["base"]["time"] = {"mode": "transient", "t_end": 1.0}
    (problem,) = _problems(tree)
    assert problem.startswith(f"{key}: 'primary' is not available")
    tree["base"]["physics"]["counter"] = {"type": "reservoir"}
    assert not _problems(tree)


def test_grid_includes_both_ends():
    """The check sees c_lo and c_max themselves (expressions that fail only there)."""
    at_max = ExpressionProperty(expression=f"min({BOUNDS[1]!r} - c, 1)")
    assert check_property(at_max, POSITIVE, BOUNDS, C_BULK, T).startswith("is zero")
    at_floor = ExpressionProperty(expression=f"c - {BOUNDS[0]!r}")
    assert check_property(at_floor, POSITIVE, BOUNDS, C_BULK, T).startswith("is zero")
    assert np.isfinite(evaluate_property(at_floor, -1.0, T, BOUNDS))
