"""The result set of a sweep: one Parquet part per batch, written atomically.

Layout of a sweep directory::

    sweep.json                 the sweep, its grid, data fingerprint, status and statistics
    results/part-<run>-<n>.parquet   one row per combination (parameters, hash, KPIs, skips,
                               outcome hash, the engine it ran on and why not on tables)
    equity/part-<run>-<n>.parquet    equity curves kept (param_hash, combo, equity list)
    equity/top.parquet         equity curves of the top combinations (keep_equity: K)
    equity/dates.parquet       the trading dates the curves are indexed by
    results.parquet            every result, best first (written when the sweep finishes)
    failures/part-<run>-<n>.parquet  batches that failed every attempt, with the error

A combination is done when its `param_hash` is in `results/`; resuming skips those. A hash
has one result: rows written again for a hash already there (by concurrent writers before the
directory was locked, or by two combinations that configure the kernel identically) are left
out wherever results are read back (`ResultStore.read`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from gridbt._atomic import write_parquet_atomic
from gridbt._typing import FloatArray, IntArray
from gridbt.kernel.contract import C
from gridbt.kernel.enums import SkipReason
from gridbt.kernel.metrics import METRICS
from gridbt.runtime import BatchResult

__all__ = ["ENGINE_COLUMNS", "ResultStore", "arrow_lists", "equity_table", "result_table",
           "value_types"]

COUNTER_NAMES = ("missing_quote_days", "stale_fills")
_KEY = ("data_fingerprint", "param_hash")  # what identifies a result
#: Per result: the hash of its trade sequence (equal trades, equal hash, whatever the engine),
#: the engine that ran it (`tables` or `day`) and why not on tables ("" when it was).
ENGINE_COLUMNS = ("outcome_hash", "engine", "fallback")
_COUNTER_COLS = (C.missing_quote_days, C.stale_fills)


def equity_table(keys: Mapping[str, pa.Array], equity: FloatArray) -> pa.Table:
    """The key columns, then `equity`: one fixed-size list of daily equity per row."""
    flat = pa.array(np.ascontiguousarray(equity).ravel())
    return pa.table({**keys, "equity": pa.FixedSizeListArray.from_arrays(flat, equity.shape[1])})


def _numeric(values: Sequence[object]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def value_types(path_levels: Mapping[str, Sequence[object]]) -> dict[str, pa.DataType]:
    """The column type of each grid path, from every value it takes in the whole grid (so a
    batch in which a path is always off still writes the type the other batches write):
    float64 for numbers (null = off), else what Arrow infers from the values, string if none."""
    out: dict[str, pa.DataType] = {}
    for path, levels in path_levels.items():
        present = [v for v in levels if v is not None]
        if present and _numeric(present):
            out[path] = pa.float64()
        else:
            out[path] = pa.array(present).type if present else pa.string()
    return out


def _values_column(values: np.ndarray, kind: pa.DataType | None) -> pa.Array:
    """Grid values as a typed column: numbers (null = off), else strings/booleans."""
    present = [v for v in values if v is not None]
    if kind == pa.float64() or (kind is None and present and _numeric(present)):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array(list(values), type=kind)


def result_table(
    combo: IntArray,
    param_hash: list[str],
    values: dict[str, np.ndarray],
    result: BatchResult,
    fingerprint: str,
    types: Mapping[str, pa.DataType] | None = None,
    engine: str | Sequence[str] | np.ndarray = "day",
    fallback: Sequence[str] | np.ndarray | None = None,
) -> pa.Table:
    """One row per combination: id, hash, fingerprint, parameters, KPIs, skips, counters,
    outcome hash, engine and fallback reason.

    `types` (from `value_types`) fixes each parameter column's type across batches; `engine`
    is the engine the batch ran on (or each row's) and `fallback` each row's reason for not
    running on trade tables (default: none)."""
    n = len(combo)
    columns: dict[str, pa.Array] = {
        "combo": pa.array(combo, type=pa.int64()),
        "param_hash": pa.array(param_hash, type=pa.string()),
        "data_fingerprint": pa.array([fingerprint] * n, type=pa.string()),
    }
    for path, vals in values.items():
        columns[path] = _values_column(vals, (types or {}).get(path))
    for k, metric in enumerate(METRICS):
        columns[metric.name] = pa.array(result.kpis[:, k], type=pa.float64())
    for k, reason in enumerate(SkipReason.NAMES):
        columns[f"skip_{reason}"] = pa.array(result.skips[:, k], type=pa.int64())
    for name, col in zip(COUNTER_NAMES, _COUNTER_COLS, strict=True):
        columns[name] = pa.array(result.counters[:, col], type=pa.int64())
    s = result.block_stats.shape[1]
    for j, stat in enumerate(("n", "sum", "sumsq")):
        flat = pa.array(np.ascontiguousarray(result.block_stats[:, :, j]).ravel())
        columns[f"block_{stat}"] = pa.FixedSizeListArray.from_arrays(flat, s)
    columns["outcome_hash"] = pa.array(result.outcome, type=pa.int64())
    columns["engine"] = pa.array([engine] * n if isinstance(engine, str) else list(engine),
                                 type=pa.string())
    columns["fallback"] = pa.array(list(fallback) if fallback is not None else [""] * n,
                                   type=pa.string())
    columns["node"] = pa.array([result.node] * n, type=pa.string())
    return pa.table(columns)


def arrow_lists(kind: pa.DataType) -> pd.ArrowDtype | None:
    """`to_pandas`'s `types_mapper` that keeps fixed-size list columns (the per-block return
    statistics) as Arrow arrays: as Python lists they cost a numpy array per row and cell, a
    second or more per million rows each way (`finish.block_matrix` reads them back)."""
    return pd.ArrowDtype(kind) if pa.types.is_fixed_size_list(kind) else None


class ResultStore:
    """Reads and appends the parts of one sweep directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.run = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        self._seq = 0

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    def _next_name(self) -> str:
        self._seq += 1
        return f"part-{self.run}-{self._seq:06d}.parquet"

    @property
    def summary_path(self) -> Path:
        """`results.parquet` (`write_summary`), there or not."""
        return self.root / "results.parquet"

    @property
    def dates_path(self) -> Path:
        """`equity/dates.parquet` (written by the finish), there or not."""
        return self.root / "equity" / "dates.parquet"

    def has_results(self) -> bool:
        return self.results_dir.is_dir() and any(self.results_dir.glob("part-*.parquet"))

    def write_batch(self, table: pa.Table, equity: pa.Table | None = None) -> Path:
        """Write a batch's equity (if any) then its results: results mark it done."""
        name = self._next_name()
        if equity is not None:
            (self.root / "equity").mkdir(parents=True, exist_ok=True)
            write_parquet_atomic(self.root / "equity" / name, equity)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / name
        write_parquet_atomic(path, table)
        return path

    def write_failure(self, combo: IntArray, param_hash: list[str], error: str,
                      attempts: int) -> Path:
        (self.root / "failures").mkdir(parents=True, exist_ok=True)
        table = pa.table({
            "combo": pa.array(combo, type=pa.int64()),
            "param_hash": pa.array(param_hash, type=pa.string()),
            "error": pa.array([error] * len(combo), type=pa.string()),
            "attempts": pa.array([attempts] * len(combo), type=pa.int64()),
        })
        path = self.root / "failures" / self._next_name()
        write_parquet_atomic(path, table)
        return path

    def write_equity(self, name: str, table: pa.Table) -> Path:
        (self.root / "equity").mkdir(parents=True, exist_ok=True)
        path = self.root / "equity" / name
        write_parquet_atomic(path, table)
        return path

    def equity_of(self, hashes: Sequence[str]) -> dict[str, FloatArray]:
        """Kept equity curves (batch parts and `top.parquet`), by parameter hash."""
        folder = self.root / "equity"
        parts = sorted(p for p in folder.glob("*.parquet") if p.name != "dates.parquet") \
            if folder.is_dir() else []
        if not parts or not hashes:
            return {}
        table = ds.dataset([str(p) for p in parts], format="parquet").to_table(
            columns=["param_hash", "equity"], filter=ds.field("param_hash").isin(list(hashes)))
        column = table.column("equity").combine_chunks()
        flat = column.flatten().to_numpy().reshape(len(table), column.type.list_size)
        return dict(zip(table.column("param_hash").to_pylist(), flat, strict=True))

    def dates(self) -> np.ndarray:
        """The trading days the equity curves are indexed by (`datetime64[D]`)."""
        table = pq.read_table(self.dates_path)
        dates: np.ndarray = table.column("date").to_numpy().astype("datetime64[D]")
        return dates

    def done_hashes(self, fingerprint: str) -> set[str]:
        """Hashes of the combinations already computed on this data."""
        if not self.has_results():
            return set()
        table = self._dataset().to_table(
            columns=["param_hash"], filter=ds.field("data_fingerprint") == fingerprint
        )
        return set(table.column("param_hash").to_pylist())

    def column_names(self) -> list[str]:
        """The results' columns (none without results)."""
        return list(self._dataset().schema.names) if self.has_results() else []

    def _dataset(self) -> ds.Dataset:
        parts = sorted(self.results_dir.glob("part-*.parquet"))
        return ds.dataset([str(p) for p in parts], format="parquet")

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All results, one row per parameter hash (per data fingerprint), ordered by
        combination id.

        Of several rows with one hash, the one of the lowest combination id is kept, and of
        one combination's rows the first written (parts are read in the order they were
        written). Their KPIs are the same: the kernel is deterministic and the hash covers its
        whole parameter row.
        """
        if not self.has_results():
            return pd.DataFrame()
        wanted = None if columns is None else list(dict.fromkeys([*columns, "combo", *_KEY]))
        frame = self._dataset().to_table(columns=wanted).to_pandas(types_mapper=arrow_lists)
        # one take by a stable order (`sort_values` over the Arrow list columns: 2 s a million)
        frame = frame.take(np.argsort(frame["combo"].to_numpy(), kind="stable"))
        frame = frame.drop_duplicates(list(_KEY))
        frame = frame.reset_index(drop=True)
        return frame if columns is None else frame[columns]

    def write_summary(self, ranked: pd.DataFrame) -> Path:
        """`results.parquet`: every result, best first (written when the sweep finishes)."""
        path = self.summary_path
        write_parquet_atomic(path, pa.Table.from_pandas(ranked, preserve_index=False))
        return path

    def read_summary(self) -> pd.DataFrame:
        """`results.parquet`, best first."""
        return pd.read_parquet(self.summary_path)

    def failures(self) -> pd.DataFrame:
        folder = self.root / "failures"
        parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        if not parts:
            return pd.DataFrame(columns=["combo", "param_hash", "error", "attempts"])
        return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)
