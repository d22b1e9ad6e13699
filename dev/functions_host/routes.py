"""The host's HTTP route table, built from the metadata the worker indexed.

Follows the host (ASP.NET Core routing, via the WebJobs HTTP extension): the route prefix from
host.json, the trigger's `route` (the function's name when absent), route templates with
parameters (`{id}`), constraints (`{id:int}`, `{name:minlength(3)}`, `{v:regex(^a)}`), optional
parameters and defaults (`{page?}`, `{page=1}`), catch-alls (`{*rest}`), case-insensitive literal
segments, more specific templates first, and `methods` (all methods when omitted). No match, or a
match for another method, is the host's 404 with an empty body.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

ALL_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "TRACE"})
# {name}, {*rest}, {id:int}, {s:minlength(2):maxlength(9)}, {page=1}, {page?}
_PARAMETER = re.compile(
    r"\{(?P<star>\*{1,2})?(?P<name>[^{}:=?*]+)"
    r"(?P<constraints>(?::[^{}=?]+(?:\([^)]*\))?)*)"
    r"(?:=(?P<default>[^{}]*))?(?P<optional>\?)?\}"
)
_CONSTRAINT = re.compile(r":(\w+)(?:\((.*?)\))?(?=:\w|$)")


class RouteError(Exception):
    """A route template the host would refuse (the function is not registered)."""


def _integer(bits: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return re.fullmatch(r"[+-]?\d+", value) is not None and -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1)

    return check


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip().lower() not in {"nan", "inf", "-inf", "+inf", "infinity", "-infinity"}


def _datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _length(value: str, low: int, high: int | None) -> bool:
    return len(value) >= low and (high is None or len(value) <= high)


def _in_range(value: str, low: int | None, high: int | None) -> bool:
    if not _integer(64)(value):
        return False
    return (low is None or int(value) >= low) and (high is None or int(value) <= high)


def _constraint(name: str, argument: str | None) -> Callable[[str], bool]:
    """ASP.NET Core's inline route constraints, by name."""
    simple: dict[str, Callable[[str], bool]] = {
        "int": _integer(32),
        "long": _integer(64),
        "bool": lambda v: v.lower() in {"true", "false"},
        "guid": _guid,
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
        "datetime": _datetime,
        "decimal": _number,
        "double": _number,
        "float": _number,
        "nonfile": lambda v: "." not in v.rsplit("/", 1)[-1],
    }
    if name in simple and argument is None:
        return simple[name]
    numbers = [int(a) for a in argument.split(",")] if argument and name != "regex" else []
    if name == "minlength" and len(numbers) == 1:
        return lambda v: _length(v, numbers[0], None)
    if name == "maxlength" and len(numbers) == 1:
        return lambda v: _length(v, 0, numbers[0])
    if name == "length" and len(numbers) in (1, 2):
        return lambda v: _length(v, numbers[0], numbers[-1])
    if name == "min" and len(numbers) == 1:
        return lambda v: _in_range(v, numbers[0], None)
    if name == "max" and len(numbers) == 1:
        return lambda v: _in_range(v, None, numbers[0])
    if name == "range" and len(numbers) == 2:
        return lambda v: _in_range(v, numbers[0], numbers[1])
    if name == "regex" and argument:
        pattern = re.compile(argument, re.IGNORECASE)  # unanchored, as ASP.NET's RegexRouteConstraint
        return lambda v: pattern.search(v) is not None
    raise RouteError(f"The constraint reference '{name}' could not be resolved to a type.")


@dataclass(frozen=True)
class Parameter:
    name: str
    checks: tuple[Callable[[str], bool], ...]
    optional: bool
    default: str | None
    catch_all: bool


@dataclass(frozen=True)
class Segment:
    pattern: re.Pattern[str]
    parameters: tuple[Parameter, ...]
    rank: int  # 1 literal, 2 constrained parameter, 3 parameter, 4 catch-all: lower is more specific

    @property
    def omissible(self) -> bool:
        return len(self.parameters) == 1 and (self.parameters[0].optional or self.parameters[0].default is not None)


