// Number formatting: every number the browser shows goes through here, with its unit.
// Undefined values (null, NaN, infinities) are an en dash, never "NaN" or "0".

export type Unit = "ratio" | "fraction" | "currency" | "days" | "count";

export const DASH = "–";

const cache = new Map<string, Intl.NumberFormat>();
function nf(options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = JSON.stringify(options);
  let f = cache.get(key);
  if (!f) {
    f = new Intl.NumberFormat("en-US", options);
    cache.set(key, f);
  }
  return f;
}

export function isNum(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/** A plain number with `digits` decimals and thousands separators. */
export function fmtNumber(x: number | null | undefined, digits = 2): string {
  if (!isNum(x)) return DASH;
  return nf({ minimumFractionDigits: digits, maximumFractionDigits: digits }).format(x);
}

/** 0.1147 -> "11.47%". */
export function fmtPct(x: number | null | undefined, digits = 2, signed = false): string {
  if (!isNum(x)) return DASH;
  return nf({
    style: "percent",
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    signDisplay: signed ? "exceptZero" : "auto",
  }).format(x);
}

/** A fraction in basis points: 0.0012 -> "12 bp". */
export function fmtBp(x: number | null | undefined, digits = 0, signed = false): string {
  if (!isNum(x)) return DASH;
  const s = nf({
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    signDisplay: signed ? "exceptZero" : "auto",
  }).format(x * 10_000);
  return `${s} bp`;
}

/** Account currency (the chains are USD index options): 196524.5 -> "$196,525". */
export function fmtMoney(x: number | null | undefined, digits = 0, signed = false): string {
  if (!isNum(x)) return DASH;
  return nf({
    style: "currency",
    currency: "USD",
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    signDisplay: signed ? "exceptZero" : "auto",
  }).format(x);
}

/** Compact money for cards and axes: 196524.5 -> "$197K". */
export function fmtMoneyCompact(x: number | null | undefined): string {
  if (!isNum(x)) return DASH;
  return nf({
    style: "currency",
    currency: "USD",
    notation: "compact",
    maximumFractionDigits: 1,
  }).format(x);
}

export function fmtInt(x: number | null | undefined): string {
  if (!isNum(x)) return DASH;
  return nf({ maximumFractionDigits: 0 }).format(x);
}

/** The size of a "top N" list as a title says it: N, or the count there is when fewer (a
 * sweep of 3 distinct outcomes shows its top 3, not "Top 50"); N while the count is unknown. */
export function shownTop(n: number, available: number | null | undefined): number {
  return isNum(available) && available > 0 ? Math.min(n, available) : n;
}

export function fmtDays(x: number | null | undefined, digits = 0): string {
  if (!isNum(x)) return DASH;
  return `${fmtNumber(x, digits)} d`;
}

/** A value of a KPI by its registry unit. */
export function fmtUnit(
  x: number | null | undefined,
  unit: Unit | string,
  opts: { signed?: boolean } = {},
): string {
  const signed = opts.signed ?? false;
  switch (unit) {
    case "fraction":
      return fmtPct(x, 2, signed);
    case "currency":
      return fmtMoney(x, 0, signed);
    case "days":
      return fmtDays(x, isNum(x) && Math.abs(x) < 100 && !Number.isInteger(x) ? 1 : 0);
    case "count":
      return fmtInt(x);
    default:
      if (!isNum(x)) return DASH;
      return nf({
        minimumFractionDigits: 2,
        maximumFractionDigits: 2,
        signDisplay: signed ? "exceptZero" : "auto",
      }).format(x);
  }
}

/** A difference between two values of a KPI: fractions in bp, others in their unit. */
export function fmtDiff(d: number | null | undefined, unit: Unit | string): string {
  if (!isNum(d)) return DASH;
  if (unit === "fraction") return fmtBp(d, 0, true);
  return fmtUnit(d, unit, { signed: true });
}

/** A grid or trial parameter value: null is a rule that is off. */
export function fmtParam(v: unknown): string {
  if (v === null || v === undefined) return "off";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return DASH;
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(6)));
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

/** A dotted path's last two segments, reaching back to the list when an index is among them,
 *  so that legs stay apart: "structure.legs.1.select.target" -> "legs.1.select.target",
 *  "exit.dte" -> "exit.dte". */
export function shortPath(path: string): string {
  const parts = path.split(".");
  const index = parts.reduce((last, part, i) => (/^\d+$/.test(part) ? i : last), -1);
  const start = Math.max(0, Math.min(parts.length - 2, index < 0 ? Infinity : index - 1));
  return parts.slice(start).join(".");
}

export function fmtDuration(seconds: number | null | undefined): string {
  if (!isNum(seconds)) return DASH;
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${s} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

/** An ISO timestamp as "2026-12-04 22:42" (UTC, as written by gridbt). */
export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]}` : iso;
}

/** A probability as a plain percentage with no decimals below 1%. */
export function fmtProb(x: number | null | undefined): string {
  if (!isNum(x)) return DASH;
  if (x > 0 && x < 0.01) return "<1%";
  if (x > 0.995) return ">99%";
  return fmtPct(x, 0);
}

/** Axis labels: the fewest decimals (from `min` up to 4) that tell every tick apart. A null
 *  tick (one a log axis leaves unlabelled) gets no label and is not counted. */
export function axisLabels(
  values: readonly (number | null)[],
  fmt: (v: number, digits: number) => string,
  min = 0,
): string[] {
  const shown = values.filter((v): v is number => v !== null);
  let digits = 4;
  for (let d = min; d <= 4; d++) {
    if (new Set(shown.map((v) => fmt(v, d))).size === shown.length) {
      digits = d;
      break;
    }
  }
  return values.map((v) => (v === null ? "" : fmt(v, digits)));
}

/** Decimals for a percent axis over `values` (fractions, the axis starting at 0): enough to
 *  tell ECharts' ~5 ticks apart (a year of 0.6% needs 0.1% steps, not "0% 0% 1% 1%"). */
export function pctAxisDigits(values: readonly number[]): number {
  const finite = values.filter(isNum);
  const span = 100 * (Math.max(0, ...finite) - Math.min(0, ...finite));
  if (!(span > 0)) return 0;
  const step = span / 5;
  return step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step)));
}

/** Compact money with a given number of decimals for axes: "$1.05M", "$250K". */
export function fmtMoneyAxis(x: number, digits = 0): string {
  if (!isNum(x)) return DASH;
  const a = Math.abs(x);
  const [div, suffix] =
    a >= 1e9 ? [1e9, "B"] : a >= 1e6 ? [1e6, "M"] : a >= 1e3 ? [1e3, "K"] : [1, ""];
  return `${x < 0 ? "-" : ""}$${(a / div).toFixed(digits)}${suffix}`;
}

/** A count with its noun: "1 study", "2 studies", "1,204 sweeps". */
export function plural(count: number, one: string, many: string): string {
  return `${fmtInt(count)} ${count === 1 ? one : many}`;
}
