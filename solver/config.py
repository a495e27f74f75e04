"""Run configuration: YAML loading, ``--set`` overrides, case merging, validation and messages.

A run file holds a ``name``, a ``description``, a complete ``base`` case and optional ``cases``,
each a partial case deep-merged onto the base (mappings merge, lists and scalars replace; a
mapping whose discriminator, e.g. ``shape``, changes replaces the base mapping instead of
merging into it). A file without ``cases`` has one case, ``main``::

    name: lif_vs_bare
    base: {geometry: {...}, physics: {...}, time: {...}, numerics: {...}, output: {...}}
    cases:
      bare: {physics: {...}}
      lif_rich: {physics: {...}}

``null`` in a case removes the key from the base (its default applies), e.g.
``physics: {interphase: {sei: null}}``.

Every problem found is reported at once as a :class:`ConfigError`, one line per problem::

    <key path>: <what is wrong> (got <value>); allowed: <what is allowed>

where the key path is ``base.<path>`` for the base, ``cases.<name>.<path>`` for a merged case
and the top-level key otherwise.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import types
import typing
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, ValidationError
from pydantic.fields import FieldInfo

from solver.case_checks import case_problems
from solver.geometry.spec import GeometryConfig
from solver.model_spec import NumericsConfig, PhysicsConfig, TimeConfig
from solver.output_spec import OutputConfig
from solver.schema import StrictModel
from solver.units import DIMENSIONS, to_si

__all__ = [
    "RESERVED_CASE_NAMES",
    "CaseConfig",
    "CaseName",
    "ConfigError",
    "RunConfig",
    "SafeName",
    "apply_overrides",
    "deep_merge",
    "load_config",
    "markdown_reference",
    "merge_patch",
    "read_yaml",
    "resolved_cases",
    "resolved_tree",
    "validate",
]

#: Name of the single case of a run file without ``cases``.
DEFAULT_CASE = "main"

_SAFE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"

#: Entries of a run directory beside the case directories: a case may not take their names.
RESERVED_CASE_NAMES = frozenset({"FAILED", "config.resolved.yaml", "figures", "manifest.json",
                                 "metrics.json", "report.html", "report.md", "run.log"})


class ConfigError(ValueError):
    """Invalid configuration; ``str(error)`` is one line per problem.

    Attributes:
        problems: The problem lines, each ``<key path>: <what> (got <value>); allowed: <...>``.
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[str]]]:
        return type(self), (self.problems,)


def _not_reserved(name: str) -> str:
    if name in RESERVED_CASE_NAMES:
        raise ValueError("a file or folder of the run directory cannot name a case")
    return name


SafeName = Annotated[
    str, StringConstraints(pattern=_SAFE_NAME_PATTERN, min_length=1, max_length=100)
]
"""A directory-safe name: letters, digits, ``_``, ``.`` and ``-``, not starting with ``.`` or
``-`` (so never ``.``, ``..``, a hidden or temporary directory, or an option-like name)."""

CaseName = Annotated[SafeName, AfterValidator(_not_reserved)]
"""A :data:`SafeName` that is not one of :data:`RESERVED_CASE_NAMES`."""


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


def _section(model: type[BaseModel], description: str) -> Any:
    """Field for a config section; it defaults to ``model()`` when all its keys have defaults."""
    if all(not info.is_required() for info in model.model_fields.values()):
        return Field(default_factory=model, description=description)
    return Field(description=description)


class CaseConfig(StrictModel):
    """One simulated case: geometry, physics, time stepping, numerics and outputs (SI units)."""

    geometry: GeometryConfig = _section(
        GeometryConfig, "Domain, Li surface features, interphase layers, voids and mesh sizes."
    )
    physics: PhysicsConfig = _section(
        PhysicsConfig,
        "Electrolyte, interphase materials (one per interphase region of the geometry), "
        "kinetics, counter electrode, control and temperature.",
    )
    time: TimeConfig = _section(
        TimeConfig, "Steady or transient mode, end time, step, scheme and output times."
    )
    numerics: NumericsConfig = _section(
        NumericsConfig, "Element degree, nonlinear and linear solvers, tolerances."
    )
    output: OutputConfig = _section(
        OutputConfig, "Fields and formats written, hotspot metrics and report options."
    )


class RunConfig(StrictModel):
    """A run file: a name, a base case and optional cases that override parts of it."""

    name: SafeName = Field(
        description="Run name; the run directory is <output root>/<name>. Letters, digits, "
        "'_', '.' and '-' only (no path separators), starting with a letter, digit or '_'."
    )
    description: str = Field("", description="Free text describing the run (kept in reports).")
    base: CaseConfig = _section(
        CaseConfig, "The complete case shared by all cases; each case overrides parts of it."
    )
    cases: dict[CaseName, dict[str, Any]] = Field(
        default_factory=dict,
        description="Case name -> partial case (any keys of 'base') deep-merged onto 'base': "
        "mappings merge, lists and values replace, null removes a key of 'base' (its default "
        "applies). Empty: one case named 'main' equal to 'base'. Case names follow the rules "
        "of 'name' and are not a file of the run directory (metrics.json, figures, ...).",
    )


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------


