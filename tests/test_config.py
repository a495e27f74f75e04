"""Run configuration: loading, units, --set overrides, case merging and error messages.

Every rejection test checks the message line names the key path, the offending value and what
is allowed, so a message that loses one of them fails.
"""

from __future__ import annotations

import json
import pickle
import re
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

import solver  # noqa: F401  (MPI import order)
from solver.config import (
    MAX_YAML_ALIASES,
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    RESERVED_CASE_NAMES,
    CaseConfig,
    ConfigError,
    apply_overrides,
    deep_merge,
    load_config,
    markdown_reference,
    merge_patch,
    read_yaml,
    resolved_cases,
    resolved_tree,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "configs" / "examples").glob("*.yaml"))


@pytest.fixture
def raw() -> dict:
    """A small valid run tree (single-ion electrolyte, one 20 nm layer named 'sei')."""
    return {
        "name": "unit",
        "base": {
            "geometry": {"domain": {"width": "2 um", "length": "10 um"},
                         "layers": [{"name": "sei", "thickness": "20 nm"}]},
            "physics": {"electrolyte": {"type": "single_ion", "conductivity": "1e-4 S/cm"},
                        "interphase": {"sei": {"conductivity": "1e-6 S/cm"}},
                        "control": {"mode": "galvanostatic", "current_density": "0.5 mA/cm^2"}},
        },
    }


def problems(source, overrides=()) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(source, overrides)
    return info.value.problems


def only(lines: list[str]) -> str:
    assert len(lines) == 1, lines
    return lines[0]


# -- valid configs ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configs_validate(path):
    run = load_config(path)
    assert resolved_cases(run)


def test_units_converted_to_si(raw):
    case = resolved_cases(load_config(raw))["main"]
    # exact conversions: 2 um, 10 um, 20 nm, 1e-4 S/cm = 1e-2 S/m, 0.5 mA/cm^2 = 5 A/m^2.
    # abs=0 throughout: pytest.approx's default abs=1e-12 would loosen rel=1e-12 to 2e-4 relative
    # for 5 nm and 1e-8 for 1e-4 S/m.
    assert case.geometry.domain.width == pytest.approx(2e-6, rel=1e-12, abs=0)
    assert case.geometry.domain.length == pytest.approx(10e-6, rel=1e-12, abs=0)
    assert case.geometry.layers[0].thickness == pytest.approx(20e-9, rel=1e-12, abs=0)
    assert case.physics.electrolyte.conductivity == pytest.approx(1e-2, rel=1e-12, abs=0)
    assert case.physics.interphase["sei"].conductivity == pytest.approx(1e-4, rel=1e-12, abs=0)
    assert case.physics.control.current_density == pytest.approx(5.0, rel=1e-12, abs=0)


def test_yaml_exponent_without_dot_is_a_number(tmp_path, raw):
    # PyYAML (YAML 1.1) reads 2e-6 as a string; the loader reads it as the number it means.
    text = yaml.safe_dump(raw).replace("2 um", "2e-6")
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert read_yaml(path)["base"]["geometry"]["domain"]["width"] == 2e-6
    assert resolved_cases(load_config(path))["main"].geometry.domain.width == 2e-6


def test_no_cases_gives_main(raw):
    assert list(resolved_cases(load_config(raw))) == ["main"]


def test_resolved_tree_round_trips(raw):
    raw["cases"] = {"a": {}, "b": {"geometry": {"domain": {"length": "20 um"}, "layers": []},
                                   "physics": {"interphase": {"sei": None}}}}
    run = load_config(raw)
    tree = resolved_tree(run)
    assert tree["base"]["geometry"]["domain"]["length"] == pytest.approx(1e-5, rel=1e-12, abs=0)
    assert tree["base"]["numerics"]["degree"] == 2  # defaults filled in
    assert tree["cases"]["a"] == {}
    assert tree["cases"]["b"]["physics"] == {"interphase": {"sei": None}}
    again = resolved_cases(load_config(tree))
    assert list(again) == ["a", "b"]
    for name, case in resolved_cases(run).items():
        assert again[name] == case
    assert yaml.safe_load(yaml.safe_dump(tree)) == tree  # plain YAML, no Python tags


