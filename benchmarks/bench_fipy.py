"""Benchmark: lidep against FiPy, time to an accuracy of the ridge's total or apex current.

Target (issue 14): FiPy (``benchmarks/fipy_ridge.py``, run by FiPy's own interpreter) needs
≥ 10x lidep's time to reach 0.1 % of the total Li-surface current of the ridge of
``benchmarks/ridge.yaml``, both for the primary distribution (Wa = 0) and for linear kinetics at
Wa = sigma R_ct / a = 1 (``--quantity current_total``, accuracies 0.1 % and 0.01 %). The same
for the quantity lidep's users compute, the apex current density j_tip (the hotspot; ``--quantity
j_tip``, accuracies 1 % and 0.1 %). Two measures, side by side:

- whole process: ``lidep run`` and ``python fipy_ridge.py`` from a shell, imports included;
- warm process: the time to the answer in a Python process that has imported its code once, as
  a notebook or a script looping over parameters experiences it: lidep's Python API
  (``solver.api.run``, what ``lidep run`` calls) in this process, FiPy's same script body in
  its interpreter (``fipy_ridge.py --serve``).

Every run meshes: lidep into a fresh output directory with an empty mesh cache, FiPy with
Gmsh (``Gmsh2D``) or its own ``Grid2D``. The setups per quantity and Wa (``QUANTITIES``;
fipy_ridge.py describes FiPy's) are those the convergence study in docs/performance.md found
cheapest within each accuracy, on both sides (plus, for I, FiPy's Gmsh-mesh setup documented
first; for j_tip at Wa = 0, where FiPy reaches neither accuracy, its costliest measured setup,
grid 512). Per accuracy and measure, the ratio takes the
cheapest setup of each code (median CPU time, steadier than the wall time on a shared machine)
whose error in this run is within the accuracy. Where no FiPy setup is, the ratio is null and
``at_least`` gives FiPy's costliest setup that was run over lidep: a lower bound, as FiPy's error
falls with its cost there (the study), so a setup within would cost more. From the repository
root:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_fipy.py [--quantity j_tip] [--repeats 5]
        [--fipy-python PATH]

FiPy's interpreter: a separate virtualenv (FiPy 4.0.3 needs Python <= 3.11 here), e.g.
``python3.11 -m venv /tmp/perf2/fipyenv && /tmp/perf2/fipyenv/bin/pip install fipy==4.0.3``
(the default path). FiPy's ``Gmsh2D`` calls a ``gmsh`` executable; when there is none on the
PATH, a wrapper around this interpreter's gmsh module is used (the same Gmsh library lidep
links). Each repetition runs every setup once per measure, the order reversed every other
repetition, after an untimed warm-up round (JIT and file caches). Printed (one JSON line per
Wa): per run the cells, the quantity and its relative error against the converged value, the
apex / far-field ratio, the median, minimum and maximum wall time and the median CPU time
(process and children: FiPy's gmsh; lidep's in-process runs count this process's CPU), the
ratios, the load average, the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_startup import _summary, _timed

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmarks" / "ridge.yaml"
FIPY_SCRIPT = ROOT / "benchmarks" / "fipy_ridge.py"
I0_WA1 = 256.9257  # A/m^2: R_ct = RT / (F i0) = 1e-4 Ohm m^2, Wa = 0.01 S/m R_ct / 1 um = 1
CASES = {0.0: "primary", 1.0: "linear"}
"""Wa: lidep's kinetics model."""


@dataclass(frozen=True)
class Quantity:
    """A compared quantity: its converged values and the setups run per Wa.

    Attributes:
        converged: Wa: the converged value (lidep on fine meshes; docs/performance.md).
        accuracies: Relative accuracies at which the ratios are taken.
        lidep: Wa: lidep's ``geometry.mesh.refinement`` values run.
        fipy: Wa: FiPy's setups run, (``fipy_ridge.py --mesh``, refinement).
    """

    converged: dict[float, float]
    accuracies: tuple[float, ...]
    lidep: dict[float, tuple[float, ...]]
    fipy: dict[float, tuple[tuple[str, float], ...]]


QUANTITIES = {
    # I (A/m): lidep at refinement 16 (90,194 cells); 1, 2, 4, 8, 16 change by < 1e-9 from 4 on.
    "current_total": Quantity(
        converged={0.0: 1.00062851600e-4, 1.0: 9.8104249457e-5}, accuracies=(1e-3, 1e-4),
        lidep={0.0: (0.25,), 1.0: (0.25,)},
        fipy={wa: (("gmsh", 8.0), ("grid", 1.0), ("grid", 2.0)) for wa in CASES}),
    # j_tip (A/m^2): lidep up to refinement 32 (359,488 cells); good to ~1e-5 relative. FiPy at
    # Wa = 0: grid 512 is 1.5 % off (h^0.5), the Gmsh family does not converge: a bound only.
    "j_tip": Quantity(
        converged={0.0: 4.00126, 1.0: 2.712402}, accuracies=(1e-2, 1e-3),
        lidep={0.0: (2.0, 4.0), 1.0: (0.25, 0.5)},
        fipy={0.0: (("grid", 512.0),), 1.0: (("grid", 24.0), ("grid", 256.0))}),
}
Sample = tuple[float, float, int, dict[str, float]]  # wall s, CPU s, cells, quantities
KEYS = ("current_total", "j_tip", "enhancement_tip_over_far_field")


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


def _lidep_result(run_dir: Path) -> tuple[int, dict[str, float]]:
    """(cells, quantities) of a finished lidep run directory."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    final = metrics["cases"]["main"]["summary"]["final"]
    return manifest["meshes"]["main"]["num_cells"], {key: final[key] for key in KEYS}


class Runners:
    """The timed runs of one Wa: each ``(measure, code) -> k -> Sample``."""

    def __init__(self, wagner: float, work: Path, env: dict[str, str], fipy: Path,
                 server: subprocess.Popen[str]) -> None:
        """Store the case; ``server`` is a running ``fipy_ridge.py --serve``."""
        self.wagner, self.work, self.env, self.fipy, self.server = wagner, work, env, fipy, server

    def all(self, quantity: Quantity) -> dict[tuple[str, str], Callable[[int], Sample]]:
        """Every run of a repetition for ``quantity``, keyed by (measure, code)."""
        runs: dict[tuple[str, str], Callable[[int], Sample]] = {}
        for mesh, refinement in quantity.fipy[self.wagner]:
            code = f"fipy {mesh} {refinement:g}"
            runs["whole process", code] = lambda k, m=mesh, r=refinement: self.fipy_cold(m, r)
            runs["warm process", code] = lambda k, m=mesh, r=refinement: self.fipy_warm(m, r)
        for refinement in quantity.lidep[self.wagner]:
            code = f"lidep {refinement:g}"
            runs["whole process", code] = lambda k, r=refinement: self.lidep_cold(r, k)
            runs["warm process", code] = lambda k, r=refinement: self.lidep_warm(r, k)
        return runs

    def overrides(self, refinement: float) -> list[str]:
        """lidep's ``--set`` overrides of the case at ``refinement``."""
        return [f"geometry.mesh.refinement={refinement}",
                f"physics.kinetics.model={CASES[self.wagner]}",
                f"physics.kinetics.exchange_current_density={I0_WA1}"]

    def fipy_cold(self, mesh: str, refinement: float) -> Sample:
        """``fipy_ridge.py`` in a fresh interpreter."""
        wall, cpu, out = _timed([str(self.fipy), str(FIPY_SCRIPT), "--mesh", mesh, "--wagner",
                                 str(self.wagner), "--refinement", str(refinement)],
                                self.env, self.work)
        result = json.loads(out)
        return wall, cpu, result["cells"], {key: result[key] for key in KEYS}

    def fipy_warm(self, mesh: str, refinement: float) -> Sample:
        """One request to the warm FiPy interpreter (timed there)."""
        request = {"mesh": mesh, "wagner": self.wagner, "refinement": refinement}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        result = json.loads(self.server.stdout.readline())
        return (result["wall_s"], result["cpu_s"], result["cells"],
                {key: result[key] for key in KEYS})

    def lidep_cold(self, refinement: float, k: int) -> Sample:
        """``lidep run`` in a fresh process (fresh output directory, empty mesh cache)."""
        name = f"{self.wagner}_{refinement:g}_{k}"
        out = self.work / f"cold{name}"
        command = [str(Path(sys.executable).parent / "lidep"), "run", str(CONFIG), "-o", str(out),
                   "--mesh-cache", str(self.work / f"cold-meshes{name}")]
        for override in self.overrides(refinement):
            command += ["--set", override]
        wall, cpu, _ = _timed(command, self.env, self.work)
        return wall, cpu, *_lidep_result(out / "ridge")

    def lidep_warm(self, refinement: float, k: int) -> Sample:
        """``solver.api.run`` in this process (imported once; fresh output and mesh cache)."""
        from solver.api import run  # noqa: PLC0415  (imported once, by the warm-up)

        name = f"{self.wagner}_{refinement:g}_{k}"
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        run_dir = run(CONFIG, self.work / f"warm{name}", overrides=self.overrides(refinement),
                      mesh_cache=self.work / f"warm-meshes{name}")
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, *_lidep_result(run_dir)


