"""``solver.forms.compile_forms``: one JIT module, the same forms as ``dolfinx.fem.form``.

Every form is assembled twice, from ``compile_forms`` and from ``dolfinx.fem.form``, and the
values must be equal bit for bit (the same generated kernels, the same integration entities):
functionals over tagged cells, boundary and interior facets, a form mixing the mesh and the
electrolyte submesh (entity maps), linear and bilinear forms with coefficients and constants,
and a nested block structure with empty blocks. Serial and 2 ranks. The JIT-cache look-up by
file name finds exactly the module FFCx compiled, and nothing before it is compiled.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

from pathlib import Path

import dolfinx.fem.petsc
import ffcx
import ffcx.codegeneration.jit
import numpy as np
import pytest
import ufl
from conftest import FACETS, make_flat_bundle
from dolfinx import default_scalar_type, fem, jit
from mpi4py import MPI

from solver.domain import Domain
from solver.forms import _cached_module, compile_forms

W, L, T = 2e-6, 4e-6, 0.5e-6


def _case(comm: MPI.Comm):
    bundle = make_flat_bundle(comm, W, L, (4, 8), layer=("sei", T, 2))
    domain = Domain(bundle, comm, submesh=True, interface=["sei"])
    V = fem.functionspace(domain.mesh, ("Lagrange", 2))
    V_e = fem.functionspace(domain.submesh, ("Lagrange", 1))
    f, g = fem.Function(V), fem.Function(V_e)
    f.interpolate(lambda x: 1.0 + x[0] * x[1] / (W * L))
    g.interpolate(lambda x: 2.0 + x[1] / L)
    k = fem.Constant(domain.mesh, 3.0)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    dS = ufl.Measure("dS", domain=domain.mesh, subdomain_data=bundle.facet_tags)
    functionals = [
        f * domain.dx(bundle.regions["sei"]),
        k * f * domain.ds(bundle.boundaries["counter"]) + f * domain.li_measure,
        f("+") * dS(FACETS["interphase_electrolyte"]),
        g * domain.dx_e,
    ]
    blocks = [[k * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx, None],
              [None, f * u * v * domain.ds(bundle.boundaries["counter"])]]
    linear = [f * v * ufl.dx, ufl.ZeroBaseForm((v,))]
    return domain, functionals, blocks, linear


def _check(comm: MPI.Comm) -> None:
    domain, functionals, blocks, linear = _case(comm)
    maps = domain.maps
    ours = compile_forms([functionals, blocks, linear], entity_maps=maps)
    theirs = fem.form([functionals, blocks, linear], entity_maps=maps)
    # one module for all the forms of the call
    assert len({id(form.module) for form in ours[0] + [ours[1][0][0], ours[2][0]]}) == 1
    for a, b in zip(ours[0], theirs[0], strict=True):
        assert comm.allreduce(fem.assemble_scalar(a)) == comm.allreduce(fem.assemble_scalar(b))
    assert ours[1][0][1] is None and ours[1][1][0] is None
    for a, b in ((ours[1][0][0], theirs[1][0][0]), (ours[1][1][1], theirs[1][1][1])):
        A, B = dolfinx.fem.petsc.assemble_matrix(a), dolfinx.fem.petsc.assemble_matrix(b)
        A.assemble()
        B.assemble()
        assert A.norm() > 0.0
        A.axpy(-1.0, B)
        assert A.norm() == 0.0
    assert ours[2][1].rank == 1 and ours[2][1].ufcx_form is None  # the zero form, as fem.form
    x, y = fem.assemble_vector(ours[2][0]), fem.assemble_vector(theirs[2][0])
    assert np.linalg.norm(x.array) > 0.0
    np.testing.assert_array_equal(x.array, y.array)
    assert compile_forms(functionals[0]).rank == 0  # a single form gives a single Form


def test_compile_forms_equal_to_dolfinx() -> None:
    _check(MPI.COMM_SELF)


@pytest.mark.mpi
def test_compile_forms_equal_to_dolfinx_on_two_ranks() -> None:
    _check(MPI.COMM_WORLD)


def test_cache_look_up_by_name_finds_the_module_ffcx_compiled(tmp_path) -> None:
    _, functionals, _, _ = _case(MPI.COMM_SELF)
    options = ffcx.get_options({"scalar_type": default_scalar_type})
    jit_options = {**jit.get_options(), "cache_dir": tmp_path}  # an empty cache
    assert _cached_module(functionals, options, jit_options) is None
    ufcx_forms, module, _ = ffcx.codegeneration.jit.compile_forms(
        functionals, options=options, **jit_options
    )
    found, loaded = _cached_module(functionals, options, jit_options)
    assert Path(loaded.__file__) == Path(module.__file__)
    assert [module.ffi.string(f.signature) for f in ufcx_forms] == [
        loaded.ffi.string(f.signature) for f in found
    ]
    assert _cached_module(functionals[:2], options, jit_options) is None  # another module
