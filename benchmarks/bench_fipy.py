"""Benchmark: lidep against FiPy, whole-process time to 0.1 % of the ridge's total current.

Target (issue 14): FiPy (``benchmarks/fipy_ridge.py``, run by FiPy's own interpreter) needs
≥ 10x lidep's time to reach 0.1 % of the total Li-surface current of the ridge of
``benchmarks/ridge.yaml``, both for the primary distribution (Wa = 0) and for linear kinetics at
Wa = sigma R_ct / a = 1. Each code runs on a mesh of the same size-function family
(``geometry.mesh.refinement``) within 0.1 % of the converged current: lidep on its coarsest
tried (0.25), FiPy on refinement 8 (its error scatters by about 0.1 % from refinement 6 on and
does not converge at a rate; docs/performance.md has the convergence study). Run from the
repository root:

    .venv/bin/python benchmarks/bench_fipy.py [--repeats 5] [--fipy-python PATH]

Each repetition runs FiPy and ``lidep run`` (fresh output directory and empty mesh cache, so
both mesh with Gmsh) per Wa, alternating the order. FiPy's ``Gmsh2D`` calls a ``gmsh``
executable; when there is none on the PATH, a wrapper around this interpreter's gmsh module is
used (the same Gmsh library lidep links). Printed (one JSON line per Wa): the median, minimum
and maximum wall time and the median CPU time (process and children) of each, the ratio of the
medians, both currents' relative errors and the cells, the load average and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_startup import _summary, _timed

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmarks" / "ridge.yaml"
FIPY_SCRIPT = ROOT / "benchmarks" / "fipy_ridge.py"
I0_WA1 = 256.9257  # A/m^2: R_ct = RT / (F i0) = 1e-4 Ohm m^2, Wa = 0.01 S/m R_ct / 1 um = 1
CASES = {
    # Wa: (lidep kinetics, converged total current A/m, lidep refinement, FiPy refinement)
    0.0: ("primary", 1.00062851600e-4, 0.25, 8.0),
    1.0: ("linear", 9.8104249457e-5, 0.25, 8.0),
}
"""Converged currents: lidep (P2, residual-based flux) at refinement 16 (90,194 cells); the
sequence 1, 2, 4, 8, 16 changes by < 1e-9 relative from 4 on."""


def _gmsh_path(work: Path) -> str:
    """A PATH on which FiPy finds ``gmsh`` (a wrapper of this interpreter's gmsh if none)."""
    path = os.environ.get("PATH", "")
    if shutil.which("gmsh"):
        return path
    wrapper = work / "bin" / "gmsh"
    wrapper.parent.mkdir()
    gmsh_script = Path(sys.executable).parent / "gmsh"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{gmsh_script}" "$@"\n')
    wrapper.chmod(0o755)
    return f"{wrapper.parent}{os.pathsep}{path}"


def main() -> None:
    """Run both codes alternately per Wa and print the JSON summaries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fipy-python", default="/tmp/perf2/fipyenv/bin/python")
    args = parser.parse_args()
    venv = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ, OMP_NUM_THREADS="1", PATH=_gmsh_path(work))
        for wagner, (kinetics, converged, lidep_refinement, fipy_refinement) in CASES.items():
            load_before = os.getloadavg()

            def lidep(k: int, wagner: float = wagner, kinetics: str = kinetics,
                      refinement: float = lidep_refinement) -> list[str]:
                return [str(venv / "lidep"), "run", str(CONFIG), "-o", str(work / f"o{wagner}_{k}"),
                        "--mesh-cache", str(work / f"m{wagner}_{k}"),
                        "--set", f"geometry.mesh.refinement={refinement}",
                        "--set", f"physics.kinetics.model={kinetics}",
                        "--set", f"physics.kinetics.exchange_current_density={I0_WA1}"]

            commands = {
                "fipy": lambda k, w=wagner, r=fipy_refinement: [
                    args.fipy_python, str(FIPY_SCRIPT), "--wagner", str(w), "--refinement", str(r)],
                "lidep": lidep,
            }
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            fipy_out = ""
            for k in range(-1, args.repeats):  # k = -1: untimed warm-up (JIT and file caches)
                order = list(commands) if k % 2 == 0 else list(reversed(commands))
                for name in order:
                    wall, cpu, out = _timed(commands[name](k), env, work)
                    if k >= 0:
                        samples[name].append((wall, cpu))
                        fipy_out = out if name == "fipy" else fipy_out
            run = work / f"o{wagner}_0" / "ridge"
            final = json.loads((run / "metrics.json").read_text())["cases"]["main"]["summary"]
            cells = json.loads((run / "manifest.json").read_text())["meshes"]["main"]["num_cells"]
            fipy = json.loads(fipy_out)
            medians = {n: statistics.median(w for w, _ in s) for n, s in samples.items()}
            cpu = {n: statistics.median(c for _, c in s) for n, s in samples.items()}
            print(json.dumps({
                "benchmark": "fipy", "wagner": wagner, "ranks": 1, "repeats": args.repeats,
                "cells": {"fipy": fipy["cells"], "lidep": cells},
                "refinement": {"fipy": fipy_refinement, "lidep": lidep_refinement},
                "current_rel_error": {
                    "fipy": round(fipy["current_total"] / converged - 1.0, 6),
                    "lidep": round(final["final"]["current_total"] / converged - 1.0, 6)},
                "fipy_phases_s": fipy["times_s"],
                **{name: _summary(s) for name, s in samples.items()},
                "ratio_of_medians": round(medians["fipy"] / medians["lidep"], 2),
                "cpu_ratio_of_medians": round(cpu["fipy"] / cpu["lidep"], 2),
                "target_ratio": 10.0,
                "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            }), flush=True)


if __name__ == "__main__":
    main()
