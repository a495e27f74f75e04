"""Checkpoints of finite-element functions and run scalars that do not depend on the rank count.

A checkpoint written on any number of MPI ranks is read on any other number: a run started on 2
ranks resumes on 1 and the other way round. The mesh must be the one the run was started with,
rebuilt from the same cached ``.msh`` file (``solver.geometry.build_mesh``); that is verified.

Scheme: every degree of freedom is addressed by its cell and its position in the cell's dof list.
A cell is keyed by the input indices of its geometry nodes in the cell's own node order
(``mesh.geometry.input_global_indices[mesh.geometry.dofmaps[0]]``): the numbering of the mesh
file, the same on every partition and for a submesh (whose geometry keeps the parent's input
indices), and a key that also pins the cell's local orientation, hence the meaning of each
position in its dof list. Writing gathers the owned cells' keys, their dof lists in the writer's
global numbering and the owned dof values to rank 0, which writes one HDF5 file with h5py.
Reading gathers each rank's cell keys (owned and ghost) to rank 0, which looks them up in the
file and sends every rank the values of the dofs of its cells; each rank writes them through its
own dofmap and scatters forward. Values are copied, never recomputed, so a round trip is exact
for any element whose dofs need no transformation (Lagrange and DG of any degree, blocked
(vector) and mixed spaces of them); elements that do (N1curl, RT: their dof signs follow the
global vertex numbering) are refused.

Why not io4dolfinx or ADIOS2: the DOLFINx wheel has no ``adios2`` Python module and the PyPI
``adios2`` wheel is built without MPI; io4dolfinx's h5py backend needs an MPI-enabled h5py in
parallel and the PyPI h5py has none. Gathering to rank 0 and writing serially needs neither; its
cost is that rank 0 holds the whole checkpoint in memory while writing and reading, which the
mesh sizes of this project (up to about 10^6 dofs) allow.

File format (version 1; HDF5 written with ``libver="latest"``, so its metadata is checksummed,
and every dataset with the Fletcher-32 filter, so damaged data is refused on read)::

    /                       attrs: format = "lidep-checkpoint", version = 1
    /scalars                uint8: the scalars as UTF-8 JSON (NumPy arrays as {"__ndarray__":
                            list, "dtype": str, "shape": list}; floats round-trip exactly)
    /meshes/<m>/cells       int64 (cells, nodes per cell): cell keys, sorted lexicographically
    /meshes/<m>/nodes       int64 (nodes,): input indices of the nodes, sorted
    /meshes/<m>/x           float64 (nodes, gdim): their coordinates
                            attrs: cell_type, digest (SHA-256 of cell_type, cells, nodes, x)
    /layouts/<l>/dofs       int64 (cells, dofs per cell): file dof number of each position of
                            each cell of /meshes/<mesh> (rows in that order)
                            attrs: mesh, element (UFL element string), block_size
    /functions/<k>/values   (file dofs * block_size,): values, dof-major (dof * bs + component)
                            attrs: name, layout

Integrity: the file is written by rank 0 under a temporary name in the target's folder, flushed
and fsynced, then renamed over the target (and the folder fsynced): a process killed while
writing leaves the previous checkpoint intact plus a hidden temporary file, which the next write
removes. Reading checks the format and version, the presence of every requested function, its
element, block size and dtype, and the mesh digest; a damaged or truncated file fails to open or
fails its checksums. Every error is raised as :class:`CheckpointError` on all ranks.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dolfinx
import numpy as np
from dolfinx import fem
from mpi4py import MPI

if TYPE_CHECKING:  # h5py (0.1 s of import) is loaded when a checkpoint is written or read
    import h5py

__all__ = [
    "CHECKPOINT_NAME",
    "FORMAT",
    "VERSION",
    "CheckpointError",
    "checkpoint_path",
    "latest_checkpoint",
    "read_checkpoint",
    "write_checkpoint",
]

FORMAT = "lidep-checkpoint"
"""Value of the root attribute ``format``."""

VERSION = 1
"""Format version written; files of a newer version are refused."""

CHECKPOINT_NAME = "checkpoint.h5"
"""File name of a run's checkpoint in its run directory."""

