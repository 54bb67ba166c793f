// Numbers the API does not give, computed in the browser from ONE run's daily series (or from a
// handful of compared runs): returns, drawdown periods, monthly and yearly returns, rolling
// statistics, histograms, correlations, Pareto fronts, variance shares.
// Conventions follow the KPI registry: simple daily returns, 252 days a year, risk-free 0.

export const YEAR = 252;

type Num = number | null | undefined;

function finite(x: Num): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/** Simple daily returns r[t] = e[t] / e[t-1] - 1 (r[0] = null; undefined around gaps). */
export function dailyReturns(equity: readonly Num[]): (number | null)[] {
  const out: (number | null)[] = new Array(equity.length).fill(null);
  for (let t = 1; t < equity.length; t++) {
    const a = equity[t - 1];
    const b = equity[t];
    out[t] = finite(a) && finite(b) && a > 0 ? b / a - 1 : null;
  }
  return out;
}

export function mean(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (ddof 1). */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

export function quantile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

/** The Omega ratio at 0: the sum of the gains over the sum of the losses (null without a
 *  loss). */
export function omegaRatio(returns: readonly number[]): number | null {
  let gains = 0;
  let losses = 0;
  for (const r of returns) {
    if (r > 0) gains += r;
    else losses -= r;
  }
  return losses > 0 ? gains / losses : null;
}

/** The tail ratio: the 95th percentile of the returns over the absolute 5th (`sorted`
 *  ascending; null when the 5th is 0). */
export function tailRatio(sorted: readonly number[]): number | null {
  if (!sorted.length) return null;
  const low = quantile(sorted, 0.05);
  return low < 0 ? quantile(sorted, 0.95) / -low : null;
}

/** The Ulcer index: the root mean square of the drawdown from the running peak, as a
 *  fraction (Martin's index over every day, not only the days under water). */
export function ulcerIndex(equity: readonly Num[]): number | null {
  let peak = -Infinity;
  let sum = 0;
  let n = 0;
  for (const e of equity) {
    if (!finite(e)) continue;
    peak = Math.max(peak, e);
    const dd = e / peak - 1;
    sum += dd * dd;
    n += 1;
  }
  return n ? Math.sqrt(sum / n) : null;
}

export interface DrawdownPeriod {
  start: number; // index of the peak
  trough: number;
  end: number | null; // index of the recovery (back at the peak), null if never
  depth: number; // negative fraction
}

/** The `n` deepest drawdown periods, deepest first (peak -> trough -> recovery). */
export function drawdownPeriods(equity: readonly Num[], n = 5): DrawdownPeriod[] {
  const periods: DrawdownPeriod[] = [];
  let peak = -Infinity;
  let peakAt = 0;
  let current: DrawdownPeriod | null = null;
  for (let t = 0; t < equity.length; t++) {
    const e = equity[t];
    if (!finite(e)) continue;
    if (e >= peak) {
      if (current) {
        current.end = t;
        periods.push(current);
        current = null;
      }
      peak = e;
      peakAt = t;
      continue;
    }
    const depth = e / peak - 1;
    if (!current) current = { start: peakAt, trough: t, end: null, depth };
    else if (depth < current.depth) {
      current.depth = depth;
      current.trough = t;
    }
  }
  if (current) periods.push(current);
  return periods.sort((a, b) => a.depth - b.depth).slice(0, n);
}

export interface PeriodReturn {
  year: number;
  month: number; // 1..12; 0 for a year
  ret: number;
}

function ym(date: string): [number, number] {
  return [Number(date.slice(0, 4)), Number(date.slice(5, 7))];
}

/** Compounded returns per calendar month: the month's last equity over the previous month's
 * (the first month over the first equity). */
export function monthlyReturns(dates: readonly string[], equity: readonly Num[]): PeriodReturn[] {
  return periodReturns(dates, equity, (d) => {
    const [y, m] = ym(d);
    return y * 100 + m;
  }).map(([key, ret]) => ({ year: Math.floor(key / 100), month: key % 100, ret }));
}

export function yearlyReturns(dates: readonly string[], equity: readonly Num[]): PeriodReturn[] {
  return periodReturns(dates, equity, (d) => ym(d)[0]).map(([year, ret]) => ({
    year,
    month: 0,
    ret,
  }));
}

function periodReturns(
  dates: readonly string[],
  equity: readonly Num[],
  keyOf: (d: string) => number,
): [number, number][] {
  const out: [number, number][] = [];
  let base: number | null = null;
  let lastKey: number | null = null;
  let lastValue: number | null = null;
  for (let t = 0; t < dates.length; t++) {
    const e = equity[t];
    if (!finite(e)) continue;
    const key = keyOf(dates[t]!);
    if (base === null) base = e;
    if (lastKey !== null && key !== lastKey && lastValue !== null) {
      out.push([lastKey, lastValue / base - 1]);
      base = lastValue;
    }
    lastKey = key;
    lastValue = e;
  }
  if (lastKey !== null && lastValue !== null && base !== null)
    out.push([lastKey, lastValue / base - 1]);
  return out;
}

/** Rolling annualised Sharpe (mean / std * sqrt(252)) and volatility (std * sqrt(252)) over
 * `window` returns; null until the window is full or where it holds an undefined return. */
export function rollingStats(
  returns: readonly Num[],
  window: number,
): { sharpe: (number | null)[]; vol: (number | null)[] } {
  const n = returns.length;
  const sharpe: (number | null)[] = new Array(n).fill(null);
  const vol: (number | null)[] = new Array(n).fill(null);
  let s = 0;
  let s2 = 0;
  let count = 0;
  for (let t = 0; t < n; t++) {
    const r = returns[t];
    if (finite(r)) {
      s += r;
      s2 += r * r;
      count++;
    }
    if (t >= window) {
      const old = returns[t - window];
      if (finite(old)) {
        s -= old;
        s2 -= old * old;
        count--;
      }
    }
    if (t >= window && count === window) {
      const m = s / count;
      const variance = Math.max((s2 - count * m * m) / (count - 1), 0);
      const sd = Math.sqrt(variance);
      vol[t] = sd * Math.sqrt(YEAR);
      sharpe[t] = sd > 1e-12 ? (m / sd) * Math.sqrt(YEAR) : null;
    }
  }
  return { sharpe, vol };
}

/** Rolling beta of `returns` to `market` (cov / var over the last `window` days on which both
 *  are defined, those days only); null until the window is full or where the market did not
 *  move. */
export function rollingBeta(
  returns: readonly Num[],
  market: readonly Num[],
  window: number,
): (number | null)[] {
  const n = returns.length;
  const out: (number | null)[] = new Array(n).fill(null);
  let sx = 0;
  let sy = 0;
  let sxy = 0;
  let sxx = 0;
  let count = 0;
  const both = (t: number) => finite(returns[t]) && finite(market[t]);
  for (let t = 0; t < n; t++) {
    if (both(t)) {
      const x = market[t] as number;
      const y = returns[t] as number;
      sx += x;
      sy += y;
      sxy += x * y;
      sxx += x * x;
      count++;
    }
    if (t >= window && both(t - window)) {
      const x = market[t - window] as number;
      const y = returns[t - window] as number;
      sx -= x;
      sy -= y;
      sxy -= x * y;
      sxx -= x * x;
      count--;
    }
    if (t >= window && count === window) {
      const varX = sxx - (sx * sx) / count;
      out[t] = varX > 1e-14 ? (sxy - (sx * sy) / count) / varX : null;
    }
  }
  return out;
}

export interface Histogram {
  edges: number[];
  counts: number[];
}

/** `bins` equal-width bins from the lowest to the highest finite value. */
export function histogram(values: readonly Num[], bins: number): Histogram {
  const xs = values.filter(finite);
  if (!xs.length) return { edges: [], counts: [] };
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (hi === lo) return { edges: [lo - 0.5, hi + 0.5], counts: [xs.length] };
  const width = (hi - lo) / bins;
  const counts = new Array(bins).fill(0) as number[];
  for (const x of xs) counts[Math.min(Math.floor((x - lo) / width), bins - 1)]! += 1;
  return { edges: Array.from({ length: bins + 1 }, (_, i) => lo + i * width), counts };
}

/** Pearson correlation of two equally long series, over the days both are defined. */
export function pearson(a: readonly Num[], b: readonly Num[]): number | null {
  let n = 0;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (finite(x) && finite(y)) {
      n++;
      sa += x;
      sb += y;
    }
  }
  if (n < 3) return null;
  const ma = sa / n;
  const mb = sb / n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (finite(x) && finite(y)) {
      cov += (x - ma) * (y - mb);
      va += (x - ma) ** 2;
      vb += (y - mb) ** 2;
    }
  }
  if (va <= 0 || vb <= 0) return null;
  return cov / Math.sqrt(va * vb);
}

