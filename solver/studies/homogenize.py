"""Study 2 of issue 12 (seed 000): metal-incorporated interphases (MII) and percolation.

``lidep homogenize STUDY.yaml`` (:func:`run_study`) does three things:

1. **Homogenisation.** For each target metal fraction and each of ``seeds`` random samples, a
   microstructure (:mod:`solver.studies.microstructure`) is solved twice by finite elements
   (:class:`~solver.studies.effective.ConductivityCell`, the forms compiled once): electronic,
   metal σ = κ and matrix σ = 1 (κ = ``homogenization.contrast``), and ionic, matrix 1 and the
   ion-blocking metal 1/κ. Results are normalised by the matrix: F_e = σ_eff,e / σ_NM,e and
   F_i = σ_eff,i / σ_NM,i. Every sample is checked against Wiener's bounds; the ensemble means
   are compared with the Hashin–Shtrikman bounds, seed 000's eqn (1) (the mixing rule) and a
   fit of its eqn (2), σ = σ0 (V_f - V_p)^n.
2. **Percolation threshold.** Spanning probabilities of many samples (no finite elements) in
   boxes of several sides L give φ_L (probit fit) and, by finite-size scaling
   φ_L = φ_c + a L^(-1/ν), the threshold φ_c with its 95 % confidence interval.
3. **Leakage.** Physical conductivities from F: a sample whose metal spans conducts like the
   metal, σ_e = σ_M F_e / κ; one whose metal does not, like the matrix, σ_e = σ_NM,e F_e
   (both exact to O(1/κ) once the physical contrast σ_M / σ_NM,e >= κ, which is checked).
   The ensemble mean of σ_e and σ_i (patches side by side carry current in parallel) feeds the
   1D Li | MII | electrolyte stack of :mod:`solver.studies.leakage`: leakage current and Li lost
   per cycle against the metal fraction.

The run directory (``<output>/<name>``, created and finished like a ``lidep run``'s) holds
``samples.csv``, ``summary.csv``, ``spanning.csv``, ``leakage.csv``, ``results.json``,
``report.md`` and the figures ``conductivity.png``, ``finite_size_scaling.png``,
``leakage.png``. Lengths of the microstructure are in particle radii (the semi-minor axis):
the effective conductivity does not depend on the absolute size.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from mpi4py import MPI
from pydantic import Field, field_validator, model_validator

from solver import library
from solver.config import SafeName, read_yaml, validate
from solver.library.inorganic import LI_MOLAR_VOLUME
from solver.logging_utils import clock_text
from solver.rundir import RunDirectory
from solver.schema import StrictModel
from solver.studies import leakage as leakage_model
from solver.studies import percolation
from solver.studies.effective import MAX_CONTRAST, ConductivityCell, hashin_shtrikman, wiener
from solver.studies.microstructure import (
    HARD_MAX_FRACTION,
    Packing,
    continuum_spans,
    particles,
    spans,
)
from solver.units import Conductivity, CurrentDensity, Length, Temperature, Time

__all__ = [
    "MAX_FE_CELLS",
    "MAX_PERCOLATION_PIXELS",
    "HomogenizeConfig",
    "load_study",
    "run_study",
]

LOGGER = logging.getLogger("solver.studies.homogenize")

#: Largest finite-element sample, cells (pixels) (MUMPS on 2 shared cores: about 1e6 cells is
#: a few seconds in 2D and a minute in 3D per solve).
MAX_FE_CELLS = 1_000_000
#: Largest spanning-test sample, pixels (labels take 5 bytes per pixel: 80 MB).
MAX_PERCOLATION_PIXELS = 16_000_000
#: Largest number of finite-element samples (fractions x seeds) and of spanning samples.
MAX_FE_SAMPLES = 20_000
MAX_SPANNING_SAMPLES = 2_000_000

#: Relative slack of the per-sample Wiener check (the LU solve's round-off at contrast 1e9).
_BOUND_TOLERANCE = 1e-8

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
"""A volume fraction in [0, 1]."""


class Microstructure(StrictModel):
    """The random two-phase microstructure (metal particles in a non-metal matrix)."""

    dimension: Literal[2, 3] = Field(2, description="2 (disks, ellipses) or 3 (spheres, "
                                     "prolate spheroids).")
    packing: Packing = Field("overlapping", description="overlapping (Boolean model) or hard "
                             "(random sequential addition, aspect ratio 1 only).")
    aspect_ratio: float = Field(1.0, ge=1.0, le=20.0, description="Longest / shortest axis of "
                                "a particle (1: disks or spheres).")
    resolution: float = Field(6.0, ge=2.0, le=50.0, description="Pixels (voxels) per particle "
                              "radius (the semi-minor axis).")

    @model_validator(mode="after")
    def _hard_round(self) -> Microstructure:
        if self.packing == "hard" and self.aspect_ratio != 1.0:
            raise ValueError(f"aspect_ratio: hard particles are disks or spheres (got "
                             f"{self.aspect_ratio:g}); allowed: 1 with packing hard")
        return self


class Homogenization(StrictModel):
    """Finite-element samples: effective electronic and ionic conductivity."""

    box: float = Field(16.0, ge=2.0, le=1000.0, description="Sample side in particle radii.")
    fractions: list[Fraction] = Field(min_length=1, max_length=200, description="Target metal "
                                      "volume fractions.")
    seeds: int = Field(8, ge=1, le=10_000, description="Random samples per fraction.")
    contrast: float = Field(1e6, gt=1.0, le=MAX_CONTRAST, description="κ = σ_metal / σ_matrix "
                            "(electronic) and σ_matrix / σ_metal (ionic) in the samples.")


class Percolation(StrictModel):
    """Spanning samples (no finite elements) for the finite-size scaling of the threshold."""

    boxes: list[Annotated[float, Field(ge=2.0, le=10_000.0)]] = Field(
        min_length=1, max_length=8, description="Box sides L in particle radii.")
    fractions: list[Fraction] = Field(min_length=2, max_length=200, description="Target metal "
                                      "fractions around the threshold.")
    seeds: int = Field(100, ge=2, le=100_000, description="Samples per box and fraction.")


class Leakage(StrictModel):
    """The 1D Li | MII | electrolyte stack fed with σ_e(V_f), σ_i(V_f) (SI inside)."""

    metal: str = Field("Cu", description="Library metal (`lidep materials`): its electronic "
                       "conductivity.")
    matrix_electronic_conductivity: Conductivity = Field(description="σ_NM,e of the non-metal "
                                                         "phases.")
    matrix_ionic_conductivity: Conductivity = Field(description="σ_NM,i of the non-metal "
                                                    "phases (the metal blocks ions).")
    thickness: Length = Field(description="Interphase thickness h.")
    current_density: CurrentDensity = Field(description="Plating current density J.")
    exchange_current_density: CurrentDensity = Field(description="i0 at Li | interphase.")
    temperature: Temperature = Field(298.15, description="T.")
    plating_time: Time = Field(description="Plating half-cycle t_p.")
    reservoir: Length = Field(20e-6, description="Li that may be lost before the cell "
                              "depletes (seed 000: the 20 um foil of the asymmetric cell).")

    @field_validator("metal")
    @classmethod
    def _library_metal(cls, name: str) -> str:
        try:
            library.get(name, "metal")
        except ValueError as err:
            raise ValueError(str(err).removeprefix("material: ")) from None
        return name

    @field_validator("matrix_electronic_conductivity", "matrix_ionic_conductivity",
                     "thickness", "current_density", "exchange_current_density",
                     "temperature", "plating_time", "reservoir")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0.0:
            raise ValueError("must be positive")
        return value

    @property
    def metal_conductivity(self) -> float:
        """σ_M of the library metal, S/m."""
        value = library.get(self.metal, "metal").properties["electronic_conductivity_S_m"].value
        return float(value)


class HomogenizeConfig(StrictModel):
    """A ``lidep homogenize`` study file."""

    name: SafeName = Field(description="Run directory name.")
    description: str = Field("", max_length=2000, description="Free text.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Base seed of every random sample.")
    microstructure: Microstructure = Field(default_factory=Microstructure,
                                           description="The random microstructure.")
    homogenization: Homogenization = Field(description="Finite-element samples.")
    percolation: Percolation | None = Field(None, description="Finite-size scaling of the "
                                            "spanning threshold (optional).")
    leakage: Leakage | None = Field(None, description="The 1D leakage stack (optional).")

    def pixels(self, box: float) -> int:
        """Pixels per side of a box of ``box`` particle radii."""
        return max(2, round(box * self.microstructure.resolution))

    @model_validator(mode="after")
    def _sizes(self) -> HomogenizeConfig:
        ms, fe = self.microstructure, self.homogenization
        d = ms.dimension
        problems = []
        n = self.pixels(fe.box)
        if n**d > MAX_FE_CELLS:
            problems.append(f"homogenization.box: a sample of {n}^{d} cells (got {fe.box:g} "
                            f"radii x resolution {ms.resolution:g}); allowed: at most "
                            f"{MAX_FE_CELLS:.0e} cells")
        if fe.box < 4.0 * ms.aspect_ratio:
            problems.append(f"homogenization.box: shorter than two particle lengths (got "
                            f"{fe.box:g}); allowed: at least 4 x aspect_ratio radii")
        if len(fe.fractions) * fe.seeds > MAX_FE_SAMPLES:
            problems.append(f"homogenization.seeds: {len(fe.fractions)} fractions x "
                            f"{fe.seeds} seeds (got {fe.seeds}); allowed: at most "
                            f"{MAX_FE_SAMPLES} samples")
        lists = [("homogenization.fractions", fe.fractions)]
        if self.percolation is not None:
            pc = self.percolation
            lists.append(("percolation.fractions", pc.fractions))
            for i, box in enumerate(pc.boxes):
                m = self.pixels(box)
                if m**d > MAX_PERCOLATION_PIXELS:
                    problems.append(f"percolation.boxes.{i}: {m}^{d} pixels (got {box:g}); "
                                    f"allowed: at most {MAX_PERCOLATION_PIXELS:.1e} pixels")
            total = len(pc.boxes) * len(pc.fractions) * pc.seeds
            if total > MAX_SPANNING_SAMPLES:
                problems.append(f"percolation.seeds: {total} samples in all (got {pc.seeds}); "
                                f"allowed: at most {MAX_SPANNING_SAMPLES}")
        if ms.packing == "hard":
            limit = HARD_MAX_FRACTION[d]
            problems += [f"{key}.{i}: above what hard particles reach (got {f:g}); allowed: "
                         f"at most {limit} in {d}D" for key, values in lists
                         for i, f in enumerate(values) if f > limit]
        if self.leakage is not None:
            ratio = self.leakage.metal_conductivity / self.leakage.matrix_electronic_conductivity
            if ratio < fe.contrast:
                problems.append(f"leakage.matrix_electronic_conductivity: the physical contrast "
                                f"{ratio:.3g} is below homogenization.contrast (got "
                                f"{self.leakage.matrix_electronic_conductivity:g} S/m); "
                                "allowed: at most sigma_metal / contrast")
        if problems:
            raise ValueError("\n".join(problems))
        return self


def load_study(source: str | Path | Mapping[str, Any]) -> HomogenizeConfig:
    """Read and validate a study file (or an already-parsed tree).

    Raises:
        ConfigError: One line per problem, naming the key path, the value and what is allowed.
    """
    raw = read_yaml(source) if isinstance(source, str | Path) else copy.deepcopy(dict(source))
    return validate(HomogenizeConfig, raw, ())


# --------------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One finite-element sample (conductivities normalised by the matrix's)."""

    target: float
    seed: int
    fraction: float
    metal_spans: bool
    electronic: float
    ionic: float
    within_wiener: bool