#: Largest config file or ``--set`` value read, in bytes (1 MiB; the examples are < 10 kB).
MAX_YAML_BYTES = 1 << 20
#: Most aliases (``*name``) in one file or ``--set`` value.
MAX_YAML_ALIASES = 100
#: Most nodes (mappings, lists, scalars, keys) of the tree with every alias expanded.
MAX_YAML_NODES = 100_000
#: Deepest nesting of mappings and lists, aliases expanded.
MAX_YAML_DEPTH = 32


class _YamlLimitError(Exception):
    """A YAML text exceeds one of the limits above.

    Raised while composing, before any value is constructed, so that a "billion laughs" alias
    bomb never expands in memory.
    """

    def __init__(self, mark: yaml.Mark | None, what: str, allowed: str):
        super().__init__(what)
        self.mark, self.what, self.allowed = mark, what, allowed


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with YAML 1.2 floats (``1e-8``), duplicate keys refused and limits.

    PyYAML follows YAML 1.1, where ``1e-8`` (no dot) is a string; in a config it is meant
    as a number. No tag that constructs Python objects is known to this loader. Composing
    counts aliases and, for every node, the size and depth it would have with its aliases
    expanded (from its children's, so nothing is expanded): :data:`MAX_YAML_ALIASES`,
    :data:`MAX_YAML_NODES` and :data:`MAX_YAML_DEPTH` are checked as the nodes are read.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0
        self._open = 0  # collections being composed (the nesting depth of the text)
        self._extent: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Compose one node, checking the limits (see the class)."""
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _YamlLimitError(mark, f"more than {MAX_YAML_ALIASES} aliases",
                                      f"at most {MAX_YAML_ALIASES} aliases (*name)")
            target = self.anchors.get(self.peek_event().anchor)
            if target is not None and id(target) not in self._extent:  # still being composed
                raise _YamlLimitError(mark, "an alias refers to a node that contains it",
                                      "aliases of complete nodes (no cycles)")
        self._open += 1
        if self._open > MAX_YAML_DEPTH:
            raise _YamlLimitError(mark, f"nested more than {MAX_YAML_DEPTH} levels deep",
                                  f"at most {MAX_YAML_DEPTH} levels of mappings and lists")
        node = super().compose_node(parent, index)
        self._open -= 1
        if id(node) not in self._extent:
            extents = [self._extent[id(child)] for child in self._children(node)]
            self._extent[id(node)] = (1 + sum(size for size, _ in extents),
                                      1 + max((depth for _, depth in extents), default=0))
        size, depth = self._extent[id(node)]
        if size > MAX_YAML_NODES:
            raise _YamlLimitError(mark, f"more than {MAX_YAML_NODES} values once its aliases are "
                                  "expanded", f"at most {MAX_YAML_NODES} values")
        if depth > MAX_YAML_DEPTH:
            raise _YamlLimitError(mark, f"nested more than {MAX_YAML_DEPTH} levels deep with its "
                                  "aliases expanded", f"at most {MAX_YAML_DEPTH} levels")
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Construct a value; a scalar Python cannot convert is a YAML error at its position.

        E.g. an integer beyond Python's digit limit (4300) or a date like ``2024-13-45``.
        """
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as err:
            reason = str(err).split(";")[0]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot convert the value ({reason})", node.start_mark
            ) from err

    @staticmethod
    def _children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.MappingNode):
            return [item for pair in node.value for item in pair]
        return list(node.value) if isinstance(node, yaml.SequenceNode) else []


_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _construct_mapping_no_duplicates(loader: _SafeLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"found a {type(key).__name__} as a key", key_node.start_mark,
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"found duplicate key {key!r} (first at line {seen[key].line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node)


_SafeLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping_no_duplicates)


