"""Reports built from tiny synthetic run directories (files only, no solving)."""

import json
import math
from pathlib import Path

import solver  # noqa: F401  (MPI import order)

# isort: split

import dolfinx
import numpy as np
import pytest
from mpi4py import MPI
from test_postprocess import gauss_line, rectangle_bundle

from solver.io import FieldWriter, write_metrics
from solver.output_spec import OutputConfig
from solver.postprocess import CaseMetrics
from solver.report import (
    CaseResult,
    build_report,
    compare_runs,
    load_run,
    metrics_table,
    reference_statements,
    regime_statement,
    run_summary,
)
from solver.results import Snapshot, SurfaceSample

J0 = 5.0


def make_run(run_dir: Path, amplitudes: dict[str, float], maps: bool = False) -> None:
    """A run whose case ``name`` has j = J0 (1 + a cos 2πx) on the unit bottom edge at t = 0, 10 s
    (hotspot factor max/mean = 1 + a), and linear analytic fields."""
    comm = MPI.COMM_SELF
    figures = {"concentration_maps": maps, "field_maps": maps}
    config = OutputConfig(formats=["xdmf"] if maps else [], figures=figures)
    cases = {}
    for name, a in amplitudes.items():
        bundle = rectangle_bundle(comm)
        V = dolfinx.fem.functionspace(bundle.mesh, ("Lagrange", 1))
        phi, c = dolfinx.fem.Function(V), dolfinx.fem.Function(V)
        x, w = gauss_line(32, 0.0, 1.0)
        metrics = CaseMetrics(bundle, config, comm)
        with FieldWriter(bundle, run_dir / name, config, comm) as writer:
            for t in (0.0, 10.0):
                phi.interpolate(lambda p, t=t: -0.01 * (1 + t) * p[1])
                c.interpolate(lambda p, t=t: 1000.0 - t * (1.0 - p[1]))
                j = J0 * (1.0 + a * np.cos(2.0 * math.pi * x[:, 0]))
                snap = Snapshot(
                    t=t,
                    fields={"potential": phi, "concentration": c},
                    surface=SurfaceSample(x, w, j, np.full(w.size, 1000.0 - 10 * t)),
                    scalars={"cell_voltage": -0.02, "current_mean": J0},
                    dimensionless={"wagner": 1.0 / (1.0 + a)},
                )
                writer.write(snap)
                metrics(snap)
        cases[name] = metrics
    write_metrics(run_dir, cases, comm, run_name=run_dir.name, description="synthetic")


