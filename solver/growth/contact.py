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

With ``physics.growth.contact_loss: report`` (the default) the fields are solved as if in
contact: a report. With ``void`` the lost facets become insulating void walls for the following
steps: the Faradaic current is multiplied by a contact indicator chi (DG0; the facet's current
is that of its one adjacent cell), chi = 0 on a cell all of whose Li facets are out of contact,
else 1, so the galvanostatic constraint redistributes the current over the remaining contact.
A void wall stays one (no current reaches its Li: its gap no longer changes). The electrolyte's
mesh still follows the Li: the gap (nanometres) is not meshed, and this is not a contact
mechanics model.
"""

from __future__ import annotations

import math
from typing import Any

import dolfinx
import numpy as np
from dolfinx import fem
from mpi4py import MPI

from solver.geometry.bundle import MeshBundle
from solver.growth.kinematics import normal_velocity
from solver.growth.space import DisplacementSpace, facet_nodes, tagged_facets

__all__ = ["ContactExhausted", "ContactLoss", "contact_indicator"]


class ContactLoss:
    """The gap opened by stripping under a rigid electrolyte, per Li-surface node.

    Args:
        bundle: The mesh with its ``li_surface`` facets.
        space: The displacement space of the mesh (its nodes' block dofs).
        dofs: The Li-surface block dofs (``SurfaceKinematics.dofs``, owned and ghost), in the
            order of the nodal current densities given to :meth:`accept`.
        gap: The recession beyond which contact is lost, m.
        axisymmetric: Whether facet areas carry the weight 2 pi r.
        indicator: The contact indicator chi that multiplies the Faradaic current (a DG0
            function from :func:`contact_indicator`; ``contact_loss: void``), or None (report).

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
        indicator: fem.Function | None = None,
    ) -> None:
        self.space, self.dofs, self.gap, self.axisymmetric = space, dofs, gap, axisymmetric
        self.comm = bundle.mesh.comm
        self.recession = fem.Function(space.V, name="contact_recession")
        mesh = bundle.mesh
        owned = tagged_facets(bundle, "li_surface", owned=True)
        self._facet_dofs = space.node_dof[facet_nodes(mesh, owned)]  # vertices first
        self._vertices = mesh.topology.dim  # vertices of a facet (straight simplex)
        self.indicator = indicator
        #: Whether every Li facet has lost contact (void walls: the run stops).
        self.exhausted = False
        if indicator is not None:
            # every local Li facet (owned and ghost) and its one cell: the owner of a cell holds
            # all of its facets, so its value is right there and the ghosts get it
            local = tagged_facets(bundle, "li_surface", owned=False)
            tdim = mesh.topology.dim
            mesh.topology.create_connectivity(tdim - 1, tdim)
            to_cell = mesh.topology.connectivity(tdim - 1, tdim)
            self._local_dofs = space.node_dof[facet_nodes(mesh, local)]
            self._cells = np.array([to_cell.links(f)[0] for f in local], dtype=np.int32)
            self._owned_in_local = np.isin(local, owned)
        self.time: float | None = None
        self.position = math.nan

    def _gaps(self) -> np.ndarray:
        """A writable view of g at every block dof (0 off the Li surface)."""
        return self.recession.x.array.reshape(-1, self.space.gdim)[:, 0]

    def accept(self, t: float, j_nodes: np.ndarray, dt: float) -> bool:
        """Add the recession of an accepted step of length dt ending at t (collective).

        Args:
            t: Time at the end of the step, s.
            j_nodes: Faradaic current density at ``dofs`` over the step, A/m^2 (> 0 plating).
            dt: Step length, s.

        Returns:
            Whether facets became void walls (their current jumps to 0: the next position
            update must not extrapolate the previous move, like after a protocol switch).
        """
        g = self._gaps()
        g[self.dofs] = np.maximum(0.0, g[self.dofs] - normal_velocity(j_nodes) * dt)
        changed = self.update_indicator()
        if self.time is not None:
            return changed
        local = (0.0, math.inf)
        if self.dofs.size:
            k = int(np.argmax(g[self.dofs]))
            local = (float(g[self.dofs[k]]), float(self.space.dof_coordinates()[self.dofs[k], 0]))
        # the largest gap over the ranks; equal gaps: the smallest coordinate
        largest, x = min(self.comm.allgather(local), key=lambda gx: (-gx[0], gx[1]))
        if largest > self.gap:
            self.time, self.position = t, x
        return changed

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

    def update_indicator(self) -> bool:
        """Set the indicator chi from the gaps: 0 on a cell whose Li facets are all lost, else 1.

        Nothing without an indicator (``contact_loss: report``). Call it after the gaps
        changed or were read from a checkpoint (collective: a ghost exchange).

        Returns:
            Whether chi changed on some rank (the same answer on every rank).
        """
        if self.indicator is None:
            return False
        before = self.indicator.x.array.copy()
        lost = self._gaps()[self._local_dofs].mean(axis=1) > self.gap
        kept = np.zeros(self.indicator.x.array.size)
        np.add.at(kept, self._cells, ~lost)
        chi = self.indicator.x.array
        chi[:] = 1.0
        chi[self._cells] = np.where(kept[self._cells] > 0, 1.0, 0.0)
        self.indicator.x.scatter_forward()
        carrying = bool(np.any(chi[self._cells[self._owned_in_local]] > 0.0))
        if not self.comm.allreduce(carrying, op=MPI.LOR):
            # no contact left: no current could flow (a galvanostatic run has no solution);
            # the last walls are not switched off, :class:`ContactExhausted` stops the run
            chi[:] = before
            self.exhausted = True
        return self.comm.allreduce(bool(np.any(chi != before)), op=MPI.LOR)

    def void_facets(self) -> np.ndarray:
        """Whether each owned Li facet carries no current (its cell's chi is 0)."""
        if self.indicator is None:
            return np.zeros(self._facet_dofs.shape[0], dtype=bool)
        return self.indicator.x.array[self._cells[self._owned_in_local]] == 0.0

    def observe(self) -> dict[str, float]:
        """The contact scalars now (collective; equal on every rank).

        ``contact_lost_fraction`` (area fraction of the Li surface out of contact),
        ``contact_gap_max`` (m), ``contact_lost_time`` (s) and ``contact_lost_position`` (m; nan
        before contact was lost); with void walls (``contact_loss: void``) also
        ``contact_void_fraction``, the area fraction whose current is switched off.
        """
        area = self._facet_areas()
        lost, void, total = self.comm.allreduce(
            np.array([area[self.lost_facets()].sum(), area[self.void_facets()].sum(),
                      area.sum()]), op=MPI.SUM
        )
        largest = self.comm.allreduce(float(np.max(self._gaps()[self.dofs], initial=0.0)),
                                      op=MPI.MAX)
        return {
            "contact_lost_fraction": float(lost / total) if total > 0 else 0.0,
            "contact_gap_max": largest,
            "contact_lost_time": math.nan if self.time is None else self.time,
            "contact_lost_position": self.position,
        } | ({} if self.indicator is None else {
            "contact_void_fraction": float(void / total) if total > 0 else 0.0,
        })

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