# -- --set overrides ----------------------------------------------------------------------------


def test_set_parses_yaml_scalars(raw):
    tree = apply_overrides(raw, ["geometry.domain.length=20um", "numerics.degree=1",
                                 "output.figure_times=[1, 2.5]", "description=hello world"])
    assert tree["base"]["geometry"]["domain"]["length"] == "20um"  # a string with units
    assert tree["base"]["numerics"]["degree"] == 1  # an int
    assert tree["base"]["output"]["figure_times"] == [1, 2.5]  # a list
    assert tree["description"] == "hello world"
    assert raw["base"]["geometry"]["domain"]["length"] == "10 um"  # input not modified
    case = resolved_cases(load_config(raw, ["geometry.domain.length=20um"]))["main"]
    assert case.geometry.domain.length == pytest.approx(20e-6, rel=1e-12, abs=0)


def test_set_list_index(raw):
    case = resolved_cases(load_config(raw, ["geometry.layers.0.thickness=5 nm"]))["main"]
    assert case.geometry.layers[0].thickness == pytest.approx(5e-9, rel=1e-12, abs=0)
    line = only(problems(raw, ["geometry.layers.3.thickness=5 nm"]))
    assert line.startswith("geometry.layers.3: --set indexes past the end")


def test_set_section_key_wins_over_cases(raw):
    raw["cases"] = {"short": {"geometry": {"domain": {"length": "5 um"}}}, "plain": {}}
    cases = resolved_cases(load_config(raw, ["geometry.domain.length=30 um"]))
    assert cases["short"].geometry.domain.length == pytest.approx(30e-6, rel=1e-12, abs=0)
    assert cases["plain"].geometry.domain.length == pytest.approx(30e-6, rel=1e-12, abs=0)
    one = resolved_cases(load_config(raw, ["cases.short.geometry.domain.length=7 um"]))
    assert one["short"].geometry.domain.length == pytest.approx(7e-6, rel=1e-12, abs=0)
    assert one["plain"].geometry.domain.length == pytest.approx(10e-6, rel=1e-12, abs=0)


def test_set_names_an_existing_case(raw):
    # Before: --set cases.<typo>.… silently created a case of that name.
    line = only(problems(raw, ["cases.fast.numerics.degree=1"]))
    assert line.startswith("cases.fast: --set names a case the file does not have (got 'fast')")
    assert "allowed: no case" in line
    raw["cases"] = {"short": {}, "plain": {}}
    line = only(problems(raw, ["cases.shrot.numerics.degree=1"]))
    assert line == ("cases.shrot: --set names a case the file does not have (got 'shrot'); "
                    "allowed: short, plain")
    assert list(resolved_cases(load_config(raw, ["cases.new={numerics: {degree: 1}}"]))) == [
        "short", "plain", "new"]  # a whole case may be added explicitly


@pytest.mark.parametrize("broken", [
    {"base": 1}, {"base": None}, {"cases": "x"}, {"cases": [1]},
    {"base": {"geometry": {"layers": [1]}}},
])
def test_set_on_a_tree_that_is_not_a_mapping(raw, broken):
    # Before: AttributeError/TypeError (exit 1) when --set walked through a scalar, a list or
    # non-mapping cases; now the --set applies (a value on the way becomes a mapping) and the
    # rest of the file is validated as usual.
    raw.update(broken)
    lines = problems(raw, ["geometry.layers.0.thickness=5 nm", "numerics.degree=1"])
    assert lines and all(": " in line and "; allowed: " in line for line in lines)


def test_set_unknown_path_is_named(raw):
    line = only(problems(raw, ["geometry.domain.widht=3um"]))
    assert line.startswith("geometry.domain.widht: --set names an unknown key 'widht'")
    assert "did you mean 'width'?" in line
    assert "(got '3um')" in line
    assert "allowed: width, depth, length, lateral" in line
    assert only(problems(raw, ["nmae=x"])).startswith("nmae: --set names an unknown key")
    assert only(problems(raw, ["cases.a.geometry.foo=1"])).startswith("cases.a.geometry.foo:")


