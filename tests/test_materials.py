"""The cited materials library: provenance and units of every value, seed numbers, configs, CLI.

Seed-sourced values are compared with the numbers as printed in the seed papers
(``../shared/seeds/``), converted to SI here by hand: rel 1e-12 (a conversion is one or two
floating-point products). When the seed texts are present the printed number is also looked
up in the seed file, so a typo in the test cannot hide one in the library.
"""

from __future__ import annotations

from pathlib import Path

import solver  # noqa: F401  (MPI import order)

# isort: split

import numpy as np
import pytest
from pydantic import ValidationError

from solver import library
from solver.cli import main
from solver.library import LIBRARY, Parameter
from solver.library.table import markdown, text
from solver.model_spec import ExpressionProperty, PhysicsConfig
from solver.transport import evaluate_property

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
EV = 96485.33212  # J/mol per eV/particle (F)

#: Unit of each config key a record may supply.
CONFIG_UNITS = {
    "conductivity": "S/m", "conductivity_activation_energy": "J/mol",
    "electronic_conductivity": "S/m", "bulk_concentration": "mol/m^3", "diffusivity": "m^2/s",
    "transference_number": "1", "diffusivity_activation_energy": "J/mol",
    "thermodynamic_factor": "1", "transfer_resistance": "ohm m^2",
}
#: Unit named by the suffix of a further property (longest suffix first).
SUFFIX_UNITS = {
    "_m3_mol": "m^3/mol", "_ohm_m2": "ohm m^2", "_A_m2": "A/m^2", "_J_m2": "J/m^2",
    "_m2_s": "m^2/s", "_J_mol": "J/mol", "_S_m": "S/m", "_m2": "m^2", "_ohm": "ohm",
    "_ratio": "1", "_A": "A", "_m": "m", "_s": "s",
}
#: Plausible SI ranges (inclusive) by unit, for values that are not switched off (0).
RANGES = {
    "S/m": (1e-12, 1e3), "J/mol": (0.0, 2.0e5), "mol/m^3": (1.0, 1e5), "m^2/s": (1e-20, 1e-8),
    "1": (0.0, 10.0), "ohm m^2": (1e-6, 1.0), "A/m^2": (0.1, 1e3), "m": (1e-10, 1e-2),
    "m^2": (1e-8, 1e-2), "m^3/mol": (1e-6, 1e-4), "A": (1e-15, 1e-3), "ohm": (1.0, 1e5),
    "s": (1.0, 1e8), "J/m^2": (0.05, 5.0),
}
ELECTRONIC_METAL_RANGE = (1e5, 1e9)  # S/m: metals (Cu 6e7, Li 1e7)

ALL = [(m.name, key, p) for m in LIBRARY.values() for key, p in m.entries().items()]


@pytest.mark.parametrize(("name", "key", "parameter"), ALL, ids=[f"{n}.{k}" for n, k, _ in ALL])
def test_every_value_has_unit_source_status(name, key, parameter):
    assert parameter.source.strip(), f"{name}.{key}: no source"
    assert parameter.status in ("measured", "literature", "derived", "assumption")
    if parameter.status in ("derived", "assumption"):
        assert len(parameter.note) > 15, f"{name}.{key}: a {parameter.status} value needs why"
    material = LIBRARY[name]
    if key in material.parameters:
        assert parameter.unit == CONFIG_UNITS[key], f"{name}.{key}"
    else:
        suffix = next(s for s in sorted(SUFFIX_UNITS, key=len, reverse=True) if key.endswith(s))
        assert parameter.unit == SUFFIX_UNITS[suffix], f"{name}.{key}"


@pytest.mark.parametrize(("name", "key", "parameter"), ALL, ids=[f"{n}.{k}" for n, k, _ in ALL])
def test_values_are_si_and_plausible(name, key, parameter):
    """SI magnitudes: a value in S/cm or mA/cm^2 left unconverted falls outside these ranges."""
    material = LIBRARY[name]
    value = parameter.value
    if isinstance(value, str):  # an expression of c and T: evaluate it at c_bulk, T_ref
        c_bulk = material.parameters["bulk_concentration"].value
        expression = ExpressionProperty(expression=value)
        value = evaluate_property(expression, c_bulk, library.T_REF)
    if value == 0.0:
        assert parameter.status == "assumption" and "insulator" in parameter.note
        return
    lo, hi = RANGES[parameter.unit]
    if material.kind in ("metal", "li_metal") and parameter.unit == "S/m":
        lo, hi = ELECTRONIC_METAL_RANGE
    assert lo <= value <= hi, f"{name}.{key} = {value} {parameter.unit}"
    if key == "transference_number":
        assert 0.0 < value < 1.0


