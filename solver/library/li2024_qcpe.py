"""Li | QCPE and Li | QCPE@P-DOL (LiF-rich interphase): parameters of the seed paper and gaps.

Seed paper: J. Li, J. Chen, X. Xu, J. Sun, B. Huang, T. Zhao, "Stabilizing the LAGP/Li interface
and in situ visualizing the interfacial structure evolution for high-performance solid-state
lithium metal batteries", Energy Environ. Sci. 17 (2024) 5521, doi:10.1039/d4ee02075h.
QCPE is the quasi-solid composite polymer electrolyte (poly-DOL, LAGP, LiTFSI, DEC/FEC,
EMImNTF2 on a glass-fibre separator); QCPE@P-DOL has P-DOL-coated LAGP facing the Li and forms
a LiF-rich interphase (cryo-TEM, XPS, TOF-SIMS: Fig. 4 and 5). The paper's COMSOL study
(Fig. 4g, S14) shows tip hotspots early for both and a uniform flux late only with QCPE@P-DOL.

What the paper does not give in its main text - electrolyte conductivity (only plotted,
Fig. 2h/2l), salt concentration (Table S1 of the ESI), salt diffusivity, interphase thickness and
conductivity - is marked ``assumption`` or ``derived`` with the reasoning in the note. All values
SI; names carry the unit (PyBaMM style). The library materials ``QCPE``, ``QCPE@P-DOL`` and
``LiF-rich`` are built from these values (:data:`MATERIALS`), and so is :func:`physics_section`.
"""

from __future__ import annotations

from typing import Literal

from solver.dilute import DiluteSalt
from solver.library.inorganic import LI2CO3, LI2O, LIF
from solver.library.records import (
    CM2_PER_S,
    ELECTRON_VOLT_PER_MOL,
    MA_PER_CM2,
    S_PER_CM,
    T_REF,
    Material,
    Parameter,
)
from solver.library.sources import CRYO_EM, SEED_003, SEED_004

__all__ = ["MATERIALS", "PARAMETERS", "dilute_salt_diffusivity", "physics_section", "value"]

SEED = SEED_004

