// The tear sheet of one run: KPI header; equity with the drawdown and its 5 worst periods
// shaded; monthly and yearly returns; rolling 6- and 12-month Sharpe and volatility; the daily
// return distribution; for a backtest's daily book: net greeks, P&L attribution, margin; idle
// periods, skipped entries and exits; the resolved strategy as YAML and the command that
// reproduces the run. Derived numbers come from the run's own daily series (one run only).

import { type ReactNode, useEffect, useMemo, useState } from "react";
import { dump } from "js-yaml";
import type uPlot from "uplot";
import type { Equity, Trade } from "../api/client";
import {
  FULL_POINTS,
  useEquity,
  useMetricMap,
  useTrades,
  useTrialSpans,
  type RunInfo,
} from "../api/hooks";
import { EChart, type EChartOption } from "../components/EChart";
import { colourScale, heatmapOption, type HeatCell } from "../components/heatmap";
import { ParamList } from "../components/sweepParts";
import { UPlotChart, shadeHook, timeOptions, toSeconds } from "../components/UPlotChart";
import {
  CopyButton,
  download,
  Empty,
  ErrorBox,
  Panel,
  Segmented,
  Skeleton,
  Stat,
  Toggle,
} from "../components/ui";
import {
  fmtBp,
  fmtDays,
  fmtInt,
  fmtMoney,
  fmtMoneyAxis,
  fmtMoneyCompact,
  fmtNumber,
  fmtPct,
  isNum,
  pctAxisDigits,
} from "../lib/format";
import { fmtMetric, HEADLINE, label, metricHelp } from "../lib/metrics";
import {
  dailyReturns,
  daysBetween,
  drawdownPeriods,
  histogram,
  mean,
  monthlyReturns,
  omegaRatio,
  quantile,
  rollingBeta,
  rollingStats,
  std,
  tailRatio,
  ulcerIndex,
  yearlyReturns,
} from "../lib/stats";
import type { RunRef } from "../lib/refs";
import { regimeTerciles } from "../lib/regimes";
import { STRESS_WINDOWS, stressResults } from "../lib/stress";
import { idlePeriods, MONTHS, tradeRow } from "../lib/table";
import { bool, oneOf, useUrlState } from "../lib/url";
import { usePalette, type Palette } from "../theme";
import { TrialSpansTable } from "./TrialSpans";

export function TearSheet({ info }: { info: RunInfo }) {
  const equity = useEquity(info.ref, FULL_POINTS, info.equityAvailable, true);
  const trades = useTrades(info.ref, info.tradesAvailable);
  return (
    <div className="stack" data-testid="tearsheet">
      <KpiHeader info={info} />
      <SectionNav />
      {!info.equityAvailable ? (
        <Panel title="Equity">
          <Empty title="No equity curve for this trial">{info.equityNote}</Empty>
        </Panel>
      ) : equity.error ? (
        <ErrorBox error={equity.error} />
      ) : !equity.data ? (
        <>
          <Skeleton height={420} />
          <div className="grid grid-2">
            <Skeleton height={260} />
            <Skeleton height={260} />
          </div>
        </>
      ) : equity.data.dates.length < 2 ? (
        <Empty title="Insufficient data">The run's equity curve has fewer than two days.</Empty>
      ) : (
        <SeriesPanels equity={equity.data} info={info} trades={trades.data?.trades} />
      )}
      <div className="grid grid-2">
        <ActivityPanel info={info} trades={trades.data?.trades} tradesError={trades.error} />
        <StrategyPanel info={info} />
      </div>
    </div>
  );
}

const SECTIONS = [
  ["ts-equity", "Equity"],
  ["ts-stress", "Stress"],
  ["ts-volatility", "Volatility"],
  ["ts-regimes", "Regimes"],
  ["ts-returns", "Returns"],
  ["ts-rolling", "Rolling"],
  ["ts-beta", "Beta"],
  ["ts-distribution", "Distribution"],
  ["ts-book", "Book"],
  ["ts-activity", "Activity"],
  ["ts-strategy", "Strategy"],
] as const;

/** Links to the tear sheet's sections that are on the page (some need a curve, trades, the
 *  chain or a daily book), kept at the top of the window while it scrolls. */
function SectionNav() {
  const [present, setPresent] = useState<string[]>([]);
  useEffect(() => {
    const root = document.querySelector('[data-testid="tearsheet"]');
    if (!root) return;
    // sections appear as their data loads: look again whenever the page's content changes
    const update = () => {
      const ids = SECTIONS.map(([id]) => id).filter((id) => document.getElementById(id));
      setPresent((old) => (old.join() === ids.join() ? old : ids));
    };
    update();
    const observer = new MutationObserver(update);
    observer.observe(root, { childList: true, subtree: true });
    return () => observer.disconnect();
  }, []);
  if (present.length < 4) return null; // a short page needs no links
  return (
    <nav className="section-nav" aria-label="sections" data-testid="sections">
      {SECTIONS.filter(([id]) => present.includes(id)).map(([id, text]) => (
        <button
          type="button"
          key={id}
          className="link"
          onClick={() => document.getElementById(id)?.scrollIntoView({ behavior: "smooth" })}
        >
          {text}
        </button>
      ))}
    </nav>
  );
}

