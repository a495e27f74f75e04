"""Executors of a sweep: the points on this machine (local) or as one SLURM job array.

Every point runs as ``lidep run points/<point>.yaml -o runs --mesh-cache meshes`` in a
subprocess (under ``mpiexec -n R`` or ``srun`` for R ranks) through :func:`run_point`, which
skips a finished point, records the outcome in ``status/<point>.json`` (with the error line of
a failed run) and never raises for a failing point, so failed points do not stop the others.

JIT: each point has its own FFCx cache directory (``XDG_CACHE_HOME=jit/<point>``, DOLFINx's
cache is ``$XDG_CACHE_HOME/fenics``), yet forms are compiled once per sweep: the first point
to run (the *warm* point, the one that takes the ``jit/WARMING`` lock) compiles into
``jit/shared``; ``jit/READY`` marks it done, and every later point starts from a hard-linked
copy of it (a copy where links are impossible). FFCx never rewrites a finished cache entry, so
the links are safe, and a point never waits on another process's compilation (FFCx waits only
10 s for a module another process is compiling). ``status/<point>.json`` records how many
modules the point compiled itself (``jit_compiled``). The local executor runs the warm point
alone and then the others in parallel; the SLURM executor submits the warm point as a one-task
array and the other points as an array that depends on it.

SLURM: ``slurm/array.sh`` runs ``python -m solver.executors task SWEEP_DIR $SLURM_ARRAY_TASK_ID``
in each task. ``--signal=B:TERM@<grace>`` makes SLURM send SIGTERM to the task before its time
limit; the task passes it on to the run, which marks its directory ``<point>.failed-<UTC>``
and exits with 143; the point is then ``interrupted`` and a resubmission (``lidep sweep
--executor slurm --submit`` again) resumes it from its restart checkpoint (``lidep run
--resume``; a point without one runs again) while finished points are skipped. That choice is
made in :func:`run_command` alone.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from solver.config import ConfigError
from solver.sweep import (
    Point,
    PointState,
    SlurmSettings,
    SweepLayout,
    iter_states,
    load_sweep,
    prepare,
)
from solver.termination import RESUMABLE

__all__ = [
    "RunningPoints",
    "run_command",
    "run_local",
    "run_point",
    "slurm_script",
    "submission_plan",
    "submit",
    "sweep_command",
]

#: Exit codes of a run stopped by SIGINT or SIGTERM (solver.cli).
_INTERRUPTED_CODES = frozenset({130, 143, -signal.SIGINT, -signal.SIGTERM})
#: Lock file taken by the point that warms the shared JIT cache.
WARMING = "WARMING"
#: Marker of a warm shared JIT cache.
READY = "READY"
#: Most characters of a failed point's error kept in its status record.
_MAX_ERROR_CHARS = 600


# -- JIT caches ----------------------------------------------------------------------------------


def _warm(layout: SweepLayout) -> bool:
    return (layout.jit / READY).exists()


def _link_copy(source: Path, target: Path) -> set[str]:
    """Hard-link (or copy) every finished cache entry of ``source`` into ``target``.

    A ``.c`` file without its ``.c.cached`` marker is a compilation in progress or one that
    failed: FFCx would wait for it to finish, so it is left out.

    Returns:
        The names of the files now in ``target``.
    """
    target.mkdir(parents=True, exist_ok=True)
    names = {p.name for p in source.iterdir() if p.is_file()} if source.is_dir() else set()
    linked = set()
    for name in sorted(names - _unfinished(source)):
        destination = target / name
        if not destination.exists():
            try:
                os.link(source / name, destination)
            except OSError:
                shutil.copy2(source / name, destination)
        linked.add(name)
    return linked


def _unfinished(folder: Path) -> set[str]:
    """``.c`` files of a cache without their ``.c.cached`` marker (compiling, or killed)."""
    names = {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()
    return {n for n in names if n.endswith(".c") and f"{n}.cached" not in names}


def _jit_home(layout: SweepLayout, name: str) -> tuple[Path, bool, set[str]]:
    """(``XDG_CACHE_HOME`` for a point, whether it warms the shared cache, files it starts with).

    The first point to take the ``WARMING`` lock compiles into the shared cache; a point that
    starts while another one warms compiles into its own cache rather than waiting. A point's
    own cache is its alone: compilations an earlier attempt left unfinished (killed) are
    removed, since FFCx would wait for them and give up after its timeout.
    """
    layout.jit.mkdir(parents=True, exist_ok=True)
    home = layout.jit / name
    for stale in _unfinished(home / "fenics"):
        (home / "fenics" / stale).unlink(missing_ok=True)
    before = {p.name for p in (home / "fenics").glob("*")}
    if _warm(layout):
        return home, False, before | _link_copy(layout.jit / "shared" / "fenics", home / "fenics")
    try:
        os.close(os.open(layout.jit / WARMING, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return home, False, before
    shared = layout.jit / "shared"
    return shared, True, {p.name for p in (shared / "fenics").glob("*")}


def _compiled(home: Path, start: set[str]) -> int:
    """Modules compiled in a cache since it held ``start``."""
    fenics = home / "fenics"
    return sum(1 for p in fenics.glob("*.so") if p.name not in start) if fenics.is_dir() else 0


# -- one point -----------------------------------------------------------------------------------


def _mpiexec() -> str:
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec") or "mpiexec"


def _launcher(ranks: int, launcher: str) -> list[str]:
    if launcher == "srun":
        return ["srun", f"--ntasks={ranks}", "--kill-on-bad-exit=1"]
    return [] if ranks == 1 else [_mpiexec(), "-n", str(ranks)]


def run_command(layout: SweepLayout, point: Point, ranks: int, launcher: str) -> list[str]:
    """The command that runs a point (a finished point is never run); a resumable one resumes.

    Args:
        layout: The sweep directory.
        point: The point.
        ranks: MPI ranks.
        launcher: ``"mpiexec"`` or ``"srun"``.

    Returns:
        The argument vector.
    """
    lidep = [*_launcher(ranks, launcher), sys.executable, "-m", "solver.cli", "run"]
    # An interrupted point whose run left a restart checkpoint (marked RESUMABLE) continues from
    # it; any other point runs from the start.
    interrupted = layout.interrupted_run(point.name)
    if interrupted is not None and (interrupted / RESUMABLE).is_file():
        return [*lidep, "--resume", str(interrupted), "--mesh-cache", str(layout.meshes)]
    return [*lidep, str(layout.point_file(point.name)), "-o", str(layout.runs),
            "--mesh-cache", str(layout.meshes)]


@contextlib.contextmanager
def _forward_signals(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Pass SIGTERM and SIGINT on to ``process`` (main thread only: a SLURM task)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda s, _frame: process.send_signal(s))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _error_text(log: Path, offset: int) -> str:
    """The error lines of a failed attempt (its ``error:`` line and what follows)."""
    try:
        with log.open("rb") as stream:
            stream.seek(offset)
            lines = stream.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "no log"
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    chosen = lines[starts[-1]:starts[-1] + 4] if starts else [ln for ln in lines if ln][-3:]
    text = " | ".join(line.strip() for line in chosen if line.strip()
                      and not line.startswith("(run again with --debug"))
    return text[:_MAX_ERROR_CHARS] or "no output"


def _outcome(layout: SweepLayout, name: str, code: int) -> PointState:
    if code == 0 and layout.state(name) is PointState.FINISHED:
        return PointState.FINISHED
    return PointState.INTERRUPTED if code in _INTERRUPTED_CODES else PointState.FAILED


class RunningPoints:
    """The run processes of the points running now (local executor), to stop them together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen[bytes]] = set()
        self.stopped = False

    def add(self, process: subprocess.Popen[bytes]) -> None:
        """Track a started run (stopped at once when the points were stopped before)."""
        with self._lock:
            self._processes.add(process)
            if self.stopped:
                process.terminate()

    def discard(self, process: subprocess.Popen[bytes]) -> None:
        """Forget an ended run."""
        with self._lock:
            self._processes.discard(process)

    def stop(self) -> None:
        """Send SIGTERM to every running point (each run marks its directory and exits)."""
        with self._lock:
            self.stopped = True
            for process in self._processes:
                with contextlib.suppress(OSError):
                    process.terminate()


