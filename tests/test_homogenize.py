"""Study 2 (seed 000): effective conductivity, percolation threshold, leakage (lidep homogenize).

Exact references, each with its tolerance and why:

- laminates equal Wiener's bounds to 1e-10 (the discrete solution is exact: piecewise linear
  across the layers, constant along them);
- every random sample lies within Wiener's bounds (the conforming discretisation keeps them:
  the trial u = x gives the upper one, and σ_eff(h) >= σ_eff >= harmonic mean); ensemble means
  within the isotropic Hashin–Shtrikman bounds (statistical: within their 95 % interval);
- the checkerboard tends to sqrt(σ1 σ2) (Dykhne) from above at the measured rate of its corner
  singularities (about h^0.8 at contrast 10);
- Keller's exchange relation, exact per sample in the continuum for a square:
  σ_yy(σ1, σ2) σ_xx(σ2, σ1) = σ1 σ2, approached from above under pixel refinement;
- the continuum overlapping-disk threshold by finite-size scaling within its 95 % interval of
  the literature value 0.6763 (Quintanilla, Torquato & Ziff 2000);
- the fitting and statistics helpers on synthetic data with known answers;
- the 1D leakage stack in its small-leakage limit (lidep's leakage post-processing,
  σ_e ΔV / h) and its percolated limit (all of J).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

import solver  # noqa: F401  (MPI import order)
from solver.cli import main
from solver.constants import FARADAY
from solver.dimensionless import charge_transfer_resistance
from solver.studies import percolation
from solver.studies.effective import ConductivityCell, hashin_shtrikman, wiener
from solver.studies.homogenize import load_study, run_study
from solver.studies.leakage import Stack
from solver.studies.microstructure import (
    checkerboard,
    continuum_spans,
    laminate,
    particles,
    spans,
)

ROOT = Path(__file__).resolve().parents[1]
CI_STUDY = ROOT / "configs" / "studies" / "mii_percolation_ci.yaml"


@pytest.fixture(scope="module")
def cell_2d() -> ConductivityCell:
    cell = ConductivityCell(MPI.COMM_SELF, 48, 2)
    yield cell
    cell.close()


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("contrast", [10.0, 1e6])
def test_laminates_equal_the_wiener_bounds(dim, contrast):
    n = 16 if dim == 2 else 8
    cell = ConductivityCell(MPI.COMM_SELF, n, dim)
    try:
        for along, bound in ((True, 1), (False, 0)):
            metal = laminate(n, dim, 2, along)
            assert metal.mean() == 0.5
            value = cell.solve(np.where(metal, contrast, 1.0))
            assert value == pytest.approx(wiener(0.5, contrast, 1.0)[bound], rel=1e-10)
    finally:
        cell.close()


def test_checkerboard_tends_to_the_geometric_mean_from_above():
    errors = []
    for n in (16, 32, 64):
        cell = ConductivityCell(MPI.COMM_SELF, n, 2)
        value = cell.solve(np.where(checkerboard(n, 4), 10.0, 1.0))
        cell.close()
        errors.append(value / math.sqrt(10.0) - 1.0)
    rates = [math.log2(a / b) for a, b in zip(errors, errors[1:], strict=False)]
    assert all(e > 0 for e in errors), errors  # the conforming solution over-conducts
    assert errors[-1] < 0.06, errors  # measured 0.051 at 16 pixels per square
    assert all(0.6 < r < 1.1 for r in rates), rates  # measured 0.84, 0.81


def test_keller_exchange_relation_per_sample():
    """σ_yy(σ1, σ2) σ_xx(σ2, σ1) -> σ1 σ2 from above as each pixel is split (contrast 10)."""
    base = particles(24, 2, 0.55, 3.0, seed=3)
    gaps = []
    for split in (1, 2, 4):
        metal = np.kron(base, np.ones((split, split), dtype=bool))
        cell = ConductivityCell(MPI.COMM_SELF, metal.shape[0], 2)
        along_y = cell.solve(np.where(metal, 10.0, 1.0))
        along_x = cell.solve(np.where(metal.T, 1.0, 10.0))  # σ_xx of the swapped phases
        cell.close()
        gaps.append(along_y * along_x / 10.0 - 1.0)
    assert all(g > 0 for g in gaps), gaps
    assert gaps[0] > gaps[1] > gaps[2], gaps
    assert gaps[-1] < 0.01, gaps  # measured: 0.049, 0.018, 0.0064


@pytest.mark.parametrize("dim", [2, 3])
def test_samples_keep_wiener_and_means_keep_hashin_shtrikman(dim):
    n, radius = (48, 4.0) if dim == 2 else (16, 2.5)
    cell = ConductivityCell(MPI.COMM_SELF, n, dim)
    try:
        for fraction in (0.15, 0.35, 0.6):
            values, phis = [], []
            for seed in range(6):
                metal = particles(n, dim, fraction, radius, seed=seed)
                phi = float(metal.mean())
                value = cell.solve(np.where(metal, 10.0, 1.0))
                lower, upper = wiener(phi, 10.0, 1.0)
                assert lower * (1 - 1e-9) <= value <= upper * (1 + 1e-9)
                values.append(value)
                phis.append(phi)
            mean, half = percolation.mean_ci(values)
            hs_lower, hs_upper = hashin_shtrikman(float(np.mean(phis)), 10.0, 1.0, dim)
            assert hs_lower <= mean + half and mean - half <= hs_upper, (mean, half, hs_lower,
                                                                         hs_upper)
    finally:
        cell.close()


def test_high_contrast_limits_that_the_leakage_extrapolation_uses(cell_2d):
    """Spanning: σ_eff/σ_metal settles as κ grows; not spanning: σ_eff/σ_matrix does (O(1/κ))."""
    found = {}
    for seed in range(40):
        metal = particles(48, 2, 0.6, 4.0, seed=seed)
        found.setdefault(spans(metal), metal)
        if len(found) == 2:
            break
    assert set(found) == {True, False}
    for spanning, metal in found.items():
        low, high = (cell_2d.solve(np.where(metal, k, 1.0)) / (k if spanning else 1.0)
                     for k in (1e5, 1e7))
        assert low == pytest.approx(high, rel=1e-3), (spanning, low, high)


def test_continuum_threshold_of_overlapping_disks_matches_the_literature():
    """Finite-size scaling over boxes of 16 and 32 radii; literature φ_c = 0.6763."""
    fractions = [0.62, 0.65, 0.68, 0.71, 0.74]
    estimates = []
    for box in (16.0, 32.0):
        counts = [sum(continuum_spans(box, 2, f, seed=1000 * k + s) for s in range(120))
                  for k, f in enumerate(fractions)]
        estimate = percolation.spanning_threshold(fractions, counts, [120] * len(fractions))
        assert estimate is not None
        estimates.append(estimate)
    threshold, _ = percolation.extrapolate_threshold([16.0, 32.0], estimates, 2)
    assert abs(threshold.value - 0.6763) <= threshold.ci95, threshold
    assert threshold.ci95 < 0.03, threshold  # the test must be able to fail


def test_probit_fit_and_extrapolation_on_synthetic_data():
    rng = np.random.default_rng(0)
    phi = np.linspace(0.5, 0.8, 7)
    truth = 0.5 * (1 + np.vectorize(math.erf)((phi - 0.66) / (math.sqrt(2) * 0.04)))
    counts = rng.binomial(2000, truth)
    estimate = percolation.spanning_threshold(phi, counts, [2000] * 7)
    assert abs(estimate.value - 0.66) < 3 * estimate.stderr
    assert estimate.width == pytest.approx(0.04, rel=0.1)
    assert percolation.spanning_threshold(phi, [0] * 7, [10] * 7) is None
    boxes = [8.0, 16.0, 32.0]
    exact = [percolation.Threshold(0.6 + 0.2 * b ** (-3 / 4), 1e-3) for b in boxes]
    threshold, slope = percolation.extrapolate_threshold(boxes, exact, 2)
    assert threshold.value == pytest.approx(0.6, abs=1e-10)
    assert slope == pytest.approx(0.2, rel=1e-10)


def test_eqn_2_fit_recovers_its_parameters():
    v = np.linspace(0.7, 0.95, 8)
    sigma = 3.0 * (v - 0.62) ** 1.3
    fit = percolation.fit_power_law(v, sigma, 0.6)
    assert (fit.sigma0, fit.threshold, fit.exponent) == pytest.approx((3.0, 0.62, 1.3), rel=1e-6)
    assert percolation.mixing_rule(np.array([0.25]), 10.0, 2.0)[0] == pytest.approx(4.0)


def test_leakage_stack_limits():
    stack = Stack(thickness=1e-7, current_density=1.0, exchange_current_density=10.0,
                  temperature=298.15, plating_time=3600.0, molar_volume=1.3e-5,
                  reservoir=2e-5)
    sigma_i = 1e-4
    # small leakage: lidep's post-processing of a uniform layer, σ_e ΔV(J) / h
    point = stack.leakage(1e-12, sigma_i)
    expected = 1e-12 * stack.ionic_drop(1.0, sigma_i) / 1e-7
    assert point.leakage_current == pytest.approx(expected, rel=1e-8)
    assert point.li_loss_per_cycle == pytest.approx(expected * 3600 * 1.3e-5 / FARADAY,
                                                    rel=1e-12)
    # percolated metal: the electrons carry (nearly) all of J
    assert stack.leakage(1e7, sigma_i).leakage_fraction == pytest.approx(1.0, abs=1e-9)
    assert stack.leakage(0.0, sigma_i).cycles_to_depletion == math.inf
    # the ionic path: R_ct J + J h / σ_i at small J (charge_transfer_resistance, linear)
    r_ct, _ = charge_transfer_resistance(10.0, 0.5, 0.5, 298.15)
    assert stack.ionic_drop(1e-4, sigma_i) == pytest.approx(1e-4 * (r_ct + 1e-7 / sigma_i),
                                                            rel=1e-8)


def test_ci_study_runs_and_reports(tmp_path, capsys):
    code = main(["homogenize", str(CI_STUDY), "-o", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    run = tmp_path / "mii_percolation_ci"
    for name in ("report.md", "samples.csv", "summary.csv", "spanning.csv", "leakage.csv",
                 "results.json", "conductivity.png", "finite_size_scaling.png",
                 "leakage.png", "manifest.json", "study.resolved.yaml"):
        assert (run / name).is_file(), name
    assert "homogenize: V_f" in err + out  # progress lines
    results = json.loads((run / "results.json").read_text())
    assert all(row["wiener_violations"] == 0 for row in results["summary"])
    leakage = results["leakage"]
    assert leakage[0]["leakage_fraction"] < 1e-3  # below the threshold: matrix-limited
    assert leakage[-1]["leakage_fraction"] > 0.99  # above: the metal carries J
    continuum = results["thresholds"]["continuum"]
    assert abs(continuum["phi_c"] - 0.6763) <= continuum["phi_c_ci95"]


def test_study_file_is_checked():
    study = load_study(CI_STUDY)
    assert study.leakage.metal_conductivity == pytest.approx(1 / 16.78e-9)
    assert study.pixels(study.homogenization.box) == 48


@pytest.mark.mpi
def test_two_ranks_give_the_serial_values():
    comm = MPI.COMM_WORLD
    metal = particles(32, 2, 0.6, 4.0, seed=7)
    conductivity = np.where(metal, 1e6, 1.0)
    parallel = ConductivityCell(comm, 32, 2)
    serial = ConductivityCell(MPI.COMM_SELF, 32, 2)
    assert parallel.solve(conductivity) == pytest.approx(serial.solve(conductivity), rel=1e-10)
    parallel.close()
    serial.close()


def _numbers(tree: object) -> list[float]:
    """Every number of a JSON tree, in order."""
    if isinstance(tree, dict):
        return [x for value in tree.values() for x in _numbers(value)]
    if isinstance(tree, list):
        return [x for value in tree for x in _numbers(value)]
    return [float(tree)] if isinstance(tree, int | float) else []


@pytest.mark.mpi
def test_two_rank_study_matches_serial(tmp_path_factory):
    """2 ranks (samples distributed, spanning samples dealt out) give the serial results.

    To 1e-8, and the eqn (2) fit to 1e-5 (its optimiser's tolerance).
    """
    comm = MPI.COMM_WORLD
    tree = load_study(CI_STUDY).model_dump(mode="json")
    tree["percolation"]["seeds"] = 10
    root = comm.bcast(str(tmp_path_factory.mktemp("mpi")) if comm.rank == 0 else None)
    parallel = run_study(tree, f"{root}/parallel", comm=comm)
    differences = None
    if comm.rank == 0:  # the comparison's outcome is shared: no rank is left waiting
        serial = run_study(tree, f"{root}/serial", comm=MPI.COMM_SELF)
        a, b = (json.loads((d / "results.json").read_text()) for d in (parallel, serial))
        # the eqn (2) fit stops at curve_fit's tolerance (1e-8 on the parameters' steps)
        fit_a, fit_b = _numbers(a.pop("power_law")), _numbers(b.pop("power_law"))
        differences = [(x, y) for x, y in zip(_numbers(a), _numbers(b), strict=True)
                       if not x == pytest.approx(y, rel=1e-8, nan_ok=True)]
        differences += [(x, y) for x, y in zip(fit_a, fit_b, strict=True)
                        if not x == pytest.approx(y, rel=1e-5)]
    assert comm.bcast(differences) == []


@pytest.mark.parametrize(("packing", "aspect_ratio", "fraction"),
                         [("overlapping", 1.0, 0.5), ("overlapping", 4.0, 0.4), ("hard", 1.0, 0.3)])
def test_microstructures_have_their_target_fraction(packing, aspect_ratio, fraction):
    """Mean over 20 samples within 0.015 (sampling scatter about 0.005; pixel error < 0.01)."""
    phis = [particles(64, 2, fraction, 4.0, seed=s, packing=packing,
                      aspect_ratio=aspect_ratio).mean() for s in range(20)]
    assert np.mean(phis) == pytest.approx(fraction, abs=0.015)


def test_vertex_contacts_conduct_as_the_spanning_test_assumes(cell_2d):
    """A chain of metal pixels touching only at vertices carries a metal-sized current."""
    metal = np.eye(48, dtype=bool)
    assert spans(metal)
    assert cell_2d.solve(np.where(metal, 1e6, 1.0)) > 1e3
    metal[24, 24] = False
    assert not spans(metal)
    assert cell_2d.solve(np.where(metal, 1e6, 1.0)) < 10.0


def test_study_key_table_in_the_docs_is_fresh():
    from solver.config.reference import key_table
    from solver.studies.homogenize import HomogenizeConfig

    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    begin, end = "<!-- study2-keys:begin -->\n", "<!-- study2-keys:end -->"
    table = text[text.index(begin) + len(begin):text.index(end)]
    assert table == key_table(HomogenizeConfig), "regenerate the Study 2 key table"


def test_eqn_1_fit_is_exact_on_its_own_curve_and_misses_a_percolation_curve():
    v = np.linspace(0.1, 0.9, 9)
    fit = percolation.fit_mixing_rule(v, percolation.mixing_rule(v, 1e4, 1.0), 1.0)
    assert fit.sigma_metal == pytest.approx(1e4, rel=1e-6)
    assert fit.rms_decades < 1e-6
    step = np.where(v < 0.6, 1.0 + v, 1e4 * (v - 0.5))  # matrix-like, then percolating
    assert percolation.fit_mixing_rule(v, step, 1.0).rms_decades > 1.0


def test_hard_disk_study_runs_with_the_pixel_model_only(tmp_path):
    tree = {"name": "hard", "microstructure": {"packing": "hard", "resolution": 4},
            "homogenization": {"box": 8, "fractions": [0.2, 0.4], "seeds": 2},
            "percolation": {"boxes": [8], "fractions": [0.3, 0.4, 0.45], "seeds": 6}}
    run = run_study(tree, tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert list(results["thresholds"]) == ["pixels"]  # no continuum threshold for hard disks
    assert results["literature_threshold"] is None
    assert all(row["wiener_violations"] == 0 for row in results["summary"])
