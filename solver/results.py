"""What the solver hands to post-processing at each output time."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import dolfinx
import numpy as np


@dataclass
class SurfaceSample:
    """Rank-local samples of the Li surface at quadrature points of ``li_surface``.

    Attributes:
        x: Coordinates, shape (n, 3), m.
        weight: Quadrature weights, shape (n,): length (2D), area (3D), or 2*pi*r*length
            (axisymmetric), so that ``sum(weight * j)`` is the total current (per unit depth in
            2D planar), A/m or A.
        j: Normal Faradaic current density, shape (n,), A/m^2; positive for plating.
        c_surface: Salt concentration next to the surface, shape (n,), mol/m^3 (nan where
            the adjacent phase is a single-ion conductor).
    """

    x: np.ndarray
    weight: np.ndarray
    j: np.ndarray
    c_surface: np.ndarray


class LazyFields(Mapping[str, dolfinx.fem.Function]):
    """The fields of a snapshot; derived ones are computed when first read.

    A projection (current density, |E|) then runs only where a consumer reads it: the field
    writer for the fields it writes, the metrics for those written. Reading is collective
    (every rank reads the same names in the same order).

    Args:
        ready: Fields computed already (copies of the state).
        deferred: Name -> a callable computing that field (collective), called at most once.
    """

    def __init__(
        self,
        ready: dict[str, dolfinx.fem.Function],
        deferred: dict[str, Callable[[], dolfinx.fem.Function]],
    ):
        self._ready, self._deferred = dict(ready), dict(deferred)

    def __getitem__(self, name: str) -> dolfinx.fem.Function:
        if name in self._deferred:
            self._ready[name] = self._deferred.pop(name)()
        return self._ready[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._ready, *self._deferred])

    def __len__(self) -> int:
        return len(self._ready) + len(self._deferred)

    def computed(self, name: str) -> bool:
        """Whether ``name`` has been computed (tests, benchmarks)."""
        return name in self._ready


@dataclass
class Snapshot:
    """State of one case at one output time.

    Attributes:
        t: Time, s (0.0 for a steady solution).
        fields: ``"potential"`` (V), ``"concentration"`` (mol/m^3, electrolyte only),
            ``"current_density"`` (A/m^2, vector), ``"field_strength"`` (|E|, V/m); a
            :class:`LazyFields` from the solver (the last two projected when first read).
        surface: The Li-surface sample.
        scalars: Global scalars such as ``"cell_voltage"`` (V), ``"overpotential_mean"`` (V),
            ``"current_mean"`` (A/m^2), ``"leakage_current"`` (A/m^2),
            ``"min_surface_concentration"`` (mol/m^3).
        dimensionless: ``"wagner"``, ``"wagner_with_interphase"``, ``"i_over_ilim"``,
            ``"t_over_sand"``.
        events: Human-readable events reached by this time (e.g. depletion).
    """

    t: float
    fields: Mapping[str, dolfinx.fem.Function]
    surface: SurfaceSample
    scalars: dict[str, float] = field(default_factory=dict)
    dimensionless: dict[str, float] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
