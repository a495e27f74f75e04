"""Continuation strategies (``solver.continuation``) on a toy solve with a known radius.

The toy "Newton solve" converges when the parameter moved by at most ``reach`` from the last
converged value (a basin of attraction of known size) and then sets the unknown to the
parameter; otherwise it fails and scribbles over the unknown. The ramp's lam sequence is then
exact arithmetic (increments 1/8 doubled or quartered), so it is compared exactly.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from solver.continuation import Ramp, Reformulate, Stages
from solver.newton import NewtonResult


class Toy:
    """A solve that converges when the parameter moved by at most ``reach``."""

    def __init__(self, reach: float):
        self.reach = reach
        self.parameter = SimpleNamespace(value=0.0)
        self.scalar = SimpleNamespace(value=0.0)
        self.unknown = SimpleNamespace(x=SimpleNamespace(array=np.zeros(3)))
        self.converged_at = 0.0
        self.tried: list[float] = []

    def solve(self) -> NewtonResult:
        p = float(self.parameter.value)
        self.tried.append(p)
        if abs(p - self.converged_at) <= self.reach:
            self.converged_at = p
            self.unknown.x.array[:] = p
            self.scalar.value = 2.0 * p
            return NewtonResult(True, 3, 1e-12, "converged")
        self.unknown.x.array[:] = np.nan
        self.scalar.value = np.nan
        return NewtonResult(False, 50, 1.0, "diverged")


def test_ramp_reaches_the_target_with_adaptive_increments() -> None:
    toy = Toy(reach=0.3)
    toy.parameter.value = 1.0  # the target
    restores = []
    result = Ramp(toy.parameter).run(toy.solve, [toy.unknown], [toy.scalar],
                                     lambda: restores.append(toy.unknown.x.array.copy()))
    assert result.converged
    # +1/8, +1/4, +1/2 fails (0.5 > 0.3): restored, then +1/8, +1/4, +1/4 (capped at 1)
    assert toy.tried == [0.125, 0.375, 0.875, 0.5, 0.75, 1.0]
    assert toy.parameter.value == 1.0 and toy.converged_at == 1.0
    assert len(restores) == 1 and np.all(restores[0] == 0.375)  # the state before the failure
    assert toy.scalar.value == 2.0


def test_ramp_gives_up_below_the_smallest_increment_and_restores_the_target() -> None:
    toy = Toy(reach=0.0)  # nothing converges
    toy.parameter.value = -2.0
    result = Ramp(toy.parameter, smallest=1e-2).run(toy.solve, [toy.unknown], [toy.scalar])
    assert not result.converged
    # 1/8, 1/32, then 1/128 < 1e-2: stop
    assert toy.tried == [-0.25, -0.0625]
    assert toy.parameter.value == -2.0  # the target again
    assert np.all(toy.unknown.x.array == 0.0) and toy.scalar.value == 0.0  # restored


def test_stages_stop_at_the_first_failure() -> None:
    toy = Toy(reach=0.5)
    logged = []
    result = Stages(toy.parameter, [0.5, 1.0, 3.0, 3.5]).run(
        toy.solve, lambda value, r: logged.append((value, r.converged))
    )
    assert not result.converged
    assert logged == [(0.5, True), (1.0, True), (3.0, False)]
    assert Stages(toy.parameter, []).run(toy.solve).reason == "nothing to solve"


@pytest.mark.parametrize("converged, switches", [(True, True), (False, False), (False, True)])
def test_reformulate_switches_only_after_a_failure(converged: bool, switches: bool) -> None:
    first = NewtonResult(converged, 5, 0.0, "first")
    calls = []

    def switch(failed: NewtonResult) -> bool:
        calls.append(failed.reason)
        return switches

    then = NewtonResult(True, 1, 0.0, "then")
    result = Reformulate(switch, lambda: then).run(first)
    assert result is (then if (not converged and switches) else first)
    assert calls == ([] if converged else ["first"])
