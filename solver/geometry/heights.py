"""Seeded random height fields of rough Li surfaces (spectral synthesis), 2D and 3D.

Pure numpy: :class:`solver.geometry.spec.RandomSurface` samples its surface through these
functions, and the builders through the surface.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from solver.geometry.spec import RandomSurface

__all__ = ["HeightField", "Profile", "random_profile", "random_surface_3d"]

Profile = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""x -> (h, dh/dx), arrays in metres (a 2D base surface)."""

HeightField = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""(x, y) -> (h, dh/dx, dh/dy), arrays in metres."""


def random_profile(surface: RandomSurface, width: float, lateral: str) -> Profile:
    """Seeded Gaussian random height field h(x) on [0, W] by spectral synthesis.

    Correlation function C(dx) = rms^2 exp(-(dx / l_c)^2), spectral density proportional to
    exp(-(q l_c / 2)^2). Symmetric sides use a cosine series (h'(0) = h'(W) = 0, so the mirror
    images continue the surface smoothly); periodic sides a full Fourier series of period W. The
    field is scaled so its RMS about the mean on a fine grid equals ``rms`` and shifted so its
    minimum is 0.

    Returns:
        A function x -> (h(x), h'(x)) for arrays x, defined for every real x.
    """
    lc = surface.correlation_length
    rng = np.random.default_rng(surface.seed)
    q_max = 8.0 / lc
    if lateral == "periodic":
        modes = max(2, math.ceil(q_max * width / (2.0 * math.pi)))
        q = 2.0 * math.pi * np.arange(1, modes + 1) / width
        phase = rng.uniform(0.0, 2.0 * math.pi, q.size)
    else:
        q = math.pi * np.arange(1, max(2, math.ceil(q_max * width / math.pi)) + 1) / width
        phase = np.zeros(q.size)
    amp = np.exp(-((q * lc / 2.0) ** 2)) ** 0.5 * rng.standard_normal(q.size)

    def raw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arg = np.outer(x, q) + phase
        return np.cos(arg) @ amp, -(np.sin(arg) * q) @ amp

    grid = np.linspace(0.0, width, 4096)
    h_grid = raw(grid)[0]
    scale = surface.rms / np.std(h_grid)
    shift = -np.min(h_grid) * scale

    def h(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value, slope = raw(np.asarray(x, dtype=float))
        return scale * value + shift, scale * slope

    return h


def random_surface_3d(
    surface: RandomSurface, width: float, depth: float, lateral: str
) -> HeightField:
    """Seeded Gaussian random height field h(x, y) on [0, W] x [0, D] by spectral synthesis.

    Correlation function rms^2 exp(-(|dr| / l_c)^2), spectral density proportional to
    exp(-(|q| l_c / 2)^2). Symmetric sides: cosine modes cos(q_x x) cos(q_y y) with
    q = pi m / W (zero normal slope on the sides); periodic sides: modes cos(q . r + phi) of
    period W and D with random phases. The field is scaled so that its RMS about the mean on a
    fine grid equals ``rms`` and shifted so that its minimum there is 0.

    Args:
        surface: The random-surface config.
        width: W, m.
        depth: D, m.
        lateral: ``"symmetric"`` or ``"periodic"``.

    Returns:
        A function (x, y) -> (h, dh/dx, dh/dy) for arrays x, y of one shape, defined everywhere.
    """
    lc = surface.correlation_length
    rng = np.random.default_rng(surface.seed)
    q_max = 8.0 / lc
    base = 2.0 * math.pi if lateral == "periodic" else math.pi
    m_x = np.arange(0, max(2, math.ceil(q_max * width / base)) + 1)
    m_y = np.arange(0, max(2, math.ceil(q_max * depth / base)) + 1)
    if lateral == "periodic":
        m_x = np.concatenate([-m_x[:0:-1], m_x])  # half plane q_y >= 0 of a real field
    qx, qy = base * m_x / width, base * m_y / depth
    q = np.hypot(qx[:, None], qy[None, :])
    keep = (q > 0.0) & (q <= q_max)
    amp = np.zeros(q.shape)
    amp[keep] = np.exp(-((q[keep] * lc / 2.0) ** 2)) ** 0.5 * rng.standard_normal(keep.sum())
    if lateral == "periodic":
        phase = np.zeros(q.shape)
        phase[keep] = rng.uniform(0.0, 2.0 * math.pi, keep.sum())
        coef = amp * np.exp(1j * phase)  # h = Re sum c_ij exp(i qx_i x) exp(i qy_j y)
    else:
        coef = amp  # h = sum a_ij cos(qx_i x) cos(qy_j y)

    def basis(v: np.ndarray, qv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mode functions of one coordinate and their derivatives at points v, (n, m) each."""
        arg = np.multiply.outer(v, qv)
        if lateral == "periodic":
            e = np.exp(1j * arg)
            return e, e * (1j * qv)
        return np.cos(arg), -np.sin(arg) * qv

    def modes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(h, h_x, h_y) of the unscaled sum of modes at points x, y (1D arrays), shape (3, n).

        Separable evaluation: h = sum_j (F_x C)_j F_y,j with F the mode functions.
        """
        (fx, gx), (fy, gy) = basis(x, qx), basis(y, qy)
        t = fx @ coef
        out = [np.sum(t * fy, axis=1), np.sum((gx @ coef) * fy, axis=1), np.sum(t * gy, axis=1)]
        return np.stack([np.real(v) for v in out])

    def raw(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        flat_x, flat_y = x.ravel(), y.ravel()
        chunk = max(1, 2**20 // (qx.size + qy.size))  # bounds the (points x modes) arrays
        parts = [
            modes(flat_x[i : i + chunk], flat_y[i : i + chunk])
            for i in range(0, flat_x.size, chunk)
        ]
        out = np.concatenate(parts, axis=1) if parts else np.empty((3, 0))
        return tuple(v.reshape(x.shape) for v in out)

    gx, gy = np.meshgrid(np.linspace(0.0, width, 257), np.linspace(0.0, depth, 257))
    h_grid = raw(gx, gy)[0]
    scale = surface.rms / np.std(h_grid)
    shift = -np.min(h_grid) * scale

    def h(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        value, hx, hy = raw(x, y)
        return scale * value + shift, scale * hx, scale * hy

    return h
