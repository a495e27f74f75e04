"""lidep's field files opened by ParaView as users have it (Debian's ``paraview``, pvbatch).

A case is written with :class:`solver.io.FieldWriter`, then ``pvbatch`` opens each XDMF file
with ParaView's default reader for it (``OpenDataFile``) and with ``Xdmf3ReaderT`` and prints
what it reads as JSON: reader, times, array names and the values at every time. Without
``pvbatch`` the test is skipped, except under CI (``CI=true``), where it fails:
``scripts/install_paraview.sh`` (called by ``.ci/run``) installs it.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import solver  # noqa: F401  (MPI import order)

# isort: split

import numpy as np
import pytest
from mpi4py import MPI
from test_io import TIMES, concentration_at, potential_at, write_case

PROBE = r'''
import json, sys
from paraview import servermanager
from paraview.simple import OpenDataFile, Xdmf3ReaderT
from vtk.util.numpy_support import vtk_to_numpy

def arrays(data):
    return {
        name: vtk_to_numpy(data.GetArray(i)).tolist()
        for i in range(data.GetNumberOfArrays())
        for name in [data.GetArrayName(i)]
    }

out = {}
for path in sys.argv[1:]:
    for label, reader in (("default", OpenDataFile(path)), ("T", Xdmf3ReaderT(FileName=path))):
        steps = []
        for t in reader.TimestepValues:
            reader.UpdatePipeline(t)
            data = servermanager.Fetch(reader)
            steps.append({
                "class": data.GetClassName(),
                "points": vtk_to_numpy(data.GetPoints().GetData()).tolist(),
                "point_data": arrays(data.GetPointData()),
                "cell_data": arrays(data.GetCellData()),
            })
        out[f"{path}:{label}"] = {
            "reader": reader.GetXMLName(), "times": list(reader.TimestepValues), "steps": steps,
        }
print("PROBE" + json.dumps(out))
'''


def pvbatch() -> str:
    """The pvbatch executable; skip without it unless under CI, where its absence fails."""
    path = shutil.which("pvbatch")
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("pvbatch is missing under CI: scripts/install_paraview.sh installs it")
        pytest.skip("pvbatch (Debian package 'paraview') is not installed")
    return path


def probe(files: list[Path], tmp_path: Path) -> dict:
    """What pvbatch reads from ``files``: {"<file>:<default|T>": {reader, times, steps}}."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    result = subprocess.run(
        [pvbatch(), "--force-offscreen-rendering", str(script), *map(str, files)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE")]
    assert result.returncode == 0 and lines, result.stdout + result.stderr
    return json.loads(lines[-1].removeprefix("PROBE"))


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="pvbatch is run once, serially")
def test_paraview_reads_every_field_at_every_time(tmp_path):
    """ParaView 5.11 reads domain.xdmf as one unstructured grid per time holding potential,
    concentration (NaN in the interphase) and current density under their names, and
    surface.xdmf with the surface current; times and values equal what was written (1e-12:
    the fields are exact in P1 and the files hold doubles)."""
    case_dir = tmp_path / "case"
    write_case(case_dir, MPI.COMM_SELF, with_concentration=True)
    domain = (case_dir / "fields" / "domain.xdmf").resolve()
    surface = (case_dir / "fields" / "surface.xdmf").resolve()
    read = probe([domain, surface], tmp_path)
    for label in ("default", "T"):
        series = read[f"{domain}:{label}"]
        assert series["reader"].startswith("Xdmf3Reader")
        assert series["times"] == pytest.approx(TIMES, abs=1e-12)
        for t, step in zip(TIMES, series["steps"], strict=True):
            assert step["class"] == "vtkUnstructuredGrid"
            points = np.array(step["points"])
            assert sorted(step["point_data"]) == ["concentration", "potential"]
            assert np.allclose(step["point_data"]["potential"], potential_at(points.T, t),
                               atol=1e-12)
            c = np.array(step["point_data"]["concentration"], dtype=float)
            inside = points[:, 0] >= 0.5 - 1e-12
            assert np.allclose(c[inside], concentration_at(points[inside].T), atol=1e-10)
            assert np.isnan(c[~inside]).all()
            assert sorted(step["cell_data"]) == ["current_density", "region"]
            assert set(step["cell_data"]["region"]) == {1.0, 2.0}  # sei, electrolyte
            flux = np.array(step["cell_data"]["current_density"])
            assert np.allclose(flux[:, :2], [1.0 + t, -2.0], atol=1e-12)
        lines = read[f"{surface}:{label}"]
        assert lines["times"] == pytest.approx(TIMES, abs=1e-12)
        first = lines["steps"][0]
        assert len(first["cell_data"]["surface_current"]) == 8
        assert sorted(first["cell_data"]) == ["surface_current"]


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="pvbatch is run once, serially")
def test_paraview_state_opens_the_case(tmp_path):
    """fields/paraview_state.py loads both files in ParaView 5.11, colours the domain by the
    concentration and the surface by j, and renders (under Xvfb: Debian's pvbatch needs an X
    display to render) a picture that is not blank."""
    executable = pvbatch()
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("xvfb-run is missing under CI: scripts/install_paraview.sh installs it")
        pytest.skip("xvfb-run (Debian package 'xvfb') is not installed")
    case_dir = tmp_path / "case"
    write_case(case_dir, MPI.COMM_SELF, with_concentration=True)
    state = case_dir / "fields" / "paraview_state.py"
    assert "'concentration'" in state.read_text()
    picture = tmp_path / "state.png"
    result = subprocess.run(
        [xvfb, "-a", executable, str(state)], capture_output=True, text=True, timeout=300,
        check=False, cwd=tmp_path, env={**os.environ, "LIDEP_SCREENSHOT": str(picture)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert picture.stat().st_size > 5000
