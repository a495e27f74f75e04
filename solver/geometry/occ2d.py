"""2D planar and axisymmetric Gmsh (OpenCASCADE) model of a Li | interphase | electrolyte domain.

Construction (all shapes in the plane z = 0, x = r for axisymmetric sections):

1. the box B = [0, W] x [-L/10, L] (reaching below the base plane, so that no Li surface touches
   its edge; everything below the Li surface is Li and is removed);
2. the Li body D_0 (base surface plus protrusions, closed far below y = 0), the envelope
   E_0 = D_0 + voids, and for each layer k the dilated body D_k = E_0 (+) disk(T_k), built
   feature by feature from :mod:`solver.geometry.profiles` (T_k = thickness of layers 1..k);
3. mosaic layers: Voronoi grain polygons clipped to their layer;
4. one ``fragment`` of all shapes makes a conforming partition; every piece is classified by the
   inputs it came from: outside B or inside D_0 (removed), void (E_0 minus D_0, removed), layer k
   (inside D_k, not in D_(k-1)), mosaic grain, electrolyte (rest of B);
5. boundary curves are classified by the pieces on their two sides and by position.

Local mesh sizes are Gmsh fields, all divided by ``mesh.refinement``: sizes graded linearly
(rate ``mesh.growth`` - 1) away from the layers, the protrusion tips, the void walls and the Li
surface, capped by the far-field size. Uniform layers that are strips between the lateral sides
are structured (transfinite) with ``layer_elements`` cells across and at most
``layer_aspect_ratio`` times longer along; other layers get isotropic cells of size
thickness / ``layer_elements``.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from solver.geometry import mosaic, profiles
from solver.geometry.expressions import distance_to, literal
from solver.geometry.spec import GeometryConfig, MosaicLayer

__all__ = ["BOUNDARY_TAGS", "Occ2DModel", "build_occ_2d"]

_LOG = logging.getLogger(__name__)

UNIT = profiles.GMSH_LENGTH_UNIT
"""Metres per Gmsh model unit: every coordinate and size handed to Gmsh is divided by it."""

BOUNDARY_TAGS: dict[str, int] = {
    "li_surface": 1,
    "void_wall": 2,
    "counter": 3,
    "interphase_electrolyte": 4,
    "side_left": 5,
    "side_right": 6,
    "axis": 5,
    "side_outer": 6,
}
"""Facet tags of the 2D boundary groups (axisymmetric sections use ``axis``/``side_outer``)."""


@dataclass
class Occ2DModel:
    """The Gmsh entities of the named groups of a 2D model.

    Attributes:
        regions: Cell group name -> Gmsh surface tags.
        boundaries: Facet group name -> Gmsh curve tags.
    """

    regions: dict[str, list[int]] = field(default_factory=dict)
    boundaries: dict[str, list[int]] = field(default_factory=dict)


class _ShapeWriter:
    """Adds profile features to the OCC kernel as closed surfaces.

    It is the :class:`~solver.geometry.curves.Pen` of the pieces of a chain: each piece starts
    at the end point of the one before (``_current``).
    """

    def __init__(self, occ, y_bottom: float):
        self.occ = occ
        self.y_bottom = y_bottom
        self._current = 0

    def _point(self, p) -> int:
        return self.occ.addPoint(float(p[0]) / UNIT, float(p[1]) / UNIT, 0.0)

    def _advance(self, end: profiles.Point) -> tuple[int, int]:
        """Start and end point tags of the next piece; its end starts the one after."""
        start, self._current = self._current, self._point(end)
        return start, self._current

    def line(self, p0: profiles.Point, p1: profiles.Point) -> int:
        """Add the segment to ``p1`` (see :class:`~solver.geometry.curves.Pen`)."""
        start, end = self._advance(p1)
        return self.occ.addLine(start, end)

    def arc(self, center: profiles.Point, p0: profiles.Point, p1: profiles.Point) -> int:
        """Add the circular arc to ``p1`` about ``center``."""
        start, end = self._advance(p1)
        return self.occ.addCircleArc(start, self._point(center), end)

    def ellipse_arc(self, center: profiles.Point, major: profiles.Point, p0: profiles.Point,
                    p1: profiles.Point) -> int:
        """Add the elliptic arc to ``p1`` about ``center``."""
        start, end = self._advance(p1)
        c, m = self._point(center), self._point(major)
        return self.occ.addEllipseArc(start, c, m, end)

    def spline(self, points: np.ndarray) -> int:
        """Add the spline through ``points`` (its first point is the current one)."""
        start, end = self._advance(points[-1])
        inner = [self._point(p) for p in points[1:-1]]
        return self.occ.addSpline([start, *inner, end])

    def region(self, feature: profiles.Feature) -> int:
        """Surface bounded by the feature's top chain and closed down to ``y_bottom``."""
        occ = self.occ
        first = self._point(feature.left)
        self._current = first
        curves = [piece.draw(self) for piece in feature.top]
        current = self._current
        right, left = feature.right, feature.left
        below_right = self._point((right[0], self.y_bottom))
        below_left = self._point((left[0], self.y_bottom))
        curves += [
            occ.addLine(current, below_right),
            occ.addLine(below_right, below_left),
            occ.addLine(below_left, first),
        ]
        return occ.addPlaneSurface([occ.addCurveLoop(curves)])

    def body(self, items: list[profiles.Feature]) -> list[tuple[int, int]]:
        """Union of the feature regions."""
        tags = [(2, self.region(f)) for f in items]
        if len(tags) == 1:
            return tags
        fused, _ = self.occ.fuse(tags[:1], tags[1:])
        return fused


