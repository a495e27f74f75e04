"""Li-surface profiles of the 2D builders as exact curve pieces, and their conformal offsets.

Every surface feature of a 2D (or axisymmetric) geometry is a region standing on the base plane
y = 0 whose top is described by a chain of curve pieces from its left foot to its right foot:
straight lines, circular arcs, elliptic arcs and interpolating splines. The conformal interphase
layer boundary at a distance T from the Li surface is the boundary of the Minkowski sum of the Li
(plus voids) with a disk of radius T. The Minkowski sum of a union is the union of the sums, so
the layer boundaries are built feature by feature:

* the half-plane y < 0 becomes y < T (the flat part);
* a circle of radius R becomes a concentric circle of radius R + T (exact arcs);
* a cone's flanks shift by T along their normal, its tip circle grows to r + T;
* an ellipse or a graph y = h(x) is offset pointwise, p + T n (interpolating spline);
* a polyline surface (a grown surface, any shape) by its exact trimmed offset
  (:mod:`solver.geometry.polyline`).

This module is pure geometry (numpy): it knows nothing of Gmsh, which lets the builders, the
validation and the landmarks share one description of the surface. The curve pieces and the
caps they form are in :mod:`solver.geometry.curves` (re-exported here); each surface, protrusion
and void class of :mod:`solver.geometry.spec` gives its own profile (``profile``, ``feature``,
``features``), so adding a shape is one class.
"""

from __future__ import annotations

import math

import numpy as np

from solver.geometry.curves import (
    Arc,
    EllipseArc,
    Feature,
    Line,
    Piece,
    Point,
    Spline,
    end_point,
    sample_chain,
    start_point,
)
from solver.geometry.heights import random_profile
from solver.geometry.spec import GeometryConfig, Protrusion

GMSH_LENGTH_UNIT = 1e-6
"""Metres per Gmsh model length unit. OpenCASCADE tolerances are absolute (~1e-7), so the
builders work in micrometres and ``build_mesh`` scales the mesh coordinates back to metres."""

__all__ = [
    "GMSH_LENGTH_UNIT",
    "Arc",
    "EllipseArc",
    "Feature",
    "Line",
    "Piece",
    "Point",
    "Spline",
    "base_profile",
    "end_point",
    "features",
    "li_surface_height",
    "protrusion_feature",
    "protrusion_height",
    "random_profile",
    "sample_chain",
    "start_point",
    "void_features",
    "void_features_all",
]


# ---------------------------------------------------------------------------------------------
# Protrusions and voids
# ---------------------------------------------------------------------------------------------


def protrusion_feature(p: Protrusion, T: float) -> Feature:
    """The protrusion ``p`` offset by T."""
    return p.feature(T)


def void_features_all(cfg: GeometryConfig, T: float) -> list[Feature]:
    """The voids offset by T, with periodic images when the sides are periodic."""
    return _with_images(cfg, void_features(cfg, T))


def void_features(cfg: GeometryConfig, T: float) -> list[Feature]:
    """The voids of ``cfg`` offset by T (T = 0: the voids themselves)."""
    return cfg.voids.features(T, cfg.domain.width) if cfg.voids is not None else []


def features(cfg: GeometryConfig, T: float, *, with_voids: bool) -> list[Feature]:
    """Protrusions (and voids) offset by T, with periodic images when the sides are periodic."""
    items = [protrusion_feature(p, T) for p in cfg.protrusions]
    if with_voids:
        items += void_features(cfg, T)
    return _with_images(cfg, items)


def _with_images(cfg: GeometryConfig, items: list[Feature]) -> list[Feature]:
    """Add the images at x -+ W of features that reach into the domain (periodic sides only)."""
    if cfg.domain.lateral != "periodic":
        return items
    W = cfg.domain.width
    images = [f.shifted(s) for f in items for s in (-W, W)]
    return items + [f for f in images if f.right[0] > 0.0 and f.left[0] < W]


# ---------------------------------------------------------------------------------------------
# Base surface y = h(x)
# ---------------------------------------------------------------------------------------------


def base_profile(cfg: GeometryConfig, T: float) -> Feature:
    """The base surface offset by T, over x in [-W/4, 5W/4] (beyond the domain on both sides).

    Raises:
        ValueError: The offset curve folds over itself (T exceeds the radius of curvature of a
            valley), naming the ``layers`` key.
    """
    W = cfg.domain.width
    x0, x1 = -0.25 * W, 1.25 * W
    if not cfg.surface.curved:
        return Feature(top=(Line((x0, T), (x1, T)),), apex=(0.5 * W, T), tip_radius=math.inf)
    drawn = cfg.surface.offset_feature(W, cfg.domain.lateral, T)
    if drawn is not None:
        return drawn
    x = np.linspace(x0, x1, cfg.surface.spline_samples(W))
    h, dh = cfg.surface.profile(W, cfg.domain.lateral)(x)
    norm = np.hypot(1.0, dh)
    pts = np.column_stack([x - T * dh / norm, h + T / norm])
    if np.any(np.diff(pts[:, 0]) <= 0.0):
        raise ValueError(
            f"layers: the conformal layer would fold over itself in a surface valley (got an "
            f"interphase offset of {T:g} m); allowed: thinner layers or a smoother surface"
        )
    i = int(np.argmax(pts[:, 1] * ((x >= 0) & (x <= W))))
    return Feature(top=(Spline(pts),), apex=tuple(pts[i]), tip_radius=math.inf)


def protrusion_height(p: Protrusion, r: np.ndarray) -> np.ndarray:
    """Height of protrusion ``p`` at lateral distance ``r`` from its axis (0 beyond its foot)."""
    chain = sample_chain(p.feature(0.0), p.base_half_width() / 2000.0)
    right = chain[chain[:, 0] >= p.x]
    return np.interp(np.abs(r), right[:, 0] - p.x, right[:, 1], right=0.0)


def li_surface_height(cfg: GeometryConfig, x: np.ndarray) -> np.ndarray:
    """Height of the Li surface (base surface and protrusions, 2D) at x, m."""
    W = cfg.domain.width
    h = cfg.surface.profile(W, cfg.domain.lateral)(x)[0]
    shifts = (-W, 0.0, W) if cfg.domain.lateral == "periodic" else (0.0,)
    for p in cfg.protrusions:
        for s in shifts:
            h = np.maximum(h, protrusion_height(p, x - p.x - s))
    return h
