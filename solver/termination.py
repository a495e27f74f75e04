"""How a run ends when it does not end well: signals, native crashes, killed processes.

A run directory is visible and marked from the start: ``<name>.incomplete-<id>`` holding a
``RUNNING`` file (JSON: host, pid of every rank, the watcher's pid, start time, command line).
Every way a run can end leaves either the finished ``<name>``, a ``<name>.failed-<timestamp>``
directory whose ``FAILED`` file starts with the cause, or (only when the whole process tree is
killed at once) the ``.incomplete`` directory, which a later run reports as stale:

- an exception: :class:`~solver.rundir.RunDirectory` marks the directory (in process);
- SIGINT (Ctrl-C) and SIGTERM: :func:`interrupt_on_signals` turns the first one into
  :class:`Interrupted`, which unwinds like an exception and is marked in process (the CLI then
  exits with 128 + the signal number: 130, 143);
- a native crash (SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL), SIGKILL, or mpiexec killing rank 0
  after another rank died: no code of the process runs any more, so a *watcher* does it. Rank 0
  starts it (a shell waiting on the pipe, which runs :mod:`solver.watch` as a script, standard
  library only, when there is something to mark; in its own session so that a Ctrl-C or a kill
  of the process group does not reach it) with the reading end of a pipe as its standard input.
  The kernel closes the writing end when rank 0 exits for any reason; the watcher then marks
  the directory ``FAILED`` if it still exists. A normal end renames the directory before
  closing the pipe, so the watcher finds nothing to do. The cause of a native crash is the
  ``Fatal Python error`` line that :mod:`faulthandler` wrote to ``run.log``.
- The watcher killed too (a scheduler killing every process of the job, a reboot): the
  ``.incomplete`` directory stays, and :func:`stale_directories` finds it on the next run
  (its owner and watcher processes are gone); ``lidep run --clean-stale`` removes it.

Details that matter: PETSc (at import) and ``gmsh.initialize`` replace the handlers of SIGTERM
and SIGSEGV below Python's back, so the run directory takes them back at the end of every phase
(:func:`restore_python_handlers`, and :mod:`faulthandler` enabled again). A signal that arrives
while the directory is being finished is held back until it is done (:func:`signals_held`).

Time stepping (serial and under MPI): while the time driver steps (:func:`stop_at_step_boundaries`)
the first SIGINT/SIGTERM of a rank only sets a flag (:func:`stop_requested`). At every step
boundary the driver asks all ranks at once (one ``allreduce``) whether any was signalled; if so
every rank writes the restart checkpoint collectively and raises :class:`Interrupted` with
``collective=True``: the ranks unwind together (their collective calls match), rank 0 marks the
directory ``RESUMABLE``, and every rank exits with 143 (130). This works whether mpiexec
forwarded the signal to every rank (MPICH's hydra does; so does SLURM at the time limit) or only
one rank got it. Fallback for a rank stuck in a long step: a second signal (later than
:data:`SAME_REQUEST_S` after the first: SLURM and mpiexec each deliver one), or
:data:`STOP_GRACE_S` seconds without the stop being taken, takes the immediate path below.

Immediate path (outside time stepping, and the fallback): under mpiexec ranks other than 0 pass
the signal on to rank 0 instead of stopping, so that rank 0 is never left blocked in a collective
operation; rank 0 marks the directory and the CLI aborts the job; the last checkpoint (output
times, ``time.checkpoint_interval``) stands. A serial run raises :class:`Interrupted` at once and
checkpoints its last accepted state on the way out.

Restart: a transient run checkpoints its state (``solver.driver``) at output times, every
``time.checkpoint_interval`` and when it stops at a signal. :func:`mark_failed` (in process or by
the watcher) marks a directory holding a checkpoint ``RESUMABLE``, and ``lidep run --resume
<dir>`` continues it.

This module imports only the standard library (it runs as ``python -I -S termination.py``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = [
    "FAILED",
    "RESUMABLE",
    "RUNNING",
    "STOP_GRACE_S",
    "Interrupted",
    "Stale",
    "Watcher",
    "incomplete_path",
    "interrupt_on_signals",
    "mark_failed",
    "restore_python_handlers",
    "signals_held",
    "stale_directories",
    "stop_at_step_boundaries",
    "stop_requested",
    "take_stop",
    "write_running",
]

#: Marker of a directory whose run is in progress (JSON describing the owner).
RUNNING = "RUNNING"
#: Marker of a failed run: the first line names the cause, the rest gives the details.
FAILED = "FAILED"
#: Marker of a failed run that can be continued (``lidep run --resume``): a case directory
#: holds a restart checkpoint. Its one line is the command; FAILED repeats it as its second line.
RESUMABLE = "RESUMABLE"
#: File name of a case's restart checkpoint (``solver.checkpoint.CHECKPOINT_NAME``).
_CHECKPOINT = "checkpoint.h5"
#: Directories without a RUNNING file count as stale only when older than this (s): a run
#: creates its directory and then writes RUNNING at once.
_UNMARKED_GRACE_S = 60.0
#: The tail of run.log searched for faulthandler's report of a native crash (bytes).
_LOG_TAIL = 1 << 16
_INCOMPLETE = re.compile(r".+\.incomplete-[0-9a-f]{8}")
_LEGACY_TMP = re.compile(r"\..+\.tmp-[0-9a-f]{8}")  # hidden work directories of lidep <= 0.1
#: Seconds a signal deferred to the next step boundary waits to be taken before the immediate
#: path runs (a rank stuck in a long step); SLURM's default KillWait (SIGTERM to SIGKILL) is 30 s.
STOP_GRACE_S = 20.0
#: A signal within this many seconds of the deferred one is the same request, not a second one:
#: at the time limit SLURM signals every process of the job step, and mpiexec forwards the
#: signal it got to the ranks again; Ctrl-C reaches every process of the terminal's group.
SAME_REQUEST_S = 2.0
_SIGNAL_TEXT = {signal.SIGINT: "interrupted by SIGINT (Ctrl-C)",
                signal.SIGTERM: "terminated by SIGTERM"}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class Interrupted(BaseException):  # noqa: N818  (like KeyboardInterrupt: not an error)
    """The process received SIGINT or SIGTERM (raised by :func:`interrupt_on_signals`).

    A ``BaseException`` like ``KeyboardInterrupt``: ``except Exception`` does not swallow it.

    Attributes:
        signum: The signal number.
        collective: Raised on every rank at the same point (a stop at a step boundary): the
            ranks unwind together and exit normally; otherwise (one rank, from a signal
            handler) the job is aborted.
    """

    def __init__(self, signum: int, collective: bool = False):
        self.signum = int(signum)
        self.collective = collective
        super().__init__(_SIGNAL_TEXT.get(self.signum,
                                          f"stopped by {signal.Signals(self.signum).name}"))

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int, bool]]:
        return type(self), (self.signum, self.collective)

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by the signal: 128 + its number."""
        return 128 + self.signum


