"""Benchmark: time per Newton iteration with the iterative solver, 1e4 to 1e6 unknowns.

Target (issue 3): the time per Newton step grows no faster than N^1.15. Run from the
repository root (PYTHONPATH is not needed once the package is installed, e.g. by `make env`):

    PYTHONPATH=. .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/bench_scaling.py

Steady problem on the wavy cell of bench_transient.py (W = 10 um, L = 40 um), P2,
``numerics.linear_solver = "iterative"``: ``--electrolyte binary`` (default; dilute 1 M salt,
galvanostatic at half the limiting current: Phi and c, GMRES on the migration-eliminated system
with a c | Phi field split and GAMG blocks, solver/linear.py) or ``single_ion`` (ceramic,
sigma = 0.1 S/m, 10 A/m^2: Phi only, GMRES + GAMG). For each mesh (nx, 4 nx) the steady solve is
timed per Newton call. The time per Newton iteration is that of the last Newton call (for a
binary electrolyte the coupled Phi-c solve, after the potential-only continuation stages; for a
single-ion conductor the full-kinetics stage): its time over its iterations (assembly, linear
solves with preconditioner set-up, line search). The exponent is the least-squares slope of
log(time) against log(N), for the wall time and for the CPU time of the busiest rank (less
sensitive to other load on a shared machine). Prints one JSON line per size and a final
summary line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from cells import binary_case, instrument_newton, machine, unknowns, wavy_cell

import solver  # noqa: F401  (MPI import order)

# isort: split
from mpi4py import MPI

from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, nargs="+", default=None)
    parser.add_argument("--degree", type=int, default=2, choices=(1, 2))
    parser.add_argument("--solver", default="iterative", choices=("direct", "iterative", "auto"))
    parser.add_argument("--electrolyte", default="binary", choices=("binary", "single_ion"))
    parser.add_argument(
        "--petsc", nargs="*", default=[], metavar="KEY=VALUE",
        help="extra numerics.petsc_options, e.g. pc_gamg_reuse_interpolation=1",
    )
    args = parser.parse_args()
    # about 1e4, 3e4, 1e5, 3e5, 1e6 unknowns with P2: 2 (2nx+1)(8nx+1) for Phi and c,
    # (2nx+1)(8nx+1) for Phi alone
    default_nx = {"binary": [18, 31, 56, 97, 177], "single_ion": [25, 44, 79, 140, 250]}
    nx_list = args.nx or default_nx[args.electrolyte]
    comm = MPI.COMM_WORLD
    width, length = 10e-6, 40e-6
    petsc = dict(item.split("=", 1) for item in args.petsc)
    numerics = NumericsConfig(degree=args.degree, linear_solver=args.solver, petsc_options=petsc)
    case = binary_case(length, 0.5, TimeConfig(mode="steady"), numerics)
    if args.electrolyte == "single_ion":
        case.physics = PhysicsConfig(
            electrolyte={"type": "single_ion", "conductivity": 0.1},
            control={"current_density": 10.0},
        )

    sizes, per_iteration, cpu_per_iteration = [], [], []
    for nx in nx_list:
        bundle = wavy_cell(comm, nx, 4 * nx, width, length, amplitude=1e-6)
        simulation = Simulation(bundle, case, comm)
        records = instrument_newton(simulation)
        start = time.perf_counter()
        (snapshot,) = simulation.run()
        comm.Barrier()
        total = time.perf_counter() - start
        last = records[-1]
        iterations = last["iterations"]
        n = unknowns(simulation)
        sizes.append(n)
        per_iteration.append(last["seconds"] / max(iterations, 1))
        cpu_per_iteration.append(last["cpu_seconds"] / max(iterations, 1))
        if comm.rank == 0:
            print(json.dumps({
                "benchmark": "scaling",
                "nx": nx,
                "unknowns": n,
                "linear_solver": args.solver,
                "newton_solves": len(records),
                "newton_iterations_all_stages": sum(r["iterations"] for r in records),
                "newton_s_all_stages": round(sum(r["seconds"] for r in records), 3),
                "newton_iterations": iterations,
                "newton_s": round(last["seconds"], 3),
                "seconds_per_iteration": round(per_iteration[-1], 4),
                "cpu_seconds_per_iteration": round(cpu_per_iteration[-1], 4),
                "solve_s_incl_snapshot": round(total, 2),
                "electrolyte": args.electrolyte,
                "last_ksp_iterations": (
                    simulation.sys_coupled or simulation.sys_phi
                ).ksp.getIterationNumber(),
                "current_mean": snapshot.scalars["current_mean"],
            }), flush=True)
    exponent = float(np.polyfit(np.log(sizes), np.log(per_iteration), 1)[0])
    cpu_exponent = float(np.polyfit(np.log(sizes), np.log(cpu_per_iteration), 1)[0])
    # fixed per-iteration overheads flatten the small sizes: also fit N >= 1e5 alone
    log_n, log_t = np.log(sizes), np.log(per_iteration)
    large = log_n >= np.log(1e5)
    exponent_large = (
        float(np.polyfit(log_n[large], log_t[large], 1)[0]) if large.sum() >= 2 else float("nan")
    )
    if comm.rank == 0:
        print(json.dumps({
            "benchmark": "scaling_summary",
            "electrolyte": args.electrolyte,
            "petsc_options": petsc,
            **machine(comm),
            "unknowns": sizes,
            "seconds_per_iteration": [round(t, 4) for t in per_iteration],
            "exponent": round(exponent, 3),
            "cpu_seconds_per_iteration": [round(t, 4) for t in cpu_per_iteration],
            "cpu_exponent": round(cpu_exponent, 3),
            "exponent_n_ge_1e5": round(exponent_large, 3),
            "target_exponent": 1.15,
        }), flush=True)


if __name__ == "__main__":
    main()
