// Robustness of a sweep: is the best a plateau or an isolated peak? The raw heatmap beside its
// neighbourhood-smoothed twin, the top runs' neighbourhoods (mean and worst over ±1 grid step on
// every path), per-parameter sensitivity, with the deflated and probabilistic Sharpe and the
// CSCV out-of-sample numbers beside them (plateau shape alone is a weak signal).

import { useMemo } from "react";
import { Link, useNavigate } from "react-router-dom";
import type { Heatmap, Neighbourhood, SweepDetail } from "../api/client";
import { useHeatmap, useMetricMap, useRobustness, useStability } from "../api/hooks";
import { EChart, type EChartOption } from "../components/EChart";
import { colourScale, heatmapOption, type HeatCell } from "../components/heatmap";
import { scatterAxis } from "../components/scatter";
import { OverfitStatements } from "../components/sweepParts";
import { Empty, ErrorBox, Panel, Segmented, Skeleton } from "../components/ui";
import { fmtInt, fmtNumber, fmtParam, fmtPct, shortPath, shownTop } from "../lib/format";
import { axisLabel, zipLeads } from "../lib/grid";
import { fmtMetric, fmtMetricDiff, higherIsBetter, label, SIGNED } from "../lib/metrics";
import { smoothMatrix } from "../lib/stats";
import { int, oneOf, useUrlState } from "../lib/url";
import { usePalette, type Palette } from "../theme";
import { HeatmapControls, useHeatmapChoices } from "./Landscape";

export type Verdict = "plateau" | "slope" | "peak";

/** How much worse the neighbourhood's mean is than the run, as a share of the run's value:
 * a plateau loses at most 15%, an isolated peak more than 40%. */
export function verdictOf(
  n: Neighbourhood,
  higherIsBetter: boolean,
): { drop: number | null; verdict: Verdict | null } {
  if (n.value === null || n.mean === null || n.value === 0) return { drop: null, verdict: null };
  const drop = ((higherIsBetter ? n.value - n.mean : n.mean - n.value) /
    Math.abs(n.value)) as number;
  return { drop, verdict: drop <= 0.15 ? "plateau" : drop > 0.4 ? "peak" : "slope" };
}

const VERDICT_TEXT: Record<Verdict, string> = {
  plateau: "plateau",
  slope: "slope",
  peak: "isolated peak",
};

