"""Electrolyte classes: ionic current density and anion flux in UFL.

Symbols (``docs/theory.md``): Phi is the potential of a Li reference electrode sensing the
local ionic phase (V), c the salt concentration (mol/m^3).

* single-ion conductor (t+ = 1): ``i = -sigma grad(Phi)``;
* binary salt: ``i = -kappa(c) grad(Phi) + kappa_D(c) grad(ln c)`` with
  ``kappa_D = (2 R T kappa / F) (1 - t+) (1 + dln f/dln c)``, and the anion flux
  ``N_- = -D(c) grad(c) - (1 - t+) i / F``.

Concentration-dependent properties come from numbers, tables (piecewise-linear in UFL) or
expressions parsed by a whitelist parser (never ``eval``).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import ufl

from solver.constants import FARADAY, GAS_CONSTANT, arrhenius
from solver.dilute import DiluteSalt, dilute_ionic_diffusivities

if TYPE_CHECKING:
    from solver.model_spec import (
        ConcentratedElectrolyte,
        DiluteElectrolyte,
        PhysicsConfig,
    )

__all__ = [
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_EXPRESSION_NODES",
    "PROPERTY_CHECK_POINTS",
    "PROPERTY_MAGNITUDE_LIMIT",
    "BinaryElectrolyte",
    "ElectrolyteModel",
    "PropertyRule",
    "SingleIonConductor",
    "arrhenius",
    "build_electrolyte",
    "check_property",
    "evaluate_property",
    "parse_expression",
    "property_ufl",
]


# --------------------------------------------------------------------------------------------
# Safe expressions of (c, T)
# --------------------------------------------------------------------------------------------
_VARIABLES = ("c", "T")
#: Function name -> (UFL function, its numpy counterpart, number of arguments). One table, so
#: that the validation check (numpy) evaluates exactly the functions the kernel (UFL) will.
_FUNCTIONS: dict[str, tuple[Callable[..., object], Callable[..., object], int]] = {
    "exp": (ufl.exp, np.exp, 1),
    "log": (ufl.ln, np.log, 1),
    "sqrt": (ufl.sqrt, np.sqrt, 1),
    "tanh": (ufl.tanh, np.tanh, 1),
    "abs": (abs, np.abs, 1),
    "min": (ufl.min_value, np.minimum, 2),
    "max": (ufl.max_value, np.maximum, 2),
}
_FUNCTIONS_UFL = {name: f[0] for name, f in _FUNCTIONS.items()}
_FUNCTIONS_NUMPY = {name: f[1] for name, f in _FUNCTIONS.items()}
_ARITY = {name: f[2] for name, f in _FUNCTIONS.items()}
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}

#: Longest expression text, characters (the library's longest, Valoen's kappa, has 156).
MAX_EXPRESSION_LENGTH = 1000
#: Most nodes of an expression's syntax tree (Valoen's kappa has 105).
MAX_EXPRESSION_NODES = 500
#: Deepest nesting of an expression's syntax tree (bounds the recursion of the translation).
MAX_EXPRESSION_DEPTH = 50


def _depth(tree: ast.AST) -> int:
    """Nesting depth of a syntax tree (iterative: the tree is untrusted)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def parse_expression(text: str) -> ast.Expression:
    """Parse and validate a property expression of ``c`` and ``T``.

    Limits: :data:`MAX_EXPRESSION_LENGTH` characters, :data:`MAX_EXPRESSION_NODES` syntax-tree
    nodes, :data:`MAX_EXPRESSION_DEPTH` levels of nesting; only numbers, ``c``, ``T``,
    ``+ - * / **``, unary ``+ -`` and calls of the whitelisted functions with their number of
    arguments. Nothing is evaluated here.

    Raises:
        ValueError: A limit exceeded, a syntax error, or a name, function or operator outside
            the whitelist. The message ends with ``allowed: ...``.
    """
    allowed = (
        f"numbers, {', '.join(_VARIABLES)}, + - * / ** and "
        + ", ".join(f"{f}({', '.join('x' * n)})" for f, n in _ARITY.items())
    )

    def fail(what: str) -> ValueError:
        return ValueError(f"{what} in the expression (got {_clip(text)}); allowed: {allowed}")

    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ValueError(
            f"expression of {len(text)} characters is too long (got {_clip(text)}); allowed: "
            f"at most {MAX_EXPRESSION_LENGTH} characters"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise fail(f"syntax error ({err.msg})") from err
    except (RecursionError, MemoryError, ValueError) as err:
        raise fail("nesting too deep to parse") from err
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_EXPRESSION_NODES or _depth(tree) > MAX_EXPRESSION_DEPTH:
        raise ValueError(
            f"expression of {nodes} nodes nested {_depth(tree)} deep is too complex (got "
            f"{_clip(text)}); allowed: at most {MAX_EXPRESSION_NODES} nodes and "
            f"{MAX_EXPRESSION_DEPTH} levels of nesting"
        )
    for node in ast.walk(tree):
        if isinstance(node, ast.Expression | ast.Load | ast.BinOp | ast.UnaryOp):
            continue
        if isinstance(node, ast.operator | ast.unaryop):
            if type(node) not in _BINARY and not isinstance(node, ast.UAdd | ast.USub):
                raise fail(f"operator {type(node).__name__} not allowed")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float) or isinstance(node.value, bool):
                raise fail(f"constant {node.value!r} is not a number")
            if not _finite_float(node.value):
                raise fail(f"number {_clip(str(node.value), 20)} beyond the float range")
        elif isinstance(node, ast.Name):
            if node.id not in _VARIABLES and node.id not in _ARITY:
                raise fail(f"unknown name {node.id!r}")
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in _ARITY or node.keywords or len(node.args) != _ARITY[name]:
                raise fail(f"call {ast.unparse(node)!r} not allowed")
        else:
            raise fail(f"{type(node).__name__} not allowed")
    return tree


