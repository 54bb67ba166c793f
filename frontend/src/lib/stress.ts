// Named market stress windows, and what one run's equity did in each: the question a short-vol
// trader asks first ("how did it do in Volmageddon?"). Each window runs from the S&P 500's
// close before the move to its close at the trough, so that a run's return over it is the
// index's episode as it happened, close to close.

import { isNum } from "./format";

type Num = number | null | undefined;

export interface StressWindow {
  name: string;
  from: string; // the index's close before the move (yyyy-mm-dd)
  to: string; // its close at the trough
}

/** Peak-to-trough S&P 500 closes, oldest first. */
export const STRESS_WINDOWS: readonly StressWindow[] = [
  { name: "Dot-com bust", from: "2000-03-24", to: "2002-10-09" },
  { name: "9/11", from: "2001-09-10", to: "2001-09-21" },
  { name: "Global financial crisis", from: "2007-10-09", to: "2009-03-09" },
  { name: "Lehman to the November low", from: "2008-09-12", to: "2008-11-20" },
  { name: "2010 flash crash and correction", from: "2010-04-23", to: "2010-07-02" },
  { name: "US downgrade, August 2011", from: "2011-07-22", to: "2011-10-03" },
  { name: "China devaluation, August 2015", from: "2015-08-17", to: "2015-08-25" },
  { name: "Volmageddon, February 2018", from: "2018-01-26", to: "2018-02-08" },
  { name: "Q4 2018 sell-off", from: "2018-09-20", to: "2018-12-24" },
  { name: "COVID crash", from: "2020-02-19", to: "2020-03-23" },
  { name: "2022 bear market", from: "2022-01-03", to: "2022-10-12" },
];

export interface StressResult extends StressWindow {
  /** the run's days read: the last on or before `from` and the last on or before `to` */
  start: number;
  end: number;
  ret: number;
  /** the deepest fall of the run's equity below its running peak within the window */
  worstDrawdown: number;
  /** the underlying's return over the same days, when the series has a spot column */
  underlying: number | null;
}

/** The last index whose date is on or before `date` (-1 if none); `dates` ascending. */
function lastOnOrBefore(dates: readonly string[], date: string): number {
  let lo = 0;
  let hi = dates.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (dates[mid]! <= date) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The windows wholly inside the series' dates, with the run's return and worst drawdown over
 *  each (and the underlying's return, given `spot`). A window whose start or end equity is
 *  missing is left out. */
export function stressResults(
  dates: readonly string[],
  equity: readonly Num[],
  spot: readonly Num[] | null = null,
  windows: readonly StressWindow[] = STRESS_WINDOWS,
): StressResult[] {
  if (dates.length < 2) return [];
  const first = dates[0]!;
  const last = dates[dates.length - 1]!;
  const out: StressResult[] = [];
  for (const w of windows) {
    if (w.from < first || w.to > last) continue;
    const start = lastOnOrBefore(dates, w.from);
    const end = lastOnOrBefore(dates, w.to);
    const e0 = equity[start];
    const e1 = equity[end];
    if (start < 0 || end <= start || !isNum(e0) || !isNum(e1) || e0 <= 0) continue;
    let peak = e0;
    let worst = 0;
    for (let t = start; t <= end; t++) {
      const e = equity[t];
      if (!isNum(e)) continue;
      if (e > peak) peak = e;
      else worst = Math.min(worst, e / peak - 1);
    }
    const s0 = spot?.[start];
    const s1 = spot?.[end];
    out.push({
      ...w,
      start,
      end,
      ret: e1 / e0 - 1,
      worstDrawdown: worst,
      underlying: isNum(s0) && isNum(s1) && s0 > 0 ? s1 / s0 - 1 : null,
    });
  }
  return out;
}
