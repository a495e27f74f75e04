"""Linear stability of a flat Li surface: the growth rate ω(k) of a sinusoidal perturbation.

Two routes to the same number (docs/theory.md, "Linear stability of a flat Li surface"):

* :class:`FlatStack` holds the flat Li | interphase layers | electrolyte stack (SI) and gives
  the analytic dispersion relation ω(k) = V_m ĵ(k) / F of the ohmic-kinetic model (single-ion
  conductors, linearised kinetics with the differential charge-transfer resistance at the mean
  current j0, optional ion-transfer resistance and surface energy γ from
  ``physics.surface_energy``), its critical and fastest-growing wavenumbers;
* :func:`fe_current_amplitude` solves the finite-element model (:class:`solver.problem.Simulation`,
  steady) on a ``sinusoidal`` Li surface y = A (1 + cos kx) of small amplitude in a
  half-wavelength cell with mirror sides, and projects the surface current on cos kx.

:func:`spectrum` does both over a range of wavelengths for one case (two amplitudes per
wavelength: the ratio checks linearity, Richardson extrapolation removes the O(ε²) part), and
:func:`run` writes the spectra of every case of a configuration into a run directory
(``<output_root>/<name>.stability``: ``<case>/spectrum.csv``, ``<case>/spectrum.png``,
``stability.json``). ``lidep stability CONFIG`` calls :func:`run`.

Both routes hold the same physics: the case's ``physics.surface_energy`` (absent: γ = 0) is
the surface-energy term of the FE model (:class:`solver.physics.surface_energy.SurfaceEnergy`,
the discrete curvature of the second-order sinusoid) and the γ of the analytic curve. A γ other
than the configuration's is set with ``--set physics.surface_energy.gamma=...``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from mpi4py import MPI

from solver.config import (
    DEFAULT_CASE,
    CaseConfig,
    ConfigError,
    RunConfig,
    load_config,
    resolved_cases,
    resolved_tree,
    validate,
)
from solver.constants import FARADAY, arrhenius
from solver.kinetics import Kinetics
from solver.library.inorganic import LI_MOLAR_VOLUME
from solver.logging_utils import PACKAGE_LOGGER
from solver.rundir import RunDirectory

__all__ = [
    "FlatStack",
    "Spectrum",
    "SpectrumPoint",
    "StackLayer",
    "differential_resistance",
    "fe_case",
    "fe_current_amplitude",
    "run",
    "spectrum",
    "stack_from_case",
]

DEFAULT_SLOPE = 0.02
"""Default ε k of the smaller FE amplitude (the larger is twice it)."""

SURFACE_CELLS = {1: 8.0, 2: 4.0}
"""Far-field element size of the FE solves is at most λ / this (by element degree); the Li
surface is meshed four times finer (λ/32 for P1, λ/16 for P2; measured at mesh.refinement 1:
ω within 2e-4 of the analytic value with P2, 4e-3 with P1)."""

CURVATURE_REFINEMENT = 2.0
"""With a surface energy the element sizes are divided by this as well: the γ term rests on the
discrete curvature of the P2 surface, second-order accurate (P2, bare, γ = 0.5 J/m², λ = 0.5
and 1 µm: ω within 1.0e-2 and 1.2e-2 of the analytic value at λ/16, 2.5e-3 and 2.9e-3 at λ/32;
with a 20 nm layer 2.1e-2 and 6.0e-3 at λ = 1 µm)."""

GRID_POINTS = 2001
"""Points of the log-spaced k grid on which the analytic curve's roots and maximum are bracketed."""

_LOG = logging.getLogger(f"{PACKAGE_LOGGER}.stability")


# ---------------------------------------------------------------------------------------------
# Analytic dispersion relation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackLayer:
    """A uniform conformal interphase layer.

    Attributes:
        thickness: h, m.
        conductivity: σ, S/m (at the run's temperature).
    """

    thickness: float
    conductivity: float


