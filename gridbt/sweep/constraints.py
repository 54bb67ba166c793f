"""Constraints between grid parameters, evaluated on whole blocks of combinations at once.

A constraint is an expression over dotted paths, numbers and strings:
`structure.legs.1.select.points < 0 and exit.stop_loss > exit.profit_target`. Operators:
comparisons (chains too), `and`, `or`, `not`, `+ - * / // % **`, `abs()`, `min()`, `max()`.
A constraint that reads a switched-off (null) value holds: the rule it speaks of is off.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Constraint", "compile_constraint"]

_PATH = re.compile(r"\b[A-Za-z_]\w*(?:\[\d+\]|\.\w+)+")
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs,
    "min": lambda *a: np.minimum.reduce(np.broadcast_arrays(*a)),
    "max": lambda *a: np.maximum.reduce(np.broadcast_arrays(*a)),
}


@dataclass(frozen=True)
class Constraint:
    """A compiled constraint: its text, the paths it reads and its syntax tree."""

    text: str
    paths: tuple[str, ...]
    tree: ast.Expression

    def evaluate(self, values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """Boolean mask over `n` combinations; `values` maps each path to an array or scalar."""
        names = {f"_p{i}": values[p] for i, p in enumerate(self.paths)}
        with np.errstate(all="ignore"):
            held: np.ndarray = np.broadcast_to(
            np.asarray(_eval(self.tree.body, names), dtype=bool), (n,)
        )
        off = np.zeros(n, dtype=bool)
        for path in self.paths:
            off |= np.broadcast_to(_is_null(values[path]), (n,))
        return held | off


def _is_null(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object:
        return np.array([v is None for v in arr.ravel()], dtype=bool).reshape(arr.shape)
    if arr.dtype.kind == "f":
        nan: np.ndarray = np.isnan(arr)
        return nan
    return np.zeros(arr.shape, dtype=bool)


def compile_constraint(text: str, known_paths: Callable[[str], None]) -> Constraint:
    """Parse `text`; `known_paths(path)` raises KeyError for a path the strategy lacks."""
    paths: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        path = match.group(0).replace("[", ".").replace("]", "")
        if path not in paths:
            paths.append(path)
        return f"_p{paths.index(path)}"

    source = _PATH.sub(placeholder, text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"constraint {text!r}: not an expression ({exc.msg})") from None
    for node in ast.walk(tree):
        _check_node(node, text)
    for path in paths:
        try:
            known_paths(path)
        except KeyError as exc:
            raise ValueError(f"constraint {text!r}: {exc.args[0]}") from None
    if not paths:
        raise ValueError(f"constraint {text!r}: names no parameter path")
    return Constraint(text, tuple(paths), tree)


_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Compare, ast.Name, ast.Load, ast.Constant, ast.Call,
    *_BINARY, *_COMPARE,
)


def _check_node(node: ast.AST, text: str) -> None:
    if not isinstance(node, _ALLOWED):
        raise ValueError(f"constraint {text!r}: {type(node).__name__} is not allowed")
    if isinstance(node, ast.Name) and not (node.id.startswith("_p") or node.id in _FUNCTIONS):
        raise ValueError(
            f"constraint {text!r}: {node.id!r} is neither a parameter path (a.b.c) nor one of "
            f"{', '.join(_FUNCTIONS)}"
        )
    if isinstance(node, ast.Call) and not (
        isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords
    ):
        raise ValueError(f"constraint {text!r}: only {', '.join(_FUNCTIONS)} may be called")


def _eval(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.BoolOp):
        parts = [np.asarray(_eval(v, names), dtype=bool) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return combine.reduce(np.broadcast_arrays(*parts))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, names)
        if isinstance(node.op, ast.Not):
            return np.logical_not(np.asarray(value, dtype=bool))
        return -np.asarray(value) if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_numeric(_eval(node.left, names)),
                                      _numeric(_eval(node.right, names)))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, names)
        result: Any = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, names)
            result = np.logical_and(result, _compare(op, left, right))
            left = right
        return result
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](*(_numeric(_eval(a, names)) for a in node.args))
    raise AssertionError(type(node).__name__)  # _check_node admits nothing else


def _numeric(value: Any) -> Any:
    """Object arrays of numbers and None become float arrays with NaN for None."""
    arr = np.asarray(value)
    if arr.dtype == object:
        return np.array([np.nan if v is None else v for v in arr.ravel()], dtype=float)
    return arr


def _compare(op: ast.cmpop, left: Any, right: Any) -> Any:
    fn = _COMPARE[type(op)]
    if isinstance(op, ast.Eq | ast.NotEq):
        return fn(np.asarray(left, dtype=object), np.asarray(right, dtype=object))
    return fn(_numeric(left), _numeric(right))
