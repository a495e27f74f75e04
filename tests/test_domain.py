"""``Domain.update_geometry`` after a known motion of the mesh: every reported quantity is exact.

The cells are built by the package's Gmsh builder with second-order geometry. The flat cell is
moved by x -> a x, y -> b y + c y^2: quadratic, so the degree-2 geometry represents the moved
straight-sided cells exactly, and every integral below is of a polynomial the quadrature
integrates exactly; the protrusion (curved cells) is moved by an affine map, which its
degree-2 cells also follow exactly. What remains is round-off: tolerance 1e-12 relative.
``abs=0`` throughout: SI areas of ~1e-11 m^2 would fall under pytest.approx's default absolute
tolerance.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import dolfinx
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from solver.domain import Domain
from solver.geometry import GeometryConfig, build_mesh

W, L, T = 4e-6, 8e-6, 0.5e-6  # width, counter position, layer thickness (m)
A, B, C = 1.3, 0.8, 2.5e4  # x -> A x, y -> B y + C y^2 (C L = 0.2: the map stays monotone)


def approx(expected: float) -> object:
    """1e-12 relative, no absolute tolerance."""
    return pytest.approx(expected, rel=1e-12, abs=0.0)


def _geometry(**extra: object) -> GeometryConfig:
    data = {
        "domain": {"width": W, "length": L},
        "mesh": {"far_field_size": "2um", "order": 2},
        "layers": [{"name": "sei", "thickness": T}],
        **extra,
    }
    return GeometryConfig.model_validate(data)


def _move(domain: Domain, a: float, b: float, c: float) -> None:
    """x -> a x, y -> b y + c y^2 on the parent's nodes, then update the domain."""
    x = domain.mesh.geometry.x
    x[:, 1] = b * x[:, 1] + c * x[:, 1] ** 2
    x[:, 0] *= a
    domain.update_geometry()


def _y(y: float) -> float:
    return B * y + C * y**2


def _check_submesh(domain: Domain) -> None:
    """The submesh's nodes are the parent's, and its bounding-box tree finds moved points."""
    sub = domain.submesh
    assert np.array_equal(sub.geometry.x, domain.mesh.geometry.x[domain.geom_map])
    point = np.array([[0.95 * A * W, _y(0.5 * (T + L)), 0.0]])  # outside the unmoved mesh
    hits = dolfinx.geometry.compute_collisions_points(domain.bb_tree, point)
    cells = dolfinx.geometry.compute_colliding_cells(domain.mesh, hits, point).links(0)
    found = domain.comm.allreduce(len(cells), op=MPI.SUM)
    assert found >= 1


@pytest.mark.parametrize("comm", [MPI.COMM_SELF], ids=["serial"])
def test_flat_cell_after_a_quadratic_stretch(comm: MPI.Comm) -> None:
    _flat_cell(comm)


@pytest.mark.mpi
def test_flat_cell_after_a_quadratic_stretch_on_two_ranks() -> None:
    _flat_cell(MPI.COMM_WORLD)


def _flat_cell(comm: MPI.Comm) -> None:
    bundle = build_mesh(_geometry(), comm, None)
    domain = Domain(bundle, comm, submesh=True, interface=["sei"])
    apex0 = np.array(bundle.landmarks["apex"], dtype=float)
    assert domain.area == approx(W)
    assert domain.height == approx(L)
    assert domain.cell_volume.x.array.size  # built before the motion: must be refreshed

    _move(domain, A, B, C)
    Ts, Ls = _y(T), _y(L)
    assert domain.area == approx(A * W)
    assert domain.li_area == approx(A * W)
    areas = {p.region: a for p, a in zip(domain.parts, domain.part_areas, strict=True)}
    assert areas == {"electrolyte": 0.0, "sei": approx(A * W)}
    assert domain.volumes == {"sei": approx(A * W * Ts), "electrolyte": approx(A * W * (Ls - Ts))}
    assert domain.interface_areas == {"sei": approx(A * W)}
    assert domain.height == approx(Ls)
    assert domain.apex[0] == approx(A * apex0[0])
    assert domain.apex[1] == pytest.approx(_y(apex0[1]), abs=1e-20)  # on y = 0: stays 0
    _check_submesh(domain)
    # integrals assembled on the submesh (and one mixing it with the parent's cells)
    xs = ufl.SpatialCoordinate(domain.submesh)
    assert domain.integrate(xs[1] * domain.dx_e) == approx(A * W * (Ls**2 - Ts**2) / 2)
    assert domain.integrate(xs[0] * domain.dx_e) == approx((A * W) ** 2 / 2 * (Ls - Ts))
    assert domain.integrate(1.0 * domain.ds_e(Domain.SUB_COUNTER)) == approx(A * W)
    assert domain.integrate(1.0 * domain.ds_e(Domain.SUB_INTERFACE)) == approx(A * W)
    owned = domain.mesh.topology.index_map(2).size_local
    volume = comm.allreduce(float(domain.cell_volume.x.array[:owned].sum()), op=MPI.SUM)
    assert volume == approx(A * W * Ls)


def test_axisymmetric_weights_follow_the_motion() -> None:
    """w = 2 pi r: the counter's area pi R^2 and the revolved volumes after r -> a r."""
    comm = MPI.COMM_SELF
    bundle = build_mesh(_geometry(coordinates="axisymmetric"), comm, None)
    domain = Domain(bundle, comm, submesh=True)
    _move(domain, A, B, C)
    R = A * W
    assert domain.area == approx(np.pi * R**2)
    assert domain.volumes["electrolyte"] == approx(np.pi * R**2 * (_y(L) - _y(T)))
    _check_submesh(domain)


def test_protrusion_after_an_affine_map() -> None:
    """Curved cells: areas and volumes scale by a b, lengths by b, the apex moves with them."""
    comm = MPI.COMM_SELF
    geometry = _geometry(protrusions=[{"shape": "spherical", "radius": 1e-6, "x": 2e-6}])
    bundle = build_mesh(geometry, comm, None)
    domain = Domain(bundle, comm, submesh=True, interface=["sei"])
    apex0 = np.array(bundle.landmarks["apex"], dtype=float)
    assert np.allclose(domain.apex, apex0, rtol=0, atol=1e-20)  # the landmark itself
    volumes = dict(domain.volumes)
    _move(domain, A, B, 0.0)
    assert domain.area == approx(A * W)
    assert domain.height == approx(B * L)
    assert domain.volumes == {k: approx(A * B * v) for k, v in volumes.items()}
    assert domain.apex[:2] == pytest.approx([A * apex0[0], B * apex0[1]], rel=1e-12, abs=0)
    assert domain.integrate(1.0 * domain.dx_e) == approx(A * B * volumes["electrolyte"])
    _check_submesh(domain)
