"""Benchmark: the main job (configs/default.yaml) end to end, meshing and JIT included.

Target (issue 4): under 3 minutes on 2 cores. Run from the repository root:

    .venv/bin/python benchmarks/bench_default_job.py [--ranks 2] [--cold]

It runs ``lidep run configs/default.yaml`` under ``mpiexec -n RANKS`` into a temporary output
directory with an empty mesh cache, so Gmsh meshes every case. ``--cold`` also points the FFCx
JIT cache (XDG_CACHE_HOME) at an empty directory, so every form is compiled: the cost a user
pays on the very first run of a fresh installation. Prints one JSON line with the wall time,
the run's own phase times (from manifest.json) and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--cold", action="store_true", help="empty FFCx JIT cache")
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    args = parser.parse_args()
    venv_bin = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        if args.cold:
            env["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        command = [
            str(venv_bin / "mpiexec"), "-n", str(args.ranks), str(venv_bin / "lidep"), "run",
            args.config, "-o", str(Path(tmp) / "results"), "--set", "name=bench",
        ]
        start = time.perf_counter()
        subprocess.run(command, cwd=tmp, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        manifest = json.loads((Path(tmp) / "results" / "bench" / "manifest.json").read_text())
    print(json.dumps({
        "benchmark": "default_job",
        "config": Path(args.config).name,
        "ranks": args.ranks,
        "cold_jit_cache": args.cold,
        "wall_s": round(wall, 1),
        "target_s": 180.0,
        "phases_s": {k: round(v, 2) for k, v in manifest["phases_s"].items()},
        "cells": {case: m.get("num_cells") for case, m in manifest["meshes"].items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
    }))


if __name__ == "__main__":
    main()
