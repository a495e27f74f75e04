r"""Case-level checks of physics against the geometry, run at validation (before meshing).

Each check returns problem lines in the form of :mod:`solver.config`,
``<key path>: <what is wrong> (got <value>); allowed: <what is allowed>``, so that every
problem of every case is reported at once.

* The surface-energy term (``physics.surface_energy``) needs ``geometry.mesh.order`` 2: the
  mean curvature of straight facets is not defined.
* Arrhenius factors exp(-E_a/R (1/T - 1/T_ref)) of every activation energy in ``physics`` must
  lie within 1e-30..1e30 (``PROPERTY_MAGNITUDE_LIMIT``): an overflow would stop the run after
  meshing, an underflow would zero a conductivity or an exchange current.
* Concentrated-solution properties (numbers, expressions, tables) are evaluated over the
  concentrations a run meets, c_bulk * ``CONCENTRATION_FLOOR_FRACTION`` <= c <= c_max
  (``physics.electrolyte.max_concentration``), at the run's temperature and with their
  Arrhenius factors: kappa, D and the thermodynamic factor must be finite and > 0, t+ in (0, 1)
  (:func:`solver.transport.check_property`).
* A steady galvanostatic run against a binary electrolyte and a reservoir must stay below the
  limiting current. In 1D, with zero anion flux at steady state,
  :math:`J_{lim} = (F / L) \int_0^{c_{bulk}} D(c) / (1 - t_+(c))\, dc`, which is
  :func:`solver.dimensionless.limiting_current` for constant properties. L is taken as the
  electrolyte above the highest point of the Li surface, voids and interphase: the true cell,
  whose electrolyte reaches lower, has a smaller limiting current (making the region below that
  plane infinitely conductive can only raise it), so the check never rejects a cell that has a
  steady state (exactly so for constant D and t+; docs/theory.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from solver.dimensionless import limiting_current
from solver.transport import (
    FRACTION,
    POSITIVE,
    PROPERTY_MAGNITUDE_LIMIT,
    PropertyRule,
    arrhenius,
    build_electrolyte,
    check_property,
)

if TYPE_CHECKING:
    from solver.config import CaseConfig
    from solver.model_spec import ConcentratedElectrolyte, PhysicsConfig

__all__ = ["case_problems"]

#: The rule each concentrated-solution property obeys, and its Arrhenius activation-energy key.
_PROPERTIES: dict[str, tuple[PropertyRule, str | None]] = {
    "conductivity": (POSITIVE, "conductivity_activation_energy"),
    "diffusivity": (POSITIVE, "diffusivity_activation_energy"),
    "transference_number": (FRACTION, None),
    "thermodynamic_factor": (POSITIVE, None),
}
#: Concentrations at which D/(1 - t+) is integrated from 0 to c_bulk (trapezoidal rule).
_LIMITING_POINTS = 401


def case_problems(case: CaseConfig, prefix: str) -> list[str]:
    """Every problem of a validated case that needs its sections together.

    Args:
        case: The case.
        prefix: Its key path for messages (``base`` or ``cases.<name>``).

    Returns:
        Problem lines (empty when the case is fine).
    """
    physics, key = case.physics, f"{prefix}.physics"
    problems = _arrhenius_problems(physics, key) + _surface_energy_problems(case, prefix)
    if not problems and physics.electrolyte.type == "concentrated":
        problems += _property_problems(physics.electrolyte, physics, f"{key}.electrolyte")
    if not problems:
        problems += _limiting_current_problems(case, prefix)
    if physics.growth.enabled and case.time.mode != "transient":
        problems.append(
            f"{key}.growth.enabled: the Li surface moves only in transient runs (got true with "
            f"time.mode {case.time.mode!r}); allowed: false, or time.mode 'transient'"
        )
    return problems


def _surface_energy_problems(case: CaseConfig, prefix: str) -> list[str]:
    """The surface-energy term needs the curvature of the curved second-order geometry."""
    order = case.geometry.mesh.order
    if case.physics.surface_energy is None or order == 2:
        return []
    return [
        f"{prefix}.geometry.mesh.order: physics.surface_energy needs the mean curvature of the "
        f"curved second-order geometry (got {order}); allowed: 2, or no physics.surface_energy"
    ]


def _activation_energies(physics: PhysicsConfig) -> dict[str, float]:
    """Key path (below ``physics``) -> every activation energy of a physics section."""
    sections: dict[str, object] = {
        "electrolyte": physics.electrolyte,
        "kinetics": physics.kinetics,
        "counter.kinetics": physics.counter.kinetics,
    }
    for name, material in physics.interphase.items():
        sections[f"interphase.{name}"] = material
        sections[f"interphase.{name}.kinetics"] = material.kinetics
    return {
        f"{path}.{field}": getattr(section, field)
        for path, section in sections.items()
        if section is not None
        for field in type(section).model_fields
        if field.endswith("activation_energy")
    }


def _arrhenius_problems(physics: PhysicsConfig, key: str) -> list[str]:
    """Arrhenius factors must lie within 1/limit..limit (limit: PROPERTY_MAGNITUDE_LIMIT)."""
    temperature, reference = physics.temperature, physics.reference_temperature
    problems = []
    for path, energy in _activation_energies(physics).items():
        try:
            factor = arrhenius(energy, temperature, reference)
        except OverflowError:
            factor = math.inf
        if not 1.0 / PROPERTY_MAGNITUDE_LIMIT <= factor <= PROPERTY_MAGNITUDE_LIMIT:
            problems.append(
                f"{key}.{path}: its Arrhenius factor exp(-E_a/R (1/T - 1/T_ref)) = {factor:.3g} "
                f"at T = {temperature:g} K, T_ref = {reference:g} K (got {energy:g} J/mol); "
                f"allowed: an activation energy giving a factor between "
                f"{1.0 / PROPERTY_MAGNITUDE_LIMIT:g} and {PROPERTY_MAGNITUDE_LIMIT:g}"
            )
    return problems


def _property_problems(
    cfg: ConcentratedElectrolyte, physics: PhysicsConfig, key: str
) -> list[str]:
    temperature = physics.temperature
    problems = []
    for name, (rule, energy_key) in _PROPERTIES.items():
        factor = 1.0
        if energy_key is not None:
            factor = arrhenius(getattr(cfg, energy_key), temperature, physics.reference_temperature)
        value = getattr(cfg, name)
        problem = check_property(
            value, rule, cfg.concentration_bounds(), cfg.bulk_concentration, temperature, factor
        )
        if problem is not None:
            source = getattr(value, "source_key", None)
            problems.append(f"{key}.{name}{'.' + source if source else ''}: {problem}")
    return problems


def _limiting_current_problems(case: CaseConfig, prefix: str) -> list[str]:
    physics, geometry = case.physics, case.geometry
    control = physics.control
    if (
        case.time.mode != "steady"
        or control.mode != "galvanostatic"
        or control.protocol
        or physics.electrolyte.type == "single_ion"
        or physics.counter.type != "reservoir"
        or control.constant_value() <= 0.0
    ):
        return []
    model = build_electrolyte(physics)
    c_bulk = model.c_bulk
    cs = np.linspace(0.0, c_bulk, _LIMITING_POINTS)
    ratio = [model.diffusivity(float(c)) / (1.0 - model.t_plus(float(c))) for c in cs]
    mean_ratio = float(np.trapezoid(ratio, cs)) / c_bulk  # <D/(1 - t+)> over (0, c_bulk]
    length = geometry.domain.length - geometry.surface_top() - geometry.interphase_thickness()
    # limiting_current(D, c, t+, L) = F D c / ((1 - t+) L): pass <D/(1 - t+)> with t+ = 0.
    j_lim = limiting_current(mean_ratio, c_bulk, 0.0, length)
    applied = control.constant_value()
    if applied < j_lim:
        return []
    ma_cm2 = 0.1  # A/m^2 -> mA/cm^2
    return [
        f"{prefix}.physics.control.current_density: a steady run at or above the limiting "
        f"current {j_lim * ma_cm2:.4g} mA/cm^2 has no steady state (got "
        f"{applied * ma_cm2:.4g} mA/cm^2); allowed: less than {j_lim * ma_cm2:.4g} mA/cm^2 "
        f"(J_lim = F c_bulk <D/(1 - t+)> / L with L = {length * 1e6:.4g} um of electrolyte "
        "above the highest point of the Li surface and interphase), or time.mode 'transient' "
        "(depletion is then an event)"
    ]
