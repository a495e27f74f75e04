"""Hotspot metrics against analytic surface distributions and fields."""

import math

import solver  # noqa: F401  (MPI import order)

# isort: split
import dolfinx
import numpy as np
import pytest
from mpi4py import MPI

from solver.geometry.bundle import MeshBundle, MeshStats
from solver.output_spec import OutputConfig
from solver.postprocess import (
    FARADAY,
    LI_MOLAR_VOLUME,
    CaseMetrics,
    Edge,
    edge_metrics,
    field_metrics,
    find_edges,
    gather_surface,
    surface_metrics,
    weighted_percentile,
)
from solver.results import Snapshot, SurfaceSample

W = 1.0e-5  # surface length, m
J0 = 5.0  # mean current density, A/m^2


def gauss_line(n: int, a: float = 0.0, b: float = W) -> tuple[np.ndarray, np.ndarray]:
    """Two-point Gauss rule on n equal segments of [a, b] along y = 0: (x (m,3), weights)."""
    h = (b - a) / n
    mid = a + h * (np.arange(n) + 0.5)
    offsets = np.array([-1.0, 1.0]) * h / (2.0 * math.sqrt(3.0))
    xs = (mid[:, None] + offsets[None, :]).ravel()
    x = np.zeros((xs.size, 3))
    x[:, 0] = xs
    return x, np.full(xs.size, h / 2.0)


def cosine_sample(n: int = 2000, amplitude: float = 1.0) -> SurfaceSample:
    """j = J0 (1 + a cos(2 pi x / W)): mean J0, max J0 (1 + a)."""
    x, w = gauss_line(n)
    j = J0 * (1.0 + amplitude * np.cos(2.0 * math.pi * x[:, 0] / W))
    return SurfaceSample(x=x, weight=w, j=j, c_surface=np.full(j.size, 1000.0))


def test_weighted_percentile_uniform_and_weighted():
    values = np.arange(1.0, 101.0)
    assert weighted_percentile(values, np.ones(100), 99.0) == 99.0
    # Put all the weight on the largest value: every percentile is that value.
    weights = np.zeros(100)
    weights[-1] = 1.0
    assert weighted_percentile(values, weights, 1.0) == 100.0


def test_surface_metrics_cosine():
    """Exact values for j = J0 (1 + cos θ), θ = 2πx/W uniform on the surface.

    mean = J0 (the 2-point Gauss rule integrates cos exactly up to 1e-12 relative);
    hotspot j > 1.5 J0 <=> cos θ > 1/2: measure fraction 1/3, current fraction
    (1/3 + sin(π/3)/π)/1; P99: cos θ = cos(0.01 π). Sample-based fractions and percentiles are
    accurate to about one segment, 1/n = 5e-4 of the surface, hence tolerance 2e-3.
    """
    sample = cosine_sample()
    landmarks = {"apex": np.array([0.0, 0.0, 0.0]), "far_field": np.array([W / 2, 0.0, 0.0])}
    m = surface_metrics(sample, landmarks, hotspot_factor=1.5, percentile=99.0)
    assert m["j_mean"] == pytest.approx(J0, rel=1e-12)
    # abs=0: pytest.approx's default abs=1e-12 would loosen rel=1e-12 to 2e-8 relative for the
    # current per unit depth J0 W = 5e-5 A/m and to 1.5e-3 for the growth rate 6.7e-10 m/s.
    assert m["current_total"] == pytest.approx(J0 * W, rel=1e-12, abs=0)
    assert m["j_max"] == pytest.approx(2.0 * J0, rel=1e-5)
    assert m["enhancement_max_over_mean"] == pytest.approx(2.0, rel=1e-5)
    assert m["hotspot_measure_fraction"] == pytest.approx(1.0 / 3.0, abs=2e-3)
    expected_current = 1.0 / 3.0 + math.sin(math.pi / 3.0) / math.pi
    assert m["hotspot_current_fraction"] == pytest.approx(expected_current, abs=2e-3)
    assert m["j_percentile"] == pytest.approx(J0 * (1.0 + math.cos(0.01 * math.pi)), rel=2e-3)
    # Tip at x = 0 (j = 2 J0), far field at x = W/2 (j = 0): ratio inf-like; check the values.
    assert m["j_tip"] == pytest.approx(2.0 * J0, rel=1e-5)
    assert m["j_far_field"] == pytest.approx(0.0, abs=1e-4 * J0)
    # Hotspot spans [0, W/6] and [5W/6, W]: x-range and centroid at W/2 by symmetry.
    assert m["hotspot_x_min"] < 1e-3 * W and m["hotspot_x_max"] > (1.0 - 1e-3) * W
    assert m["hotspot_centroid_x"] == pytest.approx(W / 2.0, rel=1e-3)
    assert m["growth_rate_mean"] == pytest.approx(J0 * LI_MOLAR_VOLUME / FARADAY, rel=1e-12, abs=0)


