"""Pack a canonical chain into the flat numpy arrays the kernel walks.

Layout (all arrays C-contiguous; day index `d`, group index `g`, quote row `q`, contract `c`):

- days: `day_date` int32 (days since 1970-01-01), `day_spot` f64, `day_weekday` int8 (Mon=0),
  `day_quote_start` int64[n_days+1], `day_group_start` int64[n_days+1] and
  `day_put_group_start` int64[n_days]: a day's call groups are
  `[day_group_start[d], day_put_group_start[d])`, its put groups
  `[day_put_group_start[d], day_group_start[d+1])`, each sorted by expiry.
- groups (one per day, right, expiry): `group_expiry` int32, `group_quote_start` int64[n_groups+1]
  (quotes of a group are sorted by strike).
- quotes, day-major in (date, right, expiry, strike) order: `quote_strike`, `quote_bid`,
  `quote_ask`, `quote_iv`, `quote_delta`, `quote_gamma`, `quote_vega`, `quote_theta` f64 (NaN =
  missing), `quote_volume`, `quote_open_interest` int64 (-1 = missing), `quote_expiry` int32,
  `quote_right` int8 (+1 call, -1 put), `quote_contract` int32, and `quote_log1p_volume`,
  `quote_log1p_open_interest` (log1p of the value, missing as 0; precomputed once because
  strike scoring needs them on every entry).
- contracts (one per right, expiry, strike): `contract_right` int8, `contract_expiry` int32,
  `contract_strike` f64, `contract_row_start` int64[n_contracts+1] into `contract_rows` int64
  (quote rows of the contract in day order) and `contract_row_day` int32 (their day index).
  Marking a held contract is a cursor step along its rows, not a search.
- features: `features` f64[n_features, n_days] named by `feature_names` (see `features.py`).

Float columns are zero-copy views of the Arrow buffers when the table has one chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridbt._typing import FloatArray, Int8Array, Int32Array, IntArray
from gridbt.data.schema import conform

__all__ = ["PACK_FORMAT_VERSION", "RIGHT_CALL", "RIGHT_PUT", "PackedChain", "pack_chain"]

RIGHT_CALL = 1
RIGHT_PUT = -1

# Part of the key of the packed-chain cache (`packcache.py`): bump it whenever pack_chain's
# output changes (a field, a dtype, an order, the default features), or stale caches are loaded,
# and whenever the cache's layout does (2: keyed by the manifest's content key, full hashes;
# 3: the `vix_30` feature).
PACK_FORMAT_VERSION = 3


@dataclass(frozen=True)
class PackedChain:
    day_date: Int32Array
    day_spot: FloatArray
    day_weekday: Int8Array
    day_quote_start: IntArray
    day_group_start: IntArray
    day_put_group_start: IntArray
    group_expiry: Int32Array
    group_quote_start: IntArray
    quote_strike: FloatArray
    quote_bid: FloatArray
    quote_ask: FloatArray
    quote_iv: FloatArray
    quote_delta: FloatArray
    quote_gamma: FloatArray
    quote_vega: FloatArray
    quote_theta: FloatArray
    quote_volume: IntArray
    quote_open_interest: IntArray
    quote_log1p_volume: FloatArray
    quote_log1p_open_interest: FloatArray
    quote_expiry: Int32Array
    quote_right: Int8Array
    quote_contract: Int32Array
    contract_right: Int8Array
    contract_expiry: Int32Array
    contract_strike: FloatArray
    contract_row_start: IntArray
    contract_rows: IntArray
    contract_row_day: Int32Array
    features: FloatArray
    feature_names: tuple[str, ...]
    fingerprint: str
    underlying: str

    @property
    def n_days(self) -> int:
        return int(self.day_date.shape[0])

    @property
    def n_quotes(self) -> int:
        return int(self.quote_strike.shape[0])

    def nbytes(self) -> int:
        """Return the memory held by the packed arrays."""
        return sum(
            getattr(self, f.name).nbytes
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        )

    def feature(self, name: str) -> FloatArray:
        """Return one daily feature series by name."""
        try:
            row: FloatArray = self.features[self.feature_names.index(name)]
            return row
        except ValueError:
            raise KeyError(
                f"unknown feature {name!r}; available: {', '.join(self.feature_names)}"
            ) from None


def _float_view(column: pa.ChunkedArray) -> FloatArray:
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if array.null_count:
        array = array.fill_null(np.nan)
    return array.to_numpy(zero_copy_only=True)  # type: ignore[no-any-return]


def _date_view(column: pa.ChunkedArray) -> Int32Array:
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return array.view(pa.int32()).to_numpy(zero_copy_only=True)  # type: ignore[no-any-return]


def _int_or_missing(column: pa.ChunkedArray) -> IntArray:
    return np.ascontiguousarray(column.fill_null(-1).to_numpy(), dtype=np.int64)


def _starts(keys_change: np.ndarray, n: int) -> IntArray:
    """Offsets of runs: positions where a run starts, plus `n` at the end."""
    return np.concatenate([np.flatnonzero(keys_change), [n]]).astype(np.int64)


def pack_chain(
    table: pa.Table, *, fingerprint: str = "", feature_config: object = None
) -> PackedChain:
    """Pack a canonical chain sorted by (date, right, expiry, strike).

    Raises
    ------
    ValueError
        If the table is not in canonical sort order or a day has no spot.
    """
    from gridbt.data.features import FeatureConfig, compute_features

    table = conform(table)
    n = table.num_rows
    date = _date_view(table.column("date"))
    expiry = _date_view(table.column("expiry"))
    strike = _float_view(table.column("strike"))
    right = np.where(
        pc.equal(pc.cast(table.column("right"), pa.string()), "C").to_numpy(zero_copy_only=False),
        np.int8(RIGHT_CALL),
        np.int8(RIGHT_PUT),
    ).astype(np.int8)
    if n > 1:
        d_date, d_right = np.diff(date), -np.diff(right)  # calls (+1) before puts (-1)
        d_exp, d_strike = np.diff(expiry), np.diff(strike)
        ordered = (d_date > 0) | (
            (d_date == 0)
            & ((d_right > 0) | ((d_right == 0) & ((d_exp > 0) | ((d_exp == 0) & (d_strike > 0)))))
        )
        if not ordered.all():
            bad = int(np.flatnonzero(~ordered)[0]) + 1
            raise ValueError(
                f"chain is not sorted by (date, right, expiry, strike) with unique keys "
                f"at row {bad}"
            )
    day_change = np.ones(n, dtype=bool)
    day_change[1:] = date[1:] != date[:-1]
    day_quote_start = _starts(day_change, n)
    group_change = day_change.copy()
    group_change[1:] |= (right[1:] != right[:-1]) | (expiry[1:] != expiry[:-1])
    group_quote_start = _starts(group_change, n)
    group_first_row = group_quote_start[:-1]
    group_of_row = np.cumsum(group_change) - 1
    day_group_start = np.append(group_of_row[day_quote_start[:-1]], len(group_first_row)).astype(
        np.int64
    )
    n_days = len(day_quote_start) - 1
    group_right = right[group_first_row]
    group_day = np.repeat(np.arange(n_days), np.diff(day_group_start))
    # first put group of each day, or the day's end when it has no puts
    put_groups = np.flatnonzero(group_right == RIGHT_PUT)
    day_put_group_start = day_group_start[1:].copy()
    np.minimum.at(day_put_group_start, group_day[put_groups], put_groups)

    spot_rows = _float_view(table.column("spot"))
    day_spot = np.ascontiguousarray(spot_rows[day_quote_start[:-1]])
    if not np.all(np.isfinite(day_spot) & (day_spot > 0)):
        bad_day = int(np.flatnonzero(~(np.isfinite(day_spot) & (day_spot > 0)))[0])
        raise ValueError(f"day {int(date[day_quote_start[bad_day]])} has no spot")
    day_date = np.ascontiguousarray(date[day_quote_start[:-1]])
    day_weekday = ((day_date.astype(np.int64) + 3) % 7).astype(np.int8)  # 1970-01-01 was a Thursday

    order = np.lexsort((date, strike, expiry, -right))
    contract_change = np.ones(n, dtype=bool)
    if n > 1:
        o = order
        contract_change[1:] = (
            (right[o][1:] != right[o][:-1])
            | (expiry[o][1:] != expiry[o][:-1])
            | (strike[o][1:] != strike[o][:-1])
        )
    contract_row_start = _starts(contract_change, n)
    contract_id_sorted = (np.cumsum(contract_change) - 1).astype(np.int32)
    quote_contract = np.empty(n, dtype=np.int32)
    quote_contract[order] = contract_id_sorted
    row_day = (np.cumsum(day_change) - 1).astype(np.int32)
    first = order[contract_row_start[:-1]]

    feature_cfg = feature_config if isinstance(feature_config, FeatureConfig) else FeatureConfig()
    volume = _int_or_missing(table.column("volume"))
    open_interest = _int_or_missing(table.column("open_interest"))
    packed = PackedChain(
        day_date=day_date,
        day_spot=day_spot,
        day_weekday=day_weekday,
        day_quote_start=day_quote_start,
        day_group_start=day_group_start,
        day_put_group_start=day_put_group_start,
        group_expiry=np.ascontiguousarray(expiry[group_first_row]),
        group_quote_start=group_quote_start,
        quote_strike=strike,
        quote_bid=_float_view(table.column("bid")),
        quote_ask=_float_view(table.column("ask")),
        quote_iv=_float_view(table.column("iv")),
        quote_delta=_float_view(table.column("delta")),
        quote_gamma=_float_view(table.column("gamma")),
        quote_vega=_float_view(table.column("vega")),
        quote_theta=_float_view(table.column("theta")),
        quote_volume=volume,
        quote_open_interest=open_interest,
        quote_log1p_volume=np.log1p(np.maximum(volume, 0).astype(np.float64)),
        quote_log1p_open_interest=np.log1p(np.maximum(open_interest, 0).astype(np.float64)),
        quote_expiry=expiry,
        quote_right=right,
        quote_contract=quote_contract,
        contract_right=np.ascontiguousarray(right[first]),
        contract_expiry=np.ascontiguousarray(expiry[first]),
        contract_strike=np.ascontiguousarray(strike[first]),
        contract_row_start=contract_row_start,
        contract_rows=order.astype(np.int64),
        contract_row_day=np.ascontiguousarray(row_day[order]),
        features=np.empty((0, n_days)),
        feature_names=(),
        fingerprint=fingerprint,
        underlying=str(pc.cast(table.column("underlying"), pa.string())[0]) if n else "",
    )
    names, values = compute_features(packed, feature_cfg)
    object.__setattr__(packed, "features", values)
    object.__setattr__(packed, "feature_names", names)
    return packed
