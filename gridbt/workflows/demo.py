"""`gridbt demo`: the main job on the embedded default data."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from gridbt._inputs import check_output_dir
from gridbt.data.default import default_chain_dir, ensure_synthetic_chain
from gridbt.data.info import chain_info
from gridbt.report.backtest import format_summary
from gridbt.report.study import format_study
from gridbt.report.sweep import sweep_report
from gridbt.workflows.backtest import run_and_write
from gridbt.workflows.jobfiles import job_file
from gridbt.workflows.study import study_job
from gridbt.workflows.sweep import sweep_job

__all__ = ["run_demo"]

DEMO_STRATEGY = "strategies/short_put_30d.yaml"
DEMO_HEDGED = "strategies/hedged_short_strangle.yaml"
DEMO_SWEEP = "sweeps/short_put_grid.yaml"
DEMO_STUDY = "studies/demo_study.yaml"
#: where `gridbt serve` listens by default: the results browser
SERVE_URL = "http://127.0.0.1:8765/"


def run_demo(out_dir: Path) -> int:
    """Build the default chain if absent, summarise it, run a preset backtest and a hedged,
    risk-sized one, print their KPIs, then run the short-put sweep and a short study, and end
    with the `gridbt serve` command that browses all of them."""
    check_output_dir(out_dir)
    print(f"default chain: {default_chain_dir()}")
    print("  the underlying path is real (the S&P 500 close, 1999-2018); the option quotes are")
    print("  modelled, their implied-vol level anchored to the real VIX (docs/history_chain.md)")
    started = time.perf_counter()
    chain_dir, manifest, built = ensure_synthetic_chain()
    if built:
        print(f"  built in {time.perf_counter() - started:.1f}s")
    for key, value in chain_info(chain_dir).items():
        print(f"  {key:<20} {value}")
    for title, name, out in (
        ("backtest", DEMO_STRATEGY, out_dir / "backtest"),
        ("backtest with the risk layer (stress sizing, Reg-T margin, delta hedge)", DEMO_HEDGED,
         out_dir / "hedged"),
    ):
        strategy = job_file(name)
        print(f"\n{title}: {strategy}")
        print(format_summary(run_and_write(strategy, chain_dir, out), out))
    code = _demo_sweep(out_dir) or _demo_study(out_dir)
    if not code:
        print(f"\nbrowse every result above: {serve_command(out_dir)}")
        print(f"then open {SERVE_URL} in a browser")
    return code


def serve_command(out_dir: Path) -> str:
    """The command that serves the demo's results (the results API, `gridbt serve`)."""
    return f"gridbt serve --root {shlex.quote(str(out_dir))}"


def _demo_sweep(out_dir: Path) -> int:
    """The short-put grid on local Ray, logged to MLflow beside the demo output."""
    path, out = job_file(DEMO_SWEEP), out_dir / "sweep"
    print(f"\nsweep: {path} -> {out}")
    outcome = sweep_job(path, out=out, resume=True, workdir=out_dir, tracking_dir=out_dir,
                        draw_workers=None)
    print(sweep_report(outcome))
    return 130 if outcome.interrupted else 0


def _demo_study(out_dir: Path) -> int:
    """A short TPE study with walk-forward folds: best parameters, out of sample, DSR."""
    path, out = job_file(DEMO_STUDY), out_dir / "study"
    print(f"\nstudy: {path} -> {out}")
    outcome = study_job(path, out=out, resume=True, workdir=out_dir, tracking_dir=out_dir,
                        draw_workers=None)
    print(format_study(outcome))
    return 130 if outcome.interrupted else 0
