// The parameter landscape of a sweep: a 2-parameter heatmap of any KPI (aggregate of the other
// parameters, or pinned values), slices per parameter, parallel coordinates with brushing linked
// to the scatter and the table, and a KPI-vs-KPI scatter with its Pareto front. Every choice is
// in the URL; clicking a cell, a point or a row opens that run.

import { useCallback, useMemo } from "react";
import { useNavigate } from "react-router-dom";
import { useQueries } from "@tanstack/react-query";
import {
  api,
  unwrap,
  type Aggregate,
  type RunRow,
  type Slices,
  type SweepDetail,
} from "../api/client";
import { useHeatmap, useMetricMap, useRunSample } from "../api/hooks";
import { DataTable } from "../components/DataTable";
import { EChart, type ECharts, type EChartOption } from "../components/EChart";
import { FilterBar, useFilter } from "../components/FilterBar";
import { colourScale, heatmapOption, type HeatCell } from "../components/heatmap";
import { MetricSelect, runColumns } from "../components/sweepParts";
import { Empty, ErrorBox, Panel, Segmented, Select, Skeleton } from "../components/ui";
import { fmtInt, fmtParam, shortPath } from "../lib/format";
import { groupAxisLabel, varyingAxes, type AxisGroup } from "../lib/grid";
import { fmtMetric, higherIsBetter, label, SIGNED } from "../lib/metrics";
import { paretoFront } from "../lib/stats";
import {
  brush as brushCodec,
  int,
  oneOf,
  readParam,
  str,
  useSetParams,
  useUrlState,
  type Brush,
  type Codec,
} from "../lib/url";
import { usePalette, type Palette } from "../theme";

const AGGS = ["max", "median", "mean", "min", "count"] as const;

/** Pins of other paths, "path:value" joined by "|". */
export const pinsCodec: Codec<string[]> = {
  parse: (raw) => (raw ? raw.split("|").filter((p) => p.includes(":")) : []),
  format: (v) => v.join("|"),
};

/** The heatmap's shared choices (the robustness view reads the same ones). */
export function useHeatmapChoices(sweep: SweepDetail) {
  const axes = varyingAxes(sweep.grid);
  const [metric, setMetric] = useUrlState("metric", str, sweep.objective);
  const [agg, setAgg] = useUrlState<Aggregate>("agg", oneOf(AGGS), "max");
  const [xDefault, yDefault] = [axes[0]?.path ?? "", axes[1]?.path ?? ""];
  const [x] = useUrlState("x", str, xDefault);
  const [y] = useUrlState("y", str, yDefault);
  /** The axes as the URL holds them now (a change may follow another before a render); they
   * are set together (`HeatmapControls`), so that choosing one axis's path swaps them. */
  const axesIn = (search: URLSearchParams): [string, string] => [
    readParam(search, "x", str, xDefault),
    readParam(search, "y", str, yDefault),
  ];
  const [where, setWhere] = useUrlState("where", pinsCodec, []);
  const [filter] = useFilter();
  // a pin on a heatmap axis makes no sense: drop it
  const pins = where.filter((w) => {
    const p = w.slice(0, w.indexOf(":"));
    return p !== x && p !== y;
  });
  return {
    axes,
    axesIn,
    metric,
    setMetric,
    agg,
    setAgg,
    x,
    y,
    where: pins,
    setWhere,
    filter,
  };
}

