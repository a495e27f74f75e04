"""Flat cells with exact 1D answers: interphase resistance, control modes, conservation, leakage.

Single-ion conductors with linearised kinetics give a linear problem whose flat-cell solution is
linear in y, reproduced exactly by P1 and P2: tolerances are solver round-off (1e-9 relative).
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import math
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_flat_bundle
from mpi4py import MPI

from solver.constants import FARADAY, GAS_CONSTANT
from solver.kinetics import charge_transfer_resistance
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation, SimulationError

T = 298.15
SIGMA, SIGMA_SEI, I0 = 0.05, 2e-6, 20.0  # S/m, S/m, A/m^2
L_E, H = 50e-6, 20e-9  # electrolyte thickness, interphase thickness (m)


def _case(physics: dict, degree: int = 2, time: TimeConfig | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        physics=PhysicsConfig(**physics),
        time=time or TimeConfig(),
        numerics=NumericsConfig(degree=degree),
    )


def _single_ion(layer: bool, control: dict, **extra) -> dict:
    physics = {
        "electrolyte": {"type": "single_ion", "conductivity": SIGMA},
        "kinetics": {"model": "linear", "exchange_current_density": I0},
        "control": control,
    }
    if layer:
        physics["interphase"] = {"sei": {"conductivity": SIGMA_SEI, **extra}}
    return physics


def _bundle(layer: bool, coordinates: str = "cartesian", n=(3, 12)):
    spec = ("sei", H, 3) if layer else None
    height = L_E + (H if layer else 0.0)
    return make_flat_bundle(MPI.COMM_WORLD, 10e-6, height, n, layer=spec, coordinates=coordinates)


@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize(
    ("coordinates", "n"),
    [("cartesian", (3, 12)), ("axisymmetric", (3, 12)), ("cartesian", (2, 2, 8))],
)
def test_interphase_adds_h_over_sigma(degree, coordinates, n):
    """A uniform layer of thickness h adds exactly h/sigma to the area-specific resistance."""
    J = 10.0
    asr = []
    for layer in (False, True):
        case = _case(_single_ion(layer, {"mode": "galvanostatic", "current_density": J}), degree)
        snap = next(iter(Simulation(_bundle(layer, coordinates, n), case, MPI.COMM_WORLD).run()))
        assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-10)
        width = 10e-6
        area = {2: width, 3: width**2}[len(n)] if coordinates == "cartesian" else math.pi * width**2
        assert snap.scalars["projected_area"] == pytest.approx(area, rel=1e-12)
        asr.append(-snap.scalars["cell_voltage"] / J)
    r_ct = charge_transfer_resistance(I0, 0.5, 0.5, T)
    assert asr[0] == pytest.approx(r_ct + L_E / SIGMA, rel=1e-9)
    assert asr[1] - asr[0] == pytest.approx(H / SIGMA_SEI, rel=1e-9)


def test_potentiostatic_current():
    """phi_s given: J = -phi_s / (R_ct + h/sigma_sei + L/sigma)."""
    phi_s = -0.08
    case = _case(_single_ion(True, {"mode": "potentiostatic", "potential": phi_s}))
    snap = next(iter(Simulation(_bundle(True), case, MPI.COMM_WORLD).run()))
    r_total = charge_transfer_resistance(I0, 0.5, 0.5, T) + H / SIGMA_SEI + L_E / SIGMA
    assert snap.scalars["current_mean"] == pytest.approx(-phi_s / r_total, rel=1e-9)
    assert snap.scalars["counter_current"] == pytest.approx(-phi_s / r_total, rel=1e-9)
    assert snap.scalars["cell_voltage"] == phi_s


def test_leakage_current_of_an_electronically_leaky_layer():
    """sigma_e > 0: leakage = sigma_e (Phi(h) - phi_s)/h with Phi(h) = -J L_e/sigma."""
    J, sigma_e = 10.0, 1e-7
    case = _case(
        _single_ion(
            True, {"mode": "galvanostatic", "current_density": J}, electronic_conductivity=sigma_e
        )
    )
    snap = next(iter(Simulation(_bundle(True), case, MPI.COMM_WORLD).run()))
    phi_outer = -J * L_E / SIGMA
    expected = sigma_e * (phi_outer - snap.scalars["cell_voltage"]) / H
    assert expected > 0.0
    assert snap.scalars["leakage_current"] == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("counter", ["reservoir", "li_electrode"])
def test_galvanostatic_binary_conservation(counter):
    """Butler-Volmer, dilute binary electrolyte: mean Faradaic current = applied = counter
    current (solver tolerance); the surface sample integrates to the same current."""
    J = 30.0
    physics = {
        "electrolyte": {
            "type": "dilute",
            "bulk_concentration": 1000.0,
            "diffusivity": 3e-10,
            "transference_number": 0.38,
        },
        "kinetics": {"model": "butler_volmer", "exchange_current_density": 5.0},
        "counter": {"type": counter},
        "control": {"mode": "galvanostatic", "current_density": J},
    }
    time = (
        TimeConfig() if counter == "reservoir" else TimeConfig(mode="transient", t_end=2.0, dt=0.5)
    )
    sim = Simulation(_bundle(False, n=(2, 16)), _case(physics, time=time), MPI.COMM_WORLD)
    snap = list(sim.run())[-1]
    assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-10)
    assert snap.scalars["counter_current"] == pytest.approx(J, rel=1e-8)
    s = snap.surface
    total = MPI.COMM_WORLD.allreduce(float((s.weight * s.j).sum()), op=MPI.SUM)
    assert total / snap.scalars["projected_area"] == pytest.approx(J, rel=1e-8)
    assert snap.scalars["cell_voltage"] < 0.0  # plating needs phi_s below the counter


def test_rejections_name_the_key():
    physics = _single_ion(True, {"mode": "galvanostatic", "current_density": 1.0})
    physics["interphase"] = {}
    with pytest.raises(SimulationError, match="physics.interphase"):
        Simulation(_bundle(True), _case(physics), MPI.COMM_WORLD)
    binary = {
        "electrolyte": {
            "type": "dilute",
            "bulk_concentration": 1000.0,
            "diffusivity": 3e-10,
            "transference_number": 0.38,
        },
        "counter": {"type": "li_electrode"},
        "control": {"mode": "galvanostatic", "current_density": 1.0},
    }
    with pytest.raises(SimulationError, match="time.mode"):
        Simulation(_bundle(False), _case(binary), MPI.COMM_WORLD)


@pytest.mark.parametrize("model", ["primary", "tafel", "butler_volmer"])
def test_galvanostatic_rate_laws(model):
    """Flat cell with a layer: phi_s = -J (h/sigma_sei + L_e/sigma) - eta(J), with eta = 0
    (primary), -ln(J/i0)/(alpha_c f) (Tafel) and -2 asinh(J/(2 i0))/f (symmetric BV)."""
    J = 10.0
    physics = _single_ion(True, {"mode": "galvanostatic", "current_density": J})
    physics["kinetics"] = {"model": model, "exchange_current_density": I0}
    snap = next(iter(Simulation(_bundle(True), _case(physics), MPI.COMM_WORLD).run()))
    f = FARADAY / (GAS_CONSTANT * T)
    eta = {
        "primary": 0.0,
        "tafel": -math.log(J / I0) / (0.5 * f),
        "butler_volmer": -2.0 * math.asinh(J / (2.0 * I0)) / f,
    }[model]
    expected = -J * (H / SIGMA_SEI + L_E / SIGMA) + eta
    assert snap.scalars["cell_voltage"] == pytest.approx(expected, rel=1e-9)
    assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-9)


def test_concentrated_electrolyte_under_an_interphase():
    """Valøen-Reimers LiPF6 below a layer: charge conservation and the salt balance hold
    (mean current = applied = counter current; c at the layer below c_bulk, above 0)."""
    J = 30.0
    physics = {
        "electrolyte": {"type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005"},
        "interphase": {"sei": {"conductivity": SIGMA_SEI}},
        "control": {"mode": "galvanostatic", "current_density": J},
    }
    snap = next(iter(Simulation(_bundle(True, n=(2, 16)), _case(physics), MPI.COMM_WORLD).run()))
    assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-10)
    assert snap.scalars["counter_current"] == pytest.approx(J, rel=1e-8)
    assert 0.0 < snap.scalars["min_surface_concentration"] < 1000.0
    assert all(np.isfinite(f.x.array).all() for f in snap.fields.values())


@pytest.mark.parametrize("model", ["tafel", "butler_volmer"])
def test_continuation_far_above_the_exchange_current(model):
    """J = 100 i0: the linearised start uses the secant through eta(J), so the full rate law
    starts near its solution (a tangent start at eta = J R_ct = 2.6 V overflowed exp(alpha f eta)
    and Newton stopped on the relative tolerance far from the root)."""
    J = 100.0 * I0
    physics = _single_ion(True, {"mode": "galvanostatic", "current_density": J})
    physics["kinetics"] = {"model": model, "exchange_current_density": I0}
    snap = next(iter(Simulation(_bundle(True), _case(physics), MPI.COMM_WORLD).run()))
    f = FARADAY / (GAS_CONSTANT * T)
    eta = {
        "tafel": -math.log(J / I0) / (0.5 * f),
        "butler_volmer": -2.0 * math.asinh(J / (2.0 * I0)) / f,
    }[model]
    assert snap.scalars["cell_voltage"] == pytest.approx(
        -J * (H / SIGMA_SEI + L_E / SIGMA) + eta, rel=1e-9
    )
    assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-9)
