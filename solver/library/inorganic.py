"""Inorganic solid electrolytes, interphase phases, metals and Li metal.

Values the seed papers give are taken from them (the source names the seed file and the
figure or passage); a few well-known literature values carry their reference, and values read
from a published data table name the row and the publication (DOI) it gives. Where none gives
a number the record says so in ``gaps`` instead of guessing one.
"""

from __future__ import annotations

from solver.library.records import (
    ELECTRON_VOLT_PER_MOL,
    MA_PER_CM2,
    OHM_CM2,
    S_PER_CM,
    Material,
    Parameter,
)
from solver.library.sources import (
    CRC_RESISTIVITY,
    DAVISON_1968,
    HANGHOFER_2019,
    KAMAYA_2011,
    LASKOWSKI_2023,
    SEED_000,
    SEED_001,
    SEED_002,
    SEED_003,
    SEED_004,
    TAPIA_RUIZ_2020,
    WAN_2021,
)

__all__ = ["LIF", "LI2CO3", "LI2O", "LI_METAL", "LI_MOLAR_VOLUME", "LI_SURFACE_ENERGY",
           "MATERIALS"]

def _laskowski(row: str, reference: str = "") -> str:
    """The source of a value read from one row of the Laskowski 2023 table.

    Args:
        row: The row as the CSV file prints it (index, structure, sigma, Ea, space group,
            ICSD entry, DOI).
        reference: The publication when the library cites it already (default: the row's DOI).
    """
    doi = row.rsplit(",", 1)[1]
    return f"{reference or 'doi:' + doi}, as tabulated in {LASKOWSKI_2023}: row '{row}'"


def _insulator(source: str) -> Parameter:
    """Electronic conductivity 0 of a phase a seed calls an electronic insulator."""
    return Parameter(0.0, "S/m", source, "assumption",
                     "Taken as a perfect electronic insulator (no leakage), as the source says.")


# -- Seed 002: Li | LLZO with and without the LiI interlayer ----------------------------------
_LLZO_AREA = Parameter(0.0785e-4, "m^2", f"{SEED_002}, text on Fig. 2b", "measured",
                       "Electrode area of the LLZO pellet, 0.0785 cm^2.")
_LLZO_THICKNESS = Parameter(0.8e-3, "m", f"{SEED_002}, text on Fig. 2b", "measured",
                            "Pellet thickness, 0.8 mm.")
_REDUCED_LLZO_CURRENT = Parameter(
    2.1e-4 * 1e-3, "A", f"{SEED_002}, text on Fig. S4 (chronoamperometry at 1 V bias)",
    "measured", "Steady-state current 2.1e-4 mA of the reduced LLZO, more than two orders of "
    "magnitude above that of the pristine LLZO.",
)

LLZO = Material(
    "LLZO",
    "single_ion",
    f"Cubic garnet Li7La3Zr2O12, as-sintered pellet at room temperature ({SEED_002}).",
    parameters={
        "conductivity": Parameter(
            3.5e-2, "S/m", f"{SEED_002}, text on Fig. 2b (EIS)", "measured",
            "3.5e-4 S/cm, total (bulk and grain boundaries) at room temperature.",
        ),
        "conductivity_activation_energy": Parameter(
            0.40 * ELECTRON_VOLT_PER_MOL, "J/mol", f"{SEED_002}, Fig. 2c (Arrhenius plot)",
            "measured", "0.40 eV.",
        ),
    },
    properties={
        "electronic_conductivity_S_m": Parameter(
            1e-8 * S_PER_CM, "S/m",
            f"{SEED_001}, section on oxide electrolytes, citing R. Murugan, V. Thangadurai, "
            "W. Weppner, Angew. Chem. Int. Ed. 46 (2007) 7778 (its ref. 18)",
            "literature", "1e-8 S/cm at room temperature (the same passage: 1e-3 S/cm ionic).",
        ),
        "bulk_asr_ohm_m2": Parameter(
            104.0 * OHM_CM2, "ohm m^2", f"{SEED_002}, text on Fig. 2b", "measured",
            "Area-specific bulk resistance of the 0.8 mm pellet (the paper writes ohm/cm^2 for "
            "ohm cm^2). With the grain-boundary part it implies 2.7e-4 S/cm, near the stated "
            "total conductivity.",
        ),
        "grain_boundary_asr_ohm_m2": Parameter(
            188.0 * OHM_CM2, "ohm m^2", f"{SEED_002}, text on Fig. 2b", "measured",
            "Area-specific grain-boundary resistance of the pellet.",
        ),
        "li_interface_asr_ohm_m2": Parameter(
            1525.0 * OHM_CM2, "ohm m^2", f"{SEED_002}, Fig. 2d (Li/Pristine-LLZO/Li)",
            "measured", "Li | LLZO interface ASR without the LiI interlayer (voids).",
        ),
        "li_critical_current_density_A_m2": Parameter(
            0.2 * MA_PER_CM2, "A/m^2", f"{SEED_002}, Fig. 4a (time-constant mode)", "measured",
            "CCD of Li/Pristine-LLZO/Li, 1 h steps of 0.2 mA/cm^2.",
        ),
        "pellet_area_m2": _LLZO_AREA,
        "pellet_thickness_m": _LLZO_THICKNESS,
    },
)

