import { describe, expect, test } from "vitest";
import type { GridAxis } from "../api/client";
import { axisGroups, axisLabel, groupAxisLabel, zipLeads } from "./grid";

const condor: GridAxis[] = [
  { path: "structure.legs.0.select.target", values: [0.1, 0.16], zip_group: null },
  { path: "structure.legs.2.select.points", values: [-25, -50], zip_group: 0 },
  { path: "structure.legs.3.select.points", values: [25, 50], zip_group: 0 },
  { path: "exit.stop_loss", values: [2], zip_group: null },
];

describe("grid axes", () => {
  test("a zip group is one axis led by its first path", () => {
    expect(axisGroups(condor).map((g) => g.members)).toEqual([
      ["structure.legs.0.select.target"],
      ["structure.legs.2.select.points", "structure.legs.3.select.points"],
      ["exit.stop_loss"],
    ]);
    expect([...zipLeads(condor)]).toEqual(["structure.legs.2.select.points"]);
  });
  test("an axis label says when it leads a zip group", () => {
    const leads = zipLeads(condor);
    expect(axisLabel("structure.legs.2.select.points", leads)).toBe("legs.2.select.points (+zip)");
    expect(axisLabel("structure.legs.0.select.target", leads)).toBe("legs.0.select.target");
    expect(axisGroups(condor).map(groupAxisLabel)).toEqual([
      "legs.0.select.target",
      "legs.2.select.points (+zip)",
      "exit.stop_loss",
    ]);
  });
});
