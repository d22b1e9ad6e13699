"""Read Bicep templates into plain Python values with tree-sitter-bicep (no Bicep CLI needed).

Literals become Python values (str, int, bool, None, dict, list); anything evaluated at deploy time
keeps its source text in a `Ref` (a name or member access such as `identity.outputs.clientId`) or an
`Expr` (calls, operators, interpolated strings, loops), so tests can tell `httpsOnly: true` from
`httpsOnly: someParam`. `evaluate` works out what a parameter value makes of an expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_bicep

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"

_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
_API_VERSION = re.compile(r"^(?P<type>[A-Za-z0-9.]+(?:/[A-Za-z0-9.]+)+)@(?P<version>\S+)$")


@dataclass(frozen=True)
class Ref:
    """A symbol or member access resolved at deploy time."""

    text: str


@dataclass(frozen=True)
class Expr:
    """Any other expression: a call, an operator, an interpolated string, a loop."""

    kind: str
    text: str


@dataclass
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    conditional: bool
    body: dict[str, Any]
    line: int
    condition: Any = None  # the `if (...)` expression, when conditional


@dataclass
class Module:
    symbol: str
    source: str
    conditional: bool
    body: dict[str, Any]
    line: int
    condition: Any = None


@dataclass
class Param:
    name: str
    type: str
    default: Any
    has_default: bool
    decorators: dict[str, str]


@dataclass
class Template:
    path: Path
    text: str
    params: dict[str, Param] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    modules: dict[str, Module] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path.relative_to(INFRA)) if self.path.is_relative_to(INFRA) else self.path.name


def syntax_errors(source: bytes) -> list[str]:
    """Every ERROR or MISSING node tree-sitter reports, as 'line:col kind text'."""
    problems: list[str] = []

    def walk(node: tree_sitter.Node) -> None:
        if node.is_error or node.is_missing:
            row, col = node.start_point
            kind = "missing" if node.is_missing else "error"
            snippet = node.text.decode(errors="replace")[:40] if node.text else ""
            problems.append(f"{row + 1}:{col + 1} {kind} {node.type} {snippet!r}")
        for child in node.children:
            walk(child)

    walk(_PARSER.parse(source).root_node)
    return problems


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def load(path: Path) -> Template:
    source = path.read_bytes()
    tree = _PARSER.parse(source)
    template = Template(path=path, text=source.decode())
    pending_decorators: dict[str, str] = {}
    for node in tree.root_node.named_children:
        if node.type == "decorators":
            pending_decorators = _decorators(node)
            continue
        decorators, pending_decorators = pending_decorators, {}
        named = node.named_children
        if node.type == "parameter_declaration":
            default_node = named[2] if len(named) > 2 else None
            template.params[_text(named[0])] = Param(
                name=_text(named[0]),
                type=_text(named[1]),
                default=value(default_node) if default_node is not None else None,
                has_default=default_node is not None,
                decorators=decorators,
            )
        elif node.type == "variable_declaration":
            template.variables[_text(named[0])] = value(named[1])
        elif node.type == "output_declaration":
            template.outputs[_text(named[0])] = value(named[-1])
        elif node.type == "resource_declaration":
            type_and_version = _string_content(named[1])
            match = _API_VERSION.match(type_and_version)
            resource_type, api_version = (match["type"], match["version"]) if match else (type_and_version, "")
            body, condition = _declaration_body(named[-1])
            template.resources[_text(named[0])] = Resource(
                symbol=_text(named[0]),
                type=resource_type,
                api_version=api_version,
                existing=any(child.type == "existing" for child in node.children),
                conditional=condition is not None,
                body=body,
                line=node.start_point[0] + 1,
                condition=condition,
            )
        elif node.type == "module_declaration":
            body, condition = _declaration_body(named[-1])
            template.modules[_text(named[0])] = Module(
                symbol=_text(named[0]),
                source=_string_content(named[1]),
                conditional=condition is not None,
                body=body,
                line=node.start_point[0] + 1,
                condition=condition,
            )
    return template


def templates() -> list[Template]:
    return [load(path) for path in bicep_files()]


def value(node: tree_sitter.Node) -> Any:
    """A tree-sitter expression node as a Python value (see the module docstring)."""
    kind = node.type
    if kind == "string":
        if any(child.type == "interpolation" for child in node.named_children):
            return Expr("interpolation", _text(node))
        return _string_content(node)
    if kind == "multiline_string":
        return _text(node)[3:-3]
    if kind == "number":
        return int(_text(node))
    if kind == "boolean":
        return _text(node) == "true"
    if kind == "null":
        return None
    if kind == "object":
        return {
            _key(prop.named_children[0]): value(prop.named_children[-1])
            for prop in node.named_children
            if prop.type == "object_property"
        }
    if kind == "array":
        return [value(item) for item in node.named_children if item.type != "comment"]
    if kind == "parenthesized_expression" and len(node.named_children) == 1:
        return value(node.named_children[0])
    if kind in ("identifier", "member_expression"):
        return Ref(_text(node))
    return Expr(kind, _text(node))


_OPERATORS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "&&": lambda a, b: a and b,
    "||": lambda a, b: a or b,
}


def evaluate(data: Any, template: Template, params: dict[str, Any]) -> Any:
    """`data` for these parameter values (the rest at their defaults), as far as that decides it.

    Enough of Bicep to say what a template does for a parameter value: literals, parameters, variables,
    `!`, `==`, `!=`, `&&`, `||`, `? :` and parentheses. What only a deployment knows (a module's outputs,
    a function call) comes back as its `Ref` or `Expr`, so a test still sees what it would be.
    """
    if isinstance(data, dict):
        return {key: evaluate(item, template, params) for key, item in data.items()}
    if isinstance(data, list):
        return [evaluate(item, template, params) for item in data]
    if isinstance(data, Ref):
        if data.text in params:
            return params[data.text]
        if data.text in template.params and template.params[data.text].has_default:
            return evaluate(template.params[data.text].default, template, params)
        if data.text in template.variables:
            return evaluate(template.variables[data.text], template, params)
        return data
    if isinstance(data, Expr) and data.kind in _EVALUATED:
        node = _PARSER.parse(f"var x = {data.text}\n".encode()).root_node.named_children[0].named_children[1]
        return _evaluate_node(node, template, params)
    return data


_EVALUATED = ("ternary_expression", "binary_expression", "unary_expression", "parenthesized_expression")


def _evaluate_node(node: tree_sitter.Node, template: Template, params: dict[str, Any]) -> Any:
    def known(result: Any) -> bool:
        return isinstance(result, (str, int, bool)) or result is None

    named = node.named_children
    if node.type == "parenthesized_expression":
        return _evaluate_node(named[0], template, params)
    if node.type == "ternary_expression":
        test = _evaluate_node(named[0], template, params)
        if isinstance(test, bool):
            return _evaluate_node(named[1] if test else named[2], template, params)
    elif node.type == "binary_expression":
        left, right = (_evaluate_node(child, template, params) for child in named)
        operator = next(_text(child) for child in node.children if not child.is_named)
        if operator in _OPERATORS and known(left) and known(right):
            return _OPERATORS[operator](left, right)
    elif node.type == "unary_expression" and _text(node.children[0]) == "!":
        operand = _evaluate_node(named[0], template, params)
        if isinstance(operand, bool):
            return not operand
    else:
        return evaluate(value(node), template, params)
    return Expr(node.type, _text(node))


def walk_values(data: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (dotted.path, leaf) pair under a value, lists indexed as [i]."""
    if isinstance(data, dict):
        pairs: list[tuple[str, Any]] = []
        for key, item in data.items():
            pairs += walk_values(item, f"{path}.{key}" if path else key)
        return pairs
    if isinstance(data, list):
        pairs = []
        for index, item in enumerate(data):
            pairs += walk_values(item, f"{path}[{index}]")
        return pairs
    return [(path, data)]


