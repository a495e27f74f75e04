"""A Li surface given as a parametric polyline and its exact (trimmed) offsets: pure geometry.

A grown Li surface need not be a graph y = h(x): the side of a protrusion is vertical at its
foot and may lean over. The remesher hands it back as the ordered chain of its nodes, from the
side x = 0 to the side x = W (``surface: {kind: polyline}``). The builders draw it as
interpolating splines through the nodes, broken at its corners (nodes where the chain turns by
more than ``CORNER_ANGLE``: no spline across a corner, so none overshoots there); a piece of two
nodes is a straight segment. Through P1 facets' nodes the spline deviates from the old facets by
up to h^2 kappa / 8 (h the facet length, kappa the curvature), i.e. it is the smooth surface the
facets approximate; through a P2 chain (vertices and mid nodes) it deviates from the old curved
facets by O(h^4 kappa^3).

The interphase boundary at a distance T from the Li is drawn node by node. At a corner (the
chain turns by more than ``CORNER_ANGLE``) the offset node is the intersection of the
neighbouring segments shifted by T along their normals (the mitre),
p + T (n_a + n_b) / (1 + n_a . n_b): in a concave corner that is where the exact offset trims
its swallowtail (exact); at a convex corner the layer reaches T / cos(theta / 2) there instead
of the exact offset's round join (theta the turning angle), and both neighbouring segments
keep their thickness T. At every other node it is p + T n, n = (n_a + n_b) / |n_a + n_b| the
normal of the smooth surface there (to O(h^2)), exactly T from the node; between the nodes the
drawn boundary (the spline through these nodes) follows the exact offset to O(h^2). Each
offset segment pairs with its Li segment, so a uniform layer stays a structured strip. When
this offset would fold (a segment shorter than its trimming, a hairpin), the exact offset is
taken instead: the boundary of the Minkowski sum of the Li region with a disk of radius T
(``shapely``'s ``buffer``, round joins, swallowtails trimmed), meshed with isotropic layer
cells. The chain is continued beyond
[0, W] by its mirror images (symmetric sides) or periodic images, so that the offset is right up
to the sides.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ARC_SEGMENTS",
    "CORNER_ANGLE",
    "corners",
    "densified",
    "is_simple",
    "offset_chain",
    "smallest_radius",
    "untangled",
    "upper_height",
]

CORNER_ANGLE = 0.25
"""Turning angle (rad, ~14 degrees) above which a node of the chain is a corner: the splines
break there. The nodes of a smooth surface resolved by its mesh turn by much less (0.03 rad on
a 1 um tip 30 nm apart)."""

ARC_SEGMENTS = 16
"""Straight segments per quarter circle of a round join (its chord error is T (1 - cos(pi/64)),
1.2e-3 T)."""


def is_simple(points: np.ndarray) -> bool:
    """Whether the chain does not cross or touch itself."""
    from shapely.geometry import LineString  # imported where used: 13 ms a run need not pay

    return bool(LineString(points).is_simple)


def _images(points: np.ndarray, width: float, lateral: str) -> np.ndarray:
    """The chain continued over [-W, 2W] by its mirror (symmetric) or periodic images."""
    if lateral == "periodic":
        left = points[:-1] - np.array([width, 0.0])
        right = points[1:] + np.array([width, 0.0])
    else:
        left = (points * np.array([-1.0, 1.0]))[:0:-1]
        right = (np.array([2.0 * width, 0.0]) - points * np.array([1.0, -1.0]))[-2::-1]
    return np.concatenate([left, points, right])


def _folds(chain: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    """The offset of the chain by T (one node per node) and the nodes where it folds.

    A node folds where the chain turns by more than 120 degrees, or where an offset segment
    runs against its Li segment (its two nodes).
    """
    d = np.diff(chain, axis=0)
    d /= np.linalg.norm(d, axis=1)[:, None]
    n = np.column_stack([-d[:, 1], d[:, 0]])  # Li lies to the right of the chain's direction
    n_a, n_b = np.vstack([n[:1], n]), np.vstack([n, n[-1:]])
    cos = 1.0 + np.sum(n_a * n_b, axis=1)
    bisector = n_a + n_b
    corner = np.isin(np.arange(len(chain)), corners(chain))
    scale = np.where(corner, 1.0 / np.maximum(cos, 0.5), 1.0 / np.linalg.norm(bisector, axis=1))
    out = chain + T * bisector * scale[:, None]
    against = np.flatnonzero(np.sum(np.diff(out, axis=0) * d, axis=1) <= 0.0)
    return out, np.union1d(np.flatnonzero(cos < 0.5), np.union1d(against, against + 1))


def _mitre(chain: np.ndarray, T: float) -> np.ndarray | None:
    """The offset of the chain by T (one node per node), None when it would fold."""
    out, folds = _folds(chain, T)
    return out if folds.size == 0 and is_simple(out) else None


def untangled(chain: np.ndarray, T: float) -> np.ndarray:
    """The chain without the interior nodes where its mitre offset by T folds.

    A grown surface's concave corner gathers nodes closer than T (and may undercut by a few
    nm): dropping them cuts the corner by a straight segment, changing the Li region by less
    than the area of the triangles dropped (~ T x node spacing each). Repeated until no node
    folds (the ends stay).
    """
    chain = np.asarray(chain, dtype=float)
    while len(chain) > 2:
        folds = _folds(chain, T)[1]
        folds = folds[(folds > 0) & (folds < len(chain) - 1)]
        if folds.size == 0:
            break
        chain = np.delete(chain, folds, axis=0)
    return chain


SPLINE_SAMPLES = 6
"""Points per span handed to the CAD kernel's spline (``densified``)."""


