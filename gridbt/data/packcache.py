"""The packed-chain cache: a chain packed once, memory-mapped from disk on every later load.

Reading a chain's Parquet and packing it takes 3 to 20 s for the default chain on 2 cores;
mapping its packed arrays back takes ~10 ms. A chain's cache is the directory
`<gridbt home>/packed/<fingerprint>-p<PACK_FORMAT_VERSION>/`: one uncompressed `.npy` file per
array of `PackedChain`, and `meta.json` (format version, fingerprint, underlying, feature
names, the chain directory it was packed from and, per array, its file, dtype, shape, size in
bytes and a content digest).

- Written whole or not at all: into a temporary sibling, fsynced, then renamed into place.
  Of concurrent builders one rename wins; the others discard their copy and load the winner's.
- Checked on every load: each file's size, the dtype and shape `np.load` reads, C order, and a
  digest of its content (all of it up to 256 KiB, 64 blocks of 4 KiB spread over a larger
  file). A cache that fails a check is moved aside, deleted and rebuilt, never used.
- Keyed by content and format: a changed chain (new fingerprint) or a new pack format (new
  version) selects a new directory. After a build, entries that cannot be used any more are
  deleted: those of an older format, those whose chain directory now holds another chain or
  none, and temporary directories a crashed builder left over an hour ago. Entries of other
  chains stay; delete `<gridbt home>/packed` to reclaim all the space.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
import uuid
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from gridbt._typing import PathLike
from gridbt.data import pack  # PACK_FORMAT_VERSION read at call time (tests change it)
from gridbt.data.errors import DataError
from gridbt.data.home import gridbt_home
from gridbt.data.pack import PackedChain
from gridbt.data.store import Manifest, read_chain, read_manifest

__all__ = [
    "ARRAY_FIELDS",
    "META_NAME",
    "PackCacheError",
    "load_cached",
    "pack_chain_dir",
    "packed_cache_dir",
    "read_packed",
    "write_packed",
]

META_NAME = "meta.json"
_META_FIELDS = ("feature_names", "fingerprint", "underlying")
#: The fields of `PackedChain` stored as `.npy` files, in declaration order.
ARRAY_FIELDS = tuple(f.name for f in fields(PackedChain) if f.name not in _META_FIELDS)
_BLOCK, _BLOCKS = 4096, 64
_STALE_TEMP_SECONDS = 3600.0


class PackCacheError(DataError):
    """A packed-chain cache that is missing, truncated, corrupt, or of another chain or format."""


def packed_cache_dir(fingerprint: str) -> Path:
    """The cache directory of the chain with this fingerprint, in the current pack format."""
    return gridbt_home() / "packed" / f"{fingerprint}-p{pack.PACK_FORMAT_VERSION}"


def pack_chain_dir(chain_dir: PathLike, manifest: Manifest | None = None) -> PackedChain:
    """Read a chain directory and pack it, without the cache."""
    manifest = read_manifest(chain_dir) if manifest is None else manifest
    table = read_chain(chain_dir).combine_chunks()
    # a chain rewritten meanwhile would be cached under the old fingerprint
    if read_manifest(chain_dir).fingerprint != manifest.fingerprint:
        raise DataError("the chain was rewritten while it was read; run again", path=chain_dir)
    return pack.pack_chain(table, fingerprint=manifest.fingerprint)


def load_cached(
    chain_dir: PathLike, manifest: Manifest | None = None
) -> tuple[PackedChain, bool]:
    """Load a chain directory packed, from its cache; pack it and write the cache on a miss.

    Returns the packed chain, whose arrays are read-only maps of the cache files, and whether
    this call wrote the cache. A cache that cannot be written (a read-only or full disk) is
    reported by a `RuntimeWarning`, and the chain packed in memory is returned.
    """
    manifest = read_manifest(chain_dir) if manifest is None else manifest
    target = packed_cache_dir(manifest.fingerprint)
    if target.exists():
        try:
            return read_packed(target, manifest.fingerprint), False
        except PackCacheError:
            _discard(target)  # broken: never used, rebuilt below
    packed = pack_chain_dir(chain_dir, manifest)
    try:
        built = write_packed(packed, chain_dir)
        # the maps, not the arrays just packed: every caller gets the same, page-cache backed
        return read_packed(target, manifest.fingerprint), built
    except (OSError, PackCacheError) as exc:
        warnings.warn(f"packed-chain cache not used: {exc}", RuntimeWarning, stacklevel=2)
        return packed, False


def write_packed(packed: PackedChain, chain_dir: PathLike) -> bool:
    """Write the cache of `packed` (packed from `chain_dir`) atomically.

    Returns False, leaving the existing cache in place, when another writer got there first.
    """
    target = packed_cache_dir(packed.fingerprint)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir()
    try:
        arrays = {name: _write_array(tmp, name, getattr(packed, name)) for name in ARRAY_FIELDS}
        meta = {
            "format_version": pack.PACK_FORMAT_VERSION,
            "fingerprint": packed.fingerprint,
            "underlying": packed.underlying,
            "feature_names": list(packed.feature_names),
            "chain_dir": str(Path(chain_dir).resolve()),
            "arrays": arrays,
        }
        with open(tmp / META_NAME, "w") as out:
            json.dump(meta, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        _fsync_dir(tmp)
        try:
            os.rename(tmp, target)  # fails when the target exists: a rename never merges
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            return False
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(target)
    return True


def read_packed(directory: Path, fingerprint: str) -> PackedChain:
    """Map a cache directory's arrays read-only, after checking each against `meta.json`.

    Raises
    ------
    PackCacheError
        If the cache is missing, of another chain or pack format, truncated or corrupt.
    """
    try:
        meta = json.loads((directory / META_NAME).read_bytes())
        if meta["format_version"] != pack.PACK_FORMAT_VERSION or meta["fingerprint"] != fingerprint:
            raise PackCacheError("the cache is of another chain or pack format", path=directory)
        if sorted(meta["arrays"]) != sorted(ARRAY_FIELDS):
            raise PackCacheError("the cache holds other arrays than PackedChain", path=directory)
        arrays = {name: _read_array(directory, name, meta["arrays"][name]) for name in ARRAY_FIELDS}
        return PackedChain(
            **arrays,
            feature_names=tuple(meta["feature_names"]),
            fingerprint=meta["fingerprint"],
            underlying=meta["underlying"],
        )
    except PackCacheError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:  # json and np.load errors included
        raise PackCacheError(f"unreadable cache: {exc}", path=directory) from exc


def _content_digest(array: np.ndarray) -> str:
    """blake2b of a C-ordered array's bytes: all of them up to 256 KiB, else 64 blocks of 4 KiB
    spread evenly, first and last included (~1 ms a file, whatever its size)."""
    raw = array.reshape(-1).view(np.uint8)
    digest = hashlib.blake2b(digest_size=16)
    if raw.size <= _BLOCK * _BLOCKS:
        digest.update(raw.data)
    else:
        for start in np.linspace(0, raw.size - _BLOCK, _BLOCKS).astype(np.int64):
            digest.update(raw[start : start + _BLOCK].data)
    return digest.hexdigest()


def _write_array(directory: Path, name: str, array: object) -> dict[str, Any]:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"PackedChain.{name} is {type(array).__name__}, not an array")
    array = np.ascontiguousarray(array)
    path = directory / f"{name}.npy"
    with open(path, "wb") as out:
        np.lib.format.write_array(out, array, allow_pickle=False)
        out.flush()
        os.fsync(out.fileno())
        size = os.fstat(out.fileno()).st_size
    return {"file": path.name, "dtype": array.dtype.str, "shape": list(array.shape),
            "bytes": size, "digest": _content_digest(array)}


def _read_array(directory: Path, name: str, entry: dict[str, Any]) -> np.ndarray:
    if entry["file"] != f"{name}.npy":
        raise PackCacheError(f"{name}: unexpected file {entry['file']!r}", path=directory)
    path = directory / entry["file"]
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise PackCacheError(f"{size} bytes, expected {entry['bytes']}", path=path)
    # a plain ndarray view of the memmap: it pickles out of band, so ray.put copies it once
    array = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
    if (array.dtype.str != entry["dtype"] or list(array.shape) != entry["shape"]
            or not array.flags.c_contiguous):
        raise PackCacheError(
            f"{array.dtype.str}{list(array.shape)}, expected {entry['dtype']}{entry['shape']}",
            path=path,
        )
    if _content_digest(array) != entry["digest"]:
        raise PackCacheError("content does not match its digest", path=path)
    return array


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(directory: Path) -> None:
    """Move a cache directory aside, then delete it: readers find it whole or not at all."""
    aside = directory.with_name(f".{directory.name}.{uuid.uuid4().hex}.old")
    try:
        os.rename(directory, aside)
    except FileNotFoundError:
        return  # another process discarded it first
    shutil.rmtree(aside, ignore_errors=True)


def _prune(kept: Path) -> None:
    """Delete what no load can use any more (see the module docstring)."""
    for entry in kept.parent.iterdir():
        try:
            if entry.name.startswith("."):
                if time.time() - entry.stat().st_mtime > _STALE_TEMP_SECONDS:
                    shutil.rmtree(entry, ignore_errors=True)
            elif entry != kept and _stale(entry):
                _discard(entry)
        except OSError:
            continue  # pruned by another process meanwhile


def _stale(entry: Path) -> bool:
    fingerprint, sep, version = entry.name.rpartition("-p")
    if not sep or not version.isdigit():
        return False  # not a cache entry
    if int(version) != pack.PACK_FORMAT_VERSION:
        return int(version) < pack.PACK_FORMAT_VERSION  # a newer gridbt's entries stay
    try:
        chain_dir = json.loads((entry / META_NAME).read_bytes())["chain_dir"]
        return read_manifest(chain_dir).fingerprint != fingerprint
    except (OSError, ValueError, KeyError, TypeError):  # no meta, no chain (a DataError)
        return True