export function HeatmapControls({ choices }: { choices: ReturnType<typeof useHeatmapChoices> }) {
  const metrics = useMetricMap();
  const set = useSetParams();
  const { axes, axesIn, metric, setMetric, agg, setAgg, x, y, where, setWhere } = choices;
  const options = axes.map((a) => ({ value: a.path, label: groupLabel(a) }));
  const pinOf = (path: string) =>
    where.find((w) => w.startsWith(`${path}:`))?.slice(path.length + 1) ?? "";
  return (
    <div className="controls" data-testid="heatmap-controls">
      <Select
        label="X axis"
        value={x}
        options={options}
        testId="axis-x"
        onChange={(v) =>
          set((now) => {
            const [cx, cy] = axesIn(now); // choosing the other axis's path swaps them
            return { x: v, y: v === cy ? cx : cy };
          })
        }
      />
      <Select
        label="Y axis"
        value={y}
        options={options}
        testId="axis-y"
        onChange={(v) =>
          set((now) => {
            const [cx, cy] = axesIn(now);
            return { y: v, x: v === cx ? cy : cx };
          })
        }
      />
      <MetricSelect value={metric} onChange={setMetric} metrics={metrics} testId="heatmap-metric" />
      <label className="field">
        <span title="how the runs of a cell (every value of the other parameters) are reduced">
          Other parameters
        </span>
        <Segmented label="aggregate" value={agg} onChange={setAgg} options={AGGS} testId="agg" />
      </label>
      {axes
        .filter((a) => a.path !== x && a.path !== y)
        .map((a) => (
          <Select
            key={a.path}
            label={groupAxisLabel(a)}
            title={`${a.members.join(", ")}: pin a value, or reduce over all of them by the aggregate`}
            value={pinOf(a.path)}
            testId={`pin-${a.path}`}
            options={[
              { value: "", label: `all (${agg})` },
              ...a.values.map((v) => ({ value: fmtParam(v), label: fmtParam(v) })),
            ]}
            onChange={(v) =>
              setWhere([
                ...where.filter((w) => !w.startsWith(`${a.path}:`)),
                ...(v ? [`${a.path}:${v}`] : []),
              ])
            }
          />
        ))}
    </div>
  );
}

export function groupLabel(a: AxisGroup): string {
  return a.members.length > 1
    ? `${a.path} (with ${a.members.slice(1).map(shortPath).join(", ")})`
    : a.path;
}