def _offsets(cfg: GeometryConfig) -> list[float]:
    """Cumulative thickness T_k at the outer side of each layer k = 1..n, m."""
    return [float(t) for t in np.cumsum([layer.thickness for layer in cfg.layers])]


def _mosaic_grains(
    cfg: GeometryConfig,
    layer: MosaicLayer,
    inner: float,
    occ,
    layer_shape: list[tuple[int, int]],
) -> list[list[tuple[int, int]]]:
    """Grain surfaces of a mosaic layer grouped by phase (the layer shape is consumed)."""
    W, L = cfg.domain.width, cfg.domain.length
    seeds = mosaic.grain_seeds(cfg, layer, inner)
    cells = mosaic.voronoi_cells(seeds, W, cfg.domain.lateral == "periodic", extent=W + L)
    polygons = []
    for _, vertices in cells:
        points = [occ.addPoint(float(x) / UNIT, float(y) / UNIT, 0.0) for x, y in vertices]
        lines = [occ.addLine(a, b) for a, b in zip(points, points[1:] + points[:1], strict=True)]
        polygons.append((2, occ.addPlaneSurface([occ.addCurveLoop(lines)])))
    _, piece_map = occ.fragment(layer_shape, polygons)
    inside = {dt for i in range(len(layer_shape)) for dt in piece_map[i]}
    grain_pieces: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (grain, _), pieces in zip(cells, piece_map[len(layer_shape):], strict=True):
        grain_pieces[grain] += [dt for dt in pieces if dt in inside]
    outside = {dt for pieces in piece_map for dt in pieces} - inside
    occ.remove(sorted(outside), recursive=True)
    grains = sorted(g for g, pieces in grain_pieces.items() if pieces)
    areas = np.array([sum(occ.getMass(*dt) for dt in grain_pieces[g]) for g in grains])
    phase_of = mosaic.assign_phases(areas, layer)
    by_phase: list[list[tuple[int, int]]] = [[] for _ in layer.phases]
    for g, k in zip(grains, phase_of, strict=True):
        by_phase[k] += grain_pieces[g]
    return by_phase


