import { describe, expect, test } from "vitest";
import {
  axisLabels,
  DASH,
  fmtBp,
  fmtDiff,
  fmtDuration,
  fmtInt,
  fmtMoney,
  fmtParam,
  fmtPct,
  fmtProb,
  fmtTime,
  fmtUnit,
  pctAxisDigits,
  plural,
  shortPath,
  shownTop,
} from "./format";

describe("formatters", () => {
  test("a top-N title counts what there is", () => {
    expect(shownTop(50, 3)).toBe(3);
    expect(shownTop(50, 1200)).toBe(50);
    expect(shownTop(50, undefined)).toBe(50); // not loaded yet
    expect(shownTop(50, 0)).toBe(50); // nothing passes: the panel says so, not the title
  });
  test("counts agree with their noun", () => {
    expect(plural(1, "study", "studies")).toBe("1 study");
    expect(plural(0, "study", "studies")).toBe("0 studies");
    expect(plural(1204, "sweep", "sweeps")).toBe("1,204 sweeps");
  });
  test("undefined numbers are a dash, never NaN or 0", () => {
    for (const f of [fmtPct, fmtBp, fmtMoney, fmtInt, fmtProb])
      for (const x of [null, undefined, NaN, Infinity, -Infinity]) expect(f(x)).toBe(DASH);
    expect(fmtUnit(null, "ratio")).toBe(DASH);
  });
  test("percentages, basis points and money carry their unit", () => {
    expect(fmtPct(0.11474)).toBe("11.47%");
    expect(fmtPct(-0.0534, 1)).toBe("-5.3%");
    expect(fmtPct(0.05, 0, true)).toBe("+5%");
    expect(fmtBp(0.0012)).toBe("12 bp");
    expect(fmtBp(-0.00035, 1, true)).toBe("-3.5 bp");
    expect(fmtMoney(196524.5)).toBe("$196,525");
    expect(fmtMoney(-1234.5, 2)).toBe("-$1,234.50");
  });
  test("a KPI is formatted by its registry unit", () => {
    expect(fmtUnit(3.23684, "ratio")).toBe("3.24");
    expect(fmtUnit(0.0534, "fraction")).toBe("5.34%");
    expect(fmtUnit(133, "days")).toBe("133 d");
    expect(fmtUnit(24.14, "days")).toBe("24.1 d");
    expect(fmtUnit(135, "count")).toBe("135");
    expect(fmtUnit(72679.5, "currency")).toBe("$72,680");
  });
  test("differences: fractions in bp with a sign", () => {
    expect(fmtDiff(0.0025, "fraction")).toBe("+25 bp");
    expect(fmtDiff(-0.3, "ratio")).toBe("-0.30");
    expect(fmtDiff(0, "ratio")).toBe("0.00");
  });
  test("probabilities never claim certainty", () => {
    expect(fmtProb(0.9999986)).toBe(">99%");
    expect(fmtProb(0.004)).toBe("<1%");
    expect(fmtProb(0.0357)).toBe("4%");
    expect(fmtProb(0)).toBe("0%");
    expect(fmtProb(1)).toBe(">99%");
  });
  test("parameters: off for null, numbers without float noise", () => {
    expect(fmtParam(null)).toBe("off");
    expect(fmtParam(0.15000000000000002)).toBe("0.15");
    expect(fmtParam(30)).toBe("30");
    expect(fmtParam("put")).toBe("put");
    expect(fmtParam(true)).toBe("true");
  });
  test("paths, durations, times", () => {
    expect(shortPath("structure.legs.0.select.target")).toBe("legs.0.select.target");
    expect(shortPath("structure.legs.3.select.points")).toBe("legs.3.select.points");
    expect(shortPath("structure.legs.12.qty")).toBe("legs.12.qty");
    expect(shortPath("structure.dte.target")).toBe("dte.target");
    expect(shortPath("sharpe")).toBe("sharpe");
    expect(shortPath("exit.dte")).toBe("exit.dte");
    expect(fmtDuration(1.19)).toBe("1.2 s");
    expect(fmtDuration(3725)).toBe("1 h 2 min");
    expect(fmtTime("2026-12-04T22:42:27+00:00")).toBe("2026-12-04 22:42");
  });
  test("percent axis decimals tell ~5 ticks apart", () => {
    const ticks = (values: number[]) => {
      const d = pctAxisDigits(values);
      const top = Math.max(0, ...values);
      return [0, 1, 2, 3, 4, 5].map((i) => fmtPct((top * i) / 5, d));
    };
    expect(pctAxisDigits([0.006])).toBe(1);
    expect(new Set(ticks([0.006])).size).toBe(6);
    expect(pctAxisDigits([0.25, -0.1])).toBe(0);
    expect(pctAxisDigits([0.0004])).toBe(3);
    expect(pctAxisDigits([])).toBe(0);
    expect(pctAxisDigits([0])).toBe(0);
  });
  test("axis labels: the fewest decimals that tell the labelled ticks apart", () => {
    const money = (v: number, d: number) => `$${(v / 1000).toFixed(d)}K`;
    expect(axisLabels([1000, 1500, 2000], money)).toEqual(["$1.0K", "$1.5K", "$2.0K"]);
    // a log axis leaves ticks unlabelled (null): they are blank, not "–", and do not force
    // four decimals by repeating
    expect(axisLabels([100_000, null, null, 200_000], money)).toEqual(["$100K", "", "", "$200K"]);
  });
});
