// The sweep's filter: the API's expression language (`sharpe > 1 and exit.stop_loss = 2`),
// kept in the URL (`filter=`) and read by every panel of the sweep; parsed by the server, which
// names what is wrong (422) — shown under the box.

import { useEffect, useState } from "react";
import { ApiError } from "../api/client";
import { fmtInt } from "../lib/format";
import { str, useUrlState } from "../lib/url";

export function useFilter(): [string, (f: string) => void] {
  return useUrlState("filter", str, "");
}

export function FilterBar({
  error,
  names,
  total,
}: {
  error?: unknown;
  names: string[];
  total?: number | null;
}) {
  const [filter, setFilter] = useFilter();
  const [text, setText] = useState(filter);
  useEffect(() => setText(filter), [filter]);
  const message = error instanceof ApiError && error.status === 422 ? error.detail : null;
  return (
    <div className="filter-bar">
      <form
        className="controls"
        style={{ marginBottom: message ? 4 : 12 }}
        onSubmit={(e) => {
          e.preventDefault();
          setFilter(text.trim());
        }}
      >
        <label className="field">
          <span>
            Filter runs{" "}
            <span
              className="help"
              title={`e.g. sharpe > 1 and exit.stop_loss = 2; (max_drawdown <= 0.2 or calmar >= 1) and not exit.dte = off. Names: ${names.join(", ")}`}
            >
              ?
            </span>
          </span>
          <input
            className={`filter-input ${message ? "invalid" : ""}`}
            value={text}
            placeholder="e.g. sharpe > 1 and max_drawdown < 0.1"
            onChange={(e) => setText(e.target.value)}
            onBlur={() => text.trim() !== filter && setFilter(text.trim())}
            aria-label="filter"
            data-testid="filter"
            list="filter-names"
          />
          <datalist id="filter-names">
            {names.map((n) => (
              <option key={n} value={n} />
            ))}
          </datalist>
        </label>
        <button className="button" type="submit">
          Apply
        </button>
        {filter && (
          <button
            className="button"
            type="button"
            onClick={() => {
              setText("");
              setFilter("");
            }}
          >
            Clear
          </button>
        )}
        {filter && total !== undefined && total !== null && (
          <span className="muted small num">{fmtInt(total)} runs pass</span>
        )}
      </form>
      {message && (
        <div className="error small" style={{ marginBottom: 12 }} data-testid="filter-error">
          {message}
        </div>
      )}
    </div>
  );
}
