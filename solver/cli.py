"""``lidep`` command line: a thin layer over :mod:`solver.api`.

Exit codes:

- 0: success;
- 1: a failure while running (the message says what failed and where the partial run
  directory is kept);
- 2: invalid configuration or usage, or an unusable output root (the message names the key
  path or the path, the value and what is allowed);
- 130: interrupted by SIGINT (Ctrl-C); 143: terminated by SIGTERM (128 + the signal number;
  one line saying so and where the partial run directory is kept);
- a native crash or SIGKILL ends the process by the signal (a shell shows 128 + its number:
  134 SIGABRT, 137 SIGKILL, 139 SIGSEGV); the run directory is then marked ``FAILED`` by the
  watcher process (:mod:`solver.termination`).

Tracebacks only with ``--debug``. The configuration stack (pydantic) is imported after the
arguments are parsed and DOLFINx only by the commands that mesh or solve, so ``--help``,
``validate`` and ``schema`` start fast. While a transient run steps, SIGINT/SIGTERM (to mpiexec,
which forwards it to every rank, or to any one rank) stops every rank at the next step boundary
with a restart checkpoint, and every rank exits with the same code (:mod:`solver.termination`).
Otherwise (and as the fallback when that stop does not come in time), under mpiexec, ranks on
rank 0's host pass SIGINT/SIGTERM on to rank 0, which marks the run directory and ends the MPI
job with ``MPI.Abort`` and the same code (other ranks may be blocked in a collective operation).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mpi4py import MPI

from solver import __version__, startup
from solver.logging_utils import PACKAGE_LOGGER, configure_console
from solver.termination import Interrupted, interrupt_on_signals

if TYPE_CHECKING:
    from solver.config import RunConfig

__all__ = ["console", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: Under MPI, how long a rank not on rank 0's host (which cannot pass a signal on to rank 0)
#: waits after an interruption before it aborts the job, so that rank 0 (interrupted too when
#: mpiexec forwards the signal) can mark the run directory first.
_ABORT_GRACE_S = 2.0
#: Seconds rank 0 waits between its last message and ``MPI.Abort`` (output forwarding).
_FLUSH_GRACE_S = 0.5


class _Parser(argparse.ArgumentParser):
    """Argument parser whose usage errors exit with :data:`EXIT_USAGE`."""

    def error(self, message: str) -> None:  # noqa: D102  (argparse API)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lidep", description="Li deposition at Li | interphase | electrolyte "
                     "interfaces: finite-element simulation from a YAML config.")
    parser.add_argument("--version", action="version", version=f"lidep {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks and debug messages")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_config(name: str, help_text: str, optional: bool = False) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("config", type=Path, help="YAML run file",
                             nargs="?" if optional else None)
        command.add_argument("--set", dest="overrides", action="append", default=[],
                             metavar="KEY=VALUE",
                             help="override a key, e.g. --set geometry.domain.length=20um "
                             "(repeatable)")
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
        return command

    run = with_config("run", "run every case of CONFIG into OUTPUT/<name>", optional=True)
    run.add_argument("-o", "--output", type=Path, default=Path("results"),
                     help="output root directory (default: results)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing run directory of the same name")
    run.add_argument("--mesh-cache", type=Path, default=Path("meshes"),
                     help="mesh cache directory (default: meshes)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR",
                     help="continue an interrupted run directory marked RESUMABLE from its "
                     "checkpoints, next to it (CONFIG: default its config.resolved.yaml)")
    run.add_argument("--clean-stale", action="store_true",
                     help="remove stale incomplete run directories of earlier killed runs in "
                     "OUTPUT (they are only reported otherwise)")
    mesh = with_config("mesh", "build (or load from the cache) the mesh of every case and "
                       "print its statistics")
    mesh.add_argument("--mesh-cache", type=Path, default=Path("meshes"),
                      help="mesh cache directory (default: meshes)")
    validate = with_config("validate", "check CONFIG and print a summary of its cases")
    validate.add_argument("--print", dest="print_resolved", action="store_true",
                          help="print every resolved case (all defaults, SI units) as YAML")

    schema = sub.add_parser("schema", help="print the JSON schema of a run file")
    schema.add_argument("--markdown", action="store_true",
                        help="print the configuration reference (docs/config.md) instead")
    schema.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)

    materials = sub.add_parser("materials", help="print the cited materials library (or one "
                               "entry with its notes): values in SI units with their sources")
    materials.add_argument("name", nargs="?", help="a library name (default: every material)")
    materials.add_argument("--markdown", action="store_true",
                           help="print the materials reference (docs/materials.md) instead")
    materials.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help=argparse.SUPPRESS)

    report = sub.add_parser("report", help="rebuild the report of a finished run")
    report.add_argument("run_dir", type=Path, help="run directory")
    report.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)

    compare = sub.add_parser("compare", help="compare the cases of several finished runs")
    compare.add_argument("run_dirs", type=Path, nargs="+", help="run directories")
    compare.add_argument("-o", "--output", type=Path, default=Path("results/comparison"),
                         help="directory for the comparison (default: results/comparison)")
    compare.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
    _sweep_parsers(sub)
    _stability_parser(with_config)
    _study_parsers(sub)
    _homogenize_parser(sub)
    return parser


def _stability_parser(with_config: Callable[..., argparse.ArgumentParser]) -> None:
    """``lidep stability`` (solver.stability)."""
    stability = with_config("stability", "growth rate of a sinusoidal perturbation of the flat "
                            "Li surface against its wavelength (finite elements and the "
                            "analytic dispersion relation; the surface energy is "
                            "physics.surface_energy.gamma, e.g. --set "
                            "physics.surface_energy.gamma=0.5)")
    stability.add_argument("-o", "--output", type=Path, default=Path("results"),
                           help="output root; results go to OUTPUT/<name>.stability")
    stability.add_argument("--overwrite", action="store_true",
                           help="replace an existing directory of the same name")
    stability.add_argument("--mesh-cache", type=Path, default=Path("meshes"),
                           help="mesh cache directory (default: meshes)")
    stability.add_argument("--wavelengths", nargs=2, metavar=("MIN", "MAX"), default=None,
                           help="wavelength range, e.g. 1um 100um (default: L/16 to 4 L)")
    stability.add_argument("--points", type=int, default=8,
                           help="number of wavelengths, log-spaced (default: 8)")
    stability.add_argument("--slope", type=float, default=0.02,
                           help="amplitude x wavenumber of the smaller FE perturbation "
                           "(default: 0.02; the larger is twice it)")


def _sweep_parsers(sub: Any) -> None:
    """``lidep sweep`` and ``lidep collect`` (solver.sweep, solver.executors, solver.collect)."""
    sweep = sub.add_parser("sweep", help="run a parameter sweep: one run per point of SWEEP")
    sweep.add_argument("sweep_file", type=Path, help="YAML sweep file")
    sweep.add_argument("-o", "--output", type=Path, default=Path("results"),
                       help="output root; the sweep goes to OUTPUT/<name> (default: results)")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs, write nothing")
    sweep.add_argument("--executor", choices=["local", "slurm"], default="local",
                       help="run the points here (local, default) or as a SLURM job array")
    sweep.add_argument("--submit", action="store_true",
                       help="slurm: submit the job array (default: print the script)")
    for flag, kind, text in (("--jobs", int, "local: points run at once"),
                             ("--ranks", int, "MPI ranks per point"),
                             ("--time", str, "slurm: time limit per task, [D-]HH:MM:SS"),
                             ("--partition", str, "slurm: partition"),
                             ("--account", str, "slurm: account")):
        sweep.add_argument(flag, type=kind, default=None, help=text, metavar=flag[2:].upper())
    sweep.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)
    collect = sub.add_parser("collect", help="tabulate and plot the runs of a sweep")
    collect.add_argument("sweep_dir", type=Path, help="sweep directory")
    collect.add_argument("--map", nargs=2, metavar="KEY", default=None,
                         help="two axis keys for a map (default: the first two axes)")
    collect.add_argument("--metric", default="enhancement_max_over_mean",
                         help="metric of the maps and the ensemble statistics "
                         "(default: enhancement_max_over_mean, the hotspot factor)")
    collect.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)


def _study_parsers(sub: Any) -> None:
    """``lidep study KIND STUDY_FILE``: the seed papers' studies (solver.studies)."""
    study = sub.add_parser("study", help="run a study of the seed papers (contact: Li | LLZO "
                           "contact loss and the LiI interlayer, seed 002)")
    study.add_argument("kind", choices=["contact"], help="which study")
    study.add_argument("study_file", type=Path, help="YAML study file (configs/studies/)")
    study.add_argument("-o", "--output", type=Path, default=Path("results"),
                       help="output root; the study goes to OUTPUT/<name> (default: results)")
    study.add_argument("--overwrite", action="store_true",
                       help="replace the study's run directories")
    study.add_argument("--mesh-cache", type=Path, default=Path("meshes"),
                       help="mesh cache directory (default: meshes)")
    study.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)


