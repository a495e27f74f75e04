"""Surface energy of the Li surface: the curvature shift of the overpotential.

``docs/theory.md``, "Surface energy" (in "Linear stability of a flat Li surface").

Li under a curved surface has the chemical potential mu = mu0 + gamma V_m K (gamma the surface
energy, J/m^2; V_m the molar volume of Li; K the mean curvature, the sum of the principal
curvatures, > 0 where the Li is convex towards the electrolyte). The equilibrium value of
phi_s - Phi moves by -gamma V_m K / F, so on every Li-surface part (Li against an interphase or
the electrolyte) the rate law sees

    eta = phi_s - Phi + gamma V_m K / F.

K is the discrete mean curvature of the second-order Li surface
(:meth:`solver.growth.kinematics.SurfaceKinematics.curvature`: 2D, axisymmetric with the
azimuthal n_r / r, 3D), held as a function of the geometry's Lagrange space on the mesh;
:meth:`SurfaceEnergy.update_geometry` recomputes it after the mesh moved. The compiled forms
read the function, so they stay valid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from dolfinx import fem

from solver.constants import FARADAY
from solver.geometry.bundle import MeshBundle
from solver.growth.kinematics import SurfaceKinematics
from solver.growth.space import DisplacementSpace
from solver.library.inorganic import LI_MOLAR_VOLUME
from solver.physics.term import Term, Unknowns

__all__ = ["SurfaceEnergy"]


class SurfaceEnergy(Term):
    """The surface-energy shift gamma V_m K / F of the overpotential at the Li surface.

    Args:
        gamma: Surface energy gamma, J/m^2 (> 0).
        bundle: The mesh (second-order geometry) with its ``li_surface`` facets.
        kinematics: The Li-surface kinematics to take K from (shared with a moving-boundary
            coupling); a new one on ``bundle`` if None.
        molar_volume: V_m of Li, m^3/mol.

    Attributes:
        curvature: K, 1/m: a function of the geometry's scalar Lagrange space, the mean
            curvature at the Li-surface nodes (0 elsewhere).

    Raises:
        ValueError: The geometry is first order (``mesh.order`` 1: no curvature).
    """

    blocks = ("Phi", "Phi_elyte")

    def __init__(
        self,
        gamma: float,
        bundle: MeshBundle,
        kinematics: SurfaceKinematics | None = None,
        molar_volume: float = LI_MOLAR_VOLUME,
    ):
        mesh = bundle.mesh
        self.kinematics = kinematics or SurfaceKinematics(
            bundle, DisplacementSpace(mesh), molar_volume
        )
        self.gamma = fem.Constant(mesh, float(gamma))
        self.molar_volume = molar_volume
        space = fem.functionspace(mesh, ("Lagrange", mesh.geometry.cmaps[0].degree))
        self.curvature = fem.Function(space, name="mean_curvature")
        # geometry node -> dof of the scalar space (both list a cell's nodes in one order)
        node_dof = np.empty(mesh.geometry.x.shape[0], dtype=np.int32)
        node_dof[mesh.geometry.dofmaps[0].ravel()] = space.dofmap.list.ravel()
        # the Li-surface dofs of the kinematics' vector space -> the scalar space
        self._dofs = node_dof[self.kinematics.space.dof_node[self.kinematics.dofs]]
        self.update_geometry()

    def update_geometry(self) -> None:
        """Recompute the nodal normals and K from the current geometry (collective)."""
        self.kinematics.update()
        self.curvature.x.array[:] = 0.0
        self.curvature.x.array[self._dofs] = self.kinematics.curvature()

    def overpotential_shift(self, u: Unknowns) -> Any:
        """The shift gamma V_m K / F of eta on every Li-surface part (UFL, V).

        eta = phi_s - Phi + gamma V_m K / F
        """
        return self.gamma * (self.molar_volume / FARADAY) * self.curvature
