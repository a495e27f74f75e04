"""The residual-based (variationally consistent) Li-surface current of primary kinetics.

Manufactured solution on a flat structured cell (W = L = 100 um, Li at y = 0 where
Phi = phi_s, counter at y = L where Phi = 0, flat sides):
Phi = phi_s (L - y)/L + V0 cos(pi x/W) sin(pi y/L), i = -sigma grad Phi, a charge source
f = div i; the exact current into the Li is j = i.n = sigma (-phi_s/L + V0 pi/L cos(pi x/W)).
The sampled j (``SurfaceSample.j``, the residual flux lambda_h of ``solver.surface_flux``) is
compared with j at the quadrature points, for P1 and P2, Cartesian and axisymmetric:

* local L2 error on the Li surface: observed order 2.0-2.1 for P1 (the gradient flux -sigma
  grad Phi_h . n: 1.0) and 2.0 for P2 (gradient flux: 2.0); required >= 1.8 (P1 with the
  gradient flux fails this);
* total current: relative error <= 1e-6 on every mesh (observed 6e-7 (P1, axisymmetric, n = 4)
  to 1e-14, rate >= 2p until round-off; the gradient flux: 0.4 to 1e-3, first to third order),
  and the sample's integral equals the
  reaction's ``current_mean`` to 1e-10 (the mass solve's tolerance is 1e-13).
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import math
from types import SimpleNamespace

import numpy as np
import pytest
import ufl
from conftest import make_flat_bundle
from mpi4py import MPI

from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation
from solver.transport import build_electrolyte

W = L = 1e-4  # m
V0 = 0.02  # V
PHI_S = -0.05  # V
SIGMA = 0.05  # S/m


def _errors(n: int, degree: int, coordinates: str) -> tuple[float, float, float]:
    """(relative L2 error of j on the Li surface, relative error of the total, consistency)."""
    comm = MPI.COMM_WORLD
    axisym = coordinates == "axisymmetric"
    bundle = make_flat_bundle(comm, W, L, (n, n), coordinates=coordinates)
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": SIGMA},
        kinetics={"model": "primary"},
        control={"mode": "potentiostatic", "potential": PHI_S},
    )
    model = build_electrolyte(physics)

    def current(x):
        wave = ufl.cos(math.pi * x[0] / W) * ufl.sin(math.pi * x[1] / L)
        phi = PHI_S * (L - x[1]) / L + V0 * wave
        return model.current_density(phi, None)

    sources = {"charge": lambda x: ufl.div(current(x)) + (current(x)[0] / x[0] if axisym else 0)}
    case = SimpleNamespace(
        physics=physics, time=TimeConfig(), numerics=NumericsConfig(degree=degree)
    )
    snap = next(iter(Simulation(bundle, case, comm, sources=sources).run()))
    s = snap.surface
    exact = SIGMA * (-PHI_S / L + V0 * math.pi / L * np.cos(math.pi * s.x[:, 0] / W))
    sums = comm.allreduce(
        np.array([
            np.sum(s.weight * (s.j - exact) ** 2), np.sum(s.weight * exact**2),
            np.sum(s.weight * s.j), np.sum(s.weight * exact),
        ]),
        op=MPI.SUM,
    )
    total = snap.scalars["current_mean"] * snap.scalars["projected_area"]
    return (
        math.sqrt(sums[0] / sums[1]), abs(sums[2] / sums[3] - 1.0), abs(sums[2] / total - 1.0)
    )


@pytest.mark.parametrize("coordinates", ["cartesian", "axisymmetric"])
@pytest.mark.parametrize("degree", [1, 2])
def test_residual_flux_converges(degree, coordinates):
    errors = np.array([_errors(n, degree, coordinates) for n in (4, 8, 16)])
    rates = np.log2(errors[:-1, 0] / errors[1:, 0])
    assert np.all(rates >= 1.8), f"local L2 errors {errors[:, 0]}, orders {rates}"
    assert np.all(errors[:, 1] <= 1e-6), f"total current errors {errors[:, 1]}"
    assert np.all(errors[:, 2] <= 1e-10), f"sample vs reaction {errors[:, 2]}"
