"""Gmsh geometry builders for Li | interphase | electrolyte domains.

``build_mesh(cfg, comm, cache_dir)`` turns a :class:`GeometryConfig` into a distributed
:class:`MeshBundle` (docs/architecture.md, "Mesh contract"; docs/geometry.md).
"""

from solver.geometry.build import build_mesh, mesh_report
from solver.geometry.bundle import MeshBundle, MeshStats
from solver.geometry.spec import GeometryConfig

__all__ = ["GeometryConfig", "MeshBundle", "MeshStats", "build_mesh", "mesh_report"]
