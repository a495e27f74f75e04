"""Run directory lifecycle: temporary directory, atomic rename, failure marker, manifest, log.

A run writes into ``<output_root>/.<name>.tmp-<id>``. On success the directory is renamed onto
``<output_root>/<name>`` (an existing one is replaced only then, and only with
``overwrite=True``); on failure it is renamed to ``<output_root>/<name>.failed-<timestamp>``
with a ``FAILED`` file holding the error and traceback of every failing rank, and the error is
raised again. Only rank 0 touches the file system; all ranks agree on paths and on the outcome
through broadcasts, so a failure on any rank ends the run on every rank without a deadlock.

Every run directory holds ``manifest.json`` (versions, git commit, command line, ranks, host,
times, wall time per phase, mesh statistics per case) and ``run.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import logging
import os
import pickle
import platform
import shutil
import socket
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from mpi4py import MPI
from pydantic import TypeAdapter, ValidationError

import solver
from solver.config import ConfigError, SafeName
from solver.geometry.bundle import MeshStats
from solver.logging_utils import PACKAGE_LOGGER, log_format

__all__ = [
    "RunDirectory",
    "RunDirectoryExistsError",
    "RunFailedError",
    "git_state",
    "software_versions",
    "target_path",
]

#: Python packages whose versions go into the manifest.
_PACKAGES = ("dolfinx", "petsc4py", "mpi4py", "gmsh", "numpy", "scipy", "pydantic", "pint",
             "pyvista", "meshio", "matplotlib", "pyyaml")


class RunDirectoryExistsError(FileExistsError):
    """The run directory exists and ``overwrite`` was not given."""


class RunFailedError(RuntimeError):
    """The run failed on another rank (this rank's own work succeeded)."""


def target_path(output_root: str | Path, name: str) -> Path:
    """``<output_root>/<name>`` after checking that it cannot escape the output root.

    Args:
        output_root: Directory holding run directories.
        name: The run name.

    Returns:
        The absolute target path.

    Raises:
        ConfigError: ``name`` is not a safe name or resolves outside ``output_root``.
    """
    try:
        TypeAdapter(SafeName).validate_python(name)
    except ValidationError as err:
        raise ConfigError([
            f"name: not a safe directory name (got {name!r}); allowed: letters, digits, "
            "'_', '.', '-' (no path separators), not '.' or '..'"
        ]) from err
    root = Path(output_root).resolve()
    target = (root / name).resolve()
    if target.parent != root:
        raise ConfigError([
            f"name: the run directory would lie outside the output root (got {name!r}); "
            f"allowed: a name inside {root}"
        ])
    return target


def software_versions() -> dict[str, str]:
    """Versions of Python, lidep, PETSc, MPI and the Python dependencies."""
    from petsc4py import PETSc

    versions = {"python": platform.python_version(), "lidep": solver.__version__}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:  # e.g. dolfinx inside another wheel
            try:
                versions[package] = importlib.import_module(package).__version__
            except (ImportError, AttributeError):
                versions[package] = "not installed"
    versions["petsc"] = ".".join(str(v) for v in PETSc.Sys.getVersion())
    versions["mpi"] = MPI.Get_library_version().splitlines()[0].strip()
    return versions


def git_state(directory: str | Path) -> dict[str, Any] | None:
    """Commit and dirty flag of the git checkout holding ``directory``, None outside one."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True,
                              text=True, timeout=20, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _broadcast(comm: MPI.Comm, value: Any) -> Any:
    """Broadcast from rank 0; an exception that cannot be pickled travels as its text."""
    if comm.rank == 0 and isinstance(value, BaseException):
        try:
            pickle.loads(pickle.dumps(value))
        except Exception:  # noqa: BLE001  (any pickling problem: send the text instead)
            value = RuntimeError(str(value))
    return comm.bcast(value, root=0)


class RunDirectory:
    """Context manager for one run directory (see the module docstring).

    Attributes:
        target: ``<output_root>/<name>``, where the run ends up on success.
        path: Where to write: the temporary directory during the run, ``target`` after
            success, the failed directory after a failure. Same on every rank.
        manifest: The manifest written at the end (rank 0's is the one written).
    """

    def __init__(self, output_root: str | Path, name: str, comm: MPI.Comm, *,
                 overwrite: bool = False, command_line: Sequence[str] | None = None):
        """Prepare (nothing is created before ``__enter__``).

        Args:
            output_root: Directory holding run directories (created if missing).
            name: Run name (a safe name; checked).
            comm: Communicator of the run; rank 0 manages the directory.
            overwrite: Replace an existing ``<output_root>/<name>`` on success.
            command_line: Recorded in the manifest (default ``sys.argv``).
        """
        self.comm = comm
        self.overwrite = overwrite
        self.target = target_path(output_root, name)
        self.path = self.target
        self._log_handler: logging.Handler | None = None
        self._saved_level = logging.NOTSET
        self._started = 0.0
        self.manifest: dict[str, Any] = {
            "status": "running",
            "name": name,
            "command_line": list(sys.argv if command_line is None else command_line),
            "mpi_ranks": comm.size,
            "hosts": sorted(set(comm.allgather(socket.gethostname()))),
            "start_time": None,
            "end_time": None,
            "wall_time_s": None,
            "phases_s": {},
            "meshes": {},
            "versions": {},
            "git": None,
        }

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> RunDirectory:
        outcome: Any = None
        if self.comm.rank == 0:
            try:
                outcome = self._create()
            except Exception as err:  # noqa: BLE001  (reported on every rank below)
                outcome = err
        outcome = _broadcast(self.comm, outcome)
        if isinstance(outcome, BaseException):
            raise outcome
        self.path = Path(outcome)
        self._started = time.perf_counter()
        self.manifest["start_time"] = _now()
        if self.comm.rank == 0:
            self.manifest["versions"] = software_versions()
            self.manifest["git"] = git_state(Path(solver.__file__).parent)
            self._start_log()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        local = None if exc is None else "".join(traceback.format_exception(exc))
        reports = self.comm.gather(local, root=0)
        outcome: Any = None
        if self.comm.rank == 0:
            self._stop_log()
            failures = {rank: text for rank, text in enumerate(reports) if text is not None}
            outcome = self._finish(failures)
        status, where = _broadcast(self.comm, outcome)
        self.path = Path(where)
        if status == "ok":
            return False
        message = f"the run failed; partial results and the error are kept in {where}"
        if exc is not None:
            exc.add_note(message)
            return False
        if status == "finish_error":
            raise RunFailedError(f"could not finish the run directory: {message}")
        raise RunFailedError(f"{message} (the error happened on another rank)")

    def _create(self) -> str:
        root = self.target.parent
        if self.target.exists() and not self.overwrite:
            raise RunDirectoryExistsError(
                f"{self.target} already exists; choose another name or output directory, "
                "or pass --overwrite (overwrite=True) to replace it"
            )
        root.mkdir(parents=True, exist_ok=True)
        work = root / f".{self.target.name}.tmp-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        return str(work)

    def _finish(self, failures: dict[int, str]) -> tuple[str, str]:
        """Rank 0: write the manifest, then rename the work directory. Returns (status, path)."""
        self.manifest["end_time"] = _now()
        self.manifest["wall_time_s"] = time.perf_counter() - self._started
        self.manifest["status"] = "failed" if failures else "ok"
        try:
            self.write_json("manifest.json", self.manifest)
            if not failures:
                self._replace_target()
                return "ok", str(self.target)
        except Exception:  # noqa: BLE001  (the directory is kept as failed instead)
            failures = {0: "while finishing the run directory:\n" + traceback.format_exc()}
            return "finish_error", str(self._mark_failed(failures))
        return "failed", str(self._mark_failed(failures))

    def _replace_target(self) -> None:
        old = None
        if self.target.exists():
            if not self.overwrite:
                raise RunDirectoryExistsError(f"{self.target} appeared during the run")
            old = self.target.parent / f".{self.target.name}.old-{uuid.uuid4().hex[:8]}"
            self.target.rename(old)
        try:
            self.path.rename(self.target)
        except OSError:
            if old is not None:
                old.rename(self.target)
            raise
        if old is not None:
            shutil.rmtree(old)

    def _mark_failed(self, failures: dict[int, str]) -> Path:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        failed = self.target.parent / f"{self.target.name}.failed-{stamp}"
        suffix = 1
        while failed.exists():
            failed = failed.with_name(f"{self.target.name}.failed-{stamp}-{suffix}")
            suffix += 1
        text = "".join(f"--- rank {rank} ---\n{report}\n" for rank, report in failures.items())
        (self.path / "FAILED").write_text(f"Run failed at {_now()}.\n\n{text}", encoding="utf-8")
        self.path.rename(failed)
        return failed

    # -- logging -------------------------------------------------------------------------------

    def _start_log(self) -> None:
        logger = logging.getLogger(PACKAGE_LOGGER)
        self._log_handler = logging.FileHandler(self.path / "run.log", encoding="utf-8")
        self._log_handler.setFormatter(log_format(self.comm))
        self._log_handler.setLevel(logging.INFO)
        self._saved_level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(self._log_handler)

    def _stop_log(self) -> None:
        if self._log_handler is not None:
            logger = logging.getLogger(PACKAGE_LOGGER)
            logger.removeHandler(self._log_handler)
            logger.setLevel(self._saved_level)
            self._log_handler.close()
            self._log_handler = None

    # -- content -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase of the run (accumulated under ``name`` in ``manifest["phases_s"]``)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            phases = self.manifest["phases_s"]
            phases[name] = phases.get(name, 0.0) + elapsed

    def record_mesh(self, case: str, stats: MeshStats, key: str) -> None:
        """Keep a case's mesh statistics (and cache key) for the manifest."""
        self.manifest["meshes"][case] = {"key": key, **dataclasses.asdict(stats)}

    def write_text(self, relative: str, text: str) -> Path:
        """Write a text file in the run directory on rank 0 (collective: all ranks call it).

        Args:
            relative: Path relative to the run directory; it may not leave it.
            text: Content.

        Returns:
            The file's path (on every rank).
        """
        path = (self.path / relative).resolve()
        if not path.is_relative_to(self.path.resolve()):
            raise ValueError(f"{relative!r} lies outside the run directory {self.path}")
        if self.comm.rank == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        return path

    def write_json(self, relative: str, data: Any) -> Path:
        """Write ``data`` as indented JSON (see :meth:`write_text`)."""
        return self.write_text(relative, json.dumps(data, indent=2, default=str) + "\n")