function KpiHeader({ info }: { info: RunInfo }) {
  const metrics = useMetricMap();
  // a study without walk-forward ranks trials on the whole chain: nothing after it to show
  const spans = useTrialSpans(info.ref, info.tradesAvailable);
  const held = spans.data?.after ? spans.data : null;
  const tone = (k: string, v: number | null | undefined): "good" | "bad" | undefined => {
    if (!isNum(v)) return undefined;
    if (["sharpe", "cagr", "total_return", "sortino", "calmar"].includes(k))
      return v > 0 ? "good" : v < 0 ? "bad" : undefined;
    return undefined;
  };
  return (
    <>
      <div className="stats" data-testid="kpis">
        {HEADLINE.map((k) => (
          <Stat
            key={k}
            label={label(metrics, k)}
            value={fmtMetric(metrics, k, info.kpis[k])}
            help={metricHelp(metrics, k)}
            tone={tone(k, info.kpis[k])}
            testId={`kpi-${k}`}
          />
        ))}
      </div>
      {info.kpiSpan && (
        <p className="muted small">
          KPIs {info.kpiSpan}
          {held ? "; the trial in that span, after it and over the whole chain:" : "."}
        </p>
      )}
      {held && <TrialSpansTable spans={held} />}
    </>
  );
}

function SeriesPanels({
  equity,
  info,
  trades,
}: {
  equity: Equity;
  info: RunInfo;
  trades: Trade[] | undefined;
}) {
  const palette = usePalette();
  const [log, setLog] = useUrlState("log", bool, false);
  const [showUnderlying, setShowUnderlying] = useUrlState("underlying", bool, false);
  const full = equity.points === equity.days;
  const x = useMemo(() => equity.dates.map(toSeconds), [equity.dates]);
  const eq = equity.equity;
  const underlying = useMemo(() => rebased(equity.columns?.spot, eq), [equity.columns, eq]);
  const periods = useMemo(() => drawdownPeriods(eq, 5), [eq]);
  const returns = useMemo(() => dailyReturns(eq), [eq]);

  // a trial: where the days its study ranked trials on end
  const after = useTrialSpans(info.ref, info.tradesAvailable).data?.after;
  const [shade, shadeDd] = useMemo(() => {
    const ranges = periods.map((d) => ({
      from: x[d.start]!,
      to: x[d.end ?? x.length - 1]!,
      color: palette.shade,
    }));
    const line = after
      ? { at: toSeconds(after.first_date), color: palette.muted, dash: [4, 4] }
      : null;
    return [
      shadeHook(ranges, line ? [{ ...line, label: "after the in-sample span" }] : []),
      shadeHook(ranges, line ? [line] : []),
    ];
  }, [periods, x, palette, after]);
  const equityOpts = useMemo(
    () =>
      timeOptions(
        palette,
        [
          { label: "Equity", color: palette.accent, width: 1.6 },
          ...(underlying
            ? [
                {
                  label: "Underlying (rebased)",
                  color: palette.muted,
                  width: 1,
                  show: showUnderlying,
                },
              ]
            : []),
        ],
        { yFormat: (v) => fmtMoney(v), yAxis: fmtMoneyAxis, log, sync: "tearsheet", hooks: shade },
      ),
    [palette, log, shade, underlying, showUnderlying],
  );
  const ddOpts = useMemo(
    () =>
      timeOptions(
        palette,
        [
          {
            label: "Drawdown",
            color: palette.bad,
            fill: palette.name === "dark" ? "rgba(248,81,73,0.25)" : "rgba(207,34,46,0.18)",
          },
        ],
        {
          yFormat: (v) => fmtPct(v, 2),
          yAxis: (v, d) => fmtPct(v, d),
          sync: "tearsheet",
          hooks: shadeDd,
          yRange: [null, 0],
        },
      ),
    [palette, shadeDd],
  );
  const equityData = useMemo<uPlot.AlignedData>(
    () => [x, eq.map((v) => v ?? null), ...(underlying ? [underlying] : [])],
    [x, eq, underlying],
  );
  const ddData = useMemo<uPlot.AlignedData>(
    () => [x, equity.drawdown.map((v) => v ?? null)],
    [x, equity.drawdown],
  );

  return (
    <>
      <Panel
        id="ts-equity"
        title="Equity and drawdown"
        help="drag to zoom, double-click to reset; the 5 deepest drawdowns are shaded (peak to recovery)"
        actions={
          <>
            {underlying && (
              <Toggle
                label="underlying"
                checked={showUnderlying}
                onChange={setShowUnderlying}
                testId="underlying"
                title="the underlying's close, rebased to the run's first equity"
              />
            )}
            <Toggle label="log scale" checked={log} onChange={setLog} testId="log" />
          </>
        }
      >
        <UPlotChart
          name="equity"
          data={equityData}
          options={equityOpts}
          height={300}
          data_={{ points: x.length, days: equity.days }}
        />
        <UPlotChart name="drawdown" data={ddData} options={ddOpts} height={150} />
        <p className="legend-note">
          {full
            ? `${fmtInt(equity.days)} trading days, every one drawn.`
            : `${fmtInt(equity.points)} of ${fmtInt(equity.days)} days (downsampled on the server, first, last, highest, lowest and the deepest drawdown kept); the derived statistics below use these days.`}{" "}
          Equity source: {info.equitySource}.
        </p>
        <DrawdownTable periods={periods} dates={equity.dates} />
      </Panel>
      <StressPanel equity={equity} />
      {trades && <VolatilityPanel equity={equity} trades={trades} x={x} palette={palette} />}
      <RegimePanel equity={equity} returns={returns} />
      <ReturnsPanels
        dates={equity.dates}
        equity={eq}
        returns={returns}
        spot={equity.columns?.spot ?? null}
        palette={palette}
      />
      <div id="ts-book" className="stack">
        <BookPanels equity={equity} info={info} palette={palette} x={x} />
      </div>
    </>
  );
}

/** The underlying's closes scaled to start where the equity starts (null without them). */
function rebased(
  spot: readonly (number | null)[] | undefined,
  equity: readonly (number | null)[],
): (number | null)[] | null {
  const at = spot ? spot.findIndex((v, t) => isNum(v) && v > 0 && isNum(equity[t])) : -1;
  if (!spot || at < 0) return null;
  const scale = equity[at]! / spot[at]!;
  return spot.map((v) => (isNum(v) ? v * scale : null));
}