def _seed(study: HomogenizeConfig, *stream: int) -> int:
    return int(np.random.SeedSequence([study.seed, *stream]).generate_state(1)[0])


def _microstructure(study: HomogenizeConfig, box: float, fraction: float, seed: int
                    ) -> np.ndarray:
    ms = study.microstructure
    return particles(study.pixels(box), ms.dimension, fraction, ms.resolution, seed=seed,
                     packing=ms.packing, aspect_ratio=ms.aspect_ratio)


def _finite_element_samples(study: HomogenizeConfig, comm: MPI.Comm) -> list[Sample]:
    fe = study.homogenization
    kappa = fe.contrast
    cell = ConductivityCell(comm, study.pixels(fe.box), study.microstructure.dimension)
    samples: list[Sample] = []
    start = time.perf_counter()
    try:
        for level, target in enumerate(fe.fractions):
            for i in range(fe.seeds):
                seed = _seed(study, 0, level, i)
                metal = _microstructure(study, fe.box, target, seed)
                phi = float(metal.mean())
                electronic = cell.solve(np.where(metal, kappa, 1.0))
                ionic = cell.solve(np.where(metal, 1.0 / kappa, 1.0))
                bounds = (wiener(phi, kappa, 1.0), wiener(phi, 1.0 / kappa, 1.0))
                within = all(lo * (1 - _BOUND_TOLERANCE) <= value <= hi * (1 + _BOUND_TOLERANCE)
                             for value, (lo, hi) in zip((electronic, ionic), bounds,
                                                        strict=True))
                samples.append(Sample(target, i, phi, spans(metal), electronic, ionic, within))
            done = (level + 1) / len(fe.fractions)
            elapsed = time.perf_counter() - start
            level_samples = samples[-fe.seeds:]
            mean, half = percolation.mean_ci([s.electronic for s in level_samples])
            LOGGER.info("homogenize: V_f %.3f (%d/%d), %d samples: sigma_e/sigma_matrix = "
                        "%.3g +- %.2g, metal spans in %d; %s elapsed, ETA %s", target,
                        level + 1, len(fe.fractions), fe.seeds, mean, half,
                        sum(s.metal_spans for s in level_samples), clock_text(elapsed),
                        clock_text(elapsed * (1.0 - done) / done))
    finally:
        cell.close()
    return samples


