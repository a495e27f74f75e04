"""Shared test fixtures: small structured meshes wrapped in ``MeshBundle`` (contract tags)."""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

from collections.abc import Callable
from types import SimpleNamespace

import dolfinx
import numpy as np
import pytest
from mpi4py import MPI

from solver.geometry import GeometryConfig, build_mesh
from solver.geometry.bundle import MeshBundle, MeshStats
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation

ELECTROLYTE, LAYER = 1, 2
FACETS = {"li_surface": 1, "counter": 2, "interphase_electrolyte": 5}


def make_flat_bundle(
    comm: MPI.Comm,
    width: float,
    height: float,
    n: tuple[int, ...],
    *,
    layer: tuple[str, float, int] | None = None,
    coordinates: str = "cartesian",
    depth: float | None = None,
    cell: str | None = None,
) -> MeshBundle:
    """A flat Li | (layer) | electrolyte cell on a structured mesh.

    Args:
        comm: Communicator.
        width: W (or R when axisymmetric), m.
        height: L, the counter position, m.
        n: Cells per direction: (nx, ny) in 2D, (nx, ny, nz) in 3D (the last is vertical).
        layer: (name, thickness h, number of cell rows in it): an interphase layer on y = 0.
        coordinates: ``"cartesian"`` or ``"axisymmetric"`` (2D only).
        depth: 3D only: extent of the second lateral direction (default width).
        cell: ``"triangle"`` (default)/``"quadrilateral"`` (2D) or ``"tetrahedron"``
            (default)/``"hexahedron"`` (3D).
    """
    tdim = len(n)
    ghost = dolfinx.mesh.GhostMode.shared_facet
    cell_type = dolfinx.mesh.CellType[cell or ("triangle" if tdim == 2 else "tetrahedron")]
    if tdim == 2:
        msh = dolfinx.mesh.create_rectangle(
            comm, [[0.0, 0.0], [1.0, 1.0]], list(n), cell_type, ghost_mode=ghost
        )
    else:
        msh = dolfinx.mesh.create_box(
            comm, [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], list(n), cell_type, ghost_mode=ghost
        )
    x = msh.geometry.x
    lateral = [width] + ([depth or width] if tdim == 3 else [])
    for k, extent in enumerate(lateral):
        x[:, k] *= extent
    s = x[:, tdim - 1].copy()
    h = 0.0
    if layer is None:
        x[:, tdim - 1] = s * height
    else:
        _, h, rows = layer
        s_h = rows / n[-1]
        x[:, tdim - 1] = np.where(s <= s_h, s / s_h * h, h + (s - s_h) / (1.0 - s_h) * (height - h))
    fdim = tdim - 1
    msh.topology.create_connectivity(fdim, tdim)
    cmap = msh.topology.index_map(tdim)
    cells = np.arange(cmap.size_local + cmap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells)
    cell_values = np.where(mid[:, tdim - 1] < h, LAYER, ELECTROLYTE).astype(np.int32)
    cell_tags = dolfinx.mesh.meshtags(msh, tdim, cells, cell_values)
    regions = {"electrolyte": ELECTROLYTE} | ({layer[0]: LAYER} if layer else {})

    side_names = (
        ["axis", "side_outer"]
        if coordinates == "axisymmetric"
        else (
            ["side_left", "side_right"]
            if tdim == 2
            else ["side_x0", "side_x1", "side_y0", "side_y1"]
        )
    )
    boundaries = dict(FACETS)
    tol = 1e-9 * min(height, width) if layer is None else 1e-3 * layer[1]

    def near(a: np.ndarray, b: float) -> np.ndarray:
        return np.abs(a - b) < tol

    markers: list[tuple[str, Callable]] = [
        ("li_surface", lambda p: near(p[tdim - 1], 0.0)),
        ("counter", lambda p: near(p[tdim - 1], height)),
    ]
    for k, extent in enumerate(lateral):
        lo, hi = side_names[2 * k], side_names[2 * k + 1]
        boundaries[lo], boundaries[hi] = 10 + 2 * k, 11 + 2 * k
        markers.append((lo, lambda p, k=k: near(p[k], 0.0)))
        markers.append((hi, lambda p, k=k, e=extent: near(p[k], e)))
    indices, values = [], []
    for name, marker in markers:
        facets = dolfinx.mesh.locate_entities_boundary(msh, fdim, marker)
        indices.append(facets)
        values.append(np.full(len(facets), boundaries[name], dtype=np.int32))
    if layer is not None:
        facets = dolfinx.mesh.locate_entities(msh, fdim, lambda p: near(p[tdim - 1], h))
        indices.append(facets)
        values.append(np.full(len(facets), FACETS["interphase_electrolyte"], dtype=np.int32))
    else:
        boundaries.pop("interphase_electrolyte")
    all_idx = np.concatenate(indices)
    all_val = np.concatenate(values)
    _, first = np.unique(all_idx, return_index=True)  # a facet keeps its first tag
    order = np.argsort(all_idx[first])
    facet_tags = dolfinx.mesh.meshtags(msh, fdim, all_idx[first][order], all_val[first][order])

    stats = MeshStats(
        num_cells=cmap.size_global,
        num_vertices=msh.topology.index_map(0).size_global,
        min_quality=1.0,
        h_min=0.0,
        h_max=0.0,
    )
    return MeshBundle(
        mesh=msh,
        cell_tags=cell_tags,
        facet_tags=facet_tags,
        regions=regions,
        boundaries=boundaries,
        coordinates=coordinates,  # type: ignore[arg-type]
        landmarks={},
        stats=stats,
        key="test-flat",
    )


