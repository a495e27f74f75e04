"""Sweeps: expansion, validation of hostile sweep files, the local executor, collect, ensembles.

The runs are ``configs/examples/minimal.yaml`` (about 3 s each); the local sweep varies the seed
of a random rough surface, which changes the mesh only, so every point has the same forms and
the shared JIT cache is exercised.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import solver  # noqa: F401  (MPI import order)
from solver.cli import main
from solver.collect import collect, confidence_interval, read_table
from solver.config import ConfigError
from solver.executors import (
    READY,
    run_command,
    sbatch_commands,
    slurm_script,
    submission_plan,
)
from solver.sweep import (
    MAX_POINTS,
    PointState,
    SlurmSettings,
    SweepLayout,
    expand,
    load_sweep,
    prepare,
)

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "configs" / "examples" / "minimal.yaml"
SHOWCASES = sorted((ROOT / "configs" / "sweeps").glob("*.yaml"))


def sweep_tree(**changes) -> dict:
    tree = {"name": "s", "base": str(MINIMAL),
            "axes": [{"key": "geometry.domain.width", "values": ["2 um", "3 um"]}]}
    return tree | changes


def write(tmp_path: Path, tree: dict | str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(tree if isinstance(tree, str) else yaml.safe_dump(tree), encoding="utf-8")
    return path


# -- expansion -----------------------------------------------------------------------------------


def test_product_of_grid_zip_random_and_seeds_axes():
    config, points, trees = load_sweep(sweep_tree(axes=[
        {"key": "geometry.domain.width", "values": ["2 um", "3 um"]},
        {"zip": {"physics.electrolyte.conductivity": [1e-2, 1e-1, 1.0],
                 "physics.kinetics.exchange_current_density": [1, 2, 3]}},
        {"key": "geometry.domain.length",
         "random": {"low": "5 um", "high": "50 um", "count": 2, "seed": 7, "scale": "log"}},
        {"key": "numerics.degree", "values": [1]},
    ]))
    assert len(points) == 2 * 3 * 2 * 1 == len(trees)
    assert [p.name for p in points[:3]] == ["s-00", "s-01", "s-02"]
    # the last axis varies fastest; zipped keys change together
    assert points[0].settings["geometry.domain.width"] == "2 um"
    assert points[-1].settings["geometry.domain.width"] == "3 um"
    assert [(p.settings["physics.electrolyte.conductivity"],
             p.settings["physics.kinetics.exchange_current_density"]) for p in points[:6:2]] == [
        (1e-2, 1), (1e-1, 2), (1.0, 3)]
    lengths = [p.settings["geometry.domain.length"] for p in points[:2]]
    assert all(v.endswith(" um") and 5 <= float(v.split()[0]) <= 50 for v in lengths)
    # seeded: the same seed gives the same samples
    again = expand(config)
    assert [p.settings for p in again] == [p.settings for p in points]
    # each point's run file is the base with the overrides and the point's name
    assert trees["s-00"]["name"] == "s-00"
    assert trees["s-00"]["base"]["geometry"]["domain"]["width"] == "2 um"


def test_seeds_axis_is_the_ensemble():
    tree = yaml.safe_load((ROOT / "configs/examples/rough_surfaces.yaml").read_text())
    tree["cases"] = {"random": tree["cases"]["random"]}
    config, points, _ = load_sweep(sweep_tree(base=tree, axes=[
        {"key": "cases.random.geometry.surface.seed", "seeds": 3}]))
    assert [p.settings for p in points] == [{"cases.random.geometry.surface.seed": s}
                                           for s in range(3)]


# -- hostile sweep files: exit 2, one line naming the key, nothing written -----------------------

HOSTILE = [
    ("unknown top-level key", "axez", sweep_tree(axez=[])),
    ("unknown axis key", "axes.0.key", sweep_tree(axes=[
        {"key": "geometry.domian.width", "values": [1]}])),
    ("zip lists of different lengths", "axes.0.zip", sweep_tree(axes=[
        {"zip": {"geometry.domain.width": [1e-6, 2e-6], "geometry.domain.length": [1e-5]}}])),
    ("too many points", "axes", sweep_tree(axes=[
        {"key": "geometry.domain.width", "values": [2e-6] * 40},
        {"key": "geometry.domain.length", "values": [1e-5] * 40}])),
    ("random bounds reversed", "axes.0.random.high", sweep_tree(axes=[
        {"key": "geometry.domain.width",
         "random": {"low": "3 um", "high": "2 um", "count": 2, "seed": 0}}])),
    ("random bounds of two dimensions", "axes.0.random.high", sweep_tree(axes=[
        {"key": "geometry.domain.width",
         "random": {"low": "3 um", "high": "2 s", "count": 2, "seed": 0}}])),
    ("shell in a partition name", "slurm.partition",
     sweep_tree(slurm={"partition": "debug; rm -rf ~"})),
    ("malformed time limit", "slurm.time", sweep_tree(slurm={"time": "1 hour"})),
    ("path in the sweep name", "name", sweep_tree(name="../escape")),
    ("an invalid point names the key and the point", "base.geometry.domain.width",
     sweep_tree(axes=[{"key": "geometry.domain.width", "values": ["2 um", "-1 um"]}])),
    ("a key on two axes", "axes", sweep_tree(axes=[
        {"key": "geometry.domain.width", "values": [2e-6]},
        {"key": "geometry.domain.width", "values": [3e-6]}])),
    ("base file missing", "nothere.yaml", sweep_tree(base="nothere.yaml")),
    ("alias bomb", "sweep.yaml", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}' if i > 1 else '*a'] * 9)}]\n"
        for i in range(1, 110))),
]


def test_an_axis_with_a_typo_gets_one_message_per_problem(tmp_path, capsys):
    tree = sweep_tree(axes=[{"key": "geometry.domain.width", "valuse": [1]}])
    assert main(["sweep", str(write(tmp_path, tree)), "--dry-run"]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == [
        "axes.0.values: required key is missing (got nothing); allowed: a list of any value "
        "(at least 1 long, at most 1000 long)",
        "axes.0.valuse: unknown key (did you mean 'values'?) (got [1]); allowed: key, values, "
        "zip, random, seeds"]


@pytest.mark.parametrize(("key", "tree"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_sweep_file_is_exit_2_naming_the_key(key, tree, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    code = main(["sweep", str(write(tmp_path, tree)), "-o", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 2, stdout + stderr
    assert "Traceback" not in stderr
    naming = [line for line in stderr.splitlines() if key in line]
    assert len(naming) == 1, stderr
    assert naming[0].count(key) == 1, naming[0]
    assert list(out.iterdir()) == []


def test_submit_needs_the_slurm_executor(tmp_path, capsys):
    assert main(["sweep", str(write(tmp_path, sweep_tree())), "-o", str(tmp_path / "out"),
                 "--submit"]) == 2
    assert "--submit: only for the SLURM executor" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_point_limit_is_slurm_array_size():
    assert MAX_POINTS <= 1001  # SLURM's default MaxArraySize: indices 0 .. 1000


# -- dry run, SLURM script -----------------------------------------------------------------------


def test_dry_run_lists_runs_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(write(tmp_path, sweep_tree())), "-o", str(out), "--dry-run"]) == 0
    stdout = capsys.readouterr().out
    assert "s-0 [pending] geometry.domain.width=\"2 um\"" in stdout
    assert "s-1 [pending]" in stdout
    assert not out.exists()


def test_slurm_script_and_submission_plan(tmp_path, capsys):
    tree = sweep_tree(slurm={"partition": "debug", "account": "lidep", "time": "0:30:00",
                             "ranks": 2, "launcher": "srun"},
                      axes=[{"key": "geometry.domain.width",
                             "values": [f"{w} um" for w in (2, 3, 4, 5)]}])
    code = main(["sweep", str(write(tmp_path, tree)), "-o", str(tmp_path / "out"),
                 "--executor", "slurm", "--time", "1:00:00"])
    assert code == 0
    printed = capsys.readouterr().out
    layout = SweepLayout(tmp_path / "out" / "s")
    script = (layout.slurm / "array.sh").read_text()
    assert script in printed + "\n"
    for line in ("#SBATCH --ntasks=2", "#SBATCH --time=1:00:00", "#SBATCH --partition=debug",
                 "#SBATCH --account=lidep", "#SBATCH --signal=B:TERM@120",
                 '"$SLURM_ARRAY_TASK_ID" --ranks 2 --launcher srun'):
        assert line in script
    # cold JIT cache: the first point alone, then the others after it
    assert submission_plan(layout) == ["0", "1-3"]
    commands = sbatch_commands(layout.slurm / "array.sh", submission_plan(layout))
    assert "--dependency=afterany:$PREVIOUS" in commands[1]
    (layout.jit / READY).touch()
    layout.write_status("s-2", {"state": "failed"})
    (layout.runs / "s-1").mkdir(parents=True)
    (layout.runs / "s-1" / "metrics.json").write_text("{}")
    assert submission_plan(layout) == ["0,2-3"]  # finished s-1 skipped, failed s-2 re-run
    assert slurm_script(layout, SlurmSettings()).count("#SBATCH --partition") == 0


# -- the local executor, failures, resubmission, collect -----------------------------------------


def test_local_sweep_failure_resubmission_and_collect(tmp_path, capsys):
    # random rough surfaces: the seed changes the mesh only, so every point has the same forms
    tree = sweep_tree(set=["geometry.surface={kind: random, rms: 0.05 um, "
                           "correlation_length: 0.5 um}"],
                      axes=[{"key": "geometry.surface.seed", "values": [1, 2, 3]}],
                      local={"jobs": 2})
    sweep = write(tmp_path, tree)
    out = tmp_path / "out"
    layout = SweepLayout(out / "s")
    assert main(["sweep", str(sweep), "-o", str(out), "--dry-run"]) == 0
    # a point that fails at run time: its run file made unreadable for lidep run
    config, points, trees = load_sweep(sweep)
    prepare(config, points, trees, out)
    good = layout.point_file("s-1").read_text()
    layout.point_file("s-1").write_text("name: [unclosed\n")
    capsys.readouterr()
    assert main(["sweep", str(sweep), "-o", str(out)]) == 1
    stdout = capsys.readouterr().out
    assert "s-1: failed" in stdout and "invalid YAML" in stdout
    assert "2 of 3 finished, 1 not: s-1" in stdout
    states = {p.name: layout.state(p.name) for p in points}
    assert states == {"s-0": PointState.FINISHED, "s-1": PointState.FAILED,
                      "s-2": PointState.FINISHED}
    status = {n: layout.status(n) for n in states}
    assert status["s-0"]["jit_warm"] and status["s-0"]["jit_compiled"] > 0
    # the same forms: the point after the warm one compiled nothing itself
    assert status["s-2"]["jit_compiled"] == 0 and not status["s-2"]["jit_warm"]
    assert (layout.jit / "s-2" / "fenics").is_dir()  # its own cache directory
    assert "invalid YAML" in status["s-1"]["error"]

    # collect: failures included
    written = collect(layout.root)
    rows = read_table(layout.root / "collected" / "table.csv")
    assert {r["point"] for r in rows} == {"s-0", "s-1", "s-2"}
    failed = [r for r in rows if r["point"] == "s-1"]
    assert len(failed) == 1 and failed[0]["state"] == "failed" and "invalid YAML" in failed[0][
        "error"]
    finished = [r for r in rows if r["state"] == "finished"]
    assert {r["geometry.surface.seed"] for r in finished} == {1, 3}
    assert {r["geometry.surface.seed [SI]"] for r in finished} == {1, 3}
    # a rough surface: max/mean j above 1, different for the two surfaces
    factors = {r["enhancement_max_over_mean"] for r in finished}
    assert len(factors) == 2 and min(factors) > 1.0
    assert all(r["wagner"] > 0 for r in finished)
    assert layout.root / "collected" / "hotspot_vs_wagner.png" in written

    # resubmission: finished points skipped, the failed one re-run
    layout.point_file("s-1").write_text(good)
    assert main(["sweep", str(sweep), "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "s-1: finished" in stdout and "s-0" not in stdout.split("into")[1].split("\n", 1)[1]
    assert layout.status("s-1")["jit_compiled"] == 0


def test_another_sweep_in_the_same_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    config, points, trees = load_sweep(write(tmp_path, sweep_tree()))
    prepare(config, points, trees, out)
    other = write(tmp_path, sweep_tree(axes=[{"key": "geometry.domain.width",
                                             "values": ["5 um"]}]), "other.yaml")
    assert main(["sweep", str(other), "-o", str(out)]) == 2
    assert "holds another sweep" in capsys.readouterr().err
    # the same sweep file over a changed base run file is another sweep too
    base = yaml.safe_load(MINIMAL.read_text())
    base["base"]["numerics"]["degree"] = 2
    write(tmp_path, base, "base.yaml")
    first = write(tmp_path, sweep_tree(base=str(tmp_path / "base.yaml"), name="t"), "t.yaml")
    assert main(["sweep", str(first), "-o", str(out), "--executor", "slurm"]) == 0
    base["base"]["numerics"]["degree"] = 1
    write(tmp_path, base, "base.yaml")
    assert main(["sweep", str(first), "-o", str(out), "--executor", "slurm"]) == 2
    assert "a changed base run file" in capsys.readouterr().err


def test_sigterm_interrupts_a_task_and_marks_its_run(tmp_path):
    """A SLURM time limit: SIGTERM to the task reaches the run, which marks its directory."""
    tree = sweep_tree(set=["time.mode=transient", "time.t_end=1e6", "time.dt=1",
                           "time.adaptivity=none", "time.output_times=[1e6]"],
                      axes=[{"key": "geometry.domain.width", "values": ["2 um"]}])
    config, points, trees = load_sweep(write(tmp_path, tree))
    layout = prepare(config, points, trees, tmp_path / "out")
    task = subprocess.Popen([sys.executable, "-m", "solver.executors", "task",
                             str(layout.root), "0"],
                            env=os.environ | {"PYTHONPATH": str(ROOT),
                                              "LIDEP_PROGRESS_INTERVAL": "0.2"})
    log = layout.log_file("s-0")
    deadline = time.monotonic() + 120
    # the signal must reach a run that is stepping (a run stopped while it is still being set
    # up has nothing to checkpoint): wait for its first progress line
    while " s (" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and task.poll() is None
        time.sleep(0.2)
    task.send_signal(signal.SIGTERM)
    code = task.wait(timeout=60)
    diagnosis = f"{layout.status('s-0')}\n{log.read_text()[-2000:]}"
    assert code == 143, diagnosis
    assert layout.state("s-0") is PointState.INTERRUPTED, diagnosis
    assert "SIGTERM" in layout.status("s-0")["error"], diagnosis
    interrupted = layout.interrupted_run("s-0")
    assert interrupted is not None and (interrupted / "FAILED").is_file()
    # the run checkpointed its last step on SIGTERM: a resubmission resumes it
    assert (interrupted / "RESUMABLE").is_file()
    assert run_command(layout, points[0], 1, "mpiexec")[-4:] == [
        "--resume", str(interrupted), "--mesh-cache", str(layout.meshes)]
    # without a checkpoint the point runs again from the start
    (interrupted / "RESUMABLE").unlink()
    assert run_command(layout, points[0], 1, "mpiexec")[-5:] == [
        str(layout.point_file("s-0")), "-o", str(layout.runs), "--mesh-cache",
        str(layout.meshes)]


def test_sigterm_to_a_local_sweep_stops_its_points(tmp_path):
    """SIGTERM to lidep sweep: the running point is stopped and marked, the others not started."""
    tree = sweep_tree(set=["time.mode=transient", "time.t_end=1e6", "time.dt=1",
                           "time.adaptivity=none", "time.output_times=[1e6]"],
                      axes=[{"key": "geometry.domain.width", "values": ["2 um", "3 um"]}])
    out = tmp_path / "out"
    sweep = subprocess.Popen([sys.executable, "-m", "solver.cli", "sweep",
                              str(write(tmp_path, tree)), "-o", str(out)],
                             env=os.environ | {"PYTHONPATH": str(ROOT)},
                             stderr=subprocess.PIPE, text=True)
    layout = SweepLayout(out / "s")
    log = layout.log_file("s-0")
    deadline = time.monotonic() + 120
    while "setting up the problem" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and sweep.poll() is None
        time.sleep(0.5)
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=60) == 143, f"{layout.status('s-0')}\n{log.read_text()[-2000:]}"
    assert "sweep stopped: terminated by SIGTERM" in sweep.stderr.read()
    assert layout.state("s-0") is PointState.INTERRUPTED
    assert (layout.interrupted_run("s-0") / "FAILED").is_file()
    assert layout.state("s-1") is PointState.PENDING and not layout.log_file("s-1").exists()


def test_jit_caches_warm_lock_links_and_stale_compilations(tmp_path):
    from solver.executors import WARMING, _jit_home

    layout = SweepLayout(tmp_path)
    home, warming, _ = _jit_home(layout, "p-0")
    assert warming and home == layout.jit / "shared" and (layout.jit / WARMING).exists()
    # while p-0 warms, p-1 compiles into its own cache instead of waiting
    home, warming, _ = _jit_home(layout, "p-1")
    assert not warming and home == layout.jit / "p-1"
    shared = layout.jit / "shared" / "fenics"
    shared.mkdir(parents=True)
    for name in ("a.c", "a.c.cached", "a.so", "b.c"):  # b.c: a compilation never finished
        (shared / name).write_text(name)
    (layout.jit / READY).touch()
    own = layout.jit / "p-2" / "fenics"
    own.mkdir(parents=True)
    (own / "c.c").write_text("killed while compiling")  # an earlier attempt's leftover
    home, warming, start = _jit_home(layout, "p-2")
    assert not warming and home == layout.jit / "p-2"
    assert sorted(p.name for p in own.iterdir()) == ["a.c", "a.c.cached", "a.so"]
    assert (own / "a.so").stat().st_ino == (shared / "a.so").stat().st_ino  # hard links
    assert start == {"a.c", "a.c.cached", "a.so"}


# -- ensembles -----------------------------------------------------------------------------------


def test_confidence_interval_student_t():
    # mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764451 (tables): half width 1.9632432
    mean, std, half = confidence_interval([1, 2, 3, 4, 5])
    assert mean == pytest.approx(3.0, rel=1e-12)
    assert std == pytest.approx(math.sqrt(2.5), rel=1e-12)
    assert half == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5), rel=1e-7)
    assert math.isnan(confidence_interval([1.0])[2])


def _fake_sweep(root: Path, cases: dict[str, list[float]]) -> SweepLayout:
    """A finished sweep with one seeds axis, from metrics only (no solver)."""
    layout = SweepLayout(root)
    n = len(next(iter(cases.values())))
    points = [{"index": i, "name": f"e-{i}", "settings": {"geometry.surface.seed": i}}
              for i in range(n)]
    layout.root.mkdir(parents=True)
    layout.plan.write_text(json.dumps({"sweep": {"name": "e"}, "points": points,
                                       "ensemble_key": "geometry.surface.seed",
                                       "axis_keys": ["geometry.surface.seed"], "axes_keys": []}))
    for i in range(n):
        run = layout.runs / f"e-{i}"
        run.mkdir(parents=True)
        run.joinpath("config.resolved.yaml").write_text(yaml.safe_dump({
            "name": f"e-{i}", "base": {"geometry": {"surface": {"seed": i}}},
            "cases": {case: {} for case in cases}}))
        run.joinpath("metrics.json").write_text(json.dumps({"cases": {
            case: {"times": [{"t": 0.0, "enhancement_max_over_mean": values[i],
                              "wagner_with_interphase": 1.0, "i_over_ilim": 0.1}]}
            for case, values in cases.items()}}))
    return layout


def test_ensemble_mean_ci_and_welch_test(tmp_path):
    bare = [1.50, 1.62, 1.55, 1.71, 1.58, 1.66]
    lif = [1.10, 1.12, 1.08, 1.15, 1.11, 1.09]
    layout = _fake_sweep(tmp_path / "e", {"bare": bare, "lif_rich": lif})
    collect(layout.root)
    ensemble = {r["case"]: r for r in read_table(layout.root / "collected" / "ensemble.csv")}
    for case, values in (("bare", bare), ("lif_rich", lif)):
        mean, _, half = confidence_interval(values)
        assert ensemble[case]["n"] == 6
        assert ensemble[case]["mean"] == pytest.approx(sum(values) / 6, rel=1e-12)
        assert ensemble[case]["ci95_high"] - ensemble[case]["ci95_low"] == pytest.approx(
            2 * half, rel=1e-9)
    (test,) = read_table(layout.root / "collected" / "ensemble_tests.csv")
    assert test["significant_5pct"] == "True" and test["p_value"] < 1e-5
    assert (layout.root / "collected" / "ensemble.png").stat().st_size > 0


def test_collect_rejects_what_is_not_a_sweep(tmp_path):
    with pytest.raises(ConfigError, match="not a sweep directory"):
        collect(tmp_path)
    layout = _fake_sweep(tmp_path / "e", {"bare": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="--map"):
        collect(layout.root, map_keys=["a", "b"])
    with pytest.raises(ConfigError, match="--metric"):
        collect(layout.root, metric="no_such_metric")


# -- showcases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHOWCASES, ids=[p.stem for p in SHOWCASES])
def test_showcase_sweeps_validate(path):
    _, points, _ = load_sweep(path)
    assert len(points) >= 2


def test_ci_size_showcase_runs_and_collects(tmp_path):
    """The CI-size ensemble: bare vs LiF-rich on random rough surfaces, a few seeds."""
    out = tmp_path / "out"
    assert main(["sweep", str(ROOT / "configs/sweeps/ensemble_rough_ci.yaml"), "-o",
                 str(out)]) == 0
    layout = SweepLayout(out / "ensemble_rough_ci")
    written = collect(layout.root)
    assert layout.root / "collected" / "ensemble.csv" in written
    ensemble = read_table(layout.root / "collected" / "ensemble.csv")
    assert {r["case"] for r in ensemble} == {"bare", "lif_rich"}
    assert all(r["n"] == 3 and r["mean"] >= 1.0 for r in ensemble)


# -- MPI -----------------------------------------------------------------------------------------


def test_points_on_two_ranks(tmp_path):
    """local.ranks = 2: each point's run under mpiexec -n 2."""
    tree = sweep_tree(set=["output.report=false"], local={"ranks": 2},
                      axes=[{"key": "geometry.domain.width", "values": ["2 um"]}])
    assert main(["sweep", str(write(tmp_path, tree)), "-o", str(tmp_path / "out")]) == 0
    layout = SweepLayout(tmp_path / "out" / "s")
    assert layout.status("s-0")["ranks"] == 2
    manifest = json.loads((layout.runs / "s-0" / "manifest.json").read_text())
    assert manifest["mpi_ranks"] == 2


