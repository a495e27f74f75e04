"""The time driver: steps a transient run's State through its protocol and checkpoints it.

The driver owns the :class:`~solver.state.State`, the protocol, the step controller and the
events of a transient run.

Run sequence of one transient run (``TimeDriver.run``)::

    consistent initial potentials at t = 0 (the problem's static solve)   [not on resume]
    snapshot at t = 0 if it is an output time
    while the controller is not finished:
        stop here if any rank was signalled (one allreduce): checkpoint, raise Interrupted
        dt = controller.propose(); the protocol step at t + dt sets the control
        predictor (State.extrapolate); Newton solve (the problem)
        diverged: State.restore, controller.reject (SolverDivergence when exhausted)
        error estimate; controller.accept or State.restore and retry
        State.accept; step listeners; events; snapshot at output times or a stopping event
        checkpoint at output times and every ``checkpoint_interval`` seconds of wall time
    stop if any rank was signalled since the last boundary

A run resumed from a checkpoint (:meth:`TimeDriver.resume`) loads the state and enters the
loop: the next step is the one the uninterrupted run took.

SIGTERM/SIGINT while stepping (``solver.termination``): the signal handler only records it; at
the next step boundary every rank learns (one collective) that some rank was signalled, the
ranks write the checkpoint of the accepted state together and raise
:class:`~solver.termination.Interrupted` with ``collective=True`` together, so that everything
they do while unwinding (closing field files) stays collective. The same on one rank.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from mpi4py import MPI

from solver.checkpoint import read_checkpoint, write_checkpoint
from solver.results import Snapshot
from solver.state import State
from solver.termination import (
    Interrupted,
    signals_held,
    stop_at_step_boundaries,
    stop_requested,
    take_stop,
)
from solver.timestepping import Protocol as ControlProtocol
from solver.timestepping import ProtocolStep, SolverDivergence

__all__ = ["DepletionEvent", "SimulationError", "TimeDriver", "TransientProblem"]


class SimulationError(RuntimeError):
    """A configuration the solver cannot handle, or a failed solve (message says which)."""


class TransientProblem(Protocol):
    """What the driver needs of a problem (``solver.problem.Simulation`` provides it)."""

    def apply_control(self, step: ProtocolStep) -> bool:
        """Set the control of ``step``; return whether phi_s is an unknown (galvanostatic)."""

    def solve_step(self, galvanostatic: bool) -> Any:
        """Newton solve of one time step: converged, iterations, residual, reason."""

    def error_estimate(self) -> float | None:
        """Local error norm of the solved step (None when not controlled)."""

    def after_restore(self) -> None:
        """Bring derived fields up to date after the state was restored or loaded."""

    def checkpoint_geometry(self) -> AbstractContextManager[None]:
        """The mesh as checkpoints are keyed to it while writing or reading one."""

    def rebuild_linearisation(self) -> None:
        """After a load: factorise the reused Jacobian at the State's linearisation point."""

    def snapshot(self, t: float) -> Snapshot:
        """The outputs at time t."""


class DepletionEvent:
    """The minimum surface concentration falls below a fraction of the bulk (once).

    The event time is the linear interpolation, between the last two accepted steps, of the
    time where the minimum surface concentration crosses the threshold.

    Attributes:
        time: Time of the event, s (None before it happened).
    """

    def __init__(self, c_min: Callable[[], float], threshold: float, c_initial: float,
                 stop: bool):
        """Set up the event.

        Args:
            c_min: Minimum surface concentration now (collective), mol/m^3.
            threshold: The threshold, mol/m^3.
            c_initial: The minimum at t = 0, mol/m^3.
            stop: Whether the run stops at the event.
        """
        self._c_min, self.threshold, self.stop = c_min, threshold, stop
        self.time: float | None = None
        self._c_prev = c_initial

    def check(self, t_prev: float, t: float) -> str | None:
        """Test the step from t_prev to t; return the event's message when it happens now."""
        if self.time is not None:
            return None
        c_min = self._c_min()
        c_prev, self._c_prev = self._c_prev, c_min
        if c_min >= self.threshold:
            return None
        fraction = (c_prev - self.threshold) / (c_prev - c_min) if c_prev > c_min else 1.0
        self.time = t_prev + min(max(fraction, 0.0), 1.0) * (t - t_prev)
        return (
            f"depletion at t={self.time:.6g} s (surface concentration below "
            f"{self.threshold:.6g} mol/m^3; min c_s={c_min:.6g} mol/m^3 at t={t:.6g} s)"
        )

    def scalars(self) -> dict[str, Any]:
        """Event time and the last minimum (for a checkpoint)."""
        return {"time": self.time, "c_prev": self._c_prev}

    def set_scalars(self, scalars: Mapping[str, Any]) -> None:
        """Take the values :meth:`scalars` returned."""
        self.time, self._c_prev = scalars["time"], float(scalars["c_prev"])


