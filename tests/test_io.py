"""Field files read back (XDMF with meshio, pyvista and h5py), metrics.json and CSV."""

import math
from pathlib import Path

import solver  # noqa: F401  (MPI import order)

# isort: split

import dolfinx
import h5py
import meshio
import numpy as np
import pytest
import pyvista
from mpi4py import MPI
from test_postprocess import gauss_line, rectangle_bundle

from solver.io import (
    FieldWriter,
    read_metrics,
    read_surface_profiles,
    read_timeseries,
    write_metrics,
)
from solver.output_spec import OutputConfig
from solver.postprocess import CaseMetrics
from solver.results import Snapshot, SurfaceSample

TIMES = [0.0, 1.0, 2.5]


def potential_at(x: np.ndarray, t: float) -> np.ndarray:
    """A field that P1 and P2 represent exactly: (1 + t)(x + 2y)."""
    return (1.0 + t) * (x[0] + 2.0 * x[1])


def bottom_sample(comm: MPI.Comm, n: int = 8) -> SurfaceSample:
    """Gauss points on the bottom edge (the li_surface of rectangle_bundle), j = 1 + x.

    Points are dealt to ranks round-robin by segment so every rank has some in parallel; the
    DG0 facet average of a linear j is j at the facet midpoint.
    """
    x, w = gauss_line(n, 0.0, 1.0)
    keep = (np.arange(w.size) // 2) % comm.size == comm.rank
    return SurfaceSample(x[keep], w[keep], 1.0 + x[keep, 0], np.full(keep.sum(), 500.0))


def shared_tmp(tmp_path: Path, comm: MPI.Comm) -> Path:
    return Path(comm.bcast(str(tmp_path), root=0))


def concentration_at(x: np.ndarray) -> np.ndarray:
    """A concentration on the electrolyte half (x >= 0.5) that P1 represents exactly."""
    return 100.0 + 10.0 * x[0] - 5.0 * x[1]


def electrolyte_concentration(bundle) -> dolfinx.fem.Function:  # noqa: ANN001
    """c on a submesh of the 'electrolyte' cells (x >= 0.5), like the solver's binary salt."""
    mesh = bundle.mesh
    cells = bundle.cell_tags.find(bundle.regions["electrolyte"])
    submesh = dolfinx.mesh.create_submesh(mesh, mesh.topology.dim, cells)[0]
    c = dolfinx.fem.Function(dolfinx.fem.functionspace(submesh, ("Lagrange", 2)))
    c.interpolate(concentration_at)
    return c


def write_case(
    case_dir: Path, comm: MPI.Comm, with_concentration: bool = False
) -> tuple[CaseMetrics, dolfinx.mesh.Mesh]:
    bundle = rectangle_bundle(comm)
    V = dolfinx.fem.functionspace(bundle.mesh, ("Lagrange", 2))
    Q = dolfinx.fem.functionspace(bundle.mesh, ("DG", 0, (2,)))
    phi = dolfinx.fem.Function(V)
    flux = dolfinx.fem.Function(Q)
    fields = {"potential": phi, "current_density": flux}
    if with_concentration:
        fields["concentration"] = electrolyte_concentration(bundle)
    config = OutputConfig(
        fields=["potential", "concentration", "current_density", "surface_current"],
        formats=["xdmf", "vtx"],
    )
    metrics = CaseMetrics(bundle, config, comm)
    with FieldWriter(bundle, case_dir, config, comm) as writer:
        for t in TIMES:
            phi.interpolate(lambda x, t=t: potential_at(x, t))
            flux.x.array[:] = np.tile([1.0 + t, -2.0], flux.x.array.size // 2)
            snap = Snapshot(
                t=t,
                fields=fields,
                surface=bottom_sample(comm),
                scalars={"cell_voltage": -0.05 * (1 + t), "current_mean": 1.5},
            )
            writer.write(snap)
            metrics(snap)
    return metrics, bundle.mesh


def check_concentration(points: np.ndarray, values: np.ndarray) -> None:
    """Exact on the electrolyte nodes (x >= 0.5, 1e-10: P1 of a linear field), NaN elsewhere."""
    inside = points[:, 0] >= 0.5 - 1e-12
    assert np.allclose(values[inside], concentration_at(points[inside].T), atol=1e-10)
    assert np.isnan(values[~inside]).all()


@pytest.mark.mpi
def test_field_files_read_back(tmp_path):
    """One XDMF file per output kind holds every field under its own name at every time.

    meshio and pyvista read ``domain.xdmf`` as one data set: the potential is linear, so its
    nodal values are exact (1e-12); the DG0 current density is constant per cell; the
    concentration of the electrolyte submesh is exact on its nodes and NaN in the interphase.
    The surface current on each bottom facet is 1 + x_mid exactly.
    """
    comm = MPI.COMM_WORLD
    case_dir = shared_tmp(tmp_path, comm) / "case"
    write_case(case_dir, comm, with_concentration=True)
    fields = case_dir / "fields"
    if comm.rank != 0:
        comm.barrier()
        return
    try:
        assert sorted(p.name for p in fields.glob("*.xdmf")) == ["domain.xdmf", "surface.xdmf"]
        with meshio.xdmf.TimeSeriesReader(fields / "domain.xdmf") as reader:
            points, _ = reader.read_points_cells()
            assert reader.num_steps == len(TIMES)
            for k, t in enumerate(TIMES):
                time, point_data, cell_data = reader.read_data(k)
                assert time == pytest.approx(t)
                assert sorted(point_data) == ["concentration", "potential"]
                values = point_data["potential"].ravel()
                assert np.allclose(values, potential_at(points.T, t), atol=1e-12)
                check_concentration(points, point_data["concentration"].ravel())
                assert np.allclose(cell_data["current_density"][0][:, :2], [1.0 + t, -2.0])
        reader = pyvista.get_reader(fields / "domain.xdmf")
        assert np.allclose(reader.time_values, TIMES)
        reader.set_active_time_value(TIMES[-1])
        grid = reader.read()
        assert np.allclose(grid.point_data["potential"], potential_at(grid.points.T, TIMES[-1]))
        check_concentration(grid.points, np.asarray(grid.point_data["concentration"]))
        surface = pyvista.get_reader(fields / "surface.xdmf").read()
        midpoints = surface.cell_centers().points
        assert surface.n_cells == 8
        assert np.allclose(surface.cell_data["surface_current"], 1.0 + midpoints[:, 0])
        with h5py.File(fields / "surface.h5") as h5:
            nodes = h5["Mesh/mesh/geometry"][:]
            midpoints = nodes[h5["Mesh/mesh/topology"][:]].mean(axis=1)
            values = h5["Function/surface_current/0"][:].ravel()
        assert np.allclose(values, 1.0 + midpoints[:, 0])

        for name in ("potential", "concentration", "current_density", "surface_current"):
            assert (fields / f"{name}.bp").is_dir(), name
        profiles = read_surface_profiles(case_dir / "surface.npz")
        assert np.allclose(profiles["t"], TIMES)
        assert profiles["j"].shape == (3, 16)
        assert np.allclose(profiles["j"][0], 1.0 + profiles["x"][:, 0])
    finally:
        comm.barrier()


@pytest.mark.mpi
def test_xdmf_curved_p2_mesh(tmp_path):
    """On a second-order (curved) gmsh mesh, distributed or not, the XDMF point data sit on the
    P2 geometry nodes: u = x^2 (exact in P2) equals x^2 at every point pyvista reads, and every
    node is written once."""
    import gmsh

    from solver.geometry.bundle import MeshBundle, MeshStats

    comm = MPI.COMM_WORLD
    directory = shared_tmp(tmp_path, comm)
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        if comm.rank == 0:
            gmsh.model.add("disk")
            gmsh.model.occ.addDisk(0.0, 0.0, 0.0, 1.0, 1.0)
            gmsh.model.occ.synchronize()
            gmsh.model.addPhysicalGroup(2, [1], 1)
            gmsh.model.addPhysicalGroup(1, [1], 1)
            gmsh.option.setNumber("Mesh.MeshSizeMax", 0.5)
            gmsh.model.mesh.generate(2)
            gmsh.model.mesh.setOrder(2)
        data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=2)
    finally:
        gmsh.finalize()
    mesh = data.mesh
    bundle = MeshBundle(
        mesh, data.cell_tags, data.facet_tags, {"electrolyte": 1}, {"li_surface": 1},
        "cartesian", {}, MeshStats(0, 0, 1.0, 0.0, 0.0), "disk",
    )
    u = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 2)))
    u.interpolate(lambda x: x[0] ** 2)
    config = OutputConfig(fields=["potential"], formats=["xdmf"])
    sample = SurfaceSample(np.zeros((0, 3)), np.zeros(0), np.zeros(0), np.zeros(0))
    with FieldWriter(bundle, directory, config, comm) as writer:
        writer.write(Snapshot(t=0.0, fields={"potential": u}, surface=sample))
    num_nodes = mesh.geometry.index_map().size_global
    if comm.rank == 0:
        grid = pyvista.get_reader(directory / "fields" / "domain.xdmf").read()
        assert grid.n_points == num_nodes
        assert np.allclose(grid.point_data["potential"], grid.points[:, 0] ** 2, atol=1e-12)
    comm.barrier()


