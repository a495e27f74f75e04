r"""The variationally consistent (residual-based) flux through a Dirichlet boundary.

Where the potential is prescribed (primary kinetics: Phi = phi_s on the Li surface), the
current density through that boundary is not an unknown of the problem. The gradient flux
:math:`-\sigma\nabla\Phi_h\cdot n` converges one order slower than the field at the boundary.
The residual of the discrete problem tested with the Dirichlet basis functions is its reaction
and holds the flux as the discrete problem sees it; ``docs/theory.md``, "Li-surface current":
find :math:`\lambda_h` in the trace of the potential's space on the boundary :math:`\Gamma` with

.. math::

    \int_\Gamma \lambda_h\,\mu\,w\,ds = -R(\mu)\quad\text{for every }\mu\text{ of that trace},

where R is the (unscaled) charge residual and w = 2 pi r in axisymmetric coordinates (1
otherwise). Tested with mu = 1 this is the total current of the reaction exactly; locally
lambda_h converges at the rate of the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from solver.forms import compile_forms

__all__ = ["ResidualFlux"]

#: Relative tolerance of the boundary mass solves (CG, Jacobi): the mass matrix is well
#: conditioned after diagonal scaling, so this costs a few tens of iterations.
FLUX_RTOL = 1e-13


class ResidualFlux:
    """lambda_h per potential block on its Dirichlet boundary, from the residual.

    Compiled once (collective): one boundary mass matrix and one residual form per block.

    Args:
        spaces: The function space of each potential block.
        dofs: Local dofs (ghosts included) of each block on its Dirichlet boundary.
        measures: The boundary measure of each block (ds over its facets; None: none there).
        residuals: The unscaled charge residual of each block, linear in its test function
            (UFL), e.g. ``Simulation.charge_residuals(tests, etas)``.
        weight: w of the integrals (2 pi r or 1).
        entity_maps: Entity maps of forms that mix the mesh and a submesh.
        comm: The communicator.
    """

    def __init__(
        self,
        spaces: Sequence[fem.FunctionSpace],
        dofs: Sequence[np.ndarray],
        measures: Sequence[Any | None],
        residuals: Sequence[Any],
        weight: Any,
        entity_maps: Any,
        comm: MPI.Comm,
    ):
        self.comm = comm
        self.functions = [fem.Function(V, name="li_flux") for V in spaces]
        self._blocks = []
        for V, on, ds, res, lam in zip(spaces, dofs, measures, residuals, self.functions,
                                       strict=True):
            if ds is None:
                continue
            imap = V.dofmap.index_map
            others = np.setdiff1d(
                np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32), on
            ).astype(np.int32)
            lam_t, mu = ufl.TrialFunction(V), ufl.TestFunction(V)
            mass, residual = compile_forms([lam_t * mu * weight * ds, res], entity_maps=entity_maps)
            # lambda_h = 0 off the boundary: a unit diagonal in the rows of the other dofs of the
            # cells at the boundary, the only rows the boundary mass matrix has; the rows of the
            # dofs further away have no entries to hold a diagonal (their right-hand side is 0).
            cells = V.dofmap.list
            near = np.unique(cells[np.isin(cells, on).any(axis=1)])
            zero = fem.dirichletbc(0.0, np.setdiff1d(near, on).astype(np.int32), V)
            matrix = dolfinx.fem.petsc.assemble_matrix(mass, bcs=[zero], diag=1.0)
            matrix.assemble()
            ksp = PETSc.KSP().create(comm)
            ksp.setOperators(matrix)
            ksp.setType("cg")
            ksp.getPC().setType("jacobi")
            ksp.setTolerances(rtol=FLUX_RTOL, atol=0.0, max_it=1000)
            rhs = dolfinx.fem.petsc.create_vector(V)
            owned_others = others[others < imap.size_local]
            self._blocks.append((residual, matrix, ksp, rhs, owned_others, lam))

    def update(self) -> None:
        """lambda_h of the present state (collective)."""
        for residual, _, ksp, rhs, others, lam in self._blocks:
            with rhs.localForm() as local:
                local.set(0.0)
            dolfinx.fem.petsc.assemble_vector(rhs, residual)
            rhs.ghostUpdate(PETSc.InsertMode.ADD_VALUES, PETSc.ScatterMode.REVERSE)
            rhs.scale(-1.0)
            rhs.array_w[others] = 0.0
            ksp.solve(rhs, lam.x.petsc_vec)
            lam.x.scatter_forward()
