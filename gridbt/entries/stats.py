"""Buckets and statistics of the candidate outcomes: the `entries.parquet` table (one row per
exit rule x DTE bucket x delta or moneyness bucket) and the `candidates.parquet` table (one
row per candidate and exit rule); docs/entries.md describes both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gridbt._typing import FloatArray, IntArray
from gridbt.data.pack import PackedChain
from gridbt.entries.engine import Candidates
from gridbt.entries.spec import BucketsConfig
from gridbt.kernel.enums import ExitReason

__all__ = ["Bucket", "Leg0Facts", "assign", "buckets_of", "candidates_table", "entries_table",
           "leg0_facts"]


@dataclass(frozen=True)
class Bucket:
    """`[low, high)`, or `[low, high]` when `closed` (the last DTE bucket ends at the window's
    maximum); `high` may be +inf."""

    low: float
    high: float
    closed: bool

    @property
    def label(self) -> str:
        close = "]" if self.closed else ")"
        return f"[{self.low:g},{self.high:g}{close}"


def buckets_of(edges: Sequence[float], top: float, closed_top: bool) -> list[Bucket]:
    """`[e_j, e_j+1)` for consecutive edges, then the last one from the last edge to `top`
    (kept when `top` reaches the last edge: the partial last bucket)."""
    out = [Bucket(float(lo), float(hi), False) for lo, hi in zip(edges, edges[1:], strict=False)]
    if top >= edges[-1]:
        out.append(Bucket(float(edges[-1]), float(top), closed_top))
    return out


def assign(values: FloatArray, buckets: Sequence[Bucket]) -> IntArray:
    """Each value's bucket index, or -1 (below the first edge, above the top, or NaN)."""
    lows = np.array([b.low for b in buckets])
    index = np.searchsorted(lows, values, side="right") - 1
    last = buckets[-1]
    above = (values > last.high) if last.closed else (values >= last.high)
    index[~np.isfinite(values) | above | (index < 0)] = -1
    # a value at a bucket's open top belongs to the next bucket, which searchsorted found
    return index.astype(np.int64)


@dataclass(frozen=True)
class Leg0Facts:
    """Leg 0 at entry, per candidate."""

    dte: FloatArray
    abs_delta: FloatArray
    moneyness: FloatArray  # strike / spot - 1
    strike: FloatArray
    expiry: np.ndarray  # int32 days since 1970-01-01
    spot: FloatArray


def leg0_facts(packed: PackedChain, candidates: Candidates) -> Leg0Facts:
    """The anchor leg's DTE, |delta|, moneyness, strike and expiry at entry."""
    q = candidates.rows[:, 0]
    expiry = packed.quote_expiry[q]
    today = packed.day_date[candidates.day]
    spot = packed.day_spot[candidates.day]
    strike = packed.quote_strike[q]
    return Leg0Facts(
        dte=(expiry - today).astype(np.float64),
        abs_delta=np.abs(packed.quote_delta[q]),
        moneyness=strike / spot - 1.0,
        strike=strike,
        expiry=expiry,
        spot=spot,
    )


def _stats(pnl: FloatArray, risk: FloatArray, held: FloatArray) -> list[float]:
    n = pnl.shape[0]
    if n == 0:
        return [0.0] + [float("nan")] * 9
    p25, p50, p75 = np.percentile(pnl, [25, 50, 75])
    ratio = pnl / risk
    ratio = ratio[np.isfinite(ratio)]
    return [
        float(n),
        float(pnl.mean()),
        float(pnl.std(ddof=1)) if n > 1 else float("nan"),
        float(p25),
        float(p50),
        float(p75),
        float((pnl > 0).mean()),
        float(ratio.mean()) if ratio.size else float("nan"),
        float(np.median(ratio)) if ratio.size else float("nan"),
        float(held.mean()),
    ]


_STAT_COLUMNS = ("count", "mean", "std", "p25", "median", "p75", "win_rate", "risk_mean",
                 "risk_median", "days_held_mean")


