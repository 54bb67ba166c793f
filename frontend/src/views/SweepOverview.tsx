// Sweep overview: is the best real (DSR with the trial count, PBO, CSCV), the best run, the
// objective's histogram and best-so-far, what matters (variance share per parameter), and the
// top-N table (sorted and filtered on the server; click a run to open it).

import { useMemo } from "react";
import { Link, useNavigate } from "react-router-dom";
import { useQueries } from "@tanstack/react-query";
import { api, unwrap, type SweepDetail } from "../api/client";
import { useDistribution, useMetricMap, useRuns } from "../api/hooks";
import { DataTable } from "../components/DataTable";
import { EChart, type EChartOption } from "../components/EChart";
import { ImportanceBars } from "../components/ImportanceBars";
import { FilterBar, useFilter } from "../components/FilterBar";
import { MetricSelect, OverfitStatements, ParamList, runColumns } from "../components/sweepParts";
import { Empty, ErrorBox, Panel, Segmented, Skeleton, SkeletonRows, Stat } from "../components/ui";
import { fmtInt, fmtNumber, fmtProb, shownTop } from "../lib/format";
import { varyingAxes, zipLeads } from "../lib/grid";
import { fmtMetric, HEADLINE, higherIsBetter, label } from "../lib/metrics";
import { etaSquared } from "../lib/stats";
import { bool, int, str, useUrlState } from "../lib/url";
import { usePalette, type Palette } from "../theme";