export default function Landscape({ sweep }: { sweep: SweepDetail }) {
  const metrics = useMetricMap();
  const navigate = useNavigate();
  const palette = usePalette();
  const choices = useHeatmapChoices(sweep);
  const { axes, metric, agg, x, y, where, filter } = choices;
  const heat = useHeatmap(sweep.id, { x, y, metric, agg, where, filter }, axes.length >= 2);
  const base = `/sweeps/${encodeURIComponent(sweep.id)}`;
  const open = useCallback((hash: string) => navigate(`${base}/runs/${hash}`), [navigate, base]);
  const names = [...sweep.grid.map((a) => a.path), ...metrics.keys()];

  const option = useMemo(() => {
    const hm = heat.data;
    if (!hm) return null;
    const cells: HeatCell[] = [];
    hm.values.forEach((row, i) =>
      row.forEach((v, j) =>
        cells.push({
          x: j,
          y: i,
          value: v,
          extra: { count: hm.counts[i]?.[j] ?? 0, best: hm.best[i]?.[j] ?? null },
        }),
      ),
    );
    const unitMetric = agg === "count" ? "trade_count" : metric;
    const fmt = (v: number) => (agg === "count" ? fmtInt(v) : fmtMetric(metrics, unitMetric, v));
    const scale = colourScale(
      cells.map((c) => c.value),
      palette,
      {
        signed: agg !== "count" && SIGNED.has(metric),
        higherIsBetter: agg === "count" ? true : hm.higher_is_better,
      },
    );
    return heatmapOption({
      xLabels: hm.x_values.map(fmtParam),
      yLabels: hm.y_values.map(fmtParam),
      cells,
      palette,
      scale,
      format: fmt,
      xName: shortPath(hm.x),
      yName: shortPath(hm.y),
      tooltip: (c) =>
        `${shortPath(hm.x)} = <b>${fmtParam(hm.x_values[c.x])}</b><br>${shortPath(hm.y)} = <b>${fmtParam(hm.y_values[c.y])}</b><br>` +
        (c.value === null
          ? `not evaluated${(c.extra?.count as number) ? " (no defined value)" : ""}`
          : `${agg} ${label(metrics, metric)}: <b>${fmt(c.value)}</b><br>${fmtInt(c.extra?.count as number)} runs; click to open the best (${String(c.extra?.best).slice(0, 8)})`),
    });
  }, [heat.data, palette, metrics, metric, agg]);

  const cellCount = heat.data ? heat.data.x_values.length * heat.data.y_values.length : 0;
  const defined = heat.data ? heat.data.values.flat().filter((v) => v !== null).length : 0;

  if (axes.length < 2)
    return (
      <Empty title="No landscape">
        This sweep varies {axes.length === 0 ? "no parameter" : `only ${axes[0]!.path}`}: a heatmap
        needs two parameters with two or more values. The slices below still show the one there is.
      </Empty>
    );

  return (
    <div className="stack" data-testid="landscape">
      <FilterBar error={heat.error} names={names} />
      <Panel
        title={`${label(metrics, metric)} over ${shortPath(x)} × ${shortPath(y)}`}
        help="each cell reduces the runs that share its two values (the other parameters: all of them by the aggregate, or the pinned values); hatched cells hold no run with a defined value; click a cell to open its best run"
      >
        <HeatmapControls choices={choices} />
        {heat.error ? (
          <ErrorBox error={heat.error} />
        ) : !option || !heat.data ? (
          <Skeleton height={420} />
        ) : heat.data.runs === 0 ? (
          <Empty title="No runs">No run passes the filter and the pinned values.</Empty>
        ) : (
          <>
            <EChart
              name="heatmap"
              height={Math.min(120 + heat.data.y_values.length * 44, 640)}
              option={option}
              data={{
                cells: cellCount,
                defined,
                x: heat.data.x,
                y: heat.data.y,
                agg: heat.data.agg,
                metric: heat.data.metric,
              }}
              onEvents={{
                click: (p: { seriesIndex: number; data: { value: [number, number] } }) => {
                  if (p.seriesIndex !== 0) return;
                  const hash = heat.data?.best[p.data.value[1]]?.[p.data.value[0]];
                  if (hash) open(hash);
                },
              }}
            />
            <div className="legend-note">
              {fmtInt(heat.data.runs)} runs in {fmtInt(defined)} of {fmtInt(cellCount)} cells
              {cellCount > defined
                ? "; hatched cells: not evaluated (no run, or none with a defined value)"
                : ""}
              .{" "}
              {SIGNED.has(metric) && agg !== "count"
                ? "Colour scale centred on 0 (blue: better)."
                : "Colour scale from worst to best."}
            </div>
          </>
        )}
      </Panel>
      <SlicePlots sweep={sweep} metric={metric} filter={filter} axes={axes} palette={palette} />
      <Explorer sweep={sweep} metric={metric} filter={filter} axes={axes} open={open} />
    </div>
  );
}

function SlicePlots({
  sweep,
  metric,
  filter,
  axes,
  palette,
}: {
  sweep: SweepDetail;
  metric: string;
  filter: string;
  axes: AxisGroup[];
  palette: Palette;
}) {
  const metrics = useMetricMap();
  const slices = useQueries({
    queries: axes.map((a) => ({
      queryKey: ["sweep", sweep.id, "slices", a.path, metric, filter],
      queryFn: () =>
        unwrap(
          api.GET("/api/sweeps/{sweep_id}/slices", {
            params: {
              path: { sweep_id: sweep.id },
              query: { path: a.path, metric, filter: filter || undefined },
            },
          }),
        ),
    })),
  });
  return (
    <Panel
      title={`Slices: ${label(metrics, metric)} against each parameter`}
      help="per value of one parameter, the distribution over every other parameter's values: box from the first to the third quartile, line at the median, whiskers at the minimum and maximum"
    >
      <div className="grid grid-3">
        {axes.map((a, i) => {
          const q = slices[i]!;
          return (
            <div key={a.path}>
              <div className="small strong" title={groupLabel(a)}>
                {groupAxisLabel(a)}
              </div>
              {q.error ? (
                <ErrorBox error={q.error} />
              ) : !q.data ? (
                <Skeleton height={180} />
              ) : (
                <SliceChart data={q.data} palette={palette} name={`slice-${a.path}`} />
              )}
            </div>
          );
        })}
      </div>
    </Panel>
  );
}