class TimeDriver:
    """Advance a :class:`TransientProblem` through a protocol, checkpointing its state.

    Attributes:
        state: The run state (its controller and events included).
        protocol: The control protocol.
        step_listeners: Called after every accepted step with (t, dt, Newton iterations).
        checkpoint: The checkpoint file (None: no checkpoints).
        checkpoint_interval: Wall time between checkpoints, s (None: at output times only).
    """

    def __init__(self, problem: TransientProblem, state: State, protocol: ControlProtocol,
                 comm: MPI.Comm, logger: logging.Logger,
                 step_listeners: list[Callable[[float, float, int], None]],
                 checkpoint: Path | None = None, checkpoint_interval: float | None = None):
        """Set up the driver (``step_listeners`` is kept by reference)."""
        self.problem, self.state, self.protocol = problem, state, protocol
        self.comm, self.log = comm, logger
        self.step_listeners = step_listeners
        self.checkpoint, self.checkpoint_interval = checkpoint, checkpoint_interval
        self._last_checkpoint = time.monotonic()

    def write_checkpoint(self) -> None:
        """Write the state to :attr:`checkpoint` (collective; atomic)."""
        if self.checkpoint is None:
            return
        with self.problem.checkpoint_geometry():
            write_checkpoint(self.checkpoint, self.state.functions(), self.state.scalars(),
                             self.comm)
        self._last_checkpoint = time.monotonic()
        self.log.debug("checkpoint at t = %.6g s written to %s", self.state.t, self.checkpoint)

    def resume(self, path: Path) -> None:
        """Load the state of the checkpoint at ``path`` (collective).

        Raises:
            CheckpointError: The file is missing, damaged or of another mesh or element.
        """
        functions = self.state.functions()
        with self.problem.checkpoint_geometry():
            scalars = read_checkpoint(path, {k: v for k, v in functions.items()
                                             if not k.startswith("level")}, self.comm)
            levels = self.state.level_functions(scalars)
            read_checkpoint(path, levels, self.comm)
        self.state.load({**functions, **levels}, scalars)
        self.problem.after_restore()
        self.problem.rebuild_linearisation()
        self.log.info("resumed at t = %.6g s from %s", self.state.t, path)

    def _checkpoint_due(self, at_output: bool) -> bool:
        if self.checkpoint is None:
            return False
        if at_output:
            return True
        if self.checkpoint_interval is None:
            return False
        elapsed = time.monotonic() - self._last_checkpoint
        # every rank must agree: rank 0's clock decides
        return bool(self.comm.bcast(elapsed >= self.checkpoint_interval, root=0))

    def run(self) -> Iterator[Snapshot]:
        """Step to the end time; snapshots at the output times and at a stopping event.

        Raises:
            SimulationError: A step failed after all retries (the last good state is handed
                out first, as an extra snapshot unless it was just output).
            Interrupted: A rank was signalled (SIGTERM, SIGINT): the checkpoint is written.
        """
        try:
            with stop_at_step_boundaries():
                yield from self._steps()
            self._stop_if_requested()  # a signal after the last step boundary
        except Interrupted as err:
            if not err.collective:
                self._checkpoint_on_signal()
            raise

    def _stop_if_requested(self) -> None:
        """At a step boundary: if any rank was signalled, checkpoint and stop (collective).

        Every rank calls this at the same boundaries (the loop is the same on every rank), so
        the one reduction always matches.

        Raises:
            Interrupted: With ``collective=True``, on every rank.
        """
        signum = self.comm.allreduce(stop_requested(), op=MPI.MAX)
        if not signum:
            return
        take_stop()
        if self.checkpoint is not None:
            self.write_checkpoint()
            if self.comm.rank == 0:
                self.log.warning("interrupted: checkpoint of t = %.6g s written to %s",
                                 self.state.t, self.checkpoint)
        raise Interrupted(signum, collective=True)

    def _checkpoint_on_signal(self) -> None:
        """A signal raised in the middle of a step: checkpoint the last accepted state (serial).

        The immediate path of ``solver.termination`` (a second signal, or a deferred one not
        taken in time) raises while the driver solves; the accepted state is changed only
        while signals are held back, so the last accepted state is restored and written.
        Under MPI that path raises on one rank while the others may wait in a collective
        call: no checkpoint can be written there; the last one stands.
        """
        if self.checkpoint is None or self.comm.size > 1:
            return
        self.state.restore()
        self.problem.after_restore()
        self.write_checkpoint()
        self.log.warning("interrupted: checkpoint of t = %.6g s written to %s",
                         self.state.t, self.checkpoint)

    def _steps(self) -> Iterator[Snapshot]:
        state, ctrl, problem = self.state, self.state.controller, self.problem
        if ctrl.at_output and state.last_output != state.t:
            # resumed from a checkpoint written after accepting an output step, before its
            # snapshot was taken (a signal at that moment)
            yield problem.snapshot(state.t)
            state.last_output = state.t
        while not ctrl.finished:
            self._stop_if_requested()
            dt = ctrl.propose()
            step = self.protocol.step_at(ctrl.t + dt)
            galvano = problem.apply_control(step)
            if state.bdf is not None:
                state.bdf.set_step(dt)
            state.extrapolate(ctrl.t + dt, galvano)
            result = problem.solve_step(galvano)
            if not result.converged:
                state.restore()
                problem.after_restore()
                try:
                    ctrl.reject(f"Newton: {result.reason} (residual {result.residual:.3e})")
                except SolverDivergence as err:
                    yield from self._fail(err)
                continue
            error = problem.error_estimate()
            with signals_held():  # the accepted state changes as a whole or not at all
                if not ctrl.accept(dt, iterations=result.iterations, error=error):
                    state.restore()
                    problem.after_restore()
                    continue
                t_prev = state.t
                state.accept(ctrl.t, ctrl.restart_history)
                stop = self._check_events(t_prev)
            for listener in self.step_listeners:
                listener(ctrl.t, dt, result.iterations)
            if ctrl.at_output or (stop and not self._handed_over()):
                yield problem.snapshot(ctrl.t)
                state.last_output = ctrl.t  # taken by the consumer
            if stop:
                return
            # after the consumer took the snapshot: its observers' state goes in too
            if self._checkpoint_due(ctrl.at_output):
                self.write_checkpoint()

    def _fail(self, err: SolverDivergence) -> Iterator[Snapshot]:
        """Report a failed step, hand out the last good state, raise."""
        t = self.state.t
        message = f"{err}; the last good state is t = {t:.6g} s"
        self.state.messages.append(f"solver failure: {message} (output as the last snapshot)")
        self.log.error(self.state.messages[-1])
        if self.state.last_output != t:
            yield self.problem.snapshot(t)
        raise SimulationError(message) from err

    def _handed_over(self) -> bool:
        """A stopping event of this step hands the run over (remeshing): no stop snapshot."""
        return any(getattr(event, "handover", False) and event.time == self.state.t
                   for event in self.state.events.values())

    def _check_events(self, t_prev: float) -> bool:
        """Test every event on the last step; True when one stops the run."""
        stop = False
        for event in self.state.events.values():
            message = event.check(t_prev, self.state.t)
            if message is not None:
                self.state.messages.append(message)
                self.log.info(message)
                stop = stop or event.stop
        return stop
