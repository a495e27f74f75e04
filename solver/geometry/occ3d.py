"""Three-dimensional Li | interphase | electrolyte geometries in Gmsh's OpenCASCADE kernel.

Frame: the box [0, W] x [0, D] x [0, L]; the flat Li base plane is z = 0, Li lies below it and
is not meshed, the Li surface is z = h(x, y) >= 0 plus protrusions and voids standing on the
base plane, the counter boundary is z = L.

Construction (constructive solid geometry and one general fuse):

1. *Bodies*, solids that stand for point sets: the Li body B_0 (the protrusions, or the region
   under a sinusoidal or random surface), the voids V, and for every interphase layer k the
   offset body B_k = {x : dist(x, B_0 u V) <= d_k}, d_k the summed thickness of layers 1..k.
   The Minkowski sum of a union is the union of the sums, so B_k is built feature by feature,
   exactly where possible:

   * flat base plane -> slab z <= d_k;
   * hemisphere, lens void (spherical cap), cone with a spherical tip -> the 2D profiles of
     :mod:`solver.geometry.profiles` (concentric arcs of radius R + d_k, flanks shifted along
     their normal) revolved about the feature axis: exact;
   * semi-spheroid, half-ellipsoid void -> its elliptic profile (exact) or the pointwise offset
     profile p + d_k n (interpolating spline) revolved about the axis;
   * flat box void of a contact-fraction layout -> the box grown by d_k with all edges rounded
     to radius d_k (exact Minkowski sum of a box and a ball);
   * sinusoidal or random surface z = h(x, y) -> a bicubic B-spline surface through the points
     p + d_k n(p) sampled on a grid (the Li surface itself is the bicubic interpolant of h).

   A mosaic layer adds its Voronoi grains as bodies (cells of seeds placed on the layer's
   mid-surface, clipped to a box by mirrored seeds).
2. One ``occ.fragment`` of the domain box with all bodies makes every interface conformal. Each
   resulting volume is classified by the bodies that contain it (``outDimTagsMap``): outside the
   box or inside B_0 -> Li (removed); inside a void -> removed; inside B_k but not B_{k-1} ->
   layer k (a mosaic grain: the Voronoi cell that contains it); otherwise electrolyte.
3. Facets are classified by the volumes on both sides: Li | kept -> ``li_surface``;
   void | kept -> ``void_wall``; interphase | electrolyte -> ``interphase_electrolyte``; the
   box faces -> ``counter`` (z = L), ``side_x0``, ``side_x1``, ``side_y0``, ``side_y1``, and the
   exposed base plane z = 0 -> ``li_surface``.
4. Mesh-size fields: a constant size thickness / ``layer_elements`` inside each layer, sizes
   ``tip_size_factor`` x radius of curvature around protrusion apexes, ``void_edge_size`` along
   the void rims, growth by the factor ``growth`` per element away from them up to the far-field
   size; every size divided by ``refinement``.

Sinusoidal surface in 3D: ridges z = A (1 + cos(2 pi x / lambda)), independent of y (the 2D
profile extruded along y, so 3D and 2D runs compare directly). Random surface in 3D: a seeded
Gaussian random field with correlation rms^2 exp(-(|dr| / l_c)^2) synthesised from Fourier
modes; with symmetric sides a cosine series in x and y (zero normal slope on the sides, so the
mirror images continue the surface smoothly), with periodic sides a full Fourier series.

Lengths: OpenCASCADE works with absolute tolerances near 1e-7, so the model is built in
micrometres (one model unit = :data:`MODEL_UNIT` m); the mesh coordinates must be multiplied by
:data:`MODEL_UNIT` after reading the model into DOLFINx.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import RectBivariateSpline
from scipy.spatial import Voronoi

from solver.geometry import profiles
from solver.geometry.expressions import distance_to, literal
from solver.geometry.heights import HeightField, random_surface_3d
from solver.geometry.spec import GeometryConfig, MosaicLayer

__all__ = [
    "MAX_LAYER_CELLS",
    "MODEL_UNIT",
    "build_occ_3d",
    "height_field_3d",
    "random_surface_3d",
]

MODEL_UNIT = profiles.GMSH_LENGTH_UNIT
"""Metres per Gmsh model length unit (the model is built in micrometres)."""

MAX_LAYER_CELLS = 5_000_000
"""Largest estimated tetrahedron count (6 V / h^3) of one interphase layer before the builder
refuses the mesh controls instead of running Gmsh for hours."""

_MAX_DISTANCE_SAMPLES = 1_000_000
"""Most sample points of one Gmsh Distance field."""

_REL_TOL = 1e-6
"""Relative tolerance (of the domain size) for locating faces on the box planes (OCC bounding
boxes include the shape tolerance, which grows in booleans with B-spline surfaces)."""


# ---------------------------------------------------------------------------------------------
# Base surface z = h(x, y)
# ---------------------------------------------------------------------------------------------


def height_field_3d(cfg: GeometryConfig) -> HeightField | None:
    """The curved 3D base surface z = h(x, y) of ``cfg``, or None for a flat surface."""
    return cfg.surface.height_field(cfg.domain.width, cfg.depth(), cfg.domain.lateral)


@dataclass(frozen=True)
class _SampledSurface:
    """A height field on a grid over the domain extended by ``margin`` on every side (m)."""

    u: np.ndarray  # (nu,) x of the grid lines
    v: np.ndarray  # (nv,) y of the grid lines
    h: np.ndarray  # (nu, nv)
    hx: np.ndarray
    hy: np.ndarray

    @classmethod
    def sample(
        cls, height: HeightField, steps: tuple[float, float], W: float, D: float, margin: float
    ):
        """Sample ``height`` on a grid of spacing at most ``steps`` over the domain and beyond.

        The grid lines fall on x = 0 and x = W (y = 0, y = D) and extend at least ``margin`` and
        6 lines beyond, so that a periodic field gives the same interpolant on opposite sides up
        to the end effect of the clamped spline, which decays by ~0.27 per grid line. An
        infinite step (ridges) gives 4 lines one domain extent apart.
        """

        def axis(extent: float, step: float) -> np.ndarray:
            n = max(1, math.ceil(extent / step))
            spacing = extent / n
            pad = max(6, math.ceil(margin / spacing)) if math.isfinite(step) else 1
            return np.arange(-pad, n + pad + 1) * spacing

        u, v = axis(W, steps[0]), axis(D, steps[1])
        gu, gv = np.meshgrid(u, v, indexing="ij")
        return cls(u, v, *height(gu, gv))

    def offset_points(self, d: float) -> np.ndarray:
        """Points p + d n(p), offset by d along the upward unit normal n, shape (nu, nv, 3)."""
        norm = np.sqrt(1.0 + self.hx**2 + self.hy**2)
        gu, gv = np.meshgrid(self.u, self.v, indexing="ij")
        return np.stack(
            [gu - d * self.hx / norm, gv - d * self.hy / norm, self.h + d / norm], axis=-1
        )

    def principal_curvatures(self) -> tuple[np.ndarray, np.ndarray]:
        """Principal curvatures (k_min, k_max) on the grid, 1/m; positive: concave upward."""
        du, dv = self.u[1] - self.u[0], self.v[1] - self.v[0]
        hxx = np.gradient(self.hx, du, axis=0)
        hyy = np.gradient(self.hy, dv, axis=1)
        hxy = np.gradient(self.hx, dv, axis=1)
        g = 1.0 + self.hx**2 + self.hy**2
        # Shape operator of a graph: II / I, with II = hess / sqrt(g), I = id + grad grad^T.
        e, f_, gg = 1.0 + self.hx**2, self.hx * self.hy, 1.0 + self.hy**2
        big_l, big_m, big_n = hxx / np.sqrt(g), hxy / np.sqrt(g), hyy / np.sqrt(g)
        mean = (e * big_n - 2 * f_ * big_m + gg * big_l) / (2 * (e * gg - f_**2))
        gauss = (big_l * big_n - big_m**2) / (e * gg - f_**2)
        root = np.sqrt(np.maximum(mean**2 - gauss, 0.0))
        return mean - root, mean + root


# ---------------------------------------------------------------------------------------------
# OCC primitives (model units)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Builder:
    """Adds solids to the OCC model; converts metres to model units."""

    occ: object
    scale: float = 1.0 / MODEL_UNIT

    def point(self, x: float, y: float, z: float) -> int:
        return self.occ.addPoint(x * self.scale, y * self.scale, z * self.scale)

    def box(self, x0: float, y0: float, z0: float, x1: float, y1: float, z1: float) -> int:
        s = self.scale
        return self.occ.addBox(x0 * s, y0 * s, z0 * s, (x1 - x0) * s, (y1 - y0) * s, (z1 - z0) * s)

    def rounded_box(self, lo: Sequence[float], hi: Sequence[float], radius: float) -> int:
        """The box [lo, hi] grown by ``radius`` with every edge rounded: box (+) ball(radius)."""
        tag = self.box(*(c - radius for c in lo), *(c + radius for c in hi))
        if radius == 0.0:
            return tag
        faces = self.occ.getSurfaceLoops(tag)[1][0]
        edges = sorted({c for f in faces for c in self.occ.getCurveLoops(f)[1][0]})
        return self.occ.fillet([tag], edges, [radius * self.scale], removeVolume=True)[0][1]

    def revolved(self, feature: profiles.Feature, y_axis: float) -> int:
        """Solid of revolution of the right half of a 2D profile about its vertical axis.

        The 2D profile (x, height) lies in the plane y = ``y_axis``; its apex is on the axis.
        The region between the axis, the base plane and the right half of the top chain is
        revolved by 2 pi. A foot above the base plane is joined to it by a vertical segment
        (that part lies inside the flat offset slab, see the module docstring).
        """
        x_axis, apex_h = feature.apex
        right = [q for q in feature.top if q.start[0] >= x_axis - 1e-12 * abs(apex_h)]
        pen = _PlanePen(self, y_axis)
        curves = [piece.draw(pen) for piece in right]
        foot_x, foot_h = right[-1].end
        if foot_h > 1e-9 * apex_h:
            curves.append(self._line((foot_x, foot_h), (foot_x, 0.0), y_axis))
        curves.append(self._line((foot_x, 0.0), (x_axis, 0.0), y_axis))
        curves.append(self._line((x_axis, 0.0), (x_axis, apex_h), y_axis))
        face = self.occ.addPlaneSurface([self.occ.addCurveLoop(curves)])
        s = self.scale
        out = self.occ.revolve([(2, face)], x_axis * s, y_axis * s, 0.0, 0, 0, 1, 2 * math.pi)
        return next(t for d, t in out if d == 3)

    def polyhedron(self, faces: list[np.ndarray]) -> int:
        """Convex solid bounded by planar polygons (vertex arrays in cyclic order, m)."""
        points: dict[tuple[float, ...], int] = {}
        lines: dict[tuple[int, int], int] = {}
        surfaces = []
        for poly in faces:
            tags = [points.setdefault(tuple(p), self.point(*p)) for p in poly]
            loop = []
            for a, c in zip(tags, tags[1:] + tags[:1], strict=True):
                key = (min(a, c), max(a, c))
                if key not in lines:
                    lines[key] = self.occ.addLine(a, c)
                loop.append(lines[key])
            surfaces.append(self.occ.addPlaneSurface([self.occ.addCurveLoop(loop)]))
        return self.occ.addVolume([self.occ.addSurfaceLoop(surfaces)])

    def _line(self, p0: tuple[float, float], p1: tuple[float, float], y: float) -> int:
        return self.occ.addLine(self.point(p0[0], y, p0[1]), self.point(p1[0], y, p1[1]))

    def height_field_body(self, surface: _SampledSurface, d: float, z_bottom: float) -> int:
        """Solid below the B-spline surface through the offset points p + d n, down to z_bottom.

        The surface spans the grid (beyond the domain by the grid margin); the solid is the part
        below it of a box that covers the domain and lies inside the surface's lateral extent.
        """
        pts = surface.offset_points(d)
        u, v = surface.u, surface.v
        coef = [RectBivariateSpline(u, v, pts[..., i], kx=3, ky=3, s=0) for i in range(3)]
        tx, ty = coef[0].get_knots()
        nu, nv = len(tx) - 4, len(ty) - 4
        c = np.stack([f.get_coeffs().reshape(nu, nv) for f in coef], axis=-1)
        tags = [self.point(*c[i, j]) for j in range(nv) for i in range(nu)]
        knots_u, mult_u = _knots(tx)
        knots_v, mult_v = _knots(ty)
        s = self.scale
        face = self.occ.addBSplineSurface(
            tags,
            nu,
            degreeU=3,
            degreeV=3,
            knotsU=list(knots_u * s),
            knotsV=list(knots_v * s),
            multiplicitiesU=mult_u,
            multiplicitiesV=mult_v,
        )
        # Inside the sampled extent by half the margin, which exceeds the lateral shift d |n_xy|
        # of the offset points, so that the surface cuts through the box.
        mu, mv = -0.5 * u[0], -0.5 * v[0]
        top = float(np.max(pts[..., 2])) + 1e-6
        box = self.box(u[0] + mu, v[0] + mv, z_bottom, u[-1] - mu, v[-1] - mv, top)
        out, out_map = self.occ.fragment([(3, box)], [(2, face)])
        volumes = [t for dim, t in out if dim == 3]
        lower = min(volumes, key=lambda t: self.occ.getBoundingBox(3, t)[2])
        self.occ.remove([(3, t) for t in volumes if t != lower], recursive=True)
        bounding = set(self.occ.getSurfaceLoops(lower)[1][0])
        self.occ.remove([(2, t) for dim, t in out_map[1] if dim == 2 and t not in bounding], True)
        return lower


@dataclass
class _PlanePen:
    """Draws 2D profile pieces (x, height) in the vertical plane y (a curves.Pen)."""

    builder: _Builder
    y: float

    def _points(self, *points: profiles.Point) -> list[int]:
        return [self.builder.point(p[0], self.y, p[1]) for p in points]

    def line(self, p0: profiles.Point, p1: profiles.Point) -> int:
        """Add the segment p0 -> p1."""
        return self.builder.occ.addLine(*self._points(p0, p1))

    def arc(self, center: profiles.Point, p0: profiles.Point, p1: profiles.Point) -> int:
        """Add the circular arc p0 -> p1 about ``center``."""
        c, q0, q1 = self._points(center, p0, p1)
        return self.builder.occ.addCircleArc(q0, c, q1)

    def ellipse_arc(self, center: profiles.Point, major: profiles.Point, p0: profiles.Point,
                    p1: profiles.Point) -> int:
        """Add the elliptic arc p0 -> p1 about ``center``."""
        c, m, q0, q1 = self._points(center, major, p0, p1)
        return self.builder.occ.addEllipseArc(q0, c, m, q1)

    def spline(self, points: np.ndarray) -> int:
        """Add the spline through ``points``."""
        return self.builder.occ.addSpline(self._points(*points))


def _knots(t: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Distinct knots and multiplicities of a clamped knot vector."""
    values, counts = np.unique(t, return_counts=True)
    return values, [int(c) for c in counts]


