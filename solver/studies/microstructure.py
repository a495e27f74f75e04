"""Random two-phase microstructures on pixel (2D) and voxel (3D) grids, and their connectivity.

A microstructure is a boolean array ``metal[i_0, ..., i_{d-1}]`` over ``n^d`` pixels of unit
size; pixel ``i`` covers ``[i, i + 1)`` along each axis and axis ``k`` is coordinate ``x_k``.
Particles are placed in the periodic box (their images wrap around), so the pattern is
statistically homogeneous up to the faces; a pixel is metal when its centre lies in a particle.

Models (all of one particle size, set by the semi-minor axis ``radius`` in pixels):

- overlapping (Boolean model): independent uniform centres, ``N = round(-ln(1 - φ) n^d / v)``
  particles of volume ``v``, so that the expected metal fraction is the target ``φ``;
  disks / spheres, or, with an aspect ratio ``AR > 1``, ellipses / prolate spheroids with
  semi-axes ``AR r`` and ``r`` and uniformly random orientation;
- hard (random sequential addition): disks / spheres that do not overlap (centre distance
  ``>= 2 r``), ``N = round(φ n^d / v)``; random sequential addition jams at φ = 0.547 (2D) and
  0.384 (3D), so the study accepts at most :data:`HARD_MAX_FRACTION`;
- laminates and the checkerboard (exact test cases).

Connectivity (:func:`spans`) uses the full neighbourhood (8 neighbours in 2D, 26 in 3D): in the
bilinear / trilinear finite-element problem of :mod:`solver.studies.effective`, two metal
cells that share only a vertex are coupled through that vertex with metal-sized stiffness, so
the discrete medium conducts through vertex contacts too. A pixel is metal when its centre lies
in a particle, so particles whose gap is below about a pixel connect: the pixel medium
percolates at a lower fraction than the continuum model, by O(1 / resolution) (measured in
docs/scenarios.md, Study 2). :func:`continuum_spans` tests spanning of the continuum model
itself (overlapping disks / spheres: the exact overlap graph), for comparison with the
literature thresholds. Only numpy and scipy are used.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import ndimage, sparse, spatial

__all__ = [
    "HARD_MAX_FRACTION",
    "Packing",
    "checkerboard",
    "continuum_spans",
    "laminate",
    "particles",
    "spans",
]

Packing = Literal["overlapping", "hard"]
"""Whether particles may overlap (Boolean model) or not (random sequential addition)."""

#: Largest metal fraction accepted for hard particles, by dimension (random sequential addition
#: jams at 0.547 in 2D and 0.384 in 3D; near jamming the insertion becomes very slow).
HARD_MAX_FRACTION = {2: 0.45, 3: 0.30}

_MAX_ATTEMPTS_PER_PARTICLE = 2000


def _volume(dim: int, radius: float, aspect_ratio: float) -> float:
    """Volume (area in 2D) of one particle in pixels."""
    if dim == 2:
        return math.pi * aspect_ratio * radius**2
    return 4.0 / 3.0 * math.pi * aspect_ratio * radius**3


def _orientations(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    """Unit vectors of the long axes, uniform on the circle / sphere, shape (count, dim)."""
    if dim == 2:
        angle = rng.uniform(0.0, math.pi, count)
        return np.stack([np.cos(angle), np.sin(angle)], axis=1)
    vectors = rng.normal(size=(count, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _hard_centres(rng: np.random.Generator, count: int, n: int, dim: int, radius: float
                  ) -> np.ndarray:
    """Random sequential addition of ``count`` non-overlapping spheres in the periodic box."""
    centres = np.empty((count, dim))
    placed, attempts = 0, 0
    limit = _MAX_ATTEMPTS_PER_PARTICLE * max(count, 1)
    while placed < count:
        attempts += 1
        if attempts > limit:
            raise RuntimeError(f"random sequential addition placed {placed} of {count} hard "
                               "particles: the fraction is too close to jamming")
        trial = rng.uniform(0.0, n, dim)
        gap = centres[:placed] - trial
        gap -= n * np.round(gap / n)
        if placed == 0 or np.min(np.einsum("ij,ij->i", gap, gap)) >= (2.0 * radius) ** 2:
            centres[placed] = trial
            placed += 1
    return centres


def particles(n: int, dim: int, fraction: float, radius: float, *, seed: int,
              packing: Packing = "overlapping", aspect_ratio: float = 1.0) -> np.ndarray:
    """A random particle microstructure.

    Args:
        n: Pixels per side.
        dim: 2 or 3.
        fraction: Target metal fraction (the expected value for overlapping particles).
        radius: Semi-minor axis of a particle, pixels.
        seed: Seed of the random generator (the same seed gives the same pattern).
        packing: ``"overlapping"`` or ``"hard"`` (hard: aspect ratio 1 only).
        aspect_ratio: Longest / shortest axis (ellipses, prolate spheroids).

    Returns:
        Boolean array of shape ``(n,) * dim``, True where metal.

    Raises:
        ValueError: Hard particles with an aspect ratio other than 1.
        RuntimeError: Random sequential addition could not place every hard particle.
    """
    rng = np.random.default_rng(seed)
    volume = _volume(dim, radius, aspect_ratio)
    if packing == "hard":
        if aspect_ratio != 1.0:
            raise ValueError(f"hard particles are disks or spheres (got aspect ratio "
                             f"{aspect_ratio})")
        count = round(fraction * n**dim / volume)
        centres = _hard_centres(rng, count, n, dim, radius)
    else:
        count = round(-math.log1p(-fraction) * n**dim / volume) if fraction < 1.0 else -1
        if count < 0:
            return np.ones((n,) * dim, dtype=bool)
        centres = rng.uniform(0.0, n, (count, dim))
    axes = _orientations(rng, len(centres), dim)
    metal = np.zeros((n,) * dim, dtype=bool)
    reach = aspect_ratio * radius
    offsets = np.arange(-math.ceil(reach) - 1, math.ceil(reach) + 2)
    stencil = np.stack(np.meshgrid(*([offsets] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    for centre, axis in zip(centres, axes, strict=True):
        pixels = np.floor(centre).astype(int) + stencil
        rel = pixels + 0.5 - centre
        along = rel @ axis
        across2 = np.einsum("ij,ij->i", rel, rel) - along**2
        inside = (along / reach) ** 2 + across2 / radius**2 <= 1.0
        hit = np.mod(pixels[inside], n)
        metal[tuple(hit.T)] = True
    return metal


def laminate(n: int, dim: int, layers: int, along_flow: bool) -> np.ndarray:
    """Alternating metal / matrix layers of equal thickness (metal first).

    Args:
        n: Pixels per side (a multiple of ``2 * layers`` keeps the fraction exactly 1/2).
        dim: 2 or 3.
        layers: Number of metal layers.
        along_flow: Layers parallel to the flow direction (the last axis: conductors in
            parallel) instead of across it (in series).
    """
    axis = 0 if along_flow else dim - 1
    index = np.arange(n) * 2 * layers // n
    stripe = index % 2 == 0
    shape = [1] * dim
    shape[axis] = n
    return np.broadcast_to(stripe.reshape(shape), (n,) * dim).copy()


def checkerboard(n: int, squares: int) -> np.ndarray:
    """A 2D checkerboard whose cell faces x = 0, 1 and y = 0, 1 are its squares' mid-lines.

    The squares have side ``n / squares`` pixels and are shifted by half a side, so the faces
    are mirror lines of the infinite checkerboard: with the potential drop along y and
    insulated sides the finite sample has the infinite checkerboard's effective conductivity,
    exactly sqrt(σ1 σ2) (Dykhne 1971; Keller 1964).

    Args:
        n: Pixels per side (a multiple of ``2 * squares``).
        squares: Squares per side.
    """
    side = n // squares
    index = (np.arange(n) + side // 2) // side
    return (index[:, None] + index[None, :]) % 2 == 0


def spans(metal: np.ndarray) -> bool:
    """Whether a metal cluster connects the faces across the last axis (full neighbourhood)."""
    labels, _ = ndimage.label(metal, structure=np.ones((3,) * metal.ndim, dtype=bool))
    first = np.unique(labels[..., 0])
    last = np.unique(labels[..., -1])
    return bool(np.intersect1d(first[first > 0], last[last > 0]).size)


def continuum_spans(box: float, dim: int, fraction: float, *, seed: int) -> bool:
    """Whether overlapping unit disks / spheres (Boolean model) span a box of side ``box``.

    Centres form a Poisson process of intensity η / v (v: particle volume, η = -ln(1 - φ),
    so φ is the expected covered fraction) in the slab ``[0, box)^(d-1) x [-1, box + 1)``,
    periodic across the sides; two particles connect when their centres are closer than 2
    (exact overlap). The box spans when one cluster holds a particle touching the face
    ``x_{d-1} = 0`` (centre below 1) and one touching ``x_{d-1} = box`` (centre above
    ``box - 1``).

    Args:
        box: Box side in particle radii.
        dim: 2 or 3.
        fraction: φ, the expected covered fraction.
        seed: Seed of the random generator.
    """
    rng = np.random.default_rng(seed)
    eta = -math.log1p(-fraction)
    height = box + 2.0
    count = rng.poisson(eta * box ** (dim - 1) * height / _volume(dim, 1.0, 1.0))
    low = np.array([0.0] * (dim - 1) + [0.0])
    high = np.array([box] * (dim - 1) + [height])
    centres = rng.uniform(low, high, (count, dim))
    if count < 2:
        return False
    # periodic across the sides; along the flow axis the box is far larger than the slab
    tree = spatial.cKDTree(centres, boxsize=np.array([box] * (dim - 1) + [4.0 * height]))
    pairs = tree.query_pairs(2.0, output_type="ndarray")
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                              shape=(count, count))
    _, labels = sparse.csgraph.connected_components(graph, directed=False)
    first = labels[centres[:, -1] < 2.0]
    last = labels[centres[:, -1] > height - 2.0]
    return bool(np.intersect1d(first, last).size)
