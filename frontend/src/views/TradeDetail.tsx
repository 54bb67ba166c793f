// One trade: the payoff of its entry structure (at the first expiry and at T+0, breakevens, the
// entry spot, the ±1σ expected move from the entry IVs, max profit and loss), its legs, and the
// position's P&L over the trade (the account's equity from the day before entry to the exit).

import { useMemo } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import type uPlot from "uplot";
import { FULL_POINTS, useEquity, usePayoff, useTrades, type RunInfo } from "../api/hooks";
import { UPlotChart, shadeHook, timeOptions, toSeconds } from "../components/UPlotChart";
import { Empty, ErrorBox, Panel, Skeleton, Stat } from "../components/ui";
import { fmtMoney, fmtMoneyAxis, fmtNumber, fmtPct } from "../lib/format";
import { refPath } from "../lib/refs";
import { daysBetween } from "../lib/stats";
import { tradeRow } from "../lib/table";
import { usePalette } from "../theme";

export default function TradeDetail({ info }: { info: RunInfo }) {
  const { n = "0" } = useParams();
  const number = Number(n);
  const navigate = useNavigate();
  const trades = useTrades(info.ref);
  const payoff = usePayoff(info.ref, number);
  // the tear sheet's query (with the regime columns), so that one request serves both pages
  const equity = useEquity(info.ref, FULL_POINTS, true, true);
  const palette = usePalette();
  const base = refPath(info.ref);
  const trade = trades.data?.trades[number];
  const row = trade ? tradeRow(trade) : null;
  const count = trades.data?.count ?? 0;

  const payoffChart = useMemo(() => {
    const p = payoff.data;
    if (!p) return null;
    const lines = [
      { at: p.spot, color: palette.text, dash: [4, 3], label: `spot ${fmtNumber(p.spot, 0)}` },
      ...p.breakevens.map((b) => ({
        at: b,
        color: palette.muted,
        dash: [2, 3],
        label: `BE ${fmtNumber(b, 0)}`,
      })),
    ];
    const band = p.expected_move
      ? [
          {
            from: p.spot - p.expected_move,
            to: p.spot + p.expected_move,
            color: palette.name === "dark" ? "rgba(68,147,248,0.12)" : "rgba(9,105,218,0.08)",
          },
        ]
      : [];
    const hooks = shadeHook(band, lines);
    const zero: uPlot.Hooks.Arrays = {
      draw: [
        (u: uPlot) => {
          const y = u.valToPos(0, "y", true);
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = palette.axis;
          ctx.lineWidth = devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(u.bbox.left, y);
          ctx.lineTo(u.bbox.left + u.bbox.width, y);
          ctx.stroke();
          ctx.restore();
        },
      ],
    };
    const options = timeOptions(
      palette,
      [
        { label: `At expiry (${p.expiry})`, color: palette.accent, width: 2 },
        { label: `T+0 (${p.entry_date})`, color: palette.series[1], width: 1.5, dash: [6, 4] },
      ],
      {
        time: false,
        yFormat: (v) => fmtMoney(v),
        yAxis: fmtMoneyAxis,
        xFormat: (v) => fmtNumber(v, 0),
        xLabel: "Spot",
        hooks: { drawAxes: hooks.drawAxes, draw: zero.draw },
        legend: true,
      },
    );
    const data: uPlot.AlignedData = [p.spots, p.at_expiry, p.t0];
    return { options, data };
  }, [payoff.data, palette]);

  const pnlChart = useMemo(() => {
    const e = equity.data;
    if (!e || !row) return null;
    const start = e.dates.findIndex((d) => d >= row.entry);
    if (start < 0) return null;
    let end = e.dates.findIndex((d) => d > row.exit);
    if (end < 0) end = e.dates.length;
    const before = e.equity[Math.max(start - 1, 0)] ?? e.equity[start] ?? 0;
    const dates = e.dates.slice(start, end);
    const pnl = e.equity.slice(start, end).map((v) => (v === null ? null : v - (before ?? 0)));
    const spot = e.columns?.spot?.slice(start, end);
    const series = [{ label: "P&L since entry", color: palette.accent, width: 2 }];
    if (spot)
      series.push({
        label: "Spot",
        color: palette.muted,
        width: 1.2,
        scale: "y2",
      } as (typeof series)[number]);
    const options = timeOptions(palette, series, {
      yFormat: (v) => fmtMoney(v),
      yAxis: fmtMoneyAxis,
      y2: spot ? { format: (v) => fmtNumber(v, 0) } : undefined,
      legend: true,
    });
    const data: uPlot.AlignedData = spot
      ? [dates.map(toSeconds), pnl, spot]
      : [dates.map(toSeconds), pnl];
    return { options, data, days: dates.length, full: e.points === e.days };
  }, [equity.data, row, palette]);

  if (trades.error) return <ErrorBox error={trades.error} />;
  if (!trades.data) return <Skeleton height={400} />;
  if (!trade || !row)
    return <Empty title={`No trade #${number}`}>The run has {count} trades.</Empty>;

  const p = payoff.data;
  return (
    <div className="stack" data-testid="trade-detail">
      <div className="page-head">
        <h1>
          Trade #{number}: {row.structure}
        </h1>
        <span className="muted">
          {row.entry} → {row.exit}, {row.exitReason.replace(/_/g, " ")}
        </span>
        <span style={{ marginLeft: "auto" }} className="chips">
          <Link className="button small" to={`${base}/trades`}>
            All trades
          </Link>
          <button
            type="button"
            className="button small"
            disabled={number <= 0}
            onClick={() => navigate(`${base}/trades/${number - 1}`)}
          >
            ← previous
          </button>
          <button
            type="button"
            className="button small"
            disabled={number >= count - 1}
            onClick={() => navigate(`${base}/trades/${number + 1}`)}
          >
            next →
          </button>
        </span>
      </div>
      <div className="stats">
        <Stat
          label="P&L"
          value={fmtMoney(row.pnl)}
          tone={row.pnl !== null ? (row.pnl > 0 ? "good" : "bad") : undefined}
          sub={`${fmtPct(row.pctMaxProfit, 0)} of the credit`}
        />
        <Stat
          label="Credit / debit"
          value={fmtMoney(row.credit)}
          sub={`${fmtNumber(trade.contracts, 0)} ${trade.contracts === 1 ? "contract" : "contracts"}`}
        />
        <Stat
          label="Max profit"
          value={p ? (p.unbounded_profit ? "unbounded" : fmtMoney(p.max_profit)) : "…"}
          sub="at expiry, over the range"
        />
        <Stat
          label="Max loss"
          value={p ? (p.unbounded_loss ? "unbounded" : fmtMoney(p.max_loss)) : "…"}
          sub={
            p?.unbounded_loss
              ? `${fmtMoney(p.max_loss)} at the range's edge`
              : "at expiry, over the range"
          }
          tone="bad"
        />
        <Stat
          label="Breakevens"
          value={p ? p.breakevens.map((b) => fmtNumber(b, 0)).join(" / ") || "none" : "…"}
          sub={p ? `spot ${fmtNumber(p.spot, 0)}` : undefined}
        />
        <Stat
          label="Expected move (1σ)"
          value={p?.expected_move ? `±${fmtNumber(p.expected_move, 0)}` : "–"}
          sub={
            p?.expected_move ? `±${fmtPct(p.expected_move / p.spot, 1)} to ${p.expiry}` : undefined
          }
        />
        <Stat
          label="Days held"
          value={String(row.daysHeld)}
          sub={`DTE at entry ${row.dte ?? "–"}`}
        />
      </div>
      <Panel
        title="Payoff at entry"
        help="P&L of the entry legs (before commissions) against the underlying's price: at the first expiry, and at entry (T+0, Black–Scholes with each leg's entry IV); the band is the ±1σ expected move to expiry from the IV"
      >
        {payoff.error ? (
          <ErrorBox error={payoff.error} />
        ) : !payoffChart ? (
          <Skeleton height={360} />
        ) : (
          <>
            <UPlotChart
              name="payoff"
              data={payoffChart.data}
              options={payoffChart.options}
              height={360}
              data_={{ points: p?.spots.length ?? 0, breakevens: p?.breakevens.length ?? 0 }}
            />
            <p className="legend-note">
              Dashed line: spot at entry; dotted: breakevens; shaded: ±1σ expected move.{" "}
              {fmtNumber(p?.contracts ?? null, 0)} {p?.contracts === 1 ? "contract" : "contracts"} ×{" "}
              {fmtNumber(p?.multiplier ?? null, 0)}; rate {fmtPct(p?.rate ?? null, 2)}, dividend{" "}
              {fmtPct(p?.dividend ?? null, 2)}.
            </p>
          </>
        )}
      </Panel>
      <div className="grid grid-2">
        <Panel
          title="Legs"
          help="delta at entry of one option (per share, before side and quantity), by Black–Scholes from the leg's entry IV"
        >
          <table className="simple-table" data-testid="legs">
            <thead>
              <tr>
                <th>Leg</th>
                <th className="right">Strike</th>
                <th>Expiry</th>
                <th className="right">DTE</th>
                <th className="right">IV</th>
                <th className="right">Delta</th>
                <th className="right">Entry</th>
                <th className="right">Exit</th>
              </tr>
            </thead>
            <tbody>
              {trade.legs.map((l, i) => {
                const iv = p?.legs[i]?.iv ?? null;
                return (
                  <tr key={i}>
                    <td>
                      {l.units < 0 ? "short" : "long"} {Math.abs(l.units)}{" "}
                      {l.right === "C" ? "call" : "put"}
                    </td>
                    <td className="right">{fmtNumber(l.strike, 0)}</td>
                    <td>{l.expiry}</td>
                    <td className="right">{daysBetween(row.entry, l.expiry)}</td>
                    <td className="right">{fmtPct(iv, 1)}</td>
                    <td className="right">{fmtNumber(l.entry_delta, 3)}</td>
                    <td className="right">{fmtNumber(l.entry_fill)}</td>
                    <td className="right">
                      {fmtNumber(l.exit_fill)}
                      {l.settled ? " (settled)" : ""}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <p className="legend-note">
            MAE {fmtMoney(row.mae)}, MFE {fmtMoney(row.mfe)}, commissions{" "}
            {fmtMoney(trade.commissions, 2)}.
          </p>
        </Panel>
        <Panel
          title="P&L over the trade"
          help="the account's equity from the day before entry to the exit day (hedge and financing included); the underlying's price where the run kept it"
        >
          {equity.error ? (
            <ErrorBox error={equity.error} />
          ) : !pnlChart ? (
            equity.data ? (
              <Empty title="Insufficient data">No equity in the trade's dates.</Empty>
            ) : (
              <Skeleton height={240} />
            )
          ) : (
            <>
              <UPlotChart
                name="trade-pnl"
                data={pnlChart.data}
                options={pnlChart.options}
                height={240}
              />
              {!pnlChart.full && (
                <p className="legend-note">
                  The run's equity is downsampled: {pnlChart.days} of the trade's days are drawn.
                </p>
              )}
            </>
          )}
        </Panel>
      </div>
    </div>
  );
}
