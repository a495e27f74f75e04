"""Physics, time and numerics sections of a case configuration.

Every quantity is SI inside (``solver.units`` parses strings with units). The symbols in the
field descriptions are those of ``docs/theory.md``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from solver import library
from solver.petsc_options import normalised_options, refusals
from solver.schema import StrictModel
from solver.units import (
    ASR,
    Concentration,
    Conductivity,
    CurrentDensity,
    Diffusivity,
    Length,
    MolarEnergy,
    MolarVolume,
    SurfaceEnergy,
    Temperature,
    Time,
    Voltage,
    to_si,
)

__all__ = [
    "ConcentratedElectrolyte",
    "ControlConfig",
    "CounterConfig",
    "DiluteElectrolyte",
    "EventsConfig",
    "GrowthConfig",
    "ExpressionProperty",
    "InterphaseMaterial",
    "InterphaseThickeningConfig",
    "KineticsConfig",
    "NumericsConfig",
    "PhysicsConfig",
    "ProtocolStep",
    "SingleIonElectrolyte",
    "SurfaceEnergyConfig",
    "TableProperty",
    "TimeConfig",
]

#: Most rows of a property table.
MAX_TABLE_ROWS = 1000
#: Default ``max_concentration`` of a concentrated electrolyte, as a multiple of c_bulk (a
#: closed Li | Li cell reaches 2 c_bulk at its limiting current; docs/theory.md).
MAX_CONCENTRATION_FACTOR = 3.0
#: Lowest concentration, as a fraction of c_bulk, at which property expressions are evaluated;
#: below it they hold their value there (docs/theory.md).
CONCENTRATION_FLOOR_FRACTION = 1e-6


# --------------------------------------------------------------------------------------------
# Concentration-dependent properties
# --------------------------------------------------------------------------------------------
class ExpressionProperty(StrictModel):
    """A property given as an expression of the salt concentration and the temperature."""

    #: The key whose value messages about this property name.
    source_key: ClassVar[str] = "expression"

    expression: str = Field(
        description=(
            "Expression in SI units of the salt concentration `c` (mol/m^3) and the temperature "
            "`T` (K), e.g. '0.1 * (c/1000) * exp(-0.5 * (c/1000)**2)'. Allowed: numbers, "
            "+ - * / **, "
            "parentheses and the functions exp, log, sqrt, tanh, abs, min, max."
        )
    )

    @field_validator("expression")
    @classmethod
    def _parses(cls, text: str) -> str:
        from solver.transport import parse_expression

        parse_expression(text)
        return text


class TableProperty(StrictModel):
    """A property tabulated against the salt concentration.

    Interpolated piecewise-linearly, held constant
    beyond the ends).
    """

    #: The key whose value messages about this property name.
    source_key: ClassVar[str] = "values"

    concentration: list[Concentration] = Field(
        max_length=MAX_TABLE_ROWS,
        description="Salt concentrations of the table, strictly increasing, mol/m^3.",
    )
    values: list[float] = Field(
        max_length=MAX_TABLE_ROWS,
        description="Property values in SI units at those concentrations.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TableProperty:
        if len(self.concentration) != len(self.values) or len(self.values) < 2:
            raise ValueError(
                f"values: {len(self.values)} values for {len(self.concentration)} concentrations "
                f"(got {len(self.values)} values); allowed: one value per concentration, at "
                "least 2 rows"
            )
        if any(b <= a for a, b in zip(self.concentration, self.concentration[1:], strict=False)):
            raise ValueError(
                f"concentration: must increase strictly (got {_clip_list(self.concentration)}); "
                "allowed: strictly increasing concentrations"
            )
        return self


def _clip_list(values: list[float], limit: int = 6) -> str:
    """A list as quoted in a one-line message."""
    shown = ", ".join(f"{v:g}" for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


# --------------------------------------------------------------------------------------------
# Electrolytes and interphase materials
# --------------------------------------------------------------------------------------------
class _LibraryDefaults(StrictModel):
    """Base of sections that may name a library material (``material`` key) for defaults."""

    material: str | None = Field(
        default=None,
        description=(
            "Name of a library material supplying defaults (`lidep materials` lists them, "
            "docs/materials.md); keys given next to it override its values."
        ),
    )

    _kind: ClassVar[library.MaterialKind]

    @model_validator(mode="before")
    @classmethod
    def _fill_from_library(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("material") is not None:
            record = library.get(str(data["material"]), cls._kind)
            return {**record.values(), **data}
        return data


class SingleIonElectrolyte(_LibraryDefaults):
    """Single-ion conducting electrolyte (ceramic, t+ = 1): i = -sigma grad(Phi)."""

    type: Literal["single_ion"] = Field(description="Electrolyte class: single-ion conductor.")
    conductivity: Conductivity = Field(
        gt=0, description="Li+ conductivity sigma at reference temperature, S/m."
    )
    conductivity_activation_energy: MolarEnergy = Field(
        ge=0, default=0.0, description="Arrhenius activation energy E_a of sigma, J/mol."
    )

    _kind: ClassVar[library.MaterialKind] = "single_ion"


class DiluteElectrolyte(_LibraryDefaults):
    """Binary salt electrolyte, dilute-solution theory (thermodynamic factor 1).

    Give either the ionic diffusivities (D+, D-) or two or three of (D, t+, kappa at the bulk
    concentration); over-specified sets are checked against the dilute relations
    kappa = F^2 (D+ + D-) c / (R T), t+ = D+/(D+ + D-), D = 2 D+ D-/(D+ + D-).
    """

    type: Literal["dilute"] = Field(description="Electrolyte class: dilute binary salt.")
    bulk_concentration: Concentration = Field(
        gt=0, description="Bulk salt concentration c_bulk, mol/m^3."
    )
    cation_diffusivity: Diffusivity | None = Field(
        gt=0, default=None, description="Li+ diffusivity D+, m^2/s."
    )
    anion_diffusivity: Diffusivity | None = Field(
        gt=0, default=None, description="Anion diffusivity D-, m^2/s."
    )
    diffusivity: Diffusivity | None = Field(
        gt=0, default=None, description="Salt diffusivity D, m^2/s."
    )
    transference_number: float | None = Field(
        default=None, gt=0, lt=1.0, description="Li+ transference number t+ (0 < t+ < 1)."
    )
    conductivity: Conductivity | None = Field(
        gt=0,
        default=None,
        description="Conductivity kappa at c_bulk and the reference temperature, S/m.",
    )
    diffusivity_activation_energy: MolarEnergy = Field(
        ge=0, default=0.0,
        description="Arrhenius activation energy E_a of D+, D- (and so of D, kappa), J/mol.",
    )

    _kind: ClassVar[library.MaterialKind] = "dilute"

    @model_validator(mode="after")
    def _ionic_diffusivities(self) -> DiluteElectrolyte:
        # Resolve (D+, D-) from whatever was given, and check the rest against them.
        from solver.dilute import dilute_ionic_diffusivities

        dilute_ionic_diffusivities(self, temperature=library.T_REF)
        return self


def _property_kind(value: Any) -> str:
    """The member of :data:`PropertyValue` a raw value is meant as (its messages then say why)."""
    if isinstance(value, dict):
        return "ExpressionProperty" if "expression" in value else "TableProperty"
    if isinstance(value, ExpressionProperty | TableProperty):
        return type(value).__name__
    return "float"


PropertyValue = Annotated[
    Annotated[float, Tag("float")]
    | Annotated[ExpressionProperty, Tag("ExpressionProperty")]
    | Annotated[TableProperty, Tag("TableProperty")],
    Discriminator(_property_kind),
]


class ConcentratedElectrolyte(_LibraryDefaults):
    """Binary salt electrolyte, concentrated-solution theory.

    Properties kappa(c), D(c), t+(c), and the
    thermodynamic factor 1 + dln f/dln c (each a number, an expression or a table, SI units).
    """

    type: Literal["concentrated"] = Field(
        description="Electrolyte class: concentrated binary salt."
    )
    bulk_concentration: Concentration = Field(
        gt=0, description="Bulk salt concentration c_bulk, mol/m^3."
    )
    max_concentration: Concentration | None = Field(
        default=None,
        gt=0,
        description=(
            "Largest salt concentration c_max the properties are checked at and used up to: "
            "expressions must be finite and in range for c_bulk * "
            f"{CONCENTRATION_FLOOR_FRACTION:g} <= c <= c_max and hold their end values beyond, "
            f"mol/m^3 (default: {MAX_CONCENTRATION_FACTOR:g} c_bulk; > c_bulk)."
        ),
    )
    conductivity: PropertyValue = Field(description="Conductivity kappa(c, T), S/m.")
    diffusivity: PropertyValue = Field(description="Salt diffusivity D(c, T), m^2/s.")
    transference_number: PropertyValue = Field(description="Li+ transference number t+(c, T).")
    thermodynamic_factor: PropertyValue = Field(
        default=1.0, description="Thermodynamic factor 1 + dln f/dln c (1 = ideal)."
    )
    conductivity_activation_energy: MolarEnergy = Field(
        ge=0, default=0.0,
        description="Arrhenius activation energy of kappa, J/mol (applied on top of kappa(c, T)).",
    )
    diffusivity_activation_energy: MolarEnergy = Field(
        ge=0, default=0.0,
        description="Arrhenius activation energy of D, J/mol (applied on top of D(c, T)).",
    )

    _kind: ClassVar[library.MaterialKind] = "concentrated"

    @model_validator(mode="after")
    def _max_above_bulk(self) -> ConcentratedElectrolyte:
        c_max = self.concentration_bounds()[1]
        if c_max <= self.bulk_concentration:
            raise ValueError(
                f"max_concentration: must exceed the bulk concentration (got {c_max:g} mol/m^3); "
                f"allowed: more than bulk_concentration = {self.bulk_concentration:g} mol/m^3"
            )
        return self

    def concentration_bounds(self) -> tuple[float, float]:
        """(c_lo, c_max), mol/m^3: where property expressions are checked and evaluated."""
        c_max = self.max_concentration or MAX_CONCENTRATION_FACTOR * self.bulk_concentration
        return CONCENTRATION_FLOOR_FRACTION * self.bulk_concentration, c_max


def _type_from_material(data: object) -> object:
    """Let ``material: NAME`` alone choose the electrolyte ``type`` (the record's kind)."""
    if isinstance(data, dict) and "type" not in data and data.get("material") is not None:
        record = library.get(str(data["material"]), *library.ELECTROLYTE_KINDS, what="electrolyte")
        return {"type": record.kind, **data}
    return data


Electrolyte = Annotated[
    SingleIonElectrolyte | DiluteElectrolyte | ConcentratedElectrolyte,
    Field(discriminator="type"),
    BeforeValidator(_type_from_material),
]


class KineticsConfig(StrictModel):
    """Charge-transfer kinetics at a Li surface (Li+ + e- <-> Li)."""

    model: Literal["butler_volmer", "linear", "tafel", "primary"] = Field(
        default="butler_volmer",
        description=(
            "Rate law: full Butler-Volmer, linearised Butler-Volmer, cathodic Tafel branch, or "
            "'primary' (infinitely fast: Phi = phi_s on the surface)."
        ),
    )
    exchange_current_density: CurrentDensity = Field(
        gt=0,
        default=10.0,
        description="Exchange current density i0_ref at c_ref and T_ref, A/m^2.",
    )
    alpha_a: float = Field(default=0.5, gt=0, le=1.0, description="Anodic transfer coefficient.")
    alpha_c: float = Field(
        default=0.5, gt=0, le=1.0, description="Cathodic transfer coefficient."
    )
    reference_concentration: Concentration | None = Field(
        gt=0, default=None,
        description=(
            "c_ref of i0 = i0_ref (c_s/c_ref)^alpha_a against a binary electrolyte, mol/m^3 "
            "(default: the electrolyte bulk concentration)."
        ),
    )
    activation_energy: MolarEnergy = Field(
        ge=0, default=0.0, description="Arrhenius activation energy of i0, J/mol."
    )


class InterphaseMaterial(_LibraryDefaults):
    """An interphase (SEI) region: a single-ion conductor, optionally electronically leaky."""

    conductivity: Conductivity = Field(
        gt=0, description="Li+ conductivity sigma of the region, S/m."
    )
    conductivity_activation_energy: MolarEnergy = Field(
        ge=0, default=0.0, description="Arrhenius activation energy of sigma, J/mol."
    )
    electronic_conductivity: Conductivity = Field(
        ge=0, default=0.0,
        description="Electronic conductivity sigma_e, S/m (leakage current reported when > 0).",
    )
    transfer_resistance: ASR = Field(
        ge=0, default=0.0,
        description=(
            "Interfacial ion-transfer resistance R_it at this region's boundary with the "
            "electrolyte: Phi - Phi_elyte = R_it i.n there (i.n: the current from the region "
            "into the electrolyte), ohm m^2. 0: Phi continuous. When > 0 for one region, every "
            "region touching the electrolyte needs one."
        ),
    )
    kinetics: KineticsConfig | None = Field(
        default=None, description="Kinetics of Li | this region (default: physics.kinetics)."
    )

    _kind: ClassVar[library.MaterialKind] = "interphase"


class CounterConfig(StrictModel):
    """The counter boundary at y = L."""

    type: Literal["reservoir", "li_electrode"] = Field(
        default="reservoir",
        description=(
            "'reservoir': Phi = 0 and c = c_bulk at y = L; 'li_electrode': a Li counter "
            "electrode at phi = 0 with its own kinetics (symmetric Li | Li cell, closed for the "
            "salt)."
        ),
    )
    kinetics: KineticsConfig | None = Field(
        default=None,
        description="Kinetics of the Li counter electrode (default: physics.kinetics).",
    )


StepKind = Literal["constant", "pulse", "reverse_pulse", "rest"]


class ProtocolStep(StrictModel):
    """One step of a time-dependent control protocol: the config entry and the runtime step.

    ``solver.timestepping.Protocol`` steps through these very objects. The fields may also be
    given positionally, ``ProtocolStep("pulse", 2.0, 5.0)`` (kind, duration, value).
    :class:`ControlConfig` converts a ``value`` written with units to SI (its dimension follows
    the control mode); :attr:`applied` needs that SI number.
    """

    kind: StepKind = Field(
        default="constant",
        description=(
            "'constant'/'pulse' apply value, 'reverse_pulse' applies -value, 'rest' applies 0."
        ),
    )
    duration: Time = Field(gt=0, description="Duration of the step, s.")
    value: float | str = Field(
        default=0.0,
        description=(
            "Current density (galvanostatic, A/m^2, plating > 0) or Li potential phi_s "
            "(potentiostatic, V); a number (SI) or a string with units. A rest step takes 0 "
            "or no value."
        ),
    )

    def __init__(self, *args: Any, **fields: Any) -> None:
        """Validate the fields, given by keyword or positionally (kind, duration, value)."""
        if len(args) > 3:
            raise TypeError(f"ProtocolStep takes kind, duration and value, got {len(args)} values")
        super().__init__(**dict(zip(("kind", "duration", "value"), args, strict=False)), **fields)

    @field_validator("value")
    @classmethod
    def _rest_applies_zero(cls, value: float | str, info: ValidationInfo) -> float | str:
        """A rest step applies zero (a value with units is checked once converted to SI)."""
        if info.data.get("kind") == "rest" and not isinstance(value, str) and value != 0.0:
            raise ValueError(f"a rest step applies zero (got {value:g}); allowed: 0 or no value")
        return value

    @property
    def applied(self) -> float:
        """The value applied during this step (SI): -value for a reverse pulse, 0 at rest."""
        return -self.value if self.kind == "reverse_pulse" else self.value


class ControlConfig(StrictModel):
    """Control of the working Li electrode."""

    mode: Literal["galvanostatic", "potentiostatic"] = Field(
        default="galvanostatic",
        description=(
            "'galvanostatic': mean current density over the projected Li area given, phi_s solved "
            "for; 'potentiostatic': phi_s (V vs the counter / reference at y = L) given."
        ),
    )
    current_density: CurrentDensity | None = Field(
        default=None,
        description=(
            "Applied mean current density J (galvanostatic), A/m^2; plating > 0, stripping < 0."
        ),
    )
    potential: Voltage | None = Field(
        default=None, description="Applied Li potential phi_s (potentiostatic), V."
    )
    protocol: list[ProtocolStep] = Field(
        default_factory=list,
        description=(
            "Time-dependent control as a step list (transient runs); replaces the constant value."
        ),
    )
    cycles: int = Field(
        default=1, ge=1, description="Number of repetitions of the protocol step list."
    )

    @model_validator(mode="after")
    def _value_given(self) -> ControlConfig:
        key = "current_density" if self.mode == "galvanostatic" else "potential"
        dimension = "current_density" if self.mode == "galvanostatic" else "voltage"
        for index, step in enumerate(self.protocol):
            try:
                step.value = to_si(step.value, dimension)  # validated again: a rest step's 0
            except ValidationError as err:
                reason = err.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(f"protocol.{index}.value: {reason}") from err
            except ValueError as err:
                raise ValueError(
                    f"protocol.{index}.value: {err} (got {step.value!r}); allowed: a "
                    f"{dimension.replace('_', ' ')}, a number (SI) or a string with units"
                ) from err
        if not self.protocol and getattr(self, key) is None:
            raise ValueError(
                f"control.{key} is required for mode '{self.mode}' (or give control.protocol)"
            )
        return self

    def constant_value(self) -> float:
        """The constant control value (current density or potential, SI)."""
        value = self.current_density if self.mode == "galvanostatic" else self.potential
        return 0.0 if value is None else value


class EventsConfig(StrictModel):
    """Events detected during transient runs."""

    depletion_fraction: float = Field(
        default=1e-3,
        gt=0,
        lt=1.0,
        description=(
            "Depletion event when the minimum salt concentration on a Li surface (working, or a Li "
            "counter electrode) falls below this "
            "fraction of c_bulk."
        ),
    )
    on_depletion: Literal["continue", "stop"] = Field(
        default="stop", description="What the run does at the depletion (Sand's time) event."
    )


class SurfaceEnergyConfig(StrictModel):
    """The surface energy of the Li surface (docs/theory.md, "Surface energy")."""

    gamma: SurfaceEnergy = Field(
        gt=0,
        description=(
            "Surface energy gamma of Li against the interphase or electrolyte, J/m^2: the "
            "overpotential at the Li surface gains gamma V_m K / F (K the mean curvature). "
            "Needs geometry.mesh.order 2."
        ),
    )


class RemeshConfig(StrictModel):
    """Remeshing a grown mesh whose quality fell too low (docs/theory.md, "Remeshing")."""

    enabled: bool = Field(
        default=False,
        description=(
            "Instead of stopping at physics.growth.min_quality, rebuild the mesh on the current "
            "Li surface (2D, no voids), carry the fields over and continue the run."
        ),
    )
    max_remeshes: int = Field(
        default=10, ge=1, le=1000, description="Most remeshes of one run; then it stops cleanly."
    )
    conserve_salt: bool = Field(
        default=True,
        description=(
            "Rescale each BDF level's concentration after the transfer so that its salt "
            "inventory is that before it (the change is reported either way)."
        ),
    )


class InterphaseThickeningConfig(StrictModel):
    """The interphase thickening from its leakage current (docs/theory.md, "Moving Li surface")."""

    enabled: bool = Field(
        default=False,
        description=(
            "Electrons leaking through the interphase (electronic_conductivity > 0) form new "
            "interphase at its outer surface, which advances by max(i_e, 0) V_sei / (n_e F) per "
            "second (i_e the mean leakage current density)."
        ),
    )
    molar_volume: MolarVolume | None = Field(
        default=None,
        gt=0,
        description=(
            "V_sei, molar volume of the interphase product per formula unit (m^3/mol, or with "
            "its unit, e.g. '9.8 cm^3/mol'); required when enabled (no default)."
        ),
    )
    electrons: int = Field(
        default=1, ge=1, le=8, description="n_e, electrons consumed per formula unit of product."
    )

    @model_validator(mode="after")
    def _molar_volume_given(self) -> InterphaseThickeningConfig:
        if self.enabled and self.molar_volume is None:
            raise ValueError(
                "physics.growth.interphase_thickening.molar_volume: required when enabled (got "
                "None); allowed: a molar volume > 0, e.g. '9.8 cm^3/mol'"
            )
        return self


class GrowthConfig(StrictModel):
    """The moving Li surface (issue 11): the deposit moves the mesh in transient runs."""

    enabled: bool = Field(
        default=False,
        description=(
            "Move the Li surface with the plated (stripped) volume, v_n = j V_m / F, carrying the "
            "interphase along and moving the mesh (transient runs)."
        ),
    )
    mesh_motion: Literal["harmonic", "stiffened"] = Field(
        default="harmonic",
        description=(
            "Extension of the surface displacement into the electrolyte: harmonic, or "
            "pseudo-elastic stiffened in small cells (stiffness (|K|_max/|K|)^1)."
        ),
    )
    min_quality: float = Field(
        default=0.2,
        gt=0,
        lt=1.0,
        description=(
            "The run stops cleanly (with the last good state as its last snapshot) when the "
            "smallest cell quality (radius ratio) falls below this fraction of its initial value."
        ),
    )
    rigid_electrolyte: bool | None = Field(
        default=None,
        description=(
            "Whether the electrolyte is rigid (cannot follow a receding Li surface): then the "
            "loss of contact during stripping is tracked and reported. Absent: rigid for a "
            "single-ion (ceramic) electrolyte, not for dilute or concentrated (liquid) ones."
        ),
    )
    contact_gap: Length = Field(
        default=5e-9,
        gt=0,
        description=(
            "Recession of the Li surface from a rigid electrolyte (m, or a length with its "
            "unit) beyond which a facet counts as out of contact."
        ),
    )
    remesh: RemeshConfig = Field(
        default_factory=RemeshConfig,
        description="Remeshing when the mesh quality falls below min_quality (absent: a stop).",
    )
    contact_loss: Literal["report", "void"] = Field(
        default="report",
        description=(
            "What a Li facet out of contact with a rigid electrolyte does: 'report' (the fields "
            "are solved as if in contact; the loss is only reported), or 'void' (it becomes an "
            "insulating void wall: its Faradaic current is switched off for the following steps "
            "and the current redistributes over the remaining contact)."
        ),
    )
    interphase_thickening: InterphaseThickeningConfig = Field(
        default_factory=InterphaseThickeningConfig,
        description="The interphase thickening from its electronic leakage (absent: off).",
    )

    @model_validator(mode="after")
    def _thickening_without_remesh(self) -> GrowthConfig:
        # a remesh regenerates the layers at their configured thicknesses: the added
        # interphase would be lost silently
        if self.interphase_thickening.enabled and self.remesh.enabled:
            raise ValueError(
                "physics.growth.interphase_thickening.enabled: not with remeshing, which "
                "regenerates the layers at their configured thickness (got true with "
                "remesh.enabled true); allowed: false, or physics.growth.remesh.enabled false"
            )
        return self


class PhysicsConfig(StrictModel):
    """Electrolyte, interphase materials, kinetics, counter boundary, control and temperature."""

    temperature: Temperature = Field(gt=0, default=298.15, description="Temperature T, K.")
    reference_temperature: Temperature = Field(
        gt=0, default=library.T_REF,
        description="Reference temperature T_ref of the Arrhenius factors, K.",
    )
    electrolyte: Electrolyte = Field(
        description="The electrolyte filling the domain above the interphase."
    )
    interphase: dict[str, InterphaseMaterial] = Field(
        default_factory=dict,
        description="Interphase region name (geometry layer or mosaic phase name) -> material.",
    )
    kinetics: KineticsConfig = Field(
        default_factory=KineticsConfig, description="Kinetics at the working Li surface."
    )
    counter: CounterConfig = Field(
        default_factory=CounterConfig, description="Counter boundary at y = L."
    )
    control: ControlConfig = Field(
        default_factory=lambda: ControlConfig(current_density=10.0),
        description="Control mode and value or protocol.",
    )
    events: EventsConfig = Field(default_factory=EventsConfig, description="Event detection.")
    surface_energy: SurfaceEnergyConfig | None = Field(
        default=None,
        description="Surface-energy term at the Li surface (absent: no surface energy).",
    )
    growth: GrowthConfig = Field(
        default_factory=GrowthConfig, description="Moving Li surface (growth of the deposit)."
    )

    @property
    def rigid_electrolyte(self) -> bool:
        """Whether the electrolyte cannot follow a receding Li surface.

        ``growth.rigid_electrolyte``; absent: a single-ion conductor (a ceramic) is rigid, a
        dilute or concentrated (liquid) electrolyte is not.
        """
        rigid = self.growth.rigid_electrolyte
        return self.electrolyte.type == "single_ion" if rigid is None else rigid

    @model_validator(mode="after")
    def _contact_loss(self) -> PhysicsConfig:
        # Void walls switch the Faradaic flux off facet by facet (solver.growth.contact): only
        # the rate laws have a flux to switch, and only a rigid electrolyte loses contact.
        if self.growth.contact_loss != "void":
            return self
        if not self.rigid_electrolyte:
            raise ValueError(
                "growth.contact_loss: 'void' needs a rigid electrolyte, which loses contact "
                f"(got 'void' with a {self.electrolyte.type} electrolyte that is not rigid); "
                "allowed: 'report', or growth.rigid_electrolyte true"
            )
        if self.kinetics.model == "primary":
            raise ValueError(
                "growth.contact_loss: 'void' needs a rate law whose current can be switched off "
                "(got 'void' with kinetics.model 'primary', a Dirichlet condition); allowed: "
                "'report', or kinetics.model 'butler_volmer', 'linear', 'tafel'"
            )
        return self

    @model_validator(mode="after")
    def _counter_kinetics(self) -> PhysicsConfig:
        # The solver implements a Li counter electrode with a rate law only (problem.py).
        if self.counter.type == "li_electrode":
            own = self.counter.kinetics is not None
            model = (self.counter.kinetics or self.kinetics).model
            if model == "primary" and own:
                raise ValueError(
                    "counter.kinetics.model: 'primary' is not available for a Li counter "
                    "electrode (got 'primary'); allowed: 'butler_volmer', 'linear', 'tafel', or "
                    "counter.type 'reservoir'"
                )
            if model == "primary":
                raise ValueError(
                    "kinetics.model: 'primary' is not available for the Li counter electrode, "
                    "which takes these kinetics unless counter.kinetics is given (got 'primary'); "
                    "allowed: 'butler_volmer', 'linear', 'tafel', a counter.kinetics of its own, "
                    "or counter.type 'reservoir'"
                )
        return self


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------
class TimeConfig(StrictModel):
    """Steady or transient solution and the time-step control."""

    mode: Literal["steady", "transient"] = Field(
        default="steady", description="Steady state or transient run."
    )
    t_end: Time | None = Field(default=None, gt=0, description="End time (transient), s.")
    dt: Time | None = Field(
        default=None, gt=0, description="Initial (or fixed) time step, s (default t_end/100)."
    )
    scheme: Literal["bdf1", "bdf2"] = Field(
        default="bdf2", description="Time integration scheme (variable-step BDF)."
    )
    adaptivity: Literal["none", "error", "iterations"] = Field(
        default="error",
        description="Step control: fixed, local-error controlled, or Newton-iteration controlled.",
    )
    dt_min: Time | None = Field(
        default=None, gt=0, description="Smallest step, s (default dt/1e4)."
    )
    dt_max: Time | None = Field(
        default=None, gt=0, description="Largest step, s (default t_end/10)."
    )
    rtol: float = Field(default=1e-3, gt=0, description="Relative local-error tolerance.")
    atol: float = Field(
        default=1e-3, gt=0, description="Absolute local-error tolerance of c, mol/m^3."
    )
    growth_max: float = Field(
        default=2.0, gt=1.0, description="Largest ratio of consecutive steps."
    )
    shrink_min: float = Field(
        default=0.2, gt=0, lt=1.0, description="Smallest ratio of a reduced step."
    )
    safety: float = Field(
        default=0.9, gt=0, le=1.0, description="Safety factor of the error controller."
    )
    newton_iterations_low: int = Field(
        default=3, ge=1, description="Grow the step at or below this many Newton iterations."
    )
    newton_iterations_high: int = Field(
        default=8, ge=2, description="Shrink the step at or above this many Newton iterations."
    )
    max_retries: int = Field(
        default=6,
        ge=0,
        description="Step cuts allowed after Newton divergence before the run fails.",
    )
    cut_factor: float = Field(
        default=0.5, gt=0, lt=1.0, description="Step reduction factor after divergence."
    )
    output_times: list[Time] = Field(
        default_factory=list, description="Output times, s (t_end is always one)."
    )
    output_interval: Time | None = Field(
        default=None, gt=0, description="Regular output interval, s."
    )
    checkpoint_interval: Time | None = Field(
        default=None,
        gt=0,
        description=(
            "Wall-clock time between restart checkpoints of a transient run, s (a checkpoint is "
            "also written at every output time; none: at output times only). See README, "
            "'Restart'."
        ),
    )

    @model_validator(mode="after")
    def _transient_needs_end(self) -> TimeConfig:
        if self.mode == "transient" and self.t_end is None:
            raise ValueError("time.t_end is required when time.mode is 'transient'")
        if self.t_end is not None and any(t > self.t_end or t < 0 for t in self.output_times):
            raise ValueError(
                f"time.output_times must lie in [0, t_end={self.t_end}] (got {self.output_times})"
            )
        return self


# --------------------------------------------------------------------------------------------
# Numerics
# --------------------------------------------------------------------------------------------
class NumericsConfig(StrictModel):
    """Discretisation and solver settings."""

    degree: Literal[1, 2] = Field(default=2, description="Lagrange degree p of Phi and c.")
    linear_solver: Literal["direct", "iterative", "auto"] = Field(
        default="direct",
        description=(
            "'direct': LU with MUMPS; 'iterative': GMRES with GAMG (Phi alone) or, for a binary "
            "electrolyte, GMRES on the migration-eliminated system with a c | Phi field split "
            "and GAMG blocks (solver/linear.py); 'auto': direct up to direct_max_unknowns, "
            "iterative above."
        ),
    )
    direct_max_unknowns: int = Field(
        default=300_000,
        gt=0,
        description=(
            "linear_solver 'auto': the largest linear system (unknowns over all ranks; Phi alone "
            "or Phi and c) solved with the direct solver."
        ),
    )
    newton_rtol: float = Field(
        default=1e-10, gt=0, description="Newton relative tolerance on the scaled residual."
    )
    newton_atol: float = Field(
        default=1e-12, gt=0, description="Newton absolute tolerance on the scaled residual."
    )
    newton_stol: float = Field(
        default=1e-10,
        gt=0,
        description="Newton tolerance on the scaled update (Phi in RT/F, c in c_bulk).",
    )
    newton_max_it: int = Field(default=30, ge=1, description="Maximum Newton iterations per solve.")
    reuse_jacobian: bool = Field(
        default=True,
        description=(
            "Transient runs: keep the factorised Jacobian across Newton iterations and time steps "
            "while each step reduces the residual by a factor 5 (chord Newton); refactorise "
            "otherwise."
        ),
    )
    line_search: Literal["backtracking", "none"] = Field(
        default="backtracking",
        description="Newton line search (Armijo backtracking on the residual norm).",
    )
    continuation: bool = Field(
        default=True,
        description=(
            "Start from the primary, then secondary, then full solution (steady runs and the "
            "first step)."
        ),
    )
    concentration_variable: Literal["auto", "c", "log_c"] = Field(
        default="auto",
        description=(
            "Unknown of the salt balance (binary electrolytes): 'c' (mol/m^3; exact for linear "
            "profiles), 'log_c' (u = ln(c/c_bulk): c stays positive, so depletion and the "
            "limiting current are reached without negative concentrations; docs/theory.md), "
            "'auto': 'log_c' for transient runs, 'c' for steady runs with a retry in 'log_c' "
            "when the 'c' solve fails (e.g. at the limiting current)."
        ),
    )
    linear_rtol: float = Field(
        default=1e-8,
        gt=0,
        description=(
            "Relative tolerance of the iterative linear solver (an inexact Newton step; the "
            "Newton tolerances still decide convergence). Much smaller values can lie below "
            "GMRES' round-off floor when Butler-Volmer terms at large overpotentials make the "
            "Jacobian ill-conditioned."
        ),
    )
    petsc_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description=(
            "Extra PETSc options merged over the defaults (without the prefix). Solver tuning "
            "only (types, tolerances, GMRES, GAMG/MG, MUMPS, SuperLU_DIST, fieldsplit settings, "
            "monitors printing to the log), with plain values; see solver/petsc_options.py."
        ),
    )

    @model_validator(mode="after")
    def _allowed_petsc_options(self) -> NumericsConfig:
        """Refuse options off the allow-list of solver.petsc_options; normalise their names."""
        message = refusals(self.petsc_options)
        if message:
            raise ValueError(message)
        normalised = normalised_options(self.petsc_options)
        self.petsc_options.clear()  # in place: assigning would validate the model again
        self.petsc_options.update(normalised)
        return self
