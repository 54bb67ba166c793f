// Table logic that is not drawing: sorting with undefined values last, trade rows with what
// the trade list implies (DTE, structure, % of max profit), breakdowns, CSV.

import type { Trade } from "../api/client";
import { daysBetween } from "./stats";

export type Cell = number | string | boolean | null | undefined;

/** Compare two cells: numbers, then text, then booleans; undefined (null, NaN) always last. */
export function compareCells(a: Cell, b: Cell, descending = false): number {
  const au = a === null || a === undefined || (typeof a === "number" && Number.isNaN(a));
  const bu = b === null || b === undefined || (typeof b === "number" && Number.isNaN(b));
  if (au || bu) return au === bu ? 0 : au ? 1 : -1;
  const rank = (v: Cell) => (typeof v === "number" ? 0 : typeof v === "string" ? 1 : 2);
  const ra = rank(a);
  const rb = rank(b);
  let c: number;
  if (ra !== rb) c = ra - rb;
  else if (typeof a === "number" && typeof b === "number") c = a - b;
  else c = String(a).localeCompare(String(b));
  return descending ? -c : c;
}

export function sortBy<T>(rows: readonly T[], key: (row: T) => Cell, descending = false): T[] {
  return rows
    .map((row, i) => ({ row, i, k: key(row) }))
    .sort((x, y) => compareCells(x.k, y.k, descending) || x.i - y.i)
    .map((x) => x.row);
}

/** A case-insensitive search over the given fields: every word must appear in one of them. */
export function matchesSearch(
  fields: readonly (string | null | undefined)[],
  query: string,
): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const text = fields.filter(Boolean).join(" ").toLowerCase();
  return words.every((w) => text.includes(w));
}