def run_point(layout: SweepLayout, point: Point, ranks: int = 1,
              launcher: str = "mpiexec", running: RunningPoints | None = None
              ) -> dict[str, Any]:
    """Run one point unless it is finished; record and return the outcome.

    A failing run never raises here: its outcome is recorded and returned.

    Args:
        layout: The sweep directory.
        point: The point.
        ranks: MPI ranks.
        launcher: ``"mpiexec"`` or ``"srun"``.
        running: Where the local executor tracks the runs (None: in a SLURM task, where
            SIGTERM and SIGINT to this process are passed on to the run instead).

    Returns:
        The status record: ``name``, ``state`` (a :class:`~solver.sweep.PointState` value),
        ``exit_code``, ``error`` (failed or interrupted points), ``wall_s``, ``jit_compiled``
        (modules this point compiled), ``jit_warm`` (whether it warmed the shared cache),
        ``host``, ``started``; ``{"name", "state": "finished", "skipped": True}`` for a point
        that was finished before.
    """
    if layout.state(point.name) is PointState.FINISHED:
        return {"name": point.name, "state": PointState.FINISHED.value, "skipped": True}
    home, warming, start = _jit_home(layout, point.name)
    env = os.environ | {"XDG_CACHE_HOME": str(home), "OMP_NUM_THREADS": "1",
                        "MPLCONFIGDIR": str(layout.jit / "matplotlib")}
    command = run_command(layout, point, ranks, launcher)
    log = layout.log_file(point.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.perf_counter()
    with log.open("ab") as stream:
        offset = stream.tell()
        stream.write(f"# {started.isoformat()} on {socket.gethostname()}: "
                     f"{' '.join(command)}\n".encode())
        stream.flush()
        try:
            process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env)
            if running is None:
                with _forward_signals(process):
                    code = process.wait()
            else:
                running.add(process)
                code = process.wait()
                running.discard(process)
        except OSError as err:
            stream.write(f"error: cannot start the run: {err}\n".encode())
            code = 127
        finally:
            if warming:
                (layout.jit / READY).touch()
    state = _outcome(layout, point.name, code)
    record = {"name": point.name, "index": point.index, "state": state.value,
              "exit_code": code, "wall_s": round(time.perf_counter() - t0, 3),
              "jit_compiled": _compiled(home, start), "jit_warm": warming,
              "ranks": ranks, "host": socket.gethostname(), "started": started.isoformat()}
    if state is not PointState.FINISHED:
        record["error"] = _error_text(log, offset)
    layout.write_status(point.name, record)
    return record


