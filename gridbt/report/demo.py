"""`gridbt demo`: the main job on the embedded default data."""

from __future__ import annotations

import time
from pathlib import Path

from gridbt.data.default import default_chain_dir, ensure_synthetic_chain
from gridbt.data.info import chain_info

__all__ = ["run_demo"]

REPO = Path(__file__).resolve().parents[2]
DEMO_STRATEGY = REPO / "jobs/strategies/short_put_30d.yaml"
DEMO_HEDGED = REPO / "jobs/strategies/hedged_short_strangle.yaml"
DEMO_SWEEP = REPO / "jobs/sweeps/short_put_grid.yaml"
DEMO_STUDY = REPO / "jobs/studies/demo_study.yaml"


def run_demo(out_dir: Path) -> int:
    """Build the default chain if absent, summarise it, run a preset backtest and a hedged,
    risk-sized one, print their KPIs, then run the short-put sweep and a short study."""
    from gridbt.report.backtest import run_and_write
    from gridbt.report.text import format_summary

    print(f"default chain: {default_chain_dir()}")
    started = time.perf_counter()
    chain_dir, manifest, built = ensure_synthetic_chain()
    if built:
        print(f"  built in {time.perf_counter() - started:.1f}s")
    for key, value in chain_info(chain_dir).items():
        print(f"  {key:<20} {value}")
    strategy = DEMO_STRATEGY if DEMO_STRATEGY.is_file() else "short_put"
    out = out_dir / "backtest"
    print(f"\nbacktest: {strategy}")
    summary = run_and_write(strategy, chain_dir, out)
    print(format_summary(summary, out))
    hedged = DEMO_HEDGED if DEMO_HEDGED.is_file() else "hedged_short_strangle"
    out = out_dir / "hedged"
    print(f"\nbacktest with the risk layer (stress sizing, Reg-T margin, delta hedge): {hedged}")
    print(format_summary(run_and_write(hedged, chain_dir, out), out))
    code = _demo_sweep(out_dir)
    return code or _demo_study(out_dir)


def _demo_sweep(out_dir: Path) -> int:
    """The short-put grid on local Ray, logged to MLflow beside the demo output."""
    from gridbt.sweep.driver import run_sweep
    from gridbt.sweep.report import format_outcome, results_of

    out = out_dir / "sweep"
    print(f"\nsweep: {DEMO_SWEEP.relative_to(REPO)} -> {out}")
    outcome = run_sweep(DEMO_SWEEP, out=out, resume=True, workdir=out_dir)
    params = list(outcome.manifest.sweep["grid"]) if outcome.manifest else []
    print(format_outcome(outcome, results_of(out), params))
    return 130 if outcome.interrupted else 0


def _demo_study(out_dir: Path) -> int:
    """A short TPE study with walk-forward folds: best parameters, out of sample, DSR."""
    from gridbt.optimize.report import format_study
    from gridbt.optimize.study import run_study

    out = out_dir / "study"
    print(f"\nstudy: {DEMO_STUDY.relative_to(REPO)} -> {out}")
    outcome = run_study(DEMO_STUDY, out=out, resume=True, workdir=out_dir)
    print(format_study(outcome))
    return 130 if outcome.interrupted else 0