def _finite_float(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _clip(text: str, limit: int = 60) -> str:
    """The expression as quoted in a message (shortened; messages are one line)."""
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _compile(
    node: ast.AST,
    variables: dict[str, object],
    functions: dict[str, Callable[..., object]],
    number: Callable[[float], object] = float,
):
    """Evaluate a validated expression tree with the given variable values and functions.

    Constants become ``number(float(value))`` (float, or float64 for the numpy check), never
    Python integers: ``9**9**9`` must overflow, not compute for ever.
    """
    if isinstance(node, ast.Expression):
        return _compile(node.body, variables, functions, number)
    if isinstance(node, ast.Constant):
        return number(float(node.value))
    if isinstance(node, ast.Name):
        return variables[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, variables, functions, number)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        a = _compile(node.left, variables, functions, number)
        b = _compile(node.right, variables, functions, number)
        op = _BINARY[type(node.op)]
        return {
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: a / b,
            "**": lambda: a**b,
        }[op]()
    if isinstance(node, ast.Call):
        args = [_compile(arg, variables, functions, number) for arg in node.args]
        return functions[node.func.id](*args)
    raise ValueError(f"unexpected expression node {type(node).__name__}")


def property_ufl(
    value: object, c: object, temperature: float, bounds: tuple[float, float] | None = None
) -> object:
    """A property (number, ``ExpressionProperty`` or ``TableProperty``) as a UFL expression of c.

    Args:
        value: The property.
        c: Concentration (UFL), mol/m^3.
        temperature: T, K.
        bounds: (c_lo, c_max) the expression was checked over (:func:`check_property`); c is
            clamped to it, so the compiled kernel evaluates an expression only where it was
            found finite, whatever c a Newton iterate visits. Tables need no clamp (they are
            constant beyond their ends).
    """
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "expression"):
        if bounds is not None:
            c = ufl.max_value(ufl.min_value(c, bounds[1]), bounds[0])
        return _compile(
            parse_expression(value.expression), {"c": c, "T": temperature}, _FUNCTIONS_UFL
        )
    cs, vs = list(value.concentration), list(value.values)
    # Piecewise-linear interpolation, constant beyond the table ends.
    result = vs[0]
    for k in range(len(cs) - 1):
        slope = (vs[k + 1] - vs[k]) / (cs[k + 1] - cs[k])
        ramp = ufl.min_value(ufl.max_value(c - cs[k], 0.0), cs[k + 1] - cs[k])
        result = result + slope * ramp
    return result


