"""A linear problem (single-ion, linear or primary kinetics) keeps one Jacobian, solved by CG.

The potential system is assembled and its preconditioner set up once (counted at
``BorderedSystem.factorise``), solved by CG + GAMG (iterative) or MUMPS (direct), with no
continuation stages; both give the same potentials to 1e-8 relative (the Newton tolerances
newton_rtol = 1e-10 on the residual with linear_rtol = 1e-8 per solve) and the same phi_s. CG
solves to newton_rtol on the true residual, so that one solve ends the Newton iteration.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_flat_bundle
from mpi4py import MPI

from solver.linear import LinearSolver
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.newton import BorderedSystem
from solver.problem import Simulation


def _solve(kind: str, model: str, monkeypatch) -> tuple[np.ndarray, float, int, str]:
    comm = MPI.COMM_WORLD
    bundle = make_flat_bundle(comm, 1e-5, 2e-5, (8, 16), layer=("sei", 1e-6, 2))
    kinetics = {"model": model}
    if model == "linear":
        kinetics["exchange_current_density"] = 10.0
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 0.1},
        kinetics=kinetics,
        interphase={"sei": {"conductivity": 1e-3}},
        control={"mode": "galvanostatic", "current_density": 10.0},
    )
    numerics = NumericsConfig(degree=2, linear_solver=kind)
    case = SimpleNamespace(physics=physics, time=TimeConfig(), numerics=numerics)
    sim = Simulation(bundle, case, comm)
    calls = []
    factorise = BorderedSystem.factorise
    monkeypatch.setattr(
        BorderedSystem, "factorise", lambda self, s: (calls.append(s), factorise(self, s))[1]
    )
    assert sim.linear
    result = sim.solve_steady()
    assert result.converged
    phi = sim.phi.x.array[: sim.V.dofmap.index_map.size_local].copy()
    return phi, float(sim.phi_s.value), len(calls), sim.sys_phi.ksp.getType()


@pytest.mark.parametrize("model", ["linear", "primary"])
def test_linear_problem_one_jacobian_cg(model, monkeypatch):
    phi_it, phis_it, n_it, ksp_it = _solve("iterative", model, monkeypatch)
    phi_lu, phis_lu, n_lu, _ = _solve("direct", model, monkeypatch)
    assert ksp_it == "cg"
    assert n_it == 1 and n_lu == 1
    scale = np.abs(phi_lu).max()
    assert np.abs(phi_it - phi_lu).max() <= 1e-8 * scale
    assert phis_it == pytest.approx(phis_lu, rel=1e-8)


def test_primary_potentiostatic_is_one_cg_solve(monkeypatch):
    """A primary distribution at a given potential: one CG solve, one Newton iteration.

    CG reaches newton_rtol on the true residual, so Newton does not solve a second time
    (with CG at linear_rtol = 1e-8 it took two); the potentials are MUMPS's to 1e-8.
    """
    comm = MPI.COMM_WORLD
    bundle = make_flat_bundle(comm, 1e-5, 2e-5, (8, 16))
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 0.1},
        kinetics={"model": "primary"},
        control={"mode": "potentiostatic", "potential": -0.01},
    )
    phi, solves = {}, []
    solve = LinearSolver.solve
    monkeypatch.setattr(LinearSolver, "solve", lambda self, b, x: (
        solves.append(self.ksp.getType()), solve(self, b, x))[1])
    for kind in ("iterative", "direct"):
        numerics = NumericsConfig(degree=2, linear_solver=kind)
        sim = Simulation(bundle, SimpleNamespace(physics=physics, time=TimeConfig(),
                                                 numerics=numerics), comm)
        solves.clear()
        result = sim.solve_steady()
        assert result.converged
        if kind == "iterative":
            assert solves == ["cg"] and result.iterations == 1, (solves, result)
        phi[kind] = sim.phi.x.array[: sim.V.dofmap.index_map.size_local].copy()
    scale = np.abs(phi["direct"]).max()
    assert np.abs(phi["iterative"] - phi["direct"]).max() <= 1e-8 * scale

