"""Ensemble statistics, finite-size scaling of the spanning threshold, and the seed-000 fits.

Numbers only (numpy, scipy): no finite elements here.

- :func:`mean_ci`: mean and 95 % confidence half-width t(0.975, n-1) s / sqrt(n).
- :func:`spanning_threshold`: the fraction φ_L where a box of side L spans with probability
  1/2, from a probit fit P(φ) = Φ((φ - φ_L) / w) to the spanning counts.
- :func:`extrapolate_threshold`: finite-size scaling φ_L = φ_c + a L^(-1/ν), a weighted
  straight line in L^(-1/ν); ν = 4/3 in 2D (exact), 0.8765 in 3D.
- :func:`fit_power_law`: seed 000, eqn (2), σ = σ0 (V_f - V_p)^n, least squares on log σ.
- :func:`mixing_rule`: seed 000, eqn (1), σ = V_f σ_M + (1 - V_f) σ_NM (no free parameter);
  :func:`fit_mixing_rule` fits its σ_M as a free parameter, to show how far it is from a
  percolating medium even then.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

__all__ = [
    "NU",
    "PowerLaw",
    "Threshold",
    "extrapolate_threshold",
    "MixingFit",
    "fit_mixing_rule",
    "fit_power_law",
    "mean_ci",
    "mixing_rule",
    "spanning_threshold",
]

#: Correlation-length exponent ν of percolation by dimension: 4/3 in 2D (den Nijs 1979, exact);
#: 0.8765(18) in 3D (Wang, Zhou, Zhang, Garoni, Deng, Phys. Rev. E 87, 052107, 2013).
NU = {2: 4.0 / 3.0, 3: 0.8765}


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and 95 % confidence half-width (Student t; nan for fewer than 2 values)."""
    data = np.asarray(values, dtype=float)
    mean = float(np.mean(data))
    if data.size < 2:
        return mean, math.nan
    half = stats.t.ppf(0.975, data.size - 1) * float(np.std(data, ddof=1)) / math.sqrt(data.size)
    return mean, float(half)


@dataclass(frozen=True)
class Threshold:
    """A threshold estimate with its standard error (and the probit width, if fitted)."""

    value: float
    stderr: float
    width: float = math.nan

    @property
    def ci95(self) -> float:
        """95 % confidence half-width (normal approximation)."""
        return 1.96 * self.stderr


def _probit(phi: np.ndarray, centre: float, width: float) -> np.ndarray:
    return 0.5 * (1.0 + special.erf((phi - centre) / (math.sqrt(2.0) * width)))


def spanning_threshold(fractions: Sequence[float], spanning: Sequence[int],
                       totals: Sequence[int]) -> Threshold | None:
    """φ_L where the spanning probability is 1/2: binomial maximum likelihood of a probit.

    Args:
        fractions: Measured metal fractions (means per level).
        spanning: Samples that span, per level.
        totals: Samples, per level.

    Returns:
        The estimate and its standard error (from the inverse Hessian of the likelihood), or
        None when the data do not bracket the threshold (no level with both outcomes and no
        change from all-non-spanning to all-spanning).
    """
    phi = np.asarray(fractions, dtype=float)
    k = np.asarray(spanning, dtype=float)
    m = np.asarray(totals, dtype=float)
    p = k / m
    if not (np.any(p < 0.5) and np.any(p > 0.5)) and not np.any((p > 0) & (p < 1)):
        return None

    def negative_log_likelihood(theta: np.ndarray) -> float:
        prob = np.clip(_probit(phi, theta[0], math.exp(theta[1])), 1e-12, 1.0 - 1e-12)
        return -float(np.sum(k * np.log(prob) + (m - k) * np.log1p(-prob)))

    start = np.array([float(np.interp(0.5, np.sort(p), phi[np.argsort(p)])),
                      math.log(max(np.ptp(phi) / 4.0, 1e-3))])
    result = optimize.minimize(negative_log_likelihood, start, method="Nelder-Mead",
                               options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000})
    centre, log_width = result.x
    step = np.array([1e-4, 1e-3])
    hessian = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            def shifted(a: float, b: float, i: int = i, j: int = j) -> float:
                theta = result.x.copy()
                theta[i] += a * step[i]
                theta[j] += b * step[j]
                return negative_log_likelihood(theta)
            hessian[i, j] = (shifted(1, 1) - shifted(1, -1) - shifted(-1, 1)
                             + shifted(-1, -1)) / (4.0 * step[i] * step[j])
    try:
        covariance = np.linalg.inv(hessian)
        stderr = math.sqrt(covariance[0, 0]) if covariance[0, 0] > 0 else math.nan
    except np.linalg.LinAlgError:
        stderr = math.nan
    return Threshold(float(centre), stderr, math.exp(log_width))


