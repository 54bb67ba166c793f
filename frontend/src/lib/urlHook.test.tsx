import { afterEach, expect, test } from "vitest";
import { act, cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter, useLocation } from "react-router-dom";
import { int, list, readParam, str, useSetParams, useUrlState } from "./url";

afterEach(cleanup);

let setters: { x?: (v: string) => void; n?: (v: number) => void; runs?: (v: string[]) => void } =
  {};

function View() {
  const [x, setX] = useUrlState("x", str, "exit.dte");
  const [n, setN] = useUrlState("n", int, 50);
  const [runs, setRuns] = useUrlState("runs", list, []);
  setters = { x: setX, n: setN, runs: setRuns };
  return (
    <>
      <div data-testid="state">{JSON.stringify({ x, n, runs })}</div>
      <div data-testid="search">{useLocation().search}</div>
    </>
  );
}

test("useUrlState reads the link, writes changes and leaves defaults out", () => {
  render(
    <MemoryRouter initialEntries={["/sweeps/s/landscape?x=exit.stop_loss&n=200&keep=1"]}>
      <View />
    </MemoryRouter>,
  );
  expect(JSON.parse(screen.getByTestId("state").textContent!)).toEqual({
    x: "exit.stop_loss",
    n: 200,
    runs: [],
  });
  act(() => setters.runs!(["a", "b"]));
  act(() => setters.n!(50));
  expect(screen.getByTestId("search").textContent).toBe("?x=exit.stop_loss&keep=1&runs=a%2Cb");
  act(() => setters.x!("exit.dte"));
  expect(screen.getByTestId("search").textContent).toBe("?keep=1&runs=a%2Cb");
  expect(JSON.parse(screen.getByTestId("state").textContent!)).toEqual({
    x: "exit.dte",
    n: 50,
    runs: ["a", "b"],
  });
});

let setParams: ReturnType<typeof useSetParams> | undefined;

function Axes() {
  setParams = useSetParams();
  return <div data-testid="search">{useLocation().search}</div>;
}

test("useSetParams with a function reads the URL as it is, so changes in a row compose", () => {
  render(
    <MemoryRouter initialEntries={["/l?x=a&y=b"]}>
      <Axes />
    </MemoryRouter>,
  );
  // two axis choices before any render: the second must see the first's swap (x=b, y=a)
  const choose = (key: "x" | "y", v: string) =>
    setParams!((now) => {
      const [x, y] = [readParam(now, "x", str, ""), readParam(now, "y", str, "")];
      return key === "x" ? { x: v, y: v === y ? x : y } : { y: v, x: v === x ? y : x };
    });
  act(() => {
    choose("x", "b");
    choose("y", "c");
  });
  expect(screen.getByTestId("search").textContent).toBe("?x=b&y=c");
});
