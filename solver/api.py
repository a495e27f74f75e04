"""Python API: run a configuration, or only mesh it (what ``lidep run`` / ``lidep mesh`` call).

Example (a notebook, serial)::

    import solver.api
    run_dir = solver.api.run("configs/default.yaml", "results", overwrite=True)

Sequence per run (docs/architecture.md): validate the config; open the run directory; for each
case build (or load from the cache) the mesh, assemble the :class:`~solver.problem.Simulation`,
write fields and metrics at every output time; then write ``metrics.json`` and the report.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mpi4py import MPI

from solver.config import (
    CaseConfig,
    ConfigError,
    RunConfig,
    load_config,
    resolved_cases,
    resolved_tree,
)
from solver.logging_utils import PACKAGE_LOGGER, Progress, progress
from solver.rundir import RunDirectory
from solver.termination import RESUMABLE

__all__ = ["Pipeline", "Progress", "default_pipeline", "mesh", "progress", "run"]

ConfigSource = RunConfig | str | Path | Mapping[str, Any]


@dataclass(frozen=True)
class Pipeline:
    """The components a run is made of (replaceable, e.g. by small fakes in tests).

    Attributes:
        build_mesh: ``(geometry, comm, cache_dir) -> MeshBundle``.
        simulation: ``(bundle, case, comm, logger) -> object`` whose ``run()`` yields
            :class:`~solver.results.Snapshot` objects.
        field_writer: ``(bundle, case_dir, output_config, comm) -> writer``, a context manager
            with ``write(snapshot)``.
        case_metrics: ``(bundle, output_config, comm) -> metrics``, called with each snapshot.
        write_metrics: ``(run_dir, {case: metrics}, comm, run_name=..., description=...)``.
        build_report: ``(run_dir) -> Any``, from the files of the run directory only; called
            on rank 0 alone.
        summarize: ``(run_dir) -> list[str]``, the console summary of a finished run from its
            files (rank 0); None: no summary.
    """

    build_mesh: Callable[..., Any]
    simulation: Callable[..., Any]
    field_writer: Callable[..., Any]
    case_metrics: Callable[..., Any]
    write_metrics: Callable[..., Any]
    build_report: Callable[..., Any]
    summarize: Callable[[Path], list[str]] | None = None


def default_pipeline() -> Pipeline:
    """The real components (imported here: Gmsh, pyvista and the solver load only for runs)."""
    from solver.geometry import build_mesh
    from solver.io import FieldWriter, write_metrics
    from solver.postprocess import CaseMetrics
    from solver.problem import Simulation
    from solver.report import build_report, run_summary

    return Pipeline(build_mesh, Simulation, FieldWriter, CaseMetrics, write_metrics, build_report,
                    run_summary)


def _load(config: ConfigSource, overrides: Iterable[str]) -> RunConfig:
    if isinstance(config, RunConfig):
        overrides = list(overrides)
        return load_config(config.model_dump(mode="json"), overrides) if overrides else config
    return load_config(config, overrides)


def mesh(config: ConfigSource, *, overrides: Iterable[str] = (), comm: MPI.Comm | None = None,
         mesh_cache: str | Path = Path("meshes"), build_mesh: Callable[..., Any] | None = None
         ) -> dict[str, Any]:
    """Build (or load from the cache) the mesh of every case.

    Args:
        config: A run config, a YAML path or a raw tree.
        overrides: ``KEY=VALUE`` strings (as ``--set``).
        comm: Communicator (default ``MPI.COMM_SELF``: a serial notebook; pass
            ``MPI.COMM_WORLD`` under mpiexec).
        mesh_cache: Mesh cache directory.
        build_mesh: Mesh builder (default :func:`solver.geometry.build_mesh`).

    Returns:
        Case name -> :class:`~solver.geometry.bundle.MeshBundle`.

    Raises:
        ConfigError: The configuration is invalid.
    """
    if build_mesh is None:
        from solver.geometry import build_mesh
    comm = MPI.COMM_SELF if comm is None else comm
    cases = resolved_cases(_load(config, overrides))
    return {name: build_mesh(case.geometry, comm, Path(mesh_cache))
            for name, case in cases.items()}


def run(config: ConfigSource | None, output_root: str | Path = Path("results"), *,
        overrides: Iterable[str] = (), overwrite: bool = False, comm: MPI.Comm | None = None,
        mesh_cache: str | Path = Path("meshes"), pipeline: Pipeline | None = None,
        command_line: Iterable[str] | None = None, clean_stale: bool = False,
        resume: str | Path | None = None) -> Path:
    """Run every case of a configuration into ``<output_root>/<name>``.

    Args:
        config: A run config, a YAML path or a raw tree (None with ``resume``: the
            interrupted run's ``config.resolved.yaml``).
        output_root: Directory holding run directories.
        overrides: ``KEY=VALUE`` strings (as ``--set``).
        overwrite: Replace an existing run directory of the same name (on success only).
        comm: Communicator (default ``MPI.COMM_SELF``: a serial notebook; pass
            ``MPI.COMM_WORLD`` under mpiexec).
        mesh_cache: Mesh cache directory.
        pipeline: Components (default :func:`default_pipeline`).
        command_line: Recorded in the manifest (default ``sys.argv``).
        clean_stale: Remove stale incomplete run directories of earlier killed runs in
            ``output_root`` (they are reported as warnings otherwise).
        resume: An interrupted run directory marked ``RESUMABLE``: its case directories are
            copied into the new run (the field series written so far as ``fields.part-<k>``)
            and each transient case continues from its checkpoint to the same end; the other
            cases run again. ``output_root`` is ignored (the directory's parent is used).

    Returns:
        The run directory.

    Raises:
        ConfigError: The configuration is invalid (nothing is written).
        RunDirectoryExistsError: The run directory exists and ``overwrite`` is False.
        OutputRootError: The output root is not a writable directory, or the run directory
            cannot be created in it (nothing is meshed or solved).
        BaseException: Whatever failed or interrupted the run (an exception,
            :class:`~solver.termination.Interrupted`, ``KeyboardInterrupt``); the partial
            directory is kept as ``<name>.failed-<timestamp>`` (named in its notes).
    """
    comm = MPI.COMM_SELF if comm is None else comm
    if resume is not None:
        resume = _resumable(Path(resume))
        output_root = resume.parent
        config = resume / "config.resolved.yaml" if config is None else config
    run_config = _load(config, overrides)
    cases = resolved_cases(run_config)
    pipeline = pipeline or default_pipeline()
    logger = logging.getLogger(f"{PACKAGE_LOGGER}.run")
    with RunDirectory(output_root, run_config.name, comm, overwrite=overwrite,
                      command_line=None if command_line is None else list(command_line),
                      clean_stale=clean_stale) as rd:
        logger.info("run '%s' (%d case(s): %s) on %d rank(s), results to %s",
                    run_config.name, len(cases), ", ".join(cases), comm.size, rd.target)
        rd.write_text("config.resolved.yaml",
                      yaml.safe_dump(resolved_tree(run_config), sort_keys=False))
        if resume is not None:
            _take_over(resume, rd.path, list(cases), comm)
            logger.info("resuming the interrupted run %s", resume)
        metrics = {name: _run_case(name, case, rd, pipeline, comm, Path(mesh_cache), logger)
                   for name, case in cases.items()}
        with rd.phase("metrics"):
            pipeline.write_metrics(rd.path, metrics, comm, run_name=run_config.name,
                                   description=run_config.description)
        if any(case.output.report for case in cases.values()) and comm.rank == 0:
            logger.info("writing the report (figures, report.md, report.html)")
            with rd.phase("report"):  # from the files only: serial, on rank 0
                pipeline.build_report(rd.path)
    if resume is not None and comm.rank == 0:
        (resume / RESUMABLE).replace(resume / "RESUMED")
        (resume / "RESUMED").write_text(f"resumed into {rd.path}\n", encoding="utf-8")
    logger.info("run '%s' finished: %s", run_config.name, rd.path)
    if pipeline.summarize is not None and comm.rank == 0:
        for line in pipeline.summarize(rd.path):
            logger.info("%s", line)
    return rd.path


def _resumable(path: Path) -> Path:
    """The resolved run directory to resume, or a ConfigError naming what is wrong."""
    path = path.resolve()
    if not (path / RESUMABLE).is_file() or not (path / "config.resolved.yaml").is_file():
        raise ConfigError([
            f"--resume: not a resumable run directory (got '{path}'); allowed: an interrupted "
            f"run directory holding {RESUMABLE} and config.resolved.yaml"
        ])
    return path


def _take_over(old: Path, new: Path, cases: list[str], comm: MPI.Comm) -> None:
    """Copy the case directories of the interrupted run ``old`` into ``new`` (rank 0).

    Each case's ``fields`` folder becomes ``fields.part-<k>`` (k = 1, 2, ... over resumes):
    the resumed run writes its field series anew, from the checkpoint's time on.
    """
    if comm.rank == 0:
        for name in cases:
            if (old / name).is_dir():
                shutil.copytree(old / name, new / name)
                fields = new / name / "fields"
                if fields.is_dir():
                    k = 1 + len(list((new / name).glob("fields.part-*")))
                    fields.rename(new / name / f"fields.part-{k}")
    comm.barrier()


def _run_case(name: str, case: CaseConfig, rd: RunDirectory, pipeline: Pipeline,
              comm: MPI.Comm, mesh_cache: Path, logger: logging.Logger) -> Any:
    """Mesh, solve and write one case; returns its metrics accumulator."""
    logger.info("case '%s': meshing", name)
    with rd.phase(f"{name}/mesh"):
        bundle = pipeline.build_mesh(case.geometry, comm, mesh_cache)
    rd.record_mesh(name, bundle.stats, bundle.key)
    logger.info("case '%s': mesh %s with %d cells, h_min = %.3g m", name, bundle.key,
                bundle.stats.num_cells, bundle.stats.h_min)
    logger.info("case '%s': setting up the problem (form compilation, JIT)", name)
    with rd.phase(f"{name}/setup"):
        simulation = pipeline.simulation(bundle, case, comm, logger.getChild(name))
        metrics = pipeline.case_metrics(bundle, case.output, comm)
    transient = case.time.mode == "transient"
    with (pipeline.field_writer(bundle, rd.path / name, case.output, comm) as writer,
          progress(case.time.t_end if transient else None, comm, name) as bar):
        if transient and hasattr(simulation, "observers"):  # restart (solver.driver)
            from solver.checkpoint import checkpoint_path

            simulation.checkpoint = checkpoint_path(rd.path / name)
            if simulation.checkpoint.is_file():  # copied from the interrupted run
                simulation.resume_from = simulation.checkpoint
            simulation.observers.update(metrics=metrics, fields=writer)
        # the bar advances with every accepted time step where the simulation reports them
        getattr(simulation, "step_listeners", []).append(bar.step)
        snapshots = iter(simulation.run())
        try:
            while True:
                with rd.phase(f"{name}/solve"):
                    snapshot = next(snapshots, None)
                if snapshot is None:
                    break
                with rd.phase(f"{name}/output"):
                    writer.write(snapshot)
                    metrics(snapshot)
                bar.update(snapshot.t)
                for event in snapshot.events:
                    logger.info("case '%s', t = %.4g s: %s", name, snapshot.t, event)
        finally:  # a failed output leaves no suspended time driver (it defers signals)
            getattr(snapshots, "close", lambda: None)()
    return metrics

