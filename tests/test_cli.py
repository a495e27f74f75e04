"""The ``lidep`` command line and the API orchestration (with small fake components).

The fakes stand in for the mesh builder, the solver and the writers so that these tests check
the plumbing only: exit codes, messages, the run directory layout and the call sequence.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import solver  # noqa: F401  (MPI import order)
import solver.api
from solver.api import Pipeline
from solver.cli import main
from solver.config import ConfigError, markdown_reference
from solver.geometry.bundle import MeshStats
from solver.results import Snapshot, SurfaceSample

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "configs" / "examples" / "minimal.yaml"


def write_config(tmp_path: Path, mutate=None, name: str = "run.yaml") -> Path:
    tree = yaml.safe_load(MINIMAL.read_text())
    if mutate is not None:
        mutate(tree)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tree))
    return path


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- validate and the rejection classes of issue 2 -------------------------------------------------


def test_validate_ok(capsys):
    code, out, _ = cli(capsys, "validate", str(MINIMAL))
    assert code == 0
    assert "valid run 'minimal' with 1 case(s): main" in out


def test_validate_two_cases_lists_differences(capsys):
    code, out, _ = cli(capsys, "validate", str(ROOT / "configs/examples/two_cases.yaml"))
    assert code == 0
    assert "physics.electrolyte.transference_number\n    bare: 0.19\n    lif_rich: 0.56" in out


def test_validate_print_resolved(capsys):
    code, out, _ = cli(capsys, "validate", str(MINIMAL), "--print")
    assert code == 0
    tree = yaml.safe_load(out)
    thickness = tree["base"]["geometry"]["layers"][0]["thickness"]
    # abs=0: pytest.approx's default abs=1e-12 is 5e-5 of this 2e-8 m, not rel=1e-12.
    assert thickness == pytest.approx(2e-8, rel=1e-12, abs=0)


def set_key(*path_and_value):
    *path, value = path_and_value

    def mutate(tree):
        node = tree
        for key in path[:-1]:
            node = node[key] if not isinstance(node, list) else node[int(key)]
        node[path[-1]] = value

    return mutate


REJECTIONS = {
    # class: (mutation or --set, expected start of the message line, fragments)
    "typo key": (set_key("base", "geometry", "domian", {}),
                 "base.geometry.domian: unknown key (did you mean 'domain'?)", ["allowed: "]),
    "wrong type": (set_key("base", "numerics", "degree", "two"),
                   "base.numerics.degree: ", ["(got 'two')", "allowed: 1 or 2"]),
    "non-physical geometry": (set_key("base", "geometry", "domain", "width", "-2 um"),
                              "base.geometry.domain.width: Input should be greater than 0",
                              ["(got '-2 um')", "(> 0)"]),
    "non-physical physics": (set_key("base", "physics", "electrolyte",
                                     {"type": "dilute", "bulk_concentration": "1 M",
                                      "diffusivity": "3e-10 m^2/s",
                                      "transference_number": 1.5}),
                             "base.physics.electrolyte.transference_number: ",
                             ["(got 1.5)", "allowed: "]),
    "negative conductivity": (set_key("base", "physics", "interphase", "sei", "conductivity",
                                      "-1e-6 S/cm"),
                              "base.physics.interphase.sei.conductivity: Input should be greater "
                              "than 0", ["(got '-1e-6 S/cm')", "(> 0)"]),
    "negative temperature": (set_key("base", "physics", "temperature", -5),
                             "base.physics.temperature: Input should be greater than 0",
                             ["(got -5)"]),
    "geometry crossing the counter": (
        set_key("base", "geometry", "protrusions", [{"shape": "spherical", "radius": "12 um"}]),
        "base.geometry.protrusions.0: ", ["reaches the counter boundary", "allowed: "]),
    "wrong dimension": (set_key("base", "geometry", "domain", "length", "10 mA"),
                        "base.geometry.domain.length: '10 mA' has dimension",
                        ["allowed: length in m"]),
    "unknown unit": (set_key("base", "geometry", "domain", "length", "10 parsec2"),
                     "base.geometry.domain.length: unknown unit", ["(got '10 parsec2')"]),
    "unsafe name": (set_key("name", "../../etc"), "name: ", ["(got '../../etc')", "allowed: "]),
    "missing material": (set_key("base", "physics", "interphase", {}),
                         "base.physics.interphase: no material for interphase region 'sei'",
                         ["allowed: one material per interphase region"]),
}


@pytest.mark.parametrize("kind", list(REJECTIONS))
def test_rejected_with_exit_code_2(tmp_path, capsys, kind):
    mutate, start, fragments = REJECTIONS[kind]
    code, out, err = cli(capsys, "validate", str(write_config(tmp_path, mutate)))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[0] == "error: invalid configuration"
    assert lines[1].startswith(start), lines
    for fragment in fragments:
        assert fragment in lines[1]
    assert "Traceback" not in err


def test_bad_set_path_exit_code_2(capsys):
    code, _, err = cli(capsys, "validate", str(MINIMAL), "--set", "geometry.domain.lenght=5um")
    assert code == 2
    assert ("geometry.domain.lenght: --set names an unknown key 'lenght' under geometry.domain "
            "(did you mean 'length'?)") in err


def test_set_overrides_through_the_cli(capsys):
    code, out, _ = cli(capsys, "validate", str(MINIMAL), "--print",
                       "--set", "geometry.domain.length=30um", "--set", "numerics.degree=2")
    assert code == 0
    base = yaml.safe_load(out)["base"]
    assert base["geometry"]["domain"]["length"] == pytest.approx(3e-5, rel=1e-12, abs=0)
    assert base["numerics"]["degree"] == 2


def test_debug_shows_the_traceback(tmp_path):
    path = write_config(tmp_path, set_key("base", "numerics", "degree", 7))
    with pytest.raises(ConfigError):
        main(["validate", str(path), "--debug"])
    with pytest.raises(ConfigError):
        main(["--debug", "validate", str(path)])


def test_usage_error_exit_code_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_console_script_process_exit_code(tmp_path):
    # the real process: exit status 2, one message, no traceback, nothing executed from YAML
    path = tmp_path / "evil.yaml"
    path.write_text("name: x\nbase: !!python/object/apply:os.getcwd []\n")
    result = subprocess.run([sys.executable, "-m", "solver.cli", "validate", str(path)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"{path}:2:7: invalid YAML" in result.stderr
    assert "Traceback" not in result.stderr


# -- schema ------------------------------------------------------------------------------------


def test_schema_is_json(capsys):
    code, out, _ = cli(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == "RunConfig"
    assert set(schema["properties"]) == {"name", "description", "base", "cases"}
    assert schema["additionalProperties"] is False


def test_schema_markdown(capsys):
    code, out, _ = cli(capsys, "schema", "--markdown")
    assert code == 0
    assert out == markdown_reference()


# -- run, with fake components ---------------------------------------------------------------------


class FakeBundle:
    def __init__(self, geometry):
        self.key = f"fake-{geometry.domain.length:g}"
        self.coordinates = geometry.coordinates
        self.stats = MeshStats(num_cells=4, num_vertices=5, min_quality=0.9, h_min=1e-7,
                               h_max=1e-6, region_measures={"electrolyte": 1e-11},
                               boundary_measures={"counter": 2e-6})


class FakeSimulation:
    """Yields three snapshots; fails at the second when ``fail_at`` is set."""

    fail_at: float | None = None

    def __init__(self, bundle, case, comm, logger):
        self.case = case

    def run(self):
        empty = np.zeros(0)
        for t in (0.0, 1.0, 2.0):
            if self.fail_at is not None and t >= self.fail_at:
                raise FloatingPointError(f"Newton diverged at t = {t} s")
            yield Snapshot(t=t, fields={}, surface=SurfaceSample(
                x=np.zeros((0, 3)), weight=empty, j=empty, c_surface=empty),
                events=["depletion at t=2 s"] if t == 2.0 else [])


class FakeWriter:
    def __init__(self, bundle, case_dir, config, comm):
        self.rank = comm.rank
        self.path = Path(case_dir) / "fields.txt"
        if self.rank == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def write(self, snapshot):
        if self.rank == 0:
            with self.path.open("a") as stream:
                stream.write(f"{snapshot.t}\n")


class FakeMetrics:
    def __init__(self, bundle, config, comm):
        self.times = []

    def __call__(self, snapshot):
        self.times.append(snapshot.t)


def fake_write_metrics(run_dir, cases, comm, *, run_name, description):
    if comm.rank != 0:
        return
    document = {"run": run_name, "cases": {name: m.times for name, m in cases.items()}}
    (Path(run_dir) / "metrics.json").write_text(json.dumps(document))


def fake_report(run_dir):
    (Path(run_dir) / "report.md").write_text("# report\n")


@pytest.mark.mpi
def test_api_run_on_all_ranks(tmp_path, fake_pipeline):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    root = Path(comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0))
    run_dir = solver.api.run(MINIMAL, root, comm=comm, pipeline=fake_pipeline)
    assert comm.allgather(str(run_dir)) == [str((root / "minimal").resolve())] * comm.size
    if comm.rank == 0:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "ok" and manifest["mpi_ranks"] == comm.size
        assert (run_dir / "main" / "fields.txt").read_text().split() == ["0.0", "1.0", "2.0"]
    comm.barrier()


@pytest.fixture
def fake_pipeline(monkeypatch):
    FakeSimulation.fail_at = None
    pipeline = Pipeline(build_mesh=lambda geometry, comm, cache: FakeBundle(geometry),
                        simulation=FakeSimulation, field_writer=FakeWriter,
                        case_metrics=FakeMetrics, write_metrics=fake_write_metrics,
                        build_report=fake_report)
    monkeypatch.setattr(solver.api, "default_pipeline", lambda: pipeline)
    return pipeline


def test_run_writes_the_run_directory(tmp_path, capsys, fake_pipeline):
    config = ROOT / "configs/examples/two_cases.yaml"
    code, out, err = cli(capsys, "run", str(config), "-o", str(tmp_path / "out"),
                         "--set", "geometry.domain.length=30um")
    assert code == 0, err
    run_dir = tmp_path / "out" / "two_cases"
    assert out.strip() == f"results: {run_dir.resolve()}"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "bare", "config.resolved.yaml", "lif_rich", "manifest.json", "metrics.json",
        "report.md", "run.log"]
    assert (run_dir / "bare" / "fields.txt").read_text().split() == ["0.0", "1.0", "2.0"]
    assert json.loads((run_dir / "metrics.json").read_text())["cases"] == {
        "bare": [0.0, 1.0, 2.0], "lif_rich": [0.0, 1.0, 2.0]}
    resolved = yaml.safe_load((run_dir / "config.resolved.yaml").read_text())
    assert resolved["base"]["geometry"]["domain"]["length"] == pytest.approx(3e-5, rel=1e-12, abs=0)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["meshes"]["lif_rich"]["key"] == "fake-3e-05"
    assert {"bare/mesh", "bare/setup", "bare/solve", "bare/output", "lif_rich/solve",
            "metrics", "report"} <= set(manifest["phases_s"])
    log = (run_dir / "run.log").read_text()
    assert "run 'two_cases' (2 case(s): bare, lif_rich)" in log
    assert "case 'lif_rich', t = 2 s: depletion at t=2 s" in log

    # the same run again: refused without --overwrite (exit 2), replaced with it
    code, _, err = cli(capsys, "run", str(config), "-o", str(tmp_path / "out"))
    assert code == 2 and "already exists" in err and "--overwrite" in err
    code, _, _ = cli(capsys, "run", str(config), "-o", str(tmp_path / "out"), "--overwrite")
    assert code == 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["meshes"]["lif_rich"]["key"] == "fake-2e-05"


def test_run_failure_exit_code_1_names_the_failed_directory(tmp_path, capsys, fake_pipeline):
    FakeSimulation.fail_at = 1.0
    code, out, err = cli(capsys, "run", str(MINIMAL), "-o", str(tmp_path))
    assert code == 1
    (failed,) = tmp_path.iterdir()
    assert failed.name.startswith("minimal.failed-")
    assert "error: run failed: FloatingPointError: Newton diverged at t = 1.0 s" in err
    assert f"partial results and the error are kept in {failed}" in err
    assert "Traceback" not in err
    assert "Newton diverged" in (failed / "FAILED").read_text()
    assert (failed / "main" / "fields.txt").read_text().split() == ["0.0"]


def test_invalid_config_writes_nothing(tmp_path, capsys, fake_pipeline):
    path = write_config(tmp_path, set_key("base", "numerics", "degree", 5))
    code, _, _ = cli(capsys, "run", str(path), "-o", str(tmp_path / "out"))
    assert code == 2
    assert not (tmp_path / "out").exists()


def test_mesh_command_prints_statistics(tmp_path, capsys):
    # the real (small) Gmsh build of configs/examples/minimal.yaml, cached in tmp_path
    code, out, _ = cli(capsys, "mesh", str(MINIMAL), "--mesh-cache", str(tmp_path))
    assert code == 0
    assert out.startswith("case 'main': mesh ")
    # region areas printed from the mesh: 2 um x 20 nm layer, 2 um x (10 um - 20 nm) electrolyte
    assert re.search(r"sei\s+4\.0000\d\de-14 m\^2", out), out
    assert re.search(r"electrolyte\s+1\.9960\d\de-11 m\^2", out), out
    assert list(tmp_path.glob("*.msh"))  # cached for the next call


def test_progress_bar_is_off_when_stdout_is_not_a_terminal(capsys):
    from mpi4py import MPI

    with solver.api.progress(10.0, MPI.COMM_SELF, "case") as bar:
        assert not bar.enabled  # pytest captures stdout: not a terminal
        bar.update(5.0)
        bar.update(20.0)  # clipped to the total, no error
    out, err = capsys.readouterr()
    assert out == "" and err == ""


@pytest.fixture
def fake_report_module(monkeypatch):
    """A stand-in for solver.report recording its calls (the real one is tested in test_report)."""
    import types

    calls = []
    module = types.ModuleType("solver.report")

    def build_report(run_dir):
        calls.append(("build_report", Path(run_dir)))
        if not (Path(run_dir) / "metrics.json").is_file():
            raise FileNotFoundError(f"no metrics.json in {run_dir}")
        return Path(run_dir) / "report.html"

    def compare_runs(run_dirs, out_dir):
        calls.append(("compare_runs", [Path(d) for d in run_dirs], Path(out_dir)))
        return Path(out_dir) / "comparison.html"

    module.build_report, module.compare_runs = build_report, compare_runs
    monkeypatch.setitem(sys.modules, "solver.report", module)
    return calls


def test_report_and_compare_commands(tmp_path, capsys, fake_report_module):
    (tmp_path / "metrics.json").write_text("{}")
    code, out, _ = cli(capsys, "report", str(tmp_path))
    assert code == 0 and out.strip() == f"report: {tmp_path / 'report.html'}"
    code, out, _ = cli(capsys, "compare", str(tmp_path), str(tmp_path), "-o", str(tmp_path / "c"))
    assert code == 0 and out.strip() == f"comparison: {tmp_path / 'c' / 'comparison.html'}"
    assert fake_report_module[-1] == ("compare_runs", [tmp_path, tmp_path], tmp_path / "c")
    code, _, err = cli(capsys, "report", str(tmp_path / "missing"))
    assert code == 1 and "error: report failed: FileNotFoundError: no metrics.json" in err


@pytest.mark.mpi
def test_config_error_exit_code_on_every_rank(capsys):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    code = main(["validate", str(MINIMAL), "--set", "numerics.degree=9"], comm=comm)
    out, err = capsys.readouterr()
    assert comm.allgather(code) == [2] * comm.size  # every rank agrees
    assert ("base.numerics.degree: " in err) == (comm.rank == 0)  # printed once, by rank 0


# -- the output root: unusable paths are exit 2 naming the path, before any meshing ----------------


def unusable_roots(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Label -> (output root, what the message says about it)."""
    afile = tmp_path / "afile"
    afile.write_text("keep")
    roots = {"a file": (afile, "output root: not a directory"),
             "below a file": (afile / "sub", "output root: cannot be created (Not a directory)")}
    if Path("/proc/self").is_dir():  # a directory where nobody, not even root, creates one
        roots["in /proc"] = (Path("/proc/lidep-output"), "output root: cannot be created")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        roots["not writable"] = (locked, "output root: not writable")
    return roots


