// The trades of a run: a virtualised table expandable to the legs, breakdowns by exit reason,
// DTE bucket, weekday, month and structure, the MAE/MFE scatter and a CSV export.

import { useMemo } from "react";
import { useNavigate } from "react-router-dom";
import type { ColumnDef } from "@tanstack/react-table";
import { useTrades, type RunInfo } from "../api/hooks";
import { DataTable } from "../components/DataTable";
import { EChart, type EChartOption } from "../components/EChart";
import { download, Empty, ErrorBox, Panel, Segmented, SkeletonRows, Stat } from "../components/ui";
import { fmtDays, fmtInt, fmtMoney, fmtNumber, fmtParam, fmtPct, isNum } from "../lib/format";
import { refPath } from "../lib/refs";
import { daysBetween, mean } from "../lib/stats";
import { breakdown, tradeCsv, tradeRow, type BreakdownKey, type TradeRow } from "../lib/table";
import { oneOf, useUrlState } from "../lib/url";
import { usePalette } from "../theme";

const BY: { value: BreakdownKey; label: string }[] = [
  { value: "exit_reason", label: "Exit reason" },
  { value: "dte", label: "DTE at entry" },
  { value: "vix", label: "VIX at entry" },
  { value: "iv_rank", label: "IV rank at entry" },
  { value: "weekday", label: "Weekday" },
  { value: "month", label: "Month" },
  { value: "structure", label: "Structure" },
];

function money(v: number | null | undefined) {
  return (
    <span className={isNum(v) ? (v > 0 ? "good" : v < 0 ? "bad" : undefined) : undefined}>
      {fmtMoney(v)}
    </span>
  );
}

export function tradeStats(rows: TradeRow[]) {
  const pnls = rows.map((r) => r.pnl).filter(isNum);
  const wins = pnls.filter((p) => p > 0);
  const losses = pnls.filter((p) => p <= 0);
  let streak = 0;
  let worst = 0;
  for (const p of pnls) {
    streak = p <= 0 ? streak + 1 : 0;
    worst = Math.max(worst, streak);
  }
  const lossSum = losses.reduce((s, p) => s + p, 0);
  return {
    count: rows.length,
    winRate: pnls.length ? wins.length / pnls.length : null,
    avgWin: wins.length ? mean(wins) : null,
    avgLoss: losses.length ? mean(losses) : null,
    payoff:
      wins.length && losses.length && mean(losses) !== 0
        ? mean(wins) / Math.abs(mean(losses))
        : null,
    profitFactor: lossSum < 0 ? wins.reduce((s, p) => s + p, 0) / Math.abs(lossSum) : null,
    expectancy: pnls.length ? mean(pnls) : null,
    maxLosses: worst,
    avgDays: rows.length ? mean(rows.map((r) => r.daysHeld)) : null,
    avgDte: rows.some((r) => r.dte !== null) ? mean(rows.map((r) => r.dte).filter(isNum)) : null,
    avgPctMax: rows.some((r) => r.pctMaxProfit !== null)
      ? mean(rows.map((r) => r.pctMaxProfit).filter(isNum))
      : null,
    total: pnls.reduce((s, p) => s + p, 0),
  };
}

