"""The run file's schema: ``RunConfig`` (name, description, base, cases) and ``CaseConfig``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from solver.geometry.spec import GeometryConfig
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.output_spec import OutputConfig
from solver.schema import StrictModel

__all__ = [
    "DEFAULT_CASE",
    "RESERVED_CASE_NAMES",
    "CaseConfig",
    "CaseName",
    "RunConfig",
    "SafeName",
]

#: Name of the single case of a run file without ``cases``.
DEFAULT_CASE = "main"

_SAFE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"

#: Entries of a run directory beside the case directories: a case may not take their names.
RESERVED_CASE_NAMES = frozenset({"FAILED", "config.resolved.yaml", "figures", "manifest.json",
                                 "metrics.json", "report.html", "report.md", "run.log"})


def _not_reserved(name: str) -> str:
    if name in RESERVED_CASE_NAMES:
        raise ValueError("a file or folder of the run directory cannot name a case")
    return name


SafeName = Annotated[
    str, StringConstraints(pattern=_SAFE_NAME_PATTERN, min_length=1, max_length=100)
]
"""A directory-safe name: letters, digits, ``_``, ``.`` and ``-``, not starting with ``.`` or
``-`` (so never ``.``, ``..``, a hidden or temporary directory, or an option-like name)."""

CaseName = Annotated[SafeName, AfterValidator(_not_reserved)]
"""A :data:`SafeName` that is not one of :data:`RESERVED_CASE_NAMES`."""


def _section(model: type[BaseModel], description: str) -> Any:
    """Field for a config section; it defaults to ``model()`` when all its keys have defaults."""
    if all(not info.is_required() for info in model.model_fields.values()):
        return Field(default_factory=model, description=description)
    return Field(description=description)


class CaseConfig(StrictModel):
    """One simulated case: geometry, physics, time stepping, numerics and outputs (SI units)."""

    geometry: GeometryConfig = _section(
        GeometryConfig, "Domain, Li surface features, interphase layers, voids and mesh sizes."
    )
    physics: PhysicsConfig = _section(
        PhysicsConfig,
        "Electrolyte, interphase materials (one per interphase region of the geometry), "
        "kinetics, counter electrode, control and temperature.",
    )
    time: TimeConfig = _section(
        TimeConfig, "Steady or transient mode, end time, step, scheme and output times."
    )
    numerics: NumericsConfig = _section(
        NumericsConfig, "Element degree, nonlinear and linear solvers, tolerances."
    )
    output: OutputConfig = _section(
        OutputConfig, "Fields and formats written, hotspot metrics and report options."
    )


class RunConfig(StrictModel):
    """A run file: a name, a base case and optional cases that override parts of it."""

    name: SafeName = Field(
        description="Run name; the run directory is <output root>/<name>. Letters, digits, "
        "'_', '.' and '-' only (no path separators), starting with a letter, digit or '_'."
    )
    description: str = Field("", description="Free text describing the run (kept in reports).")
    base: CaseConfig = _section(
        CaseConfig, "The complete case shared by all cases; each case overrides parts of it."
    )
    cases: dict[CaseName, dict[str, Any]] = Field(
        default_factory=dict,
        description="Case name -> partial case (any keys of 'base') deep-merged onto 'base': "
        "mappings merge, lists and values replace, null removes a key of 'base' (its default "
        "applies). Empty: one case named 'main' equal to 'base'. Case names follow the rules "
        "of 'name' and are not a file of the run directory (metrics.json, figures, ...).",
    )
