// The one global store every panel reads: display preferences (persisted in localStorage), the
// runs picked for comparison, the run under the pointer (highlighted in every linked panel), and
// the live state of sweeps and studies from the event stream. View choices live in the URL.

import { create } from "zustand";
import { persist } from "zustand/middleware";
import type { ApiEvent } from "./api/client";

export type ThemeChoice = "light" | "dark" | "system";

export interface LiveState {
  kind: ApiEvent["kind"];
  id: string;
  status: string | null;
  done: number | null;
  valid: number | null;
  failed: number | null;
  /** (time in ms, done) samples of the last minute, for the throughput. */
  samples: [number, number][];
}

/** Runs per second over the samples (null with fewer than two or no progress). */
export function throughput(state: LiveState | undefined): number | null {
  if (!state || state.samples.length < 2) return null;
  const [t0, d0] = state.samples[0]!;
  const [t1, d1] = state.samples[state.samples.length - 1]!;
  if (t1 <= t0 || d1 <= d0) return null;
  return ((d1 - d0) * 1000) / (t1 - t0);
}

export function applyEvent(
  live: Record<string, LiveState>,
  e: ApiEvent,
  now: number,
): Record<string, LiveState> {
  const key = `${e.kind}:${e.id}`;
  if (e.change === "removed") {
    const next = { ...live };
    delete next[key];
    return next;
  }
  const before = live[key];
  const samples = [...(before?.samples ?? [])];
  if (e.done !== null) samples.push([now, e.done]);
  while (samples.length > 2 && now - samples[0]![0] > 60_000) samples.shift();
  return {
    ...live,
    [key]: {
      kind: e.kind,
      id: e.id,
      status: e.status,
      done: e.done,
      valid: e.valid,
      failed: e.failed,
      samples,
    },
  };
}

interface Store {
  theme: ThemeChoice;
  setTheme: (t: ThemeChoice) => void;
  /** per sweep: the param hashes picked for Compare */
  basket: Record<string, string[]>;
  toggleBasket: (sweep: string, hash: string) => void;
  setBasket: (sweep: string, hashes: string[]) => void;
  highlight: string | null;
  setHighlight: (hash: string | null) => void;
  live: Record<string, LiveState>;
  connected: boolean;
  onEvent: (e: ApiEvent) => void;
  setConnected: (c: boolean) => void;
}

export const MAX_COMPARE = 10;
export const MAX_COMPARE_ON_REQUEST = 20;

export const useStore = create<Store>()(
  persist(
    (set) => ({
      theme: "system",
      setTheme: (theme) => set({ theme }),
      basket: {},
      toggleBasket: (sweep, hash) =>
        set((s) => {
          const current = s.basket[sweep] ?? [];
          const next = current.includes(hash)
            ? current.filter((h) => h !== hash)
            : [...current, hash].slice(-MAX_COMPARE_ON_REQUEST);
          return { basket: { ...s.basket, [sweep]: next } };
        }),
      setBasket: (sweep, hashes) => set((s) => ({ basket: { ...s.basket, [sweep]: hashes } })),
      highlight: null,
      setHighlight: (highlight) => set({ highlight }),
      live: {},
      connected: false,
      onEvent: (e) => set((s) => ({ live: applyEvent(s.live, e, Date.now()) })),
      setConnected: (connected) => set({ connected }),
    }),
    {
      name: "gridbt-prefs",
      partialize: (s) => ({ theme: s.theme, basket: s.basket }),
    },
  ),
);