function SliceChart({ data, palette: p, name }: { data: Slices; palette: Palette; name: string }) {
  const metrics = useMetricMap();
  const option = useMemo<EChartOption>(() => {
    const fmt = (v: number) => fmtMetric(metrics, data.metric, v);
    return {
      animation: false,
      grid: { left: 58, right: 10, top: 10, bottom: 26 },
      tooltip: {
        trigger: "item",
        formatter: (x: unknown) => {
          const r = data.rows[(x as { dataIndex: number }).dataIndex];
          if (!r) return "";
          return `${fmtParam(r.value)}: ${fmtInt(r.count)} runs<br>max ${fmt(r.max ?? NaN)}<br>Q3 ${fmt(r.q3 ?? NaN)}<br>median <b>${fmt(r.median ?? NaN)}</b><br>Q1 ${fmt(r.q1 ?? NaN)}<br>min ${fmt(r.min ?? NaN)}`;
        },
      },
      xAxis: {
        type: "category",
        data: data.rows.map((r) => fmtParam(r.value)),
        axisLabel: { color: p.text },
        axisLine: { lineStyle: { color: p.axis } },
      },
      yAxis: {
        type: "value",
        scale: true,
        axisLabel: { color: p.muted, formatter: fmt },
        splitLine: { lineStyle: { color: p.grid } },
      },
      series: [
        {
          type: "boxplot",
          data: data.rows.map((r) => [r.min, r.q1, r.median, r.q3, r.max]),
          itemStyle: {
            color: p.name === "dark" ? "rgba(68,147,248,0.25)" : "rgba(9,105,218,0.15)",
            borderColor: p.accent,
          },
        },
        {
          type: "line",
          data: data.rows.map((r) => r.median),
          lineStyle: { color: p.accent, width: 1.5 },
          itemStyle: { color: p.accent },
          symbolSize: 4,
          tooltip: { show: false },
        },
      ],
    };
  }, [data, p, metrics]);
  if (!data.rows.length) return <Empty title="Insufficient data">No runs.</Empty>;
  return <EChart name={name} height={190} option={option} data={{ values: data.rows.length }} />;
}

/** Parallel coordinates, KPI scatter and the table of the brushed runs, over a sample of runs
 * (the best N by the metric, the API's pages of 1,000). */