def test_every_entry_has_values_or_says_what_is_missing():
    required = {"LLZO", "LLZTO", "LAGP", "Li6PS5Cl", "LGPS", "QCPE", "QCPE@P-DOL", "LiF", "Li2O",
                "Li2CO3", "LiI", "Li3N", "Li3P", "LiCl", "Li2S", "reduced_LLZO", "Li",
                "LiPF6_EC_EMC_Valoen2005"}
    assert required <= set(LIBRARY)
    assert {m.name for m in LIBRARY.values() if m.kind == "metal"} >= {"Cu"}
    for material in LIBRARY.values():
        assert material.description, material.name
        assert material.entries() or len(material.gaps) > 20, material.name


# (material, key, SI value, the number as the seed prints it, seed file, where)
SEED_VALUES = [
    ("LLZO", "conductivity", 3.5e-4 * 100, "3.5×10^{-4} S/cm", "002", "text on Fig. 2b"),
    ("LLZO", "conductivity_activation_energy", 0.40 * EV, "0.40 eV", "002", "Fig. 2c"),
    ("LLZO", "li_interface_asr_ohm_m2", 1525e-4, "1525 Ω/cm²", "002", "Fig. 2d"),
    ("LLZO", "bulk_asr_ohm_m2", 104e-4, "104 Ω/cm²", "002", "text on Fig. 2b"),
    ("LLZO", "grain_boundary_asr_ohm_m2", 188e-4, "188 Ω/cm²", "002", "text on Fig. 2b"),
    ("LLZO", "li_critical_current_density_A_m2", 0.2 * 10, "CCD of the Li/Pristine-LLZO/Li "
     "symmetric cell was only 0.2 mA/cm^2", "002", "Fig. 4a"),
    ("LLZO", "pellet_area_m2", 0.0785e-4, "0.0785 cm²", "002", "text on Fig. 2b"),
    ("LLZO", "electronic_conductivity_S_m", 1e-8 * 100, "10^{-8} \\text{ S cm}^{-1}", "001",
     "oxide electrolytes (Murugan et al.)"),
    ("LiI", "conductivity", 6.8e-8 * 100, "6.8×10^{-8} S/cm", "002", "text on Fig. 2f, Fig. S3"),
    ("LiI", "li_llzo_interface_asr_ohm_m2", 57e-4, "57 Ω/cm²", "002", "Fig. 2e"),
    ("LiI", "li_llzo_critical_current_density_A_m2", 1.2 * 10, "CCD value of $1.2 mA/cm^2$",
     "002", "Fig. 4a, conclusions"),
    ("LiI", "li_llzo_capacity_mode_critical_current_density_A_m2", 7.0 * 10, "$7.0 mA/cm^2$",
     "002", "Fig. 4b, conclusions"),
    ("LiI", "optimal_i2_thickness_m", 0.5e-6, "0.5 μm was the optimized I₂ thickness", "002",
     "Fig. 2f"),
    ("LiI", "i2_to_lii_volume_ratio", 1.26, "126%", "002", "text after Fig. 1"),
    ("LiI", "electronic_current_at_1_V_A", 3.92e-7 * 1e-3, "3.92×10^{-7} mA", "002", "Fig. S4"),
    ("reduced_LLZO", "electronic_current_at_1_V_A", 2.1e-4 * 1e-3, "2.1×10^{-4} mA", "002",
     "Fig. S4"),
    ("QCPE", "li_exchange_current_density_A_m2", 0.133 * 10, "0.133", "004", "Fig. 5a"),
    ("QCPE@P-DOL", "li_exchange_current_density_A_m2", 0.171 * 10, "0.171", "004", "Fig. 5a"),
    ("QCPE", "transference_number", 0.19, "from 0.19 to 0.56", "004", "Fig. S5a"),
    ("QCPE@P-DOL", "transference_number", 0.56, "from 0.19 to 0.56", "004", "Fig. S5b"),
    ("QCPE", "diffusivity_activation_energy", 0.16 * EV, "0.16 and 0.14 eV", "004", "Fig. 2i"),
    ("QCPE@P-DOL", "diffusivity_activation_energy", 0.14 * EV, "0.16 and 0.14 eV", "004",
     "Fig. 2i"),
    ("LiF", "conductivity", 1e-13 * 100, "10^{-13} to $10^{-14}", "003", "section 2.2.1"),
    ("LiF", "migration_barrier_J_mol", 0.729 * EV, "0.729 eV", "003", "section 2.2.1"),
    ("Li2O", "conductivity", 1e-9 * 100, "approximately 10^{-9} Scm^{-1}", "003",
     "section 2.2.1"),
    ("Li2CO3", "conductivity", 1e-8 * 100, "approximately 10^{-8} Scm^{-1}", "003",
     "section 2.2.1"),
    ("Li3P", "conductivity", 1e-4 * 100, "$\\text{Li}_3\\text{P}$  ( $10^{-4}$  S cm", "001",
     "halide electrolytes (Ji et al.)"),
]


