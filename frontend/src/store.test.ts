import { expect, test } from "vitest";
import type { ApiEvent } from "./api/client";
import { applyEvent, throughput } from "./store";

const event = (done: number, change: ApiEvent["change"] = "updated"): ApiEvent => ({
  kind: "sweep",
  id: "s",
  change,
  status: "running",
  done,
  valid: 1000,
  failed: 0,
});

test("live events give the progress and the throughput", () => {
  let live = applyEvent({}, event(100, "added"), 0);
  expect(throughput(live["sweep:s"])).toBeNull();
  live = applyEvent(live, event(150), 1000);
  live = applyEvent(live, event(300), 5000);
  expect(live["sweep:s"]!.done).toBe(300);
  expect(throughput(live["sweep:s"])).toBeCloseTo(40, 12);
  live = applyEvent(live, event(300, "removed"), 6000);
  expect(live["sweep:s"]).toBeUndefined();
});
