"""The moving Li surface coupled to the time loop (issue 11; docs/theory.md, "Moving Li surface").

Through the full solver (``Simulation.run``) with ``physics.growth.enabled``.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_flat_bundle
from mpi4py import MPI

from solver.constants import FARADAY
from solver.growth.kinematics import LI_MOLAR_VOLUME
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation

J = 50.0  # A/m^2 (5 mA/cm^2)
WIDTH, HEIGHT, LAYER = 2e-6, 5e-6, 50e-9


def _case(electrolyte: dict, control: dict, time: dict, **growth) -> SimpleNamespace:
    physics = PhysicsConfig(
        electrolyte=electrolyte,
        interphase={"sei": {"conductivity": 1e-4}},
        kinetics={"model": "butler_volmer", "exchange_current_density": 10.0},
        control=control,
        growth={"enabled": True, **growth},
    )
    return SimpleNamespace(
        physics=physics, time=TimeConfig(mode="transient", **time),
        numerics=NumericsConfig(degree=1),
    )


def _li_heights(simulation: Simulation) -> np.ndarray:
    """y of every Li-surface node (all ranks)."""
    points = simulation.growth.kinematics.points()
    return np.concatenate(simulation.comm.allgather(points[:, 1]))


def test_flat_surface_rises_by_plated_charge_and_recedes():
    """Plate 4 s at J, strip 4 s at J: the flat Li surface rises by Q V_m/F and goes back.

    Single-ion electrolyte, a 50 nm layer riding on the Li; 8 steps per half. Reference:
    Q V_m/F = J t V_m/F = 27 nm; every Li node (uniform j on the flat cell) within 1e-10
    relative of it, the layer's thickness kept to 1e-10 of itself, and back to 0 (1e-10 of
    the rise) after stripping.
    """
    comm = MPI.COMM_WORLD
    bundle = make_flat_bundle(comm, WIDTH, HEIGHT, (4, 12), layer=("sei", LAYER, 2))
    protocol = [
        {"kind": "pulse", "duration": 4.0, "value": J},
        {"kind": "reverse_pulse", "duration": 4.0, "value": J},
    ]
    case = _case(
        {"type": "single_ion", "conductivity": 1e-2},
        {"mode": "galvanostatic", "protocol": protocol},
        {"t_end": 8.0, "dt": 0.5, "adaptivity": "none", "output_times": [4.0, 8.0]},
    )
    simulation = Simulation(bundle, case, comm)
    rise = J * 4.0 * LI_MOLAR_VOLUME / FARADAY
    heights = []
    layer = []
    for snapshot in simulation.run():
        heights.append(_li_heights(simulation))
        layer.append(simulation.domain.volumes["sei"])
        del snapshot
    plated, stripped = heights[-2], heights[-1]
    assert np.allclose(plated, rise, rtol=1e-10, atol=0.0)
    assert np.allclose(stripped, 0.0, rtol=0.0, atol=1e-10 * rise)
    assert layer[-2] == pytest.approx(LAYER * WIDTH, rel=1e-10)
