"""`summary.json` of one backtest (schema: `schemas/summary.schema.json`, generated from here)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BacktestSummary", "DataInfo"]


class DataInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="chain directory the backtest read")
    fingerprint: str = Field(description="content fingerprint of the chain")
    first_date: str
    last_date: str
    days: int


class BacktestSummary(BaseModel):
    """Everything needed to identify and judge one backtest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gridbt_version: str
    engine: str
    strategy: dict[str, Any] = Field(description="the strategy spec as run")
    strategy_hash: str = Field(description="stable hash of the strategy's parameters")
    data: DataInfo
    kpis: dict[str, float | None] = Field(description="KPIs by registry name; null = undefined")
    skips: dict[str, int] = Field(description="attempted entries skipped, by reason")
    missing_quote_days: int
    stale_fills: int
    exit_reasons: dict[str, int] = Field(description="closed trades by exit reason")
    files: dict[str, str] = Field(description="output files by role")