def entries_table(
    packed: PackedChain,
    candidates: Candidates,
    buckets: BucketsConfig,
    dte_max: int,
    labels: Sequence[str],
) -> pa.Table:
    """One row per exit rule x DTE bucket x delta (or moneyness) bucket, empty buckets
    included (count 0): the statistics of the P&L per contract and per unit of risk of the
    candidates in it (docs/entries.md)."""
    facts = leg0_facts(packed, candidates)
    dte_b = buckets_of(buckets.dte, dte_max, True)
    by = buckets.by
    top = 1.0 if by == "delta" else float("inf")
    strike_b = buckets_of(buckets.strike_edges, top, by == "delta")
    values = facts.abs_delta if by == "delta" else facts.moneyness
    code = np.full(candidates.count, -1, dtype=np.int64)
    if dte_b and strike_b:
        di = assign(facts.dte, dte_b)
        si = assign(values, strike_b)
        inside = (di >= 0) & (si >= 0)
        code[inside] = di[inside] * len(strike_b) + si[inside]
    order = np.argsort(code, kind="stable")
    n_codes = len(dte_b) * len(strike_b)
    bounds = np.searchsorted(code[order], np.arange(n_codes + 1))
    entry_date = packed.day_date[candidates.day]
    rows: dict[str, list[object]] = {
        k: [] for k in ("exit_rule", "exit_index", "dte_bucket", "dte_low", "dte_high",
                        f"{by}_bucket", f"{by}_low", f"{by}_high", *_STAT_COLUMNS)
    }
    for r, label in enumerate(labels):
        pnl_all = candidates.pnl[r]
        held_all = (packed.day_date[candidates.exit_day[r]] - entry_date).astype(np.float64)
        for di_, db in enumerate(dte_b):
            for si_, sb in enumerate(strike_b):
                c = di_ * len(strike_b) + si_
                idx = order[bounds[c]:bounds[c + 1]]
                values_ = _stats(pnl_all[idx], candidates.risk[idx], held_all[idx])
                rows["exit_rule"].append(label)
                rows["exit_index"].append(r)
                rows["dte_bucket"].append(db.label)
                rows["dte_low"].append(db.low)
                rows["dte_high"].append(db.high)
                rows[f"{by}_bucket"].append(sb.label)
                rows[f"{by}_low"].append(sb.low)
                rows[f"{by}_high"].append(sb.high)
                for name, v in zip(_STAT_COLUMNS, values_, strict=True):
                    rows[name].append(v)
    table = pa.table(rows)
    return table.set_column(table.schema.get_field_index("count"), "count",
                            pa.array(rows["count"], pa.int64()))


def candidates_table(
    packed: PackedChain, candidates: Candidates, labels: Sequence[str]
) -> pa.Table:
    """One row per candidate and exit rule: entry date, leg 0 (right, strike, expiry, DTE,
    |delta|, moneyness), spot, entry cash and unit of risk per contract, then the rule's exit
    date, reason and P&L per contract."""
    facts = leg0_facts(packed, candidates)
    n = candidates.count
    n_rules = len(labels)
    q = candidates.rows[:, 0]

    def tile(a: np.ndarray) -> np.ndarray:
        return np.tile(a, n_rules)

    entry_date = packed.day_date[candidates.day]
    exit_day = candidates.exit_day.reshape(-1)
    reason = candidates.exit_reason.reshape(-1).astype(np.int64)
    names = np.array(ExitReason.NAMES)
    rule_index = np.repeat(np.arange(n_rules), n)
    pnl = candidates.pnl.reshape(-1)
    risk = tile(candidates.risk)
    return pa.table({
        "exit_rule": pa.DictionaryArray.from_arrays(
            pa.array(rule_index, pa.int32()), pa.array(list(labels))),
        "exit_index": pa.array(rule_index, pa.int32()),
        "entry_date": pa.array(tile(entry_date), pa.int32()).cast(pa.date32()),
        "right": pa.DictionaryArray.from_arrays(
            pa.array(tile((packed.quote_right[q] < 0).astype(np.int32)), pa.int32()),
            pa.array(["C", "P"])),
        "strike": tile(facts.strike),
        "expiry": pa.array(tile(facts.expiry), pa.int32()).cast(pa.date32()),
        "dte": pa.array(tile(facts.dte).astype(np.int32)),
        "abs_delta": tile(facts.abs_delta),
        "moneyness": tile(facts.moneyness),
        "spot": tile(facts.spot),
        "entry_cash": tile(candidates.entry_cash),
        "risk": risk,
        "exit_date": pa.array(packed.day_date[exit_day], pa.int32()).cast(pa.date32()),
        "exit_reason": pa.DictionaryArray.from_arrays(pa.array(reason, pa.int32()),
                                                      pa.array(list(names))),
        "pnl": pnl,
        "pnl_per_risk": pnl / risk,
    })
