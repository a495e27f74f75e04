"""The moving Li surface in the time loop: the deposit moves the mesh (docs/theory.md).

One time step from t_n to t_{n+1} = t_n + dt with growth (``physics.growth.enabled``):

1. the step is solved on the mesh as it is (configuration Omega^n), the salt balance in ALE
   form with the mass of each history level on the configuration it was solved on
   (:class:`MeshHistory`), so a closed cell keeps its salt inventory to the solver tolerance;
2. once the step is solved, its move is computed (:meth:`SurfaceGrowth.propose`) and refused
   when it would fold a cell or drop the mesh quality below the threshold
   (:meth:`SurfaceGrowth.refuse_move`: the step is cut and redone);
3. once the step is accepted (:meth:`SurfaceGrowth.accept_step`, the first step listener,
   before the snapshot): the Li-surface nodes move by d = q m, q the normal step of the time
   scheme's formula for dx/dt = v_n with v_n = j V_m / F, j the Faradaic current density of
   the accepted state at the nodes (BDF1: q = v_n dt; BDF2: a0 q - a2 q_prev = v_n; exact for
   a constant current, so a piecewise constant protocol plates Q = sum j dt exactly; the
   current is that of the configuration before the move); the interphase rides on the
   Li, the electrolyte's mesh follows (``MeshMotion``), the domain's geometric caches
   (``Domain.update_geometry``) and the nodal normals are refreshed.

A rejected step never moved the mesh, so nothing is undone.

The nodal current density is a lumped L2 projection of the surface current with weights >= 0
(P1 hats at the vertices, the geometry degree's basis at mid-edge nodes) plus a uniform shift
that makes sum_i j_i int psi_i w ds = int j w ds, so that the volume swept by the nodes,
sum_i d_i . n int psi_i w ds, equals V_m / F int j w ds dt on a flat surface (P1 and P2 in 2D
and axisymmetric sections; :meth:`SurfaceGrowth.measure`). In 2D sections a reflex corner (a
protrusion's foot) moves with its faces (``ReflexCorners``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import ufl
from dolfinx import fem, la
from mpi4py import MPI

from solver.domain import Domain
from solver.geometry.bundle import MeshBundle
from solver.growth.kinematics import ReflexCorners, SurfaceKinematics, side_dofs
from solver.growth.morphology import MorphologySeries, apex_height, surface_profile
from solver.growth.motion import MeshMotion
from solver.growth.quality import MeshQuality
from solver.growth.space import DisplacementSpace, facet_nodes, tagged_facets
from solver.periodic import PeriodicConstraint
from solver.physics.term import Term, Unknowns
from solver.timestepping import bdf_coefficients

__all__ = ["MeshHistory", "QualityEvent", "SurfaceGrowth"]

_STIFFENING = {"harmonic": 0.0, "stiffened": 1.0}
"""The stiffening exponent chi of each ``physics.growth.mesh_motion``."""


class MeshHistory:
    """Displacements from the configurations of the BDF history levels to the current one.

    ``back[k]`` is x - x^{n-k} for the history level u_{n-k} (k = 0, 1): the nodes of a history
    level sit where they were when it was accepted. A form on the current configuration then
    reproduces integrals over the old ones exactly (the same reference cells):

        int_{Omega^{n-k}} f w dx = int_{Omega} f w(x - W_k) det(I - grad W_k) dx.

    Args:
        space: The displacement space of the mesh.
        axisymmetric: Whether the weight is w = 2 pi r (else 1).
    """

    def __init__(self, space: DisplacementSpace, axisymmetric: bool) -> None:
        self.space = space
        self.axisymmetric = axisymmetric
        self.back = [fem.Function(space.V, name=f"mesh_history_{k}") for k in range(2)]

    def volume_ratio(self, level: int, x: Any) -> Any:
        """w(x^{n-level}) det(dx^{n-level}/dx) (UFL; x the spatial coordinate of the form)."""
        W = self.back[level]
        identity = ufl.Identity(self.space.gdim)
        factor = ufl.det(identity - ufl.grad(W))
        if self.axisymmetric:
            factor = 2.0 * np.pi * (x[0] - W[0]) * factor
        return factor

    def velocity(self, a1: fem.Constant, a2: fem.Constant) -> Any:
        """The BDF mesh velocity a0 x + a1 x^n + a2 x^{n-1} = -(a1 W_0 + a2 W_1) (UFL, m/s)."""
        return -(a1 * self.back[0] + a2 * self.back[1])

    def accept(self, w: fem.Function) -> None:
        """A step was accepted (its state is history level n) and the mesh then moved by w."""
        self.back[1].x.array[:] = self.back[0].x.array + w.x.array
        self.back[0].x.array[:] = w.x.array


class SurfaceGrowth:
    """The moving Li surface of a transient run.

    Args:
        domain: The domain (its mesh moves; its geometric caches are refreshed).
        unknowns: The unknowns (the potentials and c in the surface current).
        surface: The Li-surface term (its ``surface_current(u, part, eta)``).
        mesh_motion: ``"harmonic"`` or ``"stiffened"``.
        min_quality: Stop threshold of the cell quality, relative to the initial minimum.
        terms: The physics terms refreshed (``Term.update_geometry``) after each move.
        order: Order of the position update, that of the time scheme (1: bdf1, 2: bdf2).
        periodic: The lateral sides are periodic: each move is made periodic (paired side
            nodes take the mean of their displacements, so they keep matching coordinates).

    Attributes:
        history: The displacements of the BDF levels' configurations (the ALE salt balance).
        j_nodes: Faradaic current density at the Li-surface nodes (``kinematics.dofs``
            order) of the newest accepted state, A/m^2.
        threshold: The quality below which the run stops: min_quality times the initial
            minimum.
        previous_dt: The step before, s, when the next position update may use it (None at
            the start and after a protocol switch: the next update is first order).
    """

    def __init__(
        self,
        domain: Domain,
        unknowns: Unknowns,
        surface: Any,
        mesh_motion: str = "harmonic",
        min_quality: float = 0.2,
        terms: Sequence[Term] = (),
        order: int = 1,
        periodic: bool = False,
    ) -> None:
        self.domain = domain
        self.order = order
        self.previous_dt: float | None = None
        #: The physics terms whose geometric data follow the mesh (e.g. the curvature).
        self.terms = tuple(terms)
        bundle = domain.bundle
        self.space = DisplacementSpace(domain.mesh)
        self.kinematics = SurfaceKinematics(bundle, self.space)
        self.motion = MeshMotion(bundle, self.space, stiffening=_STIFFENING[mesh_motion])
        self._periodic = PeriodicConstraint([self.space.V]) if periodic else None
        self.quality = MeshQuality(domain.mesh)
        self.threshold = min_quality * self.quality.minimum()
        self.history = MeshHistory(self.space, domain.axisym)
        mesh = domain.mesh
        spaces = [
            fem.functionspace(mesh, ("Lagrange", mesh.geometry.cmaps[0].degree)),
            fem.functionspace(mesh, ("Lagrange", 1)),
        ]
        #: the block dof (geometry node) of every dof of the geometry-degree space and of P1:
        #: their cell dofs list the cell's geometry nodes in the same order (vertices first)
        self._blocks = []
        self._owned = spaces[0].dofmap.index_map.size_local
        for space in spaces:
            cell_dofs = space.dofmap.list
            nodes = mesh.geometry.dofmaps[0][:, : cell_dofs.shape[1]]
            index_map = space.dofmap.index_map
            block = np.empty(index_map.size_local + index_map.num_ghosts, dtype=np.int64)
            block[cell_dofs.ravel()] = self.space.node_dof[nodes.ravel()]
            self._blocks.append(block)
        w = domain.weight
        forms: list[Any] = []
        for space in spaces:
            psi = ufl.TestFunction(space)
            numerator: Any = 0
            mass: Any = 0
            for k, part in enumerate(domain.parts):
                eta = unknowns.phi_s - unknowns.potential(part.region)
                j = surface.surface_current(unknowns, k, eta)
                numerator += j * psi * w * domain.ds(part.tag)
                mass += psi * w * domain.ds(part.tag)
            forms += [numerator, mass]
        self._forms = [fem.form(f, entity_maps=domain.maps) for f in forms]
        #: per space, (numerator, mass) assembled in place and exchanged together
        self._sums = [la.vector(space.dofmap.index_map, 2) for space in spaces]
        self._d = fem.Function(self.space.V, name="surface_displacement")
        self.j_nodes = np.zeros(self.kinematics.dofs.size)
        #: The smallest cell quality after the last proposed move (:meth:`propose`).
        self.pending_quality = self.quality.minimum()
        #: (dt, nodal current) of the proposed move not yet made (its extension in motion.w).
        self._pending: tuple[float, np.ndarray] | None = None
        #: The nodal current of the last move (v_n(j_move) dt is the scheme's normal step).
        self.j_move = self.j_nodes
        #: The initial node coordinates (the mesh a checkpoint is keyed to).
        self.reference_x = domain.mesh.geometry.x.copy()
        #: The current node coordinates as a function (checkpointed with the state).
        self.position = fem.Function(self.space.V, name="position")
        self._store_position()
        self._spacing = self._corners = None
        if self.space.gdim == 2:
            self._spacing = SurfaceSpacing(bundle, self.space, self.kinematics)
            self._corners = ReflexCorners(bundle, self.space, self.kinematics,
                                          SurfaceSpacing.CORNER)
        landmark = bundle.landmarks.get("far_field")
        width = domain.comm.allreduce(float(np.max(domain.mesh.geometry.x[:, 0])), op=MPI.MAX)
        #: The 2D Li profiles at the output times (rank 0).
        self.series = MorphologySeries(
            width if landmark is None else float(landmark[0]), bundle.coordinates
        )

    def _assemble(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The facet vectors (numerator, mass) of a space summed over ranks, ghosts up to date.

        Assembled into kept vectors and exchanged in one go (a new vector per assembly and
        an exchange per vector were a large part of a growing step on 2 ranks).
        """
        sums = self._sums[index]
        table = sums.array.reshape(-1, 2)
        for k in range(2):
            column = np.zeros(table.shape[0])
            fem.assemble_vector(column, self._forms[2 * index + k])
            table[:, k] = column
        sums.scatter_reverse(la.InsertMode.add)
        sums.scatter_forward()
        return table[:, 0], table[:, 1]

    def measure(self) -> None:
        """J at the Li-surface nodes from the current fields and geometry (collective).

        Vertices take the P1 lumped value int j phi_i w ds / int phi_i w ds, the other nodes of
        a second-order geometry (mid-edge) that of the geometry degree: both weights are >= 0,
        so the nodal values stay within the range of j (the P2 vertex basis is negative on
        half of each facet: next to the dip of j at a protrusion's foot its lumped value
        overshot, 5.3 against 4.8 A/m^2, and the node grew into a kink). A uniform shift
        then makes the charge exact: sum_i j_i M_i = int j w ds, M_i = int psi_i w ds the
        geometry degree's lumped masses, which the nodes' displacements sweep.
        """
        comm = self.domain.comm
        nodal = np.zeros(self.space.num_dofs)
        # the geometry degree, then P1 (every vertex): kept vectors, one exchange each
        sums = [self._assemble(index) for index in (0, 1)]
        scales = np.array([np.max(mass, initial=0.0) for _, mass in sums])
        comm.Allreduce(MPI.IN_PLACE, scales, op=MPI.MAX)
        lumped = []
        for index, (numerator, mass), scale in zip((0, 1), sums, scales, strict=True):
            good = mass > 1e-12 * scale
            nodal[self._blocks[index][good]] = numerator[good] / mass[good]
            lumped.append((numerator, mass))
        (numerator, mass), owned = lumped[0], slice(0, self._owned)
        charge, swept, total = (
            comm.allreduce(float(np.sum(v)), op=MPI.SUM)
            for v in (numerator[owned], nodal[self._blocks[0][owned]] * mass[owned], mass[owned])
        )
        self.j_nodes = nodal[self.kinematics.dofs] + (charge - swept) / total

    def propose(self, dt: float) -> float:
        """The move the solved step of length dt would make, and the quality after it.

        From the fields now (the solved, not yet accepted step): the nodal current, the
        scheme's normal step, the tangential redistribution, the layers riding and the
        extension into the electrolyte, as :meth:`accept_step` applies them; the mesh is not
        moved. The move is kept for :meth:`accept_step` of the same dt (collective).

        Args:
            dt: The step, s.

        Returns:
            The smallest cell quality the mesh would have after the move (also
            :attr:`pending_quality`).
        """
        self.measure()
        j_move = self.scheme_current(dt)
        if self._corners is not None:
            j_move = self._corners.current(j_move)
        d = self.kinematics.displacement(j_move, dt, out=self._d)
        if self._spacing is not None:
            self._spacing.redistribute(d)
        if self.motion.thickening is not None:  # the leaked charge's interphase (thickening.py)
            self.motion.thickening.prepare(dt)
        w = self.motion.extend(d)
        if self._periodic is not None:
            self._make_periodic(w)
        nodes = w.x.array.reshape(-1, self.space.gdim)[self.space.node_dof]
        self.pending_quality = self.quality.minimum(nodes)
        self._pending = (dt, j_move)
        return self.pending_quality

    def refuse_move(self, dt: float, fold_only: bool = False) -> str | None:
        """Why the move of a solved step of length dt must not be made (None: it may be).

        The move (:meth:`propose`) is refused when it would fold a cell or leave the smallest
        cell quality below :attr:`threshold`: the step is to be redone shorter (its move is
        about proportional to dt) rather than the mesh inverted. Collective.

        Args:
            dt: The step, s.
            fold_only: Refuse only a move that would fold a cell (with remeshing, a quality
                below the threshold hands the run over to the remesher instead).
        """
        q = self.propose(dt)
        if q >= (0.0 if fold_only else self.threshold):
            return None
        folded = "fold a cell" if q <= 0.0 else "drop the mesh quality"
        return (f"the Li-surface move would {folded} (quality {q:.3g}, threshold "
                f"{self.threshold:.3g})")

    def accept_step(self, dt: float, restart: bool = False) -> None:
        """After an accepted step of length dt: move the Li surface and the mesh (collective).

        The surface moves by d = q m, q the scheme's normal step (:meth:`scheme_current`)
        with j of the accepted state, the layers ride on it, the electrolyte's mesh follows
        (the move :meth:`propose` computed for this step, else computed now), the history of
        configurations shifts and the geometric caches are refreshed.

        Args:
            dt: The step, s.
            restart: The step ended on a protocol switch (the next update is first order).
        """
        if self._pending is None or self._pending[0] != dt:
            self.propose(dt)
        _, self.j_move = self._pending
        self._pending = None
        w = self.motion.apply()
        self.history.accept(w)
        if self.motion.thickening is not None:
            self.motion.thickening.accept()
        self._store_position()
        self._refresh()
        self.previous_dt = None if restart else dt

    def _make_periodic(self, w: fem.Function) -> None:
        """Replace the move w by its periodic mean (collective).

        The extension does not know the period, so the two nodes of a periodic side pair
        would slide by different amounts; each pair takes their mean.
        """
        self._periodic.average(w.x.petsc_vec)
        w.x.scatter_forward()

    def scheme_current(self, dt: float) -> np.ndarray:
        """The nodal current density whose explicit move v_n(j) dt m is the scheme's step.

        The normal step q (d = q m) solves the time scheme's formula for dx/dt = v_n: BDF1
        q = v_n dt; BDF2 a0 q - a2 q_prev = v_n (variable-step coefficients, q_prev the normal
        part of the previous move), exact for a constant current. First order at the start and
        after a protocol switch (:attr:`previous_dt` None).

        Args:
            dt: The step, s.

        Returns:
            j_eff with v_n(j_eff) dt = q at the Li-surface nodes, A/m^2.
        """
        if self.order == 1 or self.previous_dt is None:
            return self.j_nodes
        a0, _, a2 = bdf_coefficients(2, dt, self.previous_dt)
        kin = self.kinematics
        back = self.history.back[0].x.array.reshape(-1, self.space.gdim)[kin.dofs]
        mm = np.einsum("ij,ij->i", kin.offsets, kin.offsets)
        previous = np.einsum("ij,ij->i", back, kin.offsets) / np.where(mm > 0.0, mm, 1.0)
        return (self.j_nodes + a2 * previous / kin.velocity(1.0)) / (a0 * dt)

    def _store_position(self) -> None:
        gdim = self.space.gdim
        self.position.x.array.reshape(-1, gdim)[:] = self.space.dof_coordinates()

    def _refresh(self) -> None:
        self.domain.update_geometry()
        self.kinematics.update()
        for term in self.terms:
            term.update_geometry()

    def checkpoint_functions(self) -> dict[str, fem.Function]:
        """The functions a checkpoint holds: the node positions and the history's moves."""
        return {
            "growth/position": self.position,
            "growth/history0": self.history.back[0],
            "growth/history1": self.history.back[1],
        }

    def apply_position(self) -> None:
        """Put the nodes where :attr:`position` says (after a checkpoint was read; collective).

        Nothing happens when they are there already (a rejected step never moved them).
        """
        gdim = self.space.gdim
        x = self.domain.mesh.geometry.x
        new = self.position.x.array.reshape(-1, gdim)[self.space.node_dof]
        moved = not np.array_equal(x[:, :gdim], new)
        if self.domain.comm.allreduce(moved, op=MPI.LOR):
            x[:, :gdim] = new
            self._refresh()

    @contextlib.contextmanager
    def reference_geometry(self) -> Iterator[None]:
        """The nodes (and the electrolyte submesh's) at their initial coordinates for a while.

        Checkpoints are keyed to the initial mesh, which a resumed run rebuilds.

        The current coordinates are put back exactly afterwards.
        """
        d = self.domain
        meshes = [d.mesh] + ([] if d.submesh is None else [d.submesh])
        current = [m.geometry.x.copy() for m in meshes]
        d.mesh.geometry.x[:] = self.reference_x
        if d.submesh is not None:
            d.submesh.geometry.x[:] = self.reference_x[d.geom_map]
        try:
            yield
        finally:
            for m, x in zip(meshes, current, strict=True):
                m.geometry.x[:] = x

    def observe(self, t: float) -> dict[str, float]:
        """Morphology scalars of the Li surface at an output time t (collective).

        ``li_apex_height`` (highest node), and in 2D sections ``li_flat_height`` (at the
        ``far_field`` landmark, else the largest x), ``li_roughness_rms``, the growth rates
        ``tip_growth_rate``, ``flat_growth_rate`` (second-order differences over the output
        times so far; nan at the first) and their ratio ``tip_flat_rate_ratio``; m, m/s.
        The profile at t is kept (:attr:`series`, checkpointed with the run's observers).
        """
        profile = surface_profile(self.kinematics)
        values: dict[str, float] = {}
        if profile is not None:
            values["li_apex_height"] = apex_height(profile)
            if profile.shape[1] == 2:
                if not self.series.times or t > self.series.times[-1]:
                    self.series.add(t, profile)
                values["li_flat_height"] = float(self.series.flat_heights()[-1])
                values["li_roughness_rms"] = float(self.series.roughness()[-1])
                rates = len(self.series.times) > 1
                for name, rate in (("tip_growth_rate", self.series.tip_rate),
                                   ("flat_growth_rate", self.series.flat_rate),
                                   ("tip_flat_rate_ratio", self.series.rate_ratio)):
                    values[name] = float(rate()[-1]) if rates else math.nan
        return self.domain.comm.bcast(values, root=0)

    def scalars(self) -> dict[str, Any]:
        """The recorded profiles (rank 0) for a checkpoint."""
        return {"times": self.series.times, "profiles": self.series.profiles,
                "previous_dt": self.previous_dt}

    def set_scalars(self, scalars: dict[str, Any]) -> None:
        """Continue the profiles of :meth:`scalars`."""
        self.series.times = [float(t) for t in scalars["times"]]
        self.series.profiles = [np.asarray(p, dtype=float) for p in scalars["profiles"]]
        previous = scalars.get("previous_dt")  # absent in checkpoints of first-order updates
        self.previous_dt = None if previous is None else float(previous)

    def quality_event(self, remesh: bool = False) -> QualityEvent:
        """The event that stops the run when the moved mesh's quality is too low.

        It tests the quality after the accepted step's move (:attr:`pending_quality`).

        Args:
            remesh: The run continues on a new mesh (``solver.growth.remesh``).
        """
        return QualityEvent(lambda: self.pending_quality, self.threshold, remesh)