SpanningModel = Literal["pixels", "continuum"]
"""The pixel medium the finite elements see, or the continuum model (overlapping disks /
spheres only)."""


@dataclass(frozen=True)
class SpanningLevel:
    """Spanning counts of one model, box side and target fraction."""

    model: SpanningModel
    box: float
    target: float
    fraction: float
    spanning: int
    samples: int


def _spanning_models(study: HomogenizeConfig) -> list[SpanningModel]:
    ms = study.microstructure
    exact = ms.packing == "overlapping" and ms.aspect_ratio == 1.0
    return ["pixels", "continuum"] if exact else ["pixels"]


def _spans(study: HomogenizeConfig, model: SpanningModel, box: float, target: float,
           seed: int) -> tuple[bool, float]:
    """(spans, metal fraction) of one sample of ``model``."""
    if model == "continuum":
        return continuum_spans(box, study.microstructure.dimension, target, seed=seed), target
    metal = _microstructure(study, box, target, seed)
    return spans(metal), float(metal.mean())


def _spanning_samples(study: HomogenizeConfig, pc: Percolation, comm: MPI.Comm
                      ) -> list[SpanningLevel]:
    """Spanning counts; the samples are dealt out over the ranks and the counts summed."""
    levels = []
    start = time.perf_counter()
    models = _spanning_models(study)
    total = len(models) * len(pc.boxes)
    for m, model in enumerate(models):
        for b, box in enumerate(pc.boxes):
            for level, target in enumerate(pc.fractions):
                counts = np.zeros(2)
                for i in range(comm.rank, pc.seeds, comm.size):
                    counts += _spans(study, model, box, target, _seed(study, 1 + m, b, level, i))
                counts = comm.allreduce(counts, op=MPI.SUM)
                levels.append(SpanningLevel(model, box, target, counts[1] / pc.seeds,
                                            int(counts[0]), pc.seeds))
            done = (m * len(pc.boxes) + b + 1) / total
            elapsed = time.perf_counter() - start
            LOGGER.info("percolation (%s): box %g radii (%d/%d), %d fractions x %d samples; "
                        "%s elapsed, ETA %s", model, box, b + 1, len(pc.boxes),
                        len(pc.fractions), pc.seeds, clock_text(elapsed),
                        clock_text(elapsed * (1.0 - done) / done))
    return levels


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def _levels(samples: Sequence[Sample]) -> dict[float, list[Sample]]:
    grouped: dict[float, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.target, []).append(sample)
    return grouped


