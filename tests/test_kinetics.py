"""Rate laws, Arrhenius factors, property expressions and dilute-parameter consistency.

Values are compared with the closed-form expressions evaluated in numpy; tolerances are
round-off (1e-12 relative) unless stated.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import math

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI
from pydantic import ValidationError

from solver.kinetics import Kinetics, charge_transfer_resistance
from solver.model_spec import ExpressionProperty, PhysicsConfig, TableProperty
from solver.transport import (
    FARADAY,
    GAS_CONSTANT,
    arrhenius,
    build_electrolyte,
    evaluate_property,
    parse_expression,
    property_ufl,
)

T = 298.15
F_RT = FARADAY / (GAS_CONSTANT * T)


@pytest.fixture(scope="module")
def unit_mesh():
    return mesh.create_unit_square(MPI.COMM_SELF, 1, 1)


def _value(msh, expr) -> float:
    """Evaluate a spatially constant UFL expression (integral over the unit square)."""
    return fem.assemble_scalar(fem.form(expr * ufl.dx(domain=msh)))


def _kinetics(model, c_ref=None):
    return Kinetics(model, i0=12.0, alpha_a=0.3, alpha_c=0.7, temperature=T, c_ref=c_ref)


@pytest.mark.parametrize("eta", [-0.2, -0.01, 0.0, 0.05, 0.15])
def test_butler_volmer_family(unit_mesh, eta):
    e = fem.Constant(unit_mesh, eta)
    bv = _value(unit_mesh, _kinetics("butler_volmer").anodic_current(e))
    expected = 12.0 * (math.exp(0.3 * F_RT * eta) - math.exp(-0.7 * F_RT * eta))
    assert bv == pytest.approx(expected, rel=1e-12, abs=1e-12)
    lin = _value(unit_mesh, _kinetics("linear").anodic_current(e))
    assert lin == pytest.approx(12.0 * F_RT * eta, rel=1e-12, abs=1e-12)
    tafel = _value(unit_mesh, _kinetics("tafel").anodic_current(e))
    assert tafel == pytest.approx(-12.0 * math.exp(-0.7 * F_RT * eta), rel=1e-12)
    # plating current is the negative anodic current
    j = _value(unit_mesh, _kinetics("butler_volmer").plating_current(e))
    assert j == pytest.approx(-expected, rel=1e-12, abs=1e-12)


def test_tafel_is_cathodic_limit_and_linear_is_slope(unit_mesh):
    k = _kinetics("butler_volmer")
    # far cathodic: the anodic exponential is negligible (relative size exp(-F_RT*0.5) ~ 4e-9)
    e = fem.Constant(unit_mesh, -0.5)
    bv = _value(unit_mesh, k.anodic_current(e))
    tafel = _value(unit_mesh, _kinetics("tafel").anodic_current(e))
    assert bv == pytest.approx(tafel, rel=1e-8)
    # the slope at eta = 0 is (alpha_a + alpha_c) F/(RT) i0 = 1/R_ct
    d = 1e-7
    slope = (
        _value(unit_mesh, k.anodic_current(fem.Constant(unit_mesh, d)))
        - _value(unit_mesh, k.anodic_current(fem.Constant(unit_mesh, -d)))
    ) / (2 * d)
    assert slope == pytest.approx(1.0 / k.charge_transfer_resistance, rel=1e-6)
    assert k.charge_transfer_resistance == pytest.approx(GAS_CONSTANT * T / (FARADAY * 12.0))


def test_concentration_dependence(unit_mesh):
    k = _kinetics("butler_volmer", c_ref=1000.0)
    e = fem.Constant(unit_mesh, -0.05)
    full = _value(unit_mesh, k.anodic_current(e, fem.Constant(unit_mesh, 250.0)))
    ref = _value(unit_mesh, k.anodic_current(e, fem.Constant(unit_mesh, 1000.0)))
    assert full / ref == pytest.approx(0.25**0.3, rel=1e-12)
    # against a single-ion conductor (no c_ref) i0 does not depend on c
    k1 = _kinetics("butler_volmer")
    assert _value(unit_mesh, k1.anodic_current(e, fem.Constant(unit_mesh, 250.0))) == pytest.approx(
        ref, rel=1e-12
    )


@pytest.mark.parametrize("model", ["butler_volmer", "tafel", "linear"])
@pytest.mark.parametrize("j", [0.3, 10.0, 1e3, -5.0])
def test_uniform_overpotential_inverts_the_rate_law(model, j):
    """eta(j) solves plating_current(eta) = j (1e-10 relative); the secant factor makes the
    linearised law pass through that point; a Tafel law cannot strip (None)."""
    k = Kinetics(model, 10.0, 0.3, 0.7, 300.0)
    eta = k.overpotential(j)
    if model == "tafel" and j <= 0.0:
        assert eta is None
        return
    assert -k.anodic_current(eta, exp=math.exp) == pytest.approx(j, rel=1e-10)
    if eta != 0.0:  # (Tafel gives j = i0 at eta = 0, which no line through 0 reaches)
        linear = Kinetics("linear", k.i0, k.alpha_a, k.alpha_c, k.temperature)
        secant = k.secant_factor(eta) * -linear.anodic_current(eta, exp=math.exp)
        assert secant == pytest.approx(j, rel=1e-10)


def test_primary_has_no_rate_expression(unit_mesh):
    with pytest.raises(ValueError, match="primary"):
        _kinetics("primary").anodic_current(fem.Constant(unit_mesh, 0.1))


def test_arrhenius_and_temperature_in_kinetics():
    assert arrhenius(40e3, 298.15, 298.15) == 1.0
    ratio = arrhenius(40e3, 333.15, 298.15)
    assert ratio == pytest.approx(math.exp(-40e3 / GAS_CONSTANT * (1 / 333.15 - 1 / 298.15)))
    assert ratio > 1.0
    physics = PhysicsConfig(
        temperature=333.15,
        electrolyte={
            "type": "single_ion",
            "conductivity": 0.01,
            "conductivity_activation_energy": 40e3,
        },
        kinetics={"exchange_current_density": 5.0, "activation_energy": 40e3},
    )
    assert build_electrolyte(physics).sigma == pytest.approx(0.01 * ratio)
    k = Kinetics.from_config(
        physics.kinetics, physics.temperature, physics.reference_temperature, None
    )
    assert k.i0 == pytest.approx(5.0 * ratio)
    assert charge_transfer_resistance(5.0, 0.5, 0.5, 333.15) == pytest.approx(
        GAS_CONSTANT * 333.15 / (FARADAY * 5.0)
    )


def test_dilute_relations_and_consistency():
    base = {"type": "dilute", "bulk_concentration": 1000.0}
    dp, dm = 1.2e-10, 4.0e-10
    model = build_electrolyte(
        PhysicsConfig(electrolyte=base | {"cation_diffusivity": dp, "anion_diffusivity": dm})
    )
    assert model.bulk("t_plus") == pytest.approx(dp / (dp + dm))
    assert model.bulk("diffusivity") == pytest.approx(2 * dp * dm / (dp + dm))
    kappa = FARADAY**2 * (dp + dm) * 1000.0 / (GAS_CONSTANT * T)
    assert model.bulk("kappa") == pytest.approx(kappa)
    # (D, t+) reproduce the same model
    same = build_electrolyte(
        PhysicsConfig(
            electrolyte=base
            | {"diffusivity": 2 * dp * dm / (dp + dm), "transference_number": dp / (dp + dm)}
        )
    )
    assert same.bulk("kappa") == pytest.approx(kappa)
    # over-specified and inconsistent: the message names the disagreeing key
    with pytest.raises(ValidationError, match=r"electrolyte\.conductivity"):
        PhysicsConfig(
            electrolyte=base
            | {"cation_diffusivity": dp, "anion_diffusivity": dm, "conductivity": 0.5 * kappa}
        )
    with pytest.raises(ValidationError, match="transference_number"):
        PhysicsConfig(electrolyte=base | {"diffusivity": 3e-10, "conductivity": kappa})
    with pytest.raises(ValidationError, match="two of"):
        PhysicsConfig(electrolyte=base | {"diffusivity": 3e-10})


def test_binary_current_reduces_to_dilute_nernst_planck(unit_mesh):
    """i = -kappa grad(Phi) + kappa_D grad(ln c) equals F (N+ - N-) of dilute Nernst-Planck."""
    dp, dm = 1.2e-10, 4.0e-10
    physics = PhysicsConfig(
        electrolyte={
            "type": "dilute",
            "bulk_concentration": 800.0,
            "cation_diffusivity": dp,
            "anion_diffusivity": dm,
        }
    )
    model = build_electrolyte(physics)
    x = ufl.SpatialCoordinate(unit_mesh)
    c = 800.0 * (1 + 0.3 * x[0] + 0.1 * x[1] ** 2)
    phi_es = 0.02 * x[0] * x[1] + 0.01 * x[1]  # electrostatic potential
    Phi = phi_es + ufl.ln(c / 800.0) / F_RT  # Li-reference potential
    n_plus = -dp * ufl.grad(c) - dp * c * F_RT * ufl.grad(phi_es)
    n_minus = -dm * ufl.grad(c) + dm * c * F_RT * ufl.grad(phi_es)
    i_np = FARADAY * (n_plus - n_minus)
    diff = model.current_density(Phi, c) - i_np
    err = _value(unit_mesh, ufl.dot(diff, diff))
    scale = _value(unit_mesh, ufl.dot(i_np, i_np))
    assert err <= 1e-24 * scale
    flux_diff = model.anion_flux(Phi, c) - n_minus
    assert _value(unit_mesh, ufl.dot(flux_diff, flux_diff)) <= 1e-24 * _value(
        unit_mesh, ufl.dot(n_minus, n_minus)
    )


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "c.__class__",
        "open('x')",
        "lambda: 1",
        "c if T else 1",
        "[c]",
        "x + 1",
        "exp(c, k=1)",
        "'a'",
    ],
)
def test_expression_parser_rejects(text):
    with pytest.raises(ValueError, match="expression"):
        parse_expression(text)


def test_expression_and_table_in_ufl(unit_mesh):
    expr = ExpressionProperty(expression="0.1*(c/1000)*exp(-0.5*(c/1000)**2) + max(T - 300, 0)")
    for c in (200.0, 1000.0, 1800.0):
        expected = 0.1 * (c / 1000) * math.exp(-0.5 * (c / 1000) ** 2)
        assert evaluate_property(expr, c, T) == pytest.approx(expected, rel=1e-12)
        ufl_value = _value(unit_mesh, property_ufl(expr, fem.Constant(unit_mesh, c), T))
        assert ufl_value == pytest.approx(expected, rel=1e-12)
    table = TableProperty(concentration=[0.0, 500.0, 1500.0], values=[1.0, 2.0, 0.5])
    for c in (-10.0, 0.0, 250.0, 500.0, 1200.0, 2000.0):
        expected = float(np.interp(c, table.concentration, table.values))
        assert _value(
            unit_mesh, property_ufl(table, fem.Constant(unit_mesh, c), T)
        ) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValidationError, match="increase"):
        TableProperty(concentration=[0.0, 0.0], values=[1.0, 2.0])


def test_library_materials_resolve():
    physics = PhysicsConfig(
        electrolyte={"type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005"},
        interphase={"sei": {"material": "LiI"}},
    )
    model = build_electrolyte(physics)
    # Valøen & Reimers (2005), Fig. 4: about 1.1 S/m at 1 M and 25 C (tolerance 15 %)
    assert model.bulk("kappa") == pytest.approx(1.1, rel=0.15)
    assert physics.interphase["sei"].conductivity == pytest.approx(6.8e-6)
    with pytest.raises(ValidationError, match="unknown interphase material"):
        PhysicsConfig(
            electrolyte={"type": "single_ion", "conductivity": 1.0},
            interphase={"s": {"material": "nope"}},
        )


def test_charge_transfer_resistance_has_one_formula():
    """Kinetics' R_ct (property and function) is the linear regime of solver.dimensionless;
    hand value RT/((alpha_a + alpha_c) F i0) at 310 K, i0 = 3 A/m^2: 8.9045777e-3 Ohm m^2."""
    from solver.dimensionless import charge_transfer_resistance as with_regime

    k = Kinetics("butler_volmer", i0=3.0, alpha_a=0.3, alpha_c=0.7, temperature=310.0)
    assert k.charge_transfer_resistance == pytest.approx(8.9045777e-3, rel=1e-7)
    assert with_regime(3.0, 0.3, 0.7, 310.0) == (k.charge_transfer_resistance, "linear")
    assert charge_transfer_resistance(3.0, 0.3, 0.7, 310.0) == k.charge_transfer_resistance
