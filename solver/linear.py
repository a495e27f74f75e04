"""Linear solves of the Newton systems: MUMPS, or a Krylov method with a scalable preconditioner.

The Newton iteration (``solver.problem``) solves J dx = b with the Jacobian J of the scaled
residuals (R_Phi, R_c) (``docs/theory.md``). In the electrolyte interior the salt residual
contains the migration term of the anion flux N_- = -D grad(c) - t_- i / F (t_- = 1 - t+)::

    R_c   = s_c   [ int (dc/dt q + D grad(c) . grad(q) + (t_-/F) i . grad(q)) w dx_e ]
    R_Phi = s_Phi [ int -i . grad(v) w dx + boundary terms ],          s_c = F s_Phi

so the c-rows of J carry the whole conductivity operator of Phi (and of c through i) scaled by
t_-: a strong coupling that defeats block preconditioners and algebraic multigrid on the
coupled matrix. Adding t_- times the Phi-row of the same point to every c-row, i.e.
left-multiplying by the unit lower block-triangular matrix::

    L = [[I, 0], [t_- T, I]]       (T: c dof -> Phi dof at the same point of the parent mesh)

cancels the interior migration term exactly for a constant t+ (for t+(c) only the deviation
t+(c) - t+(c_bulk) remains): the c-rows of L J become the diffusion operator (+ the BDF mass),
coupled to Phi only through the Li-surface kinetics and the interphase | electrolyte boundary.
L is invertible, so (L J) dx = L b has exactly the solution of J dx = b; the residual, line
search and bordered update of the Newton iteration are untouched. L J is then solved by GMRES
with a multiplicative field split, the c block first (diffusion: GAMG) and the Phi block second
(conductivity: GAMG), which is block Gauss-Seidel on the nearly block-triangular L J.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dolfinx.fem.petsc
import numpy as np
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

__all__ = [
    "LinearSolver",
    "block_global_indices",
    "default_options",
    "field_index_sets",
    "migration_elimination",
    "shared_dofs",
]


def default_options(kind: str, coupled: bool, rtol: float, dim: int = 2) -> dict[str, Any]:
    """PETSc options of the linear solver (without prefix).

    Args:
        kind: ``"direct"`` (MUMPS LU) or ``"iterative"``.
        coupled: The system holds c besides the potentials (the iterative solver then works on
            L J with the splits "c" and "phi").
        rtol: Relative tolerance of the Krylov method.
        dim: Dimension of the mesh. In 3D GAMG's aggressive coarsening of the finest level
            uses a distance-2 maximal independent set instead of squaring the matrix graph:
            3x cheaper set-up of a P2 Laplacian at 2e5 unknowns, the same CG iteration count,
            and at 1e6 unknowns less than half the peak memory (docs/performance.md, "3D job").
            In 2D MUMPS orders the matrix by approximate minimum fill (ICNTL 7 = 2) instead
            of its automatic choice, METIS here: the same factors' accuracy in half the time
            of the direct solve from 1e4 to 7e5 P2 unknowns, on 1 and 2 ranks; in 3D METIS
            is faster (docs/performance.md, "Start-up").

    Returns:
        The options: MUMPS LU; GMRES + GAMG for the potentials alone; GMRES with a
        multiplicative field split (c block, then potential block, each preconditioned by
        GAMG) for the coupled system.
    """
    if kind == "direct":
        direct: dict[str, Any] = {
            "ksp_type": "preonly",
            "pc_type": "lu",
            "pc_factor_mat_solver_type": "mumps",
            "mat_mumps_icntl_14": 200,
            "mat_mumps_icntl_24": 1,
        }
        if dim == 2:
            direct["mat_mumps_icntl_7"] = 2  # approximate minimum fill
        return direct
    if kind != "iterative":
        raise ValueError(f"numerics.linear_solver: unknown kind {kind!r}")
    options: dict[str, Any] = {
        "ksp_type": "gmres",
        "ksp_gmres_restart": 200,
        # Thin resistive interphases make classical Gram-Schmidt lose orthogonality (GMRES then
        # stalls near 1e-9 until the restart); re-orthogonalise when needed.
        "ksp_gmres_cgs_refinement_type": "refine_ifneeded",
        "ksp_rtol": rtol,
        "ksp_max_it": 2000,
    }
    amg = {
        "pc_type": "gamg",
        "pc_gamg_type": "agg",
        "mg_levels_ksp_type": "chebyshev",
        "mg_levels_pc_type": "jacobi",
    }
    if dim == 3:
        amg["pc_gamg_aggressive_square_graph"] = False
    if not coupled:
        return options | amg
    options |= {"pc_type": "fieldsplit", "pc_fieldsplit_type": "multiplicative"}
    for name in ("c", "phi"):
        options[f"fieldsplit_{name}_ksp_type"] = "preonly"
        options |= {f"fieldsplit_{name}_{key}": value for key, value in amg.items()}
    return options


def shared_dofs(
    V: fem.FunctionSpace, Q: fem.FunctionSpace, parent_cells: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rank-local dofs (Phi in V, c in Q) at the same point.

    Args:
        V: The space of Phi on the parent mesh.
        Q: The space of c on a submesh of it, same element.
        parent_cells: Parent cell of every (local and ghost) submesh cell.

    Returns:
        (phi_dofs, c_dofs), one pair per local c dof (ghosts included).

    Raises:
        ValueError: The cell-wise dof layouts of V and Q do not coincide.
    """
    sub_dofs = Q.dofmap.list
    parent_dofs = V.dofmap.list[parent_cells]
    c_dofs, first = np.unique(sub_dofs.reshape(-1), return_index=True)
    phi_dofs = parent_dofs.reshape(-1)[first]
    x_c = Q.tabulate_dof_coordinates()[c_dofs]
    x_phi = V.tabulate_dof_coordinates()[phi_dofs]
    size = np.ptp(x_c, axis=0).max(initial=0.0) if len(x_c) else 0.0
    mismatch = np.abs(x_c - x_phi).max(initial=0.0)
    if mismatch > 1e-10 * max(size, np.finfo(float).tiny):
        raise ValueError(
            f"c and Phi dofs do not coincide on the electrolyte submesh (max distance "
            f"{mismatch:.3g} m): the spaces must use the same element"
        )
    return phi_dofs.astype(np.int64), c_dofs.astype(np.int64)


