"""Files of a run: field time series for ParaView, surface profiles, ``metrics.json``, CSV.

Layout of a run directory (schema in docs/outputs.md)::

    <run>/metrics.json                 all cases: per-time metrics, summaries, units
    <run>/<case>/timeseries.csv        one row per output time
    <run>/<case>/surface.npz           j and c_s at the Li-surface samples for every output time
    <run>/<case>/fields/<field>.xdmf   (+ .h5)  XDMF time series, Lagrange of the mesh degree
    <run>/<case>/fields/<field>.bp     ADIOS2 VTX time series, the field's own Lagrange degree
    <run>/<case>/fields/<field>.vtkhdf VTKHDF time series (one array named ``u``), read by pyvista

Field writers are collective on the mesh communicator; JSON, CSV and NPZ are written by rank 0.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

import basix.ufl
import dolfinx
import numpy as np
from mpi4py import MPI

from solver.geometry.bundle import MeshBundle
from solver.output_spec import OutputConfig
from solver.postprocess import METRIC_UNITS, CaseMetrics, gather_surface
from solver.results import Snapshot, SurfaceSample

METRICS_SCHEMA = "lidep-metrics/1"

logger = logging.getLogger(__name__)


def _output_space(
    mesh: dolfinx.mesh.Mesh, value_shape: tuple[int, ...], degree: int, discontinuous: bool
) -> dolfinx.fem.FunctionSpace:
    element = basix.ufl.element(
        "Lagrange",
        mesh.basix_cell(),
        degree,
        shape=value_shape or None,
        discontinuous=discontinuous,
    )
    return dolfinx.fem.functionspace(mesh, element)


def _is_cellwise_constant(f: dolfinx.fem.Function) -> bool:
    element = f.function_space.ufl_element()
    return element.embedded_superdegree == 0


def _owned_node_values(u: dolfinx.fem.Function) -> np.ndarray:
    """Values of ``u`` (Lagrange of the geometry degree) at the owned geometry nodes, flattened.

    The dofs of a Lagrange space of the coordinate-element degree sit on the geometry nodes in
    the same cell-local order, so the cell dofmaps give the node -> dof map.
    """
    mesh = u.function_space.mesh
    bs = u.function_space.dofmap.index_map_bs
    nodes = np.empty((mesh.geometry.x.shape[0], bs))
    nodes[mesh.geometry.dofmaps[0].ravel()] = u.x.array.reshape(-1, bs)[
        u.function_space.dofmap.list.ravel()
    ]
    return np.ascontiguousarray(nodes[: mesh.geometry.index_map().size_local].ravel())


def _owned_cell_values(u: dolfinx.fem.Function) -> np.ndarray:
    """Values of a cell-wise constant ``u`` on the owned cells, flattened."""
    mesh = u.function_space.mesh
    bs = u.function_space.dofmap.index_map_bs
    num_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    dofs = u.function_space.dofmap.list[:num_owned, 0]
    return np.ascontiguousarray(u.x.array.reshape(-1, bs)[dofs].ravel())


class _FieldSeries:
    """Time series of one field in the requested formats."""

    def __init__(
        self, name: str, template: dolfinx.fem.Function, directory: Path, formats: list[str]
    ) -> None:
        mesh = template.function_space.mesh
        comm = mesh.comm
        shape = tuple(template.ufl_shape)
        self.name = name
        self.cellwise = _is_cellwise_constant(template)
        geometry_degree = mesh.geometry.cmaps[0].degree
        # XDMF and VTKHDF: nodal values at the geometry nodes, or cell values for DG0.
        space = (
            template.function_space
            if self.cellwise
            else _output_space(mesh, shape, geometry_degree, discontinuous=False)
        )
        self.nodal = dolfinx.fem.Function(space, name=name)
        self.xdmf = self.vtx = None
        self.vtkhdf: Path | None = None
        if "xdmf" in formats:
            self.xdmf = dolfinx.io.XDMFFile(comm, directory / f"{name}.xdmf", "w")
            self.xdmf.write_mesh(mesh)
        if "vtx" in formats:
            # VTX keeps the field's own Lagrange degree (continuous or discontinuous).
            element = template.function_space.ufl_element()
            degree = max(element.embedded_superdegree, 0)
            vtx_space = _output_space(mesh, shape, degree, discontinuous=element.discontinuous)
            self.exact = dolfinx.fem.Function(vtx_space, name=name)
            self.vtx = dolfinx.io.VTXWriter(comm, directory / f"{name}.bp", [self.exact])
        if "vtkhdf" in formats and self._every_rank_has_cells(mesh):
            self.vtkhdf = directory / f"{name}.vtkhdf"
            dolfinx.io.vtkhdf.write_mesh(self.vtkhdf, mesh)

    @staticmethod
    def _every_rank_has_cells(mesh: dolfinx.mesh.Mesh) -> bool:
        """DOLFINx 0.11's VTKHDF data writers divide by the local size: skip empty ranks."""
        empty = mesh.topology.index_map(mesh.topology.dim).size_local == 0
        if mesh.comm.allreduce(empty, op=MPI.LOR):
            logger.warning(
                "VTKHDF output skipped for a field on a mesh with no cells on some rank "
                "(DOLFINx 0.11 limitation); XDMF and VTX are unaffected"
            )
            return False
        return True

    def write(self, f: dolfinx.fem.Function, t: float) -> None:
        self.nodal.interpolate(f)
        self.nodal.x.scatter_forward()
        if self.xdmf is not None:
            self.xdmf.write_function(self.nodal, t)
        if self.vtx is not None:
            self.exact.interpolate(f)
            self.exact.x.scatter_forward()
            self.vtx.write(t)
        if self.vtkhdf is not None:
            mesh = self.nodal.function_space.mesh
            if self.cellwise:
                data = _owned_cell_values(self.nodal)
                dolfinx.io.vtkhdf.write_cell_data(self.vtkhdf, mesh, data, t)
            else:
                data = _owned_node_values(self.nodal)
                dolfinx.io.vtkhdf.write_point_data(self.vtkhdf, mesh, data, t)

    def close(self) -> None:
        if self.xdmf is not None:
            self.xdmf.close()
        if self.vtx is not None:
            self.vtx.close()


