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
* an ellipse or a graph y = h(x) is offset pointwise, p + T n (interpolating spline).

This module is pure geometry (numpy): it knows nothing of Gmsh, which lets the builders, the
validation and the landmarks share one description of the surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solver.geometry.spec import (
    ConeProtrusion,
    ContactFractionVoids,
    EllipseProtrusion,
    FlatSurface,
    GeometryConfig,
    RandomSurface,
    ShapedVoids,
    SinusoidalSurface,
    SphericalProtrusion,
    VoidShape,
)

GMSH_LENGTH_UNIT = 1e-6
"""Metres per Gmsh model length unit. OpenCASCADE tolerances are absolute (~1e-7), so the
builders work in micrometres and ``build_mesh`` scales the mesh coordinates back to metres."""

__all__ = [
    "GMSH_LENGTH_UNIT",
    "Arc",
    "EllipseArc",
    "Feature",
    "Line",
    "Spline",
    "base_profile",
    "end_point",
    "features",
    "li_surface_height",
    "min_radius_of_curvature",
    "protrusion_feature",
    "protrusion_height",
    "random_profile",
    "sample_chain",
    "shaped_void_feature",
    "start_point",
    "surface_function",
    "void_features",
    "void_features_all",
]

Point = tuple[float, float]


@dataclass(frozen=True)
class Line:
    """Straight segment from ``p0`` to ``p1``."""

    p0: Point
    p1: Point


@dataclass(frozen=True)
class Arc:
    """Circular arc from ``p0`` to ``p1`` (less than pi) about ``center``."""

    center: Point
    p0: Point
    p1: Point


@dataclass(frozen=True)
class EllipseArc:
    """Elliptic arc (below pi) from ``p0`` to ``p1`` of an axis-aligned ellipse about ``center``.

    ``a`` and ``b`` are the semi-axes along x and y; ``major`` is a point on the major axis.
    """

    center: Point
    a: float
    b: float
    p0: Point
    p1: Point

    @property
    def major(self) -> Point:
        """A point on the major axis (the end of the longer semi-axis)."""
        if self.a >= self.b:
            return (self.center[0] + self.a, self.center[1])
        return (self.center[0], self.center[1] + self.b)


@dataclass(frozen=True)
class Spline:
    """Interpolating spline through ``points`` (n, 2), first to last."""

    points: np.ndarray


Piece = Line | Arc | EllipseArc | Spline


@dataclass(frozen=True)
class Feature:
    """A region standing on the base plane, bounded above by ``top`` (left foot to right foot).

    Attributes:
        top: Curve pieces from the left foot to the right foot, over the top.
        apex: Highest point of the top, m.
        tip_radius: Radius of curvature of the top at the apex, m (inf for flat tops).
        sharp_points: Other points of high curvature, (point, radius of curvature) (e.g. the
            ends of a flat semi-ellipse, radius b^2 / a), for local mesh refinement.
    """

    top: tuple[Piece, ...]
    apex: Point
    tip_radius: float
    sharp_points: tuple[tuple[Point, float], ...] = ()

    @property
    def left(self) -> Point:
        """Left foot of the top chain."""
        return start_point(self.top[0])

    @property
    def right(self) -> Point:
        """Right foot of the top chain."""
        return end_point(self.top[-1])


def start_point(piece: Piece) -> Point:
    """First point of a curve piece."""
    return tuple(piece.points[0]) if isinstance(piece, Spline) else piece.p0


def end_point(piece: Piece) -> Point:
    """Last point of a curve piece."""
    return tuple(piece.points[-1]) if isinstance(piece, Spline) else piece.p1


def sample_chain(feature: Feature, spacing: float) -> np.ndarray:
    """Points along the top chain of ``feature`` at most ``spacing`` apart (n, 2), left to right."""
    out = []
    for piece in feature.top:
        if isinstance(piece, Spline):
            seg = piece.points
            lengths = np.hypot(*np.diff(seg, axis=0).T)
            sub = np.maximum(1, np.ceil(lengths / spacing).astype(int))
            pts = [seg[i] + (seg[i + 1] - seg[i]) * np.linspace(0, 1, m, endpoint=False)[:, None]
                   for i, m in enumerate(sub)]
            out.append(np.concatenate([*pts, seg[-1:]]))
            continue
        p0, p1 = np.array(piece.p0), np.array(piece.p1)
        if isinstance(piece, Line):
            m = max(1, math.ceil(np.linalg.norm(p1 - p0) / spacing))
            out.append(p0 + (p1 - p0) * np.linspace(0.0, 1.0, m + 1)[:, None])
            continue
        c = np.array(piece.center)
        a, b = (piece.a, piece.b) if isinstance(piece, EllipseArc) else (1.0, 1.0)
        t0 = math.atan2((p0[1] - c[1]) / b, (p0[0] - c[0]) / a)
        t1 = math.atan2((p1[1] - c[1]) / b, (p1[0] - c[0]) / a)
        if isinstance(piece, Arc):
            a = b = float(np.linalg.norm(p0 - c))
        if abs(t1 - t0) > math.pi:
            t1 += -2.0 * math.pi if t1 > t0 else 2.0 * math.pi
        m = max(2, math.ceil(max(a, b) * abs(t1 - t0) / spacing))
        t = np.linspace(t0, t1, m + 1)
        out.append(np.column_stack([c[0] + a * np.cos(t), c[1] + b * np.sin(t)]))
    return np.concatenate(out)


