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

from solver.constants import FARADAY, GAS_CONSTANT

if TYPE_CHECKING:
    from solver.model_spec import (
        ConcentratedElectrolyte,
        DiluteElectrolyte,
        PhysicsConfig,
    )

__all__ = [
    "BinaryElectrolyte",
    "ElectrolyteModel",
    "SingleIonConductor",
    "arrhenius",
    "build_electrolyte",
    "dilute_ionic_diffusivities",
    "evaluate_property",
    "parse_expression",
    "property_ufl",
]



def arrhenius(activation_energy: float, temperature: float, reference_temperature: float) -> float:
    """Arrhenius factor exp(-E_a/R (1/T - 1/T_ref))."""
    return math.exp(
        -activation_energy / GAS_CONSTANT * (1.0 / temperature - 1.0 / reference_temperature)
    )


# --------------------------------------------------------------------------------------------
# Safe expressions of (c, T)
# --------------------------------------------------------------------------------------------
_VARIABLES = ("c", "T")
_FUNCTIONS_UFL: dict[str, Callable[..., object]] = {
    "exp": ufl.exp,
    "log": ufl.ln,
    "sqrt": ufl.sqrt,
    "tanh": ufl.tanh,
    "abs": abs,
    "min": ufl.min_value,
    "max": ufl.max_value,
}
_FUNCTIONS_NUMPY: dict[str, Callable[..., object]] = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "tanh": np.tanh,
    "abs": np.abs,
    "min": np.minimum,
    "max": np.maximum,
}
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def parse_expression(text: str) -> ast.Expression:
    """Parse and validate a property expression of ``c`` and ``T``.

    Raises:
        ValueError: Syntax error, or a name, function or operator outside the whitelist.
    """
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"expression {text!r}: syntax error ({err.msg})") from err
    for node in ast.walk(tree):
        if isinstance(node, ast.Expression | ast.Load | ast.operator | ast.unaryop):
            if isinstance(node, ast.operator) and type(node) not in _BINARY:
                raise ValueError(f"expression {text!r}: operator {type(node).__name__} not allowed")
            if isinstance(node, ast.unaryop) and not isinstance(node, ast.UAdd | ast.USub):
                raise ValueError(f"expression {text!r}: operator {type(node).__name__} not allowed")
        elif isinstance(node, ast.BinOp | ast.UnaryOp):
            continue
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float) or isinstance(node.value, bool):
                raise ValueError(f"expression {text!r}: constant {node.value!r} is not a number")
        elif isinstance(node, ast.Name):
            if node.id not in _VARIABLES and node.id not in _FUNCTIONS_UFL:
                raise ValueError(
                    f"expression {text!r}: unknown name {node.id!r}; allowed variables "
                    f"{', '.join(_VARIABLES)} and functions {', '.join(_FUNCTIONS_UFL)}"
                )
        elif isinstance(node, ast.Call):
            if (
                not isinstance(node.func, ast.Name)
                or node.func.id not in _FUNCTIONS_UFL
                or node.keywords
            ):
                raise ValueError(
                    f"expression {text!r}: only calls of {', '.join(_FUNCTIONS_UFL)} are allowed"
                )
        else:
            raise ValueError(f"expression {text!r}: {type(node).__name__} not allowed")
    return tree


def _compile(
    node: ast.AST, variables: dict[str, object], functions: dict[str, Callable[..., object]]
):
    """Evaluate a validated expression tree with the given variable values and functions."""
    if isinstance(node, ast.Expression):
        return _compile(node.body, variables, functions)
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return variables[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, variables, functions)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        a = _compile(node.left, variables, functions)
        b = _compile(node.right, variables, functions)
        op = _BINARY[type(node.op)]
        return {
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: a / b,
            "**": lambda: a**b,
        }[op]()
    if isinstance(node, ast.Call):
        args = [_compile(arg, variables, functions) for arg in node.args]
        return functions[node.func.id](*args)
    raise ValueError(f"unexpected expression node {type(node).__name__}")


def property_ufl(value: object, c: object, temperature: float) -> object:
    """A property (number, ``ExpressionProperty`` or ``TableProperty``) as a UFL expression of c."""
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "expression"):
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


def evaluate_property(value: object, c: float, temperature: float) -> float:
    """A property evaluated at one concentration (numpy; same semantics as :func:`property_ufl`)."""
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "expression"):
        return float(
            _compile(
                parse_expression(value.expression), {"c": c, "T": temperature}, _FUNCTIONS_NUMPY
            )
        )
    return float(np.interp(c, value.concentration, value.values))


# --------------------------------------------------------------------------------------------
# Dilute-solution parameter sets
# --------------------------------------------------------------------------------------------
def dilute_ionic_diffusivities(cfg: DiluteElectrolyte, temperature: float) -> tuple[float, float]:
    """Ionic diffusivities (D+, D-) at the reference temperature from a dilute parameter set.

    Accepts (D+, D-) or two or three of (D, t+, kappa at c_bulk); every given key beyond what
    determines (D+, D-) is checked against the dilute relations within
    ``model_spec.DILUTE_CONSISTENCY_RTOL``.

    Raises:
        ValueError: Under-specified set, or the name of the key that disagrees.
    """
    from solver.model_spec import DILUTE_CONSISTENCY_RTOL

    f_rt = FARADAY**2 * cfg.bulk_concentration / (GAS_CONSTANT * temperature)  # kappa / (D+ + D-)
    dp, dm = cfg.cation_diffusivity, cfg.anion_diffusivity
    if (dp is None) != (dm is None):
        raise ValueError(
            "electrolyte: give both cation_diffusivity and anion_diffusivity, or neither"
        )
    if dp is None:
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
        s = d / (2.0 * tp * (1.0 - tp)) if d is not None else kappa / f_rt
        dp, dm = tp * s, (1.0 - tp) * s
    derived = {
        "diffusivity": 2.0 * dp * dm / (dp + dm),
        "transference_number": dp / (dp + dm),
        "conductivity": f_rt * (dp + dm),
    }
    for key, expected in derived.items():
        value = getattr(cfg, key)
        if value is not None and abs(value - expected) > DILUTE_CONSISTENCY_RTOL * abs(expected):
            raise ValueError(
                f"electrolyte.{key}: {value:.6g} disagrees with the dilute-solution value "
                f"{expected:.6g} implied by the other parameters "
                f"(tolerance {DILUTE_CONSISTENCY_RTOL:.0%})"
            )
    return dp, dm


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
    dp, dm = (d * factor for d in dilute_ionic_diffusivities(cfg, t_ref))
    k_over_c = FARADAY**2 * (dp + dm) / (GAS_CONSTANT * temp)
    d_salt, t_plus = 2.0 * dp * dm / (dp + dm), dp / (dp + dm)
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

    def make(value: object, factor: float) -> Callable[[object], object]:
        def prop(c: object) -> object:
            if isinstance(c, int | float):
                return factor * evaluate_property(value, float(c), temp)
            return factor * property_ufl(value, c, temp)

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
