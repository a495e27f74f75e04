"""Checkpoints (``solver.checkpoint``): exact round trips, any rank count, refusals, atomicity.

Tolerances:
* A round trip on one partition copies values: equal bitwise (``np.array_equal``).
* Across rank counts (``-m mpi``, 2 ranks against ``COMM_SELF``): a file written serially and
  read on 2 ranks, written again on 2 ranks and read serially gives back the serial values
  bitwise. The values read on 2 ranks are also compared with the same function interpolated on
  the 2-rank partition: these differ only by the round-off of the dof coordinates, which
  DOLFINx pushes forward from the reference cell of whichever cell it visits (measured: at most
  3e-16 relative to the largest value, P1 to P3, scalar and vector, 2D and 3D; DG values are
  equal); the bound is 1e-15 relative, while a misplaced dof would differ by about 1e-2 (the test
  functions vary by O(1) over the mesh).
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import basix.ufl
import dolfinx
import h5py
import numpy as np
import pytest
from conftest import make_flat_bundle
from dolfinx import fem
from mpi4py import MPI

from solver import checkpoint
from solver.checkpoint import (
    CheckpointError,
    checkpoint_path,
    latest_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from solver.geometry import GeometryConfig, build_mesh

W, L, H = 4e-6, 8e-6, 0.5e-6  # width, counter position, interphase thickness (m)
ELEMENTS = {
    "P1": ("Lagrange", 1),
    "P2": ("Lagrange", 2),
    "P3": ("Lagrange", 3),
    "DG0": ("DG", 0),
    "DG1": ("DG", 1),
    "vector_P1": ("Lagrange", 1, (None,)),  # None: the geometric dimension
}
SCALARS = {
    "t": 0.1 + 0.2,
    "dt": 1e-300,
    "step": 17,
    "scheme": "bdf2",
    "adaptive": True,
    "seed": None,
    "bdf": [1.5, -2.0, 0.5],
    "protocol": {"step": 2, "started": 3.5e3},
    "big": np.int64(2**62),
    "x": np.float64(np.pi),
    "history": np.linspace(0.0, 1.0, 6, dtype=np.float32).reshape(2, 3),
    "empty": np.zeros((0, 3)),
    "inf": float("inf"),
}


def flat(comm: MPI.Comm, tdim: int) -> dolfinx.mesh.Mesh:
    """Li | interphase | electrolyte cell as the tests build it (ghosts: shared_facet)."""
    n = (6, 8) if tdim == 2 else (3, 3, 6)
    return make_flat_bundle(comm, W, L, n, layer=("sei", H, 2)).mesh


def space(msh: dolfinx.mesh.Mesh, kind: str) -> fem.FunctionSpace:
    family, degree, *shape = ELEMENTS[kind]
    if shape:
        return fem.functionspace(msh, (family, degree, (msh.geometry.dim,)))
    return fem.functionspace(msh, (family, degree))


def smooth(x: np.ndarray) -> np.ndarray:
    """Values of size 1 to 8 that differ by O(1e-2) or more between neighbouring dofs."""
    s, t, r = x[0] / W, x[1] / L, x[2] / W
    return np.sin(3.0 * s + 1.0) * np.cos(2.0 * t) + 7.0 * s * t + r + 1.0


def reference(V: fem.FunctionSpace) -> fem.Function:
    """A function whose dofs are distinct: smooth in x, plus the cell's midpoint for DG dofs."""
    u = fem.Function(V)
    bs = V.dofmap.index_map_bs
    points = V.tabulate_dof_coordinates().T
    values = np.stack([smooth(points) * (k + 1) + k for k in range(bs)], axis=1)
    if V.element.basix_element.discontinuous:  # each dof lies in exactly one cell
        cells = np.arange(V.dofmap.list.shape[0], dtype=np.int32)
        cell_of_dof = np.empty(len(values), dtype=np.int32)
        cell_of_dof[V.dofmap.list] = cells[:, None]
        mid = dolfinx.mesh.compute_midpoints(V.mesh, V.mesh.topology.dim, cells)
        values += 0.5 * smooth(mid.T)[cell_of_dof][:, None]
    u.x.array[:] = values.ravel()
    return u


