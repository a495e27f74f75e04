"""The mesh cache: binary MSH files, exact round trip, keys that change with the format.

A cached mesh must be the mesh Gmsh made: the cache stores binary MSH 4.1 (coordinates as
IEEE doubles), so the mesh read back equals the uncached mesh bit for bit (tolerance 0; an ASCII
file with 16 significant digits would not guarantee that), and the 3D mesher's options (HXT,
one thread) give the same mesh on every build.
"""

from __future__ import annotations

import solver  # noqa: F401  (MPI import order)

# isort: split

import numpy as np
from mpi4py import MPI

from solver.geometry import GeometryConfig, build_mesh
from solver.geometry import build as build_module


def _geometry(**kw) -> GeometryConfig:
    return GeometryConfig(domain={"width": 5e-6, "length": 10e-6},
                          protrusions=[{"shape": "spherical", "radius": 1e-6}], **kw)


def test_cache_file_is_binary_and_exact(tmp_path):
    cfg = _geometry(layers=[{"thickness": 100e-9}])
    cached = build_mesh(cfg, MPI.COMM_SELF, tmp_path)
    (path,) = tmp_path.glob("*.msh")
    header = path.read_bytes()[:40].split(b"\n")
    assert header[0] == b"$MeshFormat"
    version, binary, size_t = header[1].split()
    assert (version, binary, size_t) == (b"4.1", b"1", b"8")
    fresh = build_mesh(cfg, MPI.COMM_SELF, None)
    np.testing.assert_array_equal(cached.mesh.geometry.x, fresh.mesh.geometry.x)
    np.testing.assert_array_equal(cached.cell_tags.values, fresh.cell_tags.values)
    hit = build_mesh(cfg, MPI.COMM_SELF, tmp_path)
    np.testing.assert_array_equal(hit.mesh.geometry.x, fresh.mesh.geometry.x)


def test_cache_key_changes_with_the_format_version(monkeypatch):
    cfg = _geometry()
    key = build_module.cache_key(cfg)
    monkeypatch.setattr(build_module, "BUILDER_VERSION", "format-x")
    build_module._builder_digest.cache_clear()
    try:
        assert build_module.cache_key(cfg) != key
    finally:
        monkeypatch.undo()
        build_module._builder_digest.cache_clear()
    assert build_module.cache_key(cfg) == key


def test_3d_mesh_is_reproducible_with_hxt():
    cfg = GeometryConfig(dimension=3, domain={"width": 3e-6, "depth": 3e-6, "length": 6e-6},
                         protrusions=[{"shape": "spherical", "radius": 1e-6}],
                         mesh={"refinement": 0.6})
    first, second = (build_mesh(cfg, MPI.COMM_SELF, None) for _ in range(2))
    np.testing.assert_array_equal(first.mesh.geometry.x, second.mesh.geometry.x)
    assert first.stats.min_quality > 0.2  # minimum SICN here: HXT 0.28, Delaunay 0.086