export default function RobustnessView({ sweep }: { sweep: SweepDetail }) {
  const metrics = useMetricMap();
  const palette = usePalette();
  const navigate = useNavigate();
  const choices = useHeatmapChoices(sweep);
  const { axes, metric, agg, x, y, where, filter } = choices;
  const [mode, setMode] = useUrlState("smooth", oneOf(["mean", "worst"] as const), "mean");
  const [radius, setRadius] = useUrlState("radius", int, 1);
  const [top, setTop] = useUrlState("top", int, 10);
  const zipped = useMemo(() => zipLeads(sweep.grid), [sweep.grid]);
  const [pick, setPick] = useUrlState("pick", int, 0);
  const robust = useRobustness(sweep.id, metric, top);
  const heat = useHeatmap(sweep.id, { x, y, metric, agg, where, filter }, axes.length >= 2);
  const base = `/sweeps/${encodeURIComponent(sweep.id)}`;
  const higher = robust.data?.higher_is_better ?? higherIsBetter(metrics, metric);

  const options = useMemo(() => {
    if (!heat.data) return null;
    const smoothed = smoothMatrix(
      heat.data.values,
      Math.max(1, Math.min(radius, 3)),
      mode,
      heat.data.higher_is_better,
    );
    const all = [...heat.data.values.flat(), ...smoothed.flat()];
    return {
      raw: heatOption(heat.data, heat.data.values, all, palette, metrics, "raw"),
      smooth: heatOption(
        heat.data,
        smoothed,
        all,
        palette,
        metrics,
        mode === "mean" ? `mean of ±${radius} step` : `worst of ±${radius} step`,
      ),
    };
  }, [heat.data, radius, mode, palette, metrics]);

  const open = (p: { seriesIndex: number; data: { value: [number, number] } }) => {
    if (p.seriesIndex !== 0) return;
    const hash = heat.data?.best[p.data.value[1]]?.[p.data.value[0]];
    if (hash) navigate(`${base}/runs/${hash}`);
  };

  const rows = robust.data?.neighbourhood ?? [];
  const chosen = rows[Math.min(pick, rows.length - 1)];

  return (
    <div className="stack" data-testid="robustness">
      <div className="grid grid-2">
        <Panel
          title="Is the best real?"
          help="the plateau views below are weak evidence on their own; the deflated and probabilistic Sharpe are the stronger single signals"
        >
          {robust.data ? (
            <>
              <OverfitStatements
                statistics={robust.data.statistics}
                objective={metric}
                trials={sweep.n_trials}
              />
              <p className="legend-note">
                Statistics{" "}
                {robust.data.statistics_source === "sweep.json"
                  ? "computed when the sweep ended, on daily Sharpe ratios"
                  : robust.data.statistics_source === "computed"
                    ? "computed now on the results so far"
                    : "not available"}
                . A sweep has no walk-forward folds: CSCV's splits are its in-sample / out-of-sample
                test (a study's folds are on its page).
              </p>
            </>
          ) : robust.error ? (
            <ErrorBox error={robust.error} />
          ) : (
            <Skeleton height={160} />
          )}
        </Panel>
        <Panel
          title="Sensitivity of a top run"
          help="the metric one grid step down and up each parameter (a zip group as one), the others unchanged, minus the run's own value; no bar where there is no such run (the edge of the grid or a constraint)"
        >
          {!robust.data ? (
            <Skeleton height={220} />
          ) : !chosen ? (
            <Empty title="Insufficient data">No run with a defined {label(metrics, metric)}.</Empty>
          ) : (
            <Sensitivity n={chosen} metric={metric} palette={palette} zipped={zipped} />
          )}
        </Panel>
      </div>
      {axes.length >= 2 && (
        <Panel
          title="Raw and smoothed landscape"
          help="left: the heatmap as in the landscape; right: each cell replaced by the mean (or the worst) of the defined cells within the radius on both axes of this heatmap; hatched cells hold no run. A peak that survives smoothing sits on a plateau"
        >
          <HeatmapControls choices={choices} />
          <div className="controls">
            <label className="field">
              <span>Smoothing</span>
              <Segmented
                label="smoothing"
                value={mode}
                onChange={setMode}
                options={[
                  { value: "mean", label: "mean" },
                  { value: "worst", label: "worst case" },
                ]}
                testId="smooth"
              />
            </label>
            <label className="field">
              <span>Radius (grid steps)</span>
              <Segmented
                label="radius"
                value={String(radius)}
                onChange={(v) => setRadius(Number(v))}
                options={["1", "2"]}
              />
            </label>
          </div>
          {heat.error ? (
            <ErrorBox error={heat.error} />
          ) : !options ? (
            <Skeleton height={360} />
          ) : (
            <div className="grid grid-2">
              <div>
                <div className="small strong">Raw ({agg})</div>
                <EChart
                  name="heatmap-raw"
                  height={Math.min(100 + (heat.data?.y_values.length ?? 0) * 40, 520)}
                  option={options.raw}
                  onEvents={{ click: open }}
                />
              </div>
              <div>
                <div className="small strong">
                  Smoothed: {mode === "mean" ? "neighbourhood mean" : "neighbourhood worst case"}
                </div>
                <EChart
                  name="heatmap-smooth"
                  height={Math.min(100 + (heat.data?.y_values.length ?? 0) * 40, 520)}
                  option={options.smooth}
                  onEvents={{ click: open }}
                />
              </div>
            </div>
          )}
        </Panel>
      )}
      <Panel
        title={`Plateau or peak: the top ${shownTop(top, robust.data ? rows.length : undefined)} outcomes' neighbourhoods`}
        help="for each of the best outcomes (its best run; runs that trade alike are one outcome), the runs within one grid step of it on every path (itself included): their mean and worst metric. Drop = how much worse the mean is than the run, as a share of its value: a plateau loses at most 15%, an isolated peak more than 40%"
        actions={
          <Segmented
            label="top"
            value={String(top)}
            onChange={(v) => setTop(Number(v))}
            options={["10", "25", "50"]}
          />
        }
      >
        {robust.error ? (
          <ErrorBox error={robust.error} />
        ) : !robust.data ? (
          <Skeleton height={240} />
        ) : rows.length === 0 ? (
          <Empty title="Insufficient data">No run has a defined {label(metrics, metric)}.</Empty>
        ) : (
          <div className="table-scroll" style={{ maxHeight: 520 }}>
            <table className="table" data-testid="neighbourhoods">
              <thead>
                <tr>
                  <th>#</th>
                  <th>Run</th>
                  <th className="right">{label(metrics, metric)}</th>
                  <th className="right">Neighbourhood mean</th>
                  <th className="right">Worst</th>
                  <th className="right">Neighbours</th>
                  <th className="right">Drop</th>
                  <th>Shape</th>
                  <th>Parameters</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((n, i) => {
                  const v = verdictOf(n, higher);
                  return (
                    <tr
                      key={n.param_hash}
                      className={`clickable ${i === pick ? "highlight" : ""}`}
                      onClick={() => setPick(i)}
                    >
                      <td>{i + 1}</td>
                      <td>
                        <Link
                          to={`${base}/runs/${n.param_hash}`}
                          onClick={(e) => e.stopPropagation()}
                        >
                          <code>{n.param_hash.slice(0, 8)}</code>
                        </Link>
                      </td>
                      <td className="right num">{fmtMetric(metrics, metric, n.value)}</td>
                      <td className="right num">{fmtMetric(metrics, metric, n.mean)}</td>
                      <td className="right num">{fmtMetric(metrics, metric, n.worst)}</td>
                      <td className="right num">{fmtInt(n.neighbours)}</td>
                      <td className="right num">{fmtPct(v.drop, 0)}</td>
                      <td>
                        {v.verdict ? (
                          <span className={`badge verdict-${v.verdict}`}>
                            {VERDICT_TEXT[v.verdict]}
                          </span>
                        ) : (
                          "–"
                        )}
                      </td>
                      <td className="small muted" style={{ whiteSpace: "normal", minWidth: 260 }}>
                        {Object.entries(n.params)
                          .map(([k, val]) => `${shortPath(k)} ${fmtParam(val)}`)
                          .join(" · ")}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        <p className="legend-note">Click a row to see its sensitivity above.</p>
      </Panel>
      <StabilityPanel sweep={sweep} palette={palette} />
    </div>
  );
}

/** A time block's years: "1999–00". */
function span(b: { first: string; last: string }): string {
  const [a, z] = [b.first.slice(0, 4), b.last.slice(0, 4)];
  return a === z ? a : `${a}–${z.slice(2)}`;
}

/** Does a run's rank in one stretch of days say anything about its rank in the next? */
function StabilityPanel({ sweep, palette }: { sweep: SweepDetail; palette: Palette }) {
  const stability = useStability(sweep.id);
  const s = stability.data;
  const scatter = useMemo<EChartOption | null>(() => {
    if (!s) return null;
    return {
      animation: false,
      grid: { left: 56, right: 16, top: 16, bottom: 44 },
      tooltip: {
        trigger: "item",
        formatter: (p: unknown) => {
          const [a, b] = (p as { value: [number, number] }).value;
          return `first half ${fmtNumber(a)}<br>second half ${fmtNumber(b)}`;
        },
      },
      xAxis: scatterAxis(palette, `Sharpe, ${s.halves[0]} to ${s.halves[1]}`, 28),
      yAxis: scatterAxis(palette, `Sharpe, ${s.halves[2]} to ${s.halves[3]}`, 40),
      series: [
        {
          type: "scatter",
          symbolSize: 4,
          large: s.points.length > 1000,
          data: s.points,
          itemStyle: { color: palette.accent, opacity: 0.6 },
        },
      ],
    } as EChartOption;
  }, [s, palette]);
  const bars = useMemo<EChartOption | null>(() => {
    if (!s) return null;
    const pairs = s.blocks.slice(0, -1);
    return {
      animation: false,
      // a pair's label on two lines, level: rotated, the first one ran off the chart's left
      grid: { left: 8, right: 12, top: 16, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", valueFormatter: (v: unknown) => fmtNumber(v as number) },
      xAxis: {
        type: "category",
        data: pairs.map((b, i) => `${span(b)} →\n${span(s.blocks[i + 1]!)}`),
        axisLabel: { color: palette.muted, interval: 0, lineHeight: 14 },
      },
      yAxis: {
        type: "value",
        min: -1,
        max: 1,
        axisLabel: { color: palette.muted },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: [
        {
          type: "bar",
          data: pairs.map((b) => ({
            value: b.rank_correlation_next,
            itemStyle: {
              color: (b.rank_correlation_next ?? 0) >= 0 ? palette.good : palette.bad,
            },
          })),
        },
      ],
    } as EChartOption;
  }, [s, palette]);
  return (
    <Panel
      title="Stability over time"
      help="over the distinct outcomes: Spearman's rank correlation of the runs' Sharpe ratios in the first half of the days and in the second, and between each time block (pbo_blocks) and the next. Near 0, a good rank in one stretch says nothing about the next"
    >
      {stability.error ? (
        <ErrorBox error={stability.error} />
      ) : !s || !scatter || !bars ? (
        <Skeleton height={300} />
      ) : (
        <>
          <p data-testid="stability">
            Over {fmtInt(s.runs)} distinct outcomes, the rank correlation of Sharpe from the first
            half to the second is <b>{fmtNumber(s.halves_rank_correlation)}</b>; the first
            half&apos;s top 10% rank, at the median, above{" "}
            <b>{fmtPct(s.top_decile_percentile, 0)}</b> of the runs in the second (50% is chance).
            Block to block, the mean rank correlation is <b>{fmtNumber(s.mean_rank_correlation)}</b>
            .
          </p>
          <div className="grid grid-2">
            <EChart
              name="stability-halves"
              height={300}
              option={scatter}
              data={{ points: s.points.length }}
            />
            <EChart
              name="stability-blocks"
              height={300}
              option={bars}
              data={{ blocks: s.blocks.length }}
            />
          </div>
        </>
      )}
    </Panel>
  );
}

function heatOption(
  hm: Heatmap,
  values: (number | null)[][],
  all: (number | null)[],
  palette: Palette,
  metrics: ReturnType<typeof useMetricMap>,
  what: string,
): EChartOption {
  const cells: HeatCell[] = [];
  values.forEach((row, i) => row.forEach((v, j) => cells.push({ x: j, y: i, value: v })));
  const isCount = hm.agg === "count";
  const fmt = (v: number) => (isCount ? fmtInt(v) : fmtMetric(metrics, hm.metric, v));
  // one scale for both maps, so that their colours compare
  const scale = colourScale(all, palette, {
    signed: !isCount && SIGNED.has(hm.metric),
    higherIsBetter: isCount || hm.higher_is_better,
  });
  return heatmapOption({
    xLabels: hm.x_values.map(fmtParam),
    yLabels: hm.y_values.map(fmtParam),
    cells,
    palette,
    scale,
    format: fmt,
    xName: shortPath(hm.x),
    yName: shortPath(hm.y),
    labels: cells.length <= 120,
    tooltip: (c) =>
      `${shortPath(hm.x)} ${fmtParam(hm.x_values[c.x])}, ${shortPath(hm.y)} ${fmtParam(hm.y_values[c.y])}<br>${what}: <b>${c.value === null ? "not evaluated" : fmt(c.value)}</b>`,
  });
}

function Sensitivity({
  n,
  metric,
  palette,
  zipped,
}: {
  n: Neighbourhood;
  metric: string;
  palette: Palette;
  /** the lead paths of zip groups: one axis each, stepped as a whole */
  zipped: ReadonlySet<string>;
}) {
  const metrics = useMetricMap();
  const option = useMemo<EChartOption>(() => {
    const paths = Object.keys(n.sensitivity).filter((p) =>
      (n.sensitivity[p] ?? []).some((v) => v !== null),
    );
    const diff = (v: number | null | undefined) =>
      v === null || v === undefined || n.value === null ? null : v - n.value;
    return {
      animation: false,
      grid: { left: 150, right: 30, top: 28, bottom: 30 },
      legend: { top: 0, textStyle: { color: palette.muted } },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        valueFormatter: (v: unknown) =>
          v === null || v === undefined ? "no run" : fmtMetricDiff(metrics, metric, v as number),
      },
      xAxis: {
        type: "value",
        axisLabel: {
          color: palette.muted,
          formatter: (v: number) => fmtMetricDiff(metrics, metric, v),
        },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      yAxis: {
        type: "category",
        data: paths.map((p) => axisLabel(p, zipped)),
        axisLabel: { color: palette.text },
      },
      series: [
        {
          type: "bar",
          name: "one step down",
          data: paths.map((p) => diff(n.sensitivity[p]?.[0])),
          itemStyle: { color: palette.series[1] },
        },
        {
          type: "bar",
          name: "one step up",
          data: paths.map((p) => diff(n.sensitivity[p]?.[1])),
          itemStyle: { color: palette.series[0] },
        },
      ],
    } as EChartOption;
  }, [n, metric, metrics, palette, zipped]);
  const paths = Object.keys(n.sensitivity).filter((p) =>
    (n.sensitivity[p] ?? []).some((v) => v !== null),
  );
  if (!paths.length)
    return <Empty title="No neighbour">No run one step away on any parameter.</Empty>;
  return (
    <>
      <p className="statement">
        Run <code>{n.param_hash.slice(0, 8)}</code>: {label(metrics, metric)}{" "}
        {fmtMetric(metrics, metric, n.value)}; change of the metric one grid step away:
      </p>
      <EChart
        name="sensitivity"
        height={Math.max(160, paths.length * 36 + 60)}
        option={option}
        data={{ paths: paths.length }}
      />
    </>
  );
}
