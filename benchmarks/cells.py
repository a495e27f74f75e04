"""Shared set-up of the benchmarks: a structured 2D cell with a wavy Li surface, a binary case.

The mesh is the structured strip of ``tests/conftest.py`` (``make_flat_bundle``, tags per
docs/architecture.md) with the Li surface mapped to y = h(x) = A (1 + cos(2 pi x / W)) / 2,
so the current distribution is genuinely 2D while the number of unknowns is set exactly by
(nx, ny) and building the mesh costs nothing next to the solve.
"""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import solver  # noqa: F401  (MPI import order)

# isort: split
import numpy as np
from mpi4py import MPI

from solver.dimensionless import limiting_current
from solver.geometry.bundle import MeshBundle
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation

# LiX-like dilute salt: t+ = 0.4, D = 1.2e-10 m^2/s, kappa = 0.94 S/m at 1 M
D_PLUS, D_MINUS, C_BULK = 1.0e-10, 1.5e-10, 1000.0
D_SALT = 2.0 * D_PLUS * D_MINUS / (D_PLUS + D_MINUS)
T_PLUS = D_PLUS / (D_PLUS + D_MINUS)


def _make_flat_bundle():
    path = Path(__file__).resolve().parents[1] / "tests" / "conftest.py"
    spec = importlib.util.spec_from_file_location("lidep_test_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_flat_bundle


def wavy_cell(
    comm: MPI.Comm, nx: int, ny: int, width: float, length: float, amplitude: float
) -> MeshBundle:
    """Structured triangles on [0, W] x [h(x), L], h(x) = A (1 + cos(2 pi x / W)) / 2."""
    bundle = _make_flat_bundle()(comm, width, length, (nx, ny))
    x = bundle.mesh.geometry.x
    h = amplitude * 0.5 * (1.0 + np.cos(2.0 * math.pi * x[:, 0] / width))
    x[:, 1] += h * (1.0 - x[:, 1] / length)
    return bundle


def binary_case(
    length: float, current_fraction: float, time: TimeConfig, numerics: NumericsConfig
) -> SimpleNamespace:
    """Galvanostatic plating at a fraction of the flat-cell limiting current, reservoir counter."""
    j_lim = limiting_current(D_SALT, C_BULK, T_PLUS, length)
    physics = PhysicsConfig(
        electrolyte={
            "type": "dilute",
            "bulk_concentration": C_BULK,
            "cation_diffusivity": D_PLUS,
            "anion_diffusivity": D_MINUS,
        },
        kinetics={"exchange_current_density": 10.0},
        control={"current_density": current_fraction * j_lim},
    )
    return SimpleNamespace(physics=physics, time=time, numerics=numerics)


def unknowns(simulation: Simulation) -> int:
    """Global number of unknowns (Phi, and c for a binary electrolyte)."""
    n = simulation.V.dofmap.index_map.size_global
    if simulation.Q is not None:
        n += simulation.Q.dofmap.index_map.size_global
    return n


def instrument_newton(simulation: Simulation) -> list[dict[str, Any]]:
    """Record wall time, CPU time (busiest rank) and iterations of every Newton solve."""
    records: list[dict[str, Any]] = []
    newton = simulation.newton

    def timed(*args, **kwargs):
        simulation.comm.Barrier()
        start, cpu_start = time.perf_counter(), time.process_time()
        result = newton(*args, **kwargs)
        cpu = time.process_time() - cpu_start
        simulation.comm.Barrier()
        records.append(
            {
                "seconds": time.perf_counter() - start,
                "cpu_seconds": simulation.comm.allreduce(cpu, op=MPI.MAX),
                "iterations": result.iterations,
            }
        )
        return result

    simulation.newton = timed
    return records


def machine(comm: MPI.Comm) -> dict[str, Any]:
    """Machine description for the results table."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores_visible": os.cpu_count(),
        "ranks": comm.size,
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0],
    }
