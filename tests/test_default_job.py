"""The main job: configs/default.yaml validates, cites the parameter library, and runs (tiny)."""

import json
from pathlib import Path

import pytest

from solver.config import load_config, resolved_cases
from solver.library import li2024_qcpe

DEFAULT = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def test_default_config_matches_the_cited_parameter_set():
    """Every measured number of the seed paper in the default job equals the library's value.

    The config writes values with units (e.g. 0.133 mA/cm^2); after conversion to SI they must be
    the library's cited SI values to round-off (rel 1e-12), so config and citations cannot drift.
    """
    cases = resolved_cases(load_config(DEFAULT))
    assert set(cases) == {"bare", "lif_rich"}
    for name, prefix in (("bare", "qcpe"), ("lif_rich", "qcpe_pdol")):
        physics = cases[name].physics
        i0 = li2024_qcpe.value(f"{prefix}_exchange_current_density_A_m2")
        assert physics.kinetics.exchange_current_density == pytest.approx(i0, rel=1e-12)
        assert physics.electrolyte.transference_number == pytest.approx(
            li2024_qcpe.value(f"{prefix}_transference_number"), rel=1e-12
        )
        assert physics.electrolyte.diffusivity_activation_energy == pytest.approx(
            li2024_qcpe.value(f"{prefix}_activation_energy_J_mol"), rel=1e-6
        )
        assert physics.control.current_density == pytest.approx(
            li2024_qcpe.value("applied_current_density_A_m2"), rel=1e-12
        )
        assert physics.temperature == pytest.approx(li2024_qcpe.value("temperature_K"), rel=1e-12)
    lif = cases["lif_rich"]
    assert lif.geometry.region_names() == ["sei"]
    assert lif.physics.interphase["sei"].conductivity == pytest.approx(
        li2024_qcpe.value("lif_rich_conductivity_S_m"), rel=1e-12
    )
    assert lif.geometry.layers[0].thickness == pytest.approx(
        li2024_qcpe.value("lif_rich_thickness_m"), rel=1e-12
    )


def test_tiny_default_job_end_to_end(tmp_path):
    """The default job shortened to 20 s on a coarser mesh runs through solver.api.run.

    Checks that both cases are solved, written and reported: galvanostatic control holds the
    total current at J times the projected area pi W^2 (rel 1e-6, the Newton tolerance), the
    LiF-rich case is more uniform than the bare one (its interphase resistance raises Wa), and
    the report compares both with the seed paper's observations. On a fixed mesh (growth off):
    the current measured on the moved surface differs by ~3e-6 (the growing job: the next test).
    """
    from solver.api import run

    overrides = [
        "name=tiny_default",
        "time.t_end=20 s",
        "time.output_times=[10, 20]",
        "geometry.mesh.refinement=0.5",
        "output.formats=[xdmf]",
        "physics.growth.enabled=false",
    ]
    run_dir = run(DEFAULT, tmp_path / "results", overrides=overrides,
                  mesh_cache=tmp_path / "meshes")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    finals = {name: case["summary"]["final"] for name, case in metrics["cases"].items()}
    assert set(finals) == {"bare", "lif_rich"}
    width, current = 5e-6, 5.0  # m, A/m^2 (0.5 mA/cm^2)
    for final in finals.values():
        assert final["t"] == pytest.approx(20.0, rel=1e-12)
        assert final["current_total"] == pytest.approx(current * 3.141592653589793 * width**2,
                                                       rel=1e-6, abs=0)
    assert (finals["lif_rich"]["enhancement_max_over_mean"]
            < finals["bare"]["enhancement_max_over_mean"])
    report = (run_dir / "report.md").read_text()
    assert "## Comparison with the reference" in report
    assert report.count("Li et al. 2024 (COMSOL") == 4  # early and late, two cases
    for case in ("bare", "lif_rich"):
        assert (run_dir / case / "fields" / "domain.xdmf").is_file()
        assert (run_dir / case / "timeseries.csv").is_file()


def test_tiny_default_job_reports_growth(tmp_path):
    """The default job with its growth (on), shortened to 20 s on a coarser mesh: the report
    says, per case, how far the apex and the flat rose, and which interface grows the tip
    faster relative to its flat surface and by how much (solver.report.growth_statement)."""
    from solver.api import run

    overrides = ["name=tiny_growth", "time.t_end=20 s", "time.output_times=[10, 20]",
                 "geometry.mesh.refinement=0.5", "output.formats=[]"]
    run_dir = run(DEFAULT, tmp_path / "results", overrides=overrides,
                  mesh_cache=tmp_path / "meshes")
    report = (run_dir / "report.md").read_text()
    assert "## How the tip grows" in report
    for case in ("bare", "lif_rich"):
        assert f"{case}: the apex rose " in report
    assert "interface grows the tip faster relative to its flat surface" in report
    assert "% more)" in report


