"""Mesh generation, caching and distribution: ``GeometryConfig -> MeshBundle``.

DOLFINx, UFL and Gmsh are imported by the functions that use them, so that validating a
configuration (which imports the geometry package for its schema) loads none of them.

The Gmsh model is built and meshed on rank 0 only. With a cache directory the mesh is written
to ``<cache_dir>/<key>.msh`` (key = hash of the canonical geometry parameters and the builder
version) through a temporary file and an atomic rename, so concurrent runs never read half a
file; a cache hit skips Gmsh meshing. Rank 0 then hands the model to DOLFINx, which distributes
the cells (ghost mode ``shared_facet``, needed for interface integrals in parallel).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from mpi4py import MPI

from solver.geometry import profiles
from solver.geometry.bundle import MeshBundle, MeshStats
from solver.geometry.second_order import set_order_2
from solver.geometry.spec import GeometryConfig

__all__ = ["BUILDER_VERSION", "build_mesh", "cache_key", "landmarks", "mesh_report"]

BUILDER_VERSION = "4"
"""Format version of the cached meshes (the builder sources are hashed into the key as well).
4: second-order nodes placed by :mod:`solver.geometry.second_order` (equal to Gmsh's
``setOrder(2)`` to round-off, other node tags); 3: binary MSH 4.1 (2: ASCII)."""

_BUILDER_MODULES = (
    "build.py", "curves.py", "expressions.py", "heights.py", "mosaic.py", "occ2d.py", "occ3d.py",
    "profiles.py", "second_order.py", "spec.py"
)

_ROOT = 0

_POLL_S = 0.01
"""How often the other ranks look whether rank 0 has finished meshing (s)."""

MESHING_OPTIONS = {
    "Mesh.MeshSizeExtendFromBoundary": 0,
    "Mesh.MeshSizeFromPoints": 0,
    "Mesh.MeshSizeFromCurvature": 0,
    "Mesh.Algorithm3D": 10,
    "General.NumThreads": 1,
}
"""Gmsh options of every mesh: sizes from the size fields alone; 3D tetrahedra by HXT
(Gmsh's parallel Delaunay: 5x faster than the default Delaunay and a better minimum quality,
docs/performance.md); one thread, so that a cache key always stands for the same mesh (HXT's
mesh depends on the thread count) and the other ranks of an MPI job, which wait for rank 0,
keep their cores."""

MIN_QUALITY = 1e-3
"""Smallest SICN accepted without high-order optimisation (and, in 2D, from structured strips)."""


@functools.cache
def _builder_digest() -> str:
    """Hash of the Gmsh version and the source of the builder modules.

    Any change of the builders (or of Gmsh) changes every cache key, so a stale cached mesh is
    never reused.
    """
    import gmsh

    digest = hashlib.sha256(f"{BUILDER_VERSION} gmsh {gmsh.__version__}".encode())
    folder = Path(__file__).parent
    for name in _BUILDER_MODULES:
        source = folder / name
        if source.exists():
            digest.update(source.read_bytes())
    return digest.hexdigest()


def cache_key(cfg: GeometryConfig) -> str:
    """Hash of the canonical geometry parameters and the builder digest (16 hex digits)."""
    canonical = json.dumps(
        {"geometry": cfg.model_dump(mode="json"), "builder": _builder_digest()},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's wall time to ``timings[name]``, its CPU time to ``timings[name_cpu]`` (s).

    The CPU time is this process's: on a shared machine it is the steadier measure.
    """
    start, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
        key = f"{name}_cpu"
        timings[key] = timings.get(key, 0.0) + time.process_time() - cpu


