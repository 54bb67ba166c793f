import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { MemoryRouter, useLocation } from "react-router-dom";
import type { ColumnDef } from "@tanstack/react-table";
import { DataTable } from "./DataTable";

interface Row {
  id: string;
  sharpe: number | null;
  name: string;
}

const rows: Row[] = [
  { id: "a", sharpe: 1.2, name: "alpha" },
  { id: "b", sharpe: null, name: "beta" },
  { id: "c", sharpe: 3.4, name: "gamma" },
  { id: "d", sharpe: -0.5, name: "delta" },
];
const columns: ColumnDef<Row, unknown>[] = [
  { id: "name", header: "Name", accessorKey: "name" },
  {
    id: "sharpe",
    header: "Sharpe",
    accessorKey: "sharpe",
    cell: ({ getValue }) => String(getValue() ?? "–"),
  },
];

beforeAll(() => {
  // jsdom has no layout: give the scroller and rows a size so that the virtualiser renders
  globalThis.ResizeObserver ??= class {
    observe() {}
    unobserve() {}
    disconnect() {}
  } as unknown as typeof ResizeObserver;
  Object.defineProperty(HTMLElement.prototype, "offsetHeight", {
    configurable: true,
    get: () => 480,
  });
  Object.defineProperty(HTMLElement.prototype, "offsetWidth", {
    configurable: true,
    get: () => 800,
  });
  Object.defineProperty(HTMLElement.prototype, "clientHeight", {
    configurable: true,
    get: () => 480,
  });
  Object.defineProperty(HTMLElement.prototype, "clientWidth", {
    configurable: true,
    get: () => 800,
  });
});

afterEach(cleanup);

/** Let the virtualiser measure (it updates on an animation frame). */
async function settle(): Promise<void> {
  await act(async () => {
    await new Promise((r) => setTimeout(r, 40));
  });
}

function names(): string[] {
  return screen
    .getAllByRole("row")
    .slice(1)
    .map((r) => within(r).getAllByRole("cell")[0]!.textContent ?? "");
}

function Search() {
  return <div data-testid="search">{useLocation().search}</div>;
}

describe("DataTable", () => {
  test("sorts on a header click, undefined values last either way", async () => {
    render(
      <MemoryRouter>
        <DataTable data={rows} columns={columns} getRowId={(r) => r.id} />
      </MemoryRouter>,
    );
    await settle();
    expect(names()).toEqual(["alpha", "beta", "gamma", "delta"]);
    fireEvent.click(screen.getByText("Sharpe"));
    await settle();
    expect(names()).toEqual(["gamma", "alpha", "delta", "beta"]);
    fireEvent.click(screen.getByText("Sharpe"));
    await settle();
    expect(names()).toEqual(["delta", "alpha", "gamma", "beta"]);
  });

  test("keeps its sorting in the URL when asked, and reads it back", async () => {
    const view = render(
      <MemoryRouter initialEntries={["/x?tsort=name"]}>
        <DataTable data={rows} columns={columns} getRowId={(r) => r.id} sortParam="tsort" />
        <Search />
      </MemoryRouter>,
    );
    await settle();
    expect(names()).toEqual(["alpha", "beta", "delta", "gamma"]);
    fireEvent.click(screen.getByText("Sharpe"));
    await settle();
    expect(screen.getByTestId("search").textContent).toBe("?tsort=-sharpe");
    expect(names()).toEqual(["gamma", "alpha", "delta", "beta"]);
    view.unmount();
  });

  test("server sorting calls back with the API's key and leaves the order alone", async () => {
    const asked: string[] = [];
    render(
      <MemoryRouter>
        <DataTable
          data={rows}
          columns={columns}
          getRowId={(r) => r.id}
          sort="-sharpe"
          onSort={(k) => asked.push(k)}
        />
      </MemoryRouter>,
    );
    await settle();
    fireEvent.click(screen.getByText("Sharpe"));
    await settle();
    fireEvent.click(screen.getByText("Name"));
    expect(asked).toEqual(["sharpe", "-name"]);
    expect(names()).toEqual(["alpha", "beta", "gamma", "delta"]);
    expect(screen.getByText("Sharpe").closest("th")?.getAttribute("aria-sort")).toBe("descending");
  });

  test("rows expand to their detail and report clicks", async () => {
    const clicked: string[] = [];
    render(
      <MemoryRouter>
        <DataTable
          data={rows}
          columns={columns}
          getRowId={(r) => r.id}
          onRowClick={(r) => clicked.push(r.id)}
          expanded={(r) => <span>legs of {r.name}</span>}
        />
      </MemoryRouter>,
    );
    await settle();
    expect(screen.queryByText("legs of gamma")).toBeNull();
    fireEvent.click(screen.getAllByLabelText("expand")[2]!);
    await settle();
    expect(screen.getByText("legs of gamma")).toBeTruthy();
    expect(clicked).toEqual([]);
    fireEvent.click(screen.getByText("delta"));
    expect(clicked).toEqual(["d"]);
  });
});
