"""Closest points on the Li surface (solver/growth/riding.py) against brute force.

References: the closest point of a triangle (segment) found by dense sampling (a 401-point
barycentric grid: distance within 3e-3 of the edge length of the exact one, from above); the
displacement of a node taken at its own surface position is its own (1e-15); a layer point
above a surface moving by a uniform delta along its normal gets delta n (1e-12).
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


@pytest.mark.parametrize("gdim", [2, 3])
def test_nodes_keep_their_displacement_and_layers_are_carried(gdim):
    """A circle (sphere) of radius 1 moving by delta n: layer points get delta n of their foot
    point, linearly interpolated (exact at the nodes)."""
    delta = 0.01
    if gdim == 2:
        theta = np.linspace(0, np.pi, 33)
        nodes = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        facets = np.stack([np.arange(32), np.arange(1, 33)], axis=1)
    else:
        rng = np.random.default_rng(3)
        nodes = rng.normal(size=(200, 3))
        nodes /= np.linalg.norm(nodes, axis=1)[:, None]
        facets = ConvexHull(nodes).simplices
    pieces = SurfacePieces.from_facets(facets, nodes, delta * nodes)
    np.testing.assert_allclose(pieces.displacement_at(nodes), delta * nodes, rtol=0, atol=1e-15)
    above = 1.05 * nodes  # layer points on the normals through the nodes
    np.testing.assert_allclose(pieces.displacement_at(above), delta * nodes, rtol=0, atol=1e-12)
