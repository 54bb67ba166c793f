"""The files of a kept sweep combination or study trial for its MLflow run: the strategy that
reproduces it, its trades and its tear sheet, from one backtest. Imports nothing heavy until
called."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridbt._stages import stage

if TYPE_CHECKING:
    from gridbt.data.pack import PackedChain
    from gridbt.report.drawing import Drawing
    from gridbt.strategy.spec import StrategySpec

__all__ = ["Reproduce"]


class Reproduce:
    """A kept combination's (or trial's) files for its MLflow run, from one backtest of it:
    `strategy.yaml` (the base strategy with its values: `gridbt backtest strategy.yaml --data
    <chain>` reproduces the run), `trades.parquet` and `tearsheet.png`. The tear sheets are
    drawn in `drawing`'s worker processes (default: here, in turn) while the next runs are
    backtested; `done` waits for them."""

    def __init__(self, base: StrategySpec, data: str | None, folder: Path,
                 what: str = "combinations", drawing: Drawing | None = None):
        """`what` the kept runs are, for the stage lines: "combinations" or "trials"."""
        self.base, self.data, self.folder, self.what = base, data, folder, what
        if drawing is None:  # imported here: the process pool's modules load on demand
            from gridbt.report.drawing import Drawing

            drawing = Drawing(workers=1)
        self.drawing = drawing
        self.packed: PackedChain | None = None
        self.made = 0  # runs whose files are made
        self.started = 0.0

    def __call__(self, rank: int, params: Mapping[str, Any]) -> list[Path]:
        if not self.made:
            stage("backtesting the kept %s again for their runs' files (strategy, trades, "
                  "tear sheet)", self.what)
            self.started = time.perf_counter()
        files = self._files(rank, params)
        self.made += 1
        return files

    def done(self) -> None:
        """Wait for the tear sheets; say how many runs' files were made, and in how long."""
        self.drawing.wait()
        if self.made:
            stage("%d kept %s' files made in %.2f s", self.made, self.what,
                  time.perf_counter() - self.started)

    def _files(self, rank: int, params: Mapping[str, Any]) -> list[Path]:
        import pyarrow.parquet as pq
        import yaml

        from gridbt.data.default import load_packed
        from gridbt.kernel.dispatch import kpis_of
        from gridbt.report.tearsheet import write_tearsheet
        from gridbt.results.tables import equity_table, trades_table
        from gridbt.strategy.backtest import run_backtest
        from gridbt.strategy.paths import apply_assignment
        from gridbt.strategy.spec import StrategySpec

        if self.packed is None:
            self.packed = load_packed(self.data)
        payload = apply_assignment(self.base.model_dump(mode="json"), dict(params))
        spec = StrategySpec.model_validate(payload)
        folder = self.folder / f"rank-{rank}"
        folder.mkdir()
        strategy = folder / "strategy.yaml"
        strategy.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude={"mlflow"}),
                                           sort_keys=False, allow_unicode=True))
        result = run_backtest(self.packed, spec)
        trades = trades_table(result, self.packed)
        pq.write_table(trades, folder / "trades.parquet")
        sheet = (equity_table(result, self.packed), trades,
                 kpis_of(result, self.packed, spec.capital), f"#{rank} {spec.name}",
                 folder / "tearsheet.png")
        self.drawing.draw(write_tearsheet, *sheet)
        return [strategy, folder / "trades.parquet", folder / "tearsheet.png"]
