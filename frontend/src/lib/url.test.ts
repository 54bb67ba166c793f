import { describe, expect, test } from "vitest";
import {
  bool,
  brush,
  encodeParam,
  int,
  keepParams,
  list,
  oneOf,
  readParam,
  str,
  withParams,
} from "./url";

describe("URL state", () => {
  test("a parameter reads with its codec and falls back when absent or malformed", () => {
    const s = new URLSearchParams("x=exit.dte&n=200&log=1&bad=abc&runs=a,b,c&agg=median");
    expect(readParam(s, "x", str, "")).toBe("exit.dte");
    expect(readParam(s, "n", int, 50)).toBe(200);
    expect(readParam(s, "bad", int, 50)).toBe(50);
    expect(readParam(s, "missing", int, 50)).toBe(50);
    expect(readParam(s, "log", bool, false)).toBe(true);
    expect(readParam(s, "runs", list, [])).toEqual(["a", "b", "c"]);
    expect(readParam(s, "agg", oneOf(["max", "median"] as const), "max")).toBe("median");
    expect(
      readParam(new URLSearchParams("agg=p90"), "agg", oneOf(["max", "median"] as const), "max"),
    ).toBe("max");
  });
  test("defaults stay out of the URL", () => {
    expect(encodeParam(50, int, 50)).toBeUndefined();
    expect(encodeParam(200, int, 50)).toBe("200");
    expect(encodeParam([], list, [])).toBeUndefined();
    expect(encodeParam(["a", "b"], list, [])).toBe("a,b");
  });
  test("updates keep the other parameters and remove undefined ones", () => {
    const s = new URLSearchParams("x=a&y=b&metric=sharpe");
    const next = withParams(s, { y: "c", metric: undefined, agg: "mean" });
    expect(next.toString()).toBe("x=a&y=c&agg=mean");
    expect(s.toString()).toBe("x=a&y=b&metric=sharpe");
  });
  test("a filter with spaces and operators survives the round trip", () => {
    const f = "sharpe > 1 and exit.stop_loss = 2 or x in (0.1, 0.2)";
    const next = withParams(new URLSearchParams(), { filter: f });
    expect(readParam(new URLSearchParams(next.toString()), "filter", str, "")).toBe(f);
  });
  test("a brush round-trips through its text form", () => {
    const b = { sharpe: [1, 2.5] as [number, number], "exit.dte": [0, 3] as [number, number] };
    const text = brush.format(b);
    expect(brush.parse(text)).toEqual(b);
    expect(brush.parse("sharpe~3~1|junk|x~a~2")).toEqual({ sharpe: [1, 3] });
  });
  test("keepParams carries the shared keys only", () => {
    expect(
      keepParams(new URLSearchParams("metric=cagr&sort=-x&filter=a%3E1"), ["metric", "filter"]),
    ).toBe("?metric=cagr&filter=a%3E1");
    expect(keepParams(new URLSearchParams("sort=x"), ["metric"])).toBe("");
  });
});
