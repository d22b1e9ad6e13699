"""Property names of ARM resources, taken from the REST models in the azure-mgmt-* packages.

Two generations of generated models are in use: msrest-style classes with an `_attribute_map`
(keys such as 'properties.serverFarmId', flattened) and TypeSpec-style classes whose fields are
`rest_field(name=...)` descriptors with type hints. Both are read into the same small schema:
a model class, `ListOf(item)`, `MapOf(value)`, `SCALAR` or `ANY` (free-form; not checked further).
"""

from __future__ import annotations

import enum
import importlib
import re
import sys
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from tests.infra.bicep import Expr, Ref


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class MapOf:
    value: Any


@dataclass(frozen=True)
class Pseudo:
    """An object level that msrest flattens away (e.g. 'properties' in 'properties.httpsOnly')."""

    fields: tuple[tuple[str, Any], ...]


SCALAR = "scalar"
ANY = "any"

# Keys Bicep itself understands on a resource; they are not part of the REST body.
BICEP_KEYS = {"name", "parent", "scope", "dependsOn"}

_MSREST_SCALARS = {"str", "int", "long", "float", "bool", "iso-8601", "rfc-1123", "duration", "date", "bytearray"}


def model(module: str, name: str) -> type:
    return getattr(importlib.import_module(module), name)


@cache
def fields(cls: type) -> dict[str, Any]:
    """REST property name -> schema, for one model class."""
    package = sys.modules[cls.__module__.rsplit(".", 1)[0]]
    if hasattr(cls, "_attribute_map"):
        return _msrest_fields(cls, package)
    return _rest_fields(cls, package)


def children(schema: Any) -> dict[str, Any] | None:
    if isinstance(schema, type):
        return fields(schema)
    if isinstance(schema, Pseudo):
        return dict(schema.fields)
    return None


def unknown_properties(data: Any, schema: Any, path: str) -> list[str]:
    """Dotted paths in `data` that `schema` does not define."""
    if schema == ANY or isinstance(data, (Ref, Expr)) or data is None:
        return []
    if isinstance(data, dict):
        if isinstance(schema, MapOf):
            return [p for key, item in data.items() for p in unknown_properties(item, schema.value, f"{path}.{key}")]
        known = children(schema)
        if known is None:
            return [f"{path}: an object where the API expects {schema!r}"]
        problems = []
        for key, item in data.items():
            if key not in known:
                problems.append(f"{path}.{key}" if path else key)
            else:
                problems += unknown_properties(item, known[key], f"{path}.{key}" if path else key)
        return problems
    if isinstance(data, list):
        if not isinstance(schema, ListOf):
            return [f"{path}: a list where the API expects {schema!r}"]
        return [p for i, item in enumerate(data) for p in unknown_properties(item, schema.item, f"{path}[{i}]")]
    return []


def unknown_resource_properties(body: dict[str, Any], cls: type) -> list[str]:
    rest = {key: item for key, item in body.items() if key not in BICEP_KEYS}
    return unknown_properties(rest, cls, "")


def _msrest_fields(cls: type, package: types.ModuleType) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for spec in cls._attribute_map.values():
        parts = [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", spec["key"])]
        level = tree
        for part in parts[:-1]:
            level = level.setdefault(part, {})
        level[parts[-1]] = _msrest_type(spec["type"], package)

    def freeze(node: dict[str, Any]) -> dict[str, Any]:
        return {
            key: Pseudo(tuple(freeze(item).items())) if isinstance(item, dict) else item for key, item in node.items()
        }

    return freeze(tree)


def _msrest_type(name: str, package: types.ModuleType) -> Any:
    if name.startswith("[") and name.endswith("]"):
        return ListOf(_msrest_type(name[1:-1], package))
    if name.startswith("{") and name.endswith("}"):
        return MapOf(_msrest_type(name[1:-1], package))
    if name in _MSREST_SCALARS:
        return SCALAR
    found = getattr(package, name, None)
    if isinstance(found, type) and hasattr(found, "_attribute_map"):
        return found
    if isinstance(found, type) and issubclass(found, enum.Enum):
        return SCALAR
    return ANY  # 'object' and anything we cannot resolve


def _rest_fields(cls: type, package: types.ModuleType) -> dict[str, Any]:
    namespace = dict(vars(sys.modules[cls.__module__]))
    namespace["_models"] = package
    hints = typing.get_type_hints(cls, globalns=namespace)
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for attribute, descriptor in vars(klass).items():
            if type(descriptor).__name__ != "_RestField":
                continue
            rest_name = descriptor._rest_name_input or attribute
            found[rest_name] = _hint_type(hints.get(attribute, Any))
    return found


def _hint_type(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _hint_type(options[0]) if len(options) == 1 else ANY
    if origin is list:
        return ListOf(_hint_type(typing.get_args(hint)[0]))
    if origin is dict:
        return MapOf(_hint_type(typing.get_args(hint)[1]))
    if origin is typing.Literal:
        return SCALAR
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum) or hint in (str, int, float, bool, bytes):
            return SCALAR
        if any(type(v).__name__ == "_RestField" for k in hint.__mro__ for v in vars(k).values()):
            return hint
        if hint.__name__ in ("datetime", "date", "timedelta", "time"):
            return SCALAR
    return ANY
