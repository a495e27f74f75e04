"""The interphase rides on the Li: layer nodes take the displacement of the Li point beneath.

Li plates beneath the interphase, so a conformal layer is carried along with the surface it
covers. Every node p of an interphase cell gets the displacement of its closest point on the Li
surface, interpolated linearly on the surface's (sub-)facets:

    w(p) = sum_i lambda_i(q) d_i,      q = argmin_{q in li_surface} |p - q|

(blended across the bisector of a concave corner, where q jumps between the faces: BLEND).
A conformal layer point is p = x(s) + tau n(s) with q = x(s), so a surface moving along its
normal by a uniform delta moves the whole layer by delta n(s): the offset curves stay offset
curves and the thickness is kept exactly (up to the linear interpolation of the normals along
a facet, O((h kappa)^2) delta). A second-order facet is split at its mid-edge nodes into 2
segments (2D) or 4 triangles (3D). The Li surface is small (a curve in 2D, a surface in 3D):
every rank holds all of it (allgathered once per step) and searches its k nearest pieces by
their centroids (scipy cKDTree).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["SurfacePieces", "closest_on_segments", "closest_on_triangles", "nearest_pieces"]

_CANDIDATES = 16
"""How many pieces (nearest by centroid) are searched for each point's closest point."""

BLEND = 0.2
"""Width of the blend between pieces at nearly the same distance, relative to the distance.

In a concave corner (the foot of a protrusion) the closest point jumps from one face to the
other across the bisector, and so would the displacement (by ~|n_1 - n_2| delta): it inverted
layer cells smaller than the step's delta. Pieces whose distance exceeds the smallest by
less than BLEND times it are averaged with hat weights, which turns the jump into a ramp about
as wide as the node's height above the corner. Where a point lies above the inside of one piece
of a smooth surface, its neighbours' closest points are their edges, close to its own foot:
the blend then averages the displacement over a window about as wide as the node's height
tau, which on a surface of curvature radius R shortens it slightly: a 50 nm layer on a sinusoid
of crest radius 0.5 um loses 1.6e-4 of its area in a 7 nm rise (tests/test_growth_motion.py).
BLEND trades this against the ramp's steepness: 0.1, 0.2, 0.3 left the smallest cell quality
at 0.06, 0.12, 0.15 after one 13 nm step at the foot of a hemisphere (axisymmetric, 100 nm
layer, refinement 2; 0.19 before) and points 0.05 above the nodes of a coarse 200-node sphere
off by 0.4, 0.7, 0.8 % of delta. Measured alternatives (blending only pieces the point lies
straight above, or only pieces turned by more than 20 degrees) left cells at the foot inverted."""

_P2_TRIANGLE_SPLIT = ((0, 5, 4), (5, 1, 3), (4, 3, 2), (3, 4, 5))
"""Sub-triangles of a second-order triangle (DOLFINx node order: vertices 0, 1, 2, then the
midpoints of edges (1, 2), (0, 2), (0, 1))."""