PARAMETERS: dict[str, Parameter] = {
    # Operating conditions -------------------------------------------------------------------
    "temperature_K": Parameter(
        303.15, "K", f"{SEED}, Fig. 5 (symmetric Li cells and Tafel tests at 30 C)", "measured"
    ),
    "applied_current_density_A_m2": Parameter(
        0.5 * MA_PER_CM2,
        "A/m^2",
        f"{SEED}, Fig. 5c-e (galvanostatic cycling at 0.5 mA/cm^2; XPS/TOF-SIMS after 20 "
        "cycles at 0.5 mA/cm^2)",
        "measured",
        "The cycling current of the symmetric cells, used as the plating current density.",
    ),
    # Bare interface: QCPE ---------------------------------------------------------------------
    "qcpe_exchange_current_density_A_m2": Parameter(
        0.133 * MA_PER_CM2, "A/m^2", f"{SEED}, Fig. 5a (Tafel, Li|QCPE|Li, 30 C)", "measured"
    ),
    "qcpe_transference_number": Parameter(
        0.19, "1", f"{SEED}, Fig. 2l and Fig. S5a (room temperature)", "measured"
    ),
    "qcpe_activation_energy_J_mol": Parameter(
        0.16 * ELECTRON_VOLT_PER_MOL,
        "J/mol",
        f"{SEED}, Fig. 2i (Arrhenius plot of the ionic conductivity, 0.16 eV)",
        "measured",
    ),
    "qcpe_interfacial_resistance_ohm": Parameter(
        1200.0,
        "ohm",
        f"{SEED}, Fig. 2j (EIS of Li|QCPE|Li)",
        "measured",
        "Absolute resistance of the cell; the electrode area is not in the main text, so it is "
        "not converted to an area-specific resistance and not used as an input.",
    ),
    "qcpe_cycle_life_s": Parameter(
        60.0 * 3600.0, "s", f"{SEED}, Fig. 5c (Li|QCPE|Li at 0.5 mA/cm^2)", "measured"
    ),
    # LiF-rich interface: QCPE@P-DOL -------------------------------------------------------------
    "qcpe_pdol_exchange_current_density_A_m2": Parameter(
        0.171 * MA_PER_CM2, "A/m^2", f"{SEED}, Fig. 5a (Tafel, Li|QCPE@P-DOL|Li, 30 C)", "measured"
    ),
    "qcpe_pdol_transference_number": Parameter(
        0.56, "1", f"{SEED}, Fig. 2l and Fig. S5b (room temperature)", "measured"
    ),
    "qcpe_pdol_activation_energy_J_mol": Parameter(
        0.14 * ELECTRON_VOLT_PER_MOL,
        "J/mol",
        f"{SEED}, Fig. 2i (Arrhenius plot of the ionic conductivity, 0.14 eV)",
        "measured",
    ),
    "qcpe_pdol_interfacial_resistance_ohm": Parameter(
        450.0,
        "ohm",
        f"{SEED}, Fig. 2j (EIS of Li|QCPE@P-DOL|Li)",
        "measured",
        "Absolute resistance; electrode area not given in the main text (not used as input).",
    ),
    "qcpe_pdol_symmetric_overpotential_V": Parameter(
        0.25,
        "V",
        f"{SEED}, Fig. 5d (Li|QCPE@P-DOL|Li at 0.5 mA/cm^2; 80 mV at 0.2 and 370 mV at 1.0 "
        "mA/cm^2, Fig. 5d-e)",
        "measured",
        "Total symmetric-cell polarisation: ASR 0.05 ohm m^2 (500 ohm cm^2), a check on the "
        "sum of charge-transfer, interphase and electrolyte resistances.",
    ),
    "qcpe_pdol_critical_current_density_A_m2": Parameter(
        2.4 * MA_PER_CM2, "A/m^2", f"{SEED}, Fig. 5b (1 h steps)", "measured"
    ),
    # Not electrolyte properties, recorded so that nobody mistakes them for D ------------------
    "qcpe_apparent_li_diffusion_coefficient_m2_s": Parameter(
        2.33e-15 * CM2_PER_S,
        "m^2/s",
        f"{SEED}, Fig. 3b (LFP|QCPE|Li, CV peak currents)",
        "measured",
        "Apparent Li+ diffusion coefficient of the LFP full cell (Randles-Sevcik), not the salt "
        "diffusivity of the electrolyte; not used.",
    ),
    "qcpe_pdol_apparent_li_diffusion_coefficient_m2_s": Parameter(
        1.11e-14 * CM2_PER_S,
        "m^2/s",
        f"{SEED}, Fig. 3b (LFP|QCPE@P-DOL|Li, CV peak currents)",
        "measured",
        "As above: a full-cell apparent value, not the salt diffusivity; not used.",
    ),
    # Gaps: electrolyte ---------------------------------------------------------------------------
    "electrolyte_conductivity_S_m": Parameter(
        1.0e-4 * S_PER_CM,
        "S/m",
        f"{SEED}, Fig. 2h/2l (plotted only) and introduction (oxide fillers 1e-4 to 1e-3 S/cm)",
        "assumption",
        "1e-4 S/cm at 25 C for both electrolytes (quasi-solid polymer composite; the paper plots "
        "but does not state its value). Consistency check: with i0 = 0.171 mA/cm^2 the two "
        "charge-transfer resistances take 0.031 of the measured 0.05 ohm m^2 symmetric-cell ASR, "
        "leaving 0.019 ohm m^2 for the ~0.2 mm electrolyte and interphases, i.e. ~1e-4 S/cm.",
    ),
    "electrolyte_bulk_concentration_mol_m3": Parameter(
        1000.0,
        "mol/m^3",
        f"{SEED}, Table S1 of the ESI (composition; not in the main text)",
        "assumption",
        "1 M LiTFSI, the usual salt content of such polymer/liquid composites.",
    ),
    # Gaps: interphase (QCPE@P-DOL only) --------------------------------------------------------
    "lif_rich_thickness_m": Parameter(
        10.0e-9,
        "m",
        CRYO_EM,
        "assumption",
        "The paper images the LiF-rich mosaic SEI (Fig. 4b-f) without a thickness; 10 nm is the "
        "order of cryo-EM SEI thicknesses on Li.",
    ),
    "lif_rich_conductivity_S_m": Parameter(
        1.0e-8 * S_PER_CM,
        "S/m",
        f"{SEED_003}, section 2.2.1 (Conduction)",
        "assumption",
        "Effective Li+ conductivity of the nanocrystalline LiF/Li2O/Li2CO3 mosaic: 1e-8 S/cm, the "
        "Li2CO3 value; bulk LiF (1e-13 S/cm) would give 1e4 ohm m^2 for 10 nm, against the "
        "measured 0.05 ohm m^2 of the whole cell, so conduction must run along grain "
        "boundaries/LiF-Li2O interfaces, as the review notes. Gives h/sigma = 0.01 ohm m^2.",
    ),
    "lif_rich_electronic_conductivity_S_m": Parameter(
        0.0,
        "S/m",
        f"{SEED}, text on Fig. 4 ('LiF acts as an excellent electronic insulator')",
        "assumption",
        "Taken as a perfect electronic insulator (no leakage).",
    ),
    # SEI phase conductivities for mosaic studies (one home: the phase records) -----------------
    "lif_ionic_conductivity_S_m": LIF.parameters["conductivity"],
    "li2o_ionic_conductivity_S_m": LI2O.parameters["conductivity"],
    "li2co3_ionic_conductivity_S_m": LI2CO3.parameters["conductivity"],
}
"""Every parameter of this set, by unit-suffixed name."""