def _physical(study: HomogenizeConfig, leak: Leakage, sample: Sample) -> tuple[float, float]:
    """(σ_e, σ_i) of a sample in S/m (see the module docstring, item 3)."""
    kappa = study.homogenization.contrast
    sigma_e = (leak.metal_conductivity * sample.electronic / kappa if sample.metal_spans
               else leak.matrix_electronic_conductivity * sample.electronic)
    return sigma_e, leak.matrix_ionic_conductivity * sample.ionic


def _summary(study: HomogenizeConfig, samples: Sequence[Sample]) -> list[dict[str, float]]:
    kappa, d = study.homogenization.contrast, study.microstructure.dimension
    rows = []
    for target, group in _levels(samples).items():
        phi = float(np.mean([s.fraction for s in group]))
        e_mean, e_half = percolation.mean_ci([s.electronic for s in group])
        i_mean, i_half = percolation.mean_ci([s.ionic for s in group])
        hs_e, hs_i = hashin_shtrikman(phi, kappa, 1.0, d), hashin_shtrikman(phi, 1.0 / kappa,
                                                                              1.0, d)
        rows.append({
            "target_fraction": target, "fraction": phi, "samples": len(group),
            "metal_spans": sum(s.metal_spans for s in group),
            "electronic": e_mean, "electronic_ci95": e_half,
            "ionic": i_mean, "ionic_ci95": i_half,
            "hs_electronic_lower": hs_e[0], "hs_electronic_upper": hs_e[1],
            "hs_ionic_lower": hs_i[0], "hs_ionic_upper": hs_i[1],
            "mixing_rule_electronic": float(percolation.mixing_rule(phi, kappa, 1.0)),
            "wiener_violations": sum(not s.within_wiener for s in group),
        })
    return rows


def _leakage_rows(study: HomogenizeConfig, leak: Leakage, samples: Sequence[Sample]
                  ) -> list[dict[str, float]]:
    stack = leakage_model.Stack(
        leak.thickness, leak.current_density, leak.exchange_current_density, leak.temperature,
        leak.plating_time,
        LI_MOLAR_VOLUME, leak.reservoir)
    rows = []
    for target, group in _levels(samples).items():
        sigma = np.array([_physical(study, leak, s) for s in group])
        e_mean, e_half = percolation.mean_ci(sigma[:, 0])
        i_mean, _ = percolation.mean_ci(sigma[:, 1])
        point = stack.leakage(e_mean, i_mean)
        rows.append({"target_fraction": target,
                     "fraction": float(np.mean([s.fraction for s in group])),
                     "electronic_conductivity_S_m": e_mean,
                     "electronic_conductivity_ci95_S_m": e_half,
                     "ionic_conductivity_S_m": i_mean, **asdict(point)})
    return rows