/** Series aligned on the dates every one of them has (ascending). */
export function alignOnDates(
  series: readonly { dates: readonly string[]; values: readonly Num[] }[],
): { dates: string[]; values: (number | null)[][] } {
  if (!series.length) return { dates: [], values: [] };
  const maps = series.map((s) => {
    const m = new Map<string, Num>();
    s.dates.forEach((d, i) => m.set(d, s.values[i]));
    return m;
  });
  const dates = series[0]!.dates.filter((d) => maps.every((m) => m.has(d)));
  return {
    dates: [...dates],
    values: maps.map((m) =>
      dates.map((d) => {
        const v = m.get(d);
        return finite(v) ? v : null;
      }),
    ),
  };
}

/** Indices of the points no other point dominates (both objectives at least as good, one
 * strictly better); `higher[k]` says whether objective k is maximised. */
export function paretoFront(
  points: readonly [number, number][],
  higher: [boolean, boolean],
): number[] {
  const sign = higher.map((h) => (h ? 1 : -1)) as [number, number];
  const order = points
    .map((p, i) => ({ x: p[0] * sign[0], y: p[1] * sign[1], i }))
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
    .sort((a, b) => b.x - a.x || b.y - a.y);
  const front: number[] = [];
  let bestY = -Infinity;
  for (const p of order) {
    if (p.y > bestY) {
      front.push(p.i);
      bestY = p.y;
    }
  }
  return front;
}

