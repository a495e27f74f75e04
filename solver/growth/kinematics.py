"""Kinematics of the Li surface: nodal normals, normal velocity, displacement of a time step.

Li deposited at the Faradaic current density j (A/m^2, > 0 plating) adds the volume V_m / F per
coulomb, so the surface moves along its outward normal n (out of the Li, into the interphase or
electrolyte) with

    v_n = j V_m / F,         d = v_n dt n       (one explicit step of length dt)

and stripping (j < 0) makes it recede. A flat surface under a uniform j thus rises by
Q V_m / F, Q = the charge per area.

Nodal normals (docs/theory.md, "Moving Li surface"): every geometry node of the `li_surface`
facets (vertices, and for second-order meshes the mid-edge nodes) gets the sum of the normals of
the straight facets (the simplices of the facets' vertices) it belongs to, each weighted by the
facet's length (2D) or area (3D), then normalised. The sum runs over owned facets and is
accumulated across ranks through a function's ghost exchange, so a node shared by ranks gets the
same normal on every rank. On a lateral side or the symmetry axis (symmetry planes and periodic
sides, all coordinate planes) the component normal to the side is removed, so the surface slides
along the side and keeps the lateral extent of the domain.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from dolfinx import fem, la

from solver.constants import FARADAY
from solver.geometry.bundle import MeshBundle
from solver.growth.space import DisplacementSpace, facet_nodes, tagged_facets
from solver.library.inorganic import LI_METAL

__all__ = [
    "LI_MOLAR_VOLUME",
    "SIDE_AXES",
    "SurfaceKinematics",
    "normal_velocity",
    "side_dofs",
]

LI_MOLAR_VOLUME: float = float(LI_METAL.properties["molar_volume_m3_mol"].value)
"""Molar volume of Li metal, m^3/mol (the library's cited value, 1.30e-5)."""

SIDE_AXES: dict[str, int] = {
    "side_left": 0,
    "side_right": 0,
    "axis": 0,
    "side_outer": 0,
    "side_x0": 0,
    "side_x1": 0,
    "side_y0": 1,
    "side_y1": 1,
}
"""Facet groups of the lateral boundaries -> the coordinate normal to them (they are coordinate
planes: x = 0, x = W, r = 0, r = R; in 3D also y = 0, y = D)."""


def normal_velocity(j: np.ndarray | float, molar_volume: float = LI_MOLAR_VOLUME) -> np.ndarray:
    """Normal velocity of the Li surface, m/s: v_n = j V_m / F (j in A/m^2, > 0 plating)."""
    return np.asarray(j, dtype=float) * molar_volume / FARADAY


def side_dofs(bundle: MeshBundle, space: DisplacementSpace) -> dict[int, np.ndarray]:
    """Block dofs on the lateral sides, by the coordinate normal to the side.

    A dof counts on every rank that holds it, also where the side facet itself lives on another
    rank only (a marker function summed over ranks).

    Returns:
        Coordinate index (0, or 1 in 3D) -> sorted local block dofs (owned and ghost).
    """
    empty = np.empty(0, dtype=np.int32)
    found: dict[int, list[np.ndarray]] = {axis: [empty] for axis in range(space.gdim)}
    for name, axis in SIDE_AXES.items():
        facets = tagged_facets(bundle, name, owned=False)
        found[axis].append(space.node_dof[facet_nodes(bundle.mesh, facets).ravel()])
    return {
        axis: space.shared(np.concatenate(blocks).astype(np.int32))
        for axis, blocks in found.items()
    }


class SurfaceKinematics:
    """Nodal outward normals of the Li surface and the displacement of a time step.

    Args:
        bundle: The mesh with its ``li_surface`` facet group.
        space: The displacement space of ``bundle.mesh`` (shared with the mesh motion).
        molar_volume: V_m of the deposit, m^3/mol.

    Attributes:
        dofs: Local block dofs (owned and ghost) of the Li-surface nodes, sorted.
        normals: Unit outward normals of the Li surface at ``dofs``, shape (n, gdim).
    """

    def __init__(
        self,
        bundle: MeshBundle,
        space: DisplacementSpace,
        molar_volume: float = LI_MOLAR_VOLUME,
    ) -> None:
        self.bundle = bundle
        self.space = space
        self.molar_volume = molar_volume
        mesh = bundle.mesh
        tdim = mesh.topology.dim
        mesh.topology.create_connectivity(tdim - 1, tdim)
        self._facets = tagged_facets(bundle, "li_surface", owned=True)
        self._sides = side_dofs(bundle, space)
        all_li = tagged_facets(bundle, "li_surface", owned=False)
        self.dofs = space.shared(space.node_dof[facet_nodes(mesh, all_li).ravel()])
        self.normals = np.empty((self.dofs.size, space.gdim))
        self.update()

    def update(self) -> None:
        """Recompute the nodal normals from the current geometry (after the mesh moved)."""
        mesh = self.bundle.mesh
        gdim = self.space.gdim
        tdim = mesh.topology.dim
        x = mesh.geometry.x[:, :gdim]
        nodes = facet_nodes(mesh, self._facets)
        weighted = _weighted_normals(x[nodes[:, :tdim]])
        # orient out of the Li: towards the (ionic) cell the facet bounds
        f2c = mesh.topology.connectivity(tdim - 1, tdim)
        cells = np.array([f2c.links(f)[0] for f in self._facets], dtype=np.int32)
        cell_vertices = mesh.geometry.dofmaps[0][cells][:, : tdim + 1]
        inward = x[cell_vertices].mean(axis=1) - x[nodes[:, :tdim]].mean(axis=1)
        weighted *= np.where(np.einsum("ij,ij->i", weighted, inward) < 0.0, -1.0, 1.0)[:, None]
        total = fem.Function(self.space.V)
        values = total.x.array.reshape(-1, gdim)
        for k in range(nodes.shape[1]):
            np.add.at(values, self.space.node_dof[nodes[:, k]], weighted)
        total.x.scatter_reverse(la.InsertMode.add)
        total.x.scatter_forward()
        values = total.x.array.reshape(-1, gdim)
        for axis, dofs in self._sides.items():
            values[dofs, axis] = 0.0
        n = values[self.dofs]
        self.normals = n / np.linalg.norm(n, axis=1)[:, None]

    def points(self) -> np.ndarray:
        """Current coordinates of the Li-surface nodes, shape (n, gdim), in ``dofs`` order."""
        return self.space.dof_coordinates()[self.dofs]

    def velocity(self, j: np.ndarray | float) -> np.ndarray:
        """Nodal normal velocity v_n = j V_m / F, m/s (j at the nodes, A/m^2)."""
        return normal_velocity(j, self.molar_volume)

    def displacement(
        self,
        j: np.ndarray | float | Callable[[np.ndarray], np.ndarray],
        dt: float,
        out: fem.Function | None = None,
    ) -> fem.Function:
        """Surface displacement of one explicit step, d = v_n dt n at the Li-surface nodes.

        Args:
            j: Faradaic current density at the nodes (``dofs`` order), a number, or a function of
                the node coordinates (shape (n, gdim)) returning it; A/m^2, > 0 plating.
            dt: Step length, s.
            out: Function of the displacement space to fill (a new one if None).

        Returns:
            A function of the displacement space: d on the Li-surface dofs, 0 elsewhere.
        """
        values = j(self.points()) if callable(j) else j
        d = (self.velocity(values) * dt)[..., None] * self.normals
        w = out if out is not None else fem.Function(self.space.V)
        w.x.array[:] = 0.0
        w.x.array.reshape(-1, self.space.gdim)[self.dofs] = d
        return w


def _weighted_normals(vertices: np.ndarray) -> np.ndarray:
    """Normals of straight facets scaled by their length (2D) or area (3D).

    Args:
        vertices: Facet vertex coordinates, shape (n, gdim, gdim): 2 points in 2D, 3 in 3D.

    Returns:
        Shape (n, gdim); the orientation is that of the vertex order.
    """
    if vertices.shape[2] == 2:
        t = vertices[:, 1] - vertices[:, 0]
        return np.stack([t[:, 1], -t[:, 0]], axis=1)
    return 0.5 * np.cross(vertices[:, 1] - vertices[:, 0], vertices[:, 2] - vertices[:, 0])