class SurfaceCurrent:
    """j on the Li surface as a DG0 function on the facet submesh of ``li_surface``.

    Each facet gets the mean of j over the surface samples that lie on it (Σ w j / Σ w), which
    is the exact facet average for the physics' quadrature. The samples are gathered and each is
    assigned to the nearest facet over all ranks, so any distribution of the samples works.
    """

    def __init__(self, bundle: MeshBundle) -> None:
        mesh = bundle.mesh
        fdim = mesh.topology.dim - 1
        mesh.topology.create_connectivity(fdim, mesh.topology.dim)
        facets = bundle.facet_tags.find(bundle.boundaries["li_surface"])
        self.mesh = dolfinx.mesh.create_submesh(mesh, fdim, facets)[0]
        self.function = dolfinx.fem.Function(
            dolfinx.fem.functionspace(self.mesh, ("DG", 0)), name="surface_current"
        )
        tdim = self.mesh.topology.dim
        index_map = self.mesh.topology.index_map(tdim)
        self._cells = np.arange(index_map.size_local + index_map.num_ghosts, dtype=np.int32)
        self._tree = dolfinx.geometry.bb_tree(self.mesh, tdim, entities=self._cells)
        self._midpoints = dolfinx.geometry.create_midpoint_tree(self.mesh, tdim, self._cells)

    def update(self, surface: SurfaceSample) -> dolfinx.fem.Function:
        """Set the facet averages of j from the gathered ``surface``; returns the function."""
        comm = self.mesh.comm
        points = np.ascontiguousarray(surface.x, dtype=np.float64).reshape(-1, 3)
        values = self.function.x.array
        values[:] = 0.0
        distance = np.full(points.shape[0], np.inf)
        cells = np.zeros(points.shape[0], dtype=np.int32)
        if points.shape[0] and self._cells.size:
            cells = dolfinx.geometry.compute_closest_entity(
                self._tree, self._midpoints, self.mesh, points
            )
            distance = dolfinx.geometry.squared_distance(
                self.mesh, self.mesh.topology.dim, cells, points
            )
        global_distance = np.empty_like(distance)
        comm.Allreduce(distance, global_distance, op=MPI.MIN)
        nearest = distance <= global_distance
        nearest &= np.isfinite(distance)
        dofs = self.function.function_space.dofmap.list[cells[nearest], 0]
        current = np.zeros_like(values)
        measure = np.zeros_like(values)
        np.add.at(current, dofs, surface.weight[nearest] * surface.j[nearest])
        np.add.at(measure, dofs, surface.weight[nearest])
        has = measure > 0.0
        values[has] = current[has] / measure[has]
        self.function.x.scatter_forward()
        return self.function


