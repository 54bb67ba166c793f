// One run, whatever its source (a sweep's run, a backtest, a study's trial): its header and the
// tabs Tear sheet | Trades, with a trade's detail under Trades.

import { lazy, Suspense } from "react";
import { Link, NavLink, Route, Routes, useParams } from "react-router-dom";
import { useRunInfo, useStudy, useSweep } from "../api/hooks";
import { ErrorBox, Skeleton } from "../components/ui";
import { refPath, type RunRef } from "../lib/refs";
import { TearSheet } from "./TearSheet";

const TradesView = lazy(() => import("./TradesView"));
const TradeDetail = lazy(() => import("./TradeDetail"));

function useRef_(kind: RunRef["kind"]): RunRef {
  const p = useParams();
  if (kind === "run") return { kind, sweep: p.sweepId ?? "", hash: p.hash ?? "" };
  if (kind === "backtest") return { kind, id: p.backtestId ?? "" };
  return { kind, study: p.studyId ?? "", number: Number(p.number ?? 0) };
}

export default function RunPage({ kind }: { kind: RunRef["kind"] }) {
  const ref = useRef_(kind);
  const info = useRunInfo(ref);
  const base = refPath(ref);
  return (
    <div className="page" data-testid="run">
      <Crumbs runRef={ref} />
      {info.error ? (
        <ErrorBox error={info.error} />
      ) : !info.data ? (
        <Skeleton height={60} />
      ) : (
        <div className="page-head">
          <h1 data-testid="run-title">{info.data.title}</h1>
          <span className="muted">{info.data.subtitle}</span>
        </div>
      )}
      <nav className="tabs">
        <NavLink end to={base}>
          Tear sheet
        </NavLink>
        {(ref.kind !== "trial" || info.data?.tradesAvailable) && (
          <NavLink to={`${base}/trades`}>Trades</NavLink>
        )}
      </nav>
      {info.data && (
        <Suspense fallback={<Skeleton height={400} />}>
          <Routes>
            <Route index element={<TearSheet info={info.data} />} />
            <Route path="trades" element={<TradesView info={info.data} />} />
            <Route path="trades/:n" element={<TradeDetail info={info.data} />} />
          </Routes>
        </Suspense>
      )}
    </div>
  );
}

function Crumbs({ runRef }: { runRef: RunRef }) {
  const enc = encodeURIComponent;
  const sweep = useSweep(runRef.kind === "run" ? runRef.sweep : "");
  const study = useStudy(runRef.kind === "trial" ? runRef.study : "");
  if (runRef.kind === "run")
    return (
      <div className="crumbs">
        <Link to="/">Results</Link> /{" "}
        <Link to={`/sweeps/${enc(runRef.sweep)}`}>{sweep.data?.name ?? "sweep"}</Link> / run{" "}
        <code>{runRef.hash.slice(0, 8)}</code>
      </div>
    );
  if (runRef.kind === "trial")
    return (
      <div className="crumbs">
        <Link to="/">Results</Link> /{" "}
        <Link to={`/studies/${enc(runRef.study)}`}>{study.data?.name ?? "study"}</Link> / trial #
        {runRef.number}
      </div>
    );
  return (
    <div className="crumbs">
      <Link to="/">Results</Link> / backtest
    </div>
  );
}