def _homogenize_parser(sub: Any) -> None:
    """``lidep homogenize`` (solver.studies.homogenize)."""
    command = sub.add_parser(
        "homogenize", help="effective conductivity of random metal | non-metal "
        "microstructures by finite elements, percolation threshold by finite-size scaling, "
        "leakage of a Li | MII | electrolyte stack (seed 000; configs/studies/)")
    command.add_argument("study", type=Path, help="YAML study file")
    command.add_argument("-o", "--output", type=Path, default=Path("results"),
                         help="output root directory (default: results)")
    command.add_argument("--overwrite", action="store_true",
                         help="replace an existing run directory of the same name")
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.api import default_pipeline, run
    from solver.config import ConfigError

    pipeline = default_pipeline()  # imports the mesher, the solver and the outputs
    startup.resume()
    if args.config is None and args.resume is None:
        raise ConfigError(["config: missing (got nothing); allowed: a YAML run file, or "
                           "--resume RUN_DIR"])
    run_dir = run(args.config, args.output, overrides=args.overrides,
                  overwrite=args.overwrite, comm=comm, mesh_cache=args.mesh_cache,
                  clean_stale=args.clean_stale, resume=args.resume, pipeline=pipeline)
    _say(comm, f"results: {run_dir}")
    return EXIT_OK