def test_default_report_points_to_the_regime_map():
    """The main job's reference names the seed-004 regime map, an existing sweep file that
    docs/scenarios.md describes, with the finding the report quotes."""
    root = DEFAULT.parents[1]
    for case in resolved_cases(load_config(DEFAULT)).values():
        regime_map = case.output.reference.regime_map
        assert regime_map.sweep == "configs/sweeps/seed004_regime_map.yaml"
        assert (root / regime_map.sweep).is_file()
        assert "regime" in regime_map.finding and "Wa" in regime_map.finding
    assert "seed004_regime_map.yaml" in (root / "docs" / "scenarios.md").read_text()


@pytest.mark.slow
def test_default_bare_case_grows_for_600_s():
    """The main job's bare case with the moving Li surface grows through its 600 s.

    (Growth is on in the main job; the lif_rich case: the next test.) No event stops it, the
    deposited volume (the loss of the cell's volume) is V_m/F J pi W^2 t within 1e-3 at every
    output time (the issue's 0.1 %; measured 7.0e-4 at 600 s), and the tip
    outgrows the flat (tip/flat ratio > 1: the current focuses on the protrusion).
    """
    from mpi4py import MPI

    from solver.constants import FARADAY
    from solver.geometry import build_mesh
    from solver.library.inorganic import LI_MOLAR_VOLUME
    from solver.problem import Simulation

    case = resolved_cases(load_config(DEFAULT, ["physics.growth.enabled=true"]))["bare"]
    comm = MPI.COMM_WORLD
    simulation = Simulation(build_mesh(case.geometry, comm, None), case, comm)
    before = sum(simulation.domain.volumes.values())
    rate = LI_MOLAR_VOLUME / FARADAY * case.physics.control.current_density * simulation.domain.area
    times = []
    for snapshot in simulation.run():
        deposited = before - sum(simulation.domain.volumes.values())
        assert deposited == pytest.approx(rate * snapshot.t, rel=1e-3)
        times.append(snapshot.t)
    assert times[-1] == pytest.approx(600.0, rel=1e-12)
    assert not simulation.driver.state.messages
    assert snapshot.scalars["li_apex_height"] - 1e-6 > 0.4e-6
    assert snapshot.scalars["tip_flat_rate_ratio"] > 1.0


@pytest.mark.slow
def test_default_lif_rich_case_grows_for_600_s_by_remeshing():
    """The main job's lif_rich case grows through its 600 s by remeshing.

    On one mesh the 10 nm layer's cells in the protrusion's concave foot are crushed at ~50 s
    (docs/theory.md, "Moving Li surface"); the remesher rebuilds the domain on the grown
    surface with the layer regenerated (measured: 15 remeshes, ~30 to 45 s apart). The
    deposited volume, the loss of the cell's volume plus the volume changes of the remeshes
    (``Remesher.volume_changes``: the new Li surface is the spline through the old nodes, its
    crushed corner untangled; together -5e-4 of the deposit), is V_m/F J pi W^2 t within 1e-3
    at every output time (the issue's 0.1 %; measured 2.0e-4 at 600 s, 7.3e-4 without the
    remeshes' changes). The apex rises by more than 0.3 um (measured 0.39 um), no event other
    than the remeshes is left, and the salt
    inventory changes by less than 1e-4 in each transfer (measured < 2e-6; rescaled).
    """
    from mpi4py import MPI

    from solver.constants import FARADAY
    from solver.geometry import build_mesh
    from solver.library.inorganic import LI_MOLAR_VOLUME
    from solver.problem import Simulation

    case = resolved_cases(load_config(DEFAULT))["lif_rich"]
    assert case.physics.growth.enabled and case.physics.growth.remesh.enabled
    comm = MPI.COMM_WORLD
    simulation = Simulation(build_mesh(case.geometry, comm, None), case, comm)
    before = sum(simulation.domain.volumes.values())
    rate = LI_MOLAR_VOLUME / FARADAY * case.physics.control.current_density * simulation.domain.area
    remesher = simulation.remesher
    times = []
    for snapshot in simulation.run():
        running = remesher.current or simulation
        deposited = (before - sum(running.domain.volumes.values())
                     + sum(remesher.volume_changes))
        assert deposited == pytest.approx(rate * snapshot.t, rel=1e-3)
        times.append(snapshot.t)
    assert times[-1] == pytest.approx(600.0, rel=1e-12)
    assert remesher.count >= 1
    assert max(abs(d) for d in remesher.drifts) < 1e-4
    messages = (remesher.current or simulation).driver.state.messages
    reports = [m for m in messages if m.startswith("remeshed at t=")]
    assert len(reports) == remesher.count
    assert all(m.endswith(": remeshing") for m in messages if m not in reports)
    assert snapshot.scalars["li_apex_height"] - 1e-6 > 0.3e-6
