"""Output configuration (placeholder: the post-processing owner replaces this file)."""

from solver.schema import StrictModel


class OutputConfig(StrictModel):
    """Placeholder output section."""
