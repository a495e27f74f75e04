"""The allow-list of PETSc options a config may set (``numerics.petsc_options``).

Configs are untrusted, and the PETSc options database is a small programming language: some
options write files anywhere (``ksp_view_solution: binary:/path``, ``mat_view: ascii:/path``,
``log_view``, any viewer given a file name), read files (``options_file``), import and run
Python code (``ksp_type: python``, ``pc_python_type: module.function``), start a debugger or
load shared libraries. So a config may set only solver-tuning options, and only to plain
values. An option is allowed when, after its sub-solver prefixes are removed, it is

- a solver type: ``ksp_type``, ``pc_type``, ``snes_type``, ``snes_linesearch_type`` (any
  built-in type, never ``python`` or ``shell``, which run user code);
- a tolerance, iteration limit or Krylov setting: ``ksp_rtol``, ``ksp_max_it``,
  ``ksp_norm_type``, ``ksp_pc_side``, ``snes_rtol``, ..., and the method-specific
  ``ksp_gmres_*`` (restart, orthogonalisation), ``ksp_fgmres_*``, ``ksp_lgmres_*``,
  ``ksp_gcr_*``, ``ksp_bcgsl_*``, ``ksp_chebyshev_*``, ``ksp_richardson_*``;
- a preconditioner setting: ``pc_factor_*`` (including the factor solver type),
  ``pc_gamg_*``, ``pc_mg_*``, ``pc_hypre_*``, ``pc_asm_*``, ``pc_gasm_*``, ``pc_bjacobi_*``,
  ``pc_jacobi_*``, ``pc_sor_*``, ``pc_fieldsplit_*``;
- a MUMPS or SuperLU_DIST setting: ``mat_mumps_icntl_<n>``, ``mat_mumps_cntl_<n>``,
  ``mat_superlu_dist_*``; except MUMPS ICNTL 1-3 (Fortran output units: any unit but 6 writes
  a file ``fort.<n>`` in the working directory) and ICNTL 22 (out-of-core factorisation
  writes the factors to temporary files outside the run directory);
- a monitor that prints to the log (:data:`MONITORS`), with an empty or ``true`` value: given a
  viewer string such as ``ascii:/path`` it would write a file.

Sub-solver prefixes are ``fieldsplit_<split>_``, ``sub_``, ``mg_levels_[<n>_]``,
``mg_coarse_``, ``redundant_`` and ``esteig_``, in any nesting, e.g.
``fieldsplit_c_mg_levels_pc_type``. Within the families above, option names containing
:data:`_FORBIDDEN_WORDS` (``view``, ``python``, ``dump``, ``file``, ...) are refused all the
same. Names are compared, and passed to PETSc, without leading ``-`` (the command-line
spelling, which PETSc would not find under the solver's prefix) and in lower case (PETSc
ignores case, so ``KSP_TYPE: python`` would be ``ksp_type: python``). A value must be a
boolean, a finite number, an integer a PetscInt holds or a plain token (letters, digits,
``_``, ``.``, ``+``, ``-``, or a comma-separated list of them such as the Chebyshev estimate
``0,0.1,0,1.1``): never a path or a viewer specification.

Everything else is refused, including ``options_file``, ``log_view``, ``malloc_dump``,
``on_error_attach_debugger``, ``start_in_debugger``, ``help`` and every ``*_view*`` option
other than the monitors ``ksp_view`` and ``snes_view``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["MONITORS", "OptionProblem", "normalised_options", "option_problems", "refusals"]

#: Options that print progress or a summary to the log (stdout) when given no value.
MONITORS = frozenset({
    "ksp_monitor",
    "ksp_monitor_short",
    "ksp_monitor_true_residual",
    "ksp_monitor_singular_value",
    "ksp_converged_reason",
    "ksp_view",
    "snes_monitor",
    "snes_monitor_short",
    "snes_converged_reason",
    "snes_linesearch_monitor",
    "snes_view",
})

#: Single options allowed besides the families of :data:`_FAMILIES`.
_NAMES = frozenset({
    "ksp_type",
    "ksp_rtol",
    "ksp_atol",
    "ksp_divtol",
    "ksp_max_it",
    "ksp_min_it",
    "ksp_norm_type",
    "ksp_pc_side",
    "ksp_initial_guess_nonzero",
    "ksp_reuse_preconditioner",
    "pc_type",
    "snes_type",
    "snes_rtol",
    "snes_atol",
    "snes_stol",
    "snes_max_it",
    "snes_max_funcs",
    "snes_max_linear_solve_fail",
    "snes_linesearch_type",
    "snes_linesearch_damping",
    "snes_linesearch_maxstep",
    "snes_linesearch_max_it",
    "snes_linesearch_order",
})

#: Option families: solver- and preconditioner-specific tuning.
_FAMILIES = re.compile(
    r"(ksp_(gmres|fgmres|lgmres|dgmres|gcr|bcgsl|chebyshev|richardson)"
    r"|pc_(factor|gamg|mg|hypre|asm|gasm|bjacobi|jacobi|sor|fieldsplit)"
    r"|mat_superlu_dist)_[a-z0-9_]+"
    r"|mat_mumps_icntl_[0-9]+|mat_mumps_cntl_[0-9]+"
)

#: MUMPS ICNTL entries that write files (output units 1-3, out-of-core factorisation 22).
_MUMPS_FILE_ICNTL = frozenset({1, 2, 3, 22})

#: Words that mark an option of an allowed family as one that writes, reads or runs something.
_FORBIDDEN_WORDS = ("view", "python", "dump", "file", "draw", "binary", "monitor", "log",
                    "debug", "dll", "save", "load", "history")

#: Sub-solver prefixes: a split of a field split, the blocks of block Jacobi / ASM, the levels
#: and coarse grid of multigrid, the redundant solve and Chebyshev's eigenvalue estimator.
_PREFIX = re.compile(
    r"^(fieldsplit_[a-z0-9]+_|sub_|mg_levels_([0-9]+_)?|mg_coarse_|redundant_|esteig_)"
)

#: Largest integer value: PETSc reads integer options as a PetscInt (32-bit in most builds).
_MAX_INT = 2**31 - 1

#: Type values that make PETSc call user code.
_CODE_TYPES = frozenset({"python", "shell"})

_NAME = re.compile(r"^[a-z0-9_]+$")
#: An option name as written that can stand in a key path (others are named by the mapping).
_WRITTEN_NAME = re.compile(r"^-*[A-Za-z0-9_]+$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*$")

_ALLOWED_NAMES = (
    "solver tuning only: ksp/pc/snes types, tolerances and iteration limits, ksp_gmres_*, "
    "pc_factor_*, pc_gamg_*, pc_mg_*, pc_fieldsplit_*, mat_mumps_icntl_<n>, "
    "mat_mumps_cntl_<n>, mat_superlu_dist_*, monitors printing to the log, under the prefixes "
    "fieldsplit_<split>_, sub_, mg_levels_, mg_coarse_ (see solver/petsc_options.py)"
)
_ALLOWED_VALUES = "a boolean, a finite number or a plain token such as gmres, mumps or 0,0.1"


class OptionProblem(NamedTuple):
    """Why one option is refused.

    Attributes:
        key: The option as written in the config.
        what: What is wrong.
        allowed: What is allowed instead.
    """

    key: str
    what: str
    allowed: str


def _normalised_name(key: str) -> str:
    """The option's name as PETSc compares it: no leading ``-``, lower case."""
    return key.lstrip("-").lower()


