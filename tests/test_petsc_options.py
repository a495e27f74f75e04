"""The allow-list of ``numerics.petsc_options`` (solver/petsc_options.py).

Each refused option is one that writes or reads a file, imports Python code, starts a debugger
or is not solver tuning, or a spelling that tries to get one of those past the check. Each is
checked through :func:`solver.config.load_config`, so the test also pins the one message line
naming ``<case path>.numerics.petsc_options.<option>``. The options the project sets itself must
all pass, and PETSc must accept what the check lets through.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from petsc4py import PETSc

import solver  # noqa: F401  (MPI import order)
from solver.config import ConfigError, load_config, resolved_cases
from solver.linear import default_options
from solver.petsc_options import normalised_options, option_problems

MINIMAL = Path(__file__).resolve().parents[1] / "configs" / "examples" / "minimal.yaml"

REFUSED = {
    # The examples: viewers writing files, Python solvers, option files, the log.
    "ksp_view_solution": "binary:/tmp/lidep_pwned",
    "mat_view": "ascii:/tmp/lidep_pwned",
    "ksp_view_mat": "",
    "ksp_view": "ascii:/tmp/lidep_pwned",
    "ksp_monitor": "ascii:/tmp/lidep_pwned",
    "snes_converged_reason": "::ascii_info_detail",
    "ksp_type": "python",
    "pc_type": "python",
    "pc_python_type": "os.system",
    "ksp_python_type": "mymodule.Solver",
    "fieldsplit_c_pc_python_type": "mymodule.PC",
    "snes_type": "python",
    "options_file": "/tmp/options",
    "options_left": True,
    "log_view": "",
    "log_trace": "/tmp/trace",
    "malloc_dump": "",
    "on_error_attach_debugger": "",
    "start_in_debugger": "",
    "help": "",
    "dll_append": "/tmp/libx.so",
    "pc_mg_dump_binary": True,
    "mat_mumps_icntl_1": 7,  # Fortran unit 7: a file fort.7 in the working directory
    "mat_mumps_icntl_22": 1,  # out-of-core factors in a temporary directory
    # Not solver tuning at all.
    "vec_type": "cuda",
    "viewer_binary_filename": "/tmp/x",
    # Bypass attempts: a leading '-', case, a prefix, a value smuggling a path or a viewer.
    "-ksp_view_solution": "binary:/tmp/lidep_pwned",
    "--PC_TYPE": "PYTHON",
    "KSP_Type": "Python",
    "sub_pc_type": "shell",
    "mg_levels_ksp_view": "ascii:/tmp/x",
    "pc_factor_mat_solver_type": "mumps -options_file /tmp/x",
    "pc_gamg_type": "/tmp/agg",
    "ksp_gmres_restart": "30:/tmp/x",
    "ksp_rtol": float("inf"),
    "ksp_max_it": 10**400,  # math.isfinite overflowed on it: exit 1 instead of 2
    "ksp_monitor_true_residual": False,
}


def _tree(options: dict) -> dict:
    tree = yaml.safe_load(MINIMAL.read_text())
    tree["base"]["numerics"]["petsc_options"] = options
    return tree


@pytest.mark.parametrize("key", list(REFUSED), ids=list(REFUSED))
def test_refused_option_is_one_line_naming_it(key):
    value = REFUSED[key]
    with pytest.raises(ConfigError) as info:
        load_config(_tree({key: value}))
    (line,) = info.value.problems
    assert line.startswith(f"base.numerics.petsc_options.{key}: "), line
    assert line.count(f"petsc_options.{key}") == 1
    assert f"(got {value!r}"[:60] in line and "; allowed: " in line


def test_in_a_case_the_message_names_the_case():
    tree = _tree({})
    tree["cases"] = {"fast": {"numerics": {"petsc_options": {"mat_view": "ascii:/tmp/x"}}}}
    with pytest.raises(ConfigError) as info:
        resolved_cases(load_config(tree))
    (line,) = info.value.problems
    assert line.startswith("cases.fast.numerics.petsc_options.mat_view: ")


def test_every_refused_option_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        load_config(_tree({"ksp_type": "gmres", **REFUSED}))
    assert len(info.value.problems) == len(REFUSED)


@pytest.mark.parametrize("key", ["ksp type", "ksp_type:", "-", "kѕp_type", "ksp.type"])
def test_a_key_that_is_no_option_name_is_named_by_the_mapping(key):
    with pytest.raises(ConfigError) as info:
        load_config(_tree({key: "gmres"}))
    (line,) = info.value.problems
    assert line.startswith("base.numerics.petsc_options: not a PETSc option name")
    assert repr(key) in line


def test_the_same_option_twice_is_refused():
    with pytest.raises(ConfigError) as info:
        load_config(_tree({"ksp_type": "gmres", "-KSP_TYPE": "cg"}))
    (line,) = info.value.problems
    assert line.startswith("base.numerics.petsc_options.-KSP_TYPE: the same option as 'ksp_type'")


PROJECT_OPTIONS = [
    *(default_options(kind, coupled, 1e-8) for kind in ("direct", "iterative")
      for coupled in (False, True)),
    *(default_options("iterative", coupled, 1e-8, dim=3) for coupled in (False, True)),
    # solver/problem.py: the DG projection and the leakage solve.
    {"ksp_type": "preonly", "pc_type": "bjacobi", "sub_pc_type": "ilu"},
    {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
]

USER_TUNING = {
    "-ksp_type": "fgmres",
    "KSP_RTOL": 1e-10,
    "ksp_max_it": 500,
    "ksp_gmres_modifiedgramschmidt": True,
    "pc_type": "fieldsplit",
    "pc_fieldsplit_type": "schur",
    "pc_fieldsplit_schur_fact_type": "upper",
    "fieldsplit_phi_ksp_type": "preonly",
    "fieldsplit_phi_pc_type": "hypre",
    "fieldsplit_c_mg_levels_ksp_type": "richardson",
    "mg_levels_ksp_chebyshev_esteig": "0,0.1,0,1.1",
    "mg_levels_esteig_ksp_type": "cg",
    "mg_coarse_pc_type": "redundant",
    "pc_gamg_threshold": 0.01,
    "pc_gamg_aggressive_coarsening": 2,
    "pc_mg_cycle_type": "w",
    "mat_mumps_icntl_14": 400,
    "mat_mumps_cntl_1": 0.1,
    "mat_superlu_dist_rowperm": "NOROWPERM",
    "snes_linesearch_type": "bt",
    "ksp_monitor": True,
    "-ksp_converged_reason": "",
    "snes_monitor": "",
}


@pytest.mark.parametrize("options", [*PROJECT_OPTIONS, USER_TUNING])
def test_project_and_tuning_options_pass(options):
    assert option_problems(options) == []
    load_config(_tree(options))


def test_names_are_normalised_and_monitors_valueless():
    run = load_config(_tree({"-KSP_Type": "cg", "ksp_monitor": True, "ksp_converged_reason": ""}))
    assert run.base.numerics.petsc_options == {
        "ksp_type": "cg", "ksp_monitor": "", "ksp_converged_reason": ""}
    run.base.numerics.petsc_options = {"-PC_TYPE": "lu"}  # also on assignment
    assert run.base.numerics.petsc_options == {"pc_type": "lu"}
    with pytest.raises(ValueError, match="petsc_options.log_view: "):
        run.base.numerics.petsc_options = {"log_view": ""}


def test_petsc_accepts_a_normalised_monitor(capfd):
    """PETSc reads ``ksp_monitor true`` as a viewer named 'true' and fails; '' prints."""
    options = normalised_options({"-ksp_monitor": True, "ksp_type": "cg", "pc_type": "none"})
    database = PETSc.Options()
    ksp = PETSc.KSP().create(PETSc.COMM_SELF)
    ksp.setOptionsPrefix("lidep_test_allow_")
    for key, value in options.items():
        database["lidep_test_allow_" + key] = value
    try:
        ksp.setFromOptions()
    finally:
        for key in options:
            database.delValue("lidep_test_allow_" + key)
    A = PETSc.Mat().createAIJ([3, 3], comm=PETSc.COMM_SELF)
    A.setUp()
    for i in range(3):
        A[i, i] = 2.0
    A.assemble()
    b, x = A.createVecs()
    b.set(1.0)
    ksp.setOperators(A)
    ksp.solve(b, x)
    assert "KSP Residual norm" in capfd.readouterr().out
    assert x.getArray() == pytest.approx(0.5, rel=1e-12)