export function SweepOverview({ sweep }: { sweep: SweepDetail }) {
  const metrics = useMetricMap();
  const navigate = useNavigate();
  const [metric, setMetric] = useUrlState("metric", str, sweep.objective);
  const [filter] = useFilter();
  const higher = higherIsBetter(metrics, metric);
  const [sort, setSort] = useUrlState("sort", str, `${higher ? "-" : ""}${metric}`);
  const [n, setN] = useUrlState("n", int, 50);
  // one row per outcome (trade sequence), as the sweep's summary prints its top table
  const [distinct, setDistinct] = useUrlState("distinct", bool, true);
  const palette = usePalette();
  const dist = useDistribution(sweep.id, metric, filter);
  const runs = useRuns(sweep.id, { sort, filter, limit: n, distinct });
  const axes = varyingAxes(sweep.grid);
  const base = `/sweeps/${encodeURIComponent(sweep.id)}`;
  const kpis = useMemo(
    () => [metric, ...HEADLINE.filter((k) => k !== metric)].slice(0, 8),
    [metric],
  );
  const columns = useMemo(
    () =>
      runColumns(
        sweep,
        metrics,
        kpis,
        sweep.grid.map((a) => a.path),
        distinct,
      ),
    [sweep, metrics, kpis, distinct],
  );
  const best = sweep.best;
  const names = [...sweep.grid.map((a) => a.path), ...metrics.keys()];

  return (
    <div className="stack" data-testid="sweep-overview">
      <div className="stats">
        <Stat
          label={`Best ${label(metrics, sweep.objective)}`}
          value={fmtMetric(metrics, sweep.objective, best?.value)}
          sub={`best of ${fmtInt(sweep.n_trials)} trials`}
          testId="best-value"
        />
        <Stat
          label="Deflated Sharpe"
          value={fmtProb(sweep.deflated_sharpe)}
          sub={`deflated for ${fmtInt(sweep.n_trials)} trials`}
          tone={
            sweep.deflated_sharpe === null
              ? undefined
              : sweep.deflated_sharpe >= 0.95
                ? "good"
                : sweep.deflated_sharpe < 0.5
                  ? "bad"
                  : "warn"
          }
          help="probability that the best Sharpe is real after deflating for the number of trials"
        />
        <Stat
          label="PBO"
          value={fmtProb(sweep.pbo)}
          sub="probability of backtest overfitting"
          tone={
            sweep.pbo === null
              ? undefined
              : sweep.pbo > 0.5
                ? "bad"
                : sweep.pbo > 0.2
                  ? "warn"
                  : "good"
          }
        />
        <Stat
          label="CSCV out of sample"
          value={fmtNumber(sweep.statistics.cscv_oos_sharpe ?? null)}
          sub={`from ${fmtNumber(sweep.statistics.cscv_is_sharpe ?? null)} in sample`}
        />
        <Stat
          label="Runs"
          value={fmtInt(sweep.done)}
          sub={`of ${fmtInt(sweep.valid)} valid, ${fmtInt(sweep.failed)} failed`}
        />
      </div>

      <div className="grid grid-2">
        <Panel
          title="Is the best real?"
          help="deflated Sharpe (DSR), probabilistic Sharpe (PSR), probability of backtest overfitting (PBO) and combinatorially symmetric cross-validation (CSCV), computed on daily Sharpe ratios"
        >
          <OverfitStatements
            statistics={sweep.statistics}
            objective={sweep.objective}
            trials={sweep.n_trials}
          />
        </Panel>
        <Panel
          title="Best run"
          actions={
            best ? (
              <Link
                className="button primary"
                to={`${base}/runs/${best.param_hash}`}
                data-testid="open-best"
              >
                Open tear sheet
              </Link>
            ) : undefined
          }
        >
          {best ? (
            <>
              <p className="statement">
                {label(metrics, sweep.objective)}{" "}
                <b>{fmtMetric(metrics, sweep.objective, best.value)}</b>, run{" "}
                <code>{best.param_hash}</code>, combination {best.combo}
              </p>
              <ParamList params={best.params} />
            </>
          ) : (
            <Empty title="No result yet">The sweep has not written a run.</Empty>
          )}
        </Panel>
      </div>

      <FilterBar error={runs.error ?? dist.error} names={names} total={runs.data?.total} />

      <div className="grid grid-2">
        <Panel
          title={`${label(metrics, metric)}: distribution over the runs`}
          actions={
            <MetricSelect
              value={metric}
              onChange={setMetric}
              metrics={metrics}
              testId="overview-metric"
            />
          }
        >
          {dist.error ? (
            <ErrorBox error={dist.error} />
          ) : !dist.data ? (
            <Skeleton height={260} />
          ) : dist.data.runs < 2 ? (
            <Empty title="Insufficient data">
              A histogram needs at least two runs with a defined {label(metrics, metric)}.
            </Empty>
          ) : (
            <>
              <EChart
                name="histogram"
                height={260}
                option={histogramOption(
                  dist.data,
                  palette,
                  (v) => fmtMetric(metrics, metric, v),
                  best?.value ?? null,
                  metric === sweep.objective,
                )}
                data={{ runs: dist.data.runs }}
              />
              <div className="legend-note">
                {fmtInt(dist.data.runs)} runs, mean {fmtMetric(metrics, metric, dist.data.mean)},
                standard deviation {fmtMetric(metrics, metric, dist.data.std)}
                {dist.data.undefined
                  ? `; ${fmtInt(dist.data.undefined)} runs with no value (undefined) left out`
                  : ""}
                .
              </div>
            </>
          )}
        </Panel>
        <Panel
          title={`Best ${label(metrics, metric)} so far`}
          help="each point is a run that beat every run before it, in the order the grid's combinations are numbered (the order a sweep dispatches them)"
        >
          {!dist.data ? (
            <Skeleton height={260} />
          ) : dist.data.record_combos.length === 0 ? (
            <Empty title="Insufficient data">No run with a defined value yet.</Empty>
          ) : (
            <EChart
              name="best-so-far"
              height={260}
              option={recordsOption(
                dist.data.record_combos,
                dist.data.record_values,
                palette,
                (v) => fmtMetric(metrics, metric, v),
                sweep.valid,
              )}
            />
          )}
        </Panel>
      </div>

      <Importance
        sweep={sweep}
        metric={metric}
        filter={filter}
        std={dist.data?.std ?? null}
        mean={dist.data?.mean ?? null}
        runs={dist.data?.runs ?? 0}
        axes={axes.map((a) => a.path)}
      />

      <Panel
        title={`Top ${fmtInt(shownTop(n, runs.data?.total))} ${distinct ? "outcomes" : "runs"}`}
        help={
          distinct
            ? "one row per distinct outcome (trade sequence), the first of its runs in this order; Same: how many runs share it. Sorted on the server (click a column); tick runs to compare them"
            : "every run, sorted on the server (click a column); tick runs to compare them"
        }
        actions={
          <>
            <Segmented
              label="rows per outcome"
              value={distinct ? "outcomes" : "runs"}
              onChange={(v) => setDistinct(v === "outcomes")}
              options={[
                {
                  value: "outcomes",
                  label: "one per outcome",
                  title: "runs with the same trades shown once, as the deflated Sharpe counts them",
                },
                { value: "runs", label: "every run" },
              ]}
              testId="top-distinct"
            />
            <Segmented
              label="rows"
              value={String(n)}
              onChange={(v) => setN(Number(v))}
              options={["20", "50", "200", "1000"]}
            />
            <Link className="button" to={`${base}/compare`}>
              Compare ticked runs
            </Link>
          </>
        }
      >
        {runs.error ? (
          <ErrorBox error={runs.error} />
        ) : !runs.data ? (
          <SkeletonRows rows={8} />
        ) : runs.data.rows.length === 0 ? (
          <Empty title="No runs">
            {filter ? "No run passes the filter." : "The sweep has no results yet."}
          </Empty>
        ) : (
          <>
            <DataTable
              data={runs.data.rows}
              columns={columns}
              getRowId={(r) => r.param_hash}
              sort={sort}
              onSort={setSort}
              onRowClick={(r) => navigate(`${base}/runs/${r.param_hash}`)}
              height={520}
              testId="top-runs"
            />
            {runs.data.distinct ? (
              <div className="legend-note" data-testid="top-outcomes">
                {fmtInt(runs.data.total)} distinct outcomes among{" "}
                {filter ? "the runs that pass the filter" : `${fmtInt(sweep.done)} runs`}.
              </div>
            ) : null}
          </>
        )}
      </Panel>
    </div>
  );
}

