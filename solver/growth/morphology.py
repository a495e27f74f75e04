"""Morphology of the Li surface: its shape gathered in order, and what users ask of it.

The 2D (planar or axisymmetric) Li surface is the graph y = h(x) of its nodes sorted by x
(`surface_profile`, gathered to one rank). Of a profile (docs/theory.md, "Moving Li surface"):

* the apex height max h;
* the RMS roughness sqrt(<(h - <h>)^2>), <f> the mean by the trapezoidal rule over the nodes,
  weighted by 1 (planar) or r (axisymmetric: the mean over the surface of revolution's
  projected disk), which for a sampled sinusoid over whole periods is exact;
* the deposit thickness between two shapes: the signed distance from each node of the earlier
  profile to the later polyline (positive where the later one lies above, i.e. Li was plated);
* over a time series, the tip growth rate d(apex)/dt, the flat growth rate dh(x_flat)/dt and
  their ratio (second-order differences, exact for heights quadratic in time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from solver.growth.kinematics import SurfaceKinematics

__all__ = [
    "MorphologySeries",
    "apex_height",
    "deposit_thickness",
    "rms_roughness",
    "surface_profile",
]


def surface_profile(kinematics: SurfaceKinematics, root: int = 0) -> np.ndarray | None:
    """The Li-surface nodes of all ranks on ``root``, each once, sorted by x (2D) or (x, y).

    Returns:
        Shape (n, gdim) on ``root``; None on the other ranks.
    """
    space = kinematics.space
    owned = kinematics.dofs < space.V.dofmap.index_map.size_local
    parts = space.mesh.comm.gather(kinematics.points()[owned], root=root)
    if parts is None:
        return None
    points = np.concatenate(parts, axis=0)
    keys = (points[:, 1], points[:, 0]) if points.shape[1] == 3 else (points[:, 0],)
    return points[np.lexsort(keys)]


def apex_height(profile: np.ndarray) -> float:
    """Height of the highest node (last coordinate), m."""
    return float(np.max(profile[:, -1]))


def _mean(profile: np.ndarray, values: np.ndarray, weight: np.ndarray) -> float:
    x = profile[:, 0]
    return float(np.trapezoid(values * weight, x) / np.trapezoid(weight, x))


def _weight(profile: np.ndarray, coordinates: Literal["cartesian", "axisymmetric"]):
    if profile.shape[1] != 2:
        raise ValueError(f"profile: a 2D profile (x, y) is needed (got {profile.shape[1]} "
                         "coordinates); allowed: planar or axisymmetric sections")
    return profile[:, 0] if coordinates == "axisymmetric" else np.ones(len(profile))


def rms_roughness(
    profile: np.ndarray, coordinates: Literal["cartesian", "axisymmetric"] = "cartesian"
) -> float:
    """RMS deviation of the heights from their mean, m (2D profile sorted by x)."""
    weight = _weight(profile, coordinates)
    h = profile[:, 1]
    mean = _mean(profile, h, weight)
    return float(np.sqrt(_mean(profile, (h - mean) ** 2, weight)))


def deposit_thickness(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Signed distance from each node of ``before`` to the polyline ``after``, m.

    Both are 2D profiles sorted by x. Positive where ``after`` lies above (outside the Li of)
    ``before``: the thickness of Li plated there; negative where Li was stripped.

    Returns:
        Shape (len(before),).
    """
    _weight(before, "cartesian")
    a, b = after[:-1], after[1:]  # segments, (m, 2)
    t = b - a
    length2 = np.einsum("ij,ij->i", t, t)
    rel = before[:, None, :] - a[None, :, :]  # (n, m, 2)
    s = np.clip(np.einsum("nmj,mj->nm", rel, t) / np.where(length2 > 0, length2, 1.0), 0, 1)
    foot = a[None] + s[..., None] * t[None]
    gap = before[:, None, :] - foot
    dist = np.linalg.norm(gap, axis=2)
    nearest = np.argmin(dist, axis=1)
    rows = np.arange(len(before))
    # the later surface's upward normal of the nearest segment: (-t_y, t_x) for increasing x
    up = np.stack([-t[nearest, 1], t[nearest, 0]], axis=1)
    below = np.einsum("ij,ij->i", gap[rows, nearest], up) < 0.0
    return np.where(below, 1.0, -1.0) * dist[rows, nearest]


@dataclass
class MorphologySeries:
    """Li-surface profiles over time and the growth measures drawn from them.

    Attributes:
        flat_x: Lateral position of the flat reference (e.g. the ``far_field`` landmark), m.
        coordinates: ``"cartesian"`` or ``"axisymmetric"`` (weights of the RMS).
        times: Output times, s.
        profiles: 2D profiles sorted by x, one per time.
    """

    flat_x: float
    coordinates: Literal["cartesian", "axisymmetric"] = "cartesian"
    times: list[float] = field(default_factory=list)
    profiles: list[np.ndarray] = field(default_factory=list)

    def add(self, t: float, profile: np.ndarray) -> None:
        """Record the profile at time ``t`` (times increasing)."""
        if self.times and not t > self.times[-1]:
            raise ValueError(f"t: times must increase (got {t} after {self.times[-1]}); "
                             "allowed: later times")
        self.times.append(float(t))
        self.profiles.append(np.asarray(profile, dtype=float))

    def apex_heights(self) -> np.ndarray:
        """Apex height at every time, m."""
        return np.array([apex_height(p) for p in self.profiles])

    def flat_heights(self) -> np.ndarray:
        """Height at ``flat_x`` at every time (linear interpolation along the profile), m."""
        return np.array([np.interp(self.flat_x, p[:, 0], p[:, 1]) for p in self.profiles])

    def roughness(self) -> np.ndarray:
        """RMS roughness at every time, m."""
        return np.array([rms_roughness(p, self.coordinates) for p in self.profiles])

    def tip_rate(self) -> np.ndarray:
        """Apex growth rate at every time, m/s."""
        return _rate(self.times, self.apex_heights())

    def flat_rate(self) -> np.ndarray:
        """Growth rate at ``flat_x`` at every time, m/s."""
        return _rate(self.times, self.flat_heights())

    def rate_ratio(self) -> np.ndarray:
        """Tip over flat growth rate at every time (nan where the flat does not move)."""
        flat = self.flat_rate()
        return np.divide(self.tip_rate(), flat, out=np.full_like(flat, np.nan), where=flat != 0)


def _rate(times: Sequence[float], values: np.ndarray) -> np.ndarray:
    """Time derivative by second-order differences (exact for quadratics); 2 or more times."""
    if len(times) < 2:
        raise ValueError(f"times: a rate needs at least 2 output times (got {len(times)}); "
                         "allowed: 2 or more")
    return np.gradient(values, np.asarray(times), edge_order=2 if len(times) > 2 else 1)
