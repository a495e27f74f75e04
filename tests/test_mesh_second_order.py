"""Curved second-order nodes placed in numpy (solver/geometry/second_order.py) against Gmsh.

``set_order_2`` must give the mesh Gmsh's ``setOrder(2)`` gives: the same elements (same tags,
same order) with the same node coordinates, element by element, on the same first-order mesh.
Tolerances in Gmsh's model unit (um): 1e-12 on lines, circles, ellipses, planes and spheres
(measured 2e-13 at most: round-off of the midpoint arithmetic and of the curve evaluation; a
closed curve's edge across its seam spans to the end of the parameter range, not back);
1e-7 on B-spline curves (a sinusoidal surface), where Gmsh's own Newton iteration for the point
halfway along the curve stops at a parameter step of 1e-6 (measured: 6.7e-9 um), while ours
runs to 1e-14. The quality Gmsh computes from the nodes agrees to 1e-12 (relative) likewise.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import dolfinx
import gmsh
import numpy as np
import pytest
from mpi4py import MPI

from solver.geometry import GeometryConfig, build_mesh
from solver.geometry import build as build_module
from solver.geometry.occ2d import build_occ_2d
from solver.geometry.occ3d import build_occ_3d
from solver.geometry.second_order import set_order_2

UM = 1e-6

CASES = {
    "circle and offset circle": (
        {"domain": {"width": 5 * UM, "length": 10 * UM},
         "protrusions": [{"shape": "spherical", "radius": UM}],
         "layers": [{"thickness": 100e-9}]}, 1e-12),
    "axisymmetric, 10 nm layer": (
        {"coordinates": "axisymmetric", "domain": {"width": 5 * UM, "length": 20 * UM},
         "protrusions": [{"shape": "spherical", "radius": UM}],
         "layers": [{"thickness": 10e-9}]}, 1e-12),
    "ellipse": (
        {"domain": {"width": 5 * UM, "length": 10 * UM},
         "protrusions": [{"shape": "ellipse", "base_radius": 1.5 * UM, "height": 0.5 * UM,
                          "x": 2 * UM}]}, 1e-12),
    "spline (sinusoidal surface)": (
        {"domain": {"width": 4 * UM, "length": 8 * UM},
         "surface": {"kind": "sinusoidal", "amplitude": 0.3 * UM, "wavelength": 2 * UM},
         "layers": [{"thickness": 50e-9}]}, 1e-7),
    "3D hemisphere": (
        {"dimension": 3, "domain": {"width": 3 * UM, "depth": 3 * UM, "length": 6 * UM},
         "protrusions": [{"shape": "spherical", "radius": UM}], "mesh": {"refinement": 0.8}},
        1e-12),
    "3D closed circle (off-centre hemisphere), periodic": (
        {"dimension": 3,
         "domain": {"width": 4 * UM, "depth": 3 * UM, "length": 6 * UM, "lateral": "periodic"},
         "protrusions": [{"shape": "spherical", "radius": UM, "x": 1.5 * UM, "y": 1.4 * UM}],
         "mesh": {"far_field_size": "2um", "tip_size_factor": 0.5}}, 1e-12),
}


def _second_order(cfg: GeometryConfig, by_numpy: bool) -> tuple[dict, float]:
    """Element tags and node coordinates per (dim, entity, type), and the min SICN."""
    gmsh.model.add("second_order")
    try:
        for option, value in build_module.MESHING_OPTIONS.items():
            gmsh.option.setNumber(option, value)
        (build_occ_3d if cfg.dimension == 3 else build_occ_2d)(cfg, gmsh.model)
        gmsh.model.mesh.generate(cfg.dimension)
        if by_numpy:
            set_order_2(gmsh)
        else:
            gmsh.model.mesh.setOrder(2)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
        index[tags] = np.arange(tags.size)
        x = coords.reshape(-1, 3)
        elements = {}
        for dim, entity in gmsh.model.getEntities():
            types, element_tags, node_tags = gmsh.model.mesh.getElements(dim, entity)
            for kind, these, nodes in zip(types, element_tags, node_tags, strict=True):
                elements[(dim, entity, int(kind))] = (these, x[index[nodes]])
        return elements, build_module._min_quality(gmsh, cfg.dimension)
    finally:
        gmsh.model.remove()


@pytest.fixture(scope="module")
def gmsh_session():
    started = not gmsh.isInitialized()
    if started:
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    yield
    if started:
        gmsh.finalize()


@pytest.mark.parametrize("name", list(CASES))
def test_nodes_equal_gmsh_set_order(name, gmsh_session):
    geometry, tolerance = CASES[name]
    cfg = GeometryConfig.model_validate(geometry)
    ours, our_quality = _second_order(cfg, by_numpy=True)
    gmsh_made, gmsh_quality = _second_order(cfg, by_numpy=False)
    assert ours.keys() == gmsh_made.keys()
    assert any(kind in (9, 11) for _, _, kind in ours)  # second-order triangles / tetrahedra
    for key, (tags, x) in ours.items():
        np.testing.assert_array_equal(tags, gmsh_made[key][0])
        np.testing.assert_allclose(x, gmsh_made[key][1], rtol=0, atol=tolerance, err_msg=str(key))
    assert our_quality == pytest.approx(gmsh_quality, rel=max(tolerance, 1e-12) * 10)


@pytest.mark.mpi
def test_arc_nodes_lie_on_the_circles():
    """Every node of the Li surface's and of the interphase boundary's arcs lies on its circle
    (radius R, R + T about the origin) to 1e-14 R: the edge nodes are on the arc, not at the
    chord's midpoint (h^2 / (8 R) inside, ~1e-3 R here). The whole pipeline, on every rank."""
    R, T = UM, 100e-9
    cfg = GeometryConfig.model_validate(CASES["circle and offset circle"][0])
    bundle = build_mesh(cfg, MPI.COMM_WORLD, None)
    msh = bundle.mesh
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    for name, radius in (("li_surface", R), ("interphase_electrolyte", R + T)):
        facets = bundle.facet_tags.find(bundle.boundaries[name])
        nodes = dolfinx.mesh.entities_to_geometry(msh, tdim - 1, facets)
        x = msh.geometry.x[np.unique(nodes)]
        on_arc = x[(x[:, 1] > 1e-9 * R) & (x[:, 0] < (1 - 1e-9) * radius)]  # not the flat parts
        counts = MPI.COMM_WORLD.allreduce(len(on_arc))
        assert counts > 10
        r = np.hypot(on_arc[:, 0], on_arc[:, 1])
        np.testing.assert_allclose(r, radius, rtol=0, atol=1e-14 * R)


