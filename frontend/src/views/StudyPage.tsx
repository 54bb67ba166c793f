// A study: optimisation history with the best so far, parameter importances, the Pareto front
// of a multi-objective study, walk-forward folds (in sample vs out of sample), the overfitting
// statistics, and every trial linking to its tear sheet.

import { useCallback, useMemo } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import type { ColumnDef } from "@tanstack/react-table";
import type { StudyDetail, Trial } from "../api/client";
import { useMetricMap, useStudy, useStudyAfter, useTrialSpans } from "../api/hooks";
import { DataTable } from "../components/DataTable";
import { EChart, type EChartOption } from "../components/EChart";
import { ImportanceBars } from "../components/ImportanceBars";
import { colourScale, heatmapOption, type HeatCell } from "../components/heatmap";
import { OverfitStatements, ParamList } from "../components/sweepParts";
import { Empty, ErrorBox, Panel, Segmented, Skeleton, Stat } from "../components/ui";
import { fmtInt, fmtNumber, fmtParam, fmtPct, fmtProb, fmtTime, shortPath } from "../lib/format";
import { fmtMetric, label, SIGNED } from "../lib/metrics";
import { bestSoFar, etaSquaredOf } from "../lib/stats";
import { int, useUrlState } from "../lib/url";
import { usePalette } from "../theme";
import { StudyAfterPanel } from "./StudyAfter";
import { TrialSpansTable } from "./TrialSpans";

interface Objective {
  kpi: string;
  maximize: boolean;
}

interface Fold {
  fold: number;
  in_sample_dates?: string[];
  out_of_sample_dates?: string[];
  chosen_in_sample?: number | null;
  chosen_out_of_sample?: number | null;
  refit_trial?: number | null;
  refit_in_sample?: number | null;
  refit_out_of_sample?: number | null;
}

export default function StudyPage() {
  const { studyId = "" } = useParams();
  const study = useStudy(studyId);
  if (study.error) return <ErrorBox error={study.error} />;
  return (
    <div className="page" data-testid="study">
      <div className="crumbs">
        <Link to="/">Results</Link> / study
      </div>
      {!study.data ? <Skeleton height={500} /> : <StudyView study={study.data} />}
    </div>
  );
}

/** The best trial in sample, after the in-sample span and over the whole chain (backtested
 *  again); nothing while it loads or for a study that has not finished. */
function BestHeldUp({ study, trial }: { study: string; trial: number }) {
  const spans = useTrialSpans({ kind: "trial", study, number: trial });
  if (!spans.data?.after) return null;
  return (
    <div style={{ marginTop: 12 }} data-testid="best-held-up">
      <div
        className="small strong"
        title="the days after the in-sample span were ranked on by no trial"
      >
        After the in-sample span
      </div>
      <TrialSpansTable spans={spans.data} compact />
    </div>
  );
}