def test_set_malformed(raw):
    assert "not of the form KEY=VALUE" in only(problems(raw, ["geometry.domain.width"]))
    assert "invalid YAML" in only(problems(raw, ["geometry.domain.width=[1,"]))


# -- cases --------------------------------------------------------------------------------------


SINGLE_ION = {"type": "single_ion", "conductivity": 1.0}
DILUTE = {"type": "dilute", "bulk_concentration": 1000.0, "diffusivity": 3e-10,
          "transference_number": 0.4}


def test_deep_merge_rules():
    schema = (CaseConfig,)
    base = {"output": {"formats": ["xdmf", "vtx"], "hotspot_factor": 3.0},
            "physics": {"electrolyte": SINGLE_ION, "counter": {"type": "reservoir"}}}
    merged = deep_merge(base, {"output": {"formats": ["vtkhdf"]}}, schema)
    assert merged["output"] == {"formats": ["vtkhdf"], "hotspot_factor": 3.0}  # lists replace
    assert deep_merge(base, {"output": {"hotspot_factor": None}}, schema)["output"] == {
        "formats": ["xdmf", "vtx"]}  # null removes the key: its default applies
    # another electrolyte class replaces the mapping (its keys differ) ...
    assert deep_merge(base, {"physics": {"electrolyte": DILUTE}}, schema)["physics"][
        "electrolyte"] == DILUTE
    # ... the same class merges
    assert deep_merge(base, {"physics": {"electrolyte": {"conductivity": 2.0}}}, schema)[
        "physics"]["electrolyte"] == {"type": "single_ion", "conductivity": 2.0}
    # 'type' of a mapping that is not a union of models is an ordinary key: mappings merge
    counter = {"physics": {"counter": {"type": "li_electrode"}}}
    assert deep_merge({"physics": {"counter": {"type": "reservoir", "kinetics": {}}}}, counter,
                      schema)["physics"]["counter"] == {"type": "li_electrode", "kinetics": {}}
    assert base["output"]["formats"] == ["xdmf", "vtx"]  # inputs untouched


def test_merge_patch_inverts_deep_merge():
    schema = (CaseConfig,)
    base = {"output": {"formats": ["xdmf"], "hotspot_factor": 3.0, "percentile": 90.0},
            "physics": {"electrolyte": SINGLE_ION}}
    target = {"output": {"formats": ["xdmf"], "hotspot_factor": 4.0},
              "physics": {"electrolyte": DILUTE}, "numerics": {"degree": 1}}
    patch = merge_patch(base, target, schema)
    assert patch == {"output": {"hotspot_factor": 4.0, "percentile": None},
                     "physics": {"electrolyte": DILUTE}, "numerics": {"degree": 1}}
    assert deep_merge(base, patch, schema) == target


def test_case_changes_the_electrolyte_class(raw):
    raw["cases"] = {"ceramic": {}, "liquid": {"physics": {"electrolyte": DILUTE}}}
    cases = resolved_cases(load_config(raw))
    assert cases["ceramic"].physics.electrolyte.type == "single_ion"
    assert cases["liquid"].physics.electrolyte.type == "dilute"
    assert cases["liquid"].physics.electrolyte.bulk_concentration == 1000.0


def test_multi_case_merge(raw):
    raw["base"]["geometry"]["layers"] = []
    raw["base"]["physics"]["interphase"] = {}
    raw["cases"] = {
        "bare": {},
        "thick": {"geometry": {"layers": [{"name": "sei", "thickness": "50 nm"}]},
                  "physics": {"interphase": {"sei": {"conductivity": 1e-4}}}},
    }
    cases = resolved_cases(load_config(raw))
    assert list(cases) == ["bare", "thick"]
    assert cases["bare"].geometry.region_names() == []
    assert cases["thick"].geometry.layers[0].thickness == pytest.approx(50e-9, rel=1e-12, abs=0)
    assert cases["thick"].physics.interphase["sei"].conductivity == 1e-4
    # keys the cases do not set come from the base
    assert cases["bare"].physics.electrolyte == cases["thick"].physics.electrolyte
    assert cases["thick"].geometry.domain.width == pytest.approx(2e-6, rel=1e-12, abs=0)


