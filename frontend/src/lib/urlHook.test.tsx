import { afterEach, expect, test } from "vitest";
import { act, cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter, useLocation } from "react-router-dom";
import { int, list, str, useUrlState } from "./url";

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
