"""Curved second-order nodes for a first-order Gmsh mesh, placed in numpy.

Gmsh's ``setOrder(2)`` spends most of its time on the bookkeeping of the edges: 3-6x what
:func:`set_order_2` takes (docs/performance.md, "2D growth with size"), which builds the same
nodes from arrays and hands them back to the current Gmsh model. The high-order mesh is what
``setOrder(2)`` gives (to round-off, tests/test_mesh_second_order.py) and everything after it
(the quality check, the cache file, ``model_to_mesh``) is unchanged.

Where the node of an edge goes, as in Gmsh (``Mesh/HighOrder.cpp``):

- an edge on a model curve: the point of the curve halfway along it between the edge's end
  points, t_m with L(t_0, t_m) = L(t_m, t_1) (arc length L; for circles and lines the midpoint
  of the parameters, exactly), x = C(t_m);
- an edge on a model surface (3D): the point of the surface closest to the straight midpoint;
- any other edge (inside a 2D surface, which is planar, or a volume): the straight midpoint
  (x_a + x_b) / 2.

Gmsh's node ordering of the second-order elements (edges 0-1, 1-2, 2-0 of a triangle; 0-1, 1-2,
2-0, 3-0, 3-2, 3-1 of a tetrahedron) is kept, and the first-order nodes and element tags stay.
"""

from __future__ import annotations

import numpy as np

__all__ = ["set_order_2"]

_P2_TYPE = {1: 8, 2: 9, 4: 11}
"""Gmsh element type of the second-order element of each first-order type (line, triangle, tet)."""

_EDGES = {
    1: np.array([[0, 1]]),
    2: np.array([[0, 1], [1, 2], [2, 0]]),
    4: np.array([[0, 1], [1, 2], [2, 0], [3, 0], [3, 2], [3, 1]]),
}
"""Local vertex pairs of the edges of each first-order Gmsh type, in Gmsh's high-order order."""

_GAUSS = np.polynomial.legendre.leggauss(8)
"""Gauss-Legendre rule for arc lengths along a curve (exact to ~1e-15 on a mesh edge's span)."""


def set_order_2(gmsh) -> None:
    """Turn the first-order mesh of the current Gmsh model into a curved second-order one.

    Args:
        gmsh: The ``gmsh`` module with a meshed current model (lines, triangles, tetrahedra).

    Raises:
        ValueError: The mesh holds elements of another type (e.g. quadrangles).
    """
    model = gmsh.model
    tags, coords, _ = model.mesh.getNodes()
    x = coords.reshape(-1, 3)
    index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
    index[tags] = np.arange(tags.size)
    blocks = []  # (dim, entity, type, element tags, vertex rows into x)
    for dim, entity in model.getEntities():
        if dim == 0:
            continue
        types, element_tags, node_tags = model.mesh.getElements(dim, entity)
        for kind, elements, nodes in zip(types, element_tags, node_tags, strict=True):
            if kind not in _EDGES:
                raise ValueError(f"second-order nodes: unsupported Gmsh element type {kind}")
            blocks.append((dim, entity, kind, elements, index[nodes].reshape(elements.size, -1)))
    # every edge once, numbered by its sorted vertex pair; an edge takes the classification of
    # the lowest-dimensional entity holding it (curve, then surface, then volume)
    pairs = np.concatenate([np.sort(rows[:, _EDGES[kind]], axis=2).reshape(-1, 2)
                            for _, _, kind, _, rows in blocks])
    keys, edge_of = np.unique(pairs[:, 0] * tags.size + pairs[:, 1], return_inverse=True)
    a, b = keys // tags.size, keys % tags.size
    block_edges = np.split(edge_of, np.cumsum(  # the edges of each block's elements
        [rows.shape[0] * len(_EDGES[kind]) for _, _, kind, _, rows in blocks])[:-1])
    midpoints = 0.5 * (x[a] + x[b])
    owner = np.full((keys.size, 2), -1, dtype=np.int64)  # (dim, entity) of each edge's node
    parametric: dict[tuple[int, int], np.ndarray] = {}
    for (dim, entity, *_), edges in zip(blocks, block_edges, strict=True):
        mask = np.zeros(keys.size, dtype=bool)
        mask[edges] = True
        free = np.flatnonzero(mask & (owner[:, 0] < 0))
        if free.size == 0:
            continue
        owner[free] = (dim, entity)
        if dim == 1:
            midpoints[free], parametric[(dim, entity)] = _on_curve(model, entity, tags[a[free]],
                                                                   tags[b[free]])
        elif dim == 2 and model.getDimension() == 3:
            closest, uv = model.getClosestPoint(2, entity, midpoints[free].ravel())
            midpoints[free] = np.reshape(closest, (-1, 3))
            parametric[(dim, entity)] = np.asarray(uv)
    new_tags = int(tags.max()) + 1 + np.arange(keys.size, dtype=np.uint64)
    for dim, entity, *_ in blocks:
        model.mesh.removeElements(dim, entity)  # all of them (naming the tags is 10x slower)
    for dim, entity in model.getEntities():
        mine = np.flatnonzero((owner[:, 0] == dim) & (owner[:, 1] == entity))
        if mine.size:
            model.mesh.addNodes(dim, entity, new_tags[mine], midpoints[mine].ravel(),
                                parametric.get((dim, entity), []))
    for (_, entity, kind, elements, rows), edges in zip(blocks, block_edges, strict=True):
        edge_nodes = new_tags[edges].reshape(rows.shape[0], -1)
        nodes = np.hstack([tags[rows].astype(np.uint64), edge_nodes])
        model.mesh.addElementsByType(entity, _P2_TYPE[kind], elements, nodes.ravel())
    # contiguous tags in the order of the model entities, as a Gmsh-made mesh has them (DOLFINx's
    # distribution of the facet tags failed on a 3D mesh with the new nodes numbered last)
    model.mesh.renumberNodes()


