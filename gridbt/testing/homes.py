"""Gridbt homes of a test's own that share the compiled kernels.

A test about chains, caches or stores wants a `GRIDBT_HOME` of its own, but not the kernels
compiled again in it (25-40 s a home, in every process started under it). The kernel cache is
keyed by the source it was compiled from (`gridbt.kernel.cache`), so any home may share the
default one's."""

from __future__ import annotations

from pathlib import Path

from gridbt.data.home import gridbt_home

__all__ = ["fresh_home"]


def fresh_home(path: Path) -> Path:
    """Make `path` an empty gridbt home but for its `numba` folder, a link to the compiled
    kernels of the home this process was started with; return `path`."""
    shared = gridbt_home() / "numba"
    shared.mkdir(parents=True, exist_ok=True)
    path.mkdir(parents=True, exist_ok=True)
    (path / "numba").symlink_to(shared.resolve(), target_is_directory=True)
    return path