@dataclass(frozen=True)
class FlatStack:
    """A flat Li | layers | electrolyte | reservoir stack under a mean current (SI units).

    Attributes:
        current_density: j0, A/m^2, plating > 0.
        conductivity: κ of the electrolyte, S/m.
        electrolyte_thickness: L, from the outer interphase surface (the Li surface when bare)
            to the counter, m.
        charge_transfer_resistance: R_ct = dη/dj at j0, ohm m^2 (0: primary).
        layers: Interphase layers from the Li outward.
        transfer_resistance: R_it of the outer layer | electrolyte boundary, ohm m^2.
        surface_energy: γ of the Li surface, J/m^2.
        molar_volume: V_m of Li, m^3/mol.
    """

    current_density: float
    conductivity: float
    electrolyte_thickness: float
    charge_transfer_resistance: float
    layers: tuple[StackLayer, ...] = ()
    transfer_resistance: float = 0.0
    surface_energy: float = 0.0
    molar_volume: float = LI_MOLAR_VOLUME

    def current_amplitude(self, k: np.ndarray | float) -> np.ndarray:
        """ĵ(k): the cos kx amplitude of the Li-surface current per unit surface amplitude, A/m^3.

        The transfer recursion of docs/theory.md: from the counter (Z = 0, s = 0) down through
        the electrolyte and each layer (Z, s of the relation p = -Z q + s between the potential
        and current amplitudes at a layer's bottom), each boundary adding its resistance to Z
        and the jump of the base-state gradient j0 (1/σ_above - 1/σ_below) to s; at the Li
        (σ = ∞) the resistance is R_ct and the kinetics add -Γ = -γ V_m k² / F; then
        ĵ = (s - Γ) / Z.
        """
        k = np.asarray(k, dtype=float)
        j0 = self.current_density
        z = np.tanh(k * self.electrolyte_thickness) / (self.conductivity * k)
        s = np.zeros_like(k)
        above = self.conductivity
        resistance = self.transfer_resistance
        for layer in reversed(self.layers):
            sigma, kh = layer.conductivity, k * layer.thickness
            z = z + resistance
            s = s + j0 * (1.0 / above - 1.0 / sigma)
            t = np.tanh(kh)
            sech = 2.0 * np.exp(-kh) / (1.0 + np.exp(-2.0 * kh))
            denominator = 1.0 + z * sigma * k * t
            s = s * sech / denominator
            z = (z + t / (sigma * k)) / denominator
            above, resistance = sigma, 0.0
        gamma_term = self.surface_energy * self.molar_volume * k**2 / FARADAY
        return (s + j0 / above - gamma_term) / (z + resistance + self.charge_transfer_resistance)

    def growth_rate(self, k: np.ndarray | float) -> np.ndarray:
        """ω(k) = V_m ĵ(k) / F, 1/s (> 0: the perturbation grows)."""
        return self.molar_volume * self.current_amplitude(k) / FARADAY

    def capillary_wavenumber(self) -> float | None:
        """k_c = sqrt(F j0 / (κ γ V_m)): the exact critical wavenumber of the bare stack.

        None unless plating (j0 > 0) with γ > 0. With thin layers (k h ≪ 1) it is the leading
        approximation of the critical wavenumber.
        """
        if self.current_density <= 0.0 or self.surface_energy <= 0.0:
            return None
        return math.sqrt(FARADAY * self.current_density
                         / (self.conductivity * self.surface_energy * self.molar_volume))

    def critical_wavenumbers(self, k_min: float, k_max: float) -> list[float]:
        """Every k in [k_min, k_max] where ω changes sign (bracketed on a log grid, then brentq)."""
        from scipy.optimize import brentq

        k = np.geomspace(k_min, k_max, GRID_POINTS)
        omega = self.growth_rate(k)
        roots = []
        for i in np.flatnonzero(np.sign(omega[:-1]) * np.sign(omega[1:]) < 0):
            roots.append(float(brentq(lambda q: float(self.growth_rate(q)), k[i], k[i + 1],
                                      xtol=1e-14 * k[i], rtol=1e-13)))
        return roots

    def fastest_wavenumber(self, k_min: float, k_max: float) -> float | None:
        """The k of largest ω inside (k_min, k_max); None when the maximum is at an end."""
        from scipy.optimize import minimize_scalar

        k = np.geomspace(k_min, k_max, GRID_POINTS)
        i = int(np.argmax(self.growth_rate(k)))
        if i in (0, len(k) - 1):
            return None
        found = minimize_scalar(lambda u: -float(self.growth_rate(math.exp(u))),
                                bounds=(math.log(k[i - 1]), math.log(k[i + 1])),
                                method="bounded", options={"xatol": 1e-12})
        return math.exp(found.x)


