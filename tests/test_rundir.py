"""Run directory lifecycle: atomic rename, no silent overwrite, failure marker, manifest, log."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mpi4py import MPI

import solver  # noqa: F401  (MPI import order)
from solver.config import ConfigError
from solver.geometry.bundle import MeshStats
from solver.rundir import RunDirectory, RunDirectoryExistsError, RunFailedError, target_path
from solver.termination import stale_directories

SELF = MPI.COMM_SELF


def entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_success_renames_the_work_directory(tmp_path):
    with RunDirectory(tmp_path, "demo", SELF, command_line=["lidep", "run", "x.yaml"]) as rd:
        # while running, only the visible incomplete directory exists, marked RUNNING
        assert re.fullmatch(r"demo\.incomplete-[0-9a-f]{8}", rd.path.name)
        assert entries(tmp_path) == [rd.path.name]
        owner = json.loads((rd.path / "RUNNING").read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        rd.write_text("case/out.txt", "hello")
        logging.getLogger("solver.test").info("a message for run.log")
    assert rd.path == tmp_path / "demo"
    assert entries(tmp_path) == ["demo"]
    assert (rd.path / "case" / "out.txt").read_text() == "hello"
    assert "a message for run.log" in (rd.path / "run.log").read_text()
    assert not (rd.path / "FAILED").exists()


def test_existing_directory_is_not_touched_without_overwrite(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("old")
    with pytest.raises(RunDirectoryExistsError, match=r"demo already exists.*--overwrite"):
        with RunDirectory(tmp_path, "demo", SELF):
            pytest.fail("the body must not run")
    assert entries(tmp_path) == ["demo"]
    assert (tmp_path / "demo" / "keep.txt").read_text() == "old"


def test_overwrite_replaces_only_on_success(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("old")
    with pytest.raises(ZeroDivisionError):
        with RunDirectory(tmp_path, "demo", SELF, overwrite=True) as rd:
            rd.write_text("new.txt", "new")
            raise ZeroDivisionError("solver blew up")
    assert (tmp_path / "demo" / "keep.txt").read_text() == "old"  # old results survive
    with RunDirectory(tmp_path, "demo", SELF, overwrite=True) as rd:
        rd.write_text("new.txt", "new")
    assert entries(tmp_path / "demo") == ["manifest.json", "new.txt", "run.log"]


def test_failure_keeps_a_marked_directory(tmp_path):
    with pytest.raises(ValueError, match="Newton diverged") as info:
        with RunDirectory(tmp_path, "demo", SELF) as rd:
            rd.write_text("partial.txt", "half")
            raise ValueError("Newton diverged at t = 3 s")
    (failed,) = [p for p in tmp_path.iterdir()]
    assert re.fullmatch(r"demo\.failed-\d{8}T\d{6}Z", failed.name)
    assert rd.path == failed
    assert any(str(failed) in note for note in info.value.__notes__)
    text = (failed / "FAILED").read_text()
    assert "ValueError: Newton diverged at t = 3 s" in text and "Traceback" in text
    assert (failed / "partial.txt").read_text() == "half"
    manifest = json.loads((failed / "manifest.json").read_text())
    assert manifest["status"] == "failed"


def test_names_cannot_escape_the_output_root(tmp_path):
    for name in ("../up", "a/b", "..", ".", "/etc"):
        with pytest.raises(ConfigError, match="name: "):
            target_path(tmp_path, name)
    assert target_path(tmp_path, "ok.name-1") == (tmp_path / "ok.name-1").resolve()
    with RunDirectory(tmp_path, "demo", SELF) as rd:
        with pytest.raises(ValueError, match="outside the run directory"):
            rd.write_text("../escape.txt", "x")
    assert entries(tmp_path) == ["demo"]
    assert not (tmp_path / "escape.txt").exists()


def test_manifest_contents(tmp_path):
    stats = MeshStats(num_cells=10, num_vertices=8, min_quality=0.5, h_min=1e-9, h_max=1e-7,
                      region_measures={"electrolyte": 2e-12}, boundary_measures={"counter": 1e-6})
    with RunDirectory(tmp_path, "demo", SELF, command_line=["lidep", "run", "c.yaml"]) as rd:
        with rd.phase("bare/solve"):
            pass
        with rd.phase("bare/solve"):
            pass
        rd.record_mesh("bare", stats, key="abc123")
    manifest = json.loads((rd.path / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["command_line"] == ["lidep", "run", "c.yaml"]
    assert manifest["mpi_ranks"] == 1 and len(manifest["hosts"]) == 1
    for package in ("python", "lidep", "dolfinx", "petsc4py", "gmsh", "numpy", "pydantic",
                    "pyvista", "petsc", "mpi"):
        assert manifest["versions"][package] not in ("", "not installed"), package
    assert re.fullmatch(r"[0-9a-f]{40}", manifest["git"]["commit"])  # tests run in the checkout
    assert isinstance(manifest["git"]["dirty"], bool)
    assert manifest["start_time"] <= manifest["end_time"]
    assert manifest["wall_time_s"] >= manifest["phases_s"]["bare/solve"] >= 0.0
    # every MeshStats field survives the JSON round trip, next to the cache key
    assert manifest["meshes"]["bare"] == {"key": "abc123", **dataclasses.asdict(stats)}
    assert manifest["meshes"]["bare"]["region_measures"] == {"electrolyte": 2e-12}


@pytest.mark.mpi
def test_failure_on_one_rank_ends_the_run_on_all(tmp_path):
    comm = MPI.COMM_WORLD
    root = Path(comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0))
    failing = comm.size - 1
    raised: BaseException | None = None
    try:
        with RunDirectory(root, "par", comm) as rd:
            paths = comm.allgather(str(rd.path))
            assert len(set(paths)) == 1  # every rank writes to the same directory
            if comm.rank == failing:
                raise RuntimeError(f"boom on rank {comm.rank}")
    except (RuntimeError, RunFailedError) as err:
        raised = err
    assert raised is not None  # no rank carries on as if the run succeeded
    if comm.rank != failing:
        assert isinstance(raised, RunFailedError) and "another rank" in str(raised)
    assert len(set(comm.allgather(str(rd.path)))) == 1
    if comm.rank == 0:
        assert rd.path.name.startswith("par.failed-")
        assert f"--- rank {failing} ---" in (rd.path / "FAILED").read_text()
        assert not (root / "par").exists()
    comm.barrier()


def test_stale_directories_are_those_whose_processes_are_gone(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer exists (reaped)
    host = socket.gethostname()

    def incomplete(name: str, **owner) -> Path:
        path = tmp_path / f"{name}.incomplete-0123abcd"
        path.mkdir()
        (path / "RUNNING").write_text(json.dumps(owner))
        return path

    gone = incomplete("gone", host=host, pid=dead.pid, watcher_pid=dead.pid)
    incomplete("mine", host=host, pid=os.getpid(), watcher_pid=dead.pid)  # running
    incomplete("watched", host=host, pid=dead.pid, watcher_pid=os.getpid())  # being marked
    incomplete("elsewhere", host=f"not-{host}", pid=dead.pid, watcher_pid=dead.pid)
    (tmp_path / ".old.tmp-0123abcd").mkdir()  # hidden work directory of lidep <= 0.1
    (tmp_path / "fresh.incomplete-0123abcd").mkdir()  # being created: no RUNNING yet
    (tmp_path / "demo.failed-20260101T000000Z").mkdir()
    stale = stale_directories(tmp_path)
    assert [s.path.name for s in stale] == [".old.tmp-0123abcd", gone.name]
    assert f"pid {dead.pid} on {host}" in stale[1].reason


def test_failure_marker_names_the_cause_first(tmp_path):
    with pytest.raises(ValueError):
        with RunDirectory(tmp_path, "demo", SELF):
            raise ValueError("Newton diverged at t = 3 s\nsecond line")
    (failed,) = tmp_path.iterdir()
    first = (failed / "FAILED").read_text().splitlines()[0]
    assert re.fullmatch(r"Run failed at \S+: ValueError: Newton diverged at t = 3 s", first)
    assert not (failed / "RUNNING").exists()


def test_manifest_versions_equal_importlib_metadata():
    # the versions are read from the metadata's header line: the same as importlib.metadata's
    # for every installed distribution (not only the ones the manifest lists)
    import importlib.metadata

    from solver.rundir import _distribution_version

    names = {d.metadata["Name"] for d in importlib.metadata.distributions()}
    assert len(names) > 10
    for name in names:
        assert _distribution_version(name) == importlib.metadata.version(name), name


def test_git_state_is_the_commit_and_whether_tracked_files_changed(tmp_path):
    from solver.rundir import git_state

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    assert git_state(tmp_path) is None  # not a checkout
    git("init", "-q")
    assert git_state(tmp_path) is None  # no commit yet
    (tmp_path / "a.txt").write_text("1\n")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "HEAD")
    (tmp_path / "untracked.txt").write_text("x\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.txt").write_text("2\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}
