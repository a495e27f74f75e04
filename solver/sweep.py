"""Parameter sweeps: a sweep file, its expansion into named runs, and the sweep directory.

A sweep file names a base run file and axes over any key in the ``--set`` syntax; the points
are the Cartesian product of the axes, each one ordinary run (``lidep run``) of the base with
the point's overrides::

    name: radius_map
    base: ../examples/two_cases.yaml          # relative to the sweep file (or an inline run)
    set: [time.t_end=10s]                      # overrides shared by every point
    axes:
      - {key: geometry.protrusions.0.radius, values: [0.5 um, 1 um, 2 um]}   # a grid
      - zip: {physics.control.current_density: [0.1 mA/cm^2, 1 mA/cm^2],     # zipped lists
              time.dt: [1 s, 0.1 s]}
      - {key: physics.electrolyte.conductivity,                              # random samples
         random: {low: 1e-5 S/cm, high: 1e-3 S/cm, count: 8, seed: 1, scale: log}}
      - {key: geometry.surface.seed, seeds: 20}                              # an ensemble

Point ``i`` is named ``<sweep name>-<i>`` (zero-padded), so its run directory is
``<sweep dir>/runs/<sweep name>-<i>``. The sweep file is untrusted like a run file: it is read
with the same safe YAML loader and limits, validated with one line per problem naming the key,
and every point's config is validated before anything is written.

Sweep directory (``<output root>/<sweep name>/``)::

    sweep.json           the validated sweep and its points (index, name, settings, overrides)
    points/<point>.yaml  the run file of each point (base + overrides, name = point name)
    runs/<point>/        the ordinary run directory of each point (``lidep run`` output)
    status/<point>.json  the outcome of the point's last attempt (state, exit code, error, ...)
    logs/<point>.log     the point's console output
    jit/                 FFCx caches: ``shared/`` warmed once per sweep, one copy per point
    meshes/              the mesh cache shared by the points
    slurm/array.sh       the SLURM batch script (``--executor slurm``)
"""

from __future__ import annotations

import datetime
import enum
import functools
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import yaml
from pydantic import Discriminator, Field, StringConstraints, Tag, model_validator

from solver.config import (
    ConfigError,
    SafeName,
    apply_overrides,
    load_config,
    read_yaml,
    validate,
)
from solver.schema import StrictModel

__all__ = [
    "MAX_POINTS",
    "Point",
    "PointState",
    "SweepConfig",
    "SweepLayout",
    "ensemble_key",
    "expand",
    "iter_states",
    "load_sweep",
    "prepare",
]

#: Most points of one sweep. SLURM's default ``MaxArraySize`` (1001) allows array indices up
#: to 1000, so every point can be one task of one job array.
MAX_POINTS = 1000
#: Most values of one axis.
MAX_AXIS_VALUES = 1000
#: Most axes of one sweep.
MAX_AXES = 8
#: At most this many invalid points are reported (each may have several problems).
_MAX_REPORTED_POINTS = 5

OverrideKey = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", max_length=200)
]
"""A dotted key path as given to ``--set`` (checked against the schema when expanded)."""

SweepName = Annotated[SafeName, StringConstraints(max_length=80)]
"""A :data:`~solver.config.SafeName` short enough that ``<name>-<index>`` is one too."""

SlurmWord = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
"""A partition or account name: written into a batch script, so a plain word only."""

SlurmTime = Annotated[str, StringConstraints(pattern=r"^(\d{1,3}-)?\d{1,2}:\d{2}:\d{2}$")]
"""A SLURM time limit, ``[D-]HH:MM:SS``."""

AxisValues = Annotated[list[Any], Field(min_length=1, max_length=MAX_AXIS_VALUES)]


class GridAxis(StrictModel):
    """Values of one key, one point each."""

    ensemble: ClassVar[bool] = False

    key: OverrideKey = Field(description="Key path, as for --set (e.g. geometry.domain.length).")
    values: AxisValues = Field(description="The values, as for --set (YAML; units allowed).")

    def levels(self) -> list[dict[str, Any]]:
        """The settings (key -> value) of each position along the axis."""
        return [{self.key: v} for v in self.values]

    def location(self, key: str) -> str:
        """Where ``key`` is written in the axis, for messages."""
        return "key"