def test_uniform_current_has_no_hotspot():
    sample = cosine_sample(amplitude=0.0)
    m = surface_metrics(sample, {}, hotspot_factor=2.0)
    assert m["hotspot_measure_fraction"] == 0.0
    assert math.isnan(m["hotspot_centroid_x"])
    assert math.isnan(m["j_tip"])
    assert m["enhancement_max_over_mean"] == pytest.approx(1.0, rel=1e-12)


def test_edge_band_fraction_linear_profile():
    """j = J0 x/W on [0, W], edge at x = W, band δ = W/10.

    Current within the band: ∫_{0.9W}^{W} x dx / ∫_0^W x dx = 1 - 0.81 = 0.19; measure
    fraction 0.1; band enhancement 1.9. Band edges fall on segment ends (n = 1000), so only
    quadrature rounding remains (1e-10).
    """
    x, w = gauss_line(1000)
    sample = SurfaceSample(x=x, weight=w, j=J0 * x[:, 0] / W, c_surface=np.full(w.size, np.nan))
    edges = [Edge(np.array([W, 0.0, 0.0]), "void_edge", 180.0)]
    m = edge_metrics(sample, edges, band=W / 10.0)
    assert m["edge0_current_fraction"] == pytest.approx(0.19, rel=1e-10)
    assert m["edge_band_measure_fraction"] == pytest.approx(0.1, rel=1e-10)
    assert m["edge0_enhancement"] == pytest.approx(1.9, rel=1e-10)
    assert edges[0].current_exponent == pytest.approx(-0.5)  # mixed BC at a straight edge
    # A 90-degree corner of the reacting surface is not singular (j ~ r^1): no union band.
    corner = [Edge(np.array([W, 0.0, 0.0]), "corner", 90.0)]
    m = edge_metrics(sample, corner, band=W / 10.0)
    assert not corner[0].singular and m["edge0_current_fraction"] == pytest.approx(0.19)
    assert math.isnan(m["edge_band_current_fraction"])


def split_by_rank(sample: SurfaceSample, comm: MPI.Comm) -> SurfaceSample:
    """The samples of this rank when the points are dealt round-robin."""
    keep = np.arange(sample.j.size) % comm.size == comm.rank
    return SurfaceSample(
        sample.x[keep], sample.weight[keep], sample.j[keep], sample.c_surface[keep]
    )


@pytest.mark.mpi
def test_gathered_metrics_equal_serial():
    """Metrics of samples distributed over COMM_WORLD equal those of the whole set on COMM_SELF."""
    comm = MPI.COMM_WORLD
    sample = cosine_sample(n=301, amplitude=0.7)
    serial = surface_metrics(gather_surface(sample, MPI.COMM_SELF), {})
    parallel = surface_metrics(gather_surface(split_by_rank(sample, comm), comm), {})
    for key, value in serial.items():
        if math.isnan(value):
            assert math.isnan(parallel[key]), key
        else:
            assert parallel[key] == pytest.approx(value, rel=1e-12, abs=1e-300), key


