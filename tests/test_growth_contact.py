"""Loss of contact with a rigid electrolyte during stripping (issue 11; solver/growth/contact.py).

Through the full solver (``Simulation.run``) with ``physics.growth.enabled`` and a single-ion
(ceramic, rigid by default) electrolyte.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import growth_case, make_flat_bundle
from mpi4py import MPI

from solver.constants import FARADAY
from solver.library.inorganic import LI_MOLAR_VOLUME
from solver.problem import Simulation

J = 50.0  # A/m^2 (5 mA/cm^2)
WIDTH, HEIGHT, LAYER = 2e-6, 5e-6, 50e-9
CERAMIC = {"type": "single_ion", "conductivity": 1e-2}


def _flat_run(protocol: list[dict], t_end: float, outputs: list[float], **growth) -> list[dict]:
    """Scalars at the output times of the flat ceramic cell (50 nm layer) under a protocol."""
    comm = MPI.COMM_WORLD
    bundle = make_flat_bundle(comm, WIDTH, HEIGHT, (4, 12), layer=("sei", LAYER, 2))
    case = growth_case(
        CERAMIC, {"mode": "galvanostatic", "protocol": protocol},
        {"t_end": t_end, "dt": 0.1, "adaptivity": "none", "output_times": outputs}, **growth,
    )
    return [snapshot.scalars for snapshot in Simulation(bundle, case, comm).run()]


def test_flat_stripping_loses_contact_everywhere_at_gap_over_rate():
    """Stripping J uniformly recedes the flat Li at v = J V_m/F = 6.74 nm/s from the ceramic.

    Contact is lost everywhere at t* = gap F/(J V_m) (2 nm: t* = 0.297 s), detected at the end
    of the step holding t*: t* <= t_lost < t* + dt (dt = 0.1 s; exact up to the step size). The
    gap at 1 s is v t to 1e-10 relative (uniform j, a piecewise constant protocol), the lost
    fraction 0 before t* and 1 after.
    """
    strip = [{"kind": "reverse_pulse", "duration": 1.0, "value": J}]
    early, late = _flat_run(strip, 1.0, [0.2, 1.0], contact_gap="2 nm")
    rate = J * LI_MOLAR_VOLUME / FARADAY
    t_star = 2e-9 / rate
    assert early["contact_lost_fraction"] == 0.0
    assert math.isnan(early["contact_lost_time"])
    assert early["contact_gap_max"] == pytest.approx(0.2 * rate, rel=1e-10)
    assert late["contact_lost_fraction"] == pytest.approx(1.0, rel=1e-12)
    assert t_star <= late["contact_lost_time"] < t_star + 0.1
    assert late["contact_gap_max"] == pytest.approx(1.0 * rate, rel=1e-10)


def test_plating_never_loses_contact_and_closes_a_gap():
    """Plating 1 s keeps the gap at 0; stripping 0.5 s (3.4 nm, under the default 5 nm) then
    plating 1 s closes it again (gap 0: the Li refills it), contact never lost."""
    plate = [{"kind": "pulse", "duration": 1.0, "value": J}]
    (plated,) = _flat_run(plate, 1.0, [1.0])
    assert plated["contact_gap_max"] == 0.0
    strip_plate = [{"kind": "reverse_pulse", "duration": 0.5, "value": J},
                   {"kind": "pulse", "duration": 1.0, "value": J}]
    stripped, replated = _flat_run(strip_plate, 1.5, [0.5, 1.5])
    assert stripped["contact_gap_max"] == pytest.approx(0.5 * J * LI_MOLAR_VOLUME / FARADAY,
                                                        rel=1e-10)
    for scalars in (plated, stripped, replated):
        assert scalars["contact_lost_fraction"] == 0.0
        assert math.isnan(scalars["contact_lost_time"])
    assert replated["contact_gap_max"] == 0.0


@pytest.mark.parametrize(("electrolyte", "rigid", "tracked"), [
    (CERAMIC, None, True),
    ({"type": "dilute", "bulk_concentration": 1000.0, "cation_diffusivity": 1e-10,
      "anion_diffusivity": 1.5e-10}, None, False),
    (CERAMIC, False, False),
])
def test_rigid_electrolyte_default_follows_the_electrolyte_type(electrolyte, rigid, tracked):
    """A single-ion (ceramic) electrolyte is rigid unless said otherwise; a liquid is not."""
    comm = MPI.COMM_WORLD
    bundle = make_flat_bundle(comm, WIDTH, HEIGHT, (2, 4), layer=("sei", LAYER, 1))
    case = growth_case(electrolyte, {"mode": "galvanostatic", "current_density": J},
                 {"t_end": 1.0, "dt": 0.5}, rigid_electrolyte=rigid)
    assert (Simulation(bundle, case, comm).contact is not None) is tracked


def _protrusion(comm: MPI.Comm):
    """A bare semicircular protrusion (R 0.5 um at x = 0), P2 Gmsh mesh, 1.5 x 3 um."""
    from solver.geometry import GeometryConfig, build_mesh

    cfg = GeometryConfig.model_validate({
        "domain": {"width": 1.5e-6, "length": 3e-6},
        "protrusions": [{"shape": "spherical", "x": 0.0, "radius": 0.5e-6}],
        "mesh": {"far_field_size": "1um", "order": 2, "refinement": 3.0},
    })
    return build_mesh(cfg, comm, None)


def _strip_protrusion(comm: MPI.Comm) -> dict:
    """Strip 200 A/m^2 for 1 s from the bare protrusion at Wa ~ 1e-4 (current focused on it)."""
    case = growth_case(
        {"type": "single_ion", "conductivity": 1e-4},
        {"mode": "galvanostatic", "current_density": -200.0},
        {"t_end": 1.0, "dt": 0.125, "adaptivity": "none", "output_times": [1.0]},
        contact_gap="30 nm",
    )
    case.physics = case.physics.model_copy(update={"kinetics": case.physics.kinetics.model_copy(
        update={"exchange_current_density": 1e5})})
    *_, snapshot = Simulation(_protrusion(comm), case, comm).run()
    return snapshot.scalars


def test_stripped_protrusion_loses_contact_first_at_the_apex():
    """At Wa ~ 1e-4 stripping concentrates on the apex (about 2.5x the mean, as plating does):
    it recedes 30 nm well before the mean recession V_m/F J t = 27 nm at 1 s is reached, so
    contact is lost first at the apex (x < 0.05 R of the axis) and after 1 s only on part of
    the surface."""
    scalars = _strip_protrusion(MPI.COMM_WORLD)
    mean_time = 30e-9 * FARADAY / (200.0 * LI_MOLAR_VOLUME)  # 1.11 s: the flat's time
    assert scalars["contact_lost_time"] < 0.75 * mean_time
    assert abs(scalars["contact_lost_position"]) < 0.05 * 0.5e-6
    assert 0.0 < scalars["contact_lost_fraction"] < 0.5


@pytest.mark.mpi
def test_contact_two_ranks_equal_serial():
    """The contact scalars of the stripped protrusion on 2 ranks equal serial to 1e-8."""
    parallel = _strip_protrusion(MPI.COMM_WORLD)
    serial = _strip_protrusion(MPI.COMM_SELF)
    for name in ("contact_lost_fraction", "contact_gap_max", "contact_lost_time",
                 "contact_lost_position"):
        assert parallel[name] == pytest.approx(serial[name], rel=1e-8, abs=1e-8 * 0.5e-6), name


def test_stripping_run_writes_contact_timeseries_and_report(tmp_path):
    """lidep's run (solver.api.run) of the minimal example (ceramic: rigid by default) stripped
    at 5 mA/cm^2 for 2 s (steps of at most 0.5 s): the timeseries holds contact_lost_fraction 0
    at 0.5 s (3.4 nm < 5 nm) and 1 at 2 s (flat, uniform), the lost time within a step after
    t* = 0.742 s, and the report its contact statement."""
    import csv

    from solver.api import run

    minimal = Path(__file__).resolve().parents[1] / "configs" / "examples" / "minimal.yaml"
    overrides = ["time.mode=transient", "time.t_end=2 s", "time.dt=0.5 s",
                 "time.output_times=[0.5, 2]",
                 "physics.growth.enabled=true",
                 "physics.control.current_density=-5 mA/cm^2"]
    run_dir = run(minimal, tmp_path / "results", overrides=overrides,
                  mesh_cache=tmp_path / "meshes")
    case_dir = next(p for p in run_dir.iterdir() if (p / "timeseries.csv").is_file())
    with open(case_dir / "timeseries.csv") as f:
        rows = [r for r in csv.DictReader(f) if float(r["t"]) > 0]
    assert [float(r["contact_lost_fraction"]) for r in rows] == pytest.approx([0.0, 1.0])
    t_star = 5e-9 * FARADAY / (50.0 * LI_MOLAR_VOLUME)
    lost = float(rows[-1]["contact_lost_time"])
    assert t_star <= lost < t_star + 0.5
    report = (run_dir / "report.md").read_text()
    assert "## Contact with a rigid electrolyte" in report
    assert f"contact first lost at t = {lost:.4g} s" in report


def _flat_strip_simulation() -> Simulation:
    """The flat ceramic cell stripped at J for 1.5 s (g_c = 2 nm, outputs 0.5, 1, 1.5 s; serial)."""
    bundle = make_flat_bundle(MPI.COMM_SELF, WIDTH, HEIGHT, (4, 12), layer=("sei", LAYER, 2))
    case = growth_case(
        CERAMIC, {"mode": "galvanostatic", "current_density": -J},
        {"t_end": 1.5, "dt": 0.1, "adaptivity": "none", "output_times": [0.5, 1.0, 1.5]},
        contact_gap="2 nm",
    )
    return Simulation(bundle, case, MPI.COMM_SELF)


def test_resume_keeps_the_gap_and_the_loss_time(tmp_path):
    """Stopped after the checkpoint at 0.5 s (contact lost at 0.3 s, gap 3.4 nm) and resumed:
    the contact scalars at 1 and 1.5 s equal the uninterrupted run's to 1e-10 (the nodal gaps
    are checkpointed with the state, the loss time and place with the observers)."""
    names = ["contact_lost_fraction", "contact_gap_max", "contact_lost_time",
             "contact_lost_position"]
    expected = [[s.scalars[n] for n in names] for s in _flat_strip_simulation().run()]
    first = _flat_strip_simulation()
    first.checkpoint = tmp_path / "checkpoint.h5"
    for snapshot in first.run():
        if snapshot.t == 1.0:  # the checkpoint of 0.5 s stands
            break
    resumed = _flat_strip_simulation()
    resumed.resume_from = first.checkpoint
    records = [[s.scalars[n] for n in names] for s in resumed.run()]
    assert len(records) == 2
    np.testing.assert_allclose(records, expected[1:], rtol=1e-10, atol=0.0)


def _seeded_void_run(
    contact_loss: str, comm: MPI.Comm = MPI.COMM_WORLD
) -> tuple[Simulation, list[dict], list[np.ndarray], list[float]]:
    """The flat ceramic cell (8 facets) stripped at J for 0.3 s in 3 steps with g_c = 5 nm and
    a gap of 4.5 nm seeded at the nodes x < W/2 (a non-uniform contact).

    Returns:
        The simulation, the scalars at 0.1 and 0.3 s, and after each step the nodal currents
        and the mean current int j ds / A_proj on the configuration the step was solved on.
    """
    bundle = make_flat_bundle(comm, WIDTH, HEIGHT, (8, 12), layer=("sei", LAYER, 2))
    case = growth_case(
        CERAMIC, {"mode": "galvanostatic", "current_density": -J},
        {"t_end": 0.3, "dt": 0.1, "dt_max": 0.1, "adaptivity": "none",
         "output_times": [0.1, 0.3]},
        contact_gap="5 nm", contact_loss=contact_loss,
    )
    simulation = Simulation(bundle, case, comm)
    # the galvanostatic constraint holds to Newton's tolerance: ask for the tight one (a time
    # step's default, 1e-3 time.rtol, leaves ~7e-9 here)
    simulation.transient_stol = simulation.numerics.newton_stol
    contact = simulation.contact
    seeded = contact.dofs[contact.space.dof_coordinates()[contact.dofs, 0] < 0.5 * WIDTH - 1e-12]
    contact.recession.x.array.reshape(-1, 2)[seeded, 0] = 4.5e-9
    currents: list[np.ndarray] = []
    simulation.step_listeners.append(
        lambda t, dt, iterations: currents.append(simulation.growth.j_nodes.copy()))
    means: list[float] = []
    domain = simulation.domain
    simulation.step_listeners.insert(0, lambda t, dt, iterations: means.append(
        domain.integrate(simulation.surface_current_form) / domain.area))  # before the move
    scalars = [snapshot.scalars for snapshot in simulation.run()]
    return simulation, scalars, currents, means


def test_lost_contact_becomes_a_void_wall():
    """``contact_loss: void``: stripping recedes everything by 0.674 nm in the first step, so the
    seeded half passes g_c = 5 nm; its facets away from the middle (3 of 8: a facet is lost when
    the mean gap of its nodes exceeds g_c, and the middle node is not seeded) are switched off:

    * the nodal current at the nodes of lost facets only is 0 (to 1e-12 of J): no current
      flows there, and the Li there stops receding: its height stays at the first step's
      recession (1e-6; the position update restarts at first order when facets are lost, as
      after a protocol switch, else BDF2 would extrapolate the previous move: -0.97 instead
      of -0.67 nm; measured 2.6e-7 next to the void's edge, where the nodes' tangential
      redistribution follows the tilted edge facet);
    * the cell's current is still the applied one: int j ds / A_proj = -J to 1e-10 on the
      configuration each step was solved on (galvanostatic, redistributed over the remaining
      5/8 of the surface: the kept nodes strip ~8/5 J; the snapshot's current_mean, evaluated
      on the moved surface, whose facet at the edge of the void tilted, differs by 6.5e-9);
    * the timeseries holds the switched-off area: contact_void_fraction 3/8, as the lost
      fraction (to 1e-6: lengths of the moved facets, whose nodes the redistribution shifts by
      round-off of the nearly uniform current; measured 3.4e-9).

    With ``report`` (the default) the same run keeps the current everywhere (uniform -J)."""
    simulation, scalars, currents, means = _seeded_void_run("void")
    contact = simulation.contact
    first, last = scalars
    assert first["contact_void_fraction"] == pytest.approx(3 / 8, rel=1e-6)
    assert last["contact_void_fraction"] == pytest.approx(3 / 8, rel=1e-6)
    assert last["contact_lost_fraction"] == pytest.approx(3 / 8, rel=1e-6)
    assert len(means) == 3
    np.testing.assert_allclose(means, -J, rtol=1e-10)
    x = contact.space.dof_coordinates()[contact.dofs, 0]
    inside = x < 3 / 8 * WIDTH - 1e-12  # nodes of lost facets only
    outside = x > 0.5 * WIDTH + 1e-12
    for j in currents[1:]:  # the steps after the loss
        assert np.abs(j[inside]).max(initial=0.0) < 1e-12 * J
        if outside.any():
            assert j[outside].mean() < -1.4 * J
    heights = simulation.growth.kinematics.points()[:, 1]
    recession = -J * 0.1 * LI_MOLAR_VOLUME / FARADAY  # the first step's, before the loss
    np.testing.assert_allclose(heights[inside], recession, rtol=1e-6)
    # report only: the current stays uniform
    _, reported, uniform, _ = _seeded_void_run("report")
    assert "contact_void_fraction" not in reported[-1]
    assert reported[-1]["contact_lost_fraction"] == pytest.approx(3 / 8, rel=1e-6)
    np.testing.assert_allclose(uniform[-1], -J, rtol=1e-8)


@pytest.mark.mpi
def test_void_walls_two_ranks_equal_serial():
    """The seeded void-wall run on 2 ranks equals serial to 1e-8: the Li profile (relative to
    the cell's length), the cell voltage and the switched-off fraction at 0.1 and 0.3 s."""
    from solver.growth.morphology import surface_profile

    runs = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        simulation, scalars, _, _ = _seeded_void_run("void", comm)
        runs.append((surface_profile(simulation.growth.kinematics),
                     [[s["cell_voltage"], s["contact_void_fraction"]] for s in scalars]))
    (parallel, parallel_scalars), (serial, serial_scalars) = runs
    if MPI.COMM_WORLD.rank == 0:
        np.testing.assert_allclose(parallel, serial, rtol=0.0, atol=1e-8 * HEIGHT)
    np.testing.assert_allclose(parallel_scalars, serial_scalars, rtol=1e-8)


def test_run_stops_when_no_contact_is_left():
    """``contact_loss: void`` on the flat cell stripped uniformly (g_c = 2 nm, t* = 0.297 s):
    every facet is lost at the end of the step at 0.3 s. No current could flow (a galvanostatic
    step has no solution; it failed with a singular bordered update), so the last facets are
    not switched off and the run stops cleanly at the end of the next step (0.4 s) with the
    event's message, instead of running on to 1 s."""
    bundle = make_flat_bundle(MPI.COMM_WORLD, WIDTH, HEIGHT, (4, 12), layer=("sei", LAYER, 2))
    case = growth_case(
        CERAMIC, {"mode": "galvanostatic", "current_density": -J},
        {"t_end": 1.0, "dt": 0.1, "dt_max": 0.1, "adaptivity": "none", "output_times": [1.0]},
        contact_gap="2 nm", contact_loss="void",
    )
    *_, last = Simulation(bundle, case, MPI.COMM_WORLD).run()
    assert last.t == pytest.approx(0.4)
    assert last.scalars["contact_lost_fraction"] == pytest.approx(1.0, rel=1e-12)
    assert last.scalars["contact_void_fraction"] == 0.0
    assert any("lost on the whole Li surface" in message for message in last.events)


def _seeded_void_simulation(t_end: float, outputs: list[float]) -> Simulation:
    """The seeded void-wall cell of :func:`_seeded_void_run` on one rank, not yet run."""
    bundle = make_flat_bundle(MPI.COMM_SELF, WIDTH, HEIGHT, (8, 12), layer=("sei", LAYER, 2))
    case = growth_case(
        CERAMIC, {"mode": "galvanostatic", "current_density": -J},
        {"t_end": t_end, "dt": 0.1, "dt_max": 0.1, "adaptivity": "none",
         "output_times": outputs},
        contact_gap="5 nm", contact_loss="void",
    )
    simulation = Simulation(bundle, case, MPI.COMM_SELF)
    contact = simulation.contact
    seeded = contact.dofs[contact.space.dof_coordinates()[contact.dofs, 0] < 0.5 * WIDTH - 1e-12]
    contact.recession.x.array.reshape(-1, 2)[seeded, 0] = 4.5e-9
    return simulation


def test_resume_keeps_the_void_walls(tmp_path):
    """The seeded void-wall run stopped after its checkpoint at 0.2 s (walls since 0.1 s) and
    resumed: cell voltage, void fraction and every Li node's height at 0.3 and 0.4 s equal the
    uninterrupted run's to 1e-10 (the indicator is rebuilt from the checkpointed gaps; with it
    left at 1 for the first resumed step, the voltage at 0.3 s differs by 21 %)."""
    def record(simulation: Simulation, snapshot) -> np.ndarray:
        heights = np.sort(simulation.growth.kinematics.points()[:, 1])
        return np.concatenate([[snapshot.scalars["cell_voltage"],
                                snapshot.scalars["contact_void_fraction"]], heights])

    outputs = [0.1, 0.2, 0.3, 0.4]
    reference = _seeded_void_simulation(0.4, outputs)
    expected = [record(reference, s) for s in reference.run()]
    first = _seeded_void_simulation(0.4, outputs)
    first.checkpoint = tmp_path / "checkpoint.h5"
    for snapshot in first.run():
        if snapshot.t == pytest.approx(0.3):  # the checkpoint of 0.2 s stands
            break
    resumed = _seeded_void_simulation(0.4, outputs)
    resumed.resume_from = first.checkpoint
    records = [record(resumed, s) for s in resumed.run()]
    assert len(records) == 2
    np.testing.assert_allclose(records, expected[2:], rtol=1e-10, atol=1e-10 * 1e-9)
