"""Progress of a run: log lines for batch jobs (no terminal), the bar's steps, the end summary."""

import logging

import solver  # noqa: F401  (MPI import order)

# isort: split

import pytest
from mpi4py import MPI
from test_cli import (
    MINIMAL,
    FakeBundle,
    FakeMetrics,
    FakeSimulation,
    FakeWriter,
    fake_report,
    fake_write_metrics,
)

import solver.api
from solver.api import Pipeline
from solver.logging_utils import PROGRESS_INTERVAL, Progress, progress_interval


class Clock:
    """A wall clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "solver.progress"]


def test_batch_log_lines_at_a_steady_interval(caplog):
    """Without a terminal: one line per interval (not per step) with t, dt, Newton iterations
    and ETA = elapsed (t_end - t)/t, and a last line at the end; no bar."""
    clock = Clock()
    caplog.set_level(logging.INFO, logger="solver")
    with Progress(20.0, MPI.COMM_SELF, "bare", interval=10.0, terminal=False,
                  clock=clock) as bar:
        assert not bar.enabled
        for wall, t, dt, iterations in [(3.0, 1.0, 1.0, 4), (6.0, 2.0, 1.0, 3),
                                        (12.0, 5.0, 3.0, 2), (15.0, 8.0, 3.0, 2),
                                        (23.0, 12.0, 4.0, 3)]:
            clock.now = wall
            bar.step(t, dt, iterations)
        clock.now = 30.0
        bar.update(20.0)
    assert progress_lines(caplog) == [
        # 12 s for 5 of 20 s: 36 s to go; 23 s for 12 s: 23 * 8/12 = 15.3 s
        "bare: t = 5/20 s (25 %), dt = 3 s, 2 Newton iterations, ETA 0:00:36",
        "bare: t = 12/20 s (60 %), dt = 4 s, 3 Newton iterations, ETA 0:00:15",
        "bare: t = 20/20 s (100 %), dt = 4 s, 3 Newton iterations, ETA 0:00:00",
    ]


def test_terminal_bar_follows_every_step(caplog):
    """On a terminal the bar moves at every step (its position is the simulated time) and no
    log line is written."""
    caplog.set_level(logging.INFO, logger="solver")
    with Progress(10.0, MPI.COMM_SELF, "bare", terminal=True) as bar:
        assert bar.enabled
        bar.step(2.5, 2.5, 3)
        assert bar._bar.n == pytest.approx(2.5)
        bar.step(4.0, 1.5, 2)
        assert bar._bar.n == pytest.approx(4.0)
    assert progress_lines(caplog) == []


def test_interval_from_the_environment(monkeypatch, caplog):
    monkeypatch.setenv("LIDEP_PROGRESS_INTERVAL", "120")
    assert progress_interval() == 120.0
    monkeypatch.setenv("LIDEP_PROGRESS_INTERVAL", "soon")
    caplog.set_level(logging.WARNING, logger="solver")
    assert progress_interval() == PROGRESS_INTERVAL
    assert "LIDEP_PROGRESS_INTERVAL: not a number of seconds >= 0 (got 'soon')" in caplog.text


class SteppingSimulation(FakeSimulation):
    """Reports time steps between the output times 0, 1 and 2 s, as the real simulation does."""

    def __init__(self, bundle, case, comm, logger):
        super().__init__(bundle, case, comm, logger)
        self.step_listeners = []

    def run(self):
        for snapshot in super().run():
            if snapshot.t > 0.0:
                for listener in self.step_listeners:
                    listener(snapshot.t - 0.5, 0.5, 3)
                    listener(snapshot.t, 0.5, 2)
            yield snapshot


def test_run_logs_progress_between_output_times(tmp_path, monkeypatch, caplog):
    """A batch run (no terminal) logs the time steps between output times through solver.api;
    the end summary is logged after the run."""
    monkeypatch.setenv("LIDEP_PROGRESS_INTERVAL", "0")
    pipeline = Pipeline(build_mesh=lambda geometry, comm, cache: FakeBundle(geometry),
                        simulation=SteppingSimulation, field_writer=FakeWriter,
                        case_metrics=FakeMetrics, write_metrics=fake_write_metrics,
                        build_report=fake_report,
                        summarize=lambda run_dir: [f"summary of {run_dir.name}"])
    caplog.set_level(logging.INFO, logger="solver")
    solver.api.run(MINIMAL, tmp_path, pipeline=pipeline,
                   overrides=["time.mode=transient", "time.t_end=2 s"])
    lines = progress_lines(caplog)
    assert "main: t = 0.5/2 s (25 %), dt = 0.5 s, 3 Newton iterations" in lines[0]
    assert any(line.startswith("main: t = 1.5/2 s (75 %)") for line in lines)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[-1] == "summary of minimal"
    assert "case 'main': meshing" in messages
    assert "case 'main': setting up the problem (form compilation, JIT)" in messages


def test_steady_run_logs_one_line(caplog):
    """A steady run has no time to show: no bar, one line when it is solved."""
    caplog.set_level(logging.INFO, logger="solver")
    with Progress(None, MPI.COMM_SELF, "main", terminal=True, interval=0.0) as bar:
        assert not bar.enabled
        bar.update(0.0)
    assert progress_lines(caplog) == ["main: steady state solved"]
