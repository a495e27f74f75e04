"""Gmsh ``MathEval`` expression strings built from numbers.

Gmsh's expression parser (mathex) rejects two operators in a row, so ``x - -1`` aborts the whole
process (SIGABRT) instead of raising. Every number written into a size-field expression goes
through :func:`literal`, which parenthesises it with full precision; no builder formats a number
into an expression by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["distance_to", "literal"]


def literal(value: float) -> str:
    """A finite number as a parenthesised MathEval literal, e.g. ``(-1)``, ``(2.5e-07)``.

    Raises:
        ValueError: The value is not finite (no expression can hold it).
    """
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"mesh size expression: a non-finite number (got {number})")
    return f"({number:.17g})"


def distance_to(point: Sequence[float]) -> str:
    """Euclidean distance from (x, y[, z]) to ``point`` (model units) as a MathEval expression."""
    axes = "xyz"[: len(point)]
    terms = [f"(({axis}) - {literal(c)})^2" for axis, c in zip(axes, point, strict=True)]
    return f"Sqrt({' + '.join(terms)})"
