"""Every demo in demos/ runs to its end (its own assertions check it), serially and on 2 ranks.

Like DOLFINx's ``demo/test.py``: the demos are literate scripts; each checks its result against
an exact solution with ``assert``, so a demo that runs through is a demo that still holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMOS = sorted((ROOT / "demos").glob("demo_*.py"))
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def _run(command: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.mark.parametrize("demo", DEMOS, ids=[d.stem for d in DEMOS])
def test_demo_runs_serially(demo):
    _run([sys.executable, str(demo)])


@pytest.mark.parametrize("demo", DEMOS, ids=[d.stem for d in DEMOS])
def test_demo_runs_on_two_ranks(demo):
    _run([str(MPIEXEC), "-n", "2", sys.executable, str(demo)])


def test_there_is_a_demo():
    assert DEMOS