def _cheapest(runs: dict[str, dict[str, Any]], prefix: str) -> str | None:
    """The code of the run of ``prefix``'s code with the lowest median CPU (None: no such run)."""
    return min((c for c in runs if c.startswith(prefix)), key=lambda c: runs[c]["cpu_median_s"],
               default=None)


def _ratio(fipy: dict[str, Any], lidep: dict[str, Any]) -> dict[str, float]:
    """FiPy's median times over lidep's, wall and CPU."""
    return {"wall": round(fipy["median_s"] / lidep["median_s"], 2),
            "cpu": round(fipy["cpu_median_s"] / lidep["cpu_median_s"], 2)}


def _ratios(results: dict[tuple[str, str], dict[str, Any]],
            accuracies: tuple[float, ...]) -> dict[str, Any]:
    """Per measure and accuracy: each code's cheapest setup within it, FiPy's time over lidep's.

    Where no FiPy setup is within, ``at_least`` is FiPy's costliest setup over lidep (a lower
    bound; module docstring).
    """
    ratios: dict[str, Any] = {}
    for measure in dict.fromkeys(m for m, _ in results):
        runs = {code: r for (m, code), r in results.items() if m == measure}
        for accuracy in accuracies:
            within = {c: r for c, r in runs.items() if abs(r["rel_error"]) <= accuracy}
            fipy, lidep = _cheapest(within, "fipy"), _cheapest(within, "lidep")
            entry: dict[str, Any] = {"fipy": fipy, "lidep": lidep, "wall": None, "cpu": None}
            if fipy is not None and lidep is not None:
                entry |= _ratio(within[fipy], within[lidep])
            elif lidep is not None:
                costliest = max((c for c in runs if c.startswith("fipy")),
                                key=lambda c: runs[c]["cpu_median_s"])
                entry["at_least"] = {"fipy": costliest, **_ratio(runs[costliest], within[lidep])}
            ratios[f"{measure}, {accuracy:.2%}"] = entry
    return ratios


def main() -> None:
    """Run every setup alternately per Wa and print the JSON summaries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quantity", choices=sorted(QUANTITIES), default="current_total")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fipy-python", type=Path, default=Path("/tmp/perf2/fipyenv/bin/python"))
    args = parser.parse_args()
    quantity = QUANTITIES[args.quantity]
    os.environ["OMP_NUM_THREADS"] = "1"  # before this process imports lidep (warm runs)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PATH"] = _gmsh_path(work)
        with subprocess.Popen([str(args.fipy_python), str(FIPY_SCRIPT), "--serve"], env=env,
                              cwd=work, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) as server:
            for wagner in CASES:
                converged = quantity.converged[wagner]
                load_before = os.getloadavg()
                runs = Runners(wagner, work, env, args.fipy_python, server).all(quantity)
                samples: dict[tuple[str, str], list[Sample]] = {key: [] for key in runs}
                for k in range(-1, args.repeats):  # k = -1: untimed warm-up (imports, caches)
                    for key in list(runs) if k % 2 == 0 else list(reversed(runs)):
                        sample = runs[key](k)
                        if k >= 0:
                            samples[key].append(sample)
                results = {key: {"cells": s[0][2], "value": s[0][3][args.quantity],
                                 "rel_error": round(s[0][3][args.quantity] / converged - 1.0, 7),
                                 "enhancement_tip_over_far_field":
                                     round(s[0][3]["enhancement_tip_over_far_field"], 6),
                                 **_summary([(wall, cpu) for wall, cpu, _, _ in s])}
                           for key, s in samples.items()}
                print(json.dumps({
                    "benchmark": "fipy", "quantity": args.quantity, "converged": converged,
                    "wagner": wagner, "ranks": 1, "repeats": args.repeats,
                    "runs": {f"{measure}: {code}": r for (measure, code), r in results.items()},
                    "ratio_fipy_over_lidep": _ratios(results, quantity.accuracies),
                    "target_ratio": 10.0,
                    "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                    "machine": f"{platform.processor() or platform.machine()}, "
                               f"{os.cpu_count()} cores",
                }), flush=True)
            server.stdin.close()


if __name__ == "__main__":
    main()
