"""The embedded default chain: built from the synthetic generator on first use, then reused."""

from __future__ import annotations

import os
from pathlib import Path

from gridbt._typing import PathLike
from gridbt.data.pack import PackedChain, pack_chain
from gridbt.data.store import Manifest, read_chain, read_manifest, write_chain

__all__ = [
    "DEFAULT_SEED",
    "default_chain_dir",
    "ensure_synthetic_chain",
    "gridbt_home",
    "load_packed",
]

DEFAULT_SEED = 7


def gridbt_home() -> Path:
    """Directory for gridbt's caches: `$GRIDBT_HOME`, else `~/.cache/gridbt`."""
    return Path(os.environ.get("GRIDBT_HOME", Path.home() / ".cache" / "gridbt"))


def default_chain_dir(profile: str = "default", seed: int = DEFAULT_SEED) -> Path:
    return gridbt_home() / "chains" / f"synthetic-{profile}-seed{seed}"


def ensure_synthetic_chain(
    out_dir: PathLike | None = None, *, profile: str = "default", seed: int = DEFAULT_SEED
) -> tuple[Path, Manifest, bool]:
    """Build the synthetic chain into `out_dir` unless it is already there.

    Returns the directory, its manifest and whether it was built now.
    """
    from gridbt.data.synth import synthesize_chain

    target = Path(out_dir) if out_dir is not None else default_chain_dir(profile, seed)
    key = f"synthetic:{profile}:seed={seed}"
    if (target / "manifest.json").is_file():
        manifest = read_manifest(target)
        if manifest.import_key == key:
            return target, manifest, False
    table = synthesize_chain(profile, seed)
    manifest = write_chain(
        table,
        target,
        import_key=key,
        extra={"source": "synthetic", "profile": profile, "seed": seed},
    )
    return target, manifest, True


def load_packed(chain_dir: PathLike | None = None) -> PackedChain:
    """Read and pack a chain directory (the default chain, built if absent, when None)."""
    if chain_dir is None:
        chain_dir, manifest, _ = ensure_synthetic_chain()
    else:
        manifest = read_manifest(chain_dir)
    table = read_chain(chain_dir).combine_chunks()
    return pack_chain(table, fingerprint=manifest.fingerprint)