@pytest.mark.parametrize(("name", "key", "si", "printed", "seed", "where"), SEED_VALUES,
                         ids=[f"{n}.{k}" for n, k, *_ in SEED_VALUES])
def test_seed_values_equal_the_seed_numbers(name, key, si, printed, seed, where):
    parameter = LIBRARY[name].entries()[key]
    assert parameter.value == pytest.approx(si, rel=1e-12, abs=0)
    files = sorted(SEEDS.glob(f"{seed}_*.txt"))
    assert f"seed {seed}_" in parameter.source
    if not files:
        pytest.skip(f"seed texts not present ({SEEDS})")
    assert files[0].name in parameter.source
    assert printed in files[0].read_text(encoding="utf-8"), f"{printed!r} not in {files[0].name}"


def test_literature_values():
    """Values quoted from well-known references (not in the seeds), with their unit conversion."""
    li = LIBRARY["Li"].properties
    assert li["molar_volume_m3_mol"].value == pytest.approx(6.94e-3 / 534.0, rel=2e-3)
    assert li["molar_volume_m3_mol"].value == 1.30e-5
    assert li["electronic_conductivity_S_m"].value == pytest.approx(1 / 92.8e-9, rel=1e-12)
    assert LIBRARY["Cu"].properties["electronic_conductivity_S_m"].value == pytest.approx(
        1 / 16.78e-9, rel=1e-12)
    assert LIBRARY["LGPS"].parameters["conductivity"].value == pytest.approx(1.2, rel=1e-12)
    assert "doi:10.1038/nmat3066" in LIBRARY["LGPS"].parameters["conductivity"].source


def test_reduced_llzo_electronic_conductivity_is_i_l_over_v_a():
    """sigma_e = I L / (V A) = 2.1e-7 A * 0.8 mm / (1 V * 0.0785 cm^2) = 2.14e-5 S/m."""
    sigma = LIBRARY["reduced_LLZO"].parameters["electronic_conductivity"]
    assert sigma.value == pytest.approx(2.1e-7 * 0.8e-3 / 0.0785e-4, rel=1e-12)
    assert sigma.status == "assumption"


def test_old_parameter_sets_keep_their_numbers():
    """Records configs and tests used before the merge supply the same numbers (rel 1e-12)."""
    old = {
        "LAGP": {"conductivity": 0.03},
        "Li3P": {"conductivity": 0.01},
        "LiI": {"conductivity": 6.8e-06},
        "LiPF6_EC_EMC_dilute": {"bulk_concentration": 1000.0, "diffusivity": 3.0e-10,
                                "transference_number": 0.38},
    }
    for name, values in old.items():
        new = {k: v for k, v in LIBRARY[name].values().items() if k != "type"}
        assert new == pytest.approx(values, rel=1e-12), name
    assert LIBRARY["LAGP"].values()["type"] == "single_ion"
    valoen = LIBRARY["LiPF6_EC_EMC_Valoen2005"].values()
    assert valoen["type"] == "concentrated" and valoen["transference_number"] == 0.38
    assert valoen["diffusivity"] == {
        "expression": "1e-4 * 10**(-4.43 - 54/(T - 229 - 5*(c/1000)) - 0.22*(c/1000))"}


