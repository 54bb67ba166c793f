// View state in the URL: every choice a view offers (axes, metric, aggregate, filter, sort,
// selected runs, toggles) is a search parameter, so a link restores the view. Defaults are left
// out of the URL so links stay short.

import { useCallback, useMemo } from "react";
import { useLocation, useSearchParams } from "react-router-dom";

export interface Codec<T> {
  parse: (raw: string) => T | undefined;
  format: (value: T) => string;
}

export const str: Codec<string> = {
  parse: (raw) => raw,
  format: (v) => v,
};

export const int: Codec<number> = {
  parse: (raw) => {
    const n = Number(raw);
    return Number.isInteger(n) ? n : undefined;
  },
  format: (v) => String(v),
};

export const bool: Codec<boolean> = {
  parse: (raw) =>
    raw === "1" || raw === "true" ? true : raw === "0" || raw === "false" ? false : undefined,
  format: (v) => (v ? "1" : "0"),
};

/** A comma-separated list (items must not contain commas: ids, hashes, paths). */
export const list: Codec<string[]> = {
  parse: (raw) => (raw === "" ? [] : raw.split(",")),
  format: (v) => v.join(","),
};

export function oneOf<T extends string>(values: readonly T[]): Codec<T> {
  return {
    parse: (raw) => ((values as readonly string[]).includes(raw) ? (raw as T) : undefined),
    format: (v) => v,
  };
}

/** A brush: numeric ranges per axis name, "name~lo~hi" joined by "|". */
export type Brush = Record<string, [number, number]>;
export const brush: Codec<Brush> = {
  parse: (raw) => {
    const out: Brush = {};
    for (const item of raw.split("|")) {
      const parts = item.split("~");
      if (parts.length !== 3) continue;
      const [name, lo, hi] = parts as [string, string, string];
      const a = Number(lo);
      const b = Number(hi);
      if (name && Number.isFinite(a) && Number.isFinite(b))
        out[name] = [Math.min(a, b), Math.max(a, b)];
    }
    return out;
  },
  format: (v) =>
    Object.entries(v)
      .map(([k, [a, b]]) => `${k}~${+a.toPrecision(6)}~${+b.toPrecision(6)}`)
      .join("|"),
};

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** `search` with `updates` applied: undefined or the default removes a key. Pure (tested). */
export function withParams(
  search: URLSearchParams,
  updates: Record<string, string | undefined>,
): URLSearchParams {
  const next = new URLSearchParams(search);
  for (const [key, value] of Object.entries(updates)) {
    if (value === undefined) next.delete(key);
    else next.set(key, value);
  }
  return next;
}

/** Read one parameter with a codec, falling back to `fallback`. Pure (tested). */
export function readParam<T>(
  search: URLSearchParams,
  key: string,
  codec: Codec<T>,
  fallback: T,
): T {
  const raw = search.get(key);
  if (raw === null) return fallback;
  const parsed = codec.parse(raw);
  return parsed === undefined ? fallback : parsed;
}

/** The serialised value for `key`, or undefined when it equals the default. */
export function encodeParam<T>(value: T, codec: Codec<T>, fallback: T): string | undefined {
  return equal(value, fallback) ? undefined : codec.format(value);
}

// react-router hands a functional update the parameters of the last render, so of two updates
// in a row (two choices before React renders again, as a quick user or a test makes them) the
// second would undo the first. Updates made on the same location chain on the last one written.
let pending: { key: string; search: URLSearchParams } | null = null;

/** Replace the URL's search by `update(current)`, where `current` includes the updates made
 * since the last render. */
function useUpdateSearch(): (update: (current: URLSearchParams) => URLSearchParams) => void {
  const [search, setSearch] = useSearchParams();
  const { key } = useLocation();
  return useCallback(
    (update) => {
      const current = pending && pending.key === key ? pending.search : search;
      const next = update(current);
      pending = { key, search: next };
      setSearch(next, { replace: true });
    },
    [search, key, setSearch],
  );
}

/** One URL search parameter as React state. Setting it replaces the history entry. */
export function useUrlState<T>(key: string, codec: Codec<T>, fallback: T): [T, (v: T) => void] {
  const [search] = useSearchParams();
  const update = useUpdateSearch();
  const fallbackKey = JSON.stringify(fallback);
  const value = useMemo(
    () => readParam(search, key, codec, JSON.parse(fallbackKey) as T),
    [search, key, codec, fallbackKey],
  );
  const set = useCallback(
    (v: T) =>
      update((current) =>
        withParams(current, { [key]: encodeParam(v, codec, JSON.parse(fallbackKey) as T) }),
      ),
    [update, key, codec, fallbackKey],
  );
  return [value, set];
}

/** Set several parameters at once (one history entry). `updates` may be a function of the
 * current parameters: a choice that depends on another (swapping two axes) reads them as they
 * are after any change made since the last render. */
export function useSetParams(): (
  updates:
    | Record<string, string | undefined>
    | ((current: URLSearchParams) => Record<string, string | undefined>),
) => void {
  const update = useUpdateSearch();
  return useCallback(
    (updates) =>
      update((current) =>
        withParams(current, typeof updates === "function" ? updates(current) : updates),
      ),
    [update],
  );
}

/** A link target keeping only the given keys of the current search (e.g. a shared filter). */
export function keepParams(search: URLSearchParams, keys: readonly string[]): string {
  const next = new URLSearchParams();
  for (const k of keys) {
    const v = search.get(k);
    if (v !== null) next.set(k, v);
  }
  const s = next.toString();
  return s ? `?${s}` : "";
}
