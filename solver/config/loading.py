"""Reading YAML safely: PyYAML's safe loader with YAML 1.2 floats, no duplicate keys and limits.

Configs are untrusted: a file (and each ``--set`` value) is limited in bytes, aliases, values
with aliases expanded and nesting depth; beyond a limit it is refused at once, naming the file,
line and column (or the ``--set`` key).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from solver.config.errors import ConfigError

__all__ = [
    "MAX_YAML_ALIASES",
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "parse_yaml",
    "read_yaml",
]


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


def parse_yaml(text: str, origin: str) -> Any:
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
    tree = parse_yaml(text, str(path))
    if not isinstance(tree, dict):
        raise ConfigError(
            [f"{path}: the file must hold a mapping (got {type(tree).__name__}); allowed: "
             "keys name, description, base, cases"]
        )
    return tree
