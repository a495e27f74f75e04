"""The control of the cell: galvanostatic (bordered constraint) or potentiostatic.

``docs/theory.md``, "Control" and "Bordered Newton method".

The Li potential phi_s is the scalar border of the Newton system. Galvanostatically it is an
unknown fixed by the mean current density,

    G = [ (1/A_proj) int_li j w ds - J(t) ] / i_ref = 0,

potentiostatically it is given, G = (phi_s - V(t)) f. A rest step of a potentiostatic protocol
holds zero current: it uses the galvanostatic constraint with J = 0. The time dependence is a
``solver.timestepping.Protocol``.
"""

from __future__ import annotations

from typing import Any

import dolfinx
import ufl
from dolfinx import fem
from mpi4py import MPI

from solver.lifted_forms import compile_form
from solver.newton import Border, ConstraintBorder, FixedBorder
from solver.physics.term import Term
from solver.timestepping import Protocol, ProtocolStep

__all__ = ["Control"]


class Control(Term):
    """The applied current density or potential and the equation of phi_s.

    Args:
        config: ``physics.control`` (mode, constant value or protocol, cycles).
        mesh: The mesh (of the control value's Constant).
        phi_s: The Li potential.

    Attributes:
        value: The applied value now (J in A/m^2 or V in V; a Constant in the forms).
        constrained: Whether any step needs the galvanostatic constraint (its forms are
            compiled then).
        G_form, dG_dphis_form: The compiled constraint g and dg/dphi_s (after ``compile``).
    """

    blocks = ("phi_s",)
    outputs = ("cell_voltage",)

    def __init__(self, config: Any, mesh: dolfinx.mesh.Mesh, phi_s: fem.Constant):
        self.config, self.phi_s = config, phi_s
        self.value = fem.Constant(mesh, 0.0)
        self.constrained = config.mode == "galvanostatic" or any(
            s.kind == "rest" for s in config.protocol
        )
        self.G_form: fem.Form | None = None
        self.dG_dphis_form: fem.Form | None = None

    def protocol(self) -> Protocol:
        """The control's time dependence (a constant value without a protocol)."""
        if self.config.protocol:
            steps = [ProtocolStep(s.kind, s.duration, s.value) for s in self.config.protocol]
            return Protocol(steps, self.config.cycles)
        return Protocol.constant(self.config.constant_value())

    @property
    def current_scale(self) -> float:
        """The largest applied |J| (galvanostatic; 0 potentiostatically), A/m^2."""
        if self.config.mode != "galvanostatic":
            return 0.0
        values = [abs(s.value) for s in self.config.protocol]
        return max(values or [abs(self.config.constant_value())])

    def galvanostatic_at(self, step: ProtocolStep | None) -> bool:
        """Whether phi_s is an unknown during a step (galvanostatic mode, or a rest)."""
        return self.config.mode == "galvanostatic" or (step is not None and step.kind == "rest")

    def apply(self, step: ProtocolStep) -> bool:
        """Set the applied value of a step (and phi_s when given); True when phi_s is unknown."""
        self.value.value = step.applied
        galvano = self.galvanostatic_at(step)
        if not galvano:
            self.phi_s.value = step.applied
        return galvano

    def constraint(self, li_current: Any, d_li_current: Any | None, scale: float,
                   maps: Any) -> Any:
        """Compile g = scale int_li j w ds (and dg/dphi_s); return g as UFL.

        Args:
            li_current: int_li j w ds (UFL).
            d_li_current: Its derivative by phi_s (None: it does not depend on phi_s).
            scale: 1 / (A_proj i_ref).
            maps: Entity maps of the forms.
        """
        g_form = scale * li_current
        self.G_form = compile_form(g_form, entity_maps=maps)
        self.dG_dphis_form = None
        if d_li_current is not None:
            self.dG_dphis_form = compile_form(scale * d_li_current, entity_maps=maps)
        return g_form

    def d_constraint(self, g_form: Any, unknowns: list[fem.Function], maps: Any) -> list[fem.Form]:
        """The compiled dg/du of each unknown block."""
        return [compile_form(ufl.derivative(g_form, u), entity_maps=maps) for u in unknowns]

    def border(self, galvanostatic: bool, i_ref: float, volt_scale: float,
               comm: MPI.Comm) -> Border:
        """phi_s and its equation: the scaled galvanostatic constraint, or phi_s = V."""
        if galvanostatic:
            return ConstraintBorder(self.phi_s, self.G_form,
                                    lambda: float(self.value.value) / i_ref,
                                    self.dG_dphis_form, comm)
        return FixedBorder(self.phi_s, self.value, volt_scale)
