"""Outputs as observers: each scalar of a snapshot is one small class with ``compute()``.

Every ``compute()`` is collective and returns the same value on every rank (integrals are
allreduced by ``Domain.integrate``, minima by ``MPI.MIN``). ``Simulation.scalars()`` is the loop
``{o.name: o.compute() for o in observers}`` over the observers its terms call for;
:class:`SurfaceSampler` evaluates the Li-surface quadrature-point sample shared by the snapshot
and the minimum-concentration observers, and :class:`DimensionlessNumbers` the Wagner numbers,
J/J_lim and t/t_Sand (``solver.dimensionless``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import basix
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

from solver.dimensionless import dimensionless_numbers
from solver.domain import Domain
from solver.lifted_forms import compile_expression
from solver.physics.term import Unknowns
from solver.results import SurfaceSample
from solver.surface_flux import ResidualFlux

__all__ = [
    "CellVoltage",
    "CounterCurrent",
    "DimensionlessNumbers",
    "Fixed",
    "Integral",
    "LeakageCurrent",
    "MeanOverpotential",
    "MinSurfaceConcentration",
    "Observer",
    "SaltInventory",
    "SurfaceSampler",
]


class Observer(Protocol):
    """A named scalar output."""

    name: str

    def compute(self) -> float:
        """The value now (collective; equal on every rank)."""


class Fixed:
    """A value that does not change during the run (or follows the geometry: a callable).

    Args:
        name: Output name.
        value: A callable returning the value (read at each ``compute``).
    """

    def __init__(self, name: str, value: Callable[[], float]):
        self.name, self.value = name, value

    def compute(self) -> float:
        """The value."""
        return float(self.value())


class CellVoltage(Fixed):
    """phi_s, V (the counter / reference at y = L is at 0)."""

    def __init__(self, phi_s: fem.Constant):
        super().__init__("cell_voltage", lambda: phi_s.value)


class Integral:
    """An integral of a UFL form divided by a geometric constant.

    Args:
        name: Output name.
        domain: The domain (integration, constants).
        form: A callable returning the UFL form (read at each ``compute``: the salt unknown
            may change from c to ln c).
        per: A callable returning the divisor (``domain.area`` for a mean over A_proj).
    """

    def __init__(self, name: str, domain: Domain, form: Callable[[], Any],
                 per: Callable[[], float] = lambda: 1.0):
        self.name, self.domain, self.form, self.per = name, domain, form, per
        self._compiled: tuple[Any, fem.Form] | None = None  # (UFL form, its compiled form)

    def compute(self) -> float:
        """The integral of the form divided by the divisor.

        The compiled form is kept while ``form()`` returns an equal UFL form (UFL's ``equals``:
        the same integrands of the same coefficient and constant objects): no JIT-cache look-up
        at every output time.
        """
        form = self.form()
        if self._compiled is None or not self._compiled[0].equals(form):
            self._compiled = (form, self.domain.compile(form))
        return self.domain.assemble(self._compiled[1]) / self.per()


class MeanOverpotential(Integral):
    """The mean of eta = phi_s - Phi (+ the surface-energy shift) over the Li surface, V."""

    def __init__(self, u: Unknowns):
        d = u.domain

        def form() -> Any:
            return sum(
                u.overpotential(p.region) * d.weight * d.ds(p.tag) for p in d.parts
            )

        super().__init__("overpotential_mean", d, form, lambda: d.li_area)


class SaltInventory(Integral):
    """int c w dx_e over the electrolyte, mol (per unit depth in 2D)."""

    def __init__(self, u: Unknowns):
        d = u.domain
        super().__init__("salt_inventory", d, lambda: u.salt.c_expr * d.weight_e * d.dx_e)


class CounterCurrent(Integral):
    """The mean current density through the counter (plating on the working Li > 0), A/m^2.

    Args:
        u: The unknowns.
        counter: The counter term (its ``current``: a reaction or the rate law's integral).
        residuals: The model's charge residuals for given test functions.
    """

    def __init__(self, u: Unknowns, counter: Any, residuals: Callable[[list[Any]], list[Any]]):
        super().__init__("counter_current", u.domain, lambda: counter.current(u, residuals),
                         lambda: u.domain.area)


class LeakageCurrent:
    """The mean electronic leakage current density, A/m^2 (0 without a leaky region)."""

    name = "leakage_current"

    def __init__(self, u: Unknowns, leakage: Any | None):
        self.u, self.leakage = u, leakage

    def compute(self) -> float:
        """One linear solve (``solver.physics.leakage``), or 0."""
        return 0.0 if self.leakage is None else self.leakage.current(self.u)


class SurfaceSampler:
    """Expressions sampled at the quadrature points of the Li-surface parts (and the counter).

    Compiled once on every rank (collective). Per part: x, |det J| of the facet, j, and c
    where the part touches a binary electrolyte; c at the counter of a closed cell.

    Args:
        u: The unknowns.
        surface: The Li-surface term (its ``surface_current``).
        closed: Whether the counter is a Li electrode (sample c there).
        degree: The element degree (quadrature degree 2 p + 2).
        flux: Where the Li surface is a Dirichlet boundary (primary kinetics): its
            residual-based flux, sampled as j instead of the term's ``surface_current``.
    """

    def __init__(
        self, u: Unknowns, surface: Any, closed: bool, degree: int,
        flux: ResidualFlux | None = None,
    ):
        self.u, d = u, u.domain
        self.flux = flux
        msh = d.mesh
        facet_type = basix.cell.sub_entity_type(msh.basix_cell(), d.tdim - 1, 0)
        points, self.weights = basix.make_quadrature(facet_type, 2 * degree + 2)
        detj = ufl.classes.FacetJacobianDeterminant(msh)
        #: Per part k (-1: the counter) and group: one expression of the group's quantities side
        #: by side (one JIT module instead of one per quantity): "surface" (x, |det J|, j,
        #: sampled at output times) and "c" (also read at every time step by the depletion
        #: event, so evaluated alone); and each quantity's group and columns.
        self.expressions: dict[tuple[int, str], fem.Expression] = {}
        self.columns: dict[tuple[int, str], tuple[str, slice]] = {}
        for k, part in enumerate(d.parts):
            j = (
                surface.surface_current(u, k, u.overpotential(part.region))
                if flux is None else flux.functions[u.block(part.region)]
            )
            self._stack(k, "surface", {"x": d.x, "detj": abs(detj), "j": j}, points)
            c_s = u.concentration(part.region)
            if c_s is not None:
                self._stack(k, "c", {"c": c_s}, points)
        c_counter = u.concentration("electrolyte")
        if closed and c_counter is not None:
            self._stack(-1, "c", {"c": c_counter}, points)

    def _stack(self, k: int, group: str, exprs: dict[str, Any], points: np.ndarray) -> None:
        """Compile named scalar or vector expressions of part k as one vector expression."""
        components: list[Any] = []
        for name, expr in exprs.items():
            flat = [expr[i] for i in range(expr.ufl_shape[0])] if expr.ufl_shape else [expr]
            self.columns[k, name] = (group, slice(len(components), len(components) + len(flat)))
            components += flat
        self.expressions[k, group] = compile_expression(ufl.as_vector(components), points,
                                                        entity_maps=self.u.domain.maps)

    def values(self, k: int, group: str) -> dict[str, np.ndarray]:
        """The quantities of a group at the quadrature points of part k (-1: the counter).

        Rank-local; collective (every rank evaluates).

        Returns:
            Name -> values, shape (points, components).
        """
        d = self.u.domain
        entities = d.counter_entities if k == -1 else d.parts[k].entities
        expression = self.expressions[k, group]
        # eval is collective when coefficients live on the submesh: call it on every rank
        values = expression.eval(d.mesh, np.asarray(entities, dtype=np.int32).reshape(-1, 2))
        values = values.reshape(len(entities) * len(self.weights), expression.value_shape[0])
        return {name: values[:, columns] for (part, name), (of, columns) in self.columns.items()
                if part == k and of == group}

    def eval(self, k: int, name: str) -> np.ndarray:
        """Values of one quantity at the quadrature points of part k (-1: the counter)."""
        return self.values(k, self.columns[k, name][0])[name]

    def sample(self) -> SurfaceSample:
        """Rank-local quadrature-point sample of the Li surface (collective)."""
        if self.flux is not None:
            self.flux.update()
        xs, ws, js, cs = [], [], [], []
        for k, part in enumerate(self.u.domain.parts):
            values = self.values(k, "surface")
            x = values["x"]
            weight = values["detj"].reshape(-1) * np.tile(self.weights, len(part.entities))
            if self.u.domain.axisym:
                weight *= 2.0 * math.pi * x[:, 0]
            xs.append(np.pad(x, ((0, 0), (0, 3 - x.shape[1]))))
            ws.append(weight)
            js.append(values["j"].reshape(-1))
            if (k, "c") in self.columns:
                cs.append(self.eval(k, "c").reshape(-1))
            else:
                cs.append(np.full(weight.shape, np.nan))
        return SurfaceSample(
            np.vstack(xs), np.concatenate(ws), np.concatenate(js), np.concatenate(cs)
        )

    def min_concentration(self, counter: bool = False) -> float:
        """Minimum c at the Li-surface quadrature points (allreduced).

        Args:
            counter: Sample the Li counter electrode instead of the working side: the bare Li
                surface (quadrature points) and the interphase | electrolyte boundary (dofs),
                where Li+ leaves the electrolyte.
        """
        values = [np.inf]
        if counter:
            if (-1, "c") in self.columns:
                values.append(float(self.eval(-1, "c").min(initial=np.inf)))
        else:
            for k in range(len(self.u.domain.parts)):
                if (k, "c") in self.columns:
                    values.append(float(self.eval(k, "c").min(initial=np.inf)))
            salt = self.u.salt
            values.append(float(salt.c.x.array[salt.interface_dofs].min(initial=np.inf)))
        return self.u.domain.comm.allreduce(min(values), op=MPI.MIN)


class MinSurfaceConcentration:
    """The minimum concentration at the working (or the counter) Li surface, mol/m^3."""

    def __init__(self, sampler: SurfaceSampler, counter: bool = False):
        self.sampler, self.counter = sampler, counter
        self.name = "min_counter_concentration" if counter else "min_surface_concentration"

    def compute(self) -> float:
        """The allreduced minimum (``SurfaceSampler.min_concentration``)."""
        return self.sampler.min_concentration(self.counter)


class DimensionlessNumbers:
    """Wagner numbers, J/J_lim and t/t_Sand of the current state (``solver.dimensionless``).

    The charge-transfer resistance is that of the Li-surface parts in parallel, each with its
    own kinetics, weighted by its share of the Li area; the interphase layers and the
    ion-transfer boundary add their resistances per Li area.

    Args:
        u: The unknowns (the conductors of the regions, the salt term).
        surface: The Li-surface term (``wagner_parts``).
        transfer: The ion-transfer term, or None.
        kappa_bulk: The electrolyte's bulk conductivity, S/m.
        temperature: T, K.
        closed: Whether the cell is closed (a Li counter with a binary electrolyte).
    """

    def __init__(self, u: Unknowns, surface: Any, transfer: Any | None, kappa_bulk: float,
                 temperature: float, closed: bool):
        self.u, self.surface, self.transfer = u, surface, transfer
        self.kappa_bulk, self.temperature, self.closed = kappa_bulk, temperature, closed

    def compute(self, t: float, current_mean: float) -> dict[str, float]:
        """The numbers at time t and mean current density J (A/m^2)."""
        d, salt = self.u.domain, self.u.salt
        fractions = [a / d.li_area for a in d.part_areas]
        apex = d.apex
        length = (
            float(apex[d.tdim - 1]) if apex is not None and apex[d.tdim - 1] > 0 else d.height
        )
        layers = [
            (volume / d.li_area, self.u.conductors[name].sigma)
            for name, volume in d.volumes.items()
            if name != "electrolyte"
        ]
        numbers = dimensionless_numbers(
            kappa=self.kappa_bulk,
            length=length,
            surface_parts=self.surface.wagner_parts(fractions),
            temperature=self.temperature,
            current_density=current_mean,
            t=t,
            layers=layers,
            transfer_resistance=0.0 if self.transfer is None else self.transfer.resistance(d),
            D=None if salt is None else salt.electrolyte.bulk("diffusivity"),
            c_bulk=None if salt is None else salt.c_bulk,
            t_plus=1.0 if salt is None else salt.electrolyte.bulk("t_plus"),
            L=d.height,
            cell="symmetric" if self.closed else "reservoir",
        )
        return numbers.as_dict()
