"""Dotted paths into a strategy payload, the one path language of sweeps, studies, presets and
tests: `structure.legs.0.select.target`, or `structure.legs[0].select.target`.

Lookups that fail raise `KeyError` with a message naming the path and the first part that is
not there; callers put the message into their own error (the file and field it came from).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["apply_assignment", "get_path", "set_path", "split_path"]

_NAME = r"[A-Za-z_]\w*"
_PATH = re.compile(rf"{_NAME}(?:\[\d+\]|\.\d+|\.{_NAME})*")
_PART = re.compile(rf"{_NAME}|\d+")


def split_path(path: str) -> list[str | int]:
    """`a.legs.0.b` (or `a.legs[0].b`) -> ['a', 'legs', 0, 'b']."""
    if not _PATH.fullmatch(path):
        raise KeyError(f"{path!r} is not a spec path like 'structure.legs.0.select.target' "
                       "or 'structure.legs[0].qty'")
    return [int(p) if p.isdigit() else p for p in _PART.findall(path)]


def _step(node: Any, part: str | int, walked: str, path: str) -> Any:
    if isinstance(part, int):
        if not isinstance(node, list):
            raise KeyError(f"{path}: {walked or 'the strategy'} is not a list")
        if not 0 <= part < len(node):
            raise KeyError(f"{path}: {walked} has {len(node)} entries, no item [{part}]")
        return node[part]
    if not isinstance(node, dict):
        what = "null" if node is None else type(node).__name__
        raise KeyError(f"{path}: {walked} is {what} in the base strategy, not a mapping")
    if part not in node:
        raise KeyError(
            f"{path}: no field {part!r} in {walked or 'the strategy'} "
            f"(it has: {', '.join(map(str, node))})"
        )
    return node[part]


def get_path(payload: Mapping[str, Any], path: str) -> Any:
    """The value at `path`, or KeyError naming the first part that does not exist."""
    node: Any = payload
    walked = ""
    for part in split_path(path):
        node = _step(node, part, walked, path)
        walked = f"{walked}.{part}" if walked else str(part)
    return node


def set_path(payload: dict[str, Any], path: str, value: Any, *, create: bool = False) -> None:
    """Set `path` in place. Every part but the last must exist, except that with `create` a
    missing or null mapping on the way is created empty (`structure.dte_far.target` on a
    strategy whose `dte_far` is null)."""
    parts = split_path(path)
    node: Any = payload
    walked = ""
    for part in parts[:-1]:
        if create and isinstance(part, str) and isinstance(node, dict) and node.get(part) is None:
            node[part] = {}
        node = _step(node, part, walked, path)
        walked = f"{walked}.{part}" if walked else str(part)
    last = parts[-1]
    if isinstance(last, int) or not create or not isinstance(node, dict):
        _step(node, last, walked, path)  # raises with the helpful message
    node[last] = value


def apply_assignment(base: Mapping[str, Any], assignment: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with every path of `assignment` set."""
    payload = copy.deepcopy(dict(base))
    for path, value in assignment.items():
        set_path(payload, path, value)
    return payload
