import { lazy, Suspense } from "react";
import { Link, Route, Routes } from "react-router-dom";
import { useLiveEvents } from "./api/events";
import { useHealth } from "./api/hooks";
import { Segmented, Skeleton } from "./components/ui";
import { useStore, type ThemeChoice } from "./store";
import { useThemeName } from "./theme";
import { Home } from "./views/Home";

const SweepLayout = lazy(() => import("./views/SweepLayout"));
const RunPage = lazy(() => import("./views/RunPage"));
const StudyPage = lazy(() => import("./views/StudyPage"));
const ComparePage = lazy(() => import("./views/ComparePage"));

export function App() {
  useLiveEvents();
  useThemeName();
  const theme = useStore((s) => s.theme);
  const setTheme = useStore((s) => s.setTheme);
  const connected = useStore((s) => s.connected);
  const health = useHealth();
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/" className="brand">
          <img src="/favicon.svg" alt="" width={18} height={18} /> gridbt <span>results</span>
        </Link>
        <div className="topbar-root" title="the directory gridbt serve reads">
          {health.data?.root}
        </div>
        <div className="topbar-right">
          <span
            className={`live-dot ${connected ? "on" : ""}`}
            title={
              connected
                ? "live: following sweeps and studies as they progress"
                : "not connected to the event stream"
            }
            data-testid="live"
          />
          <Segmented<ThemeChoice>
            label="theme"
            value={theme}
            onChange={setTheme}
            options={[
              { value: "light", label: "☀", title: "light theme" },
              { value: "system", label: "◐", title: "follow the system" },
              { value: "dark", label: "☾", title: "dark theme" },
            ]}
          />
        </div>
      </header>
      <main className="content">
        <Suspense fallback={<Skeleton height={400} />}>
          <Routes>
            <Route path="/" element={<Home />} />
            <Route path="/sweeps/:sweepId/runs/:hash/*" element={<RunPage kind="run" />} />
            <Route path="/sweeps/:sweepId/*" element={<SweepLayout />} />
            <Route path="/backtests/:backtestId/*" element={<RunPage kind="backtest" />} />
            <Route path="/studies/:studyId/trials/:number/*" element={<RunPage kind="trial" />} />
            <Route path="/studies/:studyId" element={<StudyPage />} />
            <Route path="/compare" element={<ComparePage />} />
            <Route
              path="*"
              element={
                <div className="empty">
                  <div className="empty-title">No such page</div>
                  <Link to="/">Back to every result</Link>
                </div>
              }
            />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}