LII = Material(
    "LiI",
    "interphase",
    "LiI interlayer formed by evaporated I2 reacting with Li at the Li | LLZO interface; it "
    f"fills the interfacial voids ({SEED_002}).",
    parameters={
        "conductivity": Parameter(
            6.8e-8 * S_PER_CM, "S/m", f"{SEED_002}, text on Fig. 2f (EIS, Fig. S3)", "measured",
            "6.8e-8 S/cm.",
        ),
    },
    properties={
        "li_llzo_interface_asr_ohm_m2": Parameter(
            57.0 * OHM_CM2, "ohm m^2", f"{SEED_002}, Fig. 2e (Li/LiI-LLZO/Li)", "measured",
            "Li | LLZO interface ASR with 0.5 um of I2 (1525 ohm cm^2 without).",
        ),
        "li_llzo_critical_current_density_A_m2": Parameter(
            1.2 * MA_PER_CM2, "A/m^2", f"{SEED_002}, Fig. 4a (time-constant mode)", "measured",
            "CCD of Li/LiI-LLZO/Li (0.2 mA/cm^2 without the interlayer).",
        ),
        "li_llzo_capacity_mode_critical_current_density_A_m2": Parameter(
            7.0 * MA_PER_CM2, "A/m^2", f"{SEED_002}, Fig. 4b and conclusions", "measured",
            "CCD of Li/LiI-LLZO/Li in capacity-constant mode (0.5 mAh/cm^2 per step).",
        ),
        "optimal_i2_thickness_m": Parameter(
            0.5e-6, "m", f"{SEED_002}, Fig. 2f (ASR against I2 thickness)", "measured",
            "ASR minimum at 0.5 um of I2; higher at 0.25 um (incomplete coverage), rising above.",
        ),
        "i2_to_lii_volume_ratio": Parameter(
            1.26, "1", f"{SEED_002}, text after Fig. 1", "derived",
            "Volume change of the solid from the I2 layer to the LiI interphase, calculated in "
            "the seed (126 %).",
        ),
        "electronic_current_at_1_V_A": Parameter(
            3.92e-7 * 1e-3, "A", f"{SEED_002}, text on Fig. S4 (chronoamperometry at 1 V bias)",
            "measured", "Steady-state current 3.92e-7 mA of the LiI interphase; the sample "
            "geometry is in the supporting information only, so no conductivity is derived.",
        ),
    },
    gaps="Activation energy (a candidate, not adopted for the seed-002 interlayer: the Laskowski "
    "2023 table lists LiI at 2.74e-8 S/cm with 0.43 eV, doi:10.1016/0167-2738(83)90219-9); "
    "electronic conductivity (only a current is given).",
)

