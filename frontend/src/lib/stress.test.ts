import { describe, expect, test } from "vitest";
import { STRESS_WINDOWS, stressResults } from "./stress";

const W = [{ name: "crash", from: "2020-01-03", to: "2020-01-08" }];

describe("stress windows", () => {
  test("return and worst drawdown from the close before the move to the trough", () => {
    const dates = [
      "2020-01-02",
      "2020-01-03",
      "2020-01-06",
      "2020-01-07",
      "2020-01-08",
      "2020-01-09",
    ];
    const equity = [100, 110, 99, 104, 88, 200];
    const spot = [10, 20, 15, 16, 10, 30];
    const [r] = stressResults(dates, equity, spot, W);
    expect(r).toMatchObject({ start: 1, end: 4, name: "crash" });
    expect(r!.ret).toBeCloseTo(88 / 110 - 1, 12);
    expect(r!.worstDrawdown).toBeCloseTo(88 / 110 - 1, 12);
    expect(r!.underlying).toBeCloseTo(10 / 20 - 1, 12);
  });

  test("a new peak inside the window restarts the drawdown; no spot, no underlying", () => {
    const dates = ["2020-01-03", "2020-01-06", "2020-01-07", "2020-01-08"];
    const [r] = stressResults(dates, [100, 90, 120, 108], null, W);
    expect(r!.ret).toBeCloseTo(0.08, 12);
    expect(r!.worstDrawdown).toBeCloseTo(-0.1, 12);
    expect(r!.underlying).toBeNull();
  });

  test("a day missing from a downsampled series reads the last day before it", () => {
    const dates = ["2020-01-02", "2020-01-07", "2020-01-10"];
    const [r] = stressResults(dates, [100, 80, 90], null, W);
    expect([r!.start, r!.end]).toEqual([0, 1]);
    expect(r!.ret).toBeCloseTo(-0.2, 12);
  });

  test("windows not wholly inside the series are left out", () => {
    expect(stressResults(["2020-01-05", "2020-01-09"], [1, 2], null, W)).toEqual([]);
    expect(stressResults(["2020-01-02", "2020-01-07"], [1, 2], null, W)).toEqual([]);
    expect(stressResults(["2020-01-02", "2020-01-09"], [null, 2], null, W)).toEqual([]);
  });

  test("the named windows are dated, ordered and each a span", () => {
    const iso = /^\d{4}-\d{2}-\d{2}$/;
    for (const w of STRESS_WINDOWS) {
      expect(w.from).toMatch(iso);
      expect(w.to).toMatch(iso);
      expect(w.from < w.to).toBe(true);
    }
    const starts = STRESS_WINDOWS.map((w) => w.from);
    expect([...starts].sort()).toEqual(starts);
  });

  test("1999-2018 holds the windows up to Q4 2018", () => {
    const dates: string[] = [];
    for (let t = Date.UTC(1999, 0, 4); t <= Date.UTC(2018, 11, 31); t += 86_400_000)
      dates.push(new Date(t).toISOString().slice(0, 10));
    const names = stressResults(
      dates,
      dates.map(() => 1),
    ).map((r) => r.name);
    expect(names).toHaveLength(STRESS_WINDOWS.length - 2);
    expect(names).toContain("Volmageddon, February 2018");
    expect(names).toContain("Q4 2018 sell-off");
    expect(names).not.toContain("COVID crash");
  });
});
