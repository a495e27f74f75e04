"""Signals and crashes end a real run with a visible, marked directory, never a hidden one.

Each test starts ``lidep run`` of a tiny transient config (a 1 um x 5 um dilute cell, P1, a
fixed 1 s step up to 10^6 s: it is still stepping when the signal comes) in a subprocess,
waits until the case's field directory appears in the incomplete run directory (the solve has
begun), sends the signal and checks the exit code, the console message and the output root.
``os.kill`` with SIGSEGV or SIGABRT stands in for a native crash in Gmsh or PETSc: the process
gets the same signal. The mesh is cached once per module, the JIT cache is shared, so each run
takes a few seconds.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from mpi4py import MPI
from test_resume import lidep

import solver  # noqa: F401  (MPI import order)
from solver import termination
from solver.cli import main
from solver.rundir import RunDirectory
from solver.termination import (
    Interrupted,
    interrupt_on_signals,
    signals_held,
    stop_at_step_boundaries,
    stop_requested,
    take_stop,
)

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "configs" / "examples" / "minimal.yaml"
#: Seconds allowed for the run to reach time stepping (imports, cached mesh, JIT) and for the
#: process and its watcher to finish after the signal.
START_TIMEOUT, END_TIMEOUT = 240.0, 60.0

SLOW = {
    "name": "slow",
    "base": {
        "geometry": {"domain": {"width": "1 um", "length": "5 um"}},
        "physics": {
            "electrolyte": {"type": "dilute", "bulk_concentration": "1 M",
                            "diffusivity": "3e-10 m^2/s", "transference_number": 0.4},
            "control": {"mode": "galvanostatic", "current_density": "0.1 mA/cm^2"},
        },
        "time": {"mode": "transient", "t_end": "1e6 s", "dt": "1 s", "adaptivity": "none",
                 "output_interval": "1e5 s"},
        "numerics": {"degree": 1},
        "output": {"formats": ["xdmf"], "report": False},
    },
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    """The config file and a mesh cache shared by the tests of this module."""
    base = tmp_path_factory.mktemp("signals")
    config = base / "slow.yaml"
    config.write_text(yaml.safe_dump(SLOW))
    return config, base / "meshes"


def start(setup: tuple[Path, Path], out: Path, ranks: int = 1) -> subprocess.Popen:
    """``lidep run`` in a subprocess (under ``mpiexec -n ranks`` when ranks > 1)."""
    config, cache = setup
    return lidep("run", str(config), "-o", str(out), "--mesh-cache", str(cache), ranks=ranks)


def wait_for_stepping(process: subprocess.Popen, out: Path) -> Path:
    """The incomplete run directory, once the solve of its case has begun."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        work = list(out.glob("slow.incomplete-*"))
        if work and (work[0] / "main").is_dir():
            time.sleep(1.0)  # a few steps
            return work[0]
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"the run did not reach time stepping in {START_TIMEOUT} s")


def finish(process: subprocess.Popen) -> tuple[int, str]:
    """Exit code and stderr of the run process."""
    _, err = process.communicate(timeout=END_TIMEOUT)
    return process.returncode, err