def _polar(center: Point, radius: float, angle: float) -> Point:
    return (center[0] + radius * math.cos(angle), center[1] + radius * math.sin(angle))


def _arc_chain(center: Point, radius: float, angle0: float, angle1: float) -> tuple[Arc, ...]:
    """Arc from angle0 down to angle1 (clockwise, left to right), split into pieces below pi/2."""
    n = max(2, math.ceil(abs(angle0 - angle1) / (0.5 * math.pi)))
    angles = np.linspace(angle0, angle1, n + 1)
    return tuple(
        Arc(center, _polar(center, radius, a), _polar(center, radius, b))
        for a, b in zip(angles[:-1], angles[1:], strict=True)
    )


# ---------------------------------------------------------------------------------------------
# Protrusions and voids
# ---------------------------------------------------------------------------------------------


def _circle_cap(x0: float, yc: float, radius: float, foot_angle: float, T: float) -> Feature:
    """Circle arc about (x0, yc) from angle pi - foot_angle to foot_angle, offset by T."""
    rho = radius + T
    top = _arc_chain((x0, yc), rho, math.pi - foot_angle, foot_angle)
    return Feature(top=top, apex=(x0, yc + rho), tip_radius=rho)


def _ellipse_cap(x0: float, a: float, b: float, T: float) -> Feature:
    """Upper half of the ellipse (x - x0)^2/a^2 + y^2/b^2 = 1, offset by T along its normal."""
    if math.isclose(a, b, rel_tol=1e-9):
        return _circle_cap(x0, 0.0, a, 0.0, T)  # exact arcs (OCC ellipses need a > b)
    if T == 0.0:
        apex = (x0, b)
        top = (
            EllipseArc((x0, 0.0), a, b, (x0 - a, 0.0), apex),
            EllipseArc((x0, 0.0), a, b, apex, (x0 + a, 0.0)),
        )
        ends = (((x0 - a, 0.0), b * b / a), ((x0 + a, 0.0), b * b / a))
        return Feature(top=top, apex=apex, tip_radius=a * a / b, sharp_points=ends)
    theta = np.linspace(math.pi, 0.0, 257)
    nx, ny = b * np.cos(theta), a * np.sin(theta)
    norm = np.hypot(nx, ny)
    pts = np.column_stack(
        [x0 + a * np.cos(theta) + T * nx / norm, b * np.sin(theta) + T * ny / norm]
    )
    mid = len(theta) // 2
    top = (Spline(pts[: mid + 1]), Spline(pts[mid:]))
    ends = ((tuple(pts[0]), b * b / a + T), (tuple(pts[-1]), b * b / a + T))
    return Feature(top=top, apex=tuple(pts[mid]), tip_radius=a * a / b + T, sharp_points=ends)


def _cone(p: ConeProtrusion, T: float) -> Feature:
    """Cone of base radius b, height H, tip circle of radius r tangent to the flanks."""
    b, H, r, x0 = p.base_radius, p.height, p.tip_radius, p.x
    c = np.array([x0, H - r])
    foot = np.array([x0 + b, 0.0])
    d = np.linalg.norm(c - foot)
    # Right flank: the tangent from the foot to the tip circle, on the outer side of foot -> c.
    u_fc = (c - foot) / d
    beta = math.asin(r / d)
    u = np.array(
        [
            u_fc[0] * math.cos(beta) + u_fc[1] * math.sin(beta),
            -u_fc[0] * math.sin(beta) + u_fc[1] * math.cos(beta),
        ]
    )
    n = np.array([u[1], -u[0]])  # outward normal of the right flank
    q = foot + math.sqrt(d * d - r * r) * u
    foot_T, q_T = foot + T * n, q + T * n
    mirror = np.array([-1.0, 1.0])
    left_foot, left_q = (foot_T - c) * mirror + c, (q_T - c) * mirror + c
    angle_q = math.atan2(q_T[1] - c[1], q_T[0] - c[0])
    top = (
        Line(tuple(left_foot), tuple(left_q)),
        *_arc_chain(tuple(c), r + T, math.pi - angle_q, angle_q),
        Line(tuple(q_T), tuple(foot_T)),
    )
    return Feature(top=top, apex=(x0, H + T), tip_radius=r + T)