class SurfaceSpacing:
    """Tangential redistribution of the 2D Li-surface nodes that keeps their initial spacing.

    The normal motion alone squeezes the surface edges next to a concave corner (the foot of a
    protrusion: both faces' offset lines run into the corner, whose node moves to their
    intersection) until the cells there fold. After the normal displacement d, each vertex
    node (not a corner, where the facets meet at more than ~16 degrees, nor on a side or the
    axis, nor the end of a piece of the surface, a void's rim, with one facet) slides along
    its tangent to the point between its two neighbours that divides them in the ratio of the
    initial edge lengths,

        target = sum_f x_f / L0_f / sum_f 1/L0_f     (x_f the neighbour across facet f),

    and a second-order facet's mid-edge node to the middle of its vertices (the tangential part
    only). Where the spacing ratios did not change (uniform growth of a flat or a circle) the
    shift is 0. The shape changes only by the curvature over the small tangential shift,
    O(kappa s^2) per step. Sums are accumulated through ghost exchanges (rank-consistent).

    Args:
        bundle: The mesh and its ``li_surface`` facets.
        space: The displacement space.
        kinematics: The surface kinematics (normals, offset vectors, dofs).
    """

    CORNER = 1.01
    """|m| above which a node is a corner (facets meeting at more than ~16 degrees): fixed."""

    RATE = 1.0
    """Largest tangential shift of a node in a step, relative to its normal step: the shift
    is proportional to the step (a shorter step moves the mesh less), and a spacing error
    that built up while a node was a corner is undone over several steps, not in one jump
    that folded the cells beside it (the main job's ``lif_rich`` case at 30 s)."""

    def __init__(
        self, bundle: MeshBundle, space: DisplacementSpace, kinematics: SurfaceKinematics
    ) -> None:
        self.space, self.kinematics = space, kinematics
        nodes = facet_nodes(bundle.mesh, tagged_facets(bundle, "li_surface", owned=True))
        self._dofs = space.node_dof[nodes]  # (facets, 2 or 3) block dofs, vertices first
        x = space.dof_coordinates()
        length = np.linalg.norm(x[self._dofs[:, 1]] - x[self._dofs[:, 0]], axis=1)
        self._weight = 1.0 / length
        sides = side_dofs(bundle, space)
        self._fixed = np.unique(np.concatenate(list(sides.values())))
        self._buffers: dict[int, la.Vector] = {}

    def _sum(self, *values: np.ndarray) -> list[np.ndarray]:
        """Per-dof values (each of shape (dofs, gdim)) summed over ranks in one exchange."""
        gdim = self.space.gdim
        if len(values) not in self._buffers:
            index_map = self.space.V.dofmap.index_map
            self._buffers[len(values)] = la.vector(index_map, len(values) * gdim)
        buffer = self._buffers[len(values)]
        table = buffer.array.reshape(-1, len(values), gdim)
        table[:] = np.stack(values, axis=1)
        buffer.scatter_reverse(la.InsertMode.add)
        buffer.scatter_forward()
        return [table[:, k].copy() for k in range(len(values))]

    def redistribute(self, d: fem.Function) -> None:
        """Add the tangential shifts to the surface displacement ``d`` (collective)."""
        gdim = self.space.gdim
        kin = self.kinematics
        moved = self.space.dof_coordinates() + d.x.array.reshape(-1, gdim)
        a, b = self._dofs[:, 0], self._dofs[:, 1]
        weighted = np.zeros_like(moved)
        total = np.zeros_like(moved)
        w = self._weight[:, None]
        np.add.at(weighted, a, w * moved[b])
        np.add.at(weighted, b, w * moved[a])
        np.add.at(total[:, 0], a, self._weight)
        np.add.at(total[:, 0], b, self._weight)
        np.add.at(total[:, 1], a, 1.0)  # facets at each vertex: 1 at the end of a piece
        np.add.at(total[:, 1], b, 1.0)
        weighted, total = self._sum(weighted, total)
        values = d.x.array.reshape(-1, gdim)
        tangent = np.stack([-kin.normals[:, 1], kin.normals[:, 0]], axis=1)
        free = np.linalg.norm(kin.offsets, axis=1) < self.CORNER
        free &= ~np.isin(kin.dofs, self._fixed) & (total[kin.dofs, 1] > 1.5)
        free &= ~np.isin(kin.dofs, self._dofs[:, 2:].ravel())  # vertices first
        dofs = kin.dofs[free]
        target = weighted[dofs] / total[dofs, :1]
        shift = np.einsum("ij,ij->i", target - moved[dofs], tangent[free])
        step = np.linalg.norm(values[dofs], axis=1)  # the normal step
        shift = np.clip(shift, -self.RATE * step, self.RATE * step)[:, None]
        values[dofs] += shift * tangent[free]
        if self._dofs.shape[1] > 2:  # mid-edge nodes: towards the middle of their vertices
            moved = self.space.dof_coordinates() + values
            middle = self._dofs[:, 2]
            chord = moved[b] - moved[a]
            along = chord / np.linalg.norm(chord, axis=1)[:, None]
            gap = np.einsum("ij,ij->i", 0.5 * (moved[a] + moved[b]) - moved[middle], along)
            step = np.linalg.norm(values[middle], axis=1)
            gap = np.clip(gap, -self.RATE * step, self.RATE * step)
            mid_shift = np.zeros_like(moved)
            mid_shift[middle] = gap[:, None] * along
            values += self._sum(mid_shift)[0]
        d.x.scatter_forward()