def _segment(text: str) -> Segment:
    parts, parameters, position = [], [], 0
    for match in _PARAMETER.finditer(text):
        parts.append(re.escape(text[position : match.start()]))
        constraints = tuple(_constraint(n, a or None) for n, a in _CONSTRAINT.findall(match["constraints"] or ""))
        parameter = Parameter(
            match["name"], constraints, bool(match["optional"]), match["default"], bool(match["star"])
        )
        parameters.append(parameter)
        group = _group(len(parameters) - 1)
        parts.append(f"(?P<{group}>.*)" if parameter.catch_all else f"(?P<{group}>.+?)")
        position = match.end()
    parts.append(re.escape(text[position:]))
    if "{" in re.sub(_PARAMETER, "", text) or "}" in re.sub(_PARAMETER, "", text):
        raise RouteError(f"The route template segment '{text}' is invalid.")
    if not parameters:
        rank = 1
    elif any(p.catch_all for p in parameters):
        rank = 4
    else:
        rank = 2 if any(p.checks for p in parameters) or len(parameters) > 1 or text != f"{{{text[1:-1]}}}" else 3
    return Segment(re.compile("".join(parts), re.IGNORECASE | re.DOTALL), tuple(parameters), rank)


def _group(index: int) -> str:
    return f"p{index}"


@dataclass(frozen=True)
class Route:
    """One HTTP function as the host routes it."""

    function_id: str
    function_name: str
    trigger: str  # the trigger binding's parameter name (`req`)
    template: str  # `api/chat/{id}`, as the host prints it
    methods: frozenset[str]
    segments: tuple[Segment, ...]

    def match(self, path_segments: list[str]) -> dict[str, str] | None:
        """The route values when the decoded path segments fit this template, else None."""
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.rank == 4:  # a catch-all takes the rest, possibly nothing
                rest = "/".join(path_segments[index:])
                found = segment.pattern.fullmatch(rest)
                if found is None or not self._accept(segment, found, values):
                    return None
                return values
            if index >= len(path_segments):
                if all(s.omissible or s.rank == 4 for s in self.segments[index:]):
                    for s in self.segments[index:]:
                        for p in s.parameters:
                            if p.default is not None:
                                values[p.name] = p.default
                    return values
                return None
            found = segment.pattern.fullmatch(path_segments[index])
            if found is None or not self._accept(segment, found, values):
                return None
        return values if len(path_segments) == len(self.segments) else None

    @staticmethod
    def _accept(segment: Segment, found: re.Match[str], values: dict[str, str]) -> bool:
        for index, parameter in enumerate(segment.parameters):
            value = found[_group(index)]
            if value == "" and not parameter.catch_all:
                return False
            if value and not all(check(value) for check in parameter.checks):
                return False
            if value:
                values[parameter.name] = value
            elif parameter.default is not None:
                values[parameter.name] = parameter.default
        return True


def build_routes(prefix: str, functions: list[tuple[str, str, list[str]]]) -> list[Route]:
    """Routes for the HTTP-triggered functions among (function_id, name, raw_bindings), most specific first."""
    routes = []
    for function_id, name, raw_bindings in functions:
        bindings = [json.loads(raw) for raw in raw_bindings]
        trigger = next((b for b in bindings if b.get("type", "").lower() == "httptrigger"), None)
        if trigger is None:
            continue
        template = "/".join(part for part in (prefix.strip("/"), str(trigger.get("route") or name).strip("/")) if part)
        methods = frozenset(str(m).upper() for m in trigger.get("methods") or []) or ALL_METHODS
        try:
            segments = tuple(_segment(text) for text in template.split("/")) if template else ()
        except (RouteError, re.error) as error:
            raise RouteError(f"The function '{name}' has an invalid route '{template}': {error}") from None
        routes.append(Route(function_id, name, trigger["name"], template, methods, segments))
    return sorted(routes, key=lambda r: ([s.rank for s in r.segments], r.template.lower()))


def split_path(raw_path: bytes) -> list[str]:
    """Decoded path segments; a trailing slash is ignored, as ASP.NET Core routing does."""
    text = raw_path.decode("latin-1").split("?", 1)[0].strip("/")
    return [unquote(part, encoding="utf-8", errors="replace") for part in text.split("/")] if text else []


def find(routes: list[Route], method: str, path_segments: list[str]) -> tuple[Route, dict[str, str]] | None:
    """The first route, most specific first, that matches both the path and the method."""
    for route in routes:
        if method.upper() in route.methods and (values := route.match(path_segments)) is not None:
            return route, values
    return None