class FieldWriter:
    """Writes one case's fields and surface profiles at each output time.

    Args:
        bundle: The case's mesh.
        case_dir: ``<run>/<case>``; created if missing.
        config: The case's output section (fields, formats).
        comm: The mesh communicator.
    """

    def __init__(
        self, bundle: MeshBundle, case_dir: Path, config: OutputConfig, comm: MPI.Comm
    ) -> None:
        self.bundle = bundle
        self.case_dir = Path(case_dir)
        self.field_dir = self.case_dir / "fields"
        self.config = config
        self.comm = comm
        if comm.rank == 0:
            self.field_dir.mkdir(parents=True, exist_ok=True)
        comm.barrier()
        self._series: dict[str, _FieldSeries] = {}
        self._surface = (
            SurfaceCurrent(bundle)
            if "surface_current" in config.fields and config.formats
            else None
        )
        self._times: list[float] = []
        self._j: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._points: SurfaceSample | None = None

    def __enter__(self) -> FieldWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, snapshot: Snapshot) -> None:
        """Append ``snapshot`` to every field series and to ``surface.npz``. Collective."""
        t = float(snapshot.t)
        surface = gather_surface(snapshot.surface, self.comm)
        fields = dict(snapshot.fields)
        if self._surface is not None:
            fields["surface_current"] = self._surface.update(surface)
        for name in self.config.fields:
            f = fields.get(name)
            if f is None or not self.config.formats:
                continue
            if name not in self._series:
                self._series[name] = _FieldSeries(name, f, self.field_dir, self.config.formats)
            self._series[name].write(f, t)
        self._record_surface(t, surface)

    def _record_surface(self, t: float, surface: SurfaceSample) -> None:
        if self._points is None:
            self._points = surface
        self._times.append(t)
        self._j.append(surface.j)
        self._c.append(surface.c_surface)
        if self.comm.rank == 0:
            write_surface_profiles(
                self.case_dir / "surface.npz",
                np.array(self._times),
                self._points,
                np.array(self._j),
                np.array(self._c),
            )

    def close(self) -> None:
        """Close every open file. Collective."""
        for series in self._series.values():
            series.close()
        self._series.clear()


def write_surface_profiles(
    path: Path, t: np.ndarray, points: SurfaceSample, j: np.ndarray, c_surface: np.ndarray
) -> None:
    """Write ``surface.npz``: t (nt,), x (n, 3), weight (n,), j (nt, n), c_surface (nt, n)."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, t=t, x=points.x, weight=points.weight, j=j, c_surface=c_surface)
    tmp.replace(path)


def read_surface_profiles(path: Path) -> dict[str, np.ndarray]:
    """Read ``surface.npz`` into a dict of arrays (keys as written)."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def _json_ready(value: object) -> object:
    """Replace non-finite floats by None (strict JSON) and numpy scalars/arrays by Python types."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_metrics(
    run_dir: Path,
    cases: dict[str, CaseMetrics],
    comm: MPI.Comm,
    *,
    run_name: str = "",
    description: str = "",
) -> Path:
    """Write ``<run>/metrics.json`` and ``<run>/<case>/timeseries.csv`` (rank 0). Collective.

    Returns:
        The path of ``metrics.json``.
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if comm.rank == 0:
        document = {
            "schema": METRICS_SCHEMA,
            "run": run_name or run_dir.name,
            "description": description,
            "units": METRIC_UNITS,
            "cases": {
                name: {"summary": m.summary(), "times": m.rows} for name, m in cases.items()
            },
        }
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(_json_ready(document), indent=2, allow_nan=False))
        tmp.replace(path)
        for name, m in cases.items():
            write_timeseries(run_dir / name / "timeseries.csv", m.rows)
    comm.barrier()
    return path


def write_timeseries(path: Path, rows: list[dict[str, float]]) -> None:
    """Write rows as CSV; columns are the keys in order of first appearance, NaN as empty."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (repr(float(v)) if math.isfinite(v) else "") for k, v in row.items()}
            )


def read_timeseries(path: Path) -> list[dict[str, float]]:
    """Read ``timeseries.csv`` (empty cells become NaN)."""
    with Path(path).open(newline="") as stream:
        return [
            {k: (float(v) if v != "" else math.nan) for k, v in row.items()}
            for row in csv.DictReader(stream)
        ]


def read_metrics(run_dir: Path) -> dict:
    """Read ``<run>/metrics.json``; nulls become NaN in the per-time rows.

    Raises:
        FileNotFoundError: No metrics.json in ``run_dir``.
        ValueError: The file has another schema.
    """
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {run_dir}: is it a lidep run directory?")
    document = json.loads(path.read_text())
    if document.get("schema") != METRICS_SCHEMA:
        raise ValueError(
            f"{path} has schema {document.get('schema')!r}, expected {METRICS_SCHEMA!r}"
        )
    for case in document["cases"].values():
        case["times"] = [
            {k: (math.nan if v is None else v) for k, v in row.items()} for row in case["times"]
        ]
    return document
