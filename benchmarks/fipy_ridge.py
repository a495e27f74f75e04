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

The quantities: the total Li-surface current per unit depth I (A/m), the two-point flux through
the counter faces, which is the scheme's own and equals the Li-surface flux by its conservation;
and the apex current density j_tip (A/m^2, the hotspot), the scheme's own flux through the Li
face(s) at the apex per face length (``solve_gmsh``, ``solve_grid``: which faces), with the
far-field one j_far_field (at x = W) and their ratio, as lidep's metrics name them.

Two ways to run it, with FiPy's interpreter (a ``gmsh`` executable on the PATH for ``gmsh``):

- ``python benchmarks/fipy_ridge.py --wagner 1 --refinement 4 [--mesh grid]``: one solve in a
  fresh process (FiPy's import timed); prints one JSON line: cells, the quantities, the times.
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


def _answer(mesh: Any, current: float, faces: Any, j: Any, apex: Any, far: Any) -> dict[str, Any]:
    """I and the apex and far-field current densities (A/m^2) from the Li faces' fluxes.

    ``faces`` are the Li faces and ``j`` their normal current densities (the scheme's own face
    fluxes per face length, positive for deposition); ``apex`` and ``far`` select the faces taken
    for the apex and for the far field (the Li surface's end at x = W), each density the
    face-length-weighted mean over its faces, as ``j_tip`` and ``j_far_field`` in lidep's metrics.
    """
    length = mesh._faceAreas[faces]
    j_tip, j_far = (float((j * length)[m].sum() / length[m].sum()) for m in (apex, far))
    return {"cells": mesh.numberOfCells, "current_total": current, "j_tip": j_tip,
            "j_far_field": j_far, "enhancement_tip_over_far_field": j_tip / j_far,
            "apex_faces": int(apex.sum())}


def solve_gmsh(fipy: Any, wagner: float, refinement: float) -> dict[str, Any]:
    """The answer on ``Gmsh2D``'s mesh of the size family, FiPy's Dirichlet / Robin recipes.

    The apex current density is the flux through the Li face(s) touching the apex point (0, a)
    (one face: the apex lies on the symmetry side), the far field's through the Li face(s)
    touching (W, 0).
    """
    gmsh_mesh = fipy.Gmsh2D(geo(refinement))
    mesh = gmsh_mesh * UM  # SI units; the scaled mesh has the same faces, not their names
    li, counter = (fipy.FaceVariable(mesh=mesh, value=gmsh_mesh.physicalFaces[name].value)
                   for name in ("li", "counter"))
    phi = fipy.CellVariable(mesh=mesh, value=0.0)
    phi.constrain(0.0, where=counter)
    np = fipy.numerix
    faces = np.nonzero(li.value)[0]
    r_ct = wagner * A * UM / SIGMA
    # d in the Li faces' flux sigma (Phi_P - phi_s) / (d + sigma R_ct): each recipe's own
    distance = mesh._cellDistances[faces]
    if wagner == 0.0:
        phi.constrain(PHI_S, where=li)
        equation = fipy.DiffusionTerm(coeff=SIGMA) == 0
    else:
        # Robin n.(a Phi + b grad Phi) = g with n outward (into the Li): a = n, b = sigma R_ct,
        # g = phi_s; the diffusion coefficient vanishes on the Robin faces (FiPy's recipe).
        gamma = fipy.FaceVariable(mesh=mesh, value=SIGMA)
        gamma.setValue(0.0, where=li)
        n = fipy.FaceVariable(mesh=mesh, value=mesh.faceNormals, rank=1)
        dPf = fipy.FaceVariable(mesh=mesh, value=mesh._faceToCellDistanceRatio
                                * mesh.cellDistanceVectors)
        robin = li * SIGMA * n / (dPf.dot(n) + SIGMA * r_ct)
        equation = (fipy.DiffusionTerm(coeff=gamma) + (robin * PHI_S).divergence
                    - fipy.ImplicitSourceTerm(coeff=(robin * n.dot(n)).divergence) == 0)
        distance = dPf.dot(n).value[faces]
    equation.solve(var=phi)
    j = SIGMA * (phi.value[mesh.faceCellIDs[0][faces]] - PHI_S) / (distance + SIGMA * r_ct)
    vertices = np.asarray(mesh.vertexCoords)[:, np.asarray(mesh.faceVertexIDs)[:, faces]] / UM
    apex, far = (np.any(np.hypot(vertices[0] - x, vertices[1] - y) < 1e-9, axis=0)
                 for x, y in ((0.0, A), (W, 0.0)))
    return _answer(mesh, _counter_current(mesh, phi, counter), faces, j, apex, far)


def grid_spacing(refinement: float) -> list[float]:
    """Cell widths (um) of the Grid2D along x and y: a / refinement near the ridge, then graded."""
    core = A / refinement
    widths = [core] * round(1.5 * A / core)
    while (rest := W - sum(widths)) > 1e-9:
        width = min(widths[-1] * GROWTH, L / 8.0)
        widths.append(rest if rest < 1.5 * width else width)
    return widths


def solve_grid(fipy: Any, wagner: float, refinement: float) -> dict[str, Any]:
    """The answer on a graded ``Grid2D`` with a staircase ridge of Li cells (module docstring).

    The apex current density is the flux through the top face of the top Li cell on the axis
    (the staircase has no apex normal: that face is horizontal, at y = a when a / h is an
    integer), the far field's through the top face of the last column's Li cell.
    """
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
    faces = np.nonzero(interface)[0]
    inside, outside = (np.where(li_cells[ids[0]], ids[k], ids[1 - k])[faces] for k in (0, 1))
    j = coeff.value[faces] * (phi.value[outside] - phi.value[inside]) / mesh._cellDistances[faces]
    axis = x_f[faces] == x_f[faces].min()
    apex = axis & (y_f[faces] == y_f[faces][axis].max())
    far = x_f[faces] == x_f[faces].max()
    return _answer(mesh, _counter_current(mesh, phi, mesh.facesTop), faces, j, apex, far)


SOLVERS = {"gmsh": solve_gmsh, "grid": solve_grid}


def _cpu() -> float:
    """CPU time (s) of this process and its finished children (FiPy's gmsh subprocess)."""
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def answer(fipy: Any, mesh: str, wagner: float, refinement: float) -> dict[str, Any]:
    """One solve, timed: cells, I, the apex and far-field current densities, wall and CPU s."""
    start, cpu = time.perf_counter(), _cpu()
    result = SOLVERS[mesh](fipy, wagner, refinement)
    return {"mesh": mesh, "wagner": wagner, "refinement": refinement, **result,
            "wall_s": time.perf_counter() - start, "cpu_s": _cpu() - cpu}


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
