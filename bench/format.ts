// Plain-text tables and number formats for the benchmark and the demo.

/** Bytes as "10.0 MiB" / "812 KiB" / "96 B". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '?';
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes} B`;
}

/** Milliseconds with precision that suits their size. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** A speed ratio: "2.31×". */
export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return '-';
  return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

/** MAC counts as "1.67 G" / "312 M". */
export function formatMacs(macs: number): string {
  if (macs >= 1e9) return `${(macs / 1e9).toFixed(2)} G`;
  if (macs >= 1e6) return `${(macs / 1e6).toFixed(0)} M`;
  if (macs >= 1e3) return `${(macs / 1e3).toFixed(0)} k`;
  return `${macs}`;
}

export type Align = 'left' | 'right';

/**
 * A table with a header row and a rule under it. Columns are as wide as their widest cell; a
 * row with fewer cells than the header leaves the rest empty, a row of one cell spans the table.
 */
export function renderTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, align: readonly Align[] = []): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.filter(r => r.length > 1).map(r => (r[column] ?? '').length)));
  const pad = (cell: string, column: number): string => {
    const width = widths[column];
    return (align[column] ?? (column === 0 ? 'left' : 'right')) === 'left' ? cell.padEnd(width) : cell.padStart(width);
  };
  const line = (cells: readonly string[]): string => header.map((_, column) => pad(cells[column] ?? '', column)).join('  ').trimEnd();
  const total = widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  const out = [line(header), '-'.repeat(total)];
  for (const row of rows) out.push(row.length === 1 ? row[0] : line(row));
  return out.join('\n');
}
