"""Sources of the parameter library, each written once.

The seed papers are the files in ``../shared/seeds/`` (``NNN_<hash>.txt``); a value taken from
one names the file and the figure, table or passage. Literature references carry a DOI only
where it is certain (from a seed's reference list or the paper itself).
"""

from __future__ import annotations

__all__ = [
    "CRC_RESISTIVITY",
    "CRYO_EM",
    "DAVISON_1968",
    "HANGHOFER_2019",
    "KAMAYA_2011",
    "LABELS",
    "LASKOWSKI_2023",
    "SEED_000",
    "SEED_001",
    "SEED_002",
    "SEED_003",
    "SEED_004",
    "TAPIA_RUIZ_2020",
    "VALOEN_2005",
    "WAN_2021",
    "abbreviate",
]

SEED_000 = (
    "seed 000_359c7754ceb83afb.txt: H. Su, J. Fu, S. Liu, Y. Zhong, Y. Hu, J. Kuang, M. Wang, "
    "X. Wang, X. Sun, J. Tu, 'Metal-incorporated interphases formed between inorganic solid "
    "electrolytes and Li metal: beneficial or detrimental?', EES Batteries 1 (2025) 242, "
    "doi:10.1039/d5eb00024f"
)
SEED_001 = (
    "seed 001_cee0608635c4dbdd.txt: D. Wang et al., 'A review of interface optimization "
    "strategies for solid electrolytes and anode materials', Nanoscale Adv. 7 (2025) 4535, "
    "doi:10.1039/d5na00286a"
)
SEED_002 = (
    "seed 002_37b88152380e47cb.txt: C. Li, Y. Qiu, Y. Zhao, W. Feng, 'Self assembled electron "
    "blocking and lithiophilic interface towards dendrite-free solid-state lithium battery', "
    "Chin. Chem. Lett. (2023) 108846"
)
SEED_003 = (
    "seed 003_8dcabe41433cea1d.txt: Z. Shen, J. Huang, Y. Xie, D. Wei, J. Chen, Z. Shi, "
    "'Solid Electrolyte Interphase on Lithium Metal Anodes' (review)"
)
SEED_004 = (
    "seed 004_e73027f0a5f6ae1d.txt: J. Li, J. Chen, X. Xu, J. Sun, B. Huang, T. Zhao, "
    "'Stabilizing the LAGP/Li interface and in situ visualizing the interfacial structure "
    "evolution for high-performance solid-state lithium metal batteries', Energy Environ. Sci. "
    "17 (2024) 5521, doi:10.1039/d4ee02075h"
)
VALOEN_2005 = (
    "L. O. Valøen and J. N. Reimers, 'Transport properties of LiPF6-based Li-ion battery "
    "electrolytes', J. Electrochem. Soc. 152 (2005) A882-A891, doi:10.1149/1.1872737"
)
KAMAYA_2011 = (
    "N. Kamaya et al., 'A lithium superionic conductor', Nat. Mater. 10 (2011) 682-686, "
    "doi:10.1038/nmat3066"
)
CRC_RESISTIVITY = (
    "CRC Handbook of Chemistry and Physics, table 'Electrical resistivity of pure metals' "
    "(value at 293 K)"
)
DAVISON_1968 = (
    "H. W. Davison, 'Complication [sic] of Thermophysical Properties of Liquid Lithium', NASA "
    "Technical Note TN D-4650, Lewis Research Center (1968), surface-tension correlation "
    "sigma = 0.447 - 1.07e-4 T - 1.351e-8 T^2 N/m (T in K; standard deviation of the data "
    "+-1.9 %, maximum difference +5.2 %), as transcribed with that quotation in "
    "github.com/cfe316/livapordata, livapordata/lithium.py (function surface_tension)"
)
HANGHOFER_2019 = (
    "I. Hanghofer et al., 'Substitutional disorder: structure and ion dynamics of the "
    "argyrodites Li6PS5Cl, Li6PS5Br and Li6PS5I', Phys. Chem. Chem. Phys. (2019), "
    "doi:10.1039/c9cp00664h (RSC article c9cp00664h)"
)
TAPIA_RUIZ_2020 = (
    "N. Tapia-Ruiz et al., 'Low dimensional nanostructures of fast ion conducting lithium "
    "nitride', Nat. Commun. 11 (2020) 4492, doi:10.1038/s41467-020-17951-6"
)
LASKOWSKI_2023 = (
    "F. A. L. Laskowski et al., Energy Environ. Sci. 16 (2023) 1264, doi:10.1039/d2ee03499a, "
    "supplementary table of Li-ion conductors (columns 'Structure, sigma(RT)(S cm-1), Ea (eV), "
    "space group, ICSD Entry, DOI'), as transcribed from the SI PDF with one DOI per row in "
    "github.com/NRC-Mila/OBELiX, data/misc/laskowski_with_dois.csv (commit 07ee89d3)"
)
WAN_2021 = (
    "H. Wan, B. Zhang, S. Liu, J. Zhang, X. Yao, C. Wang, 'Understanding LiI-LiBr Catalyst "
    "Activity for Solid State Li2S/S Reactions in an All-Solid-State Lithium Battery', Nano "
    "Lett. 21 (2021) 8488, doi:10.1021/acs.nanolett.1c03415"
)
CRYO_EM = (
    "Y. Li et al., 'Atomic structure of sensitive battery materials and interfaces revealed by "
    "cryo-electron microscopy', Science 358 (2017) 506 (SEI tens of nm on Li)"
)

LABELS: dict[str, str] = {
    SEED_000: "[seed 000]",
    SEED_001: "[seed 001]",
    SEED_002: "[seed 002]",
    SEED_003: "[seed 003]",
    SEED_004: "[seed 004]",
    VALOEN_2005: "[Valøen 2005]",
    KAMAYA_2011: "[Kamaya 2011]",
    CRC_RESISTIVITY: "[CRC]",
    CRYO_EM: "[cryo-EM 2017]",
    DAVISON_1968: "[Davison 1968]",
    HANGHOFER_2019: "[Hanghofer 2019]",
    TAPIA_RUIZ_2020: "[Tapia-Ruiz 2020]",
    LASKOWSKI_2023: "[Laskowski 2023]",
    WAN_2021: "[Wan 2021]",
}
"""Short label of each full reference, for compact listings (with the legend below them)."""


def abbreviate(source: str) -> tuple[str, list[str]]:
    """A source with its full references replaced by labels, and the labels it uses."""
    used = [label for ref, label in LABELS.items() if ref in source]
    for ref, label in LABELS.items():
        source = source.replace(ref, label)
    return source, used
