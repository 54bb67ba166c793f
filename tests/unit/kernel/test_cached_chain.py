"""The kernels on a chain mapped from the packed-chain cache (read-only, C-ordered maps of
`.npy` files) give bit for bit what they give on the chain packed in memory; the trade tables'
contract-major copy is kept with that cache and mapped back by later processes."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.data.packcache import cache_dir_of, load_cached, write_derived
from gridbt.data.store import read_chain, write_chain
from gridbt.kernel import tables
from gridbt.kernel.dispatch import chain_arrays, run_batch, run_params
from gridbt.kernel.tables import (
    ContractMajor,
    build_contract_major,
    fallback_reasons,
    load_contract_major,
    release_tables,
    run_batch_tables,
    share_contract_major,
)
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.presets import PRESETS
from gridbt.testing import flat_vol_chain
from gridbt.testing.homes import fresh_home


def _chains(tmp_path: Path) -> tuple[PackedChain, PackedChain]:
    """A chain written to disk, as mapped from its packed cache (built now) and as packed in
    memory."""
    days = [d.astype(object) for d in np.busday_offset("2024-01-02", np.arange(60),
                                                       roll="forward")]
    spots = list(100.0 + np.sin(np.arange(60) / 5.0) * 4.0)
    expiries = [dt.date(2024, m, 15) for m in range(2, 7)]
    write_chain(flat_vol_chain(days, spots, expiries, list(np.arange(70.0, 131.0, 2.5))),
                tmp_path / "chain")
    cached, built = load_cached(tmp_path / "chain")
    assert built
    fresh = pack_chain(read_chain(tmp_path / "chain").combine_chunks(),
                       fingerprint=cached.fingerprint)
    return cached, fresh


def _assert_same_arrays(got: ContractMajor, want: ContractMajor) -> None:
    for name in ContractMajor._fields:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
        assert not a.flags.writeable, name


def test_kernels_on_the_cached_chain_equal_those_on_a_fresh_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDBT_HOME", str(fresh_home(tmp_path / "home")))
    cached, fresh = _chains(tmp_path)
    arrays = chain_arrays(cached)  # the dtype check passes
    assert all(a.flags.c_contiguous and not a.flags.writeable for a in arrays)

    rows = np.stack([encode_spec(PRESETS[name](), cached) for name in sorted(PRESETS)])
    for got, want in zip(run_batch(cached, rows), run_batch(fresh, rows), strict=True):
        np.testing.assert_array_equal(got, want)
    one, other = run_params(cached, rows[0]), run_params(fresh, rows[0])
    np.testing.assert_array_equal(one.equity, other.equity)
    assert one.trades.tobytes() == other.trades.tobytes() and len(one.trades) > 0


def test_the_contract_major_copy_is_kept_with_the_cache_and_mapped_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a sweep's or a study's start reads instead of making it (~0.5 s on the default
    chain): the same arrays, mapped from the chain's cache; a copy of another layout version
    is never read; a chain packed in memory keeps nothing."""
    monkeypatch.setenv("GRIDBT_HOME", str(fresh_home(tmp_path / "home")))
    cached, fresh = _chains(tmp_path)
    made, kept = load_contract_major(cached)
    assert not kept
    _assert_same_arrays(made, build_contract_major(fresh))
    again, kept = load_contract_major(cached)
    assert kept and all(isinstance(a.base, np.memmap) for a in again)
    _assert_same_arrays(again, made)
    assert load_contract_major(fresh)[1] is False  # in memory: made, and nowhere to keep it
    derived = cache_dir_of(cached) / "derived"  # type: ignore[operator]
    assert sorted(p.name for p in derived.iterdir()) == ["contract_major-v1"]

    monkeypatch.setattr(tables, "CONTRACT_MAJOR_VERSION", 2)  # a gridbt with another layout
    assert load_contract_major(cached)[1] is False
    assert load_contract_major(cached)[1] is True
    assert sorted(p.name for p in derived.iterdir()) == ["contract_major-v2"]

    # the trade tables on the mapped copy: the day kernel's outputs
    rows = np.stack([encode_spec(PRESETS[name](), cached) for name in sorted(PRESETS)])
    rows = rows[fallback_reasons(rows) == 0]
    assert len(rows) >= 5
    release_tables()
    share_contract_major(cached, again)
    on_tables = run_batch_tables(cached, rows, min_group_rows=0)
    on_days = run_batch(cached, rows)
    np.testing.assert_allclose(on_tables.kpis, on_days.kpis, rtol=1e-9, atol=1e-9,
                               equal_nan=True)
    np.testing.assert_array_equal(on_tables.outcome, on_days.outcome)


def test_a_kept_copy_that_does_not_fit_the_chain_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDBT_HOME", str(fresh_home(tmp_path / "home")))
    cached, _ = _chains(tmp_path)
    made, _ = load_contract_major(cached)
    kept = cache_dir_of(cached) / "derived" / "contract_major-v1"  # type: ignore[operator]
    shutil.rmtree(kept)
    short = made._replace(start=made.start[:-1])  # a contract fewer than the chain has
    assert write_derived(cached, "contract_major", tables.CONTRACT_MAJOR_VERSION,
                         short._asdict())
    with pytest.raises(ValueError, match="contract-major arrays of another chain"):
        share_contract_major(cached, short)
    cm, kept = load_contract_major(cached)
    assert not kept
    _assert_same_arrays(cm, made)
    assert load_contract_major(cached)[1] is True  # and kept again, whole