def _base_name(name: str) -> str:
    """The option without its sub-solver prefixes (``fieldsplit_c_sub_pc_type`` -> ``pc_type``)."""
    while (match := _PREFIX.match(name)) and len(name) > match.end():
        name = name[match.end():]
    return name


def _name_problem(name: str) -> tuple[str, str] | None:
    """(what is wrong, what is allowed) for a normalised option name; None when allowed."""
    if not _NAME.match(name):
        return "not a PETSc option name", _ALLOWED_NAMES
    base = _base_name(name)
    if base in MONITORS or base in _NAMES:
        return None
    if any(word in base for word in _FORBIDDEN_WORDS):
        return ("the option reads or writes files, or runs code, outside the solve",
                _ALLOWED_NAMES)
    if _FAMILIES.fullmatch(base) is None:
        return "not a solver-tuning option on the allow-list", _ALLOWED_NAMES
    icntl = re.fullmatch(r"mat_mumps_icntl_([0-9]+)", base)
    if icntl and int(icntl.group(1)) in _MUMPS_FILE_ICNTL:
        return ("MUMPS output units and out-of-core factorisation write files",
                "mat_mumps_icntl_<n> for n other than "
                + ", ".join(map(str, sorted(_MUMPS_FILE_ICNTL))))
    return None


