"""Study 1 (seed 002): contact loss and the LiI interlayer at a Li | LLZO interface.

``lidep study contact STUDY.yaml`` (or :func:`run_study`) runs three questions on the
finite-element model, each answered in ``<output>/<name>/report.md`` with figures:

(a) **Contact loss.** The area-specific resistance (ASR) of Li | LLZO with voids, against the
    contact fraction f, split into

        ASR = L/σ (bulk) + ASR_c(f) (constriction) + R_ct/f (kinetics) + coupling,

    where ASR_c is the primary-distribution run minus L/σ, R_ct = RT/(F i0) the linear
    charge-transfer resistance over the contact area, and the coupling the rest of the
    secondary (linear-kinetics) run: kinetics even out the current over a contact, so the
    constriction moves from the equipotential (primary) value towards the larger uniform-flux
    one (by Thomson's principle the coupling is at most their difference).
    Geometries: 2D periodic strip contacts, 2D seeded random void layouts, axisymmetric disc
    contacts (a contact of radius a in a cell of radius b, f = a²/b²) and a small 3D case
    (count x count box voids). Exact limits: 2D strips of period p (equipotential contacts),

        ASR_c = -(p / (π σ)) ln sin(π f / 2)            (:func:`strip_constriction_asr`),

    and a disc in a cylinder, ASR_c = π b² ψ(a/b) / (4 σ a) with Holm's/Newman's dilute
    limit ψ → 1 and Gibson's series for ψ (:func:`disc_constriction_asr`). The measured
    interface ASR (1525 Ω cm², seed 002 Fig. 2d) is inverted for the contact fraction of disc
    contacts at the study's spacing, on the analytic form scaled by the FE points
    (:func:`invert_contact_fraction`).
(b) **LiI interlayer.** I2 of thickness d becomes LiI of thickness 1.26 d (the seed's 126 %);
    below a continuity thickness d_c the LiI forms islands of thickness 1.26 d_c covering
    θ = d/d_c of the interface, the rest stays bare Li | LLZO with the inverted contact
    fraction (the measured 1525 Ω cm²); the parts conduct in parallel
    (:func:`interlayer_asr`). The LiI resistance comes from FE runs of a flat Li | LiI | LLZO
    cell.
(c) **Current focusing.** The edge-band current density (docs/outputs.md) at each cell's
    critical current density: the pristine cell (disc contacts at the inverted fraction) at
    0.2 mA/cm², the LiI cell (full contact) at 1.2 mA/cm².

All numbers are SI inside (Ω m², A/m², m); the report converts to Ω cm², mA/cm², µm.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mpi4py import MPI
from pydantic import Field, field_validator, model_validator

from solver.config import load_config, read_yaml, validate
from solver.config.models import SafeName
from solver.constants import FARADAY, GAS_CONSTANT
from solver.library import LIBRARY
from solver.logging_utils import PACKAGE_LOGGER
from solver.schema import StrictModel
from solver.units import CurrentDensity, Length

__all__ = [
    "ContactStudyConfig",
    "StudyResult",
    "disc_constriction_asr",
    "interlayer_asr",
    "invert_contact_fraction",
    "load_study",
    "run_study",
    "strip_constriction_asr",
]

UM = 1e-6
SPACINGS = (1e-6, 10e-6, 100e-6, 1e-3)
"""Contact spacings (m) of the inversion's sensitivity to the stated void size."""

GIBSON_PSI = (1.0, -1.40925, 0.0, 0.29591, 0.0, 0.05254, 0.0, 0.02105, 0.0, 0.01107, 0.0,
              0.00652, 0.0, 0.00412, 0.0, 0.00274)
"""Coefficients of ψ(ε) = Σ c_k ε^k, the constriction factor of an equipotential disc of radius
a = ε b at the end of a cylinder of radius b: Gibson's series as quoted in M. M. Yovanovich's
reviews of thermal contact resistance (the primary source was not re-checked here; the
finite-element test confirms the series to 1 % for ε = 0.2 and 0.5)."""

_LOG = logging.getLogger(f"{PACKAGE_LOGGER}.study.contact")
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
Positive = Annotated[Length, Field(gt=0.0)]


# --------------------------------------------------------------------------------------------
# Study file
# --------------------------------------------------------------------------------------------


