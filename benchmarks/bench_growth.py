"""Benchmark: one case of the main job with the moving Li surface against the same on a fixed mesh.

Target (issue 11): a growing run costs at most 1.3x the same run on a fixed mesh (mesh motion
and geometry updates included, remeshing excluded). Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_growth.py [--ranks 2] [--case bare]
        [--repeats 3] [--t-end 600] [--set KEY=VALUE ...] [--profile DIR]

It starts ``mpiexec -n RANKS`` on this file (``--worker``). The worker takes one case of
``configs/default.yaml`` (the others dropped), meshes it once into a temporary mesh cache and
runs it with ``solver.api.run`` once with growth off and once on as an untimed warm-up (JIT,
mesh cache), then ``--repeats`` times each, alternately (fixed, growing, fixed, ...), so that
the load of a shared machine falls on both alike. The report is off (it is built on rank 0
from the files and does not depend on the mesh motion). Timed per run: the CPU time of the
busiest rank (``time.process_time``, the whole ``api.run``: set-up, time loop, outputs) and
the wall time, and the manifest's phases. Prints one JSON line per run and a summary line
with the medians and the ratio growing / fixed. ``--profile DIR`` profiles one more run of
each with cProfile on every rank (CPU time; ``DIR/{fixed,growing}.rank<k>.prof``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
GROWTH = "physics.growth.enabled=true"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--case", default="bare", help="case of the config to run")
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--t-end", type=float, default=None,
                        help="end time, s (default: the config's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override for both runs (repeatable)")
    parser.add_argument("--profile", default=None, help="directory for per-rank cProfile files")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [str(venv_bin / "mpiexec"), "-n", str(args.ranks), sys.executable, __file__,
               "--worker", *sys.argv[1:]]
    subprocess.run(command, env=env, check=True)


def worker(args: argparse.Namespace) -> None:
    """The timed runs (every rank)."""
    import solver  # noqa: F401  (MPI import order)

    # isort: split
    from mpi4py import MPI

    import solver.api

    comm = MPI.COMM_WORLD
    tree = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    tree["cases"] = {args.case: tree["cases"][args.case]}
    overrides = ["output.report=false", *args.set]
    if args.t_end is not None:
        outputs = [t for t in tree["base"]["time"].get("output_times", []) if t < args.t_end]
        overrides += [f"time.t_end={args.t_end} s", f"time.output_times={[*outputs, args.t_end]}"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = comm.bcast(tmp, root=0)

        def run(growing: bool, label: str) -> dict[str, Any]:
            comm.Barrier()
            start, cpu = time.perf_counter(), time.process_time()
            path = solver.api.run(tree, Path(tmp) / "results", overwrite=True, comm=comm,
                                  overrides=[*overrides, *([GROWTH] if growing else [])],
                                  mesh_cache=Path(tmp) / "meshes", command_line=[label])
            cpu = comm.allreduce(time.process_time() - cpu, op=MPI.MAX)
            wall = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
            return {"run": label, "growing": growing, "cpu_s_max_rank": round(cpu, 2),
                    "wall_s": round(wall, 2),
                    "phases_s": {k: round(v, 2) for k, v in manifest["phases_s"].items()},
                    "cells": manifest["meshes"][args.case]["num_cells"],
                    **_ending(metrics["cases"][args.case])}

        for growing in (False, True):
            run(growing, "warm-up")
        rows: list[dict[str, Any]] = []
        for k in range(args.repeats):
            for growing in (False, True):
                rows.append(run(growing, f"repeat {k}"))
                if comm.rank == 0:
                    print(json.dumps(rows[-1]), flush=True)
        for growing in (False, True) if args.profile is not None else ():
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            run(growing, "profile")
            profiler.disable()
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            label = "growing" if growing else "fixed"
            profiler.dump_stats(Path(args.profile) / f"{label}.rank{comm.rank}.prof")
    if comm.rank == 0:
        fixed = statistics.median(r["cpu_s_max_rank"] for r in rows if not r["growing"])
        grow = statistics.median(r["cpu_s_max_rank"] for r in rows if r["growing"])
        wall_fixed = statistics.median(r["wall_s"] for r in rows if not r["growing"])
        wall_grow = statistics.median(r["wall_s"] for r in rows if r["growing"])
        print(json.dumps({
            "benchmark": "growth", "case": args.case, "ranks": comm.size,
            "repeats": args.repeats, "overrides": args.set,
            "cpu_s_fixed": fixed, "cpu_s_growing": grow, "ratio_cpu": round(grow / fixed, 3),
            "wall_s_fixed": wall_fixed, "wall_s_growing": wall_grow,
            "ratio_wall": round(wall_grow / wall_fixed, 3), "target_ratio": 1.3,
            "load_average_1min": os.getloadavg()[0],
        }), flush=True)


def _ending(case: dict[str, Any]) -> dict[str, Any]:
    """Where a case of metrics.json ended: its last output time and the Li apex height then."""
    return {"t_final_s": case["summary"]["t_final"],
            "li_apex_height_m": case["times"][-1].get("li_apex_height")}


if __name__ == "__main__":
    main()
