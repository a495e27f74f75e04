"""Mesh motion: the Li-surface displacement extended into the domain, and the move.

Given the displacement d of the Li-surface nodes (solver.growth.kinematics), the mesh
displacement w is (docs/theory.md, "Moving Li surface")

    interphase layers:   w(p) = d at the closest point of the Li surface (solver.growth.riding)
    electrolyte:         -div(k grad w) = 0,   w = the layers' w on the layer nodes and d on
                                               bare li_surface, w = 0 on the counter,

with w . e_side = 0 on the lateral sides and the axis (the tangential component slides freely)
and void walls free (natural condition). The interphase rides on the Li: a conformal layer is
carried along the normals of the surface beneath it, which keeps its thickness (exactly for a
uniform rise on a flat surface; on curved ones up to the blend at corners, solver.growth.riding:
a 50 nm layer on a sinusoid loses 1.6e-4 of its area in a 7 nm rise). A harmonic extension
across the layer with a free outer boundary, tried first, thins a layer of thickness T on a
surface of curvature radius R by ~(T/R)^2 of the displacement: the same layer lost 2.4e-3 of
its area at every refinement. The stiffness k = (|K|_max / |K|)^chi
(chi = ``stiffening``) is 1 for the harmonic extension and grows in small cells for chi > 0
(pseudo-elastic stiffening: small cells near the surface move almost rigidly and keep their
quality).

The form is compiled once; each ``step`` reassembles it on the current geometry (the stiffness
is recomputed after each move) and moves the geometry nodes.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.petsc import LinearProblem
from mpi4py import MPI

from solver.geometry.bundle import MeshBundle
from solver.growth.kinematics import side_dofs
from solver.growth.riding import SurfacePieces
from solver.growth.space import DisplacementSpace, facet_nodes, tagged_facets

__all__ = ["MeshMotion"]

_PREFIXES = itertools.count()

_SOLVERS: dict[str, dict[str, object]] = {
    "direct": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
    "iterative": {
        "ksp_type": "cg",
        "pc_type": "gamg",
        "ksp_rtol": 1e-12,
        "ksp_atol": 0.0,
        "ksp_max_it": 1000,
        "ksp_error_if_not_converged": True,
    },
}
"""PETSc options of the extension solves: MUMPS LU, or CG with algebraic multigrid."""


class _Problem(LinearProblem):
    """A LinearProblem whose PETSc objects are not destroyed explicitly when it is collected.

    DOLFINx's ``LinearProblem.__del__`` destroys its KSP; with MUMPS that is collective
    (``MPI_Comm_dup``), and the garbage collector frees a finished case's objects at a
    different moment on each rank: 2-rank runs of two growing cases hung there. petsc4py
    defers the destruction of parallel objects it deallocates to a collective cleanup.
    """

    def __del__(self) -> None:
        """Leave the PETSc objects to petsc4py's deferred destruction."""