_ROOT = 0
_TMP_SUFFIX = ".tmp"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or read (raised on every rank)."""


def checkpoint_path(run_dir: Path) -> Path:
    """The checkpoint file of a run directory (whether or not it exists).

    Args:
        run_dir: Run directory.

    Returns:
        ``run_dir / CHECKPOINT_NAME``.
    """
    return Path(run_dir) / CHECKPOINT_NAME


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint of a run directory, or None if there is none.

    Temporary files of an interrupted write are never returned: the checkpoint file only ever
    appears by an atomic rename of a complete file.

    Args:
        run_dir: Run directory.

    Returns:
        The checkpoint's path, or None.
    """
    path = checkpoint_path(run_dir)
    return path if path.is_file() else None


def write_checkpoint(
    path: Path, functions: Mapping[str, fem.Function], scalars: Mapping[str, Any], comm: MPI.Comm
) -> None:
    """Write ``functions`` and ``scalars`` to ``path`` (collective on ``comm``), atomically.

    An existing file at ``path`` is replaced only once the new one is complete on disk.

    Args:
        path: Checkpoint file (its folder is created if needed).
        functions: Name -> function; any mesh (a parent mesh or a submesh), any Lagrange/DG
            element, blocked or mixed. The same names and spaces on every rank.
        scalars: Name -> JSON-compatible value (float, int, str, bool, None, lists, dicts,
            NumPy scalars and arrays); taken from rank 0.
        comm: Communicator of the functions' meshes.

    Raises:
        CheckpointError: On every rank, if a value or an element is not supported or the file
            cannot be written.
    """
    path = Path(path)
    text = _encode_scalars(scalars)
    entries = _entries(functions)
    meshes = _distinct(entry.mesh for entry in entries)
    spaces = _distinct(entry.space for entry in entries)
    local = {
        "meshes": [_owned_mesh_part(msh) for msh in meshes],
        "layouts": [_owned_dofs(space) for space in spaces],
        "values": [entry.owned_values() for entry in entries],
    }
    parts = comm.gather(local, root=_ROOT)
    error = None
    if comm.rank == _ROOT:
        try:
            _write_file(path, entries, meshes, spaces, parts, text)
        except Exception as err:  # reported on every rank below
            error = f"checkpoint {path}: cannot be written ({_one_line(err)})"
    error = comm.bcast(error, root=_ROOT)
    if error is not None:
        raise CheckpointError(error)


def read_checkpoint(
    path: Path, functions: Mapping[str, fem.Function], comm: MPI.Comm
) -> dict[str, Any]:
    """Fill ``functions`` from the checkpoint at ``path`` (collective on ``comm``).

    The functions' meshes must be the meshes the checkpoint was written on (same cells, node
    numbering and coordinates), distributed over any number of ranks. Functions of the file that
    are not requested are ignored.

    Args:
        path: Checkpoint file.
        functions: Name -> function to fill in place (ghosts updated).
        comm: Communicator of the functions' meshes.

    Returns:
        The scalars as written (NumPy arrays restored with their dtype).

    Raises:
        CheckpointError: On every rank, if the file is missing, damaged, of another format or
            version, lacks a function, or was written on another mesh or element.
    """
    path = Path(path)
    entries = _entries(functions)
    meshes = _distinct(entry.mesh for entry in entries)
    local = [(_cell_keys(msh), _owned_mesh_part(msh)) for msh in meshes]
    parts = comm.gather(local, root=_ROOT)
    replies: list[Any] = [None] * comm.size
    if comm.rank == _ROOT:
        try:
            replies = _read_file(path, entries, meshes, parts)
        except CheckpointError as err:
            replies = [("error", str(err))] * comm.size
        except Exception as err:  # h5py/HDF5 errors of a damaged file
            message = f"checkpoint {path}: damaged or not a checkpoint ({_one_line(err)})"
            replies = [("error", message)] * comm.size
    status, reply = comm.scatter(replies, root=_ROOT)
    if status == "error":
        raise CheckpointError(reply)
    scalars, values = reply
    for entry, (inverse, dof_values) in zip(entries, values, strict=True):
        entry.fill(inverse, dof_values)
    return scalars


def _one_line(err: Exception) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


