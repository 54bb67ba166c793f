// Run and trade tables: TanStack Table for columns and sorting, TanStack Virtual so that only
// the rows in view are in the DOM (a table of 10^5 trades scrolls as fast as one of 10).
// Sorting is either the table's own (client) or the caller's (server: `sort` + `onSort`).

import { useMemo, useRef, useState, type ReactNode } from "react";
import {
  flexRender,
  getCoreRowModel,
  useReactTable,
  type ColumnDef,
  type SortingState,
} from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { compareCells, type Cell } from "../lib/table";
import { str, useUrlState } from "../lib/url";

export type { ColumnDef };

interface Props<T> {
  data: T[];
  columns: ColumnDef<T, unknown>[];
  getRowId: (row: T) => string;
  height?: number;
  rowHeight?: number;
  onRowClick?: (row: T) => void;
  /** server sorting: the current key (`-` for descending) and what to do on a header click */
  sort?: string;
  onSort?: (key: string) => void;
  initialSort?: SortingState;
  /** keep the table's own sorting in this URL parameter ("-key" for descending) */
  sortParam?: string;
  expanded?: (row: T) => ReactNode;
  highlight?: (row: T) => boolean;
  testId?: string;
  onRowHover?: (row: T | null) => void;
}

export function DataTable<T>({
  data,
  columns,
  getRowId,
  height = 480,
  rowHeight = 30,
  onRowClick,
  sort,
  onSort,
  initialSort,
  sortParam,
  expanded,
  highlight,
  testId,
  onRowHover,
}: Props<T>) {
  // sorting is a key, "-name" for descending: the caller's (server sorting), the URL's, or the
  // table's own; rows are sorted here, undefined values last in either direction
  const [localSort, setLocalSort] = useState(sortText(initialSort ?? []));
  const [urlSort, setUrlSort] = useUrlState(sortParam ?? "", str, sortText(initialSort ?? []));
  const manual = onSort !== undefined;
  const key = manual ? (sort ?? "") : sortParam ? urlSort : localSort;
  const setKey = manual ? onSort : sortParam ? setUrlSort : setLocalSort;
  const [open, setOpen] = useState<Record<string, boolean>>({});
  const sorted = useMemo(() => {
    if (manual || !key) return data;
    const id = key.replace(/^-/, "");
    const column = columns.find((c) => c.id === id) as
      { accessorFn?: (row: T, index: number) => unknown; accessorKey?: string } | undefined;
    if (!column) return data;
    const value = (row: T, index: number): Cell =>
      (column.accessorFn
        ? column.accessorFn(row, index)
        : (row as Record<string, unknown>)[column.accessorKey ?? id]) as Cell;
    return data
      .map((row, i) => ({ row, i, v: value(row, i) }))
      .sort((a, b) => compareCells(a.v, b.v, key.startsWith("-")) || a.i - b.i)
      .map((x) => x.row);
  }, [data, columns, key, manual]);
  const table = useReactTable({
    data: sorted,
    columns,
    getRowId,
    state: { sorting: sortingOf(key) },
    manualSorting: true,
    getCoreRowModel: getCoreRowModel(),
  });
  const rows = table.getRowModel().rows;
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => rowHeight,
    overscan: 12,
    // the first render already shows a page of rows (and so does a test's DOM, which has no layout)
    initialRect: { width: 1000, height },
    measureElement: (el) => el.getBoundingClientRect().height,
  });
  const items = virtual.getVirtualItems();
  const padTop = items.length ? items[0]!.start : 0;
  const padBottom = items.length ? virtual.getTotalSize() - items[items.length - 1]!.end : 0;
  const ncols = columns.length + (expanded ? 1 : 0);

  const headerClick = (id: string) => () => setKey(key === `-${id}` ? id : `-${id}`);

  return (
    <div
      className="table-scroll"
      ref={scroller}
      style={{ maxHeight: height }}
      data-testid={testId}
      data-rows={rows.length}
    >
      <table className="table">
        <thead>
          {table.getHeaderGroups().map((hg) => (
            <tr key={hg.id}>
              {expanded && <th style={{ width: 28 }} />}
              {hg.headers.map((h) => {
                const canSort = h.column.getCanSort();
                const dir = h.column.getIsSorted();
                const click = headerClick(h.column.id);
                const meta = h.column.columnDef.meta as
                  { align?: string; title?: string } | undefined;
                return (
                  <th
                    key={h.id}
                    onClick={canSort ? click : undefined}
                    className={`${canSort ? "sortable" : ""} ${meta?.align === "right" ? "right" : ""}`}
                    title={meta?.title}
                    aria-sort={
                      dir === "asc" ? "ascending" : dir === "desc" ? "descending" : undefined
                    }
                  >
                    {flexRender(h.column.columnDef.header, h.getContext())}
                    {dir ? <span className="sort-mark">{dir === "desc" ? " ▼" : " ▲"}</span> : null}
                  </th>
                );
              })}
            </tr>
          ))}
        </thead>
        {padTop > 0 && (
          <tbody>
            <tr style={{ height: padTop }}>
              <td colSpan={ncols} />
            </tr>
          </tbody>
        )}
        {items.map((item) => {
          const row = rows[item.index]!;
          const isOpen = !!open[row.id];
          return (
            <tbody key={row.id} data-index={item.index} ref={virtual.measureElement}>
              <tr
                className={`${onRowClick ? "clickable" : ""} ${highlight?.(row.original) ? "highlight" : ""}`}
                onClick={onRowClick ? () => onRowClick(row.original) : undefined}
                onMouseEnter={onRowHover ? () => onRowHover(row.original) : undefined}
                onMouseLeave={onRowHover ? () => onRowHover(null) : undefined}
                data-row-id={row.id}
              >
                {expanded && (
                  <td>
                    <button
                      type="button"
                      className="expander"
                      aria-expanded={isOpen}
                      aria-label={isOpen ? "collapse" : "expand"}
                      onClick={(e) => {
                        e.stopPropagation();
                        setOpen((o) => ({ ...o, [row.id]: !o[row.id] }));
                      }}
                    >
                      {isOpen ? "▾" : "▸"}
                    </button>
                  </td>
                )}
                {row.getVisibleCells().map((cell) => {
                  const meta = cell.column.columnDef.meta as { align?: string } | undefined;
                  return (
                    <td key={cell.id} className={meta?.align === "right" ? "right num" : undefined}>
                      {flexRender(cell.column.columnDef.cell, cell.getContext())}
                    </td>
                  );
                })}
              </tr>
              {expanded && isOpen && (
                <tr className="subrow">
                  <td />
                  <td colSpan={columns.length}>{expanded(row.original)}</td>
                </tr>
              )}
            </tbody>
          );
        })}
        {padBottom > 0 && (
          <tbody>
            <tr style={{ height: padBottom }}>
              <td colSpan={ncols} />
            </tr>
          </tbody>
        )}
      </table>
    </div>
  );
}

function sortText(sorting: SortingState): string {
  const first = sorting[0];
  return first ? `${first.desc ? "-" : ""}${first.id}` : "";
}

export function sortingOf(sort: string | undefined): SortingState {
  if (!sort) return [];
  const first = sort.split(",")[0]!;
  return [{ id: first.replace(/^-/, ""), desc: first.startsWith("-") }];
}
