"""Geometry configuration: the ``geometry`` section of a case.

Frame (docs/geometry.md): the flat Li base plane is y = 0 (z = 0 in 3D); Li lies below and is
not meshed. The Li surface is y = h(x) >= 0: the flat plane, a sinusoidal or a random rough
surface, plus any protrusions standing on the base plane. Interphase layers lie conformally on
the Li surface (and over interfacial voids), ordered from the Li outward; the electrolyte fills
the rest of the domain up to the counter boundary at y = L (``domain.length``).

2D planar: x in [0, W]; axisymmetric (r, z) sections: r = x in [0, W] with the symmetry axis
at r = 0; 3D: x in [0, W], y in [0, D] and the vertical coordinate z in [0, L]. In 3D the
"y" of a feature's position is the second lateral coordinate.

Every length is SI (m) or a string with units (``"20 nm"``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, NoReturn

import numpy as np
from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from solver.geometry import curves, polyline
from solver.geometry.heights import HeightField, Profile, random_profile, random_surface_3d
from solver.geometry.sizing import CellTerm, graded_cells, uniform_cells
from solver.schema import StrictModel
from solver.units import Length

__all__ = [
    "ConeProtrusion",
    "ContactFractionVoids",
    "DomainConfig",
    "EllipseProtrusion",
    "FlatSurface",
    "GeometryConfig",
    "MeshConfig",
    "MosaicLayer",
    "MosaicPhase",
    "PointsSurface",
    "PolylineSurface",
    "RandomSurface",
    "ShapedVoids",
    "SinusoidalSurface",
    "SphericalProtrusion",
    "UniformLayer",
    "VoidShape",
]

MIN_LENGTH = 1e-10
"""Smallest geometric length, m (1 angstrom; OpenCASCADE's tolerance is 1e-13 m here)."""

MAX_LENGTH = 1.0
"""Largest geometric length, m (beyond it the cell estimate and Gmsh's arithmetic overflow)."""


def _within(lowest: float):
    """After-validator: a length the geometry kernel can resolve, in [lowest, MAX_LENGTH]."""

    def check(value: float) -> float:
        if not lowest <= value <= MAX_LENGTH:
            raise ValueError(
                f"a length the geometry kernel cannot resolve (got {value:g} m); allowed: "
                f"{lowest:g} m to {MAX_LENGTH:g} m"
            )
        return value

    return AfterValidator(check)


PositiveLength = Annotated[Length, Field(gt=0), _within(MIN_LENGTH)]
NonNegativeLength = Annotated[Length, Field(ge=0), _within(0.0)]
LayerThickness = Annotated[Length, Field(ge=0.999e-9), _within(MIN_LENGTH)]

RESERVED_REGION_NAMES = ("electrolyte",)
"""Cell-group names that interphase layers or phases may not use."""

MAX_FEATURES = 1000
"""Most protrusions (and most shaped voids) of one geometry: each is a boolean operation in the
OpenCASCADE kernel, and more than this many would take the mesher hours."""

MAX_SURFACE_POINTS = 100_000
"""Most points of a ``points`` surface (a remeshed surface has one per Li-surface node)."""

DEFAULT_MAX_CELLS = 1_000_000
"""Default limit of the estimated cell count (``mesh.max_cells``): second-order fields on 1e6
cells are several million unknowns, about what a 24 GiB, 2-core workstation still solves."""


def _tag_or_default(key: str, default: str):
    """Discriminator reading ``key`` from a dict or model, ``default`` when it is absent."""

    def discriminate(value: Any) -> str:
        if isinstance(value, dict):
            return value.get(key, default)
        return getattr(value, key, default)

    return Discriminator(discriminate)


# ---------------------------------------------------------------------------------------------
# Domain
# ---------------------------------------------------------------------------------------------


class DomainConfig(StrictModel):
    """Extent of the computational domain and the type of its lateral boundaries."""

    width: PositiveLength = Field(
        default=10e-6,
        description="W, m: lateral extent, x in [0, W] (axisymmetric: radius R, r in [0, R]).",
    )
    depth: PositiveLength | None = Field(
        default=None,
        description="D, m: second lateral extent in 3D (y in [0, D]); 3D only, defaults to W.",
    )
    length: PositiveLength = Field(
        default=20e-6,
        description="L, m: distance from the flat Li base plane (y = 0) to the counter boundary "
        "(y = L); the electrolyte fills the domain up to it.",
    )
    lateral: Literal["symmetric", "periodic"] = Field(
        default="symmetric",
        description="Lateral boundaries: 'symmetric' (mirror planes, zero normal flux) or "
        "'periodic' (matching nodes on opposite sides, and the solver makes every field "
        "periodic; cartesian only).",
    )


# ---------------------------------------------------------------------------------------------
# Li surface: base surface and protrusions
# ---------------------------------------------------------------------------------------------


class _Surface(StrictModel):
    """What every base surface provides to the validation, the cell estimate and the builders.

    The lateral extent and sides are the domain's (``width``, ``depth``, ``lateral``).
    """

    curved: ClassVar[bool] = True
    """Whether the surface is curved: conformal layers then follow it, and its valleys bound
    their thickness."""

    def check_periodic(self, width: float) -> None:
        """Raise when the surface cannot continue across periodic sides ``width`` apart."""

    def offset_feature(self, width: float, lateral: str, T: float) -> curves.Feature | None:
        """The surface offset by T as exact pieces (2D builder); None: offset pointwise.

        Only a surface that is no graph y = h(x) draws itself; the others are offset along
        their normal by :func:`solver.geometry.profiles.base_profile`.
        """
        return None

    def resolved_radius(self) -> float | None:
        """The radius of curvature the mesh resolves along the surface, m, if stated.

        None: the smallest radius sampled from its profile.
        """
        return None


class FlatSurface(_Surface):
    """A flat Li surface, y = 0."""

    kind: Literal["flat"] = Field(default="flat", description="Flat Li surface at y = 0.")

    curved: ClassVar[bool] = False

    def max_height(self) -> float:
        """Highest point of the surface above the base plane, m."""
        return 0.0

    def profile(self, width: float, lateral: str) -> Profile:
        """The surface as a function x -> (h(x), h'(x)) for arrays x (2D)."""
        return lambda x: (np.zeros_like(np.asarray(x, dtype=float)),) * 2

    def height_field(self, width: float, depth: float, lateral: str) -> HeightField | None:
        """The surface z = h(x, y) (3D); None: flat, the builders use the plane."""
        return None

    def spline_samples(self, width: float) -> int:
        """Number of spline points of the surface over 1.5 W (2D builder)."""
        return 2

    def area_factor(self) -> float:
        """Ratio of the surface's area (2D: length) to that of the flat base plane."""
        return 1.0

    def radius_estimate(self) -> float:
        """Typical smallest radius of curvature, m (inf when flat), for the cell estimate."""
        return math.inf


class SinusoidalSurface(_Surface):
    """A sinusoidal Li surface, y = A (1 + cos(2 pi x / lambda)) (peak at x = 0, valley at y = 0).

    In 3D the same profile is extruded along y (ridges), so 2D and 3D compare directly.
    """

    kind: Literal["sinusoidal"] = Field(description="Sinusoidal Li surface.")
    amplitude: PositiveLength = Field(
        description="A, m: half the peak-to-valley height; the surface spans y in [0, 2A]."
    )
    wavelength: PositiveLength = Field(description="lambda, m: period of the surface.")

    def max_height(self) -> float:
        """Highest point of the surface above the base plane, m."""
        return 2.0 * self.amplitude

    def profile(self, width: float, lateral: str) -> Profile:
        """The surface as a function x -> (h(x), h'(x)) for arrays x (2D)."""
        k = 2.0 * math.pi / self.wavelength
        return lambda x: (
            self.amplitude * (1.0 + np.cos(k * np.asarray(x))),
            -self.amplitude * k * np.sin(k * np.asarray(x)),
        )

    def height_field(self, width: float, depth: float, lateral: str) -> HeightField | None:
        """Ridges z = A (1 + cos(k x)), k = 2 pi / lambda, independent of y (3D)."""
        A, k = self.amplitude, 2.0 * math.pi / self.wavelength

        def h(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            x = np.asarray(x, dtype=float)
            return A * (1.0 + np.cos(k * x)), -A * k * np.sin(k * x), np.zeros_like(x)

        return h

    def spline_samples(self, width: float) -> int:
        """Number of spline points of the surface over 1.5 W (2D builder)."""
        return max(64, math.ceil(1.5 * width / self.wavelength * 48))

    def sampling_steps(self) -> tuple[float, float]:
        """Grid steps (x, y) of the 3D B-spline surfaces, m.

        lambda / 16 across the ridges (bicubic interpolation error ~1e-5 A), one span along them.
        """
        return self.wavelength / 16.0, math.inf

    def check_periodic(self, width: float) -> None:
        """Periodic sides need a whole number of periods in ``width``."""
        periods = width / self.wavelength
        if abs(periods - round(periods)) > 1e-6 * periods or round(periods) < 1:
            _fail("surface.wavelength", "periodic sides need a whole number of periods "
                  "in domain.width", f"{self.wavelength:g} m",
                  f"domain.width / n, e.g. {width / max(1, round(periods)):g} m")

    def area_factor(self) -> float:
        """Ratio of the surface's area (2D: length) to that of the flat base plane (bound)."""
        return math.hypot(1.0, 2.0 * math.pi * self.amplitude / self.wavelength)

    def radius_estimate(self) -> float:
        """Radius of curvature at the crests, lambda^2 / (4 pi^2 A), m."""
        return self.wavelength**2 / (4.0 * math.pi**2 * self.amplitude)


class RandomSurface(_Surface):
    """A random rough Li surface: a seeded Gaussian random field, shifted so that min h = 0.

    Spectral synthesis with a Gaussian correlation function exp(-(dx / l_c)^2), scaled so that
    the sampled RMS height (about the mean) equals ``rms``. The same seed gives the same surface.
    """

    kind: Literal["random"] = Field(description="Random rough Li surface.")
    rms: PositiveLength = Field(description="RMS height about the mean surface, m.")
    correlation_length: PositiveLength = Field(
        description="l_c, m: correlation length of the height field."
    )
    seed: int = Field(
        default=0, ge=0, description="Random seed; the same seed gives the same mesh."
    )

    def area_factor(self) -> float:
        """Ratio of the surface's area (2D: length) to that of the flat base plane.

        The RMS slope of a Gaussian-correlated field is sqrt(2) rms / l_c.
        """
        return math.hypot(1.0, math.sqrt(2.0) * self.rms / self.correlation_length)

    def radius_estimate(self) -> float:
        """Radius of curvature at three standard deviations of h'' (sqrt(12) rms / l_c^2), m."""
        return self.correlation_length**2 / (3.0 * math.sqrt(12.0) * self.rms)

    def max_height(self) -> None:
        """Highest point of the surface: not known in closed form (the geometry samples it)."""
        return None

    def profile(self, width: float, lateral: str) -> Profile:
        """The surface as a function x -> (h(x), h'(x)) for arrays x (2D)."""
        return random_profile(self, width, lateral)

    def height_field(self, width: float, depth: float, lateral: str) -> HeightField | None:
        """The surface z = h(x, y) on [0, W] x [0, D] (3D)."""
        return random_surface_3d(self, width, depth, lateral)

    def spline_samples(self, width: float) -> int:
        """Number of spline points of the surface over 1.5 W (2D builder)."""
        return max(64, math.ceil(1.5 * width / self.correlation_length * 16))

    def sampling_steps(self) -> tuple[float, float]:
        """Grid steps (x, y) of the 3D B-spline surfaces, m: l_c / 6 in both directions."""
        return self.correlation_length / 6.0, self.correlation_length / 6.0


class PointsSurface(_Surface):
    """A Li surface y = h(x) through given points: a moved surface handed back for remeshing.

    The clamped (symmetric sides: h' = 0 at x = 0 and W, so the mirror images continue it) or
    periodic cubic spline through the points; beyond [0, W] its mirror or periodic image.
    2D only.
    """

    kind: Literal["points"] = Field(description="Li surface through given points (2D).")
    points: list[tuple[Length, Length]] = Field(
        min_length=4,
        max_length=MAX_SURFACE_POINTS,
        description="(x, h) pairs, m: x strictly increasing from 0 to domain.width (to 1e-9 "
        "relative), h >= 0.",
    )

    @model_validator(mode="after")
    def _check_points(self) -> PointsSurface:
        xy = _finite_points(self.points, "(x, h)")
        steps = np.diff(xy[:, 0])
        # a mesh's side node may sit a rounding error (1e-21 m) off x = 0: snapped to it
        if abs(xy[0, 0]) > 1e-9 * abs(xy[-1, 0] - xy[0, 0]) or not np.all(steps > 0.0):
            _fail("surface.points", "x must increase strictly from 0",
                  f"x = {xy[0, 0]:g}, ..., smallest step {steps.min():g} m",
                  "0 = x_0 < x_1 < ... = domain.width")
        if xy[:, 1].min() < 0.0:
            _fail("surface.points", "heights lie on or above the base plane",
                  f"h = {xy[:, 1].min():g} m", "h >= 0")
        return self

    def _spline(self, width: float, lateral: str):
        """The cubic spline on [0, W] (x_last must be W)."""
        from scipy.interpolate import CubicSpline

        xy = np.asarray(self.points, dtype=float)
        if not math.isclose(xy[-1, 0], width, rel_tol=1e-9):
            _fail("surface.points", "the last x must be domain.width", f"{xy[-1, 0]:g} m",
                  f"{width:g} m")
        x = xy[:, 0].copy()
        x[0], x[-1] = 0.0, width
        periodic = lateral == "periodic"
        return CubicSpline(x, xy[:, 1], bc_type="periodic" if periodic else "clamped")

    def check_periodic(self, width: float) -> None:
        """Periodic sides need h(0) = h(W)."""
        h = np.asarray(self.points, dtype=float)[:, 1]
        if not math.isclose(h[0], h[-1], rel_tol=1e-9, abs_tol=1e-9 * width):
            _fail("surface.points", "periodic sides need the same height at x = 0 and W",
                  f"{h[0]:g} and {h[-1]:g} m", "equal first and last heights")

    def max_height(self) -> None:
        """Highest point: sampled by the geometry (the spline may pass above the points)."""
        return None

    def profile(self, width: float, lateral: str) -> Profile:
        """The surface as a function x -> (h(x), h'(x)) for arrays x (2D), any real x."""
        spline = self._spline(width, lateral)
        derivative = spline.derivative()

        def h(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x = np.asarray(x, dtype=float)
            if lateral == "periodic":
                u, sign = np.mod(x, width), np.ones_like(x)
            else:  # mirror images about x = 0 and x = W
                u = np.mod(x, 2.0 * width)
                sign = np.where(u > width, -1.0, 1.0)
                u = np.where(u > width, 2.0 * width - u, u)
            return spline(u), sign * derivative(u)

        return h

    def height_field(self, width: float, depth: float, lateral: str) -> HeightField | None:
        """3D: not available (a points surface is a 2D profile)."""
        _fail("surface.kind", "a points surface is a 2D profile", "'points' with dimension 3",
              "dimension 2, or flat, sinusoidal or random surfaces")

    def spline_samples(self, width: float) -> int:
        """Number of spline points of the surface over 1.5 W (2D builder): 6 per input point."""
        return max(64, 6 * len(self.points))

    def area_factor(self) -> float:
        """Ratio of the polyline's length to W."""
        xy = np.asarray(self.points, dtype=float)
        return float(np.sum(np.hypot(*np.diff(xy, axis=0).T)) / xy[-1, 0])

    def radius_estimate(self) -> float:
        """Smallest radius of curvature at the points, m (inf when straight)."""
        xy = np.asarray(self.points, dtype=float)
        spline = self._spline(xy[-1, 0], "symmetric")
        kappa = np.abs(spline(xy[:, 0], 2)) / (1.0 + spline(xy[:, 0], 1) ** 2) ** 1.5
        return float(1.0 / kappa.max()) if kappa.max() > 0.0 else math.inf


class PolylineSurface(_Surface):
    """A Li surface through given points in order along it: a grown surface to remesh.

    Splines through the points, from the side x = 0 to the side x = W, broken at corners
    (a straight segment between two corners); the surface may lean over (it is no graph
    y = h(x)). Its interphase layers are its offsets node by node, trimmed in concave corners
    (:mod:`solver.geometry.polyline`). 2D only.
    """

    kind: Literal["polyline"] = Field(
        description="Li surface through given points in order along it (2D; a grown surface "
        "to remesh, which may lean over)."
    )
    points: list[tuple[Length, Length]] = Field(
        min_length=4,
        max_length=MAX_SURFACE_POINTS,
        description="(x, y) points along the surface, m: the first at x = 0, the last at "
        "x = domain.width (to 1e-9 relative), y >= 0, the chain not crossing itself.",
    )
    radius: PositiveLength | None = Field(
        default=None,
        description="Radius of curvature the mesh resolves along the surface (element size "
        "mesh.tip_size_factor x radius there), m; none: a quarter of the far-field size.",
    )

    @model_validator(mode="after")
    def _check_points(self) -> PolylineSurface:
        xy = _finite_points(self.points, "(x, y)")
        if abs(xy[0, 0]) > 1e-9 * np.ptp(xy[:, 0]) or np.ptp(xy[:, 0]) <= 0.0:
            _fail("surface.points", "the chain must start at x = 0 and run to x = W",
                  f"x = {xy[0, 0]:g} to {xy[-1, 0]:g} m", "0 = x_first < x_last = domain.width")
        if xy[:, 1].min() < 0.0:
            _fail("surface.points", "the points lie on or above the base plane",
                  f"y = {xy[:, 1].min():g} m", "y >= 0")
        if not polyline.is_simple(xy):
            _fail("surface.points", "the chain crosses or touches itself", f"{len(xy)} points",
                  "a simple chain (no loop)")
        return self

    def _chain(self, width: float) -> np.ndarray:
        """The points with the ends on the sides (the last x must be W)."""
        xy = np.asarray(self.points, dtype=float)
        if not math.isclose(xy[-1, 0], width, rel_tol=1e-9):
            _fail("surface.points", "the last x must be domain.width", f"{xy[-1, 0]:g} m",
                  f"{width:g} m")
        xy[0, 0], xy[-1, 0] = 0.0, width
        return xy

    def check_periodic(self, width: float) -> None:
        """Periodic sides need the same height at both ends."""
        y = np.asarray(self.points, dtype=float)[:, 1]
        if not math.isclose(y[0], y[-1], rel_tol=1e-9, abs_tol=1e-9 * width):
            _fail("surface.points", "periodic sides need the same height at x = 0 and W",
                  f"{y[0]:g} and {y[-1]:g} m", "equal first and last heights")

    def max_height(self) -> float:
        """Highest point of the surface above the base plane, m."""
        return float(np.max(np.asarray(self.points, dtype=float)[:, 1]))

    def profile(self, width: float, lateral: str) -> Profile:
        """The highest surface point above each x, (h(x), 0) (the envelope seen from above)."""
        chain = self._chain(width)

        def h(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x = np.asarray(x, dtype=float)
            u = np.mod(x, width) if lateral == "periodic" else width - np.abs(
                width - np.mod(x, 2.0 * width))
            return polyline.upper_height(chain, u), np.zeros_like(x)

        return h

    def offset_feature(self, width: float, lateral: str, T: float) -> curves.Feature:
        """The chain offset by T over [-W/4, 5W/4]: splines broken at the chain's corners.

        The exact trimmed offset (when the mitre offset would fold) is drawn as straight
        segments.
        """
        pts, at = polyline.offset_chain(self._chain(width), width, lateral, T)
        breaks = np.arange(len(pts)) if at is None else np.concatenate([[0], at, [len(pts) - 1]])
        top = tuple(
            curves.Line(tuple(pts[a]), tuple(pts[b])) if b == a + 1
            else curves.Spline(polyline.densified(pts[a : b + 1]))
            for a, b in zip(breaks[:-1], breaks[1:], strict=True)
        )
        inside = (pts[:, 0] >= 0.0) & (pts[:, 0] <= width)
        i = int(np.argmax(np.where(inside, pts[:, 1], -np.inf)))
        return curves.Feature(top=top, apex=tuple(pts[i]), tip_radius=math.inf)

    def resolved_radius(self) -> float:
        """The stated radius, m (inf: none stated)."""
        return self.radius if self.radius is not None else math.inf

    def height_field(self, width: float, depth: float, lateral: str) -> HeightField | None:
        """3D: not available (a polyline surface is a 2D profile)."""
        _fail("surface.kind", "a polyline surface is a 2D profile",
              "'polyline' with dimension 3", "dimension 2, or flat, sinusoidal or random surfaces")

    def spline_samples(self, width: float) -> int:
        """Number of points of the surface."""
        return len(self.points)

    def area_factor(self) -> float:
        """Ratio of the chain's length to W."""
        xy = np.asarray(self.points, dtype=float)
        return float(np.sum(np.hypot(*np.diff(xy, axis=0).T)) / xy[-1, 0])

    def radius_estimate(self) -> float:
        """The stated radius, m (inf: none stated)."""
        return self.resolved_radius()


Surface = Annotated[
    Annotated[FlatSurface, Tag("flat")]
    | Annotated[SinusoidalSurface, Tag("sinusoidal")]
    | Annotated[RandomSurface, Tag("random")]
    | Annotated[PointsSurface, Tag("points")]
    | Annotated[PolylineSurface, Tag("polyline")],
    _tag_or_default("kind", "flat"),
]


class _ProtrusionBase(StrictModel):
    x: NonNegativeLength = Field(
        default=0.0,
        description="x (axisymmetric: r) of the protrusion axis, m. A protrusion on a symmetry "
        "side (x = 0 or x = W) is half a protrusion of the mirrored array.",
    )
    y: NonNegativeLength = Field(
        default=0.0, description="Second lateral coordinate of the axis in 3D, m (ignored in 2D)."
    )


class SphericalProtrusion(_ProtrusionBase):
    """A semicircle (2D) or hemisphere (axisymmetric, 3D) standing on the base plane."""

    shape: Literal["spherical"] = Field(description="Semicircle / hemisphere.")
    radius: PositiveLength = Field(description="Radius, m (= height = base radius).")

    def top(self) -> float:
        """Height of the apex above the base plane, m."""
        return self.radius

    def base_half_width(self) -> float:
        """Half width of the footprint on the base plane, m."""
        return self.radius

    def refined_radii(self) -> list[float]:
        """Radii of curvature at the points the builders refine around (the apex), m."""
        return [self.radius]

    def feature(self, T: float) -> curves.Feature:
        """The 2D profile (x, height), offset by T: concentric arcs of radius R + T."""
        return curves.circle_cap(self.x, 0.0, self.radius, 0.0, T)


class EllipseProtrusion(_ProtrusionBase):
    """A semi-ellipse (2D) or semi-spheroid (axisymmetric, 3D), any height-to-base ratio."""

    shape: Literal["ellipse"] = Field(description="Semi-ellipse / semi-spheroid.")
    base_radius: PositiveLength = Field(description="Semi-axis in the base plane, m.")
    height: PositiveLength = Field(description="Semi-axis normal to the base, m.")

    def top(self) -> float:
        """Height of the apex above the base plane, m."""
        return self.height

    def base_half_width(self) -> float:
        """Half width of the footprint on the base plane, m."""
        return self.base_radius

    def refined_radii(self) -> list[float]:
        """Radii of curvature at the points the builders refine around: apex, two feet, m."""
        a, b = self.base_radius, self.height
        return [a * a / b, b * b / a, b * b / a]

    def feature(self, T: float) -> curves.Feature:
        """The 2D profile (x, height), offset by T along the ellipse's normal."""
        return curves.ellipse_cap(self.x, self.base_radius, self.height, T)


class ConeProtrusion(_ProtrusionBase):
    """A cone (needle) of given base radius and height whose tip is a tangent circular cap."""

    shape: Literal["cone"] = Field(description="Cone / needle with a rounded tip.")
    base_radius: PositiveLength = Field(description="Radius of the footprint on the base, m.")
    height: PositiveLength = Field(description="Height of the apex, m.")
    tip_radius: PositiveLength = Field(
        description="Radius of the spherical tip cap, m (tangent to the cone's flanks)."
    )

    @model_validator(mode="after")
    def _tip_fits(self) -> ConeProtrusion:
        if self.tip_radius >= self.base_radius:
            _fail("tip_radius", "the tip must be narrower than the base",
                  f"{self.tip_radius:g} m", f"less than base_radius = {self.base_radius:g} m "
                  "(use shape 'spherical' or 'ellipse' for blunt features)")
        if 2.0 * self.tip_radius >= self.height:
            _fail("tip_radius", "the rounded tip must fit below the apex",
                  f"{self.tip_radius:g} m", f"less than height / 2 = {self.height / 2:g} m")
        return self

    def top(self) -> float:
        """Height of the apex above the base plane, m."""
        return self.height

    def base_half_width(self) -> float:
        """Half width of the footprint on the base plane, m."""
        return self.base_radius

    def refined_radii(self) -> list[float]:
        """Radii of curvature at the points the builders refine around (the tip), m."""
        return [self.tip_radius]

    def feature(self, T: float) -> curves.Feature:
        """The 2D profile (x, height), offset by T: flanks shifted, tip circle r + T."""
        return curves.cone_cap(self.x, self.base_radius, self.height, self.tip_radius, T)


Protrusion = Annotated[
    Annotated[SphericalProtrusion, Tag("spherical")]
    | Annotated[EllipseProtrusion, Tag("ellipse")]
    | Annotated[ConeProtrusion, Tag("cone")],
    Discriminator("shape"),
]


# ---------------------------------------------------------------------------------------------
# Interfacial voids
# ---------------------------------------------------------------------------------------------


class VoidShape(StrictModel):
    """One void standing on the flat Li surface, between the Li and the interphase.

    ``lens``: bounded by the Li plane and a circular arc (2D) / spherical cap (3D) of chord
    ``width`` and rise ``height`` (height <= width / 2). ``half_ellipse``: half an ellipse
    (2D) / spheroid (3D) with semi-axes width / 2 and height.
    """

    shape: Literal["lens", "half_ellipse"] = Field(description="Void cross-section.")
    x: NonNegativeLength = Field(description="x (axisymmetric: r) of the void centre, m.")
    y: NonNegativeLength = Field(
        default=0.0, description="Second lateral coordinate of the centre in 3D, m."
    )
    width: PositiveLength = Field(description="Footprint width (diameter) on the Li plane, m.")
    height: PositiveLength = Field(description="Largest gap between Li and the void roof, m.")

    def refined_radii(self) -> list[float]:
        """Radii of curvature at the points the 2D builder refines around, m.

        A half ellipse flatter than a circle has sharp ends (radius b^2 / a); a lens none.
        """
        a, b = 0.5 * self.width, self.height
        if self.shape == "lens" or math.isclose(a, b, rel_tol=1e-9):
            return []
        return [b * b / a, b * b / a]

    def feature(self, T: float) -> curves.Feature:
        """The 2D profile (x, height) of the void, offset by T."""
        half = 0.5 * self.width
        if self.shape == "half_ellipse":
            return curves.ellipse_cap(self.x, half, self.height, T)
        # Lens: circular arc through (x0 +- half, 0) and (x0, height).
        rho = (half * half + self.height * self.height) / (2.0 * self.height)
        yc = self.height - rho
        return curves.circle_cap(self.x, yc, rho, math.atan2(-yc, half), T)

    @model_validator(mode="after")
    def _lens_shape(self) -> VoidShape:
        if self.shape == "lens" and self.height > 0.5 * self.width:
            _fail("height", "a lens is at most a half disk", f"{self.height:g} m",
                  f"at most width / 2 = {self.width / 2:g} m (or shape 'half_ellipse')")
        return self


class ShapedVoids(StrictModel):
    """Voids given one by one by shape, position and size."""

    kind: Literal["shapes"] = Field(description="Voids listed by shape.")
    items: list[VoidShape] = Field(
        min_length=1, max_length=MAX_FEATURES, description="The voids."
    )

    size_key: ClassVar[str] = "voids.items"
    """The key that sets how much void edge the mesh refines (for the cell estimate)."""

    def wall_length(self, dimension: int, width: float, depth: float) -> float:
        """Length of the refined void edges, m: 2D the walls (bound), 3D the rims."""
        if dimension == 3:
            return sum(math.pi * v.width for v in self.items)
        return sum(v.width + 2.0 * v.height for v in self.items)

    def refined_radii(self) -> list[float]:
        """Radii of curvature at the points the 2D builder refines around, m."""
        return [rho for v in self.items for rho in v.refined_radii()]

    def height(self) -> float:
        """Largest gap between Li and a void roof, m."""
        return max(v.height for v in self.items)

    def shapes(self) -> list[VoidShape]:
        """The voids that are solids of revolution about their own axis."""
        return self.items

    def gap_boxes(self, dimension: int, width: float, depth: float
                  ) -> list[tuple[float, float, float, float]]:
        """Footprints (x0, y0, x1, y1) of flat box gaps: none."""
        return []

    def features(self, T: float, width: float) -> list[curves.Feature]:
        """2D profiles of the voids, offset by T."""
        return [v.feature(T) for v in self.items]

    def cover(self, x: np.ndarray, y: np.ndarray, width: float, depth: float
              ) -> tuple[np.ndarray, np.ndarray]:
        """Which lateral points (x, y) lie under a void, and their distance to the nearest rim.

        Returns:
            (under a void, distance in m), arrays shaped like ``x`` (3D landmarks).
        """
        under_void = np.zeros_like(x, dtype=bool)
        edge_distance = np.full_like(x, np.inf)
        for v in self.items:
            r = np.hypot(x - v.x, y - v.y)
            under_void |= r < 0.5 * v.width
            edge_distance = np.minimum(edge_distance, np.abs(r - 0.5 * v.width))
        return under_void, edge_distance


class ContactFractionVoids(StrictModel):
    """Voids given by the fraction of the Li surface in contact with the interphase.

    The non-contact part, (1 - f) of the surface, is split into ``count`` flat gaps of thickness
    ``gap`` placed periodically (centred in equal cells) or at random (seeded, non-overlapping).
    2D: slots of width (1 - f) W / count. 3D: count x count equal cells of the base, each with
    one rectangular gap of the cell's aspect ratio and area (1 - f) x cell area.
    """

    kind: Literal["contact_fraction"] = Field(description="Voids by contact fraction.")
    contact_fraction: float = Field(
        gt=0.0, le=1.0, description="f: fraction of the Li surface in contact, in (0, 1]."
    )
    placement: Literal["periodic", "random"] = Field(
        default="periodic", description="Equal spacing, or random seeded positions."
    )
    count: int = Field(default=1, ge=1, description="Number of voids (3D: per lateral direction).")
    gap: PositiveLength = Field(
        default=50e-9, description="Thickness of the gap between Li and the interphase, m."
    )
    seed: int = Field(default=0, ge=0, description="Random seed for placement 'random'.")

    size_key: ClassVar[str] = "voids.count"
    """The key that sets how much void edge the mesh refines (for the cell estimate)."""

    def slots(self, width: float) -> list[tuple[float, float]]:
        """Centres and widths of the gaps on [0, W] (2D).

        Periodic placement: ``count`` gaps of equal width (1 - f) W / count centred in equal
        cells. Random placement: the contact length f W is split into count + 1 random parts
        (seeded Dirichlet draw), so the gaps never overlap and the contact fraction is exact.

        Returns:
            List of (centre x, width), m; empty when the contact fraction is 1.
        """
        f, n = self.contact_fraction, self.count
        if f >= 1.0:
            return []
        w = (1.0 - f) * width / n
        if self.placement == "periodic":
            return [((i + 0.5) * width / n, w) for i in range(n)]
        rng = np.random.default_rng(self.seed)
        contacts = rng.dirichlet(np.ones(n + 1)) * f * width
        starts = np.cumsum(contacts[:-1]) + w * np.arange(n)
        return [(float(s + 0.5 * w), w) for s in starts]

    def boxes(self, width: float, depth: float) -> list[tuple[float, float, float, float]]:
        """Footprints of the flat box gaps in 3D.

        The base is divided into count x count equal cells; each holds one rectangular gap with
        the cell's aspect ratio and area (1 - f) x cell area, so the contact fraction is exact.
        Periodic placement: centred in its cell; random placement: at a seeded uniform random
        position inside its cell (never overlapping, never crossing the sides).

        Returns:
            (x0, y0, x1, y1) of every gap, m; empty when the contact fraction is 1.
        """
        f, n = self.contact_fraction, self.count
        if f >= 1.0:
            return []
        cw, cd = width / n, depth / n
        sw, sd = math.sqrt(1.0 - f) * cw, math.sqrt(1.0 - f) * cd
        rng = np.random.default_rng(self.seed)
        out = []
        for i in range(n):
            for j in range(n):
                if self.placement == "periodic":
                    fx, fy = 0.5, 0.5
                else:
                    fx, fy = rng.uniform(0.0, 1.0, 2)
                x0 = i * cw + fx * (cw - sw)
                y0 = j * cd + fy * (cd - sd)
                out.append((x0, y0, x0 + sw, y0 + sd))
        return out

    def refined_radii(self) -> list[float]:
        """Radii of curvature at the points the 2D builder refines around: none (flat gaps)."""
        return []

    def height(self) -> float:
        """Thickness of the gaps, m (0 when the contact fraction is 1)."""
        return self.gap if self.contact_fraction < 1.0 else 0.0

    def shapes(self) -> list[VoidShape]:
        """The voids that are solids of revolution about their own axis: none."""
        return []

    def gap_boxes(self, dimension: int, width: float, depth: float
                  ) -> list[tuple[float, float, float, float]]:
        """Footprints (x0, y0, x1, y1) of the gaps, m: 3D :meth:`boxes`, 2D the slots (y = 0)."""
        if dimension == 3:
            return self.boxes(width, depth)
        return [(x - w / 2, 0.0, x + w / 2, 0.0) for x, w in self.slots(width)]

    def features(self, T: float, width: float) -> list[curves.Feature]:
        """2D profiles of the gaps (flat slots), offset by T."""
        return [curves.slot(x, w, self.gap, T) for x, w in self.slots(width)]

    def cover(self, x: np.ndarray, y: np.ndarray, width: float, depth: float
              ) -> tuple[np.ndarray, np.ndarray]:
        """Which lateral points (x, y) lie over a gap, and their distance to the nearest gap.

        Returns:
            (over a gap, distance in m), arrays shaped like ``x`` (3D landmarks).
        """
        under_void = np.zeros_like(x, dtype=bool)
        edge_distance = np.full_like(x, np.inf)
        for x0, y0, x1, y1 in self.boxes(width, depth):
            inside = (x > x0) & (x < x1) & (y > y0) & (y < y1)
            under_void |= inside
            dx = np.maximum(np.maximum(x0 - x, x - x1), 0.0)
            dy = np.maximum(np.maximum(y0 - y, y - y1), 0.0)
            edge_distance = np.minimum(edge_distance, np.hypot(dx, dy))
        return under_void, edge_distance

    def wall_length(self, dimension: int, width: float, depth: float) -> float:
        """Length of the refined void edges, m: 2D the walls, 3D the rims of the gaps."""
        if self.contact_fraction >= 1.0:
            return 0.0
        open_part = 1.0 - self.contact_fraction
        if dimension == 3:
            return 2.0 * self.count * math.sqrt(open_part) * (width + depth)
        return open_part * width + 2.0 * self.count * self.gap


Voids = Annotated[
    Annotated[ShapedVoids, Tag("shapes")]
    | Annotated[ContactFractionVoids, Tag("contact_fraction")],
    Discriminator("kind"),
]


# ---------------------------------------------------------------------------------------------
# Interphase layers
# ---------------------------------------------------------------------------------------------


class UniformLayer(StrictModel):
    """A conformal interphase layer of uniform thickness (one cell group named ``name``)."""

    kind: Literal["uniform"] = Field(default="uniform", description="Uniform layer.")
    name: str = Field(
        default="sei",
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="Region name; the physics section gives its material under this name.",
    )
    thickness: LayerThickness = Field(
        description="Thickness normal to the Li surface, m (from 1 nm)."
    )

    def region_names(self) -> list[str]:
        """Cell-group names of this layer."""
        return [self.name]

    def cell_count(self, dim: int, area: float, across: float, along: float
                   ) -> tuple[float, float]:
        """Estimated cells of the layer, and the cell size at its outer side.

        2D: structured strips of cells ``across`` x ``along``; 3D: isotropic cells ``across``.

        Args:
            dim: Mesh dimension.
            area: Area (2D: length) of the surface the layer covers, m^2 (m).
            across: Cell size across the layer, m.
            along: Cell size along the layer (2D strips), m.
        """
        if dim == 2:
            return 2.0 * area / along * (self.thickness / across), along
        return uniform_cells(3, area * self.thickness, across), across

    def check_fits(self, index: int, dimension: int, width: float, depth: float) -> None:
        """Raise when the layer cannot be built in the domain: a uniform layer always can."""


class MosaicPhase(StrictModel):
    """One phase of a mosaic layer."""

    name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="Region name of the phase (e.g. 'lif', 'li2o', 'organic').",
    )
    fraction: float = Field(gt=0.0, le=1.0, description="Volume (2D: area) fraction, in (0, 1].")


class MosaicLayer(StrictModel):
    """A conformal layer made of Voronoi grains, each grain assigned to one phase.

    Grain seeds are drawn at random (seeded) in the layer with mean spacing ``grain_size``;
    grains are assigned to phases so that the phase areas (volumes) match the fractions as
    closely as the grain sizes allow.
    """

    kind: Literal["mosaic"] = Field(description="Mosaic (Voronoi-grain) layer.")
    thickness: LayerThickness = Field(
        description="Thickness normal to the Li surface, m (from 1 nm)."
    )
    grain_size: PositiveLength = Field(description="Mean grain spacing, m.")
    seed: int = Field(default=0, ge=0, description="Random seed of the grain layout.")
    phases: list[MosaicPhase] = Field(min_length=1, description="Phases and their fractions.")

    @model_validator(mode="after")
    def _fractions(self) -> MosaicLayer:
        total = sum(p.fraction for p in self.phases)
        if abs(total - 1.0) > 1e-6:
            _fail("phases", "phase fractions must sum to 1", f"sum {total:g}", "a sum of 1")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            _fail("phases", "phase names must be unique", names, "distinct names")
        return self

    def region_names(self) -> list[str]:
        """Cell-group names of this layer."""
        return [p.name for p in self.phases]

    def cell_count(self, dim: int, area: float, across: float, along: float
                   ) -> tuple[float, float]:
        """Estimated cells of the layer, and the cell size at its outer side.

        Isotropic cells of size ``across`` (``along`` is not used: mosaic grains are not strips).

        Args:
            dim: Mesh dimension.
            area: Area (2D: length) of the surface the layer covers, m^2 (m).
            across: Cell size across the layer, m.
            along: Cell size along the layer (unused).
        """
        return uniform_cells(dim, area * self.thickness, across), across

    def check_fits(self, index: int, dimension: int, width: float, depth: float) -> None:
        """Raise when fewer grains than phases fit in the layer (``index``: its position)."""
        rows = max(1.0, self.thickness / self.grain_size)
        area = width * (depth / self.grain_size if dimension == 3 else 1.0)
        if area / self.grain_size * rows < len(self.phases):
            _fail(f"layers.{index}.grain_size", "fewer grains than phases fit in the layer",
                  f"{self.grain_size:g} m", "a grain size that gives a grain per phase")


Layer = Annotated[
    Annotated[UniformLayer, Tag("uniform")] | Annotated[MosaicLayer, Tag("mosaic")],
    _tag_or_default("kind", "uniform"),
]


# ---------------------------------------------------------------------------------------------
# Mesh controls
# ---------------------------------------------------------------------------------------------


class MeshConfig(StrictModel):
    """Element order and local sizes. Every size is divided by ``refinement``."""

    order: Literal[1, 2] = Field(
        default=2, description="Geometric order of the elements (2: curved boundaries)."
    )
    layer_elements: int = Field(
        default=3, ge=1, description="Minimum number of elements across each interphase layer."
    )
    layer_aspect_ratio: float = Field(
        default=10.0,
        ge=1.0,
        le=100.0,
        description="Largest ratio of element length along a uniform layer to its size across "
        "(thickness / layer_elements); such layers are meshed as structured strips.",
    )
    tip_size_factor: float = Field(
        default=0.25,
        gt=0.0,
        le=2.0,
        description="Element size at a protrusion tip = factor x tip radius of curvature.",
    )
    void_edge_size: PositiveLength | None = Field(
        default=None,
        description="Element size at void walls, m (default: a third of the smallest void height).",
    )
    far_field_size: PositiveLength | None = Field(
        default=None, description="Element size far from the Li surface, m (default: L / 8)."
    )
    growth: float = Field(
        default=1.3,
        gt=1.0,
        le=3.0,
        description="Largest ratio of neighbouring element sizes away from refined features.",
    )
    refinement: float = Field(
        default=1.0,
        gt=0.0,
        le=64.0,
        description="Global refinement factor for convergence studies: every element size is "
        "divided by it.",
    )
    split: int = Field(
        default=0,
        ge=0,
        le=3,
        description="2D only: mesh at refinement / 2^split, then split every triangle into four, "
        "split times (Gmsh's refine; the new boundary nodes on the curves): about the same cells "
        "at a quarter to a third of Gmsh's meshing time per split, in a slightly different mesh "
        "(see docs/performance.md, '2D growth with size'). 0: mesh at the refinement directly.",
    )
    max_cells: int = Field(
        default=DEFAULT_MAX_CELLS,
        ge=1,
        description="Largest cell count of the mesh: the count estimated from the domain, the "
        "features and the sizes above must not exceed it, or validation fails before Gmsh runs "
        "(the estimate is within a factor 3 of Gmsh's count). The default fits a 24 GiB, "
        "2-core machine; raise it for bigger machines.",
    )


# ---------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------


class GeometryConfig(StrictModel):
    """Geometry of a Li | interphase | electrolyte domain (see docs/geometry.md)."""

    dimension: Literal[2, 3] = Field(default=2, description="Spatial dimension.")
    coordinates: Literal["cartesian", "axisymmetric"] = Field(
        default="cartesian",
        description="'axisymmetric': 2D (r, z) section rotated about the axis r = 0 (x = r).",
    )
    domain: DomainConfig = Field(default_factory=DomainConfig, description="Domain extent.")
    surface: Surface = Field(
        default_factory=FlatSurface,
        description="Li base surface: flat (default), sinusoidal, random rough, or through "
        "given points (a moved surface to remesh).",
    )
    protrusions: list[Protrusion] = Field(
        default_factory=list,
        max_length=MAX_FEATURES,
        description="Protrusions standing on the flat Li base plane (shape: spherical, "
        "ellipse, cone); their footprints may not overlap or touch.",
    )
    voids: Voids | None = Field(
        default=None,
        description="Interfacial voids between Li and the interphase (insulating walls).",
    )
    layers: list[Layer] = Field(
        default_factory=list,
        description="Interphase layers from the Li outward (uniform or mosaic); empty: bare Li.",
    )
    mesh: MeshConfig = Field(default_factory=MeshConfig, description="Mesh controls.")

    # -- derived quantities --------------------------------------------------------------------

    def region_names(self) -> list[str]:
        """Interphase cell-group names of this geometry (layer names or mosaic phase names)."""
        return [name for layer in self.layers for name in layer.region_names()]

    def interphase_thickness(self) -> float:
        """Total thickness of all interphase layers, m."""
        return sum(layer.thickness for layer in self.layers)

    def depth(self) -> float:
        """Second lateral extent D in 3D (defaults to W), m."""
        return self.domain.depth if self.domain.depth is not None else self.domain.width

    def void_height(self) -> float:
        """Largest void height, m (0 without voids)."""
        return self.voids.height() if self.voids is not None else 0.0

    def void_shapes(self) -> list[VoidShape]:
        """The voids that are solids of revolution about their own axis (shaped voids)."""
        return self.voids.shapes() if self.voids is not None else []

    def surface_top(self) -> float:
        """Highest point of the Li surface or a void roof above the base plane, m."""
        tops = [self._surface_max_height(), self.void_height()]
        tops += [p.top() for p in self.protrusions]
        return max(tops)

    # -- validation ----------------------------------------------------------------------------

    @model_validator(mode="after")
    def _consistent(self) -> GeometryConfig:
        W, L = self.domain.width, self.domain.length
        if self.coordinates == "axisymmetric" and self.dimension != 2:
            _fail("coordinates", "axisymmetric needs dimension 2", self.dimension, "dimension: 2")
        if self.coordinates == "axisymmetric" and self.domain.lateral == "periodic":
            _fail("domain.lateral", "periodic sides are impossible in an axisymmetric section",
                  "periodic", "symmetric")
        if self.dimension == 2 and self.domain.depth is not None:
            _fail("domain.depth", "only used in 3D", self.domain.depth, "no depth in 2D")
        if self.dimension == 3 and self.mesh.split:
            _fail("mesh.split", "splitting is for 2D meshes (a split tetrahedron's children are "
                  "not its shape)", self.mesh.split, "0 in 3D")
        lateral = [("x", W)] + ([("y", self.depth())] if self.dimension == 3 else [])
        for i, p in enumerate(self.protrusions):
            for axis, extent in lateral:
                if getattr(p, axis) > extent:
                    _fail(f"protrusions.{i}.{axis}", "protrusion axis outside the domain",
                          f"{getattr(p, axis):g} m", f"0 to {extent:g} m")
        if self.protrusions and self.surface.curved:
            _fail("surface.kind", "protrusions stand on the flat base plane",
                  self.surface.kind, "flat (with protrusions)")
        if self.voids is not None and self.surface.curved:
            _fail("surface.kind", "voids sit on the flat base plane", self.surface.kind,
                  "flat (with voids)")
        for i, v in enumerate(self.void_shapes()):
            for axis, extent in lateral:
                if getattr(v, axis) > extent:
                    _fail(f"voids.items.{i}.{axis}", "void centre outside the domain",
                          f"{getattr(v, axis):g} m", f"0 to {extent:g} m")
        if self.domain.lateral == "periodic":
            self.surface.check_periodic(W)
        for i, layer in enumerate(self.layers):
            layer.check_fits(i, self.dimension, W, self.depth())
        names = self.region_names()
        for name in names:
            if name in RESERVED_REGION_NAMES:
                _fail("layers", "region name is reserved", name, "any other name")
        if len(set(names)) != len(names):
            _fail("layers", "region names (layer and phase names) must be unique", names,
                  "distinct names")
        h_int = self.interphase_thickness()
        reach = L * (1.0 - 1e-9)
        if h_int >= reach:
            _fail("layers", "the interphase is thicker than the domain",
                  f"{h_int:g} m in total", f"less than domain.length = {L:g} m")
        for i, p in enumerate(self.protrusions):
            if p.top() + h_int >= reach:
                _fail(f"protrusions.{i}", "the protrusion plus interphase reaches the counter "
                      "boundary", f"height {p.top():g} m + interphase {h_int:g} m",
                      f"a top below domain.length = {L:g} m")
        top = self._surface_max_height()
        if top + h_int >= reach:
            _fail("surface", "the surface plus interphase reaches the counter boundary",
                  f"highest point {top:g} m + interphase {h_int:g} m",
                  f"a top below domain.length = {L:g} m")
        if self.void_height() + h_int >= reach:
            _fail("voids", "the void plus interphase reaches the counter boundary",
                  f"{self.void_height() + h_int:g} m", f"below domain.length = {L:g} m")
        if h_int > 0.0 and self.surface.curved and self.surface.resolved_radius() is None:
            rho = self._valley_radius()
            if h_int >= rho:
                _fail("layers", "the interphase is thicker than the smallest radius of "
                      "curvature of the surface's valleys, so a conformal layer would fold over "
                      "itself",
                      f"{h_int:g} m", f"less than {rho:g} m (or a smoother surface)")
        self._check_cell_count()  # first: it bounds the number of gaps enumerated below
        self._check_footprints_apart()
        self._check_gaps_clear_of_protrusions()
        return self

    def _check_footprints_apart(self) -> None:
        """Protrusions and shaped voids may not overlap or touch (nor their periodic images).

        The mesher would get tangent or self-intersecting curves; features that must merge are
        one feature. Footprints are disks (2D: intervals) of the base half width about the axis.
        """
        feet = [(f"protrusions.{i}", p.x, p.y, p.base_half_width())
                for i, p in enumerate(self.protrusions)]
        feet += [(f"voids.items.{i}", v.x, v.y, 0.5 * v.width)
                 for i, v in enumerate(self.void_shapes())]
        if not feet:
            return
        if self.coordinates == "axisymmetric":  # a ring about the axis may not cross it
            for key, x0, _, r0 in feet:
                if 0.0 < x0 <= r0 * (1.0 + 1e-9):
                    _fail(key, "the ring's section reaches across the symmetry axis",
                          f"axis at r = {x0:g} m, footprint radius {r0:g} m",
                          "r = 0 (a feature on the axis) or r greater than the footprint radius")
        x, y, radius = (np.array([f[k] for f in feet]) for k in (1, 2, 3))
        if self.dimension == 2:
            y = np.zeros_like(y)
        shifts = [(0.0, 0.0)]
        if self.domain.lateral == "periodic":  # with i and j swapped, these cover -W and -D
            W, D = self.domain.width, self.depth()
            shifts += [(W, 0.0)] + ([(0.0, D), (W, D), (W, -D)] if self.dimension == 3 else [])
        pairs = []
        reach = (radius[:, None] + radius[None, :]) * (1.0 + 1e-9)
        for sx, sy in shifts:
            distance = np.hypot(x[:, None] - x[None, :] - sx, y[:, None] - y[None, :] - sy)
            # Without a shift each pair once (i > j); with one every pair and every feature
            # with its own image.
            if sx == sy == 0.0:
                distance[np.triu_indices(len(feet))] = np.inf
            pairs += [(max(i, j), min(i, j), float(distance[i, j]))
                      for i, j in np.argwhere(distance <= reach)]
        if not pairs:
            return
        i, j, dist = min(pairs)
        key, other = feet[i][0], feet[j][0]
        what = ("the footprint overlaps or touches its own periodic image" if i == j
                else f"the footprint overlaps or touches that of {other}")
        _fail(key, what, f"axes {dist:g} m apart, footprint radii {radius[i]:g} m + "
              f"{radius[j]:g} m", "features whose axes are farther apart than the sum of their "
              "footprint radii (one feature instead of merged ones)")

    def _check_gaps_clear_of_protrusions(self) -> None:
        """No gap of contact-fraction voids may reach under a protrusion's footprint."""
        if self.voids is None or not self.protrusions:
            return
        W, D = self.domain.width, self.depth()
        gaps = np.array(self.voids.gap_boxes(self.dimension, W, D)).reshape(-1, 4)
        periodic = self.domain.lateral == "periodic"
        xs = [0.0, -W, W] if periodic else [0.0]
        ys = [0.0, -D, D] if periodic and self.dimension == 3 else [0.0]
        zero = np.zeros(len(gaps))
        for j, p in enumerate(self.protrusions):
            y = p.y if self.dimension == 3 else 0.0
            for sx, sy in ((sx, sy) for sx in xs for sy in ys):
                x_p, y_p = p.x + sx, y + sy
                dx = np.maximum.reduce([gaps[:, 0] - x_p, x_p - gaps[:, 2], zero])
                dy = np.maximum.reduce([gaps[:, 1] - y_p, y_p - gaps[:, 3], zero])
                hit = np.flatnonzero(np.hypot(dx, dy) <= p.base_half_width() * (1.0 + 1e-9))
                if hit.size:
                    x0, _, x1, _ = gaps[hit[0]]
                    _fail(f"protrusions.{j}", "the footprint overlaps or touches a gap of the "
                          f"contact-fraction voids (x from {x0:g} m to {x1:g} m)",
                          f"axis at x = {p.x:g} m, footprint radius {p.base_half_width():g} m",
                          "protrusions on the contact area between the gaps (or shaped voids)")

    def _check_cell_count(self) -> None:
        """The estimated cell count must not exceed ``mesh.max_cells`` (before Gmsh runs)."""
        terms = self.cell_estimate()
        total = sum(t.cells for t in terms)
        limit = self.mesh.max_cells
        if total <= limit:
            return
        biggest = max(terms, key=lambda t: t.cells)
        r = self.mesh.refinement
        W, L = self.domain.width, self.domain.length
        square = self.domain.model_copy(update={"width": min(W, L), "depth": min(self.depth(), L)})
        if r > 1.0 and total / r**self.dimension <= limit:
            key = "mesh.refinement"
        elif sum(t.cells for t in self.model_copy(update={"domain": square}).cell_estimate()
                 ) <= limit:  # the width (depth) alone makes it big
            key = "domain.depth" if self.dimension == 3 and self.depth() > W else "domain.width"
        else:
            key = biggest.key
        value: Any = self
        for part in key.split("."):
            value = value[int(part)] if part.isdigit() else getattr(value, part)
        if isinstance(value, StrictModel):  # a feature: show its shape (kind)
            value = " ".join(f"{name} {getattr(value, name)!r}" for name in ("shape", "kind")
                             if hasattr(value, name))
        _fail(key, f"the mesh would have about {total:.2g} cells (the {biggest.what} about "
              f"{biggest.cells:.2g}), more than mesh.max_cells = {limit}",
              f"{value:g}" if isinstance(value, float) else value,
              "a coarser mesh (sizes, refinement, layer_elements), a smaller domain or thicker "
              "layers, or a larger mesh.max_cells on a bigger machine")

    def cell_estimate(self) -> list[CellTerm]:
        """The mesh's cell count estimated from the size settings, term by term.

        Far field, the graded zones of the Li surface and the outermost layer, the interphase
        layers, the protrusion tips and the void edges, each named by the key that sets its
        size (see :mod:`solver.geometry.sizing`; the builders' size fields in occ2d.py and
        occ3d.py are what it models).
        """
        m, dim = self.mesh, self.dimension
        r = m.refinement
        W, L = self.domain.width, self.domain.length
        base = W * self.depth() if dim == 3 else W
        far = (m.far_field_size if m.far_field_size is not None else L / 8.0) / r
        slope = (m.growth - 1.0) / r if dim == 2 else m.growth - 1.0  # as the builders grade
        area = base * self.surface.area_factor() + sum(
            2.0 * p.top() if dim == 2 else math.pi * p.base_half_width() * p.top()
            for p in self.protrusions
        )
        far_key = "mesh.far_field_size" if m.far_field_size is not None else "domain.width"
        terms = [CellTerm(far_key, "far field", uniform_cells(dim, base * L, far))]
        surface = min(far / 4.0 if dim == 2 else far,
                      m.tip_size_factor * self.surface.radius_estimate() / r)
        edge = (m.void_edge_size or self.void_height() / 3.0) / r if self.voids else math.inf
        # 2D layers take the finest size along each of their curves (void edges, surface).
        local = min(surface, edge)
        outer = surface
        for k, layer in enumerate(self.layers):
            across = layer.thickness / (math.ceil(m.layer_elements * r - 1e-9) if dim == 2
                                        else m.layer_elements * r)
            along = min(m.layer_aspect_ratio * across, max(across, local))
            cells, outer = layer.cell_count(dim, area, across, along)
            terms.append(CellTerm(f"layers.{k}.thickness", f"layer {k}", cells))
        key = f"layers.{len(self.layers) - 1}.thickness" if self.layers else "domain.width"
        zone = graded_cells(dim, "surface", area, min(outer, surface), slope, far)
        terms.append(CellTerm(key, "graded zone at the Li surface", zone))
        for j, p in enumerate(self.protrusions):
            # 2D refines every point of high curvature, 3D the apex (the first) only.
            radii = p.refined_radii() if dim == 2 else p.refined_radii()[:1]
            cells = sum(graded_cells(dim, "point", 1.0, m.tip_size_factor * rho / r, slope, far,
                                     inner=0.0 if dim == 2 else rho) for rho in radii)
            terms.append(CellTerm(f"protrusions.{j}", f"refinement at protrusions.{j}", cells))
        if self.voids is not None:
            length = self.voids.wall_length(dim, W, self.depth())
            if dim == 2:
                cells = graded_cells(2, "surface", length, edge, slope, far) + sum(
                    graded_cells(2, "point", 1.0, m.tip_size_factor * rho / r, slope, far)
                    for rho in self.voids.refined_radii())
            else:
                cells = graded_cells(3, "curve", length, edge, slope, far, inner=edge)
            key = "mesh.void_edge_size" if m.void_edge_size is not None else self.voids.size_key
            terms.append(CellTerm(key, "refinement at the voids", cells))
        return terms

    def _surface_max_height(self) -> float:
        """Highest point of the base surface over the domain, m (sampled for random surfaces)."""
        top = self.surface.max_height()
        return top if top is not None else float(np.max(self._sampled_surface()[0]))

    def min_radius_of_curvature(self) -> float:
        """Smallest radius of curvature of the 2D base surface on [0, W], m (inf when flat)."""
        if not self.surface.curved:
            return math.inf
        stated = self.surface.resolved_radius()
        if stated is not None:
            return stated
        W = self.domain.width
        x = np.linspace(0.0, W, 8 * self.surface.spline_samples(W))
        h, dh = self.surface.profile(W, self.domain.lateral)(x)
        d2h = np.gradient(dh, x)
        kappa = np.abs(d2h) / (1.0 + dh**2) ** 1.5
        return float(1.0 / max(np.max(kappa), 1e-300))

    def _valley_radius(self) -> float:
        """Smallest radius of curvature of the base surface's valleys (sampled), m.

        Only where the surface is concave seen from the electrolyte (h'' > 0; 3D: the largest
        eigenvalue of the Hessian > 0) does a conformal offset fold; over a crest it never
        does, however sharp.
        """
        if self.dimension == 2:
            W = self.domain.width
            x = np.linspace(0.0, W, 8 * self.surface.spline_samples(W))
            _, dh = self.surface.profile(W, self.domain.lateral)(x)
            kappa = np.maximum(np.gradient(dh, x), 0.0) / (1.0 + dh**2) ** 1.5
            return float(1.0 / max(np.max(kappa), 1e-300))
        h, x, y = self._sampled_surface()
        hx, hy = np.gradient(h, x, y)
        hxx, hxy = np.gradient(hx, x, y)
        _, hyy = np.gradient(hy, x, y)
        # Largest principal curvature of a valley, bounded by the largest eigenvalue of the
        # Hessian / (1 + |grad h|^2)
        half_trace, det = 0.5 * (hxx + hyy), hxx * hyy - hxy**2
        largest = half_trace + np.sqrt(np.maximum(half_trace**2 - det, 0.0))
        kappa = np.maximum(largest, 0.0) / (1.0 + hx**2 + hy**2)
        return float(1.0 / max(np.max(kappa), 1e-300))

    def _sampled_surface(self):
        """Base-surface heights on a grid: 2D (h, x, None); 3D (h[i, j], x, y)."""
        W = self.domain.width
        if self.dimension == 2:
            x = np.linspace(0.0, W, 4001)
            return self.surface.profile(W, self.domain.lateral)(x)[0], x, None
        x, y = np.linspace(0.0, W, 257), np.linspace(0.0, self.depth(), 257)
        gx, gy = np.meshgrid(x, y, indexing="ij")
        return self.surface.height_field(W, self.depth(), self.domain.lateral)(gx, gy)[0], x, y


def _finite_points(points: list[tuple[float, float]], pair: str) -> np.ndarray:
    """``surface.points`` as an (n, 2) array; a nan or inf value is refused (exit 2)."""
    xy = np.asarray(points, dtype=float)
    if not np.all(np.isfinite(xy)):
        _fail("surface.points", "points must be finite numbers", "a nan or inf value",
              f"finite {pair} pairs")
    return xy


def _fail(path: str, what: str, got: object, allowed: str) -> NoReturn:
    """Raise the validation message format of solver/config.py: path, what, got, allowed."""
    raise ValueError(f"{path}: {what} (got {got}); allowed: {allowed}")
