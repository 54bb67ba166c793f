// A trial's KPIs in the span its study ranked it on, after it and over the whole chain: did the
// trial hold up on days no trial was chosen by?

import type { SpanKpis, TrialSpans } from "../api/client";
import { useMetricMap } from "../api/hooks";
import { fmtMetric, label, metricHelp } from "../lib/metrics";
import { fmtInt, isNum } from "../lib/format";

const COLUMNS = ["total_return", "cagr", "sharpe", "max_drawdown", "win_rate", "trade_count"];
/** a narrow panel's columns (no dates) */
const COMPACT = ["sharpe", "cagr", "max_drawdown", "trade_count"];
const SIGNED = new Set(["total_return", "cagr", "sharpe"]);

const ROWS: [keyof Pick<TrialSpans, "in_sample" | "after" | "whole">, string, string][] = [
  ["in_sample", "In sample", "the study's KPIs of the trial: its backtest over these days alone"],
  [
    "after",
    "After it",
    "days no trial was ranked on, the trial backtested over them alone from its capital, as the study measures a fold out of sample",
  ],
  [
    "whole",
    "Whole chain",
    "the curve and trades on this page (in sample and after it do not compound to it exactly: each is a backtest of its own)",
  ],
];

export function TrialSpansTable({
  spans,
  compact = false,
}: {
  spans: TrialSpans;
  /** fewer KPIs and no dates (the dates in each row's tooltip) */
  compact?: boolean;
}) {
  const metrics = useMetricMap();
  const rows = ROWS.filter(([key]) => spans[key]);
  const columns = compact ? COMPACT : COLUMNS;
  return (
    <table className="simple-table fit" data-testid="trial-spans">
      <thead>
        <tr>
          <th>Span (days)</th>
          {!compact && <th>From</th>}
          {!compact && <th>To</th>}
          {columns.map((k) => (
            <th key={k} className="right" title={metricHelp(metrics, k)}>
              {label(metrics, k)}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map(([key, name, help]) => {
          const span = spans[key] as SpanKpis;
          return (
            <tr key={key} data-testid={`span-${key}`}>
              <td title={`${span.first_date} to ${span.last_date}: ${help}`}>
                {name} <span className="muted">({fmtInt(span.days)})</span>
              </td>
              {!compact && <td className="num">{span.first_date}</td>}
              {!compact && <td className="num">{span.last_date}</td>}
              {columns.map((k) => {
                const v = span.kpis[k];
                const tone = SIGNED.has(k) && isNum(v) ? (v > 0 ? "good" : v < 0 ? "bad" : "") : "";
                return (
                  <td key={k} className={`right num ${tone}`}>
                    {fmtMetric(metrics, k, v)}
                  </td>
                );
              })}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
