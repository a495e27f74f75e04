"""Benchmark: whole-process time of ``lidep run`` against a hand-written DOLFINx script.

Target (issue 14): ``lidep run benchmarks/ridge.yaml`` within 1.15x of
``benchmarks/reference_ridge.py`` (the same 2D ridge, mesh sizes, P2, MUMPS and apex sampling),
and ``lidep validate`` / ``lidep --help`` under 1 s. Run from the repository root:

    .venv/bin/python benchmarks/bench_startup.py [--repeats 7] [--ranks 1] [--base DIR]
        [--reference-refinement R]

Each repetition runs, one after the other, the reference, ``lidep run`` (into a fresh output
directory with an empty mesh cache, so Gmsh meshes as in the reference), ``lidep validate`` and
``lidep --help``; the order alternates so that a slow spell of a shared machine hits both. The
FFCx JIT cache and Python's bytecode cache are warm after a first untimed round of each
(``PYTHONDONTWRITEBYTECODE`` is removed from the children's environment, as a package
installed by pip has its bytecode compiled). Printed (one JSON line): per command
the median, minimum and maximum wall time and the median CPU time (user + system of the process
and its children, which estimates the wall time on a quiet machine), the ratio of the medians
and the median of the per-repetition ratios, the apex current of both runs against the
converged value, the load average and the machine.

``--base DIR`` (a checkout of another commit, e.g. ``git archive <commit> | tar -x -C DIR``)
adds ``python -m solver.cli run`` of that tree (``PYTHONPATH=DIR``) to every repetition as
``lidep_base``:
a before/after comparison in the same alternation, which a loaded machine cannot skew the
way two benchmark runs an hour apart can.

``--reference-refinement R`` meshes the reference at refinement R instead of lidep's 4 (the same
mesh, where the reference's apex error, -0.092 %, is 2.4x lidep's, -0.038 %). At R = 6.25 the
reference reaches lidep's apex accuracy (-0.038 %, 28,185 unknowns against 11,690): the
comparison at equal accuracy, as the issue states the target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmarks" / "ridge.yaml"
REFERENCE = ROOT / "benchmarks" / "reference_ridge.py"
REFINEMENT = 4.0  # geometry.mesh.refinement of ridge.yaml
J_APEX = 4.00126
"""Converged apex current density (A/m^2): Richardson extrapolation (h^2) of the reference at
refinement 8 and 16 (4.000316, 4.001024); lidep's at 4 and 8 gives 4.00146."""


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the children, stdout) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls = [w for w, _ in samples]
    return {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "max_s": round(max(walls), 3),
            "cpu_median_s": round(statistics.median(c for _, c in samples), 3)}


def main() -> None:
    """Run the commands alternately and print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--base", type=Path, default=None,
                        help="source tree of the lidep to compare with (PYTHONPATH)")
    parser.add_argument("--reference-refinement", type=float, default=REFINEMENT,
                        help="the reference's mesh refinement (default: lidep's, the same mesh; "
                        "6.25 gives the reference lidep's apex accuracy)")
    args = parser.parse_args()
    venv = Path(sys.executable).parent
    launch = [str(venv / "mpiexec"), "-n", str(args.ranks)] if args.ranks > 1 else []
    # bytecode written and read as for an installed package (a shell with
    # PYTHONDONTWRITEBYTECODE=1 recompiles lidep's ~80 modules in every run: +0.2 s of CPU)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["OMP_NUM_THREADS"] = "1"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def lidep_run(k: int, tag: str = "") -> list[str]:
            # the other tree through its own entry point (its console function may differ)
            lidep = [sys.executable, "-m", "solver.cli"] if tag else [str(venv / "lidep")]
            return [*launch, *lidep, "run", str(CONFIG), "-o",
                    str(work / f"out{tag}{k}"), "--mesh-cache", str(work / f"meshes{tag}{k}")]

        commands = {
            "reference": [*launch, sys.executable, str(REFERENCE), "--refinement",
                          str(args.reference_refinement)],
            "lidep_run": lidep_run,
            "lidep_validate": [str(venv / "lidep"), "validate", str(CONFIG)],
            "lidep_help": [str(venv / "lidep"), "--help"],
        }
        if args.base is not None:
            commands["lidep_base"] = lambda k: lidep_run(k, "base")
        environments = {name: env for name in commands}
        if args.base is not None:
            environments["lidep_base"] = dict(env, PYTHONPATH=str(args.base.resolve()))
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        outputs: dict[str, str] = {}
        for k in range(-1, args.repeats):  # k = -1: untimed warm-up (JIT and file caches)
            order = list(commands) if k % 2 == 0 else list(reversed(commands))
            for name in order:
                command = commands[name]
                wall, cpu, out = _timed(command(k) if callable(command) else command,
                                        environments[name], work)
                if k >= 0:
                    samples[name].append((wall, cpu))
                    outputs[name] = out
        metrics = json.loads((work / "out0" / "ridge" / "metrics.json").read_text())
        manifest = json.loads((work / "out0" / "ridge" / "manifest.json").read_text())
    final = metrics["cases"]["main"]["summary"]["final"]
    reference = json.loads(outputs["reference"])
    ratios = [lw / rw for (lw, _), (rw, _) in zip(samples["lidep_run"], samples["reference"],
                                                   strict=True)]
    result = {
        "benchmark": "startup",
        "ranks": args.ranks,
        "repeats": args.repeats,
        "reference_refinement": args.reference_refinement,
        "unknowns": reference["unknowns"],
        "cells": {"reference": reference["cells"],
                  "lidep": manifest["meshes"]["main"]["num_cells"]},
        "apex_rel_error": {"reference": round(reference["j_tip"] / J_APEX - 1.0, 6),
                           "lidep": round(final["j_tip"] / J_APEX - 1.0, 6)},
        **{name: _summary(s) for name, s in samples.items()},
        "ratio_of_medians": round(statistics.median(w for w, _ in samples["lidep_run"])
                                  / statistics.median(w for w, _ in samples["reference"]), 3),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "cpu_ratio_of_medians": round(statistics.median(c for _, c in samples["lidep_run"])
                                      / statistics.median(c for _, c in samples["reference"]), 3),
        "target_ratio": 1.15,
        **({"base": str(args.base),
            "cpu_ratio_of_medians_base": round(
                statistics.median(c for _, c in samples["lidep_base"])
                / statistics.median(c for _, c in samples["reference"]), 3),
            "ratio_median_base": round(statistics.median(
                lw / rw for (lw, _), (rw, _) in zip(samples["lidep_base"], samples["reference"],
                                                      strict=True)), 3)}
           if args.base is not None else {}),
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
