"""Mesh motion: the Li-surface displacement extended into the domain, and the move.

Given the displacement d of the Li-surface nodes (solver.growth.kinematics), the mesh
displacement w solves (docs/theory.md, "Moving Li surface")

    interphase layers:   -div(k grad w) = 0,   w = d on li_surface,   k grad w . n = 0 elsewhere
    electrolyte:         -div(k grad w) = 0,   w = the layer's w on the layer cells (and d on
                                               bare li_surface), w = 0 on the counter

with w . e_side = 0 on the lateral sides and the axis (the tangential component slides freely)
and void walls free (natural condition). The layers are solved first: a thin layer with a
zero-flux outer boundary carries its Li surface's displacement across its thickness (exactly for
a uniform rise, to O((T/l)^2) where the displacement varies over a length l), so the interphase
rides on the Li and keeps its thickness; the electrolyte then takes the layer's motion as a
Dirichlet condition. The stiffness k = (|K|_max / |K|)^chi (chi = ``stiffening``) is 1 for the
harmonic extension and grows in small cells for chi > 0 (pseudo-elastic stiffening: small cells
near the surface move almost rigidly and keep their quality).

The forms are compiled once; each ``step`` reassembles them on the current geometry (the
stiffness is recomputed after each move) and moves the geometry nodes.
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
from solver.growth.space import DisplacementSpace

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


class MeshMotion:
    """Harmonic or pseudo-elastic extension of the Li-surface displacement, and the move.

    Args:
        bundle: The mesh with its cell and facet groups.
        space: Its displacement space (shared with the kinematics).
        stiffening: chi >= 0 in k = (|K|_max / |K|)^chi (0: harmonic).
        solver: ``"direct"`` (MUMPS) or ``"iterative"`` (CG + GAMG, relative tolerance 1e-12).

    Attributes:
        w: The last mesh displacement (a function of ``space.V``).
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
        options = _SOLVERS[solver]

        def problem(
            tags: tuple[int, ...], bcs: list[fem.DirichletBC], solution: fem.Function
        ) -> LinearProblem:
            # the whole mesh with k restricted to the groups (not dx(tags)): the sparsity
            # pattern then holds the diagonal of every row a Dirichlet condition sets
            region = fem.Function(self._Q)
            for tag in tags:
                region.x.array[self._Q.dofmap.list[bundle.cell_tags.find(tag)].ravel()] = 1.0
            region.x.scatter_forward()
            a = region * self.k * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
            L = ufl.inner(zero, v) * dx
            return LinearProblem(
                a, L, bcs=bcs, u=solution, petsc_options=options,
                petsc_options_prefix=f"lidep_motion_{next(_PREFIXES)}_",
            )

        self.surface = fem.Function(V, name="surface_displacement")
        self.w = fem.Function(V, name="mesh_displacement")
        sides = side_dofs(bundle, space)
        li = self._blocks_of_facets("li_surface")
        counter = self._blocks_of_facets("counter")
        if layers:
            in_layers = self._blocks_of_cells(layers)
            outside = np.setdiff1d(np.arange(space.num_dofs, dtype=np.int32), in_layers)
            self._layer_w = fem.Function(V, name="layer_displacement")
            self._layers = problem(
                layers,
                _disjoint_bcs(V, sides, zero_blocks=outside, value=self.surface, value_blocks=li),
                self._layer_w,
            )
            fixed = np.union1d(in_layers, li)
            source = self._layer_w
        else:
            self._layers = None
            fixed, source = li, self.surface
        self._electrolyte = problem(
            (bundle.regions["electrolyte"],),
            _disjoint_bcs(V, sides, zero_blocks=counter, value=source, value_blocks=fixed),
            self.w,
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
        """Set the stiffness k = (|K|_max / |K|)^chi from the current cell measures."""
        if self.stiffening == 0.0:
            self.k.x.array[:] = 1.0
            return
        volumes = fem.assemble_vector(self._volume)
        volumes.scatter_forward()
        vol = volumes.array
        comm = self.bundle.mesh.comm
        owned = vol[: self._Q.dofmap.index_map.size_local]
        largest = comm.allreduce(float(owned.max()) if owned.size else 0.0, op=MPI.MAX)
        self.k.x.array[:] = (largest / vol) ** self.stiffening
        self.k.x.scatter_forward()

    def extend(self, surface: fem.Function) -> fem.Function:
        """The mesh displacement w for a given Li-surface displacement (the mesh is not moved).

        Args:
            surface: Function of the displacement space holding d on the Li-surface dofs.

        Returns:
            ``self.w``, with ghost values up to date.
        """
        self.surface.x.array[:] = surface.x.array
        if self._layers is not None:
            self._layers.solve()
        self._electrolyte.solve()
        return self.w

    def step(self, surface: fem.Function) -> fem.Function:
        """Extend the Li-surface displacement, move the mesh by it and refresh the stiffness.

        Cached geometric quantities of the caller (normals, bounding-box trees, interpolation
        data, located points) are stale afterwards (docs/theory.md).

        Returns:
            The mesh displacement applied (``self.w``); divided by the step length it is the
            mesh velocity of the ALE terms.
        """
        w = self.extend(surface)
        self.space.move(w)
        self._update_stiffness()
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