function histogramOption(
  d: { edges: number[]; counts: number[] },
  p: Palette,
  fmt: (v: number) => string,
  best: number | null,
  markBest: boolean,
): EChartOption {
  const centres = d.counts.map((_, i) => ((d.edges[i] ?? 0) + (d.edges[i + 1] ?? 0)) / 2);
  const width = (d.edges[1] ?? 0) - (d.edges[0] ?? 0);
  const total = d.counts.reduce((a, b) => a + b, 0);
  let cum = 0;
  const edf = d.counts.map((c, i) => {
    cum += c;
    return [d.edges[i + 1], cum / total];
  });
  return {
    animation: false,
    grid: { left: 52, right: 48, top: 16, bottom: 36 },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: {
      type: "value",
      min: d.edges[0],
      max: d.edges[d.edges.length - 1],
      axisLabel: { color: p.muted, formatter: fmt },
      axisLine: { lineStyle: { color: p.axis } },
      splitLine: { show: false },
    },
    yAxis: [
      {
        type: "value",
        // at the left edge, not where x is 0
        axisLine: { onZero: false },
        axisLabel: { color: p.muted },
        splitLine: { lineStyle: { color: p.grid } },
      },
      {
        type: "value",
        max: 1,
        axisLine: { onZero: false },
        axisLabel: { color: p.muted, formatter: (v: number) => `${Math.round(v * 100)}%` },
        splitLine: { show: false },
      },
    ],
    series: [
      {
        type: "bar",
        name: "runs",
        data: centres.map((c, i) => [c, d.counts[i]]),
        barWidth: "96%",
        barCategoryGap: 0,
        itemStyle: { color: p.accent, opacity: 0.8 },
        markLine:
          markBest && best !== null
            ? {
                symbol: "none",
                label: { color: p.text, formatter: `best ${fmt(best)}` },
                lineStyle: { color: p.good, type: "dashed" },
                data: [{ xAxis: best }],
              }
            : undefined,
        tooltip: { valueFormatter: (v: unknown) => String(v) },
      },
      {
        type: "line",
        name: "share at or below (EDF)",
        yAxisIndex: 1,
        data: [[d.edges[0], 0], ...edf],
        showSymbol: false,
        step: "end",
        lineStyle: { color: p.series[1], width: 1.5 },
        itemStyle: { color: p.series[1] },
      },
    ],
    // keep bar widths honest: one bar per bin
    barMaxWidth: width > 0 ? undefined : 20,
  } as EChartOption;
}

