"""Start-up of a ``lidep`` process: the cyclic garbage collector paused while modules load.

Importing what a run needs (DOLFINx, UFL, FFCx, Gmsh, pydantic and lidep's own modules) creates
several hundred thousand objects that live as long as the process. CPython's cyclic collector
traverses all of them at every full collection, during the imports and again during the run,
whose configuration, mesh and set-up allocate enough to start several: about 0.1 s of CPU in
a ``lidep run`` of 0.9 s (``benchmarks/bench_startup.py``, docs/performance.md).

The console script pauses the collector before the command imports anything (:func:`pause`).
Once the command has imported its modules, :func:`resume` moves every object alive then into
the collector's permanent generation (``gc.freeze``) and restarts the collector, so that later
collections skip them. What is frozen is the modules, their classes and functions and the
parsed arguments, alive until the process ends anyway; objects created afterwards are
collected as usual. Reference counting frees frozen objects as before; only a reference cycle
among them would outlive its use.

Only lidep's own process does this: :func:`solver.cli.main` called from Python (a test, a
notebook) leaves the caller's collector alone, as does the API.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "resume"]

_paused = False


def pause() -> None:
    """Stop the cyclic garbage collector until :func:`resume` (lidep's own process only)."""
    global _paused
    gc.disable()
    _paused = True


def resume() -> None:
    """Freeze the objects alive now and restart the collector, if :func:`pause` stopped it.

    Idempotent: a second call, or a call without :func:`pause`, does nothing.
    """
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False