@dataclass(frozen=True)
class _Entry:
    """One named function and the facts about its space that the format relies on."""

    name: str
    function: fem.Function

    @property
    def space(self) -> fem.FunctionSpace:
        return self.function.function_space

    @property
    def mesh(self) -> dolfinx.mesh.Mesh:
        return self.space.mesh

    @property
    def element(self) -> str:
        return str(self.space.ufl_element())

    @property
    def block_size(self) -> int:
        return self.space.dofmap.index_map_bs

    def owned_values(self) -> np.ndarray:
        """Values of the owned dofs, in the global order of the writer's numbering."""
        return self.function.x.array[: self.space.dofmap.index_map.size_local * self.block_size]

    def fill(self, inverse: np.ndarray, dof_values: np.ndarray) -> None:
        """Set the dofs of every local cell: position p of cell c gets ``dof_values[inverse]``."""
        array = self.function.x.array.reshape(-1, self.block_size)
        array[self.space.dofmap.list.ravel()] = dof_values[inverse]
        self.function.x.scatter_forward()


def _entries(functions: Mapping[str, fem.Function]) -> list[_Entry]:
    """Functions in name order (the same on every rank), refusing unsupported elements."""
    entries = [_Entry(name, functions[name]) for name in sorted(functions)]
    for entry in entries:
        if entry.space.element.needs_dof_transformations:
            raise CheckpointError(
                f"checkpoint function '{entry.name}': element {entry.element} is not supported "
                "(its dofs depend on the global vertex numbering); allowed: Lagrange or DG "
                "elements, blocked or mixed"
            )
    return entries


def _distinct(objects) -> list:
    """Objects in order of first appearance, each once (by identity)."""
    seen: dict[int, Any] = {}
    for obj in objects:
        seen.setdefault(id(obj), obj)
    return list(seen.values())


def _num_owned_cells(msh: dolfinx.mesh.Mesh) -> int:
    return msh.topology.index_map(msh.topology.dim).size_local


def _cell_keys(msh: dolfinx.mesh.Mesh) -> np.ndarray:
    """Input indices of the geometry nodes of every local cell (owned, then ghost)."""
    dofmap = msh.geometry.dofmaps[0]
    return msh.geometry.input_global_indices[dofmap].astype(np.int64)


def _owned_mesh_part(msh: dolfinx.mesh.Mesh) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """Cell type, owned cells' keys, owned nodes' input indices and coordinates."""
    nodes = msh.geometry.index_map().size_local
    return (
        msh.topology.cell_type.name,
        _cell_keys(msh)[: _num_owned_cells(msh)],
        msh.geometry.input_global_indices[:nodes].astype(np.int64),
        msh.geometry.x[:nodes, : msh.geometry.dim].copy(),
    )


def _owned_dofs(space: fem.FunctionSpace) -> np.ndarray:
    """Global (block) dof numbers of the owned cells' dof lists."""
    dofmap = space.dofmap
    cells = dofmap.list[: _num_owned_cells(space.mesh)]
    return dofmap.index_map.local_to_global(cells.ravel()).reshape(cells.shape).astype(np.int64)


