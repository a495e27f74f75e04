"""The seed-paper parameter set: numbers as published, provenance, config-ready sections."""

import math

import solver  # noqa: F401  (MPI import order)

# isort: split

import pytest

from solver.constants import FARADAY, GAS_CONSTANT
from solver.dimensionless import sand_time
from solver.library import li2024_qcpe as qcpe
from solver.model_spec import PhysicsConfig


@pytest.mark.parametrize(
    ("name", "si_value"),
    [
        ("qcpe_exchange_current_density_A_m2", 1.33),  # 0.133 mA/cm^2
        ("qcpe_pdol_exchange_current_density_A_m2", 1.71),  # 0.171 mA/cm^2
        ("qcpe_transference_number", 0.19),
        ("qcpe_pdol_transference_number", 0.56),
        ("qcpe_activation_energy_J_mol", 0.16 * 96485.33212),  # 0.16 eV
        ("qcpe_pdol_activation_energy_J_mol", 0.14 * 96485.33212),
        ("applied_current_density_A_m2", 5.0),  # 0.5 mA/cm^2
        ("temperature_K", 303.15),  # 30 C
        ("lif_ionic_conductivity_S_m", 1e-11),  # 1e-13 S/cm
        ("qcpe_pdol_apparent_li_diffusion_coefficient_m2_s", 1.11e-18),  # 1.11e-14 cm^2/s
    ],
)
def test_published_values_in_si(name, si_value):
    # abs=0: pytest.approx's default abs=1e-12 would accept 10 % off 1e-11 S/m and any value
    # of magnitude below 1e-12 for 1.11e-18 m^2/s.
    assert qcpe.value(name) == pytest.approx(si_value, rel=1e-12, abs=0)


SUFFIX_UNITS = {
    "_A_m2": "A/m^2", "_J_mol": "J/mol", "_m2_s": "m^2/s", "_S_m": "S/m", "_mol_m3": "mol/m^3",
    "_ohm": "ohm", "_K": "K", "_V": "V", "_s": "s", "_m": "m", "_number": "1",
}


def test_every_parameter_has_provenance_and_units_in_name():
    for name, parameter in qcpe.PARAMETERS.items():
        assert parameter.source, name
        assert parameter.status in ("measured", "literature", "derived", "assumption"), name
        if parameter.status == "assumption":
            assert len(parameter.note) > 20, f"{name}: an assumption must say why"
        suffix = next(s for s in SUFFIX_UNITS if name.endswith(s))
        assert parameter.unit == SUFFIX_UNITS[suffix], name


def test_unknown_parameter_lists_names():
    with pytest.raises(KeyError, match="temperature_K"):
        qcpe.value("temperature")


@pytest.mark.parametrize("case", ["bare", "lif_rich"])
def test_physics_section_validates(case):
    physics = PhysicsConfig.model_validate(qcpe.physics_section(case))
    assert physics.control.current_density == 5.0
    expected_t_plus = 0.19 if case == "bare" else 0.56
    assert physics.electrolyte.transference_number == expected_t_plus
    assert set(physics.interphase) == (set() if case == "bare" else {"sei"})


def test_physics_section_rejects_unknown_case():
    with pytest.raises(ValueError, match="'bare' or 'lif_rich'"):
        qcpe.physics_section("lif")


def test_dilute_diffusivity_and_sand_time():
    """D from κ, t+, c inverts the dilute relation κ = F^2 (D+ + D-) c / (R T); Sand's time of the
    bare case at 0.5 mA/cm^2 is far shorter than the LiF-rich one (t+ 0.19 vs 0.56).

    (Sand's time has one home, solver.dimensionless; the seed set's own copy was removed.)"""
    kappa, c, T = 0.01, 1000.0, 298.15
    D = qcpe.dilute_salt_diffusivity(kappa, 0.19, c, T)
    d_sum = D / (2 * 0.19 * 0.81)
    assert FARADAY**2 * d_sum * c / (GAS_CONSTANT * T) == pytest.approx(kappa, rel=1e-12, abs=0)
    t_bare = sand_time(D, c, 5.0, 0.19)
    assert t_bare == pytest.approx(math.pi * D * (c * FARADAY) ** 2 / (4 * (5.0 * 0.81) ** 2))
    D_lif = qcpe.dilute_salt_diffusivity(kappa, 0.56, c, T)
    assert sand_time(D_lif, c, 5.0, 0.56) > 5.0 * t_bare
