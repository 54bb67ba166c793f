import { describe, expect, test } from "vitest";
import type { Trade } from "../api/client";
import {
  breakdown,
  compareCells,
  dteBucket,
  idlePeriods,
  ivRankBucket,
  matchesSearch,
  sortBy,
  structureName,
  toCsv,
  tradeCsv,
  tradeRow,
  vixBucket,
} from "./table";

function trade(n: number, over: Partial<Trade> = {}): Trade {
  return {
    number: n,
    entry_date: "2024-01-02",
    exit_date: "2024-01-20",
    exit_reason: "profit_target",
    direction: 1,
    contracts: 1,
    entry_premium: -905,
    entry_cash: 905,
    exit_cash: -142.5,
    commissions: 1.3,
    pnl: 761.2,
    mae: -50,
    mfe: 792.5,
    days_held: 18,
    extra: {},
    legs: [
      {
        right: "P",
        strike: 1700,
        expiry: "2024-02-01",
        units: -1,
        entry_fill: 9.05,
        exit_fill: 1.425,
        settled: false,
      },
    ],
    ...over,
  };
}

describe("table logic", () => {
  test("undefined values sort last either way", () => {
    const rows = [{ v: 2 }, { v: null }, { v: 3 }, { v: NaN }, { v: 1 }];
    expect(sortBy(rows, (r) => r.v).map((r) => r.v)).toEqual([1, 2, 3, null, NaN]);
    expect(sortBy(rows, (r) => r.v, true).map((r) => r.v)).toEqual([3, 2, 1, null, NaN]);
    expect(compareCells("b", "a")).toBeGreaterThan(0);
    expect(compareCells(1, "a")).toBeLessThan(0);
  });
  test("search needs every word somewhere", () => {
    expect(matchesSearch(["short_put_grid", "sweep"], "put sweep")).toBe(true);
    expect(matchesSearch(["short_put_grid"], "call")).toBe(false);
    expect(matchesSearch(["x"], "")).toBe(true);
  });
  test("a trade row has its DTE, structure and share of max profit", () => {
    const r = tradeRow(trade(0));
    expect(r.dte).toBe(30);
    expect(r.structure).toBe("short put");
    expect(r.strikes).toBe("−P1700");
    expect(r.pctMaxProfit).toBeCloseTo(761.2 / 905, 12);
    expect(r.weekday).toBe("Tue");
    expect(r.month).toBe("Jan");
    expect(tradeRow(trade(1, { entry_cash: -300 })).pctMaxProfit).toBeNull();
  });
  test("structures are named from the legs", () => {
    const leg = (right: string, strike: number, units: number) => ({ right, strike, units });
    expect(structureName([leg("P", 100, -1), leg("C", 110, -1)])).toBe("short strangle");
    expect(structureName([leg("P", 100, -1), leg("C", 100, -1)])).toBe("short straddle");
    expect(structureName([leg("P", 100, -1), leg("P", 90, 1)])).toBe("put spread");
    expect(
      structureName([leg("P", 100, -1), leg("P", 90, 1), leg("C", 110, -1), leg("C", 120, 1)]),
    ).toBe("iron condor");
  });
  test("breakdowns count, win rate and P&L per group, in calendar order", () => {
    const rows = [
      tradeRow(trade(0)),
      tradeRow(trade(1, { pnl: -200, exit_reason: "stop_loss", entry_date: "2024-01-01" })),
      tradeRow(trade(2, { pnl: 100 })),
    ];
    const byReason = breakdown(rows, "exit_reason");
    expect(byReason[0]).toEqual({
      key: "profit_target",
      count: 2,
      winRate: 1,
      total: 861.2,
      avg: 430.6,
    });
    expect(byReason[1]!.winRate).toBe(0);
    expect(breakdown(rows, "weekday").map((b) => b.key)).toEqual(["Mon", "Tue"]);
    expect(dteBucket(30)).toBe("22–35");
    expect(dteBucket(null)).toBe("unknown");
  });
  test("breakdowns by the regime at entry: VIX points and fifths of the IV rank", () => {
    const at = (vix: number | null, ivRank: number | null, pnl: number) =>
      tradeRow(trade(0, { pnl, entry_regime: { vix_30: vix, iv_rank: ivRank } }));
    const rows = [at(0.12, 0.1, 100), at(0.22, 0.95, -50), at(0.35, 1, 300), at(null, null, 7)];
    expect(breakdown(rows, "vix").map((b) => [b.key, b.total])).toEqual([
      ["<15", 100],
      ["20–25", -50],
      ["30+", 300],
      ["unknown", 7],
    ]);
    expect(breakdown(rows, "iv_rank").map((b) => [b.key, b.count])).toEqual([
      ["0–20%", 1],
      ["80–100%", 2],
      ["unknown", 1],
    ]);
    expect([vixBucket(0.15), vixBucket(0.1999), ivRankBucket(0.2), ivRankBucket(0)]).toEqual([
      "15–20",
      "15–20",
      "20–40%",
      "0–20%",
    ]);
    // a trade without the chain at hand has no regime
    expect(tradeRow(trade(0)).vix).toBeNull();
  });
  test("CSV quotes what needs quoting", () => {
    expect(
      toCsv(
        ["a", "b"],
        [
          [1, 'x,"y"'],
          [null, NaN],
        ],
      ),
    ).toBe('a,b\r\n1,"x,""y"""\r\n,\r\n');
    const csv = tradeCsv([tradeRow(trade(0))]);
    expect(csv.split("\r\n")[1]).toContain("short put,-1 P 1700 2024-02-01,30,1,905");
  });
  test("idle periods are the gaps between trades", () => {
    const rows = [
      tradeRow(trade(0, { entry_date: "2024-01-02", exit_date: "2024-01-10" })),
      tradeRow(trade(1, { entry_date: "2024-02-10", exit_date: "2024-02-20" })),
    ];
    expect(idlePeriods(rows, "2024-01-02", "2024-03-31", 10)).toEqual([
      { from: "2024-01-10", to: "2024-02-10", days: 31 },
      { from: "2024-02-20", to: "2024-03-31", days: 40 },
    ]);
  });
});