class RandomLayouts(StrictModel):
    """Seeded random void layouts in 2D (``contact_fraction`` voids, placement random)."""

    contact_fraction: Fraction = Field(description="f of every layout, in (0, 1).")
    count: int = Field(default=4, ge=2, le=20,
                       description="Voids per layout; the cell is count x spacing wide.")
    seeds: list[Annotated[int, Field(ge=0)]] = Field(
        default=[0, 1, 2], min_length=1, max_length=50, description="Random seeds (layouts).")


class ContactStudyConfig(StrictModel):
    """Study 1 of issue 12 (seed 002): materials LLZO and LiI of the library (docs/materials.md).

    Lists are short on purpose: every entry is one or two finite-element runs.
    """

    name: SafeName = Field(description="Study name; results go to <output>/<name>.")
    description: str = Field(default="", description="Free text.")
    exchange_current_density: CurrentDensity = Field(
        default=100.0, gt=0.0,
        description="ASSUMPTION: i0 of Li | LLZO and Li | LiI, A/m^2 (seed 002 gives none); "
        "R_ct = RT/(F i0), 2.6 ohm cm^2 at 10 mA/cm^2.")
    spacing: Positive = Field(
        default=10e-6, description="p: contact spacing (strip period, twice the disc cell "
        "radius b; the voids are about this large), m.")
    gap: Positive = Field(default=10e-9, description="Void height (a slit), m; << spacing.")
    strip_fractions: list[Fraction] = Field(
        default=[0.05, 0.1, 0.3, 0.6], min_length=1, max_length=20,
        description="Contact fractions of the 2D periodic strip contacts.")
    disc_fractions: list[Fraction] = Field(
        default=[0.01, 0.04, 0.16, 0.36], min_length=1, max_length=20,
        description="Area contact fractions a^2/b^2 of the axisymmetric disc contacts.")
    random: RandomLayouts | None = Field(
        default=None, description="2D random layouts (none: skipped).")
    three_d_fractions: list[Fraction] = Field(
        default=[], max_length=5, description="Contact fractions of the 3D box-void case.")
    three_d_gap: Positive = Field(default=100e-9, description="Void height in 3D, m.")
    three_d_refinement: float = Field(default=0.5, gt=0.0, le=4.0,
                                      description="mesh.refinement of the 3D case.")
    refinement: float = Field(default=1.0, gt=0.0, le=8.0,
                              description="mesh.refinement of the 2D and axisymmetric cases.")
    i2_thicknesses: list[Positive] = Field(
        default=[0.1e-6, 0.25e-6, 0.5e-6, 0.75e-6, 1.0e-6], min_length=1, max_length=20,
        description="I2 layer thicknesses of the interlayer curve, m.")
    continuity_thickness: Positive = Field(
        default=0.5e-6, description="ASSUMPTION d_c: I2 thickness above which the layer is "
        "continuous (seed 002, text on Fig. 2f: continuous at 0.5 um, not at 0.25 um), m.")

    @field_validator("strip_fractions", "disc_fractions", "three_d_fractions", "i2_thicknesses")
    @classmethod
    def _distinct(cls, values: list[float]) -> list[float]:
        if len(set(values)) != len(values):
            raise ValueError(f"values repeat (got {values}); allowed: distinct values")
        return sorted(values)

    @model_validator(mode="after")
    def _sizes(self) -> ContactStudyConfig:
        if self.gap > 0.02 * self.spacing:
            raise ValueError(f"gap: the void height must be a slit, at most 2 % of the spacing "
                             f"(got {self.gap:g} m); allowed: <= {0.02 * self.spacing:g} m")
        if self.three_d_gap > 0.05 * self.spacing:
            raise ValueError(f"three_d_gap: at most 5 % of the spacing (got "
                             f"{self.three_d_gap:g} m); allowed: <= {0.05 * self.spacing:g} m")
        sizes = ((k, "strip_fractions", "contact width f p", f * self.spacing, f"{self.gap:g} "
                  "m of void height") for k, f in enumerate(self.strip_fractions))
        discs = ((k, "disc_fractions", "contact radius sqrt(f) p/2",
                  math.sqrt(f) * 0.5 * self.spacing, f"{self.gap:g} m of void height")
                 for k, f in enumerate(self.disc_fractions))
        for k, key, what, size, against in (*sizes, *discs):
            if size < 10.0 * self.gap:  # the slit must stay thin against the contact
                raise ValueError(f"{key}.{k}: the {what} must be at least 10 void heights (got "
                                 f"{size:g} m against {against}); allowed: a larger fraction "
                                 "or spacing, or a smaller gap")
        top = max([*self.i2_thicknesses, self.continuity_thickness]) * _volume_ratio()
        if top > 0.5 * self.spacing:
            raise ValueError(f"i2_thicknesses: the LiI layer (1.26 x I2) must stay below half "
                             f"the spacing (got {top:g} m of LiI); allowed: a larger spacing "
                             f"or thinner layers")
        return self


