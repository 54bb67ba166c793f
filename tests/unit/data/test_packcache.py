"""The packed-chain cache (`data/packcache.py`) on real files: built once and reused, rebuilt
on a new chain or pack format, never used when broken, one winner among concurrent builders,
and the same arrays as a fresh pack."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import gridbt
from gridbt.data import pack
from gridbt.data.default import ensure_synthetic_chain, load_packed
from gridbt.data.pack import PackedChain
from gridbt.data.packcache import (
    ARRAY_FIELDS,
    META_NAME,
    PackCacheError,
    cache_dir_of,
    chain_dirs_of,
    load_cached,
    pack_chain_dir,
    packed_cache_dir,
    read_derived,
    read_packed,
    verify_packed,
    write_derived,
    write_packed,
)
from gridbt.data.store import read_chain, read_manifest, write_chain


@pytest.fixture(scope="module")
def small_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chain_dir, _, _ = ensure_synthetic_chain(
        tmp_path_factory.mktemp("chains") / "small", profile="small"
    )
    return chain_dir


@pytest.fixture(scope="module")
def fresh(small_chain: Path) -> PackedChain:
    return pack_chain_dir(small_chain)


@pytest.fixture()
def chain(small_chain: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the small chain, with GRIDBT_HOME in the test's own directory."""
    monkeypatch.setenv("GRIDBT_HOME", str(tmp_path / "home"))
    return Path(shutil.copytree(small_chain, tmp_path / "chain"))


def _assert_same(packed: PackedChain, expected: PackedChain) -> None:
    for name in ARRAY_FIELDS:
        got, want = getattr(packed, name), getattr(expected, name)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), name
    assert packed.feature_names == expected.feature_names
    assert packed.fingerprint == expected.fingerprint
    assert packed.underlying == expected.underlying


def _files_state(directory: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime in ns) of every file: a rewrite changes one or the other."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()}


def _entries() -> list[str]:
    return sorted(p.name for p in (Path(os.environ["GRIDBT_HOME"]) / "packed").iterdir())


def test_loaded_arrays_equal_a_fresh_pack_field_by_field(chain: Path, fresh: PackedChain) -> None:
    for packed in (load_cached(chain)[0], load_cached(chain)[0]):  # as built, then as reloaded
        _assert_same(packed, fresh)
        for name in ARRAY_FIELDS:
            array = getattr(packed, name)
            assert type(array) is np.ndarray  # not np.memmap: Ray pickles it out of band
            assert array.flags.c_contiguous and not array.flags.writeable


