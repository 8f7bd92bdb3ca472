// Hand-built GraphDefs for tests: what tensorflowjs_converter writes, at small size.

import {attr, AttrValue, makeConstNode, NodeDef} from '../../src/graph/graph_def';
import type {ModelGraph, WeightTensor} from '../../src/graph/model_graph';
import {seededRandom} from './helpers';

export class TestGraph {
  readonly nodes: NodeDef[] = [];
  readonly weights: Record<string, WeightTensor> = {};
  private readonly random: () => number;

  constructor(seed = 3) {
    this.random = seededRandom(seed);
  }

  input(name: string, shape: number[], dtype: 'float32' | 'int32' = 'float32'): string {
    this.nodes.push({name, op: 'Placeholder', attr: {dtype: attr.type(dtype), shape: {shape: {dim: shape.map(size => ({size: String(size)}))}}}});
    return name;
  }

  const(name: string, shape: number[], values?: ArrayLike<number>, scale = 1): string {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = values !== undefined ? Float32Array.from(values) : Float32Array.from({length: size}, () => (this.random() * 2 - 1) * scale);
    this.nodes.push(makeConstNode(name, 'float32', shape));
    this.weights[name] = {dtype: 'float32', shape, values: data};
    return name;
  }

  intConst(name: string, shape: number[], values: ArrayLike<number>): string {
    this.nodes.push(makeConstNode(name, 'int32', shape));
    this.weights[name] = {dtype: 'int32', shape, values: Int32Array.from(values)};
    return name;
  }

  op(name: string, op: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    this.nodes.push({name, op, input: inputs, attr: {T: attr.type('float32'), ...attrs}});
    return name;
  }

  conv(name: string, x: string, filterShape: number[], options: {stride?: number; padding?: 'SAME' | 'VALID'} = {}): string {
    const filter = this.const(`${name}/filter`, filterShape, undefined, Math.sqrt(3 / (filterShape[0] * filterShape[1] * filterShape[2])));
    return this.op(name, 'Conv2D', [x, filter], convAttrs(options.stride ?? 1, options.padding ?? 'SAME'));
  }

  depthwise(name: string, x: string, filterShape: number[], options: {stride?: number; padding?: 'SAME' | 'VALID'} = {}): string {
    const filter = this.const(`${name}/filter`, filterShape, undefined, Math.sqrt(3 / (filterShape[0] * filterShape[1])));
    return this.op(name, 'DepthwiseConv2dNative', [x, filter], convAttrs(options.stride ?? 1, options.padding ?? 'SAME'));
  }

  build(): ModelGraph {
    return {nodes: this.nodes.slice(), weights: {...this.weights}, extras: {versions: {producer: 1, minConsumer: 0}}};
  }
}

export function convAttrs(stride: number, padding: 'SAME' | 'VALID'): Record<string, AttrValue> {
  return {
    strides: attr.intList([1, stride, stride, 1]), padding: attr.string(padding), dilations: attr.intList([1, 1, 1, 1]),
    data_format: attr.string('NHWC'), explicit_paddings: {list: {}},
  };
}

/**
 * input [1,8,8,3] → Conv2D → FusedBatchNormV3 → Relu6 → DepthwiseConv2dNative → BiasAdd → Relu
 * → Conv2D → Mul(const) → AddV2(const) → AddV2(residual) → MaxPool → Mean → MatMul → BiasAdd → Softmax
 */
export function unfusedGraph(seed = 3): ModelGraph {
  const g = new TestGraph(seed);
  const x = g.input('x', [1, 8, 8, 3]);
  const c1 = g.conv('c1', x, [3, 3, 3, 8]);
  const bn = g.op('bn', 'FusedBatchNormV3', [c1, g.const('bn/scale', [8], Array.from({length: 8}, (_, i) => 0.5 + i / 8)),
    g.const('bn/offset', [8], undefined, 0.3), g.const('bn/mean', [8], undefined, 0.2), g.const('bn/var', [8], Array.from({length: 8}, (_, i) => 0.3 + i / 10))],
  {epsilon: attr.float(1e-3), is_training: attr.bool(false), data_format: attr.string('NHWC')});
  const r1 = g.op('r1', 'Relu6', [bn]);
  const dw = g.depthwise('dw', r1, [3, 3, 8, 1]);
  const dwb = g.op('dw_bias', 'BiasAdd', [dw, g.const('dw_bias/b', [8], undefined, 0.2)], {data_format: attr.string('NHWC')});
  const r2 = g.op('r2', 'Relu', [dwb]);
  const c2 = g.conv('c2', r2, [1, 1, 8, 8]);
  const mul = g.op('c2_mul', 'Mul', [c2, g.const('c2_mul/k', [8], Array.from({length: 8}, (_, i) => 0.8 + i / 20))]);
  const add = g.op('c2_add', 'AddV2', [mul, g.const('c2_add/b', [8], undefined, 0.1)]);
  const res = g.op('residual', 'AddV2', [add, r1]);
  const pool = g.op('pool', 'MaxPool', [res], {ksize: attr.intList([1, 2, 2, 1]), strides: attr.intList([1, 2, 2, 1]), padding: attr.string('VALID'), data_format: attr.string('NHWC')});
  const mean = g.op('gap', 'Mean', [pool, g.intConst('gap/axes', [2], [1, 2])], {keep_dims: attr.bool(false), Tidx: attr.type('int32')});
  const mm = g.op('fc', 'MatMul', [mean, g.const('fc/w', [8, 5], undefined, 0.5)], {transpose_a: attr.bool(false), transpose_b: attr.bool(false)});
  const fcb = g.op('fc_bias', 'BiasAdd', [mm, g.const('fc_bias/b', [5], undefined, 0.1)], {data_format: attr.string('NHWC')});
  g.op('probs', 'Softmax', [fcb]);
  return g.build();
}

