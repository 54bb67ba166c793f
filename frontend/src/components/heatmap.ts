// Heatmap options shared by the landscape, robustness, monthly returns and correlations:
// cells that hold no value are hatched (never interpolated), the colour scale diverges from 0
// for signed metrics and runs from bad to good otherwise.

import type { EChartOption } from "./EChart";
import type { Palette } from "../theme";

let hatchCache: { key: string; canvas: HTMLCanvasElement } | null = null;

/** A small canvas of diagonal lines, the fill of cells that have no value. */
export function hatchPattern(p: Palette): HTMLCanvasElement | string {
  if (typeof document === "undefined") return p.hatch;
  const key = `${p.hatch}-${p.bg}`;
  if (hatchCache?.key === key) return hatchCache.canvas;
  const c = document.createElement("canvas");
  c.width = 8;
  c.height = 8;
  const ctx = c.getContext("2d");
  if (!ctx) return p.hatch;
  ctx.fillStyle = p.bg;
  ctx.fillRect(0, 0, 8, 8);
  ctx.strokeStyle = p.hatch;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, 8);
  ctx.lineTo(8, 0);
  ctx.moveTo(-2, 2);
  ctx.lineTo(2, -2);
  ctx.moveTo(6, 10);
  ctx.lineTo(10, 6);
  ctx.stroke();
  hatchCache = { key, canvas: c };
  return c;
}

export interface Scale {
  min: number;
  max: number;
  colors: string[];
  diverging: boolean;
}

/** The colour scale of a set of values: symmetric around 0 for a signed metric (good is blue),
 * else from the worst to the best value. */
export function colourScale(
  values: readonly (number | null)[],
  p: Palette,
  opts: { signed: boolean; higherIsBetter: boolean },
): Scale {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  let lo = xs.length ? Math.min(...xs) : 0;
  let hi = xs.length ? Math.max(...xs) : 1;
  if (opts.signed) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const colors = opts.higherIsBetter ? p.diverging : [...p.diverging].reverse();
    return { min: -m, max: m, colors, diverging: true };
  }
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const colors = opts.higherIsBetter ? p.sequential : [...p.sequential].reverse();
  return { min: lo, max: hi, colors, diverging: false };
}

function rgb(hex: string): [number, number, number] {
  const h = hex.replace("#", "");
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

/** The colour the scale gives `v` (linear between the stops). */
export function colourAt(scale: Scale, v: number): [number, number, number] {
  const stops = scale.colors.map(rgb);
  const t =
    Math.min(Math.max((v - scale.min) / (scale.max - scale.min || 1), 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(t), stops.length - 2);
  const f = t - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  return [0, 1, 2].map((k) => a[k]! + (b[k]! - a[k]!) * f) as [number, number, number];
}

/** Black or white, whichever reads better on the cell's colour. */
export function labelColour(scale: Scale, v: number): string {
  const [r, g, b] = colourAt(scale, v);
  const lum = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  return lum > 0.55 ? "#111" : "#fff";
}

export interface HeatCell {
  x: number;
  y: number;
  value: number | null;
  extra?: Record<string, unknown>;
}

/** A heatmap over categories: cells with no value in a hatched series of their own. */
export function heatmapOption(args: {
  xLabels: string[];
  yLabels: string[];
  cells: HeatCell[];
  palette: Palette;
  scale: Scale;
  format: (v: number) => string;
  tooltip: (cell: HeatCell) => string;
  xName?: string;
  yName?: string;
  labels?: boolean;
  compact?: boolean;
  /** the first y label at the top (years of a calendar) */
  yInverse?: boolean;
}): EChartOption {
  const { palette: p, scale } = args;
  const defined = args.cells.filter((c) => c.value !== null);
  const missing = args.cells.filter((c) => c.value === null);
  const showLabels = args.labels ?? args.cells.length <= 180;
  const byKey = new Map(args.cells.map((c) => [`${c.x},${c.y}`, c]));
  return {
    animation: false,
    grid: args.compact
      ? { left: 8, right: 90, top: 14, bottom: 8, containLabel: true }
      : { left: 80, right: 90, top: 14, bottom: 56, containLabel: false },
    tooltip: {
      position: "top",
      formatter: (params: unknown) => {
        const raw = (params as { data: [number, number] | { value: [number, number] } }).data;
        const d = Array.isArray(raw) ? raw : raw.value;
        const c = byKey.get(`${d[0]},${d[1]}`);
        return c ? args.tooltip(c) : "";
      },
    },
    xAxis: {
      type: "category",
      data: args.xLabels,
      name: args.xName,
      nameLocation: "middle",
      nameGap: 30,
      nameTextStyle: { color: p.muted },
      axisLabel: { color: p.text, hideOverlap: true },
      axisLine: { lineStyle: { color: p.axis } },
      splitArea: { show: false },
    },
    yAxis: {
      type: "category",
      data: args.yLabels,
      inverse: args.yInverse ?? false,
      name: args.yName,
      nameLocation: "middle",
      nameGap: args.compact ? 40 : 60,
      nameTextStyle: { color: p.muted },
      axisLabel: { color: p.text },
      axisLine: { lineStyle: { color: p.axis } },
    },
    visualMap: {
      type: "continuous",
      seriesIndex: 0,
      min: scale.min,
      max: scale.max,
      calculable: true,
      orient: "vertical",
      right: 4,
      top: "middle",
      itemHeight: 160,
      textStyle: { color: p.muted },
      formatter: (v: unknown) => args.format(Number(v)),
      inRange: { color: scale.colors },
    },
    series: [
      {
        type: "heatmap",
        name: "value",
        data: defined.map((c) => ({
          value: [c.x, c.y, c.value],
          label: { color: labelColour(scale, c.value as number) },
        })),
        label: {
          show: showLabels,
          formatter: (x: { data: { value: [number, number, number] } }) =>
            args.format(x.data.value[2]),
          fontSize: 11,
        },
        itemStyle: { borderColor: p.bg, borderWidth: 1 },
        emphasis: { itemStyle: { borderColor: p.text, borderWidth: 2 } },
        progressive: 2000,
      },
      {
        type: "heatmap",
        name: "not evaluated",
        data: missing.map((c) => [c.x, c.y, 0]),
        itemStyle: {
          color: { image: hatchPattern(p), repeat: "repeat" },
          borderColor: p.bg,
          borderWidth: 1,
        },
        label: { show: false },
        emphasis: { disabled: true },
        silent: false,
      },
    ],
  } as EChartOption;
}