@pytest.fixture
def flat_cell_bundle() -> Callable[..., MeshBundle]:
    """Factory fixture: ``flat_cell_bundle(comm, W, L, n, layer=..., coordinates=...)``."""
    return make_flat_bundle


def growth_case(electrolyte: dict, control: dict, time: dict, **growth) -> SimpleNamespace:
    """A transient case with the moving Li surface (``physics.growth.enabled``).

    A 'sei' interphase of 1e-4 S/m, Butler-Volmer kinetics with i0 = 10 A/m^2, P1.

    Args:
        electrolyte: The ``physics.electrolyte`` section.
        control: The ``physics.control`` section.
        time: ``time`` keys besides ``mode`` (transient).
        **growth: ``physics.growth`` keys besides ``enabled``.
    """
    physics = PhysicsConfig(
        electrolyte=electrolyte,
        interphase={"sei": {"conductivity": 1e-4}},
        kinetics={"model": "butler_volmer", "exchange_current_density": 10.0},
        control=control,
        growth={"enabled": True, **growth},
    )
    return SimpleNamespace(
        physics=physics, time=TimeConfig(mode="transient", **time),
        numerics=NumericsConfig(degree=1),
    )


def primary_apex_over_far(geometry: GeometryConfig) -> float:
    """Apex over far-field Li-surface current of a protrusion, primary distribution, P2.

    A single-ion electrolyte of 0.01 S/m held at -10 mV; j is taken at the surface quadrature
    point nearest each landmark (``apex``, ``far_field``), gathered over the ranks. Collective.

    Args:
        geometry: The geometry, with one protrusion (its landmarks name the apex).
    """
    bundle = build_mesh(geometry, MPI.COMM_WORLD, None)
    physics = PhysicsConfig(
        electrolyte={"type": "single_ion", "conductivity": 0.01},
        kinetics={"model": "primary"},
        control={"mode": "potentiostatic", "potential": -0.01},
    )
    case = SimpleNamespace(physics=physics, time=TimeConfig(), numerics=NumericsConfig(degree=2))
    surface = next(iter(Simulation(bundle, case, MPI.COMM_WORLD).run())).surface
    values = []
    for point in (bundle.landmarks["apex"], bundle.landmarks["far_field"]):
        d = np.linalg.norm(surface.x - point, axis=1)
        k = int(np.argmin(d)) if len(d) else -1
        local = (float(d[k]), float(surface.j[k])) if k >= 0 else (np.inf, np.nan)
        values.append(min(MPI.COMM_WORLD.allgather(local))[1])
    return values[0] / values[1]