def differential_resistance(kinetics: Kinetics, current_density: float) -> float:
    """R_ct = dη/dj of a rate law at the uniform current density j0 (ohm m^2).

    Linear law: R T / ((α_a + α_c) F i0) at every j0; Butler–Volmer and Tafel: the tangent
    at η(j0), by a central difference of step 1e-4 R T / F (relative error ~1e-9); primary: 0.

    Raises:
        ValueError: No overpotential carries ``current_density`` (a Tafel law stripping).
    """
    if kinetics.model == "primary":
        return 0.0
    eta = kinetics.overpotential(current_density)
    if eta is None:
        raise ValueError(f"no overpotential carries {current_density:g} A/m^2")
    step = 1e-4 / kinetics.f
    slope = (kinetics.anodic_current(eta + step, exp=math.exp)
             - kinetics.anodic_current(eta - step, exp=math.exp)) / (2.0 * step)
    return 1.0 / float(slope)


def _problem(key: str, what: str, got: object, allowed: str) -> str:
    return f"{key}: {what} (got {got}); allowed: {allowed}"


def stack_from_case(case: CaseConfig, *, prefix: str = "base") -> FlatStack:
    """The flat stack of a case: its layers, domain length and physics at its temperature.

    The geometry's dimension, coordinates, surface shape, protrusions and voids are not used:
    the stack is the flat Li | layers | electrolyte cell of the same thicknesses (electrolyte
    thickness ``domain.length`` minus the layers), perturbed in planar 2D.

    Args:
        case: A validated case.
        prefix: Key prefix of the case in error messages (``base`` or ``cases.<name>``).

    Raises:
        ConfigError: The case is outside the model of the analysis (a binary electrolyte, a
            mosaic layer, a Li counter electrode, potentiostatic or time-dependent control), one
            line per problem.
    """
    physics, geometry = case.physics, case.geometry
    problems = []
    if physics.electrolyte.type != "single_ion":
        problems.append(_problem(
            f"{prefix}.physics.electrolyte.type", "the stability analysis is ohmic (no "
            "concentration polarisation)", f"'{physics.electrolyte.type}'", "single_ion"))
    if physics.counter.type != "reservoir":
        problems.append(_problem(f"{prefix}.physics.counter.type", "the stability analysis "
                                 "needs a reservoir counter (Φ = 0)",
                                 f"'{physics.counter.type}'", "reservoir"))
    control = physics.control
    if control.mode != "galvanostatic" or control.protocol:
        got = f"'{control.mode}'" + (f" with {len(control.protocol)} protocol steps"
                                    if control.protocol else "")
        problems.append(_problem(f"{prefix}.physics.control", "the stability analysis needs a "
                                 "constant mean current", got,
                                 "mode: galvanostatic with current_density, no protocol"))
    for i, layer in enumerate(geometry.layers):
        if layer.kind != "uniform":
            problems.append(_problem(f"{prefix}.geometry.layers.{i}.kind", "the stability "
                                     "analysis needs uniform layers", f"'{layer.kind}'",
                                     "uniform"))
    if problems:
        raise ConfigError(problems)
    T, T_ref = physics.temperature, physics.reference_temperature
    electrolyte = physics.electrolyte
    kappa = electrolyte.conductivity * arrhenius(
        electrolyte.conductivity_activation_energy, T, T_ref)
    layers = []
    for layer in geometry.layers:
        material = physics.interphase[layer.name]
        sigma = material.conductivity * arrhenius(material.conductivity_activation_energy, T, T_ref)
        layers.append(StackLayer(layer.thickness, sigma))
    inner = physics.interphase[geometry.layers[0].name] if geometry.layers else None
    kinetics_cfg = inner.kinetics if inner is not None and inner.kinetics else physics.kinetics
    j0 = control.constant_value()
    try:
        r_ct = differential_resistance(Kinetics.from_config(kinetics_cfg, T, T_ref, None), j0)
    except ValueError as err:
        raise ConfigError([_problem(f"{prefix}.physics.control.current_density", str(err), j0,
                                    "a current the kinetics can carry")]) from err
    outer = physics.interphase[geometry.layers[-1].name] if geometry.layers else None
    return FlatStack(
        current_density=j0,
        conductivity=kappa,
        electrolyte_thickness=geometry.domain.length - geometry.interphase_thickness(),
        charge_transfer_resistance=r_ct,
        layers=tuple(layers),
        transfer_resistance=outer.transfer_resistance if outer is not None else 0.0,
        surface_energy=0.0 if physics.surface_energy is None else physics.surface_energy.gamma,
    )


