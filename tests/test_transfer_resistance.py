"""Interfacial ion-transfer resistance R_it: a potential jump Phi - Phi_elyte = R_it i.n.

Exact references:

* flat cells (1D current): R_it adds exactly R_it to the area-specific resistance and the jump
  equals J R_it, with a single-ion or a binary electrolyte (tolerance 1e-9: solver round-off,
  the solutions are linear or, for the salt, unchanged by R_it);
* a 2D cell with a cos(kx) surface source: the separable solution (cosh/sinh modes in each
  layer, coupled by the jump and flux continuity) is matched at the rates p + 1 of Lagrange
  P1 and P2 in L2 (measured rates within 0.15 of the theory);
* rejections name the key: R_it on a region that does not touch the electrolyte, or on only
  some of the regions that do.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import math
from types import SimpleNamespace

import numpy as np
import pytest
import ufl
from conftest import make_flat_bundle
from dolfinx import fem
from mpi4py import MPI

from solver.constants import FARADAY, GAS_CONSTANT
from solver.geometry import GeometryConfig, build_mesh
from solver.kinetics import charge_transfer_resistance
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.problem import Simulation, SimulationError

T = 298.15
SIGMA, SIGMA_SEI, I0 = 0.05, 2e-6, 20.0  # S/m, S/m, A/m^2
L_E, H = 50e-6, 20e-9  # electrolyte and interphase thickness, m
R_IT = 2e-3  # ohm m^2 (20 ohm cm^2: the order reported for Li+ transfer across SEI | liquid)


def _case(physics: dict, degree: int = 2, time: TimeConfig | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        physics=PhysicsConfig(**physics),
        time=time or TimeConfig(),
        numerics=NumericsConfig(degree=degree),
    )


def _physics(r_it: float, electrolyte: dict, control: dict, kinetics: str = "linear") -> dict:
    return {
        "electrolyte": electrolyte,
        "kinetics": {"model": kinetics, "exchange_current_density": I0},
        "interphase": {"sei": {"conductivity": SIGMA_SEI, "transfer_resistance": r_it}},
        "control": control,
    }


SINGLE_ION = {"type": "single_ion", "conductivity": SIGMA}
BINARY = {
    "type": "dilute",
    "bulk_concentration": 1000.0,
    "diffusivity": 3e-10,
    "transference_number": 0.38,
}


def _interface_values(u: fem.Function, y: float) -> np.ndarray:
    """Owned dof values of u on the plane y (the last coordinate)."""
    space = u.function_space
    owned = space.dofmap.index_map.size_local
    x = space.tabulate_dof_coordinates()[:owned]
    return u.x.array[:owned][np.isclose(x[:, space.mesh.topology.dim - 1], y, rtol=0, atol=1e-12)]


@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize(
    ("coordinates", "n"),
    [("cartesian", (3, 12)), ("axisymmetric", (3, 12)), ("cartesian", (2, 2, 8))],
)
def test_transfer_resistance_adds_to_the_asr(degree, coordinates, n):
    """Flat single-ion cell: ASR(R_it) - ASR(0) = R_it; Phi_elyte - Phi = J R_it on the boundary."""
    J = 10.0
    bundle = make_flat_bundle(
        MPI.COMM_WORLD, 10e-6, L_E + H, n, layer=("sei", H, 3), coordinates=coordinates
    )
    asr = []
    for r_it in (0.0, R_IT):
        physics = _physics(r_it, SINGLE_ION, {"mode": "galvanostatic", "current_density": J})
        sim = Simulation(bundle, _case(physics, degree), MPI.COMM_WORLD)
        snap = next(iter(sim.run()))
        assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-10)
        assert snap.scalars["counter_current"] == pytest.approx(J, rel=1e-8)
        asr.append(-snap.scalars["cell_voltage"] / J)
    r_ct = charge_transfer_resistance(I0, 0.5, 0.5, T)
    assert asr[0] == pytest.approx(r_ct + H / SIGMA_SEI + L_E / SIGMA, rel=1e-9)
    assert asr[1] - asr[0] == pytest.approx(R_IT, rel=1e-9)
    jump = _interface_values(sim.phi_elyte, H)[:, None] - _interface_values(sim.phi, H)[None, :]
    assert np.allclose(jump, J * R_IT, rtol=1e-9, atol=0.0)
    # Wa_int / Wa = (R_ct + h/sigma + R_it) / R_ct (linear regime: J < 2 i0)
    ratio = snap.dimensionless["wagner_with_interphase"] / snap.dimensionless["wagner"]
    assert ratio * r_ct == pytest.approx(r_ct + H / SIGMA_SEI + R_IT, rel=1e-9)


def test_binary_electrolyte_voltage_shift():
    """Flat steady binary cell: R_it shifts phi_s by exactly -J R_it; the salt is unchanged."""
    J = 2.0
    bundle = make_flat_bundle(MPI.COMM_WORLD, 10e-6, L_E + H, (2, 16), layer=("sei", H, 3))
    snaps = []
    for r_it in (0.0, R_IT):
        physics = _physics(
            r_it, BINARY, {"mode": "galvanostatic", "current_density": J}, "butler_volmer"
        )
        snaps.append(next(iter(Simulation(bundle, _case(physics), MPI.COMM_WORLD).run())))
    shift = snaps[1].scalars["cell_voltage"] - snaps[0].scalars["cell_voltage"]
    assert shift == pytest.approx(-J * R_IT, rel=1e-8)
    for key in ("min_surface_concentration", "salt_inventory"):
        assert snaps[1].scalars[key] == pytest.approx(snaps[0].scalars[key], rel=1e-10)
    assert snaps[1].scalars["counter_current"] == pytest.approx(J, rel=1e-8)


# 2D cell with a cos(kx) surface source: W x L, interphase 0 < y < h, symmetric sides.
W2, L2, H2 = 10e-6, 10e-6, 2.5e-6
SIGMA2, R_IT2, G2, V2 = 0.01, 3e-4, 10.0, -0.01  # S/m, ohm m^2, A/m^2, V


def _modal_exact() -> tuple[list[float], list[float]]:
    """Coefficients of Phi_I = a + b y + (A cosh ky + B sinh ky) cos kx and
    Phi_E = e (L - y) + C sinh(k (L - y)) cos kx (see the module docstring)."""
    k = math.pi / W2
    r_ct = GAS_CONSTANT * T / (FARADAY * I0)
    s, kap, r = SIGMA2, SIGMA, R_IT2
    # mode 0 (a, b, e): Li kinetics, flux continuity, jump
    m0 = np.array([[-1.0 / r_ct, s, 0.0], [0.0, s, kap], [1.0, H2 + r * s, -(L2 - H2)]])
    a, b, e = np.linalg.solve(m0, [-V2 / r_ct, 0.0, 0.0])
    ch, sh = math.cosh(k * H2), math.sinh(k * H2)
    che, she = math.cosh(k * (L2 - H2)), math.sinh(k * (L2 - H2))
    m1 = np.array(
        [
            [-1.0 / r_ct, s * k, 0.0],
            [s * k * sh, s * k * ch, kap * k * che],
            [ch + r * s * k * sh, sh + r * s * k * ch, -she],
        ]
    )
    A, B, C = np.linalg.solve(m1, [G2, 0.0, 0.0])
    return [a, b, A, B], [e, C]


def _modal_error(comm: MPI.Comm, n: int, degree: int) -> tuple[float, float]:
    """Relative L2 error of (Phi, Phi_elyte) and the mean current density."""
    k = math.pi / W2
    bundle = make_flat_bundle(comm, W2, L2, (n, n), layer=("sei", H2, n // 4))
    physics = _physics(R_IT2, SINGLE_ION, {"mode": "potentiostatic", "potential": V2})
    physics["interphase"]["sei"]["conductivity"] = SIGMA2
    sources = {"li_charge": lambda x: G2 * ufl.cos(k * x[0])}
    sim = Simulation(bundle, _case(physics, degree), comm, sources=sources)
    snap = next(iter(sim.run()))
    (a, b, A, B), (e, C) = _modal_exact()
    x = sim.x
    exact_i = a + b * x[1] + (A * ufl.cosh(k * x[1]) + B * ufl.sinh(k * x[1])) * ufl.cos(k * x[0])
    exact_e = e * (L2 - x[1]) + C * ufl.sinh(k * (L2 - x[1])) * ufl.cos(k * x[0])
    dx = sim.dx
    err = sim._integrate((sim.phi - exact_i) ** 2 * dx(2) + (sim.phi_elyte - exact_e) ** 2 * dx(1))
    norm = sim._integrate(exact_i**2 * dx(2) + exact_e**2 * dx(1))
    return math.sqrt(err / norm), snap.scalars["current_mean"]


@pytest.mark.slow
@pytest.mark.parametrize("degree", [1, 2])
def test_modal_solution_converges_at_the_optimal_rate(degree):
    """L2 errors against the separable 2D solution fall at rate p + 1 (within 0.15)."""
    errors = [_modal_error(MPI.COMM_WORLD, n, degree)[0] for n in (8, 16, 32)]
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert rates[-1] == pytest.approx(degree + 1, abs=0.15), (errors, rates)
    assert errors[-1] < {1: 1e-3, 2: 1e-5}[degree], errors


@pytest.mark.mpi
def test_parallel_equals_serial():
    """The split-potential solve on the communicator equals the serial one (1e-8 relative)."""
    parallel = _modal_error(MPI.COMM_WORLD, 8, 2)
    serial = _modal_error(MPI.COMM_SELF, 8, 2)
    assert parallel == pytest.approx(serial, rel=1e-8)


def _layered(layers: list[dict]) -> object:
    cfg = GeometryConfig.model_validate(
        {
            "domain": {"width": 2e-6, "length": 4e-6},
            "layers": layers,
            "mesh": {"far_field_size": "1um"},
        }
    )
    return build_mesh(cfg, MPI.COMM_WORLD, None)


@pytest.mark.parametrize(
    ("layers", "transfer", "message"),
    [
        (
            [{"name": "inner", "thickness": 20e-9}, {"name": "outer", "thickness": 20e-9}],
            {"inner": R_IT, "outer": R_IT},
            "inner.transfer_resistance: the region does not touch",
        ),
        (
            [
                {
                    "kind": "mosaic",
                    "thickness": 50e-9,
                    "grain_size": 200e-9,
                    "phases": [
                        {"name": "lif", "fraction": 0.5},
                        {"name": "organic", "fraction": 0.5},
                    ],
                }
            ],
            {"lif": R_IT, "organic": 0.0},
            "organic.transfer_resistance: every interphase region touching",
        ),
    ],
)
def test_rejections_name_the_key(layers, transfer, message):
    bundle = _layered(layers)
    physics = _physics(0.0, SINGLE_ION, {"mode": "galvanostatic", "current_density": 1.0})
    physics["interphase"] = {
        name: {"conductivity": SIGMA_SEI, "transfer_resistance": r} for name, r in transfer.items()
    }
    with pytest.raises(SimulationError, match=message):
        Simulation(bundle, _case(physics), MPI.COMM_WORLD)


def test_mosaic_phases_with_their_own_resistances():
    """Two phases with different R_it: all of the current crosses the boundary (conservation)."""
    J = 5.0
    layer = {
        "kind": "mosaic",
        "thickness": 50e-9,
        "grain_size": 200e-9,
        "phases": [{"name": "lif", "fraction": 0.5}, {"name": "organic", "fraction": 0.5}],
    }
    bundle = _layered([layer])
    physics = _physics(0.0, SINGLE_ION, {"mode": "galvanostatic", "current_density": J})
    physics["interphase"] = {
        "lif": {"conductivity": 1e-4, "transfer_resistance": R_IT},
        "organic": {"conductivity": 1e-6, "transfer_resistance": 10 * R_IT},
    }
    sim = Simulation(bundle, _case(physics), MPI.COMM_WORLD)
    snap = next(iter(sim.run()))
    crossing = sum(
        sim._integrate(-(sim.phi("+") - sim.phi_elyte("+")) / r * sim.dS_it(bundle.regions[name]))
        for name, r in sim.transfer_resistance.items()
    )
    assert crossing / snap.scalars["projected_area"] == pytest.approx(J, rel=1e-8)
    assert snap.scalars["counter_current"] == pytest.approx(J, rel=1e-8)
    # the output potential is discontinuous: Phi_elyte above Phi on the boundary while plating
    assert snap.fields["potential"].function_space.ufl_element().discontinuous


def test_periodic_sides_with_split_potentials():
    """Periodic sides constrain Phi and Phi_elyte alike: the flat-cell shift is still R_it."""
    J = 10.0
    bundle = make_flat_bundle(MPI.COMM_WORLD, 10e-6, L_E + H, (4, 12), layer=("sei", H, 3))
    voltages = []
    for r_it in (0.0, R_IT):
        case = _case(_physics(r_it, SINGLE_ION, {"mode": "galvanostatic", "current_density": J}))
        case.geometry = SimpleNamespace(domain=SimpleNamespace(lateral="periodic"))
        sim = Simulation(bundle, case, MPI.COMM_WORLD)
        voltages.append(next(iter(sim.run())).scalars["cell_voltage"])
    assert sim.sys_phi.periodic is not None and len(sim.sys_phi.unknowns) == 2
    assert voltages[1] - voltages[0] == pytest.approx(-J * R_IT, rel=1e-9)


def test_primary_kinetics_with_split_potentials():
    """Primary limit (Phi = phi_s on the Li): phi_s = -J (h/sigma + R_it + L/kappa), and the Li
    current (reaction of the Dirichlet rows) equals the counter current, to 1e-9."""
    J = 10.0
    bundle = make_flat_bundle(MPI.COMM_WORLD, 10e-6, L_E + H, (3, 12), layer=("sei", H, 3))
    physics = _physics(R_IT, SINGLE_ION, {"mode": "galvanostatic", "current_density": J}, "primary")
    snap = next(iter(Simulation(bundle, _case(physics), MPI.COMM_WORLD).run()))
    expected = -J * (H / SIGMA_SEI + R_IT + L_E / SIGMA)
    assert snap.scalars["cell_voltage"] == pytest.approx(expected, rel=1e-9)
    assert snap.scalars["current_mean"] == pytest.approx(J, rel=1e-9)
    assert snap.scalars["counter_current"] == pytest.approx(J, rel=1e-9)
