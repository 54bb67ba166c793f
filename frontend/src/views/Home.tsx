// Home: every sweep, study and backtest under the root in one searchable, sortable list, with
// the live status and progress of running sweeps.

import { useMemo } from "react";
import { Link, useNavigate } from "react-router-dom";
import type { ColumnDef } from "@tanstack/react-table";
import { useBacktests, useMetricMap, useStudies, useSweeps } from "../api/hooks";
import type { BacktestItem, StudyItem, SweepItem } from "../api/client";
import { DataTable } from "../components/DataTable";
import {
  Empty,
  ErrorBox,
  Panel,
  Progress,
  Segmented,
  SkeletonRows,
  StatusBadge,
} from "../components/ui";
import { fmtDuration, fmtInt, fmtNumber, fmtParam, fmtProb, fmtTime, plural } from "../lib/format";
import { label as metricLabel, fmtMetric } from "../lib/metrics";
import { matchesSearch, sortBy } from "../lib/table";
import { list, oneOf, str, useUrlState } from "../lib/url";
import { encodeRef } from "../lib/refs";
import { throughput, useStore } from "../store";

type Kind = "sweep" | "study" | "backtest";

export interface Entry {
  kind: Kind;
  id: string;
  name: string;
  path: string;
  strategy: string;
  status: string;
  done: number | null;
  total: number | null;
  failed: number | null;
  metric: string;
  best: number | null;
  bestParams: Record<string, unknown> | null;
  trials: number | null;
  dsr: number | null;
  pbo: number | null;
  period: string;
  updated: string;
  seconds: number | null;
  search: string;
}

const enc = encodeURIComponent;
export function entryPath(e: { kind: Kind; id: string }): string {
  return e.kind === "sweep"
    ? `/sweeps/${enc(e.id)}`
    : e.kind === "study"
      ? `/studies/${enc(e.id)}`
      : `/backtests/${enc(e.id)}`;
}

function sweepEntry(s: SweepItem): Entry {
  return {
    kind: "sweep",
    id: s.id,
    name: s.name,
    path: s.path,
    strategy: s.strategy,
    status: s.status,
    done: s.done,
    total: s.valid,
    failed: s.failed,
    metric: s.objective,
    best: s.best?.value ?? null,
    bestParams: s.best?.params ?? null,
    trials: s.n_trials,
    dsr: s.deflated_sharpe,
    pbo: s.pbo,
    period: s.first_date && s.last_date ? `${s.first_date} – ${s.last_date}` : "",
    updated: s.finished || s.started,
    seconds: s.seconds,
    search: `${s.name} ${s.description} ${s.strategy} ${s.path} ${s.status}`,
  };
}

function studyEntry(s: StudyItem): Entry {
  const objective = s.objectives[0] as { kpi?: string } | undefined;
  const best = s.best as { values?: (number | null)[]; params?: Record<string, unknown> } | null;
  const trials = Object.values(s.trials).reduce((a, b) => a + b, 0);
  return {
    kind: "study",
    id: s.id,
    name: s.name,
    path: s.path,
    strategy: `${s.sampler ?? "?"} sampler, ${s.objectives.length} objective${s.objectives.length > 1 ? "s" : ""}`,
    status: "done",
    done: s.trials.complete ?? null,
    total: trials,
    failed: s.trials.fail ?? null,
    metric: objective?.kpi ?? "",
    best: best?.values?.[0] ?? null,
    bestParams: best?.params ?? null,
    trials: s.n_trials ?? null,
    dsr: s.deflated_sharpe,
    pbo: s.pbo,
    period: s.first_date && s.last_date ? `${s.first_date} – ${s.last_date}` : "",
    updated: s.updated,
    seconds: null,
    search: `${s.name} ${s.path} ${s.sampler} study`,
  };
}

function backtestEntry(b: BacktestItem): Entry {
  return {
    kind: "backtest",
    id: b.id,
    name: b.name,
    path: b.path,
    strategy: `${b.engine} engine, ${fmtInt(b.trades)} trades`,
    status: "done",
    done: null,
    total: null,
    failed: null,
    metric: "sharpe",
    best: b.kpis.sharpe ?? null,
    bestParams: null,
    trials: 1,
    dsr: null,
    pbo: null,
    period: `${b.first_date} – ${b.last_date}`,
    updated: b.updated,
    seconds: null,
    search: `${b.name} ${b.path} backtest`,
  };
}

