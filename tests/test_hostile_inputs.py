"""Hostile input: every class of bad input is exit 2 with one line naming the key, no traceback.

Configs come from colleagues and papers, so each class below is a file (or ``--set``) a
careless or malicious author could hand over. Each case runs ``lidep run`` in process on a
copy of ``configs/examples/minimal.yaml`` changed by the case, with an output root that holds
one sentinel file, and asserts:

- exit code 2;
- the key path appears in exactly one line of the message, and only once in that line;
- no traceback;
- the output root is untouched (the sentinel alone; no run directory, no hidden temporary one).

The table of classes and outcomes is kept in ``docs/reliability.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import solver  # noqa: F401  (MPI import order)
from solver.cli import main

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ROOT / "configs" / "examples" / "minimal.yaml"


@dataclass(frozen=True)
class Hostile:
    """One class of hostile input.

    Attributes:
        label: The class, as listed in ``docs/reliability.md``.
        key: The key path (or file path) the one-line message must name.
        mutate: Changes the parsed minimal config in place (ignored when ``text`` is given).
        text: The whole file, for inputs that are hostile as text (bombs, encodings).
        overrides: ``--set`` arguments.
        command: The CLI command (``run`` unless the class concerns another).
        extra: Further command-line arguments.
    """

    label: str
    key: str
    mutate: Callable[[dict[str, Any]], None] | None = None
    text: str | bytes | None = None
    overrides: tuple[str, ...] = ()
    command: str = "run"
    extra: tuple[str, ...] = ()


def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting the dotted ``path`` (list entries by index) to ``value``."""
    *parents, last = path.split(".")

    def mutate(tree: dict[str, Any]) -> None:
        node: Any = tree
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


#: A "billion laughs" alias bomb (about 500 bytes, 9**9 strings once expanded).
LAUGHS = "name: bomb\nl0: &l0 [" + ",".join(["lol"] * 9) + "]\n" + "".join(
    f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10)
) + "description: *l9\n"