def _on_curve(model, curve: int, first: np.ndarray, second: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Points of ``curve`` halfway along it between nodes ``first[i]`` and ``second[i]``; their t.

    ``first`` and ``second`` are Gmsh node tags, one pair per edge.
    """
    node_tags, _, t_nodes = model.mesh.getNodes(1, curve, includeBoundary=True,
                                                returnParametricCoord=True)
    lookup = dict(zip(node_tags.tolist(), t_nodes.tolist(), strict=True))
    t0 = np.array([lookup[int(tag)] for tag in first])
    t1 = np.array([lookup[int(tag)] for tag in second])
    low, high = model.getParametrizationBounds(1, curve)
    if _closed(model, curve):
        # the end point of a closed curve is its start point: an edge ending there spans to the
        # upper bound of the parameter, not back to the lower one
        span = high[0] - low[0]
        wrap = np.abs(t1 - t0) > 0.5 * span
        t0, t1 = (np.where(wrap & (t0 < t1), t0 + span, t0),
                  np.where(wrap & (t1 < t0), t1 + span, t1))
    t = 0.5 * (t0 + t1)
    nodes, weights = _GAUSS
    for _ in range(8):  # Newton on f(t) = L(t0, t) - L(t, t1), f'(t) = 2 |C'(t)|
        f = _length(model, curve, t0, t, nodes, weights) - _length(model, curve, t, t1, nodes,
                                                                    weights)
        step = f / (2.0 * _speed(model, curve, t))
        t = t - step
        if np.all(np.abs(step) <= 1e-14 * np.abs(t1 - t0)):
            break
    return np.reshape(model.getValue(1, curve, t), (-1, 3)), t


def _closed(model, curve: int) -> bool:
    """Whether ``curve`` is a loop (no end points, or the same point at both ends)."""
    ends = model.getBoundary([(1, curve)], combined=False, oriented=False)
    return len(ends) < 2 or ends[0] == ends[1]


def _speed(model, curve: int, t: np.ndarray) -> np.ndarray:
    """|C'(t)| at the parameters ``t``."""
    return np.linalg.norm(np.reshape(model.getDerivative(1, curve, t.ravel()), (-1, 3)), axis=1)


def _length(model, curve: int, t0: np.ndarray, t1: np.ndarray, nodes: np.ndarray,
            weights: np.ndarray) -> np.ndarray:
    """Arc lengths of ``curve`` from ``t0`` to ``t1`` (Gauss-Legendre)."""
    half = 0.5 * (t1 - t0)
    points = (0.5 * (t0 + t1))[:, None] + half[:, None] * nodes[None, :]
    return half * (_speed(model, curve, points).reshape(points.shape) @ weights)
