"""Loss of contact between the Li surface and a rigid electrolyte during stripping.

A rigid solid electrolyte (a ceramic, ``PhysicsConfig.rigid_electrolyte``) cannot follow a Li
surface that recedes: stripping opens a gap between them (docs/theory.md, "Moving Li surface",
"Contact with a rigid electrolyte"). Every Li-surface node i accumulates, over the accepted steps,
the recession of the Li from where the electrolyte was left,

    g_i <- max(0, g_i - v_n,i dt),        v_n,i = j_i V_m / F,

j_i the nodal current density of the accepted step's move (``SurfaceGrowth.j_move``; > 0
plating): stripping (j < 0) opens the gap, plating closes it again (never below contact, g >= 0).
A facet of the Li surface is out of contact when the mean gap of its nodes exceeds the
threshold ``physics.growth.contact_gap`` (default 5 nm, a dozen Li lattice spacings, well above
round-off and below any resolved deposit). Reported at every output time: the out-of-contact
fraction of the Li-surface area (straight facets, weight 2 pi r in an axisymmetric section),
the largest gap, the time contact was first lost (the end of the first accepted step at which
some node's gap exceeds the threshold) and where (the first coordinate of that node).

The electrolyte's mesh still follows the Li (the fields are solved as if in contact): this is
a report, the hook for the void studies, not a contact mechanics model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from dolfinx import fem
from mpi4py import MPI

from solver.geometry.bundle import MeshBundle
from solver.growth.kinematics import normal_velocity
from solver.growth.space import DisplacementSpace, facet_nodes, tagged_facets

__all__ = ["ContactLoss"]


class ContactLoss:
    """The gap opened by stripping under a rigid electrolyte, per Li-surface node.

    Args:
        bundle: The mesh with its ``li_surface`` facets.
        space: The displacement space of the mesh (its nodes' block dofs).
        dofs: The Li-surface block dofs (``SurfaceKinematics.dofs``, owned and ghost), in the
            order of the nodal current densities given to :meth:`accept`.
        gap: The recession beyond which contact is lost, m.
        axisymmetric: Whether facet areas carry the weight 2 pi r.

    Attributes:
        recession: The gap g at the Li-surface nodes (component 0 of a displacement-space
            function, checkpointed with the state), m.
        time: The time contact was first lost, s (None before).
        position: The first coordinate (x or r) of the node whose gap first exceeded the
            threshold, m (nan before).
    """

    def __init__(
        self,
        bundle: MeshBundle,
        space: DisplacementSpace,
        dofs: np.ndarray,
        gap: float,
        axisymmetric: bool,
    ) -> None:
        self.space, self.dofs, self.gap, self.axisymmetric = space, dofs, gap, axisymmetric
        self.comm = bundle.mesh.comm
        self.recession = fem.Function(space.V, name="contact_recession")
        nodes = facet_nodes(bundle.mesh, tagged_facets(bundle, "li_surface", owned=True))
        self._facet_dofs = space.node_dof[nodes]  # owned facets, vertices first
        self._vertices = bundle.mesh.topology.dim  # vertices of a facet (straight simplex)
        self.time: float | None = None
        self.position = math.nan

    def _gaps(self) -> np.ndarray:
        """A writable view of g at every block dof (0 off the Li surface)."""
        return self.recession.x.array.reshape(-1, self.space.gdim)[:, 0]

    def accept(self, t: float, j_nodes: np.ndarray, dt: float) -> None:
        """Add the recession of an accepted step of length dt ending at t (collective).

        Args:
            t: Time at the end of the step, s.
            j_nodes: Faradaic current density at ``dofs`` over the step, A/m^2 (> 0 plating).
            dt: Step length, s.
        """
        g = self._gaps()
        g[self.dofs] = np.maximum(0.0, g[self.dofs] - normal_velocity(j_nodes) * dt)
        if self.time is not None:
            return
        local = (0.0, math.inf)
        if self.dofs.size:
            k = int(np.argmax(g[self.dofs]))
            local = (float(g[self.dofs[k]]), float(self.space.dof_coordinates()[self.dofs[k], 0]))
        # the largest gap over the ranks; equal gaps: the smallest coordinate
        largest, x = min(self.comm.allgather(local), key=lambda gx: (-gx[0], gx[1]))
        if largest > self.gap:
            self.time, self.position = t, x

    def _facet_areas(self) -> np.ndarray:
        """Areas of the owned Li facets as straight simplices (times 2 pi r axisymmetric), m^2."""
        x = self.space.dof_coordinates()[self._facet_dofs[:, : self._vertices]]
        if self._vertices == 2:
            area = np.linalg.norm(x[:, 1] - x[:, 0], axis=1)
        else:
            area = 0.5 * np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1)
        if self.axisymmetric:
            area = area * 2.0 * np.pi * x[:, :, 0].mean(axis=1)
        return area

    def lost_facets(self) -> np.ndarray:
        """Whether each owned Li facet is out of contact (mean gap of its nodes > threshold)."""
        return self._gaps()[self._facet_dofs].mean(axis=1) > self.gap

    def observe(self) -> dict[str, float]:
        """The contact scalars now (collective; equal on every rank).

        ``contact_lost_fraction`` (area fraction of the Li surface out of contact),
        ``contact_gap_max`` (m), ``contact_lost_time`` (s) and ``contact_lost_position`` (m; nan
        before contact was lost).
        """
        area = self._facet_areas()
        lost, total = self.comm.allreduce(
            np.array([area[self.lost_facets()].sum(), area.sum()]), op=MPI.SUM
        )
        largest = self.comm.allreduce(float(np.max(self._gaps()[self.dofs], initial=0.0)),
                                      op=MPI.MAX)
        return {
            "contact_lost_fraction": float(lost / total) if total > 0 else 0.0,
            "contact_gap_max": largest,
            "contact_lost_time": math.nan if self.time is None else self.time,
            "contact_lost_position": self.position,
        }

    def checkpoint_functions(self) -> dict[str, fem.Function]:
        """The function a checkpoint holds: the nodal gaps."""
        return {"contact/recession": self.recession}

    def scalars(self) -> dict[str, Any]:
        """When and where contact was first lost (for a checkpoint)."""
        return {"time": self.time, "position": None if self.time is None else self.position}

    def set_scalars(self, scalars: dict[str, Any]) -> None:
        """Take the values :meth:`scalars` returned."""
        self.time = scalars["time"]
        self.position = math.nan if scalars["position"] is None else float(scalars["position"])