MISSING = {"conductivity": 1e-6}  # for records whose sources give no ionic conductivity


@pytest.mark.parametrize("name", [m.name for m in LIBRARY.values()
                                  if m.kind in library.CONFIG_KINDS])
def test_config_records_validate_and_overrides_win(name):
    material = LIBRARY[name]
    needs = material.kind in ("single_ion", "interphase")  # conductivity is required there
    extra = {k: v for k, v in MISSING.items() if needs and k not in material.parameters}
    section = {"material": name, **extra}
    if material.kind == "interphase":
        physics = PhysicsConfig(electrolyte={"type": "single_ion", "conductivity": 1.0},
                                interphase={"sei": section})
        resolved = physics.interphase["sei"]
    else:  # the record's kind chooses the electrolyte type
        resolved = PhysicsConfig(electrolyte=section).electrolyte
        assert resolved.type == material.kind
    for key, parameter in material.parameters.items():
        if not isinstance(parameter.value, str):
            assert getattr(resolved, key) == parameter.value, key
    overridden = PhysicsConfig(electrolyte={"material": "LLZO", "conductivity": "1e-3 S/cm"})
    assert overridden.electrolyte.conductivity == pytest.approx(0.1, rel=1e-12)
    assert overridden.electrolyte.conductivity_activation_energy == pytest.approx(0.40 * EV)


