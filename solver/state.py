r"""The explicit state of a transient run: what the next time step depends on, by name.

A :class:`State` holds the live unknown blocks (``Phi``; ``Phi_elyte`` with split potentials;
the salt unknown ``c`` or ``u`` = ln(c/c_bulk) of a binary electrolyte), the Li potential
:math:`\phi_s`, the time, the BDF history of the salt unknown, the accepted potentials since the
last restart of the history (the predictor of the algebraic potentials), and the step controller
and events of the run. It can be

* copied (:meth:`State.copy`: the accepted potentials and :math:`\phi_s`) and restored
  (:meth:`State.restore`: after a rejected step);
* extrapolated (:meth:`State.extrapolate`: the Newton guess at the next time level);
* serialised (:meth:`State.functions` and :meth:`State.scalars`, read back by
  :meth:`State.load`): everything the next step depends on, so that a run continued from a
  checkpoint repeats the uninterrupted run (``solver.driver``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from dolfinx import fem

from solver.timestepping import BDF, StepController

__all__ = ["Level", "Linearisation", "State", "Stateful"]


class Stateful(Protocol):
    """Something of a run whose position goes into a checkpoint (controller, events)."""

    def scalars(self) -> dict[str, Any]:
        """Its position as JSON-compatible scalars."""

    def set_scalars(self, scalars: Mapping[str, Any]) -> None:
        """Take the position :meth:`scalars` returned."""


@dataclass
class Level:
    """One accepted state of the potentials.

    Attributes:
        t: Its time, s.
        values: Nodal values of each potential block, by block name, V.
        phi_s: The Li potential, V.
    """

    t: float
    values: dict[str, np.ndarray]
    phi_s: float


class Linearisation:
    """Where the reused (chord) Jacobian of the time steps was assembled, and its w.

    Newton's method keeps a factorised Jacobian across steps while it contracts (``numerics.
    reuse_jacobian``), so a step's iterates depend, at the level of the Newton tolerance, on
    the point where that Jacobian was assembled. A checkpoint records the point (the unknowns,
    phi_s and the BDF coefficients at assembly) and the phi_s-sensitivity w solved with it; a
    resumed run assembles and factorises the same matrix there, and its steps repeat the
    uninterrupted run's to round-off (bit for bit on the same rank count).

    Attributes:
        names: Block names of the system's unknowns.
        point: The unknowns at assembly, by block.
        w: w = J^-1 dR/dphi_s by block (valid when ``w_current``).
        phi_s: phi_s at assembly, V.
        coefficients: The BDF coefficients (a0, a1, a2) at assembly, 1/s (empty without BDF).
        factorised: A Jacobian is held for reuse.
        w_current: w was solved with that Jacobian.
    """

    def __init__(self, unknowns: list[fem.Function], names: list[str]):
        """Allocate the copies (nothing recorded yet)."""
        self.names = list(names)
        self.point = [u.copy() for u in unknowns]
        self.w = [u.copy() for u in unknowns]
        self.phi_s = float("nan")
        self.coefficients: list[float] = []
        self.factorised = self.w_current = False

    def record(self, unknowns: list[fem.Function], phi_s: float, coefficients: list[float]
               ) -> None:
        """Remember the point of a fresh Jacobian."""
        for copy, u in zip(self.point, unknowns, strict=True):
            copy.x.array[:] = u.x.array
        self.phi_s, self.coefficients = phi_s, list(coefficients)

    def functions(self) -> dict[str, fem.Function]:
        """The point and w by unique names (for a checkpoint)."""
        return {**{f"jacobian/{n}": f for n, f in zip(self.names, self.point, strict=True)},
                **{f"w/{n}": f for n, f in zip(self.names, self.w, strict=True)}}

    def scalars(self) -> dict[str, Any]:
        """phi_s, coefficients and flags (for a checkpoint)."""
        return {"phi_s": self.phi_s, "coefficients": self.coefficients,
                "factorised": self.factorised, "w_current": self.w_current}

    def set_scalars(self, scalars: Mapping[str, Any]) -> None:
        """Take what :meth:`scalars` returned."""
        self.phi_s = float(scalars["phi_s"])
        self.coefficients = [float(a) for a in scalars["coefficients"]]
        self.factorised, self.w_current = bool(scalars["factorised"]), bool(scalars["w_current"])


class State:
    """Unknown blocks, phi_s, time, BDF history, predictor history, controller and events.

    Attributes:
        blocks: The live unknowns by name (``Phi``, ``Phi_elyte``, ``c`` or ``u``).
        potentials: Names of the potential blocks (algebraic unknowns, extrapolated in time).
        phi_s: The Li potential (a Constant in the forms), V.
        bdf: The BDF history of the salt unknown (None without one).
        t: Time of the newest accepted state, s.
        levels: Accepted potentials since the last restart of the history, newest last (at most
            two: the predictor is linear).
        controller: The step controller.
        events: The run's events by name.
        messages: Event messages so far (solver failure, depletion, ...).
        last_output: Time of the last snapshot its consumer took, s (None before the first).
        observers: Consumers of the snapshots whose state goes into a checkpoint too (the
            metrics accumulator and the field writer of a run), by name.
        linearisation: The reused Jacobian's point (None: not reused).
    """

    def __init__(
        self,
        blocks: Mapping[str, fem.Function],
        potentials: list[str],
        phi_s: fem.Constant,
        bdf: BDF | None,
        controller: StepController,
        events: Mapping[str, Stateful],
    ):
        """Collect the state at t = 0 (its history is the current potentials)."""
        self.blocks = dict(blocks)
        self.potentials = list(potentials)
        self.phi_s = phi_s
        self.bdf = bdf
        self.controller = controller
        self.events = dict(events)
        self.t = controller.t
        self.messages: list[str] = []
        self.last_output: float | None = None
        self.observers: dict[str, Stateful] = {}
        self.linearisation: Linearisation | None = None
        self.levels = [self.copy()]

    def copy(self) -> Level:
        """The current potentials and phi_s at :attr:`t` (copies)."""
        values = {name: self.blocks[name].x.array.copy() for name in self.potentials}
        return Level(self.t, values, float(self.phi_s.value))

    def restore(self, level: Level | None = None) -> None:
        """Return to an accepted state (default: the newest) after a rejected step.

        The salt unknown goes back to its newest BDF level.
        """
        level = level or self.levels[-1]
        for name, values in level.values.items():
            self.blocks[name].x.array[:] = values
        self.phi_s.value = level.phi_s
        if self.bdf is not None:
            self.bdf.restore()

    def extrapolate(self, t: float, galvanostatic: bool) -> None:
        """Newton guess at time t: the salt unknown and the potentials extrapolated in time.

        The salt unknown follows its BDF predictor (call ``bdf.set_step`` first). The
        potentials are algebraic, so they follow c; without this guess each step starts from
        the previous potentials and needs one to two more (chord) Newton iterations. Linear
        extrapolation from the last two accepted levels since the last restart (a protocol
        switch); with fewer the potentials are kept. phi_s is extrapolated only when it is
        an unknown (galvanostatic).
        """
        if self.bdf is not None:
            self.bdf.predict()
        if len(self.levels) < 2:
            return
        old, new = self.levels[-2:]
        ratio = (t - new.t) / (new.t - old.t)
        for name in self.potentials:
            self.blocks[name].x.array[:] = new.values[name] + ratio * (
                new.values[name] - old.values[name]
            )
        if galvanostatic:
            self.phi_s.value = new.phi_s + ratio * (new.phi_s - old.phi_s)

    def accept(self, t: float, restart: bool) -> None:
        """Make the current unknowns the newest accepted state at time t.

        Args:
            t: The new time, s.
            restart: The history restarts (a protocol switch): BDF1 next, potentials kept.
        """
        if self.bdf is not None:
            self.bdf.accept()
            if restart:
                self.bdf.restart()
        self.t = t
        self.levels = ([] if restart else self.levels[-1:]) + [self.copy()]

    # -- serialisation -------------------------------------------------------------------------

    def functions(self) -> dict[str, fem.Function]:
        """Every Function the next step depends on, by a unique name (for a checkpoint).

        The live blocks, the BDF history levels and the predictor levels (as new Functions).
        """
        out = dict(self.blocks)
        if self.bdf is not None:
            out.update({f"bdf/{name}": h for name, h in self.bdf.history_functions().items()})
        for k, level in enumerate(self.levels):
            for name, values in level.values.items():
                f = fem.Function(self.blocks[name].function_space)
                f.x.array[:] = values
                out[f"level{k}/{name}"] = f
        if self.linearisation is not None:
            out.update(self.linearisation.functions())
        return out

    def scalars(self) -> dict[str, Any]:
        """Every scalar the next step depends on (JSON-compatible)."""
        return {
            "t": self.t,
            "phi_s": float(self.phi_s.value),
            "levels": [{"t": level.t, "phi_s": level.phi_s} for level in self.levels],
            "bdf": None if self.bdf is None else self.bdf.scalars(),
            "controller": self.controller.scalars(),
            "events": {name: event.scalars() for name, event in self.events.items()},
            "messages": list(self.messages),
            "last_output": self.last_output,
            "observers": {name: obs.scalars() for name, obs in self.observers.items()},
            "linearisation": None if self.linearisation is None else self.linearisation.scalars(),
        }

    def level_functions(self, scalars: Mapping[str, Any]) -> dict[str, fem.Function]:
        """Empty Functions for the predictor levels described by ``scalars`` (to be read)."""
        return {
            f"level{k}/{name}": fem.Function(self.blocks[name].function_space)
            for k in range(len(scalars["levels"]))
            for name in self.potentials
        }

    def load(self, functions: Mapping[str, fem.Function], scalars: Mapping[str, Any]) -> None:
        """Take a serialised state.

        Args:
            functions: Filled Functions with the names of :meth:`functions` (the predictor
                levels as the Functions of :meth:`level_functions`).
            scalars: What :meth:`scalars` returned.
        """
        self.t = float(scalars["t"])
        self.phi_s.value = float(scalars["phi_s"])
        self.levels = [
            Level(
                float(level["t"]),
                {n: functions[f"level{k}/{n}"].x.array.copy() for n in self.potentials},
                float(level["phi_s"]),
            )
            for k, level in enumerate(scalars["levels"])
        ]
        if self.bdf is not None:
            self.bdf.set_scalars(scalars["bdf"])
        self.controller.set_scalars(scalars["controller"])
        for name, event in self.events.items():
            event.set_scalars(scalars["events"][name])
        self.messages[:] = scalars["messages"]  # the list may be shared (Simulation.events)
        self.last_output = scalars["last_output"]
        for name, observer in self.observers.items():
            if name in scalars["observers"]:
                observer.set_scalars(scalars["observers"][name])
        if self.linearisation is not None:
            self.linearisation.set_scalars(scalars["linearisation"])