def block_global_indices(spaces: Sequence[fem.FunctionSpace]) -> list[np.ndarray]:
    """Global row index, in the blocked matrix of ``spaces``, of every local (and ghost) dof.

    The blocked layout of DOLFINx (``create_matrix`` of a block form) numbers on each rank the
    owned dofs of field 0, then those of field 1, ...; ghosts take their owner's numbers.
    """
    vec = dolfinx.fem.petsc.create_vector(list(spaces), kind=PETSc.Vec.Type.MPI)
    owned, ghost = vec.getAttr("_blocks")
    start = vec.getOwnershipRange()[0]
    with vec.localForm() as local:
        local.array[: owned[-1]] = start + np.arange(owned[-1])
    vec.ghostUpdate(PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
    with vec.localForm() as local:
        numbers = np.rint(local.array_r).astype(np.int64)
    vec.destroy()
    return [  # owned first, then ghosts, as in the dofmap
        np.concatenate([numbers[owned[k] : owned[k + 1]], numbers[ghost[k] : ghost[k + 1]]])
        for k in range(len(spaces))
    ]


def migration_elimination(
    spaces: Sequence[fem.FunctionSpace],
    partner: int,
    partner_cells: np.ndarray,
    t_minus: float,
    fixed: Sequence[np.ndarray],
    comm: MPI.Comm,
) -> PETSc.Mat:
    """The matrix L = [[I, 0], [t_- T, I]] in the blocked layout of ``spaces``.

    c is the last field. Row i of L J is row i of J plus, for a c dof i, t_- times the row of
    the ``partner`` field's dof at the same point (the potential of the electrolyte). Rows of
    Dirichlet dofs are left alone, so their identity rows stay identity rows.

    Args:
        spaces: Spaces of the blocked system, c last.
        partner: Index of the electrolyte's potential in ``spaces``.
        partner_cells: Cell of the partner's mesh of every local (and ghost) cell of the c mesh.
        t_minus: Anion transference number 1 - t+ (at c_bulk for a concentration-dependent t+).
        fixed: Per field, the rank-local dofs with a Dirichlet condition.
        comm: Communicator of the mesh.

    Returns:
        The assembled PETSc AIJ matrix L.
    """
    V, Q = spaces[partner], spaces[-1]
    phi_dofs, c_dofs = shared_dofs(V, Q, partner_cells)
    n_c_owned = Q.dofmap.index_map.size_local
    keep = (c_dofs < n_c_owned) & ~np.isin(c_dofs, fixed[-1]) & ~np.isin(phi_dofs, fixed[partner])
    rows = block_global_indices(spaces)
    n_local = sum(W.dofmap.index_map.size_local * W.dofmap.index_map_bs for W in spaces)
    row_start = comm.scan(n_local) - n_local
    # CSR of the owned rows: a 1 on the diagonal, t_- at the partner of kept c rows.
    partner_column = np.full(n_local, -1, dtype=np.int64)
    partner_column[rows[-1][c_dofs[keep]] - row_start] = rows[partner][phi_dofs[keep]]
    counts = 1 + (partner_column >= 0)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(PETSc.IntType)
    diagonal = row_start + np.arange(n_local)
    pairs = np.stack([diagonal, partner_column], axis=1)
    values = np.stack([np.ones(n_local), np.full(n_local, t_minus)], axis=1)
    order = np.argsort(np.where(pairs < 0, np.iinfo(np.int64).max, pairs), axis=1)
    pairs = np.take_along_axis(pairs, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    mask = pairs >= 0
    L = PETSc.Mat().createAIJ(
        size=((n_local, PETSc.DETERMINE), (n_local, PETSc.DETERMINE)),
        csr=(indptr, pairs[mask].astype(PETSc.IntType), values[mask]),
        comm=comm,
    )
    L.assemble()
    return L


def field_index_sets(
    spaces: Sequence[fem.FunctionSpace], comm: MPI.Comm, prolongation: PETSc.Mat | None = None
) -> list[PETSc.IS]:
    """Owned rows of each field in the blocked layout (the index sets of a field split).

    Args:
        spaces: Spaces of the blocked system.
        comm: Communicator of the mesh.
        prolongation: With periodic sides, P (full <- reduced, one 1 per row): the rows are
            then those of the reduced system P^T J P (a free dof keeps its field).
    """
    rows = block_global_indices(spaces)
    owned = [r[: V.dofmap.index_map.size_local] for r, V in zip(rows, spaces, strict=True)]
    if prolongation is not None:
        marker = prolongation.createVecLeft()
        reduced = prolongation.createVecRight()
        start, start_reduced = marker.getOwnershipRange()[0], reduced.getOwnershipRange()[0]
        for k, field_rows in enumerate(owned):
            marker.set(0.0)
            marker.array[field_rows - start] = 1.0
            prolongation.multTranspose(marker, reduced)
            owned[k] = start_reduced + np.flatnonzero(reduced.array_r > 0.5)
    return [PETSc.IS().createGeneral(r.astype(PETSc.IntType), comm=comm) for r in owned]


@contextmanager
def _options(prefix: str, options: Mapping[str, Any]):
    """Put ``options`` in the PETSc options database under ``prefix`` for the block's duration."""
    database = PETSc.Options()
    for key, value in options.items():
        database[prefix + key] = value
    try:
        yield
    finally:
        for key in options:
            database.delValue(prefix + key)


class LinearSolver:
    """A KSP for J dx = b, optionally working on the transformed system (L J) dx = L b.

    Args:
        comm: Communicator of the mesh.
        prefix: Unique PETSc options prefix of this solver.
        options: PETSc options (without prefix), already merged with the user's.
        transform: L of :func:`migration_elimination`, or None to solve J dx = b as it is.
        splits: Named index sets of a ``fieldsplit`` preconditioner, in the order of the
            splits (used only when ``options["pc_type"] == "fieldsplit"``).
        periodic: A ``solver.periodic.PeriodicConstraint``: solve the reduced system
            P^T (L) J P dx_r = P^T (L) b, dx = P dx_r (the splits then index reduced rows).

    Attributes:
        ksp: The PETSc KSP (its iteration number and converged reason describe the last solve).
    """

    def __init__(
        self,
        comm: MPI.Comm,
        prefix: str,
        options: Mapping[str, Any],
        transform: PETSc.Mat | None = None,
        splits: Sequence[tuple[str, PETSc.IS]] = (),
        periodic: Any = None,
    ):
        self.prefix = prefix
        self.options = dict(options)
        self.transform = transform
        self.periodic = periodic
        self.ksp = PETSc.KSP().create(comm)
        self.ksp.setOptionsPrefix(prefix)
        with _options(prefix, self.options):
            self.ksp.setFromOptions()
        if self.options.get("pc_type") == "fieldsplit":
            self.ksp.getPC().setFieldSplitIS(*splits)
        self._operator: PETSc.Mat | None = None
        self._rhs: PETSc.Vec | None = None

    def set_operator(self, A: PETSc.Mat) -> None:
        """Use the assembled Jacobian A (forms L A when transforming) and set up the solver."""
        operator = A
        if self.transform is not None:
            if self._operator is None:
                self._operator = self.transform.matMult(A)
            else:
                self.transform.matMult(A, result=self._operator)
            operator = self._operator
        if self.periodic is not None:
            operator = self.periodic.operator(operator)
        with _options(self.prefix, self.options):
            self.ksp.setOperators(operator)
            self.ksp.setUp()
            self.ksp.getPC().setUpOnBlocks()

    def solve(self, b: PETSc.Vec, x: PETSc.Vec) -> int:
        """Solve for x with the right-hand side b; return the KSP converged reason (< 0: failed)."""
        rhs = b
        if self.transform is not None:
            if self._rhs is None:
                self._rhs = b.duplicate()
            self.transform.mult(b, self._rhs)
            rhs = self._rhs
        if self.periodic is None:
            self.ksp.solve(rhs, x)
        else:
            self.periodic.solve(self.ksp, rhs, x)
        return int(self.ksp.getConvergedReason())