def test_report_from_files(tmp_path):
    """bare (a = 1) against lif_rich (a = 0.3): max/mean 2.0 vs 1.3, i.e. 35 % lower for
    lif_rich (the Gauss points miss the exact peak by < 1e-3)."""
    run = tmp_path / "demo"
    make_run(run, {"bare": 1.0, "lif_rich": 0.3})
    report = build_report(run)
    text = report.read_text()
    assert report == run / "report.md"
    assert "the lif_rich interface has the lower hotspot factor" in text
    assert "= 1.3 against 2 for bare (35.0 % lower)" in text
    assert "| hotspot factor max/mean |  | 1.999 | 1.3 |" in text
    assert "lif_rich: the hotspot factor stays at 1.3 from t = 0 s to 10 s." in text
    assert "| Wagner number Wa | 0.5 | 0.7692 |" in text
    assert "bare: Wa = 0.5 < 1, so the ohmic resistance dominates" in text
    for figure in ("interface_current.png", "enhancement.png"):
        assert (run / "figures" / figure).stat().st_size > 1000
        assert f"figures/{figure}" in text
    page = (run / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "src='figures" not in page  # self-contained
    _, cases = load_run(run)
    assert [c.label for c in cases] == ["bare", "lif_rich"]
    assert cases[0].profiles["j"].shape == (2, 64)


@pytest.mark.slow
def test_report_field_maps(tmp_path):
    """With XDMF fields the report draws concentration, potential maps (pyvista off-screen)."""
    run = tmp_path / "maps"
    make_run(run, {"bare": 1.0}, maps=True)
    build_report(run)
    for name in ("concentration_maps.png", "potential_maps.png"):
        assert (run / "figures" / name).stat().st_size > 5000
    assert (run / "report.html").read_text().count("data:image/png;base64,") == 4


def test_compare_two_runs(tmp_path):
    make_run(tmp_path / "first", {"bare": 1.0})
    make_run(tmp_path / "second", {"bare": 0.5})
    report = compare_runs([tmp_path / "first", tmp_path / "second"], tmp_path / "cmp")
    text = report.read_text()
    assert "the second/bare interface has the lower hotspot factor" in text
    assert "(25.0 % lower)" in text  # 1.5 against 2
    assert (tmp_path / "cmp" / "report.html").is_file()
    with pytest.raises(ValueError, match="at least one"):
        compare_runs([], tmp_path / "none")


def test_end_to_end_flat_interface(tmp_path):
    """Mesh, solve, export and report a flat Li | 20 nm SEI | ceramic cell through solver.api.

    A flat surface under galvanostatic control carries exactly the applied current everywhere:
    mean j = 0.5 mA/cm^2 over |Γ| = W (to the Newton tolerance, 1e-6 relative) and a hotspot
    factor of 1; the report is written and names the single case.
    """
    from solver.api import run

    config = {
        "name": "flat",
        "base": {
            "geometry": {
                "domain": {"width": "2 um", "length": "5 um"},
                "layers": [{"name": "sei", "thickness": "20 nm"}],
            },
            "physics": {
                "electrolyte": {"type": "single_ion", "conductivity": "1e-4 S/cm"},
                "interphase": {"sei": {"conductivity": "1e-6 S/cm"}},
                "control": {"mode": "galvanostatic", "current_density": "0.5 mA/cm^2"},
            },
            "numerics": {"degree": 1},
            "output": {"formats": ["xdmf"], "figures": {"field_maps": False}},
        },
    }
    run_dir = run(config, tmp_path / "results", mesh_cache=tmp_path / "meshes")
    _, (case,) = load_run(run_dir)
    final = case.final
    # abs=0: the default abs=1e-12 is 5e-7 of |Γ| = 2e-6 m, far looser than rel=1e-9.
    assert final["surface_measure"] == pytest.approx(2e-6, rel=1e-9, abs=0)
    assert final["j_mean"] == pytest.approx(5.0, rel=1e-6)
    assert final["enhancement_max_over_mean"] == pytest.approx(1.0, abs=1e-6)
    assert final["hotspot_measure_fraction"] == 0.0
    assert (run_dir / "main" / "fields" / "domain.xdmf").is_file()
    assert "Only one case" in (run_dir / "report.md").read_text()


def test_reference_statements_agree_and_disagree():
    """Ours is 'uniform' iff max/mean j < uniform_below; each observation is checked at its time."""
    reference = {
        "source": "Ref. A",
        "uniform_below": 1.1,
        "observations": [
            {"time": "early", "state": "hotspot"},
            {"time": "late", "state": "uniform"},
        ],
    }
    rows = [
        {"t": 1.0, "enhancement_max_over_mean": 1.5, "wagner": 0.2, "i_over_ilim": 0.9,
         "t_over_sand": 0.01},
        {"t": 9.0, "enhancement_max_over_mean": 1.09, "wagner": 0.2, "i_over_ilim": 0.9,
         "t_over_sand": 2.0},
    ]
    case = CaseResult("c", Path("."), {"output": {"reference": reference}}, rows, None)
    early, late = reference_statements(case)
    assert "reports hotspot" in early and "max/mean j = 1.5 (hotspot" in early
    assert early.endswith("(diffusive tip focusing not yet developed, would become strong).")
    assert ": agrees." in early and "Wa = 0.2 (ohmic tip focusing strong)" in early
    assert "max/mean j = 1.09 (uniform" in late and ": agrees." in late
    rows[-1]["enhancement_max_over_mean"] = 1.1  # at the threshold: not uniform any more
    assert ": DISAGREES." in reference_statements(case)[1]
    assert reference_statements(CaseResult("c", Path("."), {"output": {}}, rows, None)) == []


def test_run_summary_lines(tmp_path):
    """The console summary: per case the final hotspot factor (1 + a), min/mean j (1 - a, the
    Gauss points miss the exact extrema by < 1e-3), the cell voltage, the events, and the
    report's path once it exists."""
    run = tmp_path / "demo"
    make_run(run, {"bare": 1.0, "lif_rich": 0.3})
    lines = run_summary(run)
    assert lines[0] == "summary of run 'demo':"
    assert lines[1].startswith("  bare: t = 10 s, hotspot factor max/mean j = 1.999, ")
    ratio = float(lines[1].split("min/mean j = ")[1].split(",")[0])
    assert ratio == pytest.approx(0.0, abs=1e-3)
    assert lines[1].endswith(", cell voltage = -20 mV, events: none")
    assert "lif_rich: t = 10 s, hotspot factor max/mean j = 1.3, min/mean j = 0.7" in lines[2]
    assert lines[3] == f"  results: {run}"
    build_report(run)
    assert run_summary(run)[-1] == f"  report: {run / 'report.html'}"


def test_run_summary_shortens_many_events(tmp_path):
    """Up to 4 events are printed whole; of more (a remeshed run has several per remesh) the
    first two, how many are left out, and the last one; report.md keeps all of them."""
    run = tmp_path / "demo"
    make_run(run, {"bare": 1.0})
    path = run / "metrics.json"
    document = json.loads(path.read_text())
    events = [f"event {k}" for k in range(10)]
    document["cases"]["bare"]["summary"]["events"] = events[:4]
    path.write_text(json.dumps(document))
    assert run_summary(run)[1].endswith("events: event 0; event 1; event 2; event 3")
    document["cases"]["bare"]["summary"]["events"] = events
    path.write_text(json.dumps(document))
    assert run_summary(run)[1].endswith(
        "events: event 0; event 1; ... 7 more (report.md) ...; event 9")
    assert "event 5" in build_report(run).read_text()


def test_regime_statements_match_the_numbers():
    """The narrative follows the case's own numbers: Wa >= 1 next to a hotspot factor of 2 over
    36 % of the surface is not called even; t/t_Sand > 1 without depletion is explained by
    i < i_lim; a dip of j to 60 % of the mean is named; the table shows min j and the
    electrolyte-side minimum surface concentration of a case whose Li surface is covered."""
    final = {"t": 9.0, "j_mean": 5.0, "j_min": 3.0, "enhancement_max_over_mean": 2.0,
             "hotspot_measure_fraction": 0.36, "min_surface_concentration": 896.7,
             "c_surface_min": math.nan}
    summary = {"dimensionless": {"wagner": 120.0, "i_over_ilim": 0.6, "t_over_sand": 1.8},
               "depletion_time": None, "output": {}}
    case = CaseResult("lif", Path("."), summary, [final], None)
    text = regime_statement(case)
    assert "the current is even" not in text
    assert ("Wa = 120 >= 1 would even out the ohmic (secondary) distribution, yet max/mean j = 2 "
            "with j above k times the mean over 36 % of the surface") in text
    assert "t/t_Sand = 1.8 > 1 without depletion, because i < i_lim" in text
    assert "the lowest current density along the surface is 60 % of the mean" in text
    table = {row[0]: row[2:] for row in metrics_table([case])}
    assert table["min j"] == ["0.3"]  # mA/cm^2
    assert table["min/mean j"] == ["0.6"]
    assert table["min surface concentration (electrolyte side)"] == ["896.7"]

    even = CaseResult("bare", Path("."), summary, [{**final, "enhancement_max_over_mean": 1.05,
                                                     "j_min": 4.9}], None)
    assert "the current is even (max/mean j = 1.05)" in regime_statement(even)
    summary["depletion_time"] = 5.0  # depleted: no i < i_lim explanation
    assert "without depletion" not in regime_statement(case)


def test_field_maps_share_one_colour_range(tmp_path):
    """Maps read the concentration and the region tags back from domain.xdmf: both cases get
    one colour range (the 1st-99th area percentile of c = 1000 - 10 (1 - y) at t = 10 s, so
    inside [990, 1000] and wider than 9), and the cells left of x = 0.5 are the 'sei' (1)."""
    from solver.maps import colour_range, load_section

    run = tmp_path / "maps"
    make_run(run, {"bare": 1.0, "lif_rich": 0.3}, maps=True)
    _, cases = load_run(run)
    sections = [load_section(c.case_dir, "concentration", c.summary) for c in cases]
    low, high = colour_range(sections)
    assert 990.0 <= low < 991.0 and 999.0 < high <= 1000.0
    section = sections[0]
    centroid_x = section.triangulation.x[section.triangulation.triangles].mean(axis=1)
    assert (section.region == np.where(centroid_x < 0.5e6, 1, 2)).all()
    assert section.electrolyte == 2
    assert load_section(cases[0].case_dir, "field_strength", cases[0].summary) is None


def test_surface_lines_break_at_voids_and_steady_runs_have_no_time_plot(tmp_path):
    """j along the surface is not drawn across a void (NaN between the samples on either side
    of the void edges at 0.3 and 0.7 µm); a run with one output time gets no plot against
    time."""
    from solver.report import _void_breaks, plot_enhancement

    x = np.zeros((4, 3))
    x[:, 0] = [0.1e-6, 0.2e-6, 0.8e-6, 0.9e-6]
    summary = {"edges": [{"kind": "void_edge", "point": [0.3e-6, 0.0, 0.0]},
                         {"kind": "void_edge", "point": [0.7e-6, 0.0, 0.0]},
                         {"kind": "corner", "point": [0.15e-6, 0.0, 0.0]}]}
    case = CaseResult("c", tmp_path, summary, [{"t": 0.0}], {"x": x})
    s, j = _void_breaks(case, x[:, 0] * 1e6, np.ones(4))
    assert np.isnan(s[2]) and np.isnan(j[2]) and s.size == 5
    assert plot_enhancement([case], tmp_path / "enhancement.png") is None


def test_regime_map_section_names_the_sweep_once(tmp_path):
    """A reference with a regime map gives the report a section naming the sweep file and
    quoting its finding, once for cases sharing it; without one there is no section."""
    run = tmp_path / "demo"
    make_run(run, {"bare": 1.0, "lif_rich": 0.3})
    plain = build_report(run).read_text()
    assert "## Where the model reproduces the reference" not in plain
    regime_map = {"sweep": "configs/sweeps/seed004_regime_map.yaml",
                  "finding": "Reproduced at radii of 50 um and above."}
    metrics = run / "metrics.json"
    document = json.loads(metrics.read_text())
    for case in document["cases"].values():
        case["summary"]["output"]["reference"] = {
            "source": "paper", "uniform_below": 1.1, "observations": [],
            "regime_map": regime_map}
    metrics.write_text(json.dumps(document))
    text = build_report(run).read_text()
    assert "## Where the model reproduces the reference" in text
    assert text.count("`configs/sweeps/seed004_regime_map.yaml`") == 1
    assert "docs/scenarios.md" in text
    assert text.count("Reproduced at radii of 50 um and above.") == 1
    html = (run / "report.html").read_text()
    assert "<h2>Where the model reproduces the reference</h2>" in html


def test_growth_statement_compares_tip_growth_and_names_a_short_span():
    """Two growing cases: apex and flat rises, tip/flat ratios, which interface grows the tip
    faster and by how much ((1.3 - 1.1) / 1.1 = 18.2 %), and a case that stopped early is
    named with its event (its rises are over a shorter plating)."""
    from solver.report import growth_statement

    def case(label, t_end, apex, flat, events):
        rows = [{"t": 10.0, "li_apex_height": 0.0, "li_flat_height": 0.0},
                {"t": t_end, "li_apex_height": apex, "li_flat_height": flat}]
        return CaseResult(label, Path("."), {"events": events}, rows, None)

    stop = "mesh quality 0.01 below 0.02 at t=60 s: the moving Li surface stops here"
    text = growth_statement([case("bare", 600.0, 520e-9, 400e-9, []),
                             case("lif_rich", 60.0, 44e-9, 40e-9, [stop])])
    assert "bare: the apex rose 520 nm and the flat 400 nm in 590 s (tip/flat growth ratio 1.3)" \
        in text
    assert "The bare interface grows the tip faster relative to its flat surface: 1.3 against " \
        "1.1 for lif_rich (18.2 % more)." in text
    assert f"lif_rich grew for 50 s only ({stop})" in text
    equal = growth_statement([case("a", 600.0, 520e-9, 400e-9, []),
                              case("b", 600.0, 440e-9, 400e-9, [])])
    assert "spans differ" not in equal
