"""``Simulation``: the terms of the model summed into bordered Newton systems, and a time loop.

Unknowns (``docs/theory.md``): Phi (V) on every ionic cell of the mesh (electrolyte and
interphase regions, continuous, Lagrange degree p), c (mol/m^3) on a submesh of the
``electrolyte`` cells for binary electrolytes (as c itself or as u = ln(c/c_bulk), with
c = c_bulk exp(u) in every form: ``numerics.concentration_variable``), and the Li potential
phi_s (V), a global scalar that is given (potentiostatic) or solved for (galvanostatic) with a
bordered Newton method. With an interfacial ion-transfer resistance R_it > 0 the potential is
split: Phi lives on the interphase cells and Phi_elyte on the electrolyte submesh.

The model is the list of physics terms present (``solver.physics``: conduction per region,
salt transport, Faradaic kinetics or primary contact, counter electrode, ion transfer,
control, leakage); the residuals are their sums, scaled to be dimensionless (i_ref: reference
current density, A_proj: projected Li area, w = 2 pi r in axisymmetric coordinates, 1
otherwise)::

    R_Phi = [ sum_terms (charge contributions) ] / (i_ref A_proj)
    R_c   = [ sum_terms (salt contributions) + int dc/dt q w dx_e ] F / (i_ref A_proj)
    G     = [ int_li j w ds / A_proj - J ] / i_ref          (galvanostatic)
    G     = phi_s - V                                       (potentiostatic)
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from solver.continuation import Ramp, Reformulate, Stages
from solver.domain import Domain
from solver.driver import DepletionEvent, SimulationError, TimeDriver
from solver.forms import compile_forms
from solver.geometry.bundle import MeshBundle
from solver.growth.contact import ContactExhausted, ContactLoss, contact_indicator
from solver.growth.coupling import SurfaceGrowth
from solver.growth.remesh import Remesher
from solver.growth.thickening import interphase_thickening
from solver.kinetics import Kinetics
from solver.lifted_forms import lift_form
from solver.linear import (
    LinearSolver,
    default_options,
    field_index_sets,
    migration_elimination,
)
from solver.newton import BorderedSystem, NewtonOptions, NewtonResult
from solver.observers import (
    CellVoltage,
    CounterCurrent,
    DimensionlessNumbers,
    Fixed,
    Integral,
    LeakageCurrent,
    MeanOverpotential,
    MinSurfaceConcentration,
    Observer,
    SaltInventory,
    SurfaceSampler,
)
from solver.periodic import PeriodicConstraint
from solver.physics.conduction import IonicConduction
from solver.physics.control import Control
from solver.physics.counter import LiCounter, ReservoirCounter
from solver.physics.faradaic import FaradaicKinetics, PrimaryContact
from solver.physics.leakage import ElectronicLeakage
from solver.physics.salt import SaltTransport
from solver.physics.sources import ManufacturedSources
from solver.physics.surface_energy import SurfaceEnergy
from solver.physics.term import Term, Unknowns
from solver.physics.transfer import IonTransfer
from solver.results import LazyFields, Snapshot
from solver.state import Linearisation, State
from solver.surface_flux import ResidualFlux
from solver.timestepping import Protocol, ProtocolStep, StepController
from solver.transport import (
    FARADAY,
    GAS_CONSTANT,
    BinaryElectrolyte,
    SingleIonConductor,
    arrhenius,
    build_electrolyte,
)

__all__ = ["TRANSIENT_NEWTON_FRACTION", "NewtonResult", "Simulation", "SimulationError"]

#: A time step's Newton iteration stops when its scaled update (Phi in RT/F, c in c_bulk) is
#: below this fraction of ``time.rtol`` (the local error tolerance of BDF): its error is then
#: far below the time-discretisation error the step controller accepts.
TRANSIENT_NEWTON_FRACTION = 1e-3

#: Names of ``Domain`` attributes that a ``Simulation`` reads through (tests, notebooks).
_DOMAIN_NAMES = frozenset(
    {"x", "dx", "ds", "n", "weight", "facet_tags", "cell_region", "submesh", "sub_facet_tags",
     "dS_it", "emap", "dx_e", "ds_e", "weight_e"}
)


def _default_petsc_options(
    numerics: Any, coupled: bool, size: int, symmetric: bool = False, dim: int = 2
) -> dict[str, Any]:
    """Linear-solver options (``solver.linear.default_options``) with the user's merged over.

    Args:
        numerics: The NumericsConfig.
        coupled: Whether the system holds c (potentials and c) or the potentials alone.
        size: Global number of unknowns (resolves ``linear_solver: auto``).
        symmetric: The Jacobian is symmetric positive definite (a linear problem): CG to
            ``newton_rtol`` instead of GMRES.
        dim: Dimension of the mesh (3D has its own GAMG coarsening).
    """
    kind = numerics.linear_solver
    if kind == "auto":
        kind = "direct" if size <= numerics.direct_max_unknowns else "iterative"
    options = default_options(kind, coupled, numerics.linear_rtol, dim)
    if symmetric and options["ksp_type"] == "gmres":
        options = {k: v for k, v in options.items() if not k.startswith("ksp_gmres")}
        # One CG solve to Newton's relative tolerance on the true residual, after which Newton
        # stops, instead of two of linear_rtol each (docs/performance.md, "3D job").
        options |= {"ksp_type": "cg", "ksp_norm_type": "unpreconditioned",
                    "ksp_rtol": min(numerics.linear_rtol, numerics.newton_rtol)}
    return {**options, **numerics.petsc_options}


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
        self.sources = ManufacturedSources(sources) if sources else None
        self.mesh = bundle.mesh
        self._check_supported(case)
        self.temperature = self.physics.temperature
        self.f = FARADAY / (GAS_CONSTANT * self.temperature)
        self.electrolyte = build_electrolyte(self.physics)
        binary = isinstance(self.electrolyte, BinaryElectrolyte)
        self.transfer_resistance = {
            name: mat.transfer_resistance
            for name, mat in self.physics.interphase.items()
            if mat.transfer_resistance > 0.0 and name in self.bundle.regions
        }
        if binary and self.physics.counter.type == "li_electrode" and self.time.mode == "steady":
            raise SimulationError(
                "time.mode: 'steady' with a binary electrolyte and counter.type 'li_electrode' "
                "is a "
                "closed cell whose steady state depends on the salt inventory; run it with "
                "time.mode 'transient'"
            )
        self.domain = Domain(
            bundle,
            comm,
            submesh=binary or bool(self.transfer_resistance),
            interface=list(self.transfer_resistance),
        )
        self._setup_unknowns(binary)
        self.terms = self._setup_terms()
        #: Newton's step tolerance in a time step: TRANSIENT_NEWTON_FRACTION of the local
        #: time-error tolerance (no tighter than BDF's error needs), never below newton_stol.
        self.transient_stol = max(
            self.numerics.newton_stol, TRANSIENT_NEWTON_FRACTION * self.time.rtol
        )
        #: R_Phi is linear in the potentials: one symmetric positive definite Jacobian, kept.
        self.linear = self._is_linear()
        #: Bulk conductivity of the electrolyte (kappa(c_bulk), or sigma), S/m.
        self.kappa_bulk = self.unknowns.conductors["electrolyte"].kappa_bulk
        self.growth = self._setup_growth(case)
        #: Continues the run on a new mesh at the quality event (None: the run stops there).
        self.remesher = self._setup_remesher(case)
        self._setup_scales()
        self._setup_forms()
        self._setup_outputs()
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
        if self.growth is not None:
            self.observers["growth"] = self.growth  # its morphology series
            # first: the snapshot of the step and later listeners see the moved mesh
            self.step_listeners.append(lambda t, dt, iterations: self.growth.accept_step(
                dt, restart=self.driver.state.controller.restart_history))
        #: The gap under a rigid electrolyte (growth with a rigid electrolyte; else None).
        self.contact = self._setup_contact()
        if self.contact is not None:
            self.observers["contact"] = self.contact
            self.step_listeners.append(self._accept_contact)

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

    def _setup_unknowns(self, binary: bool) -> None:
        """Phi (and Phi_elyte with R_it > 0), phi_s, and the salt-transport term.

        A binary electrolyte's term holds its unknown, c or u = ln(c/c_bulk).
        """
        p = self.numerics.degree
        self.V = fem.functionspace(self.mesh, ("Lagrange", p))
        self.phi = fem.Function(self.V, name="potential")
        self.phi_s = fem.Constant(self.mesh, 0.0)
        self.theta = fem.Constant(self.mesh, 1.0)  # 0: linearised kinetics (continuation), 1: full
        self.potentials = [self.phi]  # the potential unknowns: Phi (and Phi_elyte when split)
        if self.transfer_resistance:
            # its own space object: Dirichlet conditions are matched to blocks by space
            self.Q_phi = fem.functionspace(self.domain.submesh, ("Lagrange", p))
            self.phi_elyte = fem.Function(self.Q_phi, name="electrolyte_potential")
            self.potentials.append(self.phi_elyte)
        self.unknowns = Unknowns(self.domain, self.potentials, self.phi_s, self.f)
        if binary:
            choice = self.numerics.concentration_variable
            log_c = self.time.mode == "transient" if choice == "auto" else choice == "log_c"
            order = 1 if self.time.scheme == "bdf1" else 2
            self.unknowns.salt = SaltTransport(self.electrolyte, self.domain, p, order, log_c)

    def _setup_terms(self) -> list[Term]:
        """The terms of the model, in the order their contributions are summed."""
        u, physics = self.unknowns, self.physics
        terms: list[Term] = []
        for name in self.bundle.regions:
            conductor = (
                u.salt if name == "electrolyte" and u.salt is not None
                else IonicConduction(name, self._region_model(name))
            )
            u.conductors[name] = conductor
            terms.append(conductor)
        c_ref = None if u.salt is None else u.salt.c_bulk
        kinetics = [
            self._region_kinetics(p.region, c_ref if p.region == "electrolyte" else None)
            for p in self.domain.parts
        ]
        if physics.kinetics.model == "primary":
            self.surface: FaradaicKinetics | PrimaryContact = PrimaryContact(
                self.domain.parts, kinetics
            )
        else:
            self.surface = FaradaicKinetics(self.domain.parts, kinetics, self.theta, self.mesh)
        terms.append(self.surface)
        if physics.counter.type == "li_electrode":
            # 'primary' is rejected here by PhysicsConfig's validation
            cfg = physics.counter.kinetics or physics.kinetics
            counter_kinetics = Kinetics.from_config(
                cfg, self.temperature, physics.reference_temperature, c_ref
            )
            self.counter: LiCounter | ReservoirCounter = LiCounter(
                counter_kinetics, self.theta, self.mesh
            )
        else:
            self.counter = ReservoirCounter()
        terms.append(self.counter)
        self.transfer = None
        if self.transfer_resistance:
            self.transfer = IonTransfer(self.transfer_resistance, self.domain)
            terms.append(self.transfer)
        if self.sources is not None:
            terms.append(self.sources)
        leaky = {
            name: mat.electronic_conductivity
            for name, mat in physics.interphase.items()
            if mat.electronic_conductivity > 0.0 and name in self.bundle.regions
        }
        self.leakage = ElectronicLeakage(leaky) if leaky else None
        if physics.surface_energy is not None:
            terms.append(SurfaceEnergy(physics.surface_energy.gamma, self.bundle))
        shifts = [s for term in terms if (s := term.overpotential_shift(u)) is not None]
        u.eta_shift = sum(shifts[1:], shifts[0]) if shifts else None
        self.control = Control(physics.control, self.mesh, self.phi_s)
        return terms

    def _is_linear(self) -> bool:
        """Whether the potentials' problem is linear (and its Jacobian symmetric, constant).

        A single-ion electrolyte with linear or primary kinetics on every Li surface (per-region
        laws and a Li counter's included): conduction, the linear laws' Robin terms and
        Dirichlet rows eliminated symmetrically. The Newton method then keeps its first
        Jacobian (and preconditioner) and needs no continuation stages.
        """
        physics = self.physics
        laws = [physics.kinetics] + [
            m.kinetics for m in physics.interphase.values() if m.kinetics is not None
        ]
        if physics.counter.type == "li_electrode":
            laws.append(physics.counter.kinetics or physics.kinetics)
        return self.unknowns.salt is None and all(
            law.model in ("linear", "primary") for law in laws
        )

    def _setup_growth(self, case: Any) -> SurfaceGrowth | None:
        """The moving Li surface of a transient run with ``physics.growth.enabled`` (or None).

        The salt balance then takes its ALE form (``SaltTransport.moving``).
        """
        config = self.physics.growth
        if not config.enabled:
            return None
        if self.time.mode != "transient":
            raise SimulationError(
                "physics.growth.enabled: the Li surface moves only in transient runs (got "
                "true with time.mode 'steady'); allowed: false, or time.mode 'transient'"
            )
        if config.contact_loss == "void":  # before any form holds the surface current
            self.surface.contact = contact_indicator(self.domain.mesh)
        growth = SurfaceGrowth(
            self.domain, self.unknowns, self.surface, config.mesh_motion, config.min_quality,
            terms=self.terms, order=1 if self.time.scheme == "bdf1" else 2,
            periodic=self.periodic_sides,
        )
        growth.motion.thickening = interphase_thickening(
            config.interphase_thickening, self.bundle, growth.space, self.leakage, self.unknowns
        )
        if self.unknowns.salt is not None:
            self.unknowns.salt.moving = growth.history
        return growth

    def _setup_remesher(self, case: Any) -> Remesher | None:
        """The remesher of a growing run with ``physics.growth.remesh.enabled`` (or None)."""
        remesh = self.physics.growth.remesh
        if self.growth is None or not remesh.enabled:
            return None
        return Remesher(getattr(case, "geometry", None), remesh.max_remeshes, remesh.conserve_salt)

    def _accept_contact(self, t: float, dt: float, iterations: int) -> None:
        """The gaps after an accepted step; new void walls restart the position update."""
        if self.contact.accept(t, self.growth.j_move, dt):
            self.growth.previous_dt = None  # their current jumped to 0: no BDF2 extrapolation

    def _setup_contact(self) -> ContactLoss | None:
        """The contact tracker of a growing run with a rigid electrolyte (or None)."""
        if self.growth is None or not self.physics.rigid_electrolyte:
            return None
        return ContactLoss(
            self.bundle, self.growth.space, self.growth.kinematics.dofs,
            self.physics.growth.contact_gap, self.domain.axisym,
            indicator=getattr(self.surface, "contact", None),
        )

    # Names kept for tests, notebooks and benchmarks
    @property
    def salt_transport(self) -> SaltTransport | None:
        """The salt-transport term (None without a salt balance)."""
        return self.unknowns.salt

    @property
    def Q(self) -> fem.FunctionSpace | None:  # noqa: N802
        """The space of c (None without a salt balance)."""
        return None if self.unknowns.salt is None else self.unknowns.salt.Q

    @property
    def c(self) -> fem.Function | None:
        """The nodal concentration (None without a salt balance)."""
        return None if self.unknowns.salt is None else self.unknowns.salt.c

    @property
    def log_c(self) -> bool:
        """Whether the salt unknown is u = ln(c/c_bulk)."""
        return self.unknowns.salt is not None and self.unknowns.salt.log_c

    @property
    def control_value(self) -> fem.Constant:
        """The applied current density or potential now."""
        return self.control.value

    @property
    def area(self) -> float:
        """Projected area A_proj (the counter boundary's weighted measure)."""
        return self.domain.area

    @property
    def li_area(self) -> float:
        """Weighted area of the whole Li surface."""
        return self.domain.li_area

    @property
    def parts(self) -> list[Any]:
        """The Li-surface parts (``Domain.parts``)."""
        return self.domain.parts

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

    def potential(self, region: str) -> fem.Function:
        """The Li-reference potential unknown of a region: Phi, or Phi_elyte when split."""
        return self.unknowns.potential(region)

    def current_density(self, name: str) -> Any:
        """UFL ionic current density i (A/m^2) in region ``name``."""
        return self.unknowns.current_density(name)

    def _region_kinetics(self, region: str, c_ref: float | None) -> Kinetics:
        cfg = self.physics.kinetics
        if region != "electrolyte" and self.physics.interphase[region].kinetics is not None:
            cfg = self.physics.interphase[region].kinetics
        return Kinetics.from_config(
            cfg, self.temperature, self.physics.reference_temperature, c_ref
        )

    def _region_model(self, name: str) -> SingleIonConductor:
        """The conductor of a single-ion region (the electrolyte's own, or an interphase's)."""
        if name == "electrolyte":
            return self.electrolyte
        mat = self.physics.interphase[name]
        factor = arrhenius(
            mat.conductivity_activation_energy, self.temperature, self.physics.reference_temperature
        )
        return SingleIonConductor(mat.conductivity * factor)

    def _setup_scales(self) -> None:
        """Reference current density and residual scales."""
        i0 = self.surface.max_i0
        self.i_ref = max(
            self.control.current_scale, i0, self.kappa_bulk / (self.f * self.domain.height)
        )
        self.scale_phi = 1.0 / (self.i_ref * self.area)
        self.scale_c = FARADAY / (self.i_ref * self.area)

    # ------------------------------------------------------------------------------------------
    # Residuals: sums over the terms
    # ------------------------------------------------------------------------------------------
    def charge_residuals(self, tests: list[Any], etas: list[Any]) -> list[Any]:
        """Unscaled charge residuals, one per potential unknown (tests[k] tests potentials[k])."""
        res: list[Any] = [0] * len(tests)
        for term in self.terms:
            for k, form in term.charge(self.unknowns, tests, etas):
                res[k] += form
        return res

    def _zero_form(self, space: fem.FunctionSpace) -> Any:
        """A zero linear form on ``space`` (a block without phi_s dependence)."""
        zero = fem.Constant(space.mesh, 0.0)
        return zero * ufl.TestFunction(space) * ufl.dx(domain=space.mesh)

    def _setup_forms(self) -> None:
        u = self.unknowns
        tests = u.tests()
        etas = [ufl.variable(u.eta(k)) for k in range(len(self.potentials))]
        res_phi = self.charge_residuals(tests, etas)
        d_res_phi: list[Any] = [0] * len(tests)
        for term in self.terms:
            for k, form in term.pattern(u, tests):
                res_phi[k] += form
            for k, form in term.d_charge(u, tests, etas):
                d_res_phi[k] += form
        total, d_total = self.surface.li_current(
            u, etas, lambda indicators: sum(self.charge_residuals(indicators, etas))
        )
        for k, p in enumerate(self.potentials):
            if isinstance(d_res_phi[k], int):  # R_Phi does not depend on phi_s
                d_res_phi[k] = self._zero_form(p.function_space)
        self.surface_current_form = total
        forms_phi = [self.scale_phi * r for r in res_phi]
        d_forms_phi = [self.scale_phi * d for d in d_res_phi]
        maps = self.domain.maps
        self._g_form = None
        if self.control.constrained:
            self._g_form = self.control.constraint(
                total, d_total, 1.0 / (self.area * self.i_ref), maps
            )
        fixes = [fix for term in self.terms for fix in term.dirichlet(u)]
        n = len(self.potentials)
        spaces = [p.function_space for p in self.potentials]
        bcs_phi = [fem.dirichletbc(x.value, x.dofs, spaces[x.block]) for x in fixes if x.block < n]
        bcs_w_phi = [
            fem.dirichletbc(x.w_value, x.dofs, spaces[x.block]) for x in fixes if x.block < n
        ]
        # Potential-only system (c frozen): continuation stages and single-ion electrolytes.
        self.sys_phi = self._make_system(
            list(self.potentials), forms_phi, d_forms_phi, bcs_phi, bcs_w_phi
        )
        self.sys_coupled = None
        salt = u.salt
        if salt is not None:
            q = ufl.TestFunction(salt.Q)
            res_c = sum(
                form for term in self.terms if (form := term.salt_balance(u, q)) is not None
            )
            self.res_c_steady = self.scale_c * res_c
            self.res_c_transient = self.scale_c * (res_c + salt.storage(q))
            res = self.res_c_transient if self.time.mode == "transient" else self.res_c_steady
            bcs_c = [fem.dirichletbc(x.value, x.dofs, salt.Q) for x in fixes if x.block == n]
            self.sys_coupled = self._make_system(
                [*self.potentials, salt.salt],
                [*forms_phi, res],
                d_forms_phi,
                bcs_phi + bcs_c,
                bcs_w_phi,
            )

    def _setup_outputs(self) -> None:
        """The surface sampler and the scalar observers of the terms present (collective)."""
        u, d = self.unknowns, self.domain

        def residuals(tests: list[Any]) -> list[Any]:
            return self.charge_residuals(tests, [u.eta(k) for k in range(len(self.potentials))])

        flux = None
        if self.physics.kinetics.model == "primary":  # the Li surface is a Dirichlet boundary
            blocks = range(len(self.potentials))
            tags = [tuple(p.tag for p in d.parts if u.block(p.region) == k) for k in blocks]
            flux = ResidualFlux(
                [p.function_space for p in self.potentials],
                [u.li_dofs(k) for k in blocks],
                [d.ds(t) if t else None for t in tags],
                residuals(u.tests()),
                d.weight,
                d.maps,
                self.comm,
            )
        self.sampler = SurfaceSampler(
            u, self.surface, self.counter.closed, self.numerics.degree, flux
        )

        self.outputs: list[Observer] = [
            CellVoltage(self.phi_s),
            Integral("current_mean", d, lambda: self.surface_current_form, lambda: d.area),
            MeanOverpotential(u),
            LeakageCurrent(u, self.leakage),
            Fixed("projected_area", lambda: d.area),
            Fixed("li_surface_area", lambda: d.li_area),
            CounterCurrent(u, self.counter, residuals),
        ]
        if u.salt is None:
            self.outputs.append(Fixed("min_surface_concentration", lambda: math.nan))
        else:
            self.outputs += [SaltInventory(u), MinSurfaceConcentration(self.sampler)]
            if self.counter.closed:
                self.outputs.append(MinSurfaceConcentration(self.sampler, counter=True))
            self.outputs.append(Fixed(
                "depletion_time",
                lambda: math.nan if self.depletion_time is None else self.depletion_time,
            ))
        self.numbers = DimensionlessNumbers(
            u, self.surface, self.transfer, self.kappa_bulk, self.temperature,
            u.salt is not None and self.counter.closed,
        )

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
        dG = None
        if self._g_form is not None:
            dG = self.control.d_constraint(self._g_form, unknowns, maps)
        salt = self.unknowns.salt
        names = [*self.potential_names, "u" if self.log_c else "c"][: len(unknowns)]
        # step norm: Phi in RT/F, c in c_bulk (u in 1)
        c_scale = 1.0 if salt is None or salt.log_c else salt.c_bulk
        F, J, dF_dphis = compile_forms([forms, jac, d_phis], entity_maps=maps)  # one JIT module
        system = BorderedSystem(
            unknowns=unknowns,
            F=F,
            J=J,
            dF_dphis=dF_dphis,
            dG_du=dG,
            bcs=bcs,
            bcs_w=bcs_w,
            scales=[self._volt_scale] * len(self.potentials) + [c_scale] * (
                len(unknowns) - len(self.potentials)
            ),
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
        coupled = len(unknowns) > len(self.potentials)
        options = _default_petsc_options(self.numerics, coupled, size, self.linear and not coupled,
                                         self.mesh.topology.dim)
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
        d = self.domain
        partner = len(self.potentials) - 1
        cmap = d.submesh.topology.index_map(d.submesh.topology.dim)
        cells = np.arange(cmap.size_local + cmap.num_ghosts, dtype=np.int32)
        if spaces[partner].mesh is not d.submesh:  # Phi on the mesh: the parent cells
            cells = d.emap.sub_topology_to_topology(cells, False)
        fixed = [
            np.concatenate([bc.dof_indices()[0] for bc in bcs] + [np.zeros(0, dtype=np.int32)])
            for bcs in bcs_by_field
        ]
        t_minus = 1.0 - self.electrolyte.bulk("t_plus")
        transform = migration_elimination(spaces, partner, cells, t_minus, fixed, self.comm)
        rows = field_index_sets(spaces, self.comm, None if periodic is None else periodic.P)
        potentials = PETSc.IS().createGeneral(
            np.concatenate([r.getIndices() for r in rows[:-1]]).astype(PETSc.IntType),
            comm=self.comm,
        )
        return transform, [("c", rows[-1]), ("phi", potentials)]

    # ------------------------------------------------------------------------------------------
    # Bordered Newton
    # ------------------------------------------------------------------------------------------
    @property
    def _volt_scale(self) -> float:
        return 1.0 / self.f

    def newton(
        self, sys: BorderedSystem, galvano: bool, reuse: bool = False, stol: float | None = None
    ) -> NewtonResult:
        """Newton solve; a converged state with c < 0 anywhere is reported as not converged.

        With c as the unknown, beyond the limiting current a spurious branch with negative
        concentrations exists (kappa ~ c changes sign); rejecting it makes a transient step be
        cut and a steady run fail (or retry in ln c) with that reason instead of returning an
        unphysical state. With u = ln(c/c_bulk) it cannot occur. Updates the nodal c.

        Args:
            sys: The system.
            galvano: Whether phi_s is found from the current constraint.
            reuse: Chord iterations (keep the Jacobian while it contracts).
            stol: The step tolerance (default ``numerics.newton_stol``).
        """
        num = self.numerics
        options = NewtonOptions(num.newton_max_it, num.newton_atol, num.newton_rtol,
                                num.newton_stol if stol is None else stol,
                                num.line_search == "backtracking")
        border = self.control.border(galvano, self.i_ref, self._volt_scale, self.comm)
        result = sys.solve(border, options, reuse)
        salt = self.unknowns.salt
        if salt is None or not any(u is salt.salt for u in sys.unknowns):
            return result
        salt.sync()
        if result.converged:
            n_owned = salt.Q.dofmap.index_map.size_local
            c_min = self.comm.allreduce(
                float(salt.c.x.array[:n_owned].min(initial=np.inf)), op=MPI.MIN
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

    def _bdf_coefficients(self) -> list[float]:
        """The BDF coefficients in the forms now (the Jacobian depends on a0)."""
        return [] if self.unknowns.salt is None else self.unknowns.salt.bdf_coefficients()

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
            if self.unknowns.salt is not None:
                bdf = self.unknowns.salt.bdf
                bdf.a0.value, bdf.a1.value, bdf.a2.value = lin.coefficients
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
        return self.sys_phi if self.sys_coupled is None else self.sys_coupled

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
        eta = self.surface.uniform_overpotential(J)
        self.phi_s.value = eta - J * self.domain.height / self.kappa_bulk

    def _solve_static(self, step: ProtocolStep | None) -> NewtonResult:
        """Steady solve (or the consistent initial potential at t = 0) with continuation.

        The potentials first, through the stages of theta (``solver.continuation.Stages``:
        linearised rate laws, then the full ones) when the Li surface's kinetics is ramped;
        then, when steady with a salt balance, the coupled system, retried in ln c by a ramp
        of the control value from equilibrium if it fails (``Reformulate``, ``Ramp``).
        """
        galvano = self.control.galvanostatic_at(step)
        stages = [1.0]
        if self.numerics.continuation and self.surface.ramped and not self.linear:
            stages = [0.0, 1.0]
        if np.all(np.isclose(self.phi.x.array, 0.0)):
            self._initial_phis(galvano)
            self._apply_bc_values()
        value = float(self.control_value.value)
        for term in self.terms:
            term.set_secants(value, galvano)
        result = Stages(self.theta, stages).run(
            lambda: self.newton(self.sys_phi, galvano, reuse=self.linear),
            lambda theta, r: self.log.debug("potential stage theta=%g: %s", theta, r),
        )
        if not result.converged:
            return result
        if self.sys_coupled is not None and self.time.mode == "steady":
            result = self.newton(self.sys_coupled, galvano)
            self.log.debug("coupled stage: %s", result)
            result = Reformulate(self._retry_in_log_c, lambda: self._ramp_control(galvano)).run(
                result
            )
        return result

    def _ramp_control(self, galvano: bool) -> NewtonResult:
        """Coupled steady solve by continuation in the control value from equilibrium.

        Starts from zero potentials and c = c_bulk (the exact solution at zero current or
        potential) and ramps the control value to the applied one (``Ramp``).
        """
        salt = self.unknowns.salt
        for u in self.potentials:
            u.x.array[:] = 0.0
        self.phi_s.value = 0.0
        salt.salt.x.array[:] = salt.bulk_value
        return Ramp(self.control_value).run(
            lambda: self.newton(self.sys_coupled, galvano),
            self.sys_coupled.unknowns,
            [self.phi_s],
            salt.sync,
            lambda lam, r: self.log.debug(
                "control continuation at %g of the applied value: %s", lam, r
            ),
        )

    def _retry_in_log_c(self, failed: NewtonResult) -> bool:
        """Switch the salt unknown to ln c when numerics.concentration_variable allows it.

        Recompiles the forms with c = c_bulk exp(u), u = 0 (the state the coupled stage starts
        from). Returns whether it switched.
        """
        if self.log_c or self.numerics.concentration_variable != "auto":
            return False
        self.log.info(
            "steady solve with c as the unknown failed (%s); solving for ln c", failed.reason
        )
        self.unknowns.salt.set_variable(True)
        self._setup_forms()
        self._setup_outputs()
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
        return self.control.protocol()

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
        if self.remesher is not None:
            yield from self.remesher.continue_run(self)

    def time_driver(self, protocol: Protocol) -> TimeDriver:
        """The time driver of this problem: its State, step controller and events."""
        if self.driver is not None:
            return self.driver
        blocks = {name: u for name, u in zip(self.potential_names, self.potentials, strict=True)}
        events: dict[str, DepletionEvent] = {}
        salt = self.unknowns.salt
        if salt is not None:
            blocks["u" if salt.log_c else "c"] = salt.salt
            events["depletion"] = DepletionEvent(
                self._min_surface_concentration_both,
                self.physics.events.depletion_fraction * salt.c_bulk,
                salt.c_bulk,
                self.physics.events.on_depletion == "stop",
            )
        if self.growth is not None:
            events["mesh_quality"] = self.growth.quality_event(remesh=self.remesher is not None)
        if self.growth is not None:
            blocks.update(self.growth.checkpoint_functions())
        if self.contact is not None:
            blocks.update(self.contact.checkpoint_functions())
            if self.contact.indicator is not None:
                events["contact_exhausted"] = ContactExhausted(self.contact)
        ctrl = StepController.from_config(self.time, protocol.breakpoints(self.time.t_end))
        state = State(blocks, self.potential_names, self.phi_s,
                      None if salt is None else salt.bdf, ctrl, events)
        state.messages = self.events  # one list: snapshots report the run's messages
        state.observers = self.observers
        state.linearisation = self._transient_system.lin
        self.driver = TimeDriver(self, state, protocol, self.comm, self.log, self.step_listeners,
                                 self.checkpoint, self.time.checkpoint_interval)
        return self.driver

    @property
    def potential_names(self) -> list[str]:
        """Names of the potential blocks of the State: Phi (and Phi_elyte when split)."""
        return self.unknowns.names

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
        return self.control.apply(step)

    def solve_step(self, galvanostatic: bool) -> NewtonResult:
        """Newton solve of one time step from the predicted state.

        With growth, a converged step whose Li-surface move would fold a cell or drop the
        mesh quality below its threshold (with remeshing: would fold a cell) is reported as
        not converged (the step is cut and redone) unless no retry is left: then it is taken
        and the quality event stops the run or hands it over to the remesher.
        """
        result = self.newton(self._transient_system, galvanostatic,
                             reuse=self.numerics.reuse_jacobian, stol=self.transient_stol)
        if result.converged and self.growth is not None:
            ctrl = self.driver.state.controller
            reason = self.growth.refuse_move(ctrl.attempt, fold_only=self.remesher is not None)
            if reason is not None and not ctrl.last_attempt:
                return NewtonResult(False, result.iterations, result.residual, reason)
        return result

    def error_estimate(self) -> float | None:
        """Local error norm of the salt unknown's step (None when it is not controlled)."""
        salt = self.unknowns.salt
        if salt is None or not self.driver.state.controller.needs_error:
            return None
        return salt.bdf.error_estimate(self.time.rtol, self.time.atol, salt.nodal_concentration)

    def after_restore(self) -> None:
        """Nodal c after the salt unknown was restored or loaded; a loaded grown mesh's nodes."""
        if self.unknowns.salt is not None:
            self.unknowns.salt.sync()
        if self.growth is not None:
            self.growth.apply_position()
        if self.contact is not None:
            self.contact.update_indicator()  # chi follows the gaps read

    def checkpoint_geometry(self) -> contextlib.AbstractContextManager[None]:
        """The mesh as checkpoints are keyed to it: a grown mesh at its initial coordinates."""
        return contextlib.nullcontext() if self.growth is None else (
            self.growth.reference_geometry()
        )


    def _min_surface_concentration_both(self) -> float:
        """Minimum surface concentration of the working and the counter electrode, mol/m^3."""
        return min(self.sampler.min_concentration(), self.sampler.min_concentration(True))

    # ------------------------------------------------------------------------------------------
    # Output
    # ------------------------------------------------------------------------------------------
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
                lift_form(a),
                lift_form(scale * ufl.inner(expr, v) * self.domain.dx(self.bundle.regions[region])),
                u=part,
                petsc_options_prefix=f"lidep_projection_{name}_{region}_",
                petsc_options={"ksp_type": "preonly", "pc_type": "bjacobi", "sub_pc_type": "ilu"},
                entity_maps=maps,
            )
            problem.solve()
            out.x.array[:] += part.x.array
        return out

    def _at_this_state(self, compute: Callable[[], fem.Function]) -> Callable[[], fem.Function]:
        """``compute`` deferred: run later, on the unknowns as they are now.

        The unknowns' values are copied now; when called after the state moved on (a later
        time step), they are put back for ``compute`` and the newer state restored after.
        """
        live = [*self.potentials]
        salt = self.unknowns.salt
        if salt is not None:
            live += [salt.salt, salt.c]
        saved = [f.x.array.copy() for f in live]

        def deferred() -> fem.Function:
            now = [f.x.array.copy() for f in live]
            for f, values in zip(live, saved, strict=True):
                f.x.array[:] = values
            try:
                return compute()
            finally:
                for f, values in zip(live, now, strict=True):
                    f.x.array[:] = values

        return deferred

    def snapshot(self, t: float) -> Snapshot:
        """Fields, surface sample, scalars, dimensionless numbers and events at time t.

        The current density and |E| are projected only if a consumer reads them
        (:class:`~solver.results.LazyFields`).
        """
        u = self.unknowns
        regions = list(self.bundle.regions)
        gdim = self.mesh.geometry.dim

        def current() -> fem.Function:
            return self._project(
                {r: self.current_density(r) for r in regions}, (gdim,), "current_density"
            )

        def strength_of(region: str) -> Any:
            phi = u.conductors[region].electrostatic_potential(u)
            return ufl.sqrt(ufl.dot(ufl.grad(phi), ufl.grad(phi)))

        def strength() -> fem.Function:
            return self._project({r: strength_of(r) for r in regions}, (), "field_strength")

        # copies: the live unknowns change with the next step
        ready = {"potential": self._potential_field()}
        if u.salt is not None:
            ready["concentration"] = u.salt.c.copy()
            ready["concentration"].name = "concentration"
        fields = LazyFields(ready, {
            "current_density": self._at_this_state(current),
            "field_strength": self._at_this_state(strength),
        })
        sample = self.sampler.sample()
        scalars = self.scalars()
        if self.growth is not None:
            scalars.update(self.growth.observe(t))
        if self.contact is not None:
            scalars.update(self.contact.observe())
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
        if self.transfer is None:
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
        """Global scalars (allreduced): one observer each (``solver.observers``)."""
        return {o.name: o.compute() for o in self.outputs}

    def dimensionless(self, t: float, current_mean: float) -> dict[str, float]:
        """Wagner numbers, J/J_lim and t/t_Sand (``solver.observers.DimensionlessNumbers``)."""
        return self.numbers.compute(t, current_mean)