def _thresholds(study: HomogenizeConfig, levels: Sequence[SpanningLevel]
                ) -> dict[str, dict[str, Any]]:
    """The finite-size-scaling threshold of each spanning model that has data."""
    models = dict.fromkeys(level.model for level in levels)
    return {m: _threshold(study, [lv for lv in levels if lv.model == m]) for m in models}


def _threshold(study: HomogenizeConfig, levels: Sequence[SpanningLevel]) -> dict[str, Any]:
    d = study.microstructure.dimension
    per_box = []
    for box in dict.fromkeys(level.box for level in levels):
        rows = [lv for lv in levels if lv.box == box]
        estimate = percolation.spanning_threshold([r.fraction for r in rows],
                                                  [r.spanning for r in rows],
                                                  [r.samples for r in rows])
        if estimate is not None:
            per_box.append((box, estimate))
    if not per_box:
        return {"boxes": [], "phi_c": math.nan, "phi_c_ci95": math.nan, "slope": math.nan,
                "nu": percolation.NU[d]}
    extrapolated, slope = percolation.extrapolate_threshold(
        [b for b, _ in per_box], [e for _, e in per_box], d)
    return {"boxes": [{"box": b, "phi_L": e.value, "phi_L_ci95": e.ci95, "width": e.width}
                      for b, e in per_box],
            "phi_c": extrapolated.value, "phi_c_ci95": extrapolated.ci95, "slope": slope,
            "nu": percolation.NU[d]}


def _power_law(study: HomogenizeConfig, summary: Sequence[Mapping[str, float]],
               phi_c: float) -> percolation.PowerLaw | None:
    kappa = study.homogenization.contrast
    above = [r for r in summary if 2 * r["metal_spans"] >= r["samples"]]
    if not above:
        return None
    guess = phi_c if math.isfinite(phi_c) else min(r["fraction"] for r in above) - 0.02
    return percolation.fit_power_law([r["fraction"] for r in above],
                                     [r["electronic"] / kappa for r in above], guess)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

#: Literature thresholds of the continuum models (area / volume fraction), by dimension, for
#: overlapping disks / spheres.
LITERATURE_THRESHOLD = {
    2: (0.676339, "overlapping disks: Quintanilla, Torquato & Ziff, J. Phys. A 33, L399 (2000), "
        "0.6763475(6); Xun, Hao & Ziff, Phys. Rev. E 103, 022126 (2021): 4 eta_c = 4.51235"),
    3: (0.2896, "overlapping spheres: Rintoul & Torquato, J. Phys. A 30, L585 (1997), "
        "0.2895(5); Consiglio, Baker, Paul & Stanley, Physica A 319, 49 (2003), "
        "0.28955(7)"),
}
#: Conductivity exponent t of lattice percolation (Stauffer & Aharony, Introduction to
#: Percolation Theory, 2nd ed., 1994): about 1.30 in 2D and 2.0 in 3D.
UNIVERSAL_EXPONENT = {2: 1.30, 3: 2.0}


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_STYLE = {"pixels": ("k", ":", "0.85"), "continuum": ("C3", "--", "mistyrose")}


def _threshold_band(ax: Any, thresholds: Mapping[str, Mapping[str, Any]]) -> None:
    for model, threshold in thresholds.items():
        phi_c, half = threshold["phi_c"], threshold["phi_c_ci95"]
        color, style, fill = _STYLE[model]
        if math.isfinite(phi_c):
            ax.axvline(phi_c, color=color, ls=style, lw=1,
                       label=f"φ_c = {phi_c:.3f} ({model}, FSS)")
            if math.isfinite(half):
                ax.axvspan(phi_c - half, phi_c + half, color=fill, zorder=0)


