"""Reading the schema's annotations: shared by messages, ``--set`` checks and the reference."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from solver.units import DIMENSIONS, to_si

__all__ = [
    "allowed_keys",
    "child",
    "discriminator",
    "is_model",
    "literal_values",
    "members",
    "quantity_dimension",
    "strip",
    "type_name",
]


def strip(tp: Any) -> tuple[Any, list[Any]]:
    """Split ``Annotated[T, *meta]`` into ``(T, meta)``."""
    meta: list[Any] = []
    while typing.get_origin(tp) is Annotated:
        meta.extend(tp.__metadata__)
        tp = tp.__origin__
    return tp, meta


def members(tp: Any) -> list[Any]:
    """Alternatives of a union (``None`` dropped, nested unions flattened); else ``[tp]``."""
    inner, _ = strip(tp)
    if typing.get_origin(inner) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(inner) if arg is not type(None)
                for m in members(arg)]
    return [tp]


def is_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic model class."""
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def discriminator(models: Sequence[type[BaseModel]]) -> str | None:
    """The key whose single literal value tells the union members apart, if any."""
    if len(models) < 2 or not all(is_model(m) for m in models):
        return None
    for key in models[0].model_fields:
        values = [literal_values(m.model_fields[key].annotation)
                  if key in m.model_fields else () for m in models]
        if all(len(v) == 1 for v in values):
            return key
    return None


def literal_values(tp: Any) -> tuple[Any, ...]:
    """The values of a ``Literal`` annotation (``()`` for any other)."""
    inner, _ = strip(tp)
    return typing.get_args(inner) if typing.get_origin(inner) is Literal else ()


def _model_field(model: type[BaseModel], key: Any) -> tuple[str, FieldInfo] | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return name, info
    return None


def child(tp: Any, key: Any) -> tuple[Any, list[Any]] | None:
    """Type and metadata reached from ``tp`` by one key, or None where ``key`` is invalid."""
    inner, _ = strip(tp)
    if inner is Any:
        return Any, []
    if is_model(inner):
        found = _model_field(inner, key)
        return (found[1].annotation, list(found[1].metadata)) if found else None
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin in (dict, Mapping):
        return (args[1], []) if args else (Any, [])
    if origin in (list, tuple, set, Sequence) and isinstance(key, int):
        return (args[0], []) if args else (Any, [])
    return None


def allowed_keys(candidates: Iterable[Any]) -> list[str]:
    """The keys of every model among ``candidates`` and their union members, in order."""
    keys: list[str] = []
    for tp in candidates:
        for member in members(tp):
            inner, _ = strip(member)
            if is_model(inner):
                keys += [k for k in inner.model_fields if k not in keys]
    return keys


def quantity_dimension(meta: Iterable[Any]) -> str | None:
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


def type_name(tp: Any, meta: Iterable[Any] = (), short: bool = False) -> str:
    """Plain-words description of an annotation.

    Args:
        tp: The annotation.
        meta: Constraints and validators of the field holding it.
        short: Name quantities by dimension only (``length``), for tables with a unit column;
            otherwise say how to write them (``length in m: a number (SI) or ...``).
    """
    inner, inner_meta = strip(tp)
    meta = [*meta, *inner_meta]
    dimension = quantity_dimension(meta)
    if dimension is not None:
        unit, example = DIMENSIONS[dimension][1], DIMENSIONS[dimension][2]
        text = (dimension.replace("_", " ") if short else
                f"{dimension} in {unit}: a number (SI) or a string with units like '{example}'")
    elif typing.get_origin(inner) in (typing.Union, types.UnionType):
        names = [type_name(m, short=short) for m in typing.get_args(inner)]
        models = [m for m in members(inner) if is_model(strip(m)[0])]
        key = discriminator([strip(m)[0] for m in models])
        if key is not None:
            tags = ", ".join(repr(literal_values(strip(m)[0].model_fields[key].annotation)[0])
                             for m in models)
            names = [f"a mapping with {key}: one of {tags}"] + (
                ["null"] if type(None) in typing.get_args(inner) else [])
        text = " or ".join(names)
    elif typing.get_origin(inner) is Literal:
        text = "one of " + ", ".join(repr(v) for v in typing.get_args(inner))
    elif is_model(inner):
        text = "a mapping with keys " + ", ".join(inner.model_fields)
    elif typing.get_origin(inner) in (dict, Mapping):
        args = typing.get_args(inner)
        text = "a mapping" + (f" of name -> {type_name(args[1], short=short)}" if args else "")
    elif typing.get_origin(inner) in (list, tuple, set, Sequence):
        args = typing.get_args(inner)
        text = "a list" + (f" of {type_name(args[0], short=short)}" if args else "")
    else:
        text = {float: "a number", int: "an integer", str: "a string", bool: "true or false",
                type(None): "null", Any: "any value"}.get(inner, getattr(inner, "__name__",
                                                                          str(inner)))
    bounds = _constraints(meta)
    return f"{text} ({', '.join(bounds)})" if bounds else text