def test_mapped_arrays_pickle_out_of_band(chain: Path) -> None:
    """ray.put pickles with protocol 5: the maps must travel as buffers (one copy, into the
    object store), not be copied into the pickle stream as np.memmap would be."""
    packed, _ = load_cached(chain)
    buffers: list[pickle.PickleBuffer] = []
    stream = pickle.dumps(packed, protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == len(ARRAY_FIELDS)
    assert len(stream) < 10_000 < packed.nbytes()
    back = pickle.loads(stream, buffers=buffers)
    for name in ARRAY_FIELDS:
        assert np.shares_memory(getattr(back, name), getattr(packed, name))


def test_built_once_then_reused(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packs: list[str] = []
    real_pack = pack.pack_chain

    def counted(*args: Any, **kwargs: Any) -> PackedChain:
        packs.append(kwargs["fingerprint"])
        return real_pack(*args, **kwargs)

    monkeypatch.setattr(pack, "pack_chain", counted)
    target = packed_cache_dir(read_manifest(chain))
    assert not target.exists()
    _, built = load_cached(chain)
    assert built and (target / META_NAME).is_file()
    before = _files_state(target), target.parent.stat().st_mtime_ns
    time.sleep(0.05)  # a rewrite, or a temporary directory, would show a later mtime
    _, built = load_cached(chain)
    assert not built
    load_packed(chain)
    assert (_files_state(target), target.parent.stat().st_mtime_ns) == before
    assert packs == [read_manifest(chain).fingerprint]  # packed once, by the first load
    assert _entries() == [target.name]


def test_load_packed_without_the_cache_writes_nothing(
    chain: Path, fresh: PackedChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    _assert_same(load_packed(chain, cache=False), fresh)
    monkeypatch.setenv("GRIDBT_PACK_CACHE", "0")
    _assert_same(load_packed(chain), fresh)
    assert not (Path(os.environ["GRIDBT_HOME"]) / "packed").exists()


def test_a_load_that_may_not_write_uses_the_cache_but_never_writes_it(
    chain: Path, fresh: PackedChain
) -> None:
    """`write_cache=False` (what `gridbt data info` loads with): packed in memory on a miss,
    the disk left as it is; served from the cache once there is one."""
    _assert_same(load_packed(chain, write_cache=False), fresh)
    assert not (Path(os.environ["GRIDBT_HOME"]) / "packed").exists()
    load_packed(chain)
    served = load_packed(chain, write_cache=False)
    _assert_same(served, fresh)
    assert not served.quote_bid.flags.owndata  # a map of the cache file, not a fresh pack


def test_rebuilt_for_a_changed_chain_and_the_old_entry_pruned(chain: Path) -> None:
    old = packed_cache_dir(read_manifest(chain))
    load_cached(chain)
    table = read_chain(chain)
    bid = table.column("bid").to_numpy().copy()
    bid[7] += 0.05
    write_chain(table.set_column(table.schema.get_field_index("bid"), "bid", pa.array(bid)), chain)
    new = packed_cache_dir(read_manifest(chain))
    assert new != old
    packed, built = load_cached(chain)
    assert built
    assert packed.quote_bid[7] == bid[7]
    _assert_same(packed, pack_chain_dir(chain))
    assert _entries() == [new.name]  # the old chain's entry is gone with its chain


def test_rebuilt_for_a_new_pack_format_version(
    chain: Path, fresh: PackedChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = pack.PACK_FORMAT_VERSION
    key = read_manifest(chain).content_key()
    load_cached(chain)
    monkeypatch.setattr(pack, "PACK_FORMAT_VERSION", version + 1)
    packed, built = load_cached(chain)
    assert built
    _assert_same(packed, fresh)
    assert _entries() == [f"{key}-p{version + 1}"]  # the older format pruned
    monkeypatch.setattr(pack, "PACK_FORMAT_VERSION", version)
    assert load_cached(chain)[1]
    # an older gridbt leaves a newer one's entry alone
    assert _entries() == [f"{key}-p{version}", f"{key}-p{version + 1}"]


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 4096)


def _flip_a_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) * 2 // 3] ^= 0xFF  # inside the array's data, past the header
    path.write_bytes(bytes(data))


def _flip_the_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _change_the_dtype(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"'<f8'", b"'<i8'", 1))


@pytest.mark.parametrize(
    ("damage", "name", "error"),
    [
        (_truncate, "quote_bid", "bytes, expected"),
        (_flip_a_middle_byte, "day_spot", "digest"),  # a small file: all of it is hashed
        (_flip_the_last_byte, "quote_ask", "digest"),  # a large one: its last block is sampled
        (_change_the_dtype, "quote_iv", "expected <f8"),
    ],
)
def test_a_damaged_file_is_detected_and_rebuilt_never_used(
    chain: Path, fresh: PackedChain, damage: object, name: str, error: str
) -> None:
    target = packed_cache_dir(read_manifest(chain))
    load_cached(chain)
    path = target / f"{name}.npy"
    size = path.stat().st_size
    assert callable(damage)
    damage(path)
    with pytest.raises(PackCacheError, match=error):
        read_packed(target, read_manifest(chain))
    packed, built = load_cached(chain)
    assert built
    _assert_same(packed, fresh)
    assert path.stat().st_size == size
    assert _entries() == [target.name]  # the damaged copy is not kept aside


def test_an_unreadable_meta_is_rebuilt(chain: Path, fresh: PackedChain) -> None:
    target = packed_cache_dir(read_manifest(chain))
    load_cached(chain)
    meta = target / META_NAME
    meta.write_text(meta.read_text()[:-40])
    with pytest.raises(PackCacheError, match="unreadable"):
        read_packed(target, read_manifest(chain))
    assert load_cached(chain)[1]
    json.loads(meta.read_text())


def test_a_losing_writer_discards_its_copy(chain: Path, fresh: PackedChain) -> None:
    target = packed_cache_dir(read_manifest(chain))
    assert write_packed(fresh, chain, read_manifest(chain))
    before = _files_state(target)
    assert not write_packed(fresh, chain, read_manifest(chain))
    assert _files_state(target) == before
    assert _entries() == [target.name]  # no temporary left behind


_CHILD = """
import hashlib, json, sys, time
from pathlib import Path
from gridbt.data.packcache import ARRAY_FIELDS, load_cached
chain, ready, go = sys.argv[1:4]
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.001)
packed, built = load_cached(chain)
hashes = {n: [getattr(packed, n).dtype.str, list(getattr(packed, n).shape),
              hashlib.sha256(getattr(packed, n).tobytes()).hexdigest()] for n in ARRAY_FIELDS}
print(json.dumps({"built": built, "hashes": hashes}))
"""


def _hashes(packed: PackedChain) -> dict[str, list[object]]:
    return {n: [getattr(packed, n).dtype.str, list(getattr(packed, n).shape),
                hashlib.sha256(getattr(packed, n).tobytes()).hexdigest()] for n in ARRAY_FIELDS}


def test_two_concurrent_builders_leave_one_valid_cache(
    chain: Path, fresh: PackedChain, tmp_path: Path
) -> None:
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(Path(gridbt.__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, str(chain), str(r), str(go)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for r in ready]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both have imported gridbt: they start loading together
    results = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        results.append(json.loads(out.splitlines()[-1]))
    assert sorted(r["built"] for r in results) == [False, True]  # one rename won
    assert results[0]["hashes"] == results[1]["hashes"] == _hashes(fresh)
    target = packed_cache_dir(read_manifest(chain))
    assert _entries() == [target.name]
    _assert_same(read_packed(target, read_manifest(chain)), fresh)


def test_the_chain_directories_of_a_fingerprint_are_found_from_the_caches(chain: Path) -> None:
    """What the results browser asks to run a backtest again: where a chain was read from."""
    fingerprint = read_manifest(chain).fingerprint
    assert chain_dirs_of(fingerprint) == []
    load_cached(chain)
    copy = Path(shutil.copytree(chain, chain.with_name("copy")))
    load_cached(copy)
    assert chain_dirs_of(fingerprint) == [chain.resolve(), copy.resolve()]
    assert chain_dirs_of("0" * 32) == []


# ------------------------------------------------------------------ derived arrays


def _derived(packed: PackedChain) -> dict[str, np.ndarray]:
    """Arrays made from the chain alone, as a layer above keeps them (one large, one small)."""
    return {"spread": np.asarray(packed.quote_ask) - np.asarray(packed.quote_bid),
            "first_quote": np.asarray(packed.day_quote_start[:-1], dtype=np.int64)}


def test_derived_arrays_are_kept_with_the_cache_and_mapped_back(chain: Path) -> None:
    packed, _ = load_cached(chain)
    target = packed_cache_dir(read_manifest(chain))
    assert cache_dir_of(packed) == target
    assert read_derived(packed, "spreads", 1) is None  # none kept yet
    made = _derived(packed)
    assert write_derived(packed, "spreads", 1, made)
    for again in (packed, load_cached(chain)[0]):  # this process's chain, and a later load's
        kept = read_derived(again, "spreads", 1)
        assert kept is not None and sorted(kept) == sorted(made)
        for name, array in kept.items():
            assert array.dtype == made[name].dtype
            assert np.array_equal(array, made[name], equal_nan=True)
            assert isinstance(array.base, np.memmap) and not array.flags.writeable
    assert read_derived(packed, "spreads", 2) is None  # another version is another entry
    assert write_derived(packed, "spreads", 2, made)
    assert sorted(p.name for p in (target / "derived").iterdir()) == ["spreads-v2"]
    assert write_derived(packed, "spreads", 1, made)  # an older gridbt's: the newer one stays
    assert sorted(p.name for p in (target / "derived").iterdir()) == ["spreads-v1", "spreads-v2"]
    assert verify_packed(chain)[1] == "ok"


def test_no_derived_arrays_for_a_chain_not_mapped_from_the_cache(chain: Path,
                                                                  fresh: PackedChain) -> None:
    packed, _ = load_cached(chain)
    copied = pickle.loads(pickle.dumps(packed))  # in memory, as out of an object store
    for other in (fresh, copied):
        assert cache_dir_of(other) is None
        assert not write_derived(other, "spreads", 1, _derived(packed))
        assert read_derived(other, "spreads", 1) is None
    assert not (packed_cache_dir(read_manifest(chain)) / "derived").exists()
    with pytest.raises(ValueError, match="name"):
        write_derived(packed, "../escape", 1, _derived(packed))


@pytest.mark.parametrize(("damage", "name"), [(_truncate, "spread"),
                                              (_flip_the_last_byte, "spread"),
                                              (_flip_a_middle_byte, "first_quote")])
def test_damaged_derived_arrays_are_discarded_never_used(chain: Path, damage: object,
                                                         name: str) -> None:
    packed, _ = load_cached(chain)
    assert write_derived(packed, "spreads", 1, _derived(packed))
    entry = packed_cache_dir(read_manifest(chain)) / "derived" / "spreads-v1"
    assert callable(damage)
    damage(entry / f"{name}.npy")
    assert read_derived(packed, "spreads", 1) is None
    assert not entry.exists()  # discarded: its user makes the arrays again
    assert load_cached(chain)[1] is False  # the chain's own cache is untouched


def test_the_deep_check_hashes_derived_arrays_and_discards_a_damaged_one(chain: Path) -> None:
    """A change the sampled digest does not look at (one byte inside a large file, away from
    its sampled blocks) is found by hashing every byte; only the derived entry goes."""
    packed, _ = load_cached(chain)
    assert write_derived(packed, "spreads", 1, _derived(packed))
    entry = packed_cache_dir(read_manifest(chain)) / "derived" / "spreads-v1"
    path = entry / "spread.npy"
    data = bytearray(path.read_bytes())
    with open(path, "rb") as f:  # where the array's bytes start, past the .npy header
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        offset = f.tell()
    size = len(data) - offset
    assert size > 64 * 4096  # a file the sampled digest does not read whole
    sampled = np.linspace(0, size - 4096, 64).astype(np.int64)  # as packcache samples
    data[offset + (sampled[0] + 4096 + sampled[1]) // 2] ^= 0x01  # between two samples
    path.write_bytes(bytes(data))
    assert read_derived(packed, "spreads", 1) is not None  # the sampled check misses it
    state = verify_packed(chain)[1]
    assert state.startswith("ok; derived arrays spreads-v1 damaged"), state
    assert not entry.exists()
    assert load_cached(chain)[1] is False
