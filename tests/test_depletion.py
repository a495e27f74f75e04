"""Depletion through the command line: a run above the limiting current reports the event.

``configs/examples/minimal.yaml`` with a dilute binary electrolyte (1 M, kappa = 1e-4 S/cm,
t+ = 0.19) plated at 2 mA/cm^2, about twice the limiting current of its 10 um cell, with the
default mesh, time and solver settings (only the report and field files are switched off to save
time). Before ln c became the salt unknown of transient runs, the run with depletion_fraction
1e-6 failed at t = 24.14 s ("Newton: negative concentration") without reporting the event.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split
import json
from pathlib import Path

import pytest
import yaml
from mpi4py import MPI

from solver.cli import main

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "configs" / "examples" / "minimal.yaml"
T_END = 100.0  # s; the cell depletes at ~24 s


def above_limiting_config(tmp_path: Path) -> Path:
    tree = yaml.safe_load(MINIMAL.read_text())
    tree["name"] = "above_limiting"
    base = tree["base"]
    base["physics"]["electrolyte"] = {
        "type": "dilute",
        "bulk_concentration": "1 M",
        "conductivity": "1e-4 S/cm",
        "transference_number": 0.19,
    }
    base["physics"]["control"] = {"mode": "galvanostatic", "current_density": "2 mA/cm^2"}
    base["time"] = {"mode": "transient", "t_end": f"{T_END} s"}
    base["numerics"] = {}
    base["output"] = {"report": False, "formats": []}
    path = tmp_path / "above.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


@pytest.mark.parametrize("fraction", [None, 1e-6])
def test_cli_run_above_limiting_current_reports_depletion(tmp_path, capsys, fraction):
    """Exit 0, the event in the log and the metrics, the run stopped at it with 0 <= c_s < f c_b
    (on_depletion 'stop', the default)."""
    comm = MPI.COMM_WORLD  # one run directory for all ranks under mpiexec
    root = Path(comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0))
    config = above_limiting_config(root) if comm.rank == 0 else root / "above.yaml"
    comm.barrier()
    sets = [] if fraction is None else ["--set", f"physics.events.depletion_fraction={fraction}"]
    out, cache = str(root / "out"), str(root / "meshes")
    code = main(["run", str(config), "-o", out, "--mesh-cache", cache, *sets])
    _, err = capsys.readouterr()
    assert code == 0, err
    run_dir = root / "out" / "above_limiting"
    assert "depletion at t=" in (run_dir / "run.log").read_text()
    final = json.loads((run_dir / "metrics.json").read_text())["cases"]["main"]["summary"]["final"]
    f = 1e-3 if fraction is None else fraction
    assert final["depleted"] == 1.0
    assert final["depletion_time"] <= final["t"] < T_END
    assert 0.0 <= final["min_surface_concentration"] < f * 1000.0
