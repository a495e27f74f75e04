"""Periodic lateral sides: the prolongation P from periodic to all degrees of freedom.

A periodic unknown satisfies u(x + W, ...) = u(x, ...) (and u(.., y + D, ..) = u(.., y, ..) in 3D;
the growth direction is the last coordinate). On a mesh whose sides carry matching nodes, the
dofs on x = W (y = D) are *slaves*: each equals its *master*, the dof at the coordinates
translated by -W and/or -D at once (so every corner chains to the single master at the origin
corner). All other dofs are free. With x_r the free dofs, x = P x_r, where the prolongation P
(n_full x n_reduced) has one 1.0 per row. Newton then solves the reduced system

    (P^T J P) dx_r = P^T R,    dx = P dx_r

(``docs/theory.md``, "Periodic sides"). P acts on the blocked layout of
``dolfinx.fem.petsc.create_vector(spaces)``: on each rank the owned dofs of field 0, then field 1,
... so one P serves a coupled system of several fields (Phi on the mesh, c on a submesh).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dolfinx.fem.petsc
import numpy as np
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

__all__ = ["PeriodicConstraint"]

#: Coordinates within this fraction of the smallest cell diameter are the same point.
MATCH_TOLERANCE = 1e-4


@dataclass
class _FieldDofs:
    """The owned dof blocks of one field, classified for the periodic constraint.

    Attributes:
        bs: Block size (values per dof block).
        points: (n, 3) coordinates of the owned dof blocks.
        slave: (n,) True on an upper side (x = W or, in 3D, y = D).
        target: (n_slave, 3) the slaves' points translated onto the lower side(s).
        candidate: (n,) possible masters: non-slaves on a lower side (x = 0 or y = 0).
        constrained: (n, bs) True where a Dirichlet condition holds.
    """

    bs: int
    points: np.ndarray
    slave: np.ndarray
    target: np.ndarray
    candidate: np.ndarray
    constrained: np.ndarray


class PeriodicConstraint:
    """Prolongation P of one blocked system, its reduced operator P^T A P and work vectors.

    The period of each lateral direction is the mesh's extent in it (x in [x_lo, x_hi],
    W = x_hi - x_lo), taken from the mesh of ``spaces[0]`` (the full mesh).

    Args:
        spaces: The fields of the system in block order (Phi first; c on the electrolyte
            submesh may follow), all on meshes with the same lateral extent.
        bcs: The system's Dirichlet conditions grouped by field (``fem.bcs_by_block``). A slave
            and its master must both be constrained or both free (then the reduced Dirichlet
            row is twice the identity row, with twice the value, which keeps its solution).

    Raises:
        ValueError: A slave dof has no master (the mesh is not periodic), or a Dirichlet
            condition holds on one dof of a periodic pair only.
    """

    def __init__(
        self,
        spaces: Sequence[fem.FunctionSpace],
        bcs: Sequence[Sequence[fem.DirichletBC]] | None = None,
    ):
        msh = spaces[0].mesh
        self.comm: MPI.Comm = msh.comm
        lateral = range(msh.geometry.dim - 1)
        x = msh.geometry.x
        self.lower = np.array(
            [self.comm.allreduce(float(x[:, k].min(initial=np.inf)), op=MPI.MIN) for k in lateral]
        )
        self.upper = np.array(
            [self.comm.allreduce(float(x[:, k].max(initial=-np.inf)), op=MPI.MAX) for k in lateral]
        )
        tdim = msh.topology.dim
        n_cells = msh.topology.index_map(tdim).size_local
        h_local = msh.h(tdim, np.arange(n_cells, dtype=np.int32)).min(initial=np.inf)
        self.tol = MATCH_TOLERANCE * self.comm.allreduce(float(h_local), op=MPI.MIN)

        layout = dolfinx.fem.petsc.create_vector(list(spaces), kind=PETSc.Vec.Type.MPI)
        offsets = layout.getAttr("_blocks")[0]
        n_full = layout.getLocalSize()
        layout.destroy()
        fields = [
            self._classify(V, field_bcs)
            for V, field_bcs in zip(spaces, bcs or [[] for _ in spaces], strict=True)
        ]
        # Reduced numbering: the free (non-slave) entries of this rank, field after field.
        free = np.concatenate([np.repeat(~f.slave, f.bs) for f in fields])
        n_reduced = int(free.sum())
        reduced_start = self.comm.exscan(n_reduced) or 0
        column = np.full(n_full, -1, dtype=PETSc.IntType)
        column[free] = reduced_start + np.arange(n_reduced, dtype=PETSc.IntType)
        for k, f in enumerate(fields):
            block = column[offsets[k] : offsets[k + 1]].reshape(-1, f.bs)
            self._map_slaves(f, block)

        self.P = PETSc.Mat().createAIJ(
            ((n_full, PETSc.DETERMINE), (n_reduced, PETSc.DETERMINE)),
            csr=(
                np.arange(n_full + 1, dtype=PETSc.IntType),
                column,
                np.ones(n_full, dtype=PETSc.ScalarType),
            ),
            comm=self.comm,
        )
        self.P.assemble()
        self.num_slaves = self.comm.allreduce(n_full - n_reduced, op=MPI.SUM)
        self._A_r: PETSc.Mat | None = None
        self._b_r, self._x_r = self.P.createVecRight(), self.P.createVecRight()
        self._counts: PETSc.Vec | None = None

    # ------------------------------------------------------------------------------------------
    # Construction
    # ------------------------------------------------------------------------------------------
    def _classify(self, V: fem.FunctionSpace, bcs: Sequence[fem.DirichletBC]) -> _FieldDofs:
        """Owned dof blocks of one field: slaves, their master coordinates, master candidates."""
        imap, bs = V.dofmap.index_map, V.dofmap.index_map_bs
        n = imap.size_local
        points = V.tabulate_dof_coordinates()[:n]
        lateral = points[:, : len(self.lower)]
        on_upper = np.abs(lateral - self.upper) < self.tol
        on_lower = np.abs(lateral - self.lower) < self.tol
        slave = on_upper.any(axis=1)
        target = points[slave].copy()
        target[:, : len(self.lower)] -= on_upper[slave] * (self.upper - self.lower)
        constrained = np.zeros((n + imap.num_ghosts) * bs, dtype=bool)
        for bc in bcs:
            dofs, first_ghost = bc.dof_indices()
            constrained[dofs[:first_ghost]] = True
        return _FieldDofs(
            bs=bs,
            points=points,
            slave=slave,
            target=target,
            candidate=on_lower.any(axis=1) & ~slave,
            constrained=constrained[: n * bs].reshape(n, bs),
        )

    def _map_slaves(self, f: _FieldDofs, block: np.ndarray) -> None:
        """Write the reduced index of each slave's master into ``block`` (rows of dof blocks)."""
        mine = f.candidate
        gathered = self.comm.allgather((f.points[mine], block[mine, 0], f.constrained[mine]))
        coords = np.vstack([g[0] for g in gathered])
        first = np.concatenate([g[1] for g in gathered])
        constrained = np.vstack([g[2] for g in gathered])
        slaves = np.flatnonzero(f.slave)
        distance, match = np.full(len(slaves), np.inf), np.zeros(len(slaves), dtype=int)
        if len(coords) and len(slaves):
            from scipy.spatial import cKDTree  # here, not at import: scipy.spatial takes ~0.3 s

            distance, match = cKDTree(coords).query(f.target, distance_upper_bound=self.tol)
        lost = ~np.isfinite(distance)
        # collective checks: every rank raises, or none
        where = self._first_point(f.points[slaves[lost]])
        if where is not None:
            raise ValueError(
                "geometry.domain.lateral: 'periodic' needs matching nodes on opposite sides, but "
                f"a dof on an upper side has no partner (at {where} m; tolerance "
                f"{self.tol:.3g} m); the mesh is not periodic"
            )
        mismatch = (constrained[match] != f.constrained[slaves]).any(axis=1)
        where = self._first_point(f.points[slaves[mismatch]])
        if where is not None:
            raise ValueError(
                "geometry.domain.lateral: 'periodic' sides need the same Dirichlet conditions on "
                f"both dofs of a periodic pair, but the dof at {where} m and its partner differ"
            )
        block[slaves] = first[match][:, None] + np.arange(f.bs, dtype=block.dtype)

    def _first_point(self, points: np.ndarray) -> str | None:
        """The first of the points of all ranks, formatted; None if there are none (collective)."""
        everywhere = [p for p in self.comm.allgather(points[:1]) if len(p)]
        return np.array2string(everywhere[0][0], precision=6) if everywhere else None

    # ------------------------------------------------------------------------------------------
    # Reduced system
    # ------------------------------------------------------------------------------------------
    def restrict(self, b: PETSc.Vec) -> PETSc.Vec:
        """P^T b (a residual summed onto the free dofs) in a work vector owned by this object."""
        self.P.multTranspose(b, self._b_r)
        return self._b_r

    def prolong(self, x_r: PETSc.Vec, x: PETSc.Vec) -> None:
        """Prolong: x = P x_r (owned entries; ghosts are not updated)."""
        self.P.mult(x_r, x)

    def operator(self, A: PETSc.Mat) -> PETSc.Mat:
        """A_r = P^T A P; the symbolic product of the first call is reused afterwards."""
        if self._A_r is None:
            self._A_r = A.PtAP(self.P)
        else:
            A.PtAP(self.P, self._A_r)
        return self._A_r

    def solve(self, ksp: PETSc.KSP, b: PETSc.Vec, x: PETSc.Vec) -> None:
        """Reduced solve: x = P (P^T A P)^-1 P^T b, ``ksp`` set up on :meth:`operator`."""
        ksp.solve(self.restrict(b), self._x_r)
        self.prolong(self._x_r, x)

    def average(self, x: PETSc.Vec) -> None:
        """Make x periodic in place: every periodic pair (or corner chain) takes its mean.

        x = P D^-1 P^T x, D = P^T P (the number of dofs each free dof stands for). Used for the
        mesh displacement of a growing run, so that paired side nodes keep equal coordinates.
        """
        if self._counts is None:
            ones = self.P.createVecLeft()
            ones.set(1.0)
            self._counts = self.P.createVecRight()
            self.P.multTranspose(ones, self._counts)
            ones.destroy()
        self.P.multTranspose(x, self._x_r)
        self._x_r.pointwiseDivide(self._x_r, self._counts)
        self.P.mult(self._x_r, x)