def _generate(
    cfg: GeometryConfig, gmsh, logger: logging.Logger, timings: dict[str, float]
) -> float:
    """Build the geometry of ``cfg`` in the current Gmsh model and mesh it; the min SICN.

    Second-order meshes with an element of SICN quality below ``MIN_QUALITY`` are optimised
    (Gmsh's high-order optimiser). 2D: uniform layers are first meshed as structured
    anisotropic strips; if that still leaves such an element, the model is rebuilt with
    isotropic layer elements.

    Raises:
        ValueError: The final mesh has an inverted element (naming ``mesh.order``).
    """
    for option, value in MESHING_OPTIONS.items():
        gmsh.option.setNumber(option, value)
    name = gmsh.model.getCurrent()
    if cfg.dimension == 3:
        from solver.geometry.occ3d import build_occ_3d

        with _timed(timings, "geometry"):
            build_occ_3d(cfg, gmsh.model)
        quality = _mesh(cfg, gmsh, logger, timings)
    else:
        from solver.geometry.occ2d import build_occ_2d

        # with mesh.split = k: the sizes of refinement / 2^k, each triangle split k times in _mesh
        coarse = cfg.model_copy(update={"mesh": cfg.mesh.model_copy(
            update={"refinement": cfg.mesh.refinement / 2**cfg.mesh.split})})
        for structured in (True, False):
            with _timed(timings, "geometry"):
                build_occ_2d(coarse, gmsh.model, structured_layers=structured)
            quality = _mesh(cfg, gmsh, logger, timings)
            if not structured or not cfg.layers or quality >= MIN_QUALITY:
                break
            logger.info("structured layers give min quality %.3g: isotropic layers", quality)
            gmsh.model.remove()
            gmsh.model.add(name)
    if not quality > 0.0:
        raise ValueError(
            f"mesh.order: the order-{cfg.mesh.order} mesh has inverted elements (min SICN "
            f"{quality:.3g}) (got {cfg.mesh.order}); allowed: order 1, or a larger "
            "mesh.refinement / smaller mesh.tip_size_factor so curved cells are smaller"
        )
    logger.info("gmsh: %d nodes, min SICN %.3g", len(gmsh.model.mesh.getNodes()[0]), quality)
    return quality


def _mesh(
    cfg: GeometryConfig, gmsh, logger: logging.Logger, timings: dict[str, float]
) -> float:
    """Mesh the current model (split ``mesh.split`` times; order 2: curved, optimised if needed).

    Returns:
        The minimum SICN quality of the cells.
    """
    with _timed(timings, "generate"):
        gmsh.model.mesh.generate(cfg.dimension)
        for _ in range(cfg.mesh.split):
            gmsh.model.mesh.refine()
    if cfg.mesh.order == 1:
        with _timed(timings, "quality"):
            return _min_quality(gmsh, cfg.dimension)
    with _timed(timings, "curve"):
        set_order_2(gmsh)
    with _timed(timings, "quality"):
        quality = _min_quality(gmsh, cfg.dimension)
    if quality < MIN_QUALITY:
        logger.info("second-order mesh min SICN %.3g: high-order optimisation", quality)
        with _timed(timings, "curve"):
            # the optimiser works on Gmsh's own high-order data (which also pairs the periodic
            # high-order nodes): the same nodes again, by setOrder
            gmsh.model.mesh.setOrder(1)
            gmsh.model.mesh.setOrder(2)
            _optimize_high_order(gmsh)
            if cfg.domain.lateral == "periodic":
                _copy_periodic_nodes(gmsh, cfg.dimension - 1)
        with _timed(timings, "quality"):
            quality = _min_quality(gmsh, cfg.dimension)
    return quality


def _optimize_high_order(gmsh) -> None:
    """Gmsh's high-order optimiser, with its errors logged instead of thrown.

    Gmsh's API turns errors into C++ exceptions (``General.AbortOnError`` 2); one raised inside
    the optimiser's parallel loop ("Failed to reach critical value ...") cannot be caught and
    terminates the process (SIGABRT). With errors only logged, the optimiser returns and the
    caller measures the quality it reached: a failed optimisation is a poor mesh the caller
    handles (isotropic layers in 2D, or a message naming ``mesh.order``), not a crash.
    """
    abort_on_error = gmsh.option.getNumber("General.AbortOnError")
    gmsh.option.setNumber("General.AbortOnError", 0)
    try:
        gmsh.model.mesh.optimize("HighOrder")
    finally:
        gmsh.option.setNumber("General.AbortOnError", abort_on_error)


def _copy_periodic_nodes(gmsh, dim: int) -> None:
    """Put every periodic slave node back at the image of its master.

    The high-order optimiser moves boundary nodes of the sides independently (by a few
    nanometres), which would break the node matching the solver's periodic constraint needs.
    """
    for _, tag in gmsh.model.getEntities(dim):
        master, slaves, masters, affine = gmsh.model.mesh.getPeriodicNodes(
            dim, tag, includeHighOrderNodes=True
        )
        if master == tag or len(slaves) == 0:
            continue
        transform = np.asarray(affine, dtype=float).reshape(4, 4)
        for slave, node in zip(slaves, masters, strict=True):
            x = np.append(gmsh.model.mesh.getNode(node)[0], 1.0)
            gmsh.model.mesh.setNode(slave, list((transform @ x)[:3]), [])