def _electrolyte(prefix: str, name: str, description: str) -> Material:
    """The QCPE or QCPE@P-DOL record: its electrolyte inputs and the Li | it interface data."""
    return Material(
        name,
        "dilute",
        description,
        parameters={
            "bulk_concentration": PARAMETERS["electrolyte_bulk_concentration_mol_m3"],
            "conductivity": PARAMETERS["electrolyte_conductivity_S_m"],
            "transference_number": PARAMETERS[f"{prefix}_transference_number"],
            "diffusivity_activation_energy": PARAMETERS[f"{prefix}_activation_energy_J_mol"],
        },
        properties={
            "li_exchange_current_density_A_m2":
                PARAMETERS[f"{prefix}_exchange_current_density_A_m2"],
            "li_symmetric_cell_resistance_ohm": PARAMETERS[f"{prefix}_interfacial_resistance_ohm"],
            "apparent_li_diffusion_coefficient_m2_s":
                PARAMETERS[f"{prefix}_apparent_li_diffusion_coefficient_m2_s"],
        },
        gaps="Salt diffusivity (only a full-cell apparent value is given: not an input); the "
        "conductivity and salt content are assumptions (see their notes).",
    )


QCPE = _electrolyte(
    "qcpe", "QCPE",
    "Quasi-solid composite polymer electrolyte (poly-DOL, LAGP, LiTFSI, DEC/FEC, EMImNTF2 on "
    f"glass fibre), dilute-solution description ({SEED_004}).",
)
QCPE_PDOL = _electrolyte(
    "qcpe_pdol", "QCPE@P-DOL",
    "QCPE with P-DOL-coated LAGP facing the Li; forms a LiF-rich interphase (Fig. 4-6) "
    f"({SEED_004}).",
)
LIF_RICH = Material(
    "LiF-rich",
    "interphase",
    "LiF-rich mosaic SEI formed on Li by QCPE@P-DOL (cryo-TEM, XPS, TOF-SIMS: Fig. 4-6), "
    f"effective values ({SEED_004}).",
    parameters={
        "conductivity": PARAMETERS["lif_rich_conductivity_S_m"],
        "electronic_conductivity": PARAMETERS["lif_rich_electronic_conductivity_S_m"],
    },
    properties={"thickness_m": PARAMETERS["lif_rich_thickness_m"]},
)
MATERIALS: tuple[Material, ...] = (QCPE, QCPE_PDOL, LIF_RICH)
"""The materials of this set, in table order."""


def value(name: str) -> float:
    """SI value of a parameter of this set.

    Raises:
        KeyError: Unknown name (the message lists the names).
    """
    if name not in PARAMETERS:
        raise KeyError(f"unknown parameter {name!r}; known: {', '.join(sorted(PARAMETERS))}")
    return float(PARAMETERS[name].value)


def dilute_salt_diffusivity(
    conductivity: float, transference_number: float, concentration: float, temperature: float
) -> float:
    """Salt diffusivity D = 2 D+ D- / (D+ + D-) implied by κ, t+ and c in dilute theory, m^2/s.

    The relations are those of :class:`solver.dilute.DiluteSalt` (their one home).
    """
    return DiluteSalt.from_conductivity(
        conductivity, transference_number, concentration, temperature
    ).diffusivity


Case = Literal["bare", "lif_rich"]


def physics_section(case: Case, *, interphase_name: str = "sei") -> dict[str, object]:
    """Config-ready ``physics`` section (SI numbers) of the bare or the LiF-rich case.

    Both: dilute binary electrolyte with κ (25 C), t+ and c_bulk, Arrhenius activation energy of
    the measured conductivity, Butler-Volmer kinetics with the measured i0 (30 C, so no
    Arrhenius factor on i0: it is given at the operating temperature), galvanostatic plating at
    0.5 mA/cm^2, T = 30 C. ``lif_rich`` adds the interphase region ``interphase_name`` (the
    geometry must have a layer of that name, thickness :data:`PARAMETERS`
    ``lif_rich_thickness_m``).

    Raises:
        ValueError: ``case`` is not ``"bare"`` or ``"lif_rich"``.
    """
    if case not in ("bare", "lif_rich"):
        raise ValueError(f"case must be 'bare' or 'lif_rich', got {case!r}")
    prefix = "qcpe" if case == "bare" else "qcpe_pdol"
    i0 = value(f"{prefix}_exchange_current_density_A_m2")
    kinetics = {"model": "butler_volmer", "exchange_current_density": i0}
    section: dict[str, object] = {
        "temperature": value("temperature_K"),
        "reference_temperature": T_REF,
        "electrolyte": (QCPE if case == "bare" else QCPE_PDOL).values(),
        "kinetics": kinetics,
        "control": {
            "mode": "galvanostatic",
            "current_density": value("applied_current_density_A_m2"),
        },
        "interphase": {},
    }
    if case == "lif_rich":
        section["interphase"] = {
            interphase_name: {**LIF_RICH.values(), "kinetics": dict(kinetics)}
        }
    return section
