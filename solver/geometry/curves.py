"""Curve pieces of 2D profiles and the features they bound: pure geometry (numpy).

A feature is a region standing on the base plane y = 0 whose top is a chain of curve pieces
from its left foot to its right foot: straight lines, circular arcs, elliptic arcs and
interpolating splines. The constructors here (caps of circles and ellipses, cones, slots) take
plain numbers and an offset T, the distance of the conformal layer boundary from the feature
(:mod:`solver.geometry.profiles` explains the offsets). The spec classes of
:mod:`solver.geometry.spec` build their features from them; this module imports nothing of the
package, so the spec, the profiles and the builders can all depend on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "Arc",
    "EllipseArc",
    "Feature",
    "Line",
    "Pen",
    "Piece",
    "Point",
    "Spline",
    "circle_cap",
    "cone_cap",
    "ellipse_cap",
    "end_point",
    "sample_chain",
    "slot",
    "start_point",
]

Point = tuple[float, float]


def _moved(p: Point, dx: float) -> Point:
    return (p[0] + dx, p[1])


class Pen(Protocol):
    """Draws curve pieces in a CAD kernel (the builders' writers); each call adds one curve."""

    def line(self, p0: Point, p1: Point) -> int:
        """Add the segment p0 -> p1; returns the curve's tag."""

    def arc(self, center: Point, p0: Point, p1: Point) -> int:
        """Add the circular arc p0 -> p1 about ``center``; returns the curve's tag."""

    def ellipse_arc(self, center: Point, major: Point, p0: Point, p1: Point) -> int:
        """Add the elliptic arc p0 -> p1 about ``center`` (``major`` on its major axis)."""

    def spline(self, points: np.ndarray) -> int:
        """Add the interpolating spline through ``points`` (n, 2); returns the curve's tag."""


def _elliptic_samples(center: Point, p0: Point, p1: Point, a: float, b: float,
                      angle_axes: tuple[float, float], spacing: float) -> np.ndarray:
    """Points of the arc p0 -> p1 (below pi) of the ellipse of semi-axes a, b about ``center``.

    The parameter angles of p0 and p1 are taken with the semi-axes ``angle_axes``.
    """
    c, q0, q1 = np.array(center), np.array(p0), np.array(p1)
    t0 = math.atan2((q0[1] - c[1]) / angle_axes[1], (q0[0] - c[0]) / angle_axes[0])
    t1 = math.atan2((q1[1] - c[1]) / angle_axes[1], (q1[0] - c[0]) / angle_axes[0])
    if abs(t1 - t0) > math.pi:
        t1 += -2.0 * math.pi if t1 > t0 else 2.0 * math.pi
    m = max(2, math.ceil(max(a, b) * abs(t1 - t0) / spacing))
    t = np.linspace(t0, t1, m + 1)
    return np.column_stack([c[0] + a * np.cos(t), c[1] + b * np.sin(t)])


class _FromP0ToP1:
    """A curve piece that runs from its attribute ``p0`` to its attribute ``p1``."""

    p0: Point
    p1: Point

    @property
    def start(self) -> Point:
        """First point."""
        return self.p0

    @property
    def end(self) -> Point:
        """Last point."""
        return self.p1


@dataclass(frozen=True)
class Line(_FromP0ToP1):
    """Straight segment from ``p0`` to ``p1``."""

    p0: Point
    p1: Point

    def shifted(self, dx: float) -> Line:
        """The segment moved by ``dx`` along x."""
        return Line(_moved(self.p0, dx), _moved(self.p1, dx))

    def sample(self, spacing: float) -> np.ndarray:
        """Points from start to end at most ``spacing`` apart, (n, 2)."""
        p0, p1 = np.array(self.p0), np.array(self.p1)
        m = max(1, math.ceil(np.linalg.norm(p1 - p0) / spacing))
        return p0 + (p1 - p0) * np.linspace(0.0, 1.0, m + 1)[:, None]

    def draw(self, pen: Pen) -> int:
        """Add the segment with ``pen``."""
        return pen.line(self.p0, self.p1)


@dataclass(frozen=True)
class Arc(_FromP0ToP1):
    """Circular arc from ``p0`` to ``p1`` (less than pi) about ``center``."""

    center: Point
    p0: Point
    p1: Point

    def shifted(self, dx: float) -> Arc:
        """The arc moved by ``dx`` along x."""
        return Arc(_moved(self.center, dx), _moved(self.p0, dx), _moved(self.p1, dx))

    def sample(self, spacing: float) -> np.ndarray:
        """Points from start to end at most about ``spacing`` apart, (n, 2)."""
        radius = float(np.linalg.norm(np.array(self.p0) - np.array(self.center)))
        return _elliptic_samples(self.center, self.p0, self.p1, radius, radius, (1.0, 1.0),
                                 spacing)

    def draw(self, pen: Pen) -> int:
        """Add the arc with ``pen``."""
        return pen.arc(self.center, self.p0, self.p1)


@dataclass(frozen=True)
class EllipseArc(_FromP0ToP1):
    """Elliptic arc (below pi) from ``p0`` to ``p1`` of an axis-aligned ellipse about ``center``.

    ``a`` and ``b`` are the semi-axes along x and y; ``major`` is a point on the major axis.
    """

    center: Point
    a: float
    b: float
    p0: Point
    p1: Point

    def shifted(self, dx: float) -> EllipseArc:
        """The arc moved by ``dx`` along x."""
        return EllipseArc(_moved(self.center, dx), self.a, self.b, _moved(self.p0, dx),
                          _moved(self.p1, dx))

    def sample(self, spacing: float) -> np.ndarray:
        """Points from start to end at most about ``spacing`` apart, (n, 2)."""
        return _elliptic_samples(self.center, self.p0, self.p1, self.a, self.b,
                                 (self.a, self.b), spacing)

    def draw(self, pen: Pen) -> int:
        """Add the arc with ``pen``."""
        return pen.ellipse_arc(self.center, self.major, self.p0, self.p1)

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

    @property
    def start(self) -> Point:
        """First point."""
        return tuple(self.points[0])

    @property
    def end(self) -> Point:
        """Last point."""
        return tuple(self.points[-1])

    def shifted(self, dx: float) -> Spline:
        """The spline moved by ``dx`` along x."""
        return Spline(self.points + np.array([dx, 0.0]))

    def sample(self, spacing: float) -> np.ndarray:
        """The points, with each span subdivided to at most ``spacing``, (n, 2)."""
        seg = self.points
        lengths = np.hypot(*np.diff(seg, axis=0).T)
        sub = np.maximum(1, np.ceil(lengths / spacing).astype(int))
        pts = [seg[i] + (seg[i + 1] - seg[i]) * np.linspace(0, 1, m, endpoint=False)[:, None]
               for i, m in enumerate(sub)]
        return np.concatenate([*pts, seg[-1:]])

    def draw(self, pen: Pen) -> int:
        """Add the spline with ``pen``."""
        return pen.spline(self.points)


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
        return self.top[0].start

    @property
    def right(self) -> Point:
        """Right foot of the top chain."""
        return self.top[-1].end

    def shifted(self, dx: float) -> Feature:
        """The feature moved by ``dx`` along x (a periodic image)."""
        sharp = tuple((_moved(p, dx), r) for p, r in self.sharp_points)
        return Feature(tuple(q.shifted(dx) for q in self.top), _moved(self.apex, dx),
                       self.tip_radius, sharp)


def start_point(piece: Piece) -> Point:
    """First point of a curve piece."""
    return piece.start


def end_point(piece: Piece) -> Point:
    """Last point of a curve piece."""
    return piece.end


def sample_chain(feature: Feature, spacing: float) -> np.ndarray:
    """Points along the top chain of ``feature`` at most ``spacing`` apart (n, 2), left to right."""
    return np.concatenate([piece.sample(spacing) for piece in feature.top])


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


def circle_cap(x0: float, yc: float, radius: float, foot_angle: float, T: float) -> Feature:
    """Circle arc about (x0, yc) from angle pi - foot_angle to foot_angle, offset by T."""
    rho = radius + T
    top = _arc_chain((x0, yc), rho, math.pi - foot_angle, foot_angle)
    return Feature(top=top, apex=(x0, yc + rho), tip_radius=rho)


def ellipse_cap(x0: float, a: float, b: float, T: float) -> Feature:
    """Upper half of the ellipse (x - x0)^2/a^2 + y^2/b^2 = 1, offset by T along its normal."""
    if math.isclose(a, b, rel_tol=1e-9):
        return circle_cap(x0, 0.0, a, 0.0, T)  # exact arcs (OCC ellipses need a > b)
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


def cone_cap(x0: float, b: float, H: float, r: float, T: float) -> Feature:
    """Cone on the axis x = x0, offset by T.

    Base radius b, height H, and a tip circle of radius r tangent to the flanks.
    """
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


def slot(x0: float, width: float, gap: float, T: float) -> Feature:
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