def _min_quality(gmsh, dim: int) -> float:
    """Smallest SICN quality of the cells of the current Gmsh model."""
    _, tags, _ = gmsh.model.mesh.getElements(dim)
    all_tags = np.concatenate(tags) if tags else np.empty(0)
    if all_tags.size == 0:
        return math.nan
    return float(np.min(gmsh.model.mesh.getElementQualities(all_tags, "minSICN")))


def _atomic_write(gmsh, path: Path) -> None:
    """Write the current Gmsh mesh to ``path`` via a temporary file in the same folder.

    Binary MSH 4.1: exact coordinates, about 3x smaller than ASCII and several times faster to
    write and read back.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".msh", dir=path.parent)
    os.close(fd)
    try:
        gmsh.option.setNumber("Mesh.Binary", 1)
        gmsh.write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def build_mesh(
    cfg: GeometryConfig,
    comm: MPI.Comm,
    cache_dir: Path | None,
    *,
    logger: logging.Logger | None = None,
) -> MeshBundle:
    """Build (or load from the cache) and distribute the mesh of ``cfg``.

    Args:
        cfg: Validated geometry.
        comm: Communicator of the mesh; Gmsh runs on its rank 0.
        cache_dir: Folder of cached ``.msh`` files, or None for no caching.
        logger: Progress messages (rank 0).

    Returns:
        The distributed mesh with named regions, boundaries, landmarks and statistics.
    """
    import dolfinx
    import gmsh
    from dolfinx.io import gmsh as gmshio

    log = logger or logging.getLogger(__name__)
    key = cache_key(cfg)
    path = Path(cache_dir) / f"{key}.msh" if cache_dir is not None else None
    quality = math.nan
    error = None
    started_here = False
    timings: dict[str, float] = {}
    if comm.rank == _ROOT:
        started_here = not gmsh.isInitialized()
        if started_here:
            gmsh.initialize(interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add(f"lidep-{key}")
        try:
            if path is not None and path.exists() and _load(gmsh, path, key, log, timings):
                log.info("mesh cache hit: %s", path)
                with _timed(timings, "quality"):
                    quality = _min_quality(gmsh, cfg.dimension)
            else:
                # The binary cache file holds the coordinates exactly: the same quality.
                quality = _generate(cfg, gmsh, log, timings)
                if path is not None:
                    with _timed(timings, "cache_write"):
                        _atomic_write(gmsh, path)
                    log.info("mesh cached: %s", path)
                    # Continue from the file, so a miss and a later hit give identical meshes.
                    gmsh.model.remove()
                    gmsh.model.add(f"lidep-{key}")
                    with _timed(timings, "cache_read"):
                        gmsh.merge(str(path))
        except Exception as err:  # re-raised on every rank below
            error = err
    _wait_for_root(comm)
    error = comm.bcast(error, root=_ROOT)
    if error is not None:
        if comm.rank == _ROOT:
            _close(gmsh, started_here)
        raise error
    partitioner = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    try:
        with _timed(timings, "distribute"):
            data = gmshio.model_to_mesh(
                gmsh.model if comm.rank == _ROOT else None,
                comm,
                _ROOT,
                gdim=cfg.dimension,
                partitioner=partitioner,
            )
    finally:
        if comm.rank == _ROOT:
            _close(gmsh, started_here)
    data.mesh.geometry.x[:] *= profiles.GMSH_LENGTH_UNIT
    tdim = cfg.dimension
    regions = {n: tag for n, (d, tag) in data.physical_groups.items() if d == tdim}
    boundaries = {n: tag for n, (d, tag) in data.physical_groups.items() if d == tdim - 1}
    quality = comm.bcast(quality, root=_ROOT)
    bundle = MeshBundle(
        mesh=data.mesh,
        cell_tags=data.cell_tags,
        facet_tags=data.facet_tags,
        regions=regions,
        boundaries=boundaries,
        coordinates=cfg.coordinates,
        landmarks=landmarks(cfg),
        stats=MeshStats(0, 0, quality, 0.0, 0.0),
        key=key,
    )
    with _timed(timings, "statistics"):
        bundle.stats = mesh_stats(bundle, quality)
    bundle.stats.timings = {name: round(seconds, 4) for name, seconds in timings.items()}
    log.debug("meshing steps, wall (s): %s", ", ".join(
        f"{k} {v:.2f}" for k, v in timings.items() if not k.endswith("_cpu")))
    return bundle


def _wait_for_root(comm: MPI.Comm) -> None:
    """Wait for rank 0, sleeping: a blocking MPI call would spin and hold a core meanwhile.

    While rank 0 runs Gmsh, the other ranks of an MPI job have nothing to do; MPICH's blocking
    broadcast busy-polls (measured: a 2-rank 3D meshing of 13 s cost the waiting rank 6.6 s of
    CPU), which takes a core from Gmsh and from other jobs on a shared machine.
    """
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(_POLL_S)


def _load(gmsh, path: Path, key: str, log: logging.Logger, timings: dict[str, float]) -> bool:
    """Read a cached mesh into the current model; False (model emptied) if it is unreadable."""
    try:
        with _timed(timings, "cache_read"):
            gmsh.merge(str(path))
    except Exception as err:  # a damaged file is rebuilt, never trusted
        log.warning("unreadable cached mesh %s (%s): rebuilding", path, err)
        gmsh.model.remove()
        gmsh.model.add(f"lidep-{key}")
        return False
    return True


def _close(gmsh, finalize: bool) -> None:
    gmsh.model.remove()
    if finalize:
        gmsh.finalize()


def mesh_stats(bundle: MeshBundle, min_quality: float) -> MeshStats:
    """Global counts, cell sizes and region/boundary measures (allreduced on the mesh comm)."""
    import dolfinx
    import ufl

    from solver.forms import compile_forms

    msh = bundle.mesh
    comm = msh.comm
    tdim = msh.topology.dim
    cell_map = msh.topology.index_map(tdim)
    vertex_map = msh.topology.index_map(0)
    n_local = cell_map.size_local
    h = msh.h(tdim, np.arange(n_local, dtype=np.int32))
    dx = ufl.Measure("dx", domain=msh, subdomain_data=bundle.cell_tags)
    ds = ufl.Measure("ds", domain=msh, subdomain_data=bundle.facet_tags)
    dS = ufl.Measure("dS", domain=msh, subdomain_data=bundle.facet_tags)
    one = dolfinx.fem.Constant(msh, dolfinx.default_scalar_type(1.0))
    two_pi_r = 2.0 * math.pi * ufl.SpatialCoordinate(msh)[0]
    interior = {"interphase_electrolyte"}
    integrands = {
        "region": {n: one * dx(t) for n, t in bundle.regions.items()},
        "boundary": {
            n: one("+") * dS(t) if n in interior else one * ds(t)
            for n, t in bundle.boundaries.items()
        },
        "revolved": (
            {n: two_pi_r * dx(t) for n, t in bundle.regions.items()}
            if bundle.coordinates == "axisymmetric"
            else {}
        ),
    }
    forms = [form for group in integrands.values() for form in group.values()]
    local = [dolfinx.fem.assemble_scalar(form) for form in compile_forms(forms)]  # one module
    values = iter(comm.allreduce(np.array(local, dtype=float), op=MPI.SUM).tolist())
    measures = {kind: {n: next(values) for n in group} for kind, group in integrands.items()}
    return MeshStats(
        num_cells=cell_map.size_global,
        num_vertices=vertex_map.size_global,
        min_quality=min_quality,
        h_min=float(comm.allreduce(h.min() if h.size else np.inf, op=MPI.MIN)),
        h_max=float(comm.allreduce(h.max() if h.size else 0.0, op=MPI.MAX)),
        region_measures=measures["region"],
        boundary_measures=measures["boundary"],
        revolved_measures=measures["revolved"],
    )


def landmarks(cfg: GeometryConfig) -> dict[str, np.ndarray]:
    """Named points on the Li surface (3-vectors, m).

    ``apex``: highest point of the tallest protrusion (without protrusions: the highest point
    of the surface, or for a flat surface the far-field point); ``far_field``: the Li-surface
    point farthest laterally from all protrusions (without protrusions: the lowest point of a
    curved surface, or for a flat one the contact point farthest from every void).
    """
    if cfg.dimension == 3:
        return _landmarks_3d(cfg)
    W = cfg.domain.width
    x = np.linspace(0.0, W, 4001)
    h = profiles.li_surface_height(cfg, x)
    under_void = np.zeros_like(x, dtype=bool)
    for v in profiles.void_features_all(cfg, 0.0):
        under_void |= (x > v.left[0]) & (x < v.right[0])
    if cfg.protrusions:
        axes = [p.x + s for p in cfg.protrusions for s in _images(cfg)]
        score = np.min(np.abs(x[:, None] - np.array(axes)[None, :]), axis=1)
        score[under_void] = -np.inf
    elif cfg.surface.curved:
        score = np.where(under_void, -np.inf, -h)
    elif under_void.any():
        voids = profiles.void_features_all(cfg, 0.0)
        edges = np.array([e for v in voids for e in (v.left[0], v.right[0])])
        score = np.where(under_void, -np.inf, np.min(np.abs(x[:, None] - edges[None, :]), axis=1))
    else:
        score = -np.abs(x - 0.5 * W)
    i = int(np.argmax(score))
    far = np.array([x[i], h[i], 0.0])
    if cfg.protrusions:
        tallest = max(cfg.protrusions, key=lambda p: p.top())
        apex = np.array([tallest.x, tallest.top(), 0.0])
    elif cfg.surface.curved:
        j = int(np.argmax(h))
        apex = np.array([x[j], h[j], 0.0])
    else:
        apex = far.copy()
    return {"apex": apex, "far_field": far}


def _images(cfg: GeometryConfig) -> tuple[float, ...]:
    W = cfg.domain.width
    return (-W, 0.0, W) if cfg.domain.lateral == "periodic" else (0.0,)


def _landmarks_3d(cfg: GeometryConfig) -> dict[str, np.ndarray]:
    """3D landmarks (z up), found on a lateral grid like the 2D ones on a line."""
    W, D = cfg.domain.width, cfg.depth()
    x, y = np.meshgrid(np.linspace(0.0, W, 201), np.linspace(0.0, D, 201), indexing="ij")
    x, y = x.ravel(), y.ravel()
    field = cfg.surface.height_field(W, D, cfg.domain.lateral)
    h = field(x, y)[0] if field is not None else np.zeros_like(x)
    y_shifts = (-D, 0.0, D) if cfg.domain.lateral == "periodic" else (0.0,)
    for p in cfg.protrusions:
        for sx in _images(cfg):
            for sy in y_shifts:
                r = np.hypot(x - p.x - sx, y - p.y - sy)
                h = np.maximum(h, profiles.protrusion_height(p, r))
    if cfg.voids is not None:
        under_void, edge_distance = cfg.voids.cover(x, y, W, D)
    else:
        under_void, edge_distance = np.zeros_like(x, dtype=bool), np.full_like(x, np.inf)
    if cfg.protrusions:
        score = np.full_like(x, np.inf)
        for p in cfg.protrusions:
            for sx in _images(cfg):
                for sy in y_shifts:
                    score = np.minimum(score, np.hypot(x - p.x - sx, y - p.y - sy))
        score[under_void] = -np.inf
    elif field is not None:
        score = -h
    elif cfg.voids is not None:
        score = np.where(under_void, -np.inf, edge_distance)
    else:
        score = -np.hypot(x - 0.5 * W, y - 0.5 * D)
    i = int(np.argmax(score))
    far = np.array([x[i], y[i], h[i]])
    if cfg.protrusions:
        tallest = max(cfg.protrusions, key=lambda p: p.top())
        apex = np.array([tallest.x, tallest.y, tallest.top()])
    elif field is not None:
        j = int(np.argmax(h))
        apex = np.array([x[j], y[j], h[j]])
    else:
        apex = far.copy()
    return {"apex": apex, "far_field": far}


def mesh_report(bundle: MeshBundle) -> str:
    """Human-readable summary: cell count, quality, element sizes, region and boundary measures."""
    s = bundle.stats
    dim = bundle.mesh.topology.dim
    unit, facet_unit = ("m^2", "m") if dim == 2 else ("m^3", "m^2")
    lines = [
        f"mesh {bundle.key} ({bundle.coordinates}, {dim}D, geometry degree "
        f"{bundle.mesh.geometry.cmaps[0].degree})",
        f"  cells {s.num_cells}, vertices {s.num_vertices}",
        f"  min quality (SICN) {s.min_quality:.3f}",
        f"  smallest element {s.h_min:.3e} m, largest {s.h_max:.3e} m",
        "  regions:",
        *(f"    {n:<24s} {v:.6e} {unit}" for n, v in s.region_measures.items()),
        *(
            ["  revolved volumes (2 pi r):"]
            + [f"    {n:<24s} {v:.6e} m^3" for n, v in s.revolved_measures.items()]
            if s.revolved_measures
            else []
        ),
        "  boundaries:",
        *(f"    {n:<24s} {v:.6e} {facet_unit}" for n, v in s.boundary_measures.items()),
        "  landmarks:",
        *(f"    {n:<24s} {np.array2string(p, precision=4)}" for n, p in bundle.landmarks.items()),
    ]
    return "\n".join(lines)