def test_case_removing_a_layer_keeps_the_base_material(raw):
    # lists replace, mappings merge: dropping the layer leaves the base's 'sei' material
    raw["cases"] = {"bare": {"geometry": {"layers": []}}}
    line = only(problems(raw))
    assert line.startswith("cases.bare.physics.interphase.sei: material for a region")
    raw["cases"]["bare"]["physics"] = {"interphase": {"sei": None}}  # null removes it
    assert resolved_cases(load_config(raw))["bare"].physics.interphase == {}


def test_case_errors_point_at_the_case(raw):
    raw["cases"] = {"good": {}, "bad": {"geometry": {"domain": {"length": "-1 um"}}}}
    line = only(problems(raw))
    assert line.startswith("cases.bad.geometry.domain.length: Input should be greater than 0")
    assert "(got '-1 um')" in line


# -- rejections: one line naming key path, value and what is allowed ------------------------------


def test_typo_key_suggests_the_closest(raw):
    raw["base"]["geometry"]["domian"] = raw["base"]["geometry"].pop("domain")
    line = only(problems(raw))
    assert line.startswith("base.geometry.domian: unknown key (did you mean 'domain'?)")
    assert "(got {" in line
    assert "allowed: " in line and "domain" in line.split("allowed: ")[1]


def test_wrong_type(raw):
    raw["base"]["numerics"] = {"degree": "two"}
    line = only(problems(raw))
    assert line.startswith("base.numerics.degree: ")
    assert "(got 'two')" in line and "allowed: 1 or 2" in line


def test_non_physical_value(raw):
    raw["base"]["geometry"]["domain"]["width"] = "-2 um"
    line = only(problems(raw))
    assert line.startswith("base.geometry.domain.width: Input should be greater than 0")
    assert "(got '-2 um')" in line and "allowed: length in m" in line and "(> 0)" in line


def test_wrong_dimension(raw):
    raw["base"]["geometry"]["layers"][0]["thickness"] = "20 s"
    line = only(problems(raw))
    assert line.startswith("base.geometry.layers.0.thickness: '20 s' has dimension [time]")
    assert "allowed: length in m" in line


def test_unknown_unit(raw):
    raw["base"]["physics"]["electrolyte"]["conductivity"] = "1e-4 S/blorp"
    line = only(problems(raw))
    assert line.startswith("base.physics.electrolyte.conductivity: unknown unit")
    assert "(got '1e-4 S/blorp')" in line and "allowed: conductivity in S/m" in line


def test_wrong_variant_tag(raw):
    raw["base"]["physics"]["electrolyte"]["type"] = "ceramic"
    line = only(problems(raw))
    assert line.startswith("base.physics.electrolyte: ")
    assert "'ceramic'" in line and "allowed: 'type' one of 'single_ion'" in line


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "", "x y", "/abs"])
def test_unsafe_run_name(raw, name):
    raw["name"] = name
    line = only(problems(raw))
    assert line.startswith("name: ") and f"(got {name!r})" in line


def test_unsafe_case_name(raw):
    raw["cases"] = {"../up": {}}
    line = only(problems(raw))
    assert line.startswith("cases.../up: invalid name") and "allowed: a string (matching" in line


def test_several_problems_reported_at_once(raw):
    raw["base"]["geometry"]["domain"]["width"] = "-2 um"
    raw["base"]["numerics"] = {"degree": 3, "bogus": 1}
    lines = problems(raw)
    assert len(lines) == 3
    assert {line.split(":")[0] for line in lines} == {
        "base.geometry.domain.width", "base.numerics.degree", "base.numerics.bogus"}


