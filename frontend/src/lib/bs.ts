// Black–Scholes delta of a leg at entry (the trade list gives strikes and the payoff route the
// entry IVs, rate and dividend; the delta is derived here). Time in years of 365 days.

/** Standard normal cumulative distribution (Abramowitz–Stegun 7.1.26, error < 1.5e-7). */
export function normCdf(x: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(x)) / Math.SQRT2);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}

export function bsDelta(
  right: string,
  spot: number,
  strike: number,
  years: number,
  iv: number | null,
  rate: number,
  dividend: number,
): number | null {
  if (iv === null || !(iv > 0) || !(years > 0) || !(spot > 0) || !(strike > 0)) return null;
  const d1 =
    (Math.log(spot / strike) + (rate - dividend + (iv * iv) / 2) * years) / (iv * Math.sqrt(years));
  const carry = Math.exp(-dividend * years);
  return right === "C" ? carry * normCdf(d1) : carry * (normCdf(d1) - 1);
}
