"""``Simulation``: function spaces, residuals, bordered Newton, control mode, time loop.

Unknowns (``docs/theory.md``): Phi (V) on every ionic cell of the mesh (electrolyte and
interphase regions, continuous, Lagrange degree p), c (mol/m^3) on a submesh of the
``electrolyte`` cells for binary electrolytes (as c itself or as u = ln(c/c_bulk), with
c = c_bulk exp(u) in every form: ``numerics.concentration_variable``), and the Li potential
phi_s (V), a global scalar
that is given (potentiostatic) or solved for (galvanostatic) with a bordered Newton method.
With an interfacial ion-transfer resistance R_it > 0 the potential is split: Phi lives on the
interphase cells and Phi_elyte on the electrolyte submesh, coupled by
i.n = (Phi - Phi_elyte) / R_it on the interphase | electrolyte boundary.

Residuals, scaled to be dimensionless (i_ref: reference current density, A_proj: projected Li
area, w = 2 pi r in axisymmetric coordinates, 1 otherwise)::

    R_Phi = [ sum_regions int -i . grad(v) w dx + sum_parts int j(eta, c_s) v w ds_li
              + int j_c v w ds_counter ] / (i_ref A_proj)
    R_c   = [ int (dc/dt q - N_- . grad(q)) w dx_e ] F / (i_ref A_proj)
    G     = [ int_li j w ds / A_proj - J ] / i_ref          (galvanostatic)
    G     = phi_s - V                                       (potentiostatic)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import basix
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from solver.dimensionless import dimensionless_numbers
from solver.domain import Domain
from solver.driver import DepletionEvent, SimulationError, TimeDriver
from solver.geometry.bundle import MeshBundle
from solver.kinetics import Kinetics
from solver.linear import (
    LinearSolver,
    default_options,
    field_index_sets,
    migration_elimination,
)
from solver.newton import (
    Border,
    BorderedSystem,
    ConstraintBorder,
    FixedBorder,
    NewtonOptions,
    NewtonResult,
)
from solver.periodic import PeriodicConstraint
from solver.results import Snapshot, SurfaceSample
from solver.state import Linearisation, State
from solver.timestepping import BDF, Protocol, ProtocolStep, StepController
from solver.transport import (
    FARADAY,
    GAS_CONSTANT,
    BinaryElectrolyte,
    SingleIonConductor,
    arrhenius,
    build_electrolyte,
)

__all__ = ["NewtonResult", "Simulation", "SimulationError"]

#: Names of ``Domain`` attributes that a ``Simulation`` reads through (tests, notebooks).
_DOMAIN_NAMES = frozenset(
    {"x", "dx", "ds", "n", "weight", "facet_tags", "cell_region", "submesh", "sub_facet_tags",
     "dS_it", "emap", "dx_e", "ds_e", "weight_e"}
)


@dataclass
class _SurfacePart:
    """Li-surface facets adjacent to one ionic region, with their kinetics."""

    region: str
    tag: int
    kinetics: Kinetics
    binary: bool
    entities: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int32))


def _default_petsc_options(numerics: Any, coupled: bool, size: int) -> dict[str, Any]:
    """Linear-solver options (``solver.linear.default_options``) with the user's merged over.

    Args:
        numerics: The NumericsConfig.
        coupled: Whether the system holds c (potentials and c) or the potentials alone.
        size: Global number of unknowns (resolves ``linear_solver: auto``).
    """
    kind = numerics.linear_solver
    if kind == "auto":
        kind = "direct" if size <= numerics.direct_max_unknowns else "iterative"
    return {**default_options(kind, coupled, numerics.linear_rtol), **numerics.petsc_options}


class Simulation:
    """One case: assemble the problem on a mesh and produce snapshots.

    Args:
        bundle: The mesh with named regions and boundaries.
        case: Any object with ``physics`` (PhysicsConfig), ``time`` (TimeConfig) and
            ``numerics`` (NumericsConfig) attributes (and optionally ``geometry``).
        comm: The communicator of the mesh.
        logger: Logger for progress messages (default: ``logging.getLogger("lidep.physics")``).
        sources: Verification only (manufactured solutions): callables of the spatial
            coordinate returning UFL source terms: ``"charge"`` f (A/m^3, div i = f),
            ``"salt"`` f_c (mol/(m^3 s), added to the salt balance), ``"li_charge"`` g (A/m^2,
            i.n = j + g on li_surface), ``"li_salt"`` h (mol/(m^2 s), N_-.n = h there).
    """

    def __init__(
        self,
        bundle: MeshBundle,
        case: Any,
        comm: MPI.Comm,
        logger: logging.Logger | None = None,
        *,
        sources: Mapping[str, Callable[[Any], Any]] | None = None,
    ):
        self.bundle = bundle
        self.physics, self.time, self.numerics = case.physics, case.time, case.numerics
        self.comm = comm
        self.log = logger or logging.getLogger("lidep.physics")
        self.sources = dict(sources or {})
        unknown = sorted(set(self.sources) - {"charge", "salt", "li_charge", "li_salt"})
        if unknown:
            raise ValueError(f"sources: unknown key(s) {unknown}")
        self.mesh = bundle.mesh
        self._check_supported(case)
        self.temperature = self.physics.temperature
        self.f = FARADAY / (GAS_CONSTANT * self.temperature)
        self.electrolyte = build_electrolyte(self.physics)
        self.binary = isinstance(self.electrolyte, BinaryElectrolyte)
        self.transfer_resistance = {
            name: mat.transfer_resistance
            for name, mat in self.physics.interphase.items()
            if mat.transfer_resistance > 0.0 and name in self.bundle.regions
        }
        self.split = bool(self.transfer_resistance)  # Phi | Phi_elyte (R_it > 0)
        self.has_submesh = self.binary or self.split
        self.c_bulk = self.electrolyte.c_bulk if self.binary else math.nan
        self.primary = self.physics.kinetics.model == "primary"
        self.closed = self.binary and self.physics.counter.type == "li_electrode"
        if self.closed and self.time.mode == "steady":
            raise SimulationError(
                "time.mode: 'steady' with a binary electrolyte and counter.type 'li_electrode' "
                "is a "
                "closed cell whose steady state depends on the salt inventory; run it with "
                "time.mode 'transient'"
            )
        self.domain = Domain(
            bundle, comm, submesh=self.has_submesh, interface=list(self.transfer_resistance)
        )
        self._setup_spaces()
        self._setup_parts()
        if self.split:
            self._check_interface()
        self._setup_scales()
        self._secants: dict[int, tuple[Kinetics, fem.Constant]] = {}
        self._setup_forms()
        self._setup_sampling()
        self.events: list[str] = []
        # Called after every accepted time step with (t, dt, Newton iterations) (progress).
        self.step_listeners: list[Callable[[float, float, int], None]] = []
        self.driver: TimeDriver | None = None
        #: Checkpoint file written at output times and every time.checkpoint_interval (None:
        #: none), and the checkpoint a transient run resumes from (None: start at t = 0).
        self.checkpoint: Path | None = None
        self.resume_from: Path | None = None
        #: Consumers of the snapshots whose state is checkpointed with the run's (``scalars()``
        #: and ``set_scalars()``; the metrics accumulator and field writer of a run).
        self.observers: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------------
    # Set-up
    # ------------------------------------------------------------------------------------------
    def _check_supported(self, case: Any) -> None:
        geometry = getattr(case, "geometry", None)
        domain = getattr(geometry, "domain", None)
        self.periodic_sides = getattr(domain, "lateral", "symmetric") == "periodic"
        if self.periodic_sides and self.bundle.coordinates == "axisymmetric":
            raise SimulationError(
                "geometry.domain.lateral: 'periodic' sides are impossible in an axisymmetric "
                "section; allowed: 'symmetric'"
            )
        regions = set(self.bundle.regions) - {"electrolyte"}
        missing = sorted(regions - set(self.physics.interphase))
        if missing:
            raise SimulationError(
                f"physics.interphase: no material for the interphase region(s) {missing} "
                "of the mesh"
            )
        if self.physics.kinetics.model == "primary" and any(
            m.kinetics is not None for m in self.physics.interphase.values()
        ):
            raise SimulationError(
                "physics.interphase.<name>.kinetics: per-region kinetics cannot be combined with "
                "physics.kinetics.model 'primary'"
            )
        if self.mesh.topology.dim == 1:
            raise SimulationError("mesh: 1D meshes are not supported; use a flat 2D cell")

    def _setup_spaces(self) -> None:
        p = self.numerics.degree
        self.V = fem.functionspace(self.mesh, ("Lagrange", p))
        self.phi = fem.Function(self.V, name="potential")
        self.phi_s = fem.Constant(self.mesh, 0.0)
        self.control_value = fem.Constant(self.mesh, 0.0)
        self.theta = fem.Constant(self.mesh, 1.0)  # 0: linearised kinetics (continuation), 1: full
        self.potentials = [self.phi]  # the potential unknowns: Phi (and Phi_elyte when split)
        self.c = self.salt = None
        self.log_c = False
        if not self.has_submesh:
            return
        if self.split:
            # its own space object: Dirichlet conditions are matched to blocks by space
            self.Q_phi = fem.functionspace(self.domain.submesh, ("Lagrange", p))
            self.phi_elyte = fem.Function(self.Q_phi, name="electrolyte_potential")
            self.potentials.append(self.phi_elyte)
        if not self.binary:
            return
        self.Q = fem.functionspace(self.domain.submesh, ("Lagrange", p))
        choice = self.numerics.concentration_variable
        self._set_concentration_variable(
            self.time.mode == "transient" if choice == "auto" else choice == "log_c"
        )

    def _set_concentration_variable(self, log_c: bool) -> None:
        """Create the salt unknown at c = c_bulk: c itself, or u = ln(c/c_bulk).

        ``salt`` is the unknown, ``c_expr`` the concentration in the forms (c, or
        c_bulk exp(u)) and ``c`` a Function with its nodal values (the unknown itself when it
        is c; kept current by :meth:`_sync_concentration` otherwise).
        """
        self.log_c = log_c
        self.c = fem.Function(self.Q, name="concentration")
        self.c.x.array[:] = self.c_bulk
        self.salt, self.c_expr = self.c, self.c
        if log_c:
            self.salt = fem.Function(self.Q, name="log_concentration")  # u = 0: c = c_bulk
            self.c_expr = self._concentration_of(self.salt)
        order = 1 if self.time.scheme == "bdf1" else 2
        self.bdf = BDF(self.domain.submesh, [self.salt], order=order)

    def _concentration_of(self, u: Any) -> Any:
        """The concentration (UFL) of the salt unknown or of one of its history levels."""
        return self.c_bulk * ufl.exp(u) if self.log_c else u

    def _nodal_concentration(self, values: np.ndarray) -> np.ndarray:
        """Nodal concentrations from nodal values of the salt unknown."""
        return self.c_bulk * np.exp(values) if self.log_c else values

    def _sync_concentration(self) -> None:
        """Nodal c from u = ln(c/c_bulk) (nothing to do when c is the unknown)."""
        if self.log_c:
            self.c.x.array[:] = self._nodal_concentration(self.salt.x.array)

    def _block(self, region: str) -> int:
        """Index in ``potentials`` of the potential of a region (1: Phi_elyte when split)."""
        return 1 if self.split and region == "electrolyte" else 0

    def potential(self, region: str) -> fem.Function:
        """The Li-reference potential unknown of a region: Phi, or Phi_elyte when split."""
        return self.potentials[self._block(region)]

    def _region_kinetics(self, region: str, binary_side: bool) -> Kinetics:
        cfg = self.physics.kinetics
        if region != "electrolyte" and self.physics.interphase[region].kinetics is not None:
            cfg = self.physics.interphase[region].kinetics
        c_ref = self.c_bulk if binary_side else None
        return Kinetics.from_config(
            cfg, self.temperature, self.physics.reference_temperature, c_ref
        )

    def _setup_parts(self) -> None:
        """The kinetics of each Li-surface part (``Domain.parts``) and of a Li counter."""
        self.parts: list[_SurfacePart] = []
        for part in self.domain.parts:
            binary_side = self.binary and part.region == "electrolyte"
            kinetics = self._region_kinetics(part.region, binary_side)
            self.parts.append(
                _SurfacePart(part.region, part.tag, kinetics, binary_side, part.entities)
            )
        self.counter_kinetics = None
        if self.physics.counter.type == "li_electrode":
            # 'primary' is rejected here by PhysicsConfig's validation
            cfg = self.physics.counter.kinetics or self.physics.kinetics
            c_ref = self.c_bulk if self.binary else None
            self.counter_kinetics = Kinetics.from_config(
                cfg, self.temperature, self.physics.reference_temperature, c_ref
            )
        if self.binary:
            tdim = self.mesh.topology.dim
            dofs = fem.locate_dofs_topological(
                self.Q, tdim - 1, self.domain.sub_facet_tags.find(Domain.SUB_INTERFACE)
            )
            self._interface_c_dofs = dofs[dofs < self.Q.dofmap.index_map.size_local]

    def _check_interface(self) -> None:
        """Check the regions with an ion-transfer resistance R_it.

        Every region touching the electrolyte needs R_it > 0 (a mixed jump/continuity
        boundary is not supported), and only such regions may have one.

        The jump condition i.n = (Phi - Phi_elyte) / R_it is integrated over
        ``Domain.dS_it`` (restriction "+" on the electrolyte side).
        """
        touching = self.domain.interface_regions()
        for name, r_it in sorted(self.transfer_resistance.items()):
            if name not in touching:
                raise SimulationError(
                    f"physics.interphase.{name}.transfer_resistance: the region does not touch "
                    f"the electrolyte, so it has no ion-transfer boundary (got {r_it} ohm m^2); "
                    "allowed: 0"
                )
        without = sorted(touching - set(self.transfer_resistance))
        if without:
            raise SimulationError(
                f"physics.interphase.{without[0]}.transfer_resistance: every interphase region "
                "touching the electrolyte needs R_it > 0 when one has it (got 0 here, > 0 for "
                f"{sorted(self.transfer_resistance)}); allowed: > 0 for all of them, or 0 for all"
            )

    def _setup_scales(self) -> None:
        """Reference current density and residual scales."""
        control = self.physics.control
        values = [abs(s.value) for s in control.protocol] or [abs(control.constant_value())]
        j_scale = max(values) if control.mode == "galvanostatic" else 0.0
        i0 = 0.0 if self.primary else max(p.kinetics.i0 for p in self.parts)
        kappa = self.electrolyte.bulk("kappa") if self.binary else self.electrolyte.sigma
        self.i_ref = max(j_scale, i0, kappa / (self.f * self.domain.height))
        self.scale_phi = 1.0 / (self.i_ref * self.area)
        self.scale_c = FARADAY / (self.i_ref * self.area)

    # Geometry of the domain (names kept for tests and notebooks)
    @property
    def area(self) -> float:
        """Projected area A_proj (the counter boundary's weighted measure)."""
        return self.domain.area

    @property
    def li_area(self) -> float:
        """Weighted area of the whole Li surface."""
        return self.domain.li_area

    def _height(self) -> float:
        """Distance L of the counter boundary from the Li base plane."""
        return self.domain.height

    def _integrate(self, integrand: Any) -> float:
        return self.domain.integrate(integrand)

    def __getattr__(self, name: str) -> Any:
        """Measures, coordinates and submesh data of the ``Domain`` (``sim.dx``, ``sim.x``)."""
        if name in _DOMAIN_NAMES and "domain" in self.__dict__:
            return getattr(self.domain, name)
        raise AttributeError(name)

    # ------------------------------------------------------------------------------------------
    # Physics in UFL
    # ------------------------------------------------------------------------------------------
    def _region_model(self, name: str) -> SingleIonConductor | BinaryElectrolyte:
        if name == "electrolyte":
            return self.electrolyte
        mat = self.physics.interphase[name]
        factor = arrhenius(
            mat.conductivity_activation_energy, self.temperature, self.physics.reference_temperature
        )
        return SingleIonConductor(mat.conductivity * factor)

    def current_density(self, name: str) -> Any:
        """UFL ionic current density i (A/m^2) in region ``name``."""
        model = self._region_model(name)
        return model.current_density(
            self.potential(name), self.c_expr if self.binary and name == "electrolyte" else None
        )

    def _plating(self, kinetics: Kinetics, eta: Any, c_s: Any | None) -> Any:
        """j(eta, c_s) blended by theta with the secant-scaled linearised law (continuation)."""
        linear = Kinetics(
            "linear", kinetics.i0, kinetics.alpha_a, kinetics.alpha_c, kinetics.temperature
        )
        full = kinetics.plating_current(eta, c_s)
        if kinetics.model == "linear":
            return full
        secant = self._secants.setdefault(id(kinetics), (kinetics, fem.Constant(self.mesh, 1.0)))
        return self.theta * full + (1.0 - self.theta) * secant[1] * linear.plating_current(eta)

    def _set_secants(self, galvano: bool) -> None:
        """Make each linearised law pass through its rate law at the expected overpotential.

        Galvanostatic: the uniform overpotential of the applied J (-J at the counter);
        potentiostatic: the applied potential (its negative at the counter), an upper bound.
        Without this, J >> i0 would start the full kinetics at a linear-law overpotential of
        J R_ct, where the exponentials overflow.
        """
        value = float(self.control_value.value)
        for kinetics, factor in self._secants.values():
            sign = -1.0 if kinetics is self.counter_kinetics else 1.0
            eta = kinetics.overpotential(sign * value) if galvano else sign * value
            factor.value = kinetics.secant_factor(eta)

    def _surface_current(self, part: _SurfacePart, eta: Any) -> Any:
        """Normal Faradaic current density j on one part of li_surface (UFL)."""
        if self.primary:
            return ufl.dot(self.current_density(part.region), self.domain.n)
        return self._plating(part.kinetics, eta, self.c_expr if part.binary else None)

    def _charge_residuals(self, tests: list[Any], etas: list[Any]) -> list[Any]:
        """Unscaled charge residuals, one per potential unknown (tests[k] tests potentials[k]).

        Regions, Li-surface parts and the counter go to the block of their potential; with
        split potentials the jump flux g = (Phi - Phi_elyte) / R_it leaves the interphase block
        and enters the electrolyte block on the interphase | electrolyte boundary.
        """
        w, src = self.domain.weight, self.sources
        res: list[Any] = [0] * len(tests)
        for name, tag in self.bundle.regions.items():
            k = self._block(name)
            i = self.current_density(name)
            res[k] += -ufl.dot(i, ufl.grad(tests[k])) * w * self.domain.dx(tag)
            if "charge" in src:
                res[k] += -src["charge"](self.domain.x) * tests[k] * w * self.domain.dx(tag)
        for part in self.parts:
            k = self._block(part.region)
            if not self.primary:
                j = self._surface_current(part, etas[k])
                res[k] += j * tests[k] * w * self.domain.ds(part.tag)
            if "li_charge" in src:
                res[k] += src["li_charge"](self.domain.x) * tests[k] * w * self.domain.ds(part.tag)
        if self.counter_kinetics is not None:
            k = self._block("electrolyte")
            j_c = self._plating(self.counter_kinetics, -self.potentials[k], self.c_expr)
            res[k] += j_c * tests[k] * w * self.domain.ds(self.domain.tag("counter"))
        for name, r_it in self.transfer_resistance.items():
            # Phi and v are continuous: either restriction is the interphase-side trace
            g = (self.phi("+") - self.phi_elyte("+")) / r_it * self.domain.weight_plus
            dS = self.domain.dS_it(self.bundle.regions[name])
            res[0] += g * tests[0]("+") * dS
            res[1] += -g * tests[1]("+") * dS
        return res

    def _zero_form(self, space: fem.FunctionSpace) -> Any:
        """A zero linear form on ``space`` (a block without phi_s dependence)."""
        zero = fem.Constant(space.mesh, 0.0)
        return zero * ufl.TestFunction(space) * ufl.dx(domain=space.mesh)

    def _setup_forms(self) -> None:
        tests = [ufl.TestFunction(u.function_space) for u in self.potentials]
        etas = [ufl.variable(self.phi_s - u) for u in self.potentials]
        w = self.domain.weight
        res_phi = self._charge_residuals(tests, etas)
        if self.split:
            # a zero term on every cell puts the diagonal of the Phi dofs outside the interphase
            # (fixed to 0) into the Jacobian's sparsity pattern
            res_phi[0] += fem.Constant(self.mesh, 0.0) * self.phi * tests[0] * self.domain.dx
        total, d_total = 0, 0
        d_res_phi: list[Any] = [0] * len(tests)
        for part in self.parts:
            k = self._block(part.region)
            j = self._surface_current(part, etas[k])
            total += j * w * self.domain.ds(part.tag)
            if not self.primary:
                d_total += ufl.diff(j, etas[k]) * w * self.domain.ds(part.tag)
                d_res_phi[k] += ufl.diff(j, etas[k]) * tests[k] * w * self.domain.ds(part.tag)
        if self.primary:
            # The Li current as the reaction of the Dirichlet rows (the residual tested with 1 on
            # the Li dofs), which the discrete charge balance carries exactly, instead of the
            # gradient flux int i.n ds, which misses it by the discretisation error.
            indicators = []
            for k, u in enumerate(self.potentials):
                chi = fem.Function(u.function_space)
                chi.x.array[self._li_dofs(k)] = 1.0
                indicators.append(chi)
            total = -sum(self._charge_residuals(indicators, etas))
        for k, u in enumerate(self.potentials):
            if self.primary or isinstance(d_res_phi[k], int):
                # R_Phi does not depend on phi_s (primary: the Dirichlet rows do, via bcs_w)
                d_res_phi[k] = self._zero_form(u.function_space)
        self.surface_current_form = total
        self.d_surface_current_form = d_total
        forms_phi = [self.scale_phi * r for r in res_phi]
        d_forms_phi = [self.scale_phi * d for d in d_res_phi]
        src = self.sources
        if self.binary:
            q = ufl.TestFunction(self.Q)
            flux = self.electrolyte.anion_flux(self.potential("electrolyte"), self.c_expr)
            res_c = -ufl.dot(flux, ufl.grad(q)) * self.domain.weight_e * self.domain.dx_e
            if "salt" in src:
                res_c += (
                    -src["salt"](ufl.SpatialCoordinate(self.domain.submesh))
                    * q
                    * self.domain.weight_e
                    * self.domain.dx_e
                )
            if "li_salt" in src:
                xs = ufl.SpatialCoordinate(self.domain.submesh)
                ds_li = self.domain.ds_e(Domain.SUB_LI)
                res_c += src["li_salt"](xs) * q * self.domain.weight_e * ds_li
            self.res_c_steady = self.scale_c * res_c
            self.res_c_transient = self.scale_c * (
                res_c
                + self.bdf.ddt(self.salt, self._concentration_of)
                * q
                * self.domain.weight_e
                * self.domain.dx_e
            )
        bcs_phi, bcs_w_phi = self._potential_bcs()
        # Potential-only system (c frozen): continuation stages and single-ion electrolytes.
        self.sys_phi = self._make_system(
            list(self.potentials), forms_phi, d_forms_phi, bcs_phi, bcs_w_phi
        )
        self.sys_coupled = None
        if self.binary:
            res = self.res_c_transient if self.time.mode == "transient" else self.res_c_steady
            bcs_c = self._concentration_bcs()
            self.sys_coupled = self._make_system(
                [*self.potentials, self.salt],
                [*forms_phi, res],
                d_forms_phi,
                bcs_phi + bcs_c,
                bcs_w_phi,
            )

    def _potential_bcs(self) -> tuple[list[fem.DirichletBC], list[fem.DirichletBC]]:
        """Dirichlet conditions on the potentials and the matching ones of the phi_s-sensitivity w.

        Reservoir counter: Phi = 0 there (w = 0). Primary kinetics: Phi = phi_s on li_surface
        (w = -1). Split potentials: Phi = 0 (w = 0) on the dofs outside every interphase cell,
        where only Phi_elyte is an unknown.
        """
        bcs: list[fem.DirichletBC] = []
        bcs_w: list[fem.DirichletBC] = []

        def fix(space: fem.FunctionSpace, dofs: np.ndarray, value: Any, w_value: float) -> None:
            bcs.append(fem.dirichletbc(value, dofs, space))
            bcs_w.append(fem.dirichletbc(w_value, dofs, space))

        k = self._block("electrolyte")
        if self.physics.counter.type == "reservoir":
            fix(self.potentials[k].function_space, self._counter_dofs(k), 0.0, 0.0)
        if self.split:
            fix(self.V, self._outside_interphase_dofs(), 0.0, 0.0)
        if self.primary:
            for block, u in enumerate(self.potentials):
                fix(u.function_space, self._li_dofs(block), self.phi_s, -1.0)
        return bcs, bcs_w

    def _li_dofs(self, block: int) -> np.ndarray:
        """Local dofs of potentials[block] on the Li-surface parts whose potential it is."""
        mine = [p.tag for p in self.parts if self._block(p.region) == block]
        parent = np.concatenate(
            [np.zeros(0, dtype=np.int32)] + [self.domain.facet_tags.find(t) for t in mine]
        )
        return self._boundary_dofs(block, parent, self.domain.SUB_LI)

    def _counter_dofs(self, block: int) -> np.ndarray:
        """Local dofs of potentials[block] on the counter boundary."""
        parent = self.domain.facet_tags.find(self.domain.tag("counter"))
        return self._boundary_dofs(block, parent, self.domain.SUB_COUNTER)

    def _boundary_dofs(self, block: int, parent_facets: np.ndarray, sub_tag: int) -> np.ndarray:
        """Local dofs of potentials[block] on a boundary.

        The facets are ``parent_facets`` of the mesh for Phi (block 0), or those tagged
        ``sub_tag`` on the electrolyte submesh for Phi_elyte (block 1).
        """
        facets = self.domain.sub_facet_tags.find(sub_tag) if block == 1 else parent_facets
        space = self.potentials[block].function_space
        return fem.locate_dofs_topological(space, self.mesh.topology.dim - 1, facets)

    def _outside_interphase_dofs(self) -> np.ndarray:
        """Local dofs of V that belong to no interphase cell on any rank."""
        inside = fem.Function(self.V)
        cells = np.flatnonzero(self.domain.cell_region != self.bundle.regions["electrolyte"])
        inside.x.array[np.unique(self.V.dofmap.list[cells])] = 1.0
        inside.x.scatter_reverse(dolfinx.la.InsertMode.add)
        inside.x.scatter_forward()
        return np.flatnonzero(inside.x.array == 0.0).astype(np.int32)

    def _concentration_bcs(self) -> list[fem.DirichletBC]:
        if self.physics.counter.type != "reservoir":
            return []
        tdim = self.domain.submesh.topology.dim
        facets = self.domain.sub_facet_tags.find(self.domain.SUB_COUNTER)
        dofs = fem.locate_dofs_topological(self.Q, tdim - 1, facets)
        return [fem.dirichletbc(0.0 if self.log_c else self.c_bulk, dofs, self.Q)]

    def _submesh_facets(self, parent_facets: np.ndarray) -> np.ndarray:
        """Electrolyte-submesh facet indices of the given parent facets (matched by vertices)."""
        tdim = self.mesh.topology.dim
        self.mesh.topology.create_connectivity(tdim - 1, 0)
        self.domain.submesh.topology.create_connectivity(tdim - 1, 0)
        f2v = self.mesh.topology.connectivity(tdim - 1, 0)
        sub_f2v = self.domain.submesh.topology.connectivity(tdim - 1, 0)
        per_facet = len(f2v.links(0)) if len(f2v.offsets) > 1 else tdim
        imap = self.domain.submesh.topology.index_map(tdim - 1)
        n_sub = imap.size_local + imap.num_ghosts
        sub_vertices = sub_f2v.array.reshape(n_sub, per_facet)
        parent_of = self.vertex_map.sub_topology_to_topology(
            sub_vertices.reshape(-1).astype(np.int32), False
        ).reshape(n_sub, per_facet)
        wanted = f2v.array.reshape(-1, per_facet)[parent_facets]

        def keys(rows: np.ndarray) -> np.ndarray:
            rows = np.ascontiguousarray(np.sort(rows, axis=1).astype(np.int64))
            return rows.view(np.dtype((np.void, rows.dtype.itemsize * per_facet))).ravel()

        return np.flatnonzero(np.isin(keys(parent_of), keys(wanted))).astype(np.int32)

    def _make_system(
        self,
        unknowns: list[fem.Function],
        forms: list[ufl.Form],
        d_forms_phi: list[ufl.Form],
        bcs: list[fem.DirichletBC],
        bcs_w: list[fem.DirichletBC],
    ) -> BorderedSystem:
        """Compile residual, Jacobian, phi_s-sensitivity and constraint forms of a system."""
        maps = self.domain.maps
        jac = [[ufl.derivative(Fi, u) for u in unknowns] for Fi in forms]
        jac = [[None if a.empty() else a for a in row] for row in jac]
        d_phis = list(d_forms_phi) + [
            self._zero_form(u.function_space) for u in unknowns[len(d_forms_phi) :]
        ]
        galvano = self.physics.control.mode == "galvanostatic" or any(
            s.kind == "rest" for s in self.physics.control.protocol
        )
        dG = None
        if galvano:
            g_form = (1.0 / (self.area * self.i_ref)) * self.surface_current_form
            dG = [fem.form(ufl.derivative(g_form, u), entity_maps=maps) for u in unknowns]
            self.G_form = fem.form(g_form, entity_maps=maps)
            self.dG_dphis_form = None
            if not self.primary:
                self.dG_dphis_form = fem.form(
                    (1.0 / (self.area * self.i_ref)) * self.d_surface_current_form, entity_maps=maps
                )
        names = [*self.potential_names, "u" if self.log_c else "c"][: len(unknowns)]
        c_scale = 1.0 if self.log_c else self.c_bulk  # step norm: Phi in RT/F, c in c_bulk
        system = BorderedSystem(
            unknowns=unknowns,
            F=fem.form(forms, entity_maps=maps),
            J=fem.form(jac, entity_maps=maps),
            dF_dphis=fem.form(d_phis, entity_maps=maps),
            dG_du=dG,
            bcs=bcs,
            bcs_w=bcs_w,
            scales=[c_scale if u is self.salt else self._volt_scale for u in unknowns],
            border_scale=self._volt_scale,
            comm=self.comm,
            lin=Linearisation(unknowns, names),
            coefficients=self._bdf_coefficients,
        )
        spaces = [u.function_space for u in unknowns]
        system.A = dolfinx.fem.petsc.create_matrix(system.J)
        for name in ("b", "x", "dx0", "w", "rhs_w", "g_u"):  # blocked layout, even for one field
            setattr(system, name, dolfinx.fem.petsc.create_vector(spaces, kind=PETSc.Vec.Type.MPI))
        by_field = fem.bcs_by_block(fem.extract_function_spaces(system.F), bcs)
        if self.periodic_sides:
            try:
                system.periodic = PeriodicConstraint(spaces, by_field)
            except ValueError as err:
                raise SimulationError(str(err)) from err
        size = sum(V.dofmap.index_map.size_global for V in spaces)
        coupled = self.binary and len(unknowns) > len(self.potentials)
        options = _default_petsc_options(self.numerics, coupled, size)
        transform, splits = None, []
        if coupled and options.get("ksp_type") != "preonly":
            # Krylov solves of the coupled system work on L J (solver.linear): same solution.
            transform, splits = self._migration_elimination(spaces, by_field, system.periodic)
        system.linear = LinearSolver(
            self.comm, f"lidep_{id(system)}_", options, transform, splits, system.periodic
        )
        system.ksp = system.linear.ksp
        return system

    def _migration_elimination(
        self,
        spaces: list[fem.FunctionSpace],
        bcs_by_field: list[list[fem.DirichletBC]],
        periodic: PeriodicConstraint | None,
    ) -> tuple[PETSc.Mat, list[tuple[str, PETSc.IS]]]:
        """L of ``solver.linear.migration_elimination`` and the c | potentials field split.

        The c-rows take t_- times the rows of the electrolyte's potential (Phi, or Phi_elyte
        when split; the last potential block) at the same points.
        """
        partner = len(self.potentials) - 1
        cmap = self.domain.submesh.topology.index_map(self.domain.submesh.topology.dim)
        cells = np.arange(cmap.size_local + cmap.num_ghosts, dtype=np.int32)
        if spaces[partner].mesh is not self.domain.submesh:  # Phi on the mesh: the parent cells
            cells = self.domain.emap.sub_topology_to_topology(cells, False)
        fixed = [
            np.concatenate([bc.dof_indices()[0] for bc in bcs] + [np.zeros(0, dtype=np.int32)])
            for bcs in bcs_by_field
        ]
        transform = migration_elimination(
            spaces, partner, cells, 1.0 - self.electrolyte.bulk("t_plus"), fixed, self.comm
        )
        rows = field_index_sets(spaces, self.comm, None if periodic is None else periodic.P)
        potentials = PETSc.IS().createGeneral(
            np.concatenate([r.getIndices() for r in rows[:-1]]).astype(PETSc.IntType),
            comm=self.comm,
        )
        return transform, [("c", rows[-1]), ("phi", potentials)]

    # ------------------------------------------------------------------------------------------
    # Bordered Newton
    # ------------------------------------------------------------------------------------------
    def _galvanostatic_now(self, step: ProtocolStep | None) -> bool:
        return self.physics.control.mode == "galvanostatic" or (
            step is not None and step.kind == "rest"
        )

    @property
    def _volt_scale(self) -> float:
        return 1.0 / self.f

    def newton(self, sys: BorderedSystem, galvano: bool, reuse: bool = False) -> NewtonResult:
        """Newton solve; a converged state with c < 0 anywhere is reported as not converged.

        With c as the unknown, beyond the limiting current a spurious branch with negative
        concentrations exists (kappa ~ c changes sign); rejecting it makes a transient step be
        cut and a steady run fail (or retry in ln c) with that reason instead of returning an
        unphysical state. With u = ln(c/c_bulk) it cannot occur. Updates the nodal c.
        """
        num = self.numerics
        options = NewtonOptions(num.newton_max_it, num.newton_atol, num.newton_rtol,
                                num.newton_stol, num.line_search == "backtracking")
        result = sys.solve(self._border(galvano), options, reuse)
        coupled = any(u is self.salt for u in sys.unknowns)
        if coupled:
            self._sync_concentration()
        if result.converged and coupled:
            n_owned = self.Q.dofmap.index_map.size_local
            c_min = self.comm.allreduce(
                float(self.c.x.array[:n_owned].min(initial=np.inf)), op=MPI.MIN
            )
            if c_min < 0.0:
                return NewtonResult(
                    False,
                    result.iterations,
                    result.residual,
                    f"negative concentration (min c = {c_min:.3g} mol/m^3; beyond the limiting "
                    "current or depleted)",
                )
        return result

    def _border(self, galvano: bool) -> Border:
        """phi_s and its equation: the scaled galvanostatic constraint, or phi_s = V."""
        if galvano:
            return ConstraintBorder(self.phi_s, self.G_form,
                                    lambda: float(self.control_value.value) / self.i_ref,
                                    self.dG_dphis_form, self.comm)
        return FixedBorder(self.phi_s, self.control_value, self._volt_scale)

    def _bdf_coefficients(self) -> list[float]:
        """The BDF coefficients in the forms now (the Jacobian depends on a0)."""
        if not self.binary:
            return []
        return [float(a.value) for a in (self.bdf.a0, self.bdf.a1, self.bdf.a2)]

    def rebuild_linearisation(self) -> None:
        """Factorise the time steps' Jacobian at the loaded linearisation point (and take its w).

        A resumed run then reuses the very Jacobian the uninterrupted run reused.
        """
        sys = self._transient_system
        lin = sys.lin
        if lin.factorised:
            saved = [u.x.array.copy() for u in sys.unknowns]
            phis = float(self.phi_s.value)
            for u, point in zip(sys.unknowns, lin.point, strict=True):
                u.x.array[:] = point.x.array
            self.phi_s.value = lin.phi_s
            if self.binary:
                self.bdf.a0.value, self.bdf.a1.value, self.bdf.a2.value = lin.coefficients
            w_current = lin.w_current
            sys.factorise(lin.phi_s)
            lin.w_current = w_current
            for u, values in zip(sys.unknowns, saved, strict=True):
                u.x.array[:] = values
            self.phi_s.value = phis
        if lin.w_current:
            dolfinx.fem.petsc.assign(lin.w, sys.w)
            sys.w.ghostUpdate(PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)

    @property
    def _transient_system(self) -> BorderedSystem:
        """The system the time steps solve: potentials and c, or the potentials alone."""
        return self.sys_coupled if self.binary else self.sys_phi

    # ------------------------------------------------------------------------------------------
    # Solution stages
    # ------------------------------------------------------------------------------------------
    def _initial_phis(self, galvano: bool) -> None:
        """A starting phi_s: the applied potential, or eta(J) - J L / kappa.

        eta(J) is the uniform overpotential of J on the fastest surface part.
        """
        if not galvano:
            self.phi_s.value = float(self.control_value.value)
            return
        J = float(self.control_value.value)
        eta = 0.0
        if not self.primary:
            fastest = min(self.parts, key=lambda p: p.kinetics.charge_transfer_resistance)
            eta = fastest.kinetics.overpotential(J)
            if eta is None:
                eta = -J * fastest.kinetics.charge_transfer_resistance
        kappa = self.electrolyte.bulk("kappa") if self.binary else self.electrolyte.sigma
        self.phi_s.value = eta - J * self.domain.height / kappa

    def _solve_static(self, step: ProtocolStep | None) -> NewtonResult:
        """Steady solve (or the consistent initial potential at t = 0) with continuation."""
        galvano = self._galvanostatic_now(step)
        stages = [1.0]
        if self.numerics.continuation and not self.primary:
            stages = [0.0, 1.0]
        if np.all(np.isclose(self.phi.x.array, 0.0)):
            self._initial_phis(galvano)
            self._apply_bc_values()
        self._set_secants(galvano)
        result = NewtonResult(True, 0, 0.0, "nothing to solve")
        for theta in stages:
            self.theta.value = theta
            result = self.newton(self.sys_phi, galvano)
            self.log.debug("potential stage theta=%g: %s", theta, result)
            if not result.converged:
                return result
        if self.binary and self.time.mode == "steady":
            result = self.newton(self.sys_coupled, galvano)
            self.log.debug("coupled stage: %s", result)
            if not result.converged and self._retry_in_log_c():
                self.log.info(
                    "steady solve with c as the unknown failed (%s); solving for ln c",
                    result.reason,
                )
                result = self._ramp_control(galvano)
        return result

    def _ramp_control(self, galvano: bool) -> NewtonResult:
        """Coupled steady solve by continuation in the control value from equilibrium.

        Solves at lam times the applied value for lam rising from 0 (zero potentials, c =
        c_bulk: the exact solution at zero current or potential) to 1, each solve starting from
        the last; the increment doubles after a success and is quartered after a failure,
        giving up below 1e-4.
        """
        target = float(self.control_value.value)
        for u in self.potentials:
            u.x.array[:] = 0.0
        self.phi_s.value = 0.0
        self.salt.x.array[:] = 0.0 if self.log_c else self.c_bulk
        lam, increment = 0.0, 0.125
        result = NewtonResult(True, 0, 0.0, "nothing to solve")
        while lam < 1.0 and increment >= 1e-4:
            saved = [u.x.array.copy() for u in self.sys_coupled.unknowns]
            phis = float(self.phi_s.value)
            trial = min(1.0, lam + increment)
            self.control_value.value = trial * target
            result = self.newton(self.sys_coupled, galvano)
            self.log.debug("control continuation at %g of the applied value: %s", trial, result)
            if result.converged:
                lam, increment = trial, 2.0 * increment
                continue
            for u, values in zip(self.sys_coupled.unknowns, saved, strict=True):
                u.x.array[:] = values
            self.phi_s.value = phis
            self._sync_concentration()
            increment /= 4.0
        self.control_value.value = target
        return result

    def _retry_in_log_c(self) -> bool:
        """Switch the salt unknown to ln c when numerics.concentration_variable allows it.

        Recompiles the forms with c = c_bulk exp(u), u = 0 (the state the coupled stage starts
        from). Returns whether it switched.
        """
        if self.log_c or self.numerics.concentration_variable != "auto":
            return False
        self._set_concentration_variable(True)
        self._setup_forms()
        self._setup_sampling()
        return True

    def _apply_bc_values(self) -> None:
        sys = self.sys_phi
        by_block = fem.bcs_by_block(fem.extract_function_spaces(sys.F), sys.bcs)
        for u, bcs in zip(sys.unknowns, by_block, strict=True):
            for bc in bcs:
                bc.set(u.x.array, alpha=1.0)
            u.x.scatter_forward()

    # ------------------------------------------------------------------------------------------
    # Run
    # ------------------------------------------------------------------------------------------
    def _protocol(self) -> Protocol:
        control = self.physics.control
        if control.protocol:
            steps = [ProtocolStep(s.kind, s.duration, s.value) for s in control.protocol]
            return Protocol(steps, control.cycles)
        return Protocol.constant(control.constant_value())

    def run(self) -> Iterator[Snapshot]:
        """Steady: one snapshot. Transient: snapshots at the output times (t_end included).

        Raises:
            SimulationError: A solve failed. A transient run first yields the last good state
                (an extra snapshot unless it was just output; its events name the failure).
        """
        if self.time.mode == "steady":
            self.solve_steady()
            yield self.snapshot(0.0)
            return
        yield from self._run_transient(self._protocol())

    def solve_steady(self) -> NewtonResult:
        """Solve the steady problem at the initial control value (no snapshot).

        Raises:
            SimulationError: The Newton iteration did not converge.
        """
        step = self._protocol().step_at(0.0)
        self.control_value.value = step.applied
        result = self._solve_static(step)
        if not result.converged:
            raise SimulationError(
                f"steady solve did not converge: {result.reason} (residual {result.residual:.3e})"
            )
        return result

    def _run_transient(self, protocol: Protocol) -> Iterator[Snapshot]:
        """The consistent initial state (or the checkpoint's), then the time driver's loop."""
        driver = self.time_driver(protocol)
        if self.resume_from is not None:
            driver.resume(self.resume_from)
        else:
            step0 = protocol.step_at(0.0)
            self.control_value.value = step0.applied
            result = self._solve_static(step0)
            if not result.converged:
                raise SimulationError(
                    f"initial potential solve did not converge: {result.reason}"
                )
            driver.state.levels = [driver.state.copy()]
            if driver.state.controller.output_at_start:
                yield self.snapshot(0.0)
                driver.state.last_output = 0.0
        yield from driver.run()

    def time_driver(self, protocol: Protocol) -> TimeDriver:
        """The time driver of this problem: its State, step controller and events."""
        if self.driver is not None:
            return self.driver
        blocks = {name: u for name, u in zip(self.potential_names, self.potentials, strict=True)}
        events: dict[str, DepletionEvent] = {}
        if self.binary:
            blocks["u" if self.log_c else "c"] = self.salt
            events["depletion"] = DepletionEvent(
                self._min_surface_concentration_both,
                self.physics.events.depletion_fraction * self.c_bulk,
                self.c_bulk,
                self.physics.events.on_depletion == "stop",
            )
        ctrl = StepController.from_config(self.time, protocol.breakpoints(self.time.t_end))
        state = State(blocks, self.potential_names, self.phi_s,
                      self.bdf if self.binary else None, ctrl, events)
        state.messages = self.events  # one list: snapshots report the run's messages
        state.observers = self.observers
        state.linearisation = self._transient_system.lin
        self.driver = TimeDriver(self, state, protocol, self.comm, self.log, self.step_listeners,
                                 self.checkpoint, self.time.checkpoint_interval)
        return self.driver

    @property
    def potential_names(self) -> list[str]:
        """Names of the potential blocks of the State: Phi (and Phi_elyte when split)."""
        return ["Phi", "Phi_elyte"][: len(self.potentials)]

    @property
    def t(self) -> float:
        """Time of the newest accepted state, s (0 before a transient run, and when steady)."""
        return 0.0 if self.driver is None else self.driver.state.t

    @property
    def depletion_time(self) -> float | None:
        """Time of the depletion event, s (None before it or without a salt balance)."""
        event = None if self.driver is None else self.driver.state.events.get("depletion")
        return None if event is None else event.time

    def apply_control(self, step: ProtocolStep) -> bool:
        """Set the control of a protocol step; True when phi_s is an unknown (galvanostatic)."""
        self.control_value.value = step.applied
        galvano = self._galvanostatic_now(step)
        if not galvano:
            self.phi_s.value = step.applied
        return galvano

    def solve_step(self, galvanostatic: bool) -> NewtonResult:
        """Newton solve of one time step from the predicted state."""
        return self.newton(self._transient_system, galvanostatic,
                           reuse=self.numerics.reuse_jacobian)

    def error_estimate(self) -> float | None:
        """Local error norm of the salt unknown's step (None when it is not controlled)."""
        if not (self.binary and self.driver.state.controller.needs_error):
            return None
        return self.bdf.error_estimate(self.time.rtol, self.time.atol, self._nodal_concentration)

    def after_restore(self) -> None:
        """Nodal c after the salt unknown was restored or loaded."""
        if self.binary:
            self._sync_concentration()

    def _min_surface_concentration_both(self) -> float:
        """Minimum surface concentration of the working and the counter electrode, mol/m^3."""
        return min(self._min_surface_concentration(), self._min_surface_concentration(True))

    # ------------------------------------------------------------------------------------------
    # Output
    # ------------------------------------------------------------------------------------------
    def _min_surface_concentration(self, counter: bool = False) -> float:
        """Minimum c at the Li-surface quadrature points (allreduced).

        Args:
            counter: Sample the Li counter electrode instead of the working side: the bare Li
                surface (quadrature points) and the interphase | electrolyte boundary (dofs),
                where Li+ leaves the electrolyte.
        """
        values = [np.inf]
        if counter:
            if (-1, "c") in self._facet_expressions:
                values.append(float(self._eval_facets(-1, "c").min(initial=np.inf)))
        else:
            for k, part in enumerate(self.parts):
                if part.binary:
                    values.append(float(self._eval_facets(k, "c").min(initial=np.inf)))
            values.append(float(self.c.x.array[self._interface_c_dofs].min(initial=np.inf)))
        return self.comm.allreduce(min(values), op=MPI.MIN)

    def _setup_sampling(self) -> None:
        """Compile the Li-surface sampling Expressions (collective: on every rank, once)."""
        tdim = self.mesh.topology.dim
        facet_type = basix.cell.sub_entity_type(self.mesh.basix_cell(), tdim - 1, 0)
        points, self._facet_weights = basix.make_quadrature(
            facet_type, 2 * self.numerics.degree + 2
        )
        maps = self.domain.maps
        detj = ufl.classes.FacetJacobianDeterminant(self.mesh)
        self._facet_expressions: dict[tuple[int, str], fem.Expression] = {}
        for k, part in enumerate(self.parts):
            j = self._surface_current(part, self.phi_s - self.potential(part.region))
            exprs = {"x": self.domain.x, "detj": abs(detj), "j": j}
            if part.binary:
                exprs["c"] = self.c_expr
            for name, expr in exprs.items():
                self._facet_expressions[k, name] = fem.Expression(expr, points, entity_maps=maps)
        if self.binary and self.counter_kinetics is not None:
            self._facet_expressions[-1, "c"] = fem.Expression(
                self.c_expr, points, entity_maps=maps
            )

    def _eval_facets(self, k: int, name: str) -> np.ndarray:
        """Values of a sampling Expression at the quadrature points of part k (rank-local)."""
        entities = self.domain.counter_entities if k == -1 else self.parts[k].entities
        expression = self._facet_expressions[k, name]
        width = int(np.prod(expression.value_shape, dtype=int))
        # eval is collective when coefficients live on the submesh: call it on every rank
        values = expression.eval(self.mesh, np.asarray(entities, dtype=np.int32).reshape(-1, 2))
        return values.reshape(len(entities) * len(self._facet_weights), width)

    def surface_sample(self) -> SurfaceSample:
        """Rank-local quadrature-point sample of the Li surface."""
        xs, ws, js, cs = [], [], [], []
        for k, part in enumerate(self.parts):
            x = self._eval_facets(k, "x")
            weight = self._eval_facets(k, "detj").reshape(-1) * np.tile(
                self._facet_weights, len(part.entities)
            )
            if self.domain.axisym:
                weight *= 2.0 * math.pi * x[:, 0]
            xs.append(np.pad(x, ((0, 0), (0, 3 - x.shape[1]))))
            ws.append(weight)
            js.append(self._eval_facets(k, "j").reshape(-1))
            if part.binary:
                cs.append(self._eval_facets(k, "c").reshape(-1))
            else:
                cs.append(np.full(weight.shape, np.nan))
        return SurfaceSample(
            np.vstack(xs), np.concatenate(ws), np.concatenate(js), np.concatenate(cs)
        )

    def _project(
        self, expressions: dict[str, Any], shape: tuple[int, ...], name: str
    ) -> fem.Function:
        """L2 projection of region-wise expressions onto DG_{p-1} (exact cell-local solve)."""
        degree = max(self.numerics.degree - 1, 0)
        space = fem.functionspace(self.mesh, ("DG", degree, shape))
        u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
        # Scaled by 1/|cell| so that nanometre cells do not trip the factorisation's zero-pivot
        # threshold (the projection itself is unchanged).
        scale = 1.0 / self.domain.cell_volume
        a = scale * ufl.inner(u, v) * self.domain.dx
        maps = self.domain.maps
        out = fem.Function(space, name=name)
        part = fem.Function(space)
        # One region at a time: the DG mass matrix is cell-diagonal, so each projection is zero
        # outside its region (and a form never mixes the electrolyte's c with other cells).
        for region, expr in expressions.items():
            problem = dolfinx.fem.petsc.LinearProblem(
                a,
                scale * ufl.inner(expr, v) * self.domain.dx(self.bundle.regions[region]),
                u=part,
                petsc_options_prefix=f"lidep_projection_{name}_{region}_",
                petsc_options={"ksp_type": "preonly", "pc_type": "bjacobi", "sub_pc_type": "ilu"},
                entity_maps=maps,
            )
            problem.solve()
            out.x.array[:] += part.x.array
        return out

    def _electrostatic_potential(self, region: str) -> Any:
        """Phi = Phi - (RT/F) ln(c/c_bulk) in a binary electrolyte, Phi in single-ion conductors."""
        if self.binary and region == "electrolyte":
            log_ratio = self.salt if self.log_c else ufl.ln(self.c / self.c_bulk)
            return self.potential(region) - log_ratio / self.f
        return self.potential(region)

    def snapshot(self, t: float) -> Snapshot:
        """Fields, surface sample, scalars, dimensionless numbers and events at time t."""
        regions = list(self.bundle.regions)
        gdim = self.mesh.geometry.dim
        current = self._project(
            {r: self.current_density(r) for r in regions}, (gdim,), "current_density"
        )
        strength = self._project(
            {
                r: ufl.sqrt(
                    ufl.dot(
                        ufl.grad(self._electrostatic_potential(r)),
                        ufl.grad(self._electrostatic_potential(r)),
                    )
                )
                for r in regions
            },
            (),
            "field_strength",
        )
        # copies: the live unknowns change with the next step
        fields = {
            "potential": self._potential_field(),
            "current_density": current,
            "field_strength": strength,
        }
        if self.binary:
            fields["concentration"] = self.c.copy()
            fields["concentration"].name = "concentration"
        sample = self.surface_sample()
        scalars = self.scalars()
        return Snapshot(
            t=t,
            fields=fields,
            surface=sample,
            scalars=scalars,
            dimensionless=self.dimensionless(t, scalars["current_mean"]),
            events=list(self.events),
        )

    def _potential_field(self) -> fem.Function:
        """Phi for output (a copy).

        The unknown itself, or, with split potentials, a discontinuous Lagrange field holding Phi
        in the interphase cells and Phi_elyte in the electrolyte cells.
        """
        if not self.split:
            out = self.phi.copy()
            out.name = "potential"
            return out
        tdim = self.mesh.topology.dim
        if getattr(self, "_potential_space", None) is None:
            self._potential_space = fem.functionspace(self.mesh, ("DG", self.numerics.degree))
        out = fem.Function(self._potential_space, name="potential")
        owned = self.mesh.topology.index_map(tdim).size_local
        interphase = np.flatnonzero(
            self.domain.cell_region[:owned] != self.bundle.regions["electrolyte"]
        ).astype(np.int32)
        out.interpolate(self.phi, cells0=interphase, cells1=interphase)
        sub = np.arange(self.domain.submesh.topology.index_map(tdim).size_local, dtype=np.int32)
        parent = self.domain.emap.sub_topology_to_topology(sub, False).astype(np.int32)
        out.interpolate(self.phi_elyte, cells0=sub, cells1=parent)
        out.x.scatter_forward()
        return out

    def scalars(self) -> dict[str, float]:
        """Global scalars (allreduced)."""
        eta = sum(
            (self.phi_s - self.potential(p.region)) * self.domain.weight * self.domain.ds(p.tag)
            for p in self.parts
        )
        out = {
            "cell_voltage": float(self.phi_s.value),
            "current_mean": self.domain.integrate(self.surface_current_form) / self.area,
            "overpotential_mean": self.domain.integrate(eta) / self.li_area,
            "leakage_current": self.leakage_current(),
            "projected_area": self.area,
            "li_surface_area": self.li_area,
            "counter_current": self.counter_current(),
        }
        if self.binary:
            d = self.domain
            out["salt_inventory"] = d.integrate(self.c_expr * d.weight_e * d.dx_e)
            out["min_surface_concentration"] = self._min_surface_concentration()
            if self.counter_kinetics is not None:
                out["min_counter_concentration"] = self._min_surface_concentration(counter=True)
            out["depletion_time"] = math.nan if self.depletion_time is None else self.depletion_time
        else:
            out["min_surface_concentration"] = math.nan
        return out

    def counter_current(self) -> float:
        """Mean current density through the counter boundary (plating on the working Li > 0).

        For a reservoir this is the reaction of the charge equation at the counter dofs (the
        residual without boundary conditions tested with 1 there), exact to solver tolerance.
        """
        k = self._block("electrolyte")
        if self.physics.counter.type == "li_electrode":
            j_c = self._plating(self.counter_kinetics, -self.potentials[k], self.c_expr)
            d = self.domain
            return -d.integrate(j_c * d.weight * d.ds(d.tag("counter"))) / self.area
        chi = fem.Function(self.potentials[k].function_space)
        chi.x.array[self._counter_dofs(k)] = 1.0
        tests = [ufl.TestFunction(u.function_space) for u in self.potentials]
        tests[k] = chi
        etas = [self.phi_s - u for u in self.potentials]
        return self.domain.integrate(self._charge_residuals(tests, etas)[k]) / self.area

    def leakage_current(self) -> float:
        """Mean electronic leakage current density through leaky interphase regions, A/m^2.

        Solves div(sigma_e grad(phi_e)) = 0 in the regions with sigma_e > 0, phi_e = phi_s on
        their Li surface, phi_e = Phi where they touch the electrolyte (deposition there at
        equilibrium), insulating elsewhere; returns int -sigma_e grad(phi_e).n over li_surface /
        A_proj (positive when electrons leave the Li, i.e. reduction at the outer surface).
        """
        leaky = {
            name: mat.electronic_conductivity
            for name, mat in self.physics.interphase.items()
            if mat.electronic_conductivity > 0.0 and name in self.bundle.regions
        }
        if not leaky:
            return 0.0
        tdim = self.mesh.topology.dim
        cells = np.concatenate([self.bundle.cell_tags.find(self.bundle.regions[n]) for n in leaky])
        free = np.zeros(
            self.V.dofmap.index_map.size_local + self.V.dofmap.index_map.num_ghosts, dtype=bool
        )
        free[np.unique(self.V.dofmap.list[cells])] = True
        other_cells = np.setdiff1d(np.arange(len(self.domain.cell_region)), cells)
        free[np.unique(self.V.dofmap.list[other_cells])] = False
        li_facets = np.concatenate(
            [self.domain.facet_tags.find(p.tag) for p in self.parts if p.region in leaky]
        )
        li_dofs = fem.locate_dofs_topological(self.V, tdim - 1, li_facets)
        free[li_dofs] = False
        fixed = np.flatnonzero(~free).astype(np.int32)
        phi_e = fem.Function(self.V, name="electronic_potential")
        phi_e.x.array[:] = self.phi.x.array
        phi_e.x.array[li_dofs] = float(self.phi_s.value)
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        sigma_max = max(leaky.values())
        zero = fem.Constant(self.mesh, 0.0)
        # Stiffness scaled by 1/sigma_max; the zero mass term over the whole mesh puts the
        # diagonal of every (fixed) dof into the sparsity pattern.
        a = zero * u * v * self.domain.dx + sum(
            (s / sigma_max)
            * ufl.dot(ufl.grad(u), ufl.grad(v))
            * self.domain.weight
            * self.domain.dx(self.bundle.regions[n])
            for n, s in leaky.items()
        )
        bc = fem.dirichletbc(phi_e.copy(), fixed)
        problem = dolfinx.fem.petsc.LinearProblem(
            a,
            zero * v * self.domain.dx,
            bcs=[bc],
            u=phi_e,
            petsc_options_prefix="lidep_leakage_",
            petsc_options={
                "ksp_type": "preonly",
                "pc_type": "lu",
                "pc_factor_mat_solver_type": "mumps",
            },
        )
        problem.solve()
        flux = 0
        for part in self.parts:
            if part.region in leaky:
                flux += (
                    -leaky[part.region]
                    * ufl.dot(ufl.grad(phi_e), self.domain.n)
                    * self.domain.weight
                    * self.domain.ds(part.tag)
                )
        return self.domain.integrate(flux) / self.area

    def dimensionless(self, t: float, current_mean: float) -> dict[str, float]:
        """Wagner numbers, J/J_lim and t/t_Sand (solver.dimensionless).

        The charge-transfer resistance is that of the Li-surface parts in parallel, each with
        its own kinetics, weighted by its share of the Li area.
        """
        fractions = [a / self.li_area for a in self.domain.part_areas]
        surface_parts = [
            (f, math.inf if self.primary else p.kinetics.i0, p.kinetics.alpha_a,
             p.kinetics.alpha_c)
            for f, p in zip(fractions, self.parts, strict=True)
        ]
        kappa = self.electrolyte.bulk("kappa") if self.binary else self.electrolyte.sigma
        apex = self.domain.apex
        length = (
            float(apex[self.mesh.topology.dim - 1])
            if apex is not None and apex[self.mesh.topology.dim - 1] > 0
            else self.domain.height
        )
        layers = [
            (volume / self.li_area, self._region_model(name).sigma)
            for name, volume in self.domain.volumes.items()
            if name != "electrolyte"
        ]
        r_it = 0.0  # the boundary's conductance per Li area, inverted (phases in parallel)
        if self.split:
            conductance = sum(
                self.domain.interface_areas[name] / r
                for name, r in self.transfer_resistance.items()
            )
            r_it = self.li_area / conductance
        numbers = dimensionless_numbers(
            kappa=kappa,
            length=length,
            surface_parts=surface_parts,
            temperature=self.temperature,
            current_density=current_mean,
            t=t,
            layers=layers,
            transfer_resistance=r_it,
            D=self.electrolyte.bulk("diffusivity") if self.binary else None,
            c_bulk=self.c_bulk if self.binary else None,
            t_plus=self.electrolyte.bulk("t_plus") if self.binary else 1.0,
            L=self.domain.height,
            cell="symmetric" if self.closed else "reservoir",
        )
        return numbers.as_dict()