# ---------------------------------------------------------------------------------------------
# Finite-element growth rate
# ---------------------------------------------------------------------------------------------


def fe_case(case: CaseConfig, wavelength: float, amplitude: float) -> CaseConfig:
    """The steady case of a sinusoidal Li surface y = A (1 + cos kx) in a half-wavelength cell.

    Mirror sides at the crest (x = 0) and the trough (x = λ/2); the layers and the mean
    electrolyte thickness are those of ``case`` (the domain grows by A); the far-field element
    size is at most λ / :data:`SURFACE_CELLS` (before ``mesh.refinement``), so that the surface
    (a quarter of it) is resolved by λ/32 (P1) or λ/16 (P2); with a surface energy
    (``physics.surface_energy``) :data:`CURVATURE_REFINEMENT` times finer.
    """
    tree = case.model_dump(mode="json")
    geometry = tree["geometry"]
    far = case.geometry.mesh.far_field_size or case.geometry.domain.length / 8.0
    geometry.update(
        dimension=2,
        coordinates="cartesian",
        domain={"width": wavelength / 2.0, "length": case.geometry.domain.length + amplitude,
                "lateral": "symmetric"},
        surface={"kind": "sinusoidal", "amplitude": amplitude, "wavelength": wavelength},
        protrusions=[],
        voids=None,
    )
    cells = SURFACE_CELLS[case.numerics.degree]
    if case.physics.surface_energy is not None:
        cells *= CURVATURE_REFINEMENT
    geometry["mesh"]["far_field_size"] = min(far, wavelength / cells)
    tree["time"] = {"mode": "steady"}
    return validate(CaseConfig, tree, ["stability"])


def fe_current_amplitude(case: CaseConfig, wavelength: float, amplitude: float, comm: MPI.Comm,
                         mesh_cache: Path | None, *, build_mesh: Callable[..., Any] | None = None,
                         simulation: Callable[..., Any] | None = None) -> float:
    """ĵ from the FE model: (2/W) ∫_Li j cos(kx) ds / A over the half-wavelength cell W = λ/2.

    The integral over the Li-surface quadrature points (arc-length weights) is the cos kx
    coefficient of the current per unit projected length, the rate at which the surface height
    grows (× V_m / F). Allreduced: every rank returns the same number.
    """
    if build_mesh is None:
        from solver.geometry import build_mesh
    if simulation is None:
        from solver.problem import Simulation

        simulation = Simulation
    sinusoid = fe_case(case, wavelength, amplitude)
    bundle = build_mesh(sinusoid.geometry, comm, mesh_cache)
    snapshot = next(iter(simulation(bundle, sinusoid, comm, _LOG).run()))
    s = snapshot.surface
    k = 2.0 * math.pi / wavelength
    local = float(np.sum(s.weight * s.j * np.cos(k * s.x[:, 0])))
    return comm.allreduce(local, op=MPI.SUM) / (wavelength / 4.0) / amplitude