class MeshMotion:
    """The Li-surface displacement carried through the layers, extended, and the move.

    The layers ride on the Li (solver.growth.riding); the electrolyte gets the harmonic or
    pseudo-elastic extension.

    Args:
        bundle: The mesh with its cell and facet groups.
        space: Its displacement space (shared with the kinematics).
        stiffening: chi >= 0 in k = (|K|_max / |K|)^chi (0: harmonic).
        solver: ``"direct"`` (MUMPS) or ``"iterative"`` (CG + GAMG, relative tolerance 1e-12).

    Attributes:
        w: The last mesh displacement (a function of ``space.V``).
        surface: The last Li-surface displacement it was extended from.
        k: The stiffness (DG0), refreshed after every move.
        thickening: The interphase's thickening from its leakage current, added to the layers'
            ride (None: the layers keep their thickness).

    Raises:
        ValueError: A negative ``stiffening``.
    """

    def __init__(
        self,
        bundle: MeshBundle,
        space: DisplacementSpace,
        *,
        stiffening: float = 0.0,
        solver: Literal["direct", "iterative"] = "direct",
    ) -> None:
        if not stiffening >= 0.0:
            raise ValueError(f"stiffening: must be >= 0 (got {stiffening}); allowed: >= 0")
        self.bundle = bundle
        self.space = space
        self.stiffening = stiffening
        mesh = bundle.mesh
        V = space.V
        self._Q = fem.functionspace(mesh, ("DG", 0))
        self.k = fem.Function(self._Q, name="stiffness")
        dx = ufl.Measure("dx", domain=mesh, subdomain_data=bundle.cell_tags)
        self._volume = fem.form(ufl.TestFunction(self._Q) * dx)
        self._update_stiffness()

        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        zero = fem.Constant(mesh, np.zeros(space.gdim))
        layers = tuple(t for name, t in bundle.regions.items() if name != "electrolyte")

        region = fem.Function(self._Q)
        cells = self.bundle.cell_tags.find(bundle.regions["electrolyte"])
        region.x.array[self._Q.dofmap.list[cells].ravel()] = 1.0
        region.x.scatter_forward()
        # the whole mesh with k restricted to the electrolyte (not dx(tag)): the sparsity pattern
        # then holds the diagonal of every row a Dirichlet condition sets
        a = region * self.k * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
        L = ufl.inner(zero, v) * dx

        self.surface = fem.Function(V, name="surface_displacement")
        self.w = fem.Function(V, name="mesh_displacement")
        self._fixed = fem.Function(V, name="fixed_displacement")
        self._li_facets = tagged_facets(bundle, "li_surface", owned=True)
        li = self._blocks_of_facets("li_surface")
        layer_dofs = self._blocks_of_cells(layers) if layers else np.empty(0, dtype=np.int32)
        self._riders = np.setdiff1d(layer_dofs, li).astype(np.int32) if layers else None
        self._sides = side_dofs(bundle, space)
        #: The interphase's own thickening added to the riding (``solver.growth.thickening``).
        self.thickening = None
        self._problem = _Problem(
            a, L, u=self.w, petsc_options=_SOLVERS[solver],
            petsc_options_prefix=f"lidep_motion_{next(_PREFIXES)}_",
            bcs=_disjoint_bcs(
                V, self._sides, zero_blocks=self._blocks_of_facets("counter"),
                value=self._fixed, value_blocks=np.union1d(layer_dofs, li),
            ),
        )

    def _blocks_of_facets(self, name: str) -> np.ndarray:
        """Block dofs on a facet group (found on every rank that holds them)."""
        if name not in self.bundle.boundaries:
            return np.empty(0, dtype=np.int32)
        fdim = self.bundle.mesh.topology.dim - 1
        facets = self.bundle.facet_tags.find(self.bundle.boundaries[name])
        return self.space.shared(fem.locate_dofs_topological(self.space.V, fdim, facets))

    def _blocks_of_cells(self, tags: tuple[int, ...]) -> np.ndarray:
        """Block dofs of the closure of the cells of the given groups (on every rank)."""
        cells = np.concatenate([self.bundle.cell_tags.find(t) for t in tags])
        return self.space.shared(self.space.V.dofmap.list[cells].ravel())

    def _update_stiffness(self) -> None:
        """Set k = (|K|_max / |K|)^chi |K|_max^((2 - d)/d) from the current cell measures.

        The factor |K|_max^((2 - d)/d) scales the stiffness matrix to entries of order 1 (like
        the unit diagonal of the Dirichlet rows); in 3D SI cells would give ~1e-7, which made
        CG + GAMG fail ("indefinite matrix").
        """
        volumes = fem.assemble_vector(self._volume)
        volumes.scatter_forward()
        vol = volumes.array
        comm = self.bundle.mesh.comm
        owned = vol[: self._Q.dofmap.index_map.size_local]
        largest = comm.allreduce(float(owned.max()) if owned.size else 0.0, op=MPI.MAX)
        dim = self.bundle.mesh.topology.dim
        self.k.x.array[:] = (largest / vol) ** self.stiffening * largest ** ((2.0 - dim) / dim)
        self.k.x.scatter_forward()

    def extend(self, surface: fem.Function) -> fem.Function:
        """The mesh displacement w for a given Li-surface displacement (the mesh is not moved).

        Args:
            surface: Function of the displacement space holding d on the Li-surface dofs.

        Returns:
            ``self.w``, with ghost values up to date.
        """
        self.surface.x.array[:] = surface.x.array
        self._fixed.x.array[:] = surface.x.array
        if self._riders is not None:
            self._carry_layers(self._riders)
        self._problem.solve()
        # the linear solver reproduces Dirichlet values only to round-off: set them exactly, so
        # that side nodes stay on their plane and Li nodes move by d bit for bit
        for bc in self._problem.bcs:
            bc.set(self.w.x.array)
        self.w.x.scatter_forward()
        return self.w

    def _carry_layers(self, riders: np.ndarray) -> None:
        """Give the layer nodes ``riders`` the displacement of their closest Li-surface point.

        On a side the component normal to it is then set to 0 (the nodes slide along it).
        Collective: every rank gathers the whole Li surface.
        """
        space = self.space
        gdim = space.gdim
        x = space.mesh.geometry.x[:, :gdim]
        d = self.surface.x.array.reshape(-1, gdim)[space.node_dof]
        local = SurfacePieces.from_facets(facet_nodes(space.mesh, self._li_facets), x, d)
        comm = space.mesh.comm
        corners = np.concatenate(comm.allgather(local.corners), axis=0)
        displacement = np.concatenate(comm.allgather(local.displacement), axis=0)
        pieces = SurfacePieces(corners, displacement)
        values = self._fixed.x.array.reshape(-1, gdim)
        values[riders] = pieces.displacement_at(space.dof_coordinates()[riders])
        if self.thickening is not None:
            values[riders] += self.thickening.displacement(space.dof_coordinates()[riders])
        for axis, dofs in self._sides.items():
            values[np.intersect1d(dofs, riders), axis] = 0.0

    def step(self, surface: fem.Function) -> fem.Function:
        """Extend the Li-surface displacement, move the mesh by it and refresh the stiffness.

        Cached geometric quantities of the caller (normals, bounding-box trees, interpolation
        data, located points) are stale afterwards (docs/theory.md).

        Returns:
            The mesh displacement applied (``self.w``); divided by the step length it is the
            mesh velocity of the ALE terms.
        """
        self.extend(surface)
        return self.apply()

    def apply(self) -> fem.Function:
        """Move the mesh by the last extension (``self.w``) and refresh the stiffness.

        Returns:
            The mesh displacement applied (``self.w``).
        """
        self.space.move(self.w)
        self._update_stiffness()
        return self.w


def _disjoint_bcs(
    V: fem.FunctionSpace,
    sides: dict[int, np.ndarray],
    *,
    zero_blocks: np.ndarray,
    value: fem.Function,
    value_blocks: np.ndarray,
) -> list[fem.DirichletBC]:
    """Dirichlet conditions on disjoint dof sets (a dof set twice would get a doubled diagonal).

    ``value_blocks`` take ``value`` (all components), the remaining ``zero_blocks`` take 0, the
    remaining side dofs have their side-normal component set to 0 (sliding).
    """
    bs = V.dofmap.index_map_bs
    zero_blocks = np.setdiff1d(zero_blocks, value_blocks)
    taken = np.union1d(zero_blocks, value_blocks)
    bcs = [
        fem.dirichletbc(value, value_blocks.astype(np.int32)),
        fem.dirichletbc(np.zeros(bs), zero_blocks.astype(np.int32), V),
    ]
    for axis, blocks in sides.items():
        free = np.setdiff1d(blocks, taken)
        dofs = (free * bs + axis).astype(np.int32)
        bcs.append(fem.dirichletbc(np.float64(0.0), dofs, V.sub(axis)))
    return bcs
