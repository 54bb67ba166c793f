"""The embedded default chain: built on first use (the `history` profile: the real S&P 500 path of
1999–2018 with modelled quotes), then reused."""

from __future__ import annotations

import os
from pathlib import Path

from gridbt._typing import PathLike
from gridbt.data.errors import DataError, warn_data
from gridbt.data.home import gridbt_home
from gridbt.data.pack import PackedChain
from gridbt.data.packcache import load_cached, pack_chain_dir
from gridbt.data.store import (
    Manifest,
    check_chain_files,
    read_manifest,
    record_file_hashes,
    write_chain,
)

__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_SEED",
    "default_chain_dir",
    "ensure_synthetic_chain",
    "gridbt_home",
    "load_packed",
]

DEFAULT_SEED = 7
#: The profile of `data: null`, `gridbt demo` and `gridbt data synth` (docs/history_chain.md).
DEFAULT_PROFILE = "history"


def default_chain_dir(profile: str = DEFAULT_PROFILE, seed: int = DEFAULT_SEED) -> Path:
    return gridbt_home() / "chains" / f"synthetic-{profile}-seed{seed}"


def ensure_synthetic_chain(
    out_dir: PathLike | None = None,
    *,
    profile: str = DEFAULT_PROFILE,
    seed: int = DEFAULT_SEED,
    verify: bool = False,
) -> tuple[Path, Manifest, bool]:
    """Build the synthetic chain into `out_dir` unless it is already there.

    A chain already there is checked against its manifest: the manifest always, the hash of
    every file with `verify`. One that an older gridbt wrote, without the hashes of its files,
    gets them once its content is verified (`store.record_file_hashes`). One that fails a check
    is built again, with a `DataWarning` (it is deterministic: nothing is lost). Returns the
    directory, its manifest and whether it was built now.
    """
    from gridbt.data.synth import PROFILES, synthesize_chain

    target = Path(out_dir) if out_dir is not None else default_chain_dir(profile, seed)
    key = f"synthetic:{profile}:seed={seed}"
    if (target / "manifest.json").is_file():
        try:
            manifest = read_manifest(target)
            if manifest.import_key == key:
                if manifest.files is None:
                    return target, record_file_hashes(target), False
                if verify:
                    check_chain_files(target, manifest)
                return target, manifest, False
        except DataError as exc:
            warn_data(f"{exc}; the synthetic chain is built again")
    table = synthesize_chain(profile, seed)
    manifest = write_chain(
        table,
        target,
        import_key=key,
        extra={
            # the history profile's spot is the real S&P 500 close; its quotes are modelled
            "source": "history" if PROFILES[profile].real_path else "synthetic",
            "profile": profile,
            "seed": seed,
        },
    )
    return target, manifest, True


def load_packed(chain_dir: PathLike | None = None, *, cache: bool = True,
                write_cache: bool = True) -> PackedChain:
    """Load a chain directory packed (the default chain, built if absent, when None).

    The packed arrays come from the packed-chain cache (`packcache`), written on first use
    (`write_cache=False`: used if there, not written); `cache=False`, or `GRIDBT_PACK_CACHE=0`
    in the environment, reads and packs the chain afresh.
    """
    if chain_dir is None:
        chain_dir, manifest, _ = ensure_synthetic_chain()
    else:
        manifest = read_manifest(chain_dir)
    if cache and os.environ.get("GRIDBT_PACK_CACHE", "1") != "0":
        return load_cached(chain_dir, manifest, write=write_cache)[0]
    return pack_chain_dir(chain_dir, manifest)
