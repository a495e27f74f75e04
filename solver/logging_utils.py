"""Console logging and the progress bar, both on rank 0 only.

Every module logs to a child of the ``solver`` logger (``logging.getLogger(__name__)``); the
run directory adds a file handler (``run.log``) to it and the CLI a console handler.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from mpi4py import MPI
from tqdm import tqdm

__all__ = ["PACKAGE_LOGGER", "Progress", "configure_console", "log_format", "progress"]

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


class Progress:
    """Progress of simulated time, shown as a bar on rank 0 when stdout is a terminal.

    Example:
        >>> with progress(t_end, comm, "lif_rich") as bar:  # doctest: +SKIP
        ...     for t in times:
        ...         bar.update(t)
    """

    def __init__(self, total_time: float, comm: MPI.Comm, description: str = ""):
        enabled = comm.rank == 0 and sys.stdout.isatty()
        self._total = float(total_time)
        self._bar = tqdm(total=self._total, desc=description, unit="s", disable=not enabled,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| t = {n:.3g}/{total:.3g} s "
                         "[{elapsed}<{remaining}]")

    @property
    def enabled(self) -> bool:
        """Whether a bar is drawn (rank 0, stdout is a terminal)."""
        return not self._bar.disable

    def update(self, t: float) -> None:
        """Show that the simulation reached time ``t`` (s)."""
        self._bar.update(min(max(t, 0.0), self._total) - self._bar.n)

    def close(self) -> None:
        """Finish the bar."""
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(total_time: float, comm: MPI.Comm, description: str = "") -> Progress:
    """A :class:`Progress` bar for a simulation running to ``total_time`` (s)."""
    return Progress(total_time, comm, description)
