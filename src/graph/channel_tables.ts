// The per-channel tables of the int8 artifact (read by src/ops/channel_tables.ts): every
// Int8Fused* node's bias codes and filter scales go into a few shared Consts instead of two
// Consts per layer, so model.json lists a handful of weights (a weight costs a node, a
// manifest entry and a reference, about 130 bytes of JSON, as much as 65 float16 scales).
//   float16 table: per-channel floats that are float16s times 2^-exponent (src/graph/float16.ts)
//   float32 table: the rare ones that span more than float16's range
//   int16 table:   bias codes that all fit int16 (2 bytes each, decoded to the same integers)
//   int32 table:   the other bias codes

import type {FloatStorage} from './float16';
import {GraphEdit} from './graph_edit';
import {fitsInt16} from './weight_quant';
import type {WeightTensor} from './model_graph';

/** Where a node's values are: the table Const and the offset of its first value. */
export interface TableSlice {
  table: string;
  offset: number;
}

type TableKind = 'float16' | 'float32' | 'int16' | 'int32';

const BASE_NAMES: Record<TableKind, string> = {
  float16: 'int8/float16_table', float32: 'int8/float32_table', int16: 'int8/int16_table', int32: 'int8/int32_table',
};

function tableWeight(kind: TableKind, values: number[]): WeightTensor {
  const shape = [values.length];
  switch (kind) {
    case 'float16': return {dtype: 'float32', shape, values: Float32Array.from(values), storage: 'float16'};
    case 'float32': return {dtype: 'float32', shape, values: Float32Array.from(values)};
    case 'int16': return {dtype: 'float32', shape, values: Float32Array.from(values), storage: 'int16-codes'};
    case 'int32': return {dtype: 'int32', shape, values: Int32Array.from(values)};
  }
}

/**
 * Collects per-channel values while the graph is lowered; `putInto` adds the tables
 * that got values as Consts (names fixed up front, so nodes can read them right away).
 */
export class ChannelTables {
  private readonly values: Record<TableKind, number[]> = {float16: [], float32: [], int16: [], int32: []};
  private readonly names: Record<TableKind, string>;

  constructor(edit: GraphEdit) {
    this.names = {
      float16: edit.freshName(BASE_NAMES.float16), float32: edit.freshName(BASE_NAMES.float32),
      int16: edit.freshName(BASE_NAMES.int16), int32: edit.freshName(BASE_NAMES.int32),
    };
  }

  private add(kind: TableKind, values: ArrayLike<number>): TableSlice {
    const table = this.values[kind];
    const offset = table.length;
    for (let i = 0; i < values.length; i++) table.push(values[i]);
    return {table: this.names[kind], offset};
  }

  /**
   * Floats made storable by storableFloats (src/graph/float16.ts): the float16 table holds
   * value·2^exponent (the caller records the exponent), the float32 table the values.
   */
  addFloats(values: readonly number[], storage: FloatStorage): TableSlice {
    if (storage.dtype === 'float32') return this.add('float32', values);
    const factor = 2 ** storage.exponent;
    return this.add('float16', values.map(v => v * factor));
  }

  /** Integer codes (a bias): the int16 table when they all fit, else the int32 one. */
  addCodes(codes: ArrayLike<number>): TableSlice {
    return this.add(fitsInt16(codes) ? 'int16' : 'int32', codes);
  }

  /** Adds the non-empty tables to the graph. */
  putInto(edit: GraphEdit): void {
    for (const kind of Object.keys(this.values) as TableKind[]) {
      if (this.values[kind].length > 0) edit.putConst(this.names[kind], tableWeight(kind, this.values[kind]));
    }
  }
}