def _figure_conductivity(path: Path, study: HomogenizeConfig, summary: Sequence[Mapping],
                         fit: percolation.PowerLaw | None, thresholds: Mapping) -> None:
    plt = _pyplot()
    kappa = study.homogenization.contrast
    phi = np.array([r["fraction"] for r in summary])
    grid = np.linspace(0.0, 1.0, 201)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind, sigma_metal in ((axes[0], "electronic", kappa), (axes[1], "ionic", 1 / kappa)):
        mean = np.array([r[kind] for r in summary])
        half = np.nan_to_num(np.array([r[f"{kind}_ci95"] for r in summary]))
        ax.errorbar(phi, mean, yerr=np.minimum(half, 0.999 * mean), fmt="o", ms=4, capsize=3,
                    label="FE ensemble mean ± 95 % CI")
        lo, hi = np.array([wiener(g, sigma_metal, 1.0) for g in grid]).T
        hs = np.array([hashin_shtrikman(g, sigma_metal, 1.0, study.microstructure.dimension)
                       for g in grid])
        ax.plot(grid, hi, "C1-", lw=1, label="Wiener parallel = seed 000 eqn (1)")
        ax.plot(grid, lo, "C1--", lw=1, label="Wiener series")
        ax.plot(grid, hs[:, 0], "C2--", lw=1, label="Hashin–Shtrikman lower")
        ax.plot(grid, hs[:, 1], "C2-", lw=1, label="Hashin–Shtrikman upper")
        if kind == "electronic" and fit is not None:
            ax.plot(grid, kappa * fit(grid), "C3-", lw=1.5,
                    label=f"eqn (2) fit: V_p = {fit.threshold:.3f}, n = {fit.exponent:.2f}")
        _threshold_band(ax, thresholds)
        ax.set_yscale("log")
        ax.set_xlabel("metal volume fraction V_f")
        ax.set_ylabel(f"σ_eff,{kind[0]} / σ_matrix,{kind[0]}")
        ax.set_title(f"{kind} (contrast {kappa:.0e})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _figure_scaling(path: Path, study: HomogenizeConfig, levels: Sequence[SpanningLevel],
                    thresholds: Mapping[str, Mapping[str, Any]]) -> None:
    plt = _pyplot()
    d = study.microstructure.dimension
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for model, threshold in thresholds.items():
        marker = "o" if model == "pixels" else "s"
        fits = {b["box"]: b for b in threshold["boxes"]}
        boxes = dict.fromkeys(lv.box for lv in levels if lv.model == model)
        for k, box in enumerate(boxes):
            rows = [lv for lv in levels if lv.box == box and lv.model == model]
            phi = np.array([r.fraction for r in rows])
            left.plot(phi, [r.spanning / r.samples for r in rows], marker, color=f"C{k}",
                      ms=4, label=f"{model}, L = {box:g} radii")
            if box in fits:
                grid = np.linspace(phi.min(), phi.max(), 200)
                left.plot(grid, 0.5 * (1 + np.vectorize(math.erf)(
                    (grid - fits[box]["phi_L"]) / (math.sqrt(2) * fits[box]["width"]))),
                    color=f"C{k}", lw=1, ls="-" if model == "pixels" else "--")
        if not threshold["boxes"]:
            continue
        nu = threshold["nu"]
        x = np.array([b["box"] for b in threshold["boxes"]]) ** (-1 / nu)
        right.errorbar(x, [b["phi_L"] for b in threshold["boxes"]], fmt=marker, capsize=3,
                       yerr=[b["phi_L_ci95"] for b in threshold["boxes"]],
                       color=_STYLE[model][0], label=f"{model}: φ_L (probit, 95 % CI)")
        if math.isfinite(threshold["slope"]):
            grid = np.linspace(0.0, x.max() * 1.05, 50)
            right.plot(grid, threshold["phi_c"] + threshold["slope"] * grid,
                       color=_STYLE[model][0], lw=1, label=f"{model}: φ_c = "
                       f"{threshold['phi_c']:.4f} ± {threshold['phi_c_ci95']:.4f}")
    literature = _literature(study)
    if literature is not None:
        right.axhline(literature[0], color="C2", ls="--", lw=1,
                      label=f"literature {literature[0]}")
    left.axhline(0.5, color="0.6", lw=0.8)
    left.set_xlabel("metal volume fraction")
    left.set_ylabel("spanning probability")
    left.legend(fontsize=7)
    right.set_xlabel(f"L^(-1/ν), ν = {percolation.NU[d]:.4g} (L in particle radii)")
    right.set_ylabel("φ_L")
    if right.get_legend_handles_labels()[0]:  # nothing to show when no box brackets 1/2
        right.legend(fontsize=7)
    fig.suptitle(f"{d}D {study.microstructure.packing}, aspect ratio "
                 f"{study.microstructure.aspect_ratio:g}, {study.microstructure.resolution:g} "
                 "pixels per radius")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _figure_leakage(path: Path, rows: Sequence[Mapping[str, float]],
                    thresholds: Mapping[str, Mapping[str, Any]]) -> None:
    plt = _pyplot()
    phi = [r["fraction"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 6.5), sharex=True)
    top.semilogy(phi, [r["leakage_current"] / 10.0 for r in rows], "o-", ms=4)
    top.set_ylabel("leakage current, mA/cm²")
    bottom.semilogy(phi, [r["li_loss_per_cycle"] * 1e6 for r in rows], "o-", ms=4)
    bottom.set_ylabel("Li lost per cycle, µm")
    bottom.set_xlabel("metal volume fraction V_f")
    for ax in (top, bottom):
        _threshold_band(ax, thresholds)
        ax.grid(alpha=0.3)
    top.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _literature(study: HomogenizeConfig) -> tuple[float, str] | None:
    ms = study.microstructure
    if ms.packing == "overlapping" and ms.aspect_ratio == 1.0:
        return LITERATURE_THRESHOLD[ms.dimension]
    return None


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if math.isfinite(value) else "n/a"


