// ECharts pieces shared by the scatters of two measures of the same runs (a time span against
// another): the robustness view's halves and the study page's in sample against after.

import type { Palette } from "../theme";

/** A value axis named at its middle and drawn at the plot's edge (not where the other value
 *  is 0), its labels muted and its grid lines faint. */
export function scatterAxis(palette: Palette, name: string, nameGap: number) {
  return {
    type: "value" as const,
    name,
    nameLocation: "middle" as const,
    nameGap,
    axisLine: { onZero: false },
    axisLabel: { color: palette.muted },
    splitLine: { lineStyle: { color: palette.grid } },
  };
}
