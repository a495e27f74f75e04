"""Cited parameter sets for lidep studies (PyBaMM style: unit-suffixed names, one source each).

Each module holds a ``PARAMETERS`` mapping of :class:`solver.parameters.base.Parameter` records
and functions that assemble config-ready sections from them.
"""

from solver.parameters.base import Parameter, ParameterStatus

__all__ = ["Parameter", "ParameterStatus"]
