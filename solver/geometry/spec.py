"""Geometry configuration (placeholder: the geometry owner replaces this file)."""

from solver.schema import StrictModel


class GeometryConfig(StrictModel):
    """Placeholder geometry section."""

    def region_names(self) -> list[str]:
        """Interphase region names."""
        return []