def _parse_yaml(text: str, origin: str) -> Any:
    """Parse ``text`` (read from ``origin``, a file or ``--set KEY=VALUE``) within the limits."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_YAML_BYTES:
        raise ConfigError([f"{origin}: too large (got {size} bytes); allowed: at most "
                           f"{MAX_YAML_BYTES} bytes"])
    try:
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506  (a SafeLoader subclass)
    except _YamlLimitError as err:
        where = f"{origin}:{err.mark.line + 1}:{err.mark.column + 1}" if err.mark else origin
        raise ConfigError([f"{where}: {err.what}; allowed: {err.allowed}"]) from err
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        what = " ".join(s for s in (err.context, err.problem) if s)
        raise ConfigError(
            [f"{where}: invalid YAML: {what}; allowed: plain YAML mappings, lists, numbers and "
             "strings (no tags that construct objects, no duplicate keys)"]
        ) from err
    except yaml.YAMLError as err:
        raise ConfigError([f"{origin}: invalid YAML: {err}; allowed: plain YAML"]) from err


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML run file with safe loading.

    Args:
        path: The file.

    Returns:
        The raw tree (a mapping).

    Raises:
        ConfigError: The file is missing, larger than :data:`MAX_YAML_BYTES`, not UTF-8, not
            YAML or beyond the alias, size and depth limits (message gives file:line:column),
            or not a mapping.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_YAML_BYTES + 1)
    except OSError as err:
        raise ConfigError(
            [f"{path}: cannot read the config file ({err.strerror}); allowed: a readable YAML file"]
        ) from err
    if len(data) > MAX_YAML_BYTES:
        raise ConfigError([f"{path}: the config file is too large (got more than "
                           f"{MAX_YAML_BYTES} bytes); allowed: at most {MAX_YAML_BYTES} bytes"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError([f"{path}: not UTF-8 text (got byte 0x{data[err.start]:02x} at offset "
                           f"{err.start}); allowed: a UTF-8 encoded YAML file"]) from err
    tree = _parse_yaml(text, str(path))
    if not isinstance(tree, dict):
        raise ConfigError(
            [f"{path}: the file must hold a mapping (got {type(tree).__name__}); allowed: "
             "keys name, description, base, cases"]
        )
    return tree


# --------------------------------------------------------------------------------------------
# Type introspection (shared by messages, --set checks and the reference documentation)
# --------------------------------------------------------------------------------------------


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    """Split ``Annotated[T, *meta]`` into ``(T, meta)``."""
    meta: list[Any] = []
    while typing.get_origin(tp) is Annotated:
        meta.extend(tp.__metadata__)
        tp = tp.__origin__
    return tp, meta


def _members(tp: Any) -> list[Any]:
    """Alternatives of a union (``None`` dropped, nested unions flattened); else ``[tp]``."""
    inner, _ = _strip(tp)
    if typing.get_origin(inner) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(inner) if arg is not type(None)
                for m in _members(arg)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _discriminator(models: Sequence[type[BaseModel]]) -> str | None:
    """The key whose single literal value tells the union members apart, if any."""
    if len(models) < 2 or not all(_is_model(m) for m in models):
        return None
    for key in models[0].model_fields:
        values = [_literal_values(m.model_fields[key].annotation)
                  if key in m.model_fields else () for m in models]
        if all(len(v) == 1 for v in values):
            return key
    return None


def _literal_values(tp: Any) -> tuple[Any, ...]:
    inner, _ = _strip(tp)
    return typing.get_args(inner) if typing.get_origin(inner) is Literal else ()


def _model_field(model: type[BaseModel], key: Any) -> tuple[str, FieldInfo] | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return name, info
    return None


def _child(tp: Any, key: Any) -> tuple[Any, list[Any]] | None:
    """Type and metadata reached from ``tp`` by one key, or None where ``key`` is invalid."""
    inner, _ = _strip(tp)
    if inner is Any:
        return Any, []
    if _is_model(inner):
        found = _model_field(inner, key)
        return (found[1].annotation, list(found[1].metadata)) if found else None
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin in (dict, Mapping):
        return (args[1], []) if args else (Any, [])
    if origin in (list, tuple, set, Sequence) and isinstance(key, int):
        return (args[0], []) if args else (Any, [])
    return None


def _allowed_keys(candidates: Iterable[Any]) -> list[str]:
    keys: list[str] = []
    for tp in candidates:
        for member in _members(tp):
            inner, _ = _strip(member)
            if _is_model(inner):
                keys += [k for k in inner.model_fields if k not in keys]
    return keys


def _quantity_dimension(meta: Iterable[Any]) -> str | None:
    """The dimension of a :mod:`solver.units` quantity field, from its validator."""
    for item in meta:
        func = getattr(item, "func", None)
        if isinstance(func, functools.partial) and func.func is to_si:
            return func.keywords["dimension"]
    return None


def _constraints(meta: Iterable[Any]) -> list[str]:
    symbols = {annotated_types.Gt: (">", "gt"), annotated_types.Ge: (">=", "ge"),
               annotated_types.Lt: ("<", "lt"), annotated_types.Le: ("<=", "le")}
    out = []
    for item in meta:
        if type(item) in symbols:
            symbol, attr = symbols[type(item)]
            out.append(f"{symbol} {getattr(item, attr)}")
        elif isinstance(item, annotated_types.MinLen) and item.min_length:
            out.append(f"at least {item.min_length} long")
        elif isinstance(item, annotated_types.MaxLen):
            out.append(f"at most {item.max_length} long")
        elif getattr(item, "pattern", None):  # StringConstraints: a pattern and lengths
            out.append(f"matching {item.pattern}")
            if getattr(item, "max_length", None):
                out.append(f"at most {item.max_length} long")
    return out


def _type_name(tp: Any, meta: Iterable[Any] = (), short: bool = False) -> str:
    """Plain-words description of an annotation.

    Args:
        tp: The annotation.
        meta: Constraints and validators of the field holding it.
        short: Name quantities by dimension only (``length``), for tables with a unit column;
            otherwise say how to write them (``length in m: a number (SI) or ...``).
    """
    inner, inner_meta = _strip(tp)
    meta = [*meta, *inner_meta]
    dimension = _quantity_dimension(meta)
    if dimension is not None:
        unit, example = DIMENSIONS[dimension][1], DIMENSIONS[dimension][2]
        text = (dimension.replace("_", " ") if short else
                f"{dimension} in {unit}: a number (SI) or a string with units like '{example}'")
    elif typing.get_origin(inner) in (typing.Union, types.UnionType):
        names = [_type_name(m, short=short) for m in typing.get_args(inner)]
        models = [m for m in _members(inner) if _is_model(_strip(m)[0])]
        key = _discriminator([_strip(m)[0] for m in models])
        if key is not None:
            tags = ", ".join(repr(_literal_values(_strip(m)[0].model_fields[key].annotation)[0])
                             for m in models)
            names = [f"a mapping with {key}: one of {tags}"] + (
                ["null"] if type(None) in typing.get_args(inner) else [])
        text = " or ".join(names)
    elif typing.get_origin(inner) is Literal:
        text = "one of " + ", ".join(repr(v) for v in typing.get_args(inner))
    elif _is_model(inner):
        text = "a mapping with keys " + ", ".join(inner.model_fields)
    elif typing.get_origin(inner) in (dict, Mapping):
        args = typing.get_args(inner)
        text = "a mapping" + (f" of name -> {_type_name(args[1], short=short)}" if args else "")
    elif typing.get_origin(inner) in (list, tuple, set, Sequence):
        args = typing.get_args(inner)
        text = "a list" + (f" of {_type_name(args[0], short=short)}" if args else "")
    else:
        text = {float: "a number", int: "an integer", str: "a string", bool: "true or false",
                type(None): "null", Any: "any value"}.get(inner, getattr(inner, "__name__",
                                                                          str(inner)))
    bounds = _constraints(meta)
    return f"{text} ({', '.join(bounds)})" if bounds else text


# --------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if isinstance(value, dict | list) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _walk_loc(root: Any, loc: Sequence[Any]) -> tuple[list[str], list[Any], list[Any], list[Any]]:
    """Follow a pydantic error location through the annotations.

    Pydantic inserts a label after a union (the tag of a discriminated union, the member type
    otherwise); the labels are dropped so that the path is the one written in the file.

    Returns:
        (user key path, candidate parent types of the last key, candidate types at the
        location, metadata of the last field).
    """
    path: list[str] = []
    current: list[Any] = [root]
    parents: list[Any] = []
    meta: list[Any] = []
    for item in loc:
        members = [m for tp in current for m in _members(tp)]
        if item == "[key]":  # the key of a mapping entry, e.g. a case name
            keys = [typing.get_args(_strip(m)[0]) for m in parents]
            current = [k[0] for k in keys if k] or [Any]
            continue
        if len(current) == 1 and len(members) > 1:
            chosen = [m for m in members if item == getattr(_strip(m)[0], "__name__", None)
                      or item in _literal_values_of_model(_strip(m)[0])]
            current = chosen or members
            continue
        parents = members
        path.append(str(item))
        stepped = [c for c in (_child(m, item) for m in members) if c is not None]
        current = [c[0] for c in stepped] or [Any]
        meta = stepped[0][1] if stepped else []
    return path, parents, current, meta


def _literal_values_of_model(tp: Any) -> set[Any]:
    if not _is_model(tp):
        return set()
    return {v for info in tp.model_fields.values() for v in _literal_values(info.annotation)}


def _message_path(message: str, path: Sequence[str], candidates: Sequence[Any]
                  ) -> tuple[list[str], str]:
    """Split a leading key path off a model validator's message when it names a key.

    Model validators report at the model's location; their messages often start with the key
    they are about (relative to the model, or repeating the model's own name), either as
    ``key.path: what`` or as ``model.key is/must ...``; the key joins the reported path and
    the rest of the message stays (without a leading ``is``).
    """
    match = re.match(r"^([A-Za-z_]\w*(?:\.[\w-]+)*)(: | )(.+)$", message, re.S)
    if match is None:
        return [], message
    parts, rest = match.group(1).split("."), match.group(3)
    if path and parts[0] == path[-1] and len(parts) > 1:
        parts = parts[1:]
    elif match.group(2) == " ":  # a sentence: only "<model>.<key> ..." names a key
        return [], message
    if not any(_child(m, parts[0]) is not None for tp in candidates for m in _members(tp)):
        return [], message
    return parts, re.sub(r"^is ", "", rest)


def _printable(name: str) -> str:
    """``name`` for a key path: quoted when it holds spaces or control characters."""
    return name if name.isprintable() and not any(c.isspace() for c in name) else repr(name)


def _lookup(tree: Any, parts: Sequence[str]) -> tuple[bool, Any]:
    for part in parts:
        if isinstance(tree, dict) and part in tree:
            tree = tree[part]
        elif isinstance(tree, list) and part.isdigit() and int(part) < len(tree):
            tree = tree[int(part)]
        else:
            return False, None
    return True, tree


def _format_error(root: Any, error: Mapping[str, Any], prefix: Sequence[str],
                  tree: Any) -> tuple[str, str]:
    """(key path, message line) for one pydantic error; ``tree`` is the raw input."""
    path, parents, candidates, meta = _walk_loc(root, error["loc"])
    expected = " or ".join(_type_name(tp, meta) for tp in candidates)
    kind, ctx = error["type"], error.get("ctx") or {}
    message = re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])
    # Show the value as the user wrote it ('-1e-6 S/cm'), not as converted to SI.
    written, value = _lookup(tree, [str(p) for p in path])
    got = "nothing" if kind == "missing" else _short(value if written else error.get("input"))
    allowed = expected
    if "[key]" in error["loc"]:
        message = f"invalid name: {message}"
        got = _short(error.get("input"))
        path = [*path[:-1], _printable(path[-1])]
    elif kind == "extra_forbidden":
        valid = _allowed_keys(parents)
        close = difflib.get_close_matches(str(path[-1]), valid, n=1, cutoff=0.6)
        message = "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
        allowed = ", ".join(valid) or "no keys here"
    elif kind == "missing":
        message = "required key is missing"
    elif kind in ("literal_error", "enum"):
        allowed = ctx.get("expected", expected)
    elif kind == "union_tag_invalid":
        allowed = f"{ctx.get('discriminator', '')} one of {ctx.get('expected_tags', '')}"
    elif kind == "value_error" and all(_is_model(_strip(m)[0]) for tp in candidates
                                       for m in _members(tp)):
        sub, message = _message_path(message, path, candidates)
        if sub:
            found, value = _lookup(error.get("input"), sub)
            got = _short(value) if found else "nothing"
        path = [*path, *sub]
        allowed = "values consistent with each other"
    key = ".".join([*prefix, *path]) or "<top level>"
    if "allowed:" in message:
        return key, f"{key}: {message}"
    if "(got " in message:
        return key, f"{key}: {message}; allowed: {allowed}"
    return key, f"{key}: {message} (got {got}); allowed: {allowed}"


def _problems(error: ValidationError, root: Any, tree: Any,
              prefix: Sequence[str] = ()) -> list[str]:
    """One line per key path; alternatives of a union at the same path are joined."""
    lines: dict[str, list[str]] = {}
    # A validator may report several problems, one per line of its message.
    items = [{**item, "msg": msg} for item in error.errors() for msg in item["msg"].splitlines()]
    for item in items:
        key, line = _format_error(root, item, prefix, tree)
        if line not in lines.setdefault(key, []):
            lines[key].append(line)
    return [group[0] if len(group) == 1 else f"{key}: no alternative fits: " + " | ".join(
        g.split(": ", 1)[1] for g in group) for key, group in lines.items()]


def _validate(model: type[BaseModel], tree: Any, prefix: Sequence[str]) -> Any:
    try:
        return model.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_problems(err, model, tree, prefix)) from err


def validate(model: type[BaseModel], tree: Any, prefix: Sequence[str]) -> Any:
    """Validate ``tree`` as ``model``; every problem as a line naming ``prefix.<key path>``.

    For files of other kinds than run files (e.g. sweep files), with the same messages.

    Raises:
        ConfigError: The tree is invalid.
    """
    return _validate(model, tree, prefix)


# --------------------------------------------------------------------------------------------
# Overrides and merging
# --------------------------------------------------------------------------------------------


def _check_path(parts: Sequence[str], text: str) -> None:
    """Raise a ConfigError when ``parts`` names no key of the schema (``text``: the value)."""
    root: Any = RunConfig
    walked: list[str] = []
    if parts[0] in CaseConfig.model_fields:
        root = CaseConfig
    elif parts[0] == "cases" and len(parts) >= 2:
        root, walked, parts = CaseConfig, list(parts[:2]), parts[2:]
    current: list[Any] = [root]
    for part in parts:
        members = [m for tp in current for m in _members(tp)]
        key: Any = int(part) if part.isdigit() else part
        stepped = [c[0] for c in (_child(m, key) for m in members) if c is not None]
        if not stepped:
            valid = _allowed_keys(members)
            close = difflib.get_close_matches(part, valid, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            where = ".".join(walked) or "the top level"
            raise ConfigError([
                f"{'.'.join([*walked, part])}: --set names an unknown key '{part}' under "
                f"{where}{hint} (got {text!r}); allowed: {', '.join(valid) or 'no keys here'}"
            ])
        walked.append(part)
        current = stepped


def _check_case(tree: Mapping[str, Any], name: str) -> None:
    """Raise a ConfigError when ``--set cases.<name>.…`` names a case the file does not have."""
    cases = tree.get("cases")
    names = list(cases) if isinstance(cases, dict) else []
    if name not in names:
        raise ConfigError([
            f"cases.{_printable(name)}: --set names a case the file does not have (got {name!r}); "
            "allowed: "
            + (", ".join(names) if names else "no case (the file has none; set base.… or a "
               "case section key such as physics.…)")
        ])


def _set(tree: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    """Set ``tree[p0][p1]...= value``; digits index into existing lists.

    A missing mapping on the way, or a value that is not a mapping or a list, becomes a mapping.
    """
    node: Any = tree
    for depth, part in enumerate(parts):
        if isinstance(node, list):
            if not (part.isdigit() and int(part) < len(node)):
                raise ConfigError([
                    f"{'.'.join(parts[: depth + 1])}: --set indexes past the end of a list of "
                    f"{len(node)} (got {part}); allowed: 0 to {len(node) - 1}"
                ])
            index: Any = int(part)
        else:
            index = part
        if depth == len(parts) - 1:
            node[index] = value
        else:
            if not isinstance(node[index] if isinstance(node, list) else node.get(index),
                              dict | list):
                node[index] = {}
            node = node[index]


def _shadows(tree: Any, parts: Sequence[str]) -> bool:
    """Whether ``tree`` (a case override) sets ``parts`` or one of its prefixes."""
    for part in parts:
        if isinstance(tree, list) and part.isdigit() and int(part) < len(tree):
            tree = tree[int(part)]
        elif isinstance(tree, dict) and part in tree:
            tree = tree[part]
        else:
            return not isinstance(tree, dict | list)
    return True


def apply_overrides(tree: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides (``--set``) to a raw config tree.

    ``KEY`` is a dotted path. ``name``, ``description``, ``base.…`` and ``cases.<case>.…``
    address the file literally; a path starting with a case section (``geometry.…``,
    ``physics.…``, ...) sets the base and every case that sets that key itself, so the value
    holds in all cases; ``cases.<case>.…`` must name a case of the file (``cases.<case>=…``
    sets a whole case, also a new one). ``VALUE`` is read as a YAML scalar or flow
    collection: ``3`` is an integer, ``2um`` a string, ``[1, 2]`` a list.

    Args:
        tree: The raw config (not modified).
        overrides: ``KEY=VALUE`` strings.

    Returns:
        A new raw tree with the overrides applied.

    Raises:
        ConfigError: A malformed override, a key path that does not exist in the schema or a
            case that does not exist in the file.
    """
    result = copy.deepcopy(dict(tree))
    for setting in overrides:
        key, sep, text = setting.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError([
                f"--set: not of the form KEY=VALUE (got {setting!r}); allowed: "
                "a dotted key path, '=', a YAML value, e.g. geometry.protrusions.0.radius=2um"
            ])
        _check_path(parts, text)
        if parts[0] == "cases" and len(parts) > 2:
            _check_case(result, parts[1])
        value = _parse_yaml(text, f"--set {key.strip()}")
        if parts[0] in CaseConfig.model_fields:
            if not isinstance(result.get("base"), dict):
                result["base"] = {}  # as _set does with any value on the way
            _set(result["base"], parts, value)
            cases = result.get("cases")
            for case in cases.values() if isinstance(cases, dict) else ():
                if isinstance(case, dict) and _shadows(case, parts):
                    _set(case, parts, value)
        else:
            _set(result, parts, value)
    return result


def _children(candidates: Sequence[Any], key: Any) -> list[Any]:
    """Types reached from any of ``candidates`` by ``key`` (``[Any]`` when none is known)."""
    members = [m for tp in candidates for m in _members(tp)]
    return [c[0] for c in (_child(m, key) for m in members) if c is not None] or [Any]


def _variant_changes(candidates: Sequence[Any], base: dict[str, Any],
                     override: dict[str, Any]) -> bool:
    """Whether ``override`` selects another member of a union of models than ``base`` does."""
    for tp in candidates:
        key = _discriminator([_strip(m)[0] for m in _members(tp)])
        if key is not None and key in base and key in override and base[key] != override[key]:
            return True
    return False


def deep_merge(base: Any, override: Any, schema: Sequence[Any] = (Any,)) -> Any:
    """Merge a case's ``override`` onto ``base`` (JSON merge patch, RFC 7386).

    Mappings merge key by key, a ``null`` value removes the key (so its default applies),
    everything else replaces. Where ``schema`` (the candidate types of the value) is a union
    of models told apart by a key such as ``type`` or ``shape``, an override that selects
    another member replaces the base mapping: the other member's keys would not belong to it.
    """
    if not (isinstance(base, dict) and isinstance(override, dict)) or _variant_changes(
            schema, base, override):
        return copy.deepcopy(override)
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in base:
            merged[key] = deep_merge(base[key], value, _children(schema, key))
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_patch(base: Any, target: Any, schema: Sequence[Any] = (Any,)) -> Any:
    """The override that :func:`deep_merge` (same ``schema``) turns ``base`` into ``target``."""
    if not (isinstance(base, dict) and isinstance(target, dict)) or _variant_changes(
            schema, base, target):
        return copy.deepcopy(target)
    patch = {key: merge_patch(base[key], value, _children(schema, key)) if key in base
             else copy.deepcopy(value)
             for key, value in target.items() if key not in base or base[key] != value}
    patch.update({key: None for key in base if key not in target})
    return patch


# --------------------------------------------------------------------------------------------
# Loading and resolving
# --------------------------------------------------------------------------------------------


def _interphase_problems(case: CaseConfig, prefix: str) -> list[str]:
    """Every interphase region of the geometry needs a material, and no other material exists."""
    regions = list(case.geometry.region_names())
    materials = list(case.physics.interphase)
    missing = [r for r in regions if r not in materials]
    extra = [m for m in materials if m not in regions]
    key = f"{prefix}.physics.interphase"
    allowed = f"one material per interphase region of the geometry: {regions or 'none'}"
    lines = [f"{key}: no material for interphase region '{r}' (got {materials}); allowed: "
             f"{allowed}" for r in missing]
    lines += [f"{key}.{m}: material for a region the geometry does not have (got '{m}'); "
              f"allowed: {allowed}" for m in extra]
    return lines


def _raw_cases(raw: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """Case name -> (key prefix for messages, merged raw tree)."""
    base = raw.get("base") or {}
    cases = raw.get("cases") or {}
    if not cases:
        return {DEFAULT_CASE: ("base", base)}
    return {name: (f"cases.{name}", deep_merge(base, override or {}, (CaseConfig,)))
            for name, override in cases.items()}


def _resolve(raw: Mapping[str, Any]) -> dict[str, CaseConfig]:
    cases: dict[str, CaseConfig] = {}
    problems: list[str] = []
    for name, (prefix, tree) in _raw_cases(raw).items():
        try:
            cases[name] = _validate(CaseConfig, tree, prefix.split("."))
        except ConfigError as err:
            problems += err.problems
            continue
        problems += _interphase_problems(cases[name], prefix)
        problems += case_problems(cases[name], prefix)
    if problems:
        raise ConfigError(problems)
    return cases


def load_config(source: str | Path | Mapping[str, Any], overrides: Iterable[str] = ()) -> RunConfig:
    """Read, override and validate a run configuration.

    Args:
        source: A YAML file path or an already-parsed tree.
        overrides: ``KEY=VALUE`` strings as given to ``--set`` (see :func:`apply_overrides`).

    Returns:
        The validated run; :func:`resolved_cases` gives its merged cases.

    Raises:
        ConfigError: Every problem found, one line each, naming the key path, the value and
            what is allowed.
    """
    raw = read_yaml(source) if isinstance(source, str | Path) else copy.deepcopy(dict(source))
    raw = apply_overrides(raw, overrides)
    run = _validate(RunConfig, raw, ())
    _resolve(raw)
    return run


def resolved_cases(run: RunConfig) -> dict[str, CaseConfig]:
    """The cases of a run, each the base with the case's overrides merged in and validated.

    Args:
        run: A validated run.

    Returns:
        Case name -> case (``{"main": base}`` when the run has no cases), in file order.

    Raises:
        ConfigError: A merged case is invalid (messages name ``cases.<name>.<key path>``).
    """
    return _resolve({"base": run.base.model_dump(mode="json", exclude_unset=True),
                     "cases": run.cases})


def resolved_tree(run: RunConfig) -> dict[str, Any]:
    """The run with all defaults filled in and every number in SI units.

    This is what ``config.resolved.yaml`` holds: ``base`` complete, and for each case only
    what it changes (a merge patch onto ``base``). :func:`load_config` reads it back to the
    same cases.
    """
    base = run.base.model_dump(mode="json")
    cases = {name: merge_patch(base, case.model_dump(mode="json"), (CaseConfig,))
             for name, case in resolved_cases(run).items()} if run.cases else {}
    return {"name": run.name, "description": run.description, "base": base, "cases": cases}


# --------------------------------------------------------------------------------------------
# Reference documentation
# --------------------------------------------------------------------------------------------


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{json.dumps(value, default=str)}`"


def _unit_text(tp: Any, meta: Sequence[Any]) -> str:
    """SI unit of a quantity field, also of quantities inside lists, mappings and unions."""
    dimension = _quantity_dimension(meta)
    inner, inner_meta = _strip(tp)
    dimension = dimension or _quantity_dimension(inner_meta)
    if dimension:
        return DIMENSIONS[dimension][1]
    units = {_unit_text(arg, ()) for arg in typing.get_args(inner)
             if not isinstance(arg, str | int | float | bool)} - {""}
    return units.pop() if len(units) == 1 else ""


def _rows(model: type[BaseModel], prefix: str, when: str = "",
          seen: frozenset[type] = frozenset()) -> Iterator[tuple[str, ...]]:
    """Table rows (key, type, unit, default, description) for a model and what it contains."""
    if model in seen:
        return
    seen = seen | {model}
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        meta = list(info.metadata)
        description = " ".join((info.description or "").split())
        yield (f"`{key}`", _type_name(info.annotation, meta, short=True),
               _unit_text(info.annotation, meta), _default_text(info), f"{when}{description}")
        yield from _nested_rows(info.annotation, key, when, seen)


def _nested_rows(tp: Any, key: str, when: str, seen: frozenset[type]) -> Iterator[tuple[str, ...]]:
    inner, _ = _strip(tp)
    models = [_strip(m)[0] for m in _members(inner)]
    if _is_model(inner):
        yield from _rows(inner, f"{key}.", when, seen)
    elif len(models) > 1 and any(_is_model(m) for m in models):
        tag = _discriminator([m for m in models if _is_model(m)])
        for m in models:
            if _is_model(m):
                label = (f"{tag} = {_literal_values(m.model_fields[tag].annotation)[0]!r}"
                         if tag else m.__name__)
                yield from _rows(m, f"{key}.", f"*({label})* ", seen)
    elif typing.get_origin(inner) in (dict, Mapping) and typing.get_args(inner):
        yield from _nested_rows(typing.get_args(inner)[1], f"{key}.<name>", when, seen)
    elif typing.get_origin(inner) in (list, tuple, Sequence) and typing.get_args(inner):
        yield from _nested_rows(typing.get_args(inner)[0], f"{key}[i]", when, seen)
    elif len(models) == 1 and models[0] is not inner:
        yield from _nested_rows(models[0], key, when, seen)


def _table(rows: Iterable[tuple[str, ...]]) -> list[str]:
    lines = ["| key | type | unit | default | description |", "| --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def markdown_reference() -> str:
    """The configuration reference (``docs/config.md``), generated from the schema."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `lidep schema --markdown > docs/config.md`; do not edit by hand. -->",
        "",
        "A run file is YAML (read with safe loading), UTF-8 encoded. Configs are untrusted, so",
        f"a file (and each `--set` value) is limited to {MAX_YAML_BYTES} bytes "
        f"(`MAX_YAML_BYTES`), {MAX_YAML_ALIASES} aliases",
        f"(`MAX_YAML_ALIASES`), {MAX_YAML_NODES} values with aliases expanded "
        f"(`MAX_YAML_NODES`) and {MAX_YAML_DEPTH}",
        "levels of nesting (`MAX_YAML_DEPTH`, all in `solver/config.py`); beyond a limit the",
        "file is refused at once, naming the file, line and column (or the `--set` key).",
        "`numerics.petsc_options` takes solver-tuning options only (see",
        "`solver/petsc_options.py`): no viewers, files, Python solvers or debuggers.",
        "Quantities with a unit accept a bare",
        "number in the SI unit shown or a string with units (`\"10 nm\"`, `\"1e-4 S/cm\"`,",
        "`\"0.5 mA/cm^2\"`); a string with the wrong dimension is an error naming the key.",
        "Any key can be overridden with `--set KEY=VALUE`, e.g.",
        "`--set geometry.protrusions.0.radius=2um` (list entries by index): keys under a case",
        "section set the base and every case that sets that key itself. `cases` holds partial",
        "cases deep-merged onto `base` (mappings merge, lists and values replace, `null` removes",
        "a key of the base; a mapping whose selector key such as `shape` changes replaces the",
        "base's). Keys written `a.<name>.b` are mappings keyed by a name of your choice;",
        "`a[i].b` are list entries; *(key = 'value')* marks keys that exist only for that",
        "variant.",
        "",
        "## Run file",
        "",
        *_table(_rows(RunConfig, "", seen=frozenset({CaseConfig}))),
    ]
    for name, info in CaseConfig.model_fields.items():
        out += ["", f"## `{name}`", "", " ".join((info.description or "").split()), ""]
        out += _table(_nested_rows(info.annotation, name, "", frozenset()))
    return "\n".join(out) + "\n"