REDUCED_LLZO = Material(
    "reduced_LLZO",
    "interphase",
    "Mixed-conducting LLZO reduced by molten Li (Zr4+ -> lower valence, XPS Fig. 3e), "
    f"without the LiI interlayer ({SEED_002}).",
    parameters={
        "conductivity": Parameter(
            LLZO.parameters["conductivity"].value, "S/m",
            f"{SEED_002}, text on Fig. 2b (the conductivity of the LLZO record)", "assumption",
            "Li+ conductivity of the reduced layer taken equal to the pristine LLZO's 3.5e-4 "
            "S/cm; the seed gives none for it. Reason: the reduced phase is the garnet pellet's "
            "own surface after contact with molten Li, whose XPS still shows the garnet's Zr4+ "
            "doublet beside Zr2+ and Zr0 (Fig. 3e), so Li+ crosses it through the garnet. "
            "Consequence: an interphase `material: reduced_LLZO` adds its thickness over 3.5e-4 "
            "S/cm (0.29 ohm cm^2 per um) and its electronic leakage; if the reduced phases block "
            "Li+ that underestimates its resistance: give `conductivity` next to `material:`.",
        ),
        "electronic_conductivity": Parameter(
            _REDUCED_LLZO_CURRENT.value * _LLZO_THICKNESS.value / (1.0 * _LLZO_AREA.value),
            "S/m", f"{SEED_002}, text on Fig. S4 with the pellet geometry of Fig. 2b",
            "assumption",
            "sigma_e = I L / (V A) from the 2.1e-4 mA at 1 V, assuming the current crossed the "
            "whole 0.8 mm, 0.0785 cm^2 pellet (the Fig. S4 sample geometry is not in the main "
            "text): an order-of-magnitude value.",
        ),
    },
    properties={"electronic_current_at_1_V_A": _REDUCED_LLZO_CURRENT},
    gaps="The Li+ conductivity of the reduced phase itself (the value above is an assumption) "
    "and its activation energy.",
)

# -- Seed 004: oxide electrolytes of the composite ---------------------------------------------
_OXIDE_RANGE = f"{SEED_004}, introduction (LAGP and LLZTO: 1e-4 to 1e-3 S/cm at 25 C)"

LAGP = Material(
    "LAGP",
    "single_ion",
    f"NASICON Li1.5Al0.5Ge1.5(PO4)3 at 25 C, the filler of QCPE ({SEED_004}).",
    parameters={
        "conductivity": Parameter(
            3.0e-2, "S/m", _OXIDE_RANGE, "assumption",
            "3e-4 S/cm, the middle (on a log scale) of the range the seed gives; the seed "
            "plots but does not state its own LAGP value.",
        ),
    },
    gaps="Activation energy.",
)

LLZTO = Material(
    "LLZTO",
    "single_ion",
    "Ta-doped garnet Li6.4La3Zr1.4Ta0.6O12, the filler of QCPE1 (Fig. 6) "
    f"({SEED_004}).",
    parameters={
        "conductivity": Parameter(
            1e-3 * S_PER_CM, "S/m", _OXIDE_RANGE, "assumption",
            "The upper end of the seed's range: seed 001 (section on garnets) says Ta doping "
            "raises the conductivity above LLZO's (3.5e-4 S/cm measured in seed 002).",
        ),
    },
    gaps="Activation energy.",
)

# -- Sulfides of the metal-incorporated interphases (seed 000) ---------------------------------
LI6PS5CL = Material(
    "Li6PS5Cl",
    "single_ion",
    "Argyrodite LPSC. Seed 000 forms metal-incorporated interphases from LPSC:LGPS 16:1 and "
    "4:1 (Fig. 2); seed 001 (citing W. Ji et al., J. Mater. Chem. A 9 (2021) 15012) reports "
    f"that against Li it forms Li3P, LiCl and Li2S ({SEED_000}; {SEED_001}).",
    parameters={
        "conductivity": Parameter(
            1e-3 * S_PER_CM, "S/m", f"{HANGHOFER_2019}, abstract", "literature",
            "'ionic conductivities, at least if Li6PS5Br and Li6PS5Cl are considered, in the "
            "mS cm-1 range at room temperature': 1e-3 S/cm, an order of magnitude as quoted "
            "(the lower end of seed 001's Table 1 range for sulfides, 1e-3 to 1e-2 S/cm).",
        ),
        "conductivity_activation_energy": Parameter(
            0.33 * ELECTRON_VOLT_PER_MOL, "J/mol",
            _laskowski("476,Li6PS5Cl,1.30E-03,0.33,216.0,,10.1016/j.ssi.2012.06.008"),
            "literature",
            "0.33 eV, for a sample of 1.30e-3 S/cm. Cross-check: the Liverpool Ionics Dataset's "
            "sigma(T) of the same publication (github.com/NRC-Mila/OBELiX, "
            "data/misc/LiIonDatabase.csv, 18.8-150.6 C) has an Arrhenius slope of ln sigma of "
            "0.32 eV (of ln sigma T: 0.35 eV), so the value is the energy of sigma, the form "
            "lidep uses. The table gives other Li6PS5Cl samples 0.452 eV (2.05e-3 S/cm, "
            "doi:10.1021/jacs.7b06327), 0.38 eV (3.3e-5 S/cm, doi:10.1002/pssa.201001117) and "
            "0.38 eV (1.31e-6 S/cm, doi:10.1002/zaac.201100158): the spread depends on the "
            "synthesis.",
        ),
    },
)

