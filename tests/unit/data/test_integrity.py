"""A chain is checked against its manifest whenever it is read or packed, and a damaged one is
refused naming its file: real Parquet parts written by `write_chain`, damaged on disk."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from gridbt.data import store
from gridbt.data.default import ensure_synthetic_chain, load_packed
from gridbt.data.errors import DataError, DataWarning
from gridbt.data.info import chain_info
from gridbt.data.integrity import check_integrity
from gridbt.data.pack import PackedChain
from gridbt.data.packcache import (
    ARRAY_FIELDS,
    META_NAME,
    load_cached,
    pack_chain_dir,
    packed_cache_dir,
    verify_packed,
)
from gridbt.data.store import (
    MANIFEST_NAME,
    read_chain,
    read_manifest,
    record_file_hashes,
    verify_chain,
)

PART = "year=2014/part-0.parquet"  # the small synthetic chain's one year


@pytest.fixture(scope="module")
def small_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_synthetic_chain(tmp_path_factory.mktemp("chains") / "small", profile="small")[0]


@pytest.fixture(scope="module")
def fresh(small_chain: Path) -> PackedChain:
    return pack_chain_dir(small_chain)


@pytest.fixture()
def chain(small_chain: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the small chain, with GRIDBT_HOME in the test's own directory."""
    monkeypatch.setenv("GRIDBT_HOME", str(tmp_path / "home"))
    return Path(shutil.copytree(small_chain, tmp_path / "chain"))


def flip_4kib_of_a_column(path: Path, column: str = "delta") -> None:
    """Invert 4 KiB in the middle of one column's data, in place (same size; the mtime moves)."""
    meta = pq.ParquetFile(path).metadata
    group = meta.row_group(0)
    index = [group.column(i).path_in_schema for i in range(group.num_columns)].index(column)
    chunk = group.column(index)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    middle = start + chunk.total_compressed_size // 2
    assert chunk.total_compressed_size > 8192
    with open(path, "r+b") as handle:
        handle.seek(middle - 2048)
        block = handle.read(4096)
        handle.seek(middle - 2048)
        handle.write(bytes(b ^ 0xFF for b in block))


def edit_manifest(chain: Path, **changes: Any) -> None:
    path = chain / MANIFEST_NAME
    payload = json.loads(path.read_text())
    payload.update(changes)
    path.write_text(json.dumps(payload))


def test_the_manifest_records_size_rows_and_hash_of_every_file(chain: Path) -> None:
    manifest = read_manifest(chain)
    parts = sorted(p.relative_to(chain).as_posix() for p in chain.rglob("*.parquet"))
    assert [f.path for f in manifest.files] == parts
    for entry in manifest.files:
        data = (chain / entry.path).read_bytes()
        assert entry.bytes == len(data)
        assert entry.blake2b == hashlib.blake2b(data, digest_size=32).hexdigest()
        assert entry.rows == pq.ParquetFile(chain / entry.path).metadata.num_rows
        assert entry.rows == manifest.rows_per_year[entry.path[5:9]]


def test_flipped_bytes_in_a_part_are_refused_naming_the_file(chain: Path) -> None:
    """The issue's damage: 4 KiB flipped inside a Parquet part. Every way of reading the chain
    refuses it, naming the file: nothing is packed, cached or labelled with the fingerprint."""
    flip_4kib_of_a_column(chain / PART)
    damaged = rf"{chain / PART}: its bytes hash to .*, manifest.json records"
    for read in (read_chain, verify_chain, chain_info, pack_chain_dir, load_packed,
                 lambda c: load_packed(c, cache=False)):
        with pytest.raises(DataError, match=damaged):
            read(chain)
    assert not (Path(os.environ["GRIDBT_HOME"]) / "packed").exists()


def test_a_part_damaged_after_it_was_packed_is_refused_on_a_cached_load(chain: Path) -> None:
    """A load served from the packed cache does not read the Parquet, but sees that the file
    changed (its stamp) and hashes it again."""
    load_packed(chain)
    flip_4kib_of_a_column(chain / PART, "bid")
    with pytest.raises(DataError, match=rf"{chain / PART}: its bytes hash to"):
        load_packed(chain)


