import { afterEach, expect, test } from "vitest";
import { cleanup, render, screen, within } from "@testing-library/react";
import type { Trade } from "../api/client";
import { fmtNumber } from "../lib/format";
import { tradeRow } from "../lib/table";
import { LegsTable } from "./TradesView";

afterEach(cleanup);

const leg = {
  expiry: "2024-02-01",
  entry_fill: 9.05,
  exit_fill: 1.425,
  settled: false,
};

const trade: Trade = {
  number: 0,
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
    { ...leg, right: "P", strike: 1700, units: -1, entry_delta: -0.29874 },
    { ...leg, right: "C", strike: 1900, units: -1, entry_delta: null },
  ],
};

test("the expanded legs show each leg's entry delta from the API, as trade detail does", () => {
  render(<LegsTable row={tradeRow(trade)} />);
  const header = screen.getAllByRole("columnheader").map((h) => h.textContent);
  expect(header).toContain("Delta");
  const rows = screen.getAllByRole("row").slice(1);
  expect(rows).toHaveLength(2);
  const cells = screen.getAllByTestId("leg-delta").map((c) => c.textContent);
  expect(cells).toEqual([fmtNumber(-0.29874, 3), fmtNumber(null, 3)]);
  expect(cells[0]).toMatch(/^[-−]0\.299$/);
  expect(within(rows[0]!).getByTestId("leg-delta").textContent).toBe(cells[0]);
});
