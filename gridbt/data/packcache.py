"""The packed-chain cache: a chain packed once, memory-mapped from disk on every later load.

Reading a chain's Parquet and packing it takes 3 to 20 s for the default chain on 2 cores;
mapping its packed arrays back takes ~10 ms. A chain's cache is the directory
`<gridbt home>/packed/<content key>-p<PACK_FORMAT_VERSION>/`: one uncompressed `.npy` file per
array of `PackedChain`, `meta.json` (format version, content key, fingerprint, rows, days,
underlying, feature names, the chain directory it was packed from and, per array, its file,
dtype, shape, size in bytes, a sampled digest and a blake2b-256 hash of all of it), and
`chains.json` (the stamps of the chain files of each chain directory it served, as checked).

- Packed from a verified chain only: a build reads the chain with every file checked against
  the manifest and every fact of the manifest recomputed (`store.verify_chain`).
- Keyed by content and format: the key is `Manifest.content_key()`, a digest of the manifest's
  facts and of each file's size, rows and hash, so a changed file, or a manifest edited to
  claim other content, selects another directory and can never be served a stale pack.
- Checked on every load, cheaply: the chain's files against the manifest
  (`store.check_chain_files`: each size, and the hash of a file changed since it was last
  checked, refused naming the file); each array file's size, the dtype and shape `np.load`
  reads, C order and a sampled digest (all of it up to 256 KiB, 64 blocks of 4 KiB spread over a
  larger file); the quote and day counts against the manifest. A cache failing a check is moved
  aside, deleted and rebuilt, never used. `verify_packed` (`gridbt data validate --deep`)
  hashes every byte.
- Written whole or not at all: into a temporary sibling, fsynced, then renamed into place.
  Of concurrent builders one rename wins; the others discard their copy and load the winner's.
- Pruned after a build: entries of an older format, entries that no chain directory they
  served still holds, and temporaries whose builder is dead (`_atomic.remove_dead_temps`).
  Entries of other chains stay; delete `<gridbt home>/packed` to reclaim all the space.

Arrays that other layers derive from the packed chain alone (the trade tables' contract-major
copy) can be kept with it (`write_derived`, `read_derived`): in `derived/<name>-v<version>/`
of the chain's cache directory, with a `meta.json` of their own, written whole or not at all
and checked on every read like the chain's arrays. They share the entry's key and its pruning,
and `verify_packed` hashes them too; a damaged one is discarded and made again by its user.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from gridbt._atomic import owned_temp, remove_dead_temps, write_json_atomic
from gridbt._typing import PathLike
from gridbt.data import pack  # PACK_FORMAT_VERSION read at call time (tests change it)
from gridbt.data.errors import DataError
from gridbt.data.home import gridbt_home
from gridbt.data.pack import PackedChain
from gridbt.data.store import (
    FileStamp,
    LoadedChain,
    Manifest,
    check_chain_files,
    read_manifest,
    verify_chain,
)

__all__ = [
    "ARRAY_FIELDS",
    "META_NAME",
    "PackCacheError",
    "cache_dir_of",
    "chain_dirs_of",
    "load_cached",
    "pack_chain_dir",
    "packed_cache_dir",
    "read_derived",
    "read_packed",
    "verify_packed",
    "write_derived",
    "write_packed",
]

META_NAME = "meta.json"
STAMPS_NAME = "chains.json"
DERIVED_NAME = "derived"
_DERIVED_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_META_FIELDS = ("feature_names", "fingerprint", "underlying")
#: The fields of `PackedChain` stored as `.npy` files, in declaration order.
ARRAY_FIELDS = tuple(f.name for f in fields(PackedChain) if f.name not in _META_FIELDS)
_BLOCK, _BLOCKS = 4096, 64


class PackCacheError(DataError):
    """A packed-chain cache that is missing, truncated, corrupt, or of another chain or format."""


def packed_cache_dir(manifest: Manifest) -> Path:
    """The cache directory of the chain with this manifest, in the current pack format."""
    return gridbt_home() / "packed" / f"{manifest.content_key()}-p{pack.PACK_FORMAT_VERSION}"


def chain_dirs_of(fingerprint: str) -> list[Path]:
    """The chain directories the caches of chains with this fingerprint were packed from or
    served, as recorded (each may hold another chain by now: read its manifest)."""
    found: dict[Path, None] = {}
    suffix = f"-p{pack.PACK_FORMAT_VERSION}"
    try:
        entries = sorted((gridbt_home() / "packed").iterdir())
    except OSError:
        return []
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(suffix):
            continue
        try:
            meta = json.loads((entry / META_NAME).read_bytes())
            if meta["fingerprint"] != fingerprint:
                continue
            found[Path(meta["chain_dir"])] = None
            found.update(dict.fromkeys(map(Path, json.loads((entry / STAMPS_NAME).read_bytes()))))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no stamps yet, or not a cache entry
    return list(found)


def pack_chain_dir(chain_dir: PathLike, manifest: Manifest | None = None) -> PackedChain:
    """Read a chain directory, verify it against its manifest and pack it, without the cache.

    Raises
    ------
    DataError
        Naming the file, if the chain differs from its manifest (`store.verify_chain`), or if
        it is not the chain of `manifest` any more (rewritten while it was read).
    """
    return _pack_verified(chain_dir, manifest)[0]


def _pack_verified(
    chain_dir: PathLike, manifest: Manifest | None
) -> tuple[PackedChain, LoadedChain]:
    manifest = read_manifest(chain_dir) if manifest is None else manifest
    loaded = verify_chain(chain_dir)
    # a chain rewritten meanwhile would be cached under the old key
    if loaded.manifest.content_key() != manifest.content_key():
        raise DataError("the chain was rewritten while it was read; run again", path=chain_dir)
    table = loaded.table.combine_chunks()
    return pack.pack_chain(table, fingerprint=manifest.fingerprint), loaded


def load_cached(
    chain_dir: PathLike, manifest: Manifest | None = None, *, write: bool = True
) -> tuple[PackedChain, bool]:
    """Load a chain directory packed, from its cache; pack it and write the cache on a miss
    (with `write=False`, pack it in memory and leave the disk as it is).

    Returns the packed chain, whose arrays are read-only maps of the cache files, and whether
    this call wrote the cache. A cache that cannot be written (a read-only or full disk) is
    reported by a `RuntimeWarning`, and the chain packed in memory is returned.

    Raises
    ------
    DataError
        Naming the file, if the chain differs from its manifest: checked cheaply on a load
        from the cache (`store.check_chain_files`), in full on a pack (`store.verify_chain`).
    """
    manifest = read_manifest(chain_dir) if manifest is None else manifest
    target = packed_cache_dir(manifest)
    if target.exists():
        _check_chain(chain_dir, manifest, target)
        try:
            return read_packed(target, manifest), False
        except PackCacheError:
            _discard(target)  # broken: never used, rebuilt below
    packed, loaded = _pack_verified(chain_dir, manifest)
    if not write:
        return packed, False
    try:
        built = write_packed(packed, chain_dir, manifest, loaded.stamps)
        # the maps, not the arrays just packed: every caller gets the same, page-cache backed
        return read_packed(target, manifest), built
    except (OSError, PackCacheError) as exc:
        warnings.warn(f"packed-chain cache not used: {exc}", RuntimeWarning, stacklevel=2)
        return packed, False


def write_packed(
    packed: PackedChain,
    chain_dir: PathLike,
    manifest: Manifest,
    stamps: dict[str, FileStamp] | None = None,
) -> bool:
    """Write the cache of `packed`, packed from `chain_dir` of `manifest`, atomically.

    `stamps` are those of the chain's files as they were verified (`LoadedChain.stamps`).
    Returns False, leaving the existing cache in place, when another writer got there first.
    """
    if packed.fingerprint != manifest.fingerprint:
        raise ValueError("the packed chain is not the chain of the manifest")
    target = packed_cache_dir(manifest)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = owned_temp(target)
    tmp.mkdir()
    try:
        arrays = {name: _write_array(tmp, name, getattr(packed, name)) for name in ARRAY_FIELDS}
        meta = {
            "format_version": pack.PACK_FORMAT_VERSION,
            "key": manifest.content_key(),
            "fingerprint": packed.fingerprint,
            "rows": manifest.rows,
            "days": manifest.days,
            "underlying": packed.underlying,
            "feature_names": list(packed.feature_names),
            "chain_dir": str(Path(chain_dir).resolve()),
            "arrays": arrays,
        }
        _write_meta(tmp, meta)
        if stamps:
            _write_stamps(tmp, chain_dir, stamps)
        if not _rename_into_place(tmp, target):
            return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(target)
    return True


def read_packed(directory: Path, manifest: Manifest) -> PackedChain:
    """Map a cache directory's arrays read-only, after checking each against `meta.json` and
    the counts against `manifest`.

    Raises
    ------
    PackCacheError
        If the cache is missing, of another chain or pack format, truncated or corrupt.
    """
    try:
        meta = json.loads((directory / META_NAME).read_bytes())
        if (meta["format_version"] != pack.PACK_FORMAT_VERSION
                or meta["key"] != manifest.content_key()
                or meta["fingerprint"] != manifest.fingerprint):
            raise PackCacheError("the cache is of another chain or pack format", path=directory)
        if sorted(meta["arrays"]) != sorted(ARRAY_FIELDS):
            raise PackCacheError("the cache holds other arrays than PackedChain", path=directory)
        arrays = {name: _read_array(directory, name, meta["arrays"][name]) for name in ARRAY_FIELDS}
        packed = PackedChain(
            **arrays,
            feature_names=tuple(meta["feature_names"]),
            fingerprint=meta["fingerprint"],
            underlying=meta["underlying"],
        )
    except PackCacheError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:  # json and np.load errors included
        raise PackCacheError(f"unreadable cache: {exc}", path=directory) from exc
    if (packed.n_quotes, packed.n_days) != (manifest.rows, manifest.days):
        raise PackCacheError(
            f"{packed.n_quotes:,} quotes on {packed.n_days:,} days, the chain has "
            f"{manifest.rows:,} on {manifest.days:,}", path=directory)
    return packed


def verify_packed(chain_dir: PathLike, manifest: Manifest | None = None) -> tuple[Path, str]:
    """Check every byte of a chain's packed cache, its derived arrays included, against the
    hashes written with it.

    Returns the cache directory and what was found: ``"absent"``, ``"ok"``, or what was wrong;
    a cache found wrong is discarded (the next load rebuilds it), and so are damaged derived
    arrays alone (their user makes them again).
    """
    manifest = read_manifest(chain_dir) if manifest is None else manifest
    target = packed_cache_dir(manifest)
    if not target.exists():
        return target, "absent"
    try:
        read_packed(target, manifest)
        meta = json.loads((target / META_NAME).read_bytes())
        for name in ARRAY_FIELDS:
            _check_hash(target, meta["arrays"][name])
    except PackCacheError as exc:
        _discard(target)
        return target, f"damaged ({exc}): discarded, rebuilt on the next load"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _discard(target)
        return target, f"unreadable ({exc}): discarded, rebuilt on the next load"
    damaged = _verify_derived(target)
    if damaged:
        return target, (f"ok; derived arrays {', '.join(damaged)} damaged: discarded, made "
                        "again on their next use")
    return target, "ok"


def cache_dir_of(packed: PackedChain) -> Path | None:
    """The cache directory whose files `packed`'s arrays map (`read_packed`), or None: a chain
    packed in memory, or one whose arrays were copied (as out of Ray's object store)."""
    base = getattr(packed.quote_bid, "base", None)
    if not isinstance(base, np.memmap) or not base.filename:
        return None
    path = Path(base.filename)
    if path.name != "quote_bid.npy":
        return None
    try:
        meta = json.loads((path.parent / META_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    if (not isinstance(meta, dict) or meta.get("fingerprint") != packed.fingerprint
            or meta.get("format_version") != pack.PACK_FORMAT_VERSION):
        return None
    return path.parent


def _derived_dir(packed: PackedChain, name: str, version: int) -> Path | None:
    if not _DERIVED_KEY.match(name) or isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"derived arrays: name {name!r} must be lower-case letters, digits "
                         f"and _, and version {version!r} an int")
    directory = cache_dir_of(packed)
    return None if directory is None else directory / DERIVED_NAME / f"{name}-v{version}"


def read_derived(
    packed: PackedChain, name: str, version: int,
    check: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> dict[str, np.ndarray] | None:
    """The arrays `write_derived` stored with `packed`'s cache as `name` at `version`, mapped
    read-only and checked as the chain's own are (size, dtype, shape, sampled digest), then by
    `check` (its user's: a ValueError says they do not fit the chain); None when there are
    none, or `packed` was not loaded from the cache. An entry that fails a check is discarded
    (and None returned): its user makes the arrays again."""
    target = _derived_dir(packed, name, version)
    if target is None or not target.exists():
        return None
    try:
        meta = json.loads((target / META_NAME).read_bytes())
        if (meta["name"], meta["version"], meta["fingerprint"]) != (name, version,
                                                                     packed.fingerprint):
            raise PackCacheError("derived arrays of another chain or version", path=target)
        arrays = {key: _read_array(target, key, entry) for key, entry in meta["arrays"].items()}
        if check is not None:
            check(arrays)
        return arrays
    except (PackCacheError, OSError, ValueError, KeyError, TypeError):
        _discard(target)
        return None


def write_derived(packed: PackedChain, name: str, version: int,
                  arrays: dict[str, np.ndarray]) -> bool:
    """Store `arrays`, made from `packed` alone by code at `version`, with `packed`'s cache as
    `name` (`read_derived` maps them in later processes): into a temporary sibling, fsynced,
    then renamed into place; older versions of `name` are removed. False, writing nothing,
    when `packed` was not loaded from the cache or another writer got there first.

    Raises
    ------
    OSError
        When the cache cannot be written (a read-only or full disk).
    """
    target = _derived_dir(packed, name, version)
    if target is None:
        return False
    for key in arrays:
        if not _DERIVED_KEY.match(key):
            raise ValueError(f"derived array name {key!r}: lower-case letters, digits and _")
    target.parent.mkdir(exist_ok=True)
    tmp = owned_temp(target)
    tmp.mkdir()
    try:
        entries = {key: _write_array(tmp, key, array) for key, array in arrays.items()}
        _write_meta(tmp, {"name": name, "version": version, "fingerprint": packed.fingerprint,
                          "arrays": entries})
        if not _rename_into_place(tmp, target):
            return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    remove_dead_temps(target.parent)
    for entry in target.parent.iterdir():  # older versions (a newer gridbt's stay)
        other = entry.name.removeprefix(f"{name}-v")
        if other != entry.name and other.isdigit() and int(other) < version:
            _discard(entry)
    return True


def _verify_derived(directory: Path) -> list[str]:
    """Hash every derived entry of a cache directory against its meta; discard the damaged
    ones and name them."""
    damaged: list[str] = []
    try:
        entries = sorted((directory / DERIVED_NAME).iterdir())
    except OSError:
        return damaged
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            meta = json.loads((entry / META_NAME).read_bytes())
            for key, item in meta["arrays"].items():
                _read_array(entry, key, item)
                _check_hash(entry, item)
        except (PackCacheError, OSError, ValueError, KeyError, TypeError):
            _discard(entry)
            damaged.append(entry.name)
    return damaged


def _check_chain(chain_dir: PathLike, manifest: Manifest, target: Path) -> None:
    """`store.check_chain_files` with the stamps this cache holds of `chain_dir`; new stamps
    are recorded (if the cache can be written) so an unchanged file is hashed once."""
    where = str(Path(chain_dir).resolve())
    try:
        known = json.loads((target / STAMPS_NAME).read_bytes()).get(where, {})
    except (OSError, ValueError, AttributeError):
        known = {}
    stamps = check_chain_files(chain_dir, manifest, known)
    if stamps and stamps != {name: tuple(stamp) for name, stamp in known.items()}:
        try:
            _write_stamps(target, chain_dir, stamps)
        except OSError:
            pass  # a read-only cache: the files are hashed again next time


def _write_stamps(directory: Path, chain_dir: PathLike, stamps: dict[str, FileStamp]) -> None:
    path = directory / STAMPS_NAME
    try:
        recorded = json.loads(path.read_bytes())
    except (OSError, ValueError):
        recorded = {}
    recorded[str(Path(chain_dir).resolve())] = {name: list(s) for name, s in stamps.items()}
    write_json_atomic(path, recorded)


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
    full = hashlib.blake2b(array.reshape(-1).view(np.uint8).data, digest_size=32).hexdigest()
    return {"file": path.name, "dtype": array.dtype.str, "shape": list(array.shape),
            "bytes": size, "digest": _content_digest(array), "blake2b": full}


def _check_hash(directory: Path, entry: dict[str, Any]) -> None:
    """Raise PackCacheError unless the blake2b-256 of a cached array's data (its `.npy` file
    after the header) is the one its meta `entry` was written with."""
    path = directory / entry["file"]
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    digest = hashlib.blake2b(digest_size=32)
    raw = np.asarray(array).reshape(-1).view(np.uint8)
    for start in range(0, raw.size, 1 << 24):
        digest.update(raw[start : start + (1 << 24)].data)
    if digest.hexdigest() != entry["blake2b"]:
        raise PackCacheError("content does not match its hash", path=path)


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


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    with open(directory / META_NAME, "w") as out:
        json.dump(meta, out, indent=2, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())


def _rename_into_place(tmp: Path, target: Path) -> bool:
    """Rename the written temporary directory `tmp` (fsynced first) to `target`; False when
    `target` exists: a rename never merges, another writer got there first."""
    _fsync_dir(tmp)
    try:
        os.rename(tmp, target)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        return False
    _fsync_dir(target.parent)
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(directory: Path) -> None:
    """Move a cache directory aside, then delete it: readers find it whole or not at all."""
    aside = owned_temp(directory, "old")
    try:
        os.rename(directory, aside)
    except FileNotFoundError:
        return  # another process discarded it first
    shutil.rmtree(aside, ignore_errors=True)


def _prune(kept: Path) -> None:
    """Delete what no load can use any more (see the module docstring)."""
    remove_dead_temps(kept.parent)
    for entry in kept.parent.iterdir():
        try:
            if not entry.name.startswith(".") and entry != kept and _stale(entry):
                _discard(entry)
        except OSError:
            continue  # pruned by another process meanwhile


def _stale(entry: Path) -> bool:
    key, sep, version = entry.name.rpartition("-p")
    if not sep or not version.isdigit():
        return False  # not a cache entry
    if int(version) != pack.PACK_FORMAT_VERSION:
        return int(version) < pack.PACK_FORMAT_VERSION  # a newer gridbt's entries stay
    try:
        chains = {json.loads((entry / META_NAME).read_bytes())["chain_dir"]}
    except (OSError, ValueError, KeyError, TypeError):
        return True  # no meta: not a cache any load can use
    try:
        chains |= set(json.loads((entry / STAMPS_NAME).read_bytes()))
    except (OSError, ValueError, TypeError):
        pass
    for chain_dir in chains:
        try:
            if read_manifest(chain_dir).content_key() == key:
                return False
        except (OSError, ValueError):  # no chain there any more (a DataError)
            continue
    return True
