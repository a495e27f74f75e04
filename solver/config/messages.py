"""Pydantic validation errors as the project's message lines.

One line per key path, ``<key path>: <what is wrong> (got <value>); allowed: <what is
allowed>``, with the key path as written in the file (union labels dropped).
"""

from __future__ import annotations

import difflib
import json
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from solver.config.errors import ConfigError
from solver.config.introspection import (
    allowed_keys,
    child,
    is_model,
    literal_values,
    members,
    strip,
    type_name,
)

__all__ = ["printable", "validate"]


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
        options = [m for tp in current for m in members(tp)]
        if item == "[key]":  # the key of a mapping entry, e.g. a case name
            keys = [typing.get_args(strip(m)[0]) for m in parents]
            current = [k[0] for k in keys if k] or [Any]
            continue
        if len(current) == 1 and len(options) > 1:
            chosen = [m for m in options if item == getattr(strip(m)[0], "__name__", None)
                      or item in _literal_values_of_model(strip(m)[0])]
            current = chosen or options
            continue
        parents = options
        path.append(str(item))
        stepped = [c for c in (child(m, item) for m in options) if c is not None]
        current = [c[0] for c in stepped] or [Any]
        meta = stepped[0][1] if stepped else []
    return path, parents, current, meta


def _literal_values_of_model(tp: Any) -> set[Any]:
    if not is_model(tp):
        return set()
    return {v for info in tp.model_fields.values() for v in literal_values(info.annotation)}


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
    if not any(child(m, parts[0]) is not None for tp in candidates for m in members(tp)):
        return [], message
    return parts, re.sub(r"^is ", "", rest)


def printable(name: str) -> str:
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
    expected = " or ".join(type_name(tp, meta) for tp in candidates)
    kind, ctx = error["type"], error.get("ctx") or {}
    message = re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])
    # Show the value as the user wrote it ('-1e-6 S/cm'), not as converted to SI.
    written, value = _lookup(tree, [str(p) for p in path])
    got = "nothing" if kind == "missing" else _short(value if written else error.get("input"))
    allowed = expected
    if "[key]" in error["loc"]:
        message = f"invalid name: {message}"
        got = _short(error.get("input"))
        path = [*path[:-1], printable(path[-1])]
    elif kind == "extra_forbidden":
        valid = allowed_keys(parents)
        close = difflib.get_close_matches(str(path[-1]), valid, n=1, cutoff=0.6)
        message = "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
        allowed = ", ".join(valid) or "no keys here"
    elif kind == "missing":
        message = "required key is missing"
    elif kind in ("literal_error", "enum"):
        allowed = ctx.get("expected", expected)
    elif kind == "union_tag_invalid":
        allowed = f"{ctx.get('discriminator', '')} one of {ctx.get('expected_tags', '')}"
    elif kind == "value_error" and all(is_model(strip(m)[0]) for tp in candidates
                                       for m in members(tp)):
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


def validate(model: type[BaseModel], tree: Any, prefix: Sequence[str]) -> Any:
    """Validate ``tree`` as ``model``; every problem as a line naming ``prefix.<key path>``.

    Raises:
        ConfigError: The tree is invalid.
    """
    try:
        return model.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_problems(err, model, tree, prefix)) from err
