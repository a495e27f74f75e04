"""Secondary current distribution on a shallow sinusoidal Li surface y = eps cos(k x).

Linear-perturbation solution (linear kinetics, single-ion conductor, counter far away, k L >> 1):
j/j0 = 1 + eps k cos(k x) / (1 + kappa R_ct k), R_ct = R T / ((alpha_a + alpha_c) F i0).
The domain is half a wavelength wide (symmetric sides on a crest and a trough) and two
wavelengths high (exp(-2 k L) ~ 1e-11). The cos(k x) amplitude of j/j0 - 1 is projected from
the surface sample; second-order terms (cos 2kx and a constant) are orthogonal to cos(k x) on
the half period, so the amplitude error is O((eps k)^2) relative plus discretisation: with
eps k = 0.01 the tolerance is 2 % of the amplitude.
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
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation

WAVELENGTH = 10e-6
K = 2 * math.pi / WAVELENGTH
EPS = 0.01 / K
KAPPA, J, T = 0.01, 10.0, 298.15


@pytest.mark.parametrize("wagner", [0.25, 1.0, 4.0])
def test_sinusoid_secondary_distribution(wagner):
    r_ct = wagner / (KAPPA * K)
    i0 = GAS_CONSTANT * T / (FARADAY * r_ct)
    height = 2 * WAVELENGTH
    bundle = make_flat_bundle(MPI.COMM_WORLD, WAVELENGTH / 2, height, (16, 64))
    x = bundle.mesh.geometry.x
    x[:, 1] += EPS * np.cos(K * x[:, 0]) * (1.0 - x[:, 1] / height)
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": KAPPA},
        kinetics={"model": "linear", "exchange_current_density": i0},
        control={"mode": "galvanostatic", "current_density": J},
    )
    case = SimpleNamespace(physics=physics, time=TimeConfig(), numerics=NumericsConfig(degree=2))
    snap = next(iter(Simulation(bundle, case, MPI.COMM_WORLD).run()))
    s = snap.surface
    comm = MPI.COMM_WORLD
    basis = np.cos(K * s.x[:, 0])
    num = comm.allreduce(float(np.sum(s.weight * (s.j / J - 1.0) * basis)), op=MPI.SUM)
    den = comm.allreduce(float(np.sum(s.weight * basis**2)), op=MPI.SUM)
    amplitude = num / den
    expected = EPS * K / (1.0 + wagner)
    assert amplitude == pytest.approx(expected, rel=0.02), (
        f"amplitude {amplitude}, theory {expected}"
    )
    assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-10)