class ZipAxis(StrictModel):
    """Several keys changed together: the i-th point takes the i-th value of every list."""

    ensemble: ClassVar[bool] = False

    zip: dict[OverrideKey, AxisValues] = Field(
        min_length=1, max_length=16, description="Key path -> values; all lists equally long.")

    def levels(self) -> list[dict[str, Any]]:
        """The settings (key -> value) of each position along the axis."""
        return [dict(zip(self.zip, values, strict=True))
                for values in zip(*self.zip.values(), strict=True)]

    def location(self, key: str) -> str:
        """Where ``key`` is written in the axis, for messages."""
        return f"zip.{key}"

    @model_validator(mode="after")
    def _equal_lengths(self) -> ZipAxis:
        lengths = {key: len(values) for key, values in self.zip.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"zip: lists of different lengths (got {lengths}); allowed: lists "
                             "of one length")
        return self


_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def _split_quantity(value: float | str, key: str) -> tuple[float, str]:
    """(number, unit text) of a bound: ``"0.5 um"`` -> (0.5, "um"), ``1e-5`` -> (1e-5, "")."""
    if isinstance(value, int | float):
        number, unit = float(value), ""
    else:
        match = _QUANTITY.match(value)
        if match is None:
            raise ValueError(f"{key}: not a number with an optional unit (got {value!r}); "
                             "allowed: e.g. 1e-5 or '0.5 um'")
        number, unit = float(match.group(1)), match.group(2)
    if not math.isfinite(number):
        raise ValueError(f"{key}: not finite (got {value!r}); allowed: a finite number")
    return number, unit


class RandomSamples(StrictModel):
    """Seeded uniform samples between two bounds (the same seed gives the same values).

    The bounds are numbers, or numbers with one and the same unit; the samples keep that unit
    (the run's schema checks and converts it like any value of the key).
    """

    low: float | str = Field(description="Lower bound: a number or a quantity ('0.5 um').")
    high: float | str = Field(description="Upper bound, in the unit of low.")
    count: int = Field(ge=1, le=MAX_AXIS_VALUES, description="Number of samples.")
    seed: int = Field(ge=0, le=2**32 - 1, description="Seed of the random generator.")
    scale: Literal["linear", "log"] = Field(
        "linear", description="Uniform in the value (linear) or in its logarithm (log).")

    @model_validator(mode="after")
    def _bounds(self) -> RandomSamples:
        (low, low_unit), (high, high_unit) = (_split_quantity(self.low, "low"),
                                              _split_quantity(self.high, "high"))
        if low_unit != high_unit:
            raise ValueError(f"high: another unit than low (got {self.high!r}, low "
                             f"{self.low!r}); allowed: both bounds in one unit")
        if not low < high:
            raise ValueError(f"high: not above low (got {self.high!r}, low {self.low!r}); "
                             "allowed: low < high")
        if self.scale == "log" and low <= 0:
            raise ValueError(f"low: not positive on a log scale (got {self.low!r}); allowed: "
                             "low > 0 with scale log")
        return self

    def samples(self) -> list[float | str]:
        """The samples in the order drawn (with the bounds' unit, e.g. ``"2.41 um"``)."""
        (low, unit), (high, _) = _split_quantity(self.low, "low"), _split_quantity(self.high,
                                                                                     "high")
        u = np.random.default_rng(self.seed).random(self.count)
        if self.scale == "log":
            values = np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
        else:
            values = low + u * (high - low)
        return [f"{v:.6g} {unit}" if unit else float(v) for v in values]


class RandomAxis(StrictModel):
    """Seeded random samples of one key."""

    ensemble: ClassVar[bool] = False

    key: OverrideKey = Field(description="Key path, as for --set.")
    random: RandomSamples = Field(description="Bounds, count, seed and scale of the samples.")

    def levels(self) -> list[dict[str, Any]]:
        """The settings (key -> value) of each position along the axis."""
        return [{self.key: v} for v in self.random.samples()]

    def location(self, key: str) -> str:
        """Where ``key`` is written in the axis, for messages."""
        return "key"


class SeedsAxis(StrictModel):
    """An ensemble: the same point for several random seeds (collect gives mean and 95 % CI)."""

    ensemble: ClassVar[bool] = True

    key: OverrideKey = Field(description="Key path of the seed, e.g. geometry.surface.seed.")
    seeds: int | Annotated[list[int], Field(min_length=2, max_length=MAX_AXIS_VALUES)] = Field(
        description="A count n (seeds 0 .. n-1) or the list of seeds.")

    def levels(self) -> list[dict[str, Any]]:
        """The settings (key -> value) of each position along the axis."""
        seeds = range(self.seeds) if isinstance(self.seeds, int) else self.seeds
        return [{self.key: int(s)} for s in seeds]

    def location(self, key: str) -> str:
        """Where ``key`` is written in the axis, for messages."""
        return "key"

    @model_validator(mode="after")
    def _count(self) -> SeedsAxis:
        if isinstance(self.seeds, int) and not 2 <= self.seeds <= MAX_AXIS_VALUES:
            raise ValueError(f"seeds: an ensemble needs 2 to {MAX_AXIS_VALUES} members (got "
                             f"{self.seeds}); allowed: 2 to {MAX_AXIS_VALUES}")
        return self