def load_study(source: str | Path | Mapping[str, Any]) -> ContactStudyConfig:
    """Read and validate a study file (exit-2 errors name the key).

    Raises:
        ConfigError: One line per problem.
    """
    raw = read_yaml(source) if isinstance(source, str | Path) else dict(source)
    return validate(ContactStudyConfig, raw, ())


# --------------------------------------------------------------------------------------------
# Library values (seed 002) and exact formulas
# --------------------------------------------------------------------------------------------


def _library(material: str, key: str) -> float:
    entry = LIBRARY[material].entries()[key]
    return float(entry.value)


def _volume_ratio() -> float:
    return _library("LiI", "i2_to_lii_volume_ratio")


@dataclass(frozen=True)
class Measured:
    """Seed-002 values from the cited library (SI units)."""

    sigma_llzo: float = field(default_factory=lambda: _library("LLZO", "conductivity"))
    sigma_lii: float = field(default_factory=lambda: _library("LiI", "conductivity"))
    asr_pristine: float = field(
        default_factory=lambda: _library("LLZO", "li_interface_asr_ohm_m2"))
    asr_lii: float = field(default_factory=lambda: _library("LiI", "li_llzo_interface_asr_ohm_m2"))
    ccd_pristine: float = field(
        default_factory=lambda: _library("LLZO", "li_critical_current_density_A_m2"))
    ccd_lii: float = field(
        default_factory=lambda: _library("LiI", "li_llzo_critical_current_density_A_m2"))
    pellet_thickness: float = field(default_factory=lambda: _library("LLZO", "pellet_thickness_m"))
    volume_ratio: float = field(default_factory=_volume_ratio)
    optimal_i2: float = field(default_factory=lambda: _library("LiI", "optimal_i2_thickness_m"))


def charge_transfer_asr(i0: float, temperature: float = 298.15) -> float:
    """Linear charge-transfer resistance R_ct = R T / (F i0), Ω m²."""
    return GAS_CONSTANT * temperature / (FARADAY * i0)


def strip_constriction_asr(f: float, period: float, sigma: float) -> float:
    """Constriction ASR of equipotential strip contacts of period p on a half-plane, Ω m².

    ASR_c = -(p / (π σ)) ln sin(π f / 2): the conformal-mapping result for a periodic array of
    strips (the 2D flux channel of the thermal-contact literature: per period
    R = -ln sin(π f/2) / (π σ) per unit depth, times the period); the finite-element test
    confirms it to 0.3 %. Zero at full contact, logarithmic as f → 0.
    """
    return -(period / (math.pi * sigma)) * math.log(math.sin(0.5 * math.pi * f))


def disc_constriction_asr(f: float, cell_radius: float, sigma: float) -> float:
    """Constriction ASR of an equipotential disc contact of area fraction f in a cylinder, Ω m².

    A disc of radius a = √f b at the end of a cylinder of radius b: R = ψ(a/b) / (4 σ a)
    (Holm's and Newman's dilute limit 1/(4 σ a), J. Newman, J. Electrochem. Soc. 113 (1966)
    501, times Gibson's factor ψ, :data:`GIBSON_PSI`), so ASR_c = π b² R.
    """
    eps = math.sqrt(f)
    psi = sum(c * eps**k for k, c in enumerate(GIBSON_PSI))
    return math.pi * cell_radius**2 * psi / (4.0 * sigma * eps * cell_radius)


def invert_contact_fraction(interface_asr: Callable[[float], float], target: float,
                            lower: float = 1e-12, upper: float = 0.5) -> float:
    """The contact fraction f in [lower, upper] with interface_asr(f) = target (f monotonic).

    Root found on log f with Brent's method (the upper bound stays where the disc series is
    accurate, a/b <= 0.7).

    Raises:
        ValueError: The target lies outside [interface_asr(upper), interface_asr(lower)].
    """
    from scipy.optimize import brentq

    def g(log_f: float) -> float:
        return math.log(interface_asr(math.exp(log_f)) / target)

    lo, hi = math.log(lower), math.log(upper)
    if g(lo) < 0.0 or g(hi) > 0.0:
        raise ValueError(f"target ASR {target:g} ohm m^2 is outside the model's range "
                         f"[{interface_asr(upper):g}, {interface_asr(lower):g}] ohm m^2")
    return math.exp(brentq(g, lo, hi, xtol=1e-14, rtol=1e-13))