def _property_values(value: object, c: np.ndarray, temperature: float) -> np.ndarray:
    """A property at the concentrations ``c`` in float64 (numpy under ``errstate``).

    Raises:
        FloatingPointError: Overflow, division by zero or an invalid operation (an underflow to
            0 is fine).
    """
    with np.errstate(all="raise", under="ignore"):
        if isinstance(value, int | float):
            result = np.float64(value)
        elif hasattr(value, "expression"):
            result = _compile(
                parse_expression(value.expression),
                {"c": c, "T": np.float64(temperature)},
                _FUNCTIONS_NUMPY,
                np.float64,
            )
        else:
            result = np.interp(c, value.concentration, value.values)
    return np.broadcast_to(np.asarray(result, dtype=np.float64), np.shape(c))


def evaluate_property(
    value: object, c: float, temperature: float, bounds: tuple[float, float] | None = None
) -> float:
    """A property evaluated at one concentration (numpy; same semantics as :func:`property_ufl`).

    Raises:
        FloatingPointError: The expression overflows, divides by zero or is invalid at c.
    """
    if bounds is not None and hasattr(value, "expression"):
        c = min(max(c, bounds[0]), bounds[1])
    return float(_property_values(value, np.array(c, dtype=np.float64), temperature))


# --------------------------------------------------------------------------------------------
# Checking properties over the concentrations a run meets
# --------------------------------------------------------------------------------------------
#: Number of concentrations :func:`check_property` evaluates an expression at (half spaced
#: geometrically from c_lo, half linearly, plus c_bulk).
PROPERTY_CHECK_POINTS = 2001
#: Largest magnitude a property may take (SI). The residual multiplies properties by fields,
#: gradients and scale factors; 1e30 keeps those products far from the float64 overflow at
#: 1.8e308, and no physical conductivity (S/m), diffusivity (m^2/s), transference number or
#: thermodynamic factor comes near it.
PROPERTY_MAGNITUDE_LIMIT = 1e30


@dataclass(frozen=True)
class PropertyRule:
    """The values a property may take: finite and within (0, upper).

    Attributes:
        upper: Open upper bound (``PROPERTY_MAGNITUDE_LIMIT`` for properties with no physical
            upper bound).
        text: The rule in words, for messages.
    """

    upper: float
    text: str

    def obeyed(self, values: np.ndarray) -> np.ndarray:
        """Where ``values`` obey the rule (False at NaN)."""
        return (values > 0.0) & (values < self.upper)

    def violation(self, value: float) -> str | None:
        """What is wrong with ``value`` in words, or None when it obeys the rule."""
        if math.isnan(value):
            return "is NaN"
        if math.isinf(value) or abs(value) > PROPERTY_MAGNITUDE_LIMIT:
            return f"overflows ({value:.4g})"
        if value <= 0.0:
            return f"is {'negative' if value < 0.0 else 'zero'} ({value:.4g})"
        if value >= self.upper:
            return f"is too large ({value:.4g})"
        return None


#: Positive properties: conductivity, diffusivity, thermodynamic factor.
POSITIVE = PropertyRule(PROPERTY_MAGNITUDE_LIMIT, "finite values > 0")
#: The cation transference number.
FRACTION = PropertyRule(1.0, "values in (0, 1)")


