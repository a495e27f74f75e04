"""``lidep run --resume``: a run killed by SIGTERM or SIGKILL continues to the same end.

The case (a 1 um x 5 um dilute cell, P1, fixed 1 s steps, 8000 s, a 2000 s pulse / rest
protocol: the control switches three times) runs uninterrupted once, then in a subprocess
that is killed at several points, resumed with ``lidep run --resume <failed dir>``, and the
final ``metrics.json``, ``surface.npz`` and the final state (the last checkpoint) are compared
with the uninterrupted run's: equal to 1e-10 relative to each quantity's largest magnitude
(the checkpoint holds everything the next step depends on, the reused Jacobian's point
included, so the resumed steps repeat the uninterrupted ones; the solver state alone resumes
bit for bit, tests/test_restart.py).

SIGTERM: the run checkpoints its last accepted state, exits with 143, and its directory is
``<name>.failed-<UTC>`` marked ``RESUMABLE`` (the second line of FAILED is the resume command).
SIGKILL: no code of the run runs; the watcher marks the directory, and the run resumes from its
last checkpoint (written at every output time, here every 500 s).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from test_resume_fields import read_series

ROOT = Path(__file__).resolve().parents[1]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
TIMEOUT = 300.0
CONFIG = {
    "name": "slow",
    "base": {
        "geometry": {"domain": {"width": "1 um", "length": "5 um"}},
        "physics": {
            "electrolyte": {"type": "dilute", "bulk_concentration": "1 M",
                            "diffusivity": "3e-10 m^2/s", "transference_number": 0.4},
            "control": {"mode": "galvanostatic", "cycles": 2, "protocol": [
                {"kind": "pulse", "duration": "2000 s", "value": "0.1 mA/cm^2"},
                {"kind": "rest", "duration": "2000 s"}]},
        },
        "time": {"mode": "transient", "t_end": "8000 s", "dt": "1 s", "adaptivity": "none",
                 "output_interval": "500 s"},
        "numerics": {"degree": 1},
        "output": {"formats": ["xdmf"], "report": False},
    },
    "cases": {"a": {}},
}
#: Keys of metrics.json that are not results (wall times and paths).
SKIP = {"wall_time_s", "phases_s", "start_time", "end_time", "command_line", "run_dir"}


def lidep(*args: str, ranks: int = 1) -> subprocess.Popen:
    """``lidep`` (this checkout's) in a subprocess, under ``mpiexec -n ranks`` when ranks > 1."""
    command = [sys.executable, "-m", "solver.cli", *args]
    if ranks > 1:
        command = [str(MPIEXEC), "-n", str(ranks), *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONFAULTHANDLER", None)
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Config, mesh cache and the uninterrupted run's directory."""
    base = tmp_path_factory.mktemp("resume")
    config = base / "slow.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    cache = base / "meshes"
    done = lidep("run", str(config), "-o", str(base / "reference"), "--mesh-cache", str(cache))
    _, err = done.communicate(timeout=TIMEOUT)
    assert done.returncode == 0, err
    return config, cache, base / "reference" / "slow"


def numbers(tree, path=""):
    """(path, number) of every number of a JSON tree, except wall times."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key not in SKIP:
                yield from numbers(value, f"{path}/{key}")
    elif isinstance(tree, list):
        for k, value in enumerate(tree):
            yield from numbers(value, f"{path}[{k}]")
    elif isinstance(tree, int | float) and not isinstance(tree, bool):
        yield path, float(tree)


def assert_metrics_equal(a: Path, b: Path, rel: float,
                         scale_of: Callable[[str], str] = lambda name: name) -> None:
    """Every number of two metrics.json files equal to ``rel`` times the largest magnitude of
    that quantity over the output times (quantities that vanish during the rest periods are
    compared at the scale of the pulses); ``scale_of`` names the quantity whose largest
    magnitude is a quantity's scale (default: itself)."""
    na, nb = dict(numbers(json.loads(a.read_text()))), dict(numbers(json.loads(b.read_text())))
    assert na.keys() == nb.keys()
    scale: dict[str, float] = {}
    for key, value in na.items():
        name = key.rsplit("/", 1)[-1]
        if math.isfinite(value):
            scale[name] = max(scale.get(name, 0.0), abs(value))
    for key, value in na.items():
        other = nb[key]
        if math.isnan(value):
            assert math.isnan(other), key
            continue
        bound = rel * (scale[scale_of(key.rsplit("/", 1)[-1])] or 1.0)
        assert abs(value - other) <= bound, (key, value, other)


def assert_fields_equal(a: Path, b: Path, rel: float) -> None:
    """surface.npz and the final state (the checkpoint at t_end) of case ``a``."""
    with np.load(a / "a" / "surface.npz") as sa, np.load(b / "a" / "surface.npz") as sb:
        assert sa.files == sb.files
        for key in sa.files:
            scale = float(np.max(np.abs(sa[key]))) or 1.0
            np.testing.assert_allclose(sb[key], sa[key], rtol=0, atol=rel * scale, err_msg=key)
    with h5py.File(a / "a" / "checkpoint.h5") as fa, h5py.File(b / "a" / "checkpoint.h5") as fb:
        names = {g.attrs["name"]: g["values"][:] for g in fa["functions"].values()}
        other = {g.attrs["name"]: g["values"][:] for g in fb["functions"].values()}
        for name in ("Phi", "u", "c"):
            if name in names:
                scale = float(np.max(np.abs(names[name]))) or 1.0
                np.testing.assert_allclose(other[name], names[name], rtol=0, atol=rel * scale)


def assert_series_equal(a: Path, b: Path, rel: float | None) -> None:
    """The field series of case ``a``: ``fields/domain.xdmf`` of the resumed run indexes the
    same times as the uninterrupted run's (each once, the earlier parts' through their relative
    paths) and, with ``rel`` (same rank count: same node order), potential and concentration
    equal to ``rel`` times their largest magnitude."""
    for name in ("potential", "concentration"):
        sa = read_series(a / "a" / "fields" / "domain.xdmf", name)
        sb = read_series(b / "a" / "fields" / "domain.xdmf", name)
        assert list(sb) == list(sa)
        scale = max(float(np.max(np.abs(v))) for _, v in sa.values())
        for t, (x, values) in sa.items() if rel is not None else ():
            np.testing.assert_array_equal(sb[t][0], x)
            np.testing.assert_allclose(sb[t][1], values, rtol=0, atol=rel * scale,
                                       err_msg=f"{name} at {t}")


def interrupted_run(setup, out: Path, sig: signal.Signals, checkpoints: int) -> Path:
    """Start the run, kill it with ``sig`` once ``checkpoints`` output checkpoints were written
    (watched through the surface.npz rows: a checkpoint follows each output), return the
    directory marked resumable."""
    config, cache, _ = setup
    process = lidep("run", str(config), "-o", str(out), "--mesh-cache", str(cache))
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        work = list(out.glob("slow.incomplete-*"))
        surface = work[0] / "a" / "surface.npz" if work else None
        checkpoint = work[0] / "a" / "checkpoint.h5" if work else None
        try:
            with np.load(surface) as data:
                written = len(data["t"])
        except (OSError, TypeError, ValueError, KeyError):
            written = 0
        if written >= checkpoints and checkpoint.is_file():
            break
        time.sleep(0.05)
    process.send_signal(sig)
    _, err = process.communicate(timeout=TIMEOUT)
    if sig == signal.SIGTERM:
        assert process.returncode == 143, err
        assert "interrupted: checkpoint of t = " in err
    deadline = time.monotonic() + 60
    while list(out.glob("*.incomplete-*")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the watcher marks a killed run
    (failed,) = out.glob("slow.failed-*")
    resume_line = (failed / "FAILED").read_text().splitlines()[1]
    assert resume_line == f"resume with: lidep run --resume {failed}"
    assert (failed / "RESUMABLE").read_text().strip() == resume_line
    return failed


@pytest.mark.parametrize(("sig", "checkpoints"), [
    (signal.SIGTERM, 1),  # in the first pulse
    pytest.param(signal.SIGTERM, 9, marks=pytest.mark.slow),  # in the second pulse
    (signal.SIGKILL, 5),  # in the first rest, after a switch
    pytest.param(signal.SIGKILL, 12, marks=pytest.mark.slow),  # in the second rest
])
def test_resume_after_a_kill_gives_the_uninterrupted_results(setup, tmp_path, sig, checkpoints):
    _, cache, reference = setup
    failed = interrupted_run(setup, tmp_path, sig, checkpoints)
    done = lidep("run", "--resume", str(failed), "--mesh-cache", str(cache))
    _, err = done.communicate(timeout=TIMEOUT)
    assert done.returncode == 0, err
    resumed = tmp_path / "slow"
    assert_metrics_equal(reference / "metrics.json", resumed / "metrics.json", 1e-10)
    assert_fields_equal(reference, resumed, 1e-10)
    assert (resumed / "a" / "fields.part-1").is_dir()  # the series written before the kill
    assert_series_equal(reference, resumed, 1e-10)
    assert (failed / "RESUMED").read_text().strip() == f"resumed into {resumed}"
    assert not (failed / "RESUMABLE").exists()


def test_resume_of_a_directory_that_is_not_resumable(setup, tmp_path):
    """Exit 2 and one line naming --resume."""
    done = lidep("run", "--resume", str(tmp_path))
    _, err = done.communicate(timeout=TIMEOUT)
    assert done.returncode == 2
    assert f"--resume: not a resumable run directory (got '{tmp_path}')" in err

