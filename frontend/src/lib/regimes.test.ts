import { describe, expect, test } from "vitest";
import { regimeTerciles } from "./regimes";

describe("regime terciles", () => {
  test("each return goes to the regime of the previous close, split in thirds by count", () => {
    // feature at t-1 -> return at t: low (1, 2) get -1%, -2%; middle (3, 4) +1%, +1%; high
    // (5, 6) +3%, -1%
    const feature = [1, 2, 3, 4, 5, 6, null];
    const returns = [null, -0.01, -0.02, 0.01, 0.01, 0.03, -0.01];
    const rows = regimeTerciles(returns, feature)!;
    expect(rows.map((r) => [r.lo, r.hi, r.days])).toEqual([
      [1, 2, 2],
      [3, 4, 2],
      [5, 6, 2],
    ]);
    expect(rows[0]!.ret).toBeCloseTo(0.99 * 0.98 - 1, 12);
    expect(rows[1]!.mean).toBeCloseTo(0.01, 12);
    expect(rows[1]!.sharpe).toBeNull(); // no variance
    expect(rows[2]!.hit).toBe(0.5);
    expect(rows[2]!.sharpe).toBeCloseTo((0.01 / Math.sqrt(0.0008)) * Math.sqrt(252), 9);
  });

  test("days without the feature or the return are left out; too few days, no table", () => {
    const rows = regimeTerciles([null, 0.01, null, 0.02, 0.03, 0.04], [5, null, 1, null, 3, 4])!;
    expect(rows.reduce((s, r) => s + r.days, 0)).toBe(3);
    expect(regimeTerciles([null, 0.01, 0.02], [1, 2, 3])).toBeNull();
  });
});
