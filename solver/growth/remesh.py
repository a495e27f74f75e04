"""Remeshing a grown mesh: rebuild the domain on the current Li surface and carry the run over.

When the moved mesh's quality falls below ``physics.growth.min_quality`` times its initial value
and ``physics.growth.remesh.enabled`` (docs/theory.md, "Remeshing"):

1. the Li-surface facets of all ranks are gathered and chained in order along the surface
   (``surface_chain``: their vertices and, for P2, mid nodes) and become a
   ``surface: {kind: polyline}`` of the run's geometry (splines through the nodes broken at
   corners; any shape, it may lean over), with the protrusions dropped (they are part of that
   surface now) and the smallest radius of curvature of the original geometry or of the grown
   surface (its smooth pieces, ``polyline.smallest_radius``) as the radius the mesh resolves
   along it; nodes where the layers' offset would fold (a concave corner that gathered nodes
   closer than the interphase thickness) are dropped (``polyline.untangled``); Gmsh rebuilds
   the domain on it (rank 0, the same mesh sizes, the interphase layers regenerated as exact
   offsets of the chain, trimmed in concave corners: :mod:`solver.geometry.polyline`) and the
   mesh is distributed as at the start;
2. a fresh simulation of the same class and case is built on it (its forms are the same, so
   their compilation is a cache hit) with the same step listeners and observers from outside;
3. every function of the old run's State (the potentials, the salt unknown, its BDF history,
   the potentials' predictor levels, the ALE history displacements, the contact gaps) is
   interpolated onto the new mesh by non-matching interpolation (``FieldTransfer``); a new
   point that no old cell holds within ``PADDING`` times the smallest old cell is an error,
   never a silent zero;
4. the salt inventory of each BDF level, on the configuration it was solved on, is measured
   before and after the transfer; its change is reported, and with
   ``physics.growth.remesh.conserve_salt`` removed by a global factor per level;
5. the scalars (time, step controller, BDF times, events, morphology series) carry over; the
   quality threshold is the lower of the first mesh's and the new mesh's own (min_quality
   times its initial quality: a remeshed mesh is held to no stricter standard); the
   position update restarts at first order, the reused Jacobian is assembled anew.

If any of this fails (a chain that crosses itself, one below the base plane, a 3D, void or
mosaic-layer geometry, Gmsh's error, a point outside the old mesh, a pull-back that diverges,
the quality still too low) the run stops cleanly: the last good state is the last snapshot and
its events say why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import dolfinx
import numpy as np
from dolfinx import fem
from mpi4py import MPI
from pydantic import ValidationError

from solver.geometry import build_mesh, polyline
from solver.geometry.spec import GeometryConfig, MosaicLayer
from solver.growth.space import facet_nodes, tagged_facets

__all__ = [
    "PADDING",
    "FieldTransfer",
    "RemeshError",
    "Remesher",
    "remeshed_geometry",
    "surface_chain",
]

PADDING = 1e-2
"""How far (times the smallest cell diameter of the old mesh) a new interpolation point may lie
outside the old mesh and still take the value of the nearest old cell (its polynomial continued
over that distance). The new Li surface is the spline through the old nodes, which leaves the
old (polygonal or quadratic) facets by ~ chord^2 curvature / 8, far below this."""


class RemeshError(RuntimeError):
    """Remeshing cannot proceed (the message says why)."""


def surface_chain(bundle: Any, root: int = 0) -> np.ndarray | None:
    """The Li-surface nodes of all ranks on ``root`` in order along the surface (2D).

    The owned ``li_surface`` facets are gathered and chained through their shared vertices,
    from the end nearest x = 0; a P2 facet contributes its mid node between its vertices.

    Returns:
        Shape (n, 2) on ``root``; None on the other ranks.

    Raises:
        RemeshError: (on ``root``) the facets do not form one open chain.
    """
    mesh = bundle.mesh
    nodes = facet_nodes(mesh, tagged_facets(bundle, "li_surface", owned=True))
    parts = mesh.comm.gather(mesh.geometry.x[nodes][:, :, :2], root=root)
    if parts is None:
        return None
    facets = np.concatenate(parts, axis=0)
    ends: dict[tuple[float, float], list[int]] = {}
    for i, facet in enumerate(facets):
        for vertex in facet[:2]:
            ends.setdefault(tuple(vertex), []).append(i)
    tips = [v for v, at in ends.items() if len(at) == 1]
    if len(tips) != 2 or any(len(at) > 2 for at in ends.values()):
        raise RemeshError(f"the Li surface is no single open chain ({len(tips)} ends)")
    vertex = min(tips)
    chain, previous = [np.array(vertex)], -1
    while True:
        following = [i for i in ends[vertex] if i != previous]
        if not following:
            break
        previous = following[0]
        facet = facets[previous]
        forward = tuple(facet[0]) == vertex
        far = facet[1] if forward else facet[0]
        chain += [*facet[2:], far]  # mid node (P2), then the far vertex
        vertex = tuple(far)
    if len(chain) != len(facets) * (facets.shape[1] - 1) + 1:
        raise RemeshError("the Li surface is no single open chain (a loop)")
    return np.array(chain)


def remeshed_geometry(geometry: GeometryConfig, chain: np.ndarray) -> GeometryConfig:
    """The geometry rebuilt on a Li surface through the points of ``chain``.

    Args:
        geometry: The run's geometry.
        chain: The Li-surface nodes in order along it from x = 0 to x = W, shape (n, 2), m.

    Raises:
        RemeshError: The geometry cannot be rebuilt from a chain (3D, voids, mosaic layers) or
            the chain is no valid ``polyline`` surface (its message names the reason).
    """
    if geometry.dimension != 2:
        raise RemeshError("a 3D Li surface cannot be rebuilt (the polyline surface is 2D)")
    if geometry.voids is not None:
        raise RemeshError("a Li surface with voids cannot be rebuilt from its chain")
    if any(isinstance(layer, MosaicLayer) for layer in geometry.layers):
        raise RemeshError("a mosaic layer cannot be regenerated (its grains would be drawn "
                          "anew, not carried over)")
    points = np.array(chain, dtype=float)[:, :2]
    if not polyline.is_simple(points):
        raise RemeshError("the grown Li surface is no valid polyline surface: the chain "
                          "crosses or touches itself")
    points = polyline.untangled(points, geometry.interphase_thickness())
    gap = abs(points[0, 1] - points[-1, 1])
    if geometry.domain.lateral == "periodic" and gap <= PADDING * np.min(
        np.hypot(*np.diff(points, axis=0).T)
    ):
        # the side nodes of a periodic surface are one point: one height (the motion leaves
        # them apart by ~1e-5 of the rise, 5e-12 m in tests/test_remesh.py)
        points[[0, -1], 1] = 0.5 * (points[0, 1] + points[-1, 1])
    radii = [geometry.min_radius_of_curvature(), polyline.smallest_radius(points)]
    radii += [r for p in geometry.protrusions for r in p.refined_radii()]
    radius = min(radii)
    data = geometry.model_dump(mode="json")
    data["surface"] = {"kind": "polyline", "points": points.tolist(),
                       "radius": radius if math.isfinite(radius) else None}
    data["protrusions"] = []
    try:
        return GeometryConfig.model_validate(data)
    except ValidationError as err:
        reason = "; ".join(e["msg"] for e in err.errors())
        raise RemeshError(f"the grown Li surface is no valid polyline surface: {reason}") from err


class FieldTransfer:
    """Non-matching interpolation of functions from an old mesh onto a new one.

    The interpolation data of each (target space, source space) pair is made once. Every
    interpolation point of the target on this rank must be found in a source cell within
    ``padding`` (checked on ``src_owner``, reduced over ranks).

    A crushed concave corner of a grown P2 mesh has edges bent so far (mid nodes several % of
    the edge length off the chord) that the pull-back of a nearby new point into such a cell
    diverges. Then those edges of the old mesh are straightened for the transfer (mid nodes
    on the chord midpoints; restored afterwards) and the padding grows by twice the largest
    shift, so that points of the new mesh between the bent and the straight edge take the
    values of the nearest old cell.

    Args:
        padding: The distance a point may lie outside the source mesh, m.

    Attributes:
        straightened: Transfers that needed the bent edges straightened.
    """

    BENT = 1e-2
    """Shift of an edge's mid node from its chord midpoint, relative to the edge length, above
    which the edge is straightened when a pull-back diverged."""

    def __init__(self, padding: float) -> None:
        self.padding = padding
        self._data: dict[tuple[int, int], tuple[np.ndarray, Any]] = {}
        self.straightened = 0

    def __call__(self, source: fem.Function, target: fem.Function) -> None:
        """Interpolate ``source`` into ``target`` (collective).

        Raises:
            RemeshError: Some point of the target lies outside the source mesh, or a
                pull-back diverges even with the bent edges straightened.
        """
        key = (id(target.function_space), id(source.function_space))
        if key not in self._data:
            self._data[key] = self._prepare(source, target, self.padding)
        if self._data[key] is not None:
            target.interpolate_nonmatching(source, *self._data[key])
        else:
            with _straightened(source.function_space.mesh, self.BENT) as shift:
                data = self._prepare(source, target, self.padding + 2.0 * shift)
                if data is None:
                    raise RemeshError(f"the transfer of {target.name} failed: a new point "
                                      "cannot be located in its old cell (pull-back diverged)")
                target.interpolate_nonmatching(source, *data)
            self.straightened += 1
        target.x.scatter_forward()

    @staticmethod
    def _prepare(source: fem.Function, target: fem.Function, padding: float
                 ) -> tuple[np.ndarray, Any] | None:
        """The interpolation cells and data; None if some pull-back diverges (collective).

        Each rank pulls back the points it evaluates into their old cells beforehand: a
        pull-back that failed inside ``interpolate_nonmatching`` would leave the other ranks
        waiting in its exchange.
        """
        V_to, V_from = target.function_space, source.function_space
        mesh = V_to.mesh
        tdim = mesh.topology.dim
        cells = np.arange(mesh.topology.index_map(tdim).size_local, dtype=np.int32)
        data = fem.create_interpolation_data(V_to, V_from, cells, padding=padding)
        lost = int(np.count_nonzero(np.asarray(data.src_owner) < 0))
        lost = mesh.comm.allreduce(lost, op=MPI.SUM)
        if lost:
            raise RemeshError(
                f"{lost} points of the new mesh lie farther than {padding:.3g} m "
                f"outside the old one ({target.name})"
            )
        located = mesh.comm.allreduce(_pull_backs_converge(V_from.mesh, data), op=MPI.LAND)
        return (cells, data) if located else None


def _pull_backs_converge(mesh: dolfinx.mesh.Mesh, data: Any) -> bool:
    """Whether every point this rank evaluates pulls back into its cell (local)."""
    gdim = mesh.geometry.dim
    points = np.asarray(data.dest_points).reshape(-1, 3)[:, :gdim]
    cells = np.asarray(data.dest_cells)
    order = np.argsort(cells, kind="stable")
    unique, starts = np.unique(cells[order], return_index=True)
    x, nodes, cmap = mesh.geometry.x[:, :gdim], mesh.geometry.dofmaps[0], mesh.geometry.cmaps[0]
    for cell, group in zip(unique, np.split(order, starts[1:]), strict=True):
        try:
            cmap.pull_back(points[group], x[nodes[cell]])
        except RuntimeError:
            return False
    return True


@contextmanager
def _straightened(mesh: dolfinx.mesh.Mesh, bent: float) -> Iterator[float]:
    """The mesh with its bent P2 edges straight (restored on exit); yields the largest shift.

    An edge is bent when its mid node lies more than ``bent`` times its length off the
    midpoint of its vertices. The shift is reduced over ranks (m).
    """
    x = mesh.geometry.x
    saved = x.copy()
    nodes = mesh.geometry.dofmaps[0]
    shift = 0.0
    if nodes.shape[1] == 6:  # P2 triangles: edge k (opposite vertex k) has mid node 3 + k
        for k, (a, b) in enumerate(((1, 2), (0, 2), (0, 1))):
            va, vb, m = nodes[:, a], nodes[:, b], nodes[:, 3 + k]
            mid = 0.5 * (x[va] + x[vb])
            off = np.linalg.norm(x[m] - mid, axis=1)
            bend = off > bent * np.linalg.norm(x[vb] - x[va], axis=1)
            x[m[bend]] = mid[bend]
            shift = max(shift, float(np.max(off[bend], initial=0.0)))
    shift = mesh.comm.allreduce(shift, op=MPI.MAX)
    try:
        yield shift
    finally:
        x[:] = saved


def _smallest_cell(mesh: dolfinx.mesh.Mesh) -> float:
    """The smallest cell diameter over all ranks, m."""
    tdim = mesh.topology.dim
    cells = np.arange(mesh.topology.index_map(tdim).size_local, dtype=np.int32)
    local = float(np.min(mesh.h(tdim, cells), initial=np.inf))
    return float(mesh.comm.allreduce(local, op=MPI.MIN))


def salt_inventories(simulation: Any) -> list[float]:
    """The salt of each BDF level on the configuration it was solved on, mol (2D: mol/m).

    int_{Omega^{n-k}} c^{n-k} w dx = int c^{n-k} w(x - W_k) det(I - grad W_k) dx (the ALE
    history ``MeshHistory``); an empty list without a salt balance.
    """
    salt, d = simulation.unknowns.salt, simulation.domain
    if salt is None:
        return []
    return [
        d.integrate(salt.concentration_of(salt.bdf.history(salt.salt, k))
                    * salt.moving.volume_ratio(k, d.x_e) * d.dx_e)
        for k in range(salt.bdf.order)
    ]


def _rescale_salt(simulation: Any, factors: list[float]) -> None:
    """Multiply the concentration of each BDF level (and the live unknown with level 0)."""
    salt = simulation.unknowns.salt
    for k, factor in enumerate(factors):
        levels = [salt.bdf.history(salt.salt, k)] + ([salt.salt] if k == 0 else [])
        for f in levels:
            if salt.log_c:
                f.x.array[:] += math.log(factor)
            else:
                f.x.array[:] *= factor
    salt.sync()


class Remesher:
    """Continues a growing run on new meshes when its quality falls too low.

    Args:
        geometry: The run's geometry (None: the mesh was not built from one; no remeshing).
        max_remeshes: Most remeshes of one run.
        conserve_salt: Remove the salt inventory's change in the transfer by a factor per
            BDF level.
        build_mesh: ``(geometry, comm, cache_dir, logger=...) -> MeshBundle`` (Gmsh).

    Attributes:
        count: Remeshes done so far.
        current: The simulation now running (the last remeshed one, or the first).
        drifts: Relative change of the salt inventory in each transfer, before any correction
            (newest BDF level).
        volume_changes: Change of the cell's (weighted) volume in each remesh, m^3 (2D:
            m^2): the new Li surface (splines through the old nodes, corners untangled) is
            not exactly the old one; the deposited volume of a remeshed run is the loss of
            the cell's volume plus the sum of these.
    """

    def __init__(
        self,
        geometry: GeometryConfig | None,
        max_remeshes: int,
        conserve_salt: bool,
        build_mesh: Callable[..., Any] = build_mesh,
    ) -> None:
        self.geometry, self.max_remeshes = geometry, max_remeshes
        self.conserve_salt = conserve_salt
        self.build_mesh = build_mesh
        self.count = 0
        self.current: Any = None
        self.drifts: list[float] = []
        self.volume_changes: list[float] = []

    def due(self, simulation: Any) -> bool:
        """Whether the simulation's run stopped at its mesh-quality event before its end."""
        state = simulation.driver.state
        event = state.events.get("mesh_quality")
        return event is not None and event.time is not None and not state.controller.finished

    def continue_run(self, simulation: Any) -> Iterator[Any]:
        """Remesh and continue the run while its mesh quality stops it (snapshots).

        A remesh that cannot proceed ends the run: the last good state is output as the
        last snapshot with the reason among its events.
        """
        self.current = simulation
        while self.due(self.current):
            old = self.current
            try:
                self.current = self.remesh(old)
            except RemeshError as err:
                t = old.driver.state.t
                message = (f"remeshing at t={t:.6g} s failed: {err}; the run stops with the "
                           f"last good state (t = {t:.6g} s)")
                old.events.append(message)
                old.log.error(message)
                yield old.snapshot(t)
                old.driver.state.last_output = t
                return
            yield from self.current.driver.run()

    def remesh(self, old: Any) -> Any:
        """A new simulation on a mesh rebuilt from ``old``'s Li surface, its state carried over.

        Raises:
            RemeshError: Remeshing cannot proceed (old is left as it was).
        """
        comm, log = old.comm, old.log
        state = old.driver.state
        if self.count >= self.max_remeshes:
            raise RemeshError(f"physics.growth.remesh.max_remeshes ({self.max_remeshes}) reached")
        if self.geometry is None:
            raise RemeshError("the mesh was not built from a geometry configuration")
        error, chain = None, None
        try:
            chain = surface_chain(old.bundle)
        except RemeshError as err:
            error = str(err)
        error, chain = comm.bcast((error, chain), root=0)
        if error is not None:
            raise RemeshError(error)
        geometry = remeshed_geometry(self.geometry, chain)
        error = None
        try:
            bundle = self.build_mesh(geometry, comm, None, logger=log)
        except Exception as err:  # Gmsh's errors are plain Exceptions
            error = f"Gmsh could not rebuild the domain: {err}"
        error = comm.bcast(error, root=0) if comm.size > 1 else error
        if error is not None:
            raise RemeshError(error)
        case = SimpleNamespace(physics=old.physics, time=old.time, numerics=old.numerics,
                               geometry=geometry)
        new = type(old)(bundle, case, comm, log)
        new.checkpoint = None  # see _carry_over
        quality, worn = new.growth.quality.minimum(), old.growth.quality.minimum()
        if quality < old.growth.threshold:
            raise RemeshError(f"the new mesh's quality {quality:.3g} is below the threshold "
                              f"{old.growth.threshold:.3g} too")
        before = salt_inventories(old)
        transfer = FieldTransfer(PADDING * _smallest_cell(old.mesh))
        self._transfer_state(old, new, transfer)
        after = salt_inventories(new)
        drift = after[0] / before[0] - 1.0 if before else 0.0
        self.drifts.append(drift)
        jump = sum(new.domain.volumes.values()) - sum(old.domain.volumes.values())
        self.volume_changes.append(jump)
        if before and self.conserve_salt:
            _rescale_salt(new, [b / a for b, a in zip(before, after, strict=True)])
        new.after_restore()
        self._carry_over(old, new)
        self.count += 1
        cells = bundle.stats.num_cells
        salt = "" if not before else (
            f"; salt inventory changed by {drift:.3g} (relative) in the transfer"
            + (", rescaled" if self.conserve_salt else "")
        )
        message = (f"remeshed at t={state.t:.6g} s (remesh {self.count}): {cells} cells, "
                   f"minimum quality {worn:.3g} -> {quality:.3g}; cell volume changed by "
                   f"{jump:.3g} (weighted: m^3, planar m^2){salt}")
        new.events.append(message)
        log.info(message)
        return new

    @staticmethod
    def _carry_over(old: Any, new: Any) -> None:
        """What a run's surroundings attached to ``old`` goes to ``new`` too.

        The step listeners and observers from outside (progress, metrics, field writer):
        ``new`` was built from the same case, so it added the same number of its own
        listeners. Checkpoints end: a resumed run would rebuild the first mesh, so the last
        checkpoint before the remesh stays the one to resume from.
        """
        new.step_listeners.extend(old.step_listeners[len(new.step_listeners):])
        for name, observer in old.observers.items():
            new.observers.setdefault(name, observer)
        for observer in new.observers.values():
            remeshed = getattr(observer, "remeshed", None)
            if remeshed is not None:
                remeshed(new.bundle)
        new.transient_stol = old.transient_stol
        new.remesher = old.remesher
        if old.checkpoint is not None and old.comm.rank == 0:
            old.log.warning("checkpoints end at the remesh; a resumed run restarts from %s",
                            old.checkpoint)

    @staticmethod
    def _transfer_state(old: Any, new: Any, transfer: FieldTransfer) -> None:
        """Interpolate old's State onto new's and take its scalars (collective)."""
        state = old.driver.state
        scalars = state.scalars()
        target = new.time_driver(old.driver.protocol)
        source = state.functions()
        functions = target.state.functions()
        levels = target.state.level_functions(scalars)
        own = {"growth/position"}  # the new mesh's own node positions
        for name, f in {**functions, **levels}.items():
            if name in own or name.startswith(("jacobian/", "w/")):
                continue
            transfer(source[name], f)
        # min_quality times the initial quality of the run's first mesh or of the new one,
        # the lower: a remeshed mesh is held to no stricter standard than the first
        threshold = min(old.growth.threshold, new.growth.threshold)
        target.state.events["mesh_quality"].threshold = threshold
        new.growth.threshold = threshold
        scalars["events"]["mesh_quality"] = target.state.events["mesh_quality"].scalars()
        growth = old.growth.scalars()
        growth["previous_dt"] = None  # the position update restarts at first order
        observers = {"growth": growth}
        if old.contact is not None:
            observers["contact"] = old.contact.scalars()
        scalars["observers"] = observers
        if scalars["linearisation"] is not None:
            scalars["linearisation"].update(factorised=False, w_current=False)
        target.state.load({**functions, **levels}, scalars)
