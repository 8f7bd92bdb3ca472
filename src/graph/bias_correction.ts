// Bias correction (Nagel et al. 2019, "Data-Free Quantization", §4.2, empirical
// variant): rounding the weights shifts each output channel's mean by
//   E[Δy_c] = E[(x ⊛ (W_q − W))_c]
// measured here on the calibration data by running each conv/matmul with its
// weight error as filter (padding and strides included), then subtracted from
// the bias before it is quantized.

import * as tf from '@tensorflow/tfjs-core';

import {FAKE_QUANT_OP} from '../ops/op_names';
import {graphModelOf} from './calibrate';
import {getBoolAttr, getIntListAttr, getStringAttr, NodeDef, parseInputRef} from './graph_def';
import {FakeQuantGraph} from './insert_fake_quant';
import {WeightTensor} from './model_graph';
import {FusedComputeOp} from './op_catalog';
import {QuantPlan} from './plan';
import {quantizeFilter} from './weight_quant';

/** One quantized conv/matmul: where its input is read, and its weight error as a tensor-ready array. */
interface ComputeUnderTest {
  name: string;
  node: NodeDef;
  inputFakeQuant: string;
  weightError: {shape: number[]; values: Float32Array};
}

/** W_q − W with the filter quantized as the lowering will (per channel or per tensor). */
function weightError(node: NodeDef, filter: WeightTensor, perChannel: boolean): {shape: number[]; values: Float32Array} {
  const op = node.op as FusedComputeOp;
  const transposeB = getBoolAttr(node, 'transpose_b');
  const q = quantizeFilter(op, filter, perChannel, transposeB, node.name);
  const shape = filter.shape;
  const channels = q.scales.length;
  const errors = new Float32Array(filter.values.length);
  for (let i = 0; i < errors.length; i++) {
    let c: number;
    if (op === '_FusedMatMul' && transposeB) c = Math.floor(i / shape[1]);
    else c = i % channels;
    errors[i] = q.codes[i] * q.scales[c] - filter.values[i];
  }
  return {shape: shape.slice(), values: errors};
}

function computesUnderTest(fq: FakeQuantGraph, plan: QuantPlan, perChannel: boolean): ComputeUnderTest[] {
  const byName = new Map(fq.graph.nodes.map(n => [n.name, n]));
  const computes: ComputeUnderTest[] = [];
  for (const [name, decision] of plan.decisions) {
    if (decision.role !== 'compute') continue;
    let node = byName.get(name);
    if (node?.op === FAKE_QUANT_OP) node = byName.get(parseInputRef((node.input ?? [])[0]).node);
    if (node === undefined) continue;
    const [xRef, filterRef] = node.input ?? [];
    const filterFakeQuant = byName.get(parseInputRef(filterRef).node);
    const filter = fq.graph.weights[parseInputRef((filterFakeQuant?.input ?? [])[0] ?? '').node];
    if (filter === undefined) continue;
    computes.push({name, node, inputFakeQuant: parseInputRef(xRef).node, weightError: weightError(node, filter, perChannel)});
  }
  return computes;
}

/** x ⊛ ΔW with the node's geometry, averaged over everything but the output channels. */
function meanOutputShift(node: NodeDef, x: tf.Tensor, error: tf.Tensor): Float32Array {
  return tf.tidy(() => {
    let y: tf.Tensor;
    if (node.op === '_FusedMatMul') {
      y = tf.matMul(x as tf.Tensor2D, error as tf.Tensor2D, false, getBoolAttr(node, 'transpose_b'));
    } else {
      const strides = getIntListAttr(node, 'strides', [1, 1, 1, 1]);
      const dilations = getIntListAttr(node, 'dilations', [1, 1, 1, 1]);
      const padding = getStringAttr(node, 'padding', 'VALID').toLowerCase();
      const explicit = getIntListAttr(node, 'explicit_paddings');
      const pad = padding === 'explicit'
        ? [[explicit[0], explicit[1]], [explicit[2], explicit[3]], [explicit[4], explicit[5]], [explicit[6], explicit[7]]] as tf.backend_util.ExplicitPadding
        : padding as 'same' | 'valid';
      const s: [number, number] = [strides[1], strides[2]];
      const d: [number, number] = [dilations[1], dilations[2]];
      y = node.op === '_FusedConv2D'
        ? tf.conv2d(x as tf.Tensor4D, error as tf.Tensor4D, s, pad, 'NHWC', d)
        : tf.depthwiseConv2d(x as tf.Tensor4D, error as tf.Tensor4D, s, pad as 'same' | 'valid', 'NHWC', d);
    }
    const channels = y.shape[y.rank - 1] as number;
    return tf.mean(tf.reshape(y, [-1, channels]), 0).dataSync() as Float32Array;
  });
}

/**
 * For each quantized conv/matmul (by node name), the mean output shift its weight
 * rounding causes on the calibration data: subtract it from the float bias.
 */
export function measureBiasShifts(fq: FakeQuantGraph, plan: QuantPlan, samples: readonly tf.NamedTensorMap[], perChannel: boolean,
    tick: () => void): Map<string, Float64Array> {
  const computes = computesUnderTest(fq, plan, perChannel);
  const sums = new Map<string, Float64Array>();
  if (computes.length === 0) {
    samples.forEach(tick);
    return sums;
  }
  const model = graphModelOf(fq.graph);
  const errors = computes.map(c => tf.tensor(c.weightError.values, c.weightError.shape, 'float32'));
  const inputNames = [...new Set(computes.map(c => c.inputFakeQuant))];
  try {
    for (const sample of samples) {
      const outputs = model.execute(sample, inputNames);
      const list = Array.isArray(outputs) ? outputs : [outputs];
      const byName = new Map(inputNames.map((n, i) => [n, list[i]]));
      computes.forEach((c, i) => {
        const shift = meanOutputShift(c.node, byName.get(c.inputFakeQuant) as tf.Tensor, errors[i]);
        const sum = sums.get(c.name) ?? new Float64Array(shift.length);
        for (let k = 0; k < shift.length; k++) sum[k] += shift[k];
        sums.set(c.name, sum);
      });
      const inputs = new Set(Object.values(sample));
      tf.dispose(list.filter(t => !inputs.has(t)));
      tick();
    }
  } finally {
    tf.dispose(errors);
    model.dispose();
  }
  return new Map([...sums].map(([name, sum]) => [name, sum.map(v => v / samples.length)]));
}

