"""Electronic leakage through interphase regions with sigma_e > 0.

``docs/theory.md``, "Boundary conditions": a post-processing solve, not part of the Newton
system.

In the leaky regions, with phi_e = phi_s on their Li surface, phi_e = Phi where they touch
the electrolyte (Li deposition there at equilibrium) and insulating elsewhere,

    div(sigma_e grad(phi_e)) = 0,
    leakage_current = int_li -sigma_e grad(phi_e) . n w ds / A_proj

(positive when electrons leave the Li, i.e. reduction at the outer surface).
"""

from __future__ import annotations

import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem

from solver.lifted_forms import lift_form
from solver.physics.term import Term, Unknowns

__all__ = ["ElectronicLeakage"]


class ElectronicLeakage(Term):
    """The electronic current through the leaky interphase regions.

    Args:
        conductivities: Region name -> sigma_e > 0, S/m.
    """

    outputs = ("leakage_current",)

    def __init__(self, conductivities: dict[str, float]):
        self.conductivities = conductivities

    def current(self, u: Unknowns) -> float:
        """The mean leakage current density, A/m^2 (one linear solve; collective)."""
        d, leaky = u.domain, self.conductivities
        V, phi = u.potentials[0].function_space, u.potentials[0]
        cells = np.concatenate([d.bundle.cell_tags.find(d.bundle.regions[n]) for n in leaky])
        free = np.zeros(V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts, dtype=bool)
        free[np.unique(V.dofmap.list[cells])] = True
        other_cells = np.setdiff1d(np.arange(len(d.cell_region)), cells)
        free[np.unique(V.dofmap.list[other_cells])] = False
        li_facets = np.concatenate([d.facet_tags.find(p.tag) for p in d.parts if p.region in leaky])
        li_dofs = fem.locate_dofs_topological(V, d.tdim - 1, li_facets)
        free[li_dofs] = False
        fixed = np.flatnonzero(~free).astype(np.int32)
        phi_e = fem.Function(V, name="electronic_potential")
        phi_e.x.array[:] = phi.x.array
        phi_e.x.array[li_dofs] = float(u.phi_s.value)
        trial, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        sigma_max = max(leaky.values())
        zero = fem.Constant(d.mesh, 0.0)
        # Stiffness scaled by 1/sigma_max; the zero mass term over the whole mesh puts the
        # diagonal of every (fixed) dof into the sparsity pattern.
        a = zero * trial * v * d.dx + sum(
            (s / sigma_max)
            * ufl.dot(ufl.grad(trial), ufl.grad(v))
            * d.weight
            * d.dx(d.bundle.regions[n])
            for n, s in leaky.items()
        )
        bc = fem.dirichletbc(phi_e.copy(), fixed)
        problem = dolfinx.fem.petsc.LinearProblem(
            lift_form(a),
            lift_form(zero * v * d.dx),
            bcs=[bc],
            u=phi_e,
            petsc_options_prefix="lidep_leakage_",
            petsc_options={
                "ksp_type": "preonly",
                "pc_type": "lu",
                "pc_factor_mat_solver_type": "mumps",
            },
        )
        problem.solve()
        # -sigma_e grad(phi_e) . n on the Li surface of the leaky regions
        flux = 0
        for part in d.parts:
            if part.region in leaky:
                flux += (
                    -leaky[part.region] * ufl.dot(ufl.grad(phi_e), d.n) * d.weight * d.ds(part.tag)
                )
        return d.integrate(flux) / d.area