CASES: list[Hostile] = [
    # --- PETSc options and YAML limits -----------------------------------------------------------
    Hostile(label="petsc viewer writes a binary file",
            key="base.numerics.petsc_options.ksp_view_solution",
            mutate=put("base.numerics.petsc_options", {"ksp_view_solution": "binary:/tmp/x"})),
    Hostile(label="petsc viewer writes an ascii file", key="base.numerics.petsc_options.mat_view",
            mutate=put("base.numerics.petsc_options", {"mat_view": "ascii:/tmp/x"})),
    Hostile(label="petsc monitor writes a file", key="base.numerics.petsc_options.ksp_monitor",
            mutate=put("base.numerics.petsc_options", {"ksp_monitor": "ascii:/tmp/x"})),
    Hostile(label="petsc python ksp", key="base.numerics.petsc_options.ksp_type",
            mutate=put("base.numerics.petsc_options", {"ksp_type": "python"})),
    Hostile(label="petsc python pc", key="base.numerics.petsc_options.pc_type",
            mutate=put("base.numerics.petsc_options", {"pc_type": "python"})),
    Hostile(label="petsc python type imports code",
            key="base.numerics.petsc_options.pc_python_type",
            mutate=put("base.numerics.petsc_options", {"pc_python_type": "os.system"})),
    Hostile(label="petsc options file", key="base.numerics.petsc_options.options_file",
            mutate=put("base.numerics.petsc_options", {"options_file": "/etc/passwd"})),
    Hostile(label="petsc log view", key="base.numerics.petsc_options.log_view",
            mutate=put("base.numerics.petsc_options", {"log_view": ":/tmp/log.txt"})),
    Hostile(label="petsc debugger", key="base.numerics.petsc_options.start_in_debugger",
            mutate=put("base.numerics.petsc_options", {"start_in_debugger": ""})),
    Hostile(label="petsc option off the list", key="base.numerics.petsc_options.vec_type",
            mutate=put("base.numerics.petsc_options", {"vec_type": "cuda"})),
    Hostile(label="petsc bypass by dash and case", key="base.numerics.petsc_options.-KSP_TYPE",
            overrides=("numerics.petsc_options.-KSP_TYPE=python",)),
    Hostile(label="petsc path smuggled in a value",
            key="base.numerics.petsc_options.pc_factor_mat_solver_type",
            overrides=("numerics.petsc_options.pc_factor_mat_solver_type=mumps:/tmp/x",)),

    Hostile(label="yaml billion laughs", key="hostile.yaml:7:5: more than", text=LAUGHS),
    Hostile(label="yaml alias cycle", key="hostile.yaml:1:", text="name: &a [*a]\n"),
    Hostile(label="yaml nesting depth", key="hostile.yaml:2:",
            text="name: x\nbase: " + "[" * 500 + "]" * 500 + "\n"),
    Hostile(label="yaml file too large", key="hostile.yaml: the config file is too large",
            text="name: x\n" + "#" * (1 << 20)),
    Hostile(label="yaml integer with 5000 digits", key="hostile.yaml:2:",
            text="name: x\ndescription: " + "9" * 5000 + "\n"),
    Hostile(label="yaml list as a key", key="hostile.yaml:2:3:", text="name: x\n? [a, b]\n: 1\n"),
    Hostile(label="yaml limits in a --set value", key="--set description:1:",
            overrides=("description=" + "[" * 500 + "]" * 500,)),

    # --- expressions and tables ------------------------------------------------------------------
    # A concentrated electrolyte from the library (Valoen 2005) with one property replaced.
    *(
        Hostile(
            label=f"expression {label}",
            key="base.physics.electrolyte.conductivity.expression",
            mutate=put("base.physics.electrolyte", {
                "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
                "conductivity": {"expression": text}}),
        )
        for label, text in (
            ("overflowing exp", "exp(1000*c)"),
            ("power tower", "9**9**9"),
            ("division by zero", "1/0"),
            ("huge exponent", "c**(10**400)"),
            ("negative constant", "-1+0*c"),
            ("NaN below c = 1", "sqrt(c - 1)"),
            ("number beyond float range", "1e400*c"),
            ("import", "__import__('os').system('true')"),
            ("too long", "c" + "+c" * 600),
            ("too deep", "-" * 80 + "c"),
            ("min with three arguments", "min(c, 1, 2)"),
        )
    ),
    Hostile(
        label="transference number leaves (0, 1)",
        key="base.physics.electrolyte.transference_number.expression",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
            "transference_number": {"expression": "0.4 + c/1000"}}),
    ),
    Hostile(
        label="transference number number above 1",
        key="base.physics.electrolyte.transference_number",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
            "transference_number": 1.5}),
    ),
    Hostile(
        label="thermodynamic factor zero",
        key="base.physics.electrolyte.thermodynamic_factor.expression",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
            "thermodynamic_factor": {"expression": "0*c"}}),
    ),
    Hostile(
        label="library diffusivity with a pole below max_concentration at 240 K",
        key="base.physics.electrolyte.diffusivity.expression",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005"}),
        overrides=("physics.temperature=240",),
    ),
    Hostile(
        label="table with a negative diffusivity",
        key="base.physics.electrolyte.diffusivity.values",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
            "diffusivity": {"concentration": [0, 1000, 2000], "values": [3e-10, 2e-10, -1e-10]}}),
    ),
    Hostile(
        label="table with NaN",
        key="base.physics.electrolyte.conductivity.values",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
            "conductivity": {"concentration": [0, 1000], "values": [1.0, float("nan")]}}),
    ),
    Hostile(
        label="table with too many rows",
        key="base.physics.electrolyte.conductivity.values",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
            "conductivity": {"concentration": [0, 1], "values": [1.0] * 1001}}),
    ),
    Hostile(
        label="table rows of unequal length",
        key="base.physics.electrolyte.conductivity.values",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
            "conductivity": {"concentration": [0, 1000], "values": [1.0]}}),
    ),
    Hostile(
        label="Arrhenius factor overflows",
        key="base.physics.electrolyte.conductivity_activation_energy",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
            "conductivity_activation_energy": 1e9}),
        overrides=("physics.temperature=400",),
    ),
    Hostile(
        label="max_concentration below the bulk",
        key="base.physics.electrolyte.max_concentration",
        mutate=put("base.physics.electrolyte", {
            "type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005",
            "max_concentration": "0.5 M"}),
    ),

    # --- physically impossible input (physics) ---------------------------------------------------
    Hostile(
        label="steady run above the limiting current",
        key="base.physics.control.current_density",
        mutate=put("base.physics.electrolyte", {
            "type": "dilute", "bulk_concentration": "1 M", "diffusivity": 3e-10,
            "transference_number": 0.4}),
        overrides=("physics.control.current_density=600 mA/cm^2",),
    ),
    Hostile(
        label="steady case above the limiting current",
        key="cases.fast.physics.control.current_density",
        mutate=put("cases", {
            "fast": {"physics": {
                "electrolyte": {"type": "concentrated", "material": "LiPF6_EC_EMC_Valoen2005"},
                "control": {"current_density": "1 A/cm^2"}}}}),
    ),
    Hostile(
        label="Li counter with primary kinetics of its own",
        key="base.physics.counter.kinetics.model",
        mutate=put("base.physics.counter", {
            "type": "li_electrode", "kinetics": {"model": "primary"}}),
    ),
    Hostile(
        label="Li counter inheriting primary kinetics",
        key="base.physics.kinetics.model",
        mutate=put("base.physics.counter", {"type": "li_electrode"}),
        overrides=("physics.kinetics.model=primary",),
    ),


    Hostile(
        label="interphase Arrhenius factor overflows",
        key="base.physics.interphase.sei.conductivity_activation_energy",
        overrides=("physics.interphase.sei.conductivity_activation_energy=1e9",
                   "physics.temperature=400"),
    ),
    Hostile(
        label="exchange-current Arrhenius factor underflows",
        key="base.physics.kinetics.activation_energy",
        overrides=("physics.kinetics.activation_energy=1e6", "physics.temperature=200"),
    ),

    # --- unmeshable input (geometry) -------------------------------------------------------------
    Hostile(label="refinement 64 (cell estimate over mesh.max_cells)",
            key="base.geometry.mesh.refinement", mutate=put("base.geometry.mesh.refinement", 64)),
    Hostile(label="domain 1 m wide under a 20 nm layer (cell estimate)",
            key="base.geometry.domain.width", mutate=put("base.geometry.domain.width", "1 m")),
    Hostile(label="thin layer over a wide 3D domain (cell estimate)",
            key="base.geometry.layers.0.thickness",
            overrides=("base.geometry.dimension=3", "base.geometry.layers.0.thickness=2nm")),
    Hostile(label="ten million contact-fraction gaps in 3D", key="base.geometry.voids.count",
            overrides=("base.geometry.dimension=3", "base.geometry.voids={kind: "
                       "contact_fraction, contact_fraction: 0.5, count: 10000000}")),
    Hostile(label="1e300 m layer", key="base.geometry.layers.0.thickness",
            mutate=put("base.geometry.layers.0.thickness", "1e300 m")),
    Hostile(label="1e300 m domain", key="base.geometry.domain.length",
            mutate=put("base.geometry.domain.length", 1e300)),
    Hostile(label="sub-angstrom protrusion", key="base.geometry.protrusions.0.radius",
            mutate=put("base.geometry.protrusions", [{"shape": "spherical", "radius": 1e-300}])),
    Hostile(label="overlapping protrusions", key="base.geometry.protrusions.1",
            mutate=put("base.geometry.protrusions", [
                {"shape": "spherical", "radius": "0.5 um", "x": "0.5 um"},
                {"shape": "cone", "base_radius": "0.4 um", "height": "1 um",
                 "tip_radius": "0.1 um", "x": "1.3 um"}])),
    Hostile(label="touching protrusions", key="base.geometry.protrusions.1",
            mutate=put("base.geometry.protrusions", [
                {"shape": "spherical", "radius": "0.5 um", "x": "0.5 um"},
                {"shape": "spherical", "radius": "0.5 um", "x": "1.5 um"}])),
    Hostile(label="thousands of overlapping protrusions", key="base.geometry.protrusions",
            mutate=put("base.geometry.protrusions", [
                {"shape": "spherical", "radius": "0.1 um", "x": f"{0.001 * i:.3f} um"}
                for i in range(2000)])),
    Hostile(label="protrusion wider than its periodic cell", key="base.geometry.protrusions.0",
            overrides=("base.geometry.domain.lateral=periodic",
                       "base.geometry.protrusions=[{shape: spherical, radius: 1.5 um}]")),
    Hostile(label="axisymmetric ring across the axis", key="base.geometry.protrusions.0",
            overrides=("base.geometry.coordinates=axisymmetric",
                       "base.geometry.protrusions=[{shape: spherical, radius: 0.5 um, "
                       "x: 0.2 um}]")),
    Hostile(label="overlapping voids", key="base.geometry.voids.items.1",
            mutate=put("base.geometry.voids", {"kind": "shapes", "items": [
                {"shape": "lens", "x": "0.6 um", "width": "0.6 um", "height": "0.1 um"},
                {"shape": "lens", "x": "1 um", "width": "0.6 um", "height": "0.1 um"}]})),
    Hostile(label="contact-fraction gap under a protrusion", key="base.geometry.protrusions.0",
            mutate=lambda tree: (put("base.geometry.protrusions", [
                {"shape": "spherical", "radius": "0.3 um", "x": "0.6 um"}])(tree), put(
                "base.geometry.voids", {"kind": "contact_fraction", "contact_fraction": 0.5})(
                tree))),
    Hostile(label="void under a protrusion", key="base.geometry.voids.items.0",
            mutate=lambda tree: (put("base.geometry.protrusions", [
                {"shape": "spherical", "radius": "0.5 um", "x": "1 um"}])(tree), put(
                "base.geometry.voids", {"kind": "shapes", "items": [
                    {"shape": "lens", "x": "1.2 um", "width": "0.4 um", "height": "0.1 um"}]})(
                tree))),

    # --- files, paths and overrides --------------------------------------------------------------

    Hostile(label="non-UTF-8 config", key="hostile.yaml: not UTF-8",
            text="name: caf\u00e9\n".encode("latin-1")),
    Hostile(label="--set into a case that does not exist", key="cases.fast:",
            overrides=("cases.fast.numerics.degree=1",)),
    Hostile(label="--set unknown key", key="base.numerics.degre:",
            overrides=("base.numerics.degre=1",)),

    Hostile(label="run name climbs out", key="name:", mutate=put("name", "../../escape")),
    Hostile(label="run name absolute", key="name:", overrides=("name=/tmp/escape",)),
    Hostile(label="run name hidden like a temporary directory", key="name:",
            mutate=put("name", ".minimal.tmp-0123abcd")),
    Hostile(label="run name with NUL", key="name:", mutate=put("name", "a\x00b")),
    Hostile(label="run name too long", key="name:", mutate=put("name", "a" * 101)),
    Hostile(label="run name unicode slash lookalike", key="name:", mutate=put("name", "a\u2215b")),
    Hostile(label="case name climbs out", key="cases.../up", mutate=put("cases", {"../up": {}})),
    Hostile(label="case name with newline", key="cases.'a\\nb'",
            mutate=put("cases", {"a\nb": {}})),
    Hostile(label="case name of a run file", key="cases.metrics.json",
            mutate=put("cases", {"metrics.json": {}})),
    Hostile(label="case name by --set", key="cases.x/..",
            overrides=("cases.x/..={numerics: {degree: 1}}",)),
    Hostile(label="--set through a base that is not a mapping", key="base.physics:",
            mutate=put("base", 1), overrides=("geometry.domain.width=3um",)),
    Hostile(label="contact fraction zero", key="base.geometry.voids.contact_fraction",
            mutate=put("base.geometry.voids", {"kind": "contact_fraction", "contact_fraction": 0})),
    Hostile(label="contact fraction missing", key="base.geometry.voids.contact_fraction",
            mutate=put("base.geometry.voids", {"kind": "contact_fraction"})),
    Hostile(label="model validator names the key", key="base.time.t_end",
            mutate=put("base.time", {"mode": "transient"})),

    # --- output root -----------------------------------------------------------------------------
    # (an output root that is a file, lies below a file, cannot be created or is not writable:
    # tests/test_cli.py::test_unusable_output_root_exit_code_2, since -o is fixed here)
    Hostile(label="output: the run directory's path is a file", key="out/sentinel",
            mutate=put("name", "sentinel")),
    Hostile(label="output: the run directory's path is a file, --overwrite", key="out/sentinel",
            mutate=put("name", "sentinel"), extra=("--overwrite",)),
    Hostile(label="library: unknown electrolyte material", key="base.physics.electrolyte.material",
            mutate=put("base.physics.electrolyte", {"material": "nope"})),
    Hostile(label="library: interphase phase as electrolyte",
            key="base.physics.electrolyte.material",
            mutate=put("base.physics.electrolyte", {"material": "LiF"})),
    Hostile(label="library: electrolyte as interphase",
            key="base.physics.interphase.sei.material",
            mutate=put("base.physics.interphase.sei", {"material": "LLZO"})),
    Hostile(label="library: metal as interphase", key="base.physics.interphase.sei.material",
            mutate=put("base.physics.interphase.sei", {"material": "Cu"})),
    Hostile(label="library: material not a name", key="base.physics.electrolyte.material",
            mutate=put("base.physics.electrolyte", {"material": ["LLZO"]})),
    Hostile(label="unit raised to a huge power", key="base.geometry.domain.length",
            mutate=put("base.geometry.domain.length", "1 km^999999999")),
    Hostile(label="unit nested ten thousand parentheses deep", key="base.geometry.domain.length",
            mutate=put("base.geometry.domain.length", "1 " + "(" * 10000 + "m" + ")" * 10000)),
    # sweep files (lidep sweep; more in tests/test_sweep.py)
    Hostile(label="sweep: shell in a SLURM partition name", key="slurm.partition",
            command="sweep", extra=("--dry-run",),
            text=f"name: s\nbase: {MINIMAL}\nslurm: {{partition: 'x; rm -rf ~'}}\n"
                 "axes: [{key: geometry.domain.width, values: [2um]}]\n"),
    Hostile(label="sweep: more points than allowed", key="axes", command="sweep",
            extra=("--dry-run",),
            text=f"name: s\nbase: {MINIMAL}\naxes:\n"
                 "  - {key: geometry.domain.width, random: {low: 1um, high: 3um, count: 1000, "
                 "seed: 0}}\n  - {key: numerics.degree, values: [1, 2]}\n"),
    Hostile(label="sweep: an axis over an unknown key", key="axes.0.key", command="sweep",
            extra=("--dry-run",),
            text=f"name: s\nbase: {MINIMAL}\naxes: [{{key: geometry.domian.width, "
                 "values: [2um]}]\n"),
    Hostile(label="time: negative checkpoint interval", key="base.time.checkpoint_interval",
            mutate=put("base.time.checkpoint_interval", "-5 s")),
    Hostile(label="time: checkpoint interval not a time", key="base.time.checkpoint_interval",
            mutate=put("base.time.checkpoint_interval", "5 m")),
    Hostile(label="control: a rest step with a current",
            key="base.physics.control.protocol.1.value",
            mutate=put("base.physics.control", {"mode": "galvanostatic", "protocol": [
                {"kind": "pulse", "duration": "1 s", "value": "1 mA/cm^2"},
                {"kind": "rest", "duration": "1 s", "value": "1 mA/cm^2"}]})),
    Hostile(label="control: a step value of another dimension",
            key="base.physics.control.protocol.0.value",
            mutate=put("base.physics.control", {"mode": "galvanostatic", "protocol": [
                {"kind": "pulse", "duration": "1 s", "value": "2 V"}]})),
    Hostile(label="report: markup in the regime map's sweep path",
            key="base.output.reference.regime_map.sweep",
            mutate=put("base.output.reference", {"source": "paper", "regime_map": {
                "sweep": "x.yaml) <script>alert(1)</script> (", "finding": "text"}})),

]


