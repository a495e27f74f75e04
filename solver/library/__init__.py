"""The cited parameter library: one record type, one table of named materials.

Every value is a :class:`~solver.library.records.Parameter` (SI value, unit, source, status
measured / literature / derived / assumption, note). Materials group them by name:

- :mod:`solver.library.inorganic`: solid electrolytes (LLZO, LLZTO, LAGP, Li6PS5Cl, LGPS),
  interphase phases (LiF, Li2O, Li2CO3, LiI, Li3N, Li3P, LiCl, Li2S, reduced LLZO), metals of
  metal-incorporated interphases and Li metal, mostly from the seed papers;
- :mod:`solver.library.liquids`: LiPF6 in EC:EMC (Valøen & Reimers 2005);
- :mod:`solver.library.li2024_qcpe`: the seed-004 parameter set of the default job (QCPE,
  QCPE@P-DOL, the LiF-rich interphase, and the cell-level values of the paper).

A config names a record with ``material: NAME`` in ``physics.electrolyte`` or an interphase
region; keys given next to it override the record's values. ``lidep materials [NAME]`` prints
the table, ``docs/materials.md`` is generated from it.
"""

from __future__ import annotations

from solver.library import inorganic, li2024_qcpe, liquids
from solver.library.records import (
    CONFIG_KINDS,
    ELECTROLYTE_KINDS,
    T_REF,
    Material,
    MaterialKind,
    Parameter,
    ParameterStatus,
)

__all__ = [
    "CONFIG_KINDS",
    "ELECTROLYTE_KINDS",
    "LIBRARY",
    "T_REF",
    "Material",
    "MaterialKind",
    "Parameter",
    "ParameterStatus",
    "get",
]

LIBRARY: dict[str, Material] = {
    m.name: m for m in (*inorganic.MATERIALS, *li2024_qcpe.MATERIALS, *liquids.MATERIALS)
}
"""Every material, by name, in table order."""


def get(name: str, *kinds: MaterialKind, what: str = "") -> Material:
    """Look up a library material of one of the expected kinds.

    Args:
        name: Library name.
        kinds: The kinds the caller accepts.
        what: How messages name the accepted kinds (default: the kinds joined by "or").

    Raises:
        ValueError: Unknown name or a material of another kind (the message lists the choices).
    """
    material = LIBRARY.get(name)
    if material is None or material.kind not in kinds:
        got = repr(name) if material is None else f"{name!r}, kind {material.kind}"
        allowed = ", ".join(sorted(n for n, m in LIBRARY.items() if m.kind in kinds))
        raise ValueError(
            f"material: unknown {what or ' or '.join(kinds)} material (got {got}); allowed: "
            f"{allowed} (`lidep materials` lists them)"
        )
    return material
