"""Dimensionless numbers against hand-computed values (solver/dimensionless.py).

Reference numbers (T = 298.15 K, RT/F = 0.0256926 V):
  R_ct linear, i0 = 10 A/m^2, alpha_a = alpha_c = 0.5: 0.0256926 / 10 = 2.56926e-3 Ohm m^2
  R_ct Tafel, J = 50 A/m^2, alpha_c = 0.5: 0.0256926 / 25 = 1.02770e-3 Ohm m^2
  Wa (kappa 1 S/m, l = 10 um) = 2.56926e-3 / 1e-5 = 256.926
  10 nm layer at 1e-6 S/m adds 1e-2 Ohm m^2: Wa_int = 1.256926e-2 / 1e-5 = 1256.926
  J_lim (D 3e-10, c 1000, t+ 0.4, L 100 um) = 96485.33 * 3e-7 / 6e-5 = 482.4267 A/m^2
  t_Sand (J 10 A/m^2, same salt) = pi 3e-10 (9.648533e7)^2 / (4 * 36) = 60930.0 s
"""

import math

import pytest

from solver.dimensionless import (
    charge_transfer_resistance,
    dimensionless_numbers,
    interphase_resistance,
    limiting_current,
    parallel_charge_transfer_resistance,
    sand_time,
    wagner_number,
)

T = 298.15


def test_charge_transfer_resistance_regimes():
    r, regime = charge_transfer_resistance(10.0, 0.5, 0.5, T)
    assert regime == "linear" and r == pytest.approx(2.56926e-3, rel=1e-5)
    r, regime = charge_transfer_resistance(10.0, 0.5, 0.5, T, current_density=-50.0)
    assert regime == "tafel" and r == pytest.approx(1.02770e-3, rel=1e-5)
    # crossover at |J| = (alpha_a + alpha_c) i0 / alpha_c = 20 A/m^2
    assert charge_transfer_resistance(10.0, 0.5, 0.5, T, 19.0)[1] == "linear"
    assert charge_transfer_resistance(10.0, 0.5, 0.5, T, 21.0)[1] == "tafel"
    with pytest.raises(ValueError, match="i0"):
        charge_transfer_resistance(0.0, 0.5, 0.5, T)


def test_wagner_numbers():
    assert wagner_number(1.0, 2.56926e-3, 1e-5) == pytest.approx(256.926, rel=1e-5)
    assert interphase_resistance([(10e-9, 1e-6), (5e-9, 1e-5)]) == pytest.approx(1.05e-2)
    with pytest.raises(ValueError, match="length"):
        wagner_number(1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="conductivity"):
        interphase_resistance([(1e-9, 0.0)])


def test_limiting_current_and_sand_time():
    assert limiting_current(3e-10, 1000.0, 0.4, 1e-4) == pytest.approx(482.4267, rel=1e-6)
    assert limiting_current(3e-10, 1000.0, 0.4, 1e-4, "symmetric") == pytest.approx(964.8533)
    assert limiting_current(3e-10, 1000.0, 1.0, 1e-4) == math.inf
    assert sand_time(3e-10, 1000.0, 10.0, 0.4) == pytest.approx(60930.0, rel=1e-6)
    assert sand_time(3e-10, 1000.0, -10.0, 0.4) == pytest.approx(60930.0, rel=1e-6)
    assert sand_time(3e-10, 1000.0, 0.0, 0.4) == math.inf
    with pytest.raises(ValueError, match="cell"):
        limiting_current(3e-10, 1000.0, 0.4, 1e-4, "closed")


