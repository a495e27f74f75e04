"""Hand-written DOLFINx reference: primary current on a hemisphere in a 3D box.

What a researcher would write instead of ``lidep run benchmarks/hemisphere3d.yaml``: the same
problem, the same Gmsh geometry and mesh-size field, HXT tetrahedra, P2 on curved second-order
cells, the same solver class and accuracy (CG + GAMG, the residual reduced by 1e-10) and
nothing else (no config validation, run directory, mesh cache, metrics or report).
``benchmarks/bench_3d.py`` times the two alternately.

Problem (as tests/test_steady_primary.py's 3D case): electrolyte [0, W]^3 (W = 15 a) above the
flat Li surface z = 0 with a hemispherical protrusion of radius a = 1 um at the corner x = y = 0
(a quarter of it by the two mirror planes; all four sides are symmetry planes), sigma Laplace
Phi = 0, Phi = phi_s on the Li surface (primary distribution), Phi = 0 at the counter z = W.
Mesh size (as lidep's, solver/geometry/occ3d.py): s_tip = 0.25 a within a of the apex, growing
by 0.3 per unit distance (geometric growth 1.3) up to W / 8, every size divided by the
refinement.

Printed (one JSON line, rank 0): unknowns, cells, the apex and far-field current densities
j = -sigma dPhi/dz (gradient at the apex vertex (0, 0, a) and at the corner (W, W, 0)), their
ratio, the total Li-surface current (residual form: I = int sigma grad Phi . grad w dx with w the
P2 function that is 1 at the Li-surface dofs and 0 elsewhere, exact for the discrete solution)
and the phase times split as lidep's (mesh: Gmsh and the distribution; setup: space, boundary
conditions, forms; solve: assembly, GAMG set-up and CG), with the CG iteration count.

Run: ``mpiexec -n 2 python benchmarks/reference_hemisphere3d.py [--refinement R]``.
"""

from __future__ import annotations

import dolfinx_solver  # noqa: F401  (the wheel's MPI import order)

# isort: split

import argparse
import json
import time

import gmsh
import numpy as np
import ufl
from dolfinx import fem, geometry, io
from dolfinx.fem.petsc import apply_lifting, assemble_matrix, assemble_vector, set_bc
from mpi4py import MPI
from petsc4py import PETSc

A = 1.0  # hemisphere radius, um (Gmsh model units)
W = 15.0 * A  # box edge, um
UM = 1e-6  # m per model unit
SIGMA, PHI_S = 0.01, -0.01  # S/m, V
LI, COUNTER, ELECTROLYTE = 1, 2, 3  # physical groups


def build_model(refinement: float) -> None:
    """Geometry, physical groups and the size field of the hemisphere in the current model."""
    occ = gmsh.model.occ
    box = occ.addBox(0.0, 0.0, 0.0, W, W, W)
    ball = occ.addSphere(0.0, 0.0, 0.0, A)
    (volume,), _ = occ.cut([(3, box)], [(3, ball)])
    occ.synchronize()
    li, counter = [], []
    for _, face in gmsh.model.getBoundary([volume], oriented=False):
        x, y, z = occ.getCenterOfMass(2, face)
        if abs(z) < 1e-9 or np.linalg.norm([x, y, z]) < 1.01 * A:
            li.append(face)
        elif abs(z - W) < 1e-9:
            counter.append(face)
    gmsh.model.addPhysicalGroup(2, li, LI)
    gmsh.model.addPhysicalGroup(2, counter, COUNTER)
    gmsh.model.addPhysicalGroup(3, [volume[1]], ELECTROLYTE)

    field = gmsh.model.mesh.field
    tip, far = 0.25 * A / refinement, W / 8.0 / refinement
    distance = field.add("MathEval")
    field.setString(distance, "F", f"Sqrt(x^2 + y^2 + (z - {A})^2)")
    size = field.add("Threshold")
    field.setNumber(size, "InField", distance)
    field.setNumber(size, "SizeMin", tip)
    field.setNumber(size, "SizeMax", far)
    field.setNumber(size, "DistMin", A)
    field.setNumber(size, "DistMax", A + (far - tip) / 0.3)
    field.setAsBackgroundMesh(size)
    for option in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{option}", 0)
    gmsh.option.setNumber("Mesh.Algorithm3D", 10)  # HXT


