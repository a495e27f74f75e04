"""Effective conductivity of a pixel / voxel microstructure by finite elements, and its bounds.

The sample is the unit square (cube) ``Ω = [0, 1]^d``, one bilinear (trilinear) cell per
pixel, with a cellwise-constant (DG0) conductivity σ from the microstructure. The potential
drop problem along the last axis x_{d-1}:

    ∇·(σ ∇u) = 0 in Ω,   u = 0 on x_{d-1} = 0,   u = 1 on x_{d-1} = 1,   σ ∇u·n = 0 elsewhere.

The effective conductivity is the current per unit area over the field ΔV/L = 1, which for the
discrete solution u_h equals its energy (the current through the Dirichlet face, in the
variationally consistent sense):

    σ_eff = ∫_Ω σ ∇u_h·∇u_h dx.

u_h minimises that energy over the conforming space, so σ_eff(h) >= σ_eff (the exact value of
the same piecewise-constant medium): the discrete sample is never less conducting. With the
trial u = x_{d-1} it follows that σ_eff(h) <= the arithmetic mean (Wiener's upper bound) for
every sample, and σ_eff(h) >= σ_eff >= the harmonic mean (Wiener's lower bound).

The forms are compiled once per grid; a new sample only refills the DG0 function σ and
assembles again. The linear solve is MUMPS (LU): the contrast of the two phases is up to
:data:`MAX_CONTRAST`, where iterative solvers need care. Everything is collective on the
mesh's communicator (each rank fills its own cells from the same microstructure array).
"""

from __future__ import annotations

import math

import dolfinx
import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from mpi4py import MPI
from petsc4py import PETSc

__all__ = [
    "MAX_CONTRAST",
    "ConductivityCell",
    "hashin_shtrikman",
    "wiener",
]

#: Largest conductivity ratio accepted in one solve (LU in double precision keeps the flux to
#: better than 1e-6 relative up to about this contrast).
MAX_CONTRAST = 1e9


def wiener(fraction: float, sigma_1: float, sigma_2: float) -> tuple[float, float]:
    """Wiener bounds (harmonic, arithmetic mean) of a two-phase medium.

    Args:
        fraction: Volume fraction of phase 1.
        sigma_1: Conductivity of phase 1.
        sigma_2: Conductivity of phase 2.

    Returns:
        (lower, upper): the series and the parallel arrangement of the phases.
    """
    upper = fraction * sigma_1 + (1.0 - fraction) * sigma_2
    lower = 1.0 / (fraction / sigma_1 + (1.0 - fraction) / sigma_2)
    return lower, upper


def hashin_shtrikman(fraction: float, sigma_1: float, sigma_2: float, dim: int
                     ) -> tuple[float, float]:
    """Hashin–Shtrikman bounds of a statistically isotropic two-phase medium in ``dim`` D.

    With σ_lo <= σ_hi the phase conductivities and φ_lo, φ_hi their fractions:

        lower = σ_lo + φ_hi / (1 / (σ_hi - σ_lo) + φ_lo / (d σ_lo)),
        upper = σ_hi + φ_lo / (1 / (σ_lo - σ_hi) + φ_hi / (d σ_hi)).

    Args:
        fraction: Volume fraction of phase 1.
        sigma_1: Conductivity of phase 1.
        sigma_2: Conductivity of phase 2.
        dim: Space dimension (2 or 3).

    Returns:
        (lower, upper).
    """
    if sigma_1 == sigma_2:
        return sigma_1, sigma_1
    (s_lo, f_lo), (s_hi, f_hi) = sorted([(sigma_1, fraction), (sigma_2, 1.0 - fraction)])
    lower = s_lo + f_hi / (1.0 / (s_hi - s_lo) + f_lo / (dim * s_lo))
    upper = s_hi + f_lo / (1.0 / (s_lo - s_hi) + f_hi / (dim * s_hi))
    return lower, upper


