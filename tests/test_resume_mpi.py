"""Interrupted 2-rank runs checkpoint and resume through the CLI, on 2 ranks and across rank counts.

Serial tests that launch ``mpiexec -n 2 lidep run`` themselves (like ``test_signals``), all
``slow``. The case is test_resume's cell with a shorter protocol: 2 s steps to 1600 s, 400 s at
0.1 mA/cm^2 then 400 s at 0.05 mA/cm^2, twice (the control switches at 400, 800 and 1200 s),
outputs at 600, 1200 and 1600 s. (No rest: at zero current a flat cell's current ratios and
hotspot metrics are ratios of round-off, which differ across rank counts; and the outputs fall
in pulses of different current, so that the time of the peak enhancement, 1 + 1.3e-11 at
0.1 mA/cm^2 against 1 + 0.6e-11, is not decided by round-off.) A run is interrupted 0.05 s after
its first output's checkpoint appeared (t = 600 s; the stop comes a few steps later, the next
output is 300 steps away: about 0.4 s on an idle machine, more under load), so the resumed run
crosses the switches at 800 and 1200 s; it is then resumed and compared with the uninterrupted
2-rank run:

- on the same rank count, ``metrics.json``, ``surface.npz`` and the final state (the checkpoint
  at 1600 s) equal to 1e-10 relative to each quantity's largest magnitude, as the serial
  test_resume (the resumed steps repeat the uninterrupted ones: bit for bit in the eight
  resumes checked by hand, serial and 2 ranks; in an earlier variant of this case, outputs every
  400 s, one 2-rank resume of four, stopped at t = 422 s, differed by 1e-14 relative from
  t = 1200 s on);
- across rank counts (2 -> 1, 1 -> 2) to 1e-8 relative: the same steps in another order of
  summation (assembly, reductions, the direct solver's ordering); measured below 1e-13, the
  bound leaves room for the Newton tolerance, which the steps need not repeat bit for bit.

A standard deviation is compared at the scale of its mean: the flat cell's deposit is uniform,
its std (1e-19 m of 1e-7 m) is round-off, and a round-off change of the deposit (2e-5 of the
std across rank counts, 1e-5 in the resume above) is all of it.

The final fields are compared by cell: a checkpoint stores every function's values per cell
keyed by the mesh's input node indices, so they line up whatever the writer's partition;
surface.npz's points come in rank order and are compared sorted by position.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from test_resume import (
    CONFIG,
    TIMEOUT,
    assert_metrics_equal,
    assert_series_equal,
    lidep,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
MPI_CONFIG = json.loads(json.dumps(CONFIG))
MPI_CONFIG["base"]["physics"]["control"]["protocol"] = [
    {"kind": "pulse", "duration": "400 s", "value": "0.1 mA/cm^2"},
    {"kind": "pulse", "duration": "400 s", "value": "0.05 mA/cm^2"}]
MPI_CONFIG["base"]["time"].update({"t_end": "1600 s", "dt": "2 s", "output_interval": "600 s"})
#: Seconds between the first output's checkpoint and the signal: the stop comes at least a step
#: after that output and long before the next one (300 steps).
AFTER_OUTPUT_S = 0.05


def spread_at_mean(name: str) -> str:
    """The scale of a standard deviation is its mean's (see above)."""
    return name.removesuffix("_std") + "_mean" if name.endswith("_std") else name


def finished(process: subprocess.Popen) -> str:
    """Stderr of a run that must succeed."""
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    return err


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Config, mesh cache and the uninterrupted 2-rank run's directory."""
    base = tmp_path_factory.mktemp("resume_mpi")
    config = base / "slow.yaml"
    config.write_text(yaml.safe_dump(MPI_CONFIG))
    cache = base / "meshes"
    finished(lidep("run", str(config), "-o", str(base / "reference"), "--mesh-cache",
                   str(cache), ranks=2))
    return config, cache, base / "reference" / "slow"


def checkpoint_time(path: Path) -> float:
    """The time of the state in a checkpoint file, s."""
    with h5py.File(path) as f:
        return float(json.loads(bytes(f["scalars"][:]).decode())["t"])