def random_function(V: fem.FunctionSpace, seed: int = 1) -> fem.Function:
    u = fem.Function(V)
    u.x.array[:] = np.random.default_rng(seed).standard_normal(u.x.array.size)
    u.x.scatter_forward()
    return u


def electrolyte_submesh(bundle) -> dolfinx.mesh.Mesh:
    cells = bundle.cell_tags.find(bundle.regions["electrolyte"])
    return dolfinx.mesh.create_submesh(bundle.mesh, bundle.mesh.topology.dim, cells)[0]


def assert_same_scalars(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
            assert np.array_equal(got[key], value), key
        else:
            plain = value.item() if isinstance(value, np.generic) else value
            assert got[key] == plain and type(got[key]) is type(plain), key


# --- one partition: bitwise round trips --------------------------------------------------------


@pytest.mark.parametrize("tdim", [2, 3])
def test_round_trip_is_exact(tmp_path, tdim):
    comm = MPI.COMM_SELF
    msh = flat(comm, tdim)
    mixed = basix.ufl.mixed_element(
        [
            basix.ufl.element("Lagrange", msh.basix_cell(), 2),
            basix.ufl.element("DG", msh.basix_cell(), 1, shape=(tdim,)),
        ]
    )
    spaces = {kind: space(msh, kind) for kind in ELEMENTS}
    spaces["mixed"] = fem.functionspace(msh, mixed)
    written = {kind: random_function(V, seed) for seed, (kind, V) in enumerate(spaces.items())}
    path = tmp_path / "checkpoint.h5"
    write_checkpoint(path, written, SCALARS, comm)
    read = {kind: fem.Function(V) for kind, V in spaces.items()}
    scalars = read_checkpoint(path, read, comm)
    for kind in spaces:
        assert np.array_equal(read[kind].x.array, written[kind].x.array), kind
    assert_same_scalars(scalars, SCALARS)


def test_submesh_and_parent_in_one_file(tmp_path):
    """The electrolyte submesh's cells are keyed like the parent's; both meshes in one file."""
    comm = MPI.COMM_SELF
    bundle = make_flat_bundle(comm, W, L, (6, 8), layer=("sei", H, 2))
    sub = electrolyte_submesh(bundle)
    V, Q = space(bundle.mesh, "P2"), space(sub, "P2")
    written = {"potential": reference(V), "concentration": reference(Q),
               "concentration_old": random_function(Q)}
    path = tmp_path / "checkpoint.h5"
    write_checkpoint(path, written, {}, comm)
    read = {name: fem.Function(u.function_space) for name, u in written.items()}
    assert read_checkpoint(path, read, comm) == {}
    for name, u in written.items():
        assert np.array_equal(read[name].x.array, u.x.array), name
    with h5py.File(path) as f:
        assert len(f["meshes"]) == 2 and len(f["layouts"]) == 2 and len(f["functions"]) == 3


def test_a_subset_of_the_functions_is_read(tmp_path):
    comm = MPI.COMM_SELF
    V = space(flat(comm, 2), "P1")
    u, v = random_function(V, 1), random_function(V, 2)
    write_checkpoint(tmp_path / "c.h5", {"u": u, "v": v}, {}, comm)
    w = fem.Function(V)
    read_checkpoint(tmp_path / "c.h5", {"v": w}, comm)
    assert np.array_equal(w.x.array, v.x.array)


def test_naming_helpers(tmp_path):
    assert checkpoint_path(tmp_path) == tmp_path / "checkpoint.h5"
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / ".checkpoint.h5.abc.tmp").write_bytes(b"half")  # an interrupted write
    assert latest_checkpoint(tmp_path) is None
    V = space(flat(MPI.COMM_SELF, 2), "P1")
    write_checkpoint(checkpoint_path(tmp_path), {"u": fem.Function(V)}, {}, MPI.COMM_SELF)
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint.h5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.h5"]  # stale temp removed


# --- refusals ------------------------------------------------------------------------------------


@pytest.fixture
def written(tmp_path) -> tuple[Path, fem.FunctionSpace]:
    """A checkpoint of a P2 function 'phi' on the 2D flat cell."""
    V = space(flat(MPI.COMM_SELF, 2), "P2")
    path = tmp_path / "checkpoint.h5"
    write_checkpoint(path, {"phi": random_function(V)}, {"t": 1.0}, MPI.COMM_SELF)
    return path, V