@pytest.mark.mpi
def test_metrics_json_and_csv_round_trip(tmp_path):
    comm = MPI.COMM_WORLD
    run_dir = shared_tmp(tmp_path, comm) / "run"
    metrics, _ = write_case(run_dir / "bare", comm)
    write_metrics(run_dir, {"bare": metrics}, comm, run_name="demo")
    document = read_metrics(run_dir)
    rows = read_timeseries(run_dir / "bare" / "timeseries.csv")
    assert document["run"] == "demo"
    case = document["cases"]["bare"]
    assert [r["t"] for r in case["times"]] == TIMES
    assert [r["t"] for r in rows] == TIMES
    # j = 1 + x on [0, 1]: mean 1.5, max -> 2; the cell voltage and asr pass through.
    assert rows[-1]["j_mean"] == pytest.approx(1.5, rel=1e-12)
    assert rows[-1]["asr"] == pytest.approx(0.05 * 3.5 / 1.5)
    assert case["times"][-1]["j_mean"] == pytest.approx(rows[-1]["j_mean"], rel=1e-15)
    # No landmark at the far field value nan: NaN survives both formats.
    assert math.isnan(rows[0]["c_min"] if "c_min" in rows[0] else math.nan)
    assert math.isnan(rows[0]["hotspot_centroid_x"])
    assert math.isnan(case["times"][0]["hotspot_centroid_x"])
    assert case["summary"]["num_times"] == 3
    assert document["units"]["j_mean"] == "A/m^2"