def rectangle_bundle(comm: MPI.Comm, n: int = 8, void_from: float | None = None) -> MeshBundle:
    """Unit square: 'sei' for x < 0.5, 'electrolyte' otherwise; bottom is li_surface, except
    [void_from, 1] which is void_wall; top is counter."""
    mesh = dolfinx.mesh.create_unit_square(
        comm, n, n, ghost_mode=dolfinx.mesh.GhostMode.shared_facet
    )
    tdim = mesh.topology.dim
    sei = dolfinx.mesh.locate_entities(mesh, tdim, lambda x: x[0] <= 0.5 + 1e-12)
    cell_count = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts
    cell_values = np.full(cell_count, 2, dtype=np.int32)
    cell_values[sei] = 1
    cells = np.arange(cell_count, dtype=np.int32)
    cell_tags = dolfinx.mesh.meshtags(mesh, tdim, cells, cell_values)
    cut = 2.0 if void_from is None else void_from
    li = dolfinx.mesh.locate_entities_boundary(
        mesh, tdim - 1, lambda x: np.isclose(x[1], 0.0) & (x[0] <= cut + 1e-12)
    )
    void = dolfinx.mesh.locate_entities_boundary(
        mesh, tdim - 1, lambda x: np.isclose(x[1], 0.0) & (x[0] >= cut - 1e-12)
    )
    top = dolfinx.mesh.locate_entities_boundary(mesh, tdim - 1, lambda x: np.isclose(x[1], 1.0))
    facets = np.concatenate([li, void, top])
    values = np.concatenate([np.full(li.size, 1), np.full(void.size, 2), np.full(top.size, 3)])
    order = np.argsort(facets)
    facet_tags = dolfinx.mesh.meshtags(
        mesh, tdim - 1, facets[order].astype(np.int32), values[order].astype(np.int32)
    )
    return MeshBundle(
        mesh=mesh,
        cell_tags=cell_tags,
        facet_tags=facet_tags,
        regions={"sei": 1, "electrolyte": 2},
        boundaries={"li_surface": 1, "void_wall": 2, "counter": 3},
        coordinates="cartesian",
        landmarks={"apex": np.array([0.25, 0.0, 0.0]), "far_field": np.array([0.0, 0.0, 0.0])},
        stats=MeshStats(0, 0, 1.0, 0.0, 0.0),
        key="test",
    )


@pytest.mark.mpi
def test_find_void_edge_on_straight_boundary():
    """li_surface [0, 0.5] meets void_wall [0.5, 1] on y = 0: one void edge, ω = 180°."""
    bundle = rectangle_bundle(MPI.COMM_WORLD, void_from=0.5)
    edges = find_edges(bundle, MPI.COMM_WORLD)
    assert [e.kind for e in edges] == ["void_edge"]
    assert np.allclose(edges[0].point, [0.5, 0.0, 0.0])
    assert edges[0].angle_deg == pytest.approx(180.0)


def test_find_reentrant_corner():
    """L-shaped domain (unit square minus [0, .5]^2): the Li surface along the cut-out walls has a
    corner at (0.5, 0.5) with interior angle 270° (j ~ r^(-1/3) for a primary distribution)."""
    comm = MPI.COMM_SELF
    square = dolfinx.mesh.create_unit_square(comm, 8, 8)
    tdim = square.topology.dim
    keep = dolfinx.mesh.locate_entities(
        square, tdim, lambda x: (x[0] >= 0.5 - 1e-12) | (x[1] >= 0.5 - 1e-12)
    )
    mesh = dolfinx.mesh.create_submesh(square, tdim, keep)[0]
    mesh.topology.create_connectivity(tdim - 1, tdim)
    walls = dolfinx.mesh.locate_entities_boundary(
        mesh,
        tdim - 1,
        lambda x: (np.isclose(x[0], 0.5) & (x[1] <= 0.5 + 1e-12))
        | (np.isclose(x[1], 0.5) & (x[0] <= 0.5 + 1e-12)),
    )
    facet_tags = dolfinx.mesh.meshtags(mesh, tdim - 1, walls, np.full(walls.size, 1, np.int32))
    num_cells = mesh.topology.index_map(tdim).size_local
    cell_tags = dolfinx.mesh.meshtags(
        mesh, tdim, np.arange(num_cells, dtype=np.int32), np.full(num_cells, 1, np.int32)
    )
    bundle = MeshBundle(
        mesh, cell_tags, facet_tags, {"electrolyte": 1}, {"li_surface": 1}, "cartesian", {},
        MeshStats(0, 0, 1.0, 0.0, 0.0), "l",
    )
    edges = find_edges(bundle, comm)
    assert [e.kind for e in edges] == ["corner"]
    assert np.allclose(edges[0].point, [0.5, 0.5, 0.0])
    assert edges[0].angle_deg == pytest.approx(270.0)
    assert edges[0].current_exponent == pytest.approx(2.0 / 3.0 - 1.0)