export default function TradesView({ info }: { info: RunInfo }) {
  const trades = useTrades(info.ref);
  const navigate = useNavigate();
  const palette = usePalette();
  const [by, setBy] = useUrlState<BreakdownKey>("by", oneOf(BY.map((b) => b.value)), "exit_reason");
  const [excursion, setExcursion] = useUrlState("ex", oneOf(["mae", "mfe"] as const), "mae");
  const rows = useMemo(() => (trades.data?.trades ?? []).map(tradeRow), [trades.data]);
  const stats = useMemo(() => tradeStats(rows), [rows]);
  const groups = useMemo(() => breakdown(rows, by), [rows, by]);
  const base = refPath(info.ref);

  const columns = useMemo<ColumnDef<TradeRow, unknown>[]>(
    () => [
      { id: "number", header: "#", accessorKey: "number", meta: { align: "right" } },
      { id: "entry", header: "Entry", accessorKey: "entry" },
      { id: "exit", header: "Exit", accessorKey: "exit" },
      { id: "structure", header: "Structure", accessorKey: "structure" },
      {
        id: "strikes",
        header: "Legs",
        accessorKey: "strikes",
        enableSorting: false,
        meta: { title: "− short, + long; right and strike" },
      },
      {
        id: "dte",
        header: "DTE",
        accessorKey: "dte",
        meta: { align: "right", title: "calendar days from entry to the first expiry" },
      },
      {
        id: "contracts",
        header: "Contracts",
        accessorFn: (r) => r.trade.contracts,
        meta: { align: "right" },
        cell: ({ getValue }) => fmtNumber(getValue() as number, 0),
      },
      {
        id: "credit",
        header: "Credit / debit",
        accessorKey: "credit",
        meta: {
          align: "right",
          title: "cash at entry: positive is a credit received, negative a debit paid",
        },
        cell: ({ getValue }) => fmtMoney(getValue() as number | null),
      },
      {
        id: "pnl",
        header: "P&L",
        accessorKey: "pnl",
        meta: { align: "right", title: "commissions included" },
        cell: ({ getValue }) => money(getValue() as number | null),
      },
      {
        id: "pctMaxProfit",
        header: "% of max",
        accessorKey: "pctMaxProfit",
        meta: {
          align: "right",
          title: "P&L as a share of the credit received (the most a credit structure can make)",
        },
        cell: ({ getValue }) => fmtPct(getValue() as number | null, 0),
      },
      { id: "daysHeld", header: "Days", accessorKey: "daysHeld", meta: { align: "right" } },
      {
        id: "exitReason",
        header: "Exit",
        accessorKey: "exitReason",
        cell: ({ getValue }) => String(getValue()).replace(/_/g, " "),
      },
      {
        id: "mae",
        header: "MAE",
        accessorKey: "mae",
        meta: {
          align: "right",
          title: "maximum adverse excursion: the worst open P&L during the trade",
        },
        cell: ({ getValue }) => fmtMoney(getValue() as number | null),
      },
      {
        id: "mfe",
        header: "MFE",
        accessorKey: "mfe",
        meta: {
          align: "right",
          title: "maximum favourable excursion: the best open P&L during the trade",
        },
        cell: ({ getValue }) => fmtMoney(getValue() as number | null),
      },
    ],
    [],
  );

  const breakdownOption = useMemo<EChartOption>(
    () => ({
      animation: false,
      grid: { left: 64, right: 56, top: 30, bottom: 36 },
      legend: { top: 0, textStyle: { color: palette.muted } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: {
        type: "category",
        data: groups.map((g) => g.key.replace(/_/g, " ")),
        axisLabel: { color: palette.text, interval: 0 },
      },
      yAxis: [
        {
          type: "value",
          name: "P&L",
          nameTextStyle: { color: palette.muted },
          axisLabel: { color: palette.muted, formatter: (v: number) => fmtMoney(v) },
          splitLine: { lineStyle: { color: palette.grid } },
        },
        {
          type: "value",
          name: "win rate",
          max: 1,
          min: 0,
          nameTextStyle: { color: palette.muted },
          axisLabel: { color: palette.muted, formatter: (v: number) => fmtPct(v, 0) },
          splitLine: { show: false },
        },
      ],
      series: [
        {
          type: "bar",
          name: "total P&L",
          data: groups.map((g) => ({
            value: g.total,
            itemStyle: { color: g.total >= 0 ? palette.good : palette.bad },
          })),
          tooltip: { valueFormatter: (v: unknown) => fmtMoney(v as number) },
        },
        {
          type: "line",
          name: "win rate",
          yAxisIndex: 1,
          data: groups.map((g) => g.winRate),
          itemStyle: { color: palette.accent },
          tooltip: { valueFormatter: (v: unknown) => fmtPct(v as number, 1) },
        },
      ],
    }),
    [groups, palette],
  );

  const scatterOption = useMemo<EChartOption>(() => {
    const key = excursion;
    const pts = rows.filter((r) => isNum(r[key]) && isNum(r.pnl));
    const mk = (win: boolean) =>
      pts
        .filter((r) => (r.pnl as number) > 0 === win)
        .map((r) => ({ value: [r[key], r.pnl], number: r.number }));
    return {
      animation: false,
      grid: { left: 70, right: 20, top: 28, bottom: 44 },
      legend: { top: 0, textStyle: { color: palette.muted } },
      tooltip: {
        trigger: "item",
        formatter: (p: unknown) => {
          const d = (p as { data: { value: [number, number]; number: number } }).data;
          return `trade #${d.number}<br>${key.toUpperCase()} ${fmtMoney(d.value[0])}<br>P&L ${fmtMoney(d.value[1])}`;
        },
      },
      xAxis: {
        type: "value",
        name: key === "mae" ? "worst open P&L (MAE)" : "best open P&L (MFE)",
        nameLocation: "middle",
        nameGap: 28,
        nameTextStyle: { color: palette.muted },
        axisLabel: { color: palette.muted, formatter: (v: number) => fmtMoney(v) },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      yAxis: {
        type: "value",
        name: "final P&L",
        nameTextStyle: { color: palette.muted },
        axisLabel: { color: palette.muted, formatter: (v: number) => fmtMoney(v) },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: [
        {
          type: "scatter",
          name: "winners",
          data: mk(true),
          symbolSize: 6,
          itemStyle: { color: palette.good, opacity: 0.7 },
        },
        {
          type: "scatter",
          name: "losers",
          data: mk(false),
          symbolSize: 6,
          itemStyle: { color: palette.bad, opacity: 0.7 },
        },
      ],
    } as EChartOption;
  }, [rows, excursion, palette]);

  if (trades.error) return <ErrorBox error={trades.error} />;
  if (!trades.data) return <SkeletonRows rows={10} />;
  if (!rows.length)
    return (
      <Empty title="No trades">
        The run never opened a position
        {Object.values(info.skips).some((v) => isNum(v) && v > 0)
          ? ": see the skipped entries on the tear sheet"
          : ""}
        .
      </Empty>
    );

  return (
    <div className="stack" data-testid="trades">
      <div className="stats">
        <Stat
          label="Trades"
          value={fmtInt(stats.count)}
          sub={
            trades.data.source !== "recomputed"
              ? "trades.parquet"
              : info.ref.kind === "trial"
                ? "backtested again, whole chain"
                : "recomputed from the sweep's chain"
          }
        />
        <Stat label="Win rate" value={fmtPct(stats.winRate, 1)} />
        <Stat label="Expectancy" value={fmtMoney(stats.expectancy)} sub="mean P&L per trade" />
        <Stat
          label="Average win"
          value={fmtMoney(stats.avgWin)}
          sub={`payoff ratio ${fmtNumber(stats.payoff)}`}
        />
        <Stat label="Average loss" value={fmtMoney(stats.avgLoss)} />
        <Stat label="Profit factor" value={fmtNumber(stats.profitFactor)} />
        <Stat label="Max consecutive losses" value={fmtInt(stats.maxLosses)} />
        <Stat
          label="Avg days held"
          value={fmtDays(stats.avgDays, 1)}
          sub={`DTE at entry ${fmtDays(stats.avgDte, 1)}`}
        />
        <Stat label="Avg % of max profit" value={fmtPct(stats.avgPctMax, 0)} sub="credit trades" />
      </div>
      <Panel
        title={`Trades (${fmtInt(rows.length)})`}
        help="click a trade for its payoff diagram; ▸ shows its legs"
        actions={
          <button
            type="button"
            className="button"
            data-testid="csv"
            onClick={() =>
              download(
                `${info.title.replace(/[^A-Za-z0-9_.-]+/g, "-")}-trades.csv`,
                tradeCsv(rows),
                "text/csv",
              )
            }
          >
            Export CSV
          </button>
        }
      >
        <DataTable
          data={rows}
          columns={columns}
          getRowId={(r) => String(r.number)}
          onRowClick={(r) => navigate(`${base}/trades/${r.number}`)}
          height={460}
          testId="trade-table"
          sortParam="tsort"
          expanded={(r) => <LegsTable row={r} />}
        />
      </Panel>
      <div className="grid grid-2">
        <Panel
          title="Breakdown"
          actions={
            <Segmented
              label="breakdown"
              value={by}
              onChange={setBy}
              options={BY}
              testId="breakdown"
            />
          }
        >
          <EChart
            name="breakdown"
            height={260}
            option={breakdownOption}
            data={{ groups: groups.length }}
          />
          <table className="simple-table">
            <thead>
              <tr>
                <th>{BY.find((b) => b.value === by)?.label}</th>
                <th className="right">Trades</th>
                <th className="right">Win rate</th>
                <th className="right">Avg P&L</th>
                <th className="right">Total P&L</th>
              </tr>
            </thead>
            <tbody>
              {groups.map((g) => (
                <tr key={g.key}>
                  <td>{g.key.replace(/_/g, " ")}</td>
                  <td className="right">{fmtInt(g.count)}</td>
                  <td className="right">{fmtPct(g.winRate, 1)}</td>
                  <td className="right">{money(g.avg)}</td>
                  <td className="right">{money(g.total)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Panel>
        <Panel
          title="Excursions"
          help="each trade's worst (MAE) or best (MFE) open P&L against its final P&L: losers far below their MAE suggest a tighter stop, winners far below their MFE a profit target"
          actions={
            <Segmented
              label="excursion"
              value={excursion}
              onChange={setExcursion}
              options={[
                { value: "mae", label: "MAE" },
                { value: "mfe", label: "MFE" },
              ]}
            />
          }
        >
          <EChart
            name="excursions"
            height={340}
            option={scatterOption}
            data={{ points: rows.length }}
            onEvents={{
              click: (p: { data?: { number?: number } }) =>
                p.data?.number !== undefined && navigate(`${base}/trades/${p.data.number}`),
            }}
          />
        </Panel>
      </div>
    </div>
  );
}

/** The legs of a trade (the trades table's expanded row). */
export function LegsTable({ row }: { row: TradeRow }) {
  const extra = Object.entries(row.trade.extra).filter(
    ([, v]) => v !== null && v !== 0 && v !== "",
  );
  return (
    <div className="legs">
      <table className="simple-table">
        <thead>
          <tr>
            <th>Right</th>
            <th className="right">Strike</th>
            <th>Expiry</th>
            <th className="right">DTE</th>
            <th
              className="right"
              title="Black–Scholes delta at entry of one option (per share, before units), from the leg's entry IV"
            >
              Delta
            </th>
            <th className="right">Units</th>
            <th className="right">Entry fill</th>
            <th className="right">Exit fill</th>
            <th>Settled</th>
          </tr>
        </thead>
        <tbody>
          {row.trade.legs.map((l, i) => (
            <tr key={i}>
              <td>{l.right === "C" ? "call" : "put"}</td>
              <td className="right">{fmtNumber(l.strike, 0)}</td>
              <td>{l.expiry}</td>
              <td className="right">{daysBetween(row.entry, l.expiry)}</td>
              <td className="right" data-testid="leg-delta">
                {fmtNumber(l.entry_delta, 3)}
              </td>
              <td className="right">{fmtNumber(l.units, 0)}</td>
              <td className="right">{fmtNumber(l.entry_fill)}</td>
              <td className="right">{fmtNumber(l.exit_fill)}</td>
              <td>{l.settled ? "at expiry" : "closed"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {extra.length > 0 && (
        <p className="small muted" style={{ whiteSpace: "normal" }}>
          {extra
            .map(
              ([k, v]) =>
                `${k.replace(/_/g, " ")} ${typeof v === "number" ? fmtNumber(v) : fmtParam(v)}`,
            )
            .join(" · ")}
        </p>
      )}
    </div>
  );
}
