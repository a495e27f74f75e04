"""Benchmark: a whole 2D `lidep run` as the number of unknowns grows, meshing against the solve.

Issue 14: "meshing must not dominate". Runs ``lidep run benchmarks/size2d.yaml`` (the main job's
geometry class: a 1 um protrusion under a 10 nm interphase, axisymmetric, binary electrolyte, P2
on curved cells, steady; no field files, no report) under ``mpiexec -n RANKS`` at each size, each
into a fresh output directory with an empty mesh cache (so Gmsh meshes every time), and splits the
whole-process wall time with lidep's own timings (``manifest.json``): ``phases_s`` (mesh, setup,
solve, output) and the meshing steps of rank 0 (``meshes.<case>.timings``: the OpenCASCADE
``geometry`` with its size fields, Gmsh's ``generate``, the curved second-order nodes ``curve``,
``quality``, ``cache_write``, ``distribute`` (the DOLFINx mesh and its tags), ``statistics``);
the rest is start-up (imports, configuration, JIT look-ups) and the end of the run. ``cpu_s`` is
the CPU time (user + system) of all ranks together, which on a shared, loaded machine says more
than the wall time. Run from the repository root:

    .venv/bin/python benchmarks/bench_size2d.py [--case size2d] [--ranks 1 2] [--sizes 1e4 1e6]

``--case ridge`` runs ``benchmarks/ridge.yaml`` instead (primary distribution, Phi only, one
direct solve: the cheapest solve per unknown, so the largest meshing share); ``--set KEY=VALUE``
overrides a key of every run (``--set geometry.mesh.split=1``: split meshes).

Prints one JSON line per run, then one per rank count with the exponents of the power-law fits
t ~ N^p over the sizes >= 1e5 (whole process, meshing, solve) and the meshing share at the
largest size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "size2d": (ROOT / "benchmarks" / "size2d.yaml", 2, 9600),
    "ridge": (ROOT / "benchmarks" / "ridge.yaml", 1, 720),
}
"""Case -> (run file, fields, unknowns at ``mesh.refinement = 1``). ``size2d``: the main job's
geometry class, Phi and c (the unknowns extrapolated from refinements 3 and 6: 86,410 and
338,488); ``ridge``: the start-up benchmark's primary distribution in a 50 um cell, Phi only, the
direct solver (from refinements 4 and 8: 11,721 and 46,009). Unknowns grow as refinement^2."""


def unknowns(mesh: dict, fields: int) -> int:
    """Unknowns of a P2 triangle mesh: fields x (V + E), E = V + C - 1 (Euler, 2D)."""
    return fields * (2 * mesh["num_vertices"] + mesh["num_cells"] - 1)


def run(case: str, size: float, ranks: int, overrides: list[str]) -> dict:
    """One whole-process ``lidep run`` of ``case`` at about ``size`` unknowns on ``ranks`` ranks.

    ``overrides`` are further ``--set KEY=VALUE`` of the run (e.g. ``geometry.mesh.split=1``).
    """
    config, fields, at_refinement_1 = CASES[case]
    refinement = math.sqrt(size / at_refinement_1)
    venv_bin = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        command = [
            str(venv_bin / "mpiexec"), "-n", str(ranks), str(venv_bin / "lidep"), "run",
            str(config), "-o", str(Path(tmp) / "results"), "--mesh-cache", str(Path(tmp) / "m"),
            "--set", f"geometry.mesh.refinement={refinement:.4f}",
            *(arg for item in overrides for arg in ("--set", item)),
        ]
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, cwd=tmp, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        manifest = json.loads((Path(tmp) / "results" / config.stem / "manifest.json").read_text())
    phases = {k.split("/")[-1]: v for k, v in manifest["phases_s"].items()}
    mesh = manifest["meshes"]["main"]
    accounted = sum(phases.get(k, 0.0) for k in ("mesh", "setup", "solve", "output", "metrics"))
    return {
        "benchmark": "size2d",
        "case": case,
        "overrides": overrides,
        "ranks": ranks,
        "target_unknowns": size,
        "refinement": round(refinement, 4),
        "unknowns": unknowns(mesh, fields),
        "cells": mesh["num_cells"],
        "wall_s": round(wall, 2),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "mesh_s": round(phases.get("mesh", 0.0), 2),
        "setup_s": round(phases.get("setup", 0.0), 2),
        "solve_s": round(phases.get("solve", 0.0), 2),
        "rest_s": round(wall - accounted, 2),
        "mesh_share": round(phases.get("mesh", 0.0) / wall, 3),
        "meshing_steps_s": {k: round(v, 2) for k, v in mesh.get("timings", {}).items()
                            if not k.endswith("_cpu")},
        "meshing_steps_cpu_s": {k[:-4]: round(v, 2) for k, v in mesh.get("timings", {}).items()
                                if k.endswith("_cpu")},
        "load_average_1min": round(load, 2),
    }


def exponent(rows: list[dict], key: str) -> float:
    """Least-squares slope of log(key) against log(unknowns)."""
    xs = [math.log(r["unknowns"]) for r in rows]
    ys = [math.log(max(r[key], 1e-3)) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def main() -> None:
    """Run every size on every rank count, print the runs and the fits."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), default="size2d")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 3e5, 1e6])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a key of every run")
    args = parser.parse_args()
    for ranks in args.ranks:
        rows = []
        for size in args.sizes:
            rows.append(run(args.case, size, ranks, args.overrides))
            print(json.dumps(rows[-1]), flush=True)
        large = [r for r in rows if r["target_unknowns"] >= 1e5]
        if len(large) >= 2:
            print(json.dumps({
                "benchmark": "size2d_fit",
                "case": args.case,
                "ranks": ranks,
                "sizes": [r["unknowns"] for r in large],
                "exponent_wall": round(exponent(large, "wall_s"), 3),
                "exponent_mesh": round(exponent(large, "mesh_s"), 3),
                "exponent_solve": round(exponent(large, "solve_s"), 3),
                "mesh_share_at_largest": rows[-1]["mesh_share"],
            }), flush=True)


if __name__ == "__main__":
    main()
