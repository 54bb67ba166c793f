"""Reading gridbt's YAML files (strategies, sweeps, studies) within fixed bounds.

A small YAML file can stand for an enormous value: each alias repeats the whole node it names,
so nine lines of anchors and aliases ("billion laughs") make a billion strings, which every
later step (validation, error messages, hashing) would walk. Every YAML file gridbt reads goes
through `load_yaml`, which

- refuses a file over `MAX_FILE_BYTES` before parsing it;
- counts the values of the document as it is composed, each alias counting every value of the
  node it repeats, and refuses the document as soon as the count passes `MAX_VALUES`
  (composing stops there, so neither time nor memory grows with what an alias would make);
- refuses an alias to a node that contains it (a recursive value);
- constructs Python values with PyYAML's safe constructor only (a `!!python/...` tag is an
  error).

A refusal is a `YamlLimitError` (a `yaml.YAMLError`) whose message names the field (the keys
from the top of the document), the line and column, and the count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["MAX_FILE_BYTES", "MAX_VALUES", "YamlLimitError", "load_yaml", "parse_yaml"]

#: Largest YAML file read, in bytes (job files are a few kB).
MAX_FILE_BYTES = 1 << 20
#: Most values (scalars, lists and mappings, each alias counting the values it repeats) in a
#: document: an axis's longest list (`sweep.spec.MAX_AXIS_VALUES`) fits, an alias bomb does not.
#: Composing this many takes about 2 s and 80 MB.
MAX_VALUES = 110_000


class YamlLimitError(yaml.YAMLError):  # type: ignore[misc]  # PyYAML ships no type stubs
    """A YAML file beyond gridbt's bounds: too large, too many values once aliases are
    expanded, or a recursive alias."""


class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader, counting values as they are composed (see the module docstring)."""

    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        self.values = 0  # values so far, aliases expanded
        self.sizes: dict[int, int] = {}  # id(anchored node) -> its values, aliases expanded
        self.keys: list[str] = []  # where the node being composed sits

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self.keys.append(_key(parent, index))
        try:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                node: Node = super().compose_node(parent, index)
                size = self.sizes.get(id(node))
                if size is None:
                    raise YamlLimitError(f"{self._field()}alias *{event.anchor} at "
                                         f"{_position(event.start_mark)} repeats a node that "
                                         "contains it (a recursive value)")
                self._count(size, f"alias *{event.anchor}", event.start_mark)
                return node
            event = self.peek_event()
            before = self.values
            node = super().compose_node(parent, index)
            self._count(1, "the value", event.start_mark)
            if event.anchor is not None:
                self.sizes[id(node)] = self.values - before
            return node
        finally:
            self.keys.pop()

    def _count(self, n: int, what: str, mark: Any) -> None:
        self.values += n
        if self.values > MAX_VALUES:
            repeats = f" repeats {n:,} values, which" if n > 1 else ""
            raise YamlLimitError(
                f"{self._field()}{what} at {_position(mark)}{repeats} takes the file past "
                f"{MAX_VALUES:,} values, the most gridbt reads (each alias counts every value "
                "it repeats)"
            )

    def _field(self) -> str:
        field = "".join(k if k.startswith("[") else f".{k}" for k in self.keys if k)
        return f"{field.removeprefix('.')}: " if field else ""


def _key(parent: Node | None, index: Any) -> str:
    """The part of a field name that `index` (a mapping key node, or a position) adds."""
    if isinstance(parent, SequenceNode):
        return f"[{index}]"
    if isinstance(parent, MappingNode):
        if index is None:  # composing the key itself
            return ""
        return str(index.value) if isinstance(index, ScalarNode) else "?"
    return ""


def _position(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def parse_yaml(data: bytes | str) -> Any:
    """Parse one YAML document within the bounds of the module docstring.

    Raises `yaml.YAMLError` (a `YamlLimitError` for a bound).
    """
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_FILE_BYTES:
        raise YamlLimitError(f"{len(raw):,} bytes, more than the {MAX_FILE_BYTES:,} a gridbt "
                             "YAML file may have")
    loader = _BoundedLoader(raw)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml(path: Path) -> Any:
    """Read and parse the YAML file `path` within the bounds of the module docstring.

    Raises `OSError` if the file cannot be read, `yaml.YAMLError` (a `YamlLimitError` for a
    bound) if it is not YAML gridbt reads.
    """
    with path.open("rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise YamlLimitError(f"more than {MAX_FILE_BYTES:,} bytes, the most a gridbt YAML file "
                             "may have")
    return parse_yaml(data)