# ---------------------------------------------------------------------------------------------
# Bodies: what the fragment inputs stand for
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Apex:
    """A protrusion apex (m) and its radius of curvature (m), for the tip size field."""

    point: tuple[float, float, float]
    radius: float


@dataclass
class _Bodies:
    """Volume tags of the fragment inputs, by role."""

    li: list[int] = field(default_factory=list)
    voids: list[int] = field(default_factory=list)
    offsets: list[list[int]] = field(default_factory=list)  # per layer k: components of B_k
    grains: list[list[int]] = field(default_factory=list)  # per grain: its cell volumes
    grain_layer: int | None = None  # index of the mosaic layer
    z_bottom: float = 0.0  # bottom of the domain box, m (below 0 for curved surfaces)
    surface_size: float = math.inf  # element size on a curved Li surface, m


def _axisymmetric_items(cfg: GeometryConfig) -> list[tuple[object, float, bool]]:
    """Protrusions and shaped voids as (spec item, lateral y of the axis, is_void)."""
    items = [(p, p.y, False) for p in cfg.protrusions]
    items += [(v, v.y, True) for v in cfg.void_shapes()]
    return items


def _profile(item: object, d: float, dx: float = 0.0) -> profiles.Feature:
    """2D profile (x, height) of a protrusion or shaped void offset by d, its axis moved by dx."""
    if dx:
        item = item.model_copy(update={"x": item.x + dx})
    return item.feature(d)