def marked_failed(out: Path) -> Path:
    """The one entry of the output root, a visible failed directory (the watcher may still be
    renaming it just after the process died)."""
    deadline = time.monotonic() + END_TIMEOUT
    while list(out.glob("*.incomplete-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    entries = sorted(out.iterdir())
    assert [p.name for p in entries if p.name.startswith(".")] == []  # nothing hidden
    assert len(entries) == 1, entries
    (failed,) = entries
    assert re.fullmatch(r"slow\.failed-\d{8}T\d{6}Z", failed.name)
    assert not (failed / "RUNNING").exists()
    return failed


def test_first_signal_raises_later_ones_are_ignored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as info:
        with interrupt_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises within the sleep
    assert info.value.exit_code == 143 and str(info.value) == "terminated by SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before  # restored


def test_signal_is_held_while_the_directory_is_finished():
    done = []
    with pytest.raises(Interrupted, match="interrupted by SIGINT"):
        with interrupt_on_signals(), signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the handler has run by now, and held the signal back
            done.append(True)
    assert done == [True]


def test_signal_while_stepping_waits_for_the_step_boundary():
    """While the time driver steps the first signal is only recorded; once the driver took it,
    later signals are ignored (it is writing the checkpoint); nothing is raised."""
    with interrupt_on_signals(), stop_at_step_boundaries():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)  # the handler has run
        assert stop_requested() == signal.SIGTERM
        take_stop()
        assert stop_requested() == 0
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
    assert stop_requested() == 0  # a new run starts clean


def test_repeated_signal_while_stepping_is_the_same_request():
    """SLURM signals every process of the job step and mpiexec forwards its own signal to the
    ranks again: a signal within SAME_REQUEST_S of the first is not a second one."""
    with interrupt_on_signals(), stop_at_step_boundaries():
        for _ in range(2):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        assert stop_requested() == signal.SIGTERM


def test_second_signal_while_stepping_stops_at_once(monkeypatch):
    monkeypatch.setattr(termination, "SAME_REQUEST_S", 0.1)
    with pytest.raises(Interrupted) as info:
        with interrupt_on_signals(), stop_at_step_boundaries():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises within the sleep
    assert info.value.signum == signal.SIGTERM and not info.value.collective


def test_signal_not_taken_in_time_stops_at_once():
    """A serial run stuck in a long step: after the grace time the immediate path raises."""
    start = time.monotonic()
    with pytest.raises(Interrupted):
        with interrupt_on_signals(grace=0.3), stop_at_step_boundaries():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises within the sleep
    assert 0.3 <= time.monotonic() - start < 5


def test_signal_not_taken_in_time_calls_stop_from_the_timer():
    """Rank 0 of a job stuck in a long step: after the grace time ``stop`` (mark the directory,
    abort the job) is called from the timer's thread: the main thread may be stuck in C."""
    stopped: list[Interrupted] = []
    called = threading.Event()

    def stop(err: Interrupted) -> None:
        stopped.append(err)
        called.set()

    with interrupt_on_signals(stop=stop, grace=0.3), stop_at_step_boundaries():
        os.kill(os.getpid(), signal.SIGTERM)
        assert called.wait(5)
    assert [err.signum for err in stopped] == [signal.SIGTERM]
    assert threading.current_thread() is threading.main_thread()


def test_fallback_is_armed_while_the_main_thread_waits_in_native_code():
    """Python runs signal handlers only between bytecodes of the main thread. A rank waiting
    in a native call (libc's system("sleep 1") here, standing in for an MPI collective) is
    still stopped after the grace time: a thread woken through signal.set_wakeup_fd arms the
    timer, which calls ``stop`` while the main thread is still waiting."""
    stopped_at: list[float] = []
    with interrupt_on_signals(stop=lambda err: stopped_at.append(time.monotonic()), grace=0.2):
        with stop_at_step_boundaries():
            threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM)).start()
            ctypes.CDLL(None).system(b"sleep 1")
            returned_at = time.monotonic()
    assert len(stopped_at) == 1 and stopped_at[0] < returned_at - 0.3


def test_interruption_in_process_is_marked(tmp_path):
    # a notebook's Ctrl-C (KeyboardInterrupt) is marked like a signal in the CLI
    with pytest.raises(KeyboardInterrupt) as info:
        with RunDirectory(tmp_path, "demo", MPI.COMM_SELF):
            raise KeyboardInterrupt
    (failed,) = tmp_path.iterdir()
    assert failed.name.startswith("demo.failed-")
    assert (failed / "FAILED").read_text().splitlines()[0].endswith(": KeyboardInterrupt")
    assert info.value.__notes__ == [f"partial results are kept in {failed}"]