def extrapolate_threshold(boxes: Sequence[float], estimates: Sequence[Threshold], dim: int
                          ) -> tuple[Threshold, float]:
    """φ_c from φ_L = φ_c + a L^(-1/ν) by weighted least squares.

    Args:
        boxes: Box sides L (any unit; only their ratios matter).
        estimates: φ_L per box.
        dim: 2 or 3 (selects ν, :data:`NU`).

    Returns:
        (φ_c with its standard error, the slope a). One box: φ_L itself and slope nan.
    """
    x = np.asarray(boxes, dtype=float) ** (-1.0 / NU[dim])
    y = np.array([e.value for e in estimates])
    se = np.array([e.stderr if math.isfinite(e.stderr) and e.stderr > 0 else 1.0
                   for e in estimates])
    if len(y) == 1:
        return estimates[0], math.nan
    design = np.stack([np.ones_like(x), x], axis=1) / se[:, None]
    coef, *_ = np.linalg.lstsq(design, y / se, rcond=None)
    covariance = np.linalg.inv(design.T @ design)
    if len(y) > 2:  # scale by the reduced chi-square when it exceeds 1 (scatter beyond errors)
        chi2 = float(np.sum(((y - (coef[0] + coef[1] * x)) / se) ** 2)) / (len(y) - 2)
        covariance *= max(chi2, 1.0)
    return Threshold(float(coef[0]), math.sqrt(covariance[0, 0])), float(coef[1])


@dataclass(frozen=True)
class PowerLaw:
    """Seed 000, eqn (2): σ = σ0 (V_f - V_p)^n, with standard errors."""

    sigma0: float
    threshold: float
    exponent: float
    sigma0_stderr: float
    threshold_stderr: float
    exponent_stderr: float
    points: int
    rms_decades: float

    def __call__(self, fraction: np.ndarray) -> np.ndarray:
        """σ at the fractions (nan at and below V_p)."""
        gap = np.asarray(fraction, dtype=float) - self.threshold
        return np.where(gap > 0, self.sigma0 * np.abs(gap) ** self.exponent, np.nan)


def fit_power_law(fractions: Sequence[float], sigma: Sequence[float],
                  threshold_guess: float) -> PowerLaw | None:
    """Fit eqn (2) to the points above ``threshold_guess`` (log σ, least squares).

    Args:
        fractions: Metal fractions.
        sigma: Effective conductivities (positive) at them.
        threshold_guess: Start for V_p; points at or below it are not used.

    Returns:
        The fit, or None with fewer than 4 points above the guess.
    """
    v = np.asarray(fractions, dtype=float)
    s = np.asarray(sigma, dtype=float)
    use = (v > threshold_guess) & (s > 0)
    if np.count_nonzero(use) < 4:
        return None
    v, log_s = v[use], np.log(s[use])
    upper = float(v.min()) - 1e-6

    def model(x: np.ndarray, log_sigma0: float, vp: float, n: float) -> np.ndarray:
        return log_sigma0 + n * np.log(np.maximum(x - vp, 1e-12))

    start = (float(log_s.max()), min(threshold_guess, upper - 1e-3), 1.5)
    params, covariance = optimize.curve_fit(
        model, v, log_s, p0=start, bounds=([-np.inf, 0.0, 0.1], [np.inf, upper, 10.0]),
        maxfev=20000)
    errors = np.sqrt(np.clip(np.diag(covariance), 0.0, np.inf))
    sigma0 = math.exp(params[0])
    rms = float(np.sqrt(np.mean((model(v, *params) - log_s) ** 2))) / math.log(10.0)
    return PowerLaw(sigma0, float(params[1]), float(params[2]), sigma0 * float(errors[0]),
                    float(errors[1]), float(errors[2]), int(v.size), rms)


def mixing_rule(fraction: np.ndarray, sigma_metal: float, sigma_matrix: float) -> np.ndarray:
    """Seed 000, eqn (1): the volume-weighted mean (Wiener's upper, parallel bound)."""
    f = np.asarray(fraction, dtype=float)
    return f * sigma_metal + (1.0 - f) * sigma_matrix


@dataclass(frozen=True)
class MixingFit:
    """Eqn (1) with a fitted metal conductivity, and its misfit.

    Attributes:
        sigma_metal: The best σ_M (least squares on log10 σ).
        rms_decades: Root-mean-square misfit in decades (log10 units).
        points: Number of points fitted.
    """

    sigma_metal: float
    rms_decades: float
    points: int


def fit_mixing_rule(fractions: Sequence[float], sigma: Sequence[float], sigma_matrix: float
                    ) -> MixingFit:
    """Fit eqn (1)'s σ_M (σ_NM fixed) to effective conductivities by least squares on log10 σ.

    Args:
        fractions: Metal fractions.
        sigma: Effective conductivities (positive).
        sigma_matrix: σ_NM.
    """
    v = np.asarray(fractions, dtype=float)
    target = np.log10(np.asarray(sigma, dtype=float))

    def misfit(log_metal: float) -> float:
        model = np.log10(mixing_rule(v, 10.0**log_metal, sigma_matrix))
        return float(np.mean((model - target) ** 2))

    span = (math.log10(sigma_matrix) - 2.0, float(target.max()) + 6.0)
    best = optimize.minimize_scalar(misfit, bounds=span, method="bounded",
                                    options={"xatol": 1e-10})
    return MixingFit(10.0**best.x, math.sqrt(misfit(best.x)), int(v.size))