# -- local executor ------------------------------------------------------------------------------


def run_local(layout: SweepLayout, *, jobs: int | None = None, ranks: int = 1,
              report: Callable[[dict[str, Any]], None] = lambda record: None
              ) -> list[dict[str, Any]]:
    """Run every unfinished point on this machine: the warm point alone, then in parallel.

    An interruption of this process (SIGINT, SIGTERM: :class:`~solver.termination.Interrupted`
    in the main thread) stops the running points with SIGTERM (each marks its run directory
    and is recorded as interrupted), cancels the others and is raised again.

    Args:
        layout: The sweep directory.
        jobs: Points run at once (default: the cores divided by ``ranks``, at least 1).
        ranks: MPI ranks per point.
        report: Called with each point's record as it ends.

    Returns:
        The records of the points run, in the order they ended.
    """
    jobs = jobs or max(1, (os.cpu_count() or 1) // ranks)
    todo = [point for point, state in iter_states(layout) if state is not PointState.FINISHED]
    batches = [todo[:1], todo[1:]] if todo and not _warm(layout) else [todo]
    records: list[dict[str, Any]] = []
    running = RunningPoints()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for batch in batches:
            futures = [pool.submit(run_point, layout, p, ranks, running=running) for p in batch]
            try:
                for future in as_completed(futures):
                    records.append(future.result())
                    report(records[-1])
            except BaseException:  # an interruption (SIGINT, SIGTERM): stop every point
                for future in futures:
                    future.cancel()
                running.stop()
                raise
    return records


# -- SLURM executor ------------------------------------------------------------------------------


def slurm_script(layout: SweepLayout, settings: SlurmSettings) -> str:
    """The batch script of the sweep's job array.

    One task per point; the array index is the point's index.

    Args:
        layout: The sweep directory.
        settings: Ranks, time limit, partition, account, launcher, signal grace.

    Returns:
        The script text.
    """
    name = layout.read_plan()["sweep"]["name"]
    root = layout.root.resolve()
    lines = ["#!/bin/bash", f"# lidep sweep '{name}': one task per point ({root})",
             f"#SBATCH --job-name={name}", f"#SBATCH --ntasks={settings.ranks}",
             f"#SBATCH --time={settings.time}",
             f"#SBATCH --output={root}/logs/slurm-%A_%a.out",
             f"#SBATCH --signal=B:TERM@{settings.signal_grace}", "#SBATCH --export=ALL"]
    lines += [f"#SBATCH --partition={settings.partition}"] if settings.partition else []
    lines += [f"#SBATCH --account={settings.account}"] if settings.account else []
    task = [sys.executable, "-m", "solver.executors", "task", str(root)]
    lines += ["set -eu", f"cd {shlex.quote(str(Path.cwd()))}",
              f"exec {shlex.join(task)} \"$SLURM_ARRAY_TASK_ID\" --ranks {settings.ranks} "
              f"--launcher {settings.launcher}", ""]
    return "\n".join(lines)


def _ranges(indices: Sequence[int]) -> str:
    """``0-3,5,7-8`` for [0, 1, 2, 3, 5, 7, 8]."""
    runs = [list(group) for _, group in itertools.groupby(
        enumerate(sorted(indices)), key=lambda pair: pair[1] - pair[0])]
    return ",".join(f"{run[0][1]}-{run[-1][1]}" if len(run) > 1 else str(run[0][1])
                    for run in runs)


def submission_plan(layout: SweepLayout) -> list[str]:
    """The array specifications to submit, in order; each after the previous one ended.

    With a cold JIT cache the first unfinished point is submitted alone (it warms the cache)
    and the others after it; otherwise all unfinished points at once. Empty when every point
    is finished.
    """
    todo = [p.index for p, state in iter_states(layout) if state is not PointState.FINISHED]
    if not todo:
        return []
    if _warm(layout) or len(todo) == 1:
        return [_ranges(todo)]
    return [str(todo[0]), _ranges(todo[1:])]


def sbatch_commands(script: Path, arrays: Sequence[str]) -> list[list[str]]:
    """The sbatch commands for ``arrays`` (``$PREVIOUS``: the job id of the one before)."""
    return [["sbatch", "--parsable", f"--array={spec}",
             *(["--dependency=afterany:$PREVIOUS"] if i else []), str(script)]
            for i, spec in enumerate(arrays)]


def write_script(layout: SweepLayout, settings: SlurmSettings) -> Path:
    """Write ``slurm/array.sh`` and return its path."""
    path = layout.slurm / "array.sh"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(slurm_script(layout, settings), encoding="utf-8")
    path.chmod(0o755)
    return path


def submit(layout: SweepLayout, settings: SlurmSettings) -> list[str]:
    """Submit the unfinished points (see :func:`submission_plan`); returns the job ids.

    Raises:
        RuntimeError: sbatch failed (its message is included).
    """
    script = write_script(layout, settings)
    jobs: list[str] = []
    for command in sbatch_commands(script, submission_plan(layout)):
        command = [c.replace("$PREVIOUS", jobs[-1]) if jobs else c for c in command]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as err:
            raise RuntimeError(f"cannot run sbatch ({err}): is SLURM installed here?") from err
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
        jobs.append(result.stdout.strip().split(";")[0])
    with (layout.slurm / "jobs.txt").open("a", encoding="utf-8") as record:
        record.writelines(f"{datetime.datetime.now(datetime.UTC).isoformat()} {job}\n"
                          for job in jobs)
    return jobs


# -- lidep sweep --------------------------------------------------------------------------------


def _line(record: dict[str, Any]) -> str:
    state = record["state"] + (" (finished before, skipped)" if record.get("skipped") else "")
    error = f": {record['error']}" if "error" in record else ""
    timing = f" in {record['wall_s']:.1f} s" if "wall_s" in record else ""
    return f"  {record['name']}: {state}{timing}{error}"


def sweep_command(sweep_file: Path, output_root: Path, *, executor: str = "local",
                  dry_run: bool = False, submit_jobs: bool = False,
                  flags: dict[str, dict[str, Any]] | None = None, mpi_ranks: int = 1,
                  say: Callable[[str], None] = print) -> int:
    """``lidep sweep``: validate, then list, run or submit the points.

    Args:
        sweep_file: The sweep file.
        output_root: Where the sweep directory ``<name>/`` goes.
        executor: ``"local"`` or ``"slurm"``.
        dry_run: List the points and their state; write nothing.
        submit_jobs: SLURM: submit the job array (otherwise print the script and the commands).
        flags: Executor settings from the command line (section -> key -> value).
        mpi_ranks: Ranks this command was started on (must be 1: the executors start the
            points' ranks themselves).
        say: Prints a line.

    Returns:
        0 if every point run here finished (or was submitted, or listed), 1 otherwise.

    Raises:
        ConfigError: The sweep file or a point is invalid, ``mpi_ranks > 1``, or ``submit_jobs``
            without the SLURM executor (nothing is written).
    """
    if mpi_ranks > 1:
        raise ConfigError(["--ranks: lidep sweep starts its points' MPI ranks itself (got "
                           f"{mpi_ranks} ranks of mpiexec); allowed: lidep sweep without "
                           "mpiexec, with --ranks N"])
    if submit_jobs and executor != "slurm":
        raise ConfigError([f"--submit: only for the SLURM executor (got --executor "
                           f"{executor}); allowed: --executor slurm --submit"])
    config, points, trees = load_sweep(sweep_file, flags)
    layout = SweepLayout(Path(output_root) / config.name)
    if dry_run:
        states = {p.name: layout.state(p.name) for p in points} if layout.plan.is_file() else {}
        say(f"sweep '{config.name}': {len(points)} run(s) into {layout.runs}")
        for point in points:
            state = states.get(point.name, PointState.PENDING).value
            say(f"  {point.name} [{state}] {' '.join(point.overrides)}")
        return 0
    layout = prepare(config, points, trees, output_root)
    if executor == "slurm":
        script = write_script(layout, config.slurm)
        if not submit_jobs:
            say(script.read_text(encoding="utf-8").rstrip("\n"))
            say("# submit with (each after the previous one; $PREVIOUS: its job id):")
            for command in sbatch_commands(script, submission_plan(layout)):
                say("#   " + " ".join(command))
            return 0
        jobs = submit(layout, config.slurm)
        say(f"sweep '{config.name}': submitted job(s) {', '.join(jobs) or 'none (all finished)'}"
            f"; then: lidep collect {layout.root}")
        return 0
    say(f"sweep '{config.name}': {len(points)} run(s) into {layout.runs}")
    records = run_local(layout, jobs=config.local.jobs, ranks=config.local.ranks,
                        report=lambda record: say(_line(record)))
    failed = [r for r in records if r["state"] != PointState.FINISHED.value]
    say(f"sweep '{config.name}': {len(points) - len(failed)} of {len(points)} finished"
        + (f", {len(failed)} not: " + ", ".join(r["name"] for r in failed) if failed else "")
        + f"; then: lidep collect {layout.root}")
    return 1 if failed else 0


# -- the task of a job array ---------------------------------------------------------------------


def _task(argv: Sequence[str] | None = None) -> int:
    """``python -m solver.executors task SWEEP_DIR INDEX``: run one point (a SLURM task)."""
    parser = argparse.ArgumentParser(prog="python -m solver.executors")
    parser.add_argument("command", choices=["task"])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("index", type=int)
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--launcher", choices=["mpiexec", "srun"], default="mpiexec")
    args = parser.parse_args(argv)
    layout = SweepLayout(args.sweep_dir)
    points = {p.index: p for p in layout.points()}
    if args.index not in points:
        print(f"error: no point {args.index} in {layout.plan}", file=sys.stderr)
        return 2
    record = run_point(layout, points[args.index], args.ranks, args.launcher)
    print(f"{record['name']}: {record['state']}" + (f": {record['error']}"
                                                    if "error" in record else ""))
    return {PointState.FINISHED.value: 0, PointState.INTERRUPTED.value: 143}.get(
        record["state"], 1)


if __name__ == "__main__":
    sys.exit(_task())