@pytest.mark.mpi
def test_field_metrics_per_region():
    """|E| = x + y (P1, exact at nodes): max 1.5 over the 'sei' half x <= 0.5, 2 elsewhere;
    a constant vector (3, 4) has norm 5 everywhere; c = 1 + x has min 1, max 2."""
    comm = MPI.COMM_WORLD
    bundle = rectangle_bundle(comm)
    V = dolfinx.fem.functionspace(bundle.mesh, ("Lagrange", 1))
    E = dolfinx.fem.Function(V)
    E.interpolate(lambda x: x[0] + x[1])
    Q = dolfinx.fem.functionspace(bundle.mesh, ("Lagrange", 1, (2,)))
    i = dolfinx.fem.Function(Q)
    i.interpolate(lambda x: np.vstack([np.full(x.shape[1], 3.0), np.full(x.shape[1], 4.0)]))
    c = dolfinx.fem.Function(V)
    c.interpolate(lambda x: 1.0 + x[0])
    m = field_metrics(
        {"field_strength": E, "current_density": i, "concentration": c}, bundle, comm
    )
    assert m["E_max_sei"] == pytest.approx(1.5)
    assert m["E_max_electrolyte"] == pytest.approx(2.0)
    assert m["i_max_sei"] == pytest.approx(5.0)
    assert (m["c_min"], m["c_max"]) == (pytest.approx(1.0), pytest.approx(2.0))


def test_case_metrics_deposit_and_depletion():
    """Constant j for 100 s then j rising linearly to 2 J0 at 200 s (trapezoid exact):
    plated charge 100 J0 + 150 J0 = 250 J0 C/m^2, thickness 250 J0 V_m / F; the solver's
    depletion event (at 150 s, reported from the third output on) marks the rows and the
    summary."""
    comm = MPI.COMM_SELF
    bundle = rectangle_bundle(comm)
    metrics = CaseMetrics(bundle, OutputConfig(), comm)
    x, w = gauss_line(50, 0.0, 1.0)
    rows = []
    for t, scale, c in ((0.0, 1.0, 1000.0), (100.0, 1.0, 100.0), (200.0, 2.0, 5.0)):
        sample = SurfaceSample(x, w, np.full(w.size, J0 * scale), np.full(w.size, c))
        scalars = {"cell_voltage": -0.1, "current_mean": J0, "leakage_current": 0.01 * J0}
        scalars["depletion_time"] = 150.0 if t >= 150.0 else math.nan
        rows.append(metrics(Snapshot(t=t, fields={}, surface=sample, scalars=scalars)))
    assert rows[0]["deposit_mean"] == 0.0
    # abs=0: for a ~1.7e-7 m deposit the default abs=1e-12 is 6e-6 relative, looser than rel.
    deposit = 250.0 * J0 * LI_MOLAR_VOLUME / FARADAY
    assert rows[-1]["deposit_mean"] == pytest.approx(deposit, rel=1e-6, abs=0)
    assert rows[-1]["deposit_max_over_mean"] == pytest.approx(1.0)
    assert rows[-1]["asr"] == pytest.approx(0.1 / J0)
    assert rows[-1]["leakage_fraction"] == pytest.approx(0.01)
    summary = metrics.summary()
    assert summary["depletion_time"] == 150.0
    assert summary["num_times"] == 3
    assert [r["depleted"] for r in rows] == [0.0, 0.0, 1.0]


