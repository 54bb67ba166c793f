// A sweep: its header (status, progress and throughput live), then the tabs Overview |
// Landscape | Robustness | Compare. The URL parameters the tabs share (metric, filter, axes)
// follow the user from tab to tab.

import { lazy, Suspense } from "react";
import { Link, NavLink, Route, Routes, useLocation, useParams } from "react-router-dom";
import type { SweepDetail } from "../api/client";
import { useSweep } from "../api/hooks";
import { ErrorBox, Progress, Skeleton, StatusBadge } from "../components/ui";
import { fmtDuration, fmtInt, fmtNumber, fmtTime } from "../lib/format";
import { keepParams } from "../lib/url";
import { throughput, useStore } from "../store";
import { SweepOverview } from "./SweepOverview";

const Landscape = lazy(() => import("./Landscape"));
const RobustnessView = lazy(() => import("./RobustnessView"));
const SweepCompare = lazy(() => import("./ComparePage").then((m) => ({ default: m.SweepCompare })));

const SHARED = ["metric", "filter", "x", "y", "agg", "where"] as const;

/** Which engine ran the combinations: how many on trade tables, how many on the day kernel
 *  and why (sweep.json's `engines`; docs/sweeps.md). */
function EnginesNote({ engines }: { engines: NonNullable<SweepDetail["engines"]> }) {
  // the file's own choice of the day kernel needs no saying again
  const reasons = Object.entries(engines.fallback ?? {})
    .filter(([why]) => why !== "engine_day")
    .map(([why, n]) => `${why} ${fmtInt(n)}`)
    .join(", ");
  const parts = [
    engines.tables ? `${fmtInt(engines.tables)} on trade tables` : "",
    engines.day ? `${fmtInt(engines.day)} on the day kernel${reasons ? ` (${reasons})` : ""}` : "",
  ].filter(Boolean);
  const title = engines.replayed
    ? `${fmtInt(engines.replayed)} of those on trade tables were not walked: they repeated an earlier one's trades`
    : undefined;
  return (
    <span className="num" data-testid="engines" title={title}>
      engine <b>{engines.engine}</b>: {parts.join(", ") || "nothing run yet"}
    </span>
  );
}

export default function SweepLayout() {
  const { sweepId = "" } = useParams();
  const sweep = useSweep(sweepId);
  const live = useStore((s) => s.live[`sweep:${sweepId}`]);
  const location = useLocation();
  const carry = keepParams(new URLSearchParams(location.search), SHARED);
  const base = `/sweeps/${encodeURIComponent(sweepId)}`;

  if (sweep.error) return <ErrorBox error={sweep.error} />;
  const s = sweep.data;
  const status = live?.status ?? s?.status;
  const done = live?.done ?? s?.done ?? 0;
  const valid = live?.valid ?? s?.valid ?? 0;
  const failed = live?.failed ?? s?.failed ?? 0;
  const rate = throughput(live);
  const eta = rate && valid > done ? (valid - done) / rate : null;

  return (
    <div className="page" data-testid="sweep">
      <div className="crumbs">
        <Link to="/">Results</Link> / sweep
      </div>
      {!s ? (
        <Skeleton height={90} />
      ) : (
        <div className="sweep-head">
          <div className="page-head">
            <h1>{s.name}</h1>
            <StatusBadge status={status} />
            <span className="muted">{s.description}</span>
          </div>
          <div className="meta-row small">
            <span>
              strategy <b>{s.strategy}</b>
            </span>
            <span>
              objective <b>{s.objective}</b> ({s.maximize ? "max" : "min"})
            </span>
            <span>
              grid <b className="num">{fmtInt(s.grid_size)}</b> combinations,{" "}
              <b className="num">{fmtInt(valid)}</b> valid
            </span>
            <span className="meta-progress">
              <Progress done={done} total={valid} failed={failed} />
              <span className="num" data-testid="progress">
                {fmtInt(done)} done{failed ? `, ${fmtInt(failed)} failed` : ""}
              </span>
            </span>
            {status === "running" && (
              <span className="num">
                {rate ? `${fmtNumber(rate, 1)} runs/s` : "waiting for progress…"}
                {eta !== null ? `, about ${fmtDuration(eta)} left` : ""}
              </span>
            )}
            <span className="num">
              data {s.first_date} – {s.last_date}{" "}
              <span className="muted" title="data fingerprint">
                ({s.data_fingerprint.slice(0, 8)})
              </span>
            </span>
            <span className="num" title={`started ${s.started}, finished ${s.finished}`}>
              {fmtTime(s.started)}, ran {fmtDuration(s.seconds)}
            </span>
            {s.engines && <EnginesNote engines={s.engines} />}
            <span className="muted">gridbt {s.code_version}</span>
          </div>
        </div>
      )}
      <nav className="tabs">
        <NavLink end to={`${base}${carry}`}>
          Overview
        </NavLink>
        <NavLink to={`${base}/landscape${carry}`}>Landscape</NavLink>
        <NavLink to={`${base}/robustness${carry}`}>Robustness</NavLink>
        <NavLink
          to={`${base}/compare${keepParams(new URLSearchParams(location.search), ["metric", "filter"])}`}
        >
          Compare
        </NavLink>
      </nav>
      {s ? (
        <Suspense fallback={<Skeleton height={400} />}>
          <Routes>
            <Route index element={<SweepOverview sweep={s} />} />
            <Route path="landscape" element={<Landscape sweep={s} />} />
            <Route path="robustness" element={<RobustnessView sweep={s} />} />
            <Route path="compare" element={<SweepCompare sweep={s} />} />
          </Routes>
        </Suspense>
      ) : (
        <Skeleton height={400} />
      )}
    </div>
  );
}