class QualityEvent:
    """The smallest cell quality of the moved mesh falls below a threshold: the run stops.

    A move below the threshold is refused and the step redone shorter
    (:meth:`SurfaceGrowth.refuse_move`; with remeshing only a move that would fold a cell);
    the event happens when the accepted step's move goes below it. Without remeshing the
    accepted state (solved on the last good mesh) is output as the last snapshot and the run
    ends (a clean stop). With remeshing (``handover``) the time driver stops without that
    snapshot and ``solver.growth.remesh`` continues the run on a new mesh.

    Args:
        quality: The smallest cell quality after the accepted step's move (collective).
        threshold: The quality below which the run stops.
        handover: The run continues on a new mesh (remeshing).

    Attributes:
        time: Time of the event, s (None before it happened).
        stop: Always True.
        handover: The run is continued on a new mesh (remeshing).
    """

    stop = True

    def __init__(self, quality: Callable[[], float], threshold: float,
                 handover: bool = False) -> None:
        self.quality, self.threshold, self.handover = quality, threshold, handover
        self.time: float | None = None

    def check(self, t_prev: float, t: float) -> str | None:
        """Test the accepted step; the event's message when the quality is too low (collective)."""
        if self.time is not None:
            return None
        q = self.quality()
        if q >= self.threshold:
            return None
        self.time = t
        if self.handover:
            return f"mesh quality {q:.3g} below {self.threshold:.3g} at t={t:.6g} s: remeshing"
        return (f"mesh quality {q:.3g} below {self.threshold:.3g} at t={t:.6g} s: the moving "
                "Li surface stops here (remeshing is not available)")

    def scalars(self) -> dict[str, Any]:
        """The event time (for a checkpoint)."""
        return {"time": self.time}

    def set_scalars(self, scalars: dict[str, Any]) -> None:
        """Take the values :meth:`scalars` returned."""
        self.time = scalars["time"]
