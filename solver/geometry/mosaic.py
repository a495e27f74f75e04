"""Voronoi grains of a mosaic interphase layer (2D).

Grain seeds lie in rows parallel to the Li surface inside the layer (one row per grain size of
thickness, at least one), at jittered, seeded positions along the layer so that no grain is
much smaller than a third of the grain size. The Voronoi cells of the seeds (scipy), clipped to
the layer, are the grains. Grains are assigned to phases greedily, in seeded random order, each
to the phase whose area is furthest below its target fraction, so the phase areas match the
fractions to within about one grain.
"""

from __future__ import annotations

import numpy as np

from solver.geometry import profiles
from solver.geometry.spec import GeometryConfig, MosaicLayer

__all__ = ["assign_phases", "grain_seeds", "voronoi_cells"]


def _envelope_points(cfg: GeometryConfig, offset: float, spacing: float) -> np.ndarray:
    """Points along the upper envelope of the Li (and voids) offset by ``offset``, x in [0, W]."""
    chains = [profiles.base_profile(cfg, offset), *profiles.features(cfg, offset, with_voids=True)]
    polylines = [profiles.sample_chain(f, spacing) for f in chains]
    points = []
    for i, line in enumerate(polylines):
        keep = np.ones(len(line), dtype=bool)
        for j, other in enumerate(polylines):
            if i == j:
                continue
            inside = (line[:, 0] > other[0, 0]) & (line[:, 0] < other[-1, 0])
            y_other = np.interp(line[:, 0], other[:, 0], other[:, 1])
            keep &= ~(inside & (y_other > line[:, 1] + 1e-12 * (1.0 + abs(offset))))
        points.append(line[keep])
    pts = np.concatenate(points)
    pts = pts[(pts[:, 0] >= 0.0) & (pts[:, 0] <= cfg.domain.width)]
    return pts[np.argsort(pts[:, 0], kind="stable")]


def grain_seeds(cfg: GeometryConfig, layer: MosaicLayer, inner: float) -> np.ndarray:
    """Seed points of the grains of ``layer`` whose inner side is at offset ``inner``, m.

    Returns:
        (n, 2) array of seeds inside the layer.
    """
    rng = np.random.default_rng(layer.seed)
    d, t = layer.grain_size, layer.thickness
    rows = max(1, round(t / d))
    seeds = []
    for r in range(rows):
        offset = inner + (r + 0.5) * t / rows
        curve = _envelope_points(cfg, offset, spacing=min(d, t) / 8.0)
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(curve, axis=0).T))])
        n = max(1, round(arc[-1] / d))
        s = (np.arange(n) + 0.5 + 0.7 * (rng.random(n) - 0.5)) * arc[-1] / n
        seeds.append(
            np.column_stack([np.interp(s, arc, curve[:, 0]), np.interp(s, arc, curve[:, 1])])
        )
    return np.concatenate(seeds)


def voronoi_cells(seeds: np.ndarray, width: float, periodic: bool, extent: float):
    """Voronoi polygons of the seeds (with periodic images at +-W when ``periodic``).

    Returns:
        List of (grain index, (m, 2) polygon vertices); image cells carry their seed's index.
    """
    n = len(seeds)
    points, owner = [seeds], [np.arange(n)]
    if periodic:
        for shift in (-width, width):
            points.append(seeds + np.array([shift, 0.0]))
            owner.append(np.arange(n))
    far = 10.0 * extent
    points.append(np.array([[-far, -far], [far, -far], [far, far], [-far, far]]))
    all_points = np.concatenate(points)
    owners = np.concatenate(owner)
    from scipy.spatial import Voronoi  # 0.3 s of import: only for a mosaic layer

    vor = Voronoi(all_points)
    cells = []
    for i, grain in enumerate(owners):
        region = vor.regions[vor.point_region[i]]
        if -1 in region or not region:
            raise RuntimeError("unbounded Voronoi cell of a grain seed")
        cells.append((int(grain), vor.vertices[region]))
    return cells


def assign_phases(areas: np.ndarray, layer: MosaicLayer) -> np.ndarray:
    """Phase index of each grain so that the phase areas approach the target fractions.

    Args:
        areas: Area of each grain inside the layer, m^2.
        layer: The mosaic layer (fractions, seed).

    Returns:
        Integer array, phase index per grain.

    Raises:
        ValueError: There are fewer grains than phases (naming the ``grain_size`` key).
    """
    n_phases = len(layer.phases)
    if len(areas) < n_phases:
        raise ValueError(
            f"layers: a mosaic layer has fewer grains than phases (got grain_size "
            f"{layer.grain_size:g} m: {len(areas)} grains for {n_phases} phases); allowed: a "
            "smaller grain_size"
        )
    rng = np.random.default_rng(layer.seed + 1)
    target = np.array([p.fraction for p in layer.phases]) * areas.sum()
    filled = np.zeros(n_phases)
    phase = np.empty(len(areas), dtype=int)
    for i in rng.permutation(len(areas)):
        k = int(np.argmax(target - filled))
        phase[i] = k
        filled[k] += areas[i]
    return phase