@dataclass(frozen=True)
class SpectrumPoint:
    """ω at one wavelength, 1/s.

    Attributes:
        wavelength: λ, m.
        omega_small: FE ω at the amplitude ε (ε k = ``slope``).
        omega_large: FE ω at 2ε.
        omega_fe: Richardson extrapolation to ε → 0, (4 ω(ε) - ω(2ε)) / 3.
        omega_model: Analytic ω of the FE model's physics (with its γ).
    """

    wavelength: float
    omega_small: float
    omega_large: float
    omega_fe: float
    omega_model: float

    @property
    def wavenumber(self) -> float:
        """The wavenumber k = 2π/λ, 1/m."""
        return 2.0 * math.pi / self.wavelength

    @property
    def linearity(self) -> float:
        """|ω(2ε)/ω(ε) - 1|: the nonlinear part at the larger amplitude (O((εk)²))."""
        return abs(self.omega_large / self.omega_small - 1.0) if self.omega_small else math.nan

    @property
    def relative_difference(self) -> float:
        """FE over the analytic model, minus 1."""
        return self.omega_fe / self.omega_model - 1.0 if self.omega_model else math.nan


CSV_COLUMNS = ("wavelength_m", "wavenumber_1_m", "omega_fe_1_s", "omega_model_1_s",
               "relative_difference", "omega_eps_1_s", "omega_2eps_1_s", "linearity")
"""Columns of ``spectrum.csv`` (SI units in the names)."""