# --- lidep homogenize (study files; a case that slipped through could not write) -------------
_STUDY = "name: h\nhomogenization: {fractions: [0.5], seeds: 2}\n"
_LEAKAGE = ("leakage: {metal: Cu, matrix_electronic_conductivity: 1e-12 S/cm, "
            "matrix_ionic_conductivity: 1e-6 S/cm, thickness: 100 nm, "
            "current_density: 0.1 mA/cm^2, exchange_current_density: 1 mA/cm^2, "
            "plating_time: 1 h}\n")
_NOWHERE = ("-o", "/proc/lidep-hostile")
CASES += [
    Hostile(label="homogenize: fraction above 1", key="homogenization.fractions.0",
            text="name: h\nhomogenization: {fractions: [1.5], seeds: 2}\n",
            command="homogenize", extra=_NOWHERE),
    Hostile(label="homogenize: negative fraction", key="homogenization.fractions.0",
            text="name: h\nhomogenization: {fractions: [-0.1], seeds: 2}\n",
            command="homogenize", extra=_NOWHERE),
    Hostile(label="homogenize: negative conductivity",
            key="leakage.matrix_electronic_conductivity",
            text=_STUDY + _LEAKAGE.replace("1e-12 S/cm", "-1e-12 S/cm"),
            command="homogenize", extra=_NOWHERE),
    Hostile(label="homogenize: negative thickness", key="leakage.thickness",
            text=_STUDY + _LEAKAGE.replace("100 nm", "-100 nm"), command="homogenize",
            extra=_NOWHERE),
    Hostile(label="homogenize: sample too large for memory", key="homogenization.box",
            text="name: h\nmicrostructure: {resolution: 50}\nhomogenization: {box: 1000, "
            "fractions: [0.5], seeds: 2}\n", command="homogenize", extra=_NOWHERE),
    Hostile(label="homogenize: spanning box too large", key="percolation.boxes.0",
            text=_STUDY + "percolation: {boxes: [10000], fractions: [0.6, 0.7], seeds: 10}\n",
            command="homogenize", extra=_NOWHERE),
    Hostile(label="homogenize: absurd seed count", key="homogenization.seeds",
            text="name: h\nhomogenization: {fractions: [0.5], seeds: 1000000000}\n",
            command="homogenize", extra=_NOWHERE),
    Hostile(label="homogenize: too many samples in all", key="homogenization.seeds",
            text="name: h\nhomogenization: {fractions: [" + ", ".join(["0.5"] * 200)
            + "], seeds: 10000}\n", command="homogenize", extra=_NOWHERE),
    Hostile(label="homogenize: hard disks beyond jamming", key="homogenization.fractions.0",
            text="name: h\nmicrostructure: {packing: hard}\nhomogenization: "
            "{fractions: [0.6], seeds: 2}\n", command="homogenize", extra=_NOWHERE),
    Hostile(label="homogenize: elongated hard particles", key="microstructure.aspect_ratio",
            text="name: h\nmicrostructure: {packing: hard, aspect_ratio: 3}\n"
            "homogenization: {fractions: [0.3], seeds: 2}\n", command="homogenize",
            extra=_NOWHERE),
    Hostile(label="homogenize: contrast beyond the solver", key="homogenization.contrast",
            text="name: h\nhomogenization: {fractions: [0.5], seeds: 2, contrast: 1e12}\n",
            command="homogenize", extra=_NOWHERE),
    Hostile(label="homogenize: physical contrast below the simulated",
            key="leakage.matrix_electronic_conductivity",
            text=_STUDY + _LEAKAGE.replace("1e-12 S/cm", "1 S/cm"), command="homogenize",
            extra=_NOWHERE),
    Hostile(label="homogenize: unknown metal", key="leakage.metal",
            text=_STUDY + _LEAKAGE.replace("metal: Cu", "metal: Xx"), command="homogenize",
            extra=_NOWHERE),
    Hostile(label="homogenize: plating time not a time", key="leakage.plating_time",
            text=_STUDY + _LEAKAGE.replace("1 h", "1 m"), command="homogenize", extra=_NOWHERE),
    Hostile(label="surface energy not positive", key="base.physics.surface_energy.gamma",
            mutate=put("base.physics.surface_energy", {"gamma": -0.5})),
    Hostile(label="surface energy without gamma", key="base.physics.surface_energy.gamma",
            mutate=put("base.physics.surface_energy", {})),
    Hostile(label="surface energy in the wrong unit", key="base.physics.surface_energy.gamma",
            mutate=put("base.physics.surface_energy", {"gamma": "0.5 J/m"})),
    Hostile(label="surface energy on first-order geometry", key="base.geometry.mesh.order",
            mutate=lambda tree: (put("base.physics.surface_energy", {"gamma": "0.5 J/m^2"})(tree),
                                 put("base.geometry.mesh", {"order": 1})(tree))),
]

