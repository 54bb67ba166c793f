"""Backtest results as Arrow tables (trades with their legs, daily equity)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from gridbt.data.pack import PackedChain
from gridbt.kernel.contract import D
from gridbt.kernel.enums import MAX_LEGS, ExitReason, SizingBinding
from gridbt.kernel.result import BacktestResult

__all__ = ["equity_table", "trades_table"]


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32()).view(pa.date32())


def trades_table(result: BacktestResult, packed: PackedChain) -> pa.Table:
    """One row per closed trade; legs as a list<struct> column."""
    t = result.trades
    n = len(t)
    entry_day = t["entry_day"].astype(np.int64)
    exit_day = t["exit_day"].astype(np.int64)
    legs = []
    for k in range(n):
        rows = result.legs[k * MAX_LEGS : k * MAX_LEGS + int(t["n_legs"][k])]
        legs.append(
            [
                {
                    "right": "C" if r["right"] > 0 else "P",
                    "strike": float(r["strike"]),
                    "expiry": int(r["expiry"]),
                    "units": float(r["units"]),
                    "entry_fill": float(r["entry_fill"]),
                    "exit_fill": float(r["exit_fill"]),
                    "settled": bool(r["settled"]),
                }
                for r in rows
            ]
        )
    leg_type = pa.list_(
        pa.struct(
            [
                ("right", pa.string()),
                ("strike", pa.float64()),
                ("expiry", pa.int32()),
                ("units", pa.float64()),
                ("entry_fill", pa.float64()),
                ("exit_fill", pa.float64()),
                ("settled", pa.bool_()),
            ]
        )
    )
    legs_array = pa.array(legs, type=leg_type)
    # expiry inside the legs is stored as a date
    legs_array = legs_array.cast(
        pa.list_(
            pa.struct(
                [
                    f if f.name != "expiry" else pa.field("expiry", pa.date32())
                    for f in leg_type.value_type
                ]
            )
        )
    )
    return pa.table(
        {
            "entry_date": _dates(packed.day_date[entry_day] if n else np.empty(0)),
            "exit_date": _dates(packed.day_date[exit_day] if n else np.empty(0)),
            "exit_reason": pa.array(
                [ExitReason.NAMES[int(r)] for r in t["exit_reason"]], type=pa.string()
            ),
            "direction": pa.array(t["direction"], type=pa.int8()),
            "contracts": pa.array(t["contracts"], type=pa.float64()),
            "entry_premium": pa.array(t["entry_premium"], type=pa.float64()),
            "entry_cash": pa.array(t["entry_cash"], type=pa.float64()),
            "exit_cash": pa.array(t["exit_cash"], type=pa.float64()),
            "commissions": pa.array(t["commissions"], type=pa.float64()),
            "pnl": pa.array(t["pnl"], type=pa.float64()),
            "mae": pa.array(t["mae"], type=pa.float64()),
            "mfe": pa.array(t["mfe"], type=pa.float64()),
            "days_held": pa.array(t["days_held"], type=pa.int32()),
            "hedge_pnl": pa.array(t["hedge_pnl"], type=pa.float64()),
            "hedge_cost": pa.array(t["hedge_cost"], type=pa.float64()),
            "financing": pa.array(t["financing"], type=pa.float64()),
            "sizing_binding": pa.array(
                [SizingBinding.NAMES[int(b)] for b in t["sizing_binding"]], type=pa.string()
            ),
            "risk_per_contract": pa.array(t["risk_per_contract"], type=pa.float64()),
            "worst_scenario": pa.array(t["worst_scenario"], type=pa.int32()),
            "margin_per_contract": pa.array(t["margin_per_contract"], type=pa.float64()),
            "risk_contracts": pa.array(t["risk_contracts"], type=pa.float64()),
            "margin_contracts": pa.array(t["margin_contracts"], type=pa.float64()),
            "legs": legs_array,
        }
    )


#: equity.parquet column -> daily output column of the kernel (docs/semantics.md).
DAILY_COLUMNS = {
    "contracts": D.contracts,
    "delta": D.delta,
    "hedge_shares": D.hedge_shares,
    "net_delta": D.net_delta,
    "gamma": D.gamma,
    "vega": D.vega,
    "theta": D.theta,
    "initial_margin": D.initial_margin,
    "maintenance_margin": D.maintenance_margin,
    "margin_call_days": D.margin_call_days,
    "pnl_delta": D.pnl_delta,
    "pnl_gamma": D.pnl_gamma,
    "pnl_vega": D.pnl_vega,
    "pnl_theta": D.pnl_theta,
    "pnl_costs": D.pnl_costs,
    "pnl_financing": D.pnl_financing,
    "pnl_residual": D.pnl_residual,
}


def equity_table(result: BacktestResult, packed: PackedChain) -> pa.Table:
    """One row per trading day: equity, drawdown, in-market flag, spot, then the end-of-day
    greeks, hedge and margin of the book and the day's P&L attribution."""
    equity = result.equity
    peak = np.maximum.accumulate(equity) if len(equity) else equity
    columns = {
        "date": _dates(packed.day_date),
        "equity": pa.array(equity, type=pa.float64()),
        "drawdown": pa.array(equity / peak - 1.0 if len(equity) else equity, type=pa.float64()),
        "in_market": pa.array(result.in_market, type=pa.bool_()),
        "spot": pa.array(packed.day_spot, type=pa.float64()),
    }
    for name, col in DAILY_COLUMNS.items():
        columns[name] = pa.array(result.daily[:, col], type=pa.float64())
    return pa.table(columns)
