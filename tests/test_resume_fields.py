"""The field series of a resumed case read as one time series (``solver.io.merge_field_parts``).

A case interrupted twice holds ``fields.part-1`` (outputs at 0, 1, 2, 3: killed after writing
t = 3, before its checkpoint, so the resumed run writes t = 3 again), ``fields.part-2`` (a
resume interrupted before its first output: no series) and ``fields`` (3, 4, 5, written by
:class:`~solver.io.FieldWriter` as a resumed run does). Leaving the writer indexes all parts
in ``fields/domain.xdmf`` and ``fields/surface.xdmf``: times 0 to 5 once each, t = 3 from the
later part (part 1's t = 3 is marked by an offset of the potential), read through the XDMF's
relative HDF5 paths with h5py and by ParaView 5.11 (Debian's pvbatch, skipped without it as in
test_paraview): equal to the written P1 field (exact at the nodes up to round-off, 1e-12; the
stale value differs by 100).
"""

from __future__ import annotations

import contextlib
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import solver  # noqa: F401  (MPI import order)

# isort: split

import dolfinx
import h5py
import numpy as np
import pytest
from mpi4py import MPI
from test_io import bottom_sample, potential_at
from test_paraview import probe
from test_postprocess import rectangle_bundle

from solver.io import FieldWriter, merge_field_parts
from solver.output_spec import OutputConfig
from solver.results import Snapshot

pytestmark = pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="serial files")

#: (folder, output times) in run order; part 1's t = 3 is a stale duplicate.
PARTS = [("fields.part-1", [0.0, 1.0, 2.0, 3.0]), ("fields.part-2", []),
         ("fields", [3.0, 4.0, 5.0])]
STALE = 100.0  # added to part 1's potential at t = 3


def write_parts(case_dir: Path) -> None:
    """Each part written as a run writes it, then renamed as ``lidep run --resume`` does."""
    bundle = rectangle_bundle(MPI.COMM_SELF)
    phi = dolfinx.fem.Function(dolfinx.fem.functionspace(bundle.mesh, ("Lagrange", 1)))
    config = OutputConfig(fields=["potential", "surface_current"], formats=["xdmf"])
    for folder, times in PARTS:
        with contextlib.suppress(StoppedError), FieldWriter(bundle, case_dir, config,
                                                       MPI.COMM_SELF) as writer:
            for t in times:
                stale = STALE if folder == "fields.part-1" and t == 3.0 else 0.0
                phi.interpolate(lambda x, t=t, s=stale: potential_at(x, t) + s)
                writer.write(Snapshot(t=t, fields={"potential": phi},
                                      surface=bottom_sample(MPI.COMM_SELF), scalars={}))
            if folder != "fields":
                raise StoppedError  # an interrupted run leaves its writer with an exception
        if folder != "fields":
            (case_dir / "fields").rename(case_dir / folder)


class StoppedError(Exception):
    """The interruption of a part."""


def read_series(path: Path, array: str) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """time -> (points, values of ``array``), following the XDMF's HDF5 paths."""
    def data(item: ET.Element) -> np.ndarray:
        file, dataset = item.text.strip().split(":")
        with h5py.File(path.parent / file) as f:
            return f[dataset][:]

    series = {}
    for grid in ET.parse(path).getroot().iterfind("Domain/Grid/Grid"):
        t = float(grid.find("Time").get("Value"))
        assert t not in series, f"time {t} twice"
        values = grid.find(f"Attribute[@Name='{array}']/DataItem")
        series[t] = (data(grid.find("Geometry/DataItem")), data(values))
    return series


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    case_dir = tmp_path_factory.mktemp("resumed") / "a"
    write_parts(case_dir)
    return case_dir


def test_parts_are_one_series_without_duplicates(case):
    domain = read_series(case / "fields" / "domain.xdmf", "potential")
    assert list(domain) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    for t, (x, phi) in domain.items():
        np.testing.assert_allclose(phi.ravel(), potential_at(x.T, t), rtol=0, atol=1e-12,
                                   err_msg=str(t))
    surface = read_series(case / "fields" / "surface.xdmf", "surface_current")
    assert list(surface) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert (case / "fields" / "paraview_state.py").is_file()
    assert "../fields.part-1/domain.h5:" in (case / "fields" / "domain.xdmf").read_text()


def test_merging_again_changes_nothing(case):
    """Merging again changes nothing (the merged file's own times are the latest part's)."""
    before = (case / "fields" / "domain.xdmf").read_text()
    assert merge_field_parts(case) == [case / "fields" / "domain.xdmf",
                                       case / "fields" / "surface.xdmf"]
    assert (case / "fields" / "domain.xdmf").read_text() == before


def test_a_case_without_parts_is_left_alone(tmp_path):
    (tmp_path / "fields").mkdir()
    assert merge_field_parts(tmp_path) == []


def test_paraview_reads_the_parts_as_one_series(case, tmp_path):
    """Debian's ParaView 5.11 (default reader and Xdmf3ReaderT) follows the relative paths."""
    domain = (case / "fields" / "domain.xdmf").resolve()
    read = probe([domain], tmp_path)
    for label in ("default", "T"):
        series = read[f"{domain}:{label}"]
        assert series["times"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        for t, step in zip(series["times"], series["steps"], strict=True):
            points = np.array(step["points"])
            np.testing.assert_allclose(step["point_data"]["potential"],
                                       potential_at(points.T, t), rtol=0, atol=1e-12)


def test_unreadable_part_is_left_out(case, tmp_path, caplog):
    """A part whose HDF5 file was damaged (killed while writing it) is left out, with a
    warning, rather than indexed for ParaView to fail on."""
    damaged = tmp_path / "a"
    shutil.copytree(case, damaged)
    h5 = damaged / "fields.part-1" / "domain.h5"
    h5.write_bytes(h5.read_bytes()[:1000])
    merge_field_parts(damaged)
    assert list(read_series(damaged / "fields" / "domain.xdmf", "potential")) == [3.0, 4.0, 5.0]
    assert "fields.part-1/domain.xdmf: the data of t = 0 s cannot be read" in caplog.text
    assert list(read_series(damaged / "fields" / "surface.xdmf", "surface_current")) == [
        0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
