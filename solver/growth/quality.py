"""Element quality of a moving mesh and the remeshing trigger.

The quality of a simplex is its normalised radius ratio (docs/theory.md, "Moving Li surface"),

    q = d r / R        (r, R: radii of the inscribed and circumscribed circle or sphere;
                        d = 2 for triangles, 3 for tetrahedra)

1 for the equilateral triangle and the regular tetrahedron, 0 for a flat one. It is signed: a
cell whose orientation (the sign of the determinant of its vertex simplex) differs from the one
it had when the quality monitor was created has turned inside out and gets -q. Second-order
(curved) cells also get the smallest scaled Jacobian over their geometry nodes, det J(node) /
|det J_vertices| (times the initial orientation): 1 for straight cells, <= 0 once a curved edge
folds the cell; the quality is the smaller of the two numbers. ``minimum`` reduces over ranks.
Every measure can also be taken for a proposed move of the nodes without moving them
(``displacement``): a moving-mesh run refuses a step whose move would fold a cell
(``would_invert``) or drop the quality below its threshold (solver.growth.coupling).
"""

from __future__ import annotations

import basix
import dolfinx
import numpy as np
from mpi4py import MPI

__all__ = ["MeshQuality", "radius_ratio", "simplex_determinant"]


def simplex_determinant(vertices: np.ndarray) -> np.ndarray:
    """Determinant of the edge vectors from the first vertex (d! times the signed measure).

    Args:
        vertices: Shape (n, d + 1, d): triangles in 2D (d = 2) or tetrahedra in 3D (d = 3).
    """
    edges = vertices[:, 1:] - vertices[:, :1]
    return np.linalg.det(edges)


def radius_ratio(vertices: np.ndarray) -> np.ndarray:
    """Normalised radius ratio d r / R of triangles or tetrahedra (unsigned, in [0, 1]).

    Args:
        vertices: Shape (n, 3, 2) (triangles) or (n, 4, 3) (tetrahedra).
    """
    d = vertices.shape[2]
    measure = np.abs(simplex_determinant(vertices)) / (2.0 if d == 2 else 6.0)
    if d == 2:
        a, b, c = (
            np.linalg.norm(vertices[:, i] - vertices[:, j], axis=1) for i, j in ((1, 2), (0, 2),
                                                                                   (0, 1))
        )
        s = 0.5 * (a + b + c)
        # 2 r / R with r = A / s, R = a b c / (4 A)
        return 8.0 * measure**2 / (s * a * b * c)
    faces = ((1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2))
    area = sum(
        0.5 * np.linalg.norm(
            np.cross(vertices[:, j] - vertices[:, i], vertices[:, k] - vertices[:, i]), axis=1
        )
        for i, j, k in faces
    )
    r = 3.0 * measure / area
    # circumcentre c: 2 (v_i - v_0) . c' = |v_i - v_0|^2 with c' = c - v_0
    edges = vertices[:, 1:] - vertices[:, :1]
    rhs = 0.5 * np.einsum("nij,nij->ni", edges, edges)
    safe = np.where(measure[:, None, None] > 0.0, edges, np.eye(3)[None])
    R = np.linalg.norm(np.linalg.solve(safe, rhs[..., None])[..., 0], axis=1)
    return np.where(measure > 0.0, 3.0 * r / R, 0.0)


class MeshQuality:
    """Signed quality of the owned cells of a simplex mesh, against its initial orientation.

    Args:
        mesh: A triangle or tetrahedron mesh (first or second order geometry).

    Raises:
        ValueError: The cells are not simplices.
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh) -> None:
        cell = mesh.topology.cell_type
        if cell not in (dolfinx.mesh.CellType.triangle, dolfinx.mesh.CellType.tetrahedron):
            raise ValueError(f"mesh: quality of simplices only (got {cell.name}); allowed: "
                             "triangle, tetrahedron")
        self.mesh = mesh
        tdim = mesh.topology.dim
        cmap = mesh.geometry.cmaps[0]
        n_owned = mesh.topology.index_map(tdim).size_local
        self._nodes = mesh.geometry.dofmaps[0][:n_owned]
        self._tdim = tdim
        self._dphi = None
        if cmap.degree > 1:
            element = basix.create_element(
                basix.ElementFamily.P,
                basix.CellType[cell.name],
                cmap.degree,
                basix.LagrangeVariant(cmap.variant),
            )
            # derivatives of the node shape functions at the nodes: (tdim, nodes, shape functions)
            self._dphi = element.tabulate(1, element.points)[1:, :, :, 0]
        self._orientation = np.sign(simplex_determinant(self._vertices()))

    def _coordinates(self, displacement: np.ndarray | None) -> np.ndarray:
        """Node coordinates (tdim components), moved by ``displacement`` when one is given."""
        x = self.mesh.geometry.x[:, : self._tdim]
        return x if displacement is None else x + displacement

    def _vertices(self, displacement: np.ndarray | None = None) -> np.ndarray:
        """Vertex coordinates of the owned cells, shape (n, tdim + 1, tdim)."""
        return self._coordinates(displacement)[self._nodes[:, : self._tdim + 1]]

    def cell_qualities(self, displacement: np.ndarray | None = None) -> np.ndarray:
        """Signed quality of every owned cell (1 ideal, <= 0 inverted).

        Args:
            displacement: A proposed move of the geometry nodes, shape (nodes, tdim) in the
                order of ``mesh.geometry.x`` (ghosts included): the qualities the cells would
                have after it (the mesh is not moved). None: the mesh as it is.
        """
        vertices = self._vertices(displacement)
        det = simplex_determinant(vertices)
        q = radius_ratio(vertices) * np.where(np.sign(det) == self._orientation, 1.0, -1.0)
        if self._dphi is not None:
            x = self._coordinates(displacement)[self._nodes]  # (cells, nodes, gdim)
            jacobians = np.einsum("dpk,ckg->cpgd", self._dphi, x)
            scaled = np.linalg.det(jacobians) * self._orientation[:, None]
            q = np.minimum(q, scaled.min(axis=1) / np.maximum(np.abs(det), np.finfo(float).tiny)
                           )
        return q

    def minimum(self, displacement: np.ndarray | None = None) -> float:
        """Smallest cell quality over all ranks (after a proposed move: ``cell_qualities``)."""
        q = self.cell_qualities(displacement)
        local = float(q.min()) if q.size else np.inf
        return float(self.mesh.comm.allreduce(local, op=MPI.MIN))

    def would_invert(self, displacement: np.ndarray) -> bool:
        """Whether moving the nodes by ``displacement`` would fold a cell (quality <= 0).

        The same answer on every rank (one collective reduction); the mesh is not moved.
        """
        return self.minimum(displacement) <= 0.0

    def needs_remesh(self, threshold: float) -> bool:
        """Whether the smallest quality (over all ranks) has fallen below ``threshold``.

        The answer is the same on every rank (one collective reduction).
        """
        return self.minimum() < threshold