export interface TradeRow {
  trade: Trade;
  number: number;
  entry: string;
  exit: string;
  dte: number | null; // calendar days from entry to the first expiry
  structure: string;
  strikes: string;
  credit: number | null; // entry cash: > 0 a credit received, < 0 a debit paid
  pnl: number | null;
  pctMaxProfit: number | null; // of a credit: pnl / credit
  daysHeld: number;
  exitReason: string;
  mae: number | null;
  mfe: number | null;
  weekday: string;
  month: string;
  win: boolean | null;
  vix: number | null; // the chain's VIX (decimal) at the entry day's close
  ivRank: number | null; // the IV rank (0..1) at the entry day's close
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
export const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

/** "short put", "short strangle", "iron condor", ... from the legs' rights and signs. */
export function structureName(
  legs: readonly { right: string; units: number; strike: number }[],
): string {
  if (!legs.length) return "none";
  const short = legs.filter((l) => l.units < 0);
  const long = legs.filter((l) => l.units > 0);
  const puts = legs.filter((l) => l.right === "P").length;
  const calls = legs.filter((l) => l.right === "C").length;
  if (legs.length === 1) return `${short.length ? "short" : "long"} ${puts ? "put" : "call"}`;
  if (legs.length === 2 && puts === 1 && calls === 1) {
    const side = short.length === 2 ? "short" : long.length === 2 ? "long" : "mixed";
    const strikes = new Set(legs.map((l) => l.strike));
    return `${side} ${strikes.size === 1 ? "straddle" : "strangle"}`;
  }
  if (legs.length === 2 && (puts === 2 || calls === 2) && short.length === 1)
    return `${puts ? "put" : "call"} spread`;
  if (legs.length === 4 && puts === 2 && calls === 2)
    return short.length === 2 ? "iron condor" : "4 legs";
  return `${legs.length} legs`;
}

export function tradeRow(trade: Trade): TradeRow {
  const expiries = trade.legs.map((l) => l.expiry).sort();
  const dte = expiries.length ? daysBetween(trade.entry_date, expiries[0]!) : null;
  const credit = trade.entry_cash;
  const pnl = trade.pnl;
  const day = new Date(`${trade.entry_date}T00:00:00Z`);
  return {
    trade,
    number: trade.number,
    entry: trade.entry_date,
    exit: trade.exit_date,
    dte,
    structure: structureName(trade.legs),
    strikes: trade.legs.map((l) => `${l.units < 0 ? "−" : "+"}${l.right}${l.strike}`).join(" "),
    credit,
    pnl,
    pctMaxProfit: credit !== null && pnl !== null && credit > 0 ? pnl / credit : null,
    daysHeld: trade.days_held,
    exitReason: trade.exit_reason,
    mae: trade.mae,
    mfe: trade.mfe,
    weekday: WEEKDAYS[day.getUTCDay()] ?? "",
    month: MONTHS[day.getUTCMonth()] ?? "",
    win: pnl === null ? null : pnl > 0,
    vix: trade.entry_regime?.vix_30 ?? null,
    ivRank: trade.entry_regime?.iv_rank ?? null,
  };
}

/** The DTE bucket of a trade (calendar days to the first expiry at entry). */
export function dteBucket(dte: number | null): string {
  if (dte === null) return "unknown";
  const edges: [number, string][] = [
    [7, "0–7"],
    [21, "8–21"],
    [35, "22–35"],
    [49, "36–49"],
    [63, "50–63"],
  ];
  for (const [hi, label] of edges) if (dte <= hi) return label;
  return "64+";
}

/** The VIX bucket of a trade at entry (VIX points). */
export function vixBucket(vix: number | null): string {
  if (vix === null) return "unknown";
  const points = 100 * vix;
  return points < 15
    ? "<15"
    : points < 20
      ? "15–20"
      : points < 25
        ? "20–25"
        : points < 30
          ? "25–30"
          : "30+";
}

/** The IV-rank bucket of a trade at entry (fifths of the year's range). */
export function ivRankBucket(rank: number | null): string {
  if (rank === null) return "unknown";
  const k = Math.min(Math.floor(rank * 5), 4);
  return IV_RANK_BUCKETS[k]!;
}

const IV_RANK_BUCKETS = ["0–20%", "20–40%", "40–60%", "60–80%", "80–100%"];

export type BreakdownKey =
  "exit_reason" | "dte" | "vix" | "iv_rank" | "weekday" | "month" | "structure";

export interface BreakdownRow {
  key: string;
  count: number;
  winRate: number | null;
  total: number;
  avg: number | null;
}

const ORDER: Record<BreakdownKey, readonly string[] | null> = {
  exit_reason: null,
  dte: ["0–7", "8–21", "22–35", "36–49", "50–63", "64+", "unknown"],
  vix: ["<15", "15–20", "20–25", "25–30", "30+", "unknown"],
  iv_rank: [...IV_RANK_BUCKETS, "unknown"],
  weekday: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
  month: MONTHS,
  structure: null,
};

export function breakdown(rows: readonly TradeRow[], by: BreakdownKey): BreakdownRow[] {
  const keyOf: Record<BreakdownKey, (r: TradeRow) => string> = {
    exit_reason: (r) => r.exitReason,
    dte: (r) => dteBucket(r.dte),
    vix: (r) => vixBucket(r.vix),
    iv_rank: (r) => ivRankBucket(r.ivRank),
    weekday: (r) => r.weekday,
    month: (r) => r.month,
    structure: (r) => r.structure,
  };
  const groups = new Map<string, TradeRow[]>();
  for (const r of rows) {
    const k = keyOf[by](r);
    const list = groups.get(k);
    if (list) list.push(r);
    else groups.set(k, [r]);
  }
  const out = [...groups.entries()].map(([key, list]) => {
    const pnls = list.map((r) => r.pnl).filter((p): p is number => p !== null);
    const wins = pnls.filter((p) => p > 0).length;
    const total = pnls.reduce((s, p) => s + p, 0);
    return {
      key,
      count: list.length,
      winRate: pnls.length ? wins / pnls.length : null,
      total,
      avg: pnls.length ? total / pnls.length : null,
    };
  });
  const order = ORDER[by];
  if (order) return out.sort((a, b) => order.indexOf(a.key) - order.indexOf(b.key));
  return out.sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
}

function csvCell(v: Cell): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "number" ? (Number.isFinite(v) ? String(v) : "") : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV with a header row. */
export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

export const TRADE_CSV_HEADER = [
  "number",
  "entry_date",
  "exit_date",
  "structure",
  "legs",
  "dte_at_entry",
  "contracts",
  "entry_cash",
  "commissions",
  "pnl",
  "pct_of_max_profit",
  "days_held",
  "exit_reason",
  "mae",
  "mfe",
  "vix_at_entry",
  "iv_rank_at_entry",
];

export function tradeCsv(rows: readonly TradeRow[]): string {
  return toCsv(
    TRADE_CSV_HEADER,
    rows.map((r) => [
      r.number,
      r.entry,
      r.exit,
      r.structure,
      r.trade.legs.map((l) => `${l.units} ${l.right} ${l.strike} ${l.expiry}`).join("; "),
      r.dte,
      r.trade.contracts,
      r.credit,
      r.trade.commissions,
      r.pnl,
      r.pctMaxProfit,
      r.daysHeld,
      r.exitReason,
      r.mae,
      r.mfe,
      r.vix,
      r.ivRank,
    ]),
  );
}

/** Gaps between trades of at least `minDays` calendar days (flat periods). */
export function idlePeriods(
  rows: readonly TradeRow[],
  first: string | null,
  last: string | null,
  minDays = 10,
): { from: string; to: string; days: number }[] {
  const sorted = [...rows].sort((a, b) => a.entry.localeCompare(b.entry));
  const out: { from: string; to: string; days: number }[] = [];
  let cursor = first;
  for (const r of sorted) {
    if (cursor && r.entry > cursor) {
      const days = daysBetween(cursor, r.entry);
      if (days >= minDays) out.push({ from: cursor, to: r.entry, days });
    }
    if (!cursor || r.exit > cursor) cursor = r.exit;
  }
  if (cursor && last && last > cursor) {
    const days = daysBetween(cursor, last);
    if (days >= minDays) out.push({ from: cursor, to: last, days });
  }
  return out;
}