def densified(points: np.ndarray) -> np.ndarray:
    """``SPLINE_SAMPLES`` points per span of the parametric cubic spline through ``points``.

    The spline x(s), y(s) in the chord length s (not-a-knot ends): the CAD kernel's own
    interpolation through the sparse, graded nodes would parametrise them uniformly and
    wiggle between them; through these samples it follows this spline.
    """
    from scipy.interpolate import CubicSpline

    if len(points) < 4:
        return points
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    fine = (s[:-1, None] + np.diff(s)[:, None] * np.arange(SPLINE_SAMPLES) / SPLINE_SAMPLES)
    fine = np.append(fine.ravel(), s[-1])
    out = CubicSpline(s, points, axis=0)(fine)
    out[::SPLINE_SAMPLES] = points  # the nodes themselves, exactly
    return out


def corners(chain: np.ndarray) -> np.ndarray:
    """Indices of the interior nodes where the chain turns by more than ``CORNER_ANGLE``."""
    d = np.diff(chain, axis=0)
    cross = d[:-1, 0] * d[1:, 1] - d[:-1, 1] * d[1:, 0]
    turn = np.abs(np.arctan2(cross, np.sum(d[:-1] * d[1:], axis=1)))
    return np.flatnonzero(turn > CORNER_ANGLE) + 1


def _cut(chain: np.ndarray, width: float) -> np.ndarray:
    """Indices of the chain's nodes from the last at x <= -W/4 to the first at x >= 5W/4."""
    first = int(np.flatnonzero(chain[:, 0] <= -0.25 * width)[-1])
    last = int(np.flatnonzero(chain[:, 0] >= 1.25 * width)[0])
    return np.arange(first, last + 1)


def offset_chain(points: np.ndarray, width: float, lateral: str, T: float
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """The Li chain offset outward by T over x in [-W/4, 5W/4], left to right.

    Returns:
        The offset nodes (n, 2), m, and the indices of the Li chain's corners among them
        (the mitre offset, node by node, where it does not fold), or None (the exact trimmed
        offset: no node of it pairs with a node of the Li chain).

    Args:
        points: The Li chain from x = 0 to x = W, (n, 2), m.
        width: Domain width W, m.
        lateral: ``symmetric`` or ``periodic`` sides.
        T: Offset distance, m (0: the chain itself, cut to [-W/4, 5W/4]).
    """
    chain = _images(np.asarray(points, dtype=float), width, lateral)
    mitre = _mitre(chain, T) if T > 0.0 else chain
    if mitre is not None:
        keep = _cut(chain, width)
        at = corners(chain)
        return mitre[keep], at[(at > keep[0]) & (at < keep[-1])] - keep[0]
    import shapely  # imported where used: 13 ms a run without a folding offset need not pay
    from shapely.geometry import Polygon, box
    from shapely.geometry.polygon import orient

    top = float(chain[:, 1].max()) + T + width
    bottom = float(chain[:, 1].min()) - width
    li = Polygon([*chain, (chain[-1, 0], bottom - width), (chain[0, 0], bottom - width)])
    grown = li.buffer(T, quad_segs=ARC_SEGMENTS, join_style="round")
    x0, x1 = -0.25 * width, 1.25 * width
    clipped = shapely.intersection(grown, box(x0, bottom, x1, top))
    if not isinstance(clipped, Polygon):
        raise ValueError("layers: the offset Li surface splits into pieces (got an offset of "
                         f"{T:g} m); allowed: a connected Li surface")
    ring = np.asarray(orient(clipped, sign=-1.0).exterior.coords)[:-1]  # clockwise
    tol = 1e-9 * width
    on_left = np.flatnonzero(np.abs(ring[:, 0] - x0) < tol)
    start = int(on_left[np.argmax(ring[on_left, 1])])
    ring = np.roll(ring, -start, axis=0)
    end = int(np.flatnonzero(np.abs(ring[:, 0] - x1) < tol)[0])
    return ring[: end + 1], None


def upper_height(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The highest point of the chain above each x in [0, W], m (the envelope seen from above)."""
    p = np.asarray(points, dtype=float)
    a, b = p[:-1], p[1:]
    x = np.asarray(x, dtype=float)[:, None]
    lo, hi = np.minimum(a[:, 0], b[:, 0]), np.maximum(a[:, 0], b[:, 0])
    span = np.where(hi > lo, b[:, 0] - a[:, 0], 1.0)
    s = np.clip((x - a[:, 0]) / span, 0.0, 1.0)
    y = np.where((x >= lo) & (x <= hi), a[:, 1] + s * (b[:, 1] - a[:, 1]), -np.inf)
    return y.max(axis=1)


def smallest_radius(points: np.ndarray) -> float:
    """Smallest radius of curvature at the nodes of the smooth pieces of the chain, m.

    The parametric spline (``densified``) of each piece between corners, at its nodes; the
    nodes next to a corner are left out (the spline bends there to meet it). inf: straight.
    """
    from scipy.interpolate import CubicSpline

    breaks = np.concatenate([[0], corners(points), [len(points) - 1]])
    kappa = [0.0]
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        piece = points[a : b + 1]
        if len(piece) < 6:
            continue
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(piece, axis=0).T))])
        spline = CubicSpline(s, piece, axis=0)
        d1, d2 = spline(s[2:-2], 1), spline(s[2:-2], 2)
        cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
        kappa.append(float(np.max(np.abs(cross) / np.hypot(*d1.T) ** 3)))
    return 1.0 / max(kappa) if max(kappa) > 0.0 else np.inf
