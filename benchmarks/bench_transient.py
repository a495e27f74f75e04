"""Benchmark: 2D transient binary-electrolyte run, ~1e5 unknowns, 200 BDF2 steps.

Target (issue 3): under 2 minutes on 2 cores. Run from the repository root:

    PYTHONPATH=. .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/bench_transient.py

(PYTHONPATH is not needed once the package is installed, e.g. by `make env`.)

Wavy Li surface (amplitude 1 um, wavelength W = 10 um), electrolyte up to L = 40 um, dilute
1 M salt, galvanostatic plating at half the flat-cell limiting current with a reservoir counter,
200 fixed BDF2 steps of tau / 400 (tau = L^2/D = 13 s; adaptivity "none", so the step count is
exactly 200; ``--steps N`` runs the first N of them). P2 on 56 x 224 structured cells:
2 x 113 x 449 = 101,474 unknowns.
Prints one JSON line (set-up = forms + JIT, run = initial solve + time loop + snapshots; the
CPU time of the busiest rank is printed too: on a shared, overloaded machine it estimates what
the wall time would be on a quiet one).
"""

from __future__ import annotations

import argparse
import json
import time

from cells import binary_case, instrument_newton, machine, unknowns, wavy_cell

import solver  # noqa: F401  (MPI import order)

# isort: split
from mpi4py import MPI

from solver.model_spec import NumericsConfig, TimeConfig
from solver.problem import Simulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=56)
    parser.add_argument("--ny", type=int, default=224)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--degree", type=int, default=2, choices=(1, 2))
    parser.add_argument("--solver", default="direct", choices=("direct", "iterative", "auto"))
    parser.add_argument(
        "--before", action="store_true",
        help="time steps with the steady Newton step tolerance numerics.newton_stol (1e-10), "
        "as before the tolerance was matched to the time error",
    )
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    width, length = 10e-6, 40e-6
    dt = 0.5 * length**2 / 1.2e-10 / 200  # tau / 400: the 200 steps of the target reach tau / 2

    start = time.perf_counter()
    bundle = wavy_cell(comm, args.nx, args.ny, width, length, amplitude=1e-6)
    t_mesh = time.perf_counter() - start

    time_cfg = TimeConfig(
        mode="transient", scheme="bdf2", adaptivity="none", t_end=args.steps * dt, dt=dt
    )
    numerics = NumericsConfig(degree=args.degree, linear_solver=args.solver)
    case = binary_case(length, 0.5, time_cfg, numerics)
    comm.Barrier()
    start = time.perf_counter()
    simulation = Simulation(bundle, case, comm)
    if args.before:
        simulation.transient_stol = numerics.newton_stol
    comm.Barrier()
    t_setup = time.perf_counter() - start
    records = instrument_newton(simulation)

    start, cpu_start = time.perf_counter(), time.process_time()
    snapshots = list(simulation.run())
    cpu_run = comm.allreduce(time.process_time() - cpu_start, op=MPI.MAX)
    comm.Barrier()
    t_run = time.perf_counter() - start

    newton_seconds = sum(r["seconds"] for r in records)
    iterations = sum(r["iterations"] for r in records)
    last = snapshots[-1]
    result = {
        "benchmark": "transient",
        **machine(comm),
        "unknowns": unknowns(simulation),
        "degree": args.degree,
        "linear_solver": args.solver,
        "time_steps": args.steps,
        "newton_stol_in_steps": simulation.transient_stol,
        "newton_solves": len(records),
        "newton_iterations": iterations,
        "t_end_s": last.t,
        "mesh_s": round(t_mesh, 2),
        "setup_s": round(t_setup, 2),
        "run_s": round(t_run, 2),
        "run_cpu_s_max_rank": round(cpu_run, 2),
        "newton_s": round(newton_seconds, 2),
        "newton_cpu_s_max_rank": round(sum(r["cpu_seconds"] for r in records), 2),
        "total_s": round(t_mesh + t_setup + t_run, 2),
        "min_surface_concentration": last.scalars["min_surface_concentration"],
        "current_mean": last.scalars["current_mean"],
    }
    if comm.rank == 0:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