@contextlib.contextmanager
def interrupt_on_signals(
        signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM), *,
        forward_to: int | None = None,
        stop: Callable[[Interrupted], None] | None = None,
        grace: float = STOP_GRACE_S) -> Iterator[None]:
    """Raise :class:`Interrupted` in the main thread at the first of ``signals``.

    Later signals are ignored so that marking the run directory cannot be interrupted in
    turn; the previous handlers are restored on exit. Outside the main thread (where Python
    cannot install handlers) nothing is installed.

    While the time driver steps (:func:`stop_at_step_boundaries`) the first signal is only
    recorded for the driver to take at the next step boundary; a second signal (not a repeat
    within :data:`SAME_REQUEST_S`), or ``grace`` seconds without the driver taking it, runs
    the immediate path described here (``stop`` is then called from the timer's thread: the
    main thread may be stuck in a long native call).
    Python runs signal handlers only between bytecodes of the main thread, so the timer is
    armed by a thread woken through :func:`signal.set_wakeup_fd` as soon as the signal
    arrives, even while the main thread waits in a native call (an MPI collective).

    With ``forward_to`` (MPI ranks other than 0 on rank 0's host) the signal is passed on to
    that process instead: rank 0 alone stops the run, marks the directory and aborts the job.
    Were this rank to stop too, rank 0 could stay blocked in a collective operation waiting
    for it, and never mark anything (mpiexec forwards SIGINT and SIGTERM to every rank).

    With ``stop`` (rank 0 of an MPI job) the interruption is not raised but handed to ``stop``
    right in the handler, which marks the run directory and aborts the job. Unwinding would
    pass through collective calls (closing a field file, a reduction) that the other ranks,
    still stepping, never join: the job would hang until killed.

    Args:
        signals: The signals handled.
        forward_to: Process id to pass the signals on to, or None to raise here.
        stop: Ends the job at once (it does not return), or None to raise here.
        grace: Seconds a deferred signal waits to be taken (see above).

    Yields:
        Nothing; the body runs with the handlers installed.
    """
    def fallback(signum: int) -> None:
        """The deferred signal was not taken in time: the immediate path (timer thread)."""
        if _deferred.taken:
            return
        if stop is not None:
            stop(Interrupted(signum))
        else:  # the handler below, in the main thread, as for a second signal
            _deferred.expire()
            os.kill(os.getpid(), signum)

    def handler(signum: int, frame: FrameType | None) -> None:
        if _deferred.taken:
            return  # stopping in order at a step boundary: the checkpoint is being written
        if _deferred.depth and _deferred.signum is None:
            _deferred.defer(signum, grace, fallback)
            return
        if _deferred.depth and _deferred.repeated():
            return  # the same request again (SLURM signals every process, mpiexec forwards)
        if forward_to is not None:
            with contextlib.suppress(OSError):
                os.kill(forward_to, signum)
            return
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)
        if _held.depth:
            _held.signum = signum
            return
        if stop is not None:
            stop(Interrupted(signum))
        raise Interrupted(signum)

    def wake(fd: int) -> None:
        """Arm the fallback when a signal arrives (its number is written to ``fd``)."""
        while data := os.read(fd, 64):  # waits without the GIL; b"" once the pipe is closed
            for signum in data:
                if signum in signals and _deferred.depth:
                    _deferred.arm(signum, grace, fallback)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    waker = threading.Thread(target=wake, args=(read_end,), name="lidep-signal-wake",
                             daemon=True)
    waker.start()
    _deferred.reset()
    try:
        yield
    finally:
        _deferred.reset()
        for sig, old in previous.items():
            signal.signal(sig, old)
        signal.set_wakeup_fd(previous_fd)
        os.close(write_end)
        waker.join(timeout=1.0)
        os.close(read_end)