/** The chain's volatility over the run's days, and each entry on it: winners and losers. */
function VolatilityPanel({
  equity,
  trades,
  x,
  palette,
}: {
  equity: Equity;
  trades: Trade[];
  x: number[];
  palette: Palette;
}) {
  const vix = equity.columns?.vix_30;
  const data = useMemo<uPlot.AlignedData | null>(() => {
    if (!vix) return null;
    const at = new Map(equity.dates.map((d, i) => [d, i]));
    const won: (number | null)[] = new Array(x.length).fill(null);
    const lost: (number | null)[] = new Array(x.length).fill(null);
    for (const t of trades) {
      const i = at.get(t.entry_date);
      const level = t.entry_regime?.vix_30;
      if (i === undefined || level === null || level === undefined) continue;
      (t.pnl !== null && t.pnl > 0 ? won : lost)[i] = 100 * level;
    }
    return [x, vix.map((v) => (v === null ? null : 100 * v)), won, lost];
  }, [vix, equity.dates, trades, x]);
  const options = useMemo(
    () =>
      timeOptions(
        palette,
        [
          { label: "VIX", color: palette.muted, width: 1 },
          { label: "entry, won", color: palette.good, markers: true },
          { label: "entry, lost", color: palette.bad, markers: true },
        ],
        { yFormat: (v) => fmtNumber(v, 1), yAxis: (v, d) => fmtNumber(v, d), sync: "tearsheet" },
      ),
    [palette],
  );
  if (!data) return null;
  return (
    <Panel
      id="ts-volatility"
      title="Volatility and entries"
      help="the chain's 30-day VIX at each close, and each trade's entry at the VIX of its entry day (green: it made money); an entry on a day the downsampled curve does not show is left out"
    >
      <UPlotChart name="volatility" data={data} options={options} height={220} />
    </Panel>
  );
}

const REGIMES = [
  {
    value: "vix_30",
    label: "VIX",
    title: "Volatility (VIX)",
    fmt: (v: number) => fmtNumber(100 * v, 1),
  },
  {
    value: "iv_rank",
    label: "IV rank",
    title: "IV rank (in its year's range)",
    fmt: (v: number) => fmtPct(v, 0),
  },
  {
    value: "trend_200",
    label: "Trend",
    title: "Trend (spot vs 200-day average)",
    fmt: (v: number) => fmtPct(v, 1),
  },
] as const;
type RegimeName = (typeof REGIMES)[number]["value"];

