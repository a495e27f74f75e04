"""2D planar and axisymmetric Gmsh (OpenCASCADE) model of a Li | interphase | electrolyte domain.

Construction (all shapes in the plane z = 0, x = r for axisymmetric sections):

1. the box B = [0, W] x [0, L];
2. the Li body D_0 (base surface plus protrusions, closed far below y = 0), the envelope
   E_0 = D_0 + voids, and for each layer k the dilated body D_k = E_0 (+) disk(T_k), built
   feature by feature from :mod:`solver.geometry.profiles` (T_k = thickness of layers 1..k);
3. mosaic layers: Voronoi grain polygons clipped to their layer;
4. one ``fragment`` of all shapes makes a conforming partition; every piece is classified by the
   inputs it came from: outside B or inside D_0 (removed), void (E_0 minus D_0, removed), layer k
   (inside D_k, not in D_(k-1)), mosaic grain, electrolyte (rest of B);
5. boundary curves are classified by the pieces on their two sides and by position.

Local mesh sizes are Gmsh fields, all divided by ``mesh.refinement``: a constant size
T_layer / n inside each layer, graded away from the layer boundaries, the protrusion tips and the
void walls with growth rate ``mesh.growth``, capped by the far-field size.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from solver.geometry import mosaic, profiles
from solver.geometry.spec import GeometryConfig, MosaicLayer

__all__ = ["BOUNDARY_TAGS", "Occ2DModel", "build_occ_2d"]

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
    """What the 2D builder made, for meshing and landmarks.

    Attributes:
        regions: Cell group name -> Gmsh surface tags.
        boundaries: Facet group name -> Gmsh curve tags.
    """

    regions: dict[str, list[int]] = field(default_factory=dict)
    boundaries: dict[str, list[int]] = field(default_factory=dict)


class _ShapeWriter:
    """Adds profile features to the OCC kernel as closed surfaces."""

    def __init__(self, occ, y_bottom: float):
        self.occ = occ
        self.y_bottom = y_bottom

    def _point(self, p) -> int:
        return self.occ.addPoint(float(p[0]) / UNIT, float(p[1]) / UNIT, 0.0)

    def region(self, feature: profiles.Feature) -> int:
        """Surface bounded by the feature's top chain and closed down to ``y_bottom``."""
        occ = self.occ
        first = self._point(feature.left)
        current = first
        curves = []
        for piece in feature.top:
            end = self._point(profiles._end(piece))
            if isinstance(piece, profiles.Line):
                curves.append(occ.addLine(current, end))
            elif isinstance(piece, profiles.Arc):
                curves.append(occ.addCircleArc(current, self._point(piece.center), end))
            elif isinstance(piece, profiles.EllipseArc):
                c, m = self._point(piece.center), self._point(piece.major)
                curves.append(occ.addEllipseArc(current, c, m, end))
            else:
                inner = [self._point(p) for p in piece.points[1:-1]]
                curves.append(occ.addSpline([current, *inner, end]))
            current = end
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


