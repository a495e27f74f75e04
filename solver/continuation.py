"""Continuation strategies over a nonlinear solve: they know a parameter, not the physics.

A strategy drives a scalar parameter (anything with a ``value``: a ``fem.Constant`` in the
forms) and calls a solve (a bordered Newton solve, ``solver.newton``) that reports a
``NewtonResult``:

* :class:`Stages`: solve at each of a few parameter values in turn, each from the last
  solution, stopping at the first failure (the rate laws' theta from linearised to full);
* :class:`Ramp`: natural-parameter continuation, the parameter at lam times its target for lam
  rising from 0 to 1; the increment doubles after a success and is quartered after a failure
  (the unknowns and scalars restored), giving up below ``smallest``;
* :class:`Reformulate`: after a failed solve, switch the formulation once (for example the
  salt unknown from c to ln c, recompiling the forms) and solve again by another strategy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from solver.newton import NewtonResult

__all__ = ["Parameter", "Ramp", "Reformulate", "Stages"]

#: The result of a strategy that had nothing to solve.
NOTHING = NewtonResult(True, 0, 0.0, "nothing to solve")


class Parameter(Protocol):
    """A scalar the forms read (``fem.Constant``)."""

    value: Any


@dataclass
class Stages:
    """Solve at each parameter value in turn; stop at the first failure.

    Attributes:
        parameter: The parameter.
        values: Its values, in order.
    """

    parameter: Parameter
    values: Sequence[float]

    def run(self, solve: Callable[[], NewtonResult],
            log: Callable[[float, NewtonResult], None] = lambda value, result: None,
            ) -> NewtonResult:
        """The result of the last solve (the first failed one, or the last stage's)."""
        result = NOTHING
        for value in self.values:
            self.parameter.value = value
            result = solve()
            log(value, result)
            if not result.converged:
                return result
        return result


@dataclass
class Ramp:
    """Natural-parameter continuation from 0 to the parameter's target value.

    Attributes:
        parameter: The parameter (its value on entry is the target; restored on exit).
        first: The first increment of lam.
        grow: Factor of the increment after a success.
        shrink: Factor of the increment after a failure.
        smallest: Give up when the increment falls below this.
    """

    parameter: Parameter
    first: float = 0.125
    grow: float = 2.0
    shrink: float = 0.25
    smallest: float = 1e-4

    def run(
        self,
        solve: Callable[[], NewtonResult],
        unknowns: Sequence[Any],
        scalars: Sequence[Parameter] = (),
        restored: Callable[[], None] = lambda: None,
        log: Callable[[float, NewtonResult], None] = lambda lam, result: None,
    ) -> NewtonResult:
        """Ramp lam from 0 to 1; the result of the last solve.

        Args:
            solve: A solve from the current unknowns at the current parameter.
            unknowns: Functions (``x.array``) restored after a failed solve.
            scalars: Scalar unknowns (``value``) restored likewise.
            restored: Called after a restore (derived data to update).
            log: Called with (lam, result) after each solve.
        """
        target = float(self.parameter.value)
        lam, increment = 0.0, self.first
        result = NOTHING
        while lam < 1.0 and increment >= self.smallest:
            saved = [u.x.array.copy() for u in unknowns]
            saved_scalars = [float(s.value) for s in scalars]
            trial = min(1.0, lam + increment)
            self.parameter.value = trial * target
            result = solve()
            log(trial, result)
            if result.converged:
                lam, increment = trial, self.grow * increment
                continue
            for u, values in zip(unknowns, saved, strict=True):
                u.x.array[:] = values
            for s, value in zip(scalars, saved_scalars, strict=True):
                s.value = value
            restored()
            increment *= self.shrink
        self.parameter.value = target
        return result


@dataclass
class Reformulate:
    """After a failed solve, switch the formulation once and solve by another strategy.

    Attributes:
        switch: Called with the failed result; switches (recompiling what it must) and
            returns whether it did.
        then: The solve in the new formulation.
    """

    switch: Callable[[NewtonResult], bool]
    then: Callable[[], NewtonResult]

    def run(self, result: NewtonResult) -> NewtonResult:
        """``result`` if it converged or no switch is possible, else the new solve's."""
        if result.converged or not self.switch(result):
            return result
        return self.then()
