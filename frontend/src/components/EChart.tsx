// ECharts, tree-shaken to the charts the browser draws (heatmaps, parallel coordinates, scatters,
// bars, box plots), as a React component. Every named chart is registered on
// window.gridbtCharts[name] so its drawn data can be read (end-to-end tests, debugging).

import { useEffect, useRef } from "react";
import * as echarts from "echarts/core";
import {
  BarChart,
  BoxplotChart,
  HeatmapChart,
  LineChart,
  ParallelChart,
  ScatterChart,
} from "echarts/charts";
import {
  BrushComponent,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  MarkPointComponent,
  ParallelComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import type { EChartsCoreOption, ECharts } from "echarts/core";

echarts.use([
  BarChart,
  BoxplotChart,
  HeatmapChart,
  LineChart,
  ParallelChart,
  ScatterChart,
  BrushComponent,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  MarkPointComponent,
  ParallelComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);

export type { EChartsCoreOption as EChartOption, ECharts };

declare global {
  interface Window {
    gridbtCharts?: Record<string, unknown>;
  }
}

export function registerChart(name: string | undefined, chart: unknown): void {
  if (!name) return;
  window.gridbtCharts ??= {};
  if (chart) window.gridbtCharts[name] = chart;
  else delete window.gridbtCharts[name];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (params: any, chart: ECharts) => void;

interface Props {
  option: EChartsCoreOption;
  height?: number | string;
  /** registered on window.gridbtCharts and written as data-chart */
  name?: string;
  onEvents?: Record<string, Handler>;
  /** called after every setOption, e.g. to restore a brush */
  afterRender?: (chart: ECharts) => void;
  className?: string;
  /** extra data-* attributes describing what is drawn */
  data?: Record<string, string | number>;
}

export function EChart({
  option,
  height = 320,
  name,
  onEvents,
  afterRender,
  className,
  data,
}: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const chartRef = useRef<ECharts | null>(null);
  const handlers = useRef(onEvents);
  handlers.current = onEvents;
  const after = useRef(afterRender);
  after.current = afterRender;
  const eventNames = Object.keys(onEvents ?? {})
    .sort()
    .join(",");

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const chart = echarts.init(el, undefined, { renderer: "canvas" });
    chartRef.current = chart;
    registerChart(name, chart);
    const observer = new ResizeObserver(() => chart.resize());
    observer.observe(el);
    return () => {
      observer.disconnect();
      registerChart(name, null);
      chart.dispose();
      chartRef.current = null;
    };
  }, [name]);

  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return;
    for (const ev of eventNames.split(",").filter(Boolean)) {
      chart.off(ev);
      chart.on(ev, (params: unknown) => handlers.current?.[ev]?.(params, chart));
    }
  }, [eventNames, name]);

  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return;
    chart.setOption(option, { notMerge: true, lazyUpdate: false });
    after.current?.(chart);
  }, [option, name]);

  const attrs: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(data ?? {})) attrs[`data-${k}`] = v;
  return (
    <div
      ref={ref}
      className={className ?? "chart"}
      data-chart={name}
      style={{ height, width: "100%" }}
      {...attrs}
    />
  );
}
