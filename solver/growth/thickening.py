"""The interphase thickens from its electronic leakage current (docs/theory.md).

"Moving Li surface", "Interphase thickening from the electronic leakage": electrons leaking
through the interphase form new interphase at its outer surface, which advances along its
outward normal by

    delta = v_sei dt,      v_sei = max(i_e, 0) V_sei / (n_e F),

i_e the mean leakage current density (``solver.physics.leakage``). A node p of the interphase
moves by ``delta s n`` on top of its ride on the Li (``solver.growth.riding``), with
s = tau / (tau + tau_out) (tau its distance to the Li surface, tau_out to the outer surface) and
n = (p - q) / tau (q its closest Li point): the inner boundary rides, the outer surface
advances by delta, the interior stretches linearly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from solver.constants import FARADAY
from solver.geometry.bundle import MeshBundle
from solver.growth.riding import nearest_pieces
from solver.growth.space import DisplacementSpace, facet_nodes, tagged_facets
from solver.physics.leakage import ElectronicLeakage
from solver.physics.term import Unknowns

__all__ = ["InterphaseThickening", "closest_points", "interphase_thickening"]


def closest_points(points: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances and closest points of points to straight pieces (segments or triangles).

    Args:
        points: Shape (n, gdim).
        corners: Piece corners, shape (m, gdim, gdim) (2 points in 2D, 3 in 3D), m > 0.

    Returns:
        (distance, foot): shapes (n,) and (n, gdim).
    """
    from scipy.spatial import cKDTree  # 0.3 s of import: only when the interphase thickens

    near, dist, weights = nearest_pieces(cKDTree(corners.mean(axis=1)), corners, points)
    c = corners[near]
    best = np.argmin(dist, axis=1)
    rows = np.arange(len(points))
    foot = np.einsum("nc,ncg->ng", weights[rows, best], c[rows, best])
    return dist[rows, best], foot


class InterphaseThickening:
    """The outer surface of the interphase advances by the leaked charge's product volume.

    Args:
        bundle: The mesh with its regions (``electrolyte`` and the interphase layers) and its
            ``li_surface`` facets.
        space: The displacement space of the mesh.
        leakage: The electronic leakage (its mean current density).
        unknowns: The unknowns the leakage is solved from.
        molar_volume: V_sei, m^3 per mol of product formula units.
        electrons: n_e, electrons consumed per formula unit.

    Attributes:
        leakage_current: i_e of the last prepared step, A/m^2.
        delta: The advance of the outer surface in the last prepared step, m.
        steps: (dt, i_e) of every accepted step since the mesh was built, s and A/m^2.
    """

    def __init__(
        self,
        bundle: MeshBundle,
        space: DisplacementSpace,
        leakage: ElectronicLeakage,
        unknowns: Unknowns,
        molar_volume: float,
        electrons: int,
    ) -> None:
        self.space, self.leakage, self.unknowns = space, leakage, unknowns
        self.molar_volume, self.electrons = molar_volume, electrons
        self.leakage_current = 0.0
        self.delta = 0.0
        self._dt = 0.0
        self.steps: list[tuple[float, float]] = []
        mesh = bundle.mesh
        tdim = mesh.topology.dim
        V = space.V

        layers = [n for n in bundle.regions if n != "electrolyte"]
        layer_cells = np.concatenate([bundle.cell_tags.find(bundle.regions[n]) for n in layers])
        wet_cells = bundle.cell_tags.find(bundle.regions["electrolyte"])
        dry = space.shared(V.dofmap.list[layer_cells].ravel())
        wet = space.shared(V.dofmap.list[wet_cells].ravel())
        outer = np.intersect1d(wet, dry)
        mesh.topology.create_connectivity(tdim, tdim - 1)
        c2f = mesh.topology.connectivity(tdim, tdim - 1)
        facets = np.unique(
            np.concatenate([c2f.links(c) for c in layer_cells] + [np.empty(0, dtype=np.int32)])
        )
        owned = mesh.topology.index_map(tdim - 1).size_local
        facets = facets[facets < owned]
        vertices = space.node_dof[facet_nodes(mesh, facets)[:, :tdim]]
        #: owned interphase facets whose vertices all lie on the electrolyte: the outer surface
        self._outer = facets[np.all(np.isin(vertices, outer), axis=1)]
        self._li = tagged_facets(bundle, "li_surface", owned=True)

    def prepare(self, dt: float) -> None:
        """The leakage current of the fields now and the outer surface's advance in dt.

        Collective (one linear solve).
        """
        self.leakage_current = float(self.leakage.current(self.unknowns))
        rate = max(self.leakage_current, 0.0) * self.molar_volume / (self.electrons * FARADAY)
        self.delta = rate * dt
        self._dt = dt

    def accept(self) -> None:
        """The prepared step's move was made: record its (dt, i_e)."""
        self.steps.append((self._dt, self.leakage_current))

    def _pieces(self, facets: np.ndarray) -> np.ndarray:
        """The straight pieces (vertex simplices) of facets on all ranks (collective)."""
        mesh, gdim = self.space.mesh, self.space.gdim
        nodes = facet_nodes(mesh, facets)[:, :gdim]
        local = mesh.geometry.x[nodes][:, :, :gdim]
        return np.concatenate(mesh.comm.allgather(local), axis=0)

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """The stretch delta s n of interphase points (on top of their ride; collective).

        Args:
            points: Interphase node coordinates off the Li surface, shape (n, gdim).

        Returns:
            Shape (n, gdim), m.
        """
        if self.delta == 0.0:  # the same on every rank (a reduced current)
            return np.zeros_like(points)
        li, outer = self._pieces(self._li), self._pieces(self._outer)
        if len(points) == 0 or not len(li) or not len(outer):
            return np.zeros_like(points)
        tau, foot = closest_points(points, li)
        tau_out, _ = closest_points(points, outer)
        safe = np.where(tau > 0.0, tau, 1.0)
        s = tau / (tau + tau_out)
        return (self.delta * s / safe)[:, None] * (points - foot)


def interphase_thickening(
    config: Any, bundle: MeshBundle, space: DisplacementSpace,
    leakage: ElectronicLeakage | None, unknowns: Unknowns,
) -> InterphaseThickening | None:
    """The thickening of ``physics.growth.interphase_thickening`` (None when off or no leak).

    Args:
        config: The ``physics.growth.interphase_thickening`` section.
        bundle: The mesh with its regions.
        space: The displacement space of the mesh.
        leakage: The electronic leakage (None without a leaky interphase: nothing thickens).
        unknowns: The unknowns.
    """
    if not config.enabled or leakage is None:
        return None
    return InterphaseThickening(
        bundle, space, leakage, unknowns, config.molar_volume, config.electrons
    )