def _images(x: float, y: float, reach: float, W: float, D: float, periodic: bool):
    """Lateral shifts (dx, dy) of the periodic images of a feature of lateral reach ``reach``."""
    if not periodic:
        return [(0.0, 0.0)]
    shifts = []
    for dx in (-W, 0.0, W):
        for dy in (-D, 0.0, D):
            if -reach < x + dx < W + reach and -reach < y + dy < D + reach:
                shifts.append((dx, dy))
    return shifts


def _add_bodies(b: _Builder, cfg: GeometryConfig) -> tuple[_Bodies, list[_Apex]]:
    """Add the Li, void and offset bodies of ``cfg`` to the OCC model (see module docstring)."""
    W, D = cfg.domain.width, cfg.depth()
    periodic = cfg.domain.lateral == "periodic"
    thickness = [layer.thickness for layer in cfg.layers]
    offsets = np.cumsum([0.0, *thickness])
    bodies = _Bodies(offsets=[[] for _ in thickness])
    apexes = []

    height = height_field_3d(cfg)
    if height is not None:
        steps = cfg.surface.sampling_steps()
        margin = 4.0 * offsets[-1]
        sampled = _SampledSurface.sample(height, steps, W, D, margin)
        k_min, k_max = sampled.principal_curvatures()
        kappa = float(max(np.max(k_max), 1e-300))
        if offsets[-1] * kappa >= 0.8:
            raise ValueError(
                f"layers: the interphase ({offsets[-1]:g} m in total) is thicker than 0.8 x the "
                f"smallest valley radius of curvature of the surface ({1.0 / kappa:g} m); the "
                "conformal layer would fold over itself. Use thinner layers or a smoother surface"
            )
        # Element size on the curved surface: the tip rule on its smallest radius of
        # curvature, and at most a quarter of the feature scale (lambda or l_c).
        rho = 1.0 / max(float(np.max(np.abs([k_min, k_max]))), 1e-300)
        bodies.surface_size = min(cfg.mesh.tip_size_factor * rho, 1.5 * steps[0])
        bodies.z_bottom = -0.1 * cfg.domain.length
        z_body = 2.0 * bodies.z_bottom
        bodies.li.append(b.height_field_body(sampled, 0.0, z_body))
        for k, d in enumerate(offsets[1:]):
            bodies.offsets[k].append(b.height_field_body(sampled, d, z_body))
    else:
        for k, d in enumerate(offsets[1:]):
            # The slab reaches below the base plane, so that the union with the feature
            # offsets (which dip to -d) never cuts the plane z = 0.
            bodies.offsets[k].append(b.box(0.0, 0.0, -2.0 * offsets[-1], W, D, d))

    for item, y, is_void in _axisymmetric_items(cfg):
        for k, d in enumerate(offsets):
            feature = _profile(item, d)
            reach = feature.right[0] - feature.apex[0]
            for dx, dy in _images(item.x, y, reach, W, D, periodic):
                tag = b.revolved(_profile(item, d, dx), y + dy)
                if k > 0:
                    bodies.offsets[k - 1].append(tag)
                elif is_void:
                    bodies.voids.append(tag)
                else:
                    bodies.li.append(tag)
                    top = feature.apex
                    apexes.append(_Apex((top[0] + dx, y + dy, top[1]), feature.tip_radius))

    if cfg.voids is not None:
        gap = cfg.voids.height()
        for x0, y0, x1, y1 in cfg.voids.gap_boxes(3, W, D):
            bodies.voids.append(b.box(x0, y0, 0.0, x1, y1, gap))
            reach = 0.5 * max(x1 - x0, y1 - y0) + offsets[-1]
            centre = (0.5 * (x0 + x1), 0.5 * (y0 + y1))
            for dx, dy in _images(*centre, reach, W, D, periodic):
                lo, hi = (x0 + dx, y0 + dy, 0.0), (x1 + dx, y1 + dy, gap)
                for k, d in enumerate(offsets[1:]):
                    bodies.offsets[k].append(b.rounded_box(lo, hi, d))
    # One solid per offset body: the walls of the components inside the union would otherwise
    # split the layers into many volumes with sliver faces.
    for k, components in enumerate(bodies.offsets):
        if len(components) > 1:
            out, _ = b.occ.fuse([(3, components[0])], [(3, t) for t in components[1:]])
            bodies.offsets[k] = [t for dim, t in out if dim == 3]
    return bodies, apexes