def _axis_kind(value: Any) -> str:
    """The kind of an axis, from the key that only that kind has (``values`` otherwise)."""
    keys = value if isinstance(value, dict) else getattr(value, "__dict__", {})
    return next((kind for kind in ("zip", "random", "seeds") if kind in keys), "values")


Axis = Annotated[
    Annotated[GridAxis, Tag("values")] | Annotated[ZipAxis, Tag("zip")]
    | Annotated[RandomAxis, Tag("random")] | Annotated[SeedsAxis, Tag("seeds")],
    Discriminator(_axis_kind),
]
"""An axis; its kind is told by the key ``values``, ``zip``, ``random`` or ``seeds``."""


class LocalSettings(StrictModel):
    """The local executor: points run as subprocesses on this machine."""

    ranks: int = Field(1, ge=1, le=256, description="MPI ranks per point (mpiexec -n).")
    jobs: int | None = Field(None, ge=1, le=256, description="Points run at once (default: "
                             "the cores divided by the ranks, at least 1).")


class SlurmSettings(StrictModel):
    """The SLURM executor: one job array, one task per point."""

    ranks: int = Field(1, ge=1, le=4096, description="MPI ranks per point (sbatch --ntasks).")
    time: SlurmTime = Field("01:00:00", description="Time limit of one task, [D-]HH:MM:SS.")
    partition: SlurmWord | None = Field(None, description="sbatch --partition (default: the "
                                        "cluster's default partition).")
    account: SlurmWord | None = Field(None, description="sbatch --account.")
    launcher: Literal["mpiexec", "srun"] = Field(
        "mpiexec", description="How a task starts its ranks: mpiexec (the environment's MPI, "
        "launched through SLURM) or srun.")
    signal_grace: int = Field(
        120, ge=10, le=3600, description="Seconds before the time limit at which SLURM sends "
        "SIGTERM to the task (the run stops and marks itself).")


class SweepConfig(StrictModel):
    """A sweep file: a base run and axes over its keys."""

    name: SweepName = Field(description="Sweep name: the sweep directory and the point prefix.")
    description: str = Field("", description="Free text.")
    base: str | dict[str, Any] = Field(
        description="The base run file (a path relative to the sweep file) or an inline run.")
    set: list[str] = Field(default_factory=list, max_length=100,
                           description="KEY=VALUE overrides applied to every point (as --set).")
    axes: list[Axis] = Field(min_length=1, max_length=MAX_AXES,
                             description="The axes; the points are their Cartesian product.")
    local: LocalSettings = Field(default_factory=LocalSettings,
                                 description="Settings of the local executor.")
    slurm: SlurmSettings = Field(default_factory=SlurmSettings,
                                 description="Settings of the SLURM executor.")

    @model_validator(mode="after")
    def _one_ensemble(self) -> SweepConfig:
        count = sum(axis.ensemble for axis in self.axes)
        if count > 1:
            raise ValueError(f"axes: more than one seeds axis (got {count}); allowed: at most "
                             "one ensemble axis")
        return self


@dataclass(frozen=True)
class Point:
    """One run of a sweep.

    Attributes:
        index: Position in the sweep (0-based; the SLURM array index).
        name: Run name, ``<sweep name>-<index>``.
        settings: Key path -> value of every axis at this point.
    """

    index: int
    name: str
    settings: dict[str, Any]

    @property
    def overrides(self) -> list[str]:
        """The point's settings as ``KEY=VALUE`` strings (values as JSON, which is YAML)."""
        return [f"{key}={json.dumps(value)}" for key, value in self.settings.items()]


def _point_count(config: SweepConfig) -> int:
    return math.prod(len(axis.levels()) for axis in config.axes)


