"""Morphology measures (solver/growth/morphology.py) on exact profiles.

References: a sinusoid sampled over whole periods has RMS a / sqrt(2) and the trapezoidal mean
is exact for it (1e-12); the axisymmetric RMS of h = r over a disk is R / sqrt(18) (trapezoidal
rule on 2001 nodes: O(dr^2) ~ 1e-7, tolerance 1e-6); a profile raised by delta, or a circle
offset radially by delta (same angles), has the deposit thickness delta everywhere (flat: exact;
circle: the later polyline's chords lie within delta (1 - cos(dtheta/2)) ~ 1e-7 delta of the
arc, tolerance 1e-6); heights quadratic in time give exact rates (1e-12).
"""

from __future__ import annotations

# isort: off
import solver  # noqa: F401  (loads the MPI library before dolfinx and mpi4py)

# isort: on
import math

import numpy as np
import pytest
from conftest import make_flat_bundle
from mpi4py import MPI

from solver.growth.kinematics import SurfaceKinematics
from solver.growth.morphology import (
    MorphologySeries,
    apex_height,
    deposit_thickness,
    rms_roughness,
    surface_profile,
)
from solver.growth.space import DisplacementSpace

LAMBDA, A, H0 = 1e-6, 50e-9, 0.2e-6


def sinusoid(n: int = 301, shift: float = 0.0) -> np.ndarray:
    x = np.linspace(0.0, 3 * LAMBDA, n)
    return np.stack([x, H0 + shift + A * np.sin(2 * np.pi * x / LAMBDA)], axis=1)


def test_sinusoid_apex_and_rms():
    profile = sinusoid()
    assert apex_height(profile) == pytest.approx(H0 + A, rel=1e-14)
    assert rms_roughness(profile) == pytest.approx(A / math.sqrt(2), rel=1e-12)
    flat = np.stack([profile[:, 0], np.full(len(profile), H0)], axis=1)
    assert rms_roughness(flat) < 1e-15 * H0  # round-off of the mean


def test_axisymmetric_rms_weights_by_radius():
    R = 2e-6
    r = np.linspace(0.0, R, 2001)
    profile = np.stack([r, r], axis=1)
    assert rms_roughness(profile, "axisymmetric") == pytest.approx(R / math.sqrt(18), rel=1e-6)
    assert rms_roughness(profile) == pytest.approx(R / math.sqrt(12), rel=1e-6)


@pytest.mark.parametrize("delta", [30e-9, -30e-9])
def test_thickness_of_a_raised_profile(delta):
    x = np.linspace(0.0, 2e-6, 41)
    before = np.stack([x, np.zeros_like(x)], axis=1)
    after = np.stack([x, np.full_like(x, delta)], axis=1)
    np.testing.assert_allclose(deposit_thickness(before, after), delta, rtol=1e-12)


def test_thickness_of_a_concentric_arc():
    """A quarter circle of radius R grown radially by delta: thickness delta along it."""
    R, delta = 1e-6, 0.1e-6
    theta = np.linspace(np.pi / 2, 0.0, 1001)
    before = R * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    after = (R + delta) * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    np.testing.assert_allclose(deposit_thickness(before, after), delta, rtol=1e-6)
    np.testing.assert_allclose(deposit_thickness(after, before), -delta, rtol=1e-6)


def test_series_rates_and_ratio():
    """Apex h = h0 + v t + c t^2 and flat h = u t: rates v + 2 c t and u, ratio their quotient."""
    v, c, u = 2e-9, 3e-12, 1e-9
    times = [0.0, 50.0, 120.0, 300.0, 600.0]
    series = MorphologySeries(flat_x=2.5e-6)
    x = np.linspace(0.0, 3e-6, 61)
    for t in times:
        bump = np.exp(-(((x - 0.5e-6) / 0.2e-6) ** 2))
        h = u * t + (H0 + (v - u) * t + c * t**2) * bump
        h[np.argmin(np.abs(x - 0.5e-6))] = H0 + v * t + c * t**2  # the apex node, exactly
        series.add(t, np.stack([x, h], axis=1))
    t = np.array(times)
    np.testing.assert_allclose(series.tip_rate(), v + 2 * c * t, rtol=1e-9)
    np.testing.assert_allclose(series.flat_rate(), u, rtol=1e-9)
    np.testing.assert_allclose(series.rate_ratio(), (v + 2 * c * t) / u, rtol=1e-9)
    assert series.roughness()[-1] > series.roughness()[0]
    with pytest.raises(ValueError, match="t: times must increase"):
        series.add(600.0, np.stack([x, x], axis=1))


@pytest.mark.mpi
def test_profile_gathered_from_two_ranks_equals_serial():
    """The ordered surface nodes of a bent cell: each node once, the serial profile."""

    def profile(comm):
        bundle = make_flat_bundle(comm, 2e-6, 4e-6, (16, 8))
        x = bundle.mesh.geometry.x
        x[:, 1] += 0.1e-6 * np.cos(np.pi * x[:, 0] / 2e-6) * (1 - x[:, 1] / 4e-6)
        return surface_profile(SurfaceKinematics(bundle, DisplacementSpace(bundle.mesh)))

    parallel = profile(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.rank == 0:
        serial = profile(MPI.COMM_SELF)
        assert len(serial) == 17
        np.testing.assert_array_equal(parallel, serial)
        assert np.all(np.diff(serial[:, 0]) > 0)
    else:
        assert parallel is None
