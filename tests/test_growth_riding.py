"""Closest points on the Li surface (solver/growth/riding.py) against brute force.

References: the closest point of a triangle (segment) found by dense sampling (a 401-point
barycentric grid: distance within 3e-3 of the edge length of the exact one, from above); the
displacement of a node taken at its own surface position is its own (1e-15); a layer point
above a plane moving by delta along its normal moves by delta n (1e-15); above a circle or
sphere, the blend of neighbouring pieces (riding.BLEND) leaves a small error, bounded from the
measured 2e-5 delta (33-node arc) and 7e-3 delta (200-node sphere); across a concave corner the
displacement ramps instead of jumping.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import ConvexHull

from solver.growth.riding import SurfacePieces, closest_on_segments, closest_on_triangles


def test_closest_on_triangles_matches_dense_sampling():
    rng = np.random.default_rng(7)
    a, b, c = rng.normal(size=(3, 20, 3))
    p = rng.normal(size=(20, 3)) * 2.0
    dist, weights = closest_on_triangles(p, a, b, c)
    assert np.all(weights >= -1e-14) and np.allclose(weights.sum(axis=1), 1.0)
    foot = weights[:, :1] * a + weights[:, 1:2] * b + weights[:, 2:] * c
    np.testing.assert_allclose(np.linalg.norm(p - foot, axis=1), dist, rtol=1e-12)
    u, v = np.meshgrid(np.linspace(0, 1, 401), np.linspace(0, 1, 401))
    keep = u + v <= 1.0
    u, v = u[keep], v[keep]
    for i in range(len(p)):
        samples = a[i] + u[:, None] * (b[i] - a[i]) + v[:, None] * (c[i] - a[i])
        sampled = np.min(np.linalg.norm(samples - p[i], axis=1))
        edge = max(np.linalg.norm(b[i] - a[i]), np.linalg.norm(c[i] - a[i]))
        assert dist[i] <= sampled + 1e-12
        assert sampled - dist[i] < 3e-3 * edge


def test_closest_on_segments():
    a, b = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]])
    for point, expected, s in (([1.0, 1.0], 1.0, 0.5), ([-1.0, 1.0], np.sqrt(2), 0.0),
                               ([3.0, -2.0], np.sqrt(5), 1.0)):
        dist, weights = closest_on_segments(np.array([point]), a, b)
        assert dist[0] == pytest.approx(expected, rel=1e-15)
        np.testing.assert_allclose(weights[0], [1 - s, s], rtol=0, atol=1e-15)


def _sphere(gdim: int):
    """Nodes and facets of a unit circle arc (2D, 33 nodes) or sphere (3D, 200 nodes)."""
    if gdim == 2:
        theta = np.linspace(0, np.pi, 33)
        nodes = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        return nodes, np.stack([np.arange(32), np.arange(1, 33)], axis=1)
    nodes = np.random.default_rng(3).normal(size=(200, 3))
    nodes /= np.linalg.norm(nodes, axis=1)[:, None]
    return nodes, ConvexHull(nodes).simplices


@pytest.mark.parametrize(("gdim", "bound"), [(2, 1e-4), (3, 1e-2)])
def test_nodes_keep_their_displacement_and_layers_are_carried(gdim, bound):
    """A circle (sphere) of radius 1 moving by delta n: nodes keep their own displacement
    exactly; points 0.05 above the nodes get delta n up to the blend with neighbouring pieces
    (measured 2e-5 delta on the 33-node arc, 7e-3 delta on the coarse 200-node sphere)."""
    delta = 0.01
    nodes, facets = _sphere(gdim)
    pieces = SurfacePieces.from_facets(facets, nodes, delta * nodes)
    np.testing.assert_allclose(pieces.displacement_at(nodes), delta * nodes, rtol=0, atol=1e-15)
    above = 1.05 * nodes  # layer points on the normals through the nodes
    error = np.linalg.norm(pieces.displacement_at(above) - delta * nodes, axis=1)
    assert error.max() < bound * delta


@pytest.mark.parametrize("gdim", [2, 3])
def test_flat_surface_carries_a_layer_exactly(gdim):
    """A plane moving by delta n moves every point above it by delta n (1e-15)."""
    rng = np.random.default_rng(5)
    lateral = rng.uniform(0, 1, size=(60, gdim - 1))
    nodes = np.concatenate([lateral, np.zeros((60, 1))], axis=1)
    if gdim == 2:
        order = np.argsort(nodes[:, 0])
        facets = np.stack([order[:-1], order[1:]], axis=1)
    else:
        from scipy.spatial import Delaunay

        facets = Delaunay(lateral).simplices
    d = np.zeros_like(nodes)
    d[:, -1] = 0.01
    points = nodes + rng.uniform(0.0, 0.2, size=(60, 1)) * np.eye(gdim)[-1]
    np.testing.assert_allclose(SurfacePieces.from_facets(facets, nodes, d).displacement_at(
        points), d, rtol=0, atol=1e-15)


def test_concave_corner_is_a_ramp_not_a_jump():
    """Across the bisector of a right-angled concave corner (floor y = 0 and wall x = 0, moving
    by delta along their normals) the displacement changes continuously: neighbouring points
    0.005 apart differ by < 0.3 delta, where the closest point alone would jump by sqrt(2)
    delta."""
    delta = 0.01
    s = np.linspace(0.0, 1.0, 11)
    floor = np.stack([s, 0 * s], axis=1)
    wall = np.stack([0 * s, s], axis=1)[1:]
    nodes = np.concatenate([wall[::-1], floor])  # from the top of the wall to the floor's end
    facets = np.stack([np.arange(len(nodes) - 1), np.arange(1, len(nodes))], axis=1)
    d = np.concatenate([np.tile([delta, 0.0], (len(wall), 1)), np.tile([0.0, delta], (11, 1))])
    d[len(wall)] = [delta, delta]  # the corner node: the offset planes' intersection
    t = np.linspace(-0.3, 0.3, 121)  # across the bisector at height 0.3
    points = np.stack([0.3 + t, 0.3 - t], axis=1)
    w = SurfacePieces.from_facets(facets, nodes, d).displacement_at(points)
    assert np.max(np.linalg.norm(np.diff(w, axis=0), axis=1)) < 0.3 * delta
    np.testing.assert_allclose(w[0], [delta, 0.0], atol=1e-15)  # on the wall and on the
    np.testing.assert_allclose(w[-1], [0.0, delta], atol=1e-15)  # floor: their own delta n