@dataclass
class _MeshRecord:
    """A mesh described independently of its distribution (rank 0 only)."""

    cell_type: str
    cells: np.ndarray
    nodes: np.ndarray
    x: np.ndarray

    @classmethod
    def gather(cls, parts: list[tuple]) -> tuple[_MeshRecord, np.ndarray]:
        """Assemble the ranks' owned parts; also return the sorting order of the cells."""
        cells = np.concatenate([part[1] for part in parts])
        nodes = np.concatenate([part[2] for part in parts])
        x = np.concatenate([part[3] for part in parts])
        cell_order = np.lexsort(cells.T[::-1])
        node_order = np.argsort(nodes, kind="stable")
        record = cls(parts[0][0], cells[cell_order], nodes[node_order], x[node_order])
        return record, cell_order

    @classmethod
    def load(cls, group: h5py.Group) -> _MeshRecord:
        return cls(str(group.attrs["cell_type"]), group["cells"][()], group["nodes"][()],
                   group["x"][()])

    def save(self, group: h5py.Group) -> None:
        group.attrs["cell_type"] = self.cell_type
        group.attrs["digest"] = self.digest()
        for name in ("cells", "nodes", "x"):
            _dataset(group, name, getattr(self, name))

    def digest(self) -> str:
        """SHA-256 of the cell type, cell keys, node indices and coordinates."""
        sha = hashlib.sha256(self.cell_type.encode())
        for array in (self.cells, self.nodes, self.x):
            sha.update(str(array.shape).encode())
            sha.update(np.ascontiguousarray(array).tobytes())
        return sha.hexdigest()

    def difference(self, other: _MeshRecord) -> str:
        """How ``other`` (this run's mesh) differs from this one (the checkpoint's)."""
        if self.cell_type != other.cell_type or self.cells.shape != other.cells.shape:
            return (
                f"{len(self.cells)} {self.cell_type} cells of {self.cells.shape[1]} nodes in the "
                f"checkpoint, {len(other.cells)} {other.cell_type} cells of "
                f"{other.cells.shape[1]} nodes now"
            )
        if self.nodes.shape != other.nodes.shape or not np.array_equal(self.nodes, other.nodes):
            return f"{len(self.nodes)} nodes in the checkpoint, {len(other.nodes)} now"
        if not np.array_equal(self.cells, other.cells):
            return "the cells connect other nodes"
        if self.x.shape != other.x.shape:
            return f"dimension {self.x.shape[1]} in the checkpoint, {other.x.shape[1]} now"
        return f"node coordinates differ by up to {np.max(np.abs(self.x - other.x)):.3g} m"


def _dataset(group: h5py.Group, name: str, data: np.ndarray) -> None:
    """A checksummed dataset (chunked, Fletcher-32)."""
    data = np.asarray(data)
    if data.size == 0:  # HDF5 cannot chunk an empty dataset
        group.create_dataset(name, data=data)
        return
    group.create_dataset(name, data=data, fletcher32=True, chunks=True)


