"""The interphase thickens from its electronic leakage current (docs/theory.md, "Moving Li
surface", "Interphase thickening from the electronic leakage").

Flat Li | leaky layer | single-ion electrolyte, galvanostatic at J: the electronic path runs
from phi_s on the Li to Phi at the layer's outer surface, a drop eta + J h / sigma_i (eta the
Li surface's overpotential, fixed by J), so the leakage is uniform,
i_e = sigma_e (eta + J h / sigma_i) / h, and falls as the layer thickens.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_flat_bundle
from mpi4py import MPI
from pydantic import ValidationError

from solver.constants import FARADAY, GAS_CONSTANT
from solver.library.inorganic import LI_MOLAR_VOLUME
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation

J = 50.0  # A/m^2 (5 mA/cm^2)
WIDTH, HEIGHT, LAYER = 2e-6, 5e-6, 40e-9
SIGMA_I, SIGMA_E = 1e-4, 1e-5  # S/m: i_e ~ 26 A/m^2 at h = 40 nm
V_SEI, N_E = 9.8e-6, 2  # m^3/mol, electrons per formula unit (any values: the test is exact)
T_END, DT = 4.0, 0.5


def _case(thickening: dict | None) -> SimpleNamespace:
    growth = {"enabled": True}
    if thickening is not None:
        growth["interphase_thickening"] = thickening
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 1e-2},
        interphase={"sei": {"conductivity": SIGMA_I, "electronic_conductivity": SIGMA_E}},
        kinetics={"model": "butler_volmer", "exchange_current_density": 10.0},
        control={"mode": "galvanostatic", "current_density": J},
        growth=growth,
    )
    time = TimeConfig(mode="transient", t_end=T_END, dt=DT, adaptivity="none",
                      output_times=list(np.arange(DT, T_END + DT / 2, DT)))
    return SimpleNamespace(physics=physics, time=time, numerics=NumericsConfig(degree=1))


def _run(thickening: dict | None):
    """(Li-node heights, sei thickness, leakage current of each step's move) at every output."""
    comm = MPI.COMM_WORLD
    bundle = make_flat_bundle(comm, WIDTH, HEIGHT, (4, 12), layer=("sei", LAYER, 2))
    simulation = Simulation(bundle, _case(thickening), comm)
    thick = simulation.growth.motion.thickening
    heights, thickness, leak = [], [], []
    for _ in simulation.run():
        points = simulation.growth.kinematics.points()
        heights.append(np.concatenate(comm.allgather(points[:, 1])))
        thickness.append(simulation.domain.volumes["sei"] / WIDTH)
        leak.append(None if thick is None else list(thick.steps))
    return heights, thickness, leak


def test_leaky_layer_thickens_by_leaked_charge_while_li_rises_by_its_own():
    """Plate 4 s at J (16 steps of 0.25 s, BDF2) with thickening on.

    Every output: the layer is LAYER + sum_n i_e,n dt V_sei/(n_e F) thick (1e-10 relative; i_e,n
    the leakage current the step's move used), every Li node at J t V_m/F (1e-10 relative: the
    Li moves by its Faradaic current only; the leaked charge is not deposited as Li), and the
    leakage is that of the thickened layer: eta_n = i_e,n h_n / sigma_e - J h_n / sigma_i (h_n
    the thickness the step was solved on) is the Butler-Volmer overpotential of J at every step
    (1e-8: the leakage solve's tolerance in docs/theory.md; measured 0.0846432 V) while i_e
    falls from 26.2 to 23.9 A/m^2. Added: 5.07 nm on 40 nm, far above the 1e-10 bound.
    """
    heights, thickness, records = _run({"enabled": True, "molar_volume": V_SEI, "electrons": N_E})
    steps = np.asarray(records[-1])  # (dt, i_e) of every step
    added = np.array([np.sum(np.prod(r, axis=1)) for r in records]) * V_SEI / (N_E * FARADAY)
    assert added[-1] > 1e-9  # the thickening is there
    assert np.allclose(thickness, LAYER + added, rtol=1e-10, atol=0.0)
    for k, h in enumerate(heights):
        rise = J * (k + 1) * DT * LI_MOLAR_VOLUME / FARADAY
        assert np.allclose(h, rise, rtol=1e-10, atol=0.0)
    dt, leak = steps.T
    assert dt.sum() == pytest.approx(T_END, rel=1e-12)
    solved_on = LAYER + np.concatenate([[0.0], np.cumsum(dt * leak)[:-1]]) * V_SEI / (N_E * FARADAY)
    eta = leak * solved_on / SIGMA_E - J * solved_on / SIGMA_I
    assert leak[-1] < 0.95 * leak[0]  # the leakage sees the thicker layer
    # symmetric Butler-Volmer (i0 = 10 A/m^2, alpha 1/2) at 298.15 K: 0.0846 V
    eta_bv = 2.0 * GAS_CONSTANT * 298.15 / FARADAY * np.arcsinh(J / (2.0 * 10.0))
    assert np.allclose(eta, eta_bv, rtol=1e-8, atol=0.0)


def test_thickening_off_by_default_keeps_the_layer():
    """Without the section (and with it disabled) the leaky layer rides unchanged: 1e-10."""
    for thickening in (None, {"enabled": False}):
        heights, thickness, leak = _run(thickening)
        assert leak[-1] is None  # no thickening object
        assert np.allclose(thickness, LAYER, rtol=1e-10, atol=0.0)
        assert np.allclose(heights[-1], J * T_END * LI_MOLAR_VOLUME / FARADAY, rtol=1e-10)


def test_thickening_enabled_needs_the_molar_volume():
    """No invented default: enabled without molar_volume is refused naming the key path."""
    with pytest.raises(ValidationError, match=r"physics\.growth\.interphase_thickening"
                       r"\.molar_volume: required when enabled"):
        PhysicsConfig(
            electrolyte={"type": "single_ion", "conductivity": 1e-2},
            growth={"enabled": True, "interphase_thickening": {"enabled": True}},
        )


@pytest.mark.mpi
def test_thickening_on_two_ranks_equals_serial():
    """The thickened run on the ranks of COMM_WORLD = the serial reference values, 1e-8."""
    _, thickness, records = _run({"enabled": True, "molar_volume": V_SEI, "electrons": N_E})
    _, leak = np.asarray(records[-1]).T
    assert thickness[-1] == pytest.approx(LAYER + 5.0740278985586074e-09, rel=1e-8)
    assert leak[0] == pytest.approx(26.160808279764083, rel=1e-8)


def test_thickening_refused_with_remeshing():
    """A remesh would regenerate the layer at its configured thickness: the pair is refused."""
    with pytest.raises(ValidationError, match=r"physics\.growth\.interphase_thickening"
                       r"\.enabled: not with remeshing"):
        PhysicsConfig(
            electrolyte={"type": "single_ion", "conductivity": 1e-2},
            growth={"enabled": True, "remesh": {"enabled": True}, "interphase_thickening": {
                "enabled": True, "molar_volume": V_SEI}},
        )
