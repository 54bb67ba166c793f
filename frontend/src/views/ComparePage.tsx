// Compare up to 10 runs (20 on request): equity rebased to 1 (log toggle), underwater overlay,
// KPI table with "differences only" and the best cell per row, the parameter (or resolved
// strategy) diff, and the correlation matrix of daily returns. Only the compared runs' series are
// downloaded.

import { useMemo } from "react";
import { Link } from "react-router-dom";
import { useQueries, useQueryClient } from "@tanstack/react-query";
import type uPlot from "uplot";
import type { Equity, SweepDetail } from "../api/client";
import {
  equityQuery,
  infoQuery,
  spansQuery,
  useMetricMap,
  useRuns,
  type RunInfo,
} from "../api/hooks";
import { EChart } from "../components/EChart";
import { colourScale, heatmapOption, type HeatCell } from "../components/heatmap";
import { type SeriesSpec, UPlotChart, timeOptions, toSeconds } from "../components/UPlotChart";
import { Empty, ErrorBox, Panel, Skeleton, Toggle } from "../components/ui";
import { fmtInt, fmtNumber, fmtParam, fmtPct, shortPath } from "../lib/format";
import { fmtMetric, higherIsBetter, label, metricHelp } from "../lib/metrics";
import { decodeRef, encodeRef, refLabel, refPath, type RunRef } from "../lib/refs";
import { alignOnDates, dailyReturns, pearson } from "../lib/stats";
import { STRESS_WINDOWS, stressResults } from "../lib/stress";
import { bool, int, list, useUrlState } from "../lib/url";
import { MAX_COMPARE, MAX_COMPARE_ON_REQUEST, useStore } from "../store";
import { usePalette } from "../theme";

export default function ComparePage() {
  const [runs, setRuns] = useUrlState("runs", list, []);
  const refs = runs.map(decodeRef).filter((r): r is RunRef => r !== undefined);
  return (
    <div className="page" data-testid="compare-page">
      <div className="crumbs">
        <Link to="/">Results</Link> / compare
      </div>
      <div className="page-head">
        <h1>Compare</h1>
      </div>
      {refs.length === 0 ? (
        <Empty title="Nothing to compare">
          Pick backtests on the home page, or tick runs in a sweep's tables, then open Compare. A
          link lists its runs as <code>?runs=bt:ID,run:SWEEP:HASH,trial:STUDY:N</code>.
        </Empty>
      ) : (
        <CompareView
          refs={refs}
          onRemove={(r) => setRuns(runs.filter((x) => x !== encodeRef(r)))}
        />
      )}
    </div>
  );
}

/** A sweep's Compare tab: the ticked runs, else the best 5 by the objective. */
export function SweepCompare({ sweep }: { sweep: SweepDetail }) {
  const [runs, setRuns] = useUrlState("runs", list, []);
  const basket = useStore((s) => s.basket[sweep.id]);
  const setBasket = useStore((s) => s.setBasket);
  const top = useRuns(sweep.id, { limit: 5 }, runs.length === 0 && !basket?.length);
  const hashes = runs.length
    ? runs
    : basket?.length
      ? basket
      : (top.data?.rows.map((r) => r.param_hash) ?? []);
  const refs = hashes.map<RunRef>((hash) => ({ kind: "run", sweep: sweep.id, hash }));
  const source = runs.length
    ? "the runs in the link"
    : basket?.length
      ? "the runs you ticked"
      : "the best 5 by the objective (tick runs in a table to choose)";
  if (!hashes.length) return top.error ? <ErrorBox error={top.error} /> : <Skeleton height={400} />;
  return (
    <div data-testid="sweep-compare">
      <p className="muted small">
        Comparing {source}.{" "}
        {!runs.length && (
          <button type="button" className="button small" onClick={() => setRuns(hashes)}>
            Pin them in the link
          </button>
        )}{" "}
        {basket?.length ? (
          <button type="button" className="button small" onClick={() => setBasket(sweep.id, [])}>
            Untick all
          </button>
        ) : null}
      </p>
      <CompareView
        refs={refs}
        onRemove={(r) => {
          const h = r.kind === "run" ? r.hash : "";
          if (runs.length) setRuns(runs.filter((x) => x !== h));
          else if (basket?.length)
            setBasket(
              sweep.id,
              basket.filter((x) => x !== h),
            );
          else setRuns(hashes.filter((x) => x !== h));
        }}
      />
    </div>
  );
}

