"""Finding the sweeps, studies and backtests under a root, by their manifests, safely.

A directory is a **sweep** if it holds `sweep.json` (with `name`, `sweep` and
`grid_signature`), a **study** if it holds `summary.json` with `study` and `objectives` (a
finished study), or else `study.json` with `study`, `objectives` and `storage` (the manifest a
study writes when it starts), a **backtest** if it holds `summary.json` with `strategy`,
`kpis`, `data` and `engine`. Names are never guessed from. The walk does not enter hidden
directories, a found entry's own directories, or any directory (symlinks included) whose real
path leaves the root.

An entry's id is its path under the root: the parts joined with `~` (`sweeps~short_put_grid`;
`~` alone for the root itself), each part percent-encoded if it holds anything but letters,
digits, `-`, `_` and `.`. Ids are looked up in the catalog, never turned back into paths, so no
id can reach a file that discovery did not find.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

__all__ = ["Entry", "Kind", "ManifestCache", "discover", "entry_id", "inside", "read_json",
           "safe_file"]

Kind = Literal["sweep", "study", "backtest"]

#: Directories of a result directory, or of tools, that never hold another entry.
_SKIP = frozenset({"results", "equity", "failures", "heatmaps", "node_modules", "__pycache__",
                   "mlruns", "mlartifacts", "site-packages"})
_MAX_MANIFEST_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Entry:
    """One discovered result directory."""

    kind: Kind
    id: str
    rel: str  # posix path under the root ("." for the root)
    path: Path  # real path of the directory
    manifest: Path  # real path of its manifest
    mtime_ns: int  # of the manifest
    size: int  # of the manifest


def inside(path: Path, root: Path) -> bool:
    """Whether the real path `path` is `root` or under it (both already resolved)."""
    return path == root or root in path.parents


def safe_file(directory: Path, name: str, root: Path) -> Path | None:
    """`directory/name` if it is a regular file whose real path stays under `root`."""
    candidate = directory / name
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not inside(real, root) or not real.is_file():
        return None
    return real


def entry_id(parts: tuple[str, ...]) -> str:
    """The id of the entry at `parts` under the root (see the module docstring)."""
    if not parts:
        return "~"
    return "~".join(quote(p, safe="-_.").replace("~", "%7E") for p in parts)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None if it is not one (or too large to be a manifest)."""
    try:
        if path.stat().st_size > _MAX_MANIFEST_BYTES:
            return None
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _kind_of(payload: dict[str, Any], name: str) -> Kind | None:
    if name == "sweep.json":
        return "sweep" if {"name", "sweep", "grid_signature"} <= payload.keys() else None
    if name == "study.json":
        return "study" if {"study", "objectives", "storage"} <= payload.keys() else None
    if {"study", "objectives"} <= payload.keys():
        return "study"
    if {"strategy", "kpis", "data", "engine"} <= payload.keys():
        return "backtest"
    return None


class ManifestCache:
    """Parsed manifests by (path, mtime, size): a rescan reads only what changed."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[int, int, Kind | None]] = {}

    def kind(self, path: Path, stat: os.stat_result) -> Kind | None:
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._seen.get(path)
        if cached is not None and cached[:2] == key:
            return cached[2]
        payload = read_json(path)
        kind = _kind_of(payload, path.name) if payload is not None else None
        self._seen[path] = (*key, kind)
        return kind


def discover(root: Path, *, max_depth: int = 8, max_dirs: int = 50_000,
             cache: ManifestCache | None = None) -> list[Entry]:
    """Every sweep, study and backtest under `root` (a resolved directory), by path."""
    manifests = cache or ManifestCache()
    found: list[Entry] = []
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    visited: set[Path] = set()
    while stack and len(visited) < max_dirs:
        directory, parts = stack.pop()
        if directory in visited:
            continue
        visited.add(directory)
        entry = _entry_at(directory, parts, root, manifests)
        if entry is not None:
            found.append(entry)
            continue
        if len(parts) >= max_depth:
            continue
        try:
            children = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for child in children:
            if child.name.startswith(".") or child.name in _SKIP:
                continue
            try:
                if not child.is_dir(follow_symlinks=True):
                    continue
                real = Path(child.path).resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if inside(real, root):  # a symlink out of the root is not followed
                stack.append((real, (*parts, child.name)))
    return sorted(found, key=lambda e: (e.kind, e.rel))


def _entry_at(directory: Path, parts: tuple[str, ...], root: Path,
              manifests: ManifestCache) -> Entry | None:
    for name in ("sweep.json", "summary.json", "study.json"):
        path = safe_file(directory, name, root)
        if path is None:
            continue
        try:
            stat = path.stat()
        except OSError:
            continue
        kind = manifests.kind(path, stat)
        if kind is not None:
            return Entry(kind, entry_id(parts), "/".join(parts) or ".", directory, path,
                         stat.st_mtime_ns, stat.st_size)
    return None