@pytest.mark.mpi
def test_sweep_under_mpiexec_is_refused_on_every_rank(tmp_path, capsys):
    from mpi4py import MPI

    code = main(["sweep", str(write(tmp_path, sweep_tree())), "-o", str(tmp_path / "out")],
                comm=MPI.COMM_WORLD)
    assert code == 2
    assert not (tmp_path / "out").exists()


def test_parquet_table_when_pyarrow_is_installed(tmp_path):
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
    layout = _fake_sweep(tmp_path / "e", {"bare": [1.0, 2.0]})
    collect(layout.root)
    table = pyarrow_parquet.read_table(layout.root / "collected" / "table.parquet").to_pylist()
    assert [r["enhancement_max_over_mean"] for r in table] == [1.0, 2.0]
    # a column mixing numbers and text (settings given with and without units) becomes text
    from solver.collect import _one_type

    assert _one_type([1e-6, "2 um", None]) == ["1e-06", "2 um", None]


def test_ci_size_regime_map_runs_and_maps(tmp_path):
    """The CI-size regime map: a zip axis (radius, width) x a grid axis (conductivity)."""
    out = tmp_path / "out"
    assert main(["sweep", str(ROOT / "configs/sweeps/seed004_regime_map_ci.yaml"), "-o",
                 str(out)]) == 0
    layout = SweepLayout(out / "seed004_regime_map_ci")
    written = collect(layout.root)
    assert layout.root / "collected" / "map.png" in written
    rows = read_table(layout.root / "collected" / "table.csv")
    assert {(r["case"], r["t"]) for r in rows} == {
        (case, t) for case in ("bare", "lif_rich") for t in (2.0, 10.0)}
    assert len(rows) == 4 * 2 * 2  # points x cases x output times
    # a protrusion: the current crowds at its tip in every run
    assert all(r["enhancement_max_over_mean"] > 1.0 for r in rows)