def cell_values(path: Path) -> dict[str, np.ndarray]:
    """Every function of a checkpoint as (cells, dofs per cell, block size) values, the cells
    in the file's order (sorted by their keys): independent of the writer's partition."""
    out = {}
    with h5py.File(path) as f:
        for group in f["functions"].values():
            layout = f["layouts"][str(group.attrs["layout"])]
            bs = int(layout.attrs["block_size"])
            out[group.attrs["name"]] = group["values"][:].reshape(-1, bs)[layout["dofs"][:]]
    return out


def assert_final_fields_equal(a: Path, b: Path, rel: float) -> None:
    """surface.npz (points sorted) and every function of the final checkpoint of case ``a``,
    equal to ``rel`` times each quantity's largest magnitude."""
    with np.load(a / "a" / "surface.npz") as sa, np.load(b / "a" / "surface.npz") as sb:
        oa, ob = np.lexsort(sa["x"].T), np.lexsort(sb["x"].T)
        np.testing.assert_allclose(sb["t"], sa["t"], rtol=0, atol=rel * np.max(sa["t"]))
        for key, axis in (("x", 0), ("weight", 0), ("j", 1), ("c_surface", 1)):
            va, vb = np.take(sa[key], oa, axis=axis), np.take(sb[key], ob, axis=axis)
            scale = float(np.max(np.abs(va))) or 1.0
            np.testing.assert_allclose(vb, va, rtol=0, atol=rel * scale, err_msg=key)
    fa, fb = cell_values(a / "a" / "checkpoint.h5"), cell_values(b / "a" / "checkpoint.h5")
    assert checkpoint_time(b / "a" / "checkpoint.h5") == checkpoint_time(a / "a" / "checkpoint.h5")
    assert fa.keys() == fb.keys()
    for name, values in fa.items():
        scale = float(np.max(np.abs(values))) or 1.0
        np.testing.assert_allclose(fb[name], values, rtol=0, atol=rel * scale, err_msg=name)