def expand(config: SweepConfig) -> list[Point]:
    """The points of a sweep, in order (the last axis varies fastest).

    Raises:
        ConfigError: More than :data:`MAX_POINTS` points, or a key named by two axes.
    """
    count = _point_count(config)
    if count > MAX_POINTS:
        raise ConfigError([f"axes: too many points (got {count}); allowed: at most "
                           f"{MAX_POINTS} points per sweep (split the sweep)"])
    keys = [key for axis in config.axes for key in axis.levels()[0]]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ConfigError([f"axes: a key on more than one axis (got {', '.join(repeated)}); "
                           "allowed: each key on one axis (use zip to change keys together)"])
    width = len(str(max(count - 1, 0)))
    return [Point(i, f"{config.name}-{i:0{width}d}", functools.reduce(
        lambda merged, level: merged | level, combo, {}))
        for i, combo in enumerate(itertools.product(*(a.levels() for a in config.axes)))]


def ensemble_key(config: SweepConfig) -> str | None:
    """The key of the sweep's seeds axis, or None."""
    return next((a.key for a in config.axes if a.ensemble), None)


def _base_tree(config: SweepConfig, sweep_file: Path | None) -> dict[str, Any]:
    if isinstance(config.base, dict):
        return config.base
    folder = sweep_file.parent if sweep_file is not None else Path.cwd()
    return read_yaml(folder / config.base)


def _check_keys(config: SweepConfig, base: Mapping[str, Any]) -> None:
    """Every axis key exists in the schema (one line per axis naming ``axes.<i>``)."""
    problems = []
    for i, axis in enumerate(config.axes):
        for key, value in axis.levels()[0].items():
            where = f"axes.{i}.{axis.location(key)}"
            try:
                apply_overrides(base, [f"{key}={json.dumps(value)}"])
            except ConfigError as err:
                problems += [f"{where}: {line.split(': ', 1)[-1]}" for line in err.problems]
    if problems:
        raise ConfigError(problems)


def load_sweep(source: str | Path | Mapping[str, Any],
               settings: Mapping[str, Mapping[str, Any]] | None = None
               ) -> tuple[SweepConfig, list[Point], dict[str, dict[str, Any]]]:
    """Read and validate a sweep file and every point's run config.

    Args:
        source: The sweep file or an already-parsed tree (then ``base`` paths are relative to
            the working directory).
        settings: Executor settings from command-line flags, section -> key -> value (e.g.
            ``{"slurm": {"time": "02:00:00"}}``), merged into the file before validation.

    Returns:
        The sweep, its points and each point's raw run tree (point name -> tree).

    Raises:
        ConfigError: One line per problem: the sweep file's keys, too many points, unknown
            axis keys, or invalid point configs (naming the point and its settings).
    """
    path = Path(source) if isinstance(source, str | Path) else None
    raw = read_yaml(path) if path is not None else dict(source)
    for section, values in (settings or {}).items():
        given = raw.get(section)
        raw[section] = {**(given if isinstance(given, dict) else {}), **values}
    config = validate(SweepConfig, raw, ())
    base = _base_tree(config, path)
    fixed = apply_overrides(base, config.set)
    _check_keys(config, fixed)
    points = expand(config)
    trees: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    invalid = 0
    for point in points:
        tree = apply_overrides(fixed, [*point.overrides, f"name={point.name}"])
        try:
            load_config(tree)
        except ConfigError as err:
            invalid += 1
            if invalid <= _MAX_REPORTED_POINTS:
                where = f" (point {point.name}: {', '.join(point.overrides)})"
                problems += [line + where for line in err.problems]
            continue
        trees[point.name] = tree
    if invalid > _MAX_REPORTED_POINTS:
        problems.append(f"axes: {invalid} points are invalid (got {invalid} of {len(points)}, "
                        f"the first {_MAX_REPORTED_POINTS} listed); allowed: valid points only")
    if problems:
        raise ConfigError(problems)
    return config, points, trees


class PointState(enum.StrEnum):
    """Where a point stands, from its run directory and its last status record."""

    FINISHED = "finished"
    """``runs/<name>/metrics.json`` exists: skipped on resubmission."""
    INTERRUPTED = "interrupted"
    """Its last attempt was stopped by a signal (a time limit): re-run (resumed, see
    :func:`solver.executors.run_command`)."""
    FAILED = "failed"
    """Its last attempt failed: re-run on resubmission."""
    PENDING = "pending"
    """Not attempted yet (or running)."""


