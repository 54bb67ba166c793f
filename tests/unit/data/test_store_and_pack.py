"""Chain directories (atomic, fingerprinted, idempotent) and the packed kernel layout."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from gridbt.data.errors import DataError
from gridbt.data.pack import RIGHT_CALL, RIGHT_PUT, pack_chain
from gridbt.data.store import chain_fingerprint, read_chain, read_manifest, write_chain
from gridbt.testing import flat_vol_chain


def _days(start: dt.date, n: int) -> list[dt.date]:
    out, day = [], start
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def chain() -> pa.Table:
    days = _days(dt.date(2023, 12, 20), 12)  # spans two calendar years
    spots = np.linspace(100.0, 104.0, len(days))
    expiries = [dt.date(2024, 1, 5), dt.date(2024, 1, 19), dt.date(2024, 2, 16)]
    return flat_vol_chain(days, spots, expiries, [90.0, 95.0, 100.0, 105.0, 110.0])


def test_write_read_round_trip_partitions_by_year(chain: pa.Table, tmp_path: Path) -> None:
    manifest = write_chain(chain, tmp_path / "c")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "manifest.json",
        "year=2023",
        "year=2024",
    ]
    back = read_chain(tmp_path / "c")
    assert back.equals(chain)
    assert manifest.rows == chain.num_rows == sum(manifest.rows_per_year.values())
    assert manifest.fingerprint == chain_fingerprint(back)
    assert read_manifest(tmp_path / "c") == manifest
    assert list(tmp_path.iterdir()) == [tmp_path / "c"]  # no temporary left behind


def test_fingerprint_depends_on_content_not_chunking(chain: pa.Table) -> None:
    rechunked = pa.concat_tables([chain.slice(0, 10), chain.slice(10)])
    assert chain_fingerprint(rechunked) == chain_fingerprint(chain)
    bid = chain.column("bid").to_numpy().copy()
    bid[3] += 0.01
    changed = chain.set_column(chain.schema.get_field_index("bid"), "bid", pa.array(bid))
    assert chain_fingerprint(changed) != chain_fingerprint(chain)


def test_failed_write_leaves_the_old_chain_intact(
    chain: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "c"
    before = write_chain(chain, target)
    import gridbt.data.store as store

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store.pq, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        write_chain(chain.slice(0, 5), target)
    assert read_manifest(target) == before
    assert read_chain(target).equals(chain)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_a_chain_replaces_only_an_earlier_chain(chain: pa.Table, tmp_path: Path) -> None:
    """A directory of other files is refused and left as it was; an empty directory or an
    earlier chain is written (the earlier chain replaced)."""
    other = tmp_path / "mydir"
    other.mkdir()
    (other / "notes.txt").write_text("precious")
    with pytest.raises(DataError, match="is not empty and is not a gridbt chain"):
        write_chain(chain, other)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    assert (other / "notes.txt").read_text() == "precious"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left over

    empty = tmp_path / "empty"
    empty.mkdir()
    write_chain(chain, empty)
    assert read_manifest(empty).rows == chain.num_rows
    smaller = chain.slice(0, chain.num_rows // 2)
    write_chain(smaller, empty)  # an earlier chain: replaced
    assert read_manifest(empty).rows == smaller.num_rows


def test_read_rejects_a_directory_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no manifest.json"):
        read_chain(tmp_path)


def test_read_rejects_a_corrupt_partition(chain: pa.Table, tmp_path: Path) -> None:
    write_chain(chain, tmp_path / "c")
    part = tmp_path / "c" / "year=2024" / "part-0.parquet"
    part.write_bytes(part.read_bytes()[:100])
    with pytest.raises(DataError, match=r"year=2024.*100 bytes, manifest.json records"):
        read_chain(tmp_path / "c")


def test_read_rejects_a_future_schema_version(chain: pa.Table, tmp_path: Path) -> None:
    write_chain(chain, tmp_path / "c")
    path = tmp_path / "c" / "manifest.json"
    payload = json.loads(path.read_text())
    payload["schema_version"] = 99
    path.write_text(json.dumps(payload))
    with pytest.raises(DataError, match="schema version 99"):
        read_manifest(tmp_path / "c")


def test_pack_layout_invariants(chain: pa.Table) -> None:
    p = pack_chain(chain.combine_chunks())
    assert p.n_days == len(set(chain.column("date").to_pylist()))
    assert p.day_quote_start[-1] == p.n_quotes == chain.num_rows
    for d in range(p.n_days):
        rows = slice(p.day_quote_start[d], p.day_quote_start[d + 1])
        assert (p.day_date[d] == p.quote_expiry[rows] * 0 + p.day_date[d]).all()
        calls = range(p.day_group_start[d], p.day_put_group_start[d])
        puts = range(p.day_put_group_start[d], p.day_group_start[d + 1])
        for groups, right in ((calls, RIGHT_CALL), (puts, RIGHT_PUT)):
            expiries = p.group_expiry[list(groups)]
            assert (np.diff(expiries) > 0).all()
            for g in groups:
                q = slice(p.group_quote_start[g], p.group_quote_start[g + 1])
                assert (p.quote_right[q] == right).all()
                assert (p.quote_expiry[q] == p.group_expiry[g]).all()
                assert (np.diff(p.quote_strike[q]) > 0).all()
    # the contract-major index visits each contract's rows in day order
    seen = np.zeros(p.n_quotes, dtype=int)
    for c in range(len(p.contract_strike)):
        rows = p.contract_rows[p.contract_row_start[c] : p.contract_row_start[c + 1]]
        seen[rows] += 1
        assert (p.quote_contract[rows] == c).all()
        assert (p.quote_strike[rows] == p.contract_strike[c]).all()
        assert (p.quote_expiry[rows] == p.contract_expiry[c]).all()
        days = p.contract_row_day[p.contract_row_start[c] : p.contract_row_start[c + 1]]
        assert (np.diff(days) > 0).all()
        assert (np.searchsorted(p.day_quote_start, rows, side="right") - 1 == days).all()
    assert (seen == 1).all()
    assert ((p.day_date.astype(np.int64) + 3) % 7 == p.day_weekday).all()


def test_pack_is_zero_copy_for_float_and_date_columns(chain: pa.Table) -> None:
    table = chain.combine_chunks()
    p = pack_chain(table)
    assert np.shares_memory(p.quote_bid, table.column("bid").chunk(0).to_numpy())
    assert np.shares_memory(p.quote_delta, table.column("delta").chunk(0).to_numpy())
    assert np.shares_memory(
        p.quote_expiry, table.column("expiry").chunk(0).view(pa.int32()).to_numpy()
    )


def test_pack_rejects_unsorted_input(chain: pa.Table) -> None:
    with pytest.raises(ValueError, match="not sorted"):
        pack_chain(chain.take(pa.array(np.arange(chain.num_rows)[::-1])))


def test_unknown_feature_names_the_available_ones(chain: pa.Table) -> None:
    p = pack_chain(chain)
    with pytest.raises(KeyError, match="unknown feature 'vix'.*iv_rank"):
        p.feature("vix")
