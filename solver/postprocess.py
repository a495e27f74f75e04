"""Hotspot metrics of one case at each output time, from :class:`solver.results.Snapshot`.

Every function returns plain ``dict[str, float]`` (SI units, JSON-ready; the unit of each key is
in :data:`METRIC_UNITS`). The Li-surface samples are rank-local; they are gathered to every rank
(a few thousand points at most), so every rank computes identical numbers. Field extrema are
allreduced on the mesh communicator.

Surface statistics, with w the quadrature weights of the samples on the Li surface Γ:

- total current I = Σ w j, surface measure |Γ| = Σ w, mean j̄ = I / |Γ|;
- weighted percentile P_q: the smallest j with Σ_{j_i <= j} w_i >= q/100 |Γ|;
- hotspot H = {j > k j̄}: measure fraction |H| / |Γ|, current fraction ∫_H j / I, centroid;
- edge band B_e = {|x - x_e| < δ} around each void edge / surface corner e: the current fraction
  ∫_{B_e} j / I, which converges under refinement although max j in B_e may not;
- deposited thickness Δh = V_m / F ∫ j dt (trapezoidal rule over the output times).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import dolfinx
import numpy as np
from mpi4py import MPI

from solver.constants import FARADAY
from solver.geometry.bundle import MeshBundle
from solver.library.inorganic import LI_MOLAR_VOLUME
from solver.output_spec import OutputConfig
from solver.results import Snapshot, SurfaceSample

"""Molar volume of Li metal V_m = M_Li / ρ_Li, m^3/mol (the parameter library's cited value)."""

MAX_EDGES_LISTED = 8
"""Edges beyond this count enter only the union band numbers, not per-edge columns."""

SINGULAR_EXPONENT = -0.02
"""An edge counts as singular when j ~ r^(λ-1) has λ - 1 below this (a margin for the angle
measured on a curved mesh); edges of unknown angle (3D, landmarks) count as singular."""

METRIC_UNITS: dict[str, str] = {
    "t": "s",
    "surface_measure": "m (2D) or m^2",
    "current_total": "A/m (2D) or A",
    "j_mean": "A/m^2",
    "j_max": "A/m^2",
    "j_min": "A/m^2",
    "j_percentile": "A/m^2",
    "j_tip": "A/m^2",
    "j_far_field": "A/m^2",
    "enhancement_max_over_mean": "1",
    "enhancement_percentile_over_mean": "1",
    "enhancement_tip_over_far_field": "1",
    "hotspot_measure_fraction": "1",
    "hotspot_current_fraction": "1",
    "hotspot_x_min": "m",
    "hotspot_x_max": "m",
    "hotspot_centroid_x": "m",
    "hotspot_centroid_y": "m",
    "hotspot_centroid_z": "m",
    "growth_rate_mean": "m/s",
    "growth_rate_max": "m/s",
    "deposit_mean": "m",
    "deposit_max": "m",
    "deposit_min": "m",
    "deposit_std": "m",
    "deposit_max_over_mean": "1",
    "c_surface_min": "mol/m^3",
    "c_surface_mean": "mol/m^3",
    "depleted": "1 (0 or 1)",
    "edge_count": "1",
    "edge_band_current_fraction": "1",
    "edge_band_measure_fraction": "1",
    "edge_band_enhancement": "1",
    "edge_j_max_pointwise": "A/m^2 (mesh-dependent)",
    "edge<i>_current_fraction": "1",
    "edge<i>_enhancement": "1",
    "E_max": "V/m",
    "E_max_<region>": "V/m",
    "i_max_<region>": "A/m^2",
    "c_min": "mol/m^3",
    "c_max": "mol/m^3",
    "asr": "ohm m^2",
    "leakage_fraction": "1",
    "cell_voltage": "V",
    "overpotential_mean": "V",
    "current_mean": "A/m^2",
    "leakage_current": "A/m^2",
    "min_surface_concentration": "mol/m^3",
}
"""Unit of every metric key (``<i>``: edge index, ``<region>``: cell-group name)."""


def gather_surface(sample: SurfaceSample, comm: MPI.Comm) -> SurfaceSample:
    """Concatenate the rank-local surface samples of all ranks, on every rank (rank order)."""

    def gathered(a: np.ndarray) -> np.ndarray:
        return np.concatenate(comm.allgather(np.asarray(a, dtype=np.float64)))

    x = gathered(np.asarray(sample.x, dtype=np.float64).reshape(-1, 3))
    return SurfaceSample(
        x=x.reshape(-1, 3),
        weight=gathered(sample.weight),
        j=gathered(sample.j),
        c_surface=gathered(sample.c_surface),
    )


def point_permutation(old: np.ndarray, new: np.ndarray) -> np.ndarray | None:
    """The permutation p with old[p] == new, for the same points in another order.

    Gathered surface samples come in rank order, which differs after a restart on another
    number of ranks; values recorded at ``old`` are reordered by ``values[p]``.

    Args:
        old: Points (n, 3) in the recorded order.
        new: The same points (n, 3) in the current order.

    Returns:
        The permutation, or None when the orders agree (or the point sets differ: in size, or
        because the surface moved, where the samples keep their order on the same ranks).
    """
    if old.shape != new.shape or np.array_equal(old, new):
        return None
    scale = float(np.max(np.abs(new))) or 1.0
    order_new, order_old = (np.lexsort(np.round(x / scale, 10).T[::-1]) for x in (new, old))
    permutation = np.empty(len(new), dtype=np.int64)
    permutation[order_new] = order_old
    if not np.allclose(old[permutation], new, rtol=0.0, atol=1e-9 * scale):
        return None  # not the same points (a moving Li surface): keep the order
    return permutation


def nearest_points(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """For each point of ``new`` (m, 3) the index of the nearest point of ``old`` (n, 3).

    After a remesh the surface is sampled at other points: values recorded at ``old`` are
    carried to them by ``values[index]`` (nearest neighbour).
    """
    from scipy.spatial import cKDTree  # here, not at import: scipy.spatial takes ~0.3 s

    return cKDTree(old).query(new)[1]


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Percentile ``q`` (0-100) of ``values`` under the measure ``weights`` (inverse CDF).

    Returns the smallest value v such that the weights of all values <= v reach q % of the total.
    """
    if values.size == 0:
        return math.nan
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q / 100.0 * cumulative[-1], side="left"))
    return float(values[order][min(index, values.size - 1)])


def _nearest(surface: SurfaceSample, point: np.ndarray | None) -> float:
    if point is None or surface.j.size == 0:
        return math.nan
    distance = np.linalg.norm(surface.x - np.asarray(point, dtype=np.float64), axis=1)
    return float(surface.j[np.argmin(distance)])


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0.0 else math.nan


def surface_metrics(
    surface: SurfaceSample,
    landmarks: dict[str, np.ndarray],
    *,
    hotspot_factor: float = 2.0,
    percentile: float = 99.0,
) -> dict[str, float]:
    """Statistics of the normal current density j on the Li surface.

    Args:
        surface: The gathered (global) surface sample.
        landmarks: ``"apex"`` and ``"far_field"`` points (missing ones give nan tip values).
        hotspot_factor: k in the hotspot definition j > k * mean(j).
        percentile: q of the weighted percentile P_q(j).

    Returns:
        ``j_mean``, ``j_max``, ``j_min``, ``j_percentile``, ``j_tip``, ``j_far_field``, the
        enhancement factors, the hotspot measure and current fractions and its location
        (x range and centroid), and ``growth_rate_mean``/``growth_rate_max`` = j V_m / F.
    """
    w, j, x = surface.weight, surface.j, surface.x
    measure = float(np.sum(w))
    total = float(np.sum(w * j))
    mean = _ratio(total, measure)
    j_max = float(np.max(j)) if j.size else math.nan
    j_pct = weighted_percentile(j, w, percentile)
    j_tip = _nearest(surface, landmarks.get("apex"))
    j_far = _nearest(surface, landmarks.get("far_field"))
    hot = j > hotspot_factor * mean if j.size else np.zeros(0, dtype=bool)
    hot_measure = float(np.sum(w[hot]))
    centroid = (
        np.sum(w[hot, None] * x[hot], axis=0) / hot_measure
        if hot_measure > 0.0
        else np.full(3, math.nan)
    )
    return {
        "surface_measure": measure,
        "current_total": total,
        "j_mean": mean,
        "j_max": j_max,
        "j_min": float(np.min(j)) if j.size else math.nan,
        "j_percentile": j_pct,
        "j_tip": j_tip,
        "j_far_field": j_far,
        "enhancement_max_over_mean": _ratio(j_max, mean),
        "enhancement_percentile_over_mean": _ratio(j_pct, mean),
        "enhancement_tip_over_far_field": _ratio(j_tip, j_far),
        "hotspot_measure_fraction": _ratio(hot_measure, measure),
        "hotspot_current_fraction": _ratio(float(np.sum(w[hot] * j[hot])), total),
        "hotspot_x_min": float(np.min(x[hot, 0])) if hot.any() else math.nan,
        "hotspot_x_max": float(np.max(x[hot, 0])) if hot.any() else math.nan,
        "hotspot_centroid_x": float(centroid[0]),
        "hotspot_centroid_y": float(centroid[1]),
        "hotspot_centroid_z": float(centroid[2]),
        "growth_rate_mean": mean * LI_MOLAR_VOLUME / FARADAY,
        "growth_rate_max": j_max * LI_MOLAR_VOLUME / FARADAY,
    }


def deposit_metrics(surface: SurfaceSample, charge: np.ndarray) -> dict[str, float]:
    """Deposited Li thickness Δh = V_m q / F from the plated charge q (C/m^2) per sample."""
    w = surface.weight
    dh = charge * LI_MOLAR_VOLUME / FARADAY
    measure = float(np.sum(w))
    mean = _ratio(float(np.sum(w * dh)), measure)
    std = math.sqrt(max(_ratio(float(np.sum(w * (dh - mean) ** 2)), measure), 0.0))
    return {
        "deposit_mean": mean,
        "deposit_max": float(np.max(dh)) if dh.size else math.nan,
        "deposit_min": float(np.min(dh)) if dh.size else math.nan,
        "deposit_std": std,
        "deposit_max_over_mean": _ratio(float(np.max(dh)) if dh.size else math.nan, mean),
    }


@dataclass(frozen=True)
class Edge:
    """A point where the surface current may be singular.

    Attributes:
        point: Coordinates (3,), m.
        kind: ``"void_edge"`` (Li surface meets a void wall), ``"corner"`` (kink of the Li
            surface) or ``"landmark"`` (a landmark named ``edge*`` or ``corner*``).
        angle_deg: Interior angle ω of the ionic domain at the point, degrees (nan in 3D and for
            landmarks).
    """

    point: np.ndarray
    kind: str
    angle_deg: float

    @property
    def current_exponent(self) -> float:
        """Exponent λ - 1 of j ~ r^(λ-1) near the point for a primary distribution.

        λ = π/ω where the boundary condition is the same on both sides (corner), λ = π/(2ω)
        where a Dirichlet (reacting) side meets an insulating one (void edge). Negative: singular.
        """
        omega = math.radians(self.angle_deg)
        if not math.isfinite(omega) or omega <= 0.0:
            return math.nan
        lam = math.pi / (2.0 * omega) if self.kind == "void_edge" else math.pi / omega
        return lam - 1.0

    @property
    def singular(self) -> bool:
        """Whether the primary current density is unbounded at the point (see SINGULAR_EXPONENT)."""
        exponent = self.current_exponent
        return not math.isfinite(exponent) or exponent < SINGULAR_EXPONENT

    def as_dict(self) -> dict[str, object]:
        """JSON-ready description."""
        return {
            "kind": self.kind,
            "point": [float(v) for v in self.point],
            "angle_deg": self.angle_deg,
            "current_exponent": self.current_exponent,
            "singular": self.singular,
        }


def _facet_vertex_coordinates(bundle: MeshBundle, name: str, comm: MPI.Comm) -> np.ndarray:
    """Vertex coordinates of the facets of group ``name``, gathered: shape (n, nv, 3)."""
    mesh = bundle.mesh
    fdim = mesh.topology.dim - 1
    num_vertices = fdim + 1  # simplex facets
    local = np.zeros((0, num_vertices, 3))
    if name in bundle.boundaries:
        facets = bundle.facet_tags.find(bundle.boundaries[name])
        if facets.size:
            mesh.topology.create_connectivity(fdim, mesh.topology.dim)
            nodes = dolfinx.mesh.entities_to_geometry(mesh, fdim, facets)[:, :num_vertices]
            local = mesh.geometry.x[nodes]
    return np.concatenate(comm.allgather(local)).reshape(-1, num_vertices, 3)


def _point_keys(points: np.ndarray, scale: float) -> list[tuple[int, ...]]:
    return [tuple(k) for k in np.round(points / scale * 1e9).astype(np.int64)]


def _inside_domain(mesh: dolfinx.mesh.Mesh, point: np.ndarray, comm: MPI.Comm) -> bool:
    tree = dolfinx.geometry.bb_tree(mesh, mesh.topology.dim)
    candidates = dolfinx.geometry.compute_collisions_points(tree, point.reshape(1, 3))
    cells = dolfinx.geometry.compute_colliding_cells(mesh, candidates, point.reshape(1, 3))
    return bool(comm.allreduce(len(cells.links(0)) > 0, op=MPI.LOR))


def _interior_angle(
    mesh: dolfinx.mesh.Mesh, vertex: np.ndarray, ends: list[np.ndarray], comm: MPI.Comm
) -> float:
    """Angle (degrees) of the domain between the two boundary segments from ``vertex``."""
    d1, d2 = ((e - vertex) / np.linalg.norm(e - vertex) for e in ends)
    theta = math.degrees(math.acos(float(np.clip(np.dot(d1, d2), -1.0, 1.0))))
    bisector = d1 + d2
    if np.linalg.norm(bisector) < 1e-8:  # straight continuation: test the normal direction
        bisector = np.array([-d1[1], d1[0], 0.0])
    step = 1e-3 * min(np.linalg.norm(e - vertex) for e in ends)
    probe = vertex + step * bisector / np.linalg.norm(bisector)
    return theta if _inside_domain(mesh, probe, comm) else 360.0 - theta


def find_edges(
    bundle: MeshBundle, comm: MPI.Comm, *, corner_angle_deg: float = 30.0
) -> list[Edge]:
    """Void edges, corners of the Li surface and ``edge*``/``corner*`` landmarks.

    Void edges are the vertices shared by ``li_surface`` and ``void_wall`` facets. In 2D, a vertex
    joining two ``li_surface`` facets whose directions turn by more than ``corner_angle_deg`` is a
    corner (curved, resolved surfaces turn by much less per facet). Collective on ``comm``.
    """
    mesh = bundle.mesh
    li = _facet_vertex_coordinates(bundle, "li_surface", comm)
    void = _facet_vertex_coordinates(bundle, "void_wall", comm)
    scale = float(np.ptp(mesh.geometry.x, axis=0).max()) if mesh.geometry.x.size else 1.0
    scale = float(comm.allreduce(scale, op=MPI.MAX))
    two_d = mesh.topology.dim == 2

    li_keys = set(_point_keys(li.reshape(-1, 3), scale))
    void_keys = set(_point_keys(void.reshape(-1, 3), scale))
    points = dict(zip(_point_keys(li.reshape(-1, 3), scale), li.reshape(-1, 3), strict=True))
    points |= dict(zip(_point_keys(void.reshape(-1, 3), scale), void.reshape(-1, 3), strict=True))

    # 2D: the segment ends next to each vertex, deduplicated (ghost facets appear on two ranks).
    neighbours: dict[tuple[int, ...], dict[tuple[int, ...], np.ndarray]] = {}
    for group, coords in (("li", li), ("void", void)) if two_d else ():
        for facet in coords:
            a, b = _point_keys(facet, scale)
            neighbours.setdefault(a, {})[(group, *b)] = facet[1]
            neighbours.setdefault(b, {})[(group, *a)] = facet[0]
    edges: list[Edge] = []
    for key in sorted(li_keys & void_keys):
        angle = math.nan
        if two_d:
            ends = list(neighbours[key].values())
            li_end = [v for k, v in neighbours[key].items() if k[0] == "li"][0]
            void_end = [v for k, v in neighbours[key].items() if k[0] == "void"][0]
            if len(ends) == 2:
                angle = _interior_angle(mesh, points[key], [li_end, void_end], comm)
        edges.append(Edge(points[key], "void_edge", angle))
    if two_d:
        for key in sorted(li_keys - void_keys):
            ends = [v for k, v in neighbours[key].items() if k[0] == "li"]
            if len(ends) != 2:
                continue
            d1, d2 = ((e - points[key]) / np.linalg.norm(e - points[key]) for e in ends)
            turn = 180.0 - math.degrees(math.acos(float(np.clip(np.dot(d1, d2), -1.0, 1.0))))
            if turn > corner_angle_deg:
                angle = _interior_angle(mesh, points[key], ends, comm)
                edges.append(Edge(points[key], "corner", angle))
    for name in sorted(bundle.landmarks):
        if name.startswith(("edge", "corner")):
            edges.append(Edge(np.asarray(bundle.landmarks[name], float), "landmark", math.nan))
    return edges


def edge_metrics(surface: SurfaceSample, edges: list[Edge], band: float) -> dict[str, float]:
    """Fractions of the total current within distance ``band`` of each edge and of all edges.

    ``edge<i>_enhancement`` is the mean j in the band over the surface mean j, for the first
    :data:`MAX_EDGES_LISTED` point-like edges (2D edges and landmarks; a 3D void edge is a
    curve of many vertices and enters only the union). The ``edge_band_*`` numbers are for the
    union of the bands of the singular edges (each sample counted once);
    ``edge_j_max_pointwise`` is the largest j in them: it grows with refinement at a singular
    edge and is reported only to show that.
    """
    w, j = surface.weight, surface.j
    total, measure = float(np.sum(w * j)), float(np.sum(w))
    union = np.zeros(j.size, dtype=bool)
    result: dict[str, float] = {"edge_count": float(len(edges))}
    listed = [e for e in edges if math.isfinite(e.angle_deg) or e.kind == "landmark"]
    for edge in edges:
        near = np.linalg.norm(surface.x - edge.point, axis=1) < band
        if edge.singular:
            union |= near
        i = next((k for k, e in enumerate(listed) if e is edge), MAX_EDGES_LISTED)
        if i < MAX_EDGES_LISTED:
            current = _ratio(float(np.sum(w[near] * j[near])), total)
            result[f"edge{i}_current_fraction"] = current
            result[f"edge{i}_enhancement"] = _ratio(current, _ratio(np.sum(w[near]), measure))
    singular = any(edge.singular for edge in edges)
    current = _ratio(float(np.sum(w[union] * j[union])), total) if singular else math.nan
    area = _ratio(float(np.sum(w[union])), measure) if singular else math.nan
    result["edge_band_current_fraction"] = current
    result["edge_band_measure_fraction"] = area
    result["edge_band_enhancement"] = _ratio(current, area) if singular else math.nan
    result["edge_j_max_pointwise"] = float(np.max(j[union])) if union.any() else math.nan
    return result


def _local_dof_values(f: dolfinx.fem.Function, cells: np.ndarray | None) -> np.ndarray:
    """Nodal values (vector fields: norms) of ``f`` on ``cells`` (None: all local dofs)."""
    bs = f.function_space.dofmap.index_map_bs
    values = f.x.array.reshape(-1, bs)
    if cells is not None:
        dofs = np.unique(f.function_space.dofmap.list[cells].ravel())
        values = values[dofs]
    return np.linalg.norm(values, axis=1) if bs > 1 else values[:, 0]


def _global_extreme(values: np.ndarray, comm: MPI.Comm, op: MPI.Op) -> float:
    if op == MPI.MAX:
        local = float(np.max(values)) if values.size else -math.inf
    else:
        local = float(np.min(values)) if values.size else math.inf
    result = comm.allreduce(local, op=op)
    return result if math.isfinite(result) else math.nan


def field_metrics(
    fields: Mapping[str, dolfinx.fem.Function],
    bundle: MeshBundle,
    comm: MPI.Comm,
    derived: Collection[str] = ("field_strength", "current_density"),
) -> dict[str, float]:
    """Extrema of the fields at their nodes, per cell group where the field lives on the mesh.

    ``E_max_<region>`` from ``field_strength`` and ``i_max_<region>`` (norm) from
    ``current_density``; ``c_min``/``c_max`` from ``concentration``. Nodes on a region boundary
    count for both regions. Nodal maxima of P2 fields may miss an interior peak by O(h^3).

    Args:
        fields: The snapshot's fields.
        bundle: The mesh.
        comm: The communicator.
        derived: Which of the projected fields (``field_strength``, ``current_density``) to
            read: a run reads those it writes, so that no projection runs for a metric alone.
    """
    result: dict[str, float] = {}
    for name, prefix in (("field_strength", "E_max"), ("current_density", "i_max")):
        f = fields.get(name) if name in derived else None
        if f is None:
            continue
        result[prefix] = _global_extreme(_local_dof_values(f, None), comm, MPI.MAX)
        if f.function_space.mesh is bundle.mesh:
            for region, tag in sorted(bundle.regions.items()):
                cells = bundle.cell_tags.find(tag)
                values = _local_dof_values(f, cells)
                result[f"{prefix}_{region}"] = _global_extreme(values, comm, MPI.MAX)
    c = fields.get("concentration")
    if c is not None:
        values = _local_dof_values(c, None)
        result["c_min"] = _global_extreme(values, comm, MPI.MIN)
        result["c_max"] = _global_extreme(values, comm, MPI.MAX)
    return result


class CaseMetrics:
    """Metrics of one case, accumulated over its output times.

    Call it with each :class:`Snapshot` in time order; it returns the row of metrics for that time
    (also kept in :attr:`rows`) and integrates the plated charge for the deposit thickness.
    Collective on ``comm``.

    Args:
        bundle: The case's mesh.
        config: The case's output section (hotspot factor, percentile, edge band, depletion).
        comm: The mesh communicator.
    """

    def __init__(self, bundle: MeshBundle, config: OutputConfig, comm: MPI.Comm) -> None:
        self.bundle = bundle
        self.config = config
        self.comm = comm
        self.edges = find_edges(bundle, comm)
        self.rows: list[dict[str, float]] = []
        self.events: list[str] = []
        self.dimensionless: dict[str, float] = {}
        self.depletion_time = math.nan
        self._previous: tuple[float, np.ndarray] | None = None
        self._charge: np.ndarray | None = None
        self._x: np.ndarray | None = None  # the sample points of _previous and _charge
        self._remeshed = False  # the next sample is on a new mesh (other points)

    def scalars(self) -> dict[str, Any]:
        """The accumulated state, for a restart checkpoint (``solver.driver``)."""
        previous = None
        if self._previous is not None:
            previous = {"t": self._previous[0], "j": self._previous[1], "x": self._x,
                        "charge": self._charge}
        return {"rows": self.rows, "events": self.events, "dimensionless": self.dimensionless,
                "depletion_time": self.depletion_time, "previous": previous}

    def set_scalars(self, scalars: Mapping[str, Any]) -> None:
        """Continue from the state :meth:`scalars` returned (on any number of ranks)."""
        self.rows = [dict(row) for row in scalars["rows"]]
        self.events = list(scalars["events"])
        self.dimensionless = dict(scalars["dimensionless"])
        self.depletion_time = float(scalars["depletion_time"])
        previous = scalars["previous"]
        if previous is not None:
            self._previous = (float(previous["t"]), np.asarray(previous["j"]))
            self._charge, self._x = np.asarray(previous["charge"]), np.asarray(previous["x"])

    def remeshed(self, bundle: MeshBundle) -> None:
        """Continue on a new mesh (``solver.growth.remesh``): its edges and sample points.

        The accumulated charge moves to the new sample points from the nearest old ones.
        """
        self.bundle = bundle
        self.edges = find_edges(bundle, self.comm)
        self._remeshed = True

    def _align(self, x: np.ndarray) -> None:
        """Reorder the accumulated arrays to the sample points ``x`` (point_permutation)."""
        if self._remeshed and self._x is not None:
            self._remeshed = False
            permutation = nearest_points(self._x, x)
        else:
            permutation = None if self._x is None else point_permutation(self._x, x)
        if permutation is not None:
            t_prev, j_prev = self._previous
            self._previous = (t_prev, j_prev[permutation])
            self._charge = self._charge[permutation]
        self._x = x

    def _accumulate_charge(self, t: float, j: np.ndarray) -> np.ndarray:
        if self._previous is None:
            # Before the first output time, j is taken constant (exact for a snapshot at t = 0).
            self._charge = j * t
        else:
            t_prev, j_prev = self._previous
            if j_prev.shape != j.shape:
                raise ValueError(
                    f"surface sample changed size between t={t_prev} s and t={t} s "
                    f"({j_prev.size} -> {j.size} points); the deposit needs fixed sample points"
                )
            self._charge = self._charge + 0.5 * (j + j_prev) * (t - t_prev)
        self._previous = (t, j.copy())
        return self._charge

    def __call__(self, snapshot: Snapshot) -> dict[str, float]:
        """Metrics at the time of ``snapshot``."""
        cfg = self.config
        surface = gather_surface(snapshot.surface, self.comm)
        row: dict[str, float] = {"t": float(snapshot.t)}
        row |= surface_metrics(
            surface,
            self.bundle.landmarks,
            hotspot_factor=cfg.hotspot_factor,
            percentile=cfg.percentile,
        )
        self._align(surface.x)
        row |= deposit_metrics(surface, self._accumulate_charge(snapshot.t, surface.j))
        c_s = surface.c_surface[np.isfinite(surface.c_surface)]
        w_c = surface.weight[np.isfinite(surface.c_surface)]
        row["c_surface_min"] = float(np.min(c_s)) if c_s.size else math.nan
        row["c_surface_mean"] = _ratio(float(np.sum(w_c * c_s)), float(np.sum(w_c)))
        # the solver's depletion event (physics.events.depletion_fraction, interpolated time)
        event = float(snapshot.scalars.get("depletion_time", math.nan))
        depleted = math.isfinite(event) and event <= snapshot.t
        row["depleted"] = float(depleted)
        if depleted:
            self.depletion_time = event
        row |= edge_metrics(surface, self.edges, cfg.edge_band)
        row |= field_metrics(snapshot.fields, self.bundle, self.comm, cfg.written_fields)
        row |= {k: float(v) for k, v in snapshot.scalars.items()}
        current = row.get("current_mean", math.nan)
        row["asr"] = abs(_ratio(row.get("cell_voltage", math.nan), current))
        row["leakage_fraction"] = _ratio(row.get("leakage_current", math.nan), current)
        row |= {k: float(v) for k, v in snapshot.dimensionless.items()}
        self.dimensionless = {k: float(v) for k, v in snapshot.dimensionless.items()}
        self.events.extend(e for e in snapshot.events if e not in self.events)
        self.rows.append(row)
        return row

    def summary(self) -> dict[str, object]:
        """Per-case summary: final and peak values, depletion time, edges, events."""
        if not self.rows:
            return {"num_times": 0}
        final = self.rows[-1]
        peak = max(self.rows, key=lambda r: _nan_to_neg(r["enhancement_max_over_mean"]))
        return {
            "num_times": len(self.rows),
            "t_final": final["t"],
            "final": dict(final),
            "peak_enhancement_max_over_mean": peak["enhancement_max_over_mean"],
            "peak_enhancement_time": peak["t"],
            "peak_hotspot_measure_fraction": max(
                _nan_to_neg(r["hotspot_measure_fraction"]) for r in self.rows
            ),
            "depletion_time": self.depletion_time,
            "edges": [edge.as_dict() for edge in self.edges],
            "output": self.config.model_dump(mode="json"),
            "coordinates": self.bundle.coordinates,
            "landmarks": {k: [float(v) for v in p] for k, p in self.bundle.landmarks.items()},
            "regions": {name: int(tag) for name, tag in self.bundle.regions.items()},
            "dimensionless": dict(self.dimensionless),
            "events": list(self.events),
        }


def _nan_to_neg(value: float) -> float:
    return value if math.isfinite(value) else -math.inf