type SortKey = "updated" | "name" | "kind" | "best" | "trials" | "dsr" | "pbo";

export function Home() {
  const sweeps = useSweeps();
  const studies = useStudies();
  const backtests = useBacktests();
  const metrics = useMetricMap();
  const live = useStore((s) => s.live);
  const navigate = useNavigate();
  const [q, setQ] = useUrlState("q", str, "");
  const [kind, setKind] = useUrlState(
    "kind",
    oneOf(["all", "sweep", "study", "backtest"] as const),
    "all",
  );
  const [sort, setSort] = useUrlState("sort", str, "-updated");
  const [picked, setPicked] = useUrlState("pick", list, []);

  const entries = useMemo(() => {
    const all = [
      ...(sweeps.data ?? []).map(sweepEntry),
      ...(studies.data ?? []).map(studyEntry),
      ...(backtests.data ?? []).map(backtestEntry),
    ].map((e) => {
      const l = live[`${e.kind}:${e.id}`];
      if (l && e.kind === "sweep")
        return {
          ...e,
          status: l.status ?? e.status,
          done: l.done ?? e.done,
          failed: l.failed ?? e.failed,
        };
      return e;
    });
    const shown = all.filter(
      (e) => (kind === "all" || e.kind === kind) && matchesSearch([e.search], q),
    );
    const key = sort.replace(/^-/, "") as SortKey;
    return sortBy(
      shown,
      (e) => (key === "updated" ? e.updated : (e[key] as number | string | null)),
      sort.startsWith("-"),
    );
  }, [sweeps.data, studies.data, backtests.data, live, kind, q, sort]);

  const columns = useMemo<ColumnDef<Entry, unknown>[]>(
    () => [
      {
        id: "pick",
        header: "",
        enableSorting: false,
        cell: ({ row }) =>
          row.original.kind === "backtest" ? (
            <input
              type="checkbox"
              aria-label={`compare ${row.original.name}`}
              checked={picked.includes(encodeRef({ kind: "backtest", id: row.original.id }))}
              onClick={(e) => e.stopPropagation()}
              onChange={() => {
                const r = encodeRef({ kind: "backtest", id: row.original.id });
                setPicked(picked.includes(r) ? picked.filter((p) => p !== r) : [...picked, r]);
              }}
            />
          ) : null,
      },
      {
        id: "kind",
        header: "Kind",
        accessorKey: "kind",
        cell: ({ getValue }) => (
          <span className={`kind kind-${getValue() as string}`}>{getValue() as string}</span>
        ),
      },
      {
        id: "name",
        header: "Name",
        accessorKey: "name",
        cell: ({ row }) => (
          <div>
            <Link
              to={entryPath(row.original)}
              onClick={(e) => e.stopPropagation()}
              className="strong"
            >
              {row.original.name}
            </Link>
            <div className="muted small">{row.original.path}</div>
          </div>
        ),
      },
      { id: "strategy", header: "Strategy", accessorKey: "strategy", enableSorting: false },
      {
        id: "status",
        header: "Status",
        accessorKey: "status",
        enableSorting: false,
        cell: ({ row }) => {
          const e = row.original;
          const rate = throughput(live[`${e.kind}:${e.id}`]);
          return (
            <div className="status-cell">
              <StatusBadge status={e.status} />
              {e.total !== null && e.done !== null && e.kind === "sweep" && (
                <>
                  <Progress done={e.done} total={e.total} failed={e.failed ?? 0} />
                  <span className="muted small num">
                    {fmtInt(e.done)}/{fmtInt(e.total)}
                    {e.failed ? `, ${fmtInt(e.failed)} failed` : ""}
                    {rate && e.status === "running" ? `, ${fmtNumber(rate, 0)}/s` : ""}
                  </span>
                </>
              )}
              {e.kind === "study" && (
                <span className="muted small num">
                  {fmtInt(e.done)} complete of {fmtInt(e.total)}
                </span>
              )}
            </div>
          );
        },
      },
      {
        id: "best",
        header: "Best",
        accessorKey: "best",
        meta: { align: "right", title: "the best objective value (for a backtest: its Sharpe)" },
        cell: ({ row }) => {
          const e = row.original;
          if (e.best === null) return "–";
          return (
            <span
              title={
                e.bestParams
                  ? Object.entries(e.bestParams)
                      .map(([k, v]) => `${k} = ${fmtParam(v)}`)
                      .join("\n")
                  : undefined
              }
            >
              <span className="muted small">{metricLabel(metrics, e.metric)} </span>
              {fmtMetric(metrics, e.metric, e.best)}
            </span>
          );
        },
      },
      {
        id: "trials",
        header: "Trials",
        accessorKey: "trials",
        meta: {
          align: "right",
          title:
            "distinct outcomes (trade sequences) tried: the best score is deflated by this count",
        },
        cell: ({ getValue }) => fmtInt(getValue() as number | null),
      },
      {
        id: "dsr",
        header: "DSR",
        accessorKey: "dsr",
        meta: {
          align: "right",
          title:
            "deflated Sharpe ratio: the probability that the best Sharpe beats what this many trials find by luck",
        },
        cell: ({ getValue }) => fmtProb(getValue() as number | null),
      },
      {
        id: "pbo",
        header: "PBO",
        accessorKey: "pbo",
        meta: {
          align: "right",
          title:
            "probability of backtest overfitting (CSCV): how often the in-sample best ranks below the median out of sample",
        },
        cell: ({ getValue }) => {
          const v = getValue() as number | null;
          return <span className={v !== null && v > 0.5 ? "bad" : undefined}>{fmtProb(v)}</span>;
        },
      },
      {
        id: "period",
        header: "Data",
        accessorKey: "period",
        enableSorting: false,
        cell: ({ getValue }) => <span className="small num">{getValue() as string}</span>,
      },
      {
        id: "updated",
        header: "Updated",
        accessorKey: "updated",
        cell: ({ row }) => (
          <span
            className="small num"
            title={
              row.original.seconds !== null
                ? `ran for ${fmtDuration(row.original.seconds)}`
                : undefined
            }
          >
            {fmtTime(row.original.updated)}
          </span>
        ),
      },
    ],
    [live, metrics, picked, setPicked],
  );

  const loading = sweeps.isLoading || studies.isLoading || backtests.isLoading;
  const error = sweeps.error ?? studies.error ?? backtests.error;
  const counts = {
    sweep: sweeps.data?.length ?? 0,
    study: studies.data?.length ?? 0,
    backtest: backtests.data?.length ?? 0,
  };

  return (
    <div className="page" data-testid="home">
      <div className="page-head">
        <h1>Results</h1>
        <p className="muted">
          {plural(counts.sweep, "sweep", "sweeps")}, {plural(counts.study, "study", "studies")},{" "}
          {plural(counts.backtest, "backtest", "backtests")}
        </p>
      </div>
      <Panel
        actions={
          <>
            <input
              className="search"
              type="search"
              placeholder="Search name, strategy, path…"
              value={q}
              onChange={(e) => setQ(e.target.value)}
              aria-label="search"
              data-testid="search"
            />
            <Segmented
              label="kind"
              value={kind}
              onChange={setKind}
              options={[
                { value: "all", label: "All" },
                { value: "sweep", label: "Sweeps" },
                { value: "study", label: "Studies" },
                { value: "backtest", label: "Backtests" },
              ]}
            />
            {picked.length >= 2 && (
              <Link
                className="button"
                to={`/compare?runs=${picked.join(",")}`}
                data-testid="compare-picked"
              >
                Compare {picked.length} backtests
              </Link>
            )}
          </>
        }
      >
        {error ? (
          <ErrorBox error={error} />
        ) : loading ? (
          <SkeletonRows rows={5} />
        ) : entries.length === 0 ? (
          counts.sweep + counts.study + counts.backtest === 0 ? (
            <Empty title="Nothing here yet">
              No sweep, study or backtest under this root. Run <code>gridbt demo</code>,{" "}
              <code>gridbt sweep FILE</code> or <code>gridbt backtest --out DIR</code>, then point{" "}
              <code>gridbt serve --root</code> at their directory; new results appear here as they
              are written.
            </Empty>
          ) : (
            <Empty title="No match">Nothing matches “{q}”.</Empty>
          )
        ) : (
          <DataTable
            data={entries}
            columns={columns}
            getRowId={(e) => `${e.kind}:${e.id}`}
            onRowClick={(e) => navigate(entryPath(e))}
            sort={sort}
            onSort={(k) => setSort(k === "-name" ? "name" : k === "name" ? "-name" : k)}
            height={640}
            rowHeight={48}
            testId="entries"
          />
        )}
      </Panel>
      {picked.length === 1 && <p className="muted small">Pick another backtest to compare them.</p>}
    </div>
  );
}
