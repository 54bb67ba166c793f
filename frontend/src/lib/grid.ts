// A sweep's grid as the views use it: paths that move together (zip groups) are one axis,
// named by their first path.

import type { GridAxis } from "../api/client";
import { shortPath } from "./format";

export interface AxisGroup {
  path: string; // the lead path (the one heatmaps and pins use)
  members: string[]; // every path of the group, the lead first
  values: unknown[];
}

export function axisGroups(grid: readonly GridAxis[]): AxisGroup[] {
  const out: AxisGroup[] = [];
  const byZip = new Map<number, AxisGroup>();
  for (const a of grid) {
    if (a.zip_group !== null && a.zip_group !== undefined) {
      const g = byZip.get(a.zip_group);
      if (g) {
        g.members.push(a.path);
        continue;
      }
      const group = { path: a.path, members: [a.path], values: a.values };
      byZip.set(a.zip_group, group);
      out.push(group);
    } else out.push({ path: a.path, members: [a.path], values: a.values });
  }
  return out;
}

/** The lead paths with two or more values: the axes worth a heatmap, slice or pin. */
export function varyingAxes(grid: readonly GridAxis[]): AxisGroup[] {
  return axisGroups(grid).filter((g) => g.values.length >= 2);
}

/** The lead paths of the zip groups that vary: each names one axis of several paths. */
export function zipLeads(grid: readonly GridAxis[]): Set<string> {
  return new Set(
    varyingAxes(grid)
      .filter((g) => g.members.length > 1)
      .map((g) => g.path),
  );
}

const ZIPPED = " (+zip)";

/** An axis as charts and pickers name it: its short path, "(+zip)" when it leads a group. */
export function axisLabel(path: string, zipLed: ReadonlySet<string>): string {
  return shortPath(path) + (zipLed.has(path) ? ZIPPED : "");
}

/** A group's own label: its lead's short path, "(+zip)" when it has several paths. */
export function groupAxisLabel(group: AxisGroup): string {
  return shortPath(group.path) + (group.members.length > 1 ? ZIPPED : "");
}