@pytest.mark.parametrize(("section", "message"), [
    ({"electrolyte": {"material": "LiF"}},
     "unknown electrolyte material (got 'LiF', kind interphase)"),
    ({"electrolyte": {"type": "dilute", "material": "LLZO"}},
     "unknown dilute material (got 'LLZO', kind single_ion)"),
    ({"electrolyte": {"type": "single_ion", "conductivity": 1.0},
      "interphase": {"sei": {"material": "Cu"}}},
     "unknown interphase material (got 'Cu', kind metal)"),
])
def test_wrong_kind_is_refused_naming_the_kind(section, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PhysicsConfig(**section)


def test_records_refuse_missing_provenance():
    with pytest.raises(ValueError, match="source"):
        Parameter(1.0, "S/m", "", "measured")
    with pytest.raises(ValueError, match="reason"):
        Parameter(1.0, "S/m", "somewhere", "assumption")


def test_cli_prints_the_table_and_one_entry(capsys):
    assert main(["materials"]) == 0
    out = capsys.readouterr().out
    for name in LIBRARY:
        assert f"\n{name} (" in out
    assert "[seed 002] seed 002_37b88152380e47cb.txt" in out  # the legend
    assert main(["materials", "LiI"]) == 0
    out = capsys.readouterr().out
    assert "conductivity" in out and "6.8e-06 S/m  [measured]" in out
    assert "002_37b88152380e47cb.txt" in out and "note: 6.8e-8 S/cm." in out
    assert out.strip() == text("LiI")


def test_cli_unknown_material_is_exit_2(capsys):
    assert main(["materials", "LiJ"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: materials: unknown material (got 'LiJ'); allowed: ")
    assert "LiI" in err and "Traceback" not in err


def test_docs_materials_md_is_generated_from_the_library(capsys):
    committed = (ROOT / "docs" / "materials.md").read_text(encoding="utf-8")
    assert committed == markdown(), (
        "docs/materials.md is stale: regenerate with "
        "`.venv/bin/lidep materials --markdown > docs/materials.md`"
    )
    assert main(["materials", "--markdown"]) == 0
    assert capsys.readouterr().out == committed
    assert all(f"## {name}\n" in committed for name in LIBRARY)


def test_li_molar_volume_has_one_home():
    """The deposit growth rates use the library's Li molar volume, M / rho = 6.94 g/mol /
    0.534 g/cm^3 = 12.996 cm^3/mol (rounded to 13.0 in the record: 1e-3)."""
    from solver.postprocess import LI_MOLAR_VOLUME

    cited = LIBRARY["Li"].properties["molar_volume_m3_mol"]
    assert LI_MOLAR_VOLUME == cited.value
    assert LI_MOLAR_VOLUME == pytest.approx(6.94e-3 / 534.0, rel=1e-3)


# (material, key, SI value, the number as the source prints it, words of the source quoted)
LITERATURE_VALUES = [
    ("Li6PS5Cl", "conductivity", 1e-3 * 100, "mS cm-1 range", "doi:10.1039/c9cp00664h"),
    ("Li3N", "conductivity", 1e-3 * 100, "ca. 10-3 S cm-1", "doi:10.1038/s41467-020-17951-6"),
    ("Mg", "electronic_conductivity_S_m", 1 / 43.9e-9, "43.9 nOhm m", "CRC Handbook"),
    ("In", "electronic_conductivity_S_m", 1 / 83.7e-9, "83.7 nOhm m", "CRC Handbook"),
    ("Li6PS5Cl", "conductivity_activation_energy", 0.33 * EV, "0.33 eV",
     "doi:10.1016/j.ssi.2012.06.008"),
    ("Li3N", "conductivity_activation_energy", 0.26 * EV, "0.26 eV",
     "doi:10.1016/0167-2738(83)90045-0"),
    ("LGPS", "conductivity_activation_energy", 0.25 * EV, "0.25 eV", "doi:10.1038/nmat3066"),
    ("Li2S", "conductivity", 1e-13 * 100, "10-13 S cm-1", "doi:10.1021/acs.nanolett.1c03415"),
]


@pytest.mark.parametrize(("name", "key", "si", "printed", "reference"), LITERATURE_VALUES,
                         ids=[f"{n}.{k}" for n, k, *_ in LITERATURE_VALUES])
def test_added_literature_values(name, key, si, printed, reference):
    """Values added from literature text: the number as printed, converted here to SI by hand
    (1 S/cm = 100 S/m; sigma = 1 / rho): rel 1e-12. The note quotes the printed number and the
    source names the reference, so a value cannot lose its provenance."""
    parameter = LIBRARY[name].entries()[key]
    assert parameter.value == pytest.approx(si, rel=1e-12, abs=0)
    assert parameter.status == "literature"
    assert reference in parameter.source
    assert printed in parameter.note


def test_li_surface_energy_is_davisons_liquid_value_at_the_melting_point():
    """gamma = 0.447 - 1.07e-4 T - 1.351e-8 T^2 N/m (Davison 1968) at T_m = 180.50 C = 453.65 K:
    0.447 - 0.0485406 - 0.0027803 = 0.395679 J/m^2, recomputed here (rel 1e-12), one home."""
    from solver.library.inorganic import LI_SURFACE_ENERGY

    t_m = 453.65
    cited = LIBRARY["Li"].properties["surface_energy_J_m2"]
    assert cited.value == pytest.approx(0.447 - 1.07e-4 * t_m - 1.351e-8 * t_m**2, rel=1e-12)
    assert cited.value == pytest.approx(0.395679, abs=5e-7)
    assert LI_SURFACE_ENERGY == cited.value
    assert cited.unit == "J/m^2" and cited.status == "derived"
    assert "TN D-4650" in cited.source and "0.3957" in cited.note
    assert "liquid" in cited.note and "per facet" in LIBRARY["Li"].gaps


# (material, key, the row of data/misc/laskowski_with_dois.csv in NRC-Mila/OBELiX, as printed:
#  index, structure, sigma(RT) S/cm, Ea eV, space group, ICSD entry, DOI)
LASKOWSKI_ROWS = [
    ("Li6PS5Cl", "conductivity_activation_energy",
     "476,Li6PS5Cl,1.30E-03,0.33,216.0,,10.1016/j.ssi.2012.06.008"),
    ("Li3N", "conductivity_activation_energy",
     "433,Li3N,3.00E-04,0.26,191.0,156894.0,10.1016/0167-2738(83)90045-0"),
    ("LGPS", "conductivity_activation_energy",
     "251,Li10GeP2S12,1.20E-02,0.25,137.0,255749.0,10.1038/nmat3066"),
]


@pytest.mark.parametrize(("name", "key", "row"), LASKOWSKI_ROWS,
                         ids=[f"{n}.{k}" for n, k, _ in LASKOWSKI_ROWS])
def test_dataset_values_are_their_row_converted(name, key, row):
    """A value read from a data table is the row's Ea column times F (1 eV per particle = F
    J/mol): rel 1e-12. The source quotes the row, names the file it was read in and the DOI the
    row gives, so the value can be traced to its publication."""
    parameter = LIBRARY[name].entries()[key]
    columns = row.split(",")
    assert parameter.value == pytest.approx(float(columns[3]) * EV, rel=1e-12, abs=0)
    assert parameter.unit == "J/mol" and parameter.status == "literature"
    assert f"row '{row}'" in parameter.source
    assert "NRC-Mila/OBELiX, data/misc/laskowski_with_dois.csv" in parameter.source
    assert f"doi:{columns[-1]}" in parameter.source


def test_li6ps5cl_activation_energy_is_the_arrhenius_slope_of_sigma():
    """Cross-check of the tabulated 0.33 eV against a second, independent data set: the
    Liverpool Ionics Dataset's sigma(T) of the same publication (doi:10.1016/j.ssi.2012.06.008;
    NRC-Mila/OBELiX data/misc/LiIonDatabase.csv, rows 497-500, T in C, sigma in S/cm). The
    least-squares slope of ln sigma against 1/T is 0.3245 eV, that of ln(sigma T) 0.3549 eV.
    Tolerance 0.01 eV: the four points are read from a figure, and the two Arrhenius forms
    differ by 0.03 eV here, so the check tells which form the table's value belongs to (sigma,
    the form lidep's factor exp(-E_a/R (1/T - 1/T_ref)) multiplies)."""
    rows = [(150.58, 2.14e-02), (50.47, 1.32e-03), (25.36, 5.37e-04), (18.82, 3.76e-04)]
    inv_t = np.array([1.0 / (t + 273.15) for t, _ in rows])
    sigma = np.array([s for _, s in rows])
    boltzmann_ev = 8.617333262e-5  # eV/K
    slope_sigma = -np.polyfit(inv_t, np.log(sigma), 1)[0] * boltzmann_ev
    slope_sigma_t = -np.polyfit(inv_t, np.log(sigma / inv_t), 1)[0] * boltzmann_ev
    tabulated = LIBRARY["Li6PS5Cl"].parameters["conductivity_activation_energy"].value / EV
    assert abs(slope_sigma - tabulated) < 0.01
    assert abs(slope_sigma_t - tabulated) > 0.02


def test_reduced_llzo_ionic_conductivity_is_the_stated_llzo_assumption():
    """reduced_LLZO's Li+ conductivity is the LLZO record's (seed 002, 3.5e-4 S/cm) by a stated
    assumption: the same number (exactly, one home), the status says so and the note gives the
    reason and the consequence; the gap still names the missing measurement."""
    reduced = LIBRARY["reduced_LLZO"]
    sigma = reduced.parameters["conductivity"]
    assert sigma.value == LIBRARY["LLZO"].parameters["conductivity"].value
    assert sigma.value == pytest.approx(3.5e-4 * 100, rel=1e-12)
    assert sigma.status == "assumption"
    assert "Reason:" in sigma.note and "Consequence:" in sigma.note
    assert "reduced phase itself" in reduced.gaps


def test_gaps_left_are_stated_and_closed_ones_removed():
    """LiCl keeps no ionic conductivity (none found) and says why no study needs one; the gaps
    closed here are gone from the records' gap notes."""
    licl = LIBRARY["LiCl"]
    assert "conductivity" not in licl.parameters
    assert "No study needs it" in licl.gaps
    assert "Activation energy" not in LIBRARY["Li6PS5Cl"].gaps
    assert "Activation energy" not in LIBRARY["LGPS"].gaps
    assert "Activation energy" not in LIBRARY["Li3N"].gaps
    assert "Li+ conductivity" not in LIBRARY["Li2S"].gaps
