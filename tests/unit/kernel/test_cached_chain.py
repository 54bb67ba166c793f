"""The kernels on a chain mapped from the packed-chain cache (read-only, C-ordered maps of
`.npy` files) give bit for bit what they give on the chain packed in memory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from gridbt.data.pack import pack_chain
from gridbt.data.packcache import load_cached
from gridbt.data.store import read_chain, write_chain
from gridbt.kernel.dispatch import chain_arrays, run_batch, run_params
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.presets import PRESETS
from gridbt.testing import flat_vol_chain


def test_kernels_on_the_cached_chain_equal_those_on_a_fresh_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDBT_HOME", str(tmp_path / "home"))
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
    arrays = chain_arrays(cached)  # the dtype check passes
    assert all(a.flags.c_contiguous and not a.flags.writeable for a in arrays)

    rows = np.stack([encode_spec(PRESETS[name](), cached) for name in sorted(PRESETS)])
    for got, want in zip(run_batch(cached, rows), run_batch(fresh, rows), strict=True):
        np.testing.assert_array_equal(got, want)
    one, other = run_params(cached, rows[0]), run_params(fresh, rows[0])
    np.testing.assert_array_equal(one.equity, other.equity)
    assert one.trades.tobytes() == other.trades.tobytes() and len(one.trades) > 0