def test_a_truncated_or_missing_part_is_refused_on_a_cached_load(chain: Path) -> None:
    load_packed(chain)
    path = chain / PART
    size = path.stat().st_size
    os.truncate(path, size - 1)
    with pytest.raises(DataError, match=rf"{path}: {size - 1:,} bytes, manifest.json records "
                                        rf"{size:,}"):
        load_packed(chain)
    path.unlink()
    with pytest.raises(DataError, match=rf"{path}: chain file missing"):
        load_packed(chain)


def test_a_touched_part_is_hashed_once_then_trusted(
    chain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheap check hashes a file only when its stamp changed, and remembers the new one."""
    load_packed(chain)
    hashed: list[str] = []
    real = store.file_digest

    def counted(path: Any) -> str:
        hashed.append(f"{Path(path).parents[1].name}/{Path(path).parent.name}")
        return real(path)

    monkeypatch.setattr(store, "file_digest", counted)
    load_packed(chain)
    assert hashed == []  # stamps recorded when the chain was packed
    os.utime(chain / PART)
    load_packed(chain)
    load_packed(chain)
    assert hashed == ["chain/year=2014"]
    copy = Path(shutil.copytree(chain, chain.with_name("copy")))  # new inodes: hashed once
    assert load_packed(copy).fingerprint == read_manifest(chain).fingerprint
    load_packed(copy)
    assert hashed == ["chain/year=2014", "copy/year=2014"]
    assert len(list((Path(os.environ["GRIDBT_HOME"]) / "packed").iterdir())) == 1  # one cache


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"rows": 5}, "rows", "not the sum of rows_per_year"),
        ({"rows_per_year": {"2014": 5}}, "rows", "not the sum of rows_per_year"),
        ({"files": [{"path": "year=2015/part-0.parquet", "bytes": 1, "rows": 108_666,
                     "blake2b": "0" * 64}]}, "files", "the files are not those of rows_per_year"),
    ],
)
def test_a_manifest_that_contradicts_itself_is_refused_on_every_read(
    chain: Path, changes: dict[str, Any], field: str, message: str
) -> None:
    edit_manifest(chain, **changes)
    for read in (read_manifest, read_chain, load_packed):
        with pytest.raises(DataError, match=rf"{chain / MANIFEST_NAME}, column '{field}': "
                                            rf"{message}"):
            read(chain)


def test_a_forged_file_row_count_is_refused(chain: Path) -> None:
    payload = json.loads((chain / MANIFEST_NAME).read_text())
    for entry in payload["files"]:
        entry["rows"] = 5
    edit_manifest(chain, files=payload["files"], rows=5 * len(payload["files"]),
                  rows_per_year={f["path"][5:9]: 5 for f in payload["files"]})
    with pytest.raises(DataError, match=rf"{chain / PART}: .* rows, manifest.json records 5"):
        read_chain(chain)
    with pytest.raises(DataError, match=rf"{chain / PART}: .* rows, manifest.json records 5"):
        load_packed(chain)


def test_a_forged_fingerprint_is_refused_and_never_served_a_cache(chain: Path) -> None:
    """A manifest claiming another fingerprint (its files intact) is a new content key: no
    cache is served for it, and the pack sees that the content gives another fingerprint."""
    real = read_manifest(chain).fingerprint
    load_packed(chain)
    edit_manifest(chain, fingerprint="0" * 32)
    message = (rf"{chain / MANIFEST_NAME}, column 'fingerprint': manifest.json records "
               rf"fingerprint '0{{32}}', the chain's content gives '{real}'")
    for read in (verify_chain, chain_info, load_packed):
        with pytest.raises(DataError, match=message):
            read(chain)


def test_info_counts_what_the_verified_chain_holds(chain: Path) -> None:
    """`chain_info` counts on the packed arrays (cached or not): the same facts as counted on
    the verified table, row by row."""
    table = verify_chain(chain).table
    date = table.column("date").to_numpy().astype("datetime64[D]")
    expiry = table.column("expiry").to_numpy().astype("datetime64[D]")
    expiries = np.unique(np.unique(np.stack([date, expiry]), axis=1)[0], return_counts=True)[1]
    quotes = np.unique(date, return_counts=True)[1]

    def spread(counts: np.ndarray) -> str:
        return f"min {counts.min()}, median {int(np.median(counts))}, max {counts.max()}"

    manifest = read_manifest(chain)
    expected = {
        "rows": manifest.rows, "days": manifest.days, "first_date": manifest.first_date,
        "last_date": manifest.last_date, "underlyings": ", ".join(manifest.underlyings),
        "expiries_per_day": spread(expiries), "quotes_per_day": spread(quotes),
        "strikes": len(np.unique(table.column("strike").to_numpy())),
        "schema_version": manifest.schema_version, "fingerprint": manifest.fingerprint,
    }
    assert expiries.min() < expiries.max() and quotes.min() < quotes.max()  # counts that vary
    assert chain_info(chain) == expected  # packed in memory: no cache yet
    assert not (Path(os.environ["GRIDBT_HOME"]) / "packed").exists()
    load_packed(chain)
    assert chain_info(chain) == expected  # from the cache


def test_a_forged_count_or_date_is_refused_on_a_full_read(chain: Path) -> None:
    days = read_manifest(chain).days
    edit_manifest(chain, days=days - 1)
    with pytest.raises(DataError, match=f"column 'days': manifest.json records days {days - 1}"):
        load_packed(chain)
    edit_manifest(chain, days=days, last_date="2099-01-02")
    with pytest.raises(DataError, match="column 'last_date': manifest.json records last_date "
                                        "'2099-01-02', the chain's content gives '2014-12-31'"):
        chain_info(chain)


def test_the_cache_key_covers_every_recorded_fact(chain: Path) -> None:
    manifest = read_manifest(chain)
    keys = {manifest.content_key()}
    for field in ("rows", "days", "first_date", "last_date", "underlyings", "rows_per_year",
                  "fingerprint", "files"):
        value = getattr(manifest, field)
        changed = (value + 1 if isinstance(value, int) else value + "x" if isinstance(value, str)
                   else [*value, "x"] if isinstance(value, list) else {**value, "x": 1}
                   if isinstance(value, dict) else value[:-1])
        keys.add(dataclasses.replace(manifest, **{field: changed}).content_key())
    assert len(keys) == 9
    provenance = dataclasses.replace(manifest, import_key="other", extra={"a": 1}, created_by="x")
    assert provenance.content_key() == manifest.content_key()


def test_the_packed_arrays_are_checked_against_the_chain(chain: Path, fresh: PackedChain) -> None:
    """A cache whose counts disagree with the manifest is rebuilt; one damaged where the
    sampled digest does not look is found by `verify_packed` (every byte) and discarded."""
    load_packed(chain)
    target = packed_cache_dir(read_manifest(chain))
    meta = json.loads((target / META_NAME).read_text())
    path = target / "quote_delta.npy"
    data = bytearray(path.read_bytes())
    offset = len(data) - meta["arrays"]["quote_delta"]["bytes"] + len(data) // 2 + 1234
    data[offset] ^= 0x01  # one bit, between sampled blocks
    path.write_bytes(bytes(data))
    assert load_packed(chain).quote_delta.shape == fresh.quote_delta.shape  # the sample misses it
    assert verify_packed(chain)[1].startswith("damaged")
    assert not target.exists()
    packed, built = load_cached(chain)
    assert built
    assert np.array_equal(packed.quote_delta, fresh.quote_delta, equal_nan=True)
    assert verify_packed(chain)[1] == "ok"


def old_chain(chain: Path) -> Path:
    """The chain as gridbt wrote it before file hashes were recorded."""
    payload = json.loads((chain / MANIFEST_NAME).read_text())
    del payload["files"]
    (chain / MANIFEST_NAME).write_text(json.dumps(payload))
    return chain


def test_an_older_chain_is_read_with_a_warning_and_its_content_still_checked(
    chain: Path, fresh: PackedChain
) -> None:
    old_chain(chain)
    with pytest.warns(DataWarning, match=rf"{chain}: written by an older gridbt: .*"
                                         rf"gridbt data validate {chain} --deep --fix"):
        packed = load_packed(chain)
    assert packed.fingerprint == fresh.fingerprint
    with pytest.warns(DataWarning, match="older gridbt"):
        load_packed(chain)  # from the cache
    # damage is found when it is packed, by the fingerprint of the content
    shutil.rmtree(Path(os.environ["GRIDBT_HOME"]) / "packed")
    flip_4kib_of_a_column(chain / PART)
    with pytest.warns(DataWarning), pytest.raises(DataError, match="column 'fingerprint'"):
        load_packed(chain)


def test_fix_records_the_hashes_of_an_older_chain(chain: Path) -> None:
    written = read_manifest(chain)
    old_chain(chain)
    report = check_integrity(chain)
    assert report.ok and any("--fix records them" in line for line in report.lines)
    report = check_integrity(chain, fix=True)
    assert report.ok and any("hashes recorded" in line for line in report.lines)
    assert read_manifest(chain) == written


def test_fix_refuses_an_older_chain_whose_content_is_damaged(chain: Path) -> None:
    old_chain(chain)
    flip_4kib_of_a_column(chain / PART)
    with pytest.raises(DataError, match="column 'fingerprint'"):
        record_file_hashes(chain)
    assert "files" not in json.loads((chain / MANIFEST_NAME).read_text())


def test_deep_check_reports_every_file(chain: Path) -> None:
    load_packed(chain)
    report = check_integrity(chain)
    assert report.ok, report.lines
    assert [line.split()[0] for line in report.lines] == [
        "manifest.json", *(f.path for f in read_manifest(chain).files), "content", "packed"]
    assert report.lines[-1].startswith("packed cache") and " ok " in report.lines[-1]
    flip_4kib_of_a_column(chain / PART)
    report = check_integrity(chain)
    assert report.problems == [
        f"{PART}: blake2b {store.file_digest(chain / PART)[:16]}…, manifest.json records "
        f"{read_manifest(chain).files[-1].blake2b[:16]}…: damaged, truncated or replaced"]


def test_an_older_synthetic_chain_gets_its_hashes_and_a_damaged_one_is_rebuilt(
    chain: Path,
) -> None:
    written = read_manifest(chain)
    old_chain(chain)
    out, manifest, built = ensure_synthetic_chain(chain, profile="small")
    assert not built and manifest == written == read_manifest(chain)
    flip_4kib_of_a_column(chain / PART)
    assert not ensure_synthetic_chain(chain, profile="small")[2]  # cheap: not hashed
    with pytest.warns(DataWarning, match=rf"{chain / PART}: its bytes hash to .* built again"):
        _, manifest, built = ensure_synthetic_chain(chain, profile="small", verify=True)
    assert built and manifest == written
    assert [p.name for p in chain.parent.iterdir() if p.name.startswith(".")] == []


def test_every_array_of_the_cache_has_a_full_hash(chain: Path) -> None:
    load_packed(chain)
    meta = json.loads((packed_cache_dir(read_manifest(chain)) / META_NAME).read_text())
    assert meta["key"] == read_manifest(chain).content_key()
    assert sorted(meta["arrays"]) == sorted(ARRAY_FIELDS)
    assert all(len(entry["blake2b"]) == 64 for entry in meta["arrays"].values())


def test_a_chain_replaced_whole_while_it_is_read_is_not_called_damaged(chain: Path) -> None:
    """A re-import renames a new chain into place: a reader holding the old manifest sees new
    files, and is told to run again, not that the chain is damaged."""
    before = read_manifest(chain)
    table = read_chain(chain)
    store.write_chain(table.slice(0, table.num_rows // 2), chain)
    with pytest.raises(DataError, match=rf"{chain}: the chain was rewritten while it was read"):
        store.check_chain_files(chain, before)


def test_an_empty_chain_records_no_files_and_is_not_taken_for_an_older_one(
    tmp_path: Path,
) -> None:
    empty = read_chain(ensure_synthetic_chain(tmp_path / "small", profile="small")[0]).slice(0, 0)
    manifest = store.write_chain(empty, tmp_path / "empty")
    assert manifest.files == () and read_manifest(tmp_path / "empty") == manifest
    assert read_chain(tmp_path / "empty").num_rows == 0  # no DataWarning (they are errors here)
    assert store.check_chain_files(tmp_path / "empty", manifest) == {}
