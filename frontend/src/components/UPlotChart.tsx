// uPlot for the time series (equity, drawdown, rolling statistics, greeks, overlays) and the
// payoff diagram: canvas, fast on thousands of points, zoom by dragging, cursor synced by key.
// Named charts are registered on window.gridbtCharts[name] (the uPlot instance: .data, .series).

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Palette } from "../theme";
import { axisLabels } from "../lib/format";
import { registerChart } from "./EChart";

export type UOptions = Omit<uPlot.Options, "width" | "height">;

interface Props {
  name?: string;
  data: uPlot.AlignedData;
  options: UOptions;
  height?: number;
  data_?: Record<string, string | number>;
}

export function UPlotChart({ name, data, options, height = 280, data_ }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  latest.current = data;

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const width = Math.max(el.clientWidth, 200);
    const u = new uPlot({ ...options, width, height }, latest.current, el);
    plot.current = u;
    registerChart(name, u);
    const observer = new ResizeObserver(() => {
      const w = Math.max(el.clientWidth, 200);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      registerChart(name, null);
      u.destroy();
      plot.current = null;
    };
  }, [options, height, name]);

  useEffect(() => {
    const u = plot.current;
    if (u && u.data !== data) u.setData(data);
  }, [data]);

  const attrs: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(data_ ?? {})) attrs[`data-${k}`] = v;
  return <div ref={ref} className="uplot-wrap" data-chart={name} {...attrs} />;
}

/** Unix seconds of an ISO date (uPlot's time axis). */
export function toSeconds(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / 1000;
}

export interface SeriesSpec {
  label: string;
  color?: string;
  width?: number;
  dash?: number[];
  fill?: string;
  scale?: string;
  stepped?: boolean;
  /** dots at the defined values, no line between them */
  markers?: boolean;
  show?: boolean;
  format?: (v: number | null) => string;
}

/** Options of a time-series chart in the palette: series, y formatter, log scale, cursor
 * sync, extra hooks (shaded periods). Memoise the result: a new object redraws the chart. */
export function timeOptions(
  palette: Palette,
  series: SeriesSpec[],
  opts: {
    /** hover values (and axis labels unless yAxis is given) */
    yFormat?: (v: number, digits?: number) => string;
    /** axis labels with a number of decimals (the fewest that tell the ticks apart) */
    yAxis?: (v: number, digits: number) => string;
    log?: boolean;
    sync?: string;
    hooks?: uPlot.Hooks.Arrays;
    y2?: { format: (v: number) => string; label?: string };
    legend?: boolean;
    time?: boolean;
    xFormat?: (v: number) => string;
    yRange?: [number | null, number | null];
    /** the legend's name of the x values (default: Time, or Value when not time) */
    xLabel?: string;
  } = {},
): UOptions {
  const yFormat = opts.yFormat ?? ((v: number) => String(v));
  const yAxisFormat = opts.yAxis ?? ((v: number, d: number) => yFormat(v, d));
  const axis = {
    stroke: palette.muted,
    grid: { stroke: palette.grid, width: 1 },
    ticks: { stroke: palette.grid, width: 1 },
    font: "11px system-ui, sans-serif",
  };
  const range = opts.yRange;
  const scales: uPlot.Scales = {
    x: { time: opts.time ?? true },
    y: opts.log
      ? { distr: 3 }
      : range
        ? { range: (_u, lo, hi) => [range[0] ?? lo, range[1] ?? hi] }
        : {},
  };
  if (opts.y2) scales.y2 = {};
  const axes: uPlot.Axis[] = [
    {
      ...axis,
      ...(opts.xFormat ? { values: (_u, vals) => vals.map((v) => opts.xFormat!(v)) } : {}),
    },
    { ...axis, size: 64, values: (_u, vals) => axisLabels(vals, yAxisFormat) },
  ];
  if (opts.y2) {
    const f = opts.y2.format;
    axes.push({
      ...axis,
      scale: "y2",
      side: 1,
      size: 60,
      grid: { show: false },
      values: (_u, vals) => vals.map((v) => (v === null ? "" : f(v))),
    });
  }
  return {
    legend: { show: opts.legend ?? series.length > 1, live: true },
    cursor: opts.sync
      ? { sync: { key: opts.sync, setSeries: true }, drag: { x: true, y: false } }
      : { drag: { x: true, y: false } },
    scales,
    axes,
    series: [
      opts.xLabel
        ? {
            label: opts.xLabel,
            value: (_u: uPlot, v: number | null) =>
              v === null ? "–" : opts.xFormat ? opts.xFormat(v) : String(v),
          }
        : {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color ?? palette.series[i % palette.series.length],
        width: s.width ?? 1.5,
        dash: s.dash,
        fill: s.fill,
        scale: s.scale ?? "y",
        show: s.show ?? true,
        spanGaps: false,
        points: s.markers
          ? { show: true, size: 6, width: 1, fill: s.color ?? palette.accent }
          : { show: false },
        ...(s.stepped ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
        ...(s.markers ? { paths: () => null } : {}),
        value: (_u: uPlot, v: number | null) =>
          s.format
            ? s.format(v)
            : v === null
              ? "–"
              : s.scale === "y2" && opts.y2
                ? opts.y2.format(v)
                : yFormat(v),
      })),
    ],
    hooks: opts.hooks,
  };
}

/** A draw hook shading x ranges (unix seconds) and drawing vertical lines, under the series. */
export function shadeHook(
  ranges: { from: number; to: number; color: string }[],
  lines: { at: number; color: string; dash?: number[]; label?: string }[] = [],
): uPlot.Hooks.Arrays {
  return {
    drawAxes: [
      (u: uPlot) => {
        const ctx = u.ctx;
        const { top, height } = u.bbox;
        ctx.save();
        for (const r of ranges) {
          const x0 = u.valToPos(r.from, "x", true);
          const x1 = u.valToPos(r.to, "x", true);
          ctx.fillStyle = r.color;
          ctx.fillRect(Math.min(x0, x1), top, Math.max(Math.abs(x1 - x0), 1), height);
        }
        for (const l of lines) {
          const x = u.valToPos(l.at, "x", true);
          ctx.strokeStyle = l.color;
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.setLineDash((l.dash ?? []).map((d) => d * devicePixelRatio));
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          if (l.label) {
            ctx.setLineDash([]);
            ctx.fillStyle = l.color;
            ctx.textAlign = "left"; // uPlot leaves the axes' alignment (centred) on the context
            ctx.textBaseline = "alphabetic";
            ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
            ctx.fillText(l.label, x + 4 * devicePixelRatio, top + 12 * devicePixelRatio);
          }
        }
        ctx.restore();
      },
    ],
  };
}
