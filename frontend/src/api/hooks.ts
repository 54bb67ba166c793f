// Server state: one TanStack Query hook per route. Keys start with the entry they belong to
// (["sweep", id, ...]) so that a live event invalidates exactly what changed.

import { useMemo } from "react";
import {
  keepPreviousData,
  useQuery,
  useQueryClient,
  type QueryClient,
} from "@tanstack/react-query";
import { api, unwrap, type Aggregate, type MetricInfo } from "./client";
import type { RunRef } from "../lib/refs";
import { encodeRef } from "../lib/refs";

/** Days the tear sheet asks for: the API's maximum, so a chain of up to 10,000 days (the default
 * one has 5,031) comes at full daily resolution (the derived statistics need every day). */
export const FULL_POINTS = 10000;

export function useHealth() {
  return useQuery({ queryKey: ["health"], queryFn: () => unwrap(api.GET("/api/health")) });
}

export function useMetrics() {
  return useQuery({
    queryKey: ["metrics"],
    queryFn: () => unwrap(api.GET("/api/metrics")),
    staleTime: Infinity,
  });
}

/** The KPI registry by name (empty until it has loaded). */
export function useMetricMap(): Map<string, MetricInfo> {
  const q = useMetrics();
  return useMemo(() => new Map((q.data ?? []).map((m) => [m.name, m])), [q.data]);
}

export function useSweeps() {
  return useQuery({ queryKey: ["sweeps"], queryFn: () => unwrap(api.GET("/api/sweeps")) });
}
export function useStudies() {
  return useQuery({ queryKey: ["studies"], queryFn: () => unwrap(api.GET("/api/studies")) });
}
export function useBacktests() {
  return useQuery({ queryKey: ["backtests"], queryFn: () => unwrap(api.GET("/api/backtests")) });
}

function sweepQuery(id: string) {
  return {
    queryKey: ["sweep", id, "detail"],
    queryFn: () =>
      unwrap(api.GET("/api/sweeps/{sweep_id}", { params: { path: { sweep_id: id } } })),
  };
}
export function useSweep(id: string) {
  return useQuery({ ...sweepQuery(id), enabled: !!id });
}

