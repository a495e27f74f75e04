"""Dilute-solution relations (solver/dilute.py), their one home, against hand numbers.

D+ = 2e-10 m^2/s and D- = 3e-10 m^2/s give D = 2 * 2e-10 * 3e-10 / 5e-10 = 2.4e-10 m^2/s and
t+ = 2/5 = 0.4; at c = 1000 mol/m^3 and T = 298.15 K, kappa = F^2 c (D+ + D-) / (R T)
= 96485.33212^2 * 1000 * 5e-10 / (8.314462618 * 298.15) = 1.8776887 S/m (hand calculation to
8 digits; the tolerances below are that rounding, or float64 round-off for identities).
"""

from __future__ import annotations

import pytest

from solver.dilute import DiluteSalt, dilute_ionic_diffusivities
from solver.library import li2024_qcpe
from solver.model_spec import DiluteElectrolyte, PhysicsConfig
from solver.transport import build_electrolyte

C, T = 1000.0, 298.15
SALT = DiluteSalt(2e-10, 3e-10)


def test_relations_against_hand_numbers():
    assert SALT.diffusivity == pytest.approx(2.4e-10, rel=1e-15)
    assert SALT.transference_number == pytest.approx(0.4, rel=1e-15)
    assert SALT.conductivity(C, T) == pytest.approx(1.8776887, rel=1e-7)
    assert SALT.molar_conductivity(T) * C == pytest.approx(SALT.conductivity(C, T), rel=1e-15)


@pytest.mark.parametrize("salt", [
    DiluteSalt.from_salt_diffusivity(2.4e-10, 0.4),
    DiluteSalt.from_conductivity(SALT.conductivity(C, T), 0.4, C, T),
    DiluteSalt.from_sum(5e-10, 0.4),
], ids=["D, t+", "kappa, t+", "sum, t+"])
def test_inverse_relations_recover_the_ionic_diffusivities(salt):
    assert salt.cation_diffusivity == pytest.approx(2e-10, rel=1e-14)
    assert salt.anion_diffusivity == pytest.approx(3e-10, rel=1e-14)


def test_config_and_library_use_the_same_relations():
    """The electrolyte section (two of D, t+, kappa), the transport model built from it and the
    seed library's D(kappa, t+, c) all agree with DiluteSalt (round-off only)."""
    kappa = SALT.conductivity(C, T)
    cfg = DiluteElectrolyte(type="dilute", bulk_concentration=C, conductivity=kappa,
                            transference_number=0.4)
    assert dilute_ionic_diffusivities(cfg, T) == pytest.approx((2e-10, 3e-10), rel=1e-14)
    physics = PhysicsConfig.model_validate({
        "temperature": T, "reference_temperature": T,
        "electrolyte": cfg.model_dump(exclude_none=True),
        "control": {"current_density": 1.0}})
    model = build_electrolyte(physics)
    assert model.bulk("diffusivity") == pytest.approx(2.4e-10, rel=1e-14)
    assert model.bulk("t_plus") == pytest.approx(0.4, rel=1e-14)
    assert model.bulk("kappa") == pytest.approx(kappa, rel=1e-14)
    assert li2024_qcpe.dilute_salt_diffusivity(kappa, 0.4, C, T) == pytest.approx(
        2.4e-10, rel=1e-14)


def test_inconsistent_set_names_the_key():
    cfg = DiluteElectrolyte.model_construct(
        type="dilute", bulk_concentration=C, cation_diffusivity=None, anion_diffusivity=None,
        diffusivity=2.4e-10, transference_number=0.4, conductivity=1.1 * SALT.conductivity(C, T))
    with pytest.raises(ValueError, match="electrolyte.conductivity: .* disagrees"):
        dilute_ionic_diffusivities(cfg, T)