def protrusion_feature(p, T: float) -> Feature:
    """The protrusion ``p`` offset by T."""
    if isinstance(p, SphericalProtrusion):
        return _circle_cap(p.x, 0.0, p.radius, 0.0, T)
    if isinstance(p, EllipseProtrusion):
        return _ellipse_cap(p.x, p.base_radius, p.height, T)
    if isinstance(p, ConeProtrusion):
        return _cone(p, T)
    raise TypeError(f"unknown protrusion {p!r}")


def shaped_void_feature(v: VoidShape, T: float) -> Feature:
    """The void ``v`` (lens or half ellipse on the base plane) offset by T."""
    half = 0.5 * v.width
    if v.shape == "half_ellipse":
        return _ellipse_cap(v.x, half, v.height, T)
    # Lens: circular arc through (x0 +- half, 0) and (x0, height).
    rho = (half * half + v.height * v.height) / (2.0 * v.height)
    yc = v.height - rho
    return _circle_cap(v.x, yc, rho, math.atan2(-yc, half), T)


def _slot(x0: float, width: float, gap: float, T: float) -> Feature:
    """Flat rectangular gap [x0 - w/2, x0 + w/2] x [0, gap], offset by T (rounded corners)."""
    xl, xr, yt = x0 - 0.5 * width, x0 + 0.5 * width, gap + T
    if T == 0.0:
        top = (Line((xl, 0.0), (xl, gap)), Line((xl, gap), (xr, gap)), Line((xr, gap), (xr, 0.0)))
        return Feature(top=top, apex=(x0, gap), tip_radius=math.inf)
    top = (
        Line((xl - T, 0.0), (xl - T, gap)),
        Arc((xl, gap), (xl - T, gap), (xl, yt)),
        Line((xl, yt), (xr, yt)),
        Arc((xr, gap), (xr, yt), (xr + T, gap)),
        Line((xr + T, gap), (xr + T, 0.0)),
    )
    return Feature(top=top, apex=(x0, yt), tip_radius=math.inf)


def void_features_all(cfg: GeometryConfig, T: float) -> list[Feature]:
    """The voids offset by T, with periodic images when the sides are periodic."""
    return _with_images(cfg, void_features(cfg, T))


def void_features(cfg: GeometryConfig, T: float) -> list[Feature]:
    """The voids of ``cfg`` offset by T (T = 0: the voids themselves)."""
    if isinstance(cfg.voids, ShapedVoids):
        return [shaped_void_feature(v, T) for v in cfg.voids.items]
    if isinstance(cfg.voids, ContactFractionVoids):
        return [_slot(x, w, cfg.voids.gap, T) for x, w in cfg.voids.slots(cfg.domain.width)]
    return []


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
    images = [_shift(f, s) for f in items for s in (-W, W)]
    return items + [f for f in images if f.right[0] > 0.0 and f.left[0] < W]


def _shift(feature: Feature, dx: float) -> Feature:
    def move(p: Point) -> Point:
        return (p[0] + dx, p[1])

    def piece(q: Piece) -> Piece:
        if isinstance(q, Line):
            return Line(move(q.p0), move(q.p1))
        if isinstance(q, Arc):
            return Arc(move(q.center), move(q.p0), move(q.p1))
        if isinstance(q, EllipseArc):
            return EllipseArc(move(q.center), q.a, q.b, move(q.p0), move(q.p1))
        return Spline(q.points + np.array([dx, 0.0]))

    sharp = tuple((move(p), r) for p, r in feature.sharp_points)
    return Feature(
        tuple(piece(q) for q in feature.top), move(feature.apex), feature.tip_radius, sharp
    )


# ---------------------------------------------------------------------------------------------
# Base surface y = h(x)
# ---------------------------------------------------------------------------------------------


