"""A small results workspace made by the CLI, as the results API's and browser's tests read it.

`make_workspace` runs `gridbt sweep`, `gridbt optimize` and `gridbt backtest` as real
subprocesses under one root: a 27-run sweep keeping 3 curves, a 12-trial two-objective study
(NSGA-II on Sharpe and max drawdown, two anchored walk-forward folds) and the backtests asked
for, all on the `small` embedded chain.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

__all__ = ["GRID_PATHS", "SWEEP_ID", "STUDY_ID", "make_workspace", "run_cli"]

REPO = Path(__file__).resolve().parents[2]
#: the sweep's three grid paths (x, y, z)
GRID_PATHS = ("structure.legs.0.select.target", "exit.profit_target", "exit.stop_loss")
SWEEP_ID, STUDY_ID = "sweeps~tiny", "studies~tiny"


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`gridbt ARGS` in a subprocess of this checkout; its run, after asserting it exited 0."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO),
                                                      os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "gridbt.cli", *map(str, args)], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def make_workspace(work: Path, backtests: Mapping[str, str | Path]) -> Path:
    """Make `work/root` holding `sweeps/tiny`, `studies/tiny` and `backtests/<name>` for each
    `name: strategy` of `backtests` (a preset name or a strategy file); return the root."""
    from gridbt.data.default import ensure_synthetic_chain

    chain = ensure_synthetic_chain(profile="small")[0]
    short_put = REPO / "jobs" / "strategies" / "short_put_30d.yaml"
    x, y, z = GRID_PATHS
    root = work / "root"
    root.mkdir()
    (work / "sweep.yaml").write_text(textwrap.dedent(f"""\
        name: tiny
        strategy: {short_put}
        data: {chain}
        keep_equity: 3
        pbo_blocks: 6
        mlflow: {{enabled: false}}
        ray: {{batch_seconds: 0.02, max_in_flight: 1}}
        grid:
          {x}: [0.1, 0.2, 0.3]
          {y}: [0.25, 0.5, null]
          {z}: [1.5, 2.0, null]
        """))
    (work / "study.yaml").write_text(textwrap.dedent(f"""\
        name: tiny_study
        strategy: {short_put}
        data: {chain}
        pbo_blocks: 6
        keep_equity: 3
        mlflow: {{enabled: false}}
        space:
          {x}: {{float: [0.05, 0.50], step: 0.05}}
          {y}: {{float: [0.2, 0.9], step: 0.1}}
          {z}: {{categorical: [1.0, 2.0, null]}}
        objectives: [sharpe, {{kpi: max_drawdown}}]
        sampler: {{kind: nsga2, seed: 3}}
        pruner: {{kind: none}}
        walk_forward: {{folds: 2, scheme: anchored}}
        trials: 12
        parallel: 4
        """))
    run_cli("sweep", work / "sweep.yaml", "--out", root / "sweeps" / "tiny", "--quiet",
            "--actors", "1", cwd=work)
    run_cli("optimize", work / "study.yaml", "--out", root / "studies" / "tiny", "--quiet",
            "--actors", "1", cwd=work)
    for name, strategy in backtests.items():
        run_cli("backtest", "--strategy", strategy, "--data", chain, "--out",
                root / "backtests" / name, "--no-tearsheet", cwd=work)
    return root
