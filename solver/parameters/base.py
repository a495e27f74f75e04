"""A single cited parameter value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ParameterStatus = Literal["measured", "literature", "derived", "assumption"]
"""Where a value comes from: measured in the cited paper, taken from other literature, derived
from other parameters (the note says how), or an assumption (the note says why this value)."""


@dataclass(frozen=True)
class Parameter:
    """One parameter value in SI units with its provenance.

    Attributes:
        value: The value in SI units (``unit``).
        unit: SI unit of ``value``.
        source: Citation, with figure/table/page where the number is.
        status: measured | literature | derived | assumption.
        note: Conditions (temperature, cell), conversion, or the reason for an assumption.
    """

    value: float
    unit: str
    source: str
    status: ParameterStatus
    note: str = ""

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError(f"parameter {self.value} {self.unit}: a source is required")