LGPS = Material(
    "LGPS",
    "single_ion",
    "Li10GeP2S12; against Li its Ge gives the metal of a metal-incorporated interphase "
    f"({SEED_000}, introduction and Fig. 2).",
    parameters={
        "conductivity": Parameter(
            1.2e-2 * S_PER_CM, "S/m", KAMAYA_2011, "literature", "12 mS/cm at 27 C.",
        ),
        "conductivity_activation_energy": Parameter(
            0.25 * ELECTRON_VOLT_PER_MOL, "J/mol",
            _laskowski("251,Li10GeP2S12,1.20E-02,0.25,137.0,255749.0,10.1038/nmat3066",
                       KAMAYA_2011),
            "literature", "0.25 eV; the row's 1.20e-2 S/cm is this record's conductivity (the "
            "same paper).",
        ),
    },
    gaps="The electronic conductivity of the Li-Ge reduction products.",
)

# -- SEI phases (seed 003, seed 001) -----------------------------------------------------------
_SEED_003_LIF = (
    f"{SEED_003}, section 2.2.1 (Conduction), citing M. He et al., Proc. Natl. Acad. Sci. "
    "USA 117 (2020) 73 and "
    "Y. C. Chen et al., J. Phys. Chem. C 115 (2011) 7044 (its refs. 71, 72)"
)

LIF = Material(
    "LiF",
    "interphase",
    f"Crystalline LiF, an SEI component ({SEED_003}).",
    parameters={
        "conductivity": Parameter(
            1.0e-13 * S_PER_CM, "S/m", _SEED_003_LIF, "literature",
            "Bulk crystalline LiF, 1e-14 to 1e-13 S/cm (the upper end); enhanced at the "
            "nanoscale and with Li2O (same passage).",
        ),
        "electronic_conductivity": _insulator(
            f"{SEED_004}, text on Fig. 4 ('LiF acts as an excellent electronic insulator')"
        ),
    },
    properties={
        "migration_barrier_J_mol": Parameter(
            0.729 * ELECTRON_VOLT_PER_MOL, "J/mol", _SEED_003_LIF, "literature",
            "0.729 eV energy barrier of Li+ migration; not used as the Arrhenius energy of "
            "sigma, which may include defect formation.",
        ),
    },
)

LI2O = Material(
    "Li2O",
    "interphase",
    f"Crystalline Li2O, an SEI component ({SEED_003}).",
    parameters={
        "conductivity": Parameter(
            1.0e-9 * S_PER_CM, "S/m",
            f"{SEED_003}, section 2.2.1 (Conduction), citing S. Lörger et al., J. Electrochem. "
            "Soc. 166 (2019) A2215 and "
            "R. Guo, B. M. Gallant, Chem. Mater. 32 (2020) 5525 (its refs. 68, 69)",
            "literature", "About 1e-9 S/cm at room temperature; amorphous Li2O is computed "
            "three orders of magnitude higher (same passage).",
        ),
    },
)

LI2CO3 = Material(
    "Li2CO3",
    "interphase",
    f"Li2CO3, an SEI component ({SEED_003}).",
    parameters={
        "conductivity": Parameter(
            1.0e-8 * S_PER_CM, "S/m",
            f"{SEED_003}, section 2.2.1 (Conduction), citing C. Li, J. Maier, Solid State "
            "Ionics 225 (2012) 408 and S. Shi "
            "et al., J. Phys. Chem. C 117 (2013) 8579 (its refs. 66, 67)",
            "literature", "Approximately 1e-8 S/cm.",
        ),
    },
)

