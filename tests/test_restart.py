"""Restart: a transient run continued from a checkpoint repeats the uninterrupted run.

The case is a closed Li | Li cell with a dilute binary salt under a pulse / reverse-pulse / rest
protocol (two cycles, adaptive BDF2): the control switches mid-run, the BDF history restarts at
each switch, and the step controller's state carries over. A run is stopped while the snapshot
after an output time is taken (the checkpoint of an output time is written once its snapshot
was consumed), a new Simulation resumes from the checkpoint, and its remaining snapshots are
compared with those of an uninterrupted run:
equal to 1e-10 relative on the same rank count (the resumed run takes the same steps: the
checkpoint holds the BDF and predictor history, the controller's step and counters, the
protocol position (the time) and the event state). Across rank counts the agreement is
1e-8 (``test_resume_across_rank_counts``, launched with mpiexec).
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_flat_bundle
from mpi4py import MPI

from solver.checkpoint import CheckpointError
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation

ROOT = Path(__file__).resolve().parents[1]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
L, W, C_BULK, J = 1.0e-4, 1.0e-5, 1000.0, 150.0
TAU = L * L / 1.2e-10
PULSES = [
    {"kind": "pulse", "duration": 0.2 * TAU, "value": J},
    {"kind": "reverse_pulse", "duration": 0.1 * TAU, "value": J},
    {"kind": "rest", "duration": 0.1 * TAU},
]
OUTPUTS = [0.1 * TAU, 0.25 * TAU, 0.35 * TAU, 0.5 * TAU, 0.7 * TAU]
#: Same rank count: the same steps in the same order, so only round-off differs (measured 0).
TOL_SAME = 1e-10


def make_case() -> SimpleNamespace:
    """The pulsed closed cell (P1: the test is about the state, not the discretisation)."""
    physics = PhysicsConfig(
        temperature=298.15,
        electrolyte={"type": "dilute", "bulk_concentration": C_BULK,
                     "cation_diffusivity": 1.0e-10, "anion_diffusivity": 1.5e-10},
        kinetics={"exchange_current_density": 10.0},
        counter={"type": "li_electrode"},
        control={"protocol": PULSES, "cycles": 2},
    )
    time = TimeConfig(mode="transient", t_end=0.8 * TAU, dt=1e-3 * TAU, output_times=OUTPUTS)
    return SimpleNamespace(physics=physics, time=time, numerics=NumericsConfig(degree=1))


def simulation(comm: MPI.Comm = MPI.COMM_SELF) -> Simulation:
    """A new Simulation of the case on a new (identical) mesh."""
    return Simulation(make_flat_bundle(comm, W, L, (1, 12)), make_case(), comm)


def record(snapshots, comm: MPI.Comm = MPI.COMM_SELF) -> list[dict[str, float]]:
    """Time, cell voltage, salt inventory and min / max of c of each snapshot."""
    out = []
    for s in snapshots:
        c = s.fields["concentration"].x.array
        out.append({"t": s.t, "cell_voltage": s.scalars["cell_voltage"],
                    "salt_inventory": s.scalars["salt_inventory"],
                    "c_min": comm.allreduce(float(c.min()), op=MPI.MIN),
                    "c_max": comm.allreduce(float(c.max()), op=MPI.MAX)})
    return out


def run_until(sim: Simulation, checkpoint: Path, stop_after: int) -> list:
    """Run with checkpoints; stop while the snapshot after OUTPUTS[stop_after] is consumed (the
    generator is closed there, as a killed process stops): the newest checkpoint is the one
    written once the snapshot at OUTPUTS[stop_after] was taken."""
    sim.checkpoint = checkpoint
    snaps = []
    for snap in sim.run():
        snaps.append(snap)
        if snap.t == OUTPUTS[stop_after + 1]:
            break
    return snaps


def assert_same(resumed: list[dict], reference: list[dict], rel: float) -> None:
    assert [r["t"] for r in resumed] == pytest.approx([r["t"] for r in reference], rel=1e-12)
    for a, b in zip(resumed, reference, strict=True):
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=rel, abs=1e-300), (a["t"], key)


@pytest.fixture(scope="module")
def reference() -> tuple[list[dict], int]:
    """The uninterrupted run: its snapshot records and its number of accepted steps."""
    sim = simulation()
    records = record(sim.run())
    return records, sim.driver.state.controller.n_accepted


@pytest.mark.parametrize("stop_after", [0, 2, 3])
def test_resume_repeats_the_uninterrupted_run(tmp_path, reference, stop_after):
    """Stopped at outputs 0 (first pulse), 2 (after the switch to the reverse pulse) and 3
    (during the rest, after two switches): the rest of the run is the uninterrupted one."""
    expected, n_accepted = reference
    checkpoint = tmp_path / "checkpoint.h5"
    run_until(simulation(), checkpoint, stop_after)
    resumed = simulation()
    resumed.resume_from = checkpoint
    records = record(resumed.run())
    later = [r for r in expected if r["t"] > OUTPUTS[stop_after]]
    assert_same(records, later, TOL_SAME)
    assert resumed.driver.state.controller.n_accepted == n_accepted
    protocol = resumed._protocol()
    assert resumed.control_value.value == protocol.value(expected[-1]["t"])


def test_checkpoint_interval_writes_between_outputs(tmp_path, monkeypatch):
    """With a wall-clock interval of ~0 every accepted step is checkpointed: the file exists
    after the first step, before any output time."""
    sim = simulation()
    sim.checkpoint = tmp_path / "checkpoint.h5"
    sim.time = sim.time.model_copy(update={"checkpoint_interval": 1e-9})
    seen = []
    sim.step_listeners.append(lambda t, dt, it: seen.append(sim.checkpoint.exists()))
    for _ in sim.run():
        break
    assert len(seen) > 2 and all(seen[1:])


def test_resume_from_a_missing_checkpoint_fails(tmp_path):
    sim = simulation()
    sim.resume_from = tmp_path / "none.h5"
    with pytest.raises(CheckpointError, match="none.h5"):
        list(sim.run())


SCRIPT = """
import json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import solver
from mpi4py import MPI
import test_restart as t
mode, path = sys.argv[1], Path(sys.argv[2])
sim = t.simulation(MPI.COMM_WORLD)
if mode == "stop":
    t.run_until(sim, path, 2)
