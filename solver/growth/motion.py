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

The operator is that of the initial configuration (a Lagrangian reference, docs/theory.md):
-div(k grad w) is assembled and factorised (or its multigrid set up) once, with the cells and
stiffness of the mesh as it was built, and every ``step`` solves it for the step's displacement
and moves the geometry nodes. The extension being linear, the node positions are then the
extension of the whole displacement so far on the initial mesh, x = X + E_0(sum_n d_n); a
reassembly on the current configuration at every step made the motion the largest part of a
growing run's extra cost (docs/performance.md) and moved the nodes by an amount that differs
only at second order in the displacement over the cell size.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.petsc import assemble_matrix, set_bc
from mpi4py import MPI
from petsc4py import PETSc

from solver.geometry.bundle import MeshBundle
from solver.growth.kinematics import side_dofs
from solver.growth.riding import SurfacePieces
from solver.growth.space import DisplacementSpace, facet_nodes, tagged_facets

__all__ = ["MeshMotion"]

_PREFIXES = itertools.count()

_SOLVERS: dict[str, dict[str, object]] = {
    "direct": {
        "ksp_type": "preonly",
        "pc_type": "lu",
        "pc_factor_mat_solver_type": "mumps",
        "ksp_error_if_not_converged": True,
    },
    "iterative": {
        "ksp_type": "cg",
        "pc_type": "gamg",
        "ksp_rtol": 1e-12,
        "ksp_atol": 0.0,
        "ksp_max_it": 1000,
        "ksp_error_if_not_converged": True,
    },
}
"""PETSc options of the extension solves: MUMPS LU, or CG with algebraic multigrid (a failed
solve raises a PETSc error on every rank)."""


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
        k: The stiffness (DG0) of the initial configuration.

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
        self._set_stiffness(fem.form(ufl.TestFunction(self._Q) * dx))

        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        layers = tuple(t for name, t in bundle.regions.items() if name != "electrolyte")

        region = fem.Function(self._Q)
        cells = self.bundle.cell_tags.find(bundle.regions["electrolyte"])
        region.x.array[self._Q.dofmap.list[cells].ravel()] = 1.0
        region.x.scatter_forward()
        # the whole mesh with k restricted to the electrolyte (not dx(tag)): the sparsity pattern
        # then holds the diagonal of every row a Dirichlet condition sets
        a = fem.form(region * self.k * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx)

        self.surface = fem.Function(V, name="surface_displacement")
        self.w = fem.Function(V, name="mesh_displacement")
        self._fixed = fem.Function(V, name="fixed_displacement")
        self._li_facets = tagged_facets(bundle, "li_surface", owned=True)
        li = self._blocks_of_facets("li_surface")
        layer_dofs = self._blocks_of_cells(layers) if layers else np.empty(0, dtype=np.int32)
        self._riders = np.setdiff1d(layer_dofs, li).astype(np.int32) if layers else None
        self._sides = side_dofs(bundle, space)
        self._bcs = _disjoint_bcs(
            V, self._sides, zero_blocks=self._blocks_of_facets("counter"),
            value=self._fixed, value_blocks=np.union1d(layer_dofs, li),
        )
        self._setup_solver(a, solver)

    def _setup_solver(self, a: fem.Form, solver: str) -> None:
        """Assemble the operator on the initial configuration and factorise it once.

        ``self._free`` is the operator without the Dirichlet conditions (it lifts them into the
        right-hand side), ``self._ksp`` solves the one with them (identity rows and columns).
        The PETSc objects are left to petsc4py's deferred, collective destruction: DOLFINx's
        ``LinearProblem.__del__`` destroyed its KSP explicitly, which is collective with MUMPS
        (``MPI_Comm_dup``), and 2-rank runs of two growing cases hung where the garbage
        collector freed a finished case's objects at a different moment on each rank.
        """
        self._free = assemble_matrix(a)
        self._free.assemble()
        operator = assemble_matrix(a, bcs=self._bcs)
        operator.assemble()
        self._rhs = self._free.createVecLeft()
        self._ksp = PETSc.KSP().create(self.bundle.mesh.comm)
        self._ksp.setOperators(operator)
        prefix = f"lidep_motion_{next(_PREFIXES)}_"
        options = PETSc.Options()
        for key, value in _SOLVERS[solver].items():
            options[prefix + key] = value
        self._ksp.setOptionsPrefix(prefix)
        self._ksp.setFromOptions()
        for key in _SOLVERS[solver]:
            del options[prefix + key]
        self._ksp.setUp()

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

    def _set_stiffness(self, volume: fem.Form) -> None:
        """Set k = (|K|_max / |K|)^chi |K|_max^((2 - d)/d) from the cell measures |K| (volume).

        The factor |K|_max^((2 - d)/d) scales the stiffness matrix to entries of order 1 (like
        the unit diagonal of the Dirichlet rows); in 3D SI cells would give ~1e-7, which made
        CG + GAMG fail ("indefinite matrix").
        """
        volumes = fem.assemble_vector(volume)
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
        # lifting: b = -A g off the Dirichlet dofs, g on them (g: the prescribed values)
        g = self.w.x
        g.array[:] = 0.0
        for bc in self._bcs:
            bc.set(g.array)
        self._free.mult(g.petsc_vec, self._rhs)
        self._rhs.scale(-1.0)
        set_bc(self._rhs, self._bcs)
        self._ksp.solve(self._rhs, g.petsc_vec)
        # the linear solver reproduces Dirichlet values only to round-off: set them exactly, so
        # that side nodes stay on their plane and Li nodes move by d bit for bit
        for bc in self._bcs:
            bc.set(g.array)
        g.scatter_forward()
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
        for axis, dofs in self._sides.items():
            values[np.intersect1d(dofs, riders), axis] = 0.0

    def step(self, surface: fem.Function) -> fem.Function:
        """Extend the Li-surface displacement and move the mesh by it.

        Cached geometric quantities of the caller (normals, bounding-box trees, interpolation
        data, located points) are stale afterwards (docs/theory.md).

        Returns:
            The mesh displacement applied (``self.w``); divided by the step length it is the
            mesh velocity of the ALE terms.
        """
        w = self.extend(surface)
        self.space.move(w)
        return w


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