def interlayer_asr(i2: float, continuity: float, lii_asr: Callable[[float], float],
                   bare_asr: float) -> tuple[float, float]:
    """Interface ASR with an I2 layer of thickness ``i2`` (coverage model) and its coverage.

    Above the continuity thickness d_c the LiI covers everything: ASR = lii_asr(i2). Below,
    islands of the continuity thickness cover θ = i2 / d_c and the rest stays bare; the two
    parts conduct in parallel: 1/ASR = θ / lii_asr(d_c) + (1 - θ) / bare_asr.

    Args:
        i2: I2 thickness, m.
        continuity: d_c, m.
        lii_asr: Interface ASR of a continuous LiI layer made from this much I2, Ω m².
        bare_asr: Interface ASR of the bare (void-laden) Li | LLZO, Ω m².

    Returns:
        (ASR in Ω m², coverage θ).
    """
    if i2 >= continuity:
        return lii_asr(i2), 1.0
    theta = i2 / continuity
    return 1.0 / (theta / lii_asr(continuity) + (1.0 - theta) / bare_asr), theta


# --------------------------------------------------------------------------------------------
# Finite-element cases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One finite-element case of the study (a case of a generated run file).

    Attributes:
        name: Case name in the run.
        family: ``strip``, ``random``, ``disc``, ``box3d``, ``lii`` or ``ccd_*``.
        kinetics: ``primary`` or ``linear``.
        fraction: Contact fraction (1 for flat cells).
        length: Domain length L, m.
        layer: LiI thickness, m (0 without a layer).
        seed: Random layout seed (-1 otherwise).
        tree: The case's partial config (geometry, physics, output).
    """

    name: str
    family: str
    kinetics: str
    fraction: float
    length: float
    layer: float = 0.0
    seed: int = -1
    tree: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _kinetics(model: str, i0: float) -> dict[str, Any]:
    return {"model": "primary"} if model == "primary" else {
        "model": "linear", "exchange_current_density": i0}


def _case(name: str, family: str, model: str, study: ContactStudyConfig, *, fraction: float,
          geometry: dict[str, Any], edge_band: float, current: float = 1.0,
          layer: float = 0.0, seed: int = -1) -> Case:
    physics: dict[str, Any] = {"kinetics": _kinetics(model, study.exchange_current_density),
                               "control": {"mode": "galvanostatic", "current_density": current}}
    if layer > 0.0:
        geometry = {**geometry, "layers": [{"name": "lii", "thickness": layer}]}
        physics["interphase"] = {"lii": {"material": "LiI"}}
    tree = {"geometry": geometry, "physics": physics, "output": {"edge_band": edge_band}}
    return Case(name, family, model, fraction, geometry["domain"]["length"], layer, seed, tree)


def _mesh(refinement: float) -> dict[str, Any]:
    return {"order": 1, "refinement": refinement}


def _strip_geometry(study: ContactStudyConfig, f: float, count: int = 1,
                    seed: int | None = None) -> dict[str, Any]:
    p = study.spacing
    voids: dict[str, Any] = {"kind": "contact_fraction", "contact_fraction": f, "count": count,
                             "gap": study.gap}
    if seed is not None:
        voids |= {"placement": "random", "seed": seed}
    return {"domain": {"width": count * p, "length": 2.0 * p}, "voids": voids,
            "mesh": _mesh(study.refinement)}


def _disc_geometry(study: ContactStudyConfig, f: float, gap: float | None = None
                   ) -> dict[str, Any]:
    """Disc contact r < a = √f b, annular void a < r < b (half of a mirrored half-ellipse)."""
    b = 0.5 * study.spacing
    a = math.sqrt(f) * b
    void = {"shape": "half_ellipse", "x": b, "width": 2.0 * (b - a),
            "height": study.gap if gap is None else gap}
    return {"coordinates": "axisymmetric", "domain": {"width": b, "length": 2.0 * study.spacing},
            "voids": {"kind": "shapes", "items": [void]}, "mesh": _mesh(study.refinement)}


def _flat_geometry(study: ContactStudyConfig) -> dict[str, Any]:
    return {"domain": {"width": study.spacing, "length": 2.0 * study.spacing},
            "mesh": _mesh(study.refinement)}


def contact_cases(study: ContactStudyConfig) -> list[Case]:
    """Every case of part (a) and the LiI layers of part (b), primary and linear kinetics."""
    p, cases = study.spacing, []
    for model in ("primary", "linear"):
        for i, f in enumerate(study.strip_fractions):
            cases.append(_case(f"strip{i}_{model}", "strip", model, study, fraction=f,
                               geometry=_strip_geometry(study, f), edge_band=0.05 * f * p))
        for i, f in enumerate(study.disc_fractions):
            band = 0.1 * math.sqrt(f) * 0.5 * p
            cases.append(_case(f"disc{i}_{model}", "disc", model, study, fraction=f,
                               geometry=_disc_geometry(study, f), edge_band=band))
        if study.random is not None:
            r = study.random
            for seed in r.seeds:
                cases.append(_case(f"random{seed}_{model}", "random", model, study,
                                   fraction=r.contact_fraction, seed=seed,
                                   geometry=_strip_geometry(study, r.contact_fraction, r.count,
                                                            seed),
                                   edge_band=0.05 * r.contact_fraction * p / r.count))
        for i, f in enumerate(study.three_d_fractions):
            geometry = {"dimension": 3, "domain": {"width": p, "depth": p, "length": p},
                        "voids": {"kind": "contact_fraction", "contact_fraction": f,
                                  "gap": study.three_d_gap},
                        "mesh": _mesh(study.three_d_refinement)}
            cases.append(_case(f"box3d{i}_{model}", "box3d", model, study, fraction=f,
                               geometry=geometry, edge_band=0.05 * p))
    for d in _lii_thicknesses(study):
        i = len([c for c in cases if c.family == "lii"])
        cases.append(_case(f"lii{i}", "lii", "linear", study, fraction=1.0,
                           geometry=_flat_geometry(study), edge_band=0.05 * p,
                           layer=Measured().volume_ratio * d))
    return cases


def _lii_thicknesses(study: ContactStudyConfig) -> list[float]:
    """I2 thicknesses whose continuous LiI layer is computed: d_c and every d above it."""
    return sorted({study.continuity_thickness,
                   *(d for d in study.i2_thicknesses if d > study.continuity_thickness)})


def ccd_cases(study: ContactStudyConfig, pristine_fraction: float) -> list[Case]:
    """Part (c): the two cells at their measured critical current densities.

    The pristine cell: a disc contact at the inverted fraction (its void height at most a/20
    so that the slit stays thin against the contact). The LiI cell: full contact through the
    continuous LiI made from d_c of I2.
    """
    m = Measured()
    a = math.sqrt(pristine_fraction) * 0.5 * study.spacing
    gap = min(study.gap, a / 20.0)
    return [
        _case("ccd_pristine", "ccd_pristine", "linear", study, fraction=pristine_fraction,
              geometry=_disc_geometry(study, pristine_fraction, gap), edge_band=0.1 * a,
              current=m.ccd_pristine),
        _case("ccd_lii", "ccd_lii", "linear", study, fraction=1.0,
              geometry=_flat_geometry(study), edge_band=0.05 * study.spacing,
              current=m.ccd_lii, layer=m.volume_ratio * study.continuity_thickness),
    ]


def run_tree(name: str, description: str, cases: Sequence[Case]) -> dict[str, Any]:
    """The run file of a list of cases (LLZO electrolyte, steady, P1, no fields or report)."""
    base = {"geometry": {"domain": {"width": 1e-5, "length": 2e-5}, "mesh": _mesh(1.0)},
            "physics": {"electrolyte": {"material": "LLZO"},
                        "control": {"mode": "galvanostatic", "current_density": 1.0}},
            "numerics": {"degree": 1},
            "output": {"fields": [], "report": False}}
    return {"name": name, "description": description, "base": base,
            "cases": {c.name: dict(c.tree) for c in cases}}


# --------------------------------------------------------------------------------------------
# Running and reading the runs
# --------------------------------------------------------------------------------------------


def _final_rows(run_dir: Path) -> dict[str, dict[str, float]]:
    """Case -> the last metrics row (``metrics.json``; null -> NaN)."""
    data = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    return {name: {k: math.nan if v is None else v for k, v in case["times"][-1].items()}
            for name, case in data["cases"].items()}


def _solve(tree: Mapping[str, Any], cases: Sequence[Case], root: Path, comm: MPI.Comm,
           mesh_cache: Path, overwrite: bool) -> dict[Case, dict[str, float]]:
    from solver import api

    _LOG.info("study: %d finite-element case(s) in run '%s'", len(cases), tree["name"])
    run_dir = api.run(tree, root, overwrite=overwrite, comm=comm, mesh_cache=mesh_cache,
                      command_line=["lidep", "study", "contact"])
    comm.barrier()
    rows = _final_rows(run_dir)
    return {c: rows[c.name] for c in cases}


@dataclass
class StudyResult:
    """The study's numbers (SI units; tables are lists of plain dicts, JSON-ready)."""

    parameters: dict[str, float]
    constriction: list[dict[str, float | str]]
    fit: dict[str, float]
    inversion: dict[str, float]
    interlayer: list[dict[str, float]]
    lii_layers: list[dict[str, float]]
    interlayer_summary: dict[str, float]
    ccd: dict[str, float]
    curves: dict[str, list[float]] = field(default_factory=dict)
    directory: str = ""

    def to_json(self) -> str:
        """The result as indented JSON (NaN as null)."""
        def clean(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value

        return json.dumps(clean(asdict(self)), indent=2) + "\n"


def _exact(case: Case, study: ContactStudyConfig, sigma: float) -> float:
    """The analytic constriction ASR of a case (NaN where none is known)."""
    if case.family == "strip":
        return strip_constriction_asr(case.fraction, study.spacing, sigma)
    if case.family == "disc":
        return disc_constriction_asr(case.fraction, 0.5 * study.spacing, sigma)
    return math.nan


def _edge_enhancement(row: Mapping[str, float]) -> float:
    """Mean j in the band of the contact edges / mean j on the contact.

    The union band of the singular edges, else the first edge's band: the corner of a 2D slot
    of finite height is 90° (not singular), yet the current still crowds there on the scale
    of the contact.
    """
    value = row.get("edge_band_enhancement", math.nan)
    return value if math.isfinite(value) else row.get("edge0_enhancement", math.nan)


def _random_summary(study: ContactStudyConfig, table: Sequence[Mapping[str, Any]],
                    sigma: float) -> dict[str, float]:
    """The random layouts' mean constriction ASR and its 95 % confidence interval.

    Student t with n - 1 degrees of freedom; alongside, the periodic strips' exact value at the
    same contact fraction.
    """
    values = [float(r["constriction"]) for r in table if r["geometry"] == "random"]
    if study.random is None or not values:
        return {}
    from scipy.stats import t as student

    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    half = float(student.ppf(0.975, n - 1)) * sd / math.sqrt(n) if n > 1 else math.nan
    return {"random_count": float(n), "random_mean": mean, "random_sd": sd,
            "random_ci95": half, "random_periodic_exact": strip_constriction_asr(
                study.random.contact_fraction, study.spacing, sigma)}


def analyse_contact(study: ContactStudyConfig, rows: Mapping[Case, Mapping[str, float]]
                    ) -> tuple[list[dict[str, float | str]], dict[str, float], dict[str, float],
                               Callable[[float], float]]:
    """Part (a): the ASR split per geometry, the fit factors and the inverted contact fraction.

    Returns:
        (table rows, fit factors, inversion, the interface ASR of disc contacts against f:
        the fitted constriction plus R_ct/f).
    """
    m = Measured()
    r_ct = charge_transfer_asr(study.exchange_current_density)
    by_key = {(c.family, c.fraction, c.seed, c.kinetics): (c, r) for c, r in rows.items()}
    table: list[dict[str, float | str]] = []
    for (family, f, seed, model), (case, row) in by_key.items():
        if model != "primary" or family not in ("strip", "disc", "random", "box3d"):
            continue
        linear = by_key[(family, f, seed, "linear")][1]
        bulk = case.length / m.sigma_llzo
        constriction = row["asr"] - bulk
        exact = _exact(case, study, m.sigma_llzo)
        table.append({
            "geometry": family, "contact_fraction": f, "seed": seed,
            "asr_total": linear["asr"], "bulk": bulk, "constriction": constriction,
            "constriction_exact": exact, "fe_over_exact": constriction / exact,
            "kinetic": r_ct / f, "coupling": linear["asr"] - bulk - constriction - r_ct / f,
            "interface": linear["asr"] - bulk,
            "edge_band_enhancement": _edge_enhancement(linear),
        })
    fit = {}
    for family in ("strip", "disc"):
        ratios = [float(t["fe_over_exact"]) for t in table if t["geometry"] == family]
        fit[family] = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
    b = 0.5 * study.spacing

    def disc_interface(f: float) -> float:
        return fit["disc"] * disc_constriction_asr(f, b, m.sigma_llzo) + r_ct / f

    inversion = {
        "target": m.asr_pristine, "r_ct": r_ct,
        "disc_fraction": invert_contact_fraction(disc_interface, m.asr_pristine),
        "disc_fraction_no_kinetics": invert_contact_fraction(
            lambda f: fit["disc"] * disc_constriction_asr(f, b, m.sigma_llzo), m.asr_pristine),
        "strip_fraction": invert_contact_fraction(
            lambda f: fit["strip"] * strip_constriction_asr(f, study.spacing, m.sigma_llzo)
            + r_ct / f, m.asr_pristine),
        # strips without kinetics: -ln sin(π f/2) = π σ ASR / p, far below any float
        "strip_log10_fraction_no_kinetics": (
            -math.pi * m.sigma_llzo * m.asr_pristine / (fit["strip"] * study.spacing)
            / math.log(10.0) + math.log10(2.0 / math.pi)),
        "bulk_pellet": m.pellet_thickness / m.sigma_llzo,
    }
    inversion["disc_radius"] = math.sqrt(inversion["disc_fraction"]) * b
    inversion |= _random_summary(study, table, m.sigma_llzo)
    for spacing in SPACINGS:  # the answer depends on the stated void size
        inversion[f"disc_fraction_spacing_{spacing / UM:g}um"] = invert_contact_fraction(
            lambda f, s=spacing: fit["disc"] * disc_constriction_asr(f, 0.5 * s, m.sigma_llzo)
            + r_ct / f, m.asr_pristine)
    return table, fit, inversion, disc_interface


def analyse_interlayer(study: ContactStudyConfig, rows: Mapping[Case, Mapping[str, float]],
                       r_ct: float) -> tuple[list[dict[str, float]], list[dict[str, float]],
                                             dict[str, float]]:
    """Part (b): the LiI layers (FE against d/σ + R_ct) and the ASR against I2 thickness.

    The curve is given twice: with the measured σ_LiI (the FE layers) and with the σ_LiI that
    reproduces the measured 57 Ω cm² at d_c (the shape of the trend without its magnitude).
    """
    m = Measured()
    layers, lii = [], {}
    for case, row in rows.items():
        if case.family != "lii":
            continue
        i2 = case.layer / m.volume_ratio
        interface = row["asr"] - (case.length - case.layer) / m.sigma_llzo
        exact = case.layer / m.sigma_lii + r_ct
        lii[round(i2, 15)] = interface
        layers.append({"i2": i2, "lii": case.layer, "interface": interface, "exact": exact,
                       "fe_over_exact": interface / exact})

    def lii_asr(d: float) -> float:
        return lii[round(d, 15)]

    lii_dc = m.volume_ratio * study.continuity_thickness
    sigma_needed = lii_dc / (m.asr_lii - r_ct) if m.asr_lii > r_ct else math.nan

    def lii_fitted(d: float) -> float:  # the same layers with the σ_LiI that gives 57 Ω cm²
        return m.volume_ratio * d / sigma_needed + r_ct

    curve = []
    for d in study.i2_thicknesses:
        asr, theta = interlayer_asr(d, study.continuity_thickness, lii_asr, m.asr_pristine)
        fitted = interlayer_asr(d, study.continuity_thickness, lii_fitted, m.asr_pristine)[0]
        curve.append({"i2": d, "coverage": theta, "interface": asr,
                      "interface_fitted_sigma": fitted})
    at_dc = lii_asr(study.continuity_thickness)
    minimum = min(curve, key=lambda row: row["interface"])
    summary = {
        "asr_at_continuity": at_dc,
        "measured_at_optimum": m.asr_lii,
        "ratio_model_over_measured": at_dc / m.asr_lii,
        "minimum_i2": minimum["i2"],
        "sigma_lii_needed": sigma_needed,
        # the seed's reading: LiI only fills the voids, in parallel with the bare contacts
        "void_fill_height_needed": m.sigma_lii / (1.0 / m.asr_lii - 1.0 / m.asr_pristine),
    }
    return layers, curve, summary


def analyse_ccd(rows: Mapping[Case, Mapping[str, float]],
                interface_asr: Callable[[float], float]) -> dict[str, float]:
    """Part (c): local current densities at each cell's critical current density.

    Also the contact fraction f* at which the pristine cell's edge band would carry the LiI
    cell's critical local current density at 0.2 mA/cm² (with the same band enhancement), and
    the interface ASR the contact model gives at f*.
    """
    m = Measured()
    out: dict[str, float] = {"ccd_pristine": m.ccd_pristine, "ccd_lii": m.ccd_lii}
    for case, row in rows.items():
        key = "pristine" if case.family == "ccd_pristine" else "lii"
        enhancement = _edge_enhancement(row)
        band = row["j_mean"] * (enhancement if math.isfinite(enhancement) else 1.0)
        out |= {f"{key}_contact_mean": row["j_mean"], f"{key}_edge_band": band,
                f"{key}_edge_band_enhancement": enhancement,
                f"{key}_percentile": row.get("j_percentile", math.nan)}
    out["ratio"] = out["pristine_edge_band"] / out["lii_edge_band"]
    out["single_critical_density"] = float(0.5 <= out["ratio"] <= 2.0)
    gain = out["pristine_edge_band"] / out["pristine_contact_mean"]
    out["fraction_for_single_density"] = min(1.0, gain * m.ccd_pristine / out["lii_edge_band"])
    out["interface_asr_at_that_fraction"] = interface_asr(out["fraction_for_single_density"])
    return out


def _curves(study: ContactStudyConfig, disc_fit: float) -> dict[str, list[float]]:
    """The analytic curves of the ASR figure on f = 1e-7 ... 1 (Ω m²)."""
    m, r_ct = Measured(), charge_transfer_asr(study.exchange_current_density)
    f = [10.0 ** (-7.0 + 7.0 * k / 200) for k in range(1, 200)]
    disc = [disc_fit * disc_constriction_asr(x, 0.5 * study.spacing, m.sigma_llzo) for x in f]
    return {"f": f, "strip": [strip_constriction_asr(x, study.spacing, m.sigma_llzo) for x in f],
            "disc": disc, "interface": [d + r_ct / x for d, x in zip(disc, f, strict=True)]}


def run_study(source: str | Path | Mapping[str, Any] | ContactStudyConfig,
              output_root: str | Path = Path("results"), *, comm: MPI.Comm | None = None,
              mesh_cache: str | Path = Path("meshes"), overwrite: bool = False) -> StudyResult:
    """Run Study 1 into ``<output_root>/<name>`` (runs ``fe`` and ``ccd``, report, figures).

    Args:
        source: The study file, a raw tree or a validated config.
        output_root: Directory holding the study directory.
        comm: Communicator (default ``MPI.COMM_SELF``).
        mesh_cache: Mesh cache directory.
        overwrite: Replace the study's run directories.

    Returns:
        The numbers (also in ``study.json``).

    Raises:
        ConfigError: The study file (or a generated run) is invalid.
        RunDirectoryExistsError: A run directory exists and ``overwrite`` is False.
        OutputRootError: ``<output_root>/<name>`` cannot be created or written.
    """
    comm = MPI.COMM_SELF if comm is None else comm
    study = source if isinstance(source, ContactStudyConfig) else load_study(source)
    cases = contact_cases(study)
    tree = run_tree("fe", study.description, cases)
    load_config(tree)  # a generated case the run schema refuses: nothing is written
    root = Path(output_root) / study.name  # created and checked by the first run
    rows = _solve(tree, cases, root, comm, Path(mesh_cache), overwrite)
    table, fit, inversion, interface = analyse_contact(study, rows)
    layers, curve, summary = analyse_interlayer(study, rows, inversion["r_ct"])
    second = ccd_cases(study, inversion["disc_fraction"])
    ccd = analyse_ccd(_solve(run_tree("ccd", study.description, second), second, root, comm,
                             Path(mesh_cache), overwrite), interface)
    result = StudyResult(
        parameters={"spacing": study.spacing, "gap": study.gap,
                    "exchange_current_density": study.exchange_current_density,
                    "continuity_thickness": study.continuity_thickness,
                    **{k: float(v) for k, v in asdict(Measured()).items()}},
        constriction=table, fit=fit, inversion=inversion, interlayer=curve,
        lii_layers=layers, interlayer_summary=summary, ccd=ccd,
        curves=_curves(study, fit["disc"]), directory=str(root))
    if comm.rank == 0:
        from solver.studies.contact_report import write_report

        (root / "study.json").write_text(result.to_json(), encoding="utf-8")
        write_report(result, root)
    comm.barrier()
    return result