export interface RunsQuery {
  sort?: string;
  filter?: string;
  limit: number;
  offset?: number;
  /** one run per distinct outcome (trade sequence), with `same` */
  distinct?: boolean;
}
export function useRuns(id: string, q: RunsQuery, enabled = true) {
  return useQuery({
    queryKey: ["sweep", id, "runs", q],
    queryFn: () =>
      unwrap(
        api.GET("/api/sweeps/{sweep_id}/runs", {
          params: {
            path: { sweep_id: id },
            query: {
              sort: q.sort || undefined,
              filter: q.filter || undefined,
              limit: q.limit,
              offset: q.offset ?? 0,
              distinct: q.distinct || undefined,
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
    enabled,
  });
}

/** Up to `n` runs (in pages of 1,000, the API's cap), for the landscape's scatter and
 * parallel coordinates. */
export function useRunSample(id: string, sort: string, filter: string, n: number) {
  return useQuery({
    queryKey: ["sweep", id, "sample", sort, filter, n],
    queryFn: async () => {
      const pages = [];
      for (let offset = 0; offset < n; offset += 1000) {
        const page = await unwrap(
          api.GET("/api/sweeps/{sweep_id}/runs", {
            params: {
              path: { sweep_id: id },
              query: {
                sort,
                filter: filter || undefined,
                limit: Math.min(1000, n - offset),
                offset,
              },
            },
          }),
        );
        pages.push(page);
        if (offset + page.rows.length >= page.total) break;
      }
      return { total: pages[0]?.total ?? 0, rows: pages.flatMap((p) => p.rows) };
    },
    placeholderData: keepPreviousData,
  });
}

export interface HeatmapQuery {
  x: string;
  y: string;
  metric: string;
  agg: Aggregate;
  where: string[];
  filter: string;
}
export function useHeatmap(id: string, q: HeatmapQuery, enabled = true) {
  return useQuery({
    queryKey: ["sweep", id, "heatmap", q],
    queryFn: () =>
      unwrap(
        api.GET("/api/sweeps/{sweep_id}/heatmap", {
          params: {
            path: { sweep_id: id },
            query: {
              x: q.x,
              y: q.y,
              metric: q.metric,
              agg: q.agg,
              where: q.where.length ? q.where : undefined,
              filter: q.filter || undefined,
            },
          },
        }),
      ),
    enabled: enabled && !!q.x && !!q.y && q.x !== q.y,
    placeholderData: keepPreviousData,
  });
}

export function useSlices(id: string, path: string, metric: string, filter: string) {
  return useQuery({
    queryKey: ["sweep", id, "slices", path, metric, filter],
    queryFn: () =>
      unwrap(
        api.GET("/api/sweeps/{sweep_id}/slices", {
          params: { path: { sweep_id: id }, query: { path, metric, filter: filter || undefined } },
        }),
      ),
    enabled: !!path,
  });
}

export function useDistribution(id: string, metric: string, filter: string, bins = 40) {
  return useQuery({
    queryKey: ["sweep", id, "distribution", metric, filter, bins],
    queryFn: () =>
      unwrap(
        api.GET("/api/sweeps/{sweep_id}/distribution", {
          params: { path: { sweep_id: id }, query: { metric, bins, filter: filter || undefined } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

export function useRobustness(id: string, metric: string, top = 10) {
  return useQuery({
    queryKey: ["sweep", id, "robustness", metric, top],
    queryFn: () =>
      unwrap(
        api.GET("/api/sweeps/{sweep_id}/robustness", {
          params: { path: { sweep_id: id }, query: { metric, top } },
        }),
      ),
  });
}

export function useStability(id: string) {
  return useQuery({
    queryKey: ["sweep", id, "stability"],
    queryFn: () =>
      unwrap(api.GET("/api/sweeps/{sweep_id}/stability", { params: { path: { sweep_id: id } } })),
  });
}

function studyQuery(id: string) {
  return {
    queryKey: ["study", id, "detail"],
    queryFn: () =>
      unwrap(api.GET("/api/studies/{study_id}", { params: { path: { study_id: id } } })),
  };
}
export function useStudy(id: string) {
  return useQuery({ ...studyQuery(id), enabled: !!id });
}

function backtestQuery(id: string) {
  return {
    queryKey: ["backtest", id, "detail"],
    queryFn: () =>
      unwrap(api.GET("/api/backtests/{backtest_id}", { params: { path: { backtest_id: id } } })),
  };
}
export function useBacktest(id: string) {
  return useQuery(backtestQuery(id));
}

/** What the tear sheet shows of any run, whatever its source. */
export interface RunInfo {
  ref: RunRef;
  title: string;
  subtitle: string;
  kpis: Record<string, number | null>;
  params: Record<string, unknown>;
  strategy: Record<string, unknown> | null;
  /** why `strategy` is null (a study that did not record its base strategy) */
  strategyNote: string | null;
  dataPath: string | null;
  fingerprint: string | null;
  firstDate: string | null;
  lastDate: string | null;
  skips: Record<string, number | null>;
  exitReasons: Record<string, number> | null;
  counters: Record<string, number | null>;
  equityAvailable: boolean;
  tradesAvailable: boolean;
  equitySource: string;
  /** why there is no equity curve (equityAvailable false) */
  equityNote: string | null;
  codeVersion: string | null;
  /** the KPIs cover this span (a trial's KPIs are in sample) */
  kpiSpan: string | null;
}

async function runInfo(client: QueryClient, ref: RunRef): Promise<RunInfo> {
  if (ref.kind === "run") {
    const [sweep, run] = await Promise.all([
      client.ensureQueryData(sweepQuery(ref.sweep)),
      unwrap(
        api.GET("/api/sweeps/{sweep_id}/runs/{param_hash}", {
          params: { path: { sweep_id: ref.sweep, param_hash: ref.hash } },
        }),
      ),
    ]);
    return {
      ref,
      title: `${sweep.name} · ${ref.hash.slice(0, 8)}`,
      subtitle: `combination ${run.combo} of sweep ${sweep.name} (${sweep.strategy})`,
      kpis: run.kpis,
      params: run.params,
      strategy: run.strategy,
      strategyNote: null,
      dataPath: sweep.data_path,
      fingerprint: sweep.data_fingerprint,
      firstDate: sweep.first_date,
      lastDate: sweep.last_date,
      skips: run.skips,
      exitReasons: null,
      counters: run.counters,
      equityAvailable: true,
      tradesAvailable: true,
      equitySource: run.equity_kept ? "kept by the sweep" : "recomputed on demand",
      equityNote: null,
      codeVersion: sweep.code_version,
      kpiSpan: null,
    };
  }
  if (ref.kind === "backtest") {
    const bt = await client.ensureQueryData(backtestQuery(ref.id));
    const s = bt.summary;
    return {
      ref,
      title: bt.name,
      subtitle: `backtest ${bt.path} (${bt.engine} engine)`,
      kpis: bt.kpis,
      params: {},
      strategy: s.strategy as unknown as Record<string, unknown>,
      strategyNote: null,
      dataPath: s.data?.path ?? null,
      fingerprint: bt.data_fingerprint,
      firstDate: bt.first_date,
      lastDate: bt.last_date,
      skips: (s.skips ?? {}) as Record<string, number | null>,
      exitReasons: (s.exit_reasons ?? null) as Record<string, number> | null,
      counters: {
        missing_quote_days: s.missing_quote_days ?? null,
        stale_fills: s.stale_fills ?? null,
      },
      equityAvailable: true,
      tradesAvailable: true,
      equitySource: "equity.parquet",
      equityNote: null,
      codeVersion: s.gridbt_version ?? null,
      kpiSpan: null,
    };
  }
  const [study, trial] = await Promise.all([
    client.ensureQueryData(studyQuery(ref.study)),
    unwrap(
      api.GET("/api/studies/{study_id}/trials/{number}", {
        params: { path: { study_id: ref.study, number: ref.number } },
      }),
    ),
  ]);
  const span = (study.summary.in_sample_span_dates as string[] | undefined) ?? null;
  return {
    ref,
    title: `${study.name} · trial #${trial.number}`,
    subtitle: `${trial.state.toLowerCase()} trial of study ${study.name} (${study.sampler ?? "?"} sampler)`,
    kpis: trial.kpis,
    params: trial.params,
    strategy: trial.strategy ?? null,
    strategyNote: trial.strategy_note ?? null,
    dataPath: trial.data ?? null,
    fingerprint: trial.data_fingerprint ?? null,
    // the chain's span: a trial's equity and trades cover the whole chain
    firstDate: study.first_date ?? null,
    lastDate: study.last_date ?? null,
    skips: {},
    exitReasons: null,
    counters: {},
    equityAvailable: trial.equity_kept || trial.recomputable,
    tradesAvailable: trial.recomputable,
    equitySource: trial.equity_kept
      ? "kept by the study (whole chain)"
      : trial.recomputable
        ? "backtested again on demand (whole chain)"
        : "not kept",
    equityNote:
      trial.state === "FAIL"
        ? `Trial #${trial.number} failed (${trial.error ?? "no reason recorded"}): it made no backtest.`
        : `A study keeps the daily equity of its best trials only (keep_equity), and this one cannot be backtested again: ${trial.strategy_note ?? "its strategy is not known"}`,
    codeVersion: trial.code_version ?? null,
    kpiSpan: span ? `in sample, ${span[0]} to ${span[1]}` : "in sample",
  };
}

/** The query of a run's RunInfo (shared by the tear sheet and Compare). */
export function infoQuery(client: QueryClient, ref: RunRef) {
  return { queryKey: ["info", encodeRef(ref)], queryFn: () => runInfo(client, ref) };
}

export function useRunInfo(ref: RunRef) {
  const client = useQueryClient();
  return useQuery(infoQuery(client, ref));
}

/** The query of a run's equity, downsampled to `points` days (shared by every view). */
export function equityQuery(ref: RunRef, points = FULL_POINTS, regimes = false) {
  return {
    queryKey: ["equity", encodeRef(ref), points, regimes],
    staleTime: Infinity,
    queryFn: () => {
      switch (ref.kind) {
        case "run":
          return unwrap(
            api.GET("/api/sweeps/{sweep_id}/runs/{param_hash}/equity", {
              params: {
                path: { sweep_id: ref.sweep, param_hash: ref.hash },
                query: { points, regimes },
              },
            }),
          );
        case "backtest":
          return unwrap(
            api.GET("/api/backtests/{backtest_id}/equity", {
              params: { path: { backtest_id: ref.id }, query: { points, regimes } },
            }),
          );
        case "trial":
          return unwrap(
            api.GET("/api/studies/{study_id}/trials/{number}/equity", {
              params: {
                path: { study_id: ref.study, number: ref.number },
                query: { points, regimes },
              },
            }),
          );
      }
    },
  };
}

export function useEquity(ref: RunRef, points = FULL_POINTS, enabled = true, regimes = false) {
  return useQuery({ ...equityQuery(ref, points, regimes), enabled });
}

export function useTrades(ref: RunRef, enabled = true) {
  return useQuery({
    queryKey: ["trades", encodeRef(ref)],
    queryFn: () => {
      if (ref.kind === "run")
        return unwrap(
          api.GET("/api/sweeps/{sweep_id}/runs/{param_hash}/trades", {
            params: { path: { sweep_id: ref.sweep, param_hash: ref.hash } },
          }),
        );
      if (ref.kind === "backtest")
        return unwrap(
          api.GET("/api/backtests/{backtest_id}/trades", {
            params: { path: { backtest_id: ref.id } },
          }),
        );
      return unwrap(
        api.GET("/api/studies/{study_id}/trials/{number}/trades", {
          params: { path: { study_id: ref.study, number: ref.number } },
        }),
      );
    },
    staleTime: Infinity,
    enabled,
  });
}

/** A finished study's best trials in sample backtested again after its in-sample span, and
 *  the rank correlation between the two (`metric`: the first objective by default). */
export function useStudyAfter(id: string, metric: string | undefined, enabled = true) {
  return useQuery({
    queryKey: ["study", id, "after", metric],
    queryFn: () =>
      unwrap(
        api.GET("/api/studies/{study_id}/after", {
          params: { path: { study_id: id }, query: { metric, top: 500 } },
        }),
      ),
    staleTime: Infinity,
    retry: false,
    enabled,
  });
}

/** The query of a trial's KPIs in its study's in-sample span, after it and over the whole
 *  chain (the last two from the trial backtested again; shared by the tear sheet and
 *  Compare). */
export function spansQuery(ref: RunRef) {
  return {
    queryKey: ["spans", encodeRef(ref)],
    queryFn: () => {
      if (ref.kind !== "trial") throw new Error("spans are a trial's");
      return unwrap(
        api.GET("/api/studies/{study_id}/trials/{number}/spans", {
          params: { path: { study_id: ref.study, number: ref.number } },
        }),
      );
    },
    staleTime: Infinity,
    retry: false,
  };
}

/** A trial's spans (`spansQuery`); only for a trial that can be backtested. */
export function useTrialSpans(ref: RunRef, enabled = true) {
  return useQuery({ ...spansQuery(ref), enabled: enabled && ref.kind === "trial" });
}

export function usePayoff(ref: RunRef, trade: number) {
  return useQuery({
    queryKey: ["payoff", encodeRef(ref), trade],
    queryFn: () => {
      if (ref.kind === "run")
        return unwrap(
          api.GET("/api/sweeps/{sweep_id}/runs/{param_hash}/trades/{number}/payoff", {
            params: {
              path: { sweep_id: ref.sweep, param_hash: ref.hash, number: trade },
              query: { points: 301 },
            },
          }),
        );
      if (ref.kind === "backtest")
        return unwrap(
          api.GET("/api/payoff", { params: { query: { backtest: ref.id, trade, points: 301 } } }),
        );
      return unwrap(
        api.GET("/api/studies/{study_id}/trials/{number}/trades/{trade}/payoff", {
          params: {
            path: { study_id: ref.study, number: ref.number, trade },
            query: { points: 301 },
          },
        }),
      );
    },
    staleTime: Infinity,
  });
}
