// Per-channel tables: every Int8Fused* node's bias codes and filter scales are slices of
// a few shared Consts (src/graph/channel_tables.ts writes them), so model.json lists a
// handful of weights instead of two per layer. Read back exactly:
//   scale table: float32 values (stored as float16 or float32), scale = value·2^-exponent
//   bias table:  integer codes (int32, or float32 stored as 2-byte int16 codes)

function checkSlice(tableLength: number, offset: number, count: number, what: string, op: string): void {
  if (offset + count > tableLength) {
    throw new Error(`${op}: the ${what} table has ${tableLength} values; the node reads ${count} from offset ${offset}.`);
  }
}

/**
 * The filter scales of a node: `stored` values of the scale table from `offset` (one
 * for a per-tensor filter, expanded to `channels`), each value·2^-exponent.
 */
export function scalesFromTable(table: ArrayLike<number>, offset: number, stored: number, channels: number, exponent: number,
    op: string): number[] {
  checkSlice(table.length, offset, stored, 'scale', op);
  const factor = 2 ** -exponent;
  const scales: number[] = [];
  for (let c = 0; c < channels; c++) {
    const s = table[offset + (stored === 1 ? 0 : c)] * factor;
    if (!(s > 0) || !Number.isFinite(s)) throw new Error(`${op}: filter scale ${s} (channel ${c}) is not a positive number.`);
    scales.push(s);
  }
  return scales;
}

/** The bias codes of a node: `channels` values of the bias table from `offset`. */
export function biasFromTable(table: ArrayLike<number>, offset: number, channels: number, op: string): number[] {
  checkSlice(table.length, offset, channels, 'bias', op);
  return Array.from({length: channels}, (_, c) => table[offset + c]);
}