def test_high_order_optimiser_runs_on_gmsh_nodes(monkeypatch):
    """A second-order mesh below ``MIN_QUALITY`` goes to Gmsh's high-order optimiser on Gmsh's
    own second-order nodes (which pair the periodic high-order nodes): forced here by raising the
    threshold to 0.5 on a periodic 3D mesh of min SICN 0.36, the optimiser moves nodes of the
    sides (min SICN 0.24 after it, measured), and every node on x = W is still the image of one
    on x = 0 (to 1e-12 W)."""
    monkeypatch.setattr(build_module, "MIN_QUALITY", 0.5)
    width = 4 * UM
    cfg = GeometryConfig.model_validate({
        "dimension": 3,
        "domain": {"width": width, "depth": 3 * UM, "length": 6 * UM, "lateral": "periodic"},
        "protrusions": [{"shape": "spherical", "radius": UM, "x": 1.5 * UM, "y": 1.4 * UM}],
        "mesh": {"order": 2, "far_field_size": "2um", "tip_size_factor": 0.5},
    })
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    assert bundle.stats.min_quality > 0.2
    x = bundle.mesh.geometry.x
    tol = 1e-12 * width
    low = {tuple(np.round(p[1:] / tol)) for p in x[np.abs(x[:, 0]) < tol]}
    high = x[np.abs(x[:, 0] - width) < tol]
    assert len(high) > 0
    assert all(tuple(np.round(p[1:] / tol)) in low for p in high)