def test_dimensionless_numbers_binary_and_single_ion():
    numbers = dimensionless_numbers(
        kappa=1.0, length=1e-5, i0=10.0, alpha_a=0.5, alpha_c=0.5, temperature=T,
        current_density=10.0, t=6093.0, layers=[(10e-9, 1e-6)],
        D=3e-10, c_bulk=1000.0, t_plus=0.4, L=1e-4,
    )
    assert numbers.regime == "linear"
    values = numbers.as_dict()
    assert values["wagner"] == pytest.approx(256.926, rel=1e-5)
    assert values["wagner_with_interphase"] == pytest.approx(1256.926, rel=1e-5)
    assert values["i_over_ilim"] == pytest.approx(10.0 / 482.4267, rel=1e-6)
    assert values["t_over_sand"] == pytest.approx(0.1, rel=1e-5)
    single_ion = dimensionless_numbers(
        kappa=0.1, length=1e-5, i0=10.0, alpha_a=0.5, alpha_c=0.5, temperature=T,
        current_density=10.0, t=1.0,
    )
    assert single_ion.i_over_ilim == 0.0 and single_ion.t_over_sand == 0.0
    assert single_ion.wagner == single_ion.wagner_with_interphase
    with pytest.raises(ValueError, match="binary"):
        dimensionless_numbers(
            kappa=1.0, length=1e-5, i0=10.0, alpha_a=0.5, alpha_c=0.5, temperature=T,
            current_density=10.0, t_plus=0.4,
        )


def test_parallel_charge_transfer_resistance_is_area_weighted():
    """Half the area at i0 = 10 and half at 30 A/m^2 (linear): conductances add by area, so
    R_ct is that of i0 = 20 (exact); one part alone is that part's R_ct."""
    r, regime = parallel_charge_transfer_resistance(
        [(0.5, 10.0, 0.5, 0.5), (0.5, 30.0, 0.5, 0.5)], T
    )
    assert r == pytest.approx(charge_transfer_resistance(20.0, 0.5, 0.5, T)[0], rel=1e-14)
    assert regime == "linear"
    alone = parallel_charge_transfer_resistance([(1.0, 30.0, 0.5, 0.5), (0.0, 1.0, 0.5, 0.5)], T)
    assert alone == charge_transfer_resistance(30.0, 0.5, 0.5, T)
    assert parallel_charge_transfer_resistance([(1.0, math.inf, 0.5, 0.5)], T)[0] == 0.0


def test_wagner_number_takes_the_kinetics_of_the_interphase_that_carries_the_current():
    """A flat Li | SEI | electrolyte cell whose SEI covers the whole Li surface and has its own
    i0 (5x the base): the Wagner number uses the SEI's i0 (the base kinetics' part has no
    area). Before the fix it took the first surface part, the bare-Li one, whose i0 never
    reaches the current. Reference: Wa = kappa R_ct(i0_sei) / L_e (the flat cell's length is its
    height; rel 1e-12, the area integrals are exact on the structured mesh)."""
    from types import SimpleNamespace

    from conftest import make_flat_bundle
    from mpi4py import MPI

    from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
    from solver.problem import Simulation

    sigma, i0_base, i0_sei, height = 0.05, 20.0, 100.0, 50e-6
    physics = PhysicsConfig(
        temperature=T,
        electrolyte={"type": "single_ion", "conductivity": sigma},
        kinetics={"exchange_current_density": i0_base},
        interphase={"sei": {"conductivity": 2e-6,
                            "kinetics": {"exchange_current_density": i0_sei}}},
        control={"mode": "galvanostatic", "current_density": 1.0},
    )
    case = SimpleNamespace(physics=physics, time=TimeConfig(), numerics=NumericsConfig(degree=1))
    bundle = make_flat_bundle(MPI.COMM_WORLD, 10e-6, height, (2, 8), layer=("sei", 20e-9, 2))
    simulation = Simulation(bundle, case, MPI.COMM_WORLD)
    (snapshot,) = simulation.run()
    r_ct, _ = charge_transfer_resistance(i0_sei, 0.5, 0.5, T, snapshot.scalars["current_mean"])
    assert snapshot.dimensionless["wagner"] == pytest.approx(
        wagner_number(sigma, r_ct, simulation._height()), rel=1e-12
    )
    r_base, _ = charge_transfer_resistance(i0_base, 0.5, 0.5, T, 1.0)
    assert snapshot.dimensionless["wagner"] < 0.5 * wagner_number(sigma, r_base, height)


def test_parallel_charge_transfer_resistance_of_primary_kinetics_is_zero():
    """Primary kinetics (i0 = inf) on the parts with area: R_ct = 0, whatever the part without
    area has."""
    parts = [(0.0, math.inf, 0.5, 0.5), (1.0, math.inf, 0.5, 0.5)]
    assert parallel_charge_transfer_resistance(parts, T, 5.0)[0] == 0.0