else:
    sim.resume_from = path
    records = t.record(sim.run(), MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        Path(sys.argv[3]).write_text(json.dumps(records))
"""


def _launch(ranks: int, *args: str, script: Path) -> None:
    command = [str(MPIEXEC), "-n", str(ranks), sys.executable, str(script), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize(("start", "resume"), [(1, 2), (2, 1)])
def test_resume_across_rank_counts(tmp_path, reference, start, resume):
    """A checkpoint written on `start` ranks resumes on `resume` ranks: 1e-8 relative (the
    parallel linear solves differ by round-off, which the adaptive steps can amplify)."""
    script = tmp_path / "restart_run.py"
    script.write_text(SCRIPT.format(tests=str(ROOT / "tests")))
    checkpoint, out = tmp_path / "checkpoint.h5", tmp_path / "records.json"
    _launch(start, "stop", str(checkpoint), script=script)
    _launch(resume, "resume", str(checkpoint), str(out), script=script)
    expected, _ = reference
    assert_same(json.loads(out.read_text()), [r for r in expected if r["t"] > OUTPUTS[2]], 1e-8)


def test_state_copy_restore_and_extrapolate():
    """State.extrapolate is the linear predictor through the last two levels; restore undoes
    it exactly (on the potentials, phi_s and the salt unknown)."""
    sim = simulation()
    driver = sim.time_driver(sim._protocol())
    state = driver.state
    phi = state.blocks["Phi"]
    phi.x.array[:] = 1.0
    state.phi_s.value = 0.5
    state.levels = [state.copy()]
    state.t = 1.0
    phi.x.array[:] = 2.0
    state.phi_s.value = 0.7
    state.bdf.set_step(1.0)
    state.accept(1.0, restart=False)
    state.bdf.set_step(1.0)
    state.extrapolate(2.0, galvanostatic=True)
    assert np.allclose(phi.x.array, 3.0)
    assert float(state.phi_s.value) == pytest.approx(0.9)
    state.restore()
    assert np.allclose(phi.x.array, 2.0)
    assert float(state.phi_s.value) == pytest.approx(0.7)