def _value_problem(name: str, value: object) -> OptionProblem | None:
    """What is wrong with the value of an allowed option, or None."""
    base = _base_name(name)
    if base in MONITORS:
        if value is True or value == "":
            return None
        return OptionProblem(name, "a monitor given a value writes to a viewer (a file)",
                             "true or an empty value (print to the log)")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if abs(value) <= _MAX_INT:
            return None
        return OptionProblem(name, "an integer PETSc cannot hold",
                             f"an integer of magnitude at most {_MAX_INT}")
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return OptionProblem(name, "not a finite number", _ALLOWED_VALUES)
    if not isinstance(value, str) or not _TOKEN.match(value):
        return OptionProblem(name, "not a plain value (a path or viewer specification?)",
                             _ALLOWED_VALUES)
    if base.endswith("_type") and value.lower() in _CODE_TYPES:
        return OptionProblem(name, f"the '{value.lower()}' type runs user code",
                             "a built-in PETSc type, e.g. gmres, cg, lu, gamg, fieldsplit")
    return None


def option_problems(options: Mapping[str, object]) -> list[OptionProblem]:
    """Every option of ``options`` that is not allowed, with the reason.

    Args:
        options: Option name (with or without leading ``-``, any case) -> value.

    Returns:
        One problem per refused option, in the order given; empty when all are allowed.
    """
    problems: list[OptionProblem] = []
    seen: dict[str, str] = {}
    for key, value in options.items():
        name = _normalised_name(str(key))
        refused = _name_problem(name)
        if refused is not None:
            problems.append(OptionProblem(str(key), *refused))
        elif name in seen:
            problems.append(OptionProblem(str(key), f"the same option as '{seen[name]}'",
                                          "each option once (names ignore case and '-')"))
        elif (problem := _value_problem(name, value)) is not None:
            problems.append(problem._replace(key=str(key)))
        seen.setdefault(name, str(key))
    return problems


def _shown(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def refusals(options: Mapping[str, object]) -> str:
    """The validation message of ``numerics.petsc_options``: one line per refused option.

    Args:
        options: Option name -> value, as written in the config.

    Returns:
        Lines ``petsc_options.<option>: <what> (got <value>); allowed: <...>`` (a name that
        cannot stand in a key path is named by the mapping and shown as the value); empty when
        every option is allowed.
    """
    return "\n".join(
        f"petsc_options.{p.key}: {p.what} (got {_shown(options[p.key])}); allowed: {p.allowed}"
        if _WRITTEN_NAME.match(p.key) else
        f"petsc_options: {p.what} (got the option {_shown(p.key)}); allowed: {p.allowed}"
        for p in option_problems(options)
    )


def normalised_options(options: Mapping[str, object]) -> dict[str, object]:
    """The options as given to PETSc: names without ``-`` in lower case, monitors valueless.

    Args:
        options: Options for which :func:`option_problems` is empty.

    Returns:
        Normalised name -> value (``""`` for monitors, which PETSc reads as "print to stdout").
    """
    out: dict[str, object] = {}
    for key, value in options.items():
        name = _normalised_name(key)
        out[name] = "" if _base_name(name) in MONITORS else value
    return out
