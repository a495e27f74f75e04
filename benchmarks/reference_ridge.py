"""Hand-written DOLFINx reference: primary current on a semicircular ridge (2D).

What a researcher would write instead of ``lidep run benchmarks/ridge.yaml``: the same problem,
the same Gmsh geometry and mesh-size function, P2 on curved second-order cells, the same solver
class (MUMPS LU) and the same apex sampling, and nothing else (no config validation, run
directory, metrics or report). ``benchmarks/bench_startup.py`` times the two alternately.

Problem: electrolyte (0, W) x (0, L) above the Li surface y = 0 with a semicircular ridge of
radius a at x = 0 (symmetry sides x = 0 and x = W), sigma Laplace Phi = 0, Phi = phi_s on the Li
surface (primary distribution), Phi = 0 at the counter y = L. Mesh size (as lidep's, see
solver/geometry/occ2d.py): min(L / 8, 0.25 a + 0.3 d) / refinement, d the distance to the Li
surface. Prints one JSON line: unknowns, the apex and far-field current densities
j = sigma dPhi/dy at (0, a) and (W, 0), their ratio, and the phase times.

Run: ``python benchmarks/reference_ridge.py [--refinement R]`` (serial or under mpiexec).
"""

from __future__ import annotations

import dolfinx_solver  # noqa: F401  (the wheel's MPI import order)

# isort: split

import argparse
import json
import math
import time

import gmsh
import numpy as np
import ufl
from dolfinx import fem, geometry, io
from dolfinx.fem.petsc import LinearProblem
from mpi4py import MPI

W, L, A = 50.0, 50.0, 1.0  # um (Gmsh model units)
UM = 1e-6  # m per model unit
SIGMA, PHI_S = 0.01, -0.01  # S/m, V
LI, COUNTER, ELECTROLYTE = 1, 2, 3  # physical groups


def build_model(refinement: float) -> None:
    """Geometry, physical groups and the size field of the ridge in the current Gmsh model."""
    occ = gmsh.model.occ
    box = occ.addRectangle(0.0, 0.0, 0.0, W, L)
    disk = occ.addDisk(0.0, 0.0, 0.0, A, A)
    (surface,), _ = occ.cut([(2, box)], [(2, disk)])
    occ.synchronize()
    li, counter = [], []
    for _, curve in gmsh.model.getBoundary([surface], oriented=False):
        x, y, _ = occ.getCenterOfMass(1, curve)
        if math.hypot(x, y) < 1.01 * A or abs(y) < 1e-9:
            li.append(curve)
        elif abs(y - L) < 1e-9:
            counter.append(curve)
    gmsh.model.addPhysicalGroup(1, li, LI)
    gmsh.model.addPhysicalGroup(1, counter, COUNTER)
    gmsh.model.addPhysicalGroup(2, [surface[1]], ELECTROLYTE)

    field = gmsh.model.mesh.field
    far, growth = L / 8.0 / refinement, 0.3 / refinement
    tip, surface = 0.25 * A / refinement, far / 4.0
    distance = field.add("Distance")
    field.setNumbers(distance, "CurvesList", li)
    field.setNumber(distance, "Sampling", math.ceil(2.0 * W / surface) + 2)
    size = field.add("MathEval")
    field.setString(size, "F", f"Min({far}, Min({tip} + {growth} * Sqrt(x^2 + (y - {A})^2), "
                    f"{surface} + {growth} * F{distance}))")
    field.setAsBackgroundMesh(size)
    for option in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{option}", 0)


def main() -> None:
    """Mesh, solve and print the apex and far-field currents (JSON, rank 0)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinement", type=float, default=4.0)
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    times = {}
    start = time.perf_counter()
    if comm.rank == 0:
        gmsh.initialize()
        gmsh.option.setNumber("General.Terminal", 0)
        build_model(args.refinement)
        gmsh.model.mesh.generate(2)
        gmsh.model.mesh.setOrder(2)
    data = io.gmsh.model_to_mesh(gmsh.model if comm.rank == 0 else None, comm, 0, gdim=2)
    if comm.rank == 0:
        gmsh.finalize()
    msh, facets = data.mesh, data.facet_tags
    msh.geometry.x[:] *= UM
    times["mesh"] = time.perf_counter() - start

    start = time.perf_counter()
    V = fem.functionspace(msh, ("Lagrange", 2))
    fdim = msh.topology.dim - 1

    def dofs(tag: int) -> np.ndarray:
        return fem.locate_dofs_topological(V, fdim, facets.find(tag))

    bcs = [fem.dirichletbc(PHI_S, dofs(LI), V), fem.dirichletbc(0.0, dofs(COUNTER), V)]
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = SIGMA * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
    rhs = fem.Constant(msh, 0.0) * v * ufl.dx
    problem = LinearProblem(a, rhs, bcs=bcs, petsc_options_prefix="ridge_", petsc_options={
        "ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"})
    phi = problem.solve()
    times["solve"] = time.perf_counter() - start

    # j = sigma dPhi/dy at two vertices, exact: grad(Phi) interpolated into DG2 (vertex dofs)
    G = fem.functionspace(msh, ("Discontinuous Lagrange", 2, (2,)))
    grad = fem.Function(G)
    grad.interpolate(fem.Expression(SIGMA * ufl.grad(phi), G.element.interpolation_points))
    points = np.array([[0.0, A * UM, 0.0], [W * UM, 0.0, 0.0]])
    tree = geometry.bb_tree(msh, msh.topology.dim)
    hits = geometry.compute_colliding_cells(
        msh, geometry.compute_collisions_points(tree, points), points
    )
    j = [comm.allreduce(float(grad.eval(p, hits.links(i)[:1])[1]) if len(hits.links(i)) else
                        -np.inf, op=MPI.MAX) for i, p in enumerate(points)]
    if comm.rank == 0:
        print(json.dumps({
            "unknowns": V.dofmap.index_map.size_global,
            "cells": msh.topology.index_map(2).size_global,
            "j_tip": j[0], "j_far_field": j[1], "tip_over_far_field": j[0] / j[1],
            "times_s": {k: round(t, 3) for k, t in times.items()},
        }), flush=True)


if __name__ == "__main__":
    main()
