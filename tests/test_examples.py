"""Every example config runs, at a small size, and is listed in the README.

Each file in configs/examples is run through :func:`solver.api.run` (no report: the whole file
takes about 30 s; the report is tested in test_report.py). Where the control is a
constant galvanostatic current and no interphase conducts electrons, the total current through
the Li surface must equal the applied current density times the projected area (W per unit
depth in 2D, pi W^2 axisymmetric, W D in 3D) to 1e-6 relative, the Newton tolerance.
"""

import json
import math
import re
from pathlib import Path

import solver  # noqa: F401  (MPI import order)

# isort: split

import pytest
import yaml

from solver.config import load_config, resolved_cases

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "configs" / "examples").glob("*.yaml"))
SMALL = {
    # overrides that keep a test run small (every example is small already)
    "concentrated": ["time.t_end=5 s", "time.output_times=[2, 5]"],
    "li_counter": ["time.t_end=4 s", "time.output_times=[2, 4]"],
}


def projected_area(case) -> float:  # noqa: ANN001  (CaseConfig)
    """Area of the Li base plane per unit depth (2D), or of the revolved / 3D footprint."""
    domain = case.geometry.domain
    if case.geometry.dimension == 3:
        return domain.width * (domain.depth or domain.width)
    if case.geometry.coordinates == "axisymmetric":
        return math.pi * domain.width**2
    return domain.width


def constant_current(case) -> float | None:  # noqa: ANN001  (CaseConfig)
    """The applied current density when every Faradaic current reaches the Li surface."""
    control = case.physics.control
    leaky = any(m.electronic_conductivity > 0 for m in case.physics.interphase.values())
    if control.mode != "galvanostatic" or control.protocol or leaky:
        return None
    return control.current_density


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    from solver.api import run

    overrides = ["output.report=false", *SMALL.get(path.stem, [])]
    run_dir = run(path, tmp_path / "results", overrides=overrides,
                  mesh_cache=tmp_path / "meshes")
    cases = resolved_cases(load_config(path, overrides))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["cases"]) == set(cases)
    for name, case in cases.items():
        final = metrics["cases"][name]["summary"]["final"]
        assert (run_dir / name / "fields" / "domain.xdmf").is_file()
        assert final["t"] == pytest.approx(case.time.t_end or 0.0, rel=1e-12, abs=0)
        assert math.isfinite(final["j_mean"]) and math.isfinite(final["cell_voltage"])
        current = constant_current(case)
        if current is not None:
            assert final["current_total"] == pytest.approx(
                current * projected_area(case), rel=1e-6, abs=0)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_commented_and_listed(path):
    """Each example opens with a comment saying what it shows, validates, and has one line in
    the README's section 'Examples'."""
    text = path.read_text()
    assert text.startswith("# "), "start with a comment that says what the example shows"
    assert yaml.safe_load(text)["name"] == path.stem
    load_config(path)
    readme = (ROOT / "README.md").read_text()
    listing = readme.split("\n## Examples\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in listing.splitlines()
             if re.search(rf"\(configs/examples/{re.escape(path.name)}\)", line)]
    assert len(lines) == 1, f"{path.name} must be listed once in the README's Examples"