function recordsOption(
  combos: number[],
  values: number[],
  p: Palette,
  fmt: (v: number) => string,
  valid: number,
): EChartOption {
  const data = combos.map((c, i) => [c, values[i]]);
  const last = values[values.length - 1];
  if (last !== undefined && combos.length)
    data.push([Math.max(valid - 1, combos[combos.length - 1]!), last]);
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 16, bottom: 36 },
    tooltip: {
      trigger: "axis",
      valueFormatter: (v: unknown) => (typeof v === "number" ? fmt(v) : String(v)),
    },
    xAxis: {
      type: "value",
      name: "combination",
      nameLocation: "middle",
      nameGap: 24,
      nameTextStyle: { color: p.muted },
      min: 0,
      axisLabel: { color: p.muted },
      splitLine: { show: false },
    },
    yAxis: {
      type: "value",
      scale: true,
      axisLabel: { color: p.muted, formatter: fmt },
      splitLine: { lineStyle: { color: p.grid } },
    },
    series: [
      {
        type: "line",
        step: "end",
        data,
        symbolSize: 5,
        lineStyle: { color: p.good, width: 2 },
        itemStyle: { color: p.good },
      },
    ],
  };
}

/** Share of the metric's variance each grid axis explains alone (one-way ANOVA eta squared),
 * from the slices (count and mean per value) and the distribution's standard deviation. */
function Importance({
  sweep,
  metric,
  filter,
  std,
  mean,
  runs,
  axes,
}: {
  sweep: SweepDetail;
  metric: string;
  filter: string;
  std: number | null;
  mean: number | null;
  runs: number;
  axes: string[];
}) {
  const metrics = useMetricMap();
  const zipped = useMemo(() => zipLeads(sweep.grid), [sweep.grid]);
  const slices = useQueries({
    queries: axes.map((path) => ({
      queryKey: ["sweep", sweep.id, "slices", path, metric, filter],
      queryFn: () =>
        unwrap(
          api.GET("/api/sweeps/{sweep_id}/slices", {
            params: {
              path: { sweep_id: sweep.id },
              query: { path, metric, filter: filter || undefined },
            },
          }),
        ),
    })),
  });
  const ready = slices.every((s) => s.data) && std !== null && mean !== null;
  const shares = ready
    ? axes
        .map((path, i) => {
          const rows = slices[i]!.data!.rows;
          const ss = (runs - 1) * (std ?? 0) ** 2;
          return {
            path,
            share: etaSquared(
              rows.map((r) => ({ n: r.count, mean: r.mean ?? NaN })),
              mean ?? 0,
              ss,
            ),
          };
        })
        .sort((a, b) => a.share - b.share)
    : [];
  return (
    <Panel
      title={`What moves ${label(metrics, metric)}`}
      help="share of the metric's variance across the runs that each parameter explains on its own (one-way ANOVA, eta squared, from the per-value means); interactions are not counted, so the shares need not sum to 100%"
    >
      {axes.length === 0 ? (
        <Empty title="No varying parameter">
          The grid has no parameter with two or more values.
        </Empty>
      ) : !ready ? (
        <Skeleton height={Math.max(120, axes.length * 30)} />
      ) : runs < 3 ? (
        <Empty title="Insufficient data">
          Too few runs with a defined {label(metrics, metric)}.
        </Empty>
      ) : (
        <ImportanceBars
          name="importance"
          height={Math.max(120, axes.length * 30 + 40)}
          data={{ axes: axes.length }}
          items={shares}
          zipped={zipped}
        />
      )}
    </Panel>
  );
}