/** A table's column heads for the compared runs: each run's colour and label. */
function RunHeads({ runs }: { runs: readonly { ref: RunRef; colour: string }[] }) {
  return (
    <>
      {runs.map((r) => (
        <th key={encodeRef(r.ref)} className="right">
          <span className="swatch" style={{ background: r.colour }} /> {refLabel(r.ref)}
        </th>
      ))}
    </>
  );
}

/** The named stress windows inside any compared run's span: each run's return over each
 *  (its worst drawdown within it in the tooltip), and the underlying's. */
function CompareStress({ runs }: { runs: { ref: RunRef; equity: Equity; colour: string }[] }) {
  const table = useMemo(() => {
    const results = runs.map((r) =>
      stressResults(r.equity.dates, r.equity.equity, r.equity.columns?.spot ?? null),
    );
    const names = STRESS_WINDOWS.filter((w) =>
      results.some((rs) => rs.some((x) => x.name === w.name)),
    );
    return names.map((w) => {
      const cells = results.map((rs) => rs.find((x) => x.name === w.name) ?? null);
      return { window: w, cells, underlying: cells.find((c) => c?.underlying != null)?.underlying };
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runs.map((r) => encodeRef(r.ref)).join(",")]);
  return (
    <Panel
      title="Stress periods"
      help="each run's return over the named market stress windows inside its span (the S&P 500's close before the move to its trough); hover a cell for the run's worst drawdown within the window"
    >
      {table.length === 0 ? (
        <p className="muted small">No named stress window falls inside these runs' spans.</p>
      ) : (
        <div className="table-scroll">
          <table className="table" data-testid="compare-stress">
            <thead>
              <tr>
                <th>Window</th>
                <RunHeads runs={runs} />
                <th className="right">Underlying</th>
              </tr>
            </thead>
            <tbody>
              {table.map(({ window, cells, underlying }) => (
                <tr key={window.name}>
                  <td title={`${window.from} to ${window.to}`}>{window.name}</td>
                  {cells.map((c, i) => (
                    <td
                      key={i}
                      className={`right num ${c && c.ret < 0 ? "bad" : c && c.ret > 0 ? "good" : ""}`}
                      title={
                        c
                          ? `worst drawdown in it ${fmtPct(c.worstDrawdown, 2)}`
                          : "outside its span"
                      }
                    >
                      {c ? fmtPct(c.ret, 2) : "–"}
                    </td>
                  ))}
                  <td className="right num">{fmtPct(underlying ?? null, 2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

function flatten(
  value: unknown,
  prefix = "",
  out: Record<string, unknown> = {},
): Record<string, unknown> {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value) && value.some((v) => v && typeof v === "object")) {
    value.forEach((v, i) => flatten(v, `${prefix}.${i}`, out));
  } else out[prefix] = value;
  return out;
}

function same(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number")
    return Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a), Math.abs(b));
  return JSON.stringify(a) === JSON.stringify(b);
}

export function CompareView({
  refs: all,
  onRemove,
}: {
  refs: RunRef[];
  onRemove: (r: RunRef) => void;
}) {
  const client = useQueryClient();
  const metrics = useMetricMap();
  const palette = usePalette();
  const [log, setLog] = useUrlState("log", bool, false);
  const [showUnderlying, setShowUnderlying] = useUrlState("underlying", bool, false);
  const [diffOnly, setDiffOnly] = useUrlState("diff", bool, false);
  const [allParams, setAllParams] = useUrlState("allparams", bool, false);
  const [max] = useUrlState("max", int, MAX_COMPARE);
  const cap = Math.min(Math.max(max, 1), MAX_COMPARE_ON_REQUEST);
  const refs = all.slice(0, cap);

  const infoQueries = useQueries({ queries: refs.map((ref) => infoQuery(client, ref)) });
  const equities = useQueries({
    queries: refs.map((ref, i) => ({
      ...equityQuery(ref),
      enabled: infoQueries[i]?.data?.equityAvailable ?? false,
    })),
  });
  // a trial's KPIs over the whole chain, as its curve here (its own are in sample)
  const spans = useQueries({
    queries: refs.map((ref, i) => ({
      ...spansQuery(ref),
      enabled: ref.kind === "trial" && (infoQueries[i]?.data?.tradesAvailable ?? false),
    })),
  });
  const loaded = refs.map((ref, i) => ({
    ref,
    info: infoQueries[i]?.data,
    kpis: spans[i]?.data?.whole.kpis ?? infoQueries[i]?.data?.kpis,
    equity: equities[i]?.data,
    colour: palette.series[i % palette.series.length]!,
  }));
  const withCurves = loaded.filter(
    (l): l is typeof l & { equity: Equity; info: RunInfo } => !!l.equity && !!l.info,
  );
  const pending = loaded.some(
    (l, i) => !l.info || (l.info.equityAvailable && !equities[i]?.data && !equities[i]?.error),
  );
  const errors = [...infoQueries, ...equities].map((q) => q.error).filter(Boolean);

  const aligned = useMemo(() => {
    const series = withCurves.map((l) => ({ dates: l.equity.dates, values: l.equity.equity }));
    if (!series.length) return null;
    // every date of any run (backtests may span different dates); runs are null where absent
    const dates = [...new Set(series.flatMap((s) => s.dates))].sort();
    // then the underlying's close, from the first run whose curve carries it, rebased alike
    const withSpot = withCurves.find((l) => l.equity.columns?.spot);
    if (withSpot)
      series.push({ dates: withSpot.equity.dates, values: withSpot.equity.columns!.spot! });
    const at = series.map((s) => new Map(s.dates.map((d, i) => [d, s.values[i] ?? null])));
    const rebased = at.map((m) => {
      const first = dates.map((d) => m.get(d)).find((v) => v !== undefined && v !== null) ?? null;
      return dates.map((d) => {
        const v = m.get(d);
        return v === undefined || v === null || first === null || first <= 0 ? null : v / first;
      });
    });
    const underwater = rebased.map((vals) => {
      let peak = -Infinity;
      return vals.map((v) => {
        if (v === null) return null;
        peak = Math.max(peak, v);
        return v / peak - 1;
      });
    });
    return {
      x: dates.map(toSeconds),
      rebased,
      underwater,
      runs: withCurves.length,
      underlying: !!withSpot,
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [withCurves.map((l) => encodeRef(l.ref)).join(","), withCurves.length]);

  const seriesSpecs: SeriesSpec[] = [
    ...withCurves.map((l) => ({ label: refLabel(l.ref), color: l.colour })),
    ...(aligned?.underlying
      ? [{ label: "underlying", color: palette.muted, dash: [4, 3], show: showUnderlying }]
      : []),
  ];
  const specKey = JSON.stringify(seriesSpecs);
  const equityOpts = useMemo(
    () =>
      timeOptions(palette, seriesSpecs, {
        yFormat: (v) => fmtNumber(v, 3),
        yAxis: (v, d) => fmtNumber(v, d),
        log,
        sync: "compare",
      }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [palette, specKey, log],
  );
  const uwOpts = useMemo(
    () =>
      timeOptions(palette, seriesSpecs, {
        yFormat: (v) => fmtPct(v, 2),
        yAxis: (v, d) => fmtPct(v, d),
        sync: "compare",
        yRange: [null, 0],
      }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [palette, specKey],
  );

  const correlation = useMemo(() => {
    if (withCurves.length < 2) return null;
    const a = alignOnDates(
      withCurves.map((l) => ({ dates: l.equity.dates, values: l.equity.equity })),
    );
    const returns = a.values.map((v) => dailyReturns(v));
    const n = returns.length;
    const cells: HeatCell[] = [];
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++)
        cells.push({ x: j, y: i, value: i === j ? 1 : pearson(returns[i]!, returns[j]!) });
    const labels = withCurves.map((l) => refLabel(l.ref));
    return {
      days: a.dates.length,
      cells,
      option: heatmapOption({
        xLabels: labels,
        yLabels: labels,
        cells,
        palette,
        scale: {
          ...colourScale([-1, 1], palette, { signed: true, higherIsBetter: true }),
          min: -1,
          max: 1,
        },
        format: (v) => fmtNumber(v, 2),
        tooltip: (c) => `${labels[c.y]} vs ${labels[c.x]}: <b>${fmtNumber(c.value, 3)}</b>`,
        labels: true,
        compact: true,
        yInverse: true,
      }),
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [withCurves.map((l) => encodeRef(l.ref)).join(","), withCurves.length, palette]);

  const spansKey = spans.map((q) => (q.data ? "w" : "")).join(",");
  const kpiRows = useMemo(() => {
    const names = [...metrics.keys()];
    return names.map((k) => {
      const values = loaded.map((l) => l.kpis?.[k] ?? null);
      const defined = values.filter((v): v is number => v !== null);
      const higher = higherIsBetter(metrics, k);
      const best =
        defined.length > 1 ? (higher ? Math.max(...defined) : Math.min(...defined)) : null;
      const differs = defined.some((v) => !same(v, defined[0])) || defined.length !== values.length;
      return { k, values, best, differs };
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [metrics, loaded.map((l) => (l.info ? encodeRef(l.ref) : "")).join(","), spansKey]);

  const paramRows = useMemo(() => {
    const useStrategy = loaded.every((l) => l.info?.strategy);
    const strategies = loaded.map((l) => (l.info?.strategy ? flatten(l.info.strategy) : {}));
    const params = loaded.map((l) => l.info?.params ?? {});
    const keys = [
      ...new Set((useStrategy ? strategies : params).flatMap((f) => Object.keys(f))),
    ].sort();
    // a parameter another run varies is read from this run's strategy where it has one (a
    // sweep's fixed DTE target is its strategy's, not absent); a trial of a study that did not
    // record its base strategy has only the parameters its study searched
    const flat = useStrategy
      ? strategies
      : params.map((p, i) => ({
          ...Object.fromEntries(keys.map((k) => [k, strategies[i]![k]])),
          ...p,
        }));
    return {
      useStrategy,
      rows: keys.map((k) => ({
        k,
        values: flat.map((f) => f[k]),
        differs: flat.some((f) => !same(f[k], flat[0]![k])),
      })),
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [loaded.map((l) => (l.info ? encodeRef(l.ref) : "")).join(",")]);

  const shownKpis = diffOnly ? kpiRows.filter((r) => r.differs) : kpiRows;
  const shownParams = allParams ? paramRows.rows : paramRows.rows.filter((r) => r.differs);

  return (
    <div className="stack" data-testid="compare" data-runs={refs.length}>
      <div className="chips" data-testid="compare-runs">
        {loaded.map((l) => (
          <span className="chip" key={encodeRef(l.ref)}>
            <span className="swatch" style={{ background: l.colour }} />
            <Link to={refPath(l.ref)} title={l.info?.title}>
              {l.info?.title ?? refLabel(l.ref)}
            </Link>
            <button
              type="button"
              aria-label={`remove ${refLabel(l.ref)}`}
              onClick={() => onRemove(l.ref)}
            >
              ×
            </button>
          </span>
        ))}
      </div>
      {all.length > cap && (
        <p className="warn small">
          Showing the first {cap} of {all.length} runs
          {cap < MAX_COMPARE_ON_REQUEST
            ? `; add max=${MAX_COMPARE_ON_REQUEST} to the link for up to ${MAX_COMPARE_ON_REQUEST}`
            : ""}
          .
        </p>
      )}
      {errors.length > 0 && <ErrorBox error={errors[0]} />}
      {loaded.some((l) => l.info && !l.info.equityAvailable) && (
        <p className="muted small">
          Without a kept curve (not in the charts):{" "}
          {loaded
            .filter((l) => l.info && !l.info.equityAvailable)
            .map((l) => refLabel(l.ref))
            .join(", ")}
          .
        </p>
      )}
      <Panel
        title="Equity, rebased to 1"
        actions={
          <>
            {aligned?.underlying && (
              <Toggle
                label="underlying"
                checked={showUnderlying}
                onChange={setShowUnderlying}
                testId="compare-underlying"
                title="the underlying's close, rebased to 1 (from the first run whose chain carries it)"
              />
            )}
            <Toggle label="log scale" checked={log} onChange={setLog} testId="compare-log" />
          </>
        }
      >
        {aligned ? (
          <>
            <UPlotChart
              name="compare-equity"
              data={[aligned.x, ...aligned.rebased] as uPlot.AlignedData}
              options={equityOpts}
              height={320}
              data_={{ series: aligned.runs }}
            />
            <div className="small strong" style={{ marginTop: 8 }}>
              Underwater (drawdown from each run's peak)
            </div>
            <UPlotChart
              name="compare-underwater"
              data={[aligned.x, ...aligned.underwater] as uPlot.AlignedData}
              options={uwOpts}
              height={180}
            />
          </>
        ) : pending ? (
          <Skeleton height={360} />
        ) : (
          <Empty title="No curves">None of these runs has a kept equity curve.</Empty>
        )}
      </Panel>
      {withCurves.length > 0 && <CompareStress runs={withCurves} />}
      <div className="grid grid-2">
        <Panel
          title="KPIs"
          help="the best value of each row is highlighted (by the KPI's direction); a study trial's KPIs are over the whole chain (backtested again), as its curve, or in sample when it cannot be backtested"
          actions={
            <Toggle
              label="differences only"
              checked={diffOnly}
              onChange={setDiffOnly}
              testId="diff-only"
            />
          }
        >
          <div className="table-scroll" style={{ maxHeight: 560 }}>
            <table className="table" data-testid="kpi-table">
              <thead>
                <tr>
                  <th>KPI</th>
                  <RunHeads runs={loaded} />
                </tr>
              </thead>
              <tbody>
                {shownKpis.map((r) => (
                  <tr key={r.k} data-kpi={r.k}>
                    <td title={metricHelp(metrics, r.k)}>{label(metrics, r.k)}</td>
                    {r.values.map((v, i) => (
                      <td
                        key={i}
                        className={`right num ${v !== null && r.best !== null && same(v, r.best) ? "best" : ""}`}
                      >
                        {fmtMetric(metrics, r.k, v)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Panel>
        <Panel
          title={paramRows.useStrategy ? "Strategy differences" : "Parameter differences"}
          help={
            paramRows.useStrategy
              ? "the resolved strategies, flattened to dotted paths"
              : "the runs' parameters"
          }
          actions={<Toggle label="show all" checked={allParams} onChange={setAllParams} />}
        >
          {shownParams.length === 0 ? (
            <Empty title="Identical">
              {paramRows.rows.length ? "Every parameter is the same." : "No parameters recorded."}
            </Empty>
          ) : (
            <div className="table-scroll" style={{ maxHeight: 560 }}>
              <table className="table" data-testid="param-diff">
                <thead>
                  <tr>
                    <th>Path</th>
                    <RunHeads runs={loaded} />
                  </tr>
                </thead>
                <tbody>
                  {shownParams.map((r) => (
                    <tr key={r.k}>
                      <td title={r.k}>{paramRows.useStrategy ? r.k : shortPath(r.k)}</td>
                      {r.values.map((v, i) => (
                        <td key={i} className={`right num ${r.differs ? "strong" : "muted"}`}>
                          {v === undefined && paramRows.useStrategy ? (
                            <span className="muted" title="this strategy has no such field">
                              –
                            </span>
                          ) : v === undefined ? (
                            <span
                              className="muted"
                              title="not recorded: this trial's study did not record its base strategy, only the parameters it searched"
                            >
                              not recorded
                            </span>
                          ) : (
                            fmtParam(v)
                          )}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Panel>
      </div>
      <Panel
        title="Correlation of daily returns"
        help="Pearson correlation over the days every run has; highly correlated runs are one strategy seen several times"
      >
        {!correlation ? (
          pending ? (
            <Skeleton height={240} />
          ) : (
            <Empty title="Insufficient data">Two runs with kept curves are needed.</Empty>
          )
        ) : (
          <>
            <EChart
              name="correlation"
              height={Math.min(120 + withCurves.length * 42, 560)}
              option={correlation.option}
              data={{ size: withCurves.length }}
            />
            <p className="legend-note">Over {fmtInt(correlation.days)} common days.</p>
          </>
        )}
      </Panel>
    </div>
  );
}