def main() -> None:
    """Mesh, solve and print the currents (JSON, rank 0)."""
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
        gmsh.model.mesh.generate(3)
        gmsh.model.mesh.setOrder(2)
    data = io.gmsh.model_to_mesh(gmsh.model if comm.rank == 0 else None, comm, 0, gdim=3)
    if comm.rank == 0:
        gmsh.finalize()
    msh, facets = data.mesh, data.facet_tags
    msh.geometry.x[:] *= UM
    times["mesh"] = time.perf_counter() - start

    start = time.perf_counter()
    V = fem.functionspace(msh, ("Lagrange", 2))
    fdim = msh.topology.dim - 1
    li_dofs = fem.locate_dofs_topological(V, fdim, facets.find(LI))
    counter_dofs = fem.locate_dofs_topological(V, fdim, facets.find(COUNTER))
    bcs = [fem.dirichletbc(PHI_S, li_dofs, V), fem.dirichletbc(0.0, counter_dofs, V)]
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = fem.form(SIGMA * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
    L = fem.form(fem.Constant(msh, 0.0) * v * ufl.dx)
    phi = fem.Function(V)
    times["setup"] = time.perf_counter() - start

    start = time.perf_counter()
    K = assemble_matrix(a, bcs=bcs)
    K.assemble()
    b = assemble_vector(L)
    apply_lifting(b, [a], bcs=[bcs])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    set_bc(b, bcs)
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(K)
    ksp.setType("cg")
    ksp.getPC().setType("gamg")
    # rtol 1e-10 (preconditioned residual, CG's default norm): the total current to 5e-8 of
    # a 1e-12 solve, as lidep's; the default 1e-8 left 4e-4 at 1e6 unknowns.
    ksp.setTolerances(rtol=1e-10)
    ksp.setUp()
    ksp.solve(b, phi.x.petsc_vec)
    phi.x.scatter_forward()
    times["solve"] = time.perf_counter() - start
    if ksp.getConvergedReason() <= 0:
        raise RuntimeError(f"CG did not converge (reason {ksp.getConvergedReason()})")

    start = time.perf_counter()
    # Total Li-surface current, residual form (exact for the discrete solution).
    w = fem.Function(V)
    w.x.array[li_dofs] = 1.0
    total = comm.allreduce(fem.assemble_scalar(fem.form(
        SIGMA * ufl.inner(ufl.grad(phi), ufl.grad(w)) * ufl.dx)), op=MPI.SUM)
    # j = -sigma dPhi/dz at two vertices: grad(Phi) interpolated into DG1 (vertex dofs).
    G = fem.functionspace(msh, ("Discontinuous Lagrange", 1, (3,)))
    grad = fem.Function(G)
    grad.interpolate(fem.Expression(-SIGMA * ufl.grad(phi), G.element.interpolation_points))
    points = np.array([[0.0, 0.0, A * UM], [W * UM, W * UM, 0.0]])
    tree = geometry.bb_tree(msh, msh.topology.dim)
    hits = geometry.compute_colliding_cells(
        msh, geometry.compute_collisions_points(tree, points), points
    )
    j = [comm.allreduce(float(grad.eval(p, hits.links(i)[:1])[2]) if len(hits.links(i)) else
                        -np.inf, op=MPI.MAX) for i, p in enumerate(points)]
    times["post"] = time.perf_counter() - start
    if comm.rank == 0:
        print(json.dumps({
            "unknowns": V.dofmap.index_map.size_global,
            "cells": msh.topology.index_map(3).size_global,
            "j_tip": j[0], "j_far_field": j[1], "tip_over_far_field": j[0] / j[1],
            "current_total": total, "cg_iterations": ksp.getIterationNumber(),
            "times_s": {k: round(t, 3) for k, t in times.items()},
        }), flush=True)


if __name__ == "__main__":
    main()