class ConductivityCell:
    """The potential-drop problem on an ``n^d`` grid, compiled once, solved per sample.

    Args:
        comm: Communicator (the mesh is distributed over its ranks).
        n: Pixels (cells) per side.
        dim: 2 (quadrilaterals) or 3 (hexahedra).

    Example:
        >>> cell = ConductivityCell(MPI.COMM_SELF, 64, 2)  # doctest: +SKIP
        >>> cell.solve(np.where(metal, 1e6, 1.0))  # doctest: +SKIP
    """

    def __init__(self, comm: MPI.Comm, n: int, dim: int) -> None:
        self.n, self.dim = n, dim
        if dim == 2:
            self.mesh = dolfinx.mesh.create_unit_square(
                comm, n, n, dolfinx.mesh.CellType.quadrilateral)
        else:
            self.mesh = dolfinx.mesh.create_unit_cube(
                comm, n, n, n, dolfinx.mesh.CellType.hexahedron)
        space = fem.functionspace(self.mesh, ("Lagrange", 1))
        self.sigma = fem.Function(fem.functionspace(self.mesh, ("DG", 0)), name="sigma")
        cells = self.mesh.topology.index_map(dim)
        local = np.arange(cells.size_local + cells.num_ghosts, dtype=np.int32)
        midpoints = dolfinx.mesh.compute_midpoints(self.mesh, dim, local)[:, :dim]
        # the DG0 dof of cell c is dofmap[c]; its pixel is where the midpoint lies
        pixel = np.clip(np.floor(midpoints * n).astype(np.int64), 0, n - 1)
        order = np.empty_like(local)
        order[self.sigma.function_space.dofmap.list[:, 0]] = local
        self._pixel = tuple(pixel[order].T)
        u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
        self._a = fem.form(self.sigma * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
        self._rhs = fem.form(fem.Constant(self.mesh, 0.0) * v * ufl.dx)
        self.u = fem.Function(space, name="potential")
        self._energy = fem.form(self.sigma * ufl.inner(ufl.grad(self.u), ufl.grad(self.u))
                                * ufl.dx)
        axis = dim - 1
        bottom = fem.locate_dofs_geometrical(space, lambda x: np.isclose(x[axis], 0.0))
        top = fem.locate_dofs_geometrical(space, lambda x: np.isclose(x[axis], 1.0))
        self._bcs = [fem.dirichletbc(0.0, bottom, space), fem.dirichletbc(1.0, top, space)]
        self._ksp = PETSc.KSP().create(comm)
        self._ksp.setType("preonly")
        self._ksp.getPC().setType("lu")
        self._ksp.getPC().setFactorSolverType("mumps")
        self._matrix = fem_petsc.create_matrix(self._a)
        self._vector = fem_petsc.create_vector(space)

    def solve(self, conductivity: np.ndarray) -> float:
        """Effective conductivity along the last axis of one sample.

        Args:
            conductivity: Cell conductivities, shape ``(n,) * dim`` (any unit; σ_eff has it).

        Returns:
            σ_eff (the same on every rank).

        Raises:
            ValueError: Wrong shape, a conductivity not positive and finite, or a contrast
                above :data:`MAX_CONTRAST`.
        """
        if conductivity.shape != (self.n,) * self.dim:
            raise ValueError(f"conductivity: shape {conductivity.shape}, expected "
                             f"{(self.n,) * self.dim}")
        low, high = float(conductivity.min()), float(conductivity.max())
        if not (low > 0.0 and math.isfinite(high) and high / low <= MAX_CONTRAST):
            raise ValueError(f"conductivity: from {low:g} to {high:g}; allowed: positive, "
                             f"finite, a contrast of at most {MAX_CONTRAST:g}")
        self.sigma.x.array[:] = conductivity[self._pixel]
        self._matrix.zeroEntries()
        fem_petsc.assemble_matrix(self._matrix, self._a, bcs=self._bcs)
        self._matrix.assemble()
        with self._vector.localForm() as local:
            local.set(0.0)
        fem_petsc.assemble_vector(self._vector, self._rhs)
        fem_petsc.apply_lifting(self._vector, [self._a], [self._bcs])
        self._vector.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fem_petsc.set_bc(self._vector, self._bcs)
        self._ksp.setOperators(self._matrix)
        self._ksp.solve(self._vector, self.u.x.petsc_vec)
        self.u.x.scatter_forward()
        comm = self.mesh.comm
        return comm.allreduce(fem.assemble_scalar(self._energy), op=MPI.SUM)

    def close(self) -> None:
        """Free the PETSc objects (collective)."""
        self._ksp.destroy()
        self._matrix.destroy()
        self._vector.destroy()