def build_occ_2d(cfg: GeometryConfig, model, *, structured_layers: bool = True) -> Occ2DModel:
    """Create the 2D geometry, physical groups and mesh-size fields in ``model`` (OCC kernel).

    Args:
        cfg: Validated geometry (dimension 2).
        model: ``gmsh.model`` of an initialised Gmsh session with a current (empty) model.
        structured_layers: Mesh uniform layers as structured strips where possible
            (anisotropic, ``mesh.layer_aspect_ratio``); False: isotropic elements everywhere.

    Returns:
        The region and boundary entity lists.
    """
    occ = model.occ
    W, L = cfg.domain.width, cfg.domain.length
    writer = _ShapeWriter(occ, y_bottom=-(W + L))
    T = _offsets(cfg)

    # The box reaches below the base plane so that no Li surface touches its bottom edge
    # (sinusoid valleys, random minima); everything below the Li surface is Li and removed.
    below_base = 0.1 * L
    box = [(2, occ.addRectangle(0.0, -below_base / UNIT, 0.0, W / UNIT, (L + below_base) / UNIT))]
    li = writer.body(
        [profiles.base_profile(cfg, 0.0), *profiles.features(cfg, 0.0, with_voids=False)]
    )
    # The envelope E_0 = Li + voids, fused like the dilated bodies so its curves split alike.
    envelope = (
        writer.body(
            [
                profiles.base_profile(cfg, 0.0),
                *profiles.features(cfg, 0.0, with_voids=False),
                *profiles.void_features_all(cfg, 0.0),
            ]
        )
        if cfg.voids is not None
        else []
    )
    bodies = [
        writer.body([profiles.base_profile(cfg, t), *profiles.features(cfg, t, with_voids=True)])
        for t in T
    ]
    # Mosaic grains: each phase's grains, built inside their layer (D_k minus the body below).
    phase_shapes: dict[str, list[tuple[int, int]]] = {}
    for k, layer in enumerate(cfg.layers):
        if not isinstance(layer, MosaicLayer):
            continue
        below = occ.copy(bodies[k - 1] if k > 0 else envelope or li)
        shape, _ = occ.cut(occ.copy(bodies[k]), below)
        shape, _ = occ.intersect(shape, occ.copy(box))
        inner = T[k - 1] if k > 0 else 0.0
        grains = _mosaic_grains(cfg, layer, inner, occ, shape)
        for phase, shapes in zip(layer.phases, grains, strict=True):
            phase_shapes[phase.name] = shapes

    groups = {"box": box, "li": li, "envelope": envelope}
    groups |= {f"body{k}": body for k, body in enumerate(bodies)}
    groups |= {f"phase:{name}": shapes for name, shapes in phase_shapes.items()}
    flat = [dt for shapes in groups.values() for dt in shapes]
    _, piece_map = occ.fragment(flat[:1], flat[1:])
    occ.synchronize()
    index = {dt: i for i, dt in enumerate(flat)}
    members = {
        name: {tag for dt in shapes for _, tag in piece_map[index[dt]]}
        for name, shapes in groups.items()
    }

    label: dict[int, str] = {}
    for tag in members["box"] - members["li"]:
        if tag in members["envelope"]:
            label[tag] = "void"
            continue
        k = next((k for k in range(len(bodies)) if tag in members[f"body{k}"]), None)
        if k is None:
            label[tag] = "electrolyte"
        elif isinstance(cfg.layers[k], MosaicLayer):
            phases = [p.name for p in cfg.layers[k].phases]
            phase = next((p for p in phases if tag in members[f"phase:{p}"]), None)
            if phase is None:
                raise RuntimeError(f"a piece of mosaic layer {k} lies in no grain (surface {tag})")
            label[tag] = phase
        else:
            label[tag] = cfg.layers[k].name

    result = Occ2DModel()
    result.boundaries = _classify_curves(cfg, model, label, members["li"])
    for tag, name in sorted(label.items()):
        if name != "void":
            result.regions.setdefault(name, []).append(tag)
    missing = [n for n in ["electrolyte", *cfg.region_names()] if n not in result.regions]
    if missing:
        raise ValueError(
            f"layers: regions without area in the domain (got {missing}); allowed: layers and "
            "phases that each cover part of the domain"
        )

    keep = {tag for tags in result.regions.values() for tag in tags}
    occ.remove([(2, t) for _, t in model.getEntities(2) if t not in keep], recursive=True)
    occ.synchronize()
    if cfg.domain.lateral == "periodic":
        _make_periodic(model, result.boundaries, W / UNIT)
    _add_physical_groups(cfg, model, result)
    _size_fields(cfg, model, result, structured_layers)
    return result


