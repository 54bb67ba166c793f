"""Dotted parameter paths into a strategy payload: `structure.legs.0.select.target`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["apply_assignment", "get_path", "set_path", "split_path"]


def split_path(path: str) -> list[str | int]:
    """`a.legs.0.b` -> ['a', 'legs', 0, 'b']; `legs[0]` is accepted for `legs.0`."""
    parts: list[str | int] = []
    for raw in path.replace("[", ".").replace("]", "").split("."):
        if raw == "":
            raise KeyError(f"{path}: empty path component")
        parts.append(int(raw) if raw.isdigit() else raw)
    return parts


def _step(node: Any, part: str | int, walked: str, path: str) -> Any:
    if isinstance(part, int):
        if not isinstance(node, list):
            raise KeyError(f"{path}: {walked or 'the strategy'} is not a list")
        if not 0 <= part < len(node):
            raise KeyError(f"{path}: {walked} has {len(node)} entries, no index {part}")
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


def set_path(payload: dict[str, Any], path: str, value: Any) -> None:
    """Set `path` in place; every part but the last must exist."""
    parts = split_path(path)
    parent = get_path(payload, ".".join(map(str, parts[:-1]))) if len(parts) > 1 else payload
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(parent, list) or not 0 <= last < len(parent):
            raise KeyError(f"{path}: no index {last}")
        parent[last] = value
        return
    if not isinstance(parent, dict) or last not in parent:
        get_path(payload, path)  # raises with the helpful message
    parent[last] = value


def apply_assignment(base: Mapping[str, Any], assignment: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with every path of `assignment` set."""
    payload = copy.deepcopy(dict(base))
    for path, value in assignment.items():
        set_path(payload, path, value)
    return payload