LI3N = Material(
    "Li3N",
    "interphase",
    "Li3N, from LiNO3 additives or N2 treatment of Li; the seeds call it a fast Li+ conductor "
    f"(\"highly conductive Li3N\") without a number ({SEED_003}, sections 3.1 and 3.2.1).",
    parameters={
        "conductivity": Parameter(
            1e-3 * S_PER_CM, "S/m", f"{TAPIA_RUIZ_2020}, introduction (citing its ref. 1)",
            "literature",
            "'exceptional ionic conductivity at room temperature (ca. 10-3 S cm-1)': an order "
            "of magnitude as quoted, for bulk Li3N; transport in the layered crystal is "
            "anisotropic (faster Li diffusion within the Li2N layers).",
        ),
        "conductivity_activation_energy": Parameter(
            0.26 * ELECTRON_VOLT_PER_MOL, "J/mol",
            _laskowski("433,Li3N,3.00E-04,0.26,191.0,156894.0,10.1016/0167-2738(83)90045-0"),
            "literature",
            "0.26 eV, for a sample of 3.00e-4 S/cm (direction not stated). The table's other "
            "Li3N row gives 0.25 eV (1.20e-3 S/cm); not used because OBELiX's own files assign "
            "that row's reference to two different DOIs.",
        ),
    },
    gaps="The in-plane / out-of-plane values of the single crystal (Alpen, Rabenau, Talat 1977 "
    "not found as text).",
)

LI3P = Material(
    "Li3P",
    "interphase",
    f"Li3P, a reduction product of sulfide electrolytes against Li ({SEED_001}).",
    parameters={
        "conductivity": Parameter(
            1.0e-2, "S/m",
            f"{SEED_001}, section on halide electrolytes, citing W. Ji et al., J. Mater. Chem. "
            "A 9 (2021) 15012 (its ref. 32)",
            "literature", "1e-4 S/cm, an order of magnitude as quoted.",
        ),
    },
)

_SEED_001_INSULATED = (
    f"{SEED_001}, section on halide electrolytes ('insulated LiCl and Li2S', citing W. Ji et "
    "al., J. Mater. Chem. A 9 (2021) 15012)"
)

LICL = Material(
    "LiCl",
    "interphase",
    "LiCl, a reduction product of Li6PS5Cl against Li; seed 000 lists it among the non-metallic "
    f"phases of 'relatively low Li+ conductivity' ({SEED_000}; {SEED_001}).",
    parameters={"electronic_conductivity": _insulator(_SEED_001_INSULATED)},
    gaps="Li+ conductivity and its activation energy: no number in the seeds, and none found in "
    "the Laskowski 2023, Liverpool or OBELiX data tables (LiCl only in mixtures and as "
    "LiCl*H2O) or in readable paper text. No study needs it: the library uses LiCl as an "
    "electronic insulator, and the MII study states its own matrix conductivity "
    "(docs/scenarios.md). Give `conductivity` next to `material:`.",
)

LI2S = Material(
    "Li2S",
    "interphase",
    "Li2S, a reduction product of sulfide electrolytes against Li; seed 000 lists it among the "
    f"non-metallic phases of 'relatively low Li+ conductivity' ({SEED_000}; {SEED_001}).",
    parameters={
        "conductivity": Parameter(
            1e-13 * S_PER_CM, "S/m",
            f"{WAN_2021}, main text, citing its ref. 22 (read as quoted verbatim in a public "
            "digest of the paper on GitHub; the paper itself not read)",
            "literature",
            "'It is reported that Li2S has a low ionic conductivity of 10-13 S cm-1': 1e-13 S/cm, "
            "an order of magnitude, second-hand. A Li+ blocker beside Li3P (1e-4 S/cm, seed "
            "001), as seed 000's 'relatively low Li+ conductivity' says.",
        ),
        "electronic_conductivity": _insulator(_SEED_001_INSULATED),
    },
    gaps="Activation energy.",
)

# -- Metals of metal-incorporated interphases (seed 000) and Li metal ---------------------------