def _report(study: HomogenizeConfig, summary: Sequence[Mapping], thresholds: Mapping,
            fit: percolation.PowerLaw | None, leakage_rows: Sequence[Mapping] | None) -> str:
    ms, fe, d = study.microstructure, study.homogenization, study.microstructure.dimension
    kappa = fe.contrast
    lines = [f"# {study.name}: metal-incorporated interphase, percolation (seed 000)", "",
             study.description, "",
             f"Microstructure: {d}D {ms.packing} particles, aspect ratio {ms.aspect_ratio:g}, "
             f"{ms.resolution:g} pixels per radius. Finite-element samples: box "
             f"{fe.box:g} radii ({study.pixels(fe.box)}^{d} cells), {fe.seeds} seeds per "
             f"fraction, contrast κ = {kappa:.0e}. Conductivities are normalised by the "
             "matrix's; 95 % confidence intervals are t(0.975, n-1) s/sqrt(n).", "",
             "## Effective conductivity", "", "![conductivity](conductivity.png)", "",
             "| V_f | samples | metal spans | σ_e/σ_NM,e | ± 95 % | HS lower | HS upper | "
             "eqn (1) | σ_i/σ_NM,i | ± 95 % | Wiener violations |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['fraction']:.3f} | {r['samples']} | {r['metal_spans']} | "
              f"{_fmt(r['electronic'])} | {_fmt(r['electronic_ci95'], 2)} | "
              f"{_fmt(r['hs_electronic_lower'])} | {_fmt(r['hs_electronic_upper'])} | "
              f"{_fmt(r['mixing_rule_electronic'])} | {_fmt(r['ionic'])} | "
              f"{_fmt(r['ionic_ci95'], 2)} | {r['wiener_violations']} |" for r in summary]
    mixing = percolation.fit_mixing_rule([r["fraction"] for r in summary],
                                         [r["electronic"] for r in summary], 1.0)
    lines += ["", f"Seed 000, eqn (1) with σ_M fitted to all the ensemble means (least squares on "
              f"log σ): σ_M = {mixing.sigma_metal:.3g} σ_NM (κ = {kappa:.0e} in the samples), "
              f"misfit {mixing.rms_decades:.2f} decades (root mean square)."]
    lines += ["", "Seed 000, eqn (2), σ = σ0 (V_f - V_p)^n, fitted to the ensemble means whose "
              "metal spans in at least half of the samples (σ / σ_M):", ""]
    if fit is None:
        lines.append("not fitted (fewer than 4 fractions above the threshold).")
    else:
        lines.append(f"σ0/σ_M = {fit.sigma0:.3g} ± {fit.sigma0_stderr:.2g}, V_p = "
                     f"{fit.threshold:.4f} ± {fit.threshold_stderr:.2g}, n = {fit.exponent:.3f} "
                     f"± {fit.exponent_stderr:.2g} (standard errors; {fit.points} points), "
                     f"misfit {fit.rms_decades:.2f} decades. Lattice percolation: n = t ≈ "
                     f"{UNIVERSAL_EXPONENT[d]} in {d}D.")
    lines += ["", "## Percolation threshold (finite-size scaling)", ""]
    if any(t["boxes"] for t in thresholds.values()):
        lines += ["![finite-size scaling](finite_size_scaling.png)", "",
                  "`pixels`: the pixel medium of the finite elements (connected through "
                  "vertices); `continuum`: the overlap graph of the particles themselves.", "",
                  "| model | box L (radii) | φ_L | ± 95 % | probit width |",
                  "| --- | --- | --- | --- | --- |"]
        for model, threshold in thresholds.items():
            lines += [f"| {model} | {b['box']:g} | {b['phi_L']:.4f} | "
                      f"{_fmt(b['phi_L_ci95'], 2)} | {b['width']:.3g} |"
                      for b in threshold["boxes"]]
        lines.append("")
        lines += [f"- {model}: φ_c = {_fmt(t['phi_c'], 4)} ± {_fmt(t['phi_c_ci95'], 2)} (95 %; "
                  f"φ_L = φ_c + a L^(-1/ν), ν = {t['nu']:.4g})" for model, t in thresholds.items()]
        literature = _literature(study)
        if literature is not None:
            lines.append(f"- literature: {literature[0]} ({literature[1]})")
    else:
        lines.append("No percolation section, or the spanning data do not bracket 1/2.")
    if leakage_rows is not None and study.leakage is not None:
        leak = study.leakage
        lines += ["", "## Leakage through the Li | MII | electrolyte stack", "",
                  "![leakage](leakage.png)", "",
                  f"Metal {leak.metal} (σ_M = {leak.metal_conductivity:.3g} S/m), matrix "
                  f"σ_NM,e = {leak.matrix_electronic_conductivity:.3g} S/m, σ_NM,i = "
                  f"{leak.matrix_ionic_conductivity:.3g} S/m, h = {leak.thickness * 1e9:g} nm, "
                  f"J = {leak.current_density / 10:g} mA/cm², i0 = "
                  f"{leak.exchange_current_density / 10:g} mA/cm², t_p = "
                  f"{leak.plating_time / 3600:g} h, reservoir {leak.reservoir * 1e6:g} µm.", "",
                  "| V_f | σ_e, S/m | σ_i, S/m | leakage, mA/cm² | j_e/J | Li lost, µm/cycle | "
                  "cycles to deplete |", "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['fraction']:.3f} | {_fmt(r['electronic_conductivity_S_m'])} | "
                  f"{_fmt(r['ionic_conductivity_S_m'])} | {_fmt(r['leakage_current'] / 10)} | "
                  f"{_fmt(r['leakage_fraction'])} | {_fmt(r['li_loss_per_cycle'] * 1e6)} | "
                  f"{_fmt(r['cycles_to_depletion'])} |" for r in leakage_rows]
    lines += ["", "docs/scenarios.md (Study 2) states the assumptions and compares with seed 000."]
    return "\n".join(lines) + "\n"


