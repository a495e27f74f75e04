"""The displacement space of a mesh's geometry and the map between its dofs and the nodes.

A mesh moves by adding a displacement to its geometry nodes. The displacement lives in the
vector Lagrange space of the geometry's own degree (P1 for straight cells, P2 for the curved
second-order cells of the Gmsh builder), whose dofs sit on the geometry nodes; their numbering
differs, so the node of every dof is read off the cell dofmaps (``geometry.dofmaps[0]`` and
``V.dofmap.list`` list the same points in the same order for every cell).
"""

from __future__ import annotations

import dolfinx
import numpy as np
from dolfinx import fem, la

from solver.geometry.bundle import MeshBundle

__all__ = ["DisplacementSpace", "facet_nodes", "tagged_facets"]


def facet_nodes(mesh: dolfinx.mesh.Mesh, facets: np.ndarray) -> np.ndarray:
    """Geometry nodes of facets, shape (n, nodes per facet); the vertices come first."""
    fdim = mesh.topology.dim - 1
    return dolfinx.mesh.entities_to_geometry(mesh, fdim, facets, False)


def tagged_facets(bundle: MeshBundle, name: str, *, owned: bool) -> np.ndarray:
    """Local facets of the group ``name`` (only owned ones if ``owned``), empty if absent."""
    if name not in bundle.boundaries:
        return np.empty(0, dtype=np.int32)
    facets = bundle.facet_tags.find(bundle.boundaries[name])
    if owned:
        fdim = bundle.mesh.topology.dim - 1
        facets = facets[facets < bundle.mesh.topology.index_map(fdim).size_local]
    return facets


class DisplacementSpace:
    """The vector space of nodal displacements of a mesh and its dof <-> node map.

    Attributes:
        mesh: The mesh whose geometry moves.
        V: Vector Lagrange space of the geometry degree (block size gdim).
        node_dof: For every local geometry node (owned and ghost), its block dof in ``V``.
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh) -> None:
        self.mesh = mesh
        gdim = mesh.geometry.dim
        degree = mesh.geometry.cmaps[0].degree
        self.V = fem.functionspace(mesh, ("Lagrange", degree, (gdim,)))
        nodes = mesh.geometry.dofmaps[0]
        self.node_dof = np.empty(mesh.geometry.x.shape[0], dtype=np.int32)
        self.node_dof[nodes.ravel()] = self.V.dofmap.list.ravel()
        self.dof_node = np.empty(self.num_dofs, dtype=np.int32)
        self.dof_node[self.node_dof] = np.arange(self.node_dof.size, dtype=np.int32)

    @property
    def gdim(self) -> int:
        """Geometric dimension (the block size of ``V``)."""
        return self.mesh.geometry.dim

    @property
    def num_dofs(self) -> int:
        """Local block dofs of ``V`` (owned and ghost)."""
        index_map = self.V.dofmap.index_map
        return index_map.size_local + index_map.num_ghosts

    def shared(self, blocks: np.ndarray) -> np.ndarray:
        """The given local block dofs together with those that other ranks name.

        A dof seen from one rank's cells or facets only (e.g. a vertex shared with a cell the
        other rank does not ghost) is then known on every rank that holds it.

        Args:
            blocks: Local block dofs found on this rank.

        Returns:
            Sorted local block dofs (owned and ghost).
        """
        marker = fem.Function(self.V)
        marker.x.array.reshape(-1, self.gdim)[blocks, 0] = 1.0
        marker.x.scatter_reverse(la.InsertMode.add)
        marker.x.scatter_forward()
        return np.flatnonzero(marker.x.array.reshape(-1, self.gdim)[:, 0] > 0).astype(np.int32)

    def dof_coordinates(self) -> np.ndarray:
        """Current coordinates of the block dofs, shape (num_dofs, gdim)."""
        return self.mesh.geometry.x[self.dof_node, : self.gdim]

    def move(self, w: fem.Function) -> None:
        """Add the displacement ``w`` (a function of ``V``, ghosts up to date) to the nodes."""
        values = w.x.array.reshape(-1, self.gdim)
        self.mesh.geometry.x[:, : self.gdim] += values[self.node_dof]
