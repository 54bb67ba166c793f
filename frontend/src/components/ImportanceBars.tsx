// Parameter importances as horizontal bars (share of variance, 0–100%): the same chart on a
// sweep's overview and a study's page.
import { fmtPct } from "../lib/format";
import { axisLabel } from "../lib/grid";
import { usePalette } from "../theme";
import { EChart } from "./EChart";

const NONE: ReadonlySet<string> = new Set();

export interface Importance {
  path: string;
  share: number;
}

export function ImportanceBars({
  name,
  items,
  height,
  data,
  zipped,
}: {
  name: string;
  items: Importance[];
  height: number;
  data?: Record<string, string | number>;
  /** the lead paths of zip groups: one axis each, labelled "(+zip)" */
  zipped?: ReadonlySet<string>;
}) {
  const palette = usePalette();
  return (
    <EChart
      name={name}
      height={height}
      data={data}
      option={{
        animation: false,
        grid: { left: 150, right: 60, top: 8, bottom: 24 },
        tooltip: {
          trigger: "axis",
          axisPointer: { type: "shadow" },
          valueFormatter: (v: unknown) => fmtPct(v as number, 1),
        },
        xAxis: {
          type: "value",
          max: 1,
          axisLabel: {
            color: palette.muted,
            formatter: (v: number) => `${Math.round(v * 100)}%`,
          },
          splitLine: { lineStyle: { color: palette.grid } },
        },
        yAxis: {
          type: "category",
          data: items.map((x) => axisLabel(x.path, zipped ?? NONE)),
          axisLabel: { color: palette.text },
        },
        series: [
          {
            type: "bar",
            data: items.map((x) => x.share),
            itemStyle: { color: palette.accent },
            label: {
              show: true,
              position: "right",
              color: palette.muted,
              formatter: (x: { value: number }) => fmtPct(x.value, 1),
            },
          },
        ],
      }}
    />
  );
}