# ---------------------------------------------------------------------------------------------
# Mosaic layer: Voronoi grains
# ---------------------------------------------------------------------------------------------


def _voronoi_cells(seeds: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[list[np.ndarray]]:
    """Voronoi cells of ``seeds`` clipped to the box [lo, hi], as lists of planar polygons.

    The seeds are mirrored across the six box planes; the cells of the original seeds are then
    bounded by the box (their faces on the box planes are the bisectors with the mirror seeds).

    Returns:
        For every seed, its faces as (m, 3) arrays of vertices in cyclic order.
    """
    n = len(seeds)
    mirrored = [seeds]
    for axis in range(3):
        for plane in (lo[axis], hi[axis]):
            image = seeds.copy()
            image[:, axis] = 2.0 * plane - image[:, axis]
            mirrored.append(image)
    vor = Voronoi(np.concatenate(mirrored))
    cells: list[list[np.ndarray]] = [[] for _ in range(n)]
    for (a, c), verts in zip(vor.ridge_points, vor.ridge_vertices, strict=True):
        for i, j in ((a, c), (c, a)):
            if i >= n:
                continue
            if -1 in verts:
                raise ValueError("layers: a mosaic grain is unbounded (internal Voronoi error)")
            pts = vor.vertices[verts]
            centre = pts.mean(axis=0)
            normal = vor.points[j] - vor.points[i]
            e1 = pts[0] - centre
            e1 /= np.linalg.norm(e1)
            e2 = np.cross(normal / np.linalg.norm(normal), e1)
            angle = np.arctan2((pts - centre) @ e2, (pts - centre) @ e1)
            cells[i].append(pts[np.argsort(angle)])
    return cells


def _feature_height(cfg: GeometryConfig, x: np.ndarray, y: np.ndarray, d: float) -> np.ndarray:
    """Approximate height of the Li surface offset by d above (x, y), m (seed placement only).

    Flat: d; curved surface: h + d; an axisymmetric feature is taken as the half-ellipsoid
    through its offset apex and foot.
    """
    height = height_field_3d(cfg)
    z = np.full_like(x, d) if height is None else height(x, y)[0] + d
    for item, y0, _ in _axisymmetric_items(cfg):
        feature = _profile(item, d)
        reach = feature.right[0] - feature.apex[0]
        r2 = ((x - item.x) ** 2 + (y - y0) ** 2) / reach**2
        cap = feature.apex[1] * np.sqrt(np.clip(1.0 - r2, 0.0, None))
        z = np.maximum(z, cap)
    return z


def _add_grains(b: _Builder, cfg: GeometryConfig, bodies: _Bodies) -> None:
    """Add the Voronoi grains of the mosaic layer (if any) as bodies.

    Seeds: round(W D / grain_size^2) lateral positions drawn uniformly (seeded), lifted to the
    layer's mid-surface; each grain is the seed's 3D Voronoi cell, so grains are columns across
    the thin layer.
    """
    mosaic = [k for k, layer in enumerate(cfg.layers) if isinstance(layer, MosaicLayer)]
    if not mosaic:
        return
    if len(mosaic) > 1:
        raise ValueError(f"layers.{mosaic[1]}: a 3D geometry may have one mosaic layer only")
    k = mosaic[0]
    if cfg.domain.lateral == "periodic":
        raise ValueError(
            f"layers.{k}: a mosaic layer needs domain.lateral 'symmetric' in 3D (periodic grain "
            "layouts are not implemented)"
        )
    layer: MosaicLayer = cfg.layers[k]
    W, D = cfg.domain.width, cfg.depth()
    d_mid = sum(layer_.thickness for layer_ in cfg.layers[:k]) + 0.5 * layer.thickness
    n = max(2, round(W * D / layer.grain_size**2))
    rng = np.random.default_rng(layer.seed)
    xy = rng.uniform((0.0, 0.0), (W, D), size=(n, 2))
    z = _feature_height(cfg, xy[:, 0], xy[:, 1], d_mid)
    lo = np.array([0.0, 0.0, 2.0 * bodies.z_bottom - 0.05 * cfg.domain.length])
    hi = np.array([W, D, cfg.domain.length])
    cells = [b.polyhedron(f) for f in _voronoi_cells(np.column_stack([xy, z]), lo, hi)]
    # Clip the cells to the layer region B_k minus everything inside it, so that grain walls do
    # not cut the other layers or the electrolyte.
    region = b.occ.copy([(3, t) for t in bodies.offsets[k]])
    inner = bodies.offsets[k - 1] if k > 0 else bodies.li + bodies.voids
    if inner:
        region, _ = b.occ.cut(region, b.occ.copy([(3, t) for t in inner]))
    _, out_map = b.occ.intersect([(3, c) for c in cells], region)
    bodies.grains = [[t for dim, t in pieces if dim == 3] for pieces in out_map[: len(cells)]]
    bodies.grain_layer = k


# ---------------------------------------------------------------------------------------------
# Fragment and classification
# ---------------------------------------------------------------------------------------------

_LI, _VOID, _OUTSIDE = "li", "void", "outside"
"""Kinds of removed volumes."""


@dataclass
class _Classified:
    """Kept volumes by region name, removed volumes by kind."""

    regions: dict[str, list[int]]
    removed: dict[int, str]
    layer_of: dict[int, int]  # kept interphase volume -> layer index


def _fragment(b: _Builder, cfg: GeometryConfig, bodies: _Bodies) -> _Classified:
    """Fragment the domain box with all bodies and classify the resulting volumes."""
    W, D, L = cfg.domain.width, cfg.depth(), cfg.domain.length
    box = b.box(0.0, 0.0, bodies.z_bottom, W, D, L)
    inputs = [*bodies.li, *bodies.voids, *(t for ts in bodies.offsets for t in ts)]
    inputs += [t for ts in bodies.grains for t in ts]
    _, out_map = b.occ.fragment([(3, box)], [(3, t) for t in inputs])

    def pieces(tags: list[int], first: int) -> set[int]:
        return {t for i in range(first, first + len(tags)) for d, t in out_map[i] if d == 3}

    in_box = pieces([box], 0)
    n = 1
    in_li = pieces(bodies.li, n)
    n += len(bodies.li)
    in_void = pieces(bodies.voids, n)
    n += len(bodies.voids)
    in_offset = []
    for ts in bodies.offsets:
        in_offset.append(pieces(ts, n))
        n += len(ts)
    in_grain = []
    for ts in bodies.grains:
        in_grain.append(pieces(ts, n))
        n += len(ts)

    everything = {t for m in out_map for d, t in m if d == 3}
    regions: dict[str, list[int]] = {"electrolyte": []}
    for name in cfg.region_names():
        regions[name] = []
    removed, layer_of = {}, {}
    phase_of_grain = _assign_phases(b, cfg, bodies, in_box, in_li, in_void, in_offset, in_grain)
    for t in sorted(everything):
        if t not in in_box:
            removed[t] = _OUTSIDE
        elif t in in_li:
            removed[t] = _LI
        elif t in in_void:
            removed[t] = _VOID
        else:
            k = next((k for k, s in enumerate(in_offset) if t in s), None)
            if k is None:
                regions["electrolyte"].append(t)
                continue
            layer_of[t] = k
            layer = cfg.layers[k]
            if isinstance(layer, MosaicLayer):
                g = next(g for g, s in enumerate(in_grain) if t in s)
                regions[phase_of_grain[g]].append(t)
            else:
                regions[layer.name].append(t)
    return _Classified(regions, removed, layer_of)


def _assign_phases(b, cfg, bodies, in_box, in_li, in_void, in_offset, in_grain) -> list[str]:
    """Phase name of every grain of the mosaic layer (none without one).

    Grains are visited in a seeded random order; each goes to the phase whose volume lags its
    target (fraction x layer volume) the most, so the phase volumes match the fractions to
    within about one grain volume.
    """
    k = bodies.grain_layer
    if k is None:
        return []
    layer: MosaicLayer = cfg.layers[k]
    inner = in_offset[k - 1] if k > 0 else set()
    in_layer = (in_offset[k] & in_box) - in_li - in_void - inner
    volume = [sum(b.occ.getMass(3, t) for t in s & in_layer) for s in in_grain]
    total = sum(volume)
    assigned = dict.fromkeys((p.name for p in layer.phases), 0.0)
    target = {p.name: p.fraction * total for p in layer.phases}
    names = [""] * len(volume)
    for g in np.random.default_rng(layer.seed + 1).permutation(len(volume)):
        name = max(target, key=lambda p: (target[p] - assigned[p]) / target[p])
        names[g] = name
        assigned[name] += volume[g]
    return names


def _classify_facets(model, cfg: GeometryConfig, vol: _Classified, z_bottom: float) -> dict:
    """Facet group name -> surface tags (see the module docstring, step 3)."""
    W, D, L = (
        cfg.domain.width / MODEL_UNIT,
        cfg.depth() / MODEL_UNIT,
        cfg.domain.length / MODEL_UNIT,
    )
    tol = _REL_TOL * max(W, D, L)
    region_of = {t: name for name, ts in vol.regions.items() for t in ts}
    planes = {
        "counter": (2, L),
        "side_x0": (0, 0.0),
        "side_x1": (0, W),
        "side_y0": (1, 0.0),
        "side_y1": (1, D),
        "li_surface": (2, z_bottom / MODEL_UNIT),
    }
    groups: dict[str, set[int]] = {
        name: set()
        for name in (
            "li_surface",
            "void_wall",
            "counter",
            "interphase_electrolyte",
            "side_x0",
            "side_x1",
            "side_y0",
            "side_y1",
        )
    }
    for kept in region_of:
        for _, s in model.getBoundary([(3, kept)], combined=False, oriented=False):
            s = abs(s)
            up = model.getAdjacencies(2, s)[0]
            kinds = {vol.removed[t] for t in up if t in vol.removed}
            names = {region_of[t] for t in up if t in region_of}
            if _LI in kinds:
                groups["li_surface"].add(s)
            elif _VOID in kinds:
                groups["void_wall"].add(s)
            elif len(names) == 2 and "electrolyte" in names:
                groups["interphase_electrolyte"].add(s)
            elif sum(t in region_of for t in up) == 1:
                lo, hi = np.reshape(model.getBoundingBox(2, s), (2, 3))
                mid, width = 0.5 * (lo + hi), hi - lo
                for name, (axis, value) in planes.items():
                    if abs(mid[axis] - value) < tol and width[axis] < 1e2 * tol:
                        groups[name].add(s)
    return {name: sorted(tags) for name, tags in groups.items() if tags}


# ---------------------------------------------------------------------------------------------
# Mesh size fields
# ---------------------------------------------------------------------------------------------


def _threshold(fields, in_field: int, size: float, dist_min: float, far: float, growth: float):
    """Threshold field: ``size`` within ``dist_min`` of a feature, then up to ``far``.

    The size grows linearly by (growth - 1) per unit distance, which is a geometric growth by
    the factor ``growth`` from one element to the next.
    """
    f = fields.add("Threshold")
    fields.setNumber(f, "InField", in_field)
    fields.setNumber(f, "SizeMin", size)
    fields.setNumber(f, "SizeMax", far)
    fields.setNumber(f, "DistMin", dist_min)
    fields.setNumber(f, "DistMax", dist_min + max(far - size, 0.0) / (growth - 1.0))
    return f


def _size_fields(
    model, cfg: GeometryConfig, vol: _Classified, facets: dict, apexes, surface_size: float
) -> None:
    """Background mesh size (model units): layers, tips, void rims, surface, far field."""
    m = cfg.mesh
    u = MODEL_UNIT
    W, D, L = cfg.domain.width / u, cfg.depth() / u, cfg.domain.length / u
    far = (m.far_field_size if m.far_field_size is not None else cfg.domain.length / 8) / u
    far /= m.refinement
    fields = model.mesh.field
    sizes = []

    def distance(key: str, tags: list[int], spacing: float) -> int:
        """Distance field to curves or surfaces sampled at about ``spacing``.

        Gmsh samples each entity with ``Sampling`` points per direction; the total is capped
        at _MAX_DISTANCE_SAMPLES points.
        """
        f = fields.add("Distance")
        fields.setNumbers(f, key, tags)
        extent = max(W, D) if key == "SurfacesList" else max(W, D, L)
        per_entity = _MAX_DISTANCE_SAMPLES / len(tags)
        cap = math.sqrt(per_entity) if key == "SurfacesList" else per_entity
        sampling = min(max(20, math.ceil(extent / spacing)), cap)
        fields.setNumber(f, "Sampling", int(max(sampling, 4)))
        return f

    finest_surface = far
    for k, layer in enumerate(cfg.layers):
        h = layer.thickness / u / m.layer_elements / m.refinement
        volumes = [t for t, j in vol.layer_of.items() if j == k]
        cells = 6.0 * sum(model.occ.getMass(3, t) for t in volumes) / h**3
        if cells > MAX_LAYER_CELLS:
            raise ValueError(
                f"mesh.layer_elements: {m.layer_elements} elements across layers.{k} "
                f"({layer.thickness:g} m thick) need about {cells:.2g} tetrahedra in that layer "
                f"alone (limit {MAX_LAYER_CELLS:.0e}); isotropic tetrahedra in a thin layer "
                "over a wide 3D domain are too many. Use fewer elements across the layer "
                "(mesh.layer_elements: 1 with P2), a smaller domain, or a thicker layer"
            )
        f = fields.add("Constant")
        fields.setNumbers(f, "VolumesList", volumes)
        fields.setNumber(f, "VIn", h)
        fields.setNumber(f, "VOut", far)
        fields.setNumber(f, "IncludeBoundary", 1)
        sizes.append(f)
        finest_surface = h  # grading starts from the outermost layer
    finest_surface = min(finest_surface, surface_size / u / m.refinement)
    outer = facets.get("interphase_electrolyte") or facets.get("li_surface", [])
    if outer and finest_surface < far:
        dist = distance("SurfacesList", outer, finest_surface)
        sizes.append(_threshold(fields, dist, finest_surface, 0.0, far, m.growth))
    for apex in apexes:
        rho = apex.radius / u
        f = fields.add("MathEval")
        fields.setString(f, "F", distance_to([c / u for c in apex.point]))
        size = m.tip_size_factor * rho / m.refinement
        sizes.append(_threshold(fields, f, size, rho, far, m.growth))
    rims = _void_rims(model, facets)
    if rims:
        edge = m.void_edge_size if m.void_edge_size is not None else cfg.void_height() / 3.0
        edge = edge / u / m.refinement
        sizes.append(
            _threshold(fields, distance("CurvesList", rims, edge), edge, edge, far, m.growth)
        )
    const = fields.add("MathEval")
    fields.setString(const, "F", literal(far))
    sizes.append(const)
    f_min = fields.add("Min")
    fields.setNumbers(f_min, "FieldsList", sizes)
    fields.setAsBackgroundMesh(f_min)


def _void_rims(model, facets: dict) -> list[int]:
    """Curves where a void wall meets the Li surface (or the box sides)."""
    walls = facets.get("void_wall", [])
    if not walls:
        return []
    wall_curves = {
        abs(t)
        for _, t in model.getBoundary([(2, s) for s in walls], combined=False, oriented=False)
    }
    other = [s for name, ts in facets.items() if name != "void_wall" for s in ts]
    other_curves = {
        abs(t)
        for _, t in model.getBoundary([(2, s) for s in other], combined=False, oriented=False)
    }
    return sorted(wall_curves & other_curves)


def _set_periodic(model, facets: dict, W: float, D: float) -> None:
    """Declare the faces on x = W (y = D) periodic copies of those on x = 0 (y = 0).

    Faces are paired by their bounding boxes after the translation; a face without partner
    means the geometry itself is not periodic, which is an error.
    """
    tol = _REL_TOL * max(W, D)
    for master, slave, shift in (
        ("side_x0", "side_x1", (W, 0.0)),
        ("side_y0", "side_y1", (0.0, D)),
    ):
        boxes = {s: np.array(model.getBoundingBox(2, s)) for s in facets.get(master, [])}
        move = np.array([shift[0], shift[1], 0.0, shift[0], shift[1], 0.0])
        for s in facets.get(slave, []):
            target = np.array(model.getBoundingBox(2, s)) - move
            match = [m for m, bb in boxes.items() if np.max(np.abs(bb - target)) < 1e3 * tol]
            if len(match) != 1:
                raise ValueError(
                    "domain.lateral: 'periodic' needs a geometry that repeats across the sides, "
                    f"but face {s} on {slave} has {len(match)} partners on {master}"
                )
            affine = [1, 0, 0, shift[0], 0, 1, 0, shift[1], 0, 0, 1, 0, 0, 0, 0, 1]
            model.mesh.setPeriodic(2, [s], match, affine)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def build_occ_3d(cfg: GeometryConfig, model) -> None:
    """Build the 3D geometry of ``cfg`` in an initialised Gmsh model (OpenCASCADE kernel).

    Adds the solids, fragments them into conformal regions, removes the Li and the voids, adds
    the physical groups of the mesh contract (cell groups ``electrolyte`` and the interphase
    region names; facet groups ``li_surface``, ``void_wall``, ``counter``,
    ``interphase_electrolyte``, ``side_x0``, ``side_x1``, ``side_y0``, ``side_y1``; groups that
    would be empty are not created) and sets the background mesh-size field. It does not mesh.
    The model is in micrometres: scale the mesh coordinates by :data:`MODEL_UNIT`.

    Args:
        cfg: A validated geometry config with ``dimension == 3``.
        model: ``gmsh.model`` of an initialised Gmsh session (current model empty).

    Raises:
        ValueError: The config cannot be built in 3D (the message names the key).
    """
    if cfg.dimension != 3:
        raise ValueError(f"dimension: build_occ_3d builds 3D geometries, got {cfg.dimension}")
    b = _Builder(model.occ)
    bodies, apexes = _add_bodies(b, cfg)
    _add_grains(b, cfg, bodies)
    vol = _fragment(b, cfg, bodies)
    model.occ.synchronize()
    facets = _classify_facets(model, cfg, vol, bodies.z_bottom)
    model.occ.remove([(3, t) for t in vol.removed], recursive=True)
    model.occ.synchronize()
    for i, (name, tags) in enumerate(vol.regions.items(), start=1):
        if not tags:
            raise ValueError(f"layers: region {name!r} has no volume in this geometry")
        model.addPhysicalGroup(3, tags, i, name=name)
    for i, (name, tags) in enumerate(facets.items(), start=1):
        model.addPhysicalGroup(2, tags, i, name=name)
    if cfg.domain.lateral == "periodic":
        _set_periodic(model, facets, cfg.domain.width / MODEL_UNIT, cfg.depth() / MODEL_UNIT)
    _size_fields(model, cfg, vol, facets, apexes, bodies.surface_size)