def run_study(config: str | Path | Mapping[str, Any] | HomogenizeConfig,
              output_root: str | Path = Path("results"), *, overwrite: bool = False,
              comm: MPI.Comm | None = None, command_line: Iterable[str] | None = None) -> Path:
    """Run a ``lidep homogenize`` study into ``<output_root>/<name>``.

    Args:
        config: A study file, a parsed tree or a validated :class:`HomogenizeConfig`.
        output_root: Directory of run directories.
        overwrite: Replace an existing run directory of the same name.
        comm: Communicator (default ``MPI.COMM_SELF``); the finite-element samples are
            distributed over its ranks, the spanning samples dealt out between them.
        command_line: Recorded in the manifest (default ``sys.argv``).

    Returns:
        The run directory.

    Raises:
        ConfigError: An invalid study file (nothing is written).
    """
    study = config if isinstance(config, HomogenizeConfig) else load_study(config)
    comm = MPI.COMM_SELF if comm is None else comm
    with RunDirectory(output_root, study.name, comm, overwrite=overwrite,
                      command_line=None if command_line is None else list(command_line)) as rd:
        rd.write_text("study.resolved.yaml", yaml.safe_dump(study.model_dump(mode="json"),
                                                           sort_keys=False))
        with rd.phase("homogenization"):
            samples = _finite_element_samples(study, comm)
        levels: list[SpanningLevel] = []
        if study.percolation is not None:
            with rd.phase("percolation"):
                levels = _spanning_samples(study, study.percolation, comm)
        summary = _summary(study, samples)
        thresholds = _thresholds(study, levels)
        fit = _power_law(study, summary, thresholds.get("pixels", {}).get("phi_c", math.nan))
        leakage_rows = (None if study.leakage is None
                        else _leakage_rows(study, study.leakage, samples))
        results = {"thresholds": thresholds, "literature_threshold": _literature(study),
                   "power_law": None if fit is None else asdict(fit),
                   "summary": summary, "leakage": leakage_rows}
        rd.write_text("samples.csv", _csv([asdict(s) for s in samples]))
        rd.write_text("summary.csv", _csv(summary))
        rd.write_text("spanning.csv", _csv([asdict(lv) for lv in levels]))
        rd.write_text("leakage.csv", _csv(leakage_rows or []))
        rd.write_json("results.json", results)
        rd.write_text("report.md", _report(study, summary, thresholds, fit, leakage_rows))
        with rd.phase("figures"):
            if comm.rank == 0:
                _figure_conductivity(rd.path / "conductivity.png", study, summary, fit,
                                     thresholds)
                if levels:
                    _figure_scaling(rd.path / "finite_size_scaling.png", study, levels,
                                    thresholds)
                if leakage_rows is not None:
                    _figure_leakage(rd.path / "leakage.png", leakage_rows, thresholds)
        LOGGER.info("homogenize: thresholds %s", json.dumps(
            {m: [round(t["phi_c"], 4), round(t["phi_c_ci95"], 4)]
             for m, t in thresholds.items()}))
    return rd.target
