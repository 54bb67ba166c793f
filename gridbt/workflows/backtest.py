"""`gridbt backtest`: run one backtest from a strategy file or preset and write its outputs
(summary, trades, daily equity and book, and the tear sheet unless it is turned off)."""

from __future__ import annotations

import math
from collections import Counter

import gridbt
from gridbt._atomic import write_json_atomic, write_parquet_atomic
from gridbt._inputs import check_chain_dir, check_output_dir
from gridbt._typing import PathLike
from gridbt.data.default import ensure_synthetic_chain, load_packed
from gridbt.data.store import read_manifest
from gridbt.kernel.dispatch import kpis_of
from gridbt.kernel.enums import ExitReason, SkipReason
from gridbt.report.tearsheet import write_tearsheet
from gridbt.results.tables import equity_table, trades_table
from gridbt.strategy.backtest import Engine, run_backtest
from gridbt.strategy.presets import load_spec
from gridbt.strategy.spec import StrategySpec
from gridbt.strategy.summary import BacktestSummary, DataInfo

__all__ = ["run_and_write"]

_TEARSHEET = "tearsheet.png"


def run_and_write(
    strategy: str | PathLike | StrategySpec,
    data: PathLike | None,
    out_dir: PathLike,
    *,
    engine: Engine = "numba",
    tearsheet: bool = True,
) -> BacktestSummary:
    """Validate the spec, run the backtest and write summary, trades, equity and tear sheet.

    The spec, the output directory and the chain directory are checked before any work
    starts; every file is written under a temporary name and renamed into place. With
    `tearsheet` False no picture is drawn, and an earlier run's `tearsheet.png` in `out_dir`
    is removed, so the directory holds what `summary.json` lists.
    """
    spec = load_spec(strategy)
    out = check_output_dir(out_dir)
    chain_dir = check_chain_dir(data) if data is not None else ensure_synthetic_chain()[0]
    packed = load_packed(chain_dir)  # the chain checked against its manifest, or refused
    manifest = read_manifest(chain_dir)
    from gridbt.strategy.encode import encode_spec

    encode_spec(spec, packed)  # feature names and the like fail here, before the run
    result = run_backtest(packed, spec, engine)
    kpis = kpis_of(result, packed, spec.capital)
    out.mkdir(parents=True, exist_ok=True)
    trades = trades_table(result, packed)
    equity = equity_table(result, packed)
    files = {"summary": "summary.json", "trades": "trades.parquet", "equity": "equity.parquet"}
    write_parquet_atomic(out / files["trades"], trades)
    write_parquet_atomic(out / files["equity"], equity)
    if tearsheet:
        files["tearsheet"] = _TEARSHEET
        write_tearsheet(
            equity,
            trades,
            kpis,
            f"{spec.name} on {manifest.underlyings[0] if manifest.underlyings else ''}",
            out / _TEARSHEET,
        )
    else:
        (out / _TEARSHEET).unlink(missing_ok=True)
    reasons = Counter(ExitReason.NAMES[int(r)] for r in result.trades["exit_reason"])
    summary = BacktestSummary(
        gridbt_version=gridbt.__version__,
        engine=engine,
        strategy=spec.model_dump(mode="json"),
        strategy_hash=spec.stable_hash(),
        data=DataInfo(
            path=str(chain_dir),
            fingerprint=packed.fingerprint,
            first_date=manifest.first_date,
            last_date=manifest.last_date,
            days=manifest.days,
        ),
        kpis={k: (None if not math.isfinite(v) else v) for k, v in kpis.items()},
        skips={name: int(v) for name, v in zip(SkipReason.NAMES, result.skips, strict=True)},
        missing_quote_days=result.missing_quote_days,
        stale_fills=result.stale_fills,
        exit_reasons=dict(sorted(reasons.items())),
        files=files,
    )
    write_json_atomic(out / files["summary"], summary.model_dump(mode="json"))
    return summary
