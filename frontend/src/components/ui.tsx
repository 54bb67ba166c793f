// Small building blocks shared by every view: panels, KPI cards, loading skeletons, empty and
// error states, segmented controls, selects, copy buttons.

import { useState, type ReactNode } from "react";
import { ApiError } from "../api/client";
import { fmtInt } from "../lib/format";

export function Panel({
  title,
  help,
  actions,
  children,
  className,
  testId,
  id,
}: {
  title?: ReactNode;
  help?: string;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  testId?: string;
  /** an anchor a page's section links scroll to */
  id?: string;
}) {
  return (
    <section className={`panel ${className ?? ""}`} data-testid={testId} id={id}>
      {(title || actions) && (
        <header className="panel-head">
          {title && (
            <h2 title={help}>
              {title}
              {help && (
                <span className="help" aria-label={help}>
                  ?
                </span>
              )}
            </h2>
          )}
          {actions && <div className="panel-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

export function Stat({
  label,
  value,
  sub,
  help,
  tone,
  testId,
}: {
  label: ReactNode;
  value: ReactNode;
  sub?: ReactNode;
  help?: string;
  tone?: "good" | "bad" | "warn" | undefined;
  testId?: string;
}) {
  return (
    <div className={`stat ${tone ?? ""}`} title={help} data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className="stat-value num">{value}</div>
      {sub && <div className="stat-sub">{sub}</div>}
    </div>
  );
}

export function Skeleton({
  height = 240,
  label = "loading",
}: {
  height?: number | string;
  label?: string;
}) {
  return <div className="skeleton" style={{ height }} aria-busy="true" aria-label={label} />;
}

export function SkeletonRows({ rows = 6 }: { rows?: number }) {
  return (
    <div aria-busy="true" aria-label="loading">
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="skeleton skeleton-row" />
      ))}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty" role="status">
      <div className="empty-title">{title}</div>
      {children && <div className="empty-body">{children}</div>}
    </div>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  const message =
    error instanceof ApiError
      ? error.status === 404
        ? `Not found: ${error.detail}`
        : `${error.status}: ${error.detail}`
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <div className="error" role="alert">
      {message}
    </div>
  );
}

/** Loading, error or the content of a query. */
export function Loadable<T>({
  query,
  children,
  skeleton,
}: {
  query: { data: T | undefined; error: unknown; isLoading: boolean };
  children: (data: T) => ReactNode;
  skeleton?: ReactNode;
}) {
  if (query.error) return <ErrorBox error={query.error} />;
  if (query.data === undefined) return <>{skeleton ?? <Skeleton />}</>;
  return <>{children(query.data)}</>;
}

export function Segmented<T extends string>({
  value,
  options,
  onChange,
  label,
  testId,
}: {
  value: T;
  options: readonly (T | { value: T; label: ReactNode; title?: string })[];
  onChange: (v: T) => void;
  label?: string;
  testId?: string;
}) {
  return (
    <div className="segmented" role="group" aria-label={label} data-testid={testId}>
      {options.map((o) => {
        const v = typeof o === "string" ? o : o.value;
        const text = typeof o === "string" ? o : o.label;
        return (
          <button
            type="button"
            key={v}
            className={v === value ? "on" : ""}
            aria-pressed={v === value}
            title={typeof o === "string" ? undefined : o.title}
            onClick={() => onChange(v)}
          >
            {text}
          </button>
        );
      })}
    </div>
  );
}

export function Select<T extends string>({
  label,
  value,
  options,
  onChange,
  testId,
  title,
}: {
  label: string;
  value: T;
  options: readonly { value: T; label: string }[];
  onChange: (v: T) => void;
  testId?: string;
  title?: string;
}) {
  return (
    <label className="field" title={title}>
      <span>{label}</span>
      <select value={value} onChange={(e) => onChange(e.target.value as T)} data-testid={testId}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}

export function Toggle({
  label,
  checked,
  onChange,
  testId,
  title,
}: {
  label: string;
  checked: boolean;
  onChange: (v: boolean) => void;
  testId?: string;
  title?: string;
}) {
  return (
    <label className="toggle" title={title}>
      <input
        type="checkbox"
        checked={checked}
        onChange={(e) => onChange(e.target.checked)}
        data-testid={testId}
      />
      {label}
    </label>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="button small"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(
          () => {
            setDone(true);
            setTimeout(() => setDone(false), 1500);
          },
          () => setDone(false),
        );
      }}
    >
      {done ? "Copied" : label}
    </button>
  );
}

export function download(filename: string, text: string, type = "text/plain"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function StatusBadge({ status }: { status: string | null | undefined }) {
  const s = status ?? "unknown";
  return <span className={`badge status-${s}`}>{s}</span>;
}

export function Progress({
  done,
  total,
  failed,
}: {
  done: number;
  total: number;
  failed?: number;
}) {
  const pct = total > 0 ? Math.min(done / total, 1) : 0;
  const bad = total > 0 && failed ? Math.min(failed / total, 1) : 0;
  return (
    <div className="progress" title={`${fmtInt(done)} of ${fmtInt(total)}`}>
      <div className="progress-done" style={{ width: `${pct * 100}%` }} />
      {bad > 0 && <div className="progress-failed" style={{ width: `${bad * 100}%` }} />}
    </div>
  );
}
