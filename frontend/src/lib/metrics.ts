// KPI helpers over the registry the API serves (/api/metrics): labels, units, direction,
// formatting, which metrics get a diverging colour scale centred on 0.

import type { MetricInfo } from "../api/client";
import { fmtUnit, fmtDiff } from "./format";

/** Metrics whose sign is the point (returns, P&L, risk-adjusted returns): their colour scale
 * diverges from 0. */
export const SIGNED = new Set([
  "total_return",
  "cagr",
  "sharpe",
  "sortino",
  "calmar",
  "avg_trade_pnl",
  "median_trade_pnl",
  "total_pnl",
  "return_on_margin",
]);

/** The KPIs the tear sheet and tables show first. */
export const HEADLINE = [
  "sharpe",
  "cagr",
  "total_return",
  "max_drawdown",
  "annual_volatility",
  "sortino",
  "calmar",
  "win_rate",
  "profit_factor",
  "trade_count",
  "exposure",
  "return_on_margin",
];

export function label(metrics: Map<string, MetricInfo>, name: string): string {
  return metrics.get(name)?.label ?? name;
}

export function unitOf(metrics: Map<string, MetricInfo>, name: string): string {
  return metrics.get(name)?.unit ?? "ratio";
}

export function higherIsBetter(metrics: Map<string, MetricInfo>, name: string): boolean {
  return metrics.get(name)?.higher_is_better ?? true;
}

export function fmtMetric(
  metrics: Map<string, MetricInfo>,
  name: string,
  value: number | null | undefined,
): string {
  return fmtUnit(value, unitOf(metrics, name));
}

export function fmtMetricDiff(
  metrics: Map<string, MetricInfo>,
  name: string,
  value: number | null | undefined,
): string {
  return fmtDiff(value, unitOf(metrics, name));
}

/** A tooltip: the definition and the conventions every KPI shares. */
export function metricHelp(metrics: Map<string, MetricInfo>, name: string): string {
  const m = metrics.get(name);
  if (!m) return name;
  return `${m.label}: ${m.description} (${m.higher_is_better ? "higher" : "lower"} is better; daily returns on equity, 252 days a year, risk-free 0)`;
}

export function metricOptions(
  metrics: Map<string, MetricInfo>,
): { value: string; label: string }[] {
  return [...metrics.values()].map((m) => ({ value: m.name, label: m.label }));
}
