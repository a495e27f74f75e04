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


CASES: list[Hostile] = [
    # --- PETSc options and YAML limits -----------------------------------------------------------

    # --- expressions and tables ------------------------------------------------------------------

    # --- physically impossible input (physics) ---------------------------------------------------

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

    # --- output root -----------------------------------------------------------------------------

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
