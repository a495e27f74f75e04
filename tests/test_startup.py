"""Start-up: what each command imports (issue 14: ``--help`` and ``validate`` under 1 s).

Each case runs a fresh interpreter (the modules an earlier test imported would hide an eager
import) and lists which of the heavy modules it loaded. Times are measured by
``benchmarks/bench_startup.py``, not here (a shared machine makes timings flaky); a heavy import
coming back is what these tests catch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "configs" / "examples" / "minimal.yaml"
HEAVY = ("dolfinx", "petsc4py", "ufl", "gmsh", "matplotlib", "pyvista", "pint", "scipy", "h5py",
         "pydantic", "tqdm", "shapely")


def _loaded(code: str) -> set[str]:
    """The HEAVY modules imported by running ``code`` in a new interpreter."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_loads_no_heavy_module():
    code = ("from solver.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            "    pass")
    assert _loaded(code) == set()


def test_validate_loads_no_solver_stack():
    # pydantic is the config; ufl comes with solver.transport (the config's consistency checks)
    loaded = _loaded(f"from solver.cli import main\nmain(['validate', {str(MINIMAL)!r}])")
    assert loaded <= {"pydantic", "ufl"}, loaded


@pytest.mark.parametrize("module", ["solver.report", "solver.api", "solver.geometry"])
def test_run_modules_load_no_plotting_or_units_library(module):
    loaded = _loaded(f"import {module}")
    assert not loaded & {"matplotlib", "pyvista", "pint"}, loaded


def test_periodic_constraint_loads_scipy_only_when_matching_dofs():
    assert "scipy" not in _loaded("import solver.periodic")


@pytest.mark.parametrize("module", ["solver.problem", "solver.geometry.occ2d", "solver.driver"])
def test_run_modules_load_no_scipy_h5py_or_shapely(module):
    # scipy.spatial (0.3 s: moving surface, mosaic grains), h5py (0.1 s: checkpoints, merged
    # field series) and shapely (13 ms: polyline surfaces) are imported where used; a steady
    # run of a smooth surface needs none of them
    loaded = _loaded(f"import {module}")
    assert not loaded & {"scipy", "h5py", "shapely"}, loaded


def test_progress_loads_tqdm_only_for_a_bar():
    # tqdm (its import and multiprocessing lock, 20 ms of CPU) only where a bar is drawn
    code = ("from mpi4py import MPI\nfrom solver.logging_utils import progress\n"
            "for total in (None, 10.0):\n"
            "    with progress(total, MPI.COMM_SELF, 'c', terminal=False) as bar:\n"
            "        bar.update(5.0)")
    assert "tqdm" not in _loaded(code)
    assert "tqdm" in _loaded(code.replace("terminal=False", "terminal=True"))


def _collector_after(argv: list[str], tmp_path: Path) -> tuple[int, dict]:
    """Exit code of ``lidep ARGV`` as the console script runs it, and its collector at exit."""
    probe = (
        "import atexit, gc, json, sys\n"
        "def report():\n"
        "    import solver.problem\n"
        "    young = {id(o) for o in gc.get_objects()}\n"
        "    print(json.dumps({'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count(),\n"
        "                      'problem_frozen': id(solver.problem.__dict__) not in young}))\n"
        "atexit.register(report)\n"
        f"sys.argv = ['lidep', *{argv!r}]\n"
        "from solver.cli import console\n"
        "console()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=tmp_path,
                          timeout=300)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_console_run_freezes_its_modules_and_collects_again(tmp_path):
    # solver.startup: the collector pauses while the run imports its modules; they are then
    # frozen (the run's module dicts are no longer in the collected generations) and the
    # collector runs again for what the run creates
    code, collector = _collector_after(
        ["run", str(ROOT / "benchmarks" / "ridge.yaml"), "-o", "out"], tmp_path)
    assert code == 0
    assert collector["enabled"] and collector["problem_frozen"]
    assert collector["frozen"] > 100_000  # DOLFINx, UFL, pydantic, lidep: several 100,000s


@pytest.mark.parametrize("argv", [["validate", str(MINIMAL)], ["run", "missing.yaml"]])
def test_console_collects_again_after_other_commands_and_errors(tmp_path, argv):
    code, collector = _collector_after(argv, tmp_path)
    assert code == (0 if argv[0] == "validate" else 2)
    assert collector["enabled"]


def test_main_leaves_the_callers_collector_alone():
    # main() from Python (a test, a notebook): no pause, no freeze
    import gc

    from solver.cli import main

    frozen = gc.get_freeze_count()
    assert main(["validate", str(MINIMAL)]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen
