"""Files of a run: field time series for ParaView, surface profiles, ``metrics.json``, CSV.

Layout of a run directory (schema in docs/outputs.md)::

    <run>/metrics.json                 all cases: per-time metrics, summaries, units
    <run>/<case>/timeseries.csv        one row per output time
    <run>/<case>/surface.npz           j and c_s at the Li-surface samples for every output time
    <run>/<case>/fields/domain.xdmf    (+ .h5) every field of the ionic domain and the cells'
                                       region tags, all output times
    <run>/<case>/fields/surface.xdmf   (+ .h5) the current density on the Li-surface mesh
    <run>/<case>/fields/paraview_state.py  opens both in ParaView with colour maps
    <run>/<case>/fields/<field>.bp     ADIOS2 VTX time series, the field's own Lagrange degree
    <run>/<case>/fields.part-<k>/      a resumed run: the series written before interruption k;
                                       fields/domain.xdmf and surface.xdmf then index every
                                       part's times (merge_field_parts)

The XDMF files hold one temporal collection whose grids carry their mesh and all fields of that
time, the layout that ParaView's Xdmf3 readers (Debian's ParaView 5.11), pyvista and meshio read
as one data set with one array per field.

Field writers are collective on the mesh communicator; JSON, CSV and NPZ are written by rank 0.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import basix.ufl
import dolfinx
import numpy as np
from mpi4py import MPI

from solver.geometry.bundle import MeshBundle
from solver.output_spec import OutputConfig
from solver.postprocess import (
    METRIC_UNITS,
    CaseMetrics,
    gather_surface,
    nearest_points,
    point_permutation,
)
from solver.results import Snapshot, SurfaceSample

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

METRICS_SCHEMA = "lidep-metrics/1"

SURFACE_FIELD = "surface_current"
"""The field written on the Li-surface mesh (``surface.xdmf``); the others go to ``domain``."""

REGION_FIELD = "region"
"""Cell array of ``domain.xdmf``: the region tag of each cell (names in the metrics summary)."""

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


def merge_xdmf_times(path: Path, name: str) -> None:
    """Rewrite a DOLFINx XDMF file as one temporal collection with all fields per time.

    DOLFINx writes the mesh as its own grid and one temporal collection per function, which
    ParaView shows as separate blocks (and pyvista's XDMF reader crashes on its XInclude). The
    rewritten file has, for every time, one grid with the mesh's topology and geometry and one
    attribute per field, pointing to the same HDF5 data. A moving mesh (the growing Li
    surface) is written anew at each time it moved; each time's grid then takes the mesh its
    fields were written on. Run on one rank, after DOLFINx wrote;
    a file rewritten already (no separate mesh grid) is left as it is.
    """
    import xml.etree.ElementTree as ET  # here: 6 ms of import a run without fields skips

    domain = ET.parse(path).getroot().find("Domain")
    meshes = {grid.get("Name"): grid for grid in domain.findall("Grid[@GridType='Uniform']")}
    if not meshes:
        return
    first = next(iter(meshes.values()))
    times: dict[str, list[ET.Element]] = {}
    mesh_at: dict[str, ET.Element] = {}
    for collection in domain.findall("Grid[@GridType='Collection']"):
        for grid in collection.findall("Grid"):
            attributes = grid.findall("Attribute")
            time = grid.find("Time").get("Value")
            times.setdefault(time, []).extend(attributes)
            # a moving mesh is written once per time: the grid names the mesh it refers to
            pointer = " ".join(
                child.get("xpointer", "") for child in grid if child.tag.endswith("include")
            )
            named = re.search(r"Grid\[@Name='([^']+)'\]", pointer)
            mesh_at[time] = meshes.get(named.group(1), first) if named else first
    root = ET.Element("Xdmf", Version="3.0")
    series = ET.SubElement(
        ET.SubElement(root, "Domain"),
        "Grid", Name=name, GridType="Collection", CollectionType="Temporal",
    )
    for time, attributes in times.items():
        grid = ET.SubElement(series, "Grid", Name=name, GridType="Uniform")
        mesh = mesh_at[time]
        grid.extend([mesh.find("Topology"), mesh.find("Geometry")])
        ET.SubElement(grid, "Time", Value=time)
        grid.extend(attributes)
    ET.indent(root)
    tmp = path.with_suffix(".xdmf.tmp")
    ET.ElementTree(root).write(tmp, xml_declaration=True, encoding="utf-8")
    tmp.replace(path)


FIELD_PARTS = "fields.part-*"
"""Folders of a resumed case holding the field series written before each interruption."""


def _field_parts(case_dir: Path) -> list[Path]:
    """``fields.part-1``, ``fields.part-2``, ... then ``fields``: the series in run order."""
    parts = sorted(case_dir.glob(FIELD_PARTS), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    return [*parts, case_dir / "fields"]


def _series_grids(path: Path, name: str) -> list[tuple[float, ET.Element]]:
    """(time, grid) of every time of one part's XDMF series whose data can be read.

    The grids' HDF5 paths are made relative to ``fields``. A grid whose HDF5 data is missing or
    unreadable (a kill while it was written) is left out, with a warning.
    """
    import xml.etree.ElementTree as ET  # here: 6 ms of import a run without fields skips

    try:
        merge_xdmf_times(path, name)  # the part may have stopped before its last rewrite
        series = ET.parse(path).getroot().find("Domain/Grid[@GridType='Collection']")
    except (OSError, ET.ParseError, AttributeError):
        logger.warning("field series %s cannot be read; left out of the merged series", path)
        return []
    fields = path.parent.parent / "fields"
    grids = []
    import h5py  # 0.08 s of import: only when a run's field series are merged

    with contextlib.ExitStack() as stack:
        files: dict[Path, h5py.File | None] = {}

        def readable(file: Path, dataset: str) -> bool:
            if file not in files:
                try:
                    files[file] = stack.enter_context(h5py.File(file, "r"))
                except OSError:
                    files[file] = None
            return files[file] is not None and dataset in files[file]

        for grid in [] if series is None else series.findall("Grid"):
            grid = copy.deepcopy(grid)
            t = float(grid.find("Time").get("Value"))
            ok = True
            for item in grid.iter("DataItem"):
                file, sep, dataset = (item.text or "").strip().partition(":")
                if sep:
                    ok = ok and readable(path.parent / file, dataset)
                    item.text = f"{os.path.relpath(path.parent / file, fields)}:{dataset}"
            if ok:
                grids.append((t, grid))
            else:
                logger.warning("field series %s: the data of t = %g s cannot be read; left "
                               "out of the merged series", path, t)
    return grids


def merge_field_parts(case_dir: Path) -> list[Path]:
    """Index the field series of every part of a resumed case as one time series.

    A resumed run writes its fields anew from the checkpoint's time on into ``fields``; those
    written before each interruption are in ``fields.part-<k>`` (``solver.api``). This rewrites
    ``fields/domain.xdmf`` and ``fields/surface.xdmf`` to hold the grids of every part in time
    order, each pointing at its own part's HDF5 file by a relative path (so ParaView's Xdmf3
    readers, pyvista and meshio read one series; nothing is copied, and the parts must stay
    next to ``fields``). A time written by a part and again by a later one (outputs after the
    checkpoint the later part resumed from) is taken from the later part. ADIOS2 VTX series
    (``.bp``) are not merged: each part keeps its own. Run on one rank, after the fields were
    written and closed; a case without parts is left as it is.

    Args:
        case_dir: ``<run>/<case>``.

    Returns:
        The XDMF files written.
    """
    parts = _field_parts(case_dir)
    if len(parts) == 1:
        return []
    import xml.etree.ElementTree as ET  # here: 6 ms of import a case without parts skips

    written = []
    for name in ("domain", "surface"):
        kept: list[ET.Element] = []
        later = math.inf  # first time of the later parts
        for part in reversed(parts):
            grids = _series_grids(part / f"{name}.xdmf", name) if (
                part / f"{name}.xdmf").is_file() else []
            kept[:0] = [grid for t, grid in sorted(grids, key=lambda g: g[0]) if t < later]
            later = min([later, *(t for t, _ in grids)])
        if not kept:
            continue
        root = ET.Element("Xdmf", Version="3.0")
        series = ET.SubElement(ET.SubElement(root, "Domain"), "Grid", Name=name,
                               GridType="Collection", CollectionType="Temporal")
        series.extend(kept)
        ET.indent(root)
        path = case_dir / "fields" / f"{name}.xdmf"
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".xdmf.tmp")
        ET.ElementTree(root).write(tmp, xml_declaration=True, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    state = case_dir / "fields" / "paraview_state.py"
    older = [p / state.name for p in parts[:-1] if (p / state.name).is_file()]
    if written and not state.is_file() and older:  # no output since the resume
        shutil.copy2(older[-1], state)
    return written


def region_function(bundle: MeshBundle) -> dolfinx.fem.Function:
    """DG0 function holding each cell's region tag (0 for an untagged cell)."""
    region = dolfinx.fem.Function(
        dolfinx.fem.functionspace(bundle.mesh, ("DG", 0)), name=REGION_FIELD
    )
    dofs = region.function_space.dofmap.list[bundle.cell_tags.indices, 0]
    region.x.array[dofs] = bundle.cell_tags.values
    region.x.scatter_forward()
    return region


class _Transfer:
    """Puts a field onto the output function of a series' mesh.

    On the same mesh: Lagrange of the geometry degree (nodal values at the geometry nodes), or
    the field's own space when it is cell-wise constant. From the electrolyte submesh: each of
    its cells is matched to the cell of the series' mesh with the same geometry nodes (a
    submesh keeps its parent's input node indices) and interpolated cell by cell, NaN
    elsewhere (e.g. in the interphase). The cell-by-cell interpolation needs no pull-back of
    points, so it also holds on a moved mesh whose curved cells are strongly deformed.
    """

    def __init__(self, name: str, template: dolfinx.fem.Function, mesh: dolfinx.mesh.Mesh):
        source = template.function_space
        if source.mesh is mesh and _is_cellwise_constant(template):
            space = source
        else:
            degree = mesh.geometry.cmaps[0].degree
            space = _output_space(mesh, tuple(template.ufl_shape), degree, discontinuous=False)
        self.function = dolfinx.fem.Function(space, name=name)
        self._cells: tuple[np.ndarray, np.ndarray] | None = None
        if source.mesh is not mesh:
            self._cells = _matching_cells(source.mesh, mesh)

    def __call__(self, f: dolfinx.fem.Function) -> dolfinx.fem.Function:
        if self._cells is None:
            self.function.interpolate(f)
        else:
            self.function.x.array[:] = np.nan
            self.function.interpolate(f, cells0=self._cells[0], cells1=self._cells[1])
        self.function.x.scatter_forward()
        return self.function


def _matching_cells(
    sub: dolfinx.mesh.Mesh, parent: dolfinx.mesh.Mesh
) -> tuple[np.ndarray, np.ndarray]:
    """Local cells of a submesh and the cells of its parent with the same geometry nodes."""

    def keys(msh: dolfinx.mesh.Mesh) -> np.ndarray:
        nodes = msh.geometry.input_global_indices[msh.geometry.dofmaps[0]]
        return np.sort(nodes, axis=1)

    parent_keys, sub_keys = keys(parent), keys(sub)
    index = {row.tobytes(): cell for cell, row in enumerate(parent_keys)}
    found = [(cell, index.get(row.tobytes(), -1)) for cell, row in enumerate(sub_keys)]
    pairs = np.array([pair for pair in found if pair[1] >= 0], dtype=np.int32).reshape(-1, 2)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


class _XdmfSeries:
    """All fields on one mesh in one XDMF time series (``<name>.xdmf`` + ``<name>.h5``)."""

    def __init__(self, mesh: dolfinx.mesh.Mesh, directory: Path, name: str) -> None:
        self.mesh = mesh
        self.name = name
        self.path = directory / f"{name}.xdmf"
        self._file = dolfinx.io.XDMFFile(mesh.comm, self.path, "w")
        self._file.write_mesh(mesh)
        self._transfers: dict[str, _Transfer] = {}
        self._written_x = mesh.geometry.x.copy()
        self._mesh_xpath = f"/Xdmf/Domain/Grid[@Name='{mesh.name}']"
        self._moves = 0

    def _write_moved_mesh(self) -> None:
        """Write the mesh again when its nodes moved since it was last written (collective)."""
        x = self.mesh.geometry.x
        moved = not np.array_equal(x, self._written_x)
        if not self.mesh.comm.allreduce(moved, op=MPI.LOR):
            return
        self._write_mesh()

    def remesh(self, mesh: dolfinx.mesh.Mesh) -> None:
        """Continue on a new mesh (remeshing): written as the grid of the next times."""
        self.mesh = mesh
        self._transfers.clear()
        self._write_mesh()

    def _write_mesh(self) -> None:
        """Write the mesh as a new grid that the next fields refer to (collective)."""
        x = self.mesh.geometry.x
        self._moves += 1
        name = self.mesh.name
        self.mesh.name = f"{name}_{self._moves}"
        try:
            self._file.write_mesh(self.mesh)
        finally:
            self._mesh_xpath = f"/Xdmf/Domain/Grid[@Name='{self.mesh.name}']"
            self.mesh.name = name
        self._written_x = x.copy()

    def write(self, fields: dict[str, dolfinx.fem.Function], t: float) -> None:
        """Append the fields at time ``t`` (s). Collective."""
        if not fields:
            return
        self._write_moved_mesh()
        for name, f in fields.items():
            if name not in self._transfers:
                self._transfers[name] = _Transfer(name, f, self.mesh)
            self._file.write_function(self._transfers[name](f), t, self._mesh_xpath)
        self._file.flush()  # readable up to here after a kill (a part of a resumed run)
        self._merge()

    def _merge(self) -> None:
        if self.mesh.comm.rank == 0:
            merge_xdmf_times(self.path, self.name)

    def close(self) -> None:
        """Close the file. Collective."""
        self._file.close()
        self._merge()


class _VtxSeries:
    """One field in its own Lagrange degree (continuous or discontinuous) as ADIOS2 VTX."""

    def __init__(self, name: str, template: dolfinx.fem.Function, directory: Path,
                 stem: str | None = None) -> None:
        mesh = template.function_space.mesh
        element = template.function_space.ufl_element()
        degree = max(element.embedded_superdegree, 0)
        space = _output_space(
            mesh, tuple(template.ufl_shape), degree, discontinuous=element.discontinuous
        )
        self.exact = dolfinx.fem.Function(space, name=name)
        self._writer = dolfinx.io.VTXWriter(mesh.comm, directory / f"{stem or name}.bp",
                                            [self.exact])

    def write(self, f: dolfinx.fem.Function, t: float) -> None:
        """Append ``f`` at time ``t`` (s). Collective."""
        self.exact.interpolate(f)
        self.exact.x.scatter_forward()
        self._writer.write(t)

    def close(self) -> None:
        """Close the file. Collective."""
        self._writer.close()


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
        self.mesh, _, _, self._geom_map = dolfinx.mesh.create_submesh(mesh, fdim, facets)
        self._parent = mesh
        self.function = dolfinx.fem.Function(
            dolfinx.fem.functionspace(self.mesh, ("DG", 0)), name="surface_current"
        )
        tdim = self.mesh.topology.dim
        index_map = self.mesh.topology.index_map(tdim)
        self._cells = np.arange(index_map.size_local + index_map.num_ghosts, dtype=np.int32)
        self._build_trees()

    def _build_trees(self) -> None:
        tdim = self.mesh.topology.dim
        self._tree = dolfinx.geometry.bb_tree(self.mesh, tdim, entities=self._cells)
        self._midpoints = dolfinx.geometry.create_midpoint_tree(self.mesh, tdim, self._cells)

    def _follow_parent(self) -> None:
        """Take the parent's node coordinates when they moved (a growing Li surface)."""
        x = self._parent.geometry.x[self._geom_map]
        moved = not np.array_equal(self.mesh.geometry.x, x)
        if self.mesh.comm.allreduce(moved, op=MPI.LOR):
            self.mesh.geometry.x[:] = x
            self._build_trees()

    def update(self, surface: SurfaceSample) -> dolfinx.fem.Function:
        """Set the facet averages of j from the gathered ``surface``; returns the function."""
        self._follow_parent()
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


