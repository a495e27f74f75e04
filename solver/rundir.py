"""Run directory lifecycle: a marked directory from the start, atomic rename, failure marker.

A run writes into the visible ``<output_root>/<name>.incomplete-<id>``, marked by a ``RUNNING``
file naming its owner (host, pid of every rank, the watcher's pid). On success the directory
is renamed onto ``<output_root>/<name>`` (an existing one is replaced only then, and only with
``overwrite=True``); on failure it is renamed to ``<output_root>/<name>.failed-<timestamp>``
with a ``FAILED`` file whose first line is the cause, followed by the error and traceback of
every failing rank, and the error is raised again. Only rank 0 touches the file system; all
ranks agree on paths and on the outcome through broadcasts, so a failure on any rank ends the
run on every rank without a deadlock. An interruption (:class:`~solver.termination.Interrupted`
from SIGINT/SIGTERM, ``KeyboardInterrupt``) is marked by rank 0 without any collective call,
since other ranks may be blocked in one (the caller then ends the MPI job). Native crashes and
SIGKILL are marked by the watcher process; see :mod:`solver.termination`.

Before creating its directory a run checks the output root (a directory, or creatable, and
writable: :class:`OutputRootError` otherwise) and reports stale incomplete directories of
earlier killed runs there (``clean_stale=True`` removes them). With :mod:`faulthandler` not
already enabled, rank 0 sends the stack of a native crash to ``run.log``.

Every run directory holds ``manifest.json`` (versions, git commit, command line, ranks, host,
times, wall time per phase, mesh statistics per case) and ``run.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import faulthandler
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
from typing import Any, ClassVar

from mpi4py import MPI
from pydantic import TypeAdapter, ValidationError

import solver
from solver.config import ConfigError, SafeName
from solver.geometry.bundle import MeshStats
from solver.logging_utils import PACKAGE_LOGGER, log_format
from solver.termination import (
    RUNNING,
    Watcher,
    incomplete_path,
    mark_failed,
    restore_python_handlers,
    signals_held,
    stale_directories,
    write_running,
)

__all__ = [
    "OutputRootError",
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


class OutputRootError(OSError):
    """The output root (or the run directory in it) cannot be used; one line naming the path."""


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


def _distribution_version(package: str) -> str:
    """The installed version of a distribution, as ``importlib.metadata.version`` gives it.

    Read from the ``Version:`` header line of its metadata: ``importlib.metadata.version`` runs
    the whole file through the e-mail parser (4 ms a package, half of the manifest's cost).

    Raises:
        importlib.metadata.PackageNotFoundError: Not installed.
    """
    distribution = importlib.metadata.distribution(package)
    for line in (distribution.read_text("METADATA") or "").splitlines():
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip()
        if not line:  # the end of the headers
            break
    return distribution.version


def software_versions() -> dict[str, str]:
    """Versions of Python, lidep, PETSc, MPI and the Python dependencies."""
    from petsc4py import PETSc

    versions = {"python": platform.python_version(), "lidep": solver.__version__}
    for package in _PACKAGES:
        try:
            versions[package] = _distribution_version(package)
        except importlib.metadata.PackageNotFoundError:  # e.g. dolfinx inside another wheel
            try:
                versions[package] = importlib.import_module(package).__version__
            except (ImportError, AttributeError):
                versions[package] = "not installed"
    versions["petsc"] = ".".join(str(v) for v in PETSc.Sys.getVersion())
    versions["mpi"] = MPI.Get_library_version().splitlines()[0].strip()
    return versions


def git_state(directory: str | Path) -> dict[str, Any] | None:
    """Commit and dirty flag of the git checkout holding ``directory``, None outside one.

    One ``git status``: its ``# branch.oid`` header is the commit, any other line a modified
    tracked file.
    """
    try:
        lines = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain=v2", "--branch",
             "--untracked-files=no"], capture_output=True, text=True, timeout=20, check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
    if commit is None or commit == "(initial)":  # no commit yet
        return None
    return {"commit": commit, "dirty": any(not line.startswith("#") for line in lines)}


def _check_output_root(root: Path) -> None:
    """Rank 0: the output root is a writable directory (created if missing), or an error."""
    allowed = "allowed: a writable directory, or a path where one can be created"
    if root.exists() and not root.is_dir():
        raise OutputRootError(f"output root: not a directory (got '{root}'); {allowed}")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputRootError(
            f"output root: cannot be created ({err.strerror}) (got '{root}'); {allowed}") from err
    if not os.access(root, os.W_OK | os.X_OK):
        raise OutputRootError(f"output root: not writable (got '{root}'); {allowed}")


def _report(exc: BaseException) -> tuple[str, str]:
    """(one-line cause, full traceback) of an exception, for the FAILED file."""
    lines = str(exc).splitlines()
    return (f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__,
            "".join(traceback.format_exception(exc)))


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
        path: Where to write: the incomplete directory during the run, ``target`` after
            success, the failed directory after a failure. Same on every rank (after an
            interruption under MPI, on rank 0 only).
        manifest: The manifest written at the end (rank 0's is the one written).
        active: The run directory entered and not yet left in this process, if any (the one
            :meth:`mark_active_interrupted` marks).
    """

    active: ClassVar[RunDirectory | None] = None

    def __init__(self, output_root: str | Path, name: str, comm: MPI.Comm, *,
                 overwrite: bool = False, command_line: Sequence[str] | None = None,
                 clean_stale: bool = False):
        """Prepare (nothing is created before ``__enter__``).

        Args:
            output_root: Directory holding run directories (created if missing).
            name: Run name (a safe name; checked).
            comm: Communicator of the run; rank 0 manages the directory.
            overwrite: Replace an existing ``<output_root>/<name>`` on success.
            command_line: Recorded in the manifest (default ``sys.argv``).
            clean_stale: Remove stale incomplete directories of earlier killed runs in
                ``output_root`` (they are only reported otherwise).
        """
        self.comm = comm
        self.overwrite = overwrite
        self.clean_stale = clean_stale
        self.target = target_path(output_root, name)
        self.path = self.target
        self._log_handler: logging.Handler | None = None
        self._saved_level = logging.NOTSET
        self._fault_log: Any = None
        self._watcher: Watcher | None = None
        self._started = 0.0
        self._ranks = comm.allgather((socket.gethostname(), os.getpid()))
        self.manifest: dict[str, Any] = {
            "status": "running",
            "name": name,
            "command_line": list(sys.argv if command_line is None else command_line),
            "mpi_ranks": comm.size,
            "hosts": sorted({host for host, _ in self._ranks}),
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
        RunDirectory.active = self
        self._started = time.perf_counter()
        self.manifest["start_time"] = _now()
        if self.comm.rank == 0:
            self.manifest["versions"] = software_versions()
            self.manifest["git"] = git_state(Path(solver.__file__).parent)
            self._start_log()
        self._rearm()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        RunDirectory.active = None
        with signals_held():  # a SIGINT/SIGTERM now takes effect once the directory is done
            return self._exit(exc)

    def _exit(self, exc: BaseException | None) -> bool:
        if exc is not None and not isinstance(exc, Exception):
            return self._interrupted(exc)
        reports = self.comm.gather(None if exc is None else _report(exc), root=0)
        outcome: Any = None
        if self.comm.rank == 0:
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

    @classmethod
    def mark_active_interrupted(cls, exc: BaseException) -> None:
        """Mark the run directory in use (if any) for an interruption that cannot unwind.

        Under MPI, rank 0 ends the job from the signal handler (``MPI.Abort``): the directory
        is marked here, as :meth:`_interrupted` would on unwinding, and the note saying where
        it is kept is added to ``exc``.
        """
        current, cls.active = cls.active, None
        if current is not None:
            current._interrupted(exc)

    def _interrupted(self, exc: BaseException) -> bool:
        """The one place an interrupted run (a signal, Ctrl-C) is marked; re-raises ``exc``.

        No collective call: under MPI other ranks may be blocked in one, so rank 0 marks the
        directory alone and the caller ends the job (the CLI calls ``MPI.Abort``). The restart
        checkpoint was written as the interruption left the time driver (serial runs;
        ``solver.driver``); ``mark_failed`` marks the directory ``RESUMABLE`` when one exists.
        """
        if self.comm.rank == 0:
            _, where = self._finish({0: _report(exc)})
            self.path = Path(where)
            exc.add_note(f"partial results are kept in {where}")
        return False

    def _create(self) -> str:
        """Rank 0: check the output root, report stale directories, create the marked one."""
        root = self.target.parent
        _check_output_root(root)
        if self.target.exists() and not self.target.is_dir():
            raise OutputRootError(
                f"run directory: exists and is not a directory (got '{self.target}'); "
                "allowed: a directory, replaced on success with --overwrite")
        if self.target.exists() and not self.overwrite:
            raise RunDirectoryExistsError(
                f"{self.target} already exists; choose another name or output directory, "
                "or pass --overwrite (overwrite=True) to replace it"
            )
        self._handle_stale(root)
        work = incomplete_path(self.target, uuid.uuid4().hex[:8])
        try:
            work.mkdir()
        except OSError as err:
            raise OutputRootError(
                f"run directory: cannot be created ({err.strerror}) (got '{work}'); "
                "allowed: a directory in a writable output root") from err
        self._watcher = Watcher(work, self.target)
        host, pid = self._ranks[0]
        write_running(work, {"host": host, "pid": pid, "ranks": self._ranks,
                             "watcher_pid": self._watcher.pid, "started": _now(),
                             "command_line": self.manifest["command_line"]})
        return str(work)

    def _handle_stale(self, root: Path) -> None:
        logger = logging.getLogger(__name__)
        for stale in stale_directories(root):
            if self.clean_stale:
                shutil.rmtree(stale.path)
                logger.warning("removed the stale run directory %s: %s", stale.path, stale.reason)
            else:
                logger.warning("stale run directory %s: %s; remove it with lidep run "
                               "--clean-stale (clean_stale=True)", stale.path, stale.reason)

    def _finish(self, failures: dict[int, tuple[str, str]]) -> tuple[str, str]:
        """Rank 0: write the manifest, then rename the work directory; close the watcher.

        Args:
            failures: Rank -> (one-line cause, traceback) of every failing rank.

        Returns:
            (status, path): "ok", "failed" or "finish_error", and the directory.
        """
        self._stop_log()
        self.manifest["end_time"] = _now()
        self.manifest["wall_time_s"] = time.perf_counter() - self._started
        self.manifest["status"] = "failed" if failures else "ok"
        try:
            try:
                self.write_json("manifest.json", self.manifest)
                if not failures:
                    self._replace_target()
                    return "ok", str(self.target)
            except Exception:  # noqa: BLE001  (the directory is kept as failed instead)
                failures = {0: ("could not finish the run directory",
                                 "while finishing the run directory:\n" + traceback.format_exc())}
                return "finish_error", str(self._mark_failed(failures))
            return "failed", str(self._mark_failed(failures))
        finally:
            if self._watcher is not None:
                self._watcher.close()

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
        (self.target / RUNNING).unlink(missing_ok=True)
        if old is not None:
            shutil.rmtree(old)

    def _mark_failed(self, failures: dict[int, tuple[str, str]]) -> Path:
        first = min(failures)
        cause = failures[first][0] + (f" (on rank {first})" if self.comm.size > 1 else "")
        details = "".join(f"--- rank {rank} ---\n{text}\n" for rank, (_, text) in failures.items())
        return mark_failed(self.path, self.target, cause, details)

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
        if not faulthandler.is_enabled():  # a native crash's stack goes to run.log
            self._fault_log = (self.path / "run.log").open("a", encoding="utf-8")
            faulthandler.enable(self._fault_log, all_threads=True)

    def _rearm(self) -> None:
        """Take back the signal handlers that Gmsh and PETSc replace (see termination)."""
        restore_python_handlers()
        if self._fault_log is not None:
            faulthandler.disable()
            faulthandler.enable(self._fault_log, all_threads=True)

    def _stop_log(self) -> None:
        if self._fault_log is not None:
            faulthandler.disable()
            self._fault_log.close()
            self._fault_log = None
        if self._log_handler is not None:
            logger = logging.getLogger(PACKAGE_LOGGER)
            logger.removeHandler(self._log_handler)
            logger.setLevel(self._saved_level)
            self._log_handler.close()
            self._log_handler = None

    # -- content -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase of the run (accumulated under ``name`` in ``manifest["phases_s"]``).

        At its end the signal handlers that Gmsh and PETSc replace are taken back.
        """
        start = time.perf_counter()
        try:
            yield
        finally:
            self._rearm()
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