@pytest.mark.parametrize("label", ["a file", "below a file", "in /proc", "not writable"])
def test_unusable_output_root_exit_code_2(tmp_path, capsys, fake_pipeline, monkeypatch, label):
    roots = unusable_roots(tmp_path)
    if label not in roots:
        pytest.skip(f"'{label}' cannot be arranged here (running as root, or no /proc)")
    root, says = roots[label]
    no_mesh = dataclasses.replace(fake_pipeline, build_mesh=None)  # meshing would be exit 1
    monkeypatch.setattr(solver.api, "default_pipeline", lambda: no_mesh)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = cli(capsys, "run", str(MINIMAL), "-o", str(root))
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith(f"error: {says}") and line.count(f"(got '{root}')") == 1, line
    assert "allowed: " in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "afile").read_text() == "keep"


@pytest.mark.parametrize("overwrite", [False, True])
def test_run_directory_taken_by_a_file_exit_code_2(tmp_path, capsys, fake_pipeline, overwrite):
    (tmp_path / "minimal").write_text("keep")
    code, _, err = cli(capsys, "run", str(MINIMAL), "-o", str(tmp_path),
                       *(["--overwrite"] if overwrite else []))
    assert code == 2, err
    (line,) = err.splitlines()
    assert line.startswith("error: run directory: exists and is not a directory "
                           f"(got '{tmp_path / 'minimal'}')"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minimal"]
    assert (tmp_path / "minimal").read_text() == "keep"
