// A run the browser can open: a sweep's run, a backtest or a study's trial. Refs are written
// in URLs as "run:SWEEP:HASH", "bt:ID" and "trial:STUDY:N" (ids never hold ":" or ",": the API
// percent-encodes every character other than letters, digits, "-", "_", "." and "~").

export type RunRef =
  | { kind: "run"; sweep: string; hash: string }
  | { kind: "backtest"; id: string }
  | { kind: "trial"; study: string; number: number };

export function encodeRef(ref: RunRef): string {
  switch (ref.kind) {
    case "run":
      return `run:${ref.sweep}:${ref.hash}`;
    case "backtest":
      return `bt:${ref.id}`;
    case "trial":
      return `trial:${ref.study}:${ref.number}`;
  }
}

export function decodeRef(text: string): RunRef | undefined {
  const parts = text.split(":");
  if (parts[0] === "run" && parts.length === 3 && parts[1] && parts[2])
    return { kind: "run", sweep: parts[1], hash: parts[2] };
  if (parts[0] === "bt" && parts.length === 2 && parts[1])
    return { kind: "backtest", id: parts[1] };
  if (parts[0] === "trial" && parts.length === 3 && parts[1] && /^\d+$/.test(parts[2] ?? ""))
    return { kind: "trial", study: parts[1], number: Number(parts[2]) };
  return undefined;
}

const enc = encodeURIComponent;

/** The browser path of a ref's tear sheet. */
export function refPath(ref: RunRef): string {
  switch (ref.kind) {
    case "run":
      return `/sweeps/${enc(ref.sweep)}/runs/${enc(ref.hash)}`;
    case "backtest":
      return `/backtests/${enc(ref.id)}`;
    case "trial":
      return `/studies/${enc(ref.study)}/trials/${ref.number}`;
  }
}

/** A short label: the hash, the backtest id or "#N". */
export function refLabel(ref: RunRef): string {
  switch (ref.kind) {
    case "run":
      return ref.hash.slice(0, 8);
    case "backtest":
      return ref.id;
    case "trial":
      return `trial #${ref.number}`;
  }
}

export function sameRef(a: RunRef, b: RunRef): boolean {
  return encodeRef(a) === encodeRef(b);
}
