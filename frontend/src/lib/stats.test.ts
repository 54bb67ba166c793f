import { describe, expect, test } from "vitest";
import {
  alignOnDates,
  bestSoFar,
  dailyReturns,
  drawdownPeriods,
  etaSquaredOf,
  histogram,
  monthlyReturns,
  omegaRatio,
  paretoFront,
  pearson,
  rollingBeta,
  rollingStats,
  smoothMatrix,
  std,
  tailRatio,
  ulcerIndex,
  yearlyReturns,
} from "./stats";

describe("derived statistics", () => {
  test("daily returns are simple returns, undefined around gaps", () => {
    expect(dailyReturns([100, 110, null, 99])).toEqual([null, 0.10000000000000009, null, null]);
  });
  test("drawdown periods: deepest first, with peak, trough and recovery", () => {
    const eq = [100, 90, 95, 101, 80, 85, 102, 101];
    const p = drawdownPeriods(eq, 5);
    expect(p.map((d) => [d.start, d.trough, d.end])).toEqual([
      [3, 4, 6],
      [0, 1, 3],
      [6, 7, null],
    ]);
    expect(p[0]!.depth).toBeCloseTo(80 / 101 - 1, 12);
    expect(drawdownPeriods(eq, 1)).toHaveLength(1);
  });
  test("monthly and yearly returns compound to the total", () => {
    const dates = [
      "2020-01-02",
      "2020-01-31",
      "2020-02-03",
      "2020-02-28",
      "2021-01-04",
      "2021-01-29",
    ];
    const eq = [100, 110, 105, 121, 120, 132];
    const m = monthlyReturns(dates, eq);
    expect(m.map((r) => [r.year, r.month])).toEqual([
      [2020, 1],
      [2020, 2],
      [2021, 1],
    ]);
    expect(m[0]!.ret).toBeCloseTo(0.1, 12);
    expect(m[1]!.ret).toBeCloseTo(0.1, 12);
    expect(m[2]!.ret).toBeCloseTo(132 / 121 - 1, 12);
    const total = m.reduce((acc, r) => acc * (1 + r.ret), 1) - 1;
    expect(total).toBeCloseTo(0.32, 12);
    const y = yearlyReturns(dates, eq);
    expect(y.map((r) => r.year)).toEqual([2020, 2021]);
    expect((1 + y[0]!.ret) * (1 + y[1]!.ret) - 1).toBeCloseTo(0.32, 12);
  });
  test("rolling Sharpe and volatility equal the direct computation", () => {
    const r = [null, 0.01, -0.005, 0.02, 0.0, 0.003, -0.01, 0.007];
    const { sharpe, vol } = rollingStats(r, 4);
    const window = [0.0, 0.003, -0.01, 0.007];
    const m = window.reduce((a, b) => a + b, 0) / 4;
    expect(vol[7]).toBeCloseTo(std(window) * Math.sqrt(252), 10);
    expect(sharpe[7]).toBeCloseTo((m / std(window)) * Math.sqrt(252), 10);
    expect(sharpe.slice(0, 4)).toEqual([null, null, null, null]);
  });
  test("histogram counts every finite value once", () => {
    const h = histogram([0, 1, 2, 3, 4, null, NaN], 4);
    expect(h.counts).toEqual([1, 1, 1, 2]);
    expect(h.edges).toEqual([0, 1, 2, 3, 4]);
    expect(histogram([], 4)).toEqual({ edges: [], counts: [] });
  });
  test("correlation of aligned series", () => {
    expect(pearson([1, 2, 3, 4], [2, 4, 6, 8])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3, 4], [8, 6, 4, 2])).toBeCloseTo(-1, 12);
    expect(pearson([1, 1, 1, 1], [1, 2, 3, 4])).toBeNull();
    const a = alignOnDates([
      { dates: ["d1", "d2", "d3"], values: [1, 2, 3] },
      { dates: ["d2", "d3", "d4"], values: [20, 30, 40] },
    ]);
    expect(a).toEqual({
      dates: ["d2", "d3"],
      values: [
        [2, 3],
        [20, 30],
      ],
    });
  });
  test("the Pareto front keeps the non-dominated points by each direction", () => {
    const pts: [number, number][] = [
      [3, 0.1],
      [2, 0.05],
      [1, 0.2],
      [2.5, 0.12],
      [3, 0.08],
    ];
    // maximise the first, minimise the second
    expect(paretoFront(pts, [true, false]).sort()).toEqual([1, 4]);
    expect(paretoFront(pts, [true, true]).sort()).toEqual([0, 2, 3]);
  });
  test("best so far follows the direction", () => {
    expect(bestSoFar([1, 3, 2, null, 5], true)).toEqual([1, 3, 3, 3, 5]);
    expect(bestSoFar([0.2, 0.1, 0.3], false)).toEqual([0.2, 0.1, 0.1]);
  });
  test("eta squared: a key that explains everything is 1, noise about 0", () => {
    expect(etaSquaredOf(["a", "a", "b", "b"], [1, 1, 5, 5])).toBeCloseTo(1, 12);
    expect(etaSquaredOf(["a", "b", "a", "b"], [1, 1, 5, 5])).toBeCloseTo(0, 12);
  });
  test("smoothing keeps unevaluated cells empty and takes the worst by direction", () => {
    const m = [
      [1, 2, null],
      [3, 4, 5],
    ];
    expect(smoothMatrix(m, 1, "mean", true)).toEqual([
      [2.5, 3, null],
      [2.5, 3, 11 / 3],
    ]);
    expect(smoothMatrix(m, 1, "worst", true)[1]![2]).toBe(2);
    expect(smoothMatrix(m, 1, "worst", false)[0]![0]).toBe(4);
  });
});

