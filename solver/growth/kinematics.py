"""Kinematics of the Li surface: nodal normals, normal velocity, displacement of a time step.

Li deposited at the Faradaic current density j (A/m^2, > 0 plating) adds the volume V_m / F per
coulomb, so the surface moves along its outward normal n (out of the Li, into the interphase or
electrolyte) with

    v_n = j V_m / F,         d_i = v_n,i dt m_i       (one explicit step of length dt)

and stripping (j < 0) makes it recede. A flat surface under a uniform j thus rises by
Q V_m / F, Q = the charge per area.

Nodal normals and offset vectors (docs/theory.md, "Moving Li surface"): every geometry node of
the `li_surface` facets (vertices, and for second-order meshes the mid-edge nodes) collects, over
the straight facets f it belongs to (the simplices of the facets' vertices, unit normal n_f,
length or area |f|),

    a = sum_f |f| n_f,        b = sum_f n_f,        M = sum_f n_f n_f^T

over owned facets, accumulated across ranks through functions' ghost exchanges, so a node shared
by ranks gets the same values on every rank. The unit normal is n = a / |a| (area-weighted).
The node moves along the offset vector m = M^+ b, the least-squares solution of m . n_f = 1
over its facets (unweighted: where the planes meet in one point the solution does not depend on
weights, and the cutoff below then compares angles, not facet sizes):
the node of the offset surface, where each facet's plane moves by v_n dt along its own normal.
Where the facets meet at an angle (the foot of a protrusion, the rim of a void) it is their
planes' intersection (2D: (n_1 + n_2)/(1 + n_1 . n_2), not the mean normal, which would lose
volume at every corner); on a smooth surface m ~ n (1 + O(h^2 kappa^2)). Directions in which the
facets hardly differ (singular values below OFFSET_RTOL of the largest) are left out of the
pseudo-inverse, so flat and smooth parts move along their mean normal. On a lateral side or the
symmetry axis (coordinate planes) the component normal to the side is removed from a, b and M
first: the surface
slides along the side (its offset line meets the side at m_y = 1/n_y) and the domain keeps its
lateral extent.
"""

from __future__ import annotations

from collections.abc import Callable

import basix
import numpy as np
from dolfinx import fem, la

from solver.constants import FARADAY
from solver.geometry.bundle import MeshBundle
from solver.growth.space import DisplacementSpace, facet_nodes, tagged_facets
from solver.library.inorganic import LI_MOLAR_VOLUME

__all__ = [
    "OFFSET_RTOL",
    "SIDE_AXES",
    "ReflexCorners",
    "SurfaceKinematics",
    "normal_velocity",
    "side_dofs",
]

