import { expect, test } from "vitest";
import { bsDelta, normCdf } from "./bs";

test("the normal distribution and Black-Scholes deltas", () => {
  expect(normCdf(0)).toBeCloseTo(0.5, 7);
  expect(normCdf(1.96)).toBeCloseTo(0.9750021, 6);
  expect(normCdf(-1)).toBeCloseTo(0.1586553, 6);
  // at the money, no carry: call delta N(sigma sqrt(T) / 2)
  const call = bsDelta("C", 100, 100, 0.25, 0.2, 0, 0)!;
  expect(call).toBeCloseTo(normCdf(0.05), 7);
  expect(bsDelta("P", 100, 100, 0.25, 0.2, 0, 0)).toBeCloseTo(call - 1, 7);
  expect(bsDelta("P", 100, 80, 0.1, 0.2, 0, 0)!).toBeGreaterThan(-0.01);
  expect(bsDelta("C", 100, 100, 0, 0.2, 0, 0)).toBeNull();
  expect(bsDelta("C", 100, 100, 0.1, null, 0, 0)).toBeNull();
});
