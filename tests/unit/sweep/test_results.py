"""Result parts: parameter columns keep one type across batches, whatever a batch holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from gridbt.kernel.contract import N_COUNTERS
from gridbt.kernel.enums import SkipReason
from gridbt.kernel.metrics import METRICS
from gridbt.runtime import BatchResult
from gridbt.sweep.results import ResultStore, result_table, value_types

LEVELS = {
    "hedge.every_days": [None, 5],  # a batch may hold only the off value
    "hedge.rebalance_to": ["center", "boundary"],
    "exit.stop_loss": [None],
}


def _batch(combo: list[int], values: dict[str, list[object]], node: str = "n",
           hashes: list[str] | None = None, fingerprint: str = "fp") -> pa.Table:
    n = len(combo)
    result = BatchResult(
        kpis=np.zeros((n, len(METRICS))), skips=np.zeros((n, len(SkipReason.NAMES)), np.int64),
        counters=np.zeros((n, N_COUNTERS), np.int64),
        outcome=np.arange(n, dtype=np.int64), block_stats=np.zeros((n, 2, 3)),
        equity=None, seconds=0.1, node=node,
    )
    arrays = {k: np.array(v, dtype=object) for k, v in values.items()}
    return result_table(np.array(combo), hashes or [f"h{c}" for c in combo], arrays, result,
                        fingerprint, value_types(LEVELS))


def test_value_types_come_from_the_whole_axis() -> None:
    assert value_types(LEVELS) == {
        "hedge.every_days": pa.float64(), "hedge.rebalance_to": pa.string(),
        "exit.stop_loss": pa.string(),
    }


def test_parts_with_an_always_off_path_read_back_together(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write_batch(_batch([0, 1], {"hedge.every_days": [None, None],
                                      "hedge.rebalance_to": ["center", "center"],
                                      "exit.stop_loss": [None, None]}))
    store.write_batch(_batch([2, 3], {"hedge.every_days": [5, None],
                                      "hedge.rebalance_to": ["boundary", "center"],
                                      "exit.stop_loss": [None, None]}))
    frame = store.read()
    assert frame["combo"].tolist() == [0, 1, 2, 3]
    assert frame["hedge.every_days"].tolist()[2] == 5.0
    assert frame["hedge.rebalance_to"].tolist() == ["center", "center", "boundary", "center"]


def test_a_parameter_hash_written_twice_is_read_back_once(tmp_path: Path) -> None:
    def values(n: int) -> dict[str, list[object]]:
        return {"hedge.every_days": [None] * n, "hedge.rebalance_to": ["center"] * n,
                "exit.stop_loss": [None] * n}

    ResultStore(tmp_path).write_batch(_batch([2, 3, 4], values(3), node="first"))
    # a second writer in the same directory (its own run id): combos 3 and 4 again, and
    # combo 1, which configures the kernel as combo 2 does (the same hash)
    ResultStore(tmp_path).write_batch(_batch([1, 3, 4, 5], values(4), node="second",
                                             hashes=["h2", "h3", "h4", "h5"]))
    # combo 3 on another chain is another result
    ResultStore(tmp_path).write_batch(_batch([3], values(1), node="third", fingerprint="fp2"))
    store = ResultStore(tmp_path)
    frame = store.read()
    assert list(zip(frame["combo"], frame["param_hash"], frame["node"], strict=True)) == [
        (1, "h2", "second"), (3, "h3", "first"), (3, "h3", "third"), (4, "h4", "first"),
        (5, "h5", "second")]
    assert store.read(columns=["sharpe"]).shape == (5, 1)
    assert store.done_hashes("fp") == {"h2", "h3", "h4", "h5"}


def test_column_names_are_what_the_parts_hold(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    assert store.column_names() == []
    store.write_batch(_batch([0], {"hedge.every_days": [None], "hedge.rebalance_to": ["center"],
                                   "exit.stop_loss": [None]}))
    names = store.column_names()
    assert {"combo", "param_hash", "sharpe", "outcome_hash", "block_sum",
            "hedge.rebalance_to"} <= set(names)
    assert store.read(names).columns.tolist() == names