/**
 * TensorFlow's PReLU decomposition after `x`: Relu(x) + Mul(Sub(x, Abs(x)), c) (or, with
 * withRelu false, x + ...; with absFirst, Sub(Abs(x), x)); operands in the orders asked for.
 */
export function preluDecomposition(g: TestGraph, name: string, x: string, c: number[],
    options: {withRelu?: boolean; absFirst?: boolean; mulConstFirst?: boolean; addMulFirst?: boolean; addOp?: string} = {}): string {
  const abs = g.op(`${name}/abs`, 'Abs', [x]);
  const sub = g.op(`${name}/sub`, 'Sub', options.absFirst ? [abs, x] : [x, abs]);
  const k = g.const(`${name}/c`, [c.length], c);
  const mul = g.op(`${name}/mul`, 'Mul', options.mulConstFirst ? [k, sub] : [sub, k]);
  const other = options.withRelu === false ? x : g.op(`${name}/relu`, 'Relu', [x]);
  return g.op(name, options.addOp ?? 'Add', options.addMulFirst ? [mul, other] : [other, mul]);
}

/**
 * input [1,6,6,3] → conv+bias → PReLU (p1) → depthwise+bias+Relu → x + (x − |x|)·c (p2, a no-op)
 * → conv → x + (|x| − x)·c (p3) → conv+bias → Prelu op (p4) → conv+bias → PReLU whose conv output
 * has another reader (blocked_prelu, blocked) ; p4 → Mean → MatMul+bias → PReLU (p5)
 */
export function preluGraph(seed = 13): ModelGraph {
  const g = new TestGraph(seed);
  const x = g.input('x', [1, 6, 6, 3]);
  const b1 = g.op('b1', 'BiasAdd', [g.conv('c1', x, [3, 3, 3, 4]), g.const('b1/b', [4], undefined, 0.3)]);
  const p1 = preluDecomposition(g, 'p1', b1, [0.25, -0.1, 0, 0.05], {mulConstFirst: true, addMulFirst: true});
  const dwb = g.op('dwb', 'BiasAdd', [g.depthwise('dw', p1, [3, 3, 4, 1]), g.const('dwb/b', [4], undefined, 0.3)]);
  const p2 = preluDecomposition(g, 'p2', g.op('dwr', 'Relu', [dwb]), [0.3, 0.2, 0.1, -0.2], {withRelu: false, addOp: 'AddV2'});
  const p3 = preluDecomposition(g, 'p3', g.conv('c3', p2, [1, 1, 4, 5]), [0.1, 0.2, -0.3, 0.4, 0],
      {withRelu: false, absFirst: true, addOp: 'AddV2'});
  const b4 = g.op('b4', 'BiasAdd', [g.conv('c4', p3, [3, 3, 5, 5]), g.const('b4/b', [5], undefined, 0.3)]);
  const p4 = g.op('p4', 'Prelu', [b4, g.const('p4/alpha', [5], [0.3, -0.2, 0, 0.1, 0.5])]);
  const b5 = g.op('b5', 'BiasAdd', [g.conv('c5', p4, [1, 1, 5, 5]), g.const('b5/b', [5], undefined, 0.3)]);
  g.op('blocked', 'AddV2', [preluDecomposition(g, 'blocked_prelu', b5, [0.2, 0.2, 0.2, 0.2, 0.2]), b5]);
  const mean = g.op('gap', 'Mean', [p4, g.intConst('gap/axes', [2], [1, 2])], {keep_dims: attr.bool(false), Tidx: attr.type('int32')});
  const mm = g.op('fc', 'MatMul', [mean, g.const('fc/w', [5, 3], undefined, 0.5)], {transpose_a: attr.bool(false), transpose_b: attr.bool(false)});
  const fcb = g.op('fc_bias', 'BiasAdd', [mm, g.const('fc_bias/b', [3], undefined, 0.1)], {data_format: attr.string('NHWC')});
  preluDecomposition(g, 'p5', fcb, [0.5, -0.5, 0.2]);
  return g.build();
}
