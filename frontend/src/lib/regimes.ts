// Daily returns broken down by market regime: terciles of a chain feature (the volatility
// level, its rank in its year's range, the trend) over the run's days. A day's return is put
// in the regime its previous close showed, as a trader would have seen it before the day.

import { isNum } from "./format";
import { mean, std, YEAR } from "./stats";

type Num = number | null | undefined;

export interface RegimeRow {
  /** the feature's range over the tercile's days */
  lo: number;
  hi: number;
  days: number;
  /** compounded return over the tercile's days */
  ret: number;
  mean: number;
  /** annualised: mean / std * sqrt(252); null with fewer than two days or no variance */
  sharpe: number | null;
  /** the share of the days with a positive return */
  hit: number;
}

/** The three terciles (low, middle, high) of `feature` at the previous day, each with the
 *  returns it preceded; null with fewer than 3 usable days. `returns[t]` is the return into
 *  day t (as `dailyReturns` gives). */
export function regimeTerciles(
  returns: readonly Num[],
  feature: readonly Num[],
): RegimeRow[] | null {
  const pairs: [number, number][] = [];
  for (let t = 1; t < returns.length; t++) {
    const r = returns[t];
    const f = feature[t - 1];
    if (isNum(r) && isNum(f)) pairs.push([f, r]);
  }
  if (pairs.length < 3) return null;
  pairs.sort((a, b) => a[0] - b[0]);
  const n = pairs.length;
  const cuts = [0, Math.round(n / 3), Math.round((2 * n) / 3), n];
  return [0, 1, 2].map((k) => {
    const part = pairs.slice(cuts[k], cuts[k + 1]);
    const rs = part.map((p) => p[1]);
    const m = mean(rs);
    const sd = std(rs); // NaN with one day: no Sharpe
    return {
      lo: part[0]?.[0] ?? NaN,
      hi: part[part.length - 1]?.[0] ?? NaN,
      days: rs.length,
      ret: rs.reduce((g, r) => g * (1 + r), 1) - 1,
      mean: m,
      sharpe: sd > 0 ? (m / sd) * Math.sqrt(YEAR) : null,
      hit: rs.filter((r) => r > 0).length / (rs.length || 1),
    };
  });
}
