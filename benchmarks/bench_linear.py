"""Benchmark: a linear problem solved with one kept Jacobian and CG, against the Newton loop.

Issue 14: a linear problem (single-ion electrolyte, linear kinetics) ran the full Newton loop,
each iteration a fresh AMG set-up and GMRES(200) solves. Now (``Simulation.linear``) the
potentials' Jacobian is assembled and its preconditioner set up once, the solves are CG + GAMG,
and there are no continuation stages. Run from the repository root:

    PYTHONPATH=. .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/bench_linear.py

Problem: the wavy cell of bench_scaling.py (W = 10 um, L = 40 um, amplitude 1 um, nx x 4 nx
cells, P2), ceramic electrolyte sigma = 0.1 S/m, linear kinetics i0 = 10 A/m^2, galvanostatic
10 A/m^2, ``numerics.linear_solver = "iterative"``. ``before`` reproduces the former path in the
same process (GMRES(200) with re-orthogonalisation, a fresh Jacobian at every Newton iteration,
the theta stages); ``now`` is the default. They run alternately ``--repeats`` times; the
median wall time and CPU time (busiest rank) of the steady solve are printed with their ratio,
and the largest difference of the potentials between the two (relative to max |Phi|).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from cells import machine, wavy_cell

import solver  # noqa: F401  (MPI import order)

# isort: split
from types import SimpleNamespace

from mpi4py import MPI

from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation

#: The former iterative solver of the potentials (solver.linear.default_options before).
GMRES = {"ksp_type": "gmres", "ksp_gmres_restart": 200,
         "ksp_gmres_cgs_refinement_type": "refine_ifneeded"}


def _solve(bundle, comm, before: bool) -> tuple[float, float, np.ndarray]:
    """(wall s, CPU s of the busiest rank, owned Phi) of one steady solve."""
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 0.1},
        kinetics={"model": "linear", "exchange_current_density": 10.0},
        control={"mode": "galvanostatic", "current_density": 10.0},
    )
    numerics = NumericsConfig(
        degree=2, linear_solver="iterative", petsc_options=GMRES if before else {}
    )
    case = SimpleNamespace(physics=physics, time=TimeConfig(mode="steady"), numerics=numerics)
    simulation = Simulation(bundle, case, comm)
    simulation.linear = simulation.linear and not before
    comm.Barrier()
    wall, cpu = time.perf_counter(), time.process_time()
    result = simulation.solve_steady()
    cpu = comm.allreduce(time.process_time() - cpu, op=MPI.MAX)
    comm.Barrier()
    wall = time.perf_counter() - wall
    assert result.converged, result.reason
    owned = simulation.V.dofmap.index_map.size_local
    return wall, cpu, simulation.phi.x.array[:owned].copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=79)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    bundle = wavy_cell(comm, args.nx, 4 * args.nx, 10e-6, 40e-6, amplitude=1e-6)
    _solve(bundle, comm, False)  # JIT and caches
    _solve(bundle, comm, True)
    times: dict[str, list[tuple[float, float]]] = {"before": [], "now": []}
    phis = {}
    for _ in range(args.repeats):
        for name in ("before", "now"):
            wall, cpu, phis[name] = _solve(bundle, comm, name == "before")
            times[name].append((wall, cpu))
    scale = comm.allreduce(float(np.abs(phis["before"]).max(initial=0.0)), op=MPI.MAX)
    diff = comm.allreduce(float(np.abs(phis["now"] - phis["before"]).max(initial=0.0)),
                          op=MPI.MAX)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in times.items()}
    if comm.rank == 0:
        n = bundle.mesh.topology.index_map(2).size_global
        print(json.dumps({
            "benchmark": "linear_problem",
            **machine(comm),
            "cells": n,
            "unknowns": (2 * args.nx + 1) * (8 * args.nx + 1),
            "before_wall_s": round(med["before"][0], 3),
            "before_cpu_s": round(med["before"][1], 3),
            "now_wall_s": round(med["now"][0], 3),
            "now_cpu_s": round(med["now"][1], 3),
            "ratio_cpu": round(med["before"][1] / med["now"][1], 2),
            "ratio_wall": round(med["before"][0] / med["now"][0], 2),
            "max_phi_difference_relative": diff / scale,
        }), flush=True)


if __name__ == "__main__":
    main()
