"""The mesh handed from the geometry builders to the solver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import dolfinx
    import numpy as np


@dataclass
class MeshStats:
    """Global (allreduced) statistics of a mesh.

    Attributes:
        num_cells: Number of cells over all ranks.
        num_vertices: Number of vertices over all ranks.
        min_quality: Smallest element quality (Gmsh's SICN, 1 = ideal).
        h_min: Smallest cell diameter, m.
        h_max: Largest cell diameter, m.
        region_measures: Cell group name -> area (2D) or volume (3D), m^2 or m^3. For an
            axisymmetric mesh, the area of the (r, z) section.
        boundary_measures: Facet group name -> length (2D) or area (3D).
        revolved_measures: Axisymmetric meshes only: cell group name -> volume of the body of
            revolution (integral of 2 pi r over the section), m^3.
        timings: Wall time of the meshing steps on rank 0, s (``geometry``: the OpenCASCADE
            model and its size fields; ``generate``: Gmsh's mesh;
            ``curve``: the curved second-order nodes; ``quality``; ``cache_write``/``cache_read``;
            ``distribute``: the DOLFINx mesh and its tags; ``statistics``), and rank 0's CPU
            time of each under ``<step>_cpu``.
    """

    num_cells: int
    num_vertices: int
    min_quality: float
    h_min: float
    h_max: float
    region_measures: dict[str, float] = field(default_factory=dict)
    boundary_measures: dict[str, float] = field(default_factory=dict)
    revolved_measures: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class MeshBundle:
    """A distributed mesh with named regions and boundaries.

    Attributes:
        mesh: The DOLFINx mesh (ghost mode ``shared_facet``).
        cell_tags: Cell markers; values are those of ``regions``.
        facet_tags: Facet markers; values are those of ``boundaries``.
        regions: Cell group name -> tag (``electrolyte``, interphase layer or phase names).
        boundaries: Facet group name -> tag (``li_surface``, ``void_wall``, ``counter``, ...).
        coordinates: ``"cartesian"`` or ``"axisymmetric"`` (x = r, y = z).
        landmarks: Named points on the Li surface, e.g. ``"apex"`` and ``"far_field"``.
        stats: Global mesh statistics.
        key: Cache key derived from the geometry parameters.
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    facet_tags: dolfinx.mesh.MeshTags
    regions: dict[str, int]
    boundaries: dict[str, int]
    coordinates: Literal["cartesian", "axisymmetric"]
    landmarks: dict[str, np.ndarray]
    stats: MeshStats
    key: str