def contact_indicator(mesh: dolfinx.mesh.Mesh) -> fem.Function:
    """The contact indicator chi of ``contact_loss: void``: DG0 on the mesh, 1 (in contact)."""
    chi = fem.Function(fem.functionspace(mesh, ("DG", 0)), name="contact")
    chi.x.array[:] = 1.0
    return chi


class ContactExhausted:
    """Every Li facet has lost contact with the rigid electrolyte (void walls): the run stops.

    No current can then flow into the Li (a galvanostatic step has no solution). The last
    facets are not switched off (:meth:`ContactLoss.update_indicator`): the step after the one
    that lost them is still solved with their current, and its end is the run's last snapshot.

    Attributes:
        time: Time of the event, s (None before it happened).
        stop: Always True.
    """

    stop = True

    def __init__(self, contact: ContactLoss) -> None:
        self.contact = contact
        self.time: float | None = None

    def check(self, t_prev: float, t: float) -> str | None:
        """The event's message once all contact is lost (collective: a flag set on all ranks)."""
        if self.time is not None or not self.contact.exhausted:
            return None
        self.time = t
        return (f"contact with the rigid electrolyte lost on the whole Li surface by t={t:.6g} s "
                "(physics.growth.contact_loss 'void'): no current can flow; the run stops here")

    def scalars(self) -> dict[str, Any]:
        """The event time (for a checkpoint)."""
        return {"time": self.time}

    def set_scalars(self, scalars: dict[str, Any]) -> None:
        """Take the values :meth:`scalars` returned."""
        self.time = scalars["time"]