function StudyView({ study }: { study: StudyDetail }) {
  const metrics = useMetricMap();
  const palette = usePalette();
  const navigate = useNavigate();
  const objectives = study.objectives as unknown as Objective[];
  const [obj, setObj] = useUrlState("objective", int, 0);
  const o = objectives[Math.min(obj, objectives.length - 1)] ?? { kpi: "value", maximize: true };
  const oi = Math.min(obj, objectives.length - 1);
  const trials = study.trial_rows;
  const complete = useMemo(() => trials.filter((t) => t.state === "COMPLETE"), [trials]);
  const base = `/studies/${encodeURIComponent(study.id)}`;
  const open = (n: number) => navigate(`${base}/trials/${n}`);
  const wf = study.summary.walk_forward as
    | {
        folds?: Fold[];
        kpi?: string;
        in_sample?: number;
        out_of_sample?: number;
        degradation?: number;
        efficiency?: number;
        scheme?: string;
      }
    | undefined;
  const best = study.best as {
    trial?: number;
    values?: (number | null)[];
    params?: Record<string, unknown>;
  } | null;
  const fmtO = useCallback(
    (v: number | null | undefined) => fmtMetric(metrics, o.kpi, v),
    [metrics, o.kpi],
  );
  const paramNames = useMemo(
    () => [...new Set(trials.flatMap((t) => Object.keys(t.params)))],
    [trials],
  );

  const history = useMemo<EChartOption>(() => {
    const ordered = [...trials].sort((a, b) => a.number - b.number);
    const done = ordered.filter((t) => t.state === "COMPLETE");
    const pruned = ordered.filter((t) => t.state === "PRUNED");
    const running = bestSoFar(
      done.map((t) => t.values[oi] ?? null),
      o.maximize,
    );
    return {
      animation: false,
      grid: { left: 60, right: 20, top: 30, bottom: 40 },
      legend: { top: 0, textStyle: { color: palette.muted } },
      tooltip: {
        trigger: "item",
        formatter: (p: unknown) => {
          const d = (p as { data: { value: [number, number] } }).data;
          return `trial #${d.value[0]}<br>${label(metrics, o.kpi)} ${fmtO(d.value[1])}`;
        },
      },
      xAxis: {
        type: "value",
        name: "trial",
        nameLocation: "middle",
        nameGap: 24,
        nameTextStyle: { color: palette.muted },
        axisLabel: { color: palette.muted },
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        scale: true,
        axisLabel: { color: palette.muted, formatter: (v: number) => fmtO(v) },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: [
        {
          type: "scatter",
          name: "complete",
          data: done.map((t) => ({ value: [t.number, t.values[oi]] })),
          symbolSize: 7,
          itemStyle: { color: palette.accent },
        },
        // a study without pruning has no such points: no legend entry for them either
        ...(pruned.length === 0
          ? []
          : [
              {
                type: "scatter",
                name: "pruned (last reported fold)",
                data: pruned
                  .map((t) => ({
                    value: [
                      t.number,
                      t.fold_values?.filter((v) => v !== null).slice(-1)[0] ?? t.values[oi] ?? null,
                    ],
                  }))
                  .filter((d) => d.value[1] !== null && d.value[1] !== undefined),
                symbolSize: 6,
                itemStyle: { color: palette.hatch },
              },
            ]),
        {
          type: "line",
          name: "best so far",
          step: "end",
          data: done.map((t, i) => [t.number, running[i]]),
          showSymbol: false,
          lineStyle: { color: palette.good, width: 2 },
          itemStyle: { color: palette.good },
          tooltip: { show: false },
        },
      ],
    } as EChartOption;
  }, [trials, oi, o.maximize, o.kpi, palette, metrics, fmtO]);

  const importances = useMemo(() => {
    const values = complete.map((t) => t.values[oi] ?? null);
    // few trials, few bins: with a bin per trial every parameter would explain everything
    const bins = Math.max(2, Math.min(10, Math.floor(complete.length / 4)));
    return paramNames
      .map((p) => ({
        p,
        share: etaSquaredOf(
          complete.map((t) => t.params[p]),
          values,
          bins,
        ),
      }))
      .sort((a, b) => a.share - b.share);
  }, [complete, paramNames, oi]);

  const pareto = useMemo(() => {
    if (objectives.length < 2) return null;
    const front = new Set(study.pareto.map((p) => Number((p as { trial?: number }).trial)));
    const [a, b] = [objectives[0]!, objectives[1]!];
    const point = (t: Trial) => ({ value: [t.values[0], t.values[1]], number: t.number });
    const inFront = complete
      .filter((t) => front.has(t.number))
      .map(point)
      .sort((p, q) => (p.value[0] ?? 0) - (q.value[0] ?? 0));
    const others = complete.filter((t) => !front.has(t.number)).map(point);
    const fa = (v: number) => fmtMetric(metrics, a.kpi, v);
    const fb = (v: number) => fmtMetric(metrics, b.kpi, v);
    const option: EChartOption = {
      animation: false,
      grid: { left: 84, right: 20, top: 30, bottom: 46 },
      legend: { top: 0, textStyle: { color: palette.muted } },
      tooltip: {
        trigger: "item",
        formatter: (p: unknown) => {
          const d = (p as { data: { value: [number, number]; number: number } }).data;
          return `trial #${d.number}<br>${label(metrics, a.kpi)} ${fa(d.value[0])}<br>${label(metrics, b.kpi)} ${fb(d.value[1])}`;
        },
      },
      xAxis: {
        type: "value",
        scale: true,
        name: `${label(metrics, a.kpi)} (${a.maximize ? "max" : "min"})`,
        nameLocation: "middle",
        nameGap: 28,
        nameTextStyle: { color: palette.muted },
        // at the plot's edge, not where the other KPI is 0 (the middle when it changes sign)
        axisLine: { onZero: false },
        axisLabel: { color: palette.muted, formatter: fa },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      yAxis: {
        type: "value",
        scale: true,
        name: `${label(metrics, b.kpi)} (${b.maximize ? "max" : "min"})`,
        nameLocation: "middle",
        nameGap: 62,
        axisLine: { onZero: false },
        nameTextStyle: { color: palette.muted },
        axisLabel: { color: palette.muted, formatter: fb },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: [
        {
          type: "scatter",
          name: "trials",
          data: others,
          symbolSize: 7,
          itemStyle: { color: palette.hatch },
        },
        {
          type: "line",
          name: "Pareto front",
          data: inFront,
          symbolSize: 10,
          lineStyle: { color: palette.good, width: 2 },
          itemStyle: { color: palette.good },
        },
      ],
    } as EChartOption;
    return { option, front: inFront.length, a, b };
  }, [objectives, study.pareto, complete, palette, metrics]);

  const folds = useMemo(() => (wf?.folds ?? []) as Fold[], [wf]);
  // the last day trials were ranked on (a finished study's); days after it are held out
  const span = study.summary.in_sample_span_dates as string[] | undefined;
  const spanEnd = span?.[1];
  const hasAfter = !!(spanEnd && study.last_date && spanEnd < study.last_date);
  // the same request as the After panel's (one query key)
  const afterData = useStudyAfter(study.id, objectives[0]?.kpi, hasAfter).data;
  const afterOf = useMemo(
    () =>
      afterData && afterData.metric === objectives[0]?.kpi
        ? new Map(afterData.points.map((p) => [p.number, p.after]))
        : null,
    [afterData, objectives],
  );
  const foldOption = useMemo<EChartOption | null>(() => {
    if (!folds.length) return null;
    const kpi = wf?.kpi ?? o.kpi;
    const f = (v: number) => fmtMetric(metrics, kpi, v);
    return {
      animation: false,
      grid: { left: 60, right: 20, top: 30, bottom: 30 },
      legend: { top: 0, textStyle: { color: palette.muted } },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        valueFormatter: (v: unknown) => f(v as number),
      },
      xAxis: {
        type: "category",
        data: folds.map((x) => `fold ${x.fold}`),
        axisLabel: { color: palette.text },
      },
      yAxis: {
        type: "value",
        axisLabel: { color: palette.muted, formatter: f },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: [
        {
          type: "bar",
          name: "in sample (chosen)",
          data: folds.map((x) => x.chosen_in_sample ?? null),
          itemStyle: { color: palette.series[0] },
        },
        {
          type: "bar",
          name: "out of sample (chosen)",
          data: folds.map((x) => x.chosen_out_of_sample ?? null),
          itemStyle: { color: palette.series[1] },
        },
      ],
    } as EChartOption;
  }, [folds, wf?.kpi, o.kpi, palette, metrics]);

  const foldHeat = useMemo(() => {
    const withFolds = complete.filter((t) => t.fold_values && t.fold_values.length);
    if (!withFolds.length) return null;
    const top = [...withFolds]
      .sort(
        (a, b) =>
          ((b.values[0] ?? -Infinity) - (a.values[0] ?? -Infinity)) *
          (objectives[0]?.maximize === false ? -1 : 1),
      )
      .slice(0, 20);
    const nf = Math.max(...top.map((t) => t.fold_values!.length));
    const cells: HeatCell[] = [];
    top.forEach((t, i) => {
      for (let k = 0; k < nf; k++) cells.push({ x: k, y: i, value: t.fold_values![k] ?? null });
    });
    const kpi = objectives[0]?.kpi ?? "sharpe";
    return {
      rows: top.length,
      option: heatmapOption({
        xLabels: Array.from({ length: nf }, (_, k) => `fold ${k + 1}`),
        yLabels: top.map((t) => `#${t.number}`),
        cells,
        palette,
        scale: colourScale(
          cells.map((c) => c.value),
          palette,
          { signed: SIGNED.has(kpi), higherIsBetter: objectives[0]?.maximize !== false },
        ),
        format: (v) => fmtMetric(metrics, kpi, v),
        tooltip: (c) =>
          `trial ${top[c.y] ? `#${top[c.y]!.number}` : ""}, fold ${c.x + 1}: <b>${c.value === null ? "not run (pruned)" : fmtMetric(metrics, kpi, c.value)}</b>`,
        compact: true,
        yInverse: true,
      }),
    };
  }, [complete, objectives, palette, metrics]);

  const columns = useMemo<ColumnDef<Trial, unknown>[]>(
    () => [
      { id: "number", header: "#", accessorKey: "number", meta: { align: "right" } },
      {
        id: "state",
        header: "State",
        accessorKey: "state",
        cell: ({ getValue }) => String(getValue()).toLowerCase(),
      },
      ...objectives.map<ColumnDef<Trial, unknown>>((ob, i) => ({
        id: `value${i}`,
        header: `${label(metrics, ob.kpi)} ${ob.maximize ? "▲" : "▼"}`,
        accessorFn: (t) => t.values[i] ?? null,
        meta: { align: "right", title: "the objective over the in-sample folds" },
        cell: ({ getValue }) => fmtMetric(metrics, ob.kpi, getValue() as number | null),
      })),
      ...(afterOf
        ? [
            {
              id: "after",
              header: `${label(metrics, objectives[0]!.kpi)} after`,
              accessorFn: (t: Trial) => afterOf.get(t.number) ?? null,
              meta: {
                align: "right",
                title: `the first objective's KPI from ${afterData!.first_date} to ${afterData!.last_date}, after the in-sample span: the trial backtested over those days alone (the best 500 in sample)`,
              },
              cell: ({ getValue }: { getValue: () => unknown }) =>
                fmtMetric(metrics, objectives[0]!.kpi, getValue() as number | null),
            } as ColumnDef<Trial, unknown>,
          ]
        : []),
      ...paramNames.map<ColumnDef<Trial, unknown>>((p) => ({
        id: p,
        header: shortPath(p),
        accessorFn: (t) => (t.params[p] as number | string | null) ?? null,
        meta: { align: "right", title: p },
        cell: ({ getValue }) => fmtParam(getValue()),
      })),
      {
        id: "kept",
        header: "Curve",
        accessorKey: "equity_kept",
        cell: ({ getValue }) => (getValue() ? "kept" : ""),
        meta: { title: "the study kept this trial's whole-chain equity" },
      },
    ],
    [objectives, paramNames, metrics, afterOf, afterData],
  );

  const statistics = (study.summary.statistics ?? {}) as Record<string, number | null>;
  return (
    <div className="stack">
      <div className="page-head">
        <h1>{study.name}</h1>
        <span className="muted">
          {study.sampler} sampler, {study.pruner ?? "no"} pruner;{" "}
          {objectives
            .map((x) => `${x.maximize ? "maximise" : "minimise"} ${label(metrics, x.kpi)}`)
            .join(", ")}
          ; updated {fmtTime(study.updated)}
        </span>
      </div>
      <div className="stats">
        <Stat
          label="Trials"
          value={fmtInt(trials.length)}
          sub={Object.entries(study.trials)
            .map(([k, v]) => `${v} ${k}`)
            .join(", ")}
        />
        <Stat
          label="Parameter sets tried"
          value={fmtInt(study.parameter_sets)}
          sub={
            study.n_trials === null || study.n_trials === study.parameter_sets
              ? "deflates the best score"
              : `${fmtInt(study.parameter_sets - study.n_trials)} repeated another's trades: ${fmtInt(study.n_trials)} deflate the best score`
          }
        />
        <Stat
          label={`Best ${label(metrics, objectives[0]?.kpi ?? "")}`}
          value={fmtMetric(metrics, objectives[0]?.kpi ?? "", best?.values?.[0])}
          sub={best?.trial !== undefined ? `trial #${best.trial}, in sample` : undefined}
        />
        <Stat
          label="Deflated Sharpe"
          value={fmtProb(study.deflated_sharpe)}
          tone={
            study.deflated_sharpe === null
              ? undefined
              : study.deflated_sharpe >= 0.95
                ? "good"
                : study.deflated_sharpe < 0.5
                  ? "bad"
                  : "warn"
          }
        />
        <Stat
          label="PBO"
          value={fmtProb(study.pbo)}
          tone={
            study.pbo === null
              ? undefined
              : study.pbo > 0.5
                ? "bad"
                : study.pbo > 0.2
                  ? "warn"
                  : "good"
          }
        />
        {wf && (
          <Stat
            label="Walk-forward"
            value={`${fmtNumber(wf.in_sample ?? null)} → ${fmtNumber(wf.out_of_sample ?? null)}`}
            sub={`in → out of sample; efficiency ${fmtPct(wf.efficiency ?? null, 0)}`}
          />
        )}
      </div>

      <div className="grid grid-2">
        <Panel title="Is the best real?">
          <OverfitStatements
            statistics={statistics}
            objective={objectives[0]?.kpi ?? ""}
            trials={study.n_trials ?? study.parameter_sets}
          />
        </Panel>
        <Panel
          title="Best trial"
          actions={
            best?.trial !== undefined ? (
              <Link className="button primary" to={`${base}/trials/${best.trial}`}>
                Open trial #{best.trial}
              </Link>
            ) : undefined
          }
        >
          {best?.params ? (
            <>
              <ParamList params={best.params} />
              {best.trial !== undefined && <BestHeldUp study={study.id} trial={best.trial} />}
            </>
          ) : (
            <Empty title="No best trial">No trial completed.</Empty>
          )}
        </Panel>
      </div>

      <div className="grid grid-2">
        <Panel
          title="Optimisation history"
          help="each complete trial's objective (the mean over its in-sample folds) and the best so far; pruned trials at the last fold they reported; click a trial to open it"
          actions={
            objectives.length > 1 ? (
              <Segmented
                label="objective"
                value={String(oi)}
                onChange={(v) => setObj(Number(v))}
                options={objectives.map((x, i) => ({
                  value: String(i),
                  label: label(metrics, x.kpi),
                }))}
              />
            ) : undefined
          }
        >
          {complete.length === 0 ? (
            <Empty title="Insufficient data">No trial completed.</Empty>
          ) : (
            <EChart
              name="history"
              height={300}
              option={history}
              data={{ trials: complete.length }}
              onEvents={{
                click: (p: { data?: { value?: [number, number] } }) =>
                  p.data?.value && open(p.data.value[0]),
              }}
            />
          )}
        </Panel>
        <Panel
          title="Parameter importances"
          help="share of the objective's variance across the complete trials that each parameter explains alone (one-way ANOVA eta squared; numeric parameters in up to 10 quantile bins); interactions are not counted"
        >
          {complete.length < 3 ? (
            <Empty title="Insufficient data">At least three complete trials are needed.</Empty>
          ) : (
            <ImportanceBars
              name="importances"
              height={Math.max(140, importances.length * 32 + 40)}
              data={{ params: importances.length }}
              items={importances.map((x) => ({ path: x.p, share: x.share }))}
            />
          )}
        </Panel>
      </div>

      {pareto && (
        <Panel
          title={`Pareto front: ${label(metrics, pareto.a.kpi)} and ${label(metrics, pareto.b.kpi)}`}
          help="the complete trials no other trial beats on both objectives; click a trial to open it"
        >
          <EChart
            name="pareto"
            height={360}
            option={pareto.option}
            data={{ front: pareto.front, trials: complete.length }}
            onEvents={{
              click: (p: { data?: { number?: number } }) =>
                p.data?.number !== undefined && open(p.data.number),
            }}
          />
          <p className="legend-note">
            {fmtInt(pareto.front)} of {fmtInt(complete.length)} complete trials on the front.
          </p>
        </Panel>
      )}

      <Panel
        title="Walk-forward folds"
        help="each fold: the chosen parameters' objective in sample and on the next, unseen span; and per trial, the first objective in each in-sample fold"
      >
        {!folds.length ? (
          <Empty title="No walk-forward">This study has no walk-forward folds.</Empty>
        ) : (
          <div className="grid grid-2">
            <div>
              {foldOption && (
                <EChart
                  name="folds"
                  height={240}
                  option={foldOption}
                  data={{ folds: folds.length }}
                />
              )}
              <table className="simple-table" data-testid="folds">
                <thead>
                  <tr>
                    <th>Fold</th>
                    <th>In sample</th>
                    <th>Out of sample</th>
                    <th className="right">IS</th>
                    <th className="right">OOS</th>
                    <th className="right">Refit trial</th>
                  </tr>
                </thead>
                <tbody>
                  {folds.map((f) => (
                    <tr key={f.fold}>
                      <td>{f.fold}</td>
                      <td className="num">{f.in_sample_dates?.join(" – ")}</td>
                      <td className="num">{f.out_of_sample_dates?.join(" – ")}</td>
                      <td className="right">
                        {fmtMetric(metrics, wf?.kpi ?? o.kpi, f.chosen_in_sample)}
                      </td>
                      <td className="right">
                        {fmtMetric(metrics, wf?.kpi ?? o.kpi, f.chosen_out_of_sample)}
                      </td>
                      <td className="right">
                        {f.refit_trial !== undefined && f.refit_trial !== null ? (
                          <Link to={`${base}/trials/${f.refit_trial}`}>#{f.refit_trial}</Link>
                        ) : (
                          "–"
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="legend-note">
                {wf?.scheme} folds; degradation {fmtNumber(wf?.degradation ?? null)}, efficiency{" "}
                {fmtPct(wf?.efficiency ?? null, 0)} (out of sample / in sample).
              </p>
            </div>
            <div>
              <div className="small strong">Trial × fold (best 20 trials)</div>
              {foldHeat ? (
                <EChart
                  name="fold-heatmap"
                  height={Math.min(80 + foldHeat.rows * 22, 520)}
                  option={foldHeat.option}
                />
              ) : (
                <Empty title="No fold values">
                  The study's storage is not under the root, so per-fold values are not known.
                </Empty>
              )}
            </div>
          </div>
        )}
      </Panel>

      {hasAfter && (
        <StudyAfterPanel
          study={study.id}
          inSample={span ?? []}
          metric={objectives[0]?.kpi}
          chosen={best?.trial}
          onOpen={open}
        />
      )}

      <Panel
        title={`Trials (${fmtInt(trials.length)})`}
        help="click a trial to open its tear sheet"
      >
        <DataTable
          data={trials}
          columns={columns}
          getRowId={(t) => String(t.number)}
          onRowClick={(t) => open(t.number)}
          initialSort={[{ id: "value0", desc: objectives[0]?.maximize !== false }]}
          height={480}
          testId="trials"
          sortParam="tsort"
        />
      </Panel>
    </div>
  );
}
