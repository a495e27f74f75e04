"""Float literals lifted to constants (solver.lifted_forms): same kernel, same numbers.

A form whose numbers differ must compile to one kernel (the signature FFCx caches by) and
assemble to exactly what the form with the literals in its code gives: the constants hold the
same float64 values, so the two agree to rounding (1e-14 relative; the generated code differs
only in where the number is read from).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

import solver  # noqa: F401  (MPI import order)
from solver.lifted_forms import compile_expression, compile_form, lift, lift_form


@pytest.fixture(scope="module")
def space():
    square = mesh.create_unit_square(MPI.COMM_WORLD, 4, 4)
    V = fem.functionspace(square, ("Lagrange", 2))
    u = fem.Function(V)
    u.interpolate(lambda x: 1.0 + x[0] ** 2 + 0.5 * x[1])
    return V, u


def residual(V, u, sigma: float, i0: float, f: float):
    """A nonlinear residual with its parameters as Python floats (as the physics terms write)."""
    v = ufl.TestFunction(V)
    x = ufl.SpatialCoordinate(V.mesh)
    w = 2.0 * math.pi * x[0]
    bv = i0 * (ufl.exp(0.5 * f * u) - ufl.exp(-0.5 * f * u))
    return (sigma * ufl.dot(ufl.grad(u), ufl.grad(v)) * w * ufl.dx + bv * v * w * ufl.ds
            + u**2 * v * ufl.dx)


def test_lifted_forms_share_one_signature_and_keep_the_values(space):
    V, u = space
    a = residual(V, u, 0.01, 1.33, 38.3)
    b = residual(V, u, 0.02, 1.71, 39.1)
    # with the literals in the code the two forms differ; lifted, they are one kernel
    assert a.signature() != b.signature()
    assert lift_form(a).signature() == lift_form(b).signature()
    # the lifted form assembles to the same vector (both parameter sets)
    for form in (a, b):
        plain = fem.assemble_vector(fem.form(form)).array
        lifted = fem.assemble_vector(compile_form(form)).array
        assert np.allclose(lifted, plain, rtol=1e-14, atol=1e-14 * np.abs(plain).max())
    # the Jacobian of the lifted residual (derivatives are taken after the lift)
    jac = ufl.derivative(a, u)
    plain = fem.assemble_matrix(fem.form(jac)).to_dense()
    lifted = fem.assemble_matrix(compile_form(jac)).to_dense()
    assert np.allclose(lifted, plain, rtol=1e-14, atol=1e-14 * np.abs(plain).max())


def test_one_constant_per_occurrence_not_per_value(space):
    V, u = space
    # two parameters with equal values at one point and different at another: one kernel
    equal = lift(0.3 * u + 0.3 * u**2, V.mesh.ufl_domain())
    different = lift(0.3 * u + 0.4 * u**2, V.mesh.ufl_domain())
    assert len(ufl.algorithms.analysis.extract_constants(equal)) == 2
    assert lift_form(equal * ufl.dx).signature() == lift_form(different * ufl.dx).signature()


def test_lifted_expression_interpolates_the_same_values(space):
    V, u = space
    points = V.element.interpolation_points
    plain = fem.Expression(3.7 * u**2 + 0.25, points)
    lifted = compile_expression(3.7 * u**2 + 0.25, points)
    cells = np.arange(V.mesh.topology.index_map(2).size_local, dtype=np.int32)
    assert np.allclose(lifted.eval(V.mesh, cells), plain.eval(V.mesh, cells), rtol=1e-14)