describe("tail and pain ratios", () => {
  test("Omega at 0: gains over losses", () => {
    expect(omegaRatio([0.02, -0.01, 0.01, -0.02, 0])).toBeCloseTo(0.03 / 0.03, 12);
    expect(omegaRatio([0.01, 0.02])).toBeNull();
  });
  test("tail ratio: the 95th percentile over the absolute 5th", () => {
    // 21 returns -10..10 (in %): the 5th percentile is -9, the 95th 9
    const sorted = Array.from({ length: 21 }, (_, i) => (i - 10) / 100);
    expect(tailRatio(sorted)).toBeCloseTo(1, 12);
    const skewed = sorted.map((r) => (r > 0 ? r / 3 : r));
    expect(tailRatio(skewed)).toBeCloseTo(0.03 / 0.09, 12);
    expect(tailRatio([0, 0.1])).toBeNull();
  });
  test("Ulcer index: the root mean square drawdown over every day", () => {
    // drawdowns 0, -0.1, -0.2, 0 (a new peak): sqrt((0.01 + 0.04) / 4)
    expect(ulcerIndex([100, 90, 80, 120])).toBeCloseTo(Math.sqrt(0.05 / 4), 12);
    expect(ulcerIndex([1, 2, 3])).toBe(0);
    expect(ulcerIndex([])).toBeNull();
  });
});

describe("rolling beta", () => {
  test("cov / var over the window, against a least-squares fit by hand", () => {
    const market = [null, 0.01, -0.02, 0.015, 0.005, -0.01, 0.02];
    // y = 0.5 x + 0.001 exactly: beta 0.5 in every full window
    const returns = market.map((m) => (m === null ? null : 0.5 * m + 0.001));
    const beta = rollingBeta(returns, market, 3);
    expect(beta.slice(0, 3)).toEqual([null, null, null]);
    for (const b of beta.slice(3)) expect(b).toBeCloseTo(0.5, 10);
  });
  test("a window with a missing day is not full; a flat market has no beta", () => {
    const market = [null, 0.01, 0.02, null, 0.01, 0.03, 0.02];
    const beta = rollingBeta([null, 0.01, 0.02, 0.01, 0.01, 0.01, 0.01], market, 2);
    expect(beta[3]).toBeNull(); // [0.02 and the missing day]
    expect(beta[4]).toBeNull(); // [the missing day and 0.01]
    expect(beta[5]).toBeCloseTo(0, 10); // returns flat while the market moves
    expect(rollingBeta([null, 0.01, 0.02, 0.03], [null, 0.01, 0.01, 0.01], 2)[3]).toBeNull();
  });
});