def _check_grid(c_lo: float, c_max: float, c_bulk: float) -> np.ndarray:
    half = PROPERTY_CHECK_POINTS // 2
    grid = np.concatenate(
        [np.geomspace(c_lo, c_max, half), np.linspace(c_lo, c_max, half), [c_bulk]]
    )
    return np.unique(grid[grid <= c_max])


def check_property(
    value: object,
    rule: PropertyRule,
    bounds: tuple[float, float],
    c_bulk: float,
    temperature: float,
    factor: float = 1.0,
) -> str | None:
    """Check a property over the concentrations a run meets, as the solver will evaluate it.

    An expression is evaluated (with the numpy counterparts of the UFL functions, in float64)
    at :data:`PROPERTY_CHECK_POINTS` concentrations spanning ``bounds``, densely near c_lo and
    including c_lo, c_bulk and c_max; a table at each of its rows (its interpolant lies between
    them); a number once. ``factor`` (an Arrhenius factor) multiplies every value.

    Args:
        value: A number, ``ExpressionProperty`` or ``TableProperty``.
        rule: The values allowed.
        bounds: (c_lo, c_max), mol/m^3, as passed to :func:`property_ufl`.
        c_bulk: Bulk concentration, mol/m^3 (always checked).
        temperature: T, K.
        factor: Multiplies every value.

    Returns:
        None, or the message after the key: ``<what> at (c, T) (got <value>); allowed: ...``.
    """
    expression = hasattr(value, "expression")
    if expression:
        cs = _check_grid(*bounds, c_bulk)
    elif isinstance(value, int | float):
        cs = np.array([c_bulk])
    else:
        cs = np.asarray(value.concentration, dtype=np.float64)
    try:
        values = _property_values(value, cs, temperature) * factor
        suspects = cs[~rule.obeyed(values)]
    except (FloatingPointError, OverflowError, ZeroDivisionError):
        suspects = cs
    for c in suspects:
        try:
            point = float(_property_values(value, np.array(c), temperature)) * factor
        except (FloatingPointError, OverflowError, ZeroDivisionError) as err:
            what, point = f"cannot be evaluated ({err})", math.nan
        else:
            what = rule.violation(point)
        if what is not None:
            got = _clip(value.expression) if expression else f"{point:.4g}"
            return (
                f"{what} at (c = {c:.4g} mol/m^3, T = {temperature:g} K) (got {got}); allowed: "
                f"{rule.text} for 0 < c <= {bounds[1]:.4g} mol/m^3 "
                "(electrolyte.max_concentration) at the run's temperature"
            )
    return None


# --------------------------------------------------------------------------------------------
# Flux laws
# --------------------------------------------------------------------------------------------
class ElectrolyteModel(Protocol):
    """What the residual assembly needs from an electrolyte class."""

    binary: bool

    def current_density(self, phi: object, c: object | None) -> object:
        """Ionic current density i (A/m^2) as UFL."""

    def anion_flux(self, phi: object, c: object) -> object:
        """Anion (salt) flux N_- (mol/(m^2 s)) as UFL (binary only)."""


@dataclass
class SingleIonConductor:
    """Single-ion conductor with conductivity sigma (already temperature-corrected)."""

    sigma: float
    binary: bool = False

    def current_density(self, phi: object, c: object | None = None) -> object:
        """I = -sigma grad(Phi)."""
        return -self.sigma * ufl.grad(phi)

    def anion_flux(self, phi: object, c: object) -> object:
        """Single-ion conductors carry no anion flux."""
        raise ValueError("a single-ion conductor has no salt transport")


