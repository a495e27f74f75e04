"""The watcher process of a run directory (:class:`solver.termination.Watcher`), as a script.

Run as ``python -I -S watch.py WORK TARGET`` with the reading end of the run's pipe as its
standard input. The watcher's shell (``solver.termination._WAIT``) waits on the pipe and starts
this script only when the pipe has closed with the run's directory still in place (an
interpreter costs 15 ms of CPU, which a finished run need not pay). Run on its own it waits
the same way, having imported only ``os``, ``signal`` and ``sys``. It loads
:mod:`solver.termination` (standard library only; imported by its path, as ``-I`` puts no
package on ``sys.path``) to mark the directory.
"""

import os
import signal
import sys


def main(work: str, target: str) -> int:
    """Ignore the job's signals, block until the pipe closes, then mark ``work`` if it remains.

    Args:
        work: The run's directory.
        target: ``<output_root>/<name>``.

    Returns:
        The exit status.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while sys.stdin.buffer.read(1 << 12):
        pass
    if not os.path.isdir(work):
        return 0  # renamed by the run itself: finished or marked failed
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import termination

    return termination.mark_abandoned(work, target)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