function RegimePanel({ equity, returns }: { equity: Equity; returns: (number | null)[] }) {
  const [name, setName] = useUrlState(
    "regime",
    oneOf(REGIMES.map((r) => r.value)),
    "vix_30" as RegimeName,
  );
  const regime = REGIMES.find((r) => r.value === name) ?? REGIMES[0];
  const feature = equity.columns?.[name];
  const rows = useMemo(
    () => (feature ? regimeTerciles(returns, feature) : null),
    [returns, feature],
  );
  return (
    <Panel
      id="ts-regimes"
      title="Regimes"
      help="daily returns in three regimes of equal size: terciles of a chain feature at the previous close (what was known before the day), over the run's days"
      actions={
        <Segmented
          label="regime by"
          value={name}
          options={REGIMES}
          onChange={setName}
          testId="regime"
        />
      }
    >
      {!rows ? (
        <p className="muted small">
          {feature
            ? "Fewer than three days with the feature and a return."
            : "The chain this run read is not at hand: its features cannot be shown."}
        </p>
      ) : (
        <table className="simple-table" data-testid="regimes">
          <thead>
            <tr>
              <th>Regime</th>
              <th>{regime.title}</th>
              <th className="right">Days</th>
              <th className="right">Return</th>
              <th className="right">Mean a day</th>
              <th className="right">Sharpe</th>
              <th className="right">Positive days</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                <td>{["low", "middle", "high"][i]}</td>
                <td className="num">
                  {regime.fmt(r.lo)} to {regime.fmt(r.hi)}
                </td>
                <td className="right num">{fmtInt(r.days)}</td>
                <td className={`right num ${r.ret < 0 ? "bad" : r.ret > 0 ? "good" : ""}`}>
                  {fmtPct(r.ret, 2)}
                </td>
                <td className="right num">{fmtBp(r.mean, 1)}</td>
                <td className="right num">{fmtNumber(r.sharpe)}</td>
                <td className="right num">{fmtPct(r.hit, 1)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  );
}

function StressPanel({ equity }: { equity: Equity }) {
  const spot = equity.columns?.spot ?? null;
  const results = useMemo(
    () => stressResults(equity.dates, equity.equity, spot),
    [equity.dates, equity.equity, spot],
  );
  return (
    <Panel
      id="ts-stress"
      title="Stress periods"
      help="named market stress windows that fall wholly inside this run's span, each from the S&P 500's close before the move to its close at the trough: the run's return over it and its deepest drawdown within it"
    >
      {results.length === 0 ? (
        <p className="muted small" data-testid="stress-none">
          None of the named windows ({STRESS_WINDOWS[0]!.name} to{" "}
          {STRESS_WINDOWS[STRESS_WINDOWS.length - 1]!.name}) falls wholly inside {equity.dates[0]}{" "}
          to {equity.dates[equity.dates.length - 1]}.
        </p>
      ) : (
        <>
          <table className="simple-table" data-testid="stress">
            <thead>
              <tr>
                <th>Window</th>
                <th>From</th>
                <th>To</th>
                <th className="right">Return</th>
                <th className="right">Worst drawdown in it</th>
                {spot && <th className="right">Underlying</th>}
              </tr>
            </thead>
            <tbody>
              {results.map((r) => (
                <tr key={r.name}>
                  <td>{r.name}</td>
                  <td className="num">{r.from}</td>
                  <td className="num">{r.to}</td>
                  <td className={`right num ${r.ret < 0 ? "bad" : r.ret > 0 ? "good" : ""}`}>
                    {fmtPct(r.ret, 2)}
                  </td>
                  <td className="right num bad">
                    {r.worstDrawdown < 0 ? fmtPct(r.worstDrawdown, 2) : "–"}
                  </td>
                  {spot && <td className="right num">{fmtPct(r.underlying, 2)}</td>}
                </tr>
              ))}
            </tbody>
          </table>
          <p className="legend-note">
            Close to close, from the last day of the run on or before each date. The dates are the
            S&P 500&apos;s; on a chain that does not follow the index they are only dates.
          </p>
        </>
      )}
    </Panel>
  );
}

function DrawdownTable({
  periods,
  dates,
}: {
  periods: ReturnType<typeof drawdownPeriods>;
  dates: string[];
}) {
  if (!periods.length)
    return <p className="muted small">No drawdown: the equity never fell below its peak.</p>;
  return (
    <table className="simple-table" data-testid="drawdowns">
      <thead>
        <tr>
          <th>#</th>
          <th>Peak</th>
          <th>Trough</th>
          <th>Recovered</th>
          <th className="right">Depth</th>
          <th className="right">Peak to trough</th>
          <th className="right">Trough to recovery</th>
        </tr>
      </thead>
      <tbody>
        {periods.map((d, i) => (
          <tr key={d.start}>
            <td>{i + 1}</td>
            <td className="num">{dates[d.start]}</td>
            <td className="num">{dates[d.trough]}</td>
            <td className="num">
              {d.end !== null ? dates[d.end] : <span className="bad">not yet</span>}
            </td>
            <td className="right bad">{fmtPct(d.depth)}</td>
            <td className="right">{fmtDays(daysBetween(dates[d.start]!, dates[d.trough]!))}</td>
            <td className="right">
              {d.end !== null ? fmtDays(daysBetween(dates[d.trough]!, dates[d.end]!)) : "–"}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A panel of one rolling statistic's chart, or why the run is too short for it. */
function RollingPanel({
  id,
  title,
  help,
  name,
  data,
  options,
  enough,
  note,
  height = 220,
}: {
  id?: string;
  title: string;
  help: string;
  name: string;
  data: uPlot.AlignedData;
  options: ReturnType<typeof timeOptions>;
  enough: boolean;
  note: ReactNode;
  height?: number;
}) {
  return (
    <Panel id={id} title={title} help={help}>
      {enough ? (
        <>
          <UPlotChart name={name} data={data} options={options} height={height} />
          {note}
        </>
      ) : (
        <Empty title="Insufficient data">A 6-month window needs more than 126 daily returns.</Empty>
      )}
    </Panel>
  );
}

/** A rolling statistic's chart: its 6- and 12-month windows, hover values to `digits`. */
function rollingOptions(
  palette: Palette,
  fmt: (v: number, digits?: number) => string,
  digits: number,
) {
  return timeOptions(
    palette,
    [
      { label: "6 months", color: palette.series[0] },
      { label: "12 months", color: palette.series[1] },
    ],
    { yFormat: (v) => fmt(v, digits), yAxis: (v, d) => fmt(v, d), sync: "rolling" },
  );
}

function ReturnsPanels({
  dates,
  equity,
  returns,
  spot,
  palette,
}: {
  dates: string[];
  equity: (number | null)[];
  returns: (number | null)[];
  spot: (number | null)[] | null;
  palette: Palette;
}) {
  const monthly = useMemo(() => monthlyReturns(dates, equity), [dates, equity]);
  const yearly = useMemo(() => yearlyReturns(dates, equity), [dates, equity]);
  const x = useMemo(() => dates.map(toSeconds), [dates]);

  const monthOption = useMemo(() => {
    const years = [...new Set(monthly.map((m) => m.year))];
    const cells: HeatCell[] = [];
    const at = new Map(monthly.map((m) => [`${m.year}-${m.month}`, m.ret]));
    years.forEach((y, i) => {
      for (let mo = 1; mo <= 12; mo++) {
        const v = at.get(`${y}-${mo}`);
        // months outside the data are left out, not hatched
        if (v !== undefined) cells.push({ x: mo - 1, y: i, value: v });
      }
    });
    const scale = colourScale(
      cells.map((c) => c.value),
      palette,
      { signed: true, higherIsBetter: true },
    );
    return heatmapOption({
      xLabels: MONTHS,
      yLabels: years.map(String),
      cells,
      palette,
      scale,
      format: (v) => fmtPct(v, 1),
      tooltip: (c) => `${MONTHS[c.x]} ${years[c.y]}: <b>${fmtPct(c.value, 2)}</b>`,
      compact: true,
      labels: true,
      yInverse: true,
    });
  }, [monthly, palette]);

  const yearOption = useMemo<EChartOption>(
    () => ({
      animation: false,
      grid: { left: 56, right: 12, top: 12, bottom: 28 },
      tooltip: { trigger: "axis", valueFormatter: (v: unknown) => fmtPct(v as number, 2) },
      xAxis: {
        type: "category",
        data: yearly.map((y) => String(y.year)),
        axisLabel: { color: palette.text },
      },
      yAxis: {
        type: "value",
        axisLabel: {
          color: palette.muted,
          formatter: (v: number) => fmtPct(v, pctAxisDigits(yearly.map((y) => y.ret))),
        },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: [
        {
          type: "bar",
          data: yearly.map((y) => ({
            value: y.ret,
            itemStyle: { color: y.ret >= 0 ? palette.good : palette.bad },
          })),
          label: {
            show: yearly.length <= 15,
            position: "top",
            color: palette.muted,
            fontSize: 10,
            formatter: (p: { value: number }) => fmtPct(p.value, 1),
          },
        },
      ],
    }),
    [yearly, palette],
  );

  const rolling = useMemo(() => {
    const r6 = rollingStats(returns, 126);
    const r12 = rollingStats(returns, 252);
    const market = spot ? dailyReturns(spot) : null;
    const beta = market
      ? { b6: rollingBeta(returns, market, 126), b12: rollingBeta(returns, market, 252) }
      : null;
    return { r6, r12, beta };
  }, [returns, spot]);
  const sharpeOpts = useMemo(() => rollingOptions(palette, fmtNumber, 2), [palette]);
  const volOpts = useMemo(() => rollingOptions(palette, fmtPct, 2), [palette]);
  const betaOpts = useMemo(() => rollingOptions(palette, fmtNumber, 3), [palette]);
  const enoughRolling = returns.length > 130;
  const note12 =
    returns.length <= 253 ? (
      <p className="legend-note">The 12-month window needs more than 252 daily returns.</p>
    ) : null;

  const dist = useMemo(() => {
    const rs = returns.filter((r): r is number => r !== null);
    const sorted = [...rs].sort((a, b) => a - b);
    const m = mean(rs);
    const s = std(rs);
    const skew =
      rs.length > 2 && s > 0 ? rs.reduce((acc, r) => acc + ((r - m) / s) ** 3, 0) / rs.length : NaN;
    const kurt =
      rs.length > 3 && s > 0
        ? rs.reduce((acc, r) => acc + ((r - m) / s) ** 4, 0) / rs.length - 3
        : NaN;
    const var95 = quantile(sorted, 0.05);
    const var99 = quantile(sorted, 0.01);
    // the bins span the 0.5% to 99.5% quantiles: a few extreme days would squeeze the rest
    const lo = quantile(sorted, 0.005);
    const hi = quantile(sorted, 0.995);
    const inside = rs.filter((r) => r >= lo && r <= hi);
    const h = histogram(inside, 60);
    const below = rs.filter((r) => r < lo);
    const above = rs.filter((r) => r > hi);
    return {
      rs,
      m,
      s,
      skew,
      kurt,
      var95,
      var99,
      tail: tailRatio(sorted),
      omega: omegaRatio(rs),
      ulcer: ulcerIndex(equity),
      h,
      below,
      above,
      positive: rs.filter((r) => r > 0).length / (rs.length || 1),
      zero: rs.filter((r) => r === 0).length,
    };
  }, [returns, equity]);

  const distOption = useMemo<EChartOption>(() => {
    const { h } = dist;
    const centres = h.counts.map((_, i) => ((h.edges[i] ?? 0) + (h.edges[i + 1] ?? 0)) / 2);
    return {
      animation: false,
      grid: { left: 48, right: 12, top: 16, bottom: 30 },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: (p: unknown) => {
          const item = (p as { data: [number, number] }[])[0];
          return item ? `${fmtBp(item.data[0])}: ${fmtInt(item.data[1])} days` : "";
        },
      },
      xAxis: {
        type: "value",
        min: h.edges[0],
        max: h.edges[h.edges.length - 1],
        axisLabel: { color: palette.muted, formatter: (v: number) => fmtPct(v, 1) },
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        axisLine: { onZero: false },
        axisLabel: { color: palette.muted },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: [
        {
          type: "bar",
          barWidth: "95%",
          data: centres.map((c, i) => [c, h.counts[i]]),
          itemStyle: { color: palette.accent },
          markLine: {
            symbol: "none",
            lineStyle: { color: palette.bad, type: "dashed" },
            label: { color: palette.text, formatter: `VaR 95% ${fmtPct(dist.var95, 2)}` },
            // two points in data coordinates: an `xAxis` value on a bar series is drawn at 0
            data: [[{ coord: [dist.var95, 0] }, { coord: [dist.var95, Math.max(...h.counts)] }]],
          },
        },
      ],
    } as EChartOption;
  }, [dist, palette]);

  return (
    <>
      <div className="grid grid-2">
        <Panel
          id="ts-returns"
          title="Monthly returns"
          help="compounded return of each calendar month, from the month-end equity; the colour scale is centred on 0"
        >
          {monthly.length < 2 ? (
            <Empty title="Insufficient data">Fewer than two months.</Empty>
          ) : (
            <EChart
              name="monthly"
              height={Math.max(
                220,
                Math.min(80 + new Set(monthly.map((m) => m.year)).size * 26, 520),
              )}
              option={monthOption}
              data={{ months: monthly.length }}
            />
          )}
        </Panel>
        <Panel title="Yearly returns">
          <EChart name="yearly" height={260} option={yearOption} data={{ years: yearly.length }} />
          <p className="legend-note">
            Best month {fmtPct(Math.max(...monthly.map((m) => m.ret)), 2)}, worst month{" "}
            {fmtPct(Math.min(...monthly.map((m) => m.ret)), 2)},{" "}
            {fmtPct(monthly.filter((m) => m.ret > 0).length / (monthly.length || 1), 0)} of months
            positive.
          </p>
        </Panel>
      </div>
      <div className="grid grid-2">
        <RollingPanel
          id="ts-rolling"
          title="Rolling Sharpe"
          help="annualised Sharpe of the last 126 (6 months) and 252 (12 months) daily returns, risk-free 0"
          name="rolling-sharpe"
          data={[x, rolling.r6.sharpe, rolling.r12.sharpe]}
          options={sharpeOpts}
          enough={enoughRolling}
          note={note12}
        />
        <RollingPanel
          title="Rolling volatility"
          help="annualised standard deviation of the last 126 and 252 daily returns"
          name="rolling-vol"
          data={[x, rolling.r6.vol, rolling.r12.vol]}
          options={volOpts}
          enough={enoughRolling}
          note={note12}
        />
      </div>
      {rolling.beta && enoughRolling && (
        <RollingPanel
          id="ts-beta"
          title="Rolling beta to the underlying"
          help="the covariance of the run's daily returns with the underlying's over its variance, over the last 126 (6 months) and 252 (12 months) days: the equity's exposure to the index, in units of it"
          name="rolling-beta"
          data={[x, rolling.beta.b6, rolling.beta.b12]}
          options={betaOpts}
          enough
          note={note12}
          height={200}
        />
      )}
      <Panel id="ts-distribution" title="Daily returns" help="simple returns of end-of-day equity">
        {dist.rs.length < 10 ? (
          <Empty title="Insufficient data">Fewer than 10 daily returns.</Empty>
        ) : (
          <div className="grid grid-2">
            <div>
              <EChart
                name="returns-histogram"
                height={240}
                option={distOption}
                data={{ returns: dist.rs.length }}
              />
              {(dist.below.length > 0 || dist.above.length > 0) && (
                <p className="legend-note">
                  Bins from the 0.5% to the 99.5% quantile; beyond them: {fmtInt(dist.below.length)}{" "}
                  days down to {fmtPct(Math.min(...dist.below, 0), 2)}, {fmtInt(dist.above.length)}{" "}
                  up to {fmtPct(Math.max(...dist.above, 0), 2)}.
                </p>
              )}
            </div>
            <dl className="kv">
              <dt>Days</dt>
              <dd>
                {fmtInt(dist.rs.length)} ({fmtInt(dist.zero)} flat)
              </dd>
              <dt>Mean</dt>
              <dd>{fmtBp(dist.m, 1)} a day</dd>
              <dt>Standard deviation</dt>
              <dd>
                {fmtBp(dist.s, 1)} a day ({fmtPct(dist.s * Math.sqrt(252), 2)} a year)
              </dd>
              <dt>Skew</dt>
              <dd>{fmtNumber(dist.skew)}</dd>
              <dt>Excess kurtosis</dt>
              <dd>{fmtNumber(dist.kurt)}</dd>
              <dt>Best / worst day</dt>
              <dd>
                {fmtPct(Math.max(...dist.rs), 2)} / {fmtPct(Math.min(...dist.rs), 2)}
              </dd>
              <dt title="the 5th and 1st percentiles of the daily returns">
                VaR 95% / 99% (historical)
              </dt>
              <dd>
                {fmtPct(dist.var95, 2)} / {fmtPct(dist.var99, 2)}
              </dd>
              <dt title="the 95th percentile of the daily returns over the absolute 5th: above 1, the right tail is the longer">
                Tail ratio
              </dt>
              <dd>{fmtNumber(dist.tail)}</dd>
              <dt title="the sum of the daily gains over the sum of the daily losses">
                Omega ratio (at 0)
              </dt>
              <dd>{fmtNumber(dist.omega)}</dd>
              <dt title="the root mean square of the drawdown from the running peak, over every day">
                Ulcer index
              </dt>
              <dd>{fmtPct(dist.ulcer, 2)}</dd>
              <dt>Positive days</dt>
              <dd>{fmtPct(dist.positive, 1)}</dd>
            </dl>
          </div>
        )}
      </Panel>
    </>
  );
}

const GREEKS = [
  { key: "delta", label: "Delta (options)", unit: "shares" },
  { key: "net_delta", label: "Net delta (with the hedge)", unit: "shares" },
  { key: "gamma", label: "Gamma", unit: "per point" },
  { key: "vega", label: "Vega", unit: "$ per vol point" },
  { key: "theta", label: "Theta", unit: "$ per day" },
] as const;

const ATTRIBUTION = [
  "pnl_delta",
  "pnl_gamma",
  "pnl_vega",
  "pnl_theta",
  "pnl_costs",
  "pnl_financing",
  "pnl_residual",
] as const;

/** Why a run has no daily book, by kind, and how to get one (a trial's page has a command at
 *  its foot only when its study recorded its base strategy). */
const NO_STRATEGY_HOW =
  "run it on the study's base strategy with this trial's parameters (Strategy, below).";
const NO_BOOK: Record<RunRef["kind"], { kept: string; how: string }> = {
  run: {
    kept: "A sweep keeps each run's KPIs and equity only. The daily net greeks, P&L attribution and margin are written by ",
    how: "run the command at the bottom of this page to get them.",
  },
  trial: {
    kept: "A study keeps each trial's KPIs and equity only. The daily net greeks, P&L attribution and margin are written by ",
    how: "run the command at the bottom of this page to get them.",
  },
  backtest: {
    kept: "This run has no daily book: the greeks, P&L attribution and margin are written by ",
    how: "run the command at the bottom of this page to get them.",
  },
};

function BookPanels({
  equity,
  info,
  palette,
  x,
}: {
  equity: Equity;
  info: RunInfo;
  palette: Palette;
  x: number[];
}) {
  const cols = equity.columns ?? {};
  const has = (k: string) => Array.isArray(cols[k]);
  const [period, setPeriod] = useUrlState(
    "attr",
    oneOf(["day", "week", "month"] as const),
    "month",
  );

  const greekOpts = useMemo(
    () =>
      Object.fromEntries(
        GREEKS.map((g, i) => [
          g.key,
          timeOptions(
            palette,
            [{ label: g.label, color: palette.series[i % palette.series.length] }],
            { yFormat: (v) => fmtNumber(v, 2), yAxis: (v, d) => fmtNumber(v, d), sync: "book" },
          ),
        ]),
      ),
    [palette],
  );
  const marginOpts = useMemo(
    () =>
      timeOptions(
        palette,
        [
          { label: "Initial margin", color: palette.series[0] },
          { label: "Maintenance margin", color: palette.series[1], dash: [4, 3] },
        ],
        { yFormat: (v) => fmtMoney(v), yAxis: fmtMoneyAxis, sync: "book" },
      ),
    [palette],
  );

  const attribution = useMemo(() => {
    if (!ATTRIBUTION.some((k) => has(k))) return null;
    const keyOf = (d: string) => {
      if (period === "day") return d;
      if (period === "month") return d.slice(0, 7);
      const t = new Date(`${d}T00:00:00Z`);
      const monday = new Date(t.getTime() - ((t.getUTCDay() + 6) % 7) * 86_400_000);
      return monday.toISOString().slice(0, 10);
    };
    const buckets: string[] = [];
    const sums = Object.fromEntries(ATTRIBUTION.map((k) => [k, [] as number[]]));
    equity.dates.forEach((d, i) => {
      const k = keyOf(d);
      if (buckets[buckets.length - 1] !== k) {
        buckets.push(k);
        for (const a of ATTRIBUTION) sums[a]!.push(0);
      }
      for (const a of ATTRIBUTION) {
        const v = cols[a]?.[i];
        if (isNum(v)) sums[a]![sums[a]!.length - 1]! += v;
      }
    });
    const totals = Object.fromEntries(
      ATTRIBUTION.map((a) => [a, sums[a]!.reduce((s, v) => s + v, 0)]),
    );
    return { buckets, sums, totals };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [equity, period]);

  const attributionOption = useMemo<EChartOption | null>(() => {
    if (!attribution) return null;
    const colours = [
      palette.series[0],
      palette.series[2],
      palette.series[4],
      palette.series[1],
      palette.series[3],
      palette.series[5],
      palette.series[7],
    ];
    return {
      animation: false,
      grid: { left: 64, right: 16, top: 36, bottom: 56 },
      legend: {
        top: 0,
        textStyle: { color: palette.muted },
        data: ATTRIBUTION.map((a) => a.replace("pnl_", "")),
      },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        valueFormatter: (v: unknown) => fmtMoney(v as number),
      },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 6 }],
      xAxis: { type: "category", data: attribution.buckets, axisLabel: { color: palette.muted } },
      yAxis: {
        type: "value",
        axisLabel: { color: palette.muted, formatter: (v: number) => fmtMoneyCompact(v) },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: ATTRIBUTION.map((a, i) => ({
        type: "bar",
        name: a.replace("pnl_", ""),
        stack: "pnl",
        data: attribution.sums[a],
        itemStyle: { color: colours[i] },
        large: attribution.buckets.length > 500,
      })),
    } as EChartOption;
  }, [attribution, palette]);

  const margin = cols.initial_margin;
  const maxMargin = margin ? Math.max(...margin.filter(isNum)) : NaN;
  const anyBook = GREEKS.some((g) => has(g.key)) || attribution || margin;

  if (!anyBook)
    return (
      <Panel title="Greeks, P&L attribution and margin">
        <Empty title="No daily book for this run">
          {NO_BOOK[info.ref.kind].kept}
          <code>gridbt backtest</code>:{" "}
          {info.strategy ? NO_BOOK[info.ref.kind].how : NO_STRATEGY_HOW}
        </Empty>
      </Panel>
    );

  return (
    <>
      {GREEKS.some((g) => has(g.key)) && (
        <Panel
          title="Net greeks"
          help="end-of-day greeks of the position (contracts x multiplier), and the delta net of the hedge"
        >
          <div className="grid grid-2">
            {GREEKS.filter((g) => has(g.key)).map((g) => (
              <div key={g.key}>
                <div className="small muted">
                  {g.label} <span>({g.unit})</span>
                </div>
                <UPlotChart
                  name={`greek-${g.key}`}
                  data={[x, cols[g.key]!]}
                  options={greekOpts[g.key]!}
                  height={170}
                />
              </div>
            ))}
          </div>
        </Panel>
      )}
      {attribution && attributionOption && (
        <Panel
          title="Daily P&L attribution"
          help="the day's P&L split into delta, gamma, vega and theta (Taylor terms of the greeks), costs, financing and the residual; summed per period"
          actions={
            <Segmented
              label="period"
              value={period}
              onChange={setPeriod}
              options={["day", "week", "month"]}
              testId="attribution-period"
            />
          }
        >
          <EChart
            name="attribution"
            height={320}
            option={attributionOption}
            data={{ periods: attribution.buckets.length }}
          />
          <div className="chips" style={{ marginTop: 8 }}>
            {ATTRIBUTION.map((a) => (
              <span className="chip" key={a} style={{ paddingRight: 10 }}>
                {a.replace("pnl_", "")}{" "}
                <b className={attribution.totals[a]! >= 0 ? "good" : "bad"}>
                  {fmtMoney(attribution.totals[a])}
                </b>
              </span>
            ))}
          </div>
        </Panel>
      )}
      {margin && (
        <Panel
          title="Margin"
          help="end-of-day initial and maintenance margin of the position; return on margin = total P&L / the largest initial margin"
        >
          <UPlotChart
            name="margin"
            data={[x, margin, cols.maintenance_margin ?? margin.map(() => null)]}
            options={marginOpts}
            height={200}
          />
          <p className="legend-note">
            Largest initial margin {fmtMoney(maxMargin)}; return on margin{" "}
            {fmtNumber(info.kpis.return_on_margin ?? null)}
            {cols.margin_call_days
              ? `; ${fmtInt(cols.margin_call_days.filter((v) => isNum(v) && v > 0).length)} days under a margin call`
              : ""}
            .
          </p>
        </Panel>
      )}
    </>
  );
}

function ActivityPanel({
  info,
  trades,
  tradesError,
}: {
  info: RunInfo;
  trades: import("../api/client").Trade[] | undefined;
  tradesError: unknown;
}) {
  const rows = useMemo(() => (trades ?? []).map(tradeRow), [trades]);
  const idle = useMemo(
    () => idlePeriods(rows, info.firstDate, info.lastDate, 10),
    [rows, info.firstDate, info.lastDate],
  );
  const exits = useMemo(() => {
    if (info.exitReasons) return info.exitReasons;
    const out: Record<string, number> = {};
    for (const r of rows) out[r.exitReason] = (out[r.exitReason] ?? 0) + 1;
    return out;
  }, [rows, info.exitReasons]);
  // a study records no skips: a trial's come from its whole-chain backtest (the spans route)
  const spans = useTrialSpans(info.ref, info.tradesAvailable).data;
  const skipped = info.ref.kind === "trial" ? (spans?.skips ?? {}) : info.skips;
  const skips = Object.entries(skipped).filter(([, v]) => isNum(v) && v > 0);
  const idleDays = idle.reduce((s, p) => s + p.days, 0);
  return (
    <Panel
      id="ts-activity"
      title="Activity"
      help="skipped entries (the day's entry could not be made, by reason), exits by reason, and flat periods of 10 calendar days or more between trades"
    >
      <div className="grid grid-2">
        <div>
          <div className="small strong">Skipped entries</div>
          {skips.length ? (
            <ul className="plain small">
              {skips.map(([k, v]) => (
                <li key={k}>
                  {k.replace(/_/g, " ")}: <b className="num">{fmtInt(v)}</b>
                </li>
              ))}
            </ul>
          ) : (
            <p className="small muted">
              {info.ref.kind === "trial" && !spans ? "Not known without a backtest." : "None."}
            </p>
          )}
          <div className="small strong" style={{ marginTop: 8 }}>
            Exits
          </div>
          {Object.keys(exits).length ? (
            <ul className="plain small">
              {Object.entries(exits)
                .sort((a, b) => b[1] - a[1])
                .map(([k, v]) => (
                  <li key={k}>
                    {k.replace(/_/g, " ")}: <b className="num">{fmtInt(v)}</b>
                  </li>
                ))}
            </ul>
          ) : (
            <p className="small muted">
              {info.tradesAvailable ? (trades ? "No trade." : "…") : "No trades."}
            </p>
          )}
        </div>
        <div>
          <div className="small strong">Idle periods (≥ 10 days flat)</div>
          {tradesError ? (
            <ErrorBox error={tradesError} />
          ) : !info.tradesAvailable ? (
            <p className="small muted">No backtest.</p>
          ) : !trades ? (
            <Skeleton height={80} />
          ) : idle.length === 0 ? (
            <p className="small muted">
              None: the run was in a trade or re-entered within 10 days throughout.
            </p>
          ) : (
            <>
              <p className="small">
                {fmtInt(idle.length)} {idle.length === 1 ? "period" : "periods"}, {fmtInt(idleDays)}{" "}
                days in all{idle.length > 1 ? "; longest:" : ":"}
              </p>
              <ul className="plain small num">
                {[...idle]
                  .sort((a, b) => b.days - a.days)
                  .slice(0, 6)
                  .map((p) => (
                    <li key={p.from}>
                      {p.from} → {p.to} ({fmtInt(p.days)} d)
                    </li>
                  ))}
              </ul>
            </>
          )}
        </div>
      </div>
    </Panel>
  );
}

function StrategyPanel({ info }: { info: RunInfo }) {
  const raw =
    info.ref.kind === "run"
      ? `${String(info.strategy?.name ?? "strategy")}-${info.ref.hash.slice(0, 8)}`
      : String(info.strategy?.name ?? "strategy");
  // a name safe in a shell and a file system
  const name = raw.replace(/[^A-Za-z0-9_.-]+/g, "-");
  const yaml = useMemo(
    () =>
      info.strategy ? dump(info.strategy, { noRefs: true, lineWidth: 100, sortKeys: false }) : "",
    [info.strategy],
  );
  const file = `${name}.yaml`;
  const command = [
    "gridbt backtest",
    `--strategy ${file}`,
    info.dataPath ? `--data ${info.dataPath}` : null,
    `--out out/${name}`,
  ]
    .filter(Boolean)
    .join(" ");
  return (
    <Panel
      id="ts-strategy"
      title="Strategy"
      help={
        info.ref.kind === "trial"
          ? "the resolved strategy of this trial (the study's base strategy with the trial's values), and the command that backtests it over the whole chain"
          : "the resolved strategy of this run (the sweep's base strategy with the run's grid values), and the command that reproduces it"
      }
      actions={
        info.strategy ? (
          <>
            <CopyButton text={yaml} label="Copy YAML" />
            <button
              type="button"
              className="button small"
              onClick={() => download(file, yaml, "application/yaml")}
            >
              Download
            </button>
          </>
        ) : undefined
      }
    >
      {Object.keys(info.params).length > 0 && (
        <div style={{ marginBottom: 10 }}>
          <div className="small strong">Parameters</div>
          <ParamList params={info.params} />
        </div>
      )}
      {info.strategy ? (
        <>
          <pre data-testid="strategy-yaml">{yaml}</pre>
          <div className="small strong" style={{ marginTop: 10 }}>
            {info.equityAvailable ? "Reproduce it" : "Backtest it (the study did not run it)"} (save
            the YAML as <code>{file}</code>)
          </div>
          <div className="command">
            <pre data-testid="backtest-command">{command}</pre>
            <CopyButton text={command} />
          </div>
          <p className="legend-note">
            {info.dataPath ? "" : "No --data: the run used the default chain. "}
            Data fingerprint <code>{info.fingerprint ?? "–"}</code>
            {info.firstDate ? `, ${info.firstDate} to ${info.lastDate}` : ""}
            {info.codeVersion ? `; gridbt ${info.codeVersion}` : ""}.
          </p>
        </>
      ) : (
        <p className="muted small">
          {info.strategyNote ??
            "The study's base strategy with the parameters above reproduces this run."}
        </p>
      )}
    </Panel>
  );
}