def test_find_void_edge_curve_3d():
    """3D: li_surface on z = 0, x < 0.5 and void_wall on z = 0, x > 0.5 meet along the line
    x = 0.5 (n + 1 vertices, spacing h = 1/n). With uniform j and balls of radius δ = 0.2 > h/2
    around the vertices, every line y = const of the Li side (width 0.5) is covered over a width
    between sqrt(δ² - (h/2)²) and δ, which bounds the measure fraction; the band enhancement of a
    uniform j is 1; no per-vertex columns are written."""
    comm = MPI.COMM_SELF
    n = 4
    mesh = dolfinx.mesh.create_unit_cube(comm, n, n, n)
    fdim = mesh.topology.dim - 1
    li = dolfinx.mesh.locate_entities_boundary(
        mesh, fdim, lambda x: np.isclose(x[2], 0.0) & (x[0] <= 0.5 + 1e-12)
    )
    void = dolfinx.mesh.locate_entities_boundary(
        mesh, fdim, lambda x: np.isclose(x[2], 0.0) & (x[0] >= 0.5 - 1e-12)
    )
    facets = np.concatenate([li, void])
    values = np.concatenate([np.full(li.size, 1), np.full(void.size, 2)]).astype(np.int32)
    order = np.argsort(facets)
    facet_tags = dolfinx.mesh.meshtags(mesh, fdim, facets[order], values[order])
    num_cells = mesh.topology.index_map(3).size_local
    cells = np.arange(num_cells, dtype=np.int32)
    bundle = MeshBundle(
        mesh, dolfinx.mesh.meshtags(mesh, 3, cells, np.ones(num_cells, np.int32)), facet_tags,
        {"electrolyte": 1}, {"li_surface": 1, "void_wall": 2}, "cartesian", {},
        MeshStats(0, 0, 1.0, 0.0, 0.0), "cube",
    )
    edges = find_edges(bundle, comm)
    assert len(edges) == n + 1 and all(e.kind == "void_edge" and e.singular for e in edges)
    assert np.allclose(sorted(e.point[1] for e in edges), np.linspace(0.0, 1.0, n + 1))
    g = np.linspace(0.0, 1.0, 201)[:-1] + 0.0025
    xx, yy = np.meshgrid(g[g < 0.5], g)
    x = np.column_stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)])
    w = np.full(xx.size, 0.005**2)
    m = edge_metrics(SurfaceSample(x, w, np.ones(w.size), np.ones(w.size)), edges, band=0.2)
    lower, upper = math.sqrt(0.2**2 - (0.5 / n) ** 2) / 0.5, 0.2 / 0.5
    assert lower < m["edge_band_measure_fraction"] < upper
    assert m["edge_band_enhancement"] == pytest.approx(1.0)
    assert not any(k.startswith("edge0") for k in m)


def test_singular_edge_band_converges_while_peak_grows():
    """j = (W - x)^(-1/2), the primary current next to a straight void edge at x = W (ω = π,
    Dirichlet meets Neumann). Sampled on n uniform segments, the pointwise maximum grows like
    n^(1/2) (doubles per 4x refinement, to 1e-9), while the band fraction converges to the exact
    ∫_{W-δ}^W r^(-1/2) dr / ∫_0^W r^(-1/2) dr = sqrt(δ/W) = 1/2 for δ = W/4 with error O(h^(1/2))
    (halving per 4x refinement), and the weighted P99 converges to its exact value 10/sqrt(W)
    (j exceeds v on the length v^(-2) = 1 % of W)."""
    edge = [Edge(np.array([W, 0.0, 0.0]), "void_edge", 180.0)]
    peaks, errors, p99 = [], [], []
    for n in (100, 400, 1600):
        x, w = gauss_line(n)
        j = (W - x[:, 0]) ** -0.5
        sample = SurfaceSample(x, w, j, np.full(j.size, np.nan))
        m = edge_metrics(sample, edge, band=W / 4.0)
        peaks.append(m["edge_j_max_pointwise"])
        errors.append(abs(m["edge0_current_fraction"] - 0.5))
        p99.append(surface_metrics(sample, {}, percentile=99.0)["j_percentile"] * math.sqrt(W))
    assert peaks[1] / peaks[0] == pytest.approx(2.0, rel=1e-9)
    assert peaks[2] / peaks[1] == pytest.approx(2.0, rel=1e-9)
    assert errors[0] < 0.01 and errors[1] / errors[0] < 0.55 and errors[2] / errors[1] < 0.55
    assert p99[-1] == pytest.approx(10.0, rel=0.01)