def _classify_curves(
    cfg: GeometryConfig, model, label: dict[int, str], li_pieces: set[int]
) -> dict[str, list[int]]:
    """Boundary group name -> curve tags, from the pieces on both sides of each curve."""
    W, L = cfg.domain.width / UNIT, cfg.domain.length / UNIT
    tol = 1e-6 * max(W, L)
    axisym = cfg.coordinates == "axisymmetric"
    sides = (
        {"left": "axis", "right": "side_outer"}
        if axisym
        else {"left": "side_left", "right": "side_right"}
    )
    groups: dict[str, list[int]] = defaultdict(list)
    for _, curve in model.getEntities(1):
        up, _ = model.getAdjacencies(1, curve)
        kinds = [label.get(int(s), "li" if int(s) in li_pieces else "outside") for s in up]
        domain = [k for k in kinds if k not in ("li", "void", "outside")]
        if not domain:
            continue
        x0, y0, _, x1, y1, _ = model.getBoundingBox(1, curve)
        if "li" in kinds:
            groups["li_surface"].append(curve)
        elif "void" in kinds:
            groups["void_wall"].append(curve)
        elif abs(y0 - L) < tol and abs(y1 - L) < tol:
            groups["counter"].append(curve)
        elif abs(x0) < tol and abs(x1) < tol:
            groups[sides["left"]].append(curve)
        elif abs(x0 - W) < tol and abs(x1 - W) < tol:
            groups[sides["right"]].append(curve)
        elif "electrolyte" in domain and len(set(domain)) == 2:
            groups["interphase_electrolyte"].append(curve)
    return dict(groups)