function Explorer({
  sweep,
  metric,
  filter,
  axes,
  open,
}: {
  sweep: SweepDetail;
  metric: string;
  filter: string;
  axes: AxisGroup[];
  open: (hash: string) => void;
}) {
  const metrics = useMetricMap();
  const palette = usePalette();
  const higher = higherIsBetter(metrics, metric);
  const [n, setN] = useUrlState("pc", int, 1000);
  const [sx, setSx] = useUrlState("sx", str, metric === "max_drawdown" ? "sharpe" : "max_drawdown");
  const [brush, setBrush] = useUrlState<Brush>("brush", brushCodec, {});
  const set = useSetParams();
  const sample = useRunSample(sweep.id, `${higher ? "-" : ""}${metric}`, filter, n);
  const rows = useMemo(() => sample.data?.rows ?? [], [sample.data]);
  const kpiAxes = useMemo(() => [...new Set([metric, sx])], [metric, sx]);
  const axisNames = useMemo(() => [...axes.map((a) => a.path), ...kpiAxes], [axes, kpiAxes]);
  const categories = useMemo(() => axes.map((a) => a.values.map(fmtParam)), [axes]);

  const inBrush = useMemo(() => {
    const active = Object.entries(brush).filter(([k]) => axisNames.includes(k));
    return rows.map((r) =>
      active.every(([k, [lo, hi]]) => {
        const ai = axes.findIndex((a) => a.path === k);
        if (ai >= 0) {
          const idx = categories[ai]!.indexOf(fmtParam(r.params[k]));
          return idx >= Math.ceil(lo - 1e-9) && idx <= Math.floor(hi + 1e-9);
        }
        const v = r.kpis[k];
        return v !== null && v !== undefined && v >= lo && v <= hi;
      }),
    );
  }, [rows, brush, axisNames, axes, categories]);
  const brushed = useMemo(() => rows.filter((_, i) => inBrush[i]), [rows, inBrush]);
  const brushing = Object.keys(brush).some((k) => axisNames.includes(k));

  const parallel = useMemo<EChartOption>(() => {
    const values = rows.map((r) => r.kpis[metric] ?? null).filter((v): v is number => v !== null);
    // lines are told apart by a sequential scale over the runs shown
    const scale = colourScale(values, palette, { signed: false, higherIsBetter: higher });
    return {
      animation: false,
      parallel: {
        left: 70,
        right: 90,
        top: 40,
        bottom: 24,
        parallelAxisDefault: {
          nameTextStyle: { color: palette.text, fontSize: 11 },
          axisLabel: { color: palette.muted },
          axisLine: { lineStyle: { color: palette.axis } },
        },
      },
      parallelAxis: [
        ...axes.map((a, i) => ({
          dim: i,
          id: a.path,
          name: groupAxisLabel(a),
          type: "category" as const,
          data: categories[i],
        })),
        ...kpiAxes.map((k, i) => ({
          dim: axes.length + i,
          id: k,
          name: label(metrics, k),
          type: "value" as const,
          scale: true,
          axisLabel: { color: palette.muted, formatter: (v: number) => fmtMetric(metrics, k, v) },
        })),
      ],
      visualMap: {
        type: "continuous",
        dimension: axes.length,
        min: scale.min,
        max: scale.max,
        inRange: { color: scale.colors },
        show: true,
        right: 0,
        top: "middle",
        itemHeight: 140,
        textStyle: { color: palette.muted },
        formatter: (v: unknown) => fmtMetric(metrics, metric, Number(v)),
      },
      series: [
        {
          type: "parallel",
          lineStyle: { width: 1, opacity: rows.length > 500 ? 0.35 : 0.6 },
          inactiveOpacity: 0.04,
          activeOpacity: 0.9,
          progressive: 500,
          data: rows.map((r) => [
            ...axes.map((a, i) => categories[i]!.indexOf(fmtParam(r.params[a.path]))),
            ...kpiAxes.map((k) => r.kpis[k] ?? null),
          ]),
        },
      ],
    } as EChartOption;
  }, [rows, axes, categories, kpiAxes, metric, metrics, palette, higher]);

  const restoreBrush = useCallback(
    (chart: ECharts) => {
      for (const [k, range] of Object.entries(brush))
        if (axisNames.includes(k))
          chart.dispatchAction({ type: "axisAreaSelect", parallelAxisId: k, intervals: [range] });
    },
    // the brush is restored after a redraw, not redrawn when it changes
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [parallel],
  );

  const onBrush = useCallback(
    (p: { parallelAxisId?: string; intervals?: number[][] }) => {
      if (!p.parallelAxisId) return;
      const next = { ...brush };
      const iv = (p.intervals ?? []).flat();
      if (iv.length) next[p.parallelAxisId] = [Math.min(...iv), Math.max(...iv)];
      else delete next[p.parallelAxisId];
      setBrush(next);
    },
    [brush, setBrush],
  );

  const scatter = useMemo<EChartOption>(() => {
    const pts = rows.map((r) => [r.kpis[sx] ?? NaN, r.kpis[metric] ?? NaN] as [number, number]);
    const front = paretoFront(pts, [higherIsBetter(metrics, sx), higher]);
    const frontPts = front
      .map((i) => ({ value: pts[i]!, hash: rows[i]!.param_hash }))
      .sort((a, b) => a.value[0] - b.value[0]);
    const asData = (idx: number[]) =>
      idx.map((i) => ({ value: pts[i]!, hash: rows[i]!.param_hash }));
    const all = rows.map((_, i) => i);
    const inside = all.filter((i) => inBrush[i]);
    const outside = all.filter((i) => !inBrush[i]);
    const fx = (v: number) => fmtMetric(metrics, sx, v);
    const fy = (v: number) => fmtMetric(metrics, metric, v);
    return {
      animation: false,
      grid: { left: 64, right: 20, top: 20, bottom: 46 },
      tooltip: {
        trigger: "item",
        formatter: (x: unknown) => {
          const d = (x as { data: { value: [number, number]; hash: string } }).data;
          return `run ${d.hash.slice(0, 8)}<br>${label(metrics, sx)} ${fx(d.value[0])}<br>${label(metrics, metric)} ${fy(d.value[1])}`;
        },
      },
      legend: {
        top: 0,
        right: 10,
        textStyle: { color: palette.muted },
        data: ["runs", "Pareto front"],
      },
      xAxis: {
        type: "value",
        scale: true,
        name: label(metrics, sx),
        nameLocation: "middle",
        nameGap: 28,
        nameTextStyle: { color: palette.muted },
        // at the plot's edge, not where the other KPI is 0 (the middle when it changes sign)
        axisLine: { onZero: false },
        axisLabel: { color: palette.muted, formatter: fx },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      yAxis: {
        type: "value",
        scale: true,
        name: label(metrics, metric),
        nameLocation: "middle",
        nameGap: 48,
        nameTextStyle: { color: palette.muted },
        axisLine: { onZero: false },
        axisLabel: { color: palette.muted, formatter: fy },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: [
        {
          type: "scatter",
          name: "other runs",
          data: brushing ? asData(outside) : [],
          symbolSize: 4,
          itemStyle: { color: palette.hatch, opacity: 0.4 },
          large: outside.length > 2000,
        },
        {
          type: "scatter",
          name: "runs",
          data: asData(brushing ? inside : all),
          symbolSize: 5,
          itemStyle: { color: palette.accent, opacity: 0.7 },
          large: rows.length > 2000,
        },
        {
          type: "line",
          name: "Pareto front",
          data: frontPts,
          symbolSize: 8,
          lineStyle: { color: palette.good, width: 2 },
          itemStyle: { color: palette.good },
          z: 5,
        },
      ],
    } as EChartOption;
  }, [rows, sx, metric, metrics, higher, inBrush, brushing, palette]);

  const filterOfBrush = () => {
    const parts: string[] = [];
    for (const [k, [lo, hi]] of Object.entries(brush)) {
      const ai = axes.findIndex((a) => a.path === k);
      if (ai >= 0) {
        const chosen = axes[ai]!.values.filter(
          (_, i) => i >= Math.ceil(lo - 1e-9) && i <= Math.floor(hi + 1e-9),
        );
        const on = chosen
          .filter((v) => v !== null)
          .map((v) => (typeof v === "string" ? `'${v}'` : String(v)));
        const off = chosen.some((v) => v === null);
        const clause = [on.length ? `${k} in (${on.join(", ")})` : "", off ? `${k} is off` : ""]
          .filter(Boolean)
          .join(" or ");
        if (clause) parts.push(on.length && off ? `(${clause})` : clause);
      } else if (axisNames.includes(k))
        parts.push(`${k} >= ${+lo.toPrecision(6)} and ${k} <= ${+hi.toPrecision(6)}`);
    }
    const text = [filter ? `(${filter})` : "", ...parts].filter(Boolean).join(" and ");
    set({ filter: text || undefined, brush: undefined });
  };

  const columns = useMemo(
    () =>
      runColumns(
        sweep,
        metrics,
        kpiAxes,
        sweep.grid.map((a) => a.path),
      ),
    [sweep, metrics, kpiAxes],
  );

  return (
    <>
      <Panel
        title="Parallel coordinates"
        help="one line per run; drag along an axis to brush a range (several axes combine), drag again to move it, click outside it to clear; the scatter and the table follow the brush"
        actions={
          <>
            <label className="field">
              <span>Runs shown</span>
              <Segmented
                label="runs shown"
                value={String(n)}
                onChange={(v) => setN(Number(v))}
                options={[
                  { value: "200", label: "top 200" },
                  { value: "1000", label: "1,000" },
                  { value: "5000", label: "5,000" },
                ]}
              />
            </label>
            <MetricSelect
              label="Second KPI"
              value={sx}
              onChange={setSx}
              metrics={metrics}
              testId="scatter-x"
            />
            {brushing && (
              <>
                <button
                  className="button"
                  type="button"
                  onClick={filterOfBrush}
                  data-testid="brush-to-filter"
                  title="turn the brush into the sweep's filter: every panel, the heatmap included, then reads it"
                >
                  Use brush as filter
                </button>
                <button className="button" type="button" onClick={() => setBrush({})}>
                  Clear brush
                </button>
              </>
            )}
          </>
        }
      >
        {sample.error ? (
          <ErrorBox error={sample.error} />
        ) : !sample.data ? (
          <Skeleton height={340} />
        ) : rows.length === 0 ? (
          <Empty title="No runs">No run passes the filter.</Empty>
        ) : (
          <>
            <EChart
              name="parallel"
              height={360}
              option={parallel}
              afterRender={restoreBrush}
              onEvents={{ axisareaselected: onBrush }}
              data={{ lines: rows.length }}
            />
            <div className="legend-note">
              {rows.length < (sample.data.total ?? 0)
                ? `The best ${fmtInt(rows.length)} of ${fmtInt(sample.data.total)} runs by ${label(metrics, metric)}.`
                : `All ${fmtInt(rows.length)} runs.`}{" "}
              {brushing
                ? `${fmtInt(brushed.length)} in the brush.`
                : "Drag along an axis to brush."}
            </div>
          </>
        )}
      </Panel>
      <div className="grid grid-2">
        <Panel
          title={`${label(metrics, metric)} against ${label(metrics, sx)}`}
          help="the same runs; the Pareto front joins the runs no other run beats on both KPIs (each in its own direction); click a point to open the run"
        >
          {!sample.data ? (
            <Skeleton height={360} />
          ) : rows.length < 2 ? (
            <Empty title="Insufficient data">The scatter needs two runs or more.</Empty>
          ) : (
            <EChart
              name="scatter"
              height={380}
              option={scatter}
              data={{ points: rows.length }}
              onEvents={{
                click: (p: { data?: { hash?: string } }) => {
                  if (p.data?.hash) open(p.data.hash);
                },
              }}
            />
          )}
        </Panel>
        <Panel
          title={
            brushing
              ? `Runs in the brush (${fmtInt(brushed.length)})`
              : `Runs (${fmtInt(rows.length)})`
          }
          help="click a run to open its tear sheet"
        >
          {!sample.data ? (
            <Skeleton height={360} />
          ) : brushed.length === 0 ? (
            <Empty title="No run in the brush">Widen or clear the brush.</Empty>
          ) : (
            <DataTable<RunRow>
              data={brushed}
              columns={columns}
              getRowId={(r) => r.param_hash}
              onRowClick={(r) => open(r.param_hash)}
              initialSort={[{ id: metric, desc: higher }]}
              height={380}
              testId="brushed-runs"
              sortParam="rsort"
            />
          )}
        </Panel>
      </div>
    </>
  );
}