def refused(path: Path, functions: dict, *fragments: str) -> None:
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path, functions, MPI.COMM_SELF)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_other_mesh_is_refused(written):
    path, _ = written
    other = make_flat_bundle(MPI.COMM_SELF, W, L, (6, 9), layer=("sei", H, 2)).mesh
    refused(path, {"phi": fem.Function(space(other, "P2"))}, "'phi' was written on another mesh",
            "96 triangle cells of 3 nodes in the checkpoint, 108 triangle cells")


def test_moved_mesh_is_refused(written):
    path, V = written
    msh = flat(MPI.COMM_SELF, 2)
    msh.geometry.x[:, 1] *= 1.0 + 1e-12
    refused(path, {"phi": fem.Function(space(msh, "P2"))}, "another mesh",
            "node coordinates differ by up to 8e-18 m")


def test_other_element_is_refused(written):
    path, V = written
    refused(path, {"phi": fem.Function(space(V.mesh, "P1"))},
            "'phi' was written as Basix element (P, triangle, 2,",
            "the function is Basix element (P, triangle, 1,")


def test_missing_function_is_refused(written):
    path, V = written
    refused(path, {"c": fem.Function(V)}, "no function 'c' (got ['phi'])")


def test_missing_file_is_refused(written, tmp_path):
    _, V = written
    refused(tmp_path / "none.h5", {"phi": fem.Function(V)}, "no such file")


def test_truncated_file_is_refused(written):
    path, V = written
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    refused(path, {"phi": fem.Function(V)}, "damaged or not a checkpoint")


def test_damaged_values_are_refused(written):
    """Flipped bytes inside the values fail the Fletcher-32 checksum instead of being read."""
    path, V = written
    with h5py.File(path) as f:
        dataset = f["functions/0/values"]
        offset = dataset.id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as handle:
        handle.seek(offset + 16)
        byte = handle.read(1)
        handle.seek(offset + 16)
        handle.write(bytes([byte[0] ^ 0xFF]))
    refused(path, {"phi": fem.Function(V)}, "damaged or not a checkpoint")


def test_other_file_is_refused(written, tmp_path):
    _, V = written
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(os.urandom(4096))
    refused(garbage, {"phi": fem.Function(V)}, "damaged or not a checkpoint")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f.attrs["format"] = "io4dolfinx"
    refused(tmp_path / "foreign.h5", {"phi": fem.Function(V)},
            "not a lidep checkpoint (format 'io4dolfinx')")


def test_newer_version_is_refused(written):
    path, V = written
    with h5py.File(path, "r+") as f:
        f.attrs["version"] = checkpoint.VERSION + 1
    refused(path, {"phi": fem.Function(V)}, f"format version {checkpoint.VERSION + 1} is newer")


def test_unsupported_values_are_refused(tmp_path):
    V = space(flat(MPI.COMM_SELF, 2), "P1")
    with pytest.raises(CheckpointError, match="checkpoint scalars: .*set is not JSON serial"):
        write_checkpoint(tmp_path / "c.h5", {"u": fem.Function(V)}, {"s": {1, 2}}, MPI.COMM_SELF)
    nedelec = fem.functionspace(V.mesh, ("N1curl", 1))
    with pytest.raises(CheckpointError, match="'e': element .*N1E.* is not supported"):
        write_checkpoint(tmp_path / "c.h5", {"e": fem.Function(nedelec)}, {}, MPI.COMM_SELF)
    assert not any(tmp_path.iterdir())


# --- atomic replacement -------------------------------------------------------------------------


def test_failed_write_keeps_the_previous_checkpoint(written, monkeypatch):
    path, V = written
    before = fem.Function(V)
    read_checkpoint(path, {"phi": before}, MPI.COMM_SELF)
    original = checkpoint._dataset

    def fail_on_values(group, name, data):
        if name == "values":
            raise OSError("No space left on device")
        original(group, name, data)

    monkeypatch.setattr(checkpoint, "_dataset", fail_on_values)
    with pytest.raises(CheckpointError, match="cannot be written .*No space left on device"):
        write_checkpoint(path, {"phi": random_function(V, 7)}, {"t": 2.0}, MPI.COMM_SELF)
    after = fem.Function(V)
    assert read_checkpoint(path, {"phi": after}, MPI.COMM_SELF) == {"t": 1.0}
    assert np.array_equal(after.x.array, before.x.array)
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.h5"]


