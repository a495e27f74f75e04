"""Console logging and the progress display (bar or log lines), both on rank 0 only.

Every module logs to a child of the ``solver`` logger (``logging.getLogger(__name__)``); the
run directory adds a file handler (``run.log``) to it and the CLI a console handler.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from mpi4py import MPI

__all__ = [
    "PACKAGE_LOGGER", "PROGRESS_INTERVAL", "Progress", "configure_console", "log_format",
    "progress", "progress_interval",
]

#: Logger every module of the package logs under.
PACKAGE_LOGGER = "solver"


def log_format(comm: MPI.Comm) -> logging.Formatter:
    """Formatter with time, level and (in parallel runs) the rank."""
    rank = f"[{comm.rank}/{comm.size}] " if comm.size > 1 else ""
    return logging.Formatter(f"%(asctime)s {rank}%(levelname)s %(name)s: %(message)s",
                             datefmt="%H:%M:%S")


def configure_console(comm: MPI.Comm, level: int = logging.INFO,
                      stream: TextIO | None = None) -> logging.Handler:
    """Log the package's messages to the console: rank 0 at ``level``, other ranks warnings.

    Args:
        comm: The run's communicator.
        level: Level of rank 0's console messages.
        stream: Where to write (default ``sys.stderr``).

    Returns:
        The handler added to the package logger (remove it to undo).
    """
    logger = logging.getLogger(PACKAGE_LOGGER)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(log_format(comm))
    handler.setLevel(level if comm.rank == 0 else logging.WARNING)
    logger.addHandler(handler)
    logger.setLevel(min(level, logger.level or logging.WARNING))
    return handler


PROGRESS_INTERVAL = 30.0
"""Default wall-clock seconds between two progress log lines when stdout is not a terminal;
the environment variable ``LIDEP_PROGRESS_INTERVAL`` (seconds) overrides it."""


def progress_interval() -> float:
    """Seconds between progress log lines: ``$LIDEP_PROGRESS_INTERVAL`` or the default."""
    text = os.environ.get("LIDEP_PROGRESS_INTERVAL", "")
    try:
        value = float(text) if text else PROGRESS_INTERVAL
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0.0:
        logging.getLogger(PACKAGE_LOGGER).warning(
            "LIDEP_PROGRESS_INTERVAL: not a number of seconds >= 0 (got %r); allowed: e.g. 60; "
            "using %g s", text, PROGRESS_INTERVAL)
        return PROGRESS_INTERVAL
    return value


def clock_text(seconds: float) -> str:
    """``h:mm:ss`` (or ``?`` when unknown)."""
    if not math.isfinite(seconds):
        return "?"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}"


class Progress:
    """Progress of simulated time on rank 0: a bar on a terminal, else log lines at an interval.

    On a terminal (stdout is a tty) a bar advances with every accepted time step and shows the
    ETA. In batch jobs (no tty) a log line ``<case>: t = .../... s (..%), dt = ... s, N Newton
    iterations, ETA h:mm:ss`` is written at most every ``interval`` wall-clock seconds, and one
    at the end. Other ranks show nothing.

    A steady run (``total_time`` None) has no time to show: one log line says when it is
    solved (the bar is not drawn).

    Args:
        total_time: Simulated time at the end, s; None for a steady run.
        comm: The run's communicator.
        description: Name shown (the case).
        interval: Wall-clock seconds between log lines (no tty; default
            :func:`progress_interval`).
        terminal: Whether to draw a bar (default: rank 0 and stdout is a terminal).
        clock: Wall-clock source, s (replaceable in tests).

    Example:
        >>> with progress(t_end, comm, "lif_rich") as bar:  # doctest: +SKIP
        ...     for t, dt, iterations in steps:
        ...         bar.step(t, dt, iterations)
    """

    def __init__(self, total_time: float | None, comm: MPI.Comm, description: str = "", *,
                 interval: float | None = None, terminal: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rank0 = comm.rank == 0
        terminal = sys.stdout.isatty() if terminal is None else terminal
        self._steady = total_time is None
        self._total = 1.0 if total_time is None else float(total_time)
        self._description = description
        self._interval = progress_interval() if interval is None else interval
        self._clock = clock
        self._start = self._last_line = clock()
        self._t = self._logged_t = 0.0
        self._dt: float | None = None
        self._iterations: int | None = None
        self._logger = logging.getLogger(f"{PACKAGE_LOGGER}.progress")
        self._bar: Any = None  # tqdm only where a bar is drawn (import and lock: 20 ms of CPU)
        if self._rank0 and terminal and not self._steady:
            from tqdm import tqdm

            self._bar = tqdm(total=self._total, desc=description, unit="s", bar_format=(
                "{desc}: {percentage:3.0f}%|{bar}| t = {n:.3g}/{total:.3g} s{postfix} "
                "[{elapsed}<{remaining}]"))

    @property
    def enabled(self) -> bool:
        """Whether a bar is drawn (rank 0, stdout is a terminal)."""
        return self._bar is not None

    def step(self, t: float, dt: float, iterations: int | None = None) -> None:
        """Show an accepted time step: the simulation reached ``t`` (s) with step ``dt`` (s)."""
        self._dt, self._iterations = dt, iterations
        if self.enabled:
            self._bar.set_postfix_str(f"dt = {dt:.3g} s", refresh=False)
        self.update(t)

    def update(self, t: float) -> None:
        """Show that the simulation reached time ``t`` (s)."""
        self._t = min(max(t, 0.0), self._total)
        if self.enabled:
            self._bar.update(self._t - self._bar.n)
            return
        due = self._clock() - self._last_line >= self._interval and self._t > self._logged_t
        if self._rank0 and due:
            self._log_line()

    def eta(self) -> float:
        """Estimated wall-clock seconds to the end (inf before any progress)."""
        if self._t <= 0.0:
            return math.inf
        return (self._clock() - self._start) * (self._total - self._t) / self._t

    def _log_line(self) -> None:
        self._last_line, self._logged_t = self._clock(), self._t
        if self._steady:
            self._logger.info("%s: steady state solved", self._description)
            return
        parts = [f"t = {self._t:.4g}/{self._total:.4g} s ({100.0 * self._t / self._total:.0f} %)"]
        if self._dt is not None:
            parts.append(f"dt = {self._dt:.3g} s")
        if self._iterations is not None:
            parts.append(f"{self._iterations} Newton iterations")
        parts.append(f"ETA {clock_text(self.eta())}")
        self._logger.info("%s: %s", self._description, ", ".join(parts))

    def close(self) -> None:
        """Finish the bar (terminal) or write the last log line (batch)."""
        if self.enabled:
            self._bar.close()
        elif self._rank0:
            self._log_line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(total_time: float | None, comm: MPI.Comm, description: str = "", **options: Any
             ) -> Progress:
    """A :class:`Progress` for a simulation running to ``total_time`` (s; None: steady)."""
    return Progress(total_time, comm, description, **options)
