import { expect, test } from "vitest";
import { decodeRef, encodeRef, refPath, type RunRef } from "./refs";

test("run refs round-trip and map to their pages", () => {
  const refs: RunRef[] = [
    { kind: "run", sweep: "sweeps~short_put_grid", hash: "a9f6dcc4f76253a2" },
    { kind: "backtest", id: "demo-output~hedged" },
    { kind: "trial", study: "study", number: 44 },
  ];
  for (const r of refs) expect(decodeRef(encodeRef(r))).toEqual(r);
  expect(refPath(refs[0]!)).toBe("/sweeps/sweeps~short_put_grid/runs/a9f6dcc4f76253a2");
  expect(refPath(refs[1]!)).toBe("/backtests/demo-output~hedged");
  expect(refPath(refs[2]!)).toBe("/studies/study/trials/44");
  expect(refPath({ kind: "backtest", id: "a%20b" })).toBe("/backtests/a%2520b");
  for (const bad of ["", "run:x", "bt:", "trial:s:x", "other:1"])
    expect(decodeRef(bad)).toBeUndefined();
});