KILLED_WRITER = textwrap.dedent(
    """
    import solver  # noqa: F401
    import os
    import signal
    import sys
    from pathlib import Path

    from conftest import make_flat_bundle
    from dolfinx import fem
    from mpi4py import MPI

    from solver import checkpoint

    path, when = Path(sys.argv[1]), sys.argv[2]
    msh = make_flat_bundle(MPI.COMM_SELF, 1.0, 1.0, (60, 60)).mesh
    u = fem.Function(fem.functionspace(msh, ("Lagrange", 2, (2,))))
    if when == "inside":  # the second write dies half-way through its file
        original = checkpoint._dataset

        def dataset(group, name, data):
            if name == "values" and path.exists():
                os.kill(os.getpid(), signal.SIGKILL)
            original(group, name, data)

        checkpoint._dataset = dataset
    print("ready", flush=True)
    for i in range(1, 10**6):
        u.x.array[:] = i
        checkpoint.write_checkpoint(path, {"u": u}, {"i": i}, MPI.COMM_SELF)
    """
)


def killed_writer(path: Path, when: str) -> subprocess.Popen:
    tests = str(Path(__file__).parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), when], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def assert_complete(path: Path) -> int:
    """The checkpoint at ``path`` reads, and its values match its scalar ``i``."""
    msh = make_flat_bundle(MPI.COMM_SELF, 1.0, 1.0, (60, 60)).mesh
    u = fem.Function(fem.functionspace(msh, ("Lagrange", 2, (2,))))
    i = read_checkpoint(path, {"u": u}, MPI.COMM_SELF)["i"]
    assert i >= 1 and np.all(u.x.array == i)
    assert latest_checkpoint(path.parent) == path
    return i


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_sigkill_inside_a_write_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.h5"
    proc = killed_writer(path, "inside")
    assert proc.wait(timeout=120) == -signal.SIGKILL
    assert assert_complete(path) == 1
    assert len(list(tmp_path.glob(".checkpoint.h5.*.tmp"))) == 1  # the half-written file
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())


@pytest.mark.slow
def test_sigkill_at_any_time_leaves_a_complete_checkpoint(tmp_path):
    """A writer killed with SIGKILL at several points of its loop of writes."""
    path = tmp_path / "run" / "checkpoint.h5"
    for delay in (0.05, 0.2, 0.45):
        proc = killed_writer(path, "anytime")
        while not path.exists():
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert_complete(path)


# --- across rank counts (mpiexec -n 2 ... -m mpi) -----------------------------------------------


def on_root(comm: MPI.Comm, action: Callable[[], object]) -> object:
    """Run ``action`` on rank 0 only; its result, or its failure, reaches every rank."""
    result, error = None, None
    if comm.rank == 0:
        try:
            result = action()
        except Exception as err:  # re-raised on every rank, so no rank waits forever
            error = err
    result, error = comm.bcast((result, error), root=0)
    if error is not None:
        raise error
    return result


def shared_folder(comm: MPI.Comm) -> Path:
    return Path(comm.bcast(tempfile.mkdtemp(prefix="lidep-ckpt-") if comm.rank == 0 else None))


