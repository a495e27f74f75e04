"""Physics, time and numerics configuration (placeholder: the physics owner replaces this file)."""

from solver.schema import StrictModel


class PhysicsConfig(StrictModel):
    """Placeholder physics section."""


class TimeConfig(StrictModel):
    """Placeholder time section."""


class NumericsConfig(StrictModel):
    """Placeholder numerics section."""