def test_read_metrics_rejects_foreign_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="lidep run directory"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.json").write_text('{"schema": "other"}')
    with pytest.raises(ValueError, match="schema"):
        read_metrics(tmp_path)


@pytest.mark.mpi
def test_rank_without_li_surface(tmp_path):
    """Ranks that own no Li-surface facet take part in every collective (no deadlock); the facet
    averages of j = 1 + x are still exact."""
    comm = MPI.COMM_WORLD
    case_dir = shared_tmp(tmp_path, comm) / "case"
    bundle = rectangle_bundle(comm)
    tags = bundle.facet_tags
    keep = np.ones(tags.indices.size, dtype=bool) if comm.rank == 0 else tags.values != 1
    bundle.facet_tags = dolfinx.mesh.meshtags(
        bundle.mesh, 1, tags.indices[keep], tags.values[keep]
    )
    empty = SurfaceSample(np.zeros((0, 3)), np.zeros(0), np.zeros(0), np.zeros(0))
    sample = bottom_sample(MPI.COMM_SELF) if comm.rank == 0 else empty
    config = OutputConfig(fields=["surface_current"])
    metrics = CaseMetrics(bundle, config, comm)
    with FieldWriter(bundle, case_dir, config, comm) as writer:
        snap = Snapshot(t=0.0, fields={}, surface=sample)
        writer.write(snap)
        row = metrics(snap)
    assert row["j_mean"] == pytest.approx(1.5, rel=1e-12)
    if comm.rank == 0:
        with h5py.File(case_dir / "fields" / "surface.h5") as h5:
            nodes = h5["Mesh/mesh/geometry"][:]
            midpoints = nodes[h5["Mesh/mesh/topology"][:]].mean(axis=1)
            values = h5["Function/surface_current/0"][:].ravel()
        assert np.allclose(values, 1.0 + midpoints[:, 0])
    comm.barrier()


def test_vtkhdf_is_no_longer_a_format():
    """VTKHDF 2.2 opens in no ParaView that users have (5.11 rejects it): asking for it is a
    configuration error that lists the formats."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="'xdmf' or 'vtx'"):
        OutputConfig(formats=["vtkhdf"])
    assert OutputConfig().formats == ["xdmf"]