def build_occ_2d(cfg: GeometryConfig, model) -> Occ2DModel:
    """Create the 2D geometry, physical groups and mesh-size fields in ``model`` (OCC kernel).

    Args:
        cfg: Validated geometry (dimension 2).
        model: ``gmsh.model`` of an initialised Gmsh session with a current (empty) model.

    Returns:
        The region and boundary entity lists.
    """
    occ = model.occ
    W, L = cfg.domain.width, cfg.domain.length
    writer = _ShapeWriter(occ, y_bottom=-(W + L))
    T = _offsets(cfg)

    box = [(2, occ.addRectangle(0.0, 0.0, 0.0, W / UNIT, L / UNIT))]
    li = writer.body(
        [profiles.base_profile(cfg, 0.0), *profiles.features(cfg, 0.0, with_voids=False)]
    )
    voids = [(2, writer.region(f)) for f in profiles.void_features_all(cfg, 0.0)]
    bodies = [
        writer.body([profiles.base_profile(cfg, t), *profiles.features(cfg, t, with_voids=True)])
        for t in T
    ]
    # Mosaic grains: each phase's grains, built inside their layer (D_k minus the body below).
    phase_shapes: dict[str, list[tuple[int, int]]] = {}
    for k, layer in enumerate(cfg.layers):
        if not isinstance(layer, MosaicLayer):
            continue
        below = occ.copy(bodies[k - 1] if k > 0 else li + voids)
        shape, _ = occ.cut(occ.copy(bodies[k]), below)
        shape, _ = occ.intersect(shape, occ.copy(box))
        inner = T[k - 1] if k > 0 else 0.0
        grains = _mosaic_grains(cfg, layer, inner, occ, shape)
        for phase, shapes in zip(layer.phases, grains, strict=True):
            phase_shapes[phase.name] = shapes

    groups = {"box": box, "li": li, "voids": voids}
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
        if tag in members["voids"]:
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
        raise ValueError(f"layers: regions {missing} have no area in the domain")

    keep = {tag for tags in result.regions.values() for tag in tags}
    occ.remove([(2, t) for _, t in model.getEntities(2) if t not in keep], recursive=True)
    occ.synchronize()
    if cfg.domain.lateral == "periodic":
        _make_periodic(model, result.boundaries, W / UNIT)
    _add_physical_groups(cfg, model, result)
    _size_fields(cfg, model, result, T)
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
        raise ValueError("domain.lateral 'periodic': the geometry is not periodic in x")
    translation = [1, 0, 0, W, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    model.mesh.setPeriodic(1, right, left, translation)


def _add_physical_groups(cfg: GeometryConfig, model, result: Occ2DModel) -> None:
    """One physical group per region (tags 1, 2, ...) and per boundary (BOUNDARY_TAGS)."""
    for tag, name in enumerate(["electrolyte", *cfg.region_names()], start=1):
        model.addPhysicalGroup(2, result.regions[name], tag, name)
    for name, curves in result.boundaries.items():
        model.addPhysicalGroup(1, curves, BOUNDARY_TAGS[name], name)


def _size_fields(cfg: GeometryConfig, model, result: Occ2DModel, T: list[float]) -> None:
    """Background mesh size: minimum of layer, tip, void-wall, surface and far-field sizes."""
    m = cfg.mesh
    fields = model.mesh.field
    g = m.growth - 1.0
    far = (m.far_field_size or cfg.domain.length / 8.0) / m.refinement / UNIT

    def graded(size: float, curves: list[int]) -> int:
        length = max(model.occ.getMass(1, c) for c in curves)
        dist = fields.add("Distance")
        fields.setNumbers(dist, "CurvesList", curves)
        fields.setNumber(dist, "Sampling", min(20000, math.ceil(2.0 * length / size) + 2))
        ramp = fields.add("MathEval")
        fields.setString(ramp, "F", f"{size!r} + {g!r} * F{dist}")
        return ramp

    sizes = [fields.add("MathEval")]
    fields.setString(sizes[0], "F", repr(far))
    # Layers: constant size inside, graded away from their boundaries.
    for layer in cfg.layers:
        size = layer.thickness / m.layer_elements / m.refinement / UNIT
        surfaces = [t for n in layer.region_names() for t in result.regions[n]]
        inside = fields.add("Constant")
        fields.setNumbers(inside, "SurfacesList", surfaces)
        fields.setNumber(inside, "VIn", size)
        fields.setNumber(inside, "VOut", 1e22)
        fields.setNumber(inside, "IncludeBoundary", 1)
        boundary = model.getBoundary([(2, s) for s in surfaces], combined=True, oriented=False)
        curves = [abs(c) for _, c in boundary]
        sizes += [inside, graded(size, curves)]
    # Protrusion tips: size = factor x radius of curvature at the apex.
    tips = [profiles.protrusion_feature(p, 0.0) for p in cfg.protrusions]
    tip_sizes = []
    for tip in tips:
        size = m.tip_size_factor * tip.tip_radius / m.refinement / UNIT
        tip_sizes.append(size)
        ramp = fields.add("MathEval")
        ax, ay = tip.apex[0] / UNIT, tip.apex[1] / UNIT
        fields.setString(ramp, "F", f"{size!r} + {g!r} * Sqrt((x - {ax!r})^2 + (y - {ay!r})^2)")
        sizes.append(ramp)
    # Void walls.
    if result.boundaries.get("void_wall"):
        size = (m.void_edge_size or cfg.void_height() / 3.0) / m.refinement / UNIT
        sizes.append(graded(size, result.boundaries["void_wall"]))
    # The Li surface itself: resolves its curvature, never coarser than a quarter of far field.
    surface = min(
        far / 4.0,
        m.tip_size_factor * profiles.min_radius_of_curvature(cfg) / m.refinement / UNIT,
        *tip_sizes,
    )
    sizes.append(graded(surface, result.boundaries["li_surface"]))
    smallest = fields.add("Min")
    fields.setNumbers(smallest, "FieldsList", sizes)
    fields.setAsBackgroundMesh(smallest)