/** Running best of a series (null stays the previous best). */
export function bestSoFar(values: readonly Num[], higher: boolean): (number | null)[] {
  let best: number | null = null;
  return values.map((v) => {
    if (finite(v) && (best === null || (higher ? v > best : v < best))) best = v;
    return best;
  });
}

export interface Group {
  n: number;
  mean: number;
}

/** The share of a metric's variance its groups explain alone (one-way ANOVA eta squared):
 * sum n_g (mean_g - mean)^2 / total sum of squares. */
export function etaSquared(
  groups: readonly Group[],
  totalMean: number,
  totalSumSquares: number,
): number {
  if (!(totalSumSquares > 0)) return 0;
  let between = 0;
  for (const g of groups)
    if (g.n > 0 && Number.isFinite(g.mean)) between += g.n * (g.mean - totalMean) ** 2;
  return Math.min(Math.max(between / totalSumSquares, 0), 1);
}

/** Eta squared of `values` grouped by `keys` (numeric keys with many values fall into
 * `maxGroups` quantile bins). */
export function etaSquaredOf(
  keys: readonly unknown[],
  values: readonly Num[],
  maxGroups = 10,
): number {
  const pairs: [unknown, number][] = [];
  keys.forEach((k, i) => {
    const v = values[i];
    if (finite(v)) pairs.push([k, v]);
  });
  if (pairs.length < 3) return 0;
  const distinct = new Set(pairs.map((p) => JSON.stringify(p[0])));
  let groupOf: (k: unknown) => string = (k) => JSON.stringify(k);
  const numeric = pairs.every((p) => typeof p[0] === "number");
  if (numeric && distinct.size > maxGroups) {
    const sorted = pairs.map((p) => p[0] as number).sort((a, b) => a - b);
    const cuts = Array.from({ length: maxGroups - 1 }, (_, i) =>
      quantile(sorted, (i + 1) / maxGroups),
    );
    groupOf = (k) => String(cuts.filter((c) => (k as number) > c).length);
  }
  const groups = new Map<string, number[]>();
  for (const [k, v] of pairs) {
    const g = groupOf(k);
    const list = groups.get(g);
    if (list) list.push(v);
    else groups.set(g, [v]);
  }
  const all = pairs.map((p) => p[1]);
  const m = mean(all);
  const ss = all.reduce((s, v) => s + (v - m) ** 2, 0);
  return etaSquared(
    [...groups.values()].map((vs) => ({ n: vs.length, mean: mean(vs) })),
    m,
    ss,
  );
}

/** Days between two ISO dates (calendar days). */
export function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(b) - Date.parse(a)) / 86_400_000);
}

/** A neighbourhood-smoothed matrix: per cell, the mean (or the worst) of the defined cells
 * within `radius` steps on both axes; a cell that is undefined stays undefined. */
export function smoothMatrix(
  values: readonly (readonly (number | null)[])[],
  radius: number,
  mode: "mean" | "worst",
  higherIsBetter: boolean,
): (number | null)[][] {
  return values.map((row, i) =>
    row.map((v, j) => {
      if (!finite(v)) return null;
      const around: number[] = [];
      for (let di = -radius; di <= radius; di++) {
        for (let dj = -radius; dj <= radius; dj++) {
          const w = values[i + di]?.[j + dj];
          if (finite(w)) around.push(w);
        }
      }
      if (mode === "mean") return mean(around);
      return higherIsBetter ? Math.min(...around) : Math.max(...around);
    }),
  );
}