OFFSET_RTOL = 1e-2
"""Relative singular-value cutoff of the offset vectors' pseudo-inverse: facets whose normals
differ by less than ~11 degrees count as one plane (no tangential motion from their small
differences)."""

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
        offsets: Offset vectors m at ``dofs`` (a node moves by v_n dt m), shape (n, gdim).
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
        cmap = mesh.geometry.cmaps[0]
        self._dphi = self._ddphi = None
        if cmap.degree > 1:  # shape-function derivatives of a facet at its own nodes
            facet = basix.CellType.interval if tdim == 2 else basix.CellType.triangle
            element = basix.create_element(
                basix.ElementFamily.P, facet, cmap.degree, basix.LagrangeVariant(cmap.variant)
            )
            table = element.tabulate(2, element.points)[..., 0]
            self._dphi = table[1 : tdim]  # first derivatives: tdim - 1 of them
            self._ddphi = table[tdim:]  # second: xx (interval); xx, xy, yy (triangle)
        self._sides = side_dofs(bundle, space)
        all_li = tagged_facets(bundle, "li_surface", owned=False)
        self.dofs = space.shared(space.node_dof[facet_nodes(mesh, all_li).ravel()])
        self.normals = np.empty((self.dofs.size, space.gdim))
        self.offsets = np.empty((self.dofs.size, space.gdim))
        # the per-node sums of update(), kept: one ghost exchange for all, no new vector per move
        self._sums = la.vector(space.V.dofmap.index_map, (space.gdim + 2) * space.gdim)
        self.update()

    def update(self) -> None:
        """Recompute the nodal normals and offset vectors from the current geometry.

        Call it after the mesh moved. Collective (ghost exchanges).
        """
        gdim = self.space.gdim
        x = self.bundle.mesh.geometry.x[:, :gdim]
        nodes = self._ordered_nodes(x)
        sign = self._orientation(x, nodes)
        area = np.linalg.norm(_weighted_normals(x[nodes[:, :gdim]]), axis=1)
        # the curved facet's own normal at each of its nodes (its tangent plane there)
        tangent = self._tangent_normals(x[nodes]) * sign[:, None, None]
        unit = tangent / np.linalg.norm(tangent, axis=2)[:, :, None]
        self._sums.array[:] = 0.0
        sums = self._sums.array.reshape(-1, gdim + 2, gdim)
        for k in range(nodes.shape[1]):
            dofs = self.space.node_dof[nodes[:, k]]
            n = unit[:, k]
            # per node: sum_f |f| n_f, sum_f n_f and the rows of sum_f n_f n_f^T
            per_facet = [area[:, None] * n, n, *np.moveaxis(n[:, :, None] * n[:, None, :], 1, 0)]
            for i, values in enumerate(per_facet):
                np.add.at(sums[:, i], dofs, values)
        keep = np.ones((self.dofs.size, gdim))  # the directions a node may move in
        for axis, dofs in self._sides.items():
            keep[np.isin(self.dofs, dofs), axis] = 0.0
        self._sums.scatter_reverse(la.InsertMode.add)
        self._sums.scatter_forward()
        at_nodes = [sums[self.dofs, i] * keep for i in range(gdim + 2)]
        area_weighted, b = at_nodes[0], at_nodes[1]
        M = np.stack(at_nodes[2:], axis=1) * keep[:, :, None]
        self.normals = area_weighted / np.linalg.norm(area_weighted, axis=1)[:, None]
        # unweighted least squares: its solution does not depend on weights where the planes
        # meet in one point, and the cutoff then compares angles, not facet sizes
        inverse = np.linalg.pinv(M, hermitian=True, rtol=OFFSET_RTOL)
        self.offsets = np.einsum("nij,nj->ni", inverse, b) * keep  # exactly 0 off the sides

    def _ordered_nodes(self, x: np.ndarray) -> np.ndarray:
        """Geometry nodes of the owned Li facets in the reference order of their element.

        Vertices first; a second-order triangle's mid-edge nodes are put in basix's order
        (edges (1, 2), (0, 2), (0, 1)), each found as the node nearest the edge's midpoint.
        """
        nodes = facet_nodes(self.bundle.mesh, self._facets)
        if self._dphi is None or x.shape[1] == 2:
            return nodes
        vertices = x[nodes[:, :3]]
        expected = 0.5 * (vertices[:, [1, 0, 0]] + vertices[:, [2, 2, 1]])
        gap = np.linalg.norm(x[nodes[:, 3:]][:, :, None, :] - expected[:, None], axis=3)
        order = np.argmin(gap, axis=1)  # for each edge, the node nearest its midpoint
        return np.concatenate([nodes[:, :3], np.take_along_axis(nodes[:, 3:], order, 1)], 1)

    def _orientation(self, x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """+1 or -1 per facet: the sign that turns its vertex-order normal out of the Li."""
        mesh = self.bundle.mesh
        tdim = mesh.topology.dim
        f2c = mesh.topology.connectivity(tdim - 1, tdim)
        cells = np.array([f2c.links(f)[0] for f in self._facets], dtype=np.int32)
        cell_vertices = mesh.geometry.dofmaps[0][cells][:, : tdim + 1]
        # towards the (ionic) cell the facet bounds
        inward = x[cell_vertices].mean(axis=1) - x[nodes[:, :tdim]].mean(axis=1)
        normal = _weighted_normals(x[nodes[:, :tdim]])
        return np.where(np.einsum("ij,ij->i", normal, inward) < 0.0, -1.0, 1.0)

    def _tangent_normals(self, X: np.ndarray) -> np.ndarray:
        """Normals of the (curved) facets at their nodes, scaled by the local metric.

        Args:
            X: Facet node coordinates in reference order (``_ordered_nodes``), shape
                (facets, nodes, gdim).

        Returns:
            Shape (facets, nodes, gdim), oriented like the facets' vertex simplices.
        """
        if self._dphi is None:  # straight facets: the simplex normal at every node
            n = _weighted_normals(X[:, : X.shape[2]])
            return np.repeat(n[:, None, :], X.shape[1], axis=1)
        J = np.einsum("fkg,dpk->fpgd", X, self._dphi)  # (facets, nodes, gdim, fdim)
        if X.shape[2] == 2:
            t = J[..., 0]
            return np.stack([t[..., 1], -t[..., 0]], axis=-1)
        return np.cross(J[..., 0], J[..., 1])

    def curvature(self) -> np.ndarray:
        """Mean curvature K (sum of the principal curvatures) at the Li-surface nodes, 1/m.

        K = div_surface(n) with n out of the Li: positive on a protrusion (1/R on a cylinder,
        2/R on a sphere), negative in a valley. Each curved facet's own value at the node
        (from the first and second fundamental forms of its P2 map; 2D: -x''.n/|x'|^2) is
        averaged over the node's facets with their areas. Axisymmetric sections add the
        azimuthal curvature n_r / r (on the axis, r = 0: the section's curvature again).
        Collective.

        Raises:
            ValueError: The geometry is first order (straight facets have no curvature).
        """
        if self._ddphi is None:
            raise ValueError("mesh.order: the curvature needs the curved second-order geometry "
                             "(got 1); allowed: 2")
        gdim = self.space.gdim
        x = self.bundle.mesh.geometry.x[:, :gdim]
        nodes = self._ordered_nodes(x)
        X = x[nodes]
        normal = self._tangent_normals(X) * self._orientation(x, nodes)[:, None, None]
        unit = normal / np.linalg.norm(normal, axis=2)[:, :, None]
        t = np.einsum("fkg,dpk->fpdg", X, self._dphi)  # tangents (facets, nodes, fdim, gdim)
        a = np.einsum("fkg,spk->fpsg", X, self._ddphi)  # second derivatives, symmetric pairs
        first = np.einsum("fpig,fpjg->fpij", t, t)
        if gdim == 2:
            value = -np.einsum("fpg,fpg->fp", a[:, :, 0], unit) / first[..., 0, 0]
        else:
            second = -np.einsum("fpsg,fpg->fps", a, unit)  # (xx, xy, yy)
            II = np.stack([second[..., [0, 1]], second[..., [1, 2]]], axis=-2)
            value = np.einsum("fpii->fp", np.linalg.solve(first, II))
        area = np.linalg.norm(_weighted_normals(X[:, : X.shape[2]]), axis=1)
        sums = fem.Function(self.space.V)
        values = sums.x.array.reshape(-1, gdim)
        for k in range(nodes.shape[1]):
            dofs = self.space.node_dof[nodes[:, k]]
            np.add.at(values[:, 0], dofs, area * value[:, k])
            np.add.at(values[:, 1], dofs, area)
        sums.x.scatter_reverse(la.InsertMode.add)
        sums.x.scatter_forward()
        totals = sums.x.array.reshape(-1, gdim)[self.dofs]
        K = totals[:, 0] / totals[:, 1]
        if self.bundle.coordinates == "axisymmetric":
            r = self.points()[:, 0]
            on_axis = np.isclose(r, 0.0, rtol=0.0, atol=1e-12 * np.max(np.abs(r)))
            K = np.where(on_axis, 2.0 * K, K + self.normals[:, 0] / np.where(on_axis, 1.0, r))
        return K

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
        """Surface displacement of one explicit step, d = v_n dt m at the Li-surface nodes.

        Args:
            j: Faradaic current density at the nodes (``dofs`` order), a number, or a function of
                the node coordinates (shape (n, gdim)) returning it; A/m^2, > 0 plating.
            dt: Step length, s.
            out: Function of the displacement space to fill (a new one if None).

        Returns:
            A function of the displacement space: d on the Li-surface dofs, 0 elsewhere.
        """
        values = j(self.points()) if callable(j) else j
        d = (self.velocity(values) * dt)[..., None] * self.offsets
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


class ReflexCorners:
    """Corners of a 2D Li surface where the Li is reflex: shocks of the moving front.

    At the foot of a protrusion the Li surface turns by ~90 degrees with the Li on the outside
    of the turn (the electrolyte's angle is below 180 degrees). The faces' offset lines
    converge there: under growth the corner is a shock of the front, and Huygens' construction
    (the deposit is the old Li dilated by the local v_n dt) puts it where the faces' offsets
    cross; a point of lower speed at the corner itself lies inside its neighbours' dilation
    unless its speed exceeds sqrt(2) times theirs. The Faradaic current at the corner node is
    lower than on its faces (docs/theory.md, "Reflex corners"): moved by its own speed the
    node lags, the faces next to it tilt into a notch whose cells fold.

    :meth:`current` therefore gives every reflex corner node (``|m|`` above ``corner``, both of
    its facets' nearest other nodes on the electrolyte side of its normal, not on a side) the
    mean current of those nearest nodes when that is larger than its own. The corner then moves
    to the crossing of its faces' offset lines at their speed next to it.

    Args:
        bundle: The mesh and its ``li_surface`` facets (2D sections).
        space: The displacement space.
        kinematics: The surface kinematics (normals, offsets, dofs).
        corner: |m| above which a node is a corner.
    """

    def __init__(
        self,
        bundle: MeshBundle,
        space: DisplacementSpace,
        kinematics: SurfaceKinematics,
        corner: float,
    ) -> None:
        self.space, self.kinematics, self.corner = space, kinematics, corner
        nodes = facet_nodes(bundle.mesh, tagged_facets(bundle, "li_surface", owned=True))
        dofs = space.node_dof[nodes]  # (facets, 2 or 3) block dofs, vertices first
        # each vertex with the facet's node nearest to it (the mid-edge node of a P2 facet)
        other = dofs[:, 2] if dofs.shape[1] > 2 else None
        self._vertex = np.concatenate([dofs[:, 0], dofs[:, 1]])
        self._near = np.concatenate([dofs[:, 1], dofs[:, 0]] if other is None
                                    else [other, other])
        self._fixed = np.unique(np.concatenate(list(side_dofs(bundle, space).values())))

    def _sum(self, values: np.ndarray) -> np.ndarray:
        """Per-dof values (shape (dofs, gdim)) summed over ranks."""
        f = fem.Function(self.space.V)
        f.x.array[:] = values.ravel()
        f.x.scatter_reverse(la.InsertMode.add)
        f.x.scatter_forward()
        return f.x.array.reshape(values.shape)

    def current(self, j: np.ndarray) -> np.ndarray:
        """The nodal current with reflex corners raised to their faces' (collective).

        Args:
            j: Current density at the Li-surface nodes (``kinematics.dofs`` order), A/m^2.

        Returns:
            A copy of j, the reflex corner nodes at the mean of their facets' nearest nodes'
            current where that is larger.
        """
        kin = self.kinematics
        index = np.full(self.space.num_dofs, -1, dtype=np.int64)
        index[kin.dofs] = np.arange(kin.dofs.size)
        x = self.space.dof_coordinates()
        normal = np.zeros((self.space.num_dofs, self.space.gdim))
        normal[kin.dofs] = kin.normals
        reflex = np.einsum("ij,ij->i", x[self._near] - x[self._vertex],
                           normal[self._vertex]) > 0.0
        # per dof: (sum of the nearest nodes' j, its facets), and its facets bending away
        totals = np.zeros((self.space.num_dofs, self.space.gdim))
        np.add.at(totals[:, 0], self._vertex, j[index[self._near]])
        np.add.at(totals[:, 1], self._vertex, 1.0)
        bends = np.zeros((self.space.num_dofs, self.space.gdim))
        np.add.at(bends[:, 0], self._vertex, reflex.astype(float))
        totals, bends = self._sum(totals), self._sum(bends)
        count = totals[kin.dofs, 1]
        corner = np.linalg.norm(kin.offsets, axis=1) > self.corner
        corner &= (count == 2) & (bends[kin.dofs, 0] == 2)
        corner &= ~np.isin(kin.dofs, self._fixed)
        faces = totals[kin.dofs, 0] / np.where(count > 0, count, 1.0)
        return np.where(corner, np.maximum(j, faces), j)
