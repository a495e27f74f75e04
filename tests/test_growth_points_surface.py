"""A Li surface through given points (geometry ``surface: {kind: points}``), for remeshing.

References: a sinusoid A (1 + cos kx) sampled at n equidistant points is interpolated by the
clamped cubic spline to within 5/384 dx^4 A k^4 (the interpolation bound; the end slopes are
exact, 0), so the meshed Li-surface nodes must lie that close to the sinusoid (measured 6.4e-5 A
and 2.1e-6 A for n = 17 and 33, bounds 3.1e-4 A and 1.9e-5 A); a surface grown on a mesh and
remeshed from its gathered nodes keeps its shape to the same order (the new nodes lie on the
spline through the old ones).
"""

from __future__ import annotations

# isort: off
import solver  # noqa: F401  (loads the MPI library before dolfinx and mpi4py)

# isort: on
import math

import numpy as np
import pytest
from mpi4py import MPI
from pydantic import ValidationError

from solver.geometry import GeometryConfig, build_mesh
from solver.growth.kinematics import SurfaceKinematics
from solver.growth.morphology import surface_profile
from solver.growth.motion import MeshMotion
from solver.growth.space import DisplacementSpace

W, L, A = 2e-6, 4e-6, 0.2e-6
K = 2 * math.pi / W


def geometry(surface: dict, **extra) -> GeometryConfig:
    return GeometryConfig.model_validate({
        "domain": {"width": W, "length": L, **extra.pop("domain", {})},
        "surface": surface,
        "layers": [{"name": "sei", "thickness": "50nm"}],
        "mesh": {"far_field_size": "1um", "order": 2},
        **extra,
    })


def sampled_sinusoid(n: int) -> list[list[float]]:
    x = np.linspace(0.0, W, n)
    return np.stack([x, A * (1 + np.cos(K * x))], axis=1).tolist()


def li_nodes(cfg: GeometryConfig) -> np.ndarray:
    bundle = build_mesh(cfg, MPI.COMM_SELF, None)
    return SurfaceKinematics(bundle, DisplacementSpace(bundle.mesh)).points()


@pytest.mark.parametrize("n", [17, 33])
def test_sampled_sinusoid_is_meshed_within_the_spline_bound(n):
    points = li_nodes(geometry({"kind": "points", "points": sampled_sinusoid(n)}))
    error = np.max(np.abs(points[:, 1] - A * (1 + np.cos(K * points[:, 0]))))
    bound = 5 / 384 * (W / (n - 1)) ** 4 * A * K**4
    assert error < bound


def test_profile_continues_by_mirror_and_period():
    x = np.linspace(0.0, W, 9)
    pts = np.stack([x, A * (1 + np.cos(K * x)) + 0.1 * A * x / W], axis=1).tolist()
    pts[-1][1] = pts[0][1]  # periodic: same height at both ends
    cfg = geometry({"kind": "points", "points": pts})
    mirror = cfg.surface.profile(W, "symmetric")
    s = np.linspace(0.05 * W, 0.95 * W, 7)
    h, dh = mirror(s)
    for image, sign in ((-s, -1.0), (2 * W - s, -1.0), (2 * W + s, 1.0)):
        hi, dhi = mirror(image)
        np.testing.assert_allclose(hi, h, rtol=1e-14)
        np.testing.assert_allclose(dhi, sign * dh, rtol=1e-12)
    assert mirror(np.array([0.0, W]))[1] == pytest.approx([0.0, 0.0], abs=1e-15)
    periodic = cfg.surface.profile(W, "periodic")
    np.testing.assert_allclose(periodic(s + W)[0], periodic(s)[0], rtol=1e-14)
    np.testing.assert_allclose(periodic(np.array([0.0, W]))[1], periodic(np.array([W, 0.0]))[1],
                               rtol=1e-12)


@pytest.mark.parametrize(
    ("points", "extra", "message"),
    [
        ([[0, 0], [1e-6, 1e-7], [0.5e-6, 0], [W, 0]], {}, "surface.points: x must increase"),
        ([[1e-9, 0], [1e-6, 1e-7], [1.5e-6, 0], [W, 0]], {}, "surface.points: x must increase"),
        ([[0, 0], [1e-6, -1e-7], [1.5e-6, 0], [W, 0]], {}, "surface.points: heights lie"),
        ([[0, 0], [1e-6, 1e-7], [1.5e-6, 0], [3e-6, 0]], {}, "surface.points: the last x"),
        ([[0, 0], [1e-6, 1e-7], [1.5e-6, 0], [W, 1e-8]], {"domain": {"lateral": "periodic"}},
         "surface.points: periodic sides need"),
        ([[0, 0], [1e-6, 1e-7], [1.5e-6, 0], [W, 0]], {"dimension": 3},
         "surface.kind: a points surface is a 2D profile"),
        ([[0, 0], [W, 0]], {}, "at least 4 items"),
    ],
)
def test_bad_points_are_refused(points, extra, message):
    with pytest.raises(ValidationError, match=message):
        geometry({"kind": "points", "points": points}, **extra)


def test_remesh_from_a_grown_surface():
    """Grow a sinusoid non-uniformly, gather its nodes, rebuild: the new Li nodes lie on the
    grown surface (the spline through the gathered nodes) to the interpolation error."""
    bundle = build_mesh(geometry({"kind": "sinusoidal", "amplitude": A, "wavelength": W}),
                        MPI.COMM_SELF, None)
    space = DisplacementSpace(bundle.mesh)
    kinematics, motion = SurfaceKinematics(bundle, space), MeshMotion(bundle, space)
    for _ in range(3):
        surface = kinematics.displacement(lambda p: 20.0 * (1.0 + p[:, 1] / A), 10.0)
        motion.step(surface)
        kinematics.update()
    grown = surface_profile(kinematics)
    assert grown[0, 1] > 2 * A + 20e-9  # it really grew (about 27 nm at the crest)
    new = li_nodes(geometry({"kind": "points", "points": grown.tolist()}))
    on_old = np.interp(new[:, 0], grown[:, 0], grown[:, 1])
    chord = np.max(np.diff(grown[:, 0]))
    # the spline deviates from the polyline through the same nodes by ~ chord^2 kappa / 8
    assert np.max(np.abs(new[:, 1] - on_old)) < chord**2 * A * K**2 / 8 * 2
