"""Forms and expressions compiled with their numbers as constants: compiled once per sweep.

FFCx writes every float literal of a UFL form into the generated C code, so two runs that differ
only in a number (a conductivity, a diffusivity, i0, alpha, the temperature in F/(R T), the
applied current, the residual scale 1/(i_ref A_proj)) compile different kernels, and every
point of a sweep over such a number compiles its own modules. :func:`compile_form` and
:func:`compile_expression` replace each float literal of the UFL by a ``fem.Constant`` holding
the same float64 value before DOLFINx compiles it; the kernel then depends on the structure of
the model only, and the points of a sweep share it (``docs/architecture.md``, "Compiled once
per sweep").

One constant per occurrence of a literal object, never one per value: two parameters that are
equal at one point of a sweep and different at another give the same kernel at both. Integer
literals (exponents, indices) stay in the code.

Known limit: UFL folds the literals 0 and 1 when an expression is built (``0 * x`` is zero,
``1 * x`` is ``x``), before this module sees them, so a parameter that is exactly 0 or 1 in SI
at one point changes the structure, and that point compiles its own kernel (its results are
right all the same).
"""

from __future__ import annotations

from typing import Any

import ufl
from dolfinx import fem
from ufl.constantvalue import FloatValue
from ufl.core.expr import Expr

__all__ = ["compile_expression", "compile_form", "lift", "lift_form"]


def lift(expr: Expr, domain: ufl.Mesh) -> Expr:
    """``expr`` with every float literal replaced by a ``fem.Constant`` of the same value.

    The DAG is walked once (iteratively, shared subexpressions once, by identity); nodes with
    no literal below them are kept as they are.

    Args:
        expr: A UFL expression (an integrand, or an expression to interpolate).
        domain: The UFL mesh the constants are defined on.
    """
    done: dict[int, Expr] = {}
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        operands = node.ufl_operands
        if isinstance(node, FloatValue):
            done[id(node)] = fem.Constant(domain, float(node))
        elif not operands:
            done[id(node)] = node
        elif not expanded:
            stack.append((node, True))
            stack.extend((o, False) for o in operands if id(o) not in done)
        else:
            new = tuple(done[id(o)] for o in operands)
            unchanged = all(a is b for a, b in zip(new, operands, strict=True))
            done[id(node)] = node if unchanged else node._ufl_expr_reconstruct_(*new)
    return done[id(expr)]


def lift_form(a: Any) -> Any:
    """A UFL form (or nested lists of forms, None kept) with each integrand lifted.

    For forms handed to DOLFINx uncompiled (``LinearProblem``).
    """
    if a is None:
        return None
    if isinstance(a, list | tuple):
        return [lift_form(b) for b in a]
    return ufl.Form(
        [i.reconstruct(integrand=lift(i.integrand(), i.ufl_domain())) for i in a.integrals()]
    )


def compile_form(a: Any, **kwargs: Any) -> Any:
    """``fem.form`` of ``a`` (a form or nested lists of forms) with its literals lifted.

    Args:
        a: As for ``fem.form``.
        **kwargs: Passed to ``fem.form`` (``entity_maps``, ...).
    """
    return fem.form(lift_form(a), **kwargs)


def compile_expression(e: Expr, points: Any, **kwargs: Any) -> fem.Expression:
    """``fem.Expression`` of ``e`` at reference ``points`` with its literals lifted.

    Args:
        e: The UFL expression.
        points: Reference points, shape (num_points, tdim).
        **kwargs: Passed to ``fem.Expression`` (``entity_maps``, ...).
    """
    return fem.Expression(lift(e, ufl.domain.extract_domains(e)[0]), points, **kwargs)
