"""Where gridbt keeps its caches (chains, packed chains, compiled kernels)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["gridbt_home"]


def gridbt_home() -> Path:
    """Directory for gridbt's caches: `$GRIDBT_HOME`, else `~/.cache/gridbt`."""
    return Path(os.environ.get("GRIDBT_HOME", Path.home() / ".cache" / "gridbt"))
