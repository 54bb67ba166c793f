// Did the study's ranking hold after its in-sample span? Its best trials in sample, each
// backtested again over the days after the span alone, against their in-sample metric.

import { useMemo } from "react";
import type { StudyAfter } from "../api/client";
import { useMetricMap, useStudyAfter } from "../api/hooks";
import { EChart, type EChartOption } from "../components/EChart";
import { scatterAxis } from "../components/scatter";
import { ErrorBox, Panel, Skeleton } from "../components/ui";
import { fmtInt, fmtNumber, fmtPct, isNum } from "../lib/format";
import { fmtMetric, higherIsBetter, label } from "../lib/metrics";
import { usePalette } from "../theme";

export function StudyAfterPanel({
  study,
  metric,
  chosen,
  inSample,
  onOpen,
}: {
  study: string;
  /** the in-sample span's first and last day */
  inSample: readonly string[];
  /** the KPI compared (the study's first objective when undefined) */
  metric: string | undefined;
  /** the trial the study chose, drawn apart */
  chosen: number | undefined;
  onOpen: (trial: number) => void;
}) {
  const metrics = useMetricMap();
  const palette = usePalette();
  const after = useStudyAfter(study, metric);
  const a = after.data;
  const option = useMemo<EChartOption | null>(() => {
    if (!a) return null;
    const name = label(metrics, a.metric);
    const fmt = (v: number) => fmtMetric(metrics, a.metric, v);
    const point = (p: (typeof a.points)[number]) => ({
      value: [p.in_sample, p.after],
      number: p.number,
    });
    const shown = a.points.filter((p) => isNum(p.in_sample) && isNum(p.after));
    // the diagonal over the in-sample values only, so the x axis keeps their range
    const xs = shown.map((p) => p.in_sample!);
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    return {
      animation: false,
      grid: { left: 60, right: 20, top: 30, bottom: 48 },
      legend: {
        top: 0,
        textStyle: { color: palette.muted },
        // the diagonal's key is a dash, not a dot
        data: [
          "trials",
          "chosen",
          { name: "as good after as in sample", icon: "path://M0,4 L24,4 L24,6 L0,6 Z" },
        ],
      },
      tooltip: {
        trigger: "item",
        formatter: (p: unknown) => {
          const d = (p as { data: { value: [number, number]; number: number } }).data;
          if (!d?.value) return "";
          return `trial #${d.number}<br>in sample ${fmt(d.value[0])}<br>after it ${fmt(d.value[1])}`;
        },
      },
      xAxis: scatterAxis(palette, `${name}, ${inSample[0]} to ${inSample[1]} (in sample)`, 30),
      yAxis: scatterAxis(palette, `${name}, ${a.first_date} to ${a.last_date} (after)`, 44),
      series: [
        {
          name: "trials",
          type: "scatter",
          symbolSize: 6,
          data: shown.filter((p) => p.number !== chosen).map(point),
          itemStyle: { color: palette.accent, opacity: 0.7 },
        },
        {
          name: "chosen",
          type: "scatter",
          symbolSize: 11,
          data: shown.filter((p) => p.number === chosen).map(point),
          itemStyle: { color: palette.series[1] },
        },
        {
          name: "as good after as in sample",
          type: "line",
          data: xs.length
            ? [
                [lo, lo],
                [hi, hi],
              ]
            : [],
          symbol: "none",
          silent: true,
          lineStyle: { color: palette.muted, type: "dashed", width: 1 },
          itemStyle: { color: palette.muted },
        },
      ],
    } as EChartOption;
  }, [a, metrics, palette, chosen, inSample]);
  return (
    <Panel
      title="After the in-sample span"
      help="the best complete trials by the metric over the in-sample span (up to 500), each backtested again over the days after it alone (as the study measures a fold out of sample), which no trial was ranked on. Spearman's rank correlation near 0: a trial's rank in sample says nothing about its rank after. Click a trial to open it"
      testId="study-after"
    >
      {after.error ? (
        <ErrorBox error={after.error} />
      ) : !a || !option ? (
        <Skeleton height={300} />
      ) : (
        <>
          <p data-testid="study-after-text">
            Over {fmtInt(a.trials)} complete trials
            {a.trials < a.complete ? ` (the best of ${fmtInt(a.complete)} in sample)` : ""}, the
            rank correlation of {label(metrics, a.metric)} over the in-sample span ({inSample[0]} to{" "}
            {inSample[1]}) and after it ({a.first_date} to {a.last_date}) is{" "}
            <b>{fmtNumber(a.rank_correlation)}</b>; the in-sample top 10% rank, at the median, above{" "}
            <b>{fmtPct(a.top_decile_percentile, 0)}</b> of them after it (50% is chance).
          </p>
          <div className="grid grid-2">
            <EChart
              name="study-after"
              height={320}
              option={option}
              data={{ trials: a.points.length }}
              onEvents={{
                click: (p: { data?: { number?: number } }) =>
                  p.data?.number !== undefined && onOpen(p.data.number),
              }}
            />
            <TopTable after={a} chosen={chosen} onOpen={onOpen} />
          </div>
        </>
      )}
    </Panel>
  );
}

/** The best 10 in sample: their metric after the span and their rank there. */
function TopTable({
  after: a,
  chosen,
  onOpen,
}: {
  after: StudyAfter;
  chosen: number | undefined;
  onOpen: (trial: number) => void;
}) {
  const metrics = useMetricMap();
  const rows = useMemo(() => {
    const sign = higherIsBetter(metrics, a.metric) ? 1 : -1;
    const later = a.points.map((p) => p.after).filter(isNum);
    const rank = (v: number | null | undefined) =>
      isNum(v) ? 1 + later.filter((w) => sign * w > sign * v).length : null;
    return a.points.slice(0, 10).map((p, i) => ({ ...p, inRank: i + 1, afterRank: rank(p.after) }));
  }, [a, metrics]);
  return (
    <table className="table" data-testid="study-after-top">
      <thead>
        <tr>
          <th>Trial</th>
          <th
            className="right"
            title="over the in-sample span (the trial's KPIs, not its objective's mean over the folds)"
          >
            In sample
          </th>
          <th className="right">Rank</th>
          <th className="right">After it</th>
          <th className="right">Rank after</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.number} className="clickable" onClick={() => onOpen(r.number)}>
            <td>
              #{r.number}
              {r.number === chosen ? <span className="muted"> (chosen)</span> : null}
            </td>
            <td className="right num">{fmtMetric(metrics, a.metric, r.in_sample)}</td>
            <td className="right num">{r.inRank}</td>
            <td className="right num">{fmtMetric(metrics, a.metric, r.after)}</td>
            <td className="right num">
              {r.afterRank === null ? "–" : `${r.afterRank} of ${fmtInt(a.trials)}`}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
