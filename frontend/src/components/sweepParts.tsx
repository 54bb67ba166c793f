// Pieces several sweep and study views share: the overfitting statements, run table columns,
// the metric picker, parameter lists.

import type { ReactNode } from "react";
import type { ColumnDef } from "@tanstack/react-table";
import type { MetricInfo, RunRow, SweepDetail } from "../api/client";
import { fmtInt, fmtNumber, fmtParam, fmtPct, fmtProb, shortPath } from "../lib/format";
import { fmtMetric, label, metricHelp } from "../lib/metrics";
import { useStore } from "../store";

/** DSR, PSR, PBO and the CSCV degradation, in sentences. */
export function OverfitStatements({
  statistics,
  objective,
  trials,
}: {
  statistics: Record<string, number | null | undefined>;
  objective: string;
  trials: number | null;
}) {
  const s = statistics;
  const n = s.n_trials ?? trials;
  const lines: ReactNode[] = [];
  if (s.deflated_sharpe !== undefined && s.deflated_sharpe !== null) {
    lines.push(
      <li key="dsr" data-testid="dsr">
        <b>Deflated Sharpe {fmtProb(s.deflated_sharpe)}</b>: the best daily Sharpe (
        {fmtNumber(s.best_sharpe ?? null)}) against {fmtNumber(s.expected_max_sharpe ?? null)}, the
        best that <b>{fmtInt(n)} trials</b> would find by luck alone. It is the probability that the
        edge is real after paying for the search
        {s.deflated_sharpe >= 0.95
          ? " — it is."
          : s.deflated_sharpe >= 0.5
            ? " — uncertain."
            : " — it is probably luck."}
      </li>,
    );
  }
  if (s.psr !== undefined && s.psr !== null) {
    lines.push(
      <li key="psr">
        <b>Probabilistic Sharpe {fmtProb(s.psr)}</b>: the probability that the best run's Sharpe is
        above 0, given its length, skew and kurtosis (one run, no deflation).
      </li>,
    );
  }
  if (s.pbo !== undefined && s.pbo !== null) {
    lines.push(
      <li key="pbo" data-testid="pbo">
        <b>PBO {fmtProb(s.pbo)}</b>: in {fmtPct(s.pbo, 0)} of {fmtInt(s.pbo_splits ?? null)}{" "}
        combinatorial splits of the data ({fmtInt(s.pbo_blocks ?? null)} blocks), the best run in
        sample ranked below the median out of sample.{" "}
        {s.pbo > 0.5
          ? "The selection is more likely overfit than not."
          : s.pbo > 0.2
            ? "Some overfitting."
            : "Little sign of overfitting."}
      </li>,
    );
  }
  if (s.cscv_is_sharpe !== undefined && s.cscv_is_sharpe !== null) {
    lines.push(
      <li key="cscv" data-testid="cscv">
        <b>Out of sample (CSCV)</b>: the in-sample best's Sharpe falls from{" "}
        {fmtNumber(s.cscv_is_sharpe)} to {fmtNumber(s.cscv_oos_sharpe ?? null)} (degradation{" "}
        {fmtNumber(s.oos_degradation ?? null)}); it loses money out of sample in{" "}
        {fmtPct(s.pbo_prob_oos_loss ?? null, 0)} of splits.
      </li>,
    );
  }
  if (!lines.length)
    return (
      <p className="muted" data-testid="no-statistics">
        No overfitting statistics for this {objective ? `${objective} ` : ""}search yet: they are
        computed when it ends (and need runs with daily returns over enough blocks).
      </p>
    );
  return <ul className="plain">{lines}</ul>;
}

export function ParamList({
  params,
  paths,
}: {
  params: Record<string, unknown>;
  paths?: string[];
}) {
  const keys = paths ?? Object.keys(params);
  return (
    <dl className="kv">
      {keys.map((k) => (
        <Frag key={k} k={k} v={params[k]} />
      ))}
    </dl>
  );
}

function Frag({ k, v }: { k: string; v: unknown }) {
  return (
    <>
      <dt title={k}>{shortPath(k)}</dt>
      <dd>{fmtParam(v)}</dd>
    </>
  );
}

/** Columns of a run table: compare tick, params, chosen KPIs; with `same`, how many runs
 * share each row's trades (a page of distinct outcomes). Sorting ids are the API's names, so a
 * header click can sort on the server. */
export function runColumns(
  sweep: SweepDetail,
  metrics: Map<string, MetricInfo>,
  kpis: string[],
  paths: string[],
  same = false,
): ColumnDef<RunRow, unknown>[] {
  return [
    {
      id: "compare",
      header: () => <span title="pick runs to compare">⇄</span>,
      enableSorting: false,
      cell: ({ row }) => <BasketBox sweep={sweep.id} hash={row.original.param_hash} />,
    },
    {
      id: "param_hash",
      header: "Run",
      accessorFn: (r) => r.param_hash,
      enableSorting: false,
      cell: ({ getValue }) => <code>{(getValue() as string).slice(0, 8)}</code>,
    },
    ...(same
      ? [
          {
            id: "same",
            header: "Same",
            accessorFn: (r: RunRow) => r.same ?? null,
            enableSorting: false,
            meta: {
              align: "right",
              title:
                "runs with exactly these trades (the same outcome), this one shown for all: the deflated Sharpe counts them once",
            },
            cell: ({ getValue }) => fmtInt(getValue() as number | null),
          } satisfies ColumnDef<RunRow, unknown>,
        ]
      : []),
    ...paths.map<ColumnDef<RunRow, unknown>>((p) => ({
      id: p,
      header: shortPath(p),
      accessorFn: (r) => r.params[p] as number | string | null,
      meta: { align: "right", title: p },
      cell: ({ getValue }) => fmtParam(getValue()),
    })),
    ...kpis.map<ColumnDef<RunRow, unknown>>((k) => ({
      id: k,
      header: label(metrics, k),
      accessorFn: (r) => r.kpis[k] ?? null,
      meta: { align: "right", title: metricHelp(metrics, k) },
      cell: ({ getValue }) => fmtMetric(metrics, k, getValue() as number | null),
    })),
  ];
}

export function BasketBox({ sweep, hash }: { sweep: string; hash: string }) {
  const inBasket = useStore((s) => (s.basket[sweep] ?? []).includes(hash));
  const toggle = useStore((s) => s.toggleBasket);
  return (
    <input
      type="checkbox"
      checked={inBasket}
      aria-label={`compare ${hash}`}
      onClick={(e) => e.stopPropagation()}
      onChange={() => toggle(sweep, hash)}
    />
  );
}

export function MetricSelect({
  value,
  onChange,
  metrics,
  label: text = "Metric",
  testId,
}: {
  value: string;
  onChange: (v: string) => void;
  metrics: Map<string, MetricInfo>;
  label?: string;
  testId?: string;
}) {
  return (
    <label className="field" title={metricHelp(metrics, value)}>
      <span>{text}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
        {[...metrics.values()].map((m) => (
          <option key={m.name} value={m.name}>
            {m.label}
          </option>
        ))}
      </select>
    </label>
  );
}