def test_interphase_material_for_every_region(raw):
    raw["base"]["physics"]["interphase"] = {}
    line = only(problems(raw))
    assert line.startswith("base.physics.interphase: no material for interphase region 'sei'")
    assert "allowed: one material per interphase region of the geometry: ['sei']" in line
    raw["base"]["physics"]["interphase"] = {"sei": {"conductivity": 1.0}, "lif": {
        "conductivity": 1.0}}
    line = only(problems(raw))
    assert line.startswith("base.physics.interphase.lif: material for a region the geometry")


def test_geometry_non_physical_combination(raw):
    # a layer thicker than the whole domain: a model-level rule of the geometry owner
    raw["base"]["geometry"]["layers"][0]["thickness"] = "20 um"
    line = only(problems(raw))
    assert line.startswith("base.geometry.layers: ")  # the validator's key path appended
    assert "2e-05" in line and "allowed: " in line


@pytest.mark.parametrize(("voids", "got", "allowed"), [
    ({"kind": "contact_fraction", "contact_fraction": 0}, "(got 0)", "a number (> 0.0, <= 1.0)"),
    ({"kind": "contact_fraction", "contact_fraction": 1.5}, "(got 1.5)", "a number (> 0.0"),
    ({"kind": "contact_fraction"}, "(got nothing)", "a number (> 0.0, <= 1.0)"),
])
def test_contact_fraction_message_names_the_key_once(raw, voids, got, allowed):
    # Before: "base.geometry.voids.contact_fraction.contact_fraction: ...; allowed: any value"
    # (the union's tag was taken for a key, and the type behind it was lost).
    raw["base"]["geometry"]["voids"] = voids
    line = only(problems(raw))
    assert line.startswith("base.geometry.voids.contact_fraction: ")
    assert line.count("contact_fraction") == 1
    assert got in line and f"allowed: {allowed}" in line and "any value" not in line


def test_model_validator_message_names_the_key(raw):
    # Before: "base.time: time.t_end is required ... (got the keys named); allowed: ..."
    raw["base"]["time"] = {"mode": "transient"}
    assert only(problems(raw)) == (
        "base.time.t_end: required when time.mode is 'transient' (got nothing); "
        "allowed: values consistent with each other")
    raw["base"]["time"] = {"mode": "transient", "t_end": 10, "output_times": [20]}
    line = only(problems(raw))
    assert line.startswith("base.time.output_times: must lie in [0, t_end=10.0] (got [20.0]); ")
    assert line.count("(got") == 1


def test_validator_with_its_own_got_is_not_given_another(raw):
    raw["base"]["output"] = {"figure_times": [-1]}
    line = only(problems(raw))
    assert line.startswith("base.output.figure_times: figure times must be >= 0 s (got [-1.0]); "
                           "allowed: ")
    assert line.count("(got") == 1


# -- YAML safety and syntax -----------------------------------------------------------------------


def test_python_tags_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: x\nbase: !!python/object/apply:os.system ['touch {marker}']\n")
    line = only(problems(path))
    assert line.startswith(f"{path}:2:7: invalid YAML: could not determine a constructor")
    assert not marker.exists()


