"""Derived fields (current density, |E|) are projected only when a consumer reads them.

A run that writes no field file performs no projection (counted at ``Simulation._project``);
one that writes them projects each once per output; a field read after the state moved on is
the projection of the state of its snapshot (equal to 1e-12 relative to a projection made at
once: the same solve on the same values).
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_flat_bundle
from mpi4py import MPI

from solver.io import FieldWriter
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.output_spec import OutputConfig
from solver.postprocess import CaseMetrics
from solver.problem import Simulation


def _simulation():
    comm = MPI.COMM_WORLD
    bundle = make_flat_bundle(comm, 1e-5, 2e-5, (4, 8), layer=("sei", 1e-6, 2))
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 0.1},
        kinetics={"model": "linear", "exchange_current_density": 10.0},
        interphase={"sei": {"conductivity": 1e-3}},
        control={"mode": "galvanostatic", "current_density": 10.0},
    )
    case = SimpleNamespace(physics=physics, time=TimeConfig(), numerics=NumericsConfig(degree=2))
    return bundle, Simulation(bundle, case, comm)


def _count_projections(sim, monkeypatch) -> list[str]:
    calls: list[str] = []
    project = sim._project

    def counted(expressions, shape, name):
        calls.append(name)
        return project(expressions, shape, name)

    monkeypatch.setattr(sim, "_project", counted)
    return calls


@pytest.mark.parametrize(
    ("fields", "formats", "projected"),
    [
        ([], ["xdmf"], []),
        (["potential", "current_density", "field_strength"], [], []),
        (["potential", "field_strength"], ["xdmf"], ["field_strength"]),
    ],
)
def test_projections_only_when_written(tmp_path, monkeypatch, fields, formats, projected):
    comm = MPI.COMM_WORLD
    bundle, sim = _simulation()
    calls = _count_projections(sim, monkeypatch)
    config = OutputConfig(fields=fields, formats=formats, report=False)
    metrics = CaseMetrics(bundle, config, comm)
    with FieldWriter(bundle, comm.bcast(tmp_path, root=0), config, comm) as writer:
        for snap in sim.run():
            writer.write(snap)
            row = metrics(snap)
    assert calls == projected
    assert ("E_max" in row) == ("field_strength" in projected)
    assert "i_max" not in row


def test_deferred_field_is_that_of_its_snapshot():
    _, sim = _simulation()
    sim.solve_steady()
    early = sim.snapshot(0.0)
    now = sim.snapshot(0.0).fields["current_density"].x.array.copy()
    kept = sim.phi.x.array.copy()
    sim.phi.x.array[:] *= 3.0  # the state moves on
    later = early.fields["current_density"].x.array
    assert np.allclose(later, now, rtol=1e-12, atol=1e-12 * np.abs(now).max())
    assert np.array_equal(sim.phi.x.array, 3.0 * kept)  # the newer state is restored