def _cmd_mesh(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.api import mesh
    from solver.geometry import mesh_report

    bundles = mesh(args.config, overrides=args.overrides, comm=comm,
                   mesh_cache=args.mesh_cache)
    for name, bundle in bundles.items():
        _say(comm, f"case '{name}': {mesh_report(bundle)}")
    return EXIT_OK


_ABSENT = "(absent)"


def _differences(trees: dict[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Key paths where the resolved cases differ, each with every case's value there."""
    if all(isinstance(t, dict) for t in trees.values()):
        keys = list(dict.fromkeys(k for t in trees.values() for k in t))
        return [d for k in keys for d in _differences(
            {name: t.get(k, _ABSENT) for name, t in trees.items()}, f"{prefix}{k}.")]
    if len({json.dumps(t, sort_keys=True) for t in trees.values()}) == 1:
        return []
    return [(prefix[:-1], trees)]


def _compact(value: Any) -> str:
    """Short text of a value; floats with 6 significant digits."""
    if value is _ABSENT:
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return json.dumps(value)


def _validate_summary(path: Path, run: RunConfig) -> str:
    from solver.config import resolved_cases

    cases = {name: case.model_dump(mode="json") for name, case in resolved_cases(run).items()}
    lines = [f"{path}: valid run '{run.name}' with {len(cases)} case(s): {', '.join(cases)}"]
    if run.description:
        lines.append(f"  {run.description}")
    differing = _differences(cases) if len(cases) > 1 else []
    if differing:
        lines.append("keys that differ between cases (SI units):")
        for key, values in differing:
            lines.append(f"  {key}")
            lines += [f"    {name}: {_compact(value)}" for name, value in values.items()]
    lines.append("(lidep validate --print shows every resolved key)")
    return "\n".join(lines)


def _cmd_validate(args: argparse.Namespace, comm: MPI.Comm) -> int:
    import yaml

    from solver.config import load_config, resolved_tree

    run = load_config(args.config, args.overrides)
    text = (yaml.safe_dump(resolved_tree(run), sort_keys=False) if args.print_resolved
            else _validate_summary(args.config, run))
    _say(comm, text)
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.config import RunConfig, markdown_reference

    text = (markdown_reference() if args.markdown
            else json.dumps(RunConfig.model_json_schema(), indent=2))
    _say(comm, text.rstrip("\n"))
    return EXIT_OK


def _cmd_materials(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.library import table

    if args.markdown:
        _say(comm, table.markdown().rstrip("\n"))
        return EXIT_OK
    try:
        _say(comm, table.text(args.name))
    except KeyError as err:
        _error(comm, "", f"error: materials: {err.args[0]}")
        return EXIT_USAGE
    return EXIT_OK


def _cmd_report(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.report import build_report

    if comm.rank == 0:
        _say(comm, f"report: {build_report(args.run_dir)}")
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.report import compare_runs

    if comm.rank == 0:
        _say(comm, f"comparison: {compare_runs(args.run_dirs, args.output)}")
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.executors import sweep_command

    flags: dict[str, dict[str, Any]] = {}
    for key, section in (("jobs", "local"), ("time", "slurm"), ("partition", "slurm"),
                         ("account", "slurm"), ("ranks", "local"), ("ranks", "slurm")):
        if getattr(args, key) is not None:
            flags.setdefault(section, {})[key] = getattr(args, key)
    return sweep_command(args.sweep_file, args.output, executor=args.executor,
                         dry_run=args.dry_run, submit_jobs=args.submit, flags=flags,
                         mpi_ranks=comm.size, say=lambda text: _say(comm, text))


def _cmd_collect(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.collect import collect

    if comm.rank == 0:
        for path in collect(args.sweep_dir, metric=args.metric, map_keys=args.map):
            _say(comm, f"collected: {path}")
    return EXIT_OK


def _cmd_stability(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.config import ConfigError
    from solver.stability import run
    from solver.units import to_si

    wavelengths = None
    if args.wavelengths is not None:
        try:
            wavelengths = tuple(to_si(v, "length") for v in args.wavelengths)
        except ValueError as err:
            raise ConfigError([f"--wavelengths: {err} (got {' '.join(args.wavelengths)}); "
                               "allowed: two lengths, e.g. 1um 100um"]) from err
    run_dir = run(args.config, args.output, overrides=args.overrides, wavelengths=wavelengths,
                  points=args.points, slope=args.slope,
                  overwrite=args.overwrite, comm=comm, mesh_cache=args.mesh_cache)
    _say(comm, f"results: {run_dir}")
    return EXIT_OK


def _cmd_homogenize(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.studies.homogenize import run_study

    run_dir = run_study(args.study, args.output, overwrite=args.overwrite, comm=comm)
    _say(comm, f"results: {run_dir}")
    return EXIT_OK


def _cmd_study(args: argparse.Namespace, comm: MPI.Comm) -> int:
    from solver.studies.contact import run_study

    result = run_study(args.study_file, args.output, comm=comm, mesh_cache=args.mesh_cache,
                       overwrite=args.overwrite)
    _say(comm, f"study report: {Path(result.directory) / 'report.md'}")
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace, MPI.Comm], int]] = {
    "run": _cmd_run, "mesh": _cmd_mesh, "validate": _cmd_validate, "schema": _cmd_schema,
    "materials": _cmd_materials, "report": _cmd_report, "compare": _cmd_compare,
    "sweep": _cmd_sweep, "collect": _cmd_collect,
    "stability": _cmd_stability,
    "study": _cmd_study,
    "homogenize": _cmd_homogenize,
}


def _say(comm: MPI.Comm, text: str) -> None:
    if comm.rank == 0:
        print(text, flush=True)


def _error(comm: MPI.Comm, headline: str, text: str) -> None:
    if comm.rank == 0:
        print(f"{headline}\n{text}" if headline else text, file=sys.stderr, flush=True)


def _end_job(comm: MPI.Comm, code: int) -> None:
    """After an interruption under MPI: abort the job (other ranks may wait in a collective)."""
    if comm.size > 1:
        # Rank 0 has printed its one line: give mpiexec's proxy time to forward it before the
        # abort tears the I/O down; the other ranks wait longer so that rank 0 aborts first.
        time.sleep(_FLUSH_GRACE_S if comm.rank == 0 else _ABORT_GRACE_S)
        comm.Abort(code)


def _interruption_line(command: str, err: Interrupted) -> str:
    notes = "".join(f"; {note}" for note in getattr(err, "__notes__", []))
    return f"error: {command} stopped: {err}{notes}"


def _stop_from_handler(comm: MPI.Comm, args: argparse.Namespace) -> Callable[[Interrupted], None]:
    """Rank 0 of an MPI job: mark the run directory, say so, and abort, from the handler.

    Unwinding the interruption would pass through collective calls the other ranks never join.
    """
    from solver.rundir import RunDirectory

    def stop(err: Interrupted) -> None:
        if args.debug:
            return  # raised instead: the traceback is wanted
        RunDirectory.mark_active_interrupted(err)
        _error(comm, "", _interruption_line(args.command, err))
        _end_job(comm, err.exit_code)

    return stop


def main(argv: Sequence[str] | None = None, comm: MPI.Comm | None = None) -> int:
    """Entry point of the ``lidep`` console script.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).
        comm: Communicator (default ``MPI.COMM_WORLD``: every rank started by mpiexec).

    Returns:
        The exit code (see the module docstring).
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    args = _parser().parse_args(argv)
    from solver.config import ConfigError
    from solver.rundir import OutputRootError, RunDirectoryExistsError

    handler = configure_console(comm, logging.DEBUG if args.debug else logging.INFO)
    host, pid = comm.bcast((socket.gethostname(), os.getpid()), root=0)
    forward = comm.rank != 0 and host == socket.gethostname()
    stop = _stop_from_handler(comm, args) if comm.size > 1 and comm.rank == 0 else None
    if args.command != "run":  # run resumes once it has imported its modules
        startup.resume()
    try:
        with interrupt_on_signals(forward_to=pid if forward else None, stop=stop):
            return _COMMANDS[args.command](args, comm)
    except Interrupted as err:
        if args.debug:
            raise
        _error(comm, "", _interruption_line(args.command, err))
        if not err.collective:  # the other ranks did not stop with this one
            _end_job(comm, err.exit_code)
        return err.exit_code
    except ConfigError as err:
        if args.debug:
            raise
        _error(comm, "error: invalid configuration", str(err))
        return EXIT_USAGE
    except (RunDirectoryExistsError, OutputRootError) as err:
        if args.debug:
            raise
        _error(comm, "", f"error: {err}")
        return EXIT_USAGE
    except Exception as err:  # noqa: BLE001  (any failure: one message, exit code 1)
        if args.debug:
            raise
        notes = "".join(f"\n{note}" for note in getattr(err, "__notes__", []))
        _error(comm, "", f"error: {args.command} failed: {type(err).__name__}: {err}{notes}"
               "\n(run again with --debug for the traceback)")
        return EXIT_FAILURE
    finally:
        startup.resume()
        logging.getLogger(PACKAGE_LOGGER).removeHandler(handler)


def console() -> NoReturn:
    """The ``lidep`` console script (and ``python -m solver.cli``): :func:`main` as a process.

    The garbage collector is paused while the command imports its modules
    (:mod:`solver.startup`); the process exits with :func:`main`'s code.
    """
    startup.pause()
    sys.exit(main())


if __name__ == "__main__":
    console()