@dataclass
class BinaryElectrolyte:
    """Binary salt electrolyte with property callables of the concentration (UFL in, UFL out).

    Attributes:
        kappa: Conductivity kappa(c), S/m.
        diffusivity: Salt diffusivity D(c), m^2/s.
        t_plus: Cation transference number t+(c).
        thermodynamic_factor: 1 + dln f/dln c.
        temperature: T, K.
        c_bulk: Bulk concentration (for scaling and reporting), mol/m^3.
        dilute: True for the dilute-solution class (electrostatic potential is then defined).
    """

    kappa: Callable[[object], object]
    diffusivity: Callable[[object], object]
    t_plus: Callable[[object], object]
    thermodynamic_factor: Callable[[object], object]
    temperature: float
    c_bulk: float
    dilute: bool
    binary: bool = True

    def kappa_d(self, c: object) -> object:
        """Diffusional conductivity kappa_D = (2 R T kappa / F)(1 - t+)(1 + dln f/dln c), A/m."""
        rt_f = GAS_CONSTANT * self.temperature / FARADAY
        return 2.0 * rt_f * self.kappa(c) * (1.0 - self.t_plus(c)) * self.thermodynamic_factor(c)

    def current_density(self, phi: object, c: object) -> object:
        """I = -kappa grad(Phi) + kappa_D grad(ln c)."""
        return -self.kappa(c) * ufl.grad(phi) + self.kappa_d(c) * ufl.grad(c) / c

    def anion_flux(self, phi: object, c: object) -> object:
        """N_- = -D grad(c) - (1 - t+) i / F."""
        return (
            -self.diffusivity(c) * ufl.grad(c)
            - (1.0 - self.t_plus(c)) * self.current_density(phi, c) / FARADAY
        )

    def bulk(self, name: str) -> float:
        """A property at c_bulk as a float (``kappa``, ``diffusivity``, ``t_plus``)."""
        return float(getattr(self, name)(self.c_bulk))


def build_electrolyte(physics: PhysicsConfig) -> SingleIonConductor | BinaryElectrolyte:
    """The electrolyte model of a physics section, temperature-corrected."""
    cfg = physics.electrolyte
    temp, t_ref = physics.temperature, physics.reference_temperature
    if cfg.type == "single_ion":
        return SingleIonConductor(
            cfg.conductivity * arrhenius(cfg.conductivity_activation_energy, temp, t_ref)
        )
    if cfg.type == "dilute":
        return _dilute(cfg, temp, t_ref)
    return _concentrated(cfg, temp, t_ref)


def _dilute(cfg: DiluteElectrolyte, temp: float, t_ref: float) -> BinaryElectrolyte:
    factor = arrhenius(cfg.diffusivity_activation_energy, temp, t_ref)
    salt = DiluteSalt(*(d * factor for d in dilute_ionic_diffusivities(cfg, t_ref)))
    k_over_c = salt.molar_conductivity(temp)
    d_salt, t_plus = salt.diffusivity, salt.transference_number
    return BinaryElectrolyte(
        kappa=lambda c: k_over_c * c,
        diffusivity=lambda c: d_salt,
        t_plus=lambda c: t_plus,
        thermodynamic_factor=lambda c: 1.0,
        temperature=temp,
        c_bulk=cfg.bulk_concentration,
        dilute=True,
    )


def _concentrated(cfg: ConcentratedElectrolyte, temp: float, t_ref: float) -> BinaryElectrolyte:
    fk = arrhenius(cfg.conductivity_activation_energy, temp, t_ref)
    fd = arrhenius(cfg.diffusivity_activation_energy, temp, t_ref)

    bounds = cfg.concentration_bounds()

    def make(value: object, factor: float) -> Callable[[object], object]:
        def prop(c: object) -> object:
            if isinstance(c, int | float):
                return factor * evaluate_property(value, float(c), temp, bounds)
            return factor * property_ufl(value, c, temp, bounds)

        return prop

    return BinaryElectrolyte(
        kappa=make(cfg.conductivity, fk),
        diffusivity=make(cfg.diffusivity, fd),
        t_plus=make(cfg.transference_number, 1.0),
        thermodynamic_factor=make(cfg.thermodynamic_factor, 1.0),
        temperature=temp,
        c_bulk=cfg.bulk_concentration,
        dilute=False,
    )
