"""One backtest of a strategy spec: encode it and run the numba kernel, or run the reference."""

from __future__ import annotations

from typing import Literal

from gridbt.data.pack import PackedChain
from gridbt.kernel.dispatch import run_params, windowed
from gridbt.kernel.result import BacktestResult
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.spec import StrategySpec

__all__ = ["ENGINES", "Engine", "run_backtest"]

Engine = Literal["numba", "python"]
ENGINES: tuple[Engine, ...] = ("numba", "python")


def run_backtest(
    packed: PackedChain,
    spec: StrategySpec,
    engine: Engine = "numba",
    *,
    window: tuple[int, int] | None = None,
) -> BacktestResult:
    """Run one backtest of `spec` over `packed` with the numba kernel or the Python reference.

    `window = (first, end)` runs a fresh backtest over days `[first, end)` only (clamped to
    the chain; docs/semantics.md, Day window); None = the whole chain.
    """
    if engine == "python":
        from gridbt.strategy.reference import run_reference

        return run_reference(packed, spec, window=window)
    if engine != "numba":
        raise ValueError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    params = encode_spec(spec, packed)
    return run_params(packed, params if window is None else windowed(params, window))