@dataclass
class Spectrum:
    """The growth-rate spectrum of one case.

    Attributes:
        case: Case name.
        stack: The analytic model of the FE physics (with γ).
        slope: ε k of the smaller FE amplitude.
        points: One per wavelength, in increasing λ.
        k_range: (k_min, k_max) of the analytic curve, 1/m.
    """

    case: str
    stack: FlatStack
    slope: float
    points: list[SpectrumPoint] = field(default_factory=list)
    k_range: tuple[float, float] = (math.nan, math.nan)

    def csv_text(self) -> str:
        """The table (one row per wavelength, :data:`CSV_COLUMNS`)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for p in self.points:
            writer.writerow([f"{v:.10g}" for v in (
                p.wavelength, p.wavenumber, p.omega_fe, p.omega_model, p.relative_difference,
                p.omega_small, p.omega_large, p.linearity)])
        return out.getvalue()

    def fe_brackets(self) -> dict[str, list[float] | None]:
        """Wavelength brackets from the FE points: of a sign change and of the largest ω."""
        omega = [p.omega_fe for p in self.points]
        lam = [p.wavelength for p in self.points]
        sign = next(([lam[i], lam[i + 1]] for i in range(len(omega) - 1)
                     if omega[i] * omega[i + 1] < 0), None)
        i = int(np.argmax(omega)) if omega else 0
        fastest = [lam[i - 1], lam[i + 1]] if 0 < i < len(omega) - 1 else None
        return {"sign_change": sign, "largest": fastest}

    def summary(self) -> dict[str, Any]:
        """The critical and fastest-growing wavelengths, FE agreement and stack (JSON-ready).

        Critical and fastest-growing wavelengths of the analytic curve (γ included), the FE
        brackets, the largest FE/analytic difference and nonlinearity.
        """
        k_min, k_max = self.k_range
        stack = self.stack
        fastest = stack.fastest_wavenumber(k_min, k_max)
        k_c = stack.capillary_wavenumber()
        return {
            "stack": asdict(stack),
            "slope": self.slope,
            "wavelength_range_m": [2 * math.pi / k_max, 2 * math.pi / k_min],
            "analytic": {
                "critical_wavelengths_m": [2 * math.pi / k
                                           for k in stack.critical_wavenumbers(k_min, k_max)],
                "fastest_wavelength_m": None if fastest is None else 2 * math.pi / fastest,
                "fastest_growth_rate_1_s": None if fastest is None
                else float(stack.growth_rate(fastest)),
                "capillary_wavelength_m": None if k_c is None else 2 * math.pi / k_c,
            },
            "fe": self.fe_brackets() | {
                "max_relative_difference": max((abs(p.relative_difference)
                                                for p in self.points), default=math.nan),
                "max_linearity": max((p.linearity for p in self.points), default=math.nan)},
        }

    def plot(self, path: Path) -> Path:
        """ω against λ: the analytic curve (with γ), its critical and fastest λ, the FE points."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        k_min, k_max = self.k_range
        k = np.geomspace(k_min, k_max, 400)
        lam_um = 2e6 * math.pi / k
        figure, axis = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
        gamma = self.stack.surface_energy
        axis.plot(lam_um, self.stack.growth_rate(k), "-", color="C0",
                  label=f"analytic, γ = {gamma:g} J/m²")
        for root in self.stack.critical_wavenumbers(k_min, k_max):
            axis.axvline(2e6 * math.pi / root, color="C0", lw=0.8, ls=":")
        fastest = self.stack.fastest_wavenumber(k_min, k_max)
        if fastest is not None:
            axis.plot(2e6 * math.pi / fastest, self.stack.growth_rate(fastest), "*",
                      color="C1", ms=10, label="fastest growing")
        axis.plot([p.wavelength * 1e6 for p in self.points], [p.omega_fe for p in self.points],
                  "o", color="C3", label="finite elements")
        axis.axhline(0.0, color="0.5", lw=0.8)
        axis.set_xscale("log")
        axis.set_xlabel("wavelength λ (µm)")
        axis.set_ylabel("growth rate ω (1/s)")
        axis.set_title(f"case '{self.case}': j0 = {self.stack.current_density / 10:g} mA/cm²",
                       fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        figure.savefig(path, dpi=120)
        plt.close(figure)
        return path


def spectrum(case: CaseConfig, wavelengths: Sequence[float], comm: MPI.Comm, *,
             name: str = DEFAULT_CASE, prefix: str = "base", slope: float = DEFAULT_SLOPE,
             mesh_cache: Path | None = None,
             fe_amplitude: Callable[..., float] = fe_current_amplitude) -> Spectrum:
    """The FE and analytic growth rates of one case at each wavelength.

    Args:
        case: A validated case (see :func:`stack_from_case` for what it may hold).
        wavelengths: λ values, m.
        comm: Communicator of the FE solves.
        name: Case name (labels).
        prefix: Key prefix of the case in error messages.
        slope: ε k of the smaller amplitude (the larger is 2 ε).
        mesh_cache: Mesh cache directory (None: no caching).
        fe_amplitude: ``(case, λ, A, comm, mesh_cache) -> ĵ`` (default the FE model).

    Raises:
        ConfigError: The case is outside the analysis' model, or a wavelength or the slope is
            not usable.
    """
    stack = stack_from_case(case, prefix=prefix)
    lam = sorted(float(v) for v in wavelengths)
    if not lam or not all(math.isfinite(v) and v > 0 for v in lam):
        raise ConfigError([_problem("--wavelengths", "not positive lengths", lam,
                                    "lengths > 0, e.g. 1um 100um")])
    if not 0.0 < slope <= 0.1:
        raise ConfigError([_problem("--slope", "amplitude times wavenumber out of range",
                                    slope, "0 < ε k <= 0.1 (linear regime)")])
    result = Spectrum(name, stack, slope,
                      k_range=(2 * math.pi / lam[-1], 2 * math.pi / lam[0]))
    v_m = stack.molar_volume / FARADAY
    for wavelength in lam:
        k = 2.0 * math.pi / wavelength
        small, large = (v_m * fe_amplitude(case, wavelength, s / k, comm, mesh_cache)
                        for s in (slope, 2.0 * slope))
        point = SpectrumPoint(wavelength, small, large, (4.0 * small - large) / 3.0,
                              float(stack.growth_rate(k)))
        _LOG.info("case '%s': λ = %.4g um: ω_FE = %.6g 1/s, analytic %.6g 1/s (%+.2e), "
                  "linearity %.1e", name, wavelength * 1e6, point.omega_fe, point.omega_model,
                  point.relative_difference, point.linearity)
        result.points.append(point)
    return result


# ---------------------------------------------------------------------------------------------
# Run directory
# ---------------------------------------------------------------------------------------------


def default_wavelengths(stack: FlatStack, points: int) -> list[float]:
    """``points`` wavelengths log-spaced from L/16 to 4 L (L: the electrolyte thickness)."""
    length = stack.electrolyte_thickness
    return [float(v) for v in np.geomspace(length / 16.0, 4.0 * length, points)]


def run(config: RunConfig | str | Path | dict, output_root: str | Path = Path("results"), *,
        overrides: Iterable[str] = (), wavelengths: tuple[float, float] | None = None,
        points: int = 8, slope: float = DEFAULT_SLOPE,
        overwrite: bool = False, comm: MPI.Comm | None = None,
        mesh_cache: str | Path = Path("meshes"),
        fe_amplitude: Callable[..., float] = fe_current_amplitude) -> Path:
    """Growth-rate spectra of every case into ``<output_root>/<name>.stability``.

    Writes ``config.resolved.yaml``, ``stability.json`` (options and, per case, the summary of
    :meth:`Spectrum.summary`), ``<case>/spectrum.csv`` and ``<case>/spectrum.png``, with the
    run directory's manifest and log (:class:`solver.rundir.RunDirectory`: nothing half-written
    remains; a failure leaves ``<name>.stability.failed-<time>``).

    Args:
        config: A run config, a YAML path or a raw tree.
        output_root: Directory holding run directories.
        overrides: ``KEY=VALUE`` strings (as ``--set``).
        wavelengths: (λ_min, λ_max), m (default L/16 to 4 L of each case).
        points: Number of wavelengths, log-spaced.
        slope: ε k of the smaller FE amplitude.
        overwrite: Replace an existing run directory of the same name (on success).
        comm: Communicator (default ``MPI.COMM_SELF``).
        mesh_cache: Mesh cache directory.
        fe_amplitude: The FE amplitude function (tests may pass a fake).

    Returns:
        The run directory.

    Raises:
        ConfigError: The configuration or an option is invalid (checked before anything is
            written).
    """
    comm = MPI.COMM_SELF if comm is None else comm
    run_config = config if isinstance(config, RunConfig) else load_config(config, overrides)
    cases = resolved_cases(run_config)
    prefixes = {name: "base" if not run_config.cases else f"cases.{name}" for name in cases}
    problems = []
    if not 2 <= points <= 200:
        problems.append(_problem("--points", "number of wavelengths out of range", points,
                                 "2 to 200"))
    if wavelengths is not None and not 0.0 < wavelengths[0] < wavelengths[1]:
        problems.append(_problem("--wavelengths", "not an increasing pair of positive lengths",
                                 list(wavelengths), "MIN MAX with 0 < MIN < MAX"))
    stacks = {}
    for name, case in cases.items():
        try:
            stacks[name] = stack_from_case(case, prefix=prefixes[name])
        except ConfigError as err:
            problems += err.problems
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    with RunDirectory(output_root, f"{run_config.name}.stability", comm,
                      overwrite=overwrite) as rd:
        rd.write_text("config.resolved.yaml",
                      yaml.safe_dump(resolved_tree(run_config), sort_keys=False))
        summary: dict[str, Any] = {"name": run_config.name, "points": points, "slope": slope,
                                   "cases": {}}
        for name, case in cases.items():
            lam = (default_wavelengths(stacks[name], points) if wavelengths is None
                   else [float(v) for v in np.geomspace(*wavelengths, points)])
            with rd.phase(f"{name}/spectrum"):
                result = spectrum(case, lam, comm, name=name, prefix=prefixes[name], slope=slope,
                                  mesh_cache=Path(mesh_cache), fe_amplitude=fe_amplitude)
            rd.write_text(f"{name}/spectrum.csv", result.csv_text())
            if comm.rank == 0:
                result.plot(rd.path / name / "spectrum.png")
            summary["cases"][name] = result.summary()
            _LOG.info("case '%s': %s", name, _statement(summary["cases"][name]))
        rd.write_json("stability.json", summary)
    return rd.path


def _statement(case_summary: dict[str, Any]) -> str:
    """One line: critical and fastest-growing wavelengths and the FE agreement."""
    analytic = case_summary["analytic"]
    critical = analytic["critical_wavelengths_m"]
    fastest = analytic["fastest_wavelength_m"]
    parts = [("critical λ = " + ", ".join(f"{v * 1e6:.4g} um" for v in critical))
             if critical else "no sign change of ω in the range",
             f"fastest-growing λ = {fastest * 1e6:.4g} um" if fastest is not None
             else "largest ω at an end of the range",
             f"FE vs analytic within {case_summary['fe']['max_relative_difference']:.2e}"]
    return "; ".join(parts)