def interrupt(setup, out: Path, ranks: int, target: str, sig: signal.Signals
              ) -> tuple[Path, int, str]:
    """Start the run on ``ranks``, send ``sig`` to ``target`` ("launcher": mpiexec, or the
    process of a serial run; "every process": mpiexec and the ranks, as SLURM does; or
    "rank <k>") a
    moment after the first output's checkpoint; return the failed directory (marked resumable),
    the exit code and stderr."""
    config, cache, _ = setup
    process = lidep("run", str(config), "-o", str(out), "--mesh-cache", str(cache),
                    ranks=ranks)
    deadline = time.monotonic() + TIMEOUT
    while not list(out.glob("slow.incomplete-*/a/checkpoint.h5")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.02)
    time.sleep(AFTER_OUTPUT_S)
    (work,) = out.glob("slow.incomplete-*")
    ranks_pids = [pid for _, pid in json.loads((work / "RUNNING").read_text())["ranks"]]
    pids = {"launcher": [process.pid], "every process": [process.pid, *ranks_pids]}.get(
        target) or [ranks_pids[int(target.split()[1])]]
    for pid in pids:
        os.kill(pid, sig)
    _, err = process.communicate(timeout=TIMEOUT)
    deadline = time.monotonic() + 60
    while list(out.glob("*.incomplete-*")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the watcher marks a killed run
    (failed,) = out.glob("slow.failed-*")
    assert (failed / "RESUMABLE").is_file(), err
    return failed, process.returncode, err


def resume(failed: Path, ranks: int, cache: Path) -> Path:
    """``lidep run --resume`` on ``ranks``; the finished directory."""
    finished(lidep("run", "--resume", str(failed), "--mesh-cache", str(cache), ranks=ranks))
    assert (failed / "RESUMED").is_file()
    return failed.parent / "slow"


def assert_stopped_by_sigterm(failed: Path, returncode: int, err: str, ranks: int) -> float:
    """Exit 143, one line saying so, the checkpoint of the stop (after the last output) named in
    the log; returns its time."""
    assert returncode == 143, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: run stopped: terminated by SIGTERM; partial results are kept in {failed}"], err
    assert (failed / "FAILED").read_text().splitlines()[0].endswith(
        "Interrupted: terminated by SIGTERM" + (" (on rank 0)" if ranks > 1 else ""))
    said = [line for line in err.splitlines() if "interrupted: checkpoint of t = " in line]
    assert len(said) == 1, err  # rank 0 says it
    t = checkpoint_time(failed / "a" / "checkpoint.h5")
    assert f"interrupted: checkpoint of t = {t:.6g} s" in said[0]
    with np.load(failed / "a" / "surface.npz") as surface:
        assert surface["t"].tolist() == [600.0]  # the outputs written before the signal
    assert 600.0 < t < 800.0  # a checkpoint of its own, before the switch at 800 s
    return t


@pytest.mark.parametrize("target", ["launcher", "every process"])
def test_sigterm_to_mpiexec_checkpoints_and_resumes(setup, tmp_path, target):
    """SIGTERM to mpiexec (MPICH's hydra forwards it to both ranks), or to mpiexec and every
    rank as SLURM does at the time limit (each rank gets it twice; here the copies mostly
    arrive together or after the stop was taken: test_signals'
    test_repeated_signal_while_stepping_is_the_same_request holds the case of a copy within a
    long step): both ranks stop at the next step boundary, write a checkpoint later than the
    last output and exit 143; the run resumes on 2 ranks to the uninterrupted results
    (1e-10)."""
    _, cache, reference = setup
    failed, returncode, err = interrupt(setup, tmp_path, 2, target, signal.SIGTERM)
    assert_stopped_by_sigterm(failed, returncode, err, 2)
    resumed = resume(failed, 2, cache)
    assert_metrics_equal(reference / "metrics.json", resumed / "metrics.json", 1e-10,
                         spread_at_mean)
    assert_final_fields_equal(reference, resumed, 1e-10)
    assert_series_equal(reference, resumed, 1e-10)


def test_sigterm_to_one_rank_checkpoints_and_resumes_on_one_rank(setup, tmp_path):
    """SIGTERM to rank 1 alone (rank 0 learns it at the step boundary): the same stop; the run
    resumes on 1 rank (1e-8 of the 2-rank run)."""
    _, cache, reference = setup
    failed, returncode, err = interrupt(setup, tmp_path, 2, "rank 1", signal.SIGTERM)
    assert_stopped_by_sigterm(failed, returncode, err, 2)
    resumed = resume(failed, 1, cache)
    assert_metrics_equal(reference / "metrics.json", resumed / "metrics.json", 1e-8,
                         spread_at_mean)
    assert_final_fields_equal(reference, resumed, 1e-8)
    assert_series_equal(reference, resumed, None)


def test_start_on_one_rank_resume_on_two(setup, tmp_path):
    """A serial run stopped by SIGTERM resumes on 2 ranks (1e-8 of the 2-rank run)."""
    _, cache, reference = setup
    failed, returncode, err = interrupt(setup, tmp_path, 1, "launcher", signal.SIGTERM)
    assert_stopped_by_sigterm(failed, returncode, err, 1)
    resumed = resume(failed, 2, cache)
    assert_metrics_equal(reference / "metrics.json", resumed / "metrics.json", 1e-8,
                         spread_at_mean)
    assert_final_fields_equal(reference, resumed, 1e-8)
    assert_series_equal(reference, resumed, None)


def test_sigkill_of_a_rank_resumes_from_the_last_checkpoint(setup, tmp_path):
    """kill -9 of rank 1: mpiexec kills rank 0 at once, the watcher marks the directory
    resumable, and the run resumes (on 1 rank, the cheaper) from the checkpoint of the last
    output (t = 600 s) to the uninterrupted results (1e-8)."""
    _, cache, reference = setup
    failed, returncode, _ = interrupt(setup, tmp_path, 2, "rank 1", signal.SIGKILL)
    assert returncode != 0
    assert "killed by a signal" in (failed / "FAILED").read_text().splitlines()[0]
    assert checkpoint_time(failed / "a" / "checkpoint.h5") == 600.0
    resumed = resume(failed, 1, cache)
    assert_metrics_equal(reference / "metrics.json", resumed / "metrics.json", 1e-8,
                         spread_at_mean)
    assert_final_fields_equal(reference, resumed, 1e-8)
    assert_series_equal(reference, resumed, None)