PARAVIEW_STATE = '''"""ParaView state of this lidep case: the fields at the last output time.

Open it in ParaView (5.11 or later) from this directory:
    cd <run>/<case>/fields && paraview --script=paraview_state.py
or File > Load State... (Python state file). Headless (pvbatch needs an X display, e.g.
xvfb-run): LIDEP_SCREENSHOT=case.png xvfb-run -a pvbatch paraview_state.py
"""

import os
from pathlib import Path

from paraview.simple import (
    ColorBy, GetActiveViewOrCreate, GetAnimationScene, GetColorTransferFunction, GetScalarBar,
    ResetCamera, SaveScreenshot, Show, Xdmf3ReaderT,
)

HERE = Path(globals().get("__file__", "paraview_state.py")).resolve().parent
COLOUR_MAPS = {{"concentration": "Viridis (matplotlib)", "potential": "Cool to Warm",
               "field_strength": "Inferno (matplotlib)", "current_density": "Inferno (matplotlib)",
               "surface_current": "Rainbow Uniform"}}
TITLES = {{"concentration": "c (mol/m^3)", "potential": "Phi (V)", "field_strength": "|E| (V/m)",
          "current_density": "|i| (A/m^2)", "surface_current": "j on the Li surface (A/m^2)"}}


def show(name, array, centre, position):
    reader = Xdmf3ReaderT(registrationName=name, FileName=[str(HERE / f"{{name}}.xdmf")])
    display = Show(reader, view)
    ColorBy(display, (centre, array))
    lut = GetColorTransferFunction(array)
    lut.ApplyPreset(COLOUR_MAPS[array], True)
    lut.NanColor = [0.75, 0.75, 0.75]  # no value here (e.g. c in the interphase)
    display.SetScalarBarVisibility(view, True)
    bar = GetScalarBar(lut, view)
    bar.Title, bar.ComponentTitle = TITLES[array], ""
    bar.WindowLocation = "Any Location"
    bar.Position, bar.ScalarBarLength = position, 0.35
    bar.TitleFontSize, bar.LabelFontSize, bar.ScalarBarThickness = 7, 6, 10
    bar.RangeLabelFormat = "%-#.3g"
    return reader, display


view = GetActiveViewOrCreate("RenderView")
domain, domain_display = show("domain", {domain_array!r}, "POINTS", [0.66, 0.08])
if (HERE / "surface.xdmf").is_file():
    _, surface_display = show("surface", "surface_current", "CELLS", [0.66, 0.55])
    surface_display.LineWidth = 4.0
scene = GetAnimationScene()
scene.UpdateAnimationUsingDataTimeSteps()
scene.AnimationTime = domain.TimestepValues[-1] if domain.TimestepValues else 0.0
domain_display.RescaleTransferFunctionToDataRange(False, True)
if {two_d!r}:
    view.InteractionMode = "2D"
ResetCamera(view)
if os.environ.get("LIDEP_SCREENSHOT"):
    SaveScreenshot(os.environ["LIDEP_SCREENSHOT"], view, ImageResolution=[900, 700])
'''
"""ParaView Python state written next to ``domain.xdmf``; ``{domain_array}`` is the field shown."""