def closest_on_segments(p: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Closest points of segments [a, b] to points p (all shape (..., gdim)).

    Returns:
        (distance, weights): distances (...,) and barycentric weights (..., 2) of a and b.
    """
    t = b - a
    length2 = np.einsum("...j,...j->...", t, t)
    s = np.einsum("...j,...j->...", p - a, t) / np.where(length2 > 0, length2, 1.0)
    s = np.clip(s, 0.0, 1.0)
    foot = a + s[..., None] * t
    return np.linalg.norm(p - foot, axis=-1), np.stack([1.0 - s, s], axis=-1)


def closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """Closest points of triangles (a, b, c) to points p in 3D (all shape (..., 3)).

    The projection onto the plane when it falls inside the triangle, otherwise the closest
    point of the three edges (where the closest point then lies).

    Returns:
        (distance, weights): distances (...,) and barycentric weights (..., 3) of a, b, c.
    """
    e1, e2 = b - a, c - a
    r = p - a
    g11 = np.einsum("...j,...j->...", e1, e1)
    g12 = np.einsum("...j,...j->...", e1, e2)
    g22 = np.einsum("...j,...j->...", e2, e2)
    r1 = np.einsum("...j,...j->...", r, e1)
    r2 = np.einsum("...j,...j->...", r, e2)
    det = g11 * g22 - g12**2
    det = np.where(det > 0, det, 1.0)
    u = (g22 * r1 - g12 * r2) / det
    v = (g11 * r2 - g12 * r1) / det
    inside = (u >= 0) & (v >= 0) & (u + v <= 1)
    best_d = np.linalg.norm(r - u[..., None] * e1 - v[..., None] * e2, axis=-1)
    best_w = np.stack([1.0 - u - v, u, v], axis=-1)
    best_d = np.where(inside, best_d, np.inf)
    corners = (a, b, c)
    for i, j in ((0, 1), (1, 2), (0, 2)):
        d, w = closest_on_segments(p, corners[i], corners[j])
        weights = np.zeros(best_w.shape)
        weights[..., i], weights[..., j] = w[..., 0], w[..., 1]
        better = d < best_d
        best_d = np.where(better, d, best_d)
        best_w = np.where(better[..., None], weights, best_w)
    return best_d, best_w


def nearest_pieces(tree: Any, corners: np.ndarray, points: np.ndarray):
    """The pieces nearest to each point by centroid and each one's closest point to it.

    Args:
        tree: A ``cKDTree`` of the pieces' centroids.
        corners: Piece corners, shape (m, gdim, gdim) (2 points in 2D, 3 in 3D), m > 0.
        points: Shape (n, gdim).

    Returns:
        (near, distance, weights): the candidate pieces (n, k), their distances (n, k) and the
        barycentric weights of their closest points (n, k, corners per piece).
    """
    k = min(_CANDIDATES, len(corners))
    _, near = tree.query(points, k=k)
    near = near.reshape(len(points), k)
    c = corners[near]  # (n, k, corners, gdim)
    p = np.broadcast_to(points[:, None, :], c[:, :, 0].shape)
    if points.shape[1] == 2:
        dist, weights = closest_on_segments(p, c[:, :, 0], c[:, :, 1])
    else:
        dist, weights = closest_on_triangles(p, c[:, :, 0], c[:, :, 1], c[:, :, 2])
    return near, dist, weights


class SurfacePieces:
    """The Li surface as straight pieces (segments or triangles) with nodal displacements.

    Args:
        corners: Piece corner coordinates, shape (m, gdim, gdim) (2 points in 2D, 3 in 3D).
        displacement: Displacement at the corners, same shape.
    """

    def __init__(self, corners: np.ndarray, displacement: np.ndarray) -> None:
        self.corners = corners
        self.displacement = displacement
        from scipy.spatial import cKDTree  # 0.3 s of import: only when the surface moves

        self._tree = cKDTree(corners.mean(axis=1)) if len(corners) else None

    @classmethod
    def from_facets(cls, nodes: np.ndarray, x: np.ndarray, d: np.ndarray) -> SurfacePieces:
        """Pieces of facets given by their geometry nodes (vertices first, then mid-edge).

        Args:
            nodes: Facet geometry nodes, shape (facets, nodes per facet).
            x: Node coordinates (indexed by ``nodes``), shape (..., gdim).
            d: Node displacements, same shape as ``x``.
        """
        gdim = x.shape[1]
        per_facet = nodes.shape[1]
        if gdim == 2:
            split = ((0, 1),) if per_facet == 2 else ((0, 2), (2, 1))
        else:
            split = ((0, 1, 2),) if per_facet == 3 else _P2_TRIANGLE_SPLIT
        pieces = np.concatenate([nodes[:, list(s)] for s in split], axis=0)
        return cls(x[pieces], d[pieces])

    def displacement_at(self, points: np.ndarray) -> np.ndarray:
        """Displacement of the closest surface point of every point, shape (n, gdim)."""
        if self._tree is None or len(points) == 0:
            return np.zeros_like(points)
        near, dist, weights = nearest_pieces(self._tree, self.corners, points)
        # each candidate piece's displacement at its closest point, blended with the hat
        # weights max(0, 1 - (dist - dist_min) / (BLEND dist_min)): only the closest piece on a
        # smooth surface, a continuous ramp across the bisector of a concave corner
        values = np.einsum("nkc,nkcg->nkg", weights, self.displacement[near])
        nearest = dist.min(axis=1, keepdims=True)
        width = np.maximum(BLEND * nearest, np.finfo(float).tiny)
        hat = np.clip(1.0 - (dist - nearest) / width, 0.0, 1.0)
        hat[dist == nearest] = 1.0
        return np.einsum("nk,nkg->ng", hat, values) / hat.sum(axis=1)[:, None]