class _Deferred:
    """State of :func:`stop_at_step_boundaries`: a signal waiting for the next step boundary.

    Attributes:
        depth: Nesting depth of :func:`stop_at_step_boundaries` (0: signals act at once).
        signum: The deferred signal, or None.
        taken: The time driver took the stop (later signals are ignored).
    """

    def __init__(self) -> None:
        self.depth = 0
        self.signum: int | None = None
        self.taken = False
        self._since = -math.inf
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def defer(self, signum: int, grace: float, fallback: Callable[[int], None]) -> None:
        """Record ``signum`` (the handler) and arm the fallback."""
        self.signum, self._since = signum, time.monotonic()
        self.arm(signum, grace, fallback)

    def repeated(self) -> bool:
        """A signal now is a repeat of the deferred one (see :data:`SAME_REQUEST_S`)."""
        return time.monotonic() - self._since < SAME_REQUEST_S

    def expire(self) -> None:
        """The next signal is a second one whenever it comes (the fallback sends it)."""
        self._since = -math.inf

    def arm(self, signum: int, grace: float, fallback: Callable[[int], None]) -> None:
        """Call ``fallback(signum)`` after ``grace`` s unless taken first (once per stop)."""
        with self._lock:
            if self._timer is None and not self.taken:
                self._timer = threading.Timer(grace, fallback, (signum,))
                self._timer.daemon = True
                self._timer.start()

    def take(self) -> None:
        """The driver stops now: cancel the fallback, ignore later signals."""
        with self._lock:
            self.taken = True
            if self._timer is not None:
                self._timer.cancel()

    def reset(self) -> None:
        """Forget any deferred signal (a new run)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self.signum, self.taken, self._timer = None, False, None
            self._since = -math.inf


_deferred = _Deferred()


@contextlib.contextmanager
def stop_at_step_boundaries() -> Iterator[None]:
    """Defer the first SIGINT/SIGTERM to the time driver's next step boundary (see above).

    The driver polls :func:`stop_requested` at every step boundary (a collective reduction of
    it over the ranks) and calls :func:`take_stop` before it checkpoints and stops. Without the
    handlers of :func:`interrupt_on_signals` (a notebook) nothing is deferred.

    Yields:
        Nothing.
    """
    _deferred.depth += 1
    try:
        yield
    finally:
        _deferred.depth -= 1


def stop_requested() -> int:
    """The signal number deferred by this process and not yet taken, or 0."""
    return 0 if _deferred.taken or _deferred.signum is None else _deferred.signum


def take_stop() -> None:
    """The time driver stops at this step boundary: no fallback, later signals are ignored."""
    _deferred.take()


class _Held:
    """State of :func:`signals_held`: nesting depth and the signal held back."""

    depth = 0
    signum: int | None = None


_held = _Held()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back :class:`Interrupted` while the body runs; raise it when the body is done.

    Finishing a run directory (writing the manifest, renaming, replacing an older result)
    is not cut in the middle by SIGINT/SIGTERM: the signal takes effect right after it.

    Yields:
        Nothing.
    """
    _held.depth += 1
    try:
        yield
    finally:
        _held.depth -= 1
    if _held.depth == 0 and _held.signum is not None:
        signum, _held.signum = _held.signum, None
        raise Interrupted(signum)