@dataclass(frozen=True)
class SweepLayout:
    """The files of a sweep directory (see the module docstring).

    Attributes:
        root: The sweep directory.
    """

    root: Path

    @property
    def plan(self) -> Path:
        """``sweep.json``: the validated sweep and its points."""
        return self.root / "sweep.json"

    def point_file(self, name: str) -> Path:
        """The run file of a point."""
        return self.root / "points" / f"{name}.yaml"

    @property
    def runs(self) -> Path:
        """The output root of the points' runs."""
        return self.root / "runs"

    def status_file(self, name: str) -> Path:
        """The record of a point's last attempt."""
        return self.root / "status" / f"{name}.json"

    def log_file(self, name: str) -> Path:
        """The console output of a point's attempts."""
        return self.root / "logs" / f"{name}.log"

    @property
    def jit(self) -> Path:
        """The FFCx caches."""
        return self.root / "jit"

    @property
    def meshes(self) -> Path:
        """The mesh cache shared by the points."""
        return self.root / "meshes"

    @property
    def slurm(self) -> Path:
        """The SLURM batch script and job records."""
        return self.root / "slurm"

    def read_plan(self) -> dict[str, Any]:
        """The contents of ``sweep.json``."""
        return json.loads(self.plan.read_text(encoding="utf-8"))

    def points(self) -> list[Point]:
        """The points of the sweep."""
        return [Point(p["index"], p["name"], p["settings"]) for p in self.read_plan()["points"]]

    def status(self, name: str) -> dict[str, Any]:
        """The record of a point's last attempt ({} if none)."""
        try:
            return json.loads(self.status_file(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def state(self, name: str) -> PointState:
        """Where a point stands."""
        if (self.runs / name / "metrics.json").is_file():
            return PointState.FINISHED
        recorded = self.status(name).get("state")
        if recorded in (PointState.INTERRUPTED, PointState.FAILED):
            return PointState(recorded)
        return PointState.PENDING

    def interrupted_run(self, name: str) -> Path | None:
        """The newest ``runs/<name>.failed-<UTC>`` directory of a point, or None."""
        failed = sorted(self.runs.glob(f"{name}.failed-*"))
        return failed[-1] if failed else None

    def write_status(self, name: str, record: Mapping[str, Any]) -> None:
        """Record a point's attempt (atomically)."""
        _write_atomic(self.status_file(name), json.dumps(dict(record), indent=2))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _plan(config: SweepConfig, points: Sequence[Point], trees: Mapping[str, Any]
          ) -> dict[str, Any]:
    """The contents of ``sweep.json``.

    ``config_sha256`` fingerprints each point's run file, so that a changed base file makes
    another sweep, not a resubmission of this one.
    """
    return {"schema": "lidep-sweep/1", "sweep": config.model_dump(mode="json"),
            "ensemble_key": ensemble_key(config),
            "axis_keys": list(dict.fromkeys(k for p in points for k in p.settings)),
            "axes_keys": [list(axis.levels()[0]) for axis in config.axes if not axis.ensemble],
            "points": [{"index": p.index, "name": p.name, "settings": p.settings,
                        "config_sha256": hashlib.sha256(json.dumps(
                            trees[p.name], sort_keys=True).encode()).hexdigest()}
                       for p in points]}


def prepare(config: SweepConfig, points: Sequence[Point], trees: Mapping[str, Any],
            output_root: str | Path) -> SweepLayout:
    """Create (or reuse) the sweep directory with its plan and the points' run files.

    An existing sweep directory is reused when it holds the same plan (a resubmission: its
    finished points are skipped by the executors); one holding another plan is refused.

    Raises:
        ConfigError: The directory holds another sweep, or the output root is unusable.
    """
    layout = SweepLayout(Path(output_root) / config.name)
    plan = _plan(config, points, trees)
    if layout.plan.is_file():
        stored = layout.read_plan()
        if {key: stored.get(key) for key in plan} != json.loads(json.dumps(plan)):
            raise ConfigError([
                f"{layout.root}: the directory holds another sweep named '{config.name}' "
                "(got a different sweep.json: other axes or settings, or a changed base run "
                "file); allowed: the same sweep and base files (resubmission) or another "
                "output root or sweep name"])
        return layout
    try:
        for tree_name, tree in trees.items():
            _write_atomic(layout.point_file(tree_name), yaml.safe_dump(tree, sort_keys=False))
        for folder in (layout.runs, layout.jit, layout.meshes, layout.root / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(layout.plan, json.dumps(
            plan | {"created": datetime.datetime.now(datetime.UTC).isoformat()}, indent=2))
    except OSError as err:
        raise ConfigError([f"{layout.root}: cannot write the sweep directory ({err.strerror}); "
                           "allowed: a writable output root"]) from err
    return layout


def iter_states(layout: SweepLayout) -> Iterator[tuple[Point, PointState]]:
    """Every point with its state."""
    for point in layout.points():
        yield point, layout.state(point.name)
