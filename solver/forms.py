"""Forms compiled together: one JIT module for several UFL forms.

``dolfinx.fem.form`` compiles every UFL form into a module of its own, and each module is
looked up in the JIT cache on its own. :func:`compile_forms` hands all UFL forms of a (nested)
list to FFCx at once, so they share one module and one look-up, and returns the same DOLFINx
``Form`` objects in the same nesting as ``dolfinx.fem.form`` would (``tests/test_forms.py``
assembles both and requires equal values).

A module already in the JIT cache is loaded by its file name (:func:`_cached_module`), not
through FFCx's look-up, which lists the whole cache directory with a fresh ``importlib`` finder
each time: 13 ms of CPU per look-up at 23,000 cached files, against about 1 ms for the
signature and loading. The name is FFCx's own (the forms' signature and the compiler options,
computed by FFCx's functions); anything not found that way (not compiled yet, being compiled
by another process, another FFCx naming) goes through FFCx as before.

In parallel, rank 0 compiles first and the other ranks then load the module from the cache
(``dolfinx.jit.mpi_jit_decorator``, as ``dolfinx.fem.form`` does). Collective.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ffcx
import ffcx.codegeneration.jit
import ffcx.naming
import ufl
from dolfinx import default_scalar_type, fem, jit
from dolfinx.fem.forms import get_integration_domains

from solver.lifted_forms import lift_form

__all__ = ["compile_forms"]


def _cached_module(forms: list[ufl.Form], options: dict, jit_options: dict) -> tuple | None:
    """(ufcx forms, module) of ``forms`` loaded from the JIT cache by file name, or None.

    The module and form names are those ``ffcx.codegeneration.jit.compile_forms`` gives; the
    module counts as cached once FFCx has written its ``.c.cached`` marker (after the shared
    library), as in FFCx's own look-up.
    """
    jit_compile = ffcx.codegeneration.jit
    tag = jit_compile._compute_option_signature(
        ffcx.get_options(options)
    ) + jit_compile._compilation_signature(
        jit_options["cffi_extra_compile_args"], jit_options["cffi_debug"]
    )
    name = "libffcx_forms_" + ffcx.naming.compute_signature(forms, tag)
    cache_dir = Path(jit_options["cache_dir"])
    if not (cache_dir / f"{name}.c.cached").is_file():
        return None
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = cache_dir / f"{name}{suffix}"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return [
                getattr(module.lib, ffcx.naming.form_name(form, i, name))
                for i, form in enumerate(forms)
            ], module
    return None


@jit.mpi_jit_decorator
def _compile(forms: list[ufl.Form], options: dict, jit_options: dict) -> tuple:
    """(ufcx forms, module) of ``forms`` compiled into one module (or loaded)."""
    if options.get("part", "full") == "full":  # FFCx changes "diagonal" forms before naming
        cached = _cached_module(forms, options, jit_options)
        if cached is not None:
            return cached
    return ffcx.codegeneration.jit.compile_forms(forms, options=options, **jit_options)[:2]


def _leaves(forms: Any) -> list[ufl.Form]:
    """The UFL forms (with integrals) of a nested list, depth first."""
    if isinstance(forms, ufl.Form):
        return [forms]
    if isinstance(forms, Sequence):
        return [leaf for item in forms for leaf in _leaves(item)]
    return []


def _dolfinx_form(
    form: ufl.Form, ufcx_form: Any, module: Any, entity_maps: list, dtype: Any
) -> fem.Form:
    """The DOLFINx form of one compiled UFL form: spaces, coefficients, constants, domains."""
    ((domain, data),) = form.subdomain_data().items()  # one integration mesh
    ids: dict[str, list[int]] = {name: [] for name in data}
    offsets = ufcx_form.form_integral_offsets
    for kind in fem.IntegralType:  # the ufcx form lists its integrals grouped by type
        for j in range(offsets[kind.value], offsets[kind.value + 1]):
            ids[kind.name].append(ufcx_form.form_integral_ids[j])
    subdomains = {
        fem.IntegralType[name]: get_integration_domains(fem.IntegralType[name], tags[0], ids[name])
        for name, tags in data.items()
    }
    coefficients = form.coefficients()
    cpp = fem.form_cpp_class(dtype)(
        [module.ffi.cast("uintptr_t", module.ffi.addressof(ufcx_form))],
        [argument.ufl_function_space()._cpp_object for argument in form.arguments()],
        [coefficients[ufcx_form.original_coefficient_positions[i]]._cpp_object
         for i in range(ufcx_form.num_coefficients)],
        [constant._cpp_object for constant in form.constants()],
        subdomains,
        [entity_map._cpp_object for entity_map in entity_maps],
        domain.ufl_cargo(),
    )
    return fem.Form(cpp, ufcx_form, None, module)


def _lifted(item: Any) -> Any:
    """The UFL forms of a (nested) list with their float literals lifted to constants.

    So that forms differing only in parameter values compile to one module (sweeps;
    :mod:`solver.lifted_forms`); empty forms and None are kept.
    """
    if isinstance(item, ufl.Form):
        return lift_form(item)
    if isinstance(item, Sequence):
        return [_lifted(sub) for sub in item]
    return item


def compile_forms(forms: Any, entity_maps: Sequence[Any] | None = None) -> Any:
    """DOLFINx forms of a UFL form or nested list of forms, compiled into one module.

    Args:
        forms: A UFL form, or a (nested) list of UFL forms, ``ufl.ZeroBaseForm`` and None
            (the arguments of ``dolfinx.fem.form``).
        entity_maps: As for ``dolfinx.fem.form`` (forms mixing a mesh and its submesh).

    Returns:
        The ``dolfinx.fem.Form`` objects in the nesting of ``forms``; empty forms and None as
        ``dolfinx.fem.form`` returns them.
    """
    forms = _lifted(forms)
    leaves = _leaves(forms)
    if not leaves:
        return fem.form(forms, entity_maps=entity_maps)
    dtype = default_scalar_type
    comm = leaves[0].ufl_domain().ufl_cargo().comm
    options = ffcx.get_options({"scalar_type": dtype})
    ufcx_forms, module = _compile(comm, leaves, options, jit.get_options())
    compiled = {
        id(form): _dolfinx_form(form, ufcx_form, module, list(entity_maps or []), dtype)
        for form, ufcx_form in zip(leaves, ufcx_forms, strict=True)
    }

    def rebuild(item: Any) -> Any:
        if isinstance(item, ufl.Form):
            return compiled[id(item)]
        if isinstance(item, Sequence):
            return [rebuild(sub) for sub in item]
        return fem.form(item, entity_maps=entity_maps)  # ZeroBaseForm, None

    return rebuild(forms)