def restore_python_handlers(signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
                            ) -> None:
    """Install again the Python handlers of ``signals`` that native libraries replaced.

    PETSc (at import) installs its own handler of SIGTERM and SIGSEGV, and ``gmsh.initialize``
    resets them to the default action, below Python's back: Python still reports its handler
    while the process would die silently. Call after such libraries ran (the run directory
    does at the end of every phase); a no-op outside the main thread.

    Args:
        signals: The signals whose Python handlers are installed again.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in signals:
        handler = signal.getsignal(sig)
        if handler is not None:
            signal.signal(sig, handler)


# -- the marks -----------------------------------------------------------------------------------


def incomplete_path(target: Path, run_id: str) -> Path:
    """``<output_root>/<name>.incomplete-<id>``: where a run writes until it ends."""
    return target.with_name(f"{target.name}.incomplete-{run_id}")


def write_running(work: Path, owner: dict[str, Any]) -> None:
    """Write the ``RUNNING`` marker (``owner``: host, pid, ranks, watcher_pid, ...) atomically."""
    tmp = work / f".{RUNNING}.tmp"
    tmp.write_text(json.dumps(owner, indent=2) + "\n", encoding="utf-8")
    tmp.replace(work / RUNNING)


def mark_failed(work: Path, target: Path, cause: str, details: str = "") -> Path:
    """Mark a run directory failed: the one place a ``FAILED`` directory is made.

    Writes ``FAILED`` (first line: time and ``cause``; then ``details``), renames ``work`` to
    ``<name>.failed-<UTC timestamp>`` next to ``target`` and removes the ``RUNNING`` marker.
    When a case directory holds a restart checkpoint the directory is marked ``RESUMABLE``
    and the second line of ``FAILED`` is the command that continues the run.

    Args:
        work: The directory of the run.
        target: ``<output_root>/<name>``, the directory a successful run would have become.
        cause: One line: what ended the run.
        details: Further text (tracebacks of the failing ranks, where to look).

    Returns:
        The failed directory.
    """
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    failed = target.with_name(f"{target.name}.failed-{stamp}")
    suffix = 1
    while failed.exists():
        failed = target.with_name(f"{target.name}.failed-{stamp}-{suffix}")
        suffix += 1
    text = f"Run failed at {_now()}: {cause}\n" + (f"\n{details}" if details else "")
    if any(work.glob(f"*/{_CHECKPOINT}")):  # a transient case wrote a restart checkpoint
        hint = f"resume with: lidep run --resume {failed}"
        text = text.replace("\n", f"\n{hint}\n", 1)
        (work / RESUMABLE).write_text(hint + "\n", encoding="utf-8")
    (work / FAILED).write_text(text, encoding="utf-8")
    work.rename(failed)
    (failed / RUNNING).unlink(missing_ok=True)
    return failed


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a zombie (killed, not yet reaped, e.g. where no init process reaps) is gone too
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@dataclass(frozen=True)
class Stale:
    """A run directory left by a run whose processes are gone.

    Attributes:
        path: The directory.
        reason: One line: whose it was and why it counts as stale.
    """

    path: Path
    reason: str


def _stale_reason(path: Path, host: str) -> str | None:
    try:
        owner = json.loads((path / RUNNING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        owner = None
    if not isinstance(owner, dict):
        age = time.time() - path.stat().st_mtime
        return None if age < _UNMARKED_GRACE_S else "no RUNNING marker: its owner is unknown"
    if owner.get("host") != host:
        return None  # another machine's run (a shared file system): cannot be checked here
    if _alive(owner.get("pid")) or _alive(owner.get("watcher_pid")):
        return None
    return (f"its run (pid {owner.get('pid')} on {host}, started {owner.get('started')}) ended "
            "without finishing or marking it")


def stale_directories(root: Path) -> list[Stale]:
    """Incomplete run directories in ``root`` whose owner and watcher processes are gone.

    A directory of a run on another host is never stale here (its processes cannot be
    checked). Hidden ``.<name>.tmp-<id>`` directories of earlier lidep versions have no owner
    record and are always stale.

    Args:
        root: The output root.

    Returns:
        The stale directories, sorted by name.
    """
    host = socket.gethostname()
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not path.is_dir() or path.is_symlink():
            continue
        if _LEGACY_TMP.fullmatch(path.name):
            found.append(Stale(path, "hidden work directory of an earlier lidep version"))
        elif _INCOMPLETE.fullmatch(path.name):
            reason = _stale_reason(path, host)
            if reason is not None:
                found.append(Stale(path, reason))
    return found


# -- the watcher ---------------------------------------------------------------------------------


_WAIT = ('trap "" INT TERM HUP; while read -r _; do :; done; [ -d "$1" ] || exit 0; '
         'exec "$3" -I -S "$4" "$1" "$2"')
"""The watcher's wait (``sh -c``; $1 the run's directory, $2 the target, $3 Python, $4
:mod:`solver.watch`): ignore the job's signals, block until the pipe closes, then start Python
only if the directory remains. A shell costs about 1 ms of CPU where an interpreter waiting in
its place cost 15 ms on every run."""


class Watcher:
    """A process that marks the run directory ``FAILED`` if this process dies (see above).

    Attributes:
        pid: The watcher's process id.
    """

    def __init__(self, work: Path, target: Path):
        """Start watching ``work`` (to be renamed next to ``target`` when marked failed).

        Args:
            work: The run's directory.
            target: ``<output_root>/<name>``.
        """
        read_end, self._write_end = os.pipe()  # not inherited by other children (PEP 446)
        try:
            self._process = subprocess.Popen(
                ["/bin/sh", "-c", _WAIT, "watch", str(work), str(target), sys.executable,
                 str(Path(__file__).with_name("watch.py"))],
                stdin=read_end, stdout=subprocess.DEVNULL, start_new_session=True)
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)
        self.pid = self._process.pid

    def close(self) -> None:
        """Release the watcher (after the directory was renamed); it exits at once."""
        if self._write_end >= 0:
            os.close(self._write_end)
            self._write_end = -1
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)


def _crash_cause(work: Path, owner: dict[str, Any]) -> str:
    """The cause of a death seen only by the watcher, from faulthandler's lines in run.log."""
    try:
        with (work / "run.log").open("rb") as log:
            log.seek(max(log.seek(0, os.SEEK_END) - _LOG_TAIL, 0))
            tail = log.read().decode("utf-8", "replace")
    except OSError:
        tail = ""
    fatal = re.findall(r"Fatal Python error: ([^\n]*)", tail)
    who = f"pid {owner.get('pid')} on {owner.get('host')}"
    if fatal:
        return (f"native crash of the run process ({who}): {fatal[-1].strip()} "
                "(the Python stack of every thread is at the end of run.log)")
    return (f"the run process ({who}) ended abruptly, killed by a signal: SIGKILL (kill -9, the "
            "out-of-memory killer, a scheduler) or, under mpiexec, because another rank died")


def mark_abandoned(work: str, target: str) -> int:
    """The watcher, after the run process closed the pipe or died: mark ``work`` if it remains.

    Called by the watcher script :mod:`solver.watch`, which waits on the pipe without importing
    this module.

    Args:
        work: The run's directory.
        target: ``<output_root>/<name>``.

    Returns:
        The watcher's exit status (0).
    """
    work_dir = Path(work)
    if not work_dir.is_dir():
        return 0  # renamed by the run itself: finished or marked failed
    try:
        owner = json.loads((work_dir / RUNNING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        owner = {}
    mark_failed(work_dir, Path(target), _crash_cause(work_dir, owner),
                "Marked by the watcher process after the run process had ended.\n")
    return 0