CASES += [  # the moving Li surface (issue 11)
    Hostile(label="growth in a steady run", key="base.physics.growth.enabled",
            mutate=put("base.physics.growth", {"enabled": True})),
    Hostile(label="growth quality threshold out of range", key="physics.growth.min_quality",
            mutate=put("base.physics.growth", {"min_quality": 1.5})),
]

CASES += [  # contact with a rigid electrolyte (issue 11)
    Hostile(label="contact gap negative", key="physics.growth.contact_gap",
            mutate=put("base.physics.growth", {"contact_gap": "-5 nm"})),
    Hostile(label="contact gap not a length", key="physics.growth.contact_gap",
            mutate=put("base.physics.growth", {"contact_gap": "5 s"})),
    Hostile(label="rigid electrolyte not a boolean", key="physics.growth.rigid_electrolyte",
            mutate=put("base.physics.growth", {"rigid_electrolyte": "ceramic"})),
    Hostile(label="no remeshes allowed", key="physics.growth.remesh.max_remeshes",
            mutate=put("base.physics.growth", {"remesh": {"enabled": True, "max_remeshes": 0}})),
    Hostile(label="unknown remesh key", key="physics.growth.remesh.every",
            mutate=put("base.physics.growth", {"remesh": {"every": 3}})),
    Hostile(label="contact loss not a choice", key="physics.growth.contact_loss",
            mutate=put("base.physics.growth", {"contact_loss": "gap"})),
    Hostile(label="void walls under a liquid electrolyte", key="base.physics.growth.contact_loss",
            mutate=lambda tree: (
                put("base.physics.growth", {"contact_loss": "void"})(tree),
                put("base.physics.electrolyte", {
                    "type": "dilute", "bulk_concentration": "1 M", "diffusivity": 3e-10,
                    "transference_number": 0.4})(tree))),
    Hostile(label="void walls with primary kinetics", key="base.physics.growth.contact_loss",
            mutate=lambda tree: (put("base.physics.growth", {"contact_loss": "void"})(tree),
                                 put("base.physics.kinetics", {"model": "primary"})(tree))),
    Hostile(label="polyline surface crossing itself", key="surface.points",
            mutate=put("base.geometry.surface", {"kind": "polyline", "points": [
                [0.0, 1e-7], [1e-6, 2e-7], [0.5e-6, 3e-7], [0.6e-6, 1e-7], [2e-6, 1e-7]]})),
    Hostile(label="polyline surface not at the sides", key="surface.points",
            mutate=put("base.geometry.surface", {"kind": "polyline", "points": [
                [1e-7, 1e-7], [1e-6, 2e-7], [1.5e-6, 3e-7], [2e-6, 1e-7]]})),
]

