"""``--set KEY=VALUE`` overrides and the deep merge of cases onto the base (RFC 7386)."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from solver.config.errors import ConfigError
from solver.config.introspection import allowed_keys, child, discriminator, members, strip
from solver.config.loading import parse_yaml
from solver.config.messages import printable
from solver.config.models import CaseConfig, RunConfig

__all__ = ["apply_overrides", "deep_merge", "merge_patch"]


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
        options = [m for tp in current for m in members(tp)]
        key: Any = int(part) if part.isdigit() else part
        stepped = [c[0] for c in (child(m, key) for m in options) if c is not None]
        if not stepped:
            valid = allowed_keys(options)
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
            f"cases.{printable(name)}: --set names a case the file does not have (got {name!r}); "
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
        value = parse_yaml(text, f"--set {key.strip()}")
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
    options = [m for tp in candidates for m in members(tp)]
    return [c[0] for c in (child(m, key) for m in options) if c is not None] or [Any]


def _variant_changes(candidates: Sequence[Any], base: dict[str, Any],
                     override: dict[str, Any]) -> bool:
    """Whether ``override`` selects another member of a union of models than ``base`` does."""
    for tp in candidates:
        key = discriminator([strip(m)[0] for m in members(tp)])
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