def test_si_columns_follow_the_resolved_case(tmp_path):
    """``<key> [SI]`` is the value the run resolved for each case (units converted)."""
    from solver.collect import _si_setting

    tree = {"geometry": {"protrusions": [{"radius": 5e-7}]}, "physics": {"kinetics": {}}}
    assert _si_setting("bare", tree, "geometry.protrusions.0.radius") == 5e-7
    assert _si_setting("bare", tree, "cases.bare.geometry.protrusions.0.radius") == 5e-7
    assert _si_setting("lif", tree, "cases.bare.geometry.protrusions.0.radius") is None
    assert _si_setting("bare", tree, "geometry.protrusions.1.radius") is None
    assert _si_setting("bare", tree, "physics.kinetics") is None


@pytest.mark.slow
def test_points_differing_in_material_parameters_compile_nothing(tmp_path):
    # JIT once per sweep: the conductivity (point 1) and i0 (point 2) enter the compiled forms
    # as constants (solver.lifted_forms), so after the warm point 0 no point compiles a module
    tree = sweep_tree(axes=[{"zip": {
        "physics.electrolyte.conductivity": ["1e-4 S/cm", "2e-4 S/cm", "1e-4 S/cm"],
        "physics.kinetics.exchange_current_density": ["1 mA/cm^2", "1 mA/cm^2", "3 mA/cm^2"],
    }}], local={"jobs": 1})
    out = tmp_path / "out"
    assert main(["sweep", str(write(tmp_path, tree)), "-o", str(out)]) == 0
    layout = SweepLayout(out / "s")
    status = {n: layout.status(n) for n in ("s-0", "s-1", "s-2")}
    assert status["s-0"]["jit_warm"] and status["s-0"]["jit_compiled"] > 0
    assert status["s-1"]["jit_compiled"] == 0 and status["s-2"]["jit_compiled"] == 0
    # and the constants hold each point's values: a flat cell, so exactly (to rounding)
    final = {n: json.loads((layout.runs / n / "metrics.json").read_text())["cases"]["main"][
        "summary"]["final"] for n in status}
    # the ohmic drop J L_e / kappa of the 9.98 um electrolyte (10 um cell, 20 nm SEI) at 5 A/m^2
    drop = 5.0 * 9.98e-6 * (1.0 / 0.01 - 1.0 / 0.02)
    assert final["s-0"]["cell_voltage"] - final["s-1"]["cell_voltage"] == pytest.approx(
        -drop, rel=1e-9)
    assert final["s-1"]["overpotential_mean"] == pytest.approx(
        final["s-0"]["overpotential_mean"], rel=1e-12)
    # three times i0: a smaller kinetic overpotential at the same current
    assert 0 > final["s-2"]["overpotential_mean"] > final["s-0"]["overpotential_mean"]
