"""Kernel throughput on the default chain: backtests/s per core for 1-leg and 4-leg structures,
the speed-up over the plain-Python reference implementation, and the cost of the risk layer
(the same structures with sizing, margin account and delta hedge on, as a ratio to risk-off).

Each batch varies the strategy (short-leg delta and profit target) so that no two backtests are
identical. Prints medians of --repeat batches (the machine is shared and noisy).
Usage: python benchmarks/kernel.py [--chain DIR] [--batch 200] [--repeat 5] [--reference 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from gridbt.data.default import load_packed
from gridbt.kernel.contract import LEG, P_LEG0, P
from gridbt.kernel.dispatch import run_batch
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.spec import StrategySpec, parse_strategy

SHORT_PUT = {
    "name": "short_put",
    "structure": {
        "dte": {"target": 45, "min": 30, "max": 60},
        "legs": [{"right": "P", "side": "short", "select": {"by": "delta", "target": 0.30}}],
    },
    "exit": {"profit_target": 0.5, "stop_loss": 2.0, "dte": 21},
}
IRON_CONDOR = {
    "name": "iron_condor",
    "structure": {
        "dte": {"target": 45, "min": 30, "max": 60},
        "legs": [
            {"right": "P", "side": "short", "select": {"by": "delta", "target": 0.20}},
            {"right": "P", "side": "long",
             "select": {"by": "offset", "of": 0, "points": -50, "tolerance": 25}},
            {"right": "C", "side": "short", "select": {"by": "delta", "target": 0.20}},
            {"right": "C", "side": "long",
             "select": {"by": "offset", "of": 2, "points": 50, "tolerance": 25}},
        ],
    },
    "exit": {"profit_target": 0.5, "stop_loss": 2.0, "dte": 21},
}


RISK_BUDGET = {"risk_budget": 0.05, "max_contracts": 20}
REGT_ACCOUNT = {"margin": {"model": "regt"}, "account": {"liquidation": "target"}}
RISK_VARIANTS = {
    # name: (base payload, extra sections)
    "short_put+regt": (SHORT_PUT, {"capital": 1e6, "sizing": RISK_BUDGET, "risk": REGT_ACCOUNT}),
    "short_put+pm": (SHORT_PUT, {"capital": 1e6, "sizing": RISK_BUDGET,
                                 "risk": {"margin": {"model": "pm"}}}),
    "short_put+hedge": (SHORT_PUT, {"capital": 1e6, "risk": REGT_ACCOUNT,
                                    "sizing": {**RISK_BUDGET, "risk_basis": "entry_hedged"},
                                    "hedge": {"enabled": True, "half_width": 10,
                                              "at_entry": True, "slippage_bps": 1}}),
    "condor+hedge": (IRON_CONDOR, {"capital": 1e6, "risk": REGT_ACCOUNT, "sizing": RISK_BUDGET,
                                   "hedge": {"enabled": True, "band": "ww",
                                             "rebalance_to": "boundary", "slippage_bps": 1}}),
}


def _batch(spec: StrategySpec, packed: object, n: int) -> np.ndarray:
    base = encode_spec(spec, packed)  # type: ignore[arg-type]
    rows = np.tile(base, (n, 1))
    rng = np.random.default_rng(0)
    rows[:, P_LEG0 + LEG.target] = rng.uniform(0.15, 0.35, n)
    rows[:, P.profit_target] = rng.uniform(0.3, 0.9, n)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", default=None)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reference", type=int, default=1, help="reference runs per structure")
    args = parser.parse_args()
    packed = load_packed(args.chain)
    years = (int(packed.day_date[-1]) - int(packed.day_date[0])) / 365.25
    print(f"chain: {packed.n_days:,} days ({years:.1f} years), {packed.n_quotes:,} quotes")
    risk_off: dict[str, float] = {}
    for payload in (SHORT_PUT, IRON_CONDOR):
        spec = parse_strategy(payload)
        per, kpis = _time(spec, packed, args.batch, args.repeat)
        risk_off[spec.name] = per
        trades = float(np.nanmedian(kpis[:, 13]))
        line = (f"{spec.name:<12} {len(spec.structure.legs)} leg(s): {1 / per:9,.0f} backtests/s "
                f"per core ({per * 1e6:8.1f} us each, median {trades:.0f} trades)")
        if args.reference:
            from gridbt.strategy.reference import run_reference

            ref_times = []
            for _ in range(args.reference):
                start = time.perf_counter()
                run_reference(packed, spec)
                ref_times.append(time.perf_counter() - start)
            ref = statistics.median(ref_times)
            line += f"; reference {ref:6.2f} s each, kernel/reference speed-up {ref / per:,.0f}x"
        print(line)
    for name, (payload, sections) in RISK_VARIANTS.items():
        spec = parse_strategy({**payload, **sections, "name": name})
        per, kpis = _time(spec, packed, args.batch, args.repeat)
        base = risk_off[str(payload["name"])]
        print(f"{name:<16} {1 / per:9,.0f} backtests/s per core ({per * 1e6:8.1f} us each); "
              f"{base / per:.2f}x the risk-off {payload['name']}")


def _time(spec: StrategySpec, packed: object, batch: int, repeat: int) -> tuple[float, np.ndarray]:
    """Median seconds per backtest over `repeat` batches, and the last batch's KPIs."""
    rows = _batch(spec, packed, batch)
    run_batch(packed, rows[:2])  # type: ignore[arg-type]  # compile / load from cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        kpis, *_ = run_batch(packed, rows)  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
    return statistics.median(times) / batch, kpis


if __name__ == "__main__":
    main()