def _metal(name: str, resistivity_ohm_m: float, role: str, checked: str = "") -> Material:
    """A metal of a metal-incorporated interphase, with its electronic conductivity.

    Args:
        name: Library name (the element symbol).
        resistivity_ohm_m: Resistivity at 20 C, ohm m.
        role: Where the metal comes from in the interphase.
        checked: A further text read that states the same resistivity (appended to the note).
    """
    note = f"1 / resistivity, {resistivity_ohm_m * 1e9:g} nOhm m at 20 C."
    return Material(
        name,
        "metal",
        f"{role} ({SEED_000}, introduction).",
        properties={
            "electronic_conductivity_S_m": Parameter(
                1.0 / resistivity_ohm_m, "S/m", CRC_RESISTIVITY, "literature",
                f"{note} {checked}".strip(),
            ),
        },
    )


def _infobox(copy: str, printed: str) -> str:
    """The note of a resistivity checked against a copy of the element's Wikipedia infobox."""
    return f"Checked: the Wikipedia element infobox ({copy}) states '{printed} (at 20 C)'."


#: Melting point of Li, K (180.50 C, the value livapordata/lithium.py gives with the
#: correlation of DAVISON_1968).
_LI_MELTING_POINT = 273.15 + 180.50


LI_METAL = Material(
    "Li",
    "li_metal",
    "Lithium metal, the working electrode.",
    properties={
        "molar_volume_m3_mol": Parameter(
            1.30e-5, "m^3/mol",
            "IUPAC standard atomic weight of Li and the density in the CRC Handbook of "
            "Chemistry and Physics",
            "derived", "M / rho = 6.94 g/mol / 0.534 g/cm^3 = 13.0 cm^3/mol at 20 C.",
        ),
        "electronic_conductivity_S_m": Parameter(
            1.0 / 92.8e-9, "S/m", CRC_RESISTIVITY, "literature",
            "1 / resistivity, 92.8 nOhm m at 20 C.",
        ),
        "surface_energy_J_m2": Parameter(
            0.447 - 1.07e-4 * _LI_MELTING_POINT - 1.351e-8 * _LI_MELTING_POINT**2, "J/m^2",
            DAVISON_1968, "derived",
            "Surface tension of liquid Li at its melting point (453.65 K) from the correlation, "
            "0.3957 N/m = J/m^2, taken as gamma of the solid surface at room temperature. The "
            "solid's value differs: experimental surface energies of solids are mostly liquid "
            "surface tensions extrapolated to zero temperature (Vitos et al., Surf. Sci. 411 "
            "(1998) 186, introduction), and they are facet-averaged.",
        ),
    },
    gaps="Surface energy per facet and of the solid at room temperature (DFT: Tran et al. 2016, "
    "Sci. Data 3, 160080; Doll, Harrison, Saunders 1999, cond-mat/9907031; experiment: Tyson "
    "and Miller 1977): looked for, their numbers not found as text.",
)

LI_MOLAR_VOLUME: float = float(LI_METAL.properties["molar_volume_m3_mol"].value)
"""V_m of Li metal, m^3/mol: the one value the growth, stability and post-processing use."""

LI_SURFACE_ENERGY: float = float(LI_METAL.properties["surface_energy_J_m2"].value)
"""γ of the Li surface, J/m^2 (liquid Li at its melting point: see the record's note)."""

MATERIALS: tuple[Material, ...] = (
    LLZO, LLZTO, LAGP, LI6PS5CL, LGPS,
    LIF, LI2O, LI2CO3, LII, LI3N, LI3P, LICL, LI2S, REDUCED_LLZO,
    _metal("Cu", 16.78e-9, "Copper, the metal from Cu+-doped LPSC"),
    _metal("Mg", 43.9e-9, "Magnesium, the metal from Mg2+-doped LPSC",
           _infobox("copy at en.wikihussain.com, Template:Infobox magnesium",
                    "Electrical resistivity 43.9 nOhm m")),
    _metal("In", 83.7e-9, "Indium, the metal from LPSC mixed with Li3InCl6",
           _infobox("copy at andhao.com, indium", "Electrical resistivity 83.7 nOhm m")),
    LI_METAL,
)
"""The records of this module, in table order."""