def _make_periodic(model, boundaries: dict[str, list[int]], W: float) -> None:
    """Match the mesh nodes of x = W to those of x = 0 (translation by W)."""
    def by_height(curves: list[int]) -> list[int]:
        return sorted(curves, key=lambda c: model.getBoundingBox(1, c)[1])

    left, right = by_height(boundaries["side_left"]), by_height(boundaries["side_right"])
    if len(left) != len(right):
        raise ValueError(
            "domain.lateral: the sides x = 0 and x = W do not match (got periodic); allowed: "
            "symmetric, or a geometry that repeats with period W"
        )
    translation = [1, 0, 0, W, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    model.mesh.setPeriodic(1, right, left, translation)


def _add_physical_groups(cfg: GeometryConfig, model, result: Occ2DModel) -> None:
    """One physical group per region (tags 1, 2, ...) and per boundary (BOUNDARY_TAGS)."""
    for tag, name in enumerate(["electrolyte", *cfg.region_names()], start=1):
        model.addPhysicalGroup(2, result.regions[name], tag, name)
    for name, curves in result.boundaries.items():
        model.addPhysicalGroup(1, curves, BOUNDARY_TAGS[name], name)


def _curve_points(model, curve: int, n: int = 17) -> np.ndarray:
    """N points along a curve, (n, 2), model units."""
    (t0,), (t1,) = model.getParametrizationBounds(1, curve)
    xyz = np.asarray(model.getValue(1, curve, np.linspace(t0, t1, n))).reshape(-1, 3)
    return xyz[:, :2]


def _ordered_loop(model, surface: int) -> list[int] | None:
    """Boundary curves of ``surface`` in loop order (None when it has holes or is not a loop)."""
    curves = [abs(c) for _, c in model.getBoundary([(2, surface)], oriented=False)]
    ends = {c: [t for _, t in model.getBoundary([(1, c)], oriented=False)] for c in curves}
    if len(curves) < 3 or any(len(e) != 2 for e in ends.values()):
        return None
    loop, point = [curves[0]], ends[curves[0]][1]
    while len(loop) < len(curves):
        step = [c for c in curves if c not in loop and point in ends[c]]
        if len(step) != 1:
            return None  # a hole or a branching boundary
        loop.append(step[0])
        a, b = ends[step[0]]
        point = b if a == point else a
    return loop if point == ends[curves[0]][0] else None


def _structured_layer(
    model,
    surfaces: list[int],
    sides: set[int],
    n_across: int,
    tangential_size,
    counts: dict[int, int],
) -> bool:
    """Make a uniform layer transfinite: n_across elements across, graded sizes along.

    Each surface of the layer must be a strip between two side curves (on the lateral
    boundaries) whose two long chains (Li side and electrolyte side) have the same number of
    curves; paired curves get the same number of nodes, ``tangential_size(curves)`` apart.
    ``counts`` holds node counts already given to curves (shared with neighbouring layers).

    Returns:
        False (and changes nothing) when a surface is not such a strip.
    """
    plan: dict[int, int] = {}
    corners: dict[int, list[int]] = {}
    for surface in surfaces:
        loop = _ordered_loop(model, surface)
        if loop is None:
            return False
        at = [i for i, c in enumerate(loop) if c in sides]
        if len(at) != 2:
            return False
        i, j = at
        chain_a = loop[i + 1 : j]
        chain_b = (loop[j + 1 :] + loop[:i])[::-1]
        if len(chain_a) != len(chain_b) or not chain_a:
            return False
        for side in (loop[i], loop[j]):
            plan[side] = n_across + 1
        for a, b in zip(chain_a, chain_b, strict=True):
            fixed = {counts[c] for c in (a, b) if c in counts}
            fixed |= {plan[c] for c in (a, b) if c in plan}
            if len(fixed) > 1:
                return False
            n = fixed.pop() if fixed else None
            if n is None:
                length = max(model.occ.getMass(1, a), model.occ.getMass(1, b))
                n = max(2, math.ceil(length / tangential_size([a, b])) + 1)
            plan[a] = plan[b] = n
        corners[surface] = sorted(
            {t for side in (loop[i], loop[j]) for _, t in model.getBoundary([(1, side)])}
        )
    if any(c in counts and counts[c] != n for c, n in plan.items()):
        return False
    for curve, n in plan.items():
        model.mesh.setTransfiniteCurve(curve, n)
        counts[curve] = n
    for surface, points in corners.items():
        model.mesh.setTransfiniteSurface(surface, "Left", points)
    return True


def _size_fields(cfg: GeometryConfig, model, result: Occ2DModel, structured: bool) -> None:
    """Background mesh size: minimum of layer, tip, void-wall, surface and far-field sizes.

    Uniform layers that are strips between the lateral boundaries are meshed as transfinite
    (structured) triangles: ``layer_elements`` across, at most ``layer_aspect_ratio`` times
    longer along the layer, and no longer than the local tip, void or surface size. Other layers
    (mosaic, or layers broken up by the geometry) get isotropic elements of size t / n.
    """
    m = cfg.mesh
    fields = model.mesh.field
    g = (m.growth - 1.0) / m.refinement  # the whole size function scales with 1 / refinement
    far = (m.far_field_size or cfg.domain.length / 8.0) / m.refinement / UNIT
    surface = min(
        far / 4.0, m.tip_size_factor * cfg.min_radius_of_curvature() / m.refinement / UNIT
    )

    def graded(size: float, curves: list[int]) -> int:
        length = max(model.occ.getMass(1, c) for c in curves)
        dist = fields.add("Distance")
        fields.setNumbers(dist, "CurvesList", curves)
        fields.setNumber(dist, "Sampling", min(20000, math.ceil(2.0 * length / size) + 2))
        ramp = fields.add("MathEval")
        fields.setString(ramp, "F", f"{literal(size)} + {literal(g)} * F{dist}")
        return ramp

    sizes = [fields.add("MathEval")]
    fields.setString(sizes[0], "F", literal(far))
    # Point-like refinements: protrusion tips and other points of high curvature of protrusions
    # and shaped voids (size = tip_size_factor x radius of curvature there).
    seeds: list[tuple[np.ndarray, float]] = []
    points = [
        (tip.apex, tip.tip_radius)
        for tip in (profiles.protrusion_feature(p, 0.0) for p in cfg.protrusions)
    ]
    points += [pr for f in profiles.features(cfg, 0.0, with_voids=True) for pr in f.sharp_points]
    for point, radius in points:
        size = float(m.tip_size_factor * radius / m.refinement / UNIT)
        where = np.array(point) / UNIT
        seeds.append((where[None, :], size))
        ramp = fields.add("MathEval")
        fields.setString(ramp, "F", f"{literal(size)} + {literal(g)} * {distance_to(where)}")
        sizes.append(ramp)
    if result.boundaries.get("void_wall"):
        size = (m.void_edge_size or cfg.void_height() / 3.0) / m.refinement / UNIT
        walls = result.boundaries["void_wall"]
        seeds.append((np.concatenate([_curve_points(model, c) for c in walls]), size))
        sizes.append(graded(size, walls))

    def local_size(curves: list[int]) -> float:
        points = np.concatenate([_curve_points(model, c) for c in curves])
        local = [surface]
        for where, size in seeds:
            dist = np.min(np.hypot(*(points[:, None, :] - where[None, :, :]).transpose(2, 0, 1)))
            local.append(size + g * dist)
        return min(local)

    side_names = ("side_left", "side_right", "axis", "side_outer")
    sides = {c for name in side_names for c in result.boundaries.get(name, [])}
    counts: dict[int, int] = {}
    for layer in cfg.layers:
        n_across = math.ceil(m.layer_elements * m.refinement - 1e-9)
        across = layer.thickness / n_across / UNIT
        surfaces = [t for n in layer.region_names() for t in result.regions[n]]
        boundary = model.getBoundary([(2, s) for s in surfaces], combined=True, oriented=False)
        curves = [abs(c) for _, c in boundary]
        along_max = m.layer_aspect_ratio * across

        def along(pair: list[int], cap: float = along_max, floor: float = across) -> float:
            return max(floor, min(cap, local_size(pair)))

        if structured and not isinstance(layer, MosaicLayer) and _structured_layer(
            model, surfaces, sides, n_across, along, counts
        ):
            sizes.append(graded(min(along_max, along(curves)), curves))
            _LOG.info("layer %s: structured strip", layer.region_names())
            continue
        _LOG.info("layer %s: isotropic elements of size %.3g um", layer.region_names(), across)
        inside = fields.add("Constant")
        fields.setNumbers(inside, "SurfacesList", surfaces)
        fields.setNumber(inside, "VIn", across)
        fields.setNumber(inside, "VOut", 1e22)
        fields.setNumber(inside, "IncludeBoundary", 1)
        sizes += [inside, graded(across, curves)]
    # The Li surface itself: resolves its curvature, never coarser than a quarter of far field.
    sizes.append(graded(surface, result.boundaries["li_surface"]))
    smallest = fields.add("Min")
    fields.setNumbers(smallest, "FieldsList", sizes)
    fields.setAsBackgroundMesh(smallest)