def across_rank_counts(make: Callable[[MPI.Comm], dict[str, fem.FunctionSpace]]) -> None:
    """Serial write -> 2-rank read (vs interpolation) -> 2-rank round trip -> serial read."""
    world = MPI.COMM_WORLD
    folder = shared_folder(world)
    try:

        def write_serial() -> dict[str, np.ndarray]:
            functions = {name: reference(V) for name, V in make(MPI.COMM_SELF).items()}
            write_checkpoint(folder / "serial.h5", functions, SCALARS, MPI.COMM_SELF)
            return {name: u.x.array.copy() for name, u in functions.items()}

        serial = on_root(world, write_serial)
        spaces = make(world)
        read = {name: fem.Function(V) for name, V in spaces.items()}
        assert_same_scalars(read_checkpoint(folder / "serial.h5", read, world), SCALARS)
        for name, V in spaces.items():
            expected = reference(V).x.array
            scale = np.abs(expected).max()
            assert np.abs(read[name].x.array - expected).max() <= 1e-15 * scale, name
        write_checkpoint(folder / "parallel.h5", read, SCALARS, world)
        again = {name: fem.Function(V) for name, V in spaces.items()}
        read_checkpoint(folder / "parallel.h5", again, world)
        for name in spaces:
            assert np.array_equal(again[name].x.array, read[name].x.array), name

        def read_serial() -> None:
            back = {name: fem.Function(V) for name, V in make(MPI.COMM_SELF).items()}
            assert_same_scalars(read_checkpoint(folder / "parallel.h5", back, MPI.COMM_SELF),
                                SCALARS)
            for name, u in back.items():
                assert np.array_equal(u.x.array, serial[name]), name

        on_root(world, read_serial)
    finally:
        world.barrier()
        if world.rank == 0:
            shutil.rmtree(folder)


@pytest.mark.mpi
@pytest.mark.parametrize("tdim", [2, 3])
def test_flat_cell_across_rank_counts(tdim):
    def make(comm: MPI.Comm) -> dict[str, fem.FunctionSpace]:
        bundle = make_flat_bundle(comm, W, L, (6, 8) if tdim == 2 else (3, 3, 6),
                                  layer=("sei", H, 2))
        sub = electrolyte_submesh(bundle)
        return {kind: space(bundle.mesh, kind) for kind in ELEMENTS} | {
            "submesh_P2": space(sub, "P2")
        }

    across_rank_counts(make)


@pytest.mark.mpi
def test_cached_gmsh_mesh_across_rank_counts():
    """The resume path: the mesh is rebuilt from the cached .msh file on another rank count."""
    world = MPI.COMM_WORLD
    cache = shared_folder(world)
    cfg = GeometryConfig.model_validate(
        {
            "domain": {"width": W, "length": L},
            "surface": {"kind": "sinusoidal", "amplitude": 0.2e-6, "wavelength": W},
            "layers": [{"name": "sei", "thickness": H}],
            "mesh": {"far_field_size": "2um", "order": 2},
        }
    )
    try:

        def fill_cache() -> None:  # as the first run did; resume reads the cached .msh
            build_mesh(cfg, MPI.COMM_SELF, cache)

        on_root(world, fill_cache)

        def make(comm: MPI.Comm) -> dict[str, fem.FunctionSpace]:
            bundle = build_mesh(cfg, comm, cache)
            sub = electrolyte_submesh(bundle)
            return {"potential": space(bundle.mesh, "P2"), "field": space(bundle.mesh, "DG1"),
                    "concentration": space(sub, "P2")}

        across_rank_counts(make)
    finally:
        world.barrier()
        if world.rank == 0:
            shutil.rmtree(cache)


@pytest.mark.mpi
def test_errors_reach_every_rank():
    """Failures found on rank 0 (the only rank touching the file) are raised on both ranks."""
    world = MPI.COMM_WORLD
    folder = shared_folder(world)
    try:
        V = space(flat(world, 2), "P2")
        path = folder / "checkpoint.h5"
        write_checkpoint(path, {"phi": reference(V)}, {}, world)
        other = space(make_flat_bundle(world, W, L, (6, 9), layer=("sei", H, 2)).mesh, "P2")
        with pytest.raises(CheckpointError, match="'phi' was written on another mesh"):
            read_checkpoint(path, {"phi": fem.Function(other)}, world)
        with pytest.raises(CheckpointError, match="no such file"):
            read_checkpoint(folder / "none.h5", {"phi": fem.Function(V)}, world)
        blocker = folder / "not_a_folder"
        on_root(world, blocker.touch)
        with pytest.raises(CheckpointError, match="cannot be written"):
            write_checkpoint(blocker / "checkpoint.h5", {"phi": fem.Function(V)}, {}, world)
    finally:
        world.barrier()
        if world.rank == 0:
            shutil.rmtree(folder)