def _write_file(
    path: Path,
    entries: list[_Entry],
    meshes: list[dolfinx.mesh.Mesh],
    spaces: list[fem.FunctionSpace],
    parts: list[dict],
    text: str,
) -> None:
    """Rank 0: assemble the gathered parts and write them atomically to ``path``."""
    orders = []
    records = []
    for m in range(len(meshes)):
        record, order = _MeshRecord.gather([part["meshes"][m] for part in parts])
        records.append(record)
        orders.append(order)
    mesh_index = {id(msh): m for m, msh in enumerate(meshes)}
    space_index = {id(space): s for s, space in enumerate(spaces)}
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*{_TMP_SUFFIX}"):
        stale.unlink(missing_ok=True)  # left by a write that was killed
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # mkstemp's 0600 would hide the checkpoint from the user's group
    import h5py

    try:
        with h5py.File(tmp, "w", libver="latest") as out:
            out.attrs["format"] = FORMAT
            out.attrs["version"] = VERSION
            _dataset(out, "scalars", np.frombuffer(text.encode(), dtype=np.uint8))
            for name in ("meshes", "layouts", "functions"):
                out.create_group(name)
            for m, record in enumerate(records):
                record.save(out.create_group(f"meshes/{m}"))
            for s, space in enumerate(spaces):
                m = mesh_index[id(space.mesh)]
                group = out.create_group(f"layouts/{s}")
                dofs = np.concatenate([part["layouts"][s] for part in parts])[orders[m]]
                _dataset(group, "dofs", dofs)
                group.attrs["mesh"] = m
                group.attrs["element"] = str(space.ufl_element())
                group.attrs["block_size"] = space.dofmap.index_map_bs
            for k, entry in enumerate(entries):
                group = out.create_group(f"functions/{k}")
                _dataset(group, "values", np.concatenate([part["values"][k] for part in parts]))
                group.attrs["name"] = entry.name
                group.attrs["layout"] = space_index[id(entry.space)]
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_file(
    path: Path,
    entries: list[_Entry],
    meshes: list[dolfinx.mesh.Mesh],
    parts: list[list[tuple]],
) -> list[tuple[str, Any]]:
    """Rank 0: the reply of every rank: the scalars and, per function, its cells' dof values."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    size = len(parts)
    current = [_MeshRecord.gather([part[m][1] for part in parts])[0] for m in range(len(meshes))]
    mesh_index = {id(msh): m for m, msh in enumerate(meshes)}
    import h5py

    with h5py.File(path, "r") as src:
        if src.attrs.get("format") != FORMAT:
            raise CheckpointError(
                f"checkpoint {path}: not a lidep checkpoint (format {src.attrs.get('format')!r})"
            )
        version = int(src.attrs["version"])
        if version > VERSION:
            raise CheckpointError(
                f"checkpoint {path}: format version {version} is newer than this lidep's "
                f"({VERSION}); allowed: versions up to {VERSION}"
            )
        scalars = _decode_scalars(src["scalars"][()].tobytes().decode())
        stored = {str(group.attrs["name"]): group for group in src["functions"].values()}
        rows: dict[tuple[int, int], list[np.ndarray]] = {}  # (file mesh, mesh) -> per rank
        selections: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {}
        values: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(size)]
        for entry in entries:
            if entry.name not in stored:
                raise CheckpointError(
                    f"checkpoint {path}: no function '{entry.name}' (got {sorted(stored)})"
                )
            group = stored[entry.name]
            layout_index = int(group.attrs["layout"])
            layout = src[f"layouts/{layout_index}"]
            _check_layout(path, entry, layout, group["values"].dtype)
            file_mesh, m = int(layout.attrs["mesh"]), mesh_index[id(entry.mesh)]
            if (file_mesh, m) not in rows:
                mesh_group = src[f"meshes/{file_mesh}"]
                record = _MeshRecord.load(mesh_group)
                if mesh_group.attrs["digest"] != current[m].digest():
                    raise CheckpointError(
                        f"checkpoint {path}: function '{entry.name}' was written on another mesh "
                        f"({record.difference(current[m])}); allowed: the mesh the run started "
                        "on (the same cached .msh file)"
                    )
                rows[file_mesh, m] = [_lookup(record.cells, part[m][0]) for part in parts]
            if (layout_index, m) not in selections:  # file dofs used by each rank's cells
                dofs = layout["dofs"][()]
                selections[layout_index, m] = [
                    np.unique(dofs[rank_rows].ravel(), return_inverse=True)
                    for rank_rows in rows[file_mesh, m]
                ]
            dof_values = group["values"][()].reshape(-1, entry.block_size)
            for rank, (used, inverse) in enumerate(selections[layout_index, m]):
                values[rank].append((inverse, dof_values[used]))
    return [("ok", (scalars, values[rank])) for rank in range(size)]


def _check_layout(path: Path, entry: _Entry, layout: h5py.Group, dtype: np.dtype) -> None:
    """Refuse a function whose element, block size or value type differs from the file's."""
    stored = (str(layout.attrs["element"]), int(layout.attrs["block_size"]), np.dtype(dtype))
    wanted = (entry.element, entry.block_size, entry.function.x.array.dtype)
    if stored != wanted:
        raise CheckpointError(
            f"checkpoint {path}: function '{entry.name}' was written as {stored[0]} "
            f"(block size {stored[1]}, {stored[2]}), the function is {wanted[0]} "
            f"(block size {wanted[1]}, {wanted[2]})"
        )


def _lookup(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Row of ``table`` (sorted, distinct rows) equal to each row of ``keys`` (all present)."""

    def as_bytes(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=np.int64)
        return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()

    rows = as_bytes(table)
    order = np.argsort(rows)
    return order[np.searchsorted(rows[order], as_bytes(keys))]


def _encode_scalars(scalars: Mapping[str, Any]) -> str:
    """JSON text of the scalars (NumPy scalars as numbers, arrays tagged with their dtype)."""

    def encode(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return {"__ndarray__": value.tolist(), "dtype": value.dtype.str, "shape": value.shape}
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    try:
        return json.dumps(dict(scalars), default=encode)
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint scalars: {err}; allowed: numbers, strings, booleans, None, lists, "
            "dicts and NumPy scalars or arrays"
        ) from err


def _decode_scalars(text: str) -> dict[str, Any]:
    """Inverse of :func:`_encode_scalars`."""

    def decode(obj: dict[str, Any]) -> Any:
        if "__ndarray__" in obj:
            array = np.asarray(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
            return array.reshape(obj["shape"])
        return obj

    return json.loads(text, object_hook=decode)
