// The live event stream (/api/events, Server-Sent Events): every change lands in the store
// (status, progress, throughput) and invalidates the queries of the entry it is about, at most
// every few seconds per entry (a running sweep reports every second).

import { useEffect } from "react";
import { useQueryClient } from "@tanstack/react-query";
import type { ApiEvent } from "./client";
import { useStore } from "../store";

const LIST_KEY = { sweep: "sweeps", study: "studies", backtest: "backtests" } as const;
const MIN_REFRESH_MS = 3000;
/** the stream starts with every entry as "added": those need no refetch */
const SNAPSHOT_MS = 1500;

export function useLiveEvents(): void {
  const client = useQueryClient();
  useEffect(() => {
    if (typeof EventSource === "undefined") return;
    const source = new EventSource("/api/events");
    const last = new Map<string, number>();
    let openedAt = Date.now();
    const handle = (message: MessageEvent<string>) => {
      let event: ApiEvent;
      try {
        event = JSON.parse(message.data) as ApiEvent;
      } catch {
        return;
      }
      const key = `${event.kind}:${event.id}`;
      const before = useStore.getState().live[key];
      useStore.getState().onEvent(event);
      const now = Date.now();
      if (
        event.change === "added" &&
        now - openedAt < SNAPSHOT_MS &&
        (!before || before.status === event.status)
      )
        return;
      const statusChanged = before?.status !== event.status;
      if (!statusChanged && now - (last.get(key) ?? 0) < MIN_REFRESH_MS) return;
      last.set(key, now);
      void client.invalidateQueries({ queryKey: [LIST_KEY[event.kind]] });
      if (event.change === "updated")
        void client.invalidateQueries({ queryKey: [event.kind, event.id] });
    };
    for (const name of ["added", "updated", "removed"])
      source.addEventListener(name, handle as EventListener);
    source.onopen = () => {
      openedAt = Date.now();
      useStore.getState().setConnected(true);
    };
    source.onerror = () => useStore.getState().setConnected(false);
    return () => {
      source.close();
      useStore.getState().setConnected(false);
    };
  }, [client]);
}
