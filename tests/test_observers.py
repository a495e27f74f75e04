"""Output observers (``solver.observers``): exact values on a flat cell, serially and on 2 ranks.

The flat cell W x L with an interphase layer of thickness T (P2): c = c_bulk (1 + y/L) is
linear and held exactly, so the salt inventory and the minimum surface concentration (at the
interphase | electrolyte boundary y = T, where Li+ leaves the electrolyte) are exact up to
round-off: tolerance 1e-12 relative. Every value must be the same on every rank (the
observers reduce over ranks).
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import pytest
from conftest import make_flat_bundle
from dolfinx import fem
from mpi4py import MPI

from solver.domain import Domain
from solver.kinetics import Kinetics
from solver.observers import (
    CellVoltage,
    Fixed,
    MeanOverpotential,
    MinSurfaceConcentration,
    SaltInventory,
    SurfaceSampler,
)
from solver.physics.faradaic import FaradaicKinetics
from solver.physics.salt import SaltTransport
from solver.physics.term import Unknowns
from solver.transport import BinaryElectrolyte

W, L, T, C_BULK = 2e-6, 4e-6, 0.5e-6, 1000.0


def approx(expected: float) -> object:
    return pytest.approx(expected, rel=1e-12, abs=0.0)


def _check(comm: MPI.Comm) -> None:
    bundle = make_flat_bundle(comm, W, L, (4, 8), layer=("sei", T, 2))
    domain = Domain(bundle, comm, submesh=True)
    V = fem.functionspace(domain.mesh, ("Lagrange", 2))
    u = Unknowns(domain, [fem.Function(V)], fem.Constant(domain.mesh, 0.1), 38.9)
    electrolyte = BinaryElectrolyte(lambda c: 1e-4 * c, lambda c: 1e-10, lambda c: 0.4,
                                    lambda c: 1.0, 298.15, C_BULK, True)
    u.salt = SaltTransport(electrolyte, domain, 2, 1, log_c=False)
    u.salt.c.interpolate(lambda x: C_BULK * (1.0 + x[1] / L))
    kinetics = Kinetics("butler_volmer", 1.0, 0.5, 0.5, 298.15, C_BULK)
    surface = FaradaicKinetics(domain.parts, [kinetics] * 2, fem.Constant(domain.mesh, 1.0),
                               domain.mesh)
    sampler = SurfaceSampler(u, surface, closed=False, degree=2)
    values = {
        o.name: o.compute()
        for o in (CellVoltage(u.phi_s), MeanOverpotential(u), SaltInventory(u),
                  MinSurfaceConcentration(sampler), Fixed("projected_area", lambda: domain.area))
    }
    inventory = C_BULK * W * ((L - T) + (L**2 - T**2) / (2 * L))
    assert values == {
        "cell_voltage": 0.1,
        "overpotential_mean": approx(0.1),
        "salt_inventory": approx(inventory),
        "min_surface_concentration": approx(C_BULK * (1.0 + T / L)),
        "projected_area": approx(W),
    }
    assert comm.allgather(values) == [values] * comm.size
    sample = sampler.sample()  # rank-local: the quadrature weights sum to the Li length
    assert comm.allreduce(float(sample.weight.sum()), op=MPI.SUM) == approx(W)


def test_observers_serial() -> None:
    _check(MPI.COMM_SELF)


@pytest.mark.mpi
def test_observers_on_two_ranks() -> None:
    _check(MPI.COMM_WORLD)
