"""FiPy reference: primary and secondary current on the semicircular ridge (2D, finite volumes).

What a Python electrochemist would write with FiPy (4.0) for ``benchmarks/ridge.yaml``: the same
geometry (electrolyte (0, W) x (0, L) above the Li surface y = 0 with a semicircular ridge of
radius a at x = 0, insulating symmetry sides), sigma Laplace Phi = 0, Phi = 0 at the counter
y = L, and on the Li surface either Phi = phi_s (primary, Wa = 0) or the linear-kinetics Robin
condition sigma dPhi/dn = (Phi - phi_s) / R_ct (n into the electrolyte; Wa = sigma R_ct / a = 1).
The mesh is FiPy's own route: ``Gmsh2D`` on a .geo text with the size function of
``benchmarks/reference_ridge.py`` (min(L / 8, 0.25 a + 0.3 d) / refinement, d the distance to
the Li surface), first-order triangles (the arc is a polygon), cell-centred finite volumes with
FiPy's two-point face fluxes and its default solver. The Robin condition is FiPy's documented
recipe ("Applying Robin boundary conditions").

Prints one JSON line: cells, the total Li-surface current per unit depth I (A/m, the outward
flux through the counter, equal to the Li-surface flux by the scheme's conservation) and the
phase times. Run with FiPy's interpreter (Gmsh on the PATH):
``python benchmarks/fipy_ridge.py --wagner 1 --refinement 4``.
"""

from __future__ import annotations

import argparse
import json
import time

W, L, A = 50.0, 50.0, 1.0  # um (Gmsh model units)
UM = 1e-6  # m per model unit
SIGMA, PHI_S = 0.01, -0.01  # S/m, V

GEO = """
SetFactory("OpenCASCADE");
Rectangle(1) = {{0, 0, 0, {W}, {L}}};
Disk(2) = {{0, 0, 0, {A}, {A}}};
BooleanDifference(3) = {{ Surface{{1}}; Delete; }}{{ Surface{{2}}; Delete; }};
li() = Curve In BoundingBox{{-1e-6, -1e-6, -1, {W} + 1e-6, {A} + 1e-6, 1}};
counter() = Curve In BoundingBox{{-1e-6, {L} - 1e-6, -1, {W} + 1e-6, {L} + 1e-6, 1}};
sides() = Curve In BoundingBox{{-1e-6, -1e-6, -1, 1e-6, {L} + 1e-6, 1}};
sides() += Curve In BoundingBox{{{W} - 1e-6, -1e-6, -1, {W} + 1e-6, {L} + 1e-6, 1}};
li() -= sides();
Physical Curve("li") = {{li()}};
Physical Curve("counter") = {{counter()}};
Physical Surface("electrolyte") = {{3}};
Field[1] = Distance;
Field[1].CurvesList = {{li()}};
Field[1].Sampling = {sampling};
Field[2] = MathEval;
Field[2].F = "{size}";
Background Field = 2;
Mesh.MeshSizeExtendFromBoundary = 0;
Mesh.MeshSizeFromPoints = 0;
Mesh.MeshSizeFromCurvature = 0;
"""


def geo(refinement: float) -> str:
    """The .geo text of the ridge with the reference's size field (model units um)."""
    far, growth = L / 8.0 / refinement, 0.3 / refinement
    surface = far / 4.0
    tip = 0.25 * A / refinement
    size = f"Min({far}, Min({tip} + {growth} * Sqrt(x^2 + (y - {A})^2), {surface} + {growth} * F1))"
    return GEO.format(W=W, L=L, A=A, size=size, sampling=int(2.0 * W / surface) + 3)


def main() -> None:
    """Mesh, solve and print the total current (JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinement", type=float, default=4.0)
    parser.add_argument("--wagner", type=float, default=0.0, help="0: primary; > 0: linear")
    args = parser.parse_args()
    times = {}
    start = time.perf_counter()
    import fipy  # noqa: PLC0415  (timed: FiPy's import is part of its cost)

    times["import"] = time.perf_counter() - start
    start = time.perf_counter()
    gmsh_mesh = fipy.Gmsh2D(geo(args.refinement))
    mesh = gmsh_mesh * UM  # SI units; the scaled mesh has the same faces, not their names
    times["mesh"] = time.perf_counter() - start

    start = time.perf_counter()
    li, counter = (fipy.FaceVariable(mesh=mesh, value=gmsh_mesh.physicalFaces[name].value)
                   for name in ("li", "counter"))
    phi = fipy.CellVariable(mesh=mesh, value=0.0)
    phi.constrain(0.0, where=counter)
    if args.wagner == 0.0:
        phi.constrain(PHI_S, where=li)
        equation = fipy.DiffusionTerm(coeff=SIGMA) == 0
    else:
        # Robin n.(a Phi + b grad Phi) = g with n outward (into the Li): a = n, b = sigma R_ct,
        # g = phi_s; the diffusion coefficient vanishes on the Robin faces (FiPy's recipe).
        r_ct = args.wagner * A * UM / SIGMA
        gamma = fipy.FaceVariable(mesh=mesh, value=SIGMA)
        gamma.setValue(0.0, where=li)
        n = fipy.FaceVariable(mesh=mesh, value=mesh.faceNormals, rank=1)
        dPf = fipy.FaceVariable(mesh=mesh, value=mesh._faceToCellDistanceRatio
                                * mesh.cellDistanceVectors)
        robin = li * SIGMA * n / (dPf.dot(n) + SIGMA * r_ct)
        equation = (fipy.DiffusionTerm(coeff=gamma) + (robin * PHI_S).divergence
                    - fipy.ImplicitSourceTerm(coeff=(robin * n.dot(n)).divergence) == 0)
    equation.solve(var=phi)
    times["solve"] = time.perf_counter() - start

    # I = sigma dPhi/dn through the counter faces (FiPy's two-point flux to the constrained face)
    cells = mesh.faceCellIDs[0][counter.value]
    flux = SIGMA * (0.0 - phi.value[cells]) / mesh._cellDistances[counter.value]
    current = float((flux * mesh._faceAreas[counter.value]).sum())
    print(json.dumps({
        "cells": mesh.numberOfCells, "wagner": args.wagner, "refinement": args.refinement,
        "current_total": current,
        "times_s": {k: round(t, 3) for k, t in times.items()},
    }), flush=True)


if __name__ == "__main__":
    main()
