"""The surface-energy term: eta = phi_s - Phi + gamma V_m K / F at the Li surface.

Exact references (docs/theory.md, "Surface energy"):

* on a cylindrical cap (2D, K = 1/R) and a hemispherical cap (axisymmetric, K = 2/R) of a
  protrusion, with Phi = 0 and phi_s = -gamma V_m K / F, the shifted overpotential and hence the
  (linear-law) current vanish on the cap; on the flat (K = 0) they are those of phi_s alone.
  The residual |eta_cap| / |phi_s| is the relative error of the discrete curvature of the P2
  surface (second order: 1.8e-2 and 4.4e-3 at refinements 2 and 4 in tests/test_growth_kinematics
  .py), so the tolerances are those, and the 2D error is checked to fall with refinement;
* a flat surface (K = 0 exactly) gives the same solution as no term (1e-12);
* the term follows the geometry: after the mesh is scaled by 2, K halves.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import numpy as np
import pytest
from mpi4py import MPI

from solver.config import CaseConfig, ConfigError, load_config
from solver.constants import FARADAY
from solver.geometry import build_mesh
from solver.library.inorganic import LI_MOLAR_VOLUME
from solver.physics.surface_energy import SurfaceEnergy
from solver.problem import Simulation

R = 0.5e-6  # protrusion radius, m
GAMMA = 0.5  # J/m^2 (a test value; the library holds no cited gamma for Li)
I0 = 10.0  # A/m^2


def _case(*, protrusion: bool, coordinates: str = "cartesian", refinement: int = 2,
          gamma: float | None = GAMMA, layer: bool = False, current: float = 5.0) -> CaseConfig:
    geometry = {
        "coordinates": coordinates,
        "domain": {"width": 1.5e-6, "length": 3e-6},
        "mesh": {"far_field_size": "1um", "order": 2, "refinement": refinement},
        "protrusions": ([{"shape": "spherical", "x": 0.0, "y": 0.0, "radius": R}]
                        if protrusion else []),
        "layers": [{"name": "sei", "thickness": 50e-9}] if layer else [],
    }
    physics = {
        "electrolyte": {"type": "single_ion", "conductivity": 0.01},
        "kinetics": {"model": "linear", "exchange_current_density": I0},
        "control": {"mode": "galvanostatic", "current_density": current},
    }
    if layer:
        physics["interphase"] = {"sei": {"conductivity": 1e-4}}
    if gamma is not None:
        physics["surface_energy"] = {"gamma": gamma}
    return CaseConfig(geometry=geometry, physics=physics, time={"mode": "steady"})


def _simulation(case: CaseConfig, comm: MPI.Comm = MPI.COMM_SELF) -> Simulation:
    return Simulation(build_mesh(case.geometry, comm, None), case, comm)


def _cap_residual(coordinates: str, refinement: int) -> tuple[float, float]:
    """(max |j| on the cap / |j| on the flat, j on the flat / j(phi_s) exact - 1) at
    Phi = 0, phi_s = -gamma V_m K_cap / F."""
    sim = _simulation(_case(protrusion=True, coordinates=coordinates, refinement=refinement))
    k_cap = (1.0 if coordinates == "cartesian" else 2.0) / R
    sim.phi_s.value = -GAMMA * LI_MOLAR_VOLUME * k_cap / FARADAY
    sim.phi.x.array[:] = 0.0
    s = sim.sampler.sample()
    r = np.linalg.norm(s.x[:, :2], axis=1)
    # the cap away from its foot: the foot is a corner, whose node's K (the average of the cap's
    # and the flat's) enters the interpolation on the cap's first facets
    cap = (np.abs(r / R - 1.0) < 1e-2) & (s.x[:, 1] > 0.3 * R)
    flat = r > 1.5 * R  # beyond the foot corner's facets
    # linear law: j = -i0 f (alpha_a + alpha_c) eta
    kinetics = sim.surface.laws[0].kinetics
    j_flat = -I0 * kinetics.f * (kinetics.alpha_a + kinetics.alpha_c) * sim.phi_s.value
    assert cap.sum() > 10 and flat.sum() > 10
    return (float(np.max(np.abs(s.j[cap]))) / abs(j_flat),
            float(np.max(np.abs(s.j[flat] / j_flat - 1.0))))


def test_shift_cancels_on_a_cylindrical_cap_and_converges():
    """2D: |eta_cap| / |phi_s| = |K R - 1| below 1.5e-2 and 4e-3 (refinements 2, 4; measured
    1.2e-2, 3.1e-3), falling by > 3 (second order: 4x); the flat keeps j(phi_s) to round-off
    (K = 0 there)."""
    coarse, flat_coarse = _cap_residual("cartesian", 2)
    fine, flat_fine = _cap_residual("cartesian", 4)
    assert coarse < 1.5e-2 and fine < 4e-3 and coarse / fine > 3.0
    assert max(flat_coarse, flat_fine) < 1e-12


def test_shift_cancels_on_a_hemispherical_cap():
    """Axisymmetric: K = 2/R with the azimuthal n_r / r; |K R / 2 - 1| below 8e-3 (measured
    6.1e-3 at refinement 2)."""
    cap, flat = _cap_residual("axisymmetric", 2)
    assert cap < 8e-3 and flat < 1e-12


def test_residual_carries_the_shift():
    """The Newton system's Li current (the rate law at the variables eta of the residual) equals
    the sampled one (1e-12), and differs from the unshifted j(phi_s) A_Li (by the cap's share)."""
    sim = _simulation(_case(protrusion=True))
    sim.phi_s.value = -GAMMA * LI_MOLAR_VOLUME / (R * FARADAY)
    s = sim.sampler.sample()
    total = sim.domain.integrate(sim.surface_current_form)
    assert total == pytest.approx(float(np.sum(s.weight * s.j)), rel=1e-12)
    kinetics = sim.surface.laws[0].kinetics
    unshifted = -I0 * kinetics.f * (kinetics.alpha_a + kinetics.alpha_c) * sim.phi_s.value
    assert total < 0.7 * unshifted * sim.li_area


def _solved(case: CaseConfig, comm: MPI.Comm = MPI.COMM_SELF) -> tuple[float, np.ndarray]:
    sim = _simulation(case, comm)
    snapshot = next(iter(sim.run()))
    return snapshot.scalars["cell_voltage"], sim.phi.x.array.copy()


@pytest.mark.parametrize("layer", [False, True], ids=["bare", "interphase"])
def test_flat_surface_is_unchanged(layer):
    """K = 0 on a flat surface: the solution with the term equals the one without (1e-12)."""
    v_with, phi_with = _solved(_case(protrusion=False, layer=layer))
    v_without, phi_without = _solved(_case(protrusion=False, layer=layer, gamma=None))
    assert v_with == pytest.approx(v_without, rel=1e-12, abs=0.0)
    np.testing.assert_allclose(phi_with, phi_without, rtol=1e-12, atol=1e-12 * abs(v_without))


def test_protrusion_plates_less_with_surface_energy():
    """The tip's overpotential is raised by gamma V_m K / F: less current at the apex."""
    def apex_current(gamma):
        sim = _simulation(_case(protrusion=True, gamma=gamma, refinement=1))
        s = next(iter(sim.run())).surface
        return s.j[np.argmax(s.x[:, 1])]

    assert apex_current(50.0) < apex_current(None)


def test_curvature_follows_the_geometry():
    """After the mesh is scaled by 2 and update_geometry(), K halves (to round-off)."""
    case = _case(protrusion=True, refinement=1)
    bundle = build_mesh(case.geometry, MPI.COMM_SELF, None)
    term = SurfaceEnergy(GAMMA, bundle)
    before = term.curvature.x.array.copy()
    assert np.max(before) == pytest.approx(1.0 / R, rel=5e-2)
    bundle.mesh.geometry.x[:] *= 2.0
    term.update_geometry()
    np.testing.assert_allclose(term.curvature.x.array, 0.5 * before, rtol=1e-10,
                               atol=1e-12 / R)


def test_first_order_geometry_is_refused():
    """mesh.order 1 with a surface energy: a one-line error naming the key."""
    tree = {"name": "x", "base": _case(protrusion=False).model_dump(mode="json")}
    tree["base"]["geometry"]["mesh"]["order"] = 1
    with pytest.raises(ConfigError) as err:
        load_config(tree)
    assert err.value.problems == [
        "base.geometry.mesh.order: physics.surface_energy needs the mean curvature of the "
        "curved second-order geometry (got 1); allowed: 2, or no physics.surface_energy"
    ]


def test_gamma_with_units():
    case = _case(protrusion=False, gamma="500 mJ/m^2")
    assert case.physics.surface_energy.gamma == pytest.approx(0.5, rel=1e-15)


@pytest.mark.mpi
def test_parallel_equals_serial():
    """The steady protrusion with gamma: 2 ranks give the serial cell voltage (1e-8)."""
    case = _case(protrusion=True, gamma=50.0, refinement=1)
    parallel, _ = _solved(case, MPI.COMM_WORLD)
    serial, _ = _solved(case, MPI.COMM_SELF)
    assert MPI.COMM_WORLD.size == 2
    assert parallel == pytest.approx(serial, rel=1e-8)
