"""FiPy reference: primary and secondary current on the semicircular ridge (2D, finite volumes).

What a Python electrochemist would write with FiPy (4.0) for ``benchmarks/ridge.yaml``: the same
geometry (electrolyte (0, W) x (0, L) above the Li surface y = 0 with a semicircular ridge of
radius a at x = 0, insulating symmetry sides), sigma Laplace Phi = 0, Phi = 0 at the counter
y = L, and on the Li surface either Phi = phi_s (primary, Wa = 0) or the linear-kinetics Robin
condition sigma dPhi/dn = (Phi - phi_s) / R_ct (n into the electrolyte; Wa = sigma R_ct / a = 1).
Two meshes a FiPy user would take (``--mesh``):

- ``gmsh``: ``Gmsh2D`` on a .geo text with the size function of ``benchmarks/reference_ridge.py``
  (min(L / 8, 0.25 a + 0.3 d) / refinement, d the distance to the Li surface), first-order
  triangles (the arc is a polygon), FiPy's default two-point face fluxes and solver; the Robin
  condition is FiPy's documented recipe ("Applying Robin boundary conditions").
- ``grid``: FiPy's own ``Grid2D``, a tensor-product grid (orthogonal, so the two-point flux is
  consistent) with cells of a / refinement up to 1.5 a from the ridge's axis, growing by 1.2 up to
  L / 8 beyond; one row of Li cells below y = 0 and the cells whose centre lies inside the ridge
  (a staircase) are held at phi_s by a large implicit source (FiPy's FAQ "fixed value internal to
  the domain"), and the Li | electrolyte faces get the conductance of the half cell and the
  charge-transfer resistance in series, sigma_f = d_PN / (d_P / sigma + s R_ct) (Dirichlet on the
  face for R_ct = 0). s = |n_x| + |n_y| >= 1, n the true surface normal at the face (the ridge's
  radial direction; s = 1 on the flat part), is the staircase's length per unit length of the
  surface it approximates: without it the staircase carries 4 / pi times the ridge's
  charge-transfer conductance, and the Wa = 1 current stalls at +0.018 % (docs/performance.md).

The quantity is the total Li-surface current per unit depth I (A/m): the two-point flux through
the counter faces, which is the scheme's own and equals the Li-surface flux by its conservation.

Two ways to run it, with FiPy's interpreter (a ``gmsh`` executable on the PATH for ``gmsh``):

- ``python benchmarks/fipy_ridge.py --wagner 1 --refinement 4 [--mesh grid]``: one solve in a
  fresh process (FiPy's import timed); prints one JSON line: cells, I and the phase times.
- ``python benchmarks/fipy_ridge.py --serve``: imports FiPy once, then reads one JSON request
  per line on stdin (``{"mesh": "grid", "wagner": 1, "refinement": 1}``) and answers each with
  that JSON line plus the wall and CPU time (process and children: Gmsh) of the request, as a
  notebook or a parameter loop experiences it (``benchmarks/bench_fipy.py``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any

W, L, A = 50.0, 50.0, 1.0  # um (model units)
UM = 1e-6  # m per model unit
SIGMA, PHI_S = 0.01, -0.01  # S/m, V
GROWTH = 1.2  # ratio of neighbouring Grid2D cells outside the ridge's core

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


def _counter_current(mesh: Any, phi: Any, counter: Any) -> float:
    """I = sigma dPhi/dn through the counter faces (FiPy's two-point flux to Phi = 0 there)."""
    faces = counter.value
    cells = mesh.faceCellIDs[0][faces]
    flux = SIGMA * (0.0 - phi.value[cells]) / mesh._cellDistances[faces]
    return float((flux * mesh._faceAreas[faces]).sum())


def solve_gmsh(fipy: Any, wagner: float, refinement: float) -> tuple[int, float]:
    """(cells, I) on ``Gmsh2D``'s mesh of the size family, FiPy's Dirichlet / Robin recipes."""
    gmsh_mesh = fipy.Gmsh2D(geo(refinement))
    mesh = gmsh_mesh * UM  # SI units; the scaled mesh has the same faces, not their names
    li, counter = (fipy.FaceVariable(mesh=mesh, value=gmsh_mesh.physicalFaces[name].value)
                   for name in ("li", "counter"))
    phi = fipy.CellVariable(mesh=mesh, value=0.0)
    phi.constrain(0.0, where=counter)
    if wagner == 0.0:
        phi.constrain(PHI_S, where=li)
        equation = fipy.DiffusionTerm(coeff=SIGMA) == 0
    else:
        # Robin n.(a Phi + b grad Phi) = g with n outward (into the Li): a = n, b = sigma R_ct,
        # g = phi_s; the diffusion coefficient vanishes on the Robin faces (FiPy's recipe).
        r_ct = wagner * A * UM / SIGMA
        gamma = fipy.FaceVariable(mesh=mesh, value=SIGMA)
        gamma.setValue(0.0, where=li)
        n = fipy.FaceVariable(mesh=mesh, value=mesh.faceNormals, rank=1)
        dPf = fipy.FaceVariable(mesh=mesh, value=mesh._faceToCellDistanceRatio
                                * mesh.cellDistanceVectors)
        robin = li * SIGMA * n / (dPf.dot(n) + SIGMA * r_ct)
        equation = (fipy.DiffusionTerm(coeff=gamma) + (robin * PHI_S).divergence
                    - fipy.ImplicitSourceTerm(coeff=(robin * n.dot(n)).divergence) == 0)
    equation.solve(var=phi)
    return mesh.numberOfCells, _counter_current(mesh, phi, counter)


def grid_spacing(refinement: float) -> list[float]:
    """Cell widths (um) of the Grid2D along x and y: a / refinement near the ridge, then graded."""
    core = A / refinement
    widths = [core] * round(1.5 * A / core)
    while (rest := W - sum(widths)) > 1e-9:
        width = min(widths[-1] * GROWTH, L / 8.0)
        widths.append(rest if rest < 1.5 * width else width)
    return widths


def solve_grid(fipy: Any, wagner: float, refinement: float) -> tuple[int, float]:
    """(cells, I) on a graded ``Grid2D`` with a staircase ridge of Li cells (module docstring)."""
    np = fipy.numerix
    widths = grid_spacing(refinement)
    dx = np.array(widths) * UM
    mesh = fipy.Grid2D(dx=dx, dy=np.concatenate([dx[:1], dx])) + [[0.0], [-dx[0]]]
    x, y = mesh.cellCenters.value
    li_cells = (y < 0.0) | (x**2 + y**2 < (A * UM) ** 2)
    hold = fipy.CellVariable(mesh=mesh, value=li_cells * 1e6 * SIGMA / dx[0] ** 2)
    ids = mesh.faceCellIDs.filled(0)
    interface = (li_cells[ids[0]] != li_cells[ids[1]]) & mesh.interiorFaces.value
    electrolyte_cell = np.where(li_cells[ids[0]], ids[1], ids[0])
    x_f, y_f = np.asarray(mesh.faceCenters)
    d_p = abs(((np.array([x_f, y_f]) - mesh.cellCenters.value[:, electrolyte_cell])
               * np.asarray(mesh.faceNormals)).sum(axis=0))
    stairs = (abs(x_f) + abs(y_f)) / np.maximum(np.hypot(x_f, y_f), 1e-30)  # s; 1 at y = 0
    r_ct = wagner * A * UM / SIGMA
    coeff = fipy.FaceVariable(mesh=mesh, value=np.where(
        interface, mesh._cellDistances / (d_p / SIGMA + stairs * r_ct), SIGMA))
    phi = fipy.CellVariable(mesh=mesh, value=0.0)
    phi.constrain(0.0, where=mesh.facesTop)
    equation = (fipy.DiffusionTerm(coeff=coeff) - fipy.ImplicitSourceTerm(coeff=hold)
                + hold * PHI_S == 0)
    equation.solve(var=phi)
    return mesh.numberOfCells, _counter_current(mesh, phi, mesh.facesTop)


SOLVERS = {"gmsh": solve_gmsh, "grid": solve_grid}


def _cpu() -> float:
    """CPU time (s) of this process and its finished children (FiPy's gmsh subprocess)."""
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def answer(fipy: Any, mesh: str, wagner: float, refinement: float) -> dict[str, Any]:
    """One solve, timed: cells, I, wall and CPU seconds."""
    start, cpu = time.perf_counter(), _cpu()
    cells, current = SOLVERS[mesh](fipy, wagner, refinement)
    return {"mesh": mesh, "cells": cells, "wagner": wagner, "refinement": refinement,
            "current_total": current, "wall_s": time.perf_counter() - start,
            "cpu_s": _cpu() - cpu}


def main() -> None:
    """One timed solve (fresh process), or serve timed requests from stdin (warm process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", choices=sorted(SOLVERS), default="gmsh")
    parser.add_argument("--refinement", type=float, default=4.0)
    parser.add_argument("--wagner", type=float, default=0.0, help="0: primary; > 0: linear")
    parser.add_argument("--serve", action="store_true", help="answer JSON requests on stdin")
    args = parser.parse_args()
    start = time.perf_counter()
    import fipy  # noqa: PLC0415  (timed: FiPy's import is part of its cost)

    imported = time.perf_counter() - start
    if args.serve:
        for line in sys.stdin:
            print(json.dumps(answer(fipy, **json.loads(line))), flush=True)
        return
    result = answer(fipy, args.mesh, args.wagner, args.refinement)
    print(json.dumps({**result, "import_s": round(imported, 3)}), flush=True)


if __name__ == "__main__":
    main()