@pytest.mark.parametrize("signum, code, text", [
    (signal.SIGTERM, 143, "terminated by SIGTERM"),
    (signal.SIGINT, 130, "interrupted by SIGINT (Ctrl-C)"),
], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_mark_the_directory_with_one_line(setup, tmp_path, signum, code,
                                                              text):
    out = tmp_path / "out"
    process = start(setup, out)
    wait_for_stepping(process, out)
    process.send_signal(signum)
    returncode, err = finish(process)
    failed = marked_failed(out)
    assert returncode == code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: run stopped: {text}; partial results are kept in {failed}"], err
    assert (failed / "FAILED").read_text().splitlines()[0].endswith(f"Interrupted: {text}")
    assert json.loads((failed / "manifest.json").read_text())["status"] == "failed"
    assert (failed / "config.resolved.yaml").is_file()  # the partial results are kept


@pytest.mark.parametrize("signum, cause", [
    (signal.SIGKILL, "ended abruptly, killed by a signal"),
    (signal.SIGSEGV, "native crash of the run process (pid {pid} on {host}): Segmentation fault"),
    (signal.SIGABRT, "native crash of the run process (pid {pid} on {host}): Aborted"),
], ids=["SIGKILL", "SIGSEGV", "SIGABRT"])
def test_uncatchable_ends_are_marked_by_the_watcher(setup, tmp_path, signum, cause):
    out = tmp_path / "out"
    process = start(setup, out)
    work = wait_for_stepping(process, out)
    owner = json.loads((work / "RUNNING").read_text())
    process.send_signal(signum)
    returncode, err = finish(process)
    assert returncode != 0
    failed = marked_failed(out)
    first = (failed / "FAILED").read_text().splitlines()[0]
    assert cause.format(**owner) in first, first
    if signum != signal.SIGKILL:  # faulthandler's report and the Python stack, in run.log
        log = (failed / "run.log").read_text()
        assert "Fatal Python error: " in log and "solver/api.py" in log


def test_stale_directory_is_reported_then_cleaned(setup, tmp_path, capsys):
    # the run and its watcher both killed (as a scheduler killing the whole job would)
    out = tmp_path / "out"
    process = start(setup, out)
    work = wait_for_stepping(process, out)
    owner = json.loads((work / "RUNNING").read_text())
    os.kill(owner["watcher_pid"], signal.SIGKILL)
    process.kill()
    finish(process)
    time.sleep(0.5)
    assert [p.name for p in out.iterdir()] == [work.name]  # visible, marked RUNNING
    assert (work / "RUNNING").is_file()

    argv = ["run", str(MINIMAL), "-o", str(out), "--mesh-cache", str(setup[1])]
    assert main(argv) == 0
    _, err = capsys.readouterr()
    reports = [line for line in err.splitlines() if str(work) in line]
    assert len(reports) == 1 and "stale run directory" in reports[0], err
    assert f"pid {owner['pid']}" in reports[0] and "--clean-stale" in reports[0]
    assert work.is_dir()  # reported, not removed

    assert main([*argv, "--overwrite", "--clean-stale"]) == 0
    _, err = capsys.readouterr()
    assert f"removed the stale run directory {work}" in err
    assert sorted(p.name for p in out.iterdir()) == ["minimal"]


@pytest.mark.slow
@pytest.mark.parametrize("target, signum, code", [
    ("mpiexec", signal.SIGTERM, 143),
    ("rank 1", signal.SIGTERM, 143),
    ("rank 1", signal.SIGKILL, None),
], ids=["SIGTERM-mpiexec", "SIGTERM-rank1", "SIGKILL-rank1"])
def test_signals_under_mpiexec(setup, tmp_path, target, signum, code):
    # a serial test that launches mpiexec -n 2 itself (not an `mpi` test, which runs on 2 ranks)
    out = tmp_path / "out"
    process = start(setup, out, ranks=2)
    work = wait_for_stepping(process, out)
    owner = json.loads((work / "RUNNING").read_text())
    assert len(owner["ranks"]) == 2
    os.kill(process.pid if target == "mpiexec" else owner["ranks"][1][1], signum)
    returncode, err = finish(process)
    failed = marked_failed(out)
    first = (failed / "FAILED").read_text().splitlines()[0]
    assert "Traceback" not in err
    if code is None:  # rank 1 killed: mpiexec kills rank 0, the watcher marks the directory
        assert returncode != 0
        assert "ended abruptly, killed by a signal" in first
    else:  # rank 0 stops the run (a signal on rank 1 is passed on to it), marks it, aborts
        assert returncode == code, err
        assert first.endswith("Interrupted: terminated by SIGTERM (on rank 0)")
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert errors == [f"error: run stopped: terminated by SIGTERM; partial results are kept "
                          f"in {failed}"], err


@pytest.mark.slow
def test_sigterm_under_mpiexec_after_outputs_ends_marked_and_resumable(tmp_path):
    """SIGTERM to a 2-rank run that has written outputs (and checkpoints) ends at once.

    Rank 0 marks the directory and aborts from the signal handler: unwinding would close the
    field files collectively while rank 1 keeps stepping (the job hung before, never marked).
    """
    config = tmp_path / "slow.yaml"
    tree = json.loads(json.dumps(SLOW))
    tree["base"]["time"]["output_interval"] = "5 s"
    config.write_text(yaml.safe_dump(tree))
    out = tmp_path / "out"
    process = start((config, tmp_path / "meshes"), out, ranks=2)
    work = wait_for_stepping(process, out)
    deadline = time.monotonic() + START_TIMEOUT
    while not list(work.glob("main/checkpoint*.h5")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # more outputs
    os.kill(process.pid, signal.SIGTERM)
    returncode, err = finish(process)
    assert returncode == 143, err
    failed = marked_failed(out)
    assert (failed / "FAILED").read_text().splitlines()[0].endswith(
        "Interrupted: terminated by SIGTERM (on rank 0)")
    assert (failed / "RESUMABLE").exists()
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: run stopped: terminated by SIGTERM; partial results are kept in {failed}"], err