def random_profile(surface: RandomSurface, width: float, lateral: str):
    """Seeded Gaussian random height field h(x) on [0, W] by spectral synthesis.

    Correlation function C(dx) = rms^2 exp(-(dx / l_c)^2), spectral density proportional to
    exp(-(q l_c / 2)^2). Symmetric sides use a cosine series (h'(0) = h'(W) = 0, so the mirror
    images continue the surface smoothly); periodic sides a full Fourier series of period W. The
    field is scaled so its RMS about the mean on a fine grid equals ``rms`` and shifted so its
    minimum is 0.

    Returns:
        A function x -> (h(x), h'(x)) for arrays x, defined for every real x.
    """
    lc = surface.correlation_length
    rng = np.random.default_rng(surface.seed)
    q_max = 8.0 / lc
    if lateral == "periodic":
        modes = max(2, math.ceil(q_max * width / (2.0 * math.pi)))
        q = 2.0 * math.pi * np.arange(1, modes + 1) / width
        phase = rng.uniform(0.0, 2.0 * math.pi, q.size)
    else:
        q = math.pi * np.arange(1, max(2, math.ceil(q_max * width / math.pi)) + 1) / width
        phase = np.zeros(q.size)
    amp = np.exp(-((q * lc / 2.0) ** 2)) ** 0.5 * rng.standard_normal(q.size)

    def raw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arg = np.outer(x, q) + phase
        return np.cos(arg) @ amp, -(np.sin(arg) * q) @ amp

    grid = np.linspace(0.0, width, 4096)
    h_grid = raw(grid)[0]
    scale = surface.rms / np.std(h_grid)
    shift = -np.min(h_grid) * scale

    def h(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value, slope = raw(np.asarray(x, dtype=float))
        return scale * value + shift, scale * slope

    return h


def surface_function(cfg: GeometryConfig):
    """The base surface as a function x -> (h(x), h'(x)) for arrays x."""
    s = cfg.surface
    if isinstance(s, SinusoidalSurface):
        k = 2.0 * math.pi / s.wavelength
        return lambda x: (
            s.amplitude * (1.0 + np.cos(k * np.asarray(x))),
            -s.amplitude * k * np.sin(k * np.asarray(x)),
        )
    if isinstance(s, RandomSurface):
        return random_profile(s, cfg.domain.width, cfg.domain.lateral)
    return lambda x: (np.zeros_like(np.asarray(x, dtype=float)),) * 2


def surface_samples(cfg: GeometryConfig) -> int:
    """Number of spline points used for a curved base surface over the extended width."""
    s, W = cfg.surface, cfg.domain.width
    if isinstance(s, SinusoidalSurface):
        return max(64, math.ceil(1.5 * W / s.wavelength * 48))
    if isinstance(s, RandomSurface):
        return max(64, math.ceil(1.5 * W / s.correlation_length * 16))
    return 2


def base_profile(cfg: GeometryConfig, T: float) -> Feature:
    """The base surface offset by T, over x in [-W/4, 5W/4] (beyond the domain on both sides).

    Raises:
        ValueError: The offset curve folds over itself (T exceeds the radius of curvature of a
            valley), naming the ``layers`` key.
    """
    W = cfg.domain.width
    x0, x1 = -0.25 * W, 1.25 * W
    if isinstance(cfg.surface, FlatSurface):
        return Feature(top=(Line((x0, T), (x1, T)),), apex=(0.5 * W, T), tip_radius=math.inf)
    x = np.linspace(x0, x1, surface_samples(cfg))
    h, dh = surface_function(cfg)(x)
    norm = np.hypot(1.0, dh)
    pts = np.column_stack([x - T * dh / norm, h + T / norm])
    if np.any(np.diff(pts[:, 0]) <= 0.0):
        raise ValueError(
            f"layers: the conformal layer would fold over itself in a surface valley (got an "
            f"interphase offset of {T:g} m); allowed: thinner layers or a smoother surface"
        )
    i = int(np.argmax(pts[:, 1] * ((x >= 0) & (x <= W))))
    return Feature(top=(Spline(pts),), apex=tuple(pts[i]), tip_radius=math.inf)


def protrusion_height(p, r: np.ndarray) -> np.ndarray:
    """Height of protrusion ``p`` at lateral distance ``r`` from its axis (0 beyond its foot)."""
    chain = sample_chain(protrusion_feature(p, 0.0), p.base_half_width() / 2000.0)
    right = chain[chain[:, 0] >= p.x]
    return np.interp(np.abs(r), right[:, 0] - p.x, right[:, 1], right=0.0)


def li_surface_height(cfg: GeometryConfig, x: np.ndarray) -> np.ndarray:
    """Height of the Li surface (base surface and protrusions, 2D) at x, m."""
    h = surface_function(cfg)(x)[0]
    W = cfg.domain.width
    shifts = (-W, 0.0, W) if cfg.domain.lateral == "periodic" else (0.0,)
    for p in cfg.protrusions:
        for s in shifts:
            h = np.maximum(h, protrusion_height(p, x - p.x - s))
    return h


def min_radius_of_curvature(cfg: GeometryConfig) -> float:
    """Smallest radius of curvature of the base surface on [0, W], m (inf when flat)."""
    if isinstance(cfg.surface, FlatSurface):
        return math.inf
    W = cfg.domain.width
    x = np.linspace(0.0, W, 8 * surface_samples(cfg))
    h, dh = surface_function(cfg)(x)
    d2h = np.gradient(dh, x)
    kappa = np.abs(d2h) / (1.0 + dh**2) ** 1.5
    return float(1.0 / max(np.max(kappa), 1e-300))