STATE_PREFERENCE = ("concentration", "potential", "field_strength", "current_density")
"""The field the ParaView state colours the domain by: the first of these that is written."""


def write_paraview_state(field_dir: Path, fields: list[str], two_d: bool) -> Path | None:
    """Write ``paraview_state.py`` (ParaView colour maps, last time) for the written fields."""
    shown = [name for name in STATE_PREFERENCE if name in fields]
    if not shown:
        return None
    path = field_dir / "paraview_state.py"
    path.write_text(PARAVIEW_STATE.format(domain_array=shown[0], two_d=two_d))
    return path


class FieldWriter:
    """Writes one case's fields and surface profiles at each output time.

    Used as a context manager; leaving it without an exception also indexes the series of a
    resumed case's earlier parts with its own (:func:`merge_field_parts`).

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
        self._xdmf: dict[str, _XdmfSeries] = {}
        self._vtx: dict[str, _VtxSeries] = {}
        self._surface = (
            SurfaceCurrent(bundle)
            if SURFACE_FIELD in config.fields and config.formats
            else None
        )
        self._regions = region_function(bundle)
        self._times: list[float] = []
        self._j: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._x: list[np.ndarray] = []  # the sample points at every time (a moving surface)
        self._points: SurfaceSample | None = None
        self._remeshes = 0  # the VTX files after the k-th remesh are <field>.remesh-<k>.bp
        self._remap = False  # the next surface sample is on a new mesh

    def remeshed(self, bundle: MeshBundle) -> None:
        """Continue on a new mesh (``solver.growth.remesh``; collective).

        The XDMF series write it as the grid of the next times; VTX series (one mesh per
        file) continue in ``<field>.remesh-<k>.bp``; the recorded surface profiles move to
        the new sample points from the nearest old ones.
        """
        self.bundle = bundle
        self._remeshes += 1
        if self._surface is not None:
            self._surface = SurfaceCurrent(bundle)
        self._regions = region_function(bundle)
        for name, series in self._xdmf.items():
            series.remesh(self._surface.mesh if name == "surface" else bundle.mesh)
        for series in self._vtx.values():
            series.close()
        self._vtx.clear()
        self._remap = True

    def __enter__(self) -> FieldWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close()
        if exc_type is None and self.comm.rank == 0:  # a resumed case: one series of all parts
            merge_field_parts(self.case_dir)

    def write(self, snapshot: Snapshot) -> None:
        """Append ``snapshot`` to every field series and to ``surface.npz``. Collective."""
        t = float(snapshot.t)
        surface = gather_surface(snapshot.surface, self.comm)
        names = self.config.written_fields

        def field(name: str) -> dolfinx.fem.Function | None:
            # read only what is written: derived fields are projected when read (LazyFields)
            if name == SURFACE_FIELD:
                return None if self._surface is None else self._surface.update(surface)
            return snapshot.fields.get(name)

        fields = {n: f for n in names if (f := field(n)) is not None}
        if "xdmf" in self.config.formats:
            domain = {n: f for n, f in fields.items() if n != SURFACE_FIELD}
            if domain:
                domain[REGION_FIELD] = self._regions
            self._write_xdmf("domain", domain, t)
            self._write_xdmf("surface", {n: f for n, f in fields.items() if n == SURFACE_FIELD}, t)
        if "vtx" in self.config.formats:
            for name, f in fields.items():
                if name not in self._vtx:
                    stem = f"{name}.remesh-{self._remeshes}" if self._remeshes else None
                    self._vtx[name] = _VtxSeries(name, f, self.field_dir, stem)
                self._vtx[name].write(f, t)
        self._record_surface(t, surface)

    def _write_xdmf(self, name: str, fields: dict[str, dolfinx.fem.Function], t: float) -> None:
        """Append ``fields`` to ``fields/<name>.xdmf`` (created at the first non-empty call)."""
        if not fields:
            return
        if name == "domain" and name not in self._xdmf and self.comm.rank == 0:
            two_d = self.bundle.mesh.geometry.dim == 2
            write_paraview_state(self.field_dir, list(fields), two_d)
        if name not in self._xdmf:
            mesh = self._surface.mesh if name == "surface" else self.bundle.mesh
            self._xdmf[name] = _XdmfSeries(mesh, self.field_dir, name)
        self._xdmf[name].write(fields, t)

    def scalars(self) -> dict[str, Any]:
        """The surface profiles so far, for a restart checkpoint (``solver.driver``).

        The field series of an interrupted run are kept as they are (``fields.part-<k>``,
        ``solver.api``) and indexed with the resumed run's at its end (:func:`merge_field_parts`).
        """
        points = None if self._points is None else {"x": self._points.x,
                                                     "weight": self._points.weight}
        return {"times": self._times, "j": self._j, "c": self._c, "x": self._x, "points": points}

    def set_scalars(self, scalars: Mapping[str, Any]) -> None:
        """Continue the surface profiles of :meth:`scalars` (on any number of ranks)."""
        self._times = [float(t) for t in scalars["times"]]
        self._j = [np.asarray(a) for a in scalars["j"]]
        self._c = [np.asarray(a) for a in scalars["c"]]
        self._x = [np.asarray(a) for a in scalars.get("x", [])]
        points = scalars["points"]
        if points is not None:
            x = np.asarray(points["x"])
            self._points = SurfaceSample(x=x, weight=np.asarray(points["weight"]),
                                         j=np.zeros(len(x)), c_surface=np.zeros(len(x)))

    def _align(self, surface: SurfaceSample) -> None:
        """Reorder the recorded profiles to the points of ``surface`` (point_permutation)."""
        if self._remap:  # a new mesh: other points
            self._remap = False
            permutation = nearest_points(self._x[-1] if self._x else self._points.x, surface.x)
        else:
            permutation = point_permutation(self._points.x, surface.x)
        if permutation is not None:
            self._j = [j[permutation] for j in self._j]
            self._c = [c[permutation] for c in self._c]
            self._x = [x[permutation] for x in self._x]
            self._points = surface

    def _record_surface(self, t: float, surface: SurfaceSample) -> None:
        if self._points is None:
            self._points = surface
        self._align(surface)
        self._times.append(t)
        self._j.append(surface.j)
        self._c.append(surface.c_surface)
        self._x.append(surface.x)
        if self.comm.rank == 0:
            write_surface_profiles(
                self.case_dir / "surface.npz",
                np.array(self._times),
                self._points,
                np.array(self._j),
                np.array(self._c),
                np.array(self._x),
            )

    def close(self) -> None:
        """Close every open file. Collective."""
        for series in [*self._xdmf.values(), *self._vtx.values()]:
            series.close()
        self._xdmf.clear()
        self._vtx.clear()


def write_surface_profiles(
    path: Path, t: np.ndarray, points: SurfaceSample, j: np.ndarray, c_surface: np.ndarray,
    x_t: np.ndarray | None = None,
) -> None:
    """Write ``surface.npz`` (the surface samples at the output times).

    Arrays: t (nt,), x (n, 3), weight (n,), j (nt, n), c_surface (nt, n), and x_t (nt, n, 3),
    the points at every time (they move with a growing Li surface).
    """
    tmp = path.with_suffix(".tmp.npz")
    extra = {} if x_t is None else {"x_t": x_t}
    np.savez(tmp, t=t, x=points.x, weight=points.weight, j=j, c_surface=c_surface, **extra)
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