def _declaration_body(node: tree_sitter.Node) -> tuple[dict[str, Any], Any]:
    """The declaration's object, and its `if` condition (None when it has none)."""
    if node.type == "if_statement":
        objects = [child for child in node.named_children if child.type == "object"]
        return value(objects[-1]), value(node.named_children[0])
    if node.type == "for_statement":
        objects = [child for child in node.named_children if child.type == "object"]
        return (value(objects[-1]) if objects else {}), None
    return value(node), None


def _decorators(node: tree_sitter.Node) -> dict[str, str]:
    found = {}
    for decorator in node.named_children:
        call = decorator.named_children[0]
        if call.type == "call_expression":
            name = _text(call.named_children[0])
            found[name] = _text(call.named_children[1])[1:-1] if len(call.named_children) > 1 else ""
        else:
            found[_text(call)] = ""
    return found


def _key(node: tree_sitter.Node) -> str:
    if node.type != "string":
        return _text(node)
    if any(child.type == "interpolation" for child in node.named_children):
        return _text(node)[1:-1]  # keep '${...}' so computed keys stay visible
    return _string_content(node)


def _string_content(node: tree_sitter.Node) -> str:
    raw = "".join(_text(child) for child in node.named_children if child.type in ("string_content", "escape_sequence"))
    return raw.replace("\\'", "'").replace("\\\\", "\\").replace("\\n", "\n")


def _text(node: tree_sitter.Node) -> str:
    return node.text.decode() if node.text else ""