def test_yaml_syntax_error_gives_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nbase:\n  geometry: {domain: [}\n")
    assert only(problems(path)).startswith(f"{path}:3:")


def test_duplicate_keys_refused(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: x\nname: y\n")
    line = only(problems(path))
    assert line.startswith(f"{path}:2:1:") and "duplicate key 'name' (first at line 1)" in line


@pytest.mark.parametrize("key", ["[a, b]", "{a: 1}"])
def test_collection_as_key_refused(tmp_path, key):
    # Before: TypeError (unhashable) escaped the loader, exit 1.
    path = tmp_path / "key.yaml"
    path.write_text(f"name: x\n? {key}\n: 1\n")
    line = only(problems(path))
    assert line.startswith(f"{path}:2:3: invalid YAML: while reading a mapping found a ")
    assert " as a key; allowed: " in line


def test_missing_file(tmp_path):
    assert "cannot read the config file" in only(problems(tmp_path / "nope.yaml"))


def _laughs(levels: int = 9) -> str:
    """A "billion laughs" alias bomb of about 500 bytes: 9**levels strings once expanded."""
    text = "name: bomb\nl0: &l0 [" + ",".join(["lol"] * 9) + "]\n"
    for i in range(1, levels + 1):
        text += f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]\n"
    return text + f"description: *l{levels}\n"


def test_billion_laughs_rejected_at_once_with_bounded_memory(tmp_path):
    # Expanded, the bomb holds 9**9 = 3.9e8 strings: > 3 GB of list slots alone (the
    # description's message would json-dump all of it). The limit is checked while composing,
    # from each node's children, so nothing is expanded: peak traced memory stays below
    # 10 MB (a 500-byte file; the limit leaves 1000x room for PyYAML's own nodes) and the
    # rejection takes well under a second (2 s allows for a loaded machine).
    path = tmp_path / "bomb.yaml"
    path.write_text(_laughs())
    assert len(path.read_bytes()) < 600
    tracemalloc.start()
    start = time.perf_counter()
    try:
        lines = problems(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - start < 2.0
    assert peak < 10e6, peak
    line = only(lines)
    assert line.startswith(f"{path}:") and f"more than {MAX_YAML_NODES} values" in line


def test_aliases_within_the_limits_still_work(tmp_path, raw):
    path = tmp_path / "anchors.yaml"
    text = yaml.safe_dump(raw).replace("10 um", "&w 10 um").replace("2 um", "*w")
    path.write_text(text)
    domain = resolved_cases(load_config(path))["main"].geometry.domain
    assert domain.width == domain.length == pytest.approx(1e-5, rel=1e-12, abs=0)


@pytest.mark.parametrize(("text", "what"), [
    ("name: x\nbase: &b {cases: [*b]}\n", "an alias refers to a node that contains it"),
    ("name: x\na: &a [1]\nb: [" + ",".join(["*a"] * (MAX_YAML_ALIASES + 1)) + "]\n",
     f"more than {MAX_YAML_ALIASES} aliases"),
    ("name: x\nbase: " + "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1) + "\n",
     f"nested more than {MAX_YAML_DEPTH} levels deep"),
    # deep only with its aliases expanded: 20 + 20 levels
    ("name: x\na: &a " + "[" * 20 + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n",
     f"nested more than {MAX_YAML_DEPTH} levels deep with its aliases expanded"),
])
def test_yaml_limits(tmp_path, text, what):
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    line = only(problems(path))
    assert line.startswith(f"{path}:") and what in line and "; allowed: " in line


@pytest.mark.parametrize(("value", "reason"), [
    ("9" * 5000, "Exceeds the limit (4300 digits) for integer string conversion"),
    ("2024-13-45", "month must be in 1..12"),
])
def test_unconvertible_scalar_is_a_yaml_error(tmp_path, value, reason):
    # Before: Python's ValueError escaped the loader (exit 1, not 2).
    path = tmp_path / "scalar.yaml"
    path.write_text(f"name: x\ndescription: {value}\n")
    assert only(problems(path)).startswith(
        f"{path}:2:14: invalid YAML: cannot convert the value ({reason}")


def test_file_size_limit(tmp_path, raw):
    path = tmp_path / "big.yaml"
    text = yaml.safe_dump(raw)
    path.write_text(text + "#" * (MAX_YAML_BYTES - len(text)))
    load_config(path)  # exactly at the limit
    path.write_text(text + "#" * (MAX_YAML_BYTES - len(text) + 1))
    assert only(problems(path)) == (
        f"{path}: the config file is too large (got more than {MAX_YAML_BYTES} bytes); allowed: "
        f"at most {MAX_YAML_BYTES} bytes")


def test_set_values_have_the_same_limits(raw):
    line = only(problems(raw, ["description=" + "[" * 40 + "]" * 40]))
    assert line.startswith("--set description:1:") and "nested more than" in line
    line = only(problems(raw, ["description=" + "x" * (MAX_YAML_BYTES + 1)]))
    assert line.startswith("--set description: too large")


def test_non_utf8_file_names_the_path(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    assert only(problems(path)) == (
        f"{path}: not UTF-8 text (got byte 0xe9 at offset 9); allowed: a UTF-8 encoded YAML file")


def test_config_error_pickles():
    # errors travel between MPI ranks by pickling
    error = pickle.loads(pickle.dumps(ConfigError(["a: x", "b: y"])))
    assert error.problems == ["a: x", "b: y"] and str(error) == "a: x\nb: y"


# -- paths: nothing a config sets escapes the output root ------------------------------------------


def test_names_at_the_edge_of_the_rules_keep_every_file_inside(tmp_path, monkeypatch):
    # README: "a run name can never place output outside the output directory". Every file
    # name a config influences: the run name (longest allowed, dots and dashes), case names
    # (dots, '_'), field names and formats and figure names (defaults: all on); the mesh cache
    # file is named by a hash. A real run, from an empty working directory.
    from solver.cli import main

    work, root, cache = tmp_path / "cwd", tmp_path / "out", tmp_path / "meshes"
    work.mkdir()
    monkeypatch.chdir(work)
    name = "r." + "-" * 97 + "z"
    tree = yaml.safe_load((ROOT / "configs" / "examples" / "minimal.yaml").read_text())
    tree["name"] = name
    tree["cases"] = {"a..b": {}, "_": {"geometry": {"domain": {"length": "12 um"}}}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tree))
    assert main(["run", str(config), "-o", str(root), "--mesh-cache", str(cache)]) == 0
    written = {p for p in tmp_path.rglob("*") if p.is_file()}
    run_dir = root / name
    outside = {p for p in written if run_dir not in p.parents and cache not in p.parents}
    assert outside == {config}
    assert {p.name for p in root.iterdir()} == {name}
    assert {p.name for p in run_dir.iterdir() if p.is_dir()} == {"a..b", "_", "figures"}
    assert list(work.iterdir()) == []
    assert all(re.fullmatch(r"[0-9a-f]{16}\.msh", p.name) for p in cache.iterdir())


@pytest.mark.parametrize("name", ["../x", "a/b", "/abs", ".", "..", ".hidden", "-rf", "a\x00b",
                                  "a\nb", "a" * 101, "ａｂｃ", "\u0430bc", "a\u2215b", "ab\u2024c",
                                  "abc\u200b", "~", "C:\\x"])
def test_unsafe_names_by_file_and_set(raw, name):
    for source, overrides in ((dict(raw, name=name), ()), (raw, [f"name={json.dumps(name)}"])):
        line = only(problems(source, overrides))
        assert line.startswith("name: ") and f"(got {name!r}"[:40] in line
        assert "; allowed: a string (matching ^[A-Za-z0-9_][A-Za-z0-9_.-]*$, at most 100 long)" \
            in line
    raw["cases"] = {name: {}}
    line = only(problems(raw))
    assert line.startswith(f"cases.{name if name.isprintable() else repr(name)}: invalid name")
    assert f"(got {name!r}"[:40] in line


@pytest.mark.parametrize("name", sorted(RESERVED_CASE_NAMES))
def test_case_names_of_run_files_refused(raw, name):
    raw["cases"] = {name: {}}
    assert only(problems(raw)).startswith(
        f"cases.{name}: invalid name: a file or folder of the run directory cannot name a case")


# -- reference documentation ----------------------------------------------------------------------


def test_docs_config_md_is_generated_from_the_schema():
    committed = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == markdown_reference(), (
        "docs/config.md is stale: regenerate with "
        "`.venv/bin/lidep schema --markdown > docs/config.md`"
    )


def test_reference_lists_every_key_with_unit():
    text = markdown_reference()
    for row in ("| `name` |", "| `geometry.domain.width` | length (> 0) | m |",
                "| `physics.interphase.<name>.conductivity` |",
                "| `geometry.layers[i].thickness` |"):
        assert row in text, row
    assert text.count("| key | type | unit | default | description |") == 6
