"""Benchmark: sweep overhead of the local (and SLURM) executor against single runs.

Target (issue 13): N small points on the local executor within 1.2x the sum of their single-run
times, with JIT compiled once per sweep, not per point. Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_sweep.py --points 10 [--slurm | --slurm-only]

(PYTHONPATH is not needed once the package is installed, e.g. by `make env`.)

The points are ``configs/examples/minimal.yaml`` (a 2 um x 10 um cell, about 3 s each) on
seeded random rough surfaces (``geometry.surface.seed`` = 0 .. N-1: the same forms for every
point). Four measurements, one JSON line each:

1. ``single``: every point run alone with ``lidep run`` one after the other, with a JIT cache
   warmed beforehand (what a user repeating ``lidep run`` pays): the sum of their wall times.
2. ``local``: ``lidep sweep`` of the same points into a new directory, cold sweep JIT cache
   (compiled once by the first point), ``local.jobs`` points at once (default: the cores).
   Compared with the sum of the single runs, and with that sum plus one compilation (the
   warm-up run), since the sweep compiles its forms once and the single runs did not.
3. ``slurm`` (``--slurm``, needs a running cluster: scripts/start_slurm.sh): the same sweep
   submitted as job arrays; per-task overhead = the task's SLURM elapsed time (1 s resolution,
   from ``JobCompType=jobcomp/filetxt``) minus its run's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LIDEP = [sys.executable, "-m", "solver.cli"]
JOBCOMP = Path("/var/log/slurm/jobcomp.log")


def _sweep_file(folder: Path, points: int, jobs: int | None) -> Path:
    tree = {"name": "bench", "base": str(ROOT / "configs/examples/minimal.yaml"),
            "set": ["geometry.surface={kind: random, rms: 0.05 um, correlation_length: 0.5 um}",
                    "output.report=false"],
            "axes": [{"key": "geometry.surface.seed", "seeds": points}],
            "local": {"jobs": jobs}, "slurm": {"time": "00:10:00"}}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def _parameter_sweep_file(folder: Path, points: int) -> Path:
    """Points that differ in two material parameters: kappa and i0, log-spaced, zipped."""
    scale = [10 ** (k / max(points - 1, 1)) for k in range(points)]  # 1 .. 10
    tree = {"name": "parameters", "base": str(ROOT / "configs/examples/minimal.yaml"),
            "set": ["output.report=false"],
            "axes": [{"zip": {
                "physics.electrolyte.conductivity": [f"{1e-4 * s:.6g} S/cm" for s in scale],
                "physics.kinetics.exchange_current_density": [
                    f"{0.3 * s:.6g} mA/cm^2" for s in scale]}}],
            "local": {"jobs": 1}}
    path = folder / "parameters.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def _run(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _statuses(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "status").glob("*.json"))]


def _machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2), "python": platform.python_version()}


def single(folder: Path, sweep: Path, env: dict[str, str]) -> dict:
    """Each point alone with lidep run (warm JIT cache), one after the other."""
    prepared = folder / "prepared"
    subprocess.run([*LIDEP, "sweep", str(sweep), "-o", str(prepared), "--executor", "slurm"],
                   check=True, env=env, stdout=subprocess.DEVNULL)  # writes the point files
    points = sorted((prepared / "bench" / "points").glob("*.yaml"))
    cache = env | {"XDG_CACHE_HOME": str(folder / "single-jit")}
    run = [*LIDEP, "run", "-o", str(folder / "single"), "--mesh-cache", str(folder / "meshes")]
    warm = _run([*run, str(points[0]), "--overwrite"], cache)
    times = [_run([*run, str(p), "--overwrite"], cache) for p in points]
    return {"benchmark": "sweep", "mode": "single", "points": len(points),
            "warm_up_s": round(warm, 2), "sum_s": round(sum(times), 2),
            "per_point_s": [round(t, 2) for t in times]}


def local(folder: Path, sweep: Path, env: dict[str, str]) -> dict:
    """lidep sweep on the local executor, cold sweep JIT cache."""
    wall = _run([*LIDEP, "sweep", str(sweep), "-o", str(folder / "local")], env)
    records = _statuses(folder / "local" / "bench")
    return {**_local_record("local", wall, records),
            "run_wall_sum_s": round(sum(r["wall_s"] for r in records), 2)}


def parameters(folder: Path, env: dict[str, str], points: int) -> dict:
    """A local sweep over kappa and i0 (cold JIT cache): modules compiled per point."""
    sweep = _parameter_sweep_file(folder, points)
    wall = _run([*LIDEP, "sweep", str(sweep), "-o", str(folder / "parameters")], env)
    records = _statuses(folder / "parameters" / "parameters")
    return {**_local_record("parameters", wall, records),
            "wall_per_point_s": [r["wall_s"] for r in records]}


def _local_record(mode: str, wall: float, records: list[dict]) -> dict:
    """The summary of a local sweep: its wall time, points finished, JIT modules per point."""
    return {"benchmark": "sweep", "mode": mode, "points": len(records),
            "wall_s": round(wall, 2),
            "finished": sum(r["state"] == "finished" for r in records),
            "jit_compiled_per_point": [r["jit_compiled"] for r in records]}


def slurm(folder: Path, sweep: Path, env: dict[str, str]) -> dict:
    """The same sweep as SLURM job arrays; per-task overhead from jobcomp."""
    start = time.perf_counter()
    out = subprocess.run([*LIDEP, "sweep", str(sweep), "-o", str(folder / "slurm"), "--executor",
                          "slurm", "--submit"], check=True, env=env, capture_output=True,
                         text=True).stdout
    jobs = out.split("submitted job(s) ")[1].split(";")[0].split(", ")
    while True:  # an squeue error (a busy slurmctld) is not an empty queue
        queue = subprocess.run(["squeue", "-h", "-j", ",".join(jobs)], capture_output=True,
                               text=True, check=False)
        if queue.returncode == 0 and not queue.stdout.strip():
            break
        time.sleep(1)
    wall = time.perf_counter() - start
    records = {r["name"]: r for r in _statuses(folder / "slurm" / "bench")}
    elapsed = {}
    for line in JOBCOMP.read_text().splitlines() if JOBCOMP.exists() else []:
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("ArrayJobId") in jobs:
            span = (time.mktime(time.strptime(fields["EndTime"], "%Y-%m-%dT%H:%M:%S"))
                    - time.mktime(time.strptime(fields["StartTime"], "%Y-%m-%dT%H:%M:%S")))
            elapsed[f"bench-{int(fields['ArrayTaskId']):0{len(str(len(records) - 1))}d}"] = span
    overhead = [elapsed[n] - records[n]["wall_s"] for n in elapsed if n in records]
    return {"benchmark": "sweep", "mode": "slurm", "points": len(records), "jobs": jobs,
            "wall_s": round(wall, 2),
            "finished": sum(r["state"] == "finished" for r in records.values()),
            "jit_compiled_per_point": [r["jit_compiled"] for r in records.values()],
            "run_wall_sum_s": round(sum(r["wall_s"] for r in records.values()), 2),
            "task_overhead_s": [round(o, 1) for o in overhead],
            "task_overhead_mean_s": round(statistics.mean(overhead), 2) if overhead else None,
            "task_overhead_median_s": round(statistics.median(overhead), 2) if overhead else None,
            "task_overhead_range_s": [round(min(overhead), 1), round(max(overhead), 1)]
            if overhead else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=None, help="local: points at once")
    parser.add_argument("--slurm", action="store_true", help="also the SLURM executor")
    parser.add_argument("--slurm-only", action="store_true",
                        help="only the SLURM executor (its per-task overhead needs no single "
                             "runs; no local sweep, no ratio)")
    parser.add_argument("--parameter-points", type=int, default=4,
                        help="points of the material-parameter sweep (0: skip it)")
    args = parser.parse_args()
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    print(json.dumps({"benchmark": "sweep", "machine": _machine()}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sweep = _sweep_file(folder, args.points, args.jobs)
        if args.slurm_only:
            print(json.dumps(slurm(folder, sweep, env) | {
                "load_avg_1min_after": round(os.getloadavg()[0], 2)}), flush=True)
            return
        results = [single(folder, sweep, env), local(folder, sweep, env)]
        results += [slurm(folder, sweep, env)] if args.slurm else []
        if args.parameter_points:
            results.append(parameters(folder, env, args.parameter_points))
        for result in results:
            print(json.dumps(result), flush=True)
        ratio = results[1]["wall_s"] / results[0]["sum_s"]
        # the sweep compiles its forms once (cold cache); single runs had a warm cache
        with_jit = results[1]["wall_s"] / (results[0]["sum_s"] + results[0]["warm_up_s"])
        print(json.dumps({"benchmark": "sweep", "local_over_single_sum": round(ratio, 3),
                          "local_over_single_sum_plus_one_compile": round(with_jit, 3),
                          "target": 1.2, "met": ratio <= 1.2,
                          "load_avg_1min_after": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
