"""Output configuration: which fields are written, in which formats, and how hotspots are measured.

The ``output`` section of a case. Every quantity is SI (times in s, lengths in m); strings with
units are accepted as everywhere in the config (``"100 nm"``, ``"1 h"``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from solver.schema import StrictModel
from solver.units import Length, Time

FieldName = Literal[
    "potential", "concentration", "current_density", "field_strength", "surface_current"
]
"""Exportable fields. ``surface_current`` is j on the Li-surface boundary mesh."""

FieldFormat = Literal["xdmf", "vtx"]
"""Field formats: XDMF+HDF5 (ParaView's Xdmf3 readers, pyvista, meshio) and ADIOS2 VTX (``.bp``,
ParaView builds with ADIOS2)."""

ALL_FIELDS: tuple[FieldName, ...] = (
    "potential", "concentration", "current_density", "field_strength", "surface_current"
)

UNIFORM_BELOW = 1.1
"""Hotspot factor max/mean j below which the current counts as even: the default of
``reference.uniform_below``, and the report's threshold for cases without a reference."""


class FigureConfig(StrictModel):
    """Which figures the report draws (PNG files under ``<run>/figures``)."""

    interface_current: bool = Field(
        True,
        description="Normal current density j along the Li surface, each case, at the figure "
        "times (A/m^2 shown as mA/cm^2 against arc length).",
    )
    enhancement: bool = Field(
        True,
        description="Enhancement factors (max/mean, tip/far-field) against time for every case.",
    )
    concentration_maps: bool = Field(
        True,
        description="Colour maps of the salt concentration at the last figure time "
        "(needs the 'concentration' field in 'xdmf' format).",
    )
    field_maps: bool = Field(
        True,
        description="Colour maps of the potential and |E| with the Li surface and interphase "
        "outlined (needs the fields in 'xdmf' format).",
    )


class ReferenceObservation(StrictModel):
    """What a reference study (experiment or another model) reports for this case at one time."""

    time: Literal["early", "late"] = Field(
        description="'early': the first output time; 'late': the last output time."
    )
    state: Literal["hotspot", "uniform"] = Field(
        description="'uniform': the hotspot factor max/mean j stays below "
        "reference.uniform_below; 'hotspot': it does not."
    )


class RegimeMapConfig(StrictModel):
    """A sweep that maps where a reference's observations hold, and what it found."""

    sweep: str = Field(
        max_length=200,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]*\.ya?ml$",
        description="The sweep file, as a path in the lidep repository (e.g. "
        "configs/sweeps/seed004_regime_map.yaml); docs/scenarios.md describes the showcases.",
    )
    finding: str = Field(
        min_length=1,
        max_length=2000,
        description="Under which parameters the model reproduces the reference's observations, "
        "as docs/scenarios.md states it (the report quotes it).",
    )


class ReferenceConfig(StrictModel):
    """Observations of a reference study that the report checks this case against."""

    source: str = Field(
        description="Citation of the reference, with figure (e.g. 'Li et al. 2024, Fig. 4g')."
    )
    uniform_below: float = Field(
        UNIFORM_BELOW,
        gt=1.0,
        description="Hotspot factor (max/mean j) below which the current counts as uniform "
        "when comparing with the reference.",
    )
    observations: list[ReferenceObservation] = Field(
        default_factory=list,
        description="What the reference reports for this case, each compared in the report "
        "with our hotspot factor at that time (agrees / disagrees).",
    )
    regime_map: RegimeMapConfig | None = Field(
        default=None,
        description="The sweep mapping where the observations hold; the report names it and "
        "quotes its finding.",
    )


class OutputConfig(StrictModel):
    """Output section: field export, hotspot metrics and the report."""

    fields: list[FieldName] = Field(
        default_factory=lambda: list(ALL_FIELDS),
        description="Fields written for ParaView at every output time: 'potential' (V), "
        "'concentration' (mol/m^3, electrolyte), 'current_density' (A/m^2, vector), "
        "'field_strength' (|E|, V/m) and 'surface_current' (j on the Li surface, A/m^2).",
    )
    formats: list[FieldFormat] = Field(
        default_factory=lambda: ["xdmf"],
        description="File formats for the fields: 'xdmf' (one XDMF+HDF5 time series of all "
        "fields of the ionic domain and one of the Li-surface current, nodal values of the "
        "mesh-geometry degree; opened by ParaView's Xdmf3 readers, pyvista and meshio; the "
        "report's maps need it) and 'vtx' (ADIOS2 .bp folder per field in its own Lagrange "
        "degree; needs a ParaView built with ADIOS2). An empty list writes no field files.",
    )
    figure_times: list[Time] | None = Field(
        None,
        description="Times (s) at which the report plots j along the interface; each is matched "
        "to the nearest output time. None: at most 4 output times spread over the run.",
    )
    hotspot_factor: float = Field(
        2.0,
        gt=1.0,
        description="Hotspot threshold k: the surface where j > k * mean(j) is the hotspot "
        "(its length/area fraction and location are reported).",
    )
    percentile: float = Field(
        99.0,
        gt=0.0,
        lt=100.0,
        description="Percentile of j (weighted by surface measure) reported as a "
        "mesh-robust alternative to the maximum.",
    )
    edge_band: Length = Field(
        1.0e-7,
        gt=0.0,
        description="Half-width (m) of the band around each void edge and surface corner in "
        "which the fraction of the total current is reported (mesh-independent measure of "
        "edge singularities); choose it larger than the local element size.",
    )
    figures: FigureConfig = Field(
        default_factory=FigureConfig, description="Figure toggles of the report."
    )
    reference: ReferenceConfig | None = Field(
        None,
        description="Observations of a reference study for this case; the report states "
        "whether our results agree and in which regime (dimensionless numbers) they lie.",
    )
    report: bool = Field(
        True,
        description="Build report.md and report.html (with figures) after the run.",
    )

    @property
    def written_fields(self) -> list[str]:
        """The fields written to files: ``fields``, or none when ``formats`` is empty."""
        return list(self.fields) if self.formats else []

    @field_validator("fields", "formats")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise ValueError(f"listed more than once: {', '.join(duplicates)}")
        return value

    @field_validator("figure_times")
    @classmethod
    def _non_negative_times(cls, value: list[float] | None) -> list[float] | None:
        if value is not None:
            negative = [t for t in value if t < 0.0]
            if negative:
                raise ValueError(f"figure times must be >= 0 s (got {negative})")
        return value