CASES += [  # the interphase thickening from its leakage (issue 11)
    Hostile(label="thickening without molar volume",
            key="physics.growth.interphase_thickening.molar_volume",
            mutate=put("base.physics.growth", {"interphase_thickening": {"enabled": True}})),
    Hostile(label="thickening molar volume not a volume",
            key="physics.growth.interphase_thickening.molar_volume",
            mutate=put("base.physics.growth", {"interphase_thickening": {
                "enabled": True, "molar_volume": "9.8 cm^2/mol"}})),
    Hostile(label="thickening with remeshing",
            key="physics.growth.interphase_thickening.enabled",
            mutate=put("base.physics.growth", {
                "remesh": {"enabled": True},
                "interphase_thickening": {"enabled": True, "molar_volume": "9.8 cm^3/mol"}})),
]

CASES += [  # split meshes (issue 14)
    Hostile(label="split 3D mesh", key="base.geometry.mesh.split",
            overrides=("base.geometry.dimension=3", "base.geometry.mesh.split=1")),
    Hostile(label="split four times", key="base.geometry.mesh.split",
            mutate=put("base.geometry.mesh", {"split": 4})),
]

def _config_file(tmp_path: Path, case: Hostile) -> Path:
    path = tmp_path / "hostile.yaml"
    if isinstance(case.text, bytes):
        path.write_bytes(case.text)
    elif case.text is not None:
        path.write_text(case.text, encoding="utf-8")
    else:
        tree = yaml.safe_load(MINIMAL.read_text())
        if case.mutate is not None:
            case.mutate(tree)
        path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_hostile_input_is_exit_2_naming_the_key(case: Hostile, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sentinel").write_text("untouched")
    config = _config_file(tmp_path, case)
    argv = [case.command, str(config), *(f"--set={s}" for s in case.overrides), *case.extra]
    if case.command == "run":
        argv += ["-o", str(out), "--mesh-cache", str(tmp_path / "meshes")]
    code = main(argv)
    stdout, stderr = capsys.readouterr()
    assert code == 2, stdout + stderr
    assert "Traceback" not in stdout + stderr
    naming = [line for line in stderr.splitlines() if case.key in line]
    assert len(naming) == 1, stderr
    assert naming[0].count(case.key) == 1, naming[0]
    assert sorted(p.name for p in out.iterdir()) == ["sentinel"]
